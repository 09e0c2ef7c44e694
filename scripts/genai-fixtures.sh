#!/usr/bin/env bash
# Installs the official AI SDKs that the GenAI tests drive (tests/fixtures/genai:
# openai, @anthropic-ai/sdk, @google/genai) from the npm registry, exactly as
# package-lock.json pins them (`npm ci`).
#
# Idempotent and offline-safe: when node_modules already holds what this very
# lock file describes (a stamp of its checksum), nothing is fetched. Needs node
# and npm (scripts/setup.sh installs nodejs). Runs as any user.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/tests/fixtures/genai
stamp=$dir/node_modules/.sightline-lock.sha256

if ! command -v npm >/dev/null 2>&1; then
  echo "genai-fixtures: npm not found (install nodejs: scripts/setup.sh)" >&2
  exit 1
fi
want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  echo "genai-fixtures: SDKs already installed"
  exit 0
fi
# Installed some other way (no stamp) but complete and matching the exact pins in
# package.json: keep it, rather than have npm ci wipe it (and need the network).
if [[ -d $dir/node_modules ]] && (cd "$dir" && npm ls --all >/dev/null 2>&1); then
  echo "$want" >"$stamp"
  echo "genai-fixtures: SDKs already installed"
  exit 0
fi
echo "genai-fixtures: npm ci in tests/fixtures/genai"
# No lifecycle scripts: the SDKs need none, and a registry package runs nothing here.
(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
echo "$want" >"$stamp"
echo "genai-fixtures: SDKs ready"
