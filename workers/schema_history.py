"""A source's table schemas at each binlog position, for row events that do not name their columns.

With binlog_row_metadata MINIMAL (MySQL 8's default) or no row metadata at all (MySQL 5.7, MariaDB before
10.5), a row event carries column types but no names, no ENUM/SET members and no primary key. This module
keeps, per instance, the column list of every table of the schemas a dump wants, valid from a binlog
position on (`console.models.SchemaVersion` rows): a snapshot of information_schema where the history
starts, then one version per DDL statement the stream reads (`workers.ddl` parses it).

A row event maps to the version at its own position, so a restart, a rewind or a set-position to before a
DDL decodes with the columns of that time.
"""
import bisect
import logging

from pymysqlreplication.constants import FIELD_TYPE

from workers.ddl import (
    Column, Refused, Table, apply_ddl, charset_of, column_from_information_schema, created_schema, tables_named,
)
from workers.events import Position

log = logging.getLogger(__name__)


def read_tables(cursor, schemas) -> dict:
    """{(schema, table): Table} of the base tables of `schemas`, as information_schema has them now."""
    schemas = sorted(set(schemas))
    if not schemas:
        return {}
    marks = ", ".join(["%s"] * len(schemas))
    cursor.execute(
        "SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_TYPE, c.CHARACTER_SET_NAME "
        "FROM information_schema.COLUMNS c JOIN information_schema.TABLES t "
        "ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME "
        f"WHERE c.TABLE_SCHEMA IN ({marks}) AND t.TABLE_TYPE = 'BASE TABLE' "
        "ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION", schemas)
    columns = {}
    for schema, table, name, data_type, column_type, charset in cursor.fetchall():
        columns.setdefault((_text(schema), _text(table)), []).append(
            column_from_information_schema(_text(name), _text(data_type), _text(column_type), _text(charset)))
    cursor.execute(
        "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
        f"WHERE TABLE_SCHEMA IN ({marks}) AND INDEX_NAME = 'PRIMARY' "
        "ORDER BY TABLE_SCHEMA, TABLE_NAME, SEQ_IN_INDEX", schemas)
    keys = {}
    for schema, table, name in cursor.fetchall():
        keys.setdefault((_text(schema), _text(table)), []).append(_text(name))
    cursor.execute(
        f"SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA IN ({marks}) "
        "AND TABLE_TYPE = 'BASE TABLE'", schemas)
    charsets = {(_text(schema), _text(table)): charset_of(collation=_text(collation))
                for schema, table, collation in cursor.fetchall()}
    return {key: Table(tuple(cols), tuple(keys.get(key, ())), charsets.get(key)) for key, cols in columns.items()}


def read_schema_charsets(cursor, schemas) -> dict:
    """{schema: its default charset} (information_schema.SCHEMATA)."""
    schemas = sorted(set(schemas))
    if not schemas:
        return {}
    cursor.execute("SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME "
                   f"IN ({', '.join(['%s'] * len(schemas))})", schemas)
    return {_text(schema): charset_of(_text(charset)) for schema, charset in cursor.fetchall()}


def _text(value) -> str:
    return value.decode() if isinstance(value, (bytes, bytearray)) else value


# The information_schema DATA_TYPEs a table map's column type may stand for (a mismatch means the history is
# not the table the server wrote: an error, not a silent choice).
_FAMILIES = {
    FIELD_TYPE.TINY: {"tinyint"}, FIELD_TYPE.SHORT: {"smallint"}, FIELD_TYPE.INT24: {"mediumint"},
    FIELD_TYPE.LONG: {"int"}, FIELD_TYPE.LONGLONG: {"bigint"}, FIELD_TYPE.FLOAT: {"float"},
    FIELD_TYPE.DOUBLE: {"double"}, FIELD_TYPE.NEWDECIMAL: {"decimal"}, FIELD_TYPE.YEAR: {"year"},
    FIELD_TYPE.DATE: {"date"}, FIELD_TYPE.NEWDATE: {"date"}, FIELD_TYPE.TIME: {"time"},
    FIELD_TYPE.TIME2: {"time"}, FIELD_TYPE.DATETIME: {"datetime"}, FIELD_TYPE.DATETIME2: {"datetime"},
    FIELD_TYPE.TIMESTAMP: {"timestamp"}, FIELD_TYPE.TIMESTAMP2: {"timestamp"}, FIELD_TYPE.ENUM: {"enum"},
    FIELD_TYPE.SET: {"set"}, FIELD_TYPE.BIT: {"bit"}, FIELD_TYPE.JSON: {"json"},
    FIELD_TYPE.VARCHAR: {"varchar", "varbinary", "inet6", "inet4", "uuid"},
    FIELD_TYPE.STRING: {"char", "binary", "inet6", "inet4", "uuid"},
    FIELD_TYPE.BLOB: {"tinytext", "text", "mediumtext", "longtext", "tinyblob", "blob", "mediumblob", "longblob",
                      "json"},
}


