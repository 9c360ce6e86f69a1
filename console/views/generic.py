"""The few building blocks every console page shares (NetBox style, kept small).

Scoping rule: an object outside the user's groups does not exist for them (404);
an object they can see but not administer is forbidden (403).
"""
import csv

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.db.models import ProtectedError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View
from django_tables2 import RequestConfig

from console.forms.fields import admin_groups, visible_groups
from console.models import Group
from console.permissions import can_admin_group, can_view_group, scope_to_user
from console.domain.errors import DomainError

PER_PAGE = 25


def scoped(model, user, group_field="group"):
    return scope_to_user(model.objects.all(), user, group_field)


def get_scoped_object(model, user, pk, group_field="group", queryset=None):
    """The object if the user sees its group, else 404 (never reveal other groups' ids)."""
    qs = scope_to_user(queryset if queryset is not None else model.objects.all(), user, group_field)
    return get_object_or_404(qs, pk=pk)


def require_group_admin(user, group_id, what="do this"):
    if not can_admin_group(user, group_id):
        raise PermissionDenied(f"Only an admin of this group may {what}.")


def forbid_on_refusal(error):
    """A domain refusal of kind `forbidden` is Django's 403 page, like any other permission check here."""
    if error.kind == "forbidden":
        raise PermissionDenied(error.message) from error


def refusal_status(error) -> int:
    """The status of a page that shows a domain refusal: a source or approval system that failed the step
    is, for the person pressing the button, a step that could not be done now (409), not a bad request."""
    return 409 if error.kind == "source" else error.status


def check_posted_group(request, field="group"):
    """On create: a posted group the user cannot see is 404, one they only belong to is 403."""
    group_id = request.POST.get(field)
    if not group_id:
        return
    if not Group.objects.filter(pk=group_id).exists() or not can_view_group(request.user, group_id):
        raise Http404("no such group")
    require_group_admin(request.user, group_id, "create objects in it")


# What each list is for, shown when it is empty (with the next step: its Add button, or whom to ask).
EMPTY_TEXTS = {
    "Group": "A group owns instances, filters, MQ rules, targets and subscriptions, and decides who sees them. "
             "Create one to start: you become its creator and admin.",
    "Member": "Members are the people who may see a group's objects; admins also change them.",
    "Filter": "A filter picks the tables (by a schema.table regex), events and columns an MQ rule sends.",
    "MqRule": "An MQ rule names a topic and the filters whose changes go to it; bind it to an instance to use it.",
    "Target": "A target is where changes are delivered: Redis, Kafka, RabbitMQ, MongoDB or ClickHouse "
              "(its URI and options).",
    "Instance": "An instance is a MySQL/MariaDB server whose binlog Tower reads. Register one, apply for "
                "approval on the workflow page, then grant it.",
    "Rule": "A binding attaches an MQ rule to an instance, so the instance's changes go to the rule's topic.",
    "Subscription": "A subscription sends an instance's changes (tables and columns you choose) to a target.",
    "AuditLog": "Every change made on any surface is recorded here.",
}


class ObjectListView(View):
    """A sortable, filterable, paginated table of the user's objects, with a CSV export."""

    model = None
    table_class = None
    filterset_class = None
    title = ""
    add_url_name = None
    empty_text = None  # what the list is for, shown when it is empty: EMPTY_TEXTS[model name] by default
    group_field = "group"
    template_name = "console/object_list.html"

    def get_queryset(self):
        return scoped(self.model, self.request.user, self.group_field)

    def get(self, request):
        filterset = self.filterset_class(request.GET or None, queryset=self.get_queryset(), groups=visible_groups(request.user))
        table = self.table_class(filterset.qs)
        if request.GET.get("export") == "csv":
            return self.export_csv(table)
        RequestConfig(request, paginate={"per_page": PER_PAGE}).configure(table)
        return render(request, self.template_name, {
            "title": self.title, "table": table, "filterset": filterset, "count": filterset.qs.count(),
            "add_url_name": self.add_url_name if admin_groups(request.user).exists() else None,
            "empty_text": self.empty_text or EMPTY_TEXTS.get(self.model.__name__, ""),
            "addable": self.add_url_name is not None,
            "filtered": any(value for key, value in request.GET.items() if key not in ("page", "sort")),
            **self.extra_context(),
        })

    def extra_context(self):
        return {}

    def export_csv(self, table):
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{self.model._meta.db_table}.csv"'
        writer = csv.writer(response)
        for row in table.as_values(exclude_columns=("actions",)):
            writer.writerow([inert_cell(value) for value in row])
        return response


