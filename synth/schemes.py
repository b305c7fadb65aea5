"""Fraud schemes, sporadic billing violations and closed cases of the synthetic city.

Each scheme is injected into a :class:`ringscope.synth.generator._City`
before its visits are assembled, with parameters drawn *per ring* from the
ranges of ``synth/defaults.yaml`` (sizes, rates, durations, whether the
complicit institution has a face terminal), so that no detector can key on a
constant. Rings are drawn from the city's main stream, in the original order;
with ``rings: fixed`` each ring draws from a stream of the seed alone and
chooses its participants on a stream apart (:meth:`_City.ring_stream`), so the
same seed plants rings of the same number and shape at any size. The
drug-resale scheme lives in :mod:`ringscope.synth.resale` (its own streams).
The ground truth follows section 3 of the data contract:

* ``rings``: one row per ring, members ``person:..;physician:..;institution:..``;
* ``entities``: every entity that took part (``ring_id`` empty for lone actors);
* ``violations``: scheme visits (``line_id`` empty: the whole settlement is
  fraudulent) and rule-breaking lines (``line_id`` set; ``after_death`` is a
  whole visit).

Schemes follow the typologies of the National Healthcare Security
Administration's published fraud cases (国家医保局 曝光台) and of the 2021
Regulation on the Supervision of Medical Insurance Funds (《医疗保障基金使用监督管理条例》,
arts. 38-41): 借卡/冒名就医, 聚敛盗刷/套现, 医患合谋/串换药品, 挂床/虚假住院,
分解住院, and 超量/重复开药.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ringscope.synth.catalog import INPATIENT_GROUPS
from ringscope.synth.primitives import IP, KINDS, LCOLS, OUT, PH, RULES, concat, lchunk, rint, runif, vchunk

if TYPE_CHECKING:  # pragma: no cover
    from ringscope.synth.generator import _City

__all__ = ["inject_all", "inject_violations", "known_cases", "n_units", "take_persons", "take_institutions",
           "closed_case"]

DAY = 86_400


def n_units(cfg: dict, persons: int, min_key: str = "min_rings") -> int:
    """How many rings / lone actors of a scheme a city of ``persons`` gets."""
    return int(max(int(cfg.get(min_key, 0)), round(float(cfg.get("per_100k", 0)) * persons / 1e5)))


# --------------------------------------------------------------------------- choosing participants
def _init_used(city: "_City") -> None:
    if not hasattr(city, "used_p"):
        city.used_p = np.zeros(city.N, dtype=bool)
        city.used_i = np.zeros(city.n_inst, dtype=bool)
        city.used_d = np.zeros(city.n_phys, dtype=bool)


def take_persons(city: "_City", k: int, ok: np.ndarray, district: int | None = None,
                 weight: np.ndarray | None = None, local: float = 0.7) -> np.ndarray:
    """``k`` distinct unused persons among ``ok`` (mostly from ``district``)."""
    rng = city.pick_rng
    cand = np.flatnonzero(ok & ~city.used_p)
    if len(cand) == 0:
        return cand
    w = np.ones(len(cand)) if weight is None else weight[cand].astype(float)
    if district is not None:
        w = w * np.where(city.p_dist[cand] == district, local * len(city.districts), 1.0 - local + 1e-3)
    k = min(k, len(cand))
    pick = rng.choice(cand, size=k, replace=False, p=w / w.sum())
    city.used_p[pick] = True
    return np.sort(pick)


def take_institutions(city: "_City", kinds: list[int], k: int, terminal: bool | None,
                      level_max: int = 3, prefer_private: bool = False, ok: np.ndarray | None = None) -> np.ndarray:
    """``k`` unused institutions of ``kinds`` (and ``ok``); their face terminal is set to ``terminal``
    (left as it is when None)."""
    rng = city.pick_rng
    allowed = ok
    ok = np.isin(city.i_kind, kinds) & ~city.used_i & ((city.i_kind != 0) | (city.i_level <= level_max))
    if allowed is not None:
        ok &= allowed
    cand = np.flatnonzero(ok)
    if len(cand) == 0:
        cand = np.flatnonzero(np.isin(city.i_kind, kinds) & ~city.used_i)
    if len(cand) == 0:
        cand = np.flatnonzero(np.isin(city.i_kind, kinds))
    w = np.where(city.i_terminal[cand] == terminal, 3.0, 1.0) if terminal is not None else np.ones(len(cand))
    if prefer_private:
        w = w * np.where(city.i_public[cand], 0.3, 1.0)
    k = min(k, len(cand))
    pick = rng.choice(cand, size=k, replace=False, p=w / w.sum())
    city.used_i[pick] = True
    if terminal is not None:
        city.i_terminal[pick] = terminal
    return pick


def _plain_physicians(city: "_City", inst: int, k: int) -> np.ndarray:
    """``k`` ordinary (not famous, not yet complicit) physicians of ``inst``."""
    at = np.flatnonzero(city.d_inst == inst)
    cand = at[~city.used_d[at] & ~np.isin(at, city.famous)]
    if len(cand) == 0:
        cand = at
    pick = city.pick_rng.choice(cand, size=min(k, len(cand)), replace=False)
    city.used_d[pick] = True
    return np.sort(pick)


def _alive_all_year(city: "_City") -> np.ndarray:
    return city.p_death < 0


def _record_ring(city: "_City", scheme: str, ring_id: str, members: list[tuple[str, int]]) -> None:
    members = list(dict.fromkeys((t, int(i)) for t, i in members))
    city.truth.rings.append({"ring_id": ring_id, "scheme": scheme, "members": members})
    for t, i in members:
        city.truth.entities.append({"entity_type": t, "idx": i, "scheme": scheme, "ring_id": ring_id})


def _record_lone(city: "_City", scheme: str, members: list[tuple[str, int]]) -> None:
    for t, i in members:
        city.truth.entities.append({"entity_type": t, "idx": int(i), "scheme": scheme, "ring_id": None})


def _items_diag(city: "_City", items: np.ndarray) -> tuple[str, ...]:
    """A diagnosis list that covers the indication limits of ``items``."""
    codes = []
    for it in np.unique(items):
        pre = city.cat_prefixes[int(it)]
        if pre:
            p = pre[0]
            codes.append((p + "0" * (3 - len(p)))[:3] + ".9")
    return tuple(sorted(set(codes)))


# --------------------------------------------------------------------------- schemes
def card_lending(city: "_City") -> None:
    """借卡/冒名就医: 1-3 organisers present 5-30 other persons' credentials at complicit sites."""
    cfg = city.cfg["schemes"]["card_lending"]
    kinds_cfg = cfg["institution_kinds"]
    knames = list(kinds_cfg)
    kp = np.array([kinds_cfg[k] for k in knames], float)
    adult = (city.p_age0 >= 25) & (city.p_age0 <= 65) & _alive_all_year(city)
    for r in range(n_units(cfg, city.ring_persons)):
        with city.ring_stream("card_lending", r):
            rng = city.rng
            kind = KINDS.index(knames[rng.choice(len(knames), p=kp / kp.sum())])
            has_t = bool(rng.random() < cfg["p_terminal"])
            insts = take_institutions(city, [kind], int(rint(rng, cfg["institutions"])), has_t)
            d = int(city.i_dist[insts[0]])
            orgs = take_persons(city, int(rint(rng, cfg["organisers"])), adult, d)
            old_w = np.where(city.p_age0 >= 50, 3.0, 1.0)
            cards = take_persons(city, int(rint(rng, cfg["cards"])), _alive_all_year(city) & (city.p_age0 >= 18), d, old_w)
            if len(orgs) == 0 or len(cards) == 0:
                continue
            months = int(rint(rng, cfg["months"]))
            m0 = int(rng.integers(0, 12 - months + 1))
            lo, hi = city.month_start[m0], city.month_start[min(12, m0 + months)]
            rate = float(runif(rng, cfg["uses_per_card_month"]))
            k = np.maximum(1, rng.poisson(rate * months, len(cards)))
            person = np.repeat(cards, k)
            n = len(person)
            day = rng.integers(lo, hi, n)
            ev_inst = insts[rng.integers(0, len(insts), n)]
            pharm = city.i_kind[ev_inst] == 3
            t = day * DAY + np.where(pharm, city.shop_seconds(n), city.clinic_seconds(n))
            doc_of = {int(i): int(_plain_physicians(city, i, 1)[0]) for i in insts}
            phys = np.where(pharm, -1, np.array([doc_of[i] for i in ev_inst.tolist()]))
            themes = ["I10", "E11", "I25"]
            th = rng.integers(0, len(themes), n)
            diag_ids = np.array([city.diag_id((city.chronic_code(x),)) for x in themes])
            diag = np.where(pharm, 0, diag_ids[th])
            presenter = orgs[rng.integers(0, len(orgs), n)]
            v = vchunk(n, person=person, inst=ev_inst, phys=phys, vtype=np.where(pharm, PH, OUT),
                          start=t, end=t, diag=diag, presenter=presenter, label="card_lending")
            vi = np.arange(n)
            parts = []
            cl = np.flatnonzero(~pharm)
            if len(cl):
                parts.append(city.fixed_lines(cl, city.consult_item(ev_inst[cl]), 1.0, t[cl]))
                for j, x in enumerate(themes):
                    m = cl[th[cl] == j]
                    parts.append(city.pool_lines(m, f"c:{x}", rng.integers(1, 3, len(m)), t[m], 30.0))
            ph = vi[pharm]
            parts.append(city.pool_lines(ph, "otc", rng.integers(2, 5, len(ph)), t[ph], 14.0))
            city.add(v, concat(parts, LCOLS))
            members = [("person", p) for p in np.concatenate([orgs, cards])]
            members += [("institution", i) for i in insts]
            members += [("physician", p) for p in set(phys[phys >= 0].tolist())]
            _record_ring(city, "card_lending", f"CL{r + 1:03d}", members)


