"""Registered family account sharing (家庭共济) as stars or chains, proxy purchase (代购) bindings,
nursing-home carers."""
import numpy as np
import pandas as pd
from .util import stream

ORDER = {"grandparent": 0, "head": 1, "spouse": 2, "child": 3}


def rel(ra, rb):
    """relation of b as seen from a."""
    if {ra, rb} == {"head", "spouse"}:
        return "spouse"
    if ra in ("head", "spouse") and rb == "child":
        return "child"
    if ra == "child" and rb in ("head", "spouse"):
        return "parent"
    if ra == "head" and rb == "grandparent":
        return "parent"
    if ra == "spouse" and rb == "grandparent":
        return "parent-in-law"
    if ra == "grandparent" and rb == "head":
        return "child"
    if ra == "grandparent" and rb == "spouse":
        return "child-in-law"
    if ra == "grandparent" and rb == "grandparent":
        return "spouse"
    if ra == "grandparent" and rb == "child":
        return "grandchild"
    if ra == "child" and rb == "grandparent":
        return "grandparent"
    return "sibling"


def build(P, NH, seed):
    rng = stream(seed, "family")
    rows = []
    roles = P["role"].to_numpy()
    ins = P["insurance_type"].to_numpy()
    age = P["age"].to_numpy()
    dist = P["dist"].to_numpy()
    nh = P["nh"].to_numpy()
    groups = P[nh < 0].groupby("hh").indices
    hh_members = {}
    for h, loc in groups.items():
        mem = P.index.to_numpy()[nh < 0][loc]
        hh_members[h] = mem
        if len(mem) < 2 or not (ins[mem] == "employee").any() or rng.random() > 0.42:
            continue
        if rng.random() < 0.6:                                   # star around one account holder
            emp = [m for m in mem if ins[m] == "employee" and roles[m] in ("head", "spouse")] or \
                  [m for m in mem if ins[m] == "employee"]
            holder = emp[0]
            for m in mem:
                if m != holder:
                    rows.append((holder, m, rel(roles[holder], roles[m])))
        else:                                                    # chain registered by successive members
            mem = sorted(mem, key=lambda m: (ORDER[roles[m]], m))
            for a, b in zip(mem[:-1], mem[1:]):
                rows.append((a, b, rel(roles[a], roles[b])))
    fam = set((a, b) for a, b, _ in rows)
    # proxies for the elderly
    for h, mem in hh_members.items():
        old = [m for m in mem if age[m] >= 75]
        young = [m for m in mem if 25 <= age[m] < 65]
        for o in old:
            if young and rng.random() < 0.35:
                rows.append((o, young[0], "proxy"))
        if len(mem) == 2 and set(roles[mem]) == {"head", "spouse"} and age[mem].min() >= 70 and rng.random() < 0.4:
            a, b = (mem[1], mem[0]) if rng.random() < 0.5 else (mem[0], mem[1])
            if (a, b) not in fam and (b, a) not in fam:
                rows.append((a, b, "spouse"))
            rows.append((a, b, "proxy"))                       # one pair bound twice: spouse and proxy
    lone = np.flatnonzero((age >= 80) & (nh < 0) & (roles == "head"))
    adults = np.flatnonzero((age >= 30) & (age < 60) & (nh < 0))
    for o in lone:
        if rng.random() < 0.22:
            same = adults[dist[adults] == dist[o]]
            if len(same):
                rows.append((o, int(rng.choice(same)), "proxy"))
    # adult twins sometimes registered as siblings
    tw = P["twin_of"].to_numpy()
    for b in np.flatnonzero(tw >= 0):
        a = tw[b]
        if P.at[a, "hh"] != P.at[b, "hh"] and rng.random() < 0.5:
            rows.append((a, b, "sibling"))
    # nursing homes: a carer (insured worker) per home, registered proxy for most residents
    carers = {}
    for _, r in NH.iterrows():
        cand = adults[(dist[adults] == r["dist"]) & (ins[adults] == "employee")]
        used = set(carers.values())
        cand = np.array([c for c in cand if c not in used])
        c = int(rng.choice(cand)) if len(cand) else int(rng.choice(adults))
        carers[int(r["nh"])] = c
        for res in np.flatnonzero(nh == r["nh"]):
            if rng.random() < 0.7:
                rows.append((int(res), c, "proxy"))
    L = pd.DataFrame(rows, columns=["a", "b", "relation"]).drop_duplicates().reset_index(drop=True)
    L = L[L["a"] != L["b"]].reset_index(drop=True)
    return L, carers


def family_partners(L):
    """person -> array of registered family members (non-proxy links, both directions)."""
    f = L[L["relation"] != "proxy"]
    a = np.concatenate([f["a"].to_numpy(), f["b"].to_numpy()])
    b = np.concatenate([f["b"].to_numpy(), f["a"].to_numpy()])
    return pd.DataFrame(dict(p=a, q=b)).drop_duplicates()


def links_table(L, P):
    pid = P["person_id"].to_numpy()
    return pd.DataFrame(dict(person_id=pid[L["a"].to_numpy()], related_person_id=pid[L["b"].to_numpy()],
                             relation=L["relation"].to_numpy()))
