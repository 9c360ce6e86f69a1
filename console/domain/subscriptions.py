"""Subscriptions (= TiCDC changefeeds = CCR jobs = BinLake bindings in the engine): create, change, steer.

Every surface calls these, so a subscription paused through one surface is paused for all of them, and
every change is checked and audited once. `caller` is a console.domain.caller.Caller (or anything
`as_caller` takes). Failures raise DomainError.

One create (create_subscription), one change (update_subscription) and one delete (delete_subscription)
serve the console form, the native API, TiCDC and CCR, so a job gets the same checks and the same audit
action whichever surface made it; update_subscription's docstring has the one rule for changing a running
job. job_status is the one place a job's shown state (TiCDC `error` for a source down or a target failing
longer than ERROR_GRACE_SECONDS) is derived; its lag is console.domain.progress.job_lag.

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
from collections import namedtuple
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import BooleanField, Case, When
from django.utils import timezone

from console.choices import DumpState, InstanceStatus, SubscriptionState, SyncPhase
from console.domain import progress, sources
from console.domain.audit import record, snapshot
from console.domain.caller import as_caller
from console.domain.errors import DomainError
from console.models import Checkpoint, Instance, Subscription, Target, kind_of_uri

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
TABLE_RULE_RE = re.compile(r"^!?[^.\s,]+\.[^.\s,]+$")

# Which states a pause / resume may start from (TiCDC's changefeed states); the target state itself is
# accepted too and changes nothing, since scripts retry.
PAUSABLE = (SubscriptionState.NORMAL, SubscriptionState.ERROR, SubscriptionState.FAILED)
RESUMABLE = (SubscriptionState.STOPPED, SubscriptionState.ERROR, SubscriptionState.FAILED)

# What update_subscription may change while a job runs (the dump applies it from its next transaction),
# what only while it is stopped, and what never (see update_subscription).
LIVE_FIELDS = ("field_list", "filter_query", "filter_update", "must_be_success")
STOPPED_FIELDS = ("target", "mq_rule", "tables", "target_ts", "options")
FIXED_FIELDS = ("name", "instance", "start_ts")

# How long a running job may be kept from moving by a failure the engine recorded (its source down, its
# target refusing a change) before it shows state `error` (job_status): the engine retries both with a
# backoff, and a restart of the target or a reconnect to the source is over well within this.
ERROR_GRACE_SECONDS = 30


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


# --- checks shared by create and update ---------------------------------------------------

def _check_sink_uri(sink_uri):
    if not isinstance(sink_uri, str) or not sink_uri:
        raise DomainError("invalid", "sink_uri is required")
    try:
        kind_of_uri(sink_uri)
    except ValidationError as exc:
        raise DomainError("invalid", exc.messages[0]) from exc


def _check_name(name):
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise DomainError("invalid", "the job name must be 1-128 letters, digits, '_', '-' or '.' (starting with a "
                                     "letter or digit)")


def _check_ts(field, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value >= 1 << 63:
        raise DomainError("invalid", f"{field} must be an unsigned 63-bit integer")
    return value


def _check_ts_order(start_ts, target_ts):
    if target_ts and start_ts and target_ts <= start_ts:
        raise DomainError("invalid", "target_ts must be greater than start_ts")


def _table_rules(tables):
    """'a.b, !a.c' or ['a.b', '!a.c'] -> 'a.b,!a.c'."""
    if isinstance(tables, str):
        tables = tables.split(",")
    return check_table_rules(tables)


def _field_list(value):
    if not isinstance(value, str):
        raise DomainError("invalid", "field_list must be a comma separated list of columns")
    return ",".join(f.strip() for f in value.split(",") if f.strip())


def _flag(field, value):
    if not isinstance(value, bool):
        raise DomainError("invalid", f"{field} must be true or false")
    return value


def _options(value):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DomainError("invalid", "options must be an object")
    return value


def _of_the_group(instance, field, obj):
    """A target or MQ rule of the instance's group (a job delivers one group's data to that group's places)."""
    if obj is not None and obj.group_id != instance.group_id:
        raise DomainError("invalid", f"{field} '{obj}' belongs to another group than instance {instance}")
    return obj


