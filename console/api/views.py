"""Native REST API: a viewset per model, scoped to the caller's groups exactly like the console.

Reads: every member of a group sees the group's objects (super admins see all).
Writes: group admins (admin/creator role) of the object's group; super admins.
Every write is one operation of console.domain, which checks, writes and audits it as on every surface.
"""
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response

from console.domain import catalog, config, instances, schema_history, subscriptions as jobs
from console.domain.errors import DomainError
from console.api import filtersets, serializers as s
from console.domain.caller import Caller
from console.models import (
    AuditLog, Checkpoint, Config, Filter, Group, Instance, Member, MqFilterRelation, MqRule, Rule, Subscription,
    Target, TransitionError, Wave,
)
from console.permissions import can_admin_group, is_super_admin, scope_to_user


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class IsSuperAdmin(permissions.BasePermission):
    def has_permission(self, request, view):
        return is_super_admin(request.user)


class GroupAdminWrites(permissions.BasePermission):
    """Safe methods for anyone who can see the object (the queryset is scoped); writes for its group's admins."""

    def has_object_permission(self, request, view, obj):
        if request.method in permissions.SAFE_METHODS:
            return True
        return can_admin_group(request.user, view.group_id_of(obj))


class ScopedViewSet(viewsets.ModelViewSet):
    """A model viewset scoped by console.permissions, audited, with model errors turned into 4xx."""

    permission_classes = [permissions.IsAuthenticated, GroupAdminWrites]
    group_field = "group"

    def get_queryset(self):
        return scope_to_user(self.queryset.all(), self.request.user, self.group_field)

    def group_id_of(self, obj):
        return getattr(obj, "group_id", None)

    # Every write goes through console.domain (its checks and its audit, as on every surface): a viewset
    # that writes says which operation; one that forgets is refused rather than saved unchecked.
    def perform_create(self, serializer):
        raise NotImplementedError(f"{type(self).__name__} creates through console.domain")

    def perform_update(self, serializer):
        raise NotImplementedError(f"{type(self).__name__} updates through console.domain")

    def perform_destroy(self, obj):
        raise NotImplementedError(f"{type(self).__name__} deletes through console.domain")

    def handle_exception(self, exc):
        if isinstance(exc, ProtectedError):
            exc = Conflict(f"still in use: {', '.join(sorted({str(o) for o in exc.protected_objects}))}")
        elif isinstance(exc, IntegrityError):
            exc = Conflict("conflicts with an existing object")
        elif isinstance(exc, TransitionError):
            exc = Conflict(str(exc))
        elif isinstance(exc, DomainError):
            # DRF's own shapes: a list of messages under a field, one message under "detail".
            detail = ValidationError({exc.field: [exc.message]} if exc.field else {"detail": exc.message})
            exc = {"forbidden": PermissionDenied(exc.message), "invalid": detail, "not_found": NotFound(exc.message),
                   "source": detail}.get(exc.kind) or Conflict(exc.message)
        elif isinstance(exc, DjangoPermissionDenied):
            exc = PermissionDenied(str(exc) or None)
        return super().handle_exception(exc)


class GroupViewSet(ScopedViewSet):
    """Any user may create a group and becomes its creator; its admins edit it; deleting needs it empty."""

    queryset = Group.objects.all()
    serializer_class = s.GroupSerializer
    filterset_class = filtersets.GroupFilter
    group_field = "pk"

    def group_id_of(self, obj):
        return obj.pk

    def perform_create(self, serializer):
        serializer.instance = catalog.create_group(Caller(user=self.request.user), **serializer.validated_data)

    def perform_update(self, serializer):
        # A new name re-keys the group, as in the console: the response carries its new id.
        serializer.instance = catalog.update_group(Caller(user=self.request.user), serializer.instance,
                                                   **serializer.validated_data)

    def perform_destroy(self, group):
        catalog.delete_group(Caller(user=self.request.user), group)


class CatalogWrites:
    """Writes of a group's catalog object through console.domain.catalog: `create_op(caller, group, **values)`,
    `update_op(caller, obj, **values)`, `delete_op(caller, obj)`, named by the subclass."""

    create_op = update_op = delete_op = None

    def perform_create(self, serializer):
        values = dict(serializer.validated_data)
        serializer.instance = type(self).create_op(Caller(user=self.request.user), values.pop("group"), **values)

    def perform_update(self, serializer):
        serializer.instance = type(self).update_op(Caller(user=self.request.user), serializer.instance,
                                                **serializer.validated_data)

    def perform_destroy(self, obj):
        type(self).delete_op(Caller(user=self.request.user), obj)


