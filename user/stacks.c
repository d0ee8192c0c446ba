#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "growable.h"
#include "recorder.h"
#include "stacks.h"
#include "symbolizer.h"
#include "unwind.h"

#define BLOCK_SHIFT 21
#define PAGE 4096

/* A distinct stack (leaf first), interned; its id is its index. */
struct stack {
	uint64_t hash;
	uint32_t nr;
	uint64_t *ips;
	struct profile_frame *frames;   /* symbolized at export, once */
};

/* Profile (b)/(c) cell: bytes for one (type, stack, arena). */
struct cell {
	uint32_t type, stack;
	const char *arena, *kind;       /* interned */
	int64_t bytes;
};

/* Profile (a): in one 2 MiB block of an arena, which stacks' samples landed. */
struct share {
	uint32_t stack;
	double bytes;
};

struct sblock {
	uint64_t block;
	int64_t resident_pages;
	struct share *e;
	size_t n, cap;
};

struct arena_stacks {
	struct sblock *blocks;          /* sorted by block */
	size_t n, cap;
};

struct stacks {
	pid_t pid;
	bool debuginfod;
	struct symbolizer *sym;
	struct symbolizer **old_syms;   /* of images before an exec: own their frames' strings */
	size_t nr_old_syms;
	struct stack *list;
	size_t nr, cap;
	uint32_t *index;                /* open addressing over list, UINT32_MAX = empty */
	size_t index_cap;
	struct cell *cells;
	size_t nr_cells, cap_cells;
	char **names;                   /* interned arena ids and kinds */
	size_t nr_names, cap_names;
	struct stacks_stats st;
};

struct stacks *stacks__new(pid_t pid, bool debuginfod)
{
	struct stacks *s = calloc(1, sizeof(*s));

	if (!s)
		abort();
	s->pid = pid;
	s->debuginfod = debuginfod;
	s->sym = symbolizer__new(pid, debuginfod);
	return s;
}

void stacks__free(struct stacks *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nr; i++) {
		free(s->list[i].ips);
		free(s->list[i].frames);
	}
	for (size_t i = 0; i < s->nr_names; i++)
		free(s->names[i]);
	free(s->list);
	free(s->index);
	free(s->cells);
	free(s->names);
	symbolizer__free(s->sym);
	for (size_t i = 0; i < s->nr_old_syms; i++)
		symbolizer__free(s->old_syms[i]);
	free(s->old_syms);
	free(s);
}

void stacks__refresh(struct stacks *s)
{
	if (s->sym)
		symbolizer__refresh(s->sym);
}

static const struct profile_frame *frames_of(struct stacks *s, uint32_t id);

void stacks__exec(struct stacks *s, pid_t pid)
{
	/* Frames of the old image are symbolized now, while its modules are known;
	 * the strings stay with the old symbolizer, which is kept. */
	for (size_t i = 0; i < s->nr; i++)
		frames_of(s, (uint32_t)i);
	s->old_syms = realloc(s->old_syms, (s->nr_old_syms + 1) * sizeof(*s->old_syms));
	if (!s->old_syms)
		abort();
	s->old_syms[s->nr_old_syms++] = s->sym;
	s->pid = pid;
	s->sym = symbolizer__new(pid, s->debuginfod);
}

void stacks__stats(const struct stacks *s, struct stacks_stats *out)
{
	*out = s->st;
	out->distinct_stacks = s->nr;
}

static const char *intern(struct stacks *s, const char *str)
{
	for (size_t i = s->nr_names; i-- > 0;)
		if (!strcmp(s->names[i], str))
			return s->names[i];
	s->names = growable__reserve(s->names, &s->cap_names, s->nr_names + 1, sizeof(*s->names));
	s->names[s->nr_names] = strdup(str);
	if (!s->names[s->nr_names])
		abort();
	return s->names[s->nr_names++];
}

/* ---- stack table ----------------------------------------------------------------- */

static uint64_t hash_ips(const uint64_t *ips, uint32_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (uint32_t i = 0; i < n; i++) {
		h ^= ips[i];
		h *= 1099511628211ULL;
	}
	return h ^ n;
}

