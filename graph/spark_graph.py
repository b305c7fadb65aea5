"""The graph step on Spark: connected components and label propagation on the full entity graph,
then the candidate subgraphs handed to the single-machine detectors.

A province's entity graph (persons, institutions, physicians, face identities; hundreds of
millions of edges) does not fit the driver. Spark reduces it: it builds the edge list from the
SQL library (``graph/sql/graph_edges.sql``, ``graph_edges_family.sql``: the same files the
DuckDB engine runs), finds connected components and label-propagation communities, and keeps
only the parts of the graph that contain an entity already flagged by the rules or by face
verification. The single-machine algorithms (Leiden, FRAUDAR, the scans of ``models/``) then
work on those candidate subgraphs.

Where it runs:

- :func:`connected_components`: the alternating Large-Star / Small-Star algorithm of Kiveris
  et al. on Spark DataFrames (what GraphFrames' ``connectedComponents`` implements; its
  documentation cites the same paper), with the lineage cut every iteration (a reliable
  checkpoint every ``checkpoint_interval`` iterations when the session has a checkpoint
  directory, a local one otherwise), converging when an iteration changes no edge;
- :func:`label_propagation`: synchronous label propagation (Raghavan et al.) for a fixed number
  of iterations; a node takes the label most frequent among its neighbours, ties to the
  smallest label, so the result does not depend on partitioning or on the order rows arrive;
- GraphFrames (:func:`graphframes_available`) is used instead of both when its Python package
  imports and its jar is on the session's class path (``pipeline.spark_graph.graphframes``:
  ``auto``, ``always``, ``never``). :func:`ringscope.graph.spark.spark_session` puts the jar on
  the class path: it asks Spark to resolve :func:`graphframes_coordinates` from Maven Central
  (``spark.jars.packages``). The project installs Spark 3.5 because Maven Central serves
  GraphFrames for it (``io.graphframes:graphframes-spark3_2.12:0.10.0``); the Spark 4 build
  (``graphframes-spark4_2.13``) was not served when this was written. The engine runs on either
  Spark, and where the jar cannot be had, the DataFrame implementations run.

Node ids are typed strings (``person:P1``, ``institution:H1``): a component's label is its
smallest node id, so labels are deterministic and readable on every engine.

References: R. Kiveris, S. Lattanzi, V. Mirrokni, V. Rastogi, S. Vassilvitskii, "Connected
Components in MapReduce and Beyond", SoCC 2014; U. N. Raghavan, R. Albert, S. Kumara, "Near
linear time algorithm to detect community structures in large-scale networks", Phys. Rev. E 76,
036106 (2007); GraphFrames (https://graphframes.io, ``connectedComponents``,
``labelPropagation``); Spark checkpointing (``Dataset.checkpoint``).

The Spark functions need a session (``tests/test_spark_graph.py``); their plain-Python reference:

>>> lpa_reference([("a", "b"), ("b", "c"), ("a", "c"), ("c", "d")], iterations=3)
{'a': 'a', 'b': 'a', 'c': 'a', 'd': 'a'}
>>> node_id("person", "P1")
'person:P1'
"""
from __future__ import annotations

import importlib.util
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["connected_components", "label_propagation", "lpa_reference", "graphframes_available",
           "entity_edges", "flagged_nodes", "reduce_graph", "Reduction", "node_id", "GRAPHFRAMES_COORDINATES",
           "GRAPHFRAMES_PACKAGES", "graphframes_coordinates"]

log = logging.getLogger("ringscope.spark_graph")

# the Maven coordinates of the GraphFrames jar per Spark major version (the Scala build Spark's
# PyPI package ships: 2.12 for Spark 3, 2.13 for Spark 4)
GRAPHFRAMES_PACKAGES = {3: "io.graphframes:graphframes-spark3_2.12:0.10.0",
                        4: "io.graphframes:graphframes-spark4_2.13:0.12.3"}


def graphframes_coordinates() -> str | None:
    """The GraphFrames jar for the installed PySpark (``None`` for a Spark it has no build for)."""
    from ringscope.graph.spark import spark_major

    return GRAPHFRAMES_PACKAGES.get(spark_major())


GRAPHFRAMES_COORDINATES = graphframes_coordinates() if importlib.util.find_spec("pyspark") else None


def node_id(entity_type: str, entity_id: str) -> str:
    """The graph step's node id of an entity: its type and id."""
    return f"{entity_type}:{entity_id}"


