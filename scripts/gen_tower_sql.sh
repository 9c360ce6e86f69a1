#!/usr/bin/env bash
# Regenerate sql/tower.sql from the migrations: migrate an empty MariaDB database, dump its DDL.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python scripts/tower_sql.py generate > sql/tower.sql.new
mv sql/tower.sql.new sql/tower.sql
echo "sql/tower.sql regenerated ($(grep -c 'CREATE TABLE' sql/tower.sql) tables)"
