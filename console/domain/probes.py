"""Test a target before saving it: connect with the sink's own client and close (workers.sinks.probe).

Only an admin of the group asks (the answer tells whether a host answers). The URI and options are checked
as create_target checks them (allow-lists of workers/sinks/options.py) before any connection; nothing is
written, here or at the target."""
from console.domain.caller import as_caller
from console.domain.catalog import clean_target
from console.domain.errors import DomainError
from workers.masking import restore_masked
from workers.sinks import SinkError
from workers.sinks.probe import probe


def test_target(caller, group_id, uri, options=None, target=None) -> str:
    """What answered (a sentence); DomainError("invalid") for refused settings, ("source") when unreachable.
    On an edit form a blank URI is the target's stored one and masked options keep their stored secrets."""
    caller = as_caller(caller)
    if target is not None:
        group_id = target.group_id
    if group_id is None:
        raise DomainError("invalid", "Choose the group the target is for.", "group")
    if not caller.can_admin(group_id):
        raise DomainError("forbidden", "Only an admin of the group may test a target.")
    if target is not None:
        uri = uri or target.uri
        options = restore_masked(options or {}, target.options)
    data = clean_target({"name": "probe", "uri": uri, "options": options})
    try:
        return probe(data["uri"], data["options"])
    except SinkError as exc:
        raise DomainError("source", str(exc)) from exc
