"""Work by partitions: a city's year in buckets of persons or of institutions.

A detector or rule whose reasoning stays within one person's settlements (a
duplicate bill, a stay overlapping another settlement, one person's fills) or
within one institution's (a terminal's bursts, a hospital's admission waves)
runs bucket by bucket: each bucket is a :class:`~ringscope.graph.context.Context`
holding the visits (with their claim lines, face captures and trace rows) of a
hash-bucket of persons or of institutions, and the small tables whole. Peak
memory is then set by the bucket size (``rows_per_bucket`` visits), not by the
size of the city; the number of buckets grows with the city instead. With one
bucket (a town, the tests) the run is exactly the whole-table run.

Buckets are drawn by the columnar engine (``hash(id) % k``), so a person (or an
institution) is in exactly one bucket and every bucket is read once.

>>> import pandas as pd
>>> from ringscope.graph.context import Context
>>> v = pd.DataFrame({"visit_id": list("abcd"), "person_id": ["p1", "p2", "p1", "p3"],
...                   "institution_id": ["h", "h", "c", "c"]})
>>> ctx = Context(tables={"visits": v})
>>> parts = [b.table("visits") for b in buckets(ctx, "person", 2)]
>>> sorted(x for p in parts for x in p["visit_id"])
['a', 'b', 'c', 'd']
>>> [sorted(set(p["person_id"])) for p in parts if "p1" in set(p["person_id"])]
[['p1']]
"""
from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ringscope.graph.context import Context
from ringscope.ingest.contract import TABLES

__all__ = ["n_buckets", "buckets", "bucket_of", "visits_where", "BUCKET_KEYS"]

# the column of each row-level table that puts a row in a person's or an institution's bucket
BUCKET_KEYS: dict[str, dict[str, str]] = {
    "person": {"visits": "person_id", "face_captures": "claimed_person_id"},
    "institution": {"visits": "institution_id", "face_captures": "institution_id"},
}
_ROW_TABLES = ("visits", "claim_lines", "face_captures", "drug_traces")
# what a bucket may hold: the row tables, and an institution bucket's stock book
_BUCKET_TABLES = _ROW_TABLES + ("inventory",)


def n_buckets(ctx: Context, rows_per_bucket: int) -> int:
    """How many buckets keep each under ``rows_per_bucket`` visits (1 for a small city)."""
    eng = ctx.columnar
    if not eng.has("visits") or rows_per_bucket <= 0:
        return 1
    n = int(eng.df("SELECT count(*) AS n FROM visits")["n"].iloc[0])
    return max(1, math.ceil(n / rows_per_bucket))


def bucket_of(ids: pd.Series, k: int, ctx: Context) -> np.ndarray:
    """The bucket (0..k-1) of each id, as the engine draws it (for frames already in memory)."""
    if k == 1:
        return np.zeros(len(ids), dtype=np.int64)
    u = pd.DataFrame({"id": pd.unique(ids.dropna().astype(str))})
    m = ctx.columnar.df("SELECT id, (hash(id) % $k)::BIGINT AS b FROM u", {"k": k}, frames={"u": u})
    return ids.astype(object).map(dict(zip(m["id"], m["b"]))).fillna(-1).to_numpy(dtype=np.int64)


def _frame(tbl: Any, name: str) -> pd.DataFrame:
    """An engine result as the contract's in-memory dtypes (lists as tuples, nullable ints)."""
    try:   # the streaming reader's converter, when present
        from ringscope.ingest.staged import to_frame

        return to_frame(tbl, TABLES[name])
    except ImportError:
        pass
    df = tbl.to_pandas(coerce_temporal_nanoseconds=True)
    for c in TABLES[name].columns:
        if c.name not in df.columns:
            continue
        if c.type == "list":
            df[c.name] = [tuple(x) if x is not None else () for x in df[c.name]]
        elif c.type == "int":
            df[c.name] = pd.array(df[c.name], dtype="Int64")
        elif c.type == "bool":
            df[c.name] = pd.array(df[c.name], dtype="boolean")
        elif c.type in ("timestamp", "date"):
            df[c.name] = pd.to_datetime(df[c.name]).astype("datetime64[ns]")
    return df


def _columns(ctx: Context, name: str) -> list[str]:
    eng = ctx.columnar
    cols = list(eng.df(f"SELECT * FROM {name} LIMIT 0").columns)
    return [c for c in cols if not (name == "face_captures" and c == "encoding")]


