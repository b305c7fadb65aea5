"""The learned models on real fraud graphs written by others (../shared/data/graph-benchmarks).

Amazon (CARE-GNN's user graph, U-P-U relation only), one seeded 40/20/40
split. Thresholds are the figures measured in docs/models.md minus a margin.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from ringscope.models import benchmarks as B

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def amazon(benchmarks_dir):
    if not (benchmarks_dir / "amazon_upu.mat").exists():
        pytest.skip(f"amazon_upu.mat not found in {benchmarks_dir}")
    return B.load_benchmark("amazon")


def test_amazon_graph_shape(amazon) -> None:
    data, target, y = amazon
    assert target == "user" and data["user"].x.shape == (10224, 25)
    assert int(y.sum()) == 693
    tr, va, te = B.split(y, seed=0)
    assert len(set(tr) | set(va) | set(te)) == len(y) and not set(tr) & set(te)
    assert abs(y[tr].mean() - y.mean()) < 0.002  # stratified


def _fit_score(det, amazon, seed: int = 0) -> float:
    data, target, y = amazon
    tr, va, te = B.split(y, seed=seed)
    n = {target: data[target].num_nodes}
    det.fit_data(data, B._masked(n, target, y, tr), B._masked(n, target, y, va))
    return roc_auc_score(y[te], det.predict_data(data)[target][te])


def test_amazon_gnn_short_run_auc(amazon) -> None:
    """A small, short GNN run (the benchmark uses 200 epochs); threshold = measured minus a margin."""
    from ringscope.models.detectors.gnn_hetero import HeteroGNNDetector

    auc = _fit_score(HeteroGNNDetector(seed=0, hidden=32, epochs=GNN_EPOCHS, patience=GNN_EPOCHS), amazon)
    print("amazon gnn auc", auc)
    assert auc >= GNN_AUC, auc


GNN_EPOCHS = 20
GNN_AUC = 0.94  # measured 0.9728 (20 epochs, hidden 32, seed 0); 0.9749 at 40 epochs


def test_amazon_tree_baseline_reaches_095(benchmarks_dir) -> None:
    """Through ``bench_gnn`` (the CLI's path): one seed of the tree baseline, test AUC >= 0.95."""
    if not (benchmarks_dir / "amazon_upu.mat").exists():
        pytest.skip("amazon_upu.mat absent")
    rows = B.bench_gnn("amazon", seeds=1, model="xgb")
    assert len(rows) == 1
    r = rows[0]
    for k in ("dataset", "model", "auc_mean", "auc_std", "ap_mean", "ap_std", "seeds", "train_seconds"):
        assert k in r
    assert r["dataset"] == "amazon" and r["model"] == "xgb" and r["seeds"] == 1 and r["auc_mean"] >= 0.95
    assert np.isfinite(r["train_seconds"]) and r["train_seconds"] > 0
