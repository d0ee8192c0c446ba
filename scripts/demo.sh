#!/usr/bin/env bash
# `make demo`: traces the bundled retention workload (glibc keeps freed memory
# in per-thread arenas) and prints where its resident memory sits.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: arenatrace loads BPF programs; run as root: sudo make demo" >&2
  exit 1
fi
echo "demo: 4 threads each malloc 200,000 small objects and free 98% of them;"
echo "demo: the allocator keeps the freed memory. Tracing it with arenatrace"
echo "demo: (memory untouched for 2 s counts as retained here; the default is 30 s):"
echo
build/arenatrace -i 0.5 --retain-after 2 --call-graph dwarf --json build/demo.jsonl --html build/demo.html \
  -- build/workloads/retention 4
echo
echo "demo: the JSON timeline is in build/demo.jsonl (schema in README.md),"
echo "demo: the report in build/demo.html (open it in a browser)."
