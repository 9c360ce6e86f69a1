"""Questions the console and the APIs ask a source server, with the instance's approved credentials.

Every such question goes through `ask`, so an unreachable or refused source is always a DomainError of kind
`source` (or `forbidden` when Tower will not send the credentials there) with the same wording. The SQL
itself lives in workers.source, shared with the engine.
"""
import time

import pymysql

from console.choices import InstanceStatus
from console.domain import audit
from console.domain.errors import DomainError
from console.models import Instance
from workers import source


def ask(instance, question, host_mapping=None, **timeouts):
    """Run `question(conn)` on a connection to the instance; DomainError when that cannot be done.

    `timeouts` (connect_timeout, read_timeout in seconds) replace workers.source.connect's defaults.
    Each use of the instance's stored credentials is audited: one row naming the question."""
    name = getattr(question, "__name__", type(question).__name__)
    try:
        conn = source.connect_instance(instance, host_mapping=host_mapping, **timeouts)
    except source.SourceRefused as exc:
        raise DomainError("forbidden", str(exc)) from exc  # the credentials were not sent: nothing to audit
    except Exception as exc:  # pymysql errors, DNS, refused: all mean "cannot reach"
        audit.record_source_connect(instance, name, "cannot connect")
        raise DomainError("source", f"cannot connect to {instance}: {getattr(exc, 'args', [exc])[-1]}") from exc
    try:
        audit.record_source_connect(instance, name, "connected")
    except BaseException:
        conn.close()
        raise
    try:
        return question(conn)
    except DomainError:
        raise
    except Exception as exc:
        raise DomainError("source", f"{instance} answered with an error: {getattr(exc, 'args', [exc])[-1]}") from exc
    finally:
        conn.close()


def master_status(instance) -> dict:
    """{'file', 'pos', 'gtid'}: where the server's binlog ends now."""
    return ask(instance, source.master_status)


def binary_logs(instance) -> list:
    """[(name, size)] of the server's binlog files, oldest first."""
    return ask(instance, source.binary_logs)


def binary_log_names(instance) -> list:
    return [name for name, _size in binary_logs(instance)]


# Events that only occur inside a transaction: a stream started at one of them has lost the transaction's
# start (its GTID/BEGIN and table maps), and the reader silently drops that transaction's rows.
IN_TRANSACTION_EVENTS = {
    "Table_map", "Annotate_rows", "Rows_query", "Xid", "XA_prepare", "Intvar", "Rand", "User_var",
    "Write_rows", "Update_rows", "Delete_rows", "Write_rows_v1", "Update_rows_v1", "Delete_rows_v1",
    "Write_rows_compressed_v1", "Update_rows_compressed_v1", "Delete_rows_compressed_v1",
    "Write_rows_compressed", "Update_rows_compressed", "Delete_rows_compressed", "Partial_update_rows",
}
# What the server answers SHOW BINLOG EVENTS with for a position it cannot read an event at.
ER_ERROR_WHEN_EXECUTING_COMMAND = 1220


def check_position(instance, binlog_file, binlog_pos):
    """DomainError("invalid") unless `binlog_file:binlog_pos` is a place a dump can start from on the server:
    a file SHOW BINARY LOGS lists, a position from 4 to the file's size where an event starts (the end of the
    last file: from the next change on) and not inside a transaction."""

    def question(conn):
        logs = source.binary_logs(conn)
        if not logs:
            raise DomainError("invalid", f"{instance} has no binary logs (binary logging is off)")
        sizes = dict(logs)
        if binlog_file not in sizes:
            raise DomainError("invalid", f"binlog file '{binlog_file}' is not on {instance}: its binary logs are"
                                         f" {logs[0][0]} to {logs[-1][0]}")
        size, last = sizes[binlog_file], binlog_file == logs[-1][0]
        end = size if last else size - 1
        if not 4 <= binlog_pos <= end:
            raise DomainError("invalid", f"position {binlog_pos} is outside {binlog_file}: give a position from 4"
                                         f" to {end}{' (its end)' if last else ''}")
        if binlog_pos == size:
            return
        with conn.cursor() as cur:
            try:
                cur.execute("SHOW BINLOG EVENTS IN %s FROM %s LIMIT 1", (binlog_file, binlog_pos))
            except pymysql.MySQLError as exc:
                if exc.args and exc.args[0] == ER_ERROR_WHEN_EXECUTING_COMMAND:
                    raise DomainError("invalid", f"no event starts at {binlog_file}:{binlog_pos}: give the position"
                                                 " of an event's start (SHOW BINLOG EVENTS lists them)") from exc
                raise
            row = cur.fetchone()
        if row is not None and row[2] in IN_TRANSACTION_EVENTS:
            raise DomainError("invalid", f"{binlog_file}:{binlog_pos} is inside a transaction (a {row[2]} event):"
                                         " give the position where a transaction starts")

    ask(instance, question)


