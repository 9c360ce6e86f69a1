"""The dump loop of one instance: read transactions, deliver them, commit positions, keep the lease.

Runs inside the `dump_instance` Celery task after the lease was taken. It
returns when the instance goes offline or its worker shuts down (after
flushing its position), and
raises `Fenced` when another leader took over, anything else on failure (the
task counts it in retry_times).

Per loop turn (no ORM work per row; metadata writes once per batch):
1. show the lease keeper (a thread that renews the lease every second) that the loop is alive; a refused
   renewal = fenced: stop at once;
2. reload the instance and its subscriptions every second (offline, pause,
   resume, miss, set position, new subscriptions);
3. rewind the stream when an active subscription is behind what was read;
4. take whatever complete transactions the reader has, hand them to every
   active subscription, then commit all positions in one fenced transaction.

A transaction bigger than TOWER_TRANSACTION_PIECE_ROWS/_BYTES comes in pieces (workers/stream.py), handed
on as they come; the instance's position, `read_position` (where a reopened stream starts) and every
subscription's stay at the transaction's start until its last piece is delivered, so a crash or a reopened
stream delivers it again from its start (at-least-once). `piece_of` is the position of the transaction
whose pieces are being delivered.
"""
import gc
import logging
import threading
import time
from concurrent.futures import wait
from contextlib import contextmanager

from django.conf import settings
from django.db import connection
from django.db.models import Exists, Max
from django.utils import timezone

from console.choices import WorkerState
from console.models import Checkpoint, FlowSample, Instance, MqRule, SchemaVersion, Subscription, Target, Wave

from . import checkpoints, snapshot
from .changefeed import IDLE_STATES
from .events import Position
from .lease import Fenced, LeaseKeeper
from .source import instance_endpoint
from .schema_history import SchemaHistory, start_on_source
from .stream import READ_TIMEOUT_SECONDS, BinlogStream, StreamLost
from .subscriptions import SubscriptionRuntime, TableMatcher, position_of

log = logging.getLogger(__name__)

RELOAD_EVERY = 1.0
FLOW_EVERY = 5.0
RECONNECT_FOR = 30.0  # keep reconnecting a lost stream this long before the task fails
HEALTHY_AFTER = 10.0  # a dump running this long resets the instance's retry counter
MAX_BATCH = 5000
# Positions are committed (one metadata transaction) at most every COMMIT_EVERY while transactions keep
# coming, and once the reader has caught up with the server (nothing waiting, no event for CAUGHT_UP_AFTER),
# at most every COMMIT_IDLE_GAP: a fast stream is not slowed by a metadata write per small batch, a quiet
# one commits at once. "Nothing waiting" alone is not enough: a busy reader is the slower side, so its queue
# is empty most of the time. A crash re-delivers at most COMMIT_EVERY of changes.
COMMIT_EVERY = 0.25
COMMIT_IDLE_GAP = 0.01  # 20 ms made a source committing every 20 ms wait ~15 ms (p50) for its commit; 10 ms: ~6 ms
CAUGHT_UP_AFTER = 0.003
# Positions that moved only past transactions with nothing for this instance's subscriptions (other tables)
# wait this long: nobody waits to see them, and a worker running many dumps (TOWER_DUMPS_PER_PROCESS) would
# otherwise write a commit per dump for every transaction of the server.
COMMIT_PASSED_EVERY = 1.0


class Stop(Exception):
    """The instance should not be dumping any more (offline, removed)."""


def describe_subscriptions(subs) -> str:
    """What a dump applies of its subscriptions, as logged when it starts and whenever a reload changes it:
    (name, state, tables, FieldList) of each."""
    def fields(text):
        return ",".join(f.strip() for f in (text or "").split(",") if f.strip()) or "*"

    return "; ".join(f"{name} [{state}] tables={tables} fields={fields(field_list)}"
                     for name, state, tables, field_list in sorted(subs))


def fast_decoder():
    """workers.decoder (generated per-table decoders, same values as the library) when TOWER_FAST_DECODER is
    on and it imports; else None and the library decodes (`event.rows`).
    The fast decoder itself falls back to the library for anything it cannot decode exactly."""
    if not getattr(settings, "TOWER_FAST_DECODER", False):
        return None
    try:
        from workers import decoder
    except Exception:  # noqa: BLE001 - a broken decoder must never stop a dump: the library is always right
        log.exception("fast decoder unavailable, using the library's")
        return None
    return decoder


