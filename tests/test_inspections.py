"""Random inspections (双随机、一公开) against the real Neo4j: the draw is reproducible (same seed and
lists: the same draw; a changed list: a different hash and the check fails), stratified by kind and
district, with the configured risk-weighted share, conflict-free teams of two or more; the draw
stored once however often it is written; results recorded back and shown on the institution; the
list published as CSV and PDF with Chinese headings; the commands; the configuration."""
from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ringscope.store.inspection_draw import DrawError, DrawParams, allocate, draw, verify
from ringscope.store.inspections import (
    draw_and_store,
    draw_params,
    import_results,
    institution_inspections,
    institution_list,
    inspector_list,
    list_draws,
    list_inspections,
    publication_csv,
    record_result,
    verify_stored,
)
from ringscope.store.supervision import SupervisionConfigError, load_supervision

REPO = Path(__file__).resolve().parent.parent
KINDS = ("hospital", "clinic", "community", "pharmacy")
DISTRICTS = ("小店区", "迎泽区", "杏花岭区")


def _population(n: int = 120, high_every: int = 10) -> list[dict]:
    """``n`` institutions over kinds and districts (uneven strata), every ``high_every``-th risky."""
    out = []
    for i in range(n):
        kind = KINDS[0] if i % 7 == 0 else KINDS[1 + i % 3]
        out.append({"institution_id": f"H{i:03d}", "name": f"机构{i}", "kind": kind,
                    "district": DISTRICTS[i % 3 if i % 5 else 0], "risk": 0.95 if i % high_every == 0 else 0.02})
    return out


def _inspectors(m: int = 12, bound_per: int = 0, n_inst: int = 120) -> list[dict]:
    return [{"inspector_id": f"X{j:02d}", "name": f"执法员{j}", "unit": "市医保局",
             "bound": [f"H{(j * 11 + k) % n_inst:03d}" for k in range(bound_per)]} for j in range(m)]


# ------------------------------------------------------------------------------ the draw itself
def test_stratification_allocates_in_proportion_and_counts_hold():
    insts = _population()
    rec = draw(insts, _inspectors(), DrawParams(n=30, risk_share=0.3), seed=7)
    sizes = Counter((r["kind"], r["district"]) for r in insts)
    keys = sorted(sizes)
    expect = dict(zip(keys, allocate(30, [sizes[k] for k in keys], caps=[sizes[k] for k in keys])))
    got = Counter((p["kind"], p["district"]) for p in rec["picks"])
    assert dict(got) == {k: v for k, v in expect.items() if v}
    assert sum(got.values()) == 30 and len({p["institution_id"] for p in rec["picks"]}) == 30
    # each stratum's quota within one of its proportional share; the record's strata table agrees
    for k in keys:
        assert abs(expect[k] - 30 * sizes[k] / len(insts)) < 1
    table = {(s["kind"], s["district"]): s for s in rec["strata"]}
    assert all(table[k]["population"] == sizes[k] and table[k]["allocated"] == expect[k] for k in keys)
    assert all(s["risk_weighted"] + s["uniform"] == s["allocated"] for s in rec["strata"])
    # by rate when no count is given
    assert len(draw(insts, _inspectors(), DrawParams(rate=0.1), seed=7)["picks"]) == 12


def test_risk_share_is_exact_and_the_weighted_part_favours_risk():
    insts = _population(200, high_every=10)              # 10% risky
    hi_risk, hi_uni, n_risk, n_uni = 0, 0, 0, 0
    for seed in range(40):
        rec = draw(insts, _inspectors(), DrawParams(n=40, risk_share=0.25), seed=seed)
        m = Counter(p["method"] for p in rec["picks"])
        assert m["risk"] == 10 and m["uniform"] == 30       # round(0.25 * 40)
        for p in rec["picks"]:
            high = p["risk"] > 0.5
            if p["method"] == "risk":
                hi_risk, n_risk = hi_risk + high, n_risk + 1
            else:
                hi_uni, n_uni = hi_uni + high, n_uni + 1
    # weights 0.97 vs 0.04 (risky institutions are 10% of the list, spread over small strata): the
    # weighted part holds several times the base rate of risky ones, the uniform part about the base rate
    assert hi_risk / n_risk > 0.3 and hi_uni / n_uni < 0.12, (hi_risk / n_risk, hi_uni / n_uni)
    none = draw(insts, _inspectors(), DrawParams(n=40, risk_share=0.0), seed=1)
    assert {p["method"] for p in none["picks"]} == {"uniform"}


