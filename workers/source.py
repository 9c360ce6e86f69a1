"""Plain SQL questions to a source MySQL/MariaDB server (no binlog reading here).

Every connection Tower opens to a source goes through SourceConnection, and every connection made with an
instance's stored or global credentials goes through `instance_endpoint`: that is where Tower decides where a
credential may be sent (see docs/architecture.md, "Credentials").
"""
import ipaddress
import os
import re
import socket
from dataclasses import dataclass, field

import pymysql
from pymysql.constants import CR

# Authentication plugins that send the password itself over the wire; refused unless the connection is TLS.
CLEARTEXT_AUTH_PLUGINS = (b"mysql_clear_password", b"dialog")


class SourceRefused(Exception):
    """Tower will not connect there (or not with those credentials); the message is safe to show."""


@dataclass
class CheckResult:
    name: str
    ok: bool
    reason: str = ""


@dataclass
class GrantReport:
    checks: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def failures(self):
        return [c for c in self.checks if not c.ok]


def source_networks():
    """TOWER_SOURCE_NETWORKS as ip_network objects (comma separated CIDRs); empty: any address."""
    value = os.environ.get("TOWER_SOURCE_NETWORKS", "")
    return [ipaddress.ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip()]


def allowed_address(host, port) -> str:
    """The address to connect to for host:port, checked against TOWER_SOURCE_NETWORKS.

    With an allow-list, the name is resolved once and the checked address is the one connected to, so a
    name that resolves differently a moment later cannot lead the connection elsewhere."""
    networks = source_networks()
    if not networks:
        return host
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise SourceRefused(f"cannot connect to {host}:{port}")
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses or not all(any(a in net for net in networks) for a in addresses):
        raise SourceRefused(f"{host}:{port} is outside the source networks this Tower may connect to")
    return str(addresses[0])


class SourceConnection(pymysql.connections.Connection):
    """Every connection to a source: TOWER_SOURCE_NETWORKS is enforced, a cleartext password is never sent
    outside TLS, and a failed connect does not say whether the port was open.

    It also builds its TLS context for PREFERRED mode once per process.

    With no TLS options pymysql tries TLS when the server offers it, and builds a new default
    context for every connection: reading the system CA store takes ~25 ms of CPU each time,
    paid by every dump start, reconnect and status sample. That context (no CA, no
    verification) is the same every time, so one is shared; explicit TLS options still get
    their own context.
    """

    _preferred_tls = None

    def _create_ssl_ctx(self, sslp):
        if sslp != {}:
            return super()._create_ssl_ctx(sslp)
        cls = SourceConnection
        if cls._preferred_tls is None:
            cls._preferred_tls = super()._create_ssl_ctx({})
        return cls._preferred_tls

    def connect(self, sock=None):
        if sock is None:
            self.host = allowed_address(self.host, self.port)
        try:
            return super().connect(sock)
        except pymysql.OperationalError as exc:
            if exc.args and exc.args[0] == CR.CR_CONN_HOST_ERROR:
                # "refused" vs "timed out" would tell a prober which ports are open on a host
                raise pymysql.OperationalError(CR.CR_CONN_HOST_ERROR, f"cannot connect to {self.host}:{self.port}") from None
            raise

    def _process_auth(self, plugin_name, auth_packet, handler=None):
        if plugin_name in CLEARTEXT_AUTH_PLUGINS and not self._secure:
            raise pymysql.OperationalError(
                CR.CR_AUTH_PLUGIN_ERR,
                f"{self.host}:{self.port} asked for the password in clear text ({plugin_name.decode()}); "
                "Tower sends it only over TLS",
            )
        return super()._process_auth(plugin_name, auth_packet, handler)


def connect(host, port, user, password, connect_timeout=5, read_timeout=30, **kwargs):
    return SourceConnection(
        host=host, port=int(port), user=user, password=password or "", connect_timeout=connect_timeout,
        read_timeout=read_timeout, charset="utf8mb4", autocommit=True, **kwargs,
    )


def mapped_host(instance):
    """A job's `src_host_mapping` (CCR update_host_mapping) for the instance's host name, or None: it maps
    the instance's private host name to a public one that this worker can reach."""
    from console.models import Subscription

    for options in Subscription.objects.filter(instance_id=instance.pk).values_list("options", flat=True):
        mapped = (options or {}).get("src_host_mapping", {}).get(instance.host) if isinstance(options, dict) else None
        if mapped:
            return mapped
    return None