# --------------------------------------------------------------------------- GraphFrames
def graphframes_available(spark: Any) -> bool:
    """Whether GraphFrames can run in this session: its Python package imports and its JVM class
    loads (the jar on the class path, e.g. ``--conf spark.jars.packages=`` + the coordinates)."""
    try:
        import graphframes  # noqa: F401
    except ImportError:
        return False
    try:
        # through the thread's context class loader: the jars of spark.jars.packages are there, not
        # on the system class path that a plain Class.forName searches
        jvm = spark.sparkContext._jvm
        jvm.java.lang.Class.forName("org.graphframes.GraphFrame", True,
                                    jvm.java.lang.Thread.currentThread().getContextClassLoader())
        return True
    except Exception:  # noqa: BLE001 - a py4j error: the class is not on the class path
        return False


def _use_graphframes(spark: Any, mode: str) -> bool:
    if mode not in ("auto", "always", "never"):
        raise ValueError(f"spark_graph.graphframes {mode!r}: auto, always or never")
    if mode == "never":
        return False
    ok = graphframes_available(spark)
    if mode == "always" and not ok:
        raise RuntimeError(f"spark_graph.graphframes: always, but GraphFrames is not available in this session "
                           f"(pip install graphframes-py and --conf spark.jars.packages={GRAPHFRAMES_COORDINATES})")
    return ok


# --------------------------------------------------------------------------- connected components
def _cut(df: Any, spark: Any, reliable: bool) -> Any:
    """The lineage cut, each iteration: without it the logical plan grows fourfold per iteration
    (each step reads its input twice). A reliable checkpoint (``reliable`` and a checkpoint
    directory set: it survives a lost executor) or a local one (in the executors' block stores)."""
    if reliable and spark.sparkContext.getCheckpointDir():
        return df.checkpoint(eager=True)
    return df.localCheckpoint(eager=True)


def _undirected(edges: Any) -> Any:
    """Edges ``(a, b)`` as distinct pairs with ``a < b`` (self loops dropped)."""
    from pyspark.sql import functions as F

    return (edges.where(F.col("a") != F.col("b"))
            .select(F.least("a", "b").alias("a"), F.greatest("a", "b").alias("b")).distinct())


def connected_components(edges: Any, nodes: Any = None, *, checkpoint_interval: int = 2, max_iter: int = 200,
                         graphframes: str = "never") -> Any:
    """Connected components of an undirected graph given as a Spark DataFrame of string columns
    ``a, b`` (``nodes``: a DataFrame with column ``node``, for nodes without edges). Returns a
    DataFrame ``node, component``: the component's smallest node id (GraphFrames: its own id).

    Large-Star / Small-Star (Kiveris et al. 2014), alternated until an iteration changes no edge.
    Large-star: every node ``u`` links each larger neighbour to the smallest of ``u`` and its
    neighbours; small-star: every node links itself and each smaller neighbour to the smallest
    of those. At the fixed point every component is a star around its smallest node.
    """
    from pyspark.sql import functions as F

    spark = edges.sparkSession
    if _use_graphframes(spark, graphframes):
        return _graphframes_cc(edges, nodes)
    e = _cut(_undirected(edges), spark, False)
    prev = tuple(e.agg(F.count("*"), F.sum(F.xxhash64("a", "b").cast("decimal(38,0)"))).first())
    it = 0
    while True:
        it += 1
        if it > max_iter:
            raise RuntimeError(f"connected components did not converge in {max_iter} iterations")
        # large-star: both orientations; m(u) = min(u, N(u)); emit (v, m(u)) for v in N(u), v > u
        both = e.select("a", "b").unionByName(e.select(F.col("b").alias("a"), F.col("a").alias("b")))
        m = both.groupBy("a").agg(F.least(F.min("b"), F.first("a")).alias("m"))
        large = (both.where(F.col("b") > F.col("a")).join(m, "a")
                 .select(F.col("b").alias("x"), F.col("m").alias("y")))
        large = _undirected(large.select(F.col("x").alias("a"), F.col("y").alias("b")))
        # small-star: oriented (hi, lo); m(hi) = min(lo); emit (lo, m) for each lo != m and (hi, m)
        ms = large.groupBy("b").agg(F.min("a").alias("m"))           # b = hi, a = lo
        small = (large.join(ms, "b").select(F.col("a"), F.col("m").alias("b"))
                 .unionByName(ms.select(F.col("b").alias("a"), F.col("m").alias("b"))))
        new = _undirected(small)
        new = _cut(new, spark, it % max(1, checkpoint_interval) == 0)
        # one job per iteration: the edge count and an order-free checksum of the edge set (an
        # iteration only ever replaces edges by edges to smaller nodes, so an unchanged count and
        # checksum is an unchanged set but for a 64-bit hash collision)
        n, digest = new.agg(F.count("*"), F.sum(F.xxhash64("a", "b").cast("decimal(38,0)"))).first()
        e.unpersist()
        changed = (n, digest) != prev
        e, prev = new, (n, digest)
        if not changed:
            break
    log.info("connected components: %d iterations", it)
    # every edge is (member, root) or (root, member) with root the smallest: a node's component is
    # the smallest id among itself and its neighbours
    both = e.select("a", "b").unionByName(e.select(F.col("b").alias("a"), F.col("a").alias("b")))
    comp = both.groupBy(F.col("a").alias("node")).agg(F.least(F.min("b"), F.first("a")).alias("component"))
    if nodes is not None:
        lone = nodes.select("node").distinct().join(comp.select("node"), "node", "left_anti")
        comp = comp.unionByName(lone.select("node", F.col("node").alias("component")))
    return comp


