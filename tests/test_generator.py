"""Tests of the synthetic city generator (ringscope.synth.generator).

Every check reads the generated files back through the real contract reader
(``read_dataset``) -- or, for the partitioned Parquet of a sharded city, through
Arrow -- and recomputes what it asserts from the tables themselves, not from
generator internals. Cities stay small here (a sharded city is a few thousand
persons in shards of 1,500); the city-sized runs are in ``bench/bench_generate.py``.
"""
from __future__ import annotations

import filecmp
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ringscope import progress
from ringscope.ingest.contract import CONTRACT_TABLES, OPTIONAL_TRUTH_FILES, SCHEMES
from ringscope.synth import drift as drift_mod
from ringscope.synth.generator import LEGACY_PATH, RULES, generate, load_config
from ringscope.ingest.reader import read_dataset

FRAUD_SCHEMES = [s for s in SCHEMES if s != "other"]
# drug traceability codes (on by default since the store loads them; set explicitly here)
TRACES = {"drug_traces": {"enabled": True}}
RING_SCHEMES = {"card_lending", "card_cashout", "collusive_prescribing", "ghost_admission", "drug_resale"}


def _truth(root: Path) -> dict[str, pd.DataFrame]:
    return {n: pd.read_csv(root / "truth" / f"{n}.csv", dtype=str, keep_default_na=False)
            for n in ("rings", "entities", "violations", "drift") if (root / "truth" / f"{n}.csv").exists()}


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    out = tmp_path_factory.mktemp("city3k")
    summary = generate(out, persons=3000, seed=11, config=TRACES)
    ds = read_dataset(out, encode_images=False)
    return out, summary, ds, _truth(out)


def _components(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Connected components (union-find): person -> its component's root."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
    return {x: find(x) for x in list(parent)}


# --------------------------------------------------------------------------- contract and determinism
def test_validates_cleanly_and_summary_matches(city):
    out, summary, ds, _ = city
    rep = ds.load_report.set_index("table")
    assert (rep.quarantined == 0).all(), ds.quarantine.head(20)
    for name in CONTRACT_TABLES:
        assert rep.loc[name, "accepted"] == summary["tables"][name] > 0, name
    # the realistic volume: about 10 settlements and 25 lines per person-year, most persons with few
    assert 8.0 <= summary["visits_per_person"] <= 12.5
    assert 19.0 <= summary["lines_per_person"] <= 31.0
    n_v = ds.tables["visits"].groupby("person_id").size().reindex(ds.tables["persons"].person_id, fill_value=0)
    assert n_v.median() < n_v.mean() and (n_v <= 3).mean() > 0.15 and n_v.quantile(0.99) > 4 * n_v.mean()


@pytest.mark.parametrize("persons,fmt", [(1000, "csv"), (10_000, "parquet")])
def test_other_sizes_validate_cleanly(tmp_path, persons, fmt):
    summary = generate(tmp_path, persons=persons, seed=5, fmt=fmt, config=TRACES)
    assert all((tmp_path / f"{t}.{fmt}").is_file() for t in CONTRACT_TABLES)
    ds = read_dataset(tmp_path, encode_images=False)
    rep = ds.load_report.set_index("table")
    assert rep.quarantined.sum() == 0, ds.quarantine.head(20)
    assert rep.loc["persons", "accepted"] == persons
    assert rep.loc["visits", "accepted"] == summary["tables"]["visits"]
    assert set(summary["rings"]) | set(summary["lone_actors"]) == set(FRAUD_SCHEMES)


def test_deterministic_for_a_seed_and_different_across_seeds(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, persons=1000, seed=3, config=TRACES)
    generate(b, persons=1000, seed=3, config=TRACES)
    generate(c, persons=1000, seed=4, config=TRACES)
    files = sorted(p.relative_to(a) for p in a.rglob("*.csv"))
    assert len(files) == len(CONTRACT_TABLES) + 3 + len(OPTIONAL_TRUTH_FILES)
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
    assert set(rings.scheme) == RING_SCHEMES
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
              "family_sharing_visits", "camera_outages", "bad_match_captures", "noisy_months",
              "trace_reversed_resold", "trace_split_packs", "trace_scanner_repeats", "households_star",
              "households_chain", "dual_bindings"):
        assert conf[k] > 0, k
    fraud = set(truth["entities"].entity_id)
    v = T["visits"]
    fl = T["family_links"]
    # family account sharing: the payer is in the card holder's household (connected by family
    # relations, whatever shape the bindings were registered in), not always directly linked
    shared = v[v.payer_person_id.notna()]
    fam = fl[fl.relation != "proxy"]
    comp = _components(list(zip(fam.person_id, fam.related_person_id)))
    assert len(shared) and all(a in comp and comp.get(a) == comp.get(b)
                               for a, b in zip(shared.person_id, shared.payer_person_id))
    pairs = set(zip(fl.person_id, fl.related_person_id)) | set(zip(fl.related_person_id, fl.person_id))
    assert sum((a, b) not in pairs for a, b in zip(shared.person_id, shared.payer_person_id)) > 0
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
    assert (tmp_path / "drug_traces.csv").exists()                     # on by default (drug_resale needs them)
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


