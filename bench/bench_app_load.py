"""The app under several users at once: page times and disposals.

    source .wtenv; .venv/bin/ringscope neo4j start        # with a city detected into it
    .venv/bin/python bench/bench_app_load.py --users 1 10 30 [--rounds 2] [--timeout 600]

N simultaneous sessions, each Streamlit's own ``AppTest`` in a process of its
own (``AppTest`` is not thread-safe: sessions in threads share its test
state), forked from one parent that imported the app, bounded in count (at
most 30) and time (``--timeout``). Each process has its own caches and Neo4j
driver, so every session starts cold -- a harsher case than one ``streamlit
run`` server, whose sessions share the caches. Each session signs in as its own investigator and walks the
main pages -- Briefing, Leads, Ring explorer, Entity 360, Rule hits -- then
makes two disposals on the Leads page:

- a note on a lead: session i takes lead 1 + i mod (leads - 1), its own
  only while there are more leads than sessions; with more sessions (30 users
  on a small city) several share one. A note carries the lead version its
  session read, so on a shared lead a note sent just after another session
  changed that lead is *refused* by the version check and the user told so (counted
  as refused: the optimistic lock working, not a lost note). What must hold is
  that every note the app reports saved is in Neo4j exactly once (lost: reported
  but absent; doubled: present more often than reported) -- not that every
  note lands; and
- the same transition (new → 初审) of one shared lead, all sessions at once
  (optimistic locking must let exactly one through and refuse the rest).

Reports p50/p95 page times per number of users, the notes saved and refused,
and checks that no disposal was lost or doubled (LeadEvents counted in Neo4j). Writes JSON lines to
stdout and a Markdown table to stderr. The sessions' users are created in a
temporary users file; the sessions' access log is a temporary file.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import multiprocessing as mp
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "app" / "streamlit_app.py"
PAGES = ["briefing", "leads", "ring_explorer", "entity_360", "rule_hits"]
MAX_USERS = 30


def p(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def session(i: int, token: str, note_lead: str, shared_lead: str, barrier, deadline: float, queue) -> None:
    """One user's walk through the pages and two disposals; results go to ``queue``."""
    times: dict = {}
    outcomes: dict = {}
    try:
        _session(i, token, note_lead, shared_lead, barrier, times, outcomes, deadline)
    except Exception as exc:  # noqa: BLE001  (reported, never hidden)
        outcomes.setdefault("errors", []).append(f"{type(exc).__name__}: {exc}")
    queue.put((times, outcomes))


def _session(i, token, note_lead, shared_lead, barrier, times, outcomes, deadline) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=max(30.0, deadline - time.time()))
    at.session_state["_token"] = token
    t0 = time.perf_counter()
    at.run()
    times.setdefault("briefing", []).append(time.perf_counter() - t0)
    for page in PAGES[1:]:
        if time.time() > deadline:
            return
        state = {"lead_id": note_lead} if page in ("leads", "ring_explorer") else {}
        for k, v in state.items():
            at.session_state[k] = v
        t0 = time.perf_counter()
        at.switch_page(f"pages/{page}.py").run()
        times.setdefault(page, []).append(time.perf_counter() - t0)
        if at.exception:
            outcomes.setdefault("errors", []).append(f"{page}: {at.exception[0].value}")
    # disposal 1: a note on this session's lead
    at.session_state["lead_id"] = note_lead
    at.switch_page("pages/leads.py").run()
    at.text_area(key="lq_note").input(f"load note {i}")
    t0 = time.perf_counter()
    [b for b in at.button if b.label == "提交"][0].click().run()
    times.setdefault("disposal", []).append(time.perf_counter() - t0)
    # a note on a lead another session changed a moment ago is refused and the user told so (optimistic lock)
    outcomes.setdefault("note_refused" if at.error else "notes", []).append(i)
    # disposal 2: every session moves the shared lead at once
    at.session_state["lead_id"] = shared_lead
    at.switch_page("pages/leads.py").run()
    at.selectbox(key="lq_to_status").set_value("初审")
    barrier.wait(timeout=max(1.0, deadline - time.time()))
    [b for b in at.button if b.label == "提交"][0].click().run()
    errs = [e.value for e in at.error]
    outcomes.setdefault("transition_refused" if errs else "transition_ok", []).append(i)


