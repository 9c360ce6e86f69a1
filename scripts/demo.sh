#!/usr/bin/env bash
# make demo: local servers, migrations, a demo admin and source, then the console, a Celery worker and beat.
# Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."

started_services=0
if ! .venv/bin/python scripts/services.py status >/dev/null 2>&1; then
  .venv/bin/python scripts/services.py up
  started_services=1
fi
set -a; . .run/services.env; set +a
export TOWER_WORKER_NAME=${TOWER_WORKER_NAME:-demo-worker}
# The demo's Celery broker: its own Redis database on the private Redis.
export TOWER_BROKER_URL=${TOWER_BROKER_URL:-${TOWER_REDIS_URL%/*}/2}
mkdir -p .run/demo

.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/python manage.py demo_setup

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "demo: stopping"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ $started_services -eq 1 ]; then .venv/bin/python scripts/services.py down; fi
}
trap cleanup INT TERM EXIT

.venv/bin/celery -A tower worker -n "$TOWER_WORKER_NAME@%h" -Q "tower,tower.dump.$TOWER_WORKER_NAME" \
  --concurrency 8 --loglevel INFO > .run/demo/worker.log 2>&1 &
pids+=($!)
.venv/bin/celery -A tower beat --loglevel INFO --schedule .run/demo/celerybeat-schedule > .run/demo/beat.log 2>&1 &
pids+=($!)
.venv/bin/python manage.py demo_traffic > .run/demo/traffic.log 2>&1 &
pids+=($!)
echo "demo: worker, beat and traffic logs in .run/demo/; console on http://127.0.0.1:8000/ (Ctrl-C stops)"
.venv/bin/python manage.py runserver --insecure --noreload 127.0.0.1:8000 &
pids+=($!)
wait "${pids[-1]}"
