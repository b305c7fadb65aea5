"""Schemes 4-7: ghost admissions (挂床/虚假住院), split admissions (分解住院), doctor shopping (多处开药),
drug resale through recycled packs (倒卖回流药)."""
import numpy as np
import pandas as pd
from .util import DAY, NDAYS, CAL, day_ts, sample_tod
from .catalog import K
from .dx import MAXQ, MAXD, PACK_DAYS, allowed
from .care import consult_item
from .hospital import stay_lines, INP, bed_item
from .rings import new_ring, member, lone, free_persons, free_inst, Batch

GHOST_ITEMS = [("t_iv", "iv", 1), ("nacl", "iv", 2), ("dsdf", "iv", 1), ("gink", "iv", 1), ("dpe", "iv", 1),
               ("t_tcm", "day", 1), ("t_acu", "day", .5), ("l_cbc", "n", 1), ("l_liv", "n", 1), ("l_ren", "n", 1),
               ("x_ct", "n", 1), ("x_ecg", "n", 1), ("m_ivs", "iv", 1)]


def ghost(W, rng):
    ring = new_ring(W, "ghost_admission")
    vis = rng.uniform(0.3, 1.0)
    c = free_inst(W, ["private"])
    if not len(c):
        c = free_inst(W, ["secondary"])
    cf = c[W.iface[c]]
    if len(cf) and rng.random() < 0.5:
        c = cf                                  # at a face-terminal hospital the missing ward rounds show
    hosp = int(rng.choice(c))
    docs = W.clinicians(hosp)
    docs = list(rng.choice(docs, min(len(docs), int(rng.integers(1, 4))), replace=False))
    d = W.idist[hosp]
    pool = free_persons(W, (W.age >= 60) & (W.age < 88) & (W.pdist == d) & (W.death < 0))
    if len(pool) < 12:
        pool = free_persons(W, (W.age >= 60) & (W.age < 88) & (W.death < 0))
    recruits = rng.choice(pool, min(len(pool), int(rng.integers(10, 41))), replace=False)
    n_w = int(rng.integers(2, 6))
    wave_days = np.sort(rng.choice(np.flatnonzero(CAL["workday"] & (np.arange(NDAYS) < NDAYS - 20)), n_w, replace=False))
    codes = [["I69.3", "I63.9"], ["I69.3"]][int(rng.integers(0, 2))]
    los_mu = rng.uniform(8, 11)
    rows = []
    for wd in wave_days:
        grp = rng.choice(recruits, min(len(recruits), int(rng.integers(5, 16))), replace=False)
        for p in grp:
            day = int(wd + rng.integers(0, 3))
            los = int(np.clip(round(rng.normal(los_mu, 0.8)), 7, 12))
            rows.append((int(p), day, los))
    T = pd.DataFrame(rows, columns=["person", "day", "los"])
    # a recruit cannot be in two waves at once
    T = T.sort_values(["person", "day"])
    prev_end = T.groupby("person")["day"].shift(1) + T.groupby("person")["los"].shift(1)
    T = T[~(T["day"] <= prev_end)].reset_index(drop=True)
    m = len(T)
    st = day_ts(T["day"].to_numpy()) + (np.clip(rng.normal(9, 0.6, m), 8, 11) * 3600).astype(np.int64)
    en = day_ts(T["day"].to_numpy() + T["los"].to_numpy()) + (np.clip(rng.normal(9.5, 0.5, m), 8, 11) * 3600).astype(np.int64)
    ph = np.array(docs)[rng.integers(0, len(docs), m)]
    V = pd.DataFrame(dict(person=T["person"], inst=hosp, phys=ph, vtype="inpatient", start=st, end=en,
                          dx=np.array(codes, dtype=object)[rng.integers(0, len(codes), m)], tag="ghost_admission",
                          ring=ring["ring_id"], origin="ring", ward=False))
    S = pd.DataFrame(dict(row=np.arange(m), inst=hosp, phys=ph, start=st, los=T["los"]))
    L = stay_lines(W, rng, S, GHOST_ITEMS)
    L["tag"] = "ghost_admission"
    W.add(V, L)
    # the patients are at home: their cards keep being used at their usual pharmacy or centre during the stay
    b = Batch()
    for i in np.flatnonzero(rng.random(m) < 0.3 + 0.4 * vis):
        p = int(T.at[i, "person"])
        day = int(T.at[i, "day"] + rng.integers(1, max(2, T.at[i, "los"] - 1)))
        ph_i = int(W.P.at[p, "fav_pharm"])
        t = int(day_ts(day)) + int(rng.integers(9 * 3600, 18 * 3600))
        row = b.visit(person=p, inst=ph_i, vtype="pharmacy", start=t, dx="", origin="ghost_trace")
        b.line(row, ["omep", "lhqw", "dicl", "liuw"][int(rng.integers(0, 4))], 1.0, days=7)
    b.flush(W)
    member(W, ring, "institution", hosp)
    for x in docs:
        member(W, ring, "physician", x)
    for p in np.unique(T["person"]):
        member(W, ring, "person", p)
    ring["notes"] = f"hospital {W.iid(hosp)} ({W.icls[hosp]}), {len(np.unique(T['person']))} recruited elderly, {n_w} waves, {m} stays, LOS ~{los_mu:.1f}d"
    return ring


