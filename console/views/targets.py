"""/targets/: sink endpoints. The URI is write-only in forms and masked everywhere else."""
from console.domain import catalog
from console.filtersets import TargetFilterSet
from console.forms.targets import TargetForm
from console.models import Target
from console.tables import TargetTable

from .generic import ObjectDeleteView, ObjectEditView, ObjectListView, domain_refusal


class TargetListView(ObjectListView):
    model = Target
    table_class = TargetTable
    filterset_class = TargetFilterSet
    title = "Targets"
    add_url_name = "target_add"

    def get_queryset(self):
        return super().get_queryset().select_related("group")


class TargetEditView(ObjectEditView):
    model = Target
    form_class = TargetForm
    title = "target"
    list_url_name = "target_list"
    delete_url_name = "target_delete"
    template_name = "console/targets/form.html"  # the form with its "Test target" button

    def write(self, form, target):
        values = form.values()
        if target._state.adding:
            return catalog.create_target(self.request.user, values.pop("group"), **values)
        return catalog.update_target(self.request.user, target, **values)


class TargetDeleteView(ObjectDeleteView):
    model = Target
    list_url_name = "target_list"

    def refuse_reason(self, target):
        return domain_refusal(catalog.check_delete_target, self.request.user, target)

    def remove(self, target):
        catalog.delete_target(self.request.user, target)
