"""Jobs (= subscriptions = TiCDC changefeeds = CCR jobs): create, pause, resume, delete, steer.

Every machine surface calls these, so a job paused through one surface is
paused for all of them, and every change is checked and audited once. `caller`
is a console.api.caller.Caller. Failures raise JobError with a `kind` each
surface turns into its own error shape:

    invalid    the request is wrong (400)
    forbidden  the caller may see the object but not change it (403)
    not_found  no such object visible to the caller (404)
    exists     the name is taken (409 / 400)
    state      not allowed in the object's current state (409 / 400)
    source     the MySQL source could not be reached or checked (502 / 400)

State changes the engine must react to go through workers.control (pause,
resume with its rewind bookkeeping, miss, move_dump), so the API and the
console drive the engine the same way. What else the engine reads: `phase`
(`FullSync` = copy the tables first, then stream; workers/snapshot.py),
`tables`, `options["src_host_mapping"]` (the host the source is reached at),
and the TiCDC options, acted on by workers/changefeed.py with the ts rule of
workers.tso: `start_ts` (transactions before it are passed over; a
start_ts older than the instance's dumped position is refused here, and the
job's checkpoint is created at once at that position so nothing after
start_ts is missed), `target_ts` (the job becomes `finished` at the first
transaction after it, which is not delivered), `options["ignore_txn_start_ts"]`
(those transactions are skipped, counted and audited) and
`options["sink_config"]` (`protocol` for kafka/amqp sinks, `dispatchers` as the
kafka sink's per-table keys; a protocol those sinks cannot write is refused
here). Recorded but not acted on: `options["dest_host_mapping"]`.
"""
import re

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from console.choices import InstanceStatus, SubscriptionState, SyncPhase
from console.models import AuditLog, Group, Instance, Subscription, Target, TransitionError, kind_of_uri
from console.domain import fleet
from console.services import next_slave_id

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
TABLE_RULE_RE = re.compile(r"^!?[^.\s,]+\.[^.\s,]+$")

# Which states a pause / resume may start from (TiCDC's changefeed states).
PAUSABLE = (SubscriptionState.NORMAL, SubscriptionState.ERROR, SubscriptionState.FAILED)
RESUMABLE = (SubscriptionState.STOPPED, SubscriptionState.ERROR, SubscriptionState.FAILED)


