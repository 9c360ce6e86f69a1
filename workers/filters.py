"""Which changes a subscription delivers, and in what shape.

BinLake filters and MQ rules, as pure functions over RowChange/SchemaChange:

    A change passes when at least one WHITE filter matches both its event type
    and its ``schema.table`` (the filter's ``table_name`` regex must match the
    whole name), and no BLACK filter matches both. The WHITE filters that
    matched then shape the row: ``white_columns`` keeps only those columns,
    ``black_columns`` removes columns, ``fake_cols`` (``k:v,k2:v2``) adds
    constant columns, and ``business_keys`` names the message key columns
    (BUSINESS_KEY_ORDER). An MQ rule's filters are the ones linked through
    ``mq_filter_relation``.

Bifrost's per-subscription options (FieldList, FilterQuery, FilterUpdate)
are applied by the engine in workers/subscriptions.py (SubscriptionRuntime.select).

Table regexes are user input run against every table name, in the dump loop and in web requests, so
they compile and match with RE2 (``compile_user_regex``): matching takes time linear in the name, whatever
the pattern. RE2 has no backreferences, lookarounds, atomic groups or possessive quantifiers; a pattern
using one is refused with a message naming the construct.

Everything is compiled once (regexes, column sets) and per-table decisions are
cached, so the per-row cost is a dict lookup and, when columns are shaped, one
dict comprehension. Nothing here touches the ORM per row: ``rules_for`` and
``mq_rule_options`` read the models once, and the caller keeps the result until
the configuration changes.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Iterable, Optional

import re2

from workers.events import RowChange

ALL_EVENTS = "all"
EVENT_TYPES = (
    "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "ERASE", "QUERY", "TRUNCATE", "RENAME", "CINDEX", "DINDEX",
)


class FilterError(ValueError):
    """A filter definition that cannot be compiled; the message names the field."""

    def __init__(self, field_name, message):
        super().__init__(f"{field_name}: {message}")
        self.field_name = field_name
        self.message = message


def split_list(text) -> tuple:
    """'a, b,,c' -> ('a', 'b', 'c'); lists and tuples pass through stripped."""
    if not text:
        return ()
    items = text if isinstance(text, (list, tuple)) else str(text).split(",")
    return tuple(s.strip() for s in items if s and s.strip())


def parse_events(text) -> Optional[frozenset]:
    """The `events` field: None means every event type."""
    names = split_list(text)
    if not names or any(n.lower() == ALL_EVENTS for n in names):
        return None
    unknown = [n for n in names if n.upper() not in EVENT_TYPES]
    if unknown:
        raise FilterError("events", f"unknown event type(s) {', '.join(unknown)}; use 'all' or {','.join(EVENT_TYPES)}")
    return frozenset(n.upper() for n in names)


def parse_fake_cols(text) -> dict:
    """'k:v,k2:v2' -> {'k': 'v', 'k2': 'v2'} (the value may itself contain ':')."""
    result = {}
    for item in split_list(text):
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise FilterError("fake_cols", f"'{item}' is not name:value")
        result[name.strip()] = value.strip()
    return result


def _re2_options():
    options = re2.Options()
    options.log_errors = False  # a refused pattern is the user's error, reported to them, not a log line
    return options


_RE2_OPTIONS = _re2_options()

# Constructs Python's `re` has and RE2 has not, by how RE2's error text starts after "invalid perl operator: ".
_PERL_OPERATORS = (
    ("(?=", "a lookahead (?=...)"),
    ("(?!", "a negative lookahead (?!...)"),
    ("(?<=", "a lookbehind (?<=...)"),
    ("(?<!", "a negative lookbehind (?<!...)"),
    ("(?>", "an atomic group (?>...)"),
    ("(?#", "a comment group (?#...)"),
    ("(?(", "a conditional group (?(...)...)"),
)


def _unsupported(pattern: str, error: str) -> Optional[str]:
    """The construct RE2's error points at when it is one Python's `re` accepts, else None."""
    escape = error.partition("invalid escape sequence: \\")[2]
    if escape[:1] and escape[0] in "123456789":
        return f"a backreference (\\{escape})"
    if escape == "Z":
        return "\\Z (use $ or \\z)"
    operator = error.partition("invalid perl operator: ")[2]
    if operator.startswith("(?P") and "(?P=" in pattern:
        return "a named backreference (?P=name)"
    for start, construct in _PERL_OPERATORS:
        if operator.startswith(start):
            return construct
    if error.startswith("bad repetition operator: ") and error.endswith("+"):
        return f"a possessive quantifier ({error.rpartition(' ')[2]})"
    return None


def compile_user_regex(pattern: str, field_name: str = "table_name"):
    """A user's regular expression compiled with RE2 (the ``re``-like ``re2`` module): its ``fullmatch``,
    ``search`` and ``match`` run in time linear in the text. FilterError(field_name, why) when RE2 cannot
    compile it; the message names a construct Python's ``re`` has and RE2 has not."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        error = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        construct = _unsupported(pattern, error)
        if construct:
            reason = (f"{construct} is not supported: Tower matches table regexes with RE2, which guarantees "
                      f"linear-time matching and has no backreferences, lookarounds or atomic groups")
        else:
            reason = error
        raise FilterError(field_name, f"Not a valid regular expression: {reason}") from None