def _check_changefeed(instance, sink_uri, options, start_ts=0):
    from workers import changefeed

    try:
        changefeed.check_start_ts(instance, start_ts)
        changefeed.check_sink_config(sink_uri, options)
    except ValueError as exc:
        raise DomainError("invalid", str(exc)) from exc


# --- targets -----------------------------------------------------------------

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


def _retarget(job, sink_uri):
    """Point the job at `sink_uri`: its own target is changed in place, a shared one is left alone."""
    old = job.target
    if old.options.get("created_for") == job.name and old.subscriptions.count() == 1:
        old.uri = sink_uri
        old.save()
    else:
        job.target = _target_for(job.group, job.name, sink_uri)


def _drop_own_target(target, job_name):
    if target.options.get("created_for") == job_name and not target.subscriptions.exists():
        target.delete()


SNAPSHOT_FIELDS = ("name", "instance", "target", "mq_rule", "tables", "field_list", "filter_query", "filter_update",
                   "must_be_success", "state", "phase", "options", "start_ts", "target_ts")


def _job_snapshot(job):
    return {**snapshot(job, SNAPSHOT_FIELDS), "target": job.target.name, "sink_uri": job.target.display_uri}


def _checkpoint_now(instance, job):
    """A job with a start_ts starts at the instance position its start_ts was checked against (<= start_ts),
    not at wherever the dump is when it notices the job: no transaction at or after start_ts is missed."""
    from workers import checkpoints

    checkpoints.ensure_rows(instance, [job], instance.leader_version)


# --- create, change, delete ------------------------------------------------------

