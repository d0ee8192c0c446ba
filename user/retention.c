#include <stdlib.h>
#include <string.h>
#include "growable.h"
#include "retention.h"

#define BLOCK_SHIFT 21                  /* 2 MiB: the BPF side's run granule */
#define UNPLACED_BLOCK UINT64_MAX       /* corrections with no address */
#define MAX_BUCKETS 12
#define PAGE 4096ULL

/* Pages that arrived in one tick (epoch) and are still resident. */
struct bucket {
	uint32_t epoch;
	int64_t pages;
};

struct block {
	uint64_t block;                 /* address >> BLOCK_SHIFT */
	uint64_t last_release_ns;       /* valid when released */
	bool released;
	uint32_t nr;
	struct bucket b[MAX_BUCKETS];
};

/* Per-arena state, hung on arena->retention. */
struct arena_state {
	struct block *blocks;           /* sorted by block */
	size_t nr, cap;
	uint64_t peak_ns, last_growth_ns;
	uint64_t released_at_peak;      /* arena->released_pages when the peak was reached */
	int64_t last_peak_pages;
};

struct burst_state {
	struct burst b;
	uint32_t first_epoch, last_epoch;
};

struct retention {
	double retain_after_s;
	uint64_t start_ns;
	uint32_t epoch;                 /* current tick number */
	uint64_t *epoch_ns;             /* when each epoch began */
	size_t cap_epochs;
	int64_t added_this_epoch;       /* pages made resident since the last tick */
	double baseline_pages;          /* smoothed pages per tick outside bursts */
	uint32_t quiet_ticks;
	struct burst_state *bursts;
	size_t nr_bursts, cap_bursts;
	bool in_burst;
};

static const double age_edges[] = { 0, 10, 60, 300, 1800, 3600, 6 * 3600, 24 * 3600 };
#define NR_AGES (sizeof(age_edges) / sizeof(age_edges[0]))

struct retention *retention__new(double retain_after_s, uint64_t start_ns)
{
	struct retention *r = calloc(1, sizeof(*r));

	if (!r)
		abort();
	r->retain_after_s = retain_after_s;
	r->start_ns = start_ns;
	/* Epoch 0 holds what was resident before tracing (the seed); events start
	 * in epoch 1, so no burst ever claims the seed. */
	r->epoch = 1;
	r->epoch_ns = growable__reserve(NULL, &r->cap_epochs, 2, sizeof(*r->epoch_ns));
	r->epoch_ns[0] = r->epoch_ns[1] = start_ns;
	return r;
}

static void state_free(struct arena_state *st)
{
	if (st) {
		free(st->blocks);
		free(st);
	}
}

void retention__free(struct retention *r)
{
	if (!r)
		return;
	free(r->epoch_ns);
	free(r->bursts);
	free(r);
}

double retention__retain_after_s(const struct retention *r)
{
	return r->retain_after_s;
}

/* ---- blocks ------------------------------------------------------------------ */

static struct arena_state *state_of(struct arena *a)
{
	if (!a->retention) {
		a->retention = calloc(1, sizeof(struct arena_state));
		if (!a->retention)
			abort();
	}
	return a->retention;
}

