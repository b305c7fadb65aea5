"""Ordinary care, vectorised: acute outpatient visits and over-the-counter pharmacy purchases."""
import numpy as np
import pandas as pd
from .util import DAY, NDAYS, CAL, day_ts, day_weights, sample_days, sample_tod
from .catalog import K, CAT, has_flag
from .dx import ACUTE, ACUTE_KEYS, choose_items, acute_qty, band
from .city import SPEC_ID

OUT_MEAN = np.array([4.5, 1.6, 1.5, 2.2, 3.2])
CLS = ["tertiary", "secondary", "private", "community", "clinic"]
CLS_P = {0: [.45, .2, .02, .25, .08], 1: [.38, .22, .03, .25, .12], 2: [.32, .22, .06, .25, .15],
         3: [.3, .22, .05, .33, .1], 4: [.28, .2, .05, .4, .07]}
KIND_OF = {"tertiary": "hospital", "secondary": "hospital", "private": "hospital", "community": "community",
           "clinic": "clinic", "pharmacy": "pharmacy", "psych": "hospital", "rehab": "hospital", "internet": "pharmacy"}


def consult_item(W, insts, phys, rng):
    cls = W.icls[insts]
    senior = W.D["senior"].to_numpy()[np.maximum(phys, 0)] & (phys >= 0)
    it = np.where(cls == "community", K["c_chc"], K["c_opd"])
    it = np.where(cls == "internet", K["c_web"], it)
    hi = (cls == "tertiary") & senior
    it = np.where(hi, np.where(rng.random(len(insts)) < 0.3, K["c_chf"], K["c_ass"]), it)
    it = np.where((cls == "secondary") & senior, K["c_ass"], it)
    return it


def market_shift(W, rng, inst, day):
    """people from peri-urban villages come on market days (every 5 days)."""
    mk = W.I["market"].to_numpy()[inst]
    mv = mk & (rng.random(len(day)) < 0.35)
    off = (5 - (day % 5) + 2) % 5                      # market days: day % 5 == 2
    nd = np.minimum(day + off, NDAYS - 1)
    return np.where(mv, nd, day)


def pick_days_by_kind(rng, kinds):
    out = np.zeros(len(kinds), np.int64)
    for kd in np.unique(kinds):
        m = kinds == kd
        out[m] = sample_days(rng, m.sum(), day_weights(kd))
    return out


def acute_outpatient(W):
    rng = W.rng("acute")
    P = W.P
    n = len(P)
    age, sex = W.age, W.sex
    b = band(age)
    chronic = P["conds"].map(len).to_numpy() > 0
    lam = OUT_MEAN[b] * rng.gamma(0.8, 1 / 0.8, n) * np.where(chronic, 1.3, 1.0)
    lam = np.where(P["away"].to_numpy() | (P["nh"].to_numpy() >= 0), 0.0, lam)
    cnt = rng.poisson(lam)
    person = np.repeat(np.arange(n), cnt)
    m = len(person)
    pa, ps, pb = age[person], sex[person], b[person]
    # diagnosis group per visit
    grp = np.zeros(m, np.int64)
    for bb in range(5):
        for sx in ("M", "F"):
            sel = np.flatnonzero((pb == bb) & (ps == sx))
            if not len(sel):
                continue
            w = np.array([ACUTE[g][2][bb] * (ACUTE[g][3] in ("", sx)) for g in ACUTE_KEYS], float)
            # fine age limits of each group
            a = pa[sel]
            lo = np.array([ACUTE[g][4][0] for g in ACUTE_KEYS])
            hi = np.array([ACUTE[g][4][1] for g in ACUTE_KEYS])
            ww = w[None, :] * ((a[:, None] >= lo[None, :]) & (a[:, None] <= hi[None, :]))
            c = np.cumsum(ww, 1)
            u = rng.random(len(sel)) * c[:, -1]
            grp[sel] = (c < u[:, None]).sum(1)
    # institution class and institution
    cls_i = np.zeros(m, np.int64)
    for bb in range(5):
        sel = pb == bb
        cls_i[sel] = rng.choice(5, size=sel.sum(), p=CLS_P[bb])
    inst = np.full(m, -1, np.int64)
    onco = np.flatnonzero(W.I["onco"].to_numpy())
    home_chc = W.P["home_chc"].to_numpy()
    for ci, cname in enumerate(CLS):
        sel = np.flatnonzero(cls_i == ci)
        if cname == "community":
            inst[sel] = home_chc[person[sel]]
            far = rng.random(len(sel)) < 0.15
            inst[sel[far]] = W.pick_inst(rng, W.pdist[person[sel[far]]], cname, local=4.0)
        else:
            inst[sel] = W.pick_inst(rng, W.pdist[person[sel]], cname,
                                    local=2.0 if cname in ("tertiary", "secondary") else 6.0, exclude=onco)
    kinds = np.array([KIND_OF[c] for c in W.icls[inst]])
    day = pick_days_by_kind(rng, kinds)
    day = market_shift(W, rng, inst, day)
    start = day_ts(day) + sample_tod(rng, m, "outpatient")
    # physician by group specialties (children see paediatricians in hospitals)
    phys = np.full(m, -1, np.int64)
    dxc = np.empty(m, dtype=object)
    for gi, g in enumerate(ACUTE_KEYS):
        codes, specs = ACUTE[g][0], ACUTE[g][1]
        sel = np.flatnonzero(grp == gi)
        if not len(sel):
            continue
        dxc[sel] = np.array(codes, dtype=object)[rng.integers(0, len(codes), len(sel))]
        kid = pa[sel] < 15
        adult_specs = [s for s in specs if s != "儿科"] or ["内科"]
        kid_specs = ["儿科"] + [s for s in specs if s != "儿科"]
        phys[sel[kid]] = W.pick_phys(rng, inst[sel[kid]], kid_specs)
        phys[sel[~kid]] = W.pick_phys(rng, inst[sel[~kid]], adult_specs)
    V = pd.DataFrame(dict(person=person, inst=inst, phys=phys, vtype="outpatient", start=start, dx=dxc))
    L = acute_lines(W, rng, V, grp, pa, ps)
    W.add(V, L)
    return len(V)


