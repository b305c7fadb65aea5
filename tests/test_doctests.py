"""The doctested examples in the library's docstrings run and hold."""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "ringscope.graph.db",
    "ringscope.graph.algorithms",
    "ringscope.graph.projection",
    "ringscope.models.base",
    "ringscope.models.pipeline",
    "ringscope.ingest.faces",
    "ringscope.app.access",
    "ringscope.app.workflow",
    "ringscope.app.credit",
    "ringscope.app.graphview",
]


@pytest.mark.parametrize("name", MODULES)
def test_module_doctests(name):
    mod = importlib.import_module(name)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0, f"{res.failed} doctest(s) failed in {name}"
    if name in ("ringscope.graph.algorithms", "ringscope.graph.db", "ringscope.models.base"):
        assert res.attempted > 0, f"{name} should carry doctested examples"
