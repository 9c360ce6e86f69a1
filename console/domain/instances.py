"""Instances: registration, the DBA approval workflow, grant, the dump's start and the operations on it.

Each operation checks who may do it, validates, writes and records one audit action, and is called by every
surface (console, native API, BinLake manager, CCR, TiCDC) and by management commands. Failures are
DomainError. The transition table itself (which state an action may start from) is the model's.

Who approves. A group admin registers an instance (state `init`, audited `instance_register`) on every
surface, BinLake's /create/znodes/ included; the DBA side decides: a super admin in the console, the
signed DBA callback, or BinLake's manager. The manager (its token, Caller(is_manager=True)) is the DBA
side of BinLake: it holds the dump accounts and creates the ZNode of an instance the DBAs accepted, so its
/create/znodes/ is trusted to approve (register_by_manager). It never skips a step: every workflow step
runs, the grant checks against the real server included, each audited under its own action name with the
actor "manager".

Positions mean one thing: an instance's position set here is every subscription's position too (see
set_position), checked against the server's binary logs first.
"""
import hashlib
import hmac
import json
import re
import time
import uuid
from contextlib import contextmanager

import requests
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from console.choices import DumpState, InstanceStatus
from console.domain import fleet, schema_history, sources, subscriptions
from console.domain.audit import record, record_change, snapshot
from console.domain.caller import as_caller
from console.domain.errors import DomainError
from console.models import AuditLog, Checkpoint, Config, Group, Instance, Subscription, TransitionError
from console.models.instances import AUDITED_FIELDS
from workers import source

# A host name, an IPv4 address or an IPv6 one (bracketed or not).
HOST_RE = re.compile(r"^[A-Za-z0-9.\-:\[\]]{1,255}$")

# How old a signed DBA callback may be.
CALLBACK_MAX_AGE_SECONDS = 300


@contextmanager
def model_rules():
    """The model's refusal of a step its state does not allow (its transition table) as a DomainError."""
    try:
        yield
    except TransitionError as exc:
        raise DomainError("state", str(exc)) from exc


def require_admin(caller, instance_or_group_id, what="do this"):
    group_id = getattr(instance_or_group_id, "group_id", instance_or_group_id)
    if not caller.can_admin(group_id):
        raise DomainError("forbidden", f"only an admin of this instance's group may {what}")


def _step(actor, instance, action, message="", **changes):
    """One workflow step, if the model's transition table allows it from the current state, audited under the
    step's own name in the same transaction."""
    with transaction.atomic(), model_rules():
        before = instance.transition(action, **changes)
        record(actor, action, instance, before=before, after=instance.state_snapshot(), message=message)


def row_metadata_mode(report) -> str:
    """What the grant check says about how the instance's rows get their column names (event or schema
    history): the grant's audit message, so the instance's history shows which mode it dumps in."""
    return next((c.reason for c in report.checks if c.name == "binlog_row_metadata"), "")


def _change(actor, instance, action, **changes):
    """A change to an instance in `dump`, audited under `action` in the same transaction."""
    with transaction.atomic(), model_rules():
        before = instance.change_while_dumping(action, **changes)
        record(actor, action, instance, before=before, after={**before, **changes})


def _start(binlog_file, binlog_pos, gtid_set, candidates) -> dict:
    """What start_dump writes: the first position, the candidates, online."""
    if not binlog_file or int(binlog_pos) < 4:
        raise DomainError("invalid", "a dump starts from a real binlog position (file and pos >= 4)")
    return dict(binlog_file=binlog_file, binlog_pos=int(binlog_pos), gtid_set=gtid_set or "",
                candidates=list(candidates), state=DumpState.ONLINE, retry_times=0, last_error="")


def _leader(instance, leader) -> dict:
    """A new leader: its lease starts fresh, and the one it replaces is remembered (BinLake's preLeader)."""
    changes = {"leader": leader, "lease_expires": None}
    if instance.leader and instance.leader != leader:
        changes["pre_leader"] = instance.leader
    return changes


