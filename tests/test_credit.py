"""Credit history (信用记录沿革, issue 13 item 4) against the real Neo4j: a physician's points and an
institution's grade are recorded when an outcome changes them -- a lead confirmed through the data
layer, an appeal (申诉) upheld, known cases loaded -- and only then; the history shows the lead's
appeal step and its result; ``ringscope credit snapshot`` records each change once; a stale
computation is never written over a newer one; the history is read in scope and logged."""
from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

pytestmark = [pytest.mark.neo4j]

GRAPH = """
CREATE (h1:Institution {institution_id: 'H1', name: '第一医院', kind: 'hospital', district: '小店区'}),
       (h2:Institution {institution_id: 'H2', name: '康宁诊所', kind: 'clinic', district: '小店区'}),
       (h3:Institution {institution_id: 'H3', name: '迎泽药房', kind: 'pharmacy', district: '迎泽区'}),
       (d1:Physician {physician_id: 'D1', name: '王医生', institution_id: 'H1'})-[:PRACTISES_AT]->(h1),
       (d2:Physician {physician_id: 'D2', name: '李医生', institution_id: 'H2'})-[:PRACTISES_AT]->(h2),
       (d3:Physician {physician_id: 'D3', name: '赵医生', institution_id: 'H3'})-[:PRACTISES_AT]->(h3),
       (p1:Person {person_id: 'P1', name: '张三', district: '小店区'}),
       (l1:Lead {lead_id: 'L-1', scheme: 'collusive_prescribing', score: 0.9, amount_at_risk: 5000.0}),
       (l2:Lead {lead_id: 'L-2', scheme: 'card_lending', score: 0.8, amount_at_risk: 3000.0}),
       (l1)-[:INCLUDES]->(d1), (l1)-[:INCLUDES]->(h1), (l1)-[:INCLUDES]->(p1),
       (l2)-[:INCLUDES]->(d1), (l2)-[:INCLUDES]->(h1),
       (:Case {case_id: 'K-1', label: 'fraud', entity_type: 'institution', entity_id: 'H2'})-[:CONCERNS]->(h2)
"""


@pytest.fixture()
def graph(neo4j_runner, tmp_path, monkeypatch):
    from ringscope import progress
    from ringscope.store.reads import clear_cache

    monkeypatch.setenv("RINGSCOPE_ACCESS_LOG", str(tmp_path / "access_log.jsonl"))
    clear_cache()
    neo4j_runner.run(GRAPH)
    CLOCK.clear()
    yield neo4j_runner
    progress.configure()     # the command's --quiet is process-wide


#: the disposals' times: a minute apart, so the history's order is the order of the steps
CLOCK: list[dt.datetime] = []


def tick() -> str:
    CLOCK.append(CLOCK[-1] + dt.timedelta(minutes=1) if CLOCK else dt.datetime(2025, 3, 1, 9, 0))
    return CLOCK[-1].isoformat()


def layer(runner, role: str = "investigator", user: str = "wang.jh", districts=("*",)):
    from ringscope.store.access import Caller
    from ringscope.store.reads import DataLayer

    return DataLayer(runner, Caller(user, role, tuple(districts)), cache=False)


def move(runner, lay, lead_id: str, to_status: str, **over) -> list[dict]:
    """One disposal step through the data layer, from the lead's current state."""
    cur = runner.read("MATCH (l:Lead {lead_id: $l}) RETURN coalesce(l.status, 'new') AS s, "
                      "coalesce(l.version, 0) AS v, l.outcome AS o", {"l": lead_id})[0]
    p = dict(lead_id=lead_id, from_status=cur["s"], to_status=to_status, version=cur["v"], user="x", role="x",
             assignee=None, deadline=None, note=None, recovered=0.0, outcome=cur["o"], action="transition",
             at=tick(), event_id=uuid.uuid4().hex)
    rows = lay.update_lead(p | over)
    assert rows, f"{lead_id} {cur['s']} -> {to_status} was refused"
    return rows


def records(runner, entity_type: str, entity_id: str) -> list[dict]:
    return runner.read("MATCH (n)-[:HAS_CREDIT]->(r:CreditRecord {entity_type: $t, entity_id: $i}) "
                       "RETURN r.seq AS seq, r.points AS points, r.qualification AS qualification, "
                       "r.credit_score AS credit_score, r.grade AS grade, r.blacklisted AS blacklisted, "
                       "r.basis_leads AS leads, r.basis_cases AS cases, r.reason AS reason, r.by AS by, "
                       "r.trigger AS trigger, r.lead_id AS lead_id, r.latest AS latest ORDER BY r.seq",
                       {"t": entity_type, "i": entity_id})


