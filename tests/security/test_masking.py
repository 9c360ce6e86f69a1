"""Secrets in sink URIs and target options (workers.masking): the masker's exact output, then every surface a
plain member reads and every audit record, which must never hold one."""
import json
import logging

import pytest

from console.choices import DumpState, InstanceStatus, MemberRole
from console.models import AuditLog, Group, Instance, Subscription, Target
from workers.masking import MaskSecrets, is_secret_name, mask_options, mask_text, mask_uri, restore_masked
from workers.sinks.base import SinkError

from accounts import PASSWORD, Api, client_for, make_user


@pytest.mark.parametrize("uri,shown", [
    ("redis://:pw@127.0.0.1:6379/0", "redis://:******@127.0.0.1:6379/0"),
    ("amqp://u:pw@127.0.0.1:5672/%2F", "amqp://u:******@127.0.0.1:5672/%2F"),
    # '#', '/', '@', '?' unescaped in a password: the userinfo ends at the last '@' before the query
    ("redis://:p#ss/w@h:6379/0", "redis://:******@h:6379/0"),
    ("mongodb://u:p@ss@h1:27017,h2:27017/db?replicaSet=rs", "mongodb://u:******@h1:27017,h2:27017/db?replicaSet=rs"),
    ("redis://:p?ss@h:6379/0?mode=set", "redis://:******@h:6379/0?mode=set"),
    ("mysql://u:p%40ss%23x@h:3306/db", "mysql://u:******@h:3306/db"),
    ("kafka://u@h:9092/t", "kafka://u@h:9092/t"),
    ("kafka://u:@h:9092/t", "kafka://u:******@h:9092/t"),
    # secret-named query parameters, whatever their spelling; a '&' inside one does not end it
    ("kafka://h:9092/t?sasl.password=x&protocol=canal-json", "kafka://h:9092/t?sasl.password=******&protocol=canal-json"),
    ("kafka://h:9092/t?ssl.key.password=a&access_key=b&secret_key=c&apiKey=d&sasl-password=e&token=f",
     "kafka://h:9092/t?ssl.key.password=******&access_key=******&secret_key=******&apiKey=******"
     "&sasl-password=******&token=******"),
    ("kafka://h/t?password=a&b#c&x=1", "kafka://h/t?password=******&x=1"),
    ("kafka://h:9092/t?sasl.username=u@corp&sasl.password=x#y",
     "kafka://h:9092/t?sasl.username=u@corp&sasl.password=******"),
    # a Redis key template is no secret; neither are business_keys
    ("redis://h:6379/0?key={$SchemaName}-{$TableName}&mode=set", "redis://h:6379/0?key={$SchemaName}-{$TableName}&mode=set"),
    ("kafka://h/t?business_keys=id", "kafka://h/t?business_keys=id"),
    # URIs nested in a query value, plain or percent-encoded
    ("clickhouse://u:pw@h:9000/db?source=mysql://u2:pw2@h2:3306/db&table=x",
     "clickhouse://u:******@h:9000/db?source=mysql://u2:******@h2:3306/db&table=x"),
    ("clickhouse://h/db?source=mysql%3A%2F%2Fu%3Apw%40h%2Fdb", "clickhouse://h/db?source=mysql://u:******@h/db"),
    # what cannot be read is masked whole
    ("redis://:a?b=c@h", "redis://******"),
    ("clickhouse://h/db?source=mysql://u:p&w@h&x=1", "clickhouse://h/db?source=mysql://******&x=1"),
    ("not a uri", "******"),
    ("u:pw@h:6379", "u:******"),
    ("blackhole://", "blackhole://"),
    ("", ""),
])
def test_mask_uri(uri, shown):
    assert mask_uri(uri) == shown


@pytest.mark.parametrize("name,secret", [
    ("password", True), ("sasl.password", True), ("ssl.key.password", True), ("ssl.key.pem", True),
    ("client_secret", True), ("accessKey", True), ("access_key", True), ("api_key", True), ("pwd", True),
    ("tlsCertificateKeyFilePassword", True), ("sslpassword", True), ("auth_token", True),
    ("key", False), ("business_keys", False), ("sasl.username", False), ("authSource", False), ("topic", False),
])
def test_secret_names(name, secret):
    assert is_secret_name(name) is secret


def test_mask_options_and_text():
    options = {"producer_config": {"sasl.password": "x", "linger.ms": 5}, "source": "mysql://u:pw@h:3306/db",
               "key": "{$TableName}", "password": "", "list": ["redis://:pw@h"]}
    assert mask_options(options) == {
        "producer_config": {"sasl.password": "******", "linger.ms": 5}, "source": "mysql://u:******@h:3306/db",
        "key": "{$TableName}", "password": "", "list": ["redis://:******@h"]}
    assert mask_text("RabbitMQ at amqp://u:pw@h:5672/ said no; password=abc, 'mongodb://u:x@h/db'") == \
        "RabbitMQ at amqp://u:******@h:5672/ said no; password=******, 'mongodb://u:******@h/db'"
    assert str(SinkError("mongodb URI: bad mongodb://u:pw@h:27017/db")) == "mongodb URI: bad mongodb://u:******@h:27017/db"