def next_slave_id() -> int:
    """server_ids must be unique per source: hand out one above every id in use, from Config.slave_id."""
    highest = Instance.objects.aggregate(m=Max("slave_id"))["m"] or 0
    return max(highest + 1, Config.current().slave_id)


def register_instance(caller, group, host, port, user="", password="", slave_id=None) -> Instance:
    """A group admin registers a source (state `init`); the DBA's approval comes next."""
    caller = as_caller(caller)
    if not caller.can_admin(group.pk):
        raise DomainError("forbidden", "only an admin of this group may register instances")
    host = host.strip() if isinstance(host, str) else ""
    if not host:
        raise DomainError("invalid", "give the source's host")
    if not HOST_RE.match(host):
        raise DomainError("invalid", f"'{host[:80]}' is not a host name or IP address")
    try:
        if isinstance(port, (bool, float)):
            raise TypeError(port)
        port = int(port)
    except (TypeError, ValueError):
        raise DomainError("invalid", "port must be an integer") from None
    if not 0 < port < 65536:
        raise DomainError("invalid", "port must be between 1 and 65535")
    # A blank user means "the DBA's global dump account", resolved at connect time (workers.source
    # .instance_endpoint) and only once the DBA approved this host: never copied into the instance.
    instance = Instance(group=group, host=host, port=port, user=user or "", password=password if user else "")
    instance.id = instance.compute_id()
    existing = Instance.objects.filter(pk=instance.id).select_related("group").first()
    if existing:
        where = f"group '{existing.group.name}'" if caller.can_view(existing.group_id) else "another group"
        raise DomainError("exists", f"{host}:{port} is already registered ({where})")
    if slave_id:
        check_slave_id(slave_id)
    instance.slave_id = slave_id or next_slave_id()
    with transaction.atomic():
        instance.save(force_insert=True)
        record_change(caller.actor, "instance_register", instance)
    return instance


def register_by_manager(caller, group, host, port, user="", password="", slave_id=None, binlog_file="",
                        binlog_pos=0, gtid_set="", candidates=(), leader="", online=True, **descriptive):
    """BinLake's manager registers an instance and takes it through the whole workflow to `dump`.

    The manager is the DBA side of BinLake (it holds the dump accounts and creates the ZNode of an instance
    the DBAs accepted), so it may approve; each step is still the workflow's own, checked and audited with
    the actor "manager": instance_register, apply, approve, grant (the source's real grant checks: a
    failed one refuses the whole registration), start_dump (at binlog_file:binlog_pos, checked against the
    server's binary logs, else where the master is now), then set_leader / set_offline when asked for.
    `descriptive` are BinLake fields kept as given (slave_uuid, meta_version, transaction_id, binlog_when).
    """
    caller = as_caller(caller)
    if not caller.is_manager:
        raise DomainError("forbidden", "only BinLake's manager approves the instances it registers")
    if binlog_file and int(binlog_pos or 0) < 4:
        raise DomainError("invalid", f"position {binlog_pos} is not a binlog position (the first event is at 4)")
    actor = caller.actor
    with transaction.atomic():
        instance = register_instance(caller, group, host, port, user, password, slave_id)
        if descriptive or gtid_set:
            # On the object itself: each workflow step saves the whole instance.
            for field, value in {**descriptive, "with_gtid": bool(gtid_set)}.items():
                setattr(instance, field, value)
            instance.save(update_fields=[*descriptive, "with_gtid"])
        _step(actor, instance, "apply", request_id=f"manager-{instance.pk[:12]}", url="", comment="")
        _step(actor, instance, "approve", message="approved by BinLake's manager",
              comment="approved by BinLake's manager")
        try:
            report = source.check_grant(*source.instance_endpoint(instance))
        except source.SourceRefused as exc:
            raise DomainError("forbidden", str(exc)) from exc
        if not report.ok:
            raise DomainError("source", "; ".join(c.reason for c in report.failures()))
        _step(actor, instance, "grant", message=row_metadata_mode(report))
        if binlog_file:
            sources.check_position(instance, binlog_file, int(binlog_pos))
            start = {"file": binlog_file, "pos": int(binlog_pos), "gtid": gtid_set or ""}
        else:
            start = {**sources.master_status(instance), "gtid": ""}
            schema_history.start_at(instance, start)
        _step(actor, instance, "start_dump", **_start(start["file"], start["pos"], start["gtid"],
                                                      list(candidates) or fleet.live_worker_names()[:3]))
        if leader:
            _change(actor, instance, "set_leader", **_leader(instance, leader))
        if not online:
            _change(actor, instance, "set_offline", state=DumpState.OFFLINE)
    instance.refresh_from_db()
    return instance


