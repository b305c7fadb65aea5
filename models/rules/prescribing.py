"""Prescribing and utilisation rules (医疗类).

- cumulative supply hoarding (囤药 / 超量累计): per person and drug, the days of
  medication still on hand when a refill is dispensed. On-hand stock follows
  the Lindley recursion ``Z_i = max(0, Z_{i-1} + d_{i-1} - g_i)`` (``d`` days
  supplied, ``g`` days between fills), whose closed form
  ``Z_n = S_n - min(0, min_k S_k)`` with ``S`` the cumulative sum of
  ``d_{i-1} - g_i`` is a grouped cumsum/cummin -- fully vectorised
  (Lindley 1952; the refill-adherence literature's "medication possession"
  carry-over, Steiner & Prochazka 1997);
- the same drug from many prescribers in a month (多处开药, doctor shopping);
- prescribing outside the city's declared scope (table ``prescribing_scope``: items the
  catalogue restricts to named specialties, 限定科室使用; or the items a specialty's declared
  practice scope covers, 执业范围), a definite rule where the city declares one;
- prescribing outside the physician's specialty, learnt from peers where nothing is declared:
  the item is almost never ordered by that specialty city-wide (a fallback, and its evidence
  says so);
- high-value drug share of a physician far above specialty peers;
- amounts far above peers: a line for an item at the same kind of institution,
  a settlement of the same type at the same kind and level of institution
  (robust z on log amounts, Iglewicz & Hoaglin 1993).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .frames import Frames, money, num, robust_z
from .registry import rule

__all__ = ["hoarding", "many_prescribers", "declared_scope", "outside_specialty", "high_value_share",
           "line_amount_outlier", "visit_amount_outlier", "declared_coverage"]


@rule("R-MED-008", "囤药（累计供药天数超过经过天数）", "Cumulative supply hoarding", category="medical",
      severity="medium", rule_class="suspicious", entity_type="person", violation_class=None,
      description="Per person and drug, a refill dispensed while more than margin_days of earlier supply is "
                  "still on hand (carry-over of days supplied minus days elapsed, never below zero).")
def hoarding(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    li = fr.lines[["pc", "tc", "when", "line_id", "lo", "visit_id", "days_supply", "amount", "item_type"]]
    li = li[(li["item_type"].isin(p.get("item_types", ["drug"]))) & (li["days_supply"] > 0)]
    if li.empty:
        return pd.DataFrame()
    li = li.assign(d=li["when"].dt.normalize(), row=li.index).sort_values(["pc", "tc", "d", "lo"])
    f = li.groupby(["pc", "tc", "d"], as_index=False, sort=True).agg(
        days=("days_supply", "sum"), amount=("amount", "sum"), visit_id=("visit_id", "last"),
        line_id=("line_id", "last"), row=("row", "last"))
    grp = (f["pc"] != f["pc"].shift()) | (f["tc"] != f["tc"].shift())
    gid = grp.cumsum()
    gap = (f["d"] - f["d"].shift()).dt.days.astype(float)
    x = (f["days"].shift() - gap).where(~grp, 0.0)
    s = x.groupby(gid).cumsum()
    on_hand = s - np.minimum(0.0, s.groupby(gid).cummin())
    supplied = f.groupby(gid)["days"].cumsum()
    first_day = f.groupby(gid)["d"].transform("first")
    elapsed = (f["d"] - first_day).dt.days
    m = on_hand > float(p.get("margin_days", 60))
    d = f[m].assign(item_label=fr.lines["item_label"].to_numpy()[f.loc[m, "row"].to_numpy()])
    share = (on_hand[m] / (on_hand[m] + d["days"])).clip(0, 1)
    ev = ("refill of " + num(d["days"]) + " days of " + d["item_label"] + " with "
          + on_hand[m].round(0).astype(int).astype(str)
          + " days still on hand (" + supplied[m].astype(int).astype(str) + " days supplied in "
          + elapsed[m].astype(str) + " days since " + first_day[m].dt.strftime("%Y-%m-%d") + ")")
    return pd.DataFrame({"visit_id": d["visit_id"], "line_id": d["line_id"], "amount_at_risk": d["amount"] * share,
                         "evidence": ev})


@rule("R-MED-010", "多处开药", "Same drug from many prescribers", category="medical", severity="medium",
      rule_class="suspicious", entity_type="person", violation_class="doctor_shopping",
      description="One person obtained the same drug from at least min_prescribers different prescribers "
                  "(the institution where no physician is recorded) within a window of window_days "
                  "(two offset calendar tilings of the timeline).")
def many_prescribers(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    li = fr.lines[["item_type", "prescriber_id", "institution_id", "when", "pc", "tc", "visit_id", "line_id",
                   "amount", "item_label"]]
    li = li[li["item_type"] == "drug"]
    if li.empty:
        return pd.DataFrame()
    who = li["prescriber_id"].where(li["prescriber_id"].notna(), "institution:" + li["institution_id"].astype(str))
    who_code = pd.factorize(who)[0]
    w = int(p.get("window_days", 30))
    epoch = (li["when"].astype("int64") // (86400 * 10**9))
    hits = []
    for offset in (0, w // 2):          # two tilings, so a window straddling a boundary is still seen
        b = (epoch + offset) // w
        key = pd.DataFrame({"pc": li["pc"], "tc": li["tc"], "b": b, "who": who_code})
        n = key.groupby(["pc", "tc", "b"])["who"].transform("nunique")
        sel = n.to_numpy() >= int(p.get("min_prescribers", 4))
        hits.append(li.loc[sel, ["visit_id", "line_id", "amount", "item_label"]].assign(n=n.to_numpy()[sel]))
    d = pd.concat(hits).sort_values("n", ascending=False).drop_duplicates("line_id")
    ev = (d["item_label"] + " from " + d["n"].astype(str) + " different prescribers within " + str(w) + " days")
    return pd.DataFrame({"visit_id": d["visit_id"], "line_id": d["line_id"], "amount_at_risk": d["amount"],
                         "evidence": ev})


def declared_coverage(catalog: pd.DataFrame, scope: pd.DataFrame | None) -> tuple[set[str], set[str]]:
    """What a declared ``prescribing_scope`` decides: (specialties with a declared practice scope,
    catalogue items restricted to named specialties). The peer-learnt rule R-MED-011 leaves both
    to R-MED-016.

    >>> cat = pd.DataFrame({"item_code": ["XA10BJ01", "XA10BA02", "XJ01CA04"]})
    >>> sc = pd.DataFrame({"specialty": ["内分泌科", "儿科"], "item_prefix": ["XA10BJ", "XJ01"],
    ...                    "basis": [None, "practice"]})
    >>> declared_coverage(cat, sc)
    ({'儿科'}, {'XA10BJ01'})
    """
    if scope is None or scope.empty:
        return set(), set()
    basis = scope["basis"].fillna("catalogue") if "basis" in scope.columns else pd.Series("catalogue",
                                                                                           index=scope.index)
    spec = scope["specialty"].astype(str).str.strip()
    pref = scope["item_prefix"].astype(str).str.strip()
    practice = set(spec[(basis == "practice") & (spec != "") & (pref != "")])
    codes = catalog["item_code"].astype(str)
    restricted = np.zeros(len(codes), dtype=bool)
    for x in set(pref[(basis == "catalogue") & (spec != "") & (pref != "")]):    # a declared list: short
        restricted |= codes.str.startswith(x).to_numpy()
    return practice, set(codes[restricted])


@rule("R-MED-016", "超限定科室/执业范围开药", "Prescribing outside the declared scope", category="medical",
      severity="medium", rule_class="definite", scope="engine", entity_type="physician", violation_class=None,
      needs=("prescribing_scope",),
      description="Against the city's declared prescribing scope (table prescribing_scope, item-code prefixes): "
                  "an item the catalogue restricts to named specialties (basis catalogue, 限定科室使用) ordered "
                  "by a physician of another specialty, or an item of item_types outside the declared practice "
                  "scope of the physician's specialty (basis practice, 执业范围). The declaration decides, not "
                  "the peers; a prescriber without a specialty is not judged.")
def declared_scope(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    return fr.sql("rule_declared_scope", {"item_types": list(p.get("item_types", ["drug"]))})


@rule("R-MED-011", "超专业范围开药", "Prescribing outside the physician's specialty", category="medical",
      severity="low", rule_class="suspicious", scope="engine", entity_type="physician", violation_class=None,
      description="A physician orders an item at least min_physician_lines times for at least min_patients "
                  "persons that the other physicians of the same specialty (at least min_peer_lines lines "
                  "between them) almost never order "
                  "(below max_peer_rate of their lines). A fallback, learnt from the peers, where the city "
                  "declares no scope (table prescribing_scope): specialties with a declared practice scope "
                  "and items the catalogue restricts are R-MED-016's, and every hit's evidence says the "
                  "scope was inferred from peers. Generalist specialties (exempt_specialties) have no "
                  "specialty scope.")
def outside_specialty(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    # specialty-wide counts: computed in the columnar engine over every line (graph/sql)
    d = fr.sql("rule_outside_specialty", {
        "exempt": [str(x) for x in p.get("exempt_specialties", [])], "item_types": list(p.get("item_types", ["drug"])),
        "min_peer_lines": int(p.get("min_peer_lines", 500)), "max_peer_rate": float(p.get("max_peer_rate", 0.002)),
        "min_physician_lines": int(p.get("min_physician_lines", 10)), "min_patients": int(p.get("min_patients", 5))})
    if fr.has("prescribing_scope") and len(d):
        practice, restricted = declared_coverage(fr.catalog, fr.table("prescribing_scope"))
        d = d[~(d["specialty"].isin(practice) | d["item_code"].isin(restricted))]
    d = d.assign(evidence=d["evidence"] + "; 同行推断，无申报范围 (scope inferred from peers: none declared)")
    return d


@rule("R-MED-012", "高值药品占比异常", "High-value drug share above peers", category="medical", severity="medium",
      rule_class="suspicious", scope="engine", entity_type="physician", violation_class=None,
      description="Share of a physician's drug spending on high-value drugs (unit price at or above the city's "
                  "price_quantile of drug lines) with robust z >= z_min among specialty peers and share >= "
                  "min_share.")
def high_value_share(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    # per-physician sums over every drug line: in the columnar engine (graph/sql)
    doc = fr.sql("rule_high_value_share", {"price_quantile": float(p.get("price_quantile", 0.95))})
    if doc.empty:
        return pd.DataFrame()
    thr = float(doc["thr"].iloc[0])
    doc = doc.set_index("doc")[["n", "amt", "hv"]]
    doc = doc[(doc["n"] >= int(p.get("min_lines", 30))) & (doc["amt"] > 0)]
    if doc.empty:
        return pd.DataFrame()
    doc["share"] = doc["hv"] / doc["amt"]
    ph = fr.physicians.set_index("physician_id")
    doc["specialty"] = doc.index.map(ph["specialty"]).fillna("-")
    doc["institution_id"] = doc.index.map(ph["institution_id"])
    peers = doc.groupby("specialty")["share"].transform("size")
    grp = doc["specialty"].where(peers >= int(p.get("min_peers", 8)), "*")
    doc["z"] = robust_z(doc["share"], grp).to_numpy()
    doc["peer_median"] = doc.groupby(grp)["share"].transform("median")
    d = doc[(doc["z"] >= float(p.get("z_min", 3.5))) & (doc["share"] >= float(p.get("min_share", 0.3)))]
    excess = (d["share"] - d["peer_median"]).clip(lower=0) * d["amt"]
    ev = ((d["share"] * 100).round(0).astype(int).astype(str) + "% of " + money(d["amt"])
          + " drug spending on drugs priced >= "
          + f"{thr:.2f}" + " vs " + (d["peer_median"] * 100).round(0).astype(int).astype(str) + "% for "
          + d["specialty"].astype(str) + " peers (z=" + d["z"].round(1).astype(str) + ")")
    return pd.DataFrame({"visit_id": None, "entity_id": d.index, "physician_id": d.index,
                         "institution_id": d["institution_id"].to_numpy(), "amount_at_risk": excess.to_numpy(),
                         "evidence": ev.to_numpy(), "key": "high_value"})


@rule("R-MED-013", "单项费用异常（同类机构同项目）", "Line amount far above peers", category="medical",
      severity="low", rule_class="suspicious", scope="engine", entity_type="institution", violation_class=None,
      description="A claim line's amount with robust z (log scale) >= z_min among lines of the same item at the "
                  "same kind of institution (groups of at least min_group lines), and >= min_amount.")
def line_amount_outlier(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    # city-wide peer groups: computed in the columnar engine over every line (graph/sql)
    return fr.sql("rule_line_amount_outlier", {"min_group": int(p.get("min_group", 30)),
                                               "z_min": float(p.get("z_min", 5.0)),
                                               "min_amount": float(p.get("min_amount", 200))})


@rule("R-MED-014", "单次结算费用异常", "Settlement amount far above peers", category="medical", severity="low",
      rule_class="suspicious", scope="engine", entity_type="institution", violation_class=None,
      description="A settlement's total with robust z (log scale) >= z_min among settlements of the same type at "
                  "institutions of the same kind and level (groups of at least min_group), and >= min_amount.")
def visit_amount_outlier(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    return fr.sql("rule_visit_amount_outlier", {"min_group": int(p.get("min_group", 50)),
                                                "z_min": float(p.get("z_min", 5.0)),
                                                "min_amount": float(p.get("min_amount", 1000))})
