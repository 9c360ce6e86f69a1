"""Bindings (console.domain.bindings): a binding is one subscription of the engine, made and removed with it."""
import pytest

from accounts import Api, client_for, make_user
from console.choices import MemberRole
from console.domain import bindings, catalog
from console.domain.audit import ACCESS_ACTIONS
from console.domain.errors import DomainError
from console.models import (
    AuditLog, Config, Filter, Group, Instance, MqFilterRelation, MqRule, Rule, Subscription, Target,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    class World:
        pass

    w = World()
    w.a = Group.objects.create(name="team-a")
    w.b = Group.objects.create(name="team-b")
    w.alice = make_user("alice", w.a, MemberRole.ADMIN)
    w.bob = make_user("bob", w.a, MemberRole.USER)
    w.carol = make_user("carol", w.b, MemberRole.ADMIN)
    w.instance = Instance.objects.create(group=w.a, host="10.1.0.1", port=3306, user="u", password="p", slave_id=1001,
                                         status="dump", state="ONLINE")
    w.kafka = Target.objects.create(group=w.a, name="kafka-a", uri="kafka://10.9.0.1:9092")
    w.rule = MqRule.objects.create(group=w.a, topic="orders", target=w.kafka, order_type="TABLE_ORDER")
    flt = Filter.objects.create(group=w.a, table_name=r"shop\.orders", events="INSERT,UPDATE")
    MqFilterRelation.objects.create(mq=w.rule, filter=flt)
    w.bare_rule = MqRule.objects.create(group=w.a, topic="bare")
    w.b_kafka = Target.objects.create(group=w.b, name="kafka-b", uri="kafka://10.9.0.2:9092")
    w.b_rule = MqRule.objects.create(group=w.b, topic="theirs", target=w.b_kafka)
    return w


def rows():
    """What a refused bind or unbind must leave as it was (records of access, such as the refusal, aside)."""
    changes = AuditLog.objects.exclude(action__in=ACCESS_ACTIONS)
    return {model.__name__: sorted(map(str, (changes if model is AuditLog else model.objects).values_list("pk", flat=True)))
            for model in (Rule, Subscription, Target, AuditLog, MqRule)}


def test_bind_creates_one_subscription_listed_with_the_others_and_unbind_removes_it(world):
    alice = Api(world.alice.token)
    response = alice.post("/api/rules/", {"instance": world.instance.pk, "rule": world.rule.pk})
    assert response.status_code == 201, response.content
    body = response.json()
    binding = Rule.objects.get(pk=body["id"])
    sub = binding.subscription
    assert (body["group"], body["instance"], body["rule"], body["subscription"], body["storage_type"]) == (
        world.a.pk, world.instance.pk, world.rule.pk, sub.pk, "MQ_STORAGE")
    assert Subscription.objects.count() == 1
    assert (sub.name, sub.instance_id, sub.target_id, sub.mq_rule_id, sub.tables, sub.state, sub.created_by) == (
        "rule-orders-10.1.0.1-3306", world.instance.pk, world.kafka.pk, world.rule.pk, "*.*", "normal", "alice")
    listed = alice.get("/api/subscriptions/").json()["results"]
    assert [(s["id"], s["name"], s["mq_rule"], s["target"]) for s in listed] == [
        (sub.pk, "rule-orders-10.1.0.1-3306", world.rule.pk, world.kafka.pk)]
    created = AuditLog.objects.get(action="binding_create")
    assert (created.actor, created.after["subscription"], created.after["target"], created.after["topic"]) == (
        "alice", "rule-orders-10.1.0.1-3306", "kafka-a", "orders")

    # Binding it again: 409, nothing more.
    before = rows()
    again = alice.post("/api/rules/", {"instance": world.instance.pk, "rule": world.rule.pk})
    assert again.status_code == 409 and rows() == before

    response = alice.delete(f"/api/rules/{binding.pk}/")
    assert response.status_code == 204
    assert not Rule.objects.exists() and not Subscription.objects.exists()
    assert Target.objects.filter(pk=world.kafka.pk).exists()  # the rule's own target stays
    deleted = AuditLog.objects.get(action="binding_delete")
    assert (deleted.actor, deleted.before["subscription"]) == ("alice", "rule-orders-10.1.0.1-3306")
    assert alice.get("/api/subscriptions/").json()["results"] == []


@pytest.mark.parametrize("who, rule, status, message", [
    ("alice", "bare_rule", 400, "MQ rule 'bare' has no target and no MQ address is configured: "
                                "give the rule a kafka or amqp target"),
    ("alice", "b_rule", 400, None),  # another group's rule is not even visible to alice
    ("bob", "rule", 403, "only an admin of the instance's group may bind it"),
    ("carol", "rule", 400, None),  # carol sees neither the instance nor the rule
])
def test_refused_binds_change_nothing(world, who, rule, status, message):
    before = rows()
    response = Api(getattr(world, who).token).post("/api/rules/", {"instance": world.instance.pk,
                                                                   "rule": getattr(world, rule).pk})
    assert response.status_code == status, response.content
    if message:
        assert response.json()["detail"] == message
    assert rows() == before


def test_the_domain_refuses_another_groups_rule_and_a_plain_member(world):
    root = make_user("root", super_admin=True)
    before = rows()
    with pytest.raises(DomainError) as err:
        bindings.bind(root, world.instance, world.b_rule)
    assert (err.value.kind, err.value.message) == ("invalid", "the instance and the MQ rule must belong to the same group")
    with pytest.raises(DomainError) as err:
        bindings.bind(world.bob, world.instance, world.rule)
    assert err.value.kind == "forbidden"
    with pytest.raises(DomainError) as err:
        bindings.bind(world.carol, world.instance, world.rule)
    assert err.value.kind == "not_found"
    assert rows() == before


def test_unbind_by_a_plain_member_is_refused(world):
    binding = bindings.bind(world.alice, world.instance, world.rule)
    before = rows()
    assert Api(world.bob.token).delete(f"/api/rules/{binding.pk}/").status_code == 403
    assert Api(world.carol.token).delete(f"/api/rules/{binding.pk}/").status_code == 404
    assert rows() == before


def test_mq_addr_is_the_destination_of_a_rule_without_target(world):
    Config.objects.update_or_create(keyword="default", defaults={"mq_addr": "10.7.0.1:9092,10.7.0.2:9092"})
    binding = bindings.bind(world.alice, world.instance, world.bare_rule)
    target = binding.subscription.target
    assert (target.name, target.group_id, target.kind, target.uri) == (
        "mq-bare", world.a.pk, "kafka", "kafka://10.7.0.1:9092,10.7.0.2:9092")
    other = Instance.objects.create(group=world.a, host="10.1.0.2", port=3306, user="u", password="p", slave_id=1002)
    second = bindings.bind(world.alice, other, world.bare_rule)
    assert second.subscription.target_id == target.pk  # reused
    bindings.unbind(world.alice, binding)
    assert Target.objects.filter(pk=target.pk).exists()  # still used by the second binding
    bindings.unbind(world.alice, second)
    assert not Target.objects.filter(name="mq-bare").exists()


def test_a_new_target_of_the_rule_moves_its_bindings(world):
    binding = bindings.bind(world.alice, world.instance, world.rule)
    amqp = Target.objects.create(group=world.a, name="rabbit-a", uri="amqp://guest:guest@10.9.0.3:5672/%2F?exchange=x")
    response = Api(world.alice.token).patch(f"/api/mq-rules/{world.rule.pk}/", {"target": amqp.pk})
    assert response.status_code == 200, response.content
    assert response.json()["target"] == amqp.pk
    binding.subscription.refresh_from_db()
    assert binding.subscription.target_id == amqp.pk


@pytest.mark.parametrize("target, message", [
    ("redis", "target 'redis-a' is a redis target: an MQ rule needs kafka or amqp"),
    ("b_kafka", "Invalid pk \"{pk}\" - object does not exist."),
])
def test_an_mq_rules_target_is_a_kafka_or_amqp_target_of_its_group(world, target, message):
    redis = Target.objects.create(group=world.a, name="redis-a", uri="redis://127.0.0.1:6379/0")
    chosen = redis if target == "redis" else getattr(world, target)
    before = rows()
    response = Api(world.alice.token).patch(f"/api/mq-rules/{world.bare_rule.pk}/", {"target": chosen.pk})
    assert response.status_code == 400
    assert response.json() == {"target": [message.format(pk=chosen.pk)]}
    assert rows() == before


def test_another_groups_target_is_refused_for_a_super_admin_too(world):
    root = Api(make_user("root", super_admin=True).token)
    before = rows()
    response = root.patch(f"/api/mq-rules/{world.bare_rule.pk}/", {"target": world.b_kafka.pk})
    assert response.status_code == 400
    assert response.json() == {"target": ["target 'kafka-b' belongs to another group than the MQ rule"]}
    assert rows() == before


def test_the_console_binds_and_unbinds_through_the_domain(world):
    console = client_for("alice")
    refused = console.post("/bindings/add/", {"instance": world.instance.pk, "rule": world.bare_rule.pk,
                                              "storage_type": "MQ_STORAGE"})
    assert refused.status_code == 400 and not Rule.objects.exists()
    response = console.post("/bindings/add/", {"instance": world.instance.pk, "rule": world.rule.pk,
                                               "storage_type": "MQ_STORAGE"})
    assert response.status_code == 302 and response.url == "/bindings/"
    binding = Rule.objects.get()
    assert binding.subscription.name == "rule-orders-10.1.0.1-3306"
    assert b"rule-orders-10.1.0.1-3306" in console.get("/subscriptions/").content
    response = console.post(f"/bindings/{binding.pk}/delete/")
    assert response.status_code == 302
    assert not Rule.objects.exists() and not Subscription.objects.exists()
    changes = AuditLog.objects.exclude(action__in=ACCESS_ACTIONS).order_by("id")
    assert list(changes.values_list("action", flat=True)) == ["binding_create", "binding_delete"]


def test_deleting_the_rule_or_the_subscription_takes_the_binding_and_its_subscription(world):
    binding = bindings.bind(world.alice, world.instance, world.rule)
    Subscription.objects.get(pk=binding.subscription_id).delete()
    assert not Rule.objects.exists()
    binding = bindings.bind(world.alice, world.instance, world.rule)
    world.rule.delete()
    assert not Rule.objects.exists() and not Subscription.objects.exists()


def test_the_manager_still_lists_the_bindings(world):
    bindings.bind(world.alice, world.instance, world.rule)
    from console.api.compat.manager import db_info

    assert db_info(world.instance)["rule"] == [
        {"ruleId": world.rule.pk, "storageType": "MQ_STORAGE", "convertClass": "", "topic": "orders"}]


def test_the_engine_rereads_the_rule_at_each_reload(world):
    """What the dump does every second (workers.dump._reload): a changed filter, topic, with_trx or target of the
    rule reaches the binding's running subscription."""
    from types import SimpleNamespace

    from workers.events import Position, RowChange
    from workers.subscriptions import SubscriptionRuntime

    def reloaded():
        return Subscription.objects.select_related("target", "mq_rule", "instance").get(pk=binding.subscription_id)

    def change(table, type="INSERT"):
        return RowChange("shop", table, type, {"id": 1, "name": "n", "secret": "s"}, None, ("id",),
                         Position("mysql-bin.000001", 4))

    binding = bindings.bind(world.alice, world.instance, world.rule)
    no_position = SimpleNamespace(binlog_file="", binlog_pos=0, gtid_set="", queued_file="", queued_pos=0,
                                  queued_gtid="", binlog_when=0)
    rt = SubscriptionRuntime(reloaded(), no_position)
    assert (rt.sink.topic, rt.sink.bootstrap, rt.sink.with_trx) == ("orders", "10.9.0.1:9092", False)
    assert rt.select(SimpleNamespace(changes=[change("orders"), change("other"), change("orders", "DELETE")])) == [
        change("orders")]

    flt = Filter.objects.get(table_name=r"shop\.orders")
    catalog.update_filter(world.alice, flt, white_columns="id,name", table_name=r"shop\.other")
    moved = Target.objects.create(group=world.a, name="kafka-2", uri="kafka://10.9.0.9:9092")
    catalog.update_mq_rule(world.alice, MqRule.objects.get(pk=world.rule.pk), with_trx=True, target=moved)
    rt.refresh(reloaded())
    assert (rt.sink.topic, rt.sink.bootstrap, rt.sink.with_trx) == ("orders", "10.9.0.9:9092", True)
    shaped = rt.select(SimpleNamespace(changes=[change("orders"), change("other")]))
    assert [(c.table, c.row) for c in shaped] == [("other", {"id": 1, "name": "n"})]
    rt.close()
