"""Input tables, read in chunks: a CSV file, a Parquet file, or a directory of Parquet parts.

A table of the dataset directory is ``<table>.csv``, ``<table>.parquet`` or a
directory ``<table>.parquet/`` of part files -- the layout Spark, Hive and the
city-sized generator write (``part-00000-....parquet``, possibly in
``key=value/`` partition directories whose value becomes a column; files whose
name starts with ``_`` or ``.``, such as ``_SUCCESS``, are ignored). Parts are
read in path order, so row numbers are stable.

Each source yields :class:`RawChunk`\\ s of at most ``target_rows`` rows: the
parsed rows (cleaned text from CSV, typed Arrow data from Parquet) with their
row numbers, and the records that could not be read at all, each with its
reason. The number of records is known independently of the parser: for CSV
the record scanner (:mod:`ringscope.ingest.csvscan`) counts them in the raw
bytes; for Parquet the files' footers give each row group's row count, and a
row group that cannot be decoded (a corrupt page: page checksums are verified
when the writer stored them) becomes one quarantine row per record it held.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import csv as pacsv

from ringscope.ingest.columns import RawColumn, Text, raw_column
from ringscope.ingest.csvscan import MAX_RECORD_BYTES, CsvChunk, CsvFile, line_note
from ringscope.ingest.errors import ContractError

__all__ = ["BadRow", "BadRange", "RawChunk", "Source", "CsvSource", "ParquetSource", "EmptySource",
           "open_source"]


@dataclass
class BadRow:
    """A record that could not be read: number, reason, and its fields as far as they can be told."""

    row: int
    reason: str
    fields: dict[str, str | None] = field(default_factory=dict)


@dataclass
class BadRange:
    """``count`` consecutive records from ``start`` that could not be read (a corrupt row group)."""

    start: int
    count: int
    reason: str


@dataclass
class RawChunk:
    n: int                                   # parsed rows
    columns: dict[str, RawColumn]
    rows: np.ndarray                         # their row numbers (from 1)
    bad: list[BadRow] = field(default_factory=list)
    bad_ranges: list[BadRange] = field(default_factory=list)
    done: int = 0                            # progress: bytes (CSV) or rows (Parquet) consumed

    @property
    def n_records(self) -> int:
        return self.n + len(self.bad) + sum(r.count for r in self.bad_ranges)


class Source:
    """One input table."""

    format = ""
    unit = "rows"

    def __init__(self, table: str, path: Path):
        self.table, self.path = table, path
        self.header: list[str] = []
        self.types: dict[str, pa.DataType] = {}    # typed sources: column -> Arrow type
        self.total: int | None = None              # progress units in all

    def chunks(self, target_rows: int) -> Iterator[RawChunk]:
        raise NotImplementedError


class EmptySource(Source):
    """An optional table given as an empty file (0 bytes): an empty table."""

    format = "empty"

    def chunks(self, target_rows: int) -> Iterator[RawChunk]:
        return iter(())


# =========================================================================== CSV
class CsvSource(Source):
    format = "csv"
    unit = "bytes"

    def __init__(self, table: str, path: Path, *, max_record_bytes: int = MAX_RECORD_BYTES):
        super().__init__(table, path)
        self.file = CsvFile(path, max_record_bytes=max_record_bytes)
        if self.file.header is None:
            self.header = []
        else:
            self.header = self.file.header
        self.total = self.file.size

    @property
    def empty(self) -> bool:
        return self.file.header is None

    def chunks(self, target_rows: int) -> Iterator[RawChunk]:
        ncols = len(self.header)
        for ch in self.file.chunks(ncols, target_rows):
            tbl, extra_bad = self._parse(ch) if len(ch.rows) else (None, [])
            bad = [BadRow(b.row, b.reason, self._fields(b.fields)) for b in ch.bad] + extra_bad
            bad.sort(key=lambda b: b.row)
            if tbl is None:
                yield RawChunk(0, {}, np.zeros(0, dtype=np.int64), bad, done=ch.bytes_done)
                continue
            rows = tbl.column("__row").to_numpy() if "__row" in tbl.column_names else ch.rows
            cols = {c: Text(tbl.column(c)) for c in self.header}
            yield RawChunk(tbl.num_rows, cols, np.asarray(rows, dtype=np.int64), bad, done=ch.bytes_done)

    def _fields(self, values: list[str]) -> dict[str, str | None]:
        return {c: (v.strip() or None) for c, v in zip(self.header, values)}

    def _parse(self, ch: CsvChunk) -> tuple[pa.Table, list[BadRow]]:
        """Arrow parses the clean records; Python's csv only if Arrow disagrees with the scanner."""
        ncols = len(self.header)
        try:
            tbl = pacsv.read_csv(
                pa.py_buffer(ch.data),
                read_options=pacsv.ReadOptions(column_names=self.header,
                                               block_size=max(1 << 20, 2 * ch.max_record + 1024)),
                parse_options=pacsv.ParseOptions(newlines_in_values=ch.multiline),
                convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in self.header},
                                                     strings_can_be_null=False,
                                                     quoted_strings_can_be_null=False))
            if tbl.num_rows == len(ch.rows):
                return tbl, []
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        return parse_records_slowly(ch, self.header, ncols)


