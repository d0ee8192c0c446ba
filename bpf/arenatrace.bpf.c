// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Kernel side of arenatrace. Every RSS counter change of the target's mm is turned
 * into an exact page delta (kmem:rss_stat gives the mm and the counter; we sum the
 * per-CPU counter ourselves) and attributed to what the task was doing: a page
 * fault at an address, or a tracked syscall on a range. All programs are tp_btf,
 * so nothing needs tracefs and each hit is cheap.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "arenatrace_records.h"
#include "stack_sample.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by user space before load. target_tgid: the one traced process (slot 0);
 * 0 for the agent, whose targets are the `targets` map. */
const volatile __u32 target_tgid = 0;
const volatile __u32 nr_cpus = 1;
/* Stacks: 0 off, else enum arenatrace_stack_mode; one sample per sample_bytes made
 * resident (faults) and per sample_bytes mapped (mapping syscalls). */
const volatile __u32 stack_mode = 0;
const volatile __u64 sample_bytes = 512 * 1024;

/*
 * Per-CPU area offsets, learned once from a per-CPU array of our own: its raw
 * __percpu pointer (bpf_array.pptrs[0]) plus each CPU's offset is what
 * bpf_map_lookup_percpu_elem() returns. Needed because this kernel's kallsyms
 * has no data symbols, so typed ksyms like this_cpu_off cannot be resolved.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} pcpu_probe SEC(".maps");

__u64 cpu_offsets[ARENATRACE_MAX_CPUS];
__u32 cpu_offsets_ready;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* mapped twice into the reader: 16 MiB of its RSS */
} events SEC(".maps");

/* Globals, not maps: the hot paths read them without a lookup. User space reads
 * and resets them through the skeleton's mmapped .bss. */
struct arenatrace_target_state target_st[ARENATRACE_MAX_TARGETS];

/* The agent's targets: tgid -> slot, and each target's mm -> slot (an mm's RSS
 * changes also when another task, reclaim or khugepaged, works on it). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ARENATRACE_MAX_TARGETS);
	__type(key, __u32);
	__type(value, __u32);
} targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ARENATRACE_MAX_TARGETS);
	__type(key, __u64);
	__type(value, __u32);
} target_mms SEC(".maps");

/* Stack sampling state per target and CPU (only read with stacks on). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ARENATRACE_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct arenatrace_slot_cpu);
} slot_cpus SEC(".maps");

/* What one target thread is doing right now. */
struct task_ctx {
	__u64 fault_addr;
	__u32 fault_origin;   /* 0: none */
	__u32 sys;            /* enum arenatrace_syscall while inside a tracked syscall */
	__u32 slot;           /* the thread's target */
	__u32 pad;
	__u64 args[6];
	__s64 sys_delta;
	__u32 sys_flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stack_scratch);
} stack_scratch SEC(".maps");

/* struct arenatrace_cpu_ctx per CPU, by CPU number (user space sets the size
 * to the possible CPUs). Mmapable for its page-aligned values, not to map it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, ARENATRACE_MAX_CPUS);
	__type(key, __u32);
	__type(value, struct arenatrace_cpu_ctx);
} cpu_ctxs SEC(".maps");

static __always_inline struct arenatrace_cpu_ctx *this_cpu_ctx(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(&cpu_ctxs, &cpu);
}

#define RUN_MAX_EVENTS 512

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_ctx);
} task_ctxs SEC(".maps");

static __always_inline void stat_inc(__u32 idx)
{
	struct arenatrace_cpu_ctx *c = this_cpu_ctx();

	if (c)
		c->stats[idx]++;
}

#define NO_SLOT ARENATRACE_MAX_TARGETS

/*
 * The agent's first filter: one byte per (tgid mod 64Ki) and per hashed mm, set
 * by user space for the followed processes, so every other process's syscalls,
 * faults and RSS changes cost a load instead of a hash lookup.
 */
__u8 tgid_filter[ARENATRACE_FILTER_SIZE];
__u8 mm_filter[ARENATRACE_FILTER_SIZE];

/* The slot of process tgid, NO_SLOT when it is not traced. */
static __always_inline __u32 slot_of(__u32 tgid)
{
	__u32 *slot;

	if (target_tgid)
		return tgid == target_tgid ? 0 : NO_SLOT;
	if (!tgid_filter[arenatrace_tgid_filter_index(tgid)])
		return NO_SLOT;
	slot = bpf_map_lookup_elem(&targets, &tgid);
	return slot ? *slot & (ARENATRACE_MAX_TARGETS - 1) : NO_SLOT;
}

/* The current task's slot. */
static __always_inline __u32 current_slot(void)
{
	return slot_of(bpf_get_current_pid_tgid() >> 32);
}

static __always_inline struct arenatrace_target_state *target_state(__u32 slot)
{
	return &target_st[slot & (ARENATRACE_MAX_TARGETS - 1)];
}

static __always_inline struct arenatrace_slot_cpu *slot_cpu(__u32 slot)
{
	return bpf_map_lookup_elem(&slot_cpus, &slot);
}

/* The verifier forbids arithmetic on map pointers; copying one through the stack
 * yields its address as a plain number (allowed with CAP_PERFMON). */
static __always_inline __u64 addr_of(void *p)
{
	void *volatile slot = p;
	__u64 addr = 0;

	bpf_probe_read_kernel(&addr, sizeof(addr), (void *)&slot);
	return addr;
}

