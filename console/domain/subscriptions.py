"""Subscriptions (= TiCDC changefeeds = CCR jobs = BinLake bindings in the engine): create, change, steer.

Every surface calls these, so a subscription paused through one surface is paused for all of them, and
every change is checked and audited once. `caller` is a console.domain.caller.Caller (or anything
`as_caller` takes). Failures raise DomainError.

The running dump notices every change here within about a second (it reloads its subscriptions and
compares checkpoints with what it last wrote):
- pause / resume: stop delivering to one subscription without touching the others; on resume whatever
  the instance read meanwhile is marked as owed to it (the checkpoint's `queued` position) and the dump
  rewinds for it;
- miss / skip_event: skip exactly the one event the subscription keeps failing on;
- set_position: where the subscription continues from (changes after it are delivered again).

What else the engine reads: `phase` (`FullSync` = copy the tables first, then stream;
workers/snapshot.py), `tables`, `options["src_host_mapping"]` (the host the source is reached at), and the
TiCDC options, acted on by workers/changefeed.py with the ts rule of workers.tso: `start_ts`
(transactions before it are passed over; a start_ts older than the instance's dumped position is refused
here, and the job's checkpoint is created at once at that position so nothing after start_ts is missed),
`target_ts` (the job becomes `finished` at the first transaction after it, which is not delivered),
`options["ignore_txn_start_ts"]` (those transactions are skipped, counted and audited) and
`options["sink_config"]` (`protocol` for kafka/amqp sinks, `dispatchers` as the kafka sink's per-table
keys; a protocol those sinks cannot write is refused here). Recorded but not acted on:
`options["dest_host_mapping"]`.
"""
import re

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from console.choices import InstanceStatus, SubscriptionState, SyncPhase
from console.domain import sources
from console.domain.audit import record
from console.domain.caller import as_caller
from console.domain.errors import DomainError
from console.models import Checkpoint, Instance, Subscription, Target, kind_of_uri

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
TABLE_RULE_RE = re.compile(r"^!?[^.\s,]+\.[^.\s,]+$")

# Which states a pause / resume may start from (TiCDC's changefeed states); the target state itself is
# accepted too and changes nothing, since scripts retry.
PAUSABLE = (SubscriptionState.NORMAL, SubscriptionState.ERROR, SubscriptionState.FAILED)
RESUMABLE = (SubscriptionState.STOPPED, SubscriptionState.ERROR, SubscriptionState.FAILED)


# --- looking things up -------------------------------------------------------

def visible_jobs(caller):
    return caller.scope(Subscription.objects.select_related("instance", "target", "group"))


def get_job(caller, name) -> Subscription:
    if not isinstance(name, str) or not name:
        raise DomainError("invalid", "give the job name")
    job = visible_jobs(caller).filter(name=name).first()
    if job is None:
        raise DomainError("not_found", f"job '{name}' does not exist")
    return job


def name_taken(name) -> bool:
    """Job names are unique across groups (TiCDC changefeed ids and CCR job names are global)."""
    return Subscription.objects.filter(name=name).exists()


def find_instance(caller, host, port):
    return caller.scope(Instance.objects.select_related("group")).filter(host=host, port=port).first()


def parse_host_port(value):
    """'host:port' -> (host, port) or DomainError."""
    if not isinstance(value, str) or ":" not in value:
        raise DomainError("invalid", "upstream must be 'host:port'")
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise DomainError("invalid", f"upstream '{value}' is not 'host:port'")
    return host, int(port)


def check_table_rules(rules):
    if not isinstance(rules, list) or not rules or not all(isinstance(r, str) for r in rules):
        raise DomainError("invalid", "table rules must be a non-empty list of 'schema.table' patterns")
    for rule in rules:
        if not TABLE_RULE_RE.match(rule.strip()):
            raise DomainError("invalid", f"table rule '{rule}' is not 'schema.table' (wildcards * and ?, ! excludes)")
    return ",".join(r.strip() for r in rules)


def _require_admin(caller, group_id):
    if not as_caller(caller).can_admin(group_id):
        raise DomainError("forbidden", "only an admin of the job's group may change it")


