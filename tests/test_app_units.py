"""The app's pure parts: roles and masking, the disposal workflow, credit
ratings, the evidence package (with its Chinese documents), the PDF briefing
and its periods, the Chinese labels, and the ring drawing (with a 1,000-node
ring). No database needed here; the pages themselves are tested against the
real Neo4j in ``test_app_pages.py``, the data layer in ``test_access_layer.py``
and the access log in ``test_audit_log.py``."""
from __future__ import annotations

import io
import json
import time
import zipfile

import numpy as np
import pandas as pd
import pytest

from ringscope.app import access, credit, evidence, graphview, workflow
from ringscope.app import i18n
from ringscope.app.briefing_pdf import BriefingData, all_months, build_briefing_pdf, summarise, summarise_leads


# ------------------------------------------------------------------------------ access
@pytest.mark.parametrize("role,clear", [("investigator", True), ("police_liaison", True),
                                        ("analyst", False), ("leader", False)])
def test_mask_frame_per_role(role, clear):
    df = pd.DataFrame({"entity_type": ["person", "physician"], "entity_id": ["P1", "D1"],
                       "name": ["张三丰", "李医生"], "id_number": ["110101199003071234", None],
                       "score": [0.9, 0.2]})
    out = access.mask_frame(df, role, person_only_col="entity_type")
    assert out.loc[0, "name"] == ("张三丰" if clear else "张**")
    assert out.loc[0, "id_number"] == ("110101199003071234" if clear else "110***********1234")
    assert out.loc[1, "name"] == "李医生"  # a physician's registered name is not an insured person's data
    assert out["score"].tolist() == [0.9, 0.2]
    assert df.loc[0, "name"] == "张三丰"  # the input is untouched


@pytest.mark.parametrize("role", ["analyst", "leader"])
def test_drug_institution_and_physician_names_are_not_masked(role):
    """Columns ending in ``_name`` that name a drug, an institution, a physician or a rule are public
    registration or catalogue data: a masked role sees them whole (a claim line's drug masked to
    "阿*****" hid what the evidence is about), while persons' names stay masked."""
    df = pd.DataFrame({"person_name": ["张三丰"], "related_name": ["李四"], "item_name": ["阿莫西林胶囊"],
                       "institution_name": ["太原市第一人民医院"], "physician_name": ["王医生"],
                       "rule_name": ["超限价"]})
    out = access.mask_frame(df, role)
    assert out.loc[0, "person_name"] == "张**" and out.loc[0, "related_name"] == "李*"
    assert out.loc[0, ["item_name", "institution_name", "physician_name", "rule_name"]].tolist() == [
        "阿莫西林胶囊", "太原市第一人民医院", "王医生", "超限价"]


def test_masked_id_keeps_no_birth_date():
    masked = access.mask_id_number("11010119900307123X")
    assert "19900307" not in masked and masked.endswith("123X") and len(masked) == 18


@pytest.mark.parametrize("role,clear", [("investigator", True), ("analyst", False), ("leader", False)])
def test_birth_dates_are_masked_with_names(role, clear):
    df = pd.DataFrame({"name": ["王五"], "birth_date": ["1975-11-23"], "claimed_birth_date": ["1980-01-02"]})
    out = access.mask_frame(df, role)
    assert out.loc[0, "birth_date"] == ("1975-11-23" if clear else "1975-**-**")
    assert out.loc[0, "claimed_birth_date"] == ("1980-01-02" if clear else "1980-**-**")


def test_policy_matrix_and_unknown_role():
    assert [r for r in access.ROLES if access.policy(r).export_evidence] == ["investigator", "police_liaison"]
    assert [r for r in access.ROLES if access.policy(r).edit_status] == ["investigator"]
    assert access.policy("leader").assign and not access.policy("leader").add_notes
    assert access.policy("police_liaison").referred_only and not access.policy("police_liaison").browse_all
    assert access.policy("admin").audit and not access.policy("admin").read_cases
    with pytest.raises(KeyError):
        access.policy("root")


