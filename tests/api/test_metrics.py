"""/metrics: Prometheus text built from the models, token-protected, scoped to the token's groups."""
from datetime import timedelta

from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from console.models import Checkpoint, FlowSample, Instance, Subscription


def samples(response):
    result = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            result[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return result


def test_requires_a_token(world, api):
    assert api().get("/metrics").status_code == 401
    assert api("bogus").get("/metrics").status_code == 401


def test_instance_subscription_and_worker_metrics(world, api, waves):
    now = timezone.now()
    Instance.objects.filter(pk=world.instance_a.pk).update(lag_bytes=4096, lag_seconds=7, retry_times=2,
                                                          lease_expires=now + timedelta(seconds=30),
                                                          decoder_stats={"generated_rows": 900, "fallback_rows": 12,
                                                                         "fallback_events": 2,
                                                                         "fallback_reasons": {"enum without values": 2}})
    Checkpoint.objects.create(instance=world.instance_a, binlog_file="mysql-bin.000003", binlog_pos=10)
    Subscription.objects.filter(pk=world.job_a.pk).update(error_count=3)
    FlowSample.objects.create(time=now - timedelta(seconds=9), instance=world.instance_a, subscription=world.job_a,
                              schema_name="shop", table_name="orders", count=10, byte_size=100)
    FlowSample.objects.create(time=now, instance=world.instance_a, subscription=world.job_a,
                              schema_name="shop", table_name="orders", count=25, byte_size=250)
    FlowSample.objects.create(time=now, instance=world.instance_a, subscription=world.job_a,
                              schema_name="shop", table_name="users", count=5, byte_size=50)
    response = api(world.root.token).get("/metrics")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    m = samples(response)
    inst = (("group", "team-a"), ("instance", "10.1.0.1:3306"))
    assert m[("tower_instance_lag_bytes", inst)] == 4096
    assert m[("tower_instance_lag_seconds", inst)] == 7
    assert m[("tower_instance_retry_times", inst)] == 2
    assert m[("tower_instance_online", inst)] == 1
    assert m[("tower_instance_leader", tuple(sorted(inst + (("leader", "wave-1"),))))] == 1
    assert 0 <= m[("tower_instance_checkpoint_age_seconds", inst)] < 60
    assert m[("tower_instance_decoded_rows_total", tuple(sorted(inst + (("decoder", "generated"),))))] == 900
    assert m[("tower_instance_decoded_rows_total", tuple(sorted(inst + (("decoder", "library"),))))] == 12
    reason = tuple(sorted(inst + (("reason", "enum without values"),)))
    assert m[("tower_instance_decoder_fallback_events_total", reason)] == 2
    sub = (("group", "team-a"), ("instance", "10.1.0.1:3306"), ("subscription", "job-a"))
    assert m[("tower_subscription_rows_total", sub)] == 30  # latest per table, summed
    assert m[("tower_subscription_bytes_total", sub)] == 300
    assert m[("tower_subscription_errors_total", sub)] == 3
    assert m[("tower_subscription_state", tuple(sorted(sub + (("state", "normal"),))))] == 1
    assert m[("tower_worker_alive", (("worker", "wave-1"),))] == 1
    assert m[("tower_worker_alive", (("worker", "wave-dead"),))] == 0
    assert m[("tower_worker_is_owner", (("worker", "wave-1"),))] == 1


def test_scoped_to_the_tokens_groups(world, api, waves):
    body = api(world.carol.token).get("/metrics").content.decode()
    assert 'instance="10.2.0.1:3306"' in body
    assert "10.1.0.1" not in body and "job-a" not in body
    assert 'worker="wave-1"' not in body  # workers: super admins only


class Parsed:
    """A collector giving back the families parsed from a scrape, for prometheus_client to write them again."""

    def __init__(self, text):
        self.families = list(text_string_to_metric_families(text))

    def collect(self):
        return self.families


def test_the_text_is_prometheus_clients_own(world, api, waves):
    """/metrics writes the exposition itself: it must be byte for byte what generate_latest writes for the same
    families, escapes, big numbers and NaN included."""
    Instance.objects.filter(pk=world.instance_a.pk).update(
        lag_bytes=123456789012, decoder_stats={"generated_rows": 3, "fallback_rows": 1,
                                               "fallback_reasons": {'enum "size" \\ x\nnew': 4, "bit": 1}})
    Subscription.objects.filter(pk=world.job_a.pk).update(name='job "a" \\ one')
    Checkpoint.objects.create(instance=world.instance_a, subscription=world.job_a, binlog_file="mysql-bin.000003")
    body = api(world.root.token).get("/metrics").content.decode()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Parsed(body))
    assert body == generate_latest(registry).decode()
    assert 'tower_instance_lag_bytes{group="team-a",instance="10.1.0.1:3306"} 1.23456789012e+11\n' in body
    assert ('tower_instance_decoder_fallback_events_total{group="team-a",instance="10.1.0.1:3306",'
            'reason="enum \\"size\\" \\\\ x\\nnew"} 4.0\n') in body
    assert ('tower_subscription_state{group="team-a",instance="10.1.0.1:3306",state="normal",'
            'subscription="job \\"a\\" \\\\ one"} 1.0\n') in body
    assert 'tower_instance_checkpoint_age_seconds{group="team-b",instance="10.2.0.1:3306"} NaN\n' in body
    assert "# HELP tower_instance_leader 1 for the worker holding the instance's dump lease\n" in body
    assert "# TYPE tower_subscription_rows_total counter\n" in body


def test_a_scoped_token_gets_its_own_jobs_flow(world, api):
    now = timezone.now()
    for job, count in ((world.job_a, 7), (world.job_b, 11), (world.job_b, 13)):
        FlowSample.objects.create(time=now, instance=job.instance, subscription=job, count=count, byte_size=count * 10)
    m = samples(api(world.carol.token).get("/metrics"))
    sub = (("group", "team-b"), ("instance", "10.2.0.1:3306"), ("subscription", "job-b"))
    assert m[("tower_subscription_rows_total", sub)] == 13  # the latest sample, not a sum over time
    assert m[("tower_subscription_bytes_total", sub)] == 130
    assert not [key for key in m if dict(key[1]).get("subscription") == "job-a"]


def test_no_secret_is_decrypted(world, api, waves, monkeypatch):
    """Instance.password and Target.uri are encrypted; /metrics needs neither, and 10,000 decryptions cost."""

    def refuse(value):
        raise AssertionError("decrypted a secret")

    monkeypatch.setattr("console.fields.decrypt", refuse)
    assert api(world.root.token).get("/metrics").status_code == 200
