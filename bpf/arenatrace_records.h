/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Record layouts shared by the BPF programs and the user-space loader.
 * Self-contained on purpose: included from vmlinux.h-based BPF code and from
 * plain C, so it uses only __u32/__u64 style types from linux/types.h there.
 */
#ifndef ARENATRACE_RECORDS_H
#define ARENATRACE_RECORDS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define ARENATRACE_PAGE_SHIFT 12
#define ARENATRACE_MAX_CPUS 512
#define ARENATRACE_COMM_LEN 16
#define ARENATRACE_PATH_LEN 128

/*
 * Targets followed at once (the agent); a single traced process is slot 0. Every
 * record starts with a u16 type and the u16 slot of the target it belongs to
 * (recordings made when the type was a u32 read as slot 0).
 */
#define ARENATRACE_MAX_TARGETS 64

/* Leading field of every ring-buffer record. */
enum arenatrace_record_type {
	ARENATRACE_REC_RSS = 1,     /* RSS counter changed outside a tracked syscall */
	ARENATRACE_REC_SYSCALL = 2, /* a tracked syscall returned */
	ARENATRACE_REC_EXEC = 3,    /* the target exec'd: new mm */
	ARENATRACE_REC_EXIT = 4,    /* the target's thread group is dead */
	ARENATRACE_REC_THREAD = 5,  /* a thread was created in the target */
	ARENATRACE_REC_FAULT_RUN = 6, /* RSS made resident by a thread's faults in one 2 MiB block */
	ARENATRACE_REC_STACK = 7,   /* a sampled user stack (see struct arenatrace_stack_record) */
};

/* What a stack sample was taken for. */
enum arenatrace_stack_event {
	ARENATRACE_STACK_FAULT = 1,   /* a fault that made memory resident */
	ARENATRACE_STACK_SYSCALL = 2, /* a mapping syscall; sys says which */
};

enum arenatrace_stack_mode {
	ARENATRACE_STACK_FP = 1,      /* ips[] from frame pointers (bpf_get_stack) */
	ARENATRACE_STACK_DWARF = 2,   /* regs + a copy of the top of the user stack, unwound later */
};

#define ARENATRACE_MAX_FRAMES 64
#define ARENATRACE_STACK_COPY 8192

/*
 * A sampled user stack. Faults are sampled by bytes made resident (one sample per
 * --sample-bytes, standing for weight_bytes); mapping syscalls are all sampled.
 * Variable size: the header, then nr_ips u64 ips (FP) or stack_len bytes (DWARF).
 */
struct arenatrace_stack_record {
	__u16 type;           /* ARENATRACE_REC_STACK */
	__u16 slot;           /* the target (see ARENATRACE_MAX_TARGETS) */
	__u32 tid;
	__u64 ts_ns;
	__u64 addr;           /* fault address, or the syscall's range start */
	__u64 len;            /* the syscall's range length; 0 for faults */
	__u64 weight_bytes;   /* bytes this sample stands for */
	__u32 event;          /* enum arenatrace_stack_event */
	__u32 sys;            /* enum arenatrace_syscall for ARENATRACE_STACK_SYSCALL */
	__u32 mode;           /* enum arenatrace_stack_mode */
	__u32 nr_ips;         /* FP: ips that follow */
	__u32 stack_len;      /* DWARF: bytes of stack that follow */
	__u32 pad;
	__u64 regs[3];        /* DWARF: user ip, sp, bp at the event */
	/* __u64 ips[nr_ips] or __u8 stack[stack_len] follows */
};
_Static_assert(sizeof(struct arenatrace_stack_record) == 88, "stack record size");

/* Where an RSS change happened, as far as the kernel side could tell. */
enum arenatrace_rss_origin {
	ARENATRACE_ORIGIN_USER_FAULT = 1,   /* after exceptions:page_fault_user at addr */
	ARENATRACE_ORIGIN_KERNEL_FAULT = 2, /* kernel touched a user address (copy_to_user) */
	ARENATRACE_ORIGIN_UNKNOWN = 3,      /* no address: reclaim, other task, untracked syscall */
	ARENATRACE_ORIGIN_SYSCALL = 4,      /* madvise or mlock on a range */
};

/* Syscalls whose range and result the ledger needs. */
enum arenatrace_syscall {
	ARENATRACE_SYS_MMAP = 1,
	ARENATRACE_SYS_MUNMAP = 2,
	ARENATRACE_SYS_BRK = 3,
	ARENATRACE_SYS_MREMAP = 4,
	ARENATRACE_SYS_MADVISE = 5,
	ARENATRACE_SYS_MPROTECT = 6,
	ARENATRACE_SYS_MLOCK = 7,
};