def _graphframes_cc(edges: Any, nodes: Any) -> Any:
    from graphframes import GraphFrame
    from pyspark.sql import functions as F

    spark = edges.sparkSession
    v = edges.select(F.col("a").alias("id")).unionByName(edges.select(F.col("b").alias("id")))
    if nodes is not None:
        v = v.unionByName(nodes.select(F.col("node").alias("id")))
    if not spark.sparkContext.getCheckpointDir():
        import tempfile

        spark.sparkContext.setCheckpointDir(tempfile.mkdtemp(prefix="ringscope-gf-"))
    g = GraphFrame(v.distinct(), edges.select(F.col("a").alias("src"), F.col("b").alias("dst")))
    cc = g.connectedComponents()
    # GraphFrames labels with a long; the smallest member id instead (as the DataFrame version)
    root = cc.groupBy("component").agg(F.min("id").alias("root"))
    return cc.join(root, "component").select(F.col("id").alias("node"), F.col("root").alias("component"))


# --------------------------------------------------------------------------- label propagation
def label_propagation(edges: Any, *, iterations: int = 5, checkpoint_interval: int = 2,
                      graphframes: str = "never") -> Any:
    """Synchronous label propagation (Raghavan et al. 2007) for ``iterations`` rounds over the
    undirected graph ``a, b``: each node starts with its own id and takes, each round, the label
    most frequent among its neighbours' labels, the smallest label on a tie. Returns ``node,
    label``. (GraphFrames' ``labelPropagation`` breaks ties its own way; its labels are then
    renamed to the smallest member.)"""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    spark = edges.sparkSession
    if _use_graphframes(spark, graphframes):
        return _graphframes_lpa(edges, iterations)
    e = _undirected(edges)
    both = _cut(e.select("a", "b").unionByName(e.select(F.col("b").alias("a"), F.col("a").alias("b"))), spark,
                False)
    labels = _cut(both.select(F.col("a").alias("node")).distinct().withColumn("label", F.col("node")), spark, False)
    win = Window.partitionBy("node").orderBy(F.col("n").desc(), F.col("label").asc())
    for it in range(1, iterations + 1):
        votes = (both.join(labels.select(F.col("node").alias("b"), "label"), "b")
                 .groupBy(F.col("a").alias("node"), "label").agg(F.count("*").alias("n")))
        new = (votes.withColumn("r", F.row_number().over(win)).where(F.col("r") == 1).select("node", "label"))
        new = _cut(new, spark, it % max(1, checkpoint_interval) == 0)
        labels.unpersist()
        labels = new
    both.unpersist()
    return labels


def _graphframes_lpa(edges: Any, iterations: int) -> Any:
    from graphframes import GraphFrame
    from pyspark.sql import functions as F

    v = edges.select(F.col("a").alias("id")).unionByName(edges.select(F.col("b").alias("id"))).distinct()
    g = GraphFrame(v, edges.select(F.col("a").alias("src"), F.col("b").alias("dst")))
    lp = g.labelPropagation(maxIter=iterations)
    root = lp.groupBy("label").agg(F.min("id").alias("root"))
    return lp.join(root, "label").select(F.col("id").alias("node"), F.col("root").alias("label"))


def lpa_reference(edges: Iterable[tuple[str, str]], iterations: int = 5) -> dict[str, str]:
    """:func:`label_propagation` in plain Python (the same rules): a reference for small graphs."""
    nb: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        if a != b:
            nb[a].add(b)
            nb[b].add(a)
    lab = {n: n for n in nb}
    for _ in range(iterations):
        new = {}
        for n, ns in nb.items():
            c = Counter(lab[m] for m in ns)
            top = max(c.values())
            new[n] = min(k for k, v in c.items() if v == top)
        lab = new
    return dict(sorted(lab.items()))


