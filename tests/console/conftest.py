"""Console test fixtures: a group with one member per role, an outsider, a super admin."""
import pytest

from console.choices import MemberRole
from console.models import Config, Group, Member, SuperAdmin
from accounts import client_for, make_user

@pytest.fixture
def world(db):
    """alpha: creator carol, admin adam, user ursula. beta: creator oscar (an outsider to alpha). sam: super admin."""
    alpha, beta = Group.objects.create(name="alpha"), Group.objects.create(name="beta")
    users = {name: make_user(name) for name in ("carol", "adam", "ursula", "oscar", "sam", "nobody")}
    Member.objects.create(erp="carol", group=alpha, role=MemberRole.CREATOR)
    Member.objects.create(erp="adam", group=alpha, role=MemberRole.ADMIN)
    Member.objects.create(erp="ursula", group=alpha, role=MemberRole.USER)
    Member.objects.create(erp="oscar", group=beta, role=MemberRole.CREATOR)
    SuperAdmin.objects.create(erp="sam")
    return {"alpha": alpha, "beta": beta, "users": users}


@pytest.fixture
def clients(world):
    return {name: client_for(name) for name in ("carol", "adam", "ursula", "oscar", "sam")}


@pytest.fixture
def callback_secret(db):
    config = Config.current()
    config.callback_secret = "test-callback-secret"
    config.save()
    return config.callback_secret
