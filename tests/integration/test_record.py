"""Recording (-o) and `arenatrace report`: same final records as live, partial
files, file safety, --max-size, a full disk, bad recordings."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import runner
from runner import MiB, TRACER, Workload, read_records, run_tracer


def final_records(recs):
    """What a run concludes with: final sample/arena/burst/diagnosis, and the exit record."""
    return [r for r in recs if (r.get("final") and r.get("type") in ("sample", "arena", "burst"))
            or r.get("type") in ("diagnosis", "exit")]


def report(path, *opts, timeout=60):
    return subprocess.run([TRACER, "report", path, *opts], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="arenatrace-rec-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_report_matches_live_launch(traced, tmp):
    rec = os.path.join(tmp, "run.at")
    run = traced("burst", "300", opts=["-o", rec])
    rc = run.finish()
    assert rc == 0, f"tracer rc {rc}{run.context()}"
    assert os.stat(rec).st_mode & 0o777 == 0o600
    live = run.records()
    out = os.path.join(tmp, "report.jsonl")
    csv, html = os.path.join(tmp, "r.csv"), os.path.join(tmp, "r.html")
    p = report(rec, "--json", out, "--csv", csv, "--html", html)
    assert p.returncode == 0, p.stderr
    assert "Where the resident memory sits" in p.stdout, p.stdout[:500]
    replayed = read_records(out)
    want = final_records(live)
    assert any(r.get("type") == "diagnosis" for r in want) and any(r.get("type") == "exit" for r in want)
    assert final_records(replayed) == want, "report's final records differ from the live run's"
    # Not only the end: the whole timeline is the same.
    assert replayed == live
    assert os.path.getsize(csv) > 0 and os.path.getsize(html) > 0


def test_report_matches_live_attach(tmp):
    rec, live_json = os.path.join(tmp, "attach.at"), os.path.join(tmp, "live.jsonl")
    with Workload("hold", "32") as w:
        w.wait_ready()
        p = run_tracer(["-q", "-i", "0.2", "-d", "1.5", "-p", str(w.proc.pid), "--json", live_json,
                        "-o", rec])
        assert p.returncode == 0, p.stderr
    out = os.path.join(tmp, "report.jsonl")
    r = report(rec, "--json", out, "-q")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "", "-q: no summary"
    live = read_records(live_json)
    assert final_records(live), live[-3:]
    assert final_records(read_records(out)) == final_records(live)


def test_report_stacks_match_live(traced, tmp):
    """Stacks are recorded unwound, with the module table: report's folded
    profiles are the live run's byte for byte, its pprof and flame graph come out."""
    rec = os.path.join(tmp, "stacks.at")
    live = {p: os.path.join(tmp, f"live-{p}.folded") for p in ("resident", "faulted")}
    run = traced(cmd=[os.path.join(runner.WORKLOADS, "callpaths")],
                 opts=["--call-graph", "dwarf", "--sample-bytes", "65536", "--folded", live["resident"], "-o", rec])
    run.wait_ready()
    time.sleep(1)  # the tracer reads the records of the allocations first
    run.cont()
    rc = run.finish()  # up to DONE
    assert rc == 0, f"tracer rc {rc}{run.context()}"
    pprof, html = os.path.join(tmp, "rep.pb.gz"), os.path.join(tmp, "rep.html")
    rep = os.path.join(tmp, "rep-resident.folded")
    p = report(rec, "-q", "--folded", rep, "--pprof", pprof, "--html", html)
    assert p.returncode == 0, p.stderr
    assert "warning" not in p.stderr, p.stderr
    with open(live["resident"], "rb") as a, open(rep, "rb") as b:
        want, got = a.read(), b.read()
    assert want, "the live run sampled no stacks"
    assert got == want, "report's folded profile differs from the live run's"
    assert b"touch_mmap" in got, got[:500]
    with open(pprof, "rb") as f:
        assert f.read(2) == b"\x1f\x8b", "pprof is not gzip"
    assert os.path.getsize(html) > 0
    # Another profile from the same recording, and the help lists the options.
    faulted = os.path.join(tmp, "rep-faulted.folded")
    p = report(rec, "-q", "--folded", faulted, "--folded-profile", "faulted")
    assert p.returncode == 0 and os.path.getsize(faulted) > 0, p.stderr
    h = report("--help")
    assert "--folded" in h.stdout and "--pprof" in h.stdout


