"""The HTML report in a real browser: headless Chromium opens the file offline,
runs its inline script and dumps the DOM; the chart must have been drawn, one
area per plotted arena, and no script error logged. With stacks, the flame graph
of resident bytes by first-touch stack must have been drawn too.

Needs Debian's `chromium` (scripts/install-deps.sh html); skipped without it.
The page comes from `make unit` (build/unit/sample-report.html, written by
tests/unit/test_reports.c) and from the tracer's own --html/--csv options.
"""
import csv
import html.parser
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

import runner

SAMPLE = os.path.join(runner.ROOT, "build", "unit", "sample-report.html")
RETENTION = os.path.join(runner.WORKLOADS, "retention")
CALLPATHS = os.path.join(runner.WORKLOADS, "callpaths")
CSV_HEADER = ["t", "arena", "kind", "mapped_bytes", "resident_bytes", "faulted_bytes",
              "released_bytes", "retained_bytes", "rss_bytes", "accounted_bytes"]
RENDER_TIMEOUT = 120


@pytest.fixture(autouse=True)
def preflight():
    """Replaces conftest's: rendering a file needs neither root nor the tracer
    (the test that runs the tracer checks for both itself)."""


def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium is not installed (scripts/install-deps.sh html installs it)")


class Dom(html.parser.HTMLParser):
    """What the test needs from the dumped DOM."""

    def __init__(self):
        super().__init__()
        self.body = None
        self.in_chart = False
        self.chart = None
        self.areas, self.bursts, self.rss, self.texts = [], [], [], 0
        self.legend_items = 0
        self.flame, self.in_flame = None, False
        self.flame_frames, self.flame_text = 0, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if tag == "body":
            self.body = a
        elif tag == "svg" and a.get("id") == "resident-chart":
            self.chart, self.in_chart = a, True
        elif self.in_chart and tag == "path" and "area" in cls:
            self.areas.append(a)
        elif self.in_chart and tag == "path" and "rss" in cls:
            self.rss.append(a)
        elif self.in_chart and tag == "rect" and "burst" in cls:
            self.bursts.append(a)
        elif self.in_chart and tag == "text":
            self.texts += 1
        elif tag == "span" and "item" in cls:
            self.legend_items += 1
        elif tag == "svg" and a.get("id") == "flame-graph":
            self.flame, self.in_flame = a, True
        elif self.in_flame and tag == "g" and "frame" in cls:
            self.flame_frames += 1

    def handle_endtag(self, tag):
        if tag == "svg":
            self.in_chart = self.in_flame = False

    def handle_data(self, data):
        # Frame labels and their <title>s (the DOM dump escapes them; this is the text).
        if self.in_flame:
            self.flame_text.append(data)


def embedded_data(page):
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert m, "no JSON data block in the report"
    return json.loads(m.group(1))