def test_conflicts_are_avoided_and_teams_have_two_or_more():
    insts = _population()
    insps = _inspectors(m=10, bound_per=30)               # each bound to a quarter of the list
    bound = {x["inspector_id"]: set(x["bound"]) for x in insps}
    for seed in range(30):
        rec = draw(insts, insps, DrawParams(n=20, team_size=3), seed=seed)
        for p in rec["picks"]:
            assert len(p["inspectors"]) == 3 == len(set(p["inspectors"]))
            assert not any(p["institution_id"] in bound[x] for x in p["inspectors"])
        load = Counter(x for p in rec["picks"] for x in p["inspectors"])
        assert sum(load.values()) == 60 and max(load.values()) <= int(np.ceil(20 * 3 / 10)) + 1    # balanced
    capped = draw(insts, insps, DrawParams(n=20, team_size=2, max_per_inspector=5), seed=3)
    assert max(Counter(x for p in capped["picks"] for x in p["inspectors"]).values()) <= 5
    with pytest.raises(DrawError, match="max_per_inspector"):
        draw(insts, insps, DrawParams(n=20, team_size=2, max_per_inspector=3), seed=3)
    # an institution every inspector but one is bound to cannot get a team
    tight = [{"inspector_id": f"Y{j}", "name": "y", "bound": ["H000"] if j else []} for j in range(4)]
    with pytest.raises(DrawError, match="eligible"):
        draw([{"institution_id": "H000", "kind": "hospital", "district": "A"}], tight, DrawParams(n=1), seed=1)
    with pytest.raises(DrawError, match="两人以上"):
        DrawParams(team_size=1)
    with pytest.raises(DrawError, match="listed twice"):
        draw(insts + insts[:1], insps, DrawParams(n=2), seed=1)


def test_same_seed_and_lists_same_draw_changed_list_fails_verification():
    insts, insps = _population(), _inspectors(bound_per=5)
    a = draw(insts, insps, DrawParams(n=15), seed=123456789)
    b = draw(list(reversed(insts)), list(reversed(insps)), DrawParams(n=15), seed=123456789)   # order of rows: no matter
    assert a["draw_id"] == b["draw_id"] and a["picks"] == b["picks"] and a["result_sha256"] == b["result_sha256"]
    c = draw(insts, insps, DrawParams(n=15), seed=123456790)
    assert c["picks"] != a["picks"] and c["draw_id"] != a["draw_id"]
    rep = verify(json.loads(json.dumps(a)), institutions=insts, inspectors=insps)     # through JSON, as stored
    assert rep.ok, rep.reasons
    changed = [dict(r) for r in insts]
    changed[5]["risk"] = 0.5
    rep = verify(a, institutions=changed)
    assert not rep.ok and "institutions list" in rep.reasons[0] and "changed" in rep.reasons[0]
    forged = json.loads(json.dumps(a))
    forged["picks"][0]["inspectors"] = list(reversed(forged["picks"][0]["inspectors"]))
    rep = verify(forged)
    assert not rep.ok and any("picks differ" in r for r in rep.reasons)
    swapped = json.loads(json.dumps(a))
    swapped["inspectors"][0]["bound"] = []                  # the record's own list edited
    assert not verify(swapped).ok


# ------------------------------------------------------------------------------ the store
def _graph(runner) -> None:
    rows = _population(60)
    for r in rows:
        r["risk_score"] = 0.8 if r["risk"] > 0.5 else 0.05
    runner.run("UNWIND $rows AS r CREATE (:Institution {institution_id: r.institution_id, name: r.name, kind: r.kind, "
               "district: r.district, risk_score: r.risk_score})", {"rows": rows})
    runner.run("MATCH (i:Institution {institution_id: 'H001'}) "
               "CREATE (:Warning {warning_id: 'W1', level: 'red', active: true, entity_type: 'institution', "
               "entity_id: 'H001'})-[:ABOUT]->(i), "
               "(:Warning {warning_id: 'W2', level: 'orange', active: false, entity_type: 'institution', "
               "entity_id: 'H001'})-[:ABOUT]->(i)")


