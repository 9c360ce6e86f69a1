"""/metrics: Prometheus text format, built from the models on every scrape.

Nothing global to go stale between web processes: the values are what the engine last wrote to the metadata
DB. Token-protected; a token sees the metrics of its user's groups (a super admin's token sees everything,
which is what a Prometheus server should use).

It stays cheap at any fleet size (10,000 instances and 20,000 subscriptions are ~320,000 samples, 37 MB):
- a constant number of queries: every group's name; instances with their own checkpoint's age (a correlated
  subquery on the (instance, subscription) index); subscriptions with their own checkpoint (a join, as
  progress.with_checkpoints); their flow totals (progress.subscription_totals); the workers;
- what Python would otherwise convert per row worked out by the database: ages in seconds, whether a lease is
  live, the decoder's counts out of Instance.decoder_stats, with no Django converter left on those columns
  (_AsRead): at 30,000 rows a converter call per value is a tenth of the scrape;
- rows read as tuples of just the columns the metrics need (`values_list`): no model instances, no
  decrypted Instance.password or Target.uri;
- the text written here, column by column, exactly as prometheus_client's `generate_latest` writes gauge and
  counter families (HELP and TYPE, `_total` on counters, labels sorted by name and escaped, values as its
  `floatToGoString`): a Sample and a label dict per sample, then generate_latest re-sorting and re-escaping
  every label of every sample, cost as much as loading the models. Each label value is escaped once per row.
  tests/api/test_metrics.py checks the text against generate_latest's.
"""
import json
from operator import attrgetter

from django.db.models import BigIntegerField, Case, DateTimeField, F, FloatField, Func, OuterRef, Subquery, Value, When
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast, Coalesce
from django.utils.functional import cached_property
from django.http import HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.utils import floatToGoString

from console.api.compat.auth import AuthFailed, challenge, identify
from console.api.compat.base import json_response, whole_list
from console.choices import DumpState, InstanceStatus, SubscriptionState
from console.domain import fleet, progress
from console.models import Checkpoint, Group, Instance, Subscription, Wave


class _AsRead:
    """An expression whose value is used as the database driver returns it: Django otherwise calls a converter
    (float(), int()) per row for a computed column, which at 20,000 rows is a measurable part of a scrape."""

    @cached_property
    def convert_value(self):
        return self._convert_value_noop


class _AgeSeconds(_AsRead, Func):
    """The seconds from a moment to `now` as a float (NULL for no moment), worked out by the database: a time
    converted per row in Python (mysqlclient's parser, Django's converters) costs more than the rest of the
    row. SQLite's julianday is exact to the millisecond, plenty for an age."""

    output_field = FloatField()

    def __init__(self, moment, now):
        super().__init__(moment, Value(now, output_field=DateTimeField()))

    def _compiled(self, compiler):
        (moment, moment_params), (now, now_params) = (compiler.compile(e) for e in self.get_source_expressions())
        return moment, tuple(moment_params), now, tuple(now_params)

    def as_mysql(self, compiler, connection, **extra):
        moment, moment_params, now, now_params = self._compiled(compiler)
        return f"TIMESTAMPDIFF(MICROSECOND, {moment}, {now}) / 1e6", moment_params + now_params

    def as_sqlite(self, compiler, connection, **extra):
        moment, moment_params, now, now_params = self._compiled(compiler)
        return f"(julianday({now}) - julianday({moment})) * 86400.0", now_params + moment_params


class _Flag(_AsRead, Case):
    """1 when the condition holds, else 0."""

    def __init__(self, **condition):
        super().__init__(When(then=Value(1), **condition), default=Value(0))


class _JsonCount(_AsRead, Coalesce):
    """A count kept in Instance.decoder_stats, read out by the database (0 when it has none)."""

    def __init__(self, key):
        super().__init__(Cast(KeyTransform(key, "decoder_stats"), BigIntegerField()), Value(0))


def _seconds(age):
    """An _AgeSeconds value as a sample: NaN for none, never negative (a clock a little ahead)."""
    return float("nan") if age is None else max(0.0, age)


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


