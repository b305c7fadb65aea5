"""Collusive prescribing (医患合谋/串换药品): physician--patient--pharmacy structures.

No template of a ring is coded. The prescribing graph is built from drug
claim lines: physician -- patient (prescribed), patient -- dispensing
institution and physician -- dispensing institution (external prescriptions
filled elsewhere), edge weights ``log1p(amount)``. Then:

1. **Leiden** communities of that graph (Traag et al. 2019) propose candidate
   structures;
2. inside each community **FRAUDAR** (Hooi et al. 2016) peels down to the
   densest patient x (physician, dispenser) block, with column weights
   ``1/log(global degree + 5)`` from the whole city, so a famous physician or a
   busy pharmacy is cheap camouflage rather than evidence; the block's patients
   are then removed and the peeling repeated (``max_blocks`` blocks per
   community, one more per ``persons_per_block`` of its patients), because one community can hold a hospital's ordinary
   prescribing *and* a ring hidden in it;
3. a block is a union of physician--dispenser channels; each channel of the
   block with the highest lifts (at most ``max_pairs``) is scored on its own,
   with all the patients it serves, and the block keeps the best-scoring
   structure (the whole block or one channel), so a ring inside a busy
   hospital's cluster is not averaged away by its colleagues;
4. the structure is scored by rates, each against a baseline:
   - *pair lift*: the share of the core physicians' external prescriptions
     filled at the core dispensers, divided by the share of their colleagues
     (same institution) and of the city -- a pharmacy next door to a hospital
     is popular with all its physicians, a colluding one with a few;
   - *capture*: the share of the core patients' drug spending that stays
     inside the structure;
   - *drug concentration*: the top drug group's share of the core's amount, and
     its *drug lift*: that share against the drug's share of all external
     prescriptions' amount in the city (a ring moves one high-value drug; a
     chronic clinic's everyday drugs are everyone's);
   - *synchrony*: fills at the core dispensers bunched on the same days beyond
     what the same number of fills spread over the same span would give
     (chronic patients' monthly refills are regular per person, not in step
     across persons);
   - *price level*: the core's amount per line against the city's median for
     the same drug groups.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ringscope.graph.algorithms import fraudar, leiden_communities
from ringscope.models.detectors._util import finalize, squash, typed
from ringscope.graph.projection import drug_group
from ringscope.models.base import BaseDetector, Context, Group

__all__ = ["CollusivePrescribingDetector", "drug_items"]


def drug_items(catalog: pd.DataFrame) -> pd.DataFrame:
    """``item_code, grp``: the catalogue's drugs with their group (molecule)."""
    if catalog.empty or "item_type" not in catalog.columns:
        return pd.DataFrame({"item_code": pd.Series(dtype=object), "grp": pd.Series(dtype=object)})
    d = catalog[catalog["item_type"] == "drug"]
    grp = drug_group(catalog)
    return pd.DataFrame({"item_code": d["item_code"].to_numpy(dtype=object),
                         "grp": d["item_code"].map(grp).to_numpy(dtype=object)})


