#!/usr/bin/env bash
# make bench: dev requirements, the local servers if needed, then the benchmarks (figures as `name: value`).
# bench_engine.py loads one binlog and measures on it the library and Tower decode rates, Tower end to end
# through a real Celery worker (blackhole, Redis) and lag; bench_targets.py (when present) the other targets;
# bench_sinks_vs_raw.py each sink against its bare client library on the same rows (<target>_vs_raw).
# bench_control_plane.py the console pages and whole-list endpoints on 10,000 instances (SQLite and MariaDB);
# bench_density.py 100 instances dumping at once on one worker host (RSS, CPU, lag).
# bench/bench_decode.py (decoder only, median of repeats, --check for row-by-row parity) runs on its own.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --dev || exit 1
if ! .venv/bin/python scripts/services.py status >/dev/null 2>&1; then
  .venv/bin/python scripts/services.py up || exit 1
fi
rc=0
for module in bench/bench_engine.py bench/bench_bigtxn.py bench/bench_targets.py bench/bench_sinks_vs_raw.py \
    bench/bench_control_plane.py bench/bench_density.py; do
  if [ -f "$module" ]; then
    echo "== $module"
    .venv/bin/python -u "$module" "$@" || rc=1
  fi
done
exit $rc
