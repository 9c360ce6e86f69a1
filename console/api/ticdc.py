"""TiCDC OpenAPI v1 (docs/compatibility.md) at /api/v1/.

A changefeed is a Subscription by name (changefeed_id), the same object as the
CCR job of that name. A capture is a Tower worker node (a Wave row, id = its
Celery node name); a processor is a changefeed on the worker holding its
instance's dump lease. Tables are identified by a stable table_id derived
from each of the changefeed's `schema.table` rules (crc32), since binlog
sources have no TiDB table ids. Moving or rebalancing a table moves the
instance's whole dump (every table of every changefeed of that instance) to
another worker: a binlog is read by one reader per instance.

Positions map to ts by workers.tso. A changefeed starts from its
instance's dumped position, or with a start_ts at the first transaction at or
after it (a start_ts older than the dumped position is refused, 400); it
finishes at target_ts; workers/changefeed.py acts on start_ts, target_ts,
ignore_txn_start_ts and sink_config.

A changefeed's `state` and `error` are console.domain.subscriptions.job_status:
a running changefeed whose source is down (its instance's dump keeps failing)
or whose target keeps refusing a change for longer than the grace period
(ERROR_GRACE_SECONDS) is `error`, with {"addr": the capture, "code":
CDC:ErrUpstreamUnavailable or CDC:ErrProcessorUnknown, "message": why}; the
list's `state` filter picks by that state. Updates follow the domain's rule:
sink_uri, filter_rules, target_ts and the options only while stopped (400
CDC:ErrChangefeedUpdateRefused otherwise).

Errors: {"error_msg": ..., "error_code": "CDC:Err..."} with 400 (bad
request, illegal state), 401, 403, 404 (unknown changefeed/processor/capture)
or 409 (id taken).
"""
import functools
import logging
import os
import uuid
import zlib
from operator import attrgetter
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from console.domain import subscriptions as jobs
from console.domain.errors import DomainError
from console.domain import progress as positions
from console.api.compat.auth import AuthFailed, challenge, identify
from console.api.compat.base import BadBody, as_int, json_body, json_response, whole_list
from console.choices import InstanceStatus, SubscriptionState
from console.domain import fleet, instances
from console.models import AuditLog, Instance, Wave
from workers import tso

VERSION = "v5.2.0-tower"
JOB_ERROR = {
    "invalid": (400, "CDC:ErrAPIInvalidParam"),
    "forbidden": (403, "CDC:ErrForbidden"),
    "not_found": (404, "CDC:ErrChangeFeedNotExists"),
    "exists": (409, "CDC:ErrChangeFeedAlreadyExists"),
    "state": (400, "CDC:ErrChangefeedStateRefused"),
    "source": (400, "CDC:ErrUpstreamUnavailable"),
}
DEFAULT_LIST_STATES = (SubscriptionState.NORMAL, SubscriptionState.STOPPED, SubscriptionState.FAILED)
DISPATCHERS = ("default", "ts", "rowid", "table", "index-value")
PROTOCOLS = ("canal-json", "open-protocol", "canal", "avro", "maxwell")
LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR,
              "dpanic": logging.CRITICAL, "panic": logging.CRITICAL, "fatal": logging.CRITICAL}


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error(status, code, message):
    return json_response({"error_msg": message, "error_code": code}, status=status)


def accepted():
    return HttpResponse(status=202)


def endpoint(*methods):
    def decorate(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request, **kwargs):
            if request.method not in methods:
                response = error(405, "CDC:ErrAPIInvalidParam", f"method {request.method} not allowed")
                response["Allow"] = ", ".join(methods)
                return response
            try:
                caller = identify(request)
            except AuthFailed as exc:
                response = error(401, "CDC:ErrUnauthorized", str(exc))
                response["WWW-Authenticate"] = challenge()
                return response
            try:
                return view(request, caller, **kwargs)
            except BadBody as exc:
                return error(400, "CDC:ErrAPIInvalidParam", str(exc))
            except DomainError as exc:
                status, code = JOB_ERROR[exc.kind]
                return error(status, code, exc.message)
            except ApiError as exc:
                return error(exc.status, exc.code, exc.message)

        return wrapper

    return decorate


# --- shapes -------------------------------------------------------------------

def table_id(rule: str) -> int:
    return zlib.crc32(rule.strip().encode("utf-8")) & 0x7FFFFFFF


def table_ids(job):
    return [table_id(r) for r in job.tables.split(",") if r.strip() and not r.strip().startswith("!")]


