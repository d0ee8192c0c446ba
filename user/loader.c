#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "arenatrace_records.h" /* before the skeleton: its .bss holds target states */
#include "arenatrace.skel.h"
#include "cli.h"
#include "loader.h"

static bool verbose_libbpf;

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !verbose_libbpf)
		return 0;
	if (!verbose_libbpf && level == LIBBPF_INFO)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* Effective capability check without libcap: CAP_BPF=39, CAP_PERFMON=38, CAP_SYS_ADMIN=21. */
static bool has_cap(int cap)
{
	char buf[256];
	unsigned long long eff = 0;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return geteuid() == 0;
	while (fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	return (eff >> cap) & 1;
}

static int check_privileges(void)
{
	bool sys_admin = has_cap(21);

	if ((has_cap(39) && has_cap(38)) || sys_admin)
		return 0;
	fprintf(stderr,
		"arenatrace: needs root, or the capabilities CAP_BPF and CAP_PERFMON (plus CAP_SYS_PTRACE\n"
		"to read another user's /proc/PID/pagemap): run it with sudo, or grant them with\n"
		"  sudo setcap cap_bpf,cap_perfmon,cap_sys_ptrace,cap_dac_read_search+ep build/arenatrace\n");
	return EXIT_RUNTIME;
}

static int check_btf(const char *btf_path)
{
	const char *p = btf_path ? btf_path : "/sys/kernel/btf/vmlinux";

	if (access(p, R_OK) == 0)
		return 0;
	if (btf_path)
		fprintf(stderr, "arenatrace: cannot read the BTF file %s: %s\n", p, strerror(errno));
	else
		fprintf(stderr,
			"arenatrace: this kernel exposes no BTF (%s: %s). arenatrace needs a kernel\n"
			"built with CONFIG_DEBUG_INFO_BTF=y, or a BTF file for it passed with --btf PATH.\n",
			p, strerror(errno));
	return EXIT_RUNTIME;
}

int loader__load(struct loader *ld, pid_t target, const char *btf_path, bool verbose, unsigned stack_mode,
		 uint64_t sample_bytes)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .btf_custom_path = btf_path);
	int err;

	memset(ld, 0, sizeof(*ld));
	verbose_libbpf = verbose;
	libbpf_set_print(print_libbpf);
	if ((err = check_privileges()) || (err = check_btf(btf_path)))
		return err;
	ld->nr_cpus = libbpf_num_possible_cpus();
	if (ld->nr_cpus <= 0 || ld->nr_cpus > ARENATRACE_MAX_CPUS) {
		fprintf(stderr, "arenatrace: %d possible CPUs; this build supports up to %d\n",
			ld->nr_cpus, ARENATRACE_MAX_CPUS);
		return EXIT_RUNTIME;
	}
	ld->skel = arenatrace_bpf__open_opts(&open_opts);
	if (!ld->skel) {
		fprintf(stderr, "arenatrace: opening the BPF object failed: %s\n", strerror(errno));
		return EXIT_RUNTIME;
	}
	ld->single = target > 0;
	ld->skel->rodata->target_tgid = (__u32)target;
	ld->skel->rodata->nr_cpus = (__u32)ld->nr_cpus;
	bpf_map__set_max_entries(ld->skel->maps.cpu_ctxs, (__u32)ld->nr_cpus);
	ld->skel->rodata->stack_mode = stack_mode;
	ld->skel->rodata->sample_bytes = sample_bytes;
	err = arenatrace_bpf__load(ld->skel);
	if (err) {
		fprintf(stderr,
			"arenatrace: loading the BPF programs failed: %s\n"
			"  (kernel 6.2+ with BTF and tp_btf support is needed; run with -v for the verifier log)\n",
			strerror(-err));
		return EXIT_RUNTIME;
	}
	return 0;
}

int loader__start(struct loader *ld, pid_t target, const char *btf_path, bool verbose,
		  unsigned stack_mode, uint64_t sample_bytes, loader_record_fn fn, void *cookie)
{
	int err = loader__load(ld, target, btf_path, verbose, stack_mode, sample_bytes);

	if (err)
		return err;
	err = arenatrace_bpf__attach(ld->skel);
	if (err) {
		fprintf(stderr, "arenatrace: attaching to the tracepoints failed: %s (run with -v)\n",
			strerror(-err));
		return EXIT_RUNTIME;
	}
	ld->rb = ring_buffer__new(bpf_map__fd(ld->skel->maps.events), fn, cookie, NULL);
	if (!ld->rb) {
		fprintf(stderr, "arenatrace: ring buffer: %s\n", strerror(errno));
		return EXIT_RUNTIME;
	}
	return 0;
}

