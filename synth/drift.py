"""Institutions and physicians whose behaviour drifts from their peers (truth for 动态预警).

Some institutions and physicians change how they work from some month on and keep
it up for the rest of the year: ordinary business (a new scanner, a drug
representative, a new rehabilitation ward), not necessarily fraud -- and a few of
the fraud rings' institutions drift too. Each drifting entity follows one
*profile*; the indicators the profile moves are written to ``truth/drift.csv``
(``entity_type, entity_id, indicator, first_period``). Indicator names:

==================== ======================================================== =========
indicator            what the bureau watches                                   profile
==================== ======================================================== =========
cost_per_visit       次均费用: billed amount per settlement                     over_testing, high_value, bundling
visits_per_patient   人次人头比: settlements per distinct patient in the month  return_visits
drug_share           药占比: share of the amount billed for drugs               drug_push
material_share       耗材占比: share billed for materials                       materials
exam_share           检查检验占比: share billed for labs and imaging            over_testing
avg_los              平均住院日: mean length of the stays ending in the month   longer_stays
admission_rate       住院率: admissions per outpatient settlement               more_admissions
readmission_15d      15日再入院率: stays followed by another within 15 days     readmissions
fund_share           基金支付占比: fund paid / billed                           upcoding
high_value_share     高值项目占比: share billed for items of unit price ≥ 100   high_value
==================== ======================================================== =========

A profile lists the indicators it was made to move; others may move with them
(every added line raises the cost per visit a little). Not drift, and clean in
the truth (the confounders of early warning):

* seasonal swings that move all peers alike -- the winter respiratory and
  influenza season (more visits, more drugs) and the outbreak of §8;
* a small institution's noisy month -- a one-off screening campaign (体检日) that
  adds labs and imaging to most of one month's visits at a few small clinics.

Drawn on streams of their own (``drift-plan`` once, ``drift`` per shard), after the
city's own draws, so the persons, rings and the rest of the truth do not move.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ringscope.synth.catalog import INPATIENT_GROUPS
from ringscope.synth.primitives import DAY, IP, KINDS, LCOLS, OUT, PH, concat, lchunk, rint, runif, vchunk

if TYPE_CHECKING:  # pragma: no cover
    from ringscope.synth.generator import _City

__all__ = ["INDICATORS", "PROFILES", "plan", "apply"]

INDICATORS = ("cost_per_visit", "visits_per_patient", "drug_share", "material_share", "exam_share",
              "avg_los", "admission_rate", "readmission_15d", "fund_share", "high_value_share")
#: profile -> the indicators it moves
PROFILES = {
    "over_testing": ("exam_share", "cost_per_visit"),
    "drug_push": ("drug_share",),
    "materials": ("material_share",),
    "high_value": ("high_value_share", "cost_per_visit"),
    "bundling": ("cost_per_visit",),
    "return_visits": ("visits_per_patient",),
    "longer_stays": ("avg_los",),
    "more_admissions": ("admission_rate",),
    "readmissions": ("readmission_15d",),
    "upcoding": ("fund_share",),
}
_PNAMES = list(PROFILES)
_NOISY = len(_PNAMES)          # the code of a noisy month (not drift)
HIGH_VALUE_PRICE = 100.0


def _item_sets(city: "_City") -> dict[str, np.ndarray]:
    code = city.cat_code.astype(str)
    svc = city.cat_type == "service"
    surg = np.zeros(len(code), dtype=bool)
    for k, v in city.pools.items():
        if k.startswith(("surg:", "ip:", "ips:", "perday:", "physio:")) or k == "daily":
            surg[v] = True
    exam = svc & np.array([c.startswith(("0025", "003101", "003102", "003103", "003104")) for c in code])
    drugs = np.unique(np.concatenate([v for k, v in city.pools.items() if k.startswith(("a:", "c:")) or k == "otc"]))
    drugs = drugs[city.cat_cap[drugs] >= 15]           # what a representative pushes: the pricier brands
    mats = np.flatnonzero((city.cat_type == "material") & (city.cat_cap < 100))
    hv = np.flatnonzero((city.cat_cap >= HIGH_VALUE_PRICE) & np.isin(city.cat_type, ["drug", "service"])
                        & ~(surg & ~exam) & (city.cat_class != "C"))
    # at a pharmacy: high-value drugs, reimbursable or not (阿胶 and the like are sold on personal accounts)
    hv_ph = np.flatnonzero(city.cat_is_drug & (city.cat_cap >= HIGH_VALUE_PRICE) & ~surg)
    return {"exam": np.flatnonzero(exam), "drugs": drugs, "materials": mats, "high_value": hv,
            "high_value_drugs": hv_ph, "otc": city.pool("otc")}


# --------------------------------------------------------------------------- plan
def plan(city: "_City") -> None:
    """Who drifts, how, from which month (stream ``drift-plan``); the truth rows."""
    cfg = city.cfg["drift"]
    city.drift_on = bool(cfg.get("enabled", True))
    ni, nd = city.n_inst, city.n_phys
    city.drift_inst = np.full(ni, -1, dtype=np.int64)
    city.drift_inst_first = np.full(ni, 99, dtype=np.int64)
    city.drift_inst_share = np.zeros(ni)
    city.drift_phys = np.full(nd, -1, dtype=np.int64)
    city.drift_phys_first = np.full(nd, 99, dtype=np.int64)
    city.drift_phys_share = np.zeros(nd)
    city.noisy_inst_month = np.full(ni, -1, dtype=np.int64)
    if not city.drift_on:
        return
    rng = city.stream("drift-plan")
    city.drift_items = _item_sets(city)
    fraud_i = {e["idx"] for e in city.truth.entities if e["entity_type"] == "institution"}
    fraud_d = {e["idx"] for e in city.truth.entities if e["entity_type"] == "physician"}
    ring_i = sorted({e["idx"] for e in city.truth.entities if e["entity_type"] == "institution" and e["ring_id"]})
    avoid = set(fraud_i) | {int(x) for x in getattr(city, "outbreak_sites", [])}
    allowed = {k: [_PNAMES.index(p) for p in cfg["profiles"][k]] for k in KINDS}
    fm = cfg["first_month"]

    def assign_inst(insts: np.ndarray) -> None:
        for i in insts.tolist():        # loop per drifting institution (a few per 100,000 persons)
            opts = allowed[KINDS[city.i_kind[i]]]
            if not opts:
                continue
            p = int(opts[rng.integers(0, len(opts))])
            if KINDS[city.i_kind[i]] == "hospital" and city.i_level[i] == 1 and _PNAMES[p] == "longer_stays":
                p = _PNAMES.index("over_testing")
            first = int(rint(rng, fm)) - 1
            city.drift_inst[i], city.drift_inst_first[i] = p, first
            key = {"more_admissions": "admission_share", "readmissions": "readmission_share"}.get(_PNAMES[p], "share")
            city.drift_inst_share[i] = float(runif(rng, cfg[key]))
            for ind in PROFILES[_PNAMES[p]]:
                city.truth.drift.append({"entity_type": "institution", "idx": int(i), "indicator": ind,
                                         "first_period": f"{city.year}-{first + 1:02d}", "profile": _PNAMES[p]})

    # honest institutions with enough business to be watched (above the 30th percentile of their kind)
    n_i = int(max(int(cfg["institutions"]["min"]), round(float(cfg["institutions"]["per_100k"]) * city.N / 1e5)))
    ok = np.zeros(ni, dtype=bool)
    for k in range(4):
        m = np.flatnonzero(city.i_kind == k)
        if len(m):
            ok[m[city.i_weight[m] >= np.quantile(city.i_weight[m], 0.3)]] = True
    ok[list(avoid)] = False
    cand = np.flatnonzero(ok)
    w = city.i_weight[cand]
    pick = rng.choice(cand, size=min(n_i, len(cand)), replace=False, p=w / w.sum()) if len(cand) else cand
    assign_inst(np.sort(pick))
    # a few of the fraud rings' institutions drift too
    k_f = min(len(ring_i), int(rint(rng, cfg["fraud_institutions"])))
    if k_f:
        assign_inst(np.sort(rng.choice(np.array(ring_i), size=k_f, replace=False)))
    # physicians (outpatient prescribers), weighted by how busy they are
    n_d = int(max(int(cfg["physicians"]["min"]), round(float(cfg["physicians"]["per_100k"]) * city.N / 1e5)))
    okd = (city.i_kind[city.d_inst] != 3) & (city.drift_inst[city.d_inst] < 0) & ~np.isin(city.d_inst, list(avoid))
    okd &= ~np.isin(np.arange(nd), city.famous) & ~np.isin(np.arange(nd), list(fraud_d))
    cand = np.flatnonzero(okd)
    w = city.d_weight[cand] * city.i_weight[city.d_inst[cand]]
    pick = np.sort(rng.choice(cand, size=min(n_d, len(cand)), replace=False, p=w / w.sum())) if len(cand) else cand
    popts = [_PNAMES.index(p) for p in cfg["profiles"]["physician"]]
    for d in pick.tolist():              # loop per drifting physician
        p = int(popts[rng.integers(0, len(popts))])
        first = int(rint(rng, fm)) - 1
        city.drift_phys[d], city.drift_phys_first[d] = p, first
        city.drift_phys_share[d] = float(runif(rng, cfg["share"]))
        for ind in PROFILES[_PNAMES[p]]:
            city.truth.drift.append({"entity_type": "physician", "idx": int(d), "indicator": ind,
                                     "first_period": f"{city.year}-{first + 1:02d}", "profile": _PNAMES[p]})
    # noisy months at small primary-care institutions (not drift)
    nm = cfg["noisy_months"]
    small = np.flatnonzero(np.isin(city.i_kind, [1, 2]) & (city.drift_inst < 0) & ~np.isin(np.arange(ni), list(avoid)))
    if len(small):
        small = small[city.i_weight[small] <= np.quantile(city.i_weight[small], 0.4)]
        k = min(len(small), int(rint(rng, nm["count"])))
        noisy = rng.choice(small, size=k, replace=False)
        city.noisy_inst_month[noisy] = rng.integers(1, 12, k)
        city.truth.confounders["noisy_months"] = k


# --------------------------------------------------------------------------- applying it to a block
class _Block:
    """The lines and visits a block gains; keeps the (visit, item) pairs unique."""

    def __init__(self, city: "_City", V: dict, L: dict, rng: np.random.Generator):
        self.city, self.V, self.L, self.rng = city, V, L, rng
        self.ncat = len(city.cat_code)
        self.keys = np.sort(L["vi"] * self.ncat + L["item"])      # (visit, item) pairs billed
        self.added = np.zeros(0, dtype=np.int64)                   # ... and added here (few)
        self.lines: list[dict] = []
        self.touched: list[np.ndarray] = []

    def _billed(self, key: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self.keys, key)
        out = (pos < len(self.keys)) & (self.keys[np.clip(pos, 0, max(len(self.keys) - 1, 0))] == key)
        return out | np.isin(key, self.added)

    def add_items(self, vsel: np.ndarray, pool: np.ndarray, k: np.ndarray, target_days: float | np.ndarray = 7.0) -> None:
        """``k[i]`` items of ``pool`` on visit ``vsel[i]``, only where the rules allow and not billed yet."""
        city, V, rng = self.city, self.V, self.rng
        if not len(vsel) or not len(pool):
            return
        rv = np.repeat(vsel, k)
        it = pool[rng.integers(0, len(pool), len(rv))]
        q, days = city.drug_qty(it, np.broadcast_to(np.asarray(target_days, float), (len(vsel),))[np.repeat(
            np.arange(len(vsel)), k)] if np.ndim(target_days) else np.full(len(rv), float(target_days)))
        q = np.where(city.cat_is_drug[it], q, 1.0)
        days = np.where(city.cat_is_drug[it], days, -1)
        l = lchunk(len(rv), vi=rv, item=it, qty=q, days=days, time=V["start"][rv] + rng.integers(60, 1800, len(rv)))
        br = city.rule_breaks(l, V)
        ok = ~(br["sex_limit"] | br["age_limit"] | br["off_indication"] | br["non_medical"] | br["over_quantity"]
               | br["over_supply"])
        key = rv * self.ncat + it
        ok &= ~self._billed(key)
        o = np.argsort(key, kind="stable")
        first = np.ones(len(key), dtype=bool)
        first[o[1:]] = key[o[1:]] != key[o[:-1]]
        ok &= first
        l = {c: a[ok] for c, a in l.items()}
        if len(l["vi"]):
            self.added = np.concatenate([self.added, key[ok]])
            self.lines.append(l)
            self.touched.append(l["vi"])


def _select(city: "_City", V: dict, month: np.ndarray, p: int, vtypes: tuple[int, ...],
            rng: np.random.Generator) -> np.ndarray:
    """Honest visits of the entities drifting with profile ``p`` from their first month, each
    affected with the entity's share."""
    ok_t = np.isin(V["vtype"], vtypes) & V["_honest"]
    phys = np.clip(V["phys"], 0, None)
    on_i = (city.drift_inst[V["inst"]] == p) & (month >= city.drift_inst_first[V["inst"]])
    on_d = (V["phys"] >= 0) & (city.drift_phys[phys] == p) & (month >= city.drift_phys_first[phys])
    share = np.where(on_i, city.drift_inst_share[V["inst"]], city.drift_phys_share[phys])
    return np.flatnonzero(ok_t & (on_i | on_d) & (rng.random(len(month)) < share))


