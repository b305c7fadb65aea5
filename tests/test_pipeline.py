"""`detect` end to end on a small generated city: contract files, stable lead ids,
ids kept when the city grows by a month, quality that could fail, and the
Neo4j path (findings written, investigators' lead state kept across runs)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from ringscope.ingest.contract import ENTITY_SCORES_COLUMNS, LEADS_COLUMNS, RULE_HITS_COLUMNS, WARNINGS_COLUMNS
from ringscope.models.evaluate import evaluate, format_report, read_members

pytestmark = pytest.mark.slow

PERSONS = 1500
SEED = 7
# Set just under what this city measures. The city model of this round (realistic volume,
# drifting institutions, drug traces and drug_resale rings, households as stars or chains) on
# 1,500 persons, seed 7: recall 0.90 (9/10 rings; a card-lending ring spread over two
# institutions is missed), precision 0.88, AP person 0.86, physician 0.89, institution 0.94.
# Issue 13's targets are 0.9/0.9; the gap is reported (bench/RESULTS.md), not hidden.
MIN_RING_RECALL = 0.85
MIN_LEAD_PRECISION = 0.8
MIN_ENTITY_AP = {"person": 0.8, "physician": 0.8, "institution": 0.85}


def _generate(out: Path) -> Path:
    try:
        from ringscope.synth.generator import generate
    except ImportError as e:  # only while the generator is being written
        pytest.skip(f"ringscope.synth.generator not importable yet: {e}")
    generate(out, persons=PERSONS, seed=SEED)
    return out


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("city") / "city")


def _read(p: Path) -> pd.DataFrame:
    return pd.read_csv(p, dtype=str, keep_default_na=False)


def _table(city: Path, name: str) -> pd.DataFrame | None:
    p = city / f"{name}.csv"
    if p.exists():
        return _read(p)
    p = city / f"{name}.parquet"
    return pd.read_parquet(p) if p.exists() else None


@pytest.fixture(scope="module")
def run1(city, tmp_path_factory) -> tuple[Path, dict]:
    from ringscope.pipeline import detect

    out = tmp_path_factory.mktemp("results") / "r1"
    return out, detect(city, out, neo4j=False, gnn=False)


def test_contract_files(city, run1):
    out, summary = run1
    assert summary["errors"] == [], summary["errors"]
    for f in ("load_report.csv", "quarantine.csv", "rule_hits.csv", "entity_scores.csv", "leads.csv",
              "lead_evidence.jsonl", "manifest.json"):
        assert (out / f).exists(), f
    rh, es, ld = _read(out / "rule_hits.csv"), _read(out / "entity_scores.csv"), _read(out / "leads.csv")
    assert list(rh.columns[:len(RULE_HITS_COLUMNS)]) == RULE_HITS_COLUMNS
    assert list(es.columns[:len(ENTITY_SCORES_COLUMNS)]) == ENTITY_SCORES_COLUMNS
    assert list(ld.columns[:len(LEADS_COLUMNS)]) == LEADS_COLUMNS
    # every person, physician and institution is scored, once, in [0, 1]
    for et, table, key in (("person", "persons", "person_id"), ("physician", "physicians", "physician_id"),
                           ("institution", "institutions", "institution_id")):
        ids = set(_table(city, table)[key])
        got = es.loc[es["entity_type"] == et, "entity_id"]
        assert got.is_unique and ids <= set(got), et
    s = es["score"].astype(float)
    assert s.between(0, 1).all() and (s > 0).any()
    assert (es.loc[s > 0.3, "reasons"] != "").all()
    # leads: unique ids, schemes of the contract, members typed, summary written
    assert len(ld) > 0 and ld["lead_id"].is_unique
    from ringscope.ingest.vocab import SCHEMES

    assert ld["scheme"].isin(list(SCHEMES) + ["other"]).all()
    assert ld["score"].astype(float).between(0, 1).all()
    assert (ld["amount_at_risk"].astype(float) >= 0).all()
    for m in ld["members"]:
        assert all(x.split(":", 1)[0] in ("person", "physician", "institution") for x in read_members(m))
    assert (ld["summary"].str.len() > 20).all()
    ev = [json.loads(line) for line in (out / "lead_evidence.jsonl").read_text().splitlines()]
    assert [e["lead_id"] for e in ev] == ld["lead_id"].tolist()
    assert all(e["groups"] and e["groups"][0]["rerun"]["class"] for e in ev)
    multi = [e for e in ev if len(e["members"]) > 1]          # a lone actor's lead has no inner edges
    assert sum(e["n_edges"] > 0 for e in multi) >= 0.8 * len(multi)
    # early warnings: the contract's columns, stable unique ids, levels 红/橙/黄, the trends beside them;
    # the drifting entities of the city's truth mostly found, and warnings a signal in entity scores
    wn = _read(out / "warnings.csv")
    assert list(wn.columns[:len(WARNINGS_COLUMNS)]) == WARNINGS_COLUMNS
    assert len(wn) > 0 and wn["warning_id"].is_unique
    assert wn["level"].isin(["red", "orange", "yellow"]).all() and wn["period"].str.match(r"^\d{4}-\d{2}$").all()
    assert (wn["evidence"].str.len() > 10).all()
    ind = pd.read_parquet(out / "indicators.parquet")
    assert set(wn["entity_id"]) <= set(ind["entity_id"])
    rep = evaluate(out, city / "truth")
    # a 1,500-person city has few peers and thin months: this city measures recall 4/12, precision 4/7
    # (the target, recall 0.9 at precision 0.8, is measured on larger cities by bench/bench_warnings.py)
    dr = rep["drift"]["levels"]["all"]
    assert dr["recall"] >= 0.3 and dr["precision"] >= 0.3, dr
    warned = es[es["reasons"].str.contains("early_warning")]
    assert set(warned["entity_id"]) <= set(wn["entity_id"]) and len(warned) > 0
    man = json.loads((out / "manifest.json").read_text())
    assert man["counts"]["warnings"] == len(wn)
    for st in ("validate", "faces", "rules", "graph", "fusion", "write"):
        assert st in man["timings"], st
    assert man["counts"]["leads"] == len(ld) and man["counts"]["rule_hits"] == len(rh)


def test_same_data_same_lead_ids(city, run1, tmp_path):
    from ringscope.pipeline import detect

    out1, _ = run1
    out2 = tmp_path / "r2"
    detect(city, out2, neo4j=False, gnn=False)           # fresh directory: ids from content alone
    a, b = _read(out1 / "leads.csv"), _read(out2 / "leads.csv")
    assert a["lead_id"].tolist() == b["lead_id"].tolist()
    assert a["members"].tolist() == b["members"].tolist()


def _truncate(city: Path, dst: Path, months: int = 1) -> None:
    """A copy of ``city`` without its last ``months`` months of activity (the same city a month earlier)."""
    dst.mkdir(parents=True)
    visits = _read(city / "visits.csv")
    t = pd.to_datetime(visits["start_time"])
    cutoff = (t.max().to_period("M") - (months - 1)).start_time
    keep = visits[t < cutoff]
    for f in city.iterdir():
        if f.is_dir():
            continue
        name = f.stem
        if name == "visits":
            keep.to_csv(dst / f.name, index=False)
        elif name == "claim_lines":
            cl = _read(f)
            cl[cl["visit_id"].isin(set(keep["visit_id"]))].to_csv(dst / f.name, index=False)
        elif name == "face_captures":
            fc = _read(f)
            ok = (pd.to_datetime(fc["capture_time"]) < cutoff) & \
                ((fc["visit_id"] == "") | fc["visit_id"].isin(set(keep["visit_id"])))
            fc[ok].to_csv(dst / f.name, index=False)
        elif name == "inventory":
            inv = _read(f)
            inv[inv["period"] < cutoff.strftime("%Y-%m")].to_csv(dst / f.name, index=False)
        else:
            shutil.copy(f, dst / f.name)


def test_lead_keeps_id_when_city_grows(city, tmp_path):
    from ringscope.pipeline import detect

    early = tmp_path / "early"
    _truncate(city, early)
    out = tmp_path / "res"
    detect(early, out, neo4j=False, gnn=False)
    old = _read(out / "leads.csv")
    detect(city, out, neo4j=False, gnn=False)              # next month: same out dir holds the old leads
    new = _read(out / "leads.csv")
    assert new["lead_id"].is_unique
    # every old lead that clearly continues (same scheme, most old members inside a new lead of
    # similar extent) must have kept its id
    cont, kept = 0, 0
    new_sets = [(r.lead_id, r.scheme, read_members(r.members)) for r in new.itertuples()]
    for r in old.itertuples():
        o = read_members(r.members)
        best = max(((len(o & s) / len(o), len(o & s) / len(s), lid) for lid, sc, s in new_sets if sc == r.scheme),
                   default=None)
        if best and best[0] >= 0.8 and best[1] >= 0.6:
            cont += 1
            kept += best[2] == r.lead_id
    assert cont >= 5, "too few continuing leads to test id stability"
    assert kept == cont


def test_money_adds_up(city, run1):
    """Each claim line at risk at most once, never above what was billed, at every level."""
    from money_checks import assert_money_adds_up

    m = assert_money_adds_up(city, run1[0])
    assert 0 < m["rule_hits"] < m["city_billed"]


@pytest.fixture(scope="module")
def quality(city, run1) -> dict:
    rep = evaluate(run1[0], city / "truth")
    print(format_report(rep))
    return rep


def test_quality_rings(quality):
    r = quality["rings"]
    assert r["n_rings"] > 0
    assert r["ring_recall_at_3R"] >= MIN_RING_RECALL, format_report(quality)
    assert r["lead_precision_at_3R"] >= MIN_LEAD_PRECISION, format_report(quality)


@pytest.mark.parametrize("etype", ["person", "physician", "institution"])
def test_quality_entities(quality, etype):
    e = quality["entities"][etype]
    if e["n_pos"] == 0:
        pytest.skip(f"the generated city has no fraudulent {etype}")
    assert e["ap"] >= MIN_ENTITY_AP[etype], format_report(quality)
    assert e["auc"] >= 0.75


# --------------------------------------------------------------------------- Neo4j path
@pytest.fixture()
def runner(request):
    try:
        return request.getfixturevalue("neo4j_runner")
    except pytest.FixtureLookupError:
        pytest.skip("fixture neo4j_runner (tests/conftest.py) does not exist yet")


@pytest.mark.neo4j
def test_detect_with_neo4j_keeps_lead_state(city, run1, runner, tmp_path):
    from ringscope.store.findings import write_findings
    from ringscope.pipeline import detect

    out = tmp_path / "neo"
    s1 = detect(city, out, neo4j=True, gnn=False, runner=runner)
    assert s1["errors"] == []
    leads = _read(out / "leads.csv")
    # a clean database and a fresh directory: the same ids as the run without Neo4j
    assert leads["lead_id"].tolist() == _read(run1[0] / "leads.csv")["lead_id"].tolist()
    rh = _read(out / "rule_hits.csv")
    assert runner.scalar("MATCH (l:Lead) RETURN count(l)") == len(leads)
    n_members = sum(len(read_members(m)) for m in leads["members"])
    assert runner.scalar("MATCH (:Lead)-[r:INCLUDES]->() RETURN count(r)") == n_members
    assert runner.scalar("MATCH (h:RuleHit) RETURN count(h)") == rh["hit_id"].nunique()
    assert runner.scalar("MATCH (h:RuleHit)-[:AGAINST]->() RETURN count(h)") == rh["hit_id"].nunique()
    n_vis = (rh["visit_id"] != "").sum()
    assert runner.scalar("MATCH (h:RuleHit)-[:ON_VISIT]->(:Visit) RETURN count(h)") == n_vis
    es = _read(out / "entity_scores.csv")
    assert runner.scalar("MATCH (p:Person) WHERE p.risk_score IS NOT NULL RETURN count(p)") == \
        (es["entity_type"] == "person").sum()
    top = leads.iloc[0]
    got = runner.run("MATCH (l:Lead {lead_id: $id}) RETURN l.score AS s, l.rank AS r, l.status AS st, "
                     "COUNT { (l)-[:HAS_EVENT]->(:LeadEvent {action: 'detected'}) } AS ev", {"id": top["lead_id"]})[0]
    assert got == {"s": pytest.approx(float(top["score"])), "r": 1, "st": "new", "ev": 1}
    # early warnings (warnings.csv) and the first version of every lead
    wn = _read(out / "warnings.csv")
    assert runner.scalar("MATCH (w:Warning {active: true})-[:ABOUT]->() RETURN count(w)") == len(wn) > 0
    assert runner.scalar("MATCH (s:IndicatorSeries) RETURN count(s)") == \
        len(wn[["entity_type", "entity_id", "indicator"]].drop_duplicates())
    assert runner.scalar("MATCH (:Lead)-[:HAS_VERSION]->(v:LeadVersion {state: 'new', seq: 1}) RETURN count(v)") == \
        len(leads)
    if s1["counts"]["face_identities"]:
        assert runner.scalar("MATCH (f:FaceIdentity) RETURN count(f)") == s1["counts"]["face_identities"]
        assert runner.scalar("MATCH (c:FaceCapture) WHERE c.verdict IS NOT NULL RETURN count(c)") == \
            s1["counts"]["face_captures"]
        assert runner.scalar("MATCH (:FaceCapture)-[:OF_FACE]->(:FaceIdentity) RETURN count(*)") > 0
        assert runner.scalar("MATCH (:FaceIdentity)-[:ENROLLED_AS]->(:Person) RETURN count(*)") > 0
    # an investigator picks up the top lead; the next run (here: its findings written again,
    # with one lead grown by a member and one lead gone) keeps that state
    runner.run("MATCH (l:Lead {lead_id: $id}) SET l.status = 'investigating', l.assignee = 'wang' "
               "CREATE (l)-[:HAS_EVENT]->(:LeadEvent {event_id: $id + ':e1', action: 'assign'})",
               {"id": top["lead_id"]})
    prev = pd.DataFrame(runner.read("findings/read_leads"))
    assert set(prev["lead_id"]) == set(leads["lead_id"])
    nxt = leads.iloc[:-1].copy()
    extra = es.loc[(es["entity_type"] == "person") & ~es["entity_id"].isin(
        [m.split(":", 1)[1] for m in read_members(top["members"])]), "entity_id"].iloc[0]
    nxt.loc[0, "members"] = top["members"] + ";person:" + extra
    nxt["score"] = nxt["score"].astype(float)
    nxt["amount_at_risk"] = nxt["amount_at_risk"].astype(float)
    w = write_findings(runner, run_id="second", leads=nxt)
    assert w["leads_retired"] == 1
    st = runner.run("MATCH (l:Lead {lead_id: $id}) RETURN l.status AS s, l.assignee AS a, "
                    "COUNT { (l)-[:HAS_EVENT]->() } AS n, COUNT { (l)-[:INCLUDES]->() } AS m",
                    {"id": top["lead_id"]})[0]
    assert (st["s"], st["a"], st["n"]) == ("investigating", "wang", 2)
    assert st["m"] == len(read_members(top["members"])) + 1
    gone = leads["lead_id"].iloc[-1]
    g = runner.run("MATCH (l:Lead {lead_id: $id}) RETURN l.active AS a, l.rank AS r", {"id": gone})[0]
    assert g == {"a": False, "r": None}
    assert runner.scalar("MATCH (l:Lead) RETURN count(l)") == len(leads)          # nothing duplicated
    # model explanations: linked to their entity, replaced (not duplicated) by the next run's
    pid = es.loc[es["entity_type"] == "person", "entity_id"].iloc[0]
    inst = es.loc[es["entity_type"] == "institution", "entity_id"].iloc[0]
    ex = {"model": "gnn_hetero", "entity_type": "person", "entity_id": pid, "score": 0.7, "method": "m",
          "features": [{"feature": "n_visits", "value": 3.0, "contribution": 0.2}],
          "neighbours": [{"entity_type": "institution", "entity_id": inst, "relation": "visited", "contribution": 0.1}],
          "components": {"attr_error": 1.5}}
    w = write_findings(runner, run_id="third", explanations=[ex, {**ex, "model": "xgb_neighbour"}])
    assert w["model_explanations"] == 2
    w = write_findings(runner, run_id="fourth", explanations=[ex, {**ex, "entity_id": "no-such-person"}])
    assert w["model_explanations_removed"] == 1
    got = runner.read("MATCH (x:ModelExplanation)-[:EXPLAINS]->(p:Person) RETURN x.model AS m, p.person_id AS p, "
                      "x.features AS f, x.details AS d, x.run_id AS r")
    assert [(g["m"], g["p"], g["r"]) for g in got] == [("gnn_hetero", pid, "fourth")]
    assert json.loads(got[0]["f"]) == ex["features"] and json.loads(got[0]["d"]) == {"components": {"attr_error": 1.5}}
    assert runner.scalar("MATCH (x:ModelExplanation) RETURN count(x)") == 1      # the unknown entity made none
