"""Bifrost monitoring API (reference 000): /db/list, /synclist, /flow/get, plus the "miss" write.

Mapping: a Bifrost data source (DbName) is an instance, named "host:port";
a channel and its ToServer are a subscription (channelid = ToServerID =
subscription id) and its target (ToServerKey = target name, PluginName =
target kind). Answers are the reference's bare JSON (a map, or a list); errors
are {"status": 0, "msg": ..., "data": null} with a 4xx status.

Auth: HTTP Basic with a Tower user's password, or `Authorization: Token`.
Every member of a group (including the read-only `user` role) reads that
group's objects; writing (POST /table/toserver/deal, Bifrost's "Miss" button:
skip the failing event once) needs a group admin.
"""
import functools
from datetime import datetime, timedelta, timezone as dt_timezone

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from console.api import positions
from console.api.compat.auth import AuthFailed, challenge, identify
from console.api.compat.base import BadBody, json_response
from console.choices import FLOW_WINDOWS, DumpState, InstanceStatus, SubscriptionState
from console.models import AuditLog, FlowSample, Instance, Subscription


def fail(message, status):
    return json_response({"status": 0, "msg": message, "data": None}, status=status)


def bifrost_endpoint(methods=("GET",)):
    def decorate(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request):
            if request.method not in methods:
                response = fail(f"method {request.method} not allowed", 405)
                response["Allow"] = ", ".join(methods)
                return response
            try:
                caller = identify(request, basic=True)
            except AuthFailed as exc:
                response = fail(str(exc), 401)
                response["WWW-Authenticate"] = challenge(basic=True)
                return response
            params = request.GET.copy()
            if request.method == "POST":
                params.update(request.POST)
            try:
                return view(request, caller, params)
            except BadBody as exc:
                return fail(str(exc), 400)

        return wrapper

    return decorate


def db_name(instance) -> str:
    return f"{instance.host}:{instance.port}"


def _instances(caller, params):
    qs = caller.scope(Instance.objects.all())
    name = params.get("dbname", "")
    if name:
        host, _, port = name.rpartition(":")
        if not port.isdigit():
            return qs.none()
        qs = qs.filter(host=host, port=int(port))
    return qs


def _int_param(params, name):
    value = params.get(name, "")
    if value in ("", "0"):
        return 0
    if not value.isdigit():
        raise BadBody(f"{name} must be an integer")
    return int(value)


def table_patterns(subscription):
    """[(schema, table)] of a subscription's table rules, excludes left out."""
    result = []
    for rule in subscription.tables.split(","):
        rule = rule.strip()
        if rule and not rule.startswith("!") and "." in rule:
            schema, _, table = rule.partition(".")
            result.append((schema, table))
    return result


def conn_status(instance) -> str:
    """Bifrost's ConnStatus: close, stop, starting, running."""
    if instance.status != InstanceStatus.DUMP:
        return "close"
    if instance.state == DumpState.OFFLINE:
        return "stop"
    if instance.leader and instance.lease_expires and instance.lease_expires > timezone.now():
        return "running"
    return "starting"


@bifrost_endpoint()
def db_list(request, caller, params):
    result = {}
    for instance in _instances(caller, params).prefetch_related("subscriptions"):
        subs = list(instance.subscriptions.all())
        patterns = {p for s in subs for p in table_patterns(s)}
        progress = positions.instance_progress(instance)
        status = conn_status(instance)
        result[db_name(instance)] = {
            "Name": db_name(instance),
            "ConnectUri": f"{instance.user}:@tcp({instance.host}:{instance.port})/",  # never the password
            "ConnStatus": status,
            "ConnErr": instance.last_error or status,
            "ChannelCount": len(subs),
            "LastChannelID": max((s.pk for s in subs), default=0),
            "TableCount": len(patterns),
            "BinlogDumpFileName": progress.binlog_file,
            "BinlogDumpPosition": progress.binlog_pos,
            "MaxBinlogDumpFileName": "",
            "MaxBinlogDumpPosition": 0,
            "ReplicateDoDb": {schema: 1 for schema, _ in sorted(patterns)},
            "ServerId": instance.slave_id,
            "AddTime": int(instance.create_time.timestamp()),
        }
    return json_response(result)


def to_server(subscription) -> dict:
    progress = positions.job_progress(subscription)
    target = subscription.target
    return {
        "ToServerID": subscription.pk,
        "PluginName": target.kind,
        "MustBeSuccess": subscription.must_be_success,
        "FilterQuery": subscription.filter_query,
        "FilterUpdate": subscription.filter_update,
        "FieldList": [f.strip() for f in subscription.field_list.split(",") if f.strip()],
        "ToServerKey": target.name,
        "BinlogFileNum": progress.file_number,
        "BinlogPosition": progress.binlog_pos,
        "PluginParam": {**target.options, "SinkUri": target.display_uri},
        "Status": {SubscriptionState.NORMAL: "running", SubscriptionState.STOPPED: "stopped"}.get(
            subscription.state, subscription.state),
        "Error": subscription.error,
        "ErrorWaitDeal": 1 if subscription.skip_next else 0,
        "ErrorWaitData": subscription.error_wait_data,
    }


