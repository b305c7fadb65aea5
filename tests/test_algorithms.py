"""Tests of ringscope.graph.algorithms: real igraph/leidenalg/networkx/scipy, no mocks."""
from __future__ import annotations

import doctest

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp

import ringscope.graph.algorithms as alg


def test_doctests():
    res = doctest.testmod(alg)
    assert res.attempted >= 10 and res.failed == 0


def _planted_partition(k=6, size=30, p_in=0.3, p_out=0.01, seed=3):
    g = nx.planted_partition_graph(k, size, p_in, p_out, seed=seed)
    truth = [set(range(i * size, (i + 1) * size)) for i in range(k)]
    return list(g.edges()), truth


def test_leiden_recovers_planted_partition_and_matches_networkx_modularity():
    edges, truth = _planted_partition()
    comms = alg.leiden_communities(edges, seed=0)
    assert set(map(frozenset, comms)) == set(map(frozenset, truth))
    q_leiden = alg.modularity(edges, comms)
    g = nx.Graph(edges)
    q_nx = nx.community.modularity(g, nx.community.louvain_communities(g, seed=0))
    assert abs(q_leiden - q_nx) < 0.01
    assert abs(q_leiden - nx.community.modularity(g, comms)) < 1e-9


def test_leiden_weights_and_resolution():
    # two triangles joined by a heavy edge: weights make them one community
    e = [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (2, 3)]
    w = [1, 1, 1, 1, 1, 1, 50]
    comms = alg.leiden_communities(e, weights=w, seed=0)
    assert any({2, 3} <= c for c in comms)
    # a higher resolution splits into more communities
    edges, _ = _planted_partition(k=3, size=40, p_in=0.2, p_out=0.05)
    assert len(alg.leiden_communities(edges, resolution=3.0, seed=0)) > len(alg.leiden_communities(edges, seed=0))


def test_fraudar_finds_block_despite_camouflage():
    rng = np.random.default_rng(0)
    n_r, n_c = 300, 200
    A = (rng.random((n_r, n_c)) < 0.02).astype(float)
    A[:20, :10] = 1                                # the fraud block
    A[:20, 150:200] = (rng.random((20, 50)) < 0.3)  # camouflage: edges to other columns
    A[:, 199] = 1                                  # a hugely popular column (famous physician)
    rows, cols, g = alg.fraudar(sp.csr_matrix(A))
    assert set(range(20)) <= set(rows.tolist()) and len(rows) <= 25
    assert set(range(10)) <= set(cols.tolist())
    assert g > 0
    # the popular column's edges weigh 1/log(305) each against 1/log(~30) for the block's
    star = np.zeros((300, 3))
    star[6:, 0] = 1
    star[:6, 1:] = 1
    r2, c2, _ = alg.fraudar(star)
    assert c2.tolist() == [1, 2] and r2.tolist() == list(range(6))


def test_fraudar_empty_and_dense_blocks():
    r, c, g = alg.fraudar(sp.csr_matrix((5, 5)))
    assert len(r) == 0 and len(c) == 0 and g == 0.0
    A = np.zeros((20, 20))
    A[:5, :5] = 1
    A[10:16, 10:14] = 1
    blocks = alg.dense_blocks(A, k=3, column_weight="none")
    got = [(set(b[0].tolist()), set(b[1].tolist())) for b in blocks]
    assert (set(range(10, 16)), set(range(10, 14))) in got
    assert (set(range(5)), set(range(5))) in got


def test_personalized_pagerank_matches_networkx_and_excludes():
    g = nx.karate_club_graph()
    edges = list(g.edges())
    ours = alg.personalized_pagerank(edges, {0: 1.0}, alpha=0.85, tol=1e-12)
    ref = nx.pagerank(g, alpha=0.85, personalization={0: 1.0}, weight=None, tol=1e-12)
    assert max(abs(ours[n] - ref[n]) for n in g) < 1e-6
    # excluding a cut vertex stops the flow through it
    pr = alg.personalized_pagerank([("s", "x"), ("x", "y"), ("y", "z")], {"s"}, exclude={"x"})
    assert pr["y"] == 0 and pr["z"] == 0 and pr["x"] == 0


def test_temporal_synchrony_counts_lockstep_and_skips_crowds():
    base = pd.Timestamp("2024-03-01 09:00")
    ev = []
    for d in range(5):   # p and q together five days running, at the same clinic
        ev += [("p", "C1", base + pd.Timedelta(days=d)), ("q", "C1", base + pd.Timedelta(days=d, minutes=4))]
    ev += [("r", "C2", base), ("s", "C1", base + pd.Timedelta(days=9))]
    crowd = [(f"c{i}", "H", base + pd.Timedelta(seconds=i)) for i in range(80)]   # rush hour
    df = pd.DataFrame(ev + crowd, columns=["e", "k", "t"])
    out = alg.temporal_synchrony(df["e"], df["t"], "15min", keys=df["k"], max_bucket=50)
    assert out.iloc[0][["a", "b", "n_sync"]].tolist() == ["p", "q", 5]
    assert len(out) == 1        # no crowd pairs, no cross-institution pairs


def test_burst_sessions_and_robust_z():
    t = pd.to_datetime(["2024-01-01 00:00", "2024-01-01 00:01", "2024-01-01 00:02", "2024-01-01 05:00"])
    assert alg.burst_sessions(["a"] * 4, t, "90s").tolist() == [0, 0, 0, 1]
    z = alg.robust_z([1, 1, 1, 1, 9, 100, 100, 100, 100, 900], groups=["a"] * 5 + ["b"] * 5)
    assert z[4] > 3 and z[9] > 3 and abs(z[0]) < 1e-9
    assert alg.connected_components([]) == []


def test_temporal_synchrony_equals_a_plain_python_count():
    """The numpy pair counting (int64 pair ids; a city's pairs do not fit a pandas self-merge)
    against the definition written out in plain Python, on dense random events."""
    import itertools
    from collections import defaultdict

    import numpy as np
    import pandas as pd

    from ringscope.graph.algorithms import temporal_synchrony

    rng = np.random.default_rng(5)
    n = 3000
    ents = [f"P{x:03d}" for x in rng.integers(0, 120, n)]
    keys = [f"I{x}" for x in rng.integers(0, 4, n)]
    times = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 86400 * 4, n), unit="s")
    w = pd.Timedelta("20min").value
    tn = times.asi8
    best: dict[tuple[str, str], list[float]] = {}
    for off in (0, w // 2):
        buckets: dict[tuple, set] = defaultdict(set)
        for e, k, t in zip(ents, keys, tn):
            buckets[(k, (t + off) // w)].add(e)
        got: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0])
        for members in buckets.values():
            if 1 < len(members) <= 8:
                for a, b in itertools.combinations(sorted(members), 2):
                    got[(a, b)][0] += 1
                    got[(a, b)][1] += 1.0 / np.log2(1.0 + len(members))
        for pair, (c, wsum) in got.items():
            old = best.get(pair, [0, 0.0])
            best[pair] = [max(old[0], c), max(old[1], wsum)]
    want = {p: v for p, v in best.items() if v[0] >= 2}
    out = temporal_synchrony(ents, times, "20min", keys=keys, max_bucket=8, min_common=2)
    assert len(want) > 50
    assert set(zip(out["a"], out["b"])) == set(want)
    for a, b, c, wsum in out[["a", "b", "n_sync", "weighted"]].itertuples(index=False):
        assert c == want[(a, b)][0] and abs(wsum - want[(a, b)][1]) < 1e-9
