"""Diagnosis groups and how they turn into claim lines (vectorised item choice)."""
import numpy as np
from .catalog import CAT, K, IND, ind_ok

# name: codes, specialties (preference order), age band weights [0-6,7-17,18-44,45-64,65+], sex, age range,
#       drugs (key, weight), number of drugs (lo, hi), extra services/materials (key, prob), sold OTC
ACUTE = {
    "uri": (["J06.9", "J06.900", "J02.9", "J03.9"], ["儿科", "呼吸内科", "内科", "急诊科", "全科"], [10, 6, 5, 4, 4], "", (0, 120),
            [("lhqw", 3), ("ibup", 2), ("apap", 1.5), ("ambr", 2), ("amox", 1.2), ("cefa", 1), ("azit", .8), ("xeat", 3), ("ibus", 2)],
            (1, 3), [("l_cbc", .35)], True),
    "bronch": (["J20.9", "J40"], ["呼吸内科", "内科", "儿科", "全科"], [2, 1.5, 2, 2, 3], "", (0, 120),
               [("amox", 2), ("cefa", 1.5), ("levo", 1.5), ("azit", 1), ("ambr", 2), ("code", .15)], (1, 3),
               [("l_cbc", .5), ("x_dr", .25)], False),
    "gastr": (["K29.7", "K29.5", "K30"], ["消化内科", "内科", "全科", "中医科"], [.2, .6, 2, 3, 3], "", (3, 120),
              [("omep", 2), ("rabe", 1.5), ("alum", 1.5)], (1, 2), [("l_cbc", .05)], True),
    "diarr": (["A09.9", "K52.9"], ["消化内科", "儿科", "内科", "急诊科", "全科"], [2, 1, 1, 1, .8], "", (0, 120),
              [("smec", 3), ("omep", .5)], (1, 2), [("l_cbc", .3)], True),
    "back": (["M54.5", "M54.4", "M79.1"], ["骨科", "康复医学科", "中医科", "全科"], [0, .2, 1.5, 2.5, 2.5], "", (12, 120),
             [("ibup", 1.5), ("dicl", 2), ("cele", 1.5), ("tram", .1)], (1, 2),
             [("t_acu", .25), ("t_tui", .25), ("x_dr", .15)], False),
    "knee": (["M17.9", "M17.1"], ["骨科", "中医科", "康复医学科", "全科"], [0, 0, .2, 2, 3.5], "", (45, 120),
             [("cele", 2), ("gluc", 1.5), ("dicl", 2)], (1, 2), [("x_dr", .3), ("t_tui", .2), ("t_acu", .2)], False),
    "derm": (["L30.9", "L20.9", "L50.9"], ["皮肤科", "全科", "儿科"], [2, 2, 2, 1.5, 1], "", (0, 120),
             [("mome", 3), ("lora", 2)], (1, 2), [], True),
    "rhin": (["J30.4", "J30.3"], ["呼吸内科", "内科", "全科", "儿科"], [.5, 2, 2, 1, .5], "", (0, 120),
             [("lora", 3), ("mont", 1.5)], (1, 2), [], True),
    "uti": (["N39.0", "N30.0"], ["泌尿外科", "内科", "全科", "妇产科"], [.2, .3, 1.5, 1.5, 1.5], "", (2, 120),
            [("levo", 2), ("sanj", 2)], (1, 2), [("l_uri", .7)], False),
    "insom": (["G47.0", "F51.0"], ["神经内科", "精神科", "内科", "全科"], [0, 0, 1, 1.5, 2], "", (18, 120),
              [("zolp", 1), ("eszo", 1), ("alpr", 1), ("liuw", .5)], (1, 1), [], False),
    "anx": (["F41.9", "F32.9", "F41.1"], ["精神科", "神经内科", "内科"], [0, .1, 1, 1, .7], "", (16, 120),
            [("sert", 2), ("paro", 1.5)], (1, 2), [("t_pth", .15)], False),
    "vagin": (["N76.0", "N72"], ["妇产科", "全科"], [0, .1, 2, 1.5, .5], "F", (16, 75),
              [("baof", 3)], (1, 1), [("l_uri", .2)], False),
    "mens": (["N92.0", "N97.9", "N94.6"], ["妇产科"], [0, .1, 2, .5, 0], "F", (16, 48),
             [("dydr", 2), ("prog", 1.5)], (1, 1), [("x_us", .5)], False),
    "bph": (["N40"], ["泌尿外科", "内科", "全科"], [0, 0, 0, 1.5, 3], "M", (50, 120),
            [("tams", 2), ("fina", 1.5)], (1, 2), [("x_us", .3)], False),
    "conj": (["H10.9", "H10.3"], ["眼科", "全科", "儿科"], [1, 1, 1, 1, 1], "", (0, 120),
             [("levd", 3)], (1, 1), [], False),
    "wound": (["S61.0", "S51.8", "T14.1"], ["急诊科", "普通外科", "骨科", "全科"], [1, 1.5, 1.2, 1, .8], "", (0, 120),
              [], (0, 0), [("s_deb", .85), ("m_drs", .8)], False),
    "abd": (["R10.4", "K59.0"], ["消化内科", "内科", "急诊科", "全科"], [.5, .5, 1, 1, 1], "", (3, 120),
            [("omep", 1), ("alum", 1), ("smec", .5)], (0, 1), [("x_us", .5), ("l_cbc", .5)], False),
    "fever": (["R50.9"], ["儿科", "急诊科"], [4, 1, .2, 0, 0], "", (0, 17),
              [("ibus", 3), ("xeat", 2), ("apap", 1)], (1, 2), [("l_cbc", .7)], False),
}
ACUTE_KEYS = list(ACUTE)