static size_t block_index(const struct arena_state *st, uint64_t block)
{
	size_t lo = 0, hi = st->nr;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (st->blocks[mid].block < block)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct block *block_get(struct arena_state *st, uint64_t block)
{
	size_t i = block_index(st, block);

	if (i < st->nr && st->blocks[i].block == block)
		return &st->blocks[i];
	st->blocks = growable__reserve(st->blocks, &st->cap, st->nr + 1, sizeof(*st->blocks));
	memmove(&st->blocks[i + 1], &st->blocks[i], (st->nr - i) * sizeof(*st->blocks));
	memset(&st->blocks[i], 0, sizeof(*st->blocks));
	st->blocks[i].block = block;
	st->nr++;
	return &st->blocks[i];
}

static uint32_t burst_of_epoch(const struct retention *r, uint32_t epoch)
{
	for (size_t i = r->nr_bursts; i-- > 0;) {
		const struct burst_state *s = &r->bursts[i];

		if (epoch >= s->first_epoch && (epoch <= s->last_epoch || !s->b.end_ns))
			return (uint32_t)i + 1;
	}
	return 0;
}

/* Keeps a block's buckets bounded: merges the oldest adjacent pair that does not
 * straddle a burst boundary (the later epoch is kept, so pages never look older
 * than they are and retained_bytes is never overstated). */
static void block_compact(const struct retention *r, struct block *b)
{
	uint32_t pick = 0;

	if (b->nr < MAX_BUCKETS)
		return;
	for (uint32_t i = 0; i + 1 < b->nr; i++)
		if (burst_of_epoch(r, b->b[i].epoch) == burst_of_epoch(r, b->b[i + 1].epoch)) {
			pick = i;
			break;
		}
	b->b[pick + 1].pages += b->b[pick].pages;
	memmove(&b->b[pick], &b->b[pick + 1], (b->nr - pick - 1) * sizeof(b->b[0]));
	b->nr--;
}

static void block_add(struct retention *r, struct block *b, int64_t pages, uint32_t epoch)
{
	if (b->nr && b->b[b->nr - 1].epoch == epoch) {
		b->b[b->nr - 1].pages += pages;
		return;
	}
	block_compact(r, b);
	b->b[b->nr].epoch = epoch;
	b->b[b->nr].pages = pages;
	b->nr++;
}

/* Releases take the oldest pages first; returns how many it could take. */
static int64_t block_remove(struct block *b, int64_t pages, uint64_t ts_ns)
{
	int64_t taken = 0;

	b->last_release_ns = ts_ns;
	b->released = true;
	while (pages > 0 && b->nr) {
		int64_t t = b->b[0].pages < pages ? b->b[0].pages : pages;

		b->b[0].pages -= t;
		pages -= t;
		taken += t;
		if (b->b[0].pages <= 0) {
			memmove(&b->b[0], &b->b[1], (b->nr - 1) * sizeof(b->b[0]));
			b->nr--;
		}
	}
	return taken;
}

/* ---- the ledger's observer ----------------------------------------------------- */

static void on_change(void *cookie, struct arena *a, uint64_t lo, uint64_t hi, int64_t pages, uint64_t ts_ns)
{
	struct retention *r = cookie;
	struct arena_state *st = state_of(a);
	uint64_t first = lo >> BLOCK_SHIFT, last = hi ? (hi - 1) >> BLOCK_SHIFT : first;

	if (!lo && !hi)
		first = last = UNPLACED_BLOCK;
	if (pages > 0) {
		uint64_t nblocks = last - first + 1;
		int64_t each = pages / (int64_t)nblocks, extra = pages % (int64_t)nblocks;

		/* ts 0 is the seed: memory resident before tracing, not growth. */
		uint32_t epoch = ts_ns ? r->epoch : 0;

		if (ts_ns) {
			r->added_this_epoch += pages;
			st->last_growth_ns = ts_ns;
		}
		/* A run or range over several blocks: spread it (fault-around and THP stay
		 * in one block; wide ranges are populate or mlock). */
		if (nblocks > 64 || first == UNPLACED_BLOCK) {
			block_add(r, block_get(st, first), pages, epoch);
			return;
		}
		for (uint64_t blk = first; blk <= last; blk++)
			block_add(r, block_get(st, blk), each + (blk == first ? extra : 0), epoch);
		return;
	}
	pages = -pages;
	/* Take from the blocks in the range, then anything left from anywhere. */
	for (size_t i = block_index(st, first); i < st->nr && st->blocks[i].block <= last && pages; i++)
		pages -= block_remove(&st->blocks[i], pages, ts_ns);
	for (size_t i = 0; i < st->nr && pages; i++)
		pages -= block_remove(&st->blocks[i], pages, ts_ns);
}

static void on_free(void *cookie, struct arena *a)
{
	(void)cookie;
	state_free(a->retention);
	a->retention = NULL;
}

void retention__attach(struct retention *r, struct ledger *l)
{
	struct ledger_observer o = { .on_change = on_change, .on_free = on_free, .cookie = r };

	ledger__add_observer(l, &o);
}

/* ---- ticks and bursts ---------------------------------------------------------- */

/* A burst: a tick that made resident well above the baseline rate (4x, and at
 * least 1 MiB); it ends after two ticks back under 2x. */
void retention__tick(struct retention *r, const struct ledger *l, uint64_t now_ns)
{
	double added = (double)r->added_this_epoch;
	double hot = r->baseline_pages * 4 > 256 ? r->baseline_pages * 4 : 256;

	if (!r->in_burst && added >= hot) {
		r->bursts = growable__reserve(r->bursts, &r->cap_bursts, r->nr_bursts + 1, sizeof(*r->bursts));
		memset(&r->bursts[r->nr_bursts], 0, sizeof(*r->bursts));
		r->bursts[r->nr_bursts].b.start_ns = r->epoch_ns[r->epoch];
		r->bursts[r->nr_bursts].first_epoch = r->epoch;
		r->nr_bursts++;
		r->in_burst = true;
		r->quiet_ticks = 0;
	}
	if (r->in_burst) {
		struct burst_state *b = &r->bursts[r->nr_bursts - 1];

		b->b.faulted_bytes += (uint64_t)(added > 0 ? added : 0) * PAGE;
		b->last_epoch = r->epoch;
		if (added < r->baseline_pages * 2 + 64) {
			if (++r->quiet_ticks >= 2) {
				b->b.end_ns = now_ns;
				r->in_burst = false;
			}
		} else {
			r->quiet_ticks = 0;
		}
	} else {
		/* Slow average of the normal rate. */
		r->baseline_pages = r->baseline_pages * 0.9 + (added > 0 ? added : 0) * 0.1;
	}
	for (struct arena *a = l->arenas; a; a = a->next) {
		struct arena_state *st = state_of(a);

		if (a->peak_resident_pages > st->last_peak_pages ||
		    (a->resident_pages == a->peak_resident_pages && !st->peak_ns)) {
			st->last_peak_pages = a->peak_resident_pages;
			st->peak_ns = now_ns;
			st->released_at_peak = a->released_pages;
		}
	}
	r->added_this_epoch = 0;
	r->epoch++;
	r->epoch_ns = growable__reserve(r->epoch_ns, &r->cap_epochs, r->epoch + 1, sizeof(*r->epoch_ns));
	r->epoch_ns[r->epoch] = now_ns;
}

/* ---- queries -------------------------------------------------------------------- */

bool retention__arena(const struct retention *r, const struct arena *a, uint64_t now_ns,
		      struct arena_retention *out)
{
	const struct arena_state *st = a->retention;
	uint64_t retain_ns = (uint64_t)(r->retain_after_s * 1e9);

	memset(out, 0, sizeof(*out));
	out->nr_ages = NR_AGES;
	out->age_edges_s = age_edges;
	if (!st)
		return false;
	out->peak_ns = st->peak_ns;
	out->last_growth_ns = st->last_growth_ns;
	out->released_since_peak_bytes = (a->released_pages - st->released_at_peak) * PAGE;
	for (size_t i = 0; i < st->nr; i++) {
		const struct block *b = &st->blocks[i];

		for (uint32_t k = 0; k < b->nr; k++) {
			/* The end of the tick it arrived in: ages are never overstated. */
			uint32_t e = b->b[k].epoch;
			uint64_t born = e < r->epoch ? r->epoch_ns[e + 1] : now_ns;
			double age = now_ns > born ? (now_ns - born) / 1e9 : 0;
			size_t bin = NR_AGES - 1;
			uint64_t bytes = (uint64_t)(b->b[k].pages > 0 ? b->b[k].pages : 0) * PAGE;

			while (bin > 0 && age < age_edges[bin])
				bin--;
			out->age_bytes[bin] += bytes;
			/* Retained: old enough, and its block gave nothing back since. */
			if (now_ns >= born && now_ns - born >= retain_ns &&
			    (!b->released || b->last_release_ns < born) &&
			    b->block != UNPLACED_BLOCK)
				out->retained_bytes += bytes;
		}
	}
	/* Never more than what is resident (blocks are an estimate when released partly). */
	if (out->retained_bytes > (uint64_t)a->resident_pages * PAGE)
		out->retained_bytes = a->resident_pages > 0 ? (uint64_t)a->resident_pages * PAGE : 0;
	return true;
}

uint64_t retention__retained_total(const struct retention *r, const struct ledger *l, uint64_t now_ns)
{
	uint64_t sum = 0;

	for (const struct arena *a = l->arenas; a; a = a->next) {
		struct arena_retention ar;

		if (!a->gone && retention__arena(r, a, now_ns, &ar))
			sum += ar.retained_bytes;
	}
	return sum;
}

size_t retention__nr_bursts(const struct retention *r)
{
	return r->nr_bursts;
}

uint64_t retention__burst_resident_in(const struct retention *r, size_t i, const struct arena *a)
{
	const struct arena_state *st = a->retention;
	const struct burst_state *b = &r->bursts[i];
	uint32_t last = b->b.end_ns ? b->last_epoch : r->epoch;
	int64_t pages = 0;

	if (!st)
		return 0;
	for (size_t k = 0; k < st->nr; k++)
		for (uint32_t j = 0; j < st->blocks[k].nr; j++) {
			const struct bucket *bk = &st->blocks[k].b[j];

			if (bk->epoch >= b->first_epoch && bk->epoch <= last)
				pages += bk->pages;
		}
	return pages > 0 ? (uint64_t)pages * PAGE : 0;
}

const struct burst *retention__burst(const struct retention *r, size_t i)
{
	return i < r->nr_bursts ? &r->bursts[i].b : NULL;
}

/* Fills each burst's resident/released numbers from the arenas (call before reading). */
void retention__update_bursts(struct retention *r, const struct ledger *l)
{
	for (size_t i = 0; i < r->nr_bursts; i++) {
		uint64_t resident = 0;

		for (const struct arena *a = l->arenas; a; a = a->next)
			if (!a->gone)
				resident += retention__burst_resident_in(r, i, a);
		r->bursts[i].b.resident_bytes = resident;
		r->bursts[i].b.released_bytes =
			r->bursts[i].b.faulted_bytes > resident ? r->bursts[i].b.faulted_bytes - resident : 0;
	}
}
