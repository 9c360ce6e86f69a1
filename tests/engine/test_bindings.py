"""A binding delivers, with a real worker: bound through the native API, an instance's changes reach the MQ rule's
topic on the rule's Kafka target through exactly the rule's filters and with_trx; unbound, they stop."""
from accounts import Api, make_user
from console.choices import MemberRole
from console.models import Filter, MqFilterRelation, MqRule, Rule, Subscription, Target

from .conftest import make_instance, make_subscription, wait_caught_up, wait_for, wait_for_dump_reload
from .target_contents import KafkaTarget


def shape(messages):
    """(type, table, data, old) of each message; BEGIN/COMMIT markers as their type alone."""
    return [m["type"] if m["type"] in ("BEGIN", "COMMIT") else (m["type"], m["table"], m["data"], m["old"])
            for m in messages]


def test_a_bound_rule_gets_its_filtered_rows_until_unbound(workers, source, kafka_bootstrap):
    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.orders (id INT PRIMARY KEY, name VARCHAR(16), secret VARCHAR(16))")
    source.execute(f"CREATE TABLE `{s}`.other (id INT PRIMARY KEY, name VARCHAR(16))")
    instance = make_instance(source)
    group = instance.group
    topic = KafkaTarget(kafka_bootstrap)  # the rule's topic: the target's URI names none
    kafka = Target.objects.create(group=group, name="kafka", uri=f"kafka://{kafka_bootstrap}")
    rule = MqRule.objects.create(group=group, topic=topic.topic, target=kafka, with_trx=True)
    only_orders = Filter.objects.create(group=group, type="WHITE", table_name=rf"{s}\.orders", events="INSERT,UPDATE",
                                        white_columns="id,name")
    MqFilterRelation.objects.create(mq=rule, filter=only_orders)
    # A plain subscription of the same instance's orders: it shows when the dump has read past a row.
    witness = KafkaTarget(kafka_bootstrap)
    make_subscription(instance, witness.uri, name="witness", tables=f"{s}.orders")
    admin = Api(make_user("binder", group, MemberRole.ADMIN).token)

    response = admin.post("/api/rules/", {"instance": instance.pk, "rule": rule.pk})
    assert response.status_code == 201, response.content
    binding = Rule.objects.get(pk=response.json()["id"])
    workers.start("w1")
    workers.start_beat()
    wait_for_dump_reload(instance)

    source.execute(f"INSERT INTO `{s}`.orders VALUES (1, 'one', 'pw1'), (2, 'two', 'pw2')")
    source.execute(f"INSERT INTO `{s}`.other VALUES (1, 'elsewhere')")
    source.execute(f"UPDATE `{s}`.orders SET name = 'uno', secret = 'pw9' WHERE id = 1")
    source.execute(f"DELETE FROM `{s}`.orders WHERE id = 2")  # DELETE is not among the filter's events
    source.execute(f"INSERT INTO `{s}`.orders VALUES (3, 'three', 'pw3')")
    wait_caught_up(instance, source)
    delivered = [
        "BEGIN",
        ("INSERT", "orders", [{"id": 1, "name": "one"}], None),
        ("INSERT", "orders", [{"id": 2, "name": "two"}], None),
        "COMMIT",
        "BEGIN", ("UPDATE", "orders", [{"id": 1, "name": "uno"}], [{"name": "one"}]), "COMMIT",
        "BEGIN", ("INSERT", "orders", [{"id": 3, "name": "three"}], None), "COMMIT",
    ]
    assert shape(topic.messages()) == delivered

    assert admin.delete(f"/api/rules/{binding.pk}/").status_code == 204
    assert not Subscription.objects.filter(name__startswith="rule-").exists()
    wait_for_dump_reload(instance)  # the dump applies the witness alone
    source.execute(f"INSERT INTO `{s}`.orders VALUES (4, 'four', 'pw4')")
    wait_for(lambda: any(m["data"] == [{"id": 4, "name": "four", "secret": "pw4"}] for m in witness.messages()), 60,
             message="the witness to get the row written after unbinding")
    assert shape(topic.messages()) == delivered  # nothing more on the rule's topic