/*
 * Set on a record whose delta may hold another thread's concurrent change (two
 * CPUs folding their per-CPU RSS counts at once, or a task migrating between the
 * counter update and the tracepoint). Totals stay exact; user space re-reads the
 * page tables to place the pages (reported as drift).
 */
#define ARENATRACE_UNCERTAIN 0x100

struct arenatrace_rss_record {
	__u16 type;         /* ARENATRACE_REC_RSS */
	__u16 slot;         /* the target (see ARENATRACE_MAX_TARGETS) */
	__u32 tid;
	__u64 ts_ns;        /* CLOCK_MONOTONIC */
	__u64 addr;         /* faulting address, 0 when origin is UNKNOWN */
	__s64 delta_pages;  /* change of the RSS counter, in pages */
	__u32 member;       /* kernel's MM_FILEPAGES/MM_ANONPAGES/MM_SHMEMPAGES */
	__u32 origin;       /* enum arenatrace_rss_origin */
};
_Static_assert(sizeof(struct arenatrace_rss_record) == 40, "rss record size");
_Static_assert(__builtin_offsetof(struct arenatrace_rss_record, delta_pages) == 24, "rss delta");

/*
 * What one thread made resident or released in one 2 MiB-aligned block, summed in
 * the kernel and sent once: when the thread works in another block, enters a
 * syscall that changes mappings, is switched out or exits. Faults and the
 * residency-only syscalls (madvise, mlock) go here; [lo, hi) spans their
 * addresses (fault-around and THP may map pages around a fault, inside the same
 * mapping).
 */
struct arenatrace_run_record {
	__u16 type;           /* ARENATRACE_REC_FAULT_RUN */
	__u16 slot;           /* the target (see ARENATRACE_MAX_TARGETS) */
	__u32 tid;
	__u64 ts_ns;          /* when the run was sent */
	__u64 lo, hi;
	__u64 first_ns;       /* when its first event happened */
	__u64 added_pages;    /* made resident (file+anon+shmem) */
	__u64 removed_pages;  /* released */
	__u32 events;         /* rss_stat events and syscalls summed */
	__u32 origin;         /* enum arenatrace_rss_origin of the first one, | ARENATRACE_UNCERTAIN */
};
_Static_assert(sizeof(struct arenatrace_run_record) == 64, "run record size");
_Static_assert(__builtin_offsetof(struct arenatrace_run_record, added_pages) == 40, "run added");

struct arenatrace_syscall_record {
	__u16 type;          /* ARENATRACE_REC_SYSCALL */
	__u16 slot;          /* the target (see ARENATRACE_MAX_TARGETS) */
	__u32 tid;
	__u64 ts_ns;         /* at syscall exit */
	__u32 sys;           /* enum arenatrace_syscall */
	__u32 flags;         /* ARENATRACE_UNCERTAIN */
	__u64 args[6];
	__s64 ret;
	__s64 delta_pages;   /* RSS change (file+anon+shmem) made inside the syscall */
};
_Static_assert(sizeof(struct arenatrace_syscall_record) == 88, "syscall record size");
_Static_assert(__builtin_offsetof(struct arenatrace_syscall_record, args) == 24, "syscall args");

struct arenatrace_exec_record {
	__u16 type;          /* ARENATRACE_REC_EXEC */
	__u16 slot;          /* the target (see ARENATRACE_MAX_TARGETS) */
	__u32 tid;
	__u64 ts_ns;
	char comm[ARENATRACE_COMM_LEN];
	char filename[ARENATRACE_PATH_LEN];
};
_Static_assert(sizeof(struct arenatrace_exec_record) == 160, "exec record size");

struct arenatrace_task_record {
	__u16 type;          /* ARENATRACE_REC_EXIT or ARENATRACE_REC_THREAD */
	__u16 slot;          /* the target (see ARENATRACE_MAX_TARGETS) */
	__u32 tid;           /* the new thread, or the exiting leader */
	__u64 ts_ns;
	__s32 exit_code;     /* kernel's task->exit_code (wait status), EXIT only */
	__u32 pad;
};
_Static_assert(sizeof(struct arenatrace_task_record) == 24, "task record size");

/* Per-target state the BPF side keeps, read-mostly (written when the mm is first
 * seen or replaced by exec), so the hot paths of every CPU can keep it cached. */
