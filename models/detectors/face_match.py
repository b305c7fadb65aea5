"""Card lending seen in faces: the face-verification detector (kind ``face``).

Runs first (the identity rules read its verification); the analytics it uses
are in :mod:`ringscope.graph.faces`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ringscope.graph.faces import (
    DEFAULT_CLUSTER_THRESHOLD,
    DEFAULT_THRESHOLD,
    IDENTITY_COLUMNS,
    VERIFY_COLUMNS,
    ThresholdChoice,
    caregiver_shares,
    engine_captures,
    engine_enrolments,
    engine_related,
    face_identities_engine,
    impostor_distances_of,
    impostor_strength,
    sorted_tuples,
    threshold_from,
    verdicts,
)
from ringscope.models.base import BaseDetector, Context, Finding, Group, empty_scores, member_key

__all__ = ["FaceMatchDetector"]


class FaceMatchDetector(BaseDetector):
    """Card lending seen in faces (借卡/冒名就医).

    Persons are scored by how often their credential was presented by a face
    that is neither theirs nor a linked family member's/proxy's (``mismatch``
    verdicts), and by how many other credentials their own face presented.
    One :class:`Group` per face identity that presented at least
    ``min_credentials`` credentials it does not own: the face's enrolled
    person (if any), the credentials, and the institutions where it happened.

    Each mismatch is weighted by ``strength`` (:func:`impostor_strength`: how
    clearly the face is a stranger's rather than a poor capture of the
    holder), set to 0 for a minor's credential (under ``minor_age``: a
    guardian presents it); groups use only mismatches of strength at least
    ``min_strength``. ``matches_`` carries the ``strength`` and ``minor`` columns.

    A caregiver is not a lender: a face whose credentials (those it matched as
    ``related`` included) are in at least ``caregiver_share`` registered
    family/proxy bindings of one and the same person -- the face's own
    enrolled person, or one person registered for many of them (a nursing
    home's carer, an adult child for both parents) -- makes no group: the
    unregistered rest are most likely that person's charges too. Two
    credentials are a family's errand, not a ring: ``min_credentials`` is 3.

    Fitted attributes: ``threshold_`` (:class:`ThresholdChoice`), ``matches_``
    (:func:`verify_captures`), ``capture_face_``, ``identities_``,
    ``decision_scores_``, ``findings_``, ``groups_``.
    """

    name = "face_match"
    scheme = "card_lending"
    kind = "face"
    needs = ("face_captures",)

    threshold: float | None
    cluster_threshold: float | None
    min_credentials: int
    k: int
    scale: float
    min_strength: float
    minor_age: float | None
    caregiver_share: float

    def fit(self, ctx: Context, y: pd.DataFrame | None = None) -> FaceMatchDetector:
        """Verify every capture and cluster faces, the encodings staying in the columnar engine:
        distances are computed there; only unverified captures' encodings come out, for the
        clustering (the first round's whole-table path is kept as :func:`verify_captures` /
        :func:`face_identities` for notebooks and tests)."""
        eng = ctx.columnar
        links = ctx.table("family_links") if ctx.has("family_links") else None
        self.decision_scores_, self.findings_, self.groups_ = empty_scores(), [], []
        frame = engine_captures(eng) if eng.has("face_captures") else None
        if frame is None or len(frame) == 0:
            self.threshold_ = ThresholdChoice(DEFAULT_THRESHOLD, "default", 0, 0, note="no captures")
            self.matches_ = pd.DataFrame(columns=VERIFY_COLUMNS)
            self.capture_face_ = pd.DataFrame(columns=["capture_id", "face_id"])
            self.identities_ = pd.DataFrame(columns=IDENTITY_COLUMNS)
            return self
        E, e_pid = engine_enrolments(eng) if eng.has("face_enrollments") else \
            (np.zeros((0, 128), np.float32), np.array([], dtype=object))
        imp = impostor_distances_of(E, e_pid, links)
        if self.threshold is None:
            claimed = frame[frame["distance"].notna() & frame["claimed_person_id"].notna()]
            g = claimed.loc[claimed["location"] == "settlement", "distance"].to_numpy(dtype=float)
            if len(g) < 30:
                g = claimed["distance"].to_numpy(dtype=float)
            self.threshold_ = threshold_from(g, imp)
        else:
            # a given threshold still needs the strangers' distance, for the strength of mismatches
            self.threshold_ = ThresholdChoice(float(self.threshold), "given", 0, int(len(imp)),
                                              impostor_mean=float(imp.mean()) if len(imp) >= 2 else float("nan"),
                                              impostor_std=float(imp.std()) if len(imp) >= 2 else float("nan"))
        t = self.threshold_.threshold
        ct = self.cluster_threshold if self.cluster_threshold is not None else \
            min(DEFAULT_CLUSTER_THRESHOLD, 0.85 * t)
        self.capture_face_, self.identities_ = face_identities_engine(eng, frame, E, e_pid, ct, k=self.k,
                                                                     anchor_threshold=t)
        if ctx.face_matches is not None and len(ctx.face_matches):
            m = ctx.face_matches.drop(columns=["face_id"], errors="ignore")
            self.matches_ = m.merge(self.capture_face_, on="capture_id", how="left")
        else:
            todo = frame.loc[frame["has_encoding"].astype(bool) & frame["claimed_person_id"].notna()
                             & ~(frame["distance"] <= t), "capture_id"]
            related = engine_related(eng, todo.tolist()) if links is not None else pd.DataFrame()
            self.matches_ = verdicts(frame, related, t, self.capture_face_)
        strength = impostor_strength(self.matches_["distance"], self.matches_["verdict"], self.threshold_)
        # a minor's credential presented by another face is a guardian's errand, not lending
        per = ctx.table("persons")
        if self.minor_age and len(per) and "birth_date" in per.columns:
            born = pd.to_datetime(self.matches_["claimed_person_id"].map(
                per.drop_duplicates("person_id").set_index("person_id")["birth_date"]), errors="coerce")
            when = pd.to_datetime(self.matches_["capture_time"], errors="coerce")
            minor = ((when - born).dt.days / 365.25 < float(self.minor_age)).fillna(False).to_numpy(dtype=bool)
            strength = np.where(minor, 0.0, strength)
        else:
            minor = np.zeros(len(self.matches_), dtype=bool)
        self.matches_["strength"] = strength
        self.matches_["minor"] = minor
        self._score(ctx)
        return self

    # ----------------------------------------------------------------- scoring
    def _score(self, ctx: Context) -> None:
        m = self.matches_
        bad = m[m["verdict"] == "mismatch"]
        ident = self.identities_.set_index("face_id") if len(self.identities_) else None
        # credential side: mismatching captures on each person's credential
        w = bad["strength"] if "strength" in bad.columns else pd.Series(1.0, index=bad.index)
        lent = bad.assign(w=w).groupby("claimed_person_id").agg(n_mismatch=("capture_id", "size"),
                                                                n_faces=("face_id", "nunique"), w=("w", "sum"))
        # face side: credentials the enrolled person's face clearly presented that are not theirs
        clear = bad[bad["strength"] >= self.min_strength] if "strength" in bad.columns else bad
        bf = clear.dropna(subset=["face_id"])
        if ident is not None and len(bf):
            bf = bf.assign(enrolled=bf["face_id"].map(ident["enrolled_person_id"]))
            bf = bf[bf["enrolled"].notna() & (bf["enrolled"] != bf["claimed_person_id"])]
            borrow = bf.groupby("enrolled")["claimed_person_id"].nunique().rename("n_borrowed")
        else:
            borrow = pd.Series(dtype=float, name="n_borrowed")
        s = lent.join(borrow, how="outer").fillna(0.0)
        if len(s) == 0:
            return
        raw = s["w"] + s["n_borrowed"]      # mismatches weighted by how clearly they are a stranger
        score = 1.0 - np.exp(-raw / self.scale)
        self.decision_scores_ = pd.DataFrame({"entity_type": "person", "entity_id": s.index.astype(str),
                                              "score": score.to_numpy()}).sort_values(
            ["score", "entity_id"], ascending=[False, True], ignore_index=True)
        self.findings_ = [
            Finding(self.name, "person", str(pid), float(sc), self.scheme,
                    reason=(f"credential presented by another face in {int(r.n_mismatch)} capture(s)"
                            if r.n_mismatch else "")
                    + ("; " if r.n_mismatch and r.n_borrowed else "")
                    + (f"own face presented {int(r.n_borrowed)} other credential(s)" if r.n_borrowed else ""),
                    evidence={"threshold": self.threshold_.threshold, "n_mismatch": int(r.n_mismatch),
                              "n_faces": int(r.n_faces), "n_borrowed": int(r.n_borrowed)})
            for pid, sc, r in zip(s.index, score, s.itertuples())
        ]
        self.groups_ = self._groups(ctx, bad)

    def _groups(self, ctx: Context, bad: pd.DataFrame) -> list[Group]:
        # a face lends credentials on clear mismatches; grey-zone distances (poor captures of
        # the holder) do not make a group
        bad = bad[bad["strength"] >= self.min_strength] if "strength" in bad.columns else bad
        bf = bad.dropna(subset=["face_id"])
        if len(bf) == 0:
            return []
        per = bf.groupby("face_id").agg(n_cred=("claimed_person_id", "nunique"), n_caps=("capture_id", "size"))
        per = per[per["n_cred"] >= self.min_credentials]
        if len(per) == 0:
            return []
        sel = bf[bf["face_id"].isin(per.index)]
        creds = sorted_tuples(sel, "face_id", "claimed_person_id")
        insts = sorted_tuples(sel, "face_id", "institution_id")
        visits = sorted_tuples(sel, "face_id", "visit_id")
        amount = pd.Series(0.0, index=per.index)
        fv = sel[["face_id", "visit_id"]].dropna().drop_duplicates()
        if len(fv) and ctx.has("visits"):
            # the amounts of these visits only, from the engine (not the city's visits table)
            v = ctx.columnar.query("visit_amounts", frames={"want": fv[["visit_id"]]})
            va = fv.merge(v, on="visit_id")
            amount = va.groupby("face_id")["total_amount"].sum().reindex(per.index).fillna(0.0)
        ident = self.identities_.set_index("face_id")
        span = sel.groupby("face_id")["capture_time"].agg(["min", "max"])
        carer = caregiver_shares(self.matches_, ctx.table("family_links") if ctx.has("family_links") else None,
                                 per.index)
        groups = []
        for fid, r in per.iterrows():
            if carer.get(fid, 0.0) >= self.caregiver_share:
                continue
            enrolled = ident["enrolled_person_id"].get(fid)
            members = [member_key("person", p) for p in creds.get(fid, ())]
            if enrolled is not None and pd.notna(enrolled):
                members.append(member_key("person", str(enrolled)))
            members += [member_key("institution", i) for i in insts.get(fid, ())]
            who = f"enrolled as {enrolled}" if enrolled is not None and pd.notna(enrolled) else "not enrolled"
            groups.append(Group(
                detector=self.name, scheme=self.scheme, members=sorted(set(members)),
                score=float(1.0 - np.exp(-(r.n_cred - 1 + 0.25 * r.n_caps) / self.scale)),
                amount_at_risk=float(amount.get(fid, 0.0)),
                summary=(f"Face {fid} ({who}) presented {int(r.n_cred)} credentials that are not its own "
                         f"in {int(r.n_caps)} captures at {len(insts.get(fid, ()))} institution(s), "
                         f"{span.loc[fid, 'min']} to {span.loc[fid, 'max']}."),
                evidence={"face_id": fid, "credentials": list(creds.get(fid, ())),
                          "visits": list(visits.get(fid, ())), "threshold": self.threshold_.threshold}))
        return groups
