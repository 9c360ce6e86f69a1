"""Client-library settings from users pass an allow-list (workers/sinks/options.py).

A kafka target's URI query and options (`producer_config`) reach librdkafka, an amqp URI's query reaches
pika, a mongodb URI's query pymongo. Settings that load code, read files, run commands or fetch URLs on the
worker are refused with a 400 naming them on every surface, changing nothing, and the engine refuses them
again (a permanent SinkError) before any client is built, for a target written around the checks.
"""
import json

import pytest
from console.choices import DumpState, InstanceStatus, MemberRole
from console.domain.audit import ACCESS_ACTIONS
from console.models import AuditLog, Group, Instance, Subscription, Target
from workers import changefeed
from workers.sinks import SinkError, open_sink
from workers.sinks.options import check_options, check_uri

from accounts import Api, client_for, make_user

DANGEROUS_KAFKA = ["plugin.library.paths", "sasl.kerberos.kinit.cmd", "ssl.engine.location",
                   "oauthbearer.token.endpoint.url"]


@pytest.fixture
def team(db):
    class Team:
        pass

    t = Team()
    t.group = Group.objects.create(name="team-k")
    t.admin = make_user("kim", t.group, MemberRole.ADMIN)
    t.api = Api(t.admin.token)
    t.console = client_for("kim")
    t.instance = Instance.objects.create(
        group=t.group, host="10.7.0.1", port=3306, user="dump", password="dump-pw", slave_id=7001,
        status=InstanceStatus.DUMP, state=DumpState.ONLINE, binlog_file="mysql-bin.000001", binlog_pos=4)
    t.target = Target.objects.create(group=t.group, name="events", uri="kafka://10.7.0.9:9092/events")
    return t


def db_state():
    return {
        "targets": list(Target.objects.order_by("pk").values("name", "uri", "options")),
        "jobs": list(Subscription.objects.order_by("pk").values("name", "target_id", "options")),
        "instances": list(Instance.objects.order_by("pk").values("host", "port", "status")),
        "audit": AuditLog.objects.exclude(action__in=ACCESS_ACTIONS).count(),
    }


@pytest.fixture
def unchanged(team):
    import contextlib

    @contextlib.contextmanager
    def check():
        before = db_state()
        yield
        assert db_state() == before

    return check


# --- the native API --------------------------------------------------------------------------------

@pytest.mark.parametrize("prop", DANGEROUS_KAFKA)
def test_api_refuses_a_dangerous_librdkafka_property_in_the_uri(team, unchanged, prop):
    with unchanged():
        response = team.api.post("/api/targets/", {"name": "k2", "group": team.group.pk,
                                                   "uri": f"kafka://10.7.0.9:9092/t?{prop}=/tmp/x.so"})
    assert response.status_code == 400
    assert f"URI parameter '{prop}' is not allowed for a kafka target" in response.content.decode()


@pytest.mark.parametrize("prop", DANGEROUS_KAFKA)
def test_api_refuses_a_dangerous_producer_config_property(team, unchanged, prop):
    with unchanged():
        created = team.api.post("/api/targets/", {"name": "k2", "group": team.group.pk,
                                                  "uri": "kafka://10.7.0.9:9092/t",
                                                  "options": {"producer_config": {prop: "/tmp/x.so"}}})
        edited = team.api.patch(f"/api/targets/{team.target.pk}/", {"options": {"producer_config": {prop: "x"}}})
    for response in (created, edited):
        assert response.status_code == 400
        assert f"librdkafka property '{prop}' is not allowed in producer_config" in response.content.decode()


def test_api_accepts_listed_properties(team):
    response = team.api.post("/api/targets/", {"name": "k2", "group": team.group.pk,
                                               "uri": "kafka://10.7.0.9:9092/t?acks=all&compression.type=lz4",
                                               "options": {"producer_config": {"acks": "all",
                                                                               "compression.type": "lz4"}}})
    assert response.status_code == 201, response.content
    target = Target.objects.get(name="k2")
    assert target.options == {"producer_config": {"acks": "all", "compression.type": "lz4"}}
    assert target.uri == "kafka://10.7.0.9:9092/t?acks=all&compression.type=lz4"


def test_api_refuses_a_listed_property_with_a_refused_value(team, unchanged):
    with unchanged():
        response = team.api.patch(f"/api/targets/{team.target.pk}/", {
            "options": {"producer_config": {"sasl.mechanism": "OAUTHBEARER"}}})
    assert response.status_code == 400
    assert "librdkafka property 'sasl.mechanism' cannot be 'OAUTHBEARER'" in response.content.decode()


