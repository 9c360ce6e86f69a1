"""A group's catalog: the group itself, its members, filters, MQ rules (and their filter links) and targets.

Every surface (console pages, native API, compatibility APIs, management commands) creates, changes and
deletes these objects here, so one rule holds everywhere: who may (`caller`: anything `as_caller` takes),
what is valid (one validator per object, each raising DomainError("invalid", message, field)), and which
audit action is recorded. Surfaces only parse their input into plain values and objects.

Audit actions, one per operation, the same whichever surface asked:

    group_create     create_group (plus member_add for the creator's own membership)
    group_update     update_group (a new name re-keys the group; everything of it follows)
    group_delete     delete_group
    member_add       add_member
    member_role      change_member_role
    member_update    update_member (email, organisation)
    member_remove    remove_member
    filter_create / filter_update / filter_delete
    mqrule_create / mqrule_update / mqrule_delete   (the rule's filter links set with it)
    mqrule_link / mqrule_unlink                     link_filter / unlink_filter (one link at a time)
    target_create / target_update / target_delete

Roles: whoever creates a group is its creator; 'creator' is never assigned otherwise. Group admins (admin or
creator) manage the group's objects and members, except the creator's membership, which only a super
admin may change or remove (so a group keeps someone who can administer it). Only the creator or a super
admin deletes a group, and only once no instance is left in it.
"""
import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError

from console.choices import ALL_EVENTS, EventType, FilterType, MemberRole, OrderType
from console.domain.audit import record_change, snapshot
from console.domain.bindings import check_rule_target, follow_rule_target
from console.domain.caller import as_caller
from console.domain.errors import DomainError
from console.ids import md5_id
from console.models import Filter, Group, Member, MqFilterRelation, MqRule, Target, kind_of_uri
from console.permissions import group_role
from workers.masking import restore_masked
from workers.sinks.options import check_options, check_uri

NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
COLUMN_RE = re.compile(r"^[A-Za-z0-9_$]+$")
TOPIC_RE = re.compile(r"^[A-Za-z0-9._\-]{1,249}$")
ASSIGNABLE_ROLES = (MemberRole.USER, MemberRole.ADMIN)


# --- shared checks -----------------------------------------------------------

def _require_admin(caller, group_id, what):
    if not caller.can_admin(group_id):
        raise DomainError("forbidden", f"Only an admin of this group may {what}.")


def _only(changes, allowed, what):
    unknown = set(changes) - set(allowed)
    if unknown:
        raise TypeError(f"{what} has no field(s) {', '.join(sorted(unknown))}")


def _text(value, field, max_length, required=False, label=None):
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DomainError("invalid", f"{label or field} must be a string", field)
    value = value.strip()
    if required and not value:
        raise DomainError("invalid", f"{label or field} is required", field)
    if len(value) > max_length:
        raise DomainError("invalid", f"{label or field} is longer than {max_length} characters", field)
    return value


def _choice(value, field, choices):
    if value not in choices:
        raise DomainError("invalid", f"{field} must be one of {', '.join(choices)}", field)
    return value


def _fixed(obj, changes, field, what):
    if field in changes and getattr(changes[field], "pk", changes[field]) != getattr(obj, f"{field}_id"):
        raise DomainError("invalid", f"{what}'s {field} is fixed once created: create another one instead", field)
    changes.pop(field, None)


def _write(caller, action, obj, before=None, **audit):
    obj.save()
    record_change(caller.actor, action, obj, before=before, **audit)
    return obj


# --- groups ------------------------------------------------------------------

def clean_group(name, mark="") -> dict:
    name = _text(name, "name", 64, required=True)
    if not NAME_RE.match(name):
        raise DomainError("invalid", "Use letters, digits, '_', '.', '-' (at most 64).", "name")
    return {"name": name, "mark": _text(mark, "mark", 255)}


def _name_free(name, group=None):
    if Group.objects.filter(name=name).exclude(pk=getattr(group, "pk", None)).exists():
        raise DomainError("exists", f"A group named '{name}' already exists.", "name")


