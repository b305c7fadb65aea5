"""The architecture holds: imports run one way, and an installed wheel runs without the source tree.

The import contracts live in ``pyproject.toml`` (``[tool.importlinter]``) and are
checked with import-linter on the packages laid out as installed
(``scripts/check_imports.py``). The back-edge tests put each kind of back edge the
first round had (an ingest module importing the detectors' base, a projection
importing a detector, fusion reading Neo4j through the store or the driver itself,
a detector importing the orchestrator or another detector, the store importing
analytics, the Cypher library importing code, the app running detection, a cycle
between the generator's modules, an import hidden inside a function) into a copy of
the tree and check that the contracts catch it. Third-party packages are in the
graph (``include_external_packages``), so ``import neo4j`` outside ``ringscope.store``
is a broken contract.
"""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("check_imports", REPO / "scripts" / "check_imports.py")
check_imports = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_imports)


def test_imports_run_one_way(tmp_path):
    r = check_imports.lint(check_imports.shadow_tree(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


BACK_EDGES = [
    # (module file in the installed layout, the import put into it, the contract that must break)
    ("ringscope/ingest/reader.py", "import ringscope.models.base", "Layers"),
    ("ringscope/graph/projection.py", "import ringscope.models.detectors.card_lending", "Layers"),
    ("ringscope/models/fusion.py", "import ringscope.store.findings", "Layers"),
    ("ringscope/models/detectors/card_lending.py", "import ringscope.pipeline", "Layers"),
    ("ringscope/store/load.py", "import ringscope.models.registry", "Layers"),
    ("ringscope/app/data.py", "import ringscope.models.fusion", "app reads the store"),
    ("ringscope/models/base.py", "import ringscope.models.fusion", "Inside models"),
    ("ringscope/models/detectors/rules.py", "import ringscope.models.config", "Inside models"),
    ("ringscope/synth/schemes.py", "import ringscope.synth.generator", "Inside synth"),
    ("ringscope/store/load.py", "import ringscope.graph.projection", "store never imports analytics"),
    ("ringscope/models/fusion.py", "import neo4j", "Only the store talks to Neo4j"),
    ("ringscope/pipeline/run.py", "import neo4j.exceptions", "Only the store talks to Neo4j"),
    ("ringscope/models/detectors/gnn_hetero.py", "import ringscope.models.detectors.xgb_neighbour",
     "Detectors are independent"),
    ("ringscope/cypher/__init__.py", "import ringscope.store.db", "Layers"),
]


@pytest.mark.parametrize("module,line,contract", BACK_EDGES, ids=[b[0].split("/", 1)[1] for b in BACK_EDGES])
def test_a_back_edge_is_caught(tmp_path, module, line, contract):
    tree = check_imports.shadow_tree(tmp_path)
    f = tree / module
    f.write_text(f.read_text(encoding="utf-8") + f"\n{line}  # injected back edge\n", encoding="utf-8")
    r = check_imports.lint(tree)
    assert r.returncode != 0, f"{line} in {module} was not caught:\n{r.stdout}"
    broken = [ln for ln in r.stdout.splitlines() if "BROKEN" in ln]
    assert broken, r.stdout
    assert contract.lower() in r.stdout.lower().replace("\n", " ")


def test_a_function_level_import_is_caught(tmp_path):
    """Imports hidden inside functions count (the first round had 47 of them)."""
    tree = check_imports.shadow_tree(tmp_path)
    f = tree / "ringscope" / "graph" / "algorithms.py"
    f.write_text(f.read_text(encoding="utf-8")
                 + "\n\ndef _sneaky():\n    from ringscope.store.db import QueryRunner\n    return QueryRunner\n",
                 encoding="utf-8")
    r = check_imports.lint(tree)
    assert r.returncode != 0 and "BROKEN" in r.stdout


_EDGE = re.compile(r"^\s*\w+\[([\w.]+)\]\s*-->\s*\w+\[([\w.]+)\]\s*$")


def _mermaid_edges(text: str) -> set[tuple[str, str]]:
    """The ``a[a] --> b[b]`` lines of the first mermaid block in ``text`` (the ``--graph`` format)."""
    block = text.split("```mermaid", 1)[1].split("```", 1)[0]
    return {m.groups() for m in map(_EDGE.match, block.splitlines()) if m}


def test_the_documented_dependencies_are_the_real_ones():
    """docs/architecture.md's diagram is ``scripts/check_imports.py --graph`` pasted as is: its edges
    are the code's, so the picture cannot drift from the imports."""
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "check_imports.py"), "--graph"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    real = _mermaid_edges(r.stdout)
    assert ("pipeline", "store") in real and len(real) > 20, r.stdout
    doc = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    drawn = _mermaid_edges(doc[doc.index("## The import contracts"):])
    assert drawn == real, (f"docs/architecture.md's diagram drifted from the code; paste the output of "
                           f"scripts/check_imports.py --graph into it.\n  only in the doc: {sorted(drawn - real)}"
                           f"\n  only in the code: {sorted(real - drawn)}")


@pytest.mark.slow
def test_installed_wheel_runs_without_the_source_tree(tmp_path):
    """The wheel carries the Cypher library, the defaults and the Neo4j pom; it runs outside the repo."""
    wheels = tmp_path / "wheels"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(wheels), str(REPO)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    whl = next(wheels.glob("ringscope-*.whl"))
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(whl)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    code = ("import ringscope, sys; from pathlib import Path\n"
            "assert Path(ringscope.__file__).resolve().is_relative_to(Path(sys.argv[1]).resolve()), ringscope.__file__\n"
            "from ringscope.store.db import cypher, cypher_names\n"
            "assert 'UNWIND $rows' in cypher('load/persons') and len(cypher_names()) > 40\n"
            "from ringscope.store import server\n"
            "assert (server.POM_DIR / 'server.pom.xml').is_file()\n"
            "from ringscope.models.config import load_config, to_yaml\n"
            "assert 'card_lending' in to_yaml(load_config())\n"
            "from ringscope.synth.generator import load_config as city\n"
            "assert city()['city']\n"
            "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code, str(site)], cwd=tmp_path, capture_output=True, text=True,
                       env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stdout + r.stderr[-3000:]