def card_cashout(city: "_City") -> None:
    """聚敛盗刷/套现: a pharmacy hoards 10-60 cards and swipes them in batches, often at night."""
    cfg = city.cfg["schemes"]["card_cashout"]
    cash = city.pool("cash")
    for r in range(n_units(cfg, city.ring_persons)):
        with city.ring_stream("card_cashout", r):
            rng = city.rng
            has_t = bool(rng.random() < cfg["p_terminal"])
            ph = take_institutions(city, [3], 1, has_t)[0]
            d = int(city.i_dist[ph])
            w = np.where(city.p_employee, 4.0, 1.0) * np.where(city.p_age0 >= 55, 2.0, 1.0)
            cards = take_persons(city, int(rint(rng, cfg["cards"])), _alive_all_year(city) & (city.p_age0 >= 18), d, w)
            if len(cards) == 0:
                continue
            nb = int(rint(rng, cfg["batches"]))
            night = rng.random() < cfg["p_night"]
            persons, times, vis_items, diags = [], [], [], []
            used_cards: set[int] = set()
            for b in range(nb):  # loop per batch (a handful per ring)
                size = min(len(cards), int(rint(rng, cfg["batch_size"])))
                who = rng.choice(cards, size=size, replace=False)
                day = int(rng.integers(0, city.ndays))
                h0 = (rng.integers(20 * 3600 + 1800, 23 * 3600) if night
                      else rng.choice([rng.integers(6 * 3600 + 1800, 7 * 3600 + 1800), rng.integers(12 * 3600, 13 * 3600)]))
                gaps = runif(rng, cfg["seconds_between"], size)
                t = day * DAY + int(h0) + np.cumsum(gaps).astype(np.int64)
                items = rng.choice(cash, size=int(rng.integers(1, 4)), replace=False)
                did = city.diag_id(_items_diag(city, items))
                persons.append(who)
                times.append(t)
                vis_items.append(np.tile(items, (size, 1)))
                diags.append(np.full(size, did))
                used_cards.update(who.tolist())
            person = np.concatenate(persons)
            t = np.concatenate(times)
            n = len(person)
            v = vchunk(n, person=person, inst=ph, vtype=PH, start=t, end=t, diag=np.concatenate(diags),
                          presenter=-1, capture=False, chronic=True, label="card_cashout", terminal=0)
            its = [x for x in vis_items]
            k = np.concatenate([np.full(len(x), x.shape[1]) for x in its])
            item = np.concatenate([x.ravel() for x in its])
            vi = np.repeat(np.arange(n), k)
            q, days = city.drug_qty(item, np.full(len(item), float(rng.integers(30, 85))))
            city.add(v, lchunk(len(vi), vi=vi, item=item, qty=q, days=days, time=t[vi]))
            members = [("institution", ph)] + [("person", p) for p in sorted(used_cards)]
            city.used_p[np.setdiff1d(cards, np.array(sorted(used_cards)))] = False
            _record_ring(city, "card_cashout", f"CC{r + 1:03d}", members)


