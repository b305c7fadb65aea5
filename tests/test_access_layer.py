"""The data layer below the pages (``store/reads.py``), called directly with each
role against the real Neo4j holding a generated city and its findings: role
checks on every write, district and referral scope on every read, masking of
names, 身份证号 and birth dates, the access log naming the real user, named
queries only, capped limits."""
from __future__ import annotations

import os
import uuid

import pandas as pd
import pytest

from test_app_pages import app_city, app_env, load_city  # noqa: F401  (shared city and loader)

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]


def layer(runner, role: str, user: str | None = None, districts=("*",), log=None):
    from ringscope.store.access import Caller
    from ringscope.store.audit import AccessLogger
    from ringscope.store.reads import DataLayer

    return DataLayer(runner, Caller(user or f"u_{role}", role, tuple(districts)),
                     logger=AccessLogger(runner, log) if log else None)


def change(runner, lead_id: str, to_status: str, **over) -> dict:
    cur = runner.read("MATCH (l:Lead {lead_id: $l}) RETURN coalesce(l.status, 'new') AS s, "
                      "coalesce(l.version, 0) AS v, l.assignee AS a, toString(l.deadline) AS d, "
                      "coalesce(l.recovered, 0.0) AS r, l.outcome AS o", {"l": lead_id})[0]
    p = dict(lead_id=lead_id, from_status=cur["s"], to_status=to_status, version=cur["v"], user="someone",
             role="investigator", assignee=cur["a"], deadline=cur["d"], note=None, recovered=cur["r"],
             outcome=cur["o"], action="transition", at="2024-06-01T09:00:00", event_id=uuid.uuid4().hex)
    return p | over


def reset_leads(runner) -> None:
    runner.run("MATCH (l:Lead) SET l.status = 'new', l.version = 0, l.referred = false, l.assignee = null, "
               "l.deadline = null")


def top_lead(runner) -> str:
    return runner.scalar("MATCH (l:Lead)-[:INCLUDES]->(:Person) "
                         "RETURN l.lead_id ORDER BY coalesce(l.rank, 1e9), l.lead_id LIMIT 1")


# ------------------------------------------------------------------------------ writes
@pytest.mark.parametrize("role", ["analyst", "leader", "police_liaison", "admin"])
def test_a_role_without_the_right_cannot_move_a_lead(app_env, role):
    from ringscope.store.access import PermissionDenied

    reset_leads(app_env)
    lid = top_lead(app_env)
    if role == "police_liaison":   # give the liaison a lead it may at least read
        app_env.run("MATCH (l:Lead {lead_id: $l}) SET l.referred = true", {"l": lid})
    n_events = app_env.scalar("MATCH (:Lead {lead_id: $l})-[:HAS_EVENT]->(e) RETURN count(e)", {"l": lid})
    with pytest.raises(PermissionDenied):
        layer(app_env, role).update_lead(change(app_env, lid, "初审"))
    assert app_env.read("MATCH (l:Lead {lead_id: $l}) RETURN l.status AS s, l.version AS v", {"l": lid})[0] == \
        {"s": "new", "v": 0}
    assert app_env.scalar("MATCH (:Lead {lead_id: $l})-[:HAS_EVENT]->(e) RETURN count(e)", {"l": lid}) == n_events


#: each write of the data layer below the pages, and the roles whose policy lacks its right
WRITES = {
    "add_node_note": (["leader", "admin"], "write notes",
                      lambda lay, lid: lay.add_node_note(lid, "lead:" + lid, "a note")),
    "save_view": (["leader", "admin"], "save views",
                  lambda lay, lid: lay.save_view(lid, "a view", {"pinned": []})),
    "draw_inspections": (["analyst", "leader", "police_liaison", "admin"], "draw random inspections",
                         lambda lay, lid: lay.draw_inspections(n=3, seed=1)),
    "record_inspection": (["analyst", "leader", "police_liaison", "admin"], "record inspection results",
                          lambda lay, lid: lay.record_inspection("no-matter", inspected_on="2024-06-01",
                                                                 outcome="无问题")),
    "record_package": (["analyst", "leader", "admin"], "export evidence packages",
                       lambda lay, lid: lay.record_package(lid, "0" * 64, 3)),
}


