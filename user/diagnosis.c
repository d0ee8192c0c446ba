#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "diagnosis.h"

#define MiB (1024.0 * 1024.0)

static const struct {
	const char *kind, *knob;
} knobs[] = {
	{ "glibc_arena", "glibc keeps freed memory in per-thread arenas: cap them with MALLOC_ARENA_MAX=2 "
			 "(or mallopt(M_ARENA_MAX)), and call malloc_trim(0) after bursts to return free pages" },
	{ "heap", "the brk heap only shrinks from its top: lower M_TRIM_THRESHOLD (MALLOC_TRIM_THRESHOLD_), "
		  "call malloc_trim(0), or lower M_MMAP_THRESHOLD (MALLOC_MMAP_THRESHOLD_) so large blocks are "
		  "mmapped and returned on free" },
	{ "glibc_mmap_chunk", "each is one large malloc mapped on its own and returned on free: what stays is "
			      "live data, not allocator retention" },
	{ "jemalloc", "jemalloc returns dirty pages after dirty_decay_ms/muzzy_decay_ms: try "
		      "MALLOC_CONF=background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0 (prefixed builds: "
		      "_RJEM_MALLOC_CONF), and fewer arenas with narenas" },
	{ "tcmalloc", "tcmalloc releases its page heap slowly: raise TCMALLOC_RELEASE_RATE or call "
		      "MallocExtension::ReleaseFreeMemory()" },
	{ "mimalloc", "mimalloc purges freed pages after a delay: lower MIMALLOC_PURGE_DELAY (0 = at once)" },
	{ "go_heap", "the Go scavenger returns memory slowly: set GOMEMLIMIT, lower GOGC, or call "
		     "debug.FreeOSMemory()" },
	{ "python_arena", "CPython frees an obmalloc arena only when every object in it is gone: "
			  "PYTHONMALLOC=malloc hands small objects to malloc instead" },
	{ "thread_stack", "glibc caches the stacks of exited threads (up to 40 MiB): reuse threads from a pool" },
};

const char *diagnosis__knob(const char *kind)
{
	for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++)
		if (!strcmp(knobs[i].kind, kind))
			return knobs[i].knob;
	return NULL;
}

void diagnosis__make(struct diagnosis *d, const struct ledger *l, const struct retention *r,
		     uint64_t rss_bytes, uint64_t now_ns)
{
	uint64_t floor = (uint64_t)(rss_bytes * 0.05) > (1u << 20) ? (uint64_t)(rss_bytes * 0.05) : (1u << 20);
	struct { const char *kind; uint64_t retained; unsigned n; } kinds[32];
	size_t nk = 0;

	memset(d, 0, sizeof(*d));
	d->rss_bytes = rss_bytes;
	for (const struct arena *a = l->arenas; a; a = a->next) {
		struct arena_retention ar;
		struct finding f;
		size_t i;

		if (a->gone || !retention__arena(r, a, now_ns, &ar))
			continue;
		d->retained_bytes += ar.retained_bytes;
		for (i = 0; i < nk && strcmp(kinds[i].kind, a->kind->name); i++)
			;
		if (i == nk && nk < 32) {
			kinds[nk].kind = a->kind->name;
			kinds[nk].retained = 0;
			kinds[nk++].n = 0;
		}
		if (i < nk && ar.retained_bytes) {
			kinds[i].retained += ar.retained_bytes;
			kinds[i].n++;
		}
		if (ar.retained_bytes < floor)
			continue;
		f = (struct finding){
			.arena = a,
			.retained_bytes = ar.retained_bytes,
			.resident_bytes = (uint64_t)a->resident_pages * 4096,
			.peak_bytes = (uint64_t)a->peak_resident_pages * 4096,
			.released_since_peak_bytes = ar.released_since_peak_bytes,
			.idle_s = ar.last_growth_ns && now_ns > ar.last_growth_ns ? (now_ns - ar.last_growth_ns) / 1e9 : -1,
			.peak_age_s = ar.peak_ns && now_ns > ar.peak_ns ? (now_ns - ar.peak_ns) / 1e9 : -1,
			.knob = diagnosis__knob(a->kind->name),
		};
		/* Keep the largest few, in order. */
		for (i = d->nr; i > 0 && d->f[i - 1].retained_bytes < f.retained_bytes; i--)
			if (i < DIAGNOSIS_MAX_FINDINGS)
				d->f[i] = d->f[i - 1];
		if (i < DIAGNOSIS_MAX_FINDINGS) {
			d->f[i] = f;
			if (d->nr < DIAGNOSIS_MAX_FINDINGS)
				d->nr++;
		}
	}
	for (size_t i = 0; i < nk; i++)
		if (kinds[i].retained > d->top_kind_retained) {
			d->top_kind = kinds[i].kind;
			d->top_kind_retained = kinds[i].retained;
			d->top_kind_arenas = kinds[i].n;
		}
}

