"""/metrics: Prometheus text format, built from the models on every scrape.

Nothing global to go stale between web processes: the values are what the engine last wrote to the metadata
DB. Token-protected; a token sees the metrics of its user's groups (a super admin's token sees everything,
which is what a Prometheus server should use).

It stays cheap at any fleet size (10,000 instances and 20,000 subscriptions are ~320,000 samples, 37 MB):
- a constant number of queries: instances with their own checkpoint's time (a correlated subquery on the
  (instance, subscription) index) and whether their lease is live (decided in SQL), subscriptions with their
  own checkpoint (a join, as progress.with_checkpoints), their flow totals (progress.subscription_totals, one
  query taking the scoped subscriptions as a subquery), the workers;
- rows read as tuples of just the columns the metrics need (`values_list`): no model instances, no
  decrypted Instance.password or Target.uri;
- the text written here, column by column, exactly as prometheus_client's `generate_latest` writes gauge and
  counter families (HELP and TYPE, `_total` on counters, labels sorted by name and escaped, values as its
  `floatToGoString`): a Sample and a label dict per sample, then generate_latest re-sorting and re-escaping
  every label of every sample, cost as much as loading the models. Each label value is escaped once per row.
  tests/api/test_metrics.py checks the text against generate_latest's.
"""
from datetime import timedelta
from operator import attrgetter

from django.db import connection
from django.db.models import Case, DateTimeField, F, OuterRef, Subquery, Value, When
from django.http import HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.utils import floatToGoString

from console.api.compat.auth import AuthFailed, challenge, identify
from console.api.compat.base import json_response
from console.choices import DumpState, InstanceStatus, SubscriptionState
from console.domain import fleet, progress
from console.models import Checkpoint, Group, Instance, Subscription, Wave


def _since(now, moment):
    """What _seconds turns into the seconds since `moment`. MySQL works out `now - moment` (an interval, NULL
    when `moment` is) faster than mysqlclient parses a time, in Python, per row; SQLite would do it with a
    Python function per row (Django's django_timestamp_diff), slower than reading the time as it is."""
    if connection.vendor == "sqlite":
        return moment
    return Value(now, output_field=DateTimeField()) - moment


def _seconds(now, value):
    """Seconds since a moment: a time, or the interval _since read (NaN for none)."""
    if value is None:
        return float("nan")
    return max(0.0, (value if isinstance(value, timedelta) else now - value).total_seconds())


def _escape(value) -> str:
    """A label value as generate_latest writes it."""
    return str(value).replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _label(name, value) -> str:
    return f'{name}="{_escape(value)}"'


def _place(group, host, port) -> str:
    """The group and instance labels, in the order of their names."""
    return f'{_label("group", group)},{_label("instance", f"{host}:{port}")}'


class _Family:
    """One metric family, written as prometheus_client.generate_latest writes a GaugeMetricFamily or a
    CounterMetricFamily (counters get `_total`; no `_created`). A sample's labels come rendered: `name="value"`
    pairs (_label) joined by commas in the order of their names, which is generate_latest's."""

    def __init__(self, name, kind, documentation):
        self.name = f"{name}_total" if kind == "counter" else name
        self.kind = kind
        self.documentation = documentation.replace("\\", r"\\").replace("\n", r"\n")
        self.lines = []

    def extend(self, labels, values):
        """One sample per rendered labels and value, a whole column at a time (a call per sample costs more
        than the sample). Each distinct integer is formatted once: most repeat (0, 1, small counts)."""
        known = {v: floatToGoString(v) for v in set(values) if type(v) is int}
        head = f"{self.name}{{"
        self.lines += [f"{head}{label}}} {known[v] if type(v) is int else floatToGoString(v)}\n"
                       for label, v in zip(labels, values)]

    def header(self):
        return f"# HELP {self.name} {self.documentation}\n# TYPE {self.name} {self.kind}\n"


def _gauge(name, documentation):
    return _Family(name, "gauge", documentation)


def _counter(name, documentation):
    return _Family(name, "counter", documentation)


