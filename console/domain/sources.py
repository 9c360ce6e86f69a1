"""Questions the console and the APIs ask a source server, with the instance's approved credentials.

Every such question goes through `ask`, so an unreachable or refused source is always a DomainError of kind
`source` (or `forbidden` when Tower will not send the credentials there) with the same wording. The SQL
itself lives in workers.source, shared with the engine.
"""
from console.choices import InstanceStatus
from console.domain.errors import DomainError
from console.models import Instance
from workers import source


def ask(instance, question, host_mapping=None):
    """Run `question(conn)` on a connection to the instance; DomainError when that cannot be done."""
    try:
        conn = source.connect_instance(instance, host_mapping=host_mapping)
    except source.SourceRefused as exc:
        raise DomainError("forbidden", str(exc)) from exc
    except Exception as exc:  # pymysql errors, DNS, refused: all mean "cannot reach"
        raise DomainError("source", f"cannot connect to {instance}: {getattr(exc, 'args', [exc])[-1]}") from exc
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


def tables_matched_by_no_filter(flt) -> list:
    """Instances of the filter's group on which its table regex matches no table: ['host:port', …].

    Unreachable instances are left out (nothing can be said about them)."""
    from workers.filters import source_tables, unmatched_filters

    misses = []
    for instance in Instance.objects.filter(group_id=flt.group_id).exclude(status=InstanceStatus.INIT):
        try:
            tables = ask(instance, source_tables)
        except DomainError:
            continue
        if unmatched_filters([flt], tables):
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
