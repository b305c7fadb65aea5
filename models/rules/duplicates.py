"""Duplicate and repeated charges (重复收费, 重复检查).

- identical lines inside one settlement (the same item, quantity, price and
  service time billed twice);
- the same bill settled twice (an identical itemised bill of the same person at
  the same institution minutes later, 重复结算);
- the same item re-billed in a second settlement within the hour (重复开药);
- the same costly examination repeated for a person within a few days
  (重复检查, at any institution).

Sort-and-shift over whole tables; no per-visit loop.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .frames import Frames, money, num
from .registry import rule

__all__ = ["duplicate_lines", "duplicate_bill", "duplicate_same_day", "repeated_examination"]


@rule("R-POL-011", "重复收费（同一结算重复明细）", "Duplicate charge within a settlement", category="policy",
      severity="high", rule_class="definite", entity_type="institution", violation_class="duplicate_charge",
      description="The same item with the same quantity, unit price and service time appears more than once "
                  "on one settlement; every copy after the first is flagged.")
def duplicate_lines(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    li = fr.lines
    keys = list(p.get("keys", ["visit_id", "item_code", "quantity", "unit_price", "service_time"]))
    if p.get("item_types"):
        li = li[li["item_type"].isin(p["item_types"])]
    li = li[li.duplicated(keys, keep=False)]
    if li.empty:
        return pd.DataFrame()
    dup = li.duplicated(keys, keep="first")
    orig = li.groupby(keys, dropna=False, sort=False)["line_id"].transform("first")
    d = li[dup]
    ev = ("duplicate of line " + orig[dup].astype(str) + ": " + d["item_label"]
          + " x" + num(d["quantity"]) + " @ " + money(d["unit_price"]))
    return pd.DataFrame({"visit_id": d["visit_id"], "line_id": d["line_id"], "amount_at_risk": d["amount"],
                         "evidence": ev})


def _bill_signature_codes(fr: Frames) -> tuple[np.ndarray, np.ndarray]:
    """Per visit code (``lines.vc``) an order-free signature of its bill: (sum of line hashes,
    line count), as arrays indexed by the code (memoised)."""
    if "duplicates.signature" not in fr.memo:
        li = fr.lines
        hv = pd.util.hash_pandas_object(li[["item_code", "quantity", "unit_price"]], index=False).to_numpy()
        vc = li["vc"].to_numpy()
        n_codes = int(vc.max()) + 1 if len(vc) else 0
        # sum of uint64 hashes wrapping round, as pandas' groupby sum does
        sig = np.zeros(n_codes, dtype=np.uint64)
        np.add.at(sig, vc, hv.astype(np.uint64))
        fr.memo["duplicates.signature"] = (sig, np.bincount(vc, minlength=n_codes))
    return fr.memo["duplicates.signature"]  # type: ignore[return-value]


def _bill_signature(fr: Frames) -> pd.DataFrame:
    """Per visit an order-free signature of its bill: (sum of line hashes, line count)."""
    sig, n = _bill_signature_codes(fr)
    li = fr.lines
    vc = li["vc"].to_numpy()
    first = np.full(len(sig), -1, dtype=np.int64)
    first[vc[::-1]] = np.arange(len(vc) - 1, -1, -1)       # a row of each code
    ids = li["visit_id"].to_numpy()[first]
    return pd.DataFrame({"sig": sig, "n": n}, index=pd.Index(ids, name="visit_id"))


@rule("R-POL-012", "重复结算（同一账单再次结算）", "Same bill settled twice", category="policy",
      severity="high", rule_class="definite", entity_type="institution", violation_class="duplicate_charge",
      description="A settlement of the same person at the same institution, at most max_minutes after the "
                  "previous one, whose itemised bill (items, quantities, unit prices) is identical to it "
                  "(inpatient stays excluded); the later settlement is flagged.")
def duplicate_bill(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    v = fr.visits
    v = v[~v["visit_type"].isin(p.get("exclude_visit_types", ["inpatient"]))]
    sig = _bill_signature(fr)
    v = v[["visit_id", "person_id", "institution_id", "start_time", "total_amount"]].join(sig, on="visit_id")
    v = v[v["n"].notna()].sort_values(["person_id", "institution_id", "start_time", "visit_id"])
    prev = v.shift()
    m = (v["person_id"].eq(prev["person_id"]) & v["institution_id"].eq(prev["institution_id"])
         & v["sig"].eq(prev["sig"]) & v["n"].eq(prev["n"])
         & ((v["start_time"] - prev["start_time"]) <= pd.Timedelta(minutes=float(p.get("max_minutes", 60)))))
    d = v[m]
    gap = ((d["start_time"] - prev.loc[m, "start_time"]).dt.total_seconds() / 60).round(0).astype(int)
    ev = ("identical bill of " + d["n"].astype(int).astype(str) + " lines (" + money(d["total_amount"])
          + ") already settled as " + prev.loc[m, "visit_id"].astype(str) + " " + gap.astype(str) + " min earlier")
    return pd.DataFrame({"visit_id": d["visit_id"], "amount_at_risk": d["total_amount"], "evidence": ev,
                         "key": prev.loc[m, "visit_id"]})


@rule("R-MED-015", "同日重复开药", "Same item re-billed in another settlement the same hour",
      category="medical", severity="low", rule_class="suspicious", entity_type="institution", violation_class=None,
      description="The same item and quantity billed to the same person at the same institution in two "
                  "different settlements at most max_minutes apart (inpatient stays and identical bills, which "
                  "R-POL-012 flags, excluded); the later settlement's line is flagged.")
def duplicate_same_day(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    li = fr.lines[["line_id", "visit_id", "visit_type", "item_type", "pc", "ic", "tc", "vc", "lo", "day",
                   "start_time", "quantity", "amount", "item_label"]]
    keep = ~li["visit_type"].isin(p.get("exclude_visit_types", ["inpatient"]))
    if p.get("item_types"):
        keep &= li["item_type"].isin(p["item_types"])
    li = li[keep]
    if li.empty:
        return pd.DataFrame()
    li = li.sort_values(["pc", "ic", "tc", "start_time", "lo"])
    keys = ["pc", "ic", "tc", "day"]
    vc = li["vc"].to_numpy()
    prev_vc = np.r_[-1, vc[:-1]]
    same = (li[keys].eq(li[keys].shift()).all(axis=1)) & (vc != prev_vc)
    if p.get("same_quantity", True):
        same &= li["quantity"].eq(li["quantity"].shift())
    if p.get("max_minutes") is not None:
        same &= (li["start_time"] - li["start_time"].shift()) <= pd.Timedelta(minutes=float(p["max_minutes"]))
    sig, n = _bill_signature_codes(fr)
    pv = np.maximum(prev_vc, 0)
    same &= ~((sig[vc] == sig[pv]) & (n[vc] == n[pv]) & (prev_vc >= 0))      # identical bills: R-POL-012's
    d = li[same]
    prev_visit = li["visit_id"].shift()[same]
    ev = (d["item_label"] + " x" + num(d["quantity"]) + " already billed on settlement "
          + prev_visit.astype(str) + " the same hour")
    return pd.DataFrame({"visit_id": d["visit_id"], "line_id": d["line_id"], "amount_at_risk": d["amount"],
                         "evidence": ev, "key": prev_visit})


@rule("R-MED-009", "短期重复检查", "Costly examination repeated within days", category="medical",
      severity="low", rule_class="suspicious", entity_type="institution", violation_class=None,
      description="A service item priced at least min_unit_price billed for the same person again within "
                  "window_days, on a different day or at a different institution (重复检查).")
def repeated_examination(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    li = fr.lines
    li = li[(li["item_type"] == "service") & (li["unit_price"] >= float(p.get("min_unit_price", 200)))
            & (li["visit_type"] != "inpatient")]
    li = li.sort_values(["pc", "tc", "when", "lo"])
    same = li["pc"].eq(li["pc"].shift()) & li["tc"].eq(li["tc"].shift())
    gap = (li["when"] - li["when"].shift()).dt.total_seconds() / 86400.0
    other = (li["day"] != li["day"].shift()) | (li["institution_id"] != li["institution_id"].shift())
    m = same & other & (li["visit_id"] != li["visit_id"].shift()) & (gap <= float(p.get("window_days", 7)))
    d = li[m]
    prev = li["visit_id"].shift()[m]
    ev = (d["item_label"] + " repeated after " + gap[m].round(1).astype(str) + " days (previous settlement "
          + prev.astype(str) + ")")
    return pd.DataFrame({"visit_id": d["visit_id"], "line_id": d["line_id"], "amount_at_risk": d["amount"],
                         "evidence": ev, "key": prev})
