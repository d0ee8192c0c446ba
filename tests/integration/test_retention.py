"""Retention: a burst that glibc keeps, then idle. The numbers the tracer gives for
what the burst left behind are compared with the page tables at the checkpoint."""
import runner
from runner import MiB


def by_type(recs, t):
    return [r for r in recs if r.get("type") == t]


def test_burst_then_idle(traced):
    run = traced("burst", "2500", opts=["--retain-after", "1"])
    cp = run.checkpoint("burst")
    cp.assert_accurate()
    arenas = [a for a in cp.live() if a["kind"] == "glibc_arena"]
    truth_glibc = sum(cp.truth_of(a) for a in arenas)
    assert truth_glibc > 100 * MiB, f"workload: the burst should leave >100 MiB in glibc arenas\n{cp.describe()}"

    # Retained: resident, released nothing for > 1 s: the whole burst's leftovers.
    retained = sum(a.get("retained_bytes", 0) for a in arenas)
    assert retained >= 0.95 * truth_glibc, \
        f"retained {retained} < 95% of glibc arenas' resident truth {truth_glibc}\n{cp.describe()}"
    assert cp.sample.get("retained_bytes", 0) >= retained, cp.describe()
    for a in arenas:
        assert a.get("resident_by_age"), f"{a['arena']}: no resident_by_age\n{cp.describe()}"
        assert a.get("last_growth_t") is not None and a.get("peak_t") is not None, cp.describe()

    run.cont()
    assert run.finish() == 0
    recs = run.records()
    bursts = [b for b in by_type(recs, "burst") if b.get("final")]
    assert bursts, f"no burst records after the run: {by_type(recs, 'sample')[-1:]!r}"
    big = max(bursts, key=lambda b: b["faulted_bytes"])
    # At least 95% of what the burst faulted in is still resident, in glibc arenas.
    in_glibc = sum(v for k, v in big["resident_by_arena"].items() if k.startswith("glibc_arena:"))
    assert big["resident_bytes"] >= 0.95 * big["faulted_bytes"], big
    assert in_glibc >= 0.95 * truth_glibc, f"burst left {in_glibc} in glibc arenas, truth {truth_glibc}: {big}"
    assert abs(in_glibc - truth_glibc) <= max(0.01 * truth_glibc, runner.SLACK), \
        f"burst's glibc residue {in_glibc} vs page tables {truth_glibc}"

    diag = by_type(recs, "diagnosis")
    assert diag, "no diagnosis record"
    d = diag[-1]
    assert d["findings"], d
    assert d["findings"][0]["kind"] == "glibc_arena", d
    assert "MALLOC_ARENA_MAX" in d["text"], d["text"]


def test_no_burst_no_diagnosis(traced):
    """A process that only maps and touches a little says nothing about knobs."""
    run = traced("anon-write", "8", opts=["--retain-after", "1000"])
    run.checkpoint("anon-write").assert_accurate()
    run.cont()
    assert run.finish() == 0
    d = by_type(run.records(), "diagnosis")[-1]
    assert d["findings"] == [], d
    assert "Try" not in d["text"], d["text"]
