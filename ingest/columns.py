"""Per-row checks of one chunk of a table: contract text or typed Parquet -> staged Arrow.

Every function here works on one chunk (a few hundred thousand rows at
most), column-wise with Arrow compute and numpy; none looks at another chunk,
so memory is bounded by the chunk whatever the size of the table. Cross-row
checks (duplicate keys, foreign keys, the data period) run afterwards over
the staged chunks (:mod:`ringscope.ingest.crossrow`).

:func:`parse_column` turns a raw column (cleaned text from CSV, or typed
Parquet data) into its staged Arrow type (:mod:`ringscope.ingest.staged`),
recording in :class:`Errors` the first problem of each row with its column
and reason. The rules, as before the reader streamed:

- surrounding whitespace is stripped and only an empty field is null (``NA``
  in an id is an id);
- enum values match case-insensitively and are stored in their canonical
  spelling; booleans accept ``true/false``, ``1/0``, ``yes/no``;
- dates accept ``YYYY-MM-DD`` (and a midnight ``YYYY-MM-DDT00:00:00``);
  timestamps any ISO 8601 spelling; an explicit offset (``Z``, ``+08:00``)
  is converted to Asia/Shanghai wall time;
- numbers: **money is read as a decimal**: text is parsed as the decimal it
  spells (the nearest float64), a Parquet ``decimal128`` or ``float32`` column
  goes through its exact / shortest decimal text (``float32`` 0.1 is
  0.100000001490116..., read here as 0.1, the value the exporter wrote),
  and a boolean column is not a number ("not a number: a boolean column");
- plausibility (issue 17.2): a money value beyond ``max_money`` in absolute
  value (1e308 yuan) or a quantity beyond ``max_quantity`` is quarantined
  with the bound named; ``visits.end_time`` before ``start_time`` and
  ``persons.death_date`` before ``birth_date`` too.

>>> import pyarrow as pa
>>> errs = Errors(3)
>>> from ringscope.ingest.contract import TABLES
>>> col = TABLES["visits"].column("total_amount")
>>> parse_column("visits", col, Text(pa.array(["12.5", "1e308", "x"])), 3, errs, Limits()).to_pylist()
[12.5, None, None]
>>> errs.reason[1:].tolist()
["total_amount '1e308' is beyond the plausible bound of 100,000,000 (max_money)", "unparsable number 'x'"]
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ringscope.ingest.contract import Column, Table
from ringscope.ingest.staged import ENCODING_DIM, staged_type

__all__ = ["Text", "RawColumn", "Errors", "Limits", "parse_column", "extra_array", "check_one_of",
           "check_order", "show", "as_text", "present", "LOCAL_TZ", "ROW_COLUMN"]

LOCAL_TZ = "Asia/Shanghai"
ROW_COLUMN = "(row)"            # `column` of a quarantine row about the whole CSV record
_SHOW_MAX = 40                  # bad values are shown up to this many characters
_BOOLS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
_OFFSET_RE = r"[T ]\d{1,2}:\d{2}.*(?:Z|z|[+-]\d{2}(?::?\d{2})?)$"
# Columns typed ``str`` whose text still has a documented format.
_STR_FORMATS: dict[tuple[str, str], tuple[str, str]] = {
    ("inventory", "period"): (r"^\d{4}-(?:0[1-9]|1[0-2])$", "YYYY-MM"),
}
# (table, later column) -> earlier column it may not precede
_ORDERED: dict[tuple[str, str], str] = {
    ("visits", "end_time"): "start_time",
    ("persons", "death_date"): "birth_date",
}
_NS_MIN = np.datetime64("1678-01-01", "D")
_NS_MAX = np.datetime64("2261-12-31", "D")


@dataclass(frozen=True)
class Limits:
    """Plausibility bounds of single values (documented defaults; ``read_dataset`` passes them)."""

    max_money: float = 1e8        # yuan, absolute value: no visit, line or price reaches 100 million
    max_quantity: float = 1e7     # units of an item, absolute value


# =========================================================================== raw columns
class Text:
    """A cleaned text column: Arrow strings, trimmed, empty -> null; pandas views made on demand."""

    def __init__(self, arr: pa.ChunkedArray | pa.Array):
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
        if pa.types.is_dictionary(arr.type):
            arr = arr.cast(arr.type.value_type)
        if not pa.types.is_string(arr.type):
            arr = arr.cast(pa.string())
        trimmed = pc.utf8_trim_whitespace(arr)
        self.arrow: pa.Array = pc.if_else(pc.equal(pc.utf8_length(trimmed), 0),
                                          pa.scalar(None, pa.string()), trimmed)
        self._series: pd.Series | None = None
        self._present: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.arrow)

    @property
    def series(self) -> pd.Series:
        """object Series of ``str`` / ``None``."""
        if self._series is None:
            out = self.arrow.to_numpy(zero_copy_only=False)
            self._series = pd.Series(out if out.dtype == object else out.astype(object), dtype=object)
        return self._series

    @property
    def present(self) -> np.ndarray:
        if self._present is None:
            self._present = _valid(self.arrow)
        return self._present


RawColumn = Text | pa.Array   # cleaned text, or typed Arrow data (Parquet)


def _valid(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _mask(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Arrow boolean -> numpy bool (null -> False)."""
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _flat(arr: pa.ChunkedArray | pa.Array) -> pa.Array:
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def present(raw: RawColumn) -> np.ndarray:
    return raw.present if isinstance(raw, Text) else _valid(raw)