SPLIT_DEPTS = {"神经内科": "strk", "呼吸内科": "aecopd", "心血管内科": "ami", "骨科": "hip", "内科": "pneu"}


def split(W, rng):
    ring = new_ring(W, "split_admission")
    vis = rng.uniform(0.3, 1.0)
    c = free_inst(W, ["secondary", "tertiary", "private"])
    c = np.array([i for i in c if not W.I["onco"].iat[i]])
    hosp = int(rng.choice(c))
    from .city import SPEC_ID
    depts = [s for s in SPLIT_DEPTS if any(W.dspec[p] == SPEC_ID[s] for p in W.clinicians(hosp))]
    dept = depts[int(rng.integers(0, len(depts)))]
    docs = [p for p in W.clinicians(hosp) if W.dspec[p] == SPEC_ID[dept]]
    docs = list(rng.choice(docs, min(len(docs), int(rng.integers(1, 4))), replace=False))
    g = SPLIT_DEPTS[dept]
    lo_age = INP[g][4][0]
    pts = free_persons(W, (W.age >= max(45, lo_age)) & (W.death < 0))
    pts = pts[np.abs(W.pdist[pts] - W.idist[hosp]) <= 2]
    pts = rng.choice(pts, int(rng.integers(8, 26)), replace=False)
    rows = []
    for p in pts:
        for e in range(1 + int(rng.random() < 0.3)):
            day = int(rng.integers(0, NDAYS - 60))
            total = int(rng.integers(14, 25))
            nseg = 2 + int(rng.random() < 0.3 + 0.3 * vis)
            cuts = np.sort(rng.choice(np.arange(4, total - 3), nseg - 1, replace=False))
            segs = np.diff(np.r_[0, cuts, total])
            for s_i, L_ in enumerate(segs):
                rows.append((int(p), day, int(L_), s_i, e))
                day += int(L_) + int(rng.integers(1, 8))
    T = pd.DataFrame(rows, columns=["person", "day", "los", "seg", "ep"])
    T = T[T["day"] + T["los"] < NDAYS - 1].reset_index(drop=True)
    # drop a second episode overlapping the first
    T = T.sort_values(["person", "day"]).reset_index(drop=True)
    endp = (T["day"] + T["los"]).groupby(T["person"]).cummax().groupby(T["person"]).shift(1)
    T = T[~(T["day"] <= endp)].reset_index(drop=True)
    m = len(T)
    codes = INP[g][0]
    dxs = np.array(codes, dtype=object)[rng.integers(0, len(codes), len(pts))]
    dxmap = dict(zip(pts, dxs))
    st = day_ts(T["day"].to_numpy()) + sample_tod(rng, m, "inpatient")
    en = day_ts(T["day"].to_numpy() + T["los"].to_numpy()) + (np.clip(rng.normal(10, 1, m), 8, 15) * 3600).astype(np.int64)
    tag = np.where(T["seg"].to_numpy() > 0, "split_admission", "")
    ph = np.array(docs)[rng.integers(0, len(docs), m)]
    V = pd.DataFrame(dict(person=T["person"], inst=hosp, phys=ph, vtype="inpatient", start=st, end=en,
                          dx=[dxmap[p] for p in T["person"]], tag=tag, ring=np.where(tag != "", ring["ring_id"], ""),
                          origin=np.where(tag != "", "ring", "split_first"), ward=True))
    S = pd.DataFrame(dict(row=np.arange(m), inst=hosp, phys=ph, start=st, los=T["los"]))
    items = [x for x in INP[g][7] if not x[0].startswith("s_") and not x[0].startswith("m_hip") and x[0] != "m_stn"]
    L = stay_lines(W, rng, S, items)
    L["tag"] = tag[L["row"].to_numpy()]
    W.add(V, L)
    member(W, ring, "institution", hosp)
    for x in docs:
        member(W, ring, "physician", x)
    ring["notes"] = (f"hospital {W.iid(hosp)} ({W.icls[hosp]}), dept {dept}, {len(pts)} affected patients, {m} admissions of which "
                     f"{(tag != '').sum()} are readmissions within 1-7 days")
    ring["affected"] = [int(p) for p in pts]
    return ring


