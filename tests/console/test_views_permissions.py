"""Permission matrix over HTTP: each role x each action is allowed, 403 (member, not admin) or 404 (other group).

Roles in group alpha: creator carol, admin adam, user ursula; oscar is only in
beta (outsider); sam is a super admin. A refused action changes nothing at all
(every console table compared before and after); an allowed one answers with
its exact status and redirect and changes exactly what it should, audited.
"""
import re

import pytest

from console.ids import md5_id
from console.models import AuditLog, Config, Filter, Instance, Member, MqRule, Rule, Subscription, Target

from console_helpers import Matches, assert_db_changes, audit_row, db_rows, make_instance

ROLES = ("oscar", "ursula", "adam", "carol", "sam")
OK, FORBIDDEN, NOT_FOUND = "ok", 403, 404
ADMINS_ONLY = {"oscar": NOT_FOUND, "ursula": FORBIDDEN, "adam": OK, "carol": OK, "sam": OK}
MEMBERS = {"oscar": NOT_FOUND, "ursula": OK, "adam": OK, "carol": OK, "sam": OK}
HEX32 = Matches(lambda v: isinstance(v, str) and re.fullmatch(r"[0-9a-f]{32}", v), "32 hex digits")


@pytest.fixture
def objects(world):
    alpha = world["alpha"]
    Config.current()  # the settings row exists before any request (creating it is not the request's effect)
    f = Filter(group=alpha, table_name=r"shop\.orders")
    f.save()
    bus = Target(group=alpha, name="bus", uri="kafka://127.0.0.1:9092")
    bus.save()
    rule = MqRule(group=alpha, topic="orders", target=bus)
    rule.save()
    target = Target(group=alpha, name="cache", uri="redis://127.0.0.1:6379/0")
    target.save()
    dumping = make_instance(alpha, port=3400, status="dump", state="ONLINE", binlog_file="mysql-bin.000001", binlog_pos=4,
                            retry_times=3, kill_times=2, last_error="boom")
    fresh = make_instance(alpha, port=3401)
    sub = Subscription.objects.create(name="alpha-sub", group=alpha, instance=dumping, target=target)
    binding = Rule.objects.create(group=alpha, instance=dumping, rule=rule)
    return {"filter": f, "rule": rule, "bus": bus, "target": target, "dumping": dumping, "fresh": fresh, "sub": sub,
            "binding": binding, "alpha": alpha, "ursula": Member.objects.get(erp="ursula"),
            "carol": Member.objects.get(erp="carol")}


def audit(actor, action, obj_type, obj_id, group_id):
    return {"AuditLog": {"added": [audit_row(actor, action, obj_type, obj_id, group_id)]}}


def added(model, **fields):
    return {model: {"added": [fields]}}


def removed(model, pk):
    return {model: {"removed": {pk}}}


def changed(model, pk, **fields):
    return {model: {"changed": {pk: fields}}}


def effects(*parts):
    out = {}
    for part in parts:
        for model, entry in part.items():
            out.setdefault(model, {}).update(entry)
    return out


# Each allowed write: (redirect target, the exact database change) for the acting user `a`, objects `o`.
def edit_group(o, a):
    g = o["alpha"].pk
    return f"/groups/{g}/", effects(changed("Group", g, mark=("", "changed")), audit(a, "group_update", "Group", g, g))


def add_member(o, a):
    g = o["alpha"].pk
    new = md5_id("newbie", g)
    # the new member's page says how they sign in (the set-password link, shown once)
    return f"/members/{new}/invited/", effects(
        added("Member", pk=new, erp="newbie", group_id=g, role="user", email=""),
        {"AuditLog": {"added": [audit_row(a, "member_add", "Member", new, g),
                                audit_row(a, "member_invite", "Member", new, g)]}})


def make_admin(o, a):
    g, m = o["alpha"].pk, o["ursula"].pk
    return f"/groups/{g}/", effects(changed("Member", m, role=("user", "admin")), audit(a, "member_role", "Member", m, g))


def remove_member(o, a):
    g, m = o["alpha"].pk, o["ursula"].pk
    return f"/groups/{g}/", effects(removed("Member", m), audit(a, "member_remove", "Member", m, g))


