"""Catalogue (knowledge-base) rules on single claim lines: 政策类 item limits.

Each rule compares a claim line with its catalogue entry (限价, 限性别, 限年龄,
限定支付/适应症, 限量, 限天数, 甲乙丙类, 非医疗用品) and the visit's person and
diagnoses. All are joins and column comparisons over the whole claim table.

Reference: 国家医保局《医疗保障基金智能审核和监控知识库、规则库框架体系（1.0版）》
(2023): policy rules 限定支付、限性别、限年龄、超标准收费、超量开药 etc.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .frames import Frames, explode_codes, money, num
from .registry import rule

__all__ = [
    "price_over_cap", "sex_limit", "age_limit", "off_indication", "over_quantity", "over_supply",
    "discharge_over_supply", "non_medical", "class_c_fund", "line_amount_mismatch",
]


def _out(df: pd.DataFrame, amount: pd.Series, evidence: pd.Series, line: bool = True) -> pd.DataFrame:
    out = pd.DataFrame({"visit_id": df["visit_id"].to_numpy(), "amount_at_risk": amount.to_numpy(),
                        "evidence": evidence.to_numpy()})
    if line:
        out["line_id"] = df["line_id"].to_numpy()
        out["physician_id"] = df["prescriber_id"].to_numpy()
    return out


@rule("R-POL-001", "超标准收费", "Price over cap", category="policy", severity="medium",
      rule_class="definite", entity_type="institution", violation_class="price_over_cap",
      description="Unit price above the catalogue's price cap (限价) by more than the tolerance.")
def price_over_cap(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    li = fr.lines
    cap = li["price_cap"]
    tol = float(p.get("tolerance", 0.0))
    m = cap.notna() & (li["unit_price"] > cap * (1 + tol) + float(p.get("min_excess", 0.01)))
    d = li[m]
    excess = (d["unit_price"] - d["price_cap"]) * d["quantity"].abs()
    ev = ("unit price " + money(d["unit_price"]) + " > cap " + money(d["price_cap"]) + " for "
          + d["item_label"] + " x" + num(d["quantity"]))
    return _out(d, excess, ev)


@rule("R-POL-002", "限性别用药/诊疗", "Sex-restricted item", category="policy", severity="high",
      rule_class="definite", entity_type="physician", violation_class="sex_limit",
      description="Item restricted to one sex billed for a person of the other sex.")
def sex_limit(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    li = fr.lines
    m = li["sex_limit"].notna() & li["sex"].notna() & (li["sex_limit"] != li["sex"])
    d = li[m]
    ev = d["item_label"] + " is limited to sex " + d["sex_limit"].astype(str) + "; person is " + d["sex"].astype(str)
    return _out(d, d["amount"], ev)


@rule("R-POL-003", "限年龄用药/诊疗", "Age-restricted item", category="policy", severity="high",
      rule_class="definite", entity_type="physician", violation_class="age_limit",
      description="Item billed for a person younger than its minimum or older than its maximum age.")
def age_limit(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    li = fr.lines
    age = li["age"]
    low = li["age_min"].notna() & (age < li["age_min"])
    high = li["age_max"].notna() & (age > li["age_max"])
    d = li[(low | high) & age.notna()]
    hi = d["age_max"].round().astype("Int64").astype(str).replace("<NA>", "-")
    rng = "[" + d["age_min"].fillna(0).astype(int).astype(str) + ", " + hi + "]"
    ev = d["item_label"] + " allowed for ages " + rng + "; person aged " + d["age"].astype(int).astype(str)
    return _out(d, d["amount"], ev)


def _prefix_match(lines: pd.DataFrame, item_prefixes: pd.DataFrame, codes: pd.DataFrame) -> pd.Series:
    """Boolean per line: some code of its visit starts with some prefix of its item.

    Vectorised by prefix length: for each distinct length L (a handful), the
    visit's codes are cut to L characters and joined to the line's prefixes.
    """
    pairs = lines[["line_id", "visit_id", "item_code"]].merge(item_prefixes, on="item_code")
    matched = pd.Index([])
    for L in sorted(pairs["prefix"].str.len().unique()):
        pl = pairs[pairs["prefix"].str.len() == L]
        cut = codes.assign(prefix=codes["code"].str[:L])[["visit_id", "prefix"]].drop_duplicates()
        hit = pl.merge(cut, on=["visit_id", "prefix"])["line_id"]
        matched = matched.union(pd.Index(hit.unique()))
    return lines["line_id"].isin(matched)


@rule("R-POL-004", "超适应症/限定支付范围用药", "Outside reimbursable indication", category="policy",
      severity="medium", rule_class="definite", entity_type="physician", violation_class="off_indication",
      description="Item whose payment is limited to certain diagnoses (ICD-10 prefixes) billed on a visit "
                  "with none of them among the visit's diagnoses (or, for a settlement without diagnoses such "
                  "as a pharmacy refill, the person's registered chronic conditions).")
def off_indication(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    cat = fr.catalog
    pref = explode_codes(cat, "item_code", "indication_prefixes", out_col="prefix")
    if pref.empty:
        return pd.DataFrame()
    li = fr.lines
    li = li[li["item_code"].isin(pref["item_code"].unique())]
    if p.get("item_types"):
        li = li[li["item_type"].isin(p["item_types"])]
    if li.empty:
        return pd.DataFrame()
    codes = fr.visit_codes(str(p.get("chronic_conditions", "when_no_diagnosis")))
    codes = codes[codes["visit_id"].isin(li["visit_id"].unique())]
    ok = _prefix_match(li, pref, codes)
    d = li[~ok]
    allowed = pref.groupby("item_code")["prefix"].agg(lambda s: ";".join(sorted(s)))
    have = codes[codes["visit_id"].isin(d["visit_id"])].groupby("visit_id")["code"].agg(
        lambda s: ";".join(sorted(s)))
    ev = (d["item_label"] + " is reimbursable for " + d["item_code"].map(allowed).fillna("") + "; visit has "
          + d["visit_id"].map(have).fillna("no diagnosis"))
    return _out(d, d["amount"], ev)


@rule("R-POL-005", "超量开药", "Quantity over the per-visit limit", category="policy", severity="medium",
      rule_class="definite", entity_type="physician", violation_class="over_quantity",
      description="Units of an item billed on one visit (exact duplicate lines counted once) exceed the "
                  "catalogue's max_qty_per_visit.")
def over_quantity(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    li = fr.lines
    li = li[li["max_qty_per_visit"].notna()]
    # the integer codes of visit and item stand for the ids (same groups, no string hashing)
    li = li.loc[~li.duplicated(["vc", "tc", "quantity", "unit_price", "service_time"])]
    g = li.groupby(["vc", "tc"], sort=False)
    tot = g["quantity"].transform("sum")
    tol = float(p.get("tolerance", 0.0))
    first = ~li.duplicated(["vc", "tc"])
    d = li[(tot > li["max_qty_per_visit"] * (1 + tol)) & first].copy()
    d["tot"] = tot[d.index]
    excess = (d["tot"] - d["max_qty_per_visit"]) * d["unit_price"]
    ev = (num(d["tot"]) + " units of " + d["item_label"] + " on one visit > limit " + num(d["max_qty_per_visit"]))
    return _out(d, excess, ev)


def _supply_hits(d: pd.DataFrame, limit: pd.Series, what: str) -> pd.DataFrame:
    frac = ((d["days_supply"] - limit) / d["days_supply"]).clip(0, 1)
    ev = (what + ": " + num(d["days_supply"]) + " days of " + d["item_label"] + " > limit " + num(limit) + " days")
    return _out(d, d["amount"] * frac, ev)


@rule("R-POL-006", "超天数开药", "Days of supply over limit", category="policy", severity="medium",
      rule_class="definite", entity_type="physician", violation_class="over_supply",
      description="A prescription line supplies more days than the catalogue's max_days_supply "
                  "(outpatient and pharmacy settlements).")
def over_supply(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    li = fr.lines
    m = (li["max_days_supply"].notna() & li["days_supply"].notna()
         & (li["days_supply"] > li["max_days_supply"] + float(p.get("tolerance_days", 0)))
         & (li["visit_type"] != "inpatient"))
    d = li[m]
    return _supply_hits(d, d["max_days_supply"], "supply")


@rule("R-POL-007", "出院带药超量", "Discharge medication over limit", category="policy", severity="medium",
      rule_class="definite", entity_type="physician", violation_class="over_supply",
      description="Inpatient stay: a drug line supplies more days than allowed -- the catalogue's "
                  "max_days_supply or the discharge limit (出院带药天数), whichever is smaller.")
def discharge_over_supply(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    li = fr.lines
    li = li[(li["visit_type"] == "inpatient") & li["days_supply"].notna()]
    cap = p.get("discharge_max_days")
    limit = li["max_days_supply"]
    if cap is not None:
        limit = limit.fillna(float(cap)).clip(upper=float(cap))
    m = limit.notna() & (li["days_supply"] > limit + float(p.get("tolerance_days", 0)))
    d = li[m]
    return _supply_hits(d, limit[m], "discharge medication")


@rule("R-POL-008", "非医疗用品纳入医保结算", "Non-medical goods billed", category="policy", severity="high",
      rule_class="definite", entity_type="institution", violation_class="non_medical",
      description="Daily-life goods (item_type non_medical: food, cosmetics, appliances) settled with the "
                  "insurance credential (诱导参保人购买生活用品), outside the settlement types in "
                  "exempt_visit_types (an inpatient stay's own meals and companion bed are billed with it).")
def non_medical(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    # an inpatient bill carries the stay's own non-medical charges (住院膳食费, 陪护床位费): self-paid
    # (class C), billed with the stay and not a breach; the fund paying for them is R-POL-009's
    li = fr.lines
    exempt = list(p.get("exempt_visit_types", ["inpatient"]) or [])
    d = li[(li["item_type"] == "non_medical") & ~li["visit_type"].isin(exempt)]
    ev = "non-medical item " + d["item_label"] + " x" + num(d["quantity"]) + " billed " + money(d["amount"])
    return _out(d, d["amount"], ev)


@rule("R-POL-009", "丙类项目纳入统筹支付", "Class C item paid by the fund", category="policy",
      severity="medium", rule_class="definite", entity_type="institution", violation_class=None,
      description="The pooled fund paid more than the visit's reimbursable (class A/B) amount while the "
                  "visit carries class C (丙类, not reimbursable) items.")
def class_c_fund(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    li = fr.lines
    c = li[li["insurance_class"] == "C"]
    if c.empty:
        return pd.DataFrame()
    c_amt = c.groupby("visit_id")["amount"].sum()
    v = fr.visits[fr.visits["visit_id"].isin(c_amt.index) & fr.visits["fund_paid"].notna()].copy()
    v["c_amt"] = v["visit_id"].map(c_amt)
    reimbursable = v["total_amount"] - v["c_amt"]
    excess = (v["fund_paid"] - reimbursable).clip(upper=v["c_amt"])
    d = v[excess > float(p.get("min_excess", 1.0))]
    ev = ("fund paid " + money(d["fund_paid"]) + " but only " + money(reimbursable[d.index])
          + " is class A/B; class C items " + money(d["c_amt"]))
    return pd.DataFrame({"visit_id": d["visit_id"], "amount_at_risk": excess[d.index], "evidence": ev})


@rule("R-POL-010", "明细金额与数量单价不符", "Line amount != quantity x price", category="policy",
      severity="low", rule_class="definite", entity_type="institution", violation_class=None,
      description="A claim line's amount exceeds quantity x unit price by more than the tolerance.")
def line_amount_mismatch(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    li = fr.lines
    expect = li["quantity"] * li["unit_price"]
    diff = li["amount"] - expect
    tol = np.maximum(float(p.get("abs_tolerance", 0.05)), expect.abs() * float(p.get("rel_tolerance", 0.01)))
    d = li[diff > tol]
    ev = ("amount " + money(d["amount"]) + " but " + num(d["quantity"]) + " x " + money(d["unit_price"])
          + " = " + money(expect[d.index]) + " for " + d["item_label"])
    return _out(d, diff[d.index], ev)
