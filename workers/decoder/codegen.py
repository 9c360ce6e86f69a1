"""Generate, compile and cache a row decoder per table schema.

A decoder is Python source built for one table map (column types, metadata,
signedness, charsets, names) and one columns-present bitmap per row image,
then ``exec``'d once.  Consecutive fixed-width fields are read with a single
``struct.unpack_from`` call; values are built inline, with no per-value
function calls where Python allows it.  The output mirrors
python-mysql-replication 1.0.17's ``RowsEvent.rows`` exactly (value, type,
dict order, Decimal digits and exponent, ``none_sources``).

Anything the generator cannot reproduce exactly raises :class:`Unsupported`
(at generation time) or :class:`DecodeMismatch` (at decode time); the caller
then uses the library's decoder for that event.
"""
from __future__ import annotations

import datetime
import decimal
import struct

from pymysqlreplication.constants import FIELD_TYPE as FT
from pymysqlreplication.constants import NONE_SOURCE
from pymysqlreplication.json_binary import parse_json

from workers.events import string_encoding

__all__ = ["Unsupported", "DecodeMismatch", "table_key", "TableDecoder"]


class Unsupported(Exception):
    """The table (or this event's shape) cannot be decoded by generated code."""


class DecodeMismatch(Exception):
    """The data did not have the expected shape; decode with the library instead."""


# A private context: DECIMAL(65, 30) needs 65 digits, never rounded.
_CTX = decimal.Context(prec=200, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)

_COMPRESSED_BYTES = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)
_FSP_BYTES = {0: 0, 1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 6: 3}
_FSP_FMT = {1: "b", 2: "h", 3: "bH"}  # big-endian, signed like the library's read_int_be_by_size


def _dt2_slow(y, mo, d, h, mi, s, us):
    """DATETIME2 when the one-call constructor failed: same rules as the library."""
    try:
        t = datetime.datetime(y, mo, d, h, mi, s)
    except ValueError:
        return None
    if us > 0:
        t = t.replace(microsecond=us)  # may raise, as the library does
    return t


def _column_key(c):
    d = c.__dict__
    if c.type in (FT.ENUM, FT.SET):
        return tuple(tuple(v) if isinstance(v, list) else v for v in d.values())
    try:
        return tuple(d.values())
    except TypeError:  # pragma: no cover - defensive
        return tuple(tuple(v) if isinstance(v, list) else v for v in d.values())


def table_key(columns):
    """The full description of a table map's columns, usable as a dict key."""
    key = tuple([tuple(c.__dict__.values()) for c in columns])
    try:
        hash(key)
    except TypeError:  # ENUM/SET value lists
        key = tuple(map(_column_key, columns))
    return key


def table_key_fast(columns):
    """table_key, or a possibly unhashable cheaper form (the caller catches TypeError)."""
    return tuple([tuple(c.__dict__.values()) for c in columns])


def _encoding_for(col):
    """(mode, encoding): mode 'dec' to bytes.decode(encoding), 'raw' to keep bytes."""
    enc = string_encoding(col)
    return ("raw", None) if enc is None else ("dec", enc)


class _Plan:
    """How one column of one row image is read.

    ops: ("u", endian, fmt, [names]) -> names = unpack; ("slice", lenexpr, var);
    ("skip", lenexpr).  code: statements run after the ops; expr: the value.
    """

    __slots__ = ("ops", "code", "expr", "none_src")

    def __init__(self, ops, code=(), expr=None, none_src=None):
        self.ops = ops
        self.code = list(code)
        self.expr = expr
        self.none_src = none_src


class _Gen:
    def __init__(self, exact=False):
        self.ns = {
            "_D": decimal.Decimal,
            "_CTX": _CTX,
            "_date": datetime.date,
            "_datetime": datetime.datetime,
            "_td": datetime.timedelta,
            "_utc": datetime.datetime.utcfromtimestamp,
            "_pj": parse_json,
            "_M": DecodeMismatch,
            "_dt2slow": _dt2_slow,
            "_from_bytes": int.from_bytes,
        }
        # True for the engine's row images (`lean`): values as the server holds them where the library's
        # differ (workers.events.LibraryLosses); False: exactly the library's.
        self.exact = exact
        self._structs = {}
        self._consts = {}

    def struct(self, fmt):
        name = self._structs.get(fmt)
        if name is None:
            name = f"_S{len(self._structs)}"
            self._structs[fmt] = name
            self.ns[name] = struct.Struct(fmt).unpack_from
        return name

    def const(self, value, hint="_K"):
        key = (type(value), repr(value))
        name = self._consts.get(key)
        if name is None:
            name = f"{hint}{len(self._consts)}"
            self._consts[key] = name
            self.ns[name] = value
        return name


