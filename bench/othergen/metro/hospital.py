"""Hospital care: acute admissions, deliveries, dialysis sessions, chemotherapy cycles (planned
readmissions), oral cancer drugs, psychiatric and rehabilitation stays."""
import numpy as np
import pandas as pd
from .util import DAY, NDAYS, CAL, day_ts, day_weights, sample_days, sample_tod
from .catalog import K
from .dx import MAXQ, CHRONIC, choose_items, qty_for_days, band
from .care import consult_item

# template items: (key, how, param): day = per day of stay, iv = per infusion day, n = fixed, p = with probability
INP = {
    "pneu": (["J18.9", "J18.0"], ["呼吸内科", "儿科", "内科"], [3, .8, .6, 1, 3], "", (0, 120), (7, 2, 4, 14), [.45, .4, .15],
             [("cftr", "iv", 2), ("nacl", "iv", 2), ("ambr", "n", 2), ("t_iv", "iv", 1), ("m_ivs", "iv", 1), ("l_cbc", "n", 2),
              ("l_liv", "n", 1), ("x_ct", "p", .6), ("x_dr", "p", .5)]),
    "strk": (["I63.9"], ["神经内科", "内科"], [0, 0, .1, 1, 3], "", (30, 120), (12, 3, 7, 20), [.55, .35, .1],
             [("dsdf", "iv", 1), ("gink", "iv", 1), ("aspi", "n", 1), ("ator", "n", 1), ("nacl", "iv", 2), ("t_iv", "iv", 1),
              ("m_ivs", "iv", 1), ("x_ct", "n", 1), ("x_mri", "p", .6), ("x_us", "p", .5), ("l_cbc", "n", 2), ("l_lip", "n", 1)]),
    "ami": (["I21.9"], ["心血管内科"], [0, 0, .1, 1, 1.5], "", (30, 120), (8, 2, 5, 14), [.8, .2, 0],
            [("s_pci", "n", 1), ("m_stn", "n", 1), ("tica", "n", 2), ("aspi", "n", 1), ("ator", "n", 1), ("lmwh", "iv", 2),
             ("x_ecg", "n", 3), ("l_cbc", "n", 2)]),
    "chole": (["K80.1"], ["普通外科"], [0, 0, .5, 1, 1], "", (18, 120), (6, 1.5, 4, 10), [.5, .4, .1],
              [("s_lc", "n", 1), ("s_ga", "n", 1), ("m_clp", "n", 2), ("cftr", "iv", 2), ("pant", "iv", 1), ("nacl", "iv", 2),
               ("x_us", "n", 1), ("l_cbc", "n", 2), ("l_liv", "n", 1)]),
    "appe": (["K35.8"], ["普通外科"], [0, 1, 1, .5, .3], "", (5, 120), (5, 1, 3, 8), [.5, .4, .1],
             [("s_app", "n", 1), ("s_ga", "n", 1), ("cftr", "iv", 2), ("nacl", "iv", 2), ("l_cbc", "n", 2), ("x_us", "n", 1)]),
    "aecopd": (["J44.1"], ["呼吸内科", "内科"], [0, 0, 0, .5, 2], "", (45, 120), (9, 2, 5, 15), [.45, .4, .15],
               [("pipt", "iv", 3), ("nacl", "iv", 2), ("ambr", "n", 2), ("budf", "n", 1), ("x_ct", "p", .5), ("l_cbc", "n", 2),
                ("t_iv", "iv", 1)]),
    "vd": (["O80"], ["妇产科"], [0, 0, 1, 0, 0], "F", (20, 42), (3, .8, 2, 5), [.55, .35, .1],
           [("s_vd", "n", 1), ("oxyt", "n", 2), ("x_us", "n", 1), ("l_cbc", "n", 2)]),
    "cs": (["O82"], ["妇产科"], [0, 0, 1, 0, 0], "F", (20, 44), (5, 1, 4, 8), [.55, .35, .1],
           [("s_cs", "n", 1), ("s_ga", "n", 1), ("oxyt", "n", 2), ("cftr", "iv", 2), ("nacl", "iv", 2), ("x_us", "n", 1),
            ("l_cbc", "n", 2)]),
    "hip": (["S72.0"], ["骨科"], [0, 0, 0, .2, 1.5], "", (60, 120), (14, 3, 9, 21), [.7, .3, 0],
            [("s_thr", "n", 1), ("m_hip", "n", 1), ("s_ga", "n", 1), ("lmwh", "iv", 1), ("cftr", "n", 6), ("x_dr", "n", 2),
             ("x_ct", "n", 1), ("l_cbc", "n", 3)]),
    "stone": (["N20.0"], ["泌尿外科"], [0, 0, 1, 1, .5], "", (18, 120), (4, 1, 2, 7), [.5, .4, .1],
              [("s_esw", "n", 1), ("nacl", "iv", 2), ("l_uri", "n", 1), ("x_us", "n", 1), ("x_ct", "p", .5)]),
}
INP_KEYS = list(INP)
RATE = np.array([0.05, 0.02, 0.045, 0.09, 0.22])
BED = {3: K["b_3"], 2: K["b_2"]}


