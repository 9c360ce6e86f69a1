#!/usr/bin/env bash
# Install what Tower needs and is missing: Debian packages, .venv, pinned requirements. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="mariadb-server mariadb-client redis-server rabbitmq-server clickhouse-server libmariadb-dev pkg-config gcc python3-dev chromium"
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
stamp=.venv/.requirements.sha
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat $stamp 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing pinned requirements"
  .venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
  # The machine's pip config names local indexes that may be absent; their warnings are noise.
  .venv/bin/pip install -q --pre -r requirements.txt 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import django, celery, MySQLdb, pymysqlreplication" || { echo "bootstrap: requirements did not install"; exit 1; }
  echo "$want" > $stamp
fi
