/*
 * The profile store (user/profile.c) and its exporters: exact folded-stack
 * files for a synthetic profile, frames without names, the interning and the
 * overflow limits, and a pprof round trip (gunzip with zlib, unpack with the
 * protobuf-c code generated from user/proto/profile.proto).
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>
#include "unit_files.h"

#include "folded_export.h"
#include "pprof_export.h"
#include "profile.h"
#include "profile.pb-c.h"

#define APP	"/usr/bin/app"
#define LIBC	"/lib/x86_64-linux-gnu/libc.so.6"
#define BASE	0x555555554000ULL
#define LIBC_BASE 0x7f0000000000ULL
#define ARENA_G	"glibc_arena:0x7f0000000000"
#define ARENA_H	"heap:0x555555560000"

#define FN(name, off, src, ln) \
	{ .address = BASE + (off), .function = (name), .file = (src), .line = (ln), \
	  .module = APP, .build_id = "b1d0", .module_offset = (off) }

static const struct profile_frame f_main = FN("main", 0x1100, "app.c", 10);
static const struct profile_frame f_worker = FN("worker", 0x1200, "app.c", 20);
static const struct profile_frame f_alloc = FN("alloc_buf", 0x1300, "buf.c", 30);
static const struct profile_frame f_alloc2 = FN("alloc_buf", 0x1310, "buf.c", 31);
static const struct profile_frame f_grow = FN("grow_table", 0x1400, "table.c", 40);
static const struct profile_frame f_inl_leaf = FN("inl_leaf", 0x1500, "buf.c", 55);
static const struct profile_frame f_inl_outer = FN("inl_outer", 0x1500, "buf.c", 60);
static const struct profile_frame f_rec = FN("rec", 0x1600, "rec.c", 70);
/* unsymbolized: module and offset only */
static const struct profile_frame f_libc = {
	.address = LIBC_BASE + 0x29d90, .module = LIBC, .build_id = "c0ffee", .module_offset = 0x29d90,
};

static char tmpdir[64];

static void tmp_path(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", tmpdir, name);
}

static void assert_folded(const struct profile *p, enum profile_type t, const char *want)
{
	char path[128];
	char *got;

	tmp_path(path, sizeof(path), "out.folded");
	assert_int_equal(folded_export__write(path, p, t), 0);
	got = slurp(path);
	assert_string_equal(got, want);
	free(got);
}

#define ADD(p, t, arena, kind, bytes, ...) do {						\
		const struct profile_frame fr_[] = { __VA_ARGS__ };			\
		profile__add(p, t, fr_, sizeof(fr_) / sizeof(fr_[0]), arena, kind, bytes); \
	} while (0)

/* 3 stacks, 2 arenas; releases cancel arrivals. */
static struct profile *synthetic(void)
{
	struct profile *p = profile__new();

	assert_non_null(p);
	ADD(p, PROFILE_RESIDENT, ARENA_G, "glibc_arena", 8192, f_alloc, f_worker, f_main);
	ADD(p, PROFILE_RESIDENT, ARENA_G, "glibc_arena", 4096, f_alloc, f_worker, f_main);
	ADD(p, PROFILE_RESIDENT, ARENA_G, "glibc_arena", -4096, f_alloc, f_worker, f_main);
	ADD(p, PROFILE_RESIDENT, ARENA_G, "glibc_arena", 4096, f_grow, f_worker, f_main);
	/* all of it released again: no line */
	ADD(p, PROFILE_RESIDENT, ARENA_H, "heap", 12288, f_grow, f_main);
	ADD(p, PROFILE_RESIDENT, ARENA_H, "heap", -12288, f_grow, f_main);
	ADD(p, PROFILE_RESIDENT, ARENA_H, "heap", 4096, f_alloc, f_worker, f_main);
	/* more released than seen arriving (memory from before the attach): no line */
	ADD(p, PROFILE_RESIDENT, ARENA_H, "heap", -4096, f_grow, f_worker, f_main);
	ADD(p, PROFILE_FAULTED, ARENA_G, "glibc_arena", 12288, f_alloc, f_worker, f_main);
	ADD(p, PROFILE_FAULTED, ARENA_H, "heap", 12288, f_grow, f_main);
	return p;
}

