"""Bifrost monitoring API (docs/compatibility.md): /db/list, /synclist, /flow/get, plus the "miss" write.

Mapping: a Bifrost data source (DbName) is an instance, named "host:port";
a channel and its ToServer are a subscription (channelid = ToServerID =
subscription id) and its target (ToServerKey = target name, PluginName =
target kind). Answers are Bifrost's bare JSON (a map, or a list); errors
are {"status": 0, "msg": ..., "data": null} with a 4xx status.

Auth: HTTP Basic with a Tower user's password, or `Authorization: Token`.
Every member of a group (including the read-only `user` role) reads that
group's objects; writing (POST /table/toserver/deal, Bifrost's "Miss" button:
skip the failing event once) needs a group admin.
"""
import functools
import re
from types import SimpleNamespace

from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from console.domain import subscriptions as jobs
from console.domain import progress
from console.domain.errors import DomainError
from console.api.compat.auth import AuthFailed, challenge, identify
from console.api.compat.base import BadBody, as_int, json_response, whole_list
from console.choices import FLOW_WINDOWS, DumpState, InstanceStatus, SubscriptionState
from console.models import Instance, Subscription


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
        if not re.fullmatch(r"-?[0-9]+", port):
            return qs.none()  # a DbName that is no host:port names no instance of ours
        qs = qs.filter(host=host, port=as_int(port, "the port of dbname", minimum=1, maximum=65535))
    return qs


def _int_param(params, name):
    value = params.get(name, "")
    return as_int(value, name, minimum=0) if value else 0


def table_patterns(tables):
    """[(schema, table)] of a subscription's table rules (Subscription.tables), excludes left out."""
    result = []
    for rule in tables.split(","):
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


# What db_list shows of an instance (conn_status, instance_progress), read as rows: never its password, which
# decrypts on load, and no model per instance (most of the list's cost at 10,000 instances).
DB_LIST_FIELDS = ("id", "host", "port", "user", "status", "state", "leader", "lease_expires", "last_error",
                  "slave_id", "create_time", "binlog_file", "binlog_pos", "gtid_set", "binlog_when")


@bifrost_endpoint()
@whole_list
def db_list(request, caller, params):
    instances = _instances(caller, params)
    channels = {}  # instance id -> [(subscription id, tables)]: two queries for the whole fleet
    for instance_id, pk, tables in Subscription.objects.filter(instance__in=instances.values("pk")).order_by().values_list(
            "instance_id", "pk", "tables"):
        channels.setdefault(instance_id, []).append((pk, tables))
    result = {}
    for instance in instances.values(*DB_LIST_FIELDS):
        instance = SimpleNamespace(**instance)
        subs = channels.get(instance.id, [])
        patterns = {p for _, tables in subs for p in table_patterns(tables)}
        position = progress.instance_progress(instance)
        status = conn_status(instance)
        result[db_name(instance)] = {
            "Name": db_name(instance),
            "ConnectUri": f"{instance.user}:@tcp({instance.host}:{instance.port})/",  # never the password
            "ConnStatus": status,
            "ConnErr": instance.last_error or status,
            "ChannelCount": len(subs),
            "LastChannelID": max((pk for pk, _ in subs), default=0),
            "TableCount": len(patterns),
            "BinlogDumpFileName": position.binlog_file,
            "BinlogDumpPosition": position.binlog_pos,
            "MaxBinlogDumpFileName": "",
            "MaxBinlogDumpPosition": 0,
            "ReplicateDoDb": {schema: 1 for schema, _ in sorted(patterns)},
            "ServerId": instance.slave_id,
            "AddTime": int(instance.create_time.timestamp()),
        }
    return json_response(result)


def plugin_fields(target) -> dict:
    """A ToServer's fields that come from its target, masked: computed once per target, not per channel."""
    return {"PluginName": target.kind, "ToServerKey": target.name,
            "PluginParam": {**target.display_options, "SinkUri": target.display_uri}}


TO_SERVER_STATUS = {SubscriptionState.NORMAL: "running", SubscriptionState.STOPPED: "stopped"}  # else as is


@functools.lru_cache(maxsize=1024)
def field_list(text) -> list:
    """Bifrost's FieldList of a subscription's field_list; a fleet's jobs share a few (most: empty). The list
    is only serialized, so one is shared by every job with the same text."""
    return [f.strip() for f in text.split(",") if f.strip()]