@pytest.mark.parametrize("method,role", [(m, r) for m, (roles, _, _) in WRITES.items() for r in roles])
def test_a_role_without_the_right_cannot_write_through_the_data_layer(app_env, method, role):
    """Notes, views, inspection draws and results, package records: refused below the pages, and
    nothing written (no node, no relationship, no access-log entry)."""
    from ringscope.store.access import PermissionDenied

    lid = top_lead(app_env)
    if role == "police_liaison":
        app_env.run("MATCH (l:Lead {lead_id: $l}) SET l.referred = true", {"l": lid})
    size = ("MATCH (n) WITH count(n) AS nodes OPTIONAL MATCH ()-[r]->() WITH nodes, count(r) AS rels "
            "RETURN nodes + rels AS size")
    before = app_env.scalar(size)
    _roles, what, call = WRITES[method]
    with pytest.raises(PermissionDenied) as e:
        call(layer(app_env, role), lid)
    if role != "admin":          # the administrator is refused earlier: it reads no leads at all
        assert what in str(e.value), str(e.value)
    assert app_env.scalar(size) == before


def test_investigator_moves_a_lead_and_the_caller_is_recorded(app_env):
    reset_leads(app_env)
    lid = top_lead(app_env)
    rows = layer(app_env, "investigator", "wang.jh").update_lead(
        change(app_env, lid, "初审", user="forged", role="admin"))
    assert rows
    ev = app_env.read("MATCH (e:LeadEvent {event_id: $e}) RETURN e.user AS u, e.role AS r",
                      {"e": rows[0]["event_id"]})[0]
    assert ev == {"u": "wang.jh", "r": "investigator"}   # never what the parameters claimed


def test_leader_assigns_but_cannot_note_or_move(app_env):
    from ringscope.store.access import PermissionDenied

    reset_leads(app_env)
    lid = top_lead(app_env)
    lead = layer(app_env, "leader", "zhao")
    assert lead.update_lead(change(app_env, lid, "new", assignee="li.officer", deadline="2030-01-31",
                                   action="assign"))
    assert app_env.scalar("MATCH (l:Lead {lead_id: $l}) RETURN l.assignee", {"l": lid}) == "li.officer"
    with pytest.raises(PermissionDenied):
        lead.update_lead(change(app_env, lid, "new", note="a note", action="note"))
    with pytest.raises(PermissionDenied):
        lead.update_lead(change(app_env, lid, "new", recovered=100.0, action="update"))
    with pytest.raises(PermissionDenied):   # an analyst may note but not assign
        layer(app_env, "analyst").update_lead(change(app_env, lid, "new", assignee="me", action="assign"))


# ------------------------------------------------------------------------------ scope
def test_police_liaison_sees_only_leads_referred_to_police(app_env):
    from ringscope.store.access import PermissionDenied

    reset_leads(app_env)
    police = layer(app_env, "police_liaison", "chen")
    assert police.lead_queue(limit=500).empty
    leads = app_env.read("MATCH (l:Lead)-[:INCLUDES]->(:Person) RETURN DISTINCT l.lead_id AS id "
                         "ORDER BY id LIMIT 2")
    ref, other = leads[0]["id"], leads[1]["id"]
    inv = layer(app_env, "investigator", "wang")
    for step in ("初审", "复审", "调查核实", "移送公安"):
        assert inv.update_lead(change(app_env, ref, step))
    q = police.lead_queue(limit=500)
    assert q["lead_id"].tolist() == [ref]
    with pytest.raises(PermissionDenied):
        police.lead_detail(other)
    members = police.lead_members(ref)
    person = members[members["entity_type"] == "person"].iloc[0]
    assert "*" not in str(person["name"])            # cleared for names
    assert police.entity_profile("person", person["entity_id"]) is not None
    outsider = app_env.scalar("MATCH (p:Person) WHERE NOT EXISTS { (p)<-[:INCLUDES]-(:Lead {lead_id: $l}) } "
                              "AND NOT EXISTS { (p)<-[:INCLUDES]-(:Lead {referred: true}) } "
                              "RETURN p.person_id LIMIT 1", {"l": ref})
    with pytest.raises(PermissionDenied):
        police.entity_profile("person", outsider)
    with pytest.raises(PermissionDenied):
        police.rule_hits()
    assert police.entity_search("person", "").empty
    # closing the referred lead keeps it visible to the liaison
    assert inv.update_lead(change(app_env, ref, "结案", outcome="confirmed"))
    assert police.lead_queue(limit=500)["lead_id"].tolist() == [ref]
    reset_leads(app_env)


