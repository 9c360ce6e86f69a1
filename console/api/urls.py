"""/api/: the TiCDC OpenAPI v1 (first, so the router never shadows it), the native REST API, its schema and docs."""
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import IsAuthenticated
from rest_framework.routers import DefaultRouter

from console.api import ticdc, views

router = DefaultRouter()
router.register("groups", views.GroupViewSet)
router.register("members", views.MemberViewSet)
router.register("filters", views.FilterViewSet)
router.register("mq-rules", views.MqRuleViewSet)
router.register("mq-filter-relations", views.MqFilterRelationViewSet)
router.register("rules", views.RuleViewSet)
router.register("targets", views.TargetViewSet)
router.register("instances", views.InstanceViewSet)
router.register("subscriptions", views.SubscriptionViewSet)
router.register("audit", views.AuditLogViewSet)
router.register("checkpoints", views.CheckpointViewSet)
router.register("waves", views.WaveViewSet)
router.register("config", views.ConfigViewSet)

CHANGEFEED = r"v1/changefeeds/(?P<changefeed_id>[^/]+)"


def route(path, view, name):
    """A TiCDC path with or without a trailing slash (APPEND_SLASH's redirect would turn a POST into a GET)."""
    return re_path(rf"^{path}/?$", view, name=name)


ticdc_urls = [
    route("v1/status", ticdc.status, name="ticdc-status"),
    route("v1/health", ticdc.health, name="ticdc-health"),
    route("v1/changefeeds", ticdc.changefeeds, name="ticdc-changefeeds"),
    route(rf"{CHANGEFEED}/tables/rebalance_table", ticdc.rebalance_table, name="ticdc-rebalance-table"),
    route(rf"{CHANGEFEED}/tables/move_table", ticdc.move_table, name="ticdc-move-table"),
    route(rf"{CHANGEFEED}/pause", ticdc.pause, name="ticdc-pause"),
    route(rf"{CHANGEFEED}/resume", ticdc.resume, name="ticdc-resume"),
    route(CHANGEFEED, ticdc.changefeed, name="ticdc-changefeed"),
    route("v1/processors", ticdc.processors, name="ticdc-processors"),
    route(r"v1/processors/(?P<changefeed_id>[^/]+)/(?P<capture_id>[^/]+)", ticdc.processor, name="ticdc-processor"),
    route("v1/captures", ticdc.captures, name="ticdc-captures"),
    route("v1/owner/resign", ticdc.owner_resign, name="ticdc-owner-resign"),
    route("v1/log", ticdc.log_level, name="ticdc-log"),
]

urlpatterns = ticdc_urls + [
    # Every endpoint authenticates (docs/architecture.md), the schema and its docs page too.
    path("schema/", SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema", permission_classes=[IsAuthenticated]),
         name="api-docs"),
] + router.urls
