#!/usr/bin/env bash
# Installs every dependency, builds, and runs all tests: unit tests (no root)
# and privileged tests that load the real probes against real servers and
# clients. With SIGHTLINE_REQUIRE_BPF=1 (set under CI) the privileged tests
# fail instead of skipping when probes cannot load.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [[ "${CI:-}" == "true" ]]; then
  export SIGHTLINE_REQUIRE_BPF=1
fi
if [[ $(id -u) -eq 0 ]]; then
  scripts/setup.sh
else
  echo "test: not root: skipping package installation" >&2
fi
scripts/build.sh
# The official AI SDKs the GenAI tests drive (npm ci from the lock file; nothing is
# fetched when they are already there). Without them only test_genai.py fails.
scripts/genai-fixtures.sh || echo "test: GenAI SDKs not installed; test_genai.py will fail" >&2
# The schema validators of the deployment tests (npm ci from tests/deploy's lock file).
tests/deploy/install.sh || echo "test: deploy validators not installed; test_deploy.py will fail" >&2

echo "== unit tests"
(cd build && ctest --output-on-failure -j"$(nproc)")

echo "== privileged tests"
exec /usr/bin/python3 -m pytest -v -p no:cacheprovider tests/privileged "$@"