def run(n_users: int, rounds: int, timeout: float) -> dict:
    from ringscope.settings import neo4j_settings
    from ringscope.store.db import QueryRunner
    from ringscope.store.reads import clear_cache
    from ringscope.store.users import UserStore, issue_token

    n_users = min(n_users, MAX_USERS)
    with QueryRunner(neo4j_settings()) as q:
        leads = [r["l"] for r in q.read("MATCH (l:Lead)-[:INCLUDES]->(:Person) RETURN DISTINCT l.lead_id AS l "
                                        "ORDER BY l")]
        if len(leads) < 2:
            raise SystemExit("the database needs leads: run `ringscope detect` on a city first")
        shared = leads[0]
        store = UserStore()
        tokens = []
        for i in range(n_users):
            name = f"load{i:02d}"
            u = store.get(name) or store.add(name, "investigator", ["*"], "load-test-pass")
            tokens.append(issue_token(u))
        times: dict = {}
        outcomes: dict = {}
        wall = 0.0
        lost = doubled = 0
        for r in range(rounds):
            q.run("MATCH (l:Lead {lead_id: $l}) SET l.status = 'new', l.version = 0", {"l": shared})
            clear_cache()
            before = q.scalar("MATCH (:Lead)-[:HAS_EVENT]->(e:LeadEvent) WHERE e.note STARTS WITH 'load note' "
                              "RETURN count(e)")
            before_t = q.scalar("MATCH (:Lead {lead_id: $l})-[:HAS_EVENT]->(e:LeadEvent {action: 'transition'}) "
                                "RETURN count(e)", {"l": shared})
            ctx = mp.get_context("fork")
            barrier, queue = ctx.Barrier(n_users), ctx.Queue()
            out: dict = {}
            deadline = time.time() + timeout
            procs = [ctx.Process(target=session, args=(i, tokens[i], leads[1 + i % (len(leads) - 1)], shared,
                                                       barrier, deadline, queue), daemon=True)
                     for i in range(n_users)]
            t0 = time.perf_counter()
            for pr in procs:
                pr.start()
            got = 0
            while got < n_users and time.time() < deadline + 5:
                try:
                    t_, o_ = queue.get(timeout=max(1.0, deadline + 5 - time.time()))
                except Exception:  # noqa: BLE001  (queue.Empty: the time bound)
                    break
                got += 1
                for k, v in t_.items():
                    times.setdefault(k, []).extend(v)
                for k, v in o_.items():
                    out.setdefault(k, []).extend(v)
            for pr in procs:
                pr.join(5)
                if pr.is_alive():
                    pr.kill()
            wall += time.perf_counter() - t0
            if got < n_users:
                out.setdefault("errors", []).append(f"{n_users - got} sessions did not finish within {timeout:.0f}s")
            after = q.scalar("MATCH (:Lead)-[:HAS_EVENT]->(e:LeadEvent) WHERE e.note STARTS WITH 'load note' "
                             "RETURN count(e)")
            after_t = q.scalar("MATCH (:Lead {lead_id: $l})-[:HAS_EVENT]->(e:LeadEvent {action: 'transition'}) "
                               "RETURN count(e)", {"l": shared})
            notes = len(out.get("notes", []))
            lost += max(0, notes - (after - before))
            # the shared lead: exactly one transition must land per round
            doubled += max(0, (after - before) - notes) + max(0, (after_t - before_t) - 1)
            lost += 1 if (after_t - before_t) == 0 else 0
            for k, v in out.items():
                outcomes.setdefault(k, []).extend(v)
            q.run("MATCH (e:LeadEvent) WHERE e.note STARTS WITH 'load note' DETACH DELETE e")
            q.run("MATCH (l:Lead {lead_id: $l})-[:HAS_EVENT]->(e:LeadEvent {action: 'transition'}) "
                  "WHERE e.user STARTS WITH 'load' DETACH DELETE e", {"l": shared})
            q.run("MATCH (l:Lead {lead_id: $l}) SET l.status = 'new', l.version = 0, l.assignee = null, "
                  "l.deadline = null", {"l": shared})
    allp = [x for k, v in times.items() if k != "disposal" for x in v]
    return {
        "users": n_users, "rounds": rounds, "page_loads": len(allp),
        "p50_s": round(p(allp, 0.5), 3), "p95_s": round(p(allp, 0.95), 3),
        "per_page_p50_s": {k: round(p(v, 0.5), 3) for k, v in times.items()},
        "per_page_p95_s": {k: round(p(v, 0.95), 3) for k, v in times.items()},
        "disposal_p50_s": round(p(times.get("disposal", []), 0.5), 3),
        "disposal_p95_s": round(p(times.get("disposal", []), 0.95), 3),
        "notes": len(outcomes.get("notes", [])), "notes_refused": len(outcomes.get("note_refused", [])),
        "transitions_ok": len(outcomes.get("transition_ok", [])),
        "transitions_refused": len(outcomes.get("transition_refused", [])),
        "lost": lost, "doubled": doubled, "errors": outcomes.get("errors", [])[:5], "wall_s": round(wall, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, nargs="+", default=[1, 10, 30])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=600, help="seconds one round may take")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ringscope-load-"))
    os.environ.setdefault("RINGSCOPE_USERS", str(tmp / "users.json"))
    os.environ.setdefault("RINGSCOPE_ACCESS_LOG", str(tmp / "access_log.jsonl"))
    os.environ.setdefault("RINGSCOPE_BCRYPT_ROUNDS", "4")
    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)
    # import the app's heavy modules once, before forking the sessions
    import plotly.graph_objects  # noqa: F401
    import streamlit.testing.v1  # noqa: F401

    import ringscope.app.graphview  # noqa: F401
    import ringscope.app.i18n  # noqa: F401
    rows = []
    for n in a.users:
        r = run(n, a.rounds, a.timeout)
        print(json.dumps(r, ensure_ascii=False), flush=True)
        rows.append(r)
    print("\n| users | page loads | p50 page (s) | p95 page (s) | p95 disposal (s) | notes landed / refused | "
          "concurrent transition: ok / refused | lost | doubled |", file=sys.stderr)
    print("|---|---|---|---|---|---|---|---|---|", file=sys.stderr)
    for r in rows:
        print(f"| {r['users']} | {r['page_loads']} | {r['p50_s']:.2f} | {r['p95_s']:.2f} | {r['disposal_p95_s']:.2f} | "
              f"{r['notes']} / {r['notes_refused']} | {r['transitions_ok']} / {r['transitions_refused']} | {r['lost']} | {r['doubled']} |",
              file=sys.stderr)
    return 0 if all(r["lost"] == 0 and r["doubled"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
