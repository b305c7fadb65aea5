"""Outcomes teach the models (issue 15 item 4): investigators' verdicts stored in the real Neo4j come
back as labels (``store/feedback.py``, ``cypher/feedback/*``), join ``known_cases`` by the documented
precedence (``ringscope/pipeline/feedback.py``), change what guilt by association and fusion see in a
real ``detect``; the review queue (active learning) ranks as documented, deterministically, is stored
by detect and read by the app's leads page (AppTest)."""
from __future__ import annotations

import json
import uuid
from datetime import datetime

import pandas as pd
import pytest

from ringscope.pipeline.feedback import TablesWithLabels, merge_labels, read_labels, review_queue
from ringscope.store.feedback import outcome_labels, read_review_queue, write_review_queue
from ringscope.store.findings import write_findings


# ------------------------------------------------------------------------------ precedence (pure)
def test_the_later_dated_outcome_wins():
    kc = pd.DataFrame({"case_id": ["k1", "k2", "k3", "k4", "k5", "k5b"], "entity_type": "person",
                       "entity_id": ["1", "2", "3", "4", "5", "5"],
                       "label": ["fraud", "cleared", "fraud", "fraud", "cleared", "fraud"], "scheme": "card_lending",
                       "closed_on": ["2024-01-01", "2025-06-01", None, "2025-03-01", "2024-01-01", "2023-01-01"]})
    oc = pd.DataFrame({"case_id": ["o1", "o2", "o3", "o4", "o6a", "o6b"], "entity_type": "person",
                       "entity_id": ["1", "2", "3", "4", "6", "6"],
                       "label": ["cleared", "fraud", "cleared", "cleared", "cleared", "fraud"], "scheme": "other",
                       "closed_on": ["2025-03-01", "2025-03-01", "2020-01-01", "2025-03-01", "2025-05-01", "2025-05-01"],
                       "closed_at": ["2025-03-01T10:00", "2025-03-01T10:00", "2020-01-01T00:00", "2025-03-01T09:00",
                                     "2025-05-01T16:00", "2025-05-01T09:00"],
                       "source": "lead"})
    m = merge_labels(kc, oc).sort_values(["entity_id", "case_id"])
    got = {(r.entity_id, r.label, r.source) for r in m.itertuples()}
    assert ("1", "cleared", "lead") in got           # confirmed in 2024, cleared on review in 2025: cleared
    assert ("2", "cleared", "known_cases") in got    # the dataset's later case (2025-06) beats the review
    assert ("3", "cleared", "lead") in got           # an undated case is older than any dated outcome
    assert ("4", "cleared", "lead") in got           # same date: the investigator's outcome beats the dataset's
    assert ("6", "cleared", "lead") in got           # two reviews of one day: the later time wins
    # one row per entity an outcome speaks of; untouched entities keep every row they had
    assert m.groupby("entity_id").size().to_dict() == {"1": 1, "2": 1, "3": 1, "4": 1, "5": 2, "6": 1}
    assert set(m.loc[m["entity_id"] == "5", "case_id"]) == {"k5", "k5b"}
    # no outcomes: known_cases as it was
    assert merge_labels(kc, None)[["case_id", "label"]].values.tolist() == kc[["case_id", "label"]].values.tolist()


def test_a_bad_labels_file_is_a_clear_error(tmp_path):
    p = tmp_path / "l.csv"
    p.write_text("entity_type,entity_id,label,closed_on\nperson,P1,fraud,2025-01-02\nperson,P2,guilty,2025-01-02\n")
    with pytest.raises(ValueError, match=r"row 2, column label: 'guilty'"):
        read_labels(p)
    p.write_text("entity_type,entity_id,label,closed_on\nperson,P1,fraud,yesterday\n")
    with pytest.raises(ValueError, match=r"row 1, column closed_on"):
        read_labels(p)
    p.write_text("entity_id,label\nP1,fraud\n")
    with pytest.raises(ValueError, match="missing column.*entity_type"):
        read_labels(p)
    p.write_text("entity_type,entity_id,label\nperson,P1,fraud\n")
    assert read_labels(p)["case_id"].tolist() == ["label:person:P1:0"]


