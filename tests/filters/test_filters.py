"""BinLake filters and MQ rules (workers/filters.py) and the Filter model's validation."""
import pytest
from django.core.exceptions import ValidationError

from console.models import Filter, Group, MqFilterRelation, MqRule
from workers.events import Position, RowChange, SchemaChange
from workers.filters import (
    FilterError, RuleSet, compile_filter, mq_rule_options, rules_for, unmatched_filters,
)
from workers.sinks.messages import Keyer

POS = Position("mysql-bin.000001", 100)


def row(schema="shop", table="orders", type="INSERT", **values):
    values = values or {"id": 1, "name": "a", "secret": "s", "qty": 2}
    return RowChange(schema, table, type, dict(values), dict(values) if type == "UPDATE" else None, ("id",), POS)


def test_white_filter_must_match_event_and_full_table_name():
    rules = RuleSet([compile_filter("WHITE", r"shop\.orders", "INSERT,UPDATE")])
    assert rules.apply(row()) is not None
    assert rules.apply(row(type="UPDATE")) is not None
    assert rules.apply(row(type="DELETE")) is None  # event type not listed
    assert rules.apply(row(table="orders_archive")) is None  # regex must match the whole name
    assert rules.apply(row(schema="xshop")) is None


def test_black_filter_wins_over_white():
    rules = RuleSet([compile_filter("WHITE", r"shop\..*"), compile_filter("BLACK", r"shop\.audit.*", "DELETE")])
    assert rules.apply(row(table="audit_log", type="INSERT")) is not None
    assert rules.apply(row(table="audit_log", type="DELETE")) is None  # black matches both event and table
    assert rules.apply(row(table="orders", type="DELETE")) is not None


def test_no_white_filter_means_nothing_passes_but_no_filters_means_everything():
    assert RuleSet([compile_filter("BLACK", r"shop\.x")]).apply(row()) is None
    assert RuleSet([]).apply(row()) is not None


def test_schema_changes_are_filtered_by_event_type():
    ddl = SchemaChange("shop", "orders", "ALTER", "ALTER TABLE orders ADD c INT", POS)
    assert RuleSet([compile_filter("WHITE", r".*\..*", "INSERT")]).apply(ddl) is None
    assert RuleSet([compile_filter("WHITE", r".*\..*", "ALTER")]).apply(ddl) is ddl


def test_columns_fake_columns_and_business_keys():
    rules = RuleSet([compile_filter("WHITE", r"shop\.orders", "all", "", "secret", "env:prod,src:a:b", "name")])
    out = rules.apply(row(type="UPDATE"))
    assert "secret" not in out.row and "secret" not in out.old
    assert out.row["env"] == "prod" and out.row["src"] == "a:b"
    assert rules.business_keys("shop", "orders") == ("name",)
    only = RuleSet([compile_filter("WHITE", r"shop\.orders", "all", "id,qty")]).apply(row())
    assert only.row == {"id": 1, "qty": 2}


def test_bad_definitions_are_refused():
    with pytest.raises(FilterError, match="table_name"):
        compile_filter("WHITE", r"shop\.(orders")
    with pytest.raises(FilterError, match="events"):
        compile_filter("WHITE", r".*", "INSERT,UPSERT")
    with pytest.raises(FilterError, match="fake_cols"):
        compile_filter("WHITE", r".*", "all", "", "", "novalue")


def test_unmatched_filters_flags_a_filter_matching_no_table():
    good, bad = compile_filter("WHITE", r"shop\..*"), compile_filter("WHITE", r"nowhere\..*")
    assert unmatched_filters([good, bad], ["shop.orders", "crm.users"]) == [bad]


def test_keyer_uses_regex_business_keys_then_primary_key():
    keyer = Keyer("BUSINESS_KEY_ORDER", [[r"shop\.orders", ["name"]]])
    assert keyer.key(row()) == "shop.orders:a"
    assert keyer.key(row(table="items")) == "shop.items:1"


@pytest.mark.django_db
def test_filter_model_clean_validates_regex_and_rule_options():
    group = Group.objects.create(name="g5")
    bad = Filter(group=group, type="WHITE", table_name=r"shop\.(orders")
    with pytest.raises(ValidationError) as err:
        bad.full_clean()
    assert "table_name" in err.value.message_dict
    f = Filter.objects.create(group=group, type="WHITE", table_name=r"shop\.orders", business_keys="name")
    f.full_clean()
    rule = MqRule.objects.create(group=group, topic="t5", order_type="BUSINESS_KEY_ORDER", with_trx=True)
    MqFilterRelation.objects.create(mq=rule, filter=f)
    assert rules_for(rule).apply(row()) is not None
    assert rules_for(rule).apply(row(table="other")) is None
    assert mq_rule_options(rule) == {"topic": "t5", "order_type": "BUSINESS_KEY_ORDER", "with_trx": True,
                                     "business_keys": [[r"shop\.orders", ["name"]]]}
