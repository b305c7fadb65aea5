"""The distributed columnar engine: the SQL library of ``graph/sql`` on Apache Spark.

:class:`SparkEngine` has the interface of :class:`ringscope.graph.engine.Engine`
(``df``, ``arrow``, ``query``, ``script``, ``has``, ``tables``, ``close``) and
runs the *same* files ``graph/sql/<name>.sql``: each statement is parsed as
DuckDB SQL and written as Spark SQL by sqlglot (:func:`to_spark`), never kept as
a second hand-written copy, so the two engines cannot drift apart. Values are
only ever parameters: DuckDB's ``$name`` becomes Spark's named parameter
``:name``, bound by ``spark.sql(text, args=...)``.

sqlglot writes most of the library as it is. Where DuckDB and Spark mean
different things by the same words, :func:`to_spark` rewrites the tree before
writing it (each rewrite is one function below, tested in
``tests/test_spark_engine.py``):

- ``row_number() OVER ()`` (DuckDB: the table's order) -> ``row_number() OVER
  (ORDER BY __source_row)``: Spark has no table order, so every table the
  engine registers keeps the reader's row number of the source file
  (:data:`ringscope.ingest.staged.SOURCE_ROW`), and results never show it;
- ``hash(x)`` (DuckDB: an unsigned 64-bit hash) -> ``xxhash64(x) &
  9223372036854775807``: a non-negative 64-bit hash, so ``hash(x) % k`` is a
  bucket in ``0..k-1`` on both engines (the buckets differ between the engines;
  every bucket is still read exactly once);
- ``list(x ORDER BY x)`` / ``list(DISTINCT x ORDER BY x)`` ->
  ``array_sort(collect_list(x))`` / ``array_sort(collect_set(x))``;
- ``list(...)[a:b]`` (1-based, inclusive) -> ``slice(list, a, b - a + 1)``;
- ``quantile_cont(x, q)`` -> ``percentile(x, q)`` (both interpolate linearly);
- ``epoch(ts)`` -> ``unix_micros(CAST(ts AS TIMESTAMP_LTZ)) / 1e6`` (seconds with their fraction, as DuckDB;
  through TIMESTAMP_LTZ because Spark 3 takes no TIMESTAMP_NTZ there, the session being UTC);
- ``t UNION ALL BY NAME SELECT NULL::T AS col WHERE false`` (DuckDB's idiom for "the optional
  columns present") -> ``t``: every table the engine registers has all its contract columns
  (typed NULLs where the export left one out);
- ``a UNION ALL BY NAME b`` (two explicit select lists) -> ``a UNION ALL b'`` with ``b``'s
  columns in ``a``'s order and ``NULL AS col`` where ``b`` lacks one;
- ``HAVING f(cols)`` under ``GROUPING SETS`` where ``f(cols) AS x`` is in the select list ->
  ``HAVING x`` (Spark resolves aliases there, not the grouping columns);
- ``WITH x AS MATERIALIZED (..)`` -> ``WITH x AS (..)`` (a planner hint Spark does not take);
- ``round(x, n)`` -> ``round(x * 10^n) / 10^n``: DuckDB rounds in binary floating point
  (17.955 is 17.95499.. and gives 17.95), Spark the decimal string of ``x`` (17.96); the
  rewrite is DuckDB's own arithmetic, so evidence texts are the same.

Statements that do not transpile are refused by :func:`to_spark` with the
reason (:class:`NotTranspiled`); :data:`NOT_TRANSPILED` lists the files of the
library known to be in that state (the face-verification queries: fixed-size
``FLOAT[128]`` arrays, ``array_distance`` and ``struct_pack`` ordering have no
Spark SQL equivalent, so the whole face family stays on one engine). A :class:`SparkEngine` built with a ``fallback`` engine
runs those on it (the single-machine DuckDB engine over the same staged files)
and counts them in :attr:`SparkEngine.fallbacks`, so a run says what ran where.

Tables come from (:meth:`SparkEngine.over_dataset`) the staged Parquet files of a
validated dataset, from (:meth:`SparkEngine.over_parquet`) a dataset directory
of contract Parquet files at any Hadoop-compatible URI (``hdfs://``, ``s3a://``,
``file://``, a local path), or from (:meth:`SparkEngine.over_frames`) pandas
frames. Parquet ``TIMESTAMP(NANOS)`` columns (how the reader stages
timestamps) are read as longs (``spark.sql.legacy.parquet.nanosAsLong``) and
turned back into timestamps in the table's view; the session's time zone is
UTC, so a contract timestamp (naive local time) reads back unchanged.

References: sqlglot (https://sqlglot.com), Spark SQL reference
(https://spark.apache.org/docs/latest/sql-ref.html), parameterised queries
(SPARK-41271).

>>> to_spark("SELECT person_id, count(*) AS n FROM visits GROUP BY 1 HAVING count(*) >= $min_visits")
['SELECT person_id, COUNT(*) AS n FROM visits GROUP BY 1 HAVING COUNT(*) >= :min_visits']
>>> to_spark("SELECT v.*, row_number() OVER () AS r FROM visits v")
['SELECT v.*, ROW_NUMBER() OVER (ORDER BY __source_row NULLS LAST) AS r FROM visits AS v']
>>> to_spark("SELECT (hash(id) % $k)::BIGINT AS b FROM u")
['SELECT CAST(((XXHASH64(id) & 9223372036854775807) % :k) AS BIGINT) AS b FROM u']
"""
from __future__ import annotations

