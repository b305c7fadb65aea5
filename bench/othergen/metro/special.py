"""Specialist care that looks unusual but is legitimate: chemotherapy cycles with planned readmissions,
expensive oral cancer drugs (hospital or 双通道 pharmacy), psychiatric follow-up and long stays,
rehabilitation stays."""
import numpy as np
import pandas as pd
from .util import DAY, NDAYS, CAL, day_ts, sample_tod
from .catalog import K
from .dx import CHRONIC, choose_items, qty_for_days
from .care import consult_item
from .hospital import stay_lines

CHEMO = {"C34.9": [[("pacl", "n", 3), ("cisp", "n", 4)], [("sint", "n", 2)]],
         "C50.9": [[("tras", "n", 1), ("pacl", "n", 3)], [("tras", "n", 1)]],
         "C18.9": [[("oxal", "n", 3), ("cape", "n", 6)]]}
CHEMO_COMMON = [("onda", "n", 2), ("nacl", "n", 4), ("t_chm", "n", 1), ("l_cbc", "n", 1), ("l_liv", "n", 1), ("t_iv", "n", 2),
                ("m_ivs", "n", 2)]


def _cancer(W, code):
    return np.flatnonzero(np.array([code in c for c in W.P["conds"]]))


def _onco_site(W, rng, pts):
    onco = np.flatnonzero(W.I["onco"].to_numpy())
    tert = W.pick_inst(rng, W.pdist[pts], "tertiary", local=2.0)
    inst = np.where(rng.random(len(pts)) < 0.55, onco[0], tert)
    return inst, W.pick_phys(rng, inst, ["肿瘤科"])


def chemo(W):
    rng = W.rng("chemo")
    Vs, Ls, nrow = [], [], 0
    for code, regs in CHEMO.items():
        pts = _cancer(W, code)
        pts = pts[rng.random(len(pts)) < 0.6]
        if not len(pts):
            continue
        inst, onc = _onco_site(W, rng, pts)
        for j, p in enumerate(pts):
            cyc = 14 if code == "C18.9" else 21
            ncyc = int(rng.integers(4, 9))
            first = int(rng.integers(0, 250))
            reg = regs[int(rng.integers(0, len(regs)))]
            days = first + cyc * np.arange(ncyc) + rng.integers(0, 3, ncyc)
            days = days[days < NDAYS - 4]
            for d in days:
                while not CAL["workday"][d] and d < NDAYS - 4:
                    d += 1
                los = int(rng.integers(2, 4))
                st = int(day_ts(d)) + int(rng.integers(8 * 3600, 11 * 3600))
                en = int(day_ts(d + los)) + int(rng.integers(9 * 3600, 12 * 3600))
                Vs.append(dict(person=p, inst=inst[j], phys=onc[j], vtype="inpatient", start=st, end=en,
                               dx=f"{code};Z51.1", origin="chemo", ward=True, los=los))
    if not Vs:
        return 0
    V = pd.DataFrame(Vs)
    S = pd.DataFrame(dict(row=np.arange(len(V)), inst=V["inst"], phys=V["phys"], start=V["start"], los=V["los"]))
    parts = [stay_lines(W, rng, S, CHEMO_COMMON)]
    # cancer-specific drugs: one regimen per patient
    for code, regs in CHEMO.items():
        sel = np.flatnonzero(V["dx"].str.startswith(code).to_numpy())
        if not len(sel):
            continue
        pick = rng.integers(0, len(regs), len(sel))
        for ri, reg in enumerate(regs):
            s2 = sel[pick == ri]
            for key, _, q in reg:
                parts.append(pd.DataFrame(dict(row=s2, item=K[key], qty=float(q), stime=V["start"].to_numpy()[s2] + 7200)))
    W.add(V.drop(columns="los"), pd.concat(parts, ignore_index=True))
    W.note(f"chemotherapy admissions (planned readmissions every 14/21 days): {len(V)}")
    return len(V)


