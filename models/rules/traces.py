"""Drug traceability codes (药品追溯码, 管理类): definite rules on the packs' paths.

A pack is sold once. Since July 2025 every designated institution scans each pack's code when
it is settled, and the national bureau's campaign against resold drugs (倒卖回流药) runs on
those codes. Three definite rules (明确违规: the data alone proves the breach):

- **R-MGT-016** the same code settled twice: a step of a pack's path classified ``repeat`` by
  :func:`ringscope.graph.traces.trace_steps` -- the earlier sale was not refunded (a sale
  marked ``reversed`` frees the pack), the second is not the same counter repeating the scan
  within minutes, and it is not the remainder of a pack split (拆零) at the same institution;
- **R-MGT-017** a pack dispensed by an institution whose stock book (进销存, ``inventory``)
  shows no purchase of the item, and no stock of it, at any time up to the sale and after;
- **R-MGT-018** a pack settled before it was ever supplied: the institution's first purchase
  of the item (or first stock on hand) comes in a later month. The contract has no upstream
  (distributor or 码上放心 platform) table, so the supply a code could have come through is
  the institution's own purchases, month by month; with a per-code upstream record this rule
  would compare the code's own shipment date instead.

The responsible entity is the institution that settled the pack; the hits carry the
settlement's parties from the engine (no look-up in the visits frame). One hit per claim line;
its ``amount_at_risk`` is the line's amount shared among the codes scanned on it, for the
flagged packs only, so it never exceeds what was billed for the line, and a pack counted by
R-MGT-016 adds nothing to R-MGT-017/018 (each pack's amount is counted at most once across
the family; the hit still says the institution never bought the drug).

Parameters (``rules`` section of ``models/defaults.yaml``): ``scanner_minutes`` and
``split_tolerance`` (how a path is classified; every rule of the family and the
``drug_resale`` detector share them through one YAML anchor), ``grace_months`` (months at the
start of a stock book that does not state opening stock, not judged), ``max_codes`` (codes
named in the evidence).
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from ringscope.graph.traces import trace_steps, unbought_packs

from .frames import Frames, money
from .registry import rule

__all__ = ["code_settled_twice", "dispensed_never_bought", "settled_before_bought", "repeat_packs"]


def repeat_packs(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    """The ``repeat`` steps of the packs' paths (memoised per parameters for sibling rules)."""
    key = f"traces.repeats:{p.get('scanner_minutes', 30)}:{p.get('split_tolerance', 0.05)}"
    if key not in fr.memo:
        s = trace_steps(fr.ctx, float(p.get("scanner_minutes", 30.0)), float(p.get("split_tolerance", 0.05)))
        fr.memo[key] = s[s["status"] == "repeat"].reset_index(drop=True)
    return fr.memo[key]  # type: ignore[return-value]


def _codes_text(codes: pd.Series, k: int) -> pd.Series:
    """``a, b, c (+2)`` from lists of codes."""
    def one(c: Any) -> str:
        c = list(c) if c is not None else []
        s = ", ".join(str(x) for x in c[:k])
        return s + (f" (+{len(c) - k})" if len(c) > k else "")
    return codes.map(one).astype(object)


def _first_codes(r: pd.DataFrame, n: pd.Series, k: int) -> pd.Series:
    """Per line (``n``'s index): its first ``k`` codes joined, ``(+m)`` for the rest (whole columns)."""
    top = r[r.groupby("line_id").cumcount() < k]
    wide = top.assign(j=top.groupby("line_id").cumcount()).pivot(index="line_id", columns="j", values="trace_code")
    wide = wide.reindex(n.index)
    txt = wide[0].astype(object)
    for j in range(1, wide.shape[1]):
        txt = txt + (", " + wide[j].astype(object)).fillna("")
    more = n - k
    return txt.where(more <= 0, txt + " (+" + more.astype(str) + ")").astype(object)


@rule("R-MGT-016", "追溯码重复结算（同一药品追溯码再次结算）", "Drug trace code settled twice",
      category="management", severity="high", rule_class="definite", entity_type="institution",
      violation_class="drug_resale", scope="engine", needs=("drug_traces",),
      description="A pack's traceability code settled again after a sale that was not refunded: not the same "
                  "counter repeating the scan within scanner_minutes, not the remainder of a pack split (拆零) at "
                  "the same institution. A pack is sold once: the pack came back (回流药), was swapped or was "
                  "swiped without a sale. One hit per claim line; amount = the flagged packs' share of the line.")