class CollusivePrescribingDetector(BaseDetector):
    """Find physician--patient--pharmacy rings by Leiden + FRAUDAR on the prescribing graph.

    Parameters
    ----------
    resolution : Leiden resolution (higher = smaller communities).
    min_patients : smallest core (patients).
    min_score : cores scoring below are dropped.
    max_blocks : FRAUDAR peels per community, at least ...
    persons_per_block : ... and one more per this many patients of the community (communities grow with
        the city: modularity's resolution limit).
    max_pairs : the strongest physician -> dispenser channels of a block scored on their own.
    max_core_physicians, max_core_dispensers : largest block kept whole (larger ones are judged only by
        their channels).
    seed : Leiden seed.
    """

    name = "collusive_prescribing"
    scheme = "collusive_prescribing"
    kind = "graph"
    needs = ("visits", "claim_lines")

    resolution: float
    min_patients: int
    min_score: float
    max_blocks: int
    persons_per_block: int
    max_pairs: int
    max_core_physicians: int
    max_core_dispensers: int
    seed: int

    def fit(self, ctx: Context, y: pd.DataFrame | None = None) -> CollusivePrescribingDetector:
        """The prescribing graph is aggregated in the columnar engine (``graph/sql/prescribing_*``):
        edges, fills per channel and the city's baselines come out, not the claim lines; the lines of
        the persons in candidate structures are read once, after the structures are found."""
        p = self.params
        eng = ctx.columnar
        items = drug_items(ctx.table("catalog"))
        if items.empty or not eng.has("claim_lines"):
            return finalize(self, [])
        fr = {"items": items}
        e = eng.query("prescribing_edges", frames=fr)
        if e.empty:
            return finalize(self, [])
        e["w"] = np.log1p(e["amount"].clip(lower=0))
        comms = leiden_communities(e[["u", "v"]].to_numpy(dtype=object), e["w"].to_numpy(), resolution=p["resolution"],
                                   seed=p["seed"])
        # global degrees (distinct neighbours) for FRAUDAR's column weights
        deg = pd.concat([e["u"], e["v"]]).value_counts()
        fills = eng.query("prescribing_fills", frames=fr)
        base = eng.query("prescribing_baselines", frames=fr).set_index("grp")
        b = _Baselines(fills, base, ctx.table("persons"))
        # physician -> dispenser channels of external prescriptions, with their patients
        cp = eng.query("prescribing_channel_patients", {"min_patients": int(p["min_patients"])}, frames=fr)
        ch = fills.groupby(["prescriber", "institution_id"])["n"].sum().rename("n").to_frame()
        d_tot = fills.groupby("prescriber")["n"].sum()
        h_share = fills.groupby("institution_id")["n"].sum() / max(float(fills["n"].sum()), 1.0)
        ch["lift"] = (ch["n"] / ch.index.get_level_values(0).map(d_tot).to_numpy()) \
            / ch.index.get_level_values(1).map(h_share).to_numpy()
        pats = pd.Series([list(x) for x in cp["patients"]], index=pd.MultiIndex.from_frame(
            cp[["prescriber", "institution_id"]]), dtype=object)
        ch = ch.join(pats.rename("patients_list"), how="inner")
        ch["patients"] = ch["patients_list"].map(len)
        self._channels = ch[["n", "patients", "lift"]]
        self._channel_patients = ch["patients_list"]
        # structures first (Leiden + FRAUDAR), then the lines of their persons, read once, then scores
        cands = [(k, cand) for k, c in enumerate(comms) for cand in self._candidates(c, e, deg)]
        # and every physician -> dispenser channel on its own, wherever Leiden put it: a city-sized
        # community holds many rings and the peels reach only the densest (a 200,000-person city's
        # twelve ring channels were its top 18 by lift, six of them in no block); scored like the rest
        # (a channel a block already proposed is scored there, against its block, not twice)
        comm_of = {x: k for k, c in enumerate(comms) for x in c}
        proposed = {(cd[0], ch_[0]) for _, (_, cd, ch_, kind, _, _) in cands if kind == "channel"}
        for i, ((d, h), pl) in enumerate(ch["patients_list"].items()):
            k = comm_of.get(f"physician:{d}", comm_of.get(f"institution:{h}"))
            if k is not None and (d, h) not in proposed:
                cands.append((k, (pl, [d], [h], "channel", 0.0, -1 - i)))
        persons = sorted({x for _, (cp_, _, _, _, _, _) in cands for x in cp_})
        b.lines = eng.query("prescribing_person_lines", frames={**fr, "want": pd.DataFrame({"person_id": persons})})
        b.lines["diagnosis_codes"] = [tuple(x) if x is not None else () for x in b.lines["diagnosis_codes"]]
        groups, seen = [], set()
        by_block: dict[tuple[int, Any], Group | None] = {}
        for k, (core_p, core_d, core_h, kind, density, block) in cands:
            g = self._score_structure(core_p, core_d, core_h, b, density, len(comms[k]), kind)
            key = (k, block)
            best = by_block.get(key)
            if g is not None and (best is None or g.score > best.score):
                by_block[key] = g
            else:
                by_block.setdefault(key, None)
        for g in by_block.values():
            if g is None:
                continue
            mk = frozenset(g.members)
            if g.score >= p["min_score"] and mk not in seen:
                seen.add(mk)
                groups.append(g)
        return finalize(self, groups)

    def _candidates(self, c: set, e: pd.DataFrame, deg: pd.Series) -> list[tuple]:
        """The candidate structures of one community, block by block: the whole block while it is
        ring-sized, and its strongest physician -> dispenser channels, each with all its patients.
        ``(patients, physicians, dispensers, kind, density, block)``: ``block`` is the block number, or
        ``(block, j)`` for the channels of a district-sized block (each stands alone)."""
        p = self.params
        persons = [x for x in c if x.startswith("person:")]
        if len(persons) < p["min_patients"] or not any(x.startswith("institution:") for x in c) \
                or not any(x.startswith("physician:") for x in c):
            return []
        sub = e[e["u"].isin(c) & e["v"].isin(c)]
        pe = sub[sub["v"].str.startswith("person:") | sub["u"].str.startswith("person:")]
        row = np.where(pe["u"].str.startswith("person:"), pe["u"], pe["v"])
        col = np.where(pe["u"].str.startswith("person:"), pe["v"], pe["u"])
        r_codes, r_lab = pd.factorize(row)
        c_codes, c_lab = pd.factorize(col)
        A = sp.csr_matrix((pe["w"].to_numpy(), (r_codes, c_codes)), shape=(len(r_lab), len(c_lab)))
        cw = 1.0 / np.log(deg.reindex(c_lab).to_numpy(dtype=float) + 5.0)
        out: list[tuple] = []
        alive = np.ones(len(r_lab), dtype=bool)
        # one peel per ``persons_per_block`` patients of the community, at least ``max_blocks``: Leiden's
        # communities grow with the city (modularity's resolution limit: a 200,000-person city's largest
        # held 23,000 nodes and five rings), and three peels reached only the first of them
        n_blocks = max(int(p["max_blocks"]), int(np.ceil(len(persons) / max(int(p["persons_per_block"]), 1))))
        for block in range(n_blocks):
            if alive.sum() < p["min_patients"]:
                break
            Ab = A.multiply(alive[:, None]).tocsr()
            rows, cols, density = fraudar(Ab, column_weight=cw)
            rows = rows[alive[rows]]
            if len(rows) < p["min_patients"]:
                break
            alive[rows] = False
            core_p = [r[7:] for r in r_lab[rows]]
            core_c = list(c_lab[cols])
            core_d = [x[10:] for x in core_c if x.startswith("physician:")]
            core_h = [x[12:] for x in core_c if x.startswith("institution:")]
            if not core_d or not core_h:
                continue
            # a whole block stands as one structure only while it looks like a ring (a few physicians,
            # one or two dispensers); a district's prescribing is judged by its channels
            small = len(core_d) <= p["max_core_physicians"] and len(core_h) <= p["max_core_dispensers"]
            if small:
                out.append((core_p, core_d, core_h, "block", density, block))
            key = pd.MultiIndex.from_product([core_d, core_h], names=["prescriber", "institution_id"])
            chs = self._channels.reindex(key).dropna(subset=["n"])
            # a ring-sized block and its channels are alternative readings of one structure: the best
            # of them stands. A district-sized block is no structure: each of its channels stands alone
            # (a city's block can hold several rings' channels; keeping one per block lost six of 60
            # rings at a million persons)
            for j, (d, h) in enumerate(chs.sort_values("lift", ascending=False).head(int(p["max_pairs"])).index):
                out.append((self._channel_patients.loc[(d, h)], [d], [h], "channel", density,
                            block if small else (block, j)))
        return out

    def _score_structure(self, core_p: list[str], core_d: list[str], core_h: list[str], b: _Baselines,
                         density: float, community_size: int, kind: str) -> Group | None:
        p = self.params
        if len(core_p) < p["min_patients"]:
            return None
        f = b.features(core_p, core_d, core_h)
        if f is None:
            return None
        raw = (min(np.log2(max(f["lift"], 1.0)), 3.0) + 2.0 * f["capture"] + 2.0 * f["drug_concentration"]
               + 2.5 * min(np.log2(max(f["synchrony"], 1.0)), 3.0)
               + min(max(np.log2(max(f["price_level"], 1e-9)), 0), 2) - 2.5 * f["chronic_share"]
               + 0.25 * min(np.log2(max(f["drug_lift"], 1.0)), 4.0))
        score = float(squash(raw, mid=6.0, scale=1.0))
        members = typed("physician", sorted(core_d)) + typed("institution", sorted(core_h)) + \
            typed("person", sorted(core_p))
        return Group(
            self.name, self.scheme, members, score, f["amount"],
            f"Physician(s) {', '.join(sorted(core_d))} sent {len(core_p)} patients' prescriptions of "
            f"{f['top_drug']} ({f['drug_concentration']:.0%} of the amount) to {', '.join(sorted(core_h))}: "
            f"{f['lift']:.1f}x their colleagues' rate, fills bunched {f['synchrony']:.1f}x on the same days. "
            f"Review the prescriptions and the dispensing records.",
            {"structure": kind, "core_density": round(density, 4), "community_size": community_size,
             **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in f.items()},
             "params": self.get_params()})


