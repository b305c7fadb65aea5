"""Contract-level rules, used twice: to keep ordinary care clean (sanitise) and to inject lone
rule-breakers (price over cap, wrong sex/age, quantity or supply over limit, the same item twice,
outpatient while an inpatient elsewhere, items outside their indications)."""
import numpy as np
import pandas as pd
from .util import DAY, NDAYS, T0, ts_day, day_ts
from .catalog import CAT, K, IND
from .dx import MAXQ, MAXD
from .rings import lone, free_inst

CAP = CAT["price_cap"].to_numpy()
SEXL = CAT["sex_limit"].to_numpy()
AMIN = CAT["age_min"].astype(float).fillna(-1).to_numpy()
AMAX = CAT["age_max"].astype(float).fillna(999).to_numpy()
HAS_IND = np.array([len(x) > 0 for x in IND])


def age_at(W, person, ts):
    birth = W.P["birth"].to_numpy().astype("datetime64[D]")[person]
    d = (np.asarray(ts, np.int64) // DAY).astype("datetime64[D]")
    by, bm, bd = [birth.astype("datetime64[Y]").astype(int) + 1970, birth.astype("datetime64[M]").astype(int) % 12,
                  (birth - birth.astype("datetime64[M]")).astype(int)]
    dy, dm, ddd = [d.astype("datetime64[Y]").astype(int) + 1970, d.astype("datetime64[M]").astype(int) % 12,
                   (d - d.astype("datetime64[M]")).astype(int)]
    return dy - by - ((dm < bm) | ((dm == bm) & (ddd < bd)))


def check_lines(W):
    """returns DataFrame indexed like W.L with one boolean column per line rule."""
    L, V = W.L, W.V.set_index("vk")
    vk = L["vk"].to_numpy()
    it = L["item"].to_numpy().astype(int)
    person = V["person"].reindex(vk).to_numpy()
    start = V["start"].reindex(vk).to_numpy()
    dxs = V["dx"].reindex(vk).fillna("").to_numpy()
    age = age_at(W, person, start)
    out = pd.DataFrame(index=L.index)
    out["price_over_cap"] = L["price"].fillna(0).to_numpy() > CAP[it] + 0.004
    out["sex_mismatch"] = (SEXL[it] != "") & (SEXL[it] != W.sex[person])
    out["age_mismatch"] = (age < AMIN[it]) | (age > AMAX[it])
    out["qty_over_limit"] = L["qty"].to_numpy() > MAXQ[it] + 1e-9
    out["days_over_limit"] = L["days"].fillna(-1).to_numpy() > MAXD[it]
    out["duplicate_billing"] = L.duplicated(["vk", "item"], keep="first").to_numpy()
    bad = np.zeros(len(L), bool)
    for i in np.flatnonzero(HAS_IND[it]):
        pre = IND[it[i]]
        codes = dxs[i].split(";") if dxs[i] else []
        bad[i] = not any(c.startswith(p) for c in codes for p in pre)
    out["off_indication"] = bad
    return out


def overlaps(W):
    """settlements (non-inpatient) of a person inside one of their inpatient stays elsewhere.
    Returns (visit row index, stay row index) arrays."""
    V = W.V
    inp = V[V["vtype"] == "inpatient"][["person", "start", "end", "inst"]].reset_index()
    inp.columns = ["index_s", "person", "start_s", "end_s", "inst_s"]
    out = V[V["vtype"] != "inpatient"][["person", "start", "inst"]].reset_index()
    m = out.merge(inp, on="person")
    m = m[(m["start"] > m["start_s"]) & (m["start"] < m["end_s"]) & (m["inst"] != m["inst_s"])]
    return m["index"].to_numpy(), m["index_s"].to_numpy()


def sanitise(W):
    """drop what ordinary care must not contain: visits after death, outpatient visits inside the person's
    own untagged stays, overlapping stays, and lines that break a rule without being tagged."""
    V = W.V
    clean = V["tag"].to_numpy() == ""
    death = W.death[V["person"].to_numpy()]
    after = (death >= 0) & (ts_day(V["start"].to_numpy()) > death) & clean
    # overlapping stays of one person: keep the tagged one, else the earlier one
    inp = V[V["vtype"] == "inpatient"][["person", "start", "end", "tag"]].reset_index()
    pr = inp.merge(inp, on="person", suffixes=("", "_o"))
    pr = pr[(pr["index"] != pr["index_o"]) & (pr["start"] < pr["end_o"]) & (pr["start_o"] < pr["end"])]
    lose = ((pr["tag"] == "") & (pr["tag_o"] != "")) | ((pr["tag"] == "") & (pr["tag_o"] == "") &
                                                        ((pr["start"] > pr["start_o"]) | ((pr["start"] == pr["start_o"]) & (pr["index"] > pr["index_o"]))))
    ov = np.unique(pr.loc[lose, "index"].to_numpy())
    drop = np.zeros(len(V), bool)
    drop[after] = True
    drop[ov] = True
    W.V = V[~drop].reset_index(drop=True)
    W.L = W.L[W.L["vk"].isin(W.V["vk"])].reset_index(drop=True)
    vi, si = overlaps(W)
    stay_tag = W.V["tag"].to_numpy()[si]
    stay_split = W.V["origin"].to_numpy()[si] == "split_first"
    real_stay = (stay_tag == "") | (stay_tag == "split_admission") | stay_split
    kill = vi[(W.V["tag"].to_numpy()[vi] == "") & real_stay]
    W.V = W.V.drop(index=np.unique(kill)).reset_index(drop=True)
    W.L = W.L[W.L["vk"].isin(W.V["vk"])].reset_index(drop=True)
    # rule-breaking lines that nobody meant
    R = check_lines(W)
    untagged = W.L["tag"].to_numpy() == ""
    bad = R.any(axis=1).to_numpy() & untagged
    n_bad = int(bad.sum())
    W.L = W.L[~bad].reset_index(drop=True)
    empty = ~W.V["vk"].isin(W.L["vk"])
    W.V = W.V[~empty].reset_index(drop=True)
    W.note(f"sanitised ordinary care: {int(drop.sum())} settlements after death/overlapping stays, {len(np.unique(kill))} "
           f"outpatient settlements inside own stays, {n_bad} accidental rule-breaking lines removed")


def _pick_phys(W, rng, mask_fn):
    vc = W.V.loc[(W.V["tag"] == "") & (W.V["vtype"] == "outpatient"), "phys"].value_counts()
    busy = set(vc.index[vc >= 40])
    cands = [p for p in range(len(W.D)) if p in busy and p not in W.used_phys and W.dinst[p] not in W.used_inst and mask_fn(p)]
    return int(rng.choice(cands)) if cands else -1


def inject(W, rng):
    n_each = max(1, int(round(len(W.P) / 6000 * rng.uniform(1.0, 1.8))))
    V, L = W.V, W.L
    vinfo = V.set_index("vk")
    untag_v = V[(V["tag"] == "")]
    log = []
    for _ in range(n_each):
        # price above the cap at a private institution
        inst = int(rng.choice(free_inst(W, ["clinic", "pharmacy", "private"])))
        lines = L.index[L["vk"].isin(untag_v.loc[untag_v["inst"] == inst, "vk"]) & (L["tag"] == "") &
                        np.isin(CAT["item_type"].to_numpy()[L["item"].to_numpy()], ["drug", "material"])]
        items = L.loc[lines, "item"].value_counts().index[:int(rng.integers(1, 4))]
        sel = lines[L.loc[lines, "item"].isin(items).to_numpy() & (rng.random(len(lines)) < rng.uniform(0.25, 0.7))]
        L.loc[sel, "price"] = np.round(CAP[L.loc[sel, "item"].to_numpy()] * rng.uniform(1.08, 1.35, len(sel)), 2)
        L.loc[sel, "tag"] = "price_over_cap"
        lone(W, "institution", inst, "price_over_cap")
        log.append(f"price_over_cap: institution {W.iid(inst)}, {len(sel)} lines")
        # duplicate billing
        inst = int(rng.choice(free_inst(W, ["clinic", "private", "secondary", "community"])))
        vv = untag_v.loc[untag_v["inst"] == inst, "vk"].to_numpy()
        vv = rng.choice(vv, min(len(vv), int(rng.integers(5, 16))), replace=False)
        src = L[L["vk"].isin(vv) & (L["tag"] == "")].groupby("vk").head(1)
        dup = src.copy()
        dup["tag"] = "duplicate_billing"
        dup["lk"] = W.nl + np.arange(len(dup))
        W.nl += len(dup)
        dup["tr"] = "dup"
        L = pd.concat([L, dup], ignore_index=True)
        lone(W, "institution", inst, "duplicate_billing")
        log.append(f"duplicate_billing: institution {W.iid(inst)}, {len(dup)} lines")
        # physician-level breaches
        for rule in ("sex_mismatch", "age_mismatch", "qty_over_limit", "days_over_limit", "off_indication"):
            doc = _pick_phys(W, rng, lambda p: W.dspec[p] != W.pharm_spec)
            pv = untag_v[untag_v["phys"] == doc]
            sex = W.sex[pv["person"].to_numpy()]
            age = W.age[pv["person"].to_numpy()]
            k = int(rng.integers(3, 10))
            if rule == "sex_mismatch":
                tv = pv[sex == "M"]["vk"].to_numpy()[:k]
                new = pd.DataFrame(dict(vk=tv, item=K["prog"], qty=1.0, days=5))
            elif rule == "age_mismatch":
                tv = pv[age < 16]["vk"].to_numpy()[:k]
                if not len(tv):
                    tv = pv[age >= 20]["vk"].to_numpy()[:k]
                    new = pd.DataFrame(dict(vk=tv, item=K["xeat"], qty=1.0, days=3))
                else:
                    new = pd.DataFrame(dict(vk=tv, item=K["levo"], qty=1.0, days=4))
            elif rule == "off_indication":
                ok = ~pv["dx"].str.contains("E11|I50|N18").to_numpy()
                tv = pv[ok]["vk"].to_numpy()[:k]
                new = pd.DataFrame(dict(vk=tv, item=K["dapa"], qty=2.0, days=28))
            else:
                drug = L.index[L["vk"].isin(pv["vk"]) & (L["tag"] == "") & (CAT["item_type"].to_numpy()[L["item"].to_numpy()] == "drug")
                               & (L["days"].to_numpy() > 0)]
                drug = drug[:k]
                it = L.loc[drug, "item"].to_numpy()
                if rule == "qty_over_limit":
                    L.loc[drug, "qty"] = MAXQ[it] + rng.integers(1, 4, len(drug))
                    L.loc[drug, "days"] = np.minimum(L.loc[drug, "days"].to_numpy(), MAXD[it])
                else:
                    L.loc[drug, "days"] = MAXD[it] + rng.integers(14, 61, len(drug))
                L.loc[drug, "tag"] = rule
                tv = np.zeros(0)
                new = None
                if len(drug):
                    lone(W, "physician", doc, rule)
                    log.append(f"{rule}: physician {W.did(doc)}, {len(drug)} lines")
                continue
            if len(new):
                new["stime"] = vinfo["start"].reindex(new["vk"]).to_numpy() + 600
                new["tag"], new["lphys"], new["tr"], new["price"] = rule, -1, "", np.nan
                new["lk"] = W.nl + np.arange(len(new))
                W.nl += len(new)
                L = pd.concat([L, new], ignore_index=True)
                lone(W, "physician", doc, rule)
                log.append(f"{rule}: physician {W.did(doc)}, {len(new)} lines")
    W.L = L
    # outpatient settlement while an inpatient elsewhere (the patient slips out to a pharmacy)
    stays = W.V[(W.V["vtype"] == "inpatient") & (W.V["tag"] == "") & (W.V["end"] - W.V["start"] > 4 * DAY)]
    stays = stays[~stays["person"].isin(list(W.used_persons))]
    pick = stays.iloc[rng.choice(len(stays), min(len(stays), n_each * int(rng.integers(1, 3))), replace=False)]
    rows = []
    for _, s in pick.iterrows():
        p = int(s["person"])
        t = int(s["start"] + (s["end"] - s["start"]) * rng.uniform(0.3, 0.7))
        rows.append(dict(person=p, inst=int(W.P.at[p, "fav_pharm"]), vtype="pharmacy", start=t, dx="",
                         tag="outpatient_during_inpatient", origin="lone"))
        lone(W, "person", p, "outpatient_during_inpatient")
    if rows:
        Vn = pd.DataFrame(rows)
        Ln = pd.DataFrame(dict(row=np.arange(len(rows)), item=K["lhqw"], qty=1.0, days=3, stime=Vn["start"].to_numpy(),
                               tag="outpatient_during_inpatient"))
        W.add(Vn, Ln)
        log.append(f"outpatient_during_inpatient: {len(rows)} persons")
    for x in log:
        W.note("lone rule-breaker " + x)
