"""/metrics: Prometheus text format, built from the models on every scrape.

A fresh CollectorRegistry per request (nothing global to go stale between
web processes); the values are what the engine last wrote to the metadata DB.
Token-protected; a token sees the metrics of its user's groups (a super
admin's token sees everything, which is what a Prometheus server should use).
"""
from django.http import HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from console.api.compat.auth import AuthFailed, challenge, identify
from console.api.compat.base import json_response
from console.choices import DumpState, InstanceStatus, SubscriptionState
from console.domain import fleet, progress
from console.models import Checkpoint, Instance, Subscription, Wave


def _age(now, moment):
    return max(0.0, (now - moment).total_seconds()) if moment else float("nan")


class TowerCollector:
    def __init__(self, caller):
        self.caller = caller

    def collect(self):
        now = timezone.now()
        yield from self._instances(now)
        yield from self._subscriptions(now)
        yield from self._workers(now)

    def _instances(self, now):
        labels = ["instance", "group"]
        lag_bytes = GaugeMetricFamily("tower_instance_lag_bytes", "Binlog bytes between the master and the dumped position", labels=labels)
        lag_seconds = GaugeMetricFamily("tower_instance_lag_seconds", "Seconds the dumped position is behind the master", labels=labels)
        lag_events = GaugeMetricFamily("tower_instance_lag_events", "Events the dumped position is behind the master", labels=labels)
        online = GaugeMetricFamily("tower_instance_online", "1 when the instance is in dump state and ONLINE", labels=labels)
        retries = GaugeMetricFamily("tower_instance_retry_times", "Failed dump starts since the last reset (retryTimes)", labels=labels)
        leader = GaugeMetricFamily("tower_instance_leader", "1 for the worker holding the instance's dump lease", labels=labels + ["leader"])
        leader_version = GaugeMetricFamily("tower_instance_leader_version", "Lease takeovers so far (fencing version)", labels=labels)
        cp_age = GaugeMetricFamily("tower_instance_checkpoint_age_seconds", "Seconds since the instance checkpoint was written", labels=labels)
        decoded = CounterMetricFamily("tower_instance_decoded_rows", "Rows the dump decoded, by the generated per-table decoders or by the library after a fallback", labels=labels + ["decoder"])
        fallbacks = CounterMetricFamily("tower_instance_decoder_fallback_events", "Rows events the generated decoders left to the library, by reason", labels=labels + ["reason"])
        checkpoints = {c.instance_id: c.update_time for c in Checkpoint.objects.filter(subscription__isnull=True)}
        for inst in self.caller.scope(Instance.objects.select_related("group")):
            values = [f"{inst.host}:{inst.port}", inst.group.name]
            lag_bytes.add_metric(values, inst.lag_bytes)
            lag_seconds.add_metric(values, inst.lag_seconds)
            lag_events.add_metric(values, inst.lag_events)
            online.add_metric(values, 1 if inst.status == InstanceStatus.DUMP and inst.state == DumpState.ONLINE else 0)
            retries.add_metric(values, inst.retry_times)
            if inst.leader:
                live = bool(inst.lease_expires and inst.lease_expires > now)
                leader.add_metric(values + [inst.leader], 1 if live else 0)
            leader_version.add_metric(values, inst.leader_version)
            cp_age.add_metric(values, _age(now, checkpoints.get(inst.pk)))
            stats = inst.decoder_stats or {}
            decoded.add_metric(values + ["generated"], stats.get("generated_rows", 0))
            decoded.add_metric(values + ["library"], stats.get("fallback_rows", 0))
            for reason, events in sorted(stats.get("fallback_reasons", {}).items()):
                fallbacks.add_metric(values + [reason], events)
        yield from (lag_bytes, lag_seconds, lag_events, online, retries, leader, leader_version, cp_age, decoded,
                    fallbacks)

    def _subscriptions(self, now):
        labels = ["subscription", "instance", "group"]
        events = CounterMetricFamily("tower_subscription_events", "Row change events delivered", labels=labels)
        rows = CounterMetricFamily("tower_subscription_rows", "Rows delivered", labels=labels)
        size = CounterMetricFamily("tower_subscription_bytes", "Bytes delivered", labels=labels)
        errors = CounterMetricFamily("tower_subscription_errors", "Delivery errors", labels=labels)
        skipped = CounterMetricFamily("tower_subscription_skipped", "Events skipped by an operator or by MustBeSuccess=false", labels=labels)
        state = GaugeMetricFamily("tower_subscription_state", "1 for the subscription's current state", labels=labels + ["state"])
        cp_age = GaugeMetricFamily("tower_subscription_checkpoint_age_seconds", "Seconds since the subscription checkpoint was written", labels=labels)
        checkpoints = {c.subscription_id: c.update_time for c in Checkpoint.objects.filter(subscription__isnull=False)}
        subs = list(self.caller.scope(Subscription.objects.select_related("instance", "group")))
        flow = progress.subscription_totals([s.pk for s in subs])
        for sub in subs:
            values = [sub.name, f"{sub.instance.host}:{sub.instance.port}", sub.group.name]
            count, byte_size = flow.get(sub.pk, (0, 0))
            events.add_metric(values, count)
            rows.add_metric(values, count)
            size.add_metric(values, byte_size)
            errors.add_metric(values, sub.error_count)
            skipped.add_metric(values, sub.skipped_count)
            for choice in SubscriptionState.values:
                state.add_metric(values + [choice], 1 if sub.state == choice else 0)
            cp_age.add_metric(values, _age(now, checkpoints.get(sub.pk)))
        yield from (events, rows, size, errors, skipped, state, cp_age)

    def _workers(self, now):
        alive = GaugeMetricFamily("tower_worker_alive", "1 when the worker is alive", labels=["worker"])
        heartbeat = GaugeMetricFamily("tower_worker_heartbeat_age_seconds", "Seconds since the worker's last heartbeat", labels=["worker"])
        owner = GaugeMetricFamily("tower_worker_is_owner", "1 for the worker running the supervisor", labels=["worker"])
        if self.caller.is_super:  # workers are shared infrastructure: super admins only
            live = set(fleet.live_worker_names(now))
            for wave in Wave.objects.all():
                alive.add_metric([wave.name], 1 if wave.name in live else 0)
                heartbeat.add_metric([wave.name], _age(now, wave.last_heartbeat))
                owner.add_metric([wave.name], 1 if wave.is_owner else 0)
        yield from (alive, heartbeat, owner)


def metrics(request):
    try:
        caller = identify(request)
    except AuthFailed as exc:
        response = json_response({"error": str(exc)}, status=401)
        response["WWW-Authenticate"] = challenge()
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TowerCollector(caller))
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
