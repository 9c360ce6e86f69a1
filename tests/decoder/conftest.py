"""Fixtures for the decoder tests: a private database on the MariaDB source and
a way to write SQL, read back exactly the binlog events it produced, and decode
them with both the library and the generated decoders."""
from __future__ import annotations

import os
import uuid

import pytest

from workers.decoder import fast_images, fast_rows, stats
from workers.events import LibraryLosses, row_images
from workers.decoder.testing import connect, diff_rows, master_status, read_events, source_url


@pytest.fixture(scope="session")
def decoder_source_url():
    url = source_url()
    if not url:
        pytest.fail("TOWER_SOURCE_URL is not set (nor in .run/services.env): run `make services`")
    return url


class Source:
    """A database of our own on the source server, plus binlog capture."""

    def __init__(self, url, db):
        self.url = url
        self.db = db
        self.conn = connect(url)
        self.cur = self.conn.cursor()
        self.cur.execute(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4")
        self.cur.execute(f"USE `{db}`")
        self.session(row_image="FULL")

    def session(self, row_image="FULL"):
        self.cur.execute("SET SESSION sql_mode = ''")
        self.cur.execute("SET SESSION time_zone = '+00:00'")
        self.cur.execute(f"SET SESSION binlog_format = 'ROW', binlog_row_image = '{row_image}'")

    def execute(self, sql, args=None):
        self.cur.execute(sql, args)

    def mark(self):
        return master_status(self.cur)

    def events(self, start, end=None, **kw):
        end = end or self.mark()
        return list(read_events(self.url, start, end, only_schemas=[self.db], **kw))

    def close(self):
        try:
            self.cur.execute(f"DROP DATABASE IF EXISTS `{self.db}`")
        finally:
            self.conn.close()


@pytest.fixture(scope="module")
def capture(request, decoder_source_url):
    name = request.module.__name__.rsplit(".", 1)[-1]
    db = f"tdec_{name}_{os.getpid()}_{uuid.uuid4().hex[:6]}"[:64]
    src = Source(decoder_source_url, db)
    yield src
    src.close()


def wrap_images(images):
    """fast_images' rows in the library's shape, none_sources left out."""
    if images and type(images[0]) is tuple:
        return [{"before_values": before, "after_values": after} for before, after in images]
    return [{"values": values} for values in images]


def compare_events(events, wanted_sets=(None,), allow_fallback=False):
    """Decode each event with fast_rows and fast_images (for each wanted set) and with the
    library; assert equal in value, type and order.  Returns the library rows per event."""
    out = []
    before = stats.fallback_rows
    for ev in events:
        fast = [(fast_rows(ev, w), fast_images(ev, w)) for w in wanted_sets]
        lib = ev.rows
        for w, (rows, images) in zip(wanted_sets, fast):
            expect = lib
            if w is not None:
                expect = [
                    {k: {n: v for n, v in part.items() if n in w} for k, part in row.items()}
                    for row in lib
                ]
            problem = diff_rows(rows, expect)
            assert problem is None, f"{type(ev).__name__} {ev.schema}.{ev.table} wanted={w}: {problem}"
            # The engine's images hold the server's values where the library's differ (row_images says which).
            expect = wrap_images(row_images(expect, LibraryLosses.of(ev.columns)))
            problem = diff_rows(wrap_images(images), expect)
            assert problem is None, f"fast_images {type(ev).__name__} {ev.schema}.{ev.table} wanted={w}: {problem}"
        out.append(lib)
    if not allow_fallback:
        assert stats.fallback_rows == before, f"fallbacks: {stats.fallback_reasons}"
    return out


@pytest.fixture(scope="session")
def compare():
    return compare_events
