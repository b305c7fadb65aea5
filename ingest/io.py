"""Writing tables in the data contract's on-disk forms.

The inverse of :func:`ringscope.ingest.reader.read_dataset`: in-memory dtypes
(as documented at the top of :mod:`ringscope.ingest.contract`) are serialised
to the text conventions of ``shared/spec/data-contract.md`` (CSV) or to typed
Parquet columns, so that ``read_dataset(write_dataset(x)) == x`` for valid data.

=========  ======================================  ================================
type       CSV field                               Parquet column
=========  ======================================  ================================
str, enum  as is                                   ``string``
int        ``12``                                  ``int64``
money,dec  shortest round-trip decimal (``0.1``)   ``double``
bool       ``true`` / ``false``                    ``bool``
date       ``YYYY-MM-DD``                          ``date32``
timestamp  ``YYYY-MM-DDTHH:MM:SS[.ffffff]``        ``timestamp[us]`` (naive, local)
list       ``a;b``                                 ``list<string>``
vector     128 numbers, single spaces              ``list<float>``
=========  ======================================  ================================

Nulls are empty CSV fields / Parquet nulls. Numbers are written in the
shortest form that parses back to the same binary value (float32 for
encodings), so the round trip is exact. Everything is columnar (Arrow compute
and numpy); dates and times are formatted from their numeric parts rather than
with a per-value ``strftime``.

Files are written to a temporary name and renamed into place, so a crash never
leaves a half-written table that a later run would read as complete.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import csv as pacsv

from ringscope.ingest.contract import TABLES, Table

__all__ = ["write_dataset", "write_csv", "write_csv_batches", "to_arrow_table", "to_text_table", "infer_type"]

_FORMATS = ("csv", "parquet")
_LOCAL_TZ = "Asia/Shanghai"


# --------------------------------------------------------------------------- type inference
def infer_type(s: pd.Series) -> str:
    """The contract type a column of unknown meaning is serialised as.

    >>> infer_type(pd.Series([1, 2]))
    'int'
    >>> infer_type(pd.Series([("a",), ()]))
    'list'
    """
    dt = s.dtype
    if pd.api.types.is_bool_dtype(dt):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(dt):
        return "timestamp"
    if pd.api.types.is_integer_dtype(dt):
        return "int"
    if pd.api.types.is_float_dtype(dt):
        return "decimal"
    nonnull = s.dropna()
    if len(nonnull):
        first = nonnull.iloc[0]
        if isinstance(first, (tuple, list)):
            return "list"
        if isinstance(first, np.ndarray):
            return "vector"
    return "str"


def _column_types(df: pd.DataFrame, spec: Table | None) -> dict[str, str]:
    known = {c.name: c.type for c in spec.columns} if spec is not None else {}
    return {name: known.get(name) or infer_type(df[name]) for name in df.columns}


# --------------------------------------------------------------------------- typed Arrow
def _is_null_scalar(v: object) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT


def _arrow_str(s: pd.Series) -> pa.Array:
    vals = s.to_numpy(dtype=object, na_value=None)
    try:
        return pa.array(vals, type=pa.string(), from_pandas=True)
    except (pa.ArrowTypeError, pa.ArrowInvalid):   # non-str values (numbers as ids...)
        null = s.isna().to_numpy()
        out = s.astype(str).to_numpy(dtype=object)
        out[null] = None
        return pa.array(out, type=pa.string())


def _datetime64(s: pd.Series) -> np.ndarray:
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_convert(_LOCAL_TZ).dt.tz_localize(None)
    return pd.to_datetime(s).to_numpy(dtype="datetime64[ns]")


def _arrow_list(s: pd.Series) -> pa.Array:
    vals = s.to_numpy(dtype=object, na_value=None)
    try:   # tuples are hashable: normalise each distinct value once
        codes, uniques = pd.factorize(vals)
    except TypeError:   # lists or arrays in the column
        keys = np.empty(len(vals), dtype=object)
        keys[:] = [_list_key(v) for v in vals]
        codes, uniques = pd.factorize(keys)
    dictionary = pa.array([list(_list_key(u)) for u in uniques] + [[]], type=pa.list_(pa.string()))
    codes = np.where(codes < 0, len(uniques), codes)
    return pc.take(dictionary, pa.array(codes))


def _list_key(v: object) -> tuple[str, ...]:
    if _is_null_scalar(v):
        return ()
    if isinstance(v, str):
        return (v,) if v else ()
    return tuple(str(x) for x in v)


def _arrow_vector(s: pd.Series) -> pa.Array:
    vals = s.to_numpy(dtype=object, na_value=None)
    present = np.array([not _is_null_scalar(v) if not isinstance(v, np.ndarray) else True for v in vals],
                       dtype=bool)
    rows = [np.asarray(vals[i], dtype=np.float32).ravel() for i in np.flatnonzero(present)]
    lengths = np.zeros(len(s), dtype=np.int64)
    lengths[present] = [len(r) for r in rows]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    values = np.concatenate(rows) if rows else np.zeros(0, np.float32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, type=pa.float32()),
                                    type=pa.list_(pa.float32()), mask=pa.array(~present))


def _arrow_column(s: pd.Series, typ: str) -> pa.Array:
    if typ in ("str", "enum"):
        return _arrow_str(s)
    if typ == "int":
        return pa.array(pd.array(s, dtype="Int64"), type=pa.int64())
    if typ in ("money", "decimal"):
        return pa.array(pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan),
                        type=pa.float64(), from_pandas=True)
    if typ == "bool":
        return pa.array(pd.array(s, dtype="boolean"), type=pa.bool_())
    if typ == "date":
        return pa.array(_datetime64(s).astype("datetime64[D]"), type=pa.date32(), from_pandas=True)
    if typ == "timestamp":
        return pa.array(_datetime64(s), type=pa.timestamp("ns"), from_pandas=True).cast(
            pa.timestamp("us"), safe=False)
    if typ == "list":
        return _arrow_list(s)
    if typ == "vector":
        return _arrow_vector(s)
    raise ValueError(f"unknown contract type {typ!r}")


def to_arrow_table(df: pd.DataFrame, table: str | None = None) -> pa.Table:
    """``df`` as an Arrow table with the contract's Parquet column types."""
    spec = TABLES.get(table) if table else None
    types = _column_types(df, spec)
    return pa.table({name: _arrow_column(df[name], types[name]) for name in df.columns})