def instance_endpoint(instance, host_mapping=None):
    """(host, port, user, password) for a connection to the instance's source.

    An instance without a user of its own uses the DBA's global dump account, and that account goes only
    to the host:port the DBA approved (the instance is past the DBA's approval) and never through a host
    mapping, which a group admin sets. Anything else raises SourceRefused before a socket is opened.
    `host_mapping` is a mapping about to be saved; without it the stored one applies."""
    from console.choices import DBA_APPROVED
    from console.models import Config

    host = (host_mapping or {}).get(instance.host) if host_mapping is not None else mapped_host(instance)
    if instance.user:
        return host or instance.host, instance.port, instance.user, instance.password
    if instance.status not in DBA_APPROVED:
        raise SourceRefused(
            f"{instance} has no dump user of its own, and the global dump account is used only once a DBA has "
            f"approved the instance (it is '{instance.status}')")
    if host and host != instance.host:
        raise SourceRefused(
            f"the global dump account goes only to the approved address {instance}, not through a host mapping "
            "to " + host + ": give the instance a dump user of its own to use a mapping")
    config = Config.current()
    return instance.host, instance.port, config.dump_user, config.dump_password


def connect_instance(instance, host_mapping=None, **kwargs):
    host, port, user, password = instance_endpoint(instance, host_mapping)
    return connect(host, port, user, password, **kwargs)


def variables(conn, *names) -> dict:
    with conn.cursor() as cur:
        cur.execute("SHOW GLOBAL VARIABLES WHERE Variable_name IN (%s)" % ",".join(["%s"] * len(names)), names)
        return {k.lower(): v for k, v in cur.fetchall()}


def row_metadata_problem(value) -> str:
    """"" when the server's row events name their columns (its binlog_row_metadata `value` is FULL), else
    why they don't (None: the server has no such variable).

    Without FULL, python-mysql-replication would name columns UNKNOWN_COL0.. and decode ENUM and SET values
    as None: the dump names them from the instance's schema history instead (workers/schema_history.py)."""
    if value is None:
        return ("the server has no binlog_row_metadata (MySQL before 8.0.1, MariaDB before 10.5): its row events "
                "do not name their columns")
    if value.upper() != "FULL":
        return (f"binlog_row_metadata is {value.upper()}: row events do not name their columns nor carry "
                "ENUM/SET values")
    return ""


def row_metadata_mode(value) -> str:
    """Which way the instance's rows get their column names, as the grant check says it."""
    problem = row_metadata_problem(value)
    if not problem:
        return "binlog_row_metadata is FULL: row events name their columns"
    return (f"{problem}; Tower names them from its schema history (a snapshot of information_schema, then every "
            "DDL in the binlog; docs/schema-history.md)")


def is_mariadb(conn) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        return "mariadb" in cur.fetchone()[0].lower()


def master_status(conn) -> dict:
    """{'file', 'pos', 'gtid'}: where the server's binlog ends now (gtid: MariaDB gtid_binlog_pos or MySQL set)."""
    with conn.cursor() as cur:
        cur.execute("SHOW MASTER STATUS")
        row = cur.fetchone()
        if not row:
            raise RuntimeError("binary logging is off on this server (SHOW MASTER STATUS is empty)")
        file, pos = row[0], int(row[1])
        gtid = row[4] if len(row) > 4 and row[4] else ""
        if not gtid and is_mariadb(conn):
            cur.execute("SELECT @@GLOBAL.gtid_binlog_pos")
            gtid = cur.fetchone()[0] or ""
    return {"file": file, "pos": pos, "gtid": gtid}


def binary_logs(conn) -> list:
    """[(file name, size)] from SHOW BINARY LOGS, oldest first."""
    with conn.cursor() as cur:
        cur.execute("SHOW BINARY LOGS")
        return [(r[0], int(r[1])) for r in cur.fetchall()]