import functools
import importlib.util
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from ringscope.graph.engine import sql_names, sql_text
from ringscope.ingest.staged import SOURCE_ROW

__all__ = ["SparkEngine", "NotTranspiled", "NOT_TRANSPILED", "to_spark", "transpile_report",
           "spark_session", "parse_conf", "is_uri", "fetch_dataset", "local_cluster_master"]

log = logging.getLogger("ringscope.spark")

# library files that sqlglot cannot write as Spark SQL with the same meaning (see module docstring)
NOT_TRANSPILED: dict[str, str] = {
    "face_claimed": "CAST(.. AS FLOAT[128]), array_distance and min(struct_pack(..)) have no Spark SQL form",
    "face_related": "CAST(.. AS FLOAT[128]) and array_distance have no Spark SQL form",
    "face_enrollment_matrix": "len(list) is size() in Spark, which sqlglot cannot tell from len(string) "
                              "without types; it feeds the face verification, which runs on DuckDB",
    "face_capture_encodings": "transpiles, but feeds the face verification, which runs on DuckDB "
                              "(the encodings stay in one engine)",
}


class NotTranspiled(ValueError):
    """A statement of the SQL library that has no Spark SQL form with the same meaning."""


# --------------------------------------------------------------------------- transpiling
def _rewrite(node: Any) -> Any:
    from sqlglot import exp

    # row_number() OVER () -> ordered by the source row (Spark has no table order)
    if isinstance(node, exp.Window) and isinstance(node.this, exp.RowNumber) and not node.args.get("alias") \
            and not node.args.get("partition_by") and not node.args.get("order"):
        node = node.copy()
        node.set("order", exp.Order(expressions=[exp.Ordered(this=exp.column(SOURCE_ROW), nulls_first=False)]))
        return node
    # `t UNION ALL BY NAME SELECT NULL::T AS optional_col WHERE false` (the optional columns present):
    # every table the engine registers has all of its contract columns already, so it is `t`
    if isinstance(node, exp.Union) and node.args.get("by_name") and isinstance(node.expression, exp.Select) \
            and not node.expression.args.get("from") and _false_where(node.expression):
        return node.this
    # `a UNION ALL BY NAME b` of two explicit select lists: b's columns put in a's order, NULL where
    # b lacks one of a's (Spark SQL has no BY NAME)
    if isinstance(node, exp.Union) and node.args.get("by_name"):
        return _union_by_position(node)
    # HAVING over an expression of the select list under GROUPING SETS: Spark resolves the select's
    # alias there, not the grouping columns themselves
    if isinstance(node, exp.Select) and node.args.get("having") is not None and node.args.get("group") \
            and node.args["group"].find(exp.GroupingSets):
        return _having_by_alias(node)
    # `AS MATERIALIZED` (a DuckDB planner hint): Spark plans the CTE itself
    if isinstance(node, exp.CTE) and node.args.get("materialized"):
        node = node.copy()
        node.set("materialized", None)
        return node
    # hash(x): DuckDB's is unsigned 64-bit; a non-negative 64-bit hash in Spark
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "hash":
        h = exp.Anonymous(this="XXHASH64", expressions=list(node.expressions))
        return exp.Paren(this=exp.BitwiseAnd(this=h, expression=exp.Literal.number(9223372036854775807)))
    # list(x ORDER BY x) / list(DISTINCT x ORDER BY x)
    if isinstance(node, exp.ArrayAgg) and isinstance(node.this, exp.Order):
        order = node.this
        inner = order.this
        distinct = isinstance(inner, exp.Distinct)
        value = inner.expressions[0] if distinct else inner
        keys = order.expressions
        if len(keys) != 1 or keys[0].this != value or keys[0].args.get("desc"):
            raise NotTranspiled(f"list(.. ORDER BY ..) ordered by another expression than its value: {node.sql()}")
        agg = exp.Anonymous(this="COLLECT_SET" if distinct else "COLLECT_LIST", expressions=[value.copy()])
        return exp.Anonymous(this="ARRAY_SORT", expressions=[agg])
    # list[a:b] (1-based, inclusive) -> slice(list, a, b - a + 1)
    if isinstance(node, exp.Bracket) and len(node.expressions) == 1 and isinstance(node.expressions[0], exp.Slice):
        sl = node.expressions[0]
        a, b = sl.this, sl.args.get("expression")
        if a is None or b is None:
            raise NotTranspiled(f"open-ended slice: {node.sql()}")
        length = exp.Add(this=exp.Sub(this=b.copy(), expression=a.copy()), expression=exp.Literal.number(1))
        return exp.Anonymous(this="SLICE", expressions=[node.this, a.copy(), exp.Paren(this=length)])
    if isinstance(node, exp.PercentileCont) and node.args.get("expression") is not None:
        return exp.Anonymous(this="PERCENTILE", expressions=[node.this, node.args["expression"]])
    # round(x, n) on doubles: DuckDB computes round(x * 10^n) / 10^n in binary floating point, Spark
    # rounds the decimal string of x (17.955 -> 17.96 where DuckDB gives 17.95): DuckDB's arithmetic
    if isinstance(node, exp.Round) and node.args.get("decimals") is not None:
        scale = exp.Anonymous(this="POWER", expressions=[exp.Literal.number(10), node.args["decimals"].copy()])
        rounded = exp.Round(this=exp.Mul(this=node.this.copy(), expression=scale.copy()))
        return exp.Paren(this=exp.Div(this=rounded, expression=scale))
    if isinstance(node, exp.TimeToUnix):
        # through TIMESTAMP_LTZ: Spark 3's unix_micros takes no TIMESTAMP_NTZ (the session is UTC, so
        # the cast keeps the instant)
        ts = exp.Cast(this=node.this, to=exp.DataType.build("TIMESTAMPLTZ"))
        micros = exp.Anonymous(this="UNIX_MICROS", expressions=[ts])
        return exp.Paren(this=exp.Div(this=micros, expression=exp.Literal.number("1e6")))
    if isinstance(node, exp.DataType) and node.args.get("values"):   # FLOAT[128]: a fixed-size array
        raise NotTranspiled(f"fixed-size array type {node.sql('duckdb')}")
    if isinstance(node, exp.Anonymous) and str(node.this).lower() in ("array_distance", "struct_pack"):
        raise NotTranspiled(f"{node.this}() has no Spark SQL form")
    if isinstance(node, exp.Struct) and any(isinstance(e, exp.PropertyEQ) for e in node.expressions) \
            and isinstance(node.parent, (exp.Min, exp.Max)):
        raise NotTranspiled("min/max over struct_pack(..) (DuckDB orders structs field by field)")
    return node