# Names a user could mistake for Tower's own, or take to catch what Tower files under them: BinLake's manager
# registers an instance without a group in `default`, so whoever created `default` would admin it. Only the
# manager, a system party and super admins create these (in any letter case).
RESERVED_GROUP_NAMES = ("default", "admin", "root", "system", "manager", "tower", "api")


def _name_allowed(caller, name, group=None):
    renamed = group is None or name.lower() != group.name.lower()
    if renamed and name.lower() in RESERVED_GROUP_NAMES and not caller.is_super:
        raise DomainError("invalid", f"'{name}' is a reserved group name: choose another one.", "name")


def create_group(caller, name, mark="") -> Group:
    """Any signed-in user may create a group and becomes its creator."""
    caller = as_caller(caller)
    if caller.user is not None and not getattr(caller.user, "is_authenticated", False):
        raise DomainError("forbidden", "Sign in to create a group.")
    data = clean_group(name, mark)
    _name_allowed(caller, data["name"])
    _name_free(data["name"])
    with transaction.atomic():
        group = Group(**data)
        group.save()
        record_change(caller.actor, "group_create", group, group_id=group.pk)
        if caller.user is not None:
            user = caller.user
            creator = Member(erp=user.username, email=getattr(user, "email", "") or "", group=group,
                             role=MemberRole.CREATOR)
            _write(caller, "member_add", creator)
    return group


def update_group(caller, group, **changes) -> Group:
    caller = as_caller(caller)
    _only(changes, ("name", "mark"), "a group")
    _require_admin(caller, group.pk, "edit it")
    data = clean_group(changes.get("name", group.name), changes.get("mark", group.mark))
    _name_allowed(caller, data["name"], group)
    _name_free(data["name"], group)
    before = snapshot(group)
    with transaction.atomic():
        group.name, group.mark = data["name"], data["mark"]
        # A new name re-keys the group (id = md5(name)); its members, rules, instances and audit rows follow.
        group.save()
        record_change(caller.actor, "group_update", group, before=before, group_id=group.pk)
    return group


def check_delete_group(caller, group):
    """Raise the DomainError delete_group would (a confirmation page shows it before anyone presses delete)."""
    caller = as_caller(caller)
    if not (caller.is_super or group_role(caller.user, group.pk) == MemberRole.CREATOR):
        raise DomainError("forbidden", "Only the group's creator or a super admin may delete a group.")
    instances = group.instances.count()
    if instances:
        raise DomainError("state", f"Group '{group}' still has {instances} instance(s): delete or move them first.")


def delete_group(caller, group):
    """Its members, filters, MQ rules and targets go with it; its instances must be gone first."""
    caller = as_caller(caller)
    check_delete_group(caller, group)
    with transaction.atomic():
        record_change(caller.actor, "group_delete", group, before=snapshot(group))
        _delete(group)


# --- members -----------------------------------------------------------------

def _check_role(role):
    if role == MemberRole.CREATOR:
        raise DomainError("invalid", "The creator role is never assigned: it is whoever created the group.", "role")
    return _choice(role, "role", ASSIGNABLE_ROLES)


def check_change_member(caller, member):
    """Raise the DomainError a change of this membership would (who may; not what)."""
    caller = as_caller(caller)
    _require_admin(caller, member.group_id, "change its members")
    if member.role == MemberRole.CREATOR and not caller.is_super:
        raise DomainError("forbidden", "The creator's membership can only be changed by a super admin.")


def add_member(caller, group, erp, role=MemberRole.USER, email="", org_name="") -> Member:
    caller = as_caller(caller)
    _require_admin(caller, group.pk, "add members")
    erp = _text(erp, "erp", 64, required=True, label="username")
    if not NAME_RE.match(erp):
        raise DomainError("invalid", "Not a valid username.", "erp")
    member = Member(erp=erp, group=group, role=_check_role(role), email=_text(email, "email", 128),
                    org_name=_text(org_name, "org_name", 128))
    if Member.objects.filter(group=group, erp=erp).exists():
        raise DomainError("exists", f"{erp} is already a member of {group}.")
    with transaction.atomic():
        return _write(caller, "member_add", member)


