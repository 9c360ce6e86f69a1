"""What a DDL statement does to the columns of the tables it names: the schema history's parser.

A source whose row events do not name their columns (binlog_row_metadata MINIMAL, or no row metadata at
all) needs the column list each table had at each binlog position. `apply_ddl` takes the tables known
before a statement and returns the tables it changed, created or dropped, by parsing the statement with
sqlglot's MySQL dialect (a real SQL parser: quoting, comments, reserved words and unicode identifiers are
its business, not a regex's). A statement it cannot understand, on a table it would have to change, raises
`Refused` naming the statement: the history never guesses.

Why a parser and not a replay on a scratch server: a replay needs a MySQL-compatible server beside every
deployment (the demo's metadata DB is SQLite) and the source's exact version and SQL mode to be exact; the
columns a row event carries (names, order, ENUM/SET members, signedness, charsets, primary key) are what the parser
must get right, and tests/decoder/test_ddl_parser.py holds it to the real server's information_schema after
every statement it understands.

Understood: CREATE TABLE (columns, inline and table primary keys; IF NOT EXISTS), CREATE TABLE … LIKE,
DROP TABLE, TRUNCATE, RENAME TABLE (any number of pairs, so the gh-ost / pt-osc swap), ALTER TABLE with any
number of ADD / DROP / MODIFY / CHANGE / RENAME COLUMN (FIRST, AFTER), ADD / DROP PRIMARY KEY, RENAME TO,
table charset options (DEFAULT CHARSET, COLLATE: the default of the string columns defined after), index,
default, constraint and other table-option clauses (which change no column), CREATE / DROP DATABASE, and every
statement that names no table (CREATE INDEX, views, routines, grants …). Version comments (`/*!50100 …*/`,
MariaDB's `/*M!100100 …*/`) are executed as the server does.
Refused: CREATE TABLE … SELECT, ALTER TABLE … CONVERT TO CHARACTER SET, `ADD COLUMN (a, b)` lists, and
anything else sqlglot leaves as an unparsed command, when it names a table the history tracks.

A library module: it imports neither console nor tower.
"""
import re
from dataclasses import dataclass, replace

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

# information_schema DATA_TYPE of the types sqlglot names differently (MariaDB stores JSON as longtext)
_TYPE_NAMES = {"boolean": "tinyint", "bool": "tinyint", "integer": "int", "numeric": "decimal", "real": "double",
               "serial": "bigint", "json": "longtext", "timestamptz": "timestamp", "datetime2": "datetime",
               "nchar": "char", "nvarchar": "varchar", "dec": "decimal", "fixed": "decimal"}
_UNSIGNED = re.compile(r"\bunsigned\b", re.I)
_QUOTED = re.compile(r"'((?:[^'\\]|''|\\.)*)'")
# MySQL's executable comments: the server runs the text inside; `/*!` (any version) and MariaDB's `/*M!`
_VERSION_COMMENT = re.compile(r"/\*M?!(?:\d{5,6})?(.*?)\*/", re.S)


class Refused(Exception):
    """A statement the history cannot apply to a table it tracks: that table's rows stop until a re-snapshot."""

    def __init__(self, statement: str, reason: str, tables=()):
        self.statement, self.reason, self.tables = statement, reason, tuple(tables)
        super().__init__(f"{reason}: {statement[:300]}")


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str  # information_schema DATA_TYPE: int, varchar, enum, …
    unsigned: bool = False
    values: tuple | None = None  # the members of an ENUM or SET, in definition order
    charset: str | None = None  # of a string column ("binary" for binary strings); None for the others

    def as_json(self) -> dict:
        return {"name": self.name, "type": self.data_type, "unsigned": self.unsigned,
                "values": list(self.values) if self.values is not None else None, "charset": self.charset}

    @classmethod
    def from_json(cls, data: dict) -> "Column":
        values = data.get("values")
        return cls(data["name"], data["type"], bool(data.get("unsigned")), tuple(values) if values is not None else None,
                   data.get("charset"))