_STRING_TYPES = frozenset((FIELD_TYPE.VARCHAR, FIELD_TYPE.STRING, FIELD_TYPE.BLOB, FIELD_TYPE.VAR_STRING,
                           FIELD_TYPE.ENUM, FIELD_TYPE.SET))


def position_key(file: str, pos: int) -> int:
    return Position(file, pos).commit_seq


class SchemaHistory:
    """One instance's schema versions, read from and written to SchemaVersion rows.

    Used by the stream's reader thread: `name_columns` on every table map without names, `apply` on every
    DDL statement (in binlog order). The dump thread prepares it with `start` before the stream opens."""

    def __init__(self, instance_id: int):
        self.instance_id = instance_id
        self.versions = {}  # (schema, table) -> sorted [(commit_seq, Table | None, refused, where)]
        self.schemas = set()  # the schemas the history follows: every table of them is in `versions`
        self._load()

    def _load(self):
        from console.models import SchemaVersion

        for v in SchemaVersion.objects.filter(instance_id=self.instance_id).order_by("commit_seq"):
            table = None if v.dropped or v.refused else Table(
                tuple(Column.from_json(c) for c in v.columns), tuple(v.primary_key), v.charset or None)
            self._remember((v.schema_name, v.table_name), v.commit_seq, table, v.refused,
                           f"{v.binlog_file}:{v.binlog_pos}")
            self.schemas.add(v.schema_name)

    def _remember(self, key, seq, table, refused, where):
        versions = self.versions.setdefault(key, [])
        at = bisect.bisect_left(versions, seq, key=lambda v: v[0])
        if at < len(versions) and versions[at][0] == seq:
            return False
        versions.insert(at, (seq, table, refused, where))
        return True

    def _save(self, key, file, pos, table, refused="", statement=""):
        from console.models import SchemaVersion

        seq = position_key(file, pos)
        if not self._remember(key, seq, table, refused, f"{file}:{pos}"):
            return
        SchemaVersion.objects.get_or_create(
            instance_id=self.instance_id, schema_name=key[0], table_name=key[1], commit_seq=seq,
            defaults={"binlog_file": file, "binlog_pos": pos, "dropped": table is None and not refused,
                      "columns": [c.as_json() for c in table.columns] if table else [],
                      "primary_key": list(table.primary_key) if table else [], "refused": refused,
                      "charset": (table.charset or "") if table else "",
                      "statement": statement})

    def release(self) -> None:
        """Close the calling thread's metadata DB connection (the stream's reader thread, as it ends)."""
        from django.db import connection

        connection.close()

    # --- where it starts ---

    def start(self, conn, start: Position, schemas, scan) -> None:
        """Snapshot the `schemas` the history does not follow yet, valid from `start` on.

        information_schema is read now; the dump starts at `start` (its checkpoint, perhaps long ago). The
        snapshot holds there for every table no statement named in between: `scan(start, end)` yields
        (file, end position, statement, default schema) of the statements between two positions (the binlog
        itself). A table one did name has the snapshot's columns only from the last such statement on; its
        rows before it are refused (their subscriptions stop with the reason), never named by a guess."""
        missing = sorted(set(schemas) - self.schemas)
        if not missing:
            return
        with conn.cursor() as cur:
            tables = read_tables(cur, missing)
            schema_charsets = read_schema_charsets(cur, missing)
            cur.execute("SHOW MASTER STATUS")
            row = cur.fetchone()
        end = Position(row[0], int(row[1]))
        if not start.binlog_file:
            # a start given as a GTID set alone: no position to scan from, so the snapshot holds from now
            # on only (rows read before it find no version and stop, never named by a guess)
            start = end
        touched = {}  # (schema, table) -> (file, pos, statement): the last statement between that named it
        for file, pos, statement, default in scan(start, end):
            named, exact = tables_named(statement, default)
            for key in named:
                if key[0] in missing and (exact or key in tables):
                    touched[key] = (file, pos, statement)
        for schema in missing:  # the history follows the schema from here, tables or not (table_name "")
            self._save((schema, ""), start.binlog_file, start.binlog_pos, Table(charset=schema_charsets.get(schema)))
        for key, table in tables.items():
            if key not in touched:
                self._save(key, start.binlog_file, start.binlog_pos, table)
        for key, (file, pos, statement) in touched.items():
            self._save(key, start.binlog_file, start.binlog_pos, None, statement=statement, refused=(
                f"the columns of {key[0]}.{key[1]} changed at {file}:{pos} ({statement[:200]}), after "
                f"{start.binlog_file}:{start.binlog_pos} where the history starts and before its snapshot: its "
                "rows in between are not named"))
            self._save(key, file, pos, tables.get(key))  # the snapshot's columns hold after it (None: dropped)
        self.schemas.update(missing)
        log.info("schema history of instance %s: %d tables of %s from %s:%s (%d named by a statement since)",
                 self.instance_id, len(tables), ", ".join(missing), start.binlog_file, start.binlog_pos,
                 len(touched))

    # --- the stream ---

    def table_at(self, schema, table, file, pos):
        """(Table, None) valid at a position, (None, reason) when there is none."""
        versions = self.versions.get((schema, table))
        seq = position_key(file, pos)
        if versions:
            at = bisect.bisect_right(versions, seq, key=lambda v: v[0]) - 1
            if at >= 0:
                _seq, found, refused, where = versions[at]
                if refused:
                    return None, f"{refused} (at {where}); re-snapshot the table's schema to go on"
                if found is None:
                    return None, f"the schema history has {schema}.{table} dropped at {where}"
                return found, None
            return None, (f"the schema history of {schema}.{table} starts at {versions[0][3]}, after "
                          f"{file}:{pos}")
        return None, f"the schema history does not follow {schema}.{table}"

    def name_columns(self, event, file):
        """Names, ENUM/SET members and signedness from the history, on a table map's columns (once per
        table map: the library makes new Column objects for each). Returns the primary key, or a str: why
        the rows cannot be named (their table's subscriptions stop there, the others go on)."""
        columns = event.columns
        named = columns[0].__dict__.get("_tower_history")
        if named is None:
            named = columns[0].__dict__["_tower_history"] = self._name(columns, event.schema, event.table, file,
                                                                        event.packet.log_pos)
        return named

    def _name(self, columns, schema, name, file, pos):
        table, problem = self.table_at(schema, name, file, pos)
        where = f"rows of {schema}.{name} at {file}:{pos}"
        if table is None:
            return f"{where} do not name their columns and {problem}"
        if len(table.columns) != len(columns):
            return (f"{where} have {len(columns)} columns, the schema history has {len(table.columns)} "
                    f"({', '.join(table.names())}); re-snapshot the table's schema")
        for column, known in zip(columns, table.columns):
            family = _FAMILIES.get(column.type)
            if family is not None and known.data_type not in family:
                return (f"{where}: column {known.name} is {known.data_type} in the schema history, type "
                        f"{column.type} in the row event; re-snapshot the table's schema")
        for column, known in zip(columns, table.columns):
            column.name = known.name
            if known.values is not None and column.type == FIELD_TYPE.ENUM:
                column.enum_values = [""] + list(known.values)
            elif known.values is not None and column.type == FIELD_TYPE.SET:
                column.set_values = list(known.values)
            if known.unsigned:
                column.unsigned = True
            if known.charset and column.character_set_name is None and column.type in _STRING_TYPES:
                column.character_set_name = known.charset  # a server without row metadata: no charsets either
        return table.primary_key

    def cross_check(self, event, file):
        """For row events that name their columns (FULL metadata) of a table the history follows: None when
        the history agrees with the event (names in order, ENUM/SET members), else why not (an error, never a
        silent choice between the two). Once per table map."""
        columns = event.columns
        checked = columns[0].__dict__.get("_tower_checked", False)
        if checked is False:
            checked = columns[0].__dict__["_tower_checked"] = self._check(columns, event.schema, event.table, file,
                                                                          event.packet.log_pos)
        return checked

    def _check(self, columns, schema, name, file, pos):
        if schema not in self.schemas:
            return None
        table, _problem = self.table_at(schema, name, file, pos)
        if table is None:
            return None  # nothing to compare with (a refused statement, a table created before the history)
        event_names = [c.name for c in columns]
        if [n.lower() for n in event_names] != [n.lower() for n in table.names()]:
            return (f"rows of {schema}.{name} at {file}:{pos} name their columns ({', '.join(event_names)}), the "
                    f"schema history has ({', '.join(table.names())}); re-snapshot the table's schema")
        for column, known in zip(columns, table.columns):
            members = column.enum_values[1:] if column.type == FIELD_TYPE.ENUM and column.enum_values else \
                column.set_values if column.type == FIELD_TYPE.SET else None
            if members is not None and known.values is not None and list(members) != list(known.values):
                return (f"rows of {schema}.{name} at {file}:{pos}: column {known.name} has members "
                        f"{list(members)}, the schema history {list(known.values)}; re-snapshot the table's schema")
        return None

    def _schema_charset(self, schema):
        """The default charset of a followed schema (its marker's), for a CREATE TABLE that names none."""
        versions = self.versions.get((schema, ""))
        return versions[-1][1].charset if versions and versions[-1][1] is not None else None

    def apply(self, statement: str, default_schema: str, file: str, pos: int) -> None:
        """A DDL statement read at `file:pos` (its end): the tables it changes get a version from there.
        What it cannot understand on a followed table is recorded as refused: those rows stop there."""
        schema, charset = created_schema(statement)
        if schema:  # a new database: followed from its creation, tables to come included
            self._save((schema, ""), file, pos, Table(charset=charset), statement=statement)
            self.schemas.add(schema)
            return
        if not self.schemas:
            return
        before = {}
        for key in self.versions:
            if not key[1]:
                continue  # a schema's marker
            table, _problem = self.table_at(key[0], key[1], file, pos - 1)  # as they were just before it
            if table is not None:
                before[key] = table
        try:
            changes = apply_ddl(before, statement, default_schema, self._schema_charset)
        except Refused as exc:
            for key in exc.tables:
                self._save(key, file, pos, None, refused=f"{exc.reason}: {statement[:300]}", statement=statement)
            log.warning("schema history of instance %s: %s", self.instance_id, exc)
            return
        for key, table in changes.items():
            if key[0] in self.schemas:
                self._save(key, file, pos, table, statement=statement)