def decoder_totals(base, start, now):
    """The instance's cumulative decoder counters: what earlier dumps wrote (`base`) plus what this dump's
    decoder counted (snapshots of its DecoderStats) since it started (`start`)."""
    totals = {}
    for name, counter in (("generated_rows", "fast_rows"), ("fallback_rows", "fallback_rows"),
                          ("fallback_events", "fallback_events")):
        totals[name] = base.get(name, 0) + now[counter] - start[counter]
    reasons = dict(base.get("fallback_reasons", {}))
    for reason, events in now["fallback_reasons"].items():
        added = events - start["fallback_reasons"].get(reason, 0)
        if added:
            reasons[reason] = reasons.get(reason, 0) + added
    totals["fallback_reasons"] = reasons
    return totals


# Young-generation threshold of the cyclic garbage collector while a dump runs (Python's default: 700).
GC_YOUNG_THRESHOLD = 50_000

_gc_lock = threading.Lock()
_gc_users = 0  # dumps of this process inside streaming_gc
_gc_threshold = None  # the collector's settings before the first of them


@contextmanager
def streaming_gc():
    """The garbage collector tuned while this process runs dumps.

    The reader allocates a few dicts per row and reference counting frees them (rows hold no
    cycles); what the cyclic collector adds is scanning, over and over, the whole heap (Django,
    Celery, the models) and every buffered row. So objects older than the dump are frozen out of
    its view, and a young collection waits for GC_YOUNG_THRESHOLD new containers instead of 700:
    ~9% fewer instructions per row (callgrind, 30k-row stream), more in a worker's larger heap.
    The collector's settings are per process, and a process may run several dumps as threads
    (TOWER_DUMPS_PER_PROCESS): the first dump to start tunes it, the last to end restores it.
    """
    global _gc_users, _gc_threshold
    with _gc_lock:
        if _gc_users == 0:
            _gc_threshold = gc.get_threshold()
            gc.set_threshold(GC_YOUNG_THRESHOLD, *_gc_threshold[1:])
        else:
            gc.unfreeze()  # garbage frozen at an earlier start (a dump that ended since) is collected now
        gc.collect()
        gc.freeze()  # what exists now, the other dumps' long-lived state included, is not scanned again
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0:
                gc.set_threshold(*_gc_threshold)
                gc.unfreeze()


