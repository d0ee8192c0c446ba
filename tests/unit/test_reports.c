/*
 * End-of-run reports: the in-memory history (user/history.c), the CSV export and
 * the HTML report, from a synthetic ledger. Exact CSV bytes; for the HTML, the
 * embedded data (the flame graph's tree too) and that nothing from an arena id,
 * a frame name or the diagnosis can become markup. Also writes
 * build/unit/sample-report.html (when build/unit exists) for
 * tests/integration/test_html.py to render in a real browser.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "unit_files.h"

#include "csv_export.h"
#include "history.h"
#include "html_report.h"
#include "ledger.h"
#include "profile.h"
#include "retention.h"

#define PG  4096ULL
#define MiB (1024ULL * 1024)
#define RW  (PROT_READ | PROT_WRITE)

#define HEAP   0x555555560000ULL
#define HEAP_END (HEAP + 0x21000)
#define FILE_A 0x7f0000200000ULL
#define FILE_B 0x7f0000300000ULL
#define ANON   0x7f0000400000ULL
#define GLIBC  0x7ff000000000ULL      /* 64 MiB aligned: a glibc arena when its tail is PROT_NONE */
#define ODD_PATH "/opt/lib,\"odd\".so"
#define EVIL_PATH "/opt/x</script><img src=x onerror=alert(1)>&amp;/lib.so"
#define EVIL_ID "file:" EVIL_PATH

static char tmpdir[64];

/* ---- helpers ------------------------------------------------------------------- */

static void seed(struct ledger *l, uint64_t start, uint64_t end, uint32_t prot, const char *path)
{
	struct region r = { .start = start, .end = end, .prot = prot, .path = (char *)path };

	ledger__seed_region(l, &r);
}

static void add_sample(struct history *h, const struct ledger *l, double t, uint64_t rss,
		       uint64_t (*retained)(void *, const struct arena *))
{
	struct sample s = {
		.t = t, .pid = 4242, .comm = "svc",
		.rss_bytes = rss, .accounted_bytes = (uint64_t)ledger__accounted_pages(l) * PG,
	};

	history__add(h, &s, l, retained, NULL);
}

