#!/usr/bin/env bash
# make test: install what is missing, start the services (unless already up), run lint, import contracts,
# the migrations check and the suite (the engine's part twice: metadata DB on SQLite, then on MySQL), stop
# what we started.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --dev || exit 1
started=0
if ! .venv/bin/python scripts/services.py status >/dev/null 2>&1; then
  .venv/bin/python scripts/services.py up || exit 1
  started=1
fi
# Lint, import contracts (pyproject.toml) and migrations first: they take seconds and name the problem.
checks=0
.venv/bin/ruff check . || checks=1
.venv/bin/lint-imports --no-cache >/tmp/tower-lint-imports.$$ 2>&1 || { checks=1; sed -n '/Broken contracts/,$p' /tmp/tower-lint-imports.$$; }
rm -f /tmp/tower-lint-imports.$$
.venv/bin/python manage.py makemigrations --check --dry-run >/dev/null || { checks=1; echo "a model change has no migration: manage.py makemigrations"; }
.venv/bin/python -m pytest "$@"
rc=$?
if [ $# -eq 0 ]; then
  # The engine, targets and filters once more with the metadata DB on MySQL (the local MariaDB; pytest makes
  # the run's own test database there), as a deployment of several worker hosts runs them.
  metadata=$(.venv/bin/python -c 'from tower.services_env import load_into_environ; import os; load_into_environ(); print(os.environ["TOWER_SOURCE_URL"].rstrip("/") + "/tower")')
  echo "== tests/engine tests/targets tests/filters with the metadata DB on MySQL"
  # (the schema history's end-to-end tests run once: its metadata writes are one table's inserts, and the
  # second pass would cost about two minutes of a CI run that must stay under forty)
  TOWER_DATABASE_URL="$metadata" .venv/bin/python -m pytest tests/engine tests/targets tests/filters \
    --ignore=tests/engine/test_schema_history_property.py --ignore=tests/engine/test_schema_history.py || rc=1
fi
[ $checks -eq 0 ] || { echo "lint, import contracts or migrations failed (above)"; [ $rc -ne 0 ] || rc=1; }
if [ $started -eq 1 ]; then
  .venv/bin/python scripts/services.py down >/dev/null
fi
exit $rc
