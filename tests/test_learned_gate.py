"""The learned models earn their place: a held-out check on closed cases and a time budget."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ringscope.pipeline.learned import held_out_ap, split_cases

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def test_split_keeps_entities_whole_and_stratifies():
    kc = pd.DataFrame({"case_id": [f"k{i}" for i in range(12)], "entity_type": "person",
                       "entity_id": ["a", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"],
                       "label": ["fraud", "cleared"] + ["fraud"] * 4 + ["cleared"] * 6})
    tr, te = split_cases(kc, 0.4, seed=3)
    assert set(tr["entity_id"]).isdisjoint(te["entity_id"])          # an entity on one side only
    assert len(tr) + len(te) == len(kc)
    lab = te.groupby("entity_id")["label"].agg(lambda s: "fraud" if (s == "fraud").any() else "cleared")
    assert (lab == "fraud").sum() == 2 and (lab == "cleared").sum() == 2   # 'a' counts as fraud


def test_held_out_ap():
    cases = pd.DataFrame({"entity_type": "person", "entity_id": ["a", "b", "c"], "label": ["fraud", "cleared", "fraud"]})
    perfect = pd.DataFrame({"entity_type": "person", "entity_id": ["a", "b", "c"], "score": [0.9, 0.1, 0.8]})
    assert held_out_ap(perfect, cases) == pytest.approx(1.0)
    worst = perfect.assign(score=[0.1, 0.9, 0.0])
    assert held_out_ap(worst, cases) < 0.7


@pytest.fixture(scope="module")
def labelled_city(tmp_path_factory) -> Path:
    from ringscope.synth.generator import generate

    out = tmp_path_factory.mktemp("lab") / "city"
    generate(out, persons=2500, seed=7, config=str(REPO / "bench" / "city_labelled.yaml"))
    return out


def test_too_few_cases_skip_the_learned_models_and_say_why(tmp_path):
    from ringscope.pipeline import detect
    from ringscope.synth.generator import generate

    city = tmp_path / "c"
    generate(city, persons=1200, seed=3)
    s = detect(city, tmp_path / "r", neo4j=False, config={"pipeline": {"min_labels": 1000}})
    assert set(s["learned"]) == {"xgb_neighbour", "gnn_autoencoder", "gnn_hetero"}
    assert all(not r["kept"] and "1000 of each needed" in r["why"] for r in s["learned"].values())
    assert s["skipped_detectors"]["gnn_hetero"].startswith("skipped:")
    assert "learned" in s["timings"] and s["timings"]["learned"] < 1.0        # nothing was trained
    assert s["counts"]["model_explanations"] == 0


def test_the_held_out_check_decides(labelled_city, tmp_path):
    from ringscope.pipeline import detect

    only_xgb = {"detectors": {"gnn_autoencoder": {"enabled": False}, "gnn_hetero": {"enabled": False}}}
    strict = {**only_xgb, "pipeline": {"learned_min_lift": 0.5, "learned_max_share": None}}
    s = detect(labelled_city, tmp_path / "strict", neo4j=False, config=strict)
    r = s["learned"]["xgb_neighbour"]
    assert r["train_cases"] > 0 and r["held_out_cases"] >= 6
    assert 0.0 <= r["held_out_ap_without"] <= 1.0 and 0.0 <= r["held_out_ap_with"] <= 1.0
    assert r["kept"] == (r["lift"] >= 0.5)
    es = pd.read_csv(tmp_path / "strict" / "entity_scores.csv", dtype=str, keep_default_na=False)
    assert es["reasons"].str.contains("xgb_neighbour").any() == r["kept"]
    # a model that is always welcome joins the run: its scores reach the entity scores
    s2 = detect(labelled_city, tmp_path / "keep", neo4j=False,
                config={**only_xgb, "pipeline": {"learned_min_lift": -1.0, "learned_max_share": None}})
    assert s2["learned"]["xgb_neighbour"]["kept"]
    assert s2["learned"]["xgb_neighbour"]["held_out_ap_with"] == r["held_out_ap_with"]   # same split, same fit
    es2 = pd.read_csv(tmp_path / "keep" / "entity_scores.csv", dtype=str, keep_default_na=False)
    assert es2["reasons"].str.contains("xgb_neighbour").any()
    assert s2["counts"]["model_explanations"] > 0


def test_the_time_budget_skips_the_rest(labelled_city, tmp_path):
    from ringscope.pipeline import detect

    s = detect(labelled_city, tmp_path / "budget", neo4j=False,
               config={"pipeline": {"learned_min_lift": -1.0, "learned_max_share": 0.001}})
    rep = s["learned"]
    assert "seconds" in rep["xgb_neighbour"]                                  # the first one runs
    assert "time budget" in rep["gnn_autoencoder"]["why"] and "time budget" in rep["gnn_hetero"]["why"]