def _is_text_type(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)


def _is_list_type(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def as_text(raw: RawColumn, sep: str = ";") -> Text:
    """Any column as contract text (typed lists joined with ``sep``)."""
    if isinstance(raw, Text):
        return raw
    if _is_list_type(raw.type):
        return Text(pc.binary_join(raw.cast(pa.list_(pa.string())), sep))
    return Text(raw.cast(pa.string()))


def raw_column(arr: pa.Array | pa.ChunkedArray) -> RawColumn:
    """A Parquet column as the validators take it: text cleaned, typed data as is."""
    arr = _flat(arr)
    if pa.types.is_dictionary(arr.type) and not _is_text_type(arr.type):
        arr = arr.cast(arr.type.value_type)
    return Text(arr) if _is_text_type(arr.type) else arr


# =========================================================================== errors
class Errors:
    """First problem of every row: column and reason (vectorised bookkeeping)."""

    def __init__(self, n: int):
        self.bad = np.zeros(n, dtype=bool)
        self.column = np.full(n, None, dtype=object)
        self.reason = np.full(n, None, dtype=object)

    def ok(self) -> np.ndarray:
        return ~self.bad

    def add(self, mask: np.ndarray, column: str,
            reason: str | Callable[[np.ndarray], Sequence[str] | np.ndarray]) -> None:
        new = np.asarray(mask, dtype=bool) & ~self.bad
        if not new.any():
            return
        idx = np.flatnonzero(new)
        self.bad[idx] = True
        self.column[idx] = column
        self.reason[idx] = reason if isinstance(reason, str) else np.asarray(reason(idx), dtype=object)


def show(values: pd.Series | np.ndarray | Text | pa.Array, idx: np.ndarray) -> np.ndarray:
    """``'value'`` for the rows ``idx``, shortened to ``_SHOW_MAX`` characters."""
    if isinstance(values, Text):
        values = values.series
    elif isinstance(values, (pa.Array, pa.ChunkedArray)):
        values = _flat(values).take(pa.array(np.asarray(idx, dtype=np.int64))).to_pylist()
        idx = np.arange(len(values))
    s = pd.Series(np.asarray(values, dtype=object)[idx], dtype=object).astype(str)
    long = s.str.len() > _SHOW_MAX
    s[long] = s[long].str.slice(0, _SHOW_MAX - 1) + "…"
    return ("'" + s + "'").to_numpy(dtype=object)


def _iso(v: np.ndarray, with_time: bool) -> np.ndarray:
    unit = "s" if with_time else "D"
    return np.datetime_as_string(v.astype(f"datetime64[{unit}]"), unit=unit).astype(object)


# =========================================================================== parsers
def _null_array(typ: str, n: int) -> pa.Array:
    if typ == "list":
        return pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], pa.string()))
    return pa.nulls(n, type=staged_type(typ))