@dataclass(frozen=True)
class Table:
    columns: tuple = ()
    primary_key: tuple = ()
    charset: str | None = None  # the default of its new string columns (a schema's marker: the schema's)

    def index(self, name: str) -> int:
        """The position of a column, by MySQL's case-insensitive column names; -1 when absent."""
        lowered = name.lower()
        return next((i for i, c in enumerate(self.columns) if c.name.lower() == lowered), -1)

    def names(self) -> list:
        return [c.name for c in self.columns]


def column_from_information_schema(name: str, data_type: str, column_type: str, charset=None) -> Column:
    """A Column from information_schema.COLUMNS (COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME)."""
    data_type = data_type.lower()
    values = None
    if data_type in ("enum", "set"):
        inner = column_type[column_type.index("(") + 1:column_type.rindex(")")]
        values = tuple(_unquote_literal(m.group(1)) for m in _QUOTED.finditer(inner))
    charset = "binary" if data_type in _BINARY_TYPES else charset.lower() if charset else None
    return Column(name, data_type, bool(_UNSIGNED.search(column_type)), values, charset)


_BINARY_TYPES = frozenset(("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"))
_TEXT_TYPES = frozenset(("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"))
_CHARSET_ALIASES = {"utf8": "utf8mb3"}  # what MariaDB calls utf8 (information_schema says utf8mb3)


def charset_of(charset=None, collation=None):
    """A charset named directly or by one of its collations (`latin1_bin` is latin1's), as the server names it."""
    name = (charset or (collation or "").split("_", 1)[0] or "").lower()
    return _CHARSET_ALIASES.get(name, name) or None


def _unquote_literal(text: str) -> str:
    return re.sub(r"''|\\(.)", lambda m: "'" if m.group(0) == "''" else _ESCAPES.get(m.group(1), m.group(1)), text)


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "Z": "\x1a", "b": "\b"}


def expand_version_comments(statement: str) -> str:
    return _VERSION_COMMENT.sub(lambda m: f" {m.group(1)} ", statement)


def apply_ddl(tables: dict, statement: str, default_schema: str, schema_charset=lambda schema: None) -> dict:
    """{(schema, table): Table, or None for a dropped table} of what `statement` changes among `tables`
    ({(schema, table): Table}, the columns before it). Tables it does not know (a table nobody wants) are
    left out: their changes are nobody's business, unless the statement creates one (the caller decides
    whether a new table is wanted). `schema_charset(schema)`: a schema's default charset, for a CREATE TABLE
    that names none. Raises Refused for what it cannot understand about a known table."""
    text = expand_version_comments(statement).strip().rstrip(";")
    if re.match(r"\s*RENAME\s+TABLES?\b", text, re.I):
        return _rename_tables(tables, text, statement, default_schema)
    try:
        parsed = sqlglot.parse(text, read="mysql")
    except SqlglotError as exc:
        return _not_understood(tables, statement, default_schema, f"not parsed ({str(exc).splitlines()[0]})")
    changes = {}
    view = _Overlay(tables, changes)
    for node in parsed:
        if node is None:
            continue
        if isinstance(node, exp.Alter) and (node.args.get("kind") or "").upper() == "TABLE":
            _alter(view, node, statement, default_schema)
        elif isinstance(node, exp.Create) and (node.args.get("kind") or "").upper() == "TABLE":
            _create(view, node, statement, default_schema, schema_charset)
        elif isinstance(node, exp.Drop) and (node.args.get("kind") or "").upper() == "TABLE":
            for t in node.expressions or node.args.get("tables") or []:
                key = _key(t, default_schema)
                if key in view:
                    view[key] = None
        elif isinstance(node, exp.Drop) and (node.args.get("kind") or "").upper() in ("DATABASE", "SCHEMA"):
            schema = node.this.name if node.this is not None else ""
            for key in [k for k in view.keys() if k[0] == schema]:
                view[key] = None
        elif isinstance(node, exp.TruncateTable):
            continue  # rows go, columns stay
        elif isinstance(node, exp.Command):
            return _not_understood(tables, statement, default_schema, "not understood")
    return changes