class MemberViewSet(ScopedViewSet):
    """Members: 'creator' is never assignable, and the creator's membership is changed only by a super admin."""

    queryset = Member.objects.select_related("group")
    serializer_class = s.MemberSerializer
    filterset_class = filtersets.MemberFilter

    def perform_create(self, serializer):
        values = dict(serializer.validated_data)
        serializer.instance = catalog.add_member(Caller(user=self.request.user), values.pop("group"), **values)

    def perform_update(self, serializer):
        # A role change is its own operation (member_role), as in the console; email and organisation another.
        caller, member, values = Caller(user=self.request.user), serializer.instance, dict(serializer.validated_data)
        role = values.pop("role", None)
        with transaction.atomic():
            if values:
                catalog.update_member(caller, member, **values)
            if role is not None:
                catalog.change_member_role(caller, member, role)

    def perform_destroy(self, member):
        catalog.remove_member(Caller(user=self.request.user), member)


class FilterViewSet(CatalogWrites, ScopedViewSet):
    queryset = Filter.objects.select_related("group")
    serializer_class = s.FilterSerializer
    filterset_class = filtersets.FilterFilter
    create_op, update_op, delete_op = catalog.create_filter, catalog.update_filter, catalog.delete_filter


class MqRuleViewSet(CatalogWrites, ScopedViewSet):
    """MQ rules; their filters are linked through /api/mq-filter-relations/."""

    queryset = MqRule.objects.select_related("group").prefetch_related("filters")
    serializer_class = s.MqRuleSerializer
    filterset_class = filtersets.MqRuleFilter
    create_op, update_op, delete_op = catalog.create_mq_rule, catalog.update_mq_rule, catalog.delete_mq_rule


class MqFilterRelationViewSet(ScopedViewSet):
    """A filter linked to an MQ rule: create or delete (to change a link, delete it and create another)."""

    queryset = MqFilterRelation.objects.select_related("mq", "filter").order_by("pk")
    serializer_class = s.MqFilterRelationSerializer
    filterset_fields = ["mq", "filter"]
    group_field = "mq__group"
    http_method_names = ["get", "post", "delete", "head", "options"]

    def group_id_of(self, obj):
        return obj.mq.group_id

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = catalog.link_filter(Caller(user=self.request.user), data["mq"], data["filter"])

    def perform_destroy(self, relation):
        catalog.unlink_filter(Caller(user=self.request.user), relation)


class RuleViewSet(ScopedViewSet):
    """Bindings: create and delete through console.domain.bindings (a binding is a subscription in the engine);
    to change one, unbind and bind again."""

    queryset = Rule.objects.select_related("group", "rule", "subscription").order_by("pk")
    serializer_class = s.RuleSerializer
    filterset_fields = ["group", "instance", "rule", "storage_type"]
    http_method_names = ["get", "post", "delete", "head", "options"]

    def perform_create(self, serializer):
        from console.domain import bindings

        data = serializer.validated_data
        serializer.instance = bindings.bind(
            Caller(user=self.request.user), data["instance"], data["rule"],
            storage_type=data.get("storage_type", "MQ_STORAGE"), convert_class=data.get("convert_class", ""))

    def perform_destroy(self, obj):
        from console.domain import bindings

        bindings.unbind(Caller(user=self.request.user), obj)


class TargetViewSet(CatalogWrites, ScopedViewSet):
    queryset = Target.objects.select_related("group")
    serializer_class = s.TargetSerializer
    filterset_class = filtersets.TargetFilter
    create_op, update_op, delete_op = catalog.create_target, catalog.update_target, catalog.delete_target


class InstanceViewSet(ScopedViewSet):
    """Registering and editing instances; the dump operations as actions (console.domain.instances)."""

    queryset = Instance.objects.prefetch_related("group")  # the page first, then its groups
    serializer_class = s.InstanceSerializer
    filterset_class = filtersets.InstanceFilter

    def perform_create(self, serializer):
        d = serializer.validated_data
        serializer.instance = instances.register_instance(
            Caller(user=self.request.user), d["group"], d["host"], d.get("port", 3306), d.get("user", ""),
            d.get("password", ""), d.get("slave_id"),
        )

    def perform_update(self, serializer):
        serializer.instance = instances.update_instance(Caller(user=self.request.user), serializer.instance,
                                                        **serializer.validated_data)

    def perform_destroy(self, instance):
        instances.delete_instance(Caller(user=self.request.user), instance)

    def _operate(self, request, operation, *args):
        instance = self.get_object()
        operation(Caller(user=request.user), instance, *args)
        instance.refresh_from_db()
        return Response(s.InstanceSerializer(instance, context={"request": request}).data)

    @extend_schema(request=None, responses=s.InstanceSerializer)
    @action(detail=True, methods=["post"])
    def set_online(self, request, pk=None):
        return self._operate(request, instances.set_online)

    @extend_schema(request=None, responses=s.InstanceSerializer)
    @action(detail=True, methods=["post"])
    def set_offline(self, request, pk=None):
        return self._operate(request, instances.set_offline)

    @extend_schema(request=None, responses=s.InstanceSerializer)
    @action(detail=True, methods=["post"])
    def reset_counter(self, request, pk=None):
        return self._operate(request, instances.reset_counter)

    @extend_schema(request=s.SetBinlogSerializer, responses=s.InstanceSerializer)
    @action(detail=True, methods=["post"])
    def set_binlog(self, request, pk=None):
        body = s.SetBinlogSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        return self._operate(request, instances.set_position, d["binlog_file"], d["binlog_pos"], d["gtid_set"])

    @extend_schema(request=s.SetLeaderSerializer, responses=s.InstanceSerializer)
    @action(detail=True, methods=["post"])
    def set_leader(self, request, pk=None):
        body = s.SetLeaderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._operate(request, instances.set_leader, body.validated_data["leader"])

    @extend_schema(request=s.ResnapshotTableSerializer, responses=s.InstanceSerializer)
    @action(detail=True, methods=["post"])
    def resnapshot_table(self, request, pk=None):
        """The table's columns from the statement its schema history refused on are the source's now."""
        body = s.ResnapshotTableSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        return self._operate(request, schema_history.resnapshot_table, d["schema"], d["table"])

    @extend_schema(request=s.SetCandidatesSerializer, responses=s.InstanceSerializer)
    @action(detail=True, methods=["post"])
    def set_candidates(self, request, pk=None):
        body = s.SetCandidatesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._operate(request, instances.set_candidates, body.validated_data["candidates"])


