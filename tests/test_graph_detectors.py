"""Graph detectors on a small hand-built city: each planted ring is found with a
tight membership, and each planted confounder stays out of the top groups.

The city is built here from plain frames in the contract's in-memory shape
(``ringscope.ingest.contract``): background care for 800 persons over half a
year, then one structure per scheme and one confounder per scheme. No mocks:
the detectors run end to end on it (igraph/leidenalg, scipy).
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ringscope.graph import projection as proj
from ringscope.models.detectors.card_cashout import CardCashoutDetector
from ringscope.models.detectors.card_lending import CardLendingDetector
from ringscope.models.detectors.collusive_prescribing import CollusivePrescribingDetector
from ringscope.models.detectors.doctor_shopping import DoctorShoppingDetector
from ringscope.models.detectors.ghost_admission import GhostAdmissionDetector
from ringscope.models.detectors.guilt_by_association import GuiltByAssociationDetector
from ringscope.models.detectors.split_admission import SplitAdmissionDetector
from ringscope.models.registry import builtin

GRAPH_DETECTORS = {n: c for n, c in builtin().items() if c.kind == "graph"}
from ringscope.models.base import Context

T0 = pd.Timestamp("2024-01-01")
DAYS = 180


class CityBuilder:
    """Accumulates rows; ``context()`` returns a fresh Context."""

    def __init__(self, seed: int = 7, n_persons: int = 800):
        self.rng = np.random.default_rng(seed)
        self.inst = []
        self.phys = []
        self.visits = []
        self.lines = []
        self.caps = []
        self.family = []
        self.cases = []
        self.persons = pd.DataFrame({
            "person_id": [f"P{i:05d}" for i in range(n_persons)],
            "sex": self.rng.choice(["M", "F"], n_persons),
            "birth_date": T0 - pd.to_timedelta(self.rng.integers(20 * 365, 85 * 365, n_persons), unit="D"),
            "district": self.rng.choice(["D1", "D2", "D3"], n_persons),
            "chronic_conditions": [()] * n_persons,
        })
        for k, kind, n, term in [("H", "hospital", 4, True), ("C", "clinic", 6, False), ("M", "community", 4, True),
                                 ("R", "pharmacy", 12, False)]:
            for i in range(n):
                self.inst.append({"institution_id": f"{k}{i}", "kind": kind, "district": f"D{i % 3 + 1}",
                                  "has_face_terminal": term or (kind == "pharmacy" and i % 3 == 0)})
        for row in self.inst:
            n = {"hospital": 8, "clinic": 2, "community": 3, "pharmacy": 1}[row["kind"]]
            for j in range(n):
                self.phys.append({"physician_id": f"D{row['institution_id']}_{j}", "institution_id": row["institution_id"]})
        self.catalog = pd.DataFrame({
            "item_code": [f"X{i:03d}" for i in range(12)] + ["HV1", "HV2", "SV1"],
            "name": [f"Drug{i} {5 * (i + 1)}mg" for i in range(12)] + ["Costlymab 100mg", "Costlymab 200mg", "Bed day"],
            "item_type": ["drug"] * 14 + ["service"],
            "price_cap": [10.0 + 5 * i for i in range(12)] + [900.0, 1700.0, 80.0],
        })
        self._price = self.catalog.set_index("item_code")["price_cap"].to_dict()
        self._term = {r["institution_id"]: r["has_face_terminal"] for r in self.inst}
        self._docs = pd.DataFrame(self.phys).groupby("institution_id")["physician_id"].apply(list).to_dict()
        self._n_visit = 0
        self._n_cap = 0
        self._background()

    # ---------------------------------------------------------------- helpers
    def inst_ids(self, kind):
        return [r["institution_id"] for r in self.inst if r["kind"] == kind]

    def docs(self, inst):
        return self._docs[inst]

    def terminal(self, inst):
        return self._term[inst]

    def visit(self, person, inst, t, vtype="outpatient", doc=None, item=None, qty=1.0, days=None, dx=("J06",),
              end=None, face="self", ward=True, payer=None):
        """Add a visit (+ one claim line, + a settlement capture where there is a terminal).
        ``face``: "self" (the holder), None (no capture), or a face id presenting the credential."""
        vid = f"V{self._n_visit:07d}"
        self._n_visit += 1
        price = float(self._price[item]) if item else 0.0
        amt = round(qty * price, 2) if item else 50.0
        self.visits.append({"visit_id": vid, "person_id": person, "institution_id": inst, "physician_id": doc,
                            "visit_type": vtype, "start_time": t, "end_time": end, "diagnosis_codes": tuple(dx),
                            "total_amount": amt, "fund_paid": amt * 0.7, "payer_person_id": payer,
                            "terminal_id": f"{inst}-T1"})
        if item:
            self.lines.append({"line_id": f"L{len(self.lines):07d}", "visit_id": vid, "item_code": item,
                               "quantity": qty, "unit_price": price, "amount": amt, "days_supply": days})
        if self.terminal(inst) and face is not None:
            fid = f"F-{person}" if face == "self" else face
            verdict = "match" if face == "self" else ("related" if face.startswith("F-REL") else "mismatch")
            self.cap(inst, "settlement", t, vid, person, fid, verdict)
            if vtype == "inpatient" and ward and face == "self":
                for d in range(1, max(int(((end or t) - t).days), 1), 2):
                    self.cap(inst, "ward", t + pd.Timedelta(days=d, hours=3), None, person, fid, "match")
        return vid

    def cap(self, inst, loc, t, vid, person, fid, verdict):
        self.caps.append({"capture_id": f"C{self._n_cap:07d}", "institution_id": inst, "location": loc,
                          "capture_time": t, "visit_id": vid, "claimed_person_id": person, "distance": 0.3,
                          "related_person_id": None, "related_distance": np.nan, "verdict": verdict, "face_id": fid})
        self._n_cap += 1

    def rtime(self, n, hours=(8, 17)):
        d = self.rng.integers(0, DAYS, n)
        s = self.rng.integers(hours[0] * 3600, hours[1] * 3600, n)
        return [T0 + pd.Timedelta(days=int(a), seconds=int(b)) for a, b in zip(d, s)]

    def _background(self):
        rng = self.rng
        pids = self.persons["person_id"].tolist()
        hosp, clin, comm, pharm = (self.inst_ids(k) for k in ("hospital", "clinic", "community", "pharmacy"))
        for p, t in zip(rng.choice(pids, 2500), self.rtime(2500)):
            inst = rng.choice(hosp + clin + comm)
            doc = rng.choice(self.docs(inst))
            item = f"X{rng.integers(0, 12):03d}"
            dx = (str(rng.choice(["J06", "J20", "K29", "M54", "R51", "L30", "H10", "N39"])),)
            vid = self.visit(p, inst, t, doc=doc, item=item, qty=float(rng.integers(1, 4)), days=7, dx=dx)
            if rng.random() < 0.3:   # external prescription filled at a pharmacy a day later
                ph = rng.choice(pharm)
                self.visit(p, ph, t + pd.Timedelta(days=1, hours=1), "pharmacy", doc=doc, item=item, qty=1.0, days=7,
                           dx=dx)
        for p, t in zip(rng.choice(pids, 1500), self.rtime(1500, (8, 21))):   # OTC
            self.visit(p, rng.choice(pharm), t, "pharmacy", item=f"X{rng.integers(0, 12):03d}")
        for p, t in zip(rng.choice(pids, 120), self.rtime(120)):               # ordinary admissions
            los = int(rng.integers(3, 12))
            inst = rng.choice(hosp)
            self.visit(p, inst, t, "inpatient", doc=rng.choice(self.docs(inst)), item="SV1", qty=los,
                       dx=(rng.choice(["I10", "J18", "K35", "S72", "I63"]),), end=t + pd.Timedelta(days=los))

    def context(self, faces: bool = True) -> Context:
        v = pd.DataFrame(self.visits)
        v["start_time"] = pd.to_datetime(v["start_time"])
        v["end_time"] = pd.to_datetime(v["end_time"])
        tables = {
            "institutions": pd.DataFrame(self.inst), "physicians": pd.DataFrame(self.phys),
            "persons": self.persons, "catalog": self.catalog, "visits": v, "claim_lines": pd.DataFrame(self.lines),
        }
        if self.family:
            tables["family_links"] = pd.DataFrame(self.family, columns=["person_id", "related_person_id", "relation"])
        if self.cases:
            tables["known_cases"] = pd.DataFrame(self.cases)
        fm = None
        if faces and self.caps:
            fm = pd.DataFrame(self.caps)
            fm["capture_time"] = pd.to_datetime(fm["capture_time"])
            tables["face_captures"] = fm[["capture_id", "institution_id", "location", "capture_time", "visit_id",
                                          "claimed_person_id"]]
        return Context(tables=tables, face_matches=fm)


def members_of(g, kind):
    return {m.split(":", 1)[1] for m in g.members if m.startswith(kind + ":")}


def covers(groups, truth: set[str], top: int | None = None) -> bool:
    """The evaluation's criterion: a group holding >= half the ring with >= half purity."""
    for g in groups[:top]:
        ms = set(g.members)
        inter = len(ms & truth)
        if inter >= len(truth) / 2 and inter >= len(ms) / 2:
            return True
    return False


