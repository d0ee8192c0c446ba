// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Heap mode (--heap): the allocator's live bytes, measured from outside the
 * process with uprobes on its entry points (user/heap_attach.c chooses them).
 * One entry program and one return program serve every function: the BPF
 * cookie of each attachment says what the function does (see heap_records.h).
 *
 * Live bytes are summed per 4 KiB page of each block's first byte (user space
 * maps pages to arenas every interval); a hash of live blocks gives a free its
 * size. Exact mode keeps every block; sampled mode (heap_sample_bytes > 0) keeps
 * one block per heap_sample_bytes allocated (a randomised threshold per thread)
 * standing for all the bytes allocated since the previous one, so totals are
 * unbiased. Only kept blocks' frees matter.
 *
 * Nesting: allocators call their own entry points (glibc's realloc(NULL, n)
 * calls malloc, operator new calls malloc). Only the outermost call of a thread
 * counts: a call is nested when the thread is inside a probed call whose entry
 * stack pointer is above this one. A tail call (same stack pointer) replaces it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "arenatrace_records.h"
#include "heap_records.h"
#include "stack_sample.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by user space before load. */
const volatile __u32 target_tgid = 0;
const volatile __u64 heap_sample_bytes = 0;   /* 0: exact */
const volatile __u32 stack_mode = 0;          /* 0 off, else enum arenatrace_stack_mode */
const volatile __u64 stack_sample_bytes = 512 * 1024;   /* exact mode: one stack per this many bytes */

/*
 * The target's image: bumped at exec, in the kernel, so blocks of the new image
 * never meet the old image's (their keys carry it; user space drops stale
 * pages). And the epoch, bumped by user space now and then: a page's sum only
 * grows in the current epoch, so an older epoch's entry that reached 0 stays 0
 * and user space deletes it (the page map does not fill up over a long run).
 * Keys: a block's address | gen << 48; a page's number (addresses are below
 * 2^48) | epoch << 36 | gen << 50, remembered in its block.
 */
__u64 heap_gen;
__u64 heap_epoch;

#define BLOCK_KEY(addr) ((addr) | (heap_gen << 48))
#define PAGE_KEY(addr) ((((addr) >> 12) & ARENATRACE_HEAP_PAGE_MASK) | \
			((heap_epoch & ARENATRACE_HEAP_EPOCH_MASK) << ARENATRACE_HEAP_EPOCH_SHIFT) | \
			((heap_gen & ARENATRACE_HEAP_GEN_MASK) << ARENATRACE_HEAP_GEN_SHIFT))

/* A free inside a free comes within microseconds (a few probe hits). */
#define FREE_NEST_NS 100000ULL

/* What one thread is doing inside a probed call, and its sampling counters. */
struct heap_thread {
	__u64 sp;             /* stack pointer at the outermost call's entry */
	__u64 size;
	__u64 ptr;            /* the pointer argument */
	__u64 extra;          /* xallocx's extra */
	__u64 cookie;
	__u32 active;
	__u32 old_kept;       /* realloc: the old block was taken out at entry */
	struct arenatrace_heap_block old;   /* ... and this was it */
	/* The last free-like entry (they have no return probe to track nesting
	 * with): a free of the same block deeper down, right after it with no
	 * other probed call between, is the same free passed on (operator delete
	 * calling free, a prefixed sdallocx wrapping free). Getting it wrong the
	 * other way only counts an unknown free. */
	__u64 last_free_ptr, last_free_sp, last_free_ns;
	__u64 sample_acc, sample_next;
	__u64 stack_acc, stack_next;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct heap_thread);
} threads SEC(".maps");

/* Live blocks by address; max_entries set by user space (more when exact). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 21);
	__type(key, __u64);
	__type(value, struct arenatrace_heap_block);
} blocks SEC(".maps");

/* Live bytes by page number (address >> 12) of each block's first byte. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 20);
	__type(key, __u64);
	__type(value, __s64);
} pages SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	/* DWARF stack samples are 8 KiB each: room for a burst between two reads. */
	__uint(max_entries, 16 << 20);
} heap_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ARENATRACE_HEAP_STAT_NR);
	__type(key, __u32);
	__type(value, __u64);
} heap_stats SEC(".maps");