def n_records(runner) -> int:
    return runner.scalar("MATCH (r:CreditRecord) RETURN count(r)")


def to_decision(runner, lay, lead_id: str) -> None:
    for step in ("初审", "复审", "调查核实", "处理"):
        move(runner, lay, lead_id, step)


def test_confirming_a_lead_records_its_physicians_and_institutions(graph):
    r, lay = graph, layer(graph)
    to_decision(r, lay, "L-1")
    assert n_records(r) == 0                               # steps without an outcome change no standing
    move(r, lay, "L-1", "处理", outcome="confirmed", action="update")
    d1, h1 = records(r, "physician", "D1"), records(r, "institution", "H1")
    assert [(x["seq"], x["points"], x["qualification"], x["leads"], x["trigger"], x["lead_id"], x["by"])
            for x in d1] == [(1, 12, "终止 terminated", ["L-1"], "disposal", "L-1", "wang.jh")]
    assert d1[0]["reason"] == "查实线索 L-1" and d1[0]["latest"]
    assert [(x["credit_score"], x["grade"], x["blacklisted"], x["leads"]) for x in h1] == [(700, "C", True, ["L-1"])]
    # persons have no credit file; the other physician and institutions are untouched
    assert r.scalar("MATCH (r:CreditRecord) RETURN collect(DISTINCT r.entity_type + ':' + r.entity_id)") \
        in (["physician:D1", "institution:H1"], ["institution:H1", "physician:D1"])

    # computing again finds what is recorded: nothing written, by the data layer or a snapshot
    from ringscope.store.credit import record_credit, record_for_lead

    assert record_for_lead(r, "L-1", by="again", now=CLOCK[-1]) == {"checked": 2, "records": 0}
    assert record_credit(r, "physician", ["D1", "D2"], by="again", now=CLOCK[-1])["records"] == 0
    move(r, lay, "L-1", "处理", note="再次核对", action="note")   # a note: the outcome did not move
    assert n_records(r) == 2

    # a second confirmed lead: the physician's points stay 12 but what they rest on changed
    to_decision(r, lay, "L-2")
    move(r, lay, "L-2", "结案", outcome="confirmed")
    d1 = records(r, "physician", "D1")
    assert [(x["seq"], x["points"], x["leads"], x["reason"], x["latest"]) for x in d1] == [
        (1, 12, ["L-1"], "查实线索 L-1", False), (2, 12, ["L-1", "L-2"], "查实线索 L-2", True)]
    assert records(r, "institution", "H1")[-1]["credit_score"] == 400
    assert r.scalar("MATCH (:CreditRecord {entity_id: 'D1', seq: 2})-[:PREVIOUS]->(p:CreditRecord) "
                    "RETURN p.seq") == 1


def test_an_appeal_upheld_restores_the_standing_and_the_history_shows_it(graph):
    r, lay = graph, layer(graph)
    to_decision(r, lay, "L-1")
    move(r, lay, "L-1", "处理", outcome="confirmed", action="update")   # the decision: fraud confirmed
    move(r, lay, "L-1", "申诉", note="医师对查实结论不服，提出申诉")        # the party appeals
    assert n_records(r) == 2                                            # lodging changes no standing
    move(r, lay, "L-1", "结案", outcome="cleared", note="申诉成立，撤销处理决定")
    d1 = records(r, "physician", "D1")
    assert [(x["seq"], x["points"], x["qualification"], x["leads"]) for x in d1] == [
        (1, 12, "终止 terminated", ["L-1"]), (2, 0, "正常 normal", [])]
    assert d1[1]["reason"] == "申诉成立 L-1" and d1[1]["lead_id"] == "L-1"
    h1 = records(r, "institution", "H1")
    assert [(x["credit_score"], x["grade"], x["blacklisted"]) for x in h1] == [(700, "C", True), (1000, "A", False)]
    assert h1[1]["reason"] == "申诉成立 L-1"

    hist = lay.credit_history("physician", "D1")
    assert hist["credit_event"].tolist() == ["record", "appeal_upheld", "appeal_lodged", "record"]
    assert hist["points"].tolist()[0] == 0 and hist["points"].tolist()[-1] == 12
    assert hist.loc[hist["credit_event"] == "appeal_lodged", "reason"].item() == "医师对查实结论不服，提出申诉"
    assert set(hist["lead_id"]) == {"L-1"} and hist.loc[0, "reason_en"] == "appeal upheld on L-1"

    # an appeal rejected: the lead stays confirmed, no record; the history shows the appeal and its result
    to_decision(r, lay, "L-2")
    move(r, lay, "L-2", "处理", outcome="confirmed", action="update")
    move(r, lay, "L-2", "申诉")
    n = n_records(r)
    move(r, lay, "L-2", "结案", note="申诉不成立，维持原决定")
    assert n_records(r) == n
    ev = lay.credit_history("institution", "H1")["credit_event"].tolist()
    assert ev[:3] == ["appeal_rejected", "appeal_lodged", "record"] and ev.count("appeal_upheld") == 1