def demote_creator(o, a):
    g, m = o["alpha"].pk, o["carol"].pk
    return f"/groups/{g}/", effects(changed("Member", m, role=("creator", "user")), audit(a, "member_role", "Member", m, g))


def create_filter(o, a):
    g = o["alpha"].pk
    new = md5_id(g, "WHITE", r"db\.t")
    return "/filters/", effects(added("Filter", pk=new, group_id=g, type="WHITE", table_name=r"db\.t", events="all", name=""),
                                audit(a, "filter_create", "Filter", new, g))


def edit_filter(o, a):
    g, f = o["alpha"].pk, o["filter"].pk
    return "/filters/", effects(changed("Filter", f, name=("", "renamed")), audit(a, "filter_update", "Filter", f, g))


def delete_filter(o, a):
    g, f = o["alpha"].pk, o["filter"].pk
    return "/filters/", effects(removed("Filter", f), audit(a, "filter_delete", "Filter", f, g))


def create_mq_rule(o, a):
    g, f = o["alpha"].pk, o["filter"].pk
    new = md5_id("t2", g)
    return "/mq-rules/", effects(added("MqRule", pk=new, topic="t2", group_id=g, order_type="TABLE_ORDER", name=""),
                                 added("MqFilterRelation", pk=md5_id(new, f), mq_id=new, filter_id=f),
                                 audit(a, "mqrule_create", "MqRule", new, g))


def edit_mq_rule(o, a):
    g, r = o["alpha"].pk, o["rule"].pk
    return "/mq-rules/", effects(changed("MqRule", r, name=("", "renamed"), order_type=("INSTANCE_ORDER", "DB_ORDER")),
                                 audit(a, "mqrule_update", "MqRule", r, g))


def delete_mq_rule(o, a):
    g, r = o["alpha"].pk, o["rule"].pk
    # The instance's binding to the rule goes with it (Rule.rule is CASCADE).
    return "/mq-rules/", effects(removed("MqRule", r), removed("Rule", o["binding"].pk),
                                 audit(a, "mqrule_delete", "MqRule", r, g))


def create_target(o, a):
    g = o["alpha"].pk
    new_id = Matches(lambda v: v == str(Target.objects.get(name="t2").pk), "the new target's id")
    return "/targets/", effects(added("Target", name="t2", group_id=g, kind="blackhole", uri="blackhole://", options={}),
                                audit(a, "target_create", "Target", new_id, g))


def edit_target(o, a):
    g, t = o["alpha"].pk, o["target"].pk
    return "/targets/", effects(changed("Target", t, name=("cache", "renamed")), audit(a, "target_update", "Target", t, g))


def register_instance(o, a):
    g = o["alpha"].pk
    new = md5_id("10.0.0.9:3306")
    # server_id: one above the highest in use (5401, the fresh instance's), Config.slave_id (1000) being lower.
    return f"/instances/{new}/", effects(
        added("Instance", pk=new, group_id=g, host="10.0.0.9", port=3306, user="u", password="p", slave_id=5402,
              status="init", state="OFFLINE"),
        audit(a, "instance_register", "Instance", new, g))


def edit_instance(o, a):
    g, i = o["alpha"].pk, o["fresh"].pk
    return f"/instances/{i}/", effects(changed("Instance", i, user=("", "changed"), slave_id=(5401, 7777)),
                                       audit(a, "instance_update", "Instance", i, g))


def delete_instance(o, a):
    g, i = o["alpha"].pk, o["fresh"].pk
    return "/instances/", effects(removed("Instance", i), audit(a, "instance_delete", "Instance", i, g))


