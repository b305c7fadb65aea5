"""The real local Neo4j: version, no plugins, authentication, durability."""
from __future__ import annotations

import os
import stat

import pytest

pytestmark = pytest.mark.neo4j

local_only = pytest.mark.skipif(bool(os.environ.get("NEO4J_URI")),
                                reason="NEO4J_URI points at another server; these check the local one")


def test_status_reports_the_server_and_no_plugins(neo4j_server):
    """The server answers; no APOC/GDS is installed or on the server (nothing uses them)."""
    from ringscope.store import server
    from ringscope.store.db import QueryRunner

    st = server.status()
    assert st["bolt"] == "up"
    assert any(v.startswith("5.26") for v in st["server"].values()), st
    with QueryRunner(neo4j_server) as q:
        procs = q.read("SHOW PROCEDURES YIELD name WHERE name STARTS WITH 'apoc.' OR name STARTS WITH 'gds.' "
                       "RETURN count(*) AS n")
    assert procs == [{"n": 0}]


def test_shortest_path_without_plugins(neo4j_runner):
    """The app's path question (who links two entities) is plain Cypher, no GDS needed."""
    q = neo4j_runner
    q.run("UNWIND range(0, 5) AS i CREATE (:Person {person_id: toString(i)})")
    q.run("MATCH (a:Person), (b:Person) WHERE toInteger(a.person_id) + 1 = toInteger(b.person_id) "
          "AND toInteger(a.person_id) <> 2 CREATE (a)-[:FAMILY]->(b)")
    rows = q.read("MATCH (a:Person {person_id: '0'}), (b:Person {person_id: $b}) "
                  "OPTIONAL MATCH p = shortestPath((a)-[*..6]-(b)) RETURN length(p) AS hops", {"b": "2"})
    assert rows == [{"hops": 2}]
    rows = q.read("MATCH (a:Person {person_id: '0'}), (b:Person {person_id: $b}) "
                  "OPTIONAL MATCH p = shortestPath((a)-[*..6]-(b)) RETURN length(p) AS hops", {"b": "4"})
    assert rows == [{"hops": None}]


def test_wrong_password_is_refused(neo4j_server):
    import neo4j
    import neo4j.exceptions as ne

    with neo4j.GraphDatabase.driver(neo4j_server.uri, auth=(neo4j_server.user, "not-the-password")) as d:
        with pytest.raises(ne.AuthError):
            d.verify_connectivity()


@local_only
def test_password_file_is_private(neo4j_server):
    from ringscope.store import server

    mode = stat.S_IMODE(os.stat(server._password_file()).st_mode)
    assert mode == 0o600
    assert neo4j_server.password and neo4j_server.password != "neo4j"


@local_only
def test_data_survives_stop_and_restart(neo4j_runner):
    from ringscope.store import server
    from ringscope.store.db import QueryRunner

    neo4j_runner.run("CREATE (:Institution {institution_id: 'H-durable', name: '太原市第一医院'})")
    neo4j_runner.close()
    assert server.stop() is True
    assert not server.is_running()
    assert server.status()["bolt"] == "down"
    server.start(wait=True)
    with QueryRunner() as q:
        rows = q.read("MATCH (i:Institution {institution_id: $id}) RETURN i.name AS name", {"id": "H-durable"})
    assert rows == [{"name": "太原市第一医院"}]


def test_query_runner_batches_and_parameters(neo4j_runner):
    rows = [{"person_id": f"{i:06d}", "sex": "F"} for i in range(2_345)]
    sent = neo4j_runner.write_batches("UNWIND $rows AS r MERGE (p:Person {person_id: r.person_id}) "
                                      "SET p.sex = r.sex", rows, batch_size=1000)
    assert sent == 2_345
    assert neo4j_runner.scalar("MATCH (p:Person) RETURN count(p)") == 2_345
    # ids are strings: leading zeros survive
    assert neo4j_runner.scalar("MATCH (p:Person {person_id: $id}) RETURN p.person_id", {"id": "000007"}) == "000007"
    # a value that looks like Cypher is only ever data
    evil = "x'}) DETACH DELETE p //"
    neo4j_runner.run("MERGE (p:Person {person_id: $id})", {"id": evil})
    assert neo4j_runner.scalar("MATCH (p:Person) RETURN count(p)") == 2_346
    with pytest.raises(ValueError):
        neo4j_runner.write_batches("CREATE (n:X)", rows)
    # DataFrames: typed rows, and an empty result still has the statement's columns
    df = neo4j_runner.read_df("MATCH (p:Person) WHERE p.person_id < $hi RETURN p.person_id AS id, p.sex AS sex "
                              "ORDER BY id", {"hi": "000003"})
    assert df["id"].tolist() == ["000000", "000001", "000002"]
    empty = neo4j_runner.read_df("MATCH (p:Person {person_id: $id}) RETURN p.person_id AS id, p.sex AS sex",
                                 {"id": "missing"})
    assert list(empty.columns) == ["id", "sex"] and empty.empty


def test_named_cypher_files_load():
    from ringscope.store.db import cypher, cypher_names

    names = cypher_names()
    assert "schema/constraints" in names and "load/visits" in names
    assert "UNWIND $rows" in cypher("load/visits")
    with pytest.raises(KeyError):
        cypher("load/does_not_exist")
