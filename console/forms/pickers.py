"""Hooks for static/console/pickers.js: data attributes that turn a form's instance select into a source of
schema/table/column pickers for its text fields. The text fields stay plain text (usable without JavaScript)."""
from django.urls import reverse

PK = "__pk__"


def source_attrs() -> dict:
    """For the select of instances to pick names from (its options' values are instance ids)."""
    return {
        "data-picker-source": "",
        "data-schema-url": reverse("instance_schema_json", args=[PK]),
        "data-preview-url": reverse("instance_tables_matching", args=[PK]),
    }


def hook(form, source, **fields):
    """Mark `source` as the picker source and each named field with its picker kind: 'columns' (comma list of
    columns), 'tables' (comma list of schema.table), 'table-regex' (a filter's regex, with a live preview)."""
    form.fields[source].widget.attrs.update(source_attrs())
    for name, kind in fields.items():
        if name in form.fields:
            form.fields[name].widget.attrs["data-picker"] = kind
