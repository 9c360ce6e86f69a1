"""Reading a source's binlog as whole transactions.

`BinlogStream` runs python-mysql-replication's BinLogStreamReader in a thread
and hands the dump loop complete transactions (`Transaction`), each ending at
a position the reader can resume from (after its XID / COMMIT, or after a DDL
statement). The thread lets the dump loop batch naturally: whatever has piled
up while the sinks were writing is taken in one go, and an idle stream costs
nothing.

Choices forced by the library (measured on MariaDB and MySQL; tests/engine and tests/decoder guard them):
- file/pos resume uses `is_mariadb=False, resume_stream=True`; GTID resume uses
  `auto_position` (with `is_mariadb=True` on MariaDB) and `blocking=True`.
- Column names come from binlog_row_metadata=FULL; `use_column_name_cache` is
  never used, so rows written before an ALTER keep their own column names.
- The library silently reconnects after a lost connection from the middle of a
  transaction; we turn a lost connection into `StreamLost` instead, and the
  dump loop restarts from its last committed transaction boundary.
- Rows of tables nobody wants are never decoded (`.rows` is lazy), and their table maps, rows and
  transactions never become the library's events at all (`_sieve`, on the connection's packets).

Transactions of any size in bounded memory: a transaction that grows past `piece_rows` row changes or
`piece_bytes` bytes of row events is handed over in pieces as it is read (`Transaction.last` False on all
but the last piece). Every row of a transaction handed over in pieces carries the same position, the one
of the transaction's first event (its GTID or BEGIN event: unique, inside the transaction, known before its
end), and `seq` runs on across pieces; the last piece's `position` is the transaction's end, the only
position the dump ever commits. What the reader holds for the dump loop is bounded in row changes
(`max_buffered_changes`) and in bytes of row events (`max_buffered_bytes`).
"""
import logging
import queue
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from functools import partial

import pymysql
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import (
    GtidEvent, HeartbeatLogEvent, MariadbGtidEvent, QueryEvent, RotateEvent, XidEvent,
)
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from workers.events import LibraryLosses, Position, RowChange, SchemaChange, row_images
from workers.sinks.encoding import parse_json_columns
from workers.source import SourceConnection, connect, json_columns

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 1.0
# Transactions with nothing this stream wants (other tables' only) move positions and nothing else: they are
# handed on as one position at most this often (and at the server's heartbeat), not one by one. A dump of a
# few tables on a busy server, or many dumps of one server in one process, otherwise spend most of their time
# passing empty transactions along.
PASSED_EVERY = 0.25
READ_TIMEOUT_SECONDS = 6  # no event and no heartbeat for this long: the connection is dead

EVENTS = [
    QueryEvent, XidEvent, RotateEvent, MariadbGtidEvent, GtidEvent, HeartbeatLogEvent,
    WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent,
]


class StreamLost(Exception):
    """The replication connection broke; restart from the last committed boundary."""


class UnnamedColumns(Exception):
    """Row events that do not name their columns (binlog_row_metadata is not FULL): never guessed."""


# Binlog event types the reader handles before the library (BinlogStream._sieve)
XID_EVENT = 16
TABLE_MAP_EVENT = 19
ROWS_EVENTS = frozenset((23, 24, 25, 30, 31, 32))  # WRITE/UPDATE/DELETE_ROWS, v1 and v2
MARIADB_GTID_EVENT = 162
MARIADB_GTID_STANDALONE = 1  # a GTID flag: one statement (DDL) and no XID
_DUMP_COMMANDS = (0x12, 0x1E)  # COM_BINLOG_DUMP, COM_BINLOG_DUMP_GTID


class StreamConnection(SourceConnection):
    """A pymysql connection whose lost-connection errors escape the library's mid-transaction reconnect.

    Once the binlog dump has started, every packet goes through `sieve(packet)`, which returns the packets to
    hand the library (none, it, or one it held back before it): BinlogStream._sieve drops other tables'
    events before the library builds an event of them. Many dumps of one busy server in one process spend
    most of their time on other tables' transactions, and building their events cost more than reading them.
    """

    def __init__(self, *args, sieve=None, **kwargs):
        self._sieve = sieve
        self._dumping = False  # set by the dump command: the packets before it are query results
        self._ready = deque()  # sieved packets not handed to the library yet
        super().__init__(*args, **kwargs)

    def _write_bytes(self, data):
        if self._sieve is not None and len(data) > 4 and data[4] in _DUMP_COMMANDS:
            self._dumping = True
        return super()._write_bytes(data)

    def _read_packet(self, *args, **kwargs):
        try:
            ready = self._ready
            while not ready:
                packet = super()._read_packet(*args, **kwargs)
                if not self._dumping:
                    return packet
                ready.extend(self._sieve(packet))
            return ready.popleft()
        except pymysql.OperationalError as exc:
            raise StreamLost(f"replication connection lost: {exc.args[-1]}") from exc