COLLUSIVE_THEMES = (("E11", "E11.9", ("内分泌科", "全科")), ("I63", "I63.9", ("神经内科", "全科")),
                    ("J44", "J44.9", ("呼吸内科", "全科")), ("C34", "C34.9", ("肿瘤科",)))


def collusive_prescribing(city: "_City") -> None:
    """医患合谋: a physician, 8-40 recruited patients and a pharmacy; synchronised high-value scripts."""
    cfg = city.cfg["schemes"]["collusive_prescribing"]
    tw = np.array([0.4, 0.3, 0.2, 0.1])
    for r in range(n_units(cfg, city.ring_persons)):
        with city.ring_stream("collusive_prescribing", r):
            rng = city.rng
            name, code, specs = COLLUSIVE_THEMES[rng.choice(len(COLLUSIVE_THEMES), p=tw)]
            sp = [city.spec_index[s] for s in specs if s in city.spec_index]
            cand = np.flatnonzero(np.isin(city.d_spec, sp) & np.isin(city.i_kind[city.d_inst], [0, 1])
                                  & ~city.used_d & ~np.isin(np.arange(city.n_phys), city.famous))
            if len(cand) == 0:
                cand = np.flatnonzero(np.isin(city.i_kind[city.d_inst], [0, 1]) & ~city.used_d)
            doc = int(city.pick_rng.choice(cand))
            city.used_d[doc] = True
            home = int(city.d_inst[doc])
            d = int(city.i_dist[home])
            has_t = bool(rng.random() < cfg["p_terminal"])
            ph = take_institutions(city, [3], 1, has_t)[0]
            pts = take_persons(city, int(rint(rng, cfg["patients"])),
                               _alive_all_year(city) & (city.p_age0 >= 35), d)
            if len(pts) == 0:
                continue
            ns = int(rint(rng, cfg["sessions"]))
            first = int(rng.integers(0, max(1, city.ndays - ns * 32)))
            sdays = first + np.cumsum(np.r_[0, rng.integers(25, 36, ns - 1)])
            sdays = sdays[sdays < city.ndays - 3]
            att = float(runif(rng, cfg["attendance"]))
            hours = float(runif(rng, cfg["session_hours"]))
            rs = np.repeat(np.arange(len(sdays)), len(pts))
            rp = np.tile(pts, len(sdays))
            keep = rng.random(len(rs)) < att
            rs, rp = rs[keep], rp[keep]
            n = len(rp)
            t_out = sdays[rs] * DAY + int(rng.integers(8 * 3600, 15 * 3600)) + (rng.random(n) * hours * 3600).astype(np.int64)
            did = city.diag_id((code,))
            v1 = vchunk(n, person=rp, inst=home, phys=doc, vtype=OUT, start=t_out, end=t_out, diag=did,
                           presenter=rp, label="collusive_prescribing")
            l1 = city.fixed_lines(np.arange(n), city.consult_item(np.full(n, home)), 1.0, t_out)
            city.add(v1, l1)
            delay = rint(rng, cfg["fill_delay_days"], n)
            t_ph = (sdays[rs] + delay) * DAY + city.shop_seconds(n)
            pres = np.where(rng.random(n) < 0.5, rp, -1)
            v2 = vchunk(n, person=rp, inst=ph, phys=doc, vtype=PH, start=t_ph, end=t_ph, diag=did,
                           presenter=pres, chronic=True, label="collusive_prescribing")
            hv = city.pool(f"hv:{name}")
            combo = rng.choice(hv, size=int(rng.integers(1, min(len(hv), 3) + 1)), replace=False)
            k = len(combo)
            vi = np.repeat(np.arange(n), k)
            item = np.tile(combo, n)
            q, days = city.drug_qty(item, np.full(len(item), float(rng.integers(28, 85))))
            city.add(v2, lchunk(len(vi), vi=vi, item=item, qty=q, days=days, time=t_ph[vi]))
            members = [("physician", doc), ("institution", ph)] + [("person", p) for p in np.unique(rp)]
            city.used_p[np.setdiff1d(pts, rp)] = False
            _record_ring(city, "collusive_prescribing", f"CP{r + 1:03d}", members)