# What may change once an instance is registered: host:port is its identity (md5 id), and its group owns it.
EDITABLE_FIELDS = ("user", "password", "slave_id")


def check_slave_id(slave_id, instance=None):
    """server_ids must be unique per source: Tower hands out distinct ones and refuses a taken one."""
    if not isinstance(slave_id, int) or isinstance(slave_id, bool) or not 0 < slave_id < 1 << 32:
        raise DomainError("invalid", "server_id must be an integer from 1 to 4294967295", "slave_id")
    if Instance.objects.filter(slave_id=slave_id).exclude(pk=getattr(instance, "pk", None)).exists():
        raise DomainError("invalid", f"server_id {slave_id} is used by another instance", "slave_id")


def update_instance(caller, instance, **changes) -> Instance:
    """The source account and server_id. A blank password keeps the stored one (it is never shown back).

    Compared with the stored row (a form may already have set the values on `instance`): only what differs is
    written and audited; nothing differing, nothing written."""
    caller = as_caller(caller)
    require_admin(caller, instance, "edit it")
    with transaction.atomic():
        current = Instance.objects.select_for_update().get(pk=instance.pk)
        fixed = sorted(name for name, value in changes.items()
                       if name not in EDITABLE_FIELDS and value != getattr(current, name, value))
        if fixed:
            raise DomainError("invalid", f"{', '.join(fixed)} cannot be changed once the instance is registered:"
                                         " register another instance instead", fixed[0])
        changes = {name: value for name, value in changes.items()
                   if name in EDITABLE_FIELDS and value != getattr(current, name)}
        if not changes.get("password"):
            changes.pop("password", None)
        if "slave_id" in changes:
            check_slave_id(changes["slave_id"], current)
        if "user" in changes and not changes["user"]:
            changes["password"] = ""  # a blank user is the DBA's global account, which has no stored password here
        if changes:
            before = snapshot(current)
            for name, value in changes.items():
                setattr(current, name, value)
            current.save(update_fields=[*changes, "update_time"])
            record_change(caller.actor, "instance_update", current, before=before)
    instance.refresh_from_db()
    return instance


def check_delete_instance(caller, instance):
    """Raise the DomainError delete_instance would (a confirmation page shows it before anyone presses delete)."""
    caller = as_caller(caller)
    require_admin(caller, instance, "delete it")
    if instance.status == InstanceStatus.DUMP and instance.state == DumpState.ONLINE:
        raise DomainError("state", f"instance {instance} is dumping (ONLINE): set it offline first")


def delete_instance(caller, instance):
    """An instance goes with its subscriptions, checkpoints and bindings; never while its dump runs."""
    caller = as_caller(caller)
    with transaction.atomic():
        current = Instance.objects.select_for_update().get(pk=instance.pk)
        check_delete_instance(caller, current)
        record_change(caller.actor, "instance_delete", current, before=snapshot(current))
        current.delete()


# --- approval workflow ---------------------------------------------------------