REFERRED = ("MATCH (l:Lead)-[:INCLUDES]->(m) WHERE coalesce(l.status, 'new') = '移送公安' OR coalesce(l.referred, false) "
            "RETURN collect(DISTINCT coalesce(m.person_id, m.physician_id, m.institution_id)) AS ids")


def test_police_liaison_sees_no_outsider_in_neighbours_ties_paths_or_profiles(app_env, tmp_path):
    """The liaison reads neighbours, ties, expansions, paths and profiles of a referred lead's members:
    every person outside the referred leads shows 辖区外 instead of a name, and no lead id, scheme or
    status of a lead never referred to the police appears."""
    from ringscope.store.reads import OUT_OF_SCOPE, clear_cache

    reset_leads(app_env)
    ref = app_env.scalar("MATCH (l:Lead)-[:INCLUDES]->(:Person) WHERE EXISTS { (l)-[:INCLUDES]->(:Institution) } "
                         "AND COUNT { (l)-[:INCLUDES]->(:Person) } >= 2 "
                         "RETURN l.lead_id ORDER BY coalesce(l.rank, 1e9), l.lead_id LIMIT 1")
    inv = layer(app_env, "investigator", "wang")
    for step in ("初审", "复审", "调查核实", "移送公安"):
        assert inv.update_lead(change(app_env, ref, step))
    members = app_env.read("MATCH (:Lead {lead_id: $l})-[:INCLUDES]->(m) RETURN labels(m)[0] AS t, "
                           "coalesce(m.person_id, m.physician_id, m.institution_id) AS id ORDER BY id", {"l": ref})
    persons = [m["id"] for m in members if m["t"] == "Person"]
    inst = next(m["id"] for m in members if m["t"] == "Institution")
    p1 = persons[0]
    p2 = next(q for q in persons[1:] if not app_env.scalar(
        "RETURN EXISTS { (:Person {person_id: $a})-[:FAMILY]-(:Person {person_id: $b}) }", {"a": p1, "b": q}))
    # a non-member tied by family to two members: the shortest path between them runs through that person
    x = app_env.read("MATCH (x:Person) WHERE NOT EXISTS { (x)<-[:INCLUDES]-(:Lead) } AND x.name IS NOT NULL "
                     "RETURN x.person_id AS id, x.name AS name ORDER BY x.person_id LIMIT 1")[0]
    app_env.run("MATCH (a:Person {person_id: $a}), (b:Person {person_id: $b}), (x:Person {person_id: $x}) "
                "MERGE (a)-[:FAMILY {relation: 'sibling', test_tmp: true}]->(x) "
                "MERGE (x)-[:FAMILY {relation: 'sibling', test_tmp: true}]->(b)", {"a": p1, "b": p2, "x": x["id"]})
    # and a face enrolled as that non-member, captured presenting a member's card
    app_env.run("MATCH (a:Person {person_id: $a}), (x:Person {person_id: $x}) "
                "CREATE (c:FaceCapture {capture_id: 'TMP-CAP-1', capture_time: datetime('2024-03-01T10:00:00'), "
                "verdict: 'mismatch', distance: 0.71, test_tmp: true})-[:CLAIMED]->(a), "
                "(c)-[:OF_FACE]->(:FaceIdentity {face_id: 'TMP-FACE-1', n_credentials: 2, test_tmp: true})"
                "-[:ENROLLED_AS]->(x)", {"a": p1, "x": x["id"]})
    clear_cache()
    try:
        inside = set(app_env.scalar(REFERRED))
        names = {r["id"]: r["name"] for r in app_env.read(
            "MATCH (p:Person) WHERE p.name IS NOT NULL RETURN p.person_id AS id, p.name AS name")}
        outsiders = {names[k] for k in names if k not in inside} - {names[k] for k in names if k in inside}
        police = layer(app_env, "police_liaison", "chen", log=tmp_path / "log.jsonl")
        n_blanked = 0

        def check(df, type_col, id_col, name_col):
            nonlocal n_blanked
            for r in df.itertuples(index=False):
                t, i, n = getattr(r, type_col), str(getattr(r, id_col)), getattr(r, name_col)
                if t == "person" and i not in inside:
                    assert n is None or n != n or n == OUT_OF_SCOPE, (t, i, n)
                    n_blanked += n == OUT_OF_SCOPE
                elif t == "person":
                    assert n == names.get(i) or names.get(i) is None, (i, n)   # a referred member: in clear
                if t in ("person", "face"):                  # a face shows the person it is enrolled as
                    assert n not in outsiders, (t, i, n)

        nb = police.entity_neighbours("institution", inst, limit=500)
        check(nb, "entity_type", "entity_id", "name")
        check(police.expand_node("institution", inst, limit=200), "entity_type", "entity_id", "name")
        for pid in (p1, p2):
            check(police.entity_neighbours("person", pid), "entity_type", "entity_id", "name")
            check(police.expand_node("person", pid), "entity_type", "entity_id", "name")
            links = police.entity_links("person", pid)
            check(links, "other_type", "other_id", "other_name")
            leads = links.loc[links["other_type"] == "lead"]
            assert set(leads["other_id"]) == {ref}, leads       # no other lead's id, scheme or status
            assert police.entity_profile("person", pid)["lead_ids"] == [ref]
        path = police.shortest_path(("person", p1), ("person", p2))
        assert x["id"] in set(path["entity_id"]), path
        check(path, "entity_type", "entity_id", "name")
        assert n_blanked > 0 and x["name"] not in set(path["name"].dropna())
        # the ring's family ties: the relative outside the lead shows no name either
        fam = police.ring_rows(ref)["family"]
        tie = fam[fam["related_person_id"] == x["id"]]
        assert len(tie) and set(tie["related_name"]) == {OUT_OF_SCOPE}
        if police.pol.export_evidence:                       # and so does the evidence package's
            fam = police.evidence_rows(ref)["lead_subgraph_family"]
            assert set(fam.loc[fam["related_person_id"] == x["id"], "related_name"]) == {OUT_OF_SCOPE}
        # a face enrolled as that non-member: the id stays, the name does not (ring and package)
        faces = police.ring_rows(ref)["faces"]
        tmp = faces[faces["face_id"] == "TMP-FACE-1"]
        assert len(tmp) and set(tmp["enrolled_person_id"]) == {x["id"]} and set(tmp["enrolled_name"]) == {OUT_OF_SCOPE}
        assert "enrolled_is_member" not in faces.columns and "enrolled_district" not in faces.columns
        if police.pol.export_evidence:
            caps = police.evidence_rows(ref)["lead_face_captures"]
            tmp = caps[caps["capture_id"] == "TMP-CAP-1"]
            assert len(tmp) and set(tmp["enrolled_name"]) == {OUT_OF_SCOPE}, tmp
            assert set(tmp["claimed_name"]) == {names[p1]}                     # the member: in clear
        inv_faces = inv.ring_rows(ref)["faces"]
        assert set(inv_faces.loc[inv_faces["face_id"] == "TMP-FACE-1", "enrolled_name"]) == {x["name"]}
        # the investigator of the whole city sees the same rows in clear
        full = inv.shortest_path(("person", p1), ("person", p2))
        assert x["name"] in set(full["name"].dropna()) and "referred_member" not in full.columns
    finally:
        app_env.run("MATCH ()-[r:FAMILY {test_tmp: true}]->() DELETE r")
        app_env.run("MATCH (n) WHERE (n:FaceCapture OR n:FaceIdentity) AND n.test_tmp = true DETACH DELETE n")
        clear_cache()
        reset_leads(app_env)


