"""A synthetic city (Taiyuan-shaped) with a year of insured care, fraud rings and confounders.

``generate(out, persons, seed, config, fmt)`` writes a dataset in the shape of
``shared/spec/data-contract.md`` plus its ``truth/`` directory. The model of
the city, every parameter and its public source are described in
``docs/city-model.md``; the parameters live in ``synth/defaults.yaml`` and
can be overridden by YAML files or dicts (deep-merged, in order).

Design
------
* Everything is vectorised with numpy: persons, visits and claim lines are
  arrays; there is no Python loop per person, visit or line (only per table,
  per diagnosis group, per scheme, per ring or per shard).
* Internally every entity is an integer index and every time is seconds since
  1 January of the simulated year; ids, strings and timestamps are made at
  the end, in the in-memory dtypes of :mod:`ringscope.ingest.contract`, and
  written with :mod:`ringscope.ingest.io`.
* Random streams (:func:`ringscope.synth.primitives.stream`): the city is
  drawn from one seeded PCG64 main stream, as it always was; every later
  feature (realistic volume, drifting institutions, drug traceability codes
  and the drug-resale scheme, household shapes) draws from a stream of its
  own, so that turning it on leaves the persons, the rings and the truth of
  the main stream where they were. A ``(persons, seed, config)`` triple always
  gives byte-identical files.
* Bounded memory: institutions, physicians, the catalogue, the persons'
  attributes, families and the fraud rings are made once; the year of care is
  then generated, processed and written **shard by shard** (``generation.
  shard_persons`` persons at a time, each shard on streams of its own), so the
  peak memory is set by the shard size, not by the city. A city larger than
  one shard is written as partitioned Parquet (``visits.parquet/part-00000.
  parquet`` ..., the Spark/Hive layout) or as CSV files appended shard by shard.
* Honest claim lines are filtered through the same rules the violations
  break (sex/age limits, indication, quantity, supply, price cap), so every
  rule break in the data is one that was injected and labelled.

Face encodings imitate the 128-d embeddings of dlib's ResNet face model
(King 2009; used by the ``face_recognition`` library): an identity vector
per person, captures = identity + isotropic noise, tuned so that captures of
one person lie ~0.3-0.45 from the enrolment, strangers ~0.8-1.0 and
look-alike relatives ~0.5-0.6 (the library's default tolerance is 0.6).
"""
from __future__ import annotations

import copy
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import yaml

from ringscope import progress
from ringscope.synth.catalog import (ACUTE_GROUPS, CATALOG_ROWS, CONSULT, GIVEN_F, GIVEN_M,
                                     INPATIENT_GROUPS, INST_WORDS, PHARMACY_CHAINS,
                                     SPECIALTIES, STREETS, SURNAMES)
from ringscope.synth import drift, households, resale, schemes, traces
from ringscope.synth.output import Sink
from ringscope.synth.primitives import (DAY, IP, KINDS, LCOLS, OUT, PH, RULES, VCOLS, concat, hash_normal, lchunk,
                                        rint, runif, stream, take, vchunk)
from ringscope.ingest.contract import OPTIONAL_TRUTH_FILES, TABLES, TRUTH_FILES

__all__ = ["generate", "load_config", "DEFAULTS_PATH", "LEGACY_PATH", "RULES"]

DEFAULTS_PATH = Path(__file__).with_name("defaults.yaml")
#: the configuration that reproduces the cities of the generator before issues 12/13/15/19
LEGACY_PATH = Path(__file__).with_name("legacy.yaml")
VTYPES = np.array(["outpatient", "inpatient", "pharmacy"], dtype=object)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# --------------------------------------------------------------------------- config
def _deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _read_over(config: str | Path | dict) -> dict:
    if isinstance(config, (str, Path)):
        over = yaml.load(Path(config).read_text(encoding="utf-8"), Loader=_LOADER) or {}
    else:
        over = dict(config)
    if not isinstance(over, dict):
        raise ValueError("generator config must be a mapping")
    # shorthands: ``volume: legacy``, ``rings: fixed``
    for key, sub in (("volume", "profile"), ("rings", "mode")):
        if isinstance(over.get(key), str):
            over[key] = {sub: over[key]}
    return over


def load_config(config: str | Path | dict | list | tuple | None = None) -> dict:
    """The defaults of ``synth/defaults.yaml`` deep-merged with ``config``.

    ``config`` is a YAML file, a dict, or a list of them merged in order (so
    ``[LEGACY_PATH, "bench/city_alt.yaml"]`` is the alt city at the old volume).

    >>> load_config({"rings": "fixed"})["rings"]["mode"]
    'fixed'
    >>> load_config([LEGACY_PATH, {"schemes": {"card_lending": {"min_rings": 4}}}])["volume"]["profile"]
    'legacy'
    """
    base = yaml.load(DEFAULTS_PATH.read_text(encoding="utf-8"), Loader=_LOADER)
    if config is None:
        return base
    parts = list(config) if isinstance(config, (list, tuple)) else [config]
    for part in parts:
        base = _deep_merge(base, _read_over(part))
    if base["volume"].get("profile") not in ("legacy", "realistic"):
        raise ValueError(f"volume.profile must be legacy or realistic, not {base['volume'].get('profile')!r}")
    if base["rings"].get("mode") not in ("scaled", "fixed"):
        raise ValueError(f"rings.mode must be scaled or fixed, not {base['rings'].get('mode')!r}")
    return base


# --------------------------------------------------------------------------- small helpers
def _step(table: list, x: np.ndarray) -> np.ndarray:
    """Piecewise-constant lookup: ``table`` = [[from, value], ...] sorted by ``from``."""
    xs = np.array([t[0] for t in table], dtype=float)
    vs = np.array([t[1] for t in table], dtype=float)
    i = np.searchsorted(xs, x, side="right") - 1
    return np.where(i >= 0, vs[np.clip(i, 0, None)], 0.0)


def _pick_in_groups(item_group: np.ndarray, item_weight: np.ndarray, query_group: np.ndarray,
                    rng: np.random.Generator) -> np.ndarray:
    """For each query, an item of the same group drawn with probability ∝ weight (-1: none)."""
    n = len(query_group)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if len(item_group) == 0:
        return np.full(n, -1, dtype=np.int64)
    order = np.argsort(item_group, kind="stable")
    gs = item_group[order]
    cw = np.cumsum(item_weight[order].astype(float))
    q = np.asarray(query_group)
    start = np.searchsorted(gs, q, "left")
    end = np.searchsorted(gs, q, "right")
    has = end > start
    lo = np.where(start > 0, cw[np.clip(start - 1, 0, None)], 0.0)
    hi = cw[np.clip(end - 1, 0, None)]
    u = lo + rng.random(n) * (hi - lo)
    idx = np.clip(np.searchsorted(cw, u, "right"), start, np.maximum(end - 1, start))
    out = order[np.clip(idx, 0, len(order) - 1)].astype(np.int64)
    out[~has] = -1
    return out


