"""Reader and validator of the input data contract (``shared/spec/data-contract.md``).

:func:`read_dataset` reads a dataset directory (one ``<table>.csv`` or
``<table>.parquet`` per table), enforces every rule of the contract and returns
a :class:`Dataset`: the accepted rows of each table in the in-memory dtypes
documented in :mod:`ringscope.ingest.contract`, a load report and a quarantine.

Two kinds of failure, as the contract prescribes:

- structural (a missing required table or column, a table present both as CSV
  and Parquet, a directory that is not a dataset, a file that is not UTF-8 or
  not Parquet): :class:`ContractError`, raised before any row is validated and
  before the caller writes anything;
- a bad row (missing required value, unknown enum value, unparsable number,
  integer, boolean, date or timestamp, a negative value where the contract
  forbids one, an encoding that is not 128 numbers, a duplicate key, an
  unknown foreign key, a face row with neither encoding nor photo, a photo with
  no face or several faces): the row goes to the quarantine with its table,
  row number, key, first offending column and reason; the load goes on.

Validation is column-wise (pandas/numpy/Arrow vectorised operations); only
face photos are handled one by one. Tables are checked parents-first
(``contract.LOAD_ORDER``), so a row whose parent was quarantined is itself
quarantined with a reason naming the parent ("visit V12 was quarantined").

Lenient where a real export differs harmlessly from the contract, strict
where it matters: surrounding whitespace is stripped, a UTF-8 byte-order mark
is accepted, enum values are matched case-insensitively (and stored in their
canonical spelling), booleans accept ``true/false``, ``1/0`` and ``yes/no``,
a date column accepts ``YYYY-MM-DDT00:00:00``; only an empty field is null
(``NA`` in an id is an id). Timestamps with an explicit offset (``Z``,
``+08:00``, ``-0500``) are converted to Asia/Shanghai wall time.
"""
from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pacsv
import pyarrow.parquet as pq

from ringscope.ingest.contract import (
    LOAD_ORDER,
    LOAD_REPORT_COLUMNS,
    QUARANTINE_COLUMNS,
    TABLES,
    Column,
    Table,
)
from ringscope.ingest.io import write_csv

__all__ = ["ContractError", "Dataset", "read_dataset", "ENCODING_DIM", "LOCAL_TZ"]

ENCODING_DIM = 128
LOCAL_TZ = "Asia/Shanghai"
ROW_COLUMN = "(row)"            # `column` of a quarantine row about the whole CSV record
_SHOW_MAX = 40                  # bad values are shown up to this many characters
_BAD_ROW = "\x00ringscope-bad-row:"
_BOOLS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
_OFFSET_RE = r"[T ]\d{1,2}:\d{2}.*(?:Z|z|[+-]\d{2}(?::?\d{2})?)$"
# Columns typed ``str`` whose text still has a documented format.
_STR_FORMATS: dict[tuple[str, str], tuple[str, str]] = {
    ("inventory", "period"): (r"^\d{4}-(?:0[1-9]|1[0-2])$", "YYYY-MM"),
}
_SINGULAR = {"catalog": "catalog item", "family_links": "family link", "inventory": "inventory row"}


class ContractError(Exception):
    """The dataset's structure breaks the contract (nothing has been written)."""


