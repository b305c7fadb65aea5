"""Money at risk that adds up: every claim line counted once, never above what was billed.

Rules are written one at a time and each states what *it* puts at risk: a price over its
cap, a visit billed during a stay, an institution's excess over its peers. Summed naively,
overlapping rules count the same settlement two or three times, and a peer-deviation figure
can exceed what the entity billed at all (issue 13: rule hits adding up to 152% of a city's
outlay). :func:`allocate` turns the rules' own figures (kept as ``amount_claimed``) into
amounts that add up, by a fixed order of precedence:

1. hits are ranked worst first: definite (明确违规) before suspicious (可疑), then severity
   high > medium > low, then the larger claim, then the hit id (so the result is the same on
   every run);
2. a hit that names a claim line takes at most what is left of that line and of its
   settlement (``claim_lines.amount``, ``visits.total_amount``);
3. a hit that names a settlement only takes at most what is left of the settlement;
4. a hit that names neither (an entity-level statistic: an institution's excess drug share)
   takes at most what is left of the entity's billing after the line- and settlement-level
   hits on its settlements and the entity-level hits ranked before it; a physician's hit
   also draws on its institution's pool, so that no institution's settlements are counted
   past their total.

The result: at every level (hit, entity, lead built from hits, city) a line is counted at
most once at its worst finding and a total never exceeds what was billed. A hit whose money
was already counted under a worse finding keeps its row (the finding stands) with amount 0
and says so in its evidence.

References
----------
National Healthcare Security Administration, 医疗保障基金使用监督管理条例 (2021), art. 38-40
(recovering the amount actually paid out by the fund for the irregular settlement).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["allocate", "SEVERITY_RANK"]

SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}
_CLASS_RANK = {"definite": 0, "suspicious": 1}


def _ids(s: pd.Series) -> pd.Series:
    return s.where(s.notna(), None).map(lambda v: None if v is None or v == "" else str(v))


def allocate(hits: pd.DataFrame, line_amount: pd.Series, visit_amount: pd.Series,
             entity_amount: pd.Series | None = None) -> pd.DataFrame:
    """``hits`` with ``amount_at_risk`` allocated once per line (and ``amount_claimed``, the
    rule's own figure).

    ``line_amount``: billed per ``line_id``; ``visit_amount``: billed per ``visit_id``
    (``total_amount``); ``entity_amount``: billed per ``(entity_type, entity_id)`` for the
    entities of hits without a settlement. Missing amounts count as 0 (a hit on a line that is
    not in the data cannot claim money).

    >>> hits = pd.DataFrame({"hit_id": ["a", "b", "c", "d"], "rule_class": ["suspicious", "definite", "suspicious", "definite"],
    ...     "severity": ["high", "low", "low", "medium"], "visit_id": ["V1", "V1", "V1", None], "line_id": ["L1", "L1", None, None],
    ...     "entity_type": ["person", "person", "institution", "institution"], "entity_id": ["P", "P", "H", "H"],
    ...     "institution_id": ["H", "H", "H", None], "physician_id": [None] * 4, "person_id": ["P", "P", "P", None],
    ...     "amount_at_risk": [80.0, 60.0, 500.0, 1000.0], "evidence": [""] * 4})
    >>> out = allocate(hits, pd.Series({"L1": 70.0, "L2": 30.0}), pd.Series({"V1": 100.0}),
    ...                pd.Series({("institution", "H"): 250.0}))
    >>> out.set_index("hit_id")["amount_at_risk"].to_dict()
    {'a': 10.0, 'b': 60.0, 'c': 30.0, 'd': 150.0}
    >>> float(out["amount_claimed"].sum())
    1640.0
    """
    if hits is None or not len(hits):
        out = hits.copy() if hits is not None else pd.DataFrame()
        out["amount_claimed"] = pd.Series(dtype=float)
        return out
    h = hits.copy()
    claimed = pd.to_numeric(h["amount_at_risk"], errors="coerce").fillna(0.0).clip(lower=0.0).to_numpy(float)
    h["amount_claimed"] = claimed
    vid = _ids(h["visit_id"]) if "visit_id" in h.columns else pd.Series(None, index=h.index)
    lid = _ids(h["line_id"]) if "line_id" in h.columns else pd.Series(None, index=h.index)
    cls = h.get("rule_class", pd.Series("suspicious", index=h.index)).map(_CLASS_RANK).fillna(1).to_numpy()
    sev = h.get("severity", pd.Series("medium", index=h.index)).map(SEVERITY_RANK).fillna(1).to_numpy()
    order = np.lexsort((h["hit_id"].astype(str).to_numpy(), -claimed, sev, cls))
    alloc = np.zeros(len(h))
    has_v = vid.notna().to_numpy()

    # settlement-level pools (line hits and settlement hits), worst hit first
    vpool = {k: float(v) for k, v in pd.to_numeric(visit_amount, errors="coerce").fillna(0.0).items()}
    lpool = {k: float(v) for k, v in pd.to_numeric(line_amount, errors="coerce").fillna(0.0).items()}
    v_arr, l_arr = vid.to_numpy(dtype=object), lid.to_numpy(dtype=object)
    # fast path: a settlement with a single hit takes min(claim, line or settlement billed)
    counts = vid[has_v].value_counts()
    single = has_v & vid.map(counts).eq(1).to_numpy()
    for i in np.flatnonzero(single):
        cap = vpool.get(v_arr[i], 0.0)
        if l_arr[i] is not None:
            cap = min(cap, lpool.get(l_arr[i], 0.0))
        alloc[i] = min(claimed[i], max(cap, 0.0))
    multi = has_v & ~single
    for i in order[multi[order]]:
        v, ln = v_arr[i], l_arr[i]
        cap = vpool.get(v, 0.0)
        if ln is not None:
            cap = min(cap, lpool.get(ln, 0.0))
        a = min(claimed[i], max(cap, 0.0))
        alloc[i] = a
        vpool[v] = vpool.get(v, 0.0) - a
        if ln is not None:
            lpool[ln] = lpool.get(ln, 0.0) - a

    # entity-level hits draw on what is left of the entity's billing
    ent = ~has_v
    if ent.any():
        epool = {k: float(v) for k, v in (entity_amount if entity_amount is not None else pd.Series(dtype=float)).items()}
        spent = pd.Series(alloc[has_v])
        for col, et in (("institution_id", "institution"), ("physician_id", "physician"), ("person_id", "person")):
            if col in h.columns:
                by = spent.groupby(h.loc[has_v, col].to_numpy()).sum()
                for eid, s in by.items():
                    if eid is not None and (et, eid) in epool:
                        epool[(et, eid)] -= float(s)
        home = {}
        if "institution_id" in h.columns:
            ph = h[(h["entity_type"] == "physician") & h["institution_id"].notna()]
            home = dict(zip(ph["entity_id"].astype(str), ph["institution_id"].astype(str)))
        et_arr, eid_arr = h["entity_type"].astype(str).to_numpy(), h["entity_id"].astype(str).to_numpy()
        for i in order[ent[order]]:
            key = (et_arr[i], eid_arr[i])
            cap = epool.get(key, 0.0)
            inst = ("institution", home.get(eid_arr[i])) if et_arr[i] == "physician" else None
            if inst is not None and inst in epool:
                cap = min(cap, epool[inst])
            a = min(claimed[i], max(cap, 0.0))
            alloc[i] = a
            epool[key] = epool.get(key, 0.0) - a
            if inst is not None and inst in epool:
                epool[inst] -= a
    alloc = np.round(alloc, 2)
    cut = alloc + 0.005 < np.round(claimed, 2)
    h["amount_at_risk"] = alloc
    if "evidence" in h.columns and cut.any():
        note = np.where(alloc[cut] <= 0, "（金额已计入更严重的发现 / already counted under a worse finding）",
                        "（金额以实际结算为上限 / capped at what was billed and not yet counted）")
        h.loc[cut, "evidence"] = h.loc[cut, "evidence"].fillna("").astype(str) + " " + note + \
            pd.Series(claimed[cut], index=h.index[cut]).map(lambda x: f" [rule's figure CNY {x:,.2f}]")
    return h


def billed_for(hits: pd.DataFrame, engine: Any) -> tuple[pd.Series, pd.Series, pd.Series]:
    """The billed amounts :func:`allocate` needs, read from the columnar engine: per line and
    per settlement named by a hit, per entity of a hit without a settlement (its settlements'
    ``total_amount``; a physician's as attending or ordering physician)."""
    empty = pd.Series(dtype=float)
    if hits is None or not len(hits) or engine is None:
        return empty, empty, empty
    lines = _ids(hits["line_id"]).dropna().unique() if "line_id" in hits.columns else []
    visits = _ids(hits["visit_id"]).dropna().unique() if "visit_id" in hits.columns else []
    la = va = empty
    if len(lines) and engine.has("claim_lines"):
        d = engine.query("billed_lines", frames={"want": pd.DataFrame({"id": lines})})
        la = pd.Series(pd.to_numeric(d["amount"], errors="coerce").fillna(0.0).to_numpy(), index=d["line_id"].astype(str))
    if len(visits) and engine.has("visits"):
        d = engine.query("billed_visits", frames={"want": pd.DataFrame({"id": visits})})
        va = pd.Series(pd.to_numeric(d["total_amount"], errors="coerce").fillna(0.0).to_numpy(),
                       index=d["visit_id"].astype(str))
    no_v = hits[_ids(hits["visit_id"]).isna()] if "visit_id" in hits.columns else hits
    ents = {}
    if len(no_v) and engine.has("visits"):
        wanted = set(zip(no_v["entity_type"].astype(str), no_v["entity_id"].astype(str)))
        if "institution_id" in no_v.columns:    # a physician's institution pool
            ph = no_v[(no_v["entity_type"] == "physician") & no_v["institution_id"].notna()]
            wanted |= {("institution", str(i)) for i in ph["institution_id"]}
        want = pd.DataFrame(sorted(wanted), columns=["entity_type", "entity_id"])
        d = engine.query("billed_entities", frames={"want": want})
        ents = {(str(t), str(i)): float(b or 0.0) for t, i, b in zip(d["entity_type"], d["entity_id"], d["billed"])}
    return la, va, pd.Series(ents, dtype=float)