def buckets(ctx: Context, by: str, k: int, *, tables: tuple[str, ...] = _BUCKET_TABLES) -> Iterator[Context]:
    """``k`` contexts, one per bucket of persons (``by="person"``) or of institutions.

    Each holds the bucket's visits, the claim lines and trace rows of those visits and the
    face captures of the bucket (without their encodings, which stay in the engine), the
    face verification of those captures, an institution bucket its institutions' stock
    (``inventory``), and every other table whole. ``tables`` names the bucketed tables a caller
    needs; the others are not drawn (read whole, if at all, through the run's context). ``k == 1`` yields
    ``ctx`` itself.
    """
    if by not in BUCKET_KEYS:
        raise ValueError(f"partition by 'person' or 'institution', not {by!r}")
    if k <= 1:
        yield ctx
        return
    eng = ctx.columnar
    if not hasattr(eng, "con") or not hasattr(eng.con, "execute"):   # another engine: a filter per bucket
        for b in range(k):
            yield _bucket_view(ctx, by, k, b, {t: None for t in _ROW_TABLES if t in tables and eng.has(t)},
                               "inventory" in tables)
        return
    root = Path(tempfile.mkdtemp(prefix=f"ringscope-{by}-buckets-", dir=_scratch_dir(eng)))
    try:
        split = _split(ctx, by, k, tables, root)
        for b in range(k):
            yield _bucket_view(ctx, by, k, b, split, "inventory" in tables)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _scratch_dir(eng: Any) -> str | None:
    """Where the engine spills (a dataset's work directory), else the system's temporary directory."""
    try:
        d = str(eng.df("SELECT current_setting('temp_directory') AS d")["d"].iloc[0] or "")
    except Exception:  # noqa: BLE001 - an engine without the setting (Spark) uses the system's
        return None
    return d if d and os.path.isabs(d) and os.path.isdir(d) else None


# each row table's bucket: the statement that tags every row with its bucket (``__b``) and its
# place in the table's order (``__r``); ``{key}`` is the bucket key of the visits or captures
_SPLIT_SQL = {
    "visits": "SELECT v.*, (hash(v.{key}) % $k)::BIGINT AS __b, row_number() OVER () AS __r FROM visits v",
    "claim_lines": ("SELECT l.* EXCLUDE (__r), s.__b, l.__r FROM (SELECT *, row_number() OVER () AS __r "
                    "FROM claim_lines) l JOIN (SELECT visit_id, (hash(v.{key}) % $k)::BIGINT AS __b FROM visits v) s "
                    "USING (visit_id)"),
    "drug_traces": ("SELECT t.* EXCLUDE (__r), s.__b, t.__r FROM (SELECT *, row_number() OVER () AS __r "
                    "FROM drug_traces) t JOIN (SELECT l.line_id, (hash(v.{key}) % $k)::BIGINT AS __b "
                    "FROM claim_lines l JOIN visits v USING (visit_id)) s USING (line_id)"),
    "face_captures": "SELECT {cols}, (hash(c.{key}) % $k)::BIGINT AS __b, row_number() OVER () AS __r "
                     "FROM face_captures c",
}


def _split(ctx: Context, by: str, k: int, tables: tuple[str, ...], root: Path) -> dict[str, Path]:
    """Write each row table once, partitioned by bucket (``root/<table>/__b=<b>/``): one pass
    over the city per table instead of one per bucket. Returns the tables written."""
    eng = ctx.columnar
    key = BUCKET_KEYS[by]
    want = [t for t in ("visits", "claim_lines", "drug_traces", "face_captures") if t in tables and eng.has(t)]
    if "visits" not in want:             # lines and traces reach their bucket through their visit
        want = [t for t in want if t == "face_captures"]
    out: dict[str, Path] = {}
    for t in want:
        sql = _SPLIT_SQL[t].format(key=key["face_captures" if t == "face_captures" else "visits"],
                                   cols=", ".join(f"c.{c}" for c in _columns(ctx, "face_captures"))
                                   if t == "face_captures" else "")
        dest = root / t
        eng.con.execute(f"COPY ({sql}) TO '{_sql_path(dest)}' (FORMAT parquet, PARTITION_BY (__b))", {"k": k})
        eng.release()
        out[t] = dest
    return out


def _sql_path(p: Path) -> str:
    return str(p).replace("'", "''")