static __noinline int learn_cpu_offsets(void)
{
	__u64 map_addr = addr_of(&pcpu_probe), base = 0;
	__u32 zero = 0;

	bpf_probe_read_kernel(&base, sizeof(base),
			      (void *)(map_addr + bpf_core_field_offset(struct bpf_array, pptrs)));
	if (!base)
		return -1;

	for (__u32 cpu = 0; cpu < ARENATRACE_MAX_CPUS; cpu++) {
		void *v;

		if (cpu >= nr_cpus)
			break;
		v = bpf_map_lookup_percpu_elem(&pcpu_probe, &zero, cpu);
		if (v)
			cpu_offsets[cpu] = addr_of(v) - base;
	}
	cpu_offsets_ready = 1;
	return 0;
}

/*
 * Shadows of the target's RSS percpu_counters, so each rss_stat event yields the
 * change its own task made. A percpu_counter is `count` plus one s32 per CPU;
 * percpu_counter_add() changes this CPU's s32 or, when that would reach the
 * batch size, folds it into `count` and leaves it 0. So:
 * - this CPU's s32 is not 0: no fold; the delta is its change since the last event
 *   on this CPU, exact whatever other CPUs do meanwhile;
 * - it is 0 (a fold, or an exact cancel): the delta is the change of `count` since
 *   the last fold we saw, minus what this CPU's s32 held.
 * Every shadow is exchanged, so the deltas always add up to the counter's true
 * movement. Only two folds on two CPUs at the same moment mix (the first to report
 * takes both): seen when another CPU's s32 is 0 but its shadow is not, and flagged
 * ARENATRACE_UNCERTAIN. A sum over all CPUs per event would be slower and mix
 * every concurrent change, not just folds.
 */
struct arenatrace_count_shadow count_shadows[ARENATRACE_MAX_TARGETS];

/*
 * bpf_rdonly_cast() (kernel 6.2+) turns the address into a read-only pointer the
 * program loads from directly, with a fault fixup, instead of calling
 * bpf_probe_read_kernel(): about 30 ns less per RSS change here. It casts to a
 * struct, so the s32 is read as a refcount_struct (one int at offset 0).
 */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/* The s32 at a per-CPU counter's __percpu address plus one CPU's offset. */
static __always_inline __s32 percpu_s32(__u64 counters, __u64 cpu_offset)
{
	const struct refcount_struct *local =
		bpf_rdonly_cast((void *)(counters + cpu_offset), bpf_core_type_id_kernel(struct refcount_struct));

	return local->refs.counter;
}

static __always_inline __s32 cpu_local(__u64 counters, __u32 cpu)
{
	return percpu_s32(counters, cpu_offsets[cpu & (ARENATRACE_MAX_CPUS - 1)]);
}

/* Target slot's counts on CPU cpu. */
static __always_inline struct arenatrace_count_cpu *count_cpu_on(__u32 slot, __u32 cpu)
{
	struct arenatrace_cpu_ctx *c = bpf_map_lookup_elem(&cpu_ctxs, &cpu);

	return c ? &c->counts[slot & (ARENATRACE_MAX_TARGETS - 1)] : NULL;
}

/* Exact value of one mm RSS counter (pages), percpu_counter_sum() by hand; also
 * resets the shadows. Used once per mm. */
static __always_inline __s64 counter_baseline(__u32 slot, struct mm_struct *mm, int member)
{
	struct percpu_counter *fbc = &mm->rss_stat[member];
	__s64 count = BPF_CORE_READ(fbc, count), sum = count;
	__u64 counters = (__u64)BPF_CORE_READ(fbc, counters);

	if (!cpu_offsets_ready)
		learn_cpu_offsets();
	count_shadows[slot & (ARENATRACE_MAX_TARGETS - 1)].count[member & 3] = count;
	for (__u32 cpu = 0; cpu < ARENATRACE_MAX_CPUS; cpu++) {
		struct arenatrace_count_cpu *cc = count_cpu_on(slot, cpu);
		__s32 local;

		if (cpu >= nr_cpus)
			break;
		local = cpu_local(counters, cpu);
		if (cc) {
			cc->local[member & 3] = local;
			cc->moved[member & 3] = 0;
		}
		sum += local;
	}
	return sum;
}

/* mm->rss_stat[member] with a constant index: direct BTF loads, no probe reads. */
static __always_inline struct percpu_counter *rss_counter(struct mm_struct *mm, __u32 member)
{
	switch (member) {
	case MM_FILEPAGES: return &mm->rss_stat[MM_FILEPAGES];
	case MM_ANONPAGES: return &mm->rss_stat[MM_ANONPAGES];
	default: return &mm->rss_stat[MM_SHMEMPAGES];
	}
}

/* The change this event's percpu_counter_add() made (see above), also added to
 * this CPU's `moved`. Only the fold case touches memory other CPUs write. */