def _union_by_position(node: Any) -> Any:
    from sqlglot import exp

    left, right = node.this, node.expression
    if not (isinstance(left, exp.Select) and isinstance(right, exp.Select)) \
            or any(isinstance(e, exp.Star) for e in left.expressions + right.expressions):
        raise NotTranspiled("UNION BY NAME of other than two explicit select lists")
    names = [e.alias_or_name for e in left.expressions]
    by = {e.alias_or_name: e for e in right.expressions}
    extra = set(by) - set(names)
    if extra:
        raise NotTranspiled(f"UNION BY NAME: the second select has columns the first lacks: {sorted(extra)}")
    right = right.copy()
    right.set("expressions", [by[n].copy() if n in by else exp.alias_(exp.Null(), n) for n in names])
    node = node.copy()
    node.set("expression", right)
    node.set("by_name", None)
    return node


def _having_by_alias(node: Any) -> Any:
    from sqlglot import exp

    aliases = {e.this: e.alias for e in node.expressions if isinstance(e, exp.Alias)}
    node = node.copy()
    having = node.args["having"]

    def sub(n: Any) -> Any:
        for expr, alias in aliases.items():
            if n == expr:
                return exp.column(alias)
        return n

    node.set("having", having.transform(sub))
    return node


@functools.lru_cache(maxsize=1)
def _library_names() -> dict[str, str]:
    return {sql_text(n): n for n in sql_names()}


def _false_where(sel: Any) -> bool:
    from sqlglot import exp

    w = sel.args.get("where")
    return w is not None and isinstance(w.this, exp.Boolean) and not w.this.this


