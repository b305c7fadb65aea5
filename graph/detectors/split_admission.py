"""Split admissions (分解住院): discharge and readmission within days for the same condition.

A lone-actor scheme run by a hospital on one patient at a time: the stay is
cut into several to bill several episodes. For each patient, consecutive
inpatient stays at the same institution are compared: readmission within
``max_gap_days`` of discharge with the same 3-character ICD-10 code is a split.
A patient with planned cycles (chemotherapy every 3 weeks) readmits on a
regular, longer interval; a split readmits at once. The score grows with the
number of splits and the shortness of the gaps, and is raised when the
institution's own split rate stands out among peers of its kind. Group =
the person and the institution (plus the physician when one signed them all).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ringscope.graph.algorithms import robust_z
from ringscope.graph.detectors._util import finalize, squash, typed
from ringscope.graph.projection import visit_frame
from ringscope.models.base import BaseDetector, Context, Group

__all__ = ["SplitAdmissionDetector"]


class SplitAdmissionDetector(BaseDetector):
    """Find readmissions within days with the same diagnosis.

    Parameters
    ----------
    max_gap_days : readmission within this many days of discharge counts.
    min_splits : splits a (person, institution) needs to become a group.
    include_physician : add the physician who attended all the split stays.
    """

    name = "split_admission"
    scheme = "split_admission"

    def __init__(self, max_gap_days: float = 15, min_splits: int = 1, include_physician: bool = False,
                 min_score: float = 0.3):
        super().__init__(max_gap_days=max_gap_days, min_splits=min_splits, include_physician=include_physician,
                         min_score=min_score)

    def fit(self, ctx: Context, y: pd.DataFrame | None = None) -> SplitAdmissionDetector:
        p = self.params
        v = visit_frame(ctx)
        st = v[v["visit_type"] == "inpatient"].sort_values(["person_id", "institution_id", "start_time"]).copy()
        if st.empty:
            return finalize(self, [])
        st["dx3"] = st["diagnosis_codes"].map(lambda t: t[0][:3] if isinstance(t, tuple) and t else None) \
            if "diagnosis_codes" in st.columns else None
        same = (st["person_id"] == st["person_id"].shift()) & (st["institution_id"] == st["institution_id"].shift())
        gap = (st["start_time"] - st["end"].shift()).dt.total_seconds() / 86400.0
        st["gap"] = gap.where(same)
        st["prev_visit"] = st["visit_id"].shift().where(same)
        st["split"] = same & (st["gap"] <= p["max_gap_days"]) & (st["gap"] >= -0.5) & st["dx3"].notna() & \
            (st["dx3"] == st["dx3"].shift())
        inst = v[v["visit_type"] == "inpatient"].groupby("institution_id").size().rename("n").to_frame()
        inst["splits"] = st.groupby("institution_id")["split"].sum().reindex(inst.index).fillna(0)
        inst["rate"] = (inst["splits"] + 0.5) / (inst["n"] + 10)
        kinds = inst.index.map(ctx.table("institutions").set_index("institution_id")["kind"]).fillna("unknown")
        inst["z"] = robust_z(inst["rate"].to_numpy(), kinds.to_numpy())
        sp_ = st[st["split"]]
        if sp_.empty:
            return finalize(self, [])
        pair = sp_.groupby(["person_id", "institution_id"]).agg(
            n_splits=("split", "size"), min_gap=("gap", "min"), med_gap=("gap", "median"),
            amount=("amount", "sum"), dx=("dx3", lambda s: ",".join(sorted(set(s)))),
            visits=("visit_id", list), prev=("prev_visit", list),
            physicians=("physician_id", lambda s: tuple(sorted(set(s.dropna()))))).reset_index()
        pair = pair[pair["n_splits"] >= p["min_splits"]]
        # regular, long intervals are planned cycles; immediate readmission is the scheme
        gap_term = np.clip((p["max_gap_days"] - pair["med_gap"]) / p["max_gap_days"], 0, 1) * 2.0
        raw = np.log2(1 + pair["n_splits"]) * 1.5 + gap_term + 0.3 * pair["institution_id"].map(inst["z"]).clip(0, 5)
        pair["score"] = squash(raw, mid=2.5, scale=0.7)
        groups = []
        for r in pair[pair["score"] >= p["min_score"]].itertuples():
            docs = list(r.physicians) if p["include_physician"] and len(r.physicians) == 1 else []
            groups.append(Group(
                self.name, self.scheme, typed("person", [r.person_id]) + typed("institution", [r.institution_id]) +
                typed("physician", docs), float(r.score), float(r.amount),
                f"{r.person_id} was readmitted to {r.institution_id} {r.n_splits} time(s) within "
                f"{r.med_gap:.1f} days (median) of discharge with the same diagnosis ({r.dx}). "
                f"Check whether the stays were one episode billed several times.",
                {"readmissions": [{"visit_id": a, "previous_visit_id": b} for a, b in zip(r.visits, r.prev)],
                 "min_gap_days": round(float(r.min_gap), 2), "institution_split_z": round(float(inst["z"].get(
                     r.institution_id, 0.0)), 2), "params": self.get_params()}))
        extra = pd.DataFrame({"entity_type": "institution", "entity_id": inst.index,
                              "score": squash(inst["z"].to_numpy(), mid=4.0, scale=1.0) * (inst["splits"] > 0)})
        return finalize(self, groups, extra)
