"""The Spark engine (graph/spark.py) against the single-machine DuckDB engine.

One Spark session (``local[2]``, started here) for the whole module and one small generated city
(with drug traces, so the trace queries run too). The SQL library runs on both engines and the
results must be equal as sets (floats within 1e-9 relative); then the whole ``detect`` runs on
both and must give the same rule hits (same hit ids, amounts within 1e-6) and the same leads
(same scheme and members; scores within 1e-6).
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

pyspark = pytest.importorskip("pyspark")

from ringscope.graph.engine import Engine, sql_names, sql_text  # noqa: E402
from ringscope.graph.spark import (NOT_TRANSPILED, NotTranspiled, SparkEngine, fetch_dataset,  # noqa: E402
                                   spark_session, to_spark, transpile_report)

SCORE_TOL = 1e-6     # leads' and entity scores: relative tolerance between the engines
FLOAT_RTOL = 1e-9    # projections: floats within this relative tolerance


@pytest.fixture(scope="module")
def spark():
    s = spark_session("local[2]", {"spark.sql.shuffle.partitions": "4", "spark.driver.memory": "1g"},
                      app_name="ringscope-tests")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    from ringscope.synth.generator import generate

    out = tmp_path_factory.mktemp("spark_city") / "city"
    generate(out, persons=1200, seed=5, fmt="parquet", config={"drug_traces": {"enabled": True}})
    # a declared prescribing scope (beyond the contract): the commonest drug class restricted to the
    # commonest specialty, and a practice scope for the next specialty, so R-MED-016 runs and hits
    cat, doc = pd.read_parquet(out / "catalog.parquet"), pd.read_parquet(out / "physicians.parquet")
    prefix = cat.loc[cat["item_type"] == "drug", "item_code"].str[:4].value_counts().index[0]
    specs = doc["specialty"].value_counts().index
    pd.DataFrame({"specialty": [specs[0], specs[1]], "item_prefix": [prefix, prefix],
                  "basis": ["catalogue", "practice"]}).to_parquet(out / "prescribing_scope.parquet", index=False)
    return out


@pytest.fixture(scope="module")
def engines(city, spark):
    from ringscope.ingest.reader import read_dataset

    ds = read_dataset(city)
    duck = Engine.over_dataset(ds)
    sp = SparkEngine.over_dataset(ds, spark, fallback=Engine.over_dataset(ds))
    yield ds, duck, sp
    sp.close()
    duck.close()
    ds.close()


# ----------------------------------------------------------------------------- transpiling
def test_every_library_file_transpiles_but_the_listed_face_queries():
    r = transpile_report().set_index("name")
    assert set(r.index) == set(sql_names())
    refused = set(r.index[~r["transpiles"]])
    assert refused == set(NOT_TRANSPILED)
    for name in ("exposure", "rule_outside_specialty", "rule_line_amount_outlier", "rule_visit_amount_outlier",
                 "rule_high_value_share", "prescribing_edges", "trace_steps", "trace_unbought", "trace_volumes"):
        assert r.loc[name, "transpiles"], name


def test_rewrites_where_the_dialects_differ():
    (s,) = to_spark("SELECT list(DISTINCT p ORDER BY p)[1:$n] AS x, quantile_cont(a, 0.5) AS q, "
                    "epoch(ts) AS e, round(a, 2) AS r FROM t")
    assert "SLICE(ARRAY_SORT(COLLECT_SET(p)), 1, (:n - 1 + 1))" in s
    assert "PERCENTILE(a, 0.5)" in s and "UNIX_MICROS(CAST(ts AS TIMESTAMP_LTZ)) / 1e6" in s
    assert "ROUND(a * POWER(10, 2)) / POWER(10, 2)" in s
    (u,) = to_spark("SELECT a, b FROM t UNION ALL BY NAME SELECT a FROM u")
    assert u.endswith("UNION ALL SELECT a, NULL AS b FROM u")
    (m,) = to_spark("FROM t UNION ALL BY NAME SELECT NULL::DOUBLE AS x WHERE false")
    assert m == "SELECT * FROM t"
    with pytest.raises(NotTranspiled):
        to_spark("SELECT CAST(e AS FLOAT[128]) FROM t")
    with pytest.raises(NotTranspiled):
        to_spark("SELECT list(a ORDER BY b) FROM t")


# ----------------------------------------------------------------------------- the library, both engines
def _canon(df: pd.DataFrame) -> pd.DataFrame:
    """A result as a comparable set: lists as sorted tuples, rows sorted by every column."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):       # DuckDB gives us, Spark ns: the same instants
            out[c] = out[c].astype("datetime64[ns]")
        if out[c].dtype == object:
            out[c] = [tuple(x) if isinstance(x, (list, tuple, np.ndarray)) else x for x in out[c]]
    key = [c for c in out.columns if out[c].dtype == object] or list(out.columns)
    return out.sort_values(key, na_position="last", kind="stable").reset_index(drop=True)