def change_member_role(caller, member, role) -> Member:
    """Switch a member between user and admin."""
    caller = as_caller(caller)
    check_change_member(caller, member)
    role = _check_role(role)
    if role == member.role:
        return member
    before = snapshot(member)
    member.role = role
    with transaction.atomic():
        return _write(caller, "member_role", member, before=before)


def update_member(caller, member, **changes) -> Member:
    """A member's email and organisation; who and where (erp, group) are the membership itself."""
    caller = as_caller(caller)
    _only(changes, ("erp", "group", "email", "org_name"), "a membership")
    check_change_member(caller, member)
    if changes.get("erp", member.erp) != member.erp:
        raise DomainError("invalid", "A membership's user is fixed: remove it and add another.", "erp")
    _fixed(member, changes, "group", "a membership")
    changes.pop("erp", None)
    values = {name: _text(value, name, 128) for name, value in changes.items()}
    if all(getattr(member, name) == value for name, value in values.items()):
        return member
    before = snapshot(member)
    for name, value in values.items():
        setattr(member, name, value)
    with transaction.atomic():
        return _write(caller, "member_update", member, before=before)


def remove_member(caller, member):
    caller = as_caller(caller)
    check_change_member(caller, member)
    with transaction.atomic():
        record_change(caller.actor, "member_remove", member, before=snapshot(member))
        member.delete()


# --- filters -----------------------------------------------------------------

FILTER_FIELDS = ("name", "type", "table_name", "events", "white_columns", "black_columns", "fake_cols",
                 "business_keys")


def _words(value, field):
    if isinstance(value, (list, tuple)):
        items = value
    elif isinstance(value, str) or value is None:
        items = (value or "").split(",")
    else:
        raise DomainError("invalid", f"{field} must be a comma separated list", field)
    if not all(isinstance(item, str) for item in items):
        raise DomainError("invalid", f"{field} must be a list of names", field)
    return [item.strip() for item in items if item.strip()]


def _events(value):
    names = [name.upper() for name in _words(value, "events")]
    if not names or ALL_EVENTS.upper() in names:
        return ALL_EVENTS
    unknown = [name for name in names if name not in EventType.values]
    if unknown:
        raise DomainError("invalid", f"Unknown event type(s) {', '.join(unknown)}: use '{ALL_EVENTS}' or "
                                     f"{', '.join(EventType.values)}.", "events")
    chosen = list(dict.fromkeys(names))
    return ALL_EVENTS if len(chosen) == len(EventType.values) else ",".join(chosen)


def _columns(value, field):
    columns = _words(value, field)
    bad = [c for c in columns if not COLUMN_RE.match(c)]
    if bad:
        raise DomainError("invalid", f"Not column names: {', '.join(bad)}", field)
    return ",".join(columns)


def _fake_cols(value):
    pairs = []
    for item in _words(value, "fake_cols"):
        key, sep, constant = item.partition(":")
        if not sep or not COLUMN_RE.match(key.strip()):
            raise DomainError("invalid", f"'{item}' is not key:value (key a column name).", "fake_cols")
        pairs.append(f"{key.strip()}:{constant.strip()}")
    return ",".join(pairs)