# =========================================================================== Dataset
@dataclass
class Dataset:
    """A validated dataset: accepted rows per table, load report and quarantine."""

    path: Path
    tables: dict[str, pd.DataFrame]
    load_report: pd.DataFrame
    quarantine: pd.DataFrame
    sources: dict[str, Path] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame:
        """The accepted rows of ``name`` (``KeyError`` naming what is there when absent)."""
        try:
            return self.tables[name]
        except KeyError:
            raise KeyError(f"table {name!r} is not in dataset {self.path} "
                           f"(present: {', '.join(self.tables) or 'none'})") from None

    def has(self, name: str) -> bool:
        """Whether table ``name`` was present in the dataset."""
        return name in self.tables

    def write_reports(self, out_dir: str | os.PathLike) -> Path:
        """Write ``load_report.csv`` and ``quarantine.csv`` into ``out_dir`` (created)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_csv(self.load_report, out / "load_report.csv", columns=LOAD_REPORT_COLUMNS)
        write_csv(self.quarantine, out / "quarantine.csv", columns=QUARANTINE_COLUMNS)
        return out

    def summary(self, top: int = 10) -> str:
        """Per-table accepted/quarantined counts, then the commonest quarantine causes."""
        rep = self.load_report.copy()
        total = pd.DataFrame([{"table": "TOTAL", **rep[LOAD_REPORT_COLUMNS[1:]].sum().to_dict()}])
        rep["format"] = [self.sources[t].suffix.lstrip(".") if t in self.sources else ""
                         for t in rep["table"]]
        lines = [f"dataset {self.path}",
                 pd.concat([rep, total.assign(format="")], ignore_index=True)
                 .to_string(index=False)]
        q = self.quarantine
        if len(q):
            causes = (q.groupby(["table", "column"], sort=False)
                      .agg(rows=("row_number", "size"), first_row=("row_number", "min"),
                           example=("reason", "first"))
                      .reset_index().sort_values("rows", ascending=False, kind="stable").head(top))
            lines += ["", f"quarantine causes (top {min(top, len(causes))}):",
                      causes.to_string(index=False)]
        return "\n".join(lines)


# =========================================================================== locating
def _locate(root: Path, wanted: Sequence[str]) -> dict[str, Path]:
    if not root.exists():
        raise ContractError(f"dataset directory {root} does not exist")
    if not root.is_dir():
        raise ContractError(f"{root} is not a directory: a dataset is a directory of tables")
    found: dict[str, Path] = {}
    both = []
    for name in TABLES:
        c, p = root / f"{name}.csv", root / f"{name}.parquet"
        if c.exists() and p.exists():
            both.append(name)
        elif c.exists() or p.exists():
            found[name] = c if c.exists() else p
    if both:
        raise ContractError("table(s) present both as CSV and Parquet (keep one): "
                            + ", ".join(f"{n}.csv + {n}.parquet" for n in both))
    if not found:
        raise ContractError(f"{root} is not a dataset: none of the contract's tables "
                            f"({', '.join(f'{n}.csv' for n in LOAD_ORDER)}, or .parquet) is there")
    missing = [n for n in wanted if TABLES[n].required and n not in found]
    if missing:
        raise ContractError(f"missing required table(s) in {root}: "
                            + ", ".join(f"{n} ({n}.csv or {n}.parquet)" for n in missing))
    return {n: found[n] for n in wanted if n in found}


def _with_parents(names: Iterable[str]) -> list[str]:
    todo, seen = list(names), set()
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        todo += [c.references.split(".")[0] for c in TABLES[n].columns if c.references]
    return [n for n in LOAD_ORDER if n in seen] + sorted(seen - set(LOAD_ORDER))


def _header(name: str, path: Path) -> list[str]:
    if path.suffix == ".parquet":
        try:
            schema = pq.read_schema(path) if path.is_file() else pq.ParquetDataset(path).schema
        except Exception as e:  # noqa: BLE001 - any failure means "not a Parquet table"
            raise ContractError(f"{path.name} is not a readable Parquet file: {e}") from e
        names = list(schema.names)
    else:
        try:
            with open(path, encoding="utf-8-sig", newline="") as f:
                names = next(csv.reader(f), None)
        except UnicodeDecodeError as e:
            raise ContractError(f"{path.name} is not UTF-8 text ({e.reason} at byte {e.start})") from e
        if not names:
            raise ContractError(f"{path.name} is empty: a table needs a header row")
        names = [n.strip() for n in names]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ContractError(f"{path.name} has duplicate column(s): {', '.join(dup)}")
    return names


def _check_columns(headers: dict[str, list[str]], files: dict[str, Path]) -> None:
    problems = []
    for name, cols in headers.items():
        spec = TABLES[name]
        miss = [c for c in spec.required_columns if c not in cols]
        if miss:
            problems.append(f"{files[name].name} lacks required column(s): "
                            + ", ".join(f"{name}.{c}" for c in miss))
        groups: dict[str, list[str]] = {}
        for c in spec.columns:
            if c.one_of_group:
                groups.setdefault(c.one_of_group, []).append(c.name)
        for members in groups.values():
            if not any(m in cols for m in members):
                problems.append(f"{files[name].name} needs at least one of the columns "
                                + " or ".join(f"{name}.{m}" for m in members))
    if problems:
        raise ContractError("; ".join(problems))


# =========================================================================== raw reading
class _Text:
    """A cleaned text column: Arrow strings, trimmed, empty -> null; pandas views made on demand."""

    def __init__(self, arr: pa.ChunkedArray | pa.Array):
        if isinstance(arr, pa.Array):
            arr = pa.chunked_array([arr])
        if pa.types.is_dictionary(arr.type):
            arr = arr.cast(arr.type.value_type)
        if not pa.types.is_string(arr.type):
            arr = arr.cast(pa.string())
        trimmed = pc.utf8_trim_whitespace(arr)
        self.arrow: pa.ChunkedArray = pc.if_else(pc.equal(pc.utf8_length(trimmed), 0),
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


RawColumn = _Text | pa.ChunkedArray   # cleaned text, or typed Arrow data (Parquet)


def _valid(arr: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


@dataclass
class _Raw:
    n: int
    columns: dict[str, RawColumn]
    row_problem: np.ndarray | None = None   # per-row reason (or None) for a malformed CSV record


def _read_csv(path: Path, header: list[str]) -> _Raw:
    try:
        tbl = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in header},
                                                 strings_can_be_null=False,
                                                 quoted_strings_can_be_null=False))
    except pa.ArrowInvalid as e:
        if "utf8" in str(e).lower() or "utf-8" in str(e).lower():
            raise ContractError(f"{path.name} is not UTF-8 text ({e})") from e
        return _read_csv_irregular(path, header)   # records with the wrong number of fields
    return _Raw(tbl.num_rows, {c: _Text(tbl.column(c)) for c in header})


def _read_csv_irregular(path: Path, header: list[str]) -> _Raw:
    """Slow path for a CSV with malformed records: keep them (marked) instead of stopping."""
    ncol = len(header)

    def mark(fields: list[str]) -> list[str]:
        return [*fields[: ncol - 1], f"{_BAD_ROW}{len(fields)}"]

    try:
        df = pd.read_csv(path, engine="python", on_bad_lines=mark, dtype=str, keep_default_na=False,
                         na_values=[], encoding="utf-8-sig", skip_blank_lines=True)
    except UnicodeDecodeError as e:
        raise ContractError(f"{path.name} is not UTF-8 text ({e.reason} at byte {e.start})") from e
    except pd.errors.ParserError as e:
        raise ContractError(f"{path.name} is not a well-formed CSV file: {e}") from e
    df.columns = header
    last = df.iloc[:, -1].fillna("")
    bad = last.str.startswith(_BAD_ROW).to_numpy()
    row_problem = None
    if bad.any():
        row_problem = np.full(len(df), None, dtype=object)
        row_problem[bad] = ("record has " + last[bad].str.slice(len(_BAD_ROW))
                            + f" fields, the header has {ncol}").to_numpy(dtype=object)
        df.loc[bad, header[-1]] = ""
    cols = {c: _Text(pa.array(df[c].fillna("").to_numpy(dtype=object), type=pa.string())) for c in header}
    return _Raw(len(df), cols, row_problem)


def _is_text_type(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)


def _read_parquet(path: Path) -> _Raw:
    try:
        tbl = pq.read_table(path)
    except Exception as e:  # noqa: BLE001 - any failure means "not a readable Parquet table"
        raise ContractError(f"{path.name} is not a readable Parquet file: {e}") from e
    cols: dict[str, RawColumn] = {}
    for name in tbl.column_names:
        arr = tbl.column(name)
        cols[name] = _Text(arr) if _is_text_type(arr.type) else arr
    return _Raw(tbl.num_rows, cols)


def _is_list_type(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def _as_text(raw: RawColumn, sep: str = ";") -> _Text:
    """Any column as contract text (typed lists joined with ``sep``)."""
    if isinstance(raw, _Text):
        return raw
    if _is_list_type(raw.type):
        return _Text(pc.binary_join(raw.cast(pa.list_(pa.string())), sep))
    return _Text(raw.cast(pa.string()))


# =========================================================================== errors
class _Errors:
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


def _show(values: pd.Series | np.ndarray | _Text, idx: np.ndarray) -> np.ndarray:
    """``'value'`` for the rows ``idx``, shortened to ``_SHOW_MAX`` characters."""
    if isinstance(values, _Text):
        values = values.series
    s = pd.Series(np.asarray(values, dtype=object)[idx], dtype=object).astype(str)
    long = s.str.len() > _SHOW_MAX
    s[long] = s[long].str.slice(0, _SHOW_MAX - 1) + "…"
    return ("'" + s + "'").to_numpy(dtype=object)


def _flat(arr: pa.ChunkedArray | pa.Array) -> pa.Array:
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _mask(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Arrow boolean -> numpy bool (null -> False)."""
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


