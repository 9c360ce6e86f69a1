"""What one test run owns on the shared local servers, so that runs side by side do not disturb each other.

- RUN_ID names the run: its metadata test database, its source schemas, its worker processes' environment.
- Redis databases: the shared Redis is started with many databases; a run claims a block of BLOCK of them
  (a key in database 0, with an expiry in case the run dies) and a test's "database n" is n of its block.
"""
import os
import uuid
from urllib.parse import urlsplit

import redis

RUN_ID = os.environ.setdefault("TOWER_TEST_RUN_ID", uuid.uuid4().hex[:6])
BLOCK = 16
CLAIM_SECONDS = 4 * 3600

_base = None


def claim_redis_block(redis_url):
    """Claim a free block of databases for this run; the base of the block (0 on a 16-database Redis)."""
    global _base
    client = redis.Redis.from_url(redis_db(redis_url, 0, absolute=True))
    total = int(client.config_get("databases")["databases"])
    _base = 0
    for block in range(1, total // BLOCK):
        if client.set(f"tower-test-block:{block}", RUN_ID, nx=True, ex=CLAIM_SECONDS):
            _base = block * BLOCK
            break
    return _base


def release_redis_block(redis_url):
    if _base:
        client = redis.Redis.from_url(redis_db(redis_url, 0, absolute=True))
        key = f"tower-test-block:{_base // BLOCK}"
        if client.get(key) == RUN_ID.encode():
            client.delete(key)


def redis_db(redis_url, n, absolute=False):
    """The URL of this run's Redis database n (0 <= n < BLOCK)."""
    if not absolute:
        assert 0 <= n < BLOCK, f"a run owns Redis databases 0..{BLOCK - 1}, not {n}"
        assert _base is not None, "the run's Redis block is claimed by the session fixture in tests/conftest.py"
        n += _base
    parts = urlsplit(redis_url)
    return f"redis://{parts.hostname}:{parts.port}/{n}"


def schema_name(prefix, name):
    """A source schema (database) of this run: `prefix_RUNID_name`, within MySQL's 64 characters."""
    return f"{prefix}_{RUN_ID}_{name}"[:64]