def compile_table_regex(pattern: str):
    return compile_user_regex(pattern, "table_name")


@dataclass(frozen=True)
class CompiledFilter:
    type: str  # "WHITE" | "BLACK"
    table_re: object  # compile_user_regex's compiled pattern
    events: Optional[frozenset]  # None: all
    white_columns: frozenset = frozenset()
    black_columns: frozenset = frozenset()
    fake_cols: dict = field(default_factory=dict)
    business_keys: tuple = ()

    def matches(self, event_type: str, full_name: str) -> bool:
        if self.events is not None and event_type not in self.events:
            return False
        return self.table_re.fullmatch(full_name) is not None


@lru_cache(maxsize=1024)
def compile_filter(type="WHITE", table_name=r".*\..*", events=ALL_EVENTS, white_columns="", black_columns="",
                   fake_cols="", business_keys="") -> CompiledFilter:
    """One filter from its field values (the Filter model's columns, by name); raises FilterError."""
    type = (type or "WHITE").upper()
    if type not in ("WHITE", "BLACK"):
        raise FilterError("type", f"'{type}' is neither WHITE nor BLACK")
    return CompiledFilter(
        type=type,
        table_re=compile_table_regex(table_name or r".*\..*"),
        events=parse_events(events),
        white_columns=frozenset(split_list(white_columns)),
        black_columns=frozenset(split_list(black_columns)),
        fake_cols=parse_fake_cols(fake_cols),
        business_keys=split_list(business_keys),
    )


def compile_model_filter(f) -> CompiledFilter:
    return compile_filter(f.type, f.table_name, f.events, f.white_columns, f.black_columns, f.fake_cols, f.business_keys)


def validate_filter(f) -> dict:
    """{field name: message} for a Filter model instance (empty when it compiles); used by Filter.clean()."""
    try:
        compile_model_filter(f)
    except FilterError as exc:
        return {exc.field_name: exc.message}
    return {}


def unmatched_filters(filters, table_names: Iterable[str]) -> list:
    """The filters (model instances or CompiledFilters) whose regex matches none of `table_names` ('schema.table')."""
    names = list(table_names)
    result = []
    for f in filters:
        compiled = f if isinstance(f, CompiledFilter) else compile_model_filter(f)
        if not any(compiled.table_re.fullmatch(n) for n in names):
            result.append(f)
    return result


def source_tables(conn, limit: Optional[int] = None) -> list:
    """'schema.table' for every base table of a source (system schemas left out), for unmatched_filters;
    the first `limit` of them in name order when a limit is given."""
    sql = ("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' "
           "AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') "
           "ORDER BY TABLE_SCHEMA, TABLE_NAME")
    with conn.cursor() as cur:
        if limit is None:
            cur.execute(sql)
        else:
            cur.execute(sql + " LIMIT %s", (int(limit),))
        return [f"{s}.{t}" for s, t in cur.fetchall()]


