"""The Redis sink against a server of the test's own that it stops and restarts.

A dump loop renews its lease between batches, so a write must fail at once when
Redis is down (the subscription then retries with its own backoff), and work
again as soon as Redis is back.
"""
import time

import pytest
import redis

from private_servers import PrivateServer
from workers.events import Batch, Position, RowChange
from workers.sinks import SinkError
from workers.sinks.redis import RedisSink


def batch(i):
    change = RowChange("db", "t", "INSERT", {"id": i, "v": f"v{i}"}, None, ("id",), Position("mysql-bin.000001", 4 + i))
    return Batch(changes=[change], end=change.position)


@pytest.fixture
def server(tmp_path):
    server = PrivateServer("redis", tmp_path / "redis").start()
    yield server
    server.stop()


def test_write_fails_at_once_when_redis_is_down(server):
    sink = RedisSink(f"redis://127.0.0.1:{server.port}/0")
    sink.write(batch(1))
    server.stop()
    began = time.monotonic()
    with pytest.raises(SinkError, match="redis write failed"):
        sink.write(batch(2))
    # redis-py's own retries took ~4 s here; the lease (TOWER_LEASE_TTL) is 8 s
    assert time.monotonic() - began < 1.0


def test_write_after_a_restart_reconnects(server):
    uri = f"redis://127.0.0.1:{server.port}/0"
    sink = RedisSink(uri)
    sink.write(batch(1))
    server.stop()
    server.start()  # same port, empty data: the sink's pooled connection is stale
    sink.write(batch(2))
    assert redis.Redis.from_url(uri).get("db-t-2") is not None
