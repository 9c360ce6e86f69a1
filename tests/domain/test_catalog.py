"""console.domain.catalog and console.domain.config called directly: who may, what is valid, which audit action."""
import pytest

from accounts import make_user
from console.choices import MemberRole
from console.domain import catalog
from console.domain.config import update_config
from console.domain.errors import DomainError
from console.ids import md5_id
from console.models import AuditLog, Config, Filter, Group, Instance, Member, MqFilterRelation, MqRule, Target

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    """Group alpha: creator carol, admin adam, user ursula; oscar only in beta; sam a super admin."""
    alpha, beta = Group.objects.create(name="alpha"), Group.objects.create(name="beta")

    class Team:
        pass

    t = Team()
    t.alpha, t.beta = alpha, beta
    t.carol = make_user("carol", alpha, MemberRole.CREATOR)
    t.adam = make_user("adam", alpha, MemberRole.ADMIN)
    t.ursula = make_user("ursula", alpha, MemberRole.USER)
    t.oscar = make_user("oscar", beta, MemberRole.CREATOR)
    t.sam = make_user("sam", super_admin=True)
    return t


def member(erp, group):
    return Member.objects.get(erp=erp, group=group)


def refused(kind, call, *args, **kwargs):
    """Run the operation, assert it raised DomainError of `kind` and wrote no audit record; the error."""
    audits = AuditLog.objects.count()
    with pytest.raises(DomainError) as info:
        call(*args, **kwargs)
    assert info.value.kind == kind, info.value.message
    assert AuditLog.objects.count() == audits
    return info.value


def actions():
    return list(AuditLog.objects.order_by("id").values_list("action", flat=True))


# --- groups -----------------------------------------------------------------------------------------------------

def test_create_group_makes_the_caller_its_creator(team):
    group = catalog.create_group(team.ursula, " gamma ", "new team")
    assert (group.pk, group.name, group.mark) == (md5_id("gamma"), "gamma", "new team")
    assert member("ursula", group).role == MemberRole.CREATOR
    assert actions() == ["group_create", "member_add"]
    assert refused("exists", catalog.create_group, team.adam, "gamma").field == "name"
    assert refused("invalid", catalog.create_group, team.adam, "bad name!").field == "name"
    assert Group.objects.count() == 3


@pytest.mark.parametrize("name", ["default", "Default", "admin", "ROOT", "system", "manager", "tower", "api"])
def test_reserved_group_names_are_for_tower_itself(team, name):
    error = refused("invalid", catalog.create_group, team.ursula, name)
    assert (error.field, error.message) == ("name", f"'{name}' is a reserved group name: choose another one.")
    assert refused("invalid", catalog.update_group, team.adam, team.alpha, name=name).field == "name"
    assert sorted(Group.objects.values_list("name", flat=True)) == ["alpha", "beta"]
    # BinLake's manager files instances without a group in `default`: it, system parties and super admins may.
    reserved = catalog.create_group("manager", name)
    assert catalog.update_group("manager", reserved, mark="the manager's").name == name
    catalog.delete_group(team.sam, reserved)
    assert catalog.create_group(team.sam, name).name == name


def test_rename_rekeys_and_only_the_creator_or_a_super_admin_deletes(team):
    refused("forbidden", catalog.update_group, team.ursula, team.alpha, mark="x")
    refused("exists", catalog.update_group, team.adam, team.alpha, name="beta")
    group = catalog.update_group(team.adam, team.alpha, name="alpha2")
    assert group.pk == md5_id("alpha2") and not Group.objects.filter(name="alpha").exists()
    assert member("adam", group).role == MemberRole.ADMIN
    refused("forbidden", catalog.delete_group, team.adam, group)
    Instance.objects.create(group=group, host="10.0.0.1", port=3306)
    assert "still has 1 instance" in refused("state", catalog.delete_group, team.carol, group).message
    Instance.objects.all().delete()
    catalog.delete_group(team.carol, group)
    assert not Group.objects.filter(pk=group.pk).exists() and not Member.objects.filter(group_id=group.pk).exists()
    assert actions() == ["group_update", "group_delete"]


# --- members ----------------------------------------------------------------------------------------------------

def test_creator_is_never_assignable(team):
    adam = member("adam", team.alpha)
    assert refused("invalid", catalog.change_member_role, team.adam, adam, "creator").field == "role"
    refused("invalid", catalog.change_member_role, team.sam, adam, "creator")
    refused("invalid", catalog.add_member, team.adam, team.alpha, "zed", role="creator")
    refused("invalid", catalog.change_member_role, team.adam, adam, "owner")
    assert member("adam", team.alpha).role == MemberRole.ADMIN and not Member.objects.filter(erp="zed").exists()