def bed_item(W, inst):
    lv = W.I["level"].fillna(1).to_numpy().astype(int)[inst]
    return np.where(lv == 3, K["b_3"], np.where(lv == 2, K["b_2"], K["b_1"]))


def stay_lines(W, rng, S, tmpl_items, ward_per_day=True):
    """S: DataFrame (row, inst, phys, start, los). Builds bed/nursing/consult lines + template lines."""
    n = len(S)
    row, inst, start, los = S["row"].to_numpy(), S["inst"].to_numpy(), S["start"].to_numpy(), S["los"].to_numpy()
    parts = [pd.DataFrame(dict(row=row, item=bed_item(W, inst), qty=los.astype(float), stime=start)),
             pd.DataFrame(dict(row=row, item=K["n_2"], qty=los.astype(float), stime=start + 3600)),
             pd.DataFrame(dict(row=row, item=K["i_dx"], qty=los.astype(float), stime=start + 5400))]
    ivd = np.maximum(1, np.minimum(los - 1, rng.integers(5, 11, n)))
    for key, how, par in tmpl_items:
        it = K[key]
        if how == "p":
            m = rng.random(n) < par
            q = np.ones(m.sum())
        else:
            m = np.ones(n, bool)
            q = {"day": los * par, "iv": ivd * par, "n": np.full(n, float(par))}[how]
            q = np.minimum(np.ceil(q), MAXQ[it])
        off = (rng.random(m.sum()) * np.maximum(los[m] - 0.5, 0.5) * DAY).astype(np.int64)
        parts.append(pd.DataFrame(dict(row=row[m], item=it, qty=q, stime=start[m] + off)))
    return pd.concat(parts, ignore_index=True)


def _admit_days(rng, n, lo=0, hi=NDAYS):
    return sample_days(rng, n, np.where(CAL["workday"], 1.0, 0.45), lo, hi)


def _second_phys(W, rng, inst, phys):
    """another physician of the same institution (surgeon, anaesthetist) for line-level ordering."""
    out = phys.copy()
    for i in np.unique(inst):
        cl = W.clinicians(i)
        m = inst == i
        if len(cl) > 1:
            out[m] = cl[rng.integers(0, len(cl), m.sum())]
    return np.where(out == phys, -1, out)


def acute_stays(W):
    rng = W.rng("stays")
    n = len(W.P)
    b = band(W.age)
    lam = RATE[b] + (W.P["conds"].map(len).to_numpy() > 0) * 0.04
    lam = np.where(W.P["away"].to_numpy(), 0, lam)
    cnt = rng.poisson(lam)
    person = np.repeat(np.arange(n), cnt)
    # deliveries
    fert = np.flatnonzero((W.sex == "F") & (W.age >= 21) & (W.age <= 41))
    mom = fert[rng.random(len(fert)) < 0.045]
    m = len(person)
    pa, ps, pb = W.age[person], W.sex[person], b[person]
    keys = [k for k in INP_KEYS if k not in ("vd", "cs")]
    w = np.array([[INP[k][2][bb] for k in keys] for bb in range(5)], float)
    lo = np.array([INP[k][4][0] for k in keys])
    hi = np.array([INP[k][4][1] for k in keys])
    sexok = np.array([[INP[k][3] in ("", s) for k in keys] for s in ("M", "F")])
    ww = w[pb] * ((pa[:, None] >= lo) & (pa[:, None] <= hi)) * sexok[(ps == "F").astype(int)]
    c = np.cumsum(ww, 1)
    grp = (c < (rng.random(m) * c[:, -1])[:, None]).sum(1)
    grp_name = np.array(keys)[np.minimum(grp, len(keys) - 1)]
    person = np.concatenate([person, mom])
    grp_name = np.concatenate([grp_name, np.where(rng.random(len(mom)) < 0.4, "cs", "vd")])
    return build_stays(W, rng, person, grp_name, origin="legit")


