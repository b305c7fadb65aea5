"""Early warnings and lead history in the real Neo4j (``store/warnings.py``, ``store/history.py``,
``cypher/warnings/*``, ``cypher/history/*``): written as detect writes them, read as the app
reads them, idempotent across re-runs, a handler's status kept when a warning is raised again,
warnings not raised again retired (never deleted); every run's version of a lead with members
added and dropped, merges and splits with the ids involved."""
from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from ringscope.store.findings import write_findings
from ringscope.store.history import lead_timeline, member_history, version_members
from ringscope.store.warnings import (entity_warnings, indicator_series, list_warnings, update_warning,
                                      warning_summary, write_warnings)

pytestmark = pytest.mark.neo4j

PERIODS = [f"2024-{m:02d}" for m in range(1, 13)]


def _entities(runner) -> None:
    runner.run("UNWIND ['H1', 'H2', 'H3'] AS i CREATE (:Institution {institution_id: i, name: '医院' + i, district: 'D1'})")
    runner.run("CREATE (d:Physician {physician_id: 'D1', name: '王医生'}) WITH d "
               "MATCH (i:Institution {institution_id: 'H1'}) CREATE (d)-[:PRACTISES_AT]->(i)")
    runner.run("UNWIND ['P1', 'P2', 'P3', 'P4', 'P5', 'P6', 'P7', 'P8', 'P9'] AS p "
               "CREATE (:Person {person_id: p, district: 'D1'})")


def _warnings(rows) -> pd.DataFrame:
    cols = ["warning_id", "entity_type", "entity_id", "indicator", "period", "value", "baseline", "level",
            "evidence", "kind_of", "z", "band_low", "band_high", "peer_group", "change_period"]
    return pd.DataFrame(rows, columns=cols)


W1 = ["W-1", "institution", "H1", "cost_per_visit", "2024-11", 420.0, 200.0, "red", "次均费用 420", "level_change",
      6.1, 150.0, 250.0, "kind=hospital", "2024-08"]
W2 = ["W-2", "institution", "H2", "drug_share", "2024-12", 0.7, 0.4, "yellow", "药占比 0.70", "band", 2.6, 0.3, 0.5,
      "kind=hospital", None]
W3 = ["W-3", "physician", "D1", "exam_share", "2024-10", 0.5, 0.2, "orange", "检查检验占比 0.50", "band", 3.4, 0.1,
      0.3, "kind=hospital", None]


def _indicators() -> pd.DataFrame:
    rows = []
    for et, eid, ind, base in [("institution", "H1", "cost_per_visit", 200.0), ("institution", "H2", "drug_share", 0.4),
                               ("physician", "D1", "exam_share", 0.2), ("institution", "H3", "drug_share", 0.4)]:
        for k, p in enumerate(PERIODS):
            v = base * (2.1 if et == "institution" and eid == "H1" and k >= 7 else 1.0)
            rows.append({"entity_type": et, "entity_id": eid, "indicator": ind, "period": p, "value": v,
                         "baseline": base, "band_low": base * 0.75, "band_high": base * 1.25, "z": 0.0 if k < 7 else 6.0,
                         "level": "red" if (eid == "H1" and k >= 7) else None})
    return pd.DataFrame(rows)


