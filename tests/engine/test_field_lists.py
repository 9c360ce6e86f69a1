"""FieldList: when every subscription of a table wants only some columns, only those (and the primary key) are
decoded; each subscription still gets exactly its own columns, and a changed FieldList takes effect at once."""
import json

import pytest

from console.models import Subscription
from workers.decoder import fast_images
from workers.events import RowChange
from workers.stream import BinlogStream, Position

from .conftest import empty_redis_db, make_instance, make_subscription, wait_for, wait_for_dump_reload


def read_changes(stream, count, timeout=30):
    changes = []

    def more():
        for t in stream.get(timeout=0.2):
            changes.extend(c for c in t.changes if isinstance(c, RowChange))
        return len(changes) >= count
    wait_for(more, timeout, message=f"{count} row changes from the stream")
    return changes


def test_the_stream_decodes_only_the_wanted_columns_and_the_key(source):
    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, v INT, big TEXT, doc JSON)")
    source.execute(f"CREATE TABLE `{s}`.u (id INT PRIMARY KEY, v INT, w INT)")
    file, pos, _ = source.master()
    source.execute(f"INSERT INTO `{s}`.t VALUES (1, 1, REPEAT('x', 5000), '{{\"a\": 1}}')")
    source.execute(f"UPDATE `{s}`.t SET v = 2, big = 'y' WHERE id = 1")
    source.execute(f"DELETE FROM `{s}`.t WHERE id = 1")
    source.execute(f"INSERT INTO `{s}`.u VALUES (1, 1, 1)")
    wanted = {"t": frozenset({"v"}), "u": True}
    stream = BinlogStream(source.host, source.port, "root", "", 300001, Position(file, pos), mariadb=True,
                          wants=lambda schema, table: schema == s and wanted.get(table, False),
                          decoder=fast_images).start()
    try:
        t_insert, t_update, t_delete, u_insert = read_changes(stream, 4)
    finally:
        stream.stop()
    assert t_insert.row == {"id": 1, "v": 1}  # big and doc were never decoded
    assert (t_update.old, t_update.row) == ({"id": 1, "v": 1}, {"id": 1, "v": 2})
    assert t_delete.row == {"id": 1, "v": 2}
    assert u_insert.row == {"id": 1, "v": 1, "w": 1}  # True: every column


@pytest.mark.parametrize("fast_decoder", ["1", "0"], ids=["fast-decoder", "library-decoder"])
def test_each_subscription_gets_its_fields_and_a_changed_field_list_applies(workers, source, redis_url,
                                                                            fast_decoder):
    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, a INT, b INT, c TEXT)")
    instance = make_instance(source)
    target, client = empty_redis_db(redis_url, 12)
    make_subscription(instance, target + "?key=AB-{$id}", name="ab", tables=f"{s}.t", field_list="a,b")
    narrow = make_subscription(instance, target + "?key=A-{$id}", name="a", tables=f"{s}.t", field_list="a")
    workers.start("w1", TOWER_FAST_DECODER=fast_decoder)
    workers.start_beat()
    source.execute(f"INSERT INTO `{s}`.t VALUES (1, 10, 20, 'text')")
    wait_for(lambda: client.get("AB-1") and client.get("A-1"), 60, message="row 1 for both subscriptions")
    assert json.loads(client.get("AB-1")) == {"id": 1, "a": 10, "b": 20}
    assert json.loads(client.get("A-1")) == {"id": 1, "a": 10}

    # c was not decoded so far (no subscription wanted it): the dump has to decode it from now on.
    Subscription.objects.filter(pk=narrow.pk).update(field_list="a,c")
    wait_for_dump_reload(instance)
    source.execute(f"INSERT INTO `{s}`.t VALUES (2, 11, 21, 'more')")
    # Each subscription delivers on its own: one may land before the other.
    wait_for(lambda: client.get("A-2") and client.get("AB-2"), 30, message="row 2 for both subscriptions")
    assert json.loads(client.get("A-2")) == {"id": 2, "a": 11, "c": "more"}
    assert json.loads(client.get("AB-2")) == {"id": 2, "a": 11, "b": 21}