static void test_folded_exact(void **state)
{
	struct profile *p = synthetic();
	struct profile_stats st;

	(void)state;
	assert_folded(p, PROFILE_RESIDENT,
		      ARENA_G ";main;worker;alloc_buf 8192\n"
		      ARENA_G ";main;worker;grow_table 4096\n"
		      ARENA_H ";main;worker;alloc_buf 4096\n");
	assert_folded(p, PROFILE_FAULTED,
		      ARENA_G ";main;worker;alloc_buf 12288\n"
		      ARENA_H ";main;grow_table 12288\n");
	assert_folded(p, PROFILE_GROWTH, "");
	profile__stats(p, &st);
	/* [other stacks] + 3; its frame + 4 */
	assert_int_equal(st.stacks, 4);
	assert_int_equal(st.frames, 5);
	assert_int_equal(st.cells, 5);
	assert_int_equal(st.overflow_adds + st.dropped_adds + st.truncated_stacks, 0);
	profile__free(p);
}

static void test_folded_unnamed_frames(void **state)
{
	const struct profile_frame bare = { .address = 0xdeadbeef };
	const struct profile_frame nothing = { 0 };
	const struct profile_frame odd = { .address = 1, .function = "f<a;b>\nx" };
	const struct profile_frame main_elsewhere = { .address = 0x1234, .function = "main" };
	struct profile *p = profile__new();

	(void)state;
	assert_non_null(p);
	ADD(p, PROFILE_GROWTH, ARENA_G, "glibc_arena", 4096, f_libc, f_main);
	ADD(p, PROFILE_GROWTH, ARENA_G, "glibc_arena", 100, bare, nothing);
	ADD(p, PROFILE_GROWTH, "anon:1;2", "anon", 7, odd);
	/* two stacks that print alike are one line */
	ADD(p, PROFILE_GROWTH, ARENA_H, "heap", 1, main_elsewhere);
	ADD(p, PROFILE_GROWTH, ARENA_H, "heap", 2, f_main);
	/* no stack and no arena */
	profile__add(p, PROFILE_GROWTH, NULL, 0, NULL, NULL, 5);
	assert_folded(p, PROFILE_GROWTH,
		      "anon:1_2;f<a_b>_x 7\n"
		      ARENA_G ";[unknown];0xdeadbeef 100\n"
		      ARENA_G ";main;libc.so.6+0x29d90 4096\n"
		      ARENA_H ";main 3\n"
		      "unknown 5\n");
	profile__free(p);
}

/* A million adds of a few stacks stay a few stacks; strings are copies. */
static void test_interning(void **state)
{
	char fn[32], arena[32];
	struct profile_frame leaf = f_alloc;
	struct profile *p = profile__new();
	struct profile_stats st;

	(void)state;
	assert_non_null(p);
	for (int i = 0; i < 1000000; i++) {
		snprintf(fn, sizeof(fn), "leaf%d", i % 3);
		snprintf(arena, sizeof(arena), "anon:%d", i % 2);
		leaf.function = fn;
		ADD(p, PROFILE_FAULTED, arena, "anon", 1, leaf, f_worker, f_main);
	}
	strcpy(fn, "clobbered");
	strcpy(arena, "clobbered");
	profile__stats(p, &st);
	assert_int_equal(st.stacks, 1 + 3);
	assert_int_equal(st.frames, 1 + 3 + 2);
	assert_int_equal(st.cells, 6);
	assert_true(st.mem_bytes < 64 * 1024);
	assert_folded(p, PROFILE_FAULTED,
		      "anon:0;main;worker;leaf0 166667\n"
		      "anon:0;main;worker;leaf1 166666\n"
		      "anon:0;main;worker;leaf2 166667\n"
		      "anon:1;main;worker;leaf0 166667\n"
		      "anon:1;main;worker;leaf1 166667\n"
		      "anon:1;main;worker;leaf2 166666\n");
	profile__free(p);
}

