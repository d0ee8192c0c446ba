// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unwinds copied user stacks with libdwfl's unwinder; see unwind.h. */
#include <elf.h>
#include <errno.h>
#include <string.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>

#include "symbolizer.h"
#include "unwind.h"

/* x86_64 DWARF register numbers (System V psABI, figure 3.36). */
#define DWARF_RBP 6
#define DWARF_RSP 7

/* The stack being unwound now. libdwfl fixes its callbacks' argument once per
 * Dwfl, at attach time, while the copy changes with every call: the callbacks
 * read it from here, set only for the duration of one unwind__stack. */
struct unwind_copy {
	uint64_t ip, sp, bp;
	const unsigned char *stack;
	size_t len;
};
static _Thread_local const struct unwind_copy *unwind_current;

static pid_t unwind_next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	(void)arg;
	if (*thread_argp)
		return 0;
	*thread_argp = (void *)unwind_current;
	return *thread_argp ? dwfl_pid(dwfl) : 0;
}

static bool unwind_get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
	(void)dwfl, (void)tid, (void)arg;
	*thread_argp = (void *)unwind_current;
	return unwind_current != NULL;
}

/* Serves the copy only: the target may be gone, and memory read later from
 * /proc/PID/mem would not be the memory at the event anyway. */
static bool unwind_memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	const struct unwind_copy *c = unwind_current;

	(void)dwfl, (void)arg;
	if (!c || c->len < sizeof(*result) || addr < c->sp ||
	    addr - c->sp > c->len - sizeof(*result))
		return false;
	memcpy(result, c->stack + (addr - c->sp), sizeof(*result));
	return true;
}

static bool unwind_set_initial_registers(Dwfl_Thread *thread, void *thread_arg)
{
	const struct unwind_copy *c = thread_arg;
	Dwarf_Word regs[2];

	if (!c)
		return false;
	regs[DWARF_RBP - DWARF_RBP] = c->bp;
	regs[DWARF_RSP - DWARF_RBP] = c->sp;
	if (!dwfl_thread_state_registers(thread, DWARF_RBP, 2, regs))
		return false;
	dwfl_thread_state_register_pc(thread, c->ip);
	return true;
}

static const Dwfl_Thread_Callbacks unwind_callbacks = {
	.next_thread = unwind_next_thread,
	.get_thread = unwind_get_thread,
	.memory_read = unwind_memory_read,
	.set_initial_registers = unwind_set_initial_registers,
};

/*
 * The Elf dwfl_attach_state takes to pick the architecture. Passing NULL would
 * borrow the backend of the first module, which a later refresh may drop while
 * the process state still points at it; a bare x86_64 ELF header of our own
 * lives as long as the program (libdwfl wants it valid for the Dwfl's lifetime).
 */
static Elf *unwind_arch_elf(void)
{
	static Elf64_Ehdr ehdr = {
		.e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB,
			     EV_CURRENT, ELFOSABI_SYSV },
		.e_type = ET_EXEC,
		.e_machine = EM_X86_64,
		.e_version = EV_CURRENT,
		.e_ehsize = sizeof(Elf64_Ehdr),
	};
	static _Thread_local Elf *elf;

	if (!elf && elf_version(EV_CURRENT) != EV_NONE)
		elf = elf_memory((char *)&ehdr, sizeof(ehdr));
	return elf;
}

struct unwind_collect {
	uint64_t *ips;
	int n, max;
};

static int unwind_frame(Dwfl_Frame *frame, void *arg)
{
	struct unwind_collect *uc = arg;
	Dwarf_Addr pc;
	bool activation;

	if (!dwfl_frame_pc(frame, &pc, &activation) || pc == 0)
		return DWARF_CB_ABORT;
	/* The raw address: the -1 for return addresses is the symbolizer's business
	 * (libdwfl already applies it itself to find the caller's CFI). */
	uc->ips[uc->n++] = pc;
	return uc->n < uc->max ? DWARF_CB_OK : DWARF_CB_ABORT;
}

int unwind__stack(struct symbolizer *s, const uint64_t regs[3], const void *stack,
		  size_t stack_len, uint64_t *ips, int max_ips)
{
	struct unwind_copy copy;
	struct unwind_collect uc = { .ips = ips, .max = max_ips };
	Dwfl *dwfl = symbolizer__unwind_dwfl(s);
	pid_t pid = symbolizer__pid(s);

	if (!regs || !ips || max_ips < 1 || (!stack && stack_len))
		return -EINVAL;
	ips[0] = regs[0];
	if (!dwfl || max_ips == 1)
		return 1;
	/* Attach once per Dwfl; dwfl_pid fails until then. */
	if (dwfl_pid(dwfl) < 0) {
		Elf *arch = unwind_arch_elf();

		if (!arch || !dwfl_attach_state(dwfl, arch, pid, &unwind_callbacks, NULL))
			return 1;
	}
	copy = (struct unwind_copy){ regs[0], regs[1], regs[2], stack, stack_len };
	unwind_current = &copy;
	/* Fails (-1) whenever the walk leaves the copy or meets code without CFI:
	 * the normal end of a partial stack; what was collected is the answer. */
	dwfl_getthread_frames(dwfl, pid, unwind_frame, &uc);
	unwind_current = NULL;
	return uc.n ? uc.n : 1;   /* ips[0] = regs[0] either way */
}
