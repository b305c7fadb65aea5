"""Inpatient-stay rules (医疗类/管理类): split, ghost and implausible stays.

- split admission (分解住院): readmission to the same institution within
  ``window_days`` of discharge with a diagnosis in the same ICD-10 category;
- ghost bed (挂床住院): a stay of several days at an institution whose ward
  face terminal works (it captured someone) with no ward capture of the patient;
  or the patient's credential captured at another institution during the stay;
  or settlements at other institutions during the stay;
- length of stay far above peers with the same primary diagnosis (robust z on
  log length of stay);
- charges dated outside the stay;
- stays whose charges cover only a small share of the days in bed.

Interval conditions are evaluated on the join of stays with the person's other
events (a person has few stays), never by looping over stays.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .frames import Frames, explode_codes, money, robust_z
from .registry import rule

__all__ = ["split_admission", "ghost_bed_no_ward", "seen_elsewhere_during_stay", "settled_elsewhere_during_stay",
           "long_stay", "charge_outside_stay", "sparse_care"]


def _stays(fr: Frames) -> pd.DataFrame:
    v = fr.visits
    s = v[v["visit_type"] == "inpatient"].copy()
    s["end"] = s["end_time"].where(s["end_time"].notna() & (s["end_time"] >= s["start_time"]), s["start_time"])
    s["los"] = (s["end"].dt.normalize() - s["start_time"].dt.normalize()).dt.days.astype(float)
    return s


def _ts(s: pd.Series) -> pd.Series:
    return s.dt.strftime("%Y-%m-%d %H:%M")


@rule("R-MED-001", "分解住院", "Split admission", category="medical", severity="high", rule_class="suspicious", entity_type="institution",
      violation_class="split_admission",
      description="Readmission to the same institution within window_days of the previous discharge with a "
                  "diagnosis in the same ICD-10 category (first category_chars characters).")
def split_admission(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    s = _stays(fr)
    keys = ["person_id", "institution_id"] if p.get("same_institution", True) else ["person_id"]
    s = s.sort_values(keys + ["start_time", "visit_id"])
    prev = s.shift()
    same = s[keys].eq(prev[keys]).all(axis=1)
    gap = (s["start_time"] - prev["end"]).dt.total_seconds() / 86400.0
    cand = s[same & (gap >= -0.01) & (gap <= float(p.get("window_days", 15)))].copy()
    cand["prev_visit"] = prev.loc[cand.index, "visit_id"]
    cand["gap"] = gap[cand.index]
    if cand.empty:
        return pd.DataFrame()
    if p.get("require_same_diagnosis", True):
        k = int(p.get("category_chars", 3))
        dx = explode_codes(fr.visits[fr.visits["visit_id"].isin(pd.concat([cand["visit_id"], cand["prev_visit"]]))],
                           "visit_id", "diagnosis_codes")
        dx["cat"] = dx["code"].str[:k]
        pairs = cand[["visit_id", "prev_visit"]].merge(dx[["visit_id", "cat"]], on="visit_id").merge(
            dx[["visit_id", "cat"]].rename(columns={"visit_id": "prev_visit"}), on=["prev_visit", "cat"])
        shared = pairs.sort_values(["visit_id", "cat"]).drop_duplicates("visit_id").set_index("visit_id")["cat"]
        cand = cand[cand["visit_id"].isin(shared.index)]
        cand["shared"] = cand["visit_id"].map(shared)
    else:
        cand["shared"] = "-"
    ev = ("readmitted " + cand["gap"].round(1).astype(str) + " days after discharge from "
          + cand["prev_visit"].astype(str)
          + ", same diagnosis category " + cand["shared"].astype(str))
    later = pd.DataFrame({"visit_id": cand["visit_id"], "amount_at_risk": cand["total_amount"], "evidence": ev,
                          "key": cand["prev_visit"]})
    # the earlier part of the split episode is part of it too
    prev_amt = cand["prev_visit"].map(s.set_index("visit_id")["total_amount"])
    ev0 = ("readmitted as " + cand["visit_id"].astype(str) + " " + cand["gap"].round(1).astype(str)
           + " days after this discharge, same diagnosis category " + cand["shared"].astype(str))
    earlier = pd.DataFrame({"visit_id": cand["prev_visit"], "amount_at_risk": prev_amt, "evidence": ev0,
                            "key": "next:" + cand["visit_id"].astype(str)})
    return pd.concat([later, earlier], ignore_index=True)


@rule("R-MED-002", "挂床住院（病区无人脸抓拍）", "Ghost bed: no ward face capture during the stay",
      category="medical", severity="high", rule_class="suspicious", scope="institution", entity_type="institution", violation_class="ghost_admission",
      needs=("face_captures",),
      description="A stay of at least min_days at an institution with a working ward face terminal (it has ward "
                  "captures) during which the patient was never captured at the ward.")
def ghost_bed_no_ward(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    fc = fr.table("face_captures")
    ward = fc[fc["location"] == "ward"]
    if ward.empty:
        return pd.DataFrame()
    s = _stays(fr)
    s = s[s["institution_id"].isin(ward["institution_id"].unique()) & (s["los"] >= float(p.get("min_days", 2)))]
    if p.get("require_face_terminal", True):
        s = s[s["has_face_terminal"].fillna(True).astype(bool)]
    # judge a stay only while the ward terminal demonstrably worked: it captured at least
    # min_ward_captures faces (of anyone) during the stay (camera outages are not evidence)
    ward = ward.sort_values(["institution_id", "capture_time"])
    code = pd.Categorical(ward["institution_id"])
    wkey = _composite(code.codes, ward["capture_time"])
    s = s[s["institution_id"].isin(code.categories)]
    scode = pd.Categorical(s["institution_id"], categories=code.categories).codes
    lo = np.searchsorted(wkey, _composite(scode, s["start_time"]), side="left")
    hi = np.searchsorted(wkey, _composite(scode, s["end"]), side="right")
    s = s[(hi - lo) >= int(p.get("min_ward_captures", 3))]
    cols = ["claimed_person_id", "institution_id", "capture_time", "visit_id"]
    wc = ward[[c for c in cols if c in ward.columns]]
    by_person = s[["visit_id", "person_id", "institution_id", "start_time", "end"]].merge(
        wc.rename(columns={"claimed_person_id": "person_id", "visit_id": "cap_visit"}),
        on=["person_id", "institution_id"])
    inside = (by_person["capture_time"] >= by_person["start_time"]) & (
        by_person["capture_time"] <= by_person["end"] + pd.Timedelta(hours=12))
    seen = set(by_person.loc[inside, "visit_id"])
    if "visit_id" in ward.columns:
        seen |= set(ward["visit_id"].dropna())
    d = s[~s["visit_id"].isin(seen)]
    ev = ("no ward face capture during a " + d["los"].astype(int).astype(str) + "-day stay ("
          + _ts(d["start_time"]) + " to " + _ts(d["end"]) + ") at an institution whose ward terminal is in use")
    return pd.DataFrame({"visit_id": d["visit_id"], "amount_at_risk": d["total_amount"], "evidence": ev})


def _composite(code: np.ndarray, t: pd.Series) -> np.ndarray:
    """Sortable (group code, time) key: code * 2**40 + seconds since 2000 (spans ~34,000 years)."""
    secs = (pd.to_datetime(t).astype("int64") // 10**9 - 946684800).to_numpy()
    return np.asarray(code, dtype=np.int64) * (1 << 40) + secs


def _during(s: pd.DataFrame, ev: pd.DataFrame, time_col: str, margin_h: float) -> pd.DataFrame:
    """Pairs (stay, event) of the same person at another institution strictly inside the stay."""
    j = s[["visit_id", "person_id", "institution_id", "start_time", "end", "total_amount"]].merge(
        ev, on="person_id", suffixes=("", "_ev"))
    mg = pd.Timedelta(hours=margin_h)
    m = ((j["institution_id_ev"] != j["institution_id"]) & (j[time_col] > j["start_time"] + mg)
         & (j[time_col] < j["end"] - mg))
    return j[m]


@rule("R-MED-003", "挂床住院（住院期间他处抓拍）", "Ghost bed: patient captured elsewhere during the stay",
      category="medical", severity="high", rule_class="suspicious", entity_type="institution", violation_class="ghost_admission",
      needs=("face_captures",),
      description="During an inpatient stay (excluding margin_hours at each end) the patient's credential "
                  "was presented with a face capture at another institution.")
def seen_elsewhere_during_stay(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    fc = fr.table("face_captures")
    if "claimed_person_id" not in fc.columns:
        return pd.DataFrame()
    ev = fc[fc["claimed_person_id"].notna()][["claimed_person_id", "institution_id", "capture_time", "capture_id"]]
    ev = ev.rename(columns={"claimed_person_id": "person_id", "institution_id": "institution_id_ev"})
    j = _during(_stays(fr), ev, "capture_time", float(p.get("margin_hours", 24)))
    j = j.sort_values(["visit_id", "capture_time"]).drop_duplicates("visit_id")
    evd = ("credential presented with a face capture at " + j["institution_id_ev"].astype(str) + " on "
           + _ts(j["capture_time"]) + " during the stay " + _ts(j["start_time"]) + " to " + _ts(j["end"]))
    return pd.DataFrame({"visit_id": j["visit_id"], "amount_at_risk": j["total_amount"], "evidence": evd,
                         "key": j["capture_id"]})


@rule("R-MED-004", "住院期间他处结算", "Settlement elsewhere during an inpatient stay", category="medical",
      severity="medium", rule_class="definite", entity_type="institution", violation_class="ghost_admission",
      description="During an inpatient stay (excluding margin_hours at each end) the patient's credential was "
                  "settled at another institution; the stay is flagged.")
def settled_elsewhere_during_stay(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    v = fr.visits
    kinds = p.get("event_visit_types", ["outpatient", "inpatient"])
    ev = v[v["visit_type"].isin(kinds)][["person_id", "institution_id", "start_time", "visit_id"]].rename(
        columns={"institution_id": "institution_id_ev", "start_time": "t_ev", "visit_id": "visit_ev"})
    s = _stays(fr)
    s = s[s["los"] >= float(p.get("min_days", 2))]
    j = _during(s, ev, "t_ev", float(p.get("margin_hours", 24)))
    n = j.groupby("visit_id")["visit_ev"].transform("size")
    j = j.assign(n=n).sort_values(["visit_id", "t_ev"]).drop_duplicates("visit_id")
    evd = (j["n"].astype(str) + " settlement(s) at other institutions during the stay, first "
           + j["visit_ev"].astype(str) + " at " + j["institution_id_ev"].astype(str) + " on " + _ts(j["t_ev"]))
    return pd.DataFrame({"visit_id": j["visit_id"], "amount_at_risk": j["total_amount"], "evidence": evd})


@rule("R-MED-005", "住院天数异常", "Length of stay far above peers", category="medical", severity="low",
      rule_class="suspicious", scope="stays", entity_type="institution", violation_class=None,
      description="Length of stay at least min_days and a robust z-score of log(1+LOS) at least z_min among "
                  "stays with the same primary diagnosis category (groups of at least min_group stays).")
def long_stay(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    s = _stays(fr)
    if s.empty:
        return pd.DataFrame()
    k = int(p.get("category_chars", 3))
    first = s["diagnosis_codes"].str[0].fillna("").astype(str).str.upper().str.replace(".", "", regex=False).str[:k]
    s = s.assign(cat=first.to_numpy())
    size = s.groupby("cat")["visit_id"].transform("size")
    s = s[(size >= int(p.get("min_group", 30))) & (s["cat"] != "")]
    if s.empty:
        return pd.DataFrame()
    z = robust_z(np.log1p(s["los"]), s["cat"])
    med = s.groupby("cat")["los"].transform("median")
    m = (z >= float(p.get("z_min", 3.5))) & (s["los"] >= float(p.get("min_days", 15)))
    d = s[m]
    excess = d["total_amount"] * (1 - med[m] / d["los"]).clip(0, 1)
    ev = (d["los"].astype(int).astype(str) + "-day stay for " + d["cat"] + " (median "
          + med[m].round(0).astype(int).astype(str)
          + " days, z=" + z[m].round(1).astype(str) + ")")
    return pd.DataFrame({"visit_id": d["visit_id"], "amount_at_risk": excess, "evidence": ev})


@rule("R-MED-006", "收费时间不在住院期间", "Charge dated outside the stay", category="medical", severity="medium",
      rule_class="definite", entity_type="institution", violation_class=None,
      description="An inpatient claim line whose service time lies more than tolerance_hours before admission "
                  "or after discharge.")
def charge_outside_stay(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    li = fr.lines
    li = li[(li["visit_type"] == "inpatient") & li["service_time"].notna() & li["end_time"].notna()]
    tol = pd.Timedelta(hours=float(p.get("tolerance_hours", 24)))
    m = (li["service_time"] < li["start_time"] - tol) | (li["service_time"] > li["end_time"] + tol)
    d = li[m]
    ev = (d["item_label"] + " charged " + _ts(d["service_time"]) + ", stay " + _ts(d["start_time"]) + " to "
          + _ts(d["end_time"]))
    return pd.DataFrame({"visit_id": d["visit_id"], "line_id": d["line_id"], "amount_at_risk": d["amount"],
                         "evidence": ev})


@rule("R-MED-007", "住院期间诊疗记录稀疏", "Stay with care on few of its days", category="medical", severity="low",
      rule_class="suspicious", scope="stays", entity_type="institution", violation_class="ghost_admission",
      description="A stay of at least min_days whose dated charges fall on less than min_coverage of its days "
                  "(judged only where most lines carry a service time and the median stay has charges on at "
                  "least min_city_coverage of its days, i.e. the export itemises daily bed/nursing charges).")
def sparse_care(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    s = _stays(fr)
    s = s[s["los"] >= float(p.get("min_days", 4))]
    li = fr.lines
    li = li[li["visit_id"].isin(s["visit_id"])]
    if li.empty:
        return pd.DataFrame()
    dated = li["service_time"].notna().groupby(li["visit_id"]).mean()
    days = li[li["service_time"].notna()].assign(d=lambda x: x["service_time"].dt.normalize()).groupby(
        "visit_id")["d"].nunique()
    s = s[s["visit_id"].map(dated).fillna(0) >= 0.5]
    cov = s["visit_id"].map(days).fillna(0) / (s["los"] + 1)
    if cov.median() < float(p.get("min_city_coverage", 0.8)):
        return pd.DataFrame()      # this export does not itemise daily charges: no basis to judge
    m = cov < float(p.get("min_coverage", 0.3))
    d = s[m]
    ev = ("charges on " + d["visit_id"].map(days).fillna(0).astype(int).astype(str) + " of "
          + (d["los"] + 1).astype(int).astype(str) + " days of the stay " + money(d["total_amount"]))
    return pd.DataFrame({"visit_id": d["visit_id"], "amount_at_risk": d["total_amount"] * (1 - cov[m]), "evidence": ev})
