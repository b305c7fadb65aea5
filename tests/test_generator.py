"""Tests of the synthetic city generator (ringscope.synth.generator).

Every check reads the generated files back through the real contract reader
(``read_dataset``) and recomputes what it asserts from the tables themselves,
not from generator internals.
"""
from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ringscope.ingest.contract import SCHEMES, TABLES
from ringscope.synth.generator import RULES, generate, load_config
from ringscope.ingest.reader import read_dataset

FRAUD_SCHEMES = [s for s in SCHEMES if s not in ("other", "drug_resale")]   # drug_resale: issue 19 brings it to the generator


def _truth(root: Path) -> dict[str, pd.DataFrame]:
    return {n: pd.read_csv(root / "truth" / f"{n}.csv", dtype=str, keep_default_na=False)
            for n in ("rings", "entities", "violations")}


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    out = tmp_path_factory.mktemp("city3k")
    summary = generate(out, persons=3000, seed=11)
    ds = read_dataset(out, encode_images=False)
    return out, summary, ds, _truth(out)


# --------------------------------------------------------------------------- contract and determinism
def test_validates_cleanly_and_summary_matches(city):
    out, summary, ds, _ = city
    rep = ds.load_report.set_index("table")
    assert (rep.quarantined == 0).all(), ds.quarantine.head(20)
    for name in TABLES:
        assert rep.loc[name, "accepted"] == summary["tables"][name] > 0, name
    assert 3.5 <= summary["visits_per_person"] <= 7.0


@pytest.mark.parametrize("persons,fmt", [(1000, "csv"), (10_000, "parquet")])
def test_other_sizes_validate_cleanly(tmp_path, persons, fmt):
    summary = generate(tmp_path, persons=persons, seed=5, fmt=fmt)
    assert all((tmp_path / f"{t}.{fmt}").is_file() for t in TABLES)
    ds = read_dataset(tmp_path, encode_images=False)
    rep = ds.load_report.set_index("table")
    assert rep.quarantined.sum() == 0, ds.quarantine.head(20)
    assert rep.loc["persons", "accepted"] == persons
    assert rep.loc["visits", "accepted"] == summary["tables"]["visits"]
    assert set(summary["rings"]) | set(summary["lone_actors"]) == set(FRAUD_SCHEMES)


def test_deterministic_for_a_seed_and_different_across_seeds(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, persons=1000, seed=3)
    generate(b, persons=1000, seed=3)
    generate(c, persons=1000, seed=4)
    files = sorted(p.relative_to(a) for p in a.rglob("*.csv"))
    assert len(files) == len(TABLES) + 3
    for f in files:
        assert filecmp.cmp(a / f, b / f, shallow=False), f
    assert not filecmp.cmp(a / "visits.csv", c / "visits.csv", shallow=False)
    assert not filecmp.cmp(a / "truth" / "rings.csv", c / "truth" / "rings.csv", shallow=False)


# --------------------------------------------------------------------------- truth consistency
def test_truth_entities_rings_and_violations_are_consistent(city):
    _, _, ds, truth = city
    ids = {"person": set(ds.tables["persons"].person_id), "physician": set(ds.tables["physicians"].physician_id),
           "institution": set(ds.tables["institutions"].institution_id)}
    ents = truth["entities"]
    assert len(ents) and all(eid in ids[t] for t, eid in zip(ents.entity_type, ents.entity_id))
    assert set(ents.scheme) == set(FRAUD_SCHEMES)
    rings = truth["rings"]
    assert set(rings.scheme) == {"card_lending", "card_cashout", "collusive_prescribing", "ghost_admission"}
    ring_members = set()
    for rid, members in zip(rings.ring_id, rings.members):
        m = members.split(";")
        assert len(m) >= 3, rid
        for tm in m:
            t, eid = tm.split(":", 1)
            assert eid in ids[t]
            ring_members.add((t, eid, rid))
    in_rings = ents[ents.ring_id != ""]
    assert set(zip(in_rings.entity_type, in_rings.entity_id, in_rings.ring_id)) == ring_members
    lone = ents[ents.ring_id == ""]
    assert set(lone.scheme) == {"split_admission", "doctor_shopping"}
    viol = truth["violations"]
    assert set(viol.scheme_or_rule) == set(FRAUD_SCHEMES) | set(RULES)
    visits = ds.tables["visits"].set_index("visit_id")
    lines = ds.tables["claim_lines"].set_index("line_id")
    assert viol.visit_id.isin(visits.index).all()
    withline = viol[viol.line_id != ""]
    assert (lines.loc[withline.line_id, "visit_id"].to_numpy() == withline.visit_id.to_numpy()).all()
    # scheme visits are whole-visit labels; after_death too
    whole = viol[viol.line_id == ""]
    assert set(whole.scheme_or_rule) == set(FRAUD_SCHEMES) | {"after_death"}
    # every known case labelled fraud is a truth entity; cleared ones are not
    kc = ds.tables["known_cases"]
    fraud = set(zip(ents.entity_type, ents.entity_id))
    for t, e, lab in zip(kc.entity_type, kc.entity_id, kc.label):
        assert ((t, e) in fraud) == (lab == "fraud"), (t, e, lab)
    assert set(kc.label) == {"fraud", "cleared"}


