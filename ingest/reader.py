"""Reader and validator of the input data contract (``shared/spec/data-contract.md``), streaming.

:func:`read_dataset` reads a dataset directory (one ``<table>.csv``,
``<table>.parquet`` or ``<table>.parquet/`` directory of part files per
table), enforces every rule of the contract and returns a
:class:`~ringscope.ingest.dataset.Dataset`: the accepted rows of each table
staged as typed Parquet (:mod:`ringscope.ingest.staged`), given to the
detectors as pandas frames in the in-memory dtypes documented in
:mod:`ringscope.ingest.contract` (loaded on first access), a load report and
a quarantine.

Memory is bounded by a setting, not by the size of the city: each table is
read in chunks of ``chunk_rows`` rows (CSV through the record scanner
:mod:`ringscope.ingest.csvscan` and Arrow's parser; Parquet with
``ParquetFile.iter_batches``), and the cross-row checks run in DuckDB under
``memory_limit``, spilling to disk. Three passes:

1. **per row**, chunk by chunk (:mod:`ringscope.ingest.columns`): every value
   parsed and checked; rows that pass are staged as candidates, the others go
   to the quarantine with the first problem's column and reason;
2. **across rows**, in DuckDB, parents before children
   (:mod:`ringscope.ingest.crossrow`): the data period, duplicate keys,
   foreign keys, and the cascade from a quarantined parent;
3. **accepted rows written** to ``work_dir/<table>.parquet`` (a file, or a
   directory of part files), face photos encoded on the way.

Two kinds of failure, as the contract prescribes:

- structural (a missing required table or column, a table present both as CSV
  and Parquet, a directory that is not a dataset, a file that is not UTF-8 or
  not Parquet, a Parquet boolean column where the contract wants a number):
  :class:`ContractError`, raised before any row is validated and before the
  caller writes anything;
- a bad row (a record the CSV parser cannot read -- unbalanced quote, wrong
  number of fields, bytes that are not UTF-8, a record over
  ``max_record_bytes`` --, a missing required value, an unknown enum value,
  an unparsable number, integer, boolean, date or timestamp, a negative value
  where the contract forbids one, an implausible amount or date, an end
  before its start, an encoding that is not 128 numbers, a duplicate key, an
  unknown foreign key, a face row with neither encoding nor photo, a photo
  with no face or several faces): the row goes to the quarantine with its
  table, row number, key, first offending column and reason; the load goes on.

Every record is accounted for (issue 17): ``rows_read`` is the number of
records in the file counted independently of the parser (the scanner's count
in the raw bytes; the Parquet footers' row counts), and always equals
accepted + quarantined. An empty optional file (0 bytes, or a header only) is
an empty table.

Lenient where a real export differs harmlessly from the contract, strict
where it matters: surrounding whitespace is stripped, a UTF-8 byte-order mark
is accepted, enum values are matched case-insensitively (and stored in their
canonical spelling), booleans accept ``true/false``, ``1/0`` and ``yes/no``,
a date column accepts ``YYYY-MM-DDT00:00:00``; only an empty field is null
(``NA`` in an id is an id). Timestamps with an explicit offset (``Z``,
``+08:00``, ``-0500``) are converted to Asia/Shanghai wall time.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ringscope import progress
from ringscope.ingest.columns import (
    LOCAL_TZ,
    ROW_COLUMN,
    Errors,
    Limits,
    check_one_of,
    check_order,
    extra_array,
    parse_column,
)
from ringscope.ingest.contract import LOAD_ORDER, LOAD_REPORT_COLUMNS, TABLES, Table
from ringscope.ingest.crossrow import LIFE_COLUMNS, PERIOD_COLUMNS, CrossRowChecker, Period, key_columns, \
    observed_period
from ringscope.ingest.csvscan import MAX_RECORD_BYTES
from ringscope.ingest.dataset import QUARANTINE_DIR, Dataset
from ringscope.ingest.errors import ContractError
from ringscope.ingest.sources import RawChunk, Source, open_source
from ringscope.ingest.staged import ENCODING_DIM, SOURCE_ROW, staged_type

__all__ = ["ContractError", "Dataset", "read_dataset", "ENCODING_DIM", "LOCAL_TZ", "DEFAULT_CHUNK_ROWS"]

DEFAULT_CHUNK_ROWS = 200_000
_STAGE = "_stage"
_MANIFEST = "manifest.json"
_QSCHEMA = pa.schema([("row_number", pa.int64()), ("key", pa.string()), ("column", pa.string()),
                      ("reason", pa.string())])
_NUMERIC = ("int", "money", "decimal")


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


def _check_columns(sources: dict[str, Source]) -> None:
    problems = []
    for name, src in sources.items():
        if src.format == "empty":
            continue
        spec, cols, fname = TABLES[name], src.header, src.path.name
        if SOURCE_ROW in cols:
            problems.append(f"{fname} has a column named {SOURCE_ROW} (reserved by the reader)")
        miss = [c for c in spec.required_columns if c not in cols]
        if miss:
            problems.append(f"{fname} lacks required column(s): " + ", ".join(f"{name}.{c}" for c in miss))
        groups: dict[str, list[str]] = {}
        for c in spec.columns:
            if c.one_of_group:
                groups.setdefault(c.one_of_group, []).append(c.name)
        for members in groups.values():
            if not any(m in cols for m in members):
                problems.append(f"{fname} needs at least one of the columns "
                                + " or ".join(f"{name}.{m}" for m in members))
        for c in spec.columns:       # a boolean column is not a number (issue 17.2)
            t = src.types.get(c.name)
            if c.type in _NUMERIC and t is not None and pa.types.is_boolean(t):
                problems.append(f"{fname}: column {c.name} is boolean, but {name}.{c.name} is "
                                f"{'an integer' if c.type == 'int' else 'a number (' + c.type + ')'}")
    if problems:
        raise ContractError("; ".join(problems))


# =========================================================================== one chunk
def _key_of_rows(spec: Table, arrays: dict[str, pa.Array], idx: np.ndarray) -> pa.Array:
    """The quarantine ``key`` of rows ``idx`` (composite parts joined by ``|``; null when all null)."""
    cols = key_columns(spec)
    if not cols:
        return pa.nulls(len(idx), pa.string())
    take = pa.array(idx, type=pa.int64())
    parts = [arrays[c].take(take).cast(pa.string()) for c in cols]
    if len(parts) == 1:
        return parts[0]
    joined = pc.binary_join_element_wise(*[pc.fill_null(p, "") for p in parts], "|")
    anyp = parts[0].is_valid()
    for p in parts[1:]:
        anyp = pc.or_(anyp, p.is_valid())
    return pc.if_else(anyp, joined, pa.scalar(None, pa.string()))


def _key_of_fields(spec: Table, fields: dict[str, str | None]) -> str | None:
    cols = key_columns(spec)
    vals = [fields.get(c) for c in cols]
    if not cols or all(v is None for v in vals):
        return None
    return vals[0] if len(vals) == 1 else "|".join(v or "" for v in vals)


@dataclass
class _ChunkOut:
    accepted: pa.Table | None
    quarantine: pa.Table
    unreadable: int = 0
    needs_images: bool = False


def _validate_chunk(spec: Table, raw: RawChunk, limits: Limits, schema: pa.Schema,
                    encode_images: bool) -> _ChunkOut:
    """Per-row checks of one chunk: the candidate rows (staged types) and the per-row quarantine."""
    q_rows: list[np.ndarray] = []
    q_keys: list[pa.Array] = []
    q_cols: list[np.ndarray] = []
    q_why: list[np.ndarray] = []
    accepted = None
    needs_images = False
    if raw.n:
        n = raw.n
        errs = Errors(n)
        arrays: dict[str, pa.Array] = {}
        for col in spec.columns:
            arrays[col.name] = parse_column(spec.name, col, raw.columns.get(col.name), n, errs, limits)
            check_order(spec.name, col, arrays, errs)
        check_one_of(spec, raw.columns, errs)
        for c, r in raw.columns.items():
            if c not in arrays:
                arrays[c] = extra_array(r)
        arrays[SOURCE_ROW] = pa.array(raw.rows, type=pa.int64())
        tbl = pa.table({f.name: _conform(arrays.get(f.name), f, n) for f in schema}, schema=schema)
        ok = errs.ok()
        accepted = tbl if ok.all() else tbl.filter(pa.array(ok))
        bad = np.flatnonzero(~ok)
        if len(bad):
            q_rows.append(raw.rows[bad])
            q_keys.append(_key_of_rows(spec, arrays, bad))
            q_cols.append(errs.column[bad])
            q_why.append(errs.reason[bad])
        if encode_images and "image_path" in accepted.column_names and accepted.num_rows:
            needs_images = bool(pc.any(pc.and_(accepted.column("image_path").is_valid(),
                                               accepted.column("encoding").is_null())).as_py())
    lost = 0
    if raw.bad:
        keys = [_key_of_fields(spec, b.fields) for b in raw.bad]
        lost += len(raw.bad)
        q_rows.append(np.array([b.row for b in raw.bad], dtype=np.int64))
        q_keys.append(pa.array(keys, type=pa.string()))
        q_cols.append(np.full(len(raw.bad), ROW_COLUMN, dtype=object))
        q_why.append(np.array([b.reason for b in raw.bad], dtype=object))
    for r in raw.bad_ranges:
        lost += r.count
        q_rows.append(np.arange(r.start, r.start + r.count, dtype=np.int64))
        q_keys.append(pa.nulls(r.count, pa.string()))
        q_cols.append(np.full(r.count, ROW_COLUMN, dtype=object))
        q_why.append(np.full(r.count, r.reason, dtype=object))
    if q_rows:
        rows = np.concatenate(q_rows)
        order = np.argsort(rows, kind="stable")
        keys = pa.concat_arrays([k if isinstance(k, pa.Array) else pa.array(k) for k in q_keys])
        quarantine = pa.table({"row_number": pa.array(rows[order]),
                               "key": keys.take(pa.array(order)),
                               "column": pa.array(np.concatenate(q_cols)[order], type=pa.string()),
                               "reason": pa.array(np.concatenate(q_why)[order], type=pa.string())},
                              schema=_QSCHEMA)
    else:
        quarantine = _QSCHEMA.empty_table()
    return _ChunkOut(accepted, quarantine, lost, needs_images)


def _conform(arr: pa.Array | None, f: pa.Field, n: int) -> pa.Array:
    if arr is None:
        return pa.nulls(n, f.type)
    if arr.type == f.type:
        return arr
    try:
        return arr.cast(f.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise ContractError(f"column {f.name} changes type between parts ({arr.type} here, {f.type} in "
                            f"the first part): {e}") from e


def _schema(spec: Table, src: Source) -> pa.Schema:
    """The staged schema of a table: contract columns, then the file's other columns, then the row number."""
    fields = [pa.field(c.name, staged_type(c.type)) for c in spec.columns]
    for name in src.header:
        if name in spec.names:
            continue
        t = src.types.get(name, pa.string())
        if pa.types.is_dictionary(t):
            t = t.value_type
        if pa.types.is_large_string(t) or pa.types.is_null(t):
            t = pa.string()
        fields.append(pa.field(name, t))
    fields.append(pa.field(SOURCE_ROW, pa.int64()))
    return pa.schema(fields)


