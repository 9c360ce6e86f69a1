"""Form validation shows field errors and changes nothing; secrets are write-only; groups make their creator."""
from console.choices import MemberRole
from console.models import AuditLog, Config, Filter, Group, Member, MqRule

from console_helpers import assert_db_changes, audit_row, db_rows


def test_creating_a_group_makes_the_creator(clients, world):
    response = clients["ursula"].post("/groups/add/", {"name": "gamma", "mark": "new team"})
    group = Group.objects.get(name="gamma")
    assert response.status_code == 302 and response["Location"] == f"/groups/{group.pk}/"
    assert Member.objects.get(group=group, erp="ursula").role == MemberRole.CREATOR
    assert AuditLog.objects.filter(action="group_create", group_id=group.pk, actor="ursula").exists()
    before = db_rows()
    again = clients["adam"].post("/groups/add/", {"name": "gamma"})
    assert again.status_code == 400 and b"already exists" in again.content
    assert clients["adam"].post("/groups/add/", {"name": "bad name!"}).status_code == 400
    assert db_rows() == before


def test_filter_validation(clients, world):
    alpha = world["alpha"].pk
    cases = [
        ({"table_name": "shop.(orders"}, b"Not a valid regular expression"),
        ({"table_name": "a", "fake_cols": "novalue"}, b"is not key:value"),
        ({"table_name": "a", "white_columns": "id, bad col"}, b"Not column names"),
        ({"table_name": "a", "events": ["NOPE"]}, b"Select a valid choice"),
    ]
    for data, message in cases:
        response = clients["adam"].post("/filters/add/", {"group": alpha, "type": "WHITE", **data})
        assert response.status_code == 400 and message in response.content, data
    assert not Filter.objects.exists()
    ok = clients["adam"].post("/filters/add/", {"group": alpha, "type": "BLACK", "table_name": r"db\..*", "events": ["DELETE"],
                                                "fake_cols": "src : tower, dc:bj", "business_keys": "id,uid"})
    assert (ok.status_code, ok.url) == (302, "/filters/")
    f = Filter.objects.get()
    assert (f.group_id, f.type, f.table_name) == (alpha, "BLACK", r"db\..*")
    assert (f.events, f.fake_cols, f.business_keys) == ("DELETE", "src:tower,dc:bj", "id,uid")
    before = db_rows()
    dup = clients["adam"].post("/filters/add/", {"group": alpha, "type": "BLACK", "table_name": r"db\..*"})
    assert dup.status_code == 400 and b"already has a BLACK filter" in dup.content
    assert db_rows() == before


def test_mq_rule_validation_and_linked_filters(clients, world):
    alpha, beta = world["alpha"], world["beta"]
    mine, theirs = Filter(group=alpha, table_name="a"), Filter(group=beta, table_name="b")
    mine.save()
    theirs.save()
    before = db_rows()
    bad = clients["carol"].post("/mq-rules/add/", {"group": alpha.pk, "topic": "t", "order_type": "DB_ORDER", "paras": "acks"})
    assert bad.status_code == 400 and b"key=value" in bad.content
    foreign = clients["carol"].post("/mq-rules/add/", {"group": alpha.pk, "topic": "t", "order_type": "DB_ORDER", "linked_filters": [theirs.pk]})
    assert foreign.status_code == 400
    assert db_rows() == before
    ok = clients["carol"].post("/mq-rules/add/", {"group": alpha.pk, "topic": "t", "order_type": "DB_ORDER", "with_trx": "on",
                                                  "paras": "acks=all\nlinger.ms=5", "linked_filters": [mine.pk]})
    assert (ok.status_code, ok.url) == (302, "/mq-rules/")
    rule = MqRule.objects.get()
    assert (rule.group_id, rule.topic, rule.order_type, rule.paras) == (alpha.pk, "t", "DB_ORDER", "acks=all\nlinger.ms=5")
    assert list(rule.filters.all()) == [mine] and rule.with_trx
    # Renaming the topic re-keys the rule (id = md5(topic+group)); its filter links follow.
    renamed = clients["carol"].post(f"/mq-rules/{rule.pk}/", {"topic": "t2", "order_type": "DB_ORDER", "linked_filters": [mine.pk]})
    assert (renamed.status_code, renamed.url) == (302, "/mq-rules/")
    assert not MqRule.objects.filter(pk=rule.pk).exists()
    assert list(MqRule.objects.get(topic="t2").filters.all()) == [mine]


