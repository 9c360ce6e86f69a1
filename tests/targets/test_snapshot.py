"""Full sync (workers/snapshot.py): chunks between binlog watermarks while the stream runs; resume after a stop."""
import copy
import random
import threading
import uuid

import pytest
from waiting import wait_for

from workers.events import Position
from workers.sinks import open_sink
from workers.snapshot import FullSync, key_condition, run_standalone
from workers.source import master_status
from workers.stream import BinlogStream

from . import types_matrix as tm
from .binlog_helper import Recorder, connect, settings
from .conftest import run, select_all
from .ch_helpers import ch_url, plain, state


def open_stream(source_url, start, db):
    s = settings(source_url)
    return BinlogStream(s["host"], s["port"], s["user"], s["passwd"], 200000 + uuid.uuid4().int % 100000,
                        Position(start["file"], start["pos"]), mariadb=True,
                        wants=lambda schema, table: schema == db).start()


class Updater(threading.Thread):
    """Row changes on `db.t` in rounds of 20 (updates of 18 random ids, a delete, an insert), paced to about
    `rate` a second, bounded to `max_rounds`. `updated` lists the ids each round updated."""

    def __init__(self, source_url, db, max_id, rate=1000, max_rounds=20_000):
        super().__init__(daemon=True)
        self.conn = connect(source_url, db)
        self.max_id, self.rate, self.max_rounds = max_id, rate, max_rounds
        self.stopped = threading.Event()
        self.changed = 0
        self.updated = []
        self.next_id = max_id + 1

    def run(self):
        rnd = random.Random(5)
        with self.conn.cursor() as cur:
            while not self.stopped.is_set() and len(self.updated) < self.max_rounds:
                ids = [rnd.randint(1, self.max_id) for _ in range(18)]
                cur.execute("UPDATE t SET v = v + 1, note = CONCAT('u', v) WHERE id IN (%s)" % ",".join(map(str, ids)))
                cur.execute("DELETE FROM t WHERE id = %s", (rnd.randint(1, self.max_id),))
                cur.execute("INSERT INTO t (id, v, note) VALUES (%s, 0, 'new')", (self.next_id,))
                self.next_id += 1
                self.updated.append(ids)
                self.changed += 20
                self.stopped.wait(20 / self.rate)  # pacing, not a wait for anything: returns at once when stopped

    def stop(self):
        self.stopped.set()
        self.join(10)
        self.conn.close()


def test_full_sync_of_100k_rows_under_1k_updates_per_second_equals_source(source_db, source_url, clickhouse_url):
    db, conn = source_db
    run(conn, "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(40))",
        "INSERT INTO t SELECT seq, seq % 1000, CONCAT('row ', seq) FROM seq_1_to_100000")
    start = master_status(conn)
    sink = open_sink(ch_url(clickhouse_url, db, batch_size=20000), {"source": source_url})
    stream = open_stream(source_url, start, db)
    updater = Updater(source_url, db, 100000)
    updater.start()
    fullsync = FullSync(lambda: connect(source_url), sink, [f"{db}.t"], chunk_rows=5000)
    try:
        wait_for(lambda: updater.changed > 0, 30, message="the update load to start")
        end, half = {}, {}

        def stop(delivered, finished):
            if not half and fullsync.rows_done >= 50000:
                # Half the rows are copied and the other half are not: the load goes on changing both
                # before the copy may continue (this loop drives the copy, so it waits for the load).
                half.update(changed=updater.changed, rounds=len(updater.updated), last_pk=fullsync.state["last_pk"][0])
                wait_for(lambda: updater.changed >= half["changed"] + 200, 30, message="updates past half-way")
            if finished and not end:
                updater.stop()  # the copy is done: let the stream catch up with the last updates
                end.update(master_status(conn), changed=updater.changed)
            return bool(end) and delivered is not None and delivered.commit_seq >= Position(
                end["file"], end["pos"]).commit_seq

        run_standalone(fullsync, stream, sink, stop=stop)
        # The load overlapped the copy: it changed rows before the copy was half done and after, until its end.
        assert half["changed"] > 0 and end["changed"] - half["changed"] >= 200, (half, end)
        after_half = [i for ids in updater.updated[half["rounds"]:] for i in ids]
        assert any(i <= half["last_pk"] for i in after_half) and any(i > half["last_pk"] for i in after_half), \
            "the load after half-way did not update both copied and not yet copied rows"
        assert fullsync.rows_done >= 100000 - updater.changed and fullsync.state["done_tables"] == [f"{db}.t"]
        source = [{k: plain(v) for k, v in r.items()} for r in select_all(conn, db, "t")]
        assert state(sink, db, "t") == source
    finally:
        if updater.is_alive():
            updater.stop()
        stream.stop()
        sink.client.execute(f"DROP DATABASE IF EXISTS {db}")
        sink.close()