def check_contract(det, groups):
    s = det.decision_scores_
    assert list(s.columns[:3]) == ["entity_type", "entity_id", "score"]
    assert s["score"].between(0, 1).all()
    for g in groups:
        assert 0 <= g.score <= 1 and g.scheme == det.scheme or det.name == "guilt_by_association"
        assert g.summary and len(g.summary) < 500
        json.dumps(g.evidence, default=str)
        assert g.evidence["params"] == det.get_params() or "params" in g.evidence


# ------------------------------------------------------------------ card lending
def _plant_card_lending(b: CityBuilder):
    cards = [f"P{i:05d}" for i in range(10, 19)]
    org = "P00005"
    clinic = "M1"  # community institution with a terminal
    for k, t in enumerate(b.rtime(40)):
        b.visit(cards[k % len(cards)], clinic, t, doc=b.docs(clinic)[0], item="X003", face=f"F-{org}")
    # confounder: a mother presenting her two children's and a registered proxy's credentials (related)
    mom, kids = "P00300", ["P00301", "P00302", "P00303"]
    b.family += [(k, mom, "proxy") for k in kids]
    for k, t in enumerate(b.rtime(15)):
        b.visit(kids[k % 3], "H1", t, doc=b.docs("H1")[1], item="X001", face="F-REL-mom")
    # confounder: a carer presenting two unrelated elderly neighbours a few times
    for k, t in enumerate(b.rtime(4)):
        b.visit(["P00400", "P00401"][k % 2], "M2", t, doc=b.docs("M2")[0], item="X002", face="F-P00402")
    return {f"person:{c}" for c in cards} | {f"person:{org}", f"institution:{clinic}"}