static __always_inline __s64 counter_delta(__u32 slot, struct arenatrace_cpu_ctx *c, struct mm_struct *mm,
					   __u32 member, bool *uncertain)
{
	struct percpu_counter *fbc = rss_counter(mm, member);
	__u64 counters = (__u64)fbc->counters;
	struct arenatrace_count_cpu *sc = &c->counts[slot & (ARENATRACE_MAX_TARGETS - 1)];
	__s64 local, old_local, count, old_count, delta;
	__u32 cpu;

	if (!c->pcpu_known) {
		c->pcpu_off = cpu_offsets[bpf_get_smp_processor_id() & (ARENATRACE_MAX_CPUS - 1)];
		c->pcpu_known = cpu_offsets_ready;
	}
	local = percpu_s32(counters, c->pcpu_off);

	old_local = sc->local[member & 3];
	sc->local[member & 3] = local;
	if (local != 0) {
		delta = local - old_local;
		sc->moved[member & 3] += delta;
		return delta;
	}
	count = fbc->count;
	cpu = bpf_get_smp_processor_id() & (ARENATRACE_MAX_CPUS - 1);
	old_count = __sync_lock_test_and_set(&count_shadows[slot & (ARENATRACE_MAX_TARGETS - 1)].count[member & 3],
					     count);
	for (__u32 d = 0; d < ARENATRACE_MAX_CPUS; d++) {
		struct arenatrace_count_cpu *other;

		if (d >= nr_cpus)
			break;
		if (d == cpu)
			continue;
		other = count_cpu_on(slot, d);
		if (other && other->local[member & 3] != 0 && cpu_local(counters, d) == 0)
			*uncertain = true;
	}
	delta = (count - old_count) - old_local;
	sc->moved[member & 3] += delta;
	return delta;
}

static __always_inline void take_baseline(__u32 slot, struct mm_struct *mm)
{
	struct arenatrace_target_state *st = target_state(slot);
	__u64 old = st->mm, key = (__u64)mm;

	st->base_pages[MM_FILEPAGES] = counter_baseline(slot, mm, MM_FILEPAGES);
	st->base_pages[MM_ANONPAGES] = counter_baseline(slot, mm, MM_ANONPAGES);
	st->base_pages[MM_SHMEMPAGES] = counter_baseline(slot, mm, MM_SHMEMPAGES);
	st->mm = key;
	st->mm_ctx_id = mm->context.ctx_id;
	st->baseline_set = 1;
	if (!target_tgid) {
		if (old && old != key)
			bpf_map_delete_elem(&target_mms, &old);
		bpf_map_update_elem(&target_mms, &key, &slot, BPF_ANY);
		mm_filter[arenatrace_mm_filter_index(st->mm_ctx_id)] = 1; /* cleared by user space */
	}
}

/* Learn a target's mm the first time one of its threads enters the kernel,
 * before any RSS change it causes, so the first delta is exact too. */
static __always_inline void learn_mm(__u32 slot)
{
	struct arenatrace_target_state *st = target_state(slot);
	struct task_struct *task;
	struct mm_struct *mm;

	if (st->baseline_set)
		return;
	task = bpf_get_current_task_btf();
	mm = task->mm;
	if (mm)
		take_baseline(slot, mm);
}

/* The slot whose mm this is, NO_SLOT if none: one lookup for the agent, none
 * for a single target, so other processes' RSS changes cost little. */
static __always_inline __u32 slot_of_mm(struct mm_struct *mm)
{
	__u64 key = (__u64)mm;
	__u32 *slot;

	if (target_tgid)
		return target_state(0)->mm == key ? 0 : NO_SLOT;
	if (!mm_filter[arenatrace_mm_filter_index(mm->context.ctx_id)])
		return NO_SLOT;
	slot = bpf_map_lookup_elem(&target_mms, &key);
	return slot ? *slot & (ARENATRACE_MAX_TARGETS - 1) : NO_SLOT;
}

static __always_inline struct task_ctx *current_ctx(bool create)
{
	return bpf_task_storage_get(&task_ctxs, bpf_get_current_task_btf(), 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

static __always_inline void emit_rss(__u32 slot, __u64 addr, __s64 delta, __u32 member, __u32 origin)
{
	struct arenatrace_rss_record *r;

	r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		stat_inc(ARENATRACE_STAT_LOST);
		return;
	}
	r->type = ARENATRACE_REC_RSS;
	r->slot = slot;
	r->tid = (__u32)bpf_get_current_pid_tgid();
	r->ts_ns = bpf_ktime_get_ns();
	r->addr = addr;
	r->delta_pages = delta;
	r->member = member;
	r->origin = origin;
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
}

/* Bumped by user space at every poll of the ring buffer; runs opened before it
 * are sent by run_send_stale(). */
__u32 run_epoch;

/* Mapping boundaries inside 2 MiB blocks (struct arenatrace_split): added here
 * for every mapping a target's mmap or mremap makes, and by user space for the
 * mappings it finds at the start and after exec. LRU: a long run keeps the
 * recent ones. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct arenatrace_split_key);
	__type(value, struct arenatrace_split);
} splits SEC(".maps");

/* Notes that a mapping starts or ends at addr (a no-op on a block's start).
 * Global functions, verified once each. */
__noinline int add_boundary(__u32 slot, __u64 addr)
{
	struct arenatrace_split_key k = arenatrace_split_key_of(slot, addr);
	struct arenatrace_split *sp, fresh = {};

	if (!arenatrace_block_page(addr))
		return 0;
	sp = bpf_map_lookup_elem(&splits, &k);
	if (sp)
		arenatrace_split_add(sp, addr);
	else if (arenatrace_split_add(&fresh, addr))
		bpf_map_update_elem(&splits, &k, &fresh, BPF_NOEXIST);
	return 0;
}

/* The span a run opened at page may cover, between the known boundaries around
 * it: span_first << 16 | span_end, in pages from the block's start. */
__noinline __u32 run_span(__u32 slot, __u64 page)
{
	struct arenatrace_split_key k = arenatrace_split_key_of(slot, page);
	struct arenatrace_split *sp = bpf_map_lookup_elem(&splits, &k);
	__u32 off = arenatrace_block_page(page), first = 0, end = ARENATRACE_BLOCK_PAGES;

	if (!sp)
		return end;
	for (__u32 i = 0; i < ARENATRACE_SPLIT_OFFS; i++) {
		__u32 b = sp->offs[i];

		if (b && b <= off && b > first)
			first = b;
		if (b > off && b < end)
			end = b;
	}
	return first << 16 | end;
}

/* Whether an open run may take a change at page. */
static __always_inline bool run_covers(const struct arenatrace_open_run *o, __u64 page)
{
	return page - o->span_lo < o->span_len;
}

/* Sends run i of this CPU and closes it. A global function, verified once: the
 * loops over the runs that call it would otherwise verify it eight times per
 * call site (0.1 s more CPU at every start). */
__noinline int run_send(struct arenatrace_cpu_ctx *c, __u32 i)
{
	struct arenatrace_run_record *r;
	struct arenatrace_open_run *o;

	if (!c)
		return 0;
	o = &c->runs[i & (ARENATRACE_RUN_SLOTS - 1)];
	r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		stat_inc(ARENATRACE_STAT_LOST);
	} else {
		r->type = ARENATRACE_REC_FAULT_RUN;
		r->slot = c->run_slot;
		r->tid = c->run_tid;
		r->ts_ns = bpf_ktime_get_ns();
		r->lo = o->lo;
		r->hi = o->hi;
		r->first_ns = o->first_ns;
		r->added_pages = o->added;
		r->removed_pages = o->removed;
		r->events = o->events;
		r->origin = o->origin;
		bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
		stat_inc(ARENATRACE_STAT_RUNS);
	}
	c->open_runs &= ~(1U << (i & (ARENATRACE_RUN_SLOTS - 1)));
	return 0;
}

