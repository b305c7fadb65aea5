"""The learned models earn their place: a held-out check before they join a run.

A learned model (GNN, trees) costs more than every graph detector together and,
on the team's cities, adds little beside them (bench/RESULTS.md, "Ablation").
So it runs only where it helps:

1. there must be enough closed cases (``known_cases``): at least
   ``pipeline.min_labels`` fraud *and* cleared, and after a stratified split at
   least ``pipeline.learned_min_holdout`` of each held out; without them there
   is no way to tell whether a model helps, and it is skipped (the manifest
   says why);
2. each model is trained on the training cases only;
3. on the held-out cases, the average precision of the fused entity score
   *with* the model must beat the fused score of the other detectors alone by
   at least ``pipeline.learned_min_lift``; else it is dropped, and the
   manifest records both figures.

The stage has a time budget: ``pipeline.learned_max_share`` of the whole run.
Models are tried in the configuration's order (cheapest first); once the time
spent on them exceeds the budget, the rest are skipped and the manifest says so.

The fused scores of the check use fusion's default weights (no weights learnt
from the same cases), so the held-out cases stay unseen. A kept model keeps
its training-split fit: the run's scores are what was checked.

References: C. Elkan & K. Noto, KDD 2008 (positive-unlabelled learning, the
unlabelled mass here); T. Saito & M. Rehmsmeier, PLoS ONE 2015 (precision-recall,
not ROC, for rare positives).
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ringscope.models.base import BaseDetector, Context
from ringscope.models.fusion import FusionConfig, collect_sources, entity_scores, entity_universe

__all__ = ["split_cases", "held_out_ap", "gate_learned"]


def split_cases(known_cases: pd.DataFrame, holdout: float, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Closed cases split by entity, stratified by outcome: (training cases, held-out cases).

    An entity with several cases stays on one side; its label is fraud if any case says so.

    >>> kc = pd.DataFrame({"case_id": list("abcdefgh"), "entity_type": "person",
    ...                    "entity_id": list("12345678"), "label": ["fraud"] * 4 + ["cleared"] * 4})
    >>> tr, te = split_cases(kc, 0.5, seed=1)
    >>> len(tr), len(te), sorted(te["label"].value_counts().tolist())
    (4, 4, [2, 2])
    """
    kc = known_cases.copy()
    kc["_key"] = kc["entity_type"].astype(str) + ":" + kc["entity_id"].astype(str)
    lab = kc.groupby("_key")["label"].agg(lambda s: "fraud" if (s.astype(str).str.lower() == "fraud").any()
                                          else "cleared")
    rng = np.random.default_rng(seed)
    test: set[str] = set()
    for _, keys in lab.groupby(lab).groups.items():
        keys = np.array(sorted(keys))
        k = int(round(holdout * len(keys)))
        test |= set(rng.choice(keys, size=k, replace=False).tolist()) if k else set()
    is_test = kc["_key"].isin(test)
    return kc[~is_test].drop(columns="_key"), kc[is_test].drop(columns="_key")


def held_out_ap(scores: pd.DataFrame, cases: pd.DataFrame) -> float:
    """Average precision of ``scores`` (entity_type, entity_id, score) on labelled ``cases``."""
    from sklearn.metrics import average_precision_score

    lab = cases.assign(y=(cases["label"].astype(str).str.lower() == "fraud").astype(int)) \
        .groupby(["entity_type", "entity_id"])["y"].max()
    s = scores.set_index(["entity_type", "entity_id"])["score"]
    x = s.reindex(lab.index).fillna(0.0).to_numpy()
    y = lab.to_numpy()
    if y.min() == y.max():
        return float("nan")
    return float(average_precision_score(y, x))


def _fused(detectors: Sequence[BaseDetector], universe: pd.DataFrame) -> pd.DataFrame:
    src = collect_sources(detectors)
    base = {k: v for k, v in src.scores.items()}
    out, _ = entity_scores(base, universe, config=FusionConfig(), kinds=src.kinds,
                           corroborating=src.corroborating)
    return out[["entity_type", "entity_id", "score"]]


def gate_learned(learned: Sequence[BaseDetector], ctx: Context, others: Sequence[BaseDetector],
                 pipeline: dict[str, Any], fit, spent_before: float = 0.0) -> tuple[list[BaseDetector], dict[str, Any]]:
    """Fit each learned model on the training cases and keep those that lift held-out AP.

    ``fit(det, ctx, y)`` fits one detector (the pipeline's safe fit: returns False on
    failure); ``spent_before`` is the run's time so far (seconds), from which the
    stage's budget follows. Returns the kept, fitted detectors and a report for the manifest.
    """
    report: dict[str, Any] = {}
    kc = ctx.table("known_cases")
    need = int(pipeline["min_labels"])
    n_f = int((kc["label"].astype(str).str.lower() == "fraud").sum()) if len(kc) else 0
    n_c = int((kc["label"].astype(str).str.lower() == "cleared").sum()) if len(kc) else 0
    if n_f < need or n_c < need:
        why = (f"skipped: {n_f} fraud / {n_c} cleared closed cases, {need} of each needed to check on held-out "
               "cases that a learned model helps")
        return [], {d.name: {"kept": False, "why": why} for d in learned}
    train, test = split_cases(kc, float(pipeline["learned_holdout"]), seed=int(pipeline["learned_seed"]))
    t_f = int((test["label"].astype(str).str.lower() == "fraud").sum())
    t_c = len(test) - t_f
    min_h = int(pipeline["learned_min_holdout"])
    if t_f < min_h or t_c < min_h:
        why = f"skipped: only {t_f} fraud / {t_c} cleared cases held out, {min_h} of each needed"
        return [], {d.name: {"kept": False, "why": why} for d in learned}
    universe = entity_universe(ctx.tables)
    ap_base = held_out_ap(_fused(others, universe), test)
    kept: list[BaseDetector] = []
    share = pipeline.get("learned_max_share")
    # learned <= share * (before + learned)  <=>  learned <= share / (1 - share) * before
    budget = float("inf") if not share else (share / (1.0 - share) * spent_before if share < 1 else float("inf"))
    t_stage = time.perf_counter()
    for det in learned:
        used = time.perf_counter() - t_stage
        if used >= budget:
            report[det.name] = {"kept": False, "why": f"skipped: the learned stage's time budget ({share:.0%} of the "
                                                      f"run, {budget:.0f} s) was spent ({used:.0f} s)"}
            continue
        t0 = time.perf_counter()
        ok = fit(det, ctx, train)
        secs = round(time.perf_counter() - t0, 2)
        if not ok:
            report[det.name] = {"kept": False, "why": "failed (see errors)", "seconds": secs}
            continue
        ap_with = held_out_ap(_fused([*others, det], universe), test)
        lift = ap_with - ap_base
        keep = bool(np.isfinite(lift) and lift >= float(pipeline["learned_min_lift"]))
        report[det.name] = {"kept": keep, "held_out_ap_without": round(ap_base, 4),
                            "held_out_ap_with": round(ap_with, 4), "lift": round(lift, 4), "seconds": secs,
                            "train_cases": int(len(train)), "held_out_cases": int(len(test)),
                            "why": "lifts held-out AP" if keep else
                            f"dropped: held-out AP {ap_with:.3f} with it vs {ap_base:.3f} without "
                            f"(lift {lift:+.3f} < {float(pipeline['learned_min_lift']):+.3f})"}
        if keep:
            kept.append(det)
    return kept, report
