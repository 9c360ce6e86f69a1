"""Replaying canal-json messages (what the Kafka and RabbitMQ targets carry) into a table's state."""


def apply_canal(messages, pk=("id",), table=None):
    """{key tuple: row} after applying canal-json row messages in order (of `table` only, when given).

    INSERT and UPDATE upsert the row, an UPDATE whose key changed drops the old key, DELETE drops it; a
    message seen before (same file, offset, seq and type: an at-least-once redelivery) is skipped.
    """
    state, seen = {}, set()
    for m in messages:
        if m.get("isDdl") or m.get("type") in ("BEGIN", "COMMIT") or (table is not None and m.get("table") != table):
            continue
        ident = (m["logfileName"], m["logfileOffset"], m["seq"], m["type"])
        if ident in seen:
            continue
        seen.add(ident)
        row = m["data"][0]
        key = tuple(row[c] for c in pk)
        if m["type"] == "DELETE":
            state.pop(key, None)
            continue
        if m["type"] == "UPDATE" and m.get("old"):
            before = {**row, **m["old"][0]}
            state.pop(tuple(before[c] for c in pk), None)
        state[key] = row
    return state
