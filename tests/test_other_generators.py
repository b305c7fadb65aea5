"""`detect` + `evaluate` on cities of two *other* generators (bench/othergen/), written from the
data contract alone by authors who never saw the detectors: the kind of dataset the judges use.

Small cities (2,000 persons), no Neo4j, no learned models; the thresholds are the figures
measured on these seeds (bench/RESULTS.md, "Detection quality") minus a margin, so a change that
fits the project's own generator better at the others' expense fails here.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ringscope.models.evaluate import evaluate

pytestmark = pytest.mark.slow

OTHERGEN = Path(__file__).resolve().parent.parent / "bench" / "othergen"

# measured (2,000 persons, seed 3): county recall 0.90, precision 0.81, AP person/physician/institution
# 0.63/0.51/0.73; province 1.00, 0.87, 0.77/0.89/0.87
FLOORS = {
    "county": {"recall": 0.7, "precision": 0.65, "ap": {"person": 0.5, "physician": 0.35, "institution": 0.6}},
    "province": {"recall": 0.8, "precision": 0.7, "ap": {"person": 0.65, "physician": 0.7, "institution": 0.7}},
}


@pytest.fixture(scope="module", params=sorted(FLOORS))
def judged(request, tmp_path_factory):
    from ringscope.pipeline import detect

    name = request.param
    city = tmp_path_factory.mktemp(name) / "city"
    subprocess.run([sys.executable, str(OTHERGEN / f"{name}.py"), str(city), "--persons", "2000", "--seed", "3"],
                   check=True, stdout=subprocess.DEVNULL)
    out = city.parent / "results"
    summary = detect(city, out, neo4j=False, gnn=False)
    return name, city, out, summary


def test_other_generators_data_validate_and_run(judged):
    name, city, out, summary = judged
    assert summary["errors"] == [], summary["errors"]
    assert summary["quarantined"] == 0, f"{name}: the contract reader refused rows of a valid dataset"
    for f in ("rule_hits.csv", "entity_scores.csv", "leads.csv"):
        assert (out / f).exists()


def test_other_generators_rings_and_entities(judged):
    name, city, out, _ = judged
    rep = evaluate(out, city / "truth")
    floor = FLOORS[name]
    rings = rep["rings"]
    assert rings["ring_recall_at_3R"] >= floor["recall"], (name, rings["missed_rings"])
    assert rings["lead_precision_at_3R"] >= floor["precision"], (name, rings["per_scheme"])
    for etype, ap in floor["ap"].items():
        assert rep["entities"][etype]["ap"] >= ap, (name, etype, rep["entities"][etype])


def test_other_generators_drug_resale(judged):
    """The county generator's drug_resale rings (issue 19): found, with precise leads; the
    definite trace rules hit only re-settled lines; a collector who also shops for doctors is
    not a second lead of its own."""
    name, city, out, _ = judged
    rings = pd.read_csv(city / "truth" / "rings.csv", dtype=str)
    if "drug_resale" not in set(rings["scheme"]):
        pytest.skip(f"{name} plants no drug_resale rings")
    rep = evaluate(out, city / "truth")
    s = rep["rings"]["per_scheme"]["drug_resale"]
    assert s["recall"] >= 0.9 and s["precision"] >= 0.9, s
    for rid in ("R-MGT-016", "R-MGT-017", "R-MGT-018"):
        r = rep["rules"].get(rid)
        if r and r["hits"]:
            assert r["precision"] >= 0.98, (rid, r)
    assert rep["rules"]["R-MGT-016"]["hits"] > 0
    leads = pd.read_csv(out / "leads.csv", dtype=str)
    resale = set().union(*(set(m.split(";")) for m in leads.loc[leads["scheme"] == "drug_resale", "members"]))
    shop = leads.loc[leads["scheme"] == "doctor_shopping", "members"]
    assert not [m for m in shop if set(m.split(";")) <= resale]
