"""Bindings (BinLake's `rule`: an instance bound to an MQ rule): bind and unbind.

A binding is a subscription in the engine, not a mechanism of its own: `bind` creates the binding and its
subscription (`Rule.subscription`) in one transaction, and the subscription is listed, paused, positioned and
monitored like any other (console, /api/subscriptions/, TiCDC changefeeds). What the subscription is:

- `mq_rule` = the rule: the engine applies its filters (white/black, events, columns, fake columns, business
  keys), its order type and with_trx, and delivers to its topic (workers.filters.mq_rule_options);
- `tables` = "*.*": the rule's filters do the selection (a change passes only when a WHITE filter matches its
  event and table, so a rule with filters delivers no other table; a rule with no filters delivers every
  table, as in BinLake);
- `target` = the rule's destination: its `target` (a kafka or amqp target of its group), else the configured
  MQ address (Config.mq_addr: a kafka:// or amqp:// URI, or Kafka's `host:port[,host:port]`), reached through
  a target of the group named after the rule (`mq-<topic>`, created on the first binding, reused after, and
  dropped with the last binding that used it). The mq_addr is read when binding: a later change of it does not
  move existing bindings.

The engine reads the rule on every reload (about every second), so a change of its filters, order type,
with_trx or topic reaches running bindings at once; a new target reaches them because MqRule.save moves the
bindings' subscriptions to it. Unbinding deletes the subscription: the dump stops delivering at its next
reload. `storage_type` and `convert_class` are BinLake's and kept for its manager; the engine does not use them.
"""
import re

from django.db import IntegrityError, transaction
from django.utils import timezone

from console.choices import StorageType, SubscriptionState, SyncPhase, TargetKind
from console.domain.audit import record_change, snapshot
from console.domain.caller import as_caller
from console.domain.errors import DomainError
from console.models import Config, Rule, Subscription, Target

MQ_KINDS = (TargetKind.KAFKA, TargetKind.AMQP)
HOST_PORT_RE = re.compile(r"^[A-Za-z0-9_.\-]+:\d{1,5}$")
MQ_ADDR_TARGET = "mq_addr"  # Target.options["created_for"] of the targets made for the configured MQ address


def check_rule_target(group_id, target):
    """An MQ rule's target: None, or a kafka or amqp target of the rule's group (DomainError otherwise)."""
    if target is None:
        return
    if target.kind not in MQ_KINDS:
        raise DomainError("invalid", f"target '{target}' is a {target.kind} target: an MQ rule needs kafka or amqp")
    if str(target.group_id) != str(group_id):
        raise DomainError("invalid", f"target '{target}' belongs to another group than the MQ rule")


def mq_addr_uri(mq_addr):
    """The sink URI of the configured MQ address, '' when none is configured."""
    mq_addr = (mq_addr or "").strip()
    if not mq_addr:
        return ""
    if "://" in mq_addr:
        scheme = mq_addr.split("://", 1)[0].lower()
        if scheme not in MQ_KINDS:
            raise DomainError("invalid", f"the configured MQ address is a {scheme}:// URI, not kafka:// or amqp://")
        return mq_addr
    brokers = [b.strip() for b in mq_addr.split(",")]
    if not all(HOST_PORT_RE.match(b) for b in brokers):
        raise DomainError("invalid", "the configured MQ address is neither a URI nor Kafka's host:port[,host:port]")
    return f"kafka://{','.join(brokers)}"


def _mq_addr_target(rule, uri):
    """The group's target for the configured MQ address, named after the rule; reused while the URI is the same."""
    base = f"mq-{rule.topic}"[:120]
    name, n = base, 1
    while True:
        existing = Target.objects.filter(group_id=rule.group_id, name=name).first()
        if existing is None:
            return Target.objects.create(group_id=rule.group_id, name=name, uri=uri,
                                         options={"created_for": MQ_ADDR_TARGET})
        if existing.uri == uri and existing.options.get("created_for") == MQ_ADDR_TARGET:
            return existing
        n += 1
        name = f"{base}-{n}"