def _instances(caller, now, groups, addresses):
    """The instance families; fills `addresses` ({instance id: (host, port)}) for _subscriptions' labels."""
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
    # Decided in SQL, so that no column needs a converter per row: whether the lease is live, the checkpoint's
    # age, and the decoder's counts out of the JSON (the reasons stay JSON text, parsed only where there are).
    visible = caller.scope(Instance.objects.all())
    rows = sorted(visible.annotate(
        checkpoint_age=_AgeSeconds(Subquery(checkpoint), now), lease_live=_Flag(lease_expires__gt=now),
        generated_rows=_JsonCount("generated_rows"), fallback_rows=_JsonCount("fallback_rows"),
        fallback_reasons=KeyTextTransform("fallback_reasons", "decoder_stats"),
    ).order_by().values_list(
        "pk", "host", "port", "group_id", "lag_bytes", "lag_seconds", "lag_events", "status", "state", "retry_times",
        "leader", "lease_live", "leader_version", "checkpoint_age", "generated_rows", "fallback_rows",
        "fallback_reasons", named=True),
        key=attrgetter("host", "port"))  # Instance's ordering, without MySQL's temporary table of the fleet
    addresses.update((r.pk, (r.host, r.port)) for r in rows)
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
    cp_age.extend(labels, [_seconds(r.checkpoint_age) for r in rows])
    generated, library = _label("decoder", "generated"), _label("decoder", "library")
    decoded.extend([line for label in labels for line in (f"{generated},{label}", f"{library},{label}")],
                   [n for r in rows for n in (r.generated_rows, r.fallback_rows)])
    reasons = [(label, sorted(json.loads(r.fallback_reasons).items())) for label, r in zip(labels, rows)
               if r.fallback_reasons not in (None, "{}")]
    fallbacks.extend([f"{label},{_label('reason', reason)}" for label, pairs in reasons for reason, _ in pairs],
                     [events for _, pairs in reasons for _, events in pairs])
    return [lag_bytes, lag_seconds, lag_events, online, retries, leader, leader_version, cp_age, decoded, fallbacks]


def _subscriptions(caller, now, groups, addresses):
    # labels: subscription, instance, group; state on one
    events = _counter("tower_subscription_events", "Row change events delivered")
    delivered = _counter("tower_subscription_rows", "Rows delivered")
    size = _counter("tower_subscription_bytes", "Bytes delivered")
    errors = _counter("tower_subscription_errors", "Delivery errors")
    skipped = _counter("tower_subscription_skipped", "Events skipped by an operator or by MustBeSuccess=false")
    state = _gauge("tower_subscription_state", "1 for the subscription's current state")
    cp_age = _gauge("tower_subscription_checkpoint_age_seconds", "Seconds since the subscription checkpoint last moved")
    jobs = caller.scope(Subscription.objects.all())
    flow = progress.subscription_totals(None if caller.is_super else jobs.values("pk"))
    # No joins and no ORDER BY in SQL: the jobs are sorted here (MySQL would sort through a temporary table of
    # the whole fleet) and labelled with the groups and instances already read.
    rows = sorted(progress.with_checkpoints(jobs).annotate(
        checkpoint_age=_AgeSeconds(F("checkpoint_update_time"), now)).order_by().values_list(
        "pk", "name", "instance_id", "group_id", "error_count", "skipped_count", "state", "checkpoint_age",
        named=True), key=attrgetter("name"))
    hidden = {r.instance_id for r in rows} - addresses.keys()  # a job of the caller's on another group's instance
    if hidden:
        addresses.update((pk, (host, port)) for pk, host, port in Instance.objects.filter(
            pk__in=hidden).order_by().values_list("pk", "host", "port"))
    places = {}  # the group and instance labels, rendered once for all the jobs of an instance
    for r in rows:
        place = (r.group_id, r.instance_id)
        if place not in places:
            places[place] = _place(groups[r.group_id], *addresses[r.instance_id])
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
    cp_age.extend(labels, [_seconds(r.checkpoint_age) for r in rows])
    return [events, delivered, size, errors, skipped, state, cp_age]


def _workers(caller, now):
    alive = _gauge("tower_worker_alive", "1 when the worker is alive")
    heartbeat = _gauge("tower_worker_heartbeat_age_seconds", "Seconds since the worker's last heartbeat")
    owner = _gauge("tower_worker_is_owner", "1 for the worker running the supervisor")
    if caller.is_super:  # workers are shared infrastructure: super admins only
        live = set(fleet.live_worker_names(now))
        waves = list(Wave.objects.annotate(age=_AgeSeconds(F("last_heartbeat"), now)).values_list(
            "name", "age", "is_owner"))
        labels = [_label("worker", name) for name, _, _ in waves]
        alive.extend(labels, [1 if name in live else 0 for name, _, _ in waves])
        heartbeat.extend(labels, [_seconds(age) for _, age, _ in waves])
        owner.extend(labels, [1 if is_owner else 0 for _, _, is_owner in waves])
    return [alive, heartbeat, owner]


def exposition(caller, now=None) -> str:
    """The caller's metrics in the Prometheus text format."""
    now = now or timezone.now()
    # Every group's name: far fewer rows than instances, and only those of the rows shown are written.
    groups = dict(Group.objects.order_by().values_list("pk", "name"))
    addresses = {}
    families = (_instances(caller, now, groups, addresses) + _subscriptions(caller, now, groups, addresses)
                + _workers(caller, now))
    return "".join([line for family in families for line in (family.header(), *family.lines)])


@whole_list
def metrics(request):
    try:
        caller = identify(request)
    except AuthFailed as exc:
        response = json_response({"error": str(exc)}, status=401)
        response["WWW-Authenticate"] = challenge()
        return response
    return HttpResponse(exposition(caller).encode(), content_type=CONTENT_TYPE_LATEST)
