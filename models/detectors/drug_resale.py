"""Drug resale networks (倒卖回流药) from the packs' traceability codes.

Collectors (职业开药人) obtain high-value drugs on insurance, on their own or borrowed
credentials and across many prescribers; recyclers buy the packs; complicit pharmacies and
clinics (outlets) sell and settle them again. Every pack's code (药品追溯码) is scanned at each
settlement, so a resold pack leaves a trail: its code on a second settlement.

**The flow graph.** Every step of a pack's path classified ``repeat``
(:func:`ringscope.graph.traces.trace_steps`: the earlier sale was not refunded, not a scanner
repeat, not a split pack) is an edge from the pack's *holder* -- the buyer of the sale before
it, for a pack's first return its first buyer -- to the institution where the code reappeared.
A pack settled again to the same person is left out of the network (the rules still flag it).

**Collectors** are holders whose packs keep reappearing: at least ``min_collector_packs``,
``min_collector_share`` of all the packs they bought, and a Poisson surprise of at least
``min_collector_z`` against the city's share of packs that reappear at all (the base rate).
**Outlets** are institutions where the packs of at least ``min_outlet_sources`` holders
reappear, ``min_outlet_packs`` packs in all, surprising (``min_outlet_z``) against their own
scanning volume at the rate of their peers -- the median share of reappearing packs at
institutions of the same kind, weighted by the packs they scanned (the rate of the median pack), never
below ``base_rate_floor``: a hospital that scans a
million packs is expected to show more data errors than a village clinic.

**Rings** are the connected components of the collector → outlet edges with at least
``min_edge_packs`` packs. A ring's members are its collectors (the credentials whose packs
were collected, borrowed ones included), its outlets, the outlets' own dispensing staff
(physicians practising at the outlet who settled at least ``min_staff_share`` of the returned
packs its own staff settled), and the prescribers who knowingly feed the collectors: at least ``min_feeder_share``
of the ring's packs, to at least ``min_feeder_collectors`` of its collectors, and at least
``min_feeder_item_share`` of all the packs of those drugs they prescribed came back (a busy
hospital doctor whom collectors visit in turn prescribes the drug to many genuine patients
too). Customers who bought the resold packs are victims: they stay in the evidence. An
outlet in no ring -- the packs of several buyers came back there but none of them is a
collector: codes swiped again (空刷), or a recycler buying from many -- is a group of its own
with its staff (``lone_outlets``).

Amount at risk: each returned pack's share of its settlement line (the line's amount over the
codes scanned on it), every pack counted once, so a ring never claims more than was billed.
The evidence carries the counts behind every member and a bounded sample (``max_chains``) of
code chains: each code's settlements in order, with line, visit, person, institution, time and
class -- what the ring explorer draws and the evidence package lists (the full list is in
Neo4j: ``(:Pack)-[:DISPENSED_IN]->(:ClaimLine)``, ``cypher/traces/lead_packs.cypher``).

Doctor shopping meets resale: collectors are often doctor shoppers. Fusion folds a
``doctor_shopping`` group whose members sit inside a ``drug_resale`` lead into that lead
(``fusion.fold_schemes``), so a shopper whose packs reappear is one lead with both detectors'
evidence, not two.

References: National Healthcare Security Administration, 关于开展药品追溯码数据采集应用工作的通知
(2024) and the 2025 campaign against resold drugs (倒卖回流药); F. J. Anscombe (1948) for the
square-root (variance-stabilised) Poisson surprise.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ringscope.graph.traces import trace_steps, trace_volumes
from ringscope.models.base import BaseDetector, Context, Group
from ringscope.models.detectors._util import finalize, poisson_sf_z, squash, typed

__all__ = ["DrugResaleDetector", "resale_hops", "weighted_median"]


def weighted_median(x: np.ndarray, w: np.ndarray) -> float:
    """The value below which half of the total weight lies (0.0 when there is no weight).

    >>> weighted_median(np.array([0.0, 0.0, 0.0, 0.003]), np.array([10, 10, 10, 1000]))
    0.003
    >>> weighted_median(np.array([1.0, 2.0, 3.0]), np.array([1, 1, 1]))
    2.0
    """
    keep = np.asarray(w, float) > 0
    x, w = np.asarray(x, float)[keep], np.asarray(w, float)[keep]
    if not len(x):
        return 0.0
    o = np.argsort(x, kind="stable")
    c = np.cumsum(w[o])
    return float(x[o][np.searchsorted(c, 0.5 * c[-1])])


def resale_hops(steps: pd.DataFrame) -> pd.DataFrame:
    """The edges of the flow graph: ``repeat`` steps between two different persons.

    >>> s = pd.DataFrame({"status": ["first", "repeat", "repeat"], "person_id": ["a", "b", "a"],
    ...                   "h_person": [None, "a", "a"]})
    >>> resale_hops(s).index.tolist()
    [1]
    """
    r = steps[(steps["status"] == "repeat") & steps["h_person"].notna()]
    return r[r["person_id"] != r["h_person"]]


class DrugResaleDetector(BaseDetector):
    """Find resale rings: collectors whose packs reappear at outlets, the outlets' staff and
    the prescribers who feed the collectors.

    Parameters
    ----------
    scanner_minutes, split_tolerance : how a pack's path is classified (as rule R-MGT-016).
    min_collector_packs, min_collector_share, min_collector_z : a collector's returned packs,
        their share of the packs the person bought, and their surprise against the base rate.
    min_outlet_packs, min_outlet_sources, min_outlet_z : an outlet's returned packs, the holders
        they came from, and their surprise against its scanning volume at its peers' rate.
    base_rate_floor : the least share of packs expected to reappear anywhere (data errors).
    min_edge_packs : packs a collector → outlet edge needs to tie them into one ring.
    min_staff_share : share of an outlet's returned packs, among those its own staff settled, one of them settled.
    min_feeder_share, min_feeder_collectors, min_feeder_item_share : a knowing prescriber.
    max_chains : code chains kept in a group's evidence.
    lone_outlets : an outlet in no ring (several buyers' packs came back there, none a collector's) is a
        group of its own with its staff.
    min_score : rings below are dropped.
    """

    name = "drug_resale"
    scheme = "drug_resale"
    kind = "graph"
    needs = ("visits", "claim_lines", "drug_traces")

    scanner_minutes: float
    split_tolerance: float
    min_collector_packs: int
    min_collector_share: float
    min_collector_z: float
    min_outlet_packs: int
    min_outlet_sources: int
    min_outlet_z: float
    base_rate_floor: float
    min_edge_packs: int
    min_staff_share: float
    min_feeder_share: float
    min_feeder_collectors: int
    min_feeder_item_share: float
    max_chains: int
    lone_outlets: bool
    min_score: float

    def fit(self, ctx: Context, y: pd.DataFrame | None = None) -> DrugResaleDetector:
        p = self.params
        steps = trace_steps(ctx, p["scanner_minutes"], p["split_tolerance"])
        hops = resale_hops(steps)
        self.hops_ = hops
        if hops.empty:
            self.collectors_ = self.outlets_ = pd.DataFrame()
            return finalize(self, [])
        vol = trace_volumes(ctx, persons=hops["h_person"].unique(),
                            physicians=hops["h_prescriber"].dropna().unique(), items=hops["item_code"].unique())
        inst_vol = vol[vol["entity_type"] == "institution"].set_index("entity_id")["packs"]
        person_vol = vol[vol["entity_type"] == "person"].set_index("entity_id")["packs"]
        presc_vol = vol[vol["entity_type"] == "physician"].set_index("entity_id")["item_packs"]
        total_packs = float(inst_vol.sum())
        n_repeat = float((steps["status"] == "repeat").sum())
        base = max(n_repeat / total_packs if total_packs else 0.0, p["base_rate_floor"])

        # collectors: holders whose packs keep reappearing
        c = hops.groupby("h_person").agg(packs=("trace_code", "size"), outlets=("institution_id", "nunique"),
                                         amount=("pack_amount", "sum")).rename_axis("person_id")
        c["bought"] = person_vol.reindex(c.index).fillna(0).to_numpy()
        c["share"] = c["packs"] / c["bought"].clip(lower=1)
        c["z"] = poisson_sf_z(c["packs"].to_numpy(), c["bought"].to_numpy() * base)
        c["ok"] = (c["packs"] >= p["min_collector_packs"]) & (c["share"] >= p["min_collector_share"]) & \
            (c["z"] >= p["min_collector_z"])
        self.collectors_ = c.reset_index()

        # outlets: institutions where many holders' packs reappear, against their own volume and peers
        o = hops.groupby("institution_id").agg(packs=("trace_code", "size"), sources=("h_person", "nunique"),
                                               amount=("pack_amount", "sum"))
        inst = ctx.table("institutions")
        kind = (inst.set_index("institution_id")["kind"] if "kind" in inst.columns and len(inst)
                else pd.Series(dtype=object))
        rates = pd.DataFrame({"scanned": inst_vol})
        reps = steps[steps["status"] == "repeat"].groupby("institution_id").size()
        rates["repeats"] = reps.reindex(rates.index).fillna(0).to_numpy()
        rates["rate"] = rates["repeats"] / rates["scanned"].clip(lower=1)
        rates["kind"] = kind.reindex(rates.index).fillna("?").to_numpy()
        # the peers' rate: the median pack's, not the median institution's -- weighted by packs scanned, so
        # that the many small places that scanned too few packs to show any repeat do not pull a kind's
        # rate to zero (a city's big hospitals then all looked surprising at their own ordinary error rate)
        peer = rates.groupby("kind")[["rate", "scanned"]].apply(
            lambda d: weighted_median(d["rate"].to_numpy(float), d["scanned"].to_numpy(float)))
        o["scanned"] = inst_vol.reindex(o.index).fillna(0).to_numpy()
        o["kind"] = kind.reindex(o.index).fillna("?").to_numpy()
        o["peer_rate"] = np.maximum(peer.reindex(o["kind"]).fillna(0).to_numpy(), p["base_rate_floor"])
        o["expected"] = o["scanned"] * o["peer_rate"]
        o["rate"] = o["packs"] / o["scanned"].clip(lower=1)
        o["z"] = poisson_sf_z(o["packs"].to_numpy(), o["expected"].to_numpy())
        o["ok"] = (o["packs"] >= p["min_outlet_packs"]) & (o["sources"] >= p["min_outlet_sources"]) & \
            (o["z"] >= p["min_outlet_z"])
        self.outlets_ = o.rename_axis("institution_id").reset_index()

        # rings: components of the collector -> outlet edges
        good_c = set(c.index[c["ok"]])
        good_o = set(o.index[o["ok"]])
        e = hops[hops["h_person"].isin(good_c)].groupby(["h_person", "institution_id"]).size().rename("packs")
        e = e[e >= p["min_edge_packs"]].reset_index()
        groups: list[Group] = []
        if len(e):
            groups = self._rings(ctx, e, hops, steps, c, o, good_o, presc_vol, p)
        if p["lone_outlets"]:
            groups += self._lone_outlets(ctx, hops, steps, o, good_o, groups, p)
        # a weak score for every holder and outlet with returned packs outside any ring
        extra = pd.concat([
            pd.DataFrame({"entity_type": "person", "entity_id": c.index,
                          "score": (0.5 * (1 - np.exp(-c["packs"] / 4.0)) * c["ok"].map({True: 1.0, False: 0.6})).to_numpy()}),
            pd.DataFrame({"entity_type": "institution", "entity_id": o.index,
                          "score": (0.5 * (1 - np.exp(-o["packs"] / 8.0)) * o["ok"].map({True: 1.0, False: 0.6})).to_numpy()}),
        ], ignore_index=True)
        return finalize(self, groups, extra_scores=extra)

    # ------------------------------------------------------------------ rings
    def _rings(self, ctx: Context, e: pd.DataFrame, hops: pd.DataFrame, steps: pd.DataFrame, c: pd.DataFrame,
               o: pd.DataFrame, good_o: set, presc_vol: pd.Series, p: dict[str, Any]) -> list[Group]:
        """Components of the collector -> outlet edges, each with its members and evidence; every
        aggregate is computed for all rings at once (a city has hundreds of rings)."""
        persons = pd.Index(e["h_person"].unique())
        insts = pd.Index(e["institution_id"].unique())
        n_p = len(persons)
        rows = persons.get_indexer(e["h_person"])
        cols = insts.get_indexer(e["institution_id"]) + n_p
        A = sp.coo_matrix((np.ones(len(e)), (rows, cols)), shape=(n_p + len(insts),) * 2)
        _, comp = sp.csgraph.connected_components(A, directed=False)
        ring_of_p = pd.Series(comp[:n_p], index=persons)
        ring_of_i = pd.Series(comp[n_p:], index=insts)
        # a ring's outlets: its institutions that pass as outlets; its collectors: those with an edge to one
        er = e[e["institution_id"].isin(good_o)]
        ring_out = set(zip(ring_of_i.reindex(er["institution_id"]).to_numpy(), er["institution_id"]))
        ring_col = set(zip(ring_of_p.reindex(er["h_person"]).to_numpy(), er["h_person"]))
        h = hops[hops["h_person"].isin(ring_of_p.index) & hops["institution_id"].isin(good_o)]
        rp = ring_of_p.reindex(h["h_person"]).to_numpy()
        ri = ring_of_i.reindex(h["institution_id"]).to_numpy()
        keep = (rp == ri) & np.fromiter(((a, b) in ring_col for a, b in zip(rp, h["h_person"])), bool, len(h)) & \
            np.fromiter(((a, b) in ring_out for a, b in zip(ri, h["institution_id"])), bool, len(h))
        h = h[keep].assign(ring=rp[keep])
        if h.empty:
            return []
        ph = ctx.table("physicians")
        practises = (ph.drop_duplicates("physician_id", keep="last").set_index("physician_id")["institution_id"]
                     if len(ph) and "institution_id" in ph.columns else pd.Series(dtype=object))
        g = h.groupby("ring")
        rs = pd.DataFrame({"n_packs": g.size(), "amount": g["pack_amount"].sum(), "n_codes": g["trace_code"].nunique(),
                           "customers": g["person_id"].nunique(), "first": g["ts"].min(), "last": g["ts"].max()})
        outlets = h.groupby("ring")["institution_id"].unique().map(sorted)
        collectors = h.groupby("ring")["h_person"].unique().map(sorted)
        # the outlets' own staff who settled the returned packs
        st = h[h["visit_physician"].notna()]
        st = st[st["visit_physician"].map(practises).to_numpy() == st["institution_id"].to_numpy()]
        sc = st.groupby(["ring", "institution_id", "visit_physician"]).size()
        sc = sc / sc.groupby(level=["ring", "institution_id"]).transform("sum")
        staff = sc[sc >= p["min_staff_share"]].reset_index().groupby("ring")["visit_physician"].agg(
            lambda x: sorted(set(x)))
        # prescribers who knowingly feed the collectors
        pf = h[h["h_prescriber"].notna()].groupby(["ring", "h_prescriber"]).agg(
            packs=("trace_code", "size"), collectors=("h_person", "nunique")).reset_index()
        pf["ring_share"] = pf["packs"] / rs["n_packs"].reindex(pf["ring"]).to_numpy()
        pf["item_packs"] = presc_vol.reindex(pf["h_prescriber"]).fillna(0).to_numpy()
        pf["item_share"] = pf["packs"] / pf["item_packs"].clip(lower=1)
        at_outlet = np.fromiter(((r, i) in ring_out for r, i in zip(pf["ring"], pf["h_prescriber"].map(practises))),
                                bool, len(pf))
        pf["feeds_knowingly"] = ((pf["ring_share"] >= p["min_feeder_share"])
                                 & (pf["collectors"] >= p["min_feeder_collectors"])
                                 & (pf["item_share"] >= p["min_feeder_item_share"]) & ~at_outlet)
        pf = pf.sort_values(["ring", "packs", "h_prescriber"], ascending=[True, False, True])
        pf_ev = {r: d.head(20).drop(columns="ring").rename(columns={"h_prescriber": "physician_id"})
                 .round({"ring_share": 3, "item_share": 3}).to_dict("records") for r, d in pf.groupby("ring")}
        feeders = pf[pf["feeds_knowingly"]].groupby("ring")["h_prescriber"].agg(lambda x: sorted(set(x)))
        items = h.groupby(["ring", "item_code"]).size()
        items_ev: dict[Any, dict[str, int]] = {}
        for (r, it), n in items.items():
            items_ev.setdefault(r, {})[str(it)] = int(n)
        cm = c.loc[c.index.isin(set(h["h_person"]))]
        c_ev = cm.assign(share=cm["share"].round(3), z=cm["z"].round(2))[["packs", "bought", "share", "outlets", "z"]]
        c_ev = {i: {"person_id": i, **{k: (int(v) if k in ("packs", "bought", "outlets") else float(v))
                                        for k, v in r.items()}} for i, r in c_ev.to_dict("index").items()}
        om = o.loc[o.index.isin(set(h["institution_id"]))]
        o_ev = om.assign(rate=om["rate"].round(5), peer_rate=om["peer_rate"].round(6), z=om["z"].round(2))[
            ["kind", "packs", "sources", "scanned", "rate", "peer_rate", "z"]]
        o_ev = {i: {"institution_id": i, **{k: (v if k == "kind" else int(v) if k in ("packs", "sources", "scanned")
                                                else float(v)) for k, v in r.items()}}
                for i, r in o_ev.to_dict("index").items()}
        chains = _chains(steps, h, int(p["max_chains"]))
        params = self.get_params()
        groups = []
        for r, row in rs.iterrows():      # one iteration per ring: plain Python values only
            outl, coll = outlets[r], collectors[r]
            stf, fed = staff.get(r, []), feeders.get(r, [])
            n_packs, amount = int(row["n_packs"]), float(row["amount"])
            zmax = max(o_ev[i]["z"] for i in outl)
            raw = np.log2(max(n_packs, 1)) + 0.5 * np.log2(len(coll)) + 0.25 * float(np.log1p(zmax))
            score = float(squash(raw, mid=3.5, scale=1.0))
            if score < p["min_score"]:
                continue
            members = typed("person", coll) + typed("institution", outl) + typed("physician", sorted(set(stf) | set(fed)))
            summary = (f"{n_packs} packs bought on {len(coll)} credentials came back and were settled again at "
                       f"{len(outl)} outlet(s) {', '.join(outl)} (CNY {amount:,.0f})"
                       + (f"; staff {', '.join(stf)}" if stf else "")
                       + (f"; fed by prescriber(s) {', '.join(fed)}" if fed else "")
                       + ". Start with the outlets' stock books and the returned codes.")
            groups.append(Group(self.name, self.scheme, members, score, round(amount, 2), summary, {
                "n_packs": n_packs, "n_codes": int(row["n_codes"]), "n_customers": int(row["customers"]),
                "items": items_ev.get(r, {}), "first": str(row["first"]), "last": str(row["last"]),
                "collectors": [c_ev[i] for i in coll], "outlets": [o_ev[i] for i in outl], "staff": stf,
                "prescribers": pf_ev.get(r, []), "chains": chains.get(r, []), "params": params}))
        return groups


    def _lone_outlets(self, ctx: Context, hops: pd.DataFrame, steps: pd.DataFrame, o: pd.DataFrame, good_o: set,
                      rings: list[Group], p: dict[str, Any]) -> list[Group]:
        """Outlets in no ring: the packs of several buyers came back there, none of them a
        collector -- codes swiped again (空刷) or a recycler buying from many. The outlet and
        its staff who settled the returned packs."""
        in_ring = {m.partition(":")[2] for g in rings for m in g.members if m.startswith("institution:")}
        lone = sorted(good_o - in_ring)
        if not lone:
            return []
        ph = ctx.table("physicians")
        practises = (ph.drop_duplicates("physician_id", keep="last").set_index("physician_id")["institution_id"]
                     if len(ph) and "institution_id" in ph.columns else pd.Series(dtype=object))
        h = hops[hops["institution_id"].isin(lone)].assign(ring=lambda d: d["institution_id"])
        chains = _chains(steps, h, int(p["max_chains"]))
        out = []
        for inst, hi in h.groupby("institution_id"):
            r = o.loc[inst]
            d = hi["visit_physician"].dropna()
            d = d[d.map(practises).eq(inst)]
            share = d.value_counts() / max(len(d), 1)
            staff = sorted(share.index[share >= p["min_staff_share"]])
            n_packs, amount = int(len(hi)), float(hi["pack_amount"].sum())
            raw = np.log2(max(n_packs, 1)) + 0.5 * np.log2(max(int(r["sources"]), 1)) + 0.25 * float(np.log1p(r["z"]))
            score = float(squash(raw, mid=4.5, scale=1.0))
            if score < p["min_score"]:
                continue
            out.append(Group(self.name, self.scheme, typed("institution", [inst]) + typed("physician", staff), score,
                             round(amount, 2),
                             f"{n_packs} packs of {int(r['sources'])} different buyers came back and were settled again at "
                             f"{inst} ({int(r['scanned'])} packs scanned there, {r['rate']:.2%} came back against "
                             f"{r['peer_rate']:.2%} at its peers; CNY {amount:,.0f}), none of the buyers a collector: "
                             "codes swiped again (空刷) or bought back from many. Start with its stock book.",
                             {"n_packs": n_packs, "n_codes": int(hi["trace_code"].nunique()),
                              "outlets": [{"institution_id": inst, "kind": r["kind"], "packs": int(r["packs"]),
                                           "sources": int(r["sources"]), "scanned": int(r["scanned"]),
                                           "rate": round(float(r["rate"]), 5), "peer_rate": round(float(r["peer_rate"]), 6),
                                           "z": round(float(r["z"]), 2)}],
                              "staff": staff, "chains": chains.get(inst, []), "params": self.get_params()}))
        return out


def _chains(steps: pd.DataFrame, h: pd.DataFrame, k: int) -> dict[Any, list[dict[str, Any]]]:
    """Per ring, up to ``k`` code chains (the costliest returned packs first): each code's
    settlements in order."""
    if k <= 0 or h.empty:
        return {}
    top = (h.sort_values(["ring", "pack_amount", "trace_code"], ascending=[True, False, True])
           .drop_duplicates(["ring", "trace_code"]).groupby("ring").head(k))
    s = steps[steps["trace_code"].isin(set(top["trace_code"]))].sort_values(["trace_code", "seq"])
    rec = pd.DataFrame({"trace_code": s["trace_code"], "item_code": s["item_code"], "seq": s["seq"].astype(int),
                        "time": s["ts"].astype(str), "status": s["status"], "line_id": s["line_id"],
                        "visit_id": s["visit_id"], "person_id": s["person_id"], "institution_id": s["institution_id"],
                        "physician_id": s["visit_physician"], "amount": s["pack_amount"].astype(float).round(2)})
    by: dict[str, list[dict[str, Any]]] = {}
    for r in rec.to_dict("records"):
        by.setdefault(r.pop("trace_code"), []).append(r)
    out: dict[Any, list[dict[str, Any]]] = {}
    for ring, code in zip(top["ring"], top["trace_code"]):
        st = by.get(code)
        if st:
            out.setdefault(ring, []).append({"trace_code": code, "item_code": st[-1]["item_code"],
                                             "steps": [{a: b for a, b in x.items() if a != "item_code"} for x in st]})
    return out