/* Sends this CPU's open runs that overlap [lo, hi). */
static __always_inline void run_flush_range(struct arenatrace_cpu_ctx *c, __u64 lo, __u64 hi)
{
	if (!c->open_runs)
		return;
	for (__u32 i = 0; i < ARENATRACE_RUN_SLOTS; i++) {
		struct arenatrace_open_run *o = &c->runs[i];

		if ((c->open_runs & (1U << i)) && o->lo < hi && lo < o->hi)
			run_send(c, i);
	}
}

static __always_inline void run_flush(struct arenatrace_cpu_ctx *c)
{
	run_flush_range(c, 0, ~0ULL);
}

/* Sends this CPU's open runs whose blocks overlap [lo, hi): later changes in
 * those blocks start new runs, so no run spans a change of the mappings. */
static __always_inline void run_flush_blocks(struct arenatrace_cpu_ctx *c, __u64 lo, __u64 hi)
{
	if (hi <= lo)
		hi = ~0ULL;
	run_flush_range(c, arenatrace_block_start(lo), hi | ((1ULL << ARENATRACE_RUN_BLOCK_SHIFT) - 1));
}

/* The index of the lowest bit set in an 8-bit mask that has one. */
static __always_inline __u32 lowest_bit8(__u32 mask)
{
	__u32 b = mask & -mask;

	return (b & 0xf0 ? 4 : 0) + (b & 0xcc ? 2 : 0) + (b & 0xaa ? 1 : 0);
}

/* This CPU's open run that may take a change at page, ARENATRACE_RUN_SLOTS if none. */
static __always_inline __u32 open_run_of(struct arenatrace_cpu_ctx *c, __u64 page)
{
	for (__u32 i = 0; i < ARENATRACE_RUN_SLOTS; i++)
		if ((c->open_runs & (1U << i)) && c->run_blocks[i] == (__u32)(page >> ARENATRACE_RUN_BLOCK_SHIFT) &&
		    run_covers(&c->runs[i], page))
			return i;
	return ARENATRACE_RUN_SLOTS;
}

/* The run for a change at page, when it is not the last one used: the open
 * one, else a closed slot, else the next in turn, sent first. (No search for the
 * oldest: a loop that carries a best-so-far makes the verifier walk every
 * combination of branches, 0.1 s of CPU at every start.) */
static __always_inline __u32 run_slot_for(struct arenatrace_cpu_ctx *c, __u64 page)
{
	__u32 closed = ~c->open_runs & ((1U << ARENATRACE_RUN_SLOTS) - 1), i = open_run_of(c, page);

	if (i < ARENATRACE_RUN_SLOTS)
		return i;
	if (closed)
		return lowest_bit8(closed);
	i = c->next_evict++ & (ARENATRACE_RUN_SLOTS - 1);
	run_send(c, i);
	return i;
}

/* Each time a run opens, looks at one other in turn and sends it if it was
 * opened before user space's last poll (run_epoch): a block the thread has left
 * does not hold its changes back for more than about eight run openings. (One
 * at a time: a loop over all of them costs 0.03 s of verifier time at start.) */
static __always_inline void run_send_stale(struct arenatrace_cpu_ctx *c)
{
	__u32 i = c->next_stale++ & (ARENATRACE_RUN_SLOTS - 1);

	if ((c->open_runs & (1U << i)) && c->runs[i].epoch != run_epoch)
		run_send(c, i);
}

/* Adds thread tid's RSS change on [lo, hi) to the run of its 2 MiB block (the
 * part of it between known mapping boundaries). A record per block and per poll
 * instead of one per fault is what keeps a fault-bound target at its untraced
 * speed. Returns the run's index. */