def _parse_str(tname: str, col: Column, text: Text, errs: Errors) -> pa.Array:
    fmt = _STR_FORMATS.get((tname, col.name))
    if fmt is not None:
        bad = text.present & ~_mask(pc.match_substring_regex(text.arrow, fmt[0]))
        errs.add(bad, col.name, lambda idx: f"malformed {col.name} " + show(text, idx)
                 + f" (expected {fmt[1]})")
    return text.arrow


def _parse_enum(col: Column, text: Text, errs: Errors) -> pa.Array:
    exact = _mask(pc.is_in(text.arrow, value_set=pa.array(col.enum, type=pa.string())))
    fix = text.present & ~exact
    if not fix.any():
        return text.arrow
    canon = {v.lower(): v for v in col.enum}
    out = text.series.copy()
    mapped = out[fix].str.lower().map(canon)
    out[fix] = mapped.where(mapped.notna(), None).to_numpy(dtype=object)
    bad = fix.copy()
    bad[fix] = mapped.isna().to_numpy()
    expected = ", ".join(col.enum)
    errs.add(bad, col.name, lambda idx: f"unknown {col.name} " + show(text, idx)
             + f" (expected one of {expected})")
    return pa.array(out.to_numpy(dtype=object), type=pa.string())


def _to_float(col: Column, raw: RawColumn, errs: Errors) -> tuple[np.ndarray, RawColumn | pd.Series]:
    """float64 values (NaN where missing or unparsable) and what to show for bad ones.

    Decimals and float32 are read through their decimal text, so the value is
    the one the exporter wrote, not float32's binary approximation of it."""
    t = raw.arrow.type if isinstance(raw, Text) else raw.type
    if not isinstance(raw, Text):
        if pa.types.is_boolean(t):
            pres = _valid(raw)
            errs.add(pres, col.name, lambda idx: "not a number: " + show(as_text(raw), idx)
                     + f" ({col.name} is a boolean column)")
            return np.full(len(raw), np.nan), pd.Series(np.full(len(raw), np.nan))
        if pa.types.is_decimal(t) or pa.types.is_float32(t) or pa.types.is_float16(t):
            raw = Text(raw.cast(pa.string()))
            t = pa.string()
        elif not (pa.types.is_integer(t) or pa.types.is_floating(t)):
            raw = as_text(raw)
    src = raw.arrow if isinstance(raw, Text) else raw
    try:   # fast path: every value parses
        vals = pc.cast(src, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        vals = pd.to_numeric(raw.series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    shown = raw if isinstance(raw, Text) else pd.Series(vals)
    return np.asarray(vals, dtype="float64"), shown


def _parse_number(col: Column, raw: RawColumn, errs: Errors, limits: Limits) -> pa.Array:
    pres = present(raw)
    v, shown = _to_float(col, raw, errs)
    finite = np.isfinite(v)
    kind = "integer" if col.type == "int" else "number"
    errs.add(pres & ~finite, col.name, lambda idx: f"unparsable {kind} " + show(shown, idx))
    if col.type == "int":
        with np.errstate(invalid="ignore"):
            frac = pres & finite & ((v != np.round(v)) | (np.abs(v) > 2.0 ** 53))
        errs.add(frac, col.name, lambda idx: f"not an integer: {col.name} " + show(shown, idx))
        finite &= ~frac
    if col.nonnegative:
        neg = pres & finite & (v < 0)
        errs.add(neg, col.name, lambda idx: f"negative {col.name} " + show(shown, idx)
                 + " is not allowed")
    if col.type in ("money", "decimal"):
        bound, name = ((limits.max_money, "max_money") if col.type == "money"
                       else (limits.max_quantity, "max_quantity"))
        with np.errstate(invalid="ignore"):
            big = pres & finite & (np.abs(v) > bound)
        errs.add(big, col.name, lambda idx: f"{col.name} " + show(shown, idx)
                 + f" is beyond the plausible bound of {bound:,.0f} ({name})")
        finite &= ~big
    if col.type == "int":
        return pa.array(np.where(finite, np.round(v), 0).astype(np.int64), type=pa.int64(), mask=~finite)
    return pa.array(np.where(finite, v, 0.0), type=pa.float64(), mask=~finite)


def _parse_bool(col: Column, raw: RawColumn, errs: Errors) -> pa.Array:
    text = as_text(raw)
    low = pc.utf8_lower(text.arrow)
    yes = _mask(pc.is_in(low, value_set=pa.array([k for k, v in _BOOLS.items() if v])))
    no = _mask(pc.is_in(low, value_set=pa.array([k for k, v in _BOOLS.items() if not v])))
    bad = text.present & ~yes & ~no
    errs.add(bad, col.name, lambda idx: "not a boolean " + show(text, idx)
             + " (expected true/false, 1/0 or yes/no)")
    return pa.array(yes, type=pa.bool_(), mask=~(yes | no))


def _native_datetime(col: Column, raw: pa.Array, errs: Errors) -> np.ndarray | None:
    """Typed Arrow dates/timestamps as naive Asia/Shanghai ``datetime64[ns]``; None if not temporal.

    Values outside the nanosecond range (years 1678-2261) are errors, not wrapped around."""
    t = raw.type
    if not (pa.types.is_timestamp(t) or pa.types.is_date(t)):
        return None
    pres = _valid(raw)
    if pa.types.is_date(t):
        ints = pc.fill_null(raw.cast(pa.date32()).cast(pa.int32()), 0).to_numpy(zero_copy_only=False)
        vals = np.asarray(ints, dtype=np.int64).astype("datetime64[D]")
    else:
        ints = pc.fill_null(raw.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
        vals = np.asarray(ints, dtype=np.int64).astype(f"datetime64[{t.unit}]")
    lo, hi = _NS_MIN.astype(vals.dtype), _NS_MAX.astype(vals.dtype)   # compared in the coarser unit
    out_of_range = pres & ((vals < lo) | (vals > hi))
    errs.add(out_of_range, col.name, lambda idx: f"{col.name} " + show(
        pd.Series(np.datetime_as_string(vals[idx], unit="D").astype(object)), np.arange(len(idx)))
        + " is out of range (years 1678-2261)")
    good = pres & ~out_of_range
    ns = np.full(len(raw), np.datetime64("NaT"), dtype="datetime64[ns]")
    ns[good] = vals[good].astype("datetime64[ns]")
    if pa.types.is_timestamp(t) and t.tz is not None and good.any():
        local = pd.DatetimeIndex(ns[good]).tz_localize("UTC").tz_convert(LOCAL_TZ).tz_localize(None)
        ns[good] = local.to_numpy(dtype="datetime64[ns]")
    return ns


def _fixed_width(text: Text, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose text is exactly ``width`` bytes, and those bytes as an (k, width) uint8 matrix."""
    arr = _flat(text.arrow)
    rows = np.flatnonzero(_mask(pc.equal(pc.binary_length(arr), width)))
    if not len(rows):
        return rows, np.zeros((0, width), dtype=np.uint8)
    sub = _flat(pc.take(arr, pa.array(rows)))
    offsets = np.frombuffer(sub.buffers()[1], dtype=np.int32)[sub.offset: sub.offset + len(sub) + 1]
    data = np.frombuffer(sub.buffers()[2], dtype=np.uint8)[offsets[0]: offsets[-1]]
    return rows, data.reshape(len(rows), width)


def _digits(b: np.ndarray, start: int, stop: int) -> np.ndarray:
    out = np.zeros(len(b), dtype=np.int64)
    for j in range(start, stop):
        out = out * 10 + (b[:, j].astype(np.int64) - ord("0"))
    return out


def _strict_datetime(text: Text, with_time: bool) -> tuple[np.ndarray, np.ndarray]:
    """Fast path for the canonical spellings ``YYYY-MM-DD`` and ``YYYY-MM-DDTHH:MM:SS``.

    Works on the raw bytes of fixed-width values (numpy, no per-row Python) and
    checks the calendar (no 2024-02-30, no 25:00). Returns ``datetime64[ns]``
    values (NaT where not parsed) and the mask of rows it parsed; every other
    row goes to pandas' general ISO 8601 parser.
    """
    n = len(text)
    vals = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    done = np.zeros(n, dtype=bool)
    width = 19 if with_time else 10
    rows, raw = _fixed_width(text, width)
    if not len(rows):
        return vals, done
    digit_cols = [0, 1, 2, 3, 5, 6, 8, 9] + ([11, 12, 14, 15, 17, 18] if with_time else [])
    ok = ((raw[:, digit_cols] - np.uint8(ord("0"))) <= 9).all(axis=1)   # uint8 wraps below '0'
    ok &= (raw[:, 4] == ord("-")) & (raw[:, 7] == ord("-"))
    year, month, day = _digits(raw, 0, 4), _digits(raw, 5, 7), _digits(raw, 8, 10)
    ok &= (year >= 1678) & (year <= 2261) & (month >= 1) & (month <= 12) & (day >= 1)
    year, month, day = np.where(ok, year, 1970), np.where(ok, month, 1), np.where(ok, day, 1)
    months = ((year - 1970) * 12 + month - 1).astype("timedelta64[M]") + np.datetime64("1970-01", "M")
    days = months.astype("datetime64[D]") + (day - 1).astype("timedelta64[D]")
    ok &= days.astype("datetime64[M]") == months          # the day exists in that month
    ns = days.astype("datetime64[ns]")
    if with_time:
        ok &= np.isin(raw[:, 10], [ord("T"), ord(" ")]) & (raw[:, 13] == ord(":")) & (raw[:, 16] == ord(":"))
        hh, mm, ss = _digits(raw, 11, 13), _digits(raw, 14, 16), _digits(raw, 17, 19)
        ok &= (hh < 24) & (mm < 60) & (ss < 60)
        ns = ns + (hh * 3600 + mm * 60 + ss).astype("timedelta64[s]")
    vals[rows[ok]] = ns[ok]
    done[rows[ok]] = True
    return vals, done


_CALENDAR_RE = re.compile(r"\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?\s*")


def _calendar_year(text: str) -> int | None:
    """The year of a text that is a real calendar date (ISO 8601, any year 1-9999), else None.

    >>> _calendar_year("3000-01-01T10:00:00"), _calendar_year("1600-5-5"), _calendar_year("1600-02-30")
    (3000, 1600, None)
    """
    try:
        return dt.datetime.fromisoformat(text.strip()).year
    except ValueError:
        pass
    m = _CALENDAR_RE.fullmatch(text)
    if not m:
        return None
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3])).year
    except ValueError:
        return None


def _out_of_range(col: Column, raw: Text, vals: np.ndarray, errs: Errors) -> None:
    """Text dates that are real dates outside years 1678-2261 (``datetime64[ns]``): said so,
    not called unparsable; such values parsed at the edges of the range are set to NaT."""
    edge = ~np.isnat(vals) & ((vals < _NS_MIN) | (vals >= _NS_MAX + np.timedelta64(1, "D")))
    vals[edge] = np.datetime64("NaT")
    rows = np.flatnonzero(raw.present & np.isnat(vals))
    if not len(rows):
        return
    years = [_calendar_year(str(t)) for t in raw.series.iloc[rows]]
    out = np.zeros(len(vals), dtype=bool)
    out[rows] = [y is not None and not 1678 <= y <= 2261 for y in years]
    out |= edge
    errs.add(out, col.name, lambda idx: f"{col.name} " + show(raw, idx)
             + " is a valid date but out of the supported range (years 1678-2261)")


def _parse_date(col: Column, raw: RawColumn, errs: Errors) -> np.ndarray:
    if not isinstance(raw, Text):
        native = _native_datetime(col, raw, errs)
        if native is not None:
            return native.astype("datetime64[D]").astype("datetime64[ns]")
        raw = as_text(raw)
    vals, done = _strict_datetime(raw, with_time=False)
    retry = raw.present & ~done
    if retry.any():   # non-padded dates, or `2024-03-05T00:00:00` from a spreadsheet
        sub = raw.series[retry]
        again = pd.to_datetime(sub, format="%Y-%m-%d", errors="coerce")
        iso = pd.to_datetime(sub, format="ISO8601", errors="coerce")
        midnight = (iso == iso.dt.normalize()) & sub.str.match(r"\d{4}-\d{1,2}-\d{1,2}[T ]")
        again = again.fillna(iso.where(midnight))
        vals[retry] = again.to_numpy(dtype="datetime64[ns]")
    _out_of_range(col, raw, vals, errs)
    bad = raw.present & np.isnat(vals)
    errs.add(bad, col.name, lambda idx: "unparsable date " + show(raw, idx) + " (expected YYYY-MM-DD)")
    return vals


def _parse_timestamp(col: Column, raw: RawColumn, errs: Errors) -> np.ndarray:
    if not isinstance(raw, Text):
        native = _native_datetime(col, raw, errs)
        if native is not None:
            return native
        raw = as_text(raw)
    vals, done = _strict_datetime(raw, with_time=True)
    retry = raw.present & ~done
    if retry.any():   # other ISO 8601 spellings, fractions, explicit offsets
        sub = raw.series[retry]
        offset = sub.str.contains(_OFFSET_RE, regex=True).to_numpy(dtype=bool)
        parsed = np.full(len(sub), np.datetime64("NaT"), dtype="datetime64[ns]")
        if (~offset).any():
            parsed[~offset] = pd.to_datetime(sub[~offset], format="ISO8601", errors="coerce") \
                .to_numpy(dtype="datetime64[ns]")
        if offset.any():
            aware = pd.to_datetime(sub[offset], format="ISO8601", utc=True, errors="coerce")
            parsed[offset] = aware.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None) \
                .to_numpy(dtype="datetime64[ns]")
        vals[retry] = parsed
    _out_of_range(col, raw, vals, errs)
    bad = raw.present & np.isnat(vals)
    errs.add(bad, col.name, lambda idx: "unparsable timestamp " + show(raw, idx)
             + " (expected ISO 8601, e.g. 2024-03-05T09:41:00)")
    return vals


def _parse_list(col: Column, raw: RawColumn, errs: Errors) -> pa.Array:
    """``a;b`` text (or a typed list) -> ``list<string>``, items trimmed, empty items dropped."""
    text = _flat(as_text(raw).arrow)
    n = len(text)
    parts = pc.split_pattern(pc.fill_null(text, ""), ";")
    items = pc.utf8_trim_whitespace(pc.list_flatten(parts))
    keep = _mask(pc.greater(pc.utf8_length(items), 0))
    parent = np.asarray(pc.list_parent_indices(parts).to_numpy(zero_copy_only=False), dtype=np.int64)
    counts = np.bincount(parent[keep], minlength=n) if len(parent) else np.zeros(n, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), items.filter(pa.array(keep)))


def _parse_vector(col: Column, raw: RawColumn, errs: Errors) -> pa.Array:
    """128 numbers per row (space-separated text, or a Parquet list) -> ``fixed_size_list<float>[128]``."""
    if isinstance(raw, Text) or not _is_list_type(raw.type):
        text = as_text(raw, sep=" ")
        lists, shown = pc.split_pattern_regex(text.arrow, r"\s+"), text
    else:
        lists, shown = raw, None
    lists = _flat(lists)
    if pa.types.is_fixed_size_list(lists.type) or pa.types.is_large_list(lists.type):
        lists = lists.cast(pa.list_(lists.type.value_type))
    n = len(lists)
    pres = np.asarray(lists.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    wrong = pres & (lengths != ENCODING_DIM)
    errs.add(wrong, col.name, lambda i: f"{col.name} has " + lengths[i].astype(str).astype(object)
             + f" numbers, expected {ENCODING_DIM}")
    rows = np.flatnonzero(pres & ~wrong)
    mat = np.zeros((n, ENCODING_DIM), dtype=np.float32)
    good = np.zeros(n, dtype=bool)
    if len(rows):
        flat = pc.list_flatten(lists)
        try:
            flat_v = np.asarray(pc.cast(flat, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            flat_v = pd.to_numeric(pd.Series(flat.to_numpy(zero_copy_only=False), dtype=object),
                                   errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        with np.errstate(over="ignore"):
            sub = flat_v[starts[rows, None] + np.arange(ENCODING_DIM)].astype(np.float32)
        finite = np.isfinite(sub).all(axis=1)
        bad = np.zeros(n, dtype=bool)
        bad[rows[~finite]] = True
        if shown is not None:
            errs.add(bad, col.name, lambda i: f"{col.name} has a non-numeric or non-finite value: "
                     + show(shown, i))
        else:
            errs.add(bad, col.name, f"{col.name} has a null, NaN or infinite value")
        mat[rows[finite]] = sub[finite]
        good[rows[finite]] = True
    return pa.FixedSizeListArray.from_arrays(pa.array(mat.reshape(-1), type=pa.float32()), ENCODING_DIM,
                                             mask=pa.array(~good))


def parse_column(tname: str, col: Column, raw: RawColumn | None, n: int, errs: Errors,
                 limits: Limits) -> pa.Array:
    """One contract column of a chunk in its staged Arrow type (bad rows recorded in ``errs``)."""
    if raw is None:
        return _null_array(col.type, n)
    if col.required:
        errs.add(~present(raw), col.name, "required value missing")
    typ = col.type
    if typ == "str":
        return _parse_str(tname, col, as_text(raw), errs)
    if typ == "enum":
        return _parse_enum(col, as_text(raw), errs)
    if typ in ("int", "money", "decimal"):
        return _parse_number(col, raw, errs, limits)
    if typ == "bool":
        return _parse_bool(col, raw, errs)
    if typ in ("date", "timestamp"):
        vals = _parse_date(col, raw, errs) if typ == "date" else _parse_timestamp(col, raw, errs)
        nat = np.isnat(vals)
        if typ == "date":
            return pa.array(np.where(nat, np.datetime64(0, "D"), vals.astype("datetime64[D]")),
                            type=pa.date32(), mask=nat)
        return pa.array(np.where(nat, np.datetime64(0, "ns"), vals), type=pa.timestamp("ns"), mask=nat)
    if typ == "list":
        return _parse_list(col, raw, errs)
    if typ == "vector":
        return _parse_vector(col, raw, errs)
    raise ValueError(f"contract column {tname}.{col.name} has unknown type {typ!r}")


def check_order(tname: str, col: Column, arrays: dict[str, pa.Array], errs: Errors) -> None:
    """``visits.end_time`` not before ``start_time``; ``persons.death_date`` not before ``birth_date``."""
    first = _ORDERED.get((tname, col.name))
    if first is None or first not in arrays:
        return
    later, earlier = arrays[col.name], arrays[first]
    both = _valid(later) & _valid(earlier)
    if not both.any():
        return
    lv = later.cast(pa.int64()).to_numpy(zero_copy_only=False) if pa.types.is_timestamp(later.type) \
        else later.cast(pa.int32()).to_numpy(zero_copy_only=False)
    ev = earlier.cast(pa.int64()).to_numpy(zero_copy_only=False) if pa.types.is_timestamp(earlier.type) \
        else earlier.cast(pa.int32()).to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        before = both & (np.nan_to_num(lv) < np.nan_to_num(ev))
    if not before.any():
        return
    with_time = pa.types.is_timestamp(later.type)

    def reason(idx: np.ndarray) -> np.ndarray:
        lt = later.take(pa.array(idx)).cast(pa.timestamp("ns")).to_numpy(zero_copy_only=False)
        et = earlier.take(pa.array(idx)).cast(pa.timestamp("ns")).to_numpy(zero_copy_only=False)
        return (f"{col.name} " + _iso(lt, with_time) + f" is before {first} " + _iso(et, with_time))

    errs.add(before, col.name, reason)


def extra_array(raw: RawColumn) -> pa.Array:
    """A column outside the contract, kept as read (text cleaned)."""
    return raw.arrow if isinstance(raw, Text) else _flat(raw)


def check_one_of(spec: Table, raws: dict[str, RawColumn], errs: Errors) -> None:
    groups: dict[str, list[str]] = {}
    for c in spec.columns:
        if c.one_of_group:
            groups.setdefault(c.one_of_group, []).append(c.name)
    for members in groups.values():
        given = np.zeros(len(errs.bad), dtype=bool)
        for m in members:
            if m in raws:
                given |= present(raws[m])
        errs.add(~given, members[0], f"neither {' nor '.join(members)} given (one is required)")
