#include <errno.h>
#include <inttypes.h>
#include <string.h>
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
		    const char *mode, char **cmd, uint64_t start_unix_ms)
{
	if (!tl->f)
		return;
	fprintf(tl->f, "{\"type\":\"meta\",\"schema\":1,\"pid\":%d,\"comm\":", s->pid);
	json__string(tl->f, s->comm);
	fprintf(tl->f, ",\"interval_s\":%.3f,\"mode\":\"%s\",\"page_size\":4096,\"start_unix_ms\":%" PRIu64,
		interval_s, mode, start_unix_ms);
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

void timeline__sample(struct timeline *tl, const struct sample *s, const struct ledger *l)
{
	const char *fin = s->final ? ",\"final\":true" : "";

	if (!tl->f)
		return;
	fprintf(tl->f,
		"{\"type\":\"sample\",\"t\":%.3f,\"pid\":%d,\"rss_bytes\":%" PRIu64
		",\"accounted_bytes\":%" PRIu64 ",\"lost_events\":%" PRIu64 ",\"drift_bytes\":%" PRIu64
		",\"unattributed_bytes\":%" PRId64 ",\"threads_created\":%" PRIu64 ",\"arenas\":%zu%s}\n",
		s->t, s->pid, s->rss_bytes, s->accounted_bytes, s->lost_events, s->drift_bytes,
		s->unattributed_bytes, s->threads_created, l->nr_arenas, fin);
	for (const struct arena *a = l->arenas; a; a = a->next) {
		fprintf(tl->f, "{\"type\":\"arena\",\"t\":%.3f,\"pid\":%d,\"arena\":", s->t, s->pid);
		json__string(tl->f, a->id);
		fprintf(tl->f, ",\"kind\":\"%s\",\"ranges\":", a->kind->name);
		arena_ranges(tl->f, l, a);
		fprintf(tl->f,
			",\"mapped_bytes\":%" PRIu64 ",\"resident_bytes\":%" PRIu64
			",\"peak_resident_bytes\":%" PRIu64 ",\"faulted_bytes\":%" PRIu64
			",\"released_bytes\":%" PRIu64 "%s%s}\n",
			a->mapped_bytes, (uint64_t)a->resident_pages * 4096,
			(uint64_t)a->peak_resident_pages * 4096, a->faulted_pages * 4096,
			a->released_pages * 4096, a->gone ? ",\"gone\":true" : "", fin);
	}
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
