"""Card-lending rings (借卡/冒名就医): one face, many credentials.

An organiser (or a few) presents other people's insurance credentials. With
face verification, the fact is direct: one face identity is captured at
settlement under several credentials that are not its own (verdict
``mismatch``), and the credentials are not registered relatives or proxies of
the face's owner (verdict ``related`` and family/proxy/payer links are
discounted as legitimate). Face identities that share lent credentials are
joined (connected components of the face--credential graph); an institution
joins the ring when it concentrates the ring's impersonated visits *and* its
own mismatch rate stands out among peers of the same kind.

Without faces (no face tables, or institutions without terminals) the
fallback is co-timing: the same set of credentials used at the same
institution within minutes of each other on several different days
(CopyCatch-style lockstep, :func:`ringscope.graph.algorithms.temporal_synchrony`),
family pairs excluded, clustered with Leiden; and *history*: a lent
credential is treated for someone else's illness, so its visits at the
complicit institution carry chronic diagnoses the holder has not registered
(门慢 registration, ``persons.chronic_conditions``) -- counted per institution
against the typical institution's rate (Poisson surprise; a city where much
chronic care is unregistered raises that baseline everywhere), institutions that share such credentials joined into
one ring. Datasets without registrations skip this signal.
"""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components as _cc

from ringscope.graph.algorithms import connected_components, leiden_communities, robust_z
from ringscope.models.detectors._util import finalize, poisson_sf_z, squash, typed
from ringscope.graph.projection import cached, covisit_edges, face_links, family_pairs, map_unique, visit_frame
from ringscope.graph.faces import caregiver_shares
from ringscope.models.base import BaseDetector, Context, Group

__all__ = ["CardLendingDetector"]


def _box_counts(fd: np.ndarray, ld: np.ndarray, span: int, d: int) -> np.ndarray:
    """For each point (first day ``fd``, last day ``ld``, both in ``0..span-1``): how many of the
    points (itself included) lie within ``d`` days of it on both axes, by 2-D prefix sums over the
    ``span`` x ``span`` grid (one grid, not a self-join of the points).

    >>> _box_counts(np.array([0, 1, 9]), np.array([5, 5, 9]), 10, 1).tolist()
    [2.0, 2.0, 1.0]
    """
    H = np.zeros((span + 1, span + 1))
    np.add.at(H, (fd + 1, ld + 1), 1.0)
    S = H.cumsum(0).cumsum(1)
    lo_f, hi_f = np.clip(fd - d, 0, span), np.clip(fd + d + 1, 0, span)
    lo_l, hi_l = np.clip(ld - d, 0, span), np.clip(ld + d + 1, 0, span)
    return S[hi_f, hi_l] - S[lo_f, hi_l] - S[hi_f, lo_l] + S[lo_f, lo_l]


def _box_components(inst: np.ndarray, fd: np.ndarray, ld: np.ndarray, d: int,
                    chunk: int = 4_000_000) -> list[np.ndarray]:
    """Connected components of the points that have a neighbour within ``d`` days on both axes
    (first day ``fd``, last day ``ld``) at the same institution ``inst``; positions into the
    inputs, largest component first, ties by their first position.

    The neighbour pairs are generated a block at a time (at most about ``chunk`` candidate pairs,
    those within ``d`` on the first axis after a sort) and folded into a spanning forest, so
    memory stays at the points plus one block however dense an institution is (a self-join of a
    big hospital's surprising rows once asked for more than the machine holds).

    >>> [c.tolist() for c in _box_components(np.array(["h", "h", "h", "c", "c"]), np.array([0, 2, 50, 0, 1]),
    ...                                       np.array([9, 10, 60, 5, 5]), 3)]
    [[0, 1], [3, 4]]
    """
    n = len(fd)
    if n < 2:
        return []
    ic = pd.factorize(pd.Series(inst))[0].astype(np.int64)
    fd, ld = np.asarray(fd, dtype=np.int64), np.asarray(ld, dtype=np.int64)
    order = np.lexsort((fd, ic))
    f, l = fd[order], ld[order]
    m = int(f.max()) + d + 1                      # > any fd + d: a window never reaches the next institution
    key = ic[order] * m + f
    cnt = np.searchsorted(key, key + d, side="right") - np.arange(n) - 1    # later rows within d on fd
    rep = np.arange(n)                            # each point's component representative so far
    has_nb = np.zeros(n, dtype=bool)
    ends = np.cumsum(cnt)
    a = 0
    while a < n:
        b = max(int(np.searchsorted(ends, (ends[a - 1] if a else 0) + chunk, side="right")), a + 1)
        c = cnt[a:b]
        src = np.repeat(np.arange(a, b), c)
        dst = src + 1 + (np.arange(len(src)) - np.repeat(np.cumsum(c) - c, c))
        keep = np.abs(l[src] - l[dst]) <= d
        src, dst = src[keep], dst[keep]
        if len(src):
            has_nb[src] = True
            has_nb[dst] = True
            g = sp.coo_matrix((np.ones(n + len(src)), (np.r_[np.arange(n), src], np.r_[rep, dst])), shape=(n, n))
            _, lab = _cc(g, directed=False)
            low = np.full(lab.max() + 1, n)
            np.minimum.at(low, lab, np.arange(n))
            rep = low[lab]
        a = b
    pos = order[has_nb]                           # back to input positions
    r = rep[has_nb]
    srt = np.lexsort((pos, r))
    pos, r = pos[srt], r[srt]
    comps = np.split(pos, np.flatnonzero(np.diff(r)) + 1)
    comps.sort(key=lambda x: (-len(x), int(x.min())))
    return comps


def _resold(ctx: Context, v: pd.DataFrame) -> np.ndarray:
    """Which visits of ``v`` settled a pack already settled once (rule hits of class ``drug_resale``,
    R-MGT-016..018): a resale outlet's sale to its customer -- the resale ring's evidence, not a
    lent card's, whatever diagnosis the sale was entered with."""
    rh = ctx.rule_hits
    if rh is None or not len(rh) or not {"violation_class", "visit_id"} <= set(rh.columns):
        return np.zeros(len(v), dtype=bool)
    resold = rh.loc[rh["violation_class"] == "drug_resale", "visit_id"].dropna()
    return v["visit_id"].isin(set(resold)).to_numpy() if len(resold) else np.zeros(len(v), dtype=bool)