# --------------------------------------------------------------------------- the original cities, kept
# md5 of the files the generator wrote before issues 12/13/15/19 for (1000 persons, seed 3), CSV:
# synth/legacy.yaml must reproduce them byte for byte (the team's before/after comparisons rely on it).
LEGACY_1000_SEED3 = {
    "catalog.csv": "cc0eb2dd1624794ffdbe8be1962088e1", "claim_lines.csv": "878f03b165e80d37b8980af1157d285a",
    "face_captures.csv": "3502c7c0920cc505dbbce6a5f35e1f88", "face_enrollments.csv": "76b753370777ba012c072932d463dfb3",
    "family_links.csv": "e1065bbd44d4a2e61bbe78d152c9cb74", "institutions.csv": "e04c00bd9acdb3a49c25f8bf5a297c1e",
    "inventory.csv": "27bba5d797d76b48681e23161a712a8a", "known_cases.csv": "8bfee6c0063a8c739fcec82556b47ef5",
    "persons.csv": "22866a5315e0e0462bd25926ddf60228", "physicians.csv": "d95b350ee66f8f30a177addda02881a0",
    "truth/entities.csv": "46daa27cc9b82db5b3aabce73f007642", "truth/rings.csv": "fb12c419bc1f6ca494e28dde8d1dbdd6",
    "truth/violations.csv": "c7ad6e7f27a0fec4ed52ddc39f5b69e4", "visits.csv": "f622887446bdd4b5c86b260779a5bb97",
}


def test_legacy_config_reproduces_the_original_city_byte_for_byte(tmp_path):
    generate(tmp_path, persons=1000, seed=3, config=LEGACY_PATH)
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.csv"))
    assert files == sorted(LEGACY_1000_SEED3)
    for f, digest in LEGACY_1000_SEED3.items():
        assert hashlib.md5((tmp_path / f).read_bytes(), usedforsecurity=False).hexdigest() == digest, f


def test_new_features_leave_the_original_city_in_place(tmp_path):
    """``volume: legacy`` alone: the original city plus drift, traces, resale rings and household shapes,
    each from a stream of its own -- the same persons, institutions, rings and truth of the old schemes."""
    old, new = tmp_path / "old", tmp_path / "new"
    generate(old, persons=1000, seed=3, config=LEGACY_PATH)
    generate(new, persons=1000, seed=3, config={"volume": "legacy", **TRACES})
    for f in ("persons.csv", "institutions.csv", "physicians.csv", "catalog.csv", "face_enrollments.csv"):
        assert filecmp.cmp(old / f, new / f, shallow=False), f
    to, tn = _truth(old), _truth(new)
    rn = tn["rings"][tn["rings"].scheme != "drug_resale"].reset_index(drop=True)
    pd.testing.assert_frame_equal(to["rings"], rn)
    en = tn["entities"][tn["entities"].scheme != "drug_resale"].reset_index(drop=True)
    pd.testing.assert_frame_equal(to["entities"].reset_index(drop=True), en)
    ko = pd.read_csv(old / "known_cases.csv", dtype=str)
    kn = pd.read_csv(new / "known_cases.csv", dtype=str)
    pd.testing.assert_frame_equal(ko, kn.iloc[:len(ko)])
    assert set(kn.scheme.iloc[len(ko):]) <= {"drug_resale"}
    # every original settlement is still there (ids renumbered), the new ones are added
    key = ["person_id", "institution_id", "visit_type", "start_time"]
    vo = pd.read_csv(old / "visits.csv", dtype=str)[key]
    vn = pd.read_csv(new / "visits.csv", dtype=str)[key]
    assert len(vo.merge(vn, on=key)) == len(vo) and len(vn) > len(vo)
    # the old schemes' fraudulent settlements are the same settlements
    def scheme_visits(root: Path, v: pd.DataFrame) -> pd.DataFrame:
        viol = _truth(root)["violations"]
        vv = pd.read_csv(root / "visits.csv", dtype=str)
        w = viol[(viol.line_id == "") & (viol.scheme_or_rule != "drug_resale")]
        return vv[vv.visit_id.isin(w.visit_id)][key].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(scheme_visits(old, vo), scheme_visits(new, vn))
    assert (new / "drug_traces.csv").is_file() and (new / "truth" / "drift.csv").is_file()