ERROR_CODES = {"source": "CDC:ErrUpstreamUnavailable", "target": "CDC:ErrProcessorUnknown"}


def running_error(job, status=None):
    """TiCDC's error object: what console.domain.subscriptions.job_status found wrong, else None."""
    status = status or jobs.job_status(job)
    if not status.error:
        return None
    return {"addr": job.instance.leader, "code": ERROR_CODES.get(status.cause, "CDC:ErrProcessorUnknown"),
            "message": status.error}


def summary(job, status=None, format_ts=tso.format_ts):
    status = status or jobs.job_status(job)
    ts = positions.job_progress(job).ts
    return {
        "id": job.name,
        "state": status.state,
        "checkpoint_tso": ts,
        "checkpoint_time": format_ts(ts),
        "error": running_error(job, status),
    }


def detail(job):
    status = jobs.job_status(job)
    progress = positions.job_progress(job)
    leader = job.instance.leader
    return {
        "id": job.name,
        "sink_uri": job.target.display_uri,
        "create_time": job.create_time.strftime("%Y-%m-%d %H:%M:%S.") + f"{job.create_time.microsecond // 1000:03d}",
        "start_ts": job.start_ts,
        "target_ts": job.target_ts,
        "checkpoint_tso": progress.ts,
        "checkpoint_time": tso.format_ts(progress.ts),
        "sort_engine": "unified",
        "state": status.state,
        "error": running_error(job, status),
        "error_history": None,
        "creator_version": VERSION,
        "task_status": [{"capture_id": leader, "table_ids": table_ids(job), "table_operations": {}}] if leader else [],
    }


def get_job(caller, changefeed_id):
    try:
        return jobs.get_job(caller, changefeed_id)
    except DomainError as exc:
        raise ApiError(404, "CDC:ErrChangeFeedNotExists", f"changefeed {changefeed_id} does not exist") from exc


# --- body checks ----------------------------------------------------------------

def _ts(body, field):
    if field not in body or body[field] is None:
        return None
    return as_int(body[field], field, minimum=0, maximum=(1 << 63) - 1)


def _bool(body, field):
    value = body.get(field, False)
    if not isinstance(value, bool):
        raise BadBody(f"{field} must be a boolean")
    return value


def _filter_rules(body):
    if body.get("filter_rules") is None:
        return None
    try:
        return jobs.check_table_rules(body["filter_rules"])
    except DomainError as exc:
        raise BadBody(exc.message) from exc


def _ignore_txn_start_ts(body):
    value = body.get("ignore_txn_start_ts")
    if value is None:
        return None
    if not isinstance(value, list):
        raise BadBody("ignore_txn_start_ts must be a list of ts")
    return [as_int(v, "ignore_txn_start_ts[]", minimum=0, maximum=(1 << 63) - 1) for v in value]


def _sink_config(body):
    config = body.get("sink_config")
    if config is None:
        return None
    if not isinstance(config, dict):
        raise BadBody("sink_config must be an object")
    dispatchers = config.get("dispatchers", [])
    if not isinstance(dispatchers, list):
        raise BadBody("sink_config.dispatchers must be a list")
    for d in dispatchers:
        if not isinstance(d, dict) or not isinstance(d.get("matcher"), list) or not all(
                isinstance(m, str) for m in d["matcher"]):
            raise BadBody("each dispatcher needs a matcher: a list of 'schema.table' patterns")
        if d.get("dispatcher") not in DISPATCHERS:
            raise BadBody(f"dispatcher must be one of {', '.join(DISPATCHERS)}")
    protocol = config.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        raise BadBody(f"protocol must be one of {', '.join(PROTOCOLS)}")
    return {"dispatchers": dispatchers, **({"protocol": protocol} if protocol else {})}


def _mounter_worker_num(body):
    if body.get("mounter_worker_num") is None:
        return None
    return as_int(body["mounter_worker_num"], "mounter_worker_num", minimum=1, maximum=1024)


def _upstream(caller, body):
    """The source instance: body "upstream": "host:port", or the caller's only dumping instance."""
    upstream = body.get("upstream")
    if upstream is None:
        dumping = list(caller.scope(Instance.objects.filter(status=InstanceStatus.DUMP))[:2])
        if len(dumping) != 1:
            raise BadBody('name the source instance: "upstream": "host:port"')
        return dumping[0]
    host, port = jobs.parse_host_port(upstream)
    instance = jobs.find_instance(caller, host, port)
    if instance is None:
        raise ApiError(404, "CDC:ErrUpstreamNotFound", f"upstream {upstream} is not an instance of your groups")
    return instance


