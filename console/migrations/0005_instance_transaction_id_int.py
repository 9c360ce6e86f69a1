from django.db import migrations, models


def digits_only(apps, schema_editor):
    """The column held text: anything that is not a signed 64-bit integer becomes 0 before the type changes."""
    Instance = apps.get_model("console", "Instance")
    for pk, value in Instance.objects.values_list("pk", "transaction_id"):
        text = (value or "").strip()
        try:
            number = int(text) if text.lstrip("-").isdigit() else 0
        except ValueError:
            number = 0
        if not -(2**63) <= number < 2**63:
            number = 0
        if str(number) != value:
            Instance.objects.filter(pk=pk).update(transaction_id=str(number))


class Migration(migrations.Migration):

    dependencies = [
        ("console", "0004_mq_rule_target_binding_subscription"),
    ]

    operations = [
        migrations.RunPython(digits_only, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="instance",
            name="transaction_id",
            field=models.BigIntegerField(default=0, help_text="BinLake's transactionId (a long)"),
        ),
    ]