def test_district_scope_unnames_a_leads_relatives_outside_it(app_env, tmp_path):
    """A district-scoped investigator opening a lead in scope sees the lead's members, but a relative
    who is no member and lives in another district shows no name, in the ring explorer's family rows
    and in the evidence package; the whole city's investigator sees the name."""
    from ringscope.store.reads import OUT_OF_SCOPE, clear_cache

    row = app_env.read("MATCH (l:Lead)-[:INCLUDES]->(i:Institution) WHERE i.district IS NOT NULL "
                       "MATCH (l)-[:INCLUDES]->(p:Person) "
                       "RETURN l.lead_id AS lead, i.district AS d, p.person_id AS p "
                       "ORDER BY coalesce(l.rank, 1e9), l.lead_id, p.person_id LIMIT 1")[0]
    x = app_env.read("MATCH (x:Person) WHERE x.district IS NOT NULL AND x.district <> $d AND x.name IS NOT NULL "
                     "AND NOT EXISTS { (x)<-[:INCLUDES]-(:Lead {lead_id: $l}) } "
                     "RETURN x.person_id AS id, x.name AS name ORDER BY x.person_id LIMIT 1",
                     {"d": row["d"], "l": row["lead"]})[0]
    app_env.run("MATCH (a:Person {person_id: $a}), (x:Person {person_id: $x}) "
                "MERGE (a)-[:FAMILY {relation: 'sibling', test_tmp: true}]->(x)", {"a": row["p"], "x": x["id"]})
    clear_cache()
    try:
        scoped = layer(app_env, "investigator", "sun", districts=(row["d"],), log=tmp_path / "log.jsonl")
        assert scoped.lead_allowed(row["lead"])
        for fam in (scoped.ring_rows(row["lead"])["family"],
                    scoped.evidence_rows(row["lead"])["lead_subgraph_family"]):
            tie = fam[fam["related_person_id"] == x["id"]]
            assert len(tie) and set(tie["related_name"]) == {OUT_OF_SCOPE}, tie
        full = layer(app_env, "investigator", "wang").ring_rows(row["lead"])["family"]
        assert x["name"] in set(full.loc[full["related_person_id"] == x["id"], "related_name"])
    finally:
        app_env.run("MATCH ()-[r:FAMILY {test_tmp: true}]->() DELETE r")
        clear_cache()