# ------------------------------------------------------------------------------ review queue (pure)
POOL = pd.DataFrame({
    "lead_id": ["A", "B", "C", "D", "E", "F"],
    "scheme": ["card_lending", "card_lending", "card_lending", "ghost_admission", "ghost_admission", "drug_resale"],
    "score": [0.50, 0.52, 0.95, 0.60, 0.48, 0.40],
    "amount_at_risk": [10_000.0, 10_000.0, 1_000_000.0, 50_000.0, 10_000.0, 200.0],
    "members": ["person:1;person:2", "person:1;person:2;person:3", "person:9", "person:4;institution:H1",
                "person:5;person:6", "person:7;person:8"]})


def test_review_queue_ranks_as_documented():
    q = review_queue(POOL, n=6)
    # uncertainty 1 - |p - 0.5| / 0.5; amount weight log1p(a)/log1p(1e6); priority u*(0.5+0.5a)*novelty
    row = q.set_index("lead_id")
    assert row.loc["A", "uncertainty"] == pytest.approx(1.0)
    assert row.loc["D", "uncertainty"] == pytest.approx(0.8)
    assert row.loc["C", "uncertainty"] == pytest.approx(0.1)
    import numpy as np

    a = np.log1p(50_000.0) / np.log1p(1_000_000.0)
    assert row.loc["D", "priority"] == pytest.approx(0.8 * (0.5 + 0.5 * a), abs=1e-5)
    # A first (most uncertain); B overlaps A (Jaccard 2/3) and shares its scheme: it falls behind every
    # other scheme's lead though its own priority equals E's; D, a second ghost-admission lead, is worth
    # half once E is in: the drug-resale lead F, less uncertain and smaller, goes before it
    assert q["lead_id"].tolist() == ["A", "E", "F", "D", "B", "C"]
    assert row.loc["B", "priority"] == pytest.approx(row.loc["E", "priority"])
    assert row.loc["D", "priority"] > row.loc["F", "priority"]
    assert row.loc["B", "gain"] == pytest.approx(row.loc["B", "priority"] * 0.5 * (1 - 2 / 3), abs=1e-5)
    assert row.loc["D", "gain"] == pytest.approx(row.loc["D", "priority"] * 0.5, abs=1e-5)
    assert q["review_rank"].tolist() == [1, 2, 3, 4, 5, 6]
    assert q["reason"].str.contains("不确定度").all() and q["reason"].str.contains("uncertainty").all()


def test_review_queue_is_deterministic_and_leaves_out_what_is_known():
    q = review_queue(POOL, n=4)
    for seed in range(5):   # the input's order does not matter
        shuffled = POOL.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        pd.testing.assert_frame_equal(review_queue(shuffled, n=4), q)
    # closed leads are out; a lead whose members are all labelled teaches nothing: out
    known = pd.DataFrame({"entity_type": ["person", "person"], "entity_id": ["5", "6"]})
    q2 = review_queue(POOL, known, n=6, closed={"A"})
    assert "A" not in set(q2["lead_id"]) and "E" not in set(q2["lead_id"])
    assert q2["lead_id"].tolist()[0] == "B"
    assert review_queue(POOL.iloc[0:0], n=5).empty and review_queue(POOL, n=0).empty


# ------------------------------------------------------------------------------ the store
def _entities(r, persons, institutions=("H1",), district="小店区"):
    r.run("UNWIND $p AS p CREATE (:Person {person_id: p, district: $d, name: '张' + p})", {"p": list(persons),
                                                                                          "d": district})
    r.run("UNWIND $i AS i CREATE (:Institution {institution_id: i, district: $d, name: '医院' + i})",
          {"i": list(institutions), "d": district})


def _leads(rows) -> pd.DataFrame:
    return pd.DataFrame([{"lead_id": lid, "scheme": sch, "score": sc, "amount_at_risk": amt, "summary": "s",
                          "rank": k + 1, "n_members": len(ms.split(";")), "detectors": "card_lending",
                          "members": ms} for k, (lid, sch, sc, amt, ms) in enumerate(rows)])


