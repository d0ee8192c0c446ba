/*
 * The agent's pure parts: the Prometheus text (exact bytes for a small
 * snapshot, label escaping, the top-N bound with per-kind "other" sums), the
 * history ring kept flat over a long simulated run with churning arenas, the
 * cgroup matcher and the --listen parser.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "discovery.h"
#include "history.h"
#include "http_server.h"
#include "ledger.h"
#include "metrics.h"
#include "profile.h"
#include "stacks.h"
#include <unistd.h>

#define PG 4096ULL

static char *render(struct metrics_snapshot *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(metrics__render(s, f), 0);
	fclose(f);
	return buf;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void test_metrics_exact(void **state)
{
	struct metrics_arena arenas[] = {
		{ .id = "heap:main", .kind = "heap", .mapped_bytes = 8192, .resident_bytes = 4096,
		  .peak_resident_bytes = 8192, .retained_bytes = 4096, .faulted_bytes = 12288, .released_bytes = 8192 },
	};
	struct metrics_process p = {
		.pid = 42, .comm = "a\"b\\c\nd", .rss_bytes = 4096, .accounted_bytes = 4096, .retained_bytes = 4096,
		.drift_bytes = 0, .start_time_s = 1700000000.5, .arenas = arenas, .nr_arenas = 1,
	};
	struct metrics_snapshot s = {
		.version = "1.2", .procs = &p, .nr_procs = 1, .lost_events = 3, .processes_followed = 1,
		.last_tick_seconds = 0.25, .top_arenas = 20,
	};
	const char *want =
		"# HELP arenatrace_build_info The agent's version; always 1.\n"
		"# TYPE arenatrace_build_info gauge\n"
		"arenatrace_build_info{version=\"1.2\"} 1\n"
		"# HELP arenatrace_targets Processes followed now.\n"
		"# TYPE arenatrace_targets gauge\n"
		"arenatrace_targets 1\n"
		"# HELP arenatrace_targets_followed_total Processes picked up since the agent started.\n"
		"# TYPE arenatrace_targets_followed_total counter\n"
		"arenatrace_targets_followed_total 1\n"
		"# HELP arenatrace_targets_skipped_total Matching processes that could not be followed (no free target slot, or attaching failed).\n"
		"# TYPE arenatrace_targets_skipped_total counter\n"
		"arenatrace_targets_skipped_total 0\n"
		"# HELP arenatrace_lost_events_total Kernel events dropped because the ring buffer was full (all targets).\n"
		"# TYPE arenatrace_lost_events_total counter\n"
		"arenatrace_lost_events_total 3\n"
		"# HELP arenatrace_tick_duration_seconds Time the last interval's work took.\n"
		"# TYPE arenatrace_tick_duration_seconds gauge\n"
		"arenatrace_tick_duration_seconds 0.250000\n"
		"# HELP arenatrace_process_resident_bytes The process's RSS from the kernel's counters (file + anon + shmem).\n"
		"# TYPE arenatrace_process_resident_bytes gauge\n"
		"arenatrace_process_resident_bytes{pid=\"42\",comm=\"a\\\"b\\\\c\\nd\"} 4096\n";
	char *text = render(&s);

	(void)state;
	assert_true(!strncmp(text, want, strlen(want)));
	assert_non_null(strstr(text,
		"arenatrace_arena_faulted_bytes_total{pid=\"42\",comm=\"a\\\"b\\\\c\\nd\",kind=\"heap\",arena=\"heap:main\"} 12288\n"));
	assert_non_null(strstr(text, "# TYPE arenatrace_arena_released_bytes_total counter\n"));
	assert_non_null(strstr(text, "arenatrace_process_start_time_seconds{pid=\"42\",comm=\"a\\\"b\\\\c\\nd\"} 1700000000.500\n"));
	/* Every line is a comment or "name{...} value" / "name value": no raw newline in a label. */
	for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1)
		assert_true(line[0] == '#' || !strncmp(line, "arenatrace_", 11));
	free(text);
}

