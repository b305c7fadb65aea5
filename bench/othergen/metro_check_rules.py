"""Rule audit and confounder census used by check_dataset.py (reads only the dataset's tables)."""
import numpy as np
import pandas as pd


def _age(birth, when):
    b = pd.to_datetime(birth)
    w = pd.to_datetime(when.str[:10])
    a = w.dt.year - b.dt.year
    before = (w.dt.month < b.dt.month) | ((w.dt.month == b.dt.month) & (w.dt.day < b.dt.day))
    return (a - before.astype(int)).to_numpy()


def rule_audit(T, Vi, info, err):
    L, V, P, C = T["claim_lines"], T["visits"], T["persons"], T["catalog"]
    x = L.merge(V[["visit_id", "person_id", "start_time", "diagnosis_codes", "visit_type", "institution_id"]], on="visit_id")
    x = x.merge(P[["person_id", "sex", "birth_date"]], on="person_id").merge(C, on="item_code", suffixes=("", "_c"))
    num = lambda s: pd.to_numeric(s.replace("", np.nan))
    age = _age(x["birth_date"], x["start_time"])
    hits = {}
    hits["price_over_cap"] = num(x["unit_price"]) > num(x["price_cap"]) + 1e-6
    hits["sex_mismatch"] = (x["sex_limit"] != "") & (x["sex_limit"] != x["sex"])
    hits["age_mismatch"] = (age < num(x["age_min"]).fillna(-1)) | (age > num(x["age_max"]).fillna(999))
    hits["qty_over_limit"] = num(x["quantity"]) > num(x["max_qty_per_visit"]).fillna(np.inf)
    hits["days_over_limit"] = num(x["days_supply"]).fillna(0) > num(x["max_days_supply"]).fillna(np.inf)
    hits["duplicate_billing"] = x.duplicated(["visit_id", "item_code"], keep="first")
    ind = []
    for pre, dx in zip(x["indication_prefixes"], x["diagnosis_codes"]):
        if not pre:
            ind.append(False)
            continue
        codes = dx.split(";") if dx else []
        ind.append(not any(c.startswith(p) for c in codes for p in pre.split(";")))
    hits["off_indication"] = np.array(ind)
    vl = set(Vi["line_id"])
    vv = set(Vi["visit_id"])
    out = []
    for k, h in hits.items():
        h = np.asarray(h, bool)
        lines = x.loc[h, "line_id"]
        untagged = (~lines.isin(vl)).sum()
        out.append(f"{k}={h.sum()}/{untagged} untagged")
        if untagged:
            err(f"rule {k}: {untagged} breaking lines not in truth/violations")
    # outpatient settlement while an inpatient elsewhere
    inp = V[V["visit_type"] == "inpatient"][["visit_id", "person_id", "start_time", "end_time", "institution_id"]]
    oth = V[V["visit_type"] != "inpatient"][["visit_id", "person_id", "start_time", "institution_id"]]
    m = oth.merge(inp, on="person_id", suffixes=("", "_s"))
    m = m[(m["start_time"] > m["start_time_s"]) & (m["start_time"] < m["end_time"]) & (m["institution_id"] != m["institution_id_s"])]
    clean_both = m[~m["visit_id"].isin(vv) & ~m["visit_id_s"].isin(vv)]
    out.append(f"outpatient_during_inpatient={len(m)}/{len(clean_both)} with both settlements clean")
    if len(clean_both):
        err(f"rule outpatient_during_inpatient: {len(clean_both)} clean overlaps")
    info.append("rule audit (hits/untagged): " + ", ".join(out))


def _components(a, b):
    parent = {}

    def f(u):
        parent.setdefault(u, u)
        while parent[u] != u:
            parent[u] = parent[parent[u]]
            u = parent[u]
        return u
    for u, v in zip(a, b):
        parent[f(u)] = f(v)
    comp = {}
    for u in list(parent):
        comp.setdefault(f(u), []).append(u)
    return list(comp.values())


