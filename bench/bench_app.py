"""Page load times of the investigation app, against its own Cypher as the peer.

For every page: the time ``AppTest`` takes to run the page (a fresh session;
cold = caches cleared, warm = second run with Streamlit's caches filled),
beside the time of the page's raw Cypher queries alone (the same queries and
parameters, run once through the QueryRunner without any cache). The ratio
cold / raw is the cost of the app on top of the database.

Usage (the database must hold a city and its findings, e.g. after
``ringscope demo --no-app`` or ``ringscope detect CITY --out RESULTS``)::

    .venv/bin/python bench/bench_app.py [--repeat 3] [--load CITY --results DIR]

``--load`` empties the configured database and runs detection on CITY first.
Output: markdown rows for ``bench/RESULTS.md``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "app" / "streamlit_app.py"


def page_queries(runner) -> tuple[dict[str, list[tuple[str, dict]]], dict[str, dict]]:
    """The queries each page runs on its first load, and the session state it starts with."""
    lead = runner.scalar("MATCH (l:Lead)-[:INCLUDES]->(:Person) "
                         "RETURN l.lead_id ORDER BY coalesce(l.rank, 1e9), l.lead_id LIMIT 1")
    big = runner.scalar("MATCH (l:Lead)-[r:INCLUDES]->() WITH l, count(r) AS n "
                        "RETURN l.lead_id ORDER BY n DESC LIMIT 1")
    resale = runner.scalar("MATCH (l:Lead {scheme: 'drug_resale'}) "
                           "RETURN l.lead_id ORDER BY coalesce(l.rank, 1e9), l.lead_id LIMIT 1") or lead
    pid = runner.scalar("MATCH (p:Person) RETURN p.person_id ORDER BY coalesce(p.risk_score, 0) DESC LIMIT 1")
    inst = runner.scalar("MATCH (i:Institution) RETURN i.institution_id "
                         "ORDER BY coalesce(i.risk_score, 0) DESC LIMIT 1")
    queue = dict(schemes=[], statuses=[], min_score=0.0, min_amount=0.0, assignee=None, district=None,
                 skip=0, limit=500, districts=None, referred_only=False)
    scope = {"districts": None, "referred_only": False}
    nd = {"districts": None}
    ent = lambda t, i: {"entity_type": t, "entity_id": i}  # noqa: E731
    ring = lambda lid: [("lead_queue", queue), ("scope_lead", {"lead_id": lid}),  # noqa: E731
                        ("lead_detail", {"lead_id": lid}), ("node_notes", {"lead_id": lid}),
                        ("lead_members", {"lead_id": lid}),
                        ("lead_subgraph_visits", {"lead_id": lid, "limit": 50_000}),
                        ("lead_subgraph_faces", {"lead_id": lid, "limit": 50_000}),
                        ("lead_subgraph_family", {"lead_id": lid, "limit": 50_000}),
                        ("lead_rule_hits", {"lead_id": lid, "limit": 2000}),
                        ("lead_pack_paths", {"lead_id": lid, "limit": 2000})]
    q = {
        "briefing": [("briefing_leads", scope), ("briefing_rule_hits_monthly", nd), ("briefing_fund_monthly", nd),
                     ("briefing_officers", {**scope, "today": "2030-01-01"}), ("briefing_events", scope)],
        "leads": [("lead_facets", scope), ("lead_queue", {**queue, "limit": 100}), ("scope_lead", {"lead_id": lead}),
                  ("lead_detail", {"lead_id": lead}),
                  ("lead_members", {"lead_id": lead}), ("lead_events", {"lead_id": lead})],
        "ring_explorer": ring(lead),
        "ring_explorer (largest lead)": ring(big),
        "ring_explorer (resale lead)": ring(resale),
        "entity_360 (person)": [("entity_search", {"entity_type": "person", "q": "", "by_name": True, "limit": 200,
                                                    **nd}), ("scope_entity", ent("person", pid)),
                                ("entity_profile", ent("person", pid)),
                                ("entity_rule_hits", {**ent("person", pid), "limit": 1000}),
                                ("entity_neighbours", {**ent("person", pid), "limit": 200}),
                                ("entity_links", {**ent("person", pid), "limit": 500}),
                                ("entity_history", ent("person", pid))],
        "entity_360 (institution)": [
            ("entity_search", {"entity_type": "institution", "q": "", "by_name": True, "limit": 200, **nd}),
            ("scope_entity", ent("institution", inst)),
            ("entity_profile", ent("institution", inst)),
            ("entity_rule_hits", {**ent("institution", inst), "limit": 1000}),
            ("entity_neighbours", {**ent("institution", inst), "limit": 200}),
            ("entity_links", {**ent("institution", inst), "limit": 500}),
            ("entity_history", ent("institution", inst)),
            ("credit_inputs", ent("institution", inst)),
            ("credit_inputs", {"entity_type": "institution", "entity_id": None})],
        "rule_hits": [("rule_hit_facets", nd),
                      ("rule_hits_browse", {"rule_ids": [], "severities": [], "entity_type": None,
                                            "entity_id": None, "month_from": None, "month_to": None,
                                            "min_amount": 0.0, "skip": 0, "limit": 200, **nd})],
        "faces": [("faces_summary", nd),
                  ("faces_captures", {"verdicts": ["mismatch"], "institution_id": None, "person_id": None,
                                      "face_id": None, "min_distance": 0.0, "skip": 0, "limit": 50, **nd})],
        "evidence": [("lead_queue", queue), ("lead_detail", {"lead_id": lead})],
    }
    state = {
        "ring_explorer": {"lead_id": lead}, "ring_explorer (largest lead)": {"lead_id": big},
        "ring_explorer (resale lead)": {"lead_id": resale},
        "leads": {"lead_id": lead}, "evidence": {"lead_id": lead},
        "entity_360 (person)": {"entity": ("person", pid)},
        "entity_360 (institution)": {"entity": ("institution", inst)},
    }
    return q, state


def page_file(label: str) -> str:
    return label.split(" ")[0]


def time_apptest(label: str, state: dict) -> tuple[float, float]:
    """(cold, warm) seconds for AppTest to render the page."""
    from streamlit.testing.v1 import AppTest

    from ringscope.store.reads import clear_cache
    from ringscope.store.users import UserStore, issue_token

    store = UserStore()
    u = store.get("bench") or store.add("bench", "investigator", ["*"], "bench-password")
    clear_cache()
    out = []
    for _ in range(2):
        at = AppTest.from_file(str(APP), default_timeout=600)
        at.session_state["_token"] = issue_token(u)
        for k, v in state.items():
            at.session_state[k] = v
        at.run()
        t0 = time.perf_counter()
        if page_file(label) != "briefing":
            at.switch_page(f"pages/{page_file(label)}.py")
        at.run()
        out.append(time.perf_counter() - t0)
        if at.exception:
            raise RuntimeError(f"{label}: {at.exception[0].value}")
    return out[0], out[1]


def time_raw(runner, queries: list[tuple[str, dict]]) -> float:
    t0 = time.perf_counter()
    for name, params in queries:
        runner.run_named(f"app/{name}", params)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--load", help="dataset to detect into the (emptied) database first")
    ap.add_argument("--results", help="results dir for --load")
    a = ap.parse_args(argv)

    import os
    import tempfile

    from ringscope.store.db import QueryRunner

    tmp = Path(tempfile.mkdtemp())
    os.environ.setdefault("RINGSCOPE_ACCESS_LOG", str(tmp / "access_log.jsonl"))
    os.environ.setdefault("RINGSCOPE_USERS", str(tmp / "users.json"))
    os.environ.setdefault("RINGSCOPE_BCRYPT_ROUNDS", "4")
    runner = QueryRunner()
    if a.load:
        from ringscope.store.load import apply_schema
        from ringscope.store.server import reset_database
        from ringscope.pipeline import detect

        reset_database(runner)
        apply_schema(runner)
        detect(a.load, a.results or tempfile.mkdtemp(), neo4j=True, runner=runner)
    counts = runner.read("MATCH (n) WHERE n:Person OR n:Visit OR n:Lead OR n:RuleHit "
                         "RETURN labels(n)[0] AS label, count(*) AS n ORDER BY label")
    print("database: " + ", ".join(f"{r['n']} {r['label']}" for r in counts), file=sys.stderr)
    queries, state = page_queries(runner)
    print("| page | AppTest cold (s) | AppTest warm (s) | raw Cypher (s) | cold / raw |")
    print("|---|---:|---:|---:|---:|")
    for label, qs in queries.items():
        raw = statistics.median(time_raw(runner, qs) for _ in range(a.repeat))
        runs = [time_apptest(label, state.get(label, {})) for _ in range(a.repeat)]
        cold = statistics.median(r[0] for r in runs)
        warm = statistics.median(r[1] for r in runs)
        print(f"| {label} | {cold:.2f} | {warm:.2f} | {raw:.3f} | {cold / max(raw, 1e-6):.1f}× |", flush=True)
    runner.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
