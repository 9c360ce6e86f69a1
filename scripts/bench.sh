#!/usr/bin/env bash
# make bench: start the local servers if needed, then run every benchmark module (figures as `name: value`).
set -uo pipefail
cd "$(dirname "$0")/.."
if ! .venv/bin/python scripts/services.py status >/dev/null 2>&1; then
  .venv/bin/python scripts/services.py up || exit 1
fi
rc=0
for module in bench/bench_decode.py bench/bench_engine.py; do
  if [ -f "$module" ]; then
    echo "== $module"
    .venv/bin/python "$module" "$@" || rc=1
  fi
done
exit $rc
