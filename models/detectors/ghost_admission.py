"""Ghost admissions (挂床/虚假住院): waves of co-admitted patients who are never on the ward.

A wave is a window of one to ``max_window_days`` days in which an institution
admits many more patients than its own admission rate predicts (a scan
statistic: Poisson surprise of the window's count against the rate of the
rest of the year, so a large hospital's volume is its own baseline). The scan
runs twice: over all the institution's admissions (a bus of villagers with
assorted complaints at a small hospital) and per 3-character diagnosis (a
handful of co-admissions with one theme at a busy hospital, invisible in its
total). Evidence that the patients were not in bed raises a wave:

- no ward capture during the stay, where the institution's ward camera was
  working (it captured someone during that stay; otherwise presence is
  unknown, not absent -- an outage);
- settlements at *other* institutions during the stay (shopping at a pharmacy
  while "in hospital"), against the share of all stays that have them.

A ward capture of the patients lowers it. All surprising waves of one
institution form one group -- the organisation is the hospital: the
institution, the physician(s) who admitted at least 25 % of the wave
patients or far more of them than their usual share of the hospital's
admissions (Poisson surprise), and the patients they admitted in the waves
(the same days' admissions by the hospital's other physicians are its
ordinary patients).

References: Kulldorff, "A spatial scan statistic" (1997) for the window scan;
Anscombe's variance-stabilised Poisson surprise as in ``_util.poisson_sf_z``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ringscope.models.detectors._util import finalize, poisson_sf_z, squash, typed
from ringscope.graph.projection import visit_frame
from ringscope.models.base import BaseDetector, Context, Group

__all__ = ["GhostAdmissionDetector", "ward_presence"]


def ward_presence(ctx: Context, stays: pd.DataFrame) -> pd.Series:
    """Per inpatient visit: number of ward captures of the credential holder
    during the stay (visit-linked, or same person and institution within the
    stay). NaN when the institution has no terminal, there are no captures, or
    the ward camera captured nobody at all during the stay (an outage)."""
    out = pd.Series(np.nan, index=stays.index)
    if not ctx.has("face_captures"):
        return out
    fm = ctx.face_matches
    # the verified captures when the face stage ran; else the ward captures' own columns
    # (never the encodings: a city's captures with them are gigabytes)
    src = fm if fm is not None and len(fm) else \
        ctx.rows("face_captures", ["capture_id", "location", "claimed_person_id", "institution_id", "capture_time"],
                 prefilter="location = 'ward'")
    w = src[src["location"] == "ward"] if "location" in src.columns else src.iloc[0:0]
    if "verdict" in w.columns:
        w = w[w["verdict"].isin(["match", "related"]) | w["verdict"].isna()]
    has_t = stays["has_face_terminal"].to_numpy()
    out[has_t] = 0.0
    if w.empty:
        return out
    m = stays[has_t].reset_index()[["index", "visit_id", "person_id", "institution_id", "start_time", "end"]]
    j = m.merge(w[["claimed_person_id", "institution_id", "capture_time"]],
                left_on=["person_id", "institution_id"], right_on=["claimed_person_id", "institution_id"])
    j = j[(j["capture_time"] >= j["start_time"]) & (j["capture_time"] <= j["end"] + pd.Timedelta("1D"))]
    cnt = j.groupby("index").size()
    out.loc[cnt.index] = cnt.to_numpy(dtype=float)
    # a camera that captured nobody on the ward during the stay was down (outage), not evidence:
    # without any other ward capture at the institution within the stay, presence is unknown
    wi = w[["institution_id", "capture_time"]].dropna().sort_values(["institution_id", "capture_time"])
    zero = out.index[out.eq(0).to_numpy()]
    if len(zero):
        z = stays.loc[zero, ["institution_id", "start_time", "end"]]
        up = np.zeros(len(z), dtype=bool)
        for inst, idx in z.groupby("institution_id").groups.items():
            t = wi.loc[wi["institution_id"] == inst, "capture_time"].to_numpy()
            if not len(t):
                continue
            a = np.searchsorted(t, z.loc[idx, "start_time"].to_numpy(), side="left")
            b = np.searchsorted(t, (z.loc[idx, "end"] + pd.Timedelta("1D")).to_numpy(), side="right")
            up[z.index.get_indexer(idx)] = b > a
        out.loc[zero[~up]] = np.nan
    return out


class GhostAdmissionDetector(BaseDetector):
    """Find waves of co-admitted patients without ward presence.

    Parameters
    ----------
    max_window_days : longest window scanned (1..this many days).
    min_wave : smallest wave (distinct patients).
    min_surprise : Poisson surprise a window needs to be a wave (many windows are scanned).
    min_score : groups below are dropped.
    """

    name = "ghost_admission"
    scheme = "ghost_admission"
    kind = "graph"
    needs = ("visits",)

    max_window_days: int
    min_wave: int
    min_surprise: float
    min_score: float

    def fit(self, ctx: Context, y: pd.DataFrame | None = None) -> GhostAdmissionDetector:
        p = self.params
        v = visit_frame(ctx)
        st = v[v["visit_type"] == "inpatient"].copy()
        if st.empty:
            return finalize(self, [])
        st["dx3"] = st["diagnosis_codes"].map(lambda t: t[0][:3] if isinstance(t, tuple) and t else "?") \
            if "diagnosis_codes" in st.columns else "?"
        st["ward"] = ward_presence(ctx, st)
        st["no_ward"] = st["ward"].eq(0)
        st["elsewhere"] = elsewhere_during_stay(v, st)
        base_elsewhere = float(st["elsewhere"].mean())
        day0 = st["start_time"].min().normalize()
        st["day"] = ((st["start_time"] - day0).dt.total_seconds() // 86400).astype(np.int64)
        span = int(st["day"].max()) + 1
        waves = pd.concat([scan_waves(st["institution_id"].to_numpy(), st["day"].to_numpy(), span,
                                      p["max_window_days"], p["min_wave"], p["min_surprise"]).assign(level="all"),
                           scan_waves((st["institution_id"] + "|" + st["dx3"]).to_numpy(), st["day"].to_numpy(),
                                      span, p["max_window_days"], p["min_wave"], p["min_surprise"])
                           .assign(level="dx3")], ignore_index=True)
        if waves.empty:
            return finalize(self, [])
        waves["institution_id"] = waves["key"].str.split("|", n=1).str[0]
        rows = np.concatenate([r for r in waves["rows"]])
        wave_of = np.repeat(np.arange(len(waves)), waves["rows"].map(len).to_numpy())
        mem = st.iloc[rows][["visit_id", "person_id", "institution_id", "physician_id", "no_ward", "ward",
                             "elsewhere", "amount", "has_face_terminal", "dx3", "start_time"]].assign(wave=wave_of)
        agg = mem.groupby("wave").agg(n=("person_id", "nunique"), no_ward=("no_ward", "mean"),
                                      observed=("ward", lambda s: s.notna().mean()),
                                      elsewhere=("elsewhere", "sum"), stays=("visit_id", "size"))
        waves = waves.join(agg)
        waves["elsewhere_z"] = _binom_z(waves["elsewhere"].to_numpy(), waves["stays"].to_numpy(), base_elsewhere)
        waves["raw"] = (0.6 * waves["surprise"].clip(upper=12) + 3.0 * waves["no_ward"] * waves["observed"]
                        - 1.5 * (1 - waves["no_ward"]) * waves["observed"] + 0.5 * waves["elsewhere_z"].clip(0, 6))
        waves = waves[waves["raw"] > 0]
        # each physician's share of the institution's admissions (the usual, against which a wave's is judged)
        adm = st.dropna(subset=["physician_id"]).groupby(["institution_id", "physician_id"]).size()
        doc_share = {i: (g.droplevel(0) / g.sum()) for i, g in adm.groupby(level=0)}
        groups = []
        for inst, ww in waves.groupby("institution_id", sort=True):
            mm = mem[mem["wave"].isin(ww.index)].drop_duplicates("visit_id")
            # where the terminal saw patients on the ward, those patients are not ghosts
            if mm["has_face_terminal"].any():
                mm = mm[~(mm["ward"] > 0)]
            if mm["person_id"].nunique() < p["min_wave"]:
                continue
            # the admitting doctors of the waves: at least a quarter of their patients, or far more of them
            # than the doctor's share of the hospital's admissions predicts (Poisson surprise): at a big
            # hospital two doctors admitting a 25-patient ring are each 14 % of a 92-patient window, four
            # times their usual share, beside thirty colleagues' ordinary admissions of those days
            first = mm.drop_duplicates("person_id")["physician_id"].dropna()
            cnt = first.value_counts()
            usual = doc_share.get(inst, pd.Series(dtype=float)).reindex(cnt.index).fillna(0.0).to_numpy()
            z = poisson_sf_z(cnt.to_numpy(), usual * len(first)) if len(cnt) else np.zeros(0)
            docs = [d for d, k, zz in zip(cnt.index, cnt.to_numpy(), z)
                    if k >= 0.25 * len(first) or (k >= 2 and zz >= p["min_surprise"])]
            # a wave is run by its admitting doctors: the window also holds the ordinary admissions of the
            # hospital's other physicians (a 1M city: 25 of a wave's 92 patients were the ring's, the rest
            # admitted by thirty other doctors the same days), who are not part of it
            if docs:
                mm = mm[mm["physician_id"].isin(docs)]
            persons = sorted(mm["person_id"].unique())
            if len(persons) < p["min_wave"]:
                continue
            n_waves = _distinct_waves(ww["d0"].to_numpy(), ww["w"].to_numpy())
            raw = float(ww["raw"].max()) + 1.5 * np.log2(n_waves)     # recruiting again and again
            score = float(squash(raw, mid=4.0, scale=1.0))
            seen = mm["ward"].notna()
            groups.append(Group(
                self.name, self.scheme, typed("institution", [inst]) + typed("physician", docs) +
                typed("person", persons), score, float(mm["amount"].sum()),
                f"{inst} admitted {len(persons)} patients in {n_waves} wave(s) far above its usual rate "
                f"(diagnoses {', '.join(mm['dx3'].value_counts().index[:4])})"
                + (f"; {mm.loc[seen, 'no_ward'].mean():.0%} of those under a working ward camera never captured"
                   if seen.any() else "")
                + (f"; {int(mm['elsewhere'].sum())} stays with settlements elsewhere during the stay"
                   if mm["elsewhere"].any() else "")
                + ". Inspect the ward rounds and bed records.",
                {"waves": [{"start_day": str((day0 + pd.Timedelta(days=int(r.d0))).date()), "days": int(r.w),
                            "level": r.level, "key": r.key, "admissions": int(r.count), "expected": round(float(r.expected), 2),
                            "surprise": round(float(r.surprise), 2), "no_ward": round(float(r.no_ward), 3),
                            "elsewhere": int(r.elsewhere)} for r in ww.itertuples()],
                 "base_elsewhere_rate": round(base_elsewhere, 4),
                 "visits": mm["visit_id"].tolist()[:200], "params": self.get_params()}))
        groups = [g for g in groups if g.score >= p["min_score"]]
        return finalize(self, groups)


def elsewhere_during_stay(v: pd.DataFrame, stays: pd.DataFrame) -> pd.Series:
    """Per stay: whether the credential settled at another institution strictly
    inside the stay (from the day after admission to the day before discharge)."""
    out = pd.Series(False, index=stays.index)
    s = stays[["person_id", "institution_id", "start_time", "end"]].reset_index()
    s = s[(s["end"] - s["start_time"]) >= pd.Timedelta(days=2)]
    if s.empty:
        return out
    o = v[["person_id", "institution_id", "start_time"]].rename(columns={"institution_id": "other",
                                                                        "start_time": "t"})
    o = o[o["person_id"].isin(set(s["person_id"]))]
    j = s.merge(o, on="person_id")
    j = j[(j["other"] != j["institution_id"]) & (j["t"] >= j["start_time"].dt.normalize() + pd.Timedelta(days=1))
          & (j["t"] < j["end"].dt.normalize())]
    out.loc[j["index"].unique()] = True
    return out


def _distinct_waves(d0: np.ndarray, w: np.ndarray) -> int:
    """Windows that overlap in time (the all-diagnoses and the one-diagnosis scan of one
    wave) count once: the number of merged intervals."""
    order = np.argsort(d0, kind="stable")
    n, end = 0, -np.inf
    for a, b in zip(d0[order], (d0 + w)[order]):
        if a >= end:
            n += 1
            end = b
        else:
            end = max(end, b)
    return n


def _binom_z(k: np.ndarray, n: np.ndarray, p0: float) -> np.ndarray:
    p0 = min(max(p0, 1e-3), 0.999)
    n = np.maximum(np.asarray(n, float), 1.0)
    return (np.asarray(k, float) - n * p0) / np.sqrt(n * p0 * (1 - p0))


def scan_waves(keys: np.ndarray, day: np.ndarray, span: int, max_window: int, min_n: int,
               min_surprise: float) -> pd.DataFrame:
    """Windows of 1..``max_window`` days with surprisingly many events of one key.

    For every key and every window starting on a day with an event, the count
    is compared with the key's rate on the rest of the span (Poisson surprise,
    :func:`poisson_sf_z`); windows with at least ``min_n`` events and surprise
    ``>= min_surprise`` are kept greedily, best first, without overlap within a
    key. Returns ``key, d0, w, count, expected, surprise, rows`` (positions of
    the window's events in the input).

    >>> d = np.array([0, 50, 100, 150, 200, 200, 200, 200, 201, 250, 300])
    >>> w = scan_waves(np.array(["H"] * 11), d, 365, 3, 4, 3.0)
    >>> w[["key", "d0", "count"]].values.tolist()
    [['H', 200, 5]]
    """
    cols = ["key", "d0", "w", "count", "expected", "surprise", "rows"]
    if len(keys) == 0:
        return pd.DataFrame(columns=cols)
    codes, uniq = pd.factorize(pd.Series(keys, dtype=object))
    order = np.lexsort((day, codes))
    c, d = codes[order], day[order].astype(np.int64)
    flat = c.astype(np.int64) * (span + max_window + 1) + d
    total = np.bincount(c, minlength=len(uniq)).astype(float)
    starts = np.flatnonzero(np.r_[True, (c[1:] != c[:-1]) | (d[1:] != d[:-1])])   # first event of a (key, day)
    cand = []
    for w in range(1, max_window + 1):
        hi = np.searchsorted(flat, flat[starts] + w, side="left")
        n = hi - starts
        key = c[starts]
        rest_rate = (total[key] - n) / max(span - w, 1)
        e = rest_rate * w
        z = poisson_sf_z(n, e)
        ok = (n >= min_n) & (z >= min_surprise)
        for i in np.flatnonzero(ok):
            cand.append((float(z[i]), int(key[i]), int(d[starts[i]]), w, int(n[i]), float(e[i]), int(starts[i]),
                         int(hi[i])))
    cand.sort(key=lambda r: (-r[0], r[1], r[2], r[3]))
    taken: dict[int, list[tuple[int, int]]] = {}
    out = []
    for z, key, d0, w, n, e, a, b in cand:
        spans = taken.setdefault(key, [])
        if any(d0 < e1 and e0 < d0 + w for e0, e1 in spans):
            continue
        spans.append((d0, d0 + w))
        out.append((uniq[key], d0, w, n, e, z, order[a:b]))
    return pd.DataFrame(out, columns=cols)