# --------------------------------------------------------------------------- a city in shards
@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    cfg = {"generation": {"shard_persons": 1500}, **TRACES}
    csv = tmp_path_factory.mktemp("sharded") / "csv"
    s_csv = generate(csv, persons=4000, seed=5, config=cfg, fmt="csv")
    pq_ = tmp_path_factory.mktemp("sharded") / "parquet"
    s_pq = generate(pq_, persons=4000, seed=5, config=cfg, fmt="parquet")
    return csv, s_csv, pq_, s_pq


def test_a_sharded_city_is_written_shard_by_shard_and_validates(sharded):
    csv, s_csv, pq_, s_pq = sharded
    assert s_csv["shards"] == s_pq["shards"] == 3 and s_csv["tables"] == s_pq["tables"]
    # CSV: one file per table, the shards appended; the contract reader accepts every row
    ds = read_dataset(csv, encode_images=False)
    rep = ds.load_report.set_index("table")
    assert (rep.quarantined == 0).all(), ds.quarantine.head(20)
    for name in CONTRACT_TABLES:
        assert rep.loc[name, "accepted"] == s_csv["tables"][name] > 0, name
    # Parquet: a directory per table (Spark/Hive layout), one part per shard for the per-person tables
    for name in ("visits", "claim_lines", "face_captures", "drug_traces", "persons", "face_enrollments"):
        parts = sorted(p.name for p in (pq_ / f"{name}.parquet").iterdir())
        assert parts == [f"part-{i:05d}.parquet" for i in range(3)], (name, parts)
    for name in ("institutions", "physicians", "catalog", "inventory", "family_links", "known_cases"):
        assert [p.name for p in (pq_ / f"{name}.parquet").iterdir()] == ["part-00000.parquet"]
    assert not list(pq_.glob(".*"))                       # no temporary files left
    t = {n: pd.read_parquet(pq_ / f"{n}.parquet") for n in ("visits", "claim_lines", "persons", "drug_traces",
                                                              "face_captures")}
    for n, k in (("visits", "visit_id"), ("claim_lines", "line_id"), ("persons", "person_id"),
                 ("face_captures", "capture_id")):
        assert t[n][k].is_unique and len(t[n]) == s_pq["tables"][n], n
    assert t["claim_lines"].visit_id.isin(t["visits"].visit_id).all()
    assert t["drug_traces"].line_id.isin(t["claim_lines"].line_id).all()
    assert t["visits"].person_id.isin(t["persons"].person_id).all()
    # the same city in both formats
    v_csv = ds.tables["visits"].sort_values("visit_id").reset_index(drop=True)
    assert (v_csv.visit_id.to_numpy() == t["visits"].sort_values("visit_id").visit_id.to_numpy()).all()
    truth = _truth(pq_)
    assert truth["violations"].visit_id.isin(t["visits"].visit_id).all()
    withline = truth["violations"][truth["violations"].line_id != ""]
    assert withline.line_id.isin(t["claim_lines"].line_id).all()
    assert set(truth["rings"].scheme) == RING_SCHEMES


