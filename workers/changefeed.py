"""TiCDC changefeed options the engine acts on: start_ts, target_ts, ignore_txn_start_ts, sink_config.

A subscription is a TiCDC changefeed; its options are stored by
console.domain.subscriptions and read here, once per refresh of its runtime
(workers.subscriptions.SubscriptionRuntime calls `attach`, `admit`, `passed`
and `sink_options`; workers.checkpoints calls `write_status`).

Timestamps follow workers.tso: a transaction's ts is
`tso.position_ts(event timestamp, end position)` of its commit, the same rule
that turns a checkpoint into `checkpoint_ts`, so "the checkpoint passed
target_ts" and "this transaction is after target_ts" agree. A binlog has no
separate start timestamp (MariaDB/MySQL write a transaction to the binlog at
commit), so a transaction's start_ts in Tower *is* that commit ts: unique per
transaction, and equal to the checkpoint_ts the changefeed shows right after it.

    start_ts             transactions with ts < start_ts are passed over (not
                         delivered, not counted); the checkpoint moves past them.
                         Creating a changefeed with a start_ts older than its
                         instance's dumped position is refused (check_start_ts).
    target_ts            transactions with ts <= target_ts are delivered; at the
                         first transaction after it the changefeed stops with
                         state `finished` and its checkpoint at the last
                         transaction <= target_ts. A quiet source finishes at the
                         next transaction it writes (the checkpoint only moves
                         with transactions).
    ignore_txn_start_ts  a transaction whose ts is listed is not delivered; once
                         the checkpoint is past it, it is counted in
                         skipped_count and audited (`ignore_txn`), in the same
                         fenced metadata transaction as the checkpoint, so once.
    sink_config          for kafka:// and amqp:// sinks, `protocol` becomes the
                         sink's protocol option (canal-json or maxwell); for
                         kafka://, `dispatchers` become the sink's `table_order`
                         (first matcher that matches a table wins): table ->
                         TABLE_ORDER, rowid / index-value -> BUSINESS_KEY_ORDER
                         (primary key), ts -> TRANSACTION_ORDER, default ->
                         INSTANCE_ORDER. Other sinks ignore sink_config. Other
                         sink_config keys are refused (check_sink_config), as is
                         a sink URI or options["sink"] setting off the allow-lists
                         of workers/sinks/options.py.
"""
from dataclasses import replace
from urllib.parse import urlsplit

from workers.sinks.options import check_options, check_uri
from workers.tso import position_ts

DISPATCH_ORDER = {
    "table": "TABLE_ORDER",
    "rowid": "BUSINESS_KEY_ORDER",
    "index-value": "BUSINESS_KEY_ORDER",
    "ts": "TRANSACTION_ORDER",
    "default": "INSTANCE_ORDER",
}
SINK_PROTOCOLS = ("canal-json", "maxwell")  # what workers/sinks/messages.py encodes
MQ_SCHEMES = ("kafka", "amqp")
ACTIVE_STATES = ("normal", "error")
IDLE_STATES = ("stopped", "finished")  # the dump neither reads for these nor rewinds for them


def transaction_ts(transaction) -> int:
    """The TiCDC ts of a transaction (its commit, see the module docstring); also its start_ts."""
    return position_ts(transaction.timestamp, transaction.position.binlog_pos)


# --- checks for the API (console.domain.subscriptions) ----------------------------------------------------

def check_start_ts(instance, start_ts) -> None:
    """ValueError when a non-zero start_ts lies before what the instance has already read.

    Tower reads each instance's binlog once for all its subscriptions and does not scan
    old binlog files for a time, so a changefeed can start at the instance's dumped position
    or later. An instance whose position has no timestamp yet (binlog_when 0) accepts any.
    """
    if not start_ts:
        return
    dumped = position_ts(instance.binlog_when or 0, instance.binlog_pos or 0)
    if dumped and start_ts < dumped:
        raise ValueError(
            f"start_ts {start_ts} is older than what instance {instance.host}:{instance.port} has already read "
            f"(ts {dumped}, {instance.binlog_file}:{instance.binlog_pos}); use 0 (start now) or a ts >= {dumped}"
        )


SINK_CONFIG_KEYS = ("dispatchers", "protocol")  # what sink_options acts on; anything else is refused


def check_sink_config(sink_uri, options) -> None:
    """ValueError when the job's sink settings are refused: a sink URI parameter or an options["sink"]
    setting off the allow-lists of workers.sinks.options, a sink_config key Tower does not act on, or a
    protocol a kafka/amqp sink cannot write."""
    problems = check_uri(sink_uri)
    sink = (options or {}).get("sink")
    if sink is not None:
        problems += check_options(urlsplit(sink_uri or "").scheme.lower(), sink)
    config = (options or {}).get("sink_config") or {}
    if isinstance(config, dict):
        problems += [f"sink_config '{key}' is not supported (Tower acts on: {', '.join(SINK_CONFIG_KEYS)})"
                     for key in config if key not in SINK_CONFIG_KEYS]
    if problems:
        raise ValueError("; ".join(problems))
    protocol = config.get("protocol") if isinstance(config, dict) else None
    if protocol and urlsplit(sink_uri or "").scheme.lower() in MQ_SCHEMES and protocol not in SINK_PROTOCOLS:
        raise ValueError(f"protocol '{protocol}' is not supported by Tower's kafka/amqp sinks "
                         f"(supported: {', '.join(SINK_PROTOCOLS)})")