static __always_inline __u32 run_add(struct arenatrace_cpu_ctx *c, __u32 slot, __u32 tid, __u64 lo, __u64 hi,
				     __s64 delta, __u32 origin)
{
	__u32 i = c->last_run & (ARENATRACE_RUN_SLOTS - 1), span;
	struct arenatrace_open_run *o = &c->runs[i];

	lo &= ~4095ULL;
	/* Another thread's runs: it left without a switch we saw. */
	if (c->open_runs && c->run_tid != tid)
		run_flush(c);
	c->run_tid = tid;
	c->run_slot = slot;
	if (!(c->open_runs & (1U << i)) || !run_covers(o, lo)) {
		i = run_slot_for(c, lo) & (ARENATRACE_RUN_SLOTS - 1);
		o = &c->runs[i];
	}
	/* Also bounded in size, so a thread busy in one block stays visible. */
	if ((c->open_runs & (1U << i)) && o->events >= RUN_MAX_EVENTS)
		run_send(c, i);
	if (!(c->open_runs & (1U << i))) {
		run_send_stale(c);
		span = run_span(slot, lo);
		o->span_lo = arenatrace_block_start(lo) + ((__u64)(span >> 16) << 12);
		o->span_len = ((span & 0xffff) - (span >> 16)) << 12;
		o->lo = lo;
		o->hi = hi;
		o->origin = origin;
		o->first_ns = bpf_ktime_get_ns();
		o->epoch = run_epoch;
		o->added = 0;
		o->removed = 0;
		o->events = 0;
		c->run_blocks[i] = (__u32)(lo >> ARENATRACE_RUN_BLOCK_SHIFT);
		c->open_runs |= 1U << i;
	} else {
		o->origin |= origin & ARENATRACE_UNCERTAIN;
		if (lo < o->lo)
			o->lo = lo;
		if (hi > o->hi)
			o->hi = hi;
	}
	if (delta > 0)
		o->added += delta;
	else
		o->removed += -delta;
	o->events++;
	c->last_run = i;
	return i;
}

/* Byte-based sampling: true when this event's bytes cross the threshold; *weight
 * gets every byte since the previous sample, so weights sum to the true total.
 * The threshold is drawn in [N/2, 3N/2) so periodic patterns do not alias. */
static __always_inline bool sample_due(__u64 *acc, __u64 *next, __u64 bytes, __u64 *weight)
{
	*acc += bytes;
	if (!*next)
		*next = sample_bytes / 2 + bpf_get_prandom_u32() % (sample_bytes ? sample_bytes : 1);
	if (*acc < *next)
		return false;
	*weight = *acc;
	*acc = 0;
	*next = sample_bytes / 2 + bpf_get_prandom_u32() % (sample_bytes ? sample_bytes : 1);
	return true;
}

/* Sends a stack sample for the current thread: frame-pointer ips, or its
 * registers and the top of its stack for DWARF unwinding in user space. */
static __always_inline int emit_stack(void *ctx, __u32 slot, __u64 addr, __u64 len, __u64 weight, __u32 event,
				      __u32 sys)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct stack_scratch *sc;
	struct pt_regs *regs;
	__u32 zero = 0;
	long size;

	sc = bpf_map_lookup_elem(&stack_scratch, &zero);
	if (!sc)
		return 0;
	sc->r.type = ARENATRACE_REC_STACK;
	sc->r.slot = slot;
	sc->r.tid = (__u32)bpf_get_current_pid_tgid();
	sc->r.ts_ns = bpf_ktime_get_ns();
	sc->r.addr = addr;
	sc->r.len = len;
	sc->r.weight_bytes = weight;
	sc->r.event = event;
	sc->r.sys = sys;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	sc->r.regs[0] = BPF_CORE_READ(regs, ip);
	sc->r.regs[1] = BPF_CORE_READ(regs, sp);
	sc->r.regs[2] = BPF_CORE_READ(regs, bp);
	size = stack_sample_fill(ctx, sc, stack_mode);
	if (bpf_ringbuf_output(&events, sc, size & 0xffff, BPF_RB_NO_WAKEUP))
		stat_inc(ARENATRACE_STAT_LOST);
	return 0;
}

/*
 * The common RSS change, kept short and first (a fault-bound target runs it a
 * million times a second, and every cache line of code or data it touches
 * after the kernel's fault work is a miss): a fault of a traced mm pending on
 * this CPU (on_switch() moves a pending fault off the CPU when its thread
 * leaves and on_exit() drops it, so it is the current thread's and its mm is
 * alive) adding pages without a fold to the thread's open run of the same
 * block. Anything else (a fold, a new run, stacks on) returns false before
 * changing anything, and rss_change() does it.
 */
static __always_inline bool fault_in_open_run(struct arenatrace_cpu_ctx *c, struct mm_struct *mm, __u32 m)
{
	struct arenatrace_count_cpu *sc = &c->counts[c->fault_slot & (ARENATRACE_MAX_TARGETS - 1)];
	__u64 page = c->fault_addr & ~4095ULL;
	__u32 i = c->last_run & (ARENATRACE_RUN_SLOTS - 1);
	struct arenatrace_open_run *o;
	__s64 local, delta;

	if (stack_mode || !c->pcpu_known || c->run_tid != c->tid)
		return false;
	/* A thread whose faults hop between blocks (an allocator reusing scattered
	 * free chunks) finds its run by the blocks' index. */
	if (!(c->open_runs & (1U << i)) || !run_covers(&c->runs[i], page))
		i = open_run_of(c, page);
	if (i >= ARENATRACE_RUN_SLOTS)
		return false;
	o = &c->runs[i];
	if (o->events >= RUN_MAX_EVENTS)
		return false;
	local = percpu_s32((__u64)rss_counter(mm, m)->counters, c->pcpu_off);
	delta = local - sc->local[m & 3];
	if (local == 0 || delta <= 0)
		return false;
	sc->local[m & 3] = local;
	sc->moved[m & 3] += delta;
	c->rss_events++;
	c->last_run = i;
	o->added += delta;
	o->events++;
	if (page < o->lo)
		o->lo = page;
	if (page + 4096 > o->hi)
		o->hi = page + 4096;
	return true;
}

