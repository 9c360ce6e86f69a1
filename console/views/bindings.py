"""/bindings/ (instance <-> MQ rule, through console.domain.bindings) and /subscriptions/ (instance -> target)."""
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views import View

from console.domain import bindings, progress, subscriptions as jobs
from console.domain.errors import DomainError
from console.filtersets import RuleBindingFilterSet, SubscriptionFilterSet
from console.forms.bindings import RuleBindingForm, SubscriptionForm
from console.forms.fields import admin_groups
from console.models import Instance, Rule, Subscription
from console.tables import RuleBindingTable, SubscriptionTable

from .generic import (
    ObjectDeleteView, ObjectEditView, ObjectListView, check_posted_group, forbid_on_refusal, get_scoped_object,
    refusal_status, require_group_admin,
)


class RuleBindingListView(ObjectListView):
    model = Rule
    table_class = RuleBindingTable
    filterset_class = RuleBindingFilterSet
    title = "Bindings (instance ↔ MQ rule)"
    add_url_name = "binding_add"

    def get_queryset(self):
        return super().get_queryset().select_related("instance", "rule", "group")


class RuleBindingAddView(View):
    def render(self, form, status=200):
        return render(self.request, "console/object_form.html", {
            "title": "Bind an instance to an MQ rule", "form": form, "list_url_name": "binding_list",
            # A binding has no group field of its own: its instance's group is the one that must be administered.
            "no_admin_group": not admin_groups(self.request.user).exists(),
        }, status=status)

    def get(self, request):
        return self.render(RuleBindingForm(groups=admin_groups(request.user), initial={"instance": request.GET.get("instance")}))

    def post(self, request):
        instance_id = request.POST.get("instance")
        if instance_id:  # 404 for another group's instance, 403 for one the user only belongs to
            instance = get_scoped_object(Instance, request.user, instance_id)
            require_group_admin(request.user, instance.group_id, "bind its instances")
        form = RuleBindingForm(request.POST, groups=admin_groups(request.user))
        if not form.is_valid():
            return self.render(form, status=400)
        data = form.cleaned_data
        try:
            binding = bindings.bind(request.user, data["instance"], data["rule"],
                                    storage_type=data["storage_type"], convert_class=data["convert_class"])
        except DomainError as exc:
            forbid_on_refusal(exc)
            form.add_error(None, exc.message)
            return self.render(form, status=refusal_status(exc))
        messages.success(request, f"Bound {binding.instance} to {binding.rule.topic} (subscription "
                                  f"'{binding.subscription.name}').")
        return redirect("binding_list")


class RuleBindingDeleteView(ObjectDeleteView):
    model = Rule
    list_url_name = "binding_list"

    def remove(self, binding):
        bindings.unbind(self.request.user, binding)


class SubscriptionListView(ObjectListView):
    model = Subscription
    table_class = SubscriptionTable
    filterset_class = SubscriptionFilterSet
    title = "Subscriptions"
    add_url_name = "subscription_add"

    def get_queryset(self):
        # Joins would let MySQL drive the page from the small tables and sort every subscription; the page's
        # 25 rows are read by name and their objects fetched after (one query each).
        return progress.with_checkpoints(super().get_queryset().prefetch_related("group", "instance", "target"))


class SubscriptionEditView(ObjectEditView):
    """Create or edit a subscription through console.domain.subscriptions (its checks and audit, as on every
    surface); a refusal is shown on the form with its status (409 for an edit a running job cannot take)."""

    model = Subscription
    form_class = SubscriptionForm
    title = "subscription"
    list_url_name = "subscription_list"
    delete_url_name = "subscription_delete"

    def post(self, request, pk=None):
        if pk is None:
            check_posted_group(request)
        job = self.get_object(pk)
        form = self.get_form(job, request.POST)
        if not form.is_valid():
            return self.render(job, form, status=400)
        try:
            if pk is None:
                job = jobs.create_subscription(request.user, **form.cleaned_data)
            else:
                job = jobs.update_subscription(request.user, job, **form.changes())
        except DomainError as exc:
            forbid_on_refusal(exc)
            form.add_error(None, exc.message)
            return self.render(job, form, status=refusal_status(exc))
        messages.success(request, f"Saved subscription '{job}'.")
        return redirect(self.list_url_name)