def tables_named(statement: str, default_schema: str) -> tuple:
    """(names, exact): every (schema, table) a statement names, whatever it does to it (RENAME TABLE pairs
    included); for a statement that cannot be parsed, every identifier as a table of the default schema
    (exact False: some of them name no table)."""
    text = expand_version_comments(statement).strip().rstrip(";")
    if re.match(r"\s*RENAME\s+TABLES?\b", text, re.I):
        pairs = _rename_pairs(text, default_schema)
        if pairs is not None:
            return {key for pair in pairs for key in pair}, True
    try:
        parsed = sqlglot.parse(text, read="mysql")
    except SqlglotError:
        parsed = []
    if not parsed or any(isinstance(node, exp.Command) for node in parsed if node is not None):
        return {(default_schema, name) for name in _identifiers(text)}, False
    return {_key(t, default_schema) for node in parsed if node is not None for t in node.find_all(exp.Table)
            if t.name}, True


def created_schema(statement: str) -> tuple:
    """(schema, its default charset or None) of a CREATE DATABASE / CREATE SCHEMA statement, else ("", None)."""
    text = expand_version_comments(statement).strip()
    if not re.match(r"\s*CREATE\s+(DATABASE|SCHEMA)\b", text, re.I):
        return "", None
    try:
        node = sqlglot.parse_one(text, read="mysql")
    except SqlglotError:
        return "", None
    if not isinstance(node, exp.Create) or node.this is None:
        return "", None
    name = node.this.name or (node.this.args.get("db").name if node.this.args.get("db") is not None else "")
    props = node.args.get("properties")
    return name, _table_charset(props.expressions if props else [])


class _Overlay:
    """The tables as the statement has left them so far: `changes` over `tables`."""

    def __init__(self, tables, changes):
        self.tables, self.changes = tables, changes

    def __contains__(self, key):
        return self.get(key) is not None

    def get(self, key):
        return self.changes[key] if key in self.changes else self.tables.get(key)

    def __setitem__(self, key, value):
        self.changes[key] = value

    def keys(self):
        return [k for k in {**self.tables, **self.changes} if self.get(k) is not None]


def _key(table: exp.Expression, default_schema: str) -> tuple:
    return (table.args.get("db").name if table.args.get("db") is not None else default_schema, table.name)


def _not_understood(tables, statement, default_schema, reason):
    """Refused when the statement names a known table; nothing changes when it names none we know.

    Any identifier that spells a known table's name counts (a column of that name too): refusing a statement
    that did not touch the table costs a re-snapshot, missing one that did would decode rows wrongly."""
    names = set(_identifiers(expand_version_comments(statement)))
    touched = [k for k in tables if tables[k] is not None and k[1] in names]
    if not touched:
        return {}
    raise Refused(statement, f"the schema history does not understand this statement ({reason})", touched)


def _identifiers(text: str):
    try:
        tokens = sqlglot.tokenize(text, read="mysql")
    except SqlglotError:
        for match in re.finditer(r"`((?:[^`]|``)+)`|(\w+)", text):
            yield match.group(1) or match.group(2)
        return
    for token in tokens:
        yield token.text


def _column(node: exp.ColumnDef, table_charset=None) -> Column:
    """A column definition's Column; a string column without a charset or collation of its own takes the
    table's default charset (as MODIFY and CHANGE do too)."""
    kind = node.args.get("kind")
    if kind is None:
        raise ValueError(f"column {node.name} has no type")
    rendered = kind.sql(dialect="mysql")
    name = re.split(r"[\s(]", rendered, maxsplit=1)[0].lower()
    data_type = _TYPE_NAMES.get(name, name)
    values = None
    if kind.this in (exp.DataType.Type.ENUM, exp.DataType.Type.SET):
        values = tuple(e.name for e in kind.expressions)
    unsigned = kind.this.name.startswith("U") and kind.this.name not in ("UUID", "UNKNOWN") or "UNSIGNED" in rendered
    charset = None
    if kind.this == exp.DataType.Type.JSON:
        charset = "utf8mb4"  # MariaDB's JSON: LONGTEXT CHARACTER SET utf8mb4 whatever the table's default
    elif data_type in _BINARY_TYPES:
        charset = "binary"
    elif data_type in _TEXT_TYPES:
        named = collation = None
        for constraint in node.constraints:
            if isinstance(constraint.kind, exp.CharacterSetColumnConstraint):
                named = constraint.kind.name
            elif isinstance(constraint.kind, exp.CollateColumnConstraint):
                collation = constraint.kind.this.name  # a Column or an identifier naming the collation
        charset = charset_of(named, collation) if named or collation else table_charset
    return Column(node.name, data_type, bool(unsigned), values, charset)


