"""Lead history (线索沿革): every detection run's version of every lead, and where leads came from.

A lead's id carries over from run to run when it is the same network (fusion keeps the id of an
earlier lead mostly inside the new one); its members, score and amount change as the data does.
Investigators need to see that change: who joined, who was dropped and when, which leads were
folded into one and which one fell apart. :func:`write_versions` (called by
:func:`ringscope.store.findings.write_findings` before it updates the leads) records, per run:

- a ``LeadVersion`` node per lead of the run (``HAS_VERSION`` from the lead, ``PREVIOUS`` to the
  version before): score, amount, rank, members, ``added`` and ``dropped`` since the previous
  version, and the ids it was ``merged_from`` / ``split_from``; state ``new``, ``changed`` or
  ``unchanged``;
- a ``LeadVersion`` for every earlier lead this run did not find again: state ``merged`` (its
  members went into ``merged_into``), ``split`` (into ``split_into``, several) or ``retired``;
- ``DERIVED_FROM`` relationships between the leads, with the relation and the members shared.

Lineage (:func:`lead_lineage`) is computed from the members: an earlier lead O *gave* to a lead N
of this run when at least ``min_share`` of O's members are in N. N is a merge when several
earlier leads gave to it; O is split when it gave to several. Read a lead's history with
:func:`lead_timeline` (versions and disposal events in time order), an entity's with
:func:`member_history`.

>>> prev = pd.DataFrame({"lead_id": ["A", "B"], "members": ["person:1;person:2;person:3", "person:7;person:8"]})
>>> cur = pd.DataFrame({"lead_id": ["A"], "members": ["person:1;person:2;person:7;person:8"]})
>>> lead_lineage(prev, cur)[["lead_id", "from_id", "relation", "shared"]].values.tolist()
[['A', 'A', 'kept', 2], ['A', 'B', 'merged', 2]]
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

__all__ = ["lead_lineage", "version_rows", "write_versions", "lead_timeline", "member_history",
           "version_members", "HISTORY_QUERIES"]

HISTORY_QUERIES = ("history/versions", "history/lineage", "history/timeline", "history/version_members",
                   "history/member_leads")


def _members(s: Any) -> frozenset[str]:
    if isinstance(s, (list, tuple, set, frozenset)):
        return frozenset(str(m) for m in s if m)
    return frozenset(m for m in str(s or "").split(";") if m)


def lead_lineage(previous: pd.DataFrame | None, current: pd.DataFrame, *, min_share: float = 0.3) -> pd.DataFrame:
    """Which earlier lead gave members to which lead of this run: ``lead_id, from_id, shared,
    relation`` (``kept``: the same id; ``merged``: several earlier leads gave to the lead;
    ``split``: the earlier lead gave to several; ``moved``: members of one earlier lead went
    into one other lead)."""
    cols = ["lead_id", "from_id", "shared", "relation"]
    if previous is None or previous.empty or current.empty:
        return pd.DataFrame(columns=cols)
    old = {str(i): _members(m) for i, m in zip(previous["lead_id"], previous["members"])}
    new = {str(i): _members(m) for i, m in zip(current["lead_id"], current["members"])}
    index: dict[str, list[str]] = {}
    for oid, ms in old.items():
        for m in ms:
            index.setdefault(m, []).append(oid)
    rows = []
    for nid, ms in new.items():
        counts: dict[str, int] = {}
        for m in ms:
            for oid in index.get(m, ()):
                counts[oid] = counts.get(oid, 0) + 1
        for oid, k in counts.items():
            if oid == nid or k >= max(1.0, min_share * len(old[oid])):
                rows.append((nid, oid, k))
    if not rows:
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame(rows, columns=["lead_id", "from_id", "shared"])
    n_from = df.groupby("lead_id")["from_id"].transform("nunique")
    n_to = df.groupby("from_id")["lead_id"].transform("nunique")
    df["relation"] = "moved"
    df.loc[n_to > 1, "relation"] = "split"
    df.loc[n_from > 1, "relation"] = "merged"
    df.loc[df["lead_id"] == df["from_id"], "relation"] = "kept"
    return df.sort_values(["lead_id", "from_id"]).reset_index(drop=True)[cols]


def version_rows(previous: pd.DataFrame | None, leads: pd.DataFrame, run_id: str,
                 lineage: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """The ``LeadVersion`` rows of one run: one per lead of the run, and one per earlier lead the
    run did not find again (merged, split or retired)."""
    prev = {} if previous is None or previous.empty else \
        {str(i): _members(m) for i, m in zip(previous["lead_id"], previous["members"])}
    prev_scheme = {} if previous is None or previous.empty else dict(zip(previous["lead_id"].astype(str),
                                                                           previous["scheme"]))
    lin = lineage if lineage is not None else lead_lineage(previous, leads)
    gave_to = lin[lin["relation"] != "kept"].groupby("lead_id")["from_id"].agg(list).to_dict() if len(lin) else {}
    went_to = lin[lin["relation"] != "kept"].groupby("from_id")["lead_id"].agg(list).to_dict() if len(lin) else {}
    split_of = lin[lin["relation"] == "split"].groupby("lead_id")["from_id"].agg(list).to_dict() if len(lin) else {}
    rows: list[dict[str, Any]] = []
    seen = set()
    for r in leads.itertuples(index=False):
        lid = str(r.lead_id)
        seen.add(lid)
        ms = _members(r.members)
        before = prev.get(lid)
        added = sorted(ms - before) if before is not None else []
        dropped = sorted(before - ms) if before is not None else []
        state = "new" if before is None else ("changed" if added or dropped else "unchanged")
        merged_from = sorted(set(gave_to.get(lid, [])) - set(split_of.get(lid, [])))
        rows.append({"key": f"{lid}@{run_id}", "lead_id": lid, "state": state, "scheme": str(r.scheme),
                     "score": float(r.score), "amount_at_risk": float(r.amount_at_risk),
                     "rank": None if pd.isna(getattr(r, "rank", None)) else int(getattr(r, "rank")),
                     "members": sorted(ms), "n_members": len(ms), "added": added, "dropped": dropped,
                     "merged_from": merged_from, "split_from": sorted(split_of.get(lid, [])),
                     "merged_into": [], "split_into": []})
    for oid, ms in prev.items():
        if oid in seen:
            continue
        into = sorted(set(went_to.get(oid, [])))
        state = "split" if len(into) > 1 else ("merged" if into else "retired")
        rows.append({"key": f"{oid}@{run_id}", "lead_id": oid, "state": state, "scheme": str(prev_scheme.get(oid)),
                     "score": None, "amount_at_risk": None, "rank": None, "members": [], "n_members": 0,
                     "added": [], "dropped": sorted(ms), "merged_from": [], "split_from": [],
                     "merged_into": into if len(into) == 1 else [], "split_into": into if len(into) > 1 else []})
    return rows


def write_versions(runner, *, run_id: str, previous: pd.DataFrame | None, leads: pd.DataFrame,
                   now: datetime | None = None, batch_size: int = 500) -> dict[str, int]:
    """Write this run's lead versions and lineage (the ``Lead`` nodes must exist: call after the
    leads are written). ``previous``: the leads and members in the database before this run."""
    now_s = (now or datetime.now()).replace(microsecond=0).isoformat()
    lin = lead_lineage(previous, leads)
    rows = version_rows(previous, leads, run_id, lin)
    out = {"lead_versions": runner.write_batches("history/versions", rows, batch_size=batch_size,
                                                 params={"run_id": run_id, "now": now_s})}
    lrows = [{"lead_id": r.lead_id, "from_id": r.from_id, "relation": r.relation, "shared": int(r.shared)}
             for r in lin.itertuples(index=False) if r.lead_id != r.from_id]
    out["lead_lineage"] = runner.write_batches("history/lineage", lrows, batch_size=batch_size,
                                               params={"run_id": run_id})
    out["leads_merged"] = sum(1 for r in rows if r["state"] in ("merged", "split"))
    return out


def lead_timeline(runner, lead_id: str) -> pd.DataFrame:
    """A lead's versions (one per run: score, amount, members added and dropped, merges and splits)
    and disposal events, in time order (``kind``: ``version`` or ``event``)."""
    return runner.read_df("history/timeline", {"lead_id": lead_id})


def version_members(runner, lead_id: str, run_id: str | None = None) -> dict[str, Any] | None:
    """The members of a lead as one run saw them (``run_id``; the latest version when None):
    ``run_id, seq, members, added, dropped``, or None when the lead has no such version."""
    rows = runner.read("history/version_members", {"lead_id": lead_id, "run_id": run_id})
    return rows[0] if rows else None


def member_history(runner, entity_type: str, entity_id: str) -> pd.DataFrame:
    """Every lead an entity was in, with the runs it was a member of and the run it was dropped."""
    rows = runner.read("history/member_leads", {"member": f"{entity_type}:{entity_id}"})
    out = []
    for r in rows:
        for v in r["versions"]:
            out.append({"lead_id": r["lead_id"], **v})
    return pd.DataFrame(out, columns=["lead_id", "seq", "run_id", "at", "member", "dropped"])
