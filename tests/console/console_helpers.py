"""Helpers shared by the console tests."""
import time

from console.models import Instance
from waiting import wait_for  # noqa: F401  (re-exported to this package's tests)


def make_instance(group, host="127.0.0.1", port=3306, **fields):
    instance = Instance(group=group, host=host, port=port, slave_id=fields.pop("slave_id", 5000 + port % 1000), **fields)
    instance.save()
    return instance


def signed_callback(client, secret, body: dict, timestamp=None, signature=None):
    """POST a DBA decision to /workflow/callback/ the way the approval system does."""
    import json

    from console.domain.instances import sign_callback

    raw = json.dumps(body).encode()
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    return client.post(
        "/workflow/callback/", data=raw, content_type="application/json",
        HTTP_X_TOWER_TIMESTAMP=timestamp, HTTP_X_TOWER_SIGNATURE=signature or sign_callback(secret, timestamp, raw),
    )


# --- what a request changed in the metadata database -------------------------------------------------------

TIMESTAMPS = ("create_time", "update_time", "time")


def db_rows():
    """Every row of every console table, {model name: {pk: {field: value}}}: a refused request must leave it equal."""
    from django.apps import apps

    from console.domain.audit import ACCESS_ACTIONS

    def rows(model):
        queryset = model._base_manager.all()
        if model.__name__ == "AuditLog":  # sign-ins, refusals, source connections: records of access, not changes
            queryset = queryset.exclude(action__in=ACCESS_ACTIONS)
        return queryset.values("pk", *[f.attname for f in model._meta.concrete_fields])

    return {model.__name__: {row["pk"]: row for row in rows(model)} for model in apps.get_app_config("console").get_models()}


def db_changes(before, after):
    """{model name: {"added": [row, …], "removed": {pk, …}, "changed": {pk: {field: (old, new)}}}} for the models
    that changed, timestamps left out of "changed" (a save moves them; what the change was is in the other fields)."""
    out = {}
    for model, rows in after.items():
        old = before[model]
        added = [rows[pk] for pk in sorted(rows.keys() - old.keys(), key=str)]
        removed = set(old.keys() - rows.keys())
        changed = {}
        for pk in rows.keys() & old.keys():
            fields = {f: (old[pk][f], rows[pk][f]) for f in rows[pk] if f not in TIMESTAMPS and rows[pk][f] != old[pk][f]}
            if fields:
                changed[pk] = fields
        entry = {k: v for k, v in (("added", added), ("removed", removed), ("changed", changed)) if v}
        if entry:
            out[model] = entry
    return out


class Matches:
    """An expected value that is not known in advance (a generated id), described by a predicate."""

    def __init__(self, predicate, description):
        self.predicate, self.description = predicate, description

    def __eq__(self, other):
        return bool(self.predicate(other))

    def __repr__(self):
        return f"<{self.description}>"


def _subset(row, expected):
    return all(row.get(field) == value for field, value in expected.items())


def assert_db_changes(before, after, expected):
    """The database changed exactly as `expected` says and nowhere else.

    expected: {model name: {"added": [fields the new row has, …], "removed": {pk, …}, "changed": {pk: {field: (old, new)}}}}.
    Each expected added row names the fields that matter; the other fields of a new row are the model's defaults.
    """
    actual = db_changes(before, after)
    assert set(actual) == set(expected), f"changed tables {sorted(actual)} != expected {sorted(expected)}: {actual}"
    for model, want in expected.items():
        got = actual[model]
        assert got.get("removed", set()) == set(want.get("removed", ())), (model, got)
        assert got.get("changed", {}) == want.get("changed", {}), (model, got)
        rows = list(got.get("added", []))
        assert len(rows) == len(want.get("added", [])), (model, rows)
        for fields in want.get("added", []):
            match = next((row for row in rows if _subset(row, fields)), None)
            assert match is not None, f"{model}: no new row with {fields} among {rows}"
            rows.remove(match)
    return actual


def audit_row(actor, action, obj_type, obj_id, group_id):
    """The fields of the audit row a change writes (object_id as stored: a string, or a Matches)."""
    return {"actor": actor, "action": action, "object_type": obj_type,
            "object_id": obj_id if isinstance(obj_id, Matches) else str(obj_id), "group_id": group_id}