# --------------------------------------------------------------------------- text
def _digits_into(out: np.ndarray, col: int, values: np.ndarray, width: int) -> None:
    for j in range(width):
        out[:, col + width - 1 - j] = ord("0") + (values // 10 ** j) % 10


def _format_datetimes(v: np.ndarray, with_time: bool) -> pa.Array:
    """``YYYY-MM-DD`` / ``YYYY-MM-DDTHH:MM:SS`` strings built from the numeric parts (nulls kept)."""
    null = np.isnat(v)
    safe = np.where(null, np.datetime64(0, "ns"), v)
    if with_time and (safe.astype(np.int64) % 1_000_000_000 != 0).any():
        text = np.datetime_as_string(v.astype("datetime64[us]"), unit="us").astype(object)
        text[null] = None
        return pa.array(text, type=pa.string())
    days = safe.astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    year = days.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    width = 19 if with_time else 10
    out = np.empty((len(v), width), dtype=np.uint8)
    _digits_into(out, 0, year, 4)
    out[:, 4] = out[:, 7] = ord("-")
    _digits_into(out, 5, month, 2)
    _digits_into(out, 8, day, 2)
    if with_time:
        sod = (safe.astype("datetime64[s]") - days.astype("datetime64[s]")).astype(np.int64)
        out[:, 10] = ord("T")
        out[:, 13] = out[:, 16] = ord(":")
        _digits_into(out, 11, sod // 3600, 2)
        _digits_into(out, 14, sod // 60 % 60, 2)
        _digits_into(out, 17, sod % 60, 2)
    offsets = np.arange(0, width * len(v) + 1, width, dtype=np.int32)
    validity = pa.array(~null).buffers()[1] if null.any() else None
    return pa.StringArray.from_buffers(len(v), pa.py_buffer(offsets), pa.py_buffer(out.tobytes()),
                                       validity, int(null.sum()))


def _text_column(s: pd.Series, typ: str) -> pa.Array:
    if typ in ("date", "timestamp"):
        return _format_datetimes(_datetime64(s), with_time=typ == "timestamp")
    arr = _arrow_column(s, typ)
    if typ == "list":
        return pc.binary_join(arr, ";")
    if typ == "vector":
        return pc.binary_join(arr.cast(pa.list_(pa.string())), " ")
    return arr.cast(pa.string())


def to_text_table(df: pd.DataFrame, table: str | None = None) -> pa.Table:
    """``df`` with every column rendered as contract text (Arrow strings, nulls null)."""
    spec = TABLES.get(table) if table else None
    types = _column_types(df, spec)
    return pa.table({name: _text_column(df[name], types[name]) for name in df.columns})


# --------------------------------------------------------------------------- files
def _tmp_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _quote(field: str) -> str:
    return '"' + field.replace('"', '""') + '"' if any(ch in field for ch in ',"\r\n') else field


def _quoting(tbl: pa.Table) -> str:
    """``none`` when no field needs RFC 4180 quotes, else ``needed`` (Arrow then quotes every string)."""
    for col in tbl.columns:
        if pc.any(pc.match_substring_regex(col, r'[",\r\n]')).as_py():
            return "needed"
    return "none"


def _write_text(tbl: pa.Table, path: Path) -> None:
    tmp = _tmp_for(path)
    try:
        with open(tmp, "wb") as f:
            f.write((",".join(_quote(c) for c in tbl.column_names) + "\n").encode("utf-8"))
            if tbl.num_rows:
                pacsv.write_csv(tbl, f, write_options=pacsv.WriteOptions(
                    include_header=False, quoting_style=_quoting(tbl)))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_csv(df: pd.DataFrame, path: str | os.PathLike, *,
              columns: Iterable[str] | None = None, table: str | None = None) -> Path:
    """Write ``df`` as a contract-style CSV (UTF-8, header, RFC 4180 quoting).

    ``columns`` fixes the header (missing columns are written empty, others are
    dropped), e.g. ``contract.LEADS_COLUMNS`` for a results file. ``table``
    names a contract table whose column types to use; otherwise types are
    inferred from the dtypes. The parent directory is created; the file appears
    atomically.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df = df.reset_index(drop=True)
    if columns is not None:
        columns = list(columns)
        df = pd.DataFrame({c: df[c] if c in df.columns else pd.Series([None] * len(df), dtype=object)
                           for c in columns}, columns=columns)
    _write_text(to_text_table(df, table), path)
    return path


def write_csv_batches(batches: Iterable[pd.DataFrame], path: str | os.PathLike, *,
                      columns: Iterable[str], table: str | None = None) -> Path:
    """Write frames one after the other as one contract-style CSV (what :func:`write_csv` writes
    for their concatenation, without holding it in memory). The file appears atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(columns)
    tmp = _tmp_for(path)
    try:
        with open(tmp, "wb") as f:
            f.write((",".join(_quote(c) for c in columns) + "\n").encode("utf-8"))
            for df in batches:
                if not len(df):
                    continue
                df = df.reset_index(drop=True)
                df = pd.DataFrame({c: df[c] if c in df.columns else pd.Series([None] * len(df), dtype=object)
                                   for c in columns}, columns=columns)
                tbl = to_text_table(df, table)
                pacsv.write_csv(tbl, f, write_options=pacsv.WriteOptions(include_header=False,
                                                                         quoting_style=_quoting(tbl)))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_dataset(tables: Mapping[str, pd.DataFrame], out_dir: str | os.PathLike,
                  fmt: str = "csv") -> Path:
    """Write ``tables`` (in-memory dtypes) as a dataset directory in the contract's shape.

    One ``<table>.csv`` or ``<table>.parquet`` per table; a file of the same
    table in the other format is removed, so the directory never holds both.
    Tables and columns outside the contract are written too (types inferred).
    Returns ``out_dir``.
    """
    if fmt not in _FORMATS:
        raise ValueError(f"fmt must be one of {_FORMATS}, not {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        df = df.reset_index(drop=True)
        path = out / f"{name}.{fmt}"
        other = out / f"{name}.{'parquet' if fmt == 'csv' else 'csv'}"
        if fmt == "csv":
            _write_text(to_text_table(df, name), path)
        else:
            tmp = _tmp_for(path)
            try:
                pq.write_table(to_arrow_table(df, name), tmp)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        if other.is_file():
            other.unlink()
    return out