def _free(V: dict, person: np.ndarray, frm: np.ndarray, to: np.ndarray) -> np.ndarray:
    """Whether each person has no settlement of this block between ``frm`` and ``to`` (seconds)."""
    key = V["person"].astype(np.int64) * (1 << 26) + V["start"] // 60
    order = np.sort(key)
    lo = np.searchsorted(order, person.astype(np.int64) * (1 << 26) + frm // 60, "left")
    hi = np.searchsorted(order, person.astype(np.int64) * (1 << 26) + to // 60, "right")
    return hi == lo


_GROUP_OF_CODE = {g[0][0]: k for k, g in INPATIENT_GROUPS.items()}


def apply(city: "_City", V: dict, L: dict, C: dict, rng: np.random.Generator) -> dict:
    """Drift (and noisy months) on one block: lines added to its visits, new visits, stays made
    longer, fund shares raised. Returns ``lines`` (for existing visits), ``chunks`` (new visits),
    ``touched`` (visits whose amounts changed) and ``captures`` (ward rounds of longer stays)."""
    out = {"lines": [], "chunks": [], "touched": [], "captures": None}
    if not getattr(city, "drift_on", False):
        return out
    with city.using(rng):
        _apply(city, V, L, C, rng, out)
    return out


def _apply(city: "_City", V: dict, L: dict, C: dict, rng: np.random.Generator, out: dict) -> None:
    cfg = city.cfg["drift"]
    items = city.drift_items
    month = city.month_of(V["start"])
    V["_honest"] = np.array([x is None for x in V["label"]], dtype=bool)
    blk = _Block(city, V, L, rng)
    P = {n: i for i, n in enumerate(_PNAMES)}
    k_lines = lambda n: rint(rng, cfg["lines"], n)  # noqa: E731
    # lines added to existing settlements
    # (a pharmacy only sells drugs: its high-value items are drugs)
    for name, pool, vt, days in (("over_testing", "exam", (OUT,), 7), ("drug_push", "drugs", (OUT,), 28),
                                 ("materials", "materials", (OUT,), 7), ("high_value", "high_value", (OUT,), 14),
                                 ("high_value", "high_value_drugs", (PH,), 14), ("bundling", "otc", (PH,), 7)):
        vsel = _select(city, V, month, P[name], vt, rng)
        k = k_lines(len(vsel)) + (1 if name == "drug_push" else 0)
        blk.add_items(vsel, items[pool], k, float(days))
    # noisy months: a screening campaign adds tests to most of one month's visits at a small clinic
    nmon = city.noisy_inst_month[V["inst"]]
    vsel = np.flatnonzero((nmon >= 0) & (month == nmon) & (V["vtype"] == OUT) & V["_honest"]
                          & (rng.random(len(month)) < float(runif(rng, cfg["noisy_months"]["share"]))))
    blk.add_items(vsel, items["exam"], rint(rng, [2, 3], len(vsel)))
    # fund share: settlements billed as registered chronic (门慢) care
    vsel = _select(city, V, month, P["upcoding"], (OUT, PH), rng)
    V["chronic"][vsel] = True
    blk.touched.append(vsel)
    # return visits (复诊 asked for): the same patient, physician and diagnosis a few days later
    vsel = _select(city, V, month, P["return_visits"], (OUT,), rng)
    if len(vsel):
        k = 1 + (rng.random(len(vsel)) < 0.4)
        rv = np.repeat(vsel, k)
        j = np.arange(len(rv)) - np.repeat(np.cumsum(k) - k, k)
        t = (V["start"][rv] // DAY + rint(rng, [2, 7], len(rv)) * (j + 1)) * DAY + city.clinic_seconds(len(rv))
        ok = (t < city.ndays * DAY) & city.alive_mask(V["person"][rv], t)
        ok &= _free(V, V["person"][rv], t // DAY * DAY, t // DAY * DAY + DAY - 1)   # no other visit that day
        key = V["person"][rv].astype(np.int64) * 400 + t // DAY
        first = np.zeros(len(key), dtype=bool)
        first[np.unique(key, return_index=True)[1]] = True                             # nor two of them
        ok &= first
        rv, t = rv[ok], t[ok]
        m = len(rv)
        v = vchunk(m, person=V["person"][rv], inst=V["inst"][rv], phys=V["phys"][rv], vtype=OUT, start=t, end=t,
                   diag=V["diag"][rv], presenter=V["presenter"][rv])
        parts = [city.fixed_lines(np.arange(m), city.consult_item(V["inst"][rv]), 1.0, t)]
        # a drug the first visit had, for a week
        first_drug = np.full(len(V["person"]), -1, dtype=np.int64)
        dl = np.flatnonzero(city.cat_is_drug[L["item"]])
        first_drug[L["vi"][dl][::-1]] = L["item"][dl][::-1]
        fd = first_drug[rv]
        has = np.flatnonzero(fd >= 0)
        q, days = city.drug_qty(fd[has], np.full(len(has), 7.0))
        parts.append(lchunk(len(has), vi=has, item=fd[has], qty=q, days=days, time=t[has]))
        out["chunks"].append((v, concat(parts, LCOLS)))
    # longer stays: discharged later, daily charges for the extra days
    vsel = _select(city, V, month, P["longer_stays"], (IP,), rng)
    if len(vsel):
        los = np.maximum(1, (V["end"][vsel] - V["start"][vsel]) // DAY)
        ext = np.maximum(2, np.round(los * runif(rng, cfg["los_extension"], len(vsel)))).astype(np.int64)
        old_end = V["end"][vsel]
        new_end = old_end + ext * DAY
        ok = (new_end < (city.ndays - 1) * DAY) & _free(V, V["person"][vsel], old_end + 60, new_end + DAY)
        ok &= city.alive_mask(V["person"][vsel], new_end + DAY)
        vsel, old_end, new_end, los, ext = vsel[ok], old_end[ok], new_end[ok], los[ok], ext[ok]
        V["end"][vsel] = new_end
        daily = np.isin(L["item"], city.pool("daily")) & np.isin(L["vi"], vsel)
        newlos = np.zeros(len(V["person"]), dtype=np.int64)
        newlos[vsel] = los + ext
        L["qty"][daily] = np.minimum(newlos[L["vi"][daily]], np.nan_to_num(city.cat_maxqty[L["item"][daily]], nan=180))
        L["amount"][daily] = np.round(L["qty"][daily] * L["price"][daily], 2)
        blk.touched.append(vsel)
        # the discharge settlement is captured at the new end; ward rounds go on
        pos = np.full(len(V["person"]), -1, dtype=np.int64)
        pos[vsel] = np.arange(len(vsel))
        cap_v = np.where(C["visit"] >= 0, C["visit"], 0)
        moved = (C["loc"] == 1) & (C["visit"] >= 0) & (pos[cap_v] >= 0)
        C["t"][moved] = new_end[pos[cap_v[moved]]]
        w = vsel[city.i_terminal[V["inst"][vsel]] & V["ward"][vsel]]
        if len(w):
            rows = city.ward_rounds(V, w, old_end[pos[w]] + DAY, new_end[pos[w]])
            out["captures"] = city.encode_captures(city.drop_outages(rows))
    # more admissions of the hospital's outpatients; readmissions within 15 days (rehabilitation)
    saved = city.chunks
    city.chunks = []
    vsel = _select(city, V, month, P["more_admissions"], (OUT,), rng)
    if len(vsel):
        person = V["person"][vsel]
        age = city.p_age0[person]
        g = np.where(age >= 45, np.where(rng.random(len(vsel)) < 0.5, "I20", "I63"),
                     np.where(age >= 30, "M51", "J18")).astype(object)
        los = rint(rng, [3, 8], len(vsel))
        day = V["start"][vsel] // DAY + 1
        ok = (day + los < city.ndays - 1) & _free(V, person, day * DAY, (day + los + 1) * DAY)
        ok &= city.alive_mask(person, (day + los + 1) * DAY)
        sel = np.flatnonzero(ok)
        city.inpatient_visits(person[sel], g[sel], day[sel], los[sel], V["inst"][vsel][sel])
    vsel = _select(city, V, month, P["readmissions"], (IP,), rng)
    if len(vsel):
        code = [city.diag_tuples[d][0] if city.diag_tuples[d] else "" for d in V["diag"][vsel]]
        g = np.array([_GROUP_OF_CODE.get(c, "") for c in code], dtype=object)
        person = V["person"][vsel]
        day = V["end"][vsel] // DAY + rint(rng, [3, 13], len(vsel))
        los = rint(rng, [3, 8], len(vsel))
        ok = (g != "") & (day + los < city.ndays - 1)
        ok &= _free(V, person, V["end"][vsel] + 60, (day + los + 1) * DAY)
        ok &= city.alive_mask(person, (day + los + 1) * DAY)
        sel = np.flatnonzero(ok)
        diag = np.array([city.diag_id(("Z50.9", c)) for c in np.array(code, dtype=object)[sel]], dtype=np.int64)
        city.inpatient_visits(person[sel], g[sel], day[sel], los[sel], V["inst"][vsel][sel],
                              phys=V["phys"][vsel][sel], diag=diag)
    out["chunks"] += [(c.v, c.l) for c in city.chunks]
    city.chunks = saved
    del V["_honest"]
    out["lines"] = blk.lines
    out["touched"] = blk.touched
