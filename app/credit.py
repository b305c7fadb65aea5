"""Physician credit file (医保医师记分) and institution credit rating (信用评价).

Grades and points come from **outcomes** -- leads whose disposal confirmed fraud and closed
fraud cases (``known_cases``) -- never from raw machine findings (issue 13). Unreviewed rule
hits and open leads are shown beside them as a *warning* (预警), which invites review but never
deducts a point or lowers a grade: a clinic must not be graded D, nor a physician suspended,
on statistics nobody has looked at. A party contests a confirmed finding through the lead's
appeal step (申诉) of the disposal workflow; an appeal upheld clears the lead and with it the
deduction, on the next computation.

Physician points
    Modelled on the NHSA's 2024 guidance on payment qualification of the staff
    of designated institutions (国家医保局等《关于建立定点医药机构相关人员医保支付
    资格管理制度的指导意见》, 医保发〔2024〕23号): each confirmed violation scores points,
    up to 12 for the gravest; 9–11 points in a year suspend the physician's insurance payment
    qualification (暂停), 12 terminate it (终止). Here a confirmed fraud lead or a closed fraud
    case scores 12. ``warning_points``: what the unreviewed hits would score (low 1, medium 2,
    high 3, at most 12) -- a review queue, not a sanction.

Institution rating
    Modelled on provincial credit-evaluation schemes for designated
    institutions (定点医药机构信用评价, e.g. 1,000-point scales graded A–D with a
    blacklist for serious dishonesty): start from 1,000, deduct 300 per confirmed lead or
    closed fraud case. Grades: A ≥ 900, B ≥ 800, C ≥ 650, D below. Blacklisted (黑名单): a
    confirmed lead or a closed fraud case. ``warning``: unreviewed hits by severity, the share of
    billed money they put at risk, open leads and referrals -- shown, never graded.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "SEVERITY_POINTS",
    "physician_credit",
    "institution_credit",
]

SEVERITY_POINTS = {"low": 1, "medium": 2, "high": 3}
OPEN_STATUSES = ("初审", "复审", "调查核实", "申诉", "处理", "移送公安")


def _lists(s: pd.Series) -> pd.Series:
    return s.map(lambda v: list(v) if isinstance(v, (list, tuple, np.ndarray)) else [])


def _counts(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in ("hits_high", "hits_medium", "hits_low", "n_visits"):
        col = out[c] if c in out else pd.Series(0, index=out.index)
        out[c] = pd.to_numeric(col, errors="coerce").fillna(0).astype(int)
    for c in ("amount", "hits_amount"):
        col = out[c] if c in out else pd.Series(0.0, index=out.index)
        out[c] = pd.to_numeric(col, errors="coerce").fillna(0.0)
    for c in ("lead_statuses", "confirmed_leads", "fraud_cases", "cleared_cases"):
        out[c] = _lists(out[c]) if c in out else [[] for _ in range(len(out))]
    out["n_confirmed"] = out["confirmed_leads"].map(len) + out["fraud_cases"].map(len)
    out["n_open_leads"] = out["lead_statuses"].map(lambda xs: sum(x in OPEN_STATUSES or x == "new" for x in xs))
    out["referred"] = out["lead_statuses"].map(lambda xs: "移送公安" in xs)
    return out


def physician_credit(inputs: pd.DataFrame) -> pd.DataFrame:
    """Points and payment-qualification status per physician, from outcomes only.

    ``inputs`` has the columns of ``cypher/app/credit_inputs.cypher``.

    >>> df = pd.DataFrame({"entity_id": ["D1", "D2", "D3"], "hits_high": [0, 4, 0],
    ...     "hits_medium": [1, 2, 0], "hits_low": [0, 0, 0],
    ...     "confirmed_leads": [[], [], ["L1"]], "fraud_cases": [[], [], []]})
    >>> physician_credit(df)[["entity_id", "points", "qualification", "warning_points"]].values.tolist()
    [['D3', 12, '终止 terminated', 0], ['D2', 0, '正常 normal', 12], ['D1', 0, '正常 normal', 2]]
    """
    df = _counts(inputs)
    warn = (df["hits_low"] * SEVERITY_POINTS["low"] + df["hits_medium"] * SEVERITY_POINTS["medium"]
            + df["hits_high"] * SEVERITY_POINTS["high"])
    df["warning_points"] = np.minimum(warn, 12).astype(int)
    df["points"] = np.where(df["n_confirmed"] > 0, 12, 0).astype(int)
    df["qualification"] = np.select(
        [df["points"] >= 12, df["points"] >= 9], ["终止 terminated", "暂停 suspended"], "正常 normal"
    )
    return df.sort_values(["points", "warning_points", "entity_id"], ascending=[False, False, True],
                          kind="stable").reset_index(drop=True)


def institution_credit(inputs: pd.DataFrame) -> pd.DataFrame:
    """Credit score (0–1000), grade A–D and blacklist flag per institution, from outcomes only;
    the unreviewed findings as a warning beside them.

    >>> df = pd.DataFrame({"entity_id": ["H1", "H2", "H3"], "hits_high": [0, 3, 0], "hits_medium": [0, 5, 0],
    ...     "hits_low": [1, 10, 0], "amount": [1e5, 1e5, 1e5], "hits_amount": [0.0, 2e4, 0.0],
    ...     "lead_statuses": [[], ["移送公安"], ["结案"]], "confirmed_leads": [[], [], ["L7"]], "fraud_cases": [[], [], []]})
    >>> institution_credit(df)[["entity_id", "grade", "blacklisted", "warning"]].values.tolist()
    [['H3', 'C', True, False], ['H2', 'A', False, True], ['H1', 'A', False, False]]
    """
    df = _counts(inputs)
    share = np.where(df["amount"] > 0, df["hits_amount"] / df["amount"].where(df["amount"] > 0, 1.0), 0.0)
    df["credit_score"] = np.clip(1000 - df["n_confirmed"] * 300, 0, 1000).round(0).astype(int)
    df["grade"] = np.select(
        [df["credit_score"] >= 900, df["credit_score"] >= 800, df["credit_score"] >= 650],
        ["A", "B", "C"], "D",
    )
    df["blacklisted"] = df["n_confirmed"] > 0
    df["share_at_risk"] = share
    # a warning invites review; it never grades
    df["warning"] = (df["hits_high"] > 0) | (share >= 0.05) | (df["n_open_leads"] > 0) | df["referred"]
    return df.sort_values(["credit_score", "warning", "entity_id"], ascending=[True, False, True],
                          kind="stable").reset_index(drop=True)
