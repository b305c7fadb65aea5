"""A validated dataset: staged Parquet per table, pandas frames on demand, DuckDB views.

:func:`ringscope.ingest.reader.read_dataset` returns a :class:`Dataset`. Its
accepted rows live on disk, typed (:mod:`ringscope.ingest.staged`), in
``work_dir``; memory holds only what is asked for:

- ``ds.tables[name]`` -- the whole table as the pandas frame of the contract's
  in-memory dtypes, loaded from the staged Parquet on first access and
  cached: every detector, the Neo4j loader and the tests read this, as
  before the reader streamed;
- ``ds.table(name, columns=[...], where="...")`` -- column- and row-pruned
  pandas through DuckDB, for a frame too big to hold whole;
- ``ds.duckdb()`` -- a DuckDB connection with one view per table (and
  ``quarantine``) over the staged files, with the dataset's memory limit and
  threads: the columnar engine's entry point;
- ``ds.staged_path(name)``, ``ds.n_rows(name)``;
- ``ds.load_report``, ``ds.quarantine``, ``ds.write_reports(out)``,
  ``ds.summary()`` as before.

A ``work_dir`` the reader chose itself (a temporary directory) is removed by
:meth:`Dataset.close` (or leaving a ``with`` block, or when the object is
garbage-collected); a ``work_dir`` the caller gave is left in place, with a
``manifest.json`` describing it.
"""
from __future__ import annotations

import os
import shutil
import weakref
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ringscope.ingest.contract import LOAD_ORDER, LOAD_REPORT_COLUMNS, QUARANTINE_COLUMNS, TABLES
from ringscope.ingest.crossrow import Period, arrow_table
from ringscope.ingest.io import write_csv, write_csv_batches
from ringscope.ingest.staged import SOURCE_ROW, read_staged, staged_files, to_frame

__all__ = ["Dataset", "QUARANTINE_DIR"]

QUARANTINE_DIR = "quarantine.parquet"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _files_sql(files: Sequence[Path]) -> str:
    return "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"


class _Tables(Mapping[str, pd.DataFrame]):
    """``ds.tables``: a read-only mapping whose frames are loaded on first access and cached."""

    def __init__(self, ds: "Dataset"):
        self._ds = ds

    @property
    def dataset(self) -> "Dataset":
        """The dataset these tables belong to (to read parts of a table without loading it)."""
        return self._ds

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self._ds._frame(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ds._staged)

    def __len__(self) -> int:
        return len(self._ds._staged)

    def __contains__(self, name: object) -> bool:
        return name in self._ds._staged

    def __repr__(self) -> str:
        loaded = [n for n in self._ds._staged if n in self._ds._cache]
        return f"<tables {', '.join(self._ds._staged)}; loaded: {', '.join(loaded) or 'none'}>"