# A spreadsheet runs a cell starting with one of these as a formula (=HYPERLINK(...) sends the data away);
# names, comments and URIs are the users' own text, so an exported cell never starts with one.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert_cell(value):
    """The value, as text with a leading ' when a spreadsheet would take it for a formula (OWASP's rule)."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else value


class ObjectEditView(View):
    """Create (pk=None) or edit one object of a group; only the group's admins may."""

    model = None
    form_class = None
    title = ""
    list_url_name = None
    template_name = "console/object_form.html"

    def get_object(self, pk):
        if pk is None:
            return self.model()
        obj = get_scoped_object(self.model, self.request.user, pk)
        require_group_admin(self.request.user, obj.group_id, f"edit this {self.model._meta.verbose_name}")
        return obj

    def get_form(self, obj, data=None):
        return self.form_class(data, instance=obj, groups=admin_groups(self.request.user))

    def get(self, request, pk=None):
        obj = self.get_object(pk)
        return self.render(obj, self.get_form(obj))

    def post(self, request, pk=None):
        if pk is None:
            check_posted_group(request)
        obj = self.get_object(pk)
        form = self.get_form(obj, request.POST)
        if form.is_valid():
            try:
                saved = self.write(form, obj)
            except IntegrityError:
                form.add_error(None, "This conflicts with an existing object (same unique key).")
            except DomainError as exc:
                forbid_on_refusal(exc)
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, f"Saved {self.model._meta.verbose_name} '{saved}'.")
                self.after_save(saved)
                return redirect(self.list_url_name)
        return self.render(obj, form, status=400)

    def write(self, form, obj):
        """Create or update through the object's console.domain operation (its checks and its audit)."""
        raise NotImplementedError(f"{type(self).__name__} writes through console.domain")

    def after_save(self, obj):
        """Checks that talk to other servers: run after the commit, never while holding the metadata DB."""

    def render(self, obj, form, status=200):
        return render(self.request, self.template_name, {
            "title": f"{'Edit' if obj.pk else 'Add'} {self.title}", "form": form, "object": obj,
            "list_url_name": self.list_url_name,
            "delete_url_name": getattr(self, "delete_url_name", None) if obj.pk else None,
        }, status=status)


class ObjectDeleteView(View):
    """GET shows what will be deleted; POST deletes (group admins only) and audits."""

    model = None
    list_url_name = None
    template_name = "console/confirm_delete.html"

    def get_object(self, pk):
        obj = get_scoped_object(self.model, self.request.user, pk)
        require_group_admin(self.request.user, obj.group_id, f"delete this {self.model._meta.verbose_name}")
        return obj

    def refuse_reason(self, obj):
        return None

    def get(self, request, pk):
        obj = self.get_object(pk)
        return render(request, self.template_name, {
            "object": obj, "kind": self.model._meta.verbose_name, "list_url_name": self.list_url_name,
            "refuse_reason": self.refuse_reason(obj),
        })

    def post(self, request, pk):
        obj = self.get_object(pk)
        reason = self.refuse_reason(obj)
        if reason:
            messages.error(request, reason)
            return redirect(self.list_url_name)
        name = str(obj)
        try:
            self.remove(obj)
        except ProtectedError as exc:
            messages.error(request, f"Cannot delete '{name}': still used by {len(exc.protected_objects)} object(s).")
            return redirect(self.list_url_name)
        except DomainError as exc:
            forbid_on_refusal(exc)
            messages.error(request, exc.message)
            return redirect(self.list_url_name)
        messages.success(request, f"Deleted {self.model._meta.verbose_name} '{name}'.")
        return redirect(self.list_url_name)

    def remove(self, obj):
        """Delete through the object's console.domain operation (its checks and its audit)."""
        raise NotImplementedError(f"{type(self).__name__} deletes through console.domain")


def domain_refusal(check, *args):
    """The message of the DomainError `check(*args)` raises (None if it raises none); a forbidden one is a 403."""
    try:
        check(*args)
    except DomainError as exc:
        forbid_on_refusal(exc)
        return exc.message
    return None
