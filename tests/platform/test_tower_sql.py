"""sql/tower.sql must describe exactly the schema `manage.py migrate` creates on MariaDB."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_tower_sql_matches_migrations_on_mariadb(source_url):
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "tower_sql.py"), "compare"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert result.returncode == 0, f"sql/tower.sql drifted from the migrations (run scripts/gen_tower_sql.sh):\n{result.stdout}{result.stderr}"


def test_drift_is_detected():
    sys.path.insert(0, str(ROOT / "scripts"))
    from tower_sql import drift

    base = {"t": {"columns": {"a": (1, "int(11)", "NO", None, "")}, "indexes": {"PRIMARY": (0, "a")}, "fks": set()}}
    changed = {"t": {"columns": {"a": (1, "bigint(20)", "NO", None, "")}, "indexes": {"PRIMARY": (0, "a")}, "fks": set()}}
    no_unique = {"t": {"columns": base["t"]["columns"], "indexes": {"PRIMARY": (1, "a")}, "fks": set()}}
    assert drift(base, base) == []
    assert drift(base, changed) and drift(base, no_unique) and drift(base, {})
