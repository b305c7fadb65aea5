"""Legitimate crowd events and presenters that look odd: vaccination days, a school physical-exam day,
migrant workers home for the Spring Festival, nursing-home carers with many residents' cards,
registered proxies (代购), end-of-day batch settlement."""
import numpy as np
import pandas as pd
from .util import DAY, NDAYS, CAL, SPRING_FESTIVAL, day_ts, sample_tod, month_of, ts_day
from .catalog import K, has_flag
from .dx import ACUTE, choose_items, acute_qty, qty_for_days
from .care import consult_item


def vaccination(W):
    rng = W.rng("vacc")
    age = W.age
    chc = W.P["home_chc"].to_numpy()
    vac_days = np.flatnonzero(np.isin(CAL["weekday"], [1, 3]) & CAL["workday"])
    kids = np.flatnonzero(age < 6.5)
    cnt = np.where(age[kids] < 2, rng.integers(3, 6, len(kids)), rng.integers(0, 2, len(kids)))
    p = np.repeat(kids, cnt)
    d = vac_days[rng.integers(0, len(vac_days), len(p))]
    st = day_ts(d) + (np.clip(rng.normal(9.2, 0.9, len(p)), 8, 11.5) * 3600).astype(np.int64)
    V1 = pd.DataFrame(dict(person=p, inst=chc[p], vtype="outpatient", start=st, dx="Z23", origin="vaccination"))
    # autumn influenza campaign for the elderly: two days per centre in October
    old = np.flatnonzero((age >= 60) & (rng.random(len(age)) < 0.22) & (W.P["nh"].to_numpy() < 0) & ~W.P["away"].to_numpy())
    octo = np.flatnonzero((CAL["month"] == 9) & CAL["workday"] & ~CAL["holiday"])
    ninst = len(W.I)
    camp = octo[rng.integers(0, len(octo), (ninst, 2))]
    d2 = camp[chc[old], rng.integers(0, 2, len(old))]
    st2 = day_ts(d2) + (np.clip(rng.normal(8.9, 0.7, len(old)), 7.8, 11.0) * 3600).astype(np.int64)
    V2 = pd.DataFrame(dict(person=old, inst=chc[old], vtype="outpatient", start=st2, dx="Z25.1", origin="flu_campaign"))
    V = pd.concat([V1, V2], ignore_index=True)
    V["phys"] = W.pick_phys(rng, V["inst"].to_numpy(), ["全科"])
    n1 = len(V1)
    L = [pd.DataFrame(dict(row=np.arange(len(V)), item=K["z_vac"], qty=1.0, stime=V["start"].to_numpy() + 300)),
         pd.DataFrame(dict(row=n1 + np.arange(len(V2)), item=K["flue"], qty=1.0, days=1, stime=V2["start"].to_numpy() + 400))]
    W.add(V, pd.concat(L, ignore_index=True))
    W.note(f"vaccination visits: {n1} infant visits on Tue/Thu, {len(V2)} elderly on October flu-campaign days")
    return len(V)


def school_exam(W):
    rng = W.rng("school")
    age = W.age
    dists = rng.choice(8, size=3, replace=False)
    out = 0
    for k, (lo, hi, m, label) in enumerate([(17.0, 18.6, 3, "高考体检"), (14.5, 15.9, 4, "中考体检")]):
        stu = np.flatnonzero((age >= lo) & (age < hi) & np.isin(W.pdist, dists if k == 0 else dists[:1]))
        if not len(stu):
            continue
        hosp = np.flatnonzero((W.icls == "secondary") & (W.idist == dists[k % 3]))
        hosp = hosp if len(hosp) else np.flatnonzero(W.icls == "secondary")
        h = int(hosp[0])
        mdays = np.flatnonzero((CAL["month"] == m) & CAL["workday"])
        day = int(mdays[int(rng.integers(3, len(mdays) - 3))])
        st = day_ts(day) + 8 * 3600 + np.sort(rng.integers(0, 3 * 3600, len(stu)))
        V = pd.DataFrame(dict(person=rng.permutation(stu), inst=h, vtype="outpatient", start=st, dx="Z10.8", origin="school_exam"))
        V["phys"] = W.pick_phys(rng, V["inst"].to_numpy(), ["儿科", "内科"])
        L = pd.DataFrame(dict(row=np.arange(len(V)), item=K["z_phy"], qty=1.0, stime=st))
        W.add(V, L)
        W.note(f"school physical-exam day ({label}): {len(V)} students at {W.iid(h)} on day {day}")
        out += len(V)
    return out