def table_has_rows(caller, instance, database, table="", host_mapping=None) -> bool:
    """Whether the source table (or any table of the database) has a row: then the job starts with a full sync.

    It connects with the instance's stored credentials, through `host_mapping` (the job's, about to be saved)
    when given: only an admin of the instance's group may have that done."""
    _require_admin(caller, instance.group_id)
    return sources.table_has_rows(instance, database, table, host_mapping)


# --- targets -----------------------------------------------------------------

def _check_sink_uri(sink_uri):
    if not isinstance(sink_uri, str) or not sink_uri:
        raise DomainError("invalid", "sink_uri is required")
    try:
        kind_of_uri(sink_uri)
    except ValidationError as exc:
        raise DomainError("invalid", exc.messages[0]) from exc


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
        raise DomainError("invalid", str(exc)) from exc


def _checkpoint_now(instance, job):
    """A job with a start_ts starts at the instance position its start_ts was checked against (<= start_ts),
    not at wherever the dump is when it notices the job: no transaction at or after start_ts is missed."""
    from workers import checkpoints

    checkpoints.ensure_rows(instance, [job], instance.leader_version)


# --- the job operations --------------------------------------------------------

def create_job(caller, *, name, instance, sink_uri, tables="*.*", options=None, start_ts=0, target_ts=0,
               full_sync=False):
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise DomainError("invalid", "the job name must be 1-128 letters, digits, '_', '-' or '.'")
    _check_sink_uri(sink_uri)
    _require_admin(caller, instance.group_id)
    if instance.status != InstanceStatus.DUMP:
        raise DomainError("state", f"instance {instance} is not approved for dumping yet (status '{instance.status}')")
    for field, value in (("start_ts", start_ts), ("target_ts", target_ts)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value >= 1 << 63:
            raise DomainError("invalid", f"{field} must be an unsigned 63-bit integer")
    if target_ts and start_ts and target_ts <= start_ts:
        raise DomainError("invalid", "target_ts must be greater than start_ts")
    if start_ts:
        instance = Instance.objects.select_related("group").get(pk=instance.pk)  # its position as of now
    _check_changefeed(instance, sink_uri, options, start_ts)
    if Subscription.objects.filter(name=name).exists():
        raise DomainError("exists", f"job '{name}' already exists")
    try:
        with transaction.atomic():
            target = _target_for(instance.group, name, sink_uri)
            job = Subscription.objects.create(
                name=name, group=instance.group, instance=instance, target=target, tables=tables,
                options=options or {}, start_ts=start_ts, target_ts=target_ts,
                phase=SyncPhase.FULL_SYNC if full_sync else SyncPhase.INCREMENTAL,
                created_by=getattr(caller.actor, "username", caller.actor),
            )
            record(caller.actor, "create_subscription", job, after=_job_snapshot(job))
            if start_ts:
                _checkpoint_now(instance, job)
    except IntegrityError as exc:
        raise DomainError("exists", f"job '{name}' already exists") from exc
    return job


def _state_snapshot(sub):
    return {"state": sub.state, "skip_next": sub.skip_next, "error": sub.error}


def _set_state(caller, job, action, verb, allowed, state):
    """Move the job to `state` from one of `allowed` (already there: nothing to do), audited."""
    caller = as_caller(caller)
    _require_admin(caller, job.group_id)
    with transaction.atomic():
        current = Subscription.objects.select_for_update().get(pk=job.pk)
        if current.state == state:
            job.refresh_from_db()
            return job
        if current.state not in allowed:
            raise DomainError("state", f"cannot {verb} job '{job.name}' in state '{current.state}'")
        before = _state_snapshot(current)
        Subscription.objects.filter(pk=job.pk).update(state=state, update_time=timezone.now())
        current.state = state
        if state == SubscriptionState.NORMAL:
            _mark_behind(current)
        record(caller.actor, action, current, before=before, after=_state_snapshot(current))
    job.refresh_from_db()
    return job


def pause_job(caller, job):
    return _set_state(caller, job, "pause_subscription", "pause", PAUSABLE, SubscriptionState.STOPPED)


def resume_job(caller, job):
    """Back to `normal`; whatever the instance read meanwhile is marked as owed to the job."""
    return _set_state(caller, job, "resume_subscription", "resume", RESUMABLE, SubscriptionState.NORMAL)


def _mark_behind(sub):
    """Whatever the instance read while the subscription was away is still owed to it (its `queued` position)."""
    instance = Instance.objects.get(pk=sub.instance_id)
    cp = Checkpoint.objects.filter(instance_id=sub.instance_id, subscription=sub).first()
    if cp is None or not instance.binlog_file:
        return
    if _seq(instance.binlog_file, instance.binlog_pos) > _seq(cp.queued_file, cp.queued_pos):
        Checkpoint.objects.filter(pk=cp.pk).update(
            queued_file=instance.binlog_file, queued_pos=instance.binlog_pos, queued_gtid=instance.gtid_set,
            update_time=timezone.now(),
        )


def _seq(file, pos):
    suffix = (file or "").rsplit(".", 1)[-1]
    return ((int(suffix) if suffix.isdigit() else 0) << 32) | int(pos or 0)


def delete_job(caller, job):
    _require_admin(caller, job.group_id)
    with transaction.atomic():
        before = _job_snapshot(job)
        target, name = job.target, job.name
        record(caller.actor, "delete_subscription", job, before=before)
        job.delete()
        _drop_own_target(target, name)


def update_job(caller, job, *, sink_uri=None, tables=None, target_ts=None, options=None):
    """TiCDC's update: only while the job is stopped (pause, update, resume)."""
    _require_admin(caller, job.group_id)
    if sink_uri is not None:
        _check_sink_uri(sink_uri)
    if target_ts is not None and (not isinstance(target_ts, int) or isinstance(target_ts, bool)
                                  or target_ts < 0 or target_ts >= 1 << 63):
        raise DomainError("invalid", "target_ts must be an unsigned 63-bit integer")
    with transaction.atomic():
        current = Subscription.objects.select_for_update().select_related("target").get(pk=job.pk)
        if current.state != SubscriptionState.STOPPED:
            raise DomainError("state", f"can only update job '{job.name}' while it is stopped (state '{current.state}')")
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
        record(caller.actor, "update_subscription", current, before=before, after=_job_snapshot(current))
    return current


def _update_options(caller, job, action, change, message=""):
    """Apply `change(options) -> options` under a row lock and audit it."""
    _require_admin(caller, job.group_id)
    with transaction.atomic():
        current = Subscription.objects.select_for_update().get(pk=job.pk)
        before = dict(current.options)
        options = change(dict(current.options))
        Subscription.objects.filter(pk=job.pk).update(options=options)
        record(caller.actor, action, job, before=before, after=options, message=message)
    job.refresh_from_db()
    return job


def _skip_failing_event(caller, job, message):
    """Skip the one event the job keeps failing on (Bifrost's Miss), audited with that event."""
    with transaction.atomic():
        current = Subscription.objects.select_for_update().get(pk=job.pk)
        if not current.error_wait_data:
            raise DomainError("state", f"job '{current.name}' has no failing event to skip")
        before = _state_snapshot(current)
        Subscription.objects.filter(pk=job.pk).update(skip_next=True, update_time=timezone.now())
        current.skip_next = True
        record(caller.actor, "miss_event", current, before={**before, "event": current.error_wait_data},
               after=_state_snapshot(current), message=message)
    job.refresh_from_db()
    return job


def skip_event(caller, job, commit_seq):
    """CCR's skip_by=silence: skip exactly the event the job is failing on, named by its commit sequence.

    The commit sequence (workers.events.Position.commit_seq) must be the failing event's, so a stale or
    mistyped number skips nothing.
    """
    caller = as_caller(caller)
    if not isinstance(commit_seq, int) or isinstance(commit_seq, bool) or commit_seq <= 0:
        raise DomainError("invalid", "skip_commit_seq must be a positive integer")
    _require_admin(caller, job.group_id)
    job.refresh_from_db()
    failing = (job.error_wait_data or {}).get("commit_seq") if isinstance(job.error_wait_data, dict) else None
    if failing is None:
        raise DomainError("state", f"job '{job.name}' has no failing event to skip")
    if failing != commit_seq:
        raise DomainError("state", f"job '{job.name}' is failing at commit_seq {failing}, not {commit_seq}")
    return _skip_failing_event(caller, job, f"skip commit_seq {commit_seq}")


def miss(caller, job):
    """Bifrost's Miss: skip the event the job keeps failing on, once."""
    caller = as_caller(caller)
    _require_admin(caller, job.group_id)
    return _skip_failing_event(caller, job, "Miss")


def set_position(caller, job, binlog_file, binlog_pos, gtid=""):
    """Continue the job from a transaction boundary: the changes after it are delivered (again)."""
    caller = as_caller(caller)
    _require_admin(caller, job.group_id)
    if not binlog_file or not isinstance(binlog_pos, int) or binlog_pos < 4:
        raise DomainError("invalid", "give a binlog file and a position >= 4")
    with transaction.atomic():
        sub = Subscription.objects.select_for_update().get(pk=job.pk)
        instance = Instance.objects.get(pk=sub.instance_id)
        _write_position(caller, sub, instance, binlog_file, binlog_pos, gtid)
    job.refresh_from_db()
    return job


def _write_position(caller, sub, instance, binlog_file, binlog_pos, gtid):
    cp, _ = Checkpoint.objects.get_or_create(instance=instance, subscription=sub)
    before = {"binlog_file": cp.binlog_file, "binlog_pos": cp.binlog_pos, "gtid_set": cp.gtid_set}
    new = _seq(binlog_file, binlog_pos)
    # Behind the instance: mark it behind so a restart also rewinds for it.
    queued_at_instance = _seq(instance.binlog_file, instance.binlog_pos) > new
    Checkpoint.objects.filter(pk=cp.pk).update(
        binlog_file=binlog_file, binlog_pos=int(binlog_pos), gtid_set=gtid or "",
        queued_file=instance.binlog_file if queued_at_instance else binlog_file,
        queued_pos=instance.binlog_pos if queued_at_instance else int(binlog_pos),
        queued_gtid=instance.gtid_set if queued_at_instance else (gtid or ""),
        update_time=timezone.now(),
    )
    Subscription.objects.filter(pk=sub.pk).update(error="", error_wait_data=None, skip_next=False,
                                                  update_time=timezone.now())
    record(caller.actor, "set_position", sub, before=before,
           after={"binlog_file": binlog_file, "binlog_pos": int(binlog_pos), "gtid_set": gtid or ""})


def force_fullsync(caller, job):
    """Copy the job's tables again from scratch, then stream (CCR's skip_by=fullsync and /force_fullsync)."""
    _require_admin(caller, job.group_id)
    with transaction.atomic():
        current = Subscription.objects.select_for_update().get(pk=job.pk)
        before = {"phase": current.phase, "fullsync_done": current.fullsync_done}
        Subscription.objects.filter(pk=job.pk).update(
            phase=SyncPhase.FULL_SYNC, fullsync_total=0, fullsync_done=0, fullsync_state={}, fullsync_started=None,
        )
        record(caller.actor, "force_fullsync", job, before=before, after={"phase": SyncPhase.FULL_SYNC})
    job.refresh_from_db()
    return job


def check_mapping(mapping, field):
    if mapping is None:
        return {}
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and k and isinstance(v, str)
                                                for k, v in mapping.items()):
        raise DomainError("invalid", f"{field} must be an object of private host -> public host strings")
    return mapping


def update_host_mapping(caller, job, src=None, dest=None):
    """Merge private -> public host maps; an empty public host deletes that private host's mapping."""
    src = check_mapping(src, "src_host_mapping")
    dest = check_mapping(dest, "dest_host_mapping")
    if not src and not dest:
        raise DomainError("invalid", "give src_host_mapping and/or dest_host_mapping")

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