def oral_cancer(W):
    """monthly targeted/endocrine drugs: hospital oncology clinic or external prescription at a pharmacy."""
    rng = W.rng("oralca")
    pts = np.flatnonzero(np.array([any(c.startswith("C") for c in cs) for cs in W.P["conds"]]))
    pts = pts[rng.random(len(pts)) < 0.7]
    if not len(pts):
        return 0
    code = np.array([[c for c in W.P.at[p, "conds"] if c.startswith("C")][0] for p in pts])
    inst, onc = _onco_site(W, rng, pts)
    via_ph = rng.random(len(pts)) < 0.4
    R = []
    for c in np.unique(code):
        sel = np.flatnonzero(code == c)
        r, it = choose_items(rng, CHRONIC[c][2], W.age[pts[sel]], W.sex[pts[sel]], 1, 1)
        q, d = qty_for_days(it, np.full(len(it), 30))
        R.append(pd.DataFrame(dict(j=sel[r], item=it, qty=q, days=d)))
    R = pd.concat(R, ignore_index=True)
    rows = []
    for j, p in enumerate(pts):
        first = int(rng.integers(0, 40))
        days = first + 30 * np.arange(13) + rng.integers(-2, 3, 13)
        days = days[(days >= 0) & (days < NDAYS)]
        for d in days:
            rows.append((j, p, d))
    S = pd.DataFrame(rows, columns=["j", "person", "day"])
    j = S["j"].to_numpy()
    ph = W.P["fav_pharm"].to_numpy()[S["person"].to_numpy()]
    S["inst"] = np.where(via_ph[j], ph, inst[j])
    S["phys"] = onc[j]
    S["vtype"] = np.where(via_ph[j], "pharmacy", "outpatient")
    S["start"] = day_ts(S["day"].to_numpy()) + sample_tod(rng, len(S), "outpatient")
    S["dx"] = code[j]
    S["origin"] = np.where(via_ph[j], "dual_channel", "oncology")
    n = len(S)
    L = [pd.DataFrame(dict(row=np.arange(n), j=j)).merge(R, on="j").drop(columns="j")]
    L[0]["stime"] = S["start"].to_numpy()[L[0]["row"].to_numpy()] + 600
    hv = np.flatnonzero(~via_ph[j])
    L.append(pd.DataFrame(dict(row=hv, item=consult_item(W, S["inst"].to_numpy()[hv], S["phys"].to_numpy()[hv], rng), qty=1.0,
                               stime=S["start"].to_numpy()[hv])))
    W.add(S[["person", "inst", "phys", "vtype", "start", "dx", "origin"]], pd.concat(L, ignore_index=True))
    return n