# =========================================================================== pass 1: per row
@dataclass
class _Part:
    path: Path
    lo: int
    hi: int
    n: int
    needs_images: bool


@dataclass
class _Staged:
    parts: list[_Part] = field(default_factory=list)
    qa: Path | None = None
    rows_read: int = 0
    quarantined: int = 0
    unreadable: int = 0
    schema: pa.Schema | None = None


def _stage_table(spec: Table, src: Source, tdir: Path, limits: Limits, chunk_rows: int,
                 encode_images: bool) -> _Staged:
    tdir.mkdir(parents=True, exist_ok=True)
    schema = _schema(spec, src)
    out = _Staged(qa=tdir / "qa.parquet", schema=schema)
    writer = pq.ParquetWriter(out.qa, _QSCHEMA)
    est_total = src.total if src.unit == "rows" else None
    try:
        with progress.task("validate", spec.name, total=est_total, unit="rows") as bar:
            for i, chunk in enumerate(src.chunks(chunk_rows)):
                res = _validate_chunk(spec, chunk, limits, schema, encode_images)
                out.rows_read += chunk.n_records
                if res.accepted is not None:
                    part = tdir / f"cand-{i:06d}.parquet"
                    pq.write_table(res.accepted, part)
                    rows = chunk.rows
                    out.parts.append(_Part(part, int(rows.min()), int(rows.max()), res.accepted.num_rows,
                                           res.needs_images))
                if res.quarantine.num_rows:
                    writer.write_table(res.quarantine)
                    out.quarantined += res.quarantine.num_rows
                out.unreadable += res.unreadable
                if src.unit == "bytes" and src.total and chunk.done:
                    bar.set_total(max(out.rows_read, round(out.rows_read * src.total / chunk.done)))
                bar.update(chunk.n_records)
            bar.set_total(out.rows_read)
    finally:
        writer.close()
    if not out.parts:                         # an empty table still has its columns
        part = tdir / "cand-empty.parquet"
        pq.write_table(schema.empty_table(), part)
        out.parts.append(_Part(part, 0, -1, 0, False))
    return out


