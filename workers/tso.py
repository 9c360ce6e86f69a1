"""Tower positions as TiCDC-style timestamps (TSO), and back to wall-clock time.

A TiCDC ts is `(physical time in ms << 18) | logical counter` (docs/compatibility.md,
"TiCDC timestamps"). Tower's positions are binlog coordinates with a one-second event
timestamp (`binlog_when`), so the rule is:

    ts = ((binlog_when * 1000) << 18) + min(binlog_pos >> 4, SECOND_SPAN - 1)

i.e. the byte offset inside the binlog file, divided by 16, is spread over the
milliseconds and logical counter of that second (SECOND_SPAN = 1000 << 18
values). Two commit positions of one file are at least one XID/COMMIT event
(>= 27 bytes) apart, so `pos >> 4` keeps them distinct and ordered, and any
position of a later second maps above every position of an earlier one.

Limits of the rule, stated so nobody is surprised: the order is binlog order as
long as event timestamps do not go backwards (a single master's do not) and a
binlog rotation does not happen inside the same second as the positions being
compared (the new file restarts at small offsets). Offsets above ~4 GB (beyond
uint32, BinLake's and Bifrost's own limit) all map to the last value of their
second. `physical_time(ts)` of a position's ts is its event second plus less
than one second.

Transactions (workers/changefeed.py): a transaction's ts is the ts of its
commit position, `position_ts(commit event timestamp, commit end position)`,
so it equals the checkpoint_ts a changefeed shows once it has delivered that
transaction. A binlog holds no separate start timestamp (a transaction is
written to it at commit), so for `ignore_txn_start_ts` a transaction's
start_ts is that same value.

Changefeed options on these ts: `target_ts` delivers transactions with
ts <= target_ts and finishes the changefeed (state `finished`) at the first
one after it. A non-zero `start_ts` must be >= the ts of the instance's
dumped position at creation (else 400, CDC:ErrAPIInvalidParam): Tower reads an
instance's binlog once for all its changefeeds and does not scan older binlog
files for a time, which would mean reading from the oldest file forward on
every create. The changefeed's checkpoint starts at the dumped position and
transactions with ts < start_ts are passed over. An instance whose position
has no event timestamp yet (binlog_when 0, before its first read) accepts any
start_ts.
"""
from datetime import datetime, timezone

LOGICAL_BITS = 18
SECOND_SPAN = 1000 << LOGICAL_BITS


def compose(physical_ms: int, logical: int = 0) -> int:
    if physical_ms < 0 or not 0 <= logical < (1 << LOGICAL_BITS):
        raise ValueError("physical time must be >= 0 and the logical counter < 2^18")
    return (physical_ms << LOGICAL_BITS) | logical


def physical_ms(ts: int) -> int:
    return int(ts) >> LOGICAL_BITS


def position_ts(binlog_when: int, binlog_pos: int) -> int:
    """The ts of a position whose event timestamp is `binlog_when` (s) at byte `binlog_pos`. 0 when unknown."""
    if not binlog_when or binlog_when < 0:
        return 0
    offset = min(max(int(binlog_pos), 0) >> 4, SECOND_SPAN - 1)
    return compose(int(binlog_when) * 1000) + offset


def physical_time(ts: int) -> datetime:
    return datetime.fromtimestamp(physical_ms(ts) / 1000, tz=timezone.utc)


def format_ts(ts: int) -> str:
    """TiCDC's `checkpoint_time`: local time (settings.TIME_ZONE, as TiCDC uses its server's), in ms. '' for 0."""
    from django.utils import timezone as dj_timezone

    if not ts:
        return ""
    ms = physical_ms(ts)
    moment = datetime.fromtimestamp(ms // 1000, tz=timezone.utc).astimezone(dj_timezone.get_default_timezone())
    return moment.strftime("%Y-%m-%d %H:%M:%S") + f".{ms % 1000:03d}"


def now_ts(now: datetime = None) -> int:
    now = now or datetime.now(timezone.utc)
    return compose(int(now.timestamp() * 1000))
