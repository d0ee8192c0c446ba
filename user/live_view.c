#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "live_view.h"

static const char *human(uint64_t bytes, char *buf, size_t n)
{
	const char *units[] = { "B", "K", "M", "G", "T" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, n, u ? "%.1f%s" : "%.0f%s", v, units[u]);
	return buf;
}

static int by_resident_desc(const void *a, const void *b)
{
	const struct arena *x = *(const struct arena *const *)a, *y = *(const struct arena *const *)b;

	return (y->resident_pages > x->resident_pages) - (y->resident_pages < x->resident_pages);
}

static const struct arena **sorted_arenas(const struct ledger *l, size_t *n)
{
	const struct arena **v = calloc(l->nr_arenas + 1, sizeof(*v));
	size_t k = 0;

	for (const struct arena *a = l->arenas; a && v; a = a->next)
		if (!a->gone)
			v[k++] = a;
	if (v)
		qsort(v, k, sizeof(*v), by_resident_desc);
	*n = v ? k : 0;
	return v;
}

static void first_range(const struct ledger *l, const struct arena *a, char *buf, size_t n)
{
	size_t count = 0;
	uint64_t s = 0, e = 0;

	for (size_t i = 0; i < l->nr_regions; i++) {
		if (l->regions[i].arena != a)
			continue;
		if (!count++) {
			s = l->regions[i].start;
			e = l->regions[i].end;
		}
	}
	snprintf(buf, n, count > 1 ? "%" PRIx64 "-%" PRIx64 " +%zu" : "%" PRIx64 "-%" PRIx64, s, e,
		 count - 1);
}

static void header(FILE *out, const struct sample *s)
{
	char a[16], b[16], c[16];

	fprintf(out, "arenatrace  pid %d (%s)  t=%.1fs  rss %s  accounted %s  drift %s  lost %" PRIu64
		     "  threads+%" PRIu64 "\n",
		s->pid, s->comm ? s->comm : "?", s->t, human(s->rss_bytes, a, sizeof(a)),
		human(s->accounted_bytes, b, sizeof(b)), human(s->drift_bytes, c, sizeof(c)),
		s->lost_events, s->threads_created);
}

static void table(FILE *out, const struct ledger *l, unsigned top)
{
	const struct arena **v;
	size_t n;
	char m[16], r[16], p[16], f[16], rel[16], rng[64];
	uint64_t rest = 0;

	fprintf(out, "%-16s %-34s %9s %9s %9s %9s %9s  %s\n", "KIND", "ARENA", "MAPPED", "RESIDENT",
		"PEAK", "FAULTED", "RELEASED", "RANGES");
	v = sorted_arenas(l, &n);
	for (size_t i = 0; i < n; i++) {
		const struct arena *a = v[i];
		const char *id = strchr(a->id, ':') ? strchr(a->id, ':') + 1 : a->id;
		size_t idlen = strlen(id);

		if (i >= top) {
			rest += a->resident_pages * 4096;
			continue;
		}
		first_range(l, a, rng, sizeof(rng));
		fprintf(out, "%-16s %-34.34s %9s %9s %9s %9s %9s  %s\n", a->kind->name,
			idlen > 34 ? id + idlen - 34 : id, human(a->mapped_bytes, m, sizeof(m)),
			human(a->resident_pages * 4096, r, sizeof(r)),
			human(a->peak_resident_pages * 4096, p, sizeof(p)),
			human(a->faulted_pages * 4096, f, sizeof(f)),
			human(a->released_pages * 4096, rel, sizeof(rel)), rng);
	}
	if (n > top)
		fprintf(out, "%-16s %-34s %9s %9s\n", "...", "(other arenas)", "",
			human(rest, r, sizeof(r)));
	free(v);
}

void live_view__draw(FILE *out, const struct sample *s, const struct ledger *l, unsigned top)
{
	fputs("\033[H\033[2J", out);
	header(out, s);
	table(out, l, top);
	fflush(out);
}

void live_view__summary(FILE *out, const struct sample *s, const struct ledger *l, unsigned top)
{
	struct { const char *kind; uint64_t resident, peak; int64_t live; unsigned n; } kinds[32];
	size_t nk = 0;
	char a[16], b[16];

	fputc('\n', out);
	header(out, s);
	table(out, l, top);
	for (const struct arena *x = l->arenas; x; x = x->next) {
		size_t i;

		if (x->gone)
			continue;
		for (i = 0; i < nk && strcmp(kinds[i].kind, x->kind->name); i++)
			;
		if (i == nk) {
			if (nk == 32)
				continue;
			kinds[nk].kind = x->kind->name;
			kinds[nk].resident = kinds[nk].peak = 0;
			kinds[nk].live = 0;
			kinds[nk++].n = 0;
		}
		kinds[i].resident += x->resident_pages * 4096;
		kinds[i].peak += x->peak_resident_pages * 4096;
		kinds[i].live += x->live_bytes;
		kinds[i].n++;
	}
	fprintf(out, "\nWhere the resident memory sits (rss %s):\n", human(s->rss_bytes, a, sizeof(a)));
	for (size_t pass = 0; pass < nk; pass++) {
		size_t best = pass;

		for (size_t i = pass + 1; i < nk; i++)
			if (kinds[i].resident > kinds[best].resident)
				best = i;
		if (best != pass) {
			__typeof__(kinds[0]) t = kinds[pass];
			kinds[pass] = kinds[best];
			kinds[best] = t;
		}
		if (!kinds[pass].resident)
			continue;
		fprintf(out, "  %-16s %9s  %5.1f%%  in %u arena%s", kinds[pass].kind,
			human(kinds[pass].resident, b, sizeof(b)),
			s->rss_bytes ? 100.0 * kinds[pass].resident / s->rss_bytes : 0.0, kinds[pass].n,
			kinds[pass].n == 1 ? "" : "s");
		/* --heap: the allocator's live bytes in them */
		if (s->heap && kinds[pass].live > 0)
			fprintf(out, ", %s live", human((uint64_t)kinds[pass].live, b, sizeof(b)));
		fputc('\n', out);
	}
	if (s->lost_events)
		fprintf(out, "  warning: %" PRIu64 " events lost (ring buffer full); numbers were reconciled "
			     "with /proc/PID/pagemap where possible\n", s->lost_events);
	fflush(out);
}

void live_view__bursts(FILE *out, const struct retention *r, uint64_t start_ns)
{
	size_t n = retention__nr_bursts(r);
	char a[16], b[16];

	if (!n)
		return;
	fprintf(out, "\nBursts (memory made resident well above the usual rate):\n");
	for (size_t i = 0; i < n; i++) {
		const struct burst *x = retention__burst(r, i);
		double t0 = x->start_ns > start_ns ? (x->start_ns - start_ns) / 1e9 : 0;
		double t1 = x->end_ns > start_ns ? (x->end_ns - start_ns) / 1e9 : -1;

		if (t1 >= 0)
			fprintf(out, "  t=%.1f-%.1fs", t0, t1);
		else
			fprintf(out, "  t=%.1fs-now", t0);
		fprintf(out, "  faulted in %s, still resident %s (%.0f%%)\n",
			human(x->faulted_bytes, a, sizeof(a)), human(x->resident_bytes, b, sizeof(b)),
			x->faulted_bytes ? 100.0 * x->resident_bytes / x->faulted_bytes : 0.0);
	}
}
