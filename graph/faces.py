"""Face analytics: capture <-> enrolment verification, a verification threshold
chosen from the data, and clustering of every captured face into face identities.

Pipeline (the encodings come from :mod:`ringscope.ingest.images` or the dataset)
--------------------------------------------------------------------------------
2. :func:`verify_captures` -- every capture that claims a credential is
   compared with that person's enrolment (人证比对); a capture over the
   threshold is compared with the enrolments of persons linked to the claimed
   one by ``family_links`` (family account sharing and registered proxies), so
   a caregiver at the settlement window is ``related``, not ``mismatch``.
3. :func:`choose_threshold` -- the threshold from the data: the impostor
   distribution is measured on random pairs of different enrolled persons;
   the claimed distances are fitted as a two-component mixture (genuine
   Gaussian + that impostor component, EM, Dempster, Laird & Rubin 1977); the
   threshold is where the two component densities cross (the Bayes boundary
   at equal priors, which minimises FAR + FRR), bounded to a sane range around
   dlib's customary 0.6.
4. :func:`cluster_faces` -- clustering that scales to millions of captures: a
   k-nearest-neighbour graph from an approximate index (faiss inverted file, Jégou,
   Douze & Schmid 2011; exact ``IndexFlatL2`` for small inputs), kept edges are
   *mutual* k-NN pairs within the threshold that also share enough of their
   neighbourhoods (shared-nearest-neighbour condition of Jarvis & Patrick
   1973), then connected components (scipy.sparse.csgraph). The mutual and
   shared-neighbour conditions stop one blurred capture lying between two
   people from chaining them into one identity. Cost is O(n k log n) for the
   index and O(n k^2) for the graph, against O(n^2) for all pairs (see Otto,
   Wang & Jain 2018, "Clustering millions of faces by identity", for the same
   k-NN-graph approach at that scale).
5. :func:`face_identities` -- captures and enrolments clustered together: a
   stable ``face_id`` per cluster (``F-`` + hash of its smallest capture id),
   the credentials each face presented, and the person it is enrolled as.

The detector that turns these into person scores and ``card_lending`` groups
("the same face presented eight credentials") is
:class:`ringscope.models.detectors.face_match.FaceMatchDetector`.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from ringscope.graph.engine import sql_text
from ringscope.ingest.images import ENCODING_DIM
from ringscope.ingest.vocab import col_or

__all__ = [
    "DEFAULT_THRESHOLD",
    "DEFAULT_CLUSTER_THRESHOLD",
    "THRESHOLD_BOUNDS",
    "VERDICTS",
    "VERIFY_COLUMNS",
    "IDENTITY_COLUMNS",
    "ThresholdChoice",
    "impostor_strength",
    "stack_encodings",
    "claimed_distances",
    "impostor_distances",
    "choose_threshold",
    "verify_captures",
    "knn_search",
    "cluster_faces",
    "caregiver_shares",
    "face_id_of",
    "face_identities",
    "threshold_from",
    "impostor_distances_of",
    "engine_captures",
    "engine_enrolments",
    "engine_encodings",
    "engine_related",
    "face_identities_engine",
    "verdicts",
]

DEFAULT_THRESHOLD = 0.6            # dlib's customary same-person cut-off
DEFAULT_CLUSTER_THRESHOLD = 0.5    # stricter: a wrong merge costs more than a split
THRESHOLD_BOUNDS = (0.45, 0.65)    # a data-chosen threshold is clipped to this range
VERDICTS = ("match", "related", "mismatch", "no_enrollment", "no_claim", "no_encoding")
VERIFY_COLUMNS = ["capture_id", "institution_id", "location", "capture_time", "visit_id",
                  "claimed_person_id", "distance", "related_person_id", "related_distance",
                  "verdict", "face_id"]
IDENTITY_COLUMNS = ["face_id", "n_captures", "n_credentials", "credentials", "enrolled_person_id",
                    "n_enrolled_persons", "first_seen", "last_seen", "institutions",
                    "n_institutions"]


# =========================================================================== encodings
def stack_encodings(values: Iterable[Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(X, ok)``: an (n, 128) ``float32`` matrix and a mask of rows that had an encoding.

    Accepts arrays, lists/tuples of 128 numbers or None/NaN; rows without a
    valid 128-d encoding are zero in ``X`` and False in ``ok``.

    >>> X, ok = stack_encodings([np.ones(128), None])
    >>> X.shape, ok.tolist()
    ((2, 128), [True, False])
    """
    vals = list(values)
    ok = np.fromiter((v is not None and not (isinstance(v, float) and math.isnan(v))
                      and np.size(v) == ENCODING_DIM for v in vals), dtype=bool, count=len(vals))
    X = np.zeros((len(vals), ENCODING_DIM), dtype=np.float32)
    if ok.any():
        X[ok] = np.asarray([v for v, o in zip(vals, ok) if o], dtype=np.float32).reshape(-1, ENCODING_DIM)
        ok &= np.isfinite(X).all(axis=1)
    return X, ok


