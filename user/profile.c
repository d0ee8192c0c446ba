/*
 * Profile store (see profile.h): interned strings, frames and stacks, and one
 * cell of bytes per (stack, arena). Every table is a growable array indexed by
 * a profile_index, so ids stay dense and exporters can use them as array
 * indices.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "profile.h"

/* A frame as stored: strings as string ids (0 = unknown). */
struct pframe {
	uint64_t address, module_offset;
	uint32_t function, file, module, build_id;
	int32_t line;
};

/* A stack: nr frame ids at pool[off]. */
struct pstack {
	uint32_t off, nr;
};

struct profile {
	char **str;
	size_t nr_str, cap_str, str_bytes;
	struct profile_index str_ix;

	struct pframe *frame;
	size_t nr_frame, cap_frame;
	struct profile_index frame_ix;

	uint32_t *pool;
	size_t nr_pool, cap_pool;
	struct pstack *stack;
	size_t nr_stack, cap_stack;
	struct profile_index stack_ix;

	struct profile_cell *cell;
	size_t nr_cell, cap_cell;
	struct profile_index cell_ix;

	uint32_t max_stacks, max_cells;
	uint32_t other_stack, other_arena, unknown;
	uint64_t overflow_adds, truncated_stacks, dropped_adds;
};

/* ---- hash index ----------------------------------------------------------------- */