static void test_limits(void **state)
{
	struct profile_frame deep[PROFILE_MAX_DEPTH + 5];
	struct profile *p = profile__new();
	struct profile_stats st;
	size_t nr;

	(void)state;
	assert_non_null(p);
	/* room for [other stacks] and two more stacks, and three cells */
	profile__set_limits(p, 3, 3);
	ADD(p, PROFILE_RESIDENT, ARENA_G, "glibc_arena", 1, f_alloc, f_main);
	ADD(p, PROFILE_RESIDENT, ARENA_G, "glibc_arena", 2, f_grow, f_main);
	ADD(p, PROFILE_RESIDENT, ARENA_G, "glibc_arena", 4, f_rec, f_main);	/* stack full */
	ADD(p, PROFILE_RESIDENT, ARENA_G, "glibc_arena", 8, f_worker, f_main);	/* stack full */
	ADD(p, PROFILE_RESIDENT, ARENA_H, "heap", 16, f_alloc, f_main);		/* cell full */
	ADD(p, PROFILE_RESIDENT, ARENA_G, "glibc_arena", 32, f_alloc, f_main);	/* existing */
	profile__stats(p, &st);
	assert_int_equal(st.stacks, 3);
	assert_int_equal(st.overflow_adds, 3);
	assert_folded(p, PROFILE_RESIDENT,
		      PROFILE_OTHER_ARENAS ";" PROFILE_OTHER_STACKS " 16\n"
		      ARENA_G ";" PROFILE_OTHER_STACKS " 12\n"
		      ARENA_G ";main;alloc_buf 33\n"
		      ARENA_G ";main;grow_table 2\n");
	profile__free(p);

	/* a deep stack keeps its leaf end */
	p = profile__new();
	assert_non_null(p);
	for (size_t i = 0; i < sizeof(deep) / sizeof(deep[0]); i++)
		deep[i] = (struct profile_frame){ .address = 0x1000 + i };
	profile__add(p, PROFILE_RESIDENT, deep, sizeof(deep) / sizeof(deep[0]), ARENA_G, "glibc_arena", 1);
	profile__stats(p, &st);
	assert_int_equal(st.truncated_stacks, 1);
	profile__stack(p, profile__cells(p, &nr)[0].stack, &nr);
	assert_int_equal(nr, PROFILE_MAX_DEPTH);
	profile__free(p);
}

static void test_write_errors(void **state)
{
	struct profile *p = profile__new();

	(void)state;
	assert_non_null(p);
	assert_int_equal(folded_export__write("/nonexistent/dir/x.folded", p, PROFILE_RESIDENT), -ENOENT);
	assert_int_equal(pprof_export__write("/nonexistent/dir/x.pb.gz", p, 0, 0), -ENOENT);
	assert_int_equal(folded_export__write("/dev/full", p, PROFILE_RESIDENT), 0);	/* nothing to write */
	ADD(p, PROFILE_RESIDENT, ARENA_G, "glibc_arena", 1, f_main);
	assert_int_equal(folded_export__write("/dev/full", p, PROFILE_RESIDENT), -ENOSPC);
	assert_int_equal(pprof_export__write("/dev/full", p, 0, 0), -ENOSPC);
	profile__free(p);
}

/* ---- pprof ---------------------------------------------------------------------- */

static Perftools__Profiles__Profile *pprof_read(const char *path)
{
	gzFile gz = gzopen(path, "rb");
	unsigned char head[2];
	size_t len = 0, cap = 1 << 16;
	uint8_t *buf = malloc(cap);
	Perftools__Profiles__Profile *prof;
	FILE *f;
	int n;

	/* a real gzip member, not a bare zlib stream */
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(head, 1, 2, f), 2);
	fclose(f);
	assert_int_equal(head[0], 0x1f);
	assert_int_equal(head[1], 0x8b);

	assert_non_null(gz);
	assert_non_null(buf);
	while ((n = gzread(gz, buf + len, cap - len)) > 0) {
		len += n;
		if (len == cap)
			assert_non_null(buf = realloc(buf, cap *= 2));
	}
	assert_int_equal(n, 0);
	assert_int_equal(gzclose(gz), Z_OK);
	prof = perftools__profiles__profile__unpack(NULL, len, buf);
	assert_non_null(prof);
	free(buf);
	return prof;
}

static const char *str(const Perftools__Profiles__Profile *prof, int64_t i)
{
	assert_true(i >= 0 && (size_t)i < prof->n_string_table);
	return prof->string_table[i];
}

static const char *label(const Perftools__Profiles__Profile *prof,
			 const Perftools__Profiles__Sample *s, const char *key)
{
	for (size_t i = 0; i < s->n_label; i++)
		if (!strcmp(str(prof, s->label[i]->key), key))
			return str(prof, s->label[i]->str);
	fail_msg("sample without label %s", key);
	return NULL;
}

