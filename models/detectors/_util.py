"""Small helpers shared by the graph detectors (scores, groups, evidence)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from ringscope.models.base import Finding, Group, empty_scores

__all__ = ["squash", "scores_from_groups", "findings_from_groups", "typed", "top_share", "poisson_sf_z",
           "empty_scores", "finalize"]


def squash(x: np.ndarray | pd.Series | float, mid: float, scale: float) -> np.ndarray:
    """Logistic map of raw evidence to a calibrated (0, 1) score: ``mid`` -> 0.5."""
    return 1.0 / (1.0 + np.exp(-(np.asarray(x, dtype=float) - mid) / scale))


def typed(kind: str, ids: Iterable[Any]) -> list[str]:
    return [f"{kind}:{i}" for i in ids]


def top_share(s: pd.Series) -> tuple[Any, float]:
    """The most frequent value of ``s`` and its share."""
    if len(s) == 0:
        return None, 0.0
    vc = s.value_counts()
    return vc.index[0], float(vc.iloc[0] / vc.sum())


def poisson_sf_z(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Surprise of ``observed`` counts under Poisson(``expected``) as a z-like value
    (Anscombe-style ``2 (sqrt(o) - sqrt(e))``, 0 when below expectation)."""
    o = np.asarray(observed, dtype=float)
    e = np.maximum(np.asarray(expected, dtype=float), 1e-9)
    return np.maximum(2.0 * (np.sqrt(o) - np.sqrt(e)), 0.0)


def scores_from_groups(groups: list[Group], extra: pd.DataFrame | None = None) -> pd.DataFrame:
    """Entity scores: every member gets the best score of the groups it is in
    (and of ``extra``, a frame ``entity_type, entity_id, score``)."""
    rows = [(m.partition(":")[0], m.partition(":")[2], g.score) for g in groups for m in g.members]
    df = pd.DataFrame(rows, columns=["entity_type", "entity_id", "score"])
    if extra is not None and len(extra):
        ex = extra[["entity_type", "entity_id", "score"]]
        df = ex.copy() if df.empty else pd.concat([df, ex], ignore_index=True)
    if df.empty:
        return empty_scores()
    df["score"] = df["score"].astype(float).clip(0, 1)
    return df.groupby(["entity_type", "entity_id"], as_index=False)["score"].max() \
        .sort_values("score", ascending=False).reset_index(drop=True)


def findings_from_groups(detector: str, scheme: str, groups: list[Group]) -> list[Finding]:
    """One finding per (entity, best group), pointing back at the group's evidence."""
    best: dict[str, tuple[float, int]] = {}
    for k, g in enumerate(groups):
        for m in g.members:
            if m not in best or g.score > best[m][0]:
                best[m] = (g.score, k)
    out = []
    for m, (s, k) in best.items():
        t, _, i = m.partition(":")
        g = groups[k]
        out.append(Finding(detector, t, i, float(s), scheme, g.summary,
                           {"group_index": k, "group_size": len(g.members), "params": g.evidence.get("params", {})}))
    return out


def finalize(det: Any, groups: list[Group], extra_scores: pd.DataFrame | None = None) -> Any:
    """Sort groups by score, set ``groups_``, ``findings_`` and ``decision_scores_``."""
    groups = sorted(groups, key=lambda g: (-g.score, -g.amount_at_risk, sorted(g.members)))
    det.groups_ = groups
    det.findings_ = findings_from_groups(det.name, det.scheme, groups)
    det.decision_scores_ = scores_from_groups(groups, extra_scores)
    return det
