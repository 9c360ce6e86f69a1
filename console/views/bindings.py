"""/bindings/ (instance <-> MQ rule) and /subscriptions/ (instance -> target)."""
from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render
from django.views import View

from console.filtersets import RuleBindingFilterSet, SubscriptionFilterSet
from console.forms.bindings import RuleBindingForm, SubscriptionForm
from console.forms.fields import admin_groups
from console.models import Instance, Rule, Subscription
from console.domain.audit import record_change
from console.tables import RuleBindingTable, SubscriptionTable

from .generic import ObjectDeleteView, ObjectEditView, ObjectListView, get_scoped_object, require_group_admin


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
        return render(self.request, "console/object_form.html", {"title": "Bind an instance to an MQ rule", "form": form, "list_url_name": "binding_list"}, status=status)

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
        with transaction.atomic():
            binding = form.save(commit=False)
            binding.group_id = binding.instance.group_id
            binding.save()
            record_change(request.user, "binding_create", binding)
        messages.success(request, f"Bound {binding.instance} to {binding.rule.topic}.")
        return redirect("binding_list")


class RuleBindingDeleteView(ObjectDeleteView):
    model = Rule
    list_url_name = "binding_list"


class SubscriptionListView(ObjectListView):
    model = Subscription
    table_class = SubscriptionTable
    filterset_class = SubscriptionFilterSet
    title = "Subscriptions"
    add_url_name = "subscription_add"

    def get_queryset(self):
        return super().get_queryset().select_related("group", "instance", "target")


class SubscriptionEditView(ObjectEditView):
    model = Subscription
    form_class = SubscriptionForm
    title = "subscription"
    list_url_name = "subscription_list"
    delete_url_name = "subscription_delete"

    def save(self, form):
        sub = form.save(commit=False)
        if not sub.created_by:
            sub.created_by = self.request.user.username
        sub.save()
        return sub


class SubscriptionDeleteView(ObjectDeleteView):
    model = Subscription
    list_url_name = "subscription_list"
