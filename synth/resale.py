"""The ``drug_resale`` scheme (倒卖回流药): collectors, recyclers and complicit outlets.

Collectors (职业开药人) obtain high-value drugs on insurance -- on their own
credential and, for some, on credentials borrowed from elderly neighbours --
going round many prescribers at many institutions (most of whom do not know;
in some rings one or two physicians knowingly write them the prescriptions).
Recyclers (outside the insured population, so not in the data) buy the packs
and route them to one or two complicit pharmacies or clinics, which sell them
to their ordinary customers and settle them on insurance again, weeks later.
Every pack carries its traceability code (:mod:`ringscope.synth.traces`), so a
resold pack's code appears on a second settlement.

Ground truth (data contract §3):

* ring members: the collectors, the persons who lent them their credentials
  (出借医保凭证 is itself a sanctioned violation, 《医疗保障基金使用监督管理条例》
  art. 41, as in the ``card_lending`` rings), the outlets, the outlets' staff who
  settled the resold packs (pharmacists), and the prescribers who knowingly fed
  the collectors; the outlets' customers are not members (they bought packs,
  they ran nothing);
* violations: every collecting settlement (whole visit, ``drug_resale``) and
  every line of an outlet that re-settled resold packs (``line_id`` set);
* the outlets' books (进销存) never record the resold packs as bought, so their
  sales of those drugs exceed what they bought; the honest pharmacies where
  collectors filled prescriptions bought what they sold.

Drawn after the rest of the city on streams of its own, one per ring, seeded by
the seed alone: the rest of the city does not move, and the same seed gives
rings of the same shape at any size. A few rings have a closed case in
``known_cases`` (like the other schemes' ``fraud_ring_share``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ringscope.synth import traces
from ringscope.synth.primitives import LCOLS, OUT, PH, VCOLS, concat, lchunk, rint, runif, stream, vchunk
from ringscope.synth.schemes import (_alive_all_year, _items_diag, _record_ring, closed_case, n_units,
                                     take_institutions, take_persons)

if TYPE_CHECKING:  # pragma: no cover
    from ringscope.synth.generator import _City

__all__ = ["plan"]

DAY = 86_400


def _specs_for(city: "_City", item: int) -> tuple[str, ...]:
    pre = city.cat_prefixes[item][0] if city.cat_prefixes[item] else ""
    for head, specs in (("E1", ("内分泌科",)), ("J4", ("呼吸内科",)), ("I6", ("神经内科",)), ("N18", ("肾内科",)),
                        ("D63", ("肾内科",))):
        if pre.startswith(head):
            return specs + ("全科", "内科")
    return ("全科", "内科")


def _plain(city: "_City", inst: int, mark: bool, specs: tuple[str, ...] = ()) -> int:
    """An ordinary physician of ``inst`` (not famous, not in a ring), of ``specs`` when there is one;
    -1 if none."""
    at = np.flatnonzero(city.d_inst == inst)
    cand = at[~city.used_d[at] & ~np.isin(at, city.famous)]
    if specs:
        sp = [city.spec_index[x] for x in specs if x in city.spec_index]
        good = cand[np.isin(city.d_spec[cand], sp)]
        cand = good if len(good) else cand
    if not len(cand):
        return -1
    d = int(city.pick_rng.choice(cand))
    if mark:
        city.used_d[d] = True
    return d


def plan(city: "_City") -> None:
    """Draw every drug-resale ring: its visits (collecting settlements and re-settlements, as one
    global visit/line buffer ``city.resale_block``), its packs' codes and its truth."""
    cfg = city.cfg["schemes"]["drug_resale"]
    city.resale_block = None
    city.resale_packs: list[list[int]] = []
    city.resale_pack_product = np.zeros(0, dtype=np.int64)
    city.resale_pack_serial = np.zeros(0, dtype=np.int64)
    n = n_units(cfg, city.ring_persons)
    drugs_all = city.pool("resale")
    if n == 0 or not len(drugs_all):
        return
    known = {(k["entity_type"], int(k["idx"])) for k in city.known}
    kp = np.zeros(city.N, dtype=bool)
    kp[[i for t, i in known if t == "person"]] = True
    scan = getattr(city, "i_scan", np.ones(city.n_inst, dtype=bool))
    quiet = np.ones(city.n_inst, dtype=bool)          # institutions that are some other confounder
    quiet[list(getattr(city, "outbreak_sites", []))] = False
    quiet[[i for t, i in known if t == "institution"]] = False
    if city.outages is not None:
        quiet[city.outages[0]] = False
    products = city.trace_product if hasattr(city, "trace_product") else traces.product_codes(city.cat_code)
    pack_product: list[int] = []
    counters: dict[int, int] = {}
    chunks: list[tuple[dict, dict]] = []
    for r in range(n):       # loop per ring (a few per 100,000 persons)
        with city.using(stream(city.seed, "ring", "drug_resale", r), stream(city.seed, "ring-pick", "drug_resale", r)):
            _ring(city, cfg, r, drugs_all, kp, scan & quiet, products, pack_product, counters, chunks)
    if chunks:
        vparts, lparts, off = [], [], 0
        for v, l in chunks:
            l = dict(l)
            l["vi"] = l["vi"] + off
            vparts.append(v)
            lparts.append(l)
            off += len(v["person"])
        city.resale_block = (concat(vparts, VCOLS), concat(lparts, LCOLS))
    city.resale_pack_product = np.array(pack_product, dtype=np.int64)
    cnt = np.zeros(len(pack_product), dtype=np.int64)
    seen: dict[int, int] = {}
    for i, p in enumerate(pack_product):     # loop per pack of the rings (thousands at most)
        cnt[i] = seen.get(p, 0)
        seen[p] = cnt[i] + 1
    city.resale_pack_serial = traces.serials(traces.RESALE_SEGMENT, cnt)


