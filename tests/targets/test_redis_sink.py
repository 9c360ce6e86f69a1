"""The Redis sink: values against the JSON table of docs/types.md (the shared local Redis), and outages
against a server of the test's own that it stops and restarts.

A dump loop renews its lease between batches, so a write must fail at once when
Redis is down (the subscription then retries with its own backoff), and work
again as soon as Redis is back.
"""
import json
import socket
import struct
import threading

import pytest
import redis

import isolation
from private_servers import PrivateServer
from workers.events import Batch, Position, RowChange
from workers.sinks import SinkError, open_sink
from workers.sinks.redis import RedisSink

from . import parity_data as pd
from . import types_matrix as tm
from .binlog_helper import Recorder
from .conftest import run, select_all
from .parity_data import PARITY_DDL, PARITY_DML

REDIS_DB = 3  # of this run's block (isolation.redis_db)


def batch(i):
    change = RowChange("db", "t", "INSERT", {"id": i, "v": f"v{i}"}, None, ("id",), Position("mysql-bin.000001", 4 + i))
    return Batch(changes=[change], end=change.position)


@pytest.fixture
def shared_redis(redis_url):
    """(URI, client) of this run's Redis database REDIS_DB, emptied before and after."""
    uri = isolation.redis_db(redis_url, REDIS_DB)
    client = redis.Redis.from_url(uri)
    client.flushdb()
    yield uri, client
    client.flushdb()
    client.close()


def values(client, pattern="*"):
    """{key: JSON value} of every key in the database."""
    return {k.decode(): json.loads(client.get(k)) for k in client.keys(pattern)}


def test_type_matrix_values_are_the_documented_json(source_db, source_url, shared_redis):
    db, conn = source_db
    uri, client = shared_redis
    run(conn, tm.TABLE_DDL)
    with Recorder(source_url, [db]) as rec:
        run(conn, *tm.INSERTS)
    assert len(rec.changes()) == 4
    sink = open_sink(uri)
    try:
        for b in rec.batches():
            sink.write(b)
    finally:
        sink.close()
    # default key {$SchemaName}-{$TableName}-{$<primary key>}; the value is the row in the JSON of docs/types.md
    assert values(client) == {f"{db}-types-{row_id}": row for row_id, row in tm.JSON_ROWS.items()}


def test_parity_key_change_delete_and_replay(source_db, source_url, shared_redis):
    db, conn = source_db
    uri, client = shared_redis
    run(conn, *PARITY_DDL)
    with Recorder(source_url, [db]) as rec:
        run(conn, *PARITY_DML)
    assert len(rec.changes()) == pd.PARITY_CHANGES
    assert select_all(conn, db, "orders") == pd.ORDERS
    expected = {**{f"{db}-orders-{key[0]}": row for key, row in pd.ORDERS_JSON.items()},
                **{f"{db}-order_lines-{key[0]}-{key[1]}": row for key, row in pd.ORDER_LINES_JSON.items()}}
    assert len(expected) == 5
    sink = open_sink(uri)
    try:
        for _ in range(2):  # the second pass is an at-least-once replay: same keys and values
            for b in rec.batches(per_batch=3):
                sink.write(b)
            assert values(client) == expected  # old key of a key change and deleted rows are gone
    finally:
        sink.close()


@pytest.fixture
def server(tmp_path):
    server = PrivateServer("redis", tmp_path / "redis").start()
    yield server
    server.stop()


class Refuser:
    """Listens on a port and resets every connection at once (a host whose Redis is gone); counts them."""

    def __init__(self, port):
        self.listener = socket.create_server(("127.0.0.1", port))
        self.attempts = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.attempts += 1
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    def close(self):
        self.listener.close()


def test_write_fails_at_once_when_redis_is_down(server):
    sink = RedisSink(f"redis://127.0.0.1:{server.port}/0")
    sink.write(batch(1))
    server.stop()
    refuser = Refuser(server.port)
    try:
        with pytest.raises(SinkError, match="redis write failed"):
            sink.write(batch(2))
        # One new connection and one immediate retry, then the error: not redis-py's default retries with
        # backoff (11 connections over ~4 s here, while the lease, TOWER_LEASE_TTL, is 8 s).
        assert refuser.attempts == 2
    finally:
        refuser.close()
        sink.close()


def test_write_after_a_restart_reconnects(server):
    uri = f"redis://127.0.0.1:{server.port}/0"
    sink = RedisSink(uri)
    sink.write(batch(1))
    server.stop()
    server.start()  # same port, empty data: the sink's pooled connection is stale
    sink.write(batch(2))
    assert json.loads(redis.Redis.from_url(uri).get("db-t-2")) == {"id": 2, "v": "v2"}
