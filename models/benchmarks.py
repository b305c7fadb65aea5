"""The learned models on public fraud / anomaly graphs written by others.

``bench_gnn(dataset, seeds, model)`` loads one benchmark from
``../shared/data/graph-benchmarks`` (``RINGSCOPE_GRAPH_BENCHMARKS`` overrides),
and for each seed makes a stratified 40/20/40 train/validation/test split of
the labelled target nodes (the split of CARE-GNN, Dou et al. CIKM 2020, and
PC-GNN, Liu et al. WWW 2021), fits each model on the training labels (the
validation labels drive early stopping), and reports test ROC-AUC and
average precision (mean and standard deviation over seeds) and the mean
training time.

Datasets
- ``amazon``: Amazon users (McAuley & Leskovec 2013, as prepared by CARE-GNN),
  25 handcrafted features, the U-P-U relation only (users who reviewed a
  common product); label 1 = fraudulent user; all 10,224 users split.
- ``reddit``: the Reddit anomaly graph of BOND/PyGOD (Kumar et al. 2019),
  64 text-embedding features, edges made undirected; label 1 = banned user.
- ``yelpchi``: the original YelpChi reviews (Rayana & Akoglu, KDD 2015; the
  UGFraud copy without text features): a heterogeneous graph of review,
  user and product nodes with (user, wrote, review) and (review, of,
  product) edges and their reverses; node features are the SpEagle priors
  shipped with the data (unsupervised, from review behaviour) and log
  degrees; target = reviews, label 1 = filtered (fake) review.

Models: ``xgb`` (:class:`~ringscope.models.detectors.xgb_neighbour.NeighbourXGBDetector`,
1 hop), ``xgb2`` (2 hops), ``gnn`` (:class:`~ringscope.models.detectors.gnn_hetero.HeteroGNNDetector`
with its default convolution, R-GCN), ``gnn-sage`` / ``gnn-rgcn`` /
``gnn-gat`` / ``gnn-hgt`` (that convolution), ``gae``
(:class:`~ringscope.models.detectors.gnn_autoencoder.GraphAEDetector`, unsupervised; the training
and validation labels only give its fraud prototypes). ``all`` runs ``xgb,
gnn, gae``. Any model name takes constructor overrides after colons, e.g.
``gnn:hidden=32:epochs=100`` (:func:`parse_model`).
"""
from __future__ import annotations

import gzip
import os
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from torch_geometric.data import HeteroData

__all__ = ["DATASETS", "MODELS", "data_dir", "load_benchmark", "split", "parse_model", "make_model", "bench_gnn"]

DATASETS = ("amazon", "reddit", "yelpchi")
MODELS = ("xgb", "xgb2", "gnn", "gnn-sage", "gnn-rgcn", "gnn-gat", "gnn-hgt", "gae")
SPLIT = "stratified 40/20/40 train/val/test of labelled target nodes, one split per seed"


