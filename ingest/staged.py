"""The staged dataset: accepted rows as typed Parquet, and back to pandas on demand.

After validation every table's accepted rows are written to
``<work_dir>/<table>.parquet`` (one file, or a directory of part files for a
table of several chunks) in these Arrow types, which the columnar engine
(DuckDB, :meth:`ringscope.ingest.dataset.Dataset.duckdb`) reads directly:

=========  ===================================  ==================================
type       staged Arrow type                    pandas (``Dataset.tables``)
=========  ===================================  ==================================
str, enum  ``string``                           object (``str``), missing ``None``
int        ``int64``                            ``Int64``
money,dec  ``float64``                          ``float64``, missing NaN
bool       ``bool``                             ``boolean``
date       ``date32``                           ``datetime64[ns]`` (midnight)
timestamp  ``timestamp[ns]``, naive local time  ``datetime64[ns]``
list       ``list<string>`` (empty, never null)  ``tuple`` of ``str``
vector     ``fixed_size_list<float>[128]``      ``ndarray`` float32 (128,) or None
=========  ===================================  ==================================

Choices: ids stay strings (``000123`` and ``NA`` are ids); timestamps are the
naive Asia/Shanghai wall time the contract speaks in (no zone to convert on
every read); money is ``float64``, the same binary value the detectors have
always computed with -- it was *read* as a decimal (see
:mod:`ringscope.ingest.columns`), and a ``decimal128`` column would make every
sum in DuckDB and pandas slower for no exactness the contract asks for
(amounts have two decimals; float64 carries 15 significant digits).
Columns outside the contract keep the type they were read with (CSV: text).
Every staged file ends with the column ``__source_row``: the row's number in
the source table (the contract's ``row_number``), so any staged row leads back
to its line in the input; views and frames hide it.

>>> import pyarrow as pa
>>> from ringscope.ingest.contract import TABLES
>>> t = pa.table({"person_id": ["P1"], "chronic_conditions": pa.array([["I10", "E11"]]),
...               "birth_date": pa.array([19000], pa.date32()), "__source_row": [1]})
>>> to_frame(t, TABLES["persons"]).iloc[0].tolist()
['P1', ('I10', 'E11'), Timestamp('2022-01-08 00:00:00')]
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ringscope.ingest.contract import Table

__all__ = ["ENCODING_DIM", "SOURCE_ROW", "STAGED_TYPES", "staged_type", "to_frame", "column_frame",
           "staged_files", "read_staged"]

ENCODING_DIM = 128
SOURCE_ROW = "__source_row"
STAGED_TYPES: dict[str, pa.DataType] = {
    "str": pa.string(),
    "enum": pa.string(),
    "int": pa.int64(),
    "money": pa.float64(),
    "decimal": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("ns"),
    "list": pa.list_(pa.string()),
    "vector": pa.list_(pa.float32(), ENCODING_DIM),
}


def staged_type(typ: str) -> pa.DataType:
    """The staged Arrow type of a contract type (``staged_type("date")`` is ``date32``)."""
    return STAGED_TYPES[typ]


def _flat(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        return arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    return arr


def _strings(arr: pa.Array, sample: int = 10_000) -> np.ndarray:
    """A string column as an object array in which equal values are one Python object.

    ``to_numpy`` makes a new ``str`` per row: 10M visits' institution ids were 10M objects of
    about 60 bytes for 3,600 distinct values. A column that repeats (ids of persons, institutions,
    physicians, kinds) is dictionary-encoded and each row points at its value's one object; a
    column whose first ``sample`` values are nearly all distinct (visit and line ids) is converted
    directly (encoding it would cost a hash pass for nothing).

    >>> a = _strings(pa.array(["h1", "h2", "h1", None]))
    >>> a.tolist(), a[0] is a[2]
    (['h1', 'h2', 'h1', None], True)
    """
    n = len(arr)
    if n == 0 or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)) or \
            len(pc.unique(arr.slice(0, sample))) > 0.9 * min(n, sample):
        out = arr.to_numpy(zero_copy_only=False)
        return out if out.dtype == object else out.astype(object)
    enc = arr.dictionary_encode()
    table = np.empty(len(enc.dictionary) + 1, dtype=object)
    table[:-1] = enc.dictionary.to_numpy(zero_copy_only=False)
    table[-1] = None
    return table[pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False)]


def _tuples(arr: pa.Array) -> pd.Series:
    """``list<string>`` -> object Series of tuples (one tuple built per distinct list)."""
    n = len(arr)
    if n == 0:
        return pd.Series([], dtype=object)
    if pa.types.is_null(arr.type.value_type):      # lists of nothing (a column added empty)
        return pd.Series([()] * n, dtype=object)
    # items never hold ";" (the reader split on it), so ";" joins them unambiguously
    joined = pc.binary_join(pc.fill_null(arr, pa.scalar([], arr.type)) if arr.null_count else arr, ";")
    enc = _flat(joined).dictionary_encode()
    codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False)
    table = np.empty(len(enc.dictionary) + 1, dtype=object)
    for i, u in enumerate(enc.dictionary.to_pylist()):
        table[i] = tuple(u.split(";")) if u else ()
    table[-1] = ()
    return pd.Series(table[codes], dtype=object)


def _vectors(arr: pa.Array) -> pd.Series:
    n = len(arr)
    out = np.full(n, None, dtype=object)
    if n == 0:
        return pd.Series(out, dtype=object)
    if not pa.types.is_fixed_size_list(arr.type):
        arr = arr.cast(pa.list_(pa.float32(), ENCODING_DIM))
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    vals = arr.values.to_numpy(zero_copy_only=False)[arr.offset * ENCODING_DIM:(arr.offset + n) * ENCODING_DIM]
    mat = np.asarray(vals, dtype=np.float32).reshape(n, ENCODING_DIM)
    for i in np.flatnonzero(valid):
        out[i] = mat[i]
    return pd.Series(out, dtype=object)


def column_frame(arr: pa.Array | pa.ChunkedArray, typ: str | None) -> pd.Series:
    """One staged column as its pandas in-memory dtype (``typ`` None: a column outside the contract)."""
    arr = _flat(arr)
    n = len(arr)
    if typ in ("str", "enum"):
        return pd.Series(_strings(arr), dtype=object)
    if typ == "int":
        vals = pc.fill_null(arr.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
        mask = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        return pd.Series(pd.arrays.IntegerArray(np.asarray(vals, dtype=np.int64), mask))
    if typ in ("money", "decimal"):
        return pd.Series(np.asarray(arr.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64))
    if typ == "bool":
        vals = pc.fill_null(arr, False).to_numpy(zero_copy_only=False)
        mask = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        return pd.Series(pd.arrays.BooleanArray(np.asarray(vals, dtype=bool), mask))
    if typ in ("date", "timestamp"):
        ns = arr.cast(pa.timestamp("ns")).to_numpy(zero_copy_only=False)
        return pd.Series(np.asarray(ns, dtype="datetime64[ns]"))
    if typ == "list":
        return _tuples(arr)
    if typ == "vector":
        return _vectors(arr)
    if n == 0 and pa.types.is_string(arr.type):
        return pd.Series([], dtype=object)
    return pd.Series(arr.to_pandas()).reset_index(drop=True)


def to_frame(tbl: pa.Table, spec: Table) -> pd.DataFrame:
    """Staged rows -> the pandas frame every detector reads (``__source_row`` dropped)."""
    types = {c.name: c.type for c in spec.columns}
    cols = {name: column_frame(tbl.column(name), types.get(name))
            for name in tbl.column_names if name != SOURCE_ROW}
    return pd.DataFrame(cols, index=pd.RangeIndex(tbl.num_rows))


def staged_files(path: Path) -> list[Path]:
    """The Parquet files of a staged table (the file itself, or a directory's parts in order)."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix == ".parquet" and not p.name.startswith((".", "_")))
    return [path] if path.exists() else []


def read_staged(path: Path, columns: list[str] | None = None) -> pa.Table:
    """A staged table (file or directory) as one Arrow table, parts in order."""
    files = staged_files(path)
    parts = [pq.read_table(f, columns=columns) for f in files]
    if not parts:
        raise FileNotFoundError(f"no staged data at {path}")
    return pa.concat_tables(parts) if len(parts) > 1 else parts[0]
