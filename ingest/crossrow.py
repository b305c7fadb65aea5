"""Cross-row checks over the staged chunks, in DuckDB: periods, duplicate keys, foreign keys.

The per-row checks (:mod:`ringscope.ingest.columns`) see one chunk at a time;
the checks here need the whole table -- or its parent -- and run in DuckDB
(Raasveldt & Mühleisen, SIGMOD 2019), embedded, over the candidate rows each
chunk staged as Parquet, with a ``memory_limit`` and a temporary directory so
that hash aggregates and joins spill to disk instead of growing with the
city. Tables are checked parents first (``contract.LOAD_ORDER``); for each,
in this order, every row keeps its *first* problem only:

1. **data period** (issue 17.2): event times (``visits.start_time``,
   ``claim_lines.service_time``, ``face_captures.capture_time``,
   ``drug_traces.scan_time``) within the period widened by the tolerance;
   ``persons.birth_date`` not after it, and neither ``birth_date`` nor
   ``death_date`` more than ``max_age_years`` before it (a death may well be
   registered after the claims' period ends: the civil registry is often
   extracted later than the settlements, and quarantining that person would
   quarantine all their visits). The period is given, or observed: the 0.5 %
   and 99.5 % quantiles of the visits' start days (:func:`observed_period`),
   so a handful of typos (2099, 1900) cannot stretch it;
2. **duplicate keys**: every row after the first with the same key (or
   composite key; rows with a null key part are never duplicates);
3. **foreign keys**, column by column in contract order: a value absent from
   the parent's accepted keys is "unknown", or -- when the parent had a row
   with that key that was quarantined -- the row is quarantined *because of*
   it ("visit V12 was quarantined (visit_id → visits)").

Each table's problems go to a DuckDB table ``bad_<table>(row_number, key,
column, reason)``; accepted keys to ``keys_<table>`` and quarantined keys to
``qkeys_<table>`` for its children.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from ringscope.ingest.contract import TABLES, Table

__all__ = ["Period", "CrossRowChecker", "observed_period", "key_columns", "key_sql", "arrow_reader", "arrow_table",
           "PERIOD_COLUMNS", "LIFE_COLUMNS"]

# columns checked against the data period
PERIOD_COLUMNS: dict[str, tuple[str, ...]] = {
    "visits": ("start_time",),          # end_time: not before start_time (a per-row check); a stay
                                        # that starts in the period may end well after it
    "claim_lines": ("service_time",),
    "face_captures": ("capture_time",),
    "drug_traces": ("scan_time",),
}
LIFE_COLUMNS: dict[str, tuple[str, ...]] = {"persons": ("birth_date", "death_date")}
_SINGULAR = {"catalog": "catalog item", "family_links": "family link", "inventory": "inventory row"}
_SHOW_MAX = 40


@dataclass(frozen=True)
class Period:
    """The data period (inclusive days) and how far outside it a date may lie."""

    start: dt.date
    end: dt.date
    tolerance_days: int = 31
    max_age_years: int = 120
    observed: bool = True          # False: given by the caller

    def __str__(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

    @property
    def lo(self) -> dt.date:
        return self.start - dt.timedelta(days=self.tolerance_days)

    @property
    def hi(self) -> dt.date:
        return self.end + dt.timedelta(days=self.tolerance_days)

    @property
    def oldest_birth(self) -> dt.date:
        try:
            return self.start.replace(year=self.start.year - self.max_age_years)
        except ValueError:           # 29 February
            return self.start.replace(year=self.start.year - self.max_age_years, day=28)


def observed_period(days: np.ndarray, counts: np.ndarray, quantiles: tuple[float, float],
                    gap_days: int | None = None) -> tuple[dt.date, dt.date]:
    """The days at the two quantiles of a day histogram (``days`` sorted, ``counts`` per day),
    then widened over the observed days that follow on without a gap longer than ``gap_days``:
    a stray typo (2099, 1900) lies far from the rest and stays out, a sparse but continuous
    tail (a patient's monthly refills after the busy months) is part of the period.

    >>> d = np.array(["2024-01-01", "2024-06-01", "2099-01-01"], dtype="datetime64[D]")
    >>> observed_period(d, np.array([500, 499, 1]), (0.005, 0.995))
    (datetime.date(2024, 1, 1), datetime.date(2024, 6, 1))
    >>> d = np.array(["2024-01-01", "2024-01-02", "2024-02-01", "2024-03-01", "2031-01-01"], dtype="datetime64[D]")
    >>> observed_period(d, np.array([600, 400, 1, 1, 1]), (0.005, 0.995), gap_days=31)
    (datetime.date(2024, 1, 1), datetime.date(2024, 3, 1))
    """
    cum = np.cumsum(counts) / counts.sum()
    lo = int(np.searchsorted(cum, quantiles[0], side="left"))
    hi = int(np.searchsorted(cum, quantiles[1], side="left"))
    hi = min(hi, len(days) - 1)
    if gap_days is not None and len(days) > 1:
        step = np.diff(days.astype("datetime64[D]").astype(np.int64))
        while hi + 1 < len(days) and step[hi] <= gap_days:
            hi += 1
        while lo > 0 and step[lo - 1] <= gap_days:
            lo -= 1
    return days[lo].astype(dt.date), days[hi].astype(dt.date)


def key_columns(spec: Table) -> tuple[str, ...]:
    """The columns that identify a row of ``spec`` in the quarantine."""
    if spec.key:
        return (spec.key,)
    if spec.composite_key:
        return spec.composite_key
    return tuple(c.name for c in spec.columns if c.required and c.type == "str")[:1]


def arrow_reader(rel: duckdb.DuckDBPyRelation, batch: int) -> pa.RecordBatchReader:
    """A relation's rows as Arrow batches (DuckDB 2 ``to_arrow_reader``, 1.x ``fetch_arrow_reader``)."""
    f = getattr(rel, "to_arrow_reader", None) or rel.fetch_arrow_reader
    return f(batch)


def arrow_table(rel: duckdb.DuckDBPyRelation) -> pa.Table:
    """A relation's rows as one Arrow table (DuckDB 2 ``to_arrow_table``, 1.x ``fetch_arrow_table``)."""
    f = getattr(rel, "to_arrow_table", None) or rel.fetch_arrow_table
    return f()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _files(files: Sequence[Path]) -> str:
    return "[" + ", ".join(_lit(str(f)) for f in files) + "]"


def key_sql(spec: Table, alias: str = "c") -> str:
    """SQL for the quarantine's ``key`` of a row (composite parts joined by ``|``)."""
    cols = key_columns(spec)
    if not cols:
        return "NULL"
    if len(cols) == 1:
        return f"{alias}.{_q(cols[0])}"
    parts = " || '|' || ".join(f"coalesce({alias}.{_q(c)}, '')" for c in cols)
    anyp = " OR ".join(f"{alias}.{_q(c)} IS NOT NULL" for c in cols)
    return f"CASE WHEN {anyp} THEN {parts} END"


class CrossRowChecker:
    """One DuckDB session for the cross-row checks of one dataset."""

    def __init__(self, temp_dir: Path, *, memory_limit: str = "4GB", threads: int | None = None):
        temp_dir.mkdir(parents=True, exist_ok=True)
        # a database file, not memory: the key tables of a city's year are evicted to it under memory_limit
        self.con = duckdb.connect(str(temp_dir / "checks.duckdb"),
                                  config={"memory_limit": memory_limit, "temp_directory": str(temp_dir),
                                          "preserve_insertion_order": False,
                                          **({"threads": int(threads)} if threads else {})})
        self.con.execute(f"""CREATE MACRO rs_show(v) AS
            '''' || CASE WHEN length(v) > {_SHOW_MAX} THEN left(v, {_SHOW_MAX - 1}) || '…' ELSE v END || ''''""")
        self._cand: dict[str, str] = {}
        self._unreadable: dict[str, int] = {}

    def close(self) -> None:
        self.con.close()

    # ------------------------------------------------------------------ period
    def day_histogram(self, cand: Sequence[Path], column: str) -> tuple[np.ndarray, np.ndarray]:
        rows = self.con.execute(
            f"SELECT CAST({_q(column)} AS DATE) AS d, count(*) FROM read_parquet({_files(cand)}) "
            f"WHERE {_q(column)} IS NOT NULL GROUP BY d ORDER BY d").fetchall()
        days = np.array([r[0] for r in rows], dtype="datetime64[D]")
        return days, np.array([r[1] for r in rows], dtype=np.int64)

    # ------------------------------------------------------------------ one table
    def check(self, spec: Table, cand: Sequence[Path], qa: Path, present: Sequence[str],
              period: Period | None, unreadable: int) -> None:
        """Run checks 1-3 on the candidate rows of ``spec`` (files ``cand``; per-row quarantine ``qa``)."""
        t = spec.name
        con = self.con
        self._unreadable[t] = unreadable
        con.execute(f"CREATE OR REPLACE VIEW c_{t} AS SELECT * FROM read_parquet({_files(cand)})")
        con.execute(f'CREATE OR REPLACE TABLE bad_{t} (row_number BIGINT, "key" VARCHAR, '
                    f'"column" VARCHAR, reason VARCHAR)')
        con.execute(f"CREATE OR REPLACE VIEW ok_{t} AS SELECT c.* FROM c_{t} c "
                    f"ANTI JOIN bad_{t} b ON c.__source_row = b.row_number")
        key = key_sql(spec, "c")
        if period is not None:
            self._check_period(spec, period, key)
        self._check_duplicates(spec, key)
        for col in spec.columns:
            if not col.references:
                continue
            parent = col.references.split(".")[0]
            if parent in present and parent != t:
                self._check_reference(spec, col.name, parent, key)
        children = [n for n in present if any(c.references and c.references.split(".")[0] == t
                                              for c in TABLES[n].columns)]
        if spec.key and children:
            k = _q(spec.key)
            con.execute(f"CREATE OR REPLACE TABLE keys_{t} AS SELECT {k} AS k FROM ok_{t} WHERE {k} IS NOT NULL")
            con.execute(f"""CREATE OR REPLACE TABLE qkeys_{t} AS SELECT DISTINCT "key" AS k FROM (
                SELECT "key" FROM read_parquet({_lit(str(qa))}) UNION ALL SELECT "key" FROM bad_{t})
                WHERE "key" IS NOT NULL""")

    def _check_period(self, spec: Table, p: Period, key: str) -> None:
        t = spec.name
        conds: list[tuple[str, str, str]] = []       # (column, condition, reason sql)
        tol = f"(tolerance {p.tolerance_days} days)"
        for name in PERIOD_COLUMNS.get(t, ()):
            if name not in spec.names:
                continue
            c = f"c.{_q(name)}"
            lo = f"TIMESTAMP '{p.lo.isoformat()} 00:00:00'"
            hi = f"TIMESTAMP '{(p.hi + dt.timedelta(days=1)).isoformat()} 00:00:00'"
            conds.append((name, f"({c} < {lo} OR {c} >= {hi})",
                          f"'{name} ' || strftime({c}, '%Y-%m-%dT%H:%M:%S') || "
                          f"' is outside the data period {p} {tol}'"))
        for name in LIFE_COLUMNS.get(t, ()):
            if name not in spec.names:
                continue
            c = f"c.{_q(name)}"
            if name == "birth_date":     # a death may be registered after the claims' period ends
                conds.append((name, f"({c} > DATE '{p.hi.isoformat()}')",
                              f"'{name} ' || strftime({c}, '%Y-%m-%d') || ' is after the data period {p} {tol}'"))
            conds.append((name, f"({c} < DATE '{p.oldest_birth.isoformat()}')",
                          f"'{name} ' || strftime({c}, '%Y-%m-%d') || ' is more than {p.max_age_years} "
                          f"years before the data period {p} (max_age_years)'"))
        if not conds:
            return
        col_case = " ".join(f"WHEN {cond} THEN {_lit(name)}" for name, cond, _ in conds)
        why_case = " ".join(f"WHEN {cond} THEN {why}" for _, cond, why in conds)
        where = " OR ".join(f"coalesce({cond}, false)" for _, cond, _ in conds)
        self.con.execute(f"""INSERT INTO bad_{t}
            SELECT c.__source_row, {key}, CASE {col_case} END, CASE {why_case} END
            FROM c_{t} c WHERE {where}""")

    def _check_duplicates(self, spec: Table, key: str) -> None:
        cols = spec.composite_key or ((spec.key,) if spec.key else ())
        if not cols:
            return
        t = spec.name
        label = cols[0] if len(cols) == 1 else "+".join(cols)
        qc = ", ".join(_q(c) for c in cols)
        notnull = " AND ".join(f"{_q(c)} IS NOT NULL" for c in cols)
        shown = " || '|' || ".join(f"c.{_q(c)}" for c in cols)
        on = " AND ".join(f"c.{_q(c)} = d.{_q(c)}" for c in cols)
        self.con.execute(f"""INSERT INTO bad_{t}
            WITH d AS (SELECT {qc}, min(__source_row) AS first FROM ok_{t} WHERE {notnull}
                       GROUP BY {qc} HAVING count(*) > 1)
            SELECT c.__source_row, {key}, {_lit(label)},
                   'duplicate {label} ''' || {shown} || ''' (first at row ' || CAST(d.first AS VARCHAR) || ')'
            FROM ok_{t} c JOIN d ON {on} WHERE c.__source_row > d.first""")

    def _check_reference(self, spec: Table, column: str, parent: str, key: str) -> None:
        t = spec.name
        who = _SINGULAR.get(parent, parent[:-1] if parent.endswith("s") else parent)
        c = f"c.{_q(column)}"
        lost = self._unreadable.get(parent, 0)
        hint = (f" (not in {parent}; {lost} {parent} record{'s' if lost != 1 else ''} could not be read, "
                "see the quarantine)") if lost else f" (not in {parent})"
        self.con.execute(f"""INSERT INTO bad_{t}
            SELECT c.__source_row, {key}, {_lit(column)},
                   CASE WHEN q.k IS NOT NULL
                        THEN '{who} ' || {c} || ' was quarantined ({column} → {parent})'
                        ELSE 'unknown {column} ' || rs_show({c}) || {_lit(hint)} END
            FROM ok_{t} c LEFT JOIN qkeys_{parent} q ON {c} = q.k
            WHERE {c} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM keys_{parent} p WHERE p.k = {c})""")

    # ------------------------------------------------------------------ results
    def n_bad(self, t: str) -> int:
        return int(self.con.execute(f"SELECT count(*) FROM bad_{t}").fetchone()[0])

    def bad_rows(self, t: str, batch: int = 1_000_000) -> Iterator[np.ndarray]:
        """The row numbers of ``bad_<t>``, ascending, in batches (bounded memory)."""
        cur = self.con.cursor()          # its own connection: the caller may query meanwhile
        try:
            for b in arrow_reader(cur.sql(f"SELECT row_number FROM bad_{t} ORDER BY row_number"), batch):
                if b.num_rows:
                    yield np.asarray(b.column(0).to_numpy(zero_copy_only=False), dtype=np.int64)
        finally:
            cur.close()

    def write_quarantine(self, spec: Table, qa: Path, qc: Path | None, out: Path) -> int:
        """The table's whole quarantine (per-row, cross-row and photo problems) by row number."""
        t = spec.name
        parts = [f"SELECT row_number, \"key\", \"column\", reason FROM read_parquet({_lit(str(qa))})",
                 f"SELECT row_number, \"key\", \"column\", reason FROM bad_{t}"]
        if qc is not None:
            parts.append(f"SELECT row_number, \"key\", \"column\", reason FROM read_parquet({_lit(str(qc))})")
        self.con.execute(f"""COPY (SELECT {_lit(t)} AS "table", row_number, "key", "column", reason
            FROM ({' UNION ALL '.join(parts)}) ORDER BY row_number) TO {_lit(str(out))} (FORMAT parquet)""")
        return int(self.con.execute(f"SELECT count(*) FROM read_parquet({_lit(str(out))})").fetchone()[0])
