"""Instances: registration, the DBA approval workflow, grant, the dump's start and the operations on it.

Each operation checks who may do it, validates, writes and records one audit action, and is called by every
surface (console, native API, BinLake manager, CCR, TiCDC) and by management commands. Failures are
DomainError. The transition table itself (which state an action may start from) is the model's.
"""
import hashlib
import hmac
import json
import time
import uuid
from contextlib import contextmanager

import requests
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from console.choices import InstanceStatus
from console.domain import fleet, sources
from console.domain.audit import record, record_change
from console.domain.caller import as_caller
from console.domain.errors import DomainError
from console.models import AuditLog, Config, Group, Instance, TransitionError
from workers import source

# How old a signed DBA callback may be.
CALLBACK_MAX_AGE_SECONDS = 300


@contextmanager
def model_rules():
    """The model's own refusals (its transition table, its admin check) as DomainErrors."""
    try:
        yield
    except TransitionError as exc:
        raise DomainError("state", str(exc)) from exc
    except PermissionDenied as exc:
        raise DomainError("forbidden", str(exc) or "permission denied") from exc


def require_admin(caller, instance_or_group_id, what="do this"):
    group_id = getattr(instance_or_group_id, "group_id", instance_or_group_id)
    if not caller.can_admin(group_id):
        raise DomainError("forbidden", f"only an admin of this instance's group may {what}")


def next_slave_id() -> int:
    """server_ids must be unique per source: hand out one above every id in use, from Config.slave_id."""
    highest = Instance.objects.aggregate(m=Max("slave_id"))["m"] or 0
    return max(highest + 1, Config.current().slave_id)


def register_instance(caller, group, host, port, user="", password="", slave_id=None) -> Instance:
    """A group admin registers a source (state `init`); the DBA's approval comes next."""
    caller = as_caller(caller)
    if not caller.can_admin(group.pk):
        raise DomainError("forbidden", "only an admin of this group may register instances")
    host = (host or "").strip()
    if not host:
        raise DomainError("invalid", "give the source's host")
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise DomainError("invalid", "port must be an integer") from None
    if not 0 < port < 65536:
        raise DomainError("invalid", "port must be between 1 and 65535")
    # A blank user means "the DBA's global dump account", resolved at connect time (workers.source
    # .instance_endpoint) and only once the DBA approved this host: never copied into the instance.
    instance = Instance(
        group=group, host=host, port=port, user=user or "", password=password if user else "",
        slave_id=slave_id or next_slave_id(),
    )
    instance.id = instance.compute_id()
    existing = Instance.objects.filter(pk=instance.id).select_related("group").first()
    if existing:
        where = f"group '{existing.group.name}'" if caller.can_view(existing.group_id) else "another group"
        raise DomainError("exists", f"{host}:{port} is already registered ({where})")
    with transaction.atomic():
        instance.save(force_insert=True)
        record_change(caller.actor, "instance_register", instance)
    return instance


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
    with model_rules():
        instance.apply(caller.actor, request_id=request_id, url=url)
    return instance


def decide(caller, instance, approve: bool, comment="") -> Instance:
    """The DBA's decision: a super admin in the console, or the signed callback (a system caller)."""
    caller = as_caller(caller)
    if not caller.is_super:
        raise DomainError("forbidden", "only the DBA callback or a super admin decides on a request")
    with model_rules():
        (instance.approve if approve else instance.refuse)(caller.actor, comment=comment)
    return instance