/* The record arenatrace.bpf.c's stacks use, in our own ring. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stack_scratch);
} heap_stack_scratch SEC(".maps");

static __always_inline void stat_add(__u32 which, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&heap_stats, &which);

	if (v)
		*v += n;
}

/* Argument i (0-based). All six are loaded at fixed offsets first: the verifier
 * refuses a context pointer moved by a variable amount, which a switch over
 * the loads compiles into. */
static __always_inline __u64 arg_of(struct pt_regs *ctx, __u32 i)
{
	__u64 a0 = PT_REGS_PARM1(ctx), a1 = PT_REGS_PARM2(ctx), a2 = PT_REGS_PARM3(ctx);
	__u64 a3 = PT_REGS_PARM4(ctx), a4 = PT_REGS_PARM5(ctx), a5 = ctx->r9; /* no PARM6 in libbpf 1.1 */

	barrier_var(a0);
	barrier_var(a1);
	barrier_var(a2);
	barrier_var(a3);
	barrier_var(a4);
	barrier_var(a5);
	switch (i) {
	case 0: return a0;
	case 1: return a1;
	case 2: return a2;
	case 3: return a3;
	case 4: return a4;
	case 5: return a5;
	}
	return 0;
}

/* Uniform in [n/2, 3n/2): the mean is n, and no periodic pattern aliases with it. */
static __always_inline __u64 next_threshold(__u64 n)
{
	__u64 r = ((__u64)bpf_get_prandom_u32() << 32) | bpf_get_prandom_u32();

	return n ? n / 2 + r % n : 0;
}

static __always_inline struct heap_thread *thread_get(__u32 tid)
{
	struct heap_thread *t = bpf_map_lookup_elem(&threads, &tid);
	struct heap_thread fresh = {};

	if (t)
		return t;
	fresh.sample_next = next_threshold(heap_sample_bytes);
	fresh.stack_next = next_threshold(heap_sample_bytes ? heap_sample_bytes : stack_sample_bytes);
	bpf_map_update_elem(&threads, &tid, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&threads, &tid);
}

static __always_inline bool page_add(__u64 key, __s64 delta)
{
	__s64 zero = 0, *v = bpf_map_lookup_elem(&pages, &key);

	if (!v) {
		bpf_map_update_elem(&pages, &key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&pages, &key);
		if (!v) {
			stat_add(ARENATRACE_HEAP_STAT_PAGES_FULL, 1);
			return false;
		}
	}
	__sync_fetch_and_add(v, delta);
	return true;
}

static __always_inline void emit_free(__u64 addr, __u64 stack_weight)
{
	struct arenatrace_heap_free_record r = {
		.type = ARENATRACE_HEAP_REC_FREE,
		.tid = (__u32)bpf_get_current_pid_tgid(),
		.addr = addr,
		.stack_weight = stack_weight,
	};

	if (bpf_ringbuf_output(&heap_events, &r, sizeof(r), BPF_RB_NO_WAKEUP))
		stat_add(ARENATRACE_HEAP_STAT_LOST, 1);
}

/* A stack sample at the allocation's return: the leaf frame is its caller. */
static __always_inline void emit_stack(struct pt_regs *ctx, __u64 addr, __u64 weight)
{
	struct stack_scratch *sc;
	__u32 zero = 0;
	long size;

	sc = bpf_map_lookup_elem(&heap_stack_scratch, &zero);
	if (!sc)
		return;
	sc->r.type = ARENATRACE_REC_STACK;
	sc->r.tid = (__u32)bpf_get_current_pid_tgid();
	sc->r.ts_ns = bpf_ktime_get_ns();
	sc->r.addr = addr;
	sc->r.len = 0;
	sc->r.weight_bytes = weight;
	sc->r.event = ARENATRACE_HEAP_STACK_EVENT;
	sc->r.sys = 0;
	sc->r.regs[0] = PT_REGS_IP(ctx);
	sc->r.regs[1] = PT_REGS_SP(ctx);
	sc->r.regs[2] = PT_REGS_FP(ctx);
	size = stack_sample_fill(ctx, sc, stack_mode);
	if (bpf_ringbuf_output(&heap_events, sc, size & 0xffff, BPF_RB_NO_WAKEUP))
		stat_add(ARENATRACE_HEAP_STAT_LOST, 1);
}