def test_card_lending_faces_finds_ring_not_family():
    b = CityBuilder(seed=1)
    truth = _plant_card_lending(b)
    ctx = b.context()
    det = CardLendingDetector().fit(ctx)
    check_contract(det, det.groups_)
    assert covers(det.groups_, truth, top=1)
    top = det.groups_[0]
    assert members_of(top, "institution") == {"M1"}
    assert "P00005" in members_of(top, "person") and top.score > 0.8
    flagged = {m for g in det.groups_ for m in g.members}
    assert not flagged & {"person:P00301", "person:P00302", "person:P00303", "person:P00400"}


#: every group source as a lead (the default keeps faces and history only; models/defaults.yaml)
ALL_SOURCES = ("faces", "history", "co-timing", "cohort")


def test_card_lending_without_faces_uses_cotiming():
    b = CityBuilder(seed=2)
    cards = [f"P{i:05d}" for i in range(20, 28)]
    base = b.rtime(6)
    for t in base:       # the organiser brings all cards to a clinic without terminal, one after another
        for k, c in enumerate(cards):
            if b.rng.random() < 0.85:
                b.visit(c, "C2", t + pd.Timedelta(minutes=3 * k), doc=b.docs("C2")[0], item="X004")
    # confounder: a couple who always visit together (registered family)
    b.family += [("P00500", "P00501", "spouse")]
    for t in b.rtime(6):
        b.visit("P00500", "C3", t, doc=b.docs("C3")[0], item="X001")
        b.visit("P00501", "C3", t + pd.Timedelta(minutes=5), doc=b.docs("C3")[0], item="X001")
    ctx = b.context(faces=False)
    det = CardLendingDetector(lead_sources=ALL_SOURCES).fit(ctx)
    check_contract(det, det.groups_)
    truth = {f"person:{c}" for c in cards} | {"institution:C2"}
    assert covers(det.groups_, truth, top=1)
    assert det.groups_[0].evidence["source"] == "co-timing"
    assert not any({"person:P00500", "person:P00501"} <= g.member_set() for g in det.groups_)
    # by default a co-timing group is no lead (none was a real ring on seven cities): its members are scored
    d0 = CardLendingDetector().fit(ctx)
    assert not any(g.evidence.get("source") == "co-timing" for g in d0.groups_)
    sc = d0.decision_scores_
    scored = set("person:" + sc.loc[(sc["entity_type"] == "person") & (sc["score"] > 0), "entity_id"].astype(str))
    assert {m for m in det.groups_[0].members if m.startswith("person:")} <= scored


def test_refill_morning_crowd_is_not_cotimed_lending():
    """A village clinic's monthly chronic-disease morning: the same 60 regulars come on the same
    morning every month, so any two of them often share a half hour -- by chance, in the crowd, not
    on every day they share. No co-timing ring; a real sitting of lent cards on top is still found."""
    b = CityBuilder(seed=21)
    regulars = [f"P{i:05d}" for i in range(300, 360)]
    for m in range(12):
        day = T0 + pd.Timedelta(days=30 * m + 3, hours=8)
        for p in regulars:
            b.visit(p, "C2", day + pd.Timedelta(seconds=int(b.rng.integers(0, 3 * 3600))), doc=b.docs("C2")[0],
                    item="X001", dx=("I10",), face=None)
    cards = [f"P{i:05d}" for i in range(400, 406)]
    for t in b.rtime(6):
        for k, c in enumerate(cards):
            b.visit(c, "C2", t + pd.Timedelta(minutes=2 * k), doc=b.docs("C2")[0], item="X004", face=None)
    ctx = b.context(faces=False)
    det = CardLendingDetector(lead_sources=ALL_SOURCES).fit(ctx)
    cot = [g for g in det.groups_ if g.evidence.get("source") == "co-timing"]
    assert not any(len(g.member_set() & {f"person:{p}" for p in regulars}) >= 4 for g in cot)
    assert covers(cot, {f"person:{c}" for c in cards})


