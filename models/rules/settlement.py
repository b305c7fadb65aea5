"""Settlement-pattern rules (管理类): how and when credentials are swiped.

- batch swiping (集中/批量刷卡): a burst of settlements of different persons at
  one terminal within minutes, well above the terminal's own usual rate (so a
  large hospital's busy window is not a burst);
- pharmacy settlements at night (夜间药店结算);
- weekend/holiday inpatient admissions at an institution far above the city's
  share (binomial z-test);
- settlement totals not explained by their itemised lines, and payments that
  exceed the total.

Sliding windows use ``numpy.searchsorted`` over a composite (terminal, time)
key: one pass over the sorted settlements, no per-terminal loop.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .frames import Frames, money
from .registry import rule

__all__ = ["batch_swiping", "night_pharmacy", "weekend_admissions", "total_not_itemised", "overpaid"]


def _window_counts(group: np.ndarray, secs: np.ndarray, window_s: float) -> np.ndarray:
    """For rows sorted by (group, secs): rows of the same group in [t, t + window]."""
    span = float(secs.max() - secs.min() + window_s + 1) if len(secs) else 1.0
    key = group.astype(np.float64) * span + (secs - secs.min())
    end = np.searchsorted(key, key + window_s, side="right")
    return end - np.arange(len(key))


@rule("R-MGT-006", "集中刷卡", "Batch swiping at one terminal", category="management", severity="high",
      rule_class="suspicious", scope="institution", entity_type="institution", violation_class="card_cashout",
      description="At least min_count settlements of different persons at one terminal (or institution when "
                  "no terminal is recorded) within window_minutes, and at least rate_factor times the "
                  "terminal's usual rate per active hour; every settlement of the burst is flagged.")
def batch_swiping(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    v = fr.visits
    if p.get("kinds"):
        v = v[v["kind"].isin(p["kinds"])]
    v = v[v["visit_type"] != "inpatient"]
    if v.empty:
        return pd.DataFrame()
    w = float(p.get("window_minutes", 10)) * 60.0
    term = v["terminal_id"].where(v["terminal_id"].notna(), "institution:" + v["institution_id"].astype(str))
    v = v.assign(term=term.to_numpy()).sort_values(["term", "start_time", "visit_id"])
    secs = (v["start_time"].astype("int64") // 10**9).to_numpy().astype(np.float64)
    # the same person settling again at the terminal within the window counts once
    rep = (v["term"].eq(v["term"].shift()) & v["person_id"].eq(v["person_id"].shift())
           & (secs - np.roll(secs, 1) <= w))
    v = v[~rep.to_numpy()]
    secs = (v["start_time"].astype("int64") // 10**9).to_numpy().astype(np.float64)
    code, _ = pd.factorize(v["term"])
    n = _window_counts(code, secs, w)
    hours = v["start_time"].dt.floor("h")
    per_term = pd.DataFrame({"term": v["term"].to_numpy(), "h": hours.to_numpy()})
    active_h = per_term.groupby("term")["h"].nunique()
    total = per_term.groupby("term").size()
    expected = (v["term"].map(total / active_h) * (w / 3600.0)).to_numpy()
    need = np.maximum(float(p.get("min_count", 8)), float(p.get("rate_factor", 4.0)) * expected)
    start = n >= need
    if not start.any():
        return pd.DataFrame()
    mark = np.zeros(len(v) + 1, dtype=np.int64)
    idx = np.nonzero(start)[0]
    np.add.at(mark, idx, 1)
    np.add.at(mark, idx + n[idx], -1)
    member = np.cumsum(mark)[:-1] > 0
    run = np.cumsum(np.r_[True, member[1:] != member[:-1]])
    d = v[member].assign(run=run[member], secs=secs[member], expected=expected[member])
    g = d.groupby("run")
    size = g["visit_id"].transform("size")
    t0 = pd.to_datetime(g["secs"].transform("min"), unit="s")
    t1 = pd.to_datetime(g["secs"].transform("max"), unit="s")
    ev = (size.astype(str) + " settlements of different persons at terminal " + d["term"].astype(str) + " between "
          + t0.dt.strftime("%Y-%m-%d %H:%M") + " and " + t1.dt.strftime("%H:%M") + " (usual "
          + d["expected"].round(1).astype(str) + " per " + str(int(w / 60)) + " min)")
    return pd.DataFrame({"visit_id": d["visit_id"], "amount_at_risk": d["total_amount"], "evidence": ev,
                         "key": d["term"]})


@rule("R-MGT-007", "药店夜间结算", "Pharmacy settlement at night", category="management", severity="low",
      rule_class="suspicious", scope="institution", entity_type="institution", violation_class="card_cashout",
      description="A settlement at a pharmacy between night_start and night_end (local time).")
def night_pharmacy(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    v = fr.visits
    v = v[v["kind"].isin(p.get("kinds", ["pharmacy"]))]
    h = v["start_time"].dt.hour + v["start_time"].dt.minute / 60.0
    s, e = float(p.get("night_start", 23)), float(p.get("night_end", 6))
    night = (h >= s) | (h < e) if s > e else (h >= s) & (h < e)
    d = v[night]
    ev = "pharmacy settlement at " + d["start_time"].dt.strftime("%Y-%m-%d %H:%M") + " " + money(d["total_amount"])
    return pd.DataFrame({"visit_id": d["visit_id"], "amount_at_risk": d["total_amount"], "evidence": ev})


@rule("R-MGT-008", "周末/节假日入院异常集中", "Weekend/holiday admissions surge", category="management",
      severity="medium", rule_class="suspicious", scope="stays", entity_type="institution", violation_class=None,
      description="An institution's share of inpatient admissions on weekends and holidays is far above the "
                  "city's share (one-sided binomial z >= z_min, share >= ratio_min x city share).")
def weekend_admissions(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    v = fr.visits
    v = v[v["visit_type"] == "inpatient"]
    if v.empty:
        return pd.DataFrame()
    hol = pd.to_datetime(pd.Series(p.get("holidays", []) or [], dtype=object))
    off = (v["start_time"].dt.dayofweek >= 5) | v["day"].isin(hol)
    p0 = float(off.mean())
    if p0 <= 0 or p0 >= 1:
        return pd.DataFrame()
    g = pd.DataFrame({"inst": v["institution_id"], "off": off,
                      "amt": v["total_amount"].where(off, 0.0)}).groupby("inst")
    n, k, amt = g["off"].size(), g["off"].sum(), g["amt"].sum()
    z = (k - n * p0) / np.sqrt(n * p0 * (1 - p0))
    share = k / n
    m = (n >= int(p.get("min_admissions", 20))) & (z >= float(p.get("z_min", 3.0))) & (
        share >= float(p.get("ratio_min", 1.5)) * p0)
    inst = n.index[m]
    excess = amt[m] * (1 - (n[m] * p0) / k[m])
    ev = (k[m].astype(int).astype(str) + " of " + n[m].astype(str) + " admissions ("
          + (share[m] * 100).round(0).astype(int).astype(str)
          + "%) on weekends/holidays vs city " + str(round(p0 * 100)) + "%, z=" + z[m].round(1).astype(str))
    return pd.DataFrame({"visit_id": None, "entity_id": inst, "institution_id": inst,
                         "amount_at_risk": excess.to_numpy(), "evidence": ev.to_numpy(), "key": "weekend"})


@rule("R-MGT-009", "结算总额与明细不符", "Settlement total not itemised", category="management",
      severity="low", rule_class="definite", entity_type="institution", violation_class=None,
      description="A settlement's total exceeds the sum of its claim lines by more than the tolerance.")
def total_not_itemised(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    s = fr.lines.groupby("visit_id")["amount"].sum()
    v = fr.visits[fr.visits["visit_id"].isin(s.index)]
    lines = v["visit_id"].map(s)
    diff = v["total_amount"] - lines
    tol = np.maximum(float(p.get("abs_tolerance", 1.0)), lines.abs() * float(p.get("rel_tolerance", 0.01)))
    m = diff > tol
    d = v[m]
    ev = "total " + money(d["total_amount"]) + " but itemised lines sum to " + money(lines[m])
    return pd.DataFrame({"visit_id": d["visit_id"], "amount_at_risk": diff[m], "evidence": ev})


@rule("R-MGT-010", "支付金额超过结算总额", "Payments exceed the settlement total", category="management",
      severity="medium", rule_class="definite", entity_type="institution", violation_class=None,
      description="Fund plus personal-account payments exceed the settlement's total amount.")
def overpaid(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    v = fr.visits
    paid = v["fund_paid"].fillna(0.0) + v["account_paid"].fillna(0.0)
    diff = paid - v["total_amount"]
    m = diff > float(p.get("abs_tolerance", 0.5))
    d = v[m]
    ev = ("fund " + money(d["fund_paid"].fillna(0.0)) + " + account " + money(d["account_paid"].fillna(0.0))
          + " > total " + money(d["total_amount"]))
    return pd.DataFrame({"visit_id": d["visit_id"], "amount_at_risk": diff[m], "evidence": ev})
