"""Bad input and hostile environment: exit codes and messages."""
import subprocess

import pytest

import runner
from runner import run_tracer

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]


def test_unknown_pid():
    res = run_tracer(["-q", "-d", "1", "-p", "4194303"])
    assert res.returncode == 2, f"rc {res.returncode}, stderr {res.stderr!r}"
    assert "4194303" in res.stderr, res.stderr


def test_reaped_pid():
    p = subprocess.Popen(["/bin/true"])
    p.wait()
    res = run_tracer(["-q", "-d", "1", "-p", str(p.pid)])
    assert res.returncode == 2, f"rc {res.returncode}, stderr {res.stderr!r}"
    assert str(p.pid) in res.stderr, res.stderr


@pytest.mark.parametrize("cmd", ["/nonexistent/arenatrace-no-such-cmd", "arenatrace-no-such-cmd"])
def test_command_not_found(cmd):
    res = run_tracer(["-q", "-d", "1", "--", cmd])
    assert res.returncode == 2, f"rc {res.returncode}, stderr {res.stderr!r}"
    assert "arenatrace-no-such-cmd" in res.stderr, res.stderr


def test_not_root():
    res = subprocess.run(NOBODY + [runner.TRACER, "-q", "-d", "1", "--", "/bin/true"],
                         capture_output=True, text=True, timeout=runner.TIMEOUT,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 1, f"rc {res.returncode}, stderr {res.stderr!r}"
    assert "CAP_BPF" in res.stderr and "CAP_PERFMON" in res.stderr, res.stderr


def test_missing_btf():
    res = run_tracer(["-q", "-d", "1", "--btf", "/nonexistent/vmlinux.btf", "--",
                      runner.MEMOPS, "exit", "0"])
    assert res.returncode == 1, f"rc {res.returncode}, stderr {res.stderr!r}"
    assert "/nonexistent/vmlinux.btf" in res.stderr, res.stderr


@pytest.mark.parametrize("args", [
    ["--no-such-option", "-p", "1"],
    ["-i", "abc", "-p", "1"],
    ["-i", "0", "-p", "1"],
    ["-d", "xyz", "-p", "1"],
    ["-p", "notapid"],
    ["-q"],  # no target at all
], ids=lambda a: " ".join(a))
def test_bad_option(args):
    res = run_tracer(args)
    assert res.returncode == 2, f"rc {res.returncode}, stderr {res.stderr!r}"
    assert res.stderr.strip(), "usage errors must say what is wrong on stderr"


def tracefs_mounts():
    with open("/proc/self/mountinfo") as f:
        return [l.split()[4] for l in f if l.split(" - ")[1].split()[0] == "tracefs"]


def test_without_tracefs(traced):
    before = tracefs_mounts()
    try:
        for m in sorted(before, key=len, reverse=True):
            subprocess.run(["umount", m], check=True)
        assert not tracefs_mounts(), "could not unmount tracefs"
        run = traced("anon-write", "32")
        cp = run.checkpoint("anon-write")
        cp.assert_accurate()
        assert cp.arena_containing(*cp.ranges[0])["resident_bytes"] >= 32 * runner.MiB - runner.SLACK
        run.cont()
        assert run.finish() == 0
    finally:
        for m in tracefs_mounts():
            if m not in before:
                subprocess.run(["umount", m])
        for m in sorted(before, key=len):
            if m not in tracefs_mounts():
                subprocess.run(["mount", "-t", "tracefs", "nodev", m], check=True)
