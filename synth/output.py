"""Where a generated city goes: one file per table, or partitions written shard by shard.

A city that fits in one shard is written as it always was, one ``<table>.csv`` or
``<table>.parquet`` per table through :func:`ringscope.ingest.io.write_dataset`.
A city generated in shards is written as it is made, so that no table is ever held
whole in memory:

* Parquet, ``layout="dir"`` (the default for a sharded city): a directory per table
  with one part per shard, ``visits.parquet/part-00000.parquet`` ... -- the layout
  Spark and Hive write and DuckDB/Arrow read as one dataset;
* Parquet, ``layout="file"``: one file per table, one row group per shard;
* CSV: one file per table, the header once, the shards appended.

Each table is written under a temporary name and moved into place by
:meth:`Sink.close`, so a crash never leaves a half-written table that a later run
would take for a complete one; a table of the other format or layout is removed.

>>> import tempfile, pandas as pd
>>> d = Path(tempfile.mkdtemp())
>>> s = Sink(d, "parquet", layout="dir")
>>> s.write("known_cases", pd.DataFrame({"case_id": ["A1"], "entity_type": ["person"],
...         "entity_id": ["P1"], "label": ["fraud"]}))
1
>>> s.close()
>>> sorted(p.name for p in (d / "known_cases.parquet").iterdir())
['part-00000.parquet']
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import csv as pacsv

from ringscope.ingest.io import to_arrow_table, to_text_table, write_dataset

__all__ = ["Sink"]

_LAYOUTS = ("auto", "file", "dir")


def _quote(field: str) -> str:
    return '"' + field.replace('"', '""') + '"' if any(ch in field for ch in ',"\r\n') else field


def _quoting(tbl: pa.Table) -> str:
    for col in tbl.columns:
        if pa.types.is_string(col.type) and pc.any(pc.match_substring_regex(col, r'[",\r\n]')).as_py():
            return "needed"
    return "none"


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


class Sink:
    """Writes the tables of one dataset directory (see the module docstring).

    ``streaming``: tables may be written in several pieces (a sharded city);
    ``layout``: ``auto`` (a directory per table when streaming Parquet, else a
    file), ``file`` or ``dir``.
    """

    def __init__(self, out: Path, fmt: str, layout: str = "auto", streaming: bool = False):
        if fmt not in ("csv", "parquet"):
            raise ValueError(f"format must be csv or parquet, not {fmt!r}")
        if layout not in _LAYOUTS:
            raise ValueError(f"layout must be one of {_LAYOUTS}, not {layout!r}")
        self.out, self.fmt, self.streaming = Path(out), fmt, streaming
        self.dirs = fmt == "parquet" and (layout == "dir" or (layout == "auto" and streaming))
        self.out.mkdir(parents=True, exist_ok=True)
        self._tmp: dict[str, Path] = {}
        self._parts: dict[str, int] = {}
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._csv: dict[str, object] = {}
        self.rows: dict[str, int] = {}
        self.bytes = 0

    def final_path(self, name: str) -> Path:
        return self.out / f"{name}.{self.fmt}"

    def _begin(self, name: str) -> Path:
        if name in self._tmp:
            return self._tmp[name]
        tmp = self.out / f".{name}.{self.fmt}.tmp-{os.getpid()}"
        _remove(tmp)
        if self.dirs:
            tmp.mkdir()
        self._tmp[name] = tmp
        self._parts[name] = 0
        return tmp

    def write(self, name: str, df: pd.DataFrame | None = None, *, arrow: pa.Table | None = None,
              text: pa.Table | None = None) -> int:
        """Write (a piece of) table ``name``: a DataFrame in the contract's in-memory dtypes, or a
        ready Arrow table (``arrow`` typed for Parquet, ``text`` rendered for CSV). Returns rows."""
        n = len(df) if df is not None else (arrow.num_rows if arrow is not None else text.num_rows)
        self.rows[name] = self.rows.get(name, 0) + n
        if not self.streaming and not self.dirs and df is not None:
            if name in self._tmp:
                raise ValueError(f"table {name} written twice")
            self._tmp[name] = self.final_path(name)
            write_dataset({name: df}, self.out, self.fmt)      # the one-file form, as it always was
            return n
        tmp = self._begin(name)
        if self.fmt == "parquet":
            tbl = arrow if arrow is not None else to_arrow_table(df.reset_index(drop=True), name)
            if self.dirs:
                part = tmp / f"part-{self._parts[name]:05d}.parquet"
                pq.write_table(tbl, part, compression="zstd")
                self._parts[name] += 1
            else:
                w = self._writers.get(name)
                if w is None:
                    w = self._writers[name] = pq.ParquetWriter(tmp, tbl.schema, compression="zstd")
                w.write_table(tbl.cast(w.schema))
        else:
            tbl = text if text is not None else to_text_table(df.reset_index(drop=True), name)
            f = self._csv.get(name)
            if f is None:
                f = self._csv[name] = open(tmp, "wb")
                f.write((",".join(_quote(c) for c in tbl.column_names) + "\n").encode("utf-8"))
            if tbl.num_rows:
                pacsv.write_csv(tbl, f, write_options=pacsv.WriteOptions(include_header=False,
                                                                           quoting_style=_quoting(tbl)))
        return n

    def close(self) -> None:
        """Move every table into place (and drop the same table in the other format or layout)."""
        for w in self._writers.values():
            w.close()
        for f in self._csv.values():
            f.close()
        for name, tmp in self._tmp.items():
            final = self.final_path(name)
            other = self.out / f"{name}.{'parquet' if self.fmt == 'csv' else 'csv'}"
            if tmp != final:
                _remove(final)
                os.replace(tmp, final)
            _remove(other)
            self.bytes += _size(final)
        self._writers, self._csv = {}, {}


def _size(p: Path) -> int:
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size if p.exists() else 0