def _close(r, lead_id: str, outcome: str, at: str) -> None:
    cur = r.run("MATCH (l:Lead {lead_id: $l}) RETURN coalesce(l.status, 'new') AS s, coalesce(l.version, 0) AS v",
                {"l": lead_id})[0]
    got = r.run_named("app/lead_update", {
        "lead_id": lead_id, "from_status": cur["s"], "version": cur["v"], "to_status": "结案", "assignee": "li",
        "deadline": None, "recovered": 0.0, "outcome": outcome, "at": at, "event_id": uuid.uuid4().hex,
        "user": "li", "role": "investigator", "action": "status", "note": "结案"}, write=True)
    assert got, "the lead was closed"


@pytest.mark.neo4j
def test_outcomes_in_the_store_come_back_as_labels(neo4j_runner, tmp_path, monkeypatch):
    from ringscope.store.tipoffs import intake, update_tipoff

    r = neo4j_runner
    _entities(r, ["P1", "P2", "P3", "P4", "P5", "P6"])
    run1 = _leads([("L-A", "card_lending", 0.8, 1000.0, "person:P1;person:P2;institution:H1"),
                   ("L-B", "doctor_shopping", 0.5, 300.0, "person:P3;person:P4"),
                   ("L-C", "other", 0.4, 100.0, "person:P5")])
    write_findings(r, run_id="run1", leads=run1, now=datetime(2025, 1, 1, 8, 0))
    _close(r, "L-A", "confirmed", "2025-02-03T10:30:00")
    _close(r, "L-B", "cleared", "2025-02-04T09:00:00")
    # a later run adds P5 to L-A: the verdict was on the members the investigator saw
    run2 = _leads([("L-A", "card_lending", 0.8, 1000.0, "person:P1;person:P2;person:P5;institution:H1")])
    write_findings(r, run_id="run2", leads=run2, now=datetime(2025, 3, 1, 8, 0))
    # a tip-off verified (P6) and one closed without a verified amount (P4): only the first is a label
    ids = intake(r, [{"received_on": "2025-01-10", "channel": "phone", "content": "借卡", "named": "person:P6"},
                     {"received_on": "2025-01-11", "channel": "phone", "content": "乱开药", "named": "person:P4"}],
                 user="clerk", now=datetime(2025, 1, 10, 9))["ids"]
    for tid, amount in zip(ids, (5000.0, None)):
        update_tipoff(r, tid, user="h", role="investigator", to_status="accepted", now=datetime(2025, 1, 12, 9))
        update_tipoff(r, tid, user="h", role="investigator", to_status="closed", verified_amount=amount,
                      now=datetime(2025, 2, 20, 15))
    lab = outcome_labels(r)
    got = {(t, i, lbl, src, d) for t, i, lbl, src, d in
           lab[["entity_type", "entity_id", "label", "source", "closed_on"]].itertuples(index=False)}
    assert got == {("person", "P1", "fraud", "lead", "2025-02-03"), ("person", "P2", "fraud", "lead", "2025-02-03"),
                   ("institution", "H1", "fraud", "lead", "2025-02-03"),
                   ("person", "P3", "cleared", "lead", "2025-02-04"), ("person", "P4", "cleared", "lead", "2025-02-04"),
                   ("person", "P6", "fraud", "tipoff", "2025-02-20")}
    assert set(lab.loc[lab["source"] == "lead", "scheme"]) == {"card_lending", "doctor_shopping"}
    assert lab["case_id"].is_unique
    # ringscope labels export writes the same rows, and detect --labels reads that file back
    from ringscope.cli import main

    out = tmp_path / "labels.csv"
    assert main(["labels", "export", "--out", str(out)]) == 0
    back = read_labels(out)
    assert sorted(back["case_id"]) == sorted(lab["case_id"])
    assert set(back.columns) >= {"case_id", "entity_type", "entity_id", "label", "scheme", "closed_on"}


