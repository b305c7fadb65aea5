"""Monthly supervision indicators (动态预警指标), peer bands and level changes.

The indicators a bureau watches for every institution and attending physician, month by
month, computed from the monthly aggregates of ``graph/sql/warning_monthly.sql`` (one pass
over visits and one over claim lines in the columnar engine, grouped by entity and month):

=====================  ===========  =================================================================
indicator              中文          definition (per entity and month)
=====================  ===========  =================================================================
cost_per_visit         次均费用      amount of outpatient and pharmacy settlements / their number
cost_per_admission     次均住院费用   amount of inpatient settlements / admissions
visits_per_patient     人次人头比     settlements / distinct persons
drug_share             药占比        drug lines' amount / all lines' amount
material_share         耗材占比      material lines' amount / all lines' amount
exam_share             检查检验占比   examination and laboratory lines' amount / all lines' amount
high_value_share       高值项目占比   high-value items' amount / all lines' amount
avg_los                平均住院日     inpatient days / admissions
admission_rate         住院率        admissions / (outpatient visits + admissions)
readmission_15d        15日再入院率   admissions within 15 days of a discharge from the same place / admissions
fund_share             统筹支付占比   pooled-fund payments / amount of the settlements that state them
=====================  ===========  =================================================================

Each indicator is judged on a scale where differences mean the same everywhere: the log of
amounts and ratios (a change is relative; costs per visit and per admission are judged on the
mean of the settlements' log amounts, a geometric mean that one dear settlement does not sway,
and reported as the arithmetic mean the bureau knows, their band moved to its unit), shares as they are (a change is in percentage
points: most shares are near 0 for most entities -- high-value items, materials, readmissions --
and a transform that stretches the neighbourhood of 0 would turn their lumps into alarms).
Every month's value carries its standard error, from the second moments the SQL returns
(a ratio of two sums over settlements linearised, Cochran 1977 §6.3; binomial for rates). On
that scale:

*Peer band.* For every month, the centre of the entity's peers (same kind and level for an
institution; same kind, level and specialty for a physician, coarser when fewer than
``min_peers`` other peers have a value that month) is the median of the others (the entity
never pulls its own band), the spread 1.4826 × MAD (a robust standard deviation; Rousseeuw &
Croux 1993) with a floor; ``z`` is the entity's distance from the centre in spreads (widened
by the month's own standard error). Month-by-month bands follow the season: a winter rise
that every peer shows moves the band, not the entity.

*Level change.* On the entity's own series of deviations from the centre, ``d_t``, the
CUSUM change-point statistic (Page 1954; Hinkley 1971): for every split of the series into
a before and an after (at least ``min_before`` months before), the difference of the two
means in units of its standard error, the series' month-to-month noise estimated from the
median moving range (σ = median |d_t − d_{t−1}| / 0.954, the robust form of the
individuals control chart's MR-bar / 1.128; Montgomery, *Statistical Quality Control*, §6.4),
or the mean moving range without its largest one when that is larger (a lumpy series, flat with
recurring jumps), never below the months' own standard error. Means are swayed by one wild
month, so the change also needs the months after to rank above the months before (the
Mann-Whitney statistic as a share of pairs, ``auc``; the rank idea of Pettitt's change-point
test, Applied Statistics 28, 1979): a series flat at 0 that turns lumpy has not moved to a new
level, it has started to scatter.
The split with the largest statistic is the change-point; it is a level change when the
statistic reaches ``h`` and the medians before and after differ by a material amount.

*Significance across the run.* Each series' statistic also gets a p-value under "no change"
(the deviations independent and normal around one level, with the series' own noise): the
statistic at any one split is then a two-sample t statistic (``n - 1`` degrees of freedom for the
estimated noise, :data:`MR_DF`), and the maximum over the ``k`` splits tried is bounded by
Bonferroni, ``p = min(1, k * P(T >= stat))`` (twice that for a two-sided series); conservative,
as neighbouring splits are correlated (Worsley 1979 gives the exact null of the maximum). Taken
as standard normal instead (the noise as if known), 2,000 series of pure noise gave 7 to 16
q-values under 0.05; with ``t`` none (``tests/test_early_warning.py``). The
Benjamini-Hochberg step-up procedure over every series of the frame turns the p-values into
q-values (:func:`bh_qvalues`): keeping the series with ``q <= fdr`` bounds the expected share of
false changes among those kept, so a city with more entities does not get proportionally more
false alarms (a fixed ``h`` alone fixes the rate per series). ``shift_sigma`` reports the shift
between the medians in units of the noise (the new level against the old one's control limits).

References
----------
E. S. Page, "Continuous inspection schemes", Biometrika 41 (1954). D. V. Hinkley,
"Inference about the change-point from cumulative sum tests", Biometrika 58 (1971).
W. G. Cochran, *Sampling Techniques*, 3rd ed. (1977), §6.3 (the ratio estimator's variance).
P. J. Rousseeuw & C. Croux, "Alternatives to the median absolute
deviation", JASA 88 (1993). K. J. Worsley, "On the likelihood ratio test for a shift in location of
normal populations", JASA 74 (1979). Y. Benjamini & Y. Hochberg, "Controlling the false discovery
rate", JRSS B 57 (1995).

>>> agg = pd.DataFrame({"entity_type": ["institution"], "entity_id": ["H1"], "period": ["2024-01"],
...     "n_visits": [40], "n_persons": [20], "amount": [5000.0], "n_ambulatory": [40],
...     "amount_ambulatory": [5000.0], "n_outpatient": [40], "n_admissions": [0], "amount_inpatient": [None],
...     "los_days": [None], "n_readmissions": [None], "fund_paid": [3000.0], "amount_with_fund": [5000.0],
...     "n_lines": [120], "line_amount": [5000.0], "drug_amount": [2000.0], "material_amount": [0.0],
...     "exam_amount": [500.0], "high_value_amount": [0.0]})
>>> long = monthly_indicators(agg, min_visits=20, min_lines=30, min_admissions=5)
>>> long.set_index("indicator")["value"].round(3).to_dict()["drug_share"]
0.4
>>> sorted(long["indicator"])[:3]
['admission_rate', 'cost_per_visit', 'drug_share']
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import stdtr

__all__ = [
    "Indicator",
    "INDICATORS",
    "monthly_indicators",
    "forward",
    "inverse",
    "peer_bands",
    "level_changes",
    "bh_qvalues",
    "period_changes",
]


@dataclass(frozen=True)
class Indicator:
    name: str
    zh: str
    en: str
    num: str              # aggregate column of the numerator
    den: str              # ... of the denominator
    volume: str           # the count that must reach its minimum for the month to be judged
    scale: str            # "log" (amounts, ratios) or "share" (proportions in [0, 1])
    den_extra: str | None = None   # added to the denominator (admission rate)
    # the month's standard error: "mean" of settlements (num_sq: sum of squares), "ratio" of two sums
    # over settlements (num_sq, cross, den_sq; units), "binomial" (units = the denominator),
    # "visits" (settlements per person, shifted-Poisson)
    se: str = "mean"
    num_sq: str | None = None
    cross: str | None = None
    den_sq: str | None = None
    units: str | None = None
    # judged on the mean of logs (a geometric mean) instead of the log of the mean: sum of logs, of squares
    log_num: str | None = None
    log_num_sq: str | None = None


def _share(name: str, zh: str, en: str, col: str) -> Indicator:
    return Indicator(name, zh, en, col, "line_amount", "n_lines", "share", se="ratio", num_sq=f"{col}_sq",
                     cross=f"{col}_x", den_sq="line_amount_sq", units="n_line_visits")


INDICATORS: dict[str, Indicator] = {i.name: i for i in [
    Indicator("cost_per_visit", "次均费用", "cost per visit", "amount_ambulatory", "n_ambulatory", "n_ambulatory", "log",
              num_sq="amount_ambulatory_sq", log_num="log_amount_ambulatory", log_num_sq="log_amount_ambulatory_sq"),
    Indicator("cost_per_admission", "次均住院费用", "cost per admission", "amount_inpatient", "n_admissions",
              "n_admissions", "log", num_sq="amount_inpatient_sq", log_num="log_amount_inpatient",
              log_num_sq="log_amount_inpatient_sq"),
    Indicator("visits_per_patient", "人次人头比", "visits per patient", "n_visits", "n_persons", "n_visits", "log",
              se="visits"),
    _share("drug_share", "药占比", "drug share", "drug_amount"),
    _share("material_share", "耗材占比", "material share", "material_amount"),
    _share("exam_share", "检查检验占比", "examination share", "exam_amount"),
    _share("high_value_share", "高值项目占比", "high-value share", "high_value_amount"),
    Indicator("avg_los", "平均住院日", "average length of stay", "los_days", "n_admissions", "n_admissions", "log",
              num_sq="los_days_sq"),
    Indicator("admission_rate", "住院率", "admission rate", "n_admissions", "n_outpatient", "n_outpatient", "share",
              den_extra="n_admissions", se="binomial"),
    Indicator("readmission_15d", "15日再入院率", "readmission within 15 days", "n_readmissions", "n_admissions",
              "n_admissions", "share", se="binomial"),
    Indicator("fund_share", "统筹支付占比", "fund share", "fund_paid", "amount_with_fund", "n_visits", "share",
              se="ratio", num_sq="fund_paid_sq", cross="fund_paid_x", den_sq="amount_with_fund_sq", units="n_visits"),
]}

_LOG_FLOOR = 1e-2
# degrees of freedom of the noise estimate, per month of the series less one: those of a sample standard
# deviation (1.0). A moving-range estimate has fewer, about 0.62 (n - 1) (Cryer & Ryan, JQT 22, 1990): on
# the team's cities that stricter null found 70 of 81 drifting entities (precision 0.93) instead of 74 (0.86)
MR_DF = 1.0


def forward(values: np.ndarray | pd.Series, scale: np.ndarray | pd.Series | str) -> np.ndarray:
    """An indicator's values on its judging scale (log of amounts and ratios; shares as they are).

    >>> forward(np.array([0.25, 1.0]), "share").round(4).tolist()
    [0.25, 1.0]
    >>> round(float(inverse(forward(np.array([120.0]), "log"), "log")[0]), 6)
    120.0
    """
    v = np.asarray(values, dtype=float)
    s = np.asarray(scale) if not isinstance(scale, str) else np.full(v.shape, scale, dtype=object)
    out = np.where(s == "share", np.clip(v, 0.0, 1.0), np.log(np.maximum(v, _LOG_FLOOR)))
    return out.astype(float)


def inverse(values: np.ndarray | pd.Series, scale: np.ndarray | pd.Series | str) -> np.ndarray:
    """Back from the judging scale to the indicator's own unit."""
    v = np.asarray(values, dtype=float)
    s = np.asarray(scale) if not isinstance(scale, str) else np.full(v.shape, scale, dtype=object)
    return np.where(s == "share", np.clip(v, 0.0, 1.0), np.exp(v)).astype(float)


