"""Start dump's three choices on the workflow page, against the local MariaDB (TOWER_SOURCE_URL): from now,
from a position (checked by console.domain.sources.check_position), full sync then follow."""
import re

import pymysql
import pytest

from console.choices import InstanceStatus, SyncPhase
from console.domain.subscriptions import create_subscription
from console.models import AuditLog, Instance

from console_helpers import db_rows, make_instance


@pytest.fixture
def agreed(world, source_address):
    host, port, user, password = source_address
    return make_instance(world["alpha"], host=host, port=port, user=user, password=password,
                         status=InstanceStatus.AGREE)


@pytest.fixture
def source(source_address):
    host, port, user, password = source_address
    conn = pymysql.connect(host=host, port=port, user=user, password=password, autocommit=True)
    yield conn
    conn.close()


def master_status(conn):
    with conn.cursor() as cur:
        cur.execute("SHOW MASTER STATUS")
        row = cur.fetchone()
    return row[0], int(row[1])


def event_start(conn, binlog_file, kinds=("Gtid", "Query")):
    """The position of an event a dump can start at (a transaction's start) in `binlog_file`."""
    with conn.cursor() as cur:
        cur.execute("SHOW BINLOG EVENTS IN %s", (binlog_file,))
        return next(row[1] for row in cur.fetchall() if row[2] in kinds and row[1] > 4)


def start(client, instance, **data):
    return client.post(f"/workflow/{instance.pk}/start-dump/", data)


def test_the_page_offers_the_three_choices_from_now_checked(clients, agreed):
    page = clients["adam"].get(f"/workflow/{agreed.pk}/").content.decode()
    for value in ("now", "position", "full_sync"):
        assert f'value="{value}"' in page
    radios = re.findall(r'<input[^>]*name="start_from"[^>]*>', page)
    assert [('value="now"' in r, "checked" in r) for r in radios] == [(True, True), (False, False), (False, False)]


def test_from_now_starts_at_the_masters_position(clients, agreed, source):
    file, pos = master_status(source)
    response = start(clients["adam"], agreed, start_from="now")
    assert (response.status_code, response.url) == (302, f"/workflow/{agreed.pk}/")
    agreed.refresh_from_db()
    assert (agreed.status, agreed.binlog_file, agreed.full_sync_first) == (InstanceStatus.DUMP, file, False)
    assert agreed.binlog_pos >= pos
    assert AuditLog.objects.get(action="start_dump", object_id=agreed.pk).message == "from now"


def test_from_a_position_checked_against_the_source(clients, agreed, source):
    with source.cursor() as cur:  # a transaction in the binlog to start at
        cur.execute("CREATE DATABASE IF NOT EXISTS tower_start_choices")
    file, _ = master_status(source)
    pos = event_start(source, file)
    response = start(clients["adam"], agreed, start_from="position", binlog_file=file, binlog_pos=pos)
    assert (response.status_code, response.url) == (302, f"/workflow/{agreed.pk}/")
    agreed.refresh_from_db()
    assert (agreed.status, agreed.binlog_file, agreed.binlog_pos) == (InstanceStatus.DUMP, file, pos)
    entry = AuditLog.objects.get(action="start_dump", object_id=agreed.pk)
    assert (entry.after["binlog_file"], entry.after["binlog_pos"], entry.message) == (file, pos, "from a position")


@pytest.mark.parametrize("data, message", [
    ({"binlog_file": "no-such-bin.000001", "binlog_pos": 4}, "binlog file &#x27;no-such-bin.000001&#x27; is not on"),
    ({"binlog_pos": 5}, "no event starts at"),  # inside the file's format description event
    ({"binlog_pos": 4}, None),  # filled in below: one past the end of the last file
    ({"binlog_file": "", "binlog_pos": 4}, "Give the binlog file to start from."),
    ({"binlog_pos": 3}, "Ensure this value is greater than or equal to 4."),
    ({"binlog_pos": "x"}, "Enter a whole number."),
])
def test_a_bad_position_is_400_and_changes_nothing(clients, agreed, source, data, message):
    file, end = master_status(source)
    data = {"binlog_file": file, **data}
    if message is None:
        data["binlog_pos"], message = end + 1, f"position {end + 1} is outside {file}"
    before = db_rows()
    response = start(clients["adam"], agreed, start_from="position", **data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert db_rows() == before


def test_full_sync_then_follow_makes_its_subscriptions_copy_their_tables_first(clients, world, agreed, source):
    file, pos = master_status(source)
    response = start(clients["adam"], agreed, start_from="full_sync")
    assert (response.status_code, response.url) == (302, f"/workflow/{agreed.pk}/")
    agreed.refresh_from_db()
    assert (agreed.status, agreed.binlog_file, agreed.full_sync_first) == (InstanceStatus.DUMP, file, True)
    assert agreed.binlog_pos >= pos
    assert AuditLog.objects.get(action="start_dump", object_id=agreed.pk).message == "full sync then follow"
    assert "start with a full sync of their tables" in clients["adam"].get(f"/workflow/{agreed.pk}/").content.decode()
    job = create_subscription(world["users"]["adam"], name="after-full-start", instance=agreed,
                              sink_uri="blackhole://", tables="tower_start_choices.*")
    assert job.phase == SyncPhase.FULL_SYNC


def test_an_instance_started_from_now_creates_streaming_subscriptions(clients, world, agreed):
    assert start(clients["adam"], agreed, start_from="now").status_code == 302
    job = create_subscription(world["users"]["adam"], name="after-now-start", instance=Instance.objects.get(pk=agreed.pk),
                              sink_uri="blackhole://", tables="tower_start_choices.*")
    assert job.phase == SyncPhase.INCREMENTAL


def test_only_a_group_admin_starts_the_dump(clients, agreed):
    before = db_rows()
    assert start(clients["ursula"], agreed, start_from="full_sync").status_code == 403
    assert db_rows() == before