def test_card_lending_cohort_without_faces():
    """Lent cards used independently over the same months at one pharmacy without terminal."""
    b = CityBuilder(seed=12)
    cards = [f"P{i:05d}" for i in range(30, 42)]
    lo, hi = 60, 120                                   # the ring ran for two months
    for c in cards:
        for d in sorted(b.rng.integers(lo, hi, 5)):
            b.visit(c, "R7", T0 + pd.Timedelta(days=int(d), hours=int(b.rng.integers(9, 20))), "pharmacy", item="X006")
        for d in (lo - int(b.rng.integers(0, 3)), hi + int(b.rng.integers(0, 3))):   # first and last use
            b.visit(c, "R7", T0 + pd.Timedelta(days=int(d), hours=11), "pharmacy", item="X006")
    # confounder: regular customers of the same pharmacy all year
    for p in [f"P{i:05d}" for i in range(450, 470)]:
        for m in range(6):
            b.visit(p, "R7", T0 + pd.Timedelta(days=30 * m + int(b.rng.integers(0, 25)), hours=10), "pharmacy",
                    item="X001")
    ctx = b.context(faces=False)
    det = CardLendingDetector(lead_sources=ALL_SOURCES).fit(ctx)
    truth = {f"person:{c}" for c in cards} | {"institution:R7"}
    assert covers(det.groups_, truth, top=1)
    top = det.groups_[0]
    assert top.evidence["source"] == "cohort" and top.score < 0.9      # indirect evidence stays below face proof
    assert not top.member_set() & {f"person:P{i:05d}" for i in range(450, 470)}


# ------------------------------------------------------------------ card cash-out
def test_card_cashout_batches_found_busy_pharmacy_not():
    b = CityBuilder(seed=3)
    hoard = [f"P{i:05d}" for i in range(100, 118)]
    for bt in range(8):                      # 8 night batches of 7-12 hoarded cards, 40-90 s apart
        t = T0 + pd.Timedelta(days=int(b.rng.integers(0, DAYS)), hours=23, minutes=int(b.rng.integers(0, 40)))
        for k, c in enumerate(b.rng.choice(hoard, int(b.rng.integers(7, 13)), replace=False)):
            t = t + pd.Timedelta(seconds=int(b.rng.integers(40, 90)))
            b.visit(c, "R1", t, "pharmacy", item="X009", qty=3.0)
    # confounder: a very busy pharmacy with daytime rushes of walk-in customers
    pids = b.persons["person_id"].tolist()
    for day in range(0, DAYS, 3):
        t = T0 + pd.Timedelta(days=day, hours=10)
        for k in range(8):
            b.visit(str(b.rng.choice(pids)), "R2", t + pd.Timedelta(seconds=60 * k), "pharmacy", item="X001")
    ctx = b.context()
    det = CardCashoutDetector().fit(ctx)
    check_contract(det, det.groups_)
    truth = {f"person:{c}" for c in hoard} | {"institution:R1"}
    assert covers(det.groups_, truth, top=1)
    assert not any("institution:R2" in g.members for g in det.groups_)
    sc = det.decision_scores_.set_index(["entity_type", "entity_id"])["score"]
    assert sc[("institution", "R1")] > 0.7 > sc.get(("institution", "R2"), 0.0)


def test_card_cashout_slow_operator_found_at_a_longer_gap():
    """Batches swiped 4-7 minutes apart (a slow operator) are cut by a 3-minute gap; the scan over
    gaps finds them at the scale where the pharmacy stands out, and the busy pharmacy stays out."""
    b = CityBuilder(seed=13)
    hoard = [f"P{i:05d}" for i in range(120, 136)]
    for bt in range(8):
        t = T0 + pd.Timedelta(days=int(b.rng.integers(0, DAYS)), hours=12)
        for c in b.rng.choice(hoard, int(b.rng.integers(6, 10)), replace=False):
            t = t + pd.Timedelta(seconds=int(b.rng.integers(240, 420)))
            b.visit(c, "R4", t, "pharmacy", item="X009", qty=3.0)
    pids = b.persons["person_id"].tolist()
    for day in range(0, DAYS, 3):            # walk-in rushes at a busy pharmacy
        t = T0 + pd.Timedelta(days=day, hours=10)
        for k in range(8):
            b.visit(str(b.rng.choice(pids)), "R2", t + pd.Timedelta(seconds=60 * k), "pharmacy", item="X001")
    ctx = b.context()
    truth = {f"person:{c}" for c in hoard} | {"institution:R4"}
    det = CardCashoutDetector().fit(ctx)
    check_contract(det, det.groups_)
    assert covers(det.groups_, truth, top=1)
    assert det.groups_[0].evidence["burst_gap"] in ("10min", "30min")
    assert not any("institution:R2" in g.members for g in det.groups_)
    only_3min = CardCashoutDetector(burst_gaps=("3min",)).fit(ctx)
    assert not covers(only_3min.groups_, truth)


