#!/usr/bin/env python3
"""Checks the drug_traces table and the drug_resale truth of county.py's output.

    python check_traces.py DATASET [--baseline OLD_DATASET]
    python check_traces.py --run OUTROOT [--persons 2000 5000 8000] [--seeds 1 2 3] [--baseline-gen OLD.py]

A dataset is checked against the data contract (columns, line_id -> claim_lines, 20-digit codes, ...).
Every code seen on more than one row is classified from the data alone:
  reversed  every earlier sale of the pack is marked reversed=true, all at one institution
  split     all at one institution, fractional quantities (拆零) adding up to at most one pack
  scanner   two rows at one institution on one day, scanned minutes apart
  resale    anything else (a pack settled again)
and the classes are matched with truth: resale codes and only they touch drug_resale lines.  Each
drug_resale ring must have codes that really reappear at its outlets; each trace confounder must
occur; no entity of a confounder may be in truth/entities.csv.  With a baseline (the same seed and
size written by county.py before drug traces were added) the rest of the output is compared: the
tables without visits must be identical, and the old visits, lines, captures and truth must all
still be there (ids aside).  Exit status 1 if anything failed.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict

import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
LOOKALIKE_ITEMS = {"Y0100006", "Y0100022", "Y0100010"}


def rd(d, name):
    return pd.read_csv(os.path.join(d, name), dtype=str, keep_default_na=False)


class Check:
    def __init__(self, name):
        self.name = name
        self.fail = []
        self.info = []

    def ok(self, cond, msg):
        if not cond:
            self.fail.append(msg)
        return cond


def check_dataset(d, baseline=None):
    C = Check(d)
    tr = rd(d, "drug_traces.csv")
    cl = rd(d, "claim_lines.csv")
    vi = rd(d, "visits.csv")
    cat = rd(d, "catalog.csv")
    ins = rd(d, "institutions.csv")
    ph = rd(d, "physicians.csv")
    rings = rd(d, "truth/rings.csv")
    ent = rd(d, "truth/entities.csv")
    viol = rd(d, "truth/violations.csv")
    readme = open(os.path.join(d, "README-generator.txt"), encoding="utf-8").read()

    # ---------------------------------------------------------------- contract
    C.ok(list(tr.columns) == ["line_id", "trace_code", "scan_time", "reversed"], f"columns {list(tr.columns)}")
    C.ok((tr.line_id != "").all() and (tr.trace_code != "").all(), "empty required value")
    bad = ~tr.trace_code.str.fullmatch(r"\d{20}")
    C.ok(not bad.any(), f"{bad.sum()} trace codes are not 20 digits")
    C.ok(tr.line_id.isin(cl.line_id).all(), f"{(~tr.line_id.isin(cl.line_id)).sum()} rows with unknown line_id")
    C.ok(set(tr.reversed) <= {"true", "false", ""}, f"reversed values {set(tr.reversed)}")
    st = pd.to_datetime(tr.scan_time.replace("", None), format="%Y-%m-%dT%H:%M:%S", errors="coerce")
    C.ok(st.notna().sum() == (tr.scan_time != "").sum(), "unparsable scan_time")
    C.ok(not tr.duplicated(["line_id", "trace_code"]).any(), "a code twice on one line")
    C.ok(cl.line_id.is_unique and vi.visit_id.is_unique, "ids not unique")
    t = tr.merge(cl[["line_id", "visit_id", "item_code", "quantity"]], on="line_id", how="left")
    t = t.merge(vi[["visit_id", "person_id", "institution_id", "physician_id", "payer_person_id", "visit_type",
                    "start_time", "end_time"]], on="visit_id", how="left")
    t = t.merge(cat[["item_code", "item_type"]], on="item_code", how="left")
    C.ok((t.item_type == "drug").all(), f"{(t.item_type != 'drug').sum()} rows on lines that are not drugs")
    t["q"] = t.quantity.astype(float)
    t["st"] = st
    t["vs"] = pd.to_datetime(t.start_time)
    t["ve"] = pd.to_datetime(t.end_time.replace("", None)).fillna(t.vs)
    t["tt"] = t.st.fillna(t.vs)
    per_line = t.groupby("line_id").agg(n=("trace_code", "size"), q=("q", "first"))
    over = per_line[per_line.n > per_line.q.apply(lambda x: math.ceil(x - 1e-9))]
    C.ok(over.empty, f"{len(over)} lines with more rows than packs")
    ok_t = t.st.isna() | ((t.st >= t.vs - pd.Timedelta(hours=1)) & (t.st <= t.ve + pd.Timedelta(days=1)))
    C.ok(ok_t.all(), f"{(~ok_t).sum()} scan times outside their settlement")
    pre = t.groupby("item_code").trace_code.agg(lambda s: set(x[:7] for x in s))
    C.ok((pre.apply(len) == 1).all() and len(set().union(*pre)) == len(pre), "product ids not one per item")

    # ------------------------------------------------- repeated codes, by cause
    rs_lines = set(viol.line_id[(viol.scheme_or_rule == "drug_resale") & (viol.line_id != "")])
    rs_visits = set(viol.visit_id[(viol.scheme_or_rule == "drug_resale") & (viol.line_id == "")])
    cnt = t.trace_code.value_counts()
    rep = t[t.trace_code.isin(cnt[cnt > 1].index)].sort_values(["trace_code", "tt"])
    causes = Counter()
    cause_rows = defaultdict(list)
    for code, g in rep.groupby("trace_code", sort=False):
        one_inst = g.institution_id.nunique() == 1
        frac = (g.q % 1 != 0).all()
        if one_inst and (g.reversed.iloc[:-1] == "true").all() and g.reversed.iloc[-1] != "true":
            cz = "reversed"
        elif one_inst and frac and g.q.sum() <= 1 + 1e-9:
            cz = "split"
        elif (one_inst and len(g) == 2 and g.vs.dt.date.nunique() == 1 and g.line_id.nunique() == 2
              and abs((g.tt.iloc[1] - g.tt.iloc[0]).total_seconds()) <= 900 and (g.reversed != "true").all()):
            cz = "scanner"
        else:
            cz = "resale"
        causes[cz] += 1
        cause_rows[cz].append(g)
        later = set(g.line_id.iloc[1:])
        if cz == "resale":
            C.ok(later <= rs_lines, f"code {code} settled again but not in truth")
            C.ok(g.visit_id.iloc[0] in rs_visits, f"code {code}: first sale is not a collector's purchase")
        else:
            C.ok(not (set(g.line_id) & rs_lines) and not (set(g.visit_id) & rs_visits),
                 f"{cz} code {code} touches drug_resale truth")
    C.info.append("repeated codes by cause: " + ", ".join(f"{k}={causes[k]}" for k in
                                                          ["resale", "reversed", "split", "scanner"]))
    for cz in ["reversed", "split", "scanner"]:
        C.ok(causes[cz] >= 1, f"no {cz} confounder")
    m = re.search(r"codes seen on more than one row, by cause: ([^;]*);", readme)
    if C.ok(m is not None, "README has no trace summary"):
        said = dict(kv.split("=") for kv in m.group(1).split(", "))
        C.ok({k: int(v) for k, v in said.items()} == {k: v for k, v in causes.items() if v},
             f"README says {said}, data says {dict(causes)}")
    # every re-settled line really carries a pack first sold to a collector
    first_seen = t.sort_values("tt").drop_duplicates("trace_code")
    coll_codes = set(first_seen.trace_code[first_seen.visit_id.isin(rs_visits)])
    rl = t[t.line_id.isin(rs_lines)]
    bad_rl = set(rs_lines) - set(rl.line_id[rl.trace_code.isin(coll_codes)])
    C.ok(not bad_rl, f"{len(bad_rl)} drug_resale lines carry no collector's pack")

    # ------------------------------------------------------------------- rings
    entset = set(zip(ent.entity_type, ent.entity_id))
    vi_r = vi[vi.visit_id.isin(rs_visits)]
    phys_inst = dict(zip(ph.physician_id, ph.institution_id))
    dr = rings[rings.scheme == "drug_resale"]
    C.ok(2 <= len(dr) <= 4, f"{len(dr)} drug_resale rings")
    ring_rows = []
    for _, r in dr.iterrows():
        mem = [tuple(x.split(":", 1)) for x in r.members.split(";")]
        P = {i for ty, i in mem if ty == "person"}
        I = {i for ty, i in mem if ty == "institution"}
        D = {i for ty, i in mem if ty == "physician"}
        e = ent[ent.ring_id == r.ring_id]
        C.ok(set(zip(e.entity_type, e.entity_id)) == set(mem) and (e.scheme == "drug_resale").all(),
             f"{r.ring_id}: entities.csv differs from members")
        mine = vi_r[vi_r.person_id.isin(P)]
        C.ok(set(mine.person_id) == P, f"{r.ring_id}: members without a collecting settlement")
        C.ok(not (set(vi_r.visit_id[vi_r.person_id.isin(P)]) - set(mine.visit_id)), "")
        my_codes = set(t.trace_code[t.visit_id.isin(mine.visit_id)])
        rl_r = rl[rl.institution_id.isin(I)]
        back = set(rl_r.trace_code) & my_codes
        C.ok(len(back) >= 1, f"{r.ring_id}: no code of its collectors reappears at its outlets")
        C.ok(set(rl_r.institution_id) == I, f"{r.ring_id}: an outlet without re-settled packs")
        for dd in D:
            C.ok(phys_inst.get(dd) in I or dd in set(mine.physician_id),
                 f"{r.ring_id}: physician {dd} neither settles at an outlet nor feeds the collectors")
        cust = set(rl_r.person_id) - P
        C.ok(not any(("person", c) in entset for c in cust), f"{r.ring_id}: a customer of an outlet is in truth")
        ring_rows.append(f"{r.ring_id}: {len(P)} persons, {len(I)} institutions, {len(D)} physicians; "
                         f"{len(mine)} collecting settlements, {len(my_codes)} packs, {len(back)} reappear in "
                         f"{rl_r.line_id.nunique()} re-settled lines at {sorted(I)}")
    C.info += ring_rows
    C.ok(set(rl.institution_id) <= {i for _, r in dr.iterrows() for x in r.members.split(";")
                                    for ty, i in [x.split(":", 1)] if ty == "institution"},
         "re-settled lines outside the rings' outlets")

    # ------------------------------------------------------------- confounders
    def clean(g, what):
        for col, ty in [("person_id", "person"), ("payer_person_id", "person"), ("institution_id", "institution"),
                        ("physician_id", "physician")]:
            hit = {x for x in g[col] if x and (ty, x) in entset}
            C.ok(not hit, f"{what}: {ty} {sorted(hit)} is in truth")

    for cz in ["reversed", "split", "scanner"]:
        for g in cause_rows[cz]:
            clean(g, cz)
    # a chronic patient with the same drug monthly from two prescribers, supplies not overlapping
    x = cl[cl.item_code.isin(LOOKALIKE_ITEMS)].merge(vi, on="visit_id")
    x["d"] = pd.to_datetime(x.start_time).dt.normalize()
    look = []
    for (p, item), g in x.groupby(["person_id", "item_code"]):
        g = g.sort_values("d")
        if len(g) < 8 or g.physician_id.nunique() != 2:
            continue
        gaps = (g.d.diff().dt.days.iloc[1:]).tolist()
        ds = pd.to_numeric(g.days_supply, errors="coerce").iloc[:-1].tolist()
        if all(math.isnan(s) or gp >= s - 2 for gp, s in zip(gaps, ds)):
            look.append((p, g))
    m = re.search(r"same high-value drug monthly from two prescribers[^:]*: (.*)", readme)
    listed = re.findall(r"(\S+) \(", m.group(1)) if m else []
    C.ok(len(listed) >= 1, "README lists no two-prescriber chronic patient")
    C.ok(set(listed) <= {p for p, _ in look}, f"listed two-prescriber patients {set(listed)} do not all fit")
    for p, g in look:
        if p in listed:
            clean(g, "two-prescriber chronic patient")
    n_fraud = sum(("person", p) in entset for p, _ in look)
    C.info.append(f"look-alikes: {len(look)} persons get one high-value drug monthly from two prescribers without "
                  f"overlap: {len(listed)} planted (clean), {len(look) - len(listed) - n_fraud} other clean, "
                  f"{n_fraud} in truth (e.g. borrowed credentials)")
    # village clinics that do not scan yet
    m = re.search(r"village clinics that do not scan trace codes yet: (.*)", readme)
    ns = set(m.group(1).split(", ")) if m else set()
    C.ok(len(ns) >= 1 and ns <= set(ins.institution_id[ins.kind.isin(["clinic", "community"])]),
         "non-scanning clinics not listed")
    C.ok(not (set(t.institution_id) & ns), "a non-scanning clinic has trace rows")
    drug_l = cl.merge(cat[["item_code", "item_type"]], on="item_code").merge(vi[["visit_id", "institution_id"]],
                                                                             on="visit_id")
    drug_l = drug_l[drug_l.item_type == "drug"]
    no_rows = set(drug_l.institution_id) - set(t.institution_id) - ns
    C.ok(not no_rows, f"institutions with drug lines but no trace rows: {sorted(no_rows)}")

    # ------------------------- the scheme's settlements break no catalogue rule by accident
    ruled = set(viol.line_id[(viol.line_id != "") & (viol.scheme_or_rule != "drug_resale")])
    x = cl[cl.visit_id.isin(rs_visits) | cl.line_id.isin(rs_lines)].merge(cat, on="item_code")
    x = x.merge(vi[["visit_id", "diagnosis_codes"]], on="visit_id")
    x = x[~x.line_id.isin(ruled)]
    q, mq = x.quantity.astype(float), pd.to_numeric(x.max_qty_per_visit, errors="coerce")
    ds, md = pd.to_numeric(x.days_supply, errors="coerce"), pd.to_numeric(x.max_days_supply, errors="coerce")
    up, cap = x.unit_price.astype(float), pd.to_numeric(x.price_cap, errors="coerce")
    ind = [not pre or any(c.startswith(tuple(pre.split(";"))) for c in dx.split(";") if c)
           for pre, dx in zip(x.indication_prefixes, x.diagnosis_codes)]
    C.ok(not (q > mq).any() and not (ds > md).any() and not (up > cap + 1e-9).any() and all(ind),
         "a drug_resale settlement breaks a catalogue rule")
    # visit ids still follow time; the stock book still adds up where it is kept
    for y, g in vi.groupby(vi.visit_id.str[2:6]):
        C.ok(g.start_time.is_monotonic_increasing or (g.sort_values("visit_id").start_time.is_monotonic_increasing),
             f"visit ids of {y} not in time order")
    inv = rd(d, "inventory.csv")
    C.ok((inv.qty_purchased.astype(float) >= 0).all(), "negative purchases")

    # --------------------------------------------------------------- baseline
    if baseline:
        compare(C, d, baseline)
    C.info.insert(0, f"drug_traces rows={len(tr)}, lines with codes={tr.line_id.nunique()}, "
                     f"codes={tr.trace_code.nunique()}, reversed rows={(tr.reversed == 'true').sum()}")
    return C


def compare(C, d, b):
    """everything that existed before the traces is still there, ids aside"""
    for f in ["institutions.csv", "physicians.csv", "persons.csv", "catalog.csv", "family_links.csv",
              "known_cases.csv", "face_enrollments.csv"]:
        C.ok(open(os.path.join(d, f), "rb").read() == open(os.path.join(b, f), "rb").read(), f"{f} changed")
    rn, ro = rd(d, "truth/rings.csv"), rd(b, "truth/rings.csv")
    C.ok(rn.iloc[:len(ro)].equals(ro) and (rn.scheme.iloc[len(ro):] == "drug_resale").all(), "old rings changed")
    en, eo = rd(d, "truth/entities.csv"), rd(b, "truth/entities.csv")
    key = ["entity_type", "entity_id", "scheme", "ring_id"]
    extra = Counter(map(tuple, en[key].values)) - Counter(map(tuple, eo[key].values))
    C.ok(Counter(map(tuple, eo[key].values)) - Counter(map(tuple, en[key].values)) == Counter(), "entities lost")
    C.ok(all(k[2] == "drug_resale" for k in extra), "new entities outside drug_resale")

    def vsig(d):
        v = rd(d, "visits.csv")
        cols = [c for c in v.columns if c != "visit_id"]
        return v, dict(zip(v.visit_id, map(tuple, v[cols].values)))

    vn, sn = vsig(d)
    vo, so = vsig(b)
    cn, co = Counter(sn.values()), Counter(so.values())
    C.ok(not (co - cn), f"{sum((co - cn).values())} old visits missing or changed")
    n_new = sum((cn - co).values())

    def lsig(d, sig):
        l = rd(d, "claim_lines.csv")
        l["k"] = l.line_id.str.rsplit("-", n=1).str[1]
        cols = [c for c in l.columns if c not in ("line_id", "visit_id")]
        return Counter((sig[v],) + tuple(r) for v, r in zip(l.visit_id, l[cols].values))

    ln, lo = lsig(d, sn), lsig(b, so)
    C.ok(not (lo - ln), f"{sum((lo - ln).values())} old claim lines missing or changed")

    def csig(d, sig):
        c = rd(d, "face_captures.csv")
        return Counter((r.institution_id, r.location, r.capture_time, r.encoding, r.claimed_person_id,
                        sig.get(r.visit_id)) for r in c.itertuples())

    fn, fo = csig(d, sn), csig(b, so)
    C.ok(not (fo - fn), f"{sum((fo - fn).values())} old face captures missing or changed")

    def vio(d, sig):
        x = rd(d, "truth/violations.csv")
        return Counter((sig[r.visit_id], r.line_id.rsplit("-", 1)[1] if r.line_id else "", r.scheme_or_rule)
                       for r in x.itertuples())

    qn, qo = vio(d, sn), vio(b, so)
    C.ok(not (qo - qn), "old violations lost")
    C.ok(all(k[2] == "drug_resale" for k in qn - qo), "new violations outside drug_resale")
    inn, ino = rd(d, "inventory.csv"), rd(b, "inventory.csv")
    ch = len(set(map(tuple, inn.values)) ^ set(map(tuple, ino.values)))
    C.info.append(f"vs baseline: identical persons/institutions/physicians/catalog/family_links/known_cases/"
                  f"face_enrollments; all {len(vo)} old visits, {sum(lo.values())} lines, {sum(fo.values())} "
                  f"captures and old truth kept (ids renumbered); +{n_new} visits, +{sum((ln - lo).values())} lines, "
                  f"+{sum((fn - fo).values())} captures; inventory rows differing: {ch} of {len(ino)}")


def report(C):
    print(("PASS " if not C.fail else "FAIL ") + C.name)
    for x in C.info:
        print("   " + x)
    for x in C.fail:
        print("   !! " + x)
    return not C.fail


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dataset", nargs="?")
    ap.add_argument("--baseline")
    ap.add_argument("--run", help="generate into OUTROOT/N_S and check each")
    ap.add_argument("--persons", type=int, nargs="*", default=[2000, 5000, 8000])
    ap.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3])
    ap.add_argument("--baseline-gen", help="an earlier county.py to compare with (written to OUTROOT/base_N_S)")
    a = ap.parse_args(argv)
    ok = True
    if a.run:
        for n in a.persons:
            for s in a.seeds:
                out = os.path.join(a.run, f"{n}_{s}")
                t0 = time.time()
                subprocess.run([sys.executable, os.path.join(HERE, "county.py"), out, "--persons", str(n),
                                "--seed", str(s)], check=True, capture_output=True)
                secs = time.time() - t0
                base = None
                if a.baseline_gen:
                    base = os.path.join(a.run, f"base_{n}_{s}")
                    subprocess.run([sys.executable, a.baseline_gen, base, "--persons", str(n), "--seed", str(s)],
                                   check=True, capture_output=True)
                C = check_dataset(out, base)
                C.name += f"  (generated in {secs:.1f}s)"
                ok &= report(C)
    else:
        ok = report(check_dataset(a.dataset, a.baseline))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
