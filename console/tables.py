"""List tables (django-tables2): sortable columns, links to details and actions."""
import json

import django_tables2 as tables
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from console.domain.subscriptions import job_status
from console.models import AuditLog, Filter, Group, Instance, Member, MqRule, Rule, Subscription, Target


class GroupTable(tables.Table):
    name = tables.Column(linkify=("group_detail", {"pk": tables.A("pk")}))
    member_count = tables.Column(verbose_name="Members", orderable=True)
    instance_count = tables.Column(verbose_name="Instances", orderable=True)

    class Meta:
        model = Group
        fields = ("name", "mark", "member_count", "instance_count", "create_time")
        attrs = {"class": "table table-sm table-hover"}


class MemberTable(tables.Table):
    erp = tables.Column(verbose_name="User")
    group = tables.Column(linkify=("group_detail", {"pk": tables.A("group_id")}))
    actions = tables.TemplateColumn(template_name="console/members/_actions.html", orderable=False, verbose_name="")

    class Meta:
        model = Member
        fields = ("erp", "group", "role", "email", "org_name")
        attrs = {"class": "table table-sm table-hover"}


class FilterTable(tables.Table):
    table_name = tables.Column(linkify=("filter_edit", {"pk": tables.A("pk")}), verbose_name="Table regex")

    class Meta:
        model = Filter
        fields = ("table_name", "name", "group", "type", "events", "white_columns", "black_columns", "fake_cols",
                  "business_keys")
        attrs = {"class": "table table-sm table-hover"}


class MqRuleTable(tables.Table):
    topic = tables.Column(linkify=("mq_rule_edit", {"pk": tables.A("pk")}))
    filters = tables.ManyToManyColumn(verbose_name="Filters", orderable=False)

    class Meta:
        model = MqRule
        fields = ("topic", "name", "group", "order_type", "with_trx", "filters")
        attrs = {"class": "table table-sm table-hover"}


class TargetTable(tables.Table):
    name = tables.Column(linkify=("target_edit", {"pk": tables.A("pk")}))
    display_uri = tables.Column(verbose_name="URI", orderable=False)

    class Meta:
        model = Target
        fields = ("name", "group", "kind", "display_uri", "update_time")
        attrs = {"class": "table table-sm table-hover"}


def status_badge(status):
    colour = {"dump": "success", "agree": "info", "wait": "warning", "unauthorized": "secondary",
              "oppose": "danger", "init": "light"}.get(status, "light")
    return format_html('<span class="badge badge-{}">{}</span>', colour, status)


class InstanceTable(tables.Table):
    address = tables.Column(accessor="host", verbose_name="Instance", linkify=("instance_detail", {"pk": tables.A("pk")}))
    status = tables.Column()
    lag_seconds = tables.Column(verbose_name="Lag (s)")
    lag_bytes = tables.Column(verbose_name="Lag (bytes)")

    class Meta:
        model = Instance
        fields = ("address", "group", "status", "state", "slave_id", "leader", "lag_seconds", "lag_bytes", "retry_times")
        attrs = {"class": "table table-sm table-hover"}

    def render_address(self, record):
        return f"{record.host}:{record.port}"

    def render_status(self, value):
        return status_badge(value)

    def value_status(self, value):  # the CSV export: the status alone, no badge markup
        return value


class WorkflowTable(tables.Table):
    address = tables.Column(accessor="host", verbose_name="Instance", linkify=("workflow_detail", {"pk": tables.A("pk")}))
    status = tables.Column()
    request_id = tables.Column(verbose_name="Request")
    actions = tables.TemplateColumn(template_name="console/workflow/_actions.html", orderable=False, verbose_name="")

    class Meta:
        model = Instance
        fields = ("address", "group", "status", "request_id", "comment", "update_time")
        attrs = {"class": "table table-sm table-hover"}

    def render_address(self, record):
        return f"{record.host}:{record.port}"

    def render_status(self, value):
        return status_badge(value)

    def value_status(self, value):
        return value


class RuleBindingTable(tables.Table):
    instance = tables.Column(linkify=("instance_detail", {"pk": tables.A("instance_id")}))
    rule = tables.Column(verbose_name="MQ rule", accessor="rule__topic")
    actions = tables.TemplateColumn(
        '<a class="btn btn-sm btn-outline-danger" href="{% url "binding_delete" record.pk %}">Unbind</a>',
        orderable=False, verbose_name="",
    )

    class Meta:
        model = Rule
        fields = ("instance", "rule", "group", "storage_type", "convert_class", "create_time")
        attrs = {"class": "table table-sm table-hover"}


