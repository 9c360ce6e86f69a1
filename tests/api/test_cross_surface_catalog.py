"""The same catalog operation through the console and the native API: same permission, same validation, same
audit action (console.domain.catalog decides for both)."""
import pytest

from accounts import Api, client_for, make_user
from console.choices import MemberRole
from console.domain.audit import ACCESS_ACTIONS
from console.models import AuditLog, Filter, Group, Member

SURFACES = ("console", "api")
# What a successful write answers on each surface.
DONE = {"console": 302, "api": (200, 201)}


class Surface:
    """One user's way in: the console (a logged-in session posting forms) or the API (their token, JSON)."""

    def __init__(self, name, user):
        self.name = name
        self.console = client_for(user.username) if name == "console" else None
        self.api = Api(user.token) if name == "api" else None

    def ok(self, response):
        expected = DONE[self.name]
        return response.status_code in (expected if isinstance(expected, tuple) else (expected,))

    def change_role(self, member, role):
        if self.console:
            return self.console.post(f"/members/{member.pk}/role/", {"role": role})
        return self.api.patch(f"/api/members/{member.pk}/", {"role": role})

    def remove_member(self, member):
        if self.console:
            return self.console.post(f"/members/{member.pk}/remove/")
        return self.api.delete(f"/api/members/{member.pk}/")

    def create_filter(self, group, **fields):
        body = {"group": group.pk, "type": "WHITE", **fields}
        if self.console:
            if "events" in body:
                body["events"] = body["events"].split(",")  # the console's check boxes
            return self.console.post("/filters/add/", body)
        return self.api.post("/api/filters/", body)

    def edit_filter(self, flt, **fields):
        if self.console:
            body = {"type": flt.type, "table_name": flt.table_name, "name": flt.name, **fields}
            if "events" in body:
                body["events"] = body["events"].split(",")
            return self.console.post(f"/filters/{flt.pk}/", body)
        return self.api.patch(f"/api/filters/{flt.pk}/", fields)

    def create_group(self, name):
        if self.console:
            return self.console.post("/groups/add/", {"name": name, "mark": ""})
        return self.api.post("/api/groups/", {"name": name})

    def create_target(self, group, name, uri):
        if self.console:
            return self.console.post("/targets/add/", {"group": group.pk, "name": name, "uri": uri, "options": "{}"})
        return self.api.post("/api/targets/", {"group": group.pk, "name": name, "uri": uri})


@pytest.fixture
def creator(world):
    """cora created team-a: the one membership only a super admin may change."""
    make_user("cora", world.group_a, MemberRole.CREATOR)
    return Member.objects.get(erp="cora", group=world.group_a)


def new_actions(since_id):
    changes = AuditLog.objects.filter(id__gt=since_id).exclude(action__in=ACCESS_ACTIONS)
    return list(changes.order_by("id").values_list("actor", "action"))


def last_audit_id():
    return AuditLog.objects.order_by("-id").values_list("id", flat=True).first() or 0


@pytest.mark.parametrize("surface", SURFACES)
def test_member_role_change_is_member_role_on_both(world, surface):
    bob = Member.objects.get(erp="bob", group=world.group_a)
    alice, since = Surface(surface, world.alice), last_audit_id()
    assert alice.ok(alice.change_role(bob, "admin"))
    assert Member.objects.get(pk=bob.pk).role == "admin"
    assert new_actions(since) == [("alice", "member_role")]
    entry = AuditLog.objects.get(action="member_role")
    assert (entry.object_id, entry.group_id, entry.before["role"], entry.after["role"]) == (
        bob.pk, world.group_a.pk, "user", "admin")


@pytest.mark.parametrize("surface", SURFACES)
def test_admin_cannot_make_itself_creator(world, creator, unchanged, surface):
    me = Member.objects.get(erp="alice", group=world.group_a)
    alice = Surface(surface, world.alice)
    with unchanged():
        response = alice.change_role(me, "creator")
        assert response.status_code == 400
        assert b"The creator role is never assigned" in response.content
    assert Member.objects.get(pk=me.pk).role == "admin"


@pytest.mark.parametrize("surface", SURFACES)
def test_admin_cannot_change_or_remove_the_creator(world, creator, unchanged, surface):
    alice = Surface(surface, world.alice)
    with unchanged():
        for response in (alice.change_role(creator, "user"), alice.change_role(creator, "creator"),
                         alice.remove_member(creator)):
            assert response.status_code == 403
            assert b"can only be changed by a super admin" in response.content
    root = Surface(surface, world.root)
    assert root.ok(root.change_role(creator, "admin"))
    assert Member.objects.get(pk=creator.pk).role == "admin"


@pytest.mark.parametrize("surface", SURFACES)
def test_plain_member_cannot_change_roles(world, unchanged, surface):
    alice_membership = Member.objects.get(erp="alice", group=world.group_a)
    bob = Surface(surface, world.bob)
    with unchanged():
        assert bob.change_role(alice_membership, "user").status_code == 403
        assert bob.create_target(world.group_a, "t", "blackhole://").status_code == 403


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("fields", [
    {"table_name": "("},
    {"table_name": "shop\\..*", "events": "FOO"},
    {"table_name": "shop\\..*", "events": "INSERT,FOO"},
    {"table_name": "shop\\..*", "white_columns": "id, bad col"},
], ids=["bad-regex", "unknown-event", "one-unknown-event", "bad-column"])
def test_bad_filter_is_refused_on_both(world, unchanged, surface, fields):
    alice = Surface(surface, world.alice)
    with unchanged():
        assert alice.create_filter(world.group_a, **fields).status_code == 400
    assert not Filter.objects.exists()


@pytest.mark.parametrize("surface", SURFACES)
def test_filter_edit_to_bad_values_is_refused_and_a_good_one_is_filter_update(world, unchanged, surface):
    flt = Filter(group=world.group_a, table_name="shop\\..*")
    flt.save()
    alice, since = Surface(surface, world.alice), last_audit_id()
    with unchanged():
        assert alice.edit_filter(flt, table_name="(").status_code == 400
        assert alice.edit_filter(flt, events="FOO").status_code == 400
    assert alice.ok(alice.edit_filter(flt, events="INSERT"))
    assert Filter.objects.get(pk=flt.pk).events == "INSERT"
    assert new_actions(since) == [("alice", "filter_update")]


@pytest.mark.parametrize("surface", SURFACES)
def test_filter_create_is_filter_create_on_both(world, surface):
    alice, since = Surface(surface, world.alice), last_audit_id()
    assert alice.ok(alice.create_filter(world.group_a, table_name=" shop\\..* ", events="DELETE"))
    flt = Filter.objects.get()
    assert (flt.group_id, flt.table_name, flt.events) == (world.group_a.pk, "shop\\..*", "DELETE")
    assert new_actions(since) == [("alice", "filter_create")]


@pytest.mark.parametrize("surface", SURFACES)
def test_group_create_makes_the_creator_on_both(world, unchanged, surface):
    bob, since = Surface(surface, world.bob), last_audit_id()
    assert bob.ok(bob.create_group("gamma"))
    group = Group.objects.get(name="gamma")
    assert Member.objects.get(group=group, erp="bob").role == "creator"
    assert new_actions(since) == [("bob", "group_create"), ("bob", "member_add")]
    with unchanged():
        assert bob.create_group("bad name!").status_code == 400
        assert bob.create_group("gamma").status_code == 400  # taken
