"""BinLake manager MetaData API (docs/compatibility.md).

Every request body is one MetaData object
    {dbInfo, slave, master, counter, terminal, candidate, zk}
either as plain JSON or as BinLake's hex(gzip(JSON)). The instance is named by
dbInfo.host + dbInfo.port. Answers are {"code": 1000, "message": ""} on
success; /master/status and /slave/status answer a filled MetaData, in the
encoding the request used (plain JSON, or hex(gzip(JSON)) as text/plain).

Failure codes (with the HTTP status they come with):

    1001  400  the body is not a MetaData: bad JSON/hex/gzip (or gzip inflating past 10 MB, JSON nested
               deeper than 32 levels, a lone UTF-16 surrogate), a field of the wrong type, host or port missing
    1002  404  no such instance (or not one of the caller's groups)
    1003  403  the caller may not change this instance
    1004  409  not allowed in the instance's state (e.g. not `dump` yet; /remove/node/ while ONLINE)
    1005  409  /create/znodes/: the instance is already registered
    1006  502  the source server could not be asked (/master/status, /set/binlog/), or failed the grant
               checks (/create/znodes/ by the manager)
    1007  400  a value is not acceptable (binlogPos 0, a position the server's binary logs do not have or
               that is not where an event starts, a bad host or port, an empty leader, a state other than
               ONLINE/OFFLINE)
    1401  401  no or bad credentials

Auth: `Authorization: Token <key>` (a Tower user's token, acting with that
user's permissions) or the manager token Config.manager_token (BinLake's
manager, trusted with every group) as `Authorization: Token <it>` or in
BinLake's own header `token: <it>`.

Integers are signed 64-bit (a bigger one is 1001); transactionId is one, in
requests (also as a decimal string; absent or "" is 0) and in answers.

/create/znodes/ registers the instance through console.domain.instances, like
every other surface. The group is the Tower extension field `"group"` (a name)
at the top level of the MetaData; without it, the only group the caller admins,
else the group `default` (created if missing, super admins and the manager
only). With a user's token (a group admin) the instance is registered in state
`init` and waits for the DBA's approval in Tower's workflow (the slave part of
the body is not used). With the manager token, BinLake's manager is the DBA
side and the instance goes through every workflow step to `dump`, each audited
with the actor "manager", the grant checks against the real server included
(console.domain.instances.register_by_manager): the start position is
slave.binlogFile/binlogPos (binlogPos 0 is refused; checked against the
server's binary logs; without a file, the master's current position), the
leader slave.leader, the candidates `candidate`, dbInfo.state ONLINE (default)
or OFFLINE. /set/binlog/ sets the position of the instance and of all its
subscriptions (console.domain.instances.set_position). /remove/node/ deletes an OFFLINE
instance with its subscriptions and checkpoints; /exist/node/ answers 1000
when the instance exists and 1002 (404) when it does not.
"""
import binascii
import functools
import gzip
import json
import zlib

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from console.api.compat.auth import AuthFailed, challenge, identify
from console.api.compat.base import BadBody, as_int, as_str, body_of, json_response, loads
from console.choices import DumpState, MemberRole
from console.models import Group, Instance, Member, TransitionError
from console.domain import catalog, instances, progress, sources
from console.domain.errors import DomainError

OK, BAD_BODY, NOT_FOUND, FORBIDDEN, ILLEGAL_STATE, EXISTS, SOURCE_ERROR, BAD_VALUE, UNAUTHORIZED = (
    1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1401)
HTTP_STATUS = {BAD_BODY: 400, NOT_FOUND: 404, FORBIDDEN: 403, ILLEGAL_STATE: 409, EXISTS: 409, SOURCE_ERROR: 502,
               BAD_VALUE: 400, UNAUTHORIZED: 401}


DOMAIN_CODES = {"invalid": BAD_VALUE, "forbidden": FORBIDDEN, "not_found": NOT_FOUND, "exists": EXISTS,
                "state": ILLEGAL_STATE, "source": SOURCE_ERROR}