class SubscriptionTable(tables.Table):
    name = tables.Column(linkify=("subscription_detail", {"pk": tables.A("pk")}))
    progress = tables.Column(empty_values=(), orderable=False, verbose_name="Full sync")

    class Meta:
        model = Subscription
        fields = ("name", "group", "instance", "target", "tables", "state", "phase", "progress", "error_count",
                  "update_time")
        attrs = {"class": "table table-sm table-hover"}

    def render_state(self, record):
        """The state every surface shows (console.domain.subscriptions.job_status), with what is wrong."""
        status = job_status(record)
        if not status.error:
            return status.state
        return format_html('<span class="text-danger" title="{}">{}</span>', status.error, status.state)

    def value_state(self, record):  # the CSV export: the state alone
        return job_status(record).state

    def value_progress(self, record):  # the CSV export: "done/total (percent%)", no progress-bar markup
        p = record.fullsync_progress
        return "" if p is None else f"{p['done']}/{p['total']} ({p['percent']:g}%)"

    def render_progress(self, record):
        p = record.fullsync_progress
        if p is None:
            return "—"
        eta = "" if not p["running"] else (f", ETA {p['eta_s']} s" if p["eta_s"] is not None else ", ETA unknown")
        return format_html(
            '<div class="progress" style="min-width:8rem" title="{} / {} rows, {} rows/s{}">'
            '<div class="progress-bar{}" role="progressbar" style="width: {}%" aria-valuenow="{}" aria-valuemin="0" '
            'aria-valuemax="100" aria-label="Full sync of {}" aria-valuetext="{}%, {} of {} rows">{}%</div></div>'
            '<small class="text-muted">{} / {} rows, {} rows/s{}</small>',
            p["done"], p["total"], p["rows_per_s"], eta, " progress-bar-striped progress-bar-animated" if p["running"] else
            " bg-success", p["percent"], p["percent"], record.name, p["percent"], p["done"], p["total"], p["percent"],
            p["done"], p["total"], p["rows_per_s"], eta,
        )


# What one cell of the audit list may show: a few changed fields, each value cut short. The whole record is
# on its own page (/audit/<id>/), so a row never grows to the width of a full snapshot.
AUDIT_FIELDS_SHOWN = 6
AUDIT_VALUE_CHARS = 40
AUDIT_MESSAGE_CHARS = 120
AUDIT_CELL_STYLE = "max-width: 24rem; overflow-wrap: anywhere"


def _short(value):
    text = value if isinstance(value, str) and value else json.dumps(value, sort_keys=True, default=str)
    return Truncator(text).chars(AUDIT_VALUE_CHARS)


def _empty(value):
    return value is None or value == "" or value == [] or value == {}


def audit_changes(before, after) -> list:
    """The record as "field: old → new" lines: on a create the fields set, on a delete "deleted"; fields only
    in `before` are left out (an operation's after-snapshot names only what it wrote)."""
    before = before if isinstance(before, dict) else None
    after = after if isinstance(after, dict) else None
    if before and after is None:
        return ["deleted"]
    if after is None:
        return []
    if not before:
        return [f"{field}: {_short(value)}" for field, value in after.items() if not _empty(value)]
    return [f"{field}: {_short(before[field])} → {_short(value)}" if field in before else f"{field}: {_short(value)}"
            for field, value in after.items() if field not in before or before[field] != value]


class AuditTable(tables.Table):
    object_repr = tables.Column(verbose_name="Object")
    message = tables.Column(attrs={"td": {"class": "audit-cell", "style": AUDIT_CELL_STYLE}})
    changes = tables.Column(empty_values=(), orderable=False, verbose_name="Changes",
                            attrs={"td": {"class": "audit-cell", "style": AUDIT_CELL_STYLE}})
    details = tables.LinkColumn("audit_detail", args=[tables.A("pk")], text="Full record", empty_values=(),
                                orderable=False, verbose_name="", exclude_from_export=True)
    # The full snapshots only in the CSV export.
    before = tables.JSONColumn(orderable=False, visible=False)
    after = tables.JSONColumn(orderable=False, visible=False)

    class Meta:
        model = AuditLog
        fields = ("time", "actor", "action", "object_type", "object_repr", "group", "message", "changes", "details",
                  "before", "after")
        attrs = {"class": "table table-sm table-hover small audit-table"}

    def render_object_repr(self, value):
        return Truncator(value).chars(AUDIT_MESSAGE_CHARS)

    def value_object_repr(self, value):
        return value

    def render_message(self, value):
        return Truncator(value).chars(AUDIT_MESSAGE_CHARS)

    def value_message(self, value):
        return value

    def render_changes(self, record):
        lines = audit_changes(record.before, record.after)
        extra = len(lines) - AUDIT_FIELDS_SHOWN
        shown = format_html_join("", "<li>{}</li>", ((line,) for line in lines[:AUDIT_FIELDS_SHOWN]))
        more = format_html('<li class="text-muted">and {} more</li>', extra) if extra > 0 else ""
        return format_html('<ul class="list-unstyled mb-0" style="{}">{}{}</ul>', AUDIT_CELL_STYLE, shown, more) \
            if lines else "—"

    def value_changes(self, record):
        return "; ".join(audit_changes(record.before, record.after))

    def value_before(self, value):
        return "" if value is None else json.dumps(value, sort_keys=True, default=str)

    def value_after(self, value):
        return "" if value is None else json.dumps(value, sort_keys=True, default=str)