def apply_instance(caller, instance, callback_url="", detail_url="") -> Instance:
    """Open the approval request: at Config.dbs_api when set, else a local request id. → wait"""
    caller = as_caller(caller)
    config = Config.current()
    require_admin(caller, instance, "apply")
    if instance.status not in (InstanceStatus.INIT, InstanceStatus.OPPOSE):
        raise DomainError("state", f"cannot apply: instance {instance} is in state '{instance.status}'"
                                   " (only from init, oppose)")
    request_id, url = uuid.uuid4().hex, detail_url
    if config.dbs_api:
        body = {
            "towerId": instance.pk, "host": instance.host, "port": instance.port, "group": instance.group.name,
            "applicant": getattr(caller.actor, "username", str(caller.actor)), "callbackUrl": callback_url,
        }
        headers = {"Authorization": f"Token {config.dbs_token}"} if config.dbs_token else {}
        try:
            response = requests.post(config.dbs_api, json=body, headers=headers, timeout=10)
            answer = response.json() if response.content else {}
        except (requests.RequestException, ValueError) as exc:
            raise DomainError("source", f"the approval system at {config.dbs_api} did not answer:"
                                        f" {exc.__class__.__name__}") from exc
        if response.status_code >= 300:
            raise DomainError("source", f"the approval system refused the request (HTTP {response.status_code})")
        request_id = str(answer.get("dbsOrderId") or answer.get("requestId") or request_id)[:64]
        url = str(answer.get("url") or url)[:512]
    _step(caller.actor, instance, "apply", request_id=request_id, url=url, comment="")
    return instance


def decide(caller, instance, approve: bool, comment="") -> Instance:
    """The DBA's decision: a super admin in the console, or the signed callback (a system caller)."""
    caller = as_caller(caller)
    if not caller.is_super:
        raise DomainError("forbidden", "only the DBA callback or a super admin decides on a request")
    _step(caller.actor, instance, "approve" if approve else "refuse", message=comment, comment=comment)
    return instance


class CallbackError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def sign_callback(secret: str, timestamp: str, body: bytes) -> str:
    """hex HMAC-SHA256 over "<timestamp>.<raw body>" (binding the timestamp stops re-dating an old body)."""
    return hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def handle_callback(body: bytes, signature: str, timestamp: str, now=None) -> Instance:
    """Verify and apply a DBA decision. Raises CallbackError(status, message); changes nothing on error but
    one audit row (`dbs_callback_refused`) for a correctly signed callback it refused: its signature is
    remembered so that a replay within the timestamp window is refused (409) even once the refusal's reason
    (an instance's state, an open request) has gone; past the window the timestamp check refuses it."""
    secret = Config.current().callback_secret
    if not secret:
        raise CallbackError(503, "callbacks are disabled: no callback secret is configured")
    signature = (signature or "").strip().lower().removeprefix("sha256=")
    try:
        age = abs((now or time.time()) - int(timestamp))
    except (TypeError, ValueError):
        raise CallbackError(401, "missing or malformed X-Tower-Timestamp")
    if not signature or not hmac.compare_digest(signature, sign_callback(secret, str(timestamp), body)):
        raise CallbackError(401, "bad signature")
    if age > CALLBACK_MAX_AGE_SECONDS:
        raise CallbackError(401, "timestamp outside the allowed 5 minute window")
    digest = hashlib.sha256(signature.encode()).hexdigest()
    if AuditLog.objects.filter(action="dbs_callback", after__signature=digest).exists():
        raise CallbackError(409, "this callback was already applied (replay)")
    if AuditLog.objects.filter(action="dbs_callback_refused", after__signature=digest).exists():
        raise CallbackError(409, "this callback was already refused (replay)")
    try:
        return _apply_callback(body, digest)
    except CallbackError as exc:
        record("dbs", "dbs_callback_refused", after={"signature": digest, "status": exc.status},
               message=str(exc)[:2000])
        raise