static void test_metrics_top_and_other(void **state)
{
	struct metrics_arena arenas[] = {
		{ .id = "anon:0x1000", .kind = "anon", .resident_bytes = 1 * PG, .faulted_bytes = 10 * PG },
		{ .id = "file:/lib/a.so", .kind = "file", .resident_bytes = 50 * PG, .faulted_bytes = 50 * PG },
		{ .id = "anon:0x2000", .kind = "anon", .resident_bytes = 2 * PG, .faulted_bytes = 20 * PG },
		{ .id = "glibc_arena:0x7f0000000000", .kind = "glibc_arena", .resident_bytes = 100 * PG },
		{ .id = "file:/lib/b.so", .kind = "file", .resident_bytes = 3 * PG, .mapped_bytes = 8 * PG },
		{ .id = "anon:0x3000", .kind = "anon", .resident_bytes = 60 * PG },
	};
	struct metrics_kind kinds[] = { { .kind = "anon", .faulted_bytes = 99 * PG, .released_bytes = 9 * PG } };
	struct metrics_process p = { .pid = 7, .comm = "svc", .arenas = arenas, .nr_arenas = 6,
				     .kinds = kinds, .nr_kinds = 1 };
	struct metrics_snapshot s = { .version = "x", .procs = &p, .nr_procs = 1, .top_arenas = 3 };
	char *text = render(&s);

	(void)state;
	/* The three largest on their own. */
	assert_non_null(strstr(text, "arenatrace_arena_resident_bytes{pid=\"7\",comm=\"svc\",kind=\"glibc_arena\",arena=\"glibc_arena:0x7f0000000000\"} 409600\n"));
	assert_non_null(strstr(text, "arenatrace_arena_resident_bytes{pid=\"7\",comm=\"svc\",kind=\"anon\",arena=\"anon:0x3000\"} 245760\n"));
	assert_non_null(strstr(text, "arenatrace_arena_resident_bytes{pid=\"7\",comm=\"svc\",kind=\"file\",arena=\"file:/lib/a.so\"} 204800\n"));
	/* The rest summed per kind, nothing lost. */
	assert_non_null(strstr(text, "arenatrace_arena_resident_bytes{pid=\"7\",comm=\"svc\",kind=\"anon\",arena=\"other\"} 12288\n"));
	assert_non_null(strstr(text, "arenatrace_arena_resident_bytes{pid=\"7\",comm=\"svc\",kind=\"file\",arena=\"other\"} 12288\n"));
	assert_non_null(strstr(text, "arenatrace_arena_faulted_bytes_total{pid=\"7\",comm=\"svc\",kind=\"anon\",arena=\"other\"} 122880\n"));
	assert_non_null(strstr(text, "arenatrace_arena_mapped_bytes{pid=\"7\",comm=\"svc\",kind=\"file\",arena=\"other\"} 32768\n"));
	assert_int_equal(count(text, "arenatrace_arena_resident_bytes{"), 5);
	assert_non_null(strstr(text, "# TYPE arenatrace_kind_faulted_bytes_total counter\n"
				     "arenatrace_kind_faulted_bytes_total{pid=\"7\",comm=\"svc\",kind=\"anon\"} 405504\n"));
	assert_non_null(strstr(text, "arenatrace_kind_released_bytes_total{pid=\"7\",comm=\"svc\",kind=\"anon\"} 36864\n"));
	assert_null(strstr(text, "anon:0x1000"));
	free(text);
}

static void test_metrics_no_targets(void **state)
{
	struct metrics_snapshot s = { .version = "x" };
	char *text = render(&s);

	(void)state;
	assert_non_null(strstr(text, "arenatrace_targets 0\n"));
	assert_non_null(strstr(text, "# TYPE arenatrace_arena_resident_bytes gauge\n"));
	assert_int_equal(count(text, "arenatrace_arena_resident_bytes{"), 0);
	free(text);
}

/* A simulated long run: every interval one mapping goes and a new one comes (a
 * new arena id), 40 arenas live; the history keeps 64 points and 8 arenas per
 * point, and drops what is older than 100 s. Its memory must stop growing. */
