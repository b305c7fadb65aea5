"""Chronic care: monthly refills at community health centres on their refill days (crowds), specialist
follow-ups at hospitals, internet-hospital revisits with external prescriptions filled at chain
pharmacies, psychiatric follow-up and oral cancer drugs (双通道)."""
import numpy as np
import pandas as pd
from .util import DAY, NDAYS, CAL, day_ts, sample_tod
from .catalog import K
from .dx import CHRONIC, INSULIN, choose_items, qty_for_days
from .care import consult_item

GENERAL = ["I10", "E11.9", "I25.1", "E78.5", "J44.9", "I69.3", "B18.1"]


def _next_open(day, allow_weekend=False):
    day = np.clip(day, 0, NDAYS - 1)
    for _ in range(10):
        bad = ~CAL["workday"][day] if not allow_weekend else CAL["holiday"][day]
        if not bad.any():
            break
        day = np.where(bad, np.minimum(day + 1, NDAYS - 1), day)
    return day


def _schedule(rng, n, interval, first):
    """dates for n patients: first day + k*interval (+-2 days) through the year."""
    kmax = (NDAYS // np.maximum(interval, 1)) + 2
    pid = np.repeat(np.arange(n), kmax)
    k = np.arange(len(pid)) - np.repeat(np.cumsum(kmax) - kmax, kmax)
    day = first[pid] + k * interval[pid] + rng.integers(-2, 3, len(pid)) * (k > 0)
    ok = (day >= 0) & (day < NDAYS)
    return pid[ok], day[ok]


def regimens(W, rng, persons, conds, target_days):
    """fixed drugs per (person, condition) for the year. Returns DataFrame person,item,qty,days,cond."""
    out = []
    for c in conds:
        code, specs, pool, (lo, hi), labs = CHRONIC[c]
        sel = np.array([p for p in persons if c in W.P.at[p, "conds"]], dtype=np.int64)
        if not len(sel):
            continue
        r, it = choose_items(rng, pool, W.age[sel], W.sex[sel], lo, hi)
        td = target_days[np.searchsorted(persons, sel[r])]
        q, d = qty_for_days(it, td)
        out.append(pd.DataFrame(dict(person=sel[r], item=it, qty=q, days=d, cond=c)))
        ins = np.isin(it, list(INSULIN))
        if ins.any():
            out.append(pd.DataFrame(dict(person=sel[r][ins], item=K["m_ndl"], qty=np.minimum(12, np.ceil(td[ins] / 14)),
                                         days=-1, cond=c)))
    R = pd.concat(out, ignore_index=True)
    return R.drop_duplicates(["person", "item"])


def chronic_care(W):
    rng = W.rng("chronic")
    P = W.P
    conds = P["conds"].to_numpy()
    gen = np.array([any(c in GENERAL for c in cs) for cs in conds]) & ~P["away"].to_numpy()
    persons = np.flatnonzero(gen)
    n = len(persons)
    nh = P["nh"].to_numpy()[persons] >= 0
    ch = rng.choice(3, size=n, p=[.55, .30, .15])          # 0 community, 1 hospital specialist, 2 internet
    ch[nh] = 0                                                # nursing-home residents: carers collect at the CHC
    long_rx = rng.random(n) < np.where(ch == 1, 0.3, 0.12)
    interval = np.where(long_rx, rng.choice([56, 84], n), 30)
    target = np.where(long_rx, interval, 30)
    R = regimens(W, rng, persons, GENERAL, target)
    chc = P["home_chc"].to_numpy()[persons]
    # the hospital specialist each patient follows
    first_cond = np.array([[c for c in conds[p] if c in GENERAL][0] for p in persons])
    hosp = W.pick_inst(rng, W.pdist[persons], ["tertiary", "secondary"], local=2.5,
                       exclude=np.flatnonzero(W.I["onco"].to_numpy()))
    hphys = np.full(n, -1)
    for c in GENERAL:
        m = first_cond == c
        hphys[m] = W.pick_phys(rng, hosp[m], CHRONIC[c][1])
    web = np.flatnonzero(W.icls == "internet")
    wi = web[rng.integers(0, len(web), n)]
    wphys = np.full(n, -1)
    for c in GENERAL:
        m = first_cond == c
        wphys[m] = W.pick_phys(rng, wi[m], CHRONIC[c][1])
    # schedules
    refill = W.I["refill_day"].to_numpy()[chc]
    month_start = np.array([np.searchsorted(CAL["month"], mth) for mth in range(12)])
    parts_v = []
    # community: refill day of each month (or every 2nd/3rd month for long prescriptions)
    cm = np.flatnonzero(ch == 0)
    step = np.where(long_rx[cm], interval[cm] // 28, 1)
    off = rng.integers(0, 3, len(cm)) % np.maximum(step, 1)
    pid = np.repeat(cm, 12)
    mth = np.tile(np.arange(12), len(cm))
    keep = ((mth - np.repeat(off, 12)) % np.repeat(step, 12)) == 0
    pid, mth = pid[keep], mth[keep]
    jit = np.where(rng.random(len(pid)) < 0.6, 0, rng.integers(-2, 3, len(pid)))
    day = _next_open(month_start[mth] + refill[pid] - 1 + jit)
    tod = (np.clip(rng.normal(8.6, 0.8, len(pid)), 7.5, 11.5) * 3600).astype(np.int64)
    parts_v.append(pd.DataFrame(dict(p=pid, day=day, tod=tod, inst=chc[pid], phys=-1, via=0)))
    # hospital specialists
    hm = np.flatnonzero(ch == 1)
    j, day = _schedule(rng, len(hm), interval[hm], rng.integers(0, 30, len(hm)))
    day = _next_open(day)
    pid = hm[j]
    parts_v.append(pd.DataFrame(dict(p=pid, day=day, tod=sample_tod(rng, len(pid), "outpatient"), inst=hosp[pid],
                                     phys=hphys[pid], via=1)))
    # internet hospital + pharmacy
    wm = np.flatnonzero(ch == 2)
    j, day = _schedule(rng, len(wm), interval[wm], rng.integers(0, 30, len(wm)))
    pid = wm[j]
    tod = (np.clip(rng.normal(15, 3.5, len(pid)), 7, 22.5) * 3600).astype(np.int64)
    parts_v.append(pd.DataFrame(dict(p=pid, day=day, tod=tod, inst=wi[pid], phys=wphys[pid], via=2)))
    S = pd.concat(parts_v, ignore_index=True)
    S["person"] = persons[S["p"].to_numpy()]
    S["start"] = day_ts(S["day"].to_numpy()) + S["tod"].to_numpy() + rng.integers(0, 60, len(S))
    cm_rows = S["via"].to_numpy() == 0
    S.loc[cm_rows, "phys"] = W.pick_phys(rng, S.loc[cm_rows, "inst"].to_numpy(), ["全科"])
    # the same GP most of the time: the first GP drawn for the person
    gp = S[cm_rows].groupby("person")["phys"].transform("first")
    S.loc[cm_rows, "phys"] = np.where(rng.random(cm_rows.sum()) < 0.8, gp, S.loc[cm_rows, "phys"])
    S["dx"] = [";".join(c for c in conds[p] if c in GENERAL) for p in S["person"]]
    S["dx"] = S["dx"].str.replace("E11.9", "E11.900", regex=False).where(rng.random(len(S)) < 0.1, S["dx"])
    S = S.sort_values(["person", "start"]).reset_index(drop=True)
    # settlements
    V = S[["person", "inst", "phys", "start", "dx"]].copy()
    V["vtype"] = "outpatient"
    V["origin"] = np.where(S["via"] == 0, "refill", "chronic")
    lines = [pd.DataFrame(dict(row=np.arange(len(S)), item=consult_item(W, S["inst"].to_numpy(), S["phys"].to_numpy(), rng),
                               qty=1.0, stime=S["start"].to_numpy() + 120))]
    drug_rows = S[S["via"] != 2].reset_index().merge(R, on="person")
    lines.append(pd.DataFrame(dict(row=drug_rows["index"], item=drug_rows["item"], qty=drug_rows["qty"],
                                   days=drug_rows["days"], stime=drug_rows["start"] + 900)))
    for c in GENERAL:
        for key, p in CHRONIC[c][4]:
            has = S["dx"].str.contains(c[:3]).to_numpy() & (rng.random(len(S)) < p) & (S["via"].to_numpy() != 2)
            lines.append(pd.DataFrame(dict(row=np.flatnonzero(has), item=K[key], qty=1.0,
                                           stime=S["start"].to_numpy()[has] + 1800)))
    L = pd.concat(lines, ignore_index=True).drop_duplicates(["row", "item"])
    W.add(V, L)
    # external prescriptions of internet revisits filled at a chain pharmacy within two days
    Sw = S[S["via"] == 2].reset_index(drop=True)
    chain = W.I["chain"].to_numpy()
    partner = np.flatnonzero((chain == 0) | (chain == 1))
    fav = W.P["fav_pharm"].to_numpy()[Sw["person"].to_numpy()]
    near = W.pick_inst(rng, W.pdist[Sw["person"].to_numpy()], "pharmacy", local=8.0)
    ph = np.where(np.isin(fav, partner), fav, np.where(np.isin(near, partner), near, partner[rng.integers(0, len(partner), len(Sw))]))
    st = Sw["start"].to_numpy() + rng.integers(1, 48, len(Sw)) * 3600
    st = np.where((st - day_ts(0)) % DAY > 21 * 3600, st + 12 * 3600, st)
    st = np.minimum(st, day_ts(NDAYS - 1) + 20 * 3600)
    V2 = pd.DataFrame(dict(person=Sw["person"], inst=ph, phys=Sw["phys"], start=st, dx=Sw["dx"], vtype="pharmacy",
                           origin="ext_rx"))
    d2 = Sw.reset_index().merge(R, on="person")
    L2 = pd.DataFrame(dict(row=d2["index"], item=d2["item"], qty=d2["qty"], days=d2["days"], stime=st[d2["index"]]))
    W.add(V2, L2)
    W.chronic_info = dict(persons=persons, channel=ch, hosp=hosp, hphys=hphys, R=R)
    return len(V) + len(V2)
