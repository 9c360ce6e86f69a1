"""What a JSON target (Redis) should hold for a table: its rows as read with SQL, in the JSON form docs/types.md
documents, compared tolerantly where the binlog and the SQL protocol legitimately differ (FLOAT precision).

The JSON form is written here from docs/types.md, not taken from workers.sinks.encoding: a bug in the
production encoder must not be copied into what the tests expect."""
import base64
import datetime
import decimal
import json


def documented_json(value):
    """A value read with SQL (pymysql) in the JSON form docs/types.md gives for its MySQL type."""
    if value is None or isinstance(value, (bool, int, float, str, list, dict)):
        return value
    if isinstance(value, decimal.Decimal):
        return f"{value:f}"  # the exact digits and scale, never an exponent
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):  # TIME: [-]HH:MM:SS[.ffffff], hours may exceed 24
        micros = value // datetime.timedelta(microseconds=1)
        sign, micros = ("-" if micros < 0 else ""), abs(micros)
        hours, micros = divmod(micros, 3600 * 10**6)
        minutes, micros = divmod(micros, 60 * 10**6)
        seconds, micros = divmod(micros, 10**6)
        return f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}" + (f".{micros:06d}" if micros else "")
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"no documented JSON form for {type(value).__name__}")


def expected_state(source, table, json_columns=(), set_columns=()):
    out = {}
    for row in source.rows(table):
        for name in json_columns:
            if row[name] is not None:
                row[name] = json.loads(row[name])
        for name in set_columns:
            if isinstance(row[name], str):
                row[name] = set(filter(None, row[name].split(",")))
        out[f"{source.schema}-{table}-{row['id']}"] = {k: documented_json(v) for k, v in row.items()}
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