def test_killed_full_sync_resumes_from_its_last_chunk(source_db, source_url, clickhouse_url):
    """The resume cursor of a composite primary key, and every row read exactly once across the stop.

    The stop is in process and the state is handed over in memory; a real kill -9 of a worker, resumed by
    another from the metadata DB, is tests/engine/test_fullsync_resume.py (a one-column key, Redis)."""
    db, conn = source_db
    run(conn, "CREATE TABLE t (a INT, b VARCHAR(10), v INT, PRIMARY KEY (a, b))",
        "INSERT INTO t SELECT seq DIV 10, CONCAT('k', seq MOD 10), seq FROM seq_1_to_10000")
    start = master_status(conn)
    saved = {}

    def save(fs):
        saved.update(copy.deepcopy(fs.state))

    sink = open_sink(ch_url(clickhouse_url, db), {"source": source_url})
    stream = open_stream(source_url, start, db)
    try:
        first = FullSync(lambda: connect(source_url), sink, [f"{db}.t"], chunk_rows=1000, save=save)
        # "kill" the load after 4 chunks were written and checkpointed
        run_standalone(first, stream, sink, stop=lambda d, f: saved.get("rows_done", 0) >= 4000)
        first.close()
        assert saved["rows_done"] == 4000 and saved["last_pk"] == [400, "k0"]
        run(conn, "UPDATE t SET v = -1 WHERE a = 1", "DELETE FROM t WHERE a = 900")  # changes meanwhile
        resumed = FullSync(lambda: connect(source_url), sink, [], state=copy.deepcopy(saved), chunk_rows=1000,
                           save=save)
        reads = []
        original = resumed._read_chunk
        resumed._read_chunk = lambda info, last: reads.append(last) or original(info, last)
        end = master_status(conn)
        run_standalone(resumed, stream, sink, stop=lambda d, f: f and d is not None and d.commit_seq >= Position(
            end["file"], end["pos"]).commit_seq)
        assert reads[0] == [400, "k0"]  # resumed after the last checkpointed chunk, not from the start
        assert resumed.rows_done == 4000 + 6000 - 10  # every row read once
        assert state(sink, db, "t", "a, b") == select_all(conn, db, "t", "a, b")
    finally:
        stream.stop()
        sink.client.execute(f"DROP DATABASE IF EXISTS {db}")
        sink.close()


def test_copied_rows_equal_streamed_rows_for_every_type(source_db, source_url):
    """A row read by the full sync is the same dict the binlog reader gives for it (so sinks see one shape)."""
    db, conn = source_db
    run(conn, tm.TABLE_DDL)
    with Recorder(source_url, [db]) as rec:
        run(conn, *tm.INSERTS)
    streamed = {c.row["id"]: c.row for c in rec.changes()}
    fullsync = FullSync(lambda: connect(source_url), None, [f"{db}.types"])
    chunk = fullsync._read_chunk(fullsync.info(f"{db}.types"), None)
    fullsync.close()
    copied = {r["id"]: r for r in chunk.rows}
    assert copied.keys() == streamed.keys()
    for key in copied:
        assert copied[key] == streamed[key], key


def test_key_condition_spells_out_composite_keys():
    sql, params = key_condition(("a", "b"), [1, "x"])
    assert sql == "((`a` > %s) OR (`a` = %s AND `b` > %s))" and params == [1, 1, "x"]
    assert key_condition(("a",), None) == ("1=1", [])


