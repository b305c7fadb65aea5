#!/usr/bin/env python3
"""Independent checker of a dataset against data-contract.md (and of its truth/ directory).

usage: python check_dataset.py DATASET [--quiet]
Exit status 0 when no error was found; warnings are informational."""
import os
import re
import sys
import numpy as np
import pandas as pd

REQ = {
    "institutions": ["institution_id", "kind"],
    "physicians": ["physician_id", "institution_id"],
    "persons": ["person_id", "sex", "birth_date"],
    "catalog": ["item_code", "name", "item_type"],
    "visits": ["visit_id", "person_id", "institution_id", "visit_type", "start_time", "total_amount"],
    "claim_lines": ["line_id", "visit_id", "item_code", "quantity", "unit_price", "amount"],
}
OPT = {
    "face_enrollments": ["person_id"], "face_captures": ["capture_id", "institution_id", "location", "capture_time"],
    "inventory": ["institution_id", "item_code", "period", "qty_purchased"],
    "family_links": ["person_id", "related_person_id"], "drug_traces": ["line_id", "trace_code"],
    "known_cases": ["case_id", "entity_type", "entity_id", "label"],
}
SCHEMES = ["card_lending", "card_cashout", "collusive_prescribing", "ghost_admission", "split_admission",
           "doctor_shopping", "drug_resale"]
TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
DT = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MONEY = re.compile(r"^\d+(\.\d{1,2})?$")
errors, warns, info = [], [], []


def err(s):
    errors.append(s)


def load(d, name):
    c, p = os.path.join(d, name + ".csv"), os.path.join(d, name + ".parquet")
    if os.path.exists(c) and os.path.exists(p):
        err(f"{name}: both csv and parquet present")
    if os.path.exists(c):
        return pd.read_csv(c, dtype=str, keep_default_na=False), "csv"
    if os.path.exists(p):
        df = pd.read_parquet(p)
        for col in df.columns:
            if col == "encoding":
                continue
            s = df[col]
            if pd.api.types.is_bool_dtype(s):
                df[col] = np.where(s.to_numpy(), "true", "false")
            elif pd.api.types.is_integer_dtype(s):
                df[col] = s.astype("string").fillna("").astype(object)
            else:
                df[col] = s.map(lambda x: "" if x is None or x is pd.NA or (isinstance(x, float) and np.isnan(x)) else
                                ("true" if x is True else "false" if x is False else str(x)))
        return df, "parquet"
    return None, None


def enc_ok(series, fmt):
    if fmt == "csv":
        n = series.str.split(" ").map(len)
        bad = (n != 128).sum()
        vals = np.array([np.array(s.split(" "), float) for s in series.iloc[:2000]]) if len(series) else np.zeros((0, 128))
    else:
        n = series.map(len)
        bad = (n != 128).sum()
        vals = np.stack(series.iloc[:2000].to_numpy()) if len(series) else np.zeros((0, 128))
    return bad, vals


def enc_matrix(series, fmt):
    if fmt == "csv":
        return np.array([np.array(s.split(" "), float) for s in series])
    return np.stack(series.to_numpy()).astype(float)


def unique(df, cols, name):
    d = df.duplicated(cols).sum()
    if d:
        err(f"{name}: {d} duplicate keys on {cols}")


def fk(df, col, ref, name, allow_empty=True):
    v = df[col]
    if allow_empty:
        v = v[v != ""]
    bad = ~v.isin(ref)
    if bad.any():
        err(f"{name}.{col}: {int(bad.sum())} unknown keys (e.g. {v[bad].iloc[0]})")


def enum(df, col, vals, name, allow_empty=False):
    v = df[col]
    if allow_empty:
        v = v[v != ""]
    bad = ~v.isin(vals)
    if bad.any():
        err(f"{name}.{col}: {int(bad.sum())} values outside {vals} (e.g. {v[bad].iloc[0]!r})")


def pattern(df, col, rx, name, allow_empty=False):
    v = df[col]
    if allow_empty:
        v = v[v != ""]
    bad = ~v.str.match(rx)
    if bad.any():
        err(f"{name}.{col}: {int(bad.sum())} malformed values (e.g. {v[bad].iloc[0]!r})")


