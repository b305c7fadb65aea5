"""The detector registry: the spine of detection.

Every detector is one class in one file. The built-in ones are the modules of
:mod:`ringscope.models.detectors` (found by listing the package, so a new file
there is a new detector); a detector of your own lives anywhere and is named in
the configuration by ``class: "package.module:Class"`` or
``class: "path/to/file.py:Class"``. Each declares (see
:class:`ringscope.models.base.BaseDetector`):

- ``name`` -- its stable id and the key of its configuration section;
- ``scheme`` -- the scheme its groups are about;
- ``kind`` -- ``face``, ``rule``, ``graph``, ``warning`` or ``learned``: the
  pipeline's stage (faces first, then rules, graph detectors, early warning,
  learned models) and fusion's weight family;
- ``needs`` -- contract tables that must be present (non-empty) for it to run;
- its parameters, typed, with defaults in ``models/defaults.yaml``.

>>> sorted(builtin())[:3]
['card_cashout', 'card_lending', 'collusive_prescribing']
>>> builtin()["rules"].kind
'rule'
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import pkgutil
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from ringscope.ingest.vocab import DETECTOR_KINDS
from ringscope.models.base import BaseDetector

__all__ = ["builtin", "resolve_class", "describe", "stage_order"]

_PACKAGE = "ringscope.models.detectors"


def _detector_classes(module: Any) -> list[type[BaseDetector]]:
    return [c for c in vars(module).values()
            if inspect.isclass(c) and issubclass(c, BaseDetector) and not inspect.isabstract(c)
            and c.__module__ == module.__name__]


@functools.lru_cache(maxsize=1)
def _builtin() -> tuple[tuple[str, type[BaseDetector]], ...]:
    pkg = importlib.import_module(_PACKAGE)
    out: dict[str, type[BaseDetector]] = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{_PACKAGE}.{info.name}")
        classes = _detector_classes(mod)
        if len(classes) != 1:
            raise RuntimeError(f"{mod.__name__} must define exactly one detector (found "
                               f"{[c.__name__ for c in classes] or 'none'}): one detector per file")
        cls = classes[0]
        _check_declared(cls)
        if cls.name != info.name:
            raise RuntimeError(f"{mod.__name__}: the detector's name {cls.name!r} must be its file's name")
        out[cls.name] = cls
    return tuple(sorted(out.items()))


def builtin() -> dict[str, type[BaseDetector]]:
    """``{name: class}`` of the built-in detectors (the files of ``models/detectors/``)."""
    return dict(_builtin())


def _check_declared(cls: type[BaseDetector]) -> None:
    if cls.kind not in DETECTOR_KINDS:
        raise RuntimeError(f"{cls.__name__}.kind {cls.kind!r} is not one of {DETECTOR_KINDS}")
    if not cls.name or cls.name == "base":
        raise RuntimeError(f"{cls.__name__} declares no name")


def resolve_class(spec: str) -> type[BaseDetector]:
    """A detector class from ``"package.module:Class"`` or ``"path/to/file.py:Class"``."""
    mod_name, sep, cls_name = spec.rpartition(":")
    if not sep or not mod_name or not cls_name:
        raise ValueError(f"detector class {spec!r}: write 'package.module:Class' or 'path/to/file.py:Class'")
    if mod_name.endswith(".py"):
        path = Path(mod_name).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"detector class {spec!r}: no file {path}")
        key = f"ringscope_user_detector_{abs(hash(str(path)))}"
        module = sys.modules.get(key)
        if module is None:
            s = importlib.util.spec_from_file_location(key, path)
            module = importlib.util.module_from_spec(s)
            sys.modules[key] = module
            s.loader.exec_module(module)  # type: ignore[union-attr]
    else:
        module = importlib.import_module(mod_name)
    cls = getattr(module, cls_name, None)
    if not (inspect.isclass(cls) and issubclass(cls, BaseDetector)):
        raise ValueError(f"detector class {spec!r}: {cls_name} is not a BaseDetector subclass in {mod_name}")
    _check_declared(cls)
    return cls


def stage_order(kind: str) -> int:
    """Position of a detector kind in the run (faces first, learned models last)."""
    return DETECTOR_KINDS.index(kind)


def describe() -> pd.DataFrame:
    """The built-in detectors as a table: name, kind, scheme, needs, parameters with defaults."""
    rows = []
    for name, cls in builtin().items():
        rows.append({"name": name, "kind": cls.kind, "scheme": cls.scheme, "needs": ";".join(cls.needs),
                     "supervised": cls.supervised, "corroborates": cls.corroborates,
                     "class": f"{cls.__module__}.{cls.__name__}",
                     "params": {k: d for k, (_, d) in cls.param_specs().items()}})
    df = pd.DataFrame(rows)
    df["_order"] = df["kind"].map(stage_order)
    return df.sort_values(["_order", "name"]).drop(columns="_order").reset_index(drop=True)
