#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include "allocators.h"
#include "timeline.h"

void json__string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

int timeline__open(struct timeline *tl, const char *path)
{
	memset(tl, 0, sizeof(*tl));
	tl->path = path;
	if (!path)
		return 0;
	if (!strcmp(path, "-")) {
		tl->f = stdout;
		return 0;
	}
	tl->f = fopen(path, "we");
	if (!tl->f) {
		int e = errno;

		fprintf(stderr, "arenatrace: cannot write the JSON timeline to %s: %s\n", path, strerror(e));
		return -e;
	}
	tl->own = true;
	return 0;
}

void timeline__meta(struct timeline *tl, const struct sample *s, double interval_s,
		    const char *mode, char **cmd, uint64_t start_unix_ms, unsigned allocators)
{
	char names[128];

	if (!tl->f)
		return;
	fprintf(tl->f, "{\"type\":\"meta\",\"schema\":1,\"pid\":%d,\"comm\":", s->pid);
	json__string(tl->f, s->comm);
	fprintf(tl->f, ",\"interval_s\":%.3f,\"mode\":\"%s\",\"page_size\":4096,\"start_unix_ms\":%" PRIu64
		",\"allocators\":\"%s\"", interval_s, mode, start_unix_ms,
		allocators__names(allocators, names, sizeof(names)));
	/* What retained_bytes means in this run (README: JSON Lines schema). */
	fprintf(tl->f, ",\"retained_basis\":\"%s\"", tl->heap_mode ? "heap" : "age");
	if (tl->heap_mode)
		fprintf(tl->f, ",\"heap_mode\":\"%s\",\"heap_sample_bytes\":%" PRIu64 ",\"live_since\":\"%s\"",
			tl->heap_mode, tl->heap_sample_bytes, cmd ? "start" : "attach");
	if (cmd) {
		fputs(",\"command\":[", tl->f);
		for (int i = 0; cmd[i]; i++) {
			if (i)
				fputc(',', tl->f);
			json__string(tl->f, cmd[i]);
		}
		fputc(']', tl->f);
	}
	fputs("}\n", tl->f);
	timeline__flush(tl);
}

static void arena_ranges(FILE *f, const struct ledger *l, const struct arena *a)
{
	uint64_t start = 0, end = 0;
	bool first = true, open = false;

	fputc('[', f);
	for (size_t i = 0; i < l->nr_regions; i++) {
		const struct region *r = &l->regions[i];

		if (r->arena != a)
			continue;
		if (open && r->start == end) {
			end = r->end;
			continue;
		}
		if (open) {
			fprintf(f, "%s[\"0x%" PRIx64 "\",\"0x%" PRIx64 "\"]", first ? "" : ",", start, end);
			first = false;
		}
		start = r->start;
		end = r->end;
		open = true;
	}
	if (open)
		fprintf(f, "%s[\"0x%" PRIx64 "\",\"0x%" PRIx64 "\"]", first ? "" : ",", start, end);
	fputc(']', f);
}

static double rel_s(uint64_t ns, uint64_t start_ns)
{
	return ns > start_ns ? (ns - start_ns) / 1e9 : 0.0;
}