def bind(o, a):
    g, i, r = o["alpha"].pk, o["fresh"].pk, o["rule"].pk
    new_id = Matches(lambda v: v == str(Rule.objects.get(instance_id=i).pk), "the new binding's id")
    sub_id = Matches(lambda v: v == Subscription.objects.get(name="rule-orders-127.0.0.1-3401").pk,
                     "the binding's subscription")
    # A binding is a subscription of the engine: to the rule's target, every table, the rule's filters selecting.
    return "/bindings/", effects(
        added("Rule", group_id=g, instance_id=i, rule_id=r, storage_type="MQ_STORAGE", subscription_id=sub_id),
        added("Subscription", name="rule-orders-127.0.0.1-3401", group_id=g, instance_id=i, target_id=o["bus"].pk,
              mq_rule_id=r, tables="*.*", state="normal", created_by=a),
        audit(a, "binding_create", "Rule", new_id, g))


def unbind(o, a):
    g, b = o["alpha"].pk, o["binding"].pk
    return "/bindings/", effects(removed("Rule", b), audit(a, "binding_delete", "Rule", b, g))


def create_subscription(o, a):
    g = o["alpha"].pk
    new_id = Matches(lambda v: v == str(Subscription.objects.get(name="s2").pk), "the new subscription's id")
    return "/subscriptions/", effects(
        added("Subscription", name="s2", group_id=g, instance_id=o["dumping"].pk, target_id=o["target"].pk, mq_rule_id=None,
              tables="*.*", field_list="", must_be_success=True, filter_query=False, filter_update=False, state="normal",
              created_by=a),
        audit(a, "create_subscription", "Subscription", new_id, g))


def delete_subscription(o, a):
    g, s = o["alpha"].pk, o["sub"].pk
    return "/subscriptions/", effects(removed("Subscription", s), audit(a, "delete_subscription", "Subscription", s, g))


def apply(o, a):
    g, i = o["alpha"].pk, o["fresh"].pk
    detail = f"http://testserver/workflow/{i}/"
    return f"/workflow/{i}/", effects(changed("Instance", i, status=("init", "wait"), request_id=("", HEX32), url=("", detail)),
                                      audit(a, "apply", "Instance", i, g))


def set_offline(o, a):
    g, i = o["alpha"].pk, o["dumping"].pk
    return f"/instances/{i}/operations/", effects(changed("Instance", i, state=("ONLINE", "OFFLINE")),
                                                  audit(a, "set_offline", "Instance", i, g))


def reset_counter(o, a):
    g, i = o["alpha"].pk, o["dumping"].pk
    return f"/instances/{i}/operations/", effects(
        changed("Instance", i, retry_times=(3, 0), kill_times=(2, 0), last_error=("boom", "")),
        audit(a, "reset_counter", "Instance", i, g))