# =========================================================================== column parsers
def _present(raw: RawColumn) -> np.ndarray:
    return raw.present if isinstance(raw, _Text) else _valid(raw)


def _null_values(typ: str, n: int) -> pd.Series:
    if typ == "int":
        return pd.Series(pd.array([pd.NA] * n, dtype="Int64"))
    if typ in ("money", "decimal"):
        return pd.Series(np.full(n, np.nan))
    if typ == "bool":
        return pd.Series(pd.array([pd.NA] * n, dtype="boolean"))
    if typ in ("date", "timestamp"):
        return pd.Series(np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]"))
    if typ == "list":
        out = np.empty(n, dtype=object)
        out[:] = [()] * n
        return pd.Series(out, dtype=object)
    return pd.Series([None] * n, dtype=object)


def _parse_str(tname: str, col: Column, text: _Text, errs: _Errors) -> pd.Series:
    fmt = _STR_FORMATS.get((tname, col.name))
    if fmt is not None:
        bad = text.present & ~_mask(pc.match_substring_regex(text.arrow, fmt[0]))
        errs.add(bad, col.name, lambda idx: f"malformed {col.name} " + _show(text, idx)
                 + f" (expected {fmt[1]})")
    return text.series


def _parse_enum(col: Column, text: _Text, errs: _Errors) -> pd.Series:
    exact = _mask(pc.is_in(text.arrow, value_set=pa.array(col.enum, type=pa.string())))
    fix = text.present & ~exact
    if not fix.any():
        return text.series
    canon = {v.lower(): v for v in col.enum}
    out = text.series.copy()
    mapped = out[fix].str.lower().map(canon)
    out[fix] = mapped.where(mapped.notna(), None).to_numpy(dtype=object)
    bad = fix.copy()
    bad[fix] = mapped.isna().to_numpy()
    expected = ", ".join(col.enum)
    errs.add(bad, col.name, lambda idx: f"unknown {col.name} " + _show(text, idx)
             + f" (expected one of {expected})")
    return out