def test_only_a_super_admin_changes_or_removes_the_creator(team):
    creator = member("carol", team.alpha)
    for who in (team.adam, team.carol):
        refused("forbidden", catalog.change_member_role, who, creator, "user")
        refused("forbidden", catalog.remove_member, who, creator)
        refused("forbidden", catalog.update_member, who, creator, email="x@example.com")
    assert member("carol", team.alpha).role == MemberRole.CREATOR
    catalog.change_member_role(team.sam, creator, "admin")
    assert member("carol", team.alpha).role == MemberRole.ADMIN
    assert actions() == ["member_role"]


def test_admins_add_switch_and_remove_members(team):
    refused("forbidden", catalog.add_member, team.ursula, team.alpha, "zed")
    refused("forbidden", catalog.add_member, team.oscar, team.alpha, "zed")
    refused("invalid", catalog.add_member, team.adam, team.alpha, "not valid")
    refused("exists", catalog.add_member, team.adam, team.alpha, "ursula")
    zed = catalog.add_member(team.adam, team.alpha, " zed ", email="zed@example.com")
    assert (zed.pk, zed.erp, zed.role) == (md5_id("zed", team.alpha.pk), "zed", MemberRole.USER)
    catalog.change_member_role(team.adam, zed, "admin")
    catalog.change_member_role(team.adam, zed, "admin")  # no change: nothing recorded
    catalog.update_member(team.adam, zed, org_name="dba")
    refused("invalid", catalog.update_member, team.adam, zed, group=team.beta)
    refused("invalid", catalog.update_member, team.adam, zed, erp="zed2")
    catalog.remove_member(team.adam, zed)
    assert not Member.objects.filter(erp="zed").exists()
    assert actions() == ["member_add", "member_role", "member_update", "member_remove"]
    entry = AuditLog.objects.get(action="member_role")
    assert (entry.actor, entry.before["role"], entry.after["role"]) == ("adam", "user", "admin")


# --- filters ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fields,field,message", [
    ({"table_name": "("}, "table_name", "Not a valid regular expression"),
    ({"table_name": "a", "events": "FOO"}, "events", "Unknown event type(s) FOO"),
    ({"table_name": "a", "events": ["INSERT", "nope"]}, "events", "Unknown event type(s) NOPE"),
    ({"table_name": "a", "type": "GREY"}, "type", "type must be one of WHITE, BLACK"),
    ({"table_name": "a", "white_columns": "id, bad col"}, "white_columns", "Not column names: bad col"),
    ({"table_name": "a", "fake_cols": "novalue"}, "fake_cols", "'novalue' is not key:value"),
    ({"table_name": ""}, "table_name", "table regex is required"),
])
def test_filter_validation(team, fields, field, message):
    error = refused("invalid", catalog.create_filter, team.adam, team.alpha, **fields)
    assert error.field == field and message in error.message
    assert not Filter.objects.exists()


def test_filter_lifecycle(team):
    refused("forbidden", catalog.create_filter, team.ursula, team.alpha, table_name="a")
    flt = catalog.create_filter(team.adam, team.alpha, type="BLACK", table_name=r" db\..* ", events="delete,insert",
                                fake_cols="src : tower", business_keys="id, uid")
    assert (flt.pk, flt.table_name, flt.events) == (md5_id(team.alpha.pk, "BLACK", r"db\..*"), r"db\..*", "DELETE,INSERT")
    assert (flt.fake_cols, flt.business_keys) == ("src:tower", "id,uid")
    assert "already has a BLACK filter" in refused("exists", catalog.create_filter, team.adam, team.alpha,
                                                   type="BLACK", table_name=r"db\..*").message
    all_events = catalog.update_filter(team.adam, flt, events=["INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "ERASE",
                                                               "QUERY", "TRUNCATE", "RENAME", "CINDEX", "DINDEX"])
    assert all_events.events == "all"
    refused("invalid", catalog.update_filter, team.adam, flt, events="FOO")
    refused("invalid", catalog.update_filter, team.adam, flt, group=team.beta)
    assert Filter.objects.get().events == "all"
    catalog.delete_filter(team.carol, flt)
    assert not Filter.objects.exists()
    assert actions() == ["filter_create", "filter_update", "filter_delete"]


# --- MQ rules and their filter links ----------------------------------------------------------------------------