/* Every other RSS change of a traced mm (see fault_in_open_run()). A function
 * of its own, so the JIT keeps the common case's code short. */
static __noinline int rss_change(void *ctx, struct arenatrace_cpu_ctx *c, struct mm_struct *mm, __u32 m)
{
	struct task_ctx *tc;
	bool uncertain = false, in_fault;
	__u32 tid, flags = 0, slot;
	__s64 delta;

	m &= 3;
	in_fault = c->fault_origin && c->fault_mm == (__u64)mm;
	if (in_fault) {
		slot = c->fault_slot & (ARENATRACE_MAX_TARGETS - 1);
	} else {
		/* exit_mmap() tearing the whole mm down: keep the counters as they
		 * were at exit, which is what the final report shows. (mm_users
		 * shares a line with mmap_lock: read only off the fault path.) */
		if (mm->mm_users.counter == 0)
			return 0;
		slot = slot_of_mm(mm);
		if (slot == NO_SLOT || !target_state(slot)->baseline_set)
			return 0;
	}
	delta = counter_delta(slot, c, mm, m, &uncertain);
	if (delta == 0)
		return 0;
	c->rss_events++;
	/* Faults only ever add pages: a fault that lost pages had them taken by a
	 * racing event (migration between counter update and tracepoint). */
	if (uncertain || delta <= 0)
		flags = ARENATRACE_UNCERTAIN;
	if (in_fault) {
		struct arenatrace_slot_cpu *sc;
		__u64 weight;

		run_add(c, slot, c->tid, c->fault_addr, (c->fault_addr & ~4095ULL) + 4096, delta,
			c->fault_origin | flags);
		if (stack_mode && delta > 0 && (sc = slot_cpu(slot)) &&
		    sample_due(&sc->fault_bytes, &sc->fault_next, delta * 4096, &weight))
			emit_stack(ctx, slot, c->fault_addr, 0, weight, ARENATRACE_STACK_FAULT, 0);
		return 0;
	}
	if (bpf_get_current_task_btf()->mm != mm) {
		/* Reclaim, khugepaged, another process writing our memory. */
		emit_rss(slot, 0, delta, m, ARENATRACE_ORIGIN_UNKNOWN);
		return 0;
	}
	tid = (__u32)bpf_get_current_pid_tgid();
	tc = current_ctx(false);
	if (tc && tc->sys) {
		tc->sys_delta += delta;
		if (uncertain)
			tc->sys_flags |= ARENATRACE_UNCERTAIN;
	} else if (tc && tc->fault_origin) {
		/* A fault that slept and resumed here. */
		run_add(c, slot, tid, tc->fault_addr, (tc->fault_addr & ~4095ULL) + 4096, delta,
			tc->fault_origin | flags);
	} else {
		emit_rss(slot, 0, delta, m, ARENATRACE_ORIGIN_UNKNOWN);
	}
	return 0;
}

SEC("tp_btf/rss_stat")
int BPF_PROG(on_rss_stat, struct mm_struct *mm, int member)
{
	struct arenatrace_cpu_ctx *c;
	__u32 m = (__u32)member;

	/* Bound the index in the register the verifier will see used. */
	barrier_var(m);
	if (m == MM_SWAPENTS || m > MM_SHMEMPAGES)
		return 0;
	/* Every process on the system pays this path while arenatrace runs, so
	 * every other mm's change ends here, before the CPU context: for one
	 * target after one compare, for the agent after its mm filter's byte
	 * (its map lookup is left to rss_change()). */
	if (target_tgid ? slot_of_mm(mm) == NO_SLOT : !mm_filter[arenatrace_mm_filter_index(mm->context.ctx_id)])
		return 0;
	c = this_cpu_ctx();
	if (!c)
		return 0;
	if (c->fault_origin && c->fault_mm == (__u64)mm && fault_in_open_run(c, mm, m))
		return 0;
	return rss_change(ctx, c, mm, m);
}

static __always_inline struct arenatrace_cpu_ctx *note_fault(__u32 slot, __u32 tid, unsigned long address, __u32 origin)
{
	struct arenatrace_cpu_ctx *c;

	learn_mm(slot);
	c = this_cpu_ctx();
	if (!c)
		return NULL;
	c->tid = tid;
	c->fault_addr = address;
	c->fault_origin = origin;
	c->fault_mm = target_state(slot)->mm;
	c->fault_slot = slot;
	return c;
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(on_page_fault_user, unsigned long address, struct pt_regs *regs,
	     unsigned long error_code)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 slot = slot_of(id >> 32);

	if (slot != NO_SLOT) {
		struct arenatrace_cpu_ctx *c = note_fault(slot, (__u32)id, address, ARENATRACE_ORIGIN_USER_FAULT);

		if (c)
			c->faults++;
	}
	return 0;
}

/* copy_to_user() and friends fault on user addresses in kernel mode. */
SEC("tp_btf/page_fault_kernel")
int BPF_PROG(on_page_fault_kernel, unsigned long address, struct pt_regs *regs,
	     unsigned long error_code)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 slot;

	if (address >= 0x800000000000UL)
		return 0;
	slot = slot_of(id >> 32);
	if (slot != NO_SLOT)
		note_fault(slot, (__u32)id, address, ARENATRACE_ORIGIN_KERNEL_FAULT);
	return 0;
}