class SubscriptionViewSet(ScopedViewSet):
    """Subscriptions: create, change, delete, pause/resume/skip/full sync all go through console.domain.subscriptions
    like the console, CCR and TiCDC (one set of checks, one audit action each)."""

    queryset = Subscription.objects.prefetch_related("group", "instance", "target")  # the page first
    serializer_class = s.SubscriptionSerializer
    filterset_class = filtersets.SubscriptionFilter

    def perform_create(self, serializer):
        serializer.instance = jobs.create_subscription(Caller(user=self.request.user), **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = jobs.update_subscription(Caller(user=self.request.user), serializer.instance,
                                                       **serializer.validated_data)

    def perform_destroy(self, obj):
        jobs.delete_subscription(Caller(user=self.request.user), obj)

    def _job_action(self, request, operation, *args):
        job = self.get_object()
        operation(Caller(user=request.user), job, *args)
        job.refresh_from_db()
        return Response(s.SubscriptionSerializer(job, context={"request": request}).data)

    @extend_schema(request=None, responses=s.SubscriptionSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._job_action(request, jobs.pause_job)

    @extend_schema(request=None, responses=s.SubscriptionSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._job_action(request, jobs.resume_job)

    @extend_schema(request=None, responses=s.SubscriptionSerializer)
    @action(detail=True, methods=["post"])
    def force_fullsync(self, request, pk=None):
        return self._job_action(request, jobs.force_fullsync)

    @extend_schema(request=s.SkipEventSerializer, responses=s.SubscriptionSerializer)
    @action(detail=True, methods=["post"])
    def skip_event(self, request, pk=None):
        body = s.SkipEventSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._job_action(request, jobs.skip_event, body.validated_data["commit_seq"])

    @extend_schema(request=None, responses=s.SubscriptionSerializer)
    @action(detail=True, methods=["post"])
    def miss(self, request, pk=None):
        return self._job_action(request, jobs.miss)

    @extend_schema(request=s.SetBinlogSerializer, responses=s.SubscriptionSerializer)
    @action(detail=True, methods=["post"])
    def set_position(self, request, pk=None):
        body = s.SetBinlogSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        return self._job_action(request, jobs.set_position, d["binlog_file"], d["binlog_pos"], d["gtid_set"])


class AuditLogViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit trail of the caller's groups (entries without a group: super admins only)."""

    queryset = AuditLog.objects.all()
    serializer_class = s.AuditLogSerializer
    filterset_class = filtersets.AuditLogFilter

    def get_queryset(self):
        return scope_to_user(self.queryset.all(), self.request.user, "group")


class CheckpointViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Checkpoint.objects.order_by("pk")
    serializer_class = s.CheckpointSerializer
    filterset_fields = ["instance", "subscription"]

    def get_queryset(self):
        return scope_to_user(self.queryset.all(), self.request.user, "instance__group")


class WaveViewSet(viewsets.ReadOnlyModelViewSet):
    """Worker hosts: shared infrastructure, super admins only."""

    queryset = Wave.objects.all()
    serializer_class = s.WaveSerializer
    permission_classes = [permissions.IsAuthenticated, IsSuperAdmin]
    filterset_fields = ["state", "is_owner"]


class ConfigViewSet(viewsets.GenericViewSet, viewsets.mixins.ListModelMixin, viewsets.mixins.RetrieveModelMixin,
                    viewsets.mixins.UpdateModelMixin):
    """Global configuration: super admins only; secrets write-only."""

    queryset = Config.objects.order_by("keyword")
    serializer_class = s.ConfigSerializer
    permission_classes = [permissions.IsAuthenticated, IsSuperAdmin]
    filterset_fields = ["keyword"]

    def perform_update(self, serializer):
        try:
            serializer.instance = config.update_config(Caller(user=self.request.user), serializer.instance,
                                                       **serializer.validated_data)
        except DomainError as exc:
            if exc.kind == "forbidden":
                raise PermissionDenied(exc.message) from exc
            raise ValidationError({"detail": exc.message}) from exc