def _bucket_view(ctx: Context, by: str, k: int, b: int, split: dict[str, Path | None], stock: bool) -> Context:
    """Bucket ``b``'s context: each row table from its split files (``split[t]``), or, where
    ``split[t]`` is None, by a filter over the whole table."""
    eng = ctx.columnar
    key = BUCKET_KEYS[by]
    params = {"k": k, "b": b}
    cond = f"(hash(v.{key['visits']}) % $k) = $b"
    cap_cols = ", ".join(f"c.{c}" for c in _columns(ctx, "face_captures")) if "face_captures" in split else ""
    filters = {
        "visits": f"SELECT v.* FROM visits v WHERE {cond}",
        "claim_lines": f"SELECT l.* FROM claim_lines l SEMI JOIN (SELECT visit_id FROM visits v WHERE {cond}) s "
                       "USING (visit_id)",
        "drug_traces": "SELECT t.* FROM drug_traces t SEMI JOIN (SELECT l.line_id FROM claim_lines l SEMI JOIN "
                       f"(SELECT visit_id FROM visits v WHERE {cond}) s USING (visit_id)) x USING (line_id)",
        "face_captures": f"SELECT {cap_cols} FROM face_captures c WHERE (hash(c.{key['face_captures']}) % $k) = $b",
    }
    sub: dict[str, pd.DataFrame] = {}
    for t, dest in split.items():
        part = dest / f"__b={b}" if dest is not None else None
        if part is None:
            sub[t] = _frame(eng.arrow(filters[t], params), t)
        elif part.is_dir() and any(part.glob("*.parquet")):
            sub[t] = _frame(eng.arrow(f"SELECT * EXCLUDE (__r) FROM read_parquet('{_sql_path(part)}/*.parquet', "
                                      "hive_partitioning = false) ORDER BY __r"), t)
        else:                            # an empty bucket: the table's columns, no rows
            sub[t] = _frame(eng.arrow(filters[t] + " LIMIT 0", params), t)
    if stock and by == "institution" and eng.has("inventory"):    # an institution's stock with its sales
        sub["inventory"] = _frame(eng.arrow(
            "SELECT i.* FROM inventory i WHERE (hash(i.institution_id) % $k) = $b", params), "inventory")
    view = Context(tables=_Overlay(ctx.tables, sub), engine=ctx.engine, rule_hits=None,
                   face_identities=None, scores=ctx.scores, cache={})
    if ctx.face_matches is not None and len(ctx.face_matches):
        fm = ctx.face_matches
        col = "claimed_person_id" if by == "person" else "institution_id"
        view.face_matches = fm[bucket_of(fm[col], k, ctx) == b].reset_index(drop=True)
    if ctx.face_identities is not None and view.face_matches is not None:
        view.face_identities = ctx.face_identities[
            ctx.face_identities["capture_id"].isin(set(view.face_matches["capture_id"]))]
    view.cache["partition"] = {"by": by, "k": k, "b": b}
    return view


def visits_where(ctx: Context, predicate: str, params: dict[str, Any] | None = None,
                 with_lines: bool = True) -> Context:
    """A context whose visits are those where the SQL ``predicate`` holds (over ``visits v``),
    with their claim lines; every other table whole. E.g. every inpatient stay of the city:
    ``visits_where(ctx, "v.visit_type = 'inpatient'")``."""
    eng = ctx.columnar
    sub: dict[str, pd.DataFrame] = {}
    if eng.has("visits"):
        sub["visits"] = _frame(eng.arrow(f"SELECT v.* FROM visits v WHERE {predicate}", params), "visits")
        if with_lines and eng.has("claim_lines"):
            sub["claim_lines"] = _frame(eng.arrow(
                f"SELECT l.* FROM claim_lines l SEMI JOIN (SELECT visit_id FROM visits v WHERE {predicate}) s "
                "USING (visit_id)", params), "claim_lines")
    view = Context(tables=_Overlay(ctx.tables, sub), engine=ctx.engine, face_matches=ctx.face_matches,
                   face_identities=ctx.face_identities, scores=ctx.scores, cache={})
    return view


class _Overlay(dict):
    """The bucket's own tables over the run's (small tables read through, whole)."""

    def __init__(self, base: Any, own: dict[str, pd.DataFrame]):
        super().__init__(own)
        self._base = base

    def get(self, name: str, default: Any = None) -> Any:
        if dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        return self._base.get(name, default) if self._base is not None else default

    def __getitem__(self, name: str) -> Any:
        v = self.get(name)
        if v is None:
            raise KeyError(name)
        return v

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, name) or (self._base is not None and name in self._base)