def test_district_scope_keeps_leads_outside_it_out_of_ties_and_profiles(app_env):
    """A district-scoped user's ties and profiles list only leads in that scope (the same check as
    opening the lead)."""
    district = app_env.scalar("MATCH (:Lead)-[:INCLUDES]->(i:Institution) RETURN i.district AS d, count(*) AS c "
                              "ORDER BY c DESC LIMIT 1")
    scoped = layer(app_env, "investigator", "sun", districts=(district,))
    # a physician practising in the district who belongs to leads: ties list only the leads in scope
    rows = app_env.read("MATCH (d:Physician)-[:PRACTISES_AT]->(:Institution {district: $d}) "
                        "MATCH (d)<-[:INCLUDES]-(l:Lead) RETURN d.physician_id AS id, collect(l.lead_id) AS leads "
                        "ORDER BY size(leads) DESC LIMIT 5", {"d": district})
    assert rows
    for r in rows:
        links = scoped.entity_links("physician", r["id"])
        listed = set(links.loc[links["other_type"] == "lead", "other_id"])
        assert listed == {lid for lid in r["leads"] if scoped.lead_allowed(lid)}
        assert set(scoped.entity_profile("physician", r["id"])["lead_ids"]) == listed


def test_entity_search_is_a_logged_view(app_env, tmp_path):
    """The Entity 360 picker's list of names is masked and written to the access log."""
    log = tmp_path / "log.jsonl"
    found = layer(app_env, "analyst", "u_search", log=log).entity_search("person", "", limit=50)
    assert len(found) and found["name"].dropna().str[1:].str.fullmatch(r"\**").all()
    entries = pd.read_json(log, lines=True, dtype=False)
    row = entries[entries["entity"] == "search:person"]
    assert len(row) == 1 and row.iloc[0]["user"] == "u_search" and row.iloc[0]["page"] == "entity_360"
    assert "name" in row.iloc[0]["fields"] and row.iloc[0]["n_records"] == len(found)


