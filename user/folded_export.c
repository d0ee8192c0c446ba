#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "folded_export.h"

struct folded_line {
	char *text;
	int64_t bytes;
};

/* ';' splits frames and a newline ends the record: neither may appear in a name */
static void folded__sanitize(char *s)
{
	for (; *s; s++)
		if (*s == ';' || (unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '_';
}

void folded_export__frame_name(const struct profile_frame *f, char *buf, size_t size)
{
	if (f->function && *f->function) {
		snprintf(buf, size, "%s", f->function);
	} else if (f->module && *f->module) {
		const char *base = strrchr(f->module, '/');

		snprintf(buf, size, "%s+0x%" PRIx64, base && base[1] ? base + 1 : f->module,
			 f->module_offset);
	} else if (f->address) {
		snprintf(buf, size, "0x%" PRIx64, f->address);
	} else {
		snprintf(buf, size, "[unknown]");
	}
	folded__sanitize(buf);
}

static int folded__cmp(const void *a, const void *b)
{
	return strcmp(((const struct folded_line *)a)->text, ((const struct folded_line *)b)->text);
}

/* "arena;root;...;leaf" for a cell, with frame names cached per frame id. */
static char *folded__render(const struct profile *p, const struct profile_cell *c, char **names)
{
	size_t nr, len;
	const uint32_t *ids = profile__stack(p, c->stack, &nr);
	char *text, *at;

	for (size_t i = 0; i < nr; i++) {
		if (!names[ids[i]]) {
			struct profile_frame f;
			char buf[512];

			profile__frame(p, ids[i], &f, NULL);
			folded_export__frame_name(&f, buf, sizeof(buf));
			if (!(names[ids[i]] = strdup(buf)))
				return NULL;
		}
	}
	len = strlen(profile__string(p, c->arena)) + 1;
	for (size_t i = 0; i < nr; i++)
		len += strlen(names[ids[i]]) + 1;
	text = malloc(len);
	if (!text)
		return NULL;
	at = stpcpy(text, profile__string(p, c->arena));
	folded__sanitize(text);
	for (size_t i = nr; i-- > 0;) {
		*at++ = ';';
		at = stpcpy(at, names[ids[i]]);
	}
	return text;
}

/* The lines of profile type t, sorted and merged; *nr of them, or NULL (ENOMEM) */
static struct folded_line *folded__lines(const struct profile *p, enum profile_type t, size_t *nr)
{
	size_t nr_cells, n = 0, nr_frames = profile__nr_frames(p);
	const struct profile_cell *cells = profile__cells(p, &nr_cells);
	struct folded_line *lines = calloc(nr_cells ? nr_cells : 1, sizeof(*lines));
	char **names = calloc(nr_frames ? nr_frames : 1, sizeof(*names));
	bool ok = lines && names;

	for (size_t i = 0; ok && i < nr_cells; i++) {
		if (cells[i].bytes[t] <= 0)
			continue;
		lines[n].bytes = cells[i].bytes[t];
		ok = (lines[n++].text = folded__render(p, &cells[i], names));
	}
	for (size_t i = 0; names && i < nr_frames; i++)
		free(names[i]);
	free(names);
	if (!ok) {
		for (size_t i = 0; lines && i < n; i++)
			free(lines[i].text);
		free(lines);
		return NULL;
	}
	qsort(lines, n, sizeof(*lines), folded__cmp);
	/* distinct stacks can print alike (same names, other addresses): one line each */
	*nr = 0;
	for (size_t i = 0; i < n; i++) {
		if (*nr && !strcmp(lines[*nr - 1].text, lines[i].text)) {
			lines[*nr - 1].bytes += lines[i].bytes;
			free(lines[i].text);
		} else {
			lines[(*nr)++] = lines[i];
		}
	}
	return lines;
}

int folded_export__write(const char *path, const struct profile *p, enum profile_type t)
{
	bool to_stdout = !strcmp(path, "-");
	struct folded_line *lines;
	size_t nr = 0;
	FILE *f;
	int err = 0;

	if ((unsigned)t >= PROFILE_NR) {
		fprintf(stderr, "arenatrace: folded stacks for %s: no profile type %d\n", path, (int)t);
		return -EINVAL;
	}
	lines = folded__lines(p, t, &nr);
	if (!lines) {
		fprintf(stderr, "arenatrace: out of memory preparing the folded stacks for %s\n", path);
		return -ENOMEM;
	}
	f = to_stdout ? stdout : fopen(path, "we");
	if (!f) {
		err = errno;
		fprintf(stderr, "arenatrace: cannot write the folded stacks to %s: %s\n", path, strerror(err));
		goto out;
	}
	errno = 0;
	for (size_t i = 0; i < nr; i++)
		fprintf(f, "%s %" PRId64 "\n", lines[i].text, lines[i].bytes);
	if (fflush(f) || ferror(f))
		err = errno ? errno : EIO;
	if (!to_stdout && fclose(f) && !err)
		err = errno ? errno : EIO;
	if (err)
		fprintf(stderr, "arenatrace: writing the folded stacks to %s failed: %s%s\n", path,
			strerror(err), err == ENOSPC ? " (disk full)" : "");
out:
	for (size_t i = 0; i < nr; i++)
		free(lines[i].text);
	free(lines);
	return -err;
}