class CallbackError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def sign_callback(secret: str, timestamp: str, body: bytes) -> str:
    """hex HMAC-SHA256 over "<timestamp>.<raw body>" (binding the timestamp stops re-dating an old body)."""
    return hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def handle_callback(body: bytes, signature: str, timestamp: str, now=None) -> Instance:
    """Verify and apply a DBA decision. Raises CallbackError(status, message); changes nothing on error."""
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
    try:
        payload = json.loads(body)
        status = str(payload["approveStatus"]).strip().lower()
        tower_id = str(payload["towerId"])
        order_id = str(payload.get("dbsOrderId") or "")
    except (ValueError, KeyError, TypeError):
        raise CallbackError(400, "body must be JSON with approveStatus, approveUser, comment, towerId, dbsOrderId")
    approve = status in ("approve", "approved", "agree", "pass", "1", "true")
    if not approve and status not in ("refuse", "refused", "reject", "rejected", "oppose", "0", "false"):
        raise CallbackError(400, f"unknown approveStatus '{payload['approveStatus']}'")
    digest = hashlib.sha256(signature.encode()).hexdigest()
    if AuditLog.objects.filter(action="dbs_callback", after__signature=digest).exists():
        raise CallbackError(409, "this callback was already applied (replay)")
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
        with model_rules():
            instance.grant(caller.actor)
    else:
        record(
            caller.actor, "grant_failed", instance,
            after={c.name: c.reason for c in report.failures()}, message="; ".join(c.reason for c in report.failures()),
        )
    return report


def start_dump(caller, instance, max_candidates=3):
    """First position = the master's current position; candidates = live workers; → dump, online."""
    caller = as_caller(caller)
    require_admin(caller, instance, "start the dump")
    if instance.status != InstanceStatus.AGREE:
        raise DomainError("state", f"cannot start dump: instance {instance} is in state '{instance.status}'"
                                   " (only from agree)")
    status = sources.master_status(instance)
    candidates = fleet.live_worker_names()[:max_candidates]
    with model_rules():
        instance.start_dump(caller.actor, status["file"], status["pos"], gtid_set="", candidates=candidates)
    # The master position just read is also the first "master status" sample (the engine refreshes it later).
    Instance.objects.filter(pk=instance.pk).update(
        master_file=status["file"], master_pos=status["pos"], master_gtid=status.get("gtid", ""),
        status_time=timezone.now(),
    )
    return candidates


# --- operations on a dumping instance --------------------------------------------


def _operate(caller, instance, method, *args):
    caller = as_caller(caller)
    require_admin(caller, instance, method.replace("_", " "))
    with model_rules():
        getattr(instance, method)(caller.actor, *args)
    instance.refresh_from_db()
    return instance


def set_online(caller, instance):
    return _operate(caller, instance, "set_online")


def set_offline(caller, instance):
    return _operate(caller, instance, "set_offline")


def set_leader(caller, instance, leader):
    if not leader:
        raise DomainError("invalid", "name the new leader")
    return _operate(caller, instance, "set_leader", leader)


def set_candidates(caller, instance, candidates):
    return _operate(caller, instance, "set_candidates", list(candidates))


def reset_counter(caller, instance):
    return _operate(caller, instance, "reset_counter")


def set_position(caller, instance, binlog_file="", binlog_pos=4, gtid_set=""):
    """Where the instance's dump continues from."""
    return _operate(caller, instance, "set_binlog", binlog_file, binlog_pos, gtid_set)


def move_dump(caller, instance, worker_name):
    """Hand the dump to a live worker: it becomes a candidate, then the leader; the old leader is fenced."""
    caller = as_caller(caller)
    if not worker_name:
        raise DomainError("invalid", "name the worker to move the dump to")
    if not fleet.is_alive(worker_name):
        raise DomainError("not_found", f"capture '{worker_name}' is not a live worker")
    require_admin(caller, instance, "move its dump")
    with model_rules():
        if worker_name not in instance.candidates:
            instance.set_candidates(caller.actor, [*instance.candidates, worker_name])
        instance.set_leader(caller.actor, worker_name)
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
        instance.apply(actor, request_id=f"api-{instance.pk[:12]}", url="")
        instance.approve(actor, comment="registered by a super admin's API job")
        instance.grant(actor)
        instance.start_dump(actor, status["file"], status["pos"], status["gtid"],
                            candidates=fleet.live_worker_names()[:3])
    return instance
