"""workers.ddl against the server: every statement runs on the real MariaDB, and the columns the schema history
derives from it (names, order, type, signedness, ENUM/SET members, primary key) must equal what
information_schema says afterwards."""
import pytest

from workers.ddl import Refused, Table, apply_ddl, created_schema, tables_named
from workers.schema_history import read_schema_charsets, read_tables

# (statement, run with the test database as default?) — unqualified statements run after USE <db>; `{db}`
# is the test database, for the fully qualified ones.
STEPS = [
    "CREATE TABLE t (id INT NOT NULL, a VARCHAR(10), b DECIMAL(10,2), PRIMARY KEY (id))",
    "ALTER TABLE t ADD COLUMN c INT UNSIGNED NOT NULL DEFAULT 7 AFTER id",
    "ALTER TABLE t ADD COLUMN first_col TINYINT FIRST, DROP COLUMN a, MODIFY COLUMN b DECIMAL(20,5) AFTER first_col",
    "ALTER TABLE {db}.t CHANGE COLUMN c `c with space` BIGINT UNSIGNED",
    "ALTER TABLE t RENAME COLUMN `c with space` TO `sélect ü`",
    "ALTER TABLE t ADD COLUMN `select` ENUM('x','y''z','ü') /* a comment */ AFTER id",
    "ALTER TABLE t MODIFY `select` ENUM('x','y''z','ü','new')",
    "ALTER TABLE t ADD s SET('p','q') CHARACTER SET latin1 COLLATE latin1_bin, ADD d2 DECIMAL(4,4)",
    "ALTER TABLE t MODIFY s SET('p','q','r') CHARACTER SET utf8mb4",
    "ALTER TABLE t ADD l1 VARCHAR(5) COLLATE latin1_german1_ci, ADD bl BLOB, ADD vb VARBINARY(4), ADD js JSON",
    "ALTER TABLE t DEFAULT CHARSET = latin1, ADD l2 TEXT",
    "ALTER TABLE t MODIFY l1 VARCHAR(6), ADD u8 CHAR(2) CHARACTER SET utf8",
    "CREATE TABLE cs (id INT PRIMARY KEY, a VARCHAR(3), b VARCHAR(3) CHARACTER SET ascii) DEFAULT CHARSET=latin1",
    "CREATE TABLE cs2 (id INT PRIMARY KEY, a TINYTEXT) COLLATE=utf8mb4_bin",
    "DROP TABLE cs, cs2",
    "ALTER TABLE t ADD COLUMN g INT AS (id + 1) VIRTUAL, ADD COLUMN h INT INVISIBLE",
    "ALTER TABLE t /*!50100 ADD COLUMN vc INT */",
    "ALTER TABLE t ADD INDEX ix (first_col), ALTER COLUMN h SET DEFAULT 3, ENGINE=InnoDB",
    "ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (id, first_col)",
    "CREATE TABLE `weird ``name`` ü` (`k` BIGINT UNSIGNED PRIMARY KEY, v TEXT)",
    "CREATE TABLE t_like LIKE t",
    "ALTER TABLE t_like ADD COLUMN extra VARCHAR(3)",
    "RENAME TABLE t TO _t_old, t_like TO t",
    "DROP TABLE _t_old",
    "TRUNCATE TABLE t",
    "ALTER TABLE t RENAME TO t2",
    "CREATE TABLE IF NOT EXISTS t2 (nothing INT)",
    "CREATE INDEX iv ON t2 (extra)",
    "ALTER TABLE {db}.`weird ``name`` ü` DROP COLUMN v, ADD COLUMN w JSON",
    "DROP TABLE IF EXISTS t2, nothere",
]


def test_every_step_matches_information_schema(capture):
    db, cur = capture.db, capture.cur
    history = {}
    for step in STEPS:
        statement = step.format(db=db)
        cur.execute(statement)
        changes = apply_ddl(history, statement, db, read_schema_charsets(cur, [db]).get)
        for key, table in changes.items():
            if table is None:
                history.pop(key, None)
            else:
                history[key] = table
        actual = read_tables(cur, [db])
        for key in set(history) | set(actual):
            mine, theirs = history.get(key), actual.get(key)
            assert mine == theirs, (statement, key, [
                (a, b) for a, b in zip(mine.columns if mine else (), theirs.columns if theirs else ()) if a != b],
                mine and mine.charset, theirs and theirs.charset)


@pytest.mark.parametrize("statement", [
    "CREATE TABLE t AS SELECT 1 AS x",
    "ALTER TABLE t CONVERT TO CHARACTER SET latin1",
    "ALTER TABLE t ADD COLUMN (x INT, y INT)",
    "RENAME TABLE unknown TO t",
])
def test_refused_statements_name_the_table(statement):
    before = {("db", "t"): Table(), ("db", "u"): Table()}
    with pytest.raises(Refused) as caught:
        apply_ddl(before, statement, "db")
    assert ("db", "t") in caught.value.tables
    assert statement[:20] in str(caught.value)


@pytest.mark.parametrize("statement", [
    "ALTER TABLE other ADD COLUMN x INT",
    "ALTER TABLE other CONVERT TO CHARACTER SET latin1",
    "GRANT SELECT ON *.* TO someone",
    "CREATE VIEW v AS SELECT 1",
])
def test_statements_on_untracked_tables_change_nothing(statement):
    assert apply_ddl({("db", "t"): Table()}, statement, "db") == {}


@pytest.mark.parametrize("statement, named, exact", [
    ("ALTER TABLE t ADD COLUMN x INT", {("db", "t")}, True),
    ("RENAME TABLE t TO _t_old, other.`_t new` TO t", {("db", "t"), ("db", "_t_old"), ("other", "_t new")}, True),
    ("CREATE TABLE t2 LIKE src.t", {("db", "t2"), ("src", "t")}, True),
    ("DROP TABLE IF EXISTS a, b", {("db", "a"), ("db", "b")}, True),
    ("ALTER TABLE t CONVERT TO CHARACTER SET latin1", {("db", "ALTER"), ("db", "TABLE"), ("db", "t")}, False),
])
def test_tables_named(statement, named, exact):
    found, found_exact = tables_named(statement, "db")
    assert found_exact == exact
    assert named <= found if not exact else named == found


def test_created_schema():
    assert created_schema("CREATE DATABASE `new db`") == ("new db", None)
    assert created_schema("/*!40000 CREATE SCHEMA IF NOT EXISTS s2 */ CHARACTER SET latin1") == ("s2", "latin1")
    assert created_schema("CREATE SCHEMA s3 DEFAULT COLLATE latin1_bin") == ("s3", "latin1")
    assert created_schema("CREATE TABLE t (id INT)") == ("", None)