static const Perftools__Profiles__Location *loc(const Perftools__Profiles__Profile *prof, uint64_t id)
{
	assert_true(id >= 1 && id <= prof->n_location);
	assert_int_equal(prof->location[id - 1]->id, id);
	return prof->location[id - 1];
}

static const Perftools__Profiles__Function *func(const Perftools__Profiles__Profile *prof, uint64_t id)
{
	assert_true(id >= 1 && id <= prof->n_function);
	assert_int_equal(prof->function[id - 1]->id, id);
	return prof->function[id - 1];
}

static const Perftools__Profiles__Mapping *mapping(const Perftools__Profiles__Profile *prof, uint64_t id)
{
	assert_true(id >= 1 && id <= prof->n_mapping);
	assert_int_equal(prof->mapping[id - 1]->id, id);
	return prof->mapping[id - 1];
}

/* "name:line" of a location's lines, innermost first, joined with '|' */
static void loc_text(const Perftools__Profiles__Profile *prof, uint64_t id, char *buf, size_t n)
{
	const Perftools__Profiles__Location *l = loc(prof, id);
	size_t at = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < l->n_line; i++)
		at += snprintf(buf + at, n - at, "%s%s:%" PRId64, i ? "|" : "",
			       str(prof, func(prof, l->line[i]->function_id)->name), l->line[i]->line);
	if (!l->n_line)
		snprintf(buf, n, "0x%" PRIx64, l->address);
}

/* The sample of an arena whose stack prints as want (locations leaf first, ' ' between). */
static const Perftools__Profiles__Sample *sample(const Perftools__Profiles__Profile *prof,
						 const char *arena, const char *want)
{
	for (size_t i = 0; i < prof->n_sample; i++) {
		const Perftools__Profiles__Sample *s = prof->sample[i];
		char text[512] = "", one[128];

		if (strcmp(label(prof, s, "arena"), arena))
			continue;
		for (size_t k = 0; k < s->n_location_id; k++) {
			loc_text(prof, s->location_id[k], one, sizeof(one));
			strcat(strcat(text, k ? " " : ""), one);
		}
		if (!strcmp(text, want))
			return s;
	}
	fail_msg("no sample %s in %s", want, arena);
	return NULL;
}

static void assert_values(const Perftools__Profiles__Sample *s, int64_t r, int64_t f, int64_t g)
{
	/* PROFILE_INUSE (--heap) is written only when the profile has it. */
	assert_int_equal(s->n_value, PROFILE_NR - 1);
	assert_int_equal(s->value[0], r);
	assert_int_equal(s->value[1], f);
	assert_int_equal(s->value[2], g);
	assert_int_equal(s->value[3], 0); /* nothing released in these synthetic profiles */
}

