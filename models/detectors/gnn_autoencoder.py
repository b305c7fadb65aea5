"""Few-label detector: a heterogeneous graph autoencoder, steered by a handful of cases.

Unsupervised part -- DOMINANT (Ding et al., *Deep Anomaly Detection on
Attributed Networks*, SDM 2019) generalised to typed graphs: the
:class:`~ringscope.models.learned.nn.HeteroGNN` encoder embeds every node, an
attribute decoder per node type reconstructs its (scaled) features and a
bilinear structure decoder per relation scores edges against random
negative edges (as in GAE, Kipf & Welling 2016). A node's anomaly score is
``alpha`` x its attribute reconstruction error + ``(1 - alpha)`` x the mean
reconstruction error of its own edges, both rank-scaled within its type.

Few-label part -- when some cases are known, the embeddings also give a
prototype score (Snell et al., *Prototypical Networks*, NeurIPS 2017): the
cosine similarity to the nearest known fraud minus that to the nearest
cleared entity of the same type. The final score is the rank average of the
unsupervised and the prototype scores (``proto_weight``), which needs no
more than one labelled fraud and does not overfit a handful of labels.
"""
from __future__ import annotations

import io
import time
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ringscope.models.learned.nn import FeatureScaler, HeteroGNN, seed_everything
from ringscope.models.learned.persist import LearnedDetector

__all__ = ["GraphAEDetector"]


def _rank01(a: np.ndarray) -> np.ndarray:
    if len(a) == 0:
        return a
    r = pd.Series(a).rank(method="average").to_numpy()
    return (r - 1) / max(len(a) - 1, 1)


