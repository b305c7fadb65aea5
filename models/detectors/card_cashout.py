"""Card cash-out (聚敛盗刷/套现): a pharmacy hoarding credentials and swiping them in batches.

Signature, each measured as a rate and compared with peers of the same
institution kind (robust z-scores), never as an absolute count:

- **batches**: bursts of settlements at one terminal (consecutive sales at most
  ``burst_gap`` apart) carrying ``min_batch`` or more distinct credentials;
  the share of the institution's sales that fall in such batches. The pace of
  a batch is the operator's, not a constant: the scan runs at every gap of
  ``burst_gaps`` (minutes to half an hour) and keeps, per institution, the
  scale at which it stands out most from its peers at that same scale -- the
  longer the gap, the more ordinary rushes (market days, opening hours) a
  "batch" takes in, so its evidence is weighed down beyond 10 minutes (0.58 at 30);
- **repeat credentials**: the same credentials reappear batch after batch
  (hoarded cards), which ordinary walk-in rushes do not show; at a pace where
  most peers show none, their number is the evidence whatever the size of the
  place, else their share of the place's customers;
- **off-hours**: share of sales between ``night_start`` and ``night_end``;
- **no face**: where the institution has a face terminal, the share of batch
  sales without a settlement capture or with a capture that is not the
  credential holder (``mismatch``);
- **inventory**: units sold beyond units purchased plus opening stock
  (进销存不符), when an ``inventory`` table exists.

A group is the institution plus the hoarded credentials: those swiped
together with the same other credentials in at least ``min_person_batches``
batches (lockstep), which walk-in customers of a busy pharmacy never are.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ringscope.graph.algorithms import burst_sessions, robust_z
from ringscope.models.detectors._util import finalize, squash, typed
from ringscope.graph.projection import visit_frame
from ringscope.models.base import BaseDetector, Context, Group

__all__ = ["CardCashoutDetector", "inventory_excess", "SHARE_SCALE", "HOARD_LOG_SCALE"]

#: smallest spread of a share among peers (2 percentage points) for its robust z
SHARE_SCALE = 0.02
#: smallest spread of log(1 + lockstep credentials) among peers: 10 cards where peers have none is z 4.8
HOARD_LOG_SCALE = 0.5


def inventory_excess(ctx: Context) -> pd.Series:
    """Per institution: share of units sold (claim lines) not covered by
    purchases plus opening stock, summed over item-months; empty without inventory."""
    if not ctx.has("inventory") or not ctx.has("claim_lines"):
        return pd.Series(dtype=float)
    inv = ctx.table("inventory")
    # units sold per institution, item and month, summed in the columnar engine
    # (graph/sql/cashout_sold.sql): a city's claim lines never come into memory
    sold = ctx.columnar.query("cashout_sold").astype({"sold": float}).set_index(
        ["institution_id", "item_code", "period"])["sold"].sort_index()
    inv = inv.copy()
    inv["avail"] = inv["qty_purchased"].astype(float) + inv.get("qty_opening", pd.Series(0.0, index=inv.index)) \
        .astype(float).fillna(0.0)
    av = inv.groupby(["institution_id", "item_code", "period"])["avail"].sum()
    j = pd.concat([sold, av], axis=1).fillna({"avail": 0.0}).dropna(subset=["sold"])
    # only item-months the institution reports stock for (otherwise unknown)
    stocked = inv.groupby(["institution_id", "item_code"]).size()
    j = j[j.index.droplevel("period").isin(stocked.index)]
    if j.empty:
        return pd.Series(dtype=float)
    j["excess"] = (j["sold"] - j["avail"]).clip(lower=0)
    g = j.groupby(level="institution_id")[["excess", "sold"]].sum()
    return (g["excess"] / g["sold"].where(g["sold"] > 0)).fillna(0.0)


class CardCashoutDetector(BaseDetector):
    """Find institutions swiping hoarded credentials in batches.

    Parameters
    ----------
    burst_gaps : the longest pauses between consecutive sales of one batch that are scanned.
    min_batch : distinct credentials that make a burst a batch.
    min_person_batches : batches a credential must appear in to be counted as hoarded.
    night_start, night_end : off-hours (hours of the day).
    min_score : groups below this score are dropped.
    kinds : institution kinds examined (None = every kind with pharmacy sales).
    """

    name = "card_cashout"
    scheme = "card_cashout"
    kind = "graph"
    needs = ("visits",)

    burst_gaps: tuple[str, ...]
    min_batch: int
    min_person_batches: int
    night_start: int
    night_end: int
    min_score: float
    kinds: tuple[str, ...] | None

    def _sales(self, ctx: Context) -> pd.DataFrame:
        v = visit_frame(ctx)
        kinds = self.params["kinds"]
        sales = v[v["visit_type"] == "pharmacy"] if kinds is None else v[v["inst_kind"].isin(kinds)]
        return sales.copy()

    def _capture_flags(self, ctx: Context, sales: pd.DataFrame) -> pd.Series:
        """Per sale: True when a face terminal exists and the holder's face is not on it."""
        fm = ctx.face_matches
        if fm is not None and len(fm) and "visit_id" in fm.columns:
            c = fm[fm["location"] == "settlement"] if "location" in fm.columns else fm
            ok = c[c["verdict"].isin(["match", "related"])]["visit_id"].dropna().unique()
        elif ctx.has("face_captures"):
            # unverified: a capture at least exists (its visit only, never the encodings)
            ok = ctx.rows("face_captures", ["visit_id"], prefilter="visit_id IS NOT NULL")["visit_id"].dropna().unique()
        else:
            return pd.Series(False, index=sales.index)
        return sales["has_face_terminal"] & ~sales["visit_id"].isin(ok)

    def _lockstep(self, bs: pd.DataFrame) -> pd.DataFrame:
        """``institution_id, person_id, n_batches, n_partners`` of credentials that
        share at least ``min_person_batches`` batches with at least two others."""
        p = self.params
        cols = ["institution_id", "person_id", "n_batches", "n_partners"]
        u = bs[["institution_id", "burst", "person_id"]].drop_duplicates()
        if u.empty:
            return pd.DataFrame(columns=cols)
        m = u.merge(u, on=["institution_id", "burst"])
        m = m[m["person_id_x"] < m["person_id_y"]]
        pc = m.groupby(["institution_id", "person_id_x", "person_id_y"]).size().rename("n").reset_index()
        pc = pc[pc["n"] >= p["min_person_batches"]]
        both = pd.concat([pc.rename(columns={"person_id_x": "person_id"})[["institution_id", "person_id"]],
                          pc.rename(columns={"person_id_y": "person_id"})[["institution_id", "person_id"]]])
        deg = both.groupby(["institution_id", "person_id"]).size().rename("n_partners").reset_index()
        deg = deg[deg["n_partners"] >= 2]
        nb = u.groupby(["institution_id", "person_id"])["burst"].nunique().rename("n_batches").reset_index()
        return deg.merge(nb, on=["institution_id", "person_id"])[cols]

    def _scale(self, s: pd.DataFrame, gap: str, inv: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """Per-institution statistics of batches at one gap scale."""
        p = self.params
        s = s.assign(burst=burst_sessions(s["terminal_key"].to_numpy(), s["start_time"].to_numpy(), gap))
        bsize = s.groupby("burst")["person_id"].transform("nunique")
        s["in_batch"] = bsize >= p["min_batch"]
        # hoarded credentials: swiped together batch after batch (lockstep, CopyCatch-style):
        # a pair of credentials sharing >= min_person_batches batches of one institution
        bs = s[s["in_batch"]]
        hoarded = self._lockstep(bs)
        inst = s.groupby("institution_id").agg(
            n=("visit_id", "size"), batch_share=("in_batch", "mean"), night_share=("night", "mean"),
            kind=("inst_kind", "first"), terminal=("has_face_terminal", "first"))
        inst["noface_batch"] = bs.groupby("institution_id")["no_face"].mean().reindex(inst.index).fillna(0.0)
        inst["n_hoarded"] = hoarded.groupby("institution_id").size().reindex(inst.index).fillna(0).astype(int)
        n_pers = s.groupby("institution_id")["person_id"].nunique()
        inst["hoard_share"] = inst["n_hoarded"] / n_pers.reindex(inst.index)
        inst["inventory_excess"] = inv.reindex(inst.index).fillna(0.0)
        kinds = inst["kind"].to_numpy()
        # shrink small institutions' rates towards their peers (20 pseudo-sales)
        # (a share's spread among peers is floored at SHARE_SCALE: when most peers have none, a 2 %
        # night share is not several sigma)
        for col in ("batch_share", "night_share", "hoard_share"):
            med = inst.groupby("kind")[col].transform("median")
            inst[col + "_z"] = robust_z(((inst[col] * inst["n"] + med * 20) / (inst["n"] + 20)).to_numpy(), kinds,
                                        min_scale=SHARE_SCALE)
        inst["inv_z"] = robust_z(inst["inventory_excess"].to_numpy(), kinds)
        # hoarding: where most peers show no lockstep credentials at this pace (minutes apart, ordinary
        # customers never come back together batch after batch), the count is the evidence, whatever the
        # size of the place -- as a share of its customers a 20-card ring vanishes in a pharmacy of 8,000
        # (a 1M city's rings scored 0.1-0.5); where ordinary rushes already give most peers some (half an
        # hour apart), chance lockstep grows with volume and the count is weighed as a share of customers
        quiet = inst.groupby("kind")["n_hoarded"].transform("median").to_numpy() == 0
        count_z = robust_z(np.log1p(inst["n_hoarded"].to_numpy(float)), kinds, min_scale=HOARD_LOG_SCALE)
        inst["hoard_z"] = np.where(quiet, count_z, inst["hoard_share_z"].to_numpy())
        z = (inst[["batch_share_z", "hoard_z"]].clip(0, 20).sum(axis=1)
             + 0.5 * inst["night_share_z"].clip(0, 10)
             + 0.5 * inst["inv_z"].clip(0, 10)
             + 2.0 * inst["noface_batch"] * inst["terminal"].astype(float))
        # the longer the pause a "batch" allows, the more ordinary rushes (market days, opening hours)
        # it takes in: evidence weighs 1 up to 10 minutes (a slow operator), 0.58 at 30 minutes
        w = 1.0 / (1.0 + 1.5 * max(np.log10(pd.Timedelta(gap) / pd.Timedelta("10min")), 0.0))
        inst["raw"] = np.where(inst["n_hoarded"] >= p["min_batch"], w * z, 0.0)
        inst["gap"] = gap
        return inst, bs, hoarded

    def fit(self, ctx: Context, y: pd.DataFrame | None = None) -> CardCashoutDetector:
        p = self.params
        s = self._sales(ctx)
        if s.empty:
            return finalize(self, [])
        h = s["start_time"].dt.hour
        s["night"] = (h >= p["night_start"]) | (h < p["night_end"])
        s["no_face"] = self._capture_flags(ctx, s)
        inv = inventory_excess(ctx)
        scales = {gap: self._scale(s, gap, inv) for gap in p["burst_gaps"]}
        # per institution, the scale at which it stands out most (ties: the shortest gap)
        raw = pd.concat({g: sc[0]["raw"] for g, sc in scales.items()}, axis=1)
        best_gap = raw.idxmax(axis=1)
        inst = pd.concat([scales[g][0].loc[[i]] for i, g in best_gap.items()]) if len(best_gap) else \
            next(iter(scales.values()))[0]
        inst["score"] = squash(inst["raw"], mid=6.0, scale=2.0)
        groups = []
        for iid, r in inst[inst["score"] >= p["min_score"]].iterrows():
            _, bs, hoarded = scales[r["gap"]]
            persons = sorted(hoarded.loc[hoarded["institution_id"] == iid, "person_id"])
            sv = bs[(bs["institution_id"] == iid) & bs["person_id"].isin(persons)]
            amount = float(sv["amount"].sum())
            groups.append(Group(
                self.name, self.scheme, typed("institution", [iid]) + typed("person", persons),
                float(r["score"]), amount,
                f"{iid} settled {len(persons)} credentials repeatedly in batches ({r['batch_share']:.0%} of its "
                f"sales in bursts of >= {p['min_batch']} cards, at most {r['gap']} apart, "
                f"{r['night_share']:.0%} off-hours"
                + (f", {r['noface_batch']:.0%} of batch sales without the holder's face" if r["terminal"] else "")
                + (f", {r['inventory_excess']:.0%} of units sold beyond stock" if r["inventory_excess"] > 0 else "")
                + "). Audit the terminal log and the credential holders.",
                {"institution": iid, "burst_gap": r["gap"], "batch_share": round(float(r["batch_share"]), 4),
                 "night_share": round(float(r["night_share"]), 4),
                 "noface_batch_share": round(float(r["noface_batch"]), 4),
                 "inventory_excess": round(float(r["inventory_excess"]), 4),
                 "z": {k: round(float(r[k]), 2) for k in ("batch_share_z", "hoard_share_z", "hoard_z", "night_share_z", "inv_z")},
                 "batches": sv.groupby("burst")["visit_id"].apply(list).head(50).tolist(),
                 "params": self.get_params()}))
        extra = pd.DataFrame({"entity_type": "institution", "entity_id": inst.index,
                              "score": inst["score"].to_numpy() * (inst["raw"].to_numpy() > 0)})
        self.institution_stats_ = inst
        return finalize(self, groups, extra)
