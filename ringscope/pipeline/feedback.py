"""Outcomes teach the models: investigators' verdicts join ``known_cases``, and the review queue.

Labels
------
``detect`` learns from labelled entities in three places: guilt by association seeds its walk with
the ``fraud`` entities and cuts the ``cleared`` ones, the learned models train and are gated on
them (:mod:`ringscope.pipeline.learned`), and fusion fits its weights on them. All three read the
run's ``known_cases`` table. With outcome labels (``detect --labels-from-store`` or ``--labels
FILE``: the store's outcomes, :func:`ringscope.store.feedback.outcome_labels`), the run's
``known_cases`` becomes :func:`merge_labels` of the dataset's table and the outcomes, so every
consumer sees them without knowing where a label came from.

**Precedence.** Where both say something about the same entity, the *later dated* outcome wins
(an entity cleared in 2023 and confirmed by an investigator this year is fraud; one confirmed in
an old case and cleared after review this year is cleared -- the latest judgement is the one the
bureau stands by). Dates are ``closed_on`` (then ``closed_at``, the time of day, when two
verdicts share a day); a ``known_cases`` row without ``closed_on`` is older than any dated
outcome; on the same date the investigator's outcome beats the dataset's, and between two
outcomes of one moment ``fraud`` beats ``cleared`` (the dataset's own rule for an entity with
both). Entities the outcomes do not mention keep all their ``known_cases`` rows, unchanged.

Review queue (active learning)
------------------------------
Which open leads should an investigator review next so that the verdicts teach the models most?
Pool-based active learning with uncertainty sampling (Settles 2009, section 3.1; Lewis & Gale
1994), weighted by the money at stake and made diverse across schemes (batch-mode selection,
Settles 2009 section 6.1 and Brinker 2003):

- **uncertainty** ``u = 1 - |p - c| / max(c, 1 - c)``: ``p`` the lead's calibrated score (fusion
  calibrates it to "the lead is a real scheme", ``models/lead_calibration.yaml``) and ``c`` the
  decision bar where the lead is as likely real as not (``pipeline.review_bar``, 0.5); with a
  calibrated score this is least-confident sampling: 1 at the bar, 0 at certainty;
- **amount weight** ``a = log(1 + amount) / log(1 + largest amount in the pool)``: a verdict on a
  lead with more money at risk is worth more to the bureau; the priority is ``u * (1 - w + w*a)``
  with ``w = pipeline.review_amount_weight`` (0.5);
- **novelty**: the share of the lead's members not yet labelled (a verdict on entities the models
  already know teaches nothing); leads with none are not suggested; the priority is multiplied by it;
- **diversity**: the queue is filled greedily; each pick's gain is its priority times
  ``pipeline.review_scheme_decay`` (0.5) to the power of the picks already made in its scheme,
  times ``1 - `` its largest member overlap (Jaccard) with a pick already made. Ties go to the
  smaller ``lead_id``, so the queue is deterministic.

Leads already closed (their outcome is a label) and leads of no open status are not in the pool.

References: B. Settles, "Active Learning Literature Survey", Computer Sciences Technical Report
1648, University of Wisconsin-Madison, 2009; D. Lewis & W. Gale, "A sequential algorithm for
training text classifiers", SIGIR 1994; K. Brinker, "Incorporating diversity in active learning
with support vector machines", ICML 2003.

>>> leads = pd.DataFrame({"lead_id": ["A", "B", "C", "D"], "scheme": ["x", "x", "y", "x"],
...                       "score": [0.95, 0.5, 0.55, 0.45], "amount_at_risk": [1e5, 1e4, 1e4, 1e4],
...                       "members": ["person:1;person:2", "person:3;person:4", "person:5", "person:6"]})
>>> review_queue(leads, n=3)[["review_rank", "lead_id"]].values.tolist()
[[1, 'B'], [2, 'C'], [3, 'D']]
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["KNOWN_CASES_COLUMNS", "merge_labels", "read_labels", "TablesWithLabels", "review_queue"]

KNOWN_CASES_COLUMNS = ["case_id", "entity_type", "entity_id", "label", "scheme", "closed_on"]
_TYPES = ("person", "physician", "institution")


def read_labels(path: str | Path) -> pd.DataFrame:
    """A labels file (``ringscope labels export``: CSV in the ``known_cases`` shape) checked: the
    required columns present, ``entity_type`` and ``label`` of the contract's values, dates parsable.
    A bad file is a ``ValueError`` naming the row and column."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in ("entity_type", "entity_id", "label") if c not in df.columns]
    if missing:
        raise ValueError(f"labels file {path}: missing column(s) {', '.join(missing)} "
                         f"(the known_cases shape: {', '.join(KNOWN_CASES_COLUMNS)})")
    for col, ok in (("entity_type", _TYPES), ("label", ("fraud", "cleared"))):
        bad = ~df[col].isin(ok)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(f"labels file {path}: row {i + 1}, column {col}: {df[col].iloc[i]!r} "
                             f"(one of {', '.join(ok)})")
    if "closed_on" in df.columns:
        d = pd.to_datetime(df["closed_on"].replace("", None), errors="coerce")
        bad = d.isna() & df["closed_on"].ne("")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(f"labels file {path}: row {i + 1}, column closed_on: {df['closed_on'].iloc[i]!r} "
                             "is not a date")
    if (df["entity_id"] == "").any():
        i = int(np.flatnonzero((df["entity_id"] == "").to_numpy())[0])
        raise ValueError(f"labels file {path}: row {i + 1}, column entity_id: empty")
    if "case_id" not in df.columns:
        df["case_id"] = "label:" + df["entity_type"] + ":" + df["entity_id"] + ":" + df.index.astype(str)
    return df