def test_restore_masked_keeps_what_was_sent_back_masked():
    stored = {"producer_config": {"sasl.password": "x", "linger.ms": 5}, "source": "mysql://u:pw@h/db"}
    shown = mask_options(stored)
    shown["producer_config"]["linger.ms"] = 9
    assert restore_masked(shown, stored) == {"producer_config": {"sasl.password": "x", "linger.ms": 9},
                                             "source": "mysql://u:pw@h/db"}
    assert restore_masked({"source": "mysql://u:new@h/db"}, stored) == {"source": "mysql://u:new@h/db"}


def test_log_records_are_masked():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "sink %s failed: %s", (
        "kafka://h/t?sasl.password=abc", "token=xyz"), None)
    assert MaskSecrets().filter(record) is True
    assert record.getMessage() == "sink kafka://h/t?sasl.password=****** failed: token=******"
    # tower.settings.LOGGING puts the filter on the root logger's handler
    assert any(isinstance(f, MaskSecrets) for h in logging.getLogger().handlers for f in h.filters)


# --- end to end ------------------------------------------------------------------------------------------

KAFKA_URI = ("kafka://kuser:k%23p%2Fw%40x@127.0.0.1:9092/topic?sasl.password=SASLSECRET"
             "&security.protocol=sasl_plaintext")
MONGO_URI = "mongodb://muser:m@p#ssMONGO@127.0.0.1:27017/db"
CLICKHOUSE_URI = "clickhouse://cuser:c%2FpwCLICK@127.0.0.1:9000/db"
REDIS_URI = "redis://:r#ss/wREDIS@127.0.0.1:6379/0?key={$SchemaName}-{$TableName}"
TICDC_URI = "kafka://tuser:TICDCSECRET@127.0.0.1:9092/t?sasl.password=TICDCSASL"
SECRETS = ["k%23p%2Fw%40x", "k#p/w@x", "SASLSECRET", "KEYSECRET", "m@p#ssMONGO", "ssMONGO", "c%2FpwCLICK", "c/pwCLICK",
           "SRCSECRET", "r#ss/wREDIS", "wREDIS", "TICDCSECRET", "TICDCSASL"]


def assert_no_secret(text, where):
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked by {where}"


@pytest.fixture
def world(db):
    class World:
        pass

    w = World()
    w.group = Group.objects.create(name="team-s")
    w.alice = make_user("alice", w.group, MemberRole.ADMIN)
    w.bob = make_user("bob", w.group, MemberRole.USER)
    w.instance = Instance.objects.create(
        group=w.group, host="10.1.0.1", port=3306, user="dump", password="dump-pw", slave_id=1001,
        status=InstanceStatus.DUMP, state=DumpState.ONLINE, binlog_file="mysql-bin.000003", binlog_pos=1200,
        candidates=["wave-1"], leader="wave-1",
    )
    return w