class _Baselines:
    """City-wide rates the cores are compared with.

    ``fills``: external prescriptions filled, one per visit, counted per (prescriber, the visit
    physician's institution, dispenser) -- shares are counted in fills, not money, so a ring's
    own large amounts cannot inflate the baseline it is compared with; ``base``: per drug group,
    the median unit price and the amount of external prescriptions; ``lines``: the prescribing
    rows of the persons in candidate structures (set once they are known)."""

    def __init__(self, fills: pd.DataFrame, base: pd.DataFrame, persons: pd.DataFrame):
        self.fills = fills
        self.lines = pd.DataFrame()
        self.unit_median = base["unit_median"]
        ea = base["ext_amount"]
        ea = ea[base["ext_lines"] > 0]
        self.group_share = ea / max(float(ea.sum()), 1e-9)
        self.chronic = persons.set_index("person_id")["chronic_conditions"] \
            if "chronic_conditions" in persons.columns and len(persons) else pd.Series(dtype=object)

    def features(self, persons: list[str], doctors: list[str], dispensers: list[str]) -> dict | None:
        f = self.fills
        is_doc = f["prescriber"].isin(doctors).to_numpy()
        at = f["institution_id"].isin(dispensers).to_numpy()
        n = f["n"].to_numpy(dtype=float)
        n_dx = n[is_doc].sum()
        if n_dx == 0:
            return None
        share = float(n[is_doc & at].sum() / n_dx)
        # baseline: colleagues (other physicians of the same institutions), else the rest of the city
        n_others = n[~is_doc].sum()
        city = float(n[~is_doc & at].sum() / n_others) if n_others else 0.0
        col = ~is_doc & f["phys_institution"].isin(f.loc[is_doc, "phys_institution"].unique()).to_numpy()
        n_col = n[col].sum()
        base = float(n[col & at].sum() / n_col) if n_col >= 20 else city
        base = max(base, city, 0.01)
        lift = share / base
        dl = self.lines
        mine = dl[dl["person_id"].isin(persons)]
        inside = mine[mine["prescriber"].isin(doctors) & mine["institution_id"].isin(dispensers)]
        if inside.empty:
            return None
        capture = float(inside["amount"].sum() / max(mine["amount"].sum(), 1e-9))
        grp = inside.groupby("grp")["amount"].sum().sort_values(ascending=False)
        conc = float(grp.iloc[0] / grp.sum())
        drug_lift = conc / max(float(self.group_share.get(grp.index[0], 0.0)), 1e-3)
        # synchrony of fills (visits) at the core dispensers
        fills = inside.drop_duplicates("visit_id")
        days = fills["start_time"].dt.normalize()
        n = len(fills)
        span = max((days.max() - days.min()).days + 1, 1)
        distinct = days.nunique()
        expected = span * (1 - (1 - 1 / span) ** n)
        sync = float(expected / max(distinct, 1))
        # registered chronic (门慢) patients refilling for their own condition are expected
        cc = fills["person_id"].map(self.chronic)
        dxs = fills["diagnosis_codes"] if "diagnosis_codes" in fills.columns else pd.Series([()] * len(fills))
        chronic_share = float(np.mean([bool(c) and isinstance(c, tuple) and any(
            str(d).startswith(str(x)[:3]) for d in (ds or ()) for x in c) for c, ds in zip(cc, dxs)])) if n else 0.0
        unit = inside["amount"] / inside["quantity"].where(inside["quantity"] > 0)
        price = float((unit / inside["grp"].map(self.unit_median)).median()) if unit.notna().any() else 1.0
        return {"lift": float(lift), "share_to_core": share, "colleague_share": base, "capture": capture,
                "drug_concentration": conc, "drug_lift": float(drug_lift), "top_drug": str(grp.index[0]), "synchrony": sync,
                "price_level": price if np.isfinite(price) else 1.0, "n_fills": int(n), "chronic_share": chronic_share,
                "amount": float(inside["amount"].sum())}