@functools.lru_cache(maxsize=512)
def _to_spark(sql: str) -> tuple[str, ...]:
    import sqlglot

    out = []
    for tree in sqlglot.parse(sql, read="duckdb"):
        if tree is None:
            continue
        # DuckDB's planner hint ``WITH x AS NOT MATERIALIZED`` (stream a CTE read twice rather
        # than hold it) has no Spark syntax; Spark inlines CTEs anyway
        for cte in tree.find_all(sqlglot.exp.CTE):
            cte.set("materialized", None)
        # sqlglot's transform does not descend into a node a rewrite replaced: repeat until nothing
        # changes (every rewrite produces a node it does not rewrite again)
        text = tree.sql(dialect="spark", comments=False)
        for _ in range(8):
            tree = tree.transform(_rewrite)
            new = tree.sql(dialect="spark", comments=False)
            if new == text:
                break
            text = new
        out.append(text)
    return tuple(out)


def to_spark(sql: str) -> list[str]:
    """The statements of DuckDB ``sql`` as Spark SQL (comments dropped), or :class:`NotTranspiled`."""
    try:
        return list(_to_spark(sql))
    except NotTranspiled:
        raise
    except Exception as e:  # noqa: BLE001 - a parse/generate error is a statement that does not transpile
        raise NotTranspiled(f"{type(e).__name__}: {e}") from e


def transpile_report() -> pd.DataFrame:
    """Every file of the SQL library: whether it transpiles to Spark SQL, and why not.

    >>> r = transpile_report().set_index("name")
    >>> bool(r.loc["exposure", "transpiles"]), bool(r.loc["face_claimed", "transpiles"])
    (True, False)
    """
    rows = []
    for name in sql_names():
        try:
            if name in NOT_TRANSPILED:
                raise NotTranspiled(NOT_TRANSPILED[name])
            n = len(to_spark(sql_text(name)))
            rows.append({"name": name, "transpiles": True, "statements": n, "why_not": ""})
        except NotTranspiled as e:
            rows.append({"name": name, "transpiles": False, "statements": 0, "why_not": str(e)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- session
def parse_conf(items: Sequence[str] | None) -> dict[str, str]:
    """``["k=v", ...]`` (the CLI's ``--conf``) as a mapping; a clear error on a malformed item.

    >>> parse_conf(["spark.executor.memory=4g", "spark.sql.shuffle.partitions=400"])
    {'spark.executor.memory': '4g', 'spark.sql.shuffle.partitions': '400'}
    """
    out: dict[str, str] = {}
    for it in items or ():
        k, sep, v = it.partition("=")
        if not sep or not k.strip():
            raise ValueError(f"--conf {it!r}: write key=value, e.g. spark.executor.memory=4g")
        out[k.strip()] = v.strip()
    return out


_DEFAULT_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.legacy.parquet.nanosAsLong": "true",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.shuffle.partitions": "8",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
}


def spark_session(master: str | None = None, conf: Mapping[str, str] | None = None, app_name: str = "ringscope",
                  graphframes: str = "auto"):
    """A Spark session for a run: ``master`` (``local[2]``, ``spark://host:7077``, ``yarn``,
    ``k8s://...``; default ``$RINGSCOPE_SPARK_MASTER`` or ``local[*]``) and ``conf`` over the
    engine's defaults (UI off, UTC session time, nanosecond Parquet timestamps as longs,
    Arrow transfers, 8 shuffle partitions: raise ``spark.sql.shuffle.partitions`` on a cluster).

    ``graphframes`` (``pipeline.spark_graph.graphframes``): unless ``never``, and when the
    ``graphframes`` Python package is installed, the GraphFrames jar for this Spark
    (:func:`ringscope.graph.spark_graph.graphframes_coordinates`) is added to
    ``spark.jars.packages`` and Spark resolves it from Maven Central (or the repositories in
    ``spark.jars.repositories``). Under ``auto``, a session that cannot resolve it (no network)
    starts without it, and the graph step uses its DataFrame implementations."""
    from pyspark.sql import SparkSession

    from ringscope.graph.spark_graph import graphframes_coordinates

    os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)
    settings = {**_DEFAULT_CONF, **dict(conf or {})}
    coords = graphframes_coordinates() if graphframes != "never" and importlib.util.find_spec("graphframes") else None
    with_gf = dict(settings)
    added = bool(coords) and "graphframes" not in settings.get("spark.jars.packages", "")
    if added:
        with_gf["spark.jars.packages"] = ",".join(x for x in (settings.get("spark.jars.packages"), coords) if x)

    def build(values: Mapping[str, str]):
        b = SparkSession.builder.appName(app_name).master(master or os.environ.get("RINGSCOPE_SPARK_MASTER",
                                                                                   "local[*]"))
        for k, v in values.items():
            b = b.config(k, v)
        return b.getOrCreate()

    try:
        s = build(with_gf)
    except Exception as exc:  # noqa: BLE001 - the JVM did not start: the jar could not be resolved
        if not added or graphframes == "always":
            raise
        log.warning("GraphFrames (%s) could not be resolved (%s); the session starts without it", coords,
                    str(exc).splitlines()[0][:200])
        s = build(settings)
    s.sparkContext.setLogLevel("ERROR")
    return s


