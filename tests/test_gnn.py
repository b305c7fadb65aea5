"""Learned models on the project's own data: features, HeteroData export, training, persistence.

Real training (small, seeded, CPU). The generated-city tests need
``ringscope.synth.generator``; they build a small city once per module.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ringscope.models.base import Context
from ringscope.models.learned.features import EDGE_TYPES, build_features, labels_from_cases, node_index, to_hetero_data

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- a tiny city by hand
def _ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s)


@pytest.fixture()
def tiny() -> Context:
    inst = pd.DataFrame({"institution_id": ["H1", "RX1"], "kind": ["hospital", "pharmacy"], "level": [3, None],
                         "ownership": ["public", "private"], "has_face_terminal": [True, False]})
    phys = pd.DataFrame({"physician_id": ["D1", "D2"], "institution_id": ["H1", "H1"]})
    pers = pd.DataFrame({"person_id": ["A", "B", "C"], "sex": ["M", "F", "M"],
                         "birth_date": pd.to_datetime(["1950-01-01", "1990-01-01", "2000-01-01"]),
                         "chronic_conditions": [("E11",), (), ()], "insurance_type": ["employee", "resident", None],
                         "death_date": pd.to_datetime([None, None, "2024-02-01"])})
    visits = pd.DataFrame({
        "visit_id": ["v1", "v2", "v3", "v4", "v5"],
        "person_id": ["A", "A", "B", "C", "A"],
        "institution_id": ["H1", "RX1", "H1", "RX1", "RX1"],
        "physician_id": ["D1", "D1", "D2", None, "D1"],
        "visit_type": ["outpatient", "pharmacy", "inpatient", "pharmacy", "pharmacy"],
        "start_time": [_ts("2024-03-01 09:00"), _ts("2024-03-02 23:30"), _ts("2024-03-05 10:00"),
                       _ts("2024-03-09 11:00"), _ts("2024-03-10 12:00")],
        "end_time": [pd.NaT, pd.NaT, _ts("2024-03-08 10:00"), pd.NaT, pd.NaT],
        "total_amount": [100.0, 300.0, 5000.0, 50.0, 200.0],
        "fund_paid": [50.0, 0.0, 4000.0, 0.0, 100.0],
        "account_paid": [50.0, 300.0, 1000.0, 50.0, 100.0],
        "payer_person_id": [None, "B", None, None, None],
    })
    lines = pd.DataFrame({"line_id": ["l1", "l2", "l3", "l4"], "visit_id": ["v1", "v2", "v2", "v3"],
                          "item_code": ["X", "Y", "Y", "S"], "quantity": [1.0, 2.0, 1.0, 1.0],
                          "unit_price": [100.0, 100.0, 100.0, 5000.0], "amount": [100.0, 200.0, 100.0, 5000.0]})
    cat = pd.DataFrame({"item_code": ["X", "Y", "S"], "name": ["x", "y", "s"],
                        "item_type": ["drug", "drug", "service"], "insurance_class": ["A", "C", "A"],
                        "price_cap": [150.0, 50.0, None]})
    caps = pd.DataFrame({"capture_id": ["c1", "c2", "c3"], "institution_id": ["RX1"] * 3,
                         "location": ["settlement"] * 3, "capture_time": [_ts("2024-03-02 23:31")] * 3,
                         "visit_id": ["v2", "v4", "v5"], "claimed_person_id": ["A", "C", "A"]})
    hits = pd.DataFrame({"hit_id": ["h1", "h2"], "rule_id": ["R1", "R2"], "severity": ["high", "low"],
                         "entity_type": ["person", "person"], "entity_id": ["A", "A"], "visit_id": ["v2", "v5"],
                         "amount_at_risk": [300.0, 10.0], "category": ["identity", "pricing"],
                         "person_id": ["A", "A"], "institution_id": ["RX1", "RX1"], "physician_id": ["D1", "D1"]})
    fm = pd.DataFrame({"capture_id": ["c1", "c2", "c3"], "verdict": ["mismatch", "match", "mismatch"]})
    fi = pd.DataFrame({"capture_id": ["c1", "c2", "c3"], "face_id": ["F1", "F1", "F2"]})
    kc = pd.DataFrame({"case_id": ["K1", "K2"], "entity_type": ["person", "person"], "entity_id": ["A", "B"],
                       "label": ["fraud", "cleared"]})
    tables = {"institutions": inst, "physicians": phys, "persons": pers, "visits": visits, "claim_lines": lines,
              "catalog": cat, "face_captures": caps, "known_cases": kc}
    return Context(tables=tables, rule_hits=hits, face_matches=fm, face_identities=fi)


def test_features_on_a_hand_built_city(tiny: Context) -> None:
    f = build_features(tiny)
    p, d, i = f["person"], f["physician"], f["institution"]
    assert list(p.index) == ["A", "B", "C"] and list(i.index) == ["H1", "RX1"]
    assert p.loc["A", "n_visits"] == pytest.approx(np.log1p(3))
    assert p.loc["A", "night_share"] == pytest.approx(1 / 3)
    assert p.loc["A", "share_pharmacy"] == pytest.approx(2 / 3)
    assert p.loc["A", "paid_by_others"] == pytest.approx(np.log1p(1))
    assert p.loc["B", "pays_for_others"] == pytest.approx(np.log1p(1))
    assert p.loc["A", "rule_cat_identity"] == pytest.approx(np.log1p(1))
    assert p.loc["A", "rule_sev_high"] == pytest.approx(np.log1p(1)) and p.loc["B", "rule_hits"] == 0
    assert p.loc["A", "face_mismatch_rate"] == 1.0 and p.loc["C", "face_mismatch_rate"] == 0.0
    assert p.loc["A", "n_chronic"] == 1 and p.loc["C", "deceased"] == 1
    assert p.loc["C", "visits_after_death"] == 1
    # A's lines: X 100 (A class), Y 300 (class C, above cap)
    assert p.loc["A", "amount_share_class_c"] == pytest.approx(300 / 400)
    assert p.loc["A", "share_lines_over_cap"] == pytest.approx(2 / 3)
    assert p.loc["A", "item_hhi"] == pytest.approx(0.25 ** 2 + 0.75 ** 2)
    assert i.loc["RX1", "kind_pharmacy"] == 1 and i.loc["H1", "kind_hospital"] == 1
    assert i.loc["RX1", "external_prescription_share"] == pytest.approx(2 / 3)
    assert d.loc["D1", "external_share"] == pytest.approx(2 / 3)
    assert d.loc["D1", "n_patients"] == pytest.approx(np.log1p(1))
    for frame in f.frames.values():
        assert np.isfinite(frame.to_numpy()).all()


def test_features_without_optional_tables(tiny: Context) -> None:
    bare = Context(tables={k: v for k, v in tiny.tables.items()
                           if k in ("institutions", "physicians", "persons", "visits", "claim_lines", "catalog")})
    f = build_features(bare)
    assert not any(c.startswith(("rule_", "face_")) for c in f.names("person"))
    data = to_hetero_data(bare, f)
    assert data["person", "shares_face", "person"].edge_index.shape == (2, 0)
    assert data["person", "visited", "institution"].edge_index.shape[1] == 4


def test_hetero_data_edges_and_ids(tiny: Context) -> None:
    data = to_hetero_data(tiny)
    assert set(data.node_types) == {"person", "physician", "institution"}
    for s, r, d in EDGE_TYPES:
        assert (s, r, d) in data.edge_types and (d, f"rev_{r}", s) in data.edge_types
    pi, ii, di = node_index(data, "person"), node_index(data, "institution"), node_index(data, "physician")

    def pairs(et, a, b):
        e = data[et].edge_index
        return {(a.index[s], b.index[t]) for s, t in e.t().tolist()}

    assert pairs(("person", "visited", "institution"), pi, ii) == {("A", "H1"), ("A", "RX1"), ("B", "H1"),
                                                                   ("C", "RX1")}
    assert pairs(("physician", "prescribed_to_pharmacy", "institution"), di, ii) == {("D1", "RX1")}
    assert pairs(("person", "pays_for", "person"), pi, pi) == {("B", "A")}
    assert pairs(("person", "shares_face", "person"), pi, pi) == {("A", "C"), ("C", "A")}
    assert data["person"].x.shape == (3, len(data["person"].feature_names))
    lab = labels_from_cases(tiny)
    assert lab.set_index("entity_id")["label"].to_dict() == {"A": 1, "B": 0}


def test_every_convolution_trains_saves_and_reloads(tiny: Context, tmp_path: Path) -> None:
    """Each backbone convolution trains, reloads to the same scores, and is its own model.

    R-GCN once was ``GraphConv`` with mean aggregation -- the same function as
    hetero SAGE, with bit-identical scores; it must differ from SAGE now.
    """
    from ringscope.models.detectors.gnn_hetero import HeteroGNNDetector
    from ringscope.models.learned.nn import CONVS
    from ringscope.models.learned.persist import load

    scores = {}
    for conv in CONVS:
        det = HeteroGNNDetector(conv=conv, seed=0, hidden=8, epochs=5).fit(tiny)
        s = det.decision_scores_["score"].to_numpy()
        assert np.isfinite(s).all() and ((s >= 0) & (s <= 1)).all(), conv
        back = load(det.save(tmp_path / conv))
        assert back.get_params()["conv"] == conv
        np.testing.assert_allclose(back.decision_function(tiny)["score"].to_numpy(), s, rtol=1e-5, atol=1e-6)
        scores[conv] = s
    for a in CONVS:
        for b in CONVS:
            if a < b:
                assert not np.allclose(scores[a], scores[b], atol=1e-6), (a, b)


# ----------------------------------------------------------------------------- a generated city
@pytest.fixture(scope="module")
def city(tmp_path_factory) -> tuple[Context, pd.DataFrame]:
    gen = pytest.importorskip("ringscope.synth.generator")
    from ringscope.ingest.reader import read_dataset

    out = tmp_path_factory.mktemp("city")
    # the original city model (synth/legacy.yaml), on which the floors below were measured: this
    # tests that the models learn, the harder city of this round is judged in bench/
    gen.generate(out, persons=600, seed=11, config=gen.LEGACY_PATH)
    ds = read_dataset(out, encode_images=False)
    truth = pd.read_csv(out / "truth" / "entities.csv", dtype=str)
    return Context(tables=ds.tables), truth


def _auc_on_unlabelled(ctx: Context, truth: pd.DataFrame, scores: pd.DataFrame) -> float:
    from sklearn.metrics import roc_auc_score

    pos = set(zip(truth["entity_type"], truth["entity_id"]))
    kc = ctx.table("known_cases")
    seen = set(zip(kc["entity_type"], kc["entity_id"]))
    keys = list(zip(scores["entity_type"], scores["entity_id"]))
    keep = np.array([k not in seen for k in keys])
    y = np.array([k in pos for k in keys])[keep]
    return roc_auc_score(y, scores["score"].to_numpy()[keep])


def test_city_models_rank_truth_above_clean(city, tmp_path: Path) -> None:
    from ringscope.models.detectors.gnn_autoencoder import GraphAEDetector
    from ringscope.models.detectors.gnn_hetero import HeteroGNNDetector
    from ringscope.models.learned.persist import load
    from ringscope.models.detectors.xgb_neighbour import NeighbourXGBDetector

    ctx, truth = city
    assert len(ctx.table("known_cases")) > 0
    aucs = {}
    for det in (NeighbourXGBDetector(seed=0, n_estimators=150), GraphAEDetector(seed=0, epochs=30),
                HeteroGNNDetector(seed=0, hidden=32, epochs=40)):
        det.fit(ctx)
        s = det.decision_scores_
        assert s["score"].between(0, 1).all()
        assert set(s["entity_type"]) == {"person", "physician", "institution"}
        assert len(s) == sum(len(ctx.table(t)) for t in ("persons", "physicians", "institutions"))
        aucs[det.name] = _auc_on_unlabelled(ctx, truth, s)
        # persistence: same scores from the saved model on the same data, without refitting
        path = det.save(tmp_path / det.name)
        back = load(path)
        assert back.metadata()["seed"] == 0 and back.metadata()["feature_names"] == det.feature_names_
        again = back.decision_function(ctx)
        np.testing.assert_allclose(again["score"].to_numpy(), s["score"].to_numpy(), rtol=1e-5, atol=1e-6)
        # an explanation names features and neighbours
        top = s[s["entity_type"] == "person"].sort_values("score").iloc[-1]
        ex = back.explain("person", top["entity_id"], ctx=ctx)
        # the entity's own feature, or (neighbour-aggregating models) a relation's mean/max of one
        top_f = ex["features"][0]["feature"] if ex["features"] else ""
        own = set().union(*map(set, det.feature_names_.values()))
        assert top_f in own or (top_f.count(":") == 2 and top_f.split(":")[1] in ("mean", "max")
                                and top_f.split(":")[2] in own), top_f
        assert all(n["entity_type"] in ("person", "physician", "institution") for n in ex["neighbours"])
        # several at once (shared work done once) give the same explanations; unknown ids are skipped
        inst = s[s["entity_type"] == "institution"].sort_values("score").iloc[-1]["entity_id"]
        many = back.explain_many([("person", top["entity_id"]), ("person", "nobody"), ("institution", inst)])
        assert [(m["entity_type"], m["entity_id"], m["model"]) for m in many] == \
            [("person", top["entity_id"], det.name), ("institution", inst, det.name)]
        one = back.explain("institution", inst)
        for a, b in ((many[0], ex), (many[1], one)):
            assert [f["feature"] for f in a["features"]] == [f["feature"] for f in b["features"]]
            np.testing.assert_allclose([f["contribution"] for f in a["features"]],
                                       [f["contribution"] for f in b["features"]], rtol=1e-5, atol=1e-7)
            assert [n["entity_id"] for n in a["neighbours"]] == [n["entity_id"] for n in b["neighbours"]]
            assert a["score"] == pytest.approx(b["score"])
    print("city AUCs", aucs)
    assert aucs["xgb_neighbour"] >= CITY_AUC["xgb_neighbour"], aucs
    assert aucs["gnn_autoencoder"] >= CITY_AUC["gnn_autoencoder"], aucs
    assert aucs["gnn_hetero"] >= CITY_AUC["gnn_hetero"], aucs


# measured on this city (persons=600, seed=11): xgb 0.725, autoencoder 0.776, GNN 0.688 (R-GCN default;
# 0.665 with SAGE); minus a margin
CITY_AUC = {"xgb_neighbour": 0.65, "gnn_autoencoder": 0.70, "gnn_hetero": 0.60}
