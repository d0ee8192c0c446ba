"""Accuracy: every arena's resident_bytes matches /proc/PID/pagemap at each checkpoint.

Every checkpoint first checks the product's promise (each arena within
max(1%, 16 pages) of the truth over its ranges, and the arenas summing to
smaps_rollup Rss within 1%), then what the scenario is about.
"""
import os
import signal

import pytest

import groundtruth
import runner
from runner import MiB, SLACK, within


def near(got, want, what, cp):
    assert within(got, want), f"{what}: got {got}, expected {want}\n{cp.describe()}"


def resident(a):
    return a["resident_bytes"]


def test_anon_write(traced):
    run = traced("anon-write", "64")
    cp = run.checkpoint("anon-write")
    cp.assert_accurate()
    (lo, hi), = cp.ranges
    a = cp.arena_containing(lo, hi)
    assert resident(a) >= 64 * MiB - SLACK, cp.describe()
    run.cont()
    assert run.finish() == 0


def test_zero_read(traced):
    run = traced("zero-read", "64")
    cp1 = run.checkpoint("zero-read")
    cp1.assert_accurate()
    (lo, hi), = cp1.ranges
    assert cp1.truth.resident_bytes(cp1.ranges) == 0, "workload: read faults should map the zero page"
    a1 = cp1.arena_containing(lo, hi)
    outside = cp1.truth_of(a1) - cp1.truth.resident_bytes(cp1.ranges)
    assert resident(a1) - outside <= SLACK, \
        f"read faults on the zero page counted as resident\n{cp1.describe()}"
    run.cont()
    cp2 = run.checkpoint("half-written")
    cp2.assert_accurate()
    a2 = cp2.arena_containing(lo, hi)
    near(resident(a2) - resident(a1), 32 * MiB, "growth after writing half", cp2)
    run.cont()
    assert run.finish() == 0


def test_thp(traced):
    run = traced("thp")
    cp = run.checkpoint("thp")
    cp.assert_accurate()
    (lo, hi), = cp.ranges
    if cp.truth.resident_bytes(cp.ranges) < 4 * MiB:
        pytest.skip(f"kernel gave no huge pages (truth {cp.truth.resident_bytes(cp.ranges)}): "
                    f"{run.other}")
    a = cp.arena_containing(lo, hi)
    assert resident(a) >= 4 * MiB, f"2 THP faults should make 4 MiB resident\n{cp.describe()}"
    run.cont()
    assert run.finish() == 0


def test_munmap_partial(traced):
    run = traced("munmap-partial")
    cp = run.checkpoint("mapped")
    cp.assert_accurate()
    (base, end), = cp.ranges
    assert resident(cp.arena_containing(base, end)) >= 64 * MiB - SLACK, cp.describe()
    run.cont()

    cp = run.checkpoint("hole")
    cp.assert_accurate()
    hole = (base + 24 * MiB, base + 40 * MiB)
    assert not cp.arenas_over(*hole), f"arena ranges still cover the unmapped hole\n{cp.describe()}"
    for lo, hi in cp.ranges:
        cp.arena_containing(lo, hi)
    assert sum(resident(a) for a in cp.arenas_over(base, end)) >= 48 * MiB - SLACK, cp.describe()
    run.cont()

    cp = run.checkpoint("head-gone")
    cp.assert_accurate()
    assert not cp.arenas_over(base, base + 8 * MiB), f"unmapped head still covered\n{cp.describe()}"
    assert not cp.arenas_over(*hole), cp.describe()
    for lo, hi in cp.ranges:
        cp.arena_containing(lo, hi)
    assert sum(resident(a) for a in cp.arenas_over(base, end)) >= 40 * MiB - SLACK, cp.describe()
    run.cont()
    assert run.finish() == 0