def merge_labels(known_cases: pd.DataFrame | None, outcomes: pd.DataFrame | None) -> pd.DataFrame:
    """The run's labels: ``known_cases`` with ``outcomes`` by the precedence rule of the module.

    Returns the ``known_cases`` columns plus ``source`` (``known_cases`` or the outcome's source).

    >>> kc = pd.DataFrame({"case_id": ["k1", "k2", "k3"], "entity_type": "person", "entity_id": ["1", "2", "3"],
    ...                    "label": ["cleared", "fraud", "fraud"], "closed_on": ["2023-01-05", "2025-06-01", None]})
    >>> oc = pd.DataFrame({"case_id": ["o1", "o2", "o3", "o4"], "entity_type": "person",
    ...                    "entity_id": ["1", "2", "3", "4"], "label": ["fraud", "cleared", "cleared", "fraud"],
    ...                    "closed_on": ["2025-03-01", "2025-03-01", "2020-01-01", "2025-03-01"],
    ...                    "source": "lead"})
    >>> m = merge_labels(kc, oc)
    >>> m.sort_values("entity_id")[["entity_id", "label", "source"]].values.tolist()
    [['1', 'fraud', 'lead'], ['2', 'fraud', 'known_cases'], ['3', 'cleared', 'lead'], ['4', 'fraud', 'lead']]
    """
    def norm(df: pd.DataFrame | None, source: str) -> pd.DataFrame:
        if df is None or df.empty:
            return pd.DataFrame(columns=[*KNOWN_CASES_COLUMNS, "source", "_at", "_rank"])
        d = df.copy()
        for c in KNOWN_CASES_COLUMNS:
            if c not in d.columns:
                d[c] = None
        d["entity_type"] = d["entity_type"].astype(str)
        d["entity_id"] = d["entity_id"].astype(str)
        d["label"] = d["label"].astype(str).str.lower()
        d["source"] = d["source"].astype(str) if "source" in d.columns else source
        at = pd.to_datetime(d["closed_at"] if "closed_at" in d.columns else d["closed_on"], errors="coerce")
        at = at.fillna(pd.to_datetime(d["closed_on"], errors="coerce"))
        d["_at"] = at.fillna(pd.Timestamp.min)
        d["_rank"] = 0 if source == "known_cases" else 1
        d["closed_on"] = pd.to_datetime(d["closed_on"], errors="coerce").dt.strftime("%Y-%m-%d").where(
            pd.to_datetime(d["closed_on"], errors="coerce").notna(), None)
        return d[[*KNOWN_CASES_COLUMNS, "source", "_at", "_rank"]]

    kc, oc = norm(known_cases, "known_cases"), norm(outcomes, "outcome")
    if oc.empty:
        return kc.drop(columns=["_at", "_rank"]).reset_index(drop=True)
    key = ["entity_type", "entity_id"]
    told = oc[key].drop_duplicates()
    both = pd.concat([kc.merge(told, on=key), oc], ignore_index=True)
    both["_fraud"] = (both["label"] == "fraud").astype(int)
    win = both.sort_values([*key, "_at", "_rank", "_fraud", "case_id"], kind="stable").groupby(key).tail(1)
    rest = kc.merge(told, on=key, how="left", indicator=True)
    rest = rest[rest["_merge"] == "left_only"].drop(columns="_merge")
    out = pd.concat([rest, win.drop(columns="_fraud")], ignore_index=True)
    return out.drop(columns=["_at", "_rank"]).reset_index(drop=True)


