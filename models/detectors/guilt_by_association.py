"""Guilt by association: personalised PageRank from closed fraud cases.

Seeds are the entities of ``known_cases`` labelled ``fraud`` (restart
weights); entities labelled ``cleared`` are excluded (their edges are cut, so
suspicion does not flow through an investigated-and-cleared hospital). The
walk runs on the person -- physician -- institution graph (visits, weighted by
their count, plus physician -- institution practice links).
PageRank favours hubs, so the score is the PPR mass relative to the node's
share of the graph's weighted degree (a lift): a large hospital near a seed
is not suspicious for being large. Groups are the seeds' neighbourhoods:
Leiden communities of the top-lift entities together with their seeds.

Reference: Jeh & Widom, "Scaling personalized web search", WWW 2003.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ringscope.graph.algorithms import leiden_communities, personalized_pagerank
from ringscope.models.detectors._util import finalize, squash
from ringscope.graph.projection import visit_frame
from ringscope.models.base import BaseDetector, Context, Group
from ringscope.ingest.vocab import SCHEMES

# the schemes a group takes from its seeds' closed cases (any other is "other"): every scheme of the
# contract. A group only corroborates leads of its own scheme (fusion), so the neighbourhood of a
# closed drug-resale case now corroborates drug-resale leads, as a closed card-lending case's does
# card-lending leads; until 2026-12-08 drug_resale (added later than this list) was left out and
# such a group said "other", corroborating nothing (bench/RESULTS.md, issue 16).
_GROUP_SCHEMES = frozenset(SCHEMES) - {"other"}

__all__ = ["GuiltByAssociationDetector"]


class GuiltByAssociationDetector(BaseDetector):
    """Spread suspicion from known fraud over the care graph.

    Parameters
    ----------
    alpha : probability of following an edge (1 - restart probability).
    top_k : entities (besides seeds) kept for the groups.
    min_lift : PPR / degree-share lift an entity needs to be kept.
    """

    name = "guilt_by_association"
    scheme = "other"
    kind = "graph"
    needs = ("known_cases",)
    corroborates = True   # its groups only corroborate other detectors' leads (fusion)

    alpha: float
    top_k: int
    min_lift: float
    min_group: int
    seed: int

    def fit(self, ctx: Context, y: pd.DataFrame | None = None) -> GuiltByAssociationDetector:
        p = self.params
        kc = ctx.table("known_cases") if y is None else y
        if kc.empty:
            return finalize(self, [])
        kc = kc.assign(key=kc["entity_type"] + ":" + kc["entity_id"].astype(str))
        seeds = kc.loc[kc["label"] == "fraud", "key"].unique().tolist()
        cleared = set(kc.loc[kc["label"] == "cleared", "key"]) - set(seeds)
        if not seeds:
            return finalize(self, [])
        v = visit_frame(ctx)
        parts = [
            v.groupby(["person_id", "institution_id"]).size().reset_index(name="n")
             .assign(u=lambda d: "person:" + d["person_id"], v=lambda d: "institution:" + d["institution_id"]),
            v[v["physician_id"].notna()].groupby(["person_id", "physician_id"]).size().reset_index(name="n")
             .assign(u=lambda d: "person:" + d["person_id"], v=lambda d: "physician:" + d["physician_id"]),
        ]
        ph = ctx.table("physicians")
        if len(ph):
            parts.append(pd.DataFrame({"u": "physician:" + ph["physician_id"], "v": "institution:" + ph["institution_id"],
                                       "n": 1}))
        e = pd.concat([x[["u", "v", "n"]] for x in parts], ignore_index=True)
        e["w"] = e["n"].astype(float)
        pr = pd.Series(personalized_pagerank(list(zip(e["u"], e["v"])), set(seeds), alpha=p["alpha"],
                                             weights=e["w"].tolist(), exclude=cleared))
        deg = pd.concat([e.groupby("u")["w"].sum(), e.groupby("v")["w"].sum()]).groupby(level=0).sum()
        lift = (pr / (deg.reindex(pr.index) / deg.sum())).fillna(0.0)
        lift[list(cleared & set(lift.index))] = 0.0
        df = pd.DataFrame({"key": lift.index, "ppr": pr.to_numpy(), "lift": lift.to_numpy()})
        df["entity_type"] = df["key"].str.partition(":")[0]
        df["entity_id"] = df["key"].str.partition(":")[2]
        df["score"] = np.where(df["lift"] > 0, squash(np.log2(df["lift"].clip(lower=1e-9)),
                                                      mid=np.log2(p["min_lift"]), scale=1.0), 0.0)
        df.loc[df["key"].isin(seeds), "score"] = 1.0
        self.ppr_ = df
        top = df[~df["key"].isin(seeds) & (df["lift"] >= p["min_lift"])].nlargest(p["top_k"], "lift")
        keep = set(top["key"]) | set(seeds)
        sub = e[e["u"].isin(keep) & e["v"].isin(keep)]
        seedset = set(seeds)
        sc = df.set_index("key")["score"]
        scheme_of = kc[kc["label"] == "fraud"].set_index("key")["scheme"] if "scheme" in kc.columns else pd.Series()
        groups = []
        # communities of the high-lift neighbourhood (Leiden), so separate rings near separate seeds
        # do not merge through a shared hub
        for comp in leiden_communities(sub[["u", "v"]].to_numpy(dtype=object), sub["w"].to_numpy(), seed=p["seed"]):
            s_in = comp & seedset
            new = comp - seedset
            if not s_in or len(new) < 1 or len(comp) < p["min_group"]:
                continue
            schemes = scheme_of.reindex(list(s_in)).dropna()
            scheme = schemes.mode().iloc[0] if len(schemes) else "other"
            score = float(sc.reindex(list(new)).mean())
            groups.append(Group(
                self.name, scheme if scheme in _GROUP_SCHEMES else "other",
                sorted(comp), score, 0.0,
                f"{len(new)} entities are tightly tied to {len(s_in)} entities of closed fraud cases "
                f"({', '.join(sorted(s_in)[:3])}{'...' if len(s_in) > 3 else ''}). Review them as possible "
                f"remaining members of the same network.",
                {"seeds": sorted(s_in), "lift": {k: round(float(lift[k]), 2) for k in sorted(new)},
                 "params": self.get_params()}))
        extra = df[~df["key"].isin(seeds)][["entity_type", "entity_id", "score"]]
        return finalize(self, groups, extra)