def test_warnings_written_read_retired(neo4j_runner):
    r = neo4j_runner
    _entities(r)
    ind = _indicators()
    out = write_warnings(r, run_id="run1", warnings=_warnings([W1, W2, W3]), indicators=ind,
                         now=datetime(2025, 1, 5, 9, 0))
    assert out["warnings"] == 3 and out["warnings_retired"] == 0
    assert out["indicator_series"] == 3                      # H3 carries no warning: no series
    assert r.scalar("MATCH (w:Warning)-[:ABOUT]->() RETURN count(w)") == 3
    assert r.scalar("MATCH (w:Warning {warning_id: 'W-3'})-[:ABOUT]->(d:Physician) RETURN d.physician_id") == "D1"
    assert r.scalar("MATCH (s:IndicatorSeries)-[:OF]->(:Institution {institution_id: 'H3'}) RETURN count(s)") == 0
    # the list: newest month first, filters by level, type and month
    lst = list_warnings(r)
    assert lst["warning_id"].tolist() == ["W-2", "W-1", "W-3"]
    assert lst.loc[lst["warning_id"] == "W-1", "entity_name"].item() == "医院H1"
    assert list_warnings(r, levels=["red", "orange"])["warning_id"].tolist() == ["W-1", "W-3"]
    assert list_warnings(r, entity_type="physician")["warning_id"].tolist() == ["W-3"]
    assert list_warnings(r, period_from="2024-11", period_to="2024-11")["warning_id"].tolist() == ["W-1"]
    assert list_warnings(r, indicators=["drug_share"], limit=1)["warning_id"].tolist() == ["W-2"]
    assert entity_warnings(r, "institution", "H1")["indicator"].tolist() == ["cost_per_visit"]
    s = indicator_series(r, "institution", "H1", "cost_per_visit")
    assert s["period"].tolist() == PERIODS
    assert s["value"].iloc[-1] == pytest.approx(420.0) and s["band_high"].iloc[0] == pytest.approx(250.0)
    assert s["level"].iloc[-1] == "red" and s["level"].iloc[0] == ""
    assert indicator_series(r, "institution", "H3", "drug_share").empty
    summ = warning_summary(r)
    assert summ["n"].sum() == 3 and set(summ["level"]) == {"red", "orange", "yellow"}
    # a handler explains W-2; the next run raises W-1 and W-2 again, not W-3
    assert update_warning(r, "W-2", status="explained", user="li", note="新设科室，已核实")
    assert not update_warning(r, "W-none", status="checking", user="li")
    with pytest.raises(ValueError):
        update_warning(r, "W-2", status="bogus", user="li")
    w2 = list(W2)
    w2[5] = 0.75
    out = write_warnings(r, run_id="run2", warnings=_warnings([W1, w2]), indicators=ind)
    assert out["warnings_retired"] == 1 and out["indicator_series_removed"] == 1
    assert r.scalar("MATCH (w:Warning) RETURN count(w)") == 3                         # nothing duplicated or lost
    got = r.run("MATCH (w:Warning {warning_id: 'W-2'}) RETURN w.status AS s, w.handler AS h, w.note AS n, "
                "w.value AS v, w.active AS a")[0]
    assert got == {"s": "explained", "h": "li", "n": "新设科室，已核实", "v": pytest.approx(0.75), "a": True}
    assert list_warnings(r)["warning_id"].tolist() == ["W-2", "W-1"]
    assert set(list_warnings(r, active_only=False)["warning_id"]) == {"W-1", "W-2", "W-3"}
    assert list_warnings(r, status="explained")["warning_id"].tolist() == ["W-2"]
    assert r.scalar("MATCH (s:IndicatorSeries) RETURN count(s)") == 2
    assert r.scalar("MATCH (:IndicatorSeries)-[o:OF]->() RETURN count(o)") == 2
    # the same run again changes nothing
    write_warnings(r, run_id="run2", warnings=_warnings([W1, w2]), indicators=ind)
    assert r.scalar("MATCH (w:Warning) RETURN count(w)") == 3
    assert r.scalar("MATCH (:Warning)-[a:ABOUT]->() RETURN count(a)") == 3


def _leads(rows) -> pd.DataFrame:
    return pd.DataFrame([{"lead_id": lid, "scheme": "card_lending", "score": sc, "amount_at_risk": amt,
                          "summary": "", "rank": k + 1, "n_members": len(ms), "detectors": "x",
                          "members": ";".join(f"person:{m}" for m in ms)}
                         for k, (lid, ms, sc, amt) in enumerate(rows)])


