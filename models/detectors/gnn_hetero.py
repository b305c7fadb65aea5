"""Supervised heterogeneous GNN for entity fraud probability.

:class:`HeteroGNNDetector` trains :class:`~ringscope.models.learned.nn.HeteroGNN`
full-batch on CPU (no neighbour sampling) on the labelled entities of every
node type together, with a class-weighted binary cross-entropy
(``pos_weight = #cleared / #fraud`` per node type) against the heavy class
imbalance of fraud data, Adam, and early stopping on a validation AUC (a
stratified share of the labels is held out when no validation set is given
and there are enough labels). Scores are sigmoid probabilities.

Explanations are gradient x input saliency (Simonyan et al., 2014; Ancona et
al., ICLR 2018) of the entity's logit: per feature of the entity itself, and
summed per neighbouring node inside the receptive field -- the neighbours
and relations whose inputs moved the score most.
"""
from __future__ import annotations

import io
import time
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from ringscope.models.learned.nn import FeatureScaler, HeteroGNN, seed_everything
from ringscope.models.learned.persist import LearnedDetector
from ringscope.models.learned.neighbour import pu_labels

__all__ = ["HeteroGNNDetector", "split_labels"]


def split_labels(y_dict: dict[str, np.ndarray], frac: float, seed: int
                 ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Stratified hold-out of ``frac`` of the known labels of every type -> (train, val)."""
    rng = np.random.default_rng(seed)
    tr, va = {}, {}
    for t, y in y_dict.items():
        a, b = y.copy(), np.full_like(y, np.nan)
        for c in (0.0, 1.0):
            idx = np.flatnonzero(y == c)
            pick = rng.permutation(idx)[: int(round(frac * len(idx)))]
            a[pick], b[pick] = np.nan, c
        tr[t], va[t] = a, b
    return tr, va


def _auc(y_dict: dict[str, np.ndarray], p_dict: dict[str, np.ndarray]) -> float:
    ys, ps = [], []
    for t, y in y_dict.items():
        m = ~np.isnan(y)
        ys.append(y[m]), ps.append(p_dict[t][m])
    y, p = np.concatenate(ys), np.concatenate(ps)
    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")


class HeteroGNNDetector(LearnedDetector):
    """Heterogeneous GNN (``conv`` = rgcn | sage | gat | hgt), class-weighted, early-stopped.

    The default convolution, R-GCN, was chosen by measurement (``docs/models.md``,
    "Choice of convolution"): on Amazon the four are within 0.002 AUC of each
    other (R-GCN the cheapest), and on a generated city R-GCN ranks ring
    institutions and physicians best.

    Parameters: ``conv``, ``hidden``, ``layers``, ``dropout``, ``lr``,
    ``weight_decay``, ``epochs`` (max), ``patience``, ``val_frac`` (internal
    hold-out when ``fit_data`` gets no validation labels and there are at
    least ``min_val_pos`` frauds to hold out), ``seed``.
    """

    name = "gnn_hetero"
    kind = "learned"
    needs = ("visits",)
    supervised = True     # trains on closed cases: run only with enough labels

    conv: str
    hidden: int
    layers: int
    dropout: float
    lr: float
    weight_decay: float
    epochs: int
    patience: int
    val_frac: float
    min_val_pos: int
    eval_every: int
    unlabeled_weight: float | None
    min_labels: int
    seed: int

    # ------------------------------------------------------------------ graph level
    def _build(self, in_dims: dict[str, int], edge_types: list) -> HeteroGNN:
        p = self.params
        return HeteroGNN(in_dims, edge_types, hidden=p["hidden"], layers=p["layers"], conv=p["conv"],
                         dropout=p["dropout"])

    def _inputs(self, data) -> tuple[dict, dict]:
        x = self.scaler_.transform({t: data[t].x for t in data.node_types})
        ei = {et: data[et].edge_index for et in data.edge_types if tuple(et) in self.edge_types_}
        return x, ei

    def fit_data(self, data, y_dict, val_dict=None) -> HeteroGNNDetector:
        p = self.params
        seed_everything(p["seed"])
        t0 = time.perf_counter()
        n_pos = sum(int(np.nansum(y == 1)) for y in y_dict.values())
        if val_dict is None and n_pos * p["val_frac"] >= p["min_val_pos"]:
            y_dict, val_dict = split_labels(y_dict, p["val_frac"], p["seed"])
        self.edge_types_ = [tuple(et) for et in data.edge_types]
        self.in_dims_ = {t: int(data[t].x.shape[1]) for t in data.node_types}
        self.scaler_ = FeatureScaler().fit({t: data[t].x for t in data.node_types})
        self.model_ = self._build(self.in_dims_, self.edge_types_)
        x, ei = self._inputs(data)
        idx, tgt, pw, wt = {}, {}, {}, {}
        n_known = sum(int((~np.isnan(y)).sum()) for y in y_dict.values())
        for t, y in y_dict.items():
            y, w = pu_labels(y, p["unlabeled_weight"], p["min_labels"] if n_known < p["min_labels"] else 0)
            m = ~np.isnan(y)
            if m.any():
                idx[t] = torch.tensor(np.flatnonzero(m))
                tgt[t] = torch.tensor(y[m], dtype=torch.float32)
                wt[t] = torch.tensor(w[m], dtype=torch.float32)
                pos = float((y[m] == 1).sum())
                pw[t] = torch.tensor(float(w[m][y[m] == 0].sum()) / max(pos, 1.0))
        if not idx:
            raise ValueError("no labelled entities: give known_cases (or y) with fraud and cleared outcomes")
        n_lab = sum(float(w.sum()) for w in wt.values())
        opt = torch.optim.Adam(self.model_.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
        best, best_state, best_epoch, wait = -np.inf, None, 0, 0
        for epoch in range(p["epochs"]):
            self.model_.train()
            opt.zero_grad()
            out = self.model_(x, ei)
            loss = sum(torch.nn.functional.binary_cross_entropy_with_logits(
                out[t][idx[t]], tgt[t], weight=wt[t], pos_weight=pw[t], reduction="sum") for t in idx) / n_lab
            loss.backward()
            opt.step()
            if val_dict is not None and (epoch % p["eval_every"] == 0 or epoch == p["epochs"] - 1):
                auc = _auc(val_dict, self._predict(x, ei))
                if np.isnan(auc):
                    val_dict = None
                    continue
                if auc > best + 1e-4:
                    best, best_epoch, wait = auc, epoch, 0
                    best_state = {k: v.detach().clone() for k, v in self.model_.state_dict().items()}
                else:
                    wait += 1
                    if wait * p["eval_every"] >= p["patience"]:
                        break
        if best_state is not None:
            self.model_.load_state_dict(best_state)
        self.model_.eval()
        self.metrics_ = {"train_seconds": round(time.perf_counter() - t0, 3), "epochs": epoch + 1,
                         "best_epoch": best_epoch, "val_auc": None if best == -np.inf else round(best, 4),
                         "final_loss": round(float(loss.detach()), 5)}
        return self

    def _predict(self, x, ei) -> dict[str, np.ndarray]:
        self.model_.eval()
        with torch.no_grad():
            return {t: torch.sigmoid(v).numpy().astype(float) for t, v in self.model_(x, ei).items()}

    def predict_data(self, data) -> dict[str, np.ndarray]:
        return self._predict(*self._inputs(data))

    def _explain_data(self, data, entity_type: str, index: int, top: int) -> dict[str, Any]:
        x, ei = self._once("inputs", lambda: self._inputs(data))
        x = {t: v.clone().requires_grad_(True) for t, v in x.items()}
        self.model_.eval()
        self.model_(x, ei)[entity_type][index].backward()
        sal = {t: (v.grad * v).detach() for t, v in x.items()}
        own = sal[entity_type][index].numpy()
        names = data[entity_type].feature_names
        raw = data[entity_type].x[index].numpy()
        order = np.argsort(-np.abs(own))[:top]
        feats = [{"feature": names[j], "value": float(raw[j]), "contribution": float(own[j])} for j in order]
        rel = {}
        for (s, r, d) in data.edge_types:
            if d == entity_type:
                e = data[s, r, d].edge_index
                for j in e[0, e[1] == index].tolist():
                    rel.setdefault((s, j), r.removeprefix("rev_"))
        nb = []
        for t, g in sal.items():
            tot = g.sum(1).numpy()
            for j in np.flatnonzero(np.abs(tot) > 0):
                if t == entity_type and j == index:
                    continue
                nb.append({"entity_type": t, "entity_id": data[t].entity_id[j],
                           "relation": rel.get((t, int(j)), "2-hop"), "contribution": float(tot[j])})
        nb.sort(key=lambda r: -abs(r["contribution"]))
        return {"method": "gradient x input", "features": feats, "neighbours": nb[:top]}

    # ------------------------------------------------------------------ persistence
    def _extra_meta(self) -> dict[str, Any]:
        return {"in_dims": self.in_dims_, "edge_types": [list(e) for e in self.edge_types_],
                "scaler": self.scaler_.stats}

    def _state_bytes(self) -> bytes:
        buf = io.BytesIO()
        torch.save(self.model_.state_dict(), buf)
        return buf.getvalue()

    def _load_state(self, blob: bytes, meta: dict[str, Any]) -> None:
        self.in_dims_ = {k: int(v) for k, v in meta["in_dims"].items()}
        self.edge_types_ = [tuple(e) for e in meta["edge_types"]]
        self.scaler_ = FeatureScaler({k: tuple(v) for k, v in meta["scaler"].items()})
        self.model_ = self._build(self.in_dims_, self.edge_types_)
        self.model_.load_state_dict(torch.load(io.BytesIO(blob), weights_only=True))
        self.model_.eval()
