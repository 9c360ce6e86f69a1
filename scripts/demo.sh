#!/usr/bin/env bash
# make demo: local servers, migrations, a demo admin and source, then the console (gunicorn, static files by
# WhiteNoise), a Celery worker and beat. Ctrl-C stops everything this script started.
# TOWER_PORT (default 8000) is the console's port on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh --services
export TOWER_PORT=${TOWER_PORT:-8000}
started_services=0
if ! .venv/bin/python scripts/services.py status >/dev/null 2>&1; then
  .venv/bin/python scripts/services.py up
  started_services=1
fi
# Tower's processes read .run/services.env themselves (tower.settings); this script needs only the Redis URL.
redis_url=${TOWER_REDIS_URL:-$(.venv/bin/python -c \
  'from tower.services_env import read_services_env; print(read_services_env()["TOWER_REDIS_URL"])')}
export TOWER_WORKER_NAME=${TOWER_WORKER_NAME:-demo-worker}
# The demo's Celery broker: its own Redis database on the private Redis.
export TOWER_BROKER_URL=${TOWER_BROKER_URL:-${redis_url%/*}/2}
mkdir -p .run/demo

.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/python manage.py collectstatic --noinput -v0
.venv/bin/python manage.py demo_setup --port "$TOWER_PORT"

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "demo: stopping"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ $started_services -eq 1 ]; then .venv/bin/python scripts/services.py down; fi
  exit "$1"
}
trap 'cleanup 130' INT
trap 'cleanup 143' TERM
trap 'cleanup $?' EXIT

.venv/bin/celery -A tower worker -n "$TOWER_WORKER_NAME@%h" -Q "tower,tower.dump.$TOWER_WORKER_NAME" \
  --concurrency 8 --loglevel INFO > .run/demo/worker.log 2>&1 &
pids+=($!)
.venv/bin/celery -A tower beat --loglevel INFO --schedule .run/demo/celerybeat-schedule > .run/demo/beat.log 2>&1 &
pids+=($!)
.venv/bin/python manage.py demo_traffic > .run/demo/traffic.log 2>&1 &
pids+=($!)
echo "demo: worker, beat, traffic and web logs in .run/demo/; console on http://127.0.0.1:$TOWER_PORT/ (Ctrl-C stops)"
# Two processes of four threads: page views and the API stay answered while one request waits on a source.
.venv/bin/gunicorn tower.wsgi --bind "127.0.0.1:$TOWER_PORT" --workers 2 --threads 4 --graceful-timeout 5 \
  --access-logfile - > .run/demo/web.log 2>&1 &
pids+=($!)
wait "${pids[-1]}" || { rc=$?; echo "demo: the web server stopped; the end of .run/demo/web.log:"; tail -n 15 .run/demo/web.log; exit $rc; }
