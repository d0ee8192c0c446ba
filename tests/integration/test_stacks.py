"""Who faulted it in: the resident-by-first-touch profile (folded) of a workload
whose functions make known amounts resident, compared with the page tables of the
arenas they filled; and the pprof file the tracer writes, decoded by protoc."""
import gzip
import os
import shutil
import subprocess

import pytest

import runner
from runner import MiB

CALLPATHS = os.path.join(runner.WORKLOADS, "callpaths")
PROTO = os.path.join(runner.ROOT, "user", "proto", "profile.proto")


def folded_by_function(path):
    """Bytes per function name appearing anywhere in a stack (root first: arena;...;leaf)."""
    out = {}
    with open(path) as f:
        for line in f:
            stack, n = line.rstrip("\n").rsplit(" ", 1)
            for fn in set(stack.split(";")[1:]):
                out[fn] = out.get(fn, 0) + int(n)
    return out


def run_callpaths(traced, tmp_path, mode):
    folded = tmp_path / f"resident-{mode}.folded"
    pprof = tmp_path / f"profile-{mode}.pb.gz"
    run = traced(cmd=[CALLPATHS], opts=["--call-graph", mode, "--sample-bytes", "65536",
                                        "--folded", str(folded), "--pprof", str(pprof)])
    cp = run.checkpoint("callpaths")
    cp.assert_accurate()
    truth = {
        # touch_mmap: its own anonymous mapping; big_mallocs: glibc's mmapped
        # chunks; small_mallocs: the brk heap (nothing else allocates there).
        "touch_mmap": sum(cp.truth_of(a) for a in cp.live() if a["kind"] == "anon" and a["mapped_bytes"] >= 16 * MiB),
        "big_mallocs": sum(cp.truth_of(a) for a in cp.live() if a["kind"] == "glibc_mmap_chunk"),
        "small_mallocs": sum(cp.truth_of(a) for a in cp.live() if a["kind"] == "heap"),
    }
    run.cont()
    assert run.finish() == 0
    return folded_by_function(folded), truth, pprof, cp


def assert_within_2pct(got, truth, fn, cp):
    want = truth[fn]
    assert want > 4 * MiB, f"workload: {fn} should fill its arena (truth {want})\n{cp.describe()}"
    assert abs(got.get(fn, 0) - want) <= 0.02 * want, \
        f"{fn}: profile says {got.get(fn, 0)} bytes resident, page tables {want}: {sorted(got.items())[:20]}"


def test_resident_profile_dwarf(traced, tmp_path):
    got, truth, pprof, cp = run_callpaths(traced, tmp_path, "dwarf")
    for fn in ("touch_mmap", "big_mallocs", "small_mallocs"):
        assert_within_2pct(got, truth, fn, cp)
    assert os.path.getsize(pprof) > 0


def test_resident_profile_fp(traced, tmp_path):
    """Frame pointers reach only the faulting function itself (the workload and
    Debian's glibc are built without frame pointers): touch_mmap faults directly."""
    got, truth, _, cp = run_callpaths(traced, tmp_path, "fp")
    assert_within_2pct(got, truth, "touch_mmap", cp)


def test_pprof_decodes(traced, tmp_path):
    if not shutil.which("protoc"):
        pytest.skip("protoc not installed (scripts/install-deps.sh test installs protobuf-compiler)")
    _, _, pprof, _ = run_callpaths(traced, tmp_path, "dwarf")
    raw = gzip.decompress(pprof.read_bytes())
    dec = subprocess.run(["protoc", "--decode", "perftools.profiles.Profile", "-I", os.path.dirname(PROTO),
                          os.path.basename(PROTO)], input=raw, capture_output=True)
    assert dec.returncode == 0, dec.stderr.decode()
    text = dec.stdout.decode()
    for needle in ("resident_space", "faulted_space", "growth_space", "touch_mmap", "arena", "kind"):
        assert needle in text, f"{needle} not in the decoded profile"
    if shutil.which("go"):
        top = subprocess.run(["go", "tool", "pprof", "-top", "-sample_index=resident_space", str(pprof)],
                             capture_output=True, text=True, timeout=120)
        assert top.returncode == 0 and "touch_mmap" in top.stdout, top.stderr