uint64_t profile_index__mix(uint64_t x)
{
	/* splitmix64's finaliser: every input bit reaches every output bit */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

uint64_t profile_index__hash_str(uint64_t h, const char *s)
{
	/* FNV-1a, chained; NULL hashes like "" because both mean unknown */
	h ^= 0xcbf29ce484222325ULL;
	for (; s && *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return profile_index__mix(h);
}

uint32_t profile_index__find(const struct profile_index *ix, uint64_t hash,
			     profile_index_eq_fn eq, const void *ctx)
{
	if (!ix->nr)
		return UINT32_MAX;
	for (size_t i = hash & ix->mask; ix->id[i]; i = (i + 1) & ix->mask)
		if (ix->hash[i] == hash && eq(ctx, ix->id[i] - 1))
			return ix->id[i] - 1;
	return UINT32_MAX;
}

static void index__put(uint64_t *hash, uint32_t *id, size_t mask, uint64_t h, uint32_t v)
{
	size_t i = h & mask;

	while (id[i])
		i = (i + 1) & mask;
	hash[i] = h;
	id[i] = v;
}

int profile_index__insert(struct profile_index *ix, uint64_t hash, uint32_t id)
{
	size_t cap = ix->hash ? ix->mask + 1 : 0;

	/* at most half full, so probe runs stay short */
	if ((ix->nr + 1) * 2 > cap) {
		size_t ncap = cap ? cap * 2 : 64;
		uint64_t *nh = calloc(ncap, sizeof(*nh));
		uint32_t *ni = calloc(ncap, sizeof(*ni));

		if (!nh || !ni) {
			free(nh);
			free(ni);
			return -ENOMEM;
		}
		for (size_t i = 0; i < cap; i++)
			if (ix->id[i])
				index__put(nh, ni, ncap - 1, ix->hash[i], ix->id[i]);
		free(ix->hash);
		free(ix->id);
		ix->hash = nh;
		ix->id = ni;
		ix->mask = ncap - 1;
	}
	index__put(ix->hash, ix->id, ix->mask, hash, id + 1);
	ix->nr++;
	return 0;
}

void profile_index__free(struct profile_index *ix)
{
	free(ix->hash);
	free(ix->id);
	memset(ix, 0, sizeof(*ix));
}

static size_t index__bytes(const struct profile_index *ix)
{
	return ix->hash ? (ix->mask + 1) * (sizeof(*ix->hash) + sizeof(*ix->id)) : 0;
}

/* Makes room for one more element in a growable array. */
static int array__reserve(void **arr, size_t *cap, size_t nr, size_t more, size_t elem)
{
	size_t ncap = *cap ? *cap : 16;
	void *n;

	if (nr + more <= *cap)
		return 0;
	while (ncap < nr + more)
		ncap *= 2;
	n = realloc(*arr, ncap * elem);
	if (!n)
		return -ENOMEM;
	*arr = n;
	*cap = ncap;
	return 0;
}

/* ---- strings -------------------------------------------------------------------- */

static bool str__eq(const void *ctx, uint32_t id)
{
	const void *const *c = ctx;

	return !strcmp(((const struct profile *)c[0])->str[id], c[1]);
}

static uint32_t str__find(const struct profile *p, const char *s, uint64_t h)
{
	const void *ctx[2] = { p, s };

	return profile_index__find(&p->str_ix, h, str__eq, ctx);
}

/* The id of s in *id; with may_add a missing s is added. 0, -ENOENT or -ENOMEM. */
static int str__get(struct profile *p, const char *s, bool may_add, uint32_t *id)
{
	uint64_t h;
	char *copy;

	if (!s)
		s = "";
	h = profile_index__hash_str(0, s);
	*id = str__find(p, s, h);
	if (*id != UINT32_MAX)
		return 0;
	if (!may_add)
		return -ENOENT;
	if (array__reserve((void **)&p->str, &p->cap_str, p->nr_str, 1, sizeof(*p->str)))
		return -ENOMEM;
	copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	if (profile_index__insert(&p->str_ix, h, p->nr_str)) {
		free(copy);
		return -ENOMEM;
	}
	p->str_bytes += strlen(s) + 1;
	p->str[p->nr_str] = copy;
	*id = p->nr_str++;
	return 0;
}

size_t profile__nr_strings(const struct profile *p)
{
	return p->nr_str;
}

const char *profile__string(const struct profile *p, uint32_t id)
{
	return id < p->nr_str ? p->str[id] : "";
}

int64_t profile__string_find(const struct profile *p, const char *s)
{
	uint32_t id;

	if (!s)
		s = "";
	id = str__find(p, s, profile_index__hash_str(0, s));
	return id == UINT32_MAX ? -1 : (int64_t)id;
}

/* ---- frames --------------------------------------------------------------------- */

static uint64_t frame__hash(const struct profile_frame *f)
{
	uint64_t h = profile_index__mix(f->address ^ profile_index__mix(f->module_offset + (uint64_t)f->line));

	h = profile_index__hash_str(h, f->function);
	h = profile_index__hash_str(h, f->file);
	h = profile_index__hash_str(h, f->module);
	return profile_index__hash_str(h, f->build_id);
}

static bool str__same(const struct profile *p, uint32_t id, const char *s)
{
	return !strcmp(p->str[id], s ? s : "");
}

static bool frame__eq(const void *ctx, uint32_t id)
{
	const void *const *c = ctx;
	const struct profile *p = c[0];
	const struct profile_frame *f = c[1];
	const struct pframe *s = &p->frame[id];

	return s->address == f->address && s->module_offset == f->module_offset && s->line == f->line &&
	       str__same(p, s->function, f->function) && str__same(p, s->file, f->file) &&
	       str__same(p, s->module, f->module) && str__same(p, s->build_id, f->build_id);
}

static int frame__get(struct profile *p, const struct profile_frame *f, bool may_add, uint32_t *id)
{
	uint64_t h = frame__hash(f);
	const void *ctx[2] = { p, f };
	struct pframe n = { .address = f->address, .module_offset = f->module_offset, .line = f->line };
	int err;

	*id = profile_index__find(&p->frame_ix, h, frame__eq, ctx);
	if (*id != UINT32_MAX)
		return 0;
	if (!may_add)
		return -ENOENT;
	if ((err = str__get(p, f->function, true, &n.function)) ||
	    (err = str__get(p, f->file, true, &n.file)) ||
	    (err = str__get(p, f->module, true, &n.module)) ||
	    (err = str__get(p, f->build_id, true, &n.build_id)))
		return err;
	if (array__reserve((void **)&p->frame, &p->cap_frame, p->nr_frame, 1, sizeof(*p->frame)) ||
	    profile_index__insert(&p->frame_ix, h, p->nr_frame))
		return -ENOMEM;
	p->frame[p->nr_frame] = n;
	*id = p->nr_frame++;
	return 0;
}

size_t profile__nr_frames(const struct profile *p)
{
	return p->nr_frame;
}

void profile__frame(const struct profile *p, uint32_t frame, struct profile_frame *f,
		    struct profile_frame_ids *ids)
{
	const struct pframe *s = &p->frame[frame];

	/* string id 0 is "": hand it back as NULL, "unknown" */
	f->address = s->address;
	f->module_offset = s->module_offset;
	f->line = s->line;
	f->function = s->function ? p->str[s->function] : NULL;
	f->file = s->file ? p->str[s->file] : NULL;
	f->module = s->module ? p->str[s->module] : NULL;
	f->build_id = s->build_id ? p->str[s->build_id] : NULL;
	if (ids)
		*ids = (struct profile_frame_ids){ s->function, s->file, s->module, s->build_id };
}

/* ---- stacks --------------------------------------------------------------------- */

struct stack_key {
	const struct profile *p;
	const uint32_t *ids;
	size_t nr;
};

static uint64_t stack__hash(const uint32_t *ids, size_t nr)
{
	uint64_t h = profile_index__mix(nr);

	for (size_t i = 0; i < nr; i++)
		h = profile_index__mix(h ^ ids[i]);
	return h;
}

static bool stack__eq(const void *ctx, uint32_t id)
{
	const struct stack_key *k = ctx;
	const struct pstack *s = &k->p->stack[id];

	return s->nr == k->nr && !memcmp(&k->p->pool[s->off], k->ids, k->nr * sizeof(*k->ids));
}

static int stack__get(struct profile *p, const uint32_t *ids, size_t nr, bool may_add, uint32_t *id)
{
	uint64_t h = stack__hash(ids, nr);
	struct stack_key k = { p, ids, nr };

	*id = profile_index__find(&p->stack_ix, h, stack__eq, &k);
	if (*id != UINT32_MAX)
		return 0;
	if (!may_add)
		return -ENOENT;
	if (array__reserve((void **)&p->pool, &p->cap_pool, p->nr_pool, nr, sizeof(*p->pool)) ||
	    array__reserve((void **)&p->stack, &p->cap_stack, p->nr_stack, 1, sizeof(*p->stack)) ||
	    profile_index__insert(&p->stack_ix, h, p->nr_stack))
		return -ENOMEM;
	if (nr)
		memcpy(&p->pool[p->nr_pool], ids, nr * sizeof(*ids));
	p->stack[p->nr_stack] = (struct pstack){ .off = p->nr_pool, .nr = nr };
	p->nr_pool += nr;
	*id = p->nr_stack++;
	return 0;
}

const uint32_t *profile__stack(const struct profile *p, uint32_t stack, size_t *nr)
{
	*nr = p->stack[stack].nr;
	return &p->pool[p->stack[stack].off];
}

/* ---- cells ---------------------------------------------------------------------- */

static bool cell__eq(const void *ctx, uint32_t id)
{
	const void *const *c = ctx;
	const struct profile *p = c[0];
	const uint64_t *key = c[1];

	return ((uint64_t)p->cell[id].stack << 32 | p->cell[id].arena) == *key;
}

static int cell__get(struct profile *p, uint32_t stack, uint32_t arena, bool may_add, uint32_t *id)
{
	uint64_t key = (uint64_t)stack << 32 | arena, h = profile_index__mix(key);
	const void *ctx[2] = { p, &key };

	*id = profile_index__find(&p->cell_ix, h, cell__eq, ctx);
	if (*id != UINT32_MAX)
		return 0;
	if (!may_add)
		return -ENOENT;
	if (array__reserve((void **)&p->cell, &p->cap_cell, p->nr_cell, 1, sizeof(*p->cell)) ||
	    profile_index__insert(&p->cell_ix, h, p->nr_cell))
		return -ENOMEM;
	p->cell[p->nr_cell] = (struct profile_cell){ .stack = stack, .arena = arena, .kind = p->unknown };
	*id = p->nr_cell++;
	return 0;
}

const struct profile_cell *profile__cells(const struct profile *p, size_t *nr)
{
	*nr = p->nr_cell;
	return p->cell;
}

/* ---- the store ------------------------------------------------------------------ */

struct profile *profile__new(void)
{
	struct profile *p = calloc(1, sizeof(*p));
	struct profile_frame other = { .function = PROFILE_OTHER_STACKS };
	uint32_t empty, frame;

	if (!p)
		return NULL;
	p->max_stacks = PROFILE_MAX_STACKS;
	p->max_cells = PROFILE_MAX_CELLS;
	/* "" first: string id 0 means unknown, and pprof wants "" at index 0 */
	if (str__get(p, "", true, &empty) || str__get(p, PROFILE_UNKNOWN, true, &p->unknown) ||
	    str__get(p, PROFILE_OTHER_ARENAS, true, &p->other_arena) ||
	    frame__get(p, &other, true, &frame) || stack__get(p, &frame, 1, true, &p->other_stack)) {
		profile__free(p);
		errno = ENOMEM;
		return NULL;
	}
	return p;
}

void profile__free(struct profile *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nr_str; i++)
		free(p->str[i]);
	free(p->str);
	free(p->frame);
	free(p->pool);
	free(p->stack);
	free(p->cell);
	profile_index__free(&p->str_ix);
	profile_index__free(&p->frame_ix);
	profile_index__free(&p->stack_ix);
	profile_index__free(&p->cell_ix);
	free(p);
}

void profile__set_limits(struct profile *p, uint32_t max_stacks, uint32_t max_cells)
{
	p->max_stacks = max_stacks;
	p->max_cells = max_cells;
}

/* The stack id for frames: existing, new while there is room, else [other stacks]. */
static int profile__stack_of(struct profile *p, const struct profile_frame *frames, size_t nr,
			     uint32_t *stack)
{
	/* only a new stack may bring new frames, so frames stay bounded with stacks */
	bool room = p->nr_stack < p->max_stacks;
	uint32_t ids[PROFILE_MAX_DEPTH];
	int err = 0;

	for (size_t i = 0; i < nr && !err; i++)
		err = frame__get(p, &frames[i], room, &ids[i]);
	if (!err)
		err = stack__get(p, ids, nr, room, stack);
	if (err == -ENOENT) {
		p->overflow_adds++;
		*stack = p->other_stack;
		return 0;
	}
	return err;
}

void profile__add(struct profile *p, enum profile_type t, const struct profile_frame *frames,
		  size_t nr, const char *arena_id, const char *arena_kind, int64_t bytes)
{
	uint32_t stack, arena, kind, cell;
	bool room;
	int err;

	if (!p || (unsigned)t >= PROFILE_NR || (!frames && nr))
		return;
	if (nr > PROFILE_MAX_DEPTH) {
		/* the leaf end says who touched the memory; keep it */
		nr = PROFILE_MAX_DEPTH;
		p->truncated_stacks++;
	}
	err = profile__stack_of(p, frames, nr, &stack);
	if (err)
		goto fail;

	room = p->nr_cell < p->max_cells;
	err = str__get(p, arena_id ? arena_id : PROFILE_UNKNOWN, room, &arena);
	if (!err)
		err = cell__get(p, stack, arena, room, &cell);
	if (err == -ENOENT) {
		/* over the cell limit: one catch-all cell, added even past it */
		p->overflow_adds++;
		err = cell__get(p, p->other_stack, p->other_arena, true, &cell);
	}
	if (err)
		goto fail;
	if (p->cell[cell].arena != p->other_arena) {
		/* arena ids are kind:key, so an arena's kind is fixed; take the latest */
		if (!str__get(p, arena_kind ? arena_kind : PROFILE_UNKNOWN, true, &kind))
			p->cell[cell].kind = kind;
	}
	p->cell[cell].bytes[t] += bytes;
	return;
fail:
	p->dropped_adds++;
}

void profile__stats(const struct profile *p, struct profile_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->strings = p->nr_str;
	st->frames = p->nr_frame;
	st->stacks = p->nr_stack;
	st->cells = p->nr_cell;
	st->overflow_adds = p->overflow_adds;
	st->truncated_stacks = p->truncated_stacks;
	st->dropped_adds = p->dropped_adds;
	st->mem_bytes = sizeof(*p) + p->str_bytes + p->cap_str * sizeof(*p->str) +
			p->cap_frame * sizeof(*p->frame) + p->cap_pool * sizeof(*p->pool) +
			p->cap_stack * sizeof(*p->stack) + p->cap_cell * sizeof(*p->cell) +
			index__bytes(&p->str_ix) + index__bytes(&p->frame_ix) +
			index__bytes(&p->stack_ix) + index__bytes(&p->cell_ix);
}
