"""Plain SQL questions to a source MySQL/MariaDB server (no binlog reading here)."""
from dataclasses import dataclass, field

import pymysql


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


def connect(host, port, user, password, connect_timeout=5, read_timeout=30, **kwargs):
    return pymysql.connect(
        host=host, port=int(port), user=user, password=password or "", connect_timeout=connect_timeout,
        read_timeout=read_timeout, charset="utf8mb4", autocommit=True, **kwargs,
    )


def reachable_host(instance) -> str:
    """The address to connect to: a job's `src_host_mapping` (CCR update_host_mapping) may map the
    instance's private host name to a public one that this worker can reach."""
    from console.models import Subscription

    for options in Subscription.objects.filter(instance_id=instance.pk).values_list("options", flat=True):
        mapped = (options or {}).get("src_host_mapping", {}).get(instance.host) if isinstance(options, dict) else None
        if mapped:
            return mapped
    return instance.host


def connect_instance(instance, **kwargs):
    return connect(reachable_host(instance), instance.port, instance.user, instance.password, **kwargs)


def variables(conn, *names) -> dict:
    with conn.cursor() as cur:
        cur.execute("SHOW GLOBAL VARIABLES WHERE Variable_name IN (%s)" % ",".join(["%s"] * len(names)), names)
        return {k.lower(): v for k, v in cur.fetchall()}


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
    except pymysql.MySQLError as exc:
        report.checks.append(CheckResult("reachable", False, f"cannot connect as '{user}' to {host}:{port}: {exc.args[-1]}"))
        return report
    report.checks.append(CheckResult("reachable", True))
    try:
        v = variables(conn, "log_bin", "binlog_format", "binlog_row_image")
        log_bin = v.get("log_bin", "OFF").upper()
        report.checks.append(CheckResult("log_bin", log_bin == "ON", "" if log_bin == "ON" else "binary logging is off (log_bin=OFF)"))
        fmt = v.get("binlog_format", "").upper()
        report.checks.append(CheckResult("binlog_format", fmt == "ROW", "" if fmt == "ROW" else f"binlog_format is {fmt}, ROW is required"))
        image = v.get("binlog_row_image", "").upper()
        report.checks.append(CheckResult("binlog_row_image", image == "FULL", "" if image == "FULL" else f"binlog_row_image is {image}, FULL is required"))
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
