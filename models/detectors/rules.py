"""The rule library as one detector: the only path by which rule hits reach fusion.

:meth:`RulesDetector.fit` runs the rule library (:func:`ringscope.models.rules.run_rules`,
its parameters in the ``rules`` section of ``models/defaults.yaml``) and keeps the hits
(``hits_``). An entity's score is its severity-weighted hits *in excess of its
exposure*: ``h`` weighted hits against what its number of settlements ``n``
predicts at its type's overall rate ``λ``,

    score = 1 - exp(-(h - λ n)⁺ / scale),

so a large hospital's proportionate share of hits is not a risk signal, while a
small clinic with the same hits stands out.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ringscope.ingest.vocab import ENTITY_KEY, col_or
from ringscope.models.base import BaseDetector, Context, Finding, empty_scores
from ringscope.models.rules.registry import run_rules

__all__ = ["RulesDetector", "SEVERITY_WEIGHT", "excess_over_exposure"]

SEVERITY_WEIGHT = {"low": 0.2, "medium": 0.5, "high": 0.8}


def _exposure(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Settlements per entity (persons, physicians, institutions)."""
    v = tables.get("visits")
    if v is None or v.empty:
        return pd.DataFrame(columns=["entity_type", "entity_id", "n_visits"])
    parts = []
    for et, key in ENTITY_KEY.items():
        if key in v.columns:
            c = v[key].dropna().astype(str).value_counts()
            parts.append(pd.DataFrame({"entity_type": et, "entity_id": c.index, "n_visits": c.to_numpy()}))
    return pd.concat(parts, ignore_index=True)


def excess_over_exposure(rule_hits: pd.DataFrame | None, tables: Mapping[str, pd.DataFrame] | None,
                         scale: float = 1.5, exposure: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rule hits as entity scores: ``entity_type, entity_id, score, reason``.

    Severity-weighted hits in excess of what the entity's volume predicts. The
    volume (``entity_type, entity_id, n_visits``) is ``exposure`` when given (the
    columnar engine's count, ``graph/sql/exposure.sql``), else counted in ``tables``.
    """
    cols = ["entity_type", "entity_id", "score", "reason"]
    if rule_hits is None or rule_hits.empty or "entity_id" not in rule_hits.columns:
        return pd.DataFrame(columns=cols)
    h = rule_hits[rule_hits["entity_id"].notna()].copy()
    h["entity_id"] = h["entity_id"].astype(str)
    h["w"] = col_or(h, "severity", "medium").map(SEVERITY_WEIGHT).fillna(0.5)
    h["high"] = col_or(h, "severity").eq("high")
    name = col_or(h, "rule_name_en")
    name = name.where(name.notna() & (name.astype(str) != ""), col_or(h, "rule_name"))
    h["label"] = col_or(h, "rule_id").astype(str) + " " + name.fillna("").astype(str)
    agg = h.groupby(["entity_type", "entity_id"]).agg(h=("w", "sum"), n=("w", "size"), n_high=("high", "sum"))
    top = (h.groupby(["entity_type", "entity_id", "label"]).size().rename("k").reset_index()
           .sort_values(["entity_type", "entity_id", "k", "label"], ascending=[True, True, False, True])
           .groupby(["entity_type", "entity_id"]).head(2))
    top["t"] = top["label"].str.strip() + " ×" + top["k"].astype(str)
    agg["top"] = top.groupby(["entity_type", "entity_id"])["t"].agg("; ".join)
    expo = exposure if exposure is not None else _exposure(tables or {})
    agg = agg.reset_index().merge(expo, on=["entity_type", "entity_id"], how="left")
    agg["n_visits"] = agg["n_visits"].fillna(0.0)
    # the type's overall rate per settlement (entities without hits count in the exposure)
    rate = (agg.groupby("entity_type")["h"].sum() / expo.groupby("entity_type")["n_visits"].sum()) \
        .replace([np.inf, -np.inf], np.nan)
    lam = agg["entity_type"].map(rate).fillna(0.0)
    excess = (agg["h"] - lam * agg["n_visits"]).clip(lower=0)
    agg["score"] = 1 - np.exp(-excess / scale)
    agg["reason"] = ("rule hits " + agg["n"].astype(int).astype(str) + " (" + agg["n_high"].astype(int).astype(str)
                     + " high) on " + agg["n_visits"].astype(int).astype(str) + " settlements: " + agg["top"])
    return agg[cols]


class RulesDetector(BaseDetector):
    """Entity scores from the ordinary rule library (excess over exposure).

    Parameters
    ----------
    scale : severity units of excess giving a score of ``1 - 1/e``.
    config : overrides deep-merged over the rule defaults (``{"R-MED-001": {"window_days": 30}}``,
        ``{"R-MGT-003": {"enabled": False}}``); the pipeline passes the ``rules`` section of the
        run's configuration.
    only : run only these rule ids.

    Fitted: ``hits_`` (``rule_hits.csv`` rows plus linking columns), ``timings_`` (seconds per
    rule), ``decision_scores_``, ``findings_`` (one per scored entity, the reason in words).
    """

    name = "rules"
    scheme = "other"
    kind = "rule"
    needs = ("visits",)

    scale: float
    config: dict[str, dict[str, Any]] | None = None
    only: list[str] | None

    def fit(self, ctx: Context, y: pd.DataFrame | None = None) -> RulesDetector:
        self.timings_: dict[str, float] = {}
        self.failures_: list[dict[str, str]] = []     # rules that failed (the others still ran)
        hits = run_rules(ctx, config=self.config, only=self.only, timings=self.timings_, errors=self.failures_)
        exposure = ctx.columnar.query("exposure") if ctx.has("visits") else None
        return self.fit_hits(hits, ctx.tables, exposure=exposure)

    def fit_hits(self, hits: pd.DataFrame, tables: Mapping[str, pd.DataFrame] | None,
                 exposure: pd.DataFrame | None = None) -> RulesDetector:
        """Score hits already computed (a notebook's, a test's, another engine's)."""
        self.hits_ = hits
        rs = excess_over_exposure(hits, tables, self.scale, exposure=exposure)
        if rs.empty:
            self.decision_scores_, self.findings_ = empty_scores(), []
            return self
        self.decision_scores_ = rs[["entity_type", "entity_id", "score"]].reset_index(drop=True)
        self.findings_ = [Finding(self.name, t, str(i), float(s), "other", str(r))
                          for t, i, s, r in rs[["entity_type", "entity_id", "score", "reason"]].itertuples(
                              index=False, name=None)]
        return self