class JobError(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message


# --- looking things up -------------------------------------------------------

def visible_jobs(caller):
    return caller.scope(Subscription.objects.select_related("instance", "target", "group"))


def get_job(caller, name) -> Subscription:
    if not isinstance(name, str) or not name:
        raise JobError("invalid", "give the job name")
    job = visible_jobs(caller).filter(name=name).first()
    if job is None:
        raise JobError("not_found", f"job '{name}' does not exist")
    return job


def find_instance(caller, host, port):
    return caller.scope(Instance.objects.select_related("group")).filter(host=host, port=port).first()


def parse_host_port(value):
    """'host:port' -> (host, port) or JobError."""
    if not isinstance(value, str) or ":" not in value:
        raise JobError("invalid", "upstream must be 'host:port'")
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise JobError("invalid", f"upstream '{value}' is not 'host:port'")
    return host, int(port)


def check_table_rules(rules):
    if not isinstance(rules, list) or not rules or not all(isinstance(r, str) for r in rules):
        raise JobError("invalid", "table rules must be a non-empty list of 'schema.table' patterns")
    for rule in rules:
        if not TABLE_RULE_RE.match(rule.strip()):
            raise JobError("invalid", f"table rule '{rule}' is not 'schema.table' (wildcards * and ?, ! excludes)")
    return ",".join(r.strip() for r in rules)


def _require_admin(caller, group_id):
    if not caller.can_admin(group_id):
        raise JobError("forbidden", "only an admin of the job's group may change it")


# --- sources -----------------------------------------------------------------

def register_source(caller, host, port, user, password, group_name="default"):
    """A super admin names a source Tower does not know: register it and take it straight to `dump`.

    It goes through the ordinary workflow methods (apply, approve, grant,
    start_dump), so each step is checked and audited like in the console; the
    grant checks (ROW binlog, privileges) run against the real server first.
    """
    from workers import source

    if not caller.is_super:
        raise JobError("not_found", f"source {host}:{port} is not registered in any of your groups")
    if Instance.objects.filter(host=host, port=port).exists():
        raise JobError("forbidden", f"source {host}:{port} is registered in another group")
    report = source.check_grant(host, port, user, password)
    if not report.ok:
        raise JobError("source", "; ".join(c.reason for c in report.failures()))
    try:
        conn = source.connect(host, port, user, password)
        try:
            status = source.master_status(conn)
        finally:
            conn.close()
    except Exception as exc:  # pymysql errors, binlog off
        raise JobError("source", f"cannot read the master status of {host}:{port}: {exc}") from exc
    actor = caller.actor
    with transaction.atomic():
        group = Group.objects.filter(name=group_name).first()
        if group is None:
            group = Group.objects.create(name=group_name, mark="created by an API job")
            AuditLog.record(actor, "create", group, after={"name": group.name})
        instance = Instance.objects.create(
            group=group, host=host, port=port, user=user, password=password, slave_id=next_slave_id(),
        )
        AuditLog.record(actor, "register_source", instance, after={"host": host, "port": port, "group": group.name},
                        message="registered by a super admin's API job")
        instance.apply(actor, request_id=f"api-{instance.pk[:12]}", url="")
        instance.approve(actor, comment="registered by a super admin's API job")
        instance.grant(actor)
        instance.start_dump(actor, status["file"], status["pos"], status["gtid"], candidates=fleet.live_worker_names()[:3])
    return instance


def table_has_rows(caller, instance, database, table="", host_mapping=None) -> bool:
    """Whether the source table (or any table of the database) has a row: then the job starts with a full sync.

    It connects with the instance's stored credentials, through `host_mapping` (the job's, about to be saved)
    when given: only an admin of the instance's group may have that done."""
    from workers import source

    _require_admin(caller, instance.group_id)

    def quote(name):
        return "`" + name.replace("`", "``") + "`"

    try:
        conn = source.connect_instance(instance, host_mapping=host_mapping)
    except source.SourceRefused as exc:
        raise JobError("forbidden", str(exc)) from exc
    except Exception as exc:
        raise JobError("source", f"cannot connect to {instance}: {exc}") from exc
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_TYPE='BASE TABLE'"
                + (" AND TABLE_NAME=%s" if table else ""),
                (database, table) if table else (database,),
            )
            tables = [r[0] for r in cur.fetchall()]
            if not tables:
                raise JobError("invalid", f"{database}.{table or '*'} does not exist on {instance}")
            for name in tables:
                cur.execute(f"SELECT 1 FROM {quote(database)}.{quote(name)} LIMIT 1")
                if cur.fetchone():
                    return True
        return False
    finally:
        conn.close()


# --- targets -----------------------------------------------------------------

def _check_sink_uri(sink_uri):
    if not isinstance(sink_uri, str) or not sink_uri:
        raise JobError("invalid", "sink_uri is required")
    try:
        kind_of_uri(sink_uri)
    except ValidationError as exc:
        raise JobError("invalid", exc.messages[0]) from exc


def _target_for(group, job_name, sink_uri):
    """A target of the job's own (named after it), reused when an unused one with the same URI is left."""
    name, n = job_name, 1
    while True:
        existing = Target.objects.filter(group=group, name=name).first()
        if existing is None:
            return Target.objects.create(group=group, name=name, uri=sink_uri, options={"created_for": job_name})
        if existing.uri == sink_uri and not existing.subscriptions.exists():
            return existing
        n += 1
        name = f"{job_name}-{n}"


def _drop_own_target(target, job_name):
    if target.options.get("created_for") == job_name and not target.subscriptions.exists():
        target.delete()


def _job_snapshot(job):
    return {
        "name": job.name, "state": job.state, "phase": job.phase, "tables": job.tables,
        "target": job.target.name, "sink_uri": job.target.display_uri, "start_ts": job.start_ts,
        "target_ts": job.target_ts,
    }


def _check_changefeed(instance, sink_uri, options, start_ts=0):
    from workers import changefeed

    try:
        changefeed.check_start_ts(instance, start_ts)
        changefeed.check_sink_config(sink_uri, options)
    except ValueError as exc:
        raise JobError("invalid", str(exc)) from exc


def _checkpoint_now(instance, job):
    """A job with a start_ts starts at the instance position its start_ts was checked against (<= start_ts),
    not at wherever the dump is when it notices the job: no transaction at or after start_ts is missed."""
    from workers import checkpoints

    checkpoints.ensure_rows(instance, [job], instance.leader_version)


# --- the job operations --------------------------------------------------------

