"""Drug traceability codes: the definite rules (R-MGT-016/017/018), a test per confounder that
must stay clean, the drug_resale detector and the fold of doctor shopping into resale leads.

A small city is written as contract CSV files and read by the real reader, so the detectors
see exactly what a real run gives them (dtypes, defaults, quarantine). Its pieces:

- background: 400 customers buying one pack each at four pharmacies (the scanning volume);
- a resale ring: three collectors (one of them also on a borrowed card) collect D9 from a
  prescriber who feeds them, and from a hospital doctor who sees many genuine D9 patients;
  every collected pack is settled again at outlet P3 (pharmacist PH3) to its customers;
- a lone collector whose packs reappear at one pharmacy only (P4): one source is not an outlet;
- confounders: a refunded sale sold again, a scanner repeating a code within minutes, a pack
  split over two settlements (and one opened box sold on with a new one: 1.5 boxes on two codes,
  twice), a chronic patient refilling D9 from two prescribers.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ringscope.ingest.reader import read_dataset
from ringscope.models.base import Context, Group
from ringscope.models.rules import run_rules

TRACE_RULES = ["R-MGT-016", "R-MGT-017", "R-MGT-018"]
T0 = pd.Timestamp("2025-07-01 09:00")


class City:
    def __init__(self) -> None:
        self.visits: list[dict] = []
        self.lines: list[dict] = []
        self.traces: list[dict] = []
        self.n = 0
        self.code_n = 0

    def code(self) -> str:
        self.code_n += 1
        return f"8{self.code_n:019d}"

    def sale(self, person: str, inst: str, when: pd.Timestamp, codes: list[str], *, item: str = "D9",
             qty: float | None = None, price: float = 100.0, physician: str = "", terminal: str = "",
             scan: list[pd.Timestamp | None] | None = None, reversed_: bool = False, visit_type: str = "pharmacy") -> str:
        self.n += 1
        v, line = f"V{self.n:05d}", f"L{self.n:05d}"
        q = float(len(codes)) if qty is None else qty
        self.visits.append({"visit_id": v, "person_id": person, "institution_id": inst, "physician_id": physician,
                            "visit_type": visit_type, "start_time": when.isoformat(), "total_amount": q * price,
                            "terminal_id": terminal})
        self.lines.append({"line_id": line, "visit_id": v, "item_code": item, "quantity": q, "unit_price": price,
                           "amount": q * price, "days_supply": 30})
        for k, c in enumerate(codes):
            st = (scan[k] if scan else when)
            self.traces.append({"line_id": line, "trace_code": c, "scan_time": "" if st is None else st.isoformat(),
                                "reversed": "true" if reversed_ else "false"})
        return line

    def write(self, d: Path, inventory: list[dict] | None = None) -> Path:
        d.mkdir(parents=True, exist_ok=True)
        insts = [("H1", "hospital"), ("C1", "clinic"), ("P1", "pharmacy"), ("P2", "pharmacy"), ("P3", "pharmacy"),
                 ("P4", "pharmacy"), ("P5", "pharmacy"), ("P6", "pharmacy")]
        pd.DataFrame({"institution_id": [i for i, _ in insts], "kind": [k for _, k in insts]}).to_csv(
            d / "institutions.csv", index=False)
        docs = [("DX", "C1"), ("DH", "H1"), ("DH2", "H1"), ("DC", "C1"), ("PH3", "P3"), ("PH1", "P1")]
        pd.DataFrame({"physician_id": [p for p, _ in docs], "institution_id": [i for _, i in docs]}).to_csv(
            d / "physicians.csv", index=False)
        persons = sorted({v["person_id"] for v in self.visits})
        pd.DataFrame({"person_id": persons, "sex": "F", "birth_date": "1960-01-01"}).to_csv(d / "persons.csv", index=False)
        pd.DataFrame({"item_code": ["D9", "D1", "D2"], "name": ["semaglutide pen", "aspirin", "ibuprofen"],
                      "item_type": "drug"}).to_csv(d / "catalog.csv", index=False)
        pd.DataFrame(self.visits).to_csv(d / "visits.csv", index=False)
        pd.DataFrame(self.lines).to_csv(d / "claim_lines.csv", index=False)
        pd.DataFrame(self.traces).to_csv(d / "drug_traces.csv", index=False)
        if inventory:
            pd.DataFrame(inventory).to_csv(d / "inventory.csv", index=False)
        return d


def build(tmp: Path) -> tuple[Path, dict]:
    c = City()
    day = pd.Timedelta(days=1)
    info: dict = {"resale_lines": [], "clean_lines": []}
    # background customers: one pack each at four pharmacies, and genuine D9 patients of DH at H1
    for i in range(400):
        inst = f"P{1 + i % 4}" if i % 4 != 2 else "P5"
        info["clean_lines"].append(c.sale(f"B{i:03d}", inst, T0 + i * day / 20, [c.code()], item="D1", price=10.0))
    for i in range(12):
        info["clean_lines"].append(c.sale(f"G{i:03d}", "H1", T0 + i * day, [c.code()], physician="DH",
                                          visit_type="outpatient"))
    # the ring: collectors K1..K3 (K3 also on L1's borrowed card) collect D9 from DX (feeds them)
    # and from DH; every pack reappears at P3, settled by PH3 to customers S..
    collected: list[tuple[str, str]] = []
    for k, who in enumerate(["K1", "K2", "K3", "L1"]):
        for j in range(4):
            doc, inst = ("DX", "C1") if j < 3 else ("DH", "H1")
            codes = [c.code(), c.code()]
            c.sale(who, inst, T0 + (10 * k + 2 * j) * day, codes, physician=doc, visit_type="outpatient")
            collected += [(x, who) for x in codes]
    for m, (code, _) in enumerate(collected):
        info["resale_lines"].append(c.sale(f"S{m:03d}", "P3", T0 + (45 + m / 2) * day, [code], physician="PH3"))
    # a lone collector whose packs reappear at P4 only: one source is not an outlet
    lone = [c.code() for _ in range(6)]
    c.sale("LONE", "C1", T0 + 5 * day, lone, physician="DC", visit_type="outpatient")
    for m, code in enumerate(lone):
        info["resale_lines"].append(c.sale(f"Q{m:03d}", "P4", T0 + (20 + m) * day, [code]))
    info["lone_codes"] = lone
    # confounder: a refunded sale, the pack sold again at the same pharmacy
    x = c.code()
    info["clean_lines"].append(c.sale("R1", "P1", T0 + 3 * day, [x], item="D1", price=10.0, reversed_=True))
    info["clean_lines"].append(c.sale("R2", "P1", T0 + 4 * day, [x], item="D1", price=10.0))
    # confounder: the scanner repeats the previous code three minutes later at the same counter
    y = c.code()
    info["clean_lines"].append(c.sale("C1P", "P2", T0 + 6 * day, [y], item="D1", price=10.0, terminal="T2"))
    info["clean_lines"].append(c.sale("C2P", "P2", T0 + 6 * day + pd.Timedelta(minutes=3), [y], item="D1",
                                      price=10.0, terminal="T2"))
    # confounder: half a box on two visits of the same patient at the clinic (拆零)
    z = c.code()
    info["clean_lines"].append(c.sale("SP", "C1", T0 + 8 * day, [z], item="D2", qty=0.5, price=20.0,
                                      physician="DC", visit_type="outpatient"))
    info["clean_lines"].append(c.sale("SP", "C1", T0 + 14 * day, [z], item="D2", qty=0.5, price=20.0,
                                      physician="DC", visit_type="outpatient"))
    # confounder: 1.5 boxes on two codes to one customer, the other half of the opened box with a
    # new box (1.5 on two codes) to the next: the shared code is the split box, not a repeat
    w1, w2, w3 = c.code(), c.code(), c.code()
    info["clean_lines"].append(c.sale("MX1", "P2", T0 + 9 * day, [w1, w2], item="D1", qty=1.5, price=15.0))
    info["clean_lines"].append(c.sale("MX2", "P2", T0 + 9 * day + pd.Timedelta(hours=3), [w2, w3], item="D1",
                                      qty=1.5, price=15.0))
    # confounder: a chronic patient refilling D9 monthly, alternately from two prescribers
    for mth in range(8):
        doc, inst = (("DH2", "H1") if mth % 2 else ("DC", "C1"))
        info["clean_lines"].append(c.sale("CHR", inst, T0 + 30 * mth * day, [c.code()], physician=doc,
                                          visit_type="outpatient"))
    info["codes"] = {"reversal": x, "scanner": y, "split": z, "mixed_split": w2}
    info["city"] = c
    return c.write(tmp / "city"), info


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    d, info = build(tmp_path_factory.mktemp("traces"))
    ds = read_dataset(d)
    assert ds.load_report["quarantined"].sum() == 0
    return ds, info


def _ctx(ds) -> Context:
    return Context(tables=dict(ds.tables))


def test_code_settled_twice_hits_every_resold_line_and_no_confounder(city):
    ds, info = city
    hits = run_rules(_ctx(ds), only=TRACE_RULES)
    h = hits[hits["rule_id"] == "R-MGT-016"]
    assert set(h["line_id"]) == set(info["resale_lines"])
    assert not set(h["line_id"]) & set(info["clean_lines"])
    assert set(h["rule_class"]) == {"definite"} and set(h["violation_class"]) == {"drug_resale"}
    assert set(h["entity_id"]) == {"P3", "P4"} and set(h["entity_type"]) == {"institution"}
    # a pack's amount at most once, never above what its line billed
    lines = ds.tables["claim_lines"].set_index("line_id")["amount"]
    per_line = h.groupby("line_id")["amount_at_risk"].sum()
    assert (per_line <= lines.reindex(per_line.index) + 1e-9).all()
    assert h["amount_at_risk"].sum() == pytest.approx(100.0 * len(info["resale_lines"]))
    assert h["line_id"].is_unique


@pytest.mark.parametrize("confounder", ["reversal", "scanner", "split", "mixed_split"])
def test_trace_confounders_stay_clean(city, confounder):
    """Each confounder's code is seen twice, and no trace rule hits either of its settlements."""
    ds, info = city
    code = info["codes"][confounder]
    tr = ds.tables["drug_traces"]
    lines = set(tr.loc[tr["trace_code"] == code, "line_id"])
    assert len(lines) == 2
    hits = run_rules(_ctx(ds), only=TRACE_RULES)
    assert not set(hits["line_id"]) & lines


