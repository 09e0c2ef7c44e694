#!/usr/bin/env bash
# Installs everything sightline needs to build, run and test, from Debian packages.
# Idempotent: packages already present are left alone, so a second run is quick.
set -euo pipefail

build_deps=(
  cmake make g++ clang llvm pkg-config
  libbpf-dev bpftool libelf-dev libcapstone-dev zlib1g-dev libbrotli-dev libzstd-dev
  prometheus-cpp-dev libcivetweb-dev libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev
)
test_deps=(
  nginx-light wrk curl golang-go nodejs openssl
  python3-fastapi python3-uvicorn
  prometheus iproute2 procps python3-pytest nftables
  postgresql redis-server redis-tools
)

want=("${build_deps[@]}")
if [[ "${1:-}" != "--build-only" ]]; then
  want+=("${test_deps[@]}")
fi

missing=()
for pkg in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: installing packages needs root" >&2
    exit 1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The nginx package starts a system-wide server on port 80; the tests run their own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
  systemctl stop nginx || true
fi
if [[ -f /run/nginx.pid ]]; then
  kill "$(cat /run/nginx.pid)" 2>/dev/null || true
fi
echo "setup: dependencies ready"