static void reindex(struct stacks *s)
{
	size_t cap = s->index_cap ? s->index_cap * 2 : 256;

	free(s->index);
	s->index = malloc(cap * sizeof(*s->index));
	if (!s->index)
		abort();
	memset(s->index, 0xff, cap * sizeof(*s->index));
	s->index_cap = cap;
	for (size_t i = 0; i < s->nr; i++) {
		size_t k = s->list[i].hash & (cap - 1);

		while (s->index[k] != UINT32_MAX)
			k = (k + 1) & (cap - 1);
		s->index[k] = (uint32_t)i;
	}
}

static uint32_t stack_id(struct stacks *s, const uint64_t *ips, uint32_t n)
{
	uint64_t h = hash_ips(ips, n);
	size_t k;

	if ((s->nr + 1) * 2 > s->index_cap)
		reindex(s);
	for (k = h & (s->index_cap - 1); s->index[k] != UINT32_MAX; k = (k + 1) & (s->index_cap - 1)) {
		struct stack *st = &s->list[s->index[k]];

		if (st->hash == h && st->nr == n && !memcmp(st->ips, ips, n * sizeof(*ips)))
			return s->index[k];
	}
	s->list = growable__reserve(s->list, &s->cap, s->nr + 1, sizeof(*s->list));
	s->list[s->nr] = (struct stack){ .hash = h, .nr = n, .ips = malloc(n * sizeof(*ips) + 1) };
	if (!s->list[s->nr].ips)
		abort();
	memcpy(s->list[s->nr].ips, ips, n * sizeof(*ips));
	s->index[k] = (uint32_t)s->nr;
	return (uint32_t)s->nr++;
}

/* ---- profile (b) and (c) --------------------------------------------------------- */

static void cell_add(struct stacks *s, uint32_t type, uint32_t stack, const struct arena *a, int64_t bytes)
{
	const char *arena = intern(s, a->id), *kind = intern(s, a->kind->name);

	for (size_t i = s->nr_cells; i-- > 0;) {
		struct cell *c = &s->cells[i];

		if (c->type == type && c->stack == stack && c->arena == arena) {
			c->bytes += bytes;
			return;
		}
	}
	s->cells = growable__reserve(s->cells, &s->cap_cells, s->nr_cells + 1, sizeof(*s->cells));
	s->cells[s->nr_cells++] = (struct cell){ .type = type, .stack = stack, .arena = arena, .kind = kind,
						 .bytes = bytes };
}

/* ---- profile (a): per-arena blocks -------------------------------------------------- */

static struct arena_stacks *arena_state(struct arena *a)
{
	if (!a->stacks) {
		a->stacks = calloc(1, sizeof(struct arena_stacks));
		if (!a->stacks)
			abort();
	}
	return a->stacks;
}

static struct sblock *sblock_get(struct arena_stacks *as, uint64_t block)
{
	size_t lo = 0, hi = as->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (as->blocks[mid].block < block)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < as->n && as->blocks[lo].block == block)
		return &as->blocks[lo];
	as->blocks = growable__reserve(as->blocks, &as->cap, as->n + 1, sizeof(*as->blocks));
	memmove(&as->blocks[lo + 1], &as->blocks[lo], (as->n - lo) * sizeof(*as->blocks));
	memset(&as->blocks[lo], 0, sizeof(*as->blocks));
	as->blocks[lo].block = block;
	as->n++;
	return &as->blocks[lo];
}

/* Releases shrink every sample in the block by the share of its pages released. */
static int64_t sblock_release(struct sblock *b, int64_t pages)
{
	int64_t take = pages < b->resident_pages ? pages : b->resident_pages;
	double keep;

	if (take <= 0)
		return 0;
	keep = (double)(b->resident_pages - take) / (double)b->resident_pages;
	for (size_t i = 0; i < b->n; i++)
		b->e[i].bytes *= keep;
	b->resident_pages -= take;
	return take;
}

static void on_change(void *cookie, struct arena *a, uint64_t lo, uint64_t hi, int64_t pages, uint64_t ts_ns)
{
	struct arena_stacks *as = arena_state(a);
	uint64_t first = lo >> BLOCK_SHIFT, last = hi ? (hi - 1) >> BLOCK_SHIFT : first;

	(void)cookie;
	(void)ts_ns;
	if (pages > 0) {
		/* Whole pages per block only matter as the denominator of releases. */
		sblock_get(as, first)->resident_pages += pages;
		return;
	}
	pages = -pages;
	for (size_t i = 0; i < as->n && pages; i++)
		if (as->blocks[i].block >= first && as->blocks[i].block <= last)
			pages -= sblock_release(&as->blocks[i], pages);
	for (size_t i = 0; i < as->n && pages; i++)
		pages -= sblock_release(&as->blocks[i], pages);
}

