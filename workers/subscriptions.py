"""One subscription inside a running dump: what it wants, where it is, how it fails.

Built from the Subscription row once and refreshed about every second; the
per-row work (table match, field list, filter update) uses only plain Python.

Positions (docs/compatibility.md): `succeeded` is the last transaction the target has
durably, `queued` the last transaction the dump has read past for it. A
subscription that is paused or failing keeps `succeeded` and lets `queued`
run ahead, so it counts as behind and the dump rewinds for it when it becomes
active again; each subscription drops transactions at or before its own
`succeeded`, so a rewind never duplicates into the others.

A big transaction comes in pieces (workers/stream.py): `succeeded` stays at its start until its last piece
is written; `pieces_of` is the position of the transaction whose every piece so far this subscription has
written (the dump rewinds to the transaction's start for an active one that missed a piece), and the spans
it gives with_trx targets say where the transaction's BEGIN and COMMIT go (workers/sinks/messages.py).
"""
import logging
import threading
import time
from fnmatch import fnmatchcase

from workers.changefeed import attach as attach_changefeed, sink_options as changefeed_sink_options
from workers.events import Batch, Position, SchemaChange, UnreadableRows
from workers.filters import mq_rule_options, rules_for
from workers.sinks import open_sink
from workers.sinks.base import SinkError
from workers.sinks.options import MQ_KINDS
from workers.sinks.encoding import dumps, json_safe

log = logging.getLogger(__name__)

RETRY_BACKOFF_MAX = 8.0  # seconds between retries of a failing MustBeSuccess subscription
# The failing event is stored with the subscription (error_wait_data), shown on its page and copied into the
# audit log when it is skipped: a value longer than this (as JSON text) is kept as its first characters and its
# length. A whole 64 MB BLOB there (89 MB of base64), written again at every retry, held the metadata
# database's write lock for seconds and starved the lease keeper's renewals.
FAILING_VALUE_CHARS = 1024


class TableMatcher:
    """`tables`: comma separated `schema.table` patterns with * wildcards; `!pattern` excludes.

    The patterns are user input matched with fnmatch, not RE2: fnmatch translates each `*` into an atomic
    group (`(?>.*?x)`), which RE2 cannot compile and which never backtracks, so a pattern with many `*`
    still matches in time proportional to its length times the name's."""

    def __init__(self, spec: str):
        self.spec = spec
        items = [s.strip() for s in (spec or "*.*").replace("\n", ",").split(",") if s.strip()]
        self.include = [s for s in items if not s.startswith("!")] or (["*.*"] if items else ["*.*"])
        self.exclude = [s[1:].strip() for s in items if s.startswith("!")]
        self._cache = {}

    def __call__(self, schema: str, table: str) -> bool:
        key = (schema, table)
        hit = self._cache.get(key)
        if hit is None:
            name = f"{schema}.{table}"
            hit = any(fnmatchcase(name, p) for p in self.include) and not any(fnmatchcase(name, p) for p in self.exclude)
            self._cache[key] = hit
        return hit

    def wants_schema(self, schema: str) -> bool:
        """For DDL that names no table (CREATE DATABASE, …)."""
        return any(fnmatchcase(schema, p.split(".", 1)[0]) for p in self.include)

    def literal_schemas(self):
        """The schemas the patterns can match, or None when a schema part has a wildcard."""
        schemas = set()
        for p in self.include:
            schema = p.split(".", 1)[0]
            if any(ch in schema for ch in "*?["):
                return None
            schemas.add(schema)
        return schemas

    def literal_tables(self):
        """The table names (without their schema) the patterns can match, or None when a table part has a
        wildcard."""
        tables = set()
        for p in self.include:
            schema, dot, table = p.partition(".")
            if not dot or any(ch in table for ch in "*?["):
                return None
            tables.add(table)
        return tables


def position_of(file, pos, gtid="") -> Position:
    return Position(file or "", int(pos or 0), gtid or "")


def _nothing():
    pass


