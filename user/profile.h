/*
 * Profile store: bytes per (call stack, arena) for three profile types, kept
 * for the exporters (user/folded_export.c, user/pprof_export.c).
 *
 * Everything is interned: strings once each, frames once each (by all their
 * fields), stacks once each (as arrays of frame ids), and one cell per
 * (stack, arena) holding the bytes of every type. A million adds over a few
 * hundred stacks cost a few hundred stacks of memory.
 *
 * What grows, and its bound:
 *   stacks   <= max_stacks (PROFILE_MAX_STACKS), each <= PROFILE_MAX_DEPTH frames
 *   frames   <= stacks * depth (new frames are only stored with a new stack)
 *   strings  <= 4 per frame + 2 per cell
 *   cells    <= max_cells (PROFILE_MAX_CELLS) + 1
 * Past a limit, an add that needs a new stack goes to the stack
 * "[other stacks]" and one that needs a new cell to that stack in arena
 * "[other arenas]"; profile__stats() counts them. A stack deeper than
 * PROFILE_MAX_DEPTH keeps its leaf-most frames.
 */
#ifndef ARENATRACE_PROFILE_H
#define ARENATRACE_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROFILE_MAX_DEPTH  256
#define PROFILE_MAX_STACKS (1u << 18)
#define PROFILE_MAX_CELLS  (1u << 20)

#define PROFILE_OTHER_STACKS "[other stacks]"
#define PROFILE_OTHER_ARENAS "[other arenas]"
/* Arena id and kind when the caller passes NULL. */
#define PROFILE_UNKNOWN "unknown"

/*
 * One frame of a call stack. Strings may be NULL (unknown); "" means the same.
 * address is the instruction address in the target (0 when unknown);
 * module_offset is address minus the module's load base, the address the
 * module's own symbols use (meaningful only with module).
 */
struct profile_frame {
	uint64_t address;
	const char *function;
	const char *file;
	int line;
	const char *module;
	const char *build_id;
	uint64_t module_offset;
};

enum profile_type {
	PROFILE_RESIDENT = 0,	/* resident bytes by first-touch stack, now */
	PROFILE_FAULTED = 1,	/* bytes faulted in over the run */
	PROFILE_GROWTH = 2,	/* bytes mapped/grown/opened by mmap, brk, mremap, mprotect */
	PROFILE_RELEASED = 3,	/* bytes unmapped or advised away by munmap, madvise */
	PROFILE_INUSE = 4,	/* --heap: live allocated bytes by allocation stack, now */
	PROFILE_NR
};

struct profile;

struct profile *profile__new(void);
void profile__free(struct profile *p);
/* Lowers (or raises) the stack and cell limits; for tests of the overflow path. */
void profile__set_limits(struct profile *p, uint32_t max_stacks, uint32_t max_cells);

/*
 * Adds bytes (may be negative: releases) to one (stack, arena) cell of a
 * profile type. frames[0] is the leaf. Strings are copied/interned. A NULL
 * arena_id or arena_kind is PROFILE_UNKNOWN. Out of memory drops the add
 * (counted in profile_stats.dropped_adds).
 */
void profile__add(struct profile *p, enum profile_type t, const struct profile_frame *frames,
		  size_t nr, const char *arena_id, const char *arena_kind, int64_t bytes);

struct profile_stats {
	size_t strings, frames, stacks, cells;
	size_t mem_bytes;		/* heap held by the store, approximately */
	uint64_t overflow_adds;		/* adds sent to [other stacks] / [other arenas] */
	uint64_t truncated_stacks;	/* adds whose stack was cut to PROFILE_MAX_DEPTH */
	uint64_t dropped_adds;		/* adds lost to out of memory */
};
void profile__stats(const struct profile *p, struct profile_stats *st);

/* ---- read side, for the exporters ----------------------------------------------
 * Ids are dense and stable: string ids 0..nr_strings-1 with id 0 == "" (so a
 * string id can serve as a pprof string table index), frame ids and stack ids
 * likewise. Cells are in the order they were first added.
 */
struct profile_cell {
	uint32_t stack;
	uint32_t arena;		/* string id of the arena id */
	uint32_t kind;		/* string id of the arena kind */
	int64_t bytes[PROFILE_NR];
};

size_t profile__nr_strings(const struct profile *p);
const char *profile__string(const struct profile *p, uint32_t id);
/* The id of an interned string, or -1 when the profile does not hold it. */
int64_t profile__string_find(const struct profile *p, const char *s);

/* frame ids of a stack, leaf first */
const uint32_t *profile__stack(const struct profile *p, uint32_t stack, size_t *nr);

/* A frame's fields; unknown strings come back NULL. String ids in *ids when not NULL. */
struct profile_frame_ids {
	uint32_t function, file, module, build_id;
};
void profile__frame(const struct profile *p, uint32_t frame, struct profile_frame *f,
		    struct profile_frame_ids *ids);
size_t profile__nr_frames(const struct profile *p);

const struct profile_cell *profile__cells(const struct profile *p, size_t *nr);

/* ---- hash index, shared with the exporters ---------------------------------------
 * Open addressing over caller-owned entries: the index stores (hash, id) and
 * asks the caller whether entry `id` equals what it looks for.
 */
struct profile_index {
	uint64_t *hash;
	uint32_t *id;		/* id + 1; 0 is an empty slot */
	size_t mask, nr;
};

typedef bool (*profile_index_eq_fn)(const void *ctx, uint32_t id);

uint64_t profile_index__mix(uint64_t x);
uint64_t profile_index__hash_str(uint64_t h, const char *s);
/* The id whose entry eq() accepts among those with this hash, or UINT32_MAX. */
uint32_t profile_index__find(const struct profile_index *ix, uint64_t hash,
			     profile_index_eq_fn eq, const void *ctx);
/* 0 or -ENOMEM. The caller has checked that no equal entry is present. */
int profile_index__insert(struct profile_index *ix, uint64_t hash, uint32_t id);
void profile_index__free(struct profile_index *ix);

#endif /* ARENATRACE_PROFILE_H */
