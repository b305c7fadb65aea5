"""The tip-off ledger (举报线索) against the real Neo4j: intake one by one and by CSV import (bad
rows quarantined with the reason, a second import duplicates nothing), named entities matched
against leads and risk scores, acceptance and reply deadlines in working days, overdue flags,
assignment, the outcome and the reward by the configured rule; the reporter's identity shown only
to the role handling tip-offs, every view of the ledger logged with the real user."""
from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import pytest

from ringscope.store.access import REPORTER_HIDDEN, Caller, PermissionDenied
from ringscope.store.audit import AccessLogger
from ringscope.store.findings import write_findings
from ringscope.store.reads import DataLayer
from ringscope.store.tipoffs import RewardRule, deadline, reward

pytestmark = pytest.mark.neo4j

CSV = """received_on,channel,content,named,reporter_name,reporter_phone,reporter_id_number
2024-05-06,phone,某药店用他人医保卡串换药品,institution:P1;person:A1,李四,13800000000,110101199003071234
2024-05-07,letter,某医师虚开检查,physician:D1,,,
2024-13-01,phone,日期错误,institution:P1,,,
2024-05-08,fax,渠道不明,institution:P1,,,
2024-05-09,online,,institution:P1,,,
2024-05-10,online,名称写法不对,P1,,,
2024-05-11,online,被举报对象不在系统中,institution:NOPE,王五,13900000000,
"""


def _graph(runner) -> None:
    runner.run("CREATE (:Institution {institution_id: 'P1', name: '某药店', district: 'D1', risk_score: 0.8}), "
               "(:Physician {physician_id: 'D1', name: '张医生', risk_score: 0.2}), "
               "(:Person {person_id: 'A1', district: 'D1', risk_score: 0.6}), (:Person {person_id: 'A2', district: 'D1'})")
    write_findings(runner, run_id="r1", leads=pd.DataFrame([{
        "lead_id": "L-card_cashout-1", "scheme": "card_cashout", "score": 0.9, "amount_at_risk": 5000.0,
        "summary": "", "rank": 1, "n_members": 3, "detectors": "x", "members": "institution:P1;person:A1;person:A2"}]))


def _layer(runner, role, log, user=None):
    return DataLayer(runner, Caller(user or f"u_{role}", role, ("*",)), logger=AccessLogger(runner, log), cache=False)


def test_reward_and_deadlines():
    rule = RewardRule(proportion=0.04, floor=500.0, cap=100_000.0)
    assert reward(50_000.0, rule) == 2_000.0 and reward(1_000.0, rule) == 500.0
    assert reward(10_000_000.0, rule) == 100_000.0 and reward(None, rule) == 0.0 and reward(-5, rule) == 0.0
    assert deadline("2024-05-06", 15) == "2024-05-27"          # Monday + 3 working weeks
    assert deadline("2024-05-04", 1) == "2024-05-07"           # a Saturday rolls to Monday, then one day
    with pytest.raises(ValueError):
        RewardRule(proportion=0.05, floor=300.0, cap=200.0)


