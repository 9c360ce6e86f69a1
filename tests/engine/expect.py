"""What Redis should hold for a table: its rows through the same JSON encoding, compared tolerantly where the
binlog and the SQL protocol legitimately differ (FLOAT precision, SET as text)."""
import json

from workers.sinks.encoding import json_safe


def expected_state(source, table, json_columns=(), set_columns=()):
    out = {}
    for row in source.rows(table):
        for name in json_columns:
            if row[name] is not None:
                row[name] = json.loads(row[name])
        for name in set_columns:
            if isinstance(row[name], str):
                row[name] = set(filter(None, row[name].split(",")))
        out[f"{source.schema}-{table}-{row['id']}"] = json_safe(row)
    return out


def same_value(a, b):
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return abs(float(a) - float(b)) <= 1e-5 * max(1.0, abs(float(a)), abs(float(b)))
    return a == b


def diff_states(got, want, limit=5):
    """Human-readable differences (empty when equal)."""
    problems = []
    for key in sorted(set(got) | set(want)):
        if key not in got:
            problems.append(f"missing {key}")
        elif key not in want:
            problems.append(f"extra {key}")
        else:
            g, w = got[key], want[key]
            if set(g) != set(w):
                problems.append(f"{key}: columns {sorted(g)} != {sorted(w)}")
            else:
                bad = [c for c in w if not same_value(g[c], w[c])]
                if bad:
                    problems.append(f"{key}: " + ", ".join(f"{c}={g[c]!r} want {w[c]!r}" for c in bad))
        if len(problems) >= limit:
            break
    return problems
