"""An example detector of one's own (docs/architecture.md, "Adding a detector").

One file plus one configuration entry::

    detectors:
      night_owl:
        class: tests/examples/night_owl.py:NightOwlDetector
        min_night_visits: 3

Institutions that settle an unusual share of their visits between ``night_start``
and ``night_end`` o'clock, against the median share of their kind (a pharmacy
open all night is ordinary only if its peers are too).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ringscope.models.base import BaseDetector, Context, Finding, Group, empty_scores


class NightOwlDetector(BaseDetector):
    name = "night_owl"
    scheme = "card_cashout"
    kind = "graph"
    needs = ("visits", "institutions")

    night_start: int = 0          # hours, local time
    night_end: int = 5
    min_night_visits: int = 3
    min_excess: float = 0.2       # night share above the kind's median share

    def fit(self, ctx: Context, y: pd.DataFrame | None = None) -> NightOwlDetector:
        v = ctx.table("visits")
        kinds = ctx.table("institutions").set_index("institution_id")["kind"]
        hour = v["start_time"].dt.hour
        night = (hour >= self.night_start) & (hour < self.night_end)
        per = pd.DataFrame({"institution_id": v["institution_id"], "night": night}).groupby("institution_id") \
            .agg(n=("night", "size"), n_night=("night", "sum"))
        per["share"] = per["n_night"] / per["n"]
        per["kind"] = per.index.map(kinds)
        per["excess"] = per["share"] - per.groupby("kind")["share"].transform("median")
        flagged = per[(per["n_night"] >= self.min_night_visits) & (per["excess"] >= self.min_excess)]
        if flagged.empty:
            self.decision_scores_, self.findings_, self.groups_ = empty_scores(), [], []
            return self
        score = np.clip(flagged["excess"].to_numpy(), 0, 1)
        self.decision_scores_ = pd.DataFrame({"entity_type": "institution", "entity_id": flagged.index.astype(str),
                                              "score": score})
        self.findings_ = [Finding(self.name, "institution", str(i), float(s), self.scheme,
                                  f"{int(r.n_night)} of {int(r.n)} settlements at night")
                          for i, s, r in zip(flagged.index, score, flagged.itertuples())]
        self.groups_: list[Group] = []
        return self