def parse_records_slowly(ch: CsvChunk, header: list[str], ncols: int) -> tuple[pa.Table, list[BadRow]]:
    """Each clean record of ``ch`` through Python's csv, one by one (the safety net: a record
    this cannot read as ``ncols`` fields is quarantined, never dropped)."""
    data = bytes(ch.data)
    cols: list[list[str]] = [[] for _ in range(ncols)]
    rows, bad = [], []
    old = csv.field_size_limit()
    csv.field_size_limit(max(old, len(data) + 1))
    try:
        for j, row in enumerate(ch.rows.tolist()):
            text = data[ch.offsets[j]:ch.offsets[j + 1]].decode("utf-8", errors="replace")
            try:
                recs = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
            except csv.Error as e:
                bad.append(BadRow(row, f"malformed CSV record{line_note(int(ch.lines[j]))} ({e})"))
                continue
            if len(recs) != 1 or len(recs[0]) != ncols:
                got = len(recs[0]) if len(recs) == 1 else len(recs)
                bad.append(BadRow(row, f"record has {got} fields, the header has {ncols}"
                                       + line_note(int(ch.lines[j]))))
                continue
            for i, v in enumerate(recs[0]):
                cols[i].append(v)
            rows.append(row)
    finally:
        csv.field_size_limit(old)
    tbl = pa.table({**{c: pa.array(cols[i], type=pa.string()) for i, c in enumerate(header)},
                    "__row": pa.array(rows, type=pa.int64())})
    return tbl, bad


# =========================================================================== Parquet
def _parquet_parts(path: Path) -> list[tuple[Path, dict[str, str | None]]]:
    """The part files of a Parquet table in path order, with their ``key=value`` partition values.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()) / "visits.parquet"
    >>> for f in ["month=2024-02/part-1.parquet", "month=2024-01/part-0.parquet", "_SUCCESS", ".part-0.crc"]:
    ...     (d / f).parent.mkdir(parents=True, exist_ok=True); _ = (d / f).write_bytes(b"")
    >>> [(str(p.relative_to(d)), k) for p, k in _parquet_parts(d)]
    [('month=2024-01/part-0.parquet', {'month': '2024-01'}), ('month=2024-02/part-1.parquet', {'month': '2024-02'})]
    """
    if path.is_file():
        return [(path, {})]
    out = []
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path)
        if any(part.startswith(("_", ".")) for part in rel.parts) or not p.is_file():
            continue
        keys = {}
        for d in rel.parts[:-1]:
            if "=" in d:
                k, v = d.split("=", 1)
                keys[unquote(k)] = None if v == "__HIVE_DEFAULT_PARTITION__" else unquote(v)
        out.append((p, keys))
    return out


