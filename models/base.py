"""The one small interface every detector shares, and the records they emit.

Modelled on PyOD/PyGOD: a detector is configured in ``__init__`` (plain
parameters, no data), learns in :meth:`BaseDetector.fit`, and scores with
:meth:`BaseDetector.decision_function` (higher = more suspicious). Attributes
learnt by ``fit`` end in ``_``.

Rules, graph algorithms, face matching, GNNs and tree models all emit the same
two records:

- :class:`Finding` -- one entity held suspicious, with a score in [0, 1] and
  evidence that can be re-run (the detector, its parameters and the ids
  involved);
- :class:`Group` -- a candidate collusion network (a set of typed members with
  a scheme), which fusion turns into ranked leads.

Every detector reads a :class:`Context`: the validated dataset tables plus
what earlier stages produced (rule hits, face identities, model scores).
Detectors never talk to Neo4j themselves; the graph is already in the tables.
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ENTITY_TYPES",
    "SCHEMES",
    "Context",
    "Finding",
    "Group",
    "BaseDetector",
    "member_key",
    "parse_member",
]

from ringscope.ingest.contract import SCHEMES  # noqa: E402  (one copy of the scheme names)

ENTITY_TYPES = ("person", "physician", "institution")


def member_key(entity_type: str, entity_id: str) -> str:
    """Typed id as used in ``leads.csv``'s members.

    >>> member_key("person", "P001")
    'person:P001'
    """
    return f"{entity_type}:{entity_id}"


def parse_member(key: str) -> tuple[str, str]:
    """>>> parse_member("institution:H03")
    ('institution', 'H03')
    """
    t, _, i = key.partition(":")
    if t not in ENTITY_TYPES or not i:
        raise ValueError(f"bad member {key!r}: want <person|physician|institution>:<id>")
    return t, i


@dataclass
class Context:
    """What a detector may read.

    ``tables`` are the validated contract tables (see
    ``ringscope.ingest.contract`` for dtypes). Later stages fill the rest.
    """

    tables: dict[str, pd.DataFrame]
    rule_hits: pd.DataFrame | None = None          # rule_hits.csv columns + category, violation_class, parties
    # capture-level verification (ingest.faces.verify_captures): capture_id, visit_id,
    # claimed_person_id, distance, related_person_id, related_distance, verdict, face_id
    face_matches: pd.DataFrame | None = None
    # one row per capture: capture_id, face_id, joined with its identity's attributes
    # (n_captures, n_credentials, enrolled_person_id, first_seen, last_seen, institutions)
    face_identities: pd.DataFrame | None = None
    scores: dict[str, pd.DataFrame] = field(default_factory=dict)  # detector -> entity scores
    cache: dict[str, Any] = field(default_factory=dict)            # shared projections

    def table(self, name: str) -> pd.DataFrame:
        """A table, or an empty frame when the optional table is absent."""
        df = self.tables.get(name)
        return df if df is not None else pd.DataFrame()

    def has(self, name: str) -> bool:
        df = self.tables.get(name)
        return df is not None and len(df) > 0


@dataclass
class Finding:
    """One entity held suspicious by one detector."""

    detector: str
    entity_type: str
    entity_id: str
    score: float                 # in [0, 1], higher = worse
    scheme: str = "other"
    reason: str = ""             # short human-readable text
    evidence: dict[str, Any] = field(default_factory=dict)  # JSON-able, re-runnable

    def to_row(self) -> dict[str, Any]:
        d = asdict(self)
        d["evidence"] = json.dumps(self.evidence, ensure_ascii=False, default=str, sort_keys=True)
        return d


@dataclass
class Group:
    """A candidate collusion network found by one detector."""

    detector: str
    scheme: str
    members: list[str]           # typed ids, "person:P1"
    score: float                 # in [0, 1]
    amount_at_risk: float = 0.0
    summary: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    def member_set(self) -> frozenset[str]:
        return frozenset(self.members)

    def to_row(self) -> dict[str, Any]:
        d = asdict(self)
        d["members"] = ";".join(sorted(self.members))
        d["evidence"] = json.dumps(self.evidence, ensure_ascii=False, default=str, sort_keys=True)
        return d


class BaseDetector(ABC):
    """Base class of every detector.

    Subclasses set ``name`` (stable id) and ``scheme``, take their parameters
    as keyword arguments in ``__init__`` and implement :meth:`fit`.
    ``fit`` must set ``decision_scores_``: a DataFrame with columns
    ``entity_type, entity_id, score`` (score in [0, 1], higher = worse) and may
    set ``findings_`` (list of :class:`Finding`) and ``groups_`` (list of
    :class:`Group`).
    """

    name: str = "base"
    scheme: str = "other"

    def __init__(self, **params: Any):
        self.params = params

    def get_params(self) -> dict[str, Any]:
        return dict(self.params)

    @abstractmethod
    def fit(self, ctx: Context, y: pd.DataFrame | None = None) -> BaseDetector:
        """Learn from ``ctx`` (and labels ``y`` if the detector uses them)."""

    def decision_function(self, ctx: Context | None = None) -> pd.DataFrame:
        """Scores (higher = worse). Without ``ctx``, the scores of the fitted data."""
        if ctx is not None:
            self.fit(ctx)
        self._check_fitted()
        return self.decision_scores_

    def fit_predict(self, ctx: Context, threshold: float = 0.5) -> pd.DataFrame:
        s = self.fit(ctx).decision_scores_.copy()
        s["label"] = (s["score"] >= threshold).astype(int)
        return s

    def findings(self) -> list[Finding]:
        self._check_fitted()
        return list(getattr(self, "findings_", []))

    def groups(self) -> list[Group]:
        self._check_fitted()
        return list(getattr(self, "groups_", []))

    def _check_fitted(self) -> None:
        if not hasattr(self, "decision_scores_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


def empty_scores() -> pd.DataFrame:
    return pd.DataFrame({"entity_type": pd.Series(dtype=object), "entity_id": pd.Series(dtype=object),
                         "score": pd.Series(dtype=float)})


def rank_scale(x: pd.Series | np.ndarray) -> np.ndarray:
    """Map raw scores to [0, 1] by rank (ties share a rank); 0 stays 0.

    >>> rank_scale(np.array([0.0, 5.0, 10.0])).round(2).tolist()
    [0.0, 0.5, 1.0]
    """
    a = np.asarray(x, dtype=float)
    out = np.zeros_like(a)
    pos = a > 0
    if pos.any():
        r = pd.Series(a[pos]).rank(method="average").to_numpy()
        out[pos] = r / r.max()
    return out