# --------------------------------------------------------------------------- the run's graph
def entity_edges(engine: Any, face_edges: pd.DataFrame | None = None) -> Any:
    """The run's entity graph as a Spark DataFrame ``a, b, kind`` (``engine``: a
    :class:`ringscope.graph.spark.SparkEngine`): visits, physicians, payers
    (``graph_edges.sql``), registered family links (``graph_edges_family.sql``) and
    ``face_edges`` (``face_id``, ``person_id``: a face identity seen on a credential)."""
    from pyspark.sql import functions as F

    parts = [engine.frame("graph_edges")]
    if engine.has("family_links"):
        parts.append(engine.frame("graph_edges_family"))
    if face_edges is not None and len(face_edges):
        f = face_edges.dropna(subset=["face_id", "person_id"])
        pdf = pd.DataFrame({"a": "face:" + f["face_id"].astype(str), "b": "person:" + f["person_id"].astype(str)})
        sdf = engine.spark.createDataFrame(pdf.drop_duplicates()) if len(pdf) else None
        if sdf is not None:
            parts.append(sdf.select(F.least("a", "b").alias("a"), F.greatest("a", "b").alias("b"),
                                    F.lit("face").alias("kind")))
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def flagged_nodes(rule_hits: pd.DataFrame | None, face_matches: pd.DataFrame | None) -> list[str]:
    """The node ids of entities flagged before the graph stage: the entities of rule hits, and the
    credentials and face identities of face-verification mismatches.

    >>> flagged_nodes(pd.DataFrame({"entity_type": ["person", "institution"], "entity_id": ["P1", "H2"]}),
    ...               pd.DataFrame({"verdict": ["mismatch", "match"], "claimed_person_id": ["P3", "P4"],
    ...                             "face_id": ["F1", "F2"]}))
    ['face:F1', 'institution:H2', 'person:P1', 'person:P3']
    """
    out: set[str] = set()
    if rule_hits is not None and len(rule_hits):
        h = rule_hits.dropna(subset=["entity_type", "entity_id"])
        out.update(h["entity_type"].astype(str) + ":" + h["entity_id"].astype(str))
    if face_matches is not None and len(face_matches) and "verdict" in face_matches.columns:
        mm = face_matches[face_matches["verdict"].eq("mismatch")]
        out.update("person:" + mm["claimed_person_id"].dropna().astype(str))
        if "face_id" in mm.columns:
            out.update("face:" + mm["face_id"].dropna().astype(str))
    return sorted(out)


@dataclass
class Reduction:
    """What the graph step on Spark handed on. ``persons`` etc.: the candidate entities by type
    (``None``: the whole graph, nothing restricted); ``stats``: the manifest's figures."""

    whole_graph: bool
    nodes: set[str] = field(default_factory=set)
    stats: dict[str, Any] = field(default_factory=dict)

    def ids(self, entity_type: str) -> set[str] | None:
        """The candidate ids of one entity type, or None when the whole graph was handed on."""
        if self.whole_graph:
            return None
        p = entity_type + ":"
        return {n[len(p):] for n in self.nodes if n.startswith(p)}