def test_a_sharded_city_keeps_the_face_geometry(sharded):
    csv, *_ = sharded
    ds = read_dataset(csv, encode_images=False)
    cap = _capture_distances(ds)
    ward = cap[cap.location == "ward"]
    assert 0.25 < ward.distance.median() < 0.45 and (ward.distance < 0.6).mean() > 0.9
    enr = ds.tables["face_enrollments"]
    m = np.stack(enr.encoding.to_numpy()[:400])
    d = np.linalg.norm(m[:, None] - m[None], axis=2)[np.triu_indices(len(m), 1)]
    assert np.quantile(d, 0.01) > 0.7
    # a parent's face at the window for a child living in another shard is still the parent's
    p = ds.tables["persons"].set_index("person_id")
    bd = p.birth_date.reindex(cap.claimed_person_id).to_numpy(dtype="datetime64[ns]")
    age_days = (np.datetime64("2024-07-01") - bd).astype("timedelta64[D]").astype(np.int64)
    young = cap[(cap.location == "settlement").to_numpy() & (age_days < 10 * 365)]
    assert (young.distance > 0.6).mean() > 0.5


# --------------------------------------------------------------------------- rings that do not grow with the city
def _ring_shapes(root: Path) -> dict[str, tuple]:
    t = _truth(root)
    out = {}
    for rid, scheme, members in zip(t["rings"].ring_id, t["rings"].scheme, t["rings"].members):
        kinds = pd.Series([m.split(":")[0] for m in members.split(";")]).value_counts()
        out[rid] = (scheme, kinds.get("person", 0), kinds.get("physician", 0), kinds.get("institution", 0))
    lone = t["entities"][t["entities"].ring_id == ""]
    out["lone"] = tuple(sorted(lone.groupby("scheme").entity_id.nunique().items()))
    return out


def test_fixed_rings_are_the_same_rings_in_a_city_ten_times_larger(tmp_path):
    cfg = {"rings": {"mode": "fixed", "reference_persons": 1500}, "volume": "legacy",
           "drift": {"enabled": False}, "drug_traces": {"enabled": False},
           "schemes": {"card_lending": {"per_100k": 40}}}
    generate(tmp_path / "a", persons=1500, seed=8, config=cfg)
    generate(tmp_path / "b", persons=15000, seed=8, config=cfg)
    a, b = _ring_shapes(tmp_path / "a"), _ring_shapes(tmp_path / "b")
    assert sorted(a) == sorted(b) and a["lone"] == b["lone"]
    same = [r for r in a if r != "lone" and a[r] == b[r]]
    assert len(same) >= 0.8 * (len(a) - 1), (a, b)
    assert {a[r][0] for r in a if r != "lone"} == RING_SCHEMES
    # the scaled default plants more rings in the larger city
    generate(tmp_path / "c", persons=15000, seed=8, config={**cfg, "rings": {"mode": "scaled"}})
    assert len(_ring_shapes(tmp_path / "c")) > len(b)


# --------------------------------------------------------------------------- drift
def _monthly_indicators(ds) -> pd.DataFrame:
    """The early-warning indicators per (entity, month), from the tables alone: numerator ``num``,
    denominator ``den`` and ``value`` = num / den (visits per patient: a monthly ratio)."""
    T = ds.tables
    v = T["visits"].copy()
    v["month"] = v.start_time.dt.strftime("%Y-%m")
    l = T["claim_lines"].merge(v[["visit_id", "institution_id", "physician_id", "month"]], on="visit_id",
                               suffixes=("_line", ""))
    cat = T["catalog"].set_index("item_code")
    l["type"] = l.item_code.map(cat.item_type)
    code = l.item_code.astype(str)
    l["exam"] = (l.type == "service") & code.str.startswith(("0025", "003101", "003102", "003103", "003104"))
    l["hv"] = l.unit_price >= drift_mod.HIGH_VALUE_PRICE
    ip = v[v.visit_type == "inpatient"].sort_values(["person_id", "start_time"])
    ip["los"] = (ip.end_time - ip.start_time).dt.total_seconds() / 86400
    nxt = ip.groupby(["person_id", "institution_id"]).start_time.shift(-1)
    ip["readm"] = (nxt - ip.end_time).dt.days.between(0, 15).astype(float)
    rows = []
    for etype, col in (("institution", "institution_id"), ("physician", "physician_id")):
        k = [col, "month"]
        g, lg, ig = v.groupby(k), l.groupby(k), ip.groupby(k)
        amt = lg.amount.sum()
        parts = {
            "cost_per_visit": (g.total_amount.sum(), g.size()),
            "visits_per_patient": (g.size() / g.person_id.nunique(), g.size() * 0 + 1),
            "drug_share": (l[l.type == "drug"].groupby(k).amount.sum(), amt),
            "material_share": (l[l.type == "material"].groupby(k).amount.sum(), amt),
            "exam_share": (l[l.exam].groupby(k).amount.sum(), amt),
            "high_value_share": (l[l.hv].groupby(k).amount.sum(), amt),
            "fund_share": (g.fund_paid.sum(), g.total_amount.sum()),
            "admission_rate": (ig.size(), v[v.visit_type == "outpatient"].groupby(k).size()),
            "avg_los": (ig.los.sum(), ig.size()),
            "readmission_15d": (ig.readm.sum(), ig.size()),
        }
        for name, (num, den) in parts.items():
            f = pd.DataFrame({"num": num, "den": den}).fillna(0.0)
            f.index.names = ["entity_id", "month"]
            f = f.reset_index()
            f["indicator"], f["entity_type"] = name, etype
            rows.append(f)
    out = pd.concat(rows, ignore_index=True)
    out["value"] = out.num / out.den.where(out.den > 0)
    return out


