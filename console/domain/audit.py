"""One audit path: every domain operation records one action name with before/after snapshots made here.

A snapshot is an object's concrete fields as JSON-safe values with every secret masked (encrypted fields,
passwords, URIs that may carry credentials), so nothing an audit record keeps can leak one.
"""
from console.fields import EncryptedTextField, mask
from console.models import AuditLog


def snapshot(obj, fields=None) -> dict:
    """The object's concrete fields (or only `fields`) as JSON-safe values, secrets masked."""
    data = {}
    for field in obj._meta.concrete_fields:
        if fields is not None and field.name not in fields and field.attname not in fields:
            continue
        value = getattr(obj, field.attname)
        if field.name == "uri":
            value = getattr(obj, "display_uri", mask(value))
        elif isinstance(field, EncryptedTextField) or "password" in field.name or field.name.endswith("token") \
                or field.name == "callback_secret":
            value = mask(value)
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        elif not isinstance(value, (str, int, float, bool, list, dict, type(None))):
            value = str(value)
        data[field.attname] = value
    return data


def record(actor, action, obj=None, before=None, after=None, message="", group_id=None):
    """Write one audit record (in the caller's transaction)."""
    return AuditLog.record(actor, action, obj, before=before, after=after, message=message, group_id=group_id)


def record_change(actor, action, obj, before=None, after=None, message="", group_id=None):
    """Audit a create/update/delete: `after` defaults to the object's current snapshot (none for a delete)."""
    if after is None and not action.endswith("delete"):
        after = snapshot(obj)
    return record(actor, action, obj, before=before, after=after, message=message, group_id=group_id)
