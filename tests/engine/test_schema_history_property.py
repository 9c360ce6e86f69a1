"""Property: random sequences of DDL and DML on random tables, run on a MINIMAL and a FULL source alike,
arrive at their targets as the same rows. The FULL source's rows are named by its events; the MINIMAL
source's by the schema history, so any column the history gets wrong (name, order, member, signedness)
shows as a difference."""
import itertools
import os
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from private_servers import PrivateServer

from .conftest import Source, empty_redis_db, make_instance, make_subscription, redis_state, wait_caught_up
from .test_schema_history import history_started, last_error

SCHEMA = "eng_history_prop"
# Column names with spaces, unicode, reserved words and mixed case (MySQL column names ignore case)
NAMES = ["a", "b c", "sélect", "order", "Zeta", "ü", "key", "x_1"]
TYPES = {
    "INT": st.integers(-2**31, 2**31 - 1).map(str),
    "INT UNSIGNED": st.integers(0, 2**32 - 1).map(str),
    "BIGINT UNSIGNED": st.integers(0, 2**64 - 1).map(str),
    "TINYINT": st.integers(-128, 127).map(str),
    "VARCHAR(12)": st.text("abcé😀 '", max_size=12).map(lambda s: "'" + s.replace("'", "''") + "'"),
    "DECIMAL(9,3)": st.decimals(-999999, 999999, places=3).map(lambda d: str(Decimal(d))),
    "ENUM('p','q','r')": st.sampled_from(["'p'", "'q'", "'r'"]),
    "SET('x','y','z')": st.sets(st.sampled_from("xyz")).map(lambda s: "'" + ",".join(sorted(s)) + "'"),
    "DATETIME": st.datetimes(min_value=__import__("datetime").datetime(1970, 1, 2),
                             max_value=__import__("datetime").datetime(2100, 1, 1)).map(
        lambda d: f"'{d.replace(microsecond=0)}'"),
}
TABLES = itertools.count()


def quote(name):
    return "`" + name.replace("`", "``") + "`"


@pytest.fixture
def two_sources(workers, tmp_path, redis_url):
    """The same empty schema on a FULL and a MINIMAL private MariaDB, each dumped into its own Redis db."""
    pairs = []
    servers = []
    for metadata, db in (("FULL", 12), ("MINIMAL", 11)):
        server = PrivateServer("mariadb", tmp_path / metadata, row_metadata=metadata).start()
        servers.append(server)
        src = Source(f"mysql://root@127.0.0.1:{server.port}/", SCHEMA)
        src.execute("SET SESSION sql_mode = ''")  # a MODIFY may truncate values: both servers alike
        instance = make_instance(src)
        url, client = empty_redis_db(redis_url, db)
        make_subscription(instance, url, name=f"prop-{metadata}", tables=f"{SCHEMA}.*")
        pairs.append((src, instance, client))
    workers.start("w1")
    workers.start_beat()
    history_started(pairs[1][1])
    yield pairs
    for src, _instance, _client in pairs:
        src.conn.close()
    for server in servers:
        server.stop()


@st.composite
def workloads(draw):
    """(CREATE TABLE, [statements]) for a new table: DDL kept valid by following the columns it leaves."""
    table = f"t{next(TABLES)}"
    columns = [(n, draw(st.sampled_from(sorted(TYPES))))
               for n in draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique_by=str.lower))]
    create = f"CREATE TABLE {quote(table)} (id INT PRIMARY KEY, " + ", ".join(
        f"{quote(n)} {t}" for n, t in columns) + ")"
    statements, next_id, live = [], 1, set()
    for _ in range(draw(st.integers(3, 10))):
        step = draw(st.sampled_from(["insert"] * 3 + ["update"] * 2 + ["delete", "add", "drop", "modify", "rename",
                                                                        "change"]))
        unused = [n for n in NAMES if n.lower() not in {c[0].lower() for c in columns}]
        if step == "insert":
            for _ in range(draw(st.integers(1, 3))):
                values = [str(next_id)] + [draw(TYPES[t]) for _n, t in columns]
                statements.append(f"INSERT INTO {quote(table)} (id{''.join(', ' + quote(n) for n, _t in columns)}) "
                                  f"VALUES ({', '.join(values)})")
                live.add(next_id)
                next_id += 1
        elif step == "update" and columns:
            name, kind = draw(st.sampled_from(columns))
            statements.append(f"UPDATE {quote(table)} SET {quote(name)} = {draw(TYPES[kind])} "
                              f"WHERE id = {draw(st.integers(1, max(1, next_id - 1)))}")
        elif step == "delete":
            gone = draw(st.integers(1, max(1, next_id - 1)))
            statements.append(f"DELETE FROM {quote(table)} WHERE id = {gone}")
            live.discard(gone)
        elif step == "add" and unused:
            name, kind = draw(st.sampled_from(unused)), draw(st.sampled_from(sorted(TYPES)))
            where = draw(st.sampled_from(["", " FIRST"] + [f" AFTER {quote(n)}" for n, _t in columns]))
            statements.append(f"ALTER TABLE {quote(table)} ADD COLUMN {quote(name)} {kind}{where}")
            if where == " FIRST":
                at = 0
            elif where:
                at = next(i for i, c in enumerate(columns) if where == f" AFTER {quote(c[0])}") + 1
            else:
                at = len(columns)
            columns.insert(at, (name, kind))
        elif step == "drop" and len(columns) > 1:
            name, _kind = draw(st.sampled_from(columns))
            statements.append(f"ALTER TABLE {quote(table)} DROP COLUMN {quote(name)}")
            columns = [c for c in columns if c[0] != name]
        elif step == "modify" and columns:
            i = draw(st.integers(0, len(columns) - 1))
            kind = draw(st.sampled_from(sorted(TYPES)))
            statements.append(f"ALTER TABLE {quote(table)} MODIFY {quote(columns[i][0])} {kind}")
            columns[i] = (columns[i][0], kind)
        elif step == "rename" and columns and unused:
            i, name = draw(st.integers(0, len(columns) - 1)), draw(st.sampled_from(unused))
            statements.append(f"ALTER TABLE {quote(table)} RENAME COLUMN {quote(columns[i][0])} TO {quote(name)}")
            columns[i] = (name, columns[i][1])
        elif step == "change" and columns and unused:
            i, name = draw(st.integers(0, len(columns) - 1)), draw(st.sampled_from(unused))
            kind = draw(st.sampled_from(sorted(TYPES)))
            statements.append(f"ALTER TABLE {quote(table)} CHANGE {quote(columns[i][0])} {quote(name)} {kind} FIRST")
            columns.pop(i)
            columns.insert(0, (name, kind))
    return table, create, statements, live


@pytest.mark.slow
@settings(max_examples=int(os.environ.get("TOWER_HISTORY_EXAMPLES", "15")), deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(workload=workloads())
def test_minimal_source_delivers_what_the_full_source_does(two_sources, workload):
    table, create, statements, live = workload
    for src, _instance, _client in two_sources:
        src.execute(f"USE {SCHEMA}")
        src.execute(create)
        for statement in statements:
            src.execute(statement)
    for src, instance, _client in two_sources:
        wait_caught_up(instance, src, timeout=60)
    (_, full, full_client), (_, minimal, minimal_client) = two_sources
    prefix = f"{SCHEMA}-{table}-"
    got, want = redis_state(minimal_client, prefix), redis_state(full_client, prefix)
    assert sorted(int(k.rsplit("-", 1)[1]) for k in want) == sorted(live)  # the rows arrived at all
    assert got == want, (create, statements)
    assert not last_error(minimal) and not last_error(full)
