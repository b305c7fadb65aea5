"""Benchmark: graph algorithms against networkx on the same projection of a generated city.

Rows (markdown, ready for ``bench/RESULTS.md``):

- community detection: ``leiden_communities`` (igraph + leidenalg) against
  ``networkx.community.louvain_communities`` on the weighted person --
  physician -- institution graph of the city (visits aggregated per pair);
  both timed end to end from the same edge list (graph construction
  included), modularity of both partitions measured by the same function
  (igraph's, on the same weighted graph). Target: modularity within 0.01 of
  networkx's and >= 20x faster.
- personalised PageRank: ``personalized_pagerank`` (scipy.sparse power
  iteration) against ``networkx.pagerank`` with the same personalisation.
- co-visit synchrony (card lending's co-timing projection): ``temporal_synchrony``
  (pair ids counted in numpy) against the pandas self-merge of the buckets it
  replaced, on the city's outpatient and pharmacy visits keyed by institution;
  CPU seconds and the peak of traced allocations (``tracemalloc``, which numpy
  and pandas report to) of each, and whether both give the same pairs.

Times are CPU seconds of this process (``time.process_time``), so that other
jobs sharing the machine do not distort the ratio; Leiden is the median of
three seeds.

Usage::

    .venv/bin/python bench/bench_graph.py --persons 20000 --seed 7
    .venv/bin/python bench/bench_graph.py --dataset PATH      # an existing dataset
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from ringscope.graph.algorithms import leiden_communities, modularity, personalized_pagerank, temporal_synchrony
from ringscope.graph.projection import visit_frame
from ringscope.models.base import Context

__all__ = ["care_graph_edges", "bench_communities", "bench_pagerank", "bench_synchrony", "main"]


def care_graph_edges(ctx: Context) -> pd.DataFrame:
    """``u, v, w``: person--institution and person--physician pairs weighted by visit count."""
    v = visit_frame(ctx)
    a = v.groupby(["person_id", "institution_id"]).size().reset_index(name="w")
    b = v[v["physician_id"].notna()].groupby(["person_id", "physician_id"]).size().reset_index(name="w")
    return pd.concat([
        pd.DataFrame({"u": "person:" + a["person_id"], "v": "institution:" + a["institution_id"], "w": a["w"]}),
        pd.DataFrame({"u": "person:" + b["person_id"], "v": "physician:" + b["physician_id"], "w": b["w"]}),
    ], ignore_index=True)


def bench_communities(e: pd.DataFrame, seed: int = 0, repeats: int = 3) -> dict:
    edges = list(zip(e["u"], e["v"]))
    w = e["w"].astype(float).tolist()
    t_l, comms_l = [], None
    for r in range(repeats):
        # each library from the same frame in its natural input: an (m, 2) label array for ours (as the
        # detectors pass it), (u, v, w) tuples for networkx; conversion timed on both sides
        t = time.process_time()
        comms_l = leiden_communities(e[["u", "v"]].to_numpy(dtype=object), e["w"].to_numpy(dtype=float),
                                     seed=seed + r)
        t_l.append(time.process_time() - t)
    t = time.process_time()
    g = nx.Graph()
    g.add_weighted_edges_from(zip(e["u"], e["v"], w))
    comms_n = nx.community.louvain_communities(g, weight="weight", seed=seed)
    t_n = time.process_time() - t
    q_l = modularity(edges, comms_l, w)
    q_n = modularity(edges, comms_n, w)
    return {"nodes": g.number_of_nodes(), "edges": g.number_of_edges(), "t_nx": t_n, "t_leiden": float(np.median(t_l)),
            "q_nx": q_n, "q_leiden": q_l, "k_nx": len(comms_n), "k_leiden": len(comms_l)}


def bench_pagerank(e: pd.DataFrame, n_seeds: int = 20, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    nodes = pd.unique(pd.concat([e["u"], e["v"]]))
    seeds = set(rng.choice(nodes, size=min(n_seeds, len(nodes)), replace=False).tolist())
    edges = list(zip(e["u"], e["v"]))
    w = e["w"].astype(float).tolist()
    t = time.process_time()
    ours = personalized_pagerank(edges, seeds, alpha=0.85, weights=w, tol=1e-10)
    t_o = time.process_time() - t
    t = time.process_time()
    g = nx.Graph()
    g.add_weighted_edges_from(zip(e["u"], e["v"], w))
    ref = nx.pagerank(g, alpha=0.85, personalization={s: 1.0 for s in seeds}, weight="weight", tol=1e-10)
    t_n = time.process_time() - t
    err = max(abs(ours[k] - ref[k]) for k in ref)
    return {"t_nx": t_n, "t_ours": t_o, "max_abs_diff": err}


def _context(dataset: Path | None, persons: int, seed: int) -> tuple[Context, str]:
    from ringscope.ingest.reader import read_dataset

    if dataset is None:
        from ringscope.synth.generator import generate

        dataset = Path(tempfile.mkdtemp(prefix="ringscope-bench-")) / "city"
        generate(dataset, persons=persons, seed=seed, fmt="parquet")
        label = f"generated city, {persons:,} persons, seed {seed}"
    else:
        label = str(dataset)
    ds = read_dataset(dataset, encode_images=False, tables=["visits"])
    return Context(tables=dict(ds.tables)), label


def _synchrony_merge(ent: np.ndarray, t: np.ndarray, key: np.ndarray, window: str, max_bucket: int,
                     min_common: int) -> pd.DataFrame:
    """The peer: the pandas self-merge of the buckets that ``temporal_synchrony`` used before it
    counted pair ids in numpy (the same definition: two offsets, crowded buckets skipped)."""
    w = pd.Timedelta(window).value
    ti = pd.to_datetime(pd.Series(t)).astype("int64").to_numpy()
    results = []
    for off in (0, w // 2):
        df = pd.DataFrame({"e": ent, "k": key, "b": (ti + off) // w}).drop_duplicates()
        size = df.groupby(["k", "b"])["e"].transform("size")
        df = df[(size > 1) & (size <= max_bucket)].copy()
        df["wt"] = 1.0 / np.log2(1.0 + size[df.index].to_numpy())
        m = df.merge(df[["e", "k", "b"]], on=["k", "b"], suffixes=("", "2"))
        m = m[m["e"].astype(str) < m["e2"].astype(str)]
        results.append(m.groupby(["e", "e2"]).agg(n_sync=("b", "size"), weighted=("wt", "sum")).reset_index())
    allp = pd.concat(results).groupby(["e", "e2"], as_index=False).agg(n_sync=("n_sync", "max"),
                                                                       weighted=("weighted", "max"))
    return allp[allp["n_sync"] >= min_common].rename(columns={"e": "a", "e2": "b"})


def bench_synchrony(ctx: Context, window: str = "30min", max_bucket: int = 30, min_common: int = 2) -> dict:
    import tracemalloc

    v = visit_frame(ctx)
    v = v[v["visit_type"].isin(("outpatient", "pharmacy"))]
    ent, t, key = (v["person_id"].astype(str).to_numpy(), v["start_time"].to_numpy(),
                   v["institution_id"].astype(str).to_numpy())
    out = {}
    for name, fn in (("merge", lambda: _synchrony_merge(ent, t, key, window, max_bucket, min_common)),
                     ("ours", lambda: temporal_synchrony(ent, t, window, keys=key, max_bucket=max_bucket,
                                                         min_common=min_common))):
        tracemalloc.start()
        c = time.process_time()
        res = fn()
        out["t_" + name] = time.process_time() - c
        out["mem_" + name] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        out["pairs_" + name] = set(zip(res["a"], res["b"], res["n_sync"]))
    out["visits"] = len(v)
    out["same"] = out.pop("pairs_merge") == out["pairs_ours"]
    out["pairs"] = len(out.pop("pairs_ours"))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=None)
    ap.add_argument("--persons", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args(argv)
    cmd = "python bench/bench_graph.py " + " ".join(sys.argv[1:] if argv is None else argv)
    ctx, label = _context(a.dataset, a.persons, a.seed)
    e = care_graph_edges(ctx)
    n_visits = len(ctx.tables["visits"])
    c = bench_communities(e, seed=a.seed)
    p = bench_pagerank(e, seed=a.seed)
    print("| benchmark | data | graph | networkx | ringscope | speed-up | quality | command |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| communities: Leiden (igraph/leidenalg) vs networkx Louvain | {label}, {n_visits:,} visits "
          f"| {c['nodes']:,} nodes, {c['edges']:,} edges | {c['t_nx']:.2f} s | {c['t_leiden']:.3f} s "
          f"| {c['t_nx'] / c['t_leiden']:.1f}x | Q {c['q_leiden']:.4f} vs {c['q_nx']:.4f} "
          f"(diff {c['q_leiden'] - c['q_nx']:+.4f}; {c['k_leiden']} vs {c['k_nx']} communities) | `{cmd}` |")
    print(f"| personalised PageRank: scipy power iteration vs networkx.pagerank | {label} "
          f"| same | {p['t_nx']:.2f} s | {p['t_ours']:.3f} s | {p['t_nx'] / p['t_ours']:.1f}x "
          f"| max abs diff {p['max_abs_diff']:.1e} | `{cmd}` |")
    y = bench_synchrony(ctx)
    print(f"| co-visit synchrony: numpy pair ids vs the pandas self-merge it replaced | {label}, "
          f"{y['visits']:,} outpatient and pharmacy visits | {y['pairs']:,} pairs | {y['t_merge']:.2f} s, "
          f"{y['mem_merge']:.0f} MB | {y['t_ours']:.2f} s, {y['mem_ours']:.0f} MB "
          f"| {y['t_merge'] / y['t_ours']:.1f}x, memory {y['mem_merge'] / max(y['mem_ours'], 1e-9):.1f}x "
          f"| same pairs and counts: {y['same']} | `{cmd}` |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
