"""Early warning (动态预警): institutions and physicians whose monthly indicators leave their peers.

The indicators bureaus watch -- cost per visit and per admission, visits per patient, drug,
material, examination and high-value shares, average length of stay, admission rate,
readmission within 15 days, fund share (:data:`ringscope.graph.indicators.INDICATORS`) -- are
computed month by month for every institution and attending physician in the columnar
engine (``graph/sql/warning_monthly.sql``: grouping sets over visits and claim lines, so a
city's year of tens of millions of settlements is two scans). Each value is judged against
its **peer band** (same kind and level; physicians also by specialty; a coarser group when
fewer than ``min_peers`` peers have a value that month) and each entity's own series is
tested for a **level change** (the CUSUM change-point statistic on its deviations from the
peer centre, in units of its month-to-month noise); see :mod:`ringscope.graph.indicators`.

Levels (红/橙/黄), for every month from a level change on, while the entity stays at its
new level (at least half the shift above its old one):

- ``red`` (红): a level change, and the month is far outside the band (``z >= z_red``);
- ``orange`` (橙): a level change, and the month is outside the band (``z >= z_band``);
- ``yellow`` (黄): a level change inside the band -- the entity moved, its peers did not (this
  needs the stronger statistic ``h_inside``);
  and, in the newest ``recent_months`` (where a level change cannot be confirmed yet: it needs
  two months after it), a month far outside the band (``z >= spike_z``) of an entity inside it
  in every month before (at least ``min_before`` of them, most with some activity: a share
  mostly at 0 that shows a lump never had a level to leave): it has just left its band.

A level change needs at least ``min_months_at_level`` months at the new level, the
change-point statistic to reach ``h_change``, the
months after to rank above the months before (``min_auc`` of the pairs), a material shift:
``min_rel_change`` relative (amounts and ratios) or ``min_abs_change`` absolute (shares) between
the medians before and after, *and* significance that does not erode with the size of the city.
The statistic is in units of the entity's own month-to-month noise, so under "no change" (the
deviations from the peer centre independent around one level) it is a maximum of standard normal
statistics over the splits tried (Student's t with the noise estimated); its p-value is bounded
by Bonferroni over those splits (``k * P(T >= stat)``, two-sided series twice), and the Benjamini-Hochberg step-up procedure over
*every* entity × indicator series of the run keeps a change only when its q-value is at most
``fdr``: the expected share of false alarms among the level changes, whatever the number of
series tested (0.2 by default: the share of unfounded warnings a bureau accepts, precision 0.8). A fixed threshold on the statistic alone gives a fixed false-alarm rate *per
series*, so a city with three times the entities got three times the false warnings; with the
q-value a bigger city needs a bigger statistic unless it also has more real changes (Benjamini &
Hochberg 1995; the change-point statistic's null as a maximum over splits, Worsley 1979, Hinkley
1971). ``h_change`` stays a floor for small runs, where few series make the q-value lenient. An entity outside its band all year has not changed: that is the
rules' business (R-MED-012 to 014) and the graph detectors', not a warning. Direction: a rise is
watched (``directions`` may set ``down`` or ``both`` per indicator; ``avg_los`` is ``both`` by
default: ghost admissions lengthen stays, split admissions shorten them).

References: E. S. Page, "Continuous inspection schemes", Biometrika 41 (1954); D. V. Hinkley,
"Inference about the change-point from cumulative sum tests", Biometrika 58 (1971); K. J. Worsley,
"On the likelihood ratio test for a shift in location of normal populations", JASA 74 (1979);
Y. Benjamini & Y. Hochberg, "Controlling the false discovery rate: a practical and powerful
approach to multiple testing", JRSS B 57 (1995); D. C. Montgomery, *Introduction to Statistical
Quality Control* (individuals charts, moving ranges).

``warnings_`` has the contract's ``warnings.csv`` columns (warning_id stable for an entity,
indicator and month: the SHA-1 of the three) plus detail columns; ``indicators_`` every
judged value with its band, month-over-month and year-over-year change (the trend an app
draws); ``decision_scores_`` gives each warned entity its strongest level's score.
"""
from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd

