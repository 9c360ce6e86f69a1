"""Name templates for topics, collections and tables (Bifrost's placeholder spelling).

`{$SchemaName}`, `{$TableName}` and `{$EventType}` are replaced by the change's
schema, table and type; any other `{$name}` by that column's value. A template
is parsed once; rendering is a join over the parsed parts.
"""
import re
from functools import lru_cache

from .encoding import key_text

_PLACEHOLDER = re.compile(r"\{\$([^{}]+)\}")
_BUILTIN = {"SchemaName": lambda c: c.schema, "TableName": lambda c: c.table, "EventType": lambda c: c.type}


@lru_cache(maxsize=256)
def parse(template: str) -> tuple:
    """'a_{$TableName}' -> ('a_', ('TableName',)): literal strings and 1-tuples naming placeholders."""
    parts, last = [], 0
    for m in _PLACEHOLDER.finditer(template):
        if m.start() > last:
            parts.append(template[last:m.start()])
        parts.append((m.group(1),))
        last = m.end()
    if last < len(template):
        parts.append(template[last:])
    return tuple(parts)


def render(template: str, change) -> str:
    out = []
    for part in parse(template):
        if isinstance(part, str):
            out.append(part)
        elif part[0] in _BUILTIN:
            out.append(_BUILTIN[part[0]](change))
        else:
            out.append(key_text((getattr(change, "row", None) or {}).get(part[0])))
    return "".join(out)


def is_static(template: str) -> bool:
    return all(isinstance(p, str) for p in parse(template))