static void on_free(void *cookie, struct arena *a)
{
	struct arena_stacks *as = a->stacks;

	(void)cookie;
	if (!as)
		return;
	for (size_t i = 0; i < as->n; i++)
		free(as->blocks[i].e);
	free(as->blocks);
	free(as);
	a->stacks = NULL;
}

void stacks__attach(struct stacks *s, struct ledger *l)
{
	struct ledger_observer o = { .on_change = on_change, .on_free = on_free, .cookie = s };

	ledger__add_observer(l, &o);
}

static void first_touch(struct arena *a, uint64_t addr, uint32_t stack, int64_t bytes)
{
	struct sblock *b = sblock_get(arena_state(a), addr >> BLOCK_SHIFT);

	for (size_t i = 0; i < b->n; i++)
		if (b->e[i].stack == stack) {
			b->e[i].bytes += (double)bytes;
			return;
		}
	b->e = growable__reserve(b->e, &b->cap, b->n + 1, sizeof(*b->e));
	b->e[b->n++] = (struct share){ .stack = stack, .bytes = (double)bytes };
}

/* ---- samples -------------------------------------------------------------------- */

/* After unwinding: what a sample adds to the profiles (live and replay alike). */
void stacks__on_ips(struct stacks *s, const struct ledger *l, uint64_t addr, uint64_t weight_bytes,
		    uint32_t event, uint32_t sys, const uint64_t *ips, uint32_t n, bool unwind_failed)
{
	const struct region *reg;
	uint32_t id;

	if (!n || n > ARENATRACE_MAX_FRAMES)
		return;
	s->st.samples++;
	if (unwind_failed)
		s->st.unwind_failures++;
	id = stack_id(s, ips, n);
	reg = ledger__region_at(l, addr);
	if (!reg)
		return;
	if (event == ARENATRACE_STACK_FAULT) {
		s->st.fault_samples++;
		cell_add(s, PROFILE_FAULTED, id, reg->arena, (int64_t)weight_bytes);
		first_touch(reg->arena, addr, id, (int64_t)weight_bytes);
	} else if (sys == ARENATRACE_SYS_MUNMAP || sys == ARENATRACE_SYS_MADVISE) {
		s->st.release_samples++;
		cell_add(s, PROFILE_RELEASED, id, reg->arena, (int64_t)weight_bytes);
	} else {
		s->st.growth_samples++;
		cell_add(s, PROFILE_GROWTH, id, reg->arena, (int64_t)weight_bytes);
	}
}

/* The sample's instruction addresses, leaf first: copied (FP) or unwound (DWARF);
 * at least the sampled ip. 0 for a malformed record. */
static uint32_t record_ips(struct stacks *s, const struct arenatrace_stack_record *r, size_t len, uint64_t *ips,
			   bool *failed)
{
	uint32_t n = 0;

	*failed = false;
	if (r->mode == ARENATRACE_STACK_FP) {
		n = r->nr_ips;
		if (n > ARENATRACE_MAX_FRAMES || len < sizeof(*r) + n * sizeof(uint64_t))
			return 0;
		memcpy(ips, (const char *)r + sizeof(*r), n * sizeof(uint64_t));
	} else if (r->mode == ARENATRACE_STACK_DWARF && s->sym) {
		if (len < sizeof(*r) + r->stack_len)
			return 0;
		n = (uint32_t)unwind__stack(s->sym, (const uint64_t *)r->regs, (const char *)r + sizeof(*r), r->stack_len, ips,
					    ARENATRACE_MAX_FRAMES);
		*failed = n <= 1;
	}
	if (!n) {
		ips[0] = r->regs[0];
		n = 1;
	}
	return n;
}

void stacks__on_record(struct stacks *s, const struct ledger *l, const struct arenatrace_stack_record *r,
		       size_t len)
{
	struct {
		struct input_stack h;
		uint64_t ips[ARENATRACE_MAX_FRAMES];
	} rec;
	uint64_t *ips = rec.ips;
	uint32_t n;
	bool failed;

	if (len < sizeof(*r))
		return;
	n = record_ips(s, r, len, ips, &failed);
	if (!n) {
		s->st.samples++;
		return;
	}
	/* Replay (`report`) gets the unwound stack: the unwinder needs the
	 * target's memory and files as they were. */
	rec.h = (struct input_stack){ .addr = r->addr, .weight_bytes = r->weight_bytes, .event = r->event,
				      .sys = r->sys, .nr = n, .unwind_failed = failed };
	input__put(IN_STACK, &rec, sizeof(rec.h) + n * sizeof(uint64_t));
	stacks__on_ips(s, l, r->addr, r->weight_bytes, r->event, r->sys, ips, n, failed);
}