def main(d, quiet=False):
    T, F = {}, {}
    for name, cols in list(REQ.items()) + list(OPT.items()):
        df, fmt = load(d, name)
        if df is None:
            (err if name in REQ else warns.append)(f"missing table {name}")
            continue
        miss = [c for c in cols if c not in df.columns]
        if miss:
            err(f"{name}: missing required columns {miss}")
        for c in cols:
            if c in df.columns and c != "encoding" and (df[c] == "").any():
                err(f"{name}.{c}: {(df[c] == '').sum()} empty required values")
        T[name], F[name] = df, fmt
    I, D, P, C, V, L = (T[k] for k in REQ)
    unique(I, ["institution_id"], "institutions")
    unique(D, ["physician_id"], "physicians")
    unique(P, ["person_id"], "persons")
    unique(C, ["item_code"], "catalog")
    unique(V, ["visit_id"], "visits")
    unique(L, ["line_id"], "claim_lines")
    enum(I, "kind", ["hospital", "clinic", "community", "pharmacy"], "institutions")
    enum(I, "ownership", ["public", "private"], "institutions", True)
    enum(I, "has_face_terminal", ["true", "false"], "institutions", True)
    pattern(I, "level", r"^[123]$", "institutions", True)
    if (I.loc[I["level"] != "", "kind"] != "hospital").any():
        err("institutions: level set for a non-hospital")
    fk(D, "institution_id", I["institution_id"], "physicians", False)
    enum(P, "sex", ["M", "F"], "persons")
    pattern(P, "birth_date", DT, "persons")
    pattern(P, "death_date", DT, "persons", True)
    enum(P, "insurance_type", ["employee", "resident"], "persons", True)
    enum(C, "item_type", ["drug", "service", "material", "non_medical"], "catalog")
    enum(C, "insurance_class", ["A", "B", "C"], "catalog", True)
    enum(C, "sex_limit", ["M", "F"], "catalog", True)
    pattern(C, "price_cap", MONEY, "catalog", True)
    enum(V, "visit_type", ["outpatient", "inpatient", "pharmacy"], "visits")
    fk(V, "person_id", P["person_id"], "visits", False)
    fk(V, "institution_id", I["institution_id"], "visits", False)
    fk(V, "physician_id", D["physician_id"], "visits")
    fk(V, "payer_person_id", P["person_id"], "visits")
    pattern(V, "start_time", TS, "visits")
    pattern(V, "end_time", TS, "visits", True)
    for c in ("total_amount", "fund_paid", "account_paid"):
        pattern(V, c, MONEY, "visits", c != "total_amount")
    fk(L, "visit_id", V["visit_id"], "claim_lines", False)
    fk(L, "item_code", C["item_code"], "claim_lines", False)
    fk(L, "physician_id", D["physician_id"], "claim_lines")
    pattern(L, "unit_price", MONEY, "claim_lines")
    pattern(L, "amount", MONEY, "claim_lines")
    pattern(L, "quantity", r"^\d+(\.\d+)?$", "claim_lines")
    pattern(L, "days_supply", r"^\d+$", "claim_lines", True)
    pattern(L, "service_time", TS, "claim_lines", True)
    # arithmetic
    q, pr, am = (L[c].astype(float) for c in ("quantity", "unit_price", "amount"))
    off = (np.abs(q * pr - am) > 0.0051).sum()
    info.append(f"claim lines with amount != quantity x unit_price: {off} ({off / len(L):.4%})")
    tot = L.assign(a=am).groupby("visit_id")["a"].sum().reindex(V["visit_id"]).to_numpy()
    vt = V["total_amount"].astype(float).to_numpy()
    if (np.abs(tot - vt) > 0.011).any():
        err(f"visits: {(np.abs(tot - vt) > 0.011).sum()} totals differ from the sum of their lines")
    fa = V["fund_paid"].replace("", "0").astype(float) + V["account_paid"].replace("", "0").astype(float)
    if (fa > vt + 0.005).any():
        err(f"visits: {(fa > vt + 0.005).sum()} with fund_paid + account_paid > total_amount")
    nolines = ~V["visit_id"].isin(L["visit_id"])
    if nolines.any():
        warns.append(f"visits without lines: {nolines.sum()}")
    inp = V[V["visit_type"] == "inpatient"]
    if (inp["end_time"] == "").any() or (inp["end_time"] < inp["start_time"]).any():
        err("visits: inpatient stays without end_time or ending before start")
    # ids must be strings with leading zeros kept
    lz = {k: df[c].str.startswith("0").mean() for k, df, c in (("institution", I, "institution_id"), ("person", P, "person_id"))}
    info.append(f"share of ids with a leading zero: {lz}")
    # optional tables
    if "face_enrollments" in T:
        E = T["face_enrollments"]
        fk(E, "person_id", P["person_id"], "face_enrollments", False)
        bad, vals = enc_ok(E["encoding"], F["face_enrollments"])
        if bad:
            err(f"face_enrollments: {bad} encodings not 128-d")
        unique(E, ["person_id"], "face_enrollments")
    if "face_captures" in T:
        X = T["face_captures"]
        unique(X, ["capture_id"], "face_captures")
        fk(X, "institution_id", I["institution_id"], "face_captures", False)
        fk(X, "visit_id", V["visit_id"], "face_captures")
        fk(X, "claimed_person_id", P["person_id"], "face_captures")
        enum(X, "location", ["entrance", "settlement", "ward"], "face_captures")
        pattern(X, "capture_time", TS, "face_captures")
        bad, _ = enc_ok(X["encoding"], F["face_captures"])
        if bad:
            err(f"face_captures: {bad} encodings not 128-d")
        noterm = ~X["institution_id"].isin(I.loc[I["has_face_terminal"] == "true", "institution_id"])
        if noterm.any():
            err(f"face_captures: {noterm.sum()} captures at institutions without a face terminal")
    if "inventory" in T:
        Iv = T["inventory"]
        fk(Iv, "institution_id", I["institution_id"], "inventory", False)
        fk(Iv, "item_code", C["item_code"], "inventory", False)
        pattern(Iv, "period", r"^\d{4}-\d{2}$", "inventory")
        unique(Iv, ["institution_id", "item_code", "period"], "inventory")
        if (Iv["qty_purchased"].astype(float) < 0).any():
            err("inventory: negative purchases")
    if "family_links" in T:
        FL = T["family_links"]
        fk(FL, "person_id", P["person_id"], "family_links", False)
        fk(FL, "related_person_id", P["person_id"], "family_links", False)
        unique(FL, ["person_id", "related_person_id", "relation"], "family_links")
    if "drug_traces" in T:
        DTr = T["drug_traces"]
        fk(DTr, "line_id", L["line_id"], "drug_traces", False)
        pattern(DTr, "trace_code", r"^\d{20}$", "drug_traces")
        enum(DTr, "reversed", ["true", "false"], "drug_traces", True)
        pattern(DTr, "scan_time", TS, "drug_traces", True)
    if "known_cases" in T:
        K = T["known_cases"]
        unique(K, ["case_id"], "known_cases")
        enum(K, "entity_type", ["person", "physician", "institution"], "known_cases")
        enum(K, "label", ["fraud", "cleared"], "known_cases")
        for et, ref in (("person", P["person_id"]), ("physician", D["physician_id"]), ("institution", I["institution_id"])):
            fk(K[K["entity_type"] == et], "entity_id", ref, f"known_cases[{et}]", False)
        pattern(K, "closed_on", DT, "known_cases", True)
    check_truth(d, T, F, quiet)
    rep = [f"dataset {d}"] + [f"  rows {k}: {len(v)}" for k, v in T.items()]
    rep += ["INFO " + s for s in info] + ["WARN " + s for s in warns] + ["ERROR " + s for s in errors]
    rep.append("RESULT: " + ("OK" if not errors else f"{len(errors)} error(s)"))
    print("\n".join(rep))
    return 0 if not errors else 1


