#!/usr/bin/env bash
# Installs build dependencies, builds, and runs the daemon with its embedded
# defaults (serving :9464/metrics). Extra arguments go to the daemon.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh" --build-only
"$root/scripts/build.sh"
exec "$root/build/sightline" "$@"
