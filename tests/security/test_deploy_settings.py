"""Production settings: `check --deploy` is clean with the production switches on; the data directory is private."""
import os
import stat
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "TOWER_DEBUG": "0",
    "TOWER_SECRET_KEY": "k" * 20 + "-a-long-random-looking-production-secret-0123456789",
    "TOWER_SECURE_COOKIES": "1",
    "TOWER_HSTS_SECONDS": "31536000",
    "TOWER_SSL_REDIRECT": "1",
}
SETTINGS = ("TOWER_DEBUG", "TOWER_SECRET_KEY", "TOWER_ENCRYPTION_KEY", "TOWER_DATABASE_URL", "TOWER_SECURE_COOKIES",
            "TOWER_HSTS_SECONDS", "TOWER_HSTS_PRELOAD", "TOWER_SSL_REDIRECT", "TOWER_BEHIND_TLS_PROXY")


def run(data_dir, args, **variables):
    """A fresh Python process with settings from the environment, data in `data_dir`."""
    environ = {k: v for k, v in os.environ.items() if k not in SETTINGS and k != "DJANGO_SETTINGS_MODULE"}
    environ.update(TOWER_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="tower.settings", **variables)
    return subprocess.run([sys.executable, *args], cwd=BASE_DIR, env=environ, capture_output=True, text=True,
                          timeout=120)


def check_deploy(data_dir, **variables):
    return run(data_dir, ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **variables)


def test_check_deploy_is_clean_with_the_production_switches(tmp_path):
    result = check_deploy(tmp_path / "data", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    # Silenced: security.W021 (HSTS preload, an operator's choice) and axes.W006 (lockout by username only).
    assert "System check identified no issues (2 silenced)." in result.stdout


def test_check_deploy_names_each_switch_left_off(tmp_path):
    result = check_deploy(tmp_path / "data", TOWER_DEBUG="0")
    assert result.returncode == 1
    assert {"security.W004", "security.W008", "security.W012", "security.W016"} <= {
        word.strip("():") for word in result.stderr.split() if word.startswith("(security.")}


def test_the_switches_reach_the_settings(tmp_path):
    show = ("from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
            "s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_SSL_REDIRECT, "
            "s.SECURE_PROXY_SSL_HEADER, s.X_FRAME_OPTIONS, s.SECURE_CONTENT_TYPE_NOSNIFF, s.SESSION_COOKIE_HTTPONLY)")
    on = run(tmp_path / "data", ["-c", show], TOWER_BEHIND_TLS_PROXY="1", **PRODUCTION)
    assert on.stdout.split() == ["True", "True", "31536000", "True", "True", "('HTTP_X_FORWARDED_PROTO',",
                                 "'https')", "DENY", "True", "True"], on.stderr
    off = run(tmp_path / "data", ["-c", show])
    assert off.stdout.split() == ["False", "False", "0", "False", "False", "None", "DENY", "True", "True"], off.stderr


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_a_fresh_data_directory_is_private(tmp_path):
    data = tmp_path / "data"
    result = run(data, ["manage.py", "migrate", "-v", "0"])
    assert result.returncode == 0, result.stderr
    assert mode(data) == 0o700
    assert {name: mode(data / name) for name in ("tower.db", "secret.key", "encryption.key")} == {
        "tower.db": 0o600, "secret.key": 0o600, "encryption.key": 0o600}
    assert (data / "tower.db").stat().st_size > 0  # the DB SQLite filled in is the file created 0600


def test_an_existing_data_directory_is_tightened_at_startup(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    for name in ("tower.db", "secret.key", "encryption.key"):
        (data / name).write_text("")
        (data / name).chmod(0o644)
    (data / "secret.key").write_text("an-old-secret-key")
    result = run(data, ["-c", "import django; django.setup()"])
    assert result.returncode == 0, result.stderr
    assert mode(data) == 0o700
    assert {name: mode(data / name) for name in ("tower.db", "secret.key", "encryption.key")} == {
        "tower.db": 0o600, "secret.key": 0o600, "encryption.key": 0o600}
    assert (data / "secret.key").read_text() == "an-old-secret-key"