def _assert_same(a: pd.DataFrame, b: pd.DataFrame, name: str) -> None:
    assert list(a.columns) == list(b.columns), name
    assert len(a) == len(b), f"{name}: {len(a)} rows on DuckDB, {len(b)} on Spark"
    pd.testing.assert_frame_equal(_canon(a), _canon(b), check_dtype=False, check_exact=False, rtol=FLOAT_RTOL,
                                  obj=name)


def _queries(ds) -> dict[str, tuple[dict, dict | None]]:
    cat = ds.tables["catalog"]
    items = pd.DataFrame({"item_code": cat.loc[cat["item_type"] == "drug", "item_code"].astype(object),
                          "grp": "drug"})
    persons = pd.DataFrame({"person_id": ds.tables["visits"]["person_id"].drop_duplicates().head(200)})
    return {
        "exposure": ({}, None),
        "institution_volume": ({}, None),
        "payer_pairs": ({}, None),
        "rule_high_value_share": ({"price_quantile": 0.95}, None),
        "rule_line_amount_outlier": ({"min_group": 30, "z_min": 3.5, "min_amount": 50.0}, None),
        "rule_visit_amount_outlier": ({"min_group": 50, "z_min": 3.5, "min_amount": 50.0}, None),
        "rule_outside_specialty": ({"exempt": ["全科"], "item_types": ["drug", "material"], "max_peer_rate": 0.02,
                                    "min_peer_lines": 30, "min_physician_lines": 3, "min_patients": 2}, None),
        "prescribing_edges": ({}, {"items": items}),
        "prescribing_fills": ({}, {"items": items}),
        "prescribing_baselines": ({}, {"items": items}),
        "prescribing_channel_patients": ({"min_patients": 2}, {"items": items}),
        "prescribing_person_lines": ({}, {"items": items, "want": persons}),
        "visits_of_persons": ({}, {"want": persons}),
        "cashout_sold": ({}, None),
        "visit_amounts": ({}, {"want": ds.tables["visits"][["visit_id"]].head(300)}),
        "trace_steps": ({"scanner_minutes": 10.0, "split_tolerance": 0.05}, None),
        "trace_unbought": ({"grace_months": 3, "max_codes": 5},
                           {"counted": pd.DataFrame({"line_id": ["none"], "trace_code": ["none"]})}),
        "trace_volumes": ({}, {"want": pd.DataFrame({"entity_type": ["person"] * len(persons),
                                                     "entity_id": persons["person_id"].to_numpy()}),
                               "items": items[["item_code"]]}),
    }


def test_the_sql_library_gives_the_same_results_on_both_engines(engines):
    ds, duck, sp = engines
    duck.script("trace_views")
    sp.script("trace_views")
    nonempty = 0
    for name, (params, frames) in _queries(ds).items():
        a = duck.query(name, params, frames)
        b = sp.query(name, params, frames)
        _assert_same(a, b, name)
        nonempty += len(a) > 0
        assert sp.spark_runs.get(name), f"{name} did not run on Spark"
    assert nonempty >= 14      # the comparisons are of real results, not of empty tables
    assert not sp.fallbacks


def test_order_dependent_queries_follow_the_source_rows(engines):
    """``row_number() OVER ()`` is the table's order on DuckDB; on Spark the reader's source row."""
    ds, duck, sp = engines
    want = pd.DataFrame({"person_id": ds.tables["visits"]["person_id"].drop_duplicates().head(50)})
    a = duck.query("visits_of_persons", frames={"want": want})
    b = sp.query("visits_of_persons", frames={"want": want})
    assert a["visit_id"].tolist() == b["visit_id"].tolist()      # the same order, not only the same set


def test_face_queries_fall_back_to_duckdb_and_say_so(engines):
    _, duck, sp = engines
    a = duck.query("face_claimed")
    b = sp.query("face_claimed")
    _assert_same(a, b, "face_claimed")
    assert sp.fallbacks.get("face_claimed", 0) >= 1
    bare = SparkEngine(sp.spark, sp.tables)           # no fallback: a clear refusal
    with pytest.raises(NotTranspiled, match="face_claimed"):
        bare.query("face_claimed")


def test_values_only_as_parameters(engines):
    """A value with quotes stays a value on Spark too (no SQL is built from values)."""
    _, duck, sp = engines
    sql = "SELECT count(*) AS n FROM visits WHERE person_id = $p OR list_contains($ps, person_id)"
    evil = "x' OR '1'='1"
    for p in ({"p": evil, "ps": [evil]}, {"p": evil, "ps": []}):
        assert int(sp.df(sql, p)["n"].iloc[0]) == int(duck.df(sql, p)["n"].iloc[0]) == 0
    with pytest.raises(ValueError, match="hide a table"):
        sp.df("SELECT 1", frames={"visits": pd.DataFrame({"a": [1]})})