def test_notebook_helper_signs_in_and_keeps_the_districts(app_env, monkeypatch):
    """A notebook reads as an account of the users file (password or session token): no account, a
    wrong password or a bad token is refused; a district-scoped analyst's notebook queries list only
    the leads in scope, refuse others, mask names and write the access log -- whatever scope the
    parameters claim."""
    from ringscope.store.access import PermissionDenied
    from ringscope.store.reads import DataLayer
    from ringscope.store.users import UserStore, issue_token

    district = app_env.scalar("MATCH (:Lead)-[:INCLUDES]->(i:Institution) RETURN i.district AS d, count(*) AS c "
                              "ORDER BY c DESC LIMIT 1")
    store = UserStore()
    store.add("nb.sun", "analyst", [district], "nb-password-1")
    for env in ("RINGSCOPE_NB_USER", "RINGSCOPE_NB_PASSWORD", "RINGSCOPE_NB_TOKEN"):
        monkeypatch.delenv(env, raising=False)
    with pytest.raises(PermissionDenied) as e:
        DataLayer.for_notebook(app_env, "nobody.here", password="nb-password-1")
    assert "没有可用的系统账号" in str(e.value)
    with pytest.raises(PermissionDenied):
        DataLayer.for_notebook(app_env, "nb.sun", password="wrong-password")
    with pytest.raises(PermissionDenied):
        DataLayer.for_notebook(app_env, "nb.sun")                 # no password: refused, never a default role
    with pytest.raises(PermissionDenied):
        DataLayer.for_notebook(app_env, token="forged-token")
    monkeypatch.setenv("RINGSCOPE_NB_USER", "nb.sun")
    monkeypatch.setenv("RINGSCOPE_NB_PASSWORD", "nb-password-1")
    lay = DataLayer.for_notebook(app_env)
    assert (lay.caller.user, lay.caller.role, lay.caller.districts) == ("nb.sun", "analyst", (district,))
    assert DataLayer.for_notebook(app_env, token=issue_token(store.get("nb.sun"))).caller == lay.caller

    mine = lay.notebook("ring_top_leads", lead_id=None, limit=5000)
    in_scope = set(layer(app_env, "analyst", districts=(district,)).lead_queue(limit=2000)["lead_id"])
    every = set(layer(app_env, "analyst").lead_queue(limit=2000)["lead_id"])
    assert set(mine["lead_id"]) == in_scope and 0 < len(in_scope) < len(every)
    forged = lay.notebook("ring_top_leads", lead_id=None, limit=5000, districts=None, referred_only=False)
    assert set(forged["lead_id"]) == in_scope                    # the caller's scope, whatever params say
    outside = sorted(every - in_scope)[0]
    for name, extra in (("ring_members", {}), ("ring_visits", {"limit": 10}), ("ring_top_leads", {"limit": 1})):
        with pytest.raises(PermissionDenied):
            lay.notebook(name, lead_id=outside, **extra)
    lead = mine.loc[mine["n_persons"] > 0, "lead_id"].iloc[0]
    members = lay.notebook("ring_members", lead_id=lead)
    names = members.loc[members["entity_type"] == "person", "name"].dropna()
    assert len(names) and names.str[1:].str.fullmatch(r"\**").all()
    overview = lay.notebook("findings_overview", min_risk=0.0)
    assert int(overview.iloc[0]["n_leads"]) <= len(in_scope)
    log = pd.read_json(os.environ["RINGSCOPE_ACCESS_LOG"], lines=True, dtype=False)
    mine_log = log[log["user"] == "nb.sun"]
    assert (mine_log["page"] == "notebook:ring_members").any() and set(mine_log["role"]) == {"analyst"}