static void test_pprof_round_trip(void **state)
{
	struct profile *p = profile__new();
	Perftools__Profiles__Profile *prof;
	const Perftools__Profiles__Sample *s;
	const Perftools__Profiles__Location *l;
	const Perftools__Profiles__Mapping *m;
	char path[128];

	(void)state;
	assert_non_null(p);
	ADD(p, PROFILE_RESIDENT, ARENA_G, "glibc_arena", 8192, f_alloc, f_worker, f_main);
	ADD(p, PROFILE_FAULTED, ARENA_G, "glibc_arena", 12288, f_alloc, f_worker, f_main);
	ADD(p, PROFILE_RESIDENT, ARENA_G, "glibc_arena", 4096, f_grow, f_worker, f_main);
	ADD(p, PROFILE_GROWTH, ARENA_G, "glibc_arena", 65536, f_grow, f_worker, f_main);
	ADD(p, PROFILE_RESIDENT, ARENA_G, "glibc_arena", 4096, f_alloc2, f_worker, f_main);
	ADD(p, PROFILE_RESIDENT, ARENA_H, "heap", 4096, f_libc, f_alloc, f_worker, f_main);
	/* inlined: two frames at one address */
	ADD(p, PROFILE_FAULTED, ARENA_H, "heap", 4096, f_inl_leaf, f_inl_outer, f_main);
	ADD(p, PROFILE_RESIDENT, ARENA_H, "heap", -4096, f_inl_leaf, f_inl_outer, f_main);
	/* direct recursion: same return address twice, not inlining */
	ADD(p, PROFILE_GROWTH, ARENA_H, "heap", 8192, f_rec, f_rec, f_main);
	/* cancelled to zero everywhere: no sample */
	ADD(p, PROFILE_RESIDENT, ARENA_H, "heap", 4096, f_alloc, f_worker, f_main);
	ADD(p, PROFILE_RESIDENT, ARENA_H, "heap", -4096, f_alloc, f_worker, f_main);

	tmp_path(path, sizeof(path), "profile.pb.gz");
	assert_int_equal(pprof_export__write(path, p, 5000000000ULL, 1700000000000000000ULL), 0);
	prof = pprof_read(path);

	assert_true(prof->n_string_table > 0);
	assert_string_equal(prof->string_table[0], "");
	assert_int_equal(prof->n_sample_type, 4);
	assert_string_equal(str(prof, prof->sample_type[0]->type), "resident_space");
	assert_string_equal(str(prof, prof->sample_type[1]->type), "faulted_space");
	assert_string_equal(str(prof, prof->sample_type[2]->type), "growth_space");
	assert_string_equal(str(prof, prof->sample_type[3]->type), "released_space");
	for (size_t i = 0; i < prof->n_sample_type; i++)
		assert_string_equal(str(prof, prof->sample_type[i]->unit), "bytes");
	assert_string_equal(str(prof, prof->default_sample_type), "resident_space");
	assert_int_equal(prof->duration_nanos, 5000000000LL);
	assert_int_equal(prof->time_nanos, 1700000000000000000LL);
	assert_int_equal(prof->n_comment, 0);
	/* no string twice */
	for (size_t i = 0; i < prof->n_string_table; i++)
		for (size_t k = i + 1; k < prof->n_string_table; k++)
			assert_string_not_equal(prof->string_table[i], prof->string_table[k]);

	assert_int_equal(prof->n_sample, 6);
	for (size_t i = 0; i < prof->n_sample; i++) {
		const char *a = label(prof, prof->sample[i], "arena");

		assert_int_equal(prof->sample[i]->n_label, 2);
		assert_string_equal(label(prof, prof->sample[i], "kind"),
				    !strcmp(a, ARENA_G) ? "glibc_arena" : "heap");
	}
	s = sample(prof, ARENA_G, "alloc_buf:30 worker:20 main:10");
	assert_values(s, 8192, 12288, 0);
	s = sample(prof, ARENA_G, "grow_table:40 worker:20 main:10");
	assert_values(s, 4096, 0, 65536);
	s = sample(prof, ARENA_G, "alloc_buf:31 worker:20 main:10");
	assert_values(s, 4096, 0, 0);
	s = sample(prof, ARENA_H, "0x7f0000029d90 alloc_buf:30 worker:20 main:10");
	assert_values(s, 4096, 0, 0);
	/* the released 4096 is not carried as a negative value */
	s = sample(prof, ARENA_H, "inl_leaf:55|inl_outer:60 main:10");
	assert_values(s, 0, 4096, 0);
	s = sample(prof, ARENA_H, "rec:70 rec:70 main:10");
	assert_values(s, 0, 0, 8192);
	assert_int_equal(s->location_id[0], s->location_id[1]);

	/* main worker alloc_buf@1300 alloc_buf@1310 grow_table libc inline rec */
	assert_int_equal(prof->n_location, 8);
	for (size_t i = 0; i < prof->n_location; i++)
		for (size_t k = i + 1; k < prof->n_location; k++)
			assert_true(prof->location[i]->address != prof->location[k]->address);
	/* main worker alloc_buf grow_table inl_leaf inl_outer rec: alloc_buf once */
	assert_int_equal(prof->n_function, 7);
	for (size_t i = 0; i < prof->n_function; i++) {
		const Perftools__Profiles__Function *fi = prof->function[i];

		assert_int_equal(fi->name, fi->system_name);
		for (size_t k = i + 1; k < prof->n_function; k++)
			assert_false(fi->name == prof->function[k]->name &&
				     fi->filename == prof->function[k]->filename);
		if (!strcmp(str(prof, fi->name), "grow_table"))
			assert_string_equal(str(prof, fi->filename), "table.c");
	}

	/* mappings: the app and libc, address - start + offset == module offset */
	assert_int_equal(prof->n_mapping, 2);
	for (size_t i = 0; i < prof->n_location; i++) {
		l = prof->location[i];
		m = mapping(prof, l->mapping_id);
		assert_true(l->address >= m->memory_start && l->address < m->memory_limit);
		if (!strcmp(str(prof, m->filename), LIBC)) {
			assert_int_equal(l->address - m->memory_start + m->file_offset, 0x29d90);
			assert_int_equal(l->n_line, 0);
		} else {
			assert_int_equal(l->address - m->memory_start + m->file_offset, l->address - BASE);
		}
	}
	for (size_t i = 0; i < prof->n_mapping; i++) {
		m = prof->mapping[i];
		if (!strcmp(str(prof, m->filename), APP)) {
			assert_string_equal(str(prof, m->build_id), "b1d0");
			assert_int_equal(m->memory_start, BASE + 0x1000);
			assert_int_equal(m->memory_limit, BASE + 0x2000);
			assert_int_equal(m->file_offset, 0x1000);
			assert_true(m->has_functions && m->has_filenames && m->has_line_numbers &&
				    m->has_inline_frames);
		} else {
			assert_string_equal(str(prof, m->filename), LIBC);
			assert_string_equal(str(prof, m->build_id), "c0ffee");
			assert_int_equal(m->memory_start, LIBC_BASE + 0x29000);
			assert_int_equal(m->memory_limit, LIBC_BASE + 0x2a000);
			assert_int_equal(m->file_offset, 0x29000);
			assert_false(m->has_functions || m->has_filenames || m->has_line_numbers);
		}
	}
	perftools__profiles__profile__free_unpacked(prof, NULL);

	/* written twice, the same bytes */
	{
		char again[128], cmd[300];

		tmp_path(again, sizeof(again), "again.pb.gz");
		assert_int_equal(pprof_export__write(again, p, 5000000000ULL, 1700000000000000000ULL), 0);
		snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", path, again);
		assert_int_equal(system(cmd), 0);
	}
	profile__free(p);
}