@dataclass
class Transaction:
    """A whole transaction, or a piece of one (see the module's doc)."""

    changes: list
    # where it ends, a resumable boundary; for a piece that is not the last, the position its rows carry
    position: Position
    timestamp: int = 0
    sizes: dict = field(default_factory=dict)  # (schema, table) -> [count, bytes]
    # (schema, table) -> MariaDB JSON columns still as text (streams opened with parse_json=False)
    json_columns: dict = None
    # (schema, table) -> the only columns its rows were decoded with besides the primary key (FieldLists);
    # tables decoded with every column are not in it
    narrow: dict = None
    first: bool = True  # the first piece (or a whole transaction)
    last: bool = True  # the last piece (or a whole transaction): its `position` may be committed
    rows_at: Position = None  # the last piece of a transaction in pieces: the position its rows carry
    nbytes: int = 0  # bytes of the row events its changes were decoded from
    # (schema, table) -> why its rows in this transaction (or piece) could not be named (schema history): the
    # subscriptions that want the table stop before it (workers.subscriptions), the others go on
    unreadable: dict = None

    @property
    def rows_position(self) -> Position:
        """The position its changes carry (and BEGIN/COMMIT markers of with_trx targets)."""
        return self.rows_at or self.position

    def parse_json(self):
        """Parse the MariaDB JSON columns of every row image in place, once (the first caller that needs them)."""
        tables = self.json_columns
        if not tables:
            return
        self.json_columns = None
        for change in self.changes:
            cols = tables.get((change.schema, change.table))
            if cols and change.__class__ is RowChange:
                parse_json_columns(change.row, cols)
                if change.old is not None:
                    parse_json_columns(change.old, cols)


# --- DDL classification (Bifrost/BinLake event names) ------------------------------------------

_NAME = r"(?:`(?:[^`]|``)+`|[\w$]+)"
_QUALIFIED = rf"({_NAME})(?:\s*\.\s*({_NAME}))?"
DDL_PATTERNS = [
    ("CREATE", re.compile(rf"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMPORARY\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{_QUALIFIED}", re.I)),
    ("ALTER", re.compile(rf"^\s*ALTER\s+(?:ONLINE\s+)?(?:IGNORE\s+)?TABLE\s+(?:IF\s+EXISTS\s+)?{_QUALIFIED}", re.I)),
    ("ERASE", re.compile(rf"^\s*DROP\s+(?:TEMPORARY\s+)?TABLE\s+(?:IF\s+EXISTS\s+)?(?:/\*.*?\*/\s*)?{_QUALIFIED}", re.I)),
    ("TRUNCATE", re.compile(rf"^\s*TRUNCATE\s+(?:TABLE\s+)?{_QUALIFIED}", re.I)),
    ("RENAME", re.compile(rf"^\s*RENAME\s+TABLE\s+{_QUALIFIED}", re.I)),
    ("CINDEX", re.compile(rf"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:UNIQUE\s+|FULLTEXT\s+|SPATIAL\s+)?INDEX\s+{_NAME}\s+ON\s+{_QUALIFIED}", re.I)),
    ("DINDEX", re.compile(rf"^\s*DROP\s+INDEX\s+(?:IF\s+EXISTS\s+)?{_NAME}\s+ON\s+{_QUALIFIED}", re.I)),
]


def _unquote(name):
    if name and name.startswith("`"):
        return name[1:-1].replace("``", "`")
    return name or ""


def classify_ddl(query: str, current_schema: str):
    """(type, schema, table) of a statement; ('QUERY', schema, '') when it names no table we know."""
    query = re.sub(r"^\s*(/\*.*?\*/\s*)+", "", query, flags=re.S)
    for kind, pattern in DDL_PATTERNS:
        match = pattern.match(query)
        if match:
            first, second = _unquote(match.group(1)), _unquote(match.group(2))
            return (kind, first, second) if second else (kind, current_schema, first)
    return "QUERY", current_schema, ""