def test_the_confounders_turn_into_hits_beyond_their_bounds(tmp_path):
    """The exclusions are bounded: the scanner's repeat an hour later, a third half box and a
    sale after one that was not refunded are hits."""
    c = City()
    y, z, x = c.code(), c.code(), c.code()
    c.sale("A", "P2", T0, [y], terminal="T2")
    late = c.sale("B", "P2", T0 + pd.Timedelta(minutes=60), [y], terminal="T2")
    c.sale("SP", "C1", T0, [z], qty=0.5)
    c.sale("SP", "C1", T0 + pd.Timedelta(days=3), [z], qty=0.5)
    third = c.sale("SP", "C1", T0 + pd.Timedelta(days=6), [z], qty=0.5)
    c.sale("R1", "P1", T0, [x])
    again = c.sale("R2", "P1", T0 + pd.Timedelta(days=1), [x])
    # a line of 1.5 boxes on two codes, then two whole boxes on one of them: that box was sold twice
    w1, w2, w3 = c.code(), c.code(), c.code()
    c.sale("MX1", "P2", T0 + pd.Timedelta(days=2), [w1, w2], qty=1.5)
    whole = c.sale("MX2", "P2", T0 + pd.Timedelta(days=3), [w2, w3], qty=2.0)
    ds = read_dataset(c.write(tmp_path / "c"))
    hits = run_rules(_ctx(ds), only=["R-MGT-016"])
    assert set(hits["line_id"]) == {late, third, again, whole}
    assert hits.set_index("line_id").at[third, "amount_at_risk"] == pytest.approx(50.0)
    # ... and the scanner window is a parameter
    wide = run_rules(_ctx(ds), config={"R-MGT-016": {"scanner_minutes": 90}}, only=["R-MGT-016"])
    assert set(wide["line_id"]) == {third, again, whole}