def test_the_snapshot_command_records_each_change_once(graph, capsys):
    from ringscope.cli import main

    r = graph
    assert main(["credit", "snapshot", "--quiet", "--user", "li.fx"]) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert out.startswith("信用记录快照：医师 3 个，新增记录 0 条；机构 3 个，新增记录 1 条")
    h2 = records(r, "institution", "H2")
    assert [(x["credit_score"], x["grade"], x["cases"], x["reason"], x["by"], x["trigger"]) for x in h2] == [
        (700, "C", ["K-1"], "已结欺诈案件 K-1", "li.fx", "snapshot")]
    assert main(["credit", "snapshot", "--quiet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"physician": {"checked": 3, "records": 0},
                                                   "institution": {"checked": 3, "records": 0}}
    assert n_records(r) == 1
    # known cases loaded (or a lead confirmed) outside the app: the next snapshot records them, once
    r.run("MATCH (d:Physician {physician_id: 'D3'}) CREATE (:Case {case_id: 'K-2', label: 'fraud'})-[:CONCERNS]->(d)")
    r.run("MATCH (l:Lead {lead_id: 'L-2'}) SET l.outcome = 'confirmed'")
    assert main(["credit", "snapshot", "--quiet", "--type", "physician", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"physician": {"checked": 3, "records": 2}}
    assert [x["points"] for x in records(r, "physician", "D3")] == [12]
    assert records(r, "institution", "H1") == []           # --type physician left institutions alone
    # a case withdrawn (re-labelled cleared on re-load): the next snapshot restores, naming it
    r.run("MATCH (c:Case {case_id: 'K-2'}) SET c.label = 'cleared'")
    from ringscope.store.credit import snapshot

    assert snapshot(r, by="li.fx", entity_types=["physician"]) == {"physician": {"checked": 3, "records": 1}}
    assert [(x["points"], x["reason"]) for x in records(r, "physician", "D3")] == [
        (12, "已结欺诈案件 K-2"), (0, "欺诈案件撤销 K-2")]


def test_points_count_in_their_scoring_year_and_a_termination_lapses_after_a_year(graph):
    """A physician's points are the scoring year's (记分周期, the natural year) and a termination stands
    a year from the finding: a snapshot after the turn of the year records the points cleared (still
    terminated), one a year after the finding the qualification restored; neither is recorded twice.
    The finding is dated by the disposal that confirmed it, not by a later note. Institutions' grades
    keep every outcome."""
    from ringscope.store.credit import physician_credit, snapshot

    r, lay = graph, layer(graph)
    to_decision(r, lay, "L-1")
    move(r, lay, "L-1", "处理", outcome="confirmed", action="update")        # 2025-03-01, the finding
    confirmed_at = CLOCK[-1]
    move(r, lay, "L-1", "处理", note="补充材料", action="note")               # later, the same outcome
    assert [(x["points"], x["qualification"]) for x in records(r, "physician", "D1")] == [(12, "终止 terminated")]
    basis = r.read_df("credit/basis", {"entity_type": "physician", "entity_ids": ["D1"], "appeal": "申诉"})
    assert basis["finding_dates"].iloc[0] == [{"id": "L-1", "on": confirmed_at.date().isoformat()}]

    new_year = dt.datetime(confirmed_at.year + 1, 1, 10, 9, 0)
    assert snapshot(r, by="li.fx", now=new_year)["physician"]["records"] == 1
    assert snapshot(r, by="li.fx", now=new_year + dt.timedelta(days=1))["physician"]["records"] == 0
    lapsed = confirmed_at + dt.timedelta(days=366)
    assert snapshot(r, by="li.fx", now=lapsed)["physician"]["records"] == 1
    d1 = records(r, "physician", "D1")
    assert [(x["points"], x["qualification"], x["leads"], x["reason"]) for x in d1] == [
        (12, "终止 terminated", ["L-1"], "查实线索 L-1"),
        (0, "终止 terminated", ["L-1"], "记分周期届满"),
        (0, "正常 normal", ["L-1"], "终止期满")]
    assert [(x["credit_score"], x["grade"]) for x in records(r, "institution", "H1")] == [(700, "C")]
    # the page computes as of a day: the same three standings
    inputs = r.read_df("app/credit_inputs", {"entity_type": "physician", "entity_id": "D1"})
    assert [physician_credit(inputs, d.date())[["points", "qualification"]].values.tolist()[0]
            for d in (confirmed_at, new_year, lapsed)] == [[12, "终止 terminated"], [0, "终止 terminated"],
                                                          [0, "正常 normal"]]


def test_a_stale_computation_is_computed_again_not_written(graph):
    """Two disposals at one moment: a standing computed before the other's outcome committed (or
    against a record that is no longer the latest) is refused by the write and computed again."""
    from ringscope.store.credit import _basis, pending_records, record_credit

    r = graph
    stale = pending_records("physician", _basis(r, "physician", ["D1"]))   # sees no outcome yet: nothing to do
    assert stale == []
    r.run("MATCH (l:Lead {lead_id: 'L-1'}) SET l.outcome = 'confirmed'")
    rows = pending_records("physician", _basis(r, "physician", ["D1"]))     # sees L-1
    r.run("MATCH (l:Lead {lead_id: 'L-2'}) SET l.outcome = 'confirmed'")    # ... and then L-2 commits
    got = r.run("credit/record", {"rows": rows, "at": "2025-01-01T10:00:00", "by": "t", "trigger": "disposal",
                                  "lead_id": "L-1"})
    assert got == [] and n_records(r) == 0                                  # the basis moved: refused
    assert record_credit(r, "physician", ["D1"], by="t") == {"checked": 1, "records": 1}
    assert records(r, "physician", "D1")[0]["leads"] == ["L-1", "L-2"]
    # the same change computed twice (both against no record): the second write is refused
    r.run("MATCH (l:Lead {lead_id: 'L-2'}) SET l.outcome = null")
    a = pending_records("physician", _basis(r, "physician", ["D1"]))
    b = pending_records("physician", _basis(r, "physician", ["D1"]))
    params = {"at": "2025-01-01T10:00:00", "by": "t", "trigger": "disposal", "lead_id": "L-2"}
    assert len(r.run("credit/record", {"rows": a, **params})) == 1
    assert r.run("credit/record", {"rows": b, **params}) == []
    assert [x["leads"] for x in records(r, "physician", "D1")] == [["L-1", "L-2"], ["L-1"]]
    assert r.scalar("MATCH (n:Physician {physician_id: 'D1'})-[:HAS_CREDIT]->(c:CreditRecord {latest: true}) "
                    "RETURN count(c)") == 1


def test_the_history_is_read_in_scope_and_logged(graph):
    import pandas as pd

    from ringscope.store.access import PermissionDenied

    r = graph
    to_decision(r, layer(r), "L-1")
    move(r, layer(r), "L-1", "处理", outcome="confirmed", action="update")
    # the analyst may not confirm a lead, nor record an outcome
    with pytest.raises(PermissionDenied):
        layer(r, "analyst").update_lead({"lead_id": "L-2", "from_status": "new", "to_status": "new", "version": 0,
                                         "outcome": "confirmed", "recovered": 0.0, "action": "update",
                                         "at": "2025-01-01T10:00:00", "event_id": uuid.uuid4().hex})
    assert records(r, "institution", "H1")[0]["leads"] == ["L-1"]
    local = layer(r, "analyst", "li.fx", ("小店区",))
    assert len(local.credit_history("physician", "D1")) == 1
    with pytest.raises(PermissionDenied):
        local.credit_history("institution", "H3")           # 迎泽区: outside the analyst's scope
    with pytest.raises(ValueError):
        local.credit_history("person", "P1")
    log = pd.read_json(local.logger.path, lines=True, dtype=False)
    seen = log[log["entity"] == "physician:D1:credit"]
    assert seen["user"].tolist() == ["li.fx"] and seen["fields"].tolist() == [["credit"]]
