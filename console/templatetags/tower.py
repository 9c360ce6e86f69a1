"""Small template helpers for the console pages."""
from django import template
from django.http import QueryDict
from django.utils import formats, timezone
from django.utils.html import format_html
from django.urls import NoReverseMatch, reverse

from console.choices import DumpState
from console.permissions import admin_group_ids, is_super_admin
from console.tables import status_badge

register = template.Library()


@register.filter
def super_admin(user):
    return is_super_admin(user)


@register.filter
def admin_of(user, group_id):
    """Whether `user` administers the group. A list asks this for every row, so the user's admin groups are read
    once per request (request.user is a new object each request) instead of once per row."""
    if is_super_admin(user):
        return True
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if not hasattr(user, "_tower_admin_groups"):
        user._tower_admin_groups = set(admin_group_ids(user))
    return group_id in user._tower_admin_groups


@register.filter
def badge(status):
    return status_badge(status)


@register.filter
def bytes_human(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return value
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


@register.filter
def when(value):
    """A date-time in the console's one format, with its zone (settings.DATETIME_FORMAT, in TIME_ZONE)."""
    if not value:
        return "-"
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")


@register.filter
def dump_state_badge(state):
    """ONLINE / OFFLINE as a badge: an OFFLINE instance does not dump and must stand out."""
    colour = "success" if state == DumpState.ONLINE else "danger"
    return format_html('<span class="badge badge-{}">{}</span>', colour, state)


# Live fragments: the element polls its page with ?partial=1 and swaps itself for the answer, every few
# seconds while the tab is visible (htmx re-arms the timer even when the filter skips a poll, so the
# updates resume when the tab is shown again).
LIVE_SECONDS = 5


@register.simple_tag(takes_context=True)
def live(context, url=None):
    """The htmx attributes of a live fragment: `<div id="x" {% live %}>` in a template the view renders alone
    for ?partial=1 (console.views.live.render_live). `url` defaults to the current page."""
    request = context["request"]
    query = request.GET.copy() if url is None else QueryDict(mutable=True)
    query["partial"] = "1"
    return format_html(
        'hx-get="{}?{}" hx-trigger="every {}s [document.visibilityState === \'visible\']" '
        'hx-swap="outerHTML"', url or request.path, query.urlencode(), LIVE_SECONDS,
    )


# The menu's pages, by URL name. A page belongs to the entry whose path is the longest prefix of its own
# (/workflow/inbox/ to the inbox, /workflow/<pk>/ to Workflow, /instances/<pk>/edit/ to Instances).
NAV_PAGES = ("dashboard", "group_list", "member_list", "filter_list", "mq_rule_list", "target_list", "instance_list",
             "binding_list", "subscription_list", "workflow_list", "workflow_inbox", "monitor", "audit", "config")


def current_nav(request):
    """The URL name of the menu entry the request's page is under ("" for none), worked out once per request."""
    if not hasattr(request, "_tower_nav"):
        match = getattr(request, "resolver_match", None)
        best, best_path = "", ""
        if match is not None:
            for name in NAV_PAGES:
                try:
                    path = reverse(name)
                except NoReverseMatch:
                    continue
                if name == match.url_name or (path != "/" and request.path.startswith(path) and len(path) > len(best_path)):
                    best, best_path = name, path
                    if name == match.url_name:
                        break
        request._tower_nav = best
    return request._tower_nav


@register.simple_tag(takes_context=True)
def nav_current(context, name):
    """' active' when the page is under the menu entry `name` (for the entry's class), else ''."""
    request = context.get("request")
    return " active" if request is not None and current_nav(request) == name else ""


@register.simple_tag(takes_context=True)
def nav_item(context, name, label):
    """A menu entry: marked active, and aria-current for screen readers, on the pages under it."""
    url = reverse(name)
    if nav_current(context, name):
        return format_html('<li class="nav-item active"><a class="nav-link" href="{}" aria-current="page">{}</a></li>',
                           url, label)
    return format_html('<li class="nav-item"><a class="nav-link" href="{}">{}</a></li>', url, label)