def _instances(caller, now):
    # labels: instance, group; leader, decoder or reason on some
    lag_bytes = _gauge("tower_instance_lag_bytes", "Binlog bytes between the master and the dumped position")
    lag_seconds = _gauge("tower_instance_lag_seconds", "Seconds the dumped position is behind the master")
    lag_events = _gauge("tower_instance_lag_events", "Events the dumped position is behind the master")
    online = _gauge("tower_instance_online", "1 when the instance is in dump state and ONLINE")
    retries = _gauge("tower_instance_retry_times", "Failed dump starts since the last reset (retryTimes)")
    leader = _gauge("tower_instance_leader", "1 for the worker holding the instance's dump lease")
    leader_version = _gauge("tower_instance_leader_version", "Lease takeovers so far (fencing version)")
    cp_age = _gauge("tower_instance_checkpoint_age_seconds", "Seconds since the instance checkpoint was written")
    decoded = _counter("tower_instance_decoded_rows", "Rows the dump decoded, by the generated per-table decoders or by the library after a fallback")
    fallbacks = _counter("tower_instance_decoder_fallback_events", "Rows events the generated decoders left to the library, by reason")
    checkpoint = Checkpoint.objects.filter(instance=OuterRef("pk"), subscription__isnull=True).values("update_time")[:1]
    # Whether the lease is live is decided in SQL: one datetime fewer to convert per row.
    live = Case(When(lease_expires__gt=now, then=Value(1)), default=Value(0))
    visible = caller.scope(Instance.objects.all())
    rows = sorted(visible.annotate(checkpoint_age=_since(now, Subquery(checkpoint)), lease_live=live).order_by().values_list(
        "host", "port", "group_id", "lag_bytes", "lag_seconds", "lag_events", "status", "state", "retry_times",
        "leader", "lease_live", "leader_version", "checkpoint_age", "decoder_stats", named=True),
        key=attrgetter("host", "port"))  # Instance's ordering, without MySQL's temporary table of the fleet
    groups = dict(Group.objects.filter(pk__in=visible.values("group_id")).order_by().values_list("pk", "name"))
    labels = [_place(groups[r.group_id], r.host, r.port) for r in rows]
    lag_bytes.extend(labels, [r.lag_bytes for r in rows])
    lag_seconds.extend(labels, [r.lag_seconds for r in rows])
    lag_events.extend(labels, [r.lag_events for r in rows])
    online.extend(labels, [1 if r.status == InstanceStatus.DUMP and r.state == DumpState.ONLINE else 0 for r in rows])
    retries.extend(labels, [r.retry_times for r in rows])
    led = [(label, r) for label, r in zip(labels, rows) if r.leader]
    leader.extend([f"{label},{_label('leader', r.leader)}" for label, r in led],
                  [r.lease_live for _, r in led])
    leader_version.extend(labels, [r.leader_version for r in rows])
    cp_age.extend(labels, [_seconds(now, r.checkpoint_age) for r in rows])
    stats = [r.decoder_stats or {} for r in rows]
    generated, library = _label("decoder", "generated"), _label("decoder", "library")
    decoded.extend([line for label in labels for line in (f"{generated},{label}", f"{library},{label}")],
                   [n for s in stats for n in (s.get("generated_rows", 0), s.get("fallback_rows", 0))])
    reasons = [(label, sorted(s["fallback_reasons"].items())) for label, s in zip(labels, stats) if s.get("fallback_reasons")]
    fallbacks.extend([f"{label},{_label('reason', reason)}" for label, pairs in reasons for reason, _ in pairs],
                     [events for _, pairs in reasons for _, events in pairs])
    return [lag_bytes, lag_seconds, lag_events, online, retries, leader, leader_version, cp_age, decoded, fallbacks]