class Resources(html.parser.HTMLParser):
    """Whatever in the page itself (not its data) could fetch something."""
    FETCHING = {"link", "img", "iframe", "object", "embed", "audio", "video", "source", "base"}

    def __init__(self):
        super().__init__()
        self.problems, self.code, self.tag = [], [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tag = (tag, a.get("type"))
        if tag in self.FETCHING:
            self.problems.append(f"<{tag}> element")
        for name in ("src", "href", "srcset", "background"):
            if name in a:
                self.problems.append(f"<{tag} {name}={a[name]!r}>")

    def handle_data(self, data):
        # The inline script and the stylesheet; the JSON block is data.
        if self.tag in (("style", None), ("script", None)):
            self.code.append(data)

    def handle_endtag(self, tag):
        self.tag = None


def assert_offline(page):
    """Nothing fetched from anywhere: no external scripts, styles, fonts or images."""
    r = Resources()
    r.feed(page)
    assert not r.problems, "the report loads external resources: " + ", ".join(r.problems)
    code = "".join(r.code)
    assert "url(" not in code and "@import" not in code and "@font-face" not in code, \
        "the report's CSS loads something"
    for name in ("fetch(", "XMLHttpRequest", "import(", "WebSocket"):
        assert name not in code, f"the report's script uses {name}"
    for url in re.findall(r"https?://[^\s\"'<>]+", code):
        assert url == "http://www.w3.org/2000/svg", f"the report's code mentions {url}"


def render(path):
    """Chromium's DOM of path after its scripts ran, and its log."""
    exe = chromium()
    with tempfile.TemporaryDirectory(prefix="arenatrace-chromium-") as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               f"--user-data-dir={profile}", "--virtual-time-budget=3000",
               "--enable-logging=stderr", "--v=0",
               "--dump-dom", "file://" + os.path.abspath(path)]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=RENDER_TIMEOUT,
                                 stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            pytest.fail(f"chromium did not finish rendering {path} in {RENDER_TIMEOUT} s")
    assert res.returncode == 0, f"chromium exit {res.returncode}: {res.stderr[-2000:]}"
    errors = [line for line in res.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not errors, "the report's script logged errors:\n" + "\n".join(errors)
    dom = Dom()
    dom.feed(res.stdout)
    return dom, res.stdout


def check_drawn(path):
    """Renders path and checks the chart against the data the page carries."""
    with open(path, encoding="utf-8") as f:
        page = f.read()
    assert_offline(page)
    data = embedded_data(page)
    dom, text = render(path)
    assert dom.body is not None, f"no <body> in chromium's DOM dump: {text[:500]!r}"
    assert dom.body.get("data-chart-drawn") == "1", \
        "document.body.dataset.chartDrawn was not set: the chart script did not finish"
    assert dom.chart is not None, "no svg#resident-chart in the DOM"
    # One area per plotted arena, in the data's order, with real coordinates.
    assert [a.get("data-arena") for a in dom.areas] == [s["arena"] for s in data["series"]]
    for a in dom.areas:
        d = a.get("d", "")
        assert re.match(r"^M[\d.]+,[\d.]+", d) and "NaN" not in d and "Infinity" not in d, \
            f"bad path for {a.get('data-arena')}: {d[:120]!r}"
    if data["t"]:
        assert len(dom.rss) == 1, "no RSS line"
    assert len(dom.bursts) == len(data["bursts"]), "a burst was not drawn"
    assert dom.texts >= 4, "no axis labels"
    assert dom.legend_items >= len(data["series"]), "legend incomplete"
    return data, dom


def check_flame(data, dom):
    """The flame graph was drawn from the page's data: its frames are in the DOM."""
    assert data.get("flame"), "the report carries no flame graph data (no stacks?)"
    assert dom.body.get("data-flame-drawn") == "1", \
        "document.body.dataset.flameDrawn was not set: the flame graph script did not finish"
    assert dom.flame is not None, "no svg#flame-graph in the DOM"
    text = "".join(dom.flame_text)
    assert dom.flame_frames >= 3 and "all" in text, f"flame graph not drawn: {dom.flame_frames} frames"
    return text


def test_sample_report_draws():
    if not os.path.exists(SAMPLE):
        pytest.skip(f"{SAMPLE} is missing: `make unit` writes it (tests/unit/test_reports.c)")
    data, dom = check_drawn(SAMPLE)
    assert len(dom.areas) >= 2
    assert any(s["kind"] == "glibc_arena" for s in data["series"])
    # The arena id that tries to close the script block is data, not markup.
    assert any("</script>" in a["arena"] for a in data["arenas"]), \
        "the sample report lost its hostile arena id"
    # The synthetic profile: every path drawn, the hostile frame name as text.
    text = check_flame(data, dom)
    for fn in ("touch_mmap", "big_mallocs", "small_mallocs", "libc.so.6+0x1234", "evil</script><b>x</b>&_y"):
        assert fn in text, f"{fn!r} is not in the flame graph"
    assert "tiny_fn" not in text and data["flame"]["merged"] == 1


def tracer_has_report_options():
    res = subprocess.run([runner.TRACER, "--help"], capture_output=True, text=True, timeout=10)
    return "--html" in res.stdout + res.stderr and "--csv" in res.stdout + res.stderr


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows and rows[0] == CSV_HEADER, f"CSV header {rows[:1]}"
    return [dict(zip(CSV_HEADER, r)) for r in rows[1:]]


def test_tracer_writes_reports(tmp_path):
    chromium()
    if os.geteuid() != 0:
        pytest.skip("tracing needs root (BPF)")
    if not os.access(runner.TRACER, os.X_OK):
        pytest.skip(f"{runner.TRACER} is not built: run `make` first")
    if not os.access(RETENTION, os.X_OK):
        pytest.skip(f"{RETENTION} is not built: run `make workloads`")
    if not tracer_has_report_options():
        pytest.skip("build/arenatrace has no --html/--csv options yet")
    html_path, csv_path = tmp_path / "report.html", tmp_path / "timeline.csv"
    res = subprocess.run([runner.TRACER, "-q", "-i", "0.2", "--html", str(html_path), "--csv", str(csv_path),
                          "--", RETENTION, "2"],
                         capture_output=True, text=True, timeout=runner.TIMEOUT * 2, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, f"rc {res.returncode}, stderr {res.stderr[-2000:]!r}"
    assert html_path.exists() and csv_path.exists(), f"reports not written; stderr {res.stderr[-2000:]!r}"

    data, dom = check_drawn(str(html_path))
    assert dom.areas, "no arena plotted"
    # No --call-graph: no stacks, so no flame graph, and a note saying how to get one.
    assert data["flame"] is None and dom.flame is None
    assert dom.body.get("data-flame-drawn") is None
    assert "--call-graph dwarf" in html_path.read_text(encoding="utf-8")
    assert any(s["kind"] == "glibc_arena" for s in data["series"]), \
        f"the retention workload's glibc arenas are not in the chart: {[s['arena'] for s in data['series']]}"

    rows = read_csv(csv_path)
    procs = [r for r in rows if r["arena"] == "(process)"]
    assert len(procs) >= 3, f"{len(procs)} samples in the CSV"
    assert len(procs) == len(data["t"]), "CSV and HTML disagree on the samples"
    by_t = {}
    for r in rows:
        if r["arena"] != "(process)":
            assert r["kind"] and r["rss_bytes"] == "" and r["accounted_bytes"] == "", r
            by_t[r["t"]] = by_t.get(r["t"], 0) + int(r["resident_bytes"])
    for p in procs:
        assert int(p["accounted_bytes"]) == by_t.get(p["t"], 0), \
            f"t={p['t']}: accounted {p['accounted_bytes']} but the arena rows sum to {by_t.get(p['t'], 0)}"
    glibc_peak = max((int(r["resident_bytes"]) for r in rows if r["kind"] == "glibc_arena"), default=0)
    assert glibc_peak > 100 * runner.MiB, f"glibc arenas peak at {glibc_peak} bytes"


def test_tracer_flame_graph(tmp_path):
    """--call-graph dwarf --html: profile (a) of the callpaths workload as a flame
    graph; its functions that fill their arenas are frames in the drawn DOM."""
    chromium()
    if os.geteuid() != 0:
        pytest.skip("tracing needs root (BPF)")
    if not os.access(runner.TRACER, os.X_OK):
        pytest.skip(f"{runner.TRACER} is not built: run `make` first")
    if not os.access(CALLPATHS, os.X_OK):
        pytest.skip(f"{CALLPATHS} is not built: run `make workloads`")
    html_path = tmp_path / "flame.html"
    # runner.TracedRun: build/arenatrace -q -i 0.2 --json (its own file) OPTS -- callpaths,
    # READY protocol on its stdin/stdout, never left running.
    with runner.TracedRun(cmd=[CALLPATHS], opts=["--call-graph", "dwarf", "--sample-bytes", "65536",
                                                 "--html", str(html_path)]) as run:
        run.wait_ready("callpaths")
        time.sleep(1)  # let the tracer read the workload's records before it exits
        run.cont()
        rc = run.finish(timeout=runner.TIMEOUT * 2)
        assert rc == 0, f"rc {rc}" + run.context()
        assert html_path.exists(), "no HTML report written" + run.context()

    data, dom = check_drawn(str(html_path))
    text = check_flame(data, dom)
    flame = data["flame"]
    assert flame["total"] > 40 * runner.MiB, f"{flame['total']} bytes in the flame graph, want ~48 MiB"
    assert flame["tree"]["n"] == "all" and flame["tree"]["v"] == flame["total"]
    arenas = [c["n"] for c in flame["tree"].get("c", [])]
    assert any(":" in a for a in arenas), f"the first level is not arena ids: {arenas}"
    for fn in ("touch_mmap", "big_mallocs"):
        assert fn in text, f"{fn} is not in the drawn flame graph: {text[:2000]!r}"
