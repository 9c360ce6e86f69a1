"""A user's table regex cannot hang a request or the engine: RE2 compiles and matches it in linear time.

Each pattern below takes Python's backtracking `re` hours (or forever) against a long run of one letter
followed by a character that makes the match fail.
"""
import re
import time

import pytest

from console.domain import catalog
from console.domain.errors import DomainError
from console.domain.sources import FILTER_CHECK_TABLES, tables_matched_by_no_filter
from console.domain.subscriptions import check_table_rules
from console.models import AuditLog, Filter
from workers import source
from workers.events import Position, RowChange
from workers.filters import (
    FilterError, RuleSet, compile_filter, compile_user_regex, source_tables, unmatched_filters,
)
from workers.sinks.kafka import TableKeyers
from workers.sinks.messages import Keyer
from workers.subscriptions import TableMatcher

from accounts import client_for

EVIL = [r"(a+)+$", r"(.*a){20}", r"(x+x+)+y"]
LONG_NAMES = ["a" * 5000 + "!", "x" * 5000 + "!"]
BOUND = 2.0  # seconds


class Timer:
    def __enter__(self):
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.elapsed = time.monotonic() - self.start


def change(full_name):
    schema, _, table = full_name.rpartition(".")
    return RowChange(schema, table, "INSERT", {"id": 1}, None, ("id",), Position("mysql-bin.000001", 4))


class FakeSource:
    """A connection whose information_schema lists `tables` ('schema.table'), honouring LIMIT."""

    def __init__(self, tables):
        self.tables = [tuple(t.split(".", 1)) for t in tables]
        self.executed = []
        self.closed = False

    def cursor(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, params=None):
        self.executed.append((sql, params))
        self.rows = self.tables[: params[0]] if params else self.tables

    def fetchall(self):
        return self.rows

    def close(self):
        self.closed = True


@pytest.fixture
def fake_source(monkeypatch):
    """Every instance's source answers with the long names (plus one ordinary table); records how it was reached."""
    conn = FakeSource([name + ".t" for name in LONG_NAMES] + ["shop.orders"])
    calls = []

    def connect_instance(instance, host_mapping=None, **kwargs):
        calls.append(kwargs)
        return conn

    monkeypatch.setattr(source, "connect_instance", connect_instance)
    conn.calls = calls
    return conn


# --- the engine and the domain, directly -------------------------------------------------------------

@pytest.mark.parametrize("pattern", EVIL)
def test_evil_patterns_compile_and_match_in_linear_time(pattern):
    with Timer() as t:
        compiled = compile_filter("WHITE", pattern)
        rules = RuleSet([compiled])
        results = [compiled.matches("INSERT", name) for name in LONG_NAMES]
        passed = [rules.passes(change(name + ".t")) for name in LONG_NAMES]
        unmatched = unmatched_filters([compiled], LONG_NAMES)
        keyer = Keyer("BUSINESS_KEY_ORDER", [[pattern, ["id"]]])
        keys = [keyer.key(change(name + ".t")) for name in LONG_NAMES]
    assert t.elapsed < BOUND
    assert results == [False, False]
    assert passed == [False, False]
    assert unmatched == [compiled]
    assert keys == [name + ".t:1" for name in LONG_NAMES]  # no business-key regex matched: keyed by the primary key


@pytest.mark.parametrize("pattern", EVIL)
def test_evil_patterns_pass_the_domain_validator_quickly(pattern):
    with Timer() as t:
        data = catalog.clean_filter({"table_name": pattern})
    assert t.elapsed < BOUND
    assert data["table_name"] == pattern


@pytest.mark.django_db
@pytest.mark.parametrize("pattern", EVIL)
def test_tables_matched_by_no_filter_is_quick_against_long_names(world, fake_source, pattern):
    flt = Filter.objects.create(group=world.group_a, type="WHITE", table_name=pattern)
    with Timer() as t:
        misses = tables_matched_by_no_filter(flt)
    assert t.elapsed < BOUND
    assert misses == ["10.1.0.1:3306"]
    assert fake_source.calls == [{"connect_timeout": 2, "read_timeout": 3}]
    assert fake_source.executed[-1][1] == (FILTER_CHECK_TABLES,)