struct arenatrace_target_state {
	__u64 mm;                 /* kernel address of the target's mm_struct, 0 until seen */
	__s64 base_pages[4];      /* exact counter values when mm was seen, per member */
	__u64 baseline_set;       /* 1 once base_pages holds real values */
	__u64 mm_ctx_id;          /* mm->context.ctx_id, for the agent's mm filter */
};

/* The per-CPU statistics. Those below ARENATRACE_STAT_IN_ARRAY index struct
 * arenatrace_cpu_ctx.stats; the two every fault counts are fields on its first
 * line (faults, rss_events), so stats[] has no entry for them. */
enum arenatrace_stat {
	ARENATRACE_STAT_LOST = 0,        /* ring buffer reserve failed */
	ARENATRACE_STAT_SYSCALLS,        /* tracked syscalls of the target */
	ARENATRACE_STAT_RUNS,            /* fault runs sent */
	ARENATRACE_STAT_IN_ARRAY,
	ARENATRACE_STAT_RSS_EVENTS = ARENATRACE_STAT_IN_ARRAY, /* rss_stat hits for the target's mm */
	ARENATRACE_STAT_FAULTS,          /* user page faults of the target */
	ARENATRACE_STAT_NR,
};

/*
 * Per target and per CPU (a per-CPU array indexed by slot), for stack sampling by
 * bytes: bytes since the last sample and the next threshold, for faults, mapping
 * growth and releases.
 */
struct arenatrace_slot_cpu {
	__u64 fault_bytes, fault_next, map_bytes, map_next, rel_bytes, rel_next;
};

/*
 * Per target and per CPU: what only that CPU writes, so two threads of a target
 * on two CPUs never share a cache line. The target's RSS counter value is
 * base_pages + the sum over CPUs of moved.
 */
struct arenatrace_count_cpu {
	__s64 local[4];           /* last seen value of this CPU's part of each RSS counter */
	__s64 moved[4];           /* pages this CPU's events moved each counter since the base */
};

/* A fault run covers at most one 2 MiB block (address >> this). */
#define ARENATRACE_RUN_BLOCK_SHIFT 21
#define ARENATRACE_BLOCK_PAGES (1U << (ARENATRACE_RUN_BLOCK_SHIFT - 12))

/* The start of addr's block. */
static inline __u64 arenatrace_block_start(__u64 addr)
{
	return addr & ~((1ULL << ARENATRACE_RUN_BLOCK_SHIFT) - 1);
}

/* The page index of addr inside its block (0: the block's first page). */
static inline __u32 arenatrace_block_page(__u64 addr)
{
	return (addr >> 12) & (ARENATRACE_BLOCK_PAGES - 1);
}

/*
 * An open run in the kernel: the RSS changes of the CPU's run owner in one 2 MiB
 * block (lo's) or the part of it between known mapping boundaries, summed until
 * sent as a struct arenatrace_run_record. 64 bytes.
 */
struct arenatrace_open_run {
	/* What a fault joining the run reads and writes, together. */
	__u32 events;
	/* The part of the block the run may cover, [span_lo, span_lo + span_len):
	 * the block cut at known mapping boundaries (see splits). */
	__u32 span_len;
	__u64 span_lo;
	__u64 lo, hi, added;
	__u32 origin;
	__u32 epoch;              /* run_epoch when opened: sent once user space has polled since */
	__u64 removed, first_ns;
};

/*
 * Known mapping boundaries inside a 2 MiB block of a target (the BPF map
 * `splits`, keyed by block and slot): a run never crosses one, so its pages
 * belong to one mapping. Page offsets from the block's start, 0 = empty; a
 * block with more boundaries than fit forgets the oldest.
 */
#define ARENATRACE_SPLIT_OFFS 7
struct arenatrace_split_key {
	__u64 block;              /* address >> ARENATRACE_RUN_BLOCK_SHIFT */
	__u32 slot;
	__u32 pad;
};

struct arenatrace_split {
	__u16 offs[ARENATRACE_SPLIT_OFFS];
	__u16 next;               /* the entry replaced when all are used */
};

static inline struct arenatrace_split_key arenatrace_split_key_of(__u32 slot, __u64 addr)
{
	struct arenatrace_split_key k = { .block = addr >> ARENATRACE_RUN_BLOCK_SHIFT, .slot = slot };

	return k;
}

/* Adds the boundary at addr to sp (both sides use it); false when it is a
 * block's start (no boundary inside) or already there. */
