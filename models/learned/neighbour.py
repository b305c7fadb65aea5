"""Neighbour-aggregated features and positive-unlabelled labels for the learned models.

:func:`neighbour_features` builds, for every node type and every incoming
relation ``(src, rel, dst)`` of a PyG ``HeteroData``: the mean and the max of
the source nodes' features and the log degree; with ``hops=2`` the aggregation
is repeated once over the 1-hop aggregates (GADBench's RF/XGB-Graph features:
Tang et al., NeurIPS 2023). :func:`pu_labels`: Elkan & Noto, KDD 2008.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch_geometric.utils import scatter

__all__ = ["neighbour_features", "pu_labels"]


def _aggregate(x_src: torch.Tensor, ei: torch.Tensor, n_dst: int) -> torch.Tensor:
    if ei.numel() == 0:
        return torch.zeros(n_dst, 2 * x_src.shape[1] + 1)
    msg = x_src[ei[0]]
    mean = scatter(msg, ei[1], 0, dim_size=n_dst, reduce="mean")
    mx = scatter(msg, ei[1], 0, dim_size=n_dst, reduce="max")
    deg = torch.bincount(ei[1], minlength=n_dst).float().unsqueeze(1)
    return torch.cat([mean, mx, torch.log1p(deg)], 1)


def neighbour_features(data, hops: int = 1) -> dict[str, pd.DataFrame]:
    """Own features + per incoming relation mean/max of neighbours' features + log degree.

    Returns one frame per node type, rows in ``data[t]`` order, column names
    ``<feature>``, ``<rel>:mean:<feature>``, ``<rel>:max:<feature>``,
    ``<rel>:log_degree`` (and ``h2:`` prefixed second-hop aggregates).
    """
    cur = {t: data[t].x.float() for t in data.node_types}
    names = {t: list(getattr(data[t], "feature_names", None) or [f"f{j}" for j in range(cur[t].shape[1])])
             for t in data.node_types}
    blocks = {t: [cur[t]] for t in data.node_types}
    cols = {t: list(names[t]) for t in data.node_types}
    for h in range(hops):
        pre = "" if h == 0 else f"h{h + 1}:"
        nxt = {t: [] for t in data.node_types}
        nxt_names = {t: [] for t in data.node_types}
        for (s, r, d) in data.edge_types:
            agg = _aggregate(cur[s], data[s, r, d].edge_index, data[d].num_nodes)
            nxt[d].append(agg)
            src_names = names[s] if h == 0 else cur_names[s]
            nxt_names[d] += ([f"{pre}{r}:mean:{c}" for c in src_names] + [f"{pre}{r}:max:{c}" for c in src_names]
                             + [f"{pre}{r}:log_degree"])
        for t in data.node_types:
            blocks[t] += nxt[t]
            cols[t] += nxt_names[t]
        cur_names = nxt_names
        cur = {t: torch.cat(nxt[t], 1) if nxt[t] else torch.zeros(data[t].num_nodes, 0) for t in data.node_types}
    return {t: pd.DataFrame(torch.cat(blocks[t], 1).numpy(), columns=cols[t]) for t in data.node_types}


def pu_labels(y: np.ndarray, unlabeled_weight: float | None, min_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and sample weights, with unlabelled entities as down-weighted negatives when cases are scarce.

    Positive-unlabelled learning (Elkan & Noto, KDD 2008): with fewer than
    ``min_labels`` closed cases (``unlabeled_weight=None``), every unlabelled
    entity counts as a negative of weight 0.1 -- most entities are clean, and a
    handful of cases cannot train a classifier alone. An explicit weight (0
    disables it) overrides.
    """
    m = ~np.isnan(y)
    wu = unlabeled_weight if unlabeled_weight is not None else (0.1 if m.sum() < min_labels else 0.0)
    w = np.ones(len(y))
    if wu > 0:
        y = np.where(m, y, 0.0)
        w[~m] = wu
    return y, w