# --------------------------------------------------------------------------- engine
class SparkEngine:
    """Spark SQL over a run's tables; ``df``/``arrow`` run (DuckDB-dialect) SQL, ``query`` a named file."""

    def __init__(self, spark: Any, tables: set[str], *, fallback: Any = None):
        self.spark = spark
        self.tables = set(tables)
        self.fallback = fallback
        self.fallbacks: dict[str, int] = {}     # statement name -> times run on the fallback engine
        self.spark_runs: dict[str, int] = {}    # statement name -> times run on Spark

    # ---- construction
    @classmethod
    def over_dataset(cls, ds: Any, spark: Any, *, fallback: Any = None) -> SparkEngine:
        """The staged Parquet of a reader ``Dataset`` (``fallback``: an engine for what does not
        transpile, e.g. ``Engine.over_dataset(ds)``)."""
        names = []
        for name in ds.tables:
            files = [str(f) for f in ds.staged_files(name)]
            if files:
                _register(spark, name, spark.read.parquet(*files))
                names.append(name)
        return cls(spark, set(names), fallback=fallback)

    @classmethod
    def over_parquet(cls, root: str, spark: Any, *, tables: Sequence[str] | None = None,
                     fallback: Any = None) -> SparkEngine:
        """A dataset directory of contract Parquet files (``<root>/<table>.parquet``, a file or a
        directory of parts) at a local path or any Hadoop-compatible URI. Tables absent there are
        absent from the engine. The contract's column types are applied (ids as strings, money as
        double, timestamps as timestamps); validation is the reader's job, not this one's."""
        from ringscope.ingest.contract import LOAD_ORDER

        jvm = spark.sparkContext._jvm
        hconf = spark.sparkContext._jsc.hadoopConfiguration()
        base = jvm.org.apache.hadoop.fs.Path(root.rstrip("/"))
        fs = base.getFileSystem(hconf)
        names = []
        for name in tables or LOAD_ORDER:
            p = jvm.org.apache.hadoop.fs.Path(base, f"{name}.parquet")
            if not fs.exists(p):
                continue
            df = spark.read.parquet(p.toString())
            if SOURCE_ROW not in df.columns:   # a contract file: number its rows in file order
                from pyspark.sql import functions as F

                df = df.withColumn(SOURCE_ROW, F.monotonically_increasing_id() + 1)
            _register(spark, name, _contract_types(df, name))
            names.append(name)
        return cls(spark, set(names), fallback=fallback)

    @classmethod
    def over_frames(cls, tables: Mapping[str, pd.DataFrame], spark: Any, *, fallback: Any = None) -> SparkEngine:
        """pandas frames (tests, notebooks): each becomes a temporary view with its row order."""
        from ringscope.graph.engine import _with_contract_columns

        names = []
        for name, df in tables.items():
            if df is None:
                continue
            f = _with_contract_columns(name, df).reset_index(drop=True)
            f = f.assign(**{SOURCE_ROW: range(1, len(f) + 1)})
            _register(spark, name, _contract_types(_frame_to_spark(spark, f, name), name))
            names.append(name)
        return cls(spark, set(names), fallback=fallback)

    # ---- the Engine interface
    def has(self, table: str) -> bool:
        return table in self.tables

    def df(self, sql: str, params: Mapping[str, Any] | None = None,
           frames: Mapping[str, pd.DataFrame] | None = None, *, name: str | None = None) -> pd.DataFrame:
        """Run ``sql`` (DuckDB dialect; values only as ``$name`` parameters; ``frames`` are small
        tables the statement reads by name); the result as pandas."""
        out = self._run(sql, params, frames, name, arrow=False)
        return out

    def arrow(self, sql: str, params: Mapping[str, Any] | None = None,
              frames: Mapping[str, pd.DataFrame] | None = None, *, name: str | None = None):
        """Like :meth:`df`, the result as a ``pyarrow.Table``."""
        return self._run(sql, params, frames, name, arrow=True)

    def query(self, name: str, params: Mapping[str, Any] | None = None,
              frames: Mapping[str, pd.DataFrame] | None = None) -> pd.DataFrame:
        """Run the named file ``graph/sql/<name>.sql``."""
        return self.df(sql_text(name), params, frames, name=name)

    def frame(self, name: str, params: Mapping[str, Any] | None = None) -> Any:
        """The named file ``graph/sql/<name>.sql`` as a lazy Spark DataFrame (nothing collected to the
        driver: the graph step, ``graph/spark_graph.py``, works on it in Spark); no fallback."""
        if name in NOT_TRANSPILED:
            raise NotTranspiled(f"{name}.sql does not run on Spark: {NOT_TRANSPILED[name]}")
        stmts = to_spark(sql_text(name))
        if len(stmts) != 1:
            raise ValueError(f"{name}: one statement expected, got {len(stmts)}")
        self.spark_runs[name] = self.spark_runs.get(name, 0) + 1
        sdf = self.spark.sql(stmts[0], args=_args(stmts[0], params))
        return sdf.drop(SOURCE_ROW) if SOURCE_ROW in sdf.columns else sdf

    def script(self, name: str) -> None:
        """Run every statement of ``graph/sql/<name>.sql`` (views shared by a family of queries)."""
        if name in NOT_TRANSPILED or self._refused(sql_text(name)):
            if self.fallback is None:
                raise NotTranspiled(f"{name}.sql does not run on Spark and the engine has no fallback")
            self.fallbacks[name] = self.fallbacks.get(name, 0) + 1
            self.fallback.script(name)
            return
        for stmt in to_spark(sql_text(name)):
            self.spark.sql(stmt)
        self.spark_runs[name] = self.spark_runs.get(name, 0) + 1

    def close(self) -> None:
        for t in self.tables:
            self.spark.catalog.dropTempView(t)
        if self.fallback is not None:
            self.fallback.close()

    # ---- internals
    def _refused(self, sql: str) -> bool:
        try:
            to_spark(sql)
            return False
        except NotTranspiled:
            return True

    def _run(self, sql: str, params: Mapping[str, Any] | None, frames: Mapping[str, pd.DataFrame] | None,
             name: str | None, *, arrow: bool):
        name = name or _library_names().get(sql)
        key = name or "(inline)"
        refused = name in NOT_TRANSPILED if name else False
        stmts: list[str] = []
        if not refused:
            try:
                stmts = to_spark(sql)
            except NotTranspiled as e:
                refused = True
                log.info("not transpiled (%s): %s", key, e)
        if refused:
            if self.fallback is None:
                raise NotTranspiled(f"{key} does not run on Spark and the engine has no fallback")
            self.fallbacks[key] = self.fallbacks.get(key, 0) + 1
            return (self.fallback.arrow if arrow else self.fallback.df)(sql, params, frames)
        if len(stmts) != 1:
            raise ValueError(f"{key}: one statement expected, got {len(stmts)} (use script())")
        self.spark_runs[key] = self.spark_runs.get(key, 0) + 1
        with self._frames(frames):
            stmt, prm = (stmts[0], params) if spark_major() >= 4 else _inline_lists(stmts[0], params)
            sdf = self.spark.sql(stmt, args=_args(stmt, prm))
            keep = [c for c in sdf.columns if c != SOURCE_ROW]
            if len(keep) != len(sdf.columns):
                sdf = sdf.select(*[sdf[c] for c in keep]) if len(set(keep)) == len(keep) else sdf.drop(SOURCE_ROW)
            if arrow:
                return spark_to_arrow(sdf)
            return _pandas(sdf)

    @contextmanager
    def _frames(self, frames: Mapping[str, pd.DataFrame] | None) -> Iterator[None]:
        names = list(frames or {})
        clash = [n for n in names if n in self.tables]
        if clash:
            raise ValueError(f"frame name(s) {clash} would hide a table of the dataset")
        for n in names:
            _frame_to_spark(self.spark, frames[n], n).createOrReplaceTempView(n)
        try:
            yield
        finally:
            for n in names:
                self.spark.catalog.dropTempView(n)