void timeline__sample(struct timeline *tl, const struct sample *s, const struct ledger *l,
		      const struct retention *r, uint64_t now_ns, uint64_t start_ns)
{
	const char *fin = s->final ? ",\"final\":true" : "";

	if (!tl->f)
		return;
	fprintf(tl->f,
		"{\"type\":\"sample\",\"t\":%.3f,\"pid\":%d,\"rss_bytes\":%" PRIu64
		",\"accounted_bytes\":%" PRIu64 ",\"lost_events\":%" PRIu64 ",\"drift_bytes\":%" PRIu64
		",\"unattributed_bytes\":%" PRId64 ",\"retained_bytes\":%" PRIu64
		",\"threads_created\":%" PRIu64 ",\"arenas\":%zu",
		s->t, s->pid, s->rss_bytes, s->accounted_bytes, s->lost_events, s->drift_bytes,
		s->unattributed_bytes, s->retained_bytes, s->threads_created, l->nr_arenas);
	if (s->heap)
		fprintf(tl->f, ",\"live_bytes\":%" PRIu64 ",\"heap_unknown_frees\":%" PRIu64
			",\"heap_unplaced_bytes\":%" PRIu64 ",\"heap_lost\":%" PRIu64,
			s->live_bytes, s->heap_unknown_frees, s->heap_unplaced_bytes, s->heap_lost);
	fprintf(tl->f, "%s}\n", fin);
	for (const struct arena *a = l->arenas; a; a = a->next) {
		struct arena_retention ar;

		fprintf(tl->f, "{\"type\":\"arena\",\"t\":%.3f,\"pid\":%d,\"arena\":", s->t, s->pid);
		json__string(tl->f, a->id);
		fprintf(tl->f, ",\"kind\":\"%s\",\"ranges\":", a->kind->name);
		arena_ranges(tl->f, l, a);
		fprintf(tl->f,
			",\"mapped_bytes\":%" PRIu64 ",\"resident_bytes\":%" PRIu64
			",\"peak_resident_bytes\":%" PRIu64 ",\"faulted_bytes\":%" PRIu64
			",\"released_bytes\":%" PRIu64,
			a->mapped_bytes, (uint64_t)a->resident_pages * 4096,
			(uint64_t)a->peak_resident_pages * 4096, a->faulted_pages * 4096,
			a->released_pages * 4096);
		if (s->heap) {
			uint64_t res = (uint64_t)a->resident_pages * 4096;
			uint64_t live = a->live_bytes > 0 ? (uint64_t)a->live_bytes : 0;

			fprintf(tl->f, ",\"live_bytes\":%" PRIu64 ",\"retained_bytes\":%" PRIu64, live,
				res > live ? res - live : 0);
		}
		if (r && retention__arena(r, a, now_ns, &ar)) {
			if (!s->heap)
				fprintf(tl->f, ",\"retained_bytes\":%" PRIu64, ar.retained_bytes);
			fprintf(tl->f, ",\"released_since_peak_bytes\":%" PRIu64, ar.released_since_peak_bytes);
			if (ar.peak_ns)
				fprintf(tl->f, ",\"peak_t\":%.3f", rel_s(ar.peak_ns, start_ns));
			if (ar.last_growth_ns)
				fprintf(tl->f, ",\"last_growth_t\":%.3f", rel_s(ar.last_growth_ns, start_ns));
			fputs(",\"resident_by_age\":[", tl->f);
			for (size_t i = 0, n = 0; i < ar.nr_ages; i++)
				if (ar.age_bytes[i])
					fprintf(tl->f, "%s[%.0f,%" PRIu64 "]", n++ ? "," : "", ar.age_edges_s[i],
						ar.age_bytes[i]);
			fputc(']', tl->f);
		}
		fprintf(tl->f, "%s%s}\n", a->gone ? ",\"gone\":true" : "", fin);
	}
	timeline__flush(tl);
}

void timeline__bursts(struct timeline *tl, const struct sample *s, const struct ledger *l,
		      const struct retention *r, uint64_t start_ns)
{
	if (!tl->f || !r)
		return;
	for (size_t i = 0; i < retention__nr_bursts(r); i++) {
		const struct burst *b = retention__burst(r, i);
		bool first = true;

		fprintf(tl->f, "{\"type\":\"burst\",\"t\":%.3f,\"pid\":%d,\"t_start\":%.3f", s->t, s->pid,
			rel_s(b->start_ns, start_ns));
		if (b->end_ns)
			fprintf(tl->f, ",\"t_end\":%.3f", rel_s(b->end_ns, start_ns));
		fprintf(tl->f, ",\"faulted_bytes\":%" PRIu64 ",\"resident_bytes\":%" PRIu64
			",\"released_bytes\":%" PRIu64 ",\"resident_by_arena\":{",
			b->faulted_bytes, b->resident_bytes, b->released_bytes);
		for (const struct arena *a = l->arenas; a; a = a->next) {
			uint64_t bytes = a->gone ? 0 : retention__burst_resident_in(r, i, a);

			if (!bytes)
				continue;
			if (!first)
				fputc(',', tl->f);
			first = false;
			json__string(tl->f, a->id);
			fprintf(tl->f, ":%" PRIu64, bytes);
		}
		fprintf(tl->f, "}%s}\n", s->final ? ",\"final\":true" : "");
	}
	timeline__flush(tl);
}