@dataclass(frozen=True)
class TableShape:
    """What the matching WHITE filters do to one table's rows (cached per event type and table)."""

    passes: bool
    white_columns: frozenset = frozenset()  # empty: every column
    black_columns: frozenset = frozenset()
    fake_cols: dict = field(default_factory=dict)
    business_keys: tuple = ()

    @property
    def reshapes(self) -> bool:
        return bool(self.white_columns or self.black_columns or self.fake_cols)


class RuleSet:
    """A compiled set of BinLake filters (typically an MQ rule's): `apply(change)` -> change or None.

    An empty rule set lets everything through unchanged (a subscription with no MQ rule).
    """

    def __init__(self, filters: Iterable[CompiledFilter] = ()):
        self.filters = list(filters)
        self.white = [f for f in self.filters if f.type == "WHITE"]
        self.black = [f for f in self.filters if f.type == "BLACK"]
        self._shapes: dict = {}

    @classmethod
    def from_models(cls, filters) -> "RuleSet":
        return cls(compile_model_filter(f) for f in filters)

    def shape(self, event_type: str, schema: str, table: str) -> TableShape:
        key = (event_type, schema, table)
        shape = self._shapes.get(key)
        if shape is None:
            shape = self._shapes[key] = self._compute_shape(event_type, f"{schema}.{table}")
        return shape

    def _compute_shape(self, event_type, full_name) -> TableShape:
        if not self.filters:
            return TableShape(True)
        whites = [f for f in self.white if f.matches(event_type, full_name)]
        if not whites or any(f.matches(event_type, full_name) for f in self.black):
            return TableShape(False)
        white_columns = frozenset() if any(not f.white_columns for f in whites) else frozenset().union(
            *(f.white_columns for f in whites))
        fake = {}
        for f in whites:
            fake.update(f.fake_cols)
        business_keys = next((f.business_keys for f in whites if f.business_keys), ())
        return TableShape(True, white_columns, frozenset().union(*(f.black_columns for f in whites)), fake,
                          business_keys)

    def passes(self, change) -> bool:
        return self.shape(change.type, change.schema, change.table).passes

    def business_keys(self, schema: str, table: str, event_type: str = "INSERT") -> tuple:
        return self.shape(event_type, schema, table).business_keys

    def apply(self, change):
        """The change as the rule set delivers it, or None when it is filtered out."""
        shape = self.shape(change.type, change.schema, change.table)
        if not shape.passes:
            return None
        if not isinstance(change, RowChange) or not shape.reshapes:
            return change
        return replace(change, row=_shape_row(change.row, shape), old=_shape_row(change.old, shape))


def _shape_row(row: Optional[dict], shape: TableShape) -> Optional[dict]:
    if row is None:
        return None
    white, black = shape.white_columns, shape.black_columns
    result = {k: v for k, v in row.items() if (not white or k in white) and k not in black}
    for name, value in shape.fake_cols.items():
        result.setdefault(name, value)
    return result


def rules_for(mq_rule) -> RuleSet:
    """The RuleSet of an MQ rule (its filters through mq_filter_relation); one query, call once per config load."""
    if mq_rule is None:
        return RuleSet()
    return RuleSet.from_models(mq_rule.filters.all())


def mq_rule_options(mq_rule, rules: RuleSet = None) -> dict:
    """The sink options an MQ rule implies (kafka.py/amqp.py read them): its topic (the Kafka topic, the AMQP
    routing key: the rule says where its events go, whatever the target's URI names), order type, with_trx,
    business keys.

    business_keys is a list of [table regex, [columns]] from the rule's WHITE filters, in filter order;
    plain data, so the engine can compare two option dicts to notice a change.
    """
    if mq_rule is None:
        return {}
    rules = rules if rules is not None else rules_for(mq_rule)
    return {
        "topic": mq_rule.topic,
        "order_type": mq_rule.order_type,
        "with_trx": bool(mq_rule.with_trx),
        "business_keys": [[f.table_re.pattern, list(f.business_keys)] for f in rules.white if f.business_keys],
    }
