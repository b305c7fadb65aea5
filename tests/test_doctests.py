"""The doctested examples in the library's docstrings run and hold: every module of the
``ringscope`` namespace (the Streamlit page scripts excepted: importing one runs the page)."""
from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

SKIP = ("ringscope.app.pages", "ringscope.app.streamlit_app")


PACKAGES = ("ringscope", "ringscope.pipeline", "ringscope.ingest", "ringscope.synth", "ringscope.graph",
            "ringscope.models", "ringscope.store", "ringscope.app")


def _modules() -> list[str]:
    """Every module of the namespace (each folder is mapped separately, so each is walked)."""
    out = set()
    for pkg in PACKAGES:
        mod = importlib.import_module(pkg)
        out.add(pkg)
        for info in pkgutil.walk_packages(mod.__path__, pkg + "."):
            out.add(info.name)
    return sorted(m for m in out if not m.startswith(SKIP))


MODULES = _modules()
MUST_HAVE_EXAMPLES = ("ringscope.graph.algorithms", "ringscope.store.db", "ringscope.models.base",
                      "ringscope.ingest.vocab", "ringscope.models.registry", "ringscope.models.config",
                      "ringscope.models.fusion")


def test_every_package_is_walked():
    assert {"ringscope.ingest.reader", "ringscope.models.detectors.card_lending", "ringscope.store.load",
            "ringscope.synth.generator", "ringscope.pipeline.run", "ringscope.app.access"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_module_doctests(name):
    mod = importlib.import_module(name)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0, f"{res.failed} doctest(s) failed in {name}"
    if name in MUST_HAVE_EXAMPLES:
        assert res.attempted > 0, f"{name} should carry doctested examples"
