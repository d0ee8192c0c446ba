"""Allocator fingerprints: the memory an allocator holds shows up under its kind.

Each test runs a workload on one allocator (glibc, or jemalloc / tcmalloc /
mimalloc LD_PRELOAD'ed, CPython's obmalloc, the Go runtime) and checks, at a
quiet checkpoint, the accuracy bound of every test (each arena within
max(1%, 16 pages) of /proc/PID/pagemap, the sum within 1% of Rss) and that the
allocator's kind holds the share of the resident memory given in SHARE.
The shares measured are written to build/allocators.csv.
"""
import os
import shutil
import subprocess

import pytest

import groundtruth
import runner
from runner import MiB

LIBDIR = "/usr/lib/x86_64-linux-gnu"
PYTHON = "/usr/bin/python3"
ALLOC_CHURN = os.path.join(runner.WORKLOADS, "alloc_churn")
SRC_WORKLOADS = os.path.join(runner.ROOT, "tests", "workloads")

# Least share of smaps Rss the allocator's kind must hold at the checkpoint. The
# rest is the program's files (libc, the interpreter), stacks and the allocator's
# own metadata, which it maps like any other memory.
SHARE = {
    "glibc_arena": 0.90,
    "glibc_mmap_chunk": 0.80,
    "jemalloc": 0.85,
    "tcmalloc": 0.85,
    "mimalloc": 0.85,
    "python_arena": 0.70,
    "go_heap": 0.75,
}

SHARES = []  # (test, kind, share, worst arena error in pages)


@pytest.fixture(scope="module", autouse=True)
def shares_csv():
    yield
    runner.write_results_csv("allocators.csv", "test,kind,share_of_rss,worst_arena_pages", "%s,%s,%.4f,%d", SHARES)


def preloaded(lib, *args):
    path = os.path.join(LIBDIR, lib)
    if not os.path.exists(path):
        pytest.skip(f"{path} is missing (scripts/install-deps.sh test installs it)")
    # Through env, so that only the workload (not the tracer) runs on it.
    return ["/usr/bin/env", f"LD_PRELOAD={path}", ALLOC_CHURN, *args]


def started(run):
    """Past the workload's "start" checkpoint (before any allocation; launched
    through env, the tracer re-reads its maps after the exec), so the test sees
    the allocator's mmap calls being made, not a /proc snapshot of them."""
    run.checkpoint("start").assert_accurate()
    run.cont()
    return run


def resident_of(cp, kind):
    return sum(a["resident_bytes"] for a in cp.live() if a["kind"] == kind)


def check(cp, kind):
    """The accuracy bound, then the kind's share of Rss; returns the share."""
    cp.assert_accurate()
    rss = cp.truth.rss_rollup
    held = resident_of(cp, kind)
    share = held / rss if rss else 0.0
    worst = runner.ERRORS[-1]["worst_arena_pages"] if runner.ERRORS else -1
    SHARES.append((runner.CURRENT_TEST, kind, share, worst))
    assert share >= SHARE[kind], (f"{kind} holds {held} of Rss {rss} ({100 * share:.1f}%), "
                                  f"expected at least {100 * SHARE[kind]:.0f}%\n{cp.describe()}")
    return share


# ---- glibc --------------------------------------------------------------------------

def test_glibc_chained_heaps(traced):
    """A thread allocating 80 MiB fills its arena's 64 MiB heap and glibc chains a
    second one: both heaps are ONE glibc_arena; another thread's arena is another."""
    run = started(traced(cmd=[ALLOC_CHURN, "chained"]))
    cp = run.checkpoint("chained")
    (b0, e0), (b1, e1), (b2, e2) = cp.ranges
    assert b0 != b1, f"workload: the big thread's objects should span two heaps{run.context()}"
    check(cp, "glibc_arena")
    big = cp.arena_containing(b0, e0)
    assert big["kind"] == "glibc_arena", cp.describe()
    assert cp.arena_containing(b1, e1)["arena"] == big["arena"], \
        f"the chained heap is a separate arena\n{cp.describe()}"
    small = cp.arena_containing(b2, e2)
    assert small["kind"] == "glibc_arena" and small["arena"] != big["arena"], cp.describe()
    assert big["resident_bytes"] >= 78 * MiB, cp.describe()
    run.cont()
    assert run.finish() == 0