SYSTEM_SCHEMAS = frozenset(("mysql", "sys", "performance_schema", "information_schema"))


def scan_server_id(slave_id) -> int:
    """The replication server id of a scan of the binlog for an instance: not the dump's own (a second
    connection with that id would end the dump's), in a range Tower's slave ids do not take."""
    return 0x7F000000 | ((slave_id or 1001) & 0xFFFFFF)


def start_on_source(history, conn, endpoint, slave_id, start: Position, wants_schema=lambda schema: True):
    """history.start for the schemas of the source behind `conn` that `wants_schema` (every one but the
    server's own by default), its binlog scanned through `endpoint` ((host, port, user, password), the
    approved one)."""
    with conn.cursor() as cur:
        cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
        schemas = [name for (name,) in cur.fetchall() if name not in SYSTEM_SCHEMAS and wants_schema(name)]
    host, port, user, password = endpoint
    scan = binlog_statements({"host": host, "port": int(port), "user": user, "passwd": password or "",
                              "charset": "utf8mb4"}, scan_server_id(slave_id))
    history.start(conn, start, schemas, scan)


def binlog_statements(connection_settings: dict, server_id: int):
    """scan(start, end) for SchemaHistory.start: the statements (not BEGIN/COMMIT) a source's binlog holds
    between two positions, as (file, end position, statement, default schema)."""
    from pymysqlreplication import BinLogStreamReader
    from pymysqlreplication.event import QueryEvent, RotateEvent

    from workers.source import SourceConnection  # the approved-address check every source connection makes

    def scan(start: Position, end: Position):
        if not start.binlog_file or start.commit_seq >= end.commit_seq:
            return
        reader = BinLogStreamReader(
            connection_settings=connection_settings, server_id=server_id, log_file=start.binlog_file,
            log_pos=max(4, start.binlog_pos), resume_stream=True, blocking=False, is_mariadb=False,
            only_events=[QueryEvent, RotateEvent], pymysql_wrapper=SourceConnection)
        file = start.binlog_file
        try:
            for event in reader:
                if isinstance(event, RotateEvent):
                    file = event.next_binlog
                    continue
                if position_key(file, event.packet.log_pos) > end.commit_seq:
                    return
                query = event.query if isinstance(event.query, str) else event.query.decode(errors="replace")
                if query.strip()[:6].upper() in ("BEGIN", "COMMIT") or query.strip().upper().startswith("XA "):
                    continue
                schema = event.schema.decode() if isinstance(event.schema, bytes) else (event.schema or "")
                yield file, event.packet.log_pos, query, schema
        finally:
            reader.close()

    return scan


__all__ = ["read_tables", "SchemaHistory", "start_on_source", "binlog_statements", "Column", "Table"]