def confounder_audit(T, F, E, info, warns, enc_matrix):
    V, L, P, I = T["visits"], T["claim_lines"], T["persons"], T["institutions"]
    fraud_p = set(E.loc[E["entity_type"] == "person", "entity_id"])
    c = {}
    FL = T.get("family_links")
    if FL is not None:
        fam = FL[FL["relation"] != "proxy"]
        pairs = set(zip(fam["person_id"], fam["related_person_id"])) | set(zip(fam["related_person_id"], fam["person_id"]))
        py = V[V["payer_person_id"] != ""]
        comps = _components(fam["person_id"], fam["related_person_id"])
        reach = {}
        for comp in comps:
            for u in comp:
                reach[u] = id(comp)
        linked = [reach.get(a) is not None and reach.get(a) == reach.get(b) for a, b in zip(py["person_id"], py["payer_person_id"])]
        c["family_sharing_settlements"] = int(np.sum(linked))
        if len(py) - int(np.sum(linked)):
            warns.append(f"{len(py) - int(np.sum(linked))} payer_person_id outside the payer's registered household")
        c["proxy_bindings"] = int((FL["relation"] == "proxy").sum())
        c["pairs_with_two_relations"] = int((FL.groupby(["person_id", "related_person_id"]).size() > 1).sum())
        deg = pd.concat([fam["person_id"], fam["related_person_id"]]).value_counts()
        star = chain = 0
        for comp in comps:
            if len(comp) < 3:
                continue
            dg = deg.reindex(comp).fillna(0)
            if dg.max() == len(comp) - 1:
                star += 1
            elif dg.max() <= 2:
                chain += 1
        c["households_star"], c["households_chain"] = star, chain
    st = V["start_time"]
    day = st.str[:10]
    chc = V[V["institution_id"].isin(I.loc[I["kind"] == "community", "institution_id"])]
    per = chc.groupby(["institution_id", chc["start_time"].str[:10]]).size()
    c["chc_busiest_day_vs_median"] = round(float(per.max() / max(1, per.median())), 1)
    vc = V["institution_id"].value_counts()
    c["largest_institution_share"] = round(float(vc.iloc[0] / len(V)), 3)
    pv = V.groupby("person_id").size()
    c["persons_with_100plus_settlements_clean"] = int(((pv >= 100) & ~pv.index.isin(fraud_p)).sum())
    inp = V[V["visit_type"] == "inpatient"].sort_values(["person_id", "start_time"])
    prev_end = inp.groupby("person_id")["end_time"].shift(1)
    gap = (pd.to_datetime(inp["start_time"]) - pd.to_datetime(prev_end)).dt.days
    same_dx = inp["diagnosis_codes"].str[:3] == inp.groupby("person_id")["diagnosis_codes"].shift(1).str[:3]
    vi_v = set()
    vv = set(T["_viol_visits"]) if "_viol_visits" in T else set()
    c["clean_readmissions_within_15d_same_dx"] = int(((gap <= 15) & same_dx & ~inp["visit_id"].isin(vv)).sum())
    c["stays_over_30_days"] = int(((pd.to_datetime(inp["end_time"]) - pd.to_datetime(inp["start_time"])).dt.days > 30).sum())
    ph = V[V["visit_type"] == "pharmacy"]
    pd_ = ph.groupby(ph["start_time"].str[:10]).size()
    pre_sf = pd_.reindex([f"2025-01-{d:02d}" for d in range(18, 28)]).mean()
    c["pharmacy_pre_spring_festival_vs_mean"] = round(float(pre_sf / pd_.mean()), 2)
    m = pd.to_datetime(st)
    win = (m >= "2025-01-15") & (m <= "2025-02-20")
    g = pd.DataFrame(dict(p=V["person_id"], w=win)).groupby("p")["w"].agg(["all", "size"])
    c["persons_active_only_around_spring_festival"] = int(((g["all"]) & (g["size"] >= 2)).sum())
    c["vaccination_or_exam_settlements"] = int(V["diagnosis_codes"].isin(["Z23", "Z25.1", "Z10.8"]).sum())
    bt = V["terminal_id"].str.endswith("-B01")
    c["batch_terminal_settlements_after_17h"] = int((bt & (st.str[11:13] >= "17")).sum())
    c["midnight_settlements"] = int((st.str[11:] == "00:00:00").sum())
    # traces
    DTr = T.get("drug_traces")
    if DTr is not None:
        x = DTr.merge(L[["line_id", "visit_id", "quantity"]], on="line_id").merge(
            V[["visit_id", "person_id", "institution_id", "start_time", "terminal_id"]], on="visit_id")
        dup = x[x.duplicated("trace_code", keep=False)].sort_values(["trace_code", "scan_time"])
        g = dup.groupby("trace_code")
        first = g.head(1).set_index("trace_code")
        second = g.nth(1).set_index("trace_code")
        j = first.join(second, lsuffix="_a", rsuffix="_b")
        rev = j["reversed_a"] == "true"
        same_p = (j["person_id_a"] == j["person_id_b"]) & (j["institution_id_a"] == j["institution_id_b"])
        frac = ~j["quantity_a"].astype(float).mod(1).eq(0)
        dt = (pd.to_datetime(j["scan_time_b"]) - pd.to_datetime(j["scan_time_a"])).dt.total_seconds()
        scanner = (j["terminal_id_a"] == j["terminal_id_b"]) & (dt < 900) & ~same_p
        c["codes_on_two_or_more_lines"] = int(len(j))
        c["reversed_then_resold"] = int(rev.sum())
        c["pack_split_same_patient"] = int((same_p & frac).sum())
        c["scanner_repeat_within_minutes"] = int(scanner.sum())
    # faces
    En, Ca = T.get("face_enrollments"), T.get("face_captures")
    if En is not None and Ca is not None:
        Ee = enc_matrix(En["encoding"], F["face_enrollments"])
        s = Ca[(Ca["location"] == "settlement") & Ca["claimed_person_id"].isin(En["person_id"])]
        Xs = enc_matrix(s["encoding"], F["face_captures"])
        pos = pd.Series(np.arange(len(En)), index=En["person_id"])
        dcl = np.linalg.norm(Xs - Ee[pos.reindex(s["claimed_person_id"]).to_numpy()], axis=1)
        c["settlement_dist_to_claimed_q50_q90"] = (round(float(np.quantile(dcl, .5)), 3), round(float(np.quantile(dcl, .9)), 3))
        c["settlement_share_within_0.6"] = round(float((dcl < 0.6).mean()), 3)
        c["captures_0.6_to_0.9_from_claimed"] = int(((dcl > 0.6) & (dcl < 0.9)).sum())
        k = min(len(Ee), 1500)
        Dm = np.linalg.norm(Ee[:k, None, :] - Ee[None, :k, :], axis=2)[np.triu_indices(k, 1)]
        c["enrolment_pairs_dist_q05_q50_q95"] = tuple(np.round(np.quantile(Dm, [.05, .5, .95]), 3))
        # near pairs over all enrolments (twins)
        close = 0
        G = Ee @ Ee.T
        n2 = (Ee ** 2).sum(1)
        D2 = n2[:, None] + n2[None, :] - 2 * G
        iu = np.triu_indices(len(Ee), 1)
        close = int((D2[iu] < 0.36).sum())
        c["enrolment_pairs_closer_than_0.6"] = close
        if "enrolled_on" in En:
            c["enrolments_dated_2025"] = int(En["enrolled_on"].str.startswith("2025").sum())
    info.append("confounder census: " + "; ".join(f"{k}={v}" for k, v in c.items()))
    info.append(f"volumes: {len(V) / len(P):.2f} settlements per person, {len(L) / len(V):.2f} lines per settlement, "
                f"share of persons with <=3 settlements {float((pv.reindex(P['person_id']).fillna(0) <= 3).mean()):.2f}")
