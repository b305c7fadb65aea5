"""Small shared pieces of the synthetic city: visit/line buffers, constants, draws.

Shared by :mod:`ringscope.synth.generator` (the ordinary city) and
:mod:`ringscope.synth.schemes` (the injected schemes), so neither imports the other.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["RULES", "KINDS", "OUT", "IP", "PH", "DAY", "VCOLS", "LCOLS", "rint", "runif", "vchunk", "lchunk",
           "concat"]

RULES = ("duplicate_charge", "price_over_cap", "sex_limit", "age_limit", "over_quantity",
         "over_supply", "off_indication", "non_medical", "after_death")
KINDS = ("hospital", "community", "clinic", "pharmacy")
OUT, IP, PH = 0, 1, 2                       # visit types
DAY = 86_400


def rint(rng: np.random.Generator, rg: list | tuple, size: int | None = None) -> Any:
    lo, hi = int(rg[0]), int(rg[1])
    return rng.integers(lo, hi + 1, size=size)


def runif(rng: np.random.Generator, rg: list | tuple, size: int | None = None) -> Any:
    return rng.uniform(float(rg[0]), float(rg[1]), size=size)


VCOLS = {"person": np.int64, "inst": np.int64, "phys": np.int64, "vtype": np.int8,
         "start": np.int64, "end": np.int64, "diag": np.int64, "presenter": np.int64,
         "capture": bool, "ward": bool, "chronic": bool, "label": object, "terminal": np.int64}
LCOLS = {"vi": np.int64, "item": np.int64, "qty": float, "price": float, "days": np.int64,
         "time": np.int64, "label": object, "phys": np.int64}


def vchunk(n: int, **cols: Any) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    defaults = {"phys": -1, "end": -1, "diag": 0, "presenter": -1, "capture": True, "ward": False,
                "chronic": False, "label": None, "terminal": -1}
    for k, dt in VCOLS.items():
        val = cols.get(k, defaults.get(k))
        if val is None and dt is not object:
            raise ValueError(f"visit column {k} missing")
        if dt is object:
            arr = np.empty(n, dtype=object)
            arr[:] = val
        else:
            arr = np.broadcast_to(np.asarray(val, dtype=dt), (n,)).copy()
        out[k] = arr
    return out


def lchunk(n: int, **cols: Any) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    defaults = {"price": np.nan, "days": -1, "label": None, "phys": -1}
    for k, dt in LCOLS.items():
        val = cols.get(k, defaults.get(k))
        if dt is object:
            arr = np.empty(n, dtype=object)
            arr[:] = val
        else:
            arr = np.broadcast_to(np.asarray(val, dtype=dt), (n,)).copy()
        out[k] = arr
    return out


def concat(parts: list[dict[str, np.ndarray]], cols: dict) -> dict[str, np.ndarray]:
    if not parts:
        return {k: np.zeros(0, dtype=dt) for k, dt in cols.items()}
    return {k: np.concatenate([p[k] for p in parts]) for k in cols}