def reduce_graph(edges: Any, flagged: list[str], *, hub_degree: int = 1000, max_component: int = 20000,
                 lpa_iterations: int = 5, whole_graph_below: int = 2_000_000, checkpoint_interval: int = 2,
                 graphframes: str = "auto") -> Reduction:
    """Spark's reduction of the entity graph ``edges`` (``a, b, kind``) to candidate subgraphs.

    1. Hubs (nodes of more than ``hub_degree`` distinct neighbours: a hospital every resident
       visits) do not connect their neighbours: their edges are set aside, so components are
       not all one city-wide component through the big hospitals;
    2. connected components of the rest (:func:`connected_components`);
    3. every component with a ``flagged`` node is a candidate; one larger than
       ``max_component`` is cut to the label-propagation communities
       (:func:`label_propagation`, on that component's edges) of its flagged nodes;
    4. the candidate nodes, plus the hubs they touch, are handed on.

    A graph of at most ``whole_graph_below`` nodes is handed on whole (the single-machine
    algorithms take it as it is; the counts are still computed and recorded).
    """
    import time

    from pyspark.sql import functions as F

    spark = edges.sparkSession
    t0 = time.perf_counter()
    e = _cut(_undirected(edges.select("a", "b")), spark, False)
    n_edges = e.count()
    both = e.select("a", "b").unionByName(e.select(F.col("b").alias("a"), F.col("a").alias("b")))
    deg = both.groupBy(F.col("a").alias("node")).agg(F.count("*").alias("degree")).persist()
    n_nodes = deg.count()
    hubs = deg.where(F.col("degree") > hub_degree).select("node")
    n_hubs = hubs.count()
    inner = _cut(e.join(hubs.withColumnRenamed("node", "a"), "a", "left_anti")
                 .join(hubs.withColumnRenamed("node", "b"), "b", "left_anti").select("a", "b"), spark, False)
    n_inner = inner.count()
    use_gf = _use_graphframes(spark, graphframes)
    mode = "graphframes" if use_gf else "dataframes"
    gf = "always" if use_gf else "never"
    comp = connected_components(inner, deg.join(hubs, "node", "left_anti").select("node"),
                                checkpoint_interval=checkpoint_interval, graphframes=gf)
    comp = _cut(comp, spark, False)
    sizes = comp.groupBy("component").agg(F.count("*").alias("size")).persist()
    n_components = sizes.count()
    largest = sizes.agg(F.max("size")).first()[0] or 0
    t_cc = time.perf_counter() - t0

    flag = spark.createDataFrame(pd.DataFrame({"node": pd.Series(flagged, dtype=object)}), "node string")
    fc = flag.join(comp, "node").join(sizes, "component").select("node", "component", "size").persist()
    small = fc.where(F.col("size") <= max_component).select("component").distinct()
    big = fc.where(F.col("size") > max_component).select("component").distinct()
    keep = comp.join(small, "component").select("node")
    n_big = big.count()
    n_lpa_nodes = 0
    t1 = time.perf_counter()
    if n_big:
        members = comp.join(big, "component").select("node")
        be = inner.join(members.withColumnRenamed("node", "a"), "a", "left_semi")
        lp = label_propagation(be, iterations=lpa_iterations, checkpoint_interval=checkpoint_interval,
                               graphframes=gf)
        labs = lp.join(flag, "node").select("label").distinct()
        kept_lpa = lp.join(labs, "label").select("node")
        n_lpa_nodes = kept_lpa.count()
        keep = keep.unionByName(kept_lpa)
    t_lpa = time.perf_counter() - t1
    # the flagged hubs themselves, and the hubs the kept nodes link to
    keep = keep.unionByName(flag.join(hubs, "node")).distinct()
    touched = (e.join(keep.withColumnRenamed("node", "a"), "a", "left_semi").select(F.col("b").alias("node"))
               .unionByName(e.join(keep.withColumnRenamed("node", "b"), "b", "left_semi").select(F.col("a").alias("node")))
               .join(hubs, "node", "left_semi"))
    keep = keep.unionByName(touched).distinct()
    nodes = {r[0] for r in keep.toLocalIterator()}
    kept_edges = (e.join(keep.withColumnRenamed("node", "a"), "a", "left_semi")
                  .join(keep.withColumnRenamed("node", "b"), "b", "left_semi").count())
    n_flag_in_graph = fc.count()
    whole = n_nodes <= whole_graph_below
    stats = {"implementation": mode, "nodes": int(n_nodes), "edges": int(n_edges), "hubs": int(n_hubs),
             "hub_degree": int(hub_degree), "edges_without_hubs": int(n_inner), "components": int(n_components),
             "largest_component": int(largest), "flagged": len(flagged), "flagged_in_graph": int(n_flag_in_graph),
             "components_over_cap": int(n_big), "max_component": int(max_component),
             "lpa_iterations": int(lpa_iterations), "lpa_nodes_kept": int(n_lpa_nodes),
             "candidate_nodes": len(nodes), "candidate_edges": int(kept_edges),
             "whole_graph": bool(whole), "whole_graph_below": int(whole_graph_below),
             "handed_on_nodes": int(n_nodes) if whole else len(nodes),
             "handed_on_edges": int(n_edges) if whole else int(kept_edges),
             "seconds_components": round(t_cc, 3), "seconds_lpa": round(t_lpa, 3),
             "by_type": {t: sum(1 for n in nodes if n.startswith(t + ":"))
                         for t in ("person", "institution", "physician", "face")}}
    for df in (e, deg, inner, comp, sizes, fc):
        df.unpersist()
    return Reduction(whole_graph=whole, nodes=nodes, stats=stats)