@pytest.mark.django_db
def test_subscription_progress_is_saved_per_chunk_and_phase_returns_to_incremental(source_db, source_url,
                                                                                     clickhouse_url):
    from urllib.parse import urlsplit

    from console.models import Group, Instance, Subscription, Target
    from workers import snapshot

    db, conn = source_db
    run(conn, "CREATE TABLE a (id INT PRIMARY KEY, v INT)", "CREATE TABLE b (id INT PRIMARY KEY, v INT)",
        "CREATE TABLE nokey (v INT)",
        "INSERT INTO a SELECT seq, seq FROM seq_1_to_2500", "INSERT INTO b SELECT seq, seq FROM seq_1_to_10",
        "INSERT INTO nokey VALUES (1)")
    src = urlsplit(source_url)
    group = Group.objects.create(name="g5-fs")
    instance = Instance.objects.create(group=group, host=src.hostname, port=src.port, user=src.username or "root")
    target = Target.objects.create(name="ch", group=group, kind="clickhouse", uri=ch_url(clickhouse_url, db))
    sub = Subscription.objects.create(name=f"fs-{db}", group=group, instance=instance, target=target,
                                      tables=f"{db}.*")
    sink = open_sink(target.uri, {}, subscription=sub)  # describes tables through the subscription's instance
    start = master_status(conn)
    stream = open_stream(source_url, start, db)
    progress = []
    try:
        fullsync = snapshot.for_subscription(sub, sink)
        sub.refresh_from_db()
        assert sub.phase == "FullSync" and sub.fullsync_started is not None
        assert sub.fullsync_state["tables"] == [f"{db}.a", f"{db}.b", f"{db}.nokey"]
        fullsync.chunk_rows = 1000
        save = fullsync.save
        fullsync.save = lambda fs: (save(fs), progress.append(Subscription.objects.get(pk=sub.pk).fullsync_done))
        run_standalone(fullsync, stream, sink)
        sub.refresh_from_db()
        assert progress[:3] == [1000, 2000, 2500] and sub.fullsync_done == 2510 and sub.fullsync_total == 2511
        assert sub.phase == "IncrementalSync"
        assert sub.fullsync_state["done_tables"] == [f"{db}.a", f"{db}.b"]
        assert sub.fullsync_state["skipped"] == [{"table": f"{db}.nokey", "reason": "no primary key"}]
        assert len(state(sink, db, "a")) == 2500 and len(state(sink, db, "b")) == 10
    finally:
        stream.stop()
        sink.client.execute(f"DROP DATABASE IF EXISTS {db}")
        sink.close()


def test_dump_loop_hook_writes_chunks_only_after_the_stream_passed_the_high_watermark(source_db, source_url,
                                                                                      clickhouse_url):
    """workers.snapshot.advance as the dump loop calls it, on a runtime-shaped object."""
    from types import SimpleNamespace

    from workers import snapshot
    from workers.sinks import SinkError

    db, conn = source_db
    run(conn, "CREATE TABLE t (id INT PRIMARY KEY, v INT)", "INSERT INTO t SELECT seq, seq FROM seq_1_to_30")
    sink = open_sink(ch_url(clickhouse_url, db), {"source": source_url})
    parked = []
    runtime = SimpleNamespace(active=True, succeeded=Position("mysql-bin.000001", 4), sink=sink, failure=None,
                              _park=lambda: parked.append(runtime.failure))
    runtime.fullsync = FullSync(lambda: connect(source_url), sink, [f"{db}.t"], chunk_rows=10)
    try:
        snapshot.advance(runtime, [])  # reads chunk 1; the stream (at an old position) is behind its watermark
        snapshot.advance(runtime, [])
        assert runtime.fullsync.rows_done == 0 and sink.ch_columns(db, "t") == {}
        high = runtime.fullsync.chunk.high
        runtime.succeeded = high  # the stream delivered up to the high watermark
        for _ in range(4):
            snapshot.advance(runtime, [])
            runtime.succeeded = runtime.fullsync.chunk.high if runtime.fullsync and runtime.fullsync.chunk else high
        assert runtime.fullsync is None and len(state(sink, db, "t")) == 30
        # a failing write parks the runtime instead of raising into the dump loop
        broken = SimpleNamespace(write=lambda batch: (_ for _ in ()).throw(SinkError("target down")))
        runtime.sink = broken
        runtime.fullsync = FullSync(lambda: connect(source_url), broken, [f"{db}.t"], chunk_rows=10)
        snapshot.advance(runtime, [])
        runtime.succeeded = runtime.fullsync.chunk.high
        snapshot.advance(runtime, [])
        assert parked and "target down" in parked[0]["error"] and runtime.fullsync.rows_done == 0
    finally:
        sink.client.execute(f"DROP DATABASE IF EXISTS {db}")
        sink.close()