def _table_charset(properties):
    """The default charset a CREATE or ALTER TABLE's options set, else None."""
    named = collation = None
    for p in properties or []:
        if isinstance(p, exp.CharacterSetProperty):
            named = p.name
        elif isinstance(p, exp.CollateProperty):
            collation = p.name
    return charset_of(named, collation) if named or collation else None


def _inline_primary_key(node: exp.ColumnDef) -> bool:
    return any(isinstance(c.args.get("kind"), exp.PrimaryKeyColumnConstraint) for c in node.constraints)


def _primary_key_columns(node) -> tuple:
    names = []
    for e in node.expressions:
        target = e.this if isinstance(e, exp.Ordered) else e
        names.append(target.name)
    return tuple(names)


def _create(view, node: exp.Create, statement, default_schema, schema_charset):
    schema_node = node.this
    if isinstance(schema_node, exp.Schema):
        key = _key(schema_node.this, default_schema)
    else:
        key = _key(schema_node, default_schema)
    if node.args.get("exists") and key in view:
        return  # CREATE TABLE IF NOT EXISTS of a table that exists: nothing happens
    props = node.args.get("properties")
    like = next((p for p in (props.expressions if props else []) if isinstance(p, exp.LikeProperty)), None)
    if like is not None:
        source = view.get(_key(like.this, default_schema))
        if source is None:
            raise Refused(statement, "CREATE TABLE … LIKE a table the schema history does not know", [key])
        view[key] = Table(source.columns, source.primary_key, source.charset)
        return
    if node.expression is not None or not isinstance(schema_node, exp.Schema):
        raise Refused(statement, "CREATE TABLE … SELECT: its columns come from a query", [key])
    charset = _table_charset(props.expressions if props else []) or schema_charset(key[0])
    columns, pk = [], ()
    for item in schema_node.expressions:
        if isinstance(item, exp.ColumnDef):
            columns.append(_column(item, charset))
            if _inline_primary_key(item):
                pk = (item.name,)
        elif isinstance(item, exp.PrimaryKey):
            pk = _primary_key_columns(item)
        elif isinstance(item, exp.Constraint) and any(isinstance(e, exp.PrimaryKey) for e in item.expressions):
            pk = _primary_key_columns(next(e for e in item.expressions if isinstance(e, exp.PrimaryKey)))
    view[key] = Table(tuple(columns), _canonical_pk(columns, pk), charset)


def _canonical_pk(columns, pk) -> tuple:
    """Primary key names spelled as the columns are (column names are case-insensitive)."""
    by_lower = {c.name.lower(): c.name for c in columns}
    return tuple(by_lower.get(n.lower(), n) for n in pk)