def test_table_list_is_capped(fake_source):
    assert source_tables(fake_source, limit=2) == [name + ".t" for name in LONG_NAMES]
    assert source_tables(fake_source) == [name + ".t" for name in LONG_NAMES] + ["shop.orders"]


def test_glob_table_rules_with_many_stars_stay_quick():
    pattern = "*a" * 40 + "*b.*"
    rule = check_table_rules([pattern])
    with Timer() as t:
        matcher = TableMatcher(rule)
        hits = [matcher(name, "t") for name in LONG_NAMES]
        keyers = TableKeyers([{"matcher": [pattern], "order_type": "TABLE_ORDER"}], "default", None, "i")
        chosen = [keyers(change(name + ".t")) for name in LONG_NAMES]
    assert t.elapsed < BOUND
    assert rule == pattern
    assert hits == [False, False]
    assert chosen == ["default", "default"]


# --- RE2 keeps the patterns users write working, and names what it refuses ----------------------------

@pytest.mark.parametrize("pattern", [
    r".*\..*", r"shop\.orders", r"shop\.(orders|users)", r"(?i)SHOP\..*", r"db_\d+\.t_[0-9]{2}",
    r"[a-z]+\.order_.*", r"(?P<db>shop)\..*", r"shop\.orders$", r"^shop\..*",
])
def test_usual_patterns_match_as_python_re_does(pattern):
    names = ["shop.orders", "shop.users", "SHOP.x", "db_12.t_07", "crm.order_lines", "shop.orders_old", "x.y"]
    compiled = compile_user_regex(pattern)
    assert [bool(compiled.fullmatch(n)) for n in names] == [bool(re.fullmatch(pattern, n)) for n in names]


@pytest.mark.parametrize("pattern, construct", [
    (r"(a)\1", r"a backreference (\1)"),
    (r"(?P<x>a)(?P=x)", "a named backreference (?P=name)"),
    (r"shop\.(?!tmp).*", "a negative lookahead (?!...)"),
    (r"shop\.(?=o).*", "a lookahead (?=...)"),
    (r".*(?<=s)\.x", "a lookbehind (?<=...)"),
    (r"(?>a+)\.b", "an atomic group (?>...)"),
    (r"a++\.b", "a possessive quantifier (++)"),
])
def test_constructs_re2_lacks_are_refused_by_name(pattern, construct):
    with pytest.raises(FilterError) as error:
        compile_user_regex(pattern)
    assert error.value.field_name == "table_name"
    assert error.value.message.startswith(f"Not a valid regular expression: {construct} is not supported")
    with pytest.raises(DomainError) as refused:
        catalog.clean_filter({"table_name": pattern})
    assert (refused.value.kind, refused.value.field) == ("invalid", "table_name")
    assert construct in refused.value.message


# --- through the surfaces --------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("pattern", EVIL)
def test_console_and_api_save_evil_patterns_quickly(world, api, fake_source, pattern):
    console = client_for("alice")
    with Timer() as t:
        response = console.post("/filters/add/", {"group": world.group_a.pk, "type": "WHITE", "table_name": pattern})
    assert t.elapsed < BOUND
    assert (response.status_code, response["Location"]) == (302, "/filters/")
    assert len(fake_source.calls) == 1  # the after-save check read the (fake) source's tables
    with Timer() as t:
        created = api(world.alice.token).post("/api/filters/", {"group": world.group_a.pk, "type": "BLACK",
                                                                 "table_name": pattern})
    assert t.elapsed < BOUND
    assert created.status_code == 201, created.content
    assert sorted(Filter.objects.filter(table_name=pattern).values_list("type", flat=True)) == ["BLACK", "WHITE"]


@pytest.mark.django_db
def test_backreference_refused_on_console_and_api(world, api, unchanged):
    body = {"group": world.group_a.pk, "type": "WHITE", "table_name": r"(a)\1"}
    with unchanged():
        with Timer() as t:
            page = client_for("alice").post("/filters/add/", body)
        assert t.elapsed < BOUND
        assert page.status_code == 400
        assert b"a backreference (\\1) is not supported" in page.content
        with Timer() as t:
            response = api(world.alice.token).post("/api/filters/", body)
        assert t.elapsed < BOUND
        assert response.status_code == 400
        assert response.json()["table_name"][0].startswith(
            r"Not a valid regular expression: a backreference (\1) is not supported")
    assert not AuditLog.objects.filter(action="filter_create").exists()