class SubscriptionRuntime:
    refresh_pending = False  # a dump reload skipped its refresh() while its thread was writing
    rules = None  # the MQ rule's compiled filters (workers.filters.RuleSet), set by refresh()
    changefeed = None  # workers.changefeed.Changefeed when start_ts/target_ts/ignore_txn_start_ts are set

    def __init__(self, sub, checkpoint, keep_alive=_nothing):
        self.id = sub.id
        # Called between the single writes that look for a failing change: the dump shows its lease keeper
        # that the loop is alive (a long search is not a stall) and stops there if it was fenced.
        self.keep_alive = keep_alive
        self.name = sub.name
        self.sink = None
        self.target_uri = None
        self.succeeded = position_of(checkpoint.binlog_file, checkpoint.binlog_pos, checkpoint.gtid_set)
        self.queued = position_of(checkpoint.queued_file, checkpoint.queued_pos, checkpoint.queued_gtid)
        self.written = self.succeeded  # what the checkpoint row holds now (compare-and-set)
        self.written_queued = self.queued
        self.binlog_when = checkpoint.binlog_when
        self.failing = False
        self.next_retry = 0.0
        self.backoff = 1.0
        self.failure = None  # {"error", "event", "position", "seq"} of the change that keeps failing
        if sub.state == "error" and sub.error:
            # An error shown before this dump started (another leader's, or one a restart was meant to clear,
            # such as a re-snapshot): the first delivery that goes through clears it (_succeeded).
            self.failure = {"error": sub.error, "event": sub.error_wait_data, "inherited": True,
                            "commit_seq": (sub.error_wait_data or {}).get("commit_seq"),
                            "seq": (sub.error_wait_data or {}).get("seq", 0)}
        self.skip_event = None  # (commit_seq, seq) the operator said to miss
        self.skipped_now = 0
        self.errors_now = 0
        self.status_dirty = False
        self.skip_consumed = False
        self.flow = {}  # (schema, table) -> [count, bytes], cumulative
        self.failed_change = None  # (change, end position) of the change it parked at: what a retry probes
        self.courier = None  # its delivery thread (workers.courier), made when the dump first hands it a batch
        self.inflight = None  # the Future of what its delivery thread runs or last ran, until the dump settles it
        # succeeded/queued/binlog_when move together: its delivery thread and the dump loop (read_past, commit)
        # both touch them while a write it was left with (a stalled target) finishes.
        self.positions_lock = threading.Lock()
        self.stalled_since = None  # time.monotonic() when the dump left a batch still writing to it
        self.stall_reported = False  # the stall is shown as the subscription's error
        self.forget_pieces()
        self.refresh(sub)

    # --- configuration ---

    def refresh(self, sub):
        self.state = sub.state
        self.changefeed = attach_changefeed(self, sub)  # start_ts, target_ts, ignore_txn_start_ts
        self.tables = TableMatcher(sub.tables)
        self.fields = [f.strip() for f in (sub.field_list or "").split(",") if f.strip()]
        self._keep = {}  # primary key -> the columns _project keeps
        self.filter_query = sub.filter_query
        self.filter_update = sub.filter_update
        self.must_be_success = sub.must_be_success
        self.skip_next = sub.skip_next
        # BinLake filters of the subscription's MQ rule: None when there is no rule (nothing to check per row).
        self.rules = rules_for(sub.mq_rule) if sub.mq_rule_id else None
        options = dict(sub.target.options or {})
        options.update((sub.options or {}).get("sink", {}) if isinstance(sub.options, dict) else {})
        options.update(changefeed_sink_options(sub))  # TiCDC sink_config: protocol, dispatchers
        if sub.mq_rule_id and sub.target.kind in MQ_KINDS:
            options.update(mq_rule_options(sub.mq_rule, self.rules))
        if self.sink is None or self.target_uri != sub.target.uri or options != self.sink_options:
            if self.sink is not None:
                self.sink.close()
            self.sink, self.target_uri, self.sink_options = None, sub.target.uri, options
            self._open_sink(sub, options)
        if self.skip_next and self.failing and self.failure and self.failure.get("commit_seq") is not None:
            self.skip_event = (self.failure["commit_seq"], self.failure["seq"])
            self.next_retry = 0.0  # retry now, without the missed event
        elif self.skip_next and not self.failing and self.skip_event is None and sub.error_wait_data:
            data = sub.error_wait_data
            if "commit_seq" in data:
                self.skip_event = (data["commit_seq"], data.get("seq", 0))

    def _open_sink(self, sub, options):
        """Open the target. One that can never be opened as configured (a refused setting, a URI without a
        topic) parks this subscription alone, with the reason as its error, until its target or options change;
        the instance's other subscriptions go on."""
        try:
            self.sink = open_sink(sub.target.uri, options, subscription=sub)
        except SinkError as exc:
            if exc.retryable:
                raise
            if self.failure is None or self.failure.get("error") != str(exc):
                self.failure = {"error": str(exc), "event": None, "commit_seq": None, "seq": 0}
                self.errors_now += 1
                self.status_dirty = True
            self.failing = True
            return
        if self.failing and self.failure is not None and self.failure.get("event") is None:
            self.failing, self.failure, self.status_dirty = False, None, True  # the target was fixed

    @property
    def active(self) -> bool:
        return self.state in ("normal", "error") and not self.failing and self.sink is not None

    @property
    def busy(self) -> bool:
        """Its delivery thread is writing (a batch or a probe)."""
        return self.courier is not None and self.courier.busy

    @property
    def occupied(self) -> bool:
        """Handed to its delivery thread and not settled by the dump loop since (busy, or done meanwhile): the
        loop leaves it alone but for its positions, and delivers to it only after settling (and rewinding for
        it if it fell behind): one done between the loop's turns must not get a batch past what it missed."""
        return self.inflight is not None

    def hand_over(self, fn, *args):
        """Run fn(*args) (its deliver or probe) in this subscription's own delivery thread; a Future."""
        if self.courier is None:
            from workers.courier import Courier

            self.courier = Courier(f"tower-subscription-{self.id}")
        self.inflight = self.courier.submit(fn, *args)
        return self.inflight

    @property
    def wants_parsed_json(self) -> bool:
        return bool(self.filter_update) or not getattr(self.sink, "raw_json_ok", False)

    def wants_table(self, schema, table) -> bool:
        return self.tables(schema, table)

    @property
    def wanted_columns(self):
        """The columns this subscription needs decoded: its FieldList (the stream adds the primary key), or
        None for every column (no FieldList, or an MQ rule, whose filters may look at any column)."""
        if self.rules is not None or not self.fields:
            return None
        return frozenset(self.fields)

    # --- per transaction ---

    def select(self, transaction) -> list:
        """The changes of one transaction this subscription gets, shaped by its options."""
        out = []
        skip = self.skip_event
        rules = self.rules
        for change in transaction.changes:
            if skip is not None and change.position.commit_seq == skip[0] and change.seq == skip[1]:
                continue
            if rules is not None:
                change = rules.apply(change)
                if change is None:
                    continue
            if isinstance(change, SchemaChange):
                if self.filter_query:
                    continue
                if change.table and not self.tables(change.schema, change.table):
                    continue
                if not change.table and not self.tables.wants_schema(change.schema):
                    continue
                out.append(change)
                continue
            if not self.tables(change.schema, change.table):
                continue
            if self.fields:
                change = self._project(change)
            if self.filter_update and change.type == "UPDATE" and change.old is not None and change.row == change.old:
                continue
            out.append(change)
        return out

    def _takes_changes_as_read(self, transaction) -> bool:
        """No option of this subscription reshapes or drops single changes of this transaction: it can pass
        as read. A FieldList does not when the rows were decoded with no other columns than its own."""
        if self.skip_event is not None or self.filter_update or self.rules is not None:
            return False
        if not self.fields:
            return True
        narrow, fields = transaction.narrow, self.wanted_columns
        if not narrow:
            return False
        for key in transaction.sizes:
            decoded = narrow.get(key)
            if decoded is None or not decoded <= fields:
                return False
        return True

    def _whole_transaction(self, transaction):
        """For a subscription that takes changes as read: the transaction's changes when it wants every table
        of them, [] when none, None when select() has to look change by change (DDL, some tables wanted)."""
        sizes = transaction.sizes
        if not sizes or sum(v[0] for v in sizes.values()) != len(transaction.changes):
            return None  # a DDL (or changes without sizes): change by change
        wanted = [self.tables(schema, table) for schema, table in sizes]
        if all(wanted):
            return transaction.changes
        return [] if not any(wanted) else None

    def _project(self, change):
        from dataclasses import replace

        keep = self._keep.get(change.primary_key)
        if keep is None:
            keep = self._keep[change.primary_key] = frozenset(self.fields) | frozenset(change.primary_key)
        if change.row.keys() <= keep and (change.old is None or change.old.keys() <= keep):
            return change  # decoded with these columns only (every subscription of the table has a FieldList)
        row = {k: v for k, v in change.row.items() if k in keep}
        old = {k: v for k, v in change.old.items() if k in keep} if change.old is not None else None
        return replace(change, row=row, old=old)

    # --- delivery ---

    def forget_pieces(self):
        """Not inside a transaction delivered in pieces (any more): the next piece must be a first one."""
        self.pieces_of = None  # rows position of the transaction whose pieces so far were all written
        self._trx_open = False  # a span of it that opens it (BEGIN) was written
        self._trx_anchor = None  # the last change of it written: where its COMMIT goes when its last piece has none

    def _piece_span(self, t, start, end, picked):
        """The span of a piece in a batch, (begin, end, position, opens, closes, anchor); None for none."""
        position = t.rows_position
        if t.first:
            self.pieces_of, self._trx_open, self._trx_anchor = position, False, None
        elif self.pieces_of != position:
            # The dump rewinds before this can happen (workers/dump.py _rewind_if_needed); never silently.
            log.error("subscription %s: piece of the transaction at %s without its earlier pieces", self.name, position)
            self.pieces_of, self._trx_open, self._trx_anchor = position, False, None
        opens = bool(picked) and not self._trx_open
        closes = t.last and (self._trx_open or bool(picked))
        span = (start, end, position, opens, closes, self._trx_anchor) if picked or closes else None
        if picked:
            self._trx_open, self._trx_anchor = True, picked[-1]
        if t.last:
            self.forget_pieces()
        return span

    def deliver(self, transactions) -> None:
        """Write the transactions this subscription has not got yet; on failure set `failing` or skip (MustBeSuccess off)."""
        todo = [t for t in transactions if t.position.commit_seq > self.succeeded.commit_seq]
        if todo and self.changefeed is not None:
            todo = self.changefeed.admit(self, todo)
        if not todo:
            return
        for i, t in enumerate(todo):
            if t.unreadable:
                why = next((reason for (schema, table), reason in t.unreadable.items() if self.tables(schema, table)),
                           None)
                if why is not None:  # rows it wants that cannot be named: it stops before them
                    if i:
                        self._write(todo[:i])
                        if self.failing:
                            return
                    self._cannot_read(t, why)
                    return
        self._write(todo)

    def _write(self, todo):
        if self.wants_parsed_json:
            for t in todo:  # MariaDB JSON text -> values, once per transaction for every subscription
                if getattr(t, "json_columns", None):
                    t.parse_json()
        batch = Batch()
        markers = False  # a span with no changes that closes a transaction delivered in pieces
        for t in todo:
            picked = self._whole_transaction(t) if self._takes_changes_as_read(t) else None
            if picked is not None and (picked or t.first and t.last):
                if picked:
                    start = len(batch.changes)
                    batch.changes.extend(picked)
                    if t.first and t.last:
                        batch.transactions.append((start, len(batch.changes), t.position))
                    else:
                        span = self._piece_span(t, start, len(batch.changes), picked)
                        batch.transactions.append(span)
                    for key, (count, size) in t.sizes.items():  # same sums as counting change by change
                        flow = self.flow.get(key)
                        if flow is None:
                            flow = self.flow[key] = [0, 0]
                        flow[0] += count
                        flow[1] += (size // count if count else 0) * count
                continue
            picked = picked if picked is not None else self.select(t)
            start = len(batch.changes)
            if not (t.first and t.last):
                span = self._piece_span(t, start, start + len(picked), picked)
                if span is not None:
                    batch.transactions.append(span)
                    markers = markers or not picked
            if picked:
                batch.changes.extend(picked)
                if t.first and t.last:
                    batch.transactions.append((start, len(batch.changes), t.position))
                for c in picked:
                    if not isinstance(c, SchemaChange):
                        size = t.sizes.get((c.schema, c.table))
                        per_row = (size[1] // size[0]) if size and size[0] else 0
                        flow = self.flow.get((c.schema, c.table))
                        if flow is None:
                            flow = self.flow[(c.schema, c.table)] = [0, 0]
                        flow[0] += 1
                        flow[1] += per_row
        batch.end = todo[-1].position
        if batch.changes or markers:
            try:
                self.sink.write(batch)
            except Exception as exc:  # noqa: BLE001 - a sink may raise anything; it is the target's failure
                self._failed(todo, batch, exc)
                return
        self._succeeded(_done(todo))

    def _cannot_read(self, transaction, why):
        schema, table = next(key for key, reason in transaction.unreadable.items() if reason == why)
        change = UnreadableRows(schema, table, "UNREADABLE", why, transaction.rows_position, 0, transaction.timestamp)
        self.failure = {"error": why, "event": _describe(change), "commit_seq": change.position.commit_seq, "seq": 0}
        self.failed_change = (change, transaction.position)
        self._park()

    def probe(self) -> bool:
        """Write the change it parked at again, alone, before it rejoins the stream (in its delivery thread).

        Rejoining rewinds the dump's stream for everyone; a target still down, or still not answering, costs
        the other subscriptions nothing this way. Once the change goes through the subscription rejoins and
        gets it again with the rest (at-least-once)."""
        change, end = self.failed_change
        if isinstance(change, UnreadableRows):  # until a re-snapshot, which starts the dump again
            self._park()
            return False
        try:
            self.sink.write(Batch(changes=[change], end=end))
        except Exception as exc:  # noqa: BLE001 - a sink may raise anything; it is the target's failure
            self.failure = {**(self.failure or {"event": _describe(change), "commit_seq": change.position.commit_seq,
                                                "seq": change.seq}), "error": str(exc)}
            self._park()
            return False
        self.failing = False
        return True

    def _passed(self, transaction):
        """The target has everything up to `transaction` (a whole one or a last piece). `queued` never moves
        back: while a subscription replays (a set position, a resume) it stays at what was read past before, so
        a restart before the replay is over rewinds for it again instead of taking it for caught up."""
        with self.positions_lock:
            self.succeeded = transaction.position
            if self.queued.commit_seq < self.succeeded.commit_seq:
                self.queued = self.succeeded
            self.binlog_when = transaction.timestamp
        self.failed_change = None

    def read_past(self, position):
        """The dump read past `position` for it (paused, failing, or still writing an earlier batch)."""
        with self.positions_lock:
            if position.commit_seq > self.queued.commit_seq:
                self.queued = position

    def positions(self):
        """(succeeded, queued, binlog_when), read together."""
        with self.positions_lock:
            return self.succeeded, self.queued, self.binlog_when

    def _succeeded(self, transaction):
        """`transaction` is written; a piece that is not the last moves no position (see _done), nor uses up
        the missed event (it may be in a later piece)."""
        if not transaction.last:
            if self.failure is not None and not self.failure.get("skipped"):
                self.failure = None
                self.backoff = 1.0
                self.status_dirty = True
            return
        self._passed(transaction)
        if self.changefeed is not None:
            self.changefeed.passed(self)
        if self.skip_event is not None and transaction.position.commit_seq >= self.skip_event[0]:
            self.skip_event = None
            self.skip_next = False
            self.skip_consumed = True
            self.skipped_now += 1
            self.status_dirty = True
        if self.failure is not None and not self.failure.get("skipped"):
            self.failure = None
            self.backoff = 1.0
            self.status_dirty = True

    def _failed(self, todo, batch, exc):
        if not self.must_be_success:
            # Bifrost's MustBeSuccess off: one more try, then the batch is dropped and counted (pieces of a
            # transaction in it too: the ones after it follow, without a rewind).
            try:
                self.sink.write(batch)
                self._succeeded(_done(todo))
                return
            except Exception as again:  # noqa: BLE001
                self.skipped_now += len(batch.changes)
                self.failure = {"error": str(again), "event": _describe(batch.changes[0]),
                                "commit_seq": batch.changes[0].position.commit_seq, "seq": batch.changes[0].seq,
                                "skipped": True}
                self.status_dirty = True
                done = _done(todo)
                if done.last:
                    self._passed(done)
                return
        # MustBeSuccess: find the first change that fails, keep everything before it, retry from there later.
        for t in todo:
            picked = self.select(t)
            for i, change in enumerate(picked):
                self.keep_alive()
                try:
                    self.sink.write(Batch(changes=[change], end=t.position))
                except Exception as single:  # noqa: BLE001
                    self.failure = {"error": str(single), "event": _describe(change),
                                    "commit_seq": change.position.commit_seq, "seq": change.seq}
                    self.failed_change = (change, t.position)
                    self._park()
                    return
            self._succeeded(t)
        # Each change alone went through (the failure was transient): done. A transaction in pieces goes on, its
        # next piece opening it again for with_trx (each change alone was framed on its own).
        self._trx_open = False
        self._succeeded(_done(todo))

    def _park(self):
        self.forget_pieces()  # pieces go by while it is parked: it gets the transaction again from its start
        self.failing = True
        self.errors_now += 1
        self.status_dirty = True
        self.next_retry = time.monotonic() + self.backoff
        self.backoff = min(self.backoff * 2, RETRY_BACKOFF_MAX)

    def due_for_retry(self, now) -> bool:
        return self.failing and self.sink is not None and now >= self.next_retry

    def close(self):
        """Close the target; a write still running (a hung target) is left to end first, in its thread."""
        if self.courier is not None:
            self.courier.stop(then=self._close_sink if self.busy else None)
            if self.busy:
                return
        self._close_sink()

    def _close_sink(self):
        if self.sink is not None:
            try:
                self.sink.close()
            except Exception:  # noqa: BLE001
                pass


def _done(todo):
    """The last transaction of `todo` whose end may be passed (a whole one or a last piece), else its last piece."""
    for t in reversed(todo):
        if t.last:
            return t
    return todo[-1]


def _describe(change) -> dict:
    position = change.position
    data = {
        "schema": change.schema, "table": change.table, "type": change.type,
        "binlog_file": position.binlog_file, "binlog_pos": position.binlog_pos, "gtid": position.gtid,
        "commit_seq": position.commit_seq, "seq": change.seq,
    }
    if isinstance(change, SchemaChange):
        data["query"] = change.query
    else:
        data["row"] = _bounded_row(change.row)
        data["old"] = _bounded_row(change.old)
    return data


def _bounded_row(row):
    """json_row(row) with every value longer than FAILING_VALUE_CHARS (as JSON text) cut short, without
    encoding a big BLOB or text whole first."""
    if row is None:
        return None
    out = {}
    for name, value in row.items():
        if isinstance(value, (bytes, bytearray, memoryview)) and len(value) * 4 // 3 > FAILING_VALUE_CHARS:
            head = json_safe(bytes(value[:FAILING_VALUE_CHARS * 3 // 4]))
            out[name] = f"{head}… (base64 of {len(value)} bytes in all)"
            continue
        if isinstance(value, str) and len(value) > FAILING_VALUE_CHARS:
            out[name] = f"{value[:FAILING_VALUE_CHARS]}… ({len(value)} characters in all)"
            continue
        value = json_safe(value)
        if isinstance(value, (dict, list)):
            text = dumps(value)
            if len(text) > FAILING_VALUE_CHARS:
                value = f"{text[:FAILING_VALUE_CHARS]}… ({len(text)} characters of JSON in all)"
        out[name] = value
    return out
