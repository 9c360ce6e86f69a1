"""Plug-in point between BinLogStreamReader and the generated decoders.

``fast_rows(event)`` reads the rows body of a library Write/Update/DeleteRowsEvent
straight from the event's packet buffer, without moving the packet's read
position, so ``event.rows`` (the library's own decoder) stays available as the
fallback for anything the generated code cannot reproduce.
"""
from __future__ import annotations

import logging
import threading

from pymysqlreplication.constants import BINLOG

from workers.events import LibraryLosses, row_images

from .codegen import DecodeMismatch, TableDecoder, Unsupported, table_key, table_key_fast

log = logging.getLogger(__name__)

__all__ = ["fast_rows", "fast_images", "DecoderStats", "stats", "bind_stats", "decoder_for", "clear_cache"]


class DecoderStats:
    """Counters the metrics code can read (plain ints, monotonically increasing)."""

    __slots__ = (
        "fast_rows",
        "fast_events",
        "fallback_rows",
        "fallback_events",
        "decoders_generated",
        "fallback_reasons",
    )

    def __init__(self):
        self.reset()

    def reset(self):
        self.fast_rows = 0
        self.fast_events = 0
        self.fallback_rows = 0
        self.fallback_events = 0
        self.decoders_generated = 0
        self.fallback_reasons = {}

    def snapshot(self):
        return {
            "fast_rows": self.fast_rows,
            "fast_events": self.fast_events,
            "fallback_rows": self.fallback_rows,
            "fallback_events": self.fallback_events,
            "decoders_generated": self.decoders_generated,
            "fallback_reasons": dict(self.fallback_reasons),
        }


stats = DecoderStats()  # the counters of threads that bound none (tests, benches)
_bound = threading.local()


def bind_stats(counters: DecoderStats | None) -> None:
    """Count this thread's decoding in `counters` (None: in the module's `stats` again).

    A dump's reader thread binds its dump's own counters: a worker process running several dumps as threads
    keeps each instance's counts apart."""
    _bound.stats = counters


def _counters() -> DecoderStats:
    return getattr(_bound, "stats", None) or stats

_WRITE_DELETE = frozenset(
    (
        BINLOG.WRITE_ROWS_EVENT_V1,
        BINLOG.WRITE_ROWS_EVENT_V2,
        BINLOG.DELETE_ROWS_EVENT_V1,
        BINLOG.DELETE_ROWS_EVENT_V2,
    )
)
_UPDATE = frozenset((BINLOG.UPDATE_ROWS_EVENT_V1, BINLOG.UPDATE_ROWS_EVENT_V2))

# table_key(columns) -> TableDecoder, or the reason string when unsupported.
_DECODERS: dict = {}
_MAX_DECODERS = 2048
_ATTR = "_tower_decoder"


def clear_cache():
    """Forget every generated decoder (tests; never needed for correctness)."""
    _DECODERS.clear()


def decoder_for(columns, use_column_name_cache=False):
    """The TableDecoder for a table map's columns, or a str reason it is unsupported."""
    if columns:
        dec = columns[0].__dict__.get(_ATTR)
        if dec is not None:
            return dec
    try:
        key = (table_key_fast(columns), bool(use_column_name_cache))
        dec = _DECODERS.get(key)
    except TypeError:  # ENUM/SET value lists
        key = (table_key(columns), bool(use_column_name_cache))
        dec = _DECODERS.get(key)
    if dec is None:
        try:
            dec = TableDecoder(columns, use_column_name_cache)
        except Unsupported as exc:
            dec = f"unsupported: {exc}"
            log.info("fast decoder falls back to the library: %s", dec)
        if len(_DECODERS) >= _MAX_DECODERS:
            _DECODERS.clear()
        _DECODERS[key] = dec
        _counters().decoders_generated += 1
    if columns:
        # Remembered on the table map's first Column (the library makes new Column
        # objects for every TableMap event), so the key is computed once per table map.
        columns[0].__dict__[_ATTR] = dec
    return dec


def _fallback(event, wanted, reason, lean=False):
    counters = _counters()
    counters.fallback_events += 1
    reasons = counters.fallback_reasons
    reasons[reason] = reasons.get(reason, 0) + 1
    rows = event.rows  # may raise, exactly as the library does without us
    counters.fallback_rows += len(rows)
    if wanted is not None:
        rows = [
            {k: {n: v for n, v in part.items() if n in wanted} for k, part in row.items()}
            for row in rows
        ]
    return row_images(rows, LibraryLosses.of(event.columns)) if lean else rows


def fast_rows(event, wanted=None):
    """Decode a library Write/Update/DeleteRowsEvent's rows with a generated decoder.

    Returns the same list of row dicts as ``event.rows`` ({"values",
    "none_sources"} or {"before_values", "before_none_sources",
    "after_values", "after_none_sources"}).  ``wanted``: None for every column,
    or a set of column names (a frozenset is fastest); the dicts then hold only
    those columns, and the others are skipped without building values.
    Anything not decodable here goes through the library (counted in ``stats``).
    """
    return _decode(event, wanted, False)


def fast_images(event, wanted=None):
    """The row images of ``fast_rows`` without the library's wrapping: what the engine uses.

    A list with one values dict per row of a Write/DeleteRowsEvent, or one
    ``(before, after)`` tuple of values dicts per row of an UpdateRowsEvent.
    No ``none_sources`` are built (a value the library cannot represent is
    None either way), which saves two dicts per row image.
    """
    return _decode(event, wanted, True)


def _decode(event, wanted, lean):
    if wanted is not None and type(wanted) is not frozenset:
        wanted = frozenset(wanted)
    et = event.event_type
    if et in _WRITE_DELETE:
        update = False
    elif et in _UPDATE:
        update = True
    else:
        return _fallback(event, wanted, "event type", lean)
    d = event.__dict__
    if d.get("_RowsEvent__rows") is not None:  # already decoded by the library
        return _fallback(event, wanted, "already decoded", lean)
    if not event.complete:
        return _fallback(event, wanted, "incomplete event", lean)
    cols = event.columns  # the table map this event was read with
    try:
        dec = cols[0].__dict__[_ATTR]
    except (KeyError, IndexError):
        dec = decoder_for(cols, d.get("_RowsEvent__use_column_name_cache", False))
    if dec.__class__ is str:
        return _fallback(event, wanted, dec, lean)
    if event.number_of_columns != dec.ncols:
        return _fallback(event, wanted, "column count", lean)
    wrapper = event.packet
    if wrapper._BinLogPacketWrapper__data_buffer:
        return _fallback(event, wanted, "packet state", lean)
    pkt = wrapper.packet
    pos = pkt._position
    end = pos + event.event_size - wrapper.read_bytes
    errors = "ignore" if event._ignore_decode_errors else "strict"
    try:
        fn = dec.get(
            update,
            event.columns_present_bitmap,
            event.columns_present_bitmap2 if update else None,
            wanted,
            errors,
            lean,
        )
        rows = fn(pkt._data, pos, end)
    except Unsupported as exc:
        return _fallback(event, wanted, f"unsupported: {exc}", lean)
    except Exception as exc:  # DecodeMismatch, struct.error, bad values: the library decides
        reason = f"{type(exc).__name__}: {exc}" if isinstance(exc, DecodeMismatch) else type(exc).__name__
        return _fallback(event, wanted, reason, lean)
    counters = _counters()
    counters.fast_rows += len(rows)
    counters.fast_events += 1
    return rows
