"""The graph step on Spark (graph/spark_graph.py) on ``local[2]``.

Connected components (Large-Star / Small-Star on DataFrames) must give the same partition of the
nodes as ``scipy.sparse.csgraph.connected_components`` on a generated city's entity graph (the
edge list from the SQL library, the same on DuckDB and Spark); label propagation must equal a
plain-Python reference and be deterministic; the reduction must keep every flagged entity's
component. The Spark session is the one of tests/test_spark_engine.py (one JVM per test run).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pyspark = pytest.importorskip("pyspark")

from ringscope.graph.engine import Engine  # noqa: E402
from ringscope.graph.spark import SparkEngine  # noqa: E402
from ringscope.graph.spark_graph import (connected_components, entity_edges, flagged_nodes,  # noqa: E402
                                         graphframes_available, label_propagation, lpa_reference, reduce_graph)
from test_spark_engine import spark  # noqa: E402,F401 - the module's Spark session fixture


@pytest.fixture(scope="module")
def city_graph(tmp_path_factory, spark):  # noqa: F811
    from ringscope.ingest.reader import read_dataset
    from ringscope.synth.generator import generate

    out = tmp_path_factory.mktemp("spark_graph_city") / "city"
    generate(out, persons=600, seed=11, fmt="parquet")
    ds = read_dataset(out)
    duck = Engine.over_dataset(ds)
    sp = SparkEngine.over_dataset(ds, spark)
    yield ds, duck, sp
    sp.close()
    duck.close()
    ds.close()


def _partition(labels: dict[str, object]) -> set[frozenset[str]]:
    groups: dict[object, set[str]] = {}
    for n, c in labels.items():
        groups.setdefault(c, set()).add(n)
    return {frozenset(g) for g in groups.values()}


def _scipy_components(edges: pd.DataFrame) -> dict[str, int]:
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components as scc

    codes, names = pd.factorize(pd.concat([edges["a"], edges["b"]], ignore_index=True))
    n = len(names)
    a, b = codes[: len(edges)], codes[len(edges):]
    m = sp.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, lab = scc(m, directed=False)
    return dict(zip(names, lab))


def test_the_edge_list_is_the_same_on_both_engines(city_graph):
    _, duck, sp = city_graph
    a = duck.query("graph_edges").sort_values(["a", "b"]).reset_index(drop=True)
    b = sp.frame("graph_edges").toPandas().sort_values(["a", "b"]).reset_index(drop=True)
    assert len(a) > 1000 and set(a["kind"]) >= {"visit", "physician"}
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    assert (a["a"] < a["b"]).all()


def test_connected_components_equal_scipy_on_a_city(city_graph, spark):  # noqa: F811
    _, duck, sp = city_graph
    edges = duck.query("graph_edges")
    # the whole city is one component through its hospitals and physicians: without the nodes of
    # more than 20 neighbours the comparison has many components of many sizes
    deg = pd.concat([edges["a"], edges["b"]]).value_counts()
    hubs = set(deg.index[deg > 20])
    e = edges[~edges["a"].isin(hubs) & ~edges["b"].isin(hubs)].reset_index(drop=True)
    want = _scipy_components(e)
    got = connected_components(spark.createDataFrame(e[["a", "b"]]), checkpoint_interval=2).toPandas()
    got = dict(zip(got["node"], got["component"]))
    assert set(got) == set(want)
    assert _partition(got) == _partition(want)
    assert len(_partition(want)) > 20 and max(map(len, _partition(want))) > 50
    for comp in _partition(got):                      # the label is the component's smallest node
        assert {got[n] for n in comp} == {min(comp)}


def test_graphframes_from_maven_central_gives_the_same_components(city_graph, spark):  # noqa: F811
    """The session the engine starts carries GraphFrames' jar, resolved from Maven Central for the
    installed Spark (graph/spark.py ``spark_session``); its connected components partition the
    city's graph exactly as the DataFrame implementation does, labelled by the smallest member."""
    from ringscope.graph.spark_graph import graphframes_coordinates

    assert graphframes_coordinates() in spark.conf.get("spark.jars.packages", "")
    assert graphframes_available(spark), "the project's install and session provide GraphFrames"
    _, duck, _ = city_graph
    edges = duck.query("graph_edges")
    deg = pd.concat([edges["a"], edges["b"]]).value_counts()
    hubs = set(deg.index[deg > 20])
    e = spark.createDataFrame(edges[~edges["a"].isin(hubs) & ~edges["b"].isin(hubs)][["a", "b"]])
    gf = connected_components(e, graphframes="always").toPandas().set_index("node")["component"].to_dict()
    df = connected_components(e, graphframes="never").toPandas().set_index("node")["component"].to_dict()
    assert gf == df and len(set(gf.values())) > 20
    # GraphFrames' label propagation (its own tie-breaking): one label per node, each a member's id
    lp = label_propagation(e, iterations=3, graphframes="always").toPandas().set_index("node")["label"].to_dict()
    assert set(lp) == set(gf) and set(lp.values()) <= set(lp)
    # within a component only: labels never cross components
    assert all(gf[n] == gf[lab] for n, lab in lp.items())