def ghost_admission(city: "_City") -> None:
    """挂床/虚假住院: waves of recruited elderly admitted together, never seen on the ward."""
    cfg = city.cfg["schemes"]["ghost_admission"]
    for r in range(n_units(cfg, city.ring_persons)):
        with city.ring_stream("ghost_admission", r):
            rng = city.rng
            has_t = bool(rng.random() < cfg["p_terminal"])
            h = take_institutions(city, [0], 1, has_t, level_max=2, prefer_private=True)[0]
            d = int(city.i_dist[h])
            rec = take_persons(city, int(rint(rng, cfg["recruits"])),
                               _alive_all_year(city) & (city.p_age0 >= 60), d, local=0.85)
            if len(rec) == 0:
                continue
            theme = str(rng.choice(["M51", "I63", "E11"]))
            docs = _plain_physicians(city, h, int(rng.integers(1, 3)))
            nw = int(rint(rng, cfg["waves"]))
            wave_days = np.sort(rng.choice(np.arange(5, city.ndays - 30), size=nw, replace=False))
            person, day = [], []
            for wd in wave_days:  # loop per wave
                size = min(len(rec), int(rint(rng, cfg["wave_size"])))
                who = rng.choice(rec, size=size, replace=False)
                person.append(who)
                day.append(wd + rng.integers(0, 2, size))
            person = np.concatenate(person)
            day = np.concatenate(day)
            n = len(person)
            los = rint(rng, cfg["los"], n)
            phys = docs[rng.integers(0, len(docs), n)]
            pres = np.where(rng.random(n) < 0.5, person, -1)
            city.inpatient_visits(person, np.full(n, theme, dtype=object), day, los, np.full(n, h), phys=phys,
                                  label="ghost_admission", ward=False, presenter=pres, physio=True)
            members = [("institution", h)] + [("physician", p) for p in docs] + [("person", p) for p in np.unique(person)]
            city.used_p[np.setdiff1d(rec, person)] = False
            _record_ring(city, "ghost_admission", f"GA{r + 1:03d}", members)