def test_draw_stored_once_verified_results_recorded_and_shown_on_the_institution(neo4j_runner, tmp_path):
    r = neo4j_runner
    _graph(r)
    insts = {x["institution_id"]: x for x in institution_list(r, params=draw_params())}
    assert len(insts) == 60
    assert insts["H001"]["risk"] == pytest.approx(1 - 0.95 * 0.1)      # score 0.05, active red 0.9 (noisy-OR)
    assert insts["H010"]["risk"] == pytest.approx(0.8) and insts["H002"]["risk"] == pytest.approx(0.05)
    insps = _inspectors(m=6, bound_per=4, n_inst=60)
    insps[0]["bound"].append("NOT-IN-GRAPH")
    now = datetime(2024, 7, 1, 9, 0)
    rec = draw_and_store(r, inspectors=insps, params=draw_params(n=9), seed=2024, user="zhao", role="investigator",
                         title="2024年第三季度", now=now)
    assert rec["created"] and len(rec["picks"]) == 9
    assert r.scalar("MATCH (:InspectionDraw)-[:INCLUDES]->(n:Inspection)-[:OF]->(:Institution) RETURN count(n)") == 9
    assert r.scalar("MATCH (:Inspector)-[a:ASSIGNED]->(:Inspection) RETURN count(a)") == 18
    assert r.scalar("MATCH (x:Inspector {inspector_id: 'X00'}) RETURN size(x.bound)") == 5
    assert r.scalar("MATCH (:Inspector {inspector_id: 'X00'})-[b:BOUND_TO]->() RETURN count(b)") == 4
    assert r.scalar("MATCH (x:Inspector)-[:ASSIGNED]->(:Inspection)-[:OF]->(i)<-[:BOUND_TO]-(x) RETURN count(*)") == 0
    # the same seed, lists and parameters: the same draw, nothing added
    again = draw_and_store(r, inspectors=insps, params=draw_params(n=9), seed=2024, user="qian", now=now)
    assert again["draw_id"] == rec["draw_id"] and not again["created"]
    assert r.scalar("MATCH (n:Inspection) RETURN count(n)") == 9
    assert r.scalar("MATCH (d:InspectionDraw) RETURN d.drawn_by") == "zhao"
    # anyone can re-draw from the stored record; against the lists as they are now too
    assert verify_stored(r, rec["draw_id"]).ok
    rep = verify_stored(r, rec["draw_id"], current_lists=True)
    assert rep.ok, rep.reasons
    assert [x["inspector_id"] for x in inspector_list(r)] == [x["inspector_id"] for x in insps]
    r.run("MATCH (i:Institution {institution_id: 'H002'}) SET i.risk_score = 0.7")     # a later detection run
    rep = verify_stored(r, rec["draw_id"], current_lists=True)
    assert not rep.ok and "institutions list" in rep.reasons[0]
    assert not verify_stored(r, "RI-nope").ok
    draws = list_draws(r)
    assert draws["draw_id"].tolist() == [rec["draw_id"]] and draws["n"].tolist() == [9]
    assert list_draws(r, districts=["迎泽区"])["n_in_scope"].iloc[0] == sum(p["district"] == "迎泽区" for p in rec["picks"])
    # results recorded back, one by one and by CSV (bad rows quarantined), shown on the institution
    ins = list_inspections(r, draw_id=rec["draw_id"])
    assert ins["seq"].tolist() == list(range(1, 10)) and (ins["inspection_status"] == "planned").all()
    first = ins.iloc[0]
    st = record_result(r, first["inspection_id"], inspected_on="2024-07-15", outcome="recover", amount=12_500.0,
                       finding="串换药品，超量开药", user="zhao", role="investigator")
    assert st["status"] == "done" and st["amount"] == 12_500.0 and st["outcome"] == "recover"
    with pytest.raises(ValueError, match="outcome"):
        record_result(r, first["inspection_id"], inspected_on="2024-07-15", outcome="fine", user="zhao")
    assert record_result(r, "RI-none-0001", inspected_on="2024-07-15", outcome="no_issue", user="zhao") == {}
    body = "inspection_id,inspected_on,finding,amount,outcome\n" + "\n".join([
        f"{ins.iloc[1]['inspection_id']},2024-07-16,,0,no_issue",
        f"{ins.iloc[2]['inspection_id']},2024-07-17,挂床住院,3000,penalty",
        f"{ins.iloc[3]['inspection_id']},2024-17-01,,0,no_issue",
        f"{ins.iloc[4]['inspection_id']},2024-07-18,,-5,recover",
        "RI-none-0002,2024-07-18,,0,no_issue"]) + "\n"
    res = import_results(r, body.encode("utf-8-sig"), user="zhao", role="investigator")
    assert res["recorded"] == 2 and len(res["quarantine"]) == 3
    reasons = " | ".join(q["reason"] for q in res["quarantine"])
    assert "inspected_on" in reasons and "amount" in reasons and "no such inspection" in reasons
    with pytest.raises(ValueError, match="missing column"):
        import_results(r, "id,date\nx,y\n", user="zhao")
    # a correction keeps the earlier result in its event
    record_result(r, first["inspection_id"], inspected_on="2024-07-15", outcome="recover", amount=13_000.0,
                  finding="串换药品，超量开药", user="sun", role="investigator")
    ev = r.read("MATCH (:Inspection {inspection_id: $i})-[:HAS_EVENT]->(e) RETURN e.amount AS a, e.previous_amount AS p, "
                "e.user AS u ORDER BY e.at, e.amount", {"i": first["inspection_id"]})
    assert [(e["a"], e["p"]) for e in ev] == [(12_500.0, None), (13_000.0, 12_500.0)]
    on_inst = institution_inspections(r, first["institution_id"])
    assert on_inst["inspection_outcome"].tolist() == ["recover"] and on_inst["amount"].tolist() == [13_000.0]
    assert on_inst["inspected_on"].tolist() == ["2024-07-15"] and len(on_inst["inspector_names"].iloc[0]) == 2
    done = list_inspections(r, draw_id=rec["draw_id"], status="done")
    assert len(done) == 3 and list_draws(r)["n_done"].iloc[0] == 3 and list_draws(r)["n_findings"].iloc[0] == 2

    # published: CSV with Chinese headings, PDF set in Chinese
    from ringscope.app.inspections_pdf import build_inspections_pdf
    from ringscope.store.inspections import draw_record

    ins = list_inspections(r, draw_id=rec["draw_id"])
    rows = list(csv.reader(io.StringIO(publication_csv(ins).decode("utf-8-sig"))))
    assert rows[0] == ["序号", "检查对象", "机构编码", "机构类别", "区县", "执法检查人员", "检查日期", "检查结果",
                       "追回/处罚金额(元)", "发现问题"]
    assert len(rows) == 10 and rows[1][7] == "追回基金" and rows[2][7] == "未发现问题" and rows[9][7] == "待检查"
    assert "执法员" in rows[1][5] and "risk" not in ",".join(rows[0])
    pdf = build_inspections_pdf(draw_record(r, rec["draw_id"]), ins)
    assert pdf[:5] == b"%PDF-" and len(pdf) > 5000
    if shutil.which("pdftotext"):                      # poppler's text extraction reads the CJK text back
        f = tmp_path / "list.pdf"
        f.write_bytes(pdf)
        text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(f), "-"], capture_output=True, text=True).stdout
        assert "抽查名单" in text and rec["draw_id"] in text and str(rec["seed"]) in text and "执法检查人员" in text