def clean_filter(values: dict) -> dict:
    """Every field of a filter checked and in its stored form: what the dump loop can compile."""
    from workers.filters import FilterError, compile_user_regex, validate_filter

    table_name = _text(values.get("table_name"), "table_name", 255, required=True, label="table regex")
    try:
        compile_user_regex(table_name)  # RE2, as the engine matches it: linear time, no backreferences
    except FilterError as exc:
        raise DomainError("invalid", exc.message, exc.field_name) from None
    data = {
        "name": _text(values.get("name"), "name", 128),
        "type": _choice(values.get("type") or FilterType.WHITE, "type", FilterType.values),
        "table_name": table_name,
        "events": _events(values.get("events")),
        "white_columns": _columns(values.get("white_columns"), "white_columns"),
        "black_columns": _columns(values.get("black_columns"), "black_columns"),
        "fake_cols": _fake_cols(values.get("fake_cols")),
        "business_keys": _columns(values.get("business_keys"), "business_keys"),
    }
    if len(data["events"]) > 255 or len(data["business_keys"]) > 255:
        raise DomainError("invalid", "events and business_keys are at most 255 characters",
                          "events" if len(data["events"]) > 255 else "business_keys")
    for field, message in validate_filter(Filter(**data)).items():  # the engine's own compiler agrees
        raise DomainError("invalid", message, field)
    return data


def _filter_free(group_id, data, flt=None):
    new_id = md5_id(group_id, data["type"], data["table_name"])
    if Filter.objects.filter(pk=new_id).exclude(pk=getattr(flt, "pk", None)).exists():
        raise DomainError("exists", f"This group already has a {data['type']} filter for '{data['table_name']}'.")


def create_filter(caller, group, **fields) -> Filter:
    caller = as_caller(caller)
    _only(fields, FILTER_FIELDS, "a filter")
    _require_admin(caller, group.pk, "add filters")
    data = clean_filter(fields)
    _filter_free(group.pk, data)
    with transaction.atomic():
        return _write(caller, "filter_create", Filter(group=group, **data))


def update_filter(caller, flt, **changes) -> Filter:
    """A new type or table regex re-keys the filter (id = md5(group, type, regex)); its MQ links follow."""
    caller = as_caller(caller)
    _only(changes, ("group", *FILTER_FIELDS), "a filter")
    _require_admin(caller, flt.group_id, "edit its filters")
    _fixed(flt, changes, "group", "a filter")
    data = clean_filter({**{name: getattr(flt, name) for name in FILTER_FIELDS}, **changes})
    _filter_free(flt.group_id, data, flt)
    before = snapshot(flt)
    for name, value in data.items():
        setattr(flt, name, value)
    with transaction.atomic():
        return _write(caller, "filter_update", flt, before=before)


def delete_filter(caller, flt):
    caller = as_caller(caller)
    _require_admin(caller, flt.group_id, "delete its filters")
    with transaction.atomic():
        record_change(caller.actor, "filter_delete", flt, before=snapshot(flt))
        _delete(flt)


# --- MQ rules ----------------------------------------------------------------

def mq_rule_fields() -> tuple:
    """The fields a caller sets on an MQ rule (the group is fixed, the filters are linked separately)."""
    return tuple(f.name for f in MqRule._meta.concrete_fields if f.editable and f.name not in ("id", "group"))


def clean_mq_rule(group, values: dict) -> dict:
    data = dict(values)
    data["topic"] = _text(values.get("topic"), "topic", 249, required=True)
    if not TOPIC_RE.match(data["topic"]):
        raise DomainError("invalid", "A topic name uses letters, digits, '.', '_' and '-'.", "topic")
    data["name"] = _text(values.get("name"), "name", 128)
    data["producer_class"] = _text(values.get("producer_class"), "producer_class", 255)
    data["order_type"] = _choice(values.get("order_type") or OrderType.INSTANCE_ORDER, "order_type",
                                 OrderType.values)
    if not isinstance(values.get("with_trx", False), bool):
        raise DomainError("invalid", "with_trx must be true or false", "with_trx")
    paras = values.get("paras") or ""
    if not isinstance(paras, str):
        raise DomainError("invalid", "paras must be text, one key=value per line", "paras")
    lines = [line.strip() for line in paras.splitlines() if line.strip()]
    bad = [line for line in lines if "=" not in line or not line.split("=", 1)[0].strip()]
    if bad:
        raise DomainError("invalid", f"Write one key=value per line; not: {', '.join(bad)}", "paras")
    data["paras"] = "\n".join(lines)
    if values.get("target") is not None:
        try:
            check_rule_target(group.pk, values["target"])
        except DomainError as exc:
            raise DomainError("invalid", exc.message, "target") from None
    for name, value in values.items():  # whatever else the rule points at is the group's own
        if getattr(value, "group_id", group.pk) != group.pk:
            raise DomainError("invalid", f"{name} '{value}' belongs to another group", name)
    return data


