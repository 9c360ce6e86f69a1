"""Property-based fuzzing of the whole native API with schemathesis against its OpenAPI schema: no 5xx, ever.

Bounded: a few examples per operation (TOWER_FUZZ_EXAMPLES, default 8), run in-process through the
WSGI app inside the test transaction, as a super admin (widest reach) and as a plain member (read-only: every write refused).
"""
import os

import hypothesis
import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase

EXAMPLES = int(os.environ.get("TOWER_FUZZ_EXAMPLES", "8"))


def load_schema():
    raw = SchemaGenerator().get_schema(request=None, public=True)
    # The generator returns ordered dicts and lazy strings: round-trip through JSON to plain data.
    import json

    from rest_framework.utils.encoders import JSONEncoder

    schema = schemathesis.openapi.from_dict(json.loads(json.dumps(raw, cls=JSONEncoder)))
    schema.app = WSGIHandler()
    return schema


@pytest.fixture
def keep_db_connection():
    """Like django.test.Client: a finished request must not close the test transaction's connection."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.parametrize("who", ["root", "bob"])
def test_no_server_errors(world, waves, keep_db_connection, who):
    schema = load_schema()
    token = getattr(world, who).token
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40  # every viewset and action is in the schema

    for operation in operations:
        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                             phases=[Phase.explicit, Phase.generate],
                             suppress_health_check=list(HealthCheck))
        def check(case):
            response = case.call(headers={"Authorization": f"Token {token}"})
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                                f"{response.text[:300]}")

        check()
    assert failures == []
