"""Shared fixtures: the real local Neo4j, started once per test session.

Tests never touch the user's own database: unless ``RINGSCOPE_HOME`` is set,
they use a server of their own under ``.state/test`` on port 7688 (override
with ``RINGSCOPE_BOLT_PORT``). ``NEO4J_URI`` points the tests at another server
instead (it is emptied before every test: never point it at real data).

A file lock serialises test sessions that share one server, so two pytest runs
in one checkout cannot wipe each other's data.

Run in parallel (``pytest -n 2``, pytest-xdist; ``scripts/test.sh`` does), each worker
``gwN`` is a session of its own with its own server: state under ``.state/test-gwN``
and Bolt port ``7688 + 10 (N + 1)``, so no worker sees another's data.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# the tests' own state (not a RINGSCOPE_HOME the user set); xdist workers inherit the
# controller's environment, so the mark says the home is ours to give each worker its own
_OWN_HOME = not os.environ.get("RINGSCOPE_HOME") or os.environ.get("RINGSCOPE_TEST_OWN_HOME") == "1"
if _OWN_HOME and not os.environ.get("RINGSCOPE_TEST_OWN_HOME"):
    os.environ["RINGSCOPE_HOME"] = str(REPO / ".state" / "test")
    os.environ.setdefault("RINGSCOPE_BOLT_PORT", "7688")
    os.environ["RINGSCOPE_TEST_OWN_HOME"] = "1"
os.environ.setdefault("RINGSCOPE_NEO4J_HEAP", "1g")
os.environ.setdefault("RINGSCOPE_NEO4J_PAGECACHE", "512m")

SHARED = REPO.parent / "shared"


def pytest_configure(config) -> None:
    """An xdist worker ``gwN`` gets its own state directory and Bolt port (its own server).
    (The worker's id is known only here, after this file was imported.)"""
    worker = getattr(config, "workerinput", {}).get("workerid", "")
    if _OWN_HOME and worker.startswith("gw"):
        n = int(worker[2:])
        os.environ["RINGSCOPE_HOME"] = str(REPO / ".state" / f"test-{worker}")
        base = int(os.environ.get("RINGSCOPE_BOLT_PORT", "7688"))
        os.environ["RINGSCOPE_BOLT_PORT"] = str(base + 10 * (n + 1))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    d = SHARED / "data" / "faces"
    if not d.exists():
        pytest.skip(f"real face photos not found at {d} (../shared/data/faces)")
    return d


@pytest.fixture(scope="session")
def benchmarks_dir() -> Path:
    d = SHARED / "data" / "graph-benchmarks"
    if not d.exists():
        pytest.skip(f"graph benchmarks not found at {d} (../shared/data/graph-benchmarks)")
    return d


@pytest.fixture(scope="session")
def neo4j_server():
    """Settings of a running real Neo4j; starts the local one if needed."""
    from ringscope.settings import neo4j_settings, state_dir
    from ringscope.store import server

    lock_path = state_dir() / "pytest-neo4j.lock"
    lock = open(lock_path, "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    started = False
    try:
        if not os.environ.get("NEO4J_URI") and not server.is_running():
            server.start(wait=True)
            started = True
        elif not os.environ.get("NEO4J_URI"):
            server.start(wait=True)  # already running: waits until it answers
        yield neo4j_settings()
    finally:
        if started and not os.environ.get("RINGSCOPE_KEEP_NEO4J"):
            server.stop()
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


@pytest.fixture()
def neo4j_runner(neo4j_server):
    """A QueryRunner on an empty database with the project's schema applied."""
    from ringscope.settings import neo4j_settings
    from ringscope.store.db import QueryRunner
    from ringscope.store.load import apply_schema
    from ringscope.store.server import reset_database

    runner = QueryRunner(neo4j_settings())
    reset_database(runner)
    apply_schema(runner)
    try:
        yield runner
    finally:
        runner.close()


@pytest.fixture(scope="session")
def small_city(tmp_path_factory) -> Path:
    """A small generated city (2,000 persons) shared by the tests that read it."""
    from ringscope.synth.generator import generate

    out = tmp_path_factory.mktemp("city") / "city"
    generate(out, persons=2000, seed=11)
    return out


@pytest.fixture()
def local_neo4j_empty(neo4j_server):
    """The project's own test server with an empty graph (schema kept), for tests
    that stop and restart it (the bulk import). Skipped when ``NEO4J_URI`` points
    at another server. The file lock held by ``neo4j_server`` keeps other test
    sessions away while it is down; afterwards it is running again whatever the
    test did."""
    if os.environ.get("NEO4J_URI"):
        pytest.skip("the bulk import needs the project's local server (NEO4J_URI is set)")
    from ringscope.store import server
    from ringscope.store.db import QueryRunner

    with QueryRunner(neo4j_server) as q:
        server.reset_database(q)
    try:
        yield neo4j_server
    finally:
        server.start(wait=True)


# Scheduling on xdist workers (scripts/test.sh): each file is a unit of its own (a module's fixtures
# are built once), except the files that share the app's city in Neo4j (``app_city``: generated,
# detected and loaded once per worker, reloaded after any test that empties the database), which go
# to one worker as one unit; so do the two Spark files (one JVM). The longest units are handed out
# first, so the last to start is a short one and the two workers finish together. (xdist's own ``xdist_group`` mark does not group
# under pytest 9, whose node ids no longer take xdist's suffix; its scheduler hook does.)
_GROUPS = {"test_access_layer": "app_city", "test_app_pages": "app_city", "test_browser": "app_city",
           "test_spark_engine": "spark", "test_spark_graph": "spark"}
_LONG_FIRST = ("app_city", "test_pipeline", "test_load", "test_bulk_load", "test_load_safety", "spark",
               "test_learned_gate", "test_traces_store", "test_notebooks", "test_reader_fuzz")


def _unit(module_path: str) -> str:
    mod = module_path.rsplit("/", 1)[-1].removesuffix(".py")
    return _GROUPS.get(mod, mod)


def pytest_xdist_make_scheduler(config, log):
    """Whole files per worker, the ``_GROUPS`` files together (pytest-xdist's hook)."""
    from xdist.scheduler import LoadScopeScheduling

    class _FileGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid.split("::", 1)[0])

    return _FileGroups(config, log)


def pytest_collection_modifyitems(config, items) -> None:
    """The long units first (stable otherwise): xdist hands units out in collection order."""
    rank = {g: i for i, g in enumerate(_LONG_FIRST)}
    items.sort(key=lambda it: rank.get(_unit(it.nodeid.split("::", 1)[0]), len(rank)))
