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
