"""Graph algorithms the collusion detectors are built from.

networkx style: one public function per algorithm, plain inputs (edge lists,
arrays, ``scipy.sparse`` matrices) and plain outputs (lists of sets, arrays,
dicts, DataFrames), doctested examples. Heavy lifting is done by
python-igraph/leidenalg (C/C++) or vectorised numpy/scipy; the only Python loop
is Fraudar's greedy peeling, which is inherently sequential.

References
----------
- V. A. Traag, L. Waltman, N. J. van Eck, "From Louvain to Leiden: guaranteeing
  well-connected communities", Scientific Reports 9, 5233 (2019).
- B. Hooi, H. A. Song, A. Beutel, N. Shah, K. Shin, C. Faloutsos, "FRAUDAR:
  Bounding Graph Fraud in the Face of Camouflage", KDD 2016.
- G. Jeh, J. Widom, "Scaling personalized web search", WWW 2003 (personalised
  PageRank); L. Page et al., "The PageRank citation ranking", 1999.
- A. Beutel, W. Xu, V. Guruswami, C. Palow, C. Faloutsos, "CopyCatch: stopping
  group attacks by spotting lockstep behavior in social networks", WWW 2013
  (temporal synchrony of group actions).
- J. Kleinberg, "Bursty and hierarchical structure in streams", KDD 2002 (bursts;
  here the simpler gap-based sessionisation).
- M. E. J. Newman, "Modularity and community structure in networks", PNAS 103
  (2006).
"""
from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = [
    "leiden_communities",
    "modularity",
    "fraudar",
    "dense_blocks",
    "personalized_pagerank",
    "temporal_synchrony",
    "burst_sessions",
    "connected_components",
    "robust_z",
]