# tables_matched_by_no_filter runs inside the request that saved the filter, so what it may cost is capped:
# at most FILTER_CHECK_INSTANCES instances, no new one started once FILTER_CHECK_BUDGET seconds have passed,
# each connected within FILTER_CHECK_CONNECT_TIMEOUT and each read answered within FILTER_CHECK_READ_TIMEOUT,
# at most FILTER_CHECK_TABLES names read from each, each name matched by RE2 in time linear in its length.
# Worst case about FILTER_CHECK_BUDGET + FILTER_CHECK_CONNECT_TIMEOUT + FILTER_CHECK_READ_TIMEOUT seconds.
FILTER_CHECK_INSTANCES = 5
FILTER_CHECK_TABLES = 10_000
FILTER_CHECK_BUDGET = 5.0
FILTER_CHECK_CONNECT_TIMEOUT = 2
FILTER_CHECK_READ_TIMEOUT = 3


def tables_matched_by_no_filter(flt) -> list:
    """Instances of the filter's group on which its table regex matches no table: ['host:port', …].

    A hint after a save, not a check: unreachable instances and those past the caps above are left out
    (nothing can be said about them), and only each source's first FILTER_CHECK_TABLES tables are looked at."""
    from workers import filters

    def source_tables(conn):  # named as the question it asks (the audit row shows it)
        return filters.source_tables(conn, limit=FILTER_CHECK_TABLES)

    deadline = time.monotonic() + FILTER_CHECK_BUDGET
    instances = Instance.objects.filter(group_id=flt.group_id).exclude(status=InstanceStatus.INIT).order_by("pk")
    misses = []
    for instance in instances[:FILTER_CHECK_INSTANCES]:
        if time.monotonic() >= deadline:
            break
        try:
            tables = ask(instance, source_tables, connect_timeout=FILTER_CHECK_CONNECT_TIMEOUT,
                         read_timeout=FILTER_CHECK_READ_TIMEOUT)
        except DomainError:
            continue
        if filters.unmatched_filters([flt], tables):
            misses.append(str(instance))
    return misses


def table_has_rows(instance, database, table="", host_mapping=None) -> bool:
    """Whether the source table (or any table of the database) has a row.

    Connects with the instance's stored credentials, through `host_mapping` when given: the caller checks
    that whoever asks may have that done (an admin of the instance's group)."""

    def quote(name):
        return "`" + name.replace("`", "``") + "`"

    def question(conn):
        with conn.cursor() as cur:
            cur.execute(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_TYPE='BASE TABLE'"
                + (" AND TABLE_NAME=%s" if table else ""),
                (database, table) if table else (database,),
            )
            tables = [r[0] for r in cur.fetchall()]
            if not tables:
                raise DomainError("invalid", f"{database}.{table or '*'} does not exist on {instance}")
            for name in tables:
                cur.execute(f"SELECT 1 FROM {quote(database)}.{quote(name)} LIMIT 1")
                if cur.fetchone():
                    return True
        return False

    return ask(instance, question, host_mapping=host_mapping)


# position_at_time reads the binlog over the replication protocol (SHOW BINLOG EVENTS has no event times).
# It registers as a replica of its own, never with the dump's server_id: a second replica with the same id
# would make the server drop the running dump's connection.
POSITION_SCAN_SERVER_ID_BASE = 2**31