/* ---- --heap: the inuse profile ---------------------------------------------------- */

int64_t stacks__heap_alloc(struct stacks *s, const struct ledger *l, const struct arenatrace_stack_record *r,
			   size_t len)
{
	uint64_t ips[ARENATRACE_MAX_FRAMES];
	const struct region *reg;
	const char *arena, *kind;
	uint32_t n, id;
	bool failed;

	if (len < sizeof(*r))
		return -1;
	n = record_ips(s, r, len, ips, &failed);
	s->st.samples++;
	if (!n)
		return -1;
	s->st.heap_samples++;
	if (failed)
		s->st.unwind_failures++;
	id = stack_id(s, ips, n);
	reg = ledger__region_at(l, r->addr);
	arena = intern(s, reg && reg->arena ? reg->arena->id : PROFILE_UNKNOWN);
	kind = intern(s, reg && reg->arena ? reg->arena->kind->name : PROFILE_UNKNOWN);
	for (size_t i = s->nr_cells; i-- > 0;) {
		struct cell *c = &s->cells[i];

		if (c->type == PROFILE_INUSE && c->stack == id && c->arena == arena) {
			c->bytes += (int64_t)r->weight_bytes;
			return (int64_t)i;
		}
	}
	s->cells = growable__reserve(s->cells, &s->cap_cells, s->nr_cells + 1, sizeof(*s->cells));
	s->cells[s->nr_cells] = (struct cell){ .type = PROFILE_INUSE, .stack = id, .arena = arena, .kind = kind,
					       .bytes = (int64_t)r->weight_bytes };
	return (int64_t)s->nr_cells++;
}

void stacks__heap_free(struct stacks *s, int64_t cell, int64_t bytes)
{
	if (cell >= 0 && (size_t)cell < s->nr_cells)
		s->cells[cell].bytes -= bytes;
}

bool stacks__replay_item(struct stacks *s, const struct ledger *l)
{
	struct input_stack h;
	const unsigned char *p;
	uint64_t ips[ARENATRACE_MAX_FRAMES];
	uint32_t len;

	if (input__take_var(IN_STACK, (const void **)&p, &len) != INPUT_GOT)
		return false;
	if (len < sizeof(h))
		return true;
	memcpy(&h, p, sizeof(h));
	if (h.nr > ARENATRACE_MAX_FRAMES || len != sizeof(h) + h.nr * sizeof(uint64_t))
		return true;
	memcpy(ips, p + sizeof(h), h.nr * sizeof(uint64_t));
	if (s)
		stacks__on_ips(s, l, h.addr, h.weight_bytes, h.event, h.sys, ips, h.nr, h.unwind_failed != 0);
	return true;
}

/* ---- export --------------------------------------------------------------------- */

static const struct profile_frame *frames_of(struct stacks *s, uint32_t id)
{
	struct stack *st = &s->list[id];

	if (st->frames)
		return st->frames;
	st->frames = calloc(st->nr, sizeof(*st->frames));
	if (!st->frames)
		abort();
	for (uint32_t i = 0; i < st->nr; i++) {
		struct sym_frame f;

		st->frames[i].address = st->ips[i];
		/* Return addresses point after the call: look up the call itself. */
		if (s->sym && !symbolizer__resolve(s->sym, i ? st->ips[i] - 1 : st->ips[i], &f)) {
			st->frames[i].function = f.function;
			st->frames[i].file = f.file;
			st->frames[i].line = f.line;
			st->frames[i].module = f.module;
			st->frames[i].build_id = f.build_id;
			st->frames[i].module_offset = f.module_offset;
		}
	}
	return st->frames;
}