_PARAM_RE = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")


def _sql_literal(x: Any) -> str:
    r"""A Python scalar as Spark SQL literal text (quotes and backslashes escaped).

    >>> _sql_literal("O'Brien"), _sql_literal(3), _sql_literal(None), _sql_literal(True)
    ("'O\\'Brien'", '3', 'NULL', 'true')
    """
    if x is None:
        return "NULL"
    if isinstance(x, bool):
        return "true" if x else "false"
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        x = x.item()
    if isinstance(x, (int, float)):
        return repr(x)
    return "'" + str(x).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _inline_lists(stmt: str, params: Mapping[str, Any] | None) -> tuple[str, dict[str, Any] | None]:
    """Spark 3 takes only literals as ``sql()`` arguments, not ``array(...)``: list parameters are
    written into the statement as array literals there (outside its string literals), the rest
    stay arguments. Spark 4 takes them all as arguments (``_args``).

    >>> _inline_lists("SELECT * FROM t WHERE k IN (SELECT explode(:ks)) AND s = ':ks' AND n > :n",
    ...               {"ks": ["a", "b"], "n": 2})
    ("SELECT * FROM t WHERE k IN (SELECT explode(array('a', 'b'))) AND s = ':ks' AND n > :n", {'n': 2})
    """
    if not params:
        return stmt, params
    lists = {k: v for k, v in params.items() if isinstance(v, (list, tuple, set, frozenset))}
    if not lists:
        return stmt, dict(params)
    rx = re.compile(r"(?<!:):(" + "|".join(re.escape(k) for k in lists) + r")\b")

    def lit(k: str) -> str:
        v = lists[k]
        vals = sorted(v) if isinstance(v, (set, frozenset)) else list(v)
        return "array(" + ", ".join(_sql_literal(x) for x in vals) + ")"

    parts = re.split(r"('(?:[^'\\]|\\.|'')*')", stmt)
    out = "".join(p if i % 2 else rx.sub(lambda m: lit(m.group(1)), p) for i, p in enumerate(parts))
    return out, {k: v for k, v in params.items() if k not in lists}


