"""Money at risk that adds up (data contract, section 2; issue 13): a claim line counted at most
once and never above what was billed, at every level -- rule hit, entity, lead, city. Shared by
the tests that run ``detect`` on cities of every generator."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ringscope.ingest.reader import read_dataset


def assert_money_adds_up(city: Path, out: Path) -> dict[str, float]:
    ds = read_dataset(city)
    v = ds.tables["visits"][["visit_id", "person_id", "institution_id", "physician_id", "total_amount"]].copy()
    v["visit_id"] = v["visit_id"].astype(str)
    lines = ds.tables["claim_lines"][["line_id", "visit_id", "amount"]].astype({"line_id": str})
    city_billed = float(v["total_amount"].sum())
    hits = pd.read_csv(out / "rule_hits.csv", dtype={"visit_id": str, "entity_id": str})
    assert set(hits["rule_class"].dropna()) <= {"definite", "suspicious"} and hits["rule_class"].notna().all()
    amt = pd.to_numeric(hits["amount_at_risk"], errors="coerce").fillna(0.0)
    assert (amt >= 0).all()
    # settlement level: the hits on one settlement never exceed what it billed
    per_visit = amt[hits["visit_id"].notna()].groupby(hits.loc[hits["visit_id"].notna(), "visit_id"]).sum()
    billed = v.set_index("visit_id")["total_amount"].reindex(per_visit.index).fillna(0.0)
    over = per_visit[per_visit > billed + 0.05]
    assert over.empty, f"settlements counted above their bill: {over.head().to_dict()}"
    # entity level: per responsible institution, its hits never exceed its settlements' bill
    inst_hits = hits[hits["entity_type"] == "institution"]
    if len(inst_hits):
        per_inst = pd.to_numeric(inst_hits["amount_at_risk"]).groupby(inst_hits["entity_id"]).sum()
        inst_billed = v.groupby(v["institution_id"].astype(str))["total_amount"].sum().reindex(per_inst.index).fillna(0.0)
        assert (per_inst <= inst_billed + 0.05).all(), per_inst[per_inst > inst_billed + 0.05].head().to_dict()
    # city level
    assert float(amt.sum()) <= city_billed + 0.05, (float(amt.sum()), city_billed)
    # leads: never above what was billed on the lead's own settlements
    leads = pd.read_csv(out / "leads.csv", dtype=str, keep_default_na=False)
    for lead in leads.itertuples():
        members = [m.split(":", 1) for m in lead.members.split(";") if m]
        persons = {i for t, i in members if t == "person"}
        if persons:
            mine = v[v["person_id"].astype(str).isin(persons)]
        else:
            insts = {i for t, i in members if t == "institution"}
            docs = {i for t, i in members if t == "physician"}
            mine = v[v["institution_id"].astype(str).isin(insts) | v["physician_id"].astype(str).isin(docs)]
        assert float(lead.amount_at_risk) <= float(mine["total_amount"].sum()) + 0.05, \
            (lead.lead_id, lead.scheme, lead.amount_at_risk, float(mine["total_amount"].sum()))
    # the basis of each lead's figure is in its evidence
    ev = [json.loads(x) for x in (out / "lead_evidence.jsonl").read_text().splitlines() if x.strip()]
    for e in ev:
        b = e["amount_basis"]
        assert b["amount_at_risk"] <= b["billed_on_its_settlements"] + 0.05
    return {"rule_hits": float(amt.sum()), "city_billed": city_billed, "lines": float(lines["amount"].sum())}