# ---------------------------------------------------------------- per type

_INT_FMT = {
    FT.TINY: ("b", "B"),
    FT.SHORT: ("h", "H"),
    FT.LONG: ("i", "I"),
    FT.LONGLONG: ("q", "Q"),
}
_LEN_FMT = {1: "B", 2: "H", 3: "HB", 4: "I"}


def _len_op(size, p):
    fmt = _LEN_FMT.get(size)
    if fmt is None:
        raise Unsupported(f"length prefix of {size} bytes")
    if size == 3:
        return ("u", "<", fmt, [f"{p}l", f"{p}h"]), f"({p}l | {p}h << 16)"
    return ("u", "<", fmt, [f"{p}l"]), f"{p}l"


def _fixed_size(col):
    t = col.type
    if t in (FT.TINY, FT.YEAR):
        return 1
    if t == FT.SHORT:
        return 2
    if t in (FT.INT24, FT.DATE, FT.TIME):
        return 3
    if t in (FT.LONG, FT.FLOAT, FT.TIMESTAMP):
        return 4
    if t in (FT.LONGLONG, FT.DOUBLE, FT.DATETIME):
        return 8
    if t == FT.DATETIME2:
        return 5 + _fsp_bytes(col)
    if t == FT.TIMESTAMP2:
        return 4 + _fsp_bytes(col)
    if t == FT.TIME2:
        return 3 + _fsp_bytes(col)
    if t == FT.NEWDECIMAL:
        return sum(size for size, _ in _decimal_fields(col))
    if t in (FT.ENUM, FT.SET):
        if not 1 <= col.size <= 8:
            raise Unsupported("enum/set size")
        return col.size
    if t == FT.BIT:
        return col.bytes
    return None


def _fsp_bytes(col):
    fsp = getattr(col, "fsp", None)
    if fsp not in _FSP_BYTES:
        raise Unsupported(f"fsp {fsp!r}")
    return _FSP_BYTES[fsp]