void timeline__diagnosis(struct timeline *tl, const struct sample *s, const struct diagnosis *d,
			 const char *text)
{
	if (!tl->f)
		return;
	fprintf(tl->f, "{\"type\":\"diagnosis\",\"t\":%.3f,\"pid\":%d,\"rss_bytes\":%" PRIu64
		",\"retained_bytes\":%" PRIu64, s->t, s->pid, d->rss_bytes, d->retained_bytes);
	if (d->heap)
		fprintf(tl->f, ",\"live_bytes\":%" PRIu64 ",\"other_retained_bytes\":%" PRIu64, d->live_bytes,
			d->other_bytes);
	fputs(",\"findings\":[", tl->f);
	for (size_t i = 0; i < d->nr; i++) {
		const struct finding *f = &d->f[i];

		fprintf(tl->f, "%s{\"arena\":", i ? "," : "");
		json__string(tl->f, f->arena->id);
		fprintf(tl->f, ",\"kind\":\"%s\",\"retained_bytes\":%" PRIu64 ",\"resident_bytes\":%" PRIu64
			",\"peak_resident_bytes\":%" PRIu64 ",\"released_since_peak_bytes\":%" PRIu64,
			f->arena->kind->name, f->retained_bytes, f->resident_bytes, f->peak_bytes,
			f->released_since_peak_bytes);
		if (d->heap)
			fprintf(tl->f, ",\"live_bytes\":%" PRIu64, f->live_bytes);
		if (f->idle_s >= 0)
			fprintf(tl->f, ",\"idle_s\":%.1f", f->idle_s);
		if (f->knob) {
			fputs(",\"knob\":", tl->f);
			json__string(tl->f, f->knob);
		}
		fputc('}', tl->f);
	}
	fputs("],\"text\":", tl->f);
	json__string(tl->f, text);
	fputs("}\n", tl->f);
	timeline__flush(tl);
}

void timeline__exec(struct timeline *tl, double t, pid_t pid, const char *comm, const char *filename)
{
	if (!tl->f)
		return;
	fprintf(tl->f, "{\"type\":\"exec\",\"t\":%.3f,\"pid\":%d,\"comm\":", t, pid);
	json__string(tl->f, comm);
	fputs(",\"filename\":", tl->f);
	json__string(tl->f, filename);
	fputs("}\n", tl->f);
	timeline__flush(tl);
}

void timeline__exit(struct timeline *tl, double t, pid_t pid, int status, int signal)
{
	if (!tl->f)
		return;
	fprintf(tl->f, "{\"type\":\"exit\",\"t\":%.3f,\"pid\":%d,\"status\":%d", t, pid, status);
	if (signal)
		fprintf(tl->f, ",\"signal\":%d", signal);
	fputs("}\n", tl->f);
	timeline__flush(tl);
}

int timeline__flush(struct timeline *tl)
{
	if (!tl->f)
		return 0;
	if ((fflush(tl->f) || ferror(tl->f)) && !tl->failed) {
		int e = errno ? errno : EIO;

		tl->failed = true;
		fprintf(stderr, "arenatrace: writing the JSON timeline to %s failed: %s%s\n",
			tl->path, strerror(e),
			e == ENOSPC ? " (disk full: free space; records written so far are complete lines)" : "");
		return -e;
	}
	return tl->failed ? -EIO : 0;
}

int timeline__close(struct timeline *tl)
{
	int err = timeline__flush(tl);

	if (tl->own && tl->f && fclose(tl->f) && !err) {
		err = -errno;
		fprintf(stderr, "arenatrace: closing %s failed: %s\n", tl->path, strerror(errno));
	}
	tl->f = NULL;
	return err;
}
