"""Cached reads of the findings for the app, and the session's identity.

The app never runs a detector: every page reads what ``ringscope detect``
wrote to Neo4j (and, optionally, the results directory named by
``$RINGSCOPE_RESULTS``). All Cypher comes from ``cypher/app/*.cypher`` through
the one :class:`ringscope.store.db.QueryRunner`, held by
``st.cache_resource``; query results are cached with ``st.cache_data`` keyed
by the query name and its parameters, and dropped after any write.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from ringscope.app.access import AccessEvent, AccessLogger, fields_shown, mask_frame, policy
from ringscope.store.db import QueryRunner, cypher

__all__ = [
    "get_runner",
    "read",
    "read_one",
    "write",
    "clear_cache",
    "to_frame",
    "results_dir",
    "dataset_dir",
    "lead_evidence",
    "current_role",
    "current_user",
    "show_personal",
    "log_view",
    "lead_options",
    "cypher_text",
]

CACHE_TTL_S = 300

# The app's queries read optional properties (l.recovered, l.outcome ...) that a
# fresh database lacks; the server's "property key does not exist" notices are noise here.
logging.getLogger("neo4j.notifications").setLevel(logging.ERROR)


@st.cache_resource(show_spinner=False)
def get_runner() -> QueryRunner:
    """The app's one QueryRunner (shared by all sessions of this process)."""
    runner = QueryRunner()
    runner.verify()
    return runner


def _plain(v: Any) -> Any:
    """Neo4j temporal values to ISO strings; everything else unchanged."""
    if hasattr(v, "iso_format"):
        return v.iso_format()
    return v


def to_frame(rows: list[dict]) -> pd.DataFrame:
    """Records as a frame, temporal values as ISO strings."""
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows)
    for c in df.columns:
        if df[c].dtype == object:
            first = df[c].dropna()
            if len(first) and hasattr(first.iloc[0], "iso_format"):
                df[c] = df[c].map(_plain)
    return df


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False, max_entries=512)
def _read_cached(name: str, params_json: str) -> pd.DataFrame:
    return to_frame(get_runner().read(f"app/{name}", json.loads(params_json)))


def read(name: str, **params: Any) -> pd.DataFrame:
    """Run ``cypher/app/<name>.cypher`` with ``params``; cached frame (a copy)."""
    return _read_cached(name, json.dumps(params, sort_keys=True, default=str)).copy()


def read_one(name: str, **params: Any) -> dict | None:
    """First row of :func:`read` as a dict, or None."""
    df = read(name, **params)
    return None if df.empty else df.iloc[0].to_dict()


def write(name: str, params: Mapping[str, Any]) -> list[dict]:
    """Run a write query and drop every cached read (they may be stale now)."""
    rows = get_runner().run(f"app/{name}", dict(params))
    clear_cache()
    return rows


def clear_cache() -> None:
    _read_cached.clear()


def cypher_text(name: str) -> str:
    """The text of ``cypher/app/<name>.cypher`` (shown beside its results)."""
    return cypher(f"app/{name}")


# ------------------------------------------------------------------------- results dir
def results_dir() -> Path | None:
    """``$RINGSCOPE_RESULTS`` when it names a directory."""
    p = os.environ.get("RINGSCOPE_RESULTS")
    return Path(p) if p and Path(p).is_dir() else None


def dataset_dir() -> Path | None:
    """``$RINGSCOPE_DATASET`` when it names a directory (to resolve image paths)."""
    p = os.environ.get("RINGSCOPE_DATASET")
    return Path(p) if p and Path(p).is_dir() else None


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _evidence_index(path: str, mtime: float) -> dict[str, dict]:
    out: dict[str, dict] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            lid = rec.get("lead_id")
            if lid is not None:
                out[str(lid)] = rec
    return out


def lead_evidence(lead_id: str) -> dict | None:
    """The lead's record in ``lead_evidence.jsonl`` of the results dir, if any."""
    rd = results_dir()
    if rd is None or not (rd / "lead_evidence.jsonl").exists():
        return None
    p = rd / "lead_evidence.jsonl"
    return _evidence_index(str(p), p.stat().st_mtime).get(str(lead_id))


# ------------------------------------------------------------------------- identity
def current_role() -> str:
    return st.session_state.get("role", "analyst")


def current_user() -> str:
    return st.session_state.get("user", "") or "anonymous"


def _logger() -> AccessLogger:
    try:
        runner = get_runner()
    except Exception:  # the server is down: the file remains the log of record
        runner = None
    return AccessLogger(runner)


def log_view(page: str, entity: str, columns, *, n_records: int = 1, faces: bool = False) -> None:
    """Log a view of personal data (only when the view shows any)."""
    fields = fields_shown(list(columns), faces=faces)
    if not fields or n_records <= 0:
        return
    role = current_role()
    _logger().log(AccessEvent(
        user=current_user(), role=role, page=page, entity=entity, fields=fields,
        masked=policy(role).masked, n_records=int(n_records),
    ))


def show_personal(df: pd.DataFrame, *, page: str, entity: str,
                  person_only_col: str | None = None) -> pd.DataFrame:
    """Mask ``df`` for the current role and log the view; returns the frame to show."""
    out = mask_frame(df, current_role(), person_only_col=person_only_col)
    if not df.empty:
        log_view(page, entity, df.columns, n_records=len(df))
    return out


def lead_options(limit: int = 500) -> pd.DataFrame:
    """Leads for a picker: id, rank, scheme, score, amount."""
    return read("lead_queue", schemes=[], statuses=[], min_score=0.0, min_amount=0.0,
                assignee=None, district=None, skip=0, limit=limit)


def now_iso() -> str:
    return dt.datetime.now().replace(microsecond=0).isoformat()


__all__ += ["now_iso"]