def _choice_rows(rng: np.random.Generator, cum: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Sample one column per query from row-wise cumulative probability table ``cum[rows]``."""
    u = rng.random(len(rows))[:, None]
    return (u > cum[rows]).sum(axis=1)


def _season_profile(name: str) -> np.ndarray:
    m = {
        "resp": [1.5, 1.4, 1.15, 0.95, 0.8, 0.7, 0.65, 0.7, 0.85, 1.0, 1.2, 1.45],
        "flu": [3.0, 2.2, 1.0, 0.4, 0.2, 0.15, 0.15, 0.15, 0.2, 0.5, 1.2, 2.6],
        "gi": [0.7, 0.7, 0.8, 0.9, 1.1, 1.3, 1.5, 1.5, 1.2, 0.9, 0.8, 0.7],
        "summer": [0.8, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.3, 1.1, 1.0, 0.9, 0.8],
        "flat": [1.0] * 12,
    }[name]
    return np.array(m, dtype=float)


def _fmt_ids(prefix: str, nums: np.ndarray, width: int) -> np.ndarray:
    """``prefix`` + zero-padded decimal ``nums`` as an object array of str (columnar, no per-id format).

    >>> _fmt_ids("V", np.array([1, 23]), 4).tolist()
    ['V0001', 'V0023']
    """
    nums = np.asarray(nums, dtype=np.int64)
    n = len(nums)
    if n == 0:
        return np.zeros(0, dtype=object)
    width = max(width, len(str(int(nums.max()))))
    p = prefix.encode("ascii")
    w = len(p) + width
    buf = np.empty((n, w), dtype=np.uint8)
    buf[:, :len(p)] = np.frombuffer(p, dtype=np.uint8)
    x = nums.copy()
    for j in range(width - 1, -1, -1):
        buf[:, len(p) + j] = 48 + x % 10
        x //= 10
    offsets = np.arange(0, w * n + 1, w, dtype=np.int32)
    arr = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf.tobytes()))
    return arr.to_numpy(zero_copy_only=False).astype(object)


# --------------------------------------------------------------------------- buffers
@dataclass
class _Chunk:
    """Visits (and their lines) produced by one part of the model."""
    v: dict[str, np.ndarray]
    l: dict[str, np.ndarray]
    extra: bool = False          # made by the realistic volume (its own stream)


# --------------------------------------------------------------------------- the city
@dataclass
class _Truth:
    rings: list[dict] = field(default_factory=list)
    entities: list[dict] = field(default_factory=list)
    confounders: dict[str, int] = field(default_factory=dict)
    drift: list[dict] = field(default_factory=list)

    def count(self, key: str, n: int) -> None:
        self.confounders[key] = int(self.confounders.get(key, 0)) + int(n)


class _City:
    """Holds the state of one generation run (arrays indexed by integer ids)."""

    def __init__(self, persons: int, seed: int, cfg: dict):
        if persons < 200:
            raise ValueError("persons must be at least 200")
        self.N = int(persons)
        self.seed = int(seed)
        self.cfg = cfg
        self.rng = np.random.default_rng(np.random.SeedSequence([int(seed), self.N, 20240101]))
        self._pick: np.random.Generator | None = None
        self._extra = False                              # chunks being added are the realistic volume's
        self.year = int(cfg["year"])
        self.t0 = np.datetime64(f"{self.year}-01-01T00:00:00", "s")
        self.ndays = int((np.datetime64(f"{self.year + 1}-01-01") - np.datetime64(f"{self.year}-01-01"))
                         / np.timedelta64(1, "D"))
        self.month_start = np.array(
            [(np.datetime64(f"{self.year}-{m:02d}-01") - np.datetime64(f"{self.year}-01-01"))
             .astype(int) for m in range(1, 13)] + [self.ndays])
        self.chunks: list[_Chunk] = []
        self.truth = _Truth()
        self.diag_tuples: list[tuple[str, ...]] = [()]
        self._diag_index: dict[tuple[str, ...], int] = {(): 0}
        # how the city is drawn
        self.legacy = cfg["volume"]["profile"] == "legacy"
        self.fixed_rings = cfg["rings"]["mode"] == "fixed"
        self.ring_persons = int(cfg["rings"]["reference_persons"]) if self.fixed_rings else self.N
        shard = max(1000, int(cfg["generation"]["shard_persons"]))
        self.n_shards = 1 if (self.legacy or self.N <= shard) else int(np.ceil(self.N / shard))
        if self.n_shards > traces.MAX_SEGMENTS:
            raise ValueError(f"{self.n_shards} shards: at most {traces.MAX_SEGMENTS} (raise generation.shard_persons)")
        self.sharded = self.n_shards > 1
        self.shard_idx: np.ndarray | None = None      # persons of the shard being generated (None: everyone)
        self.volume_rng: np.random.Generator | None = None
        self.outages: tuple | None = None
        self.ident: np.ndarray | None = None
        self.pid_num: np.ndarray | None = None
        self.known: list[dict] = []
        self.known_extra: list[dict] = []               # closed cases of the drug-resale rings
        self.extra_sales: list[pd.Series] = []          # honest sales added by the later features
        self.resale_block: tuple[dict, dict] | None = None
        self.payer_seen = np.zeros(self.N, dtype=bool) if self.sharded else None

    # ------------------------------------------------------------------ random streams
    def stream(self, *key: int | str) -> np.random.Generator:
        """A stream of its own for ``key`` (under this city's seed and size)."""
        return stream(self.seed, self.N, *key)

    @contextmanager
    def using(self, rng: np.random.Generator, pick: np.random.Generator | None = None) -> Iterator[None]:
        """Draw from ``rng`` (and choose participants from ``pick``) inside the block."""
        old = (self.rng, self._pick)
        self.rng, self._pick = rng, pick
        try:
            yield
        finally:
            self.rng, self._pick = old

    @property
    def pick_rng(self) -> np.random.Generator:
        """Where participants of a ring are chosen from (the ring's own stream when rings are fixed)."""
        return self._pick if self._pick is not None else self.rng

    def ring_stream(self, scheme: str, r: int):
        """Rings that do not grow with the city draw from streams of the seed alone (not of the size),
        one per ring, with the choice of participants on a stream apart: the same seed plants
        rings of the same number and shape at any size."""
        if not self.fixed_rings:
            return nullcontext()
        return self.using(stream(self.seed, "ring", scheme, r), stream(self.seed, "ring-pick", scheme, r))

    def shards(self) -> list[np.ndarray]:
        """The persons of each shard: contiguous index ranges of about equal size."""
        bounds = np.linspace(0, self.N, self.n_shards + 1).round().astype(np.int64)
        return [np.arange(bounds[s], bounds[s + 1]) for s in range(self.n_shards)]

    def persons_of(self, idx: np.ndarray | None) -> np.ndarray:
        return np.arange(self.N) if idx is None else idx

    # ------------------------------------------------------------------ utilities
    def diag_id(self, codes: tuple[str, ...]) -> int:
        codes = tuple(codes)
        if codes not in self._diag_index:
            self._diag_index[codes] = len(self.diag_tuples)
            self.diag_tuples.append(codes)
        return self._diag_index[codes]

    def add(self, v: dict[str, np.ndarray], l: dict[str, np.ndarray]) -> None:
        self.chunks.append(_Chunk(v, l, self._extra))

    def day_weights(self, profile: str, weekend: float) -> np.ndarray:
        day = np.arange(self.ndays)
        month = np.searchsorted(self.month_start, day, side="right") - 1
        dow = (np.datetime64(f"{self.year}-01-01").astype("datetime64[D]").astype(int) + day + 3) % 7  # 0=Mon
        w = _season_profile(profile)[month] * np.where(dow >= 5, weekend, 1.0)
        return w / w.sum()

    def sample_days(self, n: int, profile: str = "flat", weekend: float = 0.6) -> np.ndarray:
        return self.rng.choice(self.ndays, size=n, p=self.day_weights(profile, weekend))

    def clinic_seconds(self, n: int) -> np.ndarray:
        """Arrival time of day at an outpatient clinic (seconds)."""
        morning = self.rng.random(n) < 0.65
        return np.where(morning, self.rng.integers(7 * 3600 + 50 * 60, 11 * 3600 + 40 * 60, n),
                        self.rng.integers(14 * 3600, 17 * 3600 + 20 * 60, n))

    def shop_seconds(self, n: int) -> np.ndarray:
        return (self.rng.beta(2.0, 2.2, n) * (13 * 3600) + 8 * 3600 + 30 * 60).astype(np.int64)

    def alive_mask(self, persons: np.ndarray, t: np.ndarray) -> np.ndarray:
        d = self.p_death[persons]
        return (d < 0) | (t < d * DAY)

    def month_of(self, t: np.ndarray) -> np.ndarray:
        """Month index 0-11 of times in seconds."""
        return np.searchsorted(self.month_start, np.asarray(t) // DAY, side="right") - 1

    # ------------------------------------------------------------------ build order
    def build_population(self) -> None:
        """Catalogue, institutions, physicians, persons, families and usual places of care (main stream)."""
        self.catalog()
        self.institutions()
        self.physicians()
        self.persons()
        self.families()
        self.homes()

    def care(self, idx: np.ndarray | None = None) -> None:
        """A year of honest care for the persons ``idx`` (everyone when None), on the current stream;
        the realistic volume's extra episodes and return visits on ``self.volume_rng``."""
        self.chronic_care(idx)
        self.acute_care(idx)
        self.outbreak(idx)
        self.otc_purchases(idx)
        self.inpatient_care(idx)
        if not self.legacy:
            with self.using(self.volume_rng):
                self.extra_volume(idx)
            self.drop_clashing_extra()

    @contextmanager
    def extra_chunks(self) -> Iterator[None]:
        old = self._extra
        self._extra = True
        try:
            yield
        finally:
            self._extra = old

    def drop_clashing_extra(self) -> None:
        """The realistic city's settlements do not clash (a filter, no draws): the realistic volume's
        never fall on a day the person already settles at the same institution, nor inside one of
        their hospital stays; and nobody sees a doctor at another institution while in hospital."""
        base = [c for c in self.chunks if not c.extra]
        if len(base) == len(self.chunks):
            return
        ni = np.int64(self.n_inst)

        def keys(v: dict) -> np.ndarray:
            return (v["person"].astype(np.int64) * ni + v["inst"]) * 400 + v["start"] // DAY

        seen = np.unique(np.concatenate([keys(c.v) for c in base])) if base else np.zeros(0, np.int64)
        stays = self.stays_of([c.v for c in base])
        kept = []
        for c in self.chunks:
            v, l = c.v, c.l
            where = self.in_stay(stays, v["person"], v["start"], margin=12 * 3600)
            if not c.extra:
                keep = ~((where >= 0) & (v["vtype"] == OUT) & (stays[3][np.clip(where, 0, None)] != v["inst"]))
            else:
                k = keys(v)
                pos = np.searchsorted(seen, k)
                clash = (pos < len(seen)) & (seen[np.clip(pos, 0, max(len(seen) - 1, 0))] == k)
                o2 = np.argsort(k, kind="stable")
                dup = np.zeros(len(k), dtype=bool)
                dup[o2[1:]] = k[o2[1:]] == k[o2[:-1]]
                keep = ~(clash | dup | (where >= 0))
                seen = np.union1d(seen, k[keep])
            if keep.all():
                kept.append(c)
                continue
            remap = np.cumsum(keep) - 1
            l2 = take(l, keep[l["vi"]])
            l2["vi"] = remap[l2["vi"]]
            kept.append(_Chunk(take(v, keep), l2, c.extra))
        self.chunks = kept

    @staticmethod
    def stays_of(vs: list[dict]) -> tuple[np.ndarray, ...]:
        """Inpatient stays of visit buffers, sorted by (person, admission): person, start, end, institution."""
        cols = [[v[k][v["vtype"] == IP] for v in vs] for k in ("person", "start", "end", "inst")]
        sp, ss, se, si = (np.concatenate(c) if c else np.zeros(0, np.int64) for c in cols)
        o = np.lexsort((ss, sp))
        return sp[o], ss[o], se[o], si[o]

    @staticmethod
    def in_stay(stays: tuple[np.ndarray, ...], person: np.ndarray, t: np.ndarray, margin: int = 0) -> np.ndarray:
        """For each (person, time): the index of the person's stay that time falls in (more than
        ``margin`` seconds after admission and before discharge), or -1."""
        sp, ss, se, _ = stays
        if not len(sp):
            return np.full(len(person), -1, dtype=np.int64)
        big = np.int64(1 << 26)
        skey = sp.astype(np.int64) * big + ss // 60
        j = np.searchsorted(skey, person.astype(np.int64) * big + (t - margin) // 60, "left") - 1
        jc = np.clip(j, 0, None)
        inside = (j >= 0) & (sp[jc] == person) & (t > ss[jc] + margin) & (t < se[jc] - margin)
        return np.where(inside, jc, -1)

    def build_single(self) -> None:
        """The whole city in one piece, in the order of the original generator (main stream)."""
        self.build_population()
        self.faces_identity()
        self.volume_plan()
        self.volume_rng = self.stream("volume", 0)
        self.care(None)
        self.inject_schemes()
        self.assemble()
        self.clean_lines()
        schemes.inject_violations(self)
        self.finalise_lines()
        self.payments()
        self.C = self.captures(self.V, enrol=True)
        self.inventory(self.sales(self.V, self.L))
        schemes.known_cases(self)
        self.draw_ids()

    def build_plan(self) -> None:
        """Everything a sharded city shares, made once before the shards."""
        self.build_population()
        self.faces_plan()
        self.volume_plan()
        self.outbreak_plan()
        self.inject_schemes()
        self.scheme_block = self.take_chunks()
        self.outage_plan()
        self.draw_ids()

    def build_shard(self, s: int, idx: np.ndarray) -> None:
        """The year of care of the persons ``idx`` (shard ``s``), on the shard's own streams."""
        self.shard_idx = idx
        self.chunks = []
        self.volume_rng = self.stream("volume", s)
        with self.using(self.stream("care", s)):
            self.care(idx)
        sv, sl = self.scheme_block
        inside = np.zeros(self.N, dtype=bool)
        inside[idx] = True
        keep = inside[sv["person"]]
        if keep.any():
            remap = np.cumsum(keep) - 1
            lk = keep[sl["vi"]]
            l = take(sl, lk)
            l["vi"] = remap[l["vi"]]
            self.add(take(sv, keep), l)
        with self.using(self.stream("shard", s)):
            self.assemble()
            self.clean_lines()
            schemes.inject_violations(self)
            self.finalise_lines()
            self.payments()
            self.C = self.captures(self.V, enrol=True)
        self.payer_seen[self.V["payer"][self.V["payer"] >= 0]] = True

    def take_chunks(self) -> tuple[dict, dict]:
        """The chunks made so far as one visit/line buffer (line ``vi`` offset), emptying the list."""
        vparts, lparts, off = [], [], 0
        for ch in self.chunks:
            l = dict(ch.l)
            l["vi"] = l["vi"] + off
            vparts.append(ch.v)
            lparts.append(l)
            off += len(ch.v["person"])
        self.chunks = []
        return concat(vparts, VCOLS), concat(lparts, LCOLS)

    def inject_schemes(self) -> None:
        schemes.inject_all(self)

    # ------------------------------------------------------------------ catalogue
    def catalog(self) -> None:
        rows = [r.split("|") for r in CATALOG_ROWS.strip().splitlines()]
        f = pd.DataFrame(rows, columns=["item_code", "name", "item_type", "insurance_class", "price_cap",
                                        "sex_limit", "age_min", "age_max", "indication_prefixes",
                                        "max_days_supply", "max_qty_per_visit", "dpu", "pools"])
        num = lambda c: pd.to_numeric(f[c].replace("", np.nan))  # noqa: E731
        self.cat_code = f["item_code"].to_numpy(object)
        self.cat_type = f["item_type"].to_numpy(object)
        self.cat_class = f["insurance_class"].to_numpy(object)
        self.cat_cap = num("price_cap").to_numpy(float)
        self.cat_sex = f["sex_limit"].to_numpy(object)
        self.cat_amin = num("age_min").to_numpy(float)
        self.cat_amax = num("age_max").to_numpy(float)
        self.cat_prefixes = [tuple(x for x in s.split(";") if x) for s in f["indication_prefixes"]]
        self.cat_has_ind = np.array([len(p) > 0 for p in self.cat_prefixes])
        self.cat_maxdays = num("max_days_supply").to_numpy(float)
        self.cat_maxqty = num("max_qty_per_visit").to_numpy(float)
        self.cat_dpu = num("dpu").to_numpy(float)
        self.cat_is_drug = self.cat_type == "drug"
        self.cat_reimb = np.select([self.cat_type == "non_medical", self.cat_class == "C",
                                    self.cat_class == "B", self.cat_type == "material"],
                                   [0.0, 0.0, 0.9, 0.8], 1.0)
        self.code_index = {c: i for i, c in enumerate(self.cat_code)}
        pools: dict[str, list[int]] = {}
        for i, s in enumerate(f["pools"]):
            for tag in s.split():
                pools.setdefault(tag, []).append(i)
        self.pools = {k: np.array(v, dtype=np.int64) for k, v in pools.items()}
        self.catalog_df = pd.DataFrame({
            "item_code": self.cat_code,
            "name": f["name"].to_numpy(object),
            "item_type": self.cat_type,
            "insurance_class": self.cat_class,
            "price_cap": self.cat_cap,
            "sex_limit": pd.Series(self.cat_sex).replace("", None).to_numpy(object),
            "age_min": pd.array(self.cat_amin, dtype="Int64"),
            "age_max": pd.array(self.cat_amax, dtype="Int64"),
            "indication_prefixes": pd.Series(self.cat_prefixes, dtype=object).to_numpy(object),
            "max_days_supply": pd.array(self.cat_maxdays, dtype="Int64"),
            "max_qty_per_visit": self.cat_maxqty,
        })

    def pool(self, name: str) -> np.ndarray:
        return self.pools.get(name, np.zeros(0, dtype=np.int64))

    # ------------------------------------------------------------------ institutions
    def institutions(self) -> None:
        c, rng, N = self.cfg["city"], self.rng, self.N
        ref = c["institutions_reference"]
        ref_total = ref["hospital"] + ref["primary"] + ref["pharmacy"]
        total = max(ref_total / c["reference_population"] * N, c["small_city_density"] * np.sqrt(N))
        fl = c["floors"]
        n_h = max(fl["hospital"], round(total * ref["hospital"] / ref_total))
        n_prim = round(total * ref["primary"] / ref_total)
        n_comm = max(fl["community"], round(n_prim * c["community_share_of_primary"]))
        n_clin = max(fl["clinic"], n_prim - n_comm)
        n_ph = max(fl["pharmacy"], round(total * ref["pharmacy"] / ref_total))
        kinds = np.repeat(np.arange(4), [n_h, n_comm, n_clin, n_ph])
        n = len(kinds)
        dnames = list(c["districts"])
        self.districts = np.array(dnames, dtype=object)
        dpop = np.array([c["districts"][d]["population"] for d in dnames], float)
        durb = np.array([c["districts"][d]["urban"] for d in dnames], float)
        self.dcode = np.array([str(c["districts"][d]["code"]) for d in dnames], dtype=object)
        dist = np.empty(n, dtype=np.int64)
        for k in range(4):
            m = kinds == k
            w = dpop * (durb ** (2.0 if k == 0 else 0.5))
            dist[m] = rng.choice(len(dnames), size=m.sum(), p=w / w.sum())
        level = np.zeros(n, dtype=np.int64)
        lv = c["hospital_levels"]
        lp = np.array([lv[1], lv[2], lv[3]], float)
        level[kinds == 0] = rng.choice([1, 2, 3], size=n_h, p=lp / lp.sum())
        level[0], level[1] = 3, 2
        if n_h >= 3:
            level[n_h - 1] = 1
        if n_h >= 6:
            level[2] = 3
        ft = c["face_terminal"]
        p_term = np.array([ft[k] for k in KINDS])[kinds]
        terminal = rng.random(n) < p_term
        terminal[level == 3] = True
        pub = np.array([c["public_share"][k] for k in KINDS])[kinds]
        public = rng.random(n) < np.where(level == 3, 0.9, pub)
        vw = c["volume_weight"]
        key = np.array([f"hospital_{lv_}" if k == 0 else KINDS[k] for k, lv_ in zip(kinds, level)], dtype=object)
        self.i_key = key
        self.i_kind = kinds
        self.i_level = level
        self.i_dist = dist
        self.i_terminal = terminal
        self.i_public = public
        self.i_weight = np.array([vw[k] for k in key]) * rng.lognormal(0, 0.35, n)
        self.i_price = runif(rng, self.cfg["care"]["price_factor"], n)
        tc = self.cfg["care"]["terminals"]
        self.i_nterm = np.array([tc[k] for k in key], dtype=np.int64)
        self.n_inst = n
        # ids: H/P + district code + sequence (the shape of national 定点医药机构编码)
        seq = pd.Series(dist).groupby(dist).cumcount().to_numpy() + 1
        prefix = np.where(kinds == 3, "P", "H")
        self.i_id = np.array([f"{p}{self.dcode[d]}{s:05d}" for p, d, s in zip(prefix, dist, seq)], dtype=object)
        words = np.array(INST_WORDS, dtype=object)
        streets = np.array(STREETS, dtype=object)
        chains = np.array(PHARMACY_CHAINS, dtype=object)
        w = words[rng.integers(0, len(words), n)]
        st = streets[rng.integers(0, len(streets), n)]
        ch = chains[rng.integers(0, len(chains), n)]
        dn = self.districts[dist]
        short = np.array([d[:-1] if len(d) > 2 else d for d in dn], dtype=object)
        style = rng.integers(0, 3, n)
        names = []
        for k, lv_, s_, ww, ss, cc, dd, pb in zip(kinds, level, style, w, st, ch, short, public):
            if k == 0:
                if lv_ == 3:
                    names.append(["山西省" + ww + "医院", "太原市" + ww + "中心医院", "山西医科大学第" +
                                  "一二三"[s_] + "附属" + ww + "医院"][s_])
                elif pb:
                    names.append([f"太原市{dd}区人民医院".replace("区区", "区"), f"{dd}中医医院",
                                  f"太原市{ww}医院"][s_])
                else:
                    names.append([f"太原{ww}医院", f"{ww}骨科医院", f"{ww}康复医院"][s_])
            elif k == 1:
                names.append(f"{dd}{ss}街道社区卫生服务中心")
            elif k == 2:
                names.append([f"{dd}{ww}诊所", f"{ww}门诊部", f"{ss}{ww}中医诊所"][s_])
            else:
                names.append(f"{cc}({ss}店)")
        self.i_name = np.array(names, dtype=object)

    # ------------------------------------------------------------------ physicians
    def physicians(self) -> None:
        c, rng = self.cfg["city"], self.rng
        ref = c["institutions_reference"]
        real_load = c["reference_population"] / (ref["hospital"] + ref["primary"] + ref["pharmacy"])
        f = min(1.0, self.N / self.n_inst / real_load)
        full = np.array([c["physicians_full"][k] for k in self.i_key], float)
        floor = np.array([c["physicians_floor"][k] for k in self.i_key], float)
        cnt = np.maximum(floor, np.round(full * f * rng.uniform(0.7, 1.3, self.n_inst))).astype(np.int64)
        inst = np.repeat(np.arange(self.n_inst), cnt)
        rank = np.arange(len(inst)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        kind = self.i_kind[inst]
        spec = np.empty(len(inst), dtype=object)
        for k, kname in enumerate(KINDS):
            m = kind == k
            names = list(SPECIALTIES[kname])
            w = np.array(list(SPECIALTIES[kname].values()), float)
            s = rng.choice(len(names), size=m.sum(), p=w / w.sum())
            r = rank[m]
            s = np.where(r < len(names), r % len(names), s)  # the first physicians cover every department
            spec[m] = np.array(names, dtype=object)[s]
        self.specialties = sorted(set(spec))
        self.spec_index = {s: i for i, s in enumerate(self.specialties)}
        self.d_inst = inst
        self.d_spec = np.array([self.spec_index[s] for s in spec], dtype=np.int64)
        self.d_specname = spec
        self.n_phys = len(inst)
        # famous physicians: a few at the biggest hospitals, with enormous patient lists (confounder)
        fcfg = self.cfg["confounders"]["famous_physicians"]
        weight = rng.lognormal(0, 0.4, self.n_phys)
        big = np.flatnonzero(self.i_level == 3)
        famous = []
        for h in big:  # loop per hospital, not per visit
            cand = np.flatnonzero((inst == h) & np.isin(spec, ["呼吸内科", "消化内科", "骨科"]))
            if len(cand):
                famous.extend(rng.choice(cand, size=min(len(cand), int(fcfg["per_big_hospital"])), replace=False))
        self.famous = np.array(sorted(famous), dtype=np.int64)
        weight[self.famous] *= float(fcfg["weight"])
        self.d_weight = weight
        self.truth.confounders["famous_physicians"] = len(self.famous)
        dist = self.i_dist[inst]
        seq = pd.Series(dist).groupby(dist).cumcount().to_numpy() + 1
        pfx = np.where(kind == 3, "Y", "D")
        self.d_id = np.array([f"{p}{self.dcode[d]}{s:06d}" for p, d, s in zip(pfx, dist, seq)], dtype=object)
        sex = rng.random(self.n_phys) < 0.5
        self.d_name = self._names(sex, rng.integers(0, len(SURNAMES), self.n_phys) % len(SURNAMES))


    def _given(self, male: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Draws of a male and a female given name per person (the sex picks one at formatting)."""
        rng = self.rng
        return (rng.integers(0, len(GIVEN_M), len(male)).astype(np.int16),
                rng.integers(0, len(GIVEN_F), len(male)).astype(np.int16))

    @staticmethod
    def _format_names(male: np.ndarray, surname_idx: np.ndarray, gm_i: np.ndarray, gf_i: np.ndarray) -> np.ndarray:
        sn = np.array(SURNAMES, dtype=object)[surname_idx]
        given = np.where(male, np.array(GIVEN_M, dtype=object)[gm_i], np.array(GIVEN_F, dtype=object)[gf_i])
        return (pd.Series(sn, dtype=object) + pd.Series(given, dtype=object)).to_numpy(object)

    def _names(self, male: np.ndarray, surname_idx: np.ndarray) -> np.ndarray:
        return self._format_names(male, surname_idx, *self._given(male))

    def person_names(self, idx: np.ndarray) -> np.ndarray:
        return self._format_names(self.p_male[idx], self.surname[idx], self.p_given[0][idx], self.p_given[1][idx])

    def surname_draw(self, n: int) -> np.ndarray:
        w = 1.0 / (np.arange(len(SURNAMES)) + 3.0)
        return self.rng.choice(len(SURNAMES), size=n, p=w / w.sum())

    # ------------------------------------------------------------------ persons
    def persons(self) -> None:
        pc, rng, N = self.cfg["population"], self.rng, self.N
        pyr = np.array(pc["age_pyramid"], float)
        band = rng.choice(len(pyr), size=N, p=pyr / pyr.sum())
        width = np.where(band == len(pyr) - 1, 10.0, 5.0)
        age = band * 5 + rng.random(N) * width
        self.p_birth = -np.round(age * 365.2425).astype(np.int64) - 1   # day offset from 1 Jan
        self.p_age0 = np.floor(age).astype(np.int64)
        self.p_male = rng.random(N) < pc["male_share"]
        dc = self.cfg["city"]["districts"]
        dpop = np.array([dc[d]["population"] for d in self.districts], float)
        self.p_dist = rng.choice(len(dpop), size=N, p=dpop / dpop.sum())
        emp = pc["employee_share"]
        p_emp = np.where(self.p_age0 < 18, 0.0, np.where(self.p_age0 < 60, emp["adult"], emp["elderly"]))
        self.p_employee = rng.random(N) < p_emp
        # registered chronic conditions, correlated through a shared frailty term
        ch = self.cfg["chronic"]
        frail = rng.normal(0, ch["frailty_sd"], N)
        self.cond_names = list(ch["prevalence"])
        conds = np.zeros((N, len(self.cond_names)), dtype=bool)
        for j, code in enumerate(self.cond_names):
            p = _step(ch["prevalence"][code], self.p_age0)
            logit = np.log(np.clip(p, 1e-9, 1) / np.clip(1 - p, 1e-9, 1)) + frail - ch["frailty_sd"] ** 2 / 2
            conds[:, j] = (p > 0) & (rng.random(N) < 1 / (1 + np.exp(-logit)))
        self.p_conds = conds
        bits = conds.astype(np.int64) @ (1 << np.arange(len(self.cond_names)))
        self.p_condset = bits
        # deaths during the year
        mort = _step(pc["mortality"], self.p_age0) * (1 + 0.5 * conds.sum(1))
        dies = rng.random(N) < mort
        self.p_death = np.where(dies, rng.integers(0, self.ndays, N), -1)
        self.surname = self.surname_draw(N)

    # ------------------------------------------------------------------ families
    def families(self) -> None:
        rng, pc = self.rng, self.cfg["population"]
        N, age, dist = self.N, self.p_age0, self.p_dist
        idx = np.arange(N)
        # spouses: adults sorted by (district, age) within each sex, paired rank by rank
        elig = (age >= 22) & (age <= 88) & (rng.random(N) < pc["married_share"])
        men = pd.DataFrame({"p": idx[elig & self.p_male], "d": dist[elig & self.p_male]})
        men["k"] = age[men.p] - 2 + rng.normal(0, 2.5, len(men))
        wom = pd.DataFrame({"p": idx[elig & ~self.p_male], "d": dist[elig & ~self.p_male]})
        wom["k"] = age[wom.p] + rng.normal(0, 2.5, len(wom))
        for f in (men, wom):
            f.sort_values(["d", "k"], inplace=True, kind="stable")
            f["r"] = f.groupby("d").cumcount()
        couples = men.merge(wom, on=["d", "r"], suffixes=("_h", "_w"))
        h, w = couples.p_h.to_numpy(), couples.p_w.to_numpy()
        spouse = np.full(N, -1, dtype=np.int64)
        spouse[h], spouse[w] = w, h
        # children: matched to a couple whose wife is 22-36 years older, same district
        child_p = np.where(age < 18, pc["child_link_share"], pc["adult_child_link_share"])
        kids = idx[(age <= 62) & (rng.random(N) < child_p)]
        kf = pd.DataFrame({"c": kids, "d": dist[kids],
                           "t": (age[kids] + rng.uniform(23, 35, len(kids))).astype(float)})
        cf = pd.DataFrame({"h": h, "w": w, "d": dist[w], "t": age[w] + rng.random(len(w))})
        kf = kf.sort_values("t", kind="stable")
        cf = cf.sort_values("t", kind="stable")
        m = pd.merge_asof(kf, cf, on="t", by="d", direction="nearest", tolerance=4.0).dropna(subset=["h"])
        m = m.astype({"h": np.int64, "w": np.int64})
        m["n"] = m.groupby("w").cumcount()
        m = m[m.n < 3]
        c_, fa, mo = m.c.to_numpy(), m.h.to_numpy(), m.w.to_numpy()
        self.surname[c_] = self.surname[fa]
        self.p_father = np.full(N, -1, dtype=np.int64)
        self.p_mother = np.full(N, -1, dtype=np.int64)
        self.p_father[c_], self.p_mother[c_] = fa, mo
        self.p_spouse = spouse
        links = [pd.DataFrame({"a": h, "b": w, "rel": "spouse"}),
                 pd.DataFrame({"a": fa, "b": c_, "rel": "child"}),
                 pd.DataFrame({"a": mo, "b": c_, "rel": "child"})]
        # a child who can help an elderly parent (for proxies and caregivers)
        helper = np.full(N, -1, dtype=np.int64)
        adult_kids = c_[age[c_] >= 25]
        helper[self.p_mother[adult_kids]] = adult_kids
        helper[self.p_father[adult_kids]] = adult_kids
        old = idx[age >= 70]
        need = old[helper[old] < 0]
        if len(need):  # a neighbour or hired carer from the same district (not a registered relative)
            pool = idx[(age >= 30) & (age <= 65)]
            pd_ = dist[pool]
            helper[need] = _pick_in_groups(pd_, np.ones(len(pool)), dist[need], rng)
            helper[need] = np.where(helper[need] >= 0, pool[np.clip(helper[need], 0, None)], -1)
        self.p_helper = helper
        conf = self.cfg["confounders"]
        cand_el = idx[(age >= 75) & (helper >= 0)]
        k_el = max(min(2, len(cand_el)), int(rng.binomial(len(cand_el), conf["registered_proxy"])))
        el = np.sort(rng.choice(cand_el, size=k_el, replace=False))
        self.p_proxy = np.full(N, -1, dtype=np.int64)
        self.p_proxy[el] = helper[el]
        links.insert(0, pd.DataFrame({"a": el, "b": helper[el], "rel": "proxy"}))  # wins over "child"
        fl = pd.concat(links, ignore_index=True)
        fl = fl[fl.a != fl.b].drop_duplicates(["a", "b"])
        self.family = fl
        self.truth.confounders["registered_proxies"] = len(el)
        # an employee relative whose personal account a dependant may use (家庭共济)
        payer = np.full(N, -1, dtype=np.int64)
        for rel in (self.p_spouse, self.p_mother, self.p_father):
            ok = (payer < 0) & (rel >= 0) & self.p_employee[np.clip(rel, 0, None)]
            payer[ok] = rel[ok]
        kids_of = pd.DataFrame({"parent": np.concatenate([fa, mo]), "kid": np.concatenate([c_, c_])})
        kids_of = kids_of[self.p_employee[kids_of.kid.to_numpy()]].drop_duplicates("parent")
        par = kids_of.parent.to_numpy()
        ok = payer[par] < 0
        payer[par[ok]] = kids_of.kid.to_numpy()[ok]
        self.p_fampayer = payer
        # working adult children register their parents on their account too (relation "parent")
        grown = (age[c_] >= 18) & self.p_employee[c_]
        up = pd.DataFrame({"a": np.concatenate([c_[grown], c_[grown]]),
                           "b": np.concatenate([fa[grown], mo[grown]]), "rel": "parent"})
        self.family = pd.concat([self.family, up], ignore_index=True).drop_duplicates(["a", "b"])
        self.p_given = self._given(self.p_male)      # given-name draws; names are written per shard

    # ------------------------------------------------------------------ usual places of care
    def homes(self) -> None:
        N = self.N
        prim = np.flatnonzero((self.i_kind == 1) | (self.i_kind == 2))
        phar = np.flatnonzero(self.i_kind == 3)
        hosp = np.flatnonzero(self.i_kind == 0)
        self.home_primary = self.pick_inst(prim, self.p_dist, local=0.9)
        self.home_pharmacy = self.pick_inst(phar, self.p_dist, local=0.9)
        self.home_hospital = self.pick_inst(hosp, self.p_dist, local=0.5)
        self.home_doctor = self.pick_phys(self.home_primary, np.full(N, -1))

    def pick_inst(self, allowed: np.ndarray, dist: np.ndarray, local: float) -> np.ndarray:
        """An institution among ``allowed`` per query: in ``dist`` with prob ``local``, else anywhere."""
        rng = self.rng
        n = len(dist)
        w = self.i_weight[allowed]
        loc = _pick_in_groups(self.i_dist[allowed], w, dist, rng)
        anywhere = _pick_in_groups(np.zeros(len(allowed), np.int64), w, np.zeros(n, np.int64), rng)
        use_local = (rng.random(n) < local) & (loc >= 0)
        return allowed[np.where(use_local, loc, anywhere)]

    def pick_phys(self, inst: np.ndarray, spec: np.ndarray) -> np.ndarray:
        """A physician at ``inst`` with specialty ``spec`` (index, -1 = any), weighted by popularity."""
        S = len(self.specialties) + 1
        key_items = self.d_inst * S + self.d_spec
        q = inst * S + np.where(spec >= 0, spec, 0)
        d = _pick_in_groups(key_items, self.d_weight, q, self.rng)
        anyd = _pick_in_groups(self.d_inst, self.d_weight, inst, self.rng)
        return np.where((spec >= 0) & (d >= 0), d, anyd)

    # ------------------------------------------------------------------ faces
    def faces_identity(self) -> None:
        fc, rng, N = self.cfg["faces"], self.rng, self.N
        self.face_mean = rng.normal(0, 0.05, 128).astype(np.float32)
        ident = rng.normal(0, fc["identity_sd"], (N, 128)).astype(np.float32)
        # look-alike relatives: a child's identity correlated with a parent's
        par = np.where(self.p_father >= 0, self.p_father, self.p_mother)
        kids = np.flatnonzero((par >= 0) & (rng.random(N) < self.cfg["confounders"]["lookalike_relatives"]))
        r = runif(rng, fc["relative_correlation"], len(kids)).astype(np.float32)[:, None]
        ident[kids] = r * ident[par[kids]] + np.sqrt(1 - r ** 2) * ident[kids]
        self.ident = ident
        self.truth.confounders["lookalike_relatives"] = len(kids)
        self.lookalike = np.stack([kids, par[kids]], 1) if len(kids) else np.zeros((0, 2), np.int64)
        pe = self.cfg["population"]["face_enrollment"]
        self.p_enrolled = rng.random(N) < np.where(self.p_age0 >= 18, pe["adult"], pe["child"])

    def faces_plan(self) -> None:
        """Faces of a sharded city: identities are a function of the person's index
        (:func:`~ringscope.synth.primitives.hash_normal`), not a 4-million-row array."""
        fc, rng, N = self.cfg["faces"], self.rng, self.N
        self.face_mean = rng.normal(0, 0.05, 128).astype(np.float32)
        self.ident_salt = int(rng.integers(0, 2 ** 62))
        par = np.where(self.p_father >= 0, self.p_father, self.p_mother)
        kids = np.flatnonzero((par >= 0) & (rng.random(N) < self.cfg["confounders"]["lookalike_relatives"]))
        self.look_par = np.full(N, -1, dtype=np.int64)
        self.look_par[kids] = par[kids]
        self.look_r = np.zeros(N, dtype=np.float32)
        self.look_r[kids] = runif(rng, fc["relative_correlation"], len(kids)).astype(np.float32)
        self.truth.confounders["lookalike_relatives"] = len(kids)
        self.lookalike = np.stack([kids, par[kids]], 1) if len(kids) else np.zeros((0, 2), np.int64)
        pe = self.cfg["population"]["face_enrollment"]
        self.p_enrolled = rng.random(N) < np.where(self.p_age0 >= 18, pe["adult"], pe["child"])

    def identity(self, idx: np.ndarray) -> np.ndarray:
        """Identity vectors (without the common mean) of persons ``idx``."""
        idx = np.asarray(idx, dtype=np.int64)
        if self.ident is not None:
            return self.ident[idx]
        uniq, inv = np.unique(idx, return_inverse=True)
        sd = np.float32(self.cfg["faces"]["identity_sd"])
        base = hash_normal(uniq, self.ident_salt) * sd
        par = self.look_par[uniq]
        lk = par >= 0
        if lk.any():
            r = self.look_r[uniq[lk]][:, None]
            base[lk] = r * hash_normal(par[lk], self.ident_salt) * sd + np.sqrt(1 - r ** 2) * base[lk]
        return base[inv]

    # ------------------------------------------------------------------ line helpers
    def drug_qty(self, items: np.ndarray, target_days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Quantity (units) and days of supply for ``items`` covering about ``target_days``."""
        dpu = self.cat_dpu[items]
        isd = ~np.isnan(dpu)
        dpu1 = np.where(isd, dpu, 1.0)
        maxq = np.where(np.isnan(self.cat_maxqty[items]), 99.0, self.cat_maxqty[items])
        maxd = np.where(np.isnan(self.cat_maxdays[items]), 9999.0, self.cat_maxdays[items])
        q = np.clip(np.ceil(target_days / dpu1), 1, np.maximum(1, np.minimum(maxq, np.floor(maxd / dpu1))))
        q = np.where(isd, q, 1.0)
        days = np.where(isd, np.minimum(q * dpu1, maxd), -1).astype(np.int64)
        return q, days

    def pool_lines(self, vi: np.ndarray, pool: str, k: np.ndarray, t: np.ndarray,
                   target_days: np.ndarray | float = 5.0) -> dict[str, np.ndarray]:
        """``k[i]`` random items of ``pool`` for visit ``vi[i]`` (duplicates removed later)."""
        items = self.pool(pool)
        k = np.asarray(k) if len(items) else np.zeros(len(vi), np.int64)
        rv = np.repeat(np.arange(len(vi)), k)
        it = items[self.rng.integers(0, max(len(items), 1), len(rv))] if len(items) else np.zeros(0, np.int64)
        td = np.broadcast_to(np.asarray(target_days, float), (len(vi),))[rv]
        q, days = self.drug_qty(it, td)
        return lchunk(len(rv), vi=vi[rv], item=it, qty=q, days=days, time=t[rv])

    def fixed_lines(self, vi: np.ndarray, item: int | np.ndarray, qty: np.ndarray | float,
                    t: np.ndarray) -> dict[str, np.ndarray]:
        n = len(vi)
        return lchunk(n, vi=vi, item=np.broadcast_to(np.asarray(item), (n,)), qty=qty, days=-1, time=t)

    def consult_item(self, inst: np.ndarray) -> np.ndarray:
        codes = np.array([self.code_index[CONSULT[k]] if k in CONSULT else -1 for k in self.i_key])
        return codes[inst]

    def presenter_for(self, person: np.ndarray, vtype: int) -> np.ndarray:
        """Whose face the settlement terminal sees: usually the card holder, a parent for young
        children, a relative or carer for some elderly pharmacy purchases (confounders)."""
        rng = self.rng
        pres = person.copy()
        age = self.p_age0[person]
        par = np.where(self.p_mother[person] >= 0, self.p_mother[person], self.p_father[person])
        kid = (age < 12) & (par >= 0) & (rng.random(len(person)) < 0.8)
        pres[kid] = par[kid]
        if vtype == PH:
            helper = self.p_helper[person]
            proxy = self.p_proxy[person]
            use_proxy = (proxy >= 0) & (rng.random(len(person)) < 0.7)
            carer = (age >= 70) & (helper >= 0) & (rng.random(len(person)) < self.cfg["confounders"]["caregiver"])
            pres[carer] = helper[carer]
            pres[use_proxy] = proxy[use_proxy]
        return pres

    def chronic_code(self, name: str) -> str:
        return {"I10": "I10", "E11": "E11.9", "J44": "J44.9", "I25": "I25.1", "N18": "N18.9",
                "I63": "I63.9", "F20": "F20.9"}.get(name, name)

    # ------------------------------------------------------------------ chronic refills (门慢)
    def chronic_care(self, idx: np.ndarray | None = None) -> None:
        rng, ch = self.rng, self.cfg["chronic"]
        P, J = np.nonzero(self.p_conds if idx is None else self.p_conds[idx])
        if idx is not None:
            P = idx[P]
        if len(P) == 0:
            return
        # regimen: 1-2 drugs per condition, fixed for the year
        nd = 1 + (rng.random(len(P)) < 0.5)
        rp, rj = np.repeat(P, nd), np.repeat(J, nd)
        items = np.full(len(rp), -1, dtype=np.int64)
        for j, name in enumerate(self.cond_names):
            pool = self.pool(f"c:{name}")
            m = rj == j
            if len(pool):
                items[m] = pool[rng.integers(0, len(pool), m.sum())]
        reg = pd.DataFrame({"p": rp, "item": items})
        reg = reg[reg.item >= 0].drop_duplicates().sort_values("p", kind="stable")
        people = np.unique(P)
        adher = runif(rng, ch["adherence"], len(people))
        at_pharm = rng.random(len(people)) < ch["pharmacy_refill_share"]
        pref_day = rng.integers(0, 28, len(people))
        long_rx = rng.random(len(people)) < 0.2           # 长处方: two or three months at once
        pp = np.repeat(np.arange(len(people)), 12)
        month = np.tile(np.arange(12), len(people))
        keep = rng.random(len(pp)) < np.where(long_rx[pp], adher[pp] / 2.5, adher[pp])
        pp, month = pp[keep], month[keep]
        mlen = self.month_start[month + 1] - self.month_start[month]
        day = self.month_start[month] + np.clip(pref_day[pp] + rng.integers(-3, 4, len(pp)), 0, mlen - 1)
        person = people[pp]
        ph = at_pharm[pp]
        t = day * DAY + np.where(ph, self.shop_seconds(len(pp)), self.clinic_seconds(len(pp)))
        ok = self.alive_mask(person, t)
        person, ph, t, pp, month = person[ok], ph[ok], t[ok], pp[ok], month[ok]
        n = len(person)
        inst = np.where(ph, self.home_pharmacy[person], self.home_primary[person])
        diag = np.array([self.diag_id(tuple(self.chronic_code(c) for i, c in enumerate(self.cond_names)
                                            if (b >> i) & 1)) for b in range(1 << len(self.cond_names))]
                        if len(self.cond_names) <= 10 else [0])
        vt = np.where(ph, PH, OUT).astype(np.int8)
        pres = np.where(ph, self.presenter_for(person, PH), self.presenter_for(person, OUT))
        v = vchunk(n, person=person, inst=inst, phys=self.home_doctor[person], vtype=vt, start=t,
                    end=t, diag=diag[self.p_condset[person]], presenter=pres, chronic=True)
        # lines: the person's whole regimen at each refill
        rp_ = reg.p.to_numpy()
        first = np.searchsorted(rp_, person, "left")
        cnt = np.searchsorted(rp_, person, "right") - first
        vi = np.repeat(np.arange(n), cnt)
        ridx = np.repeat(first, cnt) + (np.arange(len(vi)) - np.repeat(np.cumsum(cnt) - cnt, cnt))
        it = reg.item.to_numpy()[ridx]
        target = np.where(long_rx[pp][vi], 84.0, 30.0)
        q, days = self.drug_qty(it, target)
        parts = [lchunk(len(vi), vi=vi, item=it, qty=q, days=days, time=t[vi])]
        outp = np.flatnonzero(~ph)
        parts.append(self.fixed_lines(outp, self.consult_item(inst[outp]), 1.0, t[outp]))
        # quarterly follow-up tests at the community centre
        labv = outp[(month[outp] % 3 == 0) & (rng.random(len(outp)) < ch["quarterly_labs"])]
        cj = pd.DataFrame({"p": P, "j": J}).sort_values("p", kind="stable")
        cp = cj.p.to_numpy()
        f0 = np.searchsorted(cp, person[labv], "left")
        c0 = np.searchsorted(cp, person[labv], "right") - f0
        pick = f0 + (rng.random(len(labv)) * c0).astype(np.int64)
        jj = cj.j.to_numpy()[pick]
        for j, name in enumerate(self.cond_names):
            m = jj == j
            if m.any():
                parts.append(self.pool_lines(labv[m], f"lab:{name}", rng.integers(1, 3, m.sum()), t[labv[m]]))
        self.add(v, concat(parts, LCOLS))

    # ------------------------------------------------------------------ acute outpatient care
    def acute_groups_table(self) -> tuple[list[str], np.ndarray]:
        names = list(ACUTE_GROUPS)
        ages = np.arange(121)
        cum = np.zeros((2 * 121, len(names)))
        for s in (0, 1):  # 0 = F, 1 = M
            w = np.zeros((121, len(names)))
            for g, (codes, sex, a0, a1, base, *_r) in enumerate(ACUTE_GROUPS.values()):
                ok = (ages >= a0) & (ages <= a1) & (sex is None or sex == "MF"[s])
                mult = 1.0 + (np.clip(ages - 40, 0, None) / 30.0 if names[g] in ("msk", "oa") else 0.0)
                w[:, g] = np.where(ok, base * mult, 0.0)
            w /= w.sum(1, keepdims=True)
            cum[s * 121:(s + 1) * 121] = np.cumsum(w, 1)
        return names, cum

    def acute_visits(self, person: np.ndarray, group: np.ndarray, day: np.ndarray,
                     inst: np.ndarray | None = None, label: Any = None) -> None:
        """Outpatient visits of ``person`` for acute group index ``group`` on ``day``."""
        rng = self.rng
        names = list(ACUTE_GROUPS)
        n = len(person)
        if n == 0:
            return
        t = day * DAY + self.clinic_seconds(n)
        age = self.p_age0[person]
        hosp_only = np.array([g[9] for g in ACUTE_GROUPS.values()])[group]
        hc = self.cfg["care"]["hospital_share"]
        hshare = np.where(age < 15, hc["child"], np.where(age < 60, hc["adult"], hc["elderly"]))
        to_h = hosp_only | (rng.random(n) < hshare)
        loyal = rng.random(n) < self.cfg["care"]["home_institution_loyalty"]
        local = self.cfg["care"]["local_share"]
        hosp = np.flatnonzero(self.i_kind == 0)
        prim = np.flatnonzero((self.i_kind == 1) | (self.i_kind == 2))
        rand_h = self.pick_inst(hosp, self.p_dist[person], local * 0.6)
        rand_p = self.pick_inst(prim, self.p_dist[person], local)
        chosen = inst is None
        if inst is None:
            inst = np.where(to_h, np.where(loyal, self.home_hospital[person], rand_h),
                            np.where(loyal, self.home_primary[person], rand_p))
        # department by diagnosis
        spec = np.full(n, -1, dtype=np.int64)
        for g, name in enumerate(names):
            m = group == g
            if m.any():
                sp = [self.spec_index.get(s, -1) for s in ACUTE_GROUPS[name][6]]
                spec[m] = np.array(sp)[rng.integers(0, len(sp), m.sum())]
        phys = self.pick_phys(inst, spec)
        # famous physicians draw patients from the whole city (confounder: huge patient lists)
        share = float(self.cfg["confounders"]["famous_physicians"].get("share", 0.0))
        if len(self.famous) and share > 0 and chosen:
            fspec = self.d_spec[self.famous]
            for g, name in enumerate(names):  # loop per diagnosis group
                ok = self.famous[np.isin(fspec, [self.spec_index.get(x, -1) for x in ACUTE_GROUPS[name][6]])]
                m = np.flatnonzero((group == g) & to_h & (rng.random(n) < share))
                if len(ok) and len(m):
                    phys[m] = ok[rng.integers(0, len(ok), len(m))]
                    inst[m] = self.d_inst[phys[m]]
        diag = np.zeros(n, dtype=np.int64)
        for g, name in enumerate(names):
            m = group == g
            if m.any():
                ids = np.array([self.diag_id((c,)) for c in ACUTE_GROUPS[name][0]])
                diag[m] = ids[rng.integers(0, len(ids), m.sum())]
        v = vchunk(n, person=person, inst=inst, phys=phys, vtype=OUT, start=t, end=t, diag=diag,
                    presenter=self.presenter_for(person, OUT), label=label)
        vi = np.arange(n)
        parts = [self.fixed_lines(vi, self.consult_item(inst), 1.0, t)]
        target = rng.integers(3, 8, n).astype(float)
        for g, name in enumerate(names):
            m = np.flatnonzero(group == g)
            if not len(m):
                continue
            dr, sv = ACUTE_GROUPS[name][7], ACUTE_GROUPS[name][8]
            parts.append(self.pool_lines(m, f"a:{name}", rint(rng, dr, len(m)), t[m], target[m]))
            parts.append(self.pool_lines(m, f"s:{name}", rint(rng, sv, len(m)), t[m]))
            h = m[to_h[m]]   # hospital outpatients get more tests and imaging
            parts.append(self.pool_lines(h, "hs", rng.integers(0, 3, len(h)), t[h]))
        self.add(v, concat(parts, LCOLS))
        if not self.legacy and label is None:
            with self.using(self.volume_rng), self.extra_chunks():
                self.followups(v, group)

    def followups(self, v: dict[str, np.ndarray], group: np.ndarray) -> None:
        """Return visits (复诊) after acute episodes: same institution and physician a few days later,
        a consultation with a drug or a test at most (realistic volume only)."""
        rng, vc = self.rng, self.cfg["volume"]
        n = len(v["person"])
        k = rng.poisson(float(vc["followup_rate"]), n)
        rv = np.repeat(np.arange(n), k)
        if not len(rv):
            return
        j = np.arange(len(rv)) - np.repeat(np.cumsum(k) - k, k)          # 0 for the first return
        gap = rint(rng, vc["followup_days"], len(rv)) * (j + 1)
        day = v["start"][rv] // DAY + gap
        person = v["person"][rv]
        m = len(rv)
        t = day * DAY + self.clinic_seconds(m)
        ok = (day < self.ndays) & self.alive_mask(person, t)
        rv, person, t, m = rv[ok], person[ok], t[ok], int(ok.sum())
        if not m:
            return
        inst = v["inst"][rv]
        names = list(ACUTE_GROUPS)
        fv = vchunk(m, person=person, inst=inst, phys=v["phys"][rv], vtype=OUT, start=t, end=t, diag=v["diag"][rv],
                    presenter=self.presenter_for(person, OUT))
        vi = np.arange(m)
        parts = [self.fixed_lines(vi, self.consult_item(inst), 1.0, t)]
        g = group[rv]
        drug = rng.random(m) < float(vc["followup_drug"])
        test = rng.random(m) < float(vc["followup_test"])
        for gi, name in enumerate(names):
            sel = np.flatnonzero((g == gi) & drug)
            parts.append(self.pool_lines(sel, f"a:{name}", np.ones(len(sel), np.int64), t[sel],
                                         rng.integers(3, 8, len(sel)).astype(float)))
            sel = np.flatnonzero((g == gi) & test)
            parts.append(self.pool_lines(sel, f"s:{name}", np.ones(len(sel), np.int64), t[sel]))
        self.add(fv, concat(parts, LCOLS))

    def acute_care(self, idx: np.ndarray | None = None, rate_factor: np.ndarray | None = None) -> None:
        rng = self.rng
        idx = self.persons_of(idx)
        rate = _step(self.cfg["care"]["acute_rate"], self.p_age0[idx])
        if rate_factor is not None:
            rate = rate * rate_factor
        k = rng.poisson(rate)
        person = np.repeat(idx, k)
        names, cum = self.acute_groups_table()
        cell = self.p_male[person].astype(np.int64) * 121 + np.clip(self.p_age0[person], 0, 120)
        group = _choice_rows(rng, cum, cell)
        day = np.zeros(len(person), dtype=np.int64)
        for prof in ("resp", "flu", "gi", "summer", "flat"):
            m = np.array([ACUTE_GROUPS[nm][5] == prof for nm in names])[group]
            day[m] = self.sample_days(int(m.sum()), prof, weekend=0.55)
        ok = self.alive_mask(person, day * DAY)
        self.acute_visits(person[ok], group[ok], day[ok])

    def outbreak_plan(self) -> None:
        """Where and when the outbreak strikes (drawn once for the whole city)."""
        oc = self.cfg["confounders"]["outbreak"]
        if not oc.get("enabled", True):
            self.outbreak_at = None
            self.truth.confounders["outbreak_visits"] = 0
            return
        rng = self.rng
        dpop = np.bincount(self.p_dist, minlength=len(self.districts)).astype(float)
        d = int(rng.choice(len(self.districts), p=dpop / dpop.sum()))
        prim = np.flatnonzero(((self.i_kind == 1) | (self.i_kind == 2)) & (self.i_dist == d))
        if len(prim) == 0:
            prim = np.flatnonzero((self.i_kind == 1) | (self.i_kind == 2))
        sites = rng.choice(prim, size=min(len(prim), int(rint(rng, oc["clinics"]))), replace=False)
        start = int(rng.choice([rng.integers(0, 40), rng.integers(320, self.ndays - oc["days"])]))
        self.outbreak_at = (d, sites, start)
        self.outbreak_sites = sites
        self.outbreak_info = {"district": str(self.districts[d]), "start_day": start, "sites": len(sites)}
        self.truth.confounders["outbreak_visits"] = 0

    def outbreak(self, idx: np.ndarray | None = None) -> None:
        """An influenza-like outbreak sends one district to the same few clinics for weeks."""
        if not hasattr(self, "outbreak_at"):
            self.outbreak_plan()
        if self.outbreak_at is None:
            return
        d, sites, start = self.outbreak_at
        oc = self.cfg["confounders"]["outbreak"]
        rng = self.rng
        live = np.flatnonzero(self.p_dist == d) if idx is None else idx[self.p_dist[idx] == d]
        k_res = max(min(10, len(live)), int(rng.binomial(len(live), oc["attack_rate"])))
        res = np.sort(rng.choice(live, size=k_res, replace=False))
        day = start + rng.integers(0, int(oc["days"]), len(res))
        res, day = res[self.alive_mask(res, day * DAY)], day[self.alive_mask(res, day * DAY)]
        names = list(ACUTE_GROUPS)
        group = np.where(self.p_age0[res] <= 12, names.index("flu_k"), names.index("flu"))
        self.acute_visits(res, group, day, inst=sites[rng.integers(0, len(sites), len(res))])
        self.truth.count("outbreak_visits", len(res))

    # ------------------------------------------------------------------ OTC purchases at pharmacies
    def otc_purchases(self, idx: np.ndarray | None = None, rate_factor: np.ndarray | None = None,
                      items: tuple[int, int] = (1, 4)) -> None:
        rng, oc = self.rng, self.cfg["care"]["otc_rate"]
        idx = self.persons_of(idx)
        adult = self.p_age0[idx] >= 18
        rate = np.where(self.p_employee[idx], oc["employee"], oc["resident"]) * adult
        if rate_factor is not None:
            rate = rate * rate_factor
        k = rng.poisson(rate)
        person = np.repeat(idx, k)
        day = self.sample_days(len(person), "resp", weekend=1.1)
        t = day * DAY + self.shop_seconds(len(person))
        ok = self.alive_mask(person, t)
        person, t = person[ok], t[ok]
        n = len(person)
        loyal = rng.random(n) < 0.7
        phar = np.flatnonzero(self.i_kind == 3)
        inst = np.where(loyal, self.home_pharmacy[person], self.pick_inst(phar, self.p_dist[person], 0.8))
        v = vchunk(n, person=person, inst=inst, vtype=PH, start=t, end=t,
                    presenter=self.presenter_for(person, PH))
        lines = self.pool_lines(np.arange(n), "otc", rng.integers(items[0], items[1], n), t,
                                rng.integers(3, 10, n).astype(float))
        self.add(v, lines)

    # ------------------------------------------------------------------ realistic volume
    def volume_plan(self) -> None:
        """Each person's propensity to use care (gamma, mean 1): many persons use little, a few a lot.
        Drawn on a stream of its own, for the whole city at once."""
        if self.legacy:
            self.propensity = None
            return
        k = float(self.cfg["volume"]["utilisation_shape"])
        self.propensity = self.stream("volume-propensity").gamma(k, 1.0 / k, self.N).astype(np.float32)

    def extra_volume(self, idx: np.ndarray | None = None) -> None:
        """The realistic volume on top of the original model: more acute episodes and pharmacy
        purchases in proportion to the person's propensity (and their return visits)."""
        vc = self.cfg["volume"]
        idx = self.persons_of(idx)
        u = self.propensity[idx].astype(float)
        with self.extra_chunks():
            self._extra_volume(idx, u, vc)

    def _extra_volume(self, idx: np.ndarray, u: np.ndarray, vc: dict) -> None:
        self.acute_care(idx, rate_factor=np.maximum(0.0, float(vc["acute_factor"]) * u - 1.0))
        self.otc_purchases(idx, rate_factor=np.maximum(0.0, float(vc["otc_factor"]) * u - 1.0), items=(1, 3))
        self.chronic_checkups(idx)

    def chronic_checkups(self, idx: np.ndarray) -> None:
        """Registered chronic patients also see their family doctor between refills (BP, glucose)."""
        rng, vc = self.rng, self.cfg["volume"]
        has = self.p_condset[idx] > 0
        person = idx[has]
        k = rng.poisson(float(vc["chronic_checkups"]) * self.propensity[person].astype(float))
        person = np.repeat(person, k)
        n = len(person)
        if not n:
            return
        day = rng.integers(0, self.ndays, n)
        t = day * DAY + self.clinic_seconds(n)
        ok = self.alive_mask(person, t)
        person, t = person[ok], t[ok]
        n = len(person)
        inst = self.home_primary[person]
        diag = np.array([self.diag_id(tuple(self.chronic_code(c) for i, c in enumerate(self.cond_names)
                                            if (b >> i) & 1)) for b in range(1 << len(self.cond_names))])
        v = vchunk(n, person=person, inst=inst, phys=self.home_doctor[person], vtype=OUT, start=t, end=t,
                   diag=diag[self.p_condset[person]], presenter=self.presenter_for(person, OUT))
        vi = np.arange(n)
        parts = [self.fixed_lines(vi, self.consult_item(inst), 1.0, t)]
        lab = rng.random(n) < 0.3
        first = np.argmax(self.p_conds[person], axis=1)
        for j, name in enumerate(self.cond_names):
            sel = np.flatnonzero(lab & (first == j))
            parts.append(self.pool_lines(sel, f"lab:{name}", np.ones(len(sel), np.int64), t[sel]))
        self.add(v, concat(parts, LCOLS))

    # ------------------------------------------------------------------ inpatient stays
    def inpatient_visits(self, person: np.ndarray, gname: np.ndarray, admit_day: np.ndarray,
                         los: np.ndarray, inst: np.ndarray, phys: np.ndarray | None = None,
                         label: Any = None, ward: bool | np.ndarray = True,
                         presenter: np.ndarray | None = None, diag: np.ndarray | None = None,
                         physio: bool = False) -> None:
        rng = self.rng
        n = len(person)
        if n == 0:
            return
        start = admit_day * DAY + rng.integers(8 * 3600, 17 * 3600, n)
        end = (admit_day + los) * DAY + rng.integers(9 * 3600, 11 * 3600 + 1800, n)
        if phys is None:
            spec = np.array([self.spec_index.get(INPATIENT_GROUPS[g][7][0], -1) for g in gname])
            phys = self.pick_phys(inst, spec)
        if diag is None:
            diag = np.array([self.diag_id((INPATIENT_GROUPS[g][0][0],)) for g in gname])
        if presenter is None:
            fam = np.where(self.p_spouse[person] >= 0, self.p_spouse[person], self.p_helper[person])
            presenter = np.where((fam >= 0) & (rng.random(n) < 0.4), fam, person)
        v = vchunk(n, person=person, inst=inst, phys=phys, vtype=IP, start=start, end=end, diag=diag,
                    presenter=presenter, ward=ward, label=label)
        vi = np.arange(n)
        span = np.maximum(end - start, 1)
        parts = []
        for code in ("001102000010000", "001103000010000", "001104000010000"):
            parts.append(self.fixed_lines(vi, self.code_index[code], los.astype(float), start))
        per_day = {"003106000040000": 24.0, "003106000050000": 12.0, "003106000060000": 4.0,
                   "003106000070000": 2.0}
        for g in np.unique(gname):
            m = np.flatnonzero(gname == g)
            tt = start[m] + (rng.random(len(m)) * span[m]).astype(np.int64)
            dl = self.pool_lines(m, f"ip:{g}", rng.integers(3, 8, len(m)), tt)
            dl["qty"] = np.ceil(los[dl["vi"]] * rng.uniform(1.0, 2.5, len(dl["vi"])))
            dl["days"][:] = -1
            parts.append(dl)
            parts.append(self.pool_lines(m, f"ips:{g}", rng.integers(2, 6, len(m)), tt))
            pdl = self.pool_lines(m, f"perday:{g}", rng.integers(1, 4, len(m)), tt)
            rate_ = np.array([per_day.get(self.cat_code[i], 1.0) for i in range(len(self.cat_code))])
            pdl["qty"] = np.ceil(los[pdl["vi"]] * rate_[pdl["item"]] * rng.uniform(0.5, 1.0, len(pdl["vi"])))
            parts.append(pdl)
            surg = self.pool(f"surg:{g}")
            if len(surg):
                rv = np.repeat(m, len(surg))
                parts.append(self.fixed_lines(rv, np.tile(surg, len(m)), 1.0, start[rv] + DAY))
            if physio:
                pl = self.pool_lines(m, f"physio:{g}", rng.integers(2, 4, len(m)), tt)
                pl["qty"] = np.maximum(1.0, los[pl["vi"]] - rng.integers(0, 3, len(pl["vi"])))
                pl["days"][:] = -1
                parts.append(pl)
        self.add(v, concat(parts, LCOLS))

    def inpatient_care(self, idx: np.ndarray | None = None) -> None:
        rng, cc = self.rng, self.cfg["care"]
        idx = self.persons_of(idx)
        p = _step(cc["admission_prob"], self.p_age0[idx])
        adm = idx[rng.random(len(idx)) < p]
        gn = np.array([g for g in INPATIENT_GROUPS if INPATIENT_GROUPS[g][4] != (0.0, 0.0, 0.0)], dtype=object)
        # group weights by age band and eligibility
        age = self.p_age0[adm]
        band = np.where(age < 15, 0, np.where(age < 60, 1, 2))
        w = np.zeros((len(adm), len(gn)))
        for j, g in enumerate(gn):
            codes, sex, a0, a1, bw, *_ = INPATIENT_GROUPS[g]
            ok = (age >= a0) & (age <= a1)
            if sex is not None:
                ok &= (self.p_male[adm] == (sex == "M"))
            w[:, j] = np.where(ok, np.array(bw)[band], 0.0)
        w[w.sum(1) == 0, 0] = 1.0
        cum = np.cumsum(w / w.sum(1, keepdims=True), 1)
        gi = (rng.random(len(adm))[:, None] > cum).sum(1)
        gname = gn[np.clip(gi, 0, len(gn) - 1)]
        # deliveries
        f = idx[~self.p_male[idx] & (self.p_age0[idx] >= 20) & (self.p_age0[idx] <= 39)
                & (rng.random(len(idx)) < cc["delivery_prob_f20_39"])]
        adm = np.concatenate([adm, f])
        gname = np.concatenate([gname, np.where(rng.random(len(f)) < 0.38, "O82", "O80").astype(object)])
        mean = np.array([INPATIENT_GROUPS[g][5] for g in gname])
        sd = np.array([INPATIENT_GROUPS[g][6] for g in gname])
        los = np.clip(np.round(rng.gamma((mean / sd) ** 2, sd ** 2 / mean)), 1, 60).astype(np.int64)
        day = rng.integers(0, self.ndays - 1, len(adm))
        ok = self.alive_mask(adm, (day + los) * DAY)
        adm, gname, los, day = adm[ok], gname[ok], los[ok], day[ok]
        los = np.minimum(los, self.ndays - 1 - day)
        keep = los >= 1
        adm, gname, los, day = adm[keep], gname[keep], los[keep], day[keep]
        hosp = np.flatnonzero(self.i_kind == 0)
        big = hosp[self.i_level[hosp] >= 2]
        surgical = np.isin(gname, ["H25", "K80", "I20", "S72", "C34", "O82"])
        inst = np.where(surgical & (rng.random(len(adm)) < 0.85),
                        self.pick_inst(big, self.p_dist[adm], 0.4),
                        np.where(rng.random(len(adm)) < 0.5, self.home_hospital[adm],
                                 self.pick_inst(hosp, self.p_dist[adm], 0.6)))
        self.inpatient_visits(adm, gname, day, los, inst)

    # ------------------------------------------------------------------ assembling visits and lines
    def assemble(self) -> None:
        V, L = self.take_chunks()
        self.V, self.L = self.assemble_block(V, L)

    def assemble_block(self, V: dict, L: dict) -> tuple[dict, dict]:
        """Visits in time order, lines by visit, a settlement terminal for every visit (current stream)."""
        order = np.lexsort((V["person"], V["start"]))
        V = {k: a[order] for k, a in V.items()}
        inv = np.empty_like(order)
        inv[order] = np.arange(len(order))
        L["vi"] = inv[L["vi"]]
        lo = np.argsort(L["vi"], kind="stable")
        L = {k: a[lo] for k, a in L.items()}
        nt = self.i_nterm[V["inst"]]
        V["terminal"] = np.where(V["terminal"] >= 0, V["terminal"], (self.rng.random(len(nt)) * nt).astype(np.int64))
        return V, L

    def line_age(self, L: dict, V: dict) -> np.ndarray:
        t = V["start"][L["vi"]] // DAY
        return np.floor((t - self.p_birth[V["person"][L["vi"]]]) / 365.2425)

    def rule_breaks(self, L: dict | None = None, V: dict | None = None) -> dict[str, np.ndarray]:
        """Which lines break the catalogue's line rules (same definitions as the violations)."""
        L = self.L if L is None else L
        V = self.V if V is None else V
        it = L["item"]
        person = V["person"][L["vi"]]
        sex = self.cat_sex[it]
        male = self.p_male[person]
        age = self.line_age(L, V)
        out = {
            "sex_limit": ((sex == "M") & ~male) | ((sex == "F") & male),
            "age_limit": (age < np.nan_to_num(self.cat_amin[it], nan=-1))
            | (age > np.nan_to_num(self.cat_amax[it], nan=999)),
            "over_quantity": L["qty"] > np.nan_to_num(self.cat_maxqty[it], nan=np.inf),
            "over_supply": (L["days"] >= 0) & (L["days"] > np.nan_to_num(self.cat_maxdays[it], nan=np.inf)),
            "non_medical": self.cat_type[it] == "non_medical",
        }
        price = L["price"]
        out["price_over_cap"] = ~np.isnan(price) & (price > self.cat_cap[it] + 1e-9)
        # indication (限定支付): checked once per distinct (diagnosis set, item) pair
        diag = V["diag"][L["vi"]]
        restricted = self.cat_has_ind[it]
        off = np.zeros(len(it), dtype=bool)
        if restricted.any():
            key = diag[restricted] * len(self.cat_code) + it[restricted]
            uk, inv = np.unique(key, return_inverse=True)
            bad = np.array([not any(c.startswith(p) for c in self.diag_tuples[k // len(self.cat_code)]
                                    for p in self.cat_prefixes[k % len(self.cat_code)]) for k in uk], dtype=bool)
            off[restricted] = bad[inv]
        out["off_indication"] = off
        return out

    def clean_lines(self) -> None:
        self.V, self.L = self.clean_block(self.V, self.L)

    def clean_block(self, V: dict, L: dict) -> tuple[dict, dict]:
        """Honest lines never break a rule: drop duplicates and lines the catalogue forbids."""
        key = L["vi"] * len(self.cat_code) + L["item"]
        _, first = np.unique(key, return_index=True)
        keep = np.zeros(len(key), dtype=bool)
        keep[first] = True
        L = {k: a[keep] for k, a in L.items()}
        br = self.rule_breaks(L, V)
        bad = br["sex_limit"] | br["age_limit"] | br["off_indication"] | br["non_medical"]
        L = {k: a[~bad] for k, a in L.items()}
        mq = np.nan_to_num(self.cat_maxqty[L["item"]], nan=np.inf)
        L["qty"] = np.minimum(L["qty"], mq)
        # drop visits left without any line
        has = np.bincount(L["vi"], minlength=len(V["person"])) > 0
        remap = np.cumsum(has) - 1
        V = {k: a[has] for k, a in V.items()}
        L["vi"] = remap[L["vi"]]
        return V, L

    def add_lines(self, l: dict[str, np.ndarray]) -> None:
        L = concat([self.L, l], LCOLS)
        lo = np.argsort(L["vi"], kind="stable")
        self.L = {k: a[lo] for k, a in L.items()}

    def add_visits(self, v: dict[str, np.ndarray], l: dict[str, np.ndarray]) -> None:
        off = len(self.V["person"])
        nt = self.i_nterm[v["inst"]]
        v["terminal"] = np.where(v["terminal"] >= 0, v["terminal"], (self.rng.random(len(nt)) * nt).astype(np.int64))
        self.V = concat([self.V, v], VCOLS)
        _, first = np.unique(l["vi"] * len(self.cat_code) + l["item"], return_index=True)
        l = {k: a[np.sort(first)] for k, a in l.items()}   # one line per item and visit
        l["vi"] = l["vi"] + off
        self.add_lines(l)

    def finalise_lines(self) -> None:
        self.V, self.L = self.finalise_block(self.V, self.L)

    def finalise_block(self, V: dict, L: dict) -> tuple[dict, dict]:
        """Visits in time order again (injected ones were appended), lines by (visit, item), prices."""
        order = np.lexsort((V["person"], V["start"]))
        V = {k: a[order] for k, a in V.items()}
        inv = np.empty_like(order)
        inv[order] = np.arange(len(order))
        L["vi"] = inv[L["vi"]]
        lo = np.lexsort((L["item"], L["vi"]))
        L = {k: a[lo] for k, a in L.items()}
        self.price_lines(V, L)
        return V, L

    def price_lines(self, V: dict, L: dict) -> None:
        cap = self.cat_cap[L["item"]]
        fac = self.i_price[V["inst"][L["vi"]]]
        L["price"] = np.where(np.isnan(L["price"]), np.round(cap * fac, 2), np.round(L["price"], 2))
        L["amount"] = np.round(L["qty"] * L["price"], 2)

    # ------------------------------------------------------------------ money
    def payments(self, V: dict | None = None, L: dict | None = None) -> None:
        """Who pays: the family-sharing draw (current stream), then the settlement (:meth:`settle`)."""
        V = self.V if V is None else V
        L = self.L if L is None else L
        n = len(V["person"])
        person, vt = V["person"], V["vtype"]
        emp = self.p_employee[person]
        fam = self.p_fampayer[person]
        share = (~emp) & (fam >= 0) & (vt != IP) & (self.rng.random(n) < self.cfg["confounders"]["family_sharing"])
        share &= self.alive_mask(np.clip(fam, 0, None), V["start"])
        V["payer"] = np.where(share, fam, -1).astype(np.int64)
        self.truth.count("family_sharing_visits", int(share.sum()))
        self.settle(V, L)

    def settle(self, V: dict, L: dict, vis: np.ndarray | None = None) -> None:
        """Total, fund and personal-account shares of visits ``vis`` (all when None) from their lines:
        fund share of reimbursable amounts by scheme, level and visit type; the rest from a personal
        account for employees (or a relative's, ``payer``)."""
        n = len(V["person"])
        total = np.round(np.bincount(L["vi"], weights=L["amount"], minlength=n), 2)
        elig = np.bincount(L["vi"], weights=L["amount"] * self.cat_reimb[L["item"]], minlength=n)
        sel = np.arange(n) if vis is None else np.asarray(vis, dtype=np.int64)
        total, elig = total[sel], elig[sel]
        person, inst, vt = V["person"][sel], V["inst"][sel], V["vtype"][sel]
        emp = self.p_employee[person]
        kind, level = self.i_kind[inst], self.i_level[inst]
        out_rate = np.where(emp, np.select([kind == 1, kind == 2, level == 1, level == 2], [0.7, 0.6, 0.6, 0.55], 0.5),
                            np.where(kind == 1, 0.6, 0.5))
        chronic_rate = np.where(emp, 0.8, 0.7)
        ded = np.select([level == 1, level == 2, level == 3], [300.0, 600.0, 900.0], 300.0)
        ip_rate = np.where(emp, np.select([level == 1, level == 2], [0.9, 0.87], 0.85),
                           np.select([level == 1, level == 2], [0.8, 0.7], 0.6))
        fund = np.select([vt == IP, V["chronic"][sel], vt == OUT],
                         [np.maximum(0.0, elig - ded) * ip_rate, elig * chronic_rate, elig * out_rate], 0.0)
        fund = np.minimum(np.round(fund, 2), total)
        rest = np.round(total - fund, 2)
        account = np.where(emp & (vt != IP), rest, 0.0)
        account = np.where(V["payer"][sel] >= 0, rest, account)
        if vis is None:
            V["total"], V["fund"], V["account"] = total, fund, np.round(account, 2)
        else:
            V["total"][sel], V["fund"][sel], V["account"][sel] = total, fund, np.round(account, 2)

    # ------------------------------------------------------------------ faces
    def capture_rates(self) -> tuple[float, float]:
        fc = self.cfg["faces"]
        if self.legacy:
            return float(fc["settlement_capture"]), float(fc["entrance_capture"])
        vc = self.cfg["volume"]
        return (float(fc["settlement_capture"]) * float(vc["settlement_capture_factor"]),
                float(fc["entrance_capture"]) * float(vc["entrance_capture_factor"]))

    def captures(self, V: dict, enrol: bool = False) -> dict[str, np.ndarray]:
        """Face captures of visits ``V`` at terminal institutions (current stream); ``enrol``: also the
        reference faces of the persons of this shard (or of everyone)."""
        rng = self.rng
        n = len(V["person"])
        term = self.i_terminal[V["inst"]]
        vt, start, end, pres = V["vtype"], V["start"], V["end"], V["presenter"]
        vi = np.arange(n)
        p_settle, p_entrance = self.capture_rates()
        # settlement (linked to the visit, claimed = the credential presented)
        m = term & V["capture"] & (pres >= 0) & (rng.random(n) < p_settle)
        ts = np.where(vt == IP, end, start + np.where(vt == OUT, rng.integers(300, 2400, n), rng.integers(20, 240, n)))
        parts = [dict(inst=V["inst"][m], loc=np.full(m.sum(), 1), t=ts[m], visit=vi[m], claimed=V["person"][m],
                      face=pres[m])]
        # entrance (no credential)
        e = term & (pres >= 0) & V["capture"] & (rng.random(n) < p_entrance)
        face_e = np.where(vt == IP, V["person"], pres)[e]
        parts.append(dict(inst=V["inst"][e], loc=np.full(e.sum(), 0), t=start[e] - rng.integers(120, 1500, e.sum()),
                          visit=np.full(e.sum(), -1), claimed=np.full(e.sum(), -1), face=face_e))
        # ward rounds for inpatients
        w = np.flatnonzero(term & V["ward"] & (vt == IP))
        parts.append(self.ward_rounds(V, w, start[w], end[w]))
        C = {k_: np.concatenate([p[k_] for p in parts]) for k_ in parts[0]}
        if self.outages is None:      # the original order: outages drawn here
            self.outage_plan()
        C = self.encode_captures(self.drop_outages(C))
        if enrol:
            self.enrol()
        return C

    def ward_rounds(self, V: dict, w: np.ndarray, frm: np.ndarray, to: np.ndarray) -> dict[str, np.ndarray]:
        """Ward-round captures of stays ``w`` between times ``frm`` and ``to`` (every 1-3 days)."""
        rng, fc = self.rng, self.cfg["faces"]
        start, end = V["start"][w], V["end"][w]
        step = rint(rng, fc["ward_every_days"], len(w))
        days = np.maximum(1, (to - frm) // DAY)
        cnt = days // step + 1
        rw = np.repeat(np.arange(len(w)), cnt)
        k = np.arange(len(rw)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        day0 = frm // DAY
        tw = (day0[rw] + k * step[rw]) * DAY + rng.integers(8 * 3600, 11 * 3600, len(rw))
        tw = np.clip(tw, start[rw] + 600, end[rw] - 600)
        ww = w[rw]
        return dict(inst=V["inst"][ww], loc=np.full(len(ww), 2), t=tw, visit=ww, claimed=V["person"][ww],
                    face=V["person"][ww])

    def outage_plan(self) -> None:
        """Camera outages: a terminal records nothing for weeks (confounder)."""
        rng, oc = self.rng, self.cfg["confounders"]["camera_outage"]
        ti = np.flatnonzero(self.i_terminal)
        k_down = max(min(1, len(ti)), int(rng.binomial(len(ti), oc["p"])))
        down = np.sort(rng.choice(ti, size=k_down, replace=False))
        o_start = np.full(self.n_inst, -1, dtype=np.int64)
        o_end = np.full(self.n_inst, -1, dtype=np.int64)
        ln = rint(rng, oc["days"], len(down))
        o_start[down] = rng.integers(0, self.ndays - ln) * DAY
        o_end[down] = o_start[down] + ln * DAY
        self.outages = (down, o_start, o_end)
        self.truth.confounders["camera_outages"] = len(down)

    def drop_outages(self, C: dict) -> dict:
        _, o_start, o_end = self.outages
        keep = ~((C["t"] >= o_start[C["inst"]]) & (C["t"] < o_end[C["inst"]]))
        return {k_: a[keep] for k_, a in C.items()}

    def encode_captures(self, C: dict) -> dict:
        """Captures in time order with their encodings: identity + noise, a few poor (current stream)."""
        rng, fc = self.rng, self.cfg["faces"]
        order = np.lexsort((C["face"], C["t"]))
        C = {k_: a[order] for k_, a in C.items()}
        nc = len(C["t"])
        bad = rng.random(nc) < self.cfg["confounders"]["bad_match_rate"]
        sd = np.where(bad, runif(rng, fc["bad_capture_noise"], nc), runif(rng, fc["capture_noise"], nc))
        self.truth.count("bad_match_captures", int(bad.sum()))
        enc = self.face_mean + self.identity(C["face"])
        enc += rng.standard_normal((nc, 128), dtype=np.float32) * sd.astype(np.float32)[:, None]
        C["enc"] = enc
        return C

    def enrol(self) -> None:
        """Reference faces (人脸底库) of the enrolled persons of the shard (everyone's when unsharded)."""
        fc = self.cfg["faces"]
        idx = self.persons_of(self.shard_idx)
        ne = idx[self.p_enrolled[idx]]
        self.enroll_idx = ne
        self.enroll_enc = (self.face_mean + self.identity(ne)
                           + self.rng.standard_normal((len(ne), 128), dtype=np.float32) * np.float32(fc["enrollment_noise"]))

    # ------------------------------------------------------------------ 进销存
    def sales(self, V: dict, L: dict) -> pd.Series:
        """Drug units sold per (institution, item, month) at non-hospitals, as the books record them:
        card cash-out swipes and re-settled resold packs (drug_resale lines) were never bought."""
        inst = V["inst"][L["vi"]]
        drug = self.cat_is_drug[L["item"]] & (self.i_kind[inst] != 0)
        honest = np.array([lab != "card_cashout" for lab in V["label"]], dtype=bool)[L["vi"]]
        honest &= L["label"] != "drug_resale"
        month = np.searchsorted(self.month_start, V["start"][L["vi"]] // DAY, side="right") - 1
        m = drug
        df = pd.DataFrame({"inst": inst[m], "item": L["item"][m], "month": month[m],
                           "sold": np.where(honest[m], L["qty"][m], 0.0)})
        return df.groupby(["inst", "item", "month"], sort=True)["sold"].sum()

    def inventory(self, g: pd.Series) -> None:
        rng = self.rng
        pairs = g.reset_index()[["inst", "item"]].drop_duplicates().reset_index(drop=True)
        grid = np.zeros((len(pairs), 12))
        pidx = pd.MultiIndex.from_frame(pairs)
        gi = g.reset_index()
        row = pidx.get_indexer(pd.MultiIndex.from_frame(gi[["inst", "item"]]))
        grid[row, gi.month.to_numpy()] = gi.sold.to_numpy()
        opening0 = np.ceil(grid.mean(1) * rng.uniform(0.3, 1.2, len(pairs)))
        buy = np.ceil(grid * rng.uniform(1.0, 1.2, grid.shape))
        # honest shops buy what they sell, sometimes in larger lots for two months
        stock = np.zeros_like(grid)
        opening = np.zeros_like(grid)
        s = opening0
        for mo in range(12):  # loop over 12 months, vectorised over every (institution, item)
            need = np.maximum(0.0, grid[:, mo] - s)
            b = np.maximum(buy[:, mo], need)
            buy[:, mo] = b
            opening[:, mo] = s
            s = s + b - grid[:, mo]
            stock[:, mo] = s
        self.inv = pd.DataFrame({
            "inst": np.repeat(pairs.inst.to_numpy(), 12), "item": np.repeat(pairs.item.to_numpy(), 12),
            "month": np.tile(np.arange(12), len(pairs)), "bought": buy.ravel(),
            "opening": opening.ravel(), "closing": stock.ravel()})

    def inventory_adjust(self, g: pd.Series) -> None:
        """Honest sales added after the books were drawn (drift, collectors' purchases, ...): bought in
        the month they were sold, so the books stay consistent (deterministic, no draws)."""
        g = g[g > 0]
        if g.empty:
            return
        inv = self.inv
        gi = g.reset_index()
        extra = gi.pivot_table(index=["inst", "item"], columns="month", values="sold", aggfunc="sum",
                               fill_value=0.0).reindex(columns=range(12), fill_value=0.0)
        key = pd.MultiIndex.from_arrays([inv.inst.to_numpy()[::12], inv.item.to_numpy()[::12]], names=["inst", "item"])
        allk = key.union(extra.index).sort_values()
        P = len(allk)
        bought = np.zeros((P, 12))
        opening = np.zeros((P, 12))
        closing = np.zeros((P, 12))
        r = allk.get_indexer(key)
        bought[r] = inv.bought.to_numpy().reshape(-1, 12)
        opening[r] = inv.opening.to_numpy().reshape(-1, 12)
        closing[r] = inv.closing.to_numpy().reshape(-1, 12)
        E = np.zeros((P, 12))
        E[allk.get_indexer(extra.index)] = extra.to_numpy()
        add = np.ceil(E - 1e-9)
        spare = np.cumsum(add - E, axis=1)              # units bought in whole packs, left in stock
        bought += add
        closing += spare
        opening[:, 1:] += spare[:, :-1]
        self.inv = pd.DataFrame({
            "inst": np.repeat(allk.get_level_values(0).to_numpy(), 12),
            "item": np.repeat(allk.get_level_values(1).to_numpy(), 12),
            "month": np.tile(np.arange(12), P), "bought": bought.ravel(),
            "opening": opening.ravel(), "closing": closing.ravel()})

    # ------------------------------------------------------------------ identifiers
    def draw_ids(self) -> None:
        """Insurance numbers and 身份证号 of everyone (the main stream's last draws in the original
        order; a stream of their own otherwise, so they do not move with the volume of care)."""
        with (nullcontext() if self.legacy else self.using(self.stream("ids"))):
            self.pid_num = self.rng.choice(10 ** 9, size=self.N, replace=False).astype(np.int64)
            self.id_number_plan()

    def person_id(self, idx: np.ndarray) -> np.ndarray:
        return _fmt_ids("14010", self.pid_num[np.asarray(idx, dtype=np.int64)], 9)

    def person_id_or_none(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        out = np.full(len(idx), None, dtype=object)
        has = idx >= 0
        out[has] = self.person_id(idx[has])
        return out

    def id_number_plan(self) -> None:
        rng, N = self.rng, self.N
        other = np.array([140202, 140402, 140502, 140602, 140702, 140802, 140902, 141002,
                          141102, 130102, 410102, 150102], dtype=np.int64)
        elsewhere = rng.random(N) < self.cfg["population"]["born_elsewhere_share"]
        rcode = np.where(elsewhere, other[rng.integers(0, len(other), N)],
                         self.dcode.astype(np.int64)[self.p_dist])
        grp = pd.DataFrame({"r": rcode, "b": self.p_birth, "m": self.p_male})
        gb = grp.groupby(["r", "b", "m"], sort=False)
        rank = gb.cumcount().to_numpy()
        base = (gb.ngroup().to_numpy() * 7919 + 17) % 400          # per-group start: ranks stay distinct
        seq = ((base + rank) * 2 + np.where(self.p_male, 1, 0)) % 1000  # odd = male, even = female (GB 11643)
        self.idn_region = rcode.astype(np.int32)
        self.idn_seq = seq.astype(np.int16)

    def id_numbers(self, idx: np.ndarray) -> np.ndarray:
        """身份证号 (GB 11643): region, birth date, sequence (odd = male), ISO 7064 MOD 11-2 check."""
        idx = np.asarray(idx, dtype=np.int64)
        n = len(idx)
        birth = np.datetime64(f"{self.year}-01-01") + self.p_birth[idx].astype("timedelta64[D]")
        y = birth.astype("datetime64[Y]").astype(np.int64) + 1970
        mo = birth.astype("datetime64[M]").astype(np.int64) % 12 + 1
        d = (birth - birth.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
        digits = np.empty((n, 17), dtype=np.int64)
        for col, val, width in ((0, self.idn_region[idx].astype(np.int64), 6), (6, y, 4), (10, mo, 2), (12, d, 2),
                                (14, self.idn_seq[idx].astype(np.int64), 3)):
            for j in range(width):
                digits[:, col + width - 1 - j] = (val // 10 ** j) % 10
        w = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
        chk = np.frombuffer(b"10X98765432", dtype=np.uint8)[(digits * w).sum(1) % 11]
        buf = np.empty((n, 18), dtype=np.uint8)
        buf[:, :17] = 48 + digits
        buf[:, 17] = chk
        if n == 0:
            return np.zeros(0, dtype=object)
        offsets = np.arange(0, 18 * n + 1, 18, dtype=np.int32)
        arr = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf.tobytes()))
        return arr.to_numpy(zero_copy_only=False).astype(object)

    def entity_id(self, etype: str, idx: int) -> str:
        if etype == "person":
            return str(self.person_id(np.array([idx]))[0])
        return {"physician": self.d_id, "institution": self.i_id}[etype][idx]

    def entity_ids(self, etype: str, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        if etype == "person":
            return self.person_id(idx)
        return {"physician": self.d_id, "institution": self.i_id}[etype][idx]

    # ------------------------------------------------------------------ output tables
    def _ts(self, s: np.ndarray) -> np.ndarray:
        return (self.t0 + s.astype("timedelta64[s]")).astype("datetime64[ns]")

    def static_tables(self) -> dict[str, pd.DataFrame]:
        iid = self.i_id
        level = pd.array(np.where(self.i_kind == 0, self.i_level, 0), dtype="Int64")
        level[self.i_kind != 0] = pd.NA
        inst = pd.DataFrame({
            "institution_id": iid, "name": self.i_name, "kind": np.array(KINDS, dtype=object)[self.i_kind],
            "level": level, "ownership": np.where(self.i_public, "public", "private").astype(object),
            "district": self.districts[self.i_dist], "has_face_terminal": pd.array(self.i_terminal, dtype="boolean")})
        phys = pd.DataFrame({"physician_id": self.d_id, "institution_id": iid[self.d_inst], "name": self.d_name,
                             "specialty": self.d_specname})
        return {"institutions": inst, "physicians": phys, "catalog": self.catalog_df}

    def persons_table(self, idx: np.ndarray) -> pd.DataFrame:
        codes = np.array([self.chronic_code(c) for c in self.cond_names], dtype=object)
        condsets = np.empty(1 << len(self.cond_names), dtype=object)
        condsets[:] = [tuple(codes[[i for i in range(len(codes)) if (b >> i) & 1]]) for b in range(len(condsets))]
        y0 = np.datetime64(f"{self.year}-01-01")
        birth = (y0 + self.p_birth[idx].astype("timedelta64[D]")).astype("datetime64[ns]")
        pdth = self.p_death[idx]
        death = np.where(pdth >= 0, (y0 + np.clip(pdth, 0, None).astype("timedelta64[D]")),
                         np.datetime64("NaT")).astype("datetime64[ns]")
        return pd.DataFrame({
            "person_id": self.person_id(idx), "sex": np.where(self.p_male[idx], "M", "F").astype(object),
            "birth_date": birth, "name": self.person_names(idx), "id_number": self.id_numbers(idx),
            "district": self.districts[self.p_dist[idx]],
            "insurance_type": np.where(self.p_employee[idx], "employee", "resident").astype(object),
            "chronic_conditions": condsets[self.p_condset[idx]], "death_date": death})

    def visit_tables(self, V: dict, L: dict, C: dict, off: tuple[int, int, int]) -> dict[str, pd.DataFrame]:
        """visits, claim_lines and face_captures of one block; ids continue from ``off``."""
        ts = self._ts
        iid, did = self.i_id, self.d_id
        nv = len(V["person"])
        vid = _fmt_ids("V", np.arange(off[0] + 1, off[0] + nv + 1), 10)
        lid = _fmt_ids("L", np.arange(off[1] + 1, off[1] + len(L["vi"]) + 1), 11)
        self.vid, self.lid = vid, lid
        none = lambda idx, ids: np.where(idx >= 0, ids[np.clip(idx, 0, None)], None)  # noqa: E731
        diag = np.empty(len(self.diag_tuples), dtype=object)
        diag[:] = self.diag_tuples
        term_id = (pd.Series(iid[V["inst"]]) + "-T" + pd.Series(_fmt_ids("", V["terminal"] + 1, 2))).to_numpy(object)
        visits = pd.DataFrame({
            "visit_id": vid, "person_id": self.person_id(V["person"]), "institution_id": iid[V["inst"]],
            "physician_id": none(V["phys"], did), "visit_type": VTYPES[V["vtype"]],
            "start_time": ts(V["start"]),
            "end_time": np.where(V["vtype"] == IP, ts(V["end"]), np.datetime64("NaT")).astype("datetime64[ns]"),
            "diagnosis_codes": diag[V["diag"]], "total_amount": V["total"], "fund_paid": V["fund"],
            "account_paid": V["account"], "payer_person_id": self.person_id_or_none(V["payer"]), "terminal_id": term_id})
        lines = pd.DataFrame({
            "line_id": lid, "visit_id": vid[L["vi"]], "item_code": self.cat_code[L["item"]],
            "quantity": L["qty"].astype(float), "unit_price": L["price"], "amount": L["amount"],
            "days_supply": pd.array(np.where(L["days"] >= 0, L["days"], 0), dtype="Int64"),
            "physician_id": none(L["phys"], did), "service_time": ts(L["time"])})
        lines.loc[L["days"] < 0, "days_supply"] = pd.NA
        nc = len(C["t"])
        caps = pd.DataFrame({
            "capture_id": _fmt_ids("F", np.arange(off[2] + 1, off[2] + nc + 1), 10),
            "institution_id": iid[C["inst"]],
            "location": np.array(["entrance", "settlement", "ward"], dtype=object)[C["loc"]],
            "capture_time": ts(C["t"]), "encoding": list(C["enc"]),
            "visit_id": none(C["visit"], vid), "claimed_person_id": self.person_id_or_none(C["claimed"])})
        return {"visits": visits, "claim_lines": lines, "face_captures": caps}

    def enrol_table(self) -> pd.DataFrame:
        return pd.DataFrame({"person_id": self.person_id(self.enroll_idx), "encoding": list(self.enroll_enc)})

    def inventory_table(self) -> pd.DataFrame:
        inv = self.inv
        periods = np.array([f"{self.year}-{m:02d}" for m in range(1, 13)], dtype=object)
        return pd.DataFrame({
            "institution_id": self.i_id[inv.inst.to_numpy()], "item_code": self.cat_code[inv.item.to_numpy()],
            "period": periods[inv.month.to_numpy()], "qty_purchased": inv.bought.to_numpy(float),
            "qty_opening": inv.opening.to_numpy(float), "qty_closing": inv.closing.to_numpy(float)})

    def family_table(self) -> pd.DataFrame:
        fl = households.registered(self)
        return pd.DataFrame({"person_id": self.person_id(fl.a.to_numpy()),
                             "related_person_id": self.person_id(fl.b.to_numpy()),
                             "relation": fl.rel.to_numpy(object)})

    def known_table(self) -> pd.DataFrame:
        kc = self.known
        return pd.DataFrame({
            "case_id": [f"AJ{self.year}{i + 1:05d}" for i in range(len(kc))],
            "entity_type": [k["entity_type"] for k in kc],
            "entity_id": [self.entity_id(k["entity_type"], k["idx"]) for k in kc],
            "label": [k["label"] for k in kc], "scheme": [k["scheme"] for k in kc],
            "closed_on": pd.to_datetime([k["closed_on"] for k in kc]).astype("datetime64[ns]")})

    # ------------------------------------------------------------------ truth
    def violations_table(self, V: dict, L: dict) -> pd.DataFrame:
        """Fraudulent settlements (whole visits) and rule-breaking or resold lines of one block."""
        vl = np.flatnonzero(np.array([x is not None for x in V["label"]], dtype=bool))
        ll = np.flatnonzero(np.array([x is not None for x in L["label"]], dtype=bool))
        return pd.concat([
            pd.DataFrame({"visit_id": self.vid[vl], "line_id": "", "scheme_or_rule": V["label"][vl]}),
            pd.DataFrame({"visit_id": self.vid[L["vi"][ll]], "line_id": self.lid[ll],
                          "scheme_or_rule": L["label"][ll]})], ignore_index=True)[TRUTH_FILES["violations"]]

    def truth_tables(self) -> dict[str, pd.DataFrame]:
        rings = pd.DataFrame([{
            "ring_id": r["ring_id"], "scheme": r["scheme"],
            "members": ";".join(f"{t}:{self.entity_id(t, i)}" for t, i in r["members"])} for r in self.truth.rings],
            columns=TRUTH_FILES["rings"])
        ents = pd.DataFrame([{"entity_type": e["entity_type"], "entity_id": self.entity_id(e["entity_type"], e["idx"]),
                              "scheme": e["scheme"], "ring_id": e["ring_id"] or ""} for e in self.truth.entities],
                            columns=TRUTH_FILES["entities"]).drop_duplicates()
        out = {"rings": rings, "entities": ents}
        if self.truth.drift:
            out["drift"] = pd.DataFrame([{"entity_type": d["entity_type"],
                                          "entity_id": self.entity_id(d["entity_type"], d["idx"]),
                                          "indicator": d["indicator"], "first_period": d["first_period"]}
                                         for d in self.truth.drift], columns=OPTIONAL_TRUTH_FILES["drift"])
        return out

    # ------------------------------------------------------------------ features on streams of their own
    def plan_extras(self) -> None:
        """Traceability codes, drug-resale rings and drift: planned once, after the city's own
        draws, each on streams of its own."""
        traces.plan(self)
        resale.plan(self)
        drift.plan(self)

    def payers(self) -> np.ndarray:
        """Persons whose personal account paid for a relative's settlement (sorted)."""
        if self.payer_seen is not None:
            return np.flatnonzero(self.payer_seen)
        return np.unique(self.V["payer"][self.V["payer"] >= 0])

    def extras(self, V: dict, L: dict, C: dict, s: int) -> tuple[dict, dict, dict, dict | None]:
        """Block ``s`` of the city with the features drawn on streams of their own: drift (lines
        added, stays made longer, new visits), the drug-resale settlements of its persons, and the
        traceability codes of its drug lines. Returns the merged visits, lines, captures and traces."""
        dr = drift.apply(self, V, L, C, self.stream("drift", s))
        stays = self.stays_of([V])
        chunks = [self.out_of_stays(v, l, stays, "drop") for v, l in dr["chunks"]]
        if self.resale_block is not None:
            rv, rl = self.resale_block
            inside = np.ones(self.N, dtype=bool) if self.shard_idx is None else np.zeros(self.N, dtype=bool)
            if self.shard_idx is not None:
                inside[self.shard_idx] = True
            keep = inside[rv["person"]]
            if keep.any():
                remap = np.cumsum(keep) - 1
                l = take(rl, keep[rl["vi"]])
                l["vi"] = remap[l["vi"]]
                chunks.append(self.out_of_stays(take(rv, keep), l, stays, "move"))
        touched = list(dr["touched"])
        changed = bool(chunks) or bool(dr["lines"]) or dr["captures"] is not None
        lkeys = list(LCOLS) + ["amount"]
        if dr["lines"]:
            la = concat(dr["lines"], LCOLS)
            self.price_lines(V, la)
            self.extra_sales.append(self.sales(V, la))
            L = {k: np.concatenate([L[k], la[k]]) for k in lkeys}
        C_new = [dr["captures"]] if dr["captures"] is not None else []
        if chunks:
            with self.using(self.stream("extras", s)):
                self.chunks = [_Chunk(v, l) for v, l in chunks]
                V2, L2 = self.take_chunks()
                V2, L2 = self.assemble_block(V2, L2)
                V2, L2 = self.clean_block(V2, L2)
                V2, L2 = self.finalise_block(V2, L2)
                self.payments(V2, L2)
                C2 = self.captures(V2)
            self.extra_sales.append(self.sales(V2, L2))
            n0 = len(V["person"])
            vkeys = list(VCOLS) + ["total", "fund", "account", "payer"]
            V = {k: np.concatenate([V[k], V2[k]]) for k in vkeys}
            L2["vi"] = L2["vi"] + n0
            L = {k: np.concatenate([L[k], L2[k]]) for k in lkeys}
            C2["visit"] = np.where(C2["visit"] >= 0, C2["visit"] + n0, -1)
            C_new.append(C2)
        if C_new:
            C = {k: np.concatenate([C[k]] + [c[k] for c in C_new]) for k in C}
        if touched:
            self.settle(V, L, np.unique(np.concatenate(touched)))
        if changed:
            order = np.lexsort((V["person"], V["start"]))
            V = {k: a[order] for k, a in V.items()}
            inv = np.empty_like(order)
            inv[order] = np.arange(len(order))
            L["vi"] = inv[L["vi"]]
            L = take(L, np.lexsort((L["item"], L["vi"])))
            C["visit"] = np.where(C["visit"] >= 0, inv[np.clip(C["visit"], 0, None)], -1)
            C = take(C, np.lexsort((C["face"], C["t"])))
        T = traces.make(self, V, L, self.stream("traces", s), s) if hasattr(self, "i_scan") else None
        if T is not None and len(T["touched"]):
            self.settle(V, L, T["touched"])
        return V, L, C, T

    def out_of_stays(self, v: dict, l: dict, stays: tuple, how: str) -> tuple[dict, dict]:
        """Settlements added to a block that fall inside one of the person's hospital stays: dropped
        (``drop``), or moved out of it (``move``: a collector's settlement to the day before the
        admission, a re-settlement at an outlet to the day after the discharge, so a resold pack
        still comes after its first sale)."""
        w = self.in_stay(stays, v["person"], v["start"])
        inside = (w >= 0) & (v["vtype"] != IP)
        if not inside.any():
            return v, l
        keep = np.ones(len(inside), dtype=bool)
        if how == "drop":
            keep = ~inside
        else:
            _, ss, se, _ = stays
            wc = np.clip(w, 0, None)
            tod = v["start"] % DAY
            collect = np.array([x == "drug_resale" for x in v["label"]], dtype=bool)
            new = np.where(collect, (ss[wc] // DAY - 1) * DAY + tod, (se[wc] // DAY + 1) * DAY + tod)
            ok = (new >= 0) & (new < (self.ndays - 1) * DAY)
            delta = np.where(inside & ok, new - v["start"], 0)
            v = dict(v)
            v["start"] = v["start"] + delta
            v["end"] = np.where(v["vtype"] == IP, v["end"], v["start"])
            l = dict(l)
            l["time"] = l["time"] + delta[l["vi"]]
            keep = ~(inside & ~ok)
        if keep.all():
            return v, l
        remap = np.cumsum(keep) - 1
        l2 = take(l, keep[l["vi"]])
        l2["vi"] = remap[l2["vi"]]
        return take(v, keep), l2

    def finish_inventory(self, main: list[pd.Series] | None = None) -> None:
        """The books: from the sales of every shard (sharded city) and the extra honest sales."""
        if main is not None:
            g = pd.concat(main).groupby(level=[0, 1, 2]).sum()
            with self.using(self.stream("inventory")):
                self.inventory(g)
        if self.extra_sales:
            self.inventory_adjust(pd.concat(self.extra_sales).groupby(level=[0, 1, 2]).sum())


# --------------------------------------------------------------------------- public API
def _write_block(city: _City, sink: Sink, idx: np.ndarray, V: dict, L: dict, C: dict, T: dict | None,
                 off: list[int], viol: list[pd.DataFrame]) -> int:
    n = sink.write("persons", city.persons_table(idx))
    tb = city.visit_tables(V, L, C, (off[0], off[1], off[2]))
    for name in ("visits", "claim_lines", "face_captures"):
        n += sink.write(name, tb[name])
    del tb
    n += sink.write("face_enrollments", city.enrol_table())
    if T is not None:
        typed, text = traces.arrow_tables(T, city.lid, city.t0, text=sink.fmt == "csv")
        n += sink.write("drug_traces", arrow=typed, text=text)
    viol.append(city.violations_table(V, L))
    off[0] += len(V["person"])
    off[1] += len(L["vi"])
    off[2] += len(C["t"])
    return n


def generate(out: Path, persons: int = 5000, seed: int = 7, config: str | Path | dict | list | None = None,
             fmt: str = "csv", layout: str = "auto") -> dict:
    """Generate a synthetic city of ``persons`` insured persons for one year into ``out``.

    Writes one table per contract table (``fmt`` = ``csv`` or ``parquet``; a
    city larger than ``generation.shard_persons`` is generated and written shard
    by shard, Parquet as a directory of parts per table unless ``layout="file"``)
    and ``out/truth/{rings,entities,violations,drift}.csv``. Deterministic for a
    ``(persons, seed, config)``. Progress goes to :mod:`ringscope.progress`.
    Returns a summary: rows per table, rings and lone actors per scheme,
    violations per rule, confounder counts, drifting entities, timings, bytes.

    >>> import tempfile
    >>> s = generate(Path(tempfile.mkdtemp()), persons=1000, seed=1)
    >>> s["tables"]["persons"], s["shards"]
    (1000, 1)
    """
    t_start, c_start = time.perf_counter(), time.process_time()
    cfg = load_config(config)
    city = _City(persons, seed, cfg)
    out = Path(out)
    sink = Sink(out, fmt, layout, streaming=city.sharded)
    viol: list[pd.DataFrame] = []
    off = [0, 0, 0]
    with progress.task("generate", "rows written", unit="rows") as bar:
        if not city.sharded:
            progress.say("generate", f"a city of {persons:,} persons in one piece")
            city.build_single()
            city.plan_extras()
            V, L, C, T = city.extras(city.V, city.L, city.C, 0)
            city.V = city.L = city.C = None
            city.finish_inventory()
            bar.update(_write_block(city, sink, np.arange(city.N), V, L, C, T, off, viol))
            del V, L, C, T
        else:
            progress.say("generate", f"a city of {persons:,} persons in {city.n_shards} shards: "
                                     "population, institutions, rings")
            city.build_plan()
            city.plan_extras()
            sales_main: list[pd.Series] = []
            for s, idx in enumerate(city.shards()):
                city.build_shard(s, idx)
                sales_main.append(city.sales(city.V, city.L))
                V, L, C, T = city.extras(city.V, city.L, city.C, s)
                city.V = city.L = city.C = None
                n = _write_block(city, sink, idx, V, L, C, T, off, viol)
                del V, L, C, T
                if s == 0:
                    bar.set_total(n * city.N / len(idx))
                bar.update(n)
            city.finish_inventory(sales_main)
            with city.using(city.stream("known")):
                schemes.known_cases(city)
        n = 0
        for name, df in city.static_tables().items():
            n += sink.write(name, df)
        n += sink.write("inventory", city.inventory_table())
        n += sink.write("family_links", city.family_table())
        city.known = city.known + city.known_extra
        n += sink.write("known_cases", city.known_table())
        bar.update(n)
    t_built = time.perf_counter()
    truth = city.truth_tables()
    truth["violations"] = pd.concat(viol, ignore_index=True)[TRUTH_FILES["violations"]]
    tdir = out / "truth"
    tdir.mkdir(exist_ok=True)
    (tdir / "drift.csv").unlink(missing_ok=True)
    for name in ("rings", "entities", "violations", "drift"):
        if name in truth:
            truth[name].to_csv(tdir / f"{name}.csv", index=False, encoding="utf-8", lineterminator="\n")
    sink.close()
    t_end, c_end = time.perf_counter(), time.process_time()
    ents = truth["entities"]
    vio = truth["violations"]
    tables = {k: int(v) for k, v in sink.rows.items()}
    drift_rows = truth.get("drift")
    return {
        "out": str(out), "persons": persons, "seed": seed, "format": fmt, "year": city.year,
        "volume": cfg["volume"]["profile"], "rings_mode": cfg["rings"]["mode"], "shards": city.n_shards,
        "layout": "dir" if sink.dirs else "file",
        "tables": {k: tables.get(k, 0) for k in TABLES if k in tables},
        "rings": truth["rings"].scheme.value_counts().sort_index().to_dict(),
        "lone_actors": ents[ents.ring_id == ""].groupby("scheme").entity_id.nunique().to_dict(),
        "fraud_entities": ents.groupby("entity_type").entity_id.nunique().to_dict(),
        "violations": vio.scheme_or_rule.value_counts().sort_index().to_dict(),
        "drift": ({} if drift_rows is None else
                  drift_rows.drop_duplicates(["entity_type", "entity_id"]).entity_type.value_counts().to_dict()),
        "confounders": dict(city.truth.confounders),
        "outbreak": getattr(city, "outbreak_info", None),
        "visits_per_person": round(tables.get("visits", 0) / persons, 2),
        "lines_per_person": round(tables.get("claim_lines", 0) / persons, 2),
        "bytes": sink.bytes,
        "seconds": {"build": round(t_built - t_start, 2), "write": round(t_end - t_built, 2),
                    "total": round(t_end - t_start, 2), "cpu": round(c_end - c_start, 2)},
    }
