"""Lifecycle: target exit, exec, -d, signals."""
import os
import re
import signal
import time

import pytest

import groundtruth
import runner
from runner import MiB, SLACK, final_set


def records_of(recs, kind):
    return [r for r in recs if r.get("type") == kind]


def test_target_exit(traced):
    run = traced("exit", "3")
    rc = run.wait_exit()
    recs = run.records()
    assert rc == 0, f"tracer rc {rc} when the target exits 3{run.context()}"
    assert recs and recs[0]["type"] == "meta", recs[:1]
    pid = recs[0]["pid"]
    exits = records_of(recs, "exit")
    assert exits, f"no exit record: {recs[-5:]!r}"
    assert exits[-1]["pid"] == pid, exits
    assert exits[-1]["status"] in (3, 3 << 8), f"exit status {exits[-1]['status']}, target exited 3"
    final = final_set(recs)
    assert final, f"no final sample after the target exited: {recs[-5:]!r}"
    # README: "When the target exited, the final set is its memory as it was at exit."
    held = sum(a["resident_bytes"] for a in final[1])
    assert held >= 8 * MiB, f"target touched 8 MiB before exiting, final set holds {held}"


def test_target_killed(traced):
    run = traced("hold", "16")
    run.wait_ready("hold")
    pid = run.pid()
    n = run.nsamples()
    run.wait_records(lambda r: len(records_of(r, "sample")) >= n + 2, "2 samples")
    os.kill(pid, signal.SIGKILL)
    rc = run.wait_exit()
    recs = run.records()
    assert rc == 0, f"tracer rc {rc} when the target is killed{run.context()}"
    exits = records_of(recs, "exit")
    assert exits and exits[-1]["pid"] == pid, f"no exit record: {recs[-5:]!r}"
    assert exits[-1].get("signal") == signal.SIGKILL, f"exit record {exits[-1]}"
    assert final_set(recs), "no final sample after the target was killed"


def test_exec(traced):
    run = traced("exec")
    cp = run.checkpoint("pre-exec")
    cp.assert_accurate()
    pid = run.pid()
    run.cont()
    cp = run.checkpoint("anon-write")
    cp.assert_accurate()
    recs = run.records()
    execs = records_of(recs, "exec")
    assert execs, f"no exec record{run.context()}"
    assert execs[0].get("pid") == pid, execs
    ex_at = recs.index(execs[0])
    sample_at = next(i for i, r in enumerate(recs) if r is not execs[0] and r == cp.sample)
    assert ex_at < sample_at, "exec record must precede the post-exec sample"
    a = cp.arena_containing(*cp.ranges[0])
    assert a["resident_bytes"] >= 16 * MiB - SLACK, cp.describe()
    run.cont()
    assert run.finish() == 0


def test_duration(traced):
    run = traced("hold", "16", opts=["-d", "1"])
    run.wait_ready("hold")
    rc = run.wait_exit(timeout=20)
    elapsed = time.monotonic() - run.started
    assert rc == 0, f"rc {rc}{run.context()}"
    assert 1.0 <= elapsed <= 10, f"-d 1 stopped after {elapsed:.1f} s"
    recs = run.records()
    assert final_set(recs), f"no final sample set after -d: {recs[-3:]!r}"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_with_final_records(traced, sig):
    run = traced("hold", "32")
    label, ranges = run.wait_ready("hold")
    pid = run.pid()
    n = run.nsamples()
    run.wait_records(lambda r: len(records_of(r, "sample")) >= n + 2, "2 samples")
    truth = groundtruth.Snapshot(pid)
    run.proc.send_signal(sig)
    rc = run.wait_exit()
    assert rc == 0, f"rc {rc} after {sig.name}{run.context()}"
    final = final_set(run.records())
    assert final, f"no final sample after {sig.name}"
    sample, arenas = final
    assert arenas and all(a.get("final") for a in arenas), f"final arena set not marked final: {arenas[:2]}"
    if pid and groundtruth.Snapshot(pid).same_as(truth):
        runner.Checkpoint("final", ranges, truth, sample, arenas).assert_accurate()


def test_verbose_kernel_counters():
    """-v's kernel-side counters: the faults counted match the kernel's own count
    for the process (getrusage, printed by the workload), nothing is lost, and
    every mapping call is seen."""
    faultloop = os.path.join(os.path.dirname(runner.TRACER), "bench", "faultloop")
    p = runner.run_tracer(["-q", "-v", "--", faultloop, "64", "0"], timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    w = re.search(r"faults=(\d+) kernel_faults=(\d+)", p.stdout)
    k = re.search(r"kernel side: (\d+) RSS changes, (\d+) faults, (\d+) syscalls, (\d+) runs, (\d+) lost",
                  p.stderr)
    assert w and k, (p.stdout[-500:], p.stderr[-1000:])
    touched, kernel_faults = int(w.group(1)), int(w.group(2))
    rss_changes, faults, syscalls, runs, lost = map(int, k.groups())
    # The kernel also counts faults taken in kernel mode on user addresses, which
    # page_fault_user does not see, and stops counting at getrusage.
    assert abs(faults - kernel_faults) <= max(64, kernel_faults // 200), (faults, kernel_faults)
    assert faults >= touched and rss_changes >= touched, (faults, rss_changes, touched)
    assert syscalls >= 2 and runs >= touched // 512 and lost == 0, k.groups()
