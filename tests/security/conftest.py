"""The security tests act in the HTTP API tests' two-group world."""
import pytest

from api.conftest import api, unchanged, waves, world  # noqa: F401

from .fake_mysql import FakeMySQL


@pytest.fixture
def fake():
    """A MySQL server that speaks the handshake and records what a client sends it."""
    server = FakeMySQL().start()
    yield server
    server.stop()