def _enrolment_matrix(enrollments: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """Enrolment encodings and their person ids (rows without an encoding dropped)."""
    if enrollments is None or len(enrollments) == 0 or "encoding" not in enrollments:
        return np.zeros((0, ENCODING_DIM), np.float32), np.array([], dtype=object)
    E, ok = stack_encodings(enrollments["encoding"])
    return E[ok], enrollments["person_id"].to_numpy(dtype=object)[ok]


def _pair_distances(A: np.ndarray, ia: np.ndarray, B: np.ndarray, ib: np.ndarray,
                    chunk: int = 1 << 19) -> np.ndarray:
    """``||A[ia[t]] - B[ib[t]]||`` for every t, in chunks (bounded memory)."""
    out = np.empty(len(ia), dtype=np.float64)
    for s in range(0, len(ia), chunk):
        d = A[ia[s:s + chunk]] - B[ib[s:s + chunk]]
        out[s:s + chunk] = np.sqrt(np.einsum("ij,ij->i", d, d, dtype=np.float64))
    return out


def _nearest_enrolment(X: np.ndarray, rows: np.ndarray, persons: np.ndarray,
                       E: np.ndarray, e_pid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each (capture row, person) pair: the smallest distance from ``X[row]``
    to any of that person's enrolments (NaN if none), vectorised through a join."""
    n = len(rows)
    dist = np.full(n, np.nan)
    if n == 0 or len(E) == 0:
        return dist, np.zeros(n, dtype=bool)
    pairs = pd.DataFrame({"pair": np.arange(n), "person_id": persons})
    enr = pd.DataFrame({"person_id": e_pid, "e": np.arange(len(E))})
    m = pairs.merge(enr, on="person_id", how="inner")
    if len(m):
        d = _pair_distances(X, rows[m["pair"].to_numpy()], E, m["e"].to_numpy())
        best = pd.Series(d).groupby(m["pair"].to_numpy()).min()
        dist[best.index.to_numpy()] = best.to_numpy()
    return dist, ~np.isnan(dist)


def _links_both_ways(family_links: pd.DataFrame | None) -> pd.DataFrame:
    """``person_id, related_person_id`` in both directions, no self-links, unique."""
    if family_links is None or len(family_links) == 0:
        return pd.DataFrame({"person_id": pd.Series(dtype=object),
                             "related_person_id": pd.Series(dtype=object)})
    a = family_links[["person_id", "related_person_id"]].dropna()
    both = pd.concat([a, a.rename(columns={"person_id": "related_person_id",
                                           "related_person_id": "person_id"})], ignore_index=True)
    both = both[both["person_id"] != both["related_person_id"]]
    return both.drop_duplicates(ignore_index=True)


# =========================================================================== threshold
@dataclass(frozen=True)
class ThresholdChoice:
    """The verification threshold and how it was obtained."""

    threshold: float
    method: str                 # "mixture" or "default" (too little data)
    n_claimed: int              # claimed distances used
    n_impostor_pairs: int       # enrolment pairs of different persons used
    genuine_mean: float = float("nan")
    genuine_std: float = float("nan")
    genuine_weight: float = float("nan")   # share of claimed captures that are the claimed person
    impostor_mean: float = float("nan")
    impostor_std: float = float("nan")
    raw_threshold: float = float("nan")    # the crossing before clipping to bounds
    clipped: bool = False
    far: float = float("nan")              # impostor pairs at or under the threshold (empirical)
    frr: float = float("nan")              # genuine component over the threshold (fitted)
    frr_empirical: float = float("nan")    # responsibility-weighted share of claimed distances over it
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def markdown(self) -> str:
        """One table of the figures, for a report or docs."""
        rows = [(k, f"{v:.4g}" if isinstance(v, float) else str(v)) for k, v in self.as_dict().items()]
        return "| figure | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


def claimed_distances(captures: pd.DataFrame, enrollments: pd.DataFrame,
                      locations: Sequence[str] | None = ("settlement",)) -> np.ndarray:
    """Distances of claimed captures (at ``locations``; None = all) to the claimed
    person's nearest enrolment; captures whose person is not enrolled are left out."""
    if len(captures) == 0 or "claimed_person_id" not in captures:
        return np.array([], dtype=np.float64)
    c = captures
    if locations is not None and "location" in c:
        c = c[c["location"].isin(list(locations))]
    c = c[c["claimed_person_id"].notna()]
    X, ok = stack_encodings(c["encoding"]) if "encoding" in c else (np.zeros((len(c), 128)), np.zeros(len(c), bool))
    E, e_pid = _enrolment_matrix(enrollments)
    rows = np.flatnonzero(ok)
    d, has = _nearest_enrolment(X, rows, c["claimed_person_id"].to_numpy(dtype=object)[ok], E, e_pid)
    return d[has]


def impostor_distances(enrollments: pd.DataFrame, family_links: pd.DataFrame | None = None,
                       n_pairs: int = 20000, seed: int = 0) -> np.ndarray:
    """Distances between enrolments of different, unlinked persons: all pairs
    when there are few enrolments, else ``n_pairs`` random pairs."""
    E, pid = _enrolment_matrix(enrollments)
    return impostor_distances_of(E, pid, family_links, n_pairs, seed)


def impostor_distances_of(E: np.ndarray, pid: np.ndarray, family_links: pd.DataFrame | None = None,
                          n_pairs: int = 20000, seed: int = 0) -> np.ndarray:
    """:func:`impostor_distances` on an enrolment matrix ``E`` with person ids ``pid``."""
    m = len(E)
    if m < 2:
        return np.array([], dtype=np.float64)
    if m * (m - 1) // 2 <= n_pairs:
        i, j = np.triu_indices(m, k=1)
    else:
        rng = np.random.default_rng(seed)
        i = rng.integers(0, m, size=int(n_pairs * 1.2))
        j = rng.integers(0, m, size=int(n_pairs * 1.2))
    keep = pid[i] != pid[j]
    links = _links_both_ways(family_links)
    if len(links):
        linked = set(zip(links["person_id"], links["related_person_id"]))
        keep &= np.fromiter(((a, b) not in linked for a, b in zip(pid[i], pid[j])), bool, len(i))
    i, j = i[keep][:n_pairs], j[keep][:n_pairs]
    return _pair_distances(E, i, E, j)


def _norm_pdf(x: np.ndarray, mu: float, sd: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


def _norm_sf(x: float, mu: float, sd: float) -> float:
    return 0.5 * math.erfc((x - mu) / (sd * math.sqrt(2)))


def _fit_genuine(g: np.ndarray, mu_i: float, sd_i: float, iters: int = 300,
                 tol: float = 1e-7) -> tuple[float, float, float, np.ndarray]:
    """EM for ``pi N(mu, sd) + (1 - pi) N(mu_i, sd_i)`` with the impostor part fixed.

    Returns ``mu, sd, pi`` and the responsibilities of the genuine component.
    """
    lo = g[g < np.quantile(g, 0.5)] if len(g) > 3 else g
    mu, sd, pi = float(np.median(lo)), max(float(np.std(lo)), 0.02), 0.9
    f_i = _norm_pdf(g, mu_i, sd_i)
    r = np.ones_like(g)
    for _ in range(iters):
        f_g = pi * _norm_pdf(g, mu, sd)
        r = f_g / np.maximum(f_g + (1 - pi) * f_i, 1e-300)
        w = r.sum()
        if w <= 1e-9:
            break
        mu_new = float((r * g).sum() / w)
        sd_new = max(math.sqrt(float((r * (g - mu_new) ** 2).sum() / w)), 1e-3)
        pi_new = float(np.clip(w / len(g), 1e-6, 1 - 1e-6))
        done = abs(mu_new - mu) + abs(sd_new - sd) + abs(pi_new - pi) < tol
        mu, sd, pi = mu_new, sd_new, pi_new
        if done:
            break
    return mu, sd, pi, r


def _gaussian_crossing(mu1: float, sd1: float, mu2: float, sd2: float) -> float | None:
    """Where N(mu1, sd1) and N(mu2, sd2) have equal density, between the means (mu1 < mu2)."""
    if not mu1 < mu2:
        return None
    a = 1 / (2 * sd1 ** 2) - 1 / (2 * sd2 ** 2)
    b = mu2 / sd2 ** 2 - mu1 / sd1 ** 2
    c = mu1 ** 2 / (2 * sd1 ** 2) - mu2 ** 2 / (2 * sd2 ** 2) + math.log(sd1 / sd2)
    if abs(a) < 1e-12:
        roots = [-c / b]
    else:
        disc = b * b - 4 * a * c
        if disc < 0:
            return None
        roots = [(-b + s * math.sqrt(disc)) / (2 * a) for s in (1, -1)]
    inside = [r for r in roots if mu1 <= r <= mu2]
    return float(inside[0]) if inside else None


def choose_threshold(captures: pd.DataFrame, enrollments: pd.DataFrame,
                     family_links: pd.DataFrame | None = None, *,
                     locations: Sequence[str] | None = ("settlement",),
                     bounds: tuple[float, float] = THRESHOLD_BOUNDS,
                     default: float = DEFAULT_THRESHOLD, min_samples: int = 30,
                     n_impostor_pairs: int = 20000, seed: int = 0) -> ThresholdChoice:
    """The capture-vs-enrolment threshold chosen from the data.

    Impostor component: distances between enrolments of different, unlinked
    persons (clean by construction). Claimed distances: captures at
    ``locations`` (all locations when too few there) to the claimed person's
    enrolment, a mixture of the genuine holder and of others (borrowers,
    caregivers). A Gaussian genuine component is fitted by EM with the
    impostor Gaussian held fixed; the threshold is where the two densities
    cross, clipped to ``bounds``. With fewer than ``min_samples`` of either,
    ``default`` is returned (method ``"default"``). FAR is measured on the
    impostor pairs, FRR from the fitted genuine component.
    """
    g = claimed_distances(captures, enrollments, locations)
    if len(g) < min_samples and locations is not None:
        g = claimed_distances(captures, enrollments, None)
    imp = impostor_distances(enrollments, family_links, n_impostor_pairs, seed)
    return threshold_from(g, imp, bounds=bounds, default=default, min_samples=min_samples)


def threshold_from(g: np.ndarray, imp: np.ndarray, *, bounds: tuple[float, float] = THRESHOLD_BOUNDS,
                   default: float = DEFAULT_THRESHOLD, min_samples: int = 30) -> ThresholdChoice:
    """:func:`choose_threshold` on claimed distances ``g`` and impostor distances ``imp``."""
    base = dict(n_claimed=int(len(g)), n_impostor_pairs=int(len(imp)))
    if len(imp) >= 2:
        base.update(impostor_mean=float(imp.mean()), impostor_std=float(imp.std()))
    if len(g) < min_samples or len(imp) < min_samples:
        far = float((imp <= default).mean()) if len(imp) else float("nan")
        return ThresholdChoice(threshold=float(default), method="default", far=far,
                               note=f"too little data (need {min_samples} claimed distances and "
                                    f"impostor pairs); dlib's customary {default}", **base)
    mu_i, sd_i = float(imp.mean()), max(float(imp.std()), 1e-3)
    mu, sd, pi, r = _fit_genuine(g, mu_i, sd_i)
    raw = _gaussian_crossing(mu, sd, mu_i, sd_i)
    if raw is None:
        far = float((imp <= default).mean())
        return ThresholdChoice(threshold=float(default), method="default", far=far,
                               genuine_mean=mu, genuine_std=sd, genuine_weight=pi,
                               note="genuine and impostor components do not separate; default used",
                               **base)
    t = float(np.clip(raw, *bounds))
    w = r.sum()
    return ThresholdChoice(
        threshold=round(t, 4), method="mixture", genuine_mean=mu, genuine_std=sd, genuine_weight=pi,
        raw_threshold=raw, clipped=bool(t != raw), far=float((imp <= t).mean()),
        frr=_norm_sf(t, mu, sd), frr_empirical=float((r * (g > t)).sum() / w) if w > 0 else float("nan"),
        note="crossing of fitted genuine and impostor densities (equal priors)", **base)


# =========================================================================== verification
def verify_captures(captures: pd.DataFrame, enrollments: pd.DataFrame | None,
                    family_links: pd.DataFrame | None = None, threshold: float | None = None,
                    capture_face: pd.DataFrame | None = None) -> pd.DataFrame:
    """人证比对 for every capture: one row per capture, columns :data:`VERIFY_COLUMNS`.

    ``distance``: to the claimed person's nearest enrolment. Over the
    threshold (or when the claimed person is not enrolled), the nearest
    enrolment among persons linked to the claimed one by ``family_links``
    (either direction, any relation including ``proxy``) gives
    ``related_person_id``/``related_distance``. Verdicts: ``match`` (distance
    <= threshold), ``related`` (a linked person's face), ``mismatch`` (neither),
    ``no_enrollment`` (claimed person has no enrolment and no linked match),
    ``no_claim`` (no credential linked), ``no_encoding`` (no usable encoding).
    ``threshold=None`` chooses it with :func:`choose_threshold`; the value used
    is in ``result.attrs["threshold"]``. ``capture_face`` (``capture_id,
    face_id``) fills ``face_id``.
    """
    if threshold is None:
        threshold = choose_threshold(captures, enrollments, family_links).threshold
    n = len(captures)
    X, ok = stack_encodings(captures["encoding"]) if "encoding" in captures else \
        (np.zeros((n, ENCODING_DIM), np.float32), np.zeros(n, bool))
    claimed = col_or(captures, "claimed_person_id").to_numpy(dtype=object)
    has_claim = pd.notna(claimed)
    E, e_pid = _enrolment_matrix(enrollments)

    rows = np.flatnonzero(ok & has_claim)
    distance = np.full(n, np.nan)
    d, _ = _nearest_enrolment(X, rows, claimed[rows], E, e_pid)
    distance[rows] = d
    enrolled = ~np.isnan(distance)

    # linked persons, only where the claimed person's own enrolment did not match
    rel_id = np.full(n, None, dtype=object)
    rel_d = np.full(n, np.nan)
    todo = np.flatnonzero(ok & has_claim & ~(distance <= threshold))
    links = _links_both_ways(family_links)
    if len(todo) and len(links) and len(E):
        cand = pd.DataFrame({"row": todo, "person_id": claimed[todo]}).merge(links, on="person_id")
        if len(cand):
            rows_c = cand["row"].to_numpy()
            dd, has = _nearest_enrolment(X, rows_c, cand["related_person_id"].to_numpy(dtype=object), E, e_pid)
            cand = cand.assign(d=dd)[has]
            if len(cand):
                best = cand.sort_values(["row", "d", "related_person_id"]).drop_duplicates("row")
                rel_id[best["row"].to_numpy()] = best["related_person_id"].to_numpy()
                rel_d[best["row"].to_numpy()] = best["d"].to_numpy()

    verdict = np.select(
        [~ok, ~has_claim, distance <= threshold, rel_d <= threshold, ~enrolled],
        ["no_encoding", "no_claim", "match", "related", "no_enrollment"], default="mismatch")
    out = pd.DataFrame({
        "capture_id": captures["capture_id"].to_numpy(dtype=object),
        "institution_id": col_or(captures, "institution_id").to_numpy(dtype=object),
        "location": col_or(captures, "location").to_numpy(dtype=object),
        "capture_time": captures["capture_time"].to_numpy() if "capture_time" in captures else pd.NaT,
        "visit_id": col_or(captures, "visit_id").to_numpy(dtype=object),
        "claimed_person_id": claimed,
        "distance": distance,
        "related_person_id": rel_id,
        "related_distance": rel_d,
        "verdict": verdict.astype(object),
    })
    if capture_face is not None and len(capture_face):
        fmap = capture_face.drop_duplicates("capture_id").set_index("capture_id")["face_id"]
        out["face_id"] = out["capture_id"].map(fmap).astype(object).where(lambda s: s.notna(), None)
    else:
        out["face_id"] = None
    out.attrs["threshold"] = float(threshold)
    return out[VERIFY_COLUMNS]


def impostor_strength(distance: Any, verdict: Any, choice: ThresholdChoice) -> np.ndarray:
    """How clearly each ``mismatch`` capture is another person's face, in [0, 1].

    A linear ramp from the verification threshold (0: a poor capture of the
    holder is as likely) to the mean distance between different people's
    enrolments (1: as far as a stranger), both measured on the data by
    :func:`choose_threshold`; 0 for every other verdict. Without a measured
    impostor mean every mismatch counts fully.

    >>> c = ThresholdChoice(0.6, "mixture", 100, 100, impostor_mean=0.9)
    >>> impostor_strength([0.62, 0.75, 0.95, 0.3], ["mismatch", "mismatch", "mismatch", "match"], c).round(2).tolist()
    [0.07, 0.5, 1.0, 0.0]
    """
    d = np.asarray(distance, dtype=float)
    mm = np.asarray(verdict, dtype=object) == "mismatch"
    t, mu = float(choice.threshold), float(choice.impostor_mean)
    if not np.isfinite(mu) or mu <= t + 1e-6:
        return mm.astype(float)
    ramp = np.clip((np.nan_to_num(d, nan=mu) - t) / (mu - t), 0.0, 1.0)
    return np.where(mm, ramp, 0.0)


# =========================================================================== clustering
def knn_search(X: np.ndarray, k: int, *, exact_below: int = 20000, nprobe: int = 16,
               threads: int | None = None, batch: int = 65536, seed: int = 0,
               queries: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest neighbours of every row of ``X`` (of its first ``queries`` rows
    when given) among the rows of ``X``.

    Returns ``(D, I)``, Euclidean distances and indices (n, k'), ``k' = min(k+1, n)``
    columns including the point itself; missing neighbours are ``-1``/``inf``.
    Exact (faiss ``IndexFlatL2``, BLAS) below ``exact_below`` rows; above, an
    inverted-file index (``IndexIVFFlat``: k-means coarse quantiser with
    ``nlist ≈ √(nprobe·n)`` cells trained on a seeded sample, which balances the cells
    scanned against the centroids compared, ``nprobe`` cells searched;
    Jégou, Douze & Schmid, TPAMI 2011). IVF builds in one pass of assignments, where
    an HNSW graph took longer to build than to search on this 2-core machine (249 s
    to add 280k faces, 280 s to search them: bench/RESULTS.md, "Faces"); a face's
    neighbours within the threshold sit in the same or adjacent cells, so a small
    ``nprobe`` keeps recall near exact. Queries run in batches of ``batch`` rows.
    """
    import faiss

    X = np.ascontiguousarray(X, dtype=np.float32)
    n, d = X.shape
    kk = min(k + 1, n)
    if threads is not None:
        faiss.omp_set_num_threads(threads)
    if n < exact_below:
        index = faiss.IndexFlatL2(d)
        index.add(X)
    else:
        nlist = int(np.clip(np.sqrt(nprobe * n), 64, 16384))
        quantizer = faiss.IndexFlatL2(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist)
        rng = np.random.default_rng(seed)
        sample = X[rng.choice(n, size=min(n, 20 * nlist), replace=False)]
        index.cp.seed = seed
        index.cp.niter = 10
        index.train(sample)
        index.add(X)
        index.nprobe = min(nprobe, nlist)
    nq = n if queries is None else int(queries)
    D2 = np.empty((nq, kk), dtype=np.float32)
    idx = np.empty((nq, kk), dtype=np.int64)
    for s0 in range(0, nq, batch):
        s1 = min(s0 + batch, nq)
        D2[s0:s1], idx[s0:s1] = index.search(X[s0:s1], kk)
    D = np.sqrt(np.maximum(D2, 0, dtype=np.float32))
    D[idx < 0] = np.inf
    return D, idx


def _shared_neighbours(nb: np.ndarray, a: np.ndarray, b: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """|N(a) & N(b)| for edge lists ``a, b`` given padded neighbour lists ``nb`` (-1 = none)."""
    out = np.empty(len(a), dtype=np.int32)
    for s in range(0, len(a), chunk):
        na, nb_ = nb[a[s:s + chunk]], nb[b[s:s + chunk]]
        eq = (na[:, :, None] == nb_[:, None, :]) & (na[:, :, None] >= 0)
        out[s:s + chunk] = eq.any(axis=2).sum(axis=1)
    return out


def _refine_components(X: np.ndarray, comp: np.ndarray, threshold: float, cut: float,
                       max_refine: int) -> tuple[np.ndarray, int]:
    """Re-cut loose components by average linkage at ``threshold`` (see :func:`cluster_faces`)."""
    from scipy.cluster.hierarchy import fcluster, linkage

    n_comp = int(comp.max()) + 1
    size = np.bincount(comp, minlength=n_comp)
    cent = np.zeros((n_comp, X.shape[1]), np.float64)
    np.add.at(cent, comp, X)
    cent /= np.maximum(size, 1)[:, None]
    r = np.linalg.norm(X - cent[comp], axis=1)
    radius = np.zeros(n_comp)
    np.maximum.at(radius, comp, r)
    loose = np.flatnonzero((size >= 3) & (size <= max_refine) & (radius > threshold / 2))
    if len(loose) == 0:
        return comp, 0
    out = comp.copy()
    order = np.argsort(comp, kind="stable")
    starts = np.concatenate([[0], np.cumsum(size)])
    next_label = n_comp
    for c in loose:                                  # one call per loose component, not per face
        members = order[starts[c]:starts[c + 1]]
        sub = fcluster(linkage(X[members].astype(np.float64), method="average"), cut,
                       criterion="distance")
        if sub.max() > 1:
            extra = sub > 1
            out[members[extra]] = next_label + sub[extra] - 2
            next_label += int(sub.max()) - 1
    return out, len(loose)


def cluster_faces(encodings: np.ndarray, threshold: float = DEFAULT_CLUSTER_THRESHOLD, *,
                  k: int = 20, min_shared: float = 1 / 3, mutual: bool = False,
                  refine: bool = True, refine_factor: float = 1.2, max_refine: int = 5000,
                  exact_below: int = 20000, return_graph: bool = False, queries: int | None = None,
                  **knn_kw: Any) -> np.ndarray | tuple[np.ndarray, dict[str, Any]]:
    """Face-identity labels (``int64``, 0..c-1, numbered by first appearance) for each encoding.

    1. k nearest neighbours (:func:`knn_search`: exact below ``exact_below``
       rows, an inverted-file index above); ``N(i)`` = those within ``threshold``.
    2. Candidate edge ``i - j`` when ``j`` is in ``N(i)`` or ``i`` in ``N(j)``
       (both, with ``mutual=True``; in 128 dimensions mutual k-NN alone
       isolates the "anti-hub" captures of a person seen hundreds of times).
    3. Anti-chaining, shared nearest neighbours (Jarvis & Patrick 1973): the
       edge is kept only when ``|N(i) & N(j)| >= ceil(min_shared * (m - 1))``,
       ``m`` the smaller of the two neighbourhood sizes. An isolated pair or a
       tight group passes; a blurred capture touching one or two members each
       of two otherwise unconnected people shares too few neighbours with
       either side and is cut off (it stays a singleton).
    4. Connected components of the kept edges (scipy.sparse.csgraph).
    5. With ``refine``, a component that is not provably tight (some member
       farther than ``threshold / 2`` from its centroid, so two members may be
       more than ``threshold`` apart) is re-cut by average linkage at
       ``refine_factor * threshold`` (UPGMA, Sokal & Michener 1958): a capture
       that lies between two people and within reach of all of them joins one
       side, and the two people -- on average farther apart than that -- stay
       apart; a person's blurred captures, on average still near the rest, stay. Components over ``max_refine`` members are left as they are.

    Cost: the index O(n log n), the graph O(n k^2), the refinement O(c^2) per
    loose component of c members -- against O(n^2) for all pairs.

    With ``queries``, only the first ``queries`` rows look for neighbours; the others
    (the enrolments, hundreds of thousands in a city) are only found: their
    neighbourhoods are the rows that found them, and two of them are never joined
    directly (two enrolments of one person meet through the captures of that person).

    >>> X = np.zeros((4, 128), np.float32); X[2:, 0] = 1.0
    >>> cluster_faces(X, 0.5).tolist()
    [0, 0, 1, 1]
    """
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    X = np.asarray(encodings, dtype=np.float32)
    n = len(X)
    if n <= 1:
        labels = np.zeros(n, np.int64)
        return (labels, {"candidate_edges": 0, "kept_edges": 0}) if return_graph else labels
    D, idx = knn_search(X, k, exact_below=exact_below, queries=queries, **knn_kw)
    nq = len(idx)
    own = np.arange(nq)[:, None]
    valid = (idx >= 0) & (idx != own) & (D <= threshold)
    src = np.broadcast_to(own, idx.shape)[valid]
    dst = idx[valid]
    nb = np.full((n, idx.shape[1]), -1, dtype=np.int64)   # N(i), padded with -1
    nb[:nq] = np.where(valid, idx, -1)
    if nq < n:                                          # rows only found: who found them
        rev = dst >= nq
        rs, rd = src[rev], dst[rev]
        o = np.lexsort((rs, rd))
        rs, rd = rs[o], rd[o]
        first = np.searchsorted(rd, rd, side="left")
        slot = np.arange(len(rd)) - first
        keep = slot < nb.shape[1]
        nb[rd[keep], slot[keep]] = rs[keep]
    deg = (nb >= 0).sum(axis=1)
    A = sparse.csr_matrix((np.ones(len(src), np.int8), (src, dst)), shape=(n, n))
    A.data[:] = 1
    S = A.multiply(A.T) if mutual else (A + A.T)
    coo = sparse.triu(S.tocsr(), k=1).tocoo()
    a, b = coo.row.astype(np.int64), coo.col.astype(np.int64)
    shared = _shared_neighbours(nb, a, b)
    need = np.ceil(min_shared * (np.minimum(deg[a], deg[b]) - 1) - 1e-9).astype(np.int64)
    ok = shared >= need
    G = sparse.csr_matrix((np.ones(int(ok.sum()), np.int8), (a[ok], b[ok])), shape=(n, n))
    _, comp = connected_components(G, directed=False)
    n_refined = 0
    if refine:
        comp, n_refined = _refine_components(X, comp, threshold, refine_factor * threshold, max_refine)
    # number by first appearance, so labels do not depend on scipy's traversal
    _, first = np.unique(comp, return_index=True)
    order = np.empty(len(first), np.int64)
    order[np.argsort(np.argsort(first))] = np.arange(len(first))
    labels = order[comp]
    if return_graph:
        return labels, {"candidate_edges": int(len(a)), "kept_edges": int(ok.sum()),
                        "refined_components": n_refined, "graph": G}
    return labels


def face_id_of(min_capture_id: str) -> str:
    """Stable face-identity id from the smallest capture id in the cluster.

    >>> face_id_of("C000001")
    'F-5f8d62b5f430'
    """
    return "F-" + hashlib.sha1(str(min_capture_id).encode("utf-8")).hexdigest()[:12]


def sorted_tuples(df: pd.DataFrame, key: str, col: str) -> pd.Series:
    """Per ``key``: the sorted distinct non-null values of ``col`` as a tuple."""
    u = df[[key, col]].dropna().drop_duplicates().sort_values([key, col])
    if u.empty:
        return u.groupby(key, sort=False)[col].agg(tuple)
    # one split of the sorted values at the key boundaries (groupby(...).agg(tuple) calls
    # Python once per group)
    keys = u[key].to_numpy()
    vals = u[col].to_numpy(dtype=object)
    cut = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    starts = np.concatenate([[0], cut])
    return pd.Series([tuple(p) for p in np.split(vals, cut)], index=pd.Index(keys[starts], name=key), name=col)


def face_identities(captures: pd.DataFrame, enrollments: pd.DataFrame | None = None,
                    threshold: float = DEFAULT_CLUSTER_THRESHOLD, *, k: int = 20,
                    min_shared: float = 1 / 3, anchor_threshold: float | None = None,
                    **knn_kw: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cluster every captured face (with the enrolments) into face identities.

    With ``anchor_threshold`` (the verification threshold), verification comes
    first, as at a real settlement window (1:1 then 1:N): a capture within
    ``anchor_threshold`` of the claimed person's enrolment *is* that person and
    joins the identity of that enrolment directly; only the rest -- mismatches,
    unenrolled or unclaimed faces -- go through the k-NN clustering, together
    with every enrolment (so an impostor who is enrolled as someone else still
    finds their own identity). Most captures verify, so the clustering works
    on a fraction of the faces.

    Returns ``capture_face`` (``capture_id, face_id``; captures without an
    encoding are left out) and ``identities`` (:data:`IDENTITY_COLUMNS`, one
    row per face identity): ``credentials`` are the distinct claimed persons
    the face presented, ``enrolled_person_id`` the person whose enrolment fell
    in the cluster (the one nearest the cluster's mean capture when several,
    ``n_enrolled_persons`` says how many), ``institutions`` where it was seen.
    ``face_id`` = :func:`face_id_of` (smallest capture id): the same data give
    the same ids. :func:`face_identities_engine` does the same on data that
    stays in the columnar engine.
    """
    X, ok = stack_encodings(captures["encoding"]) if "encoding" in captures and len(captures) else \
        (np.zeros((len(captures), ENCODING_DIM), np.float32), np.zeros(len(captures), bool))
    caps = captures.loc[ok].reset_index(drop=True)
    Xc = X[ok]
    E, e_pid = _enrolment_matrix(enrollments)
    anchor_e = np.full(len(Xc), -1, dtype=np.int64)
    if anchor_threshold is not None and len(E) and "claimed_person_id" in caps.columns:
        claimed = caps["claimed_person_id"].to_numpy(dtype=object)
        has = np.flatnonzero(pd.notna(claimed))
        if len(has):
            m = pd.DataFrame({"pair": np.arange(len(has)), "person_id": claimed[has]}).merge(
                pd.DataFrame({"person_id": e_pid, "e": np.arange(len(E))}), on="person_id")
            if len(m):
                d = _pair_distances(Xc, has[m["pair"].to_numpy()], E, m["e"].to_numpy())
                m = m.assign(d=d).sort_values(["pair", "d", "e"]).drop_duplicates("pair")
                m = m[m["d"] <= anchor_threshold]
                anchor_e[has[m["pair"].to_numpy()]] = m["e"].to_numpy()
    anchored = anchor_e >= 0
    sums = np.zeros((len(E), ENCODING_DIM), np.float64)
    np.add.at(sums, anchor_e[anchored], Xc[anchored])
    return _identities(caps, anchor_e, Xc[~anchored], E, e_pid, sums, threshold, k, min_shared, knn_kw)


def _identities(caps: pd.DataFrame, anchor_e: np.ndarray, X_free: np.ndarray, E: np.ndarray, e_pid: np.ndarray,
                anchored_sums: np.ndarray, threshold: float, k: int, min_shared: float,
                knn_kw: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The identity clustering of :func:`face_identities`, given the encoded captures ``caps``
    (in table order), their anchor enrolment (index into ``E``, -1 when not anchored), the
    encodings of the unanchored ones and the per-enrolment sums of the anchored ones."""
    nc = len(caps)
    if nc == 0:
        return (pd.DataFrame({"capture_id": pd.Series(dtype=object), "face_id": pd.Series(dtype=object)}),
                pd.DataFrame({c: pd.Series(dtype=object) for c in IDENTITY_COLUMNS}))
    anchored = anchor_e >= 0
    free = np.flatnonzero(~anchored)
    lab = cluster_faces(np.vstack([X_free, E]) if len(E) else X_free, threshold, k=k, min_shared=min_shared,
                        queries=len(X_free), **knn_kw)
    le = lab[len(free):]
    lc = np.empty(nc, dtype=np.int64)
    lc[free] = lab[:len(free)]
    lc[anchored] = le[anchor_e[anchored]]
    labels = np.concatenate([lc, le])

    # the smallest capture id per label, by one sort (a string min per group falls back to a
    # Python loop in pandas: minutes for a city's hundreds of thousands of faces)
    first = pd.DataFrame({"lab": lc, "cid": caps["capture_id"].astype(str).to_numpy(dtype=object)}) \
        .sort_values(["lab", "cid"], kind="stable").drop_duplicates("lab")
    min_id = pd.Series(first["cid"].to_numpy(dtype=object), index=first["lab"].to_numpy())
    fid_of_label = pd.Series(min_id.map(face_id_of).to_numpy(), index=min_id.index)
    face = fid_of_label.reindex(lc).to_numpy(dtype=object)
    capture_face = pd.DataFrame({"capture_id": caps["capture_id"].to_numpy(dtype=object), "face_id": face})

    # enrolment tie: enrolments in a cluster that has captures; nearest to the capture centroid
    n_lab = int(labels.max()) + 1
    sums = np.zeros((n_lab, ENCODING_DIM), np.float64)
    np.add.at(sums, lc[free], X_free)
    if len(E):
        np.add.at(sums, le, anchored_sums)
    counts = np.bincount(lc, minlength=n_lab)
    enrolled = pd.DataFrame(columns=["face_id", "enrolled_person_id", "n_enrolled_persons"])
    in_cap = counts[le] > 0 if len(le) else np.zeros(0, bool)
    if in_cap.any():
        lab_e = le[in_cap]
        cent = sums[lab_e] / counts[lab_e, None]
        d = np.linalg.norm(E[in_cap] - cent, axis=1)
        te = pd.DataFrame({"label": lab_e, "person_id": e_pid[in_cap], "d": d})
        npers = te.groupby("label")["person_id"].nunique()
        best = te.sort_values(["label", "d", "person_id"]).drop_duplicates("label").set_index("label")
        enrolled = pd.DataFrame({"face_id": fid_of_label.reindex(best.index).to_numpy(),
                                 "enrolled_person_id": best["person_id"].to_numpy(dtype=object),
                                 "n_enrolled_persons": npers.reindex(best.index).to_numpy()})

    t = caps.assign(face_id=face)
    if "capture_time" not in t:
        t["capture_time"] = pd.NaT
    for c in ("claimed_person_id", "institution_id"):
        if c not in t:
            t[c] = None
    g = t.groupby("face_id", sort=True)
    ident = pd.DataFrame({"n_captures": g.size(), "first_seen": g["capture_time"].min(),
                          "last_seen": g["capture_time"].max()})
    ident["credentials"] = sorted_tuples(t, "face_id", "claimed_person_id").reindex(ident.index)
    ident["institutions"] = sorted_tuples(t, "face_id", "institution_id").reindex(ident.index)
    for c in ("credentials", "institutions"):
        ident[c] = ident[c].map(lambda v: v if isinstance(v, tuple) else ())
    ident["n_credentials"] = ident["credentials"].map(len).astype(np.int64)
    ident["n_institutions"] = ident["institutions"].map(len).astype(np.int64)
    ident = ident.rename_axis("face_id").reset_index().merge(enrolled, on="face_id", how="left")
    ident["n_enrolled_persons"] = ident["n_enrolled_persons"].fillna(0).astype(np.int64)
    ident["enrolled_person_id"] = ident["enrolled_person_id"].astype(object).where(
        ident["enrolled_person_id"].notna(), None)
    return capture_face, ident[IDENTITY_COLUMNS]


# =========================================================================== in the columnar engine
def engine_captures(engine: Any) -> pd.DataFrame:
    """Every capture in table order with ``has_encoding``, ``distance`` to the claimed
    person's nearest enrolment and that enrolment's position ``erow`` (``graph/sql/face_claimed.sql``)."""
    f = engine.query("face_claimed")
    f["erow"] = f["erow"].astype("float64")
    return f.drop(columns="_row")


def engine_enrolments(engine: Any) -> tuple[np.ndarray, np.ndarray]:
    """The usable enrolments' matrix and person ids, in table order (as :func:`_enrolment_matrix`)."""
    t = engine.arrow(sql_text("face_enrollment_matrix"))
    pid = np.asarray(t.column("person_id").to_pylist(), dtype=object)
    return _list_matrix(t.column("encoding")), pid


def engine_encodings(engine: Any, capture_ids: Sequence[str]) -> np.ndarray:
    """The encodings of ``capture_ids``, in that order (only these leave the engine)."""
    if len(capture_ids) == 0:
        return np.zeros((0, ENCODING_DIM), np.float32)
    want = pd.DataFrame({"capture_id": np.asarray(capture_ids, dtype=object), "ord": np.arange(len(capture_ids))})
    t = engine.arrow(sql_text("face_capture_encodings"), frames={"want": want})
    if t.num_rows != len(capture_ids):
        raise RuntimeError(f"{len(capture_ids) - t.num_rows} capture encodings could not be found again")
    return _list_matrix(t.column("encoding"))


def _list_matrix(col: Any) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if len(arr) == 0:
        return np.zeros((0, ENCODING_DIM), np.float32)
    flat = pc.list_flatten(arr).to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return flat.reshape(len(arr), ENCODING_DIM)


def engine_related(engine: Any, capture_ids: Sequence[str]) -> pd.DataFrame:
    """For ``capture_ids``: the nearest enrolment among the claimed person's registered
    relatives and proxies (``related_person_id, related_distance``; ``graph/sql/face_related.sql``)."""
    cols = ["capture_id", "related_person_id", "related_distance"]
    if len(capture_ids) == 0 or not engine.has("family_links"):
        return pd.DataFrame({c: pd.Series(dtype=object if c != "related_distance" else float) for c in cols})
    return engine.query("face_related", frames={"todo": pd.DataFrame({"capture_id": list(capture_ids)})})[cols]


def face_identities_engine(engine: Any, frame: pd.DataFrame, E: np.ndarray, e_pid: np.ndarray,
                           threshold: float = DEFAULT_CLUSTER_THRESHOLD, *, k: int = 20,
                           min_shared: float = 1 / 3, anchor_threshold: float | None = None,
                           chunk: int = 200_000, **knn_kw: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`face_identities` with the captures' encodings left in the engine: the anchored
    (verified) captures come as distances (``frame`` from :func:`engine_captures`) and their
    encodings are read in chunks only to sum them per enrolment; only the unverified ones are
    fetched whole, for the clustering.

    Only captures that presented a credential are put into identities: an entrance or ward
    capture without a claim has no face identity (no detector reads one: ghost admissions use
    the claimed ward captures, lending the faces behind credentials), which keeps the
    clustering to the captures that did not verify -- a small share of a city's captures."""
    caps = frame[frame["has_encoding"].astype(bool) & frame["claimed_person_id"].notna()].reset_index(drop=True)
    anchor_e = np.full(len(caps), -1, dtype=np.int64)
    if anchor_threshold is not None and len(E):
        ok = caps["distance"].notna().to_numpy() & (caps["distance"].to_numpy(dtype=float) <= anchor_threshold)
        anchor_e[ok] = caps["erow"].to_numpy()[ok].astype(np.int64)
    anchored = anchor_e >= 0
    ids = caps["capture_id"].to_numpy(dtype=object)
    sums = np.zeros((len(E), ENCODING_DIM), np.float64)
    rows = np.flatnonzero(anchored)
    for s0 in range(0, len(rows), chunk):
        r = rows[s0:s0 + chunk]
        np.add.at(sums, anchor_e[r], engine_encodings(engine, ids[r]))
    X_free = engine_encodings(engine, ids[~anchored])
    return _identities(caps, anchor_e, X_free, E, e_pid, sums, threshold, k, min_shared, knn_kw)


def verdicts(frame: pd.DataFrame, related: pd.DataFrame, threshold: float,
             capture_face: pd.DataFrame | None = None) -> pd.DataFrame:
    """:func:`verify_captures`'s result from the engine's distances: one row per capture."""
    out = frame.merge(related, on="capture_id", how="left") if len(related) else \
        frame.assign(related_person_id=None, related_distance=np.nan)
    ok = out["has_encoding"].astype(bool).to_numpy()
    has_claim = out["claimed_person_id"].notna().to_numpy()
    distance = out["distance"].to_numpy(dtype=float)
    rel_d = out["related_distance"].to_numpy(dtype=float)
    enrolled = ~np.isnan(distance)
    with np.errstate(invalid="ignore"):
        verdict = np.select(
            [~ok, ~has_claim, distance <= threshold, rel_d <= threshold, ~enrolled],
            ["no_encoding", "no_claim", "match", "related", "no_enrollment"], default="mismatch")
    out["verdict"] = verdict.astype(object)
    out["related_person_id"] = out["related_person_id"].astype(object).where(out["related_person_id"].notna(), None)
    if capture_face is not None and len(capture_face):
        fmap = capture_face.drop_duplicates("capture_id").set_index("capture_id")["face_id"]
        out["face_id"] = out["capture_id"].map(fmap).astype(object).where(lambda x: x.notna(), None)
    else:
        out["face_id"] = None
    out.attrs["threshold"] = float(threshold)
    return out[VERIFY_COLUMNS]


def caregiver_shares(matches: pd.DataFrame, family_links: pd.DataFrame | None,
                     faces: Iterable[str] | None = None) -> dict[str, float]:
    """Per face identity: the largest share of the credentials it presented
    (verdict ``mismatch`` or ``related``) that ``family_links`` bind to one and
    the same person -- a carer registered for many of them.

    >>> m = pd.DataFrame({"face_id": ["F1"] * 4, "verdict": ["mismatch", "related", "mismatch", "mismatch"],
    ...                   "claimed_person_id": ["A", "B", "C", "D"]})
    >>> links = pd.DataFrame({"person_id": ["A", "B"], "related_person_id": ["X", "X"]})
    >>> caregiver_shares(m, links)
    {'F1': 0.5}
    """
    fl = _links_both_ways(family_links)
    if fl.empty or matches is None or len(matches) == 0:
        return {}
    m = matches[matches["verdict"].isin(["mismatch", "related"])]
    if faces is not None:
        m = m[m["face_id"].isin(set(faces))]
    seen = m[["face_id", "claimed_person_id"]].dropna().drop_duplicates()
    if seen.empty:
        return {}
    n = seen.groupby("face_id")["claimed_person_id"].nunique()
    j = seen.merge(fl.rename(columns={"person_id": "claimed_person_id", "related_person_id": "carer"}),
                   on="claimed_person_id")
    if j.empty:
        return {}
    per_carer = j.groupby(["face_id", "carer"])["claimed_person_id"].nunique()
    best = (per_carer / n.reindex(per_carer.index.get_level_values(0)).to_numpy()).groupby(level=0).max()
    return {str(k): float(v) for k, v in best.items()}