class Dump:
    def __init__(self, instance_id, worker, version):
        self.instance_id = instance_id
        self.worker = worker
        self.version = version
        self.stream = None
        self.schema_history = None  # workers.schema_history.SchemaHistory, set by _detect_server
        self.history_snapshots = False  # the rows are named by the history: it snapshots the schemas it lacks
        self.runtimes = {}
        self.flow = {}  # (schema, table) -> [count, bytes] for the instance, cumulative
        self.started = time.monotonic()
        self.healthy_marked = False
        self.uncommitted = False  # delivered positions not committed yet
        self.rows_uncommitted = False  # ... and among them row or schema changes (commit them soon: see _commit_due)
        self.last_commit = 0.0
        self.lease = LeaseKeeper(instance_id, worker, version)
        self.decoder = None  # workers.decoder, when the generated decoders are in use
        self.applied = None  # describe_subscriptions() of the runtimes, as last logged
        self.reload_sql = {}  # the reload's compiled queries (_read_raw)
        self.stored_subscriptions = None  # the subscriptions' rows at the last full reload

    # --- entry point ---

    def run(self):
        with streaming_gc():
            self.lease.start()
            try:
                self._setup()
                self._loop()
            except Stop:
                if self.uncommitted:
                    self._commit()  # what was delivered since the last commit
                self._write_decoder_stats()
            finally:
                self.lease.stop()
                if self.stream is not None:
                    self.stream.stop()
                for rt in self.runtimes.values():
                    rt.close()

    def _setup(self):
        instance = Instance.objects.select_related("group").get(pk=self.instance_id)
        self.instance = instance
        self.mariadb = True
        self.position = Position(instance.binlog_file, instance.binlog_pos, instance.gtid_set)
        self.binlog_when = instance.binlog_when
        self.use_gtid = bool(instance.with_gtid and instance.gtid_set)
        self.decoder = fast_decoder()
        if self.decoder is not None:
            # The dump's own counters, bound by its reader threads: other dumps of the process count apart.
            self.decoder_counts = self.decoder.DecoderStats()
            self.decoder_base, self.decoder_start = dict(instance.decoder_stats or {}), self.decoder_counts.snapshot()
            self.decoder_written = None
        self._detect_server()
        subs = list(Subscription.objects.filter(instance_id=self.instance_id).select_related("target", "mq_rule", "instance"))
        checkpoints.ensure_rows(instance, subs, self.version)
        rows = {c.subscription_id: c for c in Checkpoint.objects.filter(instance_id=self.instance_id)}
        for sub in subs:
            self._add_runtime(sub, rows[sub.id])
        self._log_subscriptions()
        self._load_flow_base()
        start = self.resume_position()
        # Positions (docs/compatibility.md): a caught-up subscription (queued == succeeded) whose position is older than the
        # start has simply had nothing to do since; it continues from the start.
        for rt in self.runtimes.values():
            if rt.succeeded.commit_seq < start.commit_seq and rt.queued == rt.succeeded:
                rt.succeeded = rt.queued = start
        self._open_stream(start)

    def _detect_server(self):
        from .source import connect_instance, is_mariadb, row_metadata_problem, variables

        conn = connect_instance(self.instance)
        try:
            self.mariadb = is_mariadb(conn)
            problem = row_metadata_problem(variables(conn, "binlog_row_metadata").get("binlog_row_metadata"))
        finally:
            conn.close()
        # Row events that do not name their columns are named by the instance's schema history
        # (docs/schema-history.md); with FULL metadata the events' own names are used, and cross-checked with
        # the history where the instance has one (a server switched to FULL keeps it current).
        self.history_snapshots = bool(problem)
        kept = problem or SchemaVersion.objects.filter(instance_id=self.instance_id).exists()
        self.schema_history = SchemaHistory(self.instance_id) if kept else None
        if problem:
            log.info("%s: %s; its rows are named by the schema history", self.instance, problem)

    def _add_runtime(self, sub, checkpoint_row):
        rt = self.runtimes[sub.id] = SubscriptionRuntime(sub, checkpoint_row, keep_alive=self._keep_lease)
        snapshot.attach(rt, sub)

    def resume_position(self) -> Position:
        """Minimum succeeded position over subscriptions that are behind, else the instance's position."""
        behind = [
            rt.succeeded for rt in self.runtimes.values()
            if rt.state not in IDLE_STATES and rt.queued.commit_seq > rt.succeeded.commit_seq and rt.succeeded.binlog_file
        ]
        if behind:
            return min(behind, key=lambda p: p.commit_seq)
        return self.position

    # --- the stream ---

    def _wants(self, schema, table):
        """What to decode of a table's rows: False (no subscription wants it), True (every column), or the
        union of the FieldLists of the subscriptions that want it (the stream adds the primary key)."""
        columns = set()
        for rt in self.runtimes.values():
            if rt.state not in IDLE_STATES and rt.wants_table(schema, table):
                wanted = rt.wanted_columns
                if wanted is None:
                    return True
                columns |= wanted
        return frozenset(columns) if columns else False

    def _only(self, literal):
        """The union of `literal(rt.tables)` over the subscriptions, or None when one of them can match any."""
        names = set()
        for rt in self.runtimes.values():
            some = literal(rt.tables)
            if some is None:
                return None
            names |= some
        return sorted(names) or None

    def _open_stream(self, start: Position):
        if self.stream is not None:
            self.stream.stop()
        instance = self.instance
        cache = {}

        def wants(schema, table, _cache=cache, _wants=self._wants):
            hit = _cache.get((schema, table))
            if hit is None:
                hit = _cache[(schema, table)] = _wants(schema, table)
            return hit

        host, port, user, password = instance_endpoint(instance)
        if self.history_snapshots:
            self._start_schema_history(start, (host, port, user, password))
        self.stream = BinlogStream(
            host, port, user, password, instance.slave_id or 1001, start,
            use_gtid=self.use_gtid and bool(start.gtid), mariadb=self.mariadb, wants=wants,
            # The library skips the table maps (and so the rows) of other tables without decoding their columns:
            # a dump wanting a few tables of a busy server reads the rest for little (schema and table are
            # checked apart, so this may let through more than is wanted; `wants` decides).
            only_schemas=self._only(TableMatcher.literal_schemas),
            only_tables=self._only(TableMatcher.literal_tables),
            decoder=self.decoder and self.decoder.fast_images, parse_json=False,
            max_buffered_changes=settings.TOWER_STREAM_BUFFER_CHANGES,
            max_buffered_bytes=settings.TOWER_STREAM_BUFFER_BYTES,
            piece_rows=settings.TOWER_TRANSACTION_PIECE_ROWS, piece_bytes=settings.TOWER_TRANSACTION_PIECE_BYTES,
            reader_setup=self.decoder and (lambda: self.decoder.bind_stats(self.decoder_counts)),
            schema_history=self.schema_history,
        ).start()
        self.read_position = start
        self.piece_of = None

    def _start_schema_history(self, start: Position, endpoint):
        """Snapshot the schemas the history does not follow yet that a subscription may want a table of
        (tables or not yet: a CREATE TABLE to come), valid from `start`."""
        from .source import connect

        active = [rt for rt in self.runtimes.values() if rt.state not in IDLE_STATES]
        conn = connect(*endpoint)
        try:
            start_on_source(self.schema_history, conn, endpoint, self.instance.slave_id, start,
                            lambda schema: any(rt.tables.wants_schema(schema) for rt in active))
        finally:
            conn.close()

    # --- the loop ---

    def _keep_lease(self):
        self.lease.beat()
        if self.lease.orphaned:
            raise Stop("the worker process that started this dump is gone")

    def _loop(self):
        self.lost_since = None
        next_reload = time.monotonic() + RELOAD_EVERY
        next_flow = time.monotonic() + FLOW_EVERY
        while True:
            self._keep_lease()
            now = time.monotonic()
            if now >= next_reload:
                self._reload()
                next_reload = now + RELOAD_EVERY
            for rt in self.runtimes.values():
                if rt.occupied:
                    if rt.busy:
                        continue
                    self._settle(rt)
                if rt.due_for_retry(now):
                    if rt.failed_change is not None and rt.skip_event is None:
                        rt.hand_over(rt.probe)  # it rejoins once the change it failed at goes through
                    else:
                        rt.failing = False
            self._rewind_if_needed()
            # A full sync writes its chunks from this loop: while one runs, a quiet stream must not pace it.
            copying = any(getattr(rt, "fullsync", None) is not None for rt in self.runtimes.values())
            wait = CAUGHT_UP_AFTER if self.rows_uncommitted or copying else 0.2
            try:
                transactions = self.stream.get(timeout=wait, max_changes=MAX_BATCH)
                if not transactions and self.stream.silent_for() > READ_TIMEOUT_SECONDS + 3:
                    raise StreamLost("no event and no heartbeat from the server: connection presumed dead")
            except StreamLost as exc:
                self._stream_lost(exc)
                continue
            if transactions or self.stream.events_seen:
                self.lost_since = None
            if transactions:
                self._deliver(transactions)
            elif (self.uncommitted or self._stall_to_show()) and self._commit_due():
                self._commit()
            for rt in self.runtimes.values():
                if not rt.occupied:
                    snapshot.advance(rt, transactions)  # full sync chunks between watermarks, if one is running
            if now >= next_flow:
                self._write_flow()
                next_flow = now + FLOW_EVERY
            if not self.healthy_marked and now - self.started > HEALTHY_AFTER:
                self._commit(fields={"retry_times": 0, "next_start_at": None, "last_error": ""})
                self.healthy_marked = True

    def _stream_lost(self, error):
        """Reopen the stream at the last processed boundary; give up after RECONNECT_FOR (the task then retries)."""
        now = time.monotonic()
        if self.lost_since is None:
            self.lost_since = now
            log.warning("instance %s: %s; reconnecting from %s", self.instance_id, error, self.read_position)
        elif now - self.lost_since > RECONNECT_FOR:
            raise StreamLost(f"cannot reconnect to {self.instance}: {error}")
        self.stream.stop()
        wake = now + 1.0
        while time.monotonic() < wake:
            self._keep_lease()
            time.sleep(0.2)
        self._open_stream(self.read_position)

    def _rewind_if_needed(self):
        active = [rt for rt in self.runtimes.values() if rt.active and not rt.occupied]
        if not active:
            return
        earliest = min((rt.succeeded for rt in active), key=lambda p: p.commit_seq)
        if earliest.binlog_file and earliest.commit_seq < self.read_position.commit_seq:
            log.info("instance %s: rewinding to %s for a subscription that is behind", self.instance_id, earliest)
            self._open_stream(earliest)
        elif self.piece_of is not None:
            # Inside a transaction delivered in pieces: one that needs it and missed a piece (it was parked,
            # paused or new) gets it again from its start, and so do the others (at-least-once).
            at = self.read_position.commit_seq
            if any(rt.pieces_of != self.piece_of and rt.succeeded.commit_seq <= at for rt in active):
                log.info("instance %s: rewinding to %s, the start of a transaction delivered in pieces",
                         self.instance_id, self.read_position)
                self._open_stream(self.read_position)

    def _deliver(self, transactions):
        last = transactions[-1]
        self.piece_of = None if last.last else last.position
        if not last.last:  # a piece: positions move only up to the last whole transaction (or last piece)
            last = next((t for t in reversed(transactions) if t.last), None)
        ready = [rt for rt in self.runtimes.values() if not rt.occupied]
        delivering = [rt for rt in ready if rt.active]
        self._hand_out(delivering, transactions)
        for rt in self.runtimes.values():
            if rt.occupied:
                pass  # still writing an earlier batch (its target stalls), or not settled: read past for it
            elif rt in delivering:
                if not rt.failing:
                    continue
                # It failed on this batch: read past for it as well, so that a dump taking over (a lost lease)
                # sees it behind instead of caught up at its old position.
            elif self.piece_of is not None:
                rt.forget_pieces()
            if last is not None:
                rt.read_past(last.position)  # it is behind until it catches up
        for t in transactions:
            if t.position.commit_seq > self.position.commit_seq:
                if t.last:
                    self.position = t.position
                    self.binlog_when = t.timestamp
                for key, (count, size) in t.sizes.items():
                    flow = self.flow.get(key)
                    if flow is None:
                        flow = self.flow[key] = [0, 0]
                    flow[0] += count
                    flow[1] += size
        if last is not None:
            self.read_position = last.position
        self.uncommitted = True
        if not self.rows_uncommitted:
            self.rows_uncommitted = any(t.changes for t in transactions)
        if self._commit_due():
            self._commit()

    def _hand_out(self, runtimes, transactions):
        """Deliver `transactions` to the subscriptions, each in its own thread (workers.courier), and wait for
        them all, at most TOWER_TARGET_STALL_SECONDS. One still writing then (its target hangs) is left to finish
        alone: the loop reads on for the others, reads past for it, and it rejoins (a rewind) once its write
        ended. One subscription alone is delivered here, in the loop's thread: there is nobody to hold back."""
        if not runtimes:
            return
        if any(rt.wants_parsed_json for rt in runtimes):
            for t in transactions:  # in place, once, before the threads share the rows
                if t.json_columns:
                    t.parse_json()
        if len(runtimes) == 1:
            runtimes[0].deliver(transactions)
            return
        futures = {rt.hand_over(rt.deliver, transactions): rt for rt in runtimes}
        done, stalled = wait(futures, timeout=settings.TOWER_TARGET_STALL_SECONDS)
        for future in done:
            self._settle(futures[future])
        for future in stalled:
            rt = futures[future]
            rt.stalled_since = time.monotonic()
            log.warning("instance %s: subscription %s: its target has not answered for %s s; the other "
                        "subscriptions go on", self.instance_id, rt.name, settings.TOWER_TARGET_STALL_SECONDS)

    def _settle(self, rt):
        """Take the outcome of the job rt's delivery thread finished: an exception it raised (Fenced, Stop…)
        is raised here, in the loop."""
        future = rt.inflight
        if future is None or not future.done():
            return
        rt.inflight = None
        self.uncommitted = self.rows_uncommitted = True  # its positions or status moved in its thread
        if rt.stalled_since is not None:
            log.info("instance %s: subscription %s: its target answered after %.1f s", self.instance_id, rt.name,
                     time.monotonic() - rt.stalled_since)
            rt.stalled_since, rt.stall_reported = None, False
            rt.status_dirty = True  # what _write_stall showed is rewritten
        future.result()

    def _stall_to_show(self) -> bool:
        """A subscription's write has hung long enough to be shown (checkpoints.STALL_SHOWN_AFTER)."""
        now = time.monotonic()
        return any(rt.stalled_since is not None and not rt.stall_reported
                   and now - rt.stalled_since >= checkpoints.STALL_SHOWN_AFTER for rt in self.runtimes.values())

    def _commit_due(self) -> bool:
        since = time.monotonic() - self.last_commit
        if not self.rows_uncommitted:
            return since >= COMMIT_PASSED_EVERY
        if since >= COMMIT_EVERY:
            return True
        stream = self.stream
        return since >= COMMIT_IDLE_GAP and stream.idle() and stream.silent_for() >= CAUGHT_UP_AFTER

    def _commit(self, fields=None):
        self.uncommitted = self.rows_uncommitted = False
        self.last_commit = time.monotonic()
        conflicts = checkpoints.commit(
            self.instance_id, self.worker, self.version, self.position, self.binlog_when,
            list(self.runtimes.values()), fields=fields,
        )
        self.lease.renewed()
        if conflicts:
            self._adopt_positions(conflicts)

    # --- metadata refresh ---

    def _reload(self):
        status, state, leader, leader_version, worker_dead = (self._read_raw("instance") or [(None,) * 5])[0]
        if status != "dump" or state != "ONLINE":
            self._commit()
            raise Stop("instance is offline")
        if leader != self.worker or leader_version != self.version:
            raise Fenced(f"instance {self.instance_id}: leadership moved to {leader}")
        if worker_dead:
            # Our worker is shutting down (warm shutdown waits for its tasks): hand the instance over now.
            self._commit()
            raise Stop("the worker is shutting down")
        # The subscriptions' rows as stored (with their targets and MQ rules): when none changed since the last
        # reload, nor could anything else refresh() reads, only operator-set positions are looked for. A worker
        # running many dumps (TOWER_DUMPS_PER_PROCESS) spent most of its idle time building the same objects.
        stored = self._read_raw("subscriptions")
        if stored == self.stored_subscriptions and not any(self._refresh_anyway(rt) for rt in self.runtimes.values()):
            for sid, *position in self._read_raw("positions"):
                rt = self.runtimes.get(sid)
                if rt is not None and not rt.occupied and tuple(position[:2]) != (rt.written.binlog_file,
                                                                                 rt.written.binlog_pos):
                    self._adopt(rt, Checkpoint.objects.get(instance_id=self.instance_id, subscription_id=sid))
            return
        self.stored_subscriptions = stored
        subs = {s.id: s for s in Subscription.objects.filter(instance_id=self.instance_id).select_related("target", "mq_rule", "instance")}
        new = [s for sid, s in subs.items() if sid not in self.runtimes]
        if new:
            checkpoints.ensure_rows(self.instance_reloaded(), new, self.version)
        rows = {c.subscription_id: c for c in Checkpoint.objects.filter(instance_id=self.instance_id)}
        tables_changed = bool(new)
        for sid in list(self.runtimes):
            if sid not in subs:
                self.runtimes.pop(sid).close()
                tables_changed = True
        for sid, sub in subs.items():
            rt = self.runtimes.get(sid)
            if rt is None:
                self._add_runtime(sub, rows[sid])
                continue
            if rt.occupied:
                rt.refresh_pending = True
                continue  # its thread is writing: refreshed at a reload after it is done
            rt.refresh_pending = False
            before = (rt.state, rt.tables.spec, rt.wanted_columns)
            rt.refresh(sub)
            snapshot.attach(rt, sub)
            if before != (rt.state, rt.tables.spec, rt.wanted_columns):
                tables_changed = True
            row = rows.get(sid)
            if row is not None and (row.binlog_file, row.binlog_pos) != (rt.written.binlog_file, rt.written.binlog_pos):
                self._adopt(rt, row)
        if tables_changed:
            # Which tables and columns get decoded depends on the subscriptions: reopen where we are.
            self._open_stream(self.read_position)
        self._log_subscriptions()

    @staticmethod
    def _refresh_anyway(rt) -> bool:
        """What refresh() would act on without any change to the subscription's own rows: its MQ rule's filters
        (rows of their own), a skip_next waiting for its failure, a sink not opened, a changefeed's state, or a
        refresh left out while its thread was writing."""
        return (rt.rules is not None or rt.skip_next or rt.sink is None or rt.changefeed is not None
                or rt.refresh_pending)

    def _read_raw(self, name) -> list:
        """The rows of one of the reload's queries, as the database returns them. Each is compiled once per
        dump (the ORM's compilation cost more than the query)."""
        sql = self.reload_sql.get(name)
        if sql is None:
            pk = self.instance_id
            if name == "instance":
                worker_dead = Wave.objects.filter(name=self.worker, state=WorkerState.DEAD)
                qs = Instance.objects.filter(pk=pk).annotate(worker_dead=Exists(worker_dead)).values_list(
                    "status", "state", "leader", "leader_version", "worker_dead")
            elif name == "subscriptions":
                columns = [f.attname for f in Subscription._meta.concrete_fields]
                columns += [f"{rel}__{f.attname}" for rel, model in (("target", Target), ("mq_rule", MqRule))
                            for f in model._meta.concrete_fields]
                qs = Subscription.objects.filter(instance_id=pk).order_by("pk").values_list(*columns)
            else:  # positions
                qs = Checkpoint.objects.filter(instance_id=pk, subscription__isnull=False).values_list(
                    "subscription_id", "binlog_file", "binlog_pos")
            sql = self.reload_sql[name] = qs.query.get_compiler(using=qs.db).as_sql()
        with connection.cursor() as cursor:
            cursor.execute(*sql)
            return cursor.fetchall()

    def _log_subscriptions(self):
        """Log the subscriptions as this dump applies them, when that changed (a pause, new tables, a FieldList…)."""
        applied = describe_subscriptions(
            (rt.name, rt.state, rt.tables.spec, ",".join(rt.fields)) for rt in self.runtimes.values())
        if applied != self.applied:
            self.applied = applied
            log.info("instance %s: subscriptions: %s", self.instance_id, applied)

    def instance_reloaded(self):
        return Instance.objects.get(pk=self.instance_id)

    def _adopt_positions(self, ids):
        for row in Checkpoint.objects.filter(instance_id=self.instance_id, subscription_id__in=ids):
            rt = self.runtimes.get(row.subscription_id)
            if rt is not None and not rt.occupied:  # adopted at a reload after its thread is done
                self._adopt(rt, row)

    def _adopt(self, rt, row):
        """An operator set this subscription's position: take it as the truth."""
        rt.succeeded = rt.written = position_of(row.binlog_file, row.binlog_pos, row.gtid_set)
        rt.queued = rt.written_queued = position_of(row.queued_file, row.queued_pos, row.queued_gtid)
        rt.failing = False
        rt.failure = None
        rt.failed_change = None
        rt.skip_event = None
        rt.forget_pieces()

    # --- flow ---

    def _load_flow_base(self):
        last = FlowSample.objects.filter(instance_id=self.instance_id).aggregate(t=Max("time"))["t"]
        self.sub_flow_base = {}
        if last is None:
            return
        for s in FlowSample.objects.filter(instance_id=self.instance_id, time=last):
            if s.subscription_id is None and s.table_name:
                self.flow[(s.schema_name, s.table_name)] = [s.count, s.byte_size]
            elif s.subscription_id is not None and not s.schema_name:
                self.sub_flow_base[s.subscription_id] = (s.count, s.byte_size)

    def _write_flow(self):
        now = timezone.now()
        rows = []
        total = [0, 0]
        schemas = {}
        for (schema, table), (count, size) in self.flow.items():
            total[0] += count
            total[1] += size
            agg = schemas.setdefault(schema, [0, 0])
            agg[0] += count
            agg[1] += size
        rows.append(FlowSample(time=now, instance_id=self.instance_id, count=total[0], byte_size=total[1]))
        for schema, (count, size) in schemas.items():
            rows.append(FlowSample(time=now, instance_id=self.instance_id, schema_name=schema, count=count, byte_size=size))
        for (schema, table), (count, size) in self.flow.items():
            rows.append(FlowSample(time=now, instance_id=self.instance_id, schema_name=schema, table_name=table,
                                   count=count, byte_size=size))
        for rt in self.runtimes.values():
            if rt.occupied:
                continue  # its thread counts: its next sample is written once it is done
            base = self.sub_flow_base.get(rt.id, (0, 0))
            count = base[0] + sum(v[0] for v in rt.flow.values())
            size = base[1] + sum(v[1] for v in rt.flow.values())
            rows.append(FlowSample(time=now, instance_id=self.instance_id, subscription_id=rt.id, count=count,
                                   byte_size=size))
        FlowSample.objects.bulk_create(rows)
        self._write_decoder_stats()

    def _write_decoder_stats(self):
        if self.decoder is None:
            return
        totals = decoder_totals(self.decoder_base, self.decoder_start, self.decoder_counts.snapshot())
        if totals != self.decoder_written:
            Instance.objects.filter(pk=self.instance_id, leader=self.worker, leader_version=self.version).update(
                decoder_stats=totals)
            self.decoder_written = totals
