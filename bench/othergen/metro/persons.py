"""Insured persons built household by household; chronic registrations, deaths, twins, family bindings,
nursing homes and migrant workers who only come home for the Spring Festival."""
import numpy as np
import pandas as pd
from .util import stream, YEAR, NDAYS
from .names import person_names
from .city import DW, DNAME

# condition -> (code registered, age-band prevalence [18-34,35-44,45-59,60-74,75+], sex)
CHRONIC = [("I10", [0.01, 0.08, 0.22, 0.42, 0.50], ""), ("E11.9", [0.005, 0.04, 0.10, 0.18, 0.18], ""),
           ("I25.1", [0.0, 0.005, 0.03, 0.08, 0.14], ""), ("E78.5", [0.005, 0.03, 0.06, 0.06, 0.05], ""),
           ("J44.9", [0.0, 0.0, 0.012, 0.05, 0.07], ""), ("B18.1", [0.025, 0.03, 0.025, 0.015, 0.01], ""),
           ("N18.5", [0.0, 0.0015, 0.0025, 0.003, 0.003], ""), ("C34.9", [0.0, 0.0005, 0.002, 0.005, 0.005], ""),
           ("C50.9", [0.0, 0.001, 0.004, 0.004, 0.002], "F"), ("C18.9", [0.0, 0.0003, 0.002, 0.004, 0.004], ""),
           ("F20.9", [0.005, 0.005, 0.005, 0.003, 0.0], ""), ("I69.3", [0.0, 0.0, 0.008, 0.03, 0.05], "")]
HH_TYPES = [("single", 0.12), ("couple", 0.14), ("family", 0.30), ("three_gen", 0.12), ("old_couple", 0.16),
            ("old_single", 0.11), ("single_parent", 0.05)]


def _check_digit(body17):
    w = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
    digs = np.array([[int(c) for c in s] for s in body17])
    r = (digs * w).sum(1) % 11
    return np.array(list("10X98765432"))[r]


