"""A full sync survives a kill -9 of its worker: the candidate resumes the copy from the metadata DB.

The product's real path end to end: a subscription in the FullSync phase, real `celery -A tower worker`
processes (two candidates), a source table large enough that the copy spans many chunks, concurrent
inserts, updates (of rows already copied and of rows not copied yet) and deletes on the source, the
leader killed with SIGKILL while it copies, and the other worker taking the instance over and going on
from what the dead worker had saved on the Subscription (fullsync_state / fullsync_done).

What shows that it resumed rather than restarted:
- the progress saved in the metadata DB (fullsync_done and the cursor fullsync_state["last_pk"]) never
  goes back below what it was at the kill while the candidate copies;
- rows copied before the kill are not copied again: their Redis keys get an expiry set by the test
  before the kill, and a re-copy (a plain SET) would clear it.
"""
import threading

import pymysql
import pytest

from console.choices import SyncPhase
from console.models import Instance, Subscription

from .conftest import empty_redis_db, leader, make_instance, make_subscription, redis_state, wait_for
from .expect import diff_states, expected_state

ROWS = 100_000  # 50 chunks of snapshot.CHUNK_ROWS
TOUCHED = 3  # the load updates only ids = 3 (mod 10) and deletes only ids = 7 (mod 10) ...
DELETED = 7
SENTINEL = 5  # ... so ids = 5 (mod 10) are written once by the copy and never by the stream
SENTINELS = 200
SENTINEL_TTL = 24 * 3600


class Progress:
    """Every distinct full-sync progress the metadata DB showed: (leader version, done, last_pk, phase)."""

    def __init__(self, sub, instance):
        self.sub_id, self.instance_id = sub.pk, instance.pk
        self.seen = []
        self.cursor = 0  # the copy's cursor (an id) as saved, shared with the load thread

    def read(self):
        sub = Subscription.objects.get(pk=self.sub_id)
        version = Instance.objects.filter(pk=self.instance_id).values_list("leader_version", flat=True).first()
        last = (sub.fullsync_state or {}).get("last_pk")
        row = (version, sub.fullsync_done, last[0] if last else None, sub.phase, sub.fullsync_total)
        if not self.seen or self.seen[-1] != row:
            self.seen.append(row)
        if sub.phase == SyncPhase.FULL_SYNC:
            self.cursor = last[0] if last else sub.fullsync_done  # rows done <= the cursor (ids from 1)
        return sub


