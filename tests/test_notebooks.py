"""The analyst notebooks (``notebooks/*.ipynb``) run top to bottom, unattended.

Each notebook is executed with nbclient in a ``python3`` kernel that is this
virtual environment's interpreter (checked: the kernel reports its
``sys.prefix``), against the real Neo4j of ``conftest.neo4j_server`` (the
kernel inherits ``RINGSCOPE_HOME`` / ``RINGSCOPE_BOLT_PORT``), on a small
generated city. The notebooks' parameter cells read ``RINGSCOPE_NB_*``
environment variables; their last cell prints one JSON line of key figures
that the tests parse and check. Every query in ``cypher/notebooks/`` is run
by the notebooks and, independently, checked here against the results files.

Order: ``02`` runs detection into a clean database (module fixture), ``01``
explores the leads it left there, ``03`` trains the learned models (no Neo4j).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
QUERIES = REPO / "cypher" / "notebooks"
PERSONS, SEED = 1000, 11
CELL_TIMEOUT = 600
#: the whole city's scope, for the notebook queries run here directly (every one filters by scope)
SCOPE = {"districts": None, "referred_only": False}


# ----------------------------------------------------------------------------- running a notebook
@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory) -> dict[str, str]:
    """Environment in which kernel ``python3`` is this interpreter.

    jupyter_client starts a spec whose argv[0] is ``python`` with the running
    interpreter; any other spec found first (a system-wide one) is shadowed by a
    spec installed with ``ipykernel install --prefix`` into a temporary folder
    and put first on ``JUPYTER_PATH`` (the venv itself is left untouched).
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    def resolves_here() -> bool:
        try:
            argv0 = KernelSpecManager().get_kernel_spec("python3").argv[0]
        except NoSuchKernel:
            return False
        v = sys.version_info
        if argv0 in {"python", f"python{v[0]}", f"python{v[0]}.{v[1]}"}:
            return True
        return os.path.abspath(argv0) == os.path.abspath(sys.executable)

    env = dict(os.environ)
    # importing streamlit (the app tests, same process) sets MPLBACKEND=Agg; a kernel
    # inheriting it draws nothing inline, so give the kernel its own default back
    env.pop("MPLBACKEND", None)
    if not resolves_here():
        prefix = tmp_path_factory.mktemp("kernel")
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--prefix", str(prefix), "--name", "python3"],
                       check=True, capture_output=True)
        jp = str(prefix / "share" / "jupyter")
        os.environ["JUPYTER_PATH"] = jp + os.pathsep + os.environ.get("JUPYTER_PATH", "")
        env["JUPYTER_PATH"] = os.environ["JUPYTER_PATH"]
        assert resolves_here(), "kernel python3 does not resolve to this interpreter"
    # small models on a shared machine: one thread each is fastest and deterministic
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "RINGSCOPE_NB_THREADS": "1",
                "PYDEVD_DISABLE_FILE_VALIDATION": "1"})
    return env


def run_notebook(name: str, workdir: Path, env: dict[str, str], **params: str) -> tuple[dict, object]:
    """Execute ``notebooks/<name>.ipynb`` with ``RINGSCOPE_NB_<PARAM>`` set; return (key figures, notebook).

    The executed notebook is written to ``workdir`` for inspection; a failing
    cell raises ``CellExecutionError`` with its traceback.
    """
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    probe = nbformat.v4.new_code_cell("import sys; print('KERNEL_PREFIX=' + sys.prefix)")
    nb.cells.append(probe)
    run_env = {**env, **{f"RINGSCOPE_NB_{k.upper()}": str(v) for k, v in params.items()}}
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT,
                                     resources={"metadata": {"path": str(workdir)}})
    try:
        client.execute(env=run_env)
    finally:
        nbformat.write(nb, workdir / f"{name}.executed.ipynb")
    prefix = _stdout(nb.cells[-1]).strip()
    assert prefix == f"KERNEL_PREFIX={sys.prefix}", f"kernel is not this venv's python: {prefix}"
    last = [c for c in nb.cells[:-1] if c.cell_type == "code"][-1]
    lines = [ln for ln in _stdout(last).splitlines() if ln.startswith("{")]
    assert lines, f"{name}: the last cell printed no JSON line"
    return json.loads(lines[-1]), nb


def _stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")