def create_job(caller, *, name, instance, sink_uri, tables="*.*", options=None, start_ts=0, target_ts=0,
               full_sync=False):
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise JobError("invalid", "the job name must be 1-128 letters, digits, '_', '-' or '.'")
    _check_sink_uri(sink_uri)
    _require_admin(caller, instance.group_id)
    if instance.status != InstanceStatus.DUMP:
        raise JobError("state", f"instance {instance} is not approved for dumping yet (status '{instance.status}')")
    for field, value in (("start_ts", start_ts), ("target_ts", target_ts)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value >= 1 << 63:
            raise JobError("invalid", f"{field} must be an unsigned 63-bit integer")
    if target_ts and start_ts and target_ts <= start_ts:
        raise JobError("invalid", "target_ts must be greater than start_ts")
    if start_ts:
        instance = Instance.objects.select_related("group").get(pk=instance.pk)  # its position as of now
    _check_changefeed(instance, sink_uri, options, start_ts)
    if Subscription.objects.filter(name=name).exists():
        raise JobError("exists", f"job '{name}' already exists")
    try:
        with transaction.atomic():
            target = _target_for(instance.group, name, sink_uri)
            job = Subscription.objects.create(
                name=name, group=instance.group, instance=instance, target=target, tables=tables,
                options=options or {}, start_ts=start_ts, target_ts=target_ts,
                phase=SyncPhase.FULL_SYNC if full_sync else SyncPhase.INCREMENTAL,
                created_by=getattr(caller.actor, "username", caller.actor),
            )
            AuditLog.record(caller.actor, "create_subscription", job, after=_job_snapshot(job))
            if start_ts:
                _checkpoint_now(instance, job)
    except IntegrityError as exc:
        raise JobError("exists", f"job '{name}' already exists") from exc
    return job


def _check_state(caller, job, action, allowed):
    _require_admin(caller, job.group_id)
    current = Subscription.objects.filter(pk=job.pk).values_list("state", flat=True).first()
    if current not in allowed:
        raise JobError("state", f"cannot {action} job '{job.name}' in state '{current}'")


def pause_job(caller, job):
    from workers import control

    _check_state(caller, job, "pause", PAUSABLE)
    control.pause(job, caller.actor)
    job.refresh_from_db()
    return job


def resume_job(caller, job):
    """Back to `normal`; workers.control marks what the instance read meanwhile as owed to the job."""
    from workers import control

    _check_state(caller, job, "resume", RESUMABLE)
    control.resume(job, caller.actor)
    job.refresh_from_db()
    return job


def delete_job(caller, job):
    _require_admin(caller, job.group_id)
    with transaction.atomic():
        before = _job_snapshot(job)
        target, name = job.target, job.name
        AuditLog.record(caller.actor, "delete_subscription", job, before=before)
        job.delete()
        _drop_own_target(target, name)


def update_job(caller, job, *, sink_uri=None, tables=None, target_ts=None, options=None):
    """TiCDC's update: only while the job is stopped (pause, update, resume)."""
    _require_admin(caller, job.group_id)
    if sink_uri is not None:
        _check_sink_uri(sink_uri)
    if target_ts is not None and (not isinstance(target_ts, int) or isinstance(target_ts, bool)
                                  or target_ts < 0 or target_ts >= 1 << 63):
        raise JobError("invalid", "target_ts must be an unsigned 63-bit integer")
    with transaction.atomic():
        current = Subscription.objects.select_for_update().select_related("target").get(pk=job.pk)
        if current.state != SubscriptionState.STOPPED:
            raise JobError("state", f"can only update job '{job.name}' while it is stopped (state '{current.state}')")
        before = _job_snapshot(current)
        if sink_uri is not None and sink_uri != current.target.uri:
            old_target = current.target
            if old_target.options.get("created_for") == current.name and old_target.subscriptions.count() == 1:
                old_target.uri = sink_uri
                old_target.save()
            else:
                current.target = _target_for(current.group, current.name, sink_uri)
        if tables is not None:
            current.tables = tables
        if target_ts is not None:
            current.target_ts = target_ts
        if options:
            current.options = {**current.options, **options}
        _check_changefeed(current.instance, current.target.uri, current.options)
        current.save()
        AuditLog.record(caller.actor, "update_subscription", current, before=before, after=_job_snapshot(current))
    return current


def _update_options(caller, job, action, change, message=""):
    """Apply `change(options) -> options` under a row lock and audit it."""
    _require_admin(caller, job.group_id)
    with transaction.atomic():
        current = Subscription.objects.select_for_update().get(pk=job.pk)
        before = dict(current.options)
        options = change(dict(current.options))
        Subscription.objects.filter(pk=job.pk).update(options=options)
        AuditLog.record(caller.actor, action, job, before=before, after=options, message=message)
    job.refresh_from_db()
    return job


def _control(job, error_kind, operation, *args, **kwargs):
    """The engine's refusal (ControlError) becomes a JobError of `error_kind`, which each API surface maps to its status."""
    from workers import control

    try:
        operation(job, *args, **kwargs)
    except control.ControlError as exc:
        raise JobError(error_kind, str(exc)) from exc
    job.refresh_from_db()
    return job


def skip_event(caller, job, commit_seq):
    """CCR's skip_by=silence: skip exactly the event the job is failing on, named by its commit sequence.

    The engine skips the one failing event (workers.control.miss, Bifrost's
    Miss); the commit sequence (workers.events.Position.commit_seq) must be
    that event's, so a stale or mistyped number skips nothing.
    """
    from workers import control

    if not isinstance(commit_seq, int) or isinstance(commit_seq, bool) or commit_seq <= 0:
        raise JobError("invalid", "skip_commit_seq must be a positive integer")
    _require_admin(caller, job.group_id)
    job.refresh_from_db()
    failing = (job.error_wait_data or {}).get("commit_seq") if isinstance(job.error_wait_data, dict) else None
    if failing is None:
        raise JobError("state", f"job '{job.name}' has no failing event to skip")
    if failing != commit_seq:
        raise JobError("state", f"job '{job.name}' is failing at commit_seq {failing}, not {commit_seq}")
    return _control(job, "state", control.miss, caller.actor, message=f"skip commit_seq {commit_seq}")


def miss(caller, job):
    """Bifrost's Miss: skip the event the job keeps failing on, once."""
    from workers import control

    _require_admin(caller, job.group_id)
    return _control(job, "state", control.miss, caller.actor, message="Miss")


def set_position(caller, job, binlog_file, binlog_pos, gtid=""):
    """Continue the job from a transaction boundary (Bifrost position management, reference 004)."""
    from workers import control

    _require_admin(caller, job.group_id)
    return _control(job, "invalid", control.set_position, caller.actor, binlog_file, binlog_pos, gtid)


def force_fullsync(caller, job):
    """Copy the job's tables again from scratch, then stream (CCR's skip_by=fullsync and /force_fullsync)."""
    _require_admin(caller, job.group_id)
    with transaction.atomic():
        current = Subscription.objects.select_for_update().get(pk=job.pk)
        before = {"phase": current.phase, "fullsync_done": current.fullsync_done}
        Subscription.objects.filter(pk=job.pk).update(
            phase=SyncPhase.FULL_SYNC, fullsync_total=0, fullsync_done=0, fullsync_state={}, fullsync_started=None,
        )
        AuditLog.record(caller.actor, "force_fullsync", job, before=before, after={"phase": SyncPhase.FULL_SYNC})
    job.refresh_from_db()
    return job


def _check_mapping(mapping, field):
    if mapping is None:
        return {}
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and k and isinstance(v, str)
                                                for k, v in mapping.items()):
        raise JobError("invalid", f"{field} must be an object of private host -> public host strings")
    return mapping


