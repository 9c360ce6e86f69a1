"""Name templates (workers/sinks/templates.py): one meaning of every placeholder, for Redis keys and for
Kafka topics, RabbitMQ routing keys, MongoDB and ClickHouse names alike."""
import pytest

from workers.events import Position, RowChange, SchemaChange
from workers.sinks import SinkError
from workers.sinks.redis import RedisSink
from workers.sinks.templates import Template, compiled, is_static, parse, render

POS = Position("mysql-bin.000001", 4)


def change(kind="INSERT", row=None, old=None, pk=("id",)):
    return RowChange("shop", "orders", kind, row if row is not None else {"id": 7, "sku": "A-1", "note": None},
                     old, pk, POS)


@pytest.mark.parametrize("kind, expected", [("INSERT", "insert"), ("UPDATE", "update"), ("DELETE", "delete")])
def test_event_type_is_lower_case_for_every_sink(kind, expected):
    text = "{$SchemaName}.{$TableName}.{$EventType}"
    redis_key = RedisSink(f"redis://127.0.0.1:1/0?key={text}").template.render(change(kind), change(kind).row)
    topic = render(text, change(kind))
    assert redis_key == f"shop.orders.{expected}"
    assert topic == f"shop.orders.{expected}"


def test_columns_primary_key_and_literals():
    assert render("o:{$sku}:{$id}:{$note}", change()) == "o:A-1:7:NULL"
    assert render("{$__pk__}", change(row={"a": 1, "b": "x"}, pk=("a", "b"))) == "1-x"
    # Braces that are no placeholder stay as written.
    assert render("{x}-{$}-{$id}", change()) == "{x}-{$}-7"
    assert parse("a_{$TableName}") == ("a_", ("TableName",))


def test_table_without_primary_key_is_keyed_by_the_row_md5():
    # md5 of the row's JSON, {"v":1}
    assert render("{$__pk__}", change(row={"v": 1}, pk=())) == "a191475ae2bf7db9c7e320f7da455bbb"


def test_redis_old_key_renders_from_the_before_image():
    template = Template("k-{$id}")
    update = change("UPDATE", row={"id": 8}, old={"id": 7})
    assert template.render(update) == "k-8"
    assert template.render(update, update.old) == "k-7"


def test_a_change_without_a_row_renders_columns_as_null():
    ddl = SchemaChange("shop", "orders", "ALTER", "ALTER TABLE orders ADD c INT", POS)
    assert render("{$SchemaName}.{$TableName}.{$EventType}.{$id}.{$__pk__}", ddl) == "shop.orders.alter.NULL.NULL"


def test_a_row_without_the_named_column_is_a_permanent_error():
    with pytest.raises(SinkError) as err:
        render("k-{$missing}", change())
    assert err.value.retryable is False
    assert str(err.value) == "template 'k-{$missing}' names column 'missing' that shop.orders lacks"


def test_static_templates_and_the_cache():
    assert is_static("events") is True
    assert is_static("events.{$TableName}") is False
    assert compiled("events.{$TableName}") is compiled("events.{$TableName}")
    assert Template("events").render(change()) == "events"
