"""The full sync's chunk readers (mysqlclient connections, workers/snapshot.py) keep the source connection rules."""
import socket
from types import SimpleNamespace

import MySQLdb
import pytest

from workers.snapshot import reader_connection


PASSWORD = "reader-secret-pw"


def connected_to(port, secure=False):
    """What a reader is opened from: the pymysql connection's address, user, password and TLS."""
    return SimpleNamespace(host="127.0.0.1", port=port, user="u", password=PASSWORD.encode("latin-1"),
                           _secure=secure)


def test_a_reader_refuses_cleartext_auth_without_tls(fake):
    with pytest.raises(MySQLdb.OperationalError, match="restricted_auth"):
        reader_connection(connected_to(fake.port))
    assert fake.connections == 1
    assert PASSWORD.encode() not in bytes(fake.received)


def test_a_readers_failed_connect_does_not_say_why():
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(MySQLdb.OperationalError) as refused:
        reader_connection(connected_to(port))
    assert refused.value.args == (2003, f"cannot connect to 127.0.0.1:{port}")
