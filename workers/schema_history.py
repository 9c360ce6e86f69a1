"""A source's table schemas at each binlog position, for row events that do not name their columns.

With binlog_row_metadata MINIMAL (MySQL 8's default) or no row metadata at all (MySQL 5.7, MariaDB before
10.5), a row event carries column types but no names, no ENUM/SET members and no primary key. This module
keeps, per instance, the column list of every table of the schemas a dump wants, valid from a binlog
position on (`console.models.SchemaVersion` rows): a snapshot of information_schema where the history
starts, then one version per DDL statement the stream reads (`workers.ddl` parses it).

A row event maps to the version at its own position, so a restart, a rewind or a set-position to before a
DDL decodes with the columns of that time.
"""
from workers.ddl import Column, Table, column_from_information_schema


def read_tables(cursor, schemas) -> dict:
    """{(schema, table): Table} of the base tables of `schemas`, as information_schema has them now."""
    schemas = sorted(set(schemas))
    if not schemas:
        return {}
    marks = ", ".join(["%s"] * len(schemas))
    cursor.execute(
        "SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_TYPE "
        "FROM information_schema.COLUMNS c JOIN information_schema.TABLES t "
        "ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME "
        f"WHERE c.TABLE_SCHEMA IN ({marks}) AND t.TABLE_TYPE = 'BASE TABLE' "
        "ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION", schemas)
    columns = {}
    for schema, table, name, data_type, column_type in cursor.fetchall():
        columns.setdefault((_text(schema), _text(table)), []).append(
            column_from_information_schema(_text(name), _text(data_type), _text(column_type)))
    cursor.execute(
        "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
        f"WHERE TABLE_SCHEMA IN ({marks}) AND INDEX_NAME = 'PRIMARY' "
        "ORDER BY TABLE_SCHEMA, TABLE_NAME, SEQ_IN_INDEX", schemas)
    keys = {}
    for schema, table, name in cursor.fetchall():
        keys.setdefault((_text(schema), _text(table)), []).append(_text(name))
    return {key: Table(tuple(cols), tuple(keys.get(key, ()))) for key, cols in columns.items()}


def _text(value) -> str:
    return value.decode() if isinstance(value, (bytes, bytearray)) else value


__all__ = ["read_tables", "Column", "Table"]
