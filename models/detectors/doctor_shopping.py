"""Doctor shopping: one person collecting the same drug from many prescribers.

For every person and condition (the visit's 3-character ICD-10 code; else a
drug class, an ATC-like key from the catalogue, see
:func:`ringscope.graph.projection.drug_group`) the detector follows the fills
in time: a fill obtained while an earlier supply of the same class from
*another* prescriber is still running (beyond a tolerance for early refills)
is an overlapping prescription, the classic marker of doctor shopping. Chronic
patients have one or two prescribers and refill when their supply runs out;
acute patients see several doctors a year for short courses that do not
overlap; a shopper has a fan-in of prescribers, overlapping supplies and an
oversupply against the calendar. The fan-in (distinct prescribers and the
institutions they work at: the doctors of one hospital share its records, so
shopping spreads over places) and the
number of fills are compared with the medians of the other continuous users
of the same condition -- chronic patients are the baseline, not the whole
population; a fan-in that is only the minimum, without overlapping supplies
or unusual intensity, is not enough. Group = the person (optionally with the
prescribers).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ringscope.models.detectors._util import finalize, squash, typed
from ringscope.graph.partition import buckets
from ringscope.graph.projection import drug_lines, map_unique
from ringscope.models.base import BaseDetector, Context, Group

__all__ = ["DoctorShoppingDetector"]


class DoctorShoppingDetector(BaseDetector):
    """Find persons with a fan-in of prescribers for the same drug.

    Parameters
    ----------
    min_prescribers : distinct prescribers of one drug class needed.
    min_institutions : distinct institutions they practise at (one institution sees its own records).
    min_lead_institutions : institutions a person's fills must span to be a lead; fewer (several
        doctors of one or two institutions in turn) leaves an entity score only.
    min_lead_oversupply : days of supply per day passed a person's fills must reach to be a lead;
        below it (short acute courses from whichever clinic is near, a cold every few months)
        leaves an entity score only: a shopper collects more than a course's worth.
    min_lead_prescribers : distinct prescribers a lead takes (the multiple-provider episode of the
        prescription-monitoring literature counts four or more); three doctors is what a busy year of
        ordinary care gives thousands of persons in a city.
    min_lead_days : days from the first fill to the end of the last supply a lead spans: shopping is
        sustained over months; a burst of acute courses within weeks is not ...
    min_lead_overlap_share : ... unless this share of the fills came while another prescriber's supply
        was still running (an intense spell of shopping: most fills overlapping, not one second opinion).
    min_lead_fills_per_prescriber : fills per prescriber a lead takes, unless min_lead_overlap_share of them
        overlap or the fills cover more days than passed: a shopper goes back to the doctors who supply
        him, or collects more than he can take; a person with a cold, a gastritis and a sore knee over
        the year sees each doctor about once for a course's worth (200k city: 7 of 11 false leads,
        J06/J02/K52/K29/M17 at 1.4-1.9 fills per prescriber and 0.6-0.9x the days; every shopper at 2.1
        or more, overlapping, or, in the province generator, 5 prescribers once each for 1.6x the days).
    min_overlaps : fills obtained while another prescriber's supply was still running.
    overlap_tolerance : share of a supply that may overlap the next fill without counting (early refills).
    grouping : ``"condition"`` (the visit's 3-character ICD-10 code, else the drug class), ``"drug_class"``
        (therapeutic class by indication limits, else molecule) or ``"group"`` (molecule).
    min_peers : continuous users a condition needs to be its own baseline (else the city's).
    min_coverage, min_fills : a continuous user's supply covers this share of the calendar over this many fills.
    default_days : supply assumed when ``days_supply`` is unknown.
    include_prescribers : add the prescribers (and dispensers) to the group.
    min_score : persons below are dropped.
    """

    name = "doctor_shopping"
    scheme = "doctor_shopping"
    kind = "graph"
    needs = ("visits", "claim_lines")

    min_prescribers: int
    min_institutions: int
    min_lead_institutions: int
    min_lead_oversupply: float
    min_lead_prescribers: int
    min_lead_days: float
    min_lead_overlap_share: float
    min_lead_fills_per_prescriber: float
    min_overlaps: int
    overlap_tolerance: float
    grouping: str
    min_coverage: float
    min_fills: int
    min_peers: int
    default_days: float
    include_prescribers: bool
    min_score: float

    def _fills(self, ctx: Context) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        """One bucket's (or the city's) fills and per (person, class) statistics: everything that
        stays within one person, before the city-wide baselines."""
        p = self.params
        dl = drug_lines(ctx)
        dl = dl[dl["prescriber"].notna()]
        if dl.empty:
            return None
        ds = pd.to_numeric(dl["days_supply"], errors="coerce").fillna(p["default_days"]).clip(lower=1)
        if p["grouping"] == "condition":   # the visit's condition (3-character ICD-10), else the drug class
            dx3 = map_unique(dl["diagnosis_codes"], lambda t: "dx:" + str(t[0])[:3] if isinstance(t, tuple) and t else "")
            key = dx3.where(dx3 != "", dl["drug_class"])
        else:
            key = dl[p["grouping"]]
        # one fill = one visit's drugs of one class; supply = the longest line of the fill
        f = dl.assign(ds=ds, g=key).groupby(["person_id", "g", "visit_id"], as_index=False).agg(
            t=("start_time", "first"), ds=("ds", "max"), prescriber=("prescriber", "first"),
            inst=("institution_id", "first"), amount=("amount", "sum"))
        del dl
        f = f.sort_values(["person_id", "g", "t"], kind="stable").reset_index(drop=True)
        end = (f["t"] + pd.to_timedelta(f["ds"], unit="D")).astype("int64")
        grp = f["person_id"] + "|" + f["g"]
        prev_end = end.groupby(grp).cummax().groupby(grp).shift()
        prev_presc = f.groupby(grp)["prescriber"].shift()
        # a fill still covered by an earlier supply (beyond a tolerance) from another prescriber
        tol = (f["ds"] * p["overlap_tolerance"] * 86400e9).astype("int64")
        f["overlap"] = (f["t"].astype("int64") < prev_end - tol) & (f["prescriber"] != prev_presc) & prev_end.notna()
        g = f.groupby(["person_id", "g"]).agg(
            n_presc=("prescriber", "nunique"), n_inst=("inst", "nunique"), n_fill=("visit_id", "size"),
            n_overlap=("overlap", "sum"), supply=("ds", "sum"), t0=("t", "min"), t1=("t", "max"),
            amount=("amount", "sum")).reset_index()
        last_ds = f.groupby(["person_id", "g"])["ds"].last().to_numpy()
        span = ((g["t1"] - g["t0"]).dt.total_seconds() / 86400 + last_ds).clip(lower=1)
        g["oversupply"] = g["supply"] / span
        g["span_days"] = span
        return f, g

    def fit(self, ctx: Context, y: pd.DataFrame | None = None) -> DoctorShoppingDetector:
        p = self.params
        # a person's fills stay within the person: bucket by bucket of persons on a city (the drug
        # lines of one bucket in memory at a time), keeping the statistics of every (person, class)
        # and the fills only of those that can make a lead (the conditions below that need no baseline)
        fs, gs = [], []
        for b in buckets(ctx, "person", ctx.partitions, tables=("visits", "claim_lines")):
            if b is not ctx and "graph:candidate_persons" in ctx.cache:
                b.cache["graph:candidate_persons"] = ctx.cache["graph:candidate_persons"]
            got = self._fills(b)
            if got is None:
                continue
            f, g = got
            may = g[(g["n_presc"] >= p["min_prescribers"]) & (g["n_inst"] >= p["min_institutions"])
                    & (g["n_overlap"] >= p["min_overlaps"])]
            fs.append(f.merge(may[["person_id", "g"]], on=["person_id", "g"]) if p["min_score"] > 0 else f)
            gs.append(g)
        if not gs:
            return finalize(self, [])
        f = pd.concat(fs, ignore_index=True)
        g = pd.concat(gs, ignore_index=True).sort_values(["person_id", "g"], ignore_index=True)
        # continuous users of a class (supply covering most of the calendar) are the peers:
        # chronic patients refill from one or two prescribers; acute courses are not continuous
        cont = (g["oversupply"] >= p["min_coverage"]) & (g["n_fill"] >= p["min_fills"])
        # fan-in and intensity against the condition's continuous users (ratios to their medians: in
        # most conditions nearly every continuous user has one prescriber, so a MAD-based z explodes)
        g["base_presc"], g["base_fill"] = 1.0, float(p["min_fills"])
        if cont.any():
            c = g.loc[cont]
            med = c.groupby("g")[["n_presc", "n_fill"]].median()
            n_peers = c.groupby("g").size()
            city_p, city_f = float(c["n_presc"].median()), float(c["n_fill"].median())
            own = n_peers.reindex(g["g"]).fillna(0).to_numpy() >= p["min_peers"]
            g["base_presc"] = np.where(own, med["n_presc"].reindex(g["g"]).to_numpy(), city_p)
            g["base_fill"] = np.where(own, med["n_fill"].reindex(g["g"]).to_numpy(), city_f)
        # fan-in across places: several doctors of one clinic or hospital see one patient in turn and
        # share its records; shopping spreads over institutions. The geometric mean of prescribers and
        # institutions counts both (8 prescribers at 8 places: 8; 5 doctors of one hospital: 2.2).
        g["fanin"] = np.sqrt(g["n_presc"] * g["n_inst"]) / g["base_presc"].clip(lower=1.0)
        raw = (2.0 * np.log2(g["fanin"].clip(lower=1.0)) + 3.0 * g["n_overlap"] / g["n_fill"].clip(lower=1)
               + 1.5 * np.log2(g["oversupply"].clip(lower=0.25)).clip(0, 2)
               + np.log2(g["n_fill"] / g["base_fill"].clip(lower=1.0)).clip(0, 2))
        ok = cont & (g["n_presc"] >= p["min_prescribers"]) & (g["n_inst"] >= p["min_institutions"]) & \
            (g["n_overlap"] >= p["min_overlaps"])
        g["raw"] = np.where(ok, raw, 0.0)
        g["score"] = squash(g["raw"], mid=4.5, scale=1.0) * ok
        best = g.sort_values("score", ascending=False).drop_duplicates("person_id")
        best = best[best["score"] >= p["min_score"]]
        # the lists of prescribers, places and overlapping fills: only for the groups reported
        sel = f.merge(best[["person_id", "g"]], on=["person_id", "g"])
        tuples = sel.groupby(["person_id", "g"]).agg(prescribers=("prescriber", lambda s: tuple(sorted(set(s)))),
                                                     insts=("inst", lambda s: tuple(sorted(set(s)))))
        ov = sel[sel["overlap"]].groupby(["person_id", "g"])["visit_id"].agg(tuple)
        best = best.join(tuples, on=["person_id", "g"])
        best["overlap_visits"] = [ov.get((a, b), ()) for a, b in zip(best["person_id"], best["g"])]
        self.person_stats_ = g
        # a lead takes several institutions (多处开药 spreads over places that do not share records);
        # several doctors of one or two institutions in turn is a score on the person, not a lead
        # and it collects more than courses' worth: fills covering under min_lead_oversupply of the
        # calendar are acute courses (seven cities: every lead under 0.6 was an ordinary patient with
        # an acute diagnosis -- J02, J06, J20, K52 -- and every real shopper at 0.7 or more)
        # and (at city scale, where a busy year of ordinary care gives thousands of persons three doctors
        # at three places within weeks) four or more prescribers over at least a quarter: the 200,000-person
        # city's 207 false leads of this kind fell to 34, none of its 24 shoppers lost (bench/RESULTS.md)
        lead = (best["n_inst"] >= p["min_lead_institutions"]) & (best["oversupply"] >= p["min_lead_oversupply"]) \
            & (best["n_presc"] >= p["min_lead_prescribers"]) \
            & ((best["span_days"] >= p["min_lead_days"])
               | (best["n_overlap"] >= p["min_lead_overlap_share"] * best["n_fill"])) \
            & ((best["n_fill"] >= p["min_lead_fills_per_prescriber"] * best["n_presc"])
               | (best["n_overlap"] >= p["min_lead_overlap_share"] * best["n_fill"])
               | (best["oversupply"] > 1.0))
        extra = pd.DataFrame({"entity_type": "person", "entity_id": best.loc[~lead, "person_id"].to_numpy(),
                              "score": best.loc[~lead, "score"].to_numpy(float)})
        best = best[lead]
        groups = []
        for r in best.itertuples():
            extra = (typed("physician", r.prescribers) + typed("institution", r.insts)) if p["include_prescribers"] else []
            groups.append(Group(
                self.name, self.scheme, typed("person", [r.person_id]) + extra, float(r.score), float(r.amount),
                f"{r.person_id} obtained {r.g} from {r.n_presc} prescribers at {r.n_inst} institutions "
                f"({r.n_fill} fills, {r.n_overlap} while an earlier supply from another prescriber was still "
                f"running; {r.oversupply:.1f}x the days that passed, over {r.span_days:.0f} days). "
                "Check for resale or hoarding.",
                {"drug_class": r.g, "prescribers": list(r.prescribers), "institutions": list(r.insts),
                 "n_fills": int(r.n_fill), "span_days": round(float(r.span_days), 1), "n_overlapping_fills": int(r.n_overlap),
                 "overlapping_visits": list(r.overlap_visits)[:100], "oversupply": round(float(r.oversupply), 3),
                 "fan_in": round(float(r.fanin), 2), "peer_prescribers": float(r.base_presc),
                 "peer_fills": float(r.base_fill), "params": self.get_params()}))
        return finalize(self, groups, extra)