def acute_lines(W, rng, V, grp, pa, ps):
    m = len(V)
    inst, phys, start = V["inst"].to_numpy(), V["phys"].to_numpy(), V["start"].to_numpy()
    parts = [pd.DataFrame(dict(row=np.arange(m), item=consult_item(W, inst, phys, rng), qty=1.0,
                               stime=start + rng.integers(60, 600, m)))]
    for gi, g in enumerate(ACUTE_KEYS):
        sel = np.flatnonzero(grp == gi)
        if not len(sel):
            continue
        _, _, _, _, _, pool, (lo, hi), serv, _ = ACUTE[g]
        r, it = choose_items(rng, pool, pa[sel], ps[sel], lo, hi)
        if len(r):
            q, d = acute_qty(rng, it)
            parts.append(pd.DataFrame(dict(row=sel[r], item=it, qty=q, days=d,
                                           stime=start[sel[r]] + rng.integers(900, 3600, len(r)))))
        for key, p in serv:
            s2 = sel[rng.random(len(sel)) < p]
            if len(s2):
                qty = np.ones(len(s2))
                parts.append(pd.DataFrame(dict(row=s2, item=K[key], qty=qty, stime=start[s2] + rng.integers(600, 3000, len(s2)))))
    return pd.concat(parts, ignore_index=True)


OTC_GROUPS = [g for g in ACUTE_KEYS if ACUTE[g][7]]
PH_MEAN = {"employee": np.array([.6, .6, 2.6, 2.8, 2.6]), "resident": np.array([.6, .5, 1.0, 1.3, 1.6])}
NONMED = [K[k] for k in ("q_pro", "q_fis", "q_msk", "q_crm", "q_bpm")]


def otc_purchases(W):
    rng = W.rng("otc")
    P = W.P
    n = len(P)
    b = band(W.age)
    ins = P["insurance_type"].to_numpy()
    lam = np.where(ins == "employee", PH_MEAN["employee"][b], PH_MEAN["resident"][b]) * rng.gamma(0.7, 1 / 0.7, n)
    lam = np.where(P["away"].to_numpy() | (P["nh"].to_numpy() >= 0), 0.0, lam)
    cnt = rng.poisson(lam)
    person = np.repeat(np.arange(n), cnt)
    m = len(person)
    fav = P["fav_pharm"].to_numpy()[person]
    other = W.pick_inst(rng, W.pdist[person], "pharmacy", local=6.0)
    inst = np.where(rng.random(m) < 0.7, fav, other)
    day = sample_days(rng, m, day_weights("pharmacy"))
    start = day_ts(day) + sample_tod(rng, m, "pharmacy")
    V = pd.DataFrame(dict(person=person, inst=inst, vtype="pharmacy", start=start, dx=""))
    # items: an OTC need, sometimes two
    pa, ps = W.age[person], W.sex[person]
    gw = np.array([[ACUTE[g][2][bb] for g in OTC_GROUPS] for bb in range(5)])
    g = np.zeros(m, np.int64)
    for bb in range(5):
        sel = b[person] == bb
        g[sel] = rng.choice(len(OTC_GROUPS), size=sel.sum(), p=gw[bb] / gw[bb].sum())
    parts = []
    otc = has_flag("O")
    for gi, gname in enumerate(OTC_GROUPS):
        sel = np.flatnonzero(g == gi)
        pool = [(k, w) for k, w in ACUTE[gname][5] if otc[K[k]]]
        r, it = choose_items(rng, pool, pa[sel], ps[sel], 1, 2)
        q, d = acute_qty(rng, it)
        parts.append(pd.DataFrame(dict(row=sel[r], item=it, qty=q, days=d)))
    nm = np.flatnonzero(rng.random(m) < 0.06)
    parts.append(pd.DataFrame(dict(row=nm, item=np.array(NONMED)[rng.integers(0, len(NONMED), len(nm))], qty=1.0)))
    ag = np.flatnonzero((pa >= 55) & (rng.random(m) < 0.015))
    parts.append(pd.DataFrame(dict(row=ag, item=K["agnh"], qty=rng.integers(1, 3, len(ag)).astype(float), days=1)))
    L = pd.concat(parts, ignore_index=True)
    L["stime"] = start[L["row"].to_numpy()]
    keep = np.unique(L["row"].to_numpy())
    remap = -np.ones(m, np.int64)
    remap[keep] = np.arange(len(keep))
    V = V.iloc[keep]
    L["row"] = remap[L["row"].to_numpy()]
    W.add(V, L)
    return len(V)


def assign_homes(W):
    """each person's community health centre and favourite pharmacy."""
    rng = W.rng("homes")
    W.P["home_chc"] = W.pick_inst(rng, W.pdist, "community", local=60.0)
    W.P["fav_pharm"] = W.pick_inst(rng, W.pdist, "pharmacy", local=10.0)