def code_settled_twice(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    r = repeat_packs(fr, p)
    if r.empty:
        return pd.DataFrame()
    k = int(p.get("max_codes", 3))
    r = r.sort_values(["line_id", "trace_code"])
    first = r.drop_duplicates("line_id").set_index("line_id")
    g = r.groupby("line_id", sort=True)
    out = pd.DataFrame({"n": g.size(), "amount_at_risk": g["pack_amount"].sum()})
    f = first.reindex(out.index)
    when = pd.to_datetime(f["h_ts"]).dt.strftime("%Y-%m-%d %H:%M").fillna("?")
    ev = (out["n"].astype(str) + " pack(s) already sold and not refunded: code " + _first_codes(r, out["n"], k)
          + "; first sold at " + f["h_inst"].fillna("?").astype(str) + " to " + f["h_person"].fillna("?").astype(str)
          + " on " + when + " (line " + f["h_line"].fillna("?").astype(str) + "); settled again here for "
          + money(out["amount_at_risk"]))
    return pd.DataFrame({"visit_id": f["visit_id"].to_numpy(), "line_id": out.index.to_numpy(),
                         "institution_id": f["institution_id"].to_numpy(), "person_id": f["person_id"].to_numpy(),
                         "physician_id": f["visit_physician"].to_numpy(),
                         "amount_at_risk": out["amount_at_risk"].to_numpy(), "evidence": ev.to_numpy(),
                         "key": out.index.to_numpy()})


def _unbought(fr: Frames, p: dict[str, Any], kind: str) -> pd.DataFrame:
    key = f"traces.unbought:{p.get('grace_months', 3)}"
    if key not in fr.memo:
        rep = repeat_packs(fr, p)
        fr.memo[key] = unbought_packs(fr.ctx, int(p.get("grace_months", 3)),
                                      counted=rep[["line_id", "trace_code"]], max_codes=int(p.get("max_codes", 3)) + 1)
    u: pd.DataFrame = fr.memo[key]  # type: ignore[assignment]
    u = u[u["kind"] == kind]
    if u.empty:
        return pd.DataFrame()
    k = int(p.get("max_codes", 3))
    share = u["amount"].astype(float) / u["n_codes"].astype(float).clip(lower=1)
    amount = (share * u["n_uncounted"].astype(float)).clip(upper=u["amount"].astype(float).clip(lower=0))
    month = _period(u["mon"])
    txt = u["n_packs"].astype(str) + " pack(s) of " + u["item_code"].astype(str) + " dispensed in " + month
    if kind == "never":
        txt = txt + " (code " + _codes_text(u["codes"], k) + "); the stock book shows no purchase and no stock of it"
    else:
        txt = (txt + " (code " + _codes_text(u["codes"], k) + ") before the first purchase or stock of it, in "
               + _period(u["first_buy"].where(u["first_buy"].notna(), u["first_stock"])))
    counted = u["n_packs"] - u["n_uncounted"]
    txt = txt.where(counted == 0, txt + "; " + counted.astype(str) + " of them counted under R-MGT-016")
    return pd.DataFrame({"visit_id": u["visit_id"].to_numpy(), "line_id": u["line_id"].to_numpy(),
                         "institution_id": u["institution_id"].to_numpy(), "person_id": u["person_id"].to_numpy(),
                         "physician_id": u["physician_id"].to_numpy(), "amount_at_risk": amount.to_numpy(),
                         "evidence": txt.to_numpy(), "key": u["line_id"].to_numpy()})


def _period(m: pd.Series) -> pd.Series:
    v = pd.to_numeric(m, errors="coerce")
    y, mo = (v // 12), (v % 12 + 1)
    out = y.astype("Int64").astype(str) + "-" + mo.astype("Int64").astype(str).str.zfill(2)
    return out.where(v.notna(), "?").astype(object)


@rule("R-MGT-017", "无购进记录销售追溯码药品（进销存）", "Traced pack dispensed without any purchase of the drug",
      category="management", severity="high", rule_class="definite", entity_type="institution",
      violation_class="drug_resale", scope="engine", needs=("drug_traces", "inventory"),
      description="A traced pack dispensed by an institution that keeps a stock book (进销存) in which the item "
                  "has no purchase and no stock at any time: the pack did not come through the institution's "
                  "supply. Months at the start of a book without opening stock (grace_months) are not judged.")
def dispensed_never_bought(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    return _unbought(fr, p, "never")


@rule("R-MGT-018", "先销后购（结算早于进货）", "Traced pack settled before the drug was ever supplied",
      category="management", severity="high", rule_class="definite", entity_type="institution",
      violation_class="drug_resale", scope="engine", needs=("drug_traces", "inventory"),
      description="A traced pack settled in a month before the institution's first purchase (or first stock on "
                  "hand) of the item. The contract carries no upstream (distributor) record per code, so the "
                  "supply is the institution's own purchases by month.")
def settled_before_bought(fr: Frames, p: dict[str, Any]) -> pd.DataFrame:
    return _unbought(fr, p, "later")
