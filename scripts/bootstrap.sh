#!/usr/bin/env bash
# Install what Tower needs and is missing: Debian packages, .venv, pinned requirements. Idempotent.
#
#   scripts/bootstrap.sh              run Tower: requirements.txt
#   scripts/bootstrap.sh --services   and run the local servers (scripts/services.py): requirements-services.txt
#   scripts/bootstrap.sh --dev        and test, lint, bench: requirements-dev.txt (includes the two above)
#
# TOWER_REQUIREMENTS=runtime|services|dev does the same as the flags.
set -euo pipefail
cd "$(dirname "$0")/.."

level=${TOWER_REQUIREMENTS:-runtime}
for arg in "$@"; do
  case "$arg" in
    --dev) level=dev ;;
    --services) level=services ;;
    --runtime) level=runtime ;;
    *) echo "bootstrap: unknown option $arg (--runtime, --services or --dev)" >&2; exit 2 ;;
  esac
done
case "$level" in
  runtime) rank=0; file=requirements.txt ;;
  services) rank=1; file=requirements-services.txt ;;
  dev) rank=2; file=requirements-dev.txt ;;
  *) echo "bootstrap: TOWER_REQUIREMENTS must be runtime, services or dev, not $level" >&2; exit 2 ;;
esac

# Headers to build mysqlclient for Tower itself; the servers for the local copies; Chromium for browser tests.
APT_PACKAGES="mariadb-client libmariadb-dev pkg-config gcc python3-dev"
[ $rank -ge 1 ] && APT_PACKAGES="$APT_PACKAGES mariadb-server redis-server rabbitmq-server clickhouse-server"
[ $rank -ge 2 ] && APT_PACKAGES="$APT_PACKAGES chromium"
missing=""
for p in $APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "bootstrap: installing Debian packages:$missing"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # Debian's postinst scripts try to start system services; we start private ones instead.
  $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  $PY -m venv .venv
fi
# The stamp is "<level rank> <sha of all three files>": an edit to any file re-installs, and a wider level
# installed before (dev) serves a narrower request (runtime) without pip.
stamp=.venv/.requirements.sha
want=$(cat requirements.txt requirements-services.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
have=$(cat $stamp 2>/dev/null || true)
have_rank=${have%% *}; have_sha=${have#* }
case "$have_rank" in [0-2]) ;; *) have_rank=-1 ;; esac
if [ "$have_sha" != "$want" ] || [ "$have_rank" -lt $rank ]; then
  echo "bootstrap: installing pinned requirements ($file)"
  .venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
  # The machine's pip config names local indexes that may be absent; their warnings are noise.
  .venv/bin/pip install -q --pre -r $file 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import django, celery, MySQLdb, pymysqlreplication, gunicorn, whitenoise" \
    || { echo "bootstrap: requirements did not install"; exit 1; }
  [ $rank -lt 1 ] || [ -x .venv/bin/secantusd-py ] || { echo "bootstrap: SecantusDB did not install"; exit 1; }
  [ $rank -lt 2 ] || .venv/bin/python -c "import pytest, hypothesis, playwright" \
    || { echo "bootstrap: dev requirements did not install"; exit 1; }
  echo "$rank $want" > $stamp
fi

# The browser tests inject axe-core (npm) into pages; the stamp holds the lock file's sha like the pip one.
if [ $rank -ge 2 ]; then
  npm_stamp=tests/browser/node_modules/.lock.sha
  npm_want=$(sha256sum tests/browser/package-lock.json | cut -d' ' -f1)
  if [ "$(cat $npm_stamp 2>/dev/null || true)" != "$npm_want" ]; then
    command -v npm >/dev/null || { echo "bootstrap: npm (Node.js) is needed for the browser tests' axe-core"; exit 1; }
    echo "bootstrap: installing tests/browser packages (npm ci)"
    npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
    echo "$npm_want" > $npm_stamp
  fi
fi
