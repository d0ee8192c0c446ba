#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "csv_export.h"

/* RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled.
 * Arena ids hold file paths, which may contain any of them. */
static void csv__field(FILE *f, const char *s)
{
	if (!s[strcspn(s, ",\"\r\n")]) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void write_rows(FILE *f, const struct history *h)
{
	fputs("t,arena,kind,mapped_bytes,resident_bytes,faulted_bytes,released_bytes,retained_bytes,"
	      "rss_bytes,accounted_bytes\r\n", f);
	for (size_t i = 0; i < h->nr_points; i++) {
		const struct history_point *p = &h->points[i];

		fprintf(f, "%.3f,(process),,,,,,,%" PRIu64 ",%" PRIu64 "\r\n", p->t, p->rss_bytes,
			p->accounted_bytes);
		for (size_t j = 0; j < p->count; j++) {
			const struct history_arena_point *ap = &h->arena_points[p->first + j];

			fprintf(f, "%.3f,", p->t);
			csv__field(f, h->arena_ids[ap->arena]);
			fputc(',', f);
			csv__field(f, h->arena_kinds[ap->arena]);
			fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",,\r\n",
				ap->mapped_bytes, ap->resident_bytes, ap->faulted_bytes, ap->released_bytes,
				ap->retained_bytes);
		}
	}
}

int csv_export__write(const char *path, const struct history *h)
{
	bool to_stdout = !strcmp(path, "-");
	FILE *f = to_stdout ? stdout : fopen(path, "we");
	int err = 0;

	if (!f) {
		err = errno;
		fprintf(stderr, "arenatrace: cannot write the CSV timeline to %s: %s\n", path, strerror(err));
		return -err;
	}
	errno = 0;
	write_rows(f, h);
	if (fflush(f) || ferror(f))
		err = errno ? errno : EIO;
	if (!to_stdout && fclose(f) && !err)
		err = errno ? errno : EIO;
	if (err) {
		fprintf(stderr, "arenatrace: writing the CSV timeline to %s failed: %s%s\n", path, strerror(err),
			err == ENOSPC ? " (disk full)" : "");
		return -err;
	}
	return 0;
}
