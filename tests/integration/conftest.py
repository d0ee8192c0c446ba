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