def test_api_refuses_unknown_options_of_other_sinks(team, unchanged):
    cases = [
        ("mongodb://10.7.0.9:27017/db?tlsCAFile=/etc/shadow", "URI parameter 'tlsCAFile' is not allowed"),
        ("mongodb://10.7.0.9:27017/db?authMechanism=MONGODB-AWS", "URI parameter 'authMechanism' cannot be"),
        ("redis://10.7.0.9:6379/0?ssl_ca_certs=/etc/shadow", "URI parameter 'ssl_ca_certs' is not allowed"),
        ("amqp://u:p@10.7.0.9:5672/%2F?ssl_options=%7B%7D", "URI parameter 'ssl_options' is not allowed"),
    ]
    with unchanged():
        for uri, message in cases:
            response = team.api.post("/api/targets/", {"name": "x", "group": team.group.pk, "uri": uri})
            assert response.status_code == 400, uri
            assert message in response.content.decode(), response.content
    assert "tlsCAFile" not in str(AuditLog.objects.values_list("after", flat=True))


# --- the console target form ------------------------------------------------------------------------

def test_console_form_refuses_plugin_library_paths(team, unchanged):
    with unchanged():
        in_uri = team.console.post("/targets/add/", {
            "group": team.group.pk, "name": "k2", "uri": "kafka://10.7.0.9:9092/t?plugin.library.paths=/tmp/x.so",
            "options": "{}"})
        in_options = team.console.post(f"/targets/{team.target.pk}/", {
            "name": "events", "uri": "",
            "options": json.dumps({"producer_config": {"plugin.library.paths": "/tmp/x.so"}})})
    assert in_uri.status_code == 400
    assert "URI parameter &#x27;plugin.library.paths&#x27; is not allowed" in in_uri.content.decode()
    assert in_options.status_code == 400
    assert "librdkafka property &#x27;plugin.library.paths&#x27; is not allowed" in in_options.content.decode()


def test_console_form_accepts_a_listed_property(team):
    response = team.console.post(f"/targets/{team.target.pk}/", {
        "name": "events", "uri": "", "options": json.dumps({"producer_config": {"compression.type": "lz4"}})})
    assert (response.status_code, response.url) == (302, "/targets/")
    team.target.refresh_from_db()
    assert team.target.options == {"producer_config": {"compression.type": "lz4"}}


# --- TiCDC changefeeds -------------------------------------------------------------------------------

@pytest.mark.parametrize("prop", DANGEROUS_KAFKA)
def test_ticdc_create_refuses_a_dangerous_sink_uri_property(team, unchanged, prop):
    with unchanged():
        response = team.api.post("/api/v1/changefeeds", {
            "changefeed_id": "cf-bad", "upstream": "10.7.0.1:3306",
            "sink_uri": f"kafka://10.7.0.9:9092/t?protocol=canal-json&{prop}=/tmp/x.so"})
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "CDC:ErrAPIInvalidParam"
    assert f"URI parameter '{prop}' is not allowed for a kafka target" in body["error_msg"]


def test_ticdc_create_accepts_listed_and_ticdc_parameters(team):
    response = team.api.post("/api/v1/changefeeds", {
        "changefeed_id": "cf-ok", "upstream": "10.7.0.1:3306",
        "sink_uri": "kafka://10.7.0.9:9092/t?protocol=canal-json&acks=all&compression.type=lz4&partition-num=6"})
    assert response.status_code == 202, response.content
    assert Subscription.objects.get(name="cf-ok").target.uri.endswith("acks=all&compression.type=lz4&partition-num=6")


def test_native_job_options_refuse_a_dangerous_sink_setting(team, unchanged):
    """A subscription's options["sink"] reach the sink like the target's: the same allow-list."""
    with unchanged():
        response = team.api.post("/api/subscriptions/", {
            "name": "job-bad", "instance": team.instance.pk, "target": team.target.pk,
            "options": {"sink": {"producer_config": {"plugin.library.paths": "/tmp/x.so"}}}})
        config = team.api.post("/api/subscriptions/", {
            "name": "job-bad2", "instance": team.instance.pk, "target": team.target.pk,
            "options": {"sink_config": {"kafka_config": {"sasl-oauth-token-url": "http://169.254.169.254/"}}}})
    assert response.status_code == 400
    assert "librdkafka property 'plugin.library.paths' is not allowed" in response.content.decode()
    assert config.status_code == 400
    assert "sink_config 'kafka_config' is not supported" in config.content.decode()


def test_check_sink_config_names_the_refused_property():
    with pytest.raises(ValueError, match="URI parameter 'plugin.library.paths' is not allowed"):
        changefeed.check_sink_config("kafka://h:9092/t?plugin.library.paths=/tmp/x.so", {})
    changefeed.check_sink_config("kafka://h:9092/t?acks=all", {"sink": {"producer_config": {"linger.ms": 10}}})