void stacks__export(struct stacks *s, const struct ledger *l, struct profile *p)
{
	for (size_t i = 0; i < s->nr_cells; i++) {
		const struct cell *c = &s->cells[i];

		profile__add(p, (enum profile_type)c->type, frames_of(s, c->stack), s->list[c->stack].nr, c->arena,
			     c->kind, c->bytes);
	}
	for (const struct arena *a = l->arenas; a; a = a->next) {
		const struct arena_stacks *as = a->stacks;

		if (a->gone || !as)
			continue;
		for (size_t i = 0; i < as->n; i++)
			for (size_t k = 0; k < as->blocks[i].n; k++) {
				const struct share *e = &as->blocks[i].e[k];

				if (e->bytes >= 1)
					profile__add(p, PROFILE_RESIDENT, frames_of(s, e->stack), s->list[e->stack].nr,
						     a->id, a->kind->name, (int64_t)(e->bytes + 0.5));
			}
	}
}

/* ---- bounds (the agent) ------------------------------------------------------- */

struct ranked {
	double w;
	uint32_t id;
};

static int by_weight_desc(const void *x, const void *y)
{
	const struct ranked *a = x, *b = y;

	return a->w < b->w ? 1 : a->w > b->w ? -1 : (a->id > b->id) - (a->id < b->id);
}

static int cell_order(const void *x, const void *y)
{
	const struct cell *a = x, *b = y;

	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	if (a->stack != b->stack)
		return a->stack < b->stack ? -1 : 1;
	if (a->arena != b->arena)
		return a->arena < b->arena ? -1 : 1;
	return 0;
}

/* Sums cells with the same (type, stack, arena). */
static void merge_cells(struct stacks *s)
{
	size_t w = 0;

	qsort(s->cells, s->nr_cells, sizeof(*s->cells), cell_order);
	for (size_t i = 0; i < s->nr_cells; i++) {
		if (w && !cell_order(&s->cells[w - 1], &s->cells[i]))
			s->cells[w - 1].bytes += s->cells[i].bytes;
		else
			s->cells[w++] = s->cells[i];
	}
	s->nr_cells = w;
}

/* The stack every evicted one becomes: one frame named PROFILE_OTHER_STACKS. */
static uint32_t other_stack(struct stacks *s)
{
	static const uint64_t zero;
	uint32_t id = stack_id(s, &zero, 1);
	struct stack *st = &s->list[id];

	if (!st->frames) {
		st->frames = calloc(1, sizeof(*st->frames));
		if (!st->frames)
			abort();
		st->frames[0].function = PROFILE_OTHER_STACKS;
	}
	return id;
}

/* Renumbers stacks: kept[old] ones move to map[old]; the others are freed and
 * their cells and shares go to map[old] (a kept stack, or UINT32_MAX only when
 * nothing refers to them). Shares of one block that land on one id are summed. */
static void renumber(struct stacks *s, const struct ledger *l, const uint32_t *map, const bool *kept)
{
	size_t w = 0;

	for (size_t i = 0; i < s->nr; i++) {
		if (!kept[i]) {
			free(s->list[i].ips);
			free(s->list[i].frames);
			continue;
		}
		s->list[map[i]] = s->list[i];
		w = map[i] + 1;
	}
	s->nr = w;
	for (size_t i = 0; i < s->nr_cells; i++)
		s->cells[i].stack = map[s->cells[i].stack];
	for (const struct arena *a = l->arenas; a; a = a->next) {
		struct arena_stacks *as = a->stacks;

		for (size_t b = 0; as && b < as->n; b++) {
			struct sblock *blk = &as->blocks[b];
			size_t n = 0;

			for (size_t k = 0; k < blk->n; k++) {
				struct share e = { .stack = map[blk->e[k].stack], .bytes = blk->e[k].bytes };
				size_t j;

				for (j = 0; j < n && blk->e[j].stack != e.stack; j++)
					;
				if (j < n)
					blk->e[j].bytes += e.bytes;
				else
					blk->e[n++] = e;
			}
			blk->n = n;
		}
	}
	s->index_cap = 0;   /* rebuilt at the next stack_id */
	free(s->index);
	s->index = NULL;
	if (s->nr)
		reindex(s);
	merge_cells(s);
}