static inline int arenatrace_split_add(struct arenatrace_split *sp, __u64 addr)
{
	__u16 off = arenatrace_block_page(addr);
	__u32 i;

	if (!off)
		return 0;
	for (i = 0; i < ARENATRACE_SPLIT_OFFS; i++)
		if (sp->offs[i] == off)
			return 0;
	i = sp->next;
	if (i >= ARENATRACE_SPLIT_OFFS)
		i = 0;
	sp->offs[i] = off;
	sp->next = i + 1;
	return 1;
}

/* Open runs per CPU. A thread whose faults cycle through a few blocks (an
 * allocator reusing scattered free chunks) keeps one run per block instead of
 * sending a record at every change of block: 8 cover churn's pattern. */
#define ARENATRACE_RUN_SLOTS 8

/*
 * The kernel side's state per CPU (element i of the array map cpu_ctxs is CPU
 * i's). The hot path's state lives per CPU, not per task: an array lookup is
 * cheaper than task storage, and a thread cannot leave a CPU without a context
 * switch, where on_switch() sends its runs and moves a pending fault address to
 * its task storage (a fault that sleeps on I/O finishes elsewhere).
 * A fault touches the first 64 bytes (where it is also counted), its run, its
 * target's counts and one counter, each a cache line of its own: the map is
 * mmapable, so its values are page-aligned, and the struct is a multiple of 64
 * bytes. (A per-CPU map's
 * values are only 8-byte aligned, so each of those spanned two lines: 5-9 ns
 * more per fault here; and a second map's element, another per-CPU area, cost
 * 20-35 ns more.) User space reads stats and counts.
 */
struct arenatrace_cpu_ctx {
	__u32 tid;                /* the thread whose fault is pending here */
	__u16 fault_origin;       /* 0: none */
	__u16 fault_slot;         /* its target's slot */
	__u64 fault_addr;
	__u64 fault_mm;           /* its target's mm */
	__u64 pcpu_off;           /* this CPU's per-CPU area offset */
	__u16 last_run;           /* the run used last, looked at first */
	__u16 pcpu_known;         /* pcpu_off is set */
	__u32 run_tid;            /* the thread the open runs belong to */
	__u32 run_slot;           /* and its target */
	__u32 open_runs;          /* bit i: runs[i] is open */
	/* The statistics every fault counts, on the line it already writes (a
	 * line of their own cost about 0.1% of a fault-bound target's time). */
	__u64 faults;             /* ARENATRACE_STAT_FAULTS */
	__u64 rss_events;         /* ARENATRACE_STAT_RSS_EVENTS */
	struct arenatrace_open_run runs[ARENATRACE_RUN_SLOTS];
	struct arenatrace_count_cpu counts[ARENATRACE_MAX_TARGETS];
	__u64 stats[ARENATRACE_STAT_IN_ARRAY]; /* the others (enum arenatrace_stat) */
	__u32 run_blocks[ARENATRACE_RUN_SLOTS]; /* each open run's block (low 32 bits), for the search */
	__u32 next_evict;         /* the run sent when a ninth block comes */
	__u32 next_stale;         /* the run run_send_stale() looks at next */
} __attribute__((aligned(64)));
/* The layout the comment above relies on. */
_Static_assert(sizeof(struct arenatrace_open_run) == 64, "open run size");
_Static_assert(__builtin_offsetof(struct arenatrace_cpu_ctx, runs) == 64, "hot fields in the first 64 bytes");
_Static_assert(__builtin_offsetof(struct arenatrace_cpu_ctx, counts) % 64 == 0, "counts on their own lines");
_Static_assert(sizeof(struct arenatrace_count_cpu) == 64, "one line per target's counts");

/* Per target: the RSS counters' `count` at the last fold seen (a cache line
 * each, written on folds only). */
struct arenatrace_count_shadow {
	__s64 count[4];
	__s64 pad[4];
};

/* The agent's first filter (see tgid_filter in the BPF source): a byte per index. */
#define ARENATRACE_FILTER_SIZE 65536

static inline unsigned arenatrace_tgid_filter_index(__u32 tgid)
{
	return tgid & (ARENATRACE_FILTER_SIZE - 1);
}

/* Of an mm's x86 context id (unique per mm, counting up). */
static inline unsigned arenatrace_mm_filter_index(__u64 mm_ctx_id)
{
	return (unsigned)mm_ctx_id & (ARENATRACE_FILTER_SIZE - 1);
}

/* The slot of a ring-buffer record (every record starts with type, slot). */
static inline unsigned arenatrace_record_slot(const void *rec)
{
	return ((const __u16 *)rec)[1];
}


#endif /* ARENATRACE_RECORDS_H */