def monthly_indicators(agg: pd.DataFrame, *, indicators: Sequence[str] | None = None, min_visits: int = 20,
                       min_lines: int = 30, min_admissions: int = 5) -> pd.DataFrame:
    """The long frame of indicator values: ``entity_type, entity_id, period, indicator, value,
    volume`` from the monthly aggregates (only entity-months with enough volume for the
    indicator: ``min_visits`` settlements, ``min_lines`` claim lines, ``min_admissions`` stays)."""
    names = list(indicators or INDICATORS)
    unknown = [n for n in names if n not in INDICATORS]
    if unknown:
        raise ValueError(f"unknown indicator(s) {unknown}; known: {', '.join(INDICATORS)}")
    mins = {"n_ambulatory": min_visits, "n_visits": min_visits, "n_outpatient": min_visits,
            "n_lines": min_lines, "n_admissions": min_admissions}
    parts = []
    keys = agg[["entity_type", "entity_id", "period"]].reset_index(drop=True)
    for n in names:
        ind = INDICATORS[n]
        num = pd.to_numeric(agg[ind.num], errors="coerce").fillna(0.0).to_numpy(dtype=float)
        den = pd.to_numeric(agg[ind.den], errors="coerce").fillna(0.0).to_numpy(dtype=float)
        if ind.den_extra:
            den = den + pd.to_numeric(agg[ind.den_extra], errors="coerce").fillna(0.0).to_numpy(dtype=float)
        vol = pd.to_numeric(agg[ind.volume], errors="coerce").fillna(0).to_numpy(dtype=float)
        ok = (vol >= mins.get(ind.volume, min_visits)) & (den > 0)
        if not ok.any():
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            val = num / den
            se = _standard_error(agg, ind, val, num, den)
            y = np.full(len(agg), np.nan)
            if ind.log_num and ind.log_num in agg.columns:   # judged on the geometric mean
                n_ = np.maximum(den, 1.0)
                y = _col(agg, ind.log_num) / n_
                var = np.maximum(_col(agg, ind.log_num_sq) - n_ * y ** 2, 0.0) / np.maximum(n_ - 1.0, 1.0)
                se = np.sqrt(var / n_)
        p = keys[ok].copy()
        p["indicator"] = n
        p["value"] = val[ok]
        p["volume"] = vol[ok]
        p["se"] = se[ok]
        p["y"] = y[ok]
        parts.append(p)
    cols = ["entity_type", "entity_id", "period", "indicator", "value", "volume", "se", "y"]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object if c in cols[:4] else float) for c in cols})
    out = pd.concat(parts, ignore_index=True)
    return out[np.isfinite(out["value"].to_numpy(dtype=float))].reset_index(drop=True)


