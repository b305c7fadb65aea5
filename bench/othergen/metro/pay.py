"""Settlement arithmetic: line amounts, visit totals, the pooled fund's share, personal accounts and
family account sharing (家庭共济: a registered relative's account pays)."""
import numpy as np
import pandas as pd
from .catalog import CAT
from .util import floor_cents
from .family import family_partners

ELIG = {"A": 1.0, "B": 0.9, "C": 0.0}
OUT_EMP = {"community": .8, "clinic": .7, "internet": .55, "psych": .7, "rehab": .65}
OUT_RES = {"community": .6, "clinic": .5, "internet": .45, "psych": .6, "rehab": .5}
LV_EMP = {1: .75, 2: .65, 3: .55}
LV_RES = {1: .55, 2: .5, 3: .45}
INP_EMP = {1: (.9, 300), 2: (.88, 600), 3: (.85, 900)}
INP_RES = {1: (.8, 400), 2: (.72, 700), 3: (.65, 1000)}


def settle(W, rng):
    L, V, I = W.L, W.V, W.I
    it = L["item"].to_numpy()
    L["amount"] = np.round(np.round(L["qty"].to_numpy() * L["price"].to_numpy(), 2) + L.get("adj", 0.0), 2)
    cls = CAT["insurance_class"].to_numpy()[it]
    typ = CAT["item_type"].to_numpy()[it]
    elig = L["amount"].to_numpy() * np.where(typ == "non_medical", 0.0, np.vectorize(ELIG.get)(cls))
    nonmed = np.where(typ == "non_medical", L["amount"].to_numpy(), 0.0)
    dial = np.where(L["item"].to_numpy() == CAT.index[CAT["key"] == "t_hd"][0], 1.0, 0.0)
    g = pd.DataFrame(dict(vk=L["vk"], amt=L["amount"], elig=elig, nonmed=nonmed, dial=dial)).groupby("vk").sum()
    g = g.reindex(V["vk"]).fillna(0.0)
    total = np.round(g["amt"].to_numpy(), 2)
    inst = V["inst"].to_numpy()
    icls = W.icls[inst]
    lvl = I["level"].fillna(1).to_numpy().astype(int)[inst]
    person = V["person"].to_numpy()
    emp = W.P["insurance_type"].to_numpy()[person] == "employee"
    vt = V["vtype"].to_numpy()
    ratio = np.zeros(len(V))
    ded = np.zeros(len(V))
    for c, r in OUT_EMP.items():
        m = (vt == "outpatient") & (icls == c)
        ratio[m] = np.where(emp[m], r, OUT_RES[c])
    hosp_out = (vt == "outpatient") & np.isin(icls, ["tertiary", "secondary", "private"])
    ratio[hosp_out] = np.where(emp[hosp_out], np.vectorize(LV_EMP.get)(lvl[hosp_out]), np.vectorize(LV_RES.get)(lvl[hosp_out]))
    rx = (vt == "pharmacy") & (V["phys"].to_numpy() >= 0)
    ratio[rx] = np.where(emp[rx], 0.5, 0.4)
    inp = vt == "inpatient"
    lv = np.clip(lvl[inp], 1, 3)
    ratio[inp] = np.where(emp[inp], [INP_EMP[x][0] for x in lv], [INP_RES[x][0] for x in lv])
    ded[inp] = np.where(emp[inp], [INP_EMP[x][1] for x in lv], [INP_RES[x][1] for x in lv])
    # registered chronic (门慢门特) conditions in the diagnosis raise the outpatient share
    reg = W.P["chronic_conditions"].to_numpy()[person]
    dx = V["dx"].fillna("").to_numpy()
    chron = np.array([bool(r) and any(c[:3] in d for c in r.split(";")) for r, d in zip(reg, dx)])
    ratio = np.where(~inp & (ratio > 0) & chron, np.minimum(ratio + 0.1, 0.9), ratio)
    ratio = np.where(g["dial"].to_numpy() > 0, np.where(emp, 0.9, 0.8), ratio)
    fund = floor_cents(np.maximum(0.0, g["elig"].to_numpy() - ded) * ratio)
    fund = np.minimum(fund, total)
    cap_acct = np.round(np.maximum(0.0, total - fund - g["nonmed"].to_numpy()), 2)
    u = rng.random(len(V))
    own = emp & np.where(vt == "pharmacy", u < 0.9, np.where(vt == "outpatient", u < 0.7, u < 0.25))
    acct = np.where(own, np.where(inp, np.minimum(cap_acct, np.round(rng.uniform(0, 3000, len(V)), 2)), cap_acct), 0.0)
    # family account sharing: a registered employee relative pays from their account
    fp = family_partners(W.links)
    fp = fp[W.P["insurance_type"].to_numpy()[fp["q"].to_numpy()] == "employee"].drop_duplicates("p")
    partner = pd.Series(fp["q"].to_numpy(), index=fp["p"].to_numpy()).reindex(person).fillna(-1).astype(int).to_numpy()
    use = (partner >= 0) & ~inp & (cap_acct > 0) & (V["tag"].to_numpy() == "")
    use &= np.where(emp, rng.random(len(V)) < 0.08, rng.random(len(V)) < 0.55)
    payer = np.where(use, partner, -1)
    acct = np.where(use, cap_acct, acct)
    V["total"] = total
    V["fund"] = np.round(fund, 2)
    V["acct"] = np.round(acct, 2)
    V["payer"] = payer
    assert (V["fund"] + V["acct"] <= V["total"] + 0.005).all()
    W.note(f"family account sharing: {int(use.sum())} settlements paid from a registered relative's personal account")
