#!/usr/bin/env bash
# Prints the Debian packages that own the shared libraries a binary loads
# (`ldd`, then `dpkg -S`), one per line: what the image's runtime stage installs.
#   deploy/docker/runtime-packages.sh build/sightline
set -euo pipefail
binary=${1:?usage: runtime-packages.sh <binary>}
ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' |
  while read -r lib; do
    # usrmerge: a library found under /lib is owned under /usr/lib, or the reverse.
    dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib"
  done | cut -d: -f1 | sort -u
