#!/usr/bin/env bash
# Regenerates bpf/vmlinux/<arch>/vmlinux.h from the running kernel's BTF.
# CO-RE relocates every field access at load time, so one header serves all kernels
# that carry BTF; regenerate only to reach types that newer kernels introduced.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
case "$(uname -m)" in
  x86_64) arch=x86 ;;
  aarch64) arch=arm64 ;;
  *) echo "gen-vmlinux: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac
btf=${1:-/sys/kernel/btf/vmlinux}
mkdir -p "$root/bpf/vmlinux/$arch"
bpftool btf dump file "$btf" format c > "$root/bpf/vmlinux/$arch/vmlinux.h"
echo "wrote bpf/vmlinux/$arch/vmlinux.h from $btf"
