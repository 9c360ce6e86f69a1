"""Doris CCR syncer style job control (docs/compatibility.md): POST JSON to /<operation>.

A CCR job is a Subscription by name (the same object as the TiCDC changefeed
of that name). Success answers carry `"success": true`; failures are
`{"success": false, "error_msg": ...}` with a 4xx status (401 unauthenticated,
403 not allowed, 404 unknown job, 409 name taken or illegal state change,
400 anything else wrong with the request) and change nothing.
"""
import functools

from django.conf import settings
from django.db import transaction
from django.views.decorators.csrf import csrf_exempt

from console.domain import instances, subscriptions as jobs
from console.domain.errors import DomainError
from console.domain import progress as positions
from console.api.compat.auth import AuthFailed, challenge, identify
from console.api.compat.base import BadBody, as_int, as_str, json_body, json_response, whole_list
from console.choices import SubscriptionState, SyncPhase
from console.models import Instance

VERSION = getattr(settings, "TOWER_VERSION", "tower-1.0.0")


def fail(message, status):
    return json_response({"success": False, "error_msg": message}, status=status)


def ccr_endpoint(view):
    """Token auth, a JSON object body, and errors in CCR's shape."""

    @csrf_exempt
    @functools.wraps(view)
    def wrapper(request):
        if request.method != "POST" and not (request.method == "GET" and view.__name__ == "version"):
            response = fail(f"method {request.method} not allowed, POST JSON", 405)
            response["Allow"] = "POST"
            return response
        try:
            caller = identify(request)
        except AuthFailed as exc:
            response = fail(str(exc), 401)
            response["WWW-Authenticate"] = challenge()
            return response
        try:
            body = json_body(request, required=False) if request.method == "POST" else {}
            return view(request, caller, body)
        except BadBody as exc:
            return fail(str(exc), 400)
        except DomainError as exc:
            return fail(exc.message, exc.status)

    return wrapper


def job_of(caller, body):
    return jobs.get_job(caller, as_str(body.get("name"), "name"))


def progress_state(job) -> str:
    """CCR's progress_state: Table* when the job names one table, DB* for a database or a pattern set."""
    scope = "Table" if job.options.get("ccr_src", {}).get("table") else "DB"
    return scope + ("FullSync" if job.phase == SyncPhase.FULL_SYNC else "IncrementalSync")


def run_state(job) -> str:
    """CCR's running / paused: running while the job's shown state (console.domain.subscriptions.job_status) is
    normal; a paused, finished or failed job, or one whose source or target has failed past the grace period,
    is paused."""
    return "running" if jobs.job_status(job).state == SubscriptionState.NORMAL else "paused"


@ccr_endpoint
def version(request, caller, body):
    return json_response({"success": True, "version": VERSION})


@ccr_endpoint
def create_ccr(request, caller, body):
    name = as_str(body.get("name"), "name")
    src, dest = body.get("src"), body.get("dest")
    if not isinstance(src, dict) or not isinstance(dest, dict):
        raise BadBody("src and dest must be objects")
    host = as_str(src.get("host"), "src.host")
    port = as_int(src.get("port"), "src.port", minimum=1, maximum=65535)
    user = as_str(src.get("user"), "src.user", required=False)
    password = as_str(src.get("password"), "src.password", required=False)
    database = as_str(src.get("database"), "src.database")
    table = as_str(src.get("table"), "src.table", required=False)
    sink_uri = as_str(dest.get("sink_uri"), "dest.sink_uri")
    group = as_str(body.get("group"), "group", required=False) or "default"
    src_map = jobs.check_mapping(src.get("host_mapping"), "src.host_mapping")
    dest_map = jobs.check_mapping(dest.get("host_mapping"), "dest.host_mapping")
    if jobs.name_taken(name):
        raise DomainError("exists", f"job '{name}' already exists")

    # One transaction: a source registered for this job is rolled back if the job cannot be created after all.
    with transaction.atomic():
        instance = jobs.find_instance(caller, host, port)
        if instance is None:
            if Instance.objects.filter(host=host, port=port).exists() and not caller.is_super:
                raise DomainError("not_found", f"source {host}:{port} is not registered in any of your groups")
            instance = instances.register_source(caller, host, port, user, password, group)
        full_sync = jobs.table_has_rows(caller, instance, database, table, src_map)
        options = {
            "ccr_src": {"database": database, "table": table},
            "src_host_mapping": {k: v for k, v in src_map.items() if v},
            "dest_host_mapping": {k: v for k, v in dest_map.items() if v},
        }
        tables = f"{database}.{table}" if table else f"{database}.*"
        jobs.create_subscription(caller, name=name, instance=instance, sink_uri=sink_uri, tables=tables,
                                 options=options, full_sync=full_sync)
    return json_response({"success": True})


