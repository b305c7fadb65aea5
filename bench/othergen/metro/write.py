"""Writing the dataset in the contract's shape (CSV or Parquet) plus truth/ and the README."""
import io
import os
import numpy as np
import pandas as pd
from .util import iso
from .catalog import CAT, catalog_table
from .city import institutions_table, physicians_table
from .persons import persons_table
from .family import links_table


def _enc_strings(encs):
    if not len(encs):
        return np.array([], dtype=object)
    X = np.stack(list(encs)).astype(np.float64)
    buf = io.StringIO()
    pd.DataFrame(X).to_csv(buf, sep=" ", header=False, index=False, float_format="%.6f")
    return np.array(buf.getvalue().splitlines(), dtype=object)


def tables(W, extra):
    V, L, P, I, D = W.V, W.L, W.P, W.I, W.D
    pid, did, iid = P["person_id"].to_numpy(), D["physician_id"].to_numpy(), I["institution_id"].to_numpy()
    ph = V["phys"].to_numpy().astype(int)
    pay = V["payer"].to_numpy().astype(int)
    t = {}
    t["institutions"] = institutions_table(I)
    t["physicians"] = physicians_table(D)
    t["persons"] = persons_table(P)
    t["catalog"] = catalog_table()
    t["visits"] = pd.DataFrame(dict(
        visit_id=V["visit_id"], person_id=pid[V["person"].to_numpy()], institution_id=iid[V["inst"].to_numpy()],
        physician_id=np.where(ph >= 0, did[np.maximum(ph, 0)], ""), visit_type=V["vtype"],
        start_time=iso(V["start"].to_numpy()), end_time=iso(V["end"].to_numpy()), diagnosis_codes=V["dx"].fillna(""),
        total_amount=V["total"], fund_paid=V["fund"], account_paid=V["acct"],
        payer_person_id=np.where(pay >= 0, pid[np.maximum(pay, 0)], ""), terminal_id=V["terminal_id"]))
    lp = L["lphys"].to_numpy().astype(int)
    days = L["days"].to_numpy().astype(float)
    t["claim_lines"] = pd.DataFrame(dict(
        line_id=L["line_id"], visit_id=L["visit_id"], item_code=CAT["item_code"].to_numpy()[L["item"].to_numpy()],
        quantity=L["qty"].astype(float), unit_price=L["price"].astype(float), amount=L["amount"].astype(float),
        days_supply=pd.array(np.where(days > 0, days, np.nan), dtype="Float64").round(0).astype("Int64"),
        physician_id=np.where(lp >= 0, did[np.maximum(lp, 0)], ""), service_time=iso(L["stime"].to_numpy())))
    en = extra["enrol"]
    t["face_enrollments"] = pd.DataFrame(dict(person_id=pid[en["person"].to_numpy()], encoding=en["encoding"],
                                              enrolled_on=en["enrolled_on"]))
    t["face_captures"] = extra["captures"]
    t["inventory"] = extra["inventory"]
    t["family_links"] = links_table(W.links, P)
    t["drug_traces"] = extra["traces"]
    t["known_cases"] = extra["cases"]
    return t


def _csv_ready(df):
    d = df.copy()
    for c in d.columns:
        s = d[c]
        if c == "encoding":
            d[c] = _enc_strings(s.to_numpy())
        elif s.dtype == bool:
            d[c] = np.where(s.to_numpy(), "true", "false")
        elif pd.api.types.is_datetime64_any_dtype(s):
            d[c] = s.dt.strftime("%Y-%m-%d").fillna("")
        elif s.dtype == float and c in ("total_amount", "fund_paid", "account_paid", "unit_price", "amount", "price_cap"):
            d[c] = np.char.mod("%.2f", s.to_numpy())
    return d


def _parquet_ready(df):
    d = df.copy()
    for c in d.columns:
        s = d[c]
        if c == "encoding":
            d[c] = [np.asarray(x, dtype=np.float32) for x in s]
        elif pd.api.types.is_datetime64_any_dtype(s):
            d[c] = s.dt.strftime("%Y-%m-%d")
        elif s.dtype == object:
            d[c] = s.astype(object).where(s.astype(str) != "", None)
    return d


def write_tables(out, t, fmt):
    os.makedirs(out, exist_ok=True)
    for name, df in t.items():
        for ext in ("csv", "parquet"):
            p = os.path.join(out, f"{name}.{ext}")
            if os.path.exists(p):
                os.remove(p)
        if fmt == "csv":
            _csv_ready(df).to_csv(os.path.join(out, f"{name}.csv"), index=False, encoding="utf-8")
        else:
            _parquet_ready(df).to_parquet(os.path.join(out, f"{name}.parquet"), index=False)


