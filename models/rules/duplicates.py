"""Duplicate and repeated charges (重复收费, 重复检查).

- identical lines inside one settlement (the same item, quantity, price and
  service time billed twice);
- the same item billed to the same person at the same institution on the same
  day in two separate settlements (拆分/重复结算);
- the same costly examination repeated for a person within a few days
  (重复检查, at any institution).

Sort-and-shift over whole tables; no per-visit loop.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from .frames import Frames, money, num
from .registry import rule

__all__ = ["duplicate_lines", "duplicate_same_day", "repeated_examination"]


@rule("R-POL-011", "重复收费（同一结算重复明细）", "Duplicate charge within a settlement", category="policy",
      severity="high", entity_type="institution", violation_class="duplicate_charge",
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


@rule("R-POL-012", "重复收费（同日同机构重复结算）", "Same item billed twice the same day", category="policy",
      severity="medium", entity_type="institution", violation_class="duplicate_charge",
      description="The same item and quantity billed to the same person at the same institution on the same day "
                  "in two different settlements at most max_minutes apart (inpatient stays excluded); the later "
                  "settlement's line is flagged.")
def duplicate_same_day(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    li = fr.lines
    li = li[~li["visit_type"].isin(p.get("exclude_visit_types", ["inpatient"]))]
    if p.get("item_types"):
        li = li[li["item_type"].isin(p["item_types"])]
    li = li[["line_id", "visit_id", "pc", "ic", "tc", "day", "start_time", "quantity", "amount", "item_label"]]
    li = li.sort_values(["pc", "ic", "tc", "start_time", "line_id"])
    keys = ["pc", "ic", "tc", "day"]
    same = (li[keys].eq(li[keys].shift()).all(axis=1)) & (li["visit_id"] != li["visit_id"].shift())
    if p.get("same_quantity", True):
        same &= li["quantity"].eq(li["quantity"].shift())
    if p.get("max_minutes") is not None:       # a second settlement of the same bill, minutes later
        same &= (li["start_time"] - li["start_time"].shift()) <= pd.Timedelta(minutes=float(p["max_minutes"]))
    prev_visit = li["visit_id"].shift()
    d = li[same]
    ev = (d["item_label"] + " x" + num(d["quantity"]) + " already billed the same day on settlement "
          + prev_visit[same].astype(str))
    return pd.DataFrame({"visit_id": d["visit_id"], "line_id": d["line_id"], "amount_at_risk": d["amount"],
                         "evidence": ev, "key": prev_visit[same]})


@rule("R-MED-009", "短期重复检查", "Costly examination repeated within days", category="medical",
      severity="low", entity_type="institution", violation_class=None,
      description="A service item priced at least min_unit_price billed for the same person again within "
                  "window_days, on a different day or at a different institution (重复检查).")
def repeated_examination(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    li = fr.lines
    li = li[(li["item_type"] == "service") & (li["unit_price"] >= float(p.get("min_unit_price", 200)))
            & (li["visit_type"] != "inpatient")]
    li = li.sort_values(["pc", "tc", "when", "line_id"])
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