def split_admission(city: "_City") -> None:
    """分解住院: one stay billed as 2-3 admissions a few days apart, same diagnosis (lone actors)."""
    with city.ring_stream("split_admission", 0):
        _split_admission(city)


def _split_admission(city: "_City") -> None:
    rng, cfg = city.rng, city.cfg["schemes"]["split_admission"]
    n = n_units(cfg, city.ring_persons, "min_actors")
    ppl = take_persons(city, n, _alive_all_year(city) & (city.p_age0 >= 50))
    if len(ppl) == 0:
        return
    hosp = np.flatnonzero((city.i_kind == 0) & (city.i_level >= 2) & ~city.used_i)
    if len(hosp) == 0:
        hosp = np.flatnonzero(city.i_kind == 0)
    h = city.pick_inst(hosp, city.p_dist[ppl], 0.5)
    groups = np.array(["I63", "J44", "M51", "I50", "S72"], dtype=object)
    ok_age = np.array([[city.p_age0[p] >= INPATIENT_GROUPS[g][2] and city.p_age0[p] <= INPATIENT_GROUPS[g][3]
                        for g in groups] for p in ppl])  # loop per actor (tens)
    g = np.array([groups[rng.choice(np.flatnonzero(o))] if o.any() else "I63" for o in ok_age], dtype=object)
    k = rint(rng, cfg["parts"], len(ppl))
    total = rint(rng, cfg["total_los"], len(ppl))
    start = rng.integers(0, city.ndays - 60, len(ppl))
    rp = np.repeat(np.arange(len(ppl)), k)
    share = rng.uniform(0.6, 1.4, len(rp))
    share = share / np.bincount(rp, weights=share)[rp]
    los = np.maximum(2, np.round(share * total[rp])).astype(np.int64)
    gap = rint(rng, cfg["gap_days"], len(rp))
    # admission day of part j = start + sum over the earlier parts of (length of stay + gap)
    cum = np.cumsum(np.r_[0, (los + gap)])[:-1]
    first_idx = np.repeat(np.cumsum(k) - k, k)
    day = start[rp] + cum - cum[first_idx]
    city.inpatient_visits(ppl[rp], g[rp], day, los, h[rp], label="split_admission")
    for p, hh in zip(ppl, h):
        _record_lone(city, "split_admission", [("person", p), ("institution", hh)])