def test_district_scope_on_leads_entities_and_lists(app_env):
    from ringscope.store.access import PermissionDenied

    district = app_env.scalar("MATCH (:Lead)-[:INCLUDES]->(i:Institution) RETURN i.district AS d, count(*) AS c "
                              "ORDER BY c DESC LIMIT 1")
    scoped = layer(app_env, "investigator", "sun", districts=(district,))
    whole = layer(app_env, "investigator", "wang")
    mine = scoped.lead_queue(limit=2000)
    everyone = whole.lead_queue(limit=2000)
    assert 0 < len(mine) < len(everyone)
    for lid in mine["lead_id"]:
        ds = app_env.scalar("MATCH (l:Lead {lead_id: $l}) RETURN [(l)-[:INCLUDES]->(m) | m.district] + "
                            "[(l)-[:INCLUDES]->(:Physician)-[:PRACTISES_AT]->(i) | i.district]", {"l": lid})
        assert district in ds
    outside = sorted(set(everyone["lead_id"]) - set(mine["lead_id"]))[0]
    with pytest.raises(PermissionDenied):
        scoped.lead_members(outside)
    far = app_env.scalar("MATCH (p:Person) WHERE p.district <> $d RETURN p.person_id LIMIT 1", {"d": district})
    with pytest.raises(PermissionDenied):
        scoped.entity_profile("person", far)
    found = scoped.entity_search("person", "", limit=200)
    assert len(found) and set(found["district"]) == {district}
    hits = scoped.rule_hits(limit=200)
    assert len(hits) and set(hits["district"].dropna()) <= {district}
    assert scoped.briefing()["leads"]["lead_id"].isin(mine["lead_id"]).all()


# ------------------------------------------------------------------------------ masking and the log
@pytest.mark.parametrize("role,clear", [("investigator", True), ("analyst", False), ("leader", False)])
def test_masking_in_the_data_layer(app_env, tmp_path, role, clear):
    from ringscope.store.audit import verify_log

    log = tmp_path / "log.jsonl"
    user = f"user_{role}_{uuid.uuid4().hex[:4]}"
    lay = layer(app_env, role, user, log=log)
    p = app_env.read("MATCH (p:Person)<-[:INCLUDES]-(:Lead) WHERE p.name IS NOT NULL AND p.id_number IS NOT NULL "
                     "RETURN p.person_id AS id, p.name AS name, p.id_number AS idn, toString(p.birth_date) AS bd "
                     "LIMIT 1")[0]
    prof = lay.entity_profile("person", p["id"])["props"]
    if clear:
        assert (prof["name"], prof["id_number"], prof["birth_date"]) == (p["name"], p["idn"], p["bd"])
    else:
        assert prof["name"] == p["name"][0] + "*" * (len(p["name"]) - 1)
        assert prof["id_number"][:3] == p["idn"][:3] and p["idn"][6:14] not in prof["id_number"]
        assert prof["birth_date"] == p["bd"][:4] + "-**-**"
    lid = app_env.scalar("MATCH (l:Lead)-[:INCLUDES]->(:Person {person_id: $p}) RETURN l.lead_id LIMIT 1",
                         {"p": p["id"]})
    members = lay.lead_members(lid)
    names = members.loc[members["entity_type"] == "person", "name"].dropna()
    assert names.str[1:].str.fullmatch(r"\**").all() != clear
    csv = lay.export_csv(members, page="leads", entity=f"lead:{lid}:members")
    assert (p["idn"].encode() in csv) == (clear and p["id"] in set(members["entity_id"]))
    log_df = pd.read_json(log, lines=True, dtype=False)
    assert set(log_df["user"]) == {user} and set(log_df["role"]) == {role}
    assert {"view", "export"} <= set(log_df["action"])
    assert (log_df["entity"] == f"person:{p['id']}").any()
    v = verify_log(log, runner=app_env)
    assert v.ok and v.head_checked and v.head_seq == len(log_df), v.summary()


def test_exports_need_the_right(app_env):
    from ringscope.store.access import PermissionDenied

    lid = top_lead(app_env)
    for role in ("analyst", "leader", "admin"):
        with pytest.raises(PermissionDenied):
            layer(app_env, role).evidence_rows(lid)
    rows = layer(app_env, "investigator").evidence_rows(lid, limit=1000)
    assert {"lead_members", "lead_visits", "lead_claim_lines", "lead_face_captures"} <= set(rows)
    assert len(rows["lead_claim_lines"]) > 0