@bifrost_endpoint(methods=("GET", "POST"))
def synclist(request, caller, params):
    channel_id = _int_param(params, "channelid")
    to_server_key = params.get("toserverkey", "")
    schema_filter, table_filter = params.get("schema_name", ""), params.get("table_name", "")
    subs = caller.scope(Subscription.objects.select_related("instance", "target")).filter(
        instance__in=_instances(caller, params))
    if channel_id:
        subs = subs.filter(pk=channel_id)
    if to_server_key:
        subs = subs.filter(target__name=to_server_key)
    rows = {}
    for sub in subs.order_by("instance__host", "instance__port", "pk"):
        entry = to_server(sub)
        for schema, table in table_patterns(sub):
            if (schema_filter and schema != schema_filter) or (table_filter and table != table_filter):
                continue
            key = (db_name(sub.instance), schema, table)
            rows.setdefault(key, {"DbName": key[0], "SchemaName": schema, "TableName": table, "ToServerList": []})
            rows[key]["ToServerList"].append(entry)
    return json_response(list(rows.values()))


def flow_points(instance_ids, window, schema="", table="", subscription_id=None):
    """[{Time, Count, ByteSize}] cumulative, summed over the instances' series, one point per step.

    Reads FlowSample directly; workers/flow.py's flow_window can take over here.
    Without a channel the instance-level series (subscription NULL) are used;
    without schema/table every schema/table series is summed.
    """
    points, step = FLOW_WINDOWS[window]
    now = int(timezone.now().timestamp())
    end = now - now % step
    times = [end - (points - 1 - i) * step for i in range(points)]
    start_dt = datetime.fromtimestamp(times[0], tz=dt_timezone.utc)
    qs = FlowSample.objects.filter(instance_id__in=instance_ids, time__lte=datetime.fromtimestamp(end, tz=dt_timezone.utc))
    qs = qs.filter(subscription_id=subscription_id) if subscription_id else qs.filter(subscription__isnull=True)
    if schema:
        qs = qs.filter(schema_name=schema)
    if table:
        qs = qs.filter(table_name=table)
    # Each series contributes its last value at or before a point: start from its value before the window.
    series_last = {}
    before = qs.filter(time__lt=start_dt).values("instance_id", "subscription_id", "schema_name", "table_name").annotate(
        last=Max("time"))
    for row in before:
        sample = qs.filter(instance_id=row["instance_id"], subscription_id=row["subscription_id"],
                           schema_name=row["schema_name"], table_name=row["table_name"], time=row["last"]).first()
        if sample:
            series_last[(row["instance_id"], row["subscription_id"], row["schema_name"], row["table_name"])] = sample
    samples = list(qs.filter(time__gte=start_dt).order_by("time", "id"))
    result, i = [], 0
    for t in times:
        while i < len(samples) and samples[i].time.timestamp() <= t:
            s = samples[i]
            series_last[(s.instance_id, s.subscription_id, s.schema_name, s.table_name)] = s
            i += 1
        result.append({
            "Time": t,
            "Count": sum(s.count for s in series_last.values()),
            "ByteSize": sum(s.byte_size for s in series_last.values()),
        })
    return result


@bifrost_endpoint()
def flow_get(request, caller, params):
    window = params.get("type", "")
    if window not in FLOW_WINDOWS:
        raise BadBody(f"type must be one of {', '.join(FLOW_WINDOWS)}")
    channel_id = _int_param(params, "channelid")
    instance_ids = list(_instances(caller, params).values_list("pk", flat=True))
    if channel_id and not caller.scope(Subscription.objects.filter(pk=channel_id, instance_id__in=instance_ids)).exists():
        return fail(f"channel {channel_id} does not exist", 404)
    return json_response(flow_points(instance_ids, window, params.get("schema", ""), params.get("table_name", ""),
                                     channel_id or None))


@bifrost_endpoint(methods=("POST",))
def toserver_deal(request, caller, params):
    """Bifrost's "Miss": skip the event the ToServer keeps failing on, once."""
    to_server_id = _int_param(params, "ToServerID") or _int_param(params, "channelid")
    if not to_server_id:
        raise BadBody("ToServerID is required")
    sub = caller.scope(Subscription.objects.all()).filter(pk=to_server_id).first()
    if sub is None:
        return fail(f"ToServer {to_server_id} does not exist", 404)
    if not caller.can_admin(sub.group_id):
        return fail("read-only: only a group admin may change a ToServer", 403)
    with transaction.atomic():
        Subscription.objects.filter(pk=sub.pk).update(skip_next=True)
        AuditLog.record(caller.actor, "miss", sub, before={"skip_next": sub.skip_next}, after={"skip_next": True},
                        message="skip the failing event once (Bifrost Miss)")
    return json_response({"status": 1, "msg": "success", "data": None})