def test_drifting_institutions_and_physicians_move_their_indicators(city):
    _, summary, ds, truth = city
    d = truth["drift"]
    assert list(d.columns) == OPTIONAL_TRUTH_FILES["drift"]
    assert set(d.indicator) <= set(drift_mod.INDICATORS) and d.first_period.str.match(r"^2024-(0[4-9]|10)$").all()
    assert summary["drift"]["institution"] >= 6 and summary["drift"]["physician"] >= 6
    ids = {"institution": set(ds.tables["institutions"].institution_id),
           "physician": set(ds.tables["physicians"].physician_id)}
    assert all(e in ids[t] for t, e in zip(d.entity_type, d.entity_id))
    ents = truth["entities"]
    fraud = set(zip(ents.entity_type, ents.entity_id))
    assert 1 <= sum((t, e) in fraud for t, e in set(zip(d.entity_type, d.entity_id))) <= 2   # a few fraud ones
    m = _monthly_indicators(ds)
    m = m.merge(d, on=["entity_type", "entity_id", "indicator"])
    m["after"] = m.month >= m.first_period
    # pooled over the months before and after the first period (a month of a small entity is noisy)
    pooled = m.groupby(["entity_type", "entity_id", "indicator", "after"])[["num", "den"]].sum()
    lift = (pooled.num / pooled.den.where(pooled.den > 0)).unstack("after").dropna()
    # (the fraud institutions that drift: their own scheme moves their indicators too -- left out here)
    honest = ~pd.Series(list(zip(lift.index.get_level_values(0), lift.index.get_level_values(1)))).isin(fraud).to_numpy()
    lift = lift[honest]
    before, after = lift[False], lift[True]
    share = lift.index.get_level_values("indicator").str.endswith(("_share", "_15d"))
    # 15 % up; a share may instead rise by 15 % of what it had left to grow (a drug share of 0.8 cannot double)
    moved = (after >= 1.15 * before) | (share & ((after - before) >= 0.15 * (1 - before)))
    assert len(lift) >= 0.7 * len(d)
    assert moved.mean() >= 0.85, lift.assign(moved=moved).sort_values("moved").head(10)


def test_noisy_months_and_seasons_are_not_drift(city):
    _, summary, ds, truth = city
    assert summary["confounders"]["noisy_months"] >= 2
    m = _monthly_indicators(ds)
    listed = set(zip(truth["drift"].entity_type, truth["drift"].entity_id))
    ex = m[(m.entity_type == "institution") & (m.indicator == "exam_share")]
    ex = ex[~ex.entity_id.isin({e for t, e in listed if t == "institution"})]
    w = ex.pivot_table(index="entity_id", columns="month", values="value").fillna(0)
    med = w.median(axis=1)
    spiky = w.gt(1.8 * med + 0.05, axis=0).sum(axis=1) == 1      # one month far above the entity's own level
    assert spiky.sum() >= 1                                        # a small clinic's screening month
    # winter moves every peer alike: most institutions see more visits in Jan than in Jul
    v = ds.tables["visits"]
    per = v.groupby([v.institution_id, v.start_time.dt.month]).size().unstack(fill_value=0)
    assert (per[1] > per[7]).mean() > 0.6


