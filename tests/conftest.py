"""Shared fixtures: the real local servers started by scripts/services.py.

tower.settings loads their URLs from .run/services.env into the environment. What a run owns on them
(its metadata test database, Redis databases, source schemas) is named in isolation.py.
"""
import os
from urllib.parse import urlsplit

import pytest
from django.conf import settings

import isolation


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2 costs ~0.3 s per user on 2 cores; no test is about the hash's strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """The run's own metadata test database (engine workers read it too), not one shared by every run."""
    test = settings.DATABASES["default"].setdefault("TEST", {})
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        test["NAME"] = str(settings.DATA_DIR / f"test_tower_{isolation.RUN_ID}.db")
    else:
        test["NAME"] = f"test_tower_{isolation.RUN_ID}"


@pytest.fixture(scope="session", autouse=True)
def redis_block():
    """Claim this run's block of Redis databases for the session (isolation.redis_db maps into it)."""
    url = os.environ.get("TOWER_REDIS_URL")
    if not url:
        yield None
        return
    base = isolation.claim_redis_block(url)
    yield base
    isolation.release_redis_block(url)


def _service(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: start the local servers with `make services`")
    return value


@pytest.fixture(scope="session")
def source_url():
    return _service("TOWER_SOURCE_URL")


@pytest.fixture(scope="session")
def source_address(source_url):
    """(host, port, user, password) of the source server."""
    parts = urlsplit(source_url)
    return parts.hostname, parts.port or 3306, parts.username or "root", parts.password or ""


@pytest.fixture(scope="session")
def redis_url():
    return _service("TOWER_REDIS_URL")


@pytest.fixture(scope="session")
def mongo_url():
    return _service("TOWER_MONGO_URL")


@pytest.fixture(scope="session")
def clickhouse_url():
    return _service("TOWER_CLICKHOUSE_URL")


@pytest.fixture(scope="session")
def kafka_bootstrap():
    return _service("TOWER_KAFKA_BOOTSTRAP")


@pytest.fixture(scope="session")
def amqp_url():
    return _service("TOWER_AMQP_URL")