# --- status --------------------------------------------------------------------

def git_hash() -> str:
    head = Path(settings.BASE_DIR) / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            return (head.parent / ref[5:]).read_text().strip()
        return ref
    except OSError:
        return ""


# Where the fleet runs (addresses, pids, the code's commit) helps an attacker more than a group's user: only
# super admins see them; everyone else gets the same shapes with those fields blank.

@endpoint("GET")
def status(request, caller):
    wave = Wave.objects.filter(name=settings.WORKER_NAME).first()
    return json_response({
        "version": VERSION,
        "git_hash": git_hash() if caller.is_super else "",
        "id": settings.WORKER_NAME,
        "pid": os.getpid() if caller.is_super else 0,
        "is_owner": bool(wave and wave.is_owner),
    })


@endpoint("GET")
def health(request, caller):
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
    except Exception as exc:  # the metadata DB is down: unhealthy, say why
        return error(503, "CDC:ErrClusterIsUnhealthy", f"metadata database unavailable: {exc}")
    if not fleet.live_workers().exists():
        return error(503, "CDC:ErrClusterIsUnhealthy", "no live worker")
    return HttpResponse(status=200)


# --- changefeeds ------------------------------------------------------------------

@endpoint("GET", "POST")
@whole_list
def changefeeds(request, caller):
    if request.method == "POST":
        return create_changefeed(request, caller)
    state = request.GET.get("state", "")
    if state and state != "all" and state not in SubscriptionState.values:
        raise BadBody(f"state must be one of all, {', '.join(SubscriptionState.values)}")
    wanted = SubscriptionState.values if state == "all" else [state] if state else DEFAULT_LIST_STATES
    # The shown state (job_status: a running job whose source or target keeps failing is `error`) is what
    # the filter picks by.
    rows = jobs.job_rows(jobs.visible_jobs(caller), key=attrgetter("name"))  # Subscription's ordering
    listed = ((job, jobs.job_status(job)) for job in rows)
    format_ts = ts_formatter()
    return json_response([summary(job, status, format_ts) for job, status in listed if status.state in wanted])


def ts_formatter():
    """tso.format_ts for a whole list, formatting each physical millisecond once: the logical part of a ts is not
    shown, and a fleet's jobs mostly sit at a few recent seconds."""
    formatted = {}

    def format_ts(ts):
        key = tso.physical_ms(ts) if ts else None
        if key not in formatted:
            formatted[key] = tso.format_ts(ts)
        return formatted[key]

    return format_ts


def create_changefeed(request, caller):
    body = json_body(request)
    changefeed_id = body.get("changefeed_id") or str(uuid.uuid4())
    if not isinstance(changefeed_id, str):
        raise BadBody("changefeed_id must be a string")
    sink_uri = body.get("sink_uri")
    if not isinstance(sink_uri, str) or not sink_uri:
        raise BadBody("sink_uri is required")
    start_ts, target_ts = _ts(body, "start_ts") or 0, _ts(body, "target_ts") or 0
    options = {
        "force_replicate": _bool(body, "force_replicate"),
        "ignore_ineligible_table": _bool(body, "ignore_ineligible_table"),
        "ignore_txn_start_ts": _ignore_txn_start_ts(body) or [],
        "sink_config": _sink_config(body) or {},
    }
    mounter = _mounter_worker_num(body)
    if mounter:
        options["mounter_worker_num"] = mounter
    tables = _filter_rules(body) or "*.*"
    instance = _upstream(caller, body)
    jobs.create_subscription(caller, name=changefeed_id, instance=instance, sink_uri=sink_uri, tables=tables,
                             options=options, start_ts=start_ts, target_ts=target_ts)
    return accepted()


@endpoint("GET", "PUT", "DELETE")
def changefeed(request, caller, changefeed_id):
    job = get_job(caller, changefeed_id)
    if request.method == "GET":
        return json_response(detail(job))
    if request.method == "DELETE":
        jobs.delete_subscription(caller, job)
        return accepted()
    body = json_body(request)
    options = {}
    for field, parse in (("ignore_txn_start_ts", _ignore_txn_start_ts), ("sink_config", _sink_config),
                         ("mounter_worker_num", _mounter_worker_num)):
        value = parse(body)
        if value is not None:
            options[field] = value
    sink_uri = body.get("sink_uri")
    if sink_uri is not None and (not isinstance(sink_uri, str) or not sink_uri):
        raise BadBody("sink_uri must be a non-empty string")
    fields = {"sink_uri": sink_uri, "tables": _filter_rules(body), "target_ts": _ts(body, "target_ts"),
              "options": {**job.options, **options} if options else None}
    try:
        jobs.update_subscription(caller, job, **{k: v for k, v in fields.items() if v is not None})
    except DomainError as exc:
        if exc.kind == "state":
            raise ApiError(400, "CDC:ErrChangefeedUpdateRefused", exc.message) from exc
        raise
    return accepted()