# --------------------------------------------------------------------------- drug traceability codes
def _traces(ds, truth) -> pd.DataFrame:
    T = ds.tables
    t = T["drug_traces"].merge(T["claim_lines"][["line_id", "visit_id", "item_code", "quantity"]], on="line_id")
    return t.merge(T["visits"][["visit_id", "institution_id", "terminal_id", "person_id", "visit_type"]], on="visit_id")


def test_every_dispensed_pack_has_a_code(city):
    _, _, ds, truth = city
    T = ds.tables
    t = _traces(ds, truth)
    assert t.trace_code.str.fullmatch(r"\d{20}").all()
    lines = T["claim_lines"].merge(T["visits"][["visit_id", "visit_type", "institution_id"]], on="visit_id")
    lines = lines[lines.item_code.map(T["catalog"].set_index("item_code").item_type) == "drug"]
    packs = np.ceil(lines.quantity - 1e-9).astype(int)
    out = lines[lines.visit_type != "inpatient"]
    per_line = t.groupby("line_id").size()
    scanned = out[out.line_id.isin(per_line.index)]
    assert (per_line.reindex(scanned.line_id).to_numpy() == packs[scanned.index].to_numpy()).all()
    assert len(scanned) > 0.85 * len(out)                           # a few clinics do not scan yet
    assert not t.line_id.isin(lines.line_id[lines.visit_type == "inpatient"]).any()
    # a code is a product (7 digits, one per item) + serial + check
    prod = t.groupby("item_code").trace_code.agg(lambda s: s.str[:7].nunique())
    assert (prod == 1).all() and t.groupby(t.trace_code.str[:7]).item_code.nunique().max() == 1


def test_a_code_on_two_settlements_is_resale_or_a_clean_look_alike(city):
    _, summary, ds, truth = city
    t = _traces(ds, truth)
    t["scan"] = pd.to_datetime(t.scan_time)
    viol = truth["violations"]
    resale_lines = set(viol.line_id[viol.scheme_or_rule == "drug_resale"])
    collecting = set(viol.visit_id[(viol.scheme_or_rule == "drug_resale") & (viol.line_id == "")])
    rep = t[t.trace_code.duplicated(keep=False)].sort_values(["trace_code", "scan", "reversed"])
    causes: dict[str, int] = {}
    for _, g in rep.groupby("trace_code"):
        g = g.reset_index(drop=True)
        for i in range(1, len(g)):
            a, b = g.iloc[i - 1], g.iloc[i]
            if b.line_id in resale_lines:
                # a resold pack: first bought by a collector, weeks earlier, elsewhere
                assert a.visit_id in collecting and (b.scan.normalize() - a.scan.normalize()).days >= 14, (a, b)
                assert a.institution_id != b.institution_id
                c = "resale"
            elif a.reversed:
                assert a.institution_id == b.institution_id and b.scan > a.scan   # refunded, sold again
                c = "reversed"
            elif a.line_id == b.line_id or (a.terminal_id == b.terminal_id
                                             and (b.scan - a.scan).total_seconds() <= 15 * 60):
                c = "scanner"
            else:
                assert a.quantity % 1 and b.quantity % 1 and a.institution_id == b.institution_id, (a, b)
                c = "split"
            causes[c] = causes.get(c, 0) + 1
    assert set(causes) == {"resale", "reversed", "scanner", "split"}, causes
    assert causes["resale"] > 20
    # the look-alikes are clean: none of their lines or settlements is in the truth
    clean = rep[~rep.line_id.isin(resale_lines) & ~rep.visit_id.isin(collecting)]
    assert len(clean) and not clean.line_id.isin(viol.line_id).any()
    assert not clean.visit_id.isin(viol.visit_id[viol.line_id == ""]).any()


