"""Instances registered without a dump user used to get a copy of the global dump account: blank those copies.

The global account is now resolved when a connection is made, and only for instances a DBA approved
(workers.source.instance_endpoint); a copy would let it reach a host nobody approved."""
from django.db import migrations


def forget_copies(apps, schema_editor):
    Config = apps.get_model("console", "Config")
    Instance = apps.get_model("console", "Instance")
    config = Config.objects.filter(keyword="default").first()
    if config is None or not config.dump_user:
        return
    for instance in Instance.objects.filter(user=config.dump_user).only("id", "user", "password"):
        if instance.password == config.dump_password:
            Instance.objects.filter(pk=instance.pk).update(user="", password="")


class Migration(migrations.Migration):
    dependencies = [("console", "0002_instance_decoder_stats")]
    operations = [migrations.RunPython(forget_copies, migrations.RunPython.noop)]