class _GAE(nn.Module):
    def __init__(self, in_dims: dict[str, int], edge_types: list, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.enc = HeteroGNN(in_dims, edge_types, hidden=hidden, layers=layers, conv="sage", dropout=dropout)
        emb = hidden * (layers + 1)
        self.attr = nn.ModuleDict({t: nn.Sequential(nn.Linear(emb, hidden), nn.ReLU(), nn.Linear(hidden, d))
                                   for t, d in in_dims.items()})
        self.proj = nn.ModuleDict({t: nn.Linear(emb, hidden) for t in in_dims})

    def forward(self, x, ei):
        z = self.enc.embed(x, ei)
        return z, {t: self.attr[t](v) for t, v in z.items()}, {t: self.proj[t](v) for t, v in z.items()}


class GraphAEDetector(LearnedDetector):
    """Graph autoencoder anomaly score (+ prototype score from a handful of labels)."""

    name = "gnn_autoencoder"
    kind = "learned"
    needs = ("visits",)
    supervised = False

    hidden: int
    layers: int
    dropout: float
    lr: float
    epochs: int
    alpha: float
    proto_weight: float
    seed: int

    def _inputs(self, data):
        x = self.scaler_.transform({t: data[t].x for t in data.node_types})
        ei = {et: data[et].edge_index for et in data.edge_types
              if tuple(et) in self.edge_types_ and data[et].edge_index.numel()}
        return x, ei

    def _struct_logits(self, h, ei, neg: bool, gen: torch.Generator | None = None):
        out = {}
        for (s, r, d), e in ei.items():
            src, dst = e[0], e[1]
            if neg:
                dst = torch.randint(0, h[d].shape[0], (e.shape[1],), generator=gen)
            out[(s, r, d)] = (h[s][src] * h[d][dst]).sum(-1)
        return out

    def fit_data(self, data, y_dict, val_dict=None) -> GraphAEDetector:
        p = self.params
        seed_everything(p["seed"])
        t0 = time.perf_counter()
        self.edge_types_ = [tuple(et) for et in data.edge_types]
        self.in_dims_ = {t: int(data[t].x.shape[1]) for t in data.node_types}
        self.scaler_ = FeatureScaler().fit({t: data[t].x for t in data.node_types})
        self.model_ = _GAE(self.in_dims_, self.edge_types_, p["hidden"], p["layers"], p["dropout"])
        x, ei = self._inputs(data)
        gen = torch.Generator().manual_seed(p["seed"])
        opt = torch.optim.Adam(self.model_.parameters(), lr=p["lr"])
        bce = nn.functional.binary_cross_entropy_with_logits
        for _ in range(p["epochs"]):
            self.model_.train()
            opt.zero_grad()
            _, xr, h = self.model_(x, ei)
            la = sum(((xr[t] - x[t]) ** 2).mean() for t in x) / len(x)
            pos, neg = self._struct_logits(h, ei, False), self._struct_logits(h, ei, True, gen)
            ls = sum(bce(pos[k], torch.ones_like(pos[k])) + bce(neg[k], torch.zeros_like(neg[k]))
                     for k in pos) / max(len(pos), 1)
            loss = p["alpha"] * la + (1 - p["alpha"]) * ls
            loss.backward()
            opt.step()
        self.model_.eval()
        # prototypes from labels (train + validation labels alike: no early stopping here)
        self.labels_ = {}
        for t, y in y_dict.items():
            yy = y.copy()
            if val_dict is not None and t in val_dict:
                m = ~np.isnan(val_dict[t])
                yy[m] = val_dict[t][m]
            self.labels_[t] = yy
        self.metrics_ = {"train_seconds": round(time.perf_counter() - t0, 3), "final_loss": round(float(loss.detach()), 5),
                         "n_fraud_prototypes": int(sum(np.nansum(v == 1) for v in self.labels_.values()))}
        return self

    def components(self, data) -> dict[str, pd.DataFrame]:
        """Per node type: attribute error, structure error, prototype similarity (raw)."""
        x, ei = self._inputs(data)
        with torch.no_grad():
            z, xr, h = self.model_(x, ei)
            pos = self._struct_logits(h, ei, False)
        out = {}
        for t in data.node_types:
            n = data[t].num_nodes
            attr = ((xr[t] - x[t]) ** 2).sum(1).numpy()
            err, cnt = np.zeros(n), np.zeros(n)
            for (s, r, d), lg in pos.items():
                e = ei[(s, r, d)]
                loss = nn.functional.softplus(-lg).numpy()  # -log sigmoid
                for side, who in ((s, e[0]), (d, e[1])):
                    if side == t:
                        np.add.at(err, who.numpy(), loss)
                        np.add.at(cnt, who.numpy(), 1)
            struct = np.divide(err, cnt, out=np.zeros(n), where=cnt > 0)
            proto = np.full(n, np.nan)
            y = getattr(self, "labels_", {}).get(t)
            if y is not None and (y == 1).any():
                zz = nn.functional.normalize(z[t], dim=1)
                sim_f = (zz @ zz[torch.tensor(np.flatnonzero(y == 1))].T).max(1).values.numpy()
                sim_c = ((zz @ zz[torch.tensor(np.flatnonzero(y == 0))].T).max(1).values.numpy()
                         if (y == 0).any() else 0.0)
                proto = sim_f - sim_c
            out[t] = pd.DataFrame({"attr_error": attr, "struct_error": struct, "prototype": proto})
        return out

    def predict_data(self, data) -> dict[str, np.ndarray]:
        a, w = self.params["alpha"], self.params["proto_weight"]
        res = {}
        for t, c in self.components(data).items():
            u = a * _rank01(c["attr_error"].to_numpy()) + (1 - a) * _rank01(c["struct_error"].to_numpy())
            s = _rank01(u)
            if c["prototype"].notna().all():
                s = (1 - w) * s + w * _rank01(c["prototype"].to_numpy())
            res[t] = s
        return res

    def _explain_data(self, data, entity_type: str, index: int, top: int) -> dict[str, Any]:
        def forward():
            x, ei = self._inputs(data)
            with torch.no_grad():
                return x, self.model_(x, ei)[1]

        x, xr = self._once("forward", forward)
        err = ((xr[entity_type][index] - x[entity_type][index]) ** 2).numpy()
        names = data[entity_type].feature_names
        raw = data[entity_type].x[index].numpy()
        order = np.argsort(-err)[:top]
        feats = [{"feature": names[j], "value": float(raw[j]), "contribution": float(err[j])} for j in order]
        sc = self._once("scores", lambda: self.predict_data(data))
        nb = []
        for (s, r, d) in data.edge_types:
            if d != entity_type:
                continue
            e = data[s, r, d].edge_index
            for j in e[0, e[1] == index].tolist():
                nb.append({"entity_type": s, "entity_id": data[s].entity_id[j], "relation": r.removeprefix("rev_"),
                           "neighbour_score": float(sc[s][j])})
        nb.sort(key=lambda r: -r["neighbour_score"])
        comp = self._once("components", lambda: self.components(data))[entity_type].iloc[index].to_dict()
        return {"method": "attribute reconstruction error per feature; most anomalous neighbours",
                "features": feats, "neighbours": nb[:top],
                "components": {k: (None if pd.isna(v) else float(v)) for k, v in comp.items()}}

    def _extra_meta(self) -> dict[str, Any]:
        return {"in_dims": self.in_dims_, "edge_types": [list(e) for e in self.edge_types_],
                "scaler": self.scaler_.stats}

    def _state_bytes(self) -> bytes:
        buf = io.BytesIO()
        torch.save({"model": self.model_.state_dict(),
                    "labels": {t: torch.tensor(v) for t, v in self.labels_.items()}}, buf)
        return buf.getvalue()

    def _load_state(self, blob: bytes, meta: dict[str, Any]) -> None:
        p = self.params
        self.in_dims_ = {k: int(v) for k, v in meta["in_dims"].items()}
        self.edge_types_ = [tuple(e) for e in meta["edge_types"]]
        self.scaler_ = FeatureScaler({k: tuple(v) for k, v in meta["scaler"].items()})
        self.model_ = _GAE(self.in_dims_, self.edge_types_, p["hidden"], p["layers"], p["dropout"])
        st = torch.load(io.BytesIO(blob), weights_only=True)
        self.model_.load_state_dict(st["model"])
        self.labels_ = {t: v.numpy() for t, v in st["labels"].items()}
        self.model_.eval()