def _alter(view, node: exp.Alter, statement, default_schema):
    key = _key(node.this, default_schema)
    table = view.get(key)
    if table is None:
        return  # a table the history does not track
    columns, pk = list(table.columns), list(table.primary_key)
    charset = _table_charset(node.args.get("options")) or table.charset  # for the columns this ALTER defines
    new_key = key
    for action in node.args.get("actions") or []:
        if isinstance(action, exp.ColumnDef):  # ADD [COLUMN]
            if action.args.get("exists") and _find(columns, action.name) >= 0:
                continue
            column = _column(action, charset)
            _place(columns, column, action.args.get("position"), len(columns), statement)
            if _inline_primary_key(action):
                pk = [column.name]
        elif isinstance(action, exp.ModifyColumn):  # MODIFY / CHANGE
            definition = action.this
            old_name = action.args["rename_from"].name if action.args.get("rename_from") is not None \
                else definition.name
            at = _find(columns, old_name)
            if at < 0:
                raise Refused(statement, f"column {old_name} is not in the history's {key[0]}.{key[1]}", [key])
            column = _column(definition, charset)
            del columns[at]
            _place(columns, column, definition.args.get("position"), at, statement)
            pk = [column.name if n.lower() == old_name.lower() else n for n in pk]
        elif isinstance(action, exp.RenameColumn):
            old, new = action.this.name, action.args["to"].name
            at = _find(columns, old)
            if at < 0:
                raise Refused(statement, f"column {old} is not in the history's {key[0]}.{key[1]}", [key])
            columns[at] = replace(columns[at], name=new)
            pk = [new if n.lower() == old.lower() else n for n in pk]
        elif isinstance(action, exp.Drop) and (action.args.get("kind") or "").upper() == "COLUMN":
            for target in action.args.get("tables") or action.expressions:
                at = _find(columns, target.name)
                if at < 0:
                    if action.args.get("exists"):
                        continue
                    raise Refused(statement, f"column {target.name} is not in the history's {key[0]}.{key[1]}",
                                  [key])
                del columns[at]
                pk = [n for n in pk if n.lower() != target.name.lower()]
        elif isinstance(action, exp.DropPrimaryKey):
            pk = []
        elif isinstance(action, exp.AddConstraint):
            for item in action.expressions:
                inner = item.expressions if isinstance(item, exp.Constraint) else [item]
                for e in inner:
                    if isinstance(e, exp.PrimaryKey):
                        pk = list(_primary_key_columns(e))
        elif isinstance(action, exp.AlterRename):
            new_key = _key(action.this, key[0])
        elif isinstance(action, (exp.AlterColumn, exp.Drop)):
            continue  # defaults, indexes, foreign keys, constraints: no column changes
        else:
            raise Refused(statement, f"ALTER TABLE clause {action.key} is not understood", [key])
    result = Table(tuple(columns), _canonical_pk(columns, pk), charset)
    if new_key != key:
        view[key] = None
    view[new_key] = result


def _find(columns, name) -> int:
    lowered = name.lower()
    return next((i for i, c in enumerate(columns) if c.name.lower() == lowered), -1)


def _place(columns, column, position, default_at, statement):
    if position is None:
        columns.insert(default_at, column)
        return
    where = (position.args.get("position") or "").upper()
    if where == "FIRST":
        columns.insert(0, column)
    elif where == "AFTER":
        at = _find(columns, position.this.name)
        if at < 0:
            raise Refused(statement, f"AFTER {position.this.name}: no such column")
        columns.insert(at + 1, column)
    else:
        raise Refused(statement, f"column position {where} is not understood")


_IDENT = r"(?:`(?:[^`]|``)+`|[^\s`.,;]+)"
_NAME = rf"({_IDENT})(?:\s*\.\s*({_IDENT}))?"
_RENAME_PAIR = re.compile(rf"\s*{_NAME}\s+TO\s+{_NAME}\s*(?:,|$)", re.I | re.S)


def _ident(text: str) -> str:
    return text[1:-1].replace("``", "`") if text.startswith("`") else text


def _rename_pairs(text, default_schema):
    """[((schema, old), (schema, new))] of RENAME TABLE a TO b [, c TO d …] in order; None when not read."""
    body = re.sub(r"^\s*RENAME\s+TABLES?\s+", "", re.sub(r"/\*.*?\*/", " ", text, flags=re.S), flags=re.I)
    pairs, at = [], 0
    while at < len(body):
        match = _RENAME_PAIR.match(body, at)
        if match is None or match.end() == at:
            return None
        a1, a2, b1, b2 = match.groups()
        pairs.append(((_ident(a1), _ident(a2)) if a2 else (default_schema, _ident(a1)),
                      (_ident(b1), _ident(b2)) if b2 else (default_schema, _ident(b1))))
        at = match.end()
    return pairs


def _rename_tables(tables, text, statement, default_schema):
    """RENAME TABLE pairs applied in order, as the server does (so t -> _t_old, _t_new -> t swaps); sqlglot
    leaves this statement unparsed."""
    pairs = _rename_pairs(text, default_schema)
    if pairs is None:
        return _not_understood(tables, statement, default_schema, "RENAME TABLE not understood")
    changes = {}
    view = _Overlay(tables, changes)
    for old, new in pairs:
        table = view.get(old)
        if table is not None:
            view[old] = None
            view[new] = table
        elif new in view or any(k[0] == new[0] for k in view.keys()):
            # an unknown table taking a tracked schema's name: its columns are unknown, never guessed
            raise Refused(statement, f"RENAME TABLE of {old[0]}.{old[1]}, which the schema history does not "
                          "know, into a schema it tracks", [new])
    return changes