SHOP = {"zolp": ["G47.0"], "eszo": ["G47.0"], "alpr": ["G47.0", "F41.9"], "preg": ["G62.9"], "tram": ["M54.5"],
        "sema": ["E11.9"], "glar": ["E11.9"]}
SHOP_SPECS = ["神经内科", "精神科", "内科", "全科", "内分泌科", "骨科"]


def shopping(W, rng, n_people, ring=None):
    vis = rng.uniform(0.3, 1.0)
    drug = list(SHOP)[int(rng.integers(0, len(SHOP)))]
    it = K[drug]
    pool = free_persons(W, (W.age >= 30) & (W.age < 62) & (W.death < 0))
    ppl = [int(x) for x in rng.choice(pool, n_people, replace=False)]
    insts = np.flatnonzero(np.isin(W.icls, ["tertiary", "secondary", "community", "clinic", "private", "internet"]))
    b = Batch()
    nv = 0
    for p in ppl:
        d0 = int(rng.integers(0, 150))
        d1 = min(NDAYS - 1, d0 + int(rng.integers(120, 300)))
        day = d0
        near = insts[np.abs(W.idist[insts] - W.pdist[p]) <= 3]
        while day < d1:
            inst = int(rng.choice(near))
            doc = int(W.pick_phys(rng, np.array([inst]), SHOP_SPECS)[0])
            t = int(day_ts(day)) + int(rng.integers(8 * 3600, 17 * 3600))
            q = max(1.0, MAXQ[it] - float(rng.random() < 0.5))
            dd = int(min(MAXD[it], q * PACK_DAYS[it]))
            dx = SHOP[drug][0]
            tag = "doctor_shopping"
            rid = ring["ring_id"] if ring else ""
            if W.icls[inst] == "internet":
                row = b.visit(person=p, inst=inst, phys=doc, vtype="outpatient", start=t, dx=dx, tag=tag, ring=rid, origin="ring")
                b.line(row, "c_web", 1.0)
                ph = int(W.pick_inst(rng, [W.pdist[p]], "pharmacy", local=3.0)[0])
                r2 = b.visit(person=p, inst=ph, phys=doc, vtype="pharmacy", start=t + 7200, dx=dx, tag=tag, ring=rid, origin="ring")
                b.line(r2, it, q, days=dd)
            else:
                row = b.visit(person=p, inst=inst, phys=doc, vtype="outpatient", start=t, dx=dx, tag=tag, ring=rid, origin="ring")
                b.line(row, consult_item(W, np.array([inst]), np.array([doc]), rng)[0], 1.0)
                b.line(row, it, q, days=dd)
            nv += 1
            day += int(rng.integers(3, 9)) if vis > 0.5 else int(rng.integers(5, 13))
    b.flush(W)
    for p in ppl:
        if ring:
            member(W, ring, "person", p)
        else:
            lone(W, "person", p, "doctor_shopping")
    note = f"{n_people} person(s) collecting {drug} from many prescribers: {nv} prescriptions"
    if ring:
        ring["notes"] = note
    else:
        W.note("lone doctor shopper: " + note)


def shopping_ring(W, rng):
    ring = new_ring(W, "doctor_shopping")
    shopping(W, rng, int(rng.integers(2, 5)), ring)
    return ring