def test_glibc_chained_heaps_attach(tmp_path):
    """Attached after the fact: the first heap is full (no PROT_NONE left), and
    only its heap_info says it is one; the chained heap still joins its arena."""
    out = tmp_path / "attach.jsonl"
    w = subprocess.Popen([ALLOC_CHURN, "chained"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True, bufsize=1)
    try:
        label, ranges = None, []
        while label != "chained":
            line = w.stdout.readline()
            assert line, "workload exited"
            if line.startswith("READY"):
                label = line.split()[1]
                ranges = [tuple(int(x, 16) for x in r.split("-")) for r in line.split()[2:]]
                if label == "start":
                    w.stdin.write("\n")
                    w.stdin.flush()
        truth = groundtruth.Snapshot(w.pid)
        res = runner.run_tracer(["-p", str(w.pid), "-q", "-i", "0.2", "--json", str(out), "-d", "2"])
        assert res.returncode == 0, f"rc {res.returncode}, stderr {res.stderr!r}"
        final = runner.final_set(runner.read_records(str(out)))
        assert final, f"no final sample set in {out}"
        cp = runner.Checkpoint("attach-final", ranges, truth, *final)
        check(cp, "glibc_arena")
        (b0, e0), (b1, e1), (b2, e2) = ranges
        big = cp.arena_containing(b0, e0)
        assert big["kind"] == "glibc_arena", cp.describe()
        assert cp.arena_containing(b1, e1)["arena"] == big["arena"], cp.describe()
        assert cp.arena_containing(b2, e2)["arena"] != big["arena"], cp.describe()
    finally:
        runner.stop(w)


def test_glibc_churn(traced):
    run = started(traced(cmd=[ALLOC_CHURN, "churn", "4", "48"]))
    cp = run.checkpoint("churn")
    check(cp, "glibc_arena")
    run.cont()
    assert run.finish() == 0


def test_glibc_mmap_chunks(traced):
    """malloc(1 MiB) is above the mmap threshold: each chunk is its own mapping."""
    run = started(traced(cmd=[ALLOC_CHURN, "large", "64"]))
    cp = run.checkpoint("large")
    check(cp, "glibc_mmap_chunk")
    for lo, hi in cp.ranges:
        a = cp.arena_containing(lo, hi)
        assert a["kind"] == "glibc_mmap_chunk", cp.describe()
        assert a["mapped_bytes"] == hi - lo, cp.describe()
    run.cont()
    assert run.finish() == 0


# ---- other allocators in C programs --------------------------------------------------

@pytest.mark.parametrize("kind,lib", [
    ("jemalloc", "libjemalloc.so.2"),
    ("tcmalloc", "libtcmalloc_minimal.so.4"),
    ("mimalloc", "libmimalloc.so.2"),
])
def test_preloaded_allocator(traced, kind, lib):
    run = started(traced(cmd=preloaded(lib, "churn", "4", "48")))
    cp = run.checkpoint("churn")
    check(cp, kind)
    kinds = {a["kind"] for a in cp.live()}
    assert not kinds & {"glibc_arena", "glibc_mmap_chunk"}, \
        f"glibc's kinds with {lib} preloaded: {kinds}\n{cp.describe()}"
    run.cont()
    assert run.finish() == 0


@pytest.mark.parametrize("kind,lib", [
    ("jemalloc", "libjemalloc.so.2"),
    ("tcmalloc", "libtcmalloc_minimal.so.4"),
    ("mimalloc", "libmimalloc.so.2"),
])
def test_preloaded_allocator_attach(tmp_path, kind, lib):
    """Attached to a running process: the kind comes from /proc/PID/maps (one VMA
    for neighbouring mappings, a reservation split where it was committed)
    instead of the mmap calls."""
    out = tmp_path / "attach.jsonl"
    cmd = preloaded(lib, "churn", "2", "64")
    w = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    try:
        for label in ("start", "churn"):
            line = w.stdout.readline()
            assert line.startswith(f"READY {label}"), f"workload said {line!r}"
            if label == "start":
                w.stdin.write("\n")
                w.stdin.flush()
        truth = groundtruth.Snapshot(w.pid)
        res = runner.run_tracer(["-p", str(w.pid), "-q", "-i", "0.2", "--json", str(out), "-d", "2"])
        assert res.returncode == 0, f"rc {res.returncode}, stderr {res.stderr!r}"
        assert truth.same_as(groundtruth.Snapshot(w.pid)), "workload changed while blocked"
        final = runner.final_set(runner.read_records(str(out)))
        assert final, f"no final sample set in {out}"
        check(runner.Checkpoint("attach-final", [], truth, *final), kind)
    finally:
        runner.stop(w)


# ---- language runtimes --------------------------------------------------------------

def test_cpython_obmalloc(traced):
    if not os.access(PYTHON, os.X_OK):
        pytest.skip(f"{PYTHON} is missing")
    run = traced(cmd=[PYTHON, os.path.join(SRC_WORKLOADS, "py_objects.py"), "96"])
    cp = run.checkpoint("objects")
    check(cp, "python_arena")
    # obmalloc maps its arenas side by side, several per 2 MiB block: a fault run
    # of the kernel side that crossed from one into the next put its pages in one
    # of them, and only the next page-table walk corrected it (counted as drift:
    # 10-58 MB here before runs stopped at mapping boundaries, 0.2-0.3 MB with).
    rss = cp.truth.rss_rollup
    assert cp.sample["drift_bytes"] <= 0.01 * rss, \
        f"drift {cp.sample['drift_bytes']} B, Rss {rss} B: runs mixing neighbouring arenas?\n{cp.describe()}"
    run.cont()
    assert run.finish() == 0


def test_go_heap(traced, tmp_path):
    go = shutil.which("go") or ("/usr/lib/go/bin/go" if os.access("/usr/lib/go/bin/go", os.X_OK) else None)
    if not go:
        pytest.skip("no Go toolchain (`go`): install golang-go to run the Go heap test")
    binary = tmp_path / "go_heap"
    env = dict(os.environ, GOCACHE=str(tmp_path / "gocache"), GOPATH=str(tmp_path / "gopath"),
               GO111MODULE="off", GOFLAGS="", CGO_ENABLED="0")
    build = subprocess.run([go, "build", "-o", str(binary), os.path.join(SRC_WORKLOADS, "go_heap.go")],
                           capture_output=True, text=True, env=env, timeout=300)
    assert build.returncode == 0, f"go build failed: {build.stderr}"
    run = traced(cmd=[str(binary), "96"])
    cp = run.checkpoint("objects")
    check(cp, "go_heap")
    run.cont()
    assert run.finish() == 0