/* Memory no allocator hands out: its resident bytes are not "retained" by one. */
static bool allocator_kind(const char *kind)
{
	static const char *const not_heap[] = { "file", "stack", "thread_stack", "shmem" };

	for (size_t i = 0; i < sizeof(not_heap) / sizeof(not_heap[0]); i++)
		if (!strcmp(kind, not_heap[i]))
			return false;
	return true;
}

static void keep_finding(struct diagnosis *d, const struct finding *f)
{
	size_t i;

	for (i = d->nr; i > 0 && d->f[i - 1].retained_bytes < f->retained_bytes; i--)
		if (i < DIAGNOSIS_MAX_FINDINGS)
			d->f[i] = d->f[i - 1];
	if (i < DIAGNOSIS_MAX_FINDINGS) {
		d->f[i] = *f;
		if (d->nr < DIAGNOSIS_MAX_FINDINGS)
			d->nr++;
	}
}

void diagnosis__make_heap(struct diagnosis *d, const struct ledger *l, const struct retention *r,
			  uint64_t rss_bytes, uint64_t live_bytes, uint64_t now_ns)
{
	uint64_t floor = (uint64_t)(rss_bytes * 0.05) > (1u << 20) ? (uint64_t)(rss_bytes * 0.05) : (1u << 20);
	struct { const char *kind; uint64_t retained; unsigned n; } kinds[32];
	size_t nk = 0;

	memset(d, 0, sizeof(*d));
	d->heap = true;
	d->rss_bytes = rss_bytes;
	d->live_bytes = live_bytes;
	d->retained_bytes = rss_bytes > live_bytes ? rss_bytes - live_bytes : 0;
	for (const struct arena *a = l->arenas; a; a = a->next) {
		uint64_t res = (uint64_t)a->resident_pages * 4096, live = a->live_bytes > 0 ? (uint64_t)a->live_bytes : 0;
		uint64_t ret = res > live ? res - live : 0;
		struct arena_retention ar = {0};
		struct finding f;
		size_t i;

		if (a->gone || !ret)
			continue;
		if (!allocator_kind(a->kind->name)) {
			d->other_bytes += ret;
			continue;
		}
		for (i = 0; i < nk && strcmp(kinds[i].kind, a->kind->name); i++)
			;
		if (i == nk && nk < 32) {
			kinds[nk].kind = a->kind->name;
			kinds[nk].retained = 0;
			kinds[nk++].n = 0;
		}
		if (i < nk) {
			kinds[i].retained += ret;
			kinds[i].n++;
		}
		if (ret < floor)
			continue;
		if (r)
			retention__arena(r, a, now_ns, &ar);
		f = (struct finding){
			.arena = a,
			.retained_bytes = ret,
			.live_bytes = live,
			.resident_bytes = res,
			.peak_bytes = (uint64_t)a->peak_resident_pages * 4096,
			.released_since_peak_bytes = ar.released_since_peak_bytes,
			.idle_s = ar.last_growth_ns && now_ns > ar.last_growth_ns ? (now_ns - ar.last_growth_ns) / 1e9 : -1,
			.peak_age_s = ar.peak_ns && now_ns > ar.peak_ns ? (now_ns - ar.peak_ns) / 1e9 : -1,
			.knob = diagnosis__knob(a->kind->name),
		};
		keep_finding(d, &f);
	}
	for (size_t i = 0; i < nk; i++)
		if (kinds[i].retained > d->top_kind_retained) {
			d->top_kind = kinds[i].kind;
			d->top_kind_retained = kinds[i].retained;
			d->top_kind_arenas = kinds[i].n;
		}
}