def _topic_free(group, topic, rule=None):
    if MqRule.objects.filter(pk=md5_id(topic, group.pk)).exclude(pk=getattr(rule, "pk", None)).exists():
        raise DomainError("exists", f"This group already has a rule for topic '{topic}'.", "topic")


def _check_filters(group, filters):
    for flt in filters:
        if flt.group_id != group.pk:
            raise DomainError("invalid", f"Filter '{flt}' belongs to another group.")


def _set_filters(rule, filters):
    wanted = {flt.pk for flt in filters}
    MqFilterRelation.objects.filter(mq=rule).exclude(filter_id__in=wanted).delete()
    have = set(MqFilterRelation.objects.filter(mq=rule).values_list("filter_id", flat=True))
    for filter_id in sorted(wanted - have):
        # The relation's id is md5(mq_id + filter_id), computed in save(): create rows one by one.
        MqFilterRelation(mq=rule, filter_id=filter_id).save()


def _rule_snapshot(rule):
    return {**snapshot(rule), "filters": sorted(rule.relations.values_list("filter_id", flat=True))}


def create_mq_rule(caller, group, filters=(), **fields) -> MqRule:
    """`filters`: the group's filters the rule passes events through."""
    caller = as_caller(caller)
    _only(fields, mq_rule_fields(), "an MQ rule")
    _require_admin(caller, group.pk, "add MQ rules")
    data = clean_mq_rule(group, fields)
    filters = list(filters or ())
    _check_filters(group, filters)
    _topic_free(group, data["topic"])
    with transaction.atomic():
        rule = MqRule(group=group, **data)
        rule.save()
        _set_filters(rule, filters)
        record_change(caller.actor, "mqrule_create", rule, after=_rule_snapshot(rule))
    return rule


def update_mq_rule(caller, rule, filters=None, **changes) -> MqRule:
    """A new topic re-keys the rule (id = md5(topic, group)); its links and bindings follow. `filters`:
    the complete new set of linked filters, None to leave the links alone."""
    caller = as_caller(caller)
    _only(changes, ("group", *mq_rule_fields()), "an MQ rule")
    _require_admin(caller, rule.group_id, "edit its MQ rules")
    _fixed(rule, changes, "group", "an MQ rule")
    current = {name: getattr(rule, name) for name in mq_rule_fields()}
    data = clean_mq_rule(rule.group, {**current, **changes})
    if filters is not None:
        filters = list(filters)
        _check_filters(rule.group, filters)
    _topic_free(rule.group, data["topic"], rule)
    before = _rule_snapshot(rule)
    for name, value in data.items():
        setattr(rule, name, value)
    with transaction.atomic():
        rule.save()
        if filters is not None:
            _set_filters(rule, filters)
        follow_rule_target(rule)
        record_change(caller.actor, "mqrule_update", rule, before=before, after=_rule_snapshot(rule))
    return rule


def delete_mq_rule(caller, rule):
    """Its filter links and its bindings go with it."""
    caller = as_caller(caller)
    _require_admin(caller, rule.group_id, "delete its MQ rules")
    with transaction.atomic():
        record_change(caller.actor, "mqrule_delete", rule, before=_rule_snapshot(rule))
        _delete(rule)


def link_filter(caller, rule, flt) -> MqFilterRelation:
    caller = as_caller(caller)
    _require_admin(caller, rule.group_id, "link its filters")
    if flt.group_id != rule.group_id:
        raise DomainError("invalid", "the MQ rule and the filter must belong to the same group", "filter")
    if MqFilterRelation.objects.filter(mq=rule, filter=flt).exists():
        raise DomainError("exists", f"filter '{flt}' is already linked to MQ rule '{rule}'")
    with transaction.atomic():
        return _write(caller, "mqrule_link", MqFilterRelation(mq=rule, filter=flt), group_id=rule.group_id)