def test_a_pack_sold_by_an_institution_that_never_bought_the_drug(city, tmp_path):
    ds, info = city
    c: City = info["city"]
    inv = []
    for inst in ("H1", "C1", "P1", "P2", "P5"):          # honest books: D9, D1, D2 bought each month
        for m in range(7, 13):
            for item in ("D9", "D1", "D2"):
                inv.append({"institution_id": inst, "item_code": item, "period": f"2025-{m:02d}",
                            "qty_purchased": 50, "qty_opening": 10})
    for m in range(7, 13):                                # P3 keeps a book but never bought D9
        inv.append({"institution_id": "P3", "item_code": "D1", "period": f"2025-{m:02d}", "qty_purchased": 5,
                    "qty_opening": 2})
        # P4 bought D9 only from November on (opening stock zero before); D1 every month
        inv.append({"institution_id": "P4", "item_code": "D9", "period": f"2025-{m:02d}",
                    "qty_purchased": 20 if m >= 11 else 0, "qty_opening": 0})
        inv.append({"institution_id": "P4", "item_code": "D1", "period": f"2025-{m:02d}", "qty_purchased": 50,
                    "qty_opening": 10})
    d = c.write(tmp_path / "city", inventory=inv)
    ds2 = read_dataset(d)
    hits = run_rules(_ctx(ds2), only=TRACE_RULES)
    never = hits[hits["rule_id"] == "R-MGT-017"]
    later = hits[hits["rule_id"] == "R-MGT-018"]
    p3 = {ln for ln in info["resale_lines"] if ln in set(ds2.tables["drug_traces"]["line_id"])}
    assert set(never["entity_id"]) == {"P3"} and set(never["line_id"]) <= p3 and len(never) == 32
    assert set(later["entity_id"]) == {"P4"} and len(later) == 6
    assert not (set(never["line_id"]) | set(later["line_id"])) & set(info["clean_lines"])
    assert set(hits["rule_class"]) == {"definite"}
    # those packs were already counted as settled twice: their amount is not counted again
    assert never["amount_at_risk"].sum() == 0 and later["amount_at_risk"].sum() == 0
    assert never["evidence"].str.contains("counted under R-MGT-016").all()
    # without R-MGT-016's count the family would count them here, once
    solo = run_rules(_ctx(ds2), only=["R-MGT-017"])
    assert solo["amount_at_risk"].sum() == 0          # the count is by pack, not by the rules that run


