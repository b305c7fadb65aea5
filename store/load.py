"""Load a validated dataset into Neo4j: batched, idempotent, incremental, resumable.

- **Batched**: each table goes as ``UNWIND $rows`` batches (``cypher/load/<table>.cypher``),
  one transaction per batch.
- **Idempotent**: every statement MERGEs on the contract's keys, so a re-run of
  the same files changes nothing, and next month's files add to what is there.
- **Re-loadable on purpose**: ``reload=`` loads named tables' current versions
  again, replacing what another version left (:func:`ingest_dataset`), with
  who, when and why in the load log (``LoadLog`` nodes, :func:`load_log`).
- **One at a time**: a run holds the database's load locks
  (:mod:`ringscope.store.locks`); a second loader is refused or waits.
- **Resumable**: after each committed batch a ``LoadState`` node records how
  many rows of that table (identified by a fingerprint of its content) are in;
  a re-run after a crash starts from there. Because the statements are
  idempotent, a batch committed just before a crash but not yet recorded is
  merely merged again. A server that dies mid-load ends the run with one
  sentence (:class:`LoadInterrupted`); the re-run after a restart resumes.

Only accepted rows are loaded: quarantined rows stay in ``quarantine.csv``.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ringscope.store.db import Neo4jUnavailable, QueryRunner
from ringscope.ingest.contract import LOAD_ORDER, TABLES

__all__ = ["apply_schema", "ingest_dataset", "table_rows", "graph_counts", "load_log", "reload_tables",
           "LoadInterrupted", "NODE_TABLES", "DETACH_ON_RELOAD"]

# contract table -> (label, key) of the node it creates (None: relationships/properties only)
NODE_TABLES = {
    "institutions": ("Institution", "institution_id"),
    "physicians": ("Physician", "physician_id"),
    "persons": ("Person", "person_id"),
    "catalog": ("Item", "item_code"),
    "visits": ("Visit", "visit_id"),
    "claim_lines": ("ClaimLine", "line_id"),
    "face_captures": ("FaceCapture", "capture_id"),
    "known_cases": ("Case", "case_id"),
}


def apply_schema(runner: QueryRunner) -> None:
    """Create constraints and indexes (idempotent) and wait for them to come online."""
    runner.run_script("schema/constraints")
    runner.run_script("schema/indexes")
    runner.run_auto("admin/await_indexes")


def iso_text(s: pd.Series, with_time: bool):
    """A date/timestamp column as ISO text (an Arrow string array, null where NaT):
    ``YYYY-MM-DDTHH:MM:SS`` (whole seconds) or ``YYYY-MM-DD``. Arrow's cast is some
    20x faster than ``strftime`` and gives the same text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ts = pd.to_datetime(s)
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_localize(None)
    secs = ts.to_numpy(dtype="datetime64[ns]").astype("datetime64[s]")   # floors, as %S does
    if with_time:
        txt = pc.cast(pa.array(secs, type=pa.timestamp("s"), from_pandas=True), pa.string())
        return pc.replace_substring(txt, " ", "T", max_replacements=1)
    return pc.cast(pa.array(secs.astype("datetime64[D]"), type=pa.date32(), from_pandas=True), pa.string())


def _python_values(s: pd.Series, typ: str) -> list:
    """Plain Python values of a scalar column (None where missing), through Arrow:
    several times faster than a comprehension; the comprehension stays as the
    fallback for a column Arrow will not take as it is."""
    import pyarrow as pa

    try:
        if typ in ("money", "decimal"):
            a = pd.to_numeric(s, errors="coerce").astype(float).to_numpy()
            return pa.array(a, type=pa.float64(), from_pandas=True).to_pylist()
        if typ == "int":
            a = pd.to_numeric(s, errors="coerce").astype("Int64")
            return pa.array(a, type=pa.int64(), from_pandas=True).to_pylist()
        if typ == "bool":
            return pa.array(s.astype("boolean"), type=pa.bool_(), from_pandas=True).to_pylist()
        return pa.array(s.to_numpy(dtype=object), type=pa.string(), from_pandas=True).to_pylist()
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        pass
    if typ in ("money", "decimal"):
        a = pd.to_numeric(s, errors="coerce").astype(float)
        return [None if np.isnan(v) else float(v) for v in a.to_numpy()]
    if typ == "int":
        return [None if pd.isna(v) else int(v) for v in pd.to_numeric(s, errors="coerce")]
    if typ == "bool":
        return [None if pd.isna(v) else bool(v) for v in s]
    return [None if (v is None or (isinstance(v, float) and np.isnan(v))) else str(v)
            for v in s.astype(object)]


