"""Root integration tests for build/arenatrace.

Run from the repository root after `make`:
    /usr/bin/python3 -m pytest -q tests/integration
ARENATRACE=path and ARENATRACE_WORKLOADS=dir override build/arenatrace and
build/workloads/; ARENATRACE_KEEP=1 keeps each run's JSON in /tmp.
"""
import os

import pytest

import runner


@pytest.fixture(autouse=True)
def preflight():
    if os.geteuid() != 0:
        pytest.skip("integration tests need root (BPF, /proc/PID/pagemap PFNs, /proc/kpageflags)")
    if not os.access(runner.TRACER, os.X_OK):
        pytest.skip(f"{runner.TRACER} is not built: run `make` first")
    if not os.access(runner.MEMOPS, os.X_OK):
        pytest.fail(f"{runner.TRACER} is built but {runner.MEMOPS} is not: "
                    "the Makefile must build tests/workloads/*.c into build/workloads/")


@pytest.fixture
def traced():
    """traced('anon-write', '64', opts=[...]) -> TracedRun, closed after the test."""
    runs = []

    def start(*args, **kw):
        r = runner.TracedRun(*args, **kw)
        runs.append(r)
        return r

    yield start
    for r in runs:
        r.close()


def pytest_runtest_logstart(nodeid, location):
    runner.CURRENT_TEST = nodeid.split("::")[-1]


def pytest_terminal_summary(terminalreporter):
    """The worst error measured per test, for the closing notes (also build/accuracy.csv)."""
    if not runner.ERRORS:
        return
    rows = {}
    for e in runner.ERRORS:
        r = rows.setdefault(e["test"], dict(e, checks=0))
        r["checks"] += 1
        if (e["worst_arena_pages"], e["sum_vs_rss_pct"]) > (r["worst_arena_pages"], r["sum_vs_rss_pct"]):
            r.update(e, checks=r["checks"])
    tr = terminalreporter
    tr.write_sep("-", "worst accuracy error per test (arena vs pagemap; arena sum vs smaps Rss)")
    for t, r in rows.items():
        tr.write_line(f"{t:32} {r['worst_arena_pages']:5d} pages ({r['worst_arena_pct']:.3f}%)  "
                      f"sum {r['sum_vs_rss_pct']:.3f}%  drift {r['drift_bytes']} B  "
                      f"checks {r['checks']}")
    path = os.path.join(os.path.dirname(runner.TRACER), "accuracy.csv")
    with open(path, "w") as f:
        f.write("test,checks,worst_arena_pages,worst_arena_pct,worst_arena,sum_vs_rss_pct,drift_bytes\n")
        for t, r in rows.items():
            f.write(f"{t},{r['checks']},{r['worst_arena_pages']},{r['worst_arena_pct']:.4f},"
                    f"{r['worst_arena']},{r['sum_vs_rss_pct']:.4f},{r['drift_bytes']}\n")
