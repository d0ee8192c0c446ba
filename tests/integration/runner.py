"""Drive build/arenatrace and the memops workload, and compare with ground truth."""
import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import groundtruth

# Worst error of every accuracy check in this session (printed by conftest.py).
ERRORS = []
CURRENT_TEST = "?"

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TRACER = os.environ.get("ARENATRACE", os.path.join(ROOT, "build", "arenatrace"))
WORKLOADS = os.environ.get("ARENATRACE_WORKLOADS", os.path.join(ROOT, "build", "workloads"))
MEMOPS = os.path.join(WORKLOADS, "memops")

PAGE = 4096
MiB = 1 << 20
SLACK = 16 * PAGE  # fault-around granularity: the smallest error we tolerate
TIMEOUT = 30.0
KINDS = {"heap", "glibc_arena", "thread_stack", "stack", "file", "shmem", "anon",
         "glibc_mmap_chunk", "jemalloc", "tcmalloc", "mimalloc", "go_heap", "python_arena"}
ARENA_KEYS = ("t", "pid", "arena", "kind", "ranges", "mapped_bytes", "resident_bytes",
              "peak_resident_bytes", "faulted_bytes", "released_bytes")
INTERVAL = "0.2"


class Failure(AssertionError):
    pass


def stop(proc, sig=None, timeout=10):
    """Ends proc: closes its stdin (a workload waiting on it exits), sends sig if
    given, waits up to timeout, then kills it. None and exited processes are fine."""
    if proc is None:
        return
    if proc.stdin and not proc.stdin.closed:
        try:
            proc.stdin.close()
        except OSError:
            pass
    if sig is not None and proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def write_results_csv(name, header, fmt, rows):
    """Writes a test module's measured rows next to the binary (build/NAME)."""
    if not rows:
        return
    with open(os.path.join(os.path.dirname(TRACER), name), "w") as f:
        f.write(header + "\n")
        for row in rows:
            f.write(fmt % row + "\n")


def within(got, want, rel=0.01, floor=SLACK):
    return abs(got - want) <= max(rel * want, floor)


def parse_ranges(strs):
    return [(int(s, 16), int(e, 16)) for s, e in strs]


def read_records(path):
    """Complete JSON Lines records of path (a trailing partial line is ignored)."""
    try:
        with open(path) as f:
            data = f.read()
    except FileNotFoundError:
        return []
    recs = []
    for line in data.split("\n")[:-1]:
        if line.strip():
            try:
                recs.append(json.loads(line))
            except ValueError as e:
                raise Failure(f"{path}: bad JSON line {line[:200]!r}: {e}")
    return recs


def sample_sets(recs):
    """[(sample, [arena, ...])] in order: each sample with the arena records after it."""
    sets = []
    for r in recs:
        if r.get("type") == "sample":
            sets.append((r, []))
        elif r.get("type") == "arena" and sets:
            sets[-1][1].append(r)
    return sets


def fmt_arena(a):
    rs = " ".join(f"{s}-{e}" for s, e in a.get("ranges", []))
    return f"arena {a.get('arena')} kind {a.get('kind')} [{rs}]"


