"""The security tests act in the HTTP API tests' two-group world."""
from api.conftest import api, unchanged, waves, world  # noqa: F401