void stacks__trim(struct stacks *s, const struct ledger *l, size_t max_stacks, size_t max_cells)
{
	const char *other_arena;
	uint32_t *map;
	bool *kept = NULL;
	struct ranked *rank;
	double *weight;
	size_t keep;

	if (!s || !((max_cells && s->nr_cells > max_cells) || (max_stacks && s->nr > max_stacks)))
		return;
	s->st.trims++;
	/* 1. Cells of arenas that are gone: one arena, PROFILE_OTHER_ARENAS, per kind. */
	other_arena = intern(s, PROFILE_OTHER_ARENAS);
	for (size_t i = 0; i < s->nr_cells; i++) {
		bool live = false;

		for (const struct arena *a = l->arenas; a && !live; a = a->next)
			live = !a->gone && !strcmp(a->id, s->cells[i].arena);
		if (!live)
			s->cells[i].arena = other_arena;
	}
	merge_cells(s);
	/* 2. Samples of profile (a) whose bytes were all released. */
	for (const struct arena *a = l->arenas; a; a = a->next) {
		struct arena_stacks *as = a->stacks;

		for (size_t b = 0; as && b < as->n; b++) {
			struct sblock *blk = &as->blocks[b];
			size_t n = 0;

			for (size_t k = 0; k < blk->n; k++)
				if (blk->e[k].bytes >= 1)
					blk->e[n++] = blk->e[k];
			blk->n = n;
		}
	}
	/* 3. Each stack's weight; the lightest go to the other stack (a budget of
	 * half the bound, so trims are rare), unreferenced ones are dropped. */
	weight = calloc(s->nr + 1, sizeof(*weight));
	rank = calloc(s->nr + 1, sizeof(*rank));
	map = malloc((s->nr + 1) * sizeof(*map));
	if (!weight || !rank || !map)
		abort();
	for (size_t i = 0; i < s->nr_cells; i++)
		weight[s->cells[i].stack] += fabs((double)s->cells[i].bytes) + 1;
	for (const struct arena *a = l->arenas; a; a = a->next) {
		const struct arena_stacks *as = a->stacks;

		for (size_t b = 0; as && b < as->n; b++)
			for (size_t k = 0; k < as->blocks[b].n; k++)
				weight[as->blocks[b].e[k].stack] += as->blocks[b].e[k].bytes + 1;
	}
	for (size_t i = 0; i < s->nr; i++)
		rank[i] = (struct ranked){ .w = weight[i], .id = (uint32_t)i };
	qsort(rank, s->nr, sizeof(*rank), by_weight_desc);
	keep = max_stacks ? max_stacks / 2 : s->nr;
	{
		size_t nr = s->nr;
		uint32_t other = UINT32_MAX, next = 0;

		for (size_t r = keep; r < nr && other == UINT32_MAX; r++)
			if (rank[r].w > 0)
				other = other_stack(s);     /* an existing id, or the new id nr */
		map = realloc(map, (s->nr + 1) * sizeof(*map));
		kept = calloc(s->nr + 1, sizeof(*kept));
		if (!map || !kept)
			abort();
		for (size_t r = 0; r < nr && r < keep; r++)
			kept[rank[r].id] = rank[r].w > 0;
		if (other != UINT32_MAX)
			kept[other] = true;
		/* Kept stacks keep their order, so entries only move down. */
		for (size_t i = 0; i < s->nr; i++)
			map[i] = kept[i] ? next++ : UINT32_MAX;
		for (size_t r = keep; r < nr; r++)
			if (rank[r].w > 0 && !kept[rank[r].id])
				map[rank[r].id] = map[other];
	}
	renumber(s, l, map, kept);
	/* 4. Again for cells: past the bound, the lightest stacks' cells already
	 * merged above; what is still over goes to the other arena. */
	if (max_cells && s->nr_cells > max_cells) {
		for (size_t i = 0; i < s->nr_cells; i++)
			s->cells[i].arena = other_arena;
		merge_cells(s);
	}
	/* 5. Names no cell uses. */
	{
		size_t w = 0;

		for (size_t i = 0; i < s->nr_names; i++) {
			bool used = s->names[i] == other_arena;

			for (size_t c = 0; c < s->nr_cells && !used; c++)
				used = s->cells[c].arena == s->names[i] || s->cells[c].kind == s->names[i];
			if (used)
				s->names[w++] = s->names[i];
			else
				free(s->names[i]);
		}
		s->nr_names = w;
	}
	free(weight);
	free(rank);
	free(map);
	free(kept);
}

size_t stacks__table_sizes(const struct stacks *s, size_t *nr_cells, size_t *nr_names)
{
	*nr_cells = s->nr_cells;
	*nr_names = s->nr_names;
	return s->nr;
}
