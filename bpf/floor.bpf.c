// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The overhead floor for `make bench`: empty programs on exactly the hooks
 * arenatrace.bpf.c uses. What a traced run costs beyond this is arenatrace's
 * own work; what this costs is the price of the hooks themselves.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/rss_stat")
int BPF_PROG(floor_rss_stat) { return 0; }
SEC("tp_btf/page_fault_user")
int BPF_PROG(floor_page_fault_user) { return 0; }
SEC("tp_btf/page_fault_kernel")
int BPF_PROG(floor_page_fault_kernel) { return 0; }
SEC("tp_btf/sys_enter")
int BPF_PROG(floor_sys_enter) { return 0; }
SEC("tp_btf/sys_exit")
int BPF_PROG(floor_sys_exit) { return 0; }
SEC("tp_btf/sched_process_exec")
int BPF_PROG(floor_exec) { return 0; }
SEC("tp_btf/sched_process_exit")
int BPF_PROG(floor_exit) { return 0; }
SEC("tp_btf/sched_process_fork")
int BPF_PROG(floor_fork) { return 0; }
SEC("tp_btf/sched_switch")
int BPF_PROG(floor_switch) { return 0; }