def _rule_breaks(ds) -> pd.DataFrame:
    """Recompute every line rule from the tables alone."""
    T = ds.tables
    l = T["claim_lines"].merge(T["visits"][["visit_id", "person_id", "start_time", "diagnosis_codes"]], on="visit_id")
    l = l.merge(T["persons"][["person_id", "sex", "birth_date"]], on="person_id")
    l = l.merge(T["catalog"], on="item_code")
    age = (l.start_time.dt.year - l.birth_date.dt.year
           - ((l.start_time.dt.month * 100 + l.start_time.dt.day) < (l.birth_date.dt.month * 100 + l.birth_date.dt.day)))
    r = pd.DataFrame({"line_id": l.line_id})
    r["sex_limit"] = l.sex_limit.notna() & (l.sex_limit != l.sex)
    r["age_limit"] = (l.age_min.notna() & (age < l.age_min.fillna(0))) | (l.age_max.notna() & (age > l.age_max.fillna(999)))
    r["over_quantity"] = l.max_qty_per_visit.notna() & (l.quantity > l.max_qty_per_visit)
    r["over_supply"] = l.max_days_supply.notna() & l.days_supply.notna() & (l.days_supply > l.max_days_supply)
    r["price_over_cap"] = l.price_cap.notna() & (l.unit_price > l.price_cap + 1e-9)
    r["non_medical"] = l.item_type == "non_medical"
    r["off_indication"] = [bool(p) and not any(c.startswith(x) for c in d for x in p)
                           for p, d in zip(l.indication_prefixes, l.diagnosis_codes)]
    dup = l.duplicated(["visit_id", "item_code", "quantity", "unit_price"], keep="first")
    r["duplicate_charge"] = dup.to_numpy()
    return r.set_index("line_id")


def test_every_rule_break_is_labelled_and_every_label_breaks_its_rule(city):
    _, _, ds, truth = city
    r = _rule_breaks(ds)
    viol = truth["violations"]
    lab = viol[viol.line_id != ""].set_index("line_id").scheme_or_rule
    for rule in RULES:
        if rule == "after_death":
            continue
        flagged = set(r.index[r[rule]])
        labelled = set(lab.index[lab == rule])
        assert labelled, rule
        assert flagged == labelled, (rule, sorted(flagged ^ labelled)[:5])
    # amount = quantity x unit price on every line
    cl = ds.tables["claim_lines"]
    assert np.allclose(cl.amount, (cl.quantity * cl.unit_price).round(2), atol=0.011)
    v = ds.tables["visits"]
    tot = cl.groupby("visit_id").amount.sum()
    assert np.allclose(v.set_index("visit_id").total_amount.loc[tot.index], tot, atol=0.05)
    assert ((v.fund_paid.fillna(0) + v.account_paid.fillna(0)) <= v.total_amount + 0.011).all()
    # after_death: exactly the visits after the card holder's death
    vv = v.merge(ds.tables["persons"][["person_id", "death_date"]], on="person_id")
    after = set(vv.visit_id[vv.start_time.dt.normalize() > vv.death_date])
    assert after == set(viol.visit_id[viol.scheme_or_rule == "after_death"])


# --------------------------------------------------------------------------- faces
def _capture_distances(ds) -> pd.DataFrame:
    enr = ds.tables["face_enrollments"].set_index("person_id").encoding
    cap = ds.tables["face_captures"]
    cap = cap[cap.claimed_person_id.isin(enr.index)].copy()
    e = np.stack(enr.loc[cap.claimed_person_id].to_numpy())
    c = np.stack(cap.encoding.to_numpy())
    cap["distance"] = np.linalg.norm(e - c, axis=1)
    return cap


