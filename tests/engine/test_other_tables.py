"""Other tables' events, and transactions with nothing else, are taken before the library builds events of them
(BinlogStream._sieve): the stream still hands over exactly the wanted rows, in order, and its positions and
executed GTIDs still move past the transactions it took."""
from pymysqlreplication.row_event import TableMapEvent, WriteRowsEvent

from workers.events import RowChange
from workers.stream import BinlogStream, Position

from .conftest import wait_for


def test_other_tables_are_dropped_unbuilt_and_positions_move_past_them(source, monkeypatch):
    s = source.schema
    source.execute(f"CREATE TABLE `{s}`.mine (id INT PRIMARY KEY, v VARCHAR(20))")
    source.execute(f"CREATE TABLE `{s}`.other (id INT PRIMARY KEY, v VARCHAR(20))")
    source.execute(f"CREATE TABLE `{s}`.`other 2` (id INT PRIMARY KEY)")  # a name the packet parse must read
    file, pos, _ = source.master()
    for i in range(20):
        source.execute(f"INSERT INTO `{s}`.other VALUES ({i}, 'o')")  # transactions with nothing wanted
    source.execute("BEGIN")
    source.execute(f"INSERT INTO `{s}`.other VALUES (100, 'first')")  # other rows before and after ours
    source.execute(f"INSERT INTO `{s}`.mine VALUES (1, 'a')")
    source.execute(f"INSERT INTO `{s}`.`other 2` VALUES (1)")
    source.execute(f"INSERT INTO `{s}`.mine VALUES (2, 'b')")
    source.execute("COMMIT")
    for i in range(5):
        source.execute(f"INSERT INTO `{s}`.other VALUES ({200 + i}, 'o')")
    end = source.master()

    built = {"maps": [], "rows": []}  # the tables of the events the library built
    map_init, rows_init = TableMapEvent.__init__, WriteRowsEvent.__init__

    def counting_map(self, *args, **kwargs):
        map_init(self, *args, **kwargs)
        built["maps"].append(getattr(self, "table", None))

    def counting_rows(self, *args, **kwargs):
        rows_init(self, *args, **kwargs)
        built["rows"].append(getattr(self, "table", None))

    monkeypatch.setattr(TableMapEvent, "__init__", counting_map)
    monkeypatch.setattr(WriteRowsEvent, "__init__", counting_rows)

    stream = BinlogStream(source.host, source.port, "root", "", 300002, Position(file, pos), mariadb=True,
                          wants=lambda schema, table: schema == s and table == "mine").start()
    changes, positions = [], []

    def read_to_end():
        for t in stream.get(timeout=0.2):
            changes.extend(c for c in t.changes if isinstance(c, RowChange))
            positions.append(t.position)
        return positions and (positions[-1].binlog_file, positions[-1].binlog_pos) >= end[:2]
    try:
        wait_for(read_to_end, 30, message=f"the stream's position at the master's end {end[:2]}")
    finally:
        stream.stop()
    assert [(c.table, c.row) for c in changes] == [("mine", {"id": 1, "v": "a"}), ("mine", {"id": 2, "v": "b"})]
    assert set(built["maps"]) == {"mine"}  # the 27 other tables' maps were dropped before an event was built
    assert set(built["rows"]) == {"mine"}
    # each of the 27 other inserts: a table map and a rows event; the 25 alone in their transaction: a GTID and an XID
    assert stream.events_skipped >= 2 * 27 + 2 * 25
    reached = next(p for p in positions if (p.binlog_file, p.binlog_pos) >= end[:2])
    executed = {g.split("-")[0]: g for g in reached.gtid.split(",") if g}
    for gtid in end[2].split(","):  # the last empty transaction's GTID is in the executed set handed on
        domain, server, seq = gtid.split("-")
        assert int(executed[domain].split("-")[2]) >= int(seq)