def test_lead_history_versions_merges_splits(neo4j_runner):
    r = neo4j_runner
    _entities(r)
    run1 = _leads([("L-A", ["P1", "P2", "P3"], 0.9, 1000.0), ("L-B", ["P4", "P5"], 0.6, 300.0),
                   ("L-C", ["P6", "P7", "P8", "P9"], 0.7, 800.0)])
    w = write_findings(r, run_id="run1", leads=run1, now=datetime(2025, 1, 1, 8, 0))
    assert w["lead_versions"] == 3 and w["lead_lineage"] == 0
    # run 2: A drops P3 and takes B's members (a merge); C falls apart into C and D (a split)
    run2 = _leads([("L-A", ["P1", "P2", "P4", "P5"], 0.95, 1500.0), ("L-C", ["P6", "P7"], 0.5, 400.0),
                   ("L-D", ["P8", "P9"], 0.55, 400.0)])
    w = write_findings(r, run_id="run2", leads=run2, now=datetime(2025, 2, 1, 8, 0))
    assert w["lead_versions"] == 4 and w["leads_merged"] == 1
    write_findings(r, run_id="run2", leads=run2, now=datetime(2025, 2, 1, 8, 5))     # a crash resumed
    a = lead_timeline(r, "L-A")
    v = a[a["kind"] == "version"].reset_index(drop=True)
    assert v["seq"].tolist() == [1, 2] and v["state"].tolist() == ["new", "changed"]
    assert v.loc[1, "added"] == ["person:P4", "person:P5"] and v.loc[1, "dropped"] == ["person:P3"]
    assert v.loc[1, "merged_from"] == ["L-B"] and v["score"].tolist() == pytest.approx([0.9, 0.95])
    assert v["amount_at_risk"].tolist() == pytest.approx([1000.0, 1500.0])
    assert (a["kind"] == "event").sum() >= 1                                   # the 'detected' event
    b = lead_timeline(r, "L-B")
    vb = b[b["kind"] == "version"].reset_index(drop=True)
    assert vb["state"].tolist() == ["new", "merged"] and vb.loc[1, "merged_into"] == ["L-A"]
    assert vb.loc[1, "dropped"] == ["person:P4", "person:P5"]
    d = lead_timeline(r, "L-D")
    vd = d[d["kind"] == "version"].reset_index(drop=True)
    assert vd["state"].tolist() == ["new"] and vd.loc[0, "split_from"] == ["L-C"]
    vc = lead_timeline(r, "L-C")
    vc = vc[vc["kind"] == "version"].reset_index(drop=True)
    assert vc.loc[1, "dropped"] == ["person:P8", "person:P9"]
    rel = r.read("MATCH (n:Lead)-[d:DERIVED_FROM]->(o:Lead) RETURN n.lead_id AS n, o.lead_id AS o, d.relation AS rel, "
                 "d.shared AS k ORDER BY n, o")
    assert rel == [{"n": "L-A", "o": "L-B", "rel": "merged", "k": 2}, {"n": "L-D", "o": "L-C", "rel": "split", "k": 2}]
    # the members as each run saw them
    assert version_members(r, "L-A", "run1")["members"] == ["person:P1", "person:P2", "person:P3"]
    assert version_members(r, "L-A")["members"] == ["person:P1", "person:P2", "person:P4", "person:P5"]
    assert version_members(r, "L-A", "no-such-run") is None
    # a member's history: P3 was in A in run 1, dropped in run 2
    h = member_history(r, "person", "P3")
    assert h[["lead_id", "seq", "member", "dropped"]].values.tolist() == [["L-A", 1, True, False],
                                                                          ["L-A", 2, False, True]]
    # run 3 writes the same leads again: one new version each, B (retired earlier) gets none again
    write_findings(r, run_id="run3", leads=run2, now=datetime(2025, 3, 1, 8, 0))
    assert r.scalar("MATCH (v:LeadVersion {lead_id: 'L-B'}) RETURN count(v)") == 2
    va = lead_timeline(r, "L-A")
    assert va.loc[va["kind"] == "version", "state"].tolist() == ["new", "changed", "unchanged"]
    # re-running run 3 changes nothing
    write_findings(r, run_id="run3", leads=run2, now=datetime(2025, 3, 1, 8, 0))
    assert r.scalar("MATCH (v:LeadVersion) RETURN count(v)") == 3 + 4 + 3
    assert r.scalar("MATCH (:Lead {lead_id: 'L-A'})-[:HAS_VERSION]->(v:LeadVersion {latest: true}) RETURN count(v)") == 1
    assert r.scalar("MATCH (v:LeadVersion {lead_id: 'L-A', seq: 3})-[:PREVIOUS]->(p) RETURN p.seq") == 2
