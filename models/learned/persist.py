"""Shared plumbing of the learned detectors: labels, scores, persistence.

A learned detector (GNN, graph autoencoder, tree baseline) works at two
levels:

- *graph level* -- ``fit_data(data, y_dict, val_dict=None)`` and
  ``predict_data(data)`` on a PyG ``HeteroData`` with per node type label
  vectors (``nan`` = unknown). The public benchmarks use this level;
- *dataset level* -- :meth:`LearnedDetector.fit` takes a :class:`Context`,
  builds the features and the ``HeteroData`` (``models.features``), reads
  labels from ``known_cases`` (fraud = 1, cleared = 0, everyone else
  unknown) and fills ``decision_scores_`` for every person, physician and
  institution.

``save(path)`` writes a directory: ``model.bin`` (weights or booster),
``meta.json`` (class, version, seed, parameters, feature names, metrics,
scaler) and ``scores.csv``; :func:`load` rebuilds the detector from it, and
scoring the same data gives the same scores.
"""
from __future__ import annotations

import json
from abc import abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ringscope.models.base import ENTITY_TYPES, BaseDetector, Context
from ringscope.models.learned.features import build_features, labels_from_cases, to_hetero_data

__all__ = ["MODEL_FORMAT_VERSION", "LearnedDetector", "load", "labels_to_dict"]

MODEL_FORMAT_VERSION = "1"


