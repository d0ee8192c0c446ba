/*
 * Symbolizer and unwinder unit tests, on this test binary itself (a PIE built
 * with -g and without frame pointers) and on libc: function names, file:line,
 * build-ids checked against the files' own notes, the cache, a DWARF unwind of
 * a copied stack, a deleted executable symbolized through /proc/PID/map_files,
 * also after it exited. No BPF; the deleted-binary test needs root (map_files).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <elfutils/libdwelf.h>
#include <gelf.h>

#include "procmaps.h"
#include "symbolizer.h"
#include "unwind.h"

#define CHILD_ENV "ARENATRACE_TEST_SYMBOLIZER_CHILD"
#define STACK_COPY 8192

#define NO_FP __attribute__((noinline, noclone, optimize("omit-frame-pointer")))

/* ---- code to symbolize ------------------------------------------------------------ */

static volatile int sink;

static const int target_fn_line = __LINE__ + 1;
static __attribute__((noinline, noclone)) int target_fn(int x) { sink += x; return sink * 3; }

static const int other_fn_line = __LINE__ + 1;
static __attribute__((noinline, noclone)) int other_fn(int x) { sink -= x; return sink + 7; }

/* What a() saw: its registers and a copy of the stack above its sp, as the BPF
 * side sends them in an ARENATRACE_STACK_DWARF record. */
static uint64_t a_regs[3];
static unsigned char a_stack[STACK_COPY];
static size_t a_stack_len;

NO_FP static void a(void)
{
	uint64_t ip, sp, bp;
	struct region r;

	__asm__ volatile("lea 0(%%rip), %0\n\t"
			 "mov %%rsp, %1\n\t"
			 "mov %%rbp, %2"
			 : "=r"(ip), "=r"(sp), "=r"(bp));
	a_regs[0] = ip;
	a_regs[1] = sp;
	a_regs[2] = bp;
	/* Stop at the end of the stack mapping: 8 KiB above sp may not exist. */
	a_stack_len = STACK_COPY;
	if (procmaps__lookup(getpid(), sp, &r)) {
		if (r.end - sp < a_stack_len)
			a_stack_len = r.end - sp;
		free(r.path);
	}
	memcpy(a_stack, (const void *)(uintptr_t)sp, a_stack_len);
	sink++;
}

/* The sink updates after each call keep them calls, not tail jumps. */
NO_FP static void b(void)
{
	a();
	sink++;
}

NO_FP static void c(void)
{
	b();
	sink++;
}

/* Called back from glibc's qsort, which has no frame pointers: only its CFI
 * leads from here back to the caller. */
NO_FP static int capture_cmp(const void *x, const void *y)
{
	static bool done;

	if (!done) {
		done = true;
		a();
	}
	return *(const int *)x - *(const int *)y;
}

NO_FP static void sort_through_libc(void)
{
	int v[] = { 3, 1, 2 };

	qsort(v, 3, sizeof(v[0]), capture_cmp);
	sink += v[0];
}

/* ---- helpers ------------------------------------------------------------------------ */

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = s ? strlen(s) : 0, m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