class Dataset:
    """A validated dataset (see the module docstring)."""

    def __init__(self, path: Path, work_dir: Path, staged: dict[str, Path], load_report: pd.DataFrame,
                 sources: dict[str, Path], *, data_period: Period | None = None, memory_limit: str = "4GB",
                 threads: int | None = None, owns_work_dir: bool = False):
        self.path = Path(path)
        self.work_dir = Path(work_dir)
        self.sources = dict(sources)
        self.load_report = load_report
        self.data_period = data_period
        self.memory_limit = memory_limit
        self.threads = threads
        self._staged = {n: staged[n] for n in LOAD_ORDER if n in staged}
        self._cache: dict[str, pd.DataFrame] = {}
        self._quarantine: pd.DataFrame | None = None
        self._closed = False
        self.tables: Mapping[str, pd.DataFrame] = _Tables(self)
        self._finalizer = (weakref.finalize(self, shutil.rmtree, str(self.work_dir), True)
                           if owns_work_dir else None)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Drop cached frames; remove the work directory if the reader created it."""
        self._closed = True
        self._cache.clear()
        if self._finalizer is not None:
            self._finalizer()

    def __enter__(self) -> "Dataset":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed and self._finalizer is not None:
            raise RuntimeError(f"dataset {self.path} was closed (its staged files are gone)")

    # ------------------------------------------------------------------ tables
    def has(self, name: str) -> bool:
        """Whether table ``name`` was present in the dataset."""
        return name in self._staged

    def _missing(self, name: str) -> KeyError:
        return KeyError(f"table {name!r} is not in dataset {self.path} "
                        f"(present: {', '.join(self._staged) or 'none'})")

    def staged_path(self, name: str) -> Path:
        """The staged Parquet of ``name``: a file, or a directory of part files."""
        if name not in self._staged:
            raise self._missing(name)
        return self._staged[name]

    def staged_files(self, name: str) -> list[Path]:
        """The staged Parquet files of ``name``, in row order."""
        return staged_files(self.staged_path(name))

    def n_rows(self, name: str) -> int:
        """Accepted rows of ``name`` (from the Parquet footers: nothing is loaded)."""
        return int(sum(pq.read_metadata(f).num_rows for f in self.staged_files(name)))

    def _frame(self, name: str) -> pd.DataFrame:
        if name in self._cache:
            return self._cache[name]
        if name not in self._staged:
            raise KeyError(name)
        self._check_open()
        df = to_frame(read_staged(self._staged[name]), TABLES[name])
        self._cache[name] = df
        return df

    def table(self, name: str, columns: Sequence[str] | None = None, where: str | None = None,
              params: Sequence[Any] | None = None) -> pd.DataFrame:
        """The accepted rows of ``name`` (``KeyError`` naming what is there when absent).

        Without ``columns`` and ``where``: the whole cached frame (``ds.tables[name]``).
        Otherwise only those columns, and only the rows where the DuckDB SQL
        predicate ``where`` holds (values as ``?`` placeholders with
        ``params``), in file order, in the same dtypes -- loaded through DuckDB
        without reading the rest::

            ds.table("claim_lines", ["visit_id", "amount"], "amount > ?", [1000])
        """
        if name not in self._staged:
            raise self._missing(name)
        if columns is None and where is None:
            return self._frame(name)
        self._check_open()
        if columns is not None:
            unknown = [c for c in columns if c not in self._columns(name)]
            if unknown:
                raise KeyError(f"{name} has no column(s) {', '.join(unknown)}")
        sel = ", ".join(_q(c) for c in columns) if columns is not None else "*"
        sql = f"SELECT {sel} FROM {_q(name)}" + (f" WHERE {where}" if where else "")
        with self.duckdb() as con:
            tbl = arrow_table(con.sql(sql, params=list(params) if params else None))
        return to_frame(tbl, TABLES[name])

    def is_loaded(self, name: str) -> bool:
        """Whether table ``name`` is already in memory whole (``ds.tables[name]`` was asked for)."""
        return name in self._cache

    def columns(self, name: str) -> list[str]:
        """The accepted columns of a staged table (from its Parquet schema: nothing is loaded)."""
        return self._columns(name)

    def _columns(self, name: str) -> list[str]:
        files = self.staged_files(name)
        return [c for c in pq.read_schema(files[0]).names if c != SOURCE_ROW] if files else []

    def duckdb(self) -> duckdb.DuckDBPyConnection:
        """A new in-memory DuckDB connection with a view per staged table and ``quarantine``.

        The connection has the dataset's ``memory_limit`` and ``threads`` and
        spills to ``work_dir``; the caller closes it (``with ds.duckdb() as con:``)."""
        self._check_open()
        tmp = self.work_dir / "_duckdb_tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(config={"memory_limit": self.memory_limit, "temp_directory": str(tmp),
                                     **({"threads": int(self.threads)} if self.threads else {})})
        for name in self._staged:
            files = self.staged_files(name)
            con.execute(f"CREATE VIEW {_q(name)} AS SELECT * EXCLUDE ({SOURCE_ROW}) "
                        f"FROM read_parquet({_files_sql(files)})")
        qfiles = self._quarantine_files()
        if qfiles:
            con.execute(f"CREATE VIEW quarantine AS SELECT * FROM read_parquet({_files_sql(qfiles)})")
        return con

    # ------------------------------------------------------------------ quarantine
    def _quarantine_files(self) -> list[Path]:
        d = self.work_dir / QUARANTINE_DIR
        return staged_files(d) if d.is_dir() else []

    def _quarantine_batches(self, batch: int = 500_000) -> Iterator[pd.DataFrame]:
        for f in self._quarantine_files():
            pf = pq.ParquetFile(f)
            for b in pf.iter_batches(batch_size=batch):
                yield _quarantine_frame(b.to_pandas())

    @property
    def quarantine(self) -> pd.DataFrame:
        """Every rejected row: ``table, row_number, key, column, reason`` (tables in load order)."""
        if self._quarantine is None:
            self._check_open()
            frames = list(self._quarantine_batches())
            self._quarantine = (pd.concat(frames, ignore_index=True) if frames
                                else _quarantine_frame(pd.DataFrame(columns=QUARANTINE_COLUMNS)))
        return self._quarantine

    @quarantine.setter
    def quarantine(self, value: pd.DataFrame) -> None:
        self._quarantine = value

    def n_quarantined(self) -> int:
        return int(self.load_report["quarantined"].sum()) if len(self.load_report) else 0

    def write_reports(self, out_dir: str | os.PathLike) -> Path:
        """Write ``load_report.csv`` and ``quarantine.csv`` into ``out_dir`` (created)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_csv(self.load_report, out / "load_report.csv", columns=LOAD_REPORT_COLUMNS)
        batches = [self._quarantine] if self._quarantine is not None else self._quarantine_batches()
        write_csv_batches(batches, out / "quarantine.csv", columns=QUARANTINE_COLUMNS)
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
        if self.data_period is not None:
            p = self.data_period
            how = "observed: 0.5%-99.5% of visit start days" if p.observed else "given"
            lines.append(f"data period {p} ({how}), tolerance {p.tolerance_days} days")
        causes = self._causes(top)
        if len(causes):
            lines += ["", f"quarantine causes (top {min(top, len(causes))}):",
                      causes.to_string(index=False)]
        return "\n".join(lines)

    def _causes(self, top: int) -> pd.DataFrame:
        files = self._quarantine_files()
        if self._quarantine is not None or not files:
            q = self.quarantine
            if not len(q):
                return q.iloc[:0]
            return (q.groupby(["table", "column"], sort=False)
                    .agg(rows=("row_number", "size"), first_row=("row_number", "min"),
                         example=("reason", "first"))
                    .reset_index().sort_values("rows", ascending=False, kind="stable").head(top))
        order = " ".join(f"WHEN {_q('table')} = '{t}' THEN {i}" for i, t in enumerate(LOAD_ORDER))
        con = duckdb.connect(config={"memory_limit": self.memory_limit})
        try:
            df = arrow_table(con.sql(f"""
                WITH q AS (SELECT *, (CASE {order} ELSE 99 END) * 4294967296 + row_number AS ord
                           FROM read_parquet({_files_sql(files)}))
                SELECT "table", "column", count(*) AS rows, min(row_number) AS first_row,
                       arg_min(reason, ord) AS example, min(ord) AS o
                FROM q GROUP BY "table", "column" ORDER BY o""")).to_pandas()
        finally:
            con.close()
        if not len(df):
            return df
        return (df.drop(columns="o").sort_values("rows", ascending=False, kind="stable")
                .head(top).reset_index(drop=True))

    def __repr__(self) -> str:
        return (f"<Dataset {self.path}: {', '.join(f'{n} {self.n_rows(n):,}' for n in self._staged)}; "
                f"staged in {self.work_dir}>")


def _quarantine_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The quarantine's columns and dtypes (row numbers int64, text object with None).

    >>> _quarantine_frame(pd.DataFrame({"table": ["visits"], "row_number": [3], "key": [float("nan")],
    ...                                 "column": ["(row)"], "reason": ["unbalanced quote opened at line 4"]}))
        table  row_number   key column                             reason
    0  visits           3  None  (row)  unbalanced quote opened at line 4
    """
    out = pd.DataFrame({c: df[c] if c in df.columns else pd.Series([], dtype=object)
                        for c in QUARANTINE_COLUMNS})
    out["row_number"] = out["row_number"].astype(np.int64)
    for c in ("table", "key", "column", "reason"):
        out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out

