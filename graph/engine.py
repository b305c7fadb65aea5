"""The columnar engine of a detection run: DuckDB over the dataset's tables.

Projections that join or aggregate whole tables (every visit joined to its
institution, drug lines joined to their visits, edge lists counted per pair)
are SQL statements in ``graph/sql/<name>.sql``, parameterised with ``$name``
like the Cypher library, and run here; Python receives the projected, usually
aggregated, result. The same SQL files run on the distributed engine
(:mod:`ringscope.graph.spark`), transpiled by sqlglot, so the two engines
cannot drift apart.

Two backings, one interface:

- :meth:`Engine.over_dataset`: the staged Parquet files of a validated dataset
  (the reader's ``Dataset.duckdb()``), out of core, memory bounded by
  ``memory_limit``;
- :meth:`Engine.over_frames`: pandas frames already in memory (tests, notebooks,
  small cities), registered as DuckDB views without copying.

>>> import pandas as pd
>>> e = Engine.over_frames({"visits": pd.DataFrame({"person_id": ["a", "a", "b"], "total_amount": [1.0, 2.0, 5.0]})})
>>> e.df("SELECT person_id, sum(total_amount) AS amount FROM visits GROUP BY 1 ORDER BY 1").to_dict("list")
{'person_id': ['a', 'b'], 'amount': [3.0, 5.0]}
>>> e.query("visits_per_person_example", {"min_visits": 2}).to_dict("list")
{'person_id': ['a'], 'n': [2]}
"""
from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pandas as pd

__all__ = ["Engine", "sql_text", "sql_names"]

_NAME_RE = re.compile(r"^[a-z0-9_]+$")


@functools.lru_cache(maxsize=None)
def sql_text(name: str) -> str:
    """The text of ``graph/sql/<name>.sql`` (shipped as package data).

    ``{{other}}`` in a file is replaced by the text of ``other.sql`` (without its comment
    lines): a shared sub-query written once, e.g. ``WITH dl AS ({{prescribing_lines}})``.
    """
    from importlib.resources import files

    if not _NAME_RE.match(name):
        raise KeyError(f"bad SQL name {name!r}: lower-case letters, digits and _")
    f = files("ringscope.graph").joinpath("sql", f"{name}.sql")
    if not f.is_file():
        raise KeyError(f"no SQL file {name}.sql in ringscope.graph/sql")
    text = f.read_text(encoding="utf-8")

    def include(m: re.Match) -> str:
        body = sql_text(m.group(1))
        return "\n".join(ln for ln in body.splitlines() if not ln.lstrip().startswith("--")).strip()

    return "\n".join(ln if ln.lstrip().startswith("--") else re.sub(r"\{\{([a-z0-9_]+)\}\}", include, ln)
                     for ln in text.splitlines())


def sql_names() -> list[str]:
    from importlib.resources import files

    return sorted(f.name[:-4] for f in files("ringscope.graph").joinpath("sql").iterdir() if f.name.endswith(".sql"))


