"""The one small interface every detector shares, and the records they emit.

Modelled on scikit-learn and PyOD/PyGOD: a detector *declares* its parameters
once, as typed class attributes with defaults (``min_size: int = 3``); they
become keyword arguments of the constructor, are validated against their
types, and are read back with :meth:`BaseDetector.get_params` and changed with
:meth:`BaseDetector.set_params` (unknown names are errors). It learns in
:meth:`BaseDetector.fit`; attributes learnt by ``fit`` end in ``_``;
:meth:`BaseDetector.decision_function` returns the fitted scores (higher = more
suspicious) and never refits.

Each detector also declares what it is, for the registry
(:mod:`ringscope.models.registry`) and fusion: ``name`` (stable id, the key of
its configuration section), ``scheme``, ``kind`` (``face``, ``rule``,
``graph``, ``warning`` or ``learned``: the pipeline's stage and fusion's
weight family) and ``needs`` (contract tables that must be present for it to run).

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

import copy
import functools
import json
import typing
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

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

from ringscope.graph.context import Context  # noqa: E402  (what a detector reads)
from ringscope.ingest.vocab import ENTITY_TYPES, SCHEMES, member_key, parse_member  # noqa: E402


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

    Subclasses set the class variables ``name``, ``scheme``, ``kind`` and
    ``needs``, declare their parameters as annotated class attributes with
    defaults, and implement :meth:`fit`. ``fit`` must set ``decision_scores_``:
    a DataFrame with columns ``entity_type, entity_id, score`` (score in
    [0, 1], higher = worse) and may set ``findings_`` (list of
    :class:`Finding`) and ``groups_`` (list of :class:`Group`).

    >>> class Tiny(BaseDetector):
    ...     name = "tiny"
    ...     min_size: int = 3
    ...     def fit(self, ctx, y=None):
    ...         self.decision_scores_ = empty_scores()
    ...         return self
    >>> Tiny(min_size=5).get_params()
    {'min_size': 5}
    >>> Tiny(min_sise=5)
    Traceback (most recent call last):
    ...
    TypeError: Tiny has no parameter 'min_sise' (its parameters: min_size)
    """

    name: ClassVar[str] = "base"
    scheme: ClassVar[str] = "other"
    kind: ClassVar[str] = "graph"
    needs: ClassVar[tuple[str, ...]] = ()
    corroborates: ClassVar[bool] = False   # its groups only corroborate other detectors' leads
    supervised: ClassVar[bool] = False     # learned from closed cases (run only with enough labels)

    def __init__(self, **params: Any):
        specs = self.param_specs()
        for k in params:
            if k not in specs:
                raise TypeError(f"{type(self).__name__} has no parameter {k!r} "
                                f"(its parameters: {', '.join(specs) or 'none'})")
        for k, (_, default) in specs.items():
            setattr(self, k, self._check(k, params[k] if k in params else copy.deepcopy(default)))

    # ------------------------------------------------------------------ parameters
    @classmethod
    def param_specs(cls) -> dict[str, tuple[Any, Any]]:
        """``{name: (type, default)}`` of the declared parameters (annotated class attributes).

        A built-in detector's defaults live in ``models/defaults.yaml`` (section
        ``detectors.<name>``), the one file of defaults; a detector without a
        section there (one of your own) gives them in the class body.
        """
        cached = cls.__dict__.get("_param_specs_cache")
        if cached is not None:
            return cached
        hints = typing.get_type_hints(cls)
        section = load_defaults()["detectors"].get(cls.name) or {}
        specs: dict[str, tuple[Any, Any]] = {}
        for klass in reversed(cls.__mro__):
            for k in getattr(klass, "__annotations__", {}):
                if k.startswith("_") or k.endswith("_") or k not in hints:
                    continue
                t = hints[k]
                if typing.get_origin(t) is ClassVar:
                    continue
                if k in section:
                    default = section[k]
                elif hasattr(cls, k):
                    default = getattr(cls, k)
                else:
                    raise TypeError(f"{cls.__name__}.{k} has no default (models/defaults.yaml, "
                                    f"detectors.{cls.name}.{k}, or the class body)")
                specs[k] = (t, default)
        cls._param_specs_cache = specs
        return specs

    def _check(self, key: str, value: Any) -> Any:
        from pydantic import TypeAdapter, ValidationError

        t = self.param_specs()[key][0]
        try:
            return TypeAdapter(t).validate_python(value)
        except ValidationError as e:
            msg = e.errors()[0].get("msg", str(e))
            raise TypeError(f"{type(self).__name__}.{key}: {value!r} is not a valid {_type_name(t)} ({msg})") from None

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        """The parameters as set (scikit-learn's ``get_params``)."""
        return {k: getattr(self, k) for k in self.param_specs()}

    def set_params(self, **params: Any) -> BaseDetector:
        """Change parameters (validated; unknown names are errors); returns ``self``."""
        specs = self.param_specs()
        for k, v in params.items():
            if k not in specs:
                raise TypeError(f"{type(self).__name__} has no parameter {k!r} "
                                f"(its parameters: {', '.join(specs) or 'none'})")
            setattr(self, k, self._check(k, v))
        return self

    @property
    def params(self) -> dict[str, Any]:
        """The parameters as a dict (read-only view of :meth:`get_params`)."""
        return self.get_params()

    # ------------------------------------------------------------------ fitting
    @abstractmethod
    def fit(self, ctx: Context, y: pd.DataFrame | None = None) -> BaseDetector:
        """Learn from ``ctx`` (and labels ``y`` if the detector uses them)."""

    def decision_function(self, ctx: Context | None = None) -> pd.DataFrame:
        """Scores of the fitted data (higher = worse); never refits.

        Most detectors are transductive (they score the graph they were fitted
        on); those that can score new data without refitting (the learned
        models) override this to accept ``ctx``.
        """
        self._check_fitted()
        if ctx is not None:
            raise NotImplementedError(f"{type(self).__name__} scores the data it was fitted on: "
                                      "call fit(ctx) on the new data")
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
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


DEFAULTS_PATH = Path(__file__).resolve().with_name("defaults.yaml")


@functools.lru_cache(maxsize=1)
def _defaults_text() -> str:
    return DEFAULTS_PATH.read_text(encoding="utf-8")


def load_defaults() -> dict[str, Any]:
    """``models/defaults.yaml``: the defaults of every parameter of a detection run (a fresh copy)."""
    import yaml

    return yaml.safe_load(_defaults_text())


def _type_name(t: Any) -> str:
    return getattr(t, "__name__", None) or str(t).replace("typing.", "")


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