def _n_outputs(nb, mime: str) -> int:
    return sum(mime in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def _errors(nb) -> list[str]:
    return [o.get("ename", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if o.get("output_type") == "error"]


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Path:
    from ringscope.synth.generator import generate

    out = tmp_path_factory.mktemp("nbcity") / "city"
    generate(out, persons=PERSONS, seed=SEED)
    return out


@pytest.fixture(scope="module")
def detected(neo4j_server, city, kernel_env, tmp_path_factory):
    """Notebook 02 run on ``city`` into a clean database: (key figures, executed notebook, results dir)."""
    from ringscope.settings import neo4j_settings
    from ringscope.store.db import QueryRunner
    from ringscope.store.load import apply_schema
    from ringscope.store.server import reset_database

    with QueryRunner(neo4j_settings()) as runner:
        reset_database(runner)
        apply_schema(runner)
    work = tmp_path_factory.mktemp("nb02")
    results = work / "results"
    figures, nb = run_notebook("02_detect_and_evaluate", work, kernel_env, dataset=city, out=results,
                               neo4j="1", gnn="1")
    return figures, nb, results


@pytest.fixture()
def runner(neo4j_server):
    from ringscope.settings import neo4j_settings
    from ringscope.store.db import QueryRunner

    with QueryRunner(neo4j_settings()) as r:
        yield r


# ----------------------------------------------------------------------------- static checks
def test_notebooks_are_clean_and_parameterised() -> None:
    names = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert names[:3] == ["01_explore_a_ring", "02_detect_and_evaluate", "03_train_and_inspect_gnn"]
    for name in names:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert nb.cells[0].cell_type == "markdown"
        assert "parameters" in code[0].metadata.get("tags", []), f"{name}: first code cell is not the parameters cell"
        assert "RINGSCOPE_NB_" in code[0].source
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), \
            f"{name}: stored with outputs"
        assert sum(c.cell_type == "markdown" for c in nb.cells) >= len(code) // 2, f"{name}: too little prose"
        for c in code:
            assert not re.search(r"\b(MATCH|MERGE|UNWIND)\s*\(", c.source), f"{name}: inline Cypher: {c.source[:80]}"
            assert len(c.source.splitlines()) <= 40, f"{name}: a code cell is too long"


def test_every_notebook_query_is_used_by_a_notebook() -> None:
    sources = "\n".join(c.source for p in NOTEBOOKS.glob("*.ipynb")
                        for c in nbformat.read(p, as_version=4).cells if c.cell_type == "code")
    names = sorted(p.stem for p in QUERIES.glob("*.cypher"))
    assert names
    for n in names:
        assert f'"{n}"' in sources or f'notebooks/{n}"' in sources, f"cypher/notebooks/{n}.cypher is unused"
    for used in re.findall(r'q\("([a-z0-9_]+)"', sources) + re.findall(r'"notebooks/([a-z0-9_]+)"', sources):
        assert used in names, f"a notebook runs notebooks/{used}, which has no file"


# ----------------------------------------------------------------------------- notebook 02
def test_02_detect_and_evaluate(detected, city) -> None:
    figures, nb, results = detected
    assert _errors(nb) == []
    assert figures["errors"] == [], figures["errors"]
    leads = pd.read_csv(results / "leads.csv", dtype=str)
    hits = pd.read_csv(results / "rule_hits.csv", dtype=str)
    assert figures["n_leads"] == len(leads) > 0
    assert figures["n_rule_hits"] == len(hits) > 0
    # the findings reached the graph: this run's leads and rule hits, no more, no less
    assert figures["leads_in_graph"] == figures["n_leads"]
    assert figures["rule_hits_in_graph"] == figures["n_rule_hits"]
    truth_rings = pd.read_csv(city / "truth" / "rings.csv", dtype=str)
    assert figures["n_rings"] == len(truth_rings) > 0
    assert figures["ring_recall_at_3R"] >= 0.5, figures
    assert figures["lead_precision_at_3R"] >= 0.4, figures
    assert figures["entity_auc"]["person"] >= 0.75, figures
    assert set(truth_rings["scheme"]) <= set(figures["schemes"])
    assert _n_outputs(nb, "text/markdown") == 1        # the evaluation report
    assert _n_outputs(nb, "image/png") == 1            # the precision-recall view


# ----------------------------------------------------------------------------- notebook 01
def notebook_user(tmp_path: Path, env: dict[str, str], role: str = "analyst", districts=("*",)) -> dict[str, str]:
    """``env`` with a users file holding one account, signed in by name and password
    (``RINGSCOPE_NB_USER`` / ``RINGSCOPE_NB_PASSWORD``), and a fresh access log."""
    from ringscope.store.users import UserStore

    users = tmp_path / "users.json"
    UserStore(users).add("nb.analyst", role, list(districts), "nb-password-1")
    return {**env, "RINGSCOPE_USERS": str(users), "RINGSCOPE_NB_USER": "nb.analyst",
            "RINGSCOPE_NB_PASSWORD": "nb-password-1", "RINGSCOPE_ACCESS_LOG": str(tmp_path / "access_log.jsonl"),
            "RINGSCOPE_BCRYPT_ROUNDS": "4"}


def test_01_explore_the_top_ring(detected, kernel_env, tmp_path, monkeypatch) -> None:
    _, _, results = detected
    monkeypatch.setenv("RINGSCOPE_BCRYPT_ROUNDS", "4")
    env = notebook_user(tmp_path, kernel_env)
    figures, nb = run_notebook("01_explore_a_ring", tmp_path, env, load_if_empty="0")
    assert _errors(nb) == []
    # read as the signed-in user: every query in the access log under that name
    log = pd.read_json(tmp_path / "access_log.jsonl", lines=True, dtype=False)
    assert set(log["user"]) == {"nb.analyst"} and log["page"].str.startswith("notebook:").all()
    leads = pd.read_csv(results / "leads.csv", dtype=str)
    leads["score"] = leads["score"].astype(float)
    with_persons = leads[leads["members"].str.contains("person:")]
    top = with_persons.sort_values("score", ascending=False, kind="mergesort").iloc[0]
    assert figures["lead_id"] == top["lead_id"] and figures["scheme"] == top["scheme"]
    assert figures["n_leads"] == min(len(leads), 20)
    members = pd.Series([m.split(":", 1)[0] for m in top["members"].split(";") if m]).value_counts().to_dict()
    assert figures["members"] == members
    assert figures["n_visits"] > 0 and figures["amount"] > 0 and figures["n_months"] >= 1
    assert figures["n_institutions"] >= 1
    assert figures["graph_nodes"] >= sum(members.values()) and figures["graph_edges"] > 0
    assert figures["top_hub"].split(":", 1)[0] in {"person", "physician", "institution", "face"}
    assert _n_outputs(nb, "text/markdown") == 1        # the lead's note
    assert _n_outputs(nb, "image/png") == 2            # the timeline and the ring


def test_ring_queries_agree_with_the_results(detected, runner) -> None:
    """The notebook queries, for every lead, against the results files detection wrote."""
    _, _, results = detected
    leads = pd.read_csv(results / "leads.csv", dtype=str)
    hits = pd.read_csv(results / "rule_hits.csv", dtype=str)
    listed = runner.read_df("notebooks/ring_top_leads", {"lead_id": None, "limit": 1000, **SCOPE})
    assert set(listed["lead_id"]) == set(leads["lead_id"])
    assert listed["score"].is_monotonic_decreasing
    shared_faces = 0
    for lead in leads.itertuples(index=False):
        p = {"lead_id": lead.lead_id, **SCOPE}
        want = {m for m in lead.members.split(";") if m}
        mem = runner.read_df("notebooks/ring_members", p)
        assert set(mem["entity_type"] + ":" + mem["entity_id"]) == want
        persons = {m.split(":", 1)[1] for m in want if m.startswith("person:")}
        if not persons:
            continue
        visits = runner.read_df("notebooks/ring_visits", {**p, "limit": 100_000})
        assert set(visits["person_id"]) <= persons
        timeline = runner.read_df("notebooks/ring_timeline", p)
        assert timeline["n_visits"].sum() == len(visits)
        assert timeline["amount"].sum() == pytest.approx(visits["total_amount"].fillna(0).sum())
        assert timeline["n_rule_hits"].sum() == visits["n_rule_hits"].sum()
        inst = runner.read_df("notebooks/ring_institutions", p)
        assert inst["n_visits"].sum() >= len(visits) and inst["share_of_institution_visits"].between(0, 1).all()
        rules = runner.read_df("notebooks/ring_rule_hits", {**p, "examples": 2})
        against = hits[(hits["entity_type"] + ":" + hits["entity_id"]).isin(want)]
        assert (rules["n_hits"].sum() if len(rules) else 0) >= len(against)
        edges = runner.read_df("notebooks/ring_subgraph", {**p, "limit": 100_000})
        ends = set(edges["src"]) | set(edges["dst"])
        assert {f"person:{x}" for x in visits["person_id"]} <= ends
        faces = runner.read_df("notebooks/ring_shared_faces", p)
        if len(faces):
            assert all(set(c) <= persons for c in faces["member_credentials"])
            assert {f"face:{f}" for f in faces["face_id"]} <= ends
            assert {f"person:{e}" for e in faces["enrolled_as"].dropna()} <= ends
            assert (faces["n_captures"] >= faces["n_member_credentials"]).all()
        shared_faces += len(faces)
    # card-lending rings present other people's credentials: some lead must show it
    assert shared_faces > 0
    overview = runner.read("notebooks/findings_overview", {"min_risk": 0.0, **SCOPE})[0]
    assert overview["n_leads"] == len(leads) and overview["n_rule_hits"] == len(hits)
    assert sum(x["leads"] for x in overview["leads_by_scheme"]) == len(leads)


# ----------------------------------------------------------------------------- notebook 03
def test_03_train_and_inspect_gnn(city, kernel_env, tmp_path) -> None:
    figures, nb = run_notebook("03_train_and_inspect_gnn", tmp_path, kernel_env, dataset=city, epochs="60")
    assert _errors(nb) == []
    assert figures["n_test"] > 0 and figures["n_test_fraud"] > 0 and figures["n_train"] > figures["n_test"]
    # better than chance on entities the models never saw, and AP above the fraud base rate
    assert figures["auc_gnn"] >= 0.75, figures
    assert figures["auc_trees"] >= 0.75, figures
    assert figures["ap_gnn"] > figures["test_fraud_share"] + 0.1, figures
    assert figures["ap_trees"] > figures["test_fraud_share"] + 0.1, figures
    assert figures["explained_features"] and figures["n_neighbours_explained"] > 0
    assert _n_outputs(nb, "image/png") == 1            # the two explanations side by side