@pytest.mark.neo4j
@pytest.mark.slow
def test_detect_learns_from_the_store(neo4j_runner, small_city, tmp_path):
    """A dataset case overturned by a later review and a new confirmed lead reach guilt by
    association and fusion in a real detect (labels read from the real Neo4j)."""
    from ringscope.ingest.reader import read_dataset
    from ringscope.models.base import Context
    from ringscope.models.detectors.guilt_by_association import GuiltByAssociationDetector
    from ringscope.pipeline import detect

    r = neo4j_runner
    kc = pd.read_csv(small_city / "known_cases.csv", dtype=str, keep_default_na=False)
    truth = pd.read_csv(small_city / "truth" / "entities.csv", dtype=str, keep_default_na=False)
    x = kc[(kc["label"] == "fraud") & (kc["entity_type"] == "person")].iloc[0]          # a dataset fraud case ...
    known = set(kc["entity_type"] + ":" + kc["entity_id"])
    unknown = truth[(truth["entity_type"] == "person") & ~(truth["entity_type"] + ":" + truth["entity_id"]).isin(known)]
    y, z = unknown.iloc[0], unknown.iloc[1]                                          # ... and frauds nobody knew
    _entities(r, [x["entity_id"], y["entity_id"], z["entity_id"]], institutions=())
    write_findings(r, run_id="run1", now=datetime(2030, 1, 1, 8, 0), leads=_leads([
        ("L-X", "card_lending", 0.5, 100.0, f"person:{x['entity_id']}"),
        ("L-Y", str(y["scheme"]), 0.5, 100.0, f"person:{y['entity_id']};person:{z['entity_id']}")]))
    _close(r, "L-X", "cleared", "2030-02-01T10:00:00")      # reviewed after the dataset's case: cleared
    _close(r, "L-Y", "confirmed", "2030-02-01T11:00:00")

    # what guilt by association sees: the dataset's cases alone vs with the store's outcomes
    ds = read_dataset(small_city, encode_images=False)
    merged = merge_labels(ds.tables["known_cases"], outcome_labels(r))
    kx, ky = f"person:{x['entity_id']}", f"person:{y['entity_id']}"
    before = GuiltByAssociationDetector(**_gba_params()).fit(Context(tables=ds.tables))
    after = GuiltByAssociationDetector(**_gba_params()).fit(Context(tables=TablesWithLabels(ds.tables, merged)))
    sb = before.ppr_.set_index("key")["score"]
    sa = after.ppr_.set_index("key")["score"]
    assert sb[kx] == 1.0 and sa.get(kx, 0.0) == 0.0          # no longer a seed: cleared, its edges cut
    assert sa[ky] == 1.0 and sb.get(ky, 0.0) < 1.0           # a new seed
    assert not sa.equals(sb.reindex(sa.index))

    # a real detect run with --labels-from-store (Neo4j read, not written: neo4j=False)
    only = {"guilt_by_association", "rules"}
    from ringscope.models.config import load_config

    cfg = {"pipeline": {"gnn": False, "encode_images": False},
           "detectors": {d: {"enabled": d in only} for d in load_config(None).detectors}}
    out = tmp_path / "res"
    summary = detect(small_city, out, neo4j=False, config=cfg, labels_from_store=True)
    assert summary["labels"]["by_source"]["lead"] == 3 and summary["labels"]["outcomes_unknown_entity"] == 0
    used = pd.read_csv(out / "labels_used.csv", dtype=str, keep_default_na=False)
    ux = used[used["entity_id"] == x["entity_id"]]
    assert ux[["label", "source"]].values.tolist() == [["cleared", "lead"]]
    assert used.loc[used["entity_id"] == y["entity_id"], "label"].tolist() == ["fraud"]
    # fusion fits its weights on the same labels: it counted one fraud person more than the dataset has
    n_kc = int(((kc["label"] == "fraud") & (kc["entity_type"] == "person")).groupby(kc["entity_id"]).any().sum())
    assert summary["fusion_weights"]["by_type"]["person"]["n_fraud_labels"] == n_kc - 1 + 2
    assert (out / "review_queue.csv").exists()
    man = json.loads((out / "manifest.json").read_text())
    assert man["labels"]["precedence"].startswith("the later dated outcome wins")