# --- GTID bookkeeping ------------------------------------------------------------------------


class GtidTracker:
    """The executed GTID set after each transaction, as text to resume from."""

    def __init__(self, start: str, mariadb: bool):
        self.mariadb = mariadb
        self.domains = {}
        self.mysql_set = None
        if mariadb:
            for item in filter(None, (s.strip() for s in (start or "").split(","))):
                self.domains[item.split("-", 1)[0]] = item
        elif start:
            from pymysqlreplication.gtid import GtidSet
            self.mysql_set = GtidSet(start)

    def add(self, gtid: str):
        if not gtid:
            return
        if self.mariadb:
            self.domains[gtid.split("-", 1)[0]] = gtid
        else:
            from pymysqlreplication.gtid import Gtid, GtidSet
            self.mysql_set = (self.mysql_set or GtidSet(None)) + Gtid(gtid)

    def text_with(self, gtid: str) -> str:
        """text() once `gtid` is added, without adding it."""
        if not gtid:
            return self.text()
        if self.mariadb:
            domains = dict(self.domains)
            domains[gtid.split("-", 1)[0]] = gtid
            return ",".join(domains[d] for d in sorted(domains, key=lambda d: int(d) if d.isdigit() else d))
        from pymysqlreplication.gtid import Gtid, GtidSet
        return str((self.mysql_set or GtidSet(None)) + Gtid(gtid))

    def text(self) -> str:
        if self.mariadb:
            return ",".join(self.domains[d] for d in sorted(self.domains, key=lambda d: int(d) if d.isdigit() else d))
        return str(self.mysql_set) if self.mysql_set is not None else ""


# --- the stream ------------------------------------------------------------------------------


def library_images(event, wanted=None):
    """python-mysql-replication's own decoding, shaped like workers.decoder.fast_images. It decodes every
    column whatever is `wanted` (subscriptions project their FieldLists themselves)."""
    return row_images(event.rows, LibraryLosses.of(event.columns))



