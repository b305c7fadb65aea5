"""The session's identity and its data layer.

Pages get everything through :func:`layer` -- a
:class:`ringscope.store.reads.DataLayer` for the signed-in caller, which
checks the role and scope, masks and logs below the pages. The identity is
kept in the server-side session (``st.session_state["_caller"]``) and in a
signed token (:func:`ringscope.store.users.issue_token`) carried in the URL's
query parameter ``s`` so that a page reload restores it; the role and scope
are re-read from the users file on every run, never taken from the browser.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd
import streamlit as st

from ringscope.store.access import Caller
from ringscope.store.db import QueryRunner
from ringscope.store.reads import DataLayer, clear_cache
from ringscope.store.users import User, UserStore, caller_from_token, issue_token

__all__ = ["get_runner", "layer", "caller", "user", "sign_in", "sign_out", "restore", "token",
           "results_dir", "dataset_dir", "rule_catalog", "lead_evidence", "clear_cache", "TOKEN_PARAM"]

TOKEN_PARAM = "s"

# The app's queries read optional properties (l.recovered, l.outcome ...) that a
# fresh database lacks; the server's "property key does not exist" notices are noise here.
logging.getLogger("neo4j.notifications").setLevel(logging.ERROR)


@st.cache_resource(show_spinner=False)
def get_runner() -> QueryRunner:
    """The app's one QueryRunner (shared by all sessions of this process)."""
    runner = QueryRunner()
    runner.verify()
    return runner


# ------------------------------------------------------------------------- identity
def restore() -> Caller | None:
    """The session's caller: from the session, else from the signed token in the
    URL (a reload); re-checked against the users file on every run."""
    tok = st.session_state.get("_token") or st.query_params.get(TOKEN_PARAM)
    found = caller_from_token(tok) if tok else None
    if found is None:
        for k in ("_token", "_caller", "_user"):
            st.session_state.pop(k, None)
        if TOKEN_PARAM in st.query_params:
            del st.query_params[TOKEN_PARAM]
        return None
    c, u = found
    st.session_state["_token"] = tok
    st.session_state["_caller"] = c
    st.session_state["_user"] = u
    if st.query_params.get(TOKEN_PARAM) != tok:
        st.query_params[TOKEN_PARAM] = tok
    return c


def sign_in(name: str, password: str) -> User | None:
    u = UserStore().authenticate(name.strip(), password)
    if u is None:
        return None
    tok = issue_token(u)
    st.session_state["_token"] = tok
    st.query_params[TOKEN_PARAM] = tok
    return u


def sign_out() -> None:
    """End this user's sessions (every open session of the user: the token epoch moves)."""
    u = st.session_state.get("_user")
    if u is not None:
        UserStore().sign_out_everywhere(u.name)
    for k in list(st.session_state.keys()):
        del st.session_state[k]
    st.query_params.clear()


def token() -> str | None:
    return st.session_state.get("_token")


def caller() -> Caller:
    c = st.session_state.get("_caller")
    if c is None:
        st.stop()
    return c


def user() -> User | None:
    return st.session_state.get("_user")


def layer() -> DataLayer:
    """The data layer for the signed-in caller."""
    return DataLayer(get_runner(), caller())


# ------------------------------------------------------------------------- results dir
def results_dir() -> Path | None:
    """``$RINGSCOPE_RESULTS`` when it names a directory."""
    p = os.environ.get("RINGSCOPE_RESULTS")
    return Path(p) if p and Path(p).is_dir() else None


def rule_catalog() -> pd.DataFrame:
    """``rule_catalog.csv`` of the results (the rule library as the run used it: class, severity,
    measured precision); empty when there is none."""
    d = results_dir()
    p = d / "rule_catalog.csv" if d else None
    if p is None or not p.exists():
        return pd.DataFrame(columns=["rule_id", "rule_class", "measured_precision"])
    return pd.read_csv(p, dtype={"rule_id": str}, keep_default_na=False)


def dataset_dir() -> Path | None:
    """``$RINGSCOPE_DATASET`` when it names a directory (to resolve image paths)."""
    p = os.environ.get("RINGSCOPE_DATASET")
    return Path(p) if p and Path(p).is_dir() else None


@st.cache_data(ttl=300, show_spinner=False)
def _evidence_index(path: str, mtime: float) -> dict[str, dict]:
    import json

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
