"""A CCR host mapping (private -> public) is what the dump connects to."""
import random


from console.models import Group, Instance

from .conftest import make_subscription, empty_redis_db, wait_for


def test_dump_connects_through_the_jobs_host_mapping(workers, source, redis_url):
    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, v VARCHAR(8))")
    file, pos, _ = source.master()
    group, _ = Group.objects.get_or_create(name="engine")
    private = "db-primary.internal.invalid"  # never resolves: only the mapping makes the source reachable
    instance = Instance.objects.create(
        group=group, host=private, port=source.port, user="root", status="dump", state="ONLINE",
        slave_id=random.randint(100000, 4000000000), binlog_file=file, binlog_pos=pos, candidates=["w1"],
    )
    target, client = empty_redis_db(redis_url, 9)
    make_subscription(instance, target, tables=f"{s}.*",
                      options={"src_host_mapping": {private: source.host}})
    workers.start("w1")
    workers.start_beat()
    source.execute(f"INSERT INTO `{s}`.t VALUES (1, 'mapped')")
    wait_for(lambda: client.get(f"{s}-t-1"), 60, message="the row to arrive through the mapped host")
    instance.refresh_from_db()
    assert instance.retry_times == 0 and instance.last_error == ""
