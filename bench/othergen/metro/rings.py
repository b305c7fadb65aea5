"""Ring bookkeeping shared by the scheme generators: the plan drawn from the seed, picking unused
parties, and a small builder for hand-made settlements."""
import numpy as np
import pandas as pd
from .catalog import K

SCHEMES = ["card_lending", "card_cashout", "collusive_prescribing", "ghost_admission", "split_admission",
           "doctor_shopping", "drug_resale"]
ABBR = {"card_lending": "JK", "card_cashout": "TX", "collusive_prescribing": "HM", "ghost_admission": "GC",
        "split_admission": "FJ", "doctor_shopping": "DC", "drug_resale": "HL"}
EXTRA_W = {"card_lending": 3, "card_cashout": 2, "collusive_prescribing": 2, "ghost_admission": 1.3,
           "split_admission": 1, "doctor_shopping": .6, "drug_resale": 1.2}


def plan(n_persons, rng):
    total = max(8, int(round(rng.uniform(10, 14.5) * (n_persons / 6000.0) ** 0.8)))
    counts = {s: 1 for s in SCHEMES}
    counts["card_lending"] = 2
    w = np.array([EXTRA_W[s] for s in SCHEMES])
    for _ in range(total - 8):
        counts[SCHEMES[rng.choice(len(SCHEMES), p=w / w.sum())]] += 1
    return counts


def new_ring(W, scheme):
    k = sum(1 for r in W.rings if r["scheme"] == scheme) + 1
    rid = f"HZ25-{ABBR[scheme]}{k:02d}"
    r = dict(ring_id=rid, scheme=scheme, members=[], notes="")
    W.rings.append(r)
    return r


def member(W, ring, etype, idx):
    idx = int(idx)
    if (etype, idx) not in ring["members"]:
        ring["members"].append((etype, idx))
    {"person": W.used_persons, "physician": W.used_phys, "institution": W.used_inst}[etype].add(idx)


def lone(W, etype, idx, scheme):
    W.truth_entities.append((etype, int(idx), scheme, ""))
    {"person": W.used_persons, "physician": W.used_phys, "institution": W.used_inst}[etype].add(int(idx))


def free_persons(W, mask):
    ok = np.asarray(mask).copy()
    if W.used_persons:
        ok[list(W.used_persons)] = False
    ok &= (W.P["nh"].to_numpy() < 0) & ~W.P["away"].to_numpy()
    ok[list(W.carers.values())] = False
    return np.flatnonzero(ok)


def free_inst(W, classes, face=None, scans=None, exclude_drift=True):
    m = np.isin(W.icls, classes)
    if face is not None:
        m &= W.iface == face
    if scans is not None:
        m &= W.I["scans"].to_numpy() == scans
    c = [i for i in np.flatnonzero(m) if i not in W.used_inst]
    return np.array(c, dtype=np.int64)


class Batch:
    """collects hand-made settlements and lines, then adds them to the ledger in one go."""

    def __init__(self):
        self.v, self.l = [], []

    def visit(self, **kw):
        self.v.append(kw)
        return len(self.v) - 1

    def line(self, row, item, qty=1.0, **kw):
        d = dict(row=row, item=K[item] if isinstance(item, str) else int(item), qty=float(qty))
        d.update(kw)
        if "stime" not in d:
            d["stime"] = self.v[row]["start"] + 300
        self.l.append(d)

    def flush(self, W):
        if not self.v:
            return np.zeros(0, np.int64)
        V = pd.DataFrame(self.v)
        L = pd.DataFrame(self.l) if self.l else None
        if L is not None and "tag" not in L:
            L["tag"] = np.asarray(V["tag"].to_numpy())[L["row"].to_numpy()] if "tag" in V else ""
        elif L is not None and "tag" in V:
            vt = V["tag"].to_numpy()[L["row"].to_numpy()]
            L["tag"] = np.where(L["tag"].fillna("").astype(str) == "", vt, L["tag"].fillna(""))
        vk = W.add(V, L)
        self.v, self.l = [], []
        return vk
