import uuid

import pytest

from .binlog_helper import connect


@pytest.fixture
def source_db(source_url):
    """A fresh database on the source server, dropped afterwards: (name, connection)."""
    name = "tw5_" + uuid.uuid4().hex[:10]
    conn = connect(source_url)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
        cur.execute(f"USE `{name}`")
        cur.execute("SET SESSION time_zone = '+00:00'")
    yield name, conn
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn.close()


def run(conn, *statements):
    with conn.cursor() as cur:
        for sql in statements:
            cur.execute(sql)


def select_all(conn, db, table, order="id"):
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM `{db}`.`{table}` ORDER BY {order}")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]