def position_at_time(instance, when: int) -> dict:
    """{'file', 'pos', 'when'}: where the first transaction written at or after `when` (epoch seconds) starts.

    The newest binary log that began at or before `when` is found by the time of each file's first event,
    then read from its start to the first transaction (GTID event, or BEGIN / DDL without GTIDs) stamped at or
    after `when`. DomainError("invalid") when the server has nothing written at or after `when`, or when its
    oldest binary log began after `when` (what was written since then is no longer on the server)."""
    from pymysqlreplication import BinLogStreamReader
    from pymysqlreplication.event import FormatDescriptionEvent, GtidEvent, MariadbGtidEvent, QueryEvent

    at = timezone_text(when)

    def reader(settings, file, events):
        return BinLogStreamReader(
            connection_settings=settings, server_id=POSITION_SCAN_SERVER_ID_BASE + instance.slave_id % 2**30,
            blocking=False, log_file=file, log_pos=4, resume_stream=True, only_events=events,
            pymysql_wrapper=source.SourceConnection, enable_logging=False, freeze_schema=True,
        )

    def file_start(settings, file):
        stream = reader(settings, file, [FormatDescriptionEvent])
        try:
            event = stream.fetchone()
            return event.timestamp if event is not None else None
        finally:
            stream.close()

    def question(conn):
        logs = [name for name, _size in source.binary_logs(conn)]
        if not logs:
            raise DomainError("invalid", f"{instance} has no binary logs (binary logging is off)")
        host, port, user, password = source.instance_endpoint(instance)
        settings = {"host": host, "port": int(port), "user": user, "passwd": password or "", "charset": "utf8mb4",
                    "connect_timeout": 5, "read_timeout": 30}
        oldest = file_start(settings, logs[0])
        if oldest is not None and oldest > when:
            raise DomainError("invalid", f"the oldest binary log on {instance} ({logs[0]}) began at"
                                         f" {timezone_text(oldest)}, after {at}: the changes written since then are"
                                         " no longer on the server")
        low, high = 0, len(logs) - 1  # the newest file that began at or before `when`
        while low < high:
            middle = (low + high + 1) // 2
            started = file_start(settings, logs[middle])
            if started is not None and started <= when:
                low = middle
            else:
                high = middle - 1
        stream = reader(settings, logs[low], [GtidEvent, MariadbGtidEvent, QueryEvent])
        try:
            after_gtid = False
            for event in stream:
                # A BEGIN or DDL right after a GTID event is that transaction's second event, and a COMMIT ends
                # one: neither is where a transaction starts.
                starts = not (isinstance(event, QueryEvent)
                              and (after_gtid or event.query.strip().upper() == "COMMIT"))
                after_gtid = isinstance(event, (GtidEvent, MariadbGtidEvent))
                if starts and event.timestamp >= when:
                    return {"file": stream.log_file, "pos": event.packet.log_pos - event.packet.event_size,
                            "when": event.timestamp}
        finally:
            stream.close()
        raise DomainError("invalid", f"nothing was written to the binary logs of {instance} at or after {at}:"
                                     f" they end before it")

    return ask(instance, question)


def timezone_text(epoch) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


# --- form helpers: test a connection, list a source's schema, preview a table regex ---------------------------
# They answer a button or a picker while someone waits, so each is bounded: short timeouts (check_grant's
# own for a test), at most SCHEMA_LIST_LIMIT names read, a regex of at most PREVIEW_PATTERN_MAX characters
# matched by RE2.
SCHEMA_CONNECT_TIMEOUT = 3
SCHEMA_READ_TIMEOUT = 5
SCHEMA_LIST_LIMIT = 500
PREVIEW_PATTERN_MAX = 1000
SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys")


def test_connection(caller, host, port, user="", password="", group=None, instance=None):
    """What `grant` checks (reachable and signed in, log_bin, binlog_format ROW, row image and metadata FULL,
    replication privileges) for these connection values, changing nothing: a workers.source.GrantReport.

    Only an admin of the group (of the instance when editing one) may ask. The connection goes through
    workers.source (TOWER_SOURCE_NETWORKS, no cleartext password). A blank user means the DBA's global dump
    account, which goes only to an approved instance's own address; a blank password on an edit form means
    the instance's stored one, for its own user and address. A use of stored credentials is audited."""
    from console.domain.caller import as_caller
    from console.domain.instances import HOST_RE

    caller = as_caller(caller)
    group_id = instance.group_id if instance is not None else getattr(group, "pk", None)
    if group_id is None:
        raise DomainError("invalid", "Choose the group the instance is for.", "group")
    if not caller.can_admin(group_id):
        raise DomainError("forbidden", "Only an admin of the group may test a connection to a source.")
    host = host.strip() if isinstance(host, str) else ""
    if not HOST_RE.match(host):
        raise DomainError("invalid", "Give the source's host name or IP address.", "host")
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise DomainError("invalid", "Port must be an integer.", "port") from None
    if not 0 < port < 65536:
        raise DomainError("invalid", "Port must be between 1 and 65535.", "port")
    own_address = instance is not None and (host, port) == (instance.host, instance.port)
    stored = own_address and (not user or (user == instance.user and not password))
    if not user and not own_address:
        raise DomainError("invalid", "Give the dump user to test: the global dump account is used only for the "
                                     "address a DBA approved, once the instance is registered and approved.", "user")
    if stored:
        try:
            host, port, user, password = source.instance_endpoint(instance, host_mapping={})
        except source.SourceRefused as exc:
            raise DomainError("forbidden", str(exc)) from exc
    report = source.check_grant(host, port, user, password)
    if stored:
        audit.record_source_connect(instance, "test_connection", "connected" if report.checks[0].ok else "cannot connect")
    return report