int loader__drain(struct loader *ld)
{
	int n;

	/* Runs opened before this poll are sent as others open (run_epoch). */
	ld->skel->bss->run_epoch++;
	n = ring_buffer__consume(ld->rb);

	return n == -EINTR ? 0 : n;
}

/* Every CPU's context (struct arenatrace_cpu_ctx) into an allocated array; NULL
 * on failure, with errno set. */
static struct arenatrace_cpu_ctx *read_cpu_ctxs(struct loader *ld)
{
	struct arenatrace_cpu_ctx *vals = aligned_alloc(_Alignof(struct arenatrace_cpu_ctx),
							ld->nr_cpus * sizeof(*vals));
	int fd = bpf_map__fd(ld->skel->maps.cpu_ctxs);

	for (__u32 cpu = 0; vals && cpu < (__u32)ld->nr_cpus; cpu++) {
		if (bpf_map_lookup_elem(fd, &cpu, &vals[cpu])) {
			int err = errno;

			free(vals);
			errno = err;
			return NULL;
		}
	}
	return vals;
}

/* One CPU's count of a statistic: the two every fault counts sit on the
 * context's first line, the others in stats[]. */
static uint64_t cpu_stat(const struct arenatrace_cpu_ctx *c, enum arenatrace_stat which)
{
	switch (which) {
	case ARENATRACE_STAT_FAULTS: return c->faults;
	case ARENATRACE_STAT_RSS_EVENTS: return c->rss_events;
	default: return which < ARENATRACE_STAT_IN_ARRAY ? c->stats[which] : 0;
	}
}

uint64_t loader__stat(struct loader *ld, enum arenatrace_stat which)
{
	struct arenatrace_cpu_ctx *vals = read_cpu_ctxs(ld);
	uint64_t sum = 0;

	/* The counts only grow: a failed read returns the last one, so a
	 * Prometheus counter built on it never seems to reset. */
	if (!vals)
		return ld->stats_seen[which];
	for (int i = 0; i < ld->nr_cpus; i++)
		sum += cpu_stat(&vals[i], which);
	free(vals);
	ld->stats_seen[which] = sum;
	return sum;
}

/* Zeroes a slot's kernel-side state before a new process uses it. (Its counts
 * in the CPU contexts are set by the BPF side when it takes the new process's
 * baseline; user space never writes a live CPU context.) */
static int reset_slot(struct loader *ld, int slot)
{
	size_t vsz = sizeof(struct arenatrace_slot_cpu);
	void *zero = calloc(ld->nr_cpus, vsz);
	__u32 key = slot;
	int err;

	if (!zero)
		return -ENOMEM;
	memset((void *)&ld->skel->bss->target_st[slot], 0, sizeof(ld->skel->bss->target_st[slot]));
	memset((void *)&ld->skel->bss->count_shadows[slot], 0, sizeof(ld->skel->bss->count_shadows[slot]));
	err = bpf_map_update_elem(bpf_map__fd(ld->skel->maps.slot_cpus), &key, zero, BPF_ANY);
	free(zero);
	return err ? -errno : 0;
}

int loader__add_target(struct loader *ld, pid_t tgid)
{
	__u32 key = (__u32)tgid, val;
	int slot, err;

	if (ld->single || tgid <= 0)
		return -EINVAL;
	for (slot = 0; slot < ARENATRACE_MAX_TARGETS && ld->slots[slot]; slot++)
		if (ld->slots[slot] == tgid)
			return slot;
	if (slot == ARENATRACE_MAX_TARGETS)
		return -ENOSPC;
	if ((err = reset_slot(ld, slot)))
		return err;
	val = slot;
	if (bpf_map_update_elem(bpf_map__fd(ld->skel->maps.targets), &key, &val, BPF_ANY))
		return -errno;
	ld->slots[slot] = tgid;
	ld->skel->bss->tgid_filter[arenatrace_tgid_filter_index(key)] = 1;
	return slot;
}