def _gba_params() -> dict:
    from ringscope.models.config import load_config

    p = dict(load_config(None).detectors["guilt_by_association"])
    return {k: v for k, v in p.items() if k not in ("enabled", "class")}


# ------------------------------------------------------------------------------ queue in the store and the app
@pytest.fixture()
def app_store(neo4j_runner, tmp_path, monkeypatch):
    monkeypatch.setenv("RINGSCOPE_ACCESS_LOG", str(tmp_path / "access_log.jsonl"))
    monkeypatch.setenv("RINGSCOPE_USERS", str(tmp_path / "users.json"))
    monkeypatch.setenv("RINGSCOPE_BCRYPT_ROUNDS", "4")
    monkeypatch.delenv("RINGSCOPE_RESULTS", raising=False)
    from ringscope.store.reads import clear_cache

    clear_cache()
    r = neo4j_runner
    _entities(r, ["1", "2", "3", "4", "5", "6", "7", "8", "9"])
    _entities(r, ["Q1"], institutions=("H9",), district="迎泽区")
    leads = POOL.assign(summary="s", rank=range(1, 7), n_members=2, detectors="x")
    write_findings(r, run_id="run1", leads=leads, now=datetime(2025, 1, 1, 8, 0))
    return r


@pytest.mark.neo4j
def test_review_queue_stored_read_and_replaced(app_store):
    from ringscope.store.access import Caller
    from ringscope.store.reads import DataLayer

    r = app_store
    q = review_queue(POOL, n=4)
    w = write_review_queue(r, q, run_id="run1")
    assert w == {"review_queue": 4, "review_queue_removed": 0}
    back = read_review_queue(r, limit=10)
    assert back["lead_id"].tolist() == q["lead_id"].tolist() == ["A", "E", "F", "D"]
    assert back["uncertainty"].tolist() == pytest.approx(q["uncertainty"].tolist())
    # the same run again changes nothing; a closed lead leaves the queue
    write_review_queue(r, q, run_id="run1")
    assert r.scalar("MATCH (q:ReviewSuggestion) RETURN count(q)") == 4
    _close(r, "E", "cleared", "2025-01-05T10:00:00")
    assert read_review_queue(r)["lead_id"].tolist() == ["A", "F", "D"]
    # through the app's data layer, in scope: a user of another district sees none of them
    lay = DataLayer(r, Caller("wang", "investigator"))
    assert lay.review_queue(limit=2)["lead_id"].tolist() == ["A", "F"]
    assert DataLayer(r, Caller("zhao", "investigator", ("迎泽区",))).review_queue().empty
    # the next run's queue replaces this one
    w2 = write_review_queue(r, review_queue(POOL, n=2, closed={"E"}), run_id="run2")
    assert w2["review_queue_removed"] == 2
    assert set(r.run("MATCH (q:ReviewSuggestion) RETURN DISTINCT q.run_id AS id")[0].values()) == {"run2"}


@pytest.mark.neo4j
@pytest.mark.slow
def test_leads_page_suggests_what_to_review_next(app_store):
    from test_app_pages import run_page, table

    write_review_queue(app_store, review_queue(POOL, n=4), run_id="run1")
    at = run_page("leads", role="investigator", user="feedback_tester")
    assert any(e.label == "建议优先复核" for e in at.expander)
    sug = table(at, "lq_suggest", "review_rank", "lead_id")
    assert sug["lead_id"].tolist() == ["A", "E", "F", "D"]
    assert sug["review_rank"].tolist() == [1, 2, 3, 4]
    assert sug["review_reason"].str.contains("不确定度").all()
    assert not sug["review_reason"].str.contains("uncertainty").any()     # Chinese only in zh
    at = run_page("leads", role="investigator", user="feedback_tester", lang="en")
    assert any(e.label == "Suggested for review next" for e in at.expander)