def destination(rule):
    """The target a binding of `rule` delivers to (see the module's doc); DomainError when it has none."""
    if rule.target_id:
        return rule.target
    uri = mq_addr_uri(Config.current().mq_addr)
    if not uri:
        raise DomainError("invalid", f"MQ rule '{rule}' has no target and no MQ address is configured: "
                                     "give the rule a kafka or amqp target")
    return _mq_addr_target(rule, uri)


def follow_rule_target(rule):
    """A binding delivers to its rule's destination: a rule given a new target takes its bindings' subscriptions
    along (the dump picks the change up at its next reload). A rule whose target was cleared leaves them where
    they are: the configured MQ address is read only when binding."""
    if rule.target_id:
        Subscription.objects.filter(binding__rule_id=rule.pk).exclude(target_id=rule.target_id).update(
            target_id=rule.target_id, update_time=timezone.now())


def _subscription_name(instance, rule):
    base = re.sub(r"[^A-Za-z0-9_.\-]", "-", f"rule-{rule.topic}-{instance.host}-{instance.port}")[:120]
    name, n = base, 1
    while Subscription.objects.filter(name=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def _visible(caller, group_id, what):
    if not caller.can_view(group_id):
        raise DomainError("not_found", f"{what} does not exist")


def _binding_snapshot(binding):
    sub = binding.subscription
    return {**snapshot(binding), "topic": binding.rule.topic,
            "subscription": sub.name if sub else None, "target": sub.target.name if sub else None}


def bind(caller, instance, rule, storage_type=StorageType.MQ_STORAGE, convert_class=""):
    """Bind `instance` to the MQ rule `rule`: from now on its changes flow to the rule's topic through the rule's
    filters (a new subscription, starting where the instance's dump is when it notices it)."""
    caller = as_caller(caller)
    _visible(caller, instance.group_id, "the instance")
    _visible(caller, rule.group_id, "the MQ rule")
    if not caller.can_admin(instance.group_id):
        raise DomainError("forbidden", "only an admin of the instance's group may bind it")
    if instance.group_id != rule.group_id:
        raise DomainError("invalid", "the instance and the MQ rule must belong to the same group")
    if storage_type not in StorageType.values:
        raise DomainError("invalid", f"storage_type must be one of {', '.join(StorageType.values)}")
    if not isinstance(convert_class, str) or len(convert_class) > 255:
        raise DomainError("invalid", "convert_class must be a string of at most 255 characters")
    if Rule.objects.filter(instance=instance, rule=rule).exists():
        raise DomainError("exists", f"instance {instance} is already bound to MQ rule '{rule}'")
    try:
        with transaction.atomic():
            target = destination(rule)
            sub = Subscription.objects.create(
                name=_subscription_name(instance, rule), group_id=instance.group_id, instance=instance,
                target=target, mq_rule=rule, tables="*.*", state=SubscriptionState.NORMAL,
                phase=SyncPhase.INCREMENTAL, created_by=getattr(caller.actor, "username", caller.actor),
            )
            binding = Rule.objects.create(group_id=instance.group_id, instance=instance, rule=rule,
                                          storage_type=storage_type, convert_class=convert_class, subscription=sub)
            record_change(caller.actor, "binding_create", binding, after=_binding_snapshot(binding))
    except IntegrityError as exc:
        raise DomainError("exists", f"instance {instance} is already bound to MQ rule '{rule}'") from exc
    return binding


def unbind(caller, binding):
    """Unbind: the binding and its subscription go; the dump stops delivering at its next reload."""
    caller = as_caller(caller)
    _visible(caller, binding.group_id, "the binding")
    if not caller.can_admin(binding.group_id):
        raise DomainError("forbidden", "only an admin of the binding's group may unbind it")
    with transaction.atomic():
        before = _binding_snapshot(binding)
        sub = binding.subscription
        record_change(caller.actor, "binding_delete", binding, before=before)
        if sub is None:
            binding.delete()
        else:
            target = sub.target
            sub.delete()  # the binding goes with it (Rule.subscription is CASCADE)
            if target.options.get("created_for") == MQ_ADDR_TARGET and not target.subscriptions.exists() \
                    and not target.mq_rules.exists():
                target.delete()
