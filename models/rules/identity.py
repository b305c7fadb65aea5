"""Identity and credential rules (管理类): who really presented the credential.

- settlements after the credential holder's death (死亡人员就医);
- many settlements for one person in one day at several institutions;
- identity mismatch at settlement (人证不符), from the face stage's
  capture-level verdicts, with registered proxies and family links taken into
  account (an elderly person's registered relative at the window is not a
  mismatch);
- one credential settled at two institutions in different districts too close
  in time to travel between them (一卡多地);
- a personal account paying for someone who is not a registered family member
  (家庭共济 outside the registered family).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .frames import Frames, age_years, money
from .registry import rule

__all__ = ["after_death", "many_visits_one_day", "identity_mismatch", "identity_mismatch_benign",
           "credential_two_places", "unregistered_family_payer"]


def _ts(s: pd.Series) -> pd.Series:
    return s.dt.strftime("%Y-%m-%d %H:%M")


@rule("R-MGT-001", "死亡后发生医保结算", "Settlement after the holder's death", category="management",
      severity="high", rule_class="definite", entity_type="person", violation_class="after_death",
      description="A settlement starts after the credential holder's recorded date of death "
                  "(plus grace_days).")
def after_death(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    v = fr.visits
    limit = v["death_date"].dt.normalize() + pd.Timedelta(days=1 + int(p.get("grace_days", 0)))
    d = v[v["death_date"].notna() & (v["start_time"] >= limit)]
    days = (d["start_time"] - d["death_date"]).dt.days
    ev = ("settlement on " + _ts(d["start_time"]) + ", " + days.astype(str) + " days after death on "
          + d["death_date"].dt.strftime("%Y-%m-%d"))
    return pd.DataFrame({"visit_id": d["visit_id"], "amount_at_risk": d["total_amount"], "evidence": ev})


@rule("R-MGT-002", "同日多次就诊", "Several settlements in one day", category="management", severity="low",
      rule_class="suspicious", entity_type="person", violation_class="doctor_shopping",
      description="One person has at least min_visits settlements (inpatient excluded) on one day at at least "
                  "min_institutions different institutions.")
def many_visits_one_day(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    v = fr.visits
    v = v[v["visit_type"] != "inpatient"]
    g = v.groupby(["person_id", "day"], sort=False)
    n = g["visit_id"].transform("size")
    ni = g["institution_id"].transform("nunique")
    m = (n >= int(p.get("min_visits", 3))) & (ni >= int(p.get("min_institutions", 2)))
    d = v[m]
    ev = (n[m].astype(str) + " settlements at " + ni[m].astype(str) + " institutions on "
          + d["day"].dt.strftime("%Y-%m-%d"))
    return pd.DataFrame({"visit_id": d["visit_id"], "amount_at_risk": d["total_amount"], "evidence": ev,
                         "key": d["day"].dt.strftime("%Y-%m-%d")})


def _mismatches(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    """Capture-level 'mismatch' verdicts, one per settlement (farthest capture), with the reason
    a mismatch may be benign (``benign``: empty when none), registered-family elderly exempted."""
    fm = fr.ctx.face_matches
    fm = fm[(fm["verdict"] == "mismatch") & fm["claimed_person_id"].notna()].copy()
    if p.get("locations"):
        fm = fm[fm["location"].isin(p["locations"])]
    if fm.empty:
        return fm.assign(benign=pd.Series(dtype=object))
    per = fr.persons[["person_id", "birth_date"]].rename(columns={"person_id": "claimed_person_id"})
    fm = fm.merge(per, on="claimed_person_id", how="left")
    fm["capture_time"] = pd.to_datetime(fm["capture_time"])
    age = age_years(fm["birth_date"], fm["capture_time"])
    fam = fr.family_pairs
    linked_any = fm["claimed_person_id"].isin(fam["person_id"])
    pair = fm[["claimed_person_id", "related_person_id"]].merge(
        fam.rename(columns={"person_id": "claimed_person_id"}), on=["claimed_person_id", "related_person_id"],
        how="left", indicator=True)
    face_is_linked = (pair["_merge"] == "both").to_numpy()
    close = fm["related_distance"].isna() | (fm["related_distance"] <= float(p.get("related_max_distance", 0.6)))
    exempt = (age >= float(p.get("elderly_age", 65))) & linked_any & face_is_linked & close
    fm = fm[~exempt.to_numpy()].assign(age=age[~exempt.to_numpy()].to_numpy())
    if fm.empty:
        return fm.assign(benign=pd.Series(dtype=object))
    fm["unit"] = fm["visit_id"].where(fm["visit_id"].notna(), "capture:" + fm["capture_id"].astype(str))
    fm = fm.sort_values(["unit", "distance"], ascending=[True, False]).drop_duplicates("unit")
    vv = fr.visits.set_index("visit_id")
    fm["visit_type"] = fm["visit_id"].map(vv["visit_type"])
    fm["kind"] = fm["visit_id"].map(vv["kind"]).fillna(
        fm["institution_id"].map(fr.institutions.set_index("institution_id")["kind"]))
    fm["total_amount"] = fm["visit_id"].map(vv["total_amount"]).fillna(0.0)
    conds = [
        (fm["distance"] < float(p.get("clear_distance", 0.8))).to_numpy(),
        (fm["age"] < float(p.get("minor_age", 18))).to_numpy(),
        fm["visit_type"].isin(p.get("family_settled_visit_types", ["inpatient"])).to_numpy(),
        ((fm["age"] >= float(p.get("caregiver_age", 70)))
         & fm["kind"].isin(p.get("caregiver_kinds", ["pharmacy"]))).to_numpy(),
    ]
    why = ["distance in the grey zone (poor capture?)", "minor: a guardian may present the credential",
           "inpatient settlement: family may settle for the patient",
           "elderly person's purchase: a caregiver may present the credential"]
    fm["benign"] = np.select(conds, why, default="")
    return fm


def _mismatch_hits(fm: pd.DataFrame) -> pd.DataFrame:
    other = np.where(fm["related_person_id"].notna(),
                     "; closest linked person " + fm["related_person_id"].astype(str) + " ("
                     + fm["related_distance"].round(3).astype(str) + ")", "")
    note = np.where(fm["benign"] != "", "; " + fm["benign"].astype(str), "")
    ev = ("face at " + fm["location"].astype(str) + " " + _ts(fm["capture_time"]) + " is "
          + fm["distance"].round(3).astype(str) + " from the enrolled face of " + fm["claimed_person_id"].astype(str)
          + other + note)
    return pd.DataFrame({"visit_id": fm["visit_id"].to_numpy(), "entity_id": fm["claimed_person_id"].to_numpy(),
                         "person_id": fm["claimed_person_id"].to_numpy(),
                         "institution_id": fm["institution_id"].to_numpy(),
                         "amount_at_risk": fm["total_amount"].to_numpy(),
                         "evidence": np.asarray(ev), "key": fm["capture_id"].to_numpy()})


@rule("R-MGT-003", "人证不符", "Face does not match the credential holder", category="management",
      severity="high", rule_class="suspicious", entity_type="person", violation_class="card_lending", needs=("face_matches",),
      description="A face captured during a settlement is clearly far (>= clear_distance) from the credential "
                  "holder's enrolled face (face-stage verdict 'mismatch'), the holder is an adult, the "
                  "settlement is not an inpatient discharge and not an elderly person's pharmacy purchase; "
                  "never raised when the holder is elderly, has registered family/proxy links and the face "
                  "is enrolled to one of those linked persons.")
def identity_mismatch(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    fm = _mismatches(fr, p)
    return _mismatch_hits(fm[fm["benign"] == ""])


@rule("R-MGT-015", "人证不符（可能代办）", "Face mismatch with a possible benign reason", category="management",
      severity="low", rule_class="suspicious", entity_type="person", violation_class=None, needs=("face_matches",),
      description="A face-stage 'mismatch' that R-MGT-003 leaves out because it may be benign: distance in the "
                  "grey zone above the verification threshold, a minor's credential, an inpatient settlement, "
                  "or an elderly person's pharmacy purchase; the evidence says which. Parameters are shared "
                  "with R-MGT-003 (its section of models/defaults.yaml).")
def identity_mismatch_benign(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    fm = _mismatches(fr, p)
    return _mismatch_hits(fm[fm["benign"] != ""])


@rule("R-MGT-004", "一卡多地短时结算", "Credential used in two districts too close in time",
      category="management", severity="high", rule_class="suspicious", entity_type="person", violation_class="card_lending",
      description="Two settlements of one credential at institutions in different districts less than "
                  "max_minutes apart; both settlements are flagged.")
def credential_two_places(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    v = fr.visits[["visit_id", "person_id", "institution_id", "inst_district", "start_time", "total_amount"]]
    v = v[v["inst_district"].notna()].sort_values(["person_id", "start_time", "visit_id"])
    nxt = v.shift(-1)
    gap = (nxt["start_time"] - v["start_time"]).dt.total_seconds() / 60.0
    m = ((v["person_id"] == nxt["person_id"]) & (v["institution_id"] != nxt["institution_id"])
         & (v["inst_district"] != nxt["inst_district"]) & (gap <= float(p.get("max_minutes", 30))))
    a, b = v[m], nxt[m]
    ev_a = ("also settled at " + b["institution_id"].astype(str) + " (" + b["inst_district"].astype(str) + ") "
            + gap[m].round(0).astype(int).astype(str) + " min later; this one in " + a["inst_district"].astype(str))
    ev_b = ("also settled at " + a["institution_id"].astype(str) + " (" + a["inst_district"].astype(str) + ") "
            + gap[m].round(0).astype(int).astype(str) + " min earlier; this one in " + b["inst_district"].astype(str))
    first = pd.DataFrame({"visit_id": a["visit_id"], "amount_at_risk": a["total_amount"], "evidence": ev_a,
                          "key": b["visit_id"]})
    second = pd.DataFrame({"visit_id": b["visit_id"], "amount_at_risk": b["total_amount"], "evidence": ev_b,
                           "key": a["visit_id"]})
    return pd.concat([first, second], ignore_index=True)


@rule("R-MGT-005", "共济账户为非登记家属支付", "Personal account paid for an unregistered person",
      category="management", severity="low", rule_class="suspicious", entity_type="person", violation_class=None,
      needs=("family_links",),
      description="The settlement was paid from another person's personal account (payer_person_id) "
                  "outside the patient's registered household (the connected set of family bindings, stars "
                  "or chains) and without a proxy binding between them (家庭共济 only covers the registered family). "
                  "Suspicious, not definite: a binding missing from the export proves nothing (measured on two "
                  "cities whose exports hold part of the bindings: 1% of hits on a violation).")
def unregistered_family_payer(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    v = fr.visits
    v = v[v["payer_person_id"].notna() & (v["payer_person_id"] != v["person_id"])]
    if v.empty:
        return pd.DataFrame()
    fam = fr.family_pairs.rename(columns={"related_person_id": "payer_person_id"})
    j = v.merge(fam[["person_id", "payer_person_id"]].drop_duplicates(), on=["person_id", "payer_person_id"],
                how="left", indicator=True)
    # a household is the connected set of family bindings (stars or chains): a grandparent's
    # account paying for a grandchild bound through the parent is the registered family
    hh = fr.households
    h1 = j["person_id"].astype(str).map(hh)
    h2 = j["payer_person_id"].astype(str).map(hh)
    same_household = (h1.notna() & h2.notna() & (h1 == h2)).to_numpy()
    d = j[(j["_merge"] == "left_only").to_numpy() & ~same_household]
    amt = d["account_paid"].fillna(d["total_amount"])
    ev = ("personal account of " + d["payer_person_id"].astype(str) + " paid " + money(amt) + " for "
          + d["person_id"].astype(str) + " with no registered family link")
    return pd.DataFrame({"visit_id": d["visit_id"], "entity_id": d["payer_person_id"], "amount_at_risk": amt,
                         "evidence": ev})
