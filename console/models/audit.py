from django.db import models


class AuditLog(models.Model):
    """Who changed what, before and after, when. Written in the same transaction as the change."""

    time = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=64)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=255, blank=True, default="")
    group = models.ForeignKey(
        "Group", null=True, blank=True, on_delete=models.SET_NULL, db_column="group_id", db_constraint=False,
        related_name="+",
    )
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    message = models.TextField(blank=True, default="")

    class Meta:
        db_table = "audit_log"
        ordering = ["-time", "-id"]

    def __str__(self):
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.object_type}:{self.object_id}"

    @classmethod
    def record(cls, actor, action, obj=None, before=None, after=None, message="", group_id=None):
        return cls.objects.create(
            actor=actor_name(actor),
            action=action,
            object_type=type(obj).__name__ if obj is not None else "",
            object_id=str(obj.pk) if obj is not None else "",
            object_repr=str(obj)[:255] if obj is not None else "",
            group_id=group_id if group_id is not None else getattr(obj, "group_id", None),
            before=before,
            after=after,
            message=message,
        )


def actor_name(actor) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    return getattr(actor, "username", None) or str(actor)
