"""Split admissions (分解住院): discharge and readmission within days for the same condition.

One stay cut into several to bill several episodes. For each patient,
consecutive inpatient stays at the same institution are compared: readmission
within ``max_gap_days`` of discharge with the same 3-character ICD-10 code, after
a stay of at most ``max_prev_los`` days, is a split. Two kinds of legitimate
readmission are set apart: planned cycles (chemotherapy every three weeks)
readmit on a regular, longer interval; planned readmissions (计划内再入院) --
the diagnosis groups that DRG/DIP readmission rules exempt: dialysis (Z49),
rehabilitation (Z50, sequelae of stroke I69, paralysis G81/G82), chemo- and
radiotherapy sessions (Z51), long-term psychiatric care (F20-F29, F31-F33) --
and any readmission after a stay of more than ``max_prev_los`` days
(long-term care paid per bed-day, where cutting a stay gains nothing; DRG/DIP
grouping treats such stays as outliers) are not counted.

Splitting is done by a hospital, to one patient or to many. So the detector
looks at two levels:

- **the institution**: its splits against what its case mix predicts -- for
  every stay, the split rate of the same diagnosis at *other* institutions
  (smoothed toward the overall rate) -- as a Poisson surprise. An institution
  that splits many patients is one group: the institution and the physician(s)
  who signed at least 30 % of its split stays -- the implicated parties; the
  patients were affected by the scheme, not party to it, and are listed in the
  group's evidence (``affected_persons``), not among its members (data contract,
  section 2);
- **the patient**: elsewhere, each (person, institution) with splits is its
  own group, scored by the number of splits and the shortness of the gaps.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ringscope.models.detectors._util import finalize, poisson_sf_z, squash, typed
from ringscope.graph.projection import visit_frame
from ringscope.models.base import BaseDetector, Context, Group

__all__ = ["SplitAdmissionDetector", "PLANNED_READMISSION_PREFIXES"]

#: ICD-10 prefixes of planned readmissions (exempt from readmission rules under DRG/DIP payment)
PLANNED_READMISSION_PREFIXES = ("Z49", "Z50", "Z51", "I69", "G81", "G82", "F2", "F31", "F32", "F33")


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
    kind = "graph"
    needs = ("visits",)

    max_gap_days: float
    min_splits: int
    include_physician: bool
    max_prev_los: float
    planned_prefixes: tuple[str, ...]
    min_institution_patients: int
    min_institution_surprise: float
    min_score: float

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
        prev_los = (st["end"].shift() - st["start_time"].shift()).dt.total_seconds() / 86400.0
        st["gap"] = gap.where(same)
        st["prev_visit"] = st["visit_id"].shift().where(same)
        planned = st["dx3"].fillna("").str.startswith(tuple(p["planned_prefixes"])) if p["planned_prefixes"] \
            else pd.Series(False, index=st.index)
        st["split"] = same & (st["gap"] <= p["max_gap_days"]) & (st["gap"] >= -0.5) & st["dx3"].notna() & \
            (st["dx3"] == st["dx3"].shift()) & (prev_los <= p["max_prev_los"]) & ~planned
        # the stay a split readmission follows "led to" a split: the rate per diagnosis
        st["led"] = st["split"].shift(-1, fill_value=False).astype(bool) & \
            (st["person_id"] == st["person_id"].shift(-1)) & (st["institution_id"] == st["institution_id"].shift(-1))
        st["eligible"] = ~planned & st["dx3"].notna() & \
            ((st["end"] - st["start_time"]).dt.total_seconds() / 86400.0 <= p["max_prev_los"])
        inst = _institution_surprise(st, threshold=p["min_institution_surprise"])
        sp_ = st[st["split"]]
        if sp_.empty:
            return finalize(self, [])
        flagged = inst.index[(inst["surprise"] >= p["min_institution_surprise"])
                             & (inst["patients"] >= p["min_institution_patients"])]
        groups = []
        for i in flagged:
            ss = sp_[sp_["institution_id"] == i]
            r = inst.loc[i]
            pats = sorted(ss["person_id"].unique())
            docs = ss["physician_id"].dropna().value_counts(normalize=True)
            docs = [d for d, sh in docs.items() if sh >= 0.3]
            raw = 0.5 * min(float(r["surprise"]), 12.0) + np.log2(1 + len(pats))
            groups.append(Group(
                self.name, self.scheme, typed("institution", [i]) + typed("physician", docs),
                float(squash(raw, mid=4.0, scale=1.0)), float(ss["amount"].sum()),
                f"{i} readmitted {len(pats)} patients {len(ss)} times within {p['max_gap_days']:g} days of "
                f"discharge with the same diagnosis: {int(r['splits'])} splits where its case mix predicts "
                f"{r['expected']:.1f}. Check whether the stays were single episodes billed several times.",
                {"affected_persons": pats[:300], "n_affected_persons": len(pats),
                 "readmissions": [{"visit_id": a, "previous_visit_id": b}
                                  for a, b in zip(ss["visit_id"], ss["prev_visit"])][:300],
                 "splits": int(r["splits"]), "expected": round(float(r["expected"]), 2),
                 "surprise": round(float(r["surprise"]), 2), "params": self.get_params()}))
        pair = sp_[~sp_["institution_id"].isin(flagged)].groupby(["person_id", "institution_id"]).agg(
            n_splits=("split", "size"), min_gap=("gap", "min"), med_gap=("gap", "median"),
            amount=("amount", "sum"), dx=("dx3", lambda s: ",".join(sorted(set(s)))),
            visits=("visit_id", list), prev=("prev_visit", list),
            physicians=("physician_id", lambda s: tuple(sorted(set(s.dropna()))))).reset_index()
        pair = pair[pair["n_splits"] >= p["min_splits"]]
        # regular, long intervals are planned cycles; immediate readmission is the scheme
        gap_term = np.clip((p["max_gap_days"] - pair["med_gap"]) / p["max_gap_days"], 0, 1) * 2.0
        raw = np.log2(1 + pair["n_splits"]) * 1.5 + gap_term + \
            0.3 * pair["institution_id"].map(inst["surprise"]).fillna(0).clip(0, 5)
        pair["score"] = squash(raw, mid=2.5, scale=0.7)
        for r in pair[pair["score"] >= p["min_score"]].itertuples():
            docs = list(r.physicians) if p["include_physician"] and len(r.physicians) == 1 else []
            groups.append(Group(
                self.name, self.scheme, typed("person", [r.person_id]) + typed("institution", [r.institution_id]) +
                typed("physician", docs), float(r.score), float(r.amount),
                f"{r.person_id} was readmitted to {r.institution_id} {r.n_splits} time(s) within "
                f"{r.med_gap:.1f} days (median) of discharge with the same diagnosis ({r.dx}). "
                f"Check whether the stays were one episode billed several times.",
                {"readmissions": [{"visit_id": a, "previous_visit_id": b} for a, b in zip(r.visits, r.prev)],
                 "min_gap_days": round(float(r.min_gap), 2), "institution_split_surprise": round(float(
                     inst["surprise"].get(r.institution_id, 0.0)), 2), "params": self.get_params()}))
        extra = pd.DataFrame({"entity_type": "institution", "entity_id": inst.index,
                              "score": squash(inst["surprise"].to_numpy(), mid=4.0, scale=1.0) * (inst["splits"] > 0)})
        return finalize(self, groups, extra)


def _institution_surprise(st: pd.DataFrame, prior: float = 20.0, threshold: float = 3.0,
                          rounds: int = 3) -> pd.DataFrame:
    """Per institution: stays, splits, split patients, the splits its case mix predicts
    and the Poisson surprise.

    Each stay that can be split (not a planned-readmission diagnosis) is expected to
    lead to a split at the rate of its diagnosis at the *other* institutions,
    smoothed toward their overall rate with ``prior`` pseudo-stays. Institutions
    that stand out (surprise >= ``threshold``) are left out of everyone's baseline
    and the rates computed again (up to ``rounds`` times), so that two splitting
    hospitals do not explain each other away.
    """
    d = st[st["eligible"]].assign(dx3=st["dx3"].fillna("?"))
    out = pd.DataFrame({"stays": st.groupby("institution_id").size()})
    out["splits"] = st.groupby("institution_id")["split"].sum().reindex(out.index).fillna(0)
    out["patients"] = st[st["split"]].groupby("institution_id")["person_id"].nunique().reindex(out.index).fillna(0)
    by_idx = d.groupby(["institution_id", "dx3"])["led"].agg(["sum", "size"])
    insts = by_idx.index.get_level_values(0)
    dxs = by_idx.index.get_level_values(1)
    flagged: set = set()
    for _ in range(rounds):
        base = by_idx[~insts.isin(flagged)]
        by_dx = base.groupby(level=1)[["sum", "size"]].sum()
        own_in_base = ~insts.isin(flagged)
        k_other = by_dx["sum"].reindex(dxs).fillna(0).to_numpy() - np.where(own_in_base, by_idx["sum"], 0)
        n_other = by_dx["size"].reindex(dxs).fillna(0).to_numpy() - np.where(own_in_base, by_idx["size"], 0)
        overall = float(base["sum"].sum() / max(base["size"].sum(), 1))
        rate = (k_other + prior * overall) / (n_other + prior)
        exp = pd.Series(rate * by_idx["size"].to_numpy(), index=by_idx.index).groupby(level=0).sum()
        out["expected"] = exp.reindex(out.index).fillna(0.0)
        out["surprise"] = poisson_sf_z(out["splits"].to_numpy(), out["expected"].to_numpy())
        now = set(out.index[out["surprise"] >= threshold])
        if now == flagged:
            break
        flagged = now
    return out