def test_configuration_sets_the_reward_rule_and_the_draw(tmp_path, monkeypatch):
    cfg = load_supervision()
    rule = cfg.reward_rule()
    assert (rule.proportion, rule.floor, rule.cap, rule.accept_days) == (0.05, 200.0, 200_000.0, 15)
    own = tmp_path / "city.yaml"
    own.write_text("tipoffs:\n  reward: {proportion: 0.04, cap: 100000}\ninspections:\n  team_size: 3\n"
                   "  risk_share: 0.5\n", encoding="utf-8")
    monkeypatch.setenv("RINGSCOPE_SUPERVISION_CONFIG", str(own))
    cfg = load_supervision()
    assert cfg.reward_rule().proportion == 0.04 and cfg.reward_rule().floor == 200.0 and cfg.reward_rule().cap == 100_000
    p = draw_params(n=5)
    assert (p.team_size, p.risk_share, p.n, p.strata) == (3, 0.5, 5, ("kind", "district"))
    own.write_text("inspections:\n  team_sise: 3\n", encoding="utf-8")
    with pytest.raises(SupervisionConfigError, match="team_sise"):
        load_supervision()
    own.write_text("tipoffs:\n  reward: {floor: 500, cap: 100}\n", encoding="utf-8")
    with pytest.raises(SupervisionConfigError, match="cap"):
        load_supervision()