# =========================================================================== pass 3: accepted rows
def _encode_images(root: Path, spec: Table, tbl: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Encode ``image_path`` photos of rows with no encoding (one face required); rows whose
    photo fails are removed and returned as quarantine rows."""
    paths = tbl.column("image_path").to_pylist()
    enc = tbl.column("encoding").combine_chunks()
    has_enc = np.asarray(enc.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    todo = [i for i, p in enumerate(paths) if p is not None and not has_enc[i]]
    if not todo:
        return tbl, _QSCHEMA.empty_table()
    from ringscope.ingest.images import encode_image_file   # heavy (dlib): only when needed

    cache: dict[Path, list[np.ndarray] | str] = {}
    mat = np.asarray(enc.values.to_numpy(zero_copy_only=False), dtype=np.float32)
    mat = mat[enc.offset * ENCODING_DIM:(enc.offset + len(enc)) * ENCODING_DIM].reshape(len(enc), ENCODING_DIM).copy()
    valid = has_enc.copy()
    reasons: dict[int, str] = {}
    for i in todo:
        rel = paths[i]
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
            mat[i] = got[0]
            valid[i] = True
    new_enc = pa.FixedSizeListArray.from_arrays(pa.array(mat.reshape(-1), type=pa.float32()), ENCODING_DIM,
                                                mask=pa.array(~valid))
    tbl = tbl.set_column(tbl.column_names.index("encoding"), tbl.schema.field("encoding"), new_enc)
    if not reasons:
        return tbl, _QSCHEMA.empty_table()
    bad = np.array(sorted(reasons), dtype=np.int64)
    keep = np.ones(tbl.num_rows, dtype=bool)
    keep[bad] = False
    arrays = {c: tbl.column(c).combine_chunks() for c in key_columns(spec)}
    q = pa.table({"row_number": tbl.column(SOURCE_ROW).take(pa.array(bad)).combine_chunks(),
                  "key": _key_of_rows(spec, arrays, bad),
                  "column": pa.array(["image_path"] * len(bad), type=pa.string()),
                  "reason": pa.array([reasons[int(i)] for i in bad], type=pa.string())}, schema=_QSCHEMA)
    return tbl.filter(pa.array(keep)), q


def _short(s: str) -> str:
    return s if len(s) <= 40 else s[:39] + "…"


def _write_accepted(spec: Table, st: _Staged, checker: CrossRowChecker, out: Path, tdir: Path,
                    root: Path, encode_images: bool) -> tuple[int, Path | None]:
    """Candidates minus the cross-row failures, in row order, to ``out`` (a file, or a directory
    of parts when the table has several chunks). Returns rows written and the photo quarantine."""
    single = len(st.parts) == 1
    if not single:
        out.mkdir(parents=True, exist_ok=True)
    bad_iter = checker.bad_rows(spec.name) if checker.n_bad(spec.name) else iter(())
    pending = np.zeros(0, dtype=np.int64)
    exhausted = False
    written = 0
    qc_writer: pq.ParquetWriter | None = None
    qc_path = tdir / "qc.parquet"
    try:
        for k, part in enumerate(st.parts):
            while not exhausted and (not len(pending) or pending[-1] <= part.hi):
                nxt = next(bad_iter, None)
                if nxt is None:
                    exhausted = True
                else:
                    pending = np.concatenate([pending, nxt])
            cut = int(np.searchsorted(pending, part.hi, side="right"))
            mine, pending = pending[:cut], pending[cut:]
            dest = out if single else out / f"part-{k:05d}.parquet"
            if not len(mine) and not (encode_images and part.needs_images):
                os.replace(part.path, dest)
                written += part.n
                continue
            tbl = pq.read_table(part.path)
            if len(mine):
                rows = tbl.column(SOURCE_ROW).to_numpy()
                tbl = tbl.filter(pa.array(~np.isin(rows, mine)))
            if encode_images and part.needs_images:
                tbl, q = _encode_images(root, spec, tbl)
                if q.num_rows:
                    if qc_writer is None:
                        qc_writer = pq.ParquetWriter(qc_path, _QSCHEMA)
                    qc_writer.write_table(q)
            pq.write_table(tbl, dest)
            written += tbl.num_rows
            part.path.unlink(missing_ok=True)
    finally:
        if hasattr(bad_iter, "close"):
            bad_iter.close()
        if qc_writer is not None:
            qc_writer.close()
    return written, (qc_path if qc_writer is not None else None)


# =========================================================================== entry point
def _parse_period(value: tuple[str | dt.date, str | dt.date] | str | None) -> tuple[dt.date, dt.date] | None:
    """``data_period`` as two dates.

    >>> _parse_period("2024-03-01..2025-02-28")
    (datetime.date(2024, 3, 1), datetime.date(2025, 2, 28))
    >>> _parse_period(("2024-01-01", dt.date(2024, 12, 31)))[1]
    datetime.date(2024, 12, 31)
    """
    if value is None:
        return None
    if isinstance(value, str):
        if ".." not in value:
            raise ValueError(f"data_period {value!r}: expected START..END, e.g. 2024-03-01..2025-02-28")
        value = tuple(value.split("..", 1))  # type: ignore[assignment]
    a, b = (v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v).strip()) for v in value)
    if b < a:
        raise ValueError(f"data_period ends ({b}) before it starts ({a})")
    return a, b


def _clear(work: Path) -> None:
    """Remove what an earlier run staged in ``work`` (a re-run never mixes two runs)."""
    for name in [*TABLES, QUARANTINE_DIR.removesuffix(".parquet")]:
        p = work / f"{name}.parquet"
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    for p in (work / _STAGE, work / "_duckdb_tmp"):
        shutil.rmtree(p, ignore_errors=True)
    (work / _MANIFEST).unlink(missing_ok=True)


def read_dataset(path: str | os.PathLike, *, work_dir: str | os.PathLike | None = None,
                 memory_limit: str = "4GB", threads: int | None = None,
                 chunk_rows: int = DEFAULT_CHUNK_ROWS, encode_images: bool = True,
                 tables: Iterable[str] | None = None,
                 data_period: tuple[str | dt.date, str | dt.date] | str | None = None,
                 period_quantiles: tuple[float, float] = (0.005, 0.995),
                 period_tolerance_days: int = 31, max_age_years: int = 120,
                 max_money: float = Limits.max_money, max_quantity: float = Limits.max_quantity,
                 max_record_bytes: int = MAX_RECORD_BYTES) -> Dataset:
    """Read and validate the dataset directory ``path``; stage the accepted rows in ``work_dir``.

    ``tables`` limits the read to those tables and the tables they reference
    (so foreign keys are still checked); by default every table present is
    read. With ``encode_images`` (default) face photos named by ``image_path``
    are encoded with :func:`ringscope.ingest.images.encode_image_file`; without
    it such rows are accepted with a null ``encoding``. Optional columns absent
    from a file are added, all null, in their in-memory dtype; columns outside
    the contract are kept as read.

    Resources: ``work_dir`` receives the staged Parquet (default: a temporary
    directory removed when the dataset is closed); each table is read
    ``chunk_rows`` rows at a time; DuckDB's cross-row checks run under
    ``memory_limit`` (DuckDB syntax, e.g. ``"4GB"``) with ``threads`` threads
    (default: all cores), spilling to ``work_dir``. A CSV record longer than
    ``max_record_bytes`` (64 MiB) is quarantined, not read.

    Plausibility (issue 17.2), plain parameters with these defaults:

    - ``data_period``: ``(start, end)`` dates or ``"START..END"``; by default
      observed from the visits' start days at ``period_quantiles`` (0.5 % and
      99.5 %), widened over the days that follow on without a gap longer than the
      tolerance, so stray typos cannot widen it but a sparse continuous tail belongs. Event times more than
      ``period_tolerance_days`` (31) outside it are quarantined ("outside the
      data period 2024-03-01..2025-02-28 (tolerance 31 days)"); a birth or
      death date after it, or more than ``max_age_years`` (120) before it, too;
    - ``max_money`` (1e8 yuan) and ``max_quantity`` (1e7): bounds on the
      absolute value of money and quantity columns (1e308 is quarantined).

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
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be positive, not {chunk_rows}")
    given_period = _parse_period(data_period)
    limits = Limits(max_money=float(max_money), max_quantity=float(max_quantity))
    files = _locate(root, wanted)
    sources = {name: open_source(name, f, required=TABLES[name].required, max_record_bytes=max_record_bytes)
               for name, f in files.items()}
    _check_columns(sources)
    order = [t for t in LOAD_ORDER if t in sources]

    owns = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="ringscope-staged-")) if owns else Path(work_dir).expanduser()
    work.mkdir(parents=True, exist_ok=True)
    if not owns:
        _clear(work)
    stage = work / _STAGE
    try:
        staged: dict[str, _Staged] = {}
        for name in order:
            staged[name] = _stage_table(TABLES[name], sources[name], stage / name, limits, chunk_rows,
                                        encode_images)
        checker = CrossRowChecker(stage / "duckdb", memory_limit=memory_limit, threads=threads)
        try:
            period = _period(checker, staged, given_period, period_quantiles, period_tolerance_days,
                             max_age_years)
            report, outputs = [], {}
            qdir = work / QUARANTINE_DIR
            qdir.mkdir(parents=True, exist_ok=True)
            with progress.task("validate", "keys and references", total=len(order), unit="tables") as bar:
                for i, name in enumerate(order):
                    spec, st = TABLES[name], staged[name]
                    checks_period = name in PERIOD_COLUMNS or name in LIFE_COLUMNS
                    checker.check(spec, [p.path for p in st.parts], st.qa, order,
                                  period if checks_period else None, st.unreadable)
                    out = work / f"{name}.parquet"
                    accepted, qc = _write_accepted(spec, st, checker, out, stage / name, root, encode_images)
                    n_q = checker.write_quarantine(spec, st.qa, qc, qdir / f"{i:02d}-{name}.parquet")
                    if accepted + n_q != st.rows_read:      # never expected: every record is accounted for
                        raise RuntimeError(f"{name}: {st.rows_read} records read but {accepted} accepted "
                                           f"+ {n_q} quarantined")
                    report.append({"table": name, "rows_read": st.rows_read, "accepted": accepted,
                                   "quarantined": n_q})
                    outputs[name] = out
                    bar.update(1)
        finally:
            checker.close()
        load_report = pd.DataFrame(report, columns=LOAD_REPORT_COLUMNS)
        for c in LOAD_REPORT_COLUMNS[1:]:
            load_report[c] = load_report[c].astype(np.int64)
        shutil.rmtree(stage, ignore_errors=True)
        if not owns:
            _write_manifest(work, root, files, load_report, period, outputs)
    except BaseException:
        if owns:
            shutil.rmtree(work, ignore_errors=True)
        else:
            shutil.rmtree(stage, ignore_errors=True)
        raise
    return Dataset(path=root, work_dir=work, staged=outputs, load_report=load_report, sources=files,
                   data_period=period, memory_limit=memory_limit, threads=threads, owns_work_dir=owns)


