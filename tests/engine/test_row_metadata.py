"""A source whose row events do not name their columns (binlog_row_metadata not FULL) is refused, never guessed:
python-mysql-replication would hand out UNKNOWN_COL0.. names and None for ENUM/SET values."""
import pytest

from console.models import Instance

from private_servers import PrivateServer

from .conftest import Source, make_instance, make_subscription, empty_redis_db, wait_for


@pytest.fixture
def minimal_metadata_source(tmp_path):
    server = PrivateServer("mariadb", tmp_path / "mariadb").start()
    src = Source(f"mysql://root@127.0.0.1:{server.port}/", "eng_minimal")
    src.execute("SET GLOBAL binlog_row_metadata = 'MINIMAL'")
    yield src
    src.conn.close()
    server.stop()


def last_error(instance):
    return Instance.objects.get(pk=instance.pk).last_error


@pytest.mark.slow
def test_unnamed_columns_stop_the_dump_with_the_reason(workers, minimal_metadata_source, redis_url):
    src = minimal_metadata_source
    src.execute("CREATE TABLE eng_minimal.t (id INT PRIMARY KEY, e ENUM('a', 'b'), s SET('p', 'q'))")
    instance = make_instance(src)
    src.execute("INSERT INTO eng_minimal.t VALUES (1, 'b', 'p,q')")  # an event without column names
    target, client = empty_redis_db(redis_url, 14)
    make_subscription(instance, target, tables="eng_minimal.t")
    workers.start("w1")
    workers.start_beat()

    # The dump does not start on such a server.
    wait_for(lambda: "binlog_row_metadata is MINIMAL, FULL is required" in last_error(instance), 30,
             message="the refused start")
    # Switched to FULL, the dump starts, and stops at the event written before, instead of guessing its names.
    src.execute("SET GLOBAL binlog_row_metadata = 'FULL'")
    wait_for(lambda: "do not name their columns" in last_error(instance), 40, message="the unnamed event refused")
    assert "eng_minimal.t" in last_error(instance)
    assert client.dbsize() == 0
