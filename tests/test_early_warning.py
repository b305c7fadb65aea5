"""Early warning's level-change step (graph/indicators.py ``level_changes``, ``bh_qvalues``) and the
detector's judgement (models/detectors/early_warning.py) on series built here: noise without a shift
raises nothing, a sustained shift does, a blip does not, and the false alarms of a fixed threshold grow
with the number of entities while those of the q-value do not."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ringscope.graph.indicators import bh_qvalues, level_changes
from ringscope.models.config import load_config

MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]


def _bands(series: dict[str, np.ndarray], indicator: str = "drug_share") -> pd.DataFrame:
    """A bands frame (the judging scale) of one indicator for entities ``series`` (id -> 12 deviations
    from a peer centre of 0.30)."""
    rows = [("physician", eid, p, indicator, 0.30 + float(d), 0.30, "share", 0.005)
            for eid, dev in series.items() for p, d in zip(MONTHS, dev)]
    b = pd.DataFrame(rows, columns=["entity_type", "entity_id", "period", "indicator", "y", "centre", "scale", "se"])
    b["value"] = b["y"]
    return b


def _noise(n: int, seed: int, sd: float = 0.02) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"N{i:04d}": rng.normal(0.0, sd, 12) for i in range(n)}


def _sustained(sd: float = 0.02, shift: float = 0.15, seed: int = 99) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, sd, 12) + np.r_[np.zeros(6), np.full(6, shift)]


def test_noise_without_shift_is_not_significant_and_a_sustained_shift_is():
    series = _noise(300, seed=1)
    series["SHIFT"] = _sustained()
    ch = level_changes(_bands(series)).set_index("entity_id")
    assert {"p_value", "q_value", "shift_sigma"} <= set(ch.columns)
    assert ((ch["p_value"] >= 0) & (ch["p_value"] <= 1)).all()
    assert (ch["q_value"] >= ch["p_value"] - 1e-12).all()           # BH never lowers a p-value
    shifted = ch.loc["SHIFT"]
    assert shifted["change_period"] == "2024-07" and shifted["q_value"] <= 0.05 and shifted["shift_sigma"] > 3
    noise = ch.drop(index="SHIFT")
    assert (noise["q_value"] > 0.05).all(), noise.sort_values("q_value").head()


def test_more_entities_do_not_mean_more_false_alarms():
    """A fixed threshold on the statistic: false alarms grow with the number of noise series; the
    Benjamini-Hochberg q-value over all of them: none, at 100 entities as at 2,000."""
    counts = {}
    for n in (100, 2000):
        series = _noise(n, seed=n)
        series["SHIFT"] = _sustained()
        ch = level_changes(_bands(series))
        noise = ch[ch["entity_id"] != "SHIFT"]
        counts[n] = (int((noise["stat"] >= 3.0).sum()), int((noise["q_value"] <= 0.05).sum()),
                     float(ch.loc[ch["entity_id"] == "SHIFT", "q_value"].iloc[0]))
    assert counts[2000][0] > counts[100][0]                          # the fixed threshold's false alarms grow
    assert counts[100][1] == 0 and counts[2000][1] == 0, counts       # the q-value's do not
    assert counts[100][2] <= 0.05 and counts[2000][2] <= 0.05, counts


def test_bh_qvalues_step_up():
    p = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216])
    q = bh_qvalues(p)
    # the step-up procedure at 0.05 rejects the two smallest (0.008 <= 0.05 * 2 / 10; 0.039 > 0.05 * 3 / 10, ...)
    assert (q <= 0.05).sum() == 2
    assert np.allclose(q[:2], [0.01, 0.04])
    assert np.all(np.diff(q) >= -1e-12)                               # monotone in p
    assert bh_qvalues(np.array([])).size == 0


def _agg(months: list[str], eids: list[str], drug: dict[str, list[float]]) -> pd.DataFrame:
    """Monthly aggregates (``warning_monthly.sql``'s columns) of physicians with a drug share by month."""
    rows = []
    for eid in eids:
        for m, share in zip(months, drug[eid]):
            amount = 10000.0
            rows.append({"entity_type": "physician", "entity_id": eid, "period": m, "n_visits": 100, "n_persons": 80,
                         "amount": amount, "n_ambulatory": 100, "amount_ambulatory": amount, "n_outpatient": 100,
                         "n_admissions": 0, "amount_inpatient": None, "los_days": None, "n_readmissions": None,
                         "fund_paid": 0.6 * amount, "amount_with_fund": amount, "n_lines": 300, "line_amount": amount,
                         "drug_amount": share * amount, "material_amount": 0.0, "exam_amount": 0.1 * amount,
                         "high_value_amount": 0.0, "n_line_visits": 100,
                         "drug_amount_sq": 100 * (share * amount / 100) ** 2,
                         "drug_amount_x": 100 * (share * amount / 100) * (amount / 100),
                         "line_amount_sq": 100 * (amount / 100) ** 2})
    return pd.DataFrame(rows)


def test_detector_warns_a_sustained_shift_not_noise_nor_a_blip():
    rng = np.random.default_rng(5)
    eids = [f"D{i:03d}" for i in range(40)]
    drug = {e: list(0.30 + rng.normal(0, 0.02, 12)) for e in eids}
    drug["D000"] = list(0.30 + rng.normal(0, 0.02, 12) + np.r_[np.zeros(6), np.full(6, 0.20)])    # sustained
    drug["D001"] = list(0.30 + rng.normal(0, 0.02, 12) + np.r_[np.zeros(7), [0.20, 0.20], np.zeros(3)])   # a blip
    agg = _agg(MONTHS, eids, drug)
    peers = pd.DataFrame({"entity_type": "physician", "entity_id": eids, "kind": "clinic", "level": "1",
                          "specialty": "内科"})
    det = load_config(None).make("early_warning").set_params(indicators=["drug_share"])
    det.judge(agg, peers)
    warned = set(det.warnings_["entity_id"])
    assert warned == {"D000"}, det.warnings_[["entity_id", "period", "level", "kind_of"]]
    w = det.warnings_
    assert (w["kind_of"] == "level_change").all() and w["level"].isin(["red", "orange"]).any()
    assert (w["period"] >= "2024-07").all()
    ch = det.changes_.set_index("entity_id")
    assert ch.loc["D000", "q_value"] <= det.params["fdr"]
