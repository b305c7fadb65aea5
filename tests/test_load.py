"""Loading a dataset into the real Neo4j: exact counts, idempotent re-runs,
crash-resume and incremental loads."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest

from ringscope.store.load import NODE_TABLES, graph_counts, ingest_dataset
from ringscope.ingest.reader import read_dataset

pytestmark = pytest.mark.neo4j

REL_COUNTS = """
MATCH ()-[r]->() RETURN type(r) AS t, count(r) AS n
"""


def _rels(q) -> dict[str, int]:
    return {r["t"]: r["n"] for r in q.read(REL_COUNTS)}


def _expected_nodes(ds) -> dict[str, int]:
    return {label: len(ds.tables[t]) for t, (label, _) in NODE_TABLES.items()
            if t in ds.tables and len(ds.tables[t])}


@pytest.fixture(scope="module")
def city_ds(small_city):
    return read_dataset(small_city)


def test_counts_equal_accepted_rows_and_rerun_changes_nothing(neo4j_runner, city_ds):
    ds = city_ds
    res = ingest_dataset(ds, neo4j_runner, batch_size=5_000)
    counts = graph_counts(neo4j_runner)
    for label, n in _expected_nodes(ds).items():
        assert counts.get(label) == n, (label, counts.get(label), n)
    rels = _rels(neo4j_runner)
    visits = ds.tables["visits"]
    assert rels["FOR_PERSON"] == len(visits)
    assert rels["AT"] == len(visits) + len(ds.tables.get("face_captures", []))
    assert rels["BY"] == visits["physician_id"].notna().sum()
    assert rels["HAS_LINE"] == len(ds.tables["claim_lines"])
    assert rels["PRACTISES_AT"] == len(ds.tables["physicians"])
    if "family_links" in ds.tables:
        fl = ds.tables["family_links"]
        # one FAMILY relationship per (person, related person, relation): the contract's key
        assert rels["FAMILY"] == len(fl.drop_duplicates(["person_id", "related_person_id", "relation"]))
    assert res["tables"]["visits"] == len(visits)

    # a re-run of the same files is skipped by the bookkeeping and changes nothing
    again = ingest_dataset(ds, neo4j_runner, batch_size=5_000)
    assert sum(again["tables"].values()) == 0
    assert graph_counts(neo4j_runner) == counts
    assert _rels(neo4j_runner) == rels

    # values arrive typed: ids as strings, times as LocalDateTime, lists as lists
    v = visits.iloc[0]
    row = neo4j_runner.read(
        "MATCH (v:Visit {visit_id: $id}) RETURN v.start_time.year AS y, v.total_amount AS amt, "
        "v.month AS month, valueType(v.diagnosis_codes) AS dt", {"id": v["visit_id"]})[0]
    assert row["y"] == v["start_time"].year
    assert row["amt"] == pytest.approx(float(v["total_amount"]))
    assert row["month"] == v["start_time"].strftime("%Y-%m")
    assert row["dt"].startswith("LIST")


def test_crash_mid_load_resumes_exactly(neo4j_runner, city_ds):
    ds = city_ds
    n_visits = len(ds.tables["visits"])
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest_dataset(ds, neo4j_runner, batch_size=1_000, fail_after_rows={"visits": 3_000})
    partial = graph_counts(neo4j_runner)
    assert partial["Visit"] == 3_000
    assert "ClaimLine" not in partial
    res = ingest_dataset(ds, neo4j_runner, batch_size=1_000)
    assert res["skipped"]["visits"] == 3_000
    assert res["tables"]["visits"] == n_visits - 3_000
    counts = graph_counts(neo4j_runner)
    for label, n in _expected_nodes(ds).items():
        assert counts.get(label) == n, label
    assert _rels(neo4j_runner)["FOR_PERSON"] == n_visits


def test_next_month_adds_to_what_is_there(neo4j_runner, small_city, tmp_path):
    """An export of the first half of the year, then the whole year: exact counts."""
    first = tmp_path / "h1"
    shutil.copytree(small_city, first)
    visits = pd.read_csv(first / "visits.csv", dtype=str, keep_default_na=False)
    cut = visits["start_time"] < "2024-07-01"
    visits[cut].to_csv(first / "visits.csv", index=False)
    lines = pd.read_csv(first / "claim_lines.csv", dtype=str, keep_default_na=False)
    kept_lines = lines[lines["visit_id"].isin(set(visits[cut]["visit_id"]))]
    kept_lines.to_csv(first / "claim_lines.csv", index=False)
    if (first / "drug_traces.csv").exists():    # the packs scanned on the lines of those months
        tr = pd.read_csv(first / "drug_traces.csv", dtype=str, keep_default_na=False)
        tr[tr["line_id"].isin(set(kept_lines["line_id"]))].to_csv(first / "drug_traces.csv", index=False)
    for t in ("face_captures",):
        p = first / f"{t}.csv"
        if p.exists():
            fc = pd.read_csv(p, dtype=str, keep_default_na=False)
            # an export of those months: captures linked to their visits, others taken in them
            fc = fc[((fc["visit_id"] == "") & (fc["capture_time"] < "2024-07-01"))
                    | fc["visit_id"].isin(set(visits[cut]["visit_id"]))]
            fc.to_csv(p, index=False)
    ds1 = read_dataset(first)
    assert ds1.load_report["quarantined"].sum() == 0
    ingest_dataset(ds1, neo4j_runner)
    assert graph_counts(neo4j_runner)["Visit"] == int(cut.sum())
    full = read_dataset(small_city)
    ingest_dataset(full, neo4j_runner)
    counts = graph_counts(neo4j_runner)
    for label, n in _expected_nodes(full).items():
        assert counts.get(label) == n, label


def test_quarantined_rows_never_reach_the_graph(neo4j_runner, small_city, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(small_city, bad)
    visits = pd.read_csv(bad / "visits.csv", dtype=str, keep_default_na=False)
    victim = visits.loc[0, "visit_id"]
    visits.loc[0, "total_amount"] = "-12.5"          # negative money
    visits.loc[1, "person_id"] = "NO-SUCH-PERSON"      # unknown foreign key
    visits.to_csv(bad / "visits.csv", index=False)
    ds = read_dataset(bad)
    rep = ds.load_report.set_index("table")
    assert rep.loc["visits", "quarantined"] == 2
    ingest_dataset(ds, neo4j_runner)
    assert neo4j_runner.scalar("MATCH (v:Visit {visit_id: $id}) RETURN count(v)", {"id": victim}) == 0
    assert graph_counts(neo4j_runner)["Visit"] == len(visits) - 2
