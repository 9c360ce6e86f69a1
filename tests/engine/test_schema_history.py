"""A source with binlog_row_metadata=MINIMAL: its row events name no columns and carry no ENUM/SET members, and
the dump names them from the instance's schema history, through DDL, exactly as the source holds the rows."""
import pytest

from console.models import Instance, SchemaVersion

from private_servers import PrivateServer

from .conftest import Source, empty_redis_db, make_instance, make_subscription, redis_state, wait_caught_up, wait_for
from .expect import diff_states, expected_state


@pytest.fixture(scope="module")
def minimal_server(tmp_path_factory):
    """One private `mariadbd --binlog-row-metadata=MINIMAL` for the module's tests (each has its own schema
    contents, instance and workers)."""
    server = PrivateServer("mariadb", tmp_path_factory.mktemp("mariadb"), row_metadata="MINIMAL").start()
    yield server
    server.stop()


@pytest.fixture
def minimal_source(minimal_server):
    src = Source(f"mysql://root@127.0.0.1:{minimal_server.port}/", "eng_minimal")
    yield src
    src.execute("SET GLOBAL binlog_row_metadata = 'MINIMAL'")  # as the next test expects it (one switches it)
    src.conn.close()


def last_error(instance):
    return Instance.objects.get(pk=instance.pk).last_error


def dumping(workers, src, redis_url, table_ddl, candidates=("w1",)):
    """eng_minimal.t created with `table_ddl`, an instance dumping it into Redis db 14 from w1, its history
    started: (instance, subscription, redis client)."""
    src.execute(f"CREATE TABLE eng_minimal.t {table_ddl}")
    instance = make_instance(src, candidates=candidates)
    target, client = empty_redis_db(redis_url, 14)
    sub = make_subscription(instance, target, tables="eng_minimal.t")
    workers.start("w1")
    workers.start_beat()
    history_started(instance)
    return instance, sub, client


def two_tables(instance, redis_url):
    """Subscriptions `t` (Redis db 14) and `u` (db 13) to eng_minimal.t and .u: (t's subscription, t's and u's
    Redis clients)."""
    t_url, t_client = empty_redis_db(redis_url, 14)
    u_url, u_client = empty_redis_db(redis_url, 13)
    stopped = make_subscription(instance, t_url, name="t", tables="eng_minimal.t")
    make_subscription(instance, u_url, name="u", tables="eng_minimal.u")
    return stopped, t_client, u_client


def history_started(instance):
    """Until the dump took its snapshot (a DDL between the instance's start and the snapshot refuses the start)."""
    wait_for(lambda: SchemaVersion.objects.filter(instance=instance).exists(), 60, message="the history's snapshot")


@pytest.mark.slow
def test_minimal_rows_are_named_through_ddl(workers, minimal_source, redis_url):
    src = minimal_source
    src.execute("CREATE TABLE eng_minimal.t (id INT PRIMARY KEY, e ENUM('a', 'b'), s SET('p', 'q'), "
                "n INT UNSIGNED)")
    instance = make_instance(src)
    src.execute("INSERT INTO eng_minimal.t VALUES (1, 'b', 'p,q', 4000000000), (2, 'a', '', 5)")
    target, client = empty_redis_db(redis_url, 14)
    make_subscription(instance, target, tables="eng_minimal.*")
    workers.start("w1")
    workers.start_beat()
    history_started(instance)

    src.execute("USE eng_minimal")  # the DDL below runs with a default database, the rest fully qualified
    src.execute("ALTER TABLE t ADD COLUMN c VARCHAR(5) DEFAULT 'x' AFTER id, MODIFY e ENUM('a', 'b', 'c')")
    src.execute("INSERT INTO t (id, e, s, n) VALUES (3, 'c', 'q', 1)")
    src.execute("UPDATE eng_minimal.t SET e = 'c' WHERE id = 1")
    src.execute("ALTER TABLE eng_minimal.t RENAME COLUMN n TO `m m`, ADD COLUMN `select` INT /* a comment */ FIRST")
    src.execute("INSERT INTO t (id, `select`, s) VALUES (4, 9, 'p')")
    # the gh-ost / pt-online-schema-change swap, rows copied into the new table first
    src.execute("CREATE TABLE _t_new LIKE t")
    src.execute("ALTER TABLE _t_new /*!50100 ADD COLUMN z INT AFTER c */")
    src.execute("INSERT INTO _t_new (`select`, id, c, z, e, s, `m m`) SELECT `select`, id, c, id * 10, e, s, `m m` "
                "FROM t")
    src.execute("RENAME TABLE t TO _t_old, _t_new TO t")
    src.execute("INSERT INTO eng_minimal.t (id, z, e) VALUES (5, 50, 'b')")
    src.execute("UPDATE eng_minimal.t SET z = z + 1 WHERE id < 5")  # every copied row once more, through t
    src.execute("DROP TABLE _t_old")
    wait_caught_up(instance, src)

    got = redis_state(client, "eng_minimal-t-")
    want = expected_state(src, "t", set_columns=("s",))
    assert not diff_states(got, want), diff_states(got, want)
    assert got["eng_minimal-t-2"]["s"] == []  # an empty SET is empty, not NULL
    assert list(got["eng_minimal-t-5"]) == ["select", "id", "c", "z", "e", "s", "m m"]
    versions = SchemaVersion.objects.filter(instance=instance, schema_name="eng_minimal", table_name="t")
    assert versions.count() >= 4  # the snapshot, two ALTERs and the swap
    assert not last_error(instance)