def test_no_surface_and_no_audit_record_shows_a_secret(world):
    alice = Api(world.alice.token)
    created = alice.post("/api/targets/", {
        "name": "kafka-s", "group": world.group.pk, "uri": KAFKA_URI,
        "options": {"producer_config": {"ssl.key.password": "KEYSECRET", "linger.ms": 5}}})
    assert created.status_code == 201, created.content
    assert created.json()["display_uri"] == ("kafka://kuser:******@127.0.0.1:9092/topic?sasl.password=******"
                                             "&security.protocol=sasl_plaintext")
    assert created.json()["options"] == {"producer_config": {"ssl.key.password": "******", "linger.ms": 5}}
    assert alice.post("/api/targets/", {"name": "mongo-s", "group": world.group.pk, "uri": MONGO_URI}).status_code == 201
    console = client_for("alice")
    response = console.post("/targets/add/", {
        "group": world.group.pk, "name": "ch-s", "uri": CLICKHOUSE_URI,
        "options": json.dumps({"source": "mysql://suser:SRCSECRET@10.1.0.1:3306/shop"})})
    assert response.status_code == 302, response.content.decode()
    # refused today (and the refusal does not echo it); stored by an older version, it is still masked when shown
    refused = alice.post("/api/targets/", {"name": "redis-s", "group": world.group.pk, "uri": REDIS_URI})
    assert refused.status_code == 400
    assert_no_secret(refused.content.decode(), "the refusal of an unescaped password")
    redis = Target.objects.create(group=world.group, name="redis-s", uri="redis://127.0.0.1:6379/0")
    Target.objects.filter(pk=redis.pk).update(uri=REDIS_URI)
    for target in Target.objects.filter(group=world.group):
        Subscription.objects.create(name=f"job-{target.name}", group=world.group, instance=world.instance,
                                    target=target, tables="shop.orders")
    ticdc = alice.post("/api/v1/changefeeds", {"changefeed_id": "cf-s", "sink_uri": TICDC_URI,
                                               "upstream": "10.1.0.1:3306"})
    assert ticdc.status_code == 202, ticdc.content
    assert Target.objects.get(name="cf-s").uri == TICDC_URI  # stored whole: only what is shown is masked
    jobs = list(Subscription.objects.filter(group=world.group).values_list("name", flat=True))
    assert len(jobs) == 5

    bob, bob_basic, bob_console = Api(world.bob.token), Api(basic=("bob", PASSWORD)), client_for("bob")
    pages = {}
    for path in ("/targets/", "/subscriptions/", "/audit/"):
        pages[f"console {path}"] = bob_console.get(path)
    for target in Target.objects.filter(group=world.group):
        pages[f"console edit {target.name} (bob)"] = bob_console.get(f"/targets/{target.pk}/")
        pages[f"console edit {target.name} (alice)"] = console.get(f"/targets/{target.pk}/")
        pages[f"api target {target.name}"] = bob.get(f"/api/targets/{target.pk}/")
    for path in ("/api/targets/", "/api/subscriptions/", "/api/audit/", "/api/v1/changefeeds"):
        pages[path] = bob.get(path)
    for name in jobs:
        pages[f"ticdc {name}"] = bob.get(f"/api/v1/changefeeds/{name}")
        pages[f"ccr job_detail {name}"] = bob.post("/job_detail", {"name": name})
    pages["bifrost synclist"] = bob_basic.get("/synclist?format=json")
    for where, page in pages.items():
        expected = 403 if "(bob)" in where else 200
        assert page.status_code == expected, (where, page.status_code)
        assert_no_secret(page.content.decode(), where)
    # what the surfaces show instead
    detail = pages["ticdc job-redis-s"].json()
    assert detail["sink_uri"] == "redis://:******@127.0.0.1:6379/0?key={$SchemaName}-{$TableName}"
    ccr = pages["ccr job_detail job-mongo-s"].json()
    assert ccr["job"]["dest"]["sink_uri"] == "mongodb://muser:******@127.0.0.1:27017/db"
    plugin = {e["ToServerKey"]: e["PluginParam"] for row in pages["bifrost synclist"].json() for e in row["ToServerList"]}
    assert plugin["ch-s"] == {"source": "mysql://suser:******@10.1.0.1:3306/shop",
                              "SinkUri": "clickhouse://cuser:******@127.0.0.1:9000/db"}
    assert "clickhouse://cuser:******@127.0.0.1:9000/db" in pages["console /targets/"].content.decode()

    audit = AuditLog.objects.filter(group_id=world.group.pk)
    assert set(audit.values_list("action", flat=True)) == {"target_create", "create_subscription"}
    for row in audit:
        assert_no_secret(json.dumps([row.before, row.after, row.message]), f"audit {row.action} {row.object_repr}")
    kafka_audit = audit.get(action="target_create", object_repr="kafka-s").after
    assert kafka_audit["uri"] == created.json()["display_uri"]
    assert kafka_audit["options"] == {"producer_config": {"ssl.key.password": "******", "linger.ms": 5}}


def test_options_saved_back_as_shown_keep_their_secrets(world):
    target = Target.objects.create(group=world.group, name="kafka-s", uri=KAFKA_URI,
                                   options={"producer_config": {"ssl.key.password": "KEYSECRET", "linger.ms": 5}})
    alice = Api(world.alice.token)
    shown = alice.get(f"/api/targets/{target.pk}/").json()["options"]
    shown["producer_config"]["linger.ms"] = 7
    assert alice.patch(f"/api/targets/{target.pk}/", {"options": shown}).status_code == 200
    target.refresh_from_db()
    assert target.options == {"producer_config": {"ssl.key.password": "KEYSECRET", "linger.ms": 7}}
    # the console's edit form: options as shown, the URI left blank
    console = client_for("alice")
    form = console.get(f"/targets/{target.pk}/").content.decode()
    assert "KEYSECRET" not in form and "&quot;ssl.key.password&quot;: &quot;******&quot;" in form
    response = console.post(f"/targets/{target.pk}/", {
        "name": "kafka-s2", "uri": "", "options": json.dumps(mask_options(target.options))})
    assert response.status_code == 302, response.content.decode()
    target.refresh_from_db()
    assert (target.name, target.uri) == ("kafka-s2", KAFKA_URI)
    assert target.options == {"producer_config": {"ssl.key.password": "KEYSECRET", "linger.ms": 7}}
    for row in AuditLog.objects.filter(action="target_update"):
        assert_no_secret(json.dumps([row.before, row.after, row.message]), "audit target_update")