def _apply_callback(body: bytes, digest: str) -> Instance:
    try:
        payload = json.loads(body)
        # A lone UTF-16 surrogate (a \\ud800 escape) decodes but no database column takes it.
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
        status = str(payload["approveStatus"]).strip().lower()
        tower_id = str(payload["towerId"])
        order_id = str(payload.get("dbsOrderId") or "")
    except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: JSON nested too deeply
        raise CallbackError(400, "body must be JSON with approveStatus, approveUser, comment, towerId, dbsOrderId"
                                 " (valid Unicode, not nested)") from None
    approve = status in ("approve", "approved", "agree", "pass", "1", "true")
    if not approve and status not in ("refuse", "refused", "reject", "rejected", "oppose", "0", "false"):
        raise CallbackError(400, f"unknown approveStatus '{payload['approveStatus']}'")
    if order_id and AuditLog.objects.filter(action="dbs_callback", after__dbsOrderId=order_id).exists():
        raise CallbackError(409, f"a decision for order {order_id} was already applied")
    instance = Instance.objects.filter(pk=tower_id).first()
    if instance is None:
        raise CallbackError(404, f"no instance {tower_id}")
    if order_id and instance.request_id and order_id != instance.request_id:
        raise CallbackError(409, f"order {order_id} is not the instance's open request {instance.request_id}")
    approver = f"dbs:{str(payload.get('approveUser') or 'unknown')[:50]}"
    comment = str(payload.get("comment") or "")[:2000]
    try:
        with transaction.atomic():
            decide(approver, instance, approve, comment)
            record(
                approver, "dbs_callback", instance, message=comment,
                after={"signature": digest, "dbsOrderId": order_id, "approveStatus": status},
            )
    except DomainError as exc:
        raise CallbackError(409, exc.message) from exc
    return instance


def run_grant(caller, instance):
    """Check the source for real; on success → agree. Returns the GrantReport (each check with its reason)."""
    caller = as_caller(caller)
    require_admin(caller, instance, "grant")
    if instance.status != InstanceStatus.UNAUTHORIZED:
        raise DomainError("state", f"cannot grant: instance {instance} is in state '{instance.status}'"
                                   " (only from unauthorized)")
    try:
        report = source.check_grant(*source.instance_endpoint(instance))
    except source.SourceRefused as exc:  # e.g. the global account through a host mapping: a failed check
        report = source.GrantReport([source.CheckResult("reachable", False, str(exc))])
    if report.ok:
        _step(caller.actor, instance, "grant", message=row_metadata_mode(report))
    else:
        record(
            caller.actor, "grant_failed", instance,
            after={c.name: c.reason for c in report.failures()}, message="; ".join(c.reason for c in report.failures()),
        )
    return report


def start_dump(caller, instance, position=None, full_sync=False, max_candidates=3):
    """The dump starts (→ dump, online) with live workers as candidates, from where the caller chose:

    - "from now" (no position): the master's current position;
    - "from a position" (`position` = (binlog_file, binlog_pos)): checked by sources.check_position first;
    - "full sync then follow" (`full_sync`): from now, and the instance records it (Instance.full_sync_first),
      so every subscription later created on it copies its tables first, then follows the binlog. Subscriptions
      exist only once an instance dumps, so at this step there are none to mark.
    """
    caller = as_caller(caller)
    require_admin(caller, instance, "start the dump")
    if position is not None and full_sync:
        raise DomainError("invalid", "start either from a position or with a full sync, not both")
    if instance.status != InstanceStatus.AGREE:
        raise DomainError("state", f"cannot start dump: instance {instance} is in state '{instance.status}'"
                                   " (only from agree)")
    status = sources.master_status(instance)
    start_file, start_pos = status["file"], status["pos"]
    if position is not None:
        start_file, start_pos = position[0], position[1]
        if not isinstance(start_file, str) or not start_file:
            raise DomainError("invalid", "give the binlog file to start from", field="binlog_file")
        try:
            start_pos = int(start_pos)
        except (TypeError, ValueError):
            raise DomainError("invalid", "the position must be an integer", field="binlog_pos") from None
        sources.check_position(instance, start_file, start_pos)
    if position is None:
        schema_history.start_at(instance, status)
    candidates = fleet.live_worker_names()[:max_candidates]
    how = "from a position" if position is not None else "full sync then follow" if full_sync else "from now"
    _step(caller.actor, instance, "start_dump", message=how,
          **_start(start_file, start_pos, "", candidates), full_sync_first=bool(full_sync))
    # The master position just read is also the first "master status" sample (the engine refreshes it later).
    Instance.objects.filter(pk=instance.pk).update(
        master_file=status["file"], master_pos=status["pos"], master_gtid=status.get("gtid", ""),
        status_time=timezone.now(),
    )
    return candidates