@pytest.mark.slow
def test_a_statement_the_history_cannot_follow_stops_only_its_table(workers, minimal_source, redis_url):
    """A refused statement stops the subscriptions that want its table, with the statement and its position as
    their error; the instance's other subscriptions go on; a re-snapshot lets them catch up, nothing lost."""
    from console.domain.schema_history import refused_tables, resnapshot_table
    from console.models import Subscription

    src = minimal_source
    src.execute("CREATE TABLE eng_minimal.t (id INT PRIMARY KEY, v VARCHAR(10))")
    src.execute("CREATE TABLE eng_minimal.u (id INT PRIMARY KEY, w INT)")
    instance = make_instance(src)
    stopped, t_client, u_client = two_tables(instance, redis_url)
    workers.start("w1")
    workers.start_beat()
    history_started(instance)
    src.execute("INSERT INTO eng_minimal.t VALUES (1, 'one')")
    wait_caught_up(instance, src)
    src.execute("ALTER TABLE eng_minimal.t CONVERT TO CHARACTER SET latin1")
    src.execute("INSERT INTO eng_minimal.t VALUES (2, 'two')")
    src.execute("INSERT INTO eng_minimal.u VALUES (1, 10)")

    def error():
        return Subscription.objects.get(pk=stopped.pk).error

    wait_for(lambda: "CONVERT TO CHARACTER SET" in error(), 40, message="the refused statement on its subscription")
    assert "does not understand" in error() and "mysql-bin.000001:" in error()
    assert Subscription.objects.get(pk=stopped.pk).state == "error"
    wait_for(lambda: u_client.get("eng_minimal-u-1"), 30, message="the other table's subscription going on")
    assert set(redis_state(t_client, "eng_minimal-t-")) == {"eng_minimal-t-1"}
    assert not last_error(instance)
    assert [(v.schema_name, v.table_name) for v in refused_tables(instance)] == [("eng_minimal", "t")]

    resnapshot_table("tester", instance, "eng_minimal", "t")
    wait_for(lambda: set(redis_state(t_client, "eng_minimal-t-")) == {"eng_minimal-t-1", "eng_minimal-t-2"}, 60,
             message="the stopped rows after the re-snapshot")
    assert redis_state(t_client, "eng_minimal-t-")["eng_minimal-t-2"] == {"id": 2, "v": "two"}
    wait_for(lambda: Subscription.objects.get(pk=stopped.pk).state == "normal", 30, message="the error to clear")
    assert refused_tables(instance) == []


@pytest.mark.slow
def test_kill_9_after_a_ddl_and_set_position_before_it(workers, minimal_source, redis_url):
    """The history is in the metadata DB: a worker killed between a DDL and the rows after it, and a replay
    from before the DDL, decode every row with the columns of its own time (no default value appears in a row
    written before the column existed)."""
    from console.domain import subscriptions

    src = minimal_source
    instance, sub, client = dumping(workers, src, redis_url, "(id INT PRIMARY KEY, v INT)", ("w1", "w2"))
    before_ddl = src.master()
    src.execute("INSERT INTO eng_minimal.t VALUES (1, 1), (2, 2)")
    src.execute("ALTER TABLE eng_minimal.t ADD COLUMN c INT NOT NULL DEFAULT 7 AFTER id")
    wait_for(lambda: SchemaVersion.objects.filter(instance=instance, statement__contains="ADD COLUMN c").exists(),
             30, message="the DDL in the history")
    workers.kill("w1")
    src.execute("INSERT INTO eng_minimal.t VALUES (3, 8, 3), (4, 9, 4)")
    src.execute("UPDATE eng_minimal.t SET v = 20 WHERE id = 2")
    workers.start("w2")
    want = {"eng_minimal-t-1": {"id": 1, "v": 1}, "eng_minimal-t-2": {"id": 2, "c": 7, "v": 20},
            "eng_minimal-t-3": {"id": 3, "c": 8, "v": 3}, "eng_minimal-t-4": {"id": 4, "c": 9, "v": 4}}
    wait_caught_up(instance, src)
    assert redis_state(client, "eng_minimal-t-") == want

    client.flushdb()
    subscriptions.set_position("tester", sub, *before_ddl)
    wait_for(lambda: redis_state(client, "eng_minimal-t-") == want, 40, message="the replay from before the DDL")
    assert not last_error(instance)


