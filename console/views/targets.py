"""/targets/: sink endpoints. The URI is write-only in forms and masked everywhere else."""
from console.filtersets import TargetFilterSet
from console.forms.targets import TargetForm
from console.models import Target
from console.tables import TargetTable

from .generic import ObjectDeleteView, ObjectEditView, ObjectListView


class TargetListView(ObjectListView):
    model = Target
    table_class = TargetTable
    filterset_class = TargetFilterSet
    title = "Targets"
    add_url_name = "target_add"


class TargetEditView(ObjectEditView):
    model = Target
    form_class = TargetForm
    title = "target"
    list_url_name = "target_list"
    delete_url_name = "target_delete"


class TargetDeleteView(ObjectDeleteView):
    model = Target
    list_url_name = "target_list"

    def refuse_reason(self, target):
        used = target.subscriptions.count()
        return f"Target '{target}' is used by {used} subscription(s): delete them first." if used else None
