"""Business operations the console views and the REST API both need.

Views stay thin: they parse input, call one function here (or a model method),
and show the result. Everything here checks permissions through the model
methods / console.permissions and writes the audit log.
"""
import hashlib
import hmac
import json
import time
import uuid

import requests
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from console.choices import InstanceStatus
from console.domain import fleet
from console.fields import EncryptedTextField, mask
from console.models import AuditLog, Config, Instance, TransitionError
from console.permissions import can_admin_group
from workers import source

# How old a signed DBA callback may be.
CALLBACK_MAX_AGE_SECONDS = 300


class ServiceError(Exception):
    """An operation could not be done; the message says why and is safe to show."""


# --- audit -------------------------------------------------------------------


def snapshot(obj) -> dict:
    """The object's concrete fields as JSON-safe values, secrets masked."""
    data = {}
    for field in obj._meta.concrete_fields:
        value = getattr(obj, field.attname)
        if isinstance(field, EncryptedTextField) or field.name in ("password", "uri"):
            value = mask(value) if field.name != "uri" else getattr(obj, "display_uri", mask(value))
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        elif not isinstance(value, (str, int, float, bool, list, dict, type(None))):
            value = str(value)
        data[field.attname] = value
    return data


def record_change(actor, action, obj, before=None, after=None, message="", group_id=None):
    """Audit a create/update/delete: `after` defaults to the object's current snapshot."""
    if after is None and not action.endswith("delete"):
        after = snapshot(obj)
    return AuditLog.record(actor, action, obj, before=before, after=after, message=message, group_id=group_id)


# --- instances -----------------------------------------------------------------


def next_slave_id() -> int:
    """server_ids must be unique per source: hand out one above every id in use, from Config.slave_id."""
    highest = Instance.objects.aggregate(m=Max("slave_id"))["m"] or 0
    return max(highest + 1, Config.current().slave_id)


def register_instance(actor, group, host, port, user="", password="", slave_id=None) -> Instance:
    if not can_admin_group(actor, group.pk):
        raise PermissionDenied("only an admin of this group may register instances")
    # A blank user means "the DBA's global dump account", resolved at connect time (workers.source
    # .instance_endpoint) and only once the DBA approved this host: never copied into the instance.
    instance = Instance(
        group=group, host=host.strip(), port=int(port), user=user, password=password if user else "",
        slave_id=slave_id or next_slave_id(),
    )
    instance.id = instance.compute_id()
    existing = Instance.objects.filter(pk=instance.id).select_related("group").first()
    if existing:
        raise ServiceError(f"{host}:{port} is already registered (group '{existing.group.name}')")
    with transaction.atomic():
        instance.save(force_insert=True)
        record_change(actor, "instance_register", instance)
    return instance


# --- approval workflow ---------------------------------------------------------


def apply_instance(instance, actor, callback_url="", detail_url="") -> Instance:
    """Open the approval request: at Config.dbs_api when set, else a local request id. → wait"""
    config = Config.current()
    if not can_admin_group(actor, instance.group_id):
        raise PermissionDenied("only an admin of this instance's group may apply")
    if instance.status not in (InstanceStatus.INIT, InstanceStatus.OPPOSE):
        raise TransitionError(f"cannot apply: instance {instance} is in state '{instance.status}' (only from init, oppose)")
    request_id, url = uuid.uuid4().hex, detail_url
    if config.dbs_api:
        body = {
            "towerId": instance.pk, "host": instance.host, "port": instance.port, "group": instance.group.name,
            "applicant": getattr(actor, "username", str(actor)), "callbackUrl": callback_url,
        }
        headers = {"Authorization": f"Token {config.dbs_token}"} if config.dbs_token else {}
        try:
            response = requests.post(config.dbs_api, json=body, headers=headers, timeout=10)
            answer = response.json() if response.content else {}
        except (requests.RequestException, ValueError) as exc:
            raise ServiceError(f"the approval system at {config.dbs_api} did not answer: {exc.__class__.__name__}")
        if response.status_code >= 300:
            raise ServiceError(f"the approval system refused the request (HTTP {response.status_code})")
        request_id = str(answer.get("dbsOrderId") or answer.get("requestId") or request_id)[:64]
        url = str(answer.get("url") or url)[:512]
    instance.apply(actor, request_id=request_id, url=url)
    return instance