def _period(checker: CrossRowChecker, staged: dict[str, _Staged], given: tuple[dt.date, dt.date] | None,
            quantiles: tuple[float, float], tolerance: int, max_age: int) -> Period | None:
    if given is not None:
        return Period(given[0], given[1], tolerance, max_age, observed=False)
    if "visits" not in staged:
        return None
    days, counts = checker.day_histogram([p.path for p in staged["visits"].parts], "start_time")
    if not counts.sum():
        return None
    lo, hi = observed_period(days, counts, quantiles, gap_days=tolerance)
    return Period(lo, hi, tolerance, max_age, observed=True)


def _write_manifest(work: Path, root: Path, files: dict[str, Path], report: pd.DataFrame,
                    period: Period | None, outputs: dict[str, Path]) -> None:
    doc = {
        "dataset": str(root.resolve()),
        "tables": {n: {"staged": p.name, "source": str(files[n].resolve()),
                       "source_bytes": _size(files[n])} for n, p in outputs.items()},
        "load_report": report.to_dict(orient="records"),
        "data_period": None if period is None else {"start": period.start.isoformat(),
                                                    "end": period.end.isoformat(),
                                                    "tolerance_days": period.tolerance_days,
                                                    "observed": period.observed},
        "quarantine": QUARANTINE_DIR,
    }
    tmp = work / f".{_MANIFEST}.tmp"
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=int), encoding="utf-8")
    os.replace(tmp, work / _MANIFEST)


def _size(p: Path) -> int:
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size