def test_card_lending_history_at_terminal_less_clinic():
    """Lent credentials at a clinic without a terminal are treated for chronic illnesses their holders
    never registered, in the months the ring ran; registered chronic patients of another clinic are
    not flagged."""
    b = CityBuilder(seed=14)
    cards = [f"P{i:05d}" for i in range(600, 612)]
    ring_days = b.rng.integers(DAYS // 2 + 10, DAYS - 10, 60)      # the ring runs in the later months
    for k, d in enumerate(ring_days):
        t = T0 + pd.Timedelta(days=int(d), hours=9 + k % 8)
        b.visit(cards[k % len(cards)], "C4", t, doc=b.docs("C4")[0], item="X005",
                dx=(["I10", "E11", "I25"][k % 3],), face=None)
    chronic = [f"P{i:05d}" for i in range(620, 640)]
    per = b.persons.set_index("person_id")
    for j, p in enumerate(chronic):             # registered chronic patients refilling monthly
        code = ["I10", "E11", "I25"][j % 3]
        per.at[p, "chronic_conditions"] = (code,)
        for m in range(6):
            b.visit(p, "C5", T0 + pd.Timedelta(days=30 * m + int(b.rng.integers(0, 20)), hours=9),
                    doc=b.docs("C5")[0], item="X002", dx=(code,), face=None)
    screened = [f"P{i:05d}" for i in range(650, 680)]
    for j, p in enumerate(screened):            # a screening week at C3 finds new hypertensives: one visit each
        b.visit(p, "C3", T0 + pd.Timedelta(days=120 + j % 7, hours=9 + j % 8), doc=b.docs("C3")[0],
                item="X002", dx=("I10",), face=None)
    b.persons = per.reset_index()
    ctx = b.context()
    # a six-month test city: a month of incumbents (a year's data takes a quarter) and one month
    # outside the run to measure the channel's own level
    short = dict(history_incumbent_days=30, history_min_outside=1)
    det = CardLendingDetector(**short).fit(ctx)
    check_contract(det, det.groups_)
    truth = {f"person:{c}" for c in cards} | {"institution:C4"}
    assert covers(det.groups_, truth, top=1)
    hist = [g for g in det.groups_ if g.evidence.get("source") == "history"]
    assert hist and covers(hist, truth) and hist[0].score < 0.9          # indirect: below face proof
    scan = [g for g in det._history_scan_groups(ctx, False)]
    assert len(scan) == 1 and covers(scan, truth)                         # the run of months at C4's doctor
    ch = scan[0].evidence["channels"]
    assert list(ch) == [f"C4/{b.docs('C4')[0]}"] and ch[f"C4/{b.docs('C4')[0]}"]["z"] >= 5.0
    assert not any(g.member_set() & {f"person:{c}" for c in chronic + screened} for g in det.groups_)
    # with the defaults' quarter of incumbents this short city leaves no room for a run; the year's
    # count per institution still sees the ring
    assert not CardLendingDetector()._history_scan_groups(ctx, False)
    assert covers(CardLendingDetector()._history_year_groups(ctx, False), truth)
    # a dataset without registrations skips the signal
    b.persons["chronic_conditions"] = [()] * len(b.persons)
    det2 = CardLendingDetector(**short).fit(b.context())
    assert not [g for g in det2.groups_ if g.evidence.get("source") == "history"]


# ------------------------------------------------------------ collusive prescribing
def test_collusive_prescribing_ring_not_famous_or_chronic():
    b = CityBuilder(seed=4)
    doc, pharm = b.docs("H2")[0], "R5"
    patients = [f"P{i:05d}" for i in range(200, 214)]
    for s in range(6):                        # sessions: patients seen together, fills at R5 next day
        t = T0 + pd.Timedelta(days=int(b.rng.integers(0, DAYS - 3)), hours=9)
        for k, p in enumerate(patients):
            if b.rng.random() < 0.8:
                b.visit(p, "H2", t + pd.Timedelta(minutes=6 * k), doc=doc, item="HV1", qty=2.0, days=30,
                        dx=("C50",))
                b.visit(p, pharm, t + pd.Timedelta(days=1, minutes=6 * k), "pharmacy", doc=doc, item="HV1", qty=2.0,
                        days=30, dx=("C50",))
    # confounder: famous physician with a huge ordinary patient list, fills wherever patients live
    famous = b.docs("H0")[0]
    pids = b.persons["person_id"].tolist()
    for p, t in zip(b.rng.choice(pids, 500), b.rtime(500)):
        b.visit(str(p), "H0", t, doc=famous, item="X005", qty=1.0, days=14)
        if b.rng.random() < 0.6:
            b.visit(str(p), str(b.rng.choice(b.inst_ids("pharmacy"))), t + pd.Timedelta(days=1), "pharmacy",
                    doc=famous, item="X005", qty=1.0, days=14)
    # confounder: chronic patients' monthly refills from their community physician at the local pharmacy
    cdoc = b.docs("M0")[0]
    chronic = [f"P{i:05d}" for i in range(600, 625)]
    b.persons.loc[b.persons["person_id"].isin(chronic), "chronic_conditions"] = pd.Series(
        [("I10",)] * len(chronic), index=b.persons.index[b.persons["person_id"].isin(chronic)])
    for j, p in enumerate(chronic):
        off = int(b.rng.integers(0, 28))
        for m in range(6):
            t = T0 + pd.Timedelta(days=off + 30 * m, hours=int(b.rng.integers(8, 17)))
            b.visit(p, "M0", t, doc=cdoc, item="X007", qty=1.0, days=30, dx=("I10",))
            b.visit(p, "R6", t + pd.Timedelta(hours=2), "pharmacy", doc=cdoc, item="X007", qty=1.0, days=30,
                    dx=("I10",))
    ctx = b.context()
    det = CollusivePrescribingDetector().fit(ctx)
    check_contract(det, det.groups_)
    truth = {f"person:{p}" for p in patients} | {f"physician:{doc}", f"institution:{pharm}"}
    assert covers(det.groups_, truth, top=1)
    top = det.groups_[0]
    assert members_of(top, "physician") == {doc} and members_of(top, "institution") == {pharm}
    for g in det.groups_[:3]:
        assert f"physician:{famous}" not in g.members
        assert not (g.member_set() & {f"person:{p}" for p in chronic}) or g.score < 0.5


# ------------------------------------------------------------------ ghost admission
def test_ghost_admission_waves_without_ward_presence():
    b = CityBuilder(seed=5)
    recruits = [f"P{i:05d}" for i in range(700, 716)]
    for w in range(3):
        t = T0 + pd.Timedelta(days=20 + 50 * w, hours=9)
        for k, p in enumerate(b.rng.choice(recruits, 9, replace=False)):
            los = int(b.rng.integers(8, 14))
            b.visit(str(p), "H3", t + pd.Timedelta(hours=3 * k), "inpatient", doc=b.docs("H3")[2], item="SV1",
                    qty=los, dx=("M54",), end=t + pd.Timedelta(days=los), ward=False)
    # confounder: an outbreak admission wave at H1 (real patients, seen on the ward)
    t = T0 + pd.Timedelta(days=90, hours=8)
    for k in range(10):
        b.visit(f"P{750 + k:05d}", "H1", t + pd.Timedelta(hours=4 * k), "inpatient", doc=b.docs("H1")[0],
                item="SV1", qty=6, dx=("J10",), end=t + pd.Timedelta(days=6))
    ctx = b.context()
    det = GhostAdmissionDetector().fit(ctx)
    check_contract(det, det.groups_)
    truth = {f"person:{p}" for p in recruits} | {"institution:H3"}
    assert covers(det.groups_, truth, top=1)
    assert not any("institution:H1" in g.members for g in det.groups_[:3] if g.score >= 0.5)


def test_ghost_ward_camera_outage_is_not_absence():
    """A pneumonia wave admitted while the ward camera was down (it captured nobody at all) is not
    'never on the ward': presence is unknown, and the wave alone does not make a strong lead."""
    from ringscope.models.detectors.ghost_admission import ward_presence

    b = CityBuilder(seed=15)
    t = T0 + pd.Timedelta(days=100, hours=8)
    for k in range(8):
        b.visit(f"P{760 + k:05d}", "H2", t + pd.Timedelta(hours=5 * k), "inpatient", doc=b.docs("H2")[0],
                item="SV1", qty=7, dx=("J18",), end=t + pd.Timedelta(days=7), ward=False)
    lo, hi = t - pd.Timedelta(days=1), t + pd.Timedelta(days=10)
    b.caps = [c for c in b.caps if not (c["institution_id"] == "H2" and c["location"] == "ward"
                                        and lo <= c["capture_time"] <= hi)]        # the outage
    ctx = b.context()
    v = proj.visit_frame(ctx)
    stays = v[(v["visit_type"] == "inpatient") & (v["institution_id"] == "H2")
              & v["person_id"].isin([f"P{760 + k:05d}" for k in range(8)])]
    assert ward_presence(ctx, stays).isna().all()
    det = GhostAdmissionDetector().fit(ctx)
    assert not any("institution:H2" in g.members and g.score >= 0.5 for g in det.groups_)


# ------------------------------------------------------- split admission / doctor shopping
def test_split_admission_and_chemo_cycles():
    b = CityBuilder(seed=6)
    t = T0 + pd.Timedelta(days=40)
    for part in range(3):      # one stay cut in three, readmitted the next day
        b.visit("P00042", "H2", t, "inpatient", doc=b.docs("H2")[1], item="SV1", qty=5, dx=("K80",),
                end=t + pd.Timedelta(days=5))
        t = t + pd.Timedelta(days=6)
    for c in range(5):         # chemotherapy every 21 days: planned, not split
        t = T0 + pd.Timedelta(days=5 + 21 * c)
        b.visit("P00043", "H2", t, "inpatient", doc=b.docs("H2")[1], item="SV1", qty=3, dx=("C34",),
                end=t + pd.Timedelta(days=3))
    ctx = b.context()
    det = SplitAdmissionDetector().fit(ctx)
    check_contract(det, det.groups_)
    g0 = det.groups_[0]
    assert g0.member_set() == {"person:P00042", "institution:H2"} and g0.score > 0.7
    assert not any("person:P00043" in g.members for g in det.groups_)


def test_doctor_shopping_fan_in_not_chronic():
    b = CityBuilder(seed=8)
    shopper = "P00077"
    insts = b.inst_ids("hospital") + b.inst_ids("clinic")
    for k, t in enumerate(sorted(b.rtime(14))):
        inst = insts[k % len(insts)]
        b.visit(shopper, inst, t, doc=b.docs(inst)[0], item="X011", qty=2.0, days=30, dx=("G47.0",))
    for p in [f"P{i:05d}" for i in range(650, 670)]:    # chronic patients, two physicians of one centre, monthly
        for m in range(6):
            b.visit(p, "M3", T0 + pd.Timedelta(days=30 * m + 3), doc=b.docs("M3")[m % 2], item="X011", qty=1.0,
                    days=30, dx=("G47.0",))
    # confounder: an acute patient seeing four doctors in a year for short, non-overlapping courses
    for k, day in enumerate((10, 70, 120, 170)):
        inst = insts[k]
        b.visit("P00078", inst, T0 + pd.Timedelta(days=day, hours=9), doc=b.docs(inst)[1], item="X011", qty=1.0,
                days=5, dx=("G47.0",))
    ctx = b.context()
    det = DoctorShoppingDetector().fit(ctx)
    check_contract(det, det.groups_)
    assert det.groups_[0].members == ["person:P00077"]
    ev = det.groups_[0].evidence
    assert ev["drug_class"] == "dx:G47" and ev["n_overlapping_fills"] >= 5 and len(ev["prescribers"]) >= 6
    flagged = {g.members[0] for g in det.groups_}
    assert not flagged & ({f"person:P{i:05d}" for i in range(650, 670)} | {"person:P00078"})
    # an acute patient whose short courses from four places sometimes overlap but cover about half of
    # the calendar: no lead (a shopper collects more than courses' worth), unless the bar is off
    for k, day in enumerate((0, 3, 28, 31, 56, 59, 84, 87, 112, 115)):
        inst = insts[k % 4]
        b.visit("P00079", inst, T0 + pd.Timedelta(days=day + 200, hours=9), doc=b.docs(inst)[2], item="X011",
                qty=1.0, days=7, dx=("J06.9",))
    ctx = b.context()
    det = DoctorShoppingDetector().fit(ctx)
    assert "person:P00079" not in {m for g in det.groups_ for m in g.members}
    ps = det.person_stats_
    st = ps[(ps["person_id"] == "P00079") & (ps["g"] == "dx:J06")].iloc[0]
    assert 0.4 <= float(st["oversupply"]) < 0.6 and int(st["n_inst"]) >= 3 and int(st["n_overlap"]) >= 1
    loose = DoctorShoppingDetector(min_lead_oversupply=0.0).fit(ctx)
    assert "person:P00079" in {m for g in loose.groups_ for m in g.members}
    # molecule grouping works without diagnoses
    det2 = DoctorShoppingDetector(grouping="group").fit(ctx)
    assert det2.groups_[0].members == ["person:P00077"] and det2.groups_[0].evidence["drug_class"] == "drug11"


# ------------------------------------------------------------- guilt by association
def test_guilt_by_association_spreads_from_seeds_not_through_cleared():
    b = CityBuilder(seed=9)
    ring = [f"P{i:05d}" for i in range(120, 130)]
    for k, t in enumerate(b.rtime(60)):
        b.visit(ring[k % 10], "C5", t, doc=b.docs("C5")[0], item="X002")
    b.cases += [{"case_id": "K1", "entity_type": "institution", "entity_id": "C5", "label": "fraud",
                 "scheme": "card_lending"},
                {"case_id": "K2", "entity_type": "person", "entity_id": "P00120", "label": "fraud",
                 "scheme": "card_lending"},
                {"case_id": "K3", "entity_type": "institution", "entity_id": "H0", "label": "cleared"}]
    ctx = b.context()
    det = GuiltByAssociationDetector().fit(ctx)
    check_contract(det, det.groups_)
    truth = {f"person:{p}" for p in ring} | {"institution:C5"}
    assert covers(det.groups_, truth)
    g = next(g for g in det.groups_ if len(g.member_set() & truth) >= len(truth) / 2)
    assert g.scheme == "card_lending" and g.evidence["seeds"]
    s = det.decision_scores_.set_index(["entity_type", "entity_id"])["score"]
    assert s[("person", "P00125")] > s.get(("person", "P00600"), 0.0)
    assert s.get(("institution", "H0"), 0.0) == 0.0


def test_guilt_by_association_names_every_scheme_of_its_seeds():
    """A closed drug-resale case's neighbourhood is a drug_resale group (it corroborates drug-resale
    leads), not "other"; a scheme outside the contract still is "other"."""
    for scheme, want in (("drug_resale", "drug_resale"), ("something_else", "other")):
        b = CityBuilder(seed=9)
        ring = [f"P{i:05d}" for i in range(120, 130)]
        for k, t in enumerate(b.rtime(60)):
            b.visit(ring[k % 10], "C5", t, doc=b.docs("C5")[0], item="X002")
        b.cases += [{"case_id": "K1", "entity_type": "institution", "entity_id": "C5", "label": "fraud",
                     "scheme": scheme}]
        det = GuiltByAssociationDetector().fit(b.context())
        g = next(g for g in det.groups_ if "institution:C5" in g.member_set())
        assert g.scheme == want, (scheme, g.scheme)


# ------------------------------------------------------------------ plumbing
def test_projections_cached_and_typed():
    b = CityBuilder(seed=10, n_persons=200)
    ctx = b.context()
    pi = proj.person_institution(ctx)
    assert pi is proj.person_institution(ctx)
    assert pi.matrix.sum() == len(ctx.tables["visits"])
    e = pi.typed_edges()
    assert e["row"].str.startswith("person:").all() and e["col"].str.startswith("institution:").all()
    ext = proj.physician_pharmacy(ctx)
    assert set(ext.cols) <= set(b.inst_ids("pharmacy"))
    g = pi.to_networkx()
    assert g.number_of_edges() == pi.matrix.nnz
    assert proj.drug_group(pd.DataFrame({"item_code": ["a", "b"], "name": ["Atorvastatin 20mg x 7", "Atorvastatin (Lipitor) 40 mg"]})).tolist() == ["atorvastatin", "atorvastatin"]


@pytest.mark.parametrize("name", sorted(GRAPH_DETECTORS))
def test_every_detector_runs_on_minimal_tables(name):
    """Only the required tables, no faces, no optional columns: fit works."""
    b = CityBuilder(seed=11, n_persons=150)
    ctx = b.context(faces=False)
    for t in ("family_links", "known_cases", "face_captures"):
        ctx.tables.pop(t, None)
    ctx.tables["visits"] = ctx.tables["visits"].drop(columns=["payer_person_id", "terminal_id", "fund_paid"])
    det = GRAPH_DETECTORS[name]().fit(ctx)
    assert set(det.decision_scores_.columns) >= {"entity_type", "entity_id", "score"}
    assert isinstance(det.groups_, list)


def test_cohort_box_components_equal_the_self_join_they_replaced():
    """Card lending's cohort components, found a block of neighbour pairs at a time, are those of
    the self-join of the surprising rows (same members, same order), however small the block."""
    from ringscope.graph.algorithms import connected_components
    from ringscope.models.detectors.card_lending import _box_components

    rng = np.random.default_rng(5)
    n, d = 600, 7
    hot = pd.DataFrame({"institution_id": rng.choice(["H1", "H2", "C1", "P9"], n),
                        "fd": rng.integers(0, 200, n), "ld": rng.integers(0, 200, n)})
    hot = hot.iloc[rng.permutation(n)[: n - 37]]               # an index with gaps, as after a filter
    hm = hot.reset_index().merge(hot.reset_index(), on="institution_id", suffixes=("", "_o"))
    hm = hm[(hm["index"] != hm["index_o"]) & ((hm["fd"] - hm["fd_o"]).abs() <= d)
            & ((hm["ld"] - hm["ld_o"]).abs() <= d)]
    want = [sorted(c) for c in connected_components(list(zip(hm["index"], hm["index_o"])))]
    assert len(want) > 20 and max(map(len, want)) >= 5
    for chunk in (1, 50, 10**7):
        got = [sorted(hot.index[c]) for c in _box_components(hot["institution_id"].to_numpy(), hot["fd"].to_numpy(),
                                                             hot["ld"].to_numpy(), d, chunk=chunk)]
        assert got == want, chunk