def _decimal_fields(col):
    """[(bytes, digits)] of a DECIMAL's binary form, most significant first."""
    prec, scale = col.precision, col.decimals
    if not (0 < prec <= 65 and 0 <= scale <= prec and scale <= 38):
        raise Unsupported("decimal precision")
    intg = prec - scale
    fields = []
    lead = intg % 9
    if lead:
        fields.append((_COMPRESSED_BYTES[lead], lead))
    fields += [(4, 9)] * (intg // 9)
    fields += [(4, 9)] * (scale // 9)
    trail = scale % 9
    if trail:
        fields.append((_COMPRESSED_BYTES[trail], trail))
    return fields


def _fsp_part(col, p, g):
    """(ops, code) reading the fractional seconds into {p}us like the library's __read_fsp."""
    fsp = col.fsp
    nbytes = _FSP_BYTES[fsp]
    if nbytes == 0:
        return [], [f"{p}us = 0"]
    if nbytes == 3:
        ops = [("u", ">", "bH", [f"{p}fh", f"{p}fl"])]
        raw = f"({p}fh * 65536 + {p}fl)"
    else:
        ops = [("u", ">", _FSP_FMT[nbytes], [f"{p}f"])]
        raw = f"{p}f"
    if fsp % 2:
        raw = f"int({raw} / 10)"
    mult = 10 ** (6 - fsp)
    code = [f"{p}us = {raw} * {mult}" if mult != 1 else f"{p}us = {raw}"]
    return ops, code


def _plan_exact_time2(col, p):
    """TIME2 with fractional seconds as the server reads it: the integer and fractional parts are one signed
    fixed-point number (the library negates the integer part alone and reads the fraction as signed on its
    own, so -01:00:00.001 arrives as -01:00:00.999)."""
    nbytes = _FSP_BYTES[col.fsp]
    if nbytes == 3:
        ops = [("u", ">", "BHBH", [f"{p}h", f"{p}l", f"{p}fh", f"{p}fl"])]
        raw = f"(({p}h << 16 | {p}l) << 24 | {p}fh << 16 | {p}fl)"
    else:
        ops = [("u", ">", "BH" + ("B" if nbytes == 1 else "H"), [f"{p}h", f"{p}l", f"{p}f"])]
        raw = f"(({p}h << 16 | {p}l) << {8 * nbytes} | {p}f)"
    bits, scale = 8 * nbytes, {1: 10000, 2: 100, 3: 1}[nbytes]
    code = [
        f"{p}v = {raw} - {0x800000 << bits}",
        f"{p}a = -{p}v if {p}v < 0 else {p}v",
        f"{p}i = {p}a >> {bits}",
        f"{p} = _td(0, ({p}i >> 12 & 1023) * 3600 + ({p}i >> 6 & 63) * 60 + ({p}i & 63), "
        f"({p}a & {(1 << bits) - 1}) * {scale})",
        f"if {p}v < 0:",
        f"    {p} = -{p}",
    ]
    return _Plan(ops, code, p)


def _plan(col, p, g, wanted, errors):
    t = col.type
    size = _fixed_size(col)
    if size is not None and not wanted:
        return _Plan([("u", None, "x" * size, [])])

    if t in _INT_FMT:
        fmt = _INT_FMT[t][1 if col.unsigned else 0]
        return _Plan([("u", "<", fmt, [f"{p}"])], expr=p)
    if t == FT.INT24:
        fmt = "HB" if col.unsigned else "Hb"
        return _Plan([("u", "<", fmt, [f"{p}l", f"{p}h"])], expr=f"({p}l + ({p}h << 16))")
    if t == FT.FLOAT:
        return _Plan([("u", "<", "f", [p])], expr=p)
    if t == FT.DOUBLE:
        return _Plan([("u", "<", "d", [p])], expr=p)
    if t == FT.YEAR:
        if g.exact:  # the zero year is 0, not the library's 1900
            return _Plan([("u", "<", "B", [p])], expr=f"({p} + 1900 if {p} else 0)")
        return _Plan([("u", "<", "B", [p])], expr=f"({p} + 1900)")
    if t == FT.NEWDECIMAL:
        return _plan_decimal(col, p, g)
    if t == FT.DATE:
        code = [
            f"{p}t = {p}l | {p}h << 16",
            f"{p}y = {p}t >> 9",
            f"{p}m = {p}t >> 5 & 15",
            f"{p}d = {p}t & 31",
            f"{p} = _date({p}y, {p}m, {p}d) if {p}y and {p}m and {p}d else None",
        ]
        return _Plan([("u", "<", "HB", [f"{p}l", f"{p}h"])], code, p, NONE_SOURCE.OUT_OF_DATE_RANGE)
    if t == FT.TIME:
        code = [f"{p}t = {p}l | {p}h << 16"]
        expr = f"_td(0, {p}t // 10000 * 3600 + {p}t % 10000 // 100 * 60 + {p}t % 100)"
        return _Plan([("u", "<", "HB", [f"{p}l", f"{p}h"])], code, expr)
    if t == FT.DATETIME:
        code = [
            f"{p}dd = {p}r // 1000000",
            f"{p}tt = {p}r % 1000000",
            f"{p}y = {p}dd // 10000",
            f"{p}m = {p}dd % 10000 // 100",
            f"{p}d = {p}dd % 100",
            f"{p} = _datetime({p}y, {p}m, {p}d, {p}tt // 10000, {p}tt % 10000 // 100, {p}tt % 100)"
            f" if {p}y and {p}m and {p}d else None",
        ]
        return _Plan([("u", "<", "Q", [f"{p}r"])], code, p, NONE_SOURCE.OUT_OF_DATETIME_RANGE)
    if t == FT.TIMESTAMP:
        if g.exact:  # 0 is the zero timestamp ('0000-00-00 00:00:00'), not the library's 1970-01-01
            return _Plan([("u", "<", "I", [f"{p}s"])], expr=f"(_utc({p}s) if {p}s else None)")
        return _Plan([("u", "<", "I", [f"{p}s"])], expr=f"_utc({p}s)")
    if t == FT.DATETIME2:
        fops, fcode = _fsp_part(col, p, g)
        ops = [("u", ">", "BI", [f"{p}h", f"{p}l"])] + fops
        args = (
            f"{p}ym // 13, {p}ym % 13, {p}l >> 17 & 31, {p}l >> 12 & 31, {p}l >> 6 & 63, {p}l & 63"
        )
        code = fcode + [
            f"{p}ym = ({p}h & 127) << 10 | {p}l >> 22",
            "try:",
            f"    {p} = _datetime({args}, {p}us)",
            "except ValueError:",
            f"    {p} = _dt2slow({args}, {p}us)",
        ]
        return _Plan(ops, code, p, NONE_SOURCE.OUT_OF_DATETIME2_RANGE)
    if t == FT.TIMESTAMP2:
        fops, fcode = _fsp_part(col, p, g)
        ops = [("u", ">", "i", [f"{p}s"])] + fops
        zero = f" if {p}s else None" if g.exact else ""  # the zero timestamp, as for TIMESTAMP
        if col.fsp == 0:
            return _Plan(ops, [], f"(_utc({p}s){zero})")
        code = fcode + [f"{p} = (_utc({p}s).replace(microsecond={p}us) if {p}us > 0 else _utc({p}s)){zero}"]
        return _Plan(ops, code, p)
    if t == FT.TIME2 and g.exact and _FSP_BYTES[col.fsp]:
        return _plan_exact_time2(col, p)
    if t == FT.TIME2:
        fops, fcode = _fsp_part(col, p, g)
        ops = [("u", ">", "BH", [f"{p}h", f"{p}l"])] + fops
        code = fcode + [
            f"{p}u = {p}h << 16 | {p}l",
            f"if {p}u & 0x800000:",
            f"    {p} = _td(0, ({p}u >> 12 & 1023) * 3600 + ({p}u >> 6 & 63) * 60 + ({p}u & 63), {p}us)",
            "else:",
            f"    {p}u = -{p}u",
            f"    {p} = -_td(0, ({p}u >> 12 & 1023) * 3600 + ({p}u >> 6 & 63) * 60 + ({p}u & 63), {p}us)",
        ]
        return _Plan(ops, code, p)
    if t == FT.ENUM:
        if col.enum_values is None:
            raise Unsupported("enum without values")
        fmt = {1: "B", 2: "H"}.get(col.size)
        if fmt is None:
            raise Unsupported("enum size")
        k = g.const(tuple(col.enum_values), "_E")
        return _Plan([("u", "<", fmt, [f"{p}i"])], expr=f"{k}[{p}i]")
    if t == FT.SET:
        fmt = {1: "B", 2: "H", 4: "I", 8: "Q"}.get(col.size)
        if fmt is None:
            ops = [("u", "<", f"{col.size}s", [f"{p}b"])]
            code = [f"{p}i = _from_bytes({p}b, 'little')"]
        else:
            ops = [("u", "<", fmt, [f"{p}i"])]
            code = []
        if col.set_values:
            pairs = g.const(tuple((1 << i, v) for i, v in enumerate(col.set_values)), "_P")
            empty = "" if g.exact else " or None"  # the library cannot tell an empty SET from NULL
            code.append(f"{p} = {{v for b, v in {pairs} if {p}i & b}}{empty}")
        else:
            code.append(f"{p} = None")
        return _Plan(ops, code, p, NONE_SOURCE.EMPTY_SET)
    if t == FT.BIT:
        nbytes, bits = col.bytes, col.bits
        if not (1 <= nbytes <= 8 and 1 <= bits <= 64 and nbytes == (bits + 7) // 8):
            raise Unsupported("bit size")
        fmt = {1: "B", 2: "H", 4: "I", 8: "Q"}.get(nbytes)
        if fmt is None:
            ops = [("u", ">", f"{nbytes}s", [f"{p}b"])]
            val = f"_from_bytes({p}b, 'big')"
        else:
            ops = [("u", ">", fmt, [f"{p}b"])]
            val = f"{p}b"
        mask = (1 << bits) - 1
        return _Plan(ops, expr=f"format({val} & {mask}, '0{bits}b')")

    # variable length
    if t in (FT.VARCHAR, FT.STRING):
        return _plan_string(col, p, g, wanted, errors, 2 if col.max_length > 255 else 1)
    if t == FT.BLOB:
        return _plan_string(col, p, g, wanted, errors, col.length_size)
    if t == FT.GEOMETRY:
        lop, lexpr = _len_op(col.length_size, p)
        if not wanted:
            return _Plan([lop, ("skip", lexpr)])
        return _Plan([lop, ("slice", lexpr, f"{p}s")], expr=f"{p}s")
    if t == FT.JSON:
        lop, lexpr = _len_op(col.length_size, p)
        if not wanted:
            return _Plan([lop, ("skip", lexpr)])
        code = [
            f"if not {p}s:",
            "    raise _M('empty json')",  # the library keeps a stale none source here
            f"{p} = _pj({p}s[0], {p}s[1:])",
            # a JSON null: the library reports a stale none source, let it decide
            f"if {p} is None:",
            "    raise _M('json null')",
        ]
        return _Plan([lop, ("slice", lexpr, f"{p}s")], code, p)
    raise Unsupported(f"column type {t}")


def _plan_string(col, p, g, wanted, errors, lsize):
    lop, lexpr = _len_op(lsize, p)
    if not wanted:
        return _Plan([lop, ("skip", lexpr)])
    mode, enc = _encoding_for(col)
    ops = [lop, ("slice", lexpr, f"{p}s")]
    if mode == "raw":
        if g.exact:
            return _Plan(ops, expr=f"{p}s")
        # bytes.decode(<unknown codec>) raises LookupError, except for b"" which gives ''.
        return _Plan(ops, expr=f"({p}s or '')")
    if errors == "strict":
        return _Plan(ops, expr=f"{p}s.decode({enc!r})")
    return _Plan(ops, expr=f"{p}s.decode({enc!r}, {errors!r})")


def _plan_decimal(col, p, g):
    fields = _decimal_fields(col)
    scale = col.decimals
    ops = []
    names = []
    code = []
    for j, (size, digits) in enumerate(fields):
        n = f"{p}_{j}"
        names.append(n)
        if size == 3:
            ops.append(("u", ">", "BH", [f"{n}h", f"{n}l"]))
            code.append(f"{n} = {n}h << 16 | {n}l")
        else:
            ops.append(("u", ">", {1: "B", 2: "H", 4: "I"}[size], [n]))
    sign0 = 1 << (8 * fields[0][0] - 1)
    pos_code = [f"    {names[0]} ^= {sign0}"]
    neg_code = []
    for j, (size, digits) in enumerate(fields):
        allones = (1 << (8 * size)) - 1
        neg_code.append(f"    {names[j]} ^= {allones ^ sign0 if j == 0 else allones}")
    limits = " or ".join(f"{names[j]} > {10 ** d - 1}" for j, (_, d) in enumerate(fields))
    check = [f"    if {limits}:", "        raise _M('decimal digits')"]
    expr = names[0]
    for j in range(1, len(fields)):
        expr = f"({expr}) * {10 ** fields[j][1]} + {names[j]}"
    if scale:
        posv = f"_D({p}n).scaleb({-scale}, _CTX)"
        negv = f"_D(-{p}n).scaleb({-scale}, _CTX)"
    else:
        posv = f"_D({p}n)"
        negv = f"_D(-{p}n)"
    negzero = g.const(decimal.Decimal("-0." + "0" * scale), "_NZ")
    code += [
        f"if {names[0]} & {sign0}:",
        *pos_code,
        *check,
        f"    {p}n = {expr}",
        f"    {p} = {posv}",
        "else:",
        *neg_code,
        *check,
        f"    {p}n = {expr}",
        f"    {p} = {negv} if {p}n else {negzero}",
    ]
    return _Plan(ops, code, p)


# ---------------------------------------------------------------- emission


class _Emitter:
    """Straight-line code: merges consecutive fixed-width reads into one unpack."""

    def __init__(self, g, lines, indent):
        self.g = g
        self.lines = lines
        self.ind = " " * indent
        self.endian = None
        self.fmt = ""
        self.names = []
        self.pending = []

    def flush(self):
        if self.fmt:
            fmt = (self.endian or "<") + self.fmt
            size = struct.calcsize(fmt)
            if self.names:
                s = self.g.struct(fmt)
                self.lines.append(f"{self.ind}{', '.join(self.names)}, = {s}(data, pos)")
            self.lines.append(f"{self.ind}pos += {size}")
        self.endian, self.fmt, self.names = None, "", []
        for line in self.pending:
            self.lines.append(self.ind + line)
        self.pending = []

    def op(self, op):
        kind = op[0]
        if kind == "u":
            _, endian, fmt, names = op
            if endian is not None and self.endian is not None and endian != self.endian:
                self.flush()
            if endian is not None:
                self.endian = endian
            self.fmt += fmt
            self.names += names
        elif kind == "slice":
            self.flush()
            _, lexpr, var = op
            self.lines.append(f"{self.ind}{var} = data[pos:pos + {lexpr}]")
            self.lines.append(f"{self.ind}pos += {lexpr}")
        elif kind == "skip":
            self.flush()
            self.lines.append(f"{self.ind}pos += {op[1]}")
        else:  # pragma: no cover
            raise AssertionError(kind)

    def plan(self, plan):
        for op in plan.ops:
            self.op(op)
        self.pending += plan.code


class _Col:
    __slots__ = ("i", "name", "col", "present", "wanted", "plan", "bit")


def _image(g, columns, names, bitmap, wanted, errors, prefix, lines, indent, lean=False):
    """Emit code decoding one row image into {prefix}v (values) and, unless `lean`, {prefix}n (none sources)."""
    ncols = len(columns)
    present_count = sum(1 for i in range(ncols) if bitmap[i >> 3] & (1 << (i & 7)))
    # Like the library: the null bitmap is sized by every bit set in the bitmap bytes.
    nb_len = (sum(bin(b).count("1") for b in bitmap) + 7) // 8
    ind = " " * indent
    cols = []
    k = 0
    for i, column in enumerate(columns):
        c = _Col()
        c.i, c.name, c.col = i, names[i], column
        c.present = bool(bitmap[i >> 3] & (1 << (i & 7)))
        c.wanted = wanted is None or c.name in wanted
        c.plan = None
        if c.present:
            c.plan = _plan(column, f"{prefix}{i}", g, c.wanted, errors)
            c.bit = k
            k += 1
        cols.append(c)
    return _emit_image(g, cols, present_count, nb_len, prefix, lines, ind, lean)


def _emit_image(g, cols, present_count, nb_len, prefix, lines, ind, lean):
    nb = f"{prefix}nb"
    if nb_len == 0:
        lines.append(f"{ind}{nb} = 0")
    elif nb_len == 1:
        lines.append(f"{ind}{nb} = data[pos]")
    elif nb_len in (2, 4, 8):
        s = g.struct("<" + {2: "H", 4: "I", 8: "Q"}[nb_len])
        lines.append(f"{ind}{nb}, = {s}(data, pos)")
    else:
        lines.append(f"{ind}{nb} = _from_bytes(data[pos:pos + {nb_len}], 'little')")
    if nb_len:
        lines.append(f"{ind}pos += {nb_len}")
    mask = (1 << present_count) - 1
    vals, nsrc = f"{prefix}v", f"{prefix}n"
    wanted_cols = [c for c in cols if c.wanted]
    any_maybe_none = any(c.present and c.plan.none_src for c in wanted_cols)

    # -------- fast path: no NULL among the present columns
    lines.append(f"{ind}if not {nb} & {mask}:")
    em = _Emitter(g, lines, len(ind) + 4)
    for c in cols:
        if c.present:
            em.plan(c.plan)
    em.flush()
    fi = ind + "    "
    if lean:
        pass  # values only: why a value is None is not asked for
    elif any_maybe_none:
        lines.append(f"{fi}{nsrc} = {{}}")
        for c in wanted_cols:
            if not c.present:
                lines.append(f"{fi}{nsrc}[{c.name!r}] = {NONE_SOURCE.COLS_BITMAP!r}")
            elif c.plan.none_src:
                lines.append(f"{fi}if {c.plan.expr} is None:")
                lines.append(f"{fi}    {nsrc}[{c.name!r}] = {c.plan.none_src!r}")
    else:
        items = ", ".join(
            f"{c.name!r}: {NONE_SOURCE.COLS_BITMAP!r}" for c in wanted_cols if not c.present
        )
        lines.append(f"{fi}{nsrc} = {{{items}}}")
    items = ", ".join(
        f"{c.name!r}: {c.plan.expr if c.present else 'None'}" for c in wanted_cols
    )
    lines.append(f"{fi}{vals} = {{{items}}}")

    # -------- general path: some NULLs
    lines.append(f"{ind}else:")
    if not lean:
        lines.append(f"{fi}{nsrc} = {{}}")
    for c in cols:
        if not c.present:
            if c.wanted and not lean:
                lines.append(f"{fi}{nsrc}[{c.name!r}] = {NONE_SOURCE.COLS_BITMAP!r}")
            continue
        var = f"{prefix}{c.i}"
        lines.append(f"{fi}if {nb} & {1 << c.bit}:")
        if c.wanted:
            lines.append(f"{fi}    {var} = None")
            if not lean:
                lines.append(f"{fi}    {nsrc}[{c.name!r}] = {NONE_SOURCE.NULL!r}")
        else:
            lines.append(f"{fi}    pass")
        lines.append(f"{fi}else:")
        em = _Emitter(g, lines, len(fi) + 4)
        em.plan(c.plan)
        em.flush()
        if c.wanted:
            if c.plan.expr != var:
                lines.append(f"{fi}    {var} = {c.plan.expr}")
            if c.plan.none_src and not lean:
                lines.append(f"{fi}    if {var} is None:")
                lines.append(f"{fi}        {nsrc}[{c.name!r}] = {c.plan.none_src!r}")
    items = ", ".join(
        f"{c.name!r}: {prefix + str(c.i) if c.present else 'None'}" for c in wanted_cols
    )
    lines.append(f"{fi}{vals} = {{{items}}}")


def generate(columns, names, update, bitmap1, bitmap2, wanted, errors, lean=False):
    """Return (source, namespace) of a ``decode(data, pos, end) -> rows`` function.

    The rows are the library's dicts, or with `lean` only the value dicts: one per
    row, or a (before, after) tuple per row of an update.
    """
    g = _Gen(exact=lean)
    lines = [
        "def decode(data, pos, end):",
        "    rows = []",
        "    append = rows.append",
        "    while pos < end:",
    ]
    _image(g, columns, names, bitmap1, wanted, errors, "a", lines, 8, lean)
    if update:
        _image(g, columns, names, bitmap2, wanted, errors, "b", lines, 8, lean)
        if lean:
            lines.append("        append((av, bv))")
        else:
            lines.append(
                "        append({'before_values': av, 'before_none_sources': an,"
                " 'after_values': bv, 'after_none_sources': bn})"
            )
    elif lean:
        lines.append("        append(av)")
    else:
        lines.append("        append({'values': av, 'none_sources': an})")
    lines += [
        "    if pos != end:",
        "        raise _M('row data length')",
        "    return rows",
    ]
    return "\n".join(lines) + "\n", g.ns


def compile_decoder(columns, names, update, bitmap1, bitmap2, wanted, errors, lean=False):
    source, ns = generate(columns, names, update, bitmap1, bitmap2, wanted, errors, lean)
    code = compile(source, "<tower-decoder>", "exec")
    exec(code, ns)
    fn = ns["decode"]
    fn.__tower_source__ = source
    return fn


class TableDecoder:
    """Decoders for one table schema, specialised per (event kind, bitmaps, wanted, errors, lean)."""

    MAX_VARIANTS = 256

    def __init__(self, columns, use_column_name_cache=False):
        self.columns = list(columns)
        self.ncols = len(self.columns)
        names = []
        for i, c in enumerate(self.columns):
            if not c.name:
                if use_column_name_cache:
                    raise Unsupported("column names come from information_schema")
                if c.type == FT.SET:
                    raise Unsupported("nameless SET column")
                names.append("UNKNOWN_COL" + str(i))
            else:
                names.append(c.name)
        if len(set(names)) != len(names):
            raise Unsupported("duplicate column names")
        self.names = names
        # Validate every column once so unsupported tables fail here, not per event.
        g = _Gen()
        for i, c in enumerate(self.columns):
            _plan(c, f"c{i}", g, True, "strict")
        self.variants = {}

    def get(self, update, bitmap1, bitmap2, wanted, errors, lean=False):
        key = (update, bitmap1, bitmap2, wanted, errors, lean)
        fn = self.variants.get(key)
        if fn is None:
            if len(self.variants) >= self.MAX_VARIANTS:
                self.variants.clear()
            fn = compile_decoder(self.columns, self.names, update, bitmap1, bitmap2, wanted, errors, lean)
            self.variants[key] = fn
        return fn