# name -> (expected per role, request(client, objects) -> response, allowed(objects, actor) -> (redirect, changes) or
# None for a page: 200 and nothing changed)
ACTIONS = {
    "view group": (MEMBERS, lambda c, o: c.get(f"/groups/{o['alpha'].pk}/"), None),
    "view instance": (MEMBERS, lambda c, o: c.get(f"/instances/{o['dumping'].pk}/"), None),
    "view workflow": (MEMBERS, lambda c, o: c.get(f"/workflow/{o['fresh'].pk}/"), None),
    "view monitor": (MEMBERS, lambda c, o: c.get(f"/monitor/{o['dumping'].pk}/"), None),
    "edit group": (ADMINS_ONLY, lambda c, o: c.post(f"/groups/{o['alpha'].pk}/edit/", {"mark": "changed"}), edit_group),
    "delete group page": ({"oscar": NOT_FOUND, "ursula": FORBIDDEN, "adam": FORBIDDEN, "carol": OK, "sam": OK},
                          lambda c, o: c.get(f"/groups/{o['alpha'].pk}/delete/"), None),
    "add member": (ADMINS_ONLY, lambda c, o: c.post("/members/add/", {"group": o["alpha"].pk, "erp": "newbie", "role": "user"}),
                   add_member),
    "make member admin": (ADMINS_ONLY, lambda c, o: c.post(f"/members/{o['ursula'].pk}/role/", {"role": "admin"}), make_admin),
    "remove member": (ADMINS_ONLY, lambda c, o: c.post(f"/members/{o['ursula'].pk}/remove/"), remove_member),
    "demote the creator": ({"oscar": NOT_FOUND, "ursula": FORBIDDEN, "adam": FORBIDDEN, "carol": FORBIDDEN, "sam": OK},
                           lambda c, o: c.post(f"/members/{o['carol'].pk}/role/", {"role": "user"}), demote_creator),
    "create filter": (ADMINS_ONLY, lambda c, o: c.post("/filters/add/", {"group": o["alpha"].pk, "type": "WHITE", "table_name": r"db\.t"}),
                      create_filter),
    "edit filter": (ADMINS_ONLY, lambda c, o: c.post(f"/filters/{o['filter'].pk}/", {"type": "WHITE", "table_name": r"shop\.orders", "name": "renamed"}),
                    edit_filter),
    "delete filter": (ADMINS_ONLY, lambda c, o: c.post(f"/filters/{o['filter'].pk}/delete/"), delete_filter),
    "create MQ rule": (ADMINS_ONLY, lambda c, o: c.post("/mq-rules/add/", {"group": o["alpha"].pk, "topic": "t2", "order_type": "TABLE_ORDER", "linked_filters": [o["filter"].pk]}),
                       create_mq_rule),
    "edit MQ rule": (ADMINS_ONLY, lambda c, o: c.post(f"/mq-rules/{o['rule'].pk}/", {"topic": "orders", "name": "renamed", "order_type": "DB_ORDER", "target": o["bus"].pk}),
                     edit_mq_rule),
    "delete MQ rule": (ADMINS_ONLY, lambda c, o: c.post(f"/mq-rules/{o['rule'].pk}/delete/"), delete_mq_rule),
    "create target": (ADMINS_ONLY, lambda c, o: c.post("/targets/add/", {"group": o["alpha"].pk, "name": "t2", "uri": "blackhole://", "options": "{}"}),
                      create_target),
    "edit target": (ADMINS_ONLY, lambda c, o: c.post(f"/targets/{o['target'].pk}/", {"name": "renamed", "uri": "", "options": "{}"}),
                    edit_target),
    "register instance": (ADMINS_ONLY, lambda c, o: c.post("/instances/add/", {"group": o["alpha"].pk, "host": "10.0.0.9", "port": 3306, "user": "u", "password": "p"}),
                          register_instance),
    "edit instance": (ADMINS_ONLY, lambda c, o: c.post(f"/instances/{o['fresh'].pk}/edit/", {"user": "changed", "password": "", "slave_id": 7777}),
                      edit_instance),
    "delete instance": (ADMINS_ONLY, lambda c, o: c.post(f"/instances/{o['fresh'].pk}/delete/"), delete_instance),
    "bind instance to rule": (ADMINS_ONLY, lambda c, o: c.post("/bindings/add/", {"instance": o["fresh"].pk, "rule": o["rule"].pk, "storage_type": "MQ_STORAGE"}),
                              bind),
    "unbind": (ADMINS_ONLY, lambda c, o: c.post(f"/bindings/{o['binding'].pk}/delete/"), unbind),
    "create subscription": (ADMINS_ONLY, lambda c, o: c.post("/subscriptions/add/", {"group": o["alpha"].pk, "name": "s2", "instance": o["dumping"].pk, "target": o["target"].pk, "tables": "*.*", "must_be_success": "on"}),
                            create_subscription),
    "delete subscription": (ADMINS_ONLY, lambda c, o: c.post(f"/subscriptions/{o['sub'].pk}/delete/"), delete_subscription),
    "apply": (ADMINS_ONLY, lambda c, o: c.post(f"/workflow/{o['fresh'].pk}/apply/"), apply),
    "set offline": (ADMINS_ONLY, lambda c, o: c.post(f"/instances/{o['dumping'].pk}/offline/"), set_offline),
    "reset counter": (ADMINS_ONLY, lambda c, o: c.post(f"/instances/{o['dumping'].pk}/reset-counter/"), reset_counter),
    "config page": ({"oscar": FORBIDDEN, "ursula": FORBIDDEN, "adam": FORBIDDEN, "carol": FORBIDDEN, "sam": OK},
                    lambda c, o: c.get("/config/"), None),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_permission_matrix(clients, objects, role, action):
    expected_by_role, do, allowed = ACTIONS[action]
    expected = expected_by_role[role]
    before = db_rows()
    response = do(clients[role], objects)
    after = db_rows()
    if expected != OK:
        assert response.status_code == expected, (action, role, response.status_code)
        assert after == before, f"{action} as {role} was refused but changed {sorted(k for k in after if after[k] != before[k])}"
    elif allowed is None:
        assert response.status_code == 200, (action, role, response.status_code, response.content[:500])
        assert after == before, f"viewing {action} as {role} changed the database"
    else:
        assert response.status_code == 302, (action, role, response.status_code, response.content[:500])
        redirect, changes = allowed(objects, role)
        assert response.url == redirect, (action, role)
        assert_db_changes(before, after, changes)


def test_lists_show_only_own_groups(clients, objects, world):
    make_instance(world["beta"], port=3500)
    for page, needle in (("/instances/", b"3400"), ("/filters/", b"shop"), ("/mq-rules/", b"orders"),
                         ("/targets/", b"cache"), ("/subscriptions/", b"alpha-sub"), ("/members/", b"ursula")):
        assert needle in clients["ursula"].get(page).content, page
        assert needle not in clients["oscar"].get(page).content, page
        assert needle not in clients["oscar"].get(page + "?export=csv").content, page
        assert needle in clients["sam"].get(page).content, page
    assert clients["ursula"].get("/instances/?q=127.0.0.1").context["count"] == 2  # search never reaches beta
    assert clients["sam"].get("/instances/?q=127.0.0.1").context["count"] == 3
    assert b"3500" in clients["oscar"].get("/instances/").content
    dashboard = clients["oscar"].get("/").context
    assert dashboard["counts"]["instances"] == 1 and dashboard["counts"]["filters"] == 0
    # Audit rows of alpha are invisible to the outsider.
    clients["carol"].post(f"/filters/{objects['filter'].pk}/", {"type": "WHITE", "table_name": r"shop\.orders", "name": "audited"})
    assert clients["ursula"].get("/audit/?action=filter_update").context["count"] == 1
    assert clients["oscar"].get("/audit/?action=filter_update").context["count"] == 0
    assert clients["sam"].get("/audit/?action=filter_update").context["count"] == 1


def test_cannot_create_in_a_foreign_group_by_id(clients, objects, world):
    # carol administers alpha, not beta: posting beta's id is a 404 and creates nothing.
    response = clients["carol"].post("/filters/add/", {"group": world["beta"].pk, "type": "WHITE", "table_name": "x"})
    assert response.status_code == 404
    assert not Filter.objects.filter(group=world["beta"]).exists()
    # Binding a foreign instance to one's own rule: 404.
    beta_instance = make_instance(world["beta"], port=3501)
    response = clients["carol"].post("/bindings/add/", {"instance": beta_instance.pk, "rule": objects["rule"].pk})
    assert response.status_code == 404
    # A subscription in one's group pointing at another group's instance is a form error.
    response = clients["carol"].post("/subscriptions/add/", {"group": objects["alpha"].pk, "name": "leak", "instance": beta_instance.pk,
                                                            "target": objects["target"].pk, "tables": "*.*"})
    assert response.status_code == 400 and not Subscription.objects.filter(name="leak").exists()


def test_every_change_is_audited_with_before_and_after(clients, objects):
    clients["adam"].post(f"/mq-rules/{objects['rule'].pk}/", {"topic": "orders", "name": "n2", "order_type": "DB_ORDER"})
    entry = AuditLog.objects.filter(action="mqrule_update").latest("id")
    assert entry.actor == "adam" and entry.before["order_type"] == "INSTANCE_ORDER" and entry.after["order_type"] == "DB_ORDER"
    clients["adam"].post(f"/instances/{objects['fresh'].pk}/edit/", {"user": "u2", "password": "topsecret", "slave_id": 9001})
    entry = AuditLog.objects.filter(action="instance_update").latest("id")
    assert "topsecret" not in str(entry.after) and entry.after["password"] == "******"
    assert Instance.objects.get(pk=objects["fresh"].pk).password == "topsecret"