def test_ledger_intake_import_match_handle_and_reporter_masking(neo4j_runner, tmp_path):
    r = neo4j_runner
    _graph(r)
    log = tmp_path / "access.jsonl"
    inv = _layer(r, "investigator", log, "zhao")
    res = inv.intake_tipoffs(csv_data=CSV.encode("utf-8-sig"))
    assert res["written"] == 3
    reasons = {q["row"]: q["reason"] for q in res["quarantine"]}
    assert set(reasons) == {3, 4, 5, 6}
    assert "received_on" in reasons[3] and "channel" in reasons[4] and "content" in reasons[5]
    assert "institution:ID" in reasons[6]
    again = inv.intake_tipoffs(csv_data=CSV)                   # the same file again: nothing new
    assert again["ids"] == res["ids"] and r.scalar("MATCH (t:Tipoff) RETURN count(t)") == 3
    with pytest.raises(ValueError, match="missing column"):
        inv.intake_tipoffs(csv_data="date,text\n2024-05-06,x\n")
    one = inv.intake_tipoffs([{"received_on": "2024-06-03", "channel": "visit", "content": "现场举报挂床住院",
                               "named": "institution:P1", "reporter_name": "赵六"}])
    assert one["written"] == 1 and not one["quarantine"]
    # the ledger, newest first; deadlines; matched entities; overdue on a later day
    led = inv.tipoffs(today="2024-05-20")
    assert led["received_on"].tolist() == ["2024-06-03", "2024-05-11", "2024-05-07", "2024-05-06"]
    first = led[led["received_on"] == "2024-05-06"].iloc[0]
    assert first["accept_by"] == "2024-05-27" and first["n_matched"] == 2 and not first["overdue"]
    assert first["reporter_name"] == "李四" and first["reporter_id_number"] == "110101199003071234"
    nope = led[led["received_on"] == "2024-05-11"].iloc[0]
    assert nope["n_matched"] == 0 and nope["unmatched"] == ["institution:NOPE"]
    assert inv.tipoffs(today="2024-05-28").set_index("received_on").loc["2024-05-06", "overdue"]
    m = inv.tipoff_matches(first["tipoff_id"])
    assert m[["entity_type", "entity_id"]].values.tolist() == [["institution", "P1"], ["person", "A1"]]
    assert m["lead_ids"].tolist() == [["L-card_cashout-1"], ["L-card_cashout-1"]]
    assert m["best_lead_score"].tolist() == pytest.approx([0.9, 0.9])
    # another role: the reporter hidden entirely, whatever its clearance; the view logged as masked
    ana = _layer(r, "analyst", log, "qian")
    la = ana.tipoffs(today="2024-05-20")
    row = la[la["tipoff_id"] == first["tipoff_id"]].iloc[0]
    assert row["reporter_name"] == REPORTER_HIDDEN and row["reporter_phone"] == REPORTER_HIDDEN
    assert "李四" not in la.to_csv() and "13800000000" not in la.to_csv()
    assert la.loc[la["received_on"] == "2024-05-07", "reporter_name"].isna().all()     # anonymous stays empty
    with pytest.raises(PermissionDenied):
        ana.update_tipoff(first["tipoff_id"], to_status="accepted")
    with pytest.raises(PermissionDenied):
        ana.intake_tipoffs(csv_data=CSV)
    with pytest.raises(PermissionDenied):
        _layer(r, "police_liaison", log).tipoffs()
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    views = [(e["user"], e["page"], e["fields"], e["masked"]) for e in entries if e.get("entity") == "tipoffs"]
    assert ("zhao", "tipoffs", ["reporter"], False) in views and ("qian", "tipoffs", ["reporter"], True) in views
    # handling: accept (reply deadline 60 working days on), assign, conclude with the verified amount
    tid = first["tipoff_id"]
    with pytest.raises(ValueError, match="not allowed"):
        inv.update_tipoff(tid, to_status="closed")
    rule = RewardRule(proportion=0.05, floor=200.0, cap=200_000.0)
    st = inv.update_tipoff(tid, to_status="accepted", assignee="sun", now=datetime(2024, 5, 8, 10, 0), rule=rule)
    assert st["status"] == "accepted" and st["assignee"] == "sun" and st["reply_by"] == deadline("2024-05-08", 60)
    inv.update_tipoff(tid, to_status="investigating", note="已调取结算明细", rule=rule)
    st = inv.update_tipoff(tid, to_status="closed", verified_amount=36_000.0, note="查实串换药品", rule=rule)
    assert st["status"] == "closed" and st["verified_amount"] == 36_000.0 and st["reward"] == 1_800.0
    ev = r.read("MATCH (:Tipoff {tipoff_id: $t})-[:HAS_EVENT]->(e:TipoffEvent) RETURN e.from_status AS f, "
                "e.to_status AS s, e.user AS u ORDER BY e.at, e.from_status", {"t": tid})
    assert [(e["f"], e["s"]) for e in ev] == [("received", "accepted"), ("accepted", "investigating"),
                                              ("investigating", "closed")]
    assert {e["u"] for e in ev} == {"zhao"}
    with pytest.raises(ValueError):
        inv.update_tipoff(tid, to_status="received")
    assert inv.update_tipoff("T-none", to_status="accepted") == {}
    closed = inv.tipoffs(status="closed")
    assert closed["tipoff_id"].tolist() == [tid] and closed["reward"].tolist() == [1_800.0]