class Checkpoint:
    """One READY checkpoint: the workload's ranges, the truth, and the tracer's view."""

    def __init__(self, label, ranges, truth, sample, arenas):
        self.label, self.ranges, self.truth = label, ranges, truth
        self.sample, self.arenas = sample, arenas

    def live(self):
        return [a for a in self.arenas if a.get("mapped_bytes", 0) > 0]

    def truth_of(self, arena):
        if arena.get("mapped_bytes", 0) <= 0:
            return 0
        return self.truth.resident_bytes(parse_ranges(arena["ranges"]))

    def schema_failures(self):
        fails = []
        for k in ("t", "pid", "rss_bytes", "accounted_bytes", "lost_events", "drift_bytes"):
            if k not in self.sample:
                fails.append(f"{self.label}: sample lacks {k!r}: {self.sample}")
        for a in self.arenas:
            missing = [k for k in ARENA_KEYS if k not in a]
            if missing:
                fails.append(f"{self.label}: {fmt_arena(a)} lacks {missing}")
                continue
            if a["kind"] not in KINDS:
                fails.append(f"{self.label}: {fmt_arena(a)}: unknown kind {a['kind']!r}")
            if a["t"] != self.sample["t"]:
                fails.append(f"{self.label}: {fmt_arena(a)}: t {a['t']} != sample t {self.sample['t']}")
            if a["resident_bytes"] > a["mapped_bytes"]:
                fails.append(f"{self.label}: {fmt_arena(a)}: resident_bytes {a['resident_bytes']} "
                             f"> mapped_bytes {a['mapped_bytes']}")
            if a["peak_resident_bytes"] < a["resident_bytes"]:
                fails.append(f"{self.label}: {fmt_arena(a)}: peak_resident_bytes "
                             f"{a['peak_resident_bytes']} < resident_bytes {a['resident_bytes']}")
            for s, e in a["ranges"]:
                if not (s.startswith("0x") and e.startswith("0x") and int(s, 16) < int(e, 16)):
                    fails.append(f"{self.label}: {fmt_arena(a)}: bad range [{s!r}, {e!r}]")
        return fails

    def accuracy_failures(self):
        fails = self.schema_failures()
        worst = (0, 0.0, "-")
        for a in self.arenas:
            got, want = a.get("resident_bytes", 0), self.truth_of(a)
            diff = abs(got - want) // PAGE
            if diff > worst[0]:
                worst = (diff, 100.0 * abs(got - want) / want if want else 100.0, fmt_arena(a))
            if (got > 0 or want > 0) and not within(got, want):
                fails.append(f"{self.label}: {fmt_arena(a)}: resident_bytes {got} but truth {want} "
                             f"(diff {got - want:+d}, tolerance {max(0.01 * want, SLACK):.0f})")
        # mapped_bytes: each arena's ranges are mapped, and the arenas cover the maps.
        mapped_total = 0
        for a in self.live():
            ranges = parse_ranges(a["ranges"])
            span = sum(e - s for s, e in ranges)
            mapped_total += a.get("mapped_bytes", 0)
            if a.get("mapped_bytes") != span:
                fails.append(f"{self.label}: {fmt_arena(a)}: mapped_bytes {a.get('mapped_bytes')} "
                             f"but its ranges span {span}")
            really = self.truth.mapped_bytes(ranges)
            if really != span:
                fails.append(f"{self.label}: {fmt_arena(a)}: {span - really} bytes of its ranges are "
                             f"not mapped per /proc/PID/maps")
        maps_total = self.truth.total_mapped()
        if abs(mapped_total - maps_total) > max(0.01 * maps_total, SLACK):
            fails.append(f"{self.label}: arenas map {mapped_total} bytes, /proc/PID/maps {maps_total}")
        total = sum(a.get("resident_bytes", 0) for a in self.arenas)
        rss = self.truth.rss_rollup
        ERRORS.append(dict(test=CURRENT_TEST, checkpoint=self.label, worst_arena_pages=worst[0], worst_arena_pct=worst[1],
                           worst_arena=worst[2], sum_vs_rss_pct=100.0 * abs(total - rss) / rss if rss else 0.0,
                           drift_bytes=self.sample.get("drift_bytes", 0)))
        if abs(total - rss) > 0.01 * rss:
            fails.append(f"{self.label}: sum of arena resident_bytes {total} but smaps_rollup Rss "
                         f"{rss} (diff {total - rss:+d}, tolerance {0.01 * rss:.0f}); "
                         f"sample rss_bytes {self.sample.get('rss_bytes')}")
        return fails

    def assert_accurate(self):
        fails = self.accuracy_failures()
        if fails:
            raise Failure("accuracy:\n  " + "\n  ".join(fails) + "\n" + self.describe())

    def describe(self):
        lines = [f"checkpoint {self.label} ranges "
                 + " ".join(f"{s:x}-{e:x}" for s, e in self.ranges)
                 + f"; sample {json.dumps(self.sample)}"]
        for a in self.arenas:
            lines.append(f"    {fmt_arena(a)} mapped {a.get('mapped_bytes')} resident "
                         f"{a.get('resident_bytes')} truth {self.truth_of(a)} faulted "
                         f"{a.get('faulted_bytes')} released {a.get('released_bytes')}")
        return "\n".join(lines)

    def arenas_over(self, lo, hi):
        """Live arenas with a range intersecting [lo, hi)."""
        return [a for a in self.live()
                if any(s < hi and lo < e for s, e in parse_ranges(a["ranges"]))]

    def arena_containing(self, lo, hi=None):
        """The one live arena whose ranges cover [lo, hi) (hi defaults to lo + 1 page)."""
        hi = hi or lo + PAGE
        for a in self.live():
            rs = sorted(parse_ranges(a["ranges"]))
            pos = lo
            for s, e in rs:
                if s <= pos < e:
                    pos = e
            if pos >= hi:
                return a
        raise Failure(f"{self.label}: no live arena covers {lo:x}-{hi:x}\n" + self.describe())