def _unregistered_chronic(ctx: Context) -> np.ndarray | None:
    """Per visit of :func:`visit_frame` (outpatient): every chronic code on it is one its holder has
    not registered (门慢 registration, ``persons.chronic_conditions``; 3 characters; the city's
    chronic codes are those anyone registered). None when the dataset registers nothing or carries
    no diagnoses. Computed once per distinct list of diagnoses, then (credential, code) pairs
    checked against the registrations; the city's visits are not exploded into a frame (at 10M
    visits that copy was the stage's peak). Treatment of the same code elsewhere is no excuse: a
    ring working two institutions would excuse itself; the peer baselines absorb the city's
    unregistered care. Built once per context, shared by both history methods."""
    def build() -> np.ndarray | None:
        persons = ctx.table("persons")
        if "chronic_conditions" not in persons.columns or not len(persons):
            return None
        reg = persons[["person_id", "chronic_conditions"]].explode("chronic_conditions").dropna()
        if reg.empty:
            return None
        reg_codes = set(zip(reg["person_id"].astype(str), reg["chronic_conditions"].astype(str).str[:3]))
        chronic = {c for _, c in reg_codes}
        v = visit_frame(ctx)
        if "diagnosis_codes" not in v.columns:
            return None
        out = (v["visit_type"] != "inpatient").to_numpy()
        chr3 = map_unique(v["diagnosis_codes"], lambda t: tuple(
            c for c in (str(x)[:3] for x in t if x is not None) if c in chronic) if isinstance(t, tuple) else ())
        n_c = map_unique(chr3, len).to_numpy(dtype=np.int64) * out
        pos = np.flatnonzero(n_c)
        bad = np.zeros(len(v), dtype=bool)
        if not len(pos):
            return bad
        rep = n_c[pos]
        codes = np.fromiter(itertools.chain.from_iterable(chr3.to_numpy()[pos]), dtype=object, count=int(rep.sum()))
        pids = np.repeat(v["person_id"].to_numpy()[pos], rep)
        unreg = np.fromiter(((str(a), b) not in reg_codes for a, b in zip(pids, codes)), dtype=bool, count=len(codes))
        bad[pos] = np.logical_and.reduceat(unreg, np.cumsum(rep) - rep)
        return bad
    return cached(ctx, "card_lending:unregistered_chronic", build)


