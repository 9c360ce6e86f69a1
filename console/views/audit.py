"""/audit/: who changed what, filterable. Entries without a group (global config) are super-admin only.

The list shows each entry's changes compactly (console.tables.audit_changes); the whole record, both snapshots
included, is on /audit/<id>/. A filter value that does not parse (a "since" that is not a time) is a form
error on a 400 page, never a filter silently dropped.
"""
import json

from django.contrib import messages
from django.shortcuts import render

from console.filtersets import AuditFilterSet
from console.forms.fields import visible_groups
from console.models import AuditLog
from console.tables import AuditTable, audit_changes

from .generic import ObjectListView, get_scoped_object


class AuditListView(ObjectListView):
    model = AuditLog
    table_class = AuditTable
    filterset_class = AuditFilterSet
    title = "Audit log"

    def get_queryset(self):
        # scope_to_user on group__in drops group-less rows for everyone but super admins.
        return super().get_queryset().select_related("group")

    def extra_context(self):
        return {"add_url_name": None}

    def get(self, request):
        filterset = self.filterset_class(request.GET or None, queryset=self.get_queryset(),
                                         groups=visible_groups(request.user))
        if filterset.is_bound and not filterset.is_valid():
            form = filterset.form
            for field, errors in form.errors.items():
                label = form.fields[field].label if field in form.fields else "Filter"
                messages.error(request, f"{label}: {' '.join(errors)}")
            return render(request, self.template_name, {
                "title": self.title, "table": self.table_class(AuditLog.objects.none()), "filterset": filterset,
                "count": 0, **self.extra_context(),
            }, status=400)
        return super().get(request)


def _pretty(snapshot):
    return None if snapshot is None else json.dumps(snapshot, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def audit_detail(request, pk):
    """One audit entry in full: the compact changes, then the before and after snapshots as stored."""
    entry = get_scoped_object(AuditLog, request.user, pk, queryset=AuditLog.objects.select_related("group"))
    return render(request, "console/audit_detail.html", {
        "entry": entry, "changes": audit_changes(entry.before, entry.after),
        "before": _pretty(entry.before), "after": _pretty(entry.after),
    })