class TablesWithLabels(Mapping[str, pd.DataFrame]):
    """The dataset's (lazy) tables with the run's ``known_cases`` replaced by the merged labels.

    Reads every other table from ``base`` on demand, so nothing is loaded that was not before.
    ``overridden`` names the tables held here (``Context.has`` answers for them from this frame,
    not from the engine's view of the dataset's own table)."""

    def __init__(self, base: Mapping[str, pd.DataFrame], known_cases: pd.DataFrame):
        self._base = base
        self._kc = known_cases
        self.overridden = frozenset({"known_cases"})

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self._kc if name == "known_cases" else self._base[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._base
        if "known_cases" not in self._base:
            yield "known_cases"

    def __len__(self) -> int:
        return len(self._base) + (0 if "known_cases" in self._base else 1)

    def __contains__(self, name: object) -> bool:
        return name == "known_cases" or name in self._base


def _members(m: Any) -> frozenset[str]:
    return frozenset(x for x in str(m or "").split(";") if x)


def review_queue(leads: pd.DataFrame, labels: pd.DataFrame | None = None, *, n: int = 20, bar: float = 0.5,
                 amount_weight: float = 0.5, scheme_decay: float = 0.5,
                 closed: set[str] | frozenset[str] = frozenset()) -> pd.DataFrame:
    """The ``n`` leads whose review would teach the models most (method in the module docstring).

    ``leads``: ``lead_id, scheme, score, amount_at_risk, members`` (leads.csv); ``labels``: the
    entities already labelled (``entity_type, entity_id``); ``closed``: lead ids already closed.
    Returns ``review_rank, lead_id, scheme, score, amount_at_risk, uncertainty, amount_weight,
    novelty, priority, gain, reason``, best first.
    """
    cols = ["review_rank", "lead_id", "scheme", "score", "amount_at_risk", "uncertainty", "amount_weight",
            "novelty", "priority", "gain", "reason"]
    if leads is None or leads.empty or n <= 0:
        return pd.DataFrame(columns=cols)
    known = set()
    if labels is not None and len(labels):
        known = set(labels["entity_type"].astype(str) + ":" + labels["entity_id"].astype(str))
    L = leads[~leads["lead_id"].astype(str).isin(set(closed))].copy()
    L["lead_id"] = L["lead_id"].astype(str)
    L = L.sort_values("lead_id", kind="stable").reset_index(drop=True)
    if L.empty:
        return pd.DataFrame(columns=cols)
    p = L["score"].astype(float).clip(0, 1).to_numpy()
    u = 1.0 - np.abs(p - bar) / max(bar, 1.0 - bar)
    amt = L["amount_at_risk"].astype(float).fillna(0.0).clip(lower=0).to_numpy()
    top = np.log1p(amt.max())
    a = np.log1p(amt) / top if top > 0 else np.zeros(len(L))
    mem = [_members(m) for m in L["members"]]
    nov = np.array([(len(m - known) / len(m)) if m else 0.0 for m in mem])
    prio = u * (1.0 - amount_weight + amount_weight * a) * nov
    picked: list[int] = []
    gains: list[float] = []
    per_scheme: dict[str, int] = {}
    schemes = L["scheme"].astype(str).tolist()
    avail = [i for i in range(len(L)) if nov[i] > 0]
    while avail and len(picked) < n:
        best, best_g = -1, -1.0
        for i in avail:   # lead ids ascending: the first of equal gains wins
            overlap = max((len(mem[i] & mem[j]) / len(mem[i] | mem[j]) for j in picked), default=0.0)
            g = prio[i] * scheme_decay ** per_scheme.get(schemes[i], 0) * (1.0 - overlap)
            if g > best_g:
                best, best_g = i, g
        picked.append(best)
        gains.append(best_g)
        per_scheme[schemes[best]] = per_scheme.get(schemes[best], 0) + 1
        avail.remove(best)
    out = L.iloc[picked][["lead_id", "scheme", "score", "amount_at_risk"]].copy()
    out["uncertainty"] = u[picked].round(4)
    out["amount_weight"] = a[picked].round(4)
    out["novelty"] = nov[picked].round(4)
    out["priority"] = prio[picked].round(6)
    out["gain"] = np.round(gains, 6)
    out["review_rank"] = np.arange(1, len(picked) + 1)
    out["reason"] = [f"评分 {s:.2f}（判定线 {bar:.2f}，不确定度 {uu:.2f}），涉案金额权重 {aa:.2f}，"
                     f"{nn:.0%} 成员尚无结论 / score {s:.2f} (bar {bar:.2f}, uncertainty {uu:.2f}), "
                     f"amount weight {aa:.2f}, {nn:.0%} of members unlabelled"
                     for s, uu, aa, nn in zip(out["score"].astype(float), out["uncertainty"], out["amount_weight"],
                                              out["novelty"])]
    return out[cols].reset_index(drop=True)
