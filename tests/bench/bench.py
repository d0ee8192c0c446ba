#!/usr/bin/env python3
"""make bench: arenatrace's overhead against an untraced run, in one run.

Repetitions are interleaved (A B C, B C A, C A B, ...): each repetition starts one
mode later, so drift of the machine, and whatever the previous run left behind
(page cache, free huge pages, a workload's freed gigabytes), hits every mode alike. Each workload times its own loop after a start delay, so tracer
start-up is not counted. Prints medians (min-max) and ratios to the untraced
median, checks the goals of issue 3, and writes every run to build/bench.csv.
"""
import argparse
import csv
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
B = os.path.join(ROOT, "build")
TRACER = os.path.join(B, "arenatrace")
FLOOR = os.path.join(B, "bench", "floor")
MIB = 1 << 20


def mount_tracefs():
    # bpftrace's classic tracepoints need tracefs; arenatrace does not.
    if not os.path.exists("/sys/kernel/tracing/events"):
        subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"], check=False)


def vm_hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def own_cpu_s(pid):
    """utime + stime of pid itself (not its children), from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def run(cmd, is_tracer=False):
    """Runs cmd. Returns a dict: the workload's elapsed_s and cpu_s, and when cmd is
    the tracer its own cpu_s, peak RSS and lost events."""
    t0 = time.monotonic()
    # Files, not pipes: a peer printing megabytes (bpftrace's stack map) must not
    # block on a pipe nobody reads while we poll.
    with tempfile.TemporaryFile("w+") as fo, tempfile.TemporaryFile("w+") as fe:
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe, text=True)
        hwm, tcpu = 0, None
        while p.poll() is None:
            if is_tracer:
                hwm = max(hwm, vm_hwm_kib(p.pid))
                tcpu = own_cpu_s(p.pid) or tcpu
            time.sleep(0.02)
        fo.seek(0)
        fe.seek(0)
        out, err = fo.read(), fe.read()
    m = re.search(r"elapsed_s=([0-9.]+)", out)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {err.strip()[-400:]}")
    cpu = re.search(r"cpu_s=([0-9.]+)", out)
    lost = re.search(r"lost (\d+)", out)
    return dict(elapsed_s=float(m.group(1)), workload_cpu_s=float(cpu.group(1)) if cpu else None,
                tracer_cpu_s=tcpu, tracer_peak_kib=hwm, lost_events=int(lost.group(1)) if lost else None,
                wall_s=time.monotonic() - t0)


def summarize(rows, workload, base_mode):
    by = {}
    for r in rows:
        if r["workload"] == workload:
            by.setdefault(r["mode"], []).append(r["elapsed_s"])
    base = statistics.median(by[base_mode])
    out = []
    for mode, vals in by.items():
        med = statistics.median(vals)
        out.append((mode, med, min(vals), max(vals), med / base, min(vals) / base, max(vals) / base, len(vals)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--fault-mib", type=int, default=4096, help="MiB touched per fault-loop run (4096 = 1M faults)")
    ap.add_argument("--churn-rounds", type=int, default=1000, help="about 2 s per run here")
    ap.add_argument("--big-mib", type=int, default=8192, help="resident size for the tracer-memory check (0 = skip)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench: SKIPPED: needs root to load BPF programs")
        return 0
    mount_tracefs()
    fl = [os.path.join(B, "bench", "faultloop"), str(args.fault_mib)]
    ch = [os.path.join(B, "bench", "churn"), str(args.churn_rounds), str(os.cpu_count() or 2)]
    chh = [ch[0], str(max(1, args.churn_rounds // 10)), ch[2]]
    sc = [os.path.join(B, "bench", "syscall_loop"), "3000000"]
    rec = os.path.join(B, "bench", "record.at")
    bt = shutil.which("bpftrace")
    ht = shutil.which("heaptrack")
    modes = {
        "faultloop": [
            ("untraced", fl, False),
            ("floor", [FLOOR, "--"] + fl, False),
            ("arenatrace", [TRACER, "-q", "--"] + fl, True),
            ("arenatrace-dwarf", [TRACER, "-q", "--call-graph", "dwarf", "--"] + fl, True),
            ("arenatrace-fp", [TRACER, "-q", "--call-graph", "fp", "--"] + fl, True),
            ("arenatrace-record", [TRACER, "-q", "-o", rec, "--force", "--"] + fl, True),
        ],
        "churn": [
            ("untraced", ch, False),
            ("floor", [FLOOR, "--"] + ch, False),
            ("arenatrace", [TRACER, "-q", "--"] + ch, True),
            ("arenatrace-dwarf", [TRACER, "-q", "--call-graph", "dwarf", "--"] + ch, True),
            ("arenatrace-fp", [TRACER, "-q", "--call-graph", "fp", "--"] + ch, True),
            ("arenatrace-record", [TRACER, "-q", "-o", rec, "--force", "--"] + ch, True),
        ],
        # --heap (issue 8): a uprobe hit per malloc/free and its return, about 10x here,
        # so on a tenth of the rounds, against heaptrack (which also sees every call).
        "churn-heap": [
            ("untraced", chh, False),
            ("arenatrace-heap", [TRACER, "-q", "--heap", "--"] + chh, True),
            ("arenatrace-heap-sampled", [TRACER, "-q", "--heap", "--heap-sample", "524288", "--"] + chh, True),
        ],
    }
    if bt:
        one_liner = "tracepoint:exceptions:page_fault_user /pid == cpid/ { @[ustack] = count(); }"
        modes["faultloop"].append(("bpftrace-ustack", [bt, "-q", "-e", one_liner, "-c", " ".join(fl)], False))
        modes["churn"].append(("bpftrace-ustack", [bt, "-q", "-e", one_liner, "-c", " ".join(ch)], False))
    else:
        print("bench: bpftrace not installed: its row is SKIPPED")
    if ht:
        modes["churn-heap"].append(("heaptrack", [ht, "-o", os.path.join(B, "bench", "heaptrack.out")] + chh, False))
    else:
        print("bench: heaptrack not installed: its row is SKIPPED")

    rows = []
    # Bystander: an untraced process making syscalls while arenatrace traces an idle one.
    idle = subprocess.Popen(["sleep", "100000"])
    try:
        for rep in range(args.reps):
            for workload, ms in modes.items():
                k = rep % len(ms)
                for mode, cmd, is_tracer in ms[k:] + ms[:k]:
                    r = run(cmd, is_tracer)
                    rows.append(dict(workload=workload, mode=mode, rep=rep, **r))
                    print(f"  {workload:10} {mode:16} rep {rep}: {r['elapsed_s']:.3f} s", flush=True)
            for mode in ("untraced", "floor", "arenatrace", "agent"):
                helper = None
                if mode == "floor":
                    helper = subprocess.Popen([FLOOR, "--", "sleep", "100001"])
                elif mode == "arenatrace":
                    helper = subprocess.Popen([TRACER, "-q", "-p", str(idle.pid)])
                elif mode == "agent":
                    # The agent's filter is a map lookup per syscall instead of a constant.
                    helper = subprocess.Popen([TRACER, "agent", "--listen", "127.0.0.1:19464", "--pid", str(idle.pid)],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if helper:
                    time.sleep(1.0)
                r = run(sc)
                if helper:
                    helper.send_signal(signal.SIGKILL if mode == "floor" else signal.SIGINT)
                    helper.wait()
                    if mode == "floor":
                        subprocess.run(["pkill", "-f", "sleep 100001$"], check=False)
                rows.append(dict(workload="bystander", mode=mode, rep=rep, **r))
                print(f"  {'bystander':10} {mode:16} rep {rep}: {r['elapsed_s']:.3f} s", flush=True)
    finally:
        idle.kill()

    big_hwm = None
    if args.big_mib:
        holder = subprocess.Popen([os.path.join(B, "workloads", "memops"), "hold", str(args.big_mib)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = holder.stdout.readline()
        if line.startswith("READY"):
            tr = subprocess.Popen([TRACER, "-q", "-i", "0.5", "-d", "3", "-p", str(holder.pid)],
                                  stdout=subprocess.DEVNULL)
            big_hwm = 0
            while tr.poll() is None:
                big_hwm = max(big_hwm, vm_hwm_kib(tr.pid))
                time.sleep(0.05)
        holder.stdin.close()
        holder.wait()

    # `report` speed: replay a big churn recording (best of 3; it is CPU-bound).
    big = os.path.join(B, "bench", "report-big.at")
    subprocess.run([TRACER, "-q", "-o", big, "--force", "--", ch[0], str(args.churn_rounds * 3), ch[2]],
                   stdout=subprocess.DEVNULL, check=True)
    report_eps, report_events = 0.0, 0
    for _ in range(3):
        p = subprocess.run([TRACER, "report", big, "-q", "-v"], capture_output=True, text=True, check=True)
        m = re.search(r"(\d+) events replayed in ([0-9.]+) s", p.stderr)
        if m and float(m.group(2)) > 0:
            report_eps = max(report_eps, int(m.group(1)) / float(m.group(2)))
            report_events = int(m.group(1))
    report_size = os.path.getsize(big)

    with open(os.path.join(B, "bench.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)

    print("\nworkload   mode              median_s   min_s    max_s   ratio (min-max)")
    ratios = {}
    for workload in list(modes) + ["bystander"]:
        for mode, med, lo, hi, r, rlo, rhi, n in summarize(rows, workload, "untraced"):
            ratios[(workload, mode)] = r
            print(f"{workload:10} {mode:16} {med:8.3f} {lo:8.3f} {hi:8.3f}   {r:.3f}x ({rlo:.3f}-{rhi:.3f}) n={n}")
    peak = max((r["tracer_peak_kib"] for r in rows), default=0)
    traced = [r for r in rows if r["mode"].startswith("arenatrace") and r["workload"] != "bystander"]
    lost = sum(r["lost_events"] or 0 for r in traced)
    cpu_share = max((r["tracer_cpu_s"] or 0) / r["workload_cpu_s"] for r in traced if r["workload_cpu_s"])
    print(f"lost events over all traced runs: {lost}")
    print(f"tracer CPU time / workload CPU time, worst run: {100 * cpu_share:.1f}%")
    print(f"\ntracer peak RSS during the runs: {peak / 1024:.1f} MiB")
    if big_hwm is not None:
        print(f"tracer peak RSS attached to a process with {args.big_mib} MiB resident: {big_hwm / 1024:.1f} MiB")
    print(f"report: {report_events} events ({report_size / MIB:.1f} MiB recorded) at "
          f"{report_eps / 1e6:.2f} million events/s (best of 3)")
    print("\ngoals (issue 3):")
    goals = [
        ("fault-bound loop traced/untraced <= 1.05x", ratios.get(("faultloop", "arenatrace"), 99) <= 1.05),
        ("allocator churn traced/untraced <= 1.05x", ratios.get(("churn", "arenatrace"), 99) <= 1.05),
        ("fault-bound loop with DWARF stacks <= 1.15x", ratios.get(("faultloop", "arenatrace-dwarf"), 99) <= 1.15),
        ("allocator churn with DWARF stacks <= 1.15x", ratios.get(("churn", "arenatrace-dwarf"), 99) <= 1.15),
        ("zero lost events", lost == 0),
        ("tracer CPU <= 10% of the workload's", cpu_share <= 0.10),
        ("tracer RSS <= 64 MiB tracing 8 GiB resident", big_hwm is not None and big_hwm <= 64 * 1024),
        ("report >= 5 million events/s (issue 6)", report_eps >= 5e6),
        ("allocator churn recording with -o <= 1.05x of without",
         ratios.get(("churn", "arenatrace-record"), 99) <= 1.05 * ratios.get(("churn", "arenatrace"), 99)),
    ]
    for name, ok in goals:
        print(f"  {'met ' if ok else 'MISSED'}  {name}")
    print(f"\nraw runs: {os.path.join(B, 'bench.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
