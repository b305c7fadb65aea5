"""Check that imports run one way (the contracts in pyproject.toml's [tool.importlinter]).

    .venv/bin/python scripts/check_imports.py            # check the contracts
    .venv/bin/python scripts/check_imports.py --graph    # the real dependencies, as a mermaid diagram

The repository maps its top-level folders into one namespace (``ingest/`` is
``ringscope.ingest`` and so on, see ``[tool.setuptools.package-dir]``), which
import-linter cannot follow from the source tree. This script lays the packages
out as an installed wheel would (a copy under a temporary directory) and runs
import-linter on that copy; ``tests/test_architecture.py`` does the same.
Exit status: 0 when every contract is kept.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def shadow_tree(dest: Path, repo: Path = REPO) -> Path:
    """Copy the packages of ``repo`` to ``dest/ringscope/...`` as installed; return ``dest``."""
    pp = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(repo / "ringscope", dest / "ringscope", ignore=ignore, dirs_exist_ok=True)
    for pkg, folder in pp["tool"]["setuptools"]["package-dir"].items():
        if pkg != "ringscope":
            shutil.copytree(repo / folder, dest / Path(*pkg.split(".")), ignore=ignore, dirs_exist_ok=True)
    shutil.copy(repo / "pyproject.toml", dest / "pyproject.toml")
    return dest


def lint(tree: Path) -> subprocess.CompletedProcess:
    """Run import-linter on a shadow tree (its own pyproject.toml); output captured."""
    exe = Path(sys.executable).with_name("lint-imports")
    cmd = [str(exe) if exe.exists() else "lint-imports", "--no-cache", str(tree / "pyproject.toml")]
    env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)


def _group(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:3]) if parts[1] == "models" and len(parts) > 2 else ".".join(parts[:2])


def dependency_graph(tree: Path) -> list[tuple[str, str]]:
    """Package-level import edges of the shadow tree (``ringscope.models`` split by sub-module)."""
    sys.path.insert(0, str(tree))
    try:
        import grimp

        g = grimp.build_graph("ringscope", cache_dir=None)
        edges = {(_group(m), _group(i)) for m in g.modules for i in g.find_modules_directly_imported_by(m)}
    finally:
        sys.path.remove(str(tree))
    return sorted((a, b) for a, b in edges if a != b)


def mermaid(edges: list[tuple[str, str]]) -> str:
    short = lambda m: m.removeprefix("ringscope.")  # noqa: E731
    lines = ["```mermaid", "flowchart TD"]
    lines += [f"  {short(a).replace('.', '_')}[{short(a)}] --> {short(b).replace('.', '_')}[{short(b)}]"
              for a, b in edges]
    return "\n".join(lines + ["```"])


def main() -> int:
    if "--graph" in sys.argv[1:]:
        with tempfile.TemporaryDirectory(prefix="ringscope-imports-") as d:
            print(mermaid(dependency_graph(shadow_tree(Path(d)))))
        return 0
    with tempfile.TemporaryDirectory(prefix="ringscope-imports-") as d:
        r = lint(shadow_tree(Path(d)))
    print(r.stdout[r.stdout.find("Contracts"):] if "Contracts" in r.stdout else r.stdout, end="")
    print(r.stderr, end="", file=sys.stderr)
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
