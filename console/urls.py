"""The browser console's pages (their paths are part of the product: scripts and bookmarks use them)."""
import functools

from django.contrib.auth.decorators import login_not_required
from django.http import Http404
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView
from mozilla_django_oidc import urls as oidc_urls

from console.auth.redirects import oidc_enabled
from console.auth.views import login_view, logout_view
from console.views import accounts, audit, target_test, bindings, callback, config, dashboard, groups, instances, members, monitor, operations, rules, subscriptions, targets, workflow


def only_with_oidc(view):
    """Single sign-on's pages exist while OIDC is configured: its views need the provider's settings."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not oidc_enabled():
            raise Http404("single sign-on (OIDC) is not configured")
        return view(request, *args, **kwargs)

    return wrapper


urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    # Browsers ask for /favicon.ico whatever the page's <link rel="icon"> says.
    path("favicon.ico", login_not_required(RedirectView.as_view(url=lazy(static, str)("favicon.svg"))), name="favicon"),
    path("login/", login_view, name="login"),
    path("logout/", logout_view, name="logout"),
    path("oidc/", include([path(str(p.pattern), only_with_oidc(p.callback), name=p.name)
                           for p in oidc_urls.urlpatterns])),

    path("groups/", groups.GroupListView.as_view(), name="group_list"),
    path("groups/add/", groups.GroupCreateView.as_view(), name="group_add"),
    path("groups/<str:pk>/", groups.group_detail, name="group_detail"),
    path("groups/<str:pk>/edit/", groups.GroupEditView.as_view(), name="group_edit"),
    path("groups/<str:pk>/delete/", groups.GroupDeleteView.as_view(), name="group_delete"),

    path("members/", members.MemberListView.as_view(), name="member_list"),
    path("members/add/", members.MemberAddView.as_view(), name="member_add"),
    path("members/<str:pk>/invited/", members.member_invited, name="member_invited"),
    path("members/<str:pk>/role/", members.MemberRoleView.as_view(), name="member_role"),
    path("members/<str:pk>/remove/", members.MemberRemoveView.as_view(), name="member_remove"),
    path("accounts/", accounts.AccountListView.as_view(), name="account_list"),
    path("accounts/set-password/<uidb64>/<token>/", accounts.set_password_view, name="password_set"),

    path("filters/", rules.FilterListView.as_view(), name="filter_list"),
    path("filters/add/", rules.FilterEditView.as_view(), name="filter_add"),
    path("filters/<str:pk>/", rules.FilterEditView.as_view(), name="filter_edit"),
    path("filters/<str:pk>/delete/", rules.FilterDeleteView.as_view(), name="filter_delete"),

    path("mq-rules/", rules.MqRuleListView.as_view(), name="mq_rule_list"),
    path("mq-rules/add/", rules.MqRuleEditView.as_view(), name="mq_rule_add"),
    path("mq-rules/<str:pk>/", rules.MqRuleEditView.as_view(), name="mq_rule_edit"),
    path("mq-rules/<str:pk>/delete/", rules.MqRuleDeleteView.as_view(), name="mq_rule_delete"),

    path("targets/", targets.TargetListView.as_view(), name="target_list"),
    path("targets/add/", targets.TargetEditView.as_view(), name="target_add"),
    path("targets/test/", target_test.test_new_target, name="target_test"),
    path("targets/<int:pk>/test/", target_test.test_saved_target, name="target_edit_test"),
    path("targets/<int:pk>/", targets.TargetEditView.as_view(), name="target_edit"),
    path("targets/<int:pk>/delete/", targets.TargetDeleteView.as_view(), name="target_delete"),

    path("instances/", instances.InstanceListView.as_view(), name="instance_list"),
    path("instances/add/", instances.InstanceRegisterView.as_view(), name="instance_add"),
    path("instances/test-connection/", instances.test_connection, name="instance_test_connection"),
    path("instances/<str:pk>/", instances.instance_detail, name="instance_detail"),
    path("instances/<str:pk>/edit/", instances.InstanceEditView.as_view(), name="instance_edit"),
    path("instances/<str:pk>/test-connection/", instances.test_edit_connection, name="instance_edit_test_connection"),
    path("instances/<str:pk>/schema.json", instances.schema_json, name="instance_schema_json"),
    path("instances/<str:pk>/tables-matching.json", instances.tables_matching_json, name="instance_tables_matching"),
    path("instances/<str:pk>/delete/", instances.InstanceDeleteView.as_view(), name="instance_delete"),
    path("instances/<str:pk>/operations/", operations.operations_page, name="instance_operations"),
    path("instances/<str:pk>/online/", operations.set_online, name="instance_online"),
    path("instances/<str:pk>/offline/", operations.set_offline, name="instance_offline"),
    path("instances/<str:pk>/binlog/", operations.set_binlog, name="instance_set_binlog"),
    path("instances/<str:pk>/leader/", operations.set_leader, name="instance_set_leader"),
    path("instances/<str:pk>/candidates/", operations.set_candidates, name="instance_set_candidates"),
    path("instances/<str:pk>/reset-counter/", operations.reset_counter, name="instance_reset_counter"),
    path("instances/<str:pk>/resnapshot-table/", operations.resnapshot_table, name="instance_resnapshot_table"),

    path("bindings/", bindings.RuleBindingListView.as_view(), name="binding_list"),
    path("bindings/add/", bindings.RuleBindingAddView.as_view(), name="binding_add"),
    path("bindings/<int:pk>/delete/", bindings.RuleBindingDeleteView.as_view(), name="binding_delete"),

    path("subscriptions/", bindings.SubscriptionListView.as_view(), name="subscription_list"),
    path("subscriptions/add/", bindings.SubscriptionEditView.as_view(), name="subscription_add"),
    path("subscriptions/<int:pk>/", subscriptions.subscription_detail, name="subscription_detail"),
    path("subscriptions/<int:pk>/edit/", bindings.SubscriptionEditView.as_view(), name="subscription_edit"),
    path("subscriptions/<int:pk>/flow/", subscriptions.subscription_flow, name="subscription_flow"),
    *[path(f"subscriptions/<int:pk>/{action}/", subscriptions.subscription_action, {"action": action},
           name=f"subscription_{action}") for action in subscriptions.ACTIONS],

    path("workflow/", workflow.WorkflowListView.as_view(), name="workflow_list"),
    path("workflow/callback/", callback.workflow_callback, name="workflow_callback"),
    path("workflow/inbox/", workflow.inbox, name="workflow_inbox"),
    path("workflow/<str:pk>/", workflow.workflow_detail, name="workflow_detail"),
    path("workflow/<str:pk>/apply/", workflow.apply_view, name="workflow_apply"),
    path("workflow/<str:pk>/decide/", workflow.decide_view, name="workflow_decide"),
    path("workflow/<str:pk>/grant/", workflow.grant_view, name="workflow_grant"),
    path("workflow/<str:pk>/start-dump/", workflow.start_dump_view, name="workflow_start_dump"),

    path("monitor/", monitor.monitor_list, name="monitor"),
    path("monitor/<str:pk>/", monitor.monitor_detail, name="monitor_detail"),
    path("monitor/<str:pk>/flow/", monitor.monitor_flow, name="monitor_flow"),

    path("audit/", audit.AuditListView.as_view(), name="audit"),
    path("audit/<int:pk>/", audit.audit_detail, name="audit_detail"),
    path("config/", config.config_view, name="config"),
]