def test_pixelate_destroys_detail():
    from PIL import Image

    rng = np.random.default_rng(0)
    arr = rng.integers(0, 255, size=(120, 100, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    out = np.asarray(Image.open(io.BytesIO(access.pixelate_image(buf.getvalue()))))
    assert out.shape == arr.shape
    # high-frequency content gone: neighbouring pixels nearly equal
    assert np.abs(np.diff(out.astype(int), axis=1)).mean() < 0.1 * np.abs(np.diff(arr.astype(int), axis=1)).mean()


# ------------------------------------------------------------------------------ workflow
def test_workflow_transitions():
    workflow.check_transition("new", "初审")
    workflow.check_transition("调查核实", "移送公安")
    workflow.check_transition("复审", "复审")  # staying put (a note) is fine
    with pytest.raises(ValueError, match="cannot move"):
        workflow.check_transition("new", "结案")
    with pytest.raises(ValueError):
        workflow.check_transition("结案", "初审")
    change = workflow.LeadChange("L1", "调查核实", "结案", 3, "wang", "investigator", "wang", None, "done",
                                 5000.0, None, "transition", "2024-05-01T10:00:00", "e1")
    with pytest.raises(ValueError, match="outcome"):
        change.params()
    change.outcome = "confirmed"
    p = change.params()
    assert p["to_status"] == "结案" and p["version"] == 3 and p["deadline"] is None


# ------------------------------------------------------------------------------ credit
def test_institution_credit_grades_and_blacklist():
    """Grades come from outcomes (confirmed leads, closed fraud cases); machine hits, open leads
    and referrals only raise a warning (issue 13: 16 of 59 institutions were graded D from
    unreviewed hits)."""
    df = pd.DataFrame({
        "entity_id": ["H1", "H2", "H3", "H4", "H5"],
        "hits_high": [0, 20, 0, 0, 0], "hits_medium": [0, 30, 0, 0, 0], "hits_low": [0, 50, 1, 0, 0],
        "amount": [1e6] * 5, "hits_amount": [0.0, 5e5, 0.0, 0.0, 0.0],
        "lead_statuses": [[], ["调查核实", "移送公安"], [], ["结案"], []],
        "confirmed_leads": [[], [], [], ["L9"], []], "fraud_cases": [[], [], [], [], ["K1", "K2"]],
    })
    out = credit.institution_credit(df).set_index("entity_id")
    assert out.loc["H1", "grade"] == "A" and out.loc["H1", "credit_score"] == 1000
    # many raw hits, a referral: a warning, no deduction, no blacklist
    assert out.loc["H2", "credit_score"] == 1000 and out.loc["H2", "grade"] == "A"
    assert out.loc["H2", "warning"] and not out.loc["H2", "blacklisted"]
    assert out.loc["H3", "credit_score"] == 1000 and not out.loc["H3", "warning"]
    assert out.loc["H4", "credit_score"] == 700 and out.loc["H4", "grade"] == "C" and out.loc["H4", "blacklisted"]
    assert out.loc["H5", "credit_score"] == 400 and out.loc["H5", "grade"] == "D"
    assert list(out.index)[0] == "H5"  # worst first


def test_physician_points_from_outcomes_only():
    df = pd.DataFrame({"entity_id": ["D1", "D2"], "hits_high": [9, 0], "hits_medium": [0, 0], "hits_low": [0, 0],
                       "confirmed_leads": [[], []], "fraud_cases": [[], ["K1"]]})
    out = credit.physician_credit(df).set_index("entity_id")
    assert out.loc["D1", "points"] == 0 and out.loc["D1", "qualification"].startswith("正常")
    assert out.loc["D1", "warning_points"] == 12
    assert out.loc["D2", "points"] == 12 and out.loc["D2", "qualification"].startswith("终止")


def test_credit_records_only_changes_of_standing():
    """A record is due only when the standing or the outcomes it rests on differ from the latest
    record (the clean standing when there is none); raw hits never make one (issue 13 item 4)."""
    from ringscope.store.credit import pending_records

    base = {"entity_id": ["D1"], "hits_high": [40], "confirmed_leads": [[]], "fraud_cases": [[]],
            "prev_id": [None], "prev_seq": [None]}
    assert pending_records("physician", pd.DataFrame(base)) == []     # hits only: nothing to record
    first = pending_records("physician", pd.DataFrame(base | {"confirmed_leads": [["L1"]]}))
    assert [(r["seq"], r["points"], r["qualification"], r["basis_leads"], r["reason"], r["reason_en"])
            for r in first] == [(1, 12, "终止 terminated", ["L1"], "查实线索 L1", "confirmed lead L1")]
    assert first[0]["credit_score"] is None and first[0]["prev_id"] is None
    recorded = base | {"prev_id": ["r1"], "prev_seq": [1], "prev_points": [12], "prev_qualification": ["终止 terminated"],
                       "prev_leads": [["L1"]], "prev_cases": [[]]}
    assert pending_records("physician", pd.DataFrame(recorded | {"confirmed_leads": [["L1"]]})) == []
    # still 12 points, but on one more lead: recorded, so the history names every lead it rests on
    more = pending_records("physician", pd.DataFrame(recorded | {"confirmed_leads": [["L1", "L2"]]}))
    assert [(r["seq"], r["prev_id"], r["points"], r["basis_leads"], r["reason"]) for r in more] == [
        (2, "r1", 12, ["L1", "L2"], "查实线索 L2")]
    # the appeal upheld: back to the clean standing, 申诉成立
    upheld = pending_records("physician", pd.DataFrame(recorded | {"prev_appealed": [["L1"]]}))
    assert [(r["points"], r["qualification"], r["basis_leads"], r["reason"]) for r in upheld] == [
        (0, "正常 normal", [], "申诉成立 L1")]
    inst = pending_records("institution", pd.DataFrame({"entity_id": ["H1"], "confirmed_leads": [[]],
                                                         "fraud_cases": [["K1", "K2"]], "prev_id": [None]}))
    assert [(r["credit_score"], r["grade"], r["blacklisted"], r["basis_cases"], r["points"]) for r in inst] == [
        (400, "D", True, ["K1", "K2"], None)]
    with pytest.raises(ValueError):
        pending_records("person", pd.DataFrame(base))


def test_credit_uses_the_disposal_workflows_steps():
    assert credit.APPEAL in workflow.STEPS and credit.APPEAL in workflow.allowed_next("处理")
    assert set(credit.OPEN_STATUSES) == set(workflow.STEPS) - {"结案"}
    assert credit.clean_standing("institution") == {"credit_score": 1000, "grade": "A", "blacklisted": False}
    assert credit.change_reason(["L1"], [], [], [], gone=["L1"]) == ("线索已删除 L1", "lead deleted L1")
    for code in ("record", "appeal_lodged", "appeal_upheld", "appeal_rejected"):
        assert i18n.value("credit_event", code, lang_="zh") != code
    assert i18n.value("qualification", "暂停 suspended", lang_="en") == "suspended"
    assert not i18n.raw_field_names([i18n.col(c, lang_="zh") for c in
                                     ("at", "credit_event", "points", "qualification", "credit_score", "grade",
                                      "blacklisted", "basis", "reason", "by", "trigger")])


# ------------------------------------------------------------------------------ ring drawing
def _ring(n_persons: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    insts = [f"H{i}" for i in range(12)]
    docs = [f"D{i}" for i in range(30)]
    persons = [f"P{i:04d}" for i in range(n_persons)]
    months = [f"2024-{m:02d}" for m in range(1, 13)]
    rows = pd.DataFrame({
        "person_id": rng.choice(persons, 6 * n_persons),
        "institution_id": rng.choice(insts, 6 * n_persons),
        "physician_id": rng.choice(docs, 6 * n_persons),
        "month": rng.choice(months, 6 * n_persons),
        "n_visits": rng.integers(1, 5, 6 * n_persons),
        "amount": rng.uniform(10, 500, 6 * n_persons),
    })
    rows["physician_institution_id"] = rows["physician_id"].str.replace("D", "H").map(
        lambda s: f"H{int(s[1:]) % 12}")
    rows = rows.groupby(["person_id", "institution_id", "physician_id", "physician_institution_id", "month"],
                        as_index=False).sum()
    members = pd.DataFrame({"entity_type": ["person"] * n_persons + ["institution"] * 2,
                            "entity_id": persons + insts[:2], "name": [f"名{i}" for i in range(n_persons)] + ["A", "B"],
                            "risk_score": list(rng.uniform(0, 1, n_persons)) + [0.9, 0.8]})
    faces = pd.DataFrame({"face_id": [f"F{i % 40}" for i in range(n_persons)], "person_id": persons,
                          "enrolled_person_id": [persons[i % 40] for i in range(n_persons)],
                          "month": rng.choice(months, n_persons), "n_captures": 1})
    return members, rows, faces


def test_subgraph_replay_and_aggregation_on_a_1000_node_ring():
    members, visits, faces = _ring(950)
    t0 = time.perf_counter()
    full = graphview.build_subgraph(members, visits, faces, None)
    assert full.summary()["person"] == 950 and full.summary()["face"] == 40
    assert len(full.nodes) >= 1000
    early = graphview.as_of(full, "2024-03")
    assert len(early.edges) < len(full.edges)
    assert early.edges["month"].dropna().max() <= "2024-03"
    small = graphview.aggregate(full, max_nodes=300)
    assert len(small.nodes) <= 300
    groups = small.nodes[small.nodes["type"] == "group"]
    kept_p = (small.nodes["type"] == "person").sum()
    kept_f = (small.nodes["type"] == "face").sum()
    # nothing lost: every person and face is drawn or folded into a group
    assert groups["size_n"].sum() + kept_p + kept_f == 950 + 40
    # visits are conserved through the folding
    assert small.edges.loc[small.edges.rel == "visit", "n"].sum() == full.edges.loc[full.edges.rel == "visit", "n"].sum()
    pos = graphview.layout(small.nodes, small.edges, seed=0)
    fig = graphview.figure(small, pos, title="ring")
    png = graphview.render_png(small, pos, title="ring")
    elapsed = time.perf_counter() - t0
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(fig.data) >= 5
    assert elapsed < 30, f"a 1,000-node ring took {elapsed:.1f}s to fold, lay out and draw"
    # the layout is deterministic
    assert graphview.layout(small.nodes, small.edges, seed=0)["x"].round(9).tolist() == pos["x"].round(9).tolist()


def test_subgraph_small_lead_keeps_every_node():
    members, visits, faces = _ring(20, seed=1)
    sub = graphview.build_subgraph(members, visits, faces, None)
    assert graphview.aggregate(sub, max_nodes=300) is sub
    assert sub.nodes["member"].sum() == 22
    assert set(sub.edges["rel"]) >= {"visit", "treated_by", "practises_at", "presented", "enrolled_as"}


# ------------------------------------------------------------------------------ evidence
def _package(**over):
    inp = evidence.EvidenceInput(
        lead={"lead_id": "L7", "scheme": "card_lending", "score": 0.9},
        members=pd.DataFrame({"entity_type": ["person"], "entity_id": ["P1"], "name": ["张三"]}),
        visits=pd.DataFrame({"visit_id": ["V1"], "diagnosis_codes": [["E11", "I10"]]}),
        rule_hits=pd.DataFrame({"hit_id": ["h1"]}), events=pd.DataFrame(),
        edges=pd.DataFrame({"src": ["person:P1"], "dst": ["institution:H1"], "rel": ["visit"]}),
        subgraph_png=b"\x89PNG fake", queries=[evidence.QueryRecord("lead_members", "MATCH (n) RETURN n",
                                                                      {"lead_id": "L7"}, "members.csv")],
        user="wang", role="investigator", masked=False, generated_at="2024-05-01T10:00:00")
    for k, v in over.items():
        setattr(inp, k, v)
    return evidence.build_package(inp)


def test_evidence_package_manifest_and_tamper_detection():
    blob = _package()
    ok, problems = evidence.verify_package(blob)
    assert ok, problems
    assert blob == _package()  # reproducible byte for byte
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        names = set(z.namelist())
        manifest = json.loads(z.read("lead_L7/manifest.json"))
        sums = z.read("lead_L7/SHA256SUMS").decode()
        visits = z.read("lead_L7/visits.csv").decode("utf-8-sig")
    assert {"lead_L7/members.csv", "lead_L7/queries/lead_members.cypher",
            "lead_L7/queries/lead_members.params.json", "lead_L7/subgraph.png"} <= names
    assert manifest["files"]["subgraph.png"]["sha256"] == evidence.sha256(b"\x89PNG fake")
    assert "members.csv" in sums and "E11;I10" in visits
    # alter one file inside the zip: verification names it
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(blob)) as zin, zipfile.ZipFile(buf, "w") as zout:
        for n in zin.namelist():
            data = zin.read(n)
            zout.writestr(n, data.replace("张三".encode(), "李四".encode()) if n.endswith("members.csv") else data)
    ok, problems = evidence.verify_package(buf.getvalue())
    assert not ok and any("members.csv" in p for p in problems)


# ------------------------------------------------------------------------------ briefing PDF
def test_briefing_pdf_from_leads():
    leads = pd.DataFrame({
        "lead_id": ["L1", "L2", "L3"], "scheme": ["card_lending", "card_cashout", "card_lending"],
        "status": ["new", "移送公安", "结案"], "outcome": [None, None, "confirmed"],
        "amount_at_risk": [1000.0, 5000.0, 2500.0], "recovered": [0.0, 0.0, 2000.0],
        "district": ["东城区", "西城区", "东城区"], "month": ["2024-01", "2024-02", "2024-02"],
        "score": [0.5, 0.9, 0.7], "rank": [3, 1, 2], "deadline": ["2020-01-01", None, None],
        "assignee": ["wang", None, None]})
    hits = pd.DataFrame({"month": ["2024-01", "2024-02", "unknown"], "n_hits": [3, 4, 1],
                         "amount_at_risk": [100.0, 200.0, 5.0]})
    b = summarise_leads(leads, hits)
    assert {k: b.kpis[k] for k in ("leads", "open", "amount_at_risk", "recovered", "confirmed",
                                   "referred_to_police", "closed", "overdue")} == {
        "leads": 3, "open": 2, "amount_at_risk": 8500.0, "recovered": 2000.0, "confirmed": 1,
        "referred_to_police": 1, "closed": 1, "overdue": 1}
    assert b.kpis["clearance_rate"] == pytest.approx(1 / 3) and b.kpis["recovery_rate"] == pytest.approx(0.8)
    assert b.by_scheme.set_index("scheme").loc["card_lending", "leads"] == 2
    assert b.by_month["month"].tolist() == ["2024-01", "2024-02"]
    assert b.overdue["lead_id"].tolist() == ["L1"]
    pdf = build_briefing_pdf(b)
    assert pdf[:5] == b"%PDF-" and len(pdf) > 5000
    assert b"NotoSansCJK" in pdf or b"Noto" in pdf  # set in the CJK font
    empty = build_briefing_pdf(summarise_leads(pd.DataFrame()))
    assert empty[:5] == b"%PDF-"
    assert isinstance(b, BriefingData)


def test_briefing_trend_covers_every_month_of_the_data():
    """The trend runs from the first to the last month of settlements, rule hits and
    leads -- gaps filled, never narrowed to the months leads were first active in."""
    leads = pd.DataFrame({"lead_id": ["L1", "L2"], "scheme": ["card_lending"] * 2, "status": ["new"] * 2,
                          "outcome": [None, None], "amount_at_risk": [1.0, 2.0], "recovered": [0.0, 0.0],
                          "district": ["A", "A"], "month": ["2024-11", "2024-12"], "score": [0.5, 0.6],
                          "rank": [1, 2]})
    hits = pd.DataFrame({"month": ["2024-03", "2024-07"], "n_hits": [1, 2], "amount_at_risk": [10.0, 20.0]})
    fund = pd.DataFrame({"month": [f"2024-{m:02d}" for m in range(1, 13) if m != 5], "fund_paid": 100.0,
                         "n_visits": 3})
    b = summarise(leads, hits, fund)
    assert b.by_month["month"].tolist() == [f"2024-{m:02d}" for m in range(1, 13)]
    assert b.by_month.set_index("month").loc["2024-05", "fund_paid"] == 0
    assert all_months(pd.Series(["2023-12", "2024-02"])) == ["2023-12", "2024-01", "2024-02"]
    assert b.compare.set_index("metric").loc["leads", "period"] == "2024-12"


def test_chinese_labels_and_money():
    assert i18n.col("amount_at_risk", lang_="zh") == "涉嫌金额(元)"
    assert i18n.wan(92_450_000.0, lang_="zh") == "9,245.00 万元"
    df = i18n.label_frame(pd.DataFrame({"scheme": ["ghost_admission"], "status": ["移送公安"],
                                        "risk_reasons": ["gnn_autoencoder 0.30; rules 0.5 (rule hits 3 on 2 se)"],
                                        "feature": ["rev_treated_by:max:patient_age_mean"]}), lang_="zh")
    assert list(df.columns) == ["类型", "处置环节", "风险依据", "特征"]
    assert df.iloc[0].tolist() == ["挂床/虚假住院", "移送公安", "图自编码器异常分 0.30；规则库 0.5",
                                   "经治关系邻居的患者平均年龄（最大值）"]
    assert i18n.raw_field_names(df.columns) == []


def test_evidence_documents_are_chinese_pdfs():
    blob = _package(lead={"lead_id": "L7", "scheme": "card_lending", "score": 0.9, "amount_at_risk": 12345.0},
                    claim_lines=pd.DataFrame({"line_id": ["c1"], "amount": [3.5]}),
                    face_captures=pd.DataFrame({"capture_id": ["F1"], "verdict": ["mismatch"]}),
                    face_images={"F1_capture.png": b"\x89PNG a", "F1_enrolment.png": b"\x89PNG b"})
    ok, problems = evidence.verify_package(blob)
    assert ok, problems
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        names = set(z.namelist())
        letter = z.read("lead_L7/线索移送函.pdf")
    assert {"lead_L7/claim_lines.csv", "lead_L7/face_captures.csv", "lead_L7/faces/F1_capture.png",
            "lead_L7/faces/F1_enrolment.png", "lead_L7/案情摘要.pdf"} <= names
    assert letter[:5] == b"%PDF-"
    assert evidence.manifest_sha256(blob) == evidence.manifest_sha256(_package(
        lead={"lead_id": "L7", "scheme": "card_lending", "score": 0.9, "amount_at_risk": 12345.0},
        claim_lines=pd.DataFrame({"line_id": ["c1"], "amount": [3.5]}),
        face_captures=pd.DataFrame({"capture_id": ["F1"], "verdict": ["mismatch"]}),
        face_images={"F1_capture.png": b"\x89PNG a", "F1_enrolment.png": b"\x89PNG b"}))


def test_every_node_symbol_is_one_plotly_draws():
    """A symbol name plotly does not know fails the whole figure (``circle-small`` did, in CI)."""
    import plotly.graph_objects as go
    from ringscope.app import graphview

    for kind, symbol in graphview.NODE_SYMBOLS.items():
        go.Scatter(marker=dict(symbol=symbol))  # raises ValueError on an unknown symbol


def test_replay_keeps_a_member_tied_by_packs_not_visits_and_its_expansion():
    """A resale ring's outlet has no dated edge (its members never visit it: their packs do); it
    and the neighbours an investigator expanded from it stay in every month of the replay, while a
    person active only later still appears only then."""
    import pandas as pd

    from ringscope.app import graphview as gv

    nodes = pd.DataFrame([
        ["institution:OUT", "institution", "OUT", "outlet", True, 0.9, None, 1, 1],
        ["physician:STAFF", "physician", "STAFF", "staff", True, 0.9, None, 1, 1],
        ["institution:H1", "institution", "H1", "clinic", False, 0.1, "2024-01", 1, 1],
        ["person:A", "person", "A", "a", True, 0.8, "2024-01", 1, 1],
        ["person:B", "person", "B", "b", True, 0.8, "2024-06", 1, 1],
    ], columns=gv.NODE_COLUMNS)
    edges = pd.DataFrame([
        ["physician:STAFF", "institution:OUT", "practises_at", None, 1, 0.0],
        ["person:A", "institution:H1", "visit", "2024-01", 3, 300.0],
        ["person:B", "institution:H1", "visit", "2024-06", 2, 200.0],
    ], columns=gv.EDGE_COLUMNS)
    sub = gv.merge_rows(gv.Subgraph(nodes, edges),
                        pd.DataFrame({"key": ["person:C"], "type": ["person"], "id": ["C"], "label": ["c"]}),
                        pd.DataFrame({"src": ["institution:OUT"], "dst": ["person:C"], "rel": ["visit"], "n": [4]}))
    early = set(gv.as_of(sub, "2024-02").nodes["key"])
    assert {"institution:OUT", "physician:STAFF", "person:C", "person:A"} <= early
    assert "person:B" not in early
    assert "person:B" in set(gv.as_of(sub, "2024-06").nodes["key"])


def test_case_summary_figures_from_frames_relabelled_for_display():
    """The Evidence page labels frames for display; the case summary's billed total and face
    mismatches are the real ones whether it gets those frames or the data layer's, and every CSV of
    the package (rule hits, events and drawn edges included) has Chinese headers."""
    from ringscope.app.i18n import label_frame, raw_field_names

    members = pd.DataFrame({"entity_type": ["person", "person", "institution"], "entity_id": ["P1", "P2", "H1"],
                            "name": ["张三", "李四", "市一院"]})
    visits = pd.DataFrame({"visit_id": ["V1", "V2", "V3"], "total_amount": [1200.5, 300.0, 99.5],
                           "diagnosis_codes": [["E11"], ["I10"], []]})
    caps = pd.DataFrame({"capture_id": ["C1", "C2", "C3"], "verdict": ["mismatch", "match", "mismatch"]})
    hits = pd.DataFrame({"hit_id": ["h1", "h2"], "rule_id": ["R1", "R1"], "rule_name": ["x", "x"],
                         "severity": ["high", "high"], "amount_at_risk": [10.0, 20.0]})
    events = pd.DataFrame({"at": ["2024-05-01T10:00:00"], "user": ["wang"], "action": ["transition"],
                           "from_status": ["new"], "to_status": ["初审"], "note": [None]})
    edges = pd.DataFrame({"src": ["person:P1"], "dst": ["institution:H1"], "rel": ["visit"], "month": ["2024-04"],
                          "n": [3], "amount": [1500.5]})
    kw = dict(rule_hits=hits, events=events, edges=edges)
    for shown in (True, False):
        lab = (lambda d: label_frame(d, lang_="zh")) if shown else (lambda d: d)
        inp = evidence.EvidenceInput(
            lead={"lead_id": "L9", "scheme": "card_lending", "score": 0.8}, members=lab(members), visits=lab(visits),
            subgraph_png=b"\x89PNG", queries=[], user="wang", role="investigator", masked=False,
            generated_at="2024-05-01T10:00:00", claim_lines=lab(pd.DataFrame({"line_id": ["l1", "l2"]})),
            face_captures=lab(caps), **kw)
        fig = evidence.case_figures(inp)
        assert (fig["billed"], fig["visits"], fig["captures"], fig["mismatches"]) == (1600.0, 3, 3, 2), shown
        assert (fig["persons"], fig["institutions"], fig["claim_lines"]) == (2, 1, 2)
        blob = evidence.build_package(inp)
        assert evidence.verify_package(blob)[0]
        with zipfile.ZipFile(io.BytesIO(blob)) as z:
            for name in ("members", "visits", "rule_hits", "events", "subgraph_edges", "claim_lines",
                         "face_captures"):
                header = z.read(f"lead_L9/{name}.csv").decode("utf-8-sig").splitlines()[0].split(",")
                assert raw_field_names(header) == [] and all(any("\u4e00" <= ch <= "\u9fff" for ch in h)
                                                             for h in header), (name, header)


def test_family_relations_are_translated():
    """Every relation the generators write to family_links (synth/, bench/othergen/) reads in Chinese
    in Entity 360's 说明 column and in the ring's family edges."""
    for rel in ("spouse", "parent", "child", "proxy", "parent-in-law", "child-in-law", "grandparent", "grandchild",
                "sibling", "other"):
        zh = i18n.translate_text(rel, lang_="zh")
        assert zh != rel and any("\u4e00" <= ch <= "\u9fff" for ch in zh), rel
        assert i18n.value("relation", rel, lang_="zh") == zh
        assert i18n.translate_text(rel, lang_="en") == rel
    links = i18n.label_frame(pd.DataFrame({"relation": ["family"], "detail": ["proxy"]}), lang_="zh")
    assert links.iloc[0].tolist() == ["家庭/代办关系", "代办人"]


def test_charts_that_draw_people_offer_no_image_download():
    """Plotly's "download as PNG" would export names without a log line: every chart of people is
    drawn with the config that removes it."""
    import ast
    from pathlib import Path

    from ringscope.app.ui import NO_IMAGE_EXPORT

    assert "toImage" in NO_IMAGE_EXPORT["modeBarButtonsToRemove"]
    people = {"ring_chart", "ring_pack_path", "fc_same_face"}
    seen = set()
    for page in (Path(__file__).resolve().parent.parent / "app" / "pages").glob("*.py"):
        for node in ast.walk(ast.parse(page.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "plotly_chart":
                kw = {k.arg: k.value for k in node.keywords}
                key = getattr(kw.get("key"), "value", None)
                if key in people:
                    seen.add(key)
                    assert getattr(kw.get("config"), "id", None) == "NO_IMAGE_EXPORT", (page.name, key)
    assert seen == people