def test_mq_rule_with_filters_and_links(team):
    mine = catalog.create_filter(team.adam, team.alpha, table_name="a")
    theirs = catalog.create_filter(team.oscar, team.beta, table_name="b")
    AuditLog.objects.all().delete()
    refused("invalid", catalog.create_mq_rule, team.adam, team.alpha, topic="bad topic")
    refused("invalid", catalog.create_mq_rule, team.adam, team.alpha, topic="t", paras="acks")
    refused("invalid", catalog.create_mq_rule, team.adam, team.alpha, filters=[theirs], topic="t")
    refused("forbidden", catalog.create_mq_rule, team.ursula, team.alpha, topic="t")
    cache = Target.objects.create(group=team.alpha, name="cache", uri="redis://127.0.0.1:6379/0")
    assert refused("invalid", catalog.create_mq_rule, team.adam, team.alpha, topic="t", target=cache).field == "target"
    rule = catalog.create_mq_rule(team.adam, team.alpha, filters=[mine], topic="t", paras=" acks=all \n\n",
                                  order_type="DB_ORDER")
    assert (rule.pk, rule.paras, list(rule.filters.all())) == (md5_id("t", team.alpha.pk), "acks=all", [mine])
    assert AuditLog.objects.get(action="mqrule_create").after["filters"] == [mine.pk]
    refused("exists", catalog.create_mq_rule, team.adam, team.alpha, topic="t")
    rule = catalog.update_mq_rule(team.adam, rule, topic="t2")  # re-keyed; the link follows
    assert rule.pk == md5_id("t2", team.alpha.pk) and list(rule.filters.all()) == [mine]
    catalog.update_mq_rule(team.adam, rule, filters=[])
    assert not MqFilterRelation.objects.exists()
    refused("invalid", catalog.link_filter, team.adam, rule, theirs)
    link = catalog.link_filter(team.adam, rule, mine)
    refused("exists", catalog.link_filter, team.adam, rule, mine)
    refused("forbidden", catalog.unlink_filter, team.ursula, link)
    catalog.unlink_filter(team.adam, link)
    catalog.delete_mq_rule(team.adam, rule)
    assert not MqRule.objects.exists()
    assert actions() == ["mqrule_create", "mqrule_update", "mqrule_update", "mqrule_link", "mqrule_unlink",
                         "mqrule_delete"]
    assert set(AuditLog.objects.values_list("group_id", flat=True)) == {team.alpha.pk}


# --- targets ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("uri,message", [
    ("ftp://host/x", "unsupported sink URI scheme 'ftp'"),
    ("redis://host:port/0", "the port of 'host:port' in the sink URI is not a number from 0 to 65535"),
    ("redis://u:p@h1,h2/0", "a redis sink URI names one host (only kafka and mongodb take a list)"),
    ("kafka://h1:9092,h2:x/t", "the port of 'h2:x' in the sink URI is not a number from 0 to 65535"),
    ("kafka://h1:9092,,h2:9092/t", "every entry of the kafka sink URI's host list needs a host"),
    ("mysql://u:p@h1,h2/db", "unsupported sink URI scheme 'mysql'"),
    ("redis:///0", "The URI needs a host."),
    ("", "A sink URI is required."),
])
def test_target_uri_validation(team, uri, message):
    assert refused("invalid", catalog.create_target, team.adam, team.alpha, name="t", uri=uri).message.startswith(message)
    assert not Target.objects.exists()


def test_a_kafka_target_lists_its_brokers(team):
    target = catalog.create_target(team.adam, team.alpha, name="brokers", uri="kafka://u:p@h1:9092,h2:9092/t")
    assert (target.kind, target.display_uri) == ("kafka", "kafka://u:******@h1:9092,h2:9092/t")


def test_target_lifecycle_keeps_the_uri_secret(team):
    target = catalog.create_target(team.adam, team.alpha, name="cache", uri="redis://:pw-123@127.0.0.1:6379/0")
    assert target.kind == "redis"
    refused("exists", catalog.create_target, team.adam, team.alpha, name="cache", uri="blackhole://")
    refused("invalid", catalog.update_target, team.adam, target, options=["not", "an", "object"])
    catalog.update_target(team.adam, target, uri="blackhole://")
    assert Target.objects.get().kind == "blackhole"
    catalog.delete_target(team.adam, target)
    assert actions() == ["target_create", "target_update", "target_delete"]
    assert "pw-123" not in str(list(AuditLog.objects.values("before", "after")))


# --- config -----------------------------------------------------------------------------------------------------

def test_config_is_super_admins_only_and_audited_masked(team):
    config = Config.current()
    refused("forbidden", update_config, team.carol, config, dump_user="hacker")
    refused("invalid", update_config, team.sam, config, retry_latch=-1)
    assert Config.current().retry_latch == 10
    update_config(team.sam, config, dump_user="dumper", dump_password="pw-xyz")
    assert (Config.current().dump_user, Config.current().dump_password) == ("dumper", "pw-xyz")
    entry = AuditLog.objects.get()
    assert (entry.action, entry.actor, entry.after["dump_password"]) == ("config_update", "sam", "******")
    assert "pw-xyz" not in str(entry.before) + str(entry.after)
