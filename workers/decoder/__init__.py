"""Fast binlog row decoding: one generated decoder per table schema.

Public API
==========

``fast_rows(event, wanted=None) -> list[dict]``
    ``event`` is a python-mysql-replication ``WriteRowsEvent``,
    ``UpdateRowsEvent`` or ``DeleteRowsEvent`` as yielded by a normal
    ``BinLogStreamReader`` (no special reader options are needed).  Returns
    exactly what ``event.rows`` would (same values, types, dict order,
    Decimal digits/exponent, ``none_sources``), about 10x faster::

        from workers.decoder import fast_rows, stats
        for event in stream:                       # a BinLogStreamReader
            if isinstance(event, (WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent)):
                if not table_wanted(event.schema, event.table):
                    continue                       # not decoded at all
                rows = fast_rows(event, wanted=field_list_or_None)

    ``wanted``: ``None`` for every column, or a set of column names (pass a
    ``frozenset`` and reuse it: it is part of the cache key).  The returned
    dicts then contain only those columns (in table order, also in
    ``none_sources``); the other columns are skipped without building Python
    objects.  Unknown names are ignored.

    Call it once per event and do not touch ``event.rows`` before (the library
    decoder consumes the packet; if it already ran, its rows are returned and
    counted as a fallback).  Tables nobody wants: don't call ``fast_rows`` (or
    better, keep them out with ``only_tables``/``only_schemas`` on the reader).

    Schema changes: the decoder is keyed by the table map's full column
    description (types, metadata, names, signedness, charsets, enum/set
    values), so a new TableMap with different columns gets a new decoder, and
    each event is decoded with the table map it was read with.  Columns-present
    bitmaps (binlog_row_image FULL/MINIMAL/NOBLOB) and ``wanted`` specialise the
    generated code further; everything is generated once and cached.

    Anything the generated code cannot reproduce exactly (unknown column types,
    MySQL PARTIAL_UPDATE_ROWS events, nameless columns with
    ``use_column_name_cache``, malformed data, ...) is decoded by the library
    instead: never a wrong value, and counted.

``fast_images(event, wanted=None) -> list``
    The same values without the library's wrapping, for the engine: one
    values dict per row (Write/Delete), or one ``(before, after)`` tuple of
    values dicts per row (Update); no ``none_sources`` are built.

``stats``
    Module-level counters for metrics: ``stats.fast_rows``,
    ``stats.fast_events``, ``stats.fallback_rows``, ``stats.fallback_events``,
    ``stats.decoders_generated``, ``stats.fallback_reasons`` (reason -> events);
    ``stats.snapshot()`` returns them as a dict. ``bind_stats(counters)`` makes
    the calling thread count in its own ``DecoderStats`` instead (a dump's reader).

``decoder_for(columns)`` / ``clear_cache()``
    Lower level: the cached ``TableDecoder`` for a table map's column list (or
    a str reason when unsupported), and cache reset (tests).
"""
from .stream import DecoderStats, bind_stats, clear_cache, decoder_for, fast_images, fast_rows, stats

__all__ = ["fast_rows", "fast_images", "stats", "bind_stats", "DecoderStats", "decoder_for", "clear_cache"]
