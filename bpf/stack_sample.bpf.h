/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The user-stack part of a stack sample, shared by arenatrace.bpf.c (faults,
 * mapping syscalls) and heap.bpf.c (allocations): frame-pointer ips, or the
 * registers' top of the stack copied for DWARF unwinding in user space.
 * Include after vmlinux.h, the libbpf headers and arenatrace_records.h.
 */
#ifndef ARENATRACE_STACK_SAMPLE_BPF_H
#define ARENATRACE_STACK_SAMPLE_BPF_H

/* Where a stack record is built before it is sent (too big for the BPF stack). */
struct stack_scratch {
	struct arenatrace_stack_record r;
	__u8 data[ARENATRACE_STACK_COPY];
};

/* Fills sc->r's mode, nr_ips and stack_len and sc->data from the user stack whose
 * ip, sp and bp the caller put in sc->r.regs; returns the record's size. */
static __always_inline long stack_sample_fill(void *ctx, struct stack_scratch *sc, __u32 mode)
{
	long n, size = sizeof(sc->r);

	sc->r.mode = mode;
	sc->r.nr_ips = 0;
	sc->r.stack_len = 0;
	sc->r.pad = 0;
	if (mode == ARENATRACE_STACK_FP) {
		n = bpf_get_stack(ctx, sc->data, ARENATRACE_MAX_FRAMES * 8, BPF_F_USER_STACK);
		if (n > 0) {
			sc->r.nr_ips = n / 8;
			size += n & (ARENATRACE_MAX_FRAMES * 8 - 1 | ARENATRACE_MAX_FRAMES * 8);
		}
	} else {
		/* From sp up to the callers' frames. The copy fails as a whole when it
		 * runs past the end of the stack mapping (the main thread's frames sit
		 * a few KiB below it, how many varies with ASLR): halve until it fits. */
		__u32 want = ARENATRACE_STACK_COPY;

		for (int i = 0; i < 5; i++, want /= 2) {
			if (!bpf_probe_read_user(sc->data, want & (ARENATRACE_STACK_COPY * 2 - 1),
						 (void *)sc->r.regs[1])) {
				sc->r.stack_len = want;
				break;
			}
		}
		size += sc->r.stack_len;
	}
	return size > (long)sizeof(*sc) ? (long)sizeof(*sc) : size;
}

#endif