class Engine:
    """DuckDB over a run's tables; ``df``/``arrow`` run SQL, ``query`` runs a named file."""

    def __init__(self, con: Any, tables: set[str]):
        self.con = con
        self.tables = set(tables)

    @classmethod
    def over_frames(cls, tables: Mapping[str, pd.DataFrame], *, memory_limit: str | None = None,
                    threads: int | None = None) -> Engine:
        import duckdb

        con = duckdb.connect()
        _settings(con, memory_limit, threads)
        for name, df in tables.items():
            if df is not None:
                con.register(name, _with_contract_columns(name, df))
        return cls(con, {n for n, d in tables.items() if d is not None})

    @classmethod
    def over_dataset(cls, ds: Any, *, memory_limit: str | None = None, threads: int | None = None,
                     spill_limit: str | None = None) -> Engine:
        """The staged files of a reader ``Dataset`` when it has them, else its frames.
        ``spill_limit`` bounds what the engine may write to its temporary directory."""
        if hasattr(ds, "duckdb"):
            con = ds.duckdb()
            _settings(con, memory_limit, threads)
            if spill_limit:
                con.execute(f"SET max_temp_directory_size = '{_checked_size(spill_limit)}'")
            return cls(con, set(ds.tables))
        return cls.over_frames(ds.tables, memory_limit=memory_limit, threads=threads)

    def has(self, table: str) -> bool:
        return table in self.tables

    def df(self, sql: str, params: Mapping[str, Any] | None = None,
           frames: Mapping[str, pd.DataFrame] | None = None) -> pd.DataFrame:
        """Run ``sql`` (values only as ``$name`` parameters; ``frames`` are small tables the
        statement reads by name, e.g. a list of ids); the result as pandas."""
        with self._frames(frames):
            out = self.con.sql(sql, params=dict(params) if params else None).df()
        self.release()
        return out

    def arrow(self, sql: str, params: Mapping[str, Any] | None = None,
              frames: Mapping[str, pd.DataFrame] | None = None):
        """Like :meth:`df`, the result as a ``pyarrow.Table``."""
        with self._frames(frames):
            out = self.con.sql(sql, params=dict(params) if params else None).to_arrow_table()
        self.release()
        return out

    def query(self, name: str, params: Mapping[str, Any] | None = None,
              frames: Mapping[str, pd.DataFrame] | None = None) -> pd.DataFrame:
        """Run the named file ``graph/sql/<name>.sql``."""
        return self.df(sql_text(name), params, frames)

    def script(self, name: str) -> None:
        """Run every statement of ``graph/sql/<name>.sql`` (no parameters): views a family of
        queries shares (``CREATE OR REPLACE TEMP VIEW``), made once per engine.

        >>> import pandas as pd
        >>> e = Engine.over_frames({"drug_traces": pd.DataFrame({"line_id": ["l1"], "trace_code": ["c1"]})})
        >>> e.script("trace_views_example")
        >>> e.df("SELECT line_id, scan_time, reversed FROM rs_trace_example").to_dict("list")
        {'line_id': ['l1'], 'scan_time': [NaT], 'reversed': [False]}
        """
        self.con.execute(sql_text(name))

    def release(self) -> None:
        """Hand back the memory the engine keeps between queries.

        DuckDB's buffer pool keeps the blocks of a finished query for reuse, up to its memory
        limit: after two joins over a 200,000-person city's lines it held 2.1 GB of the process
        with nothing running -- memory the next pandas stage needs. Lowering the limit evicts
        them; the limit is then set back (as DuckDB reports it: 4 GB comes back as 3.7 GiB). A
        no-op for an engine without the setting.
        """
        try:
            limit = self.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        except Exception:  # noqa: BLE001 - nothing to hand back (another engine, a closed connection)
            return
        try:
            self.con.execute("SET memory_limit = '32MB'")
        except Exception:  # noqa: BLE001 - blocks still pinned: keep them
            pass
        finally:
            self.con.execute(f"SET memory_limit = '{_checked_size(str(limit).replace(' ', ''))}'")

    @contextmanager
    def _frames(self, frames: Mapping[str, pd.DataFrame] | None) -> Iterator[None]:
        names = list(frames or {})
        clash = [n for n in names if n in self.tables]
        if clash:
            raise ValueError(f"frame name(s) {clash} would hide a table of the dataset")
        for n in names:
            self.con.register(n, frames[n])
        try:
            yield
        finally:
            for n in names:
                self.con.unregister(n)

    def close(self) -> None:
        self.con.close()


def _with_contract_columns(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """A frame with the contract's optional columns it lacks added as nulls (as the reader does),
    so a query may name any contract column; frames built by hand in tests and notebooks lack them."""
    from ringscope.ingest.contract import TABLES

    spec = TABLES.get(name)
    if spec is None:
        return df
    missing = [c for c in spec.columns if c.name not in df.columns]
    if not missing:
        return df
    out = df.copy(deep=False)
    for c in missing:
        if c.type in ("money", "decimal"):
            out[c.name] = pd.Series(float("nan"), index=df.index, dtype="float64")
        elif c.type in ("date", "timestamp"):
            out[c.name] = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")
        elif c.type == "int":
            out[c.name] = pd.Series(pd.NA, index=df.index, dtype="Int64")
        elif c.type == "bool":
            out[c.name] = pd.Series(pd.NA, index=df.index, dtype="boolean")
        elif c.type == "list":
            out[c.name] = pd.Series([()] * len(df), index=df.index, dtype=object)
        else:
            out[c.name] = pd.Series(None, index=df.index, dtype=object)
    return out


def _settings(con: Any, memory_limit: str | None, threads: int | None) -> None:
    if memory_limit:
        con.execute(f"SET memory_limit = '{_checked_size(memory_limit)}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    try:
        con.execute("SET enable_progress_bar = false")
    except Exception:  # noqa: BLE001 - inside Jupyter DuckDB refuses the setting without ipywidgets
        pass


def _checked_size(s: str) -> str:
    if not re.fullmatch(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", s.strip(), flags=re.I):
        raise ValueError(f"memory limit {s!r}: write e.g. '4GB'")
    return s.strip()
