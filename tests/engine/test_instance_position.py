"""An instance's position is every subscription's: setting it replays the changes after it to each target.

The running dump is fenced by the change (console.domain.instances.set_position) and starts again from the
position set; each subscription's checkpoint is that position, so none drops the replayed rows."""
import pytest

from console.choices import MemberRole
from console.domain import instances
from console.domain.errors import DomainError
from console.models import AuditLog, Checkpoint, Instance

from accounts import Api, make_user

from .conftest import caught_up, empty_redis_db, make_instance, make_subscription, wait_for


def positions(instance):
    """The instance's position and every checkpoint: what a refused set position must leave as it is."""
    row = Instance.objects.filter(pk=instance.pk).values(
        "binlog_file", "binlog_pos", "gtid_set", "leader_version", "lease_expires").get()
    checkpoints = sorted(Checkpoint.objects.filter(instance=instance).values_list(
        "subscription__name", "binlog_file", "binlog_pos", "queued_file", "queued_pos"), key=str)
    return row, checkpoints


def refused_positions(source, row_start):
    """(file, pos, what the refusal says): a file the server does not have, a position past the last file's
    end, a position inside an event."""
    last = source.execute("SHOW BINARY LOGS")[-1][0]
    return [
        ("mysql-bin.999999", 4, "binlog file 'mysql-bin.999999' is not on"),
        (last, 999999999, f"position 999999999 is outside {last}: give a position from 4 to"),
        (row_start[0], row_start[1] + 1, f"no event starts at {row_start[0]}:{row_start[1] + 1}"),
    ]


@pytest.mark.parametrize("surface", ["domain", "native"])
def test_instance_position_replays_to_every_subscription(workers, source, redis_url, surface):
    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.t (id INT PRIMARY KEY, v INT)")
    instance = make_instance(source)
    file, pos, _ = source.master()  # before the rows: where a transaction starts
    uri_a, a = empty_redis_db(redis_url, 14)
    uri_b, b = empty_redis_db(redis_url, 15)
    make_subscription(instance, uri_a, name="a", tables=f"{s}.t")
    make_subscription(instance, uri_b, name="b", tables=f"{s}.t")
    admin = make_user("ops", instance.group, MemberRole.ADMIN)
    native = Api(admin.token)
    source.execute(f"INSERT INTO `{s}`.t VALUES (1, 1), (2, 2)")

    def delivered_to_both():
        return all(c.get(f"{s}-t-1") and c.get(f"{s}-t-2") for c in (a, b))

    # Refused before anything runs (nothing else moves a position then): a clear 4xx, nothing changed.
    before = positions(instance)
    for bad_file, bad_pos, says in refused_positions(source, (file, pos)):
        with pytest.raises(DomainError) as refusal:
            instances.set_position("tester", instance, bad_file, bad_pos)
        assert refusal.value.kind == "invalid" and says in refusal.value.message
        response = native.post(f"/api/instances/{instance.pk}/set_binlog/",
                               {"binlog_file": bad_file, "binlog_pos": bad_pos})
        assert response.status_code == 400 and says in response.json()["detail"]
    assert positions(instance) == before
    assert not AuditLog.objects.filter(object_id=instance.pk, action="set_binlog").exists()

    workers.start("w1")
    workers.start_beat()
    wait_for(delivered_to_both, 30, message="rows 1 and 2 in both targets")
    wait_for(caught_up(source, instance), 20)
    version = Instance.objects.get(pk=instance.pk).leader_version
    a.flushdb()
    b.flushdb()

    if surface == "domain":
        instances.set_position("tester", instance, file, pos)
    else:
        response = native.post(f"/api/instances/{instance.pk}/set_binlog/", {"binlog_file": file, "binlog_pos": pos})
        assert response.status_code == 200, response.content
    wait_for(delivered_to_both, 30, message="rows 1 and 2 again in both targets after the instance's set position")
    # The dump that was running is fenced: a new one took the lease and committed the replay.
    assert Instance.objects.get(pk=instance.pk).leader_version > version
    wait_for(caught_up(source, instance), 20)

    def replayed_checkpoints():
        return sorted(Checkpoint.objects.filter(instance=instance, subscription__isnull=False)
                      .values_list("subscription__name", "binlog_file", "binlog_pos"))

    wait_for(lambda: all((f, p) > (file, pos) for _, f, p in replayed_checkpoints()), 10,
             message="both checkpoints committed past the position set")
    assert [name for name, _, _ in replayed_checkpoints()] == ["a", "b"]
    actor = "tester" if surface == "domain" else "ops"
    assert AuditLog.objects.filter(object_id=instance.pk, action="set_binlog", actor=actor).count() == 1
