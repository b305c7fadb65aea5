"""Scope rules (超诊疗范围 / 超协议范围, 管理类).

An institution may only settle what its designation covers: a pharmacy sells
drugs and materials; clinics do not admit inpatients; surgery belongs to
hospitals. The allowed visit types, item types and keyword-defined service
groups per institution kind are configuration (``models/defaults.yaml``, section ``rules``), since they
follow each city's designation agreements (定点协议).
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from .frames import Frames, money
from .registry import rule

__all__ = ["visit_type_beyond_kind", "item_beyond_kind"]


def _allowed_pairs(mapping: dict[str, list[str]], left: str, right: str) -> pd.DataFrame:
    rows = [(k, x) for k, xs in (mapping or {}).items() for x in xs]
    return pd.DataFrame(rows, columns=[left, right])


@rule("R-MGT-011", "超诊疗范围（结算类型）", "Settlement type beyond the institution's kind",
      category="management", severity="high", rule_class="definite", entity_type="institution", violation_class=None,
      description="A settlement type the institution's kind is not designated for (e.g. an inpatient stay "
                  "at a pharmacy or clinic).")
def visit_type_beyond_kind(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    allowed = _allowed_pairs(p.get("allowed_visit_types", {}), "kind", "visit_type")
    v = fr.visits
    v = v[v["kind"].isin(allowed["kind"])]
    j = v[["visit_id", "kind", "visit_type", "total_amount"]].merge(allowed, on=["kind", "visit_type"], how="left",
                                                                    indicator=True)
    d = j[j["_merge"] == "left_only"]
    ev = d["visit_type"].astype(str) + " settlement " + money(d["total_amount"]) + " at a " + d["kind"].astype(str)
    return pd.DataFrame({"visit_id": d["visit_id"], "amount_at_risk": d["total_amount"], "evidence": ev})


@rule("R-MGT-012", "超诊疗范围（项目）", "Item beyond the institution's kind", category="management",
      severity="medium", rule_class="definite", entity_type="institution", violation_class=None,
      description="An item type the institution's kind may not bill (e.g. services at a pharmacy), or a "
                  "service of a restricted group (surgery, by catalogue-name keywords) at a kind not allowed "
                  "to perform it.")
def item_beyond_kind(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    li = fr.lines
    m_type = np.zeros(len(li), dtype=bool)
    for kind, types in (p.get("forbidden_item_types") or {}).items():     # a few configured pairs
        m_type |= ((li["kind"] == kind) & li["item_type"].isin(types)).to_numpy()
    why = np.full(len(li), "", dtype=object)
    why[m_type] = (li.loc[m_type, "item_type"].astype(str) + " item at a "
                   + li.loc[m_type, "kind"].astype(str)).to_numpy()
    m_group = np.zeros(len(li), dtype=bool)
    cat = fr.catalog
    for group, spec in (p.get("restricted_groups") or {}).items():        # a few configured groups
        kw = [k for k in spec.get("keywords", []) if k]
        if not kw:
            continue
        pat = "|".join(re.escape(k) for k in kw)
        items = cat.loc[cat["name"].fillna("").str.contains(pat, case=False, regex=True), "item_code"]
        mg = (li["item_code"].isin(items) & ~li["kind"].isin(spec.get("allowed_kinds", []))
              & li["kind"].notna()).to_numpy()
        new = mg & ~m_type & ~m_group
        why[new] = (group + " item at a " + li.loc[new, "kind"].astype(str)).to_numpy()
        m_group |= mg
    m = m_type | m_group
    d = li[m]
    ev = why[m] + ": " + d["item_label"] + " " + money(d["amount"])
    return pd.DataFrame({"visit_id": d["visit_id"], "line_id": d["line_id"], "amount_at_risk": d["amount"],
                         "evidence": ev})
