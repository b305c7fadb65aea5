"""Small shared pieces of the synthetic city: visit/line buffers, constants, draws, streams.

Shared by :mod:`ringscope.synth.generator` (the ordinary city),
:mod:`ringscope.synth.schemes` (the injected schemes) and the modules of the
features drawn on streams of their own (drift, drug resale, traces, households),
so that none of them imports the generator.

Random streams
--------------
The city of ``(persons, seed, config)`` is drawn from one main PCG64 stream, as it
always was; every feature added later draws from a stream of its own,
:func:`stream` ``(seed, "tag", ...)``, so that adding it leaves the main stream --
and with it the persons, the rings and the truth -- where they were.

>>> a = stream(7, "drift").random(3)
>>> b = stream(7, "drift").random(3)
>>> bool((a == b).all()), bool((a == stream(7, "traces").random(3)).any())
(True, False)

Face identities of a city too large to hold (4 million × 128 floats) are a
deterministic function of the person's index (:func:`hash_normal`), so any shard
can compute the face of anyone who stands at its windows:

>>> x = hash_normal(np.array([5, 9, 5]), salt=11, dim=4)
>>> bool(np.allclose(x[0], x[2])), bool(np.allclose(x[0], x[1]))
(True, False)
"""
from __future__ import annotations

import zlib
from typing import Any

import numpy as np

__all__ = ["RULES", "KINDS", "OUT", "IP", "PH", "DAY", "VCOLS", "LCOLS", "rint", "runif", "vchunk", "lchunk",
           "concat", "stream", "stream_key", "hash_normal", "take"]

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
# tkey: index of the pack codes a line must carry (drug resale), -1 for an ordinary line
LCOLS = {"vi": np.int64, "item": np.int64, "qty": float, "price": float, "days": np.int64,
         "time": np.int64, "label": object, "phys": np.int64, "tkey": np.int64}


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
    defaults = {"price": np.nan, "days": -1, "label": None, "phys": -1, "tkey": -1}
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


def take(d: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    """Rows ``idx`` (an index or a mask) of every column of a visit/line/capture buffer."""
    return {k: a[idx] for k, a in d.items()}


# --------------------------------------------------------------------------- random streams
def stream_key(*key: int | str) -> list[int]:
    """Integers for a :class:`numpy.random.SeedSequence` from ints and tags (tags by CRC-32)."""
    out = []
    for k in key:
        if isinstance(k, str):
            out.append(zlib.crc32(k.encode("utf-8")))
        else:
            out.append(int(k) & 0xFFFFFFFFFFFFFFFF)
    return out


def stream(seed: int, *key: int | str) -> np.random.Generator:
    """A PCG64 generator of its own for ``(seed, *key)``, independent of every other stream."""
    return np.random.default_rng(np.random.SeedSequence(stream_key(int(seed), *key)))


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)


def _splitmix(x: np.ndarray) -> np.ndarray:
    z = x + _GOLD
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def hash_normal(idx: np.ndarray, salt: int, dim: int = 128) -> np.ndarray:
    """Standard normal vectors (float32, ``len(idx) × dim``), a pure function of ``(idx, salt)``.

    SplitMix64 of ``(salt, index, pair)`` gives two 32-bit uniforms, Box–Muller turns
    them into two normals: any subset of persons, in any order, gets the same rows.
    """
    idx = np.asarray(idx, dtype=np.int64)
    half = (dim + 1) // 2
    with np.errstate(over="ignore"):
        base = _splitmix(np.uint64(int(salt) & 0xFFFFFFFFFFFFFFFF) ^ np.arange(half, dtype=np.uint64))
        key = (idx.astype(np.uint64)[:, None] * np.uint64(0x100000001B3)) ^ base[None, :]
        h = _splitmix(key)
    scale = np.float32(1.0 / (1 << 24))
    u1 = ((h >> np.uint64(40)).astype(np.float32) + np.float32(0.5)) * scale
    u2 = ((h & np.uint64(0xFFFFFF)).astype(np.float32) + np.float32(0.5)) * scale
    del h
    r = np.sqrt(np.float32(-2.0) * np.log(u1))
    a = np.float32(2 * np.pi) * u2
    z = np.concatenate([r * np.cos(a), r * np.sin(a)], axis=1)
    return z[:, :dim].astype(np.float32)