/* Takes a block out of the live set; false when it was not there. */
static __always_inline bool block_take(__u64 addr, struct arenatrace_heap_block *out)
{
	__u64 key = BLOCK_KEY(addr);
	struct arenatrace_heap_block *b = bpf_map_lookup_elem(&blocks, &key);

	if (!b)
		return false;
	*out = *b;
	if (bpf_map_delete_elem(&blocks, &key))
		return false;   /* another thread took it first (a double free) */
	page_add(out->page_key, -(__s64)out->weight);
	if (out->stack_weight)
		emit_free(addr, out->stack_weight);
	return true;
}

static __always_inline void block_free(__u64 addr)
{
	struct arenatrace_heap_block b;

	if (!addr)
		return;
	stat_add(ARENATRACE_HEAP_STAT_FREES, 1);
	if (!block_take(addr, &b) && !heap_sample_bytes)
		stat_add(ARENATRACE_HEAP_STAT_UNKNOWN_FREES, 1);
}

/* Puts a block back as it was (a realloc that failed). */
static __always_inline void block_restore(__u64 addr, struct arenatrace_heap_block *b)
{
	__u64 key = BLOCK_KEY(addr);

	b->stack_weight = 0;   /* its stack sample was withdrawn from the profile */
	if (bpf_map_update_elem(&blocks, &key, b, BPF_NOEXIST))
		return;
	page_add(b->page_key, (__s64)b->weight);
}

static __always_inline void block_alloc(struct pt_regs *ctx, struct heap_thread *t, __u64 addr, __u64 size)
{
	struct arenatrace_heap_block b = { .size = size, .page_key = PAGE_KEY(addr) }, old;
	__u64 weight = size, key = BLOCK_KEY(addr);

	stat_add(ARENATRACE_HEAP_STAT_ALLOCS, 1);
	stat_add(ARENATRACE_HEAP_STAT_ALLOC_BYTES, size);
	if (heap_sample_bytes) {
		t->sample_acc += size;
		if (t->sample_acc < t->sample_next)
			return;
		weight = t->sample_acc;
		t->sample_acc = 0;
		t->sample_next = next_threshold(heap_sample_bytes);
		if (stack_mode)
			b.stack_weight = weight;
	} else if (stack_mode) {
		t->stack_acc += size;
		if (t->stack_acc >= t->stack_next) {
			b.stack_weight = t->stack_acc;
			t->stack_acc = 0;
			t->stack_next = next_threshold(stack_sample_bytes);
		}
	}
	b.weight = weight;
	/* Still live at this address: its free went unseen (an unprobed path). */
	if (block_take(addr, &old))
		stat_add(ARENATRACE_HEAP_STAT_REPLACED, 1);
	if (bpf_map_update_elem(&blocks, &key, &b, BPF_NOEXIST)) {
		stat_add(ARENATRACE_HEAP_STAT_BLOCKS_FULL, 1);
		return;
	}
	if (!page_add(b.page_key, (__s64)weight)) {
		bpf_map_delete_elem(&blocks, &key);
		return;
	}
	stat_add(ARENATRACE_HEAP_STAT_SAMPLED, 1);
	if (b.stack_weight)
		emit_stack(ctx, addr, b.stack_weight);
}