def migrants(W):
    """insured here, working elsewhere: all their care falls in the weeks around the Spring Festival."""
    rng = W.rng("migrants")
    away = np.flatnonzero(W.P["away"].to_numpy())
    if not len(away):
        return 0
    n = rng.integers(2, 7, len(away))
    p = np.repeat(away, n)
    d = SPRING_FESTIVAL + rng.integers(-12, 16, len(p))
    ph = rng.random(len(p)) < 0.6
    inst = np.where(ph, W.pick_inst(rng, W.pdist[p], "pharmacy", local=8.0), W.P["home_chc"].to_numpy()[p])
    st = day_ts(d) + np.where(ph, sample_tod(rng, len(p), "pharmacy"), sample_tod(rng, len(p), "outpatient"))
    V = pd.DataFrame(dict(person=p, inst=inst, vtype=np.where(ph, "pharmacy", "outpatient"), start=st,
                          dx=np.where(ph, "", "J06.9"), origin="migrant"))
    V["phys"] = np.where(ph, -1, W.pick_phys(rng, inst, ["全科"]))
    pool = [(k, w) for k, w in ACUTE["uri"][5] + ACUTE["gastr"][5] + ACUTE["back"][5] if has_flag("O")[K[k]]]
    r, it = choose_items(rng, pool, W.age[p], W.sex[p], 1, 3)
    q, dd = qty_for_days(it, np.full(len(it), 30))           # stocking up for the months away
    L = [pd.DataFrame(dict(row=r, item=it, qty=q, days=dd, stime=st[r]))]
    op = np.flatnonzero(~ph)
    L.append(pd.DataFrame(dict(row=op, item=K["c_chc"], qty=1.0, stime=st[op])))
    W.add(V, pd.concat(L, ignore_index=True))
    W.note(f"migrant workers home for the Spring Festival: {len(away)} persons, {len(V)} settlements in late Jan-mid Feb")
    return len(V)


def carers_and_proxies(W):
    """carers present residents' cards one after another; registered proxies buy for the elderly."""
    rng = W.rng("proxies")
    V = W.V
    nh = W.P["nh"].to_numpy()
    face = V["face"].to_numpy().copy()
    start = V["start"].to_numpy().copy()
    inst = V["inst"].to_numpy().copy()
    phys = V["phys"].to_numpy().copy()
    pv = V["person"].to_numpy()
    for h, carer in W.carers.items():
        res = V.index[(nh[pv] == h) & (V["origin"].to_numpy() == "refill")]
        if not len(res):
            continue
        d0 = int(W.NH.loc[W.NH["nh"] == h, "dist"].iloc[0])
        chcs = np.flatnonzero((W.icls == "community") & (W.idist == d0))
        chcs = chcs[np.argsort(~W.iface[chcs])]
        c = int(chcs[0]) if len(chcs) else int(inst[res[0]])
        gp = W.clinicians(c)
        mth = month_of(start[res])
        for mm in np.unique(mth):
            rr = res[mth == mm]
            d = int(ts_day(start[rr].min()))
            t0 = day_ts(d) + int(rng.integers(8 * 3600, 9 * 3600))
            start[rr] = t0 + np.cumsum(rng.integers(50, 200, len(rr)))
            inst[rr] = c
            phys[rr] = gp[0] if len(gp) else phys[rr]
            face[rr] = carer
        W.note(f"nursing home {h}: carer {W.pid(carer)} presents {len(np.unique(pv[res]))} residents' cards monthly at CHC {W.iid(c)}")
    # registered proxies
    prox = W.links[W.links["relation"] == "proxy"]
    carer_set = set(W.carers.values())
    prox = prox[~prox["b"].isin(carer_set)]
    pmap = dict(zip(prox["a"], prox["b"]))
    cand = V.index[np.isin(pv, list(pmap)) & np.isin(V["vtype"].to_numpy(), ["pharmacy"]) |
                   (np.isin(pv, list(pmap)) & (V["origin"].to_numpy() == "refill"))]
    cand = cand[rng.random(len(cand)) < 0.6]
    face[cand] = [pmap[p] for p in pv[cand]]
    delta = start - W.V["start"].to_numpy()
    W.V["face"], W.V["start"], W.V["inst"], W.V["phys"] = face, start, inst, phys
    W.shift_lines(delta)
    W.note(f"proxy purchases (代购) by registered proxies: {len(cand)} settlements")


def batch_settlement(W):
    """at some clinics/CHCs the day's outpatient settlements are pushed in one batch after closing."""
    rng = W.rng("batch")
    V = W.V
    b = W.I["batch"].to_numpy()[V["inst"].to_numpy()] & (V["vtype"].to_numpy() == "outpatient") & (V["tag"].to_numpy() == "")
    idx = V.index[b]
    if not len(idx):
        return 0
    day = ts_day(V.loc[idx, "start"].to_numpy())
    key = V.loc[idx, "inst"].to_numpy() * 1000 + day
    order = np.lexsort((V.loc[idx, "start"].to_numpy(), key))
    idx, key, day = idx[order], key[order], day[order]
    rank = np.arange(len(idx)) - np.searchsorted(key, key, side="left")
    t = day_ts(day) + 17 * 3600 + 1800 + rank * 37 + rng.integers(0, 20, len(idx))
    W.V.loc[idx, "settle"] = W.V.loc[idx, "start"].to_numpy()
    W.V.loc[idx, "start"] = t
    W.note(f"end-of-day batch settlement at {len(np.unique(V.loc[idx, 'inst']))} institutions: {len(idx)} settlements")
    return len(idx)
