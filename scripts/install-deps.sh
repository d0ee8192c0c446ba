#!/usr/bin/env bash
# Installs the Debian 12 packages arenatrace needs, only those missing.
# Usage: scripts/install-deps.sh [core|test|html|bench|all]   (default: core)
set -euo pipefail

# protobuf-c: the pprof exporter (user/pprof_export.c) and its code generator.
# libmicrohttpd-dev: the agent's HTTP server (user/http_server.c): small, C, threads
# and timeouts built in, what Debian ships for embedding an HTTP endpoint.
core_pkgs=(clang llvm libbpf-dev bpftool libelf-dev libdw-dev zlib1g-dev libdeflate-dev pkg-config make gcc
           protobuf-c-compiler libprotobuf-c-dev libmicrohttpd-dev)
# Allocators the fingerprint tests preload (tests/integration/test_allocators.py).
# Not golang-go (big): the Go heap test builds its workload only when `go` exists.
# protobuf-compiler: `protoc --decode` checks the pprof file (tests/integration/test_pprof.py).
# prometheus: a real Prometheus server scrapes the agent in tests/integration/test_agent.py.
test_pkgs=(libcmocka-dev python3 python3-pytest util-linux libjemalloc2 libtcmalloc-minimal4 libmimalloc2.0
           protobuf-compiler prometheus)
# Renders the HTML report in tests/integration/test_html.py (part of `make test`).
html_pkgs=(chromium)
# Peers `make bench` compares against.
bench_pkgs=(bpftrace heaptrack)

case "${1:-core}" in
  core) want=("${core_pkgs[@]}") ;;
  test) want=("${core_pkgs[@]}" "${test_pkgs[@]}" "${html_pkgs[@]}") ;;
  html) want=("${html_pkgs[@]}") ;;
  bench) want=("${bench_pkgs[@]}") ;;
  all) want=("${core_pkgs[@]}" "${test_pkgs[@]}" "${html_pkgs[@]}" "${bench_pkgs[@]}") ;;
  *) echo "usage: $0 [core|test|html|bench|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing Debian packages: ${missing[*]}" >&2
  echo "install-deps: run as root (sudo $0 ${1:-core}) or install them with apt-get" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
