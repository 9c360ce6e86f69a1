"""Name templates (Bifrost's placeholder spelling): Redis keys, Kafka topics, RabbitMQ routing keys, MongoDB
databases and collections, ClickHouse databases and tables. Every sink renders them here, with one meaning:

| placeholder | becomes |
|---|---|
| `{$SchemaName}` | the change's schema |
| `{$TableName}` | the change's table |
| `{$EventType}` | the change's type in lower case, as Bifrost's plugins get it and as Tower's Redis list events carry it: `insert`, `update`, `delete` (a DDL change: `alter`, `create`, `truncate`...) |
| `{$<column>}` | that column's value in the row (encoding.key_text: `NULL` for SQL NULL, compact JSON for JSON); `NULL` for a change without a row (DDL); a row without that column is an error that stops the subscription (a FieldList that leaves it out, a misspelt name) |
| `{$__pk__}` | the primary key values joined by `-`; the md5 of the row's JSON when the table has no primary key (the default Redis key) |

Anything else is copied as written. A template is compiled once (`compiled`, cached) into one generated expression.
"""
import hashlib
import re
from functools import lru_cache

from .base import SinkError
from .encoding import dumps, key_text

_PLACEHOLDER = re.compile(r"\{\$([^{}]+)\}")


def _primary_key(change, row):
    if row is _NO_ROW:
        return "NULL"
    pk = change.primary_key
    if len(pk) == 1:
        return key_text(row.get(pk[0]))
    if pk:
        return "-".join([key_text(row.get(c)) for c in pk])
    return hashlib.md5(dumps(row).encode()).hexdigest()


class _NoRow(dict):
    """The row of a change that has none: every column is NULL."""

    def __missing__(self, name):
        return None


_NO_ROW = _NoRow()
# Placeholders that are not columns; the first three are spelt out in Template._generate.
_BUILTIN = {"SchemaName": None, "TableName": None, "EventType": None, "__pk__": _primary_key}


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


class Template:
    """A compiled template: `render(change)` with the change's row, `render(change, row)` with another row
    image (the Redis sink renders an UPDATE's old key from the before image)."""

    __slots__ = ("text", "parts", "columns", "static", "_render")

    def __init__(self, text: str):
        self.text = text
        self.parts = parse(text)
        self.columns = frozenset(p[0] for p in self.parts if isinstance(p, tuple) and p[0] not in _BUILTIN)
        self.static = "".join(self.parts) if all(isinstance(p, str) for p in self.parts) else None
        self._render = self._generate()

    def _generate(self):
        """One Python expression for the whole template: the Redis sink renders a key (two for a key-moving
        UPDATE) per row, and a generic loop over the parts costs more than the values themselves. The source
        names only generated variables; literals and column names are passed in, never pasted into it."""
        names = {"key_text": key_text}
        terms = []
        for i, part in enumerate(self.parts):
            if isinstance(part, str):
                names[f"L{i}"] = part
                terms.append(f"L{i}")
            elif part[0] == "SchemaName":
                terms.append("change.schema")
            elif part[0] == "TableName":
                terms.append("change.table")
            elif part[0] == "EventType":
                terms.append("change.type.lower()")
            elif part[0] in _BUILTIN:
                names[f"F{i}"] = _BUILTIN[part[0]]
                terms.append(f"F{i}(change, row)")
            else:
                names[f"C{i}"] = part[0]
                terms.append(f"key_text(row[C{i}])")
        source = f"def render(change, row):\n    return ''.join(({', '.join(terms)},))\n"
        exec(source, names)
        return names["render"]

    def render(self, change, row=None) -> str:
        if self.static is not None:
            return self.static
        if row is None:
            row = getattr(change, "row", None)
            if row is None:  # a DDL change: its column placeholders are NULL
                row = _NO_ROW
        try:
            return self._render(change, row)
        except KeyError:
            missing = sorted(c for c in self.columns if c not in row)
            if not missing:
                raise
            raise SinkError(
                f"template {self.text!r} names column '{missing[0]}' that {change.schema}.{change.table} lacks",
                retryable=False,
            ) from None

    def __repr__(self):
        return f"Template({self.text!r})"


@lru_cache(maxsize=256)
def compiled(template: str) -> Template:
    """The template compiled once: sinks that hold a template per subscription keep this."""
    return Template(template)


def render(template: str, change, row=None) -> str:
    return compiled(template).render(change, row)


def is_static(template: str) -> bool:
    return compiled(template).static is not None