def _ring(city: "_City", cfg: dict, r: int, drugs_all: np.ndarray, kp: np.ndarray, ok_inst: np.ndarray,
          products: np.ndarray, pack_product: list[int], counters: dict, chunks: list) -> None:
    rng = city.rng
    kind = 3 if rng.random() < float(cfg["p_pharmacy_outlet"]) else 2
    n_out = 2 if rng.random() < float(cfg["p_second_outlet"]) else 1
    outlets = take_institutions(city, [kind], n_out, None, prefer_private=True, ok=ok_inst)
    if not len(outlets):
        return
    d_out = int(city.i_dist[outlets[0]])
    settlers = {int(o): [x for x in (_plain(city, int(o), True) for _ in range(int(rint(rng, [1, 2])))) if x >= 0]
                for o in outlets}
    k = min(len(drugs_all), int(rint(rng, cfg["drugs"])))
    drugs = city.pick_rng.choice(drugs_all, size=k, replace=False)
    s0 = int(rng.integers(0, 120))
    s1 = min(city.ndays - 20, s0 + int(rint(rng, [150, 300])))
    p_resell = float(runif(rng, cfg["resold_share"]))
    # prescribers who knowingly feed the collectors (some rings): a primary-care institution nearby
    feeders: list[int] = []
    if rng.random() < float(cfg["p_feeders"]):
        fi = take_institutions(city, [1, 2], 1, None, ok=ok_inst & (city.i_dist == d_out))
        if not len(fi):
            fi = take_institutions(city, [1, 2], 1, None, ok=ok_inst)
        if len(fi):
            feeders = [x for x in (_plain(city, int(fi[0]), True) for _ in range(int(rint(rng, [1, 2])))) if x >= 0]
    # collectors, and the credentials some of them borrow
    alive = _alive_all_year(city) & ~kp
    collectors = take_persons(city, int(rint(rng, cfg["collectors"])),
                              alive & (city.p_age0 >= 30) & (city.p_age0 <= 72), d_out)
    if not len(collectors):
        return
    src_ok = ok_inst & ~city.used_i & (city.i_kind != 3)
    ph_ok = np.flatnonzero(ok_inst & ~city.used_i & (city.i_kind == 3))
    rows = {"person": [], "presenter": [], "inst": [], "phys": [], "vtype": [], "day": [], "drug": []}
    for c in collectors.tolist():        # loop per collector (2-5 per ring)
        mine = city.pick_rng.choice(drugs, size=min(len(drugs), int(rint(rng, [1, 2]))), replace=False)
        srcs_i = np.flatnonzero(src_ok)
        w = city.i_weight[srcs_i]
        m = min(len(srcs_i), int(rint(rng, cfg["prescribers"])))
        si = city.pick_rng.choice(srcs_i, size=m, replace=False, p=w / w.sum()) if m else srcs_i
        srcs = [(int(i), _plain(city, int(i), False, _specs_for(city, int(mine[0])))) for i in si]
        srcs = [s for s in srcs if s[1] >= 0]
        if not srcs:
            continue
        iv = cfg["interval_days"]
        if rng.random() < float(cfg["p_borrowed"]):
            lenders = take_persons(city, int(rint(rng, cfg["lenders"])), alive & (city.p_age0 >= 60),
                                   int(city.p_dist[c]))
            cards = [(c, *iv["own_when_borrowing"])] + [(int(x), *iv["borrowed"]) for x in lenders]
        else:
            cards = [(c, *iv["own"])]
        for holder, lo, hi in cards:
            d = s0 + int(rng.integers(0, 26))
            while d <= s1:            # loop per collecting settlement (tens per collector)
                drug = int(mine[rng.integers(0, len(mine))])
                if feeders and rng.random() < 0.5:
                    fd = feeders[int(rng.integers(0, len(feeders)))]
                    inst, doc = int(city.d_inst[fd]), fd
                else:
                    inst, doc = srcs[int(rng.integers(0, len(srcs)))]
                at_ph = city.i_kind[inst] == 0 and len(ph_ok) and rng.random() < 0.3
                place = int(ph_ok[rng.integers(0, len(ph_ok))]) if at_ph else inst
                rows["person"].append(holder)
                rows["presenter"].append(c)
                rows["inst"].append(place)
                rows["phys"].append(doc)
                rows["vtype"].append(PH if at_ph else OUT)
                rows["day"].append(d)
                rows["drug"].append(drug)
                d += int(rng.integers(lo, hi + 1))
    if not rows["person"]:
        return
    R = {k_: np.array(v) for k_, v in rows.items()}
    n = len(R["person"])
    drug = R["drug"]
    full = np.nan_to_num(city.cat_maxdays[drug], nan=84.0)
    q, days = city.drug_qty(drug, full)
    t = R["day"] * DAY + np.where(R["vtype"] == PH, city.shop_seconds(n), city.clinic_seconds(n))
    diag = np.array([city.diag_id(_items_diag(city, np.array([x]))) for x in drug.tolist()], dtype=np.int64)
    v = vchunk(n, person=R["person"], inst=R["inst"], phys=R["phys"], vtype=R["vtype"].astype(np.int8), start=t,
               end=t, diag=diag, presenter=R["presenter"], label="drug_resale")
    packs = np.ceil(q - 1e-9).astype(np.int64)
    tkey = np.arange(len(city.resale_packs), len(city.resale_packs) + n)
    first_pack = len(pack_product)
    for i in range(n):                   # loop per collecting settlement: its packs' codes
        city.resale_packs.append(list(range(len(pack_product), len(pack_product) + int(packs[i]))))
        pack_product.extend([int(products[drug[i]])] * int(packs[i]))
    outp = np.flatnonzero(R["vtype"] == OUT)
    lines = concat([city.fixed_lines(outp, city.consult_item(R["inst"][outp]), 1.0, t[outp]),
                    lchunk(n, vi=np.arange(n), item=drug, qty=q, days=days, time=t, tkey=tkey)], LCOLS)
    chunks.append((v, lines))
    # the packs resold, weeks later, at the outlets, to their ordinary customers
    pk = np.arange(first_pack, len(pack_product))
    pk_visit = np.repeat(np.arange(n), packs)
    keep = rng.random(len(pk)) < p_resell
    ready = R["day"][pk_visit] + rng.integers(14, 64, len(pk))
    keep &= ready < city.ndays - 8
    pk, pk_visit, ready = pk[keep], pk_visit[keep], ready[keep]
    outlet = outlets[rng.integers(0, len(outlets), len(pk))]
    cust_ok = alive & (city.p_age0 >= 40)
    used_settlers: set[int] = set()
    for o in outlets.tolist():           # loop per outlet (1-2)
        customers = take_persons(city, int(rint(rng, [6, 20])), cust_ok, int(city.i_dist[o]), local=0.9)
        city.used_p[customers] = False   # ordinary customers: free to appear anywhere else
        if not len(customers):
            continue
        for dr in np.unique(drug[pk_visit]).tolist():
            sel = np.flatnonzero((outlet == o) & (drug[pk_visit] == dr))
            sel = sel[np.argsort(ready[sel], kind="stable")]
            i = 0
            sv = {"person": [], "day": [], "packs": [], "phys": []}
            while i < len(sel):       # loop per re-settlement (1-2 packs each)
                b = sel[i:i + int(rint(rng, [1, 2]))]
                i += len(b)
                sv["person"].append(int(customers[rng.integers(0, len(customers))]))
                sv["day"].append(int(ready[b].max() + rng.integers(0, 6)))
                sv["packs"].append(pk[b].tolist())
                st = settlers[o]
                sv["phys"].append(int(st[rng.integers(0, len(st))]) if st and (kind == 2 or rng.random() < 0.75)
                                  else -1)
            m = len(sv["person"])
            if not m:
                continue
            person = np.array(sv["person"])
            tt = np.array(sv["day"]) * DAY + (city.shop_seconds(m) if kind == 3 else city.clinic_seconds(m))
            phys = np.array(sv["phys"])
            used_settlers.update(phys[phys >= 0].tolist())
            did = city.diag_id(_items_diag(city, np.array([dr])))
            vv = vchunk(m, person=person, inst=o, phys=phys, vtype=PH if kind == 3 else OUT, start=tt, end=tt,
                        diag=did, presenter=person)
            qty = np.array([len(p) for p in sv["packs"]], dtype=float)
            _, dd = city.drug_qty(np.full(m, dr), qty * np.nan_to_num(city.cat_dpu[dr], nan=7.0))
            tk = np.arange(len(city.resale_packs), len(city.resale_packs) + m)
            city.resale_packs.extend(sv["packs"])
            parts = [lchunk(m, vi=np.arange(m), item=np.full(m, dr), qty=qty, days=dd, time=tt, tkey=tk,
                            label="drug_resale")]
            if kind != 3:
                parts.append(city.fixed_lines(np.arange(m), city.consult_item(np.full(m, o)), 1.0, tt))
            chunks.append((vv, concat(parts, LCOLS)))
    members = [("person", int(c)) for c in collectors]
    own = set(collectors.tolist())
    members += [("person", int(x)) for x in dict.fromkeys(R["person"].tolist()) if x not in own]
    members += [("institution", int(o)) for o in outlets]
    members += [("physician", int(x)) for o in outlets.tolist() for x in settlers[o] if x in used_settlers]
    fed = set(R["phys"].tolist())
    members += [("physician", int(x)) for x in feeders if x in fed]
    ring_id = f"DR{r + 1:03d}"
    _record_ring(city, "drug_resale", ring_id, members)
    # some rings have a closed case (their first outlet and up to two collectors)
    kc = city.cfg["known_cases"]
    if rng.random() < float(kc["fraud_ring_share"]):
        chosen = [("institution", int(outlets[0]))] + [("person", int(x)) for x in collectors[:2]]
        for t_, i_ in chosen:
            city.known_extra.append({"entity_type": t_, "idx": i_, "label": "fraud", "scheme": "drug_resale",
                                     "closed_on": closed_case(city, rng)})
