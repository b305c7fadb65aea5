"""Face clustering at scale: ANN k-NN graph (ringscope.graph.faces.cluster_faces)
against its exact all-pairs peer, measured in the same run.

Peer: scikit-learn ``radius_neighbors_graph`` (brute force, every pair's
distance) at the same threshold, then the same anti-chaining filter is NOT
applied -- the peer is the plain "link every pair within the threshold,
take connected components" that an all-pairs approach gives. Agreement is the
adjusted Rand index between the two labelings and against the planted
identities.

    .venv/bin/python bench/bench_faces.py --sizes 20000 50000 200000

prints one markdown row per size:
| n | identities | ann_s | exact_s | exact/ann | ARI(ann, truth) | ARI(exact, truth) | ARI(ann, exact) |
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.sparse.csgraph import connected_components
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors

from ringscope.graph.faces import cluster_faces

__all__ = ["synthetic_encodings", "exact_components", "run"]


def synthetic_encodings(n: int, n_id: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """dlib-like geometry: same person ~0.4 apart, different people ~0.85."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 0.056, (n_id, 128)).astype(np.float32)
    lab = rng.integers(0, n_id, n)
    q = rng.lognormal(0, 0.15, n)[:, None]
    return (centres[lab] + rng.normal(0, 0.025, (n, 128)) * q).astype(np.float32), lab


def exact_components(X: np.ndarray, threshold: float) -> np.ndarray:
    """All pairs within ``threshold`` (brute force), connected components."""
    nn = NearestNeighbors(radius=threshold, algorithm="brute", n_jobs=-1).fit(X)
    G = nn.radius_neighbors_graph(X, mode="connectivity")
    return connected_components(G, directed=False)[1]


def run(sizes: list[int], per_id: int = 10, threshold: float = 0.5, seed: int = 0) -> list[str]:
    rows = ["| n | identities | ann_s | exact_s | exact/ann | ARI(ann, truth) | ARI(exact, truth) | ARI(ann, exact) |",
            "|---|---|---|---|---|---|---|---|"]
    print("\n".join(rows), flush=True)
    for n in sizes:
        X, lab = synthetic_encodings(n, max(1, n // per_id), seed)
        t = time.perf_counter()
        ann = cluster_faces(X, threshold)
        t_ann = time.perf_counter() - t
        t = time.perf_counter()
        ex = exact_components(X, threshold)
        t_ex = time.perf_counter() - t
        row = (f"| {n} | {n // per_id} | {t_ann:.1f} | {t_ex:.1f} | {t_ex / t_ann:.2f} | "
               f"{adjusted_rand_score(lab, ann):.4f} | {adjusted_rand_score(lab, ex):.4f} | "
               f"{adjusted_rand_score(ann, ex):.4f} |")
        rows.append(row)
        print(row, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20000, 50000])
    ap.add_argument("--per-id", type=int, default=10, help="captures per identity")
    ap.add_argument("--threshold", type=float, default=0.5)
    a = ap.parse_args()
    run(a.sizes, a.per_id, a.threshold)


if __name__ == "__main__":
    main()
