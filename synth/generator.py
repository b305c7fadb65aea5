"""A synthetic city (Taiyuan-shaped) with a year of insured care, fraud rings and confounders.

``generate(out, persons, seed, config, fmt)`` writes a dataset in the shape of
``shared/spec/data-contract.md`` plus its ``truth/`` directory. The model of
the city, every parameter and its public source are described in
``docs/city-model.md``; the parameters live in ``synth/defaults.yaml`` and
can be overridden by a YAML file or a dict (deep-merged).

Design
------
* Everything is vectorised with numpy: persons, visits and claim lines are
  arrays; there is no Python loop per person, visit or line (only per table,
  per diagnosis group, per scheme or per ring).
* Internally every entity is an integer index and every time is seconds since
  1 January of the simulated year; ids, strings and timestamps are made once,
  at the end, in the in-memory dtypes of :mod:`ringscope.ingest.contract`,
  and written with :func:`ringscope.ingest.io.write_dataset`.
* One ``numpy.random.Generator`` (PCG64, seeded) drives everything, so a
  ``(persons, seed, config)`` triple always gives byte-identical files.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ringscope.synth.catalog import (ACUTE_GROUPS, CATALOG_ROWS, CONSULT, GIVEN_F, GIVEN_M,
                                           INPATIENT_GROUPS, INST_WORDS, PHARMACY_CHAINS,
                                           SPECIALTIES, STREETS, SURNAMES)
from ringscope.synth import schemes
from ringscope.synth.primitives import DAY, IP, KINDS, LCOLS, OUT, PH, RULES, VCOLS, concat, lchunk, rint, runif, vchunk
from ringscope.ingest.contract import TABLES, TRUTH_FILES

__all__ = ["generate", "load_config", "DEFAULTS_PATH", "RULES"]

DEFAULTS_PATH = Path(__file__).with_name("defaults.yaml")
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


def load_config(config: str | Path | dict | None = None) -> dict:
    """The defaults of ``synth/defaults.yaml`` deep-merged with ``config``."""
    base = yaml.load(DEFAULTS_PATH.read_text(encoding="utf-8"), Loader=_LOADER)
    if config is None:
        return base
    if isinstance(config, (str, Path)):
        over = yaml.load(Path(config).read_text(encoding="utf-8"), Loader=_LOADER) or {}
    else:
        over = dict(config)
    if not isinstance(over, dict):
        raise ValueError("generator config must be a mapping")
    return _deep_merge(base, over)


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


# --------------------------------------------------------------------------- buffers
@dataclass
class _Chunk:
    """Visits (and their lines) produced by one part of the model."""
    v: dict[str, np.ndarray]
    l: dict[str, np.ndarray]


# --------------------------------------------------------------------------- the city
@dataclass
class _Truth:
    rings: list[dict] = field(default_factory=list)
    entities: list[dict] = field(default_factory=list)
    confounders: dict[str, int] = field(default_factory=dict)


class _City:
    """Holds the state of one generation run (arrays indexed by integer ids)."""

    def __init__(self, persons: int, seed: int, cfg: dict):
        if persons < 200:
            raise ValueError("persons must be at least 200")
        self.N = int(persons)
        self.cfg = cfg
        self.rng = np.random.default_rng(np.random.SeedSequence([int(seed), self.N, 20240101]))
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

    # ------------------------------------------------------------------ utilities
    def diag_id(self, codes: tuple[str, ...]) -> int:
        codes = tuple(codes)
        if codes not in self._diag_index:
            self._diag_index[codes] = len(self.diag_tuples)
            self.diag_tuples.append(codes)
        return self._diag_index[codes]

    def add(self, v: dict[str, np.ndarray], l: dict[str, np.ndarray]) -> None:
        self.chunks.append(_Chunk(v, l))

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

    # ------------------------------------------------------------------ build order
    def build(self) -> None:
        self.catalog()
        self.institutions()
        self.physicians()
        self.persons()
        self.families()
        self.homes()
        self.faces_identity()
        self.chronic_care()
        self.acute_care()
        self.outbreak()
        self.otc_purchases()
        self.inpatient_care()
        schemes.inject_all(self)
        self.assemble()
        self.clean_lines()
        schemes.inject_violations(self)
        self.finalise_lines()
        self.payments()
        self.captures()
        self.inventory()
        schemes.known_cases(self)

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

    def _names(self, male: np.ndarray, surname_idx: np.ndarray) -> np.ndarray:
        rng = self.rng
        sn = np.array(SURNAMES, dtype=object)[surname_idx]
        gm = np.array(GIVEN_M, dtype=object)
        gf = np.array(GIVEN_F, dtype=object)
        given = np.where(male, gm[rng.integers(0, len(gm), len(male))], gf[rng.integers(0, len(gf), len(male))])
        return (pd.Series(sn, dtype=object) + pd.Series(given, dtype=object)).to_numpy(object)

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
        self.p_name = self._names(self.p_male, self.surname)

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
    def chronic_care(self) -> None:
        rng, ch = self.rng, self.cfg["chronic"]
        P, J = np.nonzero(self.p_conds)
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

    def acute_care(self) -> None:
        rng = self.rng
        rate = _step(self.cfg["care"]["acute_rate"], self.p_age0)
        k = rng.poisson(rate)
        person = np.repeat(np.arange(self.N), k)
        names, cum = self.acute_groups_table()
        cell = self.p_male[person].astype(np.int64) * 121 + np.clip(self.p_age0[person], 0, 120)
        group = _choice_rows(rng, cum, cell)
        day = np.zeros(len(person), dtype=np.int64)
        for prof in ("resp", "flu", "gi", "summer", "flat"):
            m = np.array([ACUTE_GROUPS[nm][5] == prof for nm in names])[group]
            day[m] = self.sample_days(int(m.sum()), prof, weekend=0.55)
        ok = self.alive_mask(person, day * DAY)
        self.acute_visits(person[ok], group[ok], day[ok])

    def outbreak(self) -> None:
        """An influenza-like outbreak sends one district to the same few clinics for weeks."""
        oc = self.cfg["confounders"]["outbreak"]
        if not oc.get("enabled", True):
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
        live = np.flatnonzero(self.p_dist == d)
        k_res = max(min(10, len(live)), int(rng.binomial(len(live), oc["attack_rate"])))
        res = np.sort(rng.choice(live, size=k_res, replace=False))
        day = start + rng.integers(0, int(oc["days"]), len(res))
        res, day = res[self.alive_mask(res, day * DAY)], day[self.alive_mask(res, day * DAY)]
        names = list(ACUTE_GROUPS)
        group = np.where(self.p_age0[res] <= 12, names.index("flu_k"), names.index("flu"))
        self.acute_visits(res, group, day, inst=sites[rng.integers(0, len(sites), len(res))])
        self.outbreak_sites = sites
        self.truth.confounders["outbreak_visits"] = len(res)
        self.outbreak_info = {"district": str(self.districts[d]), "start_day": start, "sites": len(sites)}

    # ------------------------------------------------------------------ OTC purchases at pharmacies
    def otc_purchases(self) -> None:
        rng, oc = self.rng, self.cfg["care"]["otc_rate"]
        adult = self.p_age0 >= 18
        rate = np.where(self.p_employee, oc["employee"], oc["resident"]) * adult
        k = rng.poisson(rate)
        person = np.repeat(np.arange(self.N), k)
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
        lines = self.pool_lines(np.arange(n), "otc", rng.integers(1, 4, n), t, rng.integers(3, 10, n).astype(float))
        self.add(v, lines)

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

    def inpatient_care(self) -> None:
        rng, cc = self.rng, self.cfg["care"]
        p = _step(cc["admission_prob"], self.p_age0)
        adm = np.flatnonzero(rng.random(self.N) < p)
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
        f = np.flatnonzero(~self.p_male & (self.p_age0 >= 20) & (self.p_age0 <= 39)
                           & (rng.random(self.N) < cc["delivery_prob_f20_39"]))
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
        vparts, lparts, off = [], [], 0
        for ch in self.chunks:
            n = len(ch.v["person"])
            l = dict(ch.l)
            l["vi"] = l["vi"] + off
            vparts.append(ch.v)
            lparts.append(l)
            off += n
        self.chunks = []
        V = concat(vparts, VCOLS)
        L = concat(lparts, LCOLS)
        order = np.lexsort((V["person"], V["start"]))
        V = {k: a[order] for k, a in V.items()}
        inv = np.empty_like(order)
        inv[order] = np.arange(len(order))
        L["vi"] = inv[L["vi"]]
        lo = np.argsort(L["vi"], kind="stable")
        L = {k: a[lo] for k, a in L.items()}
        nt = self.i_nterm[V["inst"]]
        V["terminal"] = np.where(V["terminal"] >= 0, V["terminal"], (self.rng.random(len(nt)) * nt).astype(np.int64))
        self.V, self.L = V, L

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
        """Honest lines never break a rule: drop duplicates and lines the catalogue forbids."""
        L, V = self.L, self.V
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
        self.V = {k: a[has] for k, a in V.items()}
        L["vi"] = remap[L["vi"]]
        self.L = L

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
        L, V = self.L, self.V
        # order visits by time (injected visits were appended)
        order = np.lexsort((V["person"], V["start"]))
        self.V = V = {k: a[order] for k, a in V.items()}
        inv = np.empty_like(order)
        inv[order] = np.arange(len(order))
        L["vi"] = inv[L["vi"]]
        lo = np.lexsort((L["item"], L["vi"]))
        L = {k: a[lo] for k, a in L.items()}
        cap = self.cat_cap[L["item"]]
        fac = self.i_price[V["inst"][L["vi"]]]
        L["price"] = np.where(np.isnan(L["price"]), np.round(cap * fac, 2), np.round(L["price"], 2))
        L["amount"] = np.round(L["qty"] * L["price"], 2)
        self.L = L

    # ------------------------------------------------------------------ money
    def payments(self) -> None:
        V, L, rng = self.V, self.L, self.rng
        n = len(V["person"])
        total = np.round(np.bincount(L["vi"], weights=L["amount"], minlength=n), 2)
        elig = np.bincount(L["vi"], weights=L["amount"] * self.cat_reimb[L["item"]], minlength=n)
        person, inst, vt = V["person"], V["inst"], V["vtype"]
        emp = self.p_employee[person]
        kind, level = self.i_kind[inst], self.i_level[inst]
        out_rate = np.where(emp, np.select([kind == 1, kind == 2, level == 1, level == 2], [0.7, 0.6, 0.6, 0.55], 0.5),
                            np.where(kind == 1, 0.6, 0.5))
        chronic_rate = np.where(emp, 0.8, 0.7)
        ded = np.select([level == 1, level == 2, level == 3], [300.0, 600.0, 900.0], 300.0)
        ip_rate = np.where(emp, np.select([level == 1, level == 2], [0.9, 0.87], 0.85),
                           np.select([level == 1, level == 2], [0.8, 0.7], 0.6))
        fund = np.select([vt == IP, V["chronic"], vt == OUT],
                         [np.maximum(0.0, elig - ded) * ip_rate, elig * chronic_rate, elig * out_rate], 0.0)
        fund = np.minimum(np.round(fund, 2), total)
        rest = np.round(total - fund, 2)
        account = np.where(emp & (vt != IP), rest, 0.0)
        payer = np.full(n, -1, dtype=np.int64)
        fam = self.p_fampayer[person]
        share = (~emp) & (fam >= 0) & (vt != IP) & (rng.random(n) < self.cfg["confounders"]["family_sharing"])
        share &= self.alive_mask(np.clip(fam, 0, None), V["start"])
        payer[share] = fam[share]
        account = np.where(share, rest, account)
        self.truth.confounders["family_sharing_visits"] = int(share.sum())
        V["total"], V["fund"], V["account"], V["payer"] = total, fund, np.round(account, 2), payer

    # ------------------------------------------------------------------ faces
    def captures(self) -> None:
        V, rng, fc = self.V, self.rng, self.cfg["faces"]
        n = len(V["person"])
        term = self.i_terminal[V["inst"]]
        vt, start, end, pres = V["vtype"], V["start"], V["end"], V["presenter"]
        vi = np.arange(n)
        # settlement (linked to the visit, claimed = the credential presented)
        m = term & V["capture"] & (pres >= 0) & (rng.random(n) < fc["settlement_capture"])
        ts = np.where(vt == IP, end, start + np.where(vt == OUT, rng.integers(300, 2400, n), rng.integers(20, 240, n)))
        parts = [dict(inst=V["inst"][m], loc=np.full(m.sum(), 1), t=ts[m], visit=vi[m], claimed=V["person"][m],
                      face=pres[m])]
        # entrance (no credential)
        e = term & (pres >= 0) & V["capture"] & (rng.random(n) < fc["entrance_capture"])
        face_e = np.where(vt == IP, V["person"], pres)[e]
        parts.append(dict(inst=V["inst"][e], loc=np.full(e.sum(), 0), t=start[e] - rng.integers(120, 1500, e.sum()),
                          visit=np.full(e.sum(), -1), claimed=np.full(e.sum(), -1), face=face_e))
        # ward rounds for inpatients
        w = np.flatnonzero(term & V["ward"] & (vt == IP))
        step = rint(rng, fc["ward_every_days"], len(w))
        days = np.maximum(1, (end[w] - start[w]) // DAY)
        cnt = days // step + 1
        rw = np.repeat(np.arange(len(w)), cnt)
        k = np.arange(len(rw)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        day0 = start[w] // DAY
        tw = (day0[rw] + k * step[rw]) * DAY + rng.integers(8 * 3600, 11 * 3600, len(rw))
        tw = np.clip(tw, start[w][rw] + 600, end[w][rw] - 600)
        ww = w[rw]
        parts.append(dict(inst=V["inst"][ww], loc=np.full(len(ww), 2), t=tw, visit=ww, claimed=V["person"][ww],
                          face=V["person"][ww]))
        C = {k_: np.concatenate([p[k_] for p in parts]) for k_ in parts[0]}
        # camera outages: a terminal records nothing for weeks (confounder)
        oc = self.cfg["confounders"]["camera_outage"]
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
        keep = ~((C["t"] >= o_start[C["inst"]]) & (C["t"] < o_end[C["inst"]]))
        C = {k_: a[keep] for k_, a in C.items()}
        order = np.lexsort((C["face"], C["t"]))
        C = {k_: a[order] for k_, a in C.items()}
        nc = len(C["t"])
        bad = rng.random(nc) < self.cfg["confounders"]["bad_match_rate"]
        sd = np.where(bad, runif(rng, fc["bad_capture_noise"], nc), runif(rng, fc["capture_noise"], nc))
        self.truth.confounders["bad_match_captures"] = int(bad.sum())
        enc = self.face_mean + self.ident[C["face"]]
        enc += rng.standard_normal((nc, 128), dtype=np.float32) * sd.astype(np.float32)[:, None]
        C["enc"] = enc
        self.C = C
        ne = np.flatnonzero(self.p_enrolled)
        self.enroll_idx = ne
        self.enroll_enc = (self.face_mean + self.ident[ne]
                           + rng.standard_normal((len(ne), 128), dtype=np.float32) * np.float32(fc["enrollment_noise"]))

    # ------------------------------------------------------------------ 进销存
    def inventory(self) -> None:
        V, L, rng = self.V, self.L, self.rng
        inst = V["inst"][L["vi"]]
        drug = self.cat_is_drug[L["item"]] & (self.i_kind[inst] != 0)
        honest = np.array([lab != "card_cashout" for lab in V["label"]], dtype=bool)[L["vi"]]
        month = np.searchsorted(self.month_start, V["start"][L["vi"]] // DAY, side="right") - 1
        m = drug
        df = pd.DataFrame({"inst": inst[m], "item": L["item"][m], "month": month[m],
                           "sold": np.where(honest[m], L["qty"][m], 0.0)})
        g = df.groupby(["inst", "item", "month"], sort=True)["sold"].sum()
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

    # ------------------------------------------------------------------ output tables
    def person_ids(self) -> np.ndarray:
        num = self.rng.choice(10 ** 9, size=self.N, replace=False)
        return ("14010" + pd.Series(num).astype(str).str.zfill(9)).to_numpy(object)

    def id_numbers(self) -> np.ndarray:
        rng, N = self.rng, self.N
        other = np.array(["140202", "140402", "140502", "140602", "140702", "140802", "140902", "141002",
                          "141102", "130102", "410102", "150102"], dtype=object)
        elsewhere = rng.random(N) < self.cfg["population"]["born_elsewhere_share"]
        region = np.where(elsewhere, other[rng.integers(0, len(other), N)], self.dcode[self.p_dist])
        birth = (np.datetime64(f"{self.year}-01-01") + self.p_birth.astype("timedelta64[D]"))
        bstr = pd.Series(np.datetime_as_string(birth, unit="D")).str.replace("-", "", regex=False)
        grp = pd.DataFrame({"r": region, "b": bstr, "m": self.p_male})
        gb = grp.groupby(["r", "b", "m"], sort=False)
        rank = gb.cumcount().to_numpy()
        base = (gb.ngroup().to_numpy() * 7919 + 17) % 400          # per-group start: ranks stay distinct
        seq = ((base + rank) * 2 + np.where(self.p_male, 1, 0)) % 1000  # odd = male, even = female (GB 11643)
        body = (pd.Series(region) + bstr + pd.Series(seq).astype(str).str.zfill(3)).to_numpy(object)
        digits = np.frombuffer("".join(body).encode("ascii"), dtype=np.uint8).reshape(N, 17) - 48
        w = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
        chk = np.array(list("10X98765432"), dtype=object)[(digits * w).sum(1) % 11]
        return (pd.Series(body) + pd.Series(chk)).to_numpy(object)

    def tables(self) -> dict[str, pd.DataFrame]:
        V, L, C = self.V, self.L, self.C
        t0 = self.t0
        ts = lambda s: (t0 + s.astype("timedelta64[s]")).astype("datetime64[ns]")  # noqa: E731
        self.pid = pid = self.person_ids()
        iid, did = self.i_id, self.d_id
        nv = len(V["person"])
        vid = ("V" + pd.Series(np.arange(1, nv + 1)).astype(str).str.zfill(10)).to_numpy(object)
        lid = ("L" + pd.Series(np.arange(1, len(L["vi"]) + 1)).astype(str).str.zfill(11)).to_numpy(object)
        self.vid, self.lid = vid, lid
        none = lambda idx, ids: np.where(idx >= 0, ids[np.clip(idx, 0, None)], None)  # noqa: E731
        level = pd.array(np.where(self.i_kind == 0, self.i_level, 0), dtype="Int64")
        level[self.i_kind != 0] = pd.NA
        inst = pd.DataFrame({
            "institution_id": iid, "name": self.i_name, "kind": np.array(KINDS, dtype=object)[self.i_kind],
            "level": level, "ownership": np.where(self.i_public, "public", "private").astype(object),
            "district": self.districts[self.i_dist], "has_face_terminal": pd.array(self.i_terminal, dtype="boolean")})
        phys = pd.DataFrame({"physician_id": did, "institution_id": iid[self.d_inst], "name": self.d_name,
                             "specialty": self.d_specname})
        codes = np.array([self.chronic_code(c) for c in self.cond_names], dtype=object)
        condsets = np.empty(1 << len(self.cond_names), dtype=object)
        condsets[:] = [tuple(codes[[i for i in range(len(codes)) if (b >> i) & 1]]) for b in range(len(condsets))]
        birth = (np.datetime64(f"{self.year}-01-01") + self.p_birth.astype("timedelta64[D]")).astype("datetime64[ns]")
        death = np.where(self.p_death >= 0, (np.datetime64(f"{self.year}-01-01")
                                              + np.clip(self.p_death, 0, None).astype("timedelta64[D]")),
                         np.datetime64("NaT")).astype("datetime64[ns]")
        persons = pd.DataFrame({
            "person_id": pid, "sex": np.where(self.p_male, "M", "F").astype(object), "birth_date": birth,
            "name": self.p_name, "id_number": self.id_numbers(), "district": self.districts[self.p_dist],
            "insurance_type": np.where(self.p_employee, "employee", "resident").astype(object),
            "chronic_conditions": condsets[self.p_condset], "death_date": death})
        diag = np.empty(len(self.diag_tuples), dtype=object)
        diag[:] = self.diag_tuples
        term_id = (pd.Series(iid[V["inst"]]) + "-T" + pd.Series(V["terminal"] + 1).astype(str).str.zfill(2)).to_numpy(object)
        visits = pd.DataFrame({
            "visit_id": vid, "person_id": pid[V["person"]], "institution_id": iid[V["inst"]],
            "physician_id": none(V["phys"], did), "visit_type": VTYPES[V["vtype"]],
            "start_time": ts(V["start"]),
            "end_time": np.where(V["vtype"] == IP, ts(V["end"]), np.datetime64("NaT")).astype("datetime64[ns]"),
            "diagnosis_codes": diag[V["diag"]], "total_amount": V["total"], "fund_paid": V["fund"],
            "account_paid": V["account"], "payer_person_id": none(V["payer"], pid), "terminal_id": term_id})
        lines = pd.DataFrame({
            "line_id": lid, "visit_id": vid[L["vi"]], "item_code": self.cat_code[L["item"]],
            "quantity": L["qty"].astype(float), "unit_price": L["price"], "amount": L["amount"],
            "days_supply": pd.array(np.where(L["days"] >= 0, L["days"], 0), dtype="Int64"),
            "physician_id": none(L["phys"], did), "service_time": ts(L["time"])})
        lines.loc[L["days"] < 0, "days_supply"] = pd.NA
        enr = pd.DataFrame({"person_id": pid[self.enroll_idx], "encoding": list(self.enroll_enc)})
        nc = len(C["t"])
        caps = pd.DataFrame({
            "capture_id": ("F" + pd.Series(np.arange(1, nc + 1)).astype(str).str.zfill(10)).to_numpy(object),
            "institution_id": iid[C["inst"]],
            "location": np.array(["entrance", "settlement", "ward"], dtype=object)[C["loc"]],
            "capture_time": ts(C["t"]), "encoding": list(C["enc"]),
            "visit_id": none(C["visit"], vid), "claimed_person_id": none(C["claimed"], pid)})
        inv = self.inv
        periods = np.array([f"{self.year}-{m:02d}" for m in range(1, 13)], dtype=object)
        inventory = pd.DataFrame({
            "institution_id": iid[inv.inst.to_numpy()], "item_code": self.cat_code[inv.item.to_numpy()],
            "period": periods[inv.month.to_numpy()], "qty_purchased": inv.bought.to_numpy(float),
            "qty_opening": inv.opening.to_numpy(float), "qty_closing": inv.closing.to_numpy(float)})
        fam = pd.DataFrame({"person_id": pid[self.family.a.to_numpy()],
                            "related_person_id": pid[self.family.b.to_numpy()],
                            "relation": self.family.rel.to_numpy(object)})
        kc = self.known
        known = pd.DataFrame({
            "case_id": [f"AJ{self.year}{i + 1:05d}" for i in range(len(kc))],
            "entity_type": [k["entity_type"] for k in kc],
            "entity_id": [self.entity_id(k["entity_type"], k["idx"]) for k in kc],
            "label": [k["label"] for k in kc], "scheme": [k["scheme"] for k in kc],
            "closed_on": pd.to_datetime([k["closed_on"] for k in kc]).astype("datetime64[ns]")})
        out = {"institutions": inst, "physicians": phys, "persons": persons, "catalog": self.catalog_df,
               "visits": visits, "claim_lines": lines, "face_enrollments": enr, "face_captures": caps,
               "inventory": inventory, "family_links": fam, "known_cases": known}
        for name, df in out.items():  # contract column order
            out[name] = df[[c for c in TABLES[name].names if c in df.columns]]
        return out

    def entity_id(self, etype: str, idx: int) -> str:
        return {"person": self.pid, "physician": self.d_id, "institution": self.i_id}[etype][idx]

    def truth_tables(self) -> dict[str, pd.DataFrame]:
        rings = pd.DataFrame([{
            "ring_id": r["ring_id"], "scheme": r["scheme"],
            "members": ";".join(f"{t}:{self.entity_id(t, i)}" for t, i in r["members"])} for r in self.truth.rings],
            columns=TRUTH_FILES["rings"])
        ents = pd.DataFrame([{"entity_type": e["entity_type"], "entity_id": self.entity_id(e["entity_type"], e["idx"]),
                              "scheme": e["scheme"], "ring_id": e["ring_id"] or ""} for e in self.truth.entities],
                            columns=TRUTH_FILES["entities"]).drop_duplicates()
        vl = np.flatnonzero(np.array([x is not None for x in self.V["label"]], dtype=bool))
        ll = np.flatnonzero(np.array([x is not None for x in self.L["label"]], dtype=bool))
        viol = pd.concat([
            pd.DataFrame({"visit_id": self.vid[vl], "line_id": "", "scheme_or_rule": self.V["label"][vl]}),
            pd.DataFrame({"visit_id": self.vid[self.L["vi"][ll]], "line_id": self.lid[ll],
                          "scheme_or_rule": self.L["label"][ll]})], ignore_index=True)
        return {"rings": rings, "entities": ents, "violations": viol[TRUTH_FILES["violations"]]}


# --------------------------------------------------------------------------- public API
def generate(out: Path, persons: int = 5000, seed: int = 7, config: str | Path | dict | None = None,
             fmt: str = "csv") -> dict:
    """Generate a synthetic city of ``persons`` insured persons for one year into ``out``.

    Writes one file per contract table (``fmt`` = ``csv`` or ``parquet``) and
    ``out/truth/{rings,entities,violations}.csv``. Deterministic for a
    ``(persons, seed, config)``. Returns a summary: rows per table, rings and
    lone actors per scheme, violations per rule, confounder counts, timings.

    >>> import tempfile
    >>> s = generate(Path(tempfile.mkdtemp()), persons=1000, seed=1)
    >>> s["tables"]["persons"]
    1000
    """
    from ringscope.ingest.io import write_dataset  # noqa: PLC0415 (import cost only when writing)

    t_start, c_start = time.perf_counter(), time.process_time()
    cfg = load_config(config)
    city = _City(persons, seed, cfg)
    city.build()
    t_built = time.perf_counter()
    tables = city.tables()
    truth = city.truth_tables()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_dataset(tables, out, fmt)
    tdir = out / "truth"
    tdir.mkdir(exist_ok=True)
    for name, df in truth.items():
        df.to_csv(tdir / f"{name}.csv", index=False, encoding="utf-8", lineterminator="\n")
    t_end, c_end = time.perf_counter(), time.process_time()
    ents = truth["entities"]
    viol = truth["violations"]
    return {
        "out": str(out), "persons": persons, "seed": seed, "format": fmt, "year": city.year,
        "tables": {k: int(len(v)) for k, v in tables.items()},
        "rings": truth["rings"].scheme.value_counts().sort_index().to_dict(),
        "lone_actors": ents[ents.ring_id == ""].groupby("scheme").entity_id.nunique().to_dict(),
        "fraud_entities": ents.groupby("entity_type").entity_id.nunique().to_dict(),
        "violations": viol.scheme_or_rule.value_counts().sort_index().to_dict(),
        "confounders": dict(city.truth.confounders),
        "outbreak": getattr(city, "outbreak_info", None),
        "visits_per_person": round(len(tables["visits"]) / persons, 2),
        "seconds": {"build": round(t_built - t_start, 2), "write": round(t_end - t_built, 2),
                    "total": round(t_end - t_start, 2), "cpu": round(c_end - c_start, 2)},
    }