def unlink_filter(caller, relation):
    caller = as_caller(caller)
    group_id = relation.mq.group_id
    _require_admin(caller, group_id, "unlink its filters")
    with transaction.atomic():
        record_change(caller.actor, "mqrule_unlink", relation, before=snapshot(relation), group_id=group_id)
        relation.delete()


# --- targets -----------------------------------------------------------------

TARGET_FIELDS = ("name", "uri", "options")


def clean_target(values: dict) -> dict:
    uri = values.get("uri")
    if not isinstance(uri, str) or not uri.strip():
        raise DomainError("invalid", "A sink URI is required.", "uri")
    uri = uri.strip()
    try:
        kind_of_uri(uri)  # scheme, hosts and ports: a Kafka URI may list several brokers
    except ValidationError as exc:
        raise DomainError("invalid", exc.messages[0], "uri") from None
    parts = urlsplit(uri)
    if parts.scheme.lower() != "blackhole" and not parts.hostname:
        raise DomainError("invalid", "The URI needs a host.", "uri")
    problems = check_uri(uri)  # only listed client settings reach a client library (workers/sinks/options.py)
    if problems:
        raise DomainError("invalid", "; ".join(problems), "uri")
    options = values.get("options")
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise DomainError("invalid", "Options must be a JSON object.", "options")
    problems = check_options(parts.scheme.lower(), options)
    if problems:
        raise DomainError("invalid", "; ".join(problems), "options")
    return {"name": _text(values.get("name"), "name", 128, required=True), "uri": uri, "options": options}


def _target_name_free(group_id, name, target=None):
    if Target.objects.filter(group_id=group_id, name=name).exclude(pk=getattr(target, "pk", None)).exists():
        raise DomainError("exists", f"This group already has a target named '{name}'.", "name")


def create_target(caller, group, **fields) -> Target:
    caller = as_caller(caller)
    _only(fields, TARGET_FIELDS, "a target")
    _require_admin(caller, group.pk, "add targets")
    data = clean_target(fields)
    _target_name_free(group.pk, data["name"])
    with transaction.atomic():
        return _write(caller, "target_create", Target(group=group, **data))


def update_target(caller, target, **changes) -> Target:
    caller = as_caller(caller)
    _only(changes, ("group", *TARGET_FIELDS), "a target")
    _require_admin(caller, target.group_id, "edit its targets")
    _fixed(target, changes, "group", "a target")
    if "options" in changes:  # options read masked and sent back as they were keep their stored secrets
        changes["options"] = restore_masked(changes["options"], target.options)
    data = clean_target({**{name: getattr(target, name) for name in TARGET_FIELDS}, **changes})
    _target_name_free(target.group_id, data["name"], target)
    before = snapshot(target)
    for name, value in data.items():
        setattr(target, name, value)
    with transaction.atomic():
        return _write(caller, "target_update", target, before=before)


def check_delete_target(caller, target):
    """Raise the DomainError delete_target would."""
    caller = as_caller(caller)
    _require_admin(caller, target.group_id, "delete its targets")
    used = target.subscriptions.count()
    if used:
        raise DomainError("state", f"Target '{target}' is used by {used} subscription(s): delete them first.")


def delete_target(caller, target):
    caller = as_caller(caller)
    check_delete_target(caller, target)
    with transaction.atomic():
        record_change(caller.actor, "target_delete", target, before=snapshot(target))
        _delete(target)


def _delete(obj):
    """Delete, or say what still holds on to the object (a PROTECT reference) as a state refusal."""
    try:
        with transaction.atomic():
            obj.delete()
    except ProtectedError as exc:
        users = ", ".join(sorted({str(o) for o in exc.protected_objects}))
        raise DomainError("state", f"Cannot delete '{obj}': still used by {users}.") from exc
