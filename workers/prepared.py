"""UPDATE statements written once and run with new values: the engine's per-second metadata writes.

A worker running many dumps (TOWER_DUMPS_PER_PROCESS) commits each one's positions and renews each one's
lease about once a second. Building such an UPDATE through the ORM (filter, compile, prepare) cost several
times what running it did, and the dumps of a process share one interpreter lock, so the SQL of each of
these statements is written once, from the models' own table and column names, and only its values change.
"""
from django.db import DEFAULT_DB_ALIAS, connection, connections


class PreparedUpdate:
    """UPDATE <model's table> SET <set fields> WHERE <where fields> = values [AND <name>__isnull].

    `where` names fields compared for equality, or `<field>__isnull` for a column that must be NULL (no value).
    Calling it with the SET values and the WHERE values, in their orders, returns the number of rows updated.
    Values are prepared by their fields as the ORM would (datetimes, foreign keys)."""

    def __init__(self, model, set_fields, where):
        quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
        meta = model._meta
        self.set_fields = [meta.get_field(name) for name in set_fields]
        self.where_fields = []
        conditions = []
        for name in where:
            if name.endswith("__isnull"):
                conditions.append(f"{quote(meta.get_field(name[:-8]).column)} IS NULL")
                continue
            field = meta.get_field(name)
            self.where_fields.append(field)
            conditions.append(f"{quote(field.column)} = %s")
        assignments = ", ".join(f"{quote(f.column)} = %s" for f in self.set_fields)
        self.sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {' AND '.join(conditions)}"

    def __call__(self, set_values, where_values) -> int:
        params = [f.get_db_prep_save(v, connection) for f, v in zip(self.set_fields, set_values, strict=True)]
        params += [f.get_db_prep_value(v, connection, prepared=False)
                   for f, v in zip(self.where_fields, where_values, strict=True)]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            return cursor.rowcount