SEC("uprobe")
int heap_enter(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), c, sp, n;
	struct heap_thread *t;
	__u32 cls, i;

	if ((__u32)(id >> 32) != target_tgid)
		return 0;
	t = thread_get((__u32)id);
	if (!t)
		return 0;
	sp = PT_REGS_SP(ctx);
	if (t->active && t->sp > sp) {
		stat_add(ARENATRACE_HEAP_STAT_NESTED, 1);
		return 0;
	}
	/* Not nested: an older active state is a call that never returned here
	 * (longjmp out of it) or the caller of a tail call. */
	t->active = 0;
	c = bpf_get_attach_cookie(ctx);
	cls = ARENATRACE_HEAP_CLASS(c);
	i = ARENATRACE_HEAP_PTR_ARG(c);
	t->ptr = i != ARENATRACE_HEAP_NONE ? arg_of(ctx, i) : 0;
	if (cls == ARENATRACE_HEAP_FREE) {
		__u64 now = bpf_ktime_get_ns();

		if (t->ptr && t->ptr == t->last_free_ptr && sp < t->last_free_sp &&
		    now - t->last_free_ns < FREE_NEST_NS) {
			stat_add(ARENATRACE_HEAP_STAT_NESTED, 1);
			return 0;
		}
		t->last_free_ptr = t->ptr;
		t->last_free_sp = sp;
		t->last_free_ns = now;
		block_free(t->ptr);
		return 0;
	}
	t->last_free_ptr = 0;
	t->size = arg_of(ctx, ARENATRACE_HEAP_SIZE_ARG(c));
	i = ARENATRACE_HEAP_COUNT_ARG(c);
	if (i != ARENATRACE_HEAP_NONE) {
		n = arg_of(ctx, i);
		/* Without 128-bit multiplies: a product that may overflow makes the
		 * call fail anyway, except with a factor of 1. */
		if (!((n | t->size) >> 32))
			t->size *= n;
		else if (t->size == 1)
			t->size = n;
		else if (n != 1)
			t->size = 0;
	}
	t->extra = cls == ARENATRACE_HEAP_XALLOCX ? arg_of(ctx, 2) : 0;
	t->old_kept = 0;
	if (cls == ARENATRACE_HEAP_REALLOC && t->ptr) {
		/* Taken out now, before the allocator can hand the address to
		 * another thread; put back if the realloc fails. */
		stat_add(ARENATRACE_HEAP_STAT_FREES, 1);
		if (block_take(t->ptr, &t->old))
			t->old_kept = 1;
		else if (!heap_sample_bytes)
			stat_add(ARENATRACE_HEAP_STAT_UNKNOWN_FREES, 1);
	}
	t->cookie = c;
	t->sp = sp;
	t->active = 1;
	return 0;
}

SEC("uretprobe")
int heap_exit(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), ret, p = 0, key;
	struct arenatrace_heap_block *b;
	struct heap_thread *t;
	__u32 tid = (__u32)id;

	if ((__u32)(id >> 32) != target_tgid)
		return 0;
	t = bpf_map_lookup_elem(&threads, &tid);
	/* After the return the stack pointer is above the entry's; a nested
	 * call returns below it. */
	if (!t || !t->active || PT_REGS_SP(ctx) <= t->sp)
		return 0;
	t->active = 0;
	ret = PT_REGS_RC(ctx);
	switch (ARENATRACE_HEAP_CLASS(t->cookie)) {
	case ARENATRACE_HEAP_ALLOC:
		if (ret)
			block_alloc(ctx, t, ret, t->size);
		break;
	case ARENATRACE_HEAP_REALLOC:
		if (ret)
			block_alloc(ctx, t, ret, t->size);
		else if (t->size && t->old_kept)
			block_restore(t->ptr, &t->old);   /* failed: the old block stays */
		/* realloc(p, 0) returning NULL freed p (glibc, jemalloc). */
		break;
	case ARENATRACE_HEAP_MEMALIGN:
		if ((int)ret == 0 && t->ptr && !bpf_probe_read_user(&p, sizeof(p), (void *)t->ptr) && p)
			block_alloc(ctx, t, p, t->size);
		break;
	case ARENATRACE_HEAP_XALLOCX:
		/* Resized in place when the usable size reached the request. */
		key = BLOCK_KEY(t->ptr);
		b = t->ptr ? bpf_map_lookup_elem(&blocks, &key) : NULL;
		if (b && !heap_sample_bytes && ret >= t->size) {
			__u64 want = t->size + t->extra, now = ret < want ? ret : want;

			page_add(b->page_key, (__s64)now - (__s64)b->size);
			b->weight += now - b->size;
			b->size = now;
		}
		break;
	}
	return 0;
}

/* A new image: its blocks start a new generation (see heap_gen). */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(heap_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	if ((__u32)(bpf_get_current_pid_tgid() >> 32) == target_tgid)
		__sync_fetch_and_add(&heap_gen, 1);
	return 0;
}
