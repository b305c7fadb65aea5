"""The rule library as a detector: per-entity scores from rule hits.

Each hit weighs ``severity_weight[severity] * (1 + log1p(amount / amount_reference))``.
The entity held responsible receives the full weight; the visit's other
parties (person, institution, physician) receive ``party_share`` of it, so a
pharmacy whose customers keep triggering person-level rules is raised too.
An entity's weights are summed and mapped to [0, 1] by the saturating
``1 - exp(-weight / scale)`` (monotone, so rankings are kept, and a single
low-severity hit stays a low score). Parameters: ``detector:`` in ``rules.yaml``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ringscope.models.base import BaseDetector, Context, Finding

from .registry import load_config, run_rules

__all__ = ["RuleDetector", "entity_weights"]

_SCHEMES = {"card_lending", "card_cashout", "collusive_prescribing", "ghost_admission", "split_admission",
            "doctor_shopping"}


def entity_weights(hits: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Long frame ``entity_type, entity_id, rule_id, rule_name_en, violation_class, hit_id, weight, direct``."""
    sev = params.get("severity_weight", {"low": 1.0, "medium": 2.0, "high": 4.0})
    ref = float(params.get("amount_reference", 1000.0))
    w = hits["severity"].map(sev).fillna(1.0).astype(float) * (
        1.0 + np.log1p(hits["amount_at_risk"].fillna(0.0).clip(lower=0) / ref))
    base = pd.DataFrame({"rule_id": hits["rule_id"], "rule_name_en": hits.get("rule_name_en", hits["rule_name"]),
                         "violation_class": hits.get("violation_class"), "hit_id": hits["hit_id"]})
    parts = [base.assign(entity_type=hits["entity_type"], entity_id=hits["entity_id"], weight=w, direct=True)]
    share = float(params.get("party_share", 0.25))
    if share > 0:
        for et, col in (("person", "person_id"), ("institution", "institution_id"), ("physician", "physician_id")):
            if col not in hits.columns:
                continue
            m = hits[col].notna() & ~((hits["entity_type"] == et) & (hits["entity_id"] == hits[col]))
            parts.append(base[m].assign(entity_type=et, entity_id=hits.loc[m, col], weight=w[m] * share, direct=False))
    return pd.concat(parts, ignore_index=True)


class RuleDetector(BaseDetector):
    """Entity scores from the ordinary rule library.

    Parameters
    ----------
    config:
        overrides deep-merged over ``rules.yaml`` (rule parameters and the
        ``detector`` section).
    only:
        run only these rule ids.
    reuse_hits:
        use ``ctx.rule_hits`` when an earlier stage already ran the rules.
    """

    name = "rules"
    scheme = "other"

    def __init__(self, config: dict[str, Any] | None = None, only: list[str] | None = None, reuse_hits: bool = True):
        super().__init__(config=config, only=only, reuse_hits=reuse_hits)
        self.config = config
        self.only = only
        self.reuse_hits = reuse_hits

    def fit(self, ctx: Context, y: pd.DataFrame | None = None) -> RuleDetector:
        cfg = load_config(overrides=self.config)
        dp = dict(cfg.get("detector") or {})
        hits = ctx.rule_hits if (self.reuse_hits and ctx.rule_hits is not None
                                 and "rule_id" in ctx.rule_hits.columns) else None
        if hits is None:
            hits = run_rules(ctx, self.config, self.only)
        self.hits_ = hits
        if hits.empty:
            self.decision_scores_ = pd.DataFrame({"entity_type": pd.Series(dtype=object),
                                                  "entity_id": pd.Series(dtype=object),
                                                  "score": pd.Series(dtype=float)})
            self.findings_ = []
            self.reasons_ = pd.Series(dtype=object)
            return self
        ew = entity_weights(hits, dp)
        tot = ew.groupby(["entity_type", "entity_id"], as_index=False)["weight"].sum()
        tot["score"] = 1.0 - np.exp(-tot["weight"] / float(dp.get("scale", 8.0)))
        by_rule = ew.groupby(["entity_type", "entity_id", "rule_id", "rule_name_en"], as_index=False).agg(
            weight=("weight", "sum"), n=("hit_id", "size"), direct=("direct", "max"))
        by_rule = by_rule.sort_values(["entity_type", "entity_id", "weight"], ascending=[True, True, False])
        k = int(dp.get("top_rules_in_reason", 3))
        top = by_rule.groupby(["entity_type", "entity_id"]).head(k)
        top = top.assign(txt=top["rule_id"] + " " + top["rule_name_en"] + " x" + top["n"].astype(str)
                         + np.where(top["direct"], "", " (as party)"))
        reasons = top.groupby(["entity_type", "entity_id"])["txt"].agg("; ".join)
        tot["reasons"] = pd.MultiIndex.from_frame(tot[["entity_type", "entity_id"]]).map(reasons)
        self.reasons_ = tot.set_index(["entity_type", "entity_id"])["reasons"]
        self.decision_scores_ = tot[["entity_type", "entity_id", "score"]].sort_values(
            "score", ascending=False, ignore_index=True)
        self.findings_ = self._findings(tot, ew, float(dp.get("min_score_for_finding", 0.3)))
        return self

    def _findings(self, tot: pd.DataFrame, ew: pd.DataFrame, min_score: float) -> list[Finding]:
        sel = tot[tot["score"] >= min_score]
        if sel.empty:
            return []
        direct = ew[ew["direct"]].merge(sel[["entity_type", "entity_id"]], on=["entity_type", "entity_id"])
        vc = direct[direct["violation_class"].isin(_SCHEMES)]
        scheme = (vc.groupby(["entity_type", "entity_id"])["violation_class"].agg(lambda s: s.value_counts().index[0])
                  if not vc.empty else pd.Series(dtype=object))
        hit_ids = direct.sort_values("weight", ascending=False).groupby(["entity_type", "entity_id"])["hit_id"].agg(
            lambda s: list(s[:20]))
        n_hits = direct.groupby(["entity_type", "entity_id"]).size()
        out = []
        for r in sel.itertuples(index=False):          # one Finding per flagged entity
            key = (r.entity_type, r.entity_id)
            out.append(Finding(
                detector=self.name, entity_type=r.entity_type, entity_id=str(r.entity_id), score=float(r.score),
                scheme=str(scheme.get(key, "other")), reason=str(r.reasons),
                evidence={"hit_ids": hit_ids.get(key, []), "n_hits": int(n_hits.get(key, 0)),
                          "weight": round(float(r.weight), 3), "params": {"only": self.only}}))
        return out