def labels_to_dict(data, labels: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per node type float label vectors aligned to ``data[t].entity_id`` (nan = unknown)."""
    out = {}
    for t in data.node_types:
        ids = pd.Index(data[t].entity_id)
        y = np.full(len(ids), np.nan)
        lt = labels[labels["entity_type"] == t]
        pos = ids.get_indexer(lt["entity_id"].astype(str))
        ok = pos >= 0
        y[pos[ok]] = lt["label"].to_numpy(float)[ok]
        out[t] = y
    return out


class LearnedDetector(BaseDetector):
    """Base of the learned detectors (see module docstring)."""

    name = "learned"
    scheme = "other"

    # ---- graph level (subclasses)
    @abstractmethod
    def fit_data(self, data, y_dict: dict[str, np.ndarray],
                 val_dict: dict[str, np.ndarray] | None = None) -> LearnedDetector: ...

    @abstractmethod
    def predict_data(self, data) -> dict[str, np.ndarray]: ...

    @abstractmethod
    def _explain_data(self, data, entity_type: str, index: int, top: int) -> dict[str, Any]: ...

    @abstractmethod
    def _state_bytes(self) -> bytes: ...

    @abstractmethod
    def _load_state(self, blob: bytes, meta: dict[str, Any]) -> None: ...

    # ---- dataset level
    def prepare(self, ctx: Context):
        """Features and graph of ``ctx``; aligned to the fitted feature columns when fitted."""
        if getattr(self, "feature_names_", None):
            feats = build_features(ctx).align(self.feature_names_)
            return feats, to_hetero_data(ctx, feats)
        # every learned model of a run reads the same export: built once per context
        if "learned:export" not in ctx.cache:
            feats = build_features(ctx)
            ctx.cache["learned:export"] = (feats, to_hetero_data(ctx, feats))
        return ctx.cache["learned:export"]

    def fit(self, ctx: Context, y: pd.DataFrame | None = None) -> LearnedDetector:
        feats, data = self.prepare(ctx)
        self.feature_names_ = {t: feats.names(t) for t in ENTITY_TYPES}
        labels = labels_from_cases(ctx, y)
        self.n_labels_ = {t: {"fraud": int((labels.query("entity_type == @t")["label"] == 1).sum()),
                              "cleared": int((labels.query("entity_type == @t")["label"] == 0).sum())}
                          for t in ENTITY_TYPES}
        self.fit_data(data, labels_to_dict(data, labels))
        self.data_ = data
        self.decision_scores_ = self._scores_frame(data, self.predict_data(data))
        return self

    def decision_function(self, ctx: Context | None = None) -> pd.DataFrame:
        """Scores of ``ctx`` by the fitted model (PyOD semantics: no refit); default the fitted data."""
        self._check_fitted()
        if ctx is None:
            return self.decision_scores_
        _, data = self.prepare(ctx)
        return self._scores_frame(data, self.predict_data(data))

    @staticmethod
    def _scores_frame(data, scores: dict[str, np.ndarray]) -> pd.DataFrame:
        parts = [pd.DataFrame({"entity_type": t, "entity_id": data[t].entity_id,
                               "score": np.clip(np.asarray(scores[t], float), 0.0, 1.0)})
                 for t in data.node_types]
        return pd.concat(parts, ignore_index=True)

    def explain(self, entity_type: str, entity_id: str, top: int = 8,
                ctx: Context | None = None) -> dict[str, Any]:
        """Why an entity scored as it did: top features and the neighbours that drove it.

        Returns ``{"entity_type", "entity_id", "score", "features": [{"feature",
        "value", "contribution"}...], "neighbours": [{"entity_type",
        "entity_id", "relation", "contribution"}...]}``.
        """
        self._check_fitted()
        data = self.prepare(ctx)[1] if ctx is not None else getattr(self, "data_", None)
        if data is None:
            raise RuntimeError("a loaded model needs the dataset: explain(..., ctx=ctx)")
        if ctx is not None:
            self.data_ = data
        ids = pd.Index(data[entity_type].entity_id)
        if str(entity_id) not in ids:
            raise KeyError(f"unknown {entity_type} {entity_id!r}")
        i = int(ids.get_loc(str(entity_id)))
        out = self._explain_data(data, entity_type, i, top)
        sc = self.decision_scores_
        row = sc[(sc["entity_type"] == entity_type) & (sc["entity_id"] == str(entity_id))]
        return {"entity_type": entity_type, "entity_id": str(entity_id),
                "score": float(row["score"].iloc[0]) if len(row) else float("nan"), **out}

    def explain_many(self, entities, top: int = 8, ctx: Context | None = None) -> list[dict[str, Any]]:
        """:meth:`explain` for several ``(entity_type, entity_id)`` pairs, the work they
        share (forward pass, feature matrix, all scores) done once. Unknown entities
        are skipped; each dict also names the ``model``."""
        self._check_fitted()
        data = self.prepare(ctx)[1] if ctx is not None else getattr(self, "data_", None)
        if data is None:
            raise RuntimeError("a loaded model needs the dataset: explain_many(..., ctx=ctx)")
        self.data_ = data
        sc = self.decision_scores_.set_index(["entity_type", "entity_id"])["score"]
        index = {t: pd.Index(data[t].entity_id) for t in data.node_types}
        self._xcache = {}
        out = []
        try:
            for t, eid in entities:
                ids = index.get(t)
                if ids is None or str(eid) not in ids:
                    continue
                i = int(ids.get_loc(str(eid)))
                rec = self._explain_data(data, t, i, top)
                score = sc.get((t, str(eid)))
                out.append({"model": self.name, "entity_type": t, "entity_id": str(eid),
                            "score": None if score is None or pd.isna(score) else float(score), **rec})
        finally:
            self._xcache = None
        return out

    def _once(self, key: str, fn):
        """``fn()`` computed once per :meth:`explain_many` call (every time otherwise)."""
        cache = getattr(self, "_xcache", None)
        if cache is None:
            return fn()
        if key not in cache:
            cache[key] = fn()
        return cache[key]

    # ---- persistence
    def metadata(self) -> dict[str, Any]:
        return {"class": type(self).__name__, "module": type(self).__module__,
                "format_version": MODEL_FORMAT_VERSION, "params": self.get_params(),
                "seed": self.params.get("seed"), "feature_names": getattr(self, "feature_names_", None),
                "n_labels": getattr(self, "n_labels_", None), "metrics": getattr(self, "metrics_", {}),
                **self._extra_meta()}

    def _extra_meta(self) -> dict[str, Any]:
        return {}

    def save(self, path: str | Path) -> Path:
        """Write ``model.bin``, ``meta.json`` and ``scores.csv`` under directory ``path``."""
        self._check_fitted()
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        (p / "model.bin").write_bytes(self._state_bytes())
        (p / "meta.json").write_text(json.dumps(self.metadata(), indent=1, default=_jsonable), encoding="utf-8")
        self.decision_scores_.to_csv(p / "scores.csv", index=False)
        return p


def _jsonable(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def load(path: str | Path) -> LearnedDetector:
    """Rebuild a detector written by :meth:`LearnedDetector.save`."""
    import importlib

    p = Path(path)
    meta = json.loads((p / "meta.json").read_text(encoding="utf-8"))
    if meta.get("format_version") != MODEL_FORMAT_VERSION:
        raise ValueError(f"{p}: model format {meta.get('format_version')} != {MODEL_FORMAT_VERSION}")
    cls = getattr(importlib.import_module(meta["module"]), meta["class"])
    det = cls(**meta["params"])
    det.feature_names_ = meta.get("feature_names")
    det.n_labels_ = meta.get("n_labels")
    det.metrics_ = meta.get("metrics", {})
    det._load_state((p / "model.bin").read_bytes(), meta)
    det.decision_scores_ = pd.read_csv(p / "scores.csv", dtype={"entity_id": str})
    return det
