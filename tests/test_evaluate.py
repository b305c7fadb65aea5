"""`evaluate` on hand-made results/truth directories whose metrics are computed by hand."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ringscope.models.evaluate import evaluate, format_report, ring_match_matrix


def _w(path: Path, rows: list[dict], columns: list[str] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)


@pytest.fixture()
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    ds, res = tmp_path / "city", tmp_path / "results"
    truth = ds / "truth"
    # dataset entity tables (only the id column matters to evaluate), with an extra column
    _w(ds / "persons.csv", [{"person_id": f"p{i}", "sex": "M"} for i in range(1, 7)])
    _w(ds / "physicians.csv", [{"physician_id": d, "institution_id": "i1"} for d in ("d1", "d2", "d3")])
    _w(ds / "institutions.csv", [{"institution_id": i, "kind": "clinic"} for i in ("i1", "i2")])
    _w(truth / "rings.csv", [
        {"ring_id": "R1", "scheme": "card_lending", "members": "person:p1;person:p2;person:p3;person:p4"},
        {"ring_id": "R2", "scheme": "collusive_prescribing",
         "members": "physician:d1;person:p5;person:p6;institution:i1"},
    ])
    _w(truth / "entities.csv", [
        {"entity_type": "person", "entity_id": "p1", "scheme": "card_lending", "ring_id": "R1"},
        {"entity_type": "person", "entity_id": "p2", "scheme": "card_lending", "ring_id": "R1"},
        {"entity_type": "physician", "entity_id": "d1", "scheme": "collusive_prescribing", "ring_id": "R2"},
        {"entity_type": "person", "entity_id": "p9", "scheme": "doctor_shopping", "ring_id": ""},
    ])
    _w(truth / "violations.csv", [
        {"visit_id": "v1", "line_id": "l1", "scheme_or_rule": "duplicate_charge"},
        {"visit_id": "v2", "line_id": "", "scheme_or_rule": "duplicate_charge"},
        {"visit_id": "v3", "line_id": "l3", "scheme_or_rule": "price_over_cap"},
        {"visit_id": "v4", "line_id": "", "scheme_or_rule": "card_lending"},
    ])
    # results: R = 2 -> top 6 leads. Rows deliberately not in score order.
    _w(res / "leads.csv", [
        {"lead_id": "L2", "scheme": "collusive_prescribing", "score": 0.8, "amount_at_risk": 1,
         "members": "physician:d1;person:p5;person:p7;person:p8;person:p10", "summary": "x"},  # 2/4 ring, 2/5 lead: no
        {"lead_id": "L1", "scheme": "card_lending", "score": 0.9, "amount_at_risk": 1,
         "members": "person:p1;person:p2;person:p3", "summary": "x"},                         # matches R1
        {"lead_id": "L3", "scheme": "doctor_shopping", "score": 0.7, "amount_at_risk": 1,
         "members": "person:p9;physician:d2;physician:d3", "summary": "x"},                   # lone actor
        {"lead_id": "L4", "scheme": "other", "score": 0.6, "amount_at_risk": 1,
         "members": "person:p20;person:p21", "summary": "x"},
        {"lead_id": "L5", "scheme": "collusive_prescribing", "score": 0.5, "amount_at_risk": 1,
         "members": "physician:d1;person:p5;person:p6", "summary": "x"},                      # matches R2
        {"lead_id": "L6", "scheme": "card_cashout", "score": 0.4, "amount_at_risk": 1,
         "members": "institution:i9;person:p30", "summary": "x"},
        {"lead_id": "L7", "scheme": "card_lending", "score": 0.3, "amount_at_risk": 1,
         "members": "person:p3;person:p4", "summary": "x"},                                   # outside top 6
    ])
    # persons p1..p6 (+p9 from truth): positives p1, p2, p9; scores p1 .9, p3 .8, p2 .7
    _w(res / "entity_scores.csv", [
        {"entity_type": "person", "entity_id": "p1", "score": 0.9, "reasons": "a", "extra": 1},
        {"entity_type": "person", "entity_id": "p3", "score": 0.8, "reasons": "b", "extra": 1},
        {"entity_type": "person", "entity_id": "p2", "score": 0.7, "reasons": "c", "extra": 1},
        {"entity_type": "physician", "entity_id": "d1", "score": 0.5, "reasons": "", "extra": 1},
        {"entity_type": "physician", "entity_id": "d2", "score": 0.6, "reasons": "", "extra": 1},
    ])
    _w(res / "rule_hits.csv", [
        {"hit_id": "h1", "rule_id": "R01", "visit_id": "v1", "violation_class": "duplicate_charge"},
        {"hit_id": "h2", "rule_id": "R01", "visit_id": "v3", "violation_class": "duplicate_charge"},
        {"hit_id": "h3", "rule_id": "R02", "visit_id": "v5", "violation_class": "price_over_cap"},
        {"hit_id": "h4", "rule_id": "R03", "visit_id": "v4", "violation_class": ""},
        {"hit_id": "h5", "rule_id": "R01", "visit_id": "v1", "violation_class": "duplicate_charge"},
    ])
    return res, truth


def test_ring_recall_and_precision(dirs):
    res, truth = dirs
    r = evaluate(res, truth)["rings"]
    assert (r["n_rings"], r["k"], r["n_leads"], r["n_top"]) == (2, 6, 7, 6)
    assert r["ring_recall_at_3R"] == pytest.approx(1.0)
    # correct in top 6: L1 (R1), L5 (R2), L3 (lone actor p9 of the same scheme)
    assert r["lead_precision_at_3R"] == pytest.approx(3 / 6)
    assert r["lead_precision_at_3R_rings_only"] == pytest.approx(2 / 6)
    assert r["lone_actor_recall_at_3R"] == pytest.approx(1.0)
    per = r["per_scheme"]
    assert per["collusive_prescribing"] == {"rings": 1, "found": 1, "recall": 1.0, "top_leads": 2,
                                            "correct_leads": 1, "precision": 0.5}
    assert per["card_lending"]["top_leads"] == 1 and per["card_lending"]["precision"] == 1.0
    assert per["other"]["precision"] == 0.0


def test_ring_cut_at_3R(dirs):
    res, truth = dirs
    leads = pd.read_csv(res / "leads.csv", dtype=str)
    leads.loc[leads["lead_id"] == "L5", "score"] = "0.1"   # R2's only match falls out of the top 6
    leads.to_csv(res / "leads.csv", index=False)
    r = evaluate(res, truth)["rings"]
    assert r["ring_recall_at_3R"] == pytest.approx(0.5)
    assert r["missed_rings"] == ["R2"]
    # top 6 now holds L7 (p3, p4 of R1: 2/4 ring and 2/2 lead -> a match)
    assert r["lead_precision_at_3R"] == pytest.approx(3 / 6)


def test_lone_actor_lead_needs_matching_scheme(dirs):
    res, truth = dirs
    leads = pd.read_csv(res / "leads.csv", dtype=str)
    leads.loc[leads["lead_id"] == "L3", "scheme"] = "card_cashout"
    leads.to_csv(res / "leads.csv", index=False)
    r = evaluate(res, truth)["rings"]
    assert r["lead_precision_at_3R"] == pytest.approx(2 / 6)


def test_entity_ap_auc_by_hand(dirs):
    res, truth = dirs
    e = evaluate(res, truth)["entities"]
    p = e["person"]
    # universe: p1..p6 from persons.csv + p9 (truth); positives p1, p2, p9
    assert (p["n"], p["n_pos"], p["universe"]) == (7, 3, "dataset")
    # ranking: p1+, p3-, p2+, then ties at 0 (p4, p5, p6 negative, p9 positive)
    # AP (sklearn, ties as one threshold): 1/3*1 + 1/3*(2/3) + 1/3*(3/7)
    assert p["ap"] == pytest.approx((1 + 2 / 3 + 3 / 7) / 3)
    # AUC: 3 pos x 4 neg = 12 pairs: p1 beats 4, p2 beats 3, p9 ties 3 (0.5 each) -> (4+3+1.5)/12
    assert p["auc"] == pytest.approx(8.5 / 12)
    d = e["physician"]
    # d1 (pos) .5 < d2 (neg) .6 > d3 0: AP = precision at recall 1 = 1/2; AUC = 1/2
    assert d["ap"] == pytest.approx(0.5) and d["auc"] == pytest.approx(0.5)
    assert e["institution"]["ap"] is None     # no positive institution


def test_violation_recall_and_precision(dirs):
    res, truth = dirs
    v = evaluate(res, truth)["violations"]
    c = v["classes"]
    assert c["duplicate_charge"] == {"truth_visits": 2, "recall_same_class": 0.5, "recall_any_rule": 0.5}
    assert c["price_over_cap"]["recall_same_class"] == 0.0 and c["price_over_cap"]["recall_any_rule"] == 1.0
    assert c["card_lending"]["recall_any_rule"] == 1.0
    p = v["precision"]
    assert p["duplicate_charge"] == {"hit_visits": 2, "precision": 0.5, "precision_any": 1.0}
    assert p["price_over_cap"] == {"hit_visits": 1, "precision": 0.0, "precision_any": 0.0}
    assert v["visit_recall_any"] == pytest.approx(3 / 4)
    assert v["visit_precision_any"] == pytest.approx(3 / 4)


def test_missing_files_and_universe_fallback(tmp_path, dirs):
    res, truth = dirs
    # no dataset tables beside this truth: universe = scored + truth
    t2 = tmp_path / "elsewhere" / "truth"
    t2.mkdir(parents=True)
    for f in ("rings.csv", "entities.csv"):
        (t2 / f).write_bytes((truth / f).read_bytes())
    rep = evaluate(res, t2)
    assert rep["entities"]["person"]["universe"] == "scored+truth"
    assert rep["entities"]["person"]["n"] == 4          # p1, p2, p3, p9
    assert rep["violations"]["classes"] == {}
    assert any("violations.csv" in m for m in rep["missing"])
    empty = tmp_path / "empty"
    empty.mkdir()
    rep = evaluate(empty, t2)
    assert rep["rings"]["ring_recall_at_3R"] == 0.0 and rep["rings"]["lead_precision_at_3R"] is None
    txt = format_report(rep)
    assert "ring recall@3R" in txt and "leads.csv" in txt


def test_match_matrix_half_rule():
    L = [frozenset({"a", "b"}), frozenset({"a", "b", "c", "d", "e"})]
    T = [frozenset({"a", "b", "c", "d"})]
    assert ring_match_matrix(L, T).ravel().tolist() == [True, True]
    assert ring_match_matrix([frozenset({"a"})], T).ravel().tolist() == [False]


def test_report_text(dirs):
    res, truth = dirs
    txt = format_report(evaluate(res, truth))
    assert "| collusive_prescribing | 1 | 1 | 1.000 | 2 | 1 | 0.500 |" in txt
    assert "| person | 7 | 3 | 3 |" in txt
