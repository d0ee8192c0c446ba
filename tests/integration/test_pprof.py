"""The pprof file (user/pprof_export.c) read by other tools than our own code:
`protoc --decode` with the schema in user/proto/profile.proto, and
`go tool pprof` when Go is installed. A tiny C driver links the profile
objects that `make` built and writes a known profile (plus its folded stacks).

Needs protoc (scripts/install-deps.sh test installs protobuf-compiler); no root.
"""
import gzip
import os
import re
import shutil
import subprocess

import pytest

import runner

OBJ = os.path.join(runner.ROOT, "build", "obj")
OBJECTS = [os.path.join(OBJ, "user", "profile.o"), os.path.join(OBJ, "user", "pprof_export.o"),
           os.path.join(OBJ, "user", "folded_export.o"), os.path.join(OBJ, "profile.pb-c.o")]
PROTO_DIR = os.path.join(runner.ROOT, "user", "proto")
SAMPLE_TYPES = ["resident_space", "faulted_space", "growth_space", "released_space"]

DRIVER = r"""
#include <stdio.h>
#include "folded_export.h"
#include "pprof_export.h"
#include "profile.h"

#define APP "/usr/bin/app"
#define F(name, off, src, ln) { 0x555555554000ULL + (off), name, src, ln, APP, "b1d0", off }

int main(int argc, char **argv)
{
	const struct profile_frame s1[] = { F("alloc_buf", 0x1300, "buf.c", 30),
					    F("worker", 0x1200, "app.c", 20), F("main", 0x1100, "app.c", 10) };
	const struct profile_frame s2[] = { F("grow_table", 0x1400, "table.c", 40),
					    F("main", 0x1100, "app.c", 10) };
	const struct profile_frame s3[] = { { .address = 0x7f0000029d90, .module = "/lib/libc.so.6",
					      .build_id = "c0ffee", .module_offset = 0x29d90 },
					    F("main", 0x1100, "app.c", 10) };
	struct profile *p = profile__new();

	if (argc != 3 || !p)
		return 2;
	profile__add(p, PROFILE_RESIDENT, s1, 3, "glibc_arena:0x7f0000000000", "glibc_arena", 8192);
	profile__add(p, PROFILE_FAULTED, s1, 3, "glibc_arena:0x7f0000000000", "glibc_arena", 12288);
	profile__add(p, PROFILE_GROWTH, s2, 2, "heap:0x555555560000", "heap", 135168);
	profile__add(p, PROFILE_RESIDENT, s2, 2, "heap:0x555555560000", "heap", 4096);
	profile__add(p, PROFILE_RESIDENT, s3, 2, "anon:0x7f1000000000", "anon", 2097152);
	if (pprof_export__write(argv[1], p, 3000000000ULL, 1700000000000000000ULL) ||
	    folded_export__write(argv[2], p, PROFILE_RESIDENT))
		return 1;
	profile__free(p);
	return 0;
}
"""


@pytest.fixture(autouse=True)
def preflight():
    """Replaces conftest's: this file needs neither root nor the tracer."""


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """(gzipped pprof path, folded path) written by the driver."""
    missing = [o for o in OBJECTS if not os.path.exists(o)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not built: run `make` first")
    d = tmp_path_factory.mktemp("pprof")
    src, exe = d / "driver.c", d / "driver"
    src.write_text(DRIVER)
    cc = os.environ.get("CC", "gcc")
    subprocess.run([cc, "-std=gnu11", "-Wall", "-Werror", f"-I{runner.ROOT}/user", f"-I{OBJ}",
                    str(src), *OBJECTS, "-lprotobuf-c", "-lz", "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    pb, folded = d / "profile.pb.gz", d / "resident.folded"
    r = subprocess.run([str(exe), str(pb), str(folded)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return pb, folded


def test_gzip_and_folded(written):
    pb, folded = written
    assert pb.read_bytes()[:2] == b"\x1f\x8b", "not a gzip member"
    assert folded.read_text() == (
        "anon:0x7f1000000000;main;libc.so.6+0x29d90 2097152\n"
        "glibc_arena:0x7f0000000000;main;worker;alloc_buf 8192\n"
        "heap:0x555555560000;main;grow_table 4096\n")


def test_protoc_decodes(written, tmp_path):
    protoc = shutil.which("protoc")
    if not protoc:
        pytest.skip("protoc is not installed (scripts/install-deps.sh test installs protobuf-compiler)")
    raw = tmp_path / "profile.pb"
    raw.write_bytes(gzip.decompress(written[0].read_bytes()))
    with open(raw, "rb") as f:
        r = subprocess.run([protoc, f"--proto_path={PROTO_DIR}", "--decode", "perftools.profiles.Profile",
                            os.path.join(PROTO_DIR, "profile.proto")],
                           stdin=f, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = r.stdout
    strings = [bytes(s, "ascii").decode("unicode_escape")
               for s in re.findall(r'^string_table: "(.*)"$', text, re.M)]
    assert strings and strings[0] == ""
    blocks = re.findall(r"^sample_type \{\s*type: (\d+)\s*unit: (\d+)\s*\}", text, re.M)
    assert [(strings[int(t)], strings[int(u)]) for t, u in blocks] == [(s, "bytes") for s in SAMPLE_TYPES]
    assert strings[int(re.search(r"^default_sample_type: (\d+)$", text, re.M).group(1))] == "resident_space"
    assert len(re.findall(r"^sample \{", text, re.M)) == 3
    assert len(re.findall(r"^location \{", text, re.M)) == 5
    assert len(re.findall(r"^function \{", text, re.M)) == 4
    assert len(re.findall(r"^mapping \{", text, re.M)) == 2
    assert "duration_nanos: 3000000000" in text
    for s in ("arena", "kind", "glibc_arena:0x7f0000000000", "/usr/bin/app", "b1d0", "c0ffee"):
        assert s in strings


def test_go_pprof_loads(written):
    go = shutil.which("go")
    if not go:
        pytest.skip("go is not on PATH: `go tool pprof` cannot be tried (Debian: apt-get install golang-go)")
    pb = str(written[0])
    r = subprocess.run([go, "tool", "pprof", "-raw", pb], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    for t in SAMPLE_TYPES:
        assert f"{t}/bytes" in r.stdout
    r = subprocess.run([go, "tool", "pprof", "-top", "-sample_index=growth_space", "-tagfocus=kind=heap", pb],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "grow_table" in r.stdout and "alloc_buf" not in r.stdout