def create_subscription(caller, *, name, instance, target=None, sink_uri=None, group=None, mq_rule=None,
                        tables="*.*", field_list="", filter_query=False, filter_update=False, must_be_success=True,
                        options=None, start_ts=0, target_ts=0, full_sync=False):
    """Create a subscription of `instance` delivering to `target` (one of the group's) or to `sink_uri` (a target
    of the job's own is made for it), audited `create_subscription`.

    Every surface creates through here: the name rule (NAME_RE; unique across groups), only an admin of the
    instance's group, the instance approved and dumping (`dump`: a start_ts is checked against its position),
    target / MQ rule / `group` (when the surface names one) of the instance's group, table rules, start_ts and
    target_ts (unsigned 63-bit, target_ts > start_ts, start_ts not older than what the instance has read) and
    the sink settings (workers.changefeed.check_sink_config: sink_config, and the sink URI's query and
    options["sink"] against the allow-lists of workers/sinks/options.py). With a start_ts the checkpoint is
    written at once.
    """
    caller = as_caller(caller)
    _check_name(name)
    if (target is None) == (sink_uri is None):
        raise DomainError("invalid", "give the job a target or a sink_uri (one of them)")
    if sink_uri is not None:
        _check_sink_uri(sink_uri)
    _require_admin(caller, instance.group_id)
    if name_taken(name):
        raise DomainError("exists", f"job '{name}' already exists")
    if group is not None and group.pk != instance.group_id:
        raise DomainError("invalid", f"instance {instance} belongs to another group than '{group}'")
    _of_the_group(instance, "target", target)
    _of_the_group(instance, "MQ rule", mq_rule)
    tables = _table_rules(tables)
    field_list = _field_list(field_list)
    flags = {f: _flag(f, v) for f, v in (("filter_query", filter_query), ("filter_update", filter_update),
                                         ("must_be_success", must_be_success), ("full_sync", full_sync))}
    options = _options(options)
    _check_ts("start_ts", start_ts)
    _check_ts("target_ts", target_ts)
    _check_ts_order(start_ts, target_ts)
    instance = Instance.objects.select_related("group").get(pk=instance.pk)  # its status and position as of now
    if instance.status != InstanceStatus.DUMP:
        raise DomainError("state", f"instance {instance} is not approved for dumping yet (status '{instance.status}')")
    if instance.full_sync_first and not start_ts:  # its dump was started "full sync then follow"
        flags["full_sync"] = True
    _check_changefeed(instance, target.uri if target is not None else sink_uri, options, start_ts)
    try:
        with transaction.atomic():
            job = Subscription.objects.create(
                name=name, group=instance.group, instance=instance,
                target=target if target is not None else _target_for(instance.group, name, sink_uri),
                mq_rule=mq_rule, tables=tables, field_list=field_list, filter_query=flags["filter_query"],
                filter_update=flags["filter_update"], must_be_success=flags["must_be_success"], options=options,
                start_ts=start_ts, target_ts=target_ts,
                phase=SyncPhase.FULL_SYNC if flags["full_sync"] else SyncPhase.INCREMENTAL,
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


def delete_subscription(caller, job):
    """Delete a job in any state (the dump drops it at its next reload), audited `delete_subscription`.

    A target made for the job alone (TiCDC / CCR sink_uri) goes with it; a group's target stays."""
    caller = as_caller(caller)
    _require_admin(caller, job.group_id)
    with transaction.atomic():
        current = Subscription.objects.select_for_update().select_related("target").filter(pk=job.pk).first()
        if current is None:
            raise DomainError("not_found", f"job '{job.name}' does not exist")
        target, name = current.target, current.name
        record(caller.actor, "delete_subscription", current, before=_job_snapshot(current))
        current.delete()
        _drop_own_target(target, name)


def _key(value):
    return getattr(value, "pk", value)


def _changes(job, fields) -> dict:
    """The given fields whose (checked) value differs from the job's."""
    out = {}
    for field in FIXED_FIELDS:
        if field in fields and _key(fields[field]) != _key(getattr(job, field)):
            raise DomainError("invalid", f"{field} cannot be changed once the job exists: create another job")
    if "sink_uri" in fields and fields["sink_uri"] != job.target.uri:
        _check_sink_uri(fields["sink_uri"])
        out["sink_uri"] = fields["sink_uri"]
    if "target" in fields and _key(fields["target"]) != job.target_id:
        if fields["target"] is None:
            raise DomainError("invalid", "a job needs a target")
        out["target"] = _of_the_group(job.instance, "target", fields["target"])
    if "mq_rule" in fields and _key(fields["mq_rule"]) != job.mq_rule_id:
        out["mq_rule"] = _of_the_group(job.instance, "MQ rule", fields["mq_rule"])
    if "tables" in fields and fields["tables"] != job.tables:
        out["tables"] = _table_rules(fields["tables"])
    if "field_list" in fields and fields["field_list"] != job.field_list:
        out["field_list"] = _field_list(fields["field_list"])
    for flag in ("filter_query", "filter_update", "must_be_success"):
        if flag in fields and fields[flag] != getattr(job, flag):
            out[flag] = _flag(flag, fields[flag])
    if "options" in fields and fields["options"] != job.options:
        out["options"] = _options(fields["options"])
    if "target_ts" in fields and fields["target_ts"] != job.target_ts:
        out["target_ts"] = _check_ts("target_ts", fields["target_ts"])
        _check_ts_order(job.start_ts, out["target_ts"])
    return {field: value for field, value in out.items() if field == "sink_uri" or value != getattr(job, field)}


def update_subscription(caller, job, **fields):
    """Change a job, audited `update_subscription`; every surface edits through here.

    Fields: `target` (a group's) or `sink_uri` (the job's own target), `mq_rule`, `tables`, `field_list`,
    `filter_query`, `filter_update`, `must_be_success`, `options` (the whole object) and `target_ts`, checked
    as on create. `name`, `instance` and `start_ts` are fixed once the job exists (the name is its id on every
    surface; another source or start point is another job): their current value is accepted, another refused.
    A value equal to the current one is no change; when nothing changes nothing is written or audited.

    The one rule for a job that is not stopped: LIVE_FIELDS (which columns a row carries, whether queries and
    updates of no selected column are dropped, whether a failing change is retried forever) change at any
    time and the running dump applies them from its next transaction (it reloads within about a second);
    STOPPED_FIELDS and the sink (where changes go and which ones: target or sink_uri, MQ rule, tables,
    target_ts, options) only while the job is `stopped`, so the switch falls on the job's checkpoint: pause,
    update, resume. Otherwise a DomainError of kind `state`, and nothing changes.
    """
    caller = as_caller(caller)
    unknown = set(fields) - set(LIVE_FIELDS) - set(STOPPED_FIELDS) - set(FIXED_FIELDS) - {"sink_uri"}
    if unknown:
        raise TypeError(f"update_subscription() got unknown fields {sorted(unknown)}")
    _require_admin(caller, job.group_id)
    if "target" in fields and "sink_uri" in fields:
        raise DomainError("invalid", "give the job a target or a sink_uri, not both")
    with transaction.atomic():
        current = (Subscription.objects.select_for_update()
                   .select_related("group", "instance", "target", "mq_rule").filter(pk=job.pk).first())
        if current is None:
            raise DomainError("not_found", f"job '{job.name}' does not exist")
        changes = _changes(current, fields)
        if not changes:
            return current
        need_stop = [field for field in changes if field not in LIVE_FIELDS]
        if need_stop and current.state != SubscriptionState.STOPPED:
            raise DomainError("state", f"pause job '{current.name}' to change {', '.join(need_stop)} (state "
                                       f"'{current.state}'); only {', '.join(LIVE_FIELDS)} change while it runs")
        sink_uri = changes.pop("sink_uri", None)
        uri = sink_uri or changes.get("target", current.target).uri
        _check_changefeed(current.instance, uri, changes.get("options", current.options))
        before = _job_snapshot(current)
        for field, value in changes.items():
            setattr(current, field, value)
        if sink_uri is not None:
            _retarget(current, sink_uri)
        current.save()
        record(caller.actor, "update_subscription", current, before=before, after=_job_snapshot(current))
    return current


# --- what a job is doing, as every surface shows it ---------------------------------------

@dataclass(frozen=True)
class JobStatus:
    state: str  # a SubscriptionState value
    error: str = ""  # what is wrong, as the engine recorded it; may be set while the state is still `normal`
    cause: str = ""  # "source" (the instance's dump fails) or "target" (delivering to the target fails)


# What job_status and progress.job_progress read of a job and of its instance. Whole-list surfaces read jobs as
# rows of these (job_rows): a fleet's worth of Subscription and Instance models costs more than all the rest of
# such a list, and rows never hold, nor decrypt, an instance's password or a target's URI.
STATUS_FIELDS = ("pk", "name", "state", "error", "instance_id", "target_id")
INSTANCE_STATUS_FIELDS = ("host", "port", "status", "state", "retry_times", "last_error", "leader", "binlog_file",
                          "binlog_pos", "gtid_set", "binlog_when")


class InstanceRow(SimpleNamespace):
    """An instance read as a row (job_rows): its INSTANCE_STATUS_FIELDS, named as the model names itself."""

    __str__ = Instance.__str__


def job_rows(jobs, fields=(), target_fields=("name",), key=None) -> list:
    """The jobs of the queryset `jobs` as rows job_status and progress.job_progress read, sorted by `key` (a
    function of a row; the database's sort of a whole fleet, joins included, costs more than Python's):
    STATUS_FIELDS and `fields`, the job's checkpoint joined in (progress.with_checkpoints), `instance` an
    InstanceRow and `target` a Target holding only `target_fields`; each instance and target read once and
    shared by its jobs. Three queries for any number of jobs; the rows are named tuples (the cheapest object
    with attributes Python makes, which counts at 20,000 jobs).
    """
    # Whether the job has not moved for the error grace (job_status) is asked of the database: a time per job
    # costs a conversion, in Python, of each of a fleet's rows.
    quiet = Case(When(last_progress__lt=timezone.now() - timedelta(seconds=ERROR_GRACE_SECONDS), then=True),
                 default=False, output_field=BooleanField())
    names = (*STATUS_FIELDS, *fields, *(f"checkpoint_{f}" for f in progress.POSITION_FIELDS), "quiet_past_grace")
    row = namedtuple("JobRow", (*names, "instance", "target"), rename=False)
    values = list(progress.with_checkpoints(jobs).annotate(quiet_past_grace=quiet).order_by().values_list(*names))
    instances = {fields.pop("id"): InstanceRow(**fields) for fields in Instance.objects.filter(
        pk__in=jobs.values("instance_id")).order_by().values("id", *INSTANCE_STATUS_FIELDS)}
    targets = Target.objects.filter(pk__in=jobs.values("target_id")).order_by().only(*target_fields).in_bulk()
    instance_at, target_at = names.index("instance_id"), names.index("target_id")
    listed = []
    for job in values:
        instance, target = instances.get(job[instance_at]), targets.get(job[target_at])
        if instance is not None and target is not None:  # else the job went between the queries
            listed.append(row(*job, instance, target))
    return sorted(listed, key=key) if key else listed


def job_status(job, now=None) -> JobStatus:
    """The state and error every surface shows for a job (TiCDC state/error, CCR running/paused).

    `stopped`, `finished` and `failed` are what the operator or the engine set, shown as they are. A running
    job (stored `normal` or `error`) is `error` when something the engine recorded has kept it from moving for
    longer than ERROR_GRACE_SECONDS, else `normal`:
    - its source is down: the dump of its (online) instance failed and is being retried (Instance.retry_times
      > 0 and last_error; a dump that runs again clears both);
    - its target fails: the engine parked the job at a change the target refuses and retries it with a backoff
      (stored state `error`, Subscription.error).
    The engine does not record when a failure began, so the grace counts from the job's last progress: the
    last write of its checkpoint (before its first one, its creation). A failure the first retries get past
    (a restarting target, a reconnect) thus never shows as `error`; a job that sat idle for longer than the
    grace on a quiet source shows it from its first failing retry. Within the grace `error` already says what
    is being retried.
    """
    if job.state in (SubscriptionState.STOPPED, SubscriptionState.FINISHED, SubscriptionState.FAILED):
        return JobStatus(job.state, job.error, "target" if job.error else "")
    instance = job.instance
    if (instance.retry_times and instance.last_error and instance.status == InstanceStatus.DUMP
            and instance.state == DumpState.ONLINE):
        cause, error = "source", f"source {instance} is unavailable: {instance.last_error}"
    elif job.state == SubscriptionState.ERROR:
        cause, error = "target", job.error or f"target '{job.target}' refuses the job's changes"
    else:
        return JobStatus(SubscriptionState.NORMAL, job.error, "target" if job.error else "")
    if now is None and hasattr(job, "quiet_past_grace"):  # job_rows asked the database
        stuck = job.quiet_past_grace
    else:
        stuck = ((now or timezone.now()) - progress.last_progress(job)).total_seconds() > ERROR_GRACE_SECONDS
    return JobStatus(SubscriptionState.ERROR if stuck else SubscriptionState.NORMAL, error, cause)


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
    """Continue the job from a transaction boundary: the changes after it are delivered (again).

    The position is checked against the source's binary logs first (console.domain.sources.check_position)."""
    caller = as_caller(caller)
    _require_admin(caller, job.group_id)
    if not binlog_file or not isinstance(binlog_pos, int) or isinstance(binlog_pos, bool) or binlog_pos < 4:
        raise DomainError("invalid", "give a binlog file and a position >= 4")
    sources.check_position(job.instance, binlog_file, binlog_pos)
    with transaction.atomic():
        sub = Subscription.objects.select_for_update().get(pk=job.pk)
        instance = Instance.objects.get(pk=sub.instance_id)
        _write_position(caller, sub, instance, binlog_file, binlog_pos, gtid)
    job.refresh_from_db()
    return job


def _write_position(caller, sub, instance, binlog_file, binlog_pos, gtid):
    before = move_checkpoint(sub, instance, binlog_file, binlog_pos, gtid)
    record(caller.actor, "set_position", sub, before=before,
           after={"binlog_file": binlog_file, "binlog_pos": int(binlog_pos), "gtid_set": gtid or ""})


def move_checkpoint(sub, instance, binlog_file, binlog_pos, gtid) -> dict:
    """Set the subscription's checkpoint (in the caller's transaction); returns the position it had.

    The running dump compares the checkpoint with what it last wrote, takes this one as the truth and
    rewinds for it. `instance` is the instance as it is before any change of its own position: when the
    new position is behind it, the checkpoint's `queued` position keeps what was read already, so the
    subscription counts as behind and a restarted dump rewinds for it too."""
    cp, _ = Checkpoint.objects.get_or_create(instance=instance, subscription=sub)
    before = {"binlog_file": cp.binlog_file, "binlog_pos": cp.binlog_pos, "gtid_set": cp.gtid_set}
    new = _seq(binlog_file, binlog_pos)
    read = max((instance.binlog_file, instance.binlog_pos, instance.gtid_set),
               (cp.queued_file, cp.queued_pos, cp.queued_gtid), key=lambda p: _seq(p[0], p[1]))
    behind = _seq(read[0], read[1]) > new
    Checkpoint.objects.filter(pk=cp.pk).update(
        binlog_file=binlog_file, binlog_pos=int(binlog_pos), gtid_set=gtid or "",
        queued_file=read[0] if behind else binlog_file,
        queued_pos=read[1] if behind else int(binlog_pos),
        queued_gtid=read[2] if behind else (gtid or ""),
        update_time=timezone.now(),
    )
    Subscription.objects.filter(pk=sub.pk).update(error="", error_wait_data=None, skip_next=False,
                                                  update_time=timezone.now())
    return before


def _fullsync_tables(job, tables):
    """The 'schema.table' names to copy, each one the job's `tables` rules select (no wildcards: the engine
    copies exactly the tables listed in fullsync_state["tables"])."""
    from workers.subscriptions import TableMatcher

    if not isinstance(tables, (list, tuple)) or not tables or not all(isinstance(t, str) for t in tables):
        raise DomainError("invalid", "give the tables to copy as a non-empty list of 'schema.table' names",
                          field="tables")
    matcher, names = TableMatcher(job.tables), []
    for name in (t.strip() for t in tables):
        if not TABLE_RULE_RE.match(name) or name.startswith("!") or any(c in name for c in "*?[]"):
            raise DomainError("invalid", f"'{name}' is not a 'schema.table' name (no wildcards)", field="tables")
        if not matcher(*name.split(".", 1)):
            raise DomainError("invalid", f"{name} is not one of the job's tables ({job.tables})", field="tables")
        if name not in names:
            names.append(name)
    return names


def force_fullsync(caller, job, tables=None):
    """Copy the job's tables again from scratch, then stream (CCR's skip_by=fullsync and /force_fullsync).

    `tables` ('schema.table' names the job's rules select) copies only those: the engine
    (workers.snapshot.for_subscription) copies the tables fullsync_state names and lists the job's tables
    itself only when it names none."""
    caller = as_caller(caller)
    _require_admin(caller, job.group_id)
    chosen = None if tables is None else _fullsync_tables(job, tables)
    with transaction.atomic():
        current = Subscription.objects.select_for_update().get(pk=job.pk)
        before = {"phase": current.phase, "fullsync_done": current.fullsync_done}
        Subscription.objects.filter(pk=job.pk).update(
            phase=SyncPhase.FULL_SYNC, fullsync_total=0, fullsync_done=0,
            fullsync_state={"tables": chosen} if chosen else {}, fullsync_started=None,
        )
        after = {"phase": SyncPhase.FULL_SYNC, **({"tables": chosen} if chosen else {})}
        record(caller.actor, "force_fullsync", job, before=before, after=after)
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