class CardLendingDetector(BaseDetector):
    """Find card-lending rings from face identities and co-timed credential use.

    Parameters
    ----------
    min_credentials : distinct non-family credentials a face must present (mismatch) to be suspicious.
    min_mismatch : impersonated captures a face needs in all.
    min_credentials_unverified : distinct credentials a face must present to be suspicious when fewer than
        ``min_mismatch`` of its captures are verified mismatches (the rest: credentials without enrolment).
    inst_share : share of a ring's impersonated visits an institution (or attending physician) must hold
        to join the ring.
    inst_z : robust z of the institution's mismatch rate (vs peers of the same kind) to be called complicit
        (raises the score).
    cotime_window, cotime_min_common : fallback lockstep window and number of distinct occasions.
    cotime_min_size : smallest fallback group.
    cotime_together : share of the days both credentials were used at the institution on which they were
        used within ``cotime_window`` of each other (a crowd's regulars meet by chance on some of them).
    cohort_days, cohort_min_visits, cohort_z : cohort fallback -- credentials whose first and last use of one
        institution fall within +-cohort_days of each other (at least cohort_min_visits visits each), with a
        Poisson surprise of at least cohort_z against the other institutions of the same kind.
    regular_days : a visitor seen within this many days of both ends of the data is a regular, not a cohort.
    history_share, history_min_visits, history_z, history_min_repeat, history_floor : history fallback, the
        year per institution -- credentials with at least history_min_visits visits at one institution of
        which at least history_share carry only chronic diagnoses the holder has not registered, counted
        per institution with a Poisson surprise of at least history_z against the median institution's
        rate (over institutions with at least history_min_repeat repeat visitors; at least history_floor).
    history_min_bad_visits, history_scan_z, history_scan_floor, history_min_persons, history_incumbent_days,
        history_min_outside : history fallback, the scan of months per channel (institution and
        physician) -- a newcomer is flagged with at least history_min_bad_visits such visits (and
        history_share of its visits); a run of months with at least history_min_persons flagged newcomers,
        an exact Poisson tail z of at least history_scan_z and history_min_outside active months left
        outside it is hot (:meth:`_history_scan_groups`).
    caregiver_share : a face whose credentials are bound (family_links) to one common person at least this
        often is a carer, not a lender (:func:`ringscope.graph.faces.caregiver_shares`).
    lead_sources : the group sources that become leads (``faces``, ``history``, ``co-timing``,
        ``cohort``); the others only score their members. Measured over seven cities of three
        generators (bench/RESULTS.md, issue 13): none of 14 cohort groups and none of 2 co-timing
        groups was a real ring, against 14 of 18 face groups and 6 of 11 history groups.
    use_cotiming : run the fallback ("auto": only for visits at institutions without face terminal
        or when there are no face tables; True: always; False: never).
    """

    name = "card_lending"
    scheme = "card_lending"
    kind = "graph"
    needs = ("visits",)

    min_credentials: int
    min_mismatch: int
    min_credentials_unverified: int
    inst_share: float
    inst_z: float
    cotime_window: str
    cotime_min_common: int
    cotime_min_size: int
    cotime_together: float
    cohort_days: int
    cohort_min_visits: int
    cohort_z: float
    regular_days: int
    history_share: float
    history_z: float
    history_min_repeat: int
    history_min_persons: int
    history_min_visits: int
    history_min_bad_visits: int
    history_scan_z: float
    history_scan_floor: float
    history_min_outside: int
    history_incumbent_days: int
    history_floor: float
    use_cotiming: str | bool
    lead_sources: tuple[str, ...]
    caregiver_share: float
    seed: int

    # ------------------------------------------------------------------ faces
    def _institution_mismatch_z(self, ctx: Context) -> pd.Series:
        fm = ctx.face_matches
        inst = ctx.table("institutions").set_index("institution_id")
        s = fm[fm["verdict"].isin(["match", "mismatch", "related"])]
        rate = s.groupby("institution_id")["verdict"].apply(lambda v: float((v == "mismatch").mean()))
        n = s.groupby("institution_id").size()
        # shrink small samples towards the city rate (empirical Bayes, 20 pseudo-captures)
        city = float((s["verdict"] == "mismatch").mean()) if len(s) else 0.0
        rate = (rate * n + city * 20) / (n + 20)
        kinds = rate.index.map(inst["kind"]).fillna("unknown")
        return pd.Series(robust_z(rate.to_numpy(), kinds.to_numpy()), index=rate.index)

    def _face_groups(self, ctx: Context) -> list[Group]:
        p = self.params
        links = face_links(ctx)
        if links.empty:
            return []
        # clear mismatches only (a poor capture of the holder is not another person), and credentials
        # without an enrolment to compare with: one face presenting several of those is the same fact
        # seen without verification
        ev = links[((links["n_strong"] > 0) | (links["n_unverified"] > 0)) & ~links["family"]]
        per_face = ev.groupby("face_id").agg(n_cred=("person_id", "nunique"), n_mm=("n_strong", "sum"),
                                             n_unv=("n_unverified", "sum"))
        faces = per_face[(per_face["n_cred"] >= p["min_credentials"])
                         & ((per_face["n_mm"] >= p["min_mismatch"])
                            | (per_face["n_cred"] >= p["min_credentials_unverified"]))]
        if faces.empty:
            return []
        # a carer registered for many of the credentials a face presents (a nursing home's, an
        # adult child's for both parents) is not a lender: the unregistered rest are likely its charges
        carer = caregiver_shares(ctx.face_matches, ctx.table("family_links") if ctx.has("family_links") else None,
                                 faces.index)
        faces = faces[[carer.get(str(f), 0.0) < p["caregiver_share"] for f in faces.index]]
        ev = ev[ev["face_id"].isin(faces.index)]
        if ev.empty:
            return []
        comps = connected_components(list(zip("face:" + ev["face_id"].astype(str), "person:" + ev["person_id"])))
        fm = ctx.face_matches
        inst_z = self._institution_mismatch_z(ctx)
        v = visit_frame(ctx)
        # the two columns a ring reads, by visit id (not the city's whole frame re-indexed: a copy)
        vix = pd.Index(v["visit_id"].to_numpy())
        v_phys = pd.Series(v["physician_id"].to_numpy(), index=vix)
        v_amount = pd.Series(v["amount"].to_numpy(), index=vix)
        # the impersonated captures of the flagged faces, once: a component then filters these
        # few rows, not every capture of the city
        fm = fm[fm["face_id"].isin(ev["face_id"].unique()) & fm["verdict"].isin(["mismatch", "no_enrollment"])]
        comps = self._join_at_complicit(comps, fm, inst_z)
        groups = []
        for comp in comps:
            fids = sorted(c[5:] for c in comp if c.startswith("face:"))
            creds = sorted(c[7:] for c in comp if c.startswith("person:"))
            sub = ev[ev["face_id"].isin(fids)]
            caps = fm[fm["face_id"].isin(fids) & fm["claimed_person_id"].isin(creds)
                      & fm["verdict"].isin(["mismatch", "no_enrollment"])]
            share = caps["institution_id"].value_counts(normalize=True)
            # where the ring operates: institutions holding a large share of its impersonated visits;
            # complicit when, in addition, their own mismatch rate stands out among peers
            insts = [i for i, s in share.items() if s >= p["inst_share"]]
            complicit = [i for i in insts if inst_z.get(i, 0.0) >= p["inst_z"]]
            vph = v_phys.reindex(caps["visit_id"].dropna()).dropna()
            pshare = vph.value_counts(normalize=True)
            docs = [d for d, s in pshare.items() if s >= p["inst_share"]] if len(vph) >= p["min_mismatch"] else []
            owners = sorted({e for e in sub["enrolled_person_id"].dropna().astype(str)})
            vids = caps["visit_id"].dropna()
            # (a look-up through the visits' index: ``isin(v.index)`` hashed the city's visits again for
            # every ring, seconds each on a 1M-person city)
            amount = float(v_amount.reindex(vids).sum())
            n_cred, n_mm = len(creds), int(sub["n_strong"].sum())
            n_unv = int(sub["n_unverified"].sum())
            raw = np.log2(n_cred) + 0.5 * np.log2(1 + n_mm + 0.5 * n_unv) + 0.5 * len(complicit)
            score = float(squash(raw, mid=2.5, scale=0.8))
            members = typed("person", sorted(set(creds) | set(owners))) + typed("institution", insts) + \
                typed("physician", docs)
            where = ", ".join(insts) if insts else f"{share.size} institution(s)"
            groups.append(Group(
                self.name, self.scheme, members, score, amount,
                f"{len(fids)} face identit{'y' if len(fids) == 1 else 'ies'} presented {n_cred} other people's "
                f"credentials {n_mm} times at {where}; owner(s): {', '.join(owners) or 'not enrolled'}. "
                f"Check the settlement captures against the credential holders.",
                {"faces": fids, "owners": owners, "credentials": creds, "n_mismatch": n_mm,
                 "institution_share": share.round(3).to_dict(), "complicit_institutions": complicit,
                 "physician_share": pshare.head(5).round(3).to_dict(),
                 "visits": vids.astype(str).tolist()[:200], "params": self.get_params(), "source": "faces"}))
        return groups

    def _join_at_complicit(self, comps: list[set], fm: pd.DataFrame, inst_z: pd.Series) -> list[set]:
        """Face--credential components that work the same complicit institution are one ring:
        several users (faces) with their own sets of lent cards at one clinic or pharmacy whose
        mismatch rate stands out. Components are joined when they share an institution holding at
        least ``inst_share`` of each one's impersonated captures and with robust z >= ``inst_z``."""
        p = self.params
        if len(comps) < 2:
            return comps
        bad = fm[fm["verdict"].isin(["mismatch", "no_enrollment"])]
        bad = bad[bad["face_id"].isin({c[5:] for comp in comps for c in comp if c.startswith("face:")})]
        where = []
        for comp in comps:
            fids = {c[5:] for c in comp if c.startswith("face:")}
            creds = {c[7:] for c in comp if c.startswith("person:")}
            caps = bad[bad["face_id"].isin(fids) & bad["claimed_person_id"].isin(creds)]
            share = caps["institution_id"].value_counts(normalize=True)
            where.append({i for i, sh in share.items() if sh >= p["inst_share"] and inst_z.get(i, 0.0) >= p["inst_z"]})
        edges = [(f"c{k}", f"i:{i}") for k, w in enumerate(where) for i in w]
        joined = connected_components(edges, nodes=[f"c{k}" for k in range(len(comps))])
        out = []
        for part in joined:
            ks = [int(x[1:]) for x in part if x.startswith("c")]
            out.append(set().union(*(comps[k] for k in ks)))
        return out

    # --------------------------------------------------------------- co-timing
    def _cotime_groups(self, ctx: Context, only_without_terminal: bool) -> list[Group]:
        p = self.params
        v = visit_frame(ctx)
        keep = v["visit_type"].isin(["outpatient", "inpatient"]) & (v["inst_kind"] != "pharmacy")
        if only_without_terminal:
            keep &= ~v["has_face_terminal"]
        v = v.loc[keep, ["person_id", "institution_id", "amount"]]    # the columns read below, not the frame
        if v.empty:
            return []
        e = covisit_edges(ctx, window=p["cotime_window"], min_common=p["cotime_min_common"],
                          visit_types=("outpatient", "inpatient"), exclude_kinds=("pharmacy",),
                          without_terminal=only_without_terminal)
        # used together on most of the days both were used there: a refill morning's regulars share the
        # day every month and the same half hour only now and then (by chance, in the crowd)
        e = e[~e["family"] & (e["n_sync"] >= p["cotime_together"] * e["shared_days"].clip(lower=1))]
        if e.empty:
            return []
        comms = leiden_communities(e[["a", "b"]].to_numpy(dtype=object), e["weighted"].to_numpy(), seed=p["seed"])
        # the visits of the communities' persons, once (a community then filters these, not the city's)
        v = v[v["person_id"].isin({x for c in comms if len(c) >= p["cotime_min_size"] for x in c})]
        groups = []
        for c in comms:
            if len(c) < p["cotime_min_size"]:
                continue
            persons = sorted(c)
            inner = e[e["a"].isin(c) & e["b"].isin(c)]
            vv = v[v["person_id"].isin(c)]
            share = vv["institution_id"].value_counts(normalize=True)
            insts = [i for i, s in share.items() if s >= p["inst_share"]][:2]
            dens = 2 * len(inner) / (len(c) * (len(c) - 1))
            raw = np.log2(len(c)) * dens + 0.3 * float(inner["n_sync"].mean())
            score = float(squash(raw, mid=2.5, scale=0.8)) * 0.9   # indirect evidence: capped below face proof
            amount = float(vv[vv["institution_id"].isin(insts)]["amount"].sum())
            groups.append(Group(
                self.name, self.scheme, typed("person", persons) + typed("institution", insts), score, amount,
                f"{len(c)} credentials were used at {', '.join(insts) or 'the same institutions'} within "
                f"{p['cotime_window']} of each other on up to {int(inner['n_sync'].max())} separate occasions "
                f"(no registered family link). Check who presented them.",
                {"pairs": inner[["a", "b", "n_sync"]].head(200).to_dict("records"), "density": round(dens, 3),
                 "institution_share": share.head(5).round(3).to_dict(), "params": self.get_params(),
                 "source": "co-timing"}))
        return groups

    # ----------------------------------------------------------------- cohorts
    def _cohort_groups(self, ctx: Context, only_without_terminal: bool) -> list[Group]:
        """Credentials that start and stop using one institution together.

        Lent cards are used while the ring runs and not before or after, so
        their (first use, last use) at the complicit institution fall in the
        same box of +-``cohort_days``. For each repeat visitor the number of
        other repeat visitors of the same institution in its box is compared
        (Poisson surprise) with what the joint (first, last) distribution of
        repeat visitors of the *other* institutions of the same kind predicts
        for an institution with as many repeat visitors. Year-round
        regulars (active over the whole data span) are left out. (The
        institution's own marginals are not a usable baseline: a ring can be
        most of a small pharmacy's repeat customers.)
        """
        p = self.params
        vf = visit_frame(ctx)
        keep = vf["visit_type"] != "inpatient"
        if only_without_terminal:
            keep &= ~vf["has_face_terminal"]
        # the columns read below, not the frame (a copy of the city's visits)
        v = vf.loc[keep, ["visit_id", "person_id", "institution_id", "start_time", "inst_kind", "amount",
                          "physician_id", "external_rx"]]
        if v.empty:
            return []
        t0 = vf["start_time"].min().normalize()
        span = int((vf["start_time"].max() - t0).days) + 1
        pi = v.groupby(["institution_id", "person_id"]).agg(
            n=("visit_id", "size"), f=("start_time", "min"), l=("start_time", "max"),
            kind=("inst_kind", "first"), amount=("amount", "sum")).reset_index()
        pi = pi[pi["n"] >= p["cohort_min_visits"]]
        pi["fd"] = (pi["f"] - t0).dt.days.clip(0, span - 1)
        pi["ld"] = (pi["l"] - t0).dt.days.clip(0, span - 1)
        edge = p["regular_days"]
        pi = pi[~((pi["fd"] < edge) & (pi["ld"] > span - 1 - edge))].reset_index(drop=True)
        if len(pi) < p["cotime_min_size"]:
            return []
        d = p["cohort_days"]
        # neighbours in the box, within the institution: 2-D prefix sums of the institution's
        # (first, last) days, so a hospital's 50,000 patients cost one grid, not 2.5e9 pairs of a
        # self-join (what a city's card-lending stage once tried to allocate)
        obs = np.zeros(len(pi))
        for _, sub in pi.groupby("institution_id"):
            obs[sub.index] = _box_counts(sub["fd"].to_numpy(), sub["ld"].to_numpy(), span, d) - 1.0
        # expectation 1: the kind's joint (first, last) density, by 2-D prefix sums
        exp_kind = np.zeros(len(pi))
        n_inst = pi.groupby("institution_id")["person_id"].transform("size").to_numpy()
        for kind, sub in pi.groupby("kind"):
            box = _box_counts(sub["fd"].to_numpy(), sub["ld"].to_numpy(), span, d)
            # leave the institution itself out of its baseline (a ring must not explain itself)
            others = box - (obs[sub.index] + 1)
            n_out = len(sub) - n_inst[sub.index]
            exp_kind[sub.index] = np.where(n_out > 0, others / np.maximum(n_out, 1), 0.0) * (n_inst[sub.index] - 1)
        pi["surprise"] = poisson_sf_z(obs + 1, exp_kind + 1)
        hot = pi[(pi["surprise"] >= p["cohort_z"]) & (obs + 1 >= p["cotime_min_size"])]
        if hot.empty:
            return []
        # the surprising rows joined when neighbours in the box at the same institution (components
        # of the neighbour pairs, found a block of pairs at a time: no self-join)
        comps = [hot.index[c] for c in _box_components(hot["institution_id"].to_numpy(), hot["fd"].to_numpy(),
                                                       hot["ld"].to_numpy(), d)]
        groups = []
        # the visits and family links of the surprising rows' persons, once (not the city's per component)
        hot_p = set(hot["person_id"])
        v = v[v["institution_id"].isin(set(hot["institution_id"])) & v["person_id"].isin(hot_p)]
        fam = family_pairs(ctx)
        fam = fam[fam["a"].isin(hot_p) & fam["b"].isin(hot_p)]
        for comp in comps:
            rows = pi.loc[sorted(comp)]
            if len(rows) < p["cotime_min_size"]:
                continue
            inst = rows["institution_id"].iloc[0]
            persons = sorted(rows["person_id"])
            n_fam = int((fam["a"].isin(persons) & fam["b"].isin(persons)).sum())
            if n_fam >= len(persons) / 2:      # a household, not a ring
                continue
            raw = float(rows["surprise"].mean())
            score = float(squash(raw, mid=2.0, scale=1.0)) * 0.6    # indirect evidence: below face proof
            f0, f1, l1 = rows["f"].min(), rows["f"].max(), rows["l"].max()
            # the physician behind most of the cohort's visits joins it; one practising elsewhere
            # (external prescriptions filled here) makes it a prescribing structure, not card lending
            cv = v[(v["institution_id"] == inst) & v["person_id"].isin(persons)]
            ph = cv["physician_id"].dropna()
            docs, scheme = [], self.scheme
            if len(ph) >= p["cotime_min_size"] and ph.value_counts(normalize=True).iloc[0] >= 0.5:
                top_doc = ph.value_counts().index[0]
                docs = [top_doc]
                if cv.loc[cv["physician_id"] == top_doc, "external_rx"].mean() >= 0.5:
                    scheme = "collusive_prescribing"
            groups.append(Group(
                self.name, scheme, typed("person", persons) + typed("institution", [inst]) + typed("physician", docs),
                score,
                float(rows["amount"].sum()),
                f"{len(persons)} credentials began using {inst} between {f0:%Y-%m-%d} and {f1:%Y-%m-%d} and "
                f"stopped together by {l1:%Y-%m-%d} ({int(rows['n'].sum())} visits), far more than the "
                f"institution's and its peers' patterns explain. Check who presented them.",
                {"cohort": rows[["person_id", "n", "f", "l"]].astype(str).to_dict("records"),
                 "surprise": round(raw, 2), "params": self.get_params(), "source": "cohort"}))
        return groups

    # ----------------------------------------------------------------- history
    def _history_scan_groups(self, ctx: Context, only_without_terminal: bool) -> list[Group]:
        """Credentials treated by one physician, in a few months, for chronic illnesses that are not theirs.

        A lent credential is treated for the borrower's illness: its visits carry chronic diagnoses
        the holder never registered (门慢 registration, ``persons.chronic_conditions``). Each
        credential counts once per channel (institution and physician; the institution alone where
        no physician is named), in the month it first came to that channel, and is *flagged* when
        at least ``history_min_bad_visits`` and ``history_share`` of its visits there carry only
        unregistered chronic codes (a one-off screening visit that finds a new diabetic is not a
        lent card; a settlement of a resold pack, rules of class ``drug_resale``, is the resale
        ring's evidence). Credentials already coming in the data's first
        ``history_incumbent_days`` are incumbents, left out (left censoring: every regular
        "arrives" at the start). A channel's monthly newcomers and flagged newcomers are scanned
        for the run of months (Kulldorff's 1-D scan) whose flagged count is least likely under a
        Poisson: each month expects its newcomers times the typical rate of the channels of the
        same institution kind (median over those with ``history_min_repeat`` newcomers, all
        channels where a kind has fewer than five; at least ``history_scan_floor``) times that
        month's profile at the other channels (an edge of the data or a screening season raises
        every channel), and never less than the channel's own level outside the run, which must
        leave ``history_min_outside`` of the channel's active months (a surge, not the level of a
        specialist or of a pharmacy of chronic customers). A busy doctor's two thousand patients
        no longer hide a ring's fifteen: the surprise is in the months the ring ran, not in the
        year's share. The exact tail must reach ``history_scan_z`` (5: about one false run in a
        million channel x run tests) with at least ``history_min_persons`` flagged newcomers;
        channels sharing a quarter of their flagged newcomers are one ring.

        A ring that runs from the data's first quarter is left to :meth:`_history_year_groups`.
        """
        from scipy.stats import norm, poisson

        p = self.params
        bad = _unregistered_chronic(ctx)
        if bad is None:
            return []      # no registrations (or no diagnoses) in this dataset: nothing to be inconsistent with
        v = visit_frame(ctx)
        bad = bad & ~_resold(ctx, v)
        out = (v["visit_type"] != "inpatient").to_numpy()
        if only_without_terminal:
            out &= ~v["has_face_terminal"].to_numpy(dtype=bool)
        if not out.any():
            return []
        rows = np.flatnonzero(out)
        inst_c, inst_u = pd.factorize(v["institution_id"].to_numpy()[rows])
        doc_c, doc_u = pd.factorize(v["physician_id"].to_numpy()[rows], use_na_sentinel=True)
        ch_c, ch_u = pd.factorize(inst_c.astype(np.int64) * (len(doc_u) + 1) + (doc_c + 1))
        per_c, per_u = pd.factorize(v["person_id"].to_numpy()[rows])
        ts = v["start_time"].to_numpy()[rows]
        st = ts.astype("datetime64[M]").astype(np.int64)
        month = (st - st.min()).astype(np.int64)
        n_m = int(month.max()) + 1
        # one row per (channel, credential): its first month there, its visits and its bad visits
        cp = pd.DataFrame({"key": ch_c.astype(np.int64) * len(per_u) + per_c, "m": month, "t": ts,
                           "bad": bad[rows]}).groupby("key", sort=False).agg(
            m=("m", "min"), t=("t", "min"), n=("bad", "size"), nb=("bad", "sum"))
        # a credential already coming when the data begin is an incumbent, not a newcomer: every
        # regular "arrives" in the first weeks, a chronic customer on 90 days' supply within the
        # first quarter, which would read as a surge (left censoring)
        cp = cp[cp["t"] >= ts.min() + np.timedelta64(int(p["history_incumbent_days"]), "D")]
        if cp.empty:
            return []
        cp["ch"] = (cp.index.to_numpy() // len(per_u)).astype(np.int64)
        cp["per"] = (cp.index.to_numpy() % len(per_u)).astype(np.int64)
        # flagged: treated there more than once for a chronic illness not its holder's (a one-off
        # screening visit that finds a new diabetic is not a lent card)
        cp["flag"] = (cp["nb"] >= p["history_min_bad_visits"]) & (cp["nb"] >= p["history_share"] * cp["n"])
        n_ch = len(ch_u)
        N = np.zeros((n_ch, n_m))
        B = np.zeros((n_ch, n_m))
        np.add.at(N, (cp["ch"].to_numpy(), cp["m"].to_numpy()), 1.0)
        fl = cp[cp["flag"]]
        np.add.at(B, (fl["ch"].to_numpy(), fl["m"].to_numpy()), 1.0)
        tot_n, tot_b = N.sum(1), B.sum(1)
        big = tot_n >= p["history_min_repeat"]
        typical = float(np.median(tot_b[big] / tot_n[big])) if big.sum() >= 5 else \
            float(tot_b.sum() / max(tot_n.sum(), 1.0))
        # peers of the same institution kind set the level where there are enough of them (a
        # pharmacy's customers bring more unregistered chronic illness than a clinic's patients)
        ch_kind = pd.Series(v["inst_kind"].to_numpy()[rows]).groupby(ch_c).first().reindex(range(n_ch)).to_numpy()
        r0 = np.full(n_ch, typical)
        for kd in pd.unique(ch_kind):
            m_k = ch_kind == kd
            if (big & m_k).sum() >= 5:
                r0[m_k] = float(np.median(tot_b[big & m_k] / tot_n[big & m_k]))
        r0 = np.maximum(r0, float(p["history_scan_floor"]))
        # the months' profile: the share of newcomers flagged in month m at every *other* channel,
        # relative to their whole span (the data's first months bring more chronic newcomers
        # everywhere; a screening season raises every clinic), times the typical level r0
        Nm, Bm = N.sum(0), B.sum(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate_m = (Bm[None, :] - B) / (Nm[None, :] - N)
            rate_all = (B.sum() - tot_b) / (N.sum() - tot_n)
            F = np.where(rate_all[:, None] > 0, rate_m / rate_all[:, None], 1.0)
        F = np.nan_to_num(F, nan=1.0, posinf=1.0)
        E = N * np.maximum(r0[:, None] * F, float(p["history_scan_floor"]))
        cE = np.concatenate([np.zeros((n_ch, 1)), E.cumsum(1)], 1)
        tot_e = E.sum(1)
        cB = np.concatenate([np.zeros((n_ch, 1)), B.cumsum(1)], 1)
        best_z = np.zeros(n_ch)
        best_w = np.zeros((n_ch, 2), dtype=np.int64)
        best_e = np.zeros(n_ch)
        cand = np.flatnonzero(tot_b >= p["history_min_persons"])     # only channels that could qualify
        # the channel's months with newcomers: a run must leave history_min_outside of them outside,
        # or it measures the channel's level (a specialist, a pharmacy of chronic customers), not a surge
        act = (N[cand] > 0).astype(np.int64)
        cA = np.concatenate([np.zeros((len(cand), 1), dtype=np.int64), act.cumsum(1)], 1)
        for a in range(n_m):
            for b in range(a + 1, n_m + 1):
                e_in = cE[cand, b] - cE[cand, a]
                b_in = cB[cand, b] - cB[cand, a]
                # the channel's own level outside the run (one pseudo-count at the typical level)
                own = (tot_b[cand] - b_in + 1.0) / (tot_e[cand] - e_in + 1.0)
                exp = e_in * np.maximum(own, 1.0)
                tail = poisson.sf(b_in - 1.0, np.maximum(exp, 1e-12))
                outside = cA[:, -1] - (cA[:, b] - cA[:, a])
                z = np.where((b_in >= p["history_min_persons"]) & (outside >= p["history_min_outside"]),
                             norm.isf(np.clip(tail, 1e-300, 1.0)), 0.0)
                up = z > best_z[cand]
                best_z[cand[up]] = z[up]
                best_w[cand[up]] = (a, b)
                best_e[cand[up]] = exp[up]
        hot_ch = np.flatnonzero(best_z >= p["history_scan_z"])
        self.history_channels_ = pd.DataFrame({
            "institution_id": inst_u[ch_u[hot_ch] // (len(doc_u) + 1)],
            "physician_id": [doc_u[d - 1] if d > 0 else None for d in (ch_u[hot_ch] % (len(doc_u) + 1))],
            "z": best_z[hot_ch], "expected": best_e[hot_ch],
            "first_month": best_w[hot_ch, 0], "end_month": best_w[hot_ch, 1]})
        if not len(hot_ch):
            return []
        # the flagged credentials of each hot channel that came to it within its window
        fl = fl[fl["ch"].isin(hot_ch)]
        fl = fl[(fl["m"].to_numpy() >= best_w[fl["ch"].to_numpy(), 0]) &
                (fl["m"].to_numpy() < best_w[fl["ch"].to_numpy(), 1])]
        ch_inst = {int(c): str(inst_u[ch_u[c] // (len(doc_u) + 1)]) for c in hot_ch}
        ch_doc = {int(c): (str(doc_u[ch_u[c] % (len(doc_u) + 1) - 1]) if ch_u[c] % (len(doc_u) + 1) else None)
                  for c in hot_ch}
        # channels join when they share a real part of their flagged credentials (a ring working two
        # clinics); one patient seen at two busy channels does not chain a district into one "ring"
        members_of = {int(c): set(g["per"].tolist()) for c, g in fl.groupby("ch")}
        links = [(f"channel:{a}", f"channel:{b}") for a, b in itertools.combinations(sorted(members_of), 2)
                 if len(members_of[a] & members_of[b]) >= max(2, 0.25 * min(len(members_of[a]), len(members_of[b])))]
        links += [(f"channel:{c}", f"channel:{c}") for c in members_of]
        fam = family_pairs(ctx)
        fl_p = set(str(x) for x in per_u[fl["per"].to_numpy()])
        fam = fam[fam["a"].isin(fl_p) & fam["b"].isin(fl_p)]
        hot_inst = set(ch_inst.values())
        vv = v[bad & out & v["institution_id"].isin(hot_inst).to_numpy() &
               v["person_id"].astype(str).isin(fl_p).to_numpy()]
        t0 = np.datetime64(int(st.min()), "M")
        groups = []
        for comp in connected_components(links):
            chans = sorted(int(c[8:]) for c in comp)
            creds = sorted({str(per_u[x]) for c in chans for x in members_of[c]})
            if len(creds) < p["history_min_persons"]:
                continue
            n_fam = int((fam["a"].isin(creds) & fam["b"].isin(creds)).sum())
            if n_fam >= len(creds) / 2:      # a household, not a ring
                continue
            insts = sorted({ch_inst[c] for c in chans})
            # the channels' doctors stay in the evidence, not in the members: the scan shows the
            # credentials misused there, not that the doctor knew (a resale ring's unknowing feeder,
            # writing for collectors on borrowed credentials, looks the same)
            docs = sorted({ch_doc[c] for c in chans if ch_doc[c] is not None})
            z = float(best_z[chans].max())
            cv = vv[vv["institution_id"].isin(insts) & vv["person_id"].astype(str).isin(creds)]   # bad visits only
            scheme = self.scheme
            if docs and len(cv) and cv["external_rx"].mean() >= 0.5:
                scheme = "collusive_prescribing"    # prescriptions from elsewhere: a prescribing structure
            score = float(squash(z, mid=5.0, scale=1.5)) * 0.85   # indirect evidence: below face proof
            top = cv.explode("diagnosis_codes")["diagnosis_codes"].astype(str).value_counts().head(3)
            months = {f"{ch_inst[c]}/{ch_doc[c] or '-'}": (
                str(t0 + np.timedelta64(int(best_w[c, 0]), "M")),
                str(t0 + np.timedelta64(int(best_w[c, 1]) - 1, "M"))) for c in chans}
            span = "; ".join(f"{k} {a}..{b}" for k, (a, b) in months.items())
            groups.append(Group(
                self.name, scheme, typed("person", creds) + typed("institution", insts),
                score, float(cv["amount"].sum()),
                f"{len(creds)} credentials came to {', '.join(insts)} ({span}) and were treated for chronic "
                f"illnesses their holders have not registered ({', '.join(top.index)}; {len(cv)} visits), "
                f"{z:.1f} sigma above the channel's other months and the typical channel. Check who presented them.",
                {"channels": {f"{ch_inst[c]}/{ch_doc[c] or '-'}": {
                    "z": round(float(best_z[c]), 2), "expected": round(float(best_e[c]), 3),
                    "months": list(months[f"{ch_inst[c]}/{ch_doc[c] or '-'}"])} for c in chans},
                 "typical_rate": round(float(r0[chans].max()), 5),
                 "visits": cv["visit_id"].astype(str).head(200).tolist(), "top_diagnoses": top.to_dict(),
                 "params": self.get_params(), "source": "history", "method": "scan"}))
        return groups

    def _history_year_groups(self, ctx: Context, only_without_terminal: bool) -> list[Group]:
        """Credentials treated at one institution, over the whole data, for chronic illnesses that are not theirs
        (counted per institution against the median institution: a ring working from the data's first
        months, which the scan below cannot tell from incumbents)."""
        p = self.params
        bad = _unregistered_chronic(ctx)
        if bad is None:
            return []      # no registrations (or no diagnoses) in this dataset: nothing to be inconsistent with
        v = visit_frame(ctx)
        out = (v["visit_type"] != "inpatient").to_numpy()
        pi = pd.DataFrame({"institution_id": v["institution_id"].to_numpy()[out],
                           "person_id": v["person_id"].to_numpy()[out], "bad": bad[out],
                           "kind": v["inst_kind"].to_numpy()[out],
                           "terminal": v["has_face_terminal"].to_numpy()[out]}).groupby(
            ["institution_id", "person_id"]).agg(
            n=("bad", "size"), n_bad=("bad", "sum"), kind=("kind", "first"),
            terminal=("terminal", "first")).reset_index()
        pi = pi[pi["n"] >= p["history_min_visits"]]
        if pi.empty:
            return []
        pi["flag"] = pi["n_bad"] >= p["history_share"] * pi["n"]
        inst = pi.groupby("institution_id").agg(repeat=("person_id", "size"), flagged=("flag", "sum"),
                                                kind=("kind", "first"), terminal=("terminal", "first"))
        # baseline: the typical institution's rate -- the median over institutions with enough repeat
        # visitors, so that rings (a few institutions, often of one kind) cannot raise their own
        # baseline; floored at history_floor
        r = inst["flagged"] / inst["repeat"]
        big = inst["repeat"] >= p["history_min_repeat"]
        if big.sum() >= 5:
            rate = pd.Series(float(r[big].median()), index=inst.index)
        else:   # too few institutions for a median: the pooled rate of all the others
            rate = (inst["flagged"].sum() - inst["flagged"]) / (inst["repeat"].sum() - inst["repeat"]).clip(lower=1)
        inst["expected"] = rate.fillna(0.0).clip(lower=p["history_floor"]) * inst["repeat"]
        inst["z"] = poisson_sf_z(inst["flagged"].to_numpy(), inst["expected"].to_numpy())
        hot = inst[(inst["z"] >= p["history_z"]) & (inst["flagged"] >= p["cotime_min_size"])]
        self.history_institutions_ = inst
        if only_without_terminal:
            hot = hot[~hot["terminal"].astype(bool)]
        if hot.empty:
            return []
        fl = pi[pi["flag"] & pi["institution_id"].isin(hot.index)]
        # institutions sharing flagged credentials are one ring
        edges = list(zip("institution:" + fl["institution_id"], "person:" + fl["person_id"].astype(str)))
        fam = family_pairs(ctx)
        # the flagged visits and the family links of the flagged credentials, once (not the city's per ring)
        fl_p = set(fl["person_id"].astype(str))
        fam = fam[fam["a"].isin(fl_p) & fam["b"].isin(fl_p)]
        vv = v[bad & v["institution_id"].isin(hot.index).to_numpy() & v["person_id"].astype(str).isin(fl_p).to_numpy()]
        groups = []
        for comp in connected_components(edges):
            insts = sorted(c[12:] for c in comp if c.startswith("institution:"))
            creds = sorted(c[7:] for c in comp if c.startswith("person:"))
            if len(creds) < p["cotime_min_size"]:
                continue
            n_fam = int((fam["a"].isin(creds) & fam["b"].isin(creds)).sum())
            if n_fam >= len(creds) / 2:      # a household, not a ring
                continue
            z = float(hot["z"].reindex(insts).max())
            cv = vv[vv["institution_id"].isin(insts) & vv["person_id"].astype(str).isin(creds)]   # bad visits only
            ph = cv["physician_id"].dropna()
            docs = [ph.value_counts().index[0]] if len(ph) >= p["cotime_min_size"] and \
                ph.value_counts(normalize=True).iloc[0] >= 0.5 else []
            scheme = self.scheme
            if docs and cv.loc[cv["physician_id"] == docs[0], "external_rx"].mean() >= 0.5:
                scheme = "collusive_prescribing"    # prescriptions from elsewhere: a prescribing structure
            score = float(squash(z, mid=3.0, scale=1.0)) * 0.85   # indirect evidence: below face proof
            top = cv.explode("diagnosis_codes")["diagnosis_codes"].astype(str).value_counts().head(3)
            groups.append(Group(
                self.name, scheme, typed("person", creds) + typed("institution", insts) + typed("physician", docs),
                score, float(cv["amount"].sum()),
                f"{len(creds)} credentials were treated at {', '.join(insts)} for chronic illnesses their holders "
                f"have not registered ({', '.join(top.index)}; "
                f"{len(cv)} visits), {z:.1f} sigma above the typical institution. Check who presented them.",
                {"institutions": {i: {k: (round(float(x), 3) if isinstance(x, float) else x)
                                      for k, x in hot.loc[i, ["repeat", "flagged", "expected", "z"]].items()}
                                  for i in insts},
                 "visits": cv["visit_id"].astype(str).head(200).tolist(), "top_diagnoses": top.to_dict(),
                 "params": self.get_params(), "source": "history", "method": "year"}))
        return groups

    def fit(self, ctx: Context, y: pd.DataFrame | None = None) -> CardLendingDetector:
        has_faces = ctx.face_matches is not None and len(ctx.face_matches) > 0 and \
            "face_id" in ctx.face_matches.columns
        groups = self._face_groups(ctx) if has_faces else []
        mode: Any = self.params["use_cotiming"]
        if mode is True or (mode == "auto"):
            only = has_faces and mode == "auto"
            cg = self._history_year_groups(ctx, only_without_terminal=only) + \
                self._history_scan_groups(ctx, only_without_terminal=only) + \
                self._cotime_groups(ctx, only_without_terminal=only) + \
                self._cohort_groups(ctx, only_without_terminal=only)
            seen = [g.member_set() for g in groups]
            for g in cg:   # keep a co-timing group only if faces did not already explain it
                ms = g.member_set()
                if not any(len(ms & s) >= 0.5 * len(ms) for s in seen):
                    groups.append(g)
        # leads only from the sources that have earned it; the others score their members
        keep = set(self.params["lead_sources"])
        weak = [g for g in groups if g.evidence.get("source") not in keep]
        groups = [g for g in groups if g.evidence.get("source") in keep]
        extra = pd.DataFrame([(m.partition(":")[0], m.partition(":")[2], float(g.score))
                              for g in weak for m in g.members], columns=["entity_type", "entity_id", "score"])
        if len(extra):
            extra = extra.groupby(["entity_type", "entity_id"], as_index=False)["score"].max()
        return finalize(self, groups, extra if len(extra) else None)
