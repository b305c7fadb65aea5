"""The shared state every generator step reads and writes: city, persons, links and the ledger of
settlements (visits) and claim lines before identifiers are assigned."""
import numpy as np
import pandas as pd
from .util import stream, group_pick
from .city import SPEC_ID
from .catalog import CAT

VDEF = dict(person=-1, inst=-1, phys=-1, vtype="outpatient", start=0, end=-1, dx="", payer=-1, face=-2,
            cap=True, ward=False, tag="", ring="", origin="legit", settle=-1)
LDEF = dict(lk=-1, item=-1, qty=1.0, price=np.nan, days=-1, lphys=-1, stime=-1, tag="", tr="")


class World:
    def __init__(self, seed, P, NH, inst, phys, links, carers):
        self.seed, self.P, self.NH, self.I, self.D, self.links, self.carers = seed, P, NH, inst, phys, links, carers
        self.V = pd.DataFrame({k: pd.Series(dtype=type(v) if not isinstance(v, str) else object) for k, v in VDEF.items()})
        self.L = pd.DataFrame({k: pd.Series(dtype=type(v) if not isinstance(v, str) else object) for k, v in LDEF.items()})
        self.V["vk"] = pd.Series(dtype=np.int64)
        self.L["vk"] = pd.Series(dtype=np.int64)
        self.nv = 0
        self.nl = 0
        self.resale = []                  # (outlet line key, source line key, pack index)
        self.truth_entities = []          # (etype, idx, scheme, ring)
        self.rings = []                   # dicts: ring_id, scheme, members [(etype, idx)], notes
        self.drift = []                   # (etype, idx, indicator, first_period)
        self.notes = []                   # README lines
        self.extra_faces = 0              # identities of faces that are not insured persons
        self.used_persons = set()
        self.used_inst = set()
        self.used_phys = set()
        self.age = P["age"].to_numpy()
        self.sex = P["sex"].to_numpy()
        self.pdist = P["dist"].to_numpy()
        self.icls = inst["cls"].to_numpy()
        self.idist = inst["dist"].to_numpy()
        self.iface = inst["has_face_terminal"].to_numpy()
        self.dspec = phys["spec"].to_numpy()
        self.dinst = phys["inst"].to_numpy()
        self.pharm_spec = SPEC_ID["药剂科"]
        clin = self.dspec != self.pharm_spec
        self._clin_inst = self.dinst[clin]
        self._clin_ids = np.flatnonzero(clin)
        self._pharm_inst = self.dinst[~clin]
        self._pharm_ids = np.flatnonzero(~clin)
        self.death = P["death_day"].to_numpy()

    # ------------------------------------------------------------------ ledger
    def add(self, V, L=None):
        """V: DataFrame of new settlements in order; L: lines with column 'row' = position in V."""
        V = V.reset_index(drop=True).copy()
        for k, v in VDEF.items():
            if k not in V:
                V[k] = v
            else:
                V[k] = V[k].fillna(v)
        vk = self.nv + np.arange(len(V), dtype=np.int64)
        V["vk"] = vk
        self.nv += len(V)
        self.V = pd.concat([self.V, V[list(VDEF) + ["vk"]]], ignore_index=True) if len(self.V) else V[list(VDEF) + ["vk"]]
        if L is not None and len(L):
            L = L.reset_index(drop=True).copy()
            for k, v in LDEF.items():
                if k not in L:
                    L[k] = v
                elif not (isinstance(v, float) and np.isnan(v)):
                    L[k] = L[k].fillna(v)
            L["vk"] = vk[L["row"].to_numpy()]
            L["lk"] = self.nl + np.arange(len(L), dtype=np.int64)
            self.nl += len(L)
            self.L = pd.concat([self.L, L[list(LDEF) + ["vk"]]], ignore_index=True) if len(self.L) else L[list(LDEF) + ["vk"]]
        return vk

    def shift_lines(self, delta_by_row):
        """move lines with their settlements (delta indexed like self.V rows, where vk == row)."""
        assert (self.V["vk"].to_numpy() == np.arange(len(self.V))).all()
        d = np.asarray(delta_by_row, dtype=np.int64)[self.L["vk"].to_numpy()]
        self.L["stime"] = self.L["stime"].to_numpy().astype(np.int64) + d

    def rng(self, name):
        return stream(self.seed, name)

    # ------------------------------------------------------------------ choices
    def pick_inst(self, rng, dists, classes, local=3.0, exclude=()):
        classes = [classes] if isinstance(classes, str) else list(classes)
        cand = np.flatnonzero(np.isin(self.icls, classes))
        cand = np.array([c for c in cand if c not in exclude])
        ck, cv, cw = [], [], []
        for d in range(8):
            ck.append(np.full(len(cand), d))
            cv.append(cand)
            cw.append(self.I["size"].to_numpy()[cand] * np.where(self.idist[cand] == d, local, 1.0))
        return group_pick(rng, np.asarray(dists), np.concatenate(ck), np.concatenate(cv), np.concatenate(cw))

    def pick_phys(self, rng, insts, specs):
        """physician at each institution, preferring the listed specialties in order; falls back to any
        clinician there, then to a pharmacist."""
        insts = np.asarray(insts)
        sid = [SPEC_ID[s] for s in specs if s in SPEC_ID]
        pref = {s: len(sid) - j + 1.0 for j, s in enumerate(sid)}
        m = np.isin(self.dspec, sid)
        w = np.array([pref.get(s, 0.0) for s in self.dspec[m]])
        out = group_pick(rng, insts, self.dinst[m], np.flatnonzero(m), w)
        miss = out < 0
        if miss.any():
            out[miss] = group_pick(rng, insts[miss], self._clin_inst, self._clin_ids)
        miss = out < 0
        if miss.any():
            out[miss] = group_pick(rng, insts[miss], self._pharm_inst, self._pharm_ids)
        return out

    def pharmacists(self, inst):
        return self._pharm_ids[self._pharm_inst == inst]

    def clinicians(self, inst):
        return self._clin_ids[self._clin_inst == inst]

    def new_face(self, n=1):
        f = self.extra_faces + np.arange(n)
        self.extra_faces += n
        return len(self.P) + f

    def iid(self, i):
        return self.I["institution_id"].iat[int(i)]

    def did(self, i):
        return self.D["physician_id"].iat[int(i)]

    def pid(self, i):
        return self.P["person_id"].iat[int(i)]

    def eid(self, etype, i):
        return {"institution": self.iid, "physician": self.did, "person": self.pid}[etype](i)

    def note(self, s):
        self.notes.append(s)


def item_price(W):
    """default unit price of every line: the cap for public institutions, a local discount elsewhere."""
    L, V, I = W.L, W.V, W.I
    inst = V.set_index("vk")["inst"].reindex(L["vk"]).to_numpy()
    cap = CAT["price_cap"].to_numpy()[L["item"].to_numpy()]
    typ = CAT["item_type"].to_numpy()[L["item"].to_numpy()]
    fac = I["price_factor"].to_numpy()[inst]
    fac = np.where((typ == "service") & (I["ownership"].to_numpy()[inst] == "public"), 1.0, fac)
    p = np.round(np.floor(cap * fac * 100 + 1e-6) / 100, 2)
    miss = L["price"].isna().to_numpy()
    L.loc[miss, "price"] = p[miss]