@pytest.mark.slow
def test_full_events_are_cross_checked_with_the_history(workers, minimal_source, redis_url):
    """A server switched from MINIMAL to FULL keeps its history: events written before the switch are named by
    it, events after it name their own columns, and where the two disagree the table's rows stop with both."""
    from console.models import Subscription

    src = minimal_source
    instance, sub, client = dumping(workers, src, redis_url, "(id INT PRIMARY KEY, e ENUM('a', 'b'))", ("w1", "w2"))
    src.execute("INSERT INTO eng_minimal.t VALUES (1, 'a')")
    wait_caught_up(instance, src)
    src.execute("SET GLOBAL binlog_row_metadata = 'FULL'")
    src.execute("INSERT INTO eng_minimal.t VALUES (2, 'b')")  # named by the event, agreeing with the history
    wait_caught_up(instance, src)
    assert redis_state(client, "eng_minimal-t-") == {"eng_minimal-t-1": {"id": 1, "e": "a"},
                                                     "eng_minimal-t-2": {"id": 2, "e": "b"}}

    # A history that went wrong (here by hand) is caught by the events that name their columns.
    workers.kill("w1")
    SchemaVersion.objects.filter(instance=instance, table_name="t").update(
        columns=[{"name": "id", "type": "int", "unsigned": False, "values": None},
                 {"name": "wrong", "type": "enum", "unsigned": False, "values": ["a", "b"]}])
    src.execute("INSERT INTO eng_minimal.t VALUES (3, 'a')")
    workers.start("w2")
    wait_for(lambda: "the schema history has (id, wrong)" in Subscription.objects.get(pk=sub.pk).error, 60,
             message="the mismatch as the subscription's error")
    assert "eng_minimal-t-3" not in redis_state(client, "eng_minimal-t-")


@pytest.mark.slow
def test_the_history_is_taken_when_the_dump_is_started(workers, minimal_source, redis_url):
    """Starting the dump "from now" takes the history at once (console.domain.schema_history.start_at): a DDL
    before any worker runs the dump is followed like any other."""
    from console.domain import instances

    src = minimal_source
    src.execute("CREATE TABLE eng_minimal.t (id INT PRIMARY KEY, v INT)")
    instance = make_instance(src)
    Instance.objects.filter(pk=instance.pk).update(status="agree", binlog_file="", binlog_pos=0)
    instance.refresh_from_db()
    instances.start_dump("tester", instance)
    assert SchemaVersion.objects.filter(instance=instance, schema_name="eng_minimal", table_name="t").exists()
    src.execute("INSERT INTO eng_minimal.t VALUES (1, 1)")
    src.execute("ALTER TABLE eng_minimal.t ADD COLUMN w VARCHAR(3) FIRST")
    src.execute("INSERT INTO eng_minimal.t VALUES ('new', 2, 2)")
    target, client = empty_redis_db(redis_url, 14)
    make_subscription(instance, target, tables="eng_minimal.t")
    workers.start("w1")
    workers.start_beat()
    wait_caught_up(instance, src)
    assert redis_state(client, "eng_minimal-t-") == {"eng_minimal-t-1": {"id": 1, "v": 1},
                                                     "eng_minimal-t-2": {"w": "new", "id": 2, "v": 2}}


@pytest.mark.slow
def test_a_ddl_racing_the_dumps_own_snapshot_stops_only_the_rows_before_it(workers, minimal_source, redis_url):
    """A dump whose history is taken when it first runs (its start position chosen earlier): a table a
    statement changed in between has the snapshot's columns only after that statement; its rows before it
    stop their subscription with the reason, the other tables' rows go on."""
    from console.models import Subscription

    src = minimal_source
    src.execute("CREATE TABLE eng_minimal.t (id INT PRIMARY KEY, v INT)")
    src.execute("CREATE TABLE eng_minimal.u (id INT PRIMARY KEY, w INT)")
    instance = make_instance(src)
    src.execute("INSERT INTO eng_minimal.t VALUES (1, 1)")  # before the ALTER: its columns are not known
    src.execute("ALTER TABLE eng_minimal.t ADD COLUMN x INT")
    src.execute("INSERT INTO eng_minimal.u VALUES (1, 10)")
    stopped, t_client, u_client = two_tables(instance, redis_url)
    workers.start("w1")
    workers.start_beat()
    wait_for(lambda: "changed at" in Subscription.objects.get(pk=stopped.pk).error, 60,
             message="the rows before the racing DDL refused")
    assert "ADD COLUMN x" in Subscription.objects.get(pk=stopped.pk).error
    wait_for(lambda: u_client.get("eng_minimal-u-1"), 30, message="the other table's rows")
    assert t_client.dbsize() == 0


