"""Permission matrix over HTTP: each role x each action is allowed, 403 (member, not admin) or 404 (other group).

Roles in group alpha: creator carol, admin adam, user ursula; oscar is only in
beta (outsider); sam is a super admin. A refused action must change nothing.
"""
import pytest

from console.choices import InstanceStatus, MemberRole
from console.models import AuditLog, Filter, Instance, Member, MqRule, Rule, Subscription, Target

from console_helpers import make_instance

ROLES = ("oscar", "ursula", "adam", "carol", "sam")
OK, FORBIDDEN, NOT_FOUND = "ok", 403, 404
ADMINS_ONLY = {"oscar": NOT_FOUND, "ursula": FORBIDDEN, "adam": OK, "carol": OK, "sam": OK}
MEMBERS = {"oscar": NOT_FOUND, "ursula": OK, "adam": OK, "carol": OK, "sam": OK}


@pytest.fixture
def objects(world):
    alpha = world["alpha"]
    f = Filter(group=alpha, table_name=r"shop\.orders")
    f.save()
    rule = MqRule(group=alpha, topic="orders")
    rule.save()
    target = Target(group=alpha, name="cache", uri="redis://127.0.0.1:6379/0")
    target.save()
    dumping = make_instance(alpha, port=3400, status=InstanceStatus.DUMP, state="ONLINE", binlog_file="mysql-bin.000001", binlog_pos=4)
    fresh = make_instance(alpha, port=3401)
    sub = Subscription.objects.create(name="alpha-sub", group=alpha, instance=dumping, target=target)
    binding = Rule.objects.create(group=alpha, instance=dumping, rule=rule)
    return {"filter": f, "rule": rule, "target": target, "dumping": dumping, "fresh": fresh, "sub": sub,
            "binding": binding, "alpha": alpha, "ursula": Member.objects.get(erp="ursula"),
            "carol": Member.objects.get(erp="carol")}


