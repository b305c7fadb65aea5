"""Fusion on hand-made tables, scores, groups and rule hits."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ringscope.models.base import BaseDetector, Context, Finding, Group
from ringscope.models.fusion import (
    FusionConfig,
    assign_lead_ids,
    build_leads,
    entity_scores,
    entity_universe,
    fuse,
    lead_id_for,
    learn_noisy_or_weights,
    merge_groups,
)
from ringscope.models.detectors.rules import RulesDetector, excess_over_exposure

LEADS_COLUMNS = ["lead_id", "scheme", "score", "amount_at_risk", "members", "summary"]


@pytest.fixture()
def tables() -> dict[str, pd.DataFrame]:
    persons = pd.DataFrame({"person_id": [f"P{i:02d}" for i in range(1, 21)], "sex": "F",
                            "birth_date": pd.Timestamp("1960-01-01")})
    inst = pd.DataFrame({"institution_id": ["H1", "C1", "C2", "C3", "C4", "C5"],
                         "kind": ["hospital", "clinic", "clinic", "clinic", "clinic", "clinic"]})
    phys = pd.DataFrame({"physician_id": ["D1", "D2", "D3"], "institution_id": ["C1", "H1", "C2"]})
    # ring R: P01..P04 at clinic C1 with physician D1; family F: P05..P08 (registered links) at C2
    # a busy hospital H1: everyone visits it 5 times
    rows = []
    k = 0
    for p in persons["person_id"]:
        for _ in range(5):
            k += 1
            rows.append((f"V{k:04d}", p, "H1", "D2", 100.0))
    for p in ["P01", "P02", "P03", "P04"]:
        for _ in range(3):
            k += 1
            rows.append((f"V{k:04d}", p, "C1", "D1", 300.0))
    for p in ["P05", "P06", "P07", "P08"]:
        for _ in range(3):
            k += 1
            rows.append((f"V{k:04d}", p, "C2", "D3", 300.0))
    for c in ["C3", "C4", "C5"]:
        for p in ["P10", "P11"]:
            k += 1
            rows.append((f"V{k:04d}", p, c, None, 50.0))
    visits = pd.DataFrame(rows, columns=["visit_id", "person_id", "institution_id", "physician_id", "total_amount"])
    visits["start_time"] = pd.Timestamp("2024-03-01 09:00") + pd.to_timedelta(np.arange(len(visits)), unit="h")
    visits["visit_type"] = "outpatient"
    fam = pd.DataFrame({"person_id": ["P05", "P05", "P07"], "related_person_id": ["P06", "P07", "P08"],
                        "relation": ["spouse", "child", "spouse"]})
    return {"persons": persons, "institutions": inst, "physicians": phys, "visits": visits, "family_links": fam}


def _hits(visit_ids: list[str], entity: str, etype: str = "person", severity: str = "high") -> pd.DataFrame:
    return pd.DataFrame({"hit_id": [f"h-{entity}-{v}" for v in visit_ids], "rule_id": "R-X-001",
                         "rule_name": "重复收费", "rule_name_en": "duplicate charge", "severity": severity,
                         "entity_type": etype, "entity_id": entity, "visit_id": visit_ids,
                         "amount_at_risk": 50.0, "evidence": "x"})


RING = ["person:P01", "person:P02", "person:P03", "person:P04", "physician:D1", "institution:C1"]
FAMILY = ["person:P05", "person:P06", "person:P07", "person:P08", "physician:D3", "institution:C2"]


def test_universe_and_every_entity_scored(tables):
    uni = entity_universe(tables)
    assert len(uni) == 20 + 3 + 6
    src = {"det": pd.DataFrame({"entity_type": ["person", "person", "physician"], "entity_id": ["P01", "P02", "D1"],
                                "score": [0.9, 0.4, 0.7]})}
    reasons = {"det": pd.DataFrame({"entity_type": ["person"], "entity_id": ["P01"], "score": [0.9],
                                    "reason": ["lent card 4 times"]})}
    es, info = entity_scores(src, uni, reasons=reasons, config=FusionConfig(weights={"det": 0.5}))
    assert len(es) == len(uni) and es["score"].between(0, 1).all()
    s = es.set_index(["entity_type", "entity_id"])["score"]
    assert s["person", "P01"] == pytest.approx(0.45) and s["person", "P02"] == pytest.approx(0.2)
    assert s["person", "P20"] == 0.0
    r = es.set_index(["entity_type", "entity_id"])["reasons"]
    assert r["person", "P01"] == "det 0.45 (lent card 4 times)"
    assert r["person", "P20"] == ""
    assert info["by_type"]["person"]["how"] == "default"


def test_rule_scores_are_excess_over_exposure(tables):
    v = tables["visits"]
    h1 = v.loc[v["institution_id"] == "H1", "visit_id"].head(6).tolist()    # 6 hits on 100 settlements
    c3 = v.loc[v["institution_id"] == "C3", "visit_id"].tolist()            # 2 hits on 2 settlements
    hits = pd.concat([_hits(h1, "H1", "institution", "medium"), _hits(c3, "C3", "institution", "medium")])
    rs = excess_over_exposure(hits, tables).set_index("entity_id")
    # rate λ = 4 severity units / 126 settlements; H1: 3 - λ·100 ≈ 0 excess; C3: 1 - 2λ > 0.9
    assert rs.loc["H1", "score"] < 0.05
    assert rs.loc["C3", "score"] > 0.4
    assert "duplicate charge ×2" in rs.loc["C3", "reason"]


def test_learned_weights_follow_the_labels(tables):
    rng = np.random.default_rng(1)
    n = 600
    x = rng.random((n, 2))
    y = (rng.random(n) < 0.9 * x[:, 0]).astype(float)
    w = learn_noisy_or_weights(x, y, np.array([0.5, 0.5]), l2=0.01)
    assert w[0] > 0.75 and w[1] < 0.2
    # through entity_scores: known cases label the ring persons; the informative source gets the weight
    persons = tables["persons"]["person_id"]
    good = pd.DataFrame({"entity_type": "person", "entity_id": persons,
                         "score": np.where(persons.isin(["P01", "P02", "P03", "P04", "P09", "P12", "P13", "P14",
                                                         "P15", "P16"]), 0.9, 0.05)})
    noise = pd.DataFrame({"entity_type": "person", "entity_id": persons, "score": rng.random(len(persons))})
    kc = pd.DataFrame({"case_id": [f"K{i}" for i in range(10)], "entity_type": "person",
                       "entity_id": ["P01", "P02", "P03", "P04", "P09", "P12", "P13", "P14", "P15", "P16"],
                       "label": "fraud"})
    _, info = entity_scores({"good": good, "noise": noise}, entity_universe(tables), known_cases=kc,
                            config=FusionConfig(min_pos=8, l2=0.05))
    wt = info["by_type"]["person"]
    assert wt["how"] == "learned (type)"
    assert wt["weights"]["good"] > wt["weights"]["noise"] + 0.3


def test_merge_groups_same_scheme_only():
    a = Group("det_a", "card_lending", RING[:4], 0.9)
    b = Group("det_b", "card_lending", RING[:5], 0.6)               # containment 1.0 -> merged
    c = Group("det_c", "collusive_prescribing", RING[:4], 0.8)     # other scheme -> separate
    d = Group("det_a", "card_lending", ["person:P10", "person:P11"], 0.5)
    m = merge_groups([a, b, c, d])
    assert len(m) == 3
    cl = [x for x in m if x["scheme"] == "card_lending" and "person:P01" in x["members"]][0]
    # physician D1 only in b: support 0.6 / 1.5 < 0.5 -> left out
    assert cl["members"] == sorted(RING[:4]) and len(cl["groups"]) == 2


def test_association_groups_only_corroborate():
    """A guilt-by-association group (near closed cases) never makes a lead of its own nor adds
    members to one; it joins the lead it mostly holds as agreement."""
    a = Group("card_lending", "card_lending", RING[:4], 0.7)
    gba = Group("guilt_by_association", "card_lending", RING[:4] + [f"person:Q{i}" for i in range(30)], 0.9)
    lone = Group("guilt_by_association", "card_lending", [f"person:Z{i}" for i in range(10)], 0.9)
    m = merge_groups([a, gba, lone], corroborating={"guilt_by_association"})
    assert len(m) == 1 and m[0]["members"] == sorted(RING[:4])
    assert {g.detector for g in m[0]["groups"]} == {"card_lending", "guilt_by_association"}
    # without the rule the association group swallows the ring and its 30 neighbours
    m2 = merge_groups([a, gba, lone])
    assert any(len(x["members"]) == 34 for x in m2) and len(m2) == 2


def test_lead_ids_stable_and_kept_when_growing():
    leads = pd.DataFrame({"scheme": ["card_lending", "card_cashout"],
                          "members": [";".join(sorted(RING[:4])), "institution:C3;person:P10;person:P11"]})
    ids1 = assign_lead_ids(leads, None)
    assert ids1.tolist() == assign_lead_ids(leads.copy(), None).tolist()
    assert ids1.iloc[0] == lead_id_for("card_lending", RING[:4])
    assert ids1.iloc[0].startswith("L-card_lending-") and len(ids1.iloc[0].split("-")[-1]) == 8
    prev = leads.assign(lead_id=ids1)
    grown = pd.DataFrame({"scheme": ["card_lending", "card_lending", "card_cashout"],
                          "members": [";".join(sorted(RING[:4] + ["person:P12", "person:P13"])),
                                      "person:P15;person:P16", "institution:C4;person:P17"]})
    ids2 = assign_lead_ids(grown, prev)
    assert ids2.iloc[0] == ids1.iloc[0]            # grew from 4 to 6 members: id kept
    assert ids2.iloc[1] not in set(ids1)           # new lead: new id
    assert ids2.iloc[2] not in set(ids1)           # different members, same scheme: not a continuation
    assert ids2.is_unique


def test_build_leads_scores_ranks_and_evidence(tables):
    v = tables["visits"]
    ring_visits = v.loc[v["institution_id"] == "C1", "visit_id"].tolist()
    hits = pd.concat([_hits(ring_visits[:3], "P01"), _hits(ring_visits[3:5], "P02")])
    base = entity_scores({"det": pd.DataFrame({"entity_type": "person", "entity_id": ["P01", "P02", "P05", "P06"],
                                               "score": [0.8, 0.7, 0.8, 0.7]})},
                         entity_universe(tables))[0]
    groups = [Group("det", "card_lending", RING, 0.8, amount_at_risk=3600.0, summary="4 cards at one clinic"),
              Group("det", "card_lending", FAMILY, 0.8, amount_at_risk=3600.0, summary="4 cards at one clinic")]
    leads, ev = build_leads(groups, base, tables, rule_hits=hits)
    assert list(leads.columns[:6]) == LEADS_COLUMNS
    assert leads["score"].between(0, 1).all() and leads["rank"].tolist() == [1, 2]
    ring = leads.iloc[0]
    assert ring["members"] == ";".join(sorted(RING))            # the ring outranks the family
    fam = leads.iloc[1]
    assert fam["family_share"] == pytest.approx(1.0) and fam["score"] < 0.5 * ring["score"]
    assert ring["amount_at_risk"] == pytest.approx(3600.0)
    assert "借卡/冒名就医" in ring["summary"] and "5 rule hits" in ring["summary"] and "C1" in ring["summary"]
    e = {x["lead_id"]: x for x in ev}[ring["lead_id"]]
    assert e["n_rule_hits"] == 5 and {h["visit_id"] for h in e["rule_hits"]} == set(ring_visits[:5])
    rels = {(x["src"], x["rel"], x["dst"]): x["n"] for x in e["edges"]}
    assert rels[("person:P01", "VISITED", "institution:C1")] == 3
    assert rels[("person:P03", "SEEN_BY", "physician:D1")] == 3
    assert ("physician:D1", "PRACTISES_AT", "institution:C1") in rels
    fam_e = {x["lead_id"]: x for x in ev}[fam["lead_id"]]
    assert any(x["rel"].startswith("FAMILY:") for x in fam_e["edges"])
    assert e["groups"][0]["detector"] == "det"


def test_dilution_in_ordinary_institution(tables):
    # many ordinary clinics so H1/C-kind z-scores are defined; a 2-person slice of busy H1 is diluted
    base = entity_scores({}, entity_universe(tables))[0]
    g_small = Group("det", "collusive_prescribing", ["person:P10", "person:P11", "institution:C3"], 0.7)
    g_hosp = Group("det", "collusive_prescribing", ["person:P12", "person:P13", "institution:H1"], 0.7)
    leads, _ = build_leads([g_small, g_hosp], base, tables)
    d = leads.set_index(leads["members"].str.contains("H1"))["dilution"]
    assert d[False] == 0.0   # P10, P11 are all of C3's patients


class _Fixed(BaseDetector):
    """A hand-made detector with fixed output, to test ``fuse`` end to end."""

    name = "fixed"
    scheme = "card_lending"
    window: int = 7

    def fit(self, ctx: Context, y=None):
        self.decision_scores_ = pd.DataFrame({"entity_type": "person", "entity_id": ["P01", "P02", "P03", "P04"],
                                              "score": [0.9, 0.8, 0.7, 0.6]})
        self.findings_ = [Finding(self.name, "person", "P01", 0.9, self.scheme, reason="card used by 3 faces")]
        self.groups_ = [Group(self.name, self.scheme, RING, 0.85, 1000.0, "ring at C1")]
        return self


def test_fuse_end_to_end(tables):
    det = _Fixed(window=7).fit(Context(tables=tables))
    rules = RulesDetector().fit_hits(_hits(["V0101"], "P01"), tables)     # the one path for rule hits
    res = fuse(tables, [det, rules])
    es = res.entity_scores
    assert list(es.columns[:4]) == ["entity_type", "entity_id", "score", "reasons"]
    assert len(es) == 29 and es["score"].between(0, 1).all()
    top = es[es["entity_type"] == "person"].iloc[0]
    assert top["entity_id"] == "P01" and "card used by 3 faces" in top["reasons"]
    d1 = es.set_index(["entity_type", "entity_id"]).loc[("physician", "D1")]
    assert d1["score"] > 0 and "lead L-card_lending-" in d1["reasons"]     # only the lead speaks for D1
    assert len(res.leads) == 1 and res.evidence[0]["groups"][0]["rerun"]["params"] == {"window": 7}
    res2 = fuse(tables, [det, rules])
    assert res2.leads["lead_id"].tolist() == res.leads["lead_id"].tolist()
    pd.testing.assert_frame_equal(res2.entity_scores, res.entity_scores)
