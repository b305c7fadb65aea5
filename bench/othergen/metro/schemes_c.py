"""Scheme 7: drug resale (倒卖回流药). Collectors obtain high-value packs on insurance from many
prescribers; recyclers pass them to complicit outlets that sell and settle the same packs again, so a
pack's traceability code appears on a second settlement."""
import numpy as np
import pandas as pd
from .util import NDAYS, day_ts
from .catalog import K
from .dx import MAXQ, MAXD, PACK_DAYS
from .care import consult_item
from .rings import new_ring, member, free_persons, free_inst, Batch

RESALE = {"glar": "E11.9", "aspa": "E11.9", "sema": "E11.9", "taft": "B18.1", "gefi": "C34.9"}


def resale(W, rng):
    ring = new_ring(W, "drug_resale")
    vis = rng.uniform(0.3, 1.0)
    keys = ["glar", "aspa", "sema", "taft"] + (["gefi"] if vis > 0.7 else [])
    drugs = list(rng.choice(keys, int(rng.integers(1, 3)), replace=False))
    cols = [int(x) for x in rng.choice(free_persons(W, (W.age >= 40) & (W.age < 72) & (W.death < 0)), int(rng.integers(2, 6)),
                                       replace=False)]
    scan = W.I["scans"].to_numpy()
    src = np.flatnonzero(np.isin(W.icls, ["tertiary", "secondary", "community", "private"]) & scan)
    src = np.array([i for i in src if i not in W.used_inst and not W.I["onco"].iat[i]])
    feeder = -1
    if rng.random() < 0.5:
        fc = [p for p in np.flatnonzero(np.isin(W.dinst, src)) if p not in W.used_phys and W.dspec[p] != W.pharm_spec]
        feeder = int(rng.choice(fc))
    cls = "pharmacy" if rng.random() < 0.75 else "clinic"
    outs = free_inst(W, [cls], scans=True)
    if not len(outs):
        outs = free_inst(W, ["pharmacy"], scans=True)
    outlets = [int(x) for x in rng.choice(outs, 1 + int(rng.random() < 0.35), replace=False)]
    b = Batch()
    for c in cols:
        d0 = int(rng.integers(0, 120))
        d1 = min(NDAYS - 35, d0 + int(rng.integers(120, 280)))
        day = d0
        near = src[np.abs(W.idist[src] - W.pdist[c]) <= 3]
        while day < d1:
            if feeder >= 0 and rng.random() < 0.5:
                inst, doc = int(W.dinst[feeder]), feeder
            else:
                inst = int(rng.choice(near))
                doc = int(W.pick_phys(rng, np.array([inst]), ["内分泌科", "感染科", "肿瘤科", "内科", "全科"])[0])
            t = int(day_ts(day)) + int(rng.integers(8 * 3600, 16 * 3600))
            dr = drugs[int(rng.integers(0, len(drugs)))]
            row = b.visit(person=c, inst=inst, phys=doc, vtype="outpatient", start=t, dx=RESALE[dr], tag="drug_resale",
                          ring=ring["ring_id"], origin="ring")
            b.line(row, consult_item(W, np.array([inst]), np.array([doc]), rng)[0], 1.0)
            it = K[dr]
            q = max(1.0, MAXQ[it] - float(rng.random() < 0.3))
            b.line(row, it, q, days=int(min(MAXD[it], q * PACK_DAYS[it])), stime=t + 900, tr="collect")
            day += int(rng.integers(5, 15))
    vks = b.flush(W)
    src_lines = W.L[W.L["vk"].isin(vks) & (W.L["tr"] == "collect")]
    packs = []
    for lk, it, q, st in zip(src_lines["lk"], src_lines["item"], src_lines["qty"], src_lines["stime"]):
        for k in range(int(q)):
            if rng.random() < 0.9:
                packs.append((int(lk), k, int(it), int(st) + int(rng.integers(3, 31)) * 86400))
    packs.sort(key=lambda x: x[3])
    pharms = {o: (W.pharmacists(o) if W.icls[o] == "pharmacy" else W.clinicians(o)) for o in outlets}
    i = 0
    plist = {}
    cust_n = 0
    while i < len(packs):
        o = outlets[int(rng.integers(0, len(outlets)))]
        it = packs[i][2]
        n = int(rng.integers(1, 4))
        grp = [p for p in packs[i:i + n] if p[2] == it][: int(MAXQ[it])]
        i += len(grp)
        t = grp[-1][3]
        if t >= int(day_ts(NDAYS - 1)):
            continue
        cond = [k for k, v in K.items() if v == it][0]
        cond = RESALE[cond]
        cands = free_persons(W, (W.age >= 40) & (W.pdist == W.idist[o]) & (W.death < 0))
        withc = cands[[cond in W.P.at[p, "conds"] for p in cands]] if len(cands) else cands
        cust = int(rng.choice(withc if len(withc) and rng.random() < 0.7 else cands))
        ph = pharms[o]
        doc = int(ph[int(rng.integers(0, len(ph)))]) if len(ph) else -1
        row = b.visit(person=cust, inst=o, phys=doc, vtype="pharmacy" if W.icls[o] == "pharmacy" else "outpatient", start=t,
                      dx=cond, tag="drug_resale", ring=ring["ring_id"], origin="ring_outlet")
        if W.icls[o] != "pharmacy":
            b.line(row, "c_opd", 1.0)
        tr = f"resale#{len(plist)}"
        plist[tr] = [(p[0], p[1]) for p in grp]
        b.line(row, it, float(len(grp)), days=int(min(MAXD[it], len(grp) * PACK_DAYS[it])), tr=tr)
        cust_n += 1
    b.flush(W)
    out_lines = W.L[W.L["tr"].isin(list(plist))]
    for lk, tr in zip(out_lines["lk"], out_lines["tr"]):
        for src_lk, k in plist[tr]:
            W.resale.append((int(lk), src_lk, k))
    for c in cols:
        member(W, ring, "person", c)
    for o in outlets:
        member(W, ring, "institution", o)
        for p in pharms[o]:
            member(W, ring, "physician", p)
    if feeder >= 0:
        member(W, ring, "physician", feeder)
    ring["notes"] = (f"{len(cols)} collectors of {','.join(drugs)}, {len(src_lines)} collecting prescriptions, "
                     f"{sum(len(v) for v in plist.values())} packs resold in {cust_n} settlements at outlet(s) "
                     f"{[W.iid(o) for o in outlets]}, feeding prescriber={'yes' if feeder >= 0 else 'no'}")
    return ring
