"""The schema history of an instance whose row events do not name their columns: what an operator may do to it.

The engine keeps the history (workers/schema_history.py); a statement it could not follow stops the rows of
its table, and the subscriptions that want the table show why. `resnapshot_table` is the way on: the
operator says the table's columns are, from that statement on, what the source's information_schema says now.
"""
import logging

from django.db import transaction
from django.db.models import F

from console.domain import sources
from console.domain.audit import record
from console.domain.caller import as_caller
from console.domain.errors import DomainError
from console.models import Instance, SchemaVersion
from workers import source
from workers.events import Position
from workers.schema_history import SchemaHistory, read_tables, start_on_source

log = logging.getLogger(__name__)


def start_at(instance, status) -> None:
    """Where a dump starts from the master's current position (`status`: {'file', 'pos'}), take the schema
    history of every schema of a source whose row events do not name their columns, before the dump runs:
    taken later by the dump, a DDL in between would leave its table's rows unnamed. A source that cannot be
    asked now is left to the dump, which takes the snapshot itself when it starts."""

    def schema_history_snapshot(conn):  # named as the question it asks (the audit row shows it)
        metadata = source.variables(conn, "binlog_row_metadata").get("binlog_row_metadata")
        if not source.row_metadata_problem(metadata):
            return  # FULL: the events name their columns
        start_on_source(SchemaHistory(instance.pk), conn, source.instance_endpoint(instance), instance.slave_id,
                        Position(status["file"], int(status["pos"])))

    try:
        sources.ask(instance, schema_history_snapshot)
    except DomainError as exc:
        log.warning("%s: no schema history snapshot now (%s); the dump takes it when it starts", instance, exc)


def refused_tables(instance) -> list:
    """The instance's tables whose history stopped at a statement it did not understand, latest first."""
    latest = {}
    for v in SchemaVersion.objects.filter(instance=instance).exclude(table_name="").order_by("-commit_seq"):
        latest.setdefault((v.schema_name, v.table_name), v)
    return [v for v in latest.values() if v.refused]


def resnapshot_table(caller, instance, schema, table):
    """Replace the table's refused version with the source's columns now, and start the dump again (fenced, as
    a set position does) so that the subscriptions stopped at it read its rows from there."""
    from console.domain.instances import require_admin  # instances starts the history here (start_at)

    caller = as_caller(caller)
    require_admin(caller, instance, "re-snapshot a table's schema")
    if not schema or not table:
        raise DomainError("invalid", "name the schema and the table to re-snapshot")
    refused = SchemaVersion.objects.filter(instance=instance, schema_name=schema, table_name=table) \
        .exclude(refused="").order_by("-commit_seq").first()
    if refused is None:
        raise DomainError("state", f"the schema history of {schema}.{table} on {instance} has no refused "
                                   "statement: nothing to re-snapshot")

    def table_schema(conn):
        with conn.cursor() as cur:
            return read_tables(cur, [schema])

    now = sources.ask(instance, table_schema).get((schema, table))
    if now is None:
        raise DomainError("not_found", f"{schema}.{table} is not a base table of {instance} now")
    with transaction.atomic():
        current = Instance.objects.select_for_update().get(pk=instance.pk)
        version = SchemaVersion.objects.select_for_update().get(pk=refused.pk)
        before = {"schema": schema, "table": table, "refused": version.refused,
                  "position": f"{version.binlog_file}:{version.binlog_pos}"}
        version.delete()
        created = SchemaVersion.objects.create(
            instance=current, schema_name=schema, table_name=table, binlog_file=version.binlog_file,
            binlog_pos=version.binlog_pos, commit_seq=version.commit_seq,
            columns=[c.as_json() for c in now.columns], primary_key=list(now.primary_key), charset=now.charset or "",
            statement=f"re-snapshot by {caller.actor} after: {version.statement}"[:10000])
        if current.lease_expires is not None:  # the running dump starts again with the history as it is now
            Instance.objects.filter(pk=current.pk).update(leader_version=F("leader_version") + 1,
                                                          lease_expires=None)
        record(caller.actor, "resnapshot_table", current, before=before,
               after={"schema": schema, "table": table, "columns": [c.name for c in now.columns],
                      "primary_key": list(now.primary_key)})
    return created