static void test_history_flat_over_long_run(void **state)
{
	struct ledger l;
	struct history h;
	const uint64_t base = 0x7f0000000000ULL;
	size_t after_warmup = 0, max_arenas = 0;

	(void)state;
	ledger__init(&l, NULL, NULL);
	for (uint64_t i = 0; i < 40; i++) {
		struct region r = { .start = base + i * 0x100000, .end = base + i * 0x100000 + 16 * PG,
				    .prot = PROT_READ | PROT_WRITE };

		ledger__seed_region(&l, &r);
	}
	ledger__seed_done(&l);
	history__init(&h, 64);
	h.max_arenas = 8;
	for (uint64_t tick = 0; tick < 200000; tick++) {
		uint64_t gone = base + (tick % 40) * 0x100000 + (tick / 40 % 2) * 0x80000;
		uint64_t next = base + (tick % 40) * 0x100000 + ((tick / 40 + 1) % 2) * 0x80000;
		struct region r = { .start = next, .end = next + 16 * PG, .prot = PROT_READ | PROT_WRITE };
		struct sample s = { .t = (double)tick, .rss_bytes = 1 };

		ledger__unmap(&l, gone, gone + 16 * PG, 0);
		ledger__map(&l, &r, 0);
		ledger__fault(&l, next + (tick % 16) * PG, 1);
		history__add(&h, &s, &l, NULL, NULL);
		history__drop_before(&h, s.t - 100);
		ledger__collect_gone(&l);
		if (tick == 10000)
			after_warmup = history__bytes(&h);
		if (h.nr_arenas > max_arenas)
			max_arenas = h.nr_arenas;
		assert_true(h.nr_points <= 64);
		assert_true(h.points[0].t >= s.t - 100);
	}
	/* Every point: at most 8 arenas plus "other". */
	for (size_t i = 0; i < h.nr_points; i++)
		assert_true(h.points[i].count <= 9);
	assert_true(history__bytes(&h) <= after_warmup);
	assert_true(max_arenas <= 64 * 9);
	history__free(&h);
	ledger__free(&l);
}

static void test_history_other_sums(void **state)
{
	struct ledger l;
	struct history h;
	struct sample s = { .t = 1 };
	uint64_t sum = 0;

	(void)state;
	ledger__init(&l, NULL, NULL);
	for (uint64_t i = 0; i < 5; i++) {
		struct region r = { .start = 0x10000000 + i * 0x100000, .end = 0x10000000 + i * 0x100000 + 8 * PG,
				    .prot = PROT_READ | PROT_WRITE };

		ledger__seed_region(&l, &r);
	}
	ledger__seed_done(&l);
	for (uint64_t i = 0; i < 5; i++)
		ledger__fault(&l, 0x10000000 + i * 0x100000, (int64_t)i + 1);
	history__init(&h, 16);
	h.max_arenas = 2;
	history__add(&h, &s, &l, NULL, NULL);
	assert_int_equal(h.points[0].count, 3);
	for (size_t i = 0; i < 3; i++) {
		const struct history_arena_point *ap = &h.arena_points[h.points[0].first + i];

		sum += ap->resident_bytes;
		if (!strcmp(h.arena_ids[ap->arena], HISTORY_OTHER))
			assert_int_equal(ap->resident_bytes, (1 + 2 + 3) * PG);
	}
	assert_int_equal(sum, 15 * PG);
	history__free(&h);
	ledger__free(&l);
}

static int64_t profile_total(struct stacks *st, const struct ledger *l, enum profile_type t)
{
	struct profile *p = profile__new();
	const struct profile_cell *c;
	size_t n;
	int64_t sum = 0;

	stacks__export(st, l, p);
	c = profile__cells(p, &n);
	for (size_t i = 0; i < n; i++)
		sum += c[i].bytes[t];
	profile__free(p);
	return sum;
}

/* Days of samples, every one a new stack in a new arena that soon goes: with
 * trims the tables stay under their bounds and no byte of the faulted profile
 * is lost (it moves to [other stacks] / [other arenas]). */