def to_server(subscription, plugin=None) -> dict:
    """A channel's ToServer; `plugin` is plugin_fields(subscription.target) when the caller has it already."""
    position = progress.job_progress(subscription)
    status = jobs.job_status(subscription)
    plugin = plugin or plugin_fields(subscription.target)
    return {
        "ToServerID": subscription.pk,
        "PluginName": plugin["PluginName"],
        "MustBeSuccess": subscription.must_be_success,
        "FilterQuery": subscription.filter_query,
        "FilterUpdate": subscription.filter_update,
        "FieldList": field_list(subscription.field_list),
        "ToServerKey": plugin["ToServerKey"],
        "BinlogFileNum": position.file_number,
        "BinlogPosition": position.binlog_pos,
        "PluginParam": plugin["PluginParam"],
        "Status": TO_SERVER_STATUS.get(status.state, status.state),
        "Error": status.error,
        "ErrorWaitDeal": 1 if subscription.skip_next else 0,
        "ErrorWaitData": subscription.error_wait_data,
    }


# What synclist shows of a channel besides what job_status reads (console.domain.subscriptions.job_rows).
TO_SERVER_FIELDS = ("tables", "field_list", "must_be_success", "filter_query", "filter_update", "skip_next",
                    "error_wait_data")


@bifrost_endpoint(methods=("GET", "POST"))
@whole_list
def synclist(request, caller, params):
    channel_id = _int_param(params, "channelid")
    to_server_key = params.get("toserverkey", "")
    schema_filter, table_filter = params.get("schema_name", ""), params.get("table_name", "")
    subs = caller.scope(Subscription.objects.all())
    if params.get("dbname") or not caller.is_super:  # a super admin's whole list needs no instance subquery
        subs = subs.filter(instance__in=_instances(caller, params))
    if channel_id:
        subs = subs.filter(pk=channel_id)
    if to_server_key:
        subs = subs.filter(target__name=to_server_key)
    plugins = {}  # target id -> plugin_fields: each target's URI decrypted and masked once
    rows = {}
    for sub in jobs.job_rows(subs, TO_SERVER_FIELDS, target_fields=("name", "kind", "uri", "options"),
                             key=lambda job: (job.instance.host, job.instance.port, job.pk)):
        plugin = plugins.get(sub.target_id) or plugins.setdefault(sub.target_id, plugin_fields(sub.target))
        entry = to_server(sub, plugin)
        name = db_name(sub.instance)
        for schema, table in table_patterns(sub.tables):
            if (schema_filter and schema != schema_filter) or (table_filter and table != table_filter):
                continue
            row = rows.get((name, schema, table))
            if row is None:
                row = rows[name, schema, table] = {"DbName": name, "SchemaName": schema, "TableName": table,
                                                   "ToServerList": []}
            row["ToServerList"].append(entry)
    return json_response(list(rows.values()))


def flow_points(instance_ids, window, schema="", table="", subscription_id=None):
    """[{Time, Count, ByteSize}] cumulative, summed over the instances, oldest first (progress.flow_sum).

    The series are the engine's: instance totals, a schema, a table, or a
    subscription. A table named without its schema sums that table over every
    schema that has one.
    """
    keys = progress.table_series(instance_ids, table) if table and not schema else [(i, schema) for i in instance_ids]
    series = [(instance_id, schema_name or None, table or None, subscription_id) for instance_id, schema_name in keys]
    return [{"Time": p["time"], "Count": p["count"], "ByteSize": p["byte_size"]}
            for p in progress.flow_sum(series, window)]  # nothing visible: the window's times with zeros


@bifrost_endpoint()
@whole_list
def flow_get(request, caller, params):
    window = params.get("type", "")
    if window not in FLOW_WINDOWS:
        raise BadBody(f"type must be one of {', '.join(FLOW_WINDOWS)}")
    channel_id = _int_param(params, "channelid")
    instance_ids = list(_instances(caller, params).values_list("pk", flat=True))
    if channel_id:
        channel = caller.scope(Subscription.objects.filter(pk=channel_id, instance_id__in=instance_ids)).first()
        if channel is None:
            return fail(f"channel {channel_id} does not exist", 404)
        instance_ids = [channel.instance_id]  # a subscription's series has no schema/table split
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
    try:
        jobs.miss(caller, sub)
    except DomainError as exc:
        return fail(exc.message, exc.status)
    return json_response({"status": 1, "msg": "success", "data": None})