def test_face_geometry_same_person_strangers_relatives(city):
    _, _, ds, truth = city
    cap = _capture_distances(ds)
    p = ds.tables["persons"].set_index("person_id")
    ward = cap[cap.location == "ward"]           # ward rounds: the patient in bed
    assert 0.25 < ward.distance.median() < 0.45
    assert (ward.distance < 0.6).mean() > 0.9
    assert ((ward.distance > 0.55) & (ward.distance < 0.75)).any()        # genuine but poor captures
    enr = ds.tables["face_enrollments"]
    m = np.stack(enr.encoding.to_numpy()[:400])
    d = np.linalg.norm(m[:, None] - m[None], axis=2)[np.triu_indices(len(m), 1)]
    assert np.quantile(d, 0.01) > 0.7
    # some parent-child pairs look alike (closer than strangers, but not the same person)
    fl = ds.tables["family_links"]
    fl = fl[(fl.relation == "child") & fl.person_id.isin(enr.person_id) & fl.related_person_id.isin(enr.person_id)]
    e = enr.set_index("person_id").encoding
    dd = np.linalg.norm(np.stack(e.loc[fl.person_id].to_numpy()) - np.stack(e.loc[fl.related_person_id].to_numpy()), axis=1)
    assert ((dd > 0.4) & (dd < 0.68)).sum() >= 10
    del p


def test_scheme_signatures_in_the_data(city):
    _, _, ds, truth = city
    T = ds.tables
    v = T["visits"].set_index("visit_id")
    cap = _capture_distances(ds)
    viol = truth["violations"]
    sv = viol[viol.line_id == ""].set_index("visit_id").scheme_or_rule
    # card lending: at complicit sites with terminals the settlement face is not the card holder's
    term = set(T["institutions"].institution_id[T["institutions"].has_face_terminal.fillna(False)])
    lend = v.loc[sv.index[sv == "card_lending"]]
    cl = cap[cap.visit_id.isin(lend.index) & (cap.location == "settlement")]
    assert lend.institution_id.isin(term).any() == (len(cl) > 0)   # p_terminal is drawn per ring
    assert len(cl) == 0 or (cl.distance > 0.6).mean() > 0.9
    # card cash-out: no settlement capture at all; bursts of settlements minutes apart
    cc_visits = sv.index[sv == "card_cashout"]
    assert not T["face_captures"].visit_id.isin(cc_visits).any()
    cc = v.loc[cc_visits].sort_values("start_time")
    gaps = cc.groupby("institution_id").start_time.diff().dt.total_seconds().dropna()
    assert (gaps < 300).mean() > 0.7
    # ghost admissions: never on a ward camera
    ga = sv.index[sv == "ghost_admission"]
    assert not T["face_captures"][T["face_captures"].location == "ward"].visit_id.isin(ga).any()
    # split admissions: readmitted within days with the same diagnosis
    sp = v.loc[sv.index[sv == "split_admission"]].sort_values(["person_id", "start_time"])
    gap = (sp.start_time - sp.groupby("person_id").end_time.shift()).dt.days.dropna()
    assert len(gap) and (gap <= 6).all()
    assert sp.groupby("person_id").diagnosis_codes.nunique().eq(1).all()
    # doctor shopping: one person, many prescribers
    ds_ = v.loc[sv.index[sv == "doctor_shopping"]]
    assert ds_.groupby("person_id").physician_id.nunique().min() >= 3
    # collusive prescribing: external prescriptions filled at one pharmacy per physician
    cp = v.loc[sv.index[sv == "collusive_prescribing"]]
    fills = cp[cp.visit_type == "pharmacy"]
    assert fills.groupby("physician_id").institution_id.nunique().eq(1).all()
    # cash-out pharmacies sell more than they buy
    inv = T["inventory"]
    ents = truth["entities"]
    shops = ents.entity_id[(ents.scheme == "card_cashout") & (ents.entity_type == "institution")]
    lines = T["claim_lines"].merge(T["visits"][["visit_id", "institution_id"]], on="visit_id")
    sold = lines[lines.institution_id.isin(shops)].groupby(["institution_id", "item_code"]).quantity.sum()
    bought = inv[inv.institution_id.isin(shops)].groupby(["institution_id", "item_code"]).qty_purchased.sum()
    first = inv[inv.institution_id.isin(shops) & (inv.period == inv.period.min())].set_index(["institution_id", "item_code"]).qty_opening
    supply = bought.add(first, fill_value=0).reindex(sold.index, fill_value=0)
    assert (sold > supply + 1e-9).any()
    honest = inv[~inv.institution_id.isin(ents.entity_id)]
    assert (honest.qty_closing >= 0).all()