static void test_stacks_bounded(void **state)
{
	const uint64_t base = 0x7e0000000000ULL;
	struct ledger l;
	struct stacks *st = stacks__new(getpid(), false);
	int64_t faulted = 0;
	size_t cells, names, max_seen = 0;

	(void)state;
	ledger__init(&l, NULL, NULL);
	ledger__seed_done(&l);
	stacks__attach(st, &l);
	for (uint64_t i = 0; i < 20000; i++) {
		uint64_t a = base + (i % 64) * 0x400000;
		struct region r = { .start = a, .end = a + 4 * PG, .prot = PROT_READ | PROT_WRITE };
		uint64_t ips[3] = { 0x1000 + i, 0x2000 + (i % 7), 0x3000 };

		ledger__unmap(&l, a, a + 4 * PG, i >= 64 ? -1 : 0);
		ledger__collect_gone(&l);
		ledger__collect_gone(&l);
		ledger__map(&l, &r, 0);
		ledger__fault(&l, a, 1);
		stacks__on_ips(st, &l, a, 4096, ARENATRACE_STACK_FAULT, 0, ips, 3, false);
		faulted += 4096;
		if (i % 50 == 0)
			stacks__trim(st, &l, 256, 512);
		if (stacks__table_sizes(st, &cells, &names) > max_seen)
			max_seen = stacks__table_sizes(st, &cells, &names);
	}
	stacks__trim(st, &l, 256, 512);
	assert_true(stacks__table_sizes(st, &cells, &names) <= 256);
	assert_true(cells <= 512);
	assert_true(names <= 2 * 512 + 1);
	assert_true(max_seen <= 256 + 50 + 1);
	assert_int_equal(profile_total(st, &l, PROFILE_FAULTED), faulted);
	/* The resident profile holds what the live arenas hold (one sampled page each). */
	assert_int_equal(profile_total(st, &l, PROFILE_RESIDENT), 64 * 4096);
	stacks__free(st);
	ledger__free(&l);
}

static void test_cgroup_match(void **state)
{
	const char *v2 = "0::/system.slice/redis.service\n";
	const char *v1 = "12:memory:/docker/abc\n11:cpu,cpuacct:/docker/abc\n0::/\n";

	(void)state;
	assert_true(discovery__cgroup_match(v2, "/system.slice/redis.service"));
	assert_true(discovery__cgroup_match(v2, "/system.slice"));
	assert_true(discovery__cgroup_match(v2, "/"));
	assert_false(discovery__cgroup_match(v2, "/system.slice/redis"));
	assert_false(discovery__cgroup_match(v2, "/user.slice"));
	assert_true(discovery__cgroup_match(v1, "/docker/abc"));
	assert_false(discovery__cgroup_match(v1, "/docker/ab"));
}

static void test_discovery_lists(void **state)
{
	struct discovery d = { 0 };

	(void)state;
	assert_int_equal(discovery__add_pids(&d, "1,22,333"), 0);
	assert_int_equal(d.nr_pids, 3);
	assert_int_equal(d.pids[2], 333);
	assert_int_equal(discovery__add_pids(&d, "1,,2"), -1);
	assert_int_equal(discovery__add_pids(&d, "-4"), -1);
	assert_int_equal(discovery__add_comms(&d, "redis-server,nginx"), 0);
	assert_int_equal(discovery__add_comms(&d, "a-name-longer-than-15"), -1);
	assert_int_equal(discovery__add_cgroups(&d, "/sys/fs/cgroup/system.slice/x.service/,user.slice"), 0);
	assert_string_equal(d.cgroups[0], "/system.slice/x.service");
	assert_string_equal(d.cgroups[1], "/user.slice");
	assert_int_equal(discovery__add_cgroups(&d, "/sys/fs/cgroup/unified/x,/sys/fs/cgroup"), 0);
	assert_string_equal(d.cgroups[2], "/x");
	assert_string_equal(d.cgroups[3], "/");
	assert_false(discovery__empty(&d));
	discovery__free(&d);
	assert_true(discovery__empty(&d));
}

static void test_parse_listen(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char err[256];
	const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

	(void)state;
	assert_int_equal(http_server__parse_listen(":9464", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(ntohs(in->sin_port), 9464);
	assert_int_equal(http_server__parse_listen("0.0.0.0:80", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(in->sin_addr.s_addr, 0);
	assert_int_equal(http_server__parse_listen("[::1]:9464", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(http_server__parse_listen("9464", &ss, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "HOST:PORT"));
	assert_int_equal(http_server__parse_listen("127.0.0.1:65536", &ss, &len, err, sizeof(err)), -1);
	assert_int_equal(http_server__parse_listen("::1:80", &ss, &len, err, sizeof(err)), -1);
	assert_int_equal(http_server__parse_listen("[::1]80", &ss, &len, err, sizeof(err)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics_exact),
		cmocka_unit_test(test_metrics_top_and_other),
		cmocka_unit_test(test_metrics_no_targets),
		cmocka_unit_test(test_history_flat_over_long_run),
		cmocka_unit_test(test_history_other_sums),
		cmocka_unit_test(test_stacks_bounded),
		cmocka_unit_test(test_cgroup_match),
		cmocka_unit_test(test_discovery_lists),
		cmocka_unit_test(test_parse_listen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