# --- sink options ------------------------------------------------------------------------------------

def sink_options(sub) -> dict:
    """The sink options sink_config stands for (see the module docstring); {} when none apply."""
    config = (sub.options or {}).get("sink_config") if isinstance(sub.options, dict) else None
    if not isinstance(config, dict) or not config:
        return {}
    scheme = urlsplit(sub.target.uri).scheme.lower()
    out = {}
    if scheme in MQ_SCHEMES and config.get("protocol") in SINK_PROTOCOLS:
        out["protocol"] = config["protocol"]
    if scheme == "kafka" and config.get("dispatchers"):
        out["table_order"] = [
            {"matcher": list(d.get("matcher") or []), "order_type": DISPATCH_ORDER[d.get("dispatcher")]}
            for d in config["dispatchers"]
            if isinstance(d, dict) and d.get("dispatcher") in DISPATCH_ORDER
        ]
    return out


# --- per transaction -----------------------------------------------------------------------------------

class Changefeed:
    """start_ts / target_ts / ignore_txn_start_ts of one subscription."""

    def __init__(self, start_ts=0, target_ts=0, ignore=()):
        self.start_ts = int(start_ts or 0)
        self.target_ts = int(target_ts or 0)
        self.ignore = frozenset(int(v) for v in ignore or ())
        self.finish_after = None  # commit_seq of the last transaction <= target_ts, once one past it was read
        self.ignored = {}  # commit_seq -> ts of ignored transactions not counted yet

    @classmethod
    def of(cls, sub):
        options = sub.options if isinstance(sub.options, dict) else {}
        ignore = options.get("ignore_txn_start_ts") or ()
        if not (sub.start_ts or sub.target_ts or ignore):
            return None
        return cls(sub.start_ts, sub.target_ts, ignore)

    def same_as(self, other) -> bool:
        return other is not None and (self.start_ts, self.target_ts, self.ignore) == (
            other.start_ts, other.target_ts, other.ignore)

    def admit(self, rt, todo) -> list:
        """The transactions of `todo` the runtime goes on with: ones after target_ts cut off, ones before
        start_ts or listed in ignore_txn_start_ts emptied (so the checkpoint still moves past them)."""
        out = []
        for t in todo:
            ts = transaction_ts(t)
            if self.target_ts and ts > self.target_ts:
                if not out:
                    self.finish(rt)
                    return []
                self.finish_after = out[-1].position.commit_seq
                break
            if ts and ts < self.start_ts:
                out.append(_emptied(t))
            elif ts in self.ignore:
                self.ignored[t.position.commit_seq] = ts
                out.append(_emptied(t))
            else:
                out.append(t)
        return out

    def passed(self, rt) -> None:
        """After the runtime's checkpoint moved: count ignored transactions behind it; finish when due."""
        done = rt.succeeded.commit_seq
        if self.ignored:
            for seq in [s for s in self.ignored if s <= done]:
                rt.changefeed_audit.append(("ignore_txn", {"start_ts": self.ignored.pop(seq), "commit_seq": seq}))
                rt.skipped_now += 1
                rt.status_dirty = True
        if self.finish_after is not None and done >= self.finish_after:
            self.finish(rt)

    def finish(self, rt) -> None:
        if rt.finished:
            return
        rt.finished = True
        rt.state = "finished"
        rt.status_dirty = True
        rt.changefeed_audit.append(("finish_changefeed", {
            "target_ts": self.target_ts, "checkpoint_ts": position_ts(rt.binlog_when, rt.succeeded.binlog_pos),
            "binlog_file": rt.succeeded.binlog_file, "binlog_pos": rt.succeeded.binlog_pos,
        }))


def _emptied(transaction):
    return replace(transaction, changes=[], sizes={}, json_columns=None)


# --- hooks ---------------------------------------------------------------------------------------------

def attach(rt, sub):
    """From SubscriptionRuntime.refresh: the subscription's Changefeed (None without options).

    Keeps what the old one was tracking when the options did not change, and keeps a runtime that
    finished `finished` until the status write made the row say so too.
    """
    if not hasattr(rt, "finished"):
        rt.finished = False
        rt.changefeed_audit = []
    feed = Changefeed.of(sub)
    old = getattr(rt, "changefeed", None)
    if feed is not None and feed.same_as(old):
        feed = old
    if rt.finished and rt.state in ACTIVE_STATES:
        rt.state = "finished"
    return feed


def write_status(rt, qs) -> None:
    """From workers.checkpoints._write_status, inside the fenced commit: state `finished`, audits."""
    from console.models import AuditLog, Subscription

    pending = getattr(rt, "changefeed_audit", None)
    if getattr(rt, "finished", False):
        qs.filter(state__in=ACTIVE_STATES).update(state="finished")
    if pending:
        sub = Subscription.objects.filter(pk=rt.id).only("id", "name", "group_id").first()
        if sub is not None:
            for action, data in pending:
                message = ("transaction skipped: its start_ts is in ignore_txn_start_ts" if action == "ignore_txn"
                           else "checkpoint passed target_ts: changefeed finished")
                AuditLog.record(None, action, sub, after=data, message=message)
        pending.clear()
