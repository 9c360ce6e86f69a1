"""Reading back what the MQ targets sent, and replaying it into a table state."""
import json


def apply_canal(messages, pk=("id",)):
    """{key tuple: row} after applying canal-json messages in order (deduplicated by file/pos/seq/type)."""
    state, seen = {}, set()
    for m in messages:
        if m.get("isDdl") or m["type"] in ("BEGIN", "COMMIT"):
            continue
        ident = (m["logfileName"], m["logfileOffset"], m["seq"], m["type"])
        if ident in seen:
            continue
        seen.add(ident)
        row = m["data"][0]
        key = tuple(row[c] for c in pk)
        if m["type"] == "DELETE":
            state.pop(key, None)
        else:
            if m["type"] == "UPDATE":
                old = {**row, **m["old"][0]}
                state.pop(tuple(old[c] for c in pk), None)
            state[key] = row
    return state


def source_state(rows, pk=("id",)):
    """Source rows (pymysql) in the JSON form the messages carry."""
    from workers.sinks.encoding import json_row

    return {tuple(r[c] for c in pk): json_row(r) for r in rows}


def loads(values):
    return [json.loads(v) for v in values]