# A MetaData document is a few KB; hex(gzip()) of a bomb is small and inflates without end: inflate at most this.
MAX_INFLATED_BYTES = 10 * 1024 * 1024


class MetaError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


# --- encoding -----------------------------------------------------------------

def decode_body(raw: bytes):
    """(MetaData dict, encoding) where encoding is 'json' or 'hexgzip'."""
    text = raw.strip()
    if not text:
        raise MetaError(BAD_BODY, "the body must be a MetaData object")
    encoding = "json"
    if not text.startswith(b"{"):
        try:
            text = gunzip(binascii.unhexlify(text), MAX_INFLATED_BYTES)
        except (binascii.Error, ValueError, EOFError, zlib.error) as exc:
            raise MetaError(BAD_BODY, "the body is neither JSON nor hex(gzip(JSON))") from exc
        encoding = "hexgzip"
    meta = loads(text)
    if not isinstance(meta, dict):
        raise MetaError(BAD_BODY, "the body must be a MetaData object")
    for key in ("dbInfo", "slave", "master", "counter"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            raise MetaError(BAD_BODY, f"{key} must be an object")
    if meta.get("candidate") is not None and not (
            isinstance(meta["candidate"], list) and all(isinstance(c, str) for c in meta["candidate"])):
        raise MetaError(BAD_BODY, "candidate must be a list of host names")
    for key in ("slave", "master"):
        if meta.get(key) and "transactionId" in meta[key]:
            meta[key]["transactionId"] = transaction_id(meta[key]["transactionId"], f"{key}.transactionId")
    return meta, encoding


def gunzip(data: bytes, limit: int) -> bytes:
    """gzip.decompress (every member) that stops with BadBody once the output would pass `limit` bytes."""
    out = bytearray()
    while data:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        out += inflater.decompress(data, limit + 1 - len(out))
        if len(out) > limit:
            raise BadBody(f"the gzip body inflates to more than {limit} bytes")
        if not inflater.eof:
            raise EOFError("truncated gzip stream")
        data = inflater.unused_data.lstrip(b"\0")  # gzip.decompress also ignores zero padding after a member
    return bytes(out)


def transaction_id(value, field) -> int:
    """BinLake's transactionId, a long: an integer (or its decimal string); absent, null or "" is 0."""
    if value is None or value == "":
        return 0
    return as_int(value, field)


def encode_answer(data, encoding):
    body = json.dumps(data, ensure_ascii=False)
    if encoding == "hexgzip":
        return HttpResponse(binascii.hexlify(gzip.compress(body.encode("utf-8"))), content_type="text/plain")
    return HttpResponse(body, content_type="application/json")


def answer(code=OK, message=""):
    return json_response({"code": code, "message": message}, status=HTTP_STATUS.get(code, 200))


# --- MetaData <-> Instance ----------------------------------------------------

def _ms(dt):
    return int(dt.timestamp() * 1000) if dt else 0


def db_info(instance):
    return {
        "slaveId": instance.slave_id,
        "host": instance.host,
        "port": instance.port,
        "user": instance.user,
        "password": "",  # never returned
        "createTime": _ms(instance.create_time),
        "state": instance.state,
        "rule": [
            {"ruleId": r.rule_id, "storageType": r.storage_type, "convertClass": r.convert_class,
             "topic": r.rule.topic}
            for r in instance.rules.select_related("rule")
        ],
        "metaVersion": instance.meta_version,
        "slaveUUID": instance.slave_uuid,
    }


def binlog_info(file="", pos=0, gtid="", when=0, instance=None):
    return {
        "binlogFile": file,
        "binlogPos": pos,
        "executedGtidSets": gtid,
        "leader": instance.leader if instance else "",
        "leaderVersion": instance.leader_version if instance else 0,
        "binlogWhen": when,
        "transactionId": instance.transaction_id if instance else 0,
        "instanceIp": instance.host if instance else "",
        # Whether the dump follows GTIDs, the engine's rule: asked for and a GTID set to start from.
        "withGTID": bool(instance and instance.with_gtid and instance.gtid_set),
        "preLeader": instance.pre_leader if instance else "",
    }


def meta_data(instance, meta, *, slave=None, master=None):
    return {
        "dbInfo": db_info(instance),
        "slave": slave,
        "master": master,
        "counter": {"retryTimes": instance.retry_times, "killTimes": instance.kill_times},
        "terminal": meta.get("terminal"),
        "candidate": list(instance.candidates),
        "zk": meta.get("zk"),
    }


def _db_address(meta):
    info = meta.get("dbInfo") or {}
    host = as_str(info.get("host"), "dbInfo.host")
    port = as_int(info.get("port"), "dbInfo.port", minimum=1, maximum=65535)
    return host, port


def _instance(caller, meta):
    host, port = _db_address(meta)
    instance = caller.scope(Instance.objects.select_related("group")).filter(host=host, port=port).first()
    if instance is None:
        raise MetaError(NOT_FOUND, f"no instance {host}:{port}")
    return instance


# --- views --------------------------------------------------------------------

def manager_endpoint(view):
    @csrf_exempt
    @functools.wraps(view)
    def wrapper(request):
        if request.method != "POST":
            response = answer(BAD_BODY, "POST a MetaData object")
            response.status_code = 405
            response["Allow"] = "POST"
            return response
        try:
            caller = identify(request, manager_token=True)
        except AuthFailed as exc:
            response = answer(UNAUTHORIZED, str(exc))
            response["WWW-Authenticate"] = challenge()
            return response
        try:
            meta, encoding = decode_body(body_of(request))
            return view(request, caller, meta, encoding)
        except BadBody as exc:
            return answer(BAD_BODY, str(exc))
        except MetaError as exc:
            return answer(exc.code, exc.message)
        except PermissionDenied as exc:
            return answer(FORBIDDEN, str(exc) or "not allowed")
        except TransitionError as exc:
            return answer(ILLEGAL_STATE, str(exc))
        except DomainError as exc:
            return answer(DOMAIN_CODES.get(exc.kind, BAD_VALUE), exc.message)

    return wrapper


def _operate(view):
    """An operation on an existing instance: find it (scoped), check the caller may admin its group."""

    @manager_endpoint
    @functools.wraps(view)
    def wrapper(request, caller, meta, encoding):
        instance = _instance(caller, meta)
        if not caller.can_admin(instance.group_id):
            raise MetaError(FORBIDDEN, f"you may not change instance {instance}")
        view(caller, instance, meta)
        return answer()

    return wrapper


def _group_for_new_instance(caller, meta):
    name = meta.get("group")
    if name is not None:
        name = as_str(name, "group")
    elif caller.user is not None and not caller.is_super:
        admin_groups = list(Member.objects.filter(
            erp=caller.user.username, role__in=(MemberRole.ADMIN, MemberRole.CREATOR)).values_list("group_id", flat=True))
        if len(admin_groups) == 1:
            return Group.objects.get(pk=admin_groups[0])
    name = name or "default"
    group = Group.objects.filter(name=name).first()
    if group is None and caller.is_super:
        group = catalog.create_group(caller, name, mark="created by the manager API")
    # One answer whether the group is missing or someone else's: it must not tell which group names exist.
    if group is None or not caller.can_admin(group.pk):
        raise MetaError(FORBIDDEN, f"you may not register instances in group '{name}'")
    return group


@manager_endpoint
def create_znodes(request, caller, meta, encoding):
    info, slave = meta.get("dbInfo") or {}, meta.get("slave") or {}
    host, port = info.get("host"), info.get("port")  # checked by the domain, like every registration
    user = as_str(info.get("user"), "dbInfo.user", required=False)
    password = as_str(info.get("password"), "dbInfo.password", required=False)
    slave_id = as_int(info.get("slaveId") or 0, "dbInfo.slaveId", minimum=0, maximum=2**32 - 1) or None
    if not caller.is_manager:
        with transaction.atomic():  # a refused registration leaves no group behind either
            group = _group_for_new_instance(caller, meta)
            instance = instances.register_instance(caller, group, host, port, user, password, slave_id)
        return answer(OK, f"registered {instance} in state init: it dumps once the DBA approved it")
    binlog_file = as_str(slave.get("binlogFile"), "slave.binlogFile", required=False)
    binlog_pos = as_int(slave.get("binlogPos") or 0, "slave.binlogPos", minimum=0)
    if binlog_file and binlog_pos < 4:
        raise MetaError(BAD_VALUE, f"slave.binlogPos {binlog_pos} is not a binlog position (0 is refused)")
    state = info.get("state") or DumpState.ONLINE
    if state not in DumpState.values:
        raise MetaError(BAD_VALUE, "dbInfo.state must be ONLINE or OFFLINE")
    descriptive = dict(
        slave_uuid=as_str(info.get("slaveUUID"), "dbInfo.slaveUUID", required=False),
        meta_version=as_int(info.get("metaVersion") or 0, "dbInfo.metaVersion", minimum=0),
        transaction_id=slave.get("transactionId") or 0,
        binlog_when=as_int(slave.get("binlogWhen") or 0, "slave.binlogWhen", minimum=0),
    )
    gtid_set = as_str(slave.get("executedGtidSets"), "slave.executedGtidSets", required=False)
    leader = as_str(slave.get("leader"), "slave.leader", required=False)
    with transaction.atomic():
        group = _group_for_new_instance(caller, meta)
        instances.register_by_manager(
            caller, group, host, port, user, password, slave_id, binlog_file=binlog_file, binlog_pos=binlog_pos,
            gtid_set=gtid_set, candidates=meta.get("candidate") or [], leader=leader,
            online=state == DumpState.ONLINE, **descriptive,
        )
    return answer()


@_operate
def set_binlog(caller, instance, meta):
    slave = meta.get("slave") or {}
    binlog_file = as_str(slave.get("binlogFile"), "slave.binlogFile", required=False)
    binlog_pos = as_int(slave.get("binlogPos", 0), "slave.binlogPos", minimum=0)
    gtid = as_str(slave.get("executedGtidSets"), "slave.executedGtidSets", required=False)
    if not gtid and (not binlog_file or binlog_pos < 4):
        raise MetaError(BAD_VALUE, "give slave.binlogFile and a binlogPos >= 4, or slave.executedGtidSets")
    instances.set_position(caller, instance, binlog_file, binlog_pos, gtid)


@_operate
def set_online(caller, instance, meta):
    instances.set_online(caller, instance)


@_operate
def set_offline(caller, instance, meta):
    instances.set_offline(caller, instance)


@_operate
def set_leader(caller, instance, meta):
    leader = as_str((meta.get("slave") or {}).get("leader"), "slave.leader", required=False)
    if not leader:
        raise MetaError(BAD_VALUE, "slave.leader names the new leader")
    instances.set_leader(caller, instance, leader)


@_operate
def set_candidate(caller, instance, meta):
    if meta.get("candidate") is None:
        raise MetaError(BAD_VALUE, "candidate lists the candidate hosts")
    instances.set_candidates(caller, instance, meta["candidate"])


@_operate
def reset_counter(caller, instance, meta):
    instances.reset_counter(caller, instance)


@_operate
def remove_node(caller, instance, meta):
    instances.delete_instance(caller, instance)


@manager_endpoint
def exist_node(request, caller, meta, encoding):
    _instance(caller, meta)
    return answer()


@manager_endpoint
def master_status(request, caller, meta, encoding):
    instance = _instance(caller, meta)
    status = sources.master_status(instance)
    master = binlog_info(status["file"], status["pos"], status["gtid"], instance=instance)
    return encode_answer(meta_data(instance, meta, master=master), encoding)


@manager_endpoint
def slave_status(request, caller, meta, encoding):
    instance = _instance(caller, meta)
    p = progress.instance_progress(instance)
    slave = binlog_info(p.binlog_file, p.binlog_pos, p.gtid_set, p.binlog_when, instance=instance)
    return encode_answer(meta_data(instance, meta, slave=slave), encoding)