/* mmap flags (uapi/linux/mman.h, asm-generic/mman-common.h) */
#define MAP_FIXED_FLAG 0x10
#define MAP_FIXED_NOREPLACE_FLAG 0x100000

static __always_inline __u32 tracked_syscall(long id)
{
	/* x86_64 syscall numbers. */
	switch (id) {
	case 9: return ARENATRACE_SYS_MMAP;
	case 11: return ARENATRACE_SYS_MUNMAP;
	case 12: return ARENATRACE_SYS_BRK;
	case 25: return ARENATRACE_SYS_MREMAP;
	case 28: return ARENATRACE_SYS_MADVISE;
	case 10: return ARENATRACE_SYS_MPROTECT;
	case 149: return ARENATRACE_SYS_MLOCK;   /* mlock */
	case 325: return ARENATRACE_SYS_MLOCK;   /* mlock2 */
	default: return 0;
	}
}

/* Faults before a mapping change reach user space before its record, and no
 * run spans the change: the runs in the blocks it changes are sent (all of them
 * for brk and mremap, whose ranges the entry does not tell). A new mapping the
 * kernel places is known at the exit, see on_sys_exit(). */
static __always_inline void flush_before_mapping_change(struct arenatrace_cpu_ctx *c, __u32 sys, struct pt_regs *regs)
{
	__u64 lo = regs->di, len = regs->si;

	switch (sys) {
	case ARENATRACE_SYS_MMAP:
		if (!(regs->r10 & (MAP_FIXED_FLAG | MAP_FIXED_NOREPLACE_FLAG)))
			return;
		break;
	case ARENATRACE_SYS_MUNMAP:
	case ARENATRACE_SYS_MPROTECT:
		break;
	case ARENATRACE_SYS_BRK:
	case ARENATRACE_SYS_MREMAP:
		run_flush(c);
		return;
	default:
		return;
	}
	run_flush_blocks(c, lo, lo + len);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
{
	struct task_ctx *tc;
	struct arenatrace_cpu_ctx *c;
	__u32 sys, slot = current_slot();

	if (slot == NO_SLOT)
		return 0;
	learn_mm(slot);
	sys = tracked_syscall(id);
	tc = current_ctx(sys != 0);
	if (!tc)
		return 0;
	c = this_cpu_ctx();
	if (c && c->tid == (__u32)bpf_get_current_pid_tgid())
		c->fault_origin = 0;
	if (c)
		flush_before_mapping_change(c, sys, regs);
	tc->fault_origin = 0;
	tc->sys = sys;
	if (!sys)
		return 0;
	tc->slot = slot;
	tc->sys_delta = 0;
	tc->sys_flags = 0;
	tc->args[0] = regs->di;
	tc->args[1] = regs->si;
	tc->args[2] = regs->dx;
	tc->args[3] = regs->r10;
	tc->args[4] = regs->r8;
	tc->args[5] = regs->r9;
	return 0;
}

/* Mapping growth (mmap, brk, mremap, mprotect), sampled by bytes for the growth
 * profile. brk's growth is the new break minus the old, which user space knows;
 * here it counts the call's length argument only for the others. */
static __always_inline void sample_growth(void *ctx, struct task_ctx *tc, long ret)
{
	struct arenatrace_slot_cpu *sc = slot_cpu(tc->slot);
	__u64 addr = tc->args[0], len = tc->args[1], weight;

	if (!sc)
		return;
	switch (tc->sys) {
	case ARENATRACE_SYS_MMAP:
		addr = (__u64)ret;
		break;
	case ARENATRACE_SYS_MREMAP:
		addr = (__u64)ret;
		len = tc->args[2] > tc->args[1] ? tc->args[2] - tc->args[1] : 0;
		break;
	case ARENATRACE_SYS_BRK:
		addr = (__u64)ret;
		len = 4096; /* weighted in user space by the break's move */
		break;
	case ARENATRACE_SYS_MPROTECT:
		break;
	default:
		return;
	}
	if (len && sample_due(&sc->map_bytes, &sc->map_next, len, &weight))
		emit_stack(ctx, tc->slot, addr, len, weight, ARENATRACE_STACK_SYSCALL, tc->sys);
}

/* munmap and madvise, sampled by the bytes of their ranges for the release profile. */
static __always_inline void sample_release(void *ctx, struct task_ctx *tc)
{
	struct arenatrace_slot_cpu *sc = slot_cpu(tc->slot);
	__u64 weight;

	if (sc && tc->args[1] && sample_due(&sc->rel_bytes, &sc->rel_next, tc->args[1], &weight))
		emit_stack(ctx, tc->slot, tc->args[0], tc->args[1], weight, ARENATRACE_STACK_SYSCALL, tc->sys);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret)
{
	struct arenatrace_syscall_record *r;
	struct task_ctx *tc;

	if (current_slot() == NO_SLOT)
		return 0;
	tc = current_ctx(false);
	if (!tc)
		return 0;
	tc->fault_origin = 0;
	if (!tc->sys)
		return 0;
	stat_inc(ARENATRACE_STAT_SYSCALLS);
	if (stack_mode && (tc->sys == ARENATRACE_SYS_MADVISE || tc->sys == ARENATRACE_SYS_MUNMAP))
		sample_release(ctx, tc);
	if (tc->sys == ARENATRACE_SYS_MADVISE || tc->sys == ARENATRACE_SYS_MLOCK) {
		/* Residency only, no mapping changes: joins the thread's run of its
		 * block, like a fault. A range over several blocks or past a known
		 * mapping boundary is sent at once, so no run grows into other
		 * mappings. */
		struct arenatrace_cpu_ctx *c = this_cpu_ctx();
		__u64 lo = tc->args[0], hi = tc->args[0] + tc->args[1];

		if (tc->sys_delta && c) {
			__u32 i = run_add(c, tc->slot, (__u32)bpf_get_current_pid_tgid(), lo, hi, tc->sys_delta,
					  ARENATRACE_ORIGIN_SYSCALL | tc->sys_flags);

			if (hi <= lo || !run_covers(&c->runs[i & (ARENATRACE_RUN_SLOTS - 1)], (hi - 1) & ~4095ULL))
				run_send(c, i);
		}
		tc->sys = 0;
		tc->sys_delta = 0;
		tc->sys_flags = 0;
		return 0;
	}
	if ((tc->sys == ARENATRACE_SYS_MMAP || tc->sys == ARENATRACE_SYS_MREMAP) && ret >= 0) {
		__u64 len = tc->sys == ARENATRACE_SYS_MMAP ? tc->args[1] : tc->args[2];
		struct arenatrace_cpu_ctx *c = this_cpu_ctx();

		/* Later runs stop at the new mapping's ends, so each stays in one
		 * mapping (an allocator mapping its arenas side by side). */
		add_boundary(tc->slot, (__u64)ret);
		add_boundary(tc->slot, (__u64)ret + ((len + 4095) & ~4095ULL));
		if (c && tc->sys == ARENATRACE_SYS_MMAP)
			run_flush_blocks(c, (__u64)ret, (__u64)ret + tc->args[1]);
	}
	if (stack_mode && ret >= 0 && tc->sys != ARENATRACE_SYS_MUNMAP)
		sample_growth(ctx, tc, ret);
	r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		stat_inc(ARENATRACE_STAT_LOST);
		tc->sys = 0;
		return 0;
	}
	r->type = ARENATRACE_REC_SYSCALL;
	r->slot = tc->slot;
	r->tid = (__u32)bpf_get_current_pid_tgid();
	r->ts_ns = bpf_ktime_get_ns();
	r->sys = tc->sys;
	r->flags = tc->sys_flags;
	for (int i = 0; i < 6; i++)
		r->args[i] = tc->args[i];
	r->ret = ret;
	r->delta_pages = tc->sys_delta;
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
	tc->sys = 0;
	tc->sys_delta = 0;
	tc->sys_flags = 0;
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct arenatrace_exec_record *r;
	__u32 slot = current_slot();

	if (slot == NO_SLOT)
		return 0;
	/* exec replaced the mm: restart the counters from the new mm's exact values. */
	if (p->mm)
		take_baseline(slot, p->mm);
	r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		stat_inc(ARENATRACE_STAT_LOST);
		return 0;
	}
	r->type = ARENATRACE_REC_EXEC;
	r->slot = slot;
	r->tid = (__u32)bpf_get_current_pid_tgid();
	r->ts_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	bpf_probe_read_kernel_str(r->filename, sizeof(r->filename), BPF_CORE_READ(bprm, filename));
	bpf_ringbuf_submit(r, 0);
	return 0;
}