def typed_ref(T):
    return {"person": set(T["persons"]["person_id"]), "physician": set(T["physicians"]["physician_id"]),
            "institution": set(T["institutions"]["institution_id"])}


def check_truth(d, T, F, quiet):
    td = os.path.join(d, "truth")
    if not os.path.isdir(td):
        warns.append("no truth/ directory")
        return
    ref = typed_ref(T)
    R = pd.read_csv(os.path.join(td, "rings.csv"), dtype=str, keep_default_na=False)
    E = pd.read_csv(os.path.join(td, "entities.csv"), dtype=str, keep_default_na=False)
    Vi = pd.read_csv(os.path.join(td, "violations.csv"), dtype=str, keep_default_na=False)
    unique(R, ["ring_id"], "truth/rings")
    members = set()
    for rid, s, mem in zip(R["ring_id"], R["scheme"], R["members"]):
        for m in mem.split(";"):
            et, _, eid = m.partition(":")
            if et not in ref or eid not in ref[et]:
                err(f"truth/rings {rid}: unknown member {m}")
            members.add((et, eid, rid))
    per = R["scheme"].value_counts()
    info.append("rings per scheme: " + ", ".join(f"{s}={per.get(s, 0)}" for s in SCHEMES))
    for s in SCHEMES:
        if per.get(s, 0) == 0:
            err(f"truth/rings: scheme {s} absent")
    for et, eid in zip(E["entity_type"], E["entity_id"]):
        if et not in ref or eid not in ref[et]:
            err(f"truth/entities: unknown {et}:{eid}")
    ent = set(zip(E["entity_type"], E["entity_id"], E["ring_id"]))
    miss = [m for m in members if m not in ent]
    if miss:
        err(f"truth/entities: {len(miss)} ring members missing (e.g. {miss[0]})")
    info.append(f"truth entities: {len(E)} ({(E['ring_id'] == '').sum()} lone)")
    L, V = T["claim_lines"], T["visits"]
    lv = dict(zip(L["line_id"], L["visit_id"]))
    bad = [(v, l) for v, l in zip(Vi["visit_id"], Vi["line_id"]) if (l and lv.get(l) != v) or (not l and v not in set(V["visit_id"]))]
    if bad:
        err(f"truth/violations: {len(bad)} rows whose line/visit do not match the data")
    info.append("violations per scheme_or_rule: " + Vi["scheme_or_rule"].value_counts().to_dict().__repr__())
    p = os.path.join(td, "drift.csv")
    if os.path.exists(p):
        Dr = pd.read_csv(p, dtype=str, keep_default_na=False)
        for et, eid in zip(Dr["entity_type"], Dr["entity_id"]):
            if eid not in ref.get(et, set()):
                err(f"truth/drift: unknown {et}:{eid}")
        info.append(f"drift entries: {len(Dr)}")
    from metro_check_rules import rule_audit, confounder_audit
    T["_viol_visits"] = list(set(Vi["visit_id"]))
    rule_audit(T, Vi, info, err)
    confounder_audit(T, F, E, info, warns, enc_matrix)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main(sys.argv[1], "--quiet" in sys.argv))
