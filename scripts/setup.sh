#!/usr/bin/env bash
# Installs everything sightline needs to build, run and test, from Debian packages.
# Idempotent: packages already present are left alone, so a second run is quick.
set -euo pipefail

# `setup.sh docker` and `setup.sh kubernetes [privileged|least-privilege]` bring the
# monitoring stack up instead of installing packages (README: Deploy). The client
# binaries can be swapped with SIGHTLINE_DOCKER / SIGHTLINE_KUBECTL (e.g. podman).
root=$(cd "$(dirname "$0")/.." && pwd)
need_client() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "setup: '$1' not found: 'setup.sh $2' needs it ($3)" >&2
    exit 1
  fi
}
case "${1:-}" in
  docker)
    docker=${SIGHTLINE_DOCKER:-docker}
    need_client "$docker" docker "Docker Engine with the compose plugin"
    if ! "$docker" compose version >/dev/null 2>&1; then
      echo "setup: '$docker compose' is not available: install the Docker compose plugin" >&2
      exit 1
    fi
    "$docker" compose -p sightline -f "$root/deploy/docker/docker-compose.yml" up -d --build
    cat <<'EOT'
setup: the stack is up
  sightline     http://localhost:9464/metrics
  Prometheus    http://localhost:9090
  Grafana       http://localhost:3000   (admin / $GRAFANA_ADMIN_PASSWORD, default admin)
  Alertmanager  http://localhost:9093
EOT
    exit 0
    ;;
  kubernetes)
    kubectl=${SIGHTLINE_KUBECTL:-kubectl}
    profile=${2:-privileged}
    if [[ ! -d $root/deploy/kubernetes/overlays/$profile ]]; then
      echo "setup: unknown profile '$profile' (privileged or least-privilege)" >&2
      exit 2
    fi
    need_client "$kubectl" kubernetes "kubectl configured for the target cluster"
    "$kubectl" apply -k "$root/deploy/kubernetes/overlays/$profile"
    "$kubectl" -n sightline rollout status daemonset/sightline --timeout=180s
    cat <<'EOT'
setup: sightline runs on every node (namespace sightline)
  sightline     kubectl -n sightline port-forward daemonset/sightline 9464:9464
                then http://localhost:9464/metrics
  Prometheus    scrape with deploy/prometheus/prometheus-kubernetes.yml, or the ServiceMonitor
                (deploy/kubernetes/components/monitoring); port-forward it to http://localhost:9090
  Grafana       import deploy/grafana/dashboards; port-forward it to http://localhost:3000
  Alertmanager  deploy/alertmanager/alertmanager.yml; port-forward it to http://localhost:9093
EOT
    exit 0
    ;;
esac

build_deps=(
  cmake make g++ clang llvm pkg-config
  libbpf-dev bpftool libelf-dev libcapstone-dev zlib1g-dev libbrotli-dev libzstd-dev
  prometheus-cpp-dev libcivetweb-dev libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libcurl4-openssl-dev
)
test_deps=(
  nginx-light wrk curl golang-go nodejs openssl
  golang-github-masterminds-sprig-dev golang-github-ghodss-yaml-dev golang-gopkg-yaml.v2-dev
  python3-fastapi python3-uvicorn
  prometheus iproute2 procps python3-pytest nftables
  postgresql redis-server redis-tools
  python3-aiosmtpd prometheus-alertmanager
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