SHOP_THEMES = (("sleep", "G47.0"), ("insulin", "E11.9"))


def doctor_shopping(city: "_City") -> None:
    """超量开药/doctor shopping: one person collects one drug class from 5-12 prescribers."""
    cfg = city.cfg["schemes"]["doctor_shopping"]
    n = n_units(cfg, city.ring_persons, "min_actors")
    with city.ring_stream("doctor_shopping", -1):
        ppl = take_persons(city, n, _alive_all_year(city) & (city.p_age0 >= 25))
    allowed = np.flatnonzero(city.i_kind != 3)
    for a, p in enumerate(ppl):  # loop per actor
        with city.ring_stream("doctor_shopping", a):
            _shopper(city, cfg, p, allowed)


def _shopper(city: "_City", cfg: dict, p: int, allowed: np.ndarray) -> None:
    rng = city.rng
    theme, code = SHOP_THEMES[int(rng.integers(0, len(SHOP_THEMES)))]
    ni = int(rint(rng, cfg["institutions"]))
    insts = city.pick_rng.choice(allowed, size=min(ni, len(allowed)), replace=False)
    npres = max(len(insts), int(rint(rng, cfg["prescribers"])))
    pres_inst = np.concatenate([insts, city.pick_rng.choice(insts, npres - len(insts))])
    docs = np.unique(city.pick_phys(pres_inst, np.full(len(pres_inst), -1)))
    months = int(rint(rng, cfg["months"]))
    d0 = int(rng.integers(0, max(1, city.ndays - months * 30)))
    gaps = rint(rng, cfg["interval_days"], 80)
    days = d0 + np.cumsum(gaps)
    days = days[days < min(city.ndays, d0 + months * 30)]
    if len(days) < 3:
        days = d0 + np.arange(3) * 7
    m = len(days)
    doc = docs[rng.integers(0, len(docs), m)]
    inst = city.d_inst[doc]
    t = days * DAY + city.clinic_seconds(m)
    did = city.diag_id((code,))
    v = vchunk(m, person=np.full(m, p), inst=inst, phys=doc, vtype=OUT, start=t, end=t, diag=did,
                  presenter=np.full(m, p), label="doctor_shopping")
    pool = city.pool(f"shop:{theme}")
    item = pool[rng.integers(0, len(pool), m)]
    q, dsup = city.drug_qty(item, np.full(m, 30.0))
    lines = concat([city.fixed_lines(np.arange(m), city.consult_item(inst), 1.0, t),
                       lchunk(m, vi=np.arange(m), item=item, qty=q, days=dsup, time=t)], LCOLS)
    city.add(v, lines)
    _record_lone(city, "doctor_shopping", [("person", p)])


def inject_all(city: "_City") -> None:
    _init_used(city)
    card_lending(city)
    card_cashout(city)
    collusive_prescribing(city)
    ghost_admission(city)
    split_admission(city)
    doctor_shopping(city)