def test_books_without_opening_stock_are_judged_after_the_grace_months(tmp_path):
    c = City()
    first = c.sale("A", "P1", pd.Timestamp("2025-07-03 10:00"), [c.code()])
    late = c.sale("B", "P1", pd.Timestamp("2025-11-03 10:00"), [c.code()])
    inv = [{"institution_id": "P1", "item_code": "D1", "period": f"2025-{m:02d}", "qty_purchased": 5}
           for m in range(7, 13)]
    ds = read_dataset(c.write(tmp_path / "c", inventory=inv))
    hits = run_rules(_ctx(ds), only=["R-MGT-017"])
    assert set(hits["line_id"]) == {late}                # July may be stock bought before the book began
    assert hits["amount_at_risk"].sum() == pytest.approx(100.0)
    none = run_rules(_ctx(ds), config={"R-MGT-017": {"grace_months": 6}}, only=["R-MGT-017"])
    assert none.empty and first


def test_drug_resale_finds_the_ring_and_only_its_implicated_parties(city):
    from ringscope.models.detectors.drug_resale import DrugResaleDetector

    ds, info = city
    det = DrugResaleDetector(max_chains=5).fit(_ctx(ds))
    assert len(det.groups_) == 1
    g = det.groups_[0]
    assert g.scheme == "drug_resale" and g.score >= 0.5
    # collectors (the borrowed card's owner included), the outlet, its pharmacist, the feeding prescriber;
    # not the customers, not the hospital doctor who also prescribes to genuine patients, not the lone collector
    assert sorted(g.members) == ["institution:P3", "person:K1", "person:K2", "person:K3", "person:L1",
                                 "physician:DX", "physician:PH3"]
    assert g.amount_at_risk == pytest.approx(32 * 100.0)
    ev = g.evidence
    assert ev["n_packs"] == 32 and len(ev["chains"]) == 5
    chain = ev["chains"][0]
    assert [s["seq"] for s in chain["steps"]] == [1, 2]
    assert [s["status"] for s in chain["steps"]] == ["first", "repeat"]
    assert chain["steps"][1]["institution_id"] == "P3"
    dh = next(p for p in ev["prescribers"] if p["physician_id"] == "DH")
    assert not dh["feeds_knowingly"] and dh["item_share"] < 0.5
    # the chronic patient and the confounders' persons are nowhere
    scored = set(det.decision_scores_["entity_id"])
    assert not scored & {"CHR", "R1", "R2", "C1P", "C2P", "SP", "DH", "DH2"}