# ------------------------------------------------------------------------------ queries
def test_only_named_queries_run_and_limits_are_capped(app_env):
    from ringscope.store.reads import MAX_LIMIT, PAGE_LIMIT, clamp

    with pytest.raises(KeyError):
        app_env.run("lead_detail", {"lead_id": "x"})          # a name that is not a file: refused, never run
    with pytest.raises(KeyError):
        app_env.run_named("MATCH (n) DETACH DELETE n")
    with pytest.raises(KeyError):
        app_env.run_named("app/../load/persons")
    assert app_env.scalar("MATCH (n) RETURN count(n)") > 0      # nothing was deleted
    lay = layer(app_env, "investigator")
    with pytest.raises(KeyError):
        lay._q("lead_detail\nMATCH (n) DETACH DELETE n", lead_id="x")
    assert len(lay.rule_hits(limit=10 ** 9)) <= PAGE_LIMIT
    assert len(lay.lead_queue(limit=10 ** 9)) <= PAGE_LIMIT
    assert clamp(10 ** 12) == MAX_LIMIT and clamp(-3) == 0
    assert not lay.lead_allowed("no-such-lead")


def test_face_images_are_pixelated_for_masked_roles_and_logged(tmp_path):
    """Face images pass through the data layer: clear for cleared roles, pixelated
    otherwise, only from inside the dataset, every one logged with the real user."""
    import io

    import numpy as np
    from PIL import Image

    from ringscope.store.access import Caller
    from ringscope.store.audit import AccessLogger
    from ringscope.store.reads import DataLayer

    ds = tmp_path / "city"
    (ds / "faces").mkdir(parents=True)
    arr = np.random.default_rng(0).integers(0, 255, size=(96, 80, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    (ds / "faces" / "c1.png").write_bytes(buf.getvalue())
    (tmp_path / "secret.png").write_bytes(buf.getvalue())
    log = tmp_path / "log.jsonl"
    for role, clear in (("investigator", True), ("analyst", False)):
        lay = DataLayer(None, Caller(f"u_{role}", role), logger=AccessLogger(None, log))
        img = lay.face_image("faces/c1.png", ds, page="faces", entity="capture:c1")
        assert (img == buf.getvalue()) == clear
        if not clear:
            out = np.asarray(Image.open(io.BytesIO(img)))
            assert np.abs(np.diff(out.astype(int), axis=1)).mean() < 0.2 * np.abs(np.diff(arr.astype(int), axis=1)).mean()
        assert lay.face_image("../secret.png", ds, page="faces", entity="x") is None   # outside the dataset
    log_df = pd.read_json(log, lines=True, dtype=False)
    assert log_df["user"].tolist() == ["u_investigator", "u_analyst"]
    assert log_df["fields"].tolist() == [["face"], ["face"]] and log_df["masked"].tolist() == [False, True]


def test_simultaneous_transitions_let_exactly_one_through(app_env):
    """Eight officers move the same lead at the same moment, each from the state and
    version they saw: exactly one transition lands, the others are refused (no lost update)."""
    import threading

    from ringscope.settings import neo4j_settings
    from ringscope.store.db import QueryRunner

    reset_leads(app_env)
    lid = top_lead(app_env)
    base = change(app_env, lid, "初审")
    barrier, results = threading.Barrier(8), []

    def officer(i):
        with QueryRunner(neo4j_settings()) as r:
            lay = layer(r, "investigator", f"officer{i}")
            barrier.wait()
            results.append(lay.update_lead(base | {"event_id": uuid.uuid4().hex}))

    threads = [threading.Thread(target=officer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sum(1 for r in results if r) == 1, results
    row = app_env.read("MATCH (l:Lead {lead_id: $l}) RETURN l.status AS s, l.version AS v, "
                       "COUNT { (l)-[:HAS_EVENT]->(:LeadEvent {action: 'transition', from_status: 'new'}) } AS n, "
                       "l._lock AS lock", {"l": lid})[0]
    assert (row["s"], row["v"], row["lock"]) == ("初审", 1, None)
    reset_leads(app_env)