/* The build-id as the file's own note says, in hex (independent of libdwfl). */
static void file_build_id(const char *path, char *hex, size_t hexlen)
{
	const void *bits;
	ssize_t len;
	Elf *elf;
	int fd;

	hex[0] = '\0';
	elf_version(EV_CURRENT);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	assert_non_null(elf);
	len = dwelf_elf_gnu_build_id(elf, &bits);
	assert_true(len > 0 && (size_t)len * 2 < hexlen);
	for (ssize_t i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", ((const unsigned char *)bits)[i]);
	elf_end(elf);
	close(fd);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_own_functions(void **state)
{
	struct symbolizer *s = symbolizer__new(getpid(), false);
	char exe[4096], id[129];
	struct sym_frame f;
	ssize_t n;

	(void)state;
	assert_non_null(s);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	file_build_id(exe, id, sizeof(id));

	assert_int_equal(symbolizer__resolve(s, (uint64_t)(uintptr_t)target_fn, &f), 0);
	assert_int_equal(f.ip, (uint64_t)(uintptr_t)target_fn);
	assert_string_equal(f.function, "target_fn");
	assert_true(ends_with(f.file, "tests/unit/test_symbolizer.c"));
	assert_int_equal(f.line, target_fn_line);
	assert_string_equal(f.module, exe);
	assert_non_null(f.build_id);
	assert_string_equal(f.build_id, id);
	/* A PIE is loaded at a random base; the offset is the ELF address, small. */
	assert_true(f.module_offset < (uint64_t)(uintptr_t)target_fn);
	assert_true(f.module_offset < 16 * 1024 * 1024);

	assert_int_equal(symbolizer__resolve(s, (uint64_t)(uintptr_t)other_fn + 1, &f), 0);
	assert_string_equal(f.function, "other_fn");
	assert_int_equal(f.line, other_fn_line);
	symbolizer__free(s);
}

static void test_shared_library(void **state)
{
	struct symbolizer *s = symbolizer__new(getpid(), false);
	struct sym_frame f;
	char id[129];

	(void)state;
	assert_non_null(s);
	/* In a PIE, &getpid is libc's own address (through the GOT), not a PLT stub. */
	assert_int_equal(symbolizer__resolve(s, (uint64_t)(uintptr_t)&getpid, &f), 0);
	assert_non_null(strstr(f.function, "getpid"));
	assert_non_null(f.module);
	assert_non_null(strstr(f.module, "libc.so.6"));
	file_build_id(f.module, id, sizeof(id));
	assert_string_equal(f.build_id, id);
	symbolizer__free(s);
}

static void test_unknown_and_errors(void **state)
{
	struct symbolizer *s = symbolizer__new(getpid(), false);
	struct symbolizer_stats st;
	struct sym_frame f;

	(void)state;
	assert_non_null(s);
	assert_int_equal(symbolizer__resolve(s, 0x10, &f), -ENOENT);
	assert_string_equal(f.function, "[unknown]");
	assert_null(f.module);
	assert_null(f.file);
	assert_int_equal(symbolizer__resolve(NULL, 0x10, &f), -EINVAL);
	assert_int_equal(symbolizer__resolve(s, 0x10, NULL), -EINVAL);
	/* Nothing mapped since: a refresh re-reports nothing. */
	symbolizer__stats(s, &st);
	assert_int_equal(symbolizer__refresh(s), 0);
	assert_int_equal(symbolizer__refresh(s), 0);
	{
		struct symbolizer_stats st2;

		symbolizer__stats(s, &st2);
		assert_int_equal(st2.refreshes, st.refreshes);
	}
	symbolizer__free(s);
	symbolizer__free(NULL);
	errno = 0;
	assert_null(symbolizer__new(-1, false));
	assert_int_equal(errno, EINVAL);
	assert_null(symbolizer__new(0x3fffffff, false));   /* above pid_max */
	assert_int_equal(errno, ESRCH);
}

static void test_cache(void **state)
{
	struct symbolizer *s = symbolizer__new(getpid(), false);
	struct symbolizer_stats st;
	struct sym_frame f1, f2;

	(void)state;
	assert_non_null(s);
	assert_int_equal(symbolizer__resolve(s, (uint64_t)(uintptr_t)target_fn, &f1), 0);
	symbolizer__stats(s, &st);
	assert_int_equal(st.lookups, 1);
	assert_int_equal(st.cache_misses, 1);
	assert_int_equal(st.cache_hits, 0);
	assert_int_equal(symbolizer__resolve(s, (uint64_t)(uintptr_t)target_fn, &f2), 0);
	symbolizer__stats(s, &st);
	assert_int_equal(st.cache_misses, 1);
	assert_int_equal(st.cache_hits, 1);
	/* The same stable strings, not copies. */
	assert_ptr_equal(f1.function, f2.function);
	assert_ptr_equal(f1.file, f2.file);
	assert_int_equal(f1.line, f2.line);
	/* A return address one past it is looked up at the same address. */
	assert_int_equal(symbolizer__resolve_frame(s, (uint64_t)(uintptr_t)target_fn + 1, true,
						   &f2), 0);
	symbolizer__stats(s, &st);
	assert_int_equal(st.cache_hits, 2);
	assert_int_equal(f2.ip, (uint64_t)(uintptr_t)target_fn + 1);
	assert_int_equal(f2.module_offset, f1.module_offset + 1);
	symbolizer__free(s);
}

static void test_unwind_own_stack(void **state)
{
	struct symbolizer *s = symbolizer__new(getpid(), false);
	const char *want[] = { "a", "b", "c", "test_unwind_own_stack" };
	uint64_t ips[64];
	size_t next = 0;
	int n;

	(void)state;
	assert_non_null(s);
	c();
	assert_true(a_stack_len >= 1024);
	n = unwind__stack(s, a_regs, a_stack, a_stack_len, ips, 64);
	assert_true(n >= 4);
	assert_int_equal(ips[0], a_regs[0]);
	for (int i = 0; i < n && next < 4; i++) {
		struct sym_frame f;

		symbolizer__resolve_frame(s, ips[i], i > 0, &f);
		print_message("  #%d %#" PRIx64 " %s %s:%d\n", i, ips[i], f.function,
			      f.file ? f.file : "?", f.line);
		if (!strcmp(f.function, want[next]))
			next++;
	}
	/* a, b, c and the test in order, each found once, nothing skipped before. */
	assert_int_equal(next, 4);

	/* A copy too short for the first return address: just the ip. */
	assert_int_equal(unwind__stack(s, a_regs, a_stack, 8, ips, 64), 1);
	assert_int_equal(ips[0], a_regs[0]);
	/* max_ips bounds the walk. */
	assert_int_equal(unwind__stack(s, a_regs, a_stack, a_stack_len, ips, 2), 2);
	assert_int_equal(unwind__stack(s, a_regs, a_stack, a_stack_len, ips, 0), -EINVAL);
	assert_int_equal(unwind__stack(NULL, a_regs, a_stack, a_stack_len, ips, 8), 1);
	symbolizer__free(s);
}

static void test_unwind_through_libc(void **state)
{
	struct symbolizer *s = symbolizer__new(getpid(), false);
	bool in_libc = false;
	uint64_t ips[64];
	size_t next = 0;
	int n;

	(void)state;
	assert_non_null(s);
	sort_through_libc();
	n = unwind__stack(s, a_regs, a_stack, a_stack_len, ips, 64);
	for (int i = 0; i < n; i++) {
		const char *want[] = { "a", "capture_cmp", "sort_through_libc",
				       "test_unwind_through_libc" };
		struct sym_frame f;

		symbolizer__resolve_frame(s, ips[i], i > 0, &f);
		print_message("  #%d %#" PRIx64 " %s %s\n", i, ips[i], f.function,
			      f.module ? f.module : "?");
		if (next == 2 && f.module && strstr(f.module, "libc.so.6"))
			in_libc = true;
		if (next < 4 && !strcmp(f.function, want[next]))
			next++;
	}
	/* qsort's frames sit between the comparator and its caller. */
	assert_true(in_libc);
	assert_int_equal(next, 4);
	symbolizer__free(s);
}

/* Prints what a resolve costs cold and cached and what an unwind costs. */
static void test_costs(void **state)
{
	void *fns[] = { (void *)malloc, (void *)free, (void *)getpid, (void *)printf,
			(void *)fopen, (void *)qsort, (void *)strtol, (void *)open };
	const int nfns = sizeof(fns) / sizeof(fns[0]), rounds = 10000;
	struct symbolizer *s;
	struct sym_frame f;
	uint64_t ips[64];
	double t0, cold, cached, unwind;
	int n = 0;

	(void)state;
	s = symbolizer__new(getpid(), false);
	assert_non_null(s);
	/* The first lookup in a module also loads its symbol table: pay it apart. */
	symbolizer__resolve(s, (uint64_t)(uintptr_t)fns[0] + 1, &f);
	t0 = now_us();
	for (int i = 0; i < nfns; i++)
		symbolizer__resolve(s, (uint64_t)(uintptr_t)fns[i], &f);
	cold = (now_us() - t0) / nfns;
	t0 = now_us();
	for (int r = 0; r < rounds; r++)
		symbolizer__resolve(s, (uint64_t)(uintptr_t)fns[r % nfns], &f);
	cached = (now_us() - t0) / rounds;
	c();
	t0 = now_us();
	for (int r = 0; r < 1000; r++)
		n = unwind__stack(s, a_regs, a_stack, a_stack_len, ips, 64);
	unwind = (now_us() - t0) / 1000;
	print_message("  resolve cold (libc) %.1f us, cached %.3f us, unwind %.1f us (%d frames)\n",
		      cold, cached, unwind, n);
	assert_true(cached < cold);
	symbolizer__free(s);
}

/* The child: this same binary, copied, run and deleted by the test below. */
static int child_main(void)
{
	char c;

	printf("ready\n");
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	return 0;
}

static void test_deleted_binary(void **state)
{
	int in[2], out[2], src, dst, status;
	char tmp[] = "/tmp/arenatrace-symtest-XXXXXX", buf[1 << 16], id[129], line[16];
	uint64_t off_target, off_other, base = 0;
	struct symbolizer *self, *s;
	struct sym_frame f;
	FILE *maps;
	char mpath[64], *ml = NULL;
	size_t mcap = 0;
	ssize_t n;
	pid_t pid;

	(void)state;
	if (geteuid() != 0) {
		print_message("SKIPPED: /proc/PID/map_files needs root (CAP_SYS_ADMIN)\n");
		skip();
	}
	self = symbolizer__new(getpid(), false);
	assert_non_null(self);
	assert_int_equal(symbolizer__resolve(self, (uint64_t)(uintptr_t)target_fn, &f), 0);
	off_target = f.module_offset;
	file_build_id(f.module, id, sizeof(id));
	assert_int_equal(symbolizer__resolve(self, (uint64_t)(uintptr_t)other_fn, &f), 0);
	off_other = f.module_offset;
	symbolizer__free(self);

	src = open("/proc/self/exe", O_RDONLY);
	dst = mkstemp(tmp);
	assert_true(src >= 0 && dst >= 0);
	while ((n = read(src, buf, sizeof(buf))) > 0)
		assert_int_equal(write(dst, buf, n), n);
	fchmod(dst, 0755);
	close(src);
	close(dst);   /* before exec: a file open for writing cannot run (ETXTBSY) */

	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		setenv(CHILD_ENV, "1", 1);
		execl(tmp, tmp, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	n = read(out[0], line, sizeof(line) - 1);
	assert_true(n > 0);
	assert_int_equal(unlink(tmp), 0);

	/* The child's load base: its executable's mapping at file offset 0. */
	snprintf(mpath, sizeof(mpath), "/proc/%d/maps", pid);
	maps = fopen(mpath, "r");
	assert_non_null(maps);
	while (!base && getline(&ml, &mcap, maps) > 0) {
		unsigned long long st, en, fo;

		if (sscanf(ml, "%llx-%llx %*s %llx", &st, &en, &fo) == 3 && fo == 0 &&
		    strstr(ml, tmp) && strstr(ml, " (deleted)"))
			base = st;
	}
	free(ml);
	fclose(maps);
	assert_true(base != 0);

	s = symbolizer__new(pid, false);
	assert_non_null(s);
	assert_int_equal(symbolizer__resolve(s, base + off_target, &f), 0);
	assert_string_equal(f.function, "target_fn");
	assert_int_equal(f.line, target_fn_line);
	assert_true(ends_with(f.module, " (deleted)"));
	assert_string_equal(f.build_id, id);

	/* Gone: what was reported while it lived still resolves, never seen before. */
	close(in[1]);
	close(out[0]);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(symbolizer__refresh(s), -ESRCH);
	assert_int_equal(symbolizer__resolve(s, base + off_other, &f), 0);
	assert_string_equal(f.function, "other_fn");
	assert_int_equal(f.line, other_fn_line);
	assert_string_equal(f.build_id, id);
	symbolizer__free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_own_functions),
		cmocka_unit_test(test_shared_library),
		cmocka_unit_test(test_unknown_and_errors),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_unwind_own_stack),
		cmocka_unit_test(test_unwind_through_libc),
		cmocka_unit_test(test_costs),
		cmocka_unit_test(test_deleted_binary),
	};

	if (getenv(CHILD_ENV))
		return child_main();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