def table_rows(name: str, df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a validated table as Bolt-ready dicts (contract columns only;
    vectors are left out: they stay in the dataset, not in the graph)."""
    spec = TABLES[name]
    cols = {}
    for c in spec.columns:
        if c.name not in df.columns or c.type == "vector":
            if c.type != "vector":
                cols[c.name] = [None] * len(df)
            continue
        s = df[c.name]
        if c.type in ("timestamp", "date"):
            cols[c.name] = iso_text(s, c.type == "timestamp").to_pylist()
        elif c.type == "list":
            cols[c.name] = [list(v) if isinstance(v, (tuple, list, np.ndarray)) else [] for v in s]
        else:
            cols[c.name] = _python_values(s, c.type)
    keys = list(cols)
    return [dict(zip(keys, vals)) for vals in zip(*cols.values())] if keys else []


def _fingerprint(name: str, df: pd.DataFrame) -> str:
    """Content hash of a table, so resume bookkeeping never mixes two versions."""
    cols = [c for c in df.columns if c in TABLES[name].names and TABLES[name].column(c).type != "vector"]
    h = pd.util.hash_pandas_object(df[cols].astype(str), index=False).to_numpy()
    return hashlib.sha256(h.tobytes()).hexdigest()[:24]


#: tables whose rows define relationships a re-load must drop first (``cypher/load/detach_<table>``)
DETACH_ON_RELOAD = ("physicians", "visits", "claim_lines", "face_captures", "known_cases")


class LoadInterrupted(Neo4jUnavailable):
    """The server stopped answering in the middle of a load; the message says
    how far it got and that a re-run resumes."""


def reload_tables(spec: str | list[str] | None) -> list[str]:
    """Table names for ``--reload`` (comma-separated, or ``all``), in load order.

    >>> reload_tables("visits,persons")
    ['persons', 'visits']
    >>> reload_tables("bills")
    Traceback (most recent call last):
    ...
    ValueError: --reload: no table 'bills' in the data contract (tables: institutions, physicians, persons, catalog, visits, claim_lines, face_enrollments, face_captures, inventory, family_links, drug_traces, prescribing_scope, known_cases, or all)
    """
    if not spec:
        return []
    names = [n.strip() for n in (spec.split(",") if isinstance(spec, str) else spec) if n.strip()]
    if "all" in names:
        return list(LOAD_ORDER)
    for n in names:
        if n not in LOAD_ORDER:
            raise ValueError(f"--reload: no table {n!r} in the data contract (tables: {', '.join(LOAD_ORDER)}, or all)")
    return [t for t in LOAD_ORDER if t in names]


def ingest_dataset(
    ds,
    runner: QueryRunner,
    *,
    batch_size: int = 20_000,
    tables: list[str] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    fail_after_rows: dict[str, int] | None = None,
    reload: str | list[str] | None = None,
    reason: str | None = None,
    wait: float = 0.0,
    lock: bool = True,
) -> dict[str, Any]:
    """Load every accepted row of ``ds`` (a ``reader.Dataset``) into Neo4j.

    Returns ``{"tables": {table: rows_loaded}, "skipped": {table: rows_resumed},
    "reloaded": [table, ...], "older_versions": {table: why}, "lock_taken_over":
    str | None, "seconds": float, "rows_per_s": float}``.

    - ``reload`` (table names, comma-separated, or ``all``) loads those tables'
      current file versions again although they were loaded before, replacing
      what an earlier or later version left: properties are set again and the
      relationships a row defines are dropped and merged again (same
      transaction); nodes whose keys are not in the file are kept (a monthly
      file adds to what is there). ``reason`` (required then) goes into the
      load log (``LoadLog`` nodes, :func:`load_log`) with the OS user, host and
      time. A re-load interrupted half-way is finished by the next plain run.
    - A table version loaded before is skipped; when another version of that
      table was loaded after it, ``older_versions`` says so (the graph holds
      the other version's values: ``reload`` loads this one again).
    - ``lock`` (default) holds the load locks (:mod:`ringscope.store.locks`) for
      the whole run, waiting up to ``wait`` seconds for another loader;
      :class:`~ringscope.store.locks.LoadLocked` when it does not finish in time.
    - A server that stops answering mid-load raises :class:`LoadInterrupted`
      (one sentence: what was committed, re-run to resume).
    - ``fail_after_rows`` (tests only) raises after that many rows of a table
      have been committed, to simulate a crash mid-load.
    """
    import contextlib

    from ringscope.store.locks import load_lock

    t0 = time.perf_counter()
    reloading = set(reload_tables(reload))
    if reloading and not (reason or "").strip():
        raise ValueError("a re-load needs a reason (--reason): it is recorded in the load log")
    names = [n.strip() for n in (reload.split(",") if isinstance(reload, str) else reload or [])]
    missing = [t for t in LOAD_ORDER if t in reloading and (t not in ds.tables or len(ds.tables[t]) == 0)]
    if missing and "all" not in names:
        raise ValueError(f"--reload: the dataset has no rows of {', '.join(missing)}")
    runner.verify()
    guard = load_lock(runner, wait=wait) if lock else contextlib.nullcontext()
    with guard as held:
        return _ingest(ds, runner, held, t0, batch_size=batch_size, tables=tables, progress=progress,
                       fail_after_rows=fail_after_rows, reloading=reloading, reason=reason)


def _ingest(ds, runner, held, t0, *, batch_size, tables, progress, fail_after_rows, reloading, reason):
    import uuid
    from datetime import datetime, timezone

    from ringscope.store.locks import whoami

    apply_schema(runner)
    me = whoami()
    loaded: dict[str, int] = {}
    skipped: dict[str, int] = {}
    older: dict[str, str] = {}
    reloaded: list[str] = []
    order = [t for t in LOAD_ORDER if tables is None or t in tables]
    # a re-load first records its intent for every table it covers, so a crash
    # anywhere leaves them all to be finished (with the same reason) by the next run
    intent = [{"key": f"{t}:{_fingerprint(t, ds.tables[t])}", "fingerprint": None, "table": t}
              for t in order if t in reloading and t in ds.tables and len(ds.tables[t])]
    for row in intent:
        row["fingerprint"] = row["key"].split(":", 1)[1]
        runner.run("load/state_set", {**row, "rows_done": 0, "mode": "reload", "reason": reason})
    for name in order:
        df = ds.tables.get(name)
        if df is None or len(df) == 0:
            continue
        began = datetime.now(timezone.utc).isoformat()
        fp = _fingerprint(name, df)
        key = f"{name}:{fp}"
        state = runner.read("load/state_get", {"key": key})
        start = int(state[0]["rows_done"]) if state else 0
        mode = "reload" if (name in reloading or (state and state[0]["mode"] == "reload")) else "load"
        why = reason if name in reloading else (state[0]["reason"] if state else None) or reason
        if start >= len(df):
            skipped[name] = len(df)
            loaded[name] = 0
            latest = runner.read("load/state_latest", {"table": name})
            if latest and latest[0]["key"] != key:
                older[name] = (f"this version of {name} was loaded at {state[0]['updated_at']}, but another "
                               f"version was loaded after it (at {latest[0]['updated_at']}) and the graph holds "
                               f"its values; --reload {name} --reason ... loads this one again")
            continue
        rows = table_rows(name, df.iloc[start:])
        limit = (fail_after_rows or {}).get(name)
        committed = [start]

        def on_batch(done: int, _name=name, _start=start, _key=key, _fp=fp, _limit=limit, _mode=mode,
                     _committed=committed, _why=why) -> None:
            total = _start + done
            _committed[0] = total
            runner.run("load/state_set", {"key": _key, "rows_done": total, "fingerprint": _fp, "table": _name,
                                          "mode": _mode, "reason": _why})
            if progress:
                progress(_name, total, len(df))
            if held is not None:
                held.check()
            if _limit is not None and total >= _limit:
                raise RuntimeError(f"simulated crash after {total} rows of {_name}")

        prelude = f"load/detach_{name}" if mode == "reload" and name in DETACH_ON_RELOAD else None
        try:
            runner.write_batches(f"load/{name}", rows, batch_size=batch_size, on_batch=on_batch, prelude=prelude)
        except Neo4jUnavailable:
            raise LoadInterrupted(
                f"Neo4j at {runner.settings.uri} stopped answering during the load of {name} "
                f"({committed[0]:,} of {len(df):,} rows committed): start it again and run the same "
                "command -- the load resumes where it stopped.") from None
        loaded[name] = len(rows)
        skipped[name] = start
        if mode == "reload":
            reloaded.append(name)
        action = "reload" if mode == "reload" else ("resume" if start else "load")
        runner.run("load/log_add", {"rows": [{
            "event_id": uuid.uuid4().hex, "table": name, "fingerprint": fp, "action": action,
            "rows": len(df), "rows_before": start, "reason": (why or None), "user": me["owner"],
            "host": me["host"], "pid": me["pid"], "dataset": str(getattr(ds, "path", "") or "") or None,
            "started_at": began}]})
    secs = time.perf_counter() - t0
    total = sum(loaded.values())
    return {"tables": loaded, "skipped": skipped, "reloaded": reloaded, "older_versions": older,
            "lock_taken_over": getattr(held, "took_over", None),
            "seconds": round(secs, 3), "rows_per_s": round(total / secs, 1) if secs > 0 else None}


def load_log(runner: QueryRunner, *, table: str | None = None, limit: int = 50) -> list[dict]:
    """The load log, newest first: when, which table version, what was done
    (load, resume, reload, bulk), rows, by whom and why."""
    return runner.read("load/log_recent", {"table": table, "limit": int(min(max(limit, 1), 10_000))})


def graph_counts(runner: QueryRunner) -> dict[str, int]:
    """Node count per label (labels with no node left out)."""
    return {r["label"]: r["n"] for r in runner.read("load/counts") if r["n"]}
