from django.db import models
from django.db.models.signals import post_delete
from django.dispatch import receiver

from console.choices import ALL_EVENTS, FilterType, OrderType, StorageType

from .base import Md5IdModel, TimestampedModel
from .groups import Group


class Filter(Md5IdModel):
    """Which events pass: `table_name` is a regex over `schema.table`; `events` a comma list or `all`."""

    id_fields = ("group_id", "type", "table_name")

    name = models.CharField(max_length=128, blank=True, default="")
    group = models.ForeignKey(Group, on_delete=models.CASCADE, db_column="group_id", related_name="filters")
    type = models.CharField(max_length=8, choices=FilterType.choices, default=FilterType.WHITE)
    table_name = models.CharField(max_length=255, default=r".*\..*")
    events = models.CharField(max_length=255, default=ALL_EVENTS)
    white_columns = models.TextField(blank=True, default="")
    black_columns = models.TextField(blank=True, default="")
    fake_cols = models.TextField(blank=True, default="", help_text="k:v,k2:v2 constants added to every row")
    business_keys = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        db_table = "filter"
        ordering = ["group__name", "type", "table_name"]
        constraints = [
            models.UniqueConstraint(fields=["group", "type", "table_name"], name="filter_group_type_table_uniq")
        ]

    def __str__(self):
        return f"{self.type} {self.table_name}"

    def clean(self):
        # The regex, event list and fake columns must compile before the dump loop ever sees them.
        from django.core.exceptions import ValidationError

        from workers.filters import validate_filter

        errors = validate_filter(self)
        if errors:
            raise ValidationError(errors)


class MqRule(Md5IdModel):
    """Where a group's events go (a topic on `target`, a kafka or amqp target of the group) and how they are
    keyed (order type). The engine delivers to `topic`, whatever topic the target's URI names."""

    id_fields = ("topic", "group_id")

    name = models.CharField(max_length=128, blank=True, default="")
    topic = models.CharField(max_length=255)
    group = models.ForeignKey(Group, on_delete=models.CASCADE, db_column="group_id", related_name="mq_rules")
    with_trx = models.BooleanField(default=False)
    producer_class = models.CharField(max_length=255, blank=True, default="")
    paras = models.TextField(blank=True, default="", help_text="producer parameters, k=v per line")
    order_type = models.CharField(max_length=32, choices=OrderType.choices, default=OrderType.INSTANCE_ORDER)
    filters = models.ManyToManyField("Filter", through="MqFilterRelation", related_name="mq_rules")
    target = models.ForeignKey(
        "Target", null=True, blank=True, on_delete=models.PROTECT, db_column="target_id", related_name="mq_rules",
        help_text="where the rule's topic lives (kafka or amqp); empty: the configured MQ address",
    )

    class Meta:
        db_table = "mq_rule"
        ordering = ["group__name", "topic"]
        constraints = [models.UniqueConstraint(fields=["topic", "group"], name="mq_rule_topic_group_uniq")]

    def __str__(self):
        return self.name or self.topic

class MqFilterRelation(Md5IdModel):
    id_fields = ("mq_id", "filter_id")

    mq = models.ForeignKey(MqRule, on_delete=models.CASCADE, db_column="mq_id", related_name="relations")
    filter = models.ForeignKey(Filter, on_delete=models.CASCADE, db_column="filter_id", related_name="relations")

    class Meta:
        db_table = "mq_filter_relation"
        constraints = [models.UniqueConstraint(fields=["mq", "filter"], name="mq_filter_relation_uniq")]


class Rule(TimestampedModel):
    """Binds an instance to an MQ rule (BinLake's `rule`); `subscription` is what the engine runs for it.

    The two are one thing: deleting the subscription deletes the binding (CASCADE) and deleting the binding,
    also through its rule or instance, deletes the subscription (drop_binding_subscription). A binding made
    before bindings delivered has no subscription and delivers nothing.
    """

    group = models.ForeignKey(Group, on_delete=models.CASCADE, db_column="group_id", related_name="rules")
    instance = models.ForeignKey("Instance", on_delete=models.CASCADE, db_column="instance_id", related_name="rules")
    storage_type = models.CharField(max_length=16, choices=StorageType.choices, default=StorageType.MQ_STORAGE)
    convert_class = models.CharField(max_length=255, blank=True, default="")
    rule = models.ForeignKey(MqRule, on_delete=models.CASCADE, db_column="rule_id", related_name="bindings")
    subscription = models.OneToOneField(
        "Subscription", null=True, blank=True, on_delete=models.CASCADE, db_column="subscription_id",
        related_name="binding",
    )

    class Meta:
        db_table = "rule"
        constraints = [models.UniqueConstraint(fields=["instance", "rule"], name="rule_instance_rule_uniq")]

    def __str__(self):
        return f"{self.instance} -> {self.rule.topic}"


@receiver(post_delete, sender=Rule)
def drop_binding_subscription(sender, instance, origin=None, **kwargs):
    """Deleting an MQ rule cascades to its bindings: their subscriptions must not stay behind, with no rule
    left to filter what they deliver."""
    from .subscriptions import Subscription

    if instance.subscription_id and not (isinstance(origin, Subscription) and origin.pk == instance.subscription_id):
        Subscription.objects.filter(pk=instance.subscription_id).delete()