def test_mremap(traced):
    run = traced("mremap")
    cp = run.checkpoint("mapped")
    cp.assert_accurate()
    (old, old_end), = cp.ranges
    before = cp.arena_containing(old, old_end)["arena"]
    run.cont()

    cp = run.checkpoint("moved")
    cp.assert_accurate()
    (new, new_end), = cp.ranges
    assert new != old
    a = cp.arena_containing(new, new_end)
    assert resident(a) >= 32 * MiB - SLACK, f"arena did not follow the move\n{cp.describe()}"
    assert a["arena"] == before, f"arena id changed across the move: {before} -> {a['arena']}"
    assert not cp.arenas_over(old, old_end), f"old address still covered\n{cp.describe()}"
    run.cont()

    cp = run.checkpoint("grown")
    cp.assert_accurate()
    (lo, hi), = cp.ranges
    assert resident(cp.arena_containing(lo, hi)) >= 48 * MiB - SLACK, cp.describe()
    run.cont()

    cp = run.checkpoint("shrunk")
    cp.assert_accurate()
    (lo, hi), = cp.ranges
    a = cp.arena_containing(lo, hi)
    assert not cp.arenas_over(hi, lo + 48 * MiB), f"shrunk tail still covered\n{cp.describe()}"
    near(resident(a), cp.truth_of(a), "resident after shrink", cp)
    run.cont()
    assert run.finish() == 0


def test_brk(traced):
    run = traced("brk")
    cp1 = run.checkpoint("grown")
    cp1.assert_accurate()
    (lo, hi), = cp1.ranges
    a1 = cp1.arena_containing(lo, hi)
    assert a1["kind"] == "heap", cp1.describe()
    assert resident(a1) >= 64 * MiB - SLACK, cp1.describe()
    run.cont()
    cp2 = run.checkpoint("shrunk")
    cp2.assert_accurate()
    a2 = cp2.arena_containing(*cp2.ranges[0])
    assert a2["kind"] == "heap", cp2.describe()
    near(resident(a1) - resident(a2), 48 * MiB, "drop after sbrk(-48 MiB)", cp2)
    run.cont()
    assert run.finish() == 0


def test_mprotect_grow(traced):
    run = traced("mprotect-grow")
    for label, opened in (("half-open", 32 * MiB), ("open", 64 * MiB)):
        cp = run.checkpoint(label)
        cp.assert_accurate()
        (lo, hi), = cp.ranges
        a = cp.arena_containing(lo, lo + opened)
        assert a["kind"] == "glibc_arena", f"64 MiB-aligned heap reservation\n{cp.describe()}"
        near(resident(a), cp.truth_of(a), f"{label}: arena resident", cp)
        assert resident(a) >= opened - SLACK, cp.describe()
        run.cont()
    assert run.finish() == 0


def test_dontneed(traced):
    run = traced("dontneed")
    prev = None
    for label in ("mapped", "dontneed", "free", "pageout"):
        cp = run.checkpoint(label)
        cp.assert_accurate()
        (lo, hi), = cp.ranges
        a = cp.arena_containing(lo, hi)
        if label == "dontneed":
            near(resident(prev) - resident(a), 32 * MiB, "drop after MADV_DONTNEED of 32 MiB", cp)
        prev = a
        run.cont()
    assert run.finish() == 0


def test_file_and_shmem(traced):
    run = traced("file", "64")
    cp = run.checkpoint("file")
    cp.assert_accurate()
    (lo, hi), = cp.ranges
    a = cp.arena_containing(lo, hi)
    assert a["kind"] == "file", cp.describe()
    assert resident(a) >= 64 * MiB - SLACK, cp.describe()
    run.cont()
    cp = run.checkpoint("shmem")
    cp.assert_accurate()
    assert cp.arena_containing(*cp.ranges[0])["kind"] == "file", cp.describe()
    s = cp.arena_containing(*cp.ranges[1])
    assert s["kind"] == "shmem", cp.describe()
    near(resident(s), 16 * MiB, "MAP_SHARED anonymous region", cp)
    run.cont()
    assert run.finish() == 0