class TracedRun:
    """build/arenatrace -q -i 0.2 --json FILE [opts] -- memops ARGS, driven by the READY protocol."""

    def __init__(self, *args, opts=(), cmd=None, interval=INTERVAL):
        self.tmpdir = tempfile.mkdtemp(prefix="arenatrace-test-")
        self.json_path = os.path.join(self.tmpdir, "out.jsonl")
        self.stderr_path = os.path.join(self.tmpdir, "stderr")
        target = cmd if cmd is not None else [MEMOPS, *args]
        self.argv = [TRACER, "-q", "-i", interval, "--json", self.json_path, *opts, "--", *target]
        self.stderr = open(self.stderr_path, "w")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True, bufsize=1)
        self.lines = queue.Queue()
        self.other = []  # stdout lines that are not the workload's protocol
        self._pid = None
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    # --- context management: never leave a tracer or workload behind
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            if self.proc.stdin and not self.proc.stdin.closed:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._pid and os.path.exists(f"/proc/{self._pid}"):
            try:
                os.kill(self._pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.stderr.close()
        if not os.environ.get("ARENATRACE_KEEP"):  # keep the JSON for debugging
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    # --- diagnostics
    def stderr_text(self):
        self.stderr.flush()
        with open(self.stderr_path) as f:
            return f.read()

    def context(self):
        return (f"\n  command: {' '.join(self.argv)}\n  tracer stderr (tail): "
                f"{self.stderr_text()[-1500:]!r}\n  tracer stdout: {self.other[-20:]!r}")

    def fail(self, msg):
        raise Failure(msg + self.context())

    # --- protocol
    def next_line(self, what, timeout=TIMEOUT):
        """Next workload protocol line (READY/DONE); tracer output is set aside."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail(f"timed out after {timeout:.0f} s waiting for {what}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.fail(f"stdout closed (tracer rc {self.proc.poll()}) while waiting for {what}")
            if line.startswith("READY") or line == "DONE":
                return line
            self.other.append(line)

    def wait_ready(self, label=None):
        line = self.next_line(f"READY {label or ''}".strip())
        if line == "DONE":
            self.fail(f"workload said DONE while waiting for READY {label}")
        parts = line.split()
        if label and parts[1] != label:
            self.fail(f"expected READY {label}, got {line!r}")
        return parts[1], [tuple(int(x, 16) for x in r.split("-")) for r in parts[2:]]

    def cont(self):
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def records(self):
        return read_records(self.json_path)

    def wait_records(self, pred, what, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            recs = self.records()
            if pred(recs):
                return recs
            if time.monotonic() > deadline:
                self.fail(f"timed out after {timeout:.0f} s waiting for {what} in {self.json_path} "
                          f"({len(recs)} records, last {recs[-1:]!r})")
            time.sleep(0.05)

    def pid(self):
        """The traced workload's pid, from the meta record."""
        if self._pid is None:
            recs = self.wait_records(lambda r: any(x.get("type") == "meta" for x in r), "meta record")
            if recs[0].get("type") != "meta":
                self.fail(f"first JSON record is not meta: {recs[0]!r}")
            meta = recs[0]
            if meta.get("schema") != 1:
                self.fail(f"meta schema {meta.get('schema')!r}, expected 1")
            self._pid = meta["pid"]
            with open(f"/proc/{self._pid}/status") as f:
                ppid = next(int(l.split()[1]) for l in f if l.startswith("PPid:"))
            if ppid != self.proc.pid:
                self.fail(f"meta pid {self._pid} has parent {ppid}, not the tracer {self.proc.pid}")
        return self._pid

    def nsamples(self):
        return sum(1 for r in self.records() if r.get("type") == "sample")

    def checkpoint(self, label=None):
        """Wait for READY, take the truth while the workload blocks, and pair it with
        the last complete sample set written at least 2 samples after the truth."""
        label, ranges = self.wait_ready(label)
        return self.observe(label, ranges, self.pid())

    def observe(self, label, ranges, pid):
        for _attempt in range(3):
            n0 = self.nsamples()
            truth = groundtruth.Snapshot(pid)
            recs = self.wait_records(
                lambda r: sum(1 for x in r if x.get("type") == "sample") >= n0 + 3,
                f"3 more samples after the truth (had {n0})")
            after = groundtruth.Snapshot(pid)
            if truth.same_as(after):
                break
        else:
            self.fail(f"{label}: ground truth kept changing while the workload was blocked")
        sets = sample_sets(recs)
        sample, arenas = sets[-2]  # complete: another sample follows it
        return Checkpoint(label, ranges, truth, sample, arenas)

    def finish(self, timeout=TIMEOUT):
        """Let the workload run to its end (newline per checkpoint); return the tracer's rc."""
        while True:
            line = self.next_line("DONE", timeout)
            if line == "DONE":
                break
            self.cont()
        self.proc.stdin.close()
        return self.wait_exit(timeout)

    def wait_exit(self, timeout=TIMEOUT):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"tracer did not exit within {timeout:.0f} s")


def final_set(recs):
    """The (sample, arenas) written after stopping, marked final."""
    finals = [(s, a) for s, a in sample_sets(recs) if s.get("final")]
    return finals[-1] if finals else None


def run_tracer(args, timeout=TIMEOUT, **kw):
    """Run the tracer to completion; returns CompletedProcess (text)."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    try:
        return subprocess.run([TRACER, *args], capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as e:
        raise Failure(f"{TRACER} {' '.join(args)} did not exit within {timeout} s; "
                      f"stderr {e.stderr!r}")


class Workload:
    """memops started directly (for attach mode)."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([MEMOPS, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)

    def wait_ready(self):
        box = []
        t = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(TIMEOUT)
        if not box or not box[0].startswith("READY"):
            raise Failure(f"memops did not print READY within {TIMEOUT} s: {box!r}")
        parts = box[0].split()
        return parts[1], [tuple(int(x, 16) for x in r.split("-")) for r in parts[2:]]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        stop(self.proc)