def test_components_of_a_long_path_and_isolated_nodes(spark):  # noqa: F811
    """A path of 40 nodes (many iterations, so checkpoints) plus a triangle and a lone node."""
    path = [(f"n{i:03d}", f"n{i + 1:03d}") for i in range(39)][::-1]
    tri = [("x", "y"), ("y", "z"), ("z", "x"), ("x", "x")]
    e = spark.createDataFrame(pd.DataFrame(path + tri, columns=["a", "b"]))
    nodes = spark.createDataFrame(pd.DataFrame({"node": ["lone", "x"]}))
    got = connected_components(e, nodes, checkpoint_interval=1).toPandas().set_index("node")["component"].to_dict()
    assert got["lone"] == "lone" and {got[k] for k in "xyz"} == {"x"}
    assert {got[f"n{i:03d}"] for i in range(40)} == {"n000"}
    assert len(got) == 44


def test_label_propagation_equals_the_reference_and_is_deterministic(spark):  # noqa: F811
    rng = np.random.default_rng(3)
    # two dense groups joined by one edge, a star, and a ring (ties everywhere)
    edges = [(f"a{i}", f"a{j}") for i in range(6) for j in range(i + 1, 6) if rng.random() < 0.8]
    edges += [(f"b{i}", f"b{j}") for i in range(6) for j in range(i + 1, 6) if rng.random() < 0.8]
    edges += [("a0", "b0")] + [("s", f"t{i}") for i in range(5)] + [(f"r{i}", f"r{(i + 1) % 6}") for i in range(6)]
    want = lpa_reference(edges, iterations=4)
    df = spark.createDataFrame(pd.DataFrame(edges, columns=["a", "b"]))
    runs = [label_propagation(df.repartition(k), iterations=4, checkpoint_interval=2).toPandas()
            .set_index("node")["label"].to_dict() for k in (1, 3)]
    assert runs[0] == runs[1] == want
    assert len(set(want.values())) >= 3
    assert len({want[f"t{i}"] for i in range(5)}) == 1     # leaves of one star: one label


def test_the_reduction_keeps_every_flagged_entitys_component(city_graph, spark):  # noqa: F811
    ds, duck, sp = city_graph
    edges = entity_edges(sp)
    pe = pd.concat([duck.query("graph_edges"), duck.query("graph_edges_family")]).drop_duplicates(["a", "b"])
    persons = sorted({n for n in pe["a"] if n.startswith("person:")})
    flagged = persons[:3] + persons[-2:] + ["person:NOT-IN-GRAPH"]
    red = reduce_graph(edges, flagged, hub_degree=20, max_component=10**9, whole_graph_below=0,
                       graphframes="auto")
    s = red.stats
    assert s["nodes"] == len(set(pe["a"]) | set(pe["b"])) and s["edges"] == len(pe)
    assert s["implementation"] == ("graphframes" if graphframes_available(spark) else "dataframes")
    assert s["hubs"] >= 1 and s["flagged_in_graph"] == 5
    assert not red.whole_graph and 0 < s["candidate_nodes"] < s["nodes"]
    # every flagged node's component (computed here by scipy without the hubs) is kept whole
    deg = pd.concat([pe["a"], pe["b"]]).value_counts()
    hubs = set(deg.index[deg > 20])
    inner = pe[~pe["a"].isin(hubs) & ~pe["b"].isin(hubs)]
    comps = _scipy_components(inner)
    for f in flagged[:-1]:
        if f in comps:
            members = {n for n, c in comps.items() if c == comps[f]}
            assert members <= red.nodes, f
        assert f in red.nodes
    assert red.ids("person") >= {f.split(":", 1)[1] for f in flagged[:-1]}
    # a cap below the flagged components' sizes: cut to their label-propagation communities, which
    # still contain the flagged nodes
    capped = reduce_graph(edges, flagged, hub_degree=20, max_component=1, whole_graph_below=0,
                          lpa_iterations=3, graphframes="never")
    assert capped.stats["components_over_cap"] >= 1 and capped.stats["lpa_nodes_kept"] >= 1
    assert set(flagged[:-1]) <= capped.nodes
    # (a graph under whole_graph_below goes whole: the pipeline's equality test, test_spark_engine.py)


def test_flagged_nodes_from_rule_hits_and_face_mismatches():
    hits = pd.DataFrame({"entity_type": ["person", "physician", None], "entity_id": ["P1", "D1", "x"]})
    fm = pd.DataFrame({"verdict": ["mismatch", "no_enrollment"], "claimed_person_id": ["P9", "P8"],
                       "face_id": ["F1", "F2"]})
    assert flagged_nodes(hits, fm) == ["face:F1", "person:P1", "person:P9", "physician:D1"]
    assert flagged_nodes(None, None) == []