def build_stays(W, rng, person, grp_name, origin="legit", inst=None, day=None, phys=None, tag="", ring="", ward=True):
    m = len(person)
    inst_given = inst is not None
    if inst is None:
        inst = np.full(m, -1)
    if day is None:
        day = _admit_days(rng, m)
    if phys is None:
        phys = np.full(m, -1)
    los = np.zeros(m, np.int64)
    dxc = np.empty(m, dtype=object)
    Ls, Vs = [], []
    for g in np.unique(grp_name):
        sel = np.flatnonzero(grp_name == g)
        codes, specs, _, _, _, (mu, sd, lmin, lmax), clsw, items = INP[g]
        if not inst_given:
            cls = np.array(["tertiary", "secondary", "private"])[rng.choice(3, size=len(sel), p=np.array(clsw) / sum(clsw))]
            for cn in np.unique(cls):
                s2 = sel[cls == cn]
                inst[s2] = W.pick_inst(rng, W.pdist[person[s2]], cn, local=2.5, exclude=np.flatnonzero(W.I["onco"].to_numpy()))
        ph = W.pick_phys(rng, inst[sel], specs)
        phys[sel] = np.where(phys[sel] >= 0, phys[sel], ph)
        los[sel] = np.clip(np.round(rng.normal(mu, sd, len(sel))), lmin, lmax).astype(np.int64)
        dxc[sel] = np.array(codes, dtype=object)[rng.integers(0, len(codes), len(sel))]
    start = day_ts(day) + sample_tod(rng, m, "inpatient")
    los = np.minimum(los, np.maximum(1, NDAYS - 1 - day))
    end = day_ts(day + los) + (np.clip(rng.normal(10, 1.2, m), 8, 16) * 3600).astype(np.int64)
    V = pd.DataFrame(dict(person=person, inst=inst, phys=phys, vtype="inpatient", start=start, end=end, dx=dxc,
                          origin=origin, tag=tag, ring=ring, ward=ward))
    S = pd.DataFrame(dict(row=np.arange(m), inst=inst, phys=phys, start=start, los=los))
    for g in np.unique(grp_name):
        sel = np.flatnonzero(grp_name == g)
        Lg = stay_lines(W, rng, S.iloc[sel], INP[g][7])
        Ls.append(Lg)
    L = pd.concat(Ls, ignore_index=True)
    surg = np.isin(L["item"].to_numpy(), [K[k] for k in ("s_lc", "s_app", "s_pci", "s_ga", "s_cs", "s_thr", "s_esw")])
    r = L["row"].to_numpy()[surg]
    L.loc[surg, "lphys"] = _second_phys(W, rng, inst[r], phys[r])
    if tag:
        L["tag"] = tag
    return W.add(V, L)


def dialysis(W):
    rng = W.rng("dialysis")
    pts = np.flatnonzero(np.array(["N18.5" in c for c in W.P["conds"]]) & ~W.P["away"].to_numpy())
    if not len(pts):
        return 0
    hosp = W.pick_inst(rng, W.pdist[pts], ["tertiary", "secondary"], local=3.0, exclude=np.flatnonzero(W.I["onco"].to_numpy()))
    neph = W.pick_phys(rng, hosp, ["肾内科"])
    rows = []
    for j, p in enumerate(pts):
        pattern = [0, 2, 4] if rng.random() < 0.5 else [1, 3, 5]
        if rng.random() < 0.3:
            pattern = pattern[:2]
        shift = rng.choice([7.5, 12.5, 17.5])
        days = np.flatnonzero(np.isin(CAL["weekday"], pattern))
        rows.append(pd.DataFrame(dict(person=p, inst=hosp[j], phys=neph[j], day=days, h=shift)))
    S = pd.concat(rows, ignore_index=True)
    S["start"] = day_ts(S["day"].to_numpy()) + (S["h"].to_numpy() * 3600).astype(np.int64) + rng.integers(0, 1200, len(S))
    V = S[["person", "inst", "phys", "start"]].assign(dx="N18.5", vtype="outpatient", origin="dialysis")
    n = len(S)
    st = S["start"].to_numpy()
    L = [pd.DataFrame(dict(row=np.arange(n), item=K["t_hd"], qty=1.0, stime=st + 600)),
         pd.DataFrame(dict(row=np.arange(n), item=K["m_dlz"], qty=1.0, stime=st + 600))]
    e = np.flatnonzero(rng.random(n) < 0.5)
    L.append(pd.DataFrame(dict(row=e, item=K["epo"], qty=1.0, days=3, stime=st[e] + 9000)))
    f = np.flatnonzero(rng.random(n) < 0.12)
    L.append(pd.DataFrame(dict(row=f, item=K["iron"], qty=1.0, days=7, stime=st[f] + 9000)))
    W.add(V, pd.concat(L, ignore_index=True))
    W.note(f"dialysis patients: {len(pts)} ({n} sessions)")
    return n