def build(n_target, seed):
    rng = stream(seed, "persons")
    recs = []          # (hh, role, age, sex)
    hh = 0
    types, tw = zip(*HH_TYPES)
    tw = np.array(tw) / sum(tw)
    twin_of = {}
    while len(recs) < n_target:
        t = types[rng.choice(len(types), p=tw)]
        if t == "single":
            recs.append((hh, "head", rng.uniform(20, 45), "M" if rng.random() < 0.55 else "F"))
        elif t in ("couple", "family", "three_gen", "single_parent"):
            a = rng.uniform(26, 52) if t != "couple" else rng.uniform(24, 64)
            s = "M" if rng.random() < 0.5 else "F"
            recs.append((hh, "head", a, s))
            if t != "single_parent":
                recs.append((hh, "spouse", float(np.clip(a + rng.normal(-1.5, 3), 21, 70)), "F" if s == "M" else "M"))
            if t != "couple":
                nk = 1 + int(rng.random() < 0.4)
                amin = max(0.1, a - 42)
                amax = max(amin + 0.5, min(a - 21, 24))
                for k in range(nk):
                    recs.append((hh, "child", rng.uniform(amin, amax), "M" if rng.random() < 0.51 else "F"))
                if nk == 2 and rng.random() < 0.06:            # twins
                    recs[-1] = (hh, "child", recs[-2][2], recs[-2][3] if rng.random() < 0.6 else recs[-1][3])
                    twin_of[len(recs) - 1] = len(recs) - 2
            if t == "three_gen":
                g = float(a + rng.uniform(24, 34))
                recs.append((hh, "grandparent", g, "F" if rng.random() < 0.55 else "M"))
                if rng.random() < 0.45:
                    recs.append((hh, "grandparent", g + rng.normal(1.5, 2.5), "M" if recs[-1][3] == "F" else "F"))
        elif t == "old_couple":
            a = rng.uniform(60, 88)
            recs.append((hh, "head", a, "M"))
            recs.append((hh, "spouse", float(np.clip(a + rng.normal(-2, 3), 58, 99)), "F"))
        else:
            recs.append((hh, "head", rng.uniform(65, 96), "F" if rng.random() < 0.62 else "M"))
        hh += 1
    recs = recs[:n_target]
    n = len(recs)
    P = pd.DataFrame(recs, columns=["hh", "role", "age", "sex"])
    # adult twins living apart (different households, same birth date)
    n_adult_tw = max(2, n // 2000)
    cand = np.flatnonzero((P["role"] == "head").to_numpy() & (P["age"].between(22, 55)).to_numpy())
    pairs = rng.choice(cand, size=(n_adult_tw, 2), replace=False) if len(cand) > 2 * n_adult_tw else np.zeros((0, 2), int)
    for a, b in pairs:
        P.loc[b, ["age", "sex"]] = P.loc[a, ["age", "sex"]].to_numpy()
        twin_of[int(b)] = int(a)
    # district per household
    hd = rng.choice(8, size=hh, p=DW / DW.sum())
    P["dist"] = hd[P["hh"].to_numpy()]
    # birth dates: age at 2025-07-01
    mid = np.datetime64(f"{YEAR}-07-01")
    bd = mid - np.round(P["age"].to_numpy() * 365.25).astype("timedelta64[D]")
    for b, a in twin_of.items():
        bd[b] = bd[a]
    P["birth"] = bd
    age = P["age"].to_numpy()
    # insurance
    emp_p = np.select([age < 18, age < 22, age < 60], [0.0, 0.12, 0.74], 0.58)
    P["insurance_type"] = np.where(rng.random(n) < emp_p, "employee", "resident")
    # chronic conditions
    band = np.digitize(age, [35, 45, 60, 75])
    conds = [[] for _ in range(n)]
    sex = P["sex"].to_numpy()
    for code, prev, sx in CHRONIC:
        p = np.array(prev)[band] * (age >= 18)
        if sx:
            p = p * (sex == sx)
        hit = np.flatnonzero(rng.random(n) < p)
        for i in hit:
            conds[i].append(code)
    P["conds"] = conds
    reg = [[c for c in cs if rng.random() < 0.86] for cs in conds]
    P["chronic_conditions"] = [";".join(r) for r in reg]
    # deaths during the year
    mort = np.select([age < 60, age < 75, age < 85], [0.0008, 0.009, 0.035], 0.11)
    has_cancer = np.array([any(c.startswith("C") for c in cs) for cs in conds])
    mort = mort + has_cancer * 0.08
    dead = rng.random(n) < mort
    dday = np.where(dead, rng.integers(20, NDAYS - 5, n), -1)
    P["death_day"] = dday
    # roles for special groups
    P["twin_of"] = -1
    for b, a in twin_of.items():
        if b < n and a < n:
            P.loc[b, "twin_of"] = a
    P["away"] = (age >= 22) & (age <= 50) & (rng.random(n) < 0.012) & (P["role"].to_numpy() == "head")
    P["nh"] = -1
    # nursing homes: extra elderly residents appended as single households
    nh_n = max(1, int(round(n / 4000)))
    nh_rows = []
    nh_info = []
    for k in range(nh_n):
        d = int(rng.choice([6, 7, 3, 4]))
        size = int(rng.integers(10, 22))
        for j in range(size):
            nh_rows.append(dict(hh=hh, role="head", age=rng.uniform(78, 97), sex="F" if rng.random() < 0.64 else "M",
                                dist=d, nh=k))
            hh += 1
        nh_info.append(dict(nh=k, dist=d, name=f"{DNAME[d]}颐康养老院" if k == 0 else f"{DNAME[d]}福寿养老院{k}"))
    NH = pd.DataFrame(nh_rows)
    NH["birth"] = mid - np.round(NH["age"].to_numpy() * 365.25).astype("timedelta64[D]")
    NH["insurance_type"] = np.where(rng.random(len(NH)) < 0.55, "employee", "resident")
    nconds = []
    for a in NH["age"]:
        c = [x for x, pr in (("I10", 0.6), ("E11.9", 0.25), ("I25.1", 0.2), ("I69.3", 0.15)) if rng.random() < pr]
        nconds.append(c)
    NH["conds"] = nconds
    NH["chronic_conditions"] = [";".join(c) for c in nconds]
    NH["death_day"] = np.where(rng.random(len(NH)) < 0.08, rng.integers(60, NDAYS - 5, len(NH)), -1)
    NH["twin_of"] = -1
    NH["away"] = False
    # keep total at n_target: drop the last persons of ordinary households
    P = P.iloc[: max(0, n_target - len(NH))]
    P = pd.concat([P, NH], ignore_index=True)
    n = len(P)
    P["age"] = P["age"].astype(float)
    # ids, names, id numbers
    serial = np.cumsum(rng.integers(1, 40, n)) + 100000
    dd = P["dist"].to_numpy() + 1
    P["person_id"] = [f"0{d:02d}{s:08d}" for d, s in zip(dd, serial)]
    P["name"] = person_names(rng, P["sex"].to_numpy())
    # a child takes the surname of its household head most of the time
    head_name = P.groupby("hh")["name"].transform("first")
    same = (P["role"].isin(["child"])) & (rng.random(n) < 0.85)
    P.loc[same, "name"] = head_name[same].str[0] + P.loc[same, "name"].str[1:]
    bstr = np.datetime_as_string(P["birth"].to_numpy().astype("datetime64[D]")).astype(str)
    ymd = np.char.replace(bstr, "-", "")
    seq = rng.integers(0, 500, n) * 2 + (P["sex"].to_numpy() == "M")
    body = [f"4598{d:02d}{b}{s:03d}" for d, b, s in zip(dd, ymd, seq)]
    P["id_number"] = [b + c for b, c in zip(body, _check_digit(body))]
    P["district"] = np.array(DNAME, dtype=object)[P["dist"].to_numpy()]
    P["age_end"] = P["age"] + 0.5
    P["idx"] = np.arange(n)
    return P, pd.DataFrame(nh_info)


def persons_table(P):
    dd = P["death_day"].to_numpy()
    death = np.where(dd >= 0, (np.datetime64(f"{YEAR}-01-01") + np.maximum(dd, 0)).astype("datetime64[D]"),
                     np.datetime64("NaT"))
    return pd.DataFrame(dict(person_id=P["person_id"], sex=P["sex"], birth_date=P["birth"].to_numpy().astype("datetime64[D]"),
                             name=P["name"], id_number=P["id_number"], district=P["district"],
                             insurance_type=P["insurance_type"], chronic_conditions=P["chronic_conditions"],
                             death_date=death))
