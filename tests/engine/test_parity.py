"""Parity: every common MySQL type through the binlog to Redis equals the table's final state."""
import datetime
import random
from decimal import Decimal

import pytest

from console.models import Instance

from .conftest import empty_redis_db, make_instance, make_subscription, redis_state, wait_caught_up, wait_for
from .expect import diff_states, expected_state

TYPES_TABLE = """
CREATE TABLE `{schema}`.`types` (
  id INT PRIMARY KEY,
  ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT UNSIGNED, ii INT UNSIGNED, bi BIGINT,
  bu BIGINT UNSIGNED, de DECIMAL(20,6), dn DECIMAL(5,0), fl FLOAT, db DOUBLE,
  dt DATETIME(6), ts TIMESTAMP(3) NULL, d DATE, tm TIME(3), yr YEAR,
  ch CHAR(10), vc VARCHAR(100), tx TEXT, bl BLOB, vb VARBINARY(16),
  en ENUM('a','b','c'), st SET('x','y','z'), js JSON
) CHARACTER SET utf8mb4
"""


def random_row(i, rng):
    return (
        i, rng.randint(-128, 127), rng.randint(0, 255), rng.randint(-32768, 32767), rng.randint(0, 2**24 - 1),
        rng.randint(0, 2**32 - 1), rng.randint(-2**63, 2**63 - 1), rng.choice([0, 2**64 - 1, rng.randint(0, 2**64 - 1)]),
        Decimal(rng.randint(-10**14, 10**14)).scaleb(-6), Decimal(rng.randint(-99999, 99999)),
        rng.uniform(-1000, 1000), rng.uniform(-1e12, 1e12),
        datetime.datetime(2020, 1, 1) + datetime.timedelta(seconds=rng.randint(0, 10**8), microseconds=rng.randint(0, 999999)),
        rng.choice([None, datetime.datetime(2021, 6, 1, 12, 0, 0, 123000)]),
        datetime.date(2000, 1, 1) + datetime.timedelta(days=rng.randint(0, 9000)),
        rng.choice([datetime.timedelta(hours=rng.randint(0, 800), seconds=rng.randint(0, 3599), microseconds=rng.randint(0, 999) * 1000), -datetime.timedelta(hours=rng.randint(0, 800), seconds=rng.randint(1, 3599))]),
        rng.randint(1901, 2155), f"c{i}", f"v{i}-ü€-{rng.random()}", "t" * rng.randint(0, 300),
        bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 40))), bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 16))),
        rng.choice(["a", "b", "c", None]), rng.choice(["x", "y", "x,z", "x,y,z"]),
        rng.choice([None, '{"k": [1, 2.5, "s"], "n": null}', f'{{"i": {i}, "u": "é"}}', "[]"]),
    )


COLUMNS = 25


@pytest.mark.slow
@pytest.mark.parametrize("fast_decoder", ["1", "0"], ids=["fast-decoder", "library-decoder"])
def test_parity_every_type(workers, source, redis_url, fast_decoder):
    rng = random.Random(4)
    source.execute(TYPES_TABLE.format(schema=source.schema))
    instance = make_instance(source)
    target, client = empty_redis_db(redis_url, 11)
    make_subscription(instance, target, tables=f"{source.schema}.*")
    workers.start("w1", TOWER_FAST_DECODER=fast_decoder)
    workers.start_beat()

    placeholders = ",".join(["%s"] * COLUMNS)
    insert = f"INSERT INTO `{source.schema}`.`types` VALUES ({placeholders})"
    ids = list(range(1, 10001))
    # Mixed transactions: inserts in chunks, then updates (some changing the primary key) and deletes.
    for start in range(0, len(ids), 500):
        source.conn.begin()
        source.executemany(insert, [random_row(i, rng) for i in ids[start:start + 500]])
        source.conn.commit()
    for _ in range(40):
        source.conn.begin()
        for _ in range(50):
            i = rng.choice(ids)
            action = rng.random()
            if action < 0.6:
                source.execute(f"UPDATE `{source.schema}`.`types` SET vc=%s, de=%s, js=%s, st=%s WHERE id=%s",
                               (f"u{rng.random()}", Decimal("-0.000001"), '{"updated": true}', "y", i))
            elif action < 0.8:
                source.execute(f"DELETE FROM `{source.schema}`.`types` WHERE id=%s", (i,))
            else:
                new = i + 20000
                source.execute(f"UPDATE `{source.schema}`.`types` SET id=%s WHERE id=%s", (new, i))
                if i in ids:
                    ids.append(new)
        source.conn.commit()
    # A rolled-back transaction must leave no trace.
    source.conn.begin()
    source.execute(f"DELETE FROM `{source.schema}`.`types`")
    source.conn.rollback()
    wait_caught_up(instance, source, 120)
    want = expected_state(source, "types", json_columns=("js",), set_columns=("st",))
    got = redis_state(client, f"{source.schema}-types-")
    assert len(got) == len(want) > 9000
    assert diff_states(got, want) == []
    # Exactness spot checks: unsigned 64-bit stays an int, decimals keep their digits.
    sample = next(v for v in got.values() if v["bu"] == 2**64 - 1)
    assert isinstance(sample["bu"], int)
    assert any(v["de"] == "-0.000001" for v in got.values())

    # Which decoder did the work is counted on the instance (written with the flow, every 5 s): /metrics.
    def decoder_stats():
        return Instance.objects.get(pk=instance.pk).decoder_stats
    if fast_decoder == "1":
        stats = wait_for(lambda: decoder_stats().get("generated_rows", 0) >= 10000 and decoder_stats(), 20,
                         message="the generated decoders' row count")
        assert stats["fallback_rows"] == 0 and stats["fallback_reasons"] == {}
    else:
        assert decoder_stats() == {}