def check_grant(host, port, user, password) -> GrantReport:
    """What `grant` verifies before an instance may dump: each check with its reason when it fails."""
    report = GrantReport()
    try:
        conn = connect(host, port, user, password)
    except (pymysql.MySQLError, SourceRefused) as exc:
        report.checks.append(CheckResult("reachable", False, f"cannot connect as '{user}' to {host}:{port}: {exc.args[-1]}"))
        return report
    report.checks.append(CheckResult("reachable", True))
    try:
        v = variables(conn, "log_bin", "binlog_format", "binlog_row_image", "binlog_row_metadata")
        log_bin = v.get("log_bin", "OFF").upper()
        report.checks.append(CheckResult("log_bin", log_bin == "ON", "" if log_bin == "ON" else "binary logging is off (log_bin=OFF)"))
        fmt = v.get("binlog_format", "").upper()
        report.checks.append(CheckResult("binlog_format", fmt == "ROW", "" if fmt == "ROW" else f"binlog_format is {fmt}, ROW is required"))
        image = v.get("binlog_row_image", "").upper()
        report.checks.append(CheckResult("binlog_row_image", image == "FULL", "" if image == "FULL" else f"binlog_row_image is {image}, FULL is required"))
        # Passes either way; its reason says which mode the instance will use.
        report.checks.append(CheckResult("binlog_row_metadata", True, row_metadata_mode(v.get("binlog_row_metadata"))))
        with conn.cursor() as cur:
            cur.execute("SHOW GRANTS FOR CURRENT_USER()")
            grants = " ".join(r[0].upper() for r in cur.fetchall())
        for privilege in ("REPLICATION SLAVE", "REPLICATION CLIENT"):
            # MariaDB 10.5+ names REPLICATION CLIENT "BINLOG MONITOR"; ALL PRIVILEGES covers both.
            aliases = {privilege, "ALL PRIVILEGES"} | ({"BINLOG MONITOR"} if privilege == "REPLICATION CLIENT" else set())
            ok = any(a in grants for a in aliases)
            report.checks.append(CheckResult(privilege.lower().replace(" ", "_"), ok, "" if ok else f"'{user}' lacks {privilege}"))
    finally:
        conn.close()
    return report


@dataclass(frozen=True)
class SourceColumn:
    name: str
    data_type: str  # information_schema DATA_TYPE, lower case; "json" for MariaDB's JSON-checked LONGTEXT too
    column_type: str  # COLUMN_TYPE as the server spells it (e.g. "decimal(30,10) unsigned")
    nullable: bool
    primary_key: bool


@dataclass(frozen=True)
class TableDescription:
    schema: str
    table: str
    columns: tuple  # SourceColumn, in table order
    primary_key: tuple  # column names, in key order


# MariaDB stores JSON as LONGTEXT with a CHECK (json_valid(`col`)); the name may be quoted with doubled backticks.
_JSON_CHECK = re.compile(r"json_valid\(\s*(`(?:[^`]|``)+`|[\w$]+)\s*\)", re.I)


def json_columns(conn, schema, table) -> frozenset:
    """Columns MariaDB declared as JSON (LONGTEXT + json_valid CHECK); MySQL's JSON type says so itself."""
    found = set()
    with conn.cursor() as cur:
        try:
            cur.execute("SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
                        "WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME = %s", (schema, table))
        except pymysql.MySQLError:  # MySQL < 8.0.16 has no CHECK_CONSTRAINTS
            return frozenset()
        for (clause,) in cur.fetchall():
            for name in _JSON_CHECK.findall(clause or ""):
                found.add(name[1:-1].replace("``", "`") if name.startswith("`") else name)
    return frozenset(found)


def describe_table(conn, schema, table) -> TableDescription:
    """A source table's columns and primary key from information_schema (one place for every reader)."""
    with conn.cursor() as cur:
        cur.execute("SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS "
                    "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION", (schema, table))
        rows = cur.fetchall()
        cur.execute("SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = %s "
                    "AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION", (schema, table))
        primary_key = tuple(r[0] for r in cur.fetchall())
    json_cols = json_columns(conn, schema, table)
    columns = tuple(
        SourceColumn(name, "json" if name in json_cols else data_type.lower(), column_type, nullable == "YES",
                     name in primary_key)
        for name, data_type, column_type, nullable in rows
    )
    return TableDescription(schema, table, columns, primary_key)
