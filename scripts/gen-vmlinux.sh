#!/usr/bin/env bash
# Regenerates vmlinux/<arch>/vmlinux.h from the running kernel's BTF.
# CO-RE relocates field offsets at load time, so one committed header serves
# every kernel that has BTF; regenerate only to use newer kernel types.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=$(uname -m)
btf=${1:-/sys/kernel/btf/vmlinux}
[ -r "$btf" ] || { echo "gen-vmlinux: no BTF at $btf (kernel needs CONFIG_DEBUG_INFO_BTF=y)" >&2; exit 1; }
mkdir -p "vmlinux/$arch"
bpftool btf dump file "$btf" format c > "vmlinux/$arch/vmlinux.h.tmp"
mv "vmlinux/$arch/vmlinux.h.tmp" "vmlinux/$arch/vmlinux.h"
# Both spellings of each architecture resolve (clang's __TARGET_ARCH_x86 vs uname).
case "$arch" in
  x86_64) ln -sfn x86_64 vmlinux/x86 ;;
  aarch64) ln -sfn aarch64 vmlinux/arm64 ;;
esac
echo "gen-vmlinux: wrote vmlinux/$arch/vmlinux.h"