static uint64_t heap_retains_a_page(void *cookie, const struct arena *a)
{
	(void)cookie;
	return !strcmp(a->id, "heap:main") ? PG : 0;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* The text of the JSON block, for checks that must not look at the rest. */
static char *json_block(const char *html)
{
	const char *open = "<script type=\"application/json\" id=\"report-data\">";
	const char *s = strstr(html, open), *e;
	char *out;

	assert_non_null(s);
	s += strlen(open);
	e = strstr(s, "</script>");
	assert_non_null(e);
	out = strndup(s, e - s);
	assert_non_null(out);
	return out;
}

static void tmp_path(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", tmpdir, name);
}

/* Two samples of a heap and a file whose name needs CSV quoting. */
static void two_samples(struct ledger *l, struct history *h)
{
	ledger__init(l, NULL, NULL);
	seed(l, HEAP, HEAP_END, RW, "[heap]");
	seed(l, FILE_A, FILE_A + 4 * PG, PROT_READ, ODD_PATH);
	ledger__seed_done(l);
	ledger__fault(l, HEAP, 3);
	ledger__fault(l, FILE_A, 1);
	history__init(h, 16);
	add_sample(h, l, 0.5, 5 * PG, heap_retains_a_page);
	ledger__fault(l, HEAP + PG, 2);
	ledger__range_delta(l, FILE_A, FILE_A + 4 * PG, -1);
	add_sample(h, l, 1.25, 6 * PG, heap_retains_a_page);
}

static int setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/arenatrace-reports-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- history -------------------------------------------------------------------- */

static void test_history_records_samples(void **state)
{
	struct ledger l;
	struct history h;
	const struct history_arena_point *ap;

	(void)state;
	two_samples(&l, &h);
	assert_int_equal(h.nr_points, 2);
	assert_int_equal(h.nr_arenas, 2);
	assert_string_equal(h.arena_ids[0], "heap:main");
	assert_string_equal(h.arena_kinds[0], "heap");
	assert_string_equal(h.arena_ids[1], "file:" ODD_PATH);
	assert_string_equal(h.arena_kinds[1], "file");

	assert_true(h.points[0].t == 0.5);
	assert_int_equal(h.points[0].rss_bytes, 5 * PG);
	assert_int_equal(h.points[0].accounted_bytes, 4 * PG);
	assert_int_equal(h.points[0].first, 0);
	assert_int_equal(h.points[0].count, 2);
	ap = &h.arena_points[0];
	assert_int_equal(ap->arena, 0);
	assert_int_equal(ap->mapped_bytes, 0x21000);
	assert_int_equal(ap->resident_bytes, 3 * PG);
	assert_int_equal(ap->faulted_bytes, 3 * PG);
	assert_int_equal(ap->released_bytes, 0);
	assert_int_equal(ap->retained_bytes, PG);

	assert_int_equal(h.points[1].first, 2);
	assert_int_equal(h.points[1].count, 2);
	assert_int_equal(h.points[1].accounted_bytes, 5 * PG);
	ap = &h.arena_points[3];
	assert_int_equal(ap->arena, 1);
	assert_int_equal(ap->mapped_bytes, 4 * PG);
	assert_int_equal(ap->resident_bytes, 0);
	assert_int_equal(ap->faulted_bytes, PG);
	assert_int_equal(ap->released_bytes, PG);
	assert_int_equal(ap->retained_bytes, 0);

	history__free(&h);
	ledger__free(&l);
}

/* Arenas that come and go (unmapped, then the address reused) keep their ids
 * straight; an arena removed from the middle of the list shifts the others. */
static void test_history_arenas_come_and_go(void **state)
{
	struct ledger l;
	struct history h;
	struct region r = { .start = ANON, .end = ANON + 4 * PG, .prot = RW,
			    .map_flags = MAP_PRIVATE | MAP_ANONYMOUS };
	const struct history_point *p;

	(void)state;
	two_samples(&l, &h);
	ledger__map(&l, &r, 0);
	ledger__fault(&l, ANON, 2);
	add_sample(&h, &l, 2.0, 0, NULL);
	assert_int_equal(h.nr_arenas, 3);
	assert_string_equal(h.arena_ids[2], "anon:0x7f0000400000");

	/* The file goes: reported once more as gone, then dropped from the list. */
	ledger__unmap(&l, FILE_A, FILE_A + 4 * PG, 0);
	add_sample(&h, &l, 3.0, 0, NULL);
	ledger__collect_gone(&l);
	add_sample(&h, &l, 4.0, 0, NULL);
	p = &h.points[h.nr_points - 1];
	assert_int_equal(p->count, 2);
	assert_string_equal(h.arena_ids[h.arena_points[p->first].arena], "heap:main");
	assert_string_equal(h.arena_ids[h.arena_points[p->first + 1].arena], "anon:0x7f0000400000");
	assert_int_equal(h.arena_points[p->first + 1].resident_bytes, 2 * PG);

	/* The file mapped again: the same id, the same index. */
	r = (struct region){ .start = FILE_B, .end = FILE_B + 2 * PG, .prot = PROT_READ, .path = ODD_PATH };
	ledger__map(&l, &r, 1);
	add_sample(&h, &l, 5.0, 0, NULL);
	p = &h.points[h.nr_points - 1];
	assert_int_equal(p->count, 3);
	assert_int_equal(h.arena_points[p->first + 2].arena, 1);
	assert_int_equal(h.arena_points[p->first + 2].resident_bytes, PG);
	assert_int_equal(h.nr_arenas, 3);

	history__free(&h);
	ledger__free(&l);
}

/* Full: every other point of the older half goes. Memory stays flat, the first
 * and the newest points stay, old points get sparser than new ones, and ids no
 * point uses any more are forgotten. */
static void test_history_coarsens(void **state)
{
	struct ledger l;
	struct history h;
	size_t max_arena_points = 0;

	(void)state;
	ledger__init(&l, NULL, NULL);
	history__init(&h, 8);
	for (int i = 0; i < 200; i++) {
		/* A new short-lived arena per sample, as a program that churns mmaps makes. */
		struct region r = { .start = ANON + (uint64_t)i * MiB, .end = ANON + (uint64_t)i * MiB + PG,
				    .prot = RW, .map_flags = MAP_PRIVATE | MAP_ANONYMOUS };

		ledger__map(&l, &r, 1);
		add_sample(&h, &l, i, PG, NULL);
		ledger__unmap(&l, r.start, r.end, -1);
		ledger__collect_gone(&l);
		assert_true(h.nr_points <= 8);
		if (i >= 8)
			assert_true(h.nr_points >= 5);
		max_arena_points = h.nr_arena_points > max_arena_points ? h.nr_arena_points : max_arena_points;
	}
	assert_true(max_arena_points <= 8);
	assert_true(h.points[0].t == 0);
	assert_true(h.points[h.nr_points - 1].t == 199);
	assert_true(h.points[h.nr_points - 2].t == 198);
	for (size_t i = 1; i < h.nr_points; i++)
		assert_true(h.points[i].t > h.points[i - 1].t);
	/* Gaps shrink towards the present. */
	assert_true(h.points[1].t - h.points[0].t >= h.points[h.nr_points - 1].t - h.points[h.nr_points - 2].t);
	/* Arena points still belong to their point, and ids to the kept points only
	 * (each point here has an arena of its own). */
	assert_int_equal(h.nr_arenas, h.nr_points);
	for (size_t i = 0; i < h.nr_points; i++) {
		char want[64];

		assert_int_equal(h.points[i].count, 1);
		assert_int_equal(h.points[i].first, i);
		snprintf(want, sizeof(want), "anon:0x%llx",
			 (unsigned long long)(ANON + (uint64_t)h.points[i].t * MiB));
		assert_string_equal(h.arena_ids[h.arena_points[i].arena], want);
	}
	history__free(&h);
	ledger__free(&l);
}

/* ---- CSV -------------------------------------------------------------------------- */

static void test_csv_exact(void **state)
{
	static const char want[] =
		"t,arena,kind,mapped_bytes,resident_bytes,faulted_bytes,released_bytes,retained_bytes,"
		"rss_bytes,accounted_bytes\r\n"
		"0.500,(process),,,,,,,20480,16384\r\n"
		"0.500,heap:main,heap,135168,12288,12288,0,4096,,\r\n"
		"0.500,\"file:/opt/lib,\"\"odd\"\".so\",file,16384,4096,4096,0,0,,\r\n"
		"1.250,(process),,,,,,,24576,20480\r\n"
		"1.250,heap:main,heap,135168,20480,20480,0,4096,,\r\n"
		"1.250,\"file:/opt/lib,\"\"odd\"\".so\",file,16384,0,4096,4096,0,,\r\n";
	struct ledger l;
	struct history h;
	char path[128], *got;

	(void)state;
	two_samples(&l, &h);
	tmp_path(path, sizeof(path), "timeline.csv");
	assert_int_equal(csv_export__write(path, &h), 0);
	got = slurp(path);
	assert_string_equal(got, want);
	free(got);
	history__free(&h);
	ledger__free(&l);
}

static void test_csv_empty_history(void **state)
{
	struct history h;
	char path[128], *got;

	(void)state;
	history__init(&h, 0);
	tmp_path(path, sizeof(path), "empty.csv");
	assert_int_equal(csv_export__write(path, &h), 0);
	got = slurp(path);
	assert_string_equal(got, "t,arena,kind,mapped_bytes,resident_bytes,faulted_bytes,released_bytes,"
				 "retained_bytes,rss_bytes,accounted_bytes\r\n");
	free(got);
	history__free(&h);
}

static void test_write_errors(void **state)
{
	struct history h;
	struct html_report_input in = { .history = &h, .pid = 1, .comm = "x" };

	(void)state;
	history__init(&h, 4);
	assert_int_equal(csv_export__write("/nonexistent-dir/t.csv", &h), -ENOENT);
	assert_int_equal(html_report__write("/nonexistent-dir/r.html", &in), -ENOENT);
	if (access("/dev/full", W_OK) == 0) {
		assert_int_equal(csv_export__write("/dev/full", &h), -ENOSPC);
		assert_int_equal(html_report__write("/dev/full", &in), -ENOSPC);
	}
	history__free(&h);
}

/* ---- HTML ------------------------------------------------------------------------- */

static void test_html_embeds_data(void **state)
{
	struct ledger l;
	struct history h;
	struct html_report_input in;
	char path[128], *html, *json;

	(void)state;
	two_samples(&l, &h);
	in = (struct html_report_input){
		.history = &h, .pid = 4242, .comm = "svc", .ledger = &l, .interval_s = 0.25,
		.diagnosis = "heap:main keeps 1 page.",
	};
	tmp_path(path, sizeof(path), "report.html");
	assert_int_equal(html_report__write(path, &in), 0);
	html = slurp(path);
	json = json_block(html);

	assert_true(!strncmp(html, "<!DOCTYPE html>", 15));
	assert_non_null(strstr(html, "id=\"resident-chart\""));
	assert_non_null(strstr(html, "document.body.dataset.chartDrawn = '1'"));
	/* Offline: nothing loaded from anywhere. */
	assert_null(strstr(html, "src="));
	assert_null(strstr(html, "<link"));
	assert_null(strstr(html, "@import"));
	assert_null(strstr(html, "url("));

	assert_non_null(strstr(json, "\"pid\":4242,\"comm\":\"svc\""));
	assert_non_null(strstr(json, "\"t\":[0.500,1.250]"));
	assert_non_null(strstr(json, "\"rss\":[20480,24576]"));
	assert_non_null(strstr(json, "\"accounted\":[16384,20480]"));
	/* Largest peak first. */
	assert_non_null(strstr(json, "{\"arena\":\"heap:main\",\"kind\":\"heap\",\"peak\":20480,\"resident\":[12288,20480]}"));
	assert_non_null(strstr(json, "{\"arena\":\"file:/opt/lib,\\\"odd\\\".so\",\"kind\":\"file\",\"peak\":4096,"
				     "\"resident\":[4096,0]}"));
	assert_null(strstr(json, "\"other\":true"));
	assert_non_null(strstr(json, "\"bursts\":[]"));
	assert_non_null(strstr(json, "{\"arena\":\"heap:main\",\"kind\":\"heap\",\"ranges\":[[\"0x555555560000\","
				     "\"0x555555581000\"]],\"mapped_bytes\":135168,\"resident_bytes\":20480,"
				     "\"peak_resident_bytes\":20480,\"faulted_bytes\":20480,\"released_bytes\":0}"));
	assert_non_null(strstr(json, "\"diagnosis\":\"heap:main keeps 1 page.\""));

	/* The static parts: the table row and the diagnosis. */
	assert_non_null(strstr(html, "<td class=\"id\">heap:main</td><td class=\"mono\">555555560000-555555581000</td>"));
	assert_non_null(strstr(html, "<pre class=\"diagnosis\">heap:main keeps 1 page.</pre>"));
	assert_non_null(strstr(html, "No retention analysis in this run"));
	/* No stacks: no flame graph, a note saying how to get one. */
	assert_non_null(strstr(json, "\"flame\":null}"));
	assert_null(strstr(html, "<svg id=\"flame-graph\""));
	assert_non_null(strstr(html, "<p class=\"muted\" id=\"flame-note\">"));
	assert_non_null(strstr(html, "<code>--call-graph dwarf</code>"));
	free(json);
	free(html);
	history__free(&h);
	ledger__free(&l);
}

static void test_html_escapes_ids(void **state)
{
	struct ledger l;
	struct history h;
	struct html_report_input in;
	char *cmd[] = { "./svc", "--name=<b>x</b>", NULL };
	char path[128], *html, *json;

	(void)state;
	ledger__init(&l, NULL, NULL);
	seed(&l, FILE_A, FILE_A + 4 * PG, PROT_READ, EVIL_PATH);
	ledger__seed_done(&l);
	ledger__fault(&l, FILE_A, 2);
	history__init(&h, 16);
	add_sample(&h, &l, 1.0, 2 * PG, NULL);
	in = (struct html_report_input){
		.history = &h, .pid = 7, .comm = "<svc>", .command = cmd, .ledger = &l,
		.diagnosis = "</pre><script>alert('x')</script> & more",
	};
	tmp_path(path, sizeof(path), "evil.html");
	assert_int_equal(html_report__write(path, &in), 0);
	html = slurp(path);
	json = json_block(html);

	/* Exactly the report's own two script blocks, and no markup from the data. */
	assert_int_equal(count(html, "<script"), 2);
	assert_int_equal(count(html, "</script>"), 2);
	assert_null(strstr(html, "<img"));
	assert_null(strstr(html, "<b>"));
	assert_null(strstr(html, "<svc>"));
	assert_null(strstr(json, "<"));
	assert_null(strstr(json, ">"));
	assert_null(strstr(json, "&"));
	assert_non_null(strstr(json, "\"arena\":\"file:/opt/x\\u003c/script\\u003e\\u003cimg src=x "
				     "onerror=alert(1)\\u003e\\u0026amp;/lib.so\""));
	assert_non_null(strstr(json, "\"comm\":\"\\u003csvc\\u003e\""));
	assert_non_null(strstr(html, "file:/opt/x&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&amp;amp;/lib.so"));
	assert_non_null(strstr(html, "&lt;/pre&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
	assert_non_null(strstr(html, "--name=&lt;b&gt;x&lt;/b&gt;"));
	free(json);
	free(html);
	history__free(&h);
	ledger__free(&l);
}

/* More arenas than the chart plots on its own: the rest become one "other". */
static void test_html_other_series(void **state)
{
	struct ledger l;
	struct history h;
	struct html_report_input in;
	char path[128], *html, *json;

	(void)state;
	ledger__init(&l, NULL, NULL);
	for (int i = 0; i < HTML_REPORT_TOP_ARENAS + 3; i++) {
		struct region r = { .start = ANON + (uint64_t)i * MiB, .end = ANON + (uint64_t)i * MiB + 64 * PG,
				    .prot = RW, .map_flags = MAP_PRIVATE | MAP_ANONYMOUS };

		ledger__map(&l, &r, 0);
		ledger__fault(&l, r.start, i + 1);   /* arena i peaks at i + 1 pages */
	}
	history__init(&h, 16);
	add_sample(&h, &l, 1.0, 0, NULL);
	in = (struct html_report_input){ .history = &h, .pid = 1, .comm = "x", .ledger = &l };
	tmp_path(path, sizeof(path), "other.html");
	assert_int_equal(html_report__write(path, &in), 0);
	html = slurp(path);
	json = json_block(html);
	assert_int_equal(count(json, "\"resident\":["), HTML_REPORT_TOP_ARENAS + 1);
	/* The three smallest (1 + 2 + 3 pages) are "other". */
	assert_non_null(strstr(json, "{\"arena\":\"other\",\"kind\":\"other\",\"other\":true,\"arenas\":3,"
				     "\"peak\":24576,\"resident\":[24576]}"));
	assert_non_null(strstr(json, "\"series\":[\n{\"arena\":\"anon:0x7f0000e00000\""));
	free(json);
	free(html);
	history__free(&h);
	ledger__free(&l);
}

/* ---- the flame graph (profile (a)) ---------------------------------------------- */

#define LIBC_SO "/usr/lib/x86_64-linux-gnu/libc.so.6"
#define EVIL_FN "evil</script><b>x</b>&;y"

static const struct profile_frame F_START = { .address = 0x7f0000002000, .function = "__libc_start_main",
					      .module = LIBC_SO, .module_offset = 0x2000 };
static const struct profile_frame F_MAIN = { .address = 0x555555551100, .function = "main",
					     .module = "/usr/bin/svc", .module_offset = 0x1100 };
/* main again at another address: prints alike, so the same node */
static const struct profile_frame F_MAIN2 = { .address = 0x555555551108, .function = "main",
					      .module = "/usr/bin/svc", .module_offset = 0x1108 };
/* no function: named module+offset, as in the folded output */
static const struct profile_frame F_MEMSET = { .address = 0x7f0000001234, .module = LIBC_SO,
					       .module_offset = 0x1234 };

static struct profile_frame fn(const char *name, uint64_t address)
{
	return (struct profile_frame){ .address = address, .function = name, .module = "/usr/bin/svc",
				       .module_offset = address & 0xffff };
}

/* leaf first, then main and __libc_start_main */
static void add3(struct profile *p, enum profile_type t, struct profile_frame leaf, const struct profile_frame *mid,
		 const char *arena, const char *kind, int64_t bytes)
{
	struct profile_frame s[] = { leaf, *mid, F_START };

	profile__add(p, t, s, 3, arena, kind, bytes);
}

/*
 * callpaths' three paths (24, 16 and 8 MiB) plus: a 1000-byte stack (under 0.1%,
 * merged into its caller), a cell released below zero, a faulted-only stack (not
 * resident), and a hostile frame name in the hostile arena (1 MiB).
 */
static struct profile *synthetic_profile(void)
{
	struct profile *p = profile__new();
	struct profile_frame big[] = { F_MEMSET, fn("big_mallocs", 0x555555551300), F_MAIN, F_START };

	assert_non_null(p);
	add3(p, PROFILE_RESIDENT, fn("touch_mmap", 0x555555551010), &F_MAIN, "anon:0x7f0000400000", "anon",
	     (int64_t)(24 * MiB));
	add3(p, PROFILE_FAULTED, fn("touch_mmap", 0x555555551010), &F_MAIN, "anon:0x7f0000400000", "anon",
	     (int64_t)(30 * MiB));
	profile__add(p, PROFILE_RESIDENT, big, 4, "glibc_mmap_chunk:0x7f0000500000", "glibc_mmap_chunk",
		     (int64_t)(16 * MiB));
	add3(p, PROFILE_RESIDENT, fn("small_mallocs", 0x555555551200), &F_MAIN2, "heap:main", "heap",
	     (int64_t)(8 * MiB));
	add3(p, PROFILE_RESIDENT, fn("tiny_fn", 0x555555551400), &F_MAIN, "heap:main", "heap", 1000);
	add3(p, PROFILE_RESIDENT, fn("released_fn", 0x555555551500), &F_MAIN, "heap:main", "heap", 8192);
	add3(p, PROFILE_RESIDENT, fn("released_fn", 0x555555551500), &F_MAIN, "heap:main", "heap", -12288);
	add3(p, PROFILE_FAULTED, fn("faulted_only", 0x555555551600), &F_MAIN, "heap:main", "heap",
	     (int64_t)(40 * MiB));
	add3(p, PROFILE_RESIDENT, fn(EVIL_FN, 0x555555551700), &F_MAIN, EVIL_ID, "file", (int64_t)MiB);
	return p;
}

static void test_html_flame_graph(void **state)
{
	struct ledger l;
	struct history h;
	struct html_report_input in;
	struct profile *p = synthetic_profile();
	char path[128], *html, *json;

	(void)state;
	two_samples(&l, &h);
	in = (struct html_report_input){ .history = &h, .pid = 4242, .comm = "svc", .ledger = &l, .profile = p };
	tmp_path(path, sizeof(path), "flame.html");
	assert_int_equal(html_report__write(path, &in), 0);
	html = slurp(path);
	json = json_block(html);

	assert_non_null(strstr(html, "<h2>Who faulted the resident memory in</h2>"));
	assert_non_null(strstr(html, "<svg id=\"flame-graph\""));
	/* One drawing function for both graphs (the second is --heap's inuse). */
	assert_non_null(strstr(html, "flameGraph('flame-graph', 'flame-readout', data.flame, 'resident', 'flameDrawn')"));
	assert_non_null(strstr(html, "document.body.dataset[flag] = '1'"));
	assert_null(strstr(html, "<svg id=\"flame-inuse\""));   /* no inuse profile here */
	assert_null(strstr(html, "id=\"flame-note\""));
	/* 24 + 16 + 8 MiB + 1000 B + 1 MiB; the released cell and the faulted-only
	 * stack are not resident. Largest first: all, arena, frames root to leaf. */
	assert_non_null(strstr(json,
		"\"flame\":{\"total\":51381224,\"min_bytes\":51382,\"tree\":{\"n\":\"all\",\"v\":51381224,\"c\":["
		"{\"n\":\"anon:0x7f0000400000\",\"v\":25165824,\"c\":[{\"n\":\"__libc_start_main\",\"v\":25165824,"
		"\"c\":[{\"n\":\"main\",\"v\":25165824,\"c\":[{\"n\":\"touch_mmap\",\"v\":25165824}]}]}]},"
		"{\"n\":\"glibc_mmap_chunk:0x7f0000500000\",\"v\":16777216,\"c\":[{\"n\":\"__libc_start_main\","
		"\"v\":16777216,\"c\":[{\"n\":\"main\",\"v\":16777216,\"c\":[{\"n\":\"big_mallocs\",\"v\":16777216,"
		"\"c\":[{\"n\":\"libc.so.6+0x1234\",\"v\":16777216}]}]}]}]},"
		/* tiny_fn (1000 B < 0.1%) merged into main: main has 1000 B more than its child */
		"{\"n\":\"heap:main\",\"v\":8389608,\"c\":[{\"n\":\"__libc_start_main\",\"v\":8389608,"
		"\"c\":[{\"n\":\"main\",\"v\":8389608,\"c\":[{\"n\":\"small_mallocs\",\"v\":8388608}]}]}]},"
		/* the arena id as the folded output writes it: ';' became '_' */
		"{\"n\":\"file:/opt/x\\u003c/script\\u003e\\u003cimg src=x onerror=alert(1)\\u003e\\u0026amp_/lib.so\","
		"\"v\":1048576,\"c\":[{\"n\":\"__libc_start_main\",\"v\":1048576,\"c\":[{\"n\":\"main\",\"v\":1048576,"
		"\"c\":[{\"n\":\"evil\\u003c/script\\u003e\\u003cb\\u003ex\\u003c/b\\u003e\\u0026_y\",\"v\":1048576}]}]}]}"
		"]},\"merged\":1}}"));
	assert_null(strstr(json, "tiny_fn"));
	assert_null(strstr(json, "released_fn"));
	assert_null(strstr(json, "faulted_only"));
	/* Nothing from a frame name or an arena id became markup. */
	assert_int_equal(count(html, "<script"), 2);
	assert_int_equal(count(html, "</script>"), 2);
	assert_null(strstr(html, "<img"));
	assert_null(strstr(html, "<b>"));
	assert_null(strstr(json, "<"));
	assert_null(strstr(json, ">"));
	assert_null(strstr(json, "&"));
	free(json);
	free(html);
	history__free(&h);
	ledger__free(&l);
	profile__free(p);
}

/* Thousands of stacks each far under 0.1%: merged into their caller, the page stays small. */
static void test_html_flame_merges_narrow(void **state)
{
	struct ledger l;
	struct history h;
	struct html_report_input in;
	struct profile *p = profile__new();
	struct profile_frame big[] = { fn("big", 0x555555551300), F_MAIN };
	char path[128], name[32], *html, *json;

	(void)state;
	assert_non_null(p);
	profile__add(p, PROFILE_RESIDENT, big, 2, "heap:main", "heap", (int64_t)(10 * MiB));
	for (int i = 0; i < 5000; i++) {
		struct profile_frame s[] = { F_MAIN, F_MAIN };

		snprintf(name, sizeof(name), "f%d", i);
		s[0] = fn(name, 0x555555560000 + (uint64_t)i * 16);
		profile__add(p, PROFILE_RESIDENT, s, 2, "heap:main", "heap", 100);
	}
	two_samples(&l, &h);
	in = (struct html_report_input){ .history = &h, .pid = 4242, .comm = "svc", .ledger = &l, .profile = p };
	tmp_path(path, sizeof(path), "flame-big.html");
	assert_int_equal(html_report__write(path, &in), 0);
	html = slurp(path);
	json = json_block(html);
	assert_non_null(strstr(json, "\"flame\":{\"total\":10985760,\"min_bytes\":10986,\"tree\":"
				     "{\"n\":\"all\",\"v\":10985760,\"c\":[{\"n\":\"heap:main\",\"v\":10985760,"
				     "\"c\":[{\"n\":\"main\",\"v\":10985760,\"c\":[{\"n\":\"big\",\"v\":10485760}]}]}]},"
				     "\"merged\":5000}"));
	assert_null(strstr(json, "\"f1\""));
	free(json);
	free(html);
	history__free(&h);
	ledger__free(&l);
	profile__free(p);
}

/* A profile with nothing resident (stacks on, no samples yet): drawn empty, not the note. */
static void test_html_flame_empty_profile(void **state)
{
	struct ledger l;
	struct history h;
	struct html_report_input in;
	struct profile *p = profile__new();
	char path[128], *html, *json;

	(void)state;
	assert_non_null(p);
	two_samples(&l, &h);
	in = (struct html_report_input){ .history = &h, .pid = 4242, .comm = "svc", .ledger = &l, .profile = p };
	tmp_path(path, sizeof(path), "flame-empty.html");
	assert_int_equal(html_report__write(path, &in), 0);
	html = slurp(path);
	json = json_block(html);
	assert_non_null(strstr(json, "\"flame\":{\"total\":0,\"min_bytes\":0,\"tree\":{\"n\":\"all\",\"v\":0},"
				     "\"merged\":0}"));
	assert_non_null(strstr(html, "<svg id=\"flame-graph\""));
	free(json);
	free(html);
	history__free(&h);
	ledger__free(&l);
	profile__free(p);
}

/*
 * A run worth looking at: a glibc arena that grows in a burst (5-8 s), gives the
 * first 8 MiB back and keeps the rest, a heap and a dozen anon arenas that grow
 * slowly, libc, and a file whose name tries to close the script block. Ticks
 * every 0.5 s from START_NS, retention on (retained after 2 s).
 */
#define START_NS 1000000000ULL
#define TICK_NS  500000000ULL
#define TICKS    40

struct run {
	struct ledger l;
	struct history h;
	struct retention *r;
	struct profile *p;
	uint64_t now_ns;
};

static uint64_t retained_now(void *cookie, const struct arena *a)
{
	struct run *run = cookie;
	struct arena_retention ar;

	return retention__arena(run->r, a, run->now_ns, &ar) ? ar.retained_bytes : 0;
}

static void run_build(struct run *run)
{
	ledger__init(&run->l, NULL, NULL);
	run->r = retention__new(2.0, START_NS);
	retention__attach(run->r, &run->l);
	run->l.now_ns = START_NS;
	seed(&run->l, HEAP, HEAP_END, RW, "[heap]");
	seed(&run->l, FILE_A, FILE_A + 64 * PG, PROT_READ | PROT_EXEC, "/usr/lib/x86_64-linux-gnu/libc.so.6");
	seed(&run->l, FILE_B, FILE_B + 16 * PG, PROT_READ, EVIL_PATH);
	seed(&run->l, GLIBC, GLIBC + 0x21000, RW, NULL);
	seed(&run->l, GLIBC + 0x21000, GLIBC + 64 * MiB, PROT_NONE, NULL);
	ledger__seed_done(&run->l);
	for (int i = 0; i < 12; i++) {
		struct region r = { .start = ANON + (uint64_t)i * MiB, .end = ANON + (uint64_t)i * MiB + 256 * PG,
				    .prot = RW, .map_flags = MAP_PRIVATE | MAP_ANONYMOUS };

		ledger__map(&run->l, &r, 0);
	}
	ledger__fault(&run->l, FILE_A, 40);
	ledger__fault(&run->l, FILE_B, 3);
	history__init(&run->h, 64);
	for (int s = 0; s < TICKS; s++) {
		struct sample smp = { .pid = 4242, .comm = "retention" };

		run->l.now_ns = START_NS + (uint64_t)s * TICK_NS + 1000;
		ledger__fault(&run->l, HEAP + (uint64_t)(s % 30) * PG, 2);
		ledger__fault(&run->l, ANON + (uint64_t)(s % 12) * MiB, 4);
		if (s >= 10 && s < 16) {
			/* glibc opens its reservation, then the burst touches 4 fresh 2 MiB blocks. */
			ledger__protect(&run->l, GLIBC, GLIBC + (uint64_t)(s - 9) * 8 * MiB, RW, 0);
			for (int j = 0; j < 4; j++)
				ledger__fault(&run->l, GLIBC + (uint64_t)((s - 10) * 4 + j) * 2 * MiB, 500);
		}
		if (s == 20)
			ledger__range_delta(&run->l, GLIBC, GLIBC + 8 * MiB, -2000);
		run->now_ns = START_NS + (uint64_t)(s + 1) * TICK_NS;
		retention__tick(run->r, &run->l, run->now_ns);
		smp.t = (run->now_ns - START_NS) / 1e9;
		smp.accounted_bytes = (uint64_t)ledger__accounted_pages(&run->l) * PG;
		smp.rss_bytes = smp.accounted_bytes + 8 * PG;
		history__add(&run->h, &smp, &run->l, retained_now, run);
	}
	retention__update_bursts(run->r, &run->l);
	run->p = synthetic_profile();
}

static void run_free(struct run *run)
{
	history__free(&run->h);
	ledger__free(&run->l);   /* before the retention: its observer frees per-arena state */
	retention__free(run->r);
	profile__free(run->p);
}

static struct html_report_input run_input(struct run *run)
{
	static char *cmd[] = { "build/workloads/retention", "2", NULL };

	return (struct html_report_input){
		.history = &run->h, .pid = 4242, .comm = "retention", .command = cmd, .ledger = &run->l,
		.retention = run->r, .start_ns = START_NS, .now_ns = run->now_ns,
		.start_unix_ms = 1790000000000ULL, .interval_s = 0.5, .profile = run->p,
		.diagnosis = "glibc_arena:0x7ff000000000 holds 39.1 MiB retained since the burst at 5 s: "
			     "freed chunks pinned by survivors.\nTry MALLOC_ARENA_MAX=2 or malloc_trim(0).",
	};
}

static void test_html_with_retention(void **state)
{
	struct run run;
	struct html_report_input in;
	char path[128], *html, *json, *glibc;

	(void)state;
	run_build(&run);
	in = run_input(&run);
	tmp_path(path, sizeof(path), "retention.html");
	assert_int_equal(html_report__write(path, &in), 0);
	html = slurp(path);
	json = json_block(html);

	/* One burst: from the tick before the first hot one (5 s) to the second quiet tick (9 s). */
	assert_int_equal(retention__nr_bursts(run.r), 1);
	assert_non_null(strstr(json, "\"bursts\":[\n{\"burst\":1,\"start\":5.000,\"end\":9.000,\"open\":false,"));
	assert_non_null(strstr(json, "\"retain_after_s\":2.000"));
	/* The glibc arena: 12000 pages in, the first 2000 given back, the rest
	 * retained, all of it 12-14.5 s old at the end (20 s). */
	glibc = strstr(json, "{\"arena\":\"glibc_arena:0x7ff000000000\",\"kind\":\"glibc_arena\",\"ranges\"");
	assert_non_null(glibc);
	assert_non_null(strstr(glibc, "\"resident_bytes\":40960000,\"peak_resident_bytes\":49152000,"));
	assert_non_null(strstr(glibc, "\"retained_bytes\":40960000,"));
	assert_non_null(strstr(glibc, "\"ages\":[{\"from_s\":0.000,\"to_s\":10.000,\"bytes\":0},"
				      "{\"from_s\":10.000,\"to_s\":60.000,\"bytes\":40960000},"));
	/* The glibc arena is the largest: first in the chart, the table and the details. */
	assert_non_null(strstr(json, "\"series\":[\n{\"arena\":\"glibc_arena:0x7ff000000000\""));
	assert_non_null(strstr(html, "<details class=\"arena-detail\"><summary><span class=\"id\">"
				     "glibc_arena:0x7ff000000000</span> &mdash; 39.1 MiB resident, 39.1 MiB retained"));
	assert_non_null(strstr(html, "<tr><td>10 s &ndash; 1 min ago</td><td class=\"n\" title=\"40960000 bytes\">"
				     "39.1 MiB</td>"));
	assert_non_null(strstr(html, "<th class=\"n\">retained</th>"));
	/* The burst's row names the glibc arena as where it stays. */
	assert_non_null(strstr(html, "<span class=\"id\">glibc_arena:0x7ff000000000</span> 39.1 MiB"));
	assert_null(strstr(html, "<img"));
	free(json);
	free(html);
	run_free(&run);
}

/* The same run, kept for tests/integration/test_html.py to render in a browser. */
static void test_html_sample_report(void **state)
{
	const char *out = "build/unit/sample-report.html";
	struct run run;
	struct html_report_input in;
	struct stat st;

	(void)state;
	if (stat("build/unit", &st) || !S_ISDIR(st.st_mode))
		skip();
	run_build(&run);
	in = run_input(&run);
	assert_int_equal(html_report__write(out, &in), 0);
	run_free(&run);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_history_records_samples),
		cmocka_unit_test(test_history_arenas_come_and_go),
		cmocka_unit_test(test_history_coarsens),
		cmocka_unit_test(test_csv_exact),
		cmocka_unit_test(test_csv_empty_history),
		cmocka_unit_test(test_write_errors),
		cmocka_unit_test(test_html_embeds_data),
		cmocka_unit_test(test_html_escapes_ids),
		cmocka_unit_test(test_html_other_series),
		cmocka_unit_test(test_html_flame_graph),
		cmocka_unit_test(test_html_flame_merges_narrow),
		cmocka_unit_test(test_html_flame_empty_profile),
		cmocka_unit_test(test_html_with_retention),
		cmocka_unit_test(test_html_sample_report),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