def _subscriptions(caller, now):
    # labels: subscription, instance, group; state on one
    events = _counter("tower_subscription_events", "Row change events delivered")
    delivered = _counter("tower_subscription_rows", "Rows delivered")
    size = _counter("tower_subscription_bytes", "Bytes delivered")
    errors = _counter("tower_subscription_errors", "Delivery errors")
    skipped = _counter("tower_subscription_skipped", "Events skipped by an operator or by MustBeSuccess=false")
    state = _gauge("tower_subscription_state", "1 for the subscription's current state")
    cp_age = _gauge("tower_subscription_checkpoint_age_seconds", "Seconds since the subscription checkpoint was written")
    jobs = caller.scope(Subscription.objects.all())
    flow = progress.subscription_totals(jobs.values("pk"))
    # No joins and no ORDER BY in SQL: the labels of each instance and group are read once (two small queries)
    # and the jobs sorted here, which MySQL otherwise does through a temporary table of the whole fleet.
    rows = sorted(progress.with_checkpoints(jobs).annotate(
        checkpoint_age=_since(now, F("checkpoint_update_time"))).order_by().values_list(
        "pk", "name", "instance_id", "group_id", "error_count", "skipped_count", "state", "checkpoint_age",
        named=True), key=attrgetter("name"))
    instances = {pk: (host, port) for pk, host, port in Instance.objects.filter(
        pk__in=jobs.values("instance_id")).order_by().values_list("pk", "host", "port")}
    groups = dict(Group.objects.filter(pk__in=jobs.values("group_id")).order_by().values_list("pk", "name"))
    places = {}  # the group and instance labels, rendered once for all the jobs of an instance
    for r in rows:
        place = (r.group_id, r.instance_id)
        if place not in places:
            places[place] = _place(groups[r.group_id], *instances[r.instance_id])
    where = [places[r.group_id, r.instance_id] for r in rows]
    job = [_label("subscription", r.name) for r in rows]
    labels = [f"{w},{j}" for w, j in zip(where, job)]
    totals = [flow.get(r.pk, (0, 0)) for r in rows]
    events.extend(labels, [count for count, _ in totals])
    delivered.extend(labels, [count for count, _ in totals])
    size.extend(labels, [byte_size for _, byte_size in totals])
    errors.extend(labels, [r.error_count for r in rows])
    skipped.extend(labels, [r.skipped_count for r in rows])
    choices = [(choice, _label("state", choice)) for choice in SubscriptionState.values]
    state.extend([f"{w},{label},{j}" for w, j in zip(where, job) for _, label in choices],
                 [1 if r.state == choice else 0 for r in rows for choice, _ in choices])
    cp_age.extend(labels, [_seconds(now, r.checkpoint_age) for r in rows])
    return [events, delivered, size, errors, skipped, state, cp_age]


def _workers(caller, now):
    alive = _gauge("tower_worker_alive", "1 when the worker is alive")
    heartbeat = _gauge("tower_worker_heartbeat_age_seconds", "Seconds since the worker's last heartbeat")
    owner = _gauge("tower_worker_is_owner", "1 for the worker running the supervisor")
    if caller.is_super:  # workers are shared infrastructure: super admins only
        live = set(fleet.live_worker_names(now))
        waves = list(Wave.objects.values_list("name", "last_heartbeat", "is_owner"))
        labels = [_label("worker", name) for name, _, _ in waves]
        alive.extend(labels, [1 if name in live else 0 for name, _, _ in waves])
        heartbeat.extend(labels, [_seconds(now, last_heartbeat) for _, last_heartbeat, _ in waves])
        owner.extend(labels, [1 if is_owner else 0 for _, _, is_owner in waves])
    return [alive, heartbeat, owner]


def exposition(caller, now=None) -> str:
    """The caller's metrics in the Prometheus text format."""
    now = now or timezone.now()
    families = _instances(caller, now) + _subscriptions(caller, now) + _workers(caller, now)
    return "".join([line for family in families for line in (family.header(), *family.lines)])


def metrics(request):
    try:
        caller = identify(request)
    except AuthFailed as exc:
        response = json_response({"error": str(exc)}, status=401)
        response["WWW-Authenticate"] = challenge()
        return response
    return HttpResponse(exposition(caller).encode(), content_type=CONTENT_TYPE_LATEST)