# --- operations on a dumping instance --------------------------------------------


def _operate(caller, instance, action, **changes):
    caller = as_caller(caller)
    require_admin(caller, instance, action.replace("_", " "))
    _change(caller.actor, instance, action, **changes)
    instance.refresh_from_db()
    return instance


def set_online(caller, instance):
    return _operate(caller, instance, "set_online", state=DumpState.ONLINE)


def set_offline(caller, instance):
    return _operate(caller, instance, "set_offline", state=DumpState.OFFLINE)


def set_leader(caller, instance, leader):
    if not leader:
        raise DomainError("invalid", "name the new leader")
    return _operate(caller, instance, "set_leader", **_leader(instance, leader))


def set_candidates(caller, instance, candidates):
    return _operate(caller, instance, "set_candidates", candidates=[c for c in candidates if c])


def reset_counter(caller, instance):
    return _operate(caller, instance, "reset_counter", retry_times=0, kill_times=0, next_start_at=None,
                    last_error="")


def set_position(caller, instance, binlog_file="", binlog_pos=4, gtid_set=""):
    """Where the instance's dump continues from, for every subscription: the changes after it are delivered again.

    The position is checked against the source's binary logs (sources.check_position). Then, in one
    transaction: every subscription's checkpoint is set to it (the same write as a subscription's own
    set position, so each one counts as behind and is replayed), the instance's dumped position and its
    checkpoint are set to it, and a running dump is fenced (leader_version moves on, the lease is freed):
    its next write is refused and the supervisor starts the dump again from the new position. Without the
    fence the running dump would write the position it had read past back over the instance's at its next
    commit. A GTID set without a file only sets the instance's own position (the subscriptions' checkpoints
    are file positions), used when the dump next starts.
    """
    caller = as_caller(caller)
    require_admin(caller, instance, "set its position")
    if not binlog_file:
        if not gtid_set:
            raise DomainError("invalid", "give a binlog file and a position >= 4, or a GTID set")
        return _operate(caller, instance, "set_binlog", binlog_file="", binlog_pos=4, gtid_set=gtid_set,
                        with_gtid=True)
    try:
        binlog_pos = int(binlog_pos)
    except (TypeError, ValueError):
        raise DomainError("invalid", "the binlog position must be an integer") from None
    if binlog_pos < 4:
        raise DomainError("invalid", f"position {binlog_pos} is not a binlog position (the first event is at 4)")
    if instance.status != InstanceStatus.DUMP:
        raise DomainError("state", f"cannot set the position: instance {instance} is not in state 'dump'")
    sources.check_position(instance, binlog_file, binlog_pos)
    gtid_set = gtid_set or ""
    with transaction.atomic():
        current = Instance.objects.select_for_update().get(pk=instance.pk)
        if current.status != InstanceStatus.DUMP:
            raise DomainError("state", f"cannot set the position: instance {instance} is not in state 'dump'")
        before = snapshot(current, AUDITED_FIELDS)
        moved = {}
        for sub in Subscription.objects.select_for_update().filter(instance=current).order_by("pk"):
            moved[sub.name] = subscriptions.move_checkpoint(sub, current, binlog_file, binlog_pos, gtid_set)
        now = timezone.now()
        # with_gtid (whether the dump follows GTIDs) is the instance's setting: a file position keeps it.
        changes = dict(binlog_file=binlog_file, binlog_pos=binlog_pos, gtid_set=gtid_set)
        fence = {}
        if current.lease_expires is not None:
            fence = dict(leader_version=F("leader_version") + 1, lease_expires=None)
        Instance.objects.filter(pk=current.pk).update(**changes, **fence, update_time=now)
        Checkpoint.objects.filter(instance=current, subscription__isnull=True).update(
            binlog_file=binlog_file, binlog_pos=binlog_pos, gtid_set=gtid_set, queued_file=binlog_file,
            queued_pos=binlog_pos, queued_gtid=gtid_set, update_time=now,
        )
        current.refresh_from_db()
        position = {"binlog_file": binlog_file, "binlog_pos": binlog_pos, "gtid_set": gtid_set}
        record(caller.actor, "set_binlog", current, before={**before, "subscriptions": moved},
               after={**snapshot(current, AUDITED_FIELDS), "subscriptions": {name: position for name in moved}})
    instance.refresh_from_db()
    return instance