def psych(W):
    rng = W.rng("psych")
    pts = np.flatnonzero(np.array(["F20.9" in c for c in W.P["conds"]]))
    if not len(pts):
        return 0
    ph = np.flatnonzero(W.icls == "psych")[0]
    doc = W.pick_phys(rng, np.full(len(pts), ph), ["精神科"])
    r, it = choose_items(rng, CHRONIC["F20.9"][2], W.age[pts], W.sex[pts], 1, 1)
    q, d = qty_for_days(it, np.full(len(it), 30))
    R = pd.DataFrame(dict(j=r, item=it, qty=q, days=d))
    rows, stays = [], []
    for j, p in enumerate(pts):
        first = int(rng.integers(0, 30))
        for d in first + 30 * np.arange(13) + rng.integers(-3, 4, 13):
            if 0 <= d < NDAYS:
                rows.append((j, p, d))
        if rng.random() < 0.35:
            d0 = int(rng.integers(0, 280))
            for k in range(1 + int(rng.random() < 0.3)):
                los = int(rng.integers(30, 91))
                if d0 + los < NDAYS - 1:
                    stays.append((j, p, d0, los))
                d0 += los + int(rng.integers(20, 61))
    S = pd.DataFrame(rows, columns=["j", "person", "day"])
    S["start"] = day_ts(S["day"].to_numpy()) + sample_tod(rng, len(S), "outpatient")
    S["inst"], S["phys"] = ph, doc[S["j"].to_numpy()]
    n = len(S)
    L = pd.DataFrame(dict(row=np.arange(n), j=S["j"])).merge(R, on="j").drop(columns="j")
    L["stime"] = S["start"].to_numpy()[L["row"].to_numpy()] + 600
    L = pd.concat([L, pd.DataFrame(dict(row=np.arange(n), item=K["c_opd"], qty=1.0, stime=S["start"].to_numpy()))])
    W.add(S.assign(vtype="outpatient", dx="F20.9", origin="psych")[["person", "inst", "phys", "vtype", "start", "dx", "origin"]], L)
    if stays:
        T = pd.DataFrame(stays, columns=["j", "person", "day", "los"])
        st = day_ts(T["day"].to_numpy()) + sample_tod(rng, len(T), "inpatient")
        en = day_ts(T["day"].to_numpy() + T["los"].to_numpy()) + 10 * 3600
        V = pd.DataFrame(dict(person=T["person"], inst=ph, phys=doc[T["j"].to_numpy()], vtype="inpatient", start=st, end=en,
                              dx="F20.9", origin="psych", ward=True))
        S2 = pd.DataFrame(dict(row=np.arange(len(T)), inst=ph, phys=V["phys"], start=st, los=T["los"]))
        Ls = [stay_lines(W, rng, S2, [("t_psy", "day", 1), ("l_cbc", "n", 2), ("x_ecg", "n", 1)])]
        dr = pd.DataFrame(dict(row=np.arange(len(T)), j=T["j"])).merge(R[["j", "item"]], on="j")
        los = T["los"].to_numpy()[dr["row"].to_numpy()]
        q, _ = qty_for_days(dr["item"].to_numpy(), los)
        Ls.append(pd.DataFrame(dict(row=dr["row"], item=dr["item"], qty=q, stime=st[dr["row"].to_numpy()] + 7200)))
        Ls.append(pd.DataFrame(dict(row=np.arange(len(T)), item=K["t_pth"], qty=np.ceil(T["los"].to_numpy() / 7),
                                    stime=st + 86400)))
        W.add(V, pd.concat(Ls, ignore_index=True))
    return n + len(stays)


def rehab(W):
    rng = W.rng("rehab")
    pts = np.flatnonzero(np.array(["I69.3" in c for c in W.P["conds"]]) & (W.P["nh"].to_numpy() < 0))
    pts = pts[rng.random(len(pts)) < 0.3]
    if not len(pts):
        return 0
    rh = np.flatnonzero(W.icls == "rehab")[0]
    doc = W.pick_phys(rng, np.full(len(pts), rh), ["康复医学科"])
    stays = []
    for j, p in enumerate(pts):
        d0 = int(rng.integers(0, 250))
        for k in range(1 + int(rng.random() < 0.4) + int(rng.random() < 0.15)):
            los = int(rng.integers(18, 46))
            if d0 + los < NDAYS - 1:
                stays.append((j, p, d0, los))
            d0 += los + int(rng.integers(25, 70))
    T = pd.DataFrame(stays, columns=["j", "person", "day", "los"])
    st = day_ts(T["day"].to_numpy()) + sample_tod(rng, len(T), "inpatient")
    en = day_ts(T["day"].to_numpy() + T["los"].to_numpy()) + 10 * 3600
    V = pd.DataFrame(dict(person=T["person"], inst=rh, phys=doc[T["j"].to_numpy()], vtype="inpatient", start=st, end=en,
                          dx="I69.3", origin="rehab", ward=True))
    S = pd.DataFrame(dict(row=np.arange(len(T)), inst=rh, phys=V["phys"], start=st, los=T["los"]))
    L = stay_lines(W, rng, S, [("t_reh", "day", 1), ("t_acu", "day", .5), ("t_tui", "day", .3), ("xstg", "n", 2),
                               ("aspi", "n", 1)])
    W.add(V, L)
    return len(T)