def _index_edges(edges: Iterable[tuple[Hashable, Hashable]], nodes: Sequence[Hashable] | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(src codes, dst codes, labels) for an edge list of hashable node labels."""
    e = list(edges) if not isinstance(edges, np.ndarray) else edges
    if len(e) == 0:
        labels = np.asarray(list(nodes) if nodes is not None else [], dtype=object)
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), labels
    arr = np.asarray(e, dtype=object) if not isinstance(e, np.ndarray) else e
    flat = np.concatenate([np.asarray(list(nodes), dtype=object), arr[:, 0], arr[:, 1]]) \
        if nodes is not None else np.concatenate([arr[:, 0], arr[:, 1]])
    codes, labels = pd.factorize(pd.Series(flat, dtype=object), sort=False)
    m = len(arr)
    off = 0 if nodes is None else len(nodes)
    return codes[off:off + m].astype(np.int64), codes[off + m:].astype(np.int64), np.asarray(labels, dtype=object)


def _igraph(src: np.ndarray, dst: np.ndarray, n: int, weights: np.ndarray | None):
    import igraph as ig

    # a list of Python int pairs is python-igraph's fastest input path (about 2x a numpy array)
    g = ig.Graph(n=n, edges=list(zip(src.tolist(), dst.tolist())), directed=False)
    if weights is not None:
        g.es["weight"] = np.asarray(weights, dtype=float)
    return g


def leiden_communities(edges: Iterable[tuple[Hashable, Hashable]], weights: Sequence[float] | None = None,
                       resolution: float = 1.0, seed: int = 0, nodes: Sequence[Hashable] | None = None,
                       n_iterations: int = 2, backend: str = "igraph") -> list[set]:
    """Communities of an undirected weighted graph by the Leiden algorithm.

    Optimises modularity (configuration null model with ``resolution``) on an
    igraph graph; ``n_iterations`` passes (2, both libraries' default, is
    within 0.001 of convergence on care graphs; -1 iterates until no change).
    ``backend="igraph"`` runs the C implementation in igraph's core
    (``Graph.community_leiden``), ``"leidenalg"`` Traag's ``leidenalg``
    package (``RBConfigurationVertexPartition``); both implement the same
    algorithm, the first is several times faster. Returns a list of node sets,
    largest first (same shape as ``networkx.community.louvain_communities``).
    Isolated ``nodes`` come back as singletons. Deterministic for a ``seed``.

    >>> e = [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (2, 3)]
    >>> sorted(sorted(c) for c in leiden_communities(e, seed=1))
    [[0, 1, 2], [3, 4, 5]]
    >>> sorted(sorted(c) for c in leiden_communities(e, seed=1, backend="leidenalg"))
    [[0, 1, 2], [3, 4, 5]]
    """
    src, dst, labels = _index_edges(edges, nodes)
    n = len(labels)
    if n == 0:
        return []
    w = None if weights is None else np.asarray(list(weights), dtype=float)
    g = _igraph(src, dst, n, w)
    if backend == "igraph":
        import random

        import igraph as ig

        state = random.getstate()
        rng = random.Random(seed)
        ig.set_random_number_generator(rng)
        try:
            part = g.community_leiden(objective_function="modularity", weights="weight" if w is not None else None,
                                      resolution=resolution, n_iterations=n_iterations)
        finally:
            ig.set_random_number_generator(random)
            random.setstate(state)
        memb = np.asarray(part.membership)
    elif backend == "leidenalg":
        import leidenalg

        part = leidenalg.find_partition(
            g, leidenalg.RBConfigurationVertexPartition, weights="weight" if w is not None else None,
            resolution_parameter=resolution, seed=seed, n_iterations=n_iterations)
        memb = np.asarray(part.membership)
    else:
        raise ValueError(f"backend must be 'igraph' or 'leidenalg', not {backend!r}")
    order = np.argsort(memb, kind="stable")
    splits = np.flatnonzero(np.diff(memb[order])) + 1
    comms = [set(labels[idx].tolist()) for idx in np.split(order, splits)]
    comms.sort(key=len, reverse=True)
    return comms


def modularity(edges: Iterable[tuple[Hashable, Hashable]], communities: Iterable[Iterable[Hashable]],
               weights: Sequence[float] | None = None, resolution: float = 1.0) -> float:
    """Newman modularity of a partition of an undirected weighted graph.

    >>> e = [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (2, 3)]
    >>> round(modularity(e, [{0, 1, 2}, {3, 4, 5}]), 4)
    0.3571
    """
    src, dst, labels = _index_edges(edges)
    pos = {lab: i for i, lab in enumerate(labels.tolist())}
    memb = np.full(len(labels), -1, dtype=np.int64)
    for k, c in enumerate(communities):
        for v in c:
            if v in pos:
                memb[pos[v]] = k
    if (memb < 0).any():
        raise ValueError("communities must cover every node of the edge list")
    w = np.ones(len(src)) if weights is None else np.asarray(list(weights), dtype=float)
    g = _igraph(src, dst, len(labels), w)
    return float(g.modularity(memb.tolist(), weights="weight", resolution=resolution))


def fraudar(biadjacency: sp.spmatrix | np.ndarray, column_weight: str | np.ndarray = "log"
            ) -> tuple[np.ndarray, np.ndarray, float]:
    """Densest bipartite block by FRAUDAR's greedy peeling (Hooi et al., KDD 2016).

    Every edge (i, j) of the row x column ``biadjacency`` (values are
    multiplicities, e.g. visit counts or amounts) is weighted by its value times
    the column weight ``1 / log(d_j + 5)``, ``d_j`` the column's weighted
    degree, which makes camouflage (edges to popular columns) cheap and a dense
    block among unpopular columns expensive. Nodes are peeled one at a time,
    always the one with the least remaining weight; the intermediate set with
    the highest average suspiciousness ``g(S) = weight(S) / |S|`` is returned.
    ``column_weight`` may be ``"log"``, ``"none"`` (plain densest subgraph) or an
    array of precomputed column weights.

    Returns ``(rows, cols, density)``: sorted index arrays of the block and its
    ``g``. The greedy result is a 2-approximation of the optimum.

    >>> import numpy as np
    >>> A = np.zeros((6, 5)); A[:3, :3] = 1; A[3, 3] = A[4, 4] = A[5, 3] = 1
    >>> r, c, g = fraudar(A, column_weight="none")
    >>> r.tolist(), c.tolist(), round(g, 2)
    ([0, 1, 2], [0, 1, 2], 1.5)
    """
    A = sp.csr_matrix(biadjacency, dtype=float)
    A.eliminate_zeros()
    n_r, n_c = A.shape
    if A.nnz == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 0.0
    if isinstance(column_weight, str):
        if column_weight == "log":
            deg = np.asarray(A.sum(axis=0)).ravel()
            cw = 1.0 / np.log(deg + 5.0)
        elif column_weight == "none":
            cw = np.ones(n_c)
        else:
            raise ValueError(f"column_weight must be 'log', 'none' or an array, not {column_weight!r}")
    else:
        cw = np.asarray(column_weight, dtype=float)
    W = sp.csr_matrix(A.multiply(cw[None, :]))
    Wc = W.tocsc()
    # node ids: rows 0..n_r-1, cols n_r..n_r+n_c-1
    prio = np.concatenate([np.asarray(W.sum(axis=1)).ravel(), np.asarray(W.sum(axis=0)).ravel()])
    alive = np.ones(n_r + n_c, dtype=bool)
    # drop isolated nodes up front: they only lower the density
    alive[prio <= 0] = False
    total = float(W.sum())
    size = int(alive.sum())
    heap = [(prio[v], v) for v in np.flatnonzero(alive)]
    heapq.heapify(heap)
    best = total / size
    best_step = 0
    removed: list[int] = []
    indptr_r, indices_r, data_r = W.indptr, W.indices, W.data
    indptr_c, indices_c, data_c = Wc.indptr, Wc.indices, Wc.data
    while heap and size > 1:
        p, v = heapq.heappop(heap)
        if not alive[v] or p != prio[v]:
            continue
        alive[v] = False
        removed.append(v)
        total -= p
        size -= 1
        if v < n_r:
            s, e = indptr_r[v], indptr_r[v + 1]
            nb = indices_r[s:e] + n_r
            wt = data_r[s:e]
        else:
            j = v - n_r
            s, e = indptr_c[j], indptr_c[j + 1]
            nb = indices_c[s:e]
            wt = data_c[s:e]
        keep = alive[nb]
        for u, w_ in zip(nb[keep].tolist(), wt[keep].tolist()):
            prio[u] -= w_
            heapq.heappush(heap, (prio[u], u))
        g = total / size if size else 0.0
        if g > best + 1e-12:
            best, best_step = g, len(removed)
    block = np.ones(n_r + n_c, dtype=bool)
    block[np.flatnonzero(np.concatenate([np.asarray(W.sum(axis=1)).ravel(),
                                         np.asarray(W.sum(axis=0)).ravel()]) <= 0)] = False
    block[np.asarray(removed[:best_step], dtype=np.int64)] = False
    rows = np.flatnonzero(block[:n_r])
    cols = np.flatnonzero(block[n_r:])
    return rows, cols, float(best)


def dense_blocks(biadjacency: sp.spmatrix | np.ndarray, k: int = 5, column_weight: str = "log",
                 min_rows: int = 2, min_cols: int = 1) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Up to ``k`` dense blocks: FRAUDAR, then remove the block's edges and repeat.

    >>> import numpy as np
    >>> A = np.zeros((8, 6)); A[:3, :2] = 1; A[4:8, 3:6] = 1
    >>> [(r.tolist(), c.tolist()) for r, c, _ in dense_blocks(A, k=2, column_weight="none")]
    [([4, 5, 6, 7], [3, 4, 5]), ([0, 1, 2], [0, 1])]
    """
    A = sp.coo_matrix(biadjacency, dtype=float)
    r_, c_, v_ = A.row, A.col, A.data
    cw = column_weight
    if isinstance(column_weight, str) and column_weight == "log":   # weights of the full graph, kept fixed
        cw = 1.0 / np.log(np.asarray(sp.csr_matrix(A).sum(axis=0)).ravel() + 5.0)
    out = []
    for _ in range(k):
        if len(v_) == 0:
            break
        M = sp.csr_matrix((v_, (r_, c_)), shape=A.shape)
        rows, cols, g = fraudar(M, column_weight=cw)
        if len(rows) < min_rows or len(cols) < min_cols or g <= 0:
            break
        out.append((rows, cols, g))
        inside = np.isin(r_, rows) & np.isin(c_, cols)
        r_, c_, v_ = r_[~inside], c_[~inside], v_[~inside]
    return out


def personalized_pagerank(edges: Iterable[tuple[Hashable, Hashable]], seeds: Iterable[Hashable] | dict,
                          alpha: float = 0.85, weights: Sequence[float] | None = None,
                          exclude: Iterable[Hashable] = (), tol: float = 1e-10, max_iter: int = 200
                          ) -> dict[Hashable, float]:
    """Personalised PageRank on an undirected weighted graph.

    The random surfer follows an edge with probability ``alpha`` and restarts at
    a ``seeds`` node otherwise (``seeds`` as a set, or a dict of restart
    weights). Nodes in ``exclude`` (e.g. cleared investigations) absorb no flow:
    their edges are cut, so suspicion does not travel through them. Dangling
    mass returns to the seeds. Power iteration with scipy.sparse.

    >>> pr = personalized_pagerank([("a", "b"), ("b", "c"), ("c", "d")], seeds={"a"})
    >>> pr["b"] > pr["c"] > pr["d"]
    True
    """
    src, dst, labels = _index_edges(edges)
    n = len(labels)
    if n == 0:
        return {}
    pos = {lab: i for i, lab in enumerate(labels.tolist())}
    w = np.ones(len(src)) if weights is None else np.asarray(list(weights), dtype=float)
    ex = np.zeros(n, dtype=bool)
    for x in exclude:
        if x in pos:
            ex[pos[x]] = True
    keep = ~(ex[src] | ex[dst])
    A = sp.coo_matrix((np.r_[w[keep], w[keep]], (np.r_[src[keep], dst[keep]], np.r_[dst[keep], src[keep]])),
                      shape=(n, n)).tocsr()
    s = np.zeros(n)
    items = seeds.items() if isinstance(seeds, dict) else ((x, 1.0) for x in seeds)
    for x, v in items:
        if x in pos and not ex[pos[x]]:
            s[pos[x]] += float(v)
    if s.sum() <= 0:
        return {lab: 0.0 for lab in labels.tolist()}
    s /= s.sum()
    deg = np.asarray(A.sum(axis=1)).ravel()
    inv = np.divide(1.0, deg, out=np.zeros_like(deg), where=deg > 0)
    PT = sp.csr_matrix(A.multiply(inv[:, None]).T)
    dangling = deg == 0
    x = s.copy()
    for _ in range(max_iter):
        nx_ = alpha * (PT @ x) + (alpha * x[dangling].sum() + 1 - alpha) * s
        if np.abs(nx_ - x).sum() < tol:
            x = nx_
            break
        x = nx_
    return dict(zip(labels.tolist(), x.tolist()))


def temporal_synchrony(entities: Sequence[Hashable], times: Sequence, window: pd.Timedelta | str,
                       keys: Sequence[Hashable] | None = None, max_bucket: int = 50,
                       min_common: int = 1, chance: bool = False) -> pd.DataFrame:
    """How often two entities act at the same place within the same short window.

    CopyCatch-style lockstep: events (``entity``, ``time``, optional ``key`` such
    as the institution) are bucketed into windows of ``window`` length at two
    offsets (0 and half a window, so events straddling a boundary still meet);
    for every pair of distinct entities sharing a bucket the number of distinct
    shared buckets is counted (the larger of the two offsets). Buckets with more
    than ``max_bucket`` entities (rush hours at a large hospital) are skipped as
    uninformative; ``weighted`` adds ``1/log2(1+bucket size)`` per shared
    bucket so busy moments count less.

    Returns a DataFrame ``a, b, n_sync, weighted`` (``a < b``) with
    ``n_sync >= min_common``. With ``chance``, also ``shared_days`` (days both
    acted at the same key) and ``expected``: the shared buckets chance alone
    gives them -- on each shared day, the probability that two of that day's
    entities fall in the same bucket, ``sum_b (n_b / N)^2`` -- so regulars of a
    crowded refill morning, who meet in the same half hour month after month
    by chance, are told from credentials used together on purpose.

    >>> t = pd.to_datetime(["2024-01-01 09:00", "2024-01-01 09:05", "2024-01-02 10:00",
    ...                     "2024-01-02 10:03", "2024-01-03 11:00"])
    >>> temporal_synchrony(["p", "q", "p", "q", "r"], t, "15min")[["a", "b", "n_sync"]].values.tolist()
    [['p', 'q', 2]]
    """
    window = pd.Timedelta(window)
    cols = ["a", "b", "n_sync", "weighted"]
    if len(entities) == 0:
        return pd.DataFrame(columns=cols)
    t = pd.to_datetime(pd.Series(np.asarray(times))).astype("int64").to_numpy()
    ent = pd.Series(np.asarray(entities, dtype=object))
    key = pd.Series(np.zeros(len(ent), dtype=np.int64)) if keys is None else pd.Series(np.asarray(keys, dtype=object))
    w = window.value
    # integer codes throughout: a city's pairs are counted as int64 pair ids in numpy arrays (a pandas
    # self-merge of the buckets holds every co-visiting pair as Python objects: tens of GB at a city)
    ecode, names = pd.factorize(ent.astype(str), sort=True)      # code order = string order: a < b
    kcode = pd.factorize(key)[0].astype(np.int64)
    n_ent = np.int64(max(len(names), 1))
    best: pd.DataFrame | None = None
    for off in (0, w // 2):
        b = (t + off) // w
        b = b - b.min()
        g = kcode * np.int64(b.max() + 1) + b                  # the (key, bucket) of each event
        ev = np.unique(g * n_ent + ecode)                       # distinct (bucket, entity), sorted
        gb, eb = ev // n_ent, ev % n_ent
        gid, start, size = np.unique(gb, return_index=True, return_counts=True)
        ok = (size > 1) & (size <= max_bucket)
        keep = np.repeat(ok, size)
        gb, eb = gb[keep], eb[keep]
        gsize = np.repeat(size[ok], size[ok])
        wt = 1.0 / np.log2(1.0 + gsize)
        ids, wts = [], []
        for d in range(1, int(size[ok].max()) if ok.any() else 1):   # the i-th and (i+d)-th of a bucket
            same = gb[:-d] == gb[d:]
            if not same.any():
                break
            lo, hi = eb[:-d][same], eb[d:][same]                # sorted by entity within a bucket: lo < hi
            ids.append(lo * n_ent + hi)
            wts.append(wt[:-d][same])
        if not ids:
            continue
        part = _count_pairs(np.concatenate(ids), np.concatenate(wts), n_ent)
        del ids, wts
        best = part if best is None else pd.concat([best, part]).groupby("pid", as_index=False).agg(
            n_sync=("n_sync", "max"), weighted=("weighted", "max"))
    if best is None:
        return pd.DataFrame(columns=cols)
    best = best[best["n_sync"] >= min_common]
    allp = pd.DataFrame({"a": names.to_numpy()[best["pid"].to_numpy() // n_ent],
                         "b": names.to_numpy()[best["pid"].to_numpy() % n_ent],
                         "n_sync": best["n_sync"].to_numpy(), "weighted": best["weighted"].to_numpy()})
    if chance:
        allp = _chance_of_sync(allp, ent.astype(str), key, t, w)
        cols = cols + ["shared_days", "expected"]
    return allp.sort_values(["n_sync", "a", "b"], ascending=[False, True, True]).reset_index(drop=True)[cols]


def _count_pairs(ids: np.ndarray, wts: np.ndarray, n_ent: np.int64, chunk: int = 8_000_000) -> pd.DataFrame:
    """Distinct pair ids with their count and summed weight. With more than ``chunk`` pair
    instances the instances are counted in parts by the lower entity's code (a pair's instances
    all fall in one part, so the counts are exact): the sort behind the count then needs memory
    for one part, not for every co-visit of a city (its temporaries were part of card lending's
    peak on a 1M-person city).

    >>> _count_pairs(np.array([7, 3, 7, 9, 7]), np.ones(5), np.int64(4), chunk=2).sort_values("pid").values.tolist()
    [[3.0, 1.0, 1.0], [7.0, 3.0, 3.0], [9.0, 1.0, 1.0]]
    """
    parts = max(1, int(np.ceil(len(ids) / chunk)))
    lo_part = (ids // n_ent) % parts if parts > 1 else None
    out = []
    for p in range(parts):
        m = None if lo_part is None else lo_part == p
        pid, inv = np.unique(ids if m is None else ids[m], return_inverse=True)
        out.append(pd.DataFrame({"pid": pid, "n_sync": np.bincount(inv).astype(np.int64),
                                 "weighted": np.bincount(inv, weights=wts if m is None else wts[m])}))
    return pd.concat(out, ignore_index=True) if len(out) > 1 else out[0]


def _chance_of_sync(pairs: pd.DataFrame, ent: pd.Series, key: pd.Series, t: np.ndarray, w: int) -> pd.DataFrame:
    """Add ``shared_days`` and ``expected`` (chance shared buckets) to synchrony pairs."""
    day_ns = 86_400 * 10**9
    ev = pd.DataFrame({"e": ent.values, "k": key.values, "d": t // day_ns, "b": t // w}).drop_duplicates(["e", "k", "b"])
    occ = ev.groupby(["k", "d", "b"]).size().rename("n_b").reset_index()
    occ["N"] = occ.groupby(["k", "d"])["n_b"].transform("sum")
    p_day = (occ["n_b"] / occ["N"]) ** 2
    p_day = p_day.groupby([occ["k"], occ["d"]]).sum().rename("p").reset_index()
    days = ev[["e", "k", "d"]].drop_duplicates()
    if pairs.empty:
        return pairs.assign(shared_days=pd.Series(dtype=np.int64), expected=pd.Series(dtype=float))
    m = pairs[["a", "b"]].merge(days.rename(columns={"e": "a"}), on="a").merge(
        days.rename(columns={"e": "b"}), on=["b", "k", "d"]).merge(p_day, on=["k", "d"])
    agg = m.groupby(["a", "b"]).agg(shared_days=("d", "size"), expected=("p", "sum")).reset_index()
    out = pairs.merge(agg, on=["a", "b"], how="left")
    out["shared_days"] = out["shared_days"].fillna(0).astype(np.int64)
    out["expected"] = out["expected"].fillna(0.0)
    return out


def burst_sessions(keys: Sequence[Hashable], times: Sequence, gap: pd.Timedelta | str) -> np.ndarray:
    """Label events into bursts: same key, consecutive events at most ``gap`` apart.

    Returns an int array aligned with the input (one id per burst, unique across
    keys). A burst of many distinct credentials at one terminal within minutes
    is the signature of batch swiping.

    >>> t = pd.to_datetime(["2024-01-01 09:00", "2024-01-01 09:02", "2024-01-01 12:00", "2024-01-01 09:01"])
    >>> burst_sessions(["T1", "T1", "T1", "T2"], t, "5min").tolist()
    [0, 0, 1, 2]
    """
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    gap_ns = pd.Timedelta(gap).value
    k_codes, _ = pd.factorize(pd.Series(np.asarray(keys, dtype=object)))
    t = pd.to_datetime(pd.Series(np.asarray(times))).astype("int64").to_numpy()
    order = np.lexsort((t, k_codes))
    ks, ts = k_codes[order], t[order]
    new = np.ones(n, dtype=bool)
    new[1:] = (ks[1:] != ks[:-1]) | ((ts[1:] - ts[:-1]) > gap_ns)
    sid_sorted = np.cumsum(new) - 1
    out = np.empty(n, dtype=np.int64)
    out[order] = sid_sorted
    return out


def connected_components(edges: Iterable[tuple[Hashable, Hashable]], nodes: Sequence[Hashable] | None = None
                         ) -> list[set]:
    """Connected components of an undirected graph, largest first.

    >>> sorted(sorted(c) for c in connected_components([(1, 2), (3, 4), (2, 5)]))
    [[1, 2, 5], [3, 4]]
    """
    src, dst, labels = _index_edges(edges, nodes)
    n = len(labels)
    if n == 0:
        return []
    A = sp.coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    _, lab = sp.csgraph.connected_components(A, directed=False)
    order = np.argsort(lab, kind="stable")
    splits = np.flatnonzero(np.diff(lab[order])) + 1
    comps = [set(labels[idx].tolist()) for idx in np.split(order, splits)]
    comps.sort(key=len, reverse=True)
    return comps


def robust_z(x: Sequence[float] | np.ndarray, groups: Sequence[Hashable] | None = None,
             min_scale: float = 1e-9) -> np.ndarray:
    """Robust z-score ``(x - median) / (1.4826 * MAD)``, optionally within peer groups.

    Peers of the same kind (pharmacies with pharmacies) are the baseline, so a
    large hospital is compared with large hospitals. When the MAD is 0 (more
    than half the peers share one value) the scale falls back to
    ``1.2533 * mean absolute deviation`` (Iglewicz & Hoaglin 1993), then to
    ``min_scale``.

    >>> robust_z([1, 1, 2, 2, 10]).round(2).tolist()
    [-0.67, -0.67, 0.0, 0.0, 5.4]
    """
    s = pd.Series(np.asarray(x, dtype=float))
    g = pd.Series(np.zeros(len(s), dtype=np.int64)) if groups is None else pd.Series(np.asarray(groups, dtype=object))
    med = s.groupby(g.values).transform("median")
    mad = (s - med).abs().groupby(g.values).transform("median") * 1.4826
    meanad = (s - med).abs().groupby(g.values).transform("mean") * 1.2533
    scale = mad.where(mad > min_scale, meanad).where(lambda v: v > min_scale, min_scale)
    return ((s - med) / scale).to_numpy()
