"""Shared fixtures: the real local servers started by scripts/services.py.

tower.settings loads their URLs from .run/services.env into the environment.
"""
import os

import pytest


def _service(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: start the local servers with `make services`")
    return value


@pytest.fixture(scope="session")
def source_url():
    return _service("TOWER_SOURCE_URL")


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
