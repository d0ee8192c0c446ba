/*
 * DWARF unwinding of a copied user stack (ARENATRACE_STACK_DWARF records).
 * Debian's glibc has no frame pointers, so a frame-pointer walk ends at the
 * first libc frame; the CFI in .eh_frame/.debug_frame does not. Uses the
 * modules the symbolizer reported for the target (and keeps working after the
 * target exited, from those).
 */
#ifndef ARENATRACE_UNWIND_H
#define ARENATRACE_UNWIND_H

#include <stddef.h>
#include <stdint.h>

struct symbolizer;

/*
 * Unwinds from regs = { user ip, sp, bp } at the event, reading only the
 * stack_len bytes copied from sp upward (a read outside them ends the walk).
 * Stores at most max_ips addresses in ips: ips[0] = regs[0], then the raw return
 * addresses (symbolize those with symbolizer__resolve_frame(.., true, ..)).
 * Returns the number stored, at least 1 when max_ips >= 1; -EINVAL on bad
 * arguments.
 */
int unwind__stack(struct symbolizer *s, const uint64_t regs[3], const void *stack,
		  size_t stack_len, uint64_t *ips, int max_ips);

#endif