def test_confounders_present_and_clean(city):
    _, summary, ds, truth = city
    T = ds.tables
    conf = summary["confounders"]
    for k in ("famous_physicians", "registered_proxies", "lookalike_relatives", "outbreak_visits",
              "family_sharing_visits", "camera_outages", "bad_match_captures"):
        assert conf[k] > 0, k
    fraud = set(truth["entities"].entity_id)
    v = T["visits"]
    fl = T["family_links"]
    # family account sharing: the payer is a registered relative
    shared = v[v.payer_person_id.notna()]
    pairs = set(zip(fl.person_id, fl.related_person_id)) | set(zip(fl.related_person_id, fl.person_id))
    assert len(shared) and all((a, b) in pairs for a, b in zip(shared.person_id, shared.payer_person_id))
    assert (fl.relation == "proxy").any()
    # someone else at the settlement window for an elderly card holder, on a clean visit
    cap = _capture_distances(ds)
    clean = ~cap.visit_id.isin(truth["violations"].visit_id)
    p = T["persons"].set_index("person_id")
    old = (pd.Timestamp("2024-07-01") - p.birth_date.loc[cap.claimed_person_id]).dt.days.to_numpy() > 70 * 365
    assert ((cap.location == "settlement") & clean & old & (cap.distance > 0.7)).sum() >= 3
    # famous physicians: huge patient lists, clean
    hosp = set(T["institutions"].institution_id[T["institutions"].kind == "hospital"])
    docs = T["physicians"].physician_id[T["physicians"].institution_id.isin(hosp)]
    pp = v[v.physician_id.isin(docs)].groupby("physician_id").person_id.nunique()
    clean_pp = pp[~pp.index.isin(fraud)]
    assert clean_pp.max() > 3 * pp.median()
    # camera outage: a terminal institution with a silent stretch of >= 7 days while visits continue
    caps = T["face_captures"].sort_values("capture_time")
    gaps = caps.groupby("institution_id").capture_time.diff().dt.days
    assert (gaps >= 7).any()


def test_city_looks_like_a_city(city):
    _, _, ds, _ = city
    T = ds.tables
    inst = T["institutions"]
    assert set(inst.kind) == {"hospital", "clinic", "community", "pharmacy"}
    assert set(inst.level.dropna().astype(int)) == {1, 2, 3}
    assert (inst.kind == "hospital").sum() >= 3
    p = T["persons"]
    age = 2024 - p.birth_date.dt.year
    assert 0.13 < (age >= 60).mean() < 0.23 and 0.12 < (age <= 15).mean() < 0.22   # Taiyuan: 16.1 %, 15.6 %
    assert set(p.district) <= set(load_config()["city"]["districts"])
    # 身份证号: 18 characters, birth date inside, GB 11643 check digit, sex parity
    ids = p.id_number.to_numpy(str)
    assert all(len(x) == 18 for x in ids)
    assert (p.id_number.str[6:14] == p.birth_date.dt.strftime("%Y%m%d")).all()
    digits = np.array([[int(ch) for ch in x[:17]] for x in ids])
    w = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
    assert (np.array(list("10X98765432"))[(digits * w).sum(1) % 11] == np.array([x[17] for x in ids])).all()
    assert ((digits[:, 16] % 2 == 1) == (p.sex == "M").to_numpy()).all()
    assert p.id_number.is_unique
    # chronic conditions grow with age
    has = p.chronic_conditions.map(len) > 0
    assert has[age >= 65].mean() > 3 * has[(age >= 18) & (age < 45)].mean()
    v = T["visits"]
    ip = v[v.visit_type == "inpatient"]
    los = (ip.end_time - ip.start_time).dt.total_seconds() / 86400
    assert 6 < los.mean() < 12
    assert set(v.visit_type) == {"outpatient", "inpatient", "pharmacy"}
    # winter respiratory season
    resp = v[v.diagnosis_codes.map(lambda d: any(c.startswith(("J06", "J11", "J20")) for c in d))]
    m = resp.start_time.dt.month
    assert m.isin([12, 1, 2]).sum() > 1.5 * m.isin([6, 7, 8]).sum()
    assert len(T["catalog"]) >= 150


def test_config_override_removes_a_scheme(tmp_path):
    cfg = {"schemes": {"card_lending": {"min_rings": 0, "per_100k": 0},
                       "ghost_admission": {"min_rings": 3, "p_terminal": 1.0}},
           "confounders": {"outbreak": {"enabled": False}}}
    s = generate(tmp_path, persons=1000, seed=2, config=cfg)
    truth = _truth(tmp_path)
    assert s["rings"]["ghost_admission"] == 3
    inst = pd.read_csv(tmp_path / "institutions.csv", dtype=str).set_index("institution_id")
    ents = truth["entities"]
    ghost_sites = ents.entity_id[(ents.scheme == "ghost_admission") & (ents.entity_type == "institution")]
    assert (inst.loc[ghost_sites, "has_face_terminal"] == "true").all()
    assert "card_lending" not in set(truth["rings"].scheme)
    assert "card_lending" not in set(truth["violations"].scheme_or_rule)
    assert "card_cashout" in set(truth["rings"].scheme)
    assert s["confounders"]["outbreak_visits"] == 0
    # a YAML file works too
    y = tmp_path / "c.yaml"
    y.write_text("schemes:\n  card_cashout: {min_rings: 5, per_100k: 0}\n", encoding="utf-8")
    assert load_config(y)["schemes"]["card_cashout"]["min_rings"] == 5
    assert load_config(y)["schemes"]["card_lending"]["min_rings"] == 2