def data_dir() -> Path:
    env = os.environ.get("RINGSCOPE_GRAPH_BENCHMARKS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "graph-benchmarks"


def _homogeneous(x: np.ndarray, src: np.ndarray, dst: np.ndarray, node: str, rel: str) -> HeteroData:
    keep = src != dst
    src, dst = src[keep], dst[keep]
    ei = torch.tensor(np.unique(np.vstack([np.r_[src, dst], np.r_[dst, src]]), axis=1), dtype=torch.long)
    data = HeteroData()
    data[node].x = torch.tensor(x, dtype=torch.float32)
    data[node].entity_id = [str(i) for i in range(len(x))]
    data[node].feature_names = [f"f{j}" for j in range(x.shape[1])]
    data[node, rel, node].edge_index = ei
    return data


def load_benchmark(dataset: str) -> tuple[HeteroData, str, np.ndarray]:
    """(graph, target node type, labels of the target nodes) of one benchmark."""
    d = data_dir()
    if dataset == "amazon":
        import scipy.io as sio

        m = sio.loadmat(d / "amazon_upu.mat")
        net = m["Network"].tocoo()
        data = _homogeneous(m["Attributes"].toarray(), net.row, net.col, "user", "upu")
        return data, "user", m["Label"].ravel().astype(float)
    if dataset == "reddit":
        g = torch.load(d / "reddit.pt", weights_only=False)
        ei = g.edge_index.numpy()
        data = _homogeneous(g.x.numpy(), ei[0], ei[1], "user", "interacts")
        return data, "user", g.y.numpy().astype(float)
    if dataset == "yelpchi":
        return _yelpchi(d / "yelpchi_reviews")
    raise ValueError(f"dataset must be one of {DATASETS}, not {dataset!r}")


def _yelpchi(d: Path) -> tuple[HeteroData, str, np.ndarray]:
    import pandas as pd

    with gzip.open(d / "metadata.gz", "rt") as f:
        r = pd.read_csv(f, sep=r"\s+", header=None, names=["user", "product", "rating", "label", "date"],
                        dtype={"user": str, "product": str})
    with open(d / "priors.pkl", "rb") as f:
        user_prior, review_prior, prod_prior = pickle.load(f)
    users = pd.Index(r["user"].unique())
    prods = pd.Index(r["product"].unique())
    ui, pi = users.get_indexer(r["user"]), prods.get_indexer(r["product"])
    n_u, n_p = np.bincount(ui, minlength=len(users)), np.bincount(pi, minlength=len(prods))
    rp = np.array([review_prior.get((u, p), np.nan) for u, p in zip(r["user"], r["product"])])
    up = users.map(lambda u: user_prior.get(u, np.nan)).to_numpy(float)
    pp = prods.map(lambda p: prod_prior.get(p, np.nan)).to_numpy(float)
    data = HeteroData()
    data["review"].x = torch.tensor(np.c_[np.nan_to_num(rp, nan=np.nanmean(rp)),
                                          np.log1p(n_u[ui]), np.log1p(n_p[pi])], dtype=torch.float32)
    data["review"].feature_names = ["review_prior", "user_log_reviews", "product_log_reviews"]
    data["user"].x = torch.tensor(np.c_[np.nan_to_num(up, nan=np.nanmean(up)), np.log1p(n_u)], dtype=torch.float32)
    data["user"].feature_names = ["user_prior", "log_reviews"]
    data["product"].x = torch.tensor(np.c_[np.nan_to_num(pp, nan=np.nanmean(pp)), np.log1p(n_p)],
                                     dtype=torch.float32)
    data["product"].feature_names = ["product_prior", "log_reviews"]
    data["review"].entity_id = [f"{u}|{p}|{i}" for i, (u, p) in enumerate(zip(r["user"], r["product"]))]
    data["user"].entity_id = list(users)
    data["product"].entity_id = list(prods)
    rv = torch.arange(len(r))
    data["user", "wrote", "review"].edge_index = torch.stack([torch.tensor(ui), rv])
    data["review", "rev_wrote", "user"].edge_index = torch.stack([rv, torch.tensor(ui)])
    data["review", "of", "product"].edge_index = torch.stack([rv, torch.tensor(pi)])
    data["product", "rev_of", "review"].edge_index = torch.stack([torch.tensor(pi), rv])
    return data, "review", (r["label"].to_numpy() == -1).astype(float)


def split(y: np.ndarray, seed: int, fracs: tuple[float, float] = (0.4, 0.2)) -> tuple[np.ndarray, ...]:
    """Stratified train/val/test index arrays of the labelled nodes (``y`` not nan)."""
    rng = np.random.default_rng(seed)
    tr, va, te = [], [], []
    for c in (0.0, 1.0):
        idx = rng.permutation(np.flatnonzero(y == c))
        a, b = int(round(fracs[0] * len(idx))), int(round((fracs[0] + fracs[1]) * len(idx)))
        tr.append(idx[:a]), va.append(idx[a:b]), te.append(idx[b:])
    return tuple(np.sort(np.concatenate(p)) for p in (tr, va, te))


def parse_model(spec: str) -> tuple[str, dict]:
    """``"gnn-gat:hidden=32:epochs=100"`` -> ``("gnn-gat", {"hidden": 32, "epochs": 100})``.

    Parameter overrides after the model name, ``:``-separated ``key=value``
    (int, float, or string), are passed to the detector's constructor -- e.g.
    a smaller GNN on a large graph: ``--model gnn:hidden=32:epochs=100``.
    """
    name, *kvs = spec.strip().split(":")
    params = {}
    for kv in kvs:
        k, sep, v = kv.partition("=")
        if not sep:
            raise ValueError(f"model parameter must be key=value, not {kv!r} in {spec!r}")
        for cast in (int, float):
            try:
                params[k] = cast(v)
                break
            except ValueError:
                pass
        else:
            params[k] = v
    return name, params


def make_model(model: str, seed: int):
    """A fresh detector for a benchmark model spec (name plus optional ``:key=value`` overrides)."""
    from ringscope.models.detectors.gnn_autoencoder import GraphAEDetector
    from ringscope.models.detectors.gnn_hetero import HeteroGNNDetector
    from ringscope.models.detectors.xgb_neighbour import NeighbourXGBDetector

    name, params = parse_model(model)
    if name in ("xgb", "xgb2"):
        return NeighbourXGBDetector(**{"hops": 2 if name == "xgb2" else 1, "seed": seed, "unlabeled_weight": 0.0,
                                       **params})
    if name == "gnn" or name.startswith("gnn-"):
        kw = {"seed": seed, "unlabeled_weight": 0.0, **params}
        if "-" in name:
            kw["conv"] = name.split("-", 1)[1]
        return HeteroGNNDetector(**kw)
    if name == "gae":
        return GraphAEDetector(**{"seed": seed, **params})
    raise ValueError(f"model must be one of {MODELS} or 'all', not {model!r}")


def _masked(n_types: dict[str, int], target: str, y: np.ndarray, idx: np.ndarray) -> dict[str, np.ndarray]:
    out = {t: np.full(n, np.nan) for t, n in n_types.items()}
    out[target][idx] = y[idx]
    return out


def bench_gnn(dataset: str, seeds: int = 5, model: str = "all", log=None) -> list[dict]:
    """Test AUC / AP of the learned models on one benchmark, mean +- std over ``seeds`` splits.

    Each dict: ``dataset, model, auc_mean, auc_std, ap_mean, ap_std, seeds,
    train_seconds, split, n_nodes, n_edges, n_pos, load_avg`` (1-minute load
    average at the start and end of the model's runs: the machine's
    conditions) and ``per_seed`` (``seed, auc, ap, train_seconds`` and the
    detector's own metrics such as epochs). ``log`` (a callable; default:
    print to stderr) gets one line per seed as it finishes.
    """
    if log is None:
        def log(msg: str) -> None:
            print(msg, file=sys.stderr, flush=True)

    if not data_dir().exists():
        raise FileNotFoundError(f"graph benchmarks not found at {data_dir()} (set RINGSCOPE_GRAPH_BENCHMARKS)")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    data, target, y = load_benchmark(dataset)
    n_types = {t: data[t].num_nodes for t in data.node_types}
    models = ["xgb", "gnn", "gae"] if model == "all" else [m.strip() for m in model.split(",")]
    rows = []
    for name in models:
        aucs, aps, secs, per_seed = [], [], [], []
        load0 = os.getloadavg()[0]
        for s in range(seeds):
            tr, va, te = split(y, seed=s)
            det = make_model(name, s)
            t0 = time.perf_counter()
            det.fit_data(data, _masked(n_types, target, y, tr), _masked(n_types, target, y, va))
            secs.append(time.perf_counter() - t0)
            p = det.predict_data(data)[target]
            aucs.append(roc_auc_score(y[te], p[te]))
            aps.append(average_precision_score(y[te], p[te]))
            rec = {"seed": s, "auc": round(float(aucs[-1]), 4), "ap": round(float(aps[-1]), 4),
                   "train_seconds": round(secs[-1], 2), "load_avg": round(os.getloadavg()[0], 2),
                   **{k: v for k, v in getattr(det, "metrics_", {}).items()
                      if k in ("epochs", "best_epoch", "val_auc", "best_iteration")}}
            per_seed.append(rec)
            if log is not None:
                log(f"{dataset} {name} " + " ".join(f"{k}={v}" for k, v in rec.items()))
        rows.append({"dataset": dataset, "model": name, "auc_mean": round(float(np.mean(aucs)), 4),
                     "auc_std": round(float(np.std(aucs)), 4), "ap_mean": round(float(np.mean(aps)), 4),
                     "ap_std": round(float(np.std(aps)), 4), "seeds": seeds,
                     "train_seconds": round(float(np.mean(secs)), 2), "split": SPLIT,
                     "n_nodes": int(sum(n_types.values())), "n_edges": int(sum(data[e].edge_index.shape[1]
                                                                                for e in data.edge_types)),
                     "n_pos": int(np.nansum(y)), "load_avg": [round(load0, 2), round(os.getloadavg()[0], 2)],
                     "per_seed": per_seed})
    return rows
