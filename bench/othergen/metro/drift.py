"""Ordinary business drift: from some month on an institution or physician moves away from its peers
(cost per visit, drug share, visits per patient). Not fraud; written to truth/drift.csv."""
import numpy as np
import pandas as pd
from .util import DAY, NDAYS, YEAR, month_of
from .catalog import K, CAT
from .rings import free_inst


def _period(m):
    return f"{YEAR}-{m + 1:02d}"


def apply(W, rng):
    V, L = W.V, W.L
    mth = month_of(V["start"].to_numpy())
    clean = (V["tag"].to_numpy() == "")
    kinds = ["inst_cost", "phys_drug", "chc_vpp", "pharm_cost", "phys_cost"]
    chosen = list(rng.choice(kinds, int(rng.integers(4, 6)), replace=False))
    if "chc_vpp" not in chosen:
        chosen[0] = "chc_vpp"
    used = set()
    add_v, add_l = [], []
    for kd in chosen:
        m0 = int(rng.integers(3, 9))
        after = clean & (mth >= m0)
        if kd in ("inst_cost", "pharm_cost", "chc_vpp"):
            cls = {"inst_cost": ["secondary", "private", "clinic"], "pharm_cost": ["pharmacy"], "chc_vpp": ["community"]}[kd]
            cands = [i for i in free_inst(W, cls) if i not in used and (V["inst"].to_numpy() == i).sum() > 150]
            if not cands:
                continue
            e = int(rng.choice(cands))
            used.add(e)
            W.used_inst.add(e)
            sel = np.flatnonzero(after & (V["inst"].to_numpy() == e) & (V["vtype"].to_numpy() != "inpatient"))
            if kd == "inst_cost":
                s2 = sel[rng.random(len(sel)) < rng.uniform(0.35, 0.6)]
                item = np.where(rng.random(len(s2)) < 0.5, K["x_ct"], K["x_us"])
                add_l.append(pd.DataFrame(dict(vk=V["vk"].to_numpy()[s2], item=item, qty=1.0, stime=V["start"].to_numpy()[s2] + 2400)))
                W.drift.append(("institution", e, "cost_per_visit", _period(m0)))
            elif kd == "pharm_cost":
                s2 = sel[rng.random(len(sel)) < rng.uniform(0.12, 0.25)]
                add_l.append(pd.DataFrame(dict(vk=V["vk"].to_numpy()[s2], item=K["agnh"], qty=1.0,
                                               days=1, stime=V["start"].to_numpy()[s2])))
                W.drift.append(("institution", e, "cost_per_visit", _period(m0)))
            else:
                # family-doctor contract: chronic patients now also come for a mid-month follow-up
                s2 = sel[V["origin"].to_numpy()[sel] == "refill"]
                nv = V.iloc[s2][["person", "inst", "phys", "vtype", "start", "dx", "face"]].copy()
                nv["start"] = nv["start"].to_numpy() + rng.integers(12, 17, len(nv)) * DAY
                nv = nv[nv["start"] < W.V["start"].max()]
                nv["origin"] = "followup"
                add_v.append(nv)
                W.drift.append(("institution", e, "visits_per_patient", _period(m0)))
        else:
            vc = V.loc[clean & (V["vtype"].to_numpy() == "outpatient"), "phys"].value_counts()
            cands = [p for p in vc.index[vc > 80] if p >= 0 and p not in W.used_phys and W.dinst[p] not in W.used_inst
                     and p not in used and W.icls[W.dinst[p]] in ("tertiary", "secondary")]
            if not cands:
                continue
            e = int(rng.choice(cands))
            used.add(e)
            W.used_phys.add(e)
            sel = np.flatnonzero(after & (V["phys"].to_numpy() == e))
            if kd == "phys_drug":
                s2 = sel[rng.random(len(sel)) < 0.7]
                have = set(zip(L["vk"].to_numpy(), L["item"].to_numpy()))
                vk = V["vk"].to_numpy()[s2]
                it = np.where(rng.random(len(s2)) < 0.5, K["dans"], K["liuw"])
                ok = np.array([(a, b) not in have for a, b in zip(vk, it)], dtype=bool)
                add_l.append(pd.DataFrame(dict(vk=vk[ok], item=it[ok], qty=2.0, days=30 if False else 28,
                                               stime=V["start"].to_numpy()[s2][ok] + 900)))
                W.drift.append(("physician", e, "drug_share", _period(m0)))
            else:
                s2 = sel[rng.random(len(sel)) < rng.uniform(0.25, 0.4)]
                add_l.append(pd.DataFrame(dict(vk=V["vk"].to_numpy()[s2], item=K["x_mri"], qty=1.0,
                                               stime=V["start"].to_numpy()[s2] + 3000)))
                W.drift.append(("physician", e, "cost_per_visit", _period(m0)))
    if add_l:
        A = pd.concat(add_l, ignore_index=True)
        A = A[~pd.MultiIndex.from_frame(A[["vk", "item"]]).isin(pd.MultiIndex.from_frame(L[["vk", "item"]]))]
        A = A.drop_duplicates(["vk", "item"])
        A["lk"] = W.nl + np.arange(len(A))
        W.nl += len(A)
        for c, v in (("days", -1), ("lphys", -1), ("tag", ""), ("tr", ""), ("price", np.nan)):
            if c not in A:
                A[c] = v
        A["days"] = A["days"].fillna(-1)
        W.L = pd.concat([W.L, A[W.L.columns]], ignore_index=True)
    if add_v:
        NV = pd.concat(add_v, ignore_index=True)
        Lf = pd.DataFrame(dict(row=np.arange(len(NV)), item=K["c_chc"], qty=1.0, stime=NV["start"].to_numpy() + 120))
        lab = np.flatnonzero(rng.random(len(NV)) < 0.3)
        Lf = pd.concat([Lf, pd.DataFrame(dict(row=lab, item=K["l_cbc"], qty=1.0, stime=NV["start"].to_numpy()[lab] + 900))])
        W.add(NV, Lf)
    for d in W.drift:
        W.note(f"drift: {d[0]} {W.eid(d[0], d[1])} {d[2]} from {d[3]}")
