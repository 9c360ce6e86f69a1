"""The dump loop applies the subscription's MQ rule filters and runs a full sync, with real workers."""
import json


from console.choices import SyncPhase
from console.models import Filter, MqFilterRelation, MqRule, Subscription

from .conftest import make_instance, make_subscription, empty_redis_db, redis_state, wait_for


def test_mq_rule_filters_shape_what_a_subscription_gets(workers, source, redis_url):
    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.keep (id INT PRIMARY KEY, name VARCHAR(16), secret VARCHAR(16))")
    source.execute(f"CREATE TABLE `{s}`.other (id INT PRIMARY KEY, name VARCHAR(16))")
    instance = make_instance(source)
    rule = MqRule.objects.create(group=instance.group, topic="orders")
    white = Filter.objects.create(group=instance.group, type="WHITE", table_name=rf"{s}\..*", events="INSERT,UPDATE",
                                  black_columns="secret", fake_cols="src:tower")
    black = Filter.objects.create(group=instance.group, type="BLACK", table_name=rf"{s}\.other")
    for f in (white, black):
        MqFilterRelation.objects.create(mq=rule, filter=f)
    target, client = empty_redis_db(redis_url, 11)
    make_subscription(instance, target, tables=f"{s}.*", mq_rule=rule)
    workers.start("w1")
    workers.start_beat()
    source.execute(f"INSERT INTO `{s}`.keep VALUES (1, 'one', 'pw1'), (2, 'two', 'pw2')")
    source.execute(f"INSERT INTO `{s}`.other VALUES (1, 'blacklisted')")
    source.execute(f"DELETE FROM `{s}`.keep WHERE id = 2")  # DELETE is not in the WHITE filter's events
    source.execute(f"INSERT INTO `{s}`.keep VALUES (3, 'three', 'pw3')")
    wait_for(lambda: client.get(f"{s}-keep-3"), 60, message="the last insert to arrive")
    assert redis_state(client, f"{s}-") == {
        f"{s}-keep-1": {"id": 1, "name": "one", "src": "tower"},
        f"{s}-keep-2": {"id": 2, "name": "two", "src": "tower"},
        f"{s}-keep-3": {"id": 3, "name": "three", "src": "tower"},
    }


def test_full_sync_copies_existing_rows_then_streams(workers, source, redis_url):
    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, v VARCHAR(16))")
    source.executemany(f"INSERT INTO `{s}`.t VALUES (%s, %s)", [(i, f"old{i}") for i in range(1, 3001)])
    instance = make_instance(source)  # starts at the master's position: the 3000 rows are before it
    target, client = empty_redis_db(redis_url, 10)
    sub = make_subscription(instance, target, tables=f"{s}.t", phase=SyncPhase.FULL_SYNC)
    workers.start("w1")
    workers.start_beat()
    source.execute(f"UPDATE `{s}`.t SET v = 'new' WHERE id % 500 = 0")
    source.execute(f"DELETE FROM `{s}`.t WHERE id = 7")
    source.execute(f"INSERT INTO `{s}`.t VALUES (5000, 'streamed')")
    wait_for(lambda: Subscription.objects.get(pk=sub.pk).phase == SyncPhase.INCREMENTAL, 120,
             message="the full sync to finish")
    expected = {f"{s}-t-{r['id']}": r for r in source.rows("t")}
    wait_for(lambda: redis_state(client, f"{s}-t-") == expected, 30, message="Redis to equal the table")
    done = Subscription.objects.get(pk=sub.pk)
    assert done.fullsync_done >= 2999 and done.fullsync_started is not None
    assert json.loads(client.get(f"{s}-t-500")) == {"id": 500, "v": "new"}