class Load(threading.Thread):
    """Concurrent changes on the source while the copy runs, each in its own transaction: an update of a
    row the copy already passed, an update of a row it has not reached, a delete, an insert. Bounded in
    count; the ids it picks come from the copy's cursor as last read from the metadata DB."""

    def __init__(self, source, progress, max_rounds=50_000):
        super().__init__(daemon=True)
        self.source, self.progress, self.max_rounds = source, progress, max_rounds
        self.stopped = threading.Event()
        self.rounds = 0
        self.updated_copied = self.updated_uncopied = 0
        self.failure = None

    def run(self):
        import random

        rng = random.Random(2024)
        s = self.source.schema
        conn = pymysql.connect(host=self.source.host, port=self.source.port, user="root", autocommit=False)
        next_id = ROWS + 1
        try:
            with conn.cursor() as cur:
                while not self.stopped.is_set() and self.rounds < self.max_rounds:
                    cursor = self.progress.cursor
                    below = above = None
                    if cursor >= 20:
                        below = rng.randrange(0, cursor // 10) * 10 + TOUCHED
                    if cursor < ROWS - 20:
                        above = rng.randrange(cursor // 10 + 1, ROWS // 10) * 10 + TOUCHED
                    ids = [i for i in (below, above) if i is not None]
                    cur.execute(f"UPDATE `{s}`.t SET v = v + 1, note = CONCAT('u', v + 1) WHERE id IN %s", (ids,))
                    cur.execute(f"DELETE FROM `{s}`.t WHERE id = %s", (rng.randrange(0, ROWS // 10) * 10 + DELETED,))
                    cur.execute(f"INSERT INTO `{s}`.t VALUES (%s, %s, 'new')", (next_id, next_id % 1000))
                    conn.commit()
                    next_id += 1
                    self.rounds += 1
                    self.updated_copied += below is not None
                    self.updated_uncopied += above is not None
                    self.stopped.wait(0.005)  # paces the load; returns at once when stopped
        except Exception as exc:  # noqa: BLE001
            self.failure = exc
        finally:
            conn.close()

    def stop(self):
        self.stopped.set()
        self.join(30)


@pytest.mark.slow
def test_kill_9_mid_copy_then_the_candidate_resumes_the_full_sync(workers, source, redis_url):
    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(16))")
    source.execute(f"INSERT INTO `{s}`.t SELECT seq, seq % 1000, CONCAT('r', seq) FROM `{s}`.seq_1_to_{ROWS}")
    instance = make_instance(source, candidates=("w1", "w2"))  # starts after the rows: only the copy has them
    target, client = empty_redis_db(redis_url, 14)
    sub = make_subscription(instance, target, name="fs-resume", tables=f"{s}.t", phase=SyncPhase.FULL_SYNC)
    progress = Progress(sub, instance)
    load = Load(source, progress)

    for name in ("w1", "w2"):
        workers.start(name, TOWER_LEASE_TTL="3")
    workers.start_beat()
    try:
        first, version = wait_for(lambda: leader(instance.pk), 60, message="a first leader")

        def copying(minimum):
            sub = progress.read()
            return sub.phase == SyncPhase.FULL_SYNC and minimum <= sub.fullsync_done < sub.fullsync_total

        wait_for(lambda: copying(1), 120, message="the copy to write its first chunk")
        load.start()
        # Several chunks in, far from the end, with changes on both sides of the cursor.
        wait_for(lambda: copying(10_000) and load.updated_copied >= 5 and load.updated_uncopied >= 5, 120,
                 message="the copy to pass 10,000 rows under load")

        # Rows the copy has written that the load never changes get an expiry. The rows are read in id order
        # from id 1, so ids up to the saved row count are copied.
        copied = progress.read().fullsync_done
        candidates = list(range(SENTINEL, copied + 1, 10))
        sentinels = candidates[::max(1, len(candidates) // SENTINELS)]  # spread over the copied chunks
        assert len(sentinels) >= 100
        assert all(client.expire(f"{s}-t-{i}", SENTINEL_TTL) for i in sentinels), "a copied row missing in Redis"

        workers.kill(first)  # SIGKILL to the worker's process group, mid-copy
        at_kill = progress.read()
        done_at_kill, cursor_at_kill = at_kill.fullsync_done, (at_kill.fullsync_state.get("last_pk") or [0])[0]
        assert at_kill.phase == SyncPhase.FULL_SYNC and 0 < done_at_kill < at_kill.fullsync_total, \
            "the copy was not in progress at the kill"
        rounds_at_kill = load.rounds
        seen_at_kill = len(progress.seen)

        second, _ = wait_for(lambda: leader(instance.pk, version), 60, message="the candidate to take over")
        assert second != first
        wait_for(lambda: progress.read().fullsync_done > done_at_kill, 60,
                 message="the candidate to copy a chunk")
        rounds_at_takeover = load.rounds
        wait_for(lambda: progress.read().phase == SyncPhase.INCREMENTAL, 300, message="the full sync to finish")
        load.stop()
        assert load.failure is None, load.failure
        assert load.rounds > rounds_at_takeover > rounds_at_kill > 0, "the load did not run across the takeover"

        # Resumed, not restarted: the saved progress never went back below what it was at the kill.
        after = progress.seen[seen_at_kill:]
        went_back = [row for row in after
                     if row[1] < done_at_kill or (row[2] is not None and row[2] < cursor_at_kill)]
        assert not went_back, f"progress went back after the takeover (at the kill: done {done_at_kill}, " \
                              f"last_pk {cursor_at_kill}): {went_back[:5]}"
        # ... and the rows copied before the kill were not copied again (a SET would have cleared the expiry).
        recopied = [i for i in sentinels if client.ttl(f"{s}-t-{i}") <= 0]
        assert not recopied, f"{len(recopied)} rows copied before the kill were copied again, e.g. {recopied[:5]}"

        done = Subscription.objects.get(pk=sub.pk)
        assert done.fullsync_state["done_tables"] == [f"{s}.t"] and done.fullsync_state["skipped"] == []
        # Every row was read once, by one worker or the other (rows the load deleted before the copy reached
        # them, or inserted after, move this a little but by far less than a second copy of the copied part).
        assert ROWS - load.rounds <= done.fullsync_done <= ROWS + load.rounds

        # The stream catches up with the last changes: the target equals the source.
        want = expected_state(source, "t")
        wait_for(lambda: not diff_states(redis_state(client, f"{s}-t-"), want), 120,
                 message="Redis to equal the source table")
        assert diff_states(redis_state(client, f"{s}-t-"), want) == []
    finally:
        if load.is_alive():
            load.stop()