# chronic regimens: condition -> dx code, specialties, drugs, (lo, hi), labs
CHRONIC = {
    "I10": ("I10", ["心血管内科", "内科"], [("amlo", 3), ("vals", 2), ("nife", 2), ("irbe", 2), ("meto", 1.2)], (1, 2),
            [("x_ecg", .06), ("l_ren", .05)]),
    "E11.9": ("E11.9", ["内分泌科", "内科"], [("metf", 3), ("acar", 2), ("glim", 1.5), ("dapa", 1), ("glar", 1.0),
                                              ("aspa", .4), ("sema", .25), ("lira", .1)], (1, 3), [("l_hba", .12), ("l_ren", .05)]),
    "I25.1": ("I25.1", ["心血管内科", "内科"], [("aspi", 3), ("clop", 2), ("ator", 2.5), ("rosu", 2), ("tica", .4),
                                               ("isos", 1.5), ("dans", 1.5)], (2, 3), [("x_ecg", .08)]),
    "E78.5": ("E78.5", ["心血管内科", "内分泌科", "内科"], [("ator", 3), ("rosu", 3)], (1, 1), [("l_lip", .15)]),
    "J44.9": ("J44.9", ["呼吸内科", "内科"], [("tiot", 2), ("budf", 2), ("salf", 1.5), ("ambr", .5)], (1, 2), []),
    "B18.1": ("B18.1", ["感染科", "消化内科", "内科"], [("ente", 3), ("taft", 1.2)], (1, 1), [("l_liv", .25)]),
    "I69.3": ("I69.3", ["神经内科", "康复医学科", "内科"], [("aspi", 2), ("ator", 2), ("xstg", 1.5), ("clop", 1)], (1, 2), []),
    "F20.9": ("F20.9", ["精神科"], [("olan", 2), ("risp", 2), ("arip", 1.5), ("quet", 1)], (1, 1), []),
    "C34.9": ("C34.9", ["肿瘤科"], [("osim", 1.2), ("gefi", 1)], (1, 1), [("l_cbc", .3)]),
    "C50.9": ("C50.9", ["肿瘤科"], [("letr", 2), ("tamo", 1.5)], (1, 1), [("l_cbc", .3)]),
    "C18.9": ("C18.9", ["肿瘤科"], [("cape", 1)], (1, 1), [("l_cbc", .3)]),
}
INSULIN = {K["glar"], K["aspa"]}

_age_lo = CAT["age_min"].fillna(-1).to_numpy(float)
_age_hi = CAT["age_max"].fillna(999).to_numpy(float)
_sex = CAT["sex_limit"].to_numpy()
PACK_DAYS = CAT["pack_days"].fillna(1).to_numpy(float)
MAXQ = CAT["max_qty_per_visit"].fillna(1e9).to_numpy(float)
MAXD = CAT["max_days_supply"].astype(float).fillna(1e9).to_numpy(float)

for g, v in ACUTE.items():                         # catalogue consistency: every pool drug allowed for every code
    for code in v[0]:
        for k, _ in v[5]:
            assert ind_ok(K[k], [code]), (g, code, k)
for c, v in CHRONIC.items():
    for k, _ in v[2]:
        assert ind_ok(K[k], [v[0]]), (c, k)


def allowed(items, age, sex):
    """elementwise: item allowed for a patient of this age and sex."""
    s = _sex[items]
    return (_age_lo[items] <= age) & (_age_hi[items] >= age) & ((s == "") | (s == sex))


def choose_items(rng, pool, age, sex, k_lo, k_hi):
    """pool: list of (key, w). For n patients choose between k_lo and k_hi distinct items.
    Returns (row index, item) arrays."""
    n = len(age)
    if n == 0 or not pool or k_hi == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    items = np.array([K[k] for k, _ in pool])
    w = np.array([x for _, x in pool], float)
    ok = allowed(items[None, :], np.asarray(age)[:, None], np.asarray(sex)[:, None])
    score = np.where(ok, np.log(w)[None, :] - np.log(-np.log(rng.random((n, len(items))))), -np.inf)
    order = np.argsort(-score, axis=1)
    k = rng.integers(k_lo, k_hi + 1, n)
    k = np.minimum(k, ok.sum(1))
    rows = np.repeat(np.arange(n), k)
    pos = np.arange(len(rows)) - np.repeat(np.cumsum(k) - k, k)
    return rows, items[order[rows, pos]]


def qty_for_days(items, target_days):
    """packs for a target supply, within the item's caps; returns (qty, days)."""
    pd_ = PACK_DAYS[items]
    q = np.ceil(np.asarray(target_days, float) / pd_ - 1e-9)
    q = np.minimum(q, np.floor(MAXD[items] / pd_ + 1e-9))
    q = np.clip(np.minimum(q, MAXQ[items]), 1, None)
    days = np.minimum(np.round(q * pd_), MAXD[items])
    return q, np.maximum(days, 1).astype(np.int64)


def acute_qty(rng, items):
    q = np.where(rng.random(len(items)) < 0.7, 1.0, 2.0)
    cap = np.minimum(MAXQ[items], np.maximum(1, np.floor(MAXD[items] / PACK_DAYS[items] + 1e-9)))
    q = np.minimum(q, cap)
    days = np.minimum(np.round(q * PACK_DAYS[items]), MAXD[items]).astype(np.int64)
    return q, np.maximum(days, 1)


def band(age):
    return np.digitize(age, [7, 18, 45, 65])