class ParquetSource(Source):
    format = "parquet"

    def __init__(self, table: str, path: Path):
        super().__init__(table, path)
        self.parts = _parquet_parts(path)
        if path.is_dir() and not self.parts:
            raise ContractError(f"{path.name}/ is a directory with no Parquet part files")
        names: list[str] = []
        self._rows: list[int] = []
        for f, keys in self.parts:
            try:
                meta = pq.read_metadata(f)
            except Exception as e:  # noqa: BLE001 - any failure means "not a Parquet table"
                where = f.name if f == path else f"{path.name}/{f.relative_to(path)}"
                raise ContractError(f"{where} is not a readable Parquet file: {e}") from e
            schema = meta.schema.to_arrow_schema()
            dup = sorted({n for n in schema.names if schema.names.count(n) > 1})
            if dup:
                raise ContractError(f"{path.name} has duplicate column(s): {', '.join(dup)}")
            for name in [*schema.names, *keys]:
                if name not in names:
                    names.append(name)
            for fld in schema:
                self.types.setdefault(fld.name, fld.type)
            for k in keys:
                self.types.setdefault(k, pa.string())
            self._rows.append(meta.num_rows)
        self.header = names
        self.total = sum(self._rows)

    def chunks(self, target_rows: int) -> Iterator[RawChunk]:
        row = 1
        done = 0
        for (f, keys), n_file in zip(self.parts, self._rows):
            where = f.name if f == self.path else f"{self.path.name}/{f.relative_to(self.path)}"
            pf = pq.ParquetFile(f, page_checksum_verification=True)
            for rg in range(pf.num_row_groups):
                n_rg = pf.metadata.row_group(rg).num_rows
                got = 0
                it = pf.iter_batches(batch_size=max(1, target_rows), row_groups=[rg])
                failure = None
                while True:
                    try:
                        batch = next(it)
                    except StopIteration:
                        break
                    except Exception as e:  # noqa: BLE001 - an undecodable row group is quarantined
                        failure = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
                        break
                    k = batch.num_rows
                    if got + k > n_rg:          # more rows than the footer says: keep the counted ones
                        batch = batch.slice(0, n_rg - got)
                        k = batch.num_rows
                    cols: dict[str, RawColumn] = {}
                    for name in self.header:
                        if name in keys:
                            cols[name] = Text(pa.array([keys[name]] * k, type=pa.string()))
                        elif name in batch.schema.names:
                            cols[name] = raw_column(batch.column(name))
                        else:                   # a column this part lacks: all null here
                            cols[name] = Text(pa.nulls(k, type=pa.string()))
                    rows = np.arange(row + got, row + got + k, dtype=np.int64)
                    got += k
                    done += k
                    yield RawChunk(k, cols, rows, done=done)
                if got < n_rg:
                    why = failure or "fewer rows decoded than its footer counts"
                    rng = BadRange(row + got, n_rg - got,
                                   f"row group {rg} of {where} could not be read ({why})")
                    done += n_rg - got
                    yield RawChunk(0, {}, np.zeros(0, dtype=np.int64), bad_ranges=[rng], done=done)
                row += n_rg


def open_source(table: str, path: Path, *, required: bool,
                max_record_bytes: int = MAX_RECORD_BYTES) -> Source:
    """The source of one table file; an empty optional file is an empty table."""
    if path.is_dir() and path.suffix != ".parquet":
        raise ContractError(f"{path.name} is a directory: a CSV table is one file "
                            f"(a directory of part files must be Parquet, {path.stem}.parquet/)")
    if path.is_file() and path.stat().st_size == 0:
        if required:
            raise ContractError(f"{path.name} is empty: a table needs a header row")
        return EmptySource(table, path)
    if path.suffix == ".parquet":
        return ParquetSource(table, path)
    src = CsvSource(table, path, max_record_bytes=max_record_bytes)
    if src.empty:
        if required:
            raise ContractError(f"{path.name} is empty: a table needs a header row")
        return EmptySource(table, path)
    dup = sorted({n for n in src.header if src.header.count(n) > 1})
    if dup:
        raise ContractError(f"{path.name} has duplicate column(s): {', '.join(dup)}")
    return src