def update_host_mapping(caller, job, src=None, dest=None):
    """Merge private -> public host maps; an empty public host deletes that private host's mapping."""
    src = _check_mapping(src, "src_host_mapping")
    dest = _check_mapping(dest, "dest_host_mapping")
    if not src and not dest:
        raise JobError("invalid", "give src_host_mapping and/or dest_host_mapping")

    def merge(current, updates):
        merged = dict(current)
        for private, public in updates.items():
            if public:
                merged[private] = public
            else:
                merged.pop(private, None)
        return merged

    def change(options):
        options["src_host_mapping"] = merge(options.get("src_host_mapping", {}), src)
        options["dest_host_mapping"] = merge(options.get("dest_host_mapping", {}), dest)
        return options

    return _update_options(caller, job, "update_host_mapping", change)


def move_dump(caller, instance, worker_name):
    """Move an instance's dump to another worker (TiCDC move_table / rebalance): a candidate, then the leader."""
    from workers import control

    if not fleet.is_alive(worker_name):
        raise JobError("not_found", f"capture '{worker_name}' is not a live worker")
    try:
        if worker_name not in instance.candidates:
            instance.set_candidates(caller.actor, [*instance.candidates, worker_name])
        control.move_dump(instance, caller.actor, worker_name)
    except PermissionDenied as exc:
        raise JobError("forbidden", str(exc)) from exc
    except (TransitionError, control.ControlError) as exc:
        raise JobError("state", str(exc)) from exc
    return instance
