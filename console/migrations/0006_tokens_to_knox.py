"""API tokens move from DRF's authtoken (keys in clear) to knox (digests with an expiry).

Each existing key becomes a knox token with the same key, so scripts keep working; it expires after
the configured TTL from now (REST_KNOX TOKEN_TTL, TOWER_TOKEN_TTL_HOURS). Then authtoken's table, which
holds the keys in clear, is dropped and its migration records forgotten (the app is no longer installed).
Going back is a no-op: the clear keys cannot be restored.
"""
import datetime

from django.db import migrations
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from knox.crypto import hash_token
from knox.settings import CONSTANTS, knox_settings

TABLE = "authtoken_token"


def tokens_to_knox(apps, schema_editor):
    connection = schema_editor.connection
    if TABLE not in connection.introspection.table_names():
        return
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {qn('key')}, {qn('user_id')}, {qn('created')} FROM {qn(TABLE)}")
        rows = cursor.fetchall()
    AuthToken = apps.get_model("knox", "AuthToken")
    ttl = knox_settings.TOKEN_TTL
    expiry = timezone.now() + ttl if ttl else None
    for key, user_id, created in rows:
        digest = hash_token(key)
        AuthToken(digest=digest, token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH], user_id=user_id, expiry=expiry).save()
        # save() stamps now; a raw row holds the UTC time, naive (as text on SQLite).
        if isinstance(created, str):
            created = parse_datetime(created)
        if created is not None:
            if timezone.is_naive(created):
                created = timezone.make_aware(created, datetime.timezone.utc)
            AuthToken.objects.filter(digest=digest).update(created=created)
    schema_editor.execute(f"DROP TABLE {qn(TABLE)}")
    MigrationRecorder(connection).migration_qs.filter(app="authtoken").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0005_instance_transaction_id_int"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    operations = [migrations.RunPython(tokens_to_knox, migrations.RunPython.noop)]