def _args(stmt: str, params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The parameters a statement names, as Spark literals (lists as array literals)."""
    if not params:
        return None
    from pyspark.sql import functions as F

    used = set(_PARAM_RE.findall(re.sub(r"'(?:[^']|'')*'", "''", stmt)))
    out: dict[str, Any] = {}
    for k, v in params.items():
        if k not in used:
            continue
        if isinstance(v, (list, tuple, set, frozenset)):
            vals = sorted(v) if isinstance(v, (set, frozenset)) else list(v)
            # an empty list: array() (Spark takes only literals and constructor calls as arguments)
            out[k] = F.array(*[F.lit(x) for x in vals]) if vals else F.array()
        elif hasattr(v, "item") and not isinstance(v, (str, bytes)):   # numpy scalars
            out[k] = v.item()
        else:
            out[k] = v
    return out or None


def _register(spark: Any, name: str, df: Any) -> None:
    """A table's view: nanosecond timestamps (read as longs) back as timestamps, and the contract's
    optional columns the table lacks present as typed NULLs (as the DuckDB engine's frames have them)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType

    from ringscope.ingest.contract import TABLES

    spec = TABLES.get(name)
    ts_cols = {c.name for c in spec.columns if c.type == "timestamp"} if spec else set()
    cols = []
    for f in df.schema.fields:
        if f.name in ts_cols and isinstance(f.dataType, LongType):
            cols.append(F.timestamp_micros(F.floor(F.col(f.name) / 1000)).cast("timestamp_ntz").alias(f.name))
        else:
            cols.append(F.col(f"`{f.name}`"))
    for c in (spec.columns if spec else ()):
        if c.name not in df.columns:
            cols.append(F.lit(None).cast(_SPARK_TYPES[c.type]).alias(c.name))
    df.select(*cols).createOrReplaceTempView(name)


_SPARK_TYPES = {"str": "string", "enum": "string", "int": "bigint", "money": "double", "decimal": "double",
                "bool": "boolean", "date": "date", "timestamp": "timestamp_ntz", "list": "array<string>",
                "vector": "array<float>"}


def _contract_types(df: Any, name: str) -> Any:
    """Columns cast to the contract's Spark types (those present)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType

    from ringscope.ingest.contract import TABLES

    spec = TABLES.get(name)
    if spec is None:
        return df
    types = _SPARK_TYPES
    by = {c.name: c.type for c in spec.columns}
    cols = []
    for f in df.schema.fields:
        t = by.get(f.name)
        if t is None or (t == "timestamp" and isinstance(f.dataType, LongType)):
            cols.append(F.col(f"`{f.name}`"))
        else:
            cols.append(F.col(f"`{f.name}`").cast(types[t]).alias(f.name))
    return df.select(*cols)


def _frame_to_spark(spark: Any, df: pd.DataFrame, name: str) -> Any:
    """A pandas frame as a Spark DataFrame, through Arrow (lists as arrays, nullable ints)."""
    import numpy as np
    import pyarrow as pa

    cols = {}
    for c in df.columns:
        s = df[c]
        if s.dtype == object and len(s):
            first = next((x for x in s if x is not None and not (isinstance(x, float) and np.isnan(x))), None)
            if isinstance(first, (tuple, list, np.ndarray)):
                if isinstance(first, np.ndarray) and first.dtype.kind == "f":
                    cols[c] = pa.array([None if x is None else [float(v) for v in x] for x in s],
                                       type=pa.list_(pa.float32()))
                else:
                    cols[c] = pa.array([None if x is None else [str(v) for v in x] for x in s],
                                       type=pa.list_(pa.string()))
                continue
            cols[c] = pa.array([None if x is None or (isinstance(x, float) and np.isnan(x)) else str(x) for x in s],
                               type=pa.string())
            continue
        if s.dtype == object:
            cols[c] = pa.array([], type=pa.string()) if not len(s) else pa.array(s)
            continue
        arr = pa.array(s, from_pandas=True)
        if pa.types.is_timestamp(arr.type):
            arr = arr.cast(pa.timestamp("us"))
        cols[c] = arr
    tbl = pa.table(cols) if cols else pa.table({"_": pa.array([], pa.int8())}).drop(["_"])
    if not len(tbl.column_names):
        return spark.createDataFrame([], "dummy int").drop("dummy")
    return arrow_to_spark(spark, tbl)


@functools.lru_cache(maxsize=1)
def spark_major() -> int:
    """The major version of the installed PySpark (3 or 4), read from its package metadata."""
    from importlib.metadata import version

    return int(version("pyspark").split(".")[0])


def arrow_to_spark(spark: Any, tbl: Any) -> Any:
    """An Arrow table as a Spark DataFrame: directly on Spark 4; on Spark 3 (no Arrow-table input)
    through Python rows under the table's own schema, so types (lists, nullable integers,
    timestamps) survive and nothing is written to the driver's disk, which a cluster's executors
    could not read."""
    if spark_major() >= 4:
        return spark.createDataFrame(tbl)
    from pyspark.sql.pandas.types import from_arrow_schema

    return spark.createDataFrame(tbl.to_pylist(), schema=from_arrow_schema(tbl.schema))


def spark_to_arrow(sdf: Any) -> Any:
    """A Spark DataFrame's rows as an Arrow table: ``toArrow`` on Spark 4, the Arrow batches
    ``toPandas`` collects on Spark 3."""
    if hasattr(sdf, "toArrow"):
        return sdf.toArrow()
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    batches = sdf._collect_as_arrow()
    schema = to_arrow_schema(sdf.schema)
    return pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()


def _pandas(sdf: Any) -> pd.DataFrame:
    """A Spark result as pandas with DuckDB's conventions (lists as numpy arrays, timestamps naive)."""
    t = spark_to_arrow(sdf)
    df = t.to_pandas(coerce_temporal_nanoseconds=True)
    for c in df.columns:
        if isinstance(df[c].dtype, pd.DatetimeTZDtype):
            df[c] = df[c].dt.tz_convert("UTC").dt.tz_localize(None)
    return df


def is_uri(p: str) -> bool:
    """Whether a dataset location is a URI (``hdfs://nn/x``, ``s3a://b/x``, ``file:///x``), not a path.

    >>> is_uri("hdfs://nn:8020/yibao/2024"), is_uri("/data/city"), is_uri("C:/data")
    (True, False, False)
    """
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]+://", p))