/* Whether a followed process's known mm has mm filter byte mi. */
static bool mm_byte_in_use(const struct loader *ld, unsigned mi)
{
	for (int s = 0; s < ARENATRACE_MAX_TARGETS; s++)
		if (ld->slots[s] && ld->skel->bss->target_st[s].mm &&
		    arenatrace_mm_filter_index(ld->skel->bss->target_st[s].mm_ctx_id) == mi)
			return true;
	return false;
}

/* Clears the filter bytes of a process no longer followed, unless another
 * followed process shares them. */
static void unfilter(struct loader *ld, __u32 tgid, __u64 mm, __u64 mm_ctx_id)
{
	unsigned ti = arenatrace_tgid_filter_index(tgid), mi = arenatrace_mm_filter_index(mm_ctx_id);
	bool tgid_shared = false;

	for (int s = 0; s < ARENATRACE_MAX_TARGETS; s++)
		tgid_shared |= ld->slots[s] && arenatrace_tgid_filter_index(ld->slots[s]) == ti;
	if (!tgid_shared)
		ld->skel->bss->tgid_filter[ti] = 0;
	if (!mm || mm_byte_in_use(ld, mi))
		return;
	ld->skel->bss->mm_filter[mi] = 0;
	/* The BPF side sets a new target's mm, then its byte (take_baseline()),
	 * and every RSS change of an mm whose byte is 0 is turned away: if one
	 * sharing this byte was learnt meanwhile, its byte goes back. The fence
	 * keeps the look after the clear. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (mm_byte_in_use(ld, mi))
		ld->skel->bss->mm_filter[mi] = 1;
}

void loader__remove_target(struct loader *ld, int slot)
{
	__u64 mm;
	__u32 key;

	if (ld->single || slot < 0 || slot >= ARENATRACE_MAX_TARGETS || !ld->slots[slot])
		return;
	key = (__u32)ld->slots[slot];
	bpf_map_delete_elem(bpf_map__fd(ld->skel->maps.targets), &key);
	mm = ld->skel->bss->target_st[slot].mm;
	if (mm)
		bpf_map_delete_elem(bpf_map__fd(ld->skel->maps.target_mms), &mm);
	ld->skel->bss->target_st[slot].baseline_set = 0;
	ld->slots[slot] = 0;
	unfilter(ld, key, mm, ld->skel->bss->target_st[slot].mm_ctx_id);
}

/* Best effort: a boundary that cannot be stored (the map's update failing) only
 * lets runs cross it, which reconciliation corrects. */
void loader__add_boundary(struct loader *ld, int slot, uint64_t addr)
{
	struct arenatrace_split_key k = arenatrace_split_key_of((__u32)slot, addr);
	struct arenatrace_split sp;
	int fd = bpf_map__fd(ld->skel->maps.splits);

	if (!arenatrace_block_page(addr))
		return;
	if (bpf_map_lookup_elem(fd, &k, &sp))
		memset(&sp, 0, sizeof(sp));
	if (arenatrace_split_add(&sp, addr))
		bpf_map_update_elem(fd, &k, &sp, BPF_ANY);
}

bool loader__rss_pages(struct loader *ld, int slot, int64_t *pages)
{
	const volatile struct arenatrace_target_state *st;
	static const int members[] = { 0, 1, 3 }; /* file, anon, shmem: not swap */
	struct arenatrace_cpu_ctx *per_cpu;
	bool ok;

	if (slot < 0 || slot >= ARENATRACE_MAX_TARGETS)
		return false;
	st = &ld->skel->bss->target_st[slot];
	per_cpu = st->baseline_set ? read_cpu_ctxs(ld) : NULL;
	ok = per_cpu != NULL;
	if (ok) {
		*pages = 0;
		for (int m = 0; m < 3; m++) {
			*pages += st->base_pages[members[m]];
			for (int cpu = 0; cpu < ld->nr_cpus; cpu++)
				*pages += per_cpu[cpu].counts[slot].moved[members[m]];
		}
	}
	free(per_cpu);
	return ok;
}

void loader__stop(struct loader *ld)
{
	ring_buffer__free(ld->rb);
	arenatrace_bpf__destroy(ld->skel);
	ld->rb = NULL;
	ld->skel = NULL;
}