@ccr_endpoint
def get_lag(request, caller, body):
    """The job's own lag behind its source (console.domain.progress.job_lag): `lag` in commit sequence
    (bytes within one binlog file), `lag_seconds` in seconds."""
    commit_seq_lag, seconds = positions.job_lag(job_of(caller, body))
    return json_response({"success": True, "lag": commit_seq_lag, "lag_seconds": seconds})


@ccr_endpoint
def pause(request, caller, body):
    jobs.pause_job(caller, job_of(caller, body))
    return json_response({"success": True})


@ccr_endpoint
def resume(request, caller, body):
    jobs.resume_job(caller, job_of(caller, body))
    return json_response({"success": True})


@ccr_endpoint
def delete(request, caller, body):
    jobs.delete_subscription(caller, job_of(caller, body))
    return json_response({"success": True})


@ccr_endpoint
@whole_list
def list_jobs(request, caller, body):
    return json_response({"success": True, "jobs": list(jobs.visible_jobs(caller).values_list("name", flat=True))})


@ccr_endpoint
def job_detail(request, caller, body):
    job = job_of(caller, body)
    instance, src = job.instance, job.options.get("ccr_src", {})
    return json_response({"success": True, "job": {
        "name": job.name,
        "group": job.group.name,
        "src": {
            "host": instance.host, "port": instance.port, "user": instance.user,
            "database": src.get("database", ""), "table": src.get("table", ""),
            "host_mapping": job.options.get("src_host_mapping", {}),
        },
        "dest": {"sink_uri": job.target.display_uri, "host_mapping": job.options.get("dest_host_mapping", {})},
        "tables": job.tables,
        "state": run_state(job),
        "progress_state": progress_state(job),
        "create_time": job.create_time.isoformat(),
        "created_by": job.created_by,
    }})


@ccr_endpoint
def job_progress(request, caller, body):
    job = job_of(caller, body)
    p = positions.job_progress(job)
    return json_response({"success": True, "job_progress": {
        "name": job.name,
        "state": run_state(job),
        "progress_state": progress_state(job),
        "commit_seq": p.commit_seq,
        "binlog_file": p.binlog_file,
        "binlog_pos": p.binlog_pos,
        "gtid_set": p.gtid_set,
        "full_sync": {"total": job.fullsync_total, "done": job.fullsync_done, "state": job.fullsync_state,
                      "progress": job.fullsync_progress},
        "error": jobs.job_status(job).error,  # the engine's, or why its source is down
        "skipped": job.skipped_count,
        "skip_commit_seqs": job.options.get("skip_commit_seqs", []),
    }})


@ccr_endpoint
def job_status(request, caller, body):
    job = job_of(caller, body)
    return json_response({"success": True, "name": job.name, "state": run_state(job),
                          "progress_state": progress_state(job)})


@ccr_endpoint
def update_host_mapping(request, caller, body):
    job = job_of(caller, body)
    jobs.update_host_mapping(caller, job, body.get("src_host_mapping"), body.get("dest_host_mapping"))
    return json_response({"success": True})


@ccr_endpoint
def job_skip_binlog(request, caller, body):
    job = job_of(caller, body)
    skip_by = body.get("skip_by")
    if skip_by == "silence":
        if "skip_commit_seq" not in body:
            raise BadBody("skip_by silence needs skip_commit_seq")
        jobs.skip_event(caller, job, as_int(body["skip_commit_seq"], "skip_commit_seq", minimum=1))
    elif skip_by == "fullsync":
        jobs.force_fullsync(caller, job)
    else:
        raise BadBody("skip_by must be 'silence' or 'fullsync'")
    return json_response({"success": True})


@ccr_endpoint
def force_fullsync(request, caller, body):
    jobs.force_fullsync(caller, job_of(caller, body))
    return json_response({"success": True})