#define OUT(...) (len += snprintf(buf + (len < n ? len : n), len < n ? n - len : 0, __VA_ARGS__))

/* "Try (kind): knob." once per kind among the findings, appended at len. */
static size_t put_knobs(const struct diagnosis *d, char *buf, size_t n, size_t len)
{
	const char *seen[DIAGNOSIS_MAX_FINDINGS];
	size_t nseen = 0;

	for (size_t i = 0; i < d->nr; i++) {
		const struct finding *f = &d->f[i];
		bool dup = false;

		for (size_t k = 0; k < nseen; k++)
			dup |= !strcmp(seen[k], f->arena->kind->name);
		if (dup || !f->knob)
			continue;
		seen[nseen++] = f->arena->kind->name;
		OUT("Try (%s): %s.\n", f->arena->kind->name, f->knob);
	}
	return len;
}

static size_t text_heap(const struct diagnosis *d, char *buf, size_t n)
{
	size_t len = 0;

	OUT("RSS %.1f MiB = live %.1f MiB + retained %.1f MiB (live: the allocator's blocks in use, counted "
	    "from its calls%s).\n", d->rss_bytes / MiB, d->live_bytes / MiB, d->retained_bytes / MiB,
	    d->sampled ? ", sampled" : "");
	if (d->since_attach)
		OUT("Attached to a running process: live bytes count only blocks allocated since the attach "
		    "(%" PRIu64 " frees of blocks never seen allocated), so retained is an upper bound.\n", d->unknown_frees);
	if (d->other_bytes)
		OUT("Of the retained, %.1f MiB is not allocator memory (files, stacks, shared memory).\n",
		    d->other_bytes / MiB);
	if (!d->nr) {
		OUT("No allocator arena retains much (at least 1 MiB and 5%% of RSS resident beyond its live "
		    "bytes).\n");
		return len;
	}
	OUT("The allocator retains it in:\n");
	for (size_t i = 0; i < d->nr; i++) {
		const struct finding *f = &d->f[i];

		OUT("  %s: %.1f MiB retained = %.1f MiB resident - %.1f MiB live (peak %.1f MiB", f->arena->id,
		    f->retained_bytes / MiB, f->resident_bytes / MiB, f->live_bytes / MiB, f->peak_bytes / MiB);
		if (f->peak_age_s >= 0)
			OUT(" %.0f s ago", f->peak_age_s);
		OUT(")\n");
	}
	if (d->top_kind && d->top_kind_arenas > 1)
		OUT("%u %s arenas retain %.1f MiB in all.\n", d->top_kind_arenas, d->top_kind,
		    d->top_kind_retained / MiB);
	return put_knobs(d, buf, n, len);
}

size_t diagnosis__text(const struct diagnosis *d, double retain_after_s, char *buf, size_t n)
{
	size_t len = 0;

	if (d->heap)
		return text_heap(d, buf, n);
	if (!d->nr) {
		OUT("No arena holds much retained memory (resident and untouched by any release for more "
		    "than %.0f s): %.1f MiB of %.1f MiB RSS.\n", retain_after_s, d->retained_bytes / MiB,
		    d->rss_bytes / MiB);
		return len;
	}
	OUT("RSS %.1f MiB, of which %.1f MiB is retained: resident and untouched by any release for more "
	    "than %.0f s.\n", d->rss_bytes / MiB, d->retained_bytes / MiB, retain_after_s);
	if (d->top_kind && d->top_kind_arenas > 1)
		OUT("%u %s arenas hold %.1f MiB of it.\n", d->top_kind_arenas, d->top_kind,
		    d->top_kind_retained / MiB);
	for (size_t i = 0; i < d->nr; i++) {
		const struct finding *f = &d->f[i];

		OUT("  %s: %.1f MiB retained of %.1f MiB resident (peak %.1f MiB", f->arena->id,
		    f->retained_bytes / MiB, f->resident_bytes / MiB, f->peak_bytes / MiB);
		if (f->peak_age_s >= 0)
			OUT(" %.0f s ago", f->peak_age_s);
		OUT(", %.1f MiB released since", f->released_since_peak_bytes / MiB);
		if (f->idle_s >= 0)
			OUT(", no growth for %.0f s", f->idle_s);
		OUT(")\n");
	}
	return put_knobs(d, buf, n, len);
}
#undef OUT