# --- the engine ----------------------------------------------------------------------------------------

def test_engine_refuses_a_target_written_around_the_checks(team, monkeypatch):
    import workers.sinks.kafka as kafka

    built = []
    monkeypatch.setattr(kafka, "Producer", lambda config: built.append(config))
    Target.objects.filter(pk=team.target.pk).update(
        options={"producer_config": {"plugin.library.paths": "/nonexistent", "acks": "all"}})
    target = Target.objects.get(pk=team.target.pk)
    with pytest.raises(SinkError) as refused:
        open_sink(target.uri, target.options)
    assert refused.value.retryable is False
    assert str(refused.value) == ("target settings refused: librdkafka property 'plugin.library.paths' is not "
                                  "allowed in producer_config (not on Tower's list of harmless librdkafka "
                                  "properties)")
    with pytest.raises(SinkError, match="URI parameter 'sasl.kerberos.kinit.cmd' is not allowed"):
        open_sink("kafka://10.7.0.9:9092/t?sasl.kerberos.kinit.cmd=touch%20/tmp/pwned")
    assert built == []


def test_engine_passes_listed_uri_properties_to_librdkafka(monkeypatch):
    import workers.sinks.kafka as kafka

    built = []
    monkeypatch.setattr(kafka, "Producer", lambda config: built.append(config) or object())
    sink = open_sink("kafka://10.7.0.9:9092/t?compression.type=lz4&partition-num=6",
                     {"producer_config": {"linger.ms": 20}})
    sink._get_producer()
    assert {k: built[0][k] for k in ("compression.type", "linger.ms", "acks")} == {
        "compression.type": "lz4", "linger.ms": 20, "acks": "all"}
    assert "partition-num" not in built[0]


@pytest.mark.parametrize("uri,options,message", [
    ("mongodb://127.0.0.1:1/db?tlsCertificateKeyFile=/etc/ssl/private/k.pem", None,
     "URI parameter 'tlsCertificateKeyFile' is not allowed for a mongodb target"),
    ("mongodb://127.0.0.1:1/db?authmechanism=GSSAPI", None, "URI parameter 'authmechanism' cannot be 'GSSAPI'"),
    ("redis://127.0.0.1:1/0", {"ssl_ca_certs": "/etc/shadow"}, "option 'ssl_ca_certs' is not allowed for a redis"),
    ("amqp://u:p@127.0.0.1:1/%2F?tcp_options=%7B%7D", None, "URI parameter 'tcp_options' is not allowed"),
    ("clickhouse://127.0.0.1:1/db", {"source": "http://169.254.169.254/"}, "option 'source' must be a mysql:// URL"),
])
def test_engine_refuses_other_sinks_dangerous_settings(monkeypatch, uri, options, message):
    import pymongo

    monkeypatch.setattr(pymongo, "MongoClient", lambda *a, **k: pytest.fail("a client was built"))
    with pytest.raises(SinkError, match=message) as refused:
        open_sink(uri, options)
    assert refused.value.retryable is False


def test_allow_lists_keep_the_sinks_own_settings():
    assert check_uri("mongodb://h:1/db?collection=c&w=majority&serverSelectionTimeoutMS=300&authSource=admin") == []
    assert check_uri("amqp://u:p@h:1/%2F?exchange=x&queue=q&topic=t&heartbeat=30&connection_attempts=1") == []
    assert check_uri("redis://h:1/0?key=k&mode=list&ttl=5") == []
    assert check_uri("clickhouse://h:1/db?table=t&ddl=1&batch_size=10&flush_interval=1") == []
    assert check_options("kafka", {"topic": "t", "order_type": "TABLE_ORDER", "created_for": "job",
                                   "table_order": [], "producer_config": {"security.protocol": "SASL_SSL",
                                                                          "sasl.mechanisms": "SCRAM-SHA-512"}}) == []
    assert check_options("kafka", {"producer_config": {"security.protocol": "SASL_SSL",
                                                       "sasl.mechanism": "GSSAPI"}}) == [
        "librdkafka property 'sasl.mechanism' cannot be 'GSSAPI' (allowed: plain, scram-sha-256, scram-sha-512)"]


def test_ccr_create_refuses_a_dangerous_sink_uri(team, unchanged, source_address):
    root = Api(make_user("root-k", super_admin=True).token)
    host, port, user, password = source_address
    with unchanged():
        response = root.post("/create_ccr", {
            "name": "ccr-bad", "src": {"host": host, "port": port, "user": user, "password": password,
                                       "database": "mysql", "table": "db"},
            "dest": {"sink_uri": "kafka://10.7.0.9:9092/t?ssl.engine.location=/tmp/engine.so"}})
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert "URI parameter 'ssl.engine.location' is not allowed" in response.json()["error_msg"]