def test_one_source_does_not_make_an_outlet_but_is_scored(city):
    from ringscope.models.detectors.drug_resale import DrugResaleDetector

    ds, _ = city
    det = DrugResaleDetector().fit(_ctx(ds))
    o = det.outlets_.set_index("institution_id")
    assert not o.at["P4", "ok"] and o.at["P4", "sources"] == 1
    s = det.decision_scores_.set_index(["entity_type", "entity_id"])["score"]
    assert 0 < s[("person", "LONE")] < 0.5 and 0 < s[("institution", "P4")] < 0.5
    # with one source allowed, the lone collector and P4 are a ring of their own
    det1 = DrugResaleDetector(min_outlet_sources=1).fit(_ctx(ds))
    assert ["institution:P4", "person:LONE"] in [sorted(x.members) for x in det1.groups_]


def test_a_shopper_whose_packs_reappear_is_one_lead(city):
    """Fusion folds the doctor_shopping group of a collector into the resale lead; a shopper
    whose packs do not reappear keeps a lead of its own."""
    from ringscope.models.fusion import FusionConfig, build_leads, entity_universe

    ds, _ = city
    ring = Group("drug_resale", "drug_resale", ["person:K1", "person:K2", "institution:P3"], 0.5, 3200.0, "ring")
    shop = Group("doctor_shopping", "doctor_shopping", ["person:K1"], 0.85, 400.0, "K1 shops")
    other = Group("doctor_shopping", "doctor_shopping", ["person:CHR"], 0.6, 300.0, "CHR shops")
    scores = entity_universe(ds.tables).assign(score=0.0)
    leads, ev = build_leads([ring, shop, other], scores, ds.tables)
    assert sorted(leads["scheme"]) == ["doctor_shopping", "drug_resale"]
    r = leads[leads["scheme"] == "drug_resale"].iloc[0]
    assert r["detectors"] == "doctor_shopping,drug_resale" and r["members"] == "institution:P3;person:K1;person:K2"
    assert leads.loc[leads["scheme"] == "doctor_shopping", "members"].tolist() == ["person:CHR"]
    e = next(x for x in ev if x["scheme"] == "drug_resale")
    assert {g["detector"] for g in e["groups"]} == {"drug_resale", "doctor_shopping"}
    # the shopper's evidence strengthens the ring's lead: two detectors agree
    alone = build_leads([ring], scores, ds.tables)[0]
    assert r["score"] > alone["score"].iloc[0]
    # switched off, the shopper scoring well above the ring is a second lead of the same person
    off = build_leads([ring, shop, other], scores, ds.tables, config=FusionConfig(fold_schemes={}))[0]
    assert off["scheme"].value_counts().to_dict() == {"doctor_shopping": 2, "drug_resale": 1}


def test_an_outlet_without_collectors_is_a_lead_of_its_own(tmp_path):
    """Codes swiped again at one pharmacy (空刷): each came from a different buyer, none of them
    a collector; the pharmacy and its pharmacist are a group, the buyers are not."""
    from ringscope.models.detectors.drug_resale import DrugResaleDetector

    c = City()
    for i in range(300):
        c.sale(f"B{i:03d}", f"P{1 + i % 2}", T0 + pd.Timedelta(hours=i), [c.code()], item="D1", price=10.0)
    for i in range(8):
        code = c.code()
        c.sale(f"U{i}", "P1", T0 + pd.Timedelta(days=i), [code])
        c.sale(f"W{i}", "P3", T0 + pd.Timedelta(days=i + 20), [code], physician="PH3")
    ds = read_dataset(c.write(tmp_path / "c"))
    det = DrugResaleDetector(max_chains=3).fit(_ctx(ds))
    assert [sorted(g.members) for g in det.groups_] == [["institution:P3", "physician:PH3"]]
    g = det.groups_[0]
    assert g.amount_at_risk == pytest.approx(800.0) and len(g.evidence["chains"]) == 3
    assert not DrugResaleDetector(lone_outlets=False).fit(_ctx(ds)).groups_