def fetch_dataset(root: str, dest: Path, spark: Any) -> dict[str, int]:
    """Spark reads the contract Parquet tables of a dataset at a Hadoop-compatible URI and writes
    them under ``dest`` (a directory of part files per table, which the reader takes as it is),
    timestamps as microseconds; returns the rows fetched per table. The reader then validates
    ``dest`` as any local dataset (quarantine, reports). A re-run replaces ``dest``."""
    import shutil

    from ringscope.ingest.contract import LOAD_ORDER

    dest = Path(dest)
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    eng = SparkEngine.over_parquet(root, spark)
    out: dict[str, int] = {}
    for name in LOAD_ORDER:
        if name not in eng.tables:
            continue
        df = spark.table(name).drop(SOURCE_ROW) if SOURCE_ROW in spark.table(name).columns else spark.table(name)
        df.write.mode("overwrite").option("compression", "snappy").parquet(str(dest / f"{name}.parquet"))
        out[name] = int(spark.read.parquet(str(dest / f"{name}.parquet")).count())
    eng.close()
    return out


def local_cluster_master(workers: int, cores: int = 1, memory_mb: int = 1024) -> str:
    """The master URL of a local cluster of ``workers`` worker processes on this machine
    (Spark's ``local-cluster[N,cores,MB]``, as its own tests use)."""
    return f"local-cluster[{int(workers)},{int(cores)},{int(memory_mb)}]"


def resolve_path(p: str | Path) -> str:
    """A dataset location as Spark reads it: a URI unchanged, a local path absolute."""
    s = str(p)
    return s if is_uri(s) else str(Path(s).resolve())
