"""Gradient-boosted trees on neighbour-aggregated features (GADBench's strong baseline).

Tang et al., *GADBench: Revisiting and Benchmarking Supervised Graph Anomaly
Detection* (NeurIPS 2023) found tree ensembles on a node's own features plus
aggregates of its neighbours' features (RF-Graph / XGB-Graph) hard to beat by
GNNs. :func:`neighbour_features` builds, for every node type and every
incoming relation ``(src, rel, dst)``: the mean and the max of the source
nodes' features and the log degree; with ``hops=2`` the aggregation is
repeated once over the 1-hop aggregates.

:class:`NeighbourXGBDetector` fits one ``xgboost.XGBClassifier`` (``hist``
trees, ``scale_pos_weight`` = #cleared / #fraud) on all labelled entities of
all types at once: columns are namespaced by type (``person:age``) and are
missing (NaN, routed by xgboost's learnt default direction) for the other
types, with a one-hot of the type, so a node type without labels still gets
a score. Explanations are exact tree SHAP values (Lundberg et al., *From
local explanations to global understanding with explainable AI for trees*,
Nat. Mach. Intell. 2020) from ``pred_contribs``; the neighbours named are
those of the relations whose aggregated columns contributed most, ranked by
their own score.
"""
from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pandas as pd

from ringscope.models.learned.persist import LearnedDetector

from ringscope.models.learned.neighbour import neighbour_features, pu_labels

__all__ = ["NeighbourXGBDetector"]


class NeighbourXGBDetector(LearnedDetector):
    """XGBoost on own + neighbour-aggregated features (``hops`` 1 or 2).

    ``unlabeled_weight`` / ``min_labels``: see :func:`pu_labels`.
    """

    name = "xgb_neighbour"
    kind = "learned"
    needs = ("visits",)
    supervised = True     # trains on closed cases: run only with enough labels

    hops: int
    n_estimators: int
    max_depth: int
    learning_rate: float
    subsample: float
    colsample_bytree: float
    n_jobs: int
    seed: int
    early_stopping_rounds: int
    unlabeled_weight: float | None
    min_labels: int

    def _matrix(self, data) -> tuple[pd.DataFrame, pd.Series]:
        """Pooled design matrix over all node types (namespaced columns) and each row's type."""
        feats = neighbour_features(data, self.params["hops"])
        parts = []
        for t, f in feats.items():
            g = f.add_prefix(f"{t}:")
            g[f"type:{t}"] = 1.0
            g["_type"], g["_row"] = t, np.arange(len(f))
            parts.append(g)
        m = pd.concat(parts, ignore_index=True)
        if getattr(self, "columns_", None) is not None:
            m = m.reindex(columns=self.columns_ + ["_type", "_row"])
        for c in m.columns:
            if c.startswith("type:"):
                m[c] = m[c].fillna(0.0)
        return m.drop(columns=["_type", "_row"]).astype(np.float32), m["_type"]

    def _booster_params(self, pos_weight: float) -> dict[str, Any]:
        p = self.params
        return dict(tree_method="hist", n_jobs=p["n_jobs"], n_estimators=p["n_estimators"],
                    max_depth=p["max_depth"], learning_rate=p["learning_rate"], subsample=p["subsample"],
                    colsample_bytree=p["colsample_bytree"], random_state=p["seed"], eval_metric="auc",
                    scale_pos_weight=pos_weight)

    def fit_data(self, data, y_dict, val_dict=None) -> NeighbourXGBDetector:
        from xgboost import XGBClassifier

        t0 = time.perf_counter()
        self.columns_ = None
        X, types = self._matrix(data)
        self.columns_ = list(X.columns)
        y = np.concatenate([y_dict.get(t, np.full(data[t].num_nodes, np.nan)) for t in data.node_types])
        y, w = pu_labels(y, self.params["unlabeled_weight"], self.params["min_labels"])
        m = ~np.isnan(y)
        if m.sum() == 0 or len(np.unique(y[m])) < 2:
            raise ValueError("the tree baseline needs labelled frauds and cleared entities (known_cases)")
        pos = float((y[m] == 1).sum())
        kw = self._booster_params(float(w[m][y[m] == 0].sum()) / pos)
        fit_kw = {}
        if val_dict is not None:
            yv = np.concatenate([val_dict.get(t, np.full(data[t].num_nodes, np.nan)) for t in data.node_types])
            mv = ~np.isnan(yv)
            if mv.any() and len(np.unique(yv[mv])) == 2:
                kw["early_stopping_rounds"] = self.params["early_stopping_rounds"]
                fit_kw["eval_set"] = [(X[mv], yv[mv])]
                fit_kw["verbose"] = False
        self.model_ = XGBClassifier(**kw)
        self.model_.fit(X[m], y[m], sample_weight=w[m], **fit_kw)
        self.metrics_ = {"train_seconds": round(time.perf_counter() - t0, 3), "n_train": int(m.sum()),
                         "best_iteration": getattr(self.model_, "best_iteration", None)}
        return self

    def predict_data(self, data) -> dict[str, np.ndarray]:
        X, types = self._matrix(data)
        p = self.model_.predict_proba(X)[:, 1]
        return {t: p[(types == t).to_numpy()] for t in data.node_types}

    def _explain_data(self, data, entity_type: str, index: int, top: int) -> dict[str, Any]:
        from xgboost import DMatrix

        X, types = self._once("matrix", lambda: self._matrix(data))
        row = X[(types == entity_type).to_numpy()].iloc[[index]]
        contrib = self.model_.get_booster().predict(DMatrix(row), pred_contribs=True)[0][:-1]
        s = pd.Series(contrib, index=X.columns)
        s = s[s != 0]
        top_f = s.reindex(s.abs().sort_values(ascending=False).index)[:top]
        feats = [{"feature": c.split(":", 1)[1], "value": float(row[c].iloc[0]), "contribution": float(v)}
                 for c, v in top_f.items()]
        # relations: sum of contributions of their aggregated columns
        rel_contrib: dict[str, float] = {}
        for c, v in s.items():
            parts = c.split(":")
            if len(parts) >= 3 and parts[1] not in ("type",):
                rel = parts[2] if parts[1].startswith("h") and parts[1][1:].isdigit() else parts[1]
                rel_contrib[rel] = rel_contrib.get(rel, 0.0) + float(v)
        scores = self._once("scores", lambda: self.predict_data(data))
        nb = []
        for (src, r, d) in data.edge_types:
            if d != entity_type or r not in rel_contrib:
                continue
            e = data[src, r, d].edge_index
            js = e[0, e[1] == index].numpy()
            for j in js[np.argsort(-scores[src][js])][:top]:
                nb.append({"entity_type": src, "entity_id": data[src].entity_id[j], "relation": r.removeprefix("rev_"),
                           "relation_contribution": rel_contrib[r], "neighbour_score": float(scores[src][j])})
        nb.sort(key=lambda r: (-r["relation_contribution"], -r["neighbour_score"]))
        return {"method": "tree SHAP (xgboost pred_contribs)", "features": feats, "neighbours": nb[:top],
                "relations": dict(sorted(rel_contrib.items(), key=lambda kv: -abs(kv[1])))}

    def _extra_meta(self) -> dict[str, Any]:
        return {"columns": self.columns_}

    def _state_bytes(self) -> bytes:
        return bytes(self.model_.get_booster().save_raw("json"))

    def _load_state(self, blob: bytes, meta: dict[str, Any]) -> None:
        from xgboost import XGBClassifier

        self.columns_ = meta["columns"]
        self.model_ = XGBClassifier()
        self.model_.load_model(bytearray(blob))
        json.dumps(self.columns_)
