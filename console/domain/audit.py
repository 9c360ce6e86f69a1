"""One audit path: every domain operation records one action name with before/after snapshots made here.

A snapshot is an object's concrete fields as JSON-safe values with every secret masked (encrypted fields,
passwords, URIs that may carry credentials, secret-named options), and `record` masks whatever else it is handed
(hand-built before/after dicts, the message) with the same rules (workers.masking), so no audit record keeps one.
"""
from console.fields import EncryptedTextField, mask
from console.models import AuditLog
from workers.masking import is_secret_name, mask_options, mask_text, mask_uri


def snapshot(obj, fields=None) -> dict:
    """The object's concrete fields (or only `fields`) as JSON-safe values, secrets masked."""
    data = {}
    for field in obj._meta.concrete_fields:
        if fields is not None and field.name not in fields and field.attname not in fields:
            continue
        value = getattr(obj, field.attname)
        if field.name == "uri":
            value = mask_uri(value)
        elif isinstance(field, EncryptedTextField) or is_secret_name(field.name):
            value = mask(value)
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        elif isinstance(value, (str, list, dict)):
            value = mask_options(value)
        elif not isinstance(value, (int, float, bool, type(None))):
            value = str(value)
        data[field.attname] = value
    return data


def record(actor, action, obj=None, before=None, after=None, message="", group_id=None):
    """Write one audit record (in the caller's transaction), secrets masked wherever they are."""
    return AuditLog.record(actor, action, obj, before=mask_options(before), after=mask_options(after),
                           message=mask_text(message), group_id=group_id)


def record_change(actor, action, obj, before=None, after=None, message="", group_id=None):
    """Audit a create/update/delete: `after` defaults to the object's current snapshot (none for a delete)."""
    if after is None and not action.endswith("delete"):
        after = snapshot(obj)
    return record(actor, action, obj, before=before, after=after, message=message, group_id=group_id)


# Records of access rather than of changes: sign-ins, refusals, connections to a source with stored credentials.
LOGIN, LOGIN_FAILED, DENIED, SOURCE_CONNECT = "login", "login_failed", "denied", "source_connect"
ACCESS_ACTIONS = (LOGIN, LOGIN_FAILED, DENIED, SOURCE_CONNECT)


def record_login(username, surface, address="", user=None, ok=True, reason=""):
    """One sign-in attempt on a surface (console, admin, basic, oidc, sso), by the name given: never a password."""
    message = f"{surface} from {address or 'an unknown address'}" + (f": {reason}" if reason else "")
    return record(str(username or "")[:64] or "anonymous", LOGIN if ok else LOGIN_FAILED, user, message=message)


def record_denied(actor, method, path, address=""):
    """A request a permission check refused (403) on any surface."""
    return record(actor or "anonymous", DENIED, message=f"{method} {path[:400]} from {address or 'an unknown address'}")


def record_source_connect(instance, question, outcome):
    """Tower used an instance's stored credentials to ask its server `question` (a name)."""
    return record(None, SOURCE_CONNECT, instance, message=f"{question}: {outcome}")