/* Address-less frames, no arena, an empty profile, and the overflow comment. */
static void test_pprof_edges(void **state)
{
	const struct profile_frame nameless = { .function = "jit_stub" };
	const struct profile_frame offset_only = { .module = LIBC, .module_offset = 0x1234 };
	struct profile *p = profile__new();
	Perftools__Profiles__Profile *prof;
	char path[128];

	(void)state;
	assert_non_null(p);
	tmp_path(path, sizeof(path), "empty.pb.gz");
	assert_int_equal(pprof_export__write(path, p, 0, 0), 0);
	prof = pprof_read(path);
	assert_int_equal(prof->n_sample, 0);
	assert_int_equal(prof->n_sample_type, 4);
	assert_string_equal(prof->string_table[0], "");
	perftools__profiles__profile__free_unpacked(prof, NULL);

	profile__set_limits(p, 2, 100);
	ADD(p, PROFILE_RESIDENT, NULL, NULL, 4096, nameless, offset_only);
	ADD(p, PROFILE_RESIDENT, ARENA_G, "glibc_arena", 1, f_main);	/* past the stack limit */
	assert_int_equal(pprof_export__write(path, p, 0, 0), 0);
	prof = pprof_read(path);
	assert_int_equal(prof->n_sample, 2);
	assert_values(sample(prof, PROFILE_UNKNOWN, "jit_stub:0 0x1234"), 4096, 0, 0);
	assert_string_equal(label(prof, sample(prof, PROFILE_UNKNOWN, "jit_stub:0 0x1234"), "kind"),
			    PROFILE_UNKNOWN);
	assert_values(sample(prof, ARENA_G, PROFILE_OTHER_STACKS ":0"), 1, 0, 0);
	/* the nameless frame has neither address nor mapping; the offset-only one is in libc */
	assert_int_equal(loc(prof, 1)->address, 0);
	assert_int_equal(loc(prof, 1)->mapping_id, 0);
	assert_int_equal(loc(prof, 2)->address, 0x1234);
	assert_string_equal(str(prof, mapping(prof, loc(prof, 2)->mapping_id)->filename), LIBC);
	assert_int_equal(prof->n_comment, 1);
	assert_non_null(strstr(str(prof, prof->comment[0]), "1 adds past the store's limits"));
	perftools__profiles__profile__free_unpacked(prof, NULL);
	profile__free(p);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/arenatrace-profile-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_folded_exact),
		cmocka_unit_test(test_folded_unnamed_frames),
		cmocka_unit_test(test_interning),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_write_errors),
		cmocka_unit_test(test_pprof_round_trip),
		cmocka_unit_test(test_pprof_edges),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