def _col(agg: pd.DataFrame, name: str | None) -> np.ndarray:
    if not name or name not in agg.columns:
        return np.full(len(agg), np.nan)
    return pd.to_numeric(agg[name], errors="coerce").fillna(0.0).to_numpy(dtype=float)


def _standard_error(agg: pd.DataFrame, ind: Indicator, val: np.ndarray, num: np.ndarray,
                    den: np.ndarray) -> np.ndarray:
    """The month's standard error of the indicator, on its judging scale (delta method)."""
    if ind.se == "binomial":
        n = np.maximum(den, 1.0)
        q = np.clip(val, 0.5 / n, 1 - 0.5 / n)   # a month of no readmissions is not a certain 0
        return np.sqrt(q * (1 - q) / n)
    if ind.se == "visits":
        n = np.maximum(_col(agg, "n_persons"), 1.0)
        var = np.maximum(val - 1.0, 0.1)    # settlements per person - 1 taken as Poisson
        return np.sqrt(var / n) / np.maximum(val, _LOG_FLOOR)
    if ind.se == "mean":
        n = np.maximum(den, 1.0)
        s2 = np.maximum(_col(agg, ind.num_sq) - n * val ** 2, 0.0) / np.maximum(n - 1.0, 1.0)
        return np.sqrt(s2 / n) / np.maximum(val, _LOG_FLOOR)
    # a ratio of two sums over settlements, linearised: Var(R) = sum((y - R x)^2) / (n (n-1) xbar^2)
    n = np.maximum(_col(agg, ind.units), 1.0)
    resid = np.maximum(_col(agg, ind.num_sq) - 2 * val * _col(agg, ind.cross) + val ** 2 * _col(agg, ind.den_sq), 0.0)
    xbar = np.maximum(den / n, 1e-9)
    return np.sqrt(resid / np.maximum(n - 1.0, 1.0) / n) / xbar