def test_drug_resale_rings_and_their_books(city):
    _, _, ds, truth = city
    T = ds.tables
    rings = truth["rings"][truth["rings"].scheme == "drug_resale"]
    assert len(rings) >= 2
    inst = T["institutions"].set_index("institution_id")
    phys = T["physicians"].set_index("physician_id")
    viol = truth["violations"]
    resale_lines = T["claim_lines"][T["claim_lines"].line_id.isin(viol.line_id[viol.scheme_or_rule == "drug_resale"])]
    resale_lines = resale_lines.merge(T["visits"][["visit_id", "institution_id", "person_id", "physician_id"]],
                                      on="visit_id", suffixes=("_line", ""))
    collecting = T["visits"][T["visits"].visit_id.isin(viol.visit_id[(viol.scheme_or_rule == "drug_resale")
                                                                     & (viol.line_id == "")])]
    for members in rings.members:
        m = [x.split(":", 1) for x in members.split(";")]
        outlets = {e for t, e in m if t == "institution"}
        persons = {e for t, e in m if t == "person"}
        docs = {e for t, e in m if t == "physician"}
        assert outlets and set(inst.kind[list(outlets)]) <= {"pharmacy", "clinic"} and len(persons) >= 2
        # collectors go round many prescribers at many institutions
        mine = collecting[collecting.person_id.isin(persons) | collecting.visit_id.isin([])]
        assert mine.institution_id.nunique() >= 2
        # members who are physicians are the outlets' settling staff or knowing prescribers of the collectors
        for d in docs:
            assert phys.institution_id[d] in outlets or d in set(collecting.physician_id), d
        # the outlets re-settle on other credentials: their customers are not members
        sold = resale_lines[resale_lines.institution_id.isin(outlets)]
        assert len(sold) and not sold.person_id.isin(persons).any()
    # books: outlets sell resale drugs they never bought; honest institutions never sell what they did not have
    inv = T["inventory"]
    ll = T["claim_lines"].merge(T["visits"][["visit_id", "institution_id"]], on="visit_id")
    sold = ll.groupby(["institution_id", "item_code"]).quantity.sum()
    bought = inv.groupby(["institution_id", "item_code"]).qty_purchased.sum()
    first = inv[inv.period == inv.period.min()].set_index(["institution_id", "item_code"]).qty_opening
    supply = bought.add(first, fill_value=0)
    short = (sold - supply.reindex(sold.index, fill_value=0))
    drugs = set(T["catalog"].item_code[T["catalog"].item_type == "drug"])
    nonhosp = set(inst.index[inst.kind != "hospital"])
    short = short[short.index.get_level_values(0).isin(nonhosp) & short.index.get_level_values(1).isin(drugs)]
    over = set(short.index.get_level_values(0)[short.to_numpy() > 1e-6])
    all_outlets = {x.split(":", 1)[1] for ms in rings.members for x in ms.split(";") if x.startswith("institution:")}
    fraud = set(truth["entities"].entity_id)
    assert over <= fraud and all_outlets & over


# --------------------------------------------------------------------------- households
def test_households_are_stars_or_chains_and_some_pairs_are_bound_twice(city):
    _, summary, ds, _ = city
    fl = ds.tables["family_links"]
    assert not fl.duplicated(["person_id", "related_person_id", "relation"]).any()
    two = fl.groupby(["person_id", "related_person_id"]).relation.agg(frozenset)
    assert (two == frozenset({"proxy", "child"})).sum() >= 1
    # a couple's children linked to one parent only (star or chain), and to both (pairwise)
    sp = fl[fl.relation == "spouse"]
    ch = fl[fl.relation == "child"]
    parents_of = ch.groupby("related_person_id").person_id.agg(set)
    couple_of = {**dict(zip(sp.person_id, zip(sp.person_id, sp.related_person_id))),
                 **dict(zip(sp.related_person_id, zip(sp.person_id, sp.related_person_id)))}
    one = sum(len(ps) == 1 and next(iter(ps)) in couple_of for ps in parents_of)
    both = sum(len(ps) == 2 for ps in parents_of)
    assert one > 50 and both > 50
    assert summary["confounders"]["households_star"] > 0 and summary["confounders"]["households_chain"] > 0


# --------------------------------------------------------------------------- progress
def test_progress_on_stderr_and_quiet(tmp_path, capsys):
    from ringscope.cli import main

    try:
        assert main(["generate", str(tmp_path / "a"), "--persons", "300", "--seed", "1"]) == 0
        err = capsys.readouterr().err
        assert "[generate]" in err and "rows" in err
        assert main(["generate", str(tmp_path / "b"), "--persons", "300", "--seed", "1", "--quiet",
                     "--config", str(LEGACY_PATH)]) == 0
        out = capsys.readouterr()
        assert out.err == "" and '"volume": "legacy"' in out.out
    finally:
        progress.configure()