def test_buckets_drawn_on_spark_cover_every_id_once(engines):
    _, _, sp = engines
    ids = pd.DataFrame({"id": [f"P{i:05d}" for i in range(2000)]})
    b = sp.df("SELECT id, (hash(id) % $k)::BIGINT AS b FROM u", {"k": 7}, frames={"u": ids})
    assert len(b) == 2000 and b["b"].between(0, 6).all() and b["b"].nunique() == 7


def test_a_dataset_at_a_hadoop_uri_is_fetched_by_spark_and_validates_the_same(city, spark, tmp_path):
    from ringscope.ingest.reader import read_dataset

    got = fetch_dataset(city.resolve().as_uri(), tmp_path / "fetched", spark)
    with read_dataset(city) as a, read_dataset(tmp_path / "fetched") as b:
        assert got == {t: len(a.tables[t]) for t in a.tables}
        assert len(b.quarantine) == len(a.quarantine) == 0
        for t in ("visits", "claim_lines", "drug_traces"):
            pd.testing.assert_frame_equal(a.tables[t], b.tables[t], check_dtype=False, obj=t)


# ----------------------------------------------------------------------------- the whole detection
def _hits(p) -> pd.DataFrame:
    return pd.read_csv(p / "rule_hits.csv", dtype=str, keep_default_na=False)


def _leads(p) -> dict[str, float]:
    df = pd.read_csv(p / "leads.csv", dtype=str, keep_default_na=False)
    return dict(zip(df["scheme"] + "|" + df["members"], df["score"].astype(float)))


def test_detect_on_spark_gives_the_same_rule_hits_and_leads(city, spark, tmp_path):
    from ringscope.pipeline import detect

    a = detect(city, tmp_path / "duckdb", neo4j=False, gnn=False)
    b = detect(city, tmp_path / "spark", neo4j=False, gnn=False, engine="spark", spark=spark)
    assert not a["errors"] and not b["errors"], (a["errors"], b["errors"])
    eng = b["engine"]
    assert eng["name"] == "spark" and eng["master"] == "local[2]"
    for q in ("rule_outside_specialty", "rule_declared_scope", "rule_line_amount_outlier", "rule_visit_amount_outlier",
              "rule_high_value_share", "exposure", "prescribing_edges", "trace_steps"):
        assert eng["ran_on_spark"].get(q), q
    assert set(eng["ran_on_duckdb"]) <= set(NOT_TRANSPILED)

    ha, hb = _hits(tmp_path / "duckdb"), _hits(tmp_path / "spark")
    assert len(ha) > 100
    assert set(ha["hit_id"]) == set(hb["hit_id"])
    engine_rules = {"R-MED-011", "R-MED-012", "R-MED-013", "R-MED-014"}
    assert ha["rule_id"].isin(engine_rules).any()     # the rules Spark computed did hit
    assert (ha["rule_id"] == "R-MED-016").sum() > 10 and (ha["rule_id"] == "R-MED-011").any()
    m = ha.merge(hb, on="hit_id", suffixes=("_d", "_s"))
    amt = np.abs(pd.to_numeric(m["amount_at_risk_d"]) - pd.to_numeric(m["amount_at_risk_s"]))
    assert (amt <= 1e-6 * np.maximum(1.0, np.abs(pd.to_numeric(m["amount_at_risk_d"])))).all()
    assert (m["evidence_d"] == m["evidence_s"]).all()

    la, lb = _leads(tmp_path / "duckdb"), _leads(tmp_path / "spark")
    assert len(la) >= 3
    assert set(la) == set(lb)
    assert all(math.isclose(la[k], lb[k], rel_tol=SCORE_TOL, abs_tol=SCORE_TOL) for k in la)
    manifest = json.loads((tmp_path / "spark" / "manifest.json").read_text())
    assert manifest["engine"]["name"] == "spark"
    # the graph step ran on Spark; a small city is handed to the detectors whole (so the leads can
    # be equal): the counts of what Spark saw are recorded all the same
    g = manifest["engine"]["graph"]
    assert g["whole_graph"] and g["nodes"] > 1000 and g["edges"] > g["nodes"]
    assert g["handed_on_nodes"] == g["nodes"] and g["handed_on_edges"] == g["edges"]
    assert 0 < g["flagged_in_graph"] <= g["flagged"] and g["candidate_nodes"] >= g["flagged_in_graph"]
    assert eng["ran_on_spark"].get("graph_edges") and "spark_graph" in manifest["timings"]