def _loo_median(y: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every element, the median of the *other* elements of its group, and their number.

    >>> m, n = _loo_median(np.array([1.0, 2.0, 3.0, 10.0, 5.0]), np.array([0, 0, 0, 0, 1]))
    >>> m.tolist(), n.tolist()
    ([3.0, 3.0, 2.0, 2.0, nan], [3, 3, 3, 3, 0])
    """
    y = np.asarray(y, dtype=float)
    order = np.lexsort((y, group))
    ys, gs = y[order], np.asarray(group)[order]
    boundaries = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])
    sizes = np.diff(np.r_[boundaries, len(gs)])
    start = np.repeat(boundaries, sizes)
    n = np.repeat(sizes, sizes)
    r = np.arange(len(gs)) - start               # rank inside the group
    m = n - 1                                    # the others

    def at(k: np.ndarray) -> np.ndarray:         # the others' k-th value (k in 0..m-1)
        orig = np.where(k < r, k, k + 1)
        return ys[np.clip(start + orig, 0, len(ys) - 1)]

    k_hi = m // 2
    k_lo = np.where(m % 2 == 1, k_hi, k_hi - 1)
    med = np.where(m > 0, 0.5 * (at(np.maximum(k_lo, 0)) + at(np.minimum(k_hi, np.maximum(m - 1, 0)))), np.nan)
    out_m, out_n = np.empty(len(y)), np.empty(len(y), dtype=int)
    out_m[order], out_n[order] = med, m
    return out_m, out_n


def peer_bands(long: pd.DataFrame, peers: pd.DataFrame, levels: Mapping[str, Sequence[Sequence[str]]], *,
               min_peers: int = 5, z_band: float = 2.5, spread_floor: Mapping[str, float] | None = None
               ) -> pd.DataFrame:
    """Each value against its peer band that month.

    ``peers``: ``entity_type, entity_id`` and the attribute columns named in ``levels``;
    ``levels``: per entity type, the peer groupings from finest to coarsest, e.g.
    ``{"institution": [["kind", "level"], ["kind"]]}``. A value takes the finest grouping in
    which at least ``min_peers`` *other* entities have a value of the indicator that month (the
    coarsest with any other when none has; no band without one). The centre is the others'
    median (the entity never pulls its own band), the spread 1.4826 × the group's MAD with a
    floor, and ``z`` counts the distance in ``sqrt(spread² + se²)``, ``se`` the month's own
    standard error when the frame has it. Adds ``y`` (the judging scale), ``centre``, ``spread``,
    ``z``, ``peer_group`` (text), ``n_peers``, and ``baseline``, ``band_low``, ``band_high`` in the
    indicator's unit.

    >>> long = pd.DataFrame({"entity_type": "institution", "entity_id": list("abcdef"), "period": "2024-01",
    ...                      "indicator": "cost_per_visit", "value": [100, 110, 90, 105, 95, 300.0]})
    >>> peers = pd.DataFrame({"entity_type": "institution", "entity_id": list("abcdef"), "kind": "clinic"})
    >>> b = peer_bands(long, peers, {"institution": [["kind"]]}, min_peers=5)
    >>> round(float(b["baseline"].iloc[5]), 1), bool(b["z"].iloc[5] > 5), b["peer_group"].iloc[0], int(b["n_peers"].iloc[0])
    (100.0, True, 'kind=clinic', 5)
    """
    floors = {"log": 0.05, "share": 0.01, **(spread_floor or {})}
    df = long.reset_index(drop=True).copy()
    df["scale"] = df["indicator"].map(lambda n: INDICATORS[n].scale if n in INDICATORS else "log")
    own_y = df["y"].to_numpy(dtype=float) if "y" in df.columns else np.full(len(df), np.nan)
    df["y"] = np.where(np.isfinite(own_y), own_y, forward(df["value"].to_numpy(dtype=float), df["scale"].to_numpy()))
    df = df.merge(peers, on=["entity_type", "entity_id"], how="left")
    centre = np.full(len(df), np.nan)
    spread = np.full(len(df), np.nan)
    n_peers = np.zeros(len(df), dtype=int)
    label = np.full(len(df), None, dtype=object)
    for et, grouping in levels.items():
        rows = np.flatnonzero((df["entity_type"] == et).to_numpy())
        if not len(rows):
            continue
        todo = np.ones(len(rows), dtype=bool)
        sub = df.iloc[rows]
        for k, cols in enumerate(grouping):
            if not todo.any():
                break
            cols = [c for c in cols if c in df.columns]
            last = k == len(grouping) - 1
            keys = [sub[c].astype(str).where(sub[c].notna(), "∅").to_numpy() for c in cols]
            gkey = pd.DataFrame({"i": sub["indicator"].to_numpy(), "p": sub["period"].to_numpy(),
                                 **{f"g{j}": kk for j, kk in enumerate(keys)}})
            code = gkey.groupby(list(gkey.columns), sort=False).ngroup().to_numpy()
            y = sub["y"].to_numpy(dtype=float)
            med, n_o = _loo_median(y, code)
            full_med = pd.Series(y).groupby(code).transform("median").to_numpy()
            mad = pd.Series(np.abs(y - full_med)).groupby(code).transform("median").to_numpy()
            take = todo & ((n_o >= min_peers) | (last & (n_o >= 1)))
            idx = rows[take]
            centre[idx], spread[idx], n_peers[idx] = med[take], 1.4826 * mad[take], n_o[take]
            label[idx] = [",".join(f"{c}={v}" for c, v in zip(cols, vals)) or "all"
                          for vals in zip(*[kk[take] for kk in keys])] if cols else "all"
            todo &= ~take
    df["centre"], df["n_peers"], df["peer_group"] = centre, n_peers, label
    floor = df["scale"].map(floors).astype(float).to_numpy()
    df["spread"] = np.fmax(spread, floor)
    se = df["se"].to_numpy(dtype=float) if "se" in df.columns else np.zeros(len(df))
    df["z"] = (df["y"] - df["centre"]) / np.sqrt(df["spread"] ** 2 + np.nan_to_num(se) ** 2)
    sc = df["scale"].to_numpy()
    # in the indicator's own unit; a value judged on another summary (the geometric mean of costs)
    # is shown against its band moved to the unit of the value: value x exp(centre - y)
    shift = np.where(np.isfinite(own_y), np.log(np.maximum(df["value"].to_numpy(dtype=float), _LOG_FLOOR)) - own_y, 0.0)
    c, w = df["centre"].to_numpy(dtype=float), df["spread"].to_numpy(dtype=float)
    df["baseline"] = inverse(c + shift, sc)
    df["band_low"] = inverse(c - z_band * w + shift, sc)
    df["band_high"] = inverse(c + z_band * w + shift, sc)
    return df


def level_changes(bands: pd.DataFrame, *, min_months: int = 6, min_before: int = 3, min_after: int = 2,
                  directions: Mapping[str, str] | None = None, sigma_floor: Mapping[str, float] | None = None,
                  auc_from: float = 2.0) -> pd.DataFrame:
    """The most likely level change of every series (entity, indicator): one row per series with
    ``change_period`` (first month after), ``stat`` (CUSUM change-point statistic, signed in the
    direction watched), ``p_value`` (Bonferroni over the splits tried), ``q_value`` (Benjamini-Hochberg
    across every series of ``bands``), ``shift_sigma`` (|after - before| / sigma), ``before``/``after`` (medians of the deviation from the centre, judging
    scale), ``sigma`` (month-to-month noise: the median moving range, at least the months' median
    standard error ``se`` when the frame has it), ``auc`` (rank separation of the months after from
    the months before, in the direction watched: 1 = every month after is higher; computed where
    ``|stat| >= auc_from``), ``n_months``. Series shorter than ``min_months``
    are left out; a change needs ``min_after`` months after it (a jump in the last month alone is
    not yet a level). ``directions``: per indicator ``up`` (default), ``down`` or ``both``.

    >>> rows = [("physician", "D1", f"2024-{m:02d}", "drug_share", 0.30 if m < 7 else 0.55) for m in range(1, 13)]
    >>> b = pd.DataFrame(rows, columns=["entity_type", "entity_id", "period", "indicator", "value"])
    >>> b["y"], b["centre"] = forward(b["value"], "share"), forward(np.full(12, 0.3), "share")
    >>> b["scale"] = "share"
    >>> c = level_changes(b)
    >>> c["change_period"].iloc[0], int(c["n_months"].iloc[0]), bool(c["stat"].iloc[0] > 4)
    ('2024-07', 12, True)
    """
    floors = {"log": 0.05, "share": 0.01, **(sigma_floor or {})}
    dirs = dict(directions or {})
    d = bands[["entity_type", "entity_id", "indicator", "period", "y", "centre", "scale"]].copy()
    d["se"] = bands["se"].to_numpy(dtype=float) if "se" in bands.columns else 0.0
    d = d[np.isfinite(d["y"]) & np.isfinite(d["centre"])]
    d["dev"] = d["y"] - d["centre"]
    d = d.sort_values(["entity_type", "entity_id", "indicator", "period"], kind="mergesort")
    d["series"] = d.groupby(["entity_type", "entity_id", "indicator"], sort=False).ngroup()
    d["pos"] = d.groupby("series").cumcount()
    n_by = d.groupby("series")["pos"].size()
    keep = n_by[n_by >= max(min_months, min_before + min_after)].index
    d = d[d["series"].isin(keep)]
    cols = ["entity_type", "entity_id", "indicator", "change_period", "stat", "auc", "before", "after", "sigma",
            "shift_sigma", "p_value", "q_value", "n_months", "scale"]
    if d.empty:
        return pd.DataFrame(columns=cols)
    sid = np.sort(d["series"].unique())
    row = np.searchsorted(sid, d["series"].to_numpy())
    T = int(d["pos"].max()) + 1
    X = np.full((len(sid), T), np.nan)
    X[row, d["pos"].to_numpy()] = d["dev"].to_numpy()
    P = np.full((len(sid), T), None, dtype=object)
    P[row, d["pos"].to_numpy()] = d["period"].to_numpy()
    n = np.isfinite(X).sum(axis=1)
    first = d.drop_duplicates("series").set_index("series").loc[sid]
    scale = first["scale"].to_numpy()
    ind = first["indicator"].to_numpy()
    # month-to-month noise from the moving ranges of the compressed series: the larger of the median
    # (robust to the one big range a level change makes) and the mean without the largest range
    # (a lumpy series, mostly flat with recurring jumps, has a median range of nearly 0)
    mr = np.abs(np.diff(X, axis=1))
    with np.errstate(all="ignore"):
        med_mr = np.nanmedian(mr, axis=1) / 0.954
        n_mr = np.isfinite(mr).sum(axis=1)
        top = np.nanmax(np.where(np.isfinite(mr), mr, -np.inf), axis=1)
        trimmed = (np.nansum(mr, axis=1) - np.where(n_mr > 0, top, 0.0)) / np.maximum(n_mr - 1, 1) / 1.128
    sigma = np.fmax(med_mr, trimmed)
    se_med = d.groupby("series")["se"].median().reindex(sid).fillna(0.0).to_numpy()
    sigma = np.maximum.reduce([np.nan_to_num(sigma, nan=0.0), se_med,
                               np.array([floors.get(s, 0.05) for s in scale])])
    sign = np.array([{"down": -1.0}.get(dirs.get(i, "up"), 1.0) for i in ind])
    both = np.array([dirs.get(i, "up") == "both" for i in ind])
    cs = np.cumsum(np.nan_to_num(X, nan=0.0), axis=1)
    total = cs[np.arange(len(sid)), n - 1]
    best = np.full(len(sid), -np.inf)
    best_tau = np.zeros(len(sid), dtype=int)
    for tau in range(min_before, T):
        valid = (n - tau) >= min_after
        if not valid.any():
            continue
        n1, n2 = tau, np.maximum(n - tau, 1)
        mb = cs[:, tau - 1] / n1
        ma = (total - cs[:, tau - 1]) / n2
        st = (ma - mb) / (sigma * np.sqrt(1.0 / n1 + 1.0 / n2))
        st = np.where(both, np.abs(st), st * sign)
        better = valid & (st > best)
        best = np.where(better, st, best)
        best_tau = np.where(better, tau, best_tau)
    idx = np.arange(len(sid))
    before = np.array([np.nanmedian(X[i, :best_tau[i]]) if best_tau[i] > 0 else np.nan for i in idx])
    after = np.array([np.nanmedian(X[i, best_tau[i]:n[i]]) if best_tau[i] > 0 else np.nan for i in idx])
    # rank separation at the change-point (Mann-Whitney: the share of (before, after) pairs in which
    # the after month is higher, ties half): a series flat at 0 that turns lumpy, or one that a
    # single wild month lifts, is not at a new level
    auc = np.full(len(sid), np.nan)
    for i in np.flatnonzero(np.isfinite(best) & (np.abs(best) >= auc_from) & (best_tau > 0)):
        bef, aft = X[i, :best_tau[i]], X[i, best_tau[i]:n[i]]
        diff = aft[:, None] - bef[None, :]
        a = float(((diff > 0) + 0.5 * (diff == 0)).mean())
        auc[i] = a if (both[i] and after[i] >= before[i]) or (not both[i] and sign[i] > 0) else 1.0 - a
    # significance: the statistic's p-value under no change (the deviations independent around one level with
    # the series' own noise), Bonferroni over the splits tried (a two-sided series: twice), then the
    # Benjamini-Hochberg q-value across every series of the frame: a city with more entities tests more
    # series, and the q-value keeps the expected share of false alarms among the changes, not their number
    k_splits = np.maximum(n - min_before - min_after + 1, 1).astype(float)
    stat = np.where(np.isfinite(best), best, 0.0)
    df = np.maximum(MR_DF * (n - 1.0), 1.0)
    tail = np.where(both, 2.0 * stdtr(df, -np.abs(stat)), stdtr(df, -stat))
    p_value = np.minimum(1.0, k_splits * tail)
    if both.any():   # a two-sided series: the statistic keeps the sign of the change
        raw = after - before
        best = np.where(both, np.sign(raw) * best, best)
        stat = np.where(np.isfinite(best), best, 0.0)
    out = pd.DataFrame({"entity_type": first["entity_type"].to_numpy(), "entity_id": first["entity_id"].to_numpy(),
                        "indicator": ind, "change_period": P[idx, best_tau], "stat": stat,
                        "auc": auc,
                        "before": before, "after": after, "sigma": sigma,
                        "shift_sigma": np.abs(after - before) / sigma, "p_value": p_value,
                        "q_value": bh_qvalues(p_value), "n_months": n, "scale": scale})
    return out[cols].reset_index(drop=True)


def bh_qvalues(p: np.ndarray | Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values): a series whose q-value is at most ``q`` is among the
    discoveries of the step-up procedure at false-discovery rate ``q`` (Benjamini & Hochberg 1995).

    >>> bh_qvalues([0.01, 0.04, 0.03, 0.5]).round(3).tolist()
    [0.04, 0.053, 0.053, 0.5]
    """
    p = np.asarray(p, dtype=float)
    m = len(p)
    if not m:
        return p.copy()
    order = np.argsort(p, kind="mergesort")
    ranked = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out


def period_changes(long: pd.DataFrame) -> pd.DataFrame:
    """Month-over-month (环比) and year-over-year (同比) relative change of every value, where the
    series has the month before / the same month a year before (NaN otherwise).

    >>> df = pd.DataFrame({"entity_type": "institution", "entity_id": "H1", "indicator": "avg_los",
    ...                    "period": ["2023-06", "2024-05", "2024-06"], "value": [8.0, 10.0, 12.0]})
    >>> period_changes(df)[["mom", "yoy"]].round(2).values.tolist()[-1]
    [0.2, 0.5]
    """
    df = long.copy()
    per = pd.PeriodIndex(df["period"], freq="M")
    key = ["entity_type", "entity_id", "indicator"]
    base = df[key].copy()
    base["value"] = df["value"].to_numpy(dtype=float)
    for col, lag in (("mom", 1), ("yoy", 12)):
        prev = base.copy()
        prev["period"] = (per + lag).astype(str)
        prev = prev.rename(columns={"value": "_prev"})
        cur = df[key + ["period"]].merge(prev, on=key + ["period"], how="left")
        with np.errstate(divide="ignore", invalid="ignore"):
            ch = df["value"].to_numpy(dtype=float) / cur["_prev"].to_numpy(dtype=float) - 1.0
        df[col] = np.where(np.isfinite(ch), ch, np.nan)
    return df
