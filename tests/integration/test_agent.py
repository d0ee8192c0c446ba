"""`arenatrace agent`: Prometheus scrapes it, pprof tools read it, processes come
and go, and its memory stays flat.

A real Prometheus server (Debian's prometheus package, /usr/bin/prometheus) is
started by the test on a free loopback port with its own temporary TSDB; a
PromQL query through its HTTP API must return the workload's resident bytes
within the core accuracy bound (runner.within: 1% or 16 pages) of the page
tables (/proc/PID/pagemap).
"""
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

import groundtruth
import runner

PROMETHEUS = "/usr/bin/prometheus"
PROTO_DIR = os.path.join(runner.ROOT, "user", "proto")
MAPCHURN = os.path.join(runner.WORKLOADS, "mapchurn")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, method="GET", timeout=10):
    """(status, headers, body bytes); HTTP errors are returned, not raised."""
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class Agent:
    """build/arenatrace agent on a free loopback port, stopped with SIGTERM."""

    def __init__(self, *args, interval="0.5"):
        self.port = free_port()
        self.err = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([runner.TRACER, "agent", "--listen", f"127.0.0.1:{self.port}",
                                      "-i", interval, *args],
                                     stdout=subprocess.DEVNULL, stderr=self.err)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + runner.TIMEOUT
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise runner.Failure(f"agent exited with {self.proc.returncode}: {self.stderr()}")
            try:
                if http(self.base + "/metrics", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise runner.Failure(f"agent did not serve /metrics within {runner.TIMEOUT} s: {self.stderr()}")

    def stderr(self):
        self.err.seek(0)
        return self.err.read()

    def metrics(self):
        status, _, body = http(self.base + "/metrics")
        assert status == 200, status
        return body.decode()

    def wait_metric(self, pred, what, timeout=runner.TIMEOUT):
        deadline = time.time() + timeout
        text = ""
        while time.time() < deadline:
            text = self.metrics()
            if pred(text):
                return text
            time.sleep(0.1)
        raise runner.Failure(f"agent: {what} not seen within {timeout} s\n{text[-3000:]}\n{self.stderr()}")

    def close(self):
        runner.stop(self.proc, signal.SIGTERM, timeout=15)
        self.err.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def series(text, name):
    """{frozenset(labels.items()): value} of one metric in a /metrics text."""
    out = {}
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, value = line.rsplit(" ", 1)
        labels = {}
        if "{" in head:
            for part in head[head.index("{") + 1:-1].split('",'):
                k, v = part.split("=", 1)
                labels[k] = v.strip('"')
        out[frozenset(labels.items())] = float(value)
    return out


def of_pid(text, name, pid):
    return {dict(k).get("arena", ""): v for k, v in series(text, name).items() if dict(k).get("pid") == str(pid)}


class Prometheus:
    def __init__(self, target_port):
        if not os.access(PROMETHEUS, os.X_OK):
            pytest.skip(f"{PROMETHEUS} missing: scripts/install-deps.sh test installs prometheus")
        self.dir = tempfile.mkdtemp(prefix="at-prom-")
        self.port = free_port()
        cfg = os.path.join(self.dir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: arenatrace\n    static_configs:\n"
                    f"      - targets: ['127.0.0.1:{target_port}']\n")
        self.log = open(os.path.join(self.dir, "log"), "w+")
        self.proc = subprocess.Popen([PROMETHEUS, f"--config.file={cfg}",
                                      f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
                                      f"--web.listen-address=127.0.0.1:{self.port}"],
                                     stdout=self.log, stderr=self.log)

    def query(self, q):
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
        try:
            status, _, body = http(url, timeout=5)
        except OSError:
            return None
        if status != 200:
            return None
        return json.loads(body)["data"]["result"]

    def wait_query(self, q, pred, what, timeout=40):
        deadline = time.time() + timeout
        res = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise runner.Failure(f"prometheus exited: {self.log.read()[-2000:]}")
            res = self.query(q)
            if res and pred(res):
                return res
            time.sleep(0.5)
        self.log.seek(0)
        raise runner.Failure(f"prometheus: {what}: query {q!r} gave {res!r} within {timeout} s\n"
                             f"{self.log.read()[-2000:]}")

    def close(self):
        runner.stop(self.proc, signal.SIGTERM, timeout=15)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def test_prometheus_query_matches_page_tables():
    """PromQL through a real Prometheus: the workload's resident bytes, total and
    for the arena holding its mapping, equal the page tables within the core bound."""
    with runner.Workload("hold", "48") as w:
        label, ranges = w.wait_ready()
        pid = w.proc.pid
        with Agent("--pid", str(pid)) as ag:
            prom = Prometheus(ag.port)
            try:
                truth = groundtruth.Snapshot(pid)
                want_total = truth.total_bytes()
                want_range = truth.resident_bytes(ranges)
                q = f'sum(arenatrace_arena_resident_bytes{{pid="{pid}"}})'
                res = prom.wait_query(q, lambda r: runner.within(float(r[0]["value"][1]), want_total),
                                      "sum of arena resident bytes within 1% of pagemap")
                got = float(res[0]["value"][1])
                arena = f"anon:0x{ranges[0][0]:x}"
                q2 = f'arenatrace_arena_resident_bytes{{pid="{pid}",arena="{arena}",kind="anon"}}'
                res2 = prom.wait_query(q2, lambda r: len(r) == 1, f"the series of arena {arena}")
                got_range = float(res2[0]["value"][1])
                rss = prom.wait_query(f'arenatrace_process_resident_bytes{{pid="{pid}",comm="memops"}}',
                                      lambda r: len(r) == 1, "process RSS")
                info = prom.wait_query("arenatrace_build_info", lambda r: len(r) == 1, "build info")
            finally:
                prom.close()
            print(f"\nPromQL sum {got:.0f} B vs pagemap {want_total} B "
                  f"({(got - want_total) / want_total * 100:+.3f}%); arena {arena} {got_range:.0f} B "
                  f"vs {want_range} B; RSS {rss[0]['value'][1]}")
            assert runner.within(got, want_total), (got, want_total)
            assert runner.within(got_range, want_range), (got_range, want_range)
            assert runner.within(float(rss[0]["value"][1]), truth.rss_rollup)
            assert info[0]["metric"]["version"]


def test_live_faults_match_page_tables():
    """Faults made while the agent follows the process are counted by its BPF
    programs, not left to the page-table checks: 16 MiB written after attach
    show as that many faulted bytes, the arenas add up to the page tables, and
    the process's drift (bytes those checks corrected) stays within one
    fault-around. A filter that turned its RSS changes away would be all drift."""
    with runner.Workload("zero-read", "32") as w:
        w.wait_ready()
        pid = w.proc.pid
        with Agent("--pid", str(pid)) as ag:
            ag.wait_metric(lambda t: f'pid="{pid}"' in t, "the workload")
            w.proc.stdin.write("\n")
            w.proc.stdin.flush()
            w.wait_ready()          # half of it written
            want = groundtruth.Snapshot(pid).total_bytes()
            text = ag.wait_metric(lambda t: runner.within(sum(of_pid(t, "arenatrace_arena_resident_bytes",
                                                                     pid).values()), want),
                                  f"the arenas within 1% of the {want} resident bytes")
            faulted = sum(of_pid(text, "arenatrace_arena_faulted_bytes_total", pid).values())
            drift = sum(of_pid(text, "arenatrace_process_drift_bytes_total", pid).values())
            print(f"\nresident {want} B, faulted since attach {faulted:.0f} B, drift {drift:.0f} B")
            assert faulted >= 16 << 20, faulted
            assert drift <= runner.SLACK, drift


def test_metrics_text_format_and_bounded_arenas():
    """HELP and TYPE for every family, counters end in _total, and --top bounds the
    arena series: the rest is summed per kind as arena="other" with nothing lost."""
    with runner.Workload("hold", "16") as w:
        w.wait_ready()
        pid = w.proc.pid
        with Agent("--pid", str(pid), "--top", "2") as ag:
            text = ag.wait_metric(lambda t: f'pid="{pid}"' in t, "the workload")
            # The same moment for both: the process sum and the arenas.
            fams = {}
            for line in text.splitlines():
                if line.startswith("# TYPE "):
                    _, _, name, typ = line.split()
                    fams[name] = typ
            for line in text.splitlines():
                if line and not line.startswith("#"):
                    name = line.split("{")[0].split(" ")[0]
                    assert name in fams, f"{name} has no # TYPE"
                    assert name.startswith("arenatrace_")
            for name, typ in fams.items():
                assert f"# HELP {name} " in text
                assert (typ == "counter") == name.endswith("_total"), (name, typ)
            res = of_pid(text, "arenatrace_arena_resident_bytes", pid)
            named = [a for a in res if a != "other"]
            assert len(named) == 2, res
            kinds = {dict(k)["kind"] for k, v in series(text, "arenatrace_arena_resident_bytes").items()
                     if dict(k).get("arena") == "other"}
            assert kinds, "no arena=\"other\" series"
            total = sum(v for k, v in series(text, "arenatrace_arena_resident_bytes").items()
                        if dict(k).get("pid") == str(pid))
            # The same scrape: the series add up to the process's accounted bytes (a
            # negative transient count shows as 0 in a series: hence the slack).
            acc = series(text, "arenatrace_process_accounted_bytes")
            assert runner.within(total, list(acc.values())[0]), (total, acc)
            for fam in ("arenatrace_arena_mapped_bytes", "arenatrace_arena_peak_resident_bytes",
                        "arenatrace_arena_retained_bytes", "arenatrace_arena_faulted_bytes_total",
                        "arenatrace_arena_released_bytes_total", "arenatrace_lost_events_total",
                        "arenatrace_process_resident_bytes", "arenatrace_build_info"):
                assert fam in fams, fam


def test_pprof_heap_decodes_and_html():
    """/debug/pprof/heap is a gzipped profile.proto with the faulting function in it;
    / is the HTML report; other methods get 405, other paths 404."""
    if not shutil.which("protoc"):
        pytest.skip("protoc missing: scripts/install-deps.sh test installs protobuf-compiler")
    with runner.Workload("zero-read", "32") as w:
        w.wait_ready()
        pid = w.proc.pid
        with Agent("--pid", str(pid), "--sample-bytes", "65536") as ag:
            ag.wait_metric(lambda t: f'pid="{pid}"' in t, "the workload")
            w.proc.stdin.write("\n")
            w.proc.stdin.flush()
            w.wait_ready()          # half of it written: sampled stacks
            ag.wait_metric(lambda t: any(v >= 16 << 20 for v in
                                         of_pid(t, "arenatrace_arena_faulted_bytes_total", pid).values()),
                           "the written half")
            status, headers, body = http(f"{ag.base}/debug/pprof/heap?pid={pid}")
            assert status == 200
            raw = gzip.decompress(body)
            dec = subprocess.run(["protoc", "--decode", "perftools.profiles.Profile",
                                  f"--proto_path={PROTO_DIR}", "profile.proto"],
                                 input=raw, capture_output=True, timeout=30)
            assert dec.returncode == 0, dec.stderr
            text = dec.stdout.decode()
            assert '"resident_space"' in text and "sample {" in text, text[:2000]
            assert '"touch"' in text or '"sc_zero_read"' in text, "the faulting function is missing"
            # All processes merged (no ?pid) decodes too.
            status, _, body = http(f"{ag.base}/debug/pprof/heap")
            assert status == 200 and gzip.decompress(body)
            status, headers, body = http(f"{ag.base}/")
            assert status == 200 and headers["Content-Type"].startswith("text/html")
            assert b"<!DOCTYPE html>" in body and b"memops" in body
            for method in ("POST", "PUT", "DELETE", "HEAD"):
                status, headers, _ = http(f"{ag.base}/metrics", method=method)
                assert status == 405, (method, status)
                assert headers["Allow"] == "GET"
            assert http(f"{ag.base}/nope")[0] == 404
            assert http(f"{ag.base}/debug/pprof/heap?pid=1")[0] == 404
            assert http(f"{ag.base}/?pid=x")[0] == 400


class NamedWorkload(runner.Workload):
    """memops under another file name (so another comm): other memops on the
    machine (other tests running) must not match --comm."""

    def __init__(self, path, *args):
        self.proc = subprocess.Popen([path, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)


def test_new_process_picked_up_then_dropped(tmp_path):
    """--comm: a process started after the agent is followed within an interval
    and dropped after it exits; other names are not followed."""
    comm = f"atag{os.getpid() % 100000}"
    exe = str(tmp_path / comm)
    shutil.copy(runner.MEMOPS, exe)
    with Agent("--comm", f"nosuchprog,{comm}", interval="0.5") as ag:
        assert series(ag.metrics(), "arenatrace_targets") == {frozenset(): 0.0}
        t0 = time.time()
        with NamedWorkload(exe, "hold", "4") as w:
            w.wait_ready()
            pid = w.proc.pid
            ag.wait_metric(lambda t: f'arenatrace_process_resident_bytes{{pid="{pid}"' in t,
                           "the new process", timeout=10)
            picked = time.time() - t0
            with NamedWorkload(exe, "hold", "12") as w2:   # same comm: both followed
                w2.wait_ready()
                ag.wait_metric(lambda t: series(t, "arenatrace_targets") == {frozenset(): 2.0},
                               "two targets", timeout=10)
                # One BPF object, two slots: each process's arenas add up to its own page tables.
                for p in (pid, w2.proc.pid):
                    want = groundtruth.Snapshot(p).total_bytes()
                    ag.wait_metric(lambda t: runner.within(sum(of_pid(t, "arenatrace_arena_resident_bytes",
                                                                      p).values()), want),
                                   f"PID {p}'s arenas within 1% of its {want} resident bytes", timeout=10)
        ag.wait_metric(lambda t: f'pid="{pid}"' not in t and
                       series(t, "arenatrace_targets") == {frozenset(): 0.0},
                       "the exited processes dropped", timeout=10)
        print(f"\npicked up after {picked:.2f} s")
        # A process of another name is never followed.
        other = subprocess.Popen(["sleep", "30"])
        try:
            time.sleep(1.5)
            assert f'pid="{other.pid}"' not in ag.metrics()
        finally:
            other.kill()
            other.wait()
        assert "arenatrace_targets_followed_total 2\n" in ag.metrics()


@pytest.mark.parametrize("listen,code,msg", [
    ("nonsense", 2, "is not HOST:PORT"),
    ("127.0.0.1:99999", 2, "0..65535"),
    ("203.0.113.7:9464", 1, "not an address of this machine"),
])
def test_bad_listen(listen, code, msg):
    r = runner.run_tracer(["agent", "--listen", listen, "--pid", "1"])
    assert r.returncode == code, (r.returncode, r.stderr)
    assert msg in r.stderr, r.stderr


def test_listen_port_in_use_and_usage():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = runner.run_tracer(["agent", "--listen", f"127.0.0.1:{port}", "--pid", "1"])
        assert r.returncode == 1 and "Address already in use" in r.stderr, r.stderr
    r = runner.run_tracer(["agent"])
    assert r.returncode == 2 and "give --pid, --comm or --cgroup" in r.stderr
    r = runner.run_tracer(["agent", "--history", "forever", "--pid", "1"])
    assert r.returncode == 2 and "--history" in r.stderr
    r = runner.run_tracer(["agent", "--help"])
    assert r.returncode == 0 and "/metrics" in r.stdout


def vm_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise runner.Failure(f"no {field} for {pid}")


def test_memory_flat_over_churn():
    """A short interval and a short --history against a process that maps and
    unmaps all the time (a new arena per mapping): after a warm-up the agent's
    RSS stops growing (the history ring, its arena table, the ledger's gone
    arenas and the stack tables, trimmed at --max-stacks, all stay bounded)."""
    if not os.access(MAPCHURN, os.X_OK):
        pytest.fail(f"{MAPCHURN} is not built")
    churn = subprocess.Popen([MAPCHURN, "40"], stdout=subprocess.PIPE, text=True)
    try:
        assert churn.stdout.readline().startswith("READY")
        with Agent("--pid", str(churn.pid), "--history", "2s", "--top", "5", "--sample-bytes", "65536",
                   "--max-stacks", "64", interval="0.05") as ag:
            ag.wait_metric(lambda t: f'pid="{churn.pid}"' in t, "the churning process")
            samples, faulted = [], []
            for i in range(24):
                time.sleep(1)
                text = ag.metrics()
                http(f"{ag.base}/")     # renders the history too
                samples.append(vm_kb(ag.proc.pid, "VmRSS"))
                faulted.append(sum(v for k, v in series(text, "arenatrace_kind_faulted_bytes_total").items()
                                   if dict(k).get("pid") == str(churn.pid) and dict(k)["kind"] == "anon"))
            # The per-kind counter keeps the bytes of arenas gone since: it only grows.
            assert all(b >= a for a, b in zip(faulted, faulted[1:])) and faulted[-1] > faulted[0], faulted
            # The stack tables reached their bound (128 cells) and were trimmed, again and again.
            trims = series(text, "arenatrace_process_stack_trims_total")
            assert list(trims.values())[0] >= 10, trims
            warm, end = samples[7], samples[-1]
            print(f"\nagent VmRSS kB each second: {samples}")
            # Flat: at most 1 MiB (and 5%) more after the warm-up, over 16 s of
            # ~320 intervals and ~25,000 mappings made and gone.
            assert end - warm <= max(1024, warm * 0.05), samples
    finally:
        churn.kill()
        churn.wait()


def test_make_install_and_unit(tmp_path):
    """`make install` puts the binary and the unit under DESTDIR/PREFIX, the unit
    names the installed binary and grants exactly the four capabilities, and
    systemd accepts it (systemd-analyze verify, when systemd is installed)."""
    prefix = str(tmp_path / "prefix")
    r = subprocess.run(["make", "-s", "-C", runner.ROOT, "install", f"PREFIX={prefix}"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    binary = os.path.join(prefix, "bin", "arenatrace")
    unit = os.path.join(prefix, "lib", "systemd", "system", "arenatrace-agent.service")
    assert os.access(binary, os.X_OK)
    with open(unit) as f:
        text = f.read()
    assert f"\nExecStart={binary} agent --listen 127.0.0.1:9464 " in text
    assert "@BINDIR@" not in text
    for key in ("AmbientCapabilities", "CapabilityBoundingSet"):
        line = next(l for l in text.splitlines() if l.startswith(key + "="))
        assert sorted(line.split("=", 1)[1].split()) == ["CAP_BPF", "CAP_DAC_READ_SEARCH", "CAP_PERFMON",
                                                         "CAP_SYS_PTRACE"], line
    assert "\nNoNewPrivileges=yes" in text and "\nDynamicUser=yes" in text
    if shutil.which("systemd-analyze"):
        v = subprocess.run(["systemd-analyze", "verify", "--man=no", unit], capture_output=True, text=True,
                           timeout=60)
        assert v.returncode == 0 and not v.stderr.strip(), v.stderr
    r = subprocess.run(["make", "-s", "-C", runner.ROOT, "uninstall", f"PREFIX={prefix}"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not os.path.exists(binary) and not os.path.exists(unit)


def test_never_opens_target_memory():
    """Glibc arenas (where the tracer reads heap_info through /proc/PID/mem) are
    still recognised, one arena per heap, and the agent never opens the target's
    memory: no file descriptor of it points at /proc/PID/mem."""
    churn = os.path.join(runner.WORKLOADS, "alloc_churn")
    w = subprocess.Popen([churn, "churn", "2", "24"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True, bufsize=1)
    try:
        assert w.stdout.readline().startswith("READY start")
        with Agent("--pid", str(w.pid)) as ag:
            ag.wait_metric(lambda t: f'pid="{w.pid}"' in t, "the workload")
            w.stdin.write("\n")
            w.stdin.flush()
            assert w.stdout.readline().startswith("READY churn")
            text = ag.wait_metric(lambda t: sum(1 for k in of_pid(t, "arenatrace_arena_resident_bytes", w.pid)
                                                if k.startswith("glibc_arena:")) == 2,
                                  "the two threads' glibc arenas")
            want = groundtruth.Snapshot(w.pid).total_bytes()
            ag.wait_metric(lambda t: runner.within(sum(of_pid(t, "arenatrace_arena_resident_bytes",
                                                              w.pid).values()), want),
                           f"arenas within 1% of {want} resident bytes")
            http(f"{ag.base}/")
            http(f"{ag.base}/debug/pprof/heap")
            fds = os.listdir(f"/proc/{ag.proc.pid}/fd")
            links = []
            for fd in fds:
                try:
                    links.append(os.readlink(f"/proc/{ag.proc.pid}/fd/{fd}"))
                except OSError:
                    pass
            assert not [l for l in links if l.endswith("/mem")], links
            assert text
    finally:
        w.stdin.close()
        w.wait(timeout=10)


def cgroup2_root():
    """Where cgroup v2 is mounted (the unified hierarchy of a hybrid setup too)."""
    with open("/proc/self/mounts") as f:
        for line in f:
            dev, mnt, fstype = line.split()[:3]
            if fstype == "cgroup2":
                return mnt
    return None


def test_cgroup_selector(tmp_path):
    """--cgroup: a process moved into a cgroup (v2) is followed, one outside is not."""
    root = cgroup2_root()
    if not root:
        pytest.skip("no cgroup2 mount here: --cgroup is covered by the unit tests only")
    name = f"arenatrace-test-{os.getpid()}"
    cg = os.path.join(root, name)
    try:
        os.mkdir(cg)
    except OSError as e:
        pytest.skip(f"cannot create a cgroup under {root}: {e}")
    inside = outside = None
    try:
        inside = runner.Workload("hold", "4")
        inside.wait_ready()
        with open(os.path.join(cg, "cgroup.procs"), "w") as f:
            f.write(str(inside.proc.pid))
        with open(f"/proc/{inside.proc.pid}/cgroup") as f:
            assert f"0::/{name}\n" in f.read()
        outside = runner.Workload("hold", "4")
        outside.wait_ready()
        with Agent("--cgroup", f"/{name}") as ag:
            ag.wait_metric(lambda t: f'arenatrace_process_resident_bytes{{pid="{inside.proc.pid}"' in t,
                           "the process in the cgroup", timeout=10)
            time.sleep(1.5)
            text = ag.metrics()
            assert f'pid="{outside.proc.pid}"' not in text
            assert series(text, "arenatrace_targets") == {frozenset(): 1.0}
    finally:
        for w in (inside, outside):
            if w:
                w.__exit__(None, None, None)
        for _ in range(50):
            try:
                os.rmdir(cg)
                break
            except OSError:
                time.sleep(0.1)
