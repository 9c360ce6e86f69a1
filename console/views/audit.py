"""/audit/: who changed what, filterable. Entries without a group (global config) are super-admin only."""
from console.filtersets import AuditFilterSet
from console.models import AuditLog
from console.tables import AuditTable

from .generic import ObjectListView


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