def _readable_instance(caller, instance):
    from console.domain.caller import as_caller

    if not as_caller(caller).can_view(instance.group_id):
        raise DomainError("not_found", "No such instance.")


def list_schema(caller, instance, schema="") -> dict:
    """For pickers: {'schemas': [...]} of the source, or with `schema` {'schema', 'tables': {table: [column,
    ...]}}; at most SCHEMA_LIST_LIMIT names each ('truncated' says when more exist). Members of the instance's
    group only."""
    _readable_instance(caller, instance)
    schema = (schema or "").strip()
    if len(schema) > 64:
        raise DomainError("invalid", "A schema name has at most 64 characters.", "schema")
    limit = SCHEMA_LIST_LIMIT

    def schema_names(conn):
        with conn.cursor() as cur:
            cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN (%s, %s, %s, %s) "
                        "ORDER BY SCHEMA_NAME LIMIT %s", (*SYSTEM_SCHEMAS, limit + 1))
            names = [row[0] for row in cur.fetchall()]
        return {"schemas": names[:limit], "truncated": len(names) > limit}

    def schema_columns(conn):
        with conn.cursor() as cur:
            cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                        "AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME LIMIT %s", (schema, limit + 1))
            names = [row[0] for row in cur.fetchall()]
            truncated, names = len(names) > limit, names[:limit]
            tables = {name: [] for name in names}
            if names:
                cur.execute("SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
                            "AND TABLE_NAME IN (" + ",".join(["%s"] * len(names)) + ") "
                            "ORDER BY TABLE_NAME, ORDINAL_POSITION LIMIT %s", (schema, *names, limit + 1))
                rows = cur.fetchall()
                truncated = truncated or len(rows) > limit
                for table, column in rows[:limit]:
                    tables[table].append(column)
        return {"schema": schema, "tables": tables, "truncated": truncated}

    question = schema_columns if schema else schema_names
    return ask(instance, question, connect_timeout=SCHEMA_CONNECT_TIMEOUT, read_timeout=SCHEMA_READ_TIMEOUT)


def preview_table_regex(caller, instance, pattern) -> dict:
    """{'matched': ['schema.table', ...], 'truncated'}: which of the source's first SCHEMA_LIST_LIMIT tables a
    filter's table regex matches (RE2, as the dump matches it). Members of the instance's group only."""
    from workers import filters

    _readable_instance(caller, instance)
    if not isinstance(pattern, str) or not pattern:
        raise DomainError("invalid", "Give a table regex, e.g. shop\\.orders_.*", "pattern")
    if len(pattern) > PREVIEW_PATTERN_MAX:
        raise DomainError("invalid", f"A table regex has at most {PREVIEW_PATTERN_MAX} characters.", "pattern")
    try:
        regex = filters.compile_user_regex(pattern)
    except filters.FilterError as exc:
        raise DomainError("invalid", exc.message, "pattern") from exc

    def source_tables(conn):
        return filters.source_tables(conn, limit=SCHEMA_LIST_LIMIT + 1)

    tables = ask(instance, source_tables, connect_timeout=SCHEMA_CONNECT_TIMEOUT, read_timeout=SCHEMA_READ_TIMEOUT)
    return {"matched": [name for name in tables[:SCHEMA_LIST_LIMIT] if regex.fullmatch(name)],
            "truncated": len(tables) > SCHEMA_LIST_LIMIT}