from ringscope.graph.indicators import (INDICATORS, inverse, level_changes, monthly_indicators, peer_bands,
                                        period_changes)
from ringscope.ingest.contract import WARNINGS_COLUMNS
from ringscope.ingest.vocab import col_or
from ringscope.models.base import BaseDetector, Context, Finding, empty_scores

__all__ = ["EarlyWarningDetector", "warning_id", "peer_attributes", "LEVELS", "LEVEL_LABELS", "PEER_LEVELS"]

LEVELS = ("red", "orange", "yellow")
LEVEL_LABELS = {"red": "红", "orange": "橙", "yellow": "黄"}
_KIND_ZH = {"hospital": "医院", "clinic": "诊所", "community": "基层", "pharmacy": "药店"}


def warning_id(entity_type: str, entity_id: str, indicator: str, period: str) -> str:
    """Stable id of one warning: the same entity, indicator and month give the same id in every run.

    >>> warning_id("institution", "H03", "drug_share", "2024-07")
    'W-0e7145c0f1d4341d'
    """
    key = f"{entity_type}|{entity_id}|{indicator}|{period}".encode()
    return "W-" + hashlib.sha1(key).hexdigest()[:16]


class EarlyWarningDetector(BaseDetector):
    """Monthly indicators against peer bands, with level changes on each entity's own series.

    Parameters (defaults in ``models/defaults.yaml``, ``detectors.early_warning``)
    ----------
    indicators : the indicators judged (names of ``graph.indicators.INDICATORS``).
    entity_types : ``institution`` and/or ``physician``.
    min_visits, min_lines, min_admissions : volume a month needs for its value to be judged.
    min_months, min_before : months with a value a series needs; months before a change-point.
    min_peers : peers with a value that month for a band; else the next coarser peer group.
    z_band, z_red : the band (robust SDs); far outside it.
    spike_z, recent_months : a month of the newest ``recent_months`` this far outside the band, of an
        entity inside it before, is a warning before any level change can be confirmed.
    h_change, min_auc : CUSUM change-point statistic of a level change, and the share of (before,
        after) month pairs in which the month after is higher (rank separation).
    h_inside : the statistic a change needs for the months it leaves inside the band (yellow).
    min_months_at_level : months at the new level a change needs to be warned.
    fdr : the false-discovery rate of level changes: a change is kept when the Benjamini-Hochberg
        q-value of its statistic's p-value, across every series of the run, is at most this.
    min_rel_change, min_abs_change : the material shift (relative; absolute for shares).
    directions : per indicator ``up``/``down``/``both`` (default up).
    exam_keywords : words in a service's name that make it an examination or laboratory test.
    high_value_quantile, high_value_min_price : high-value items (price quantile within the item type).
    readmit_days : readmission window in days.
    level_scores : the entity score each level gives fusion.
    min_entity_level : an entity is warned only when its strongest warning is at least this level
        (``orange`` by default: an entity whose every warning is yellow -- a level change inside
        its band, a month just outside it -- is a watch item, its months keep their level in
        ``indicators_`` and the app's trend, but raise no warning; measured in ``bench/RESULTS.md``).
    """

    name = "early_warning"
    scheme = "other"
    kind = "warning"
    needs = ("visits",)

    indicators: list[str]
    entity_types: list[str]
    min_visits: int
    min_lines: int
    min_admissions: int
    min_months: int
    min_before: int
    min_peers: int
    z_band: float
    z_red: float
    spike_z: float
    recent_months: int
    h_change: float
    h_inside: float
    min_auc: float
    min_months_at_level: int
    min_rel_change: float
    min_abs_change: float
    directions: dict[str, str]
    exam_keywords: list[str]
    high_value_quantile: float
    high_value_min_price: float
    readmit_days: int
    level_scores: dict[str, float]
    min_entity_level: str
    fdr: float

    def fit(self, ctx: Context, y: pd.DataFrame | None = None) -> EarlyWarningDetector:
        return self.judge(self.aggregate(ctx), peer_attributes(ctx))

    def aggregate(self, ctx: Context) -> pd.DataFrame:
        """The monthly aggregates per institution and physician (``graph/sql/warning_monthly.sql`` in
        the run's columnar engine): the only pass over the settlements."""
        p = self.params
        bad = [n for n in p["indicators"] if n not in INDICATORS]
        if bad:
            raise ValueError(f"early_warning.indicators: unknown {bad}; known: {', '.join(INDICATORS)}")
        eng = ctx.columnar
        if not eng.has("claim_lines") or not eng.has("catalog"):
            raise ValueError("early_warning needs claim_lines and catalog for the share indicators")
        pattern = "|".join(re.escape(k) for k in p["exam_keywords"] if k) or "$^"
        agg = eng.query("warning_monthly", {"exam_pattern": pattern, "hv_quantile": float(p["high_value_quantile"]),
                                            "hv_min_price": float(p["high_value_min_price"]),
                                            "readmit_days": int(p["readmit_days"])})
        return agg[agg["entity_type"].isin(p["entity_types"])].reset_index(drop=True)

    def judge(self, agg: pd.DataFrame, peers: pd.DataFrame) -> EarlyWarningDetector:
        """Indicators, peer bands, level changes and warnings from the monthly aggregates."""
        p = self.params
        self.aggregates_ = agg
        long = monthly_indicators(agg, indicators=p["indicators"], min_visits=p["min_visits"],
                                  min_lines=p["min_lines"], min_admissions=p["min_admissions"])
        bands = peer_bands(long, peers, PEER_LEVELS, min_peers=p["min_peers"], z_band=p["z_band"])
        bands = period_changes(bands)
        changes = level_changes(bands, min_months=p["min_months"], min_before=p["min_before"],
                                directions=p["directions"], auc_from=min(2.0, float(p["h_change"])))
        self.changes_ = changes
        w, ind = self._warnings(bands, changes)
        self.warnings_ = w
        self.indicators_ = ind
        self._scores(w)
        return self

    # ------------------------------------------------------------------ warnings
    def _warnings(self, bands: pd.DataFrame, changes: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        p = self.params
        key = ["entity_type", "entity_id", "indicator"]
        ch = changes.copy()
        # a material shift between the medians before and after, in the indicator's own unit
        ref = bands.groupby(key)["centre"].median().rename("c_med")
        ch = ch.join(ref, on=key)
        v0 = inverse((ch["c_med"] + ch["before"]).to_numpy(dtype=float), ch["scale"].to_numpy())
        v1 = inverse((ch["c_med"] + ch["after"]).to_numpy(dtype=float), ch["scale"].to_numpy())
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(v0 > 0, v1 / v0 - 1.0, np.inf)
        ch["value_before"], ch["value_after"], ch["rel_change"] = v0, v1, rel
        material = np.where(ch["scale"] == "share", np.abs(v1 - v0) >= p["min_abs_change"],
                            np.abs(rel) >= p["min_rel_change"])
        ch["changed"] = (np.abs(ch["stat"]) >= p["h_change"]) & (ch["auc"] >= p["min_auc"]) & material \
            & (ch["stat"] != 0) & (ch["q_value"] <= p["fdr"])
        b = bands.merge(ch[key + ["change_period", "stat", "before", "after", "changed", "value_before",
                                  "value_after", "rel_change"]], on=key, how="left")
        b = b.sort_values(key + ["period"], kind="mergesort").reset_index(drop=True)
        b["changed"] = b["changed"].astype("boolean").fillna(False).astype(bool)
        b["dev"] = b["y"] - b["centre"]
        direction = b["indicator"].map(lambda i: p["directions"].get(i, "up"))
        # the direction watched: +1 up, -1 down; a two-sided series takes its change's sign
        toward = np.where(direction == "down", -1.0,
                          np.where(direction == "both", np.sign(b["stat"].fillna(1.0)).replace(0.0, 1.0), 1.0))
        zs = b["z"].to_numpy(dtype=float) * toward
        b["z_dir"] = zs
        shift = (b["after"] - b["before"]).abs()
        at_new = (b["dev"] - b["before"]) * toward >= 0.5 * shift
        in_change = (b["changed"] & (b["period"] >= b["change_period"].fillna("9999")) & at_new).to_numpy()
        # the newest months, where a level change cannot be confirmed yet: a month far outside the band
        # of an entity that was inside it in every month before (it has just left its band)
        periods = sorted(b["period"].unique())
        recent = (b["period"] >= periods[-min(int(p["recent_months"]), len(periods))]).to_numpy() if periods \
            else np.zeros(len(b), dtype=bool)
        g = b.groupby(key, sort=False)
        prior_max = g["z_dir"].transform(lambda x: x.shift().cummax()).fillna(np.inf).to_numpy()
        prior_n = g.cumcount().to_numpy()
        # months before with activity (a share mostly at 0 that shows a lump has not left a band: it
        # never had a level; that is the rules' single-settlement business)
        active = (b["value"] > 0).astype(float)
        prior_active = (active.groupby([b[k] for k in key], sort=False).cumsum() - active).to_numpy() \
            / np.maximum(prior_n, 1)
        spike = ~in_change & recent & (zs >= p["spike_z"]) & (prior_max < p["z_band"]) \
            & (prior_n >= p["min_before"]) & (prior_active >= 0.5)
        # a change inside the band needs more evidence than one that leaves it
        inside_ok = (b["stat"].abs().fillna(0.0) >= p["h_inside"]).to_numpy()
        in_change &= (zs >= p["z_band"]) | inside_ok
        # ... and a level is a level only when the entity stays there
        n_at = pd.Series(in_change).groupby([b[k] for k in key], sort=False).transform("sum").to_numpy()
        in_change &= n_at >= p["min_months_at_level"]
        level = np.where(in_change & (zs >= p["z_red"]), "red",
                         np.where(in_change & (zs >= p["z_band"]), "orange", np.where(in_change, "yellow", "")))
        b["level"] = np.where(spike, "yellow", level)
        b["kind_of"] = np.where(in_change, "level_change", np.where(spike, "band_exit", ""))
        w = b[b["level"] != ""].copy()
        rank = {"yellow": 0, "orange": 1, "red": 2}
        if str(p["min_entity_level"]) not in rank:
            raise ValueError(f"early_warning.min_entity_level {p['min_entity_level']!r}: one of red, orange, yellow")
        floor = rank[str(p["min_entity_level"])]
        strongest = w["level"].map(rank).groupby([w["entity_type"], w["entity_id"]], sort=False).transform("max")
        w = w[strongest >= floor]
        w["warning_id"] = [warning_id(*k) for k in zip(w["entity_type"], w["entity_id"], w["indicator"], w["period"])]
        w["evidence"] = [_evidence(r) for r in w.itertuples(index=False)]
        extra = ["kind_of", "z", "band_low", "band_high", "peer_group", "n_peers", "change_period", "stat",
                 "value_before", "value_after", "rel_change", "mom", "yoy", "volume"]
        w = w[WARNINGS_COLUMNS + extra].reset_index(drop=True)
        ind_cols = ["entity_type", "entity_id", "indicator", "period", "value", "baseline", "band_low", "band_high",
                    "z", "peer_group", "n_peers", "mom", "yoy", "volume", "level"]
        return w, b[ind_cols]

    def _scores(self, w: pd.DataFrame) -> None:
        p = self.params
        if w.empty:
            self.decision_scores_ = empty_scores()
            self.findings_ = []
            self.groups_ = []
            return
        ls = {k: float(v) for k, v in p["level_scores"].items()}
        w = w.assign(s=w["level"].map(ls).fillna(0.0), rank=w["level"].map({k: i for i, k in enumerate(LEVELS)}))
        best = w.sort_values(["rank", "period"], ascending=[True, False]).drop_duplicates(["entity_type", "entity_id"])
        n_ind = w.groupby(["entity_type", "entity_id"])["indicator"].nunique()
        self.decision_scores_ = best[["entity_type", "entity_id", "s"]].rename(columns={"s": "score"}) \
            .sort_values("score", ascending=False).reset_index(drop=True)
        self.findings_ = [
            Finding(self.name, r.entity_type, str(r.entity_id), float(r.s), self.scheme,
                    f"预警{LEVEL_LABELS[r.level]} {INDICATORS[r.indicator].zh} {r.period}"
                    + (f" (+{n_ind[(r.entity_type, r.entity_id)] - 1} indicators)"
                       if n_ind[(r.entity_type, r.entity_id)] > 1 else ""),
                    {"warning_id": r.warning_id, "indicator": r.indicator, "period": r.period, "level": r.level})
            for r in best.itertuples(index=False)]
        self.groups_ = []


# peer groupings, finest first (a physician's kind and level are those of the institution they practise at)
PEER_LEVELS = {"institution": [["kind", "level"], ["kind"]],
               "physician": [["kind", "level", "specialty"], ["kind", "level"], ["kind"]]}


def peer_attributes(ctx: Context) -> pd.DataFrame:
    """Each institution's and physician's peer attributes: kind, level (a physician's: their
    institution's) and specialty."""
    inst = ctx.table("institutions")
    i = pd.DataFrame({"entity_id": inst["institution_id"].astype(str), "kind": col_or(inst, "kind"),
                      "level": col_or(inst, "level").astype(object)})
    i["level"] = i["level"].map(lambda x: None if x is None or pd.isna(x) else str(int(x)))
    phys = ctx.table("physicians")
    parts = [i.assign(entity_type="institution", specialty=None)]
    if len(phys):
        d = pd.DataFrame({"entity_id": phys["physician_id"].astype(str),
                          "institution_id": phys["institution_id"].astype(str),
                          "specialty": col_or(phys, "specialty")})
        d = d.merge(i.rename(columns={"entity_id": "institution_id"}), on="institution_id", how="left")
        parts.append(d.drop(columns="institution_id").assign(entity_type="physician"))
    return pd.concat(parts, ignore_index=True)[["entity_type", "entity_id", "kind", "level", "specialty"]]


def _fmt(v: float, scale: str) -> str:
    if v is None or not np.isfinite(v):
        return "—"
    return f"{100 * v:.1f}%" if scale == "share" else f"{v:,.2f}"


def _pct(v: float) -> str:
    return "—" if v is None or not np.isfinite(v) else f"{100 * v:+.1f}%"


def _evidence(r) -> str:
    ind = INDICATORS[r.indicator]
    s = ind.scale
    peer = str(r.peer_group or "").replace("kind=", "").replace("level=", "级别").replace("specialty=", "")
    for k, z in _KIND_ZH.items():
        peer = peer.replace(k, z)
    txt = (f"{ind.zh} {_fmt(r.value, s)}，同类（{peer}，{int(r.n_peers)}个）中位 {_fmt(r.baseline, s)}，"
           f"区间 {_fmt(r.band_low, s)}–{_fmt(r.band_high, s)}（z={r.z:+.1f}）")
    if r.kind_of == "level_change":
        shift = _pct(r.rel_change) if s != "share" else f"{100 * (r.value_after - r.value_before):+.1f}个百分点"
        txt += f"；自{r.change_period}起水平变化 {shift}（变点统计量 {abs(r.stat):.1f}）"
    else:
        txt += "；单月越出同类区间"
    txt += f"；环比 {_pct(r.mom)}，同比 {_pct(r.yoy)}"
    return txt + f" | {ind.en}"