# name -> (expected per role, request(client, objects) -> response, effect(objects) -> bool: did it happen?)
ACTIONS = {
    "view group": (MEMBERS, lambda c, o: c.get(f"/groups/{o['alpha'].pk}/"), None),
    "view instance": (MEMBERS, lambda c, o: c.get(f"/instances/{o['dumping'].pk}/"), None),
    "view workflow": (MEMBERS, lambda c, o: c.get(f"/workflow/{o['fresh'].pk}/"), None),
    "view monitor": (MEMBERS, lambda c, o: c.get(f"/monitor/{o['dumping'].pk}/"), None),
    "edit group": (ADMINS_ONLY, lambda c, o: c.post(f"/groups/{o['alpha'].pk}/edit/", {"mark": "changed"}),
                   lambda o: o["alpha"].__class__.objects.get(pk=o["alpha"].pk).mark == "changed"),
    "delete group page": ({"oscar": NOT_FOUND, "ursula": FORBIDDEN, "adam": FORBIDDEN, "carol": OK, "sam": OK},
                          lambda c, o: c.get(f"/groups/{o['alpha'].pk}/delete/"), None),
    "add member": (ADMINS_ONLY, lambda c, o: c.post("/members/add/", {"group": o["alpha"].pk, "erp": "newbie", "role": "user"}),
                   lambda o: Member.objects.filter(erp="newbie").exists()),
    "make member admin": (ADMINS_ONLY, lambda c, o: c.post(f"/members/{o['ursula'].pk}/role/", {"role": "admin"}),
                          lambda o: Member.objects.get(pk=o["ursula"].pk).role == MemberRole.ADMIN),
    "remove member": (ADMINS_ONLY, lambda c, o: c.post(f"/members/{o['ursula'].pk}/remove/"),
                      lambda o: not Member.objects.filter(pk=o["ursula"].pk).exists()),
    "demote the creator": ({"oscar": NOT_FOUND, "ursula": FORBIDDEN, "adam": FORBIDDEN, "carol": FORBIDDEN, "sam": OK},
                           lambda c, o: c.post(f"/members/{o['carol'].pk}/role/", {"role": "user"}),
                           lambda o: Member.objects.get(pk=o["carol"].pk).role == MemberRole.USER),
    "create filter": (ADMINS_ONLY, lambda c, o: c.post("/filters/add/", {"group": o["alpha"].pk, "type": "WHITE", "table_name": r"db\.t"}),
                      lambda o: Filter.objects.filter(table_name=r"db\.t").exists()),
    "edit filter": (ADMINS_ONLY, lambda c, o: c.post(f"/filters/{o['filter'].pk}/", {"type": "WHITE", "table_name": r"shop\.orders", "name": "renamed"}),
                    lambda o: Filter.objects.filter(name="renamed").exists()),
    "delete filter": (ADMINS_ONLY, lambda c, o: c.post(f"/filters/{o['filter'].pk}/delete/"),
                      lambda o: not Filter.objects.filter(pk=o["filter"].pk).exists()),
    "create MQ rule": (ADMINS_ONLY, lambda c, o: c.post("/mq-rules/add/", {"group": o["alpha"].pk, "topic": "t2", "order_type": "TABLE_ORDER", "linked_filters": [o["filter"].pk]}),
                       lambda o: MqRule.objects.filter(topic="t2").exists()),
    "edit MQ rule": (ADMINS_ONLY, lambda c, o: c.post(f"/mq-rules/{o['rule'].pk}/", {"topic": "orders", "name": "renamed", "order_type": "DB_ORDER"}),
                     lambda o: MqRule.objects.filter(name="renamed").exists()),
    "delete MQ rule": (ADMINS_ONLY, lambda c, o: c.post(f"/mq-rules/{o['rule'].pk}/delete/"),
                       lambda o: not MqRule.objects.filter(pk=o["rule"].pk).exists()),
    "create target": (ADMINS_ONLY, lambda c, o: c.post("/targets/add/", {"group": o["alpha"].pk, "name": "t2", "uri": "blackhole://", "options": "{}"}),
                      lambda o: Target.objects.filter(name="t2").exists()),
    "edit target": (ADMINS_ONLY, lambda c, o: c.post(f"/targets/{o['target'].pk}/", {"name": "renamed", "uri": "", "options": "{}"}),
                    lambda o: Target.objects.filter(name="renamed").exists()),
    "register instance": (ADMINS_ONLY, lambda c, o: c.post("/instances/add/", {"group": o["alpha"].pk, "host": "10.0.0.9", "port": 3306, "user": "u", "password": "p"}),
                          lambda o: Instance.objects.filter(host="10.0.0.9").exists()),
    "edit instance": (ADMINS_ONLY, lambda c, o: c.post(f"/instances/{o['fresh'].pk}/edit/", {"user": "changed", "password": "", "slave_id": 7777}),
                      lambda o: Instance.objects.get(pk=o["fresh"].pk).user == "changed"),
    "delete instance": (ADMINS_ONLY, lambda c, o: c.post(f"/instances/{o['fresh'].pk}/delete/"),
                        lambda o: not Instance.objects.filter(pk=o["fresh"].pk).exists()),
    "bind instance to rule": (ADMINS_ONLY, lambda c, o: c.post("/bindings/add/", {"instance": o["fresh"].pk, "rule": o["rule"].pk, "storage_type": "MQ_STORAGE"}),
                              lambda o: Rule.objects.filter(instance=o["fresh"]).exists()),
    "unbind": (ADMINS_ONLY, lambda c, o: c.post(f"/bindings/{o['binding'].pk}/delete/"),
               lambda o: not Rule.objects.filter(pk=o["binding"].pk).exists()),
    "create subscription": (ADMINS_ONLY, lambda c, o: c.post("/subscriptions/add/", {"group": o["alpha"].pk, "name": "s2", "instance": o["dumping"].pk, "target": o["target"].pk, "tables": "*.*", "must_be_success": "on"}),
                            lambda o: Subscription.objects.filter(name="s2").exists()),
    "delete subscription": (ADMINS_ONLY, lambda c, o: c.post(f"/subscriptions/{o['sub'].pk}/delete/"),
                            lambda o: not Subscription.objects.filter(pk=o["sub"].pk).exists()),
    "apply": (ADMINS_ONLY, lambda c, o: c.post(f"/workflow/{o['fresh'].pk}/apply/"),
              lambda o: Instance.objects.get(pk=o["fresh"].pk).status == InstanceStatus.WAIT),
    "set offline": (ADMINS_ONLY, lambda c, o: c.post(f"/instances/{o['dumping'].pk}/offline/"),
                    lambda o: Instance.objects.get(pk=o["dumping"].pk).state == "OFFLINE"),
    "reset counter": (ADMINS_ONLY, lambda c, o: c.post(f"/instances/{o['dumping'].pk}/reset-counter/"),
                      lambda o: AuditLog.objects.filter(action="reset_counter").exists()),
    "config page": ({"oscar": FORBIDDEN, "ursula": FORBIDDEN, "adam": FORBIDDEN, "carol": FORBIDDEN, "sam": OK},
                    lambda c, o: c.get("/config/"), None),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_permission_matrix(clients, objects, role, action):
    expected_by_role, do, happened = ACTIONS[action]
    expected = expected_by_role[role]
    response = do(clients[role], objects)
    if expected == OK:
        assert response.status_code in (200, 302), (action, role, response.status_code, response.content[:500])
        if happened:
            assert happened(objects), f"{action} as {role} did not take effect"
    else:
        assert response.status_code == expected, (action, role, response.status_code)
        if happened:
            assert not happened(objects), f"{action} as {role} was refused but changed something"


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
