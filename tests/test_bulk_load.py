"""The bulk path (``neo4j-admin database import full``) against the real server:
the same graph as the batched loader, quarantined rows left out, exact
incremental loads on top, clear refusals, and a failed import that leaves the
server up with the empty graph it had.

These tests stop and restart the test server (fixture ``local_neo4j_empty``).
"""
from __future__ import annotations

import shutil

import pandas as pd
import pytest

from ringscope.store import server
from ringscope.store.bulk import (
    BulkLoadRefused,
    bulk_ingest,
    choose_mode,
    graph_is_empty,
    write_import_files,
)
from ringscope.store.db import QueryRunner
from ringscope.store.load import NODE_TABLES, graph_counts, ingest_dataset
from ringscope.ingest.reader import read_dataset

pytestmark = pytest.mark.neo4j

LABEL_KEYS = {label: key for label, key in NODE_TABLES.values()}

NODE_TYPES = """
MATCH (n) UNWIND keys(n) AS k
RETURN labels(n)[0] AS label, k, valueType(n[k]) AS type, count(*) AS n
"""
REL_SHAPE = """
MATCH (a)-[r]->(b)
RETURN labels(a)[0] AS a, type(r) AS t, labels(b)[0] AS b, count(*) AS n
"""
REL_TYPES = """
MATCH ()-[r]->() UNWIND keys(r) AS k
RETURN type(r) AS t, k, valueType(r[k]) AS type, count(*) AS n
"""
# the same relationship twice between the same two nodes (STOCKED differs by period, FAMILY by relation:
# a pair bound both as family and as a proxy has two)
DUPLICATE_RELS = """
MATCH (a)-[r]->(b)
WITH a, b, type(r) AS t, r.period AS period, r.relation AS relation, count(*) AS c WHERE c > 1
RETURN count(*) AS n
"""
SAMPLE = """
MATCH (n) WHERE n[$key] IN $ids AND $label IN labels(n)
OPTIONAL MATCH (n)-[r]-(m)
WITH n, r, m, m[$label_keys[labels(m)[0]]] AS other
RETURN n[$key] AS id, properties(n) AS props, [k IN keys(n) | [k, valueType(n[k])]] AS types,
       collect(CASE WHEN r IS NULL THEN null ELSE
         [type(r), startNode(r) = n, labels(m)[0], other, properties(r)] END) AS rels
"""


def _canon(value):
    if isinstance(value, dict):
        return tuple(sorted((k, type(v).__name__, repr(v)) for k, v in value.items()))
    return value


def _shape(q: QueryRunner) -> dict:
    """Counts per label, per (label, type, label) and per property and value type."""
    return {
        "nodes": graph_counts(q),
        "rels": sorted((r["a"], r["t"], r["b"], r["n"]) for r in q.read(REL_SHAPE)),
        "node_types": sorted(tuple(r.values()) for r in q.read(NODE_TYPES) if r["label"] != "LoadState"
                             or r["k"] != "updated_at"),
        "rel_types": sorted(tuple(r.values()) for r in q.read(REL_TYPES)),
    }


