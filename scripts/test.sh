#!/usr/bin/env bash
# make test: install what is missing, start the services (unless already up), run the suite, stop what we started.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh || exit 1
started=0
if ! .venv/bin/python scripts/services.py status >/dev/null 2>&1; then
  .venv/bin/python scripts/services.py up || exit 1
  started=1
fi
.venv/bin/python -m pytest "$@"
rc=$?
if [ $started -eq 1 ]; then
  .venv/bin/python scripts/services.py down >/dev/null
fi
exit $rc