def test_sigkill_leaves_a_readable_file(traced, tmp):
    rec = os.path.join(tmp, "killed.at")
    run = traced("hold", "32", opts=["-o", rec])
    run.wait_ready("hold")
    n = run.nsamples()
    run.wait_records(lambda r: len([x for x in r if x.get("type") == "sample"]) >= n + 3, "3 samples")
    run.proc.send_signal(signal.SIGKILL)
    run.proc.wait(timeout=10)
    out = os.path.join(tmp, "report.jsonl")
    p = report(rec, "--json", out, "-q")
    assert p.returncode == 0, p.stderr
    assert "warning" in p.stderr and "end mark" in p.stderr, p.stderr
    recs = read_records(out)
    assert recs[0]["type"] == "meta"
    fin = runner.final_set(recs)
    assert fin, recs[-3:]
    # It saw the 32 MiB the workload holds (flushed with the samples before the kill).
    assert fin[0]["rss_bytes"] >= 32 * MiB, fin[0]


def test_file_safety(tmp):
    memops = [runner.MEMOPS, "exit", "0"]
    existing = os.path.join(tmp, "exists.at")
    with open(existing, "w") as f:
        f.write("precious")
    p = run_tracer(["-q", "-o", existing, "--", *memops])
    assert p.returncode == 2 and "--force" in p.stderr, p.stderr
    assert open(existing).read() == "precious"
    p = run_tracer(["-q", "-o", existing, "--force", "--", *memops])
    assert p.returncode == 0, p.stderr
    assert open(existing, "rb").read(6) == b"ATRACE"
    assert os.stat(existing).st_mode & 0o777 == 0o600
    assert [f for f in os.listdir(tmp) if ".tmp." in f] == []
    assert report(existing, "-q").returncode == 0
    link = os.path.join(tmp, "link.at")
    os.symlink(existing, link)
    fifo = os.path.join(tmp, "fifo.at")
    os.mkfifo(fifo)
    other = os.path.join(tmp, "other.at")
    with open(other, "w") as f:
        f.write("theirs")
    os.chown(other, 65534, 65534)
    for path, words in ((tmp, "directory"), (link, "symbolic link"), (fifo, "not a regular file"),
                        (other, "belongs to uid 65534")):
        for force in ([], ["--force"]):
            p = run_tracer(["-q", "-o", path, *force, "--", *memops])
            assert p.returncode == 2, (path, force, p.returncode, p.stderr)
            assert words in p.stderr, (path, p.stderr)
    assert open(other).read() == "theirs" and os.readlink(link) == existing
    p = run_tracer(["-q", "-o", os.path.join(tmp, "no", "such", "dir.at"), "--", *memops])
    assert p.returncode == 2 and "cannot create" in p.stderr, p.stderr
    p = run_tracer(["-q", "--force", "--", *memops])
    assert p.returncode == 2 and "go with -o" in p.stderr, p.stderr


def test_max_size(traced, tmp):
    rec = os.path.join(tmp, "small.at")
    run = traced("burst", "300", opts=["-o", rec, "--max-size", "20000"])
    rc = run.finish()
    assert rc == 0, f"tracer rc {rc}{run.context()}"
    assert "reached --max-size" in run.stderr_text()
    assert os.path.getsize(rec) <= 20000
    assert runner.final_set(run.records()), "tracing goes on after the recording stops"
    out = os.path.join(tmp, "report.jsonl")
    p = report(rec, "--json", out, "-q")
    assert p.returncode == 0, p.stderr
    assert "cut at --max-size" in p.stderr, p.stderr
    assert read_records(out)[0]["type"] == "meta"


def test_full_disk(traced, tmp):
    mnt = os.path.join(tmp, "mnt")
    os.mkdir(mnt)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt]).returncode:
        pytest.skip("SKIPPED: cannot mount a small tmpfs to fill up")
    try:
        rec = os.path.join(mnt, "full.at")
        run = traced("burst", "300", opts=["-o", rec])
        rc = run.finish()
        err = run.stderr_text()
        assert rc == 1, f"a failed recording is a runtime failure: rc {rc}{run.context()}"
        assert "No space left on device" in err and "stays readable" in err, err
        assert runner.final_set(run.records()), "tracing goes on after the recording stops"
        p = report(rec, "-q")
        assert p.returncode == 0, p.stderr
        assert "end mark" in p.stderr, p.stderr
    finally:
        subprocess.run(["umount", mnt])


def test_bad_recordings(tmp):
    missing = report(os.path.join(tmp, "none.at"))
    assert missing.returncode == 2 and "cannot open" in missing.stderr
    garbage = os.path.join(tmp, "garbage.at")
    with open(garbage, "wb") as f:
        f.write(os.urandom(4096))
    p = report(garbage)
    assert p.returncode == 1 and "wrong magic" in p.stderr, p.stderr
    future = os.path.join(tmp, "future.at")
    with open(future, "wb") as f:
        f.write(b"ATRACE\0\0" + (2).to_bytes(4, "little") + bytes(4))
    p = report(future)
    assert p.returncode == 1 and "version 2" in p.stderr, p.stderr
    p = report(garbage, "--folded-profile", "nonsense")
    assert p.returncode == 2 and "--folded-profile" in p.stderr, p.stderr