@endpoint("POST")
def pause(request, caller, changefeed_id):
    jobs.pause_job(caller, get_job(caller, changefeed_id))
    return accepted()


@endpoint("POST")
def resume(request, caller, changefeed_id):
    jobs.resume_job(caller, get_job(caller, changefeed_id))
    return accepted()


@endpoint("POST")
def rebalance_table(request, caller, changefeed_id):
    """Move the changefeed's instance dump to the live worker leading the fewest instances, if that evens the load."""
    job = get_job(caller, changefeed_id)
    if not caller.can_admin(job.group_id):
        raise DomainError("forbidden", "only an admin of the changefeed's group may rebalance it")
    instance = job.instance
    load = dict(Instance.objects.exclude(leader="").values_list("leader").annotate(n=Count("id")))
    live = sorted(fleet.live_workers().values_list("name", flat=True), key=lambda name: (load.get(name, 0), name))
    if not live:
        raise ApiError(400, "CDC:ErrCaptureNotExist", "no live worker to move the tables to")
    best, current = live[0], instance.leader
    if current not in live or (best != current and load.get(best, 0) + 1 < load.get(current, 0)):
        instances.move_dump(caller, instance, best)
    return accepted()


@endpoint("POST")
def move_table(request, caller, changefeed_id):
    job = get_job(caller, changefeed_id)
    body = json_body(request)
    capture_id = body.get("target_capture_id", body.get("capture_id"))
    if not isinstance(capture_id, str) or not capture_id:
        raise BadBody("capture_id (target capture) is required")
    tid = as_int(body.get("table_id"), "table_id", minimum=0)
    if tid not in table_ids(job):
        raise ApiError(400, "CDC:ErrTableNotFound", f"table {tid} is not replicated by changefeed {job.name}")
    if not fleet.live_workers().filter(name=capture_id).exists():
        raise ApiError(404, "CDC:ErrCaptureNotExist", f"capture {capture_id} does not exist or is not alive")
    instances.move_dump(caller, job.instance, capture_id)
    return accepted()


# --- processors, captures, owner, log ------------------------------------------------

@endpoint("GET")
@whole_list
def processors(request, caller):
    qs = jobs.visible_jobs(caller).exclude(instance__leader="").exclude(state=SubscriptionState.FINISHED)
    return json_response([{"changefeed_id": name, "capture_id": leader}
                          for name, leader in qs.values_list("name", "instance__leader")])


@endpoint("GET")
def processor(request, caller, changefeed_id, capture_id):
    job = get_job(caller, changefeed_id)
    if not job.instance.leader or job.instance.leader != capture_id:
        raise ApiError(404, "CDC:ErrProcessorNotFound",
                       f"changefeed {changefeed_id} has no processor on capture {capture_id}")
    progress = positions.job_progress(job)
    return json_response({
        "checkpoint_ts": progress.ts,
        "resolved_ts": progress.queued_ts,
        "table_ids": table_ids(job),
        "error": running_error(job),
    })


@endpoint("GET")
def captures(request, caller):
    return json_response([
        {"id": w.name, "is_owner": w.is_owner, "address": f"{w.ip}:{w.port}" if caller.is_super else ""}
        for w in fleet.live_workers()
    ])


@endpoint("POST")
def owner_resign(request, caller):
    if not caller.is_super:
        raise ApiError(403, "CDC:ErrForbidden", "only a super admin may move the owner")
    try:
        fleet.resign_owner(caller.actor)
    except fleet.FleetError as exc:
        raise ApiError(400, "CDC:ErrOwnerNotFound", str(exc)) from exc
    return accepted()


@endpoint("POST")
def log_level(request, caller):
    """Set this web process's root log level (TiCDC sets its server's)."""
    if not caller.is_super:
        raise ApiError(403, "CDC:ErrForbidden", "only a super admin may change the log level")
    body = json_body(request)
    level = body.get("log_level")
    if level not in LOG_LEVELS:
        raise BadBody(f"log_level must be one of {', '.join(LOG_LEVELS)}")
    logging.getLogger().setLevel(LOG_LEVELS[level])
    AuditLog.record(caller.actor, "set_log_level", message=f"log level {level}")
    return HttpResponse(status=200)
