"""Heterogeneous message-passing backbone shared by the learned graph models.

One module, :class:`HeteroGNN`, takes ``x_dict, edge_index_dict`` (PyG
convention) and returns per node type embeddings and a fraud logit. The
convolution per relation is selectable so the choice can be made by
measurement (``docs/models.md``):

- ``sage``: GraphSAGE mean aggregation with a separate root weight
  (Hamilton et al., *Inductive Representation Learning on Large Graphs*,
  NeurIPS 2017) -- keeps a node's own signal apart from its neighbours',
  which matters on heterophilous fraud graphs (fraudsters camouflage among
  benign neighbours; Dou et al., CARE-GNN, CIKM 2020);
- ``rgcn``: R-GCN (Schlichtkrull et al., ESWC 2018) with PyG's reference
  ``RGCNConv`` on the graph made homogeneous: one root weight, per-relation
  weights with the basis decomposition of the paper (``num_bases`` = 4 when
  there are more than 4 relations), mean-normalised per relation
  (``c_{i,r} = |N_r(i)|``). Without the basis decomposition this would be the
  same function as ``sage`` (a per-relation mean, a linear map, summed over
  relations, plus a root term): an earlier ``GraphConv`` version was exactly
  that, and gave bit-identical results to ``sage``;
- ``gat``: relation-specific attention (Velickovic et al., ICLR 2018);
- ``hgt``: the Heterogeneous Graph Transformer (Hu et al., WWW 2020).

Relations are combined with ``HeteroConv`` (sum), each layer is residual
with layer-norm, and the head reads the concatenation of all layers
(jumping knowledge, Xu et al., ICML 2018). One head is shared by all node
types so that types without labels still get a calibrated score.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch_geometric.nn import GATConv, HeteroConv, HGTConv, RGCNConv, SAGEConv

# Intra-op threads: one by default. On small full-batch graphs the OpenMP pool
# gains little, and when other processes share the cores (a database server,
# the rules, CI) its spinning threads made a 2,000-person city's autoencoder
# 15x slower (49 s against 3.3 s for 20 epochs, measured on 2 cores at load 8).
# RINGSCOPE_TORCH_THREADS=N gives it more.
import os as _os

torch.set_num_threads(max(1, int(_os.environ.get("RINGSCOPE_TORCH_THREADS", "1"))))

__all__ = ["HeteroGNN", "FeatureScaler", "CONVS"]

CONVS = ("sage", "rgcn", "gat", "hgt")
EdgeType = tuple[str, str, str]


class FeatureScaler:
    """Signed log1p then per-column standardisation, per node type (fitted on all nodes)."""

    def __init__(self, stats: dict[str, tuple[list[float], list[float]]] | None = None):
        self.stats = stats or {}

    def fit(self, x_dict: dict[str, torch.Tensor]) -> FeatureScaler:
        for t, x in x_dict.items():
            z = torch.sign(x) * torch.log1p(x.abs())
            mu, sd = z.mean(0), z.std(0, unbiased=False)
            sd = torch.where(sd > 1e-9, sd, torch.ones_like(sd))
            self.stats[t] = (mu.tolist(), sd.tolist())
        return self

    def transform(self, x_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for t, x in x_dict.items():
            mu, sd = (torch.tensor(s, dtype=torch.float32) for s in self.stats[t])
            out[t] = ((torch.sign(x) * torch.log1p(x.abs()) - mu) / sd).clamp(-10, 10)
        return out


class HeteroGNN(nn.Module):
    """Per-type input projection -> ``layers`` heterogeneous convolutions -> shared logit head."""

    def __init__(self, in_dims: dict[str, int], edge_types: list[EdgeType], hidden: int = 64,
                 layers: int = 2, conv: str = "sage", dropout: float = 0.2, heads: int = 2):
        super().__init__()
        if conv not in CONVS:
            raise ValueError(f"conv must be one of {CONVS}, not {conv!r}")
        self.node_types = list(in_dims)
        self.edge_types = [tuple(e) for e in edge_types]
        self.conv_name, self.dropout = conv, dropout
        self.inp = nn.ModuleDict({t: nn.Linear(d, hidden) for t, d in in_dims.items()})
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for _ in range(layers):
            if conv == "hgt":
                self.convs.append(HGTConv(hidden, hidden, (self.node_types, self.edge_types), heads=heads))
            elif conv == "rgcn":
                r = len(self.edge_types)
                self.convs.append(RGCNConv(hidden, hidden, r, num_bases=self.RGCN_BASES if r > self.RGCN_BASES
                                           else None, aggr="mean"))
            else:
                self.convs.append(HeteroConv({et: self._conv(conv, hidden, heads) for et in self.edge_types},
                                             aggr="sum"))
            self.norms.append(nn.ModuleDict({t: nn.LayerNorm(hidden) for t in self.node_types}))
        self.head = nn.Sequential(nn.Linear(hidden * (layers + 1), hidden), nn.ReLU(), nn.Linear(hidden, 1))

    RGCN_BASES = 4

    @staticmethod
    def _conv(conv: str, hidden: int, heads: int) -> nn.Module:
        if conv == "sage":
            return SAGEConv((hidden, hidden), hidden, aggr="mean")
        return GATConv((hidden, hidden), hidden // heads, heads=heads, add_self_loops=False)

    def embed(self, x_dict: dict[str, torch.Tensor],
              edge_index_dict: dict[EdgeType, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Jumping-knowledge embeddings (concatenation of every layer's output)."""
        ei = {et: e for et, e in edge_index_dict.items() if tuple(et) in self.edge_types and e.numel()}
        h = {t: torch.relu(self.inp[t](x_dict[t])) for t in self.node_types}
        outs = {t: [h[t]] for t in self.node_types}
        homo = self._homogeneous(ei, {t: len(v) for t, v in h.items()}) if self.conv_name == "rgcn" else None
        for conv, norm in zip(self.convs, self.norms):
            if homo is not None:
                m = dict(zip(self.node_types, conv(torch.cat([h[t] for t in self.node_types]), homo[0], homo[1])
                             .split(homo[2], 0))) if ei else {}
            else:
                m = conv(h, ei) if ei else {}
            new = {}
            for t in self.node_types:
                upd = m.get(t) if m else None
                z = h[t] + torch.relu(upd) if upd is not None else h[t]
                z = norm[t](z)
                new[t] = nn.functional.dropout(z, self.dropout, self.training)
                outs[t].append(new[t])
            h = new
        return {t: torch.cat(o, dim=-1) for t, o in outs.items()}

    def _homogeneous(self, ei: dict, sizes: dict[str, int]) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """(edge_index, edge_type, node counts) of the graph with node types stacked in ``node_types`` order."""
        off, n = {}, 0
        for t in self.node_types:
            off[t], n = n, n + sizes[t]
        idx, typ = [torch.zeros(2, 0, dtype=torch.long)], [torch.zeros(0, dtype=torch.long)]
        for k, et in enumerate(self.edge_types):
            e = ei.get(et)
            if e is None:
                continue
            idx.append(e + torch.tensor([[off[et[0]]], [off[et[2]]]]))
            typ.append(torch.full((e.shape[1],), k, dtype=torch.long))
        return torch.cat(idx, 1), torch.cat(typ), [sizes[t] for t in self.node_types]

    def forward(self, x_dict: dict[str, torch.Tensor],
                edge_index_dict: dict[EdgeType, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Fraud logit per node, per node type."""
        z = self.embed(x_dict, edge_index_dict)
        return {t: self.head(v).squeeze(-1) for t, v in z.items()}


def seed_everything(seed: int) -> None:
    """Seed torch and numpy; single-threaded determinism on CPU."""
    torch.manual_seed(seed)
    np.random.seed(seed)