def test_config_secrets_are_write_only(clients, world):
    sam = clients["sam"]
    fields = {"slave_id": 2000, "retry_latch": 10, "mark": "", "slave_uuid": "", "dbs_api": "", "mq_addr": "", "dump_user": "dumper"}
    saved = sam.post("/config/", {**fields, "dump_password": "pw-xyz", "callback_secret": "cb-secret"})
    assert (saved.status_code, saved.url) == (302, "/config/")
    config = Config.current()
    assert (config.dump_password, config.callback_secret, config.dump_user) == ("pw-xyz", "cb-secret", "dumper")
    page = sam.get("/config/").content
    assert b"pw-xyz" not in page and b"cb-secret" not in page and b"set (write-only)" in page
    # Blank keeps, "clear" empties.
    cleared = sam.post("/config/", {**fields, "clear_secrets": ["callback_secret"]})
    assert (cleared.status_code, cleared.url) == (302, "/config/")
    config = Config.current()
    assert config.dump_password == "pw-xyz" and config.callback_secret == ""
    entry = AuditLog.objects.filter(action="config_update").latest("id")
    assert "pw-xyz" not in str(entry.before) + str(entry.after)
    before = db_rows()
    assert sam.post("/config/", {**fields, "slave_id": "x"}).status_code == 400
    assert clients["carol"].post("/config/", {**fields, "dump_user": "hacker"}).status_code == 403
    assert db_rows() == before and Config.current().dump_user == "dumper"


def test_member_add_rules(clients, world):
    alpha = world["alpha"].pk
    before = db_rows()
    dup = clients["carol"].post("/members/add/", {"group": alpha, "erp": "ursula", "role": "user"})
    assert dup.status_code == 400 and b"already a member" in dup.content
    creator = clients["carol"].post("/members/add/", {"group": alpha, "erp": "zed", "role": "creator"})
    assert creator.status_code == 400 and not Member.objects.filter(erp="zed").exists()
    assert db_rows() == before


def test_forbidden_page_says_why(clients, world):
    response = clients["ursula"].get(f"/groups/{world['alpha'].pk}/edit/")
    assert response.status_code == 403 and b"Only an admin of this group" in response.content


def test_group_with_instances_cannot_be_deleted(clients, world):
    from console_helpers import make_instance

    make_instance(world["alpha"], port=3900)
    before = db_rows()
    response = clients["carol"].post(f"/groups/{world['alpha'].pk}/delete/")
    assert (response.status_code, response.url) == (302, "/groups/")  # back to the list, with the reason as a message
    assert db_rows() == before
    beta = world["beta"].pk
    oscar = Member.objects.get(erp="oscar", group_id=beta).pk
    before = db_rows()
    empty = clients["oscar"].post(f"/groups/{beta}/delete/")
    assert (empty.status_code, empty.url) == (302, "/groups/")
    assert_db_changes(before, db_rows(), {
        "Group": {"removed": {beta}},
        "Member": {"removed": {oscar}},  # memberships go with their group (CASCADE)
        "AuditLog": {"added": [audit_row("oscar", "group_delete", "Group", beta, None)]},
    })


def test_renaming_a_group_rekeys_it_and_everything_follows(clients, world):
    from console.ids import md5_id
    from console.models import Filter, Instance

    alpha = world["alpha"]
    Filter.objects.create(group=alpha, type="WHITE", table_name=r"shop\..*")
    Instance.objects.create(group=alpha, host="10.1.1.1", port=3306)
    AuditLog.record("carol", "note", alpha)
    response = clients["carol"].post(f"/groups/{alpha.pk}/edit/", {"name": "alpha2", "mark": "renamed"})
    new_id = md5_id("alpha2")
    assert response.status_code == 302 and response["Location"] == f"/groups/{new_id}/"
    assert not Group.objects.filter(pk=alpha.pk).exists()
    assert Group.objects.get(pk=new_id).mark == "renamed"
    assert sorted(Member.objects.filter(group_id=new_id).values_list("erp", flat=True)) == ["adam", "carol", "ursula"]
    assert all(m.id == md5_id(m.erp, new_id) for m in Member.objects.filter(group_id=new_id))
    assert Filter.objects.get().id == md5_id(new_id, "WHITE", r"shop\..*")
    assert Instance.objects.get().group_id == new_id
    assert AuditLog.objects.filter(group_id=alpha.pk).count() == 0
    assert AuditLog.objects.filter(group_id=new_id, action="group_update").exists()
    # a plain user (still a member: memberships followed the new id) cannot rename
    before = db_rows()
    assert clients["ursula"].post(f"/groups/{new_id}/edit/", {"name": "x"}).status_code == 403
    assert db_rows() == before