def truth(W, out):
    tdir = os.path.join(out, "truth")
    os.makedirs(tdir, exist_ok=True)
    ids = {"person": W.P["person_id"].to_numpy(), "physician": W.D["physician_id"].to_numpy(),
           "institution": W.I["institution_id"].to_numpy()}
    order = {"institution": 0, "physician": 1, "person": 2}
    rr, ee = [], []
    for r in W.rings:
        mem = sorted(r["members"], key=lambda x: (order[x[0]], ids[x[0]][x[1]]))
        rr.append(dict(ring_id=r["ring_id"], scheme=r["scheme"], members=";".join(f"{e}:{ids[e][i]}" for e, i in mem)))
        for e, i in mem:
            ee.append(dict(entity_type=e, entity_id=ids[e][i], scheme=r["scheme"], ring_id=r["ring_id"]))
    for e, i, s, rid in W.truth_entities:
        ee.append(dict(entity_type=e, entity_id=ids[e][i], scheme=s, ring_id=rid))
    pd.DataFrame(rr, columns=["ring_id", "scheme", "members"]).to_csv(os.path.join(tdir, "rings.csv"), index=False)
    E = pd.DataFrame(ee, columns=["entity_type", "entity_id", "scheme", "ring_id"]).drop_duplicates()
    E.to_csv(os.path.join(tdir, "entities.csv"), index=False)
    L = W.L[W.L["tag"] != ""]
    pd.DataFrame(dict(visit_id=L["visit_id"], line_id=L["line_id"], scheme_or_rule=L["tag"])).to_csv(
        os.path.join(tdir, "violations.csv"), index=False)
    pd.DataFrame([dict(entity_type=e, entity_id=ids[e][i], indicator=ind, first_period=per) for e, i, ind, per in W.drift],
                 columns=["entity_type", "entity_id", "indicator", "first_period"]).to_csv(os.path.join(tdir, "drift.csv"), index=False)
    return len(rr), len(E), len(L)


def readme(W, out, args, counts, timing):
    ids = {"person": W.P["person_id"].to_numpy(), "physician": W.D["physician_id"].to_numpy(),
           "institution": W.I["institution_id"].to_numpy()}
    lines = ["metro generator - 海州市 (Haizhou), a fictional megacity, year 2025", "",
             f"command: persons={args['persons']} seed={args['seed']} format={args['format']}",
             f"generation time: {timing:.1f} s", "",
             "City: 8 urban/peri-urban districts; tertiary hospitals (one oncology hospital), district hospitals, private",
             "hospitals, a psychiatric centre, a rehabilitation hospital, two internet hospitals whose external",
             "prescriptions are filled at chain pharmacies, community health service centres (refill days), private",
             "clinics, three pharmacy chains with many branches and independent pharmacies. Employee (职工) and",
             "resident (居民) insurance. Identifiers: institution 0DDKNNNN, physician Y#######, person 0DD########,",
             "visit JS25########, line MX25#########, item YP0#####/ZL######/HC######/FY######, capture RL25#########,",
             "terminal <institution>-T## (-B01 = end-of-day batch terminal), trace codes 20 digits.", "",
             "Rows per table:"]
    lines += [f"  {k}: {v}" for k, v in counts.items()]
    lines += ["", "Rings (truth/rings.csv):"]
    for r in W.rings:
        n = {e: sum(1 for x in r["members"] if x[0] == e) for e in ("institution", "physician", "person")}
        lines.append(f"  {r['ring_id']} {r['scheme']}: {n['institution']} inst, {n['physician']} phys, {n['person']} persons - {r['notes']}")
    lines += ["", "Lone actors (truth/entities.csv with empty ring_id):"]
    for e, i, s, _ in W.truth_entities:
        lines.append(f"  {s}: {e} {ids[e][i]}")
    lines += ["", "Drift (truth/drift.csv):"]
    for e, i, ind, per in W.drift:
        lines.append(f"  {e} {ids[e][i]} {ind} from {per}")
    lines += ["", "Notes, confounders and parameters drawn for this seed:"] + [f"  - {n}" for n in W.notes]
    lines += ["", "truth/violations.csv lists every fraudulent or rule-breaking claim line (all lines of a fraudulent",
              "settlement). scheme_or_rule is a scheme name or one of: price_over_cap, sex_mismatch, age_mismatch,",
              "qty_over_limit, days_over_limit, duplicate_billing, off_indication, outpatient_during_inpatient.",
              "Split-admission patients and customers who bought resold packs are affected, not members.",
              "face_enrollments carries an extra column enrolled_on (date of the enrolment photo)."]
    with open(os.path.join(out, "README-generator.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