def decide(instance, actor, approve: bool, comment="") -> Instance:
    """A super admin's manual DBA decision (when there is no approval system)."""
    (instance.approve if approve else instance.refuse)(actor, comment=comment)
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
            decide(instance, approver, approve, comment)
            AuditLog.record(
                approver, "dbs_callback", instance, message=comment,
                after={"signature": digest, "dbsOrderId": order_id, "approveStatus": status},
            )
    except TransitionError as exc:
        raise CallbackError(409, str(exc))
    return instance


def run_grant(instance, actor):
    """Check the source for real; on success → agree. Returns the GrantReport (each check with its reason)."""
    if not can_admin_group(actor, instance.group_id):
        raise PermissionDenied("only an admin of this instance's group may grant")
    if instance.status != InstanceStatus.UNAUTHORIZED:
        raise TransitionError(f"cannot grant: instance {instance} is in state '{instance.status}' (only from unauthorized)")
    try:
        report = source.check_grant(*source.instance_endpoint(instance))
    except source.SourceRefused as exc:  # e.g. the global account through a host mapping: a failed check
        report = source.GrantReport([source.CheckResult("reachable", False, str(exc))])
    if report.ok:
        instance.grant(actor)
    else:
        AuditLog.record(
            actor, "grant_failed", instance,
            after={c.name: c.reason for c in report.failures()}, message="; ".join(c.reason for c in report.failures()),
        )
    return report


def start_dump(instance, actor, max_candidates=3):
    """First position = the master's current position; candidates = live workers; → dump, online."""
    if not can_admin_group(actor, instance.group_id):
        raise PermissionDenied("only an admin of this instance's group may start the dump")
    if instance.status != InstanceStatus.AGREE:
        raise TransitionError(f"cannot start dump: instance {instance} is in state '{instance.status}' (only from agree)")
    status = master_status(instance)
    candidates = fleet.live_worker_names()[:max_candidates]
    instance.start_dump(actor, status["file"], status["pos"], gtid_set="", candidates=candidates)
    # The master position just read is also the first "master status" sample (the engine refreshes it later).
    Instance.objects.filter(pk=instance.pk).update(
        master_file=status["file"], master_pos=status["pos"], master_gtid=status.get("gtid", ""), status_time=timezone.now(),
    )
    return candidates


def _ask_source(instance, question):
    try:
        conn = source.connect_instance(instance)
    except source.SourceRefused as exc:
        raise ServiceError(str(exc))
    except Exception as exc:  # pymysql errors, DNS, refused: all mean "cannot reach"
        raise ServiceError(f"cannot connect to {instance}: {getattr(exc, 'args', [exc])[-1]}")
    try:
        return question(conn)
    except Exception as exc:
        raise ServiceError(f"{instance} answered with an error: {getattr(exc, 'args', [exc])[-1]}")
    finally:
        conn.close()


def master_status(instance) -> dict:
    return _ask_source(instance, source.master_status)


def binary_log_names(instance) -> list:
    return [name for name, _size in _ask_source(instance, source.binary_logs)]


def tables_matched_by_no_filter(flt) -> list:
    """Instances of the filter's group on which its table regex matches no table: ['host:port', …].

    Unreachable instances are left out (nothing can be said about them)."""
    from workers.filters import source_tables, unmatched_filters

    misses = []
    for instance in Instance.objects.filter(group_id=flt.group_id).exclude(status=InstanceStatus.INIT):
        try:
            tables = _ask_source(instance, source_tables)
        except ServiceError:
            continue
        if unmatched_filters([flt], tables):
            misses.append(str(instance))
    return misses