def _cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ) | (env_extra or {})
    return subprocess.run([sys.executable, "-m", "ringscope.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_commands_draw_verify_record_publish(neo4j_runner, tmp_path):
    r = neo4j_runner
    _graph(r)
    insp = tmp_path / "inspectors.csv"
    with insp.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["inspector_id", "name", "unit", "bound"])
        for x in _inspectors(m=5, bound_per=3, n_inst=60):
            w.writerow([x["inspector_id"], x["name"], x["unit"], ";".join(x["bound"])])
        w.writerow(["", "无编号", "", ""])
    out = tmp_path / "pub"
    p = _cli("inspections", "draw", "--inspectors", str(insp), "--n", "6", "--seed", "99", "--title", "专项抽查",
             "--user", "zhao", "--out", str(out), "--quiet")
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    did = got["draw_id"]
    assert got["n"] == 6 and got["quarantined_inspectors"] == 1 and "inspector_id: empty" in p.stderr
    files = sorted(x.name for x in out.iterdir())
    assert files == sorted([f"{did}.csv", f"{did}.pdf", f"{did}.record.json"])
    assert (out / f"{did}.csv").read_text(encoding="utf-8-sig").startswith("序号,检查对象,机构编码")
    again = _cli("inspections", "draw", "--n", "6", "--seed", "99", "--user", "zhao", "--quiet")   # stored list
    assert again.returncode == 0 and json.loads(again.stdout)["draw_id"] == did
    assert json.loads(again.stdout)["created"] is False
    ok = _cli("inspections", "verify", did)
    assert ok.returncode == 0 and "verified" in ok.stdout
    ok = _cli("inspections", "verify", str(out / f"{did}.record.json"), "--inspectors", str(insp))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    tampered = insp.read_text(encoding="utf-8-sig").replace("执法员1,", "执法员一,")
    (tmp_path / "changed.csv").write_text(tampered, encoding="utf-8")
    bad = _cli("inspections", "verify", str(out / f"{did}.record.json"), "--inspectors", str(tmp_path / "changed.csv"))
    assert bad.returncode == 1 and "inspectors list" in bad.stdout
    iid = f"{did}-0001"
    rec = _cli("inspections", "record", iid, "--date", "2024-07-20", "--outcome", "rectify", "--finding", "台账不全",
               "--user", "zhao")
    assert rec.returncode == 0, rec.stderr
    assert r.scalar("MATCH (n:Inspection {inspection_id: $i}) RETURN n.outcome", {"i": iid}) == "rectify"
    bad = _cli("inspections", "record", iid, "--date", "2024-07-20", "--outcome", "nonsense", "--user", "zhao")
    assert bad.returncode == 2 and "outcome" in bad.stderr
    pub = _cli("inspections", "publish", did, "--out", str(tmp_path / "pub2"))
    assert pub.returncode == 0, pub.stderr
    rows = (tmp_path / "pub2" / f"{did}.csv").read_text(encoding="utf-8-sig").splitlines()
    assert "责令整改" in rows[1] and len(rows) == 7
    lst = _cli("inspections", "list", "--json")
    assert lst.returncode == 0 and json.loads(lst.stdout)[0]["draw_id"] == did