# --------------------------------------------------------------------------- sporadic violations
def inject_violations(city: "_City") -> None:
    """Line- and visit-level rule breaks on honest settlements, each labelled with its rule."""
    rng = city.rng
    vc = city.cfg["violations"]
    V, L = city.V, city.L
    nv = len(V["person"])
    count = {r: int(max(vc["min_each"], round(float(vc["per_10k_visits"].get(r, 0)) * nv / 1e4)))
             for r in RULES}
    honest_v = np.array([x is None for x in V["label"]], dtype=bool)
    vic = honest_v & (V["vtype"] != IP)
    honest_l = honest_v[L["vi"]] & np.array([x is None for x in L["label"]], dtype=bool)
    taken = np.zeros(len(L["vi"]), dtype=bool)
    taken_v = np.zeros(nv, dtype=bool)
    it = L["item"]

    def pick_lines(mask: np.ndarray, k: int) -> np.ndarray:
        cand = np.flatnonzero(mask & honest_l & ~taken)
        sel = rng.choice(cand, size=min(k, len(cand)), replace=False) if len(cand) else cand
        taken[sel] = True
        taken_v[L["vi"][sel]] = True
        return sel

    def pick_visits(mask: np.ndarray, k: int) -> np.ndarray:
        cand = np.flatnonzero(mask & ~taken_v)
        sel = rng.choice(cand, size=min(k, len(cand)), replace=False) if len(cand) else cand
        taken_v[sel] = True
        return sel

    maxq, maxd, cap = city.cat_maxqty[it], city.cat_maxdays[it], city.cat_cap[it]
    # in-place edits of existing lines
    sel = pick_lines(~np.isnan(cap) & (city.cat_type[it] != "non_medical"), count["price_over_cap"])
    L["price"][sel] = cap[sel] * rng.uniform(1.15, 1.8, len(sel))
    L["label"][sel] = "price_over_cap"
    sel = pick_lines(city.cat_is_drug[it] & ~np.isnan(maxq) & (L["days"] >= 0), count["over_quantity"])
    L["qty"][sel] = maxq[sel] + rng.integers(1, 4, len(sel)) * np.maximum(1, np.ceil(maxq[sel] / 3))
    L["label"][sel] = "over_quantity"
    sel = pick_lines(city.cat_is_drug[it] & ~np.isnan(maxd) & (L["days"] >= 0), count["over_supply"])
    L["days"][sel] = (maxd[sel] + rng.integers(7, 61, len(sel))).astype(np.int64)
    L["label"][sel] = "over_supply"
    # duplicated lines (the copy is the violation)
    sel = pick_lines(np.isin(city.cat_type[it], ["drug", "service"]), count["duplicate_charge"])
    dup = {k: a[sel].copy() for k, a in L.items()}
    dup["label"][:] = "duplicate_charge"
    new = [dup]
    person = V["person"]
    age = (V["start"] // DAY - city.p_birth[person]) / 365.2425
    male = city.p_male[person]
    noind = ~city.cat_has_ind

    def add_item_lines(vsel: np.ndarray, items: np.ndarray, rule: str) -> None:
        if len(vsel) == 0:
            return
        q = np.ones(len(vsel))
        new.append(lchunk(len(vsel), vi=vsel, item=items, qty=q,
                             days=np.where(city.cat_is_drug[items], np.minimum(7, np.nan_to_num(city.cat_maxdays[items], nan=7)), -1).astype(np.int64),
                             time=V["start"][vsel], label=rule))

    # sex limits
    f_items = np.flatnonzero((city.cat_sex == "F") & noind & (np.nan_to_num(city.cat_amin, nan=0) <= 18))
    m_items = np.flatnonzero((city.cat_sex == "M") & noind & (np.nan_to_num(city.cat_amin, nan=0) <= 18))
    vsel = pick_visits(vic & (age >= 19), count["sex_limit"])
    items = np.where(male[vsel], f_items[rng.integers(0, len(f_items), len(vsel))],
                     m_items[rng.integers(0, len(m_items), len(vsel))])
    add_item_lines(vsel, items, "sex_limit")
    # age limits: children's drugs billed to adults, adults-only drugs to young children
    kid_items = np.flatnonzero(~np.isnan(city.cat_amax) & (city.cat_sex == "") & noind)
    adult_items = np.flatnonzero((np.nan_to_num(city.cat_amin, nan=0) >= 18) & (city.cat_sex == "") & noind
                                 & city.cat_is_drug)
    vsel = pick_visits(vic & ((age >= 25) | (age < 10)), count["age_limit"])
    items = np.where(age[vsel] >= 25, kid_items[rng.integers(0, len(kid_items), len(vsel))],
                     adult_items[rng.integers(0, len(adult_items), len(vsel))])
    add_item_lines(vsel, items, "age_limit")
    # off-indication: a restricted item on a visit whose diagnoses do not allow it
    ind_items = np.flatnonzero(city.cat_has_ind & (city.cat_sex == "") & city.cat_is_drug
                               & (np.nan_to_num(city.cat_amin, nan=0) <= 18) & np.isnan(city.cat_amax))
    vsel = pick_visits(vic & (age >= 19), count["off_indication"] * 2)
    items = ind_items[rng.integers(0, len(ind_items), len(vsel))]
    probe = lchunk(len(vsel), vi=vsel, item=items, qty=1.0, time=V["start"][vsel])
    br = city.rule_breaks(probe, V)
    good = br["off_indication"] & ~br["age_limit"] & ~br["sex_limit"]
    taken_v[vsel[~good]] = False
    vsel, items = vsel[good][: count["off_indication"]], items[good][: count["off_indication"]]
    add_item_lines(vsel, items, "off_indication")
    # non-medical goods swiped at pharmacies
    nm = city.pool("nonmed")
    vsel = pick_visits(vic & (V["vtype"] == PH), count["non_medical"])
    add_item_lines(vsel, nm[rng.integers(0, len(nm), len(vsel))], "non_medical")
    city.add_lines(concat(new, LCOLS))
    # claims after death: someone keeps using a deceased person's credential
    dead = np.flatnonzero((city.p_death >= 0) & (city.p_death < city.ndays - 5))
    if city.shard_idx is not None:      # a sharded city: the dead of this shard
        dead = np.intersect1d(dead, city.shard_idx)
    k = min(len(dead), count["after_death"])
    if k:
        who = rng.choice(dead, size=k, replace=False)
        day = city.p_death[who] + 2 + (rng.random(k) * (city.ndays - city.p_death[who] - 3)).astype(np.int64)
        t = day * DAY + city.shop_seconds(k)
        inst = city.home_pharmacy[who]
        v = vchunk(k, person=who, inst=inst, vtype=PH, start=t, end=t, presenter=-1, label="after_death")
        city.add_visits(v, city.pool_lines(np.arange(k), "otc", rng.integers(1, 3, k), t, 7.0))


# --------------------------------------------------------------------------- closed cases
def known_cases(city: "_City") -> None:
    """A minority of the truth entities as closed fraud cases, plus confounders investigated and cleared."""
    rng, kc = city.rng, city.cfg["known_cases"]
    year = city.year
    out: list[dict[str, Any]] = []

    def closed() -> str:
        d = int(rng.integers(120, city.ndays - 1))
        return str(np.datetime64(f"{year}-01-01") + np.timedelta64(d, "D"))

    # (the drug-resale rings, drawn on streams of their own, get their closed cases there)
    rings = [r for r in city.truth.rings if r["scheme"] != "drug_resale"]
    nr = int(round(len(rings) * kc["fraud_ring_share"]))
    for i in rng.choice(len(rings), size=min(nr, len(rings)), replace=False) if rings else []:
        ring = rings[int(i)]
        inst = [m for m in ring["members"] if m[0] in ("institution", "physician")]
        pers = [m for m in ring["members"] if m[0] == "person"]
        chosen = inst[:1] + [pers[j] for j in rng.choice(len(pers), size=min(2, len(pers)), replace=False)] if pers else inst[:1]
        for t, idx in chosen:
            out.append({"entity_type": t, "idx": idx, "label": "fraud", "scheme": ring["scheme"], "closed_on": closed()})
    lone = [e for e in city.truth.entities if e["ring_id"] is None and e["entity_type"] == "person"]
    nl = int(round(len(lone) * kc["fraud_lone_share"]))
    for i in rng.choice(len(lone), size=min(nl, len(lone)), replace=False) if lone else []:
        e = lone[int(i)]
        out.append({"entity_type": "person", "idx": e["idx"], "label": "fraud", "scheme": e["scheme"],
                    "closed_on": closed()})
    fraud = {(e["entity_type"], e["idx"]) for e in city.truth.entities}
    cands: list[tuple[str, int, str]] = []
    cands += [("physician", int(p), "collusive_prescribing") for p in city.famous]
    cands += [("institution", int(i), "card_lending") for i in getattr(city, "outbreak_sites", [])]
    cands += [("institution", int(i), "ghost_admission") for i in city.outages[0]]
    payers = city.payers()
    cands += [("person", int(p), "card_lending") for p in payers[:200]]
    helpers = np.unique(city.p_helper[city.p_helper >= 0])
    cands += [("person", int(p), "card_lending") for p in helpers[:200]]
    cands = [c for c in cands if (c[0], c[1]) not in fraud]
    n_clear = int(max(kc["min_cleared"], round(kc["cleared_per_100k"] * city.N / 1e5)))
    if cands:
        for i in rng.choice(len(cands), size=min(n_clear, len(cands)), replace=False):
            t, idx, scheme = cands[int(i)]
            out.append({"entity_type": t, "idx": idx, "label": "cleared", "scheme": scheme, "closed_on": closed()})
    city.known = out


def closed_case(city: "_City", rng: np.random.Generator) -> str:
    d = int(rng.integers(120, city.ndays - 1))
    return str(np.datetime64(f"{city.year}-01-01") + np.timedelta64(d, "D"))
