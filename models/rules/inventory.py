"""Purchase–sale–stock reconciliation (进销存, 管理类).

Units billed to the fund per institution, item and month are compared with the
institution's reported stock: selling more than the opening stock plus the
month's purchases means the sales (or the purchases) are fictitious -- the
signature of 串换药品 and card cash-out pharmacies. The opening stock is the
reported ``qty_opening``, else the previous month's ``qty_closing``.

Only (institution, item) pairs the institution reports are judged; months with
sales but no inventory row count as "nothing purchased".
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .frames import Frames, num
from .registry import rule

__all__ = ["inventory_oversold", "stock_not_reconciled"]


def _month_number(period: pd.Series) -> pd.Series:
    """``YYYY-MM`` (or a longer date text) -> months since year 0, as integers."""
    t = period.astype(str)
    return pd.to_numeric(t.str[:4], errors="coerce") * 12 + pd.to_numeric(t.str[5:7], errors="coerce") - 1


def _monthly(fr: Frames) -> pd.DataFrame:
    """(institution_id, item_code, month) with sold, purchased, opening, closing, avg price (memoised)."""
    if "inventory.monthly" in fr.memo:
        return fr.memo["inventory.monthly"]  # type: ignore[return-value]
    inv = fr.table("inventory").copy()
    for c in ("qty_opening", "qty_closing"):
        if c not in inv.columns:
            inv[c] = np.nan
    inv["m"] = _month_number(inv["period"])
    inv = inv[inv["m"].notna()].astype({"m": "int64"})
    inv = inv.groupby(["institution_id", "item_code", "m"], as_index=False).agg(
        purchased=("qty_purchased", "sum"), opening=("qty_opening", "first"), closing=("qty_closing", "first"))
    # units and amount billed per (institution, item, month), summed over the city's lines in the
    # columnar engine (graph/sql/inventory_sold.sql): the lines never come into memory
    sold = fr.sql("inventory_sold").astype({"m": "int64", "sold": float, "billed": float})
    m = inv.merge(sold, on=["institution_id", "item_code", "m"], how="outer")
    for c in ("purchased", "sold", "billed"):
        m[c] = m[c].fillna(0.0)
    m = m.sort_values(["institution_id", "item_code", "m"], ignore_index=True)
    same = (m["institution_id"].eq(m["institution_id"].shift()) & m["item_code"].eq(m["item_code"].shift())
            & (m["m"] == m["m"].shift() + 1))
    m["opening"] = m["opening"].where(m["opening"].notna(), m["closing"].shift().where(same))
    m["price"] = (m["billed"] / m["sold"]).where(m["sold"] > 0)
    m["period"] = ((m["m"] // 12).astype(str) + "-" + (m["m"] % 12 + 1).astype(str).str.zfill(2))
    fr.memo["inventory.monthly"] = m
    return m


@rule("R-MGT-013", "进销存不符（销售超过库存与进货）", "Sold more than stock plus purchases",
      category="management", severity="high", rule_class="definite", scope="engine", entity_type="institution", violation_class="card_cashout",
      needs=("inventory",),
      description="Units billed in a month exceed the opening stock plus the month's purchases (by more than "
                  "the tolerance) for an item the institution reports stock of.")
def inventory_oversold(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    m = _monthly(fr)
    m = m[m["opening"].notna()]
    avail = m["opening"] + m["purchased"]
    excess = m["sold"] - avail
    tol = np.maximum(float(p.get("abs_tolerance", 0.0)), avail * float(p.get("rel_tolerance", 0.0)))
    d = m[excess > tol]
    ev = (d["period"] + ": sold " + num(d["sold"]) + " of " + d["item_code"].astype(str) + " but opening stock "
          + num(d["opening"]) + " + purchased " + num(d["purchased"]) + " = " + num(avail[d.index]))
    return pd.DataFrame({"visit_id": None, "entity_id": d["institution_id"], "institution_id": d["institution_id"],
                         "amount_at_risk": (excess[d.index] * d["price"].fillna(0.0)), "evidence": ev,
                         "key": d["item_code"].astype(str) + "|" + d["period"]})


@rule("R-MGT-014", "库存账实不符", "Stock balance does not reconcile", category="management", severity="low",
      rule_class="definite", scope="engine", entity_type="institution", violation_class=None, needs=("inventory",),
      description="Opening + purchased - sold differs from the reported closing stock by more than the "
                  "tolerance (share of the month's movement).")
def stock_not_reconciled(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    m = _monthly(fr)
    m = m[m["opening"].notna() & m["closing"].notna()]
    expect = m["opening"] + m["purchased"] - m["sold"]
    diff = (expect - m["closing"]).abs()
    tol = np.maximum(float(p.get("abs_tolerance", 1.0)),
                     (m["purchased"] + m["sold"]) * float(p.get("rel_tolerance", 0.05)))
    d = m[diff > tol]
    ev = (d["period"] + ": " + d["item_code"].astype(str) + " opening " + num(d["opening"]) + " + purchased "
          + num(d["purchased"]) + " - sold " + num(d["sold"]) + " = " + num(expect[d.index]) + " but closing "
          + num(d["closing"]))
    return pd.DataFrame({"visit_id": None, "entity_id": d["institution_id"], "institution_id": d["institution_id"],
                         "amount_at_risk": diff[d.index] * d["price"].fillna(0.0), "evidence": ev,
                         "key": d["item_code"].astype(str) + "|" + d["period"]})