static __always_inline void emit_task(__u32 slot, __u32 type, __u32 tid, __s32 code)
{
	struct arenatrace_task_record *r;

	r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		stat_inc(ARENATRACE_STAT_LOST);
		return;
	}
	r->type = type;
	r->slot = slot;
	r->tid = tid;
	r->ts_ns = bpf_ktime_get_ns();
	r->exit_code = code;
	r->pad = 0;
	bpf_ringbuf_submit(r, type == ARENATRACE_REC_EXIT ? 0 : BPF_RB_NO_WAKEUP);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p, bool group_dead)
{
	__u32 slot = current_slot();
	struct arenatrace_cpu_ctx *c;

	if (slot == NO_SLOT)
		return 0;
	c = this_cpu_ctx();
	if (c) {
		/* A thread killed after a fault: exit_mmap() may follow here. */
		c->fault_origin = 0;
		run_flush(c);
	}
	if (!group_dead)
		return 0;
	emit_task(slot, ARENATRACE_REC_EXIT, p->pid, p->exit_code);
	return 0;
}

/* A new thread of a target (a new process is not followed). */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 slot = slot_of(child->tgid);

	if (slot == NO_SLOT || child->tgid != parent->tgid)
		return 0;
	emit_task(slot, ARENATRACE_REC_THREAD, child->pid, 0);
	return 0;
}

/* A thread leaving the CPU sends its open runs, so the timeline stays current
 * while it sleeps. Runs for every context switch on the system: only this CPU's
 * context is looked at (it names target threads only). */
SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct task_ctx *tc;
	struct arenatrace_cpu_ctx *c;
	__u32 pid = prev->pid;

	c = this_cpu_ctx();
	if (!c)
		return 0;
	if (c->open_runs)
		run_flush(c);
	if (c->fault_origin && c->tid == pid) {
		/* A fault sleeping (on I/O, a lock): it may finish on another CPU. */
		tc = bpf_task_storage_get(&task_ctxs, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (tc) {
			tc->fault_addr = c->fault_addr;
			tc->fault_origin = c->fault_origin;
		}
		c->fault_origin = 0;
	}
	return 0;
}