@pytest.mark.slow
def test_a_database_created_later_is_followed(workers, minimal_source, redis_url):
    src = minimal_source
    instance = make_instance(src)
    target, client = empty_redis_db(redis_url, 14)
    make_subscription(instance, target, tables="eng_*.*")
    workers.start("w1")
    workers.start_beat()
    history_started(instance)
    src.execute("CREATE DATABASE eng_later")
    try:
        src.execute("CREATE TABLE eng_later.t (id INT PRIMARY KEY, s SET('a', 'b'))")
        src.execute("INSERT INTO eng_later.t VALUES (1, 'a,b')")
        wait_caught_up(instance, src)
        assert redis_state(client, "eng_later-t-") == {"eng_later-t-1": {"id": 1, "s": ["a", "b"]}}
    finally:
        src.execute("DROP DATABASE eng_later")


@pytest.mark.slow
def test_generated_and_invisible_columns(workers, minimal_source, redis_url):
    src = minimal_source
    instance, _sub, client = dumping(workers, src, redis_url, "(id INT PRIMARY KEY, v INT)")
    src.execute("ALTER TABLE eng_minimal.t ADD COLUMN g INT AS (v * 2) VIRTUAL, "
                "ADD COLUMN s INT AS (v + 1) STORED AFTER id, ADD COLUMN h INT INVISIBLE DEFAULT 5")
    src.execute("INSERT INTO eng_minimal.t (id, v) VALUES (1, 10)")
    wait_caught_up(instance, src)
    got = redis_state(client, "eng_minimal-t-")
    with src.conn.cursor() as cur:
        cur.execute("SELECT id, s, v, g, h FROM eng_minimal.t")
        row = cur.fetchone()
    # MariaDB logs virtual and invisible columns in the row image too: every column arrives, in table order
    assert list(got["eng_minimal-t-1"].items()) == list(zip(("id", "s", "v", "g", "h"), row))
    assert not last_error(instance)


@pytest.mark.slow
def test_a_source_without_any_row_metadata(workers, tmp_path, redis_url):
    """binlog_row_metadata=NO_LOG (as MySQL 5.7 and MariaDB before 10.5): no names, no signedness, no
    charsets in the events; the history gives all three (a latin1 column, binary strings, an unsigned int)."""
    server = PrivateServer("mariadb", tmp_path / "mariadb", row_metadata="NO_LOG").start()
    src = Source(f"mysql://root@127.0.0.1:{server.port}/", "eng_minimal")
    try:
        instance, _sub, client = dumping(
            workers, src, redis_url, "(id INT PRIMARY KEY, l VARCHAR(10) CHARACTER SET latin1, b VARBINARY(8), "
            "bl BLOB, u TEXT, n INT UNSIGNED, e ENUM('x', 'y'), s SET('p', 'q'))")
        src.execute("INSERT INTO eng_minimal.t VALUES (1, 'café', X'FF00', X'DEADBEEF', 'ü😀', 4000000000, 'y', 'p,q')")
        src.execute("ALTER TABLE eng_minimal.t ADD COLUMN l2 VARCHAR(5) CHARACTER SET latin1 AFTER l, "
                    "DEFAULT CHARSET = latin1, ADD COLUMN l3 TINYTEXT")
        src.execute("INSERT INTO eng_minimal.t VALUES (2, 'Ärger', 'ß', X'00', '', '', 0, 'x', '', 'é')")
        wait_caught_up(instance, src)
        got, want = redis_state(client, "eng_minimal-t-"), expected_state(src, "t", set_columns=("s",))
        for added in ("l2", "l3"):  # row 1 was written before they existed
            del want["eng_minimal-t-1"][added]
        assert not diff_states(got, want), diff_states(got, want)
        assert got["eng_minimal-t-1"]["l"] == "café" and got["eng_minimal-t-1"]["n"] == 4000000000
    finally:
        src.conn.close()
        server.stop()
