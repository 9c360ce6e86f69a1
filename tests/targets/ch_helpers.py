"""ClickHouse test helpers: target URLs, reading a table's current state, and the chdb transport.

The ClickHouse sink talks to a server through `clickhouse_driver.Client.execute`. Against the local
18.16 server that is the driver over TCP. For current ClickHouse (DateTime64, Decimal256, Date32,
ReplacingMergeTree(ver, is_deleted)) the tests run ClickHouse 26.9 in-process with chdb, and
ChdbSink differs from the production sink only in `connect()`: it returns a ChdbClient, which is the
driver's own code with the TCP transport swapped out (see ChdbClient).
"""
import datetime
import io
import os
import re
import tempfile

from workers.sinks import clickhouse as ch


def ch_url(clickhouse_url, db, **params):
    base = clickhouse_url.split("://", 1)[1].split("/", 1)[0]
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"clickhouse://{base}/{db}" + (f"?{query}" if query else "")


def state(sink, db, table, order="id"):
    """The table's current rows (FINAL, not deleted) as the driver returns them, without Tower's columns."""
    columns = [c for c in sink.ch_columns(db, table) if not c.startswith("_tower_")]
    rows = sink.client.execute(ch.current_state_sql(db, table, columns) + f" ORDER BY {order}")
    return [dict(zip(columns, r)) for r in rows]


def plain(value):
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=None)
    return value


class _Bytes:
    """What the driver's buffered socket reader/writer need of a socket, over bytes in memory."""

    def __init__(self, data=b""):
        self.out = bytearray()
        self.inp = io.BytesIO(data)

    def sendall(self, data):
        self.out += data

    def recv_into(self, buffer, *args):
        return self.inp.readinto(buffer)


_INSERT = re.compile(r"^\s*INSERT\s+INTO\s+(.+?)\s*\((.*)\)\s*VALUES\s*$", re.I | re.S)


class ChdbClient:
    """clickhouse_driver.Client.execute over an in-process chdb session instead of a TCP connection.

    Everything but the transport is the driver's code, as it runs against a server:
    - dict parameters are substituted by the driver's Client.substitute_params;
    - INSERT rows: the driver asks the server for a sample block of the target columns, then encodes the
      rows (columns, columnar=True) into Native blocks (RowOrientedBlock or ColumnOrientedBlock +
      BlockOutputStream + the column writers) and sends them
      as Data packets. Here the sample block comes from chdb (`SELECT cols … LIMIT 0` in Native), the
      same driver classes encode the rows, and the bytes reach chdb as `INSERT … FROM INFILE … FORMAT
      Native` instead of Data packets;
    - results come back from chdb in Native and are decoded by the driver's BlockInputStream, so the
      Python values are the ones the driver returns (Decimal, tz-aware datetime, date, str/bytes).
    """

    def __init__(self, session, driver):
        from clickhouse_driver.connection import ServerInfo

        self.session = session
        self.driver = driver  # the clickhouse_driver.Client the production sink built; never connected
        self.context = driver.connection.context
        version, timezone = session.query("SELECT version(), timezone()", "TSV").bytes().decode().split()
        major, minor, patch = (int(p) for p in version.split(".")[:3])
        # revision 0: blocks without BlockInfo, as the Native format has them (a TCP Data packet adds it)
        self.context.server_info = ServerInfo("chdb", major, minor, patch, 0, timezone, "chdb", 0)
        self.spool = tempfile.mkdtemp(prefix="chdb-insert-")

    def execute(self, query, params=None, columnar=False):
        if params is not None and not isinstance(params, dict):
            return self._insert(query, params, columnar)
        if params is not None:
            query = self.driver.substitute_params(query, params, self.context)
        return self._rows(query)

    def _rows(self, query):
        from clickhouse_driver.bufferedreader import BufferedSocketReader
        from clickhouse_driver.streams.native import BlockInputStream

        data = self.session.query(query, "Native").bytes()
        stream = BlockInputStream(BufferedSocketReader(_Bytes(data), 1 << 16), self.context)
        rows = []
        while True:
            try:
                block = stream.read()
            except EOFError:
                return rows
            rows.extend(block.get_rows())

    def _insert(self, query, rows, columnar=False):
        from clickhouse_driver.block import ColumnOrientedBlock, RowOrientedBlock
        from clickhouse_driver.bufferedwriter import BufferedSocketWriter
        from clickhouse_driver.streams.native import BlockOutputStream
        from clickhouse_driver.util.helpers import chunks, column_chunks

        m = _INSERT.match(query)
        assert m, f"not an INSERT … VALUES the driver would send with rows: {query!r}"
        target, columns = m.group(1), m.group(2)
        # the server's sample block: the names and types of the columns the INSERT names
        sample = [(name, ch_type) for name, ch_type, *_ in self._rows(f"DESCRIBE (SELECT {columns} FROM {target})")]
        out = _Bytes()
        writer = BufferedSocketWriter(out, 1 << 16)
        inserted = 0
        # as the driver's Client.send_data slices and wraps rows (or columns, columnar=True)
        slicer, block_cls = (column_chunks, ColumnOrientedBlock) if columnar else (chunks, RowOrientedBlock)
        for chunk in slicer(rows, self.context.client_settings["insert_block_size"]):
            block = block_cls(sample, chunk)
            BlockOutputStream(writer, self.context).write(block)
            inserted += block.num_rows
        path = os.path.join(self.spool, "block.native")
        with open(path, "wb") as f:
            f.write(out.out)
        self.session.query(f"INSERT INTO {target} ({columns}) FROM INFILE '{path}' FORMAT Native")
        return inserted

    def disconnect(self):
        pass


class ChdbSink(ch.ClickHouseSink):
    """The production ClickHouse sink; only its connection is a chdb session (class attribute `session`)."""

    session = None

    def connect(self):
        return ChdbClient(self.session, super().connect())
