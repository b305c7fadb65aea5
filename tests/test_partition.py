"""Work by partitions (graph/partition.py): the rule library run bucket by bucket finds
exactly what it finds over the whole city, and each bucket holds its own rows, whole and
in file order, from files split once and removed after."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ringscope.graph.context import Context
from ringscope.graph.engine import Engine
from ringscope.graph.partition import buckets
from ringscope.ingest.reader import read_dataset
from ringscope.models.rules import run_rules


@pytest.fixture(scope="module")
def city(small_city: Path):
    ds = read_dataset(small_city, encode_images=False)
    yield ds
    ds.close()


def _ctx(ds) -> Context:
    return Context(tables=ds.tables, engine=Engine.over_dataset(ds, memory_limit="1GB"))


def test_buckets_hold_each_row_once_in_file_order(city) -> None:
    ctx = _ctx(city)
    scratch = Path(ctx.columnar.df("SELECT current_setting('temp_directory') AS d")["d"].iloc[0])
    visits, lines = ctx.table("visits"), ctx.table("claim_lines")
    person_of = dict(zip(visits["visit_id"], visits["person_id"]))
    seen_v: list[str] = []
    seen_l: list[str] = []
    owner: dict[str, int] = {}
    for i, b in enumerate(buckets(ctx, "person", 3)):
        bv, bl = b.table("visits"), b.table("claim_lines")
        assert len(bv) and len(bl)
        assert list(bv.columns) == list(visits.columns) and list(bl.columns) == list(lines.columns)
        pos = visits.reset_index().set_index("visit_id").loc[bv["visit_id"], "index"].to_numpy()
        assert (pos[1:] > pos[:-1]).all(), "a bucket keeps the table's order"
        for p in bv["person_id"]:
            assert owner.setdefault(p, i) == i, f"person {p} in two buckets"
        assert set(bl["visit_id"]) <= set(bv["visit_id"])
        assert {person_of[v] for v in bl["visit_id"]} <= set(bv["person_id"])
        seen_v += list(bv["visit_id"])
        seen_l += list(bl["line_id"])
        assert any(scratch.glob("ringscope-person-buckets-*")), "split files live in the engine's scratch"
    assert sorted(seen_v) == sorted(visits["visit_id"]) and len(seen_v) == len(set(seen_v))
    assert sorted(seen_l) == sorted(lines["line_id"]) and len(seen_l) == len(set(seen_l))
    assert not any(scratch.glob("ringscope-person-buckets-*")), "split files removed after the last bucket"
    ctx.columnar.close()


def test_rules_by_buckets_equal_the_whole_city(city) -> None:
    cols = ["rule_id", "hit_id", "visit_id", "entity_id", "line_id", "amount_at_risk", "evidence"]
    whole = run_rules(_ctx(city), partitions=1)
    parts = run_rules(_ctx(city), partitions=4)
    assert len(whole) > 500 and whole["rule_id"].nunique() > 15
    key = ["rule_id", "hit_id", "line_id"]
    a = whole[cols].sort_values(key, ignore_index=True)
    b = parts[cols].sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9)


def test_doctor_shopping_by_buckets_equals_the_whole_city(city) -> None:
    """Fills stay within a person: the detector's drug lines bucket by bucket give the same
    statistics and the same leads as the city's drug lines at once."""
    from ringscope.models.detectors.doctor_shopping import DoctorShoppingDetector

    def fit(k: int) -> DoctorShoppingDetector:
        ctx = _ctx(city)
        ctx.cache["partitions"] = k
        return DoctorShoppingDetector(min_score=0.05, min_lead_institutions=2, min_lead_oversupply=0.0).fit(ctx)

    whole, parts = fit(1), fit(3)
    pd.testing.assert_frame_equal(whole.person_stats_, parts.person_stats_)
    assert len(whole.groups_) >= 3, "the comparison needs some leads"
    a = [(g.members, round(g.score, 12), round(g.amount_at_risk, 6), g.summary, g.evidence) for g in whole.groups_]
    b = [(g.members, round(g.score, 12), round(g.amount_at_risk, 6), g.summary, g.evidence) for g in parts.groups_]
    assert a == b
    pd.testing.assert_frame_equal(whole.decision_scores_, parts.decision_scores_)