def test_split_block(traced):
    """Faults alternating between two mappings inside one 2 MiB block: each
    mapping's arena gets its own pages straight from the kernel side (its runs
    stop at the boundary the mmap made), not from a later page-table walk."""
    run = traced("split-block")
    cp = run.checkpoint("split-block")
    cp.assert_accurate()
    (alo, ahi), (flo, fhi) = cp.ranges
    anon, file = cp.arena_containing(alo, ahi), cp.arena_containing(flo, fhi)
    assert anon is not file and file["kind"] == "file", cp.describe()
    for a, lo, hi in ((anon, alo, ahi), (file, flo, fhi)):
        assert cp.truth.resident_bytes([(lo, hi)]) == MiB, f"workload: 1 MiB written at {lo:x}\n{cp.describe()}"
        near(resident(a), cp.truth_of(a), f"{a['kind']} half", cp)
    # 0 in every deterministic scenario; with the boundaries ignored in the
    # kernel, user space's page-table walks moved 6-32 pages here (3 runs).
    assert cp.sample["drift_bytes"] == 0, \
        f"drift {cp.sample['drift_bytes']} B: runs crossed the mapping boundary?\n{cp.describe()}"
    run.cont()
    assert run.finish() == 0


def test_populate(traced):
    run = traced("populate", "64")
    cp = run.checkpoint("populate")
    cp.assert_accurate()
    a = cp.arena_containing(*cp.ranges[0])
    assert resident(a) >= 64 * MiB - SLACK, f"MAP_POPULATE grows RSS without faults\n{cp.describe()}"
    # No user page faults happened (populate goes through GUP), yet faulted_bytes
    # counts every byte made resident, MAP_POPULATE included (README, JSON Lines).
    assert a["faulted_bytes"] >= 64 * MiB - SLACK, \
        f"MAP_POPULATE made 64 MiB resident: faulted_bytes {a['faulted_bytes']}\n{cp.describe()}"
    run.cont()
    assert run.finish() == 0


def test_threads(traced):
    run = traced("threads")
    cp = run.checkpoint("threads")
    cp.assert_accurate()
    kinds = {a["kind"] for a in cp.live()}
    assert {"glibc_arena", "thread_stack"} <= kinds, f"kinds {kinds}\n{cp.describe()}"
    arenas = [a for a in cp.live() if a["kind"] == "glibc_arena"]
    assert sum(resident(a) for a in arenas) >= 64 * MiB, \
        f"4 threads x 50,000 objects should leave > 64 MiB in glibc arenas\n{cp.describe()}"
    run.cont()
    assert run.finish() == 0


def test_retention_demo(traced):
    """The demo workload: 4 threads x 200,000 objects, 98% freed, survivors held."""
    run = traced(cmd=[os.path.join(runner.WORKLOADS, "retention"), "8"])
    line = run.lines.get(timeout=runner.TIMEOUT)
    assert line and line.startswith("retention:"), f"retention printed {line!r}{run.context()}"
    cp = run.observe("retention", [], run.pid())
    cp.assert_accurate()
    arenas = [a for a in cp.live() if a["kind"] == "glibc_arena"]
    assert sum(resident(a) for a in arenas) >= 400 * MiB, cp.describe()
    run.proc.send_signal(signal.SIGINT)
    assert run.wait_exit() == 0


def test_attach(tmp_path):
    out = tmp_path / "attach.jsonl"
    with runner.Workload("hold", "300") as w:
        label, ranges = w.wait_ready()
        pid = w.proc.pid
        truth = groundtruth.Snapshot(pid)
        res = runner.run_tracer(["-p", str(pid), "-q", "-i", "0.2", "--json", str(out), "-d", "3"])
        assert res.returncode == 0, f"rc {res.returncode}, stderr {res.stderr!r}"
        assert truth.same_as(groundtruth.Snapshot(pid)), "workload changed while blocked"
        recs = runner.read_records(str(out))
        assert recs and recs[0]["type"] == "meta" and recs[0]["pid"] == pid, recs[:1]
        final = runner.final_set(recs)
        assert final, f"no final sample set in {out}: {recs[-3:]!r}"
        cp = runner.Checkpoint("attach-final", ranges, truth, *final)
        cp.assert_accurate()
        assert resident(cp.arena_containing(*ranges[0])) >= 150 * MiB - SLACK, cp.describe()
        assert w.proc.poll() is None, "tracer must not kill an attached process"