def move_dump(caller, instance, worker_name):
    """Hand the dump to a live worker: it becomes a candidate, then the leader; the old leader is fenced."""
    caller = as_caller(caller)
    if not worker_name:
        raise DomainError("invalid", "name the worker to move the dump to")
    if not fleet.is_alive(worker_name):
        raise DomainError("not_found", f"capture '{worker_name}' is not a live worker")
    require_admin(caller, instance, "move its dump")
    with transaction.atomic():
        if worker_name not in instance.candidates:
            _change(caller.actor, instance, "set_candidates", candidates=[*instance.candidates, worker_name])
        _change(caller.actor, instance, "set_leader", **_leader(instance, worker_name))
    return instance


def register_source(caller, host, port, user, password, group_name="default"):
    """A super admin names a source Tower does not know (CCR's create_ccr): register it and take it to `dump`.

    The super admin is the DBA side here, so the approval is theirs; each workflow step is still checked
    and audited as in the console, and the grant checks (ROW binlog, privileges) run against the real
    server first, with the credentials the caller gave.
    """
    caller = as_caller(caller)
    if not caller.is_super:
        raise DomainError("not_found", f"source {host}:{port} is not registered in any of your groups")
    if Instance.objects.filter(host=host, port=port).exists():
        raise DomainError("forbidden", f"source {host}:{port} is registered in another group")
    report = source.check_grant(host, port, user, password)
    if not report.ok:
        raise DomainError("source", "; ".join(c.reason for c in report.failures()))
    try:
        conn = source.connect(host, port, user, password)
        try:
            status = source.master_status(conn)
        finally:
            conn.close()
    except Exception as exc:  # pymysql errors, binlog off
        raise DomainError("source", f"cannot read the master status of {host}:{port}: {exc}") from exc
    actor = caller.actor
    with transaction.atomic(), model_rules():
        group = Group.objects.filter(name=group_name).first()
        if group is None:
            group = Group.objects.create(name=group_name, mark="created by an API job")
            record(actor, "create", group, after={"name": group.name})
        instance = Instance.objects.create(
            group=group, host=host, port=port, user=user, password=password, slave_id=next_slave_id(),
        )
        record(actor, "register_source", instance, after={"host": host, "port": port, "group": group.name},
               message="registered by a super admin's API job")
        _step(actor, instance, "apply", request_id=f"api-{instance.pk[:12]}", url="", comment="")
        _step(actor, instance, "approve", message="registered by a super admin's API job",
              comment="registered by a super admin's API job")
        _step(actor, instance, "grant", message=row_metadata_mode(report))
        schema_history.start_at(instance, status)
        _step(actor, instance, "start_dump", **_start(status["file"], status["pos"], status["gtid"],
                                                      fleet.live_worker_names()[:3]))
    return instance
