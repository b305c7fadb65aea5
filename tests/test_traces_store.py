"""Drug traceability codes in the real Neo4j: the pack's path (``Pack``, ``DISPENSED_IN`` in
time order) through the batched loader -- exact, idempotent, resumable after a crash,
incremental -- and the bulk import building the same graph; the pack-path queries.

The city is the shared small generated city with a ``drug_traces`` table written here: one
code per drug line, plus packs settled twice and three times (scan order against file order),
scan times missing (the contract's default), a refunded sale and a row whose line is unknown
(quarantined, never in the graph)."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from ringscope.ingest.reader import read_dataset
from ringscope.store.load import graph_counts, ingest_dataset
from ringscope.store.traces import lead_packs, pack_paths

pytestmark = pytest.mark.neo4j

PACKS = """
MATCH (p:Pack)-[d:DISPENSED_IN]->(l:ClaimLine)
RETURN p.trace_code AS code, p.n_settlements AS n, toString(p.first_at) AS first_at, toString(p.last_at) AS last_at,
       l.line_id AS line_id, d.seq AS seq, toString(d.at) AS at, toString(d.scan_time) AS scan_time,
       d.reversed AS reversed, valueType(d.at) AS at_type
ORDER BY code, seq
"""


def _code(i: int) -> str:
    return f"8{i:019d}"


def write_traces(city, dest) -> dict:
    """A copy of ``city`` with drug_traces.csv: returns the special codes and lines."""
    shutil.copytree(city, dest)
    lines = pd.read_csv(dest / "claim_lines.csv", dtype=str, keep_default_na=False)
    visits = pd.read_csv(dest / "visits.csv", dtype=str, keep_default_na=False)
    cat = pd.read_csv(dest / "catalog.csv", dtype=str, keep_default_na=False)
    drugs = set(cat.loc[cat["item_type"] == "drug", "item_code"])
    dl = lines[lines["item_code"].isin(drugs)].merge(visits[["visit_id", "start_time", "person_id"]], on="visit_id")
    dl = dl.sort_values("start_time", kind="mergesort").reset_index(drop=True).head(3000)
    t = pd.to_datetime(dl["start_time"])
    rows = pd.DataFrame({"line_id": dl["line_id"], "trace_code": [_code(i) for i in range(len(dl))],
                         "scan_time": (t + pd.Timedelta(minutes=1)).dt.strftime("%Y-%m-%dT%H:%M:%S"),
                         "reversed": "false"})
    n = len(rows)
    # a pack settled twice (first sale, then again three lines later in time)
    resold = _code(10)
    a, b = dl.index[10], dl.index[400]
    rows.loc[len(rows)] = [dl.at[b, "line_id"], resold, (t[b] + pd.Timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%S"),
                           "false"]
    # a pack settled three times, written to the file latest first
    thrice = _code(20)
    late = [dl.index[2000], dl.index[1000]]
    for k in late:
        rows.loc[len(rows)] = [dl.at[k, "line_id"], thrice, "", "false"]   # no scan time: the visit's start
    # the first sale of the thrice-settled pack was refunded
    rows.loc[rows["trace_code"] == thrice, "reversed"] = np.where(
        rows.loc[rows["trace_code"] == thrice, "line_id"] == dl.at[20, "line_id"], "true", "false")
    # a row whose line does not exist: quarantined
    rows.loc[len(rows)] = ["NO-SUCH-LINE", _code(999_999), "", "false"]
    rows.to_csv(dest / "drug_traces.csv", index=False)
    return {"n_plain": n, "resold": resold, "resold_lines": [dl.at[a, "line_id"], dl.at[b, "line_id"]],
            "thrice": thrice, "thrice_lines": [dl.at[20, "line_id"], dl.at[1000, "line_id"], dl.at[2000, "line_id"]],
            # the contract's default scan time: the line's service time, else its visit's start
            "thrice_default": [dl.at[k, "service_time"] or dl.at[k, "start_time"] for k in (1000, 2000)],
            "cutoff": str(t[1500]), "dl": dl}


@pytest.fixture(scope="module")
def traced(small_city, tmp_path_factory):
    d = tmp_path_factory.mktemp("traced") / "city"
    info = write_traces(small_city, d)
    return d, info


def _packs(q) -> pd.DataFrame:
    return pd.DataFrame(q.read(PACKS))


def test_batched_load_is_the_pack_path_idempotent_and_resumable(neo4j_runner, traced):
    city, info = traced
    ds = read_dataset(city)
    rep = ds.load_report.set_index("table")
    assert rep.at["drug_traces", "quarantined"] == 1
    tr = ds.tables["drug_traces"]
    ingest_dataset(ds, neo4j_runner, batch_size=700)
    got = _packs(neo4j_runner)
    assert graph_counts(neo4j_runner)["Pack"] == tr["trace_code"].nunique()
    assert len(got) == len(tr.drop_duplicates(["trace_code", "line_id"]))
    assert "NO-SUCH-LINE" not in set(got["line_id"]) and _code(999_999) not in set(got["code"])

    # the pack settled twice, and the one settled three times: in time order, whatever the file's order
    r = got[got["code"] == info["resold"]]
    assert r["line_id"].tolist() == info["resold_lines"] and r["seq"].tolist() == [1, 2] and (r["n"] == 2).all()
    th = got[got["code"] == info["thrice"]]
    assert th["line_id"].tolist() == info["thrice_lines"] and th["seq"].tolist() == [1, 2, 3]
    assert th["reversed"].tolist() == [True, False, False]
    # no scan time: at = the line's service time (else the visit's start); the recorded scan_time
    # stays empty; times are LocalDateTime
    assert th["scan_time"].tolist()[1:] == [None, None]
    assert [a[:19] for a in th["at"].tolist()[1:]] == [s[:19] for s in info["thrice_default"]]
    assert th["first_at"].iloc[0] == th["at"].iloc[0] and th["last_at"].iloc[0] == th["at"].iloc[-1]
    assert set(got["at_type"]) == {"LOCAL DATETIME NOT NULL"}

    # the explorer's pack path and the lead's code list read the same
    pp = pack_paths(neo4j_runner, [info["thrice"], info["resold"]])
    assert pp.groupby("trace_code")["seq"].apply(list).to_dict() == {info["resold"]: [1, 2], info["thrice"]: [1, 2, 3]}
    assert pp["institution_id"].notna().all() and pp["person_id"].notna().all()
    dl = info["dl"].set_index("line_id")
    buyer = dl.at[info["resold_lines"][0], "person_id"]
    outlet = pp.loc[(pp["trace_code"] == info["resold"]) & (pp["seq"] == 2), "institution_id"].iloc[0]
    lp = lead_packs(neo4j_runner, [buyer], [outlet])
    assert info["resold"] in set(lp["trace_code"])
    steps = lp.set_index("trace_code").at[info["resold"], "steps"]
    assert [s["seq"] for s in steps] == [1, 2] and steps[0]["person_id"] == buyer
    assert lead_packs(neo4j_runner, [buyer], ["NO-SUCH-INSTITUTION"]).empty

    # a re-run changes nothing
    again = ingest_dataset(ds, neo4j_runner, batch_size=700)
    assert again["tables"].get("drug_traces", 0) == 0
    pd.testing.assert_frame_equal(_packs(neo4j_runner), got)

    # a crash in the middle of the traces, then the same load again: the same graph
    from ringscope.store.server import reset_database
    from ringscope.store.load import apply_schema

    reset_database(neo4j_runner)
    apply_schema(neo4j_runner)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest_dataset(ds, neo4j_runner, batch_size=700, fail_after_rows={"drug_traces": 1400})
    assert 0 < graph_counts(neo4j_runner)["Pack"] < tr["trace_code"].nunique()
    res = ingest_dataset(ds, neo4j_runner, batch_size=700)
    assert res["skipped"]["drug_traces"] == 1400
    pd.testing.assert_frame_equal(_packs(neo4j_runner), got)


def test_next_months_settlements_extend_the_paths(neo4j_runner, traced, tmp_path):
    """The first months' traces, then the full export: a path that spans both loads is put in
    order again over all its settlements, with no duplicate."""
    city, info = traced
    first = tmp_path / "first"
    shutil.copytree(city, first)
    tr = pd.read_csv(city / "drug_traces.csv", dtype=str, keep_default_na=False)
    lines = pd.read_csv(city / "claim_lines.csv", dtype=str, keep_default_na=False)
    visits = pd.read_csv(city / "visits.csv", dtype=str, keep_default_na=False)
    when = tr.merge(lines[["line_id", "visit_id"]], on="line_id", how="left").merge(
        visits[["visit_id", "start_time"]], on="visit_id", how="left")["start_time"]
    tr[(when < info["cutoff"]).to_numpy()].to_csv(first / "drug_traces.csv", index=False)
    ingest_dataset(read_dataset(first), neo4j_runner, batch_size=2_000)
    part = _packs(neo4j_runner)
    assert part.loc[part["code"] == info["thrice"], "seq"].tolist() == [1, 2]
    full = read_dataset(city)
    ingest_dataset(full, neo4j_runner, batch_size=2_000)
    got = _packs(neo4j_runner)
    th = got[got["code"] == info["thrice"]]
    assert th["line_id"].tolist() == info["thrice_lines"] and th["seq"].tolist() == [1, 2, 3] and (th["n"] == 3).all()
    assert len(got) == len(full.tables["drug_traces"].drop_duplicates(["trace_code", "line_id"]))
    assert neo4j_runner.scalar("MATCH (p:Pack)-[d:DISPENSED_IN]->(l) WITH p, l, count(d) AS c WHERE c > 1 "
                               "RETURN count(*)") == 0


def test_bulk_import_builds_the_same_pack_paths(local_neo4j_empty, traced):
    from ringscope.store import server
    from ringscope.store.bulk import bulk_ingest, graph_is_empty
    from ringscope.store.db import QueryRunner

    city, info = traced
    ds = read_dataset(city)
    with QueryRunner() as q:
        ingest_dataset(ds, q)
        want = _packs(q)
        want_props = q.read("MATCH (p:Pack) UNWIND keys(p) AS k RETURN k, valueType(p[k]) AS t, count(*) AS n "
                            "ORDER BY k, t")
        server.reset_database(q)
        assert graph_is_empty(q)
    res = bulk_ingest(ds)
    assert res["nodes"]["Pack"] == ds.tables["drug_traces"]["trace_code"].nunique()
    with QueryRunner() as q:
        pd.testing.assert_frame_equal(_packs(q), want)
        assert q.read("MATCH (p:Pack) UNWIND keys(p) AS k RETURN k, valueType(p[k]) AS t, count(*) AS n "
                      "ORDER BY k, t") == want_props
        # the same files through the batched path afterwards: recorded as loaded, nothing changes
        again = ingest_dataset(ds, q)
        assert again["tables"].get("drug_traces", 0) == 0
        pd.testing.assert_frame_equal(_packs(q), want)
