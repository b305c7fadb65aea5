"""Drug traceability codes (药品追溯码, one row per dispensed pack where the institution scans) and the
purchase/stock ledger (进销存). Resold packs reappear at outlets; empty swipes rescan a few packs;
confounders: a reversed sale sold again, a pack split across two settlements, a scanner repeating a
code within minutes at the same counter."""
import numpy as np
import pandas as pd
from .catalog import CAT
from .util import DAY, YEAR, month_of, iso

MOD = 10 ** 13
A_MUL = 7777777777771
IS_DRUG = (CAT["item_type"] == "drug").to_numpy()
IS_STOCK = CAT["item_type"].isin(["drug", "material"]).to_numpy()


def preplan_split(W, rng):
    """a pack split across two settlements of the same patient (拆零): both lines get x.5 packs."""
    L, V = W.L, W.V
    vinfo = V.set_index("vk")
    d = L[(L["tag"] == "") & IS_DRUG[L["item"].to_numpy()] & (L["qty"] >= 2)].copy()
    d["person"] = vinfo["person"].reindex(d["vk"]).to_numpy()
    d["inst"] = vinfo["inst"].reindex(d["vk"]).to_numpy()
    d = d[W.I["scans"].to_numpy()[d["inst"].to_numpy()] & np.isin(W.icls[d["inst"].to_numpy()], ["pharmacy", "community"])]
    d = d.sort_values(["person", "inst", "item", "stime"])
    nxt = d.groupby(["person", "inst", "item"])["lk"].shift(-1)
    cand = d[nxt.notna()].assign(nxt=nxt[nxt.notna()].astype(np.int64))
    n = min(len(cand), max(3, len(W.P) // 1500))
    pick = cand.iloc[rng.choice(len(cand), n, replace=False)] if n else cand.iloc[:0]
    pairs = []
    used = set()
    idx = pd.Series(L.index, index=L["lk"])
    for a, b in zip(pick["lk"], pick["nxt"]):
        if a in used or b in used:
            continue
        used |= {a, b}
        ia, ib = idx[a], idx[b]
        L.loc[ia, "qty"] = L.loc[ia, "qty"] - 0.5
        L.loc[ib, "qty"] = L.loc[ib, "qty"] - 0.5
        pairs.append((int(a), int(b)))
    W.split_pairs = pairs
    W.note(f"trace confounder: {len(pairs)} packs split across two settlements of the same patient")


def build(W, rng):
    L, V = W.L, W.V
    vpos = L["vpos"].to_numpy()
    inst = V["inst"].to_numpy()[vpos]
    it = L["item"].to_numpy()
    dmask = IS_DRUG[it]
    li = np.flatnonzero(dmask)
    npk = np.ceil(L["qty"].to_numpy()[li] - 1e-9).astype(np.int64)
    row = np.repeat(li, npk)
    k = np.arange(len(row)) - np.repeat(np.cumsum(npk) - npk, npk)
    counter = np.arange(len(row), dtype=np.int64) + int(rng.integers(10 ** 9, 10 ** 10))
    serial = (counter * A_MUL + int(rng.integers(0, MOD))) % MOD
    prefix = np.char.add("8", np.char.zfill(((130017 + it[row] * 7919) % 1000000).astype(str), 6))
    code = np.char.add(prefix, np.char.zfill(serial.astype(str), 13)).astype(object)
    lk = L["lk"].to_numpy()
    T = pd.DataFrame(dict(row=row, lk=lk[row], k=k, code=code, reversed=False))
    key = pd.Series(np.arange(len(T)), index=pd.MultiIndex.from_arrays([T["lk"], T["k"]]))
    # resold packs carry the code of the pack the collector was given
    if W.resale:
        R = pd.DataFrame(W.resale, columns=["olk", "slk", "sk"])
        R["j"] = R.groupby("olk").cumcount()
        src = key.reindex(pd.MultiIndex.from_arrays([R["slk"], R["sk"]])).to_numpy()
        dst = key.reindex(pd.MultiIndex.from_arrays([R["olk"], R["j"]])).to_numpy()
        ok = ~np.isnan(src) & ~np.isnan(dst)
        T.loc[dst[ok].astype(int), "code"] = T["code"].to_numpy()[src[ok].astype(int)]
    # empty swipes rescan a handful of real packs
    tr = L["tr"].to_numpy()[row]
    cs = np.flatnonzero(tr == "cashout")
    if len(cs):
        grp = inst[row[cs]] * 1000 + it[row[cs]]
        for g in np.unique(grp):
            m = cs[grp == g]
            pool = m[: max(3, min(8, len(m) // 10))]
            rest = m[len(pool):]
            re = rest[rng.random(len(rest)) < 0.7]
            T.loc[re, "code"] = T["code"].to_numpy()[rng.choice(pool, len(re))]
    # split packs: the half pack of the first sale continues on the second
    for a, b in getattr(W, "split_pairs", []):
        ka = T.index[T["lk"] == a]
        kb = T.index[T["lk"] == b]
        if len(ka) and len(kb):
            T.loc[kb[0], "code"] = T.loc[ka[-1], "code"]
    # a sale reversed (退药) and the pack sold again later at the same counter
    ph = np.flatnonzero((W.icls[inst[row]] == "pharmacy") & (L["tag"].to_numpy()[row] == "") & (tr == ""))
    st = L["stime"].to_numpy()[row]
    n_rev = max(3, len(W.P) // 1500)
    rev_done = 0
    for i in rng.permutation(ph)[: n_rev * 20]:
        later = ph[(inst[row[ph]] == inst[row[i]]) & (it[row[ph]] == it[row[i]]) & (st[ph] > st[i] + 3600) &
                   (st[ph] < st[i] + 20 * DAY) & (row[ph] != row[i])]
        if not len(later):
            continue
        j = later[np.argmin(st[later])]
        T.loc[i, "reversed"] = True
        T.loc[j, "code"] = T.loc[i, "code"]
        rev_done += 1
        if rev_done >= n_rev:
            break
    # a scanner repeating the previous code within minutes at the same counter
    term = V["term"].to_numpy()[vpos[row]]
    o = np.lexsort((st, term))
    t_o, s_o = term[o], st[o]
    cand = np.flatnonzero((t_o[1:] == t_o[:-1]) & (s_o[1:] - s_o[:-1] < 600) & (s_o[1:] - s_o[:-1] > 30) &
                          (row[o][1:] != row[o][:-1]) & (L["tag"].to_numpy()[row[o][1:]] == "") & (t_o[1:] != ""))
    cand = cand[W.I["scans"].to_numpy()[inst[row[o][cand]]]]
    rep = rng.choice(cand, min(len(cand), max(3, len(W.P) // 2000)), replace=False) if len(cand) else []
    for c in rep:
        T.loc[o[c + 1], "code"] = T.loc[o[c], "code"]
    W.note(f"trace confounders: {rev_done} reversed sales sold again, {len(rep)} scanner repeats within minutes")
    # only institutions that scan write trace rows
    keep = W.I["scans"].to_numpy()[inst[row]]
    T = T[keep]
    T["scan_time"] = st[T["row"].to_numpy()] + rng.integers(0, 90, len(T))
    out = pd.DataFrame(dict(line_id=L["line_id"].to_numpy()[T["row"].to_numpy()], trace_code=T["code"].to_numpy(),
                            scan_time=iso(T["scan_time"].to_numpy()), reversed=T["reversed"].to_numpy()))
    return out


def inventory(W, rng):
    L, V = W.L, W.V
    inst = V["inst"].to_numpy()[L["vpos"].to_numpy()]
    it = L["item"].to_numpy()
    m = IS_STOCK[it]
    tr = L["tr"].astype(str).to_numpy()
    real = ~(np.isin(tr, ["cashout", "nodisp"]) | np.char.startswith(tr.astype(str), "resale#"))
    D = pd.DataFrame(dict(inst=inst[m], item=it[m], month=month_of(L["stime"].to_numpy()[m]).clip(0, 11),
                          qty=np.where(real[m], L["qty"].to_numpy()[m], 0.0)))
    G = D.groupby(["inst", "item", "month"])["qty"].sum().unstack("month").reindex(columns=range(12)).fillna(0.0)
    pairs = G.index.to_frame(index=False)
    legit = G.to_numpy()
    cls = W.icls[pairs["inst"].to_numpy()]
    cash = np.where(cls == "pharmacy", rng.uniform(0.05, 0.3, len(G)), rng.uniform(0.0, 0.04, len(G)))
    demand = np.round(legit * (1 + cash[:, None]), 1)
    avg = np.maximum(demand.mean(1), 1.0)
    case = np.where(cls == "pharmacy", 5.0, 10.0)
    opening = np.round(avg * rng.uniform(0.5, 1.5, len(G)))
    target = avg * rng.uniform(0.8, 1.3, len(G))
    rows = []
    for mth in range(12):
        need = np.maximum(0.0, demand[:, mth] + target - opening)
        buy = np.ceil(need / case) * case
        closing = np.round(opening + buy - demand[:, mth], 1)
        rows.append(pd.DataFrame(dict(inst=pairs["inst"], item=pairs["item"], period=f"{YEAR}-{mth + 1:02d}",
                                      qty_purchased=buy, qty_opening=opening, qty_closing=closing)))
        opening = closing
    I = pd.concat(rows, ignore_index=True)
    I["institution_id"] = W.I["institution_id"].to_numpy()[I["inst"].to_numpy()]
    I["item_code"] = CAT["item_code"].to_numpy()[I["item"].to_numpy()]
    I = I.sort_values(["institution_id", "item_code", "period"])
    return I[["institution_id", "item_code", "period", "qty_purchased", "qty_opening", "qty_closing"]].reset_index(drop=True)