def _sample(q: QueryRunner, ds, per_label: int = 60) -> dict:
    """Every property (value and type) and every relationship of a sample of each label's nodes."""
    out = {}
    for table, (label, key) in NODE_TABLES.items():
        df = ds.tables.get(table)
        if df is None or not len(df):
            continue
        ids = df[key].iloc[:: max(1, len(df) // per_label)].tolist()
        for r in q.read(SAMPLE, {"key": key, "ids": ids, "label": label, "label_keys": LABEL_KEYS}):
            rels = sorted((t, out_, lab, other, _canon(p)) for t, out_, lab, other, p in r["rels"])
            out[(label, r["id"])] = (_canon(r["props"]), sorted(map(tuple, r["types"])), rels)
    return out


def _months(city, dest, before: str) -> dict[str, pd.DataFrame]:
    """A copy of ``city`` holding the care before ``before`` (an export of those months)."""
    shutil.copytree(city, dest)
    visits = pd.read_csv(dest / "visits.csv", dtype=str, keep_default_na=False)
    visits = visits[visits["start_time"] < before].reset_index(drop=True)
    kept = set(visits["visit_id"])
    lines = pd.read_csv(dest / "claim_lines.csv", dtype=str, keep_default_na=False)
    lines = lines[lines["visit_id"].isin(kept)].reset_index(drop=True)
    fc = pd.read_csv(dest / "face_captures.csv", dtype=str, keep_default_na=False)
    fc = fc[((fc["visit_id"] == "") & (fc["capture_time"] < before)) | fc["visit_id"].isin(kept)]
    fc.to_csv(dest / "face_captures.csv", index=False)
    visits.to_csv(dest / "visits.csv", index=False)
    lines.to_csv(dest / "claim_lines.csv", index=False)
    if (dest / "drug_traces.csv").exists():     # the packs scanned on the lines of those months
        tr = pd.read_csv(dest / "drug_traces.csv", dtype=str, keep_default_na=False)
        tr[tr["line_id"].isin(set(lines["line_id"]))].to_csv(dest / "drug_traces.csv", index=False)
    return {"visits": visits, "claim_lines": lines}


def _first_months_with_bad_rows(city, dest):
    """The first quarter of ``city`` plus three bad rows the reader quarantines."""
    t = _months(city, dest, "2024-04-01")
    visits, lines = t["visits"], t["claim_lines"]
    negative, orphan = visits.loc[0, "visit_id"], visits.loc[1, "visit_id"]
    visits.loc[0, "total_amount"] = "-12.5"            # negative money
    visits.loc[1, "person_id"] = "NO-SUCH-PERSON"      # unknown foreign key
    visits.to_csv(dest / "visits.csv", index=False)
    # a declared prescribing scope (beyond the contract), a row of it given twice
    pd.DataFrame({"specialty": ["内分泌科", "儿科", "儿科"], "item_prefix": ["XA10", "XJ01", "XJ01"],
                  "basis": ["catalogue", "practice", "practice"]}).to_csv(dest / "prescribing_scope.csv", index=False)
    bad_line = lines.loc[len(lines) - 1, "line_id"]
    lines.loc[len(lines) - 1, "item_code"] = "NO-SUCH-ITEM"
    lines.to_csv(dest / "claim_lines.csv", index=False)
    return {"Visit": [negative, orphan], "ClaimLine": [bad_line]}


def test_bulk_builds_the_batched_graph_and_takes_increments(local_neo4j_empty, small_city, tmp_path):
    victims = _first_months_with_bad_rows(small_city, tmp_path / "h1")
    ds = read_dataset(tmp_path / "h1")
    rep = ds.load_report.set_index("table")["quarantined"]
    assert rep["visits"] == 2 and rep["claim_lines"] >= 1
    assert rep["prescribing_scope"] == 1                 # the row given twice
    # text the CSV files must carry intact: quotes, commas, a line break, padding
    persons, inst = ds.tables["persons"], ds.tables["institutions"]
    odd_name = 'Wang "Xiao" Ming,\nJr.'
    persons.at[0, "name"] = odd_name
    persons.at[0, "chronic_conditions"] = ("E11.9", 'I10 "x", y')
    inst.at[0, "name"] = "  padded  "

    # the reference: the batched loader on the same accepted rows
    with QueryRunner() as q:
        ingest_dataset(ds, q)
        want_shape, want_sample = _shape(q), _sample(q, ds)
        server.reset_database(q)
        assert graph_is_empty(q)
    pid_before = server._read_pid()

    res = bulk_ingest(ds)
    assert res["mode"] == "bulk"
    assert server._read_pid() != pid_before          # it really went through a restart
    assert res["tables"] == {t: len(df) for t, df in ds.tables.items() if len(df)}
    assert set(res["stages"]) >= {"files", "stop", "import", "start", "schema", "state"}

    with QueryRunner() as q:
        got_shape = _shape(q)
        assert got_shape == want_shape
        got_sample = _sample(q, ds)
        assert got_sample.keys() == want_sample.keys() and len(got_sample) > 300
        for k in want_sample:
            assert got_sample[k] == want_sample[k], k
        # every node label holds exactly the accepted rows; quarantined rows are absent
        for table, (label, _) in NODE_TABLES.items():
            if table in ds.tables and len(ds.tables[table]):
                assert got_shape["nodes"][label] == len(ds.tables[table]), label
        assert q.read("MATCH (s:PrescribingScope) RETURN s.specialty AS s, s.item_prefix AS p, s.basis AS b "
                      "ORDER BY s") == [{"s": "儿科", "p": "XJ01", "b": "practice"},
                                        {"s": "内分泌科", "p": "XA10", "b": "catalogue"}]
        for label, ids in victims.items():
            key = "visit_id" if label == "Visit" else "line_id"
            assert q.scalar(f"MATCH (n:{label}) WHERE n.{key} IN $ids RETURN count(n)", {"ids": ids}) == 0
        assert q.scalar("MATCH (p:Person {person_id: $id}) RETURN p.name",
                        {"id": persons.at[0, "person_id"]}) == odd_name
        assert q.scalar("MATCH (i:Institution {institution_id: $id}) RETURN i.name",
                        {"id": inst.at[0, "institution_id"]}) == "  padded  "
        # typed values: a visit's times are LocalDateTime, a person's birth date a Date
        v = ds.tables["visits"].iloc[5]
        row = q.read("MATCH (v:Visit {visit_id: $id}) RETURN v.start_time.hour AS h, v.month AS m, "
                     "valueType(v.start_time) AS t", {"id": v["visit_id"]})[0]
        assert row == {"h": v["start_time"].hour, "m": v["start_time"].strftime("%Y-%m"),
                       "t": "LOCAL DATETIME NOT NULL"}
        assert q.scalar("MATCH (p:Person) RETURN valueType(p.birth_date) AS t LIMIT 1") == "DATE NOT NULL"
        # the schema is there: constraints hold, and a duplicate key is refused
        with pytest.raises(Exception, match="(?i)already exists|constraint"):
            q.run("CREATE (:Person {person_id: $id})", {"id": ds.tables["persons"].iloc[0]["person_id"]})

        # the same files again through the batched path: LoadState says they are in
        again = ingest_dataset(ds, q)
        assert sum(again["tables"].values()) == 0
        assert _shape(q) == got_shape

        # two more months on top (the next export, all months so far): exact counts, no duplicate
        _months(small_city, tmp_path / "h2", "2024-06-01")
        full = read_dataset(tmp_path / "h2")
        assert full.load_report["quarantined"].sum() == 0
        ingest_dataset(full, q, batch_size=5_000)
        counts = graph_counts(q)
        for table, (label, _) in NODE_TABLES.items():
            if table in full.tables and len(full.tables[table]):
                assert counts[label] == len(full.tables[table]), label
        rels = {(a, t, b): n for a, t, b, n in _shape(q)["rels"]}
        visits = full.tables["visits"]
        assert rels[("Visit", "FOR_PERSON", "Person")] == len(visits)
        assert rels[("Visit", "HAS_LINE", "ClaimLine")] == len(full.tables["claim_lines"])
        assert rels[("Visit", "AT", "Institution")] == len(visits)
        assert rels[("FaceCapture", "AT", "Institution")] == len(full.tables["face_captures"])
        assert q.scalar(DUPLICATE_RELS) == 0


def test_bulk_refuses_a_graph_with_data_or_a_remote_server(neo4j_runner, small_city, monkeypatch, capsys):
    from ringscope.cli import main

    ds = read_dataset(small_city, tables=["institutions"])
    # another server: refused before anything is touched
    monkeypatch.setenv("NEO4J_URI", "bolt://db.example.invalid:7687")
    with pytest.raises(BulkLoadRefused, match="NEO4J_URI"):
        bulk_ingest(ds)
    assert choose_mode(ds, min_rows=0)[0] == "batched"
    monkeypatch.delenv("NEO4J_URI")
    if not neo4j_runner.settings.local:
        pytest.skip("the rest needs the project's local server")

    # an empty graph: auto picks bulk only for a dataset large enough
    assert graph_is_empty(neo4j_runner)
    assert choose_mode(ds, min_rows=0) == ("bulk", f"empty local graph and {len(ds.tables['institutions'])} rows")
    mode, why = choose_mode(ds, min_rows=10**9)
    assert mode == "batched" and "repay a server restart" in why

    # a graph with data: refused, nothing stopped, nothing changed
    ingest_dataset(ds, neo4j_runner)
    n = graph_counts(neo4j_runner)["Institution"]
    pid = server._read_pid()
    with pytest.raises(BulkLoadRefused, match="already holds data"):
        bulk_ingest(ds)
    assert server._read_pid() == pid
    assert graph_counts(neo4j_runner)["Institution"] == n
    mode, why = choose_mode(ds, min_rows=0)
    assert mode == "batched" and "already holds data" in why
    assert main(["ingest", str(small_city), "--mode", "bulk"]) == 2
    assert "only fills an EMPTY graph" in capsys.readouterr().err
    assert server._read_pid() == pid


def test_a_failed_import_leaves_the_server_up_and_the_graph_empty(local_neo4j_empty, small_city):
    ds = read_dataset(small_city, tables=["physicians"])
    with pytest.raises(RuntimeError, match="import failed; the local graph is empty again"):
        bulk_ingest(ds, _break_files=True)
    with QueryRunner() as q:
        assert graph_is_empty(q)
        names = {r["name"] for r in q.read("SHOW CONSTRAINTS YIELD name RETURN name")}
        assert {"person_id", "visit_id", "load_state_key"} <= names
        # and a plain load works again
        ingest_dataset(ds, q)
        assert graph_counts(q)["Physician"] == len(ds.tables["physicians"])


def test_import_files_mirror_the_cypher(small_city, tmp_path):
    """No server: the files' headers carry the Cypher statements' types, and a row
    whose MATCH would fail is left out as the statement leaves it out."""
    ds = read_dataset(small_city)
    plan = write_import_files(ds, tmp_path / "files")
    assert not plan.multiline      # no line break in the generated text: the fast parser
    want = {label: len(ds.tables[t]) for t, (label, _) in NODE_TABLES.items() if t in ds.tables and len(ds.tables[t])}
    tr = ds.tables.get("drug_traces")
    if tr is not None and len(tr):       # one Pack per code scanned on a line of the graph
        want["Pack"] = int(tr.loc[tr["line_id"].isin(set(ds.tables["claim_lines"]["line_id"])), "trace_code"].nunique())
    assert plan.nodes == want
    headers = {f.path.name.split("-", 2)[2]: f.path.read_text(encoding="utf-8").splitlines()[0]
               for f in plan.files}
    assert '"birth_date:date"' in headers["Person.csv"]
    assert '"chronic_conditions:string[]"' in headers["Person.csv"]
    assert '"start_time:localdatetime"' in headers["Visit.csv"] and '"month:string"' in headers["Visit.csv"]
    assert '"level:long"' in headers["Institution.csv"]
    assert '"has_face_terminal:boolean"' in headers["Institution.csv"]
    visits = ds.tables["visits"]
    paid_by = ((visits["payer_person_id"].notna()) & (visits["payer_person_id"] != visits["person_id"])).sum()
    assert plan.relationships["PAID_BY"] == paid_by
    assert plan.relationships["BY"] == visits["physician_id"].notna().sum()
    assert plan.relationships["AT"] == len(visits) + len(ds.tables["face_captures"])