class BinlogStream:
    """One replication connection, started at a transaction boundary.

    `wants(schema, table)` decides which tables' rows get decoded, and which of their columns: falsy for
    none, True for every column, or a frozenset of column names (the primary key is added: the others are
    skipped by the decoder without building their values).
    `use_gtid`: resume by `start.gtid` (auto_position) instead of file/pos.
    `parse_json`: parse MariaDB's JSON text in the reader; False leaves it to whoever needs it
    (`Transaction.parse_json()`), so targets that never look at values (blackhole) never pay for it.
    """

    def __init__(self, host, port, user, password, server_id, start: Position, *, use_gtid=False,
                 mariadb=True, wants=None, only_schemas=None, only_tables=None, decoder=None, queue_size=20000,
                 parse_json=True, max_buffered_changes=20000, max_buffered_bytes=32 << 20,
                 piece_rows=10000, piece_bytes=8 << 20, reader_setup=None, schema_history=None):
        self.settings = {"host": host, "port": int(port), "user": user, "passwd": password or "",
                         "read_timeout": READ_TIMEOUT_SECONDS, "connect_timeout": 5, "charset": "utf8mb4"}
        self.server_id = server_id
        self.start_position = start
        self.use_gtid = use_gtid
        self.mariadb = mariadb
        self.wants = wants or (lambda schema, table: True)
        self.only_schemas = only_schemas
        self.only_tables = only_tables
        # decoder(event, wanted=None) -> row images: a values dict per row, a (before, after) pair per updated
        # row; `wanted`: a frozenset of the columns to decode, None for all
        self.decoder = decoder or library_images
        self.decodes_wanted = decoder is not None  # the library decodes every column whatever is wanted
        self.reader_setup = reader_setup  # called first in the reader thread (the dump binds its decoder counters)
        self.parse_json = parse_json
        # workers.schema_history.SchemaHistory for a source whose row events do not name their columns: it
        # names them, and follows every DDL read (it may write to the metadata DB from the reader thread)
        self.schema_history = schema_history
        self.queue = queue.Queue(maxsize=queue_size)
        # The reader waits while this many changes are read and not taken: bounded memory, and a heap that
        # stays small enough for the garbage collector (a reader far ahead of its sinks only costs).
        self.max_buffered_changes = max_buffered_changes
        self.max_buffered_bytes = max_buffered_bytes
        # A transaction with more row changes, or more bytes of row events, is handed over in pieces.
        self.piece_rows = max(1, int(piece_rows))
        self.piece_bytes = max(1, int(piece_bytes))
        self._buffered = 0
        self._buffered_bytes = 0
        self._room = threading.Condition()
        self.last_activity = time.monotonic()
        self.events_seen = 0
        self.events_skipped = 0  # events _sieve took from the library (other tables', empty transactions')
        self.reader = None
        self.error = None
        self._stop = threading.Event()
        self._thread = None
        self._json_columns = {}
        self._with_key = {}  # (schema, table, primary key) -> the frozenset the decoder gets (its cache key)
        self._narrow = {}  # (schema, table) -> wanted columns, for tables not decoded with every column
        self._ctl = None
        self._other_tables = {}  # table id (6 bytes) -> its last table map named a table nobody here wants

    # --- life cycle ---

    def start(self):
        kwargs = dict(
            connection_settings=self.settings, server_id=self.server_id, blocking=True, only_events=EVENTS,
            slave_heartbeat=HEARTBEAT_SECONDS, pymysql_wrapper=partial(StreamConnection, sieve=self._sieve),
            enable_logging=False,
            only_schemas=self.only_schemas, only_tables=self.only_tables, freeze_schema=False,
        )
        if self.use_gtid and self.start_position.gtid:
            kwargs.update(auto_position=self.start_position.gtid, is_mariadb=self.mariadb)
        else:
            kwargs.update(log_file=self.start_position.binlog_file, log_pos=self.start_position.binlog_pos,
                          resume_stream=True, is_mariadb=False)
        self.reader = BinLogStreamReader(**kwargs)
        self._thread = threading.Thread(target=self._run, name="binlog-reader", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        reader = self.reader
        try:
            # Unblock the reader thread's recv; closing from here would race its own use of the socket.
            sock = reader._stream_connection._sock if reader is not None else None
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        except Exception:
            pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            if reader is not None:
                reader.close()
        except Exception:
            pass
        if self._ctl is not None:
            try:
                self._ctl.close()
            except Exception:
                pass

    def get(self, timeout: float, max_changes: int = 5000) -> list:
        """Complete transactions read so far (waits up to `timeout` for the first). Raises what the reader hit."""
        out = []
        try:
            item = self.queue.get(timeout=timeout)
        except queue.Empty:
            self._raise_error()
            return out
        count = nbytes = 0
        try:
            while True:
                if isinstance(item, BaseException):
                    if out:  # deliver what came before the failure first, raise it on the next call
                        self.error = item
                        return out
                    raise item
                out.append(item)
                count += len(item.changes)
                nbytes += item.nbytes
                if count >= max_changes:
                    return out
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    return out
        finally:
            if count or nbytes:
                with self._room:
                    self._buffered -= count
                    self._buffered_bytes -= nbytes
                    self._room.notify()

    def idle(self) -> bool:
        """Nothing read and waiting to be taken."""
        return self.queue.empty()

    def _raise_error(self):
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def silent_for(self) -> float:
        return time.monotonic() - self.last_activity

    # --- the reader thread ---

    def _put(self, item):
        if isinstance(item, Transaction) and (item.changes or item.nbytes):
            with self._room:
                while (self._buffered >= self.max_buffered_changes or self._buffered_bytes >= self.max_buffered_bytes) \
                        and not self._stop.is_set():
                    self._room.wait(0.5)
                self._buffered += len(item.changes)
                self._buffered_bytes += item.nbytes
        while not self._stop.is_set():
            try:
                self.queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def _run(self):
        try:
            if self.reader_setup is not None:
                self.reader_setup()
            self._read()
        except BaseException as exc:  # noqa: BLE001 - everything goes to the dump loop
            if not self._stop.is_set():
                if not isinstance(exc, StreamLost) and isinstance(exc, (pymysql.MySQLError, OSError)):
                    exc = StreamLost(f"replication connection failed: {exc}")
                self._put(exc)
        finally:
            if self.schema_history is not None:
                self.schema_history.release()

    def _read(self):
        file = self.start_position.binlog_file
        gtids = GtidTracker(self.start_position.gtid, self.mariadb)
        # shared with _sieve (the library calls it from this thread, inside `for event in self.reader`)
        self._file, self._gtids = file, gtids
        self._held_gtid = None  # a transaction's GTID packet _sieve has not handed the library yet
        self._unreadable = None  # Transaction.unreadable of the transaction being read
        changes = []
        sizes = {}
        jsons = {}  # (schema, table) -> JSON columns left as text in this transaction
        trx_gtid = ""
        seq = 0
        held = 0  # bytes of row events behind `changes`
        wants = self.wants
        decode = self.decoder
        decodes_wanted = self.decodes_wanted
        parse_now = self.parse_json
        piece_rows, piece_bytes = self.piece_rows, self.piece_bytes
        self._trx_start = 0  # end of the transaction's first event (GTID / BEGIN): where its pieces are
        self._piece_at = None  # the Position the rows of the transaction being handed over in pieces carry
        self._passed = None  # (file, end, timestamp) of the last empty transaction not handed on yet
        self._passed_at = 0.0  # when one was last handed on
        for event in self.reader:
            if self._stop.is_set():
                return
            self.last_activity = time.monotonic()
            self.events_seen += 1
            cls = event.__class__
            if cls is WriteRowsEvent or cls is UpdateRowsEvent or cls is DeleteRowsEvent:
                if not self._trx_start:
                    self._trx_start = event.packet.log_pos
                schema, table = event.schema, event.table
                wanted = wants(schema, table)
                if not wanted:
                    continue
                columns = event.columns
                if columns and not columns[0].name:
                    if self.schema_history is None:
                        raise UnnamedColumns(
                            f"rows of {schema}.{table} at {file}:{event.packet.log_pos} do not name their columns "
                            "(written while binlog_row_metadata was not FULL); set the position past them to go on")
                    pk = self.schema_history.name_columns(event, file)
                    if pk.__class__ is str:  # the history cannot name them
                        self._cannot_name(schema, table, pk)
                        continue
                else:
                    if self.schema_history is not None:
                        problem = self.schema_history.cross_check(event, file)
                        if problem is not None:
                            self._cannot_name(schema, table, problem)
                            continue
                    pk = event.primary_key
                    pk = (pk,) if isinstance(pk, str) and pk else (tuple(pk) if pk else ())
                if wanted is True or not decodes_wanted:
                    rows = decode(event)
                else:
                    with_key = self._with_key.get((schema, table, pk))
                    if with_key is None:  # the wanted columns of a table are fixed for the stream's life
                        with_key = self._with_key[(schema, table, pk)] = wanted | frozenset(pk)
                        self._narrow[(schema, table)] = wanted
                    rows = decode(event, with_key)
                if not rows:
                    continue
                json_cols = self._json_columns_of(schema, table) if self.mariadb else ()
                ts = event.timestamp
                key = (schema, table)
                if json_cols and not parse_now:
                    jsons[key] = json_cols
                    json_cols = ()
                size = sizes.get(key)
                if size is None:
                    size = sizes[key] = [0, 0]
                size[0] += len(rows)
                size[1] += event.event_size
                held += event.event_size
                placeholder = None  # positions are filled in at commit
                if cls is UpdateRowsEvent:
                    for before, after in rows:
                        if json_cols:
                            parse_json_columns(after, json_cols)
                            parse_json_columns(before, json_cols)
                        changes.append(RowChange(schema, table, "UPDATE", after, before, pk, placeholder, seq, ts))
                        seq += 1
                else:
                    kind = "INSERT" if cls is WriteRowsEvent else "DELETE"
                    for values in rows:
                        if json_cols:
                            parse_json_columns(values, json_cols)
                        changes.append(RowChange(schema, table, kind, values, None, pk, placeholder, seq, ts))
                        seq += 1
                if len(changes) >= piece_rows or held >= piece_bytes:
                    self._hand_piece(changes, file, ts, gtids, trx_gtid, sizes, jsons, held)
                    changes, sizes, jsons, held = [], {}, {}, 0
            elif cls is XidEvent:
                self._commit(changes, file, event, gtids, trx_gtid, sizes, jsons, held)
                changes, sizes, jsons, seq, trx_gtid, held = [], {}, {}, 0, "", 0
            elif cls is QueryEvent:
                query = event.query.strip() if isinstance(event.query, str) else event.query.decode(errors="replace").strip()
                upper = query[:8].upper()
                if upper.startswith("BEGIN") or upper.startswith("XA START") or upper.startswith("SAVEPOIN"):
                    if not self._trx_start:
                        self._trx_start = event.packet.log_pos
                    continue
                if upper.startswith("COMMIT") or upper.startswith("XA END") or upper.startswith("XA PREPA") \
                        or upper.startswith("XA COMMI"):
                    if upper.startswith("COMMIT") or upper.startswith("XA COMMI"):
                        self._commit(changes, file, event, gtids, trx_gtid, sizes, jsons, held)
                        changes, sizes, jsons, seq, trx_gtid, held = [], {}, {}, 0, "", 0
                    continue
                if upper.startswith("ROLLBACK"):
                    if self._piece_at is not None:
                        # Pieces of it were handed over already (rows of non-transactional tables, which the
                        # server kept): close it where it ends, so framing and positions stay whole.
                        self._commit([], file, event, gtids, trx_gtid, {}, None, 0)
                        trx_gtid = ""
                    changes, sizes, jsons, seq, held = [], {}, {}, 0, 0
                    self._trx_start = 0
                    self._unreadable = None
                    continue
                current = event.schema.decode() if isinstance(event.schema, bytes) else (event.schema or "")
                kind, schema, table = classify_ddl(query, current)
                if self.schema_history is not None:
                    self.schema_history.apply(query, current, file, event.packet.log_pos)
                self._json_columns.pop((schema, table), None)
                if kind in ("RENAME", "ERASE", "CREATE"):
                    self._json_columns.clear()
                changes.append(SchemaChange(schema, table, kind, query, None, seq, event.timestamp))
                self._commit(changes, file, event, gtids, trx_gtid, sizes, jsons, held)
                changes, sizes, jsons, seq, trx_gtid, held = [], {}, {}, 0, "", 0
            elif cls is MariadbGtidEvent or cls is GtidEvent:
                if self._passed is not None and time.monotonic() - self._passed_at >= PASSED_EVERY:
                    self._hand_passed(gtids)
                trx_gtid = event.gtid
                changes, sizes, jsons, seq, held = [], {}, {}, 0, 0  # a GTID always opens a new transaction
                self._piece_at = None
                self._trx_start = event.packet.log_pos
            elif cls is RotateEvent:
                if self._passed is not None:
                    self._hand_passed(gtids)  # its position names the file it is in
                file = self._file = event.next_binlog
            elif self._passed is not None:  # HeartbeatLogEvent: the server has nothing more for now
                self._hand_passed(gtids)

    def _sieve(self, packet) -> tuple:
        """The packets of the stream's connection to hand the library (StreamConnection), in order.

        Another table's table map or rows event is dropped: a table map says which table its id names until
        the next map of that id, and each statement's rows follow their table's map, so a rows event is
        another table's when its id's last map was. (The library never saw that map: left to it, it would
        decode the rows with the map it saw last for that id.)

        On MariaDB a transaction's GTID event is held back until the transaction shows something for the
        library; one that ends in its XID with nothing else is taken here as a whole (`_absorb`), as _read
        would have taken it: an empty transaction, its GTID executed, its end a position passed."""
        data = packet._data
        # an OK packet holding exactly one event: 0x00, then the 19-byte header (type at 5, size at 10..14)
        if len(data) < 31 or data[0] != 0 or int.from_bytes(data[10:14], "little") != len(data) - 1:
            return self._release(packet)
        kind = data[5]
        if kind == TABLE_MAP_EVENT:
            n = data[28]
            m = data[30 + n]
            try:
                schema, table = data[29:29 + n].decode(), data[31 + n:31 + n + m].decode()
            except UnicodeDecodeError:
                return self._release(packet)
            other = self._other_tables[data[20:26]] = not self.wants(schema, table)
        elif kind in ROWS_EVENTS:
            other = self._other_tables.get(data[20:26], False)
        elif kind == MARIADB_GTID_EVENT and self.mariadb and not data[32] & MARIADB_GTID_STANDALONE:
            ready = self._release(None)
            self._held_gtid = packet
            return ready
        elif kind == XID_EVENT and self._held_gtid is not None:
            gtid = self._held_gtid._data
            self._held_gtid = None
            self.events_skipped += 2
            self._absorb("%d-%d-%d" % (int.from_bytes(gtid[28:32], "little"), int.from_bytes(gtid[6:10], "little"),
                                       int.from_bytes(gtid[20:28], "little")),
                         int.from_bytes(data[14:18], "little"), int.from_bytes(data[1:5], "little"))
            return ()
        else:
            return self._release(packet)
        if not other:
            return self._release(packet)
        self.events_skipped += 1
        return ()

    def _release(self, packet) -> tuple:
        """The held GTID packet (if any) and `packet` (if any), to hand the library in this order."""
        held, self._held_gtid = self._held_gtid, None
        return tuple(p for p in (held, packet) if p is not None)

    def _absorb(self, gtid, end, timestamp):
        """What _read and _commit do with a transaction that has nothing for this stream, for one _sieve took."""
        self.last_activity = time.monotonic()  # the server is talking: the dump loop must not presume it dead
        self._gtids.add(gtid)
        self._passed = (self._file, end, timestamp)
        if time.monotonic() - self._passed_at >= PASSED_EVERY:
            self._hand_passed(self._gtids)

    def _narrow_of(self, sizes):
        narrow = self._narrow
        if narrow:
            narrow = {key: narrow[key] for key in sizes if key in narrow} or None
        return narrow or None

    def _hand_passed(self, gtids):
        """Hand on the position after the empty transactions read since the last one handed on."""
        file, end, timestamp = self._passed
        self._passed, self._passed_at = None, time.monotonic()
        self._put(Transaction([], Position(file, end, gtids.text()), timestamp, {}))

    def _cannot_name(self, schema, table, why):
        """Rows of a table the schema history cannot name, left out of the transaction: why, for whoever
        wants the table (Transaction.unreadable)."""
        if self._unreadable is None:
            self._unreadable = {}
        self._unreadable.setdefault((schema, table), why)

    def _hand_piece(self, changes, file, timestamp, gtids, trx_gtid, sizes, jsons, held):
        """Hand over the changes read so far of a transaction that outgrew a piece (not its last piece)."""
        if self._passed is not None:
            self._hand_passed(gtids)  # it ends before this transaction begins: its pieces come after it
        first = self._piece_at is None
        if first:
            # the executed set once this transaction is in, as its rows would carry it when whole
            self._piece_at = Position(file, self._trx_start, gtids.text_with(trx_gtid))
        position = self._piece_at
        for change in changes:
            change.position = position
        unreadable, self._unreadable = self._unreadable, None
        self._put(Transaction(changes, position, timestamp, sizes, jsons or None, self._narrow_of(sizes),
                              first=first, last=False, nbytes=held, unreadable=unreadable))

    def _commit(self, changes, file, event, gtids, trx_gtid, sizes, jsons=None, held=0):
        gtids.add(trx_gtid)
        piece_at, self._piece_at, self._trx_start = self._piece_at, None, 0
        unreadable, self._unreadable = self._unreadable, None
        if not changes and piece_at is None and unreadable is None:
            self._passed = (file, event.packet.log_pos, event.timestamp)
            if time.monotonic() - self._passed_at >= PASSED_EVERY:
                self._hand_passed(gtids)
            return
        self._passed = None  # this transaction's position is past it
        position = Position(file, event.packet.log_pos, gtids.text())
        rows_at = piece_at or position
        for change in changes:
            change.position = rows_at
        self._put(Transaction(changes, position, event.timestamp, sizes, jsons or None, self._narrow_of(sizes),
                              first=piece_at is None, last=True, rows_at=piece_at, nbytes=held,
                              unreadable=unreadable))

    def _json_columns_of(self, schema, table):
        """MariaDB stores JSON as LONGTEXT with a json_valid() CHECK: find those columns once per table."""
        key = (schema, table)
        cols = self._json_columns.get(key)
        if cols is None:
            try:
                if self._ctl is None:
                    self._ctl = connect(self.settings["host"], self.settings["port"], self.settings["user"],
                                        self.settings["passwd"], read_timeout=10)
                cols = tuple(sorted(json_columns(self._ctl, schema, table)))
            except pymysql.MySQLError:
                cols = ()
                self._ctl = None
            self._json_columns[key] = cols
        return cols