def _to_float(raw: RawColumn) -> tuple[np.ndarray, RawColumn]:
    """float64 values (NaN where missing or unparsable) and what to show for bad ones."""
    t = raw.arrow.type if isinstance(raw, _Text) else raw.type
    if not isinstance(raw, _Text) and not (pa.types.is_decimal(t) or pa.types.is_integer(t)
                                           or pa.types.is_floating(t) or pa.types.is_boolean(t)):
        raw = _as_text(raw)
    src = raw.arrow if isinstance(raw, _Text) else raw
    try:   # fast path: every value parses
        vals = pc.cast(src, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        vals = pd.to_numeric(raw.series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    shown = raw if isinstance(raw, _Text) else pd.Series(vals)
    return np.asarray(vals, dtype="float64"), shown


def _parse_number(col: Column, raw: RawColumn, errs: _Errors) -> pd.Series:
    present = _present(raw)
    v, shown = _to_float(raw)
    finite = np.isfinite(v)
    kind = "integer" if col.type == "int" else "number"
    errs.add(present & ~finite, col.name, lambda idx: f"unparsable {kind} " + _show(shown, idx))
    if col.type == "int":
        with np.errstate(invalid="ignore"):
            frac = present & finite & ((v != np.round(v)) | (np.abs(v) > 2.0 ** 53))
        errs.add(frac, col.name, lambda idx: f"not an integer: {col.name} " + _show(shown, idx))
        finite &= ~frac
    if col.nonnegative:
        neg = present & finite & (v < 0)
        errs.add(neg, col.name, lambda idx: f"negative {col.name} " + _show(shown, idx)
                 + " is not allowed")
    v = np.where(finite, v, np.nan)
    if col.type == "int":
        return pd.Series(pd.array(np.round(v), dtype="Int64"))   # NaN -> <NA>
    return pd.Series(v)


def _parse_bool(col: Column, raw: RawColumn, errs: _Errors) -> pd.Series:
    text = _as_text(raw)
    low = pc.utf8_lower(text.arrow)
    yes = _mask(pc.is_in(low, value_set=pa.array([k for k, v in _BOOLS.items() if v])))
    no = _mask(pc.is_in(low, value_set=pa.array([k for k, v in _BOOLS.items() if not v])))
    bad = text.present & ~yes & ~no
    errs.add(bad, col.name, lambda idx: "not a boolean " + _show(text, idx)
             + " (expected true/false, 1/0 or yes/no)")
    return pd.Series(pd.arrays.BooleanArray(yes, ~(yes | no)))


def _native_datetime(raw: pa.ChunkedArray) -> pd.Series | None:
    """Typed Arrow dates/timestamps as naive Asia/Shanghai ``datetime64[ns]``; None if not temporal."""
    t = raw.type
    if not (pa.types.is_timestamp(t) or pa.types.is_date(t)):
        return None
    if pa.types.is_timestamp(t) and t.tz is not None:
        s = pd.Series(raw.cast(pa.timestamp("ns", tz="UTC"), safe=False).to_pandas())
        s = s.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
    else:
        s = pd.Series(raw.cast(pa.timestamp("ns"), safe=False).to_pandas())
    return s.astype("datetime64[ns]").reset_index(drop=True)


def _fixed_width(text: _Text, width: int) -> tuple[np.ndarray, np.ndarray]:
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


def _strict_datetime(text: _Text, with_time: bool) -> tuple[np.ndarray, np.ndarray]:
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


def _parse_date(col: Column, raw: RawColumn, errs: _Errors) -> pd.Series:
    if not isinstance(raw, _Text):
        native = _native_datetime(raw)
        if native is not None:
            return native.dt.normalize()
        raw = _as_text(raw)
    vals, done = _strict_datetime(raw, with_time=False)
    retry = raw.present & ~done
    if retry.any():   # non-padded dates, or `2024-03-05T00:00:00` from a spreadsheet
        sub = raw.series[retry]
        again = pd.to_datetime(sub, format="%Y-%m-%d", errors="coerce")
        iso = pd.to_datetime(sub, format="ISO8601", errors="coerce")
        midnight = (iso == iso.dt.normalize()) & sub.str.match(r"\d{4}-\d{1,2}-\d{1,2}[T ]")
        again = again.fillna(iso.where(midnight))
        vals[retry] = again.to_numpy(dtype="datetime64[ns]")
    bad = raw.present & np.isnat(vals)
    errs.add(bad, col.name, lambda idx: "unparsable date " + _show(raw, idx) + " (expected YYYY-MM-DD)")
    return pd.Series(vals)


def _parse_timestamp(col: Column, raw: RawColumn, errs: _Errors) -> pd.Series:
    if not isinstance(raw, _Text):
        native = _native_datetime(raw)
        if native is not None:
            return native
        raw = _as_text(raw)
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
    bad = raw.present & np.isnat(vals)
    errs.add(bad, col.name, lambda idx: "unparsable timestamp " + _show(raw, idx)
             + " (expected ISO 8601, e.g. 2024-03-05T09:41:00)")
    return pd.Series(vals)


def _parse_list(col: Column, raw: RawColumn, errs: _Errors) -> pd.Series:
    text = _as_text(raw)
    enc = text.arrow.combine_chunks().dictionary_encode()
    codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False)
    table = np.empty(len(enc.dictionary) + 1, dtype=object)
    for i, u in enumerate(enc.dictionary.to_pylist()):   # one per distinct value, not per row
        table[i] = tuple(p for p in (x.strip() for x in u.split(";")) if p)
    table[-1] = ()
    return pd.Series(table[codes], dtype=object)


def _parse_vector(col: Column, raw: RawColumn, errs: _Errors) -> pd.Series:
    """128 numbers per row (space-separated text, or a Parquet list) -> float32 arrays."""
    if isinstance(raw, _Text) or not _is_list_type(raw.type):
        text = _as_text(raw, sep=" ")
        lists, shown = pc.split_pattern_regex(text.arrow, r"\s+"), text
    else:
        lists, shown = raw, None
    lists = lists.combine_chunks() if isinstance(lists, pa.ChunkedArray) else lists
    if pa.types.is_fixed_size_list(lists.type) or pa.types.is_large_list(lists.type):
        lists = lists.cast(pa.list_(lists.type.value_type))
    n = len(lists)
    present = np.asarray(lists.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    wrong = present & (lengths != ENCODING_DIM)
    errs.add(wrong, col.name, lambda i: f"{col.name} has " + lengths[i].astype(str).astype(object)
             + f" numbers, expected {ENCODING_DIM}")
    rows = np.flatnonzero(present & ~wrong)
    out = np.full(n, None, dtype=object)
    if not len(rows):
        return pd.Series(out, dtype=object)
    flat = pc.list_flatten(lists)
    try:
        flat_v = np.asarray(pc.cast(flat, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        flat_v = pd.to_numeric(pd.Series(flat.to_numpy(zero_copy_only=False), dtype=object),
                               errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    with np.errstate(over="ignore"):
        mat = flat_v[starts[rows, None] + np.arange(ENCODING_DIM)].astype(np.float32)
    finite = np.isfinite(mat).all(axis=1)
    bad = np.zeros(n, dtype=bool)
    bad[rows[~finite]] = True
    if shown is not None:
        errs.add(bad, col.name, lambda i: f"{col.name} has a non-numeric or non-finite value: "
                 + _show(shown, i))
    else:
        errs.add(bad, col.name, f"{col.name} has a null, NaN or infinite value")
    for i, r in zip(rows[finite], mat[finite]):
        out[i] = r
    return pd.Series(out, dtype=object)


def _parse_column(tname: str, col: Column, raw: RawColumn | None, n: int,
                  errs: _Errors) -> pd.Series:
    if raw is None:
        return _null_values(col.type, n)
    if col.required:
        errs.add(~_present(raw), col.name, "required value missing")
    typ = col.type
    if typ == "str":
        return _parse_str(tname, col, _as_text(raw), errs)
    if typ == "enum":
        return _parse_enum(col, _as_text(raw), errs)
    if typ in ("int", "money", "decimal"):
        return _parse_number(col, raw, errs)
    if typ == "bool":
        return _parse_bool(col, raw, errs)
    if typ == "date":
        return _parse_date(col, raw, errs)
    if typ == "timestamp":
        return _parse_timestamp(col, raw, errs)
    if typ == "list":
        return _parse_list(col, raw, errs)
    if typ == "vector":
        return _parse_vector(col, raw, errs)
    raise ValueError(f"contract column {tname}.{col.name} has unknown type {typ!r}")


def _extra_column(raw: RawColumn) -> pd.Series:
    if isinstance(raw, _Text):
        return raw.series
    return pd.Series(raw.to_pandas()).reset_index(drop=True)


# =========================================================================== row rules
def _key_columns(spec: Table) -> tuple[str, ...]:
    if spec.key:
        return (spec.key,)
    if spec.composite_key:
        return spec.composite_key
    return tuple(c.name for c in spec.columns if c.required and c.type == "str")[:1]


def _key_text(spec: Table, values: dict[str, pd.Series], rows: np.ndarray) -> np.ndarray:
    """The own key of rows ``rows`` as shown in the quarantine (composite parts joined by ``|``)."""
    cols = [values[c].iloc[rows].reset_index(drop=True) for c in _key_columns(spec)]
    if len(cols) == 1:
        return cols[0].to_numpy(dtype=object)
    key = cols[0].fillna("")
    for c in cols[1:]:
        key = key + "|" + c.fillna("")
    return key.where(pd.concat(cols, axis=1).notna().any(axis=1), None).to_numpy(dtype=object)


def _check_one_of(spec: Table, raws: dict[str, RawColumn], errs: _Errors) -> None:
    groups: dict[str, list[str]] = {}
    for c in spec.columns:
        if c.one_of_group:
            groups.setdefault(c.one_of_group, []).append(c.name)
    for members in groups.values():
        given = np.zeros(len(errs.bad), dtype=bool)
        for m in members:
            if m in raws:
                given |= _present(raws[m])
        errs.add(~given, members[0], f"neither {' nor '.join(members)} given (one is required)")


def _text_of(values: dict[str, pd.Series], texts: dict[str, _Text], name: str) -> pa.ChunkedArray:
    if name in texts:
        return texts[name].arrow
    return pa.chunked_array([pa.array(values[name].to_numpy(dtype=object), type=pa.string())])


def _check_duplicates(spec: Table, values: dict[str, pd.Series], texts: dict[str, _Text],
                      errs: _Errors) -> None:
    cols = spec.composite_key or ((spec.key,) if spec.key else ())
    if not cols:
        return
    ok = errs.ok()
    for c in cols:
        ok &= values[c].notna().to_numpy()
    pos = np.flatnonzero(ok)
    if len(pos) < 2:
        return
    if len(cols) == 1:
        key = values[cols[0]].iloc[pos].reset_index(drop=True)
    else:
        joined = pc.binary_join_element_wise(*[_text_of(values, texts, c) for c in cols], "\x1f")
        key = pd.Series(_flat(pc.take(joined, pa.array(pos))).to_numpy(zero_copy_only=False), dtype=object)
    dup = key.duplicated(keep="first").to_numpy()
    if not dup.any():
        return
    first_pos = pd.Series(pos[~dup], index=key[~dup].to_numpy())
    first_row = first_pos.reindex(key[dup].to_numpy()).to_numpy() + 1
    label = cols[0] if len(cols) == 1 else "+".join(cols)
    shown = key[dup].str.replace("\x1f", "|", regex=False).reset_index(drop=True)
    full = np.full(len(ok), None, dtype=object)
    full[pos[dup]] = (f"duplicate {label} '" + shown + "' (first at row "
                      + pd.Series(first_row).astype(str) + ")").to_numpy(dtype=object)
    bad = np.zeros(len(ok), dtype=bool)
    bad[pos[dup]] = True
    errs.add(bad, label, lambda idx: full[idx])


@dataclass
class _Keys:
    accepted: pa.Array
    quarantined: pa.Array


def _check_references(spec: Table, values: dict[str, pd.Series], texts: dict[str, _Text],
                      keys: dict[str, _Keys], errs: _Errors) -> None:
    for c in spec.columns:
        if not c.references:
            continue
        parent = c.references.split(".")[0]
        if parent not in keys:
            continue
        v = _text_of(values, texts, c.name)
        check = _valid(v) & errs.ok()
        if not check.any():
            continue
        unknown = check & ~_mask(pc.is_in(v, value_set=keys[parent].accepted))
        if not unknown.any():
            continue
        cascade = unknown & _mask(pc.is_in(v, value_set=keys[parent].quarantined))
        who = _SINGULAR.get(parent, parent[:-1] if parent.endswith("s") else parent)
        shown = values[c.name]
        errs.add(cascade, c.name, lambda idx: f"{who} " + shown.iloc[idx].astype(str)
                 .to_numpy(dtype=object) + f" was quarantined ({c.name} → {parent})")
        errs.add(unknown, c.name, lambda idx: f"unknown {c.name} " + _show(shown, idx)
                 + f" (not in {parent})")


def _encode_images(root: Path, values: dict[str, pd.Series], errs: _Errors) -> None:
    """Encode `image_path` photos of rows that have no encoding (one face required)."""
    if "image_path" not in values or "encoding" not in values:
        return
    paths, enc = values["image_path"], values["encoding"]
    todo = np.flatnonzero(errs.ok() & paths.notna().to_numpy() & enc.isna().to_numpy())
    if not len(todo):
        return
    from ringscope.ingest.images import encode_image_file   # heavy (dlib): only when needed

    cache: dict[Path, list[np.ndarray] | str] = {}
    reasons = np.full(len(enc), None, dtype=object)
    new_enc = enc.to_numpy(dtype=object).copy()
    for i in todo:
        rel = paths.iloc[i]
        p = Path(rel) if Path(rel).is_absolute() else root / rel
        if p not in cache:
            if not p.is_file():
                cache[p] = f"image file not found: '{_short(rel)}'"
            else:
                try:
                    cache[p] = [np.asarray(e, dtype=np.float32) for e in encode_image_file(p)]
                except SystemExit as e:   # face_recognition quit()s when its model files are missing
                    raise RuntimeError("the face_recognition library is not usable (are the "
                                       "face_recognition_models installed?)") from e
                except Exception as e:  # noqa: BLE001 - any decoder failure quarantines the row
                    cache[p] = f"image unreadable: '{_short(rel)}' ({type(e).__name__}: {_short(str(e))})"
        got = cache[p]
        if isinstance(got, str):
            reasons[i] = got
        elif len(got) == 0:
            reasons[i] = f"no face found in image '{_short(rel)}'"
        elif len(got) > 1:
            reasons[i] = f"{len(got)} faces in image, expected one: '{_short(rel)}'"
        else:
            new_enc[i] = got[0]
    errs.add(pd.notna(reasons), "image_path", lambda idx: reasons[idx])
    values["encoding"] = pd.Series(new_enc, dtype=object)


def _short(s: str) -> str:
    return s if len(s) <= _SHOW_MAX else s[: _SHOW_MAX - 1] + "…"


# =========================================================================== one table
def _validate_table(root: Path, spec: Table, raw: _Raw, keys: dict[str, _Keys],
                    encode_images: bool) -> tuple[pd.DataFrame, pd.DataFrame, _Keys | None]:
    n = raw.n
    errs = _Errors(n)
    if raw.row_problem is not None:
        problem = raw.row_problem
        errs.add(pd.notna(problem), ROW_COLUMN, lambda idx: problem[idx])
    values: dict[str, pd.Series] = {}
    texts: dict[str, _Text] = {}
    for col in spec.columns:
        r = raw.columns.get(col.name)
        if r is not None and col.type == "str":
            texts[col.name] = _as_text(r)
        values[col.name] = _parse_column(spec.name, col, r, n, errs)
    _check_one_of(spec, raw.columns, errs)
    _check_duplicates(spec, values, texts, errs)
    _check_references(spec, values, texts, keys, errs)
    if encode_images:
        _encode_images(root, values, errs)

    ok = errs.ok()
    extras = [c for c in raw.columns if c not in values]
    frame = pd.DataFrame({**values, **{c: _extra_column(raw.columns[c]) for c in extras}})
    accepted = frame[ok].reset_index(drop=True) if not ok.all() else frame

    bad = np.flatnonzero(~ok)
    quarantine = pd.DataFrame({
        "table": spec.name,
        "row_number": (bad + 1).astype(np.int64),
        "key": _key_text(spec, values, bad),
        "column": errs.column[bad],
        "reason": errs.reason[bad],
    }, columns=QUARANTINE_COLUMNS)

    table_keys = None
    if spec.key:
        k = _text_of(values, texts, spec.key)
        table_keys = _Keys(_flat(pc.filter(k, pa.array(ok))),
                           _flat(pc.unique(pc.drop_null(pc.filter(k, pa.array(~ok))))))
    return accepted, quarantine, table_keys


# =========================================================================== entry point
def read_dataset(path: str | os.PathLike, *, encode_images: bool = True,
                 tables: Iterable[str] | None = None) -> Dataset:
    """Read and validate the dataset directory ``path``.

    ``tables`` limits the read to those tables and the tables they reference
    (so foreign keys are still checked); by default every table present is
    read. With ``encode_images`` (default) face photos named by ``image_path``
    are encoded with :func:`ringscope.ingest.images.encode_image_file`; without
    it such rows are accepted with a null ``encoding``.

    Optional columns absent from a file are added, all null, in their
    in-memory dtype; columns outside the contract are kept as read.

    Raises :class:`ContractError` for a structural problem, before reading rows.
    """
    root = Path(path).expanduser()
    if tables is None:
        wanted = list(LOAD_ORDER)
    else:
        unknown = [t for t in tables if t not in TABLES]
        if unknown:
            raise ContractError(f"not a table of the contract: {', '.join(unknown)}")
        wanted = _with_parents(tables)
    files = _locate(root, wanted)
    headers = {name: _header(name, f) for name, f in files.items()}
    _check_columns(headers, files)

    out: dict[str, pd.DataFrame] = {}
    report, quarantines = [], []
    keys: dict[str, _Keys] = {}
    for name in [t for t in LOAD_ORDER if t in files]:
        spec, f = TABLES[name], files[name]
        raw = _read_parquet(f) if f.suffix == ".parquet" else _read_csv(f, headers[name])
        accepted, quarantine, table_keys = _validate_table(root, spec, raw, keys, encode_images)
        out[name] = accepted
        if table_keys is not None:
            keys[name] = table_keys
        quarantines.append(quarantine)
        report.append({"table": name, "rows_read": raw.n, "accepted": len(accepted),
                       "quarantined": len(quarantine)})
    load_report = pd.DataFrame(report, columns=LOAD_REPORT_COLUMNS)
    for c in LOAD_REPORT_COLUMNS[1:]:
        load_report[c] = load_report[c].astype(np.int64)
    quarantine = (pd.concat(quarantines, ignore_index=True) if quarantines
                  else pd.DataFrame(columns=QUARANTINE_COLUMNS))
    quarantine["row_number"] = quarantine["row_number"].astype(np.int64)
    return Dataset(path=root, tables=out, load_report=load_report, quarantine=quarantine,
                   sources=files)
