"""Ghost admissions (挂床/虚假住院): waves of co-admitted patients who are never on the ward.

Admissions of one institution are grouped into waves (consecutive admissions
at most ``wave_gap`` apart with overlapping stays). A wave is surprising when
it holds many more admissions than the institution's own daily admission rate
predicts for its span (Poisson surprise, so large hospitals' volumes are their
own baseline), when its diagnoses are alike (top 3-character ICD-10 share), and
-- where the institution has a face terminal that was working (it captured
someone on the ward during the stay) -- when its patients have no ward
capture during the stay. Waves of one institution that share patients
(the same recruits admitted again) are merged into one group: the institution,
the attending physician(s) who admitted most of them, and the patients.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ringscope.graph.algorithms import burst_sessions, connected_components
from ringscope.graph.detectors._util import finalize, poisson_sf_z, squash, typed
from ringscope.graph.projection import visit_frame
from ringscope.models.base import BaseDetector, Context, Group

__all__ = ["GhostAdmissionDetector", "ward_presence"]


def ward_presence(ctx: Context, stays: pd.DataFrame) -> pd.Series:
    """Per inpatient visit: number of ward captures of the credential holder
    during the stay (visit-linked, or same person and institution within the
    stay). NaN when the institution has no terminal, there are no captures, or
    the ward camera captured nobody at all during the stay (an outage)."""
    caps = ctx.table("face_captures")
    out = pd.Series(np.nan, index=stays.index)
    if caps.empty:
        return out
    fm = ctx.face_matches
    src = fm if fm is not None and len(fm) else caps
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
    wave_gap : longest pause between consecutive admissions of one wave.
    min_wave : smallest wave (distinct patients).
    min_score : waves below are dropped.
    """

    name = "ghost_admission"
    scheme = "ghost_admission"

    def __init__(self, wave_gap: str = "2D", min_wave: int = 4, min_score: float = 0.3):
        super().__init__(wave_gap=wave_gap, min_wave=min_wave, min_score=min_score)

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
        # waves per (institution, diagnosis group): similar diagnoses are part of the definition,
        # and a large hospital's other wards do not dilute a wave
        st["wave"] = burst_sessions((st["institution_id"] + "|" + st["dx3"]).to_numpy(),
                                    st["start_time"].to_numpy(), p["wave_gap"])
        span_all = max((st["start_time"].max() - st["start_time"].min()).days + 1, 1)
        rate = st.groupby(["institution_id", "dx3"]).size() / span_all      # admissions per day
        w = st.groupby("wave").agg(institution_id=("institution_id", "first"), dx3=("dx3", "first"),
                                   n=("person_id", "nunique"), t0=("start_time", "min"), t1=("start_time", "max"),
                                   no_ward=("no_ward", "mean"), observed=("ward", lambda s: s.notna().mean()),
                                   amount=("amount", "sum"))
        w = w[w["n"] >= p["min_wave"]]
        if w.empty:
            return finalize(self, [])
        days = ((w["t1"] - w["t0"]).dt.total_seconds() / 86400.0 + pd.Timedelta(p["wave_gap"]).days).clip(lower=1)
        exp = rate.reindex(pd.MultiIndex.from_arrays([w["institution_id"], w["dx3"]])).to_numpy() * days.to_numpy()
        w["surprise"] = poisson_sf_z(w["n"].to_numpy(), exp)
        w["raw"] = w["surprise"] + 3.0 * w["no_ward"] * w["observed"] - 1.5 * (1 - w["no_ward"]) * w["observed"]
        w = w[w["raw"] > 0]
        # merge waves of one institution sharing patients
        members = st[st["wave"].isin(w.index)][["wave", "person_id", "institution_id", "physician_id", "no_ward",
                                                 "visit_id", "amount", "has_face_terminal"]]
        edges = list(zip("wave:" + members["wave"].astype(str), "person:" + members["person_id"]))
        groups = []
        for comp in connected_components(edges):
            waves = [int(x[5:]) for x in comp if x.startswith("wave:")]
            ww = w.loc[waves]
            mm = members[members["wave"].isin(waves)]
            # where the terminal saw patients on the ward, those patients are not ghosts
            if mm["has_face_terminal"].any():
                mm = mm[mm["no_ward"]]
            persons = sorted(mm["person_id"].unique())
            if len(persons) < p["min_wave"]:
                continue
            insts = sorted(mm["institution_id"].unique())
            phys = mm["physician_id"].dropna().value_counts(normalize=True)
            docs = [d for d, s in phys.items() if s >= 0.3]
            raw = float(ww["raw"].max()) + np.log2(len(waves))
            score = float(squash(raw, mid=4.0, scale=1.0))
            groups.append(Group(
                self.name, self.scheme, typed("institution", insts) + typed("physician", docs) +
                typed("person", persons), score, float(mm["amount"].sum()),
                f"{', '.join(insts)} admitted {len(persons)} patients in {len(waves)} wave(s) "
                f"(diagnoses {', '.join(sorted(ww['dx3'].unique()))}) far above its usual rate"
                + (f"; {mm['no_ward'].mean():.0%} never captured on the ward" if mm["has_face_terminal"].any() else "")
                + ". Inspect the ward rounds and bed records.",
                {"waves": [{"start": str(r.t0), "end": str(r.t1), "n": int(r.n), "dx3": r.dx3,
                            "surprise": round(float(r.surprise), 2), "no_ward": round(float(r.no_ward), 3)}
                           for r in ww.itertuples()],
                 "visits": mm["visit_id"].tolist()[:200], "params": self.get_params()}))
        groups = [g for g in groups if g.score >= p["min_score"]]
        return finalize(self, groups)
