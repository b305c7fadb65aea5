"""Identifiers in time order, terminals, and one frame per output table."""
import numpy as np
import pandas as pd
from .util import DAY


def assign_ids(W, rng):
    V = W.V.sort_values(["start", "person", "vk"]).reset_index(drop=True)
    seq = 1000 + np.cumsum(rng.integers(1, 4, len(V)))
    V["visit_id"] = [f"JS25{s:08d}" for s in seq]
    # terminals: several counters at big hospitals, a batch terminal where settlements are pushed at night
    nt = W.I["n_terms"].to_numpy()[V["inst"].to_numpy()]
    term = rng.integers(0, 10**6, len(V)) % nt + 1
    iid = W.I["institution_id"].to_numpy()[V["inst"].to_numpy()]
    tstr = np.char.add(np.char.add(iid.astype(str), "-T"), np.char.zfill(term.astype(str), 2)).astype(object)
    tstr = np.where(V["settle"].to_numpy() >= 0, np.char.add(iid.astype(str), "-B01").astype(object), tstr)
    tstr = np.where(W.icls[V["inst"].to_numpy()] == "internet", "", tstr)
    V["terminal_id"] = tstr
    V["term"] = tstr
    pos = pd.Series(np.arange(len(V)), index=V["vk"].to_numpy())
    L = W.L.copy()
    L["vpos"] = pos.reindex(L["vk"]).to_numpy()
    L = L.sort_values(["vpos", "stime", "lk"]).reset_index(drop=True)
    L["line_id"] = [f"MX25{s:09d}" for s in 10000 + np.arange(len(L))]
    L["visit_id"] = V["visit_id"].to_numpy()[L["vpos"].to_numpy()]
    W.V, W.L = V, L
