"""Data-entry errors that are legitimate and valid under the contract: a cent of rounding, national
extension suffixes on diagnosis codes, a lower-case check letter, visits keyed at midnight, a physician
code keyed from the wrong hospital, outpatient end times equal to start."""
import numpy as np
import pandas as pd
from .util import DAY, T0


def apply(W, rng):
    V, L = W.V, W.L
    clean = V["tag"].to_numpy() == ""
    # one cent off quantity x price on a few lines
    L["adj"] = 0.0
    k = np.flatnonzero((L["tag"].to_numpy() == "") & (rng.random(len(L)) < 0.002))
    L.loc[k, "adj"] = rng.choice([-0.01, 0.01], len(k))
    # national-extension diagnosis codes (E11.900, I10.x00 ...)
    ext = clean & (rng.random(len(V)) < 0.03) & (V["dx"].str.len().to_numpy() > 0)
    V.loc[ext, "dx"] = V.loc[ext, "dx"].str.replace(r"^([A-Z]\d\d)\.(\d)$", r"\1.\g<2>00", regex=True) \
        .str.replace(r"^([A-Z]\d\d)$", r"\1.x00", regex=True)
    # lower-case check letter on some id numbers
    idn = W.P["id_number"]
    low = idn.str.endswith("X") & (rng.random(len(idn)) < 0.3)
    W.P.loc[low, "id_number"] = idn[low].str[:-1] + "x"
    # a clinic whose system keys some visits with no time (midnight)
    cl = np.flatnonzero(W.icls == "clinic")
    c = int(rng.choice(cl))
    mid = clean & (V["inst"].to_numpy() == c) & (rng.random(len(V)) < 0.08) & (V["vtype"].to_numpy() == "outpatient")
    old = V.loc[mid, "start"].to_numpy()
    V.loc[mid, "start"] = (old - T0) // DAY * DAY + T0
    from .rules import overlaps
    vi, _ = overlaps(W)
    back = np.intersect1d(np.flatnonzero(mid), vi)
    if len(back):
        V.loc[back, "start"] = old[np.searchsorted(np.flatnonzero(mid), back)]
        mid[back] = False
    # physician code keyed from another hospital with the same specialty
    out = np.flatnonzero(clean & (V["vtype"].to_numpy() == "outpatient") & (V["phys"].to_numpy() >= 0) & (rng.random(len(V)) < 0.0015))
    spec = W.dspec
    for i in out:
        p = V.at[i, "phys"]
        same = np.flatnonzero((spec == spec[p]) & (W.dinst != W.dinst[p]))
        if len(same):
            V.at[i, "phys"] = int(rng.choice(same))
    # some hospitals write end_time = start_time for outpatient settlements
    hs = np.flatnonzero(np.isin(W.icls, ["tertiary", "secondary"]) & (rng.random(len(W.icls)) < 0.4))
    eq = (V["vtype"].to_numpy() == "outpatient") & np.isin(V["inst"].to_numpy(), hs)
    V.loc[eq, "end"] = V.loc[eq, "start"]
    W.note(f"data-entry quirks: {len(k)} lines a cent off, {int(ext.sum())} extended dx codes, {int(low.sum())} lower-case x, "
           f"{int(mid.sum())} midnight visits at clinic {W.iid(c)}, {len(out)} physician codes from another hospital, "
           f"end=start at {len(hs)} hospitals")
