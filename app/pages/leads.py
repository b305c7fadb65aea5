"""线索队列 Leads: the ranked queue, filters, and each lead's disposal (线索处置).

A lead moves through the national steps 初审 → 复审 → 调查核实 → (申诉) → 处理 /
移送公安 → 结案 with an assignee, a deadline and notes. Every change is a
``LeadEvent`` in Neo4j (who, role, when, from, to, note), written together
with the lead's new state in one transaction, guarded by the lead's version so
that two officers editing at once cannot overwrite each other. Who may do
what is checked by the data layer (``DataLayer.update_lead``), not here.
"""
from __future__ import annotations

import datetime as dt
import uuid

import streamlit as st

from ringscope.app import data
from ringscope.app.i18n import col, scheme, tr, value, wan
from ringscope.app.ui import (EVIDENCE_PAGE, RING_PAGE, csv_button, goto_entity, goto_lead, lead_text, show_cypher,
                              table)
from ringscope.app.workflow import NEW, OUTCOMES, STATUS_LABELS, LeadChange, allowed_next, default_deadline
from ringscope.store.access import PermissionDenied

PAGE = "leads"
PAGE_SIZE = 100
SUGGEST_SIZE = 5

st.title(tr("线索队列", "Leads"))
if flash := st.session_state.pop("lq_flash", None):
    st.success(flash)
lay = data.layer()
pol = lay.pol

facets = lay.lead_facets()
all_schemes = sorted(facets["scheme"].dropna().unique()) if len(facets) else []
with st.expander(tr("筛选", "Filters"), expanded=True, icon=":material/filter_list:"):
    c1, c2, c3, c4 = st.columns(4)
    schemes = c1.multiselect(tr("类型", "Scheme"), all_schemes, key="lq_schemes", format_func=scheme,
                             placeholder=tr("全部", "All"))
    statuses = c2.multiselect(tr("处置环节", "State"), list(STATUS_LABELS), key="lq_statuses",
                              format_func=lambda s: value("status", s), placeholder=tr("全部", "All"))
    min_score = c3.slider(tr("最低评分", "Min score"), 0.0, 1.0, 0.0, 0.05, key="lq_min_score")
    min_amount = c4.number_input(tr("最低涉嫌金额（元）", "Min amount at risk (CNY)"), 0.0, value=0.0, step=1000.0,
                                 key="lq_min_amount")
    c5, c6, c7 = st.columns(3)
    district = c5.text_input(tr("区县（完整名称）", "District (exact)"), key="lq_district").strip() or None
    mine = c6.checkbox(tr("只看分派给我的", "Assigned to me"), key="lq_mine")
    page_no = c7.number_input(tr("页码", "Page"), 1, value=1, step=1, key="lq_page")

# 建议优先复核: the last detection run's active-learning queue (stored by detect; never computed here)
suggest = lay.review_queue(limit=SUGGEST_SIZE)
if len(suggest):
    with st.expander(tr("建议优先复核", "Suggested for review next"), expanded=True, icon=":material/school:"):
        st.caption(tr("复核这些线索并填写结案结论，对模型帮助最大：评分最接近判定线（模型最没把握）、涉嫌金额大、"
                      "成员尚无结论，且兼顾不同类型。结论在下次检测（`ringscope detect --labels-from-store`）时作为标注参与学习。",
                      "Reviewing these leads and recording the outcome teaches the models most: scores nearest the "
                      "decision bar (the models are least sure), large amounts, members not yet judged, spread "
                      "over the schemes. Outcomes join the next detection run as labels "
                      "(`ringscope detect --labels-from-store`)."))
        sv = suggest.assign(review_reason=[tr(*(str(r).split(" / ", 1) + [str(r)])[:2]) for r in suggest["reason"]])[
            ["review_rank", "lead_id", "scheme", "score", "amount_at_risk", "status", "uncertainty", "review_reason"]]
        sev = table(sv, "lq_suggest", select=True, column_config={
            col("score"): st.column_config.ProgressColumn(col("score"), min_value=0.0, max_value=1.0, format="%.2f"),
            col("amount_at_risk"): st.column_config.NumberColumn(format="localized")})
        ssel = sev.selection.rows if sev is not None and hasattr(sev, "selection") else []
        if ssel:
            st.session_state["lead_id"] = str(suggest.iloc[ssel[0]]["lead_id"])

params = dict(schemes=schemes, statuses=statuses, min_score=float(min_score), min_amount=float(min_amount),
              assignee=data.caller().user if mine else None, district=district,
              skip=(int(page_no) - 1) * PAGE_SIZE, limit=PAGE_SIZE)
queue = lay.lead_queue(**params)

if queue.empty:
    st.info(tr("没有符合条件的线索。", "No leads match these filters.") if len(facets) else
            tr("尚无移送公安的线索。", "No lead has been referred to the police yet.") if pol.referred_only else
            tr("没有可查看的线索：尚未运行检测，或您的辖区内没有线索。",
               "No leads you may see: detection has not run, or none is in your scope."))
    st.stop()

today = dt.date.today().isoformat()
view = queue.assign(
    overdue=queue["deadline"].notna() & (queue["deadline"].astype(str) < today) & (queue["status"] != "结案"),
    members=queue["n_persons"].astype(str) + tr(" 人/", "P/") + queue["n_physicians"].astype(str)
    + tr(" 医师/", "D/") + queue["n_institutions"].astype(str) + tr(" 机构", "I"),
)[["rank", "lead_id", "scheme", "score", "amount_at_risk", "status", "assignee", "deadline", "overdue",
   "members", "recovered"]]
st.caption(tr(f"本页 {len(queue)} 条（每页 {PAGE_SIZE} 条），点选一行查看与处置。",
              f"{len(queue)} leads on this page (page size {PAGE_SIZE}); select a row to work on it."))
event = table(view, "lq_table", select=True, column_config={
    col("score"): st.column_config.ProgressColumn(col("score"), min_value=0.0, max_value=1.0, format="%.2f"),
    col("amount_at_risk"): st.column_config.NumberColumn(format="localized"),
    col("recovered"): st.column_config.NumberColumn(format="localized"),
})
csv_button(view, page=PAGE, entity="lead_queue", file_name="leads.csv", key="lq_csv")
rows = event.selection.rows if event is not None and hasattr(event, "selection") else []
if rows:
    st.session_state["lead_id"] = str(queue.iloc[rows[0]]["lead_id"])
lead_id = st.session_state.get("lead_id")
if lead_id not in set(queue["lead_id"].astype(str)):
    lead_id = str(queue.iloc[0]["lead_id"])
    st.session_state["lead_id"] = lead_id

lead = lay.lead_detail(lead_id)
if lead is None:
    st.warning(tr(f"线索 {lead_id} 已不存在。", f"Lead {lead_id} no longer exists."))
    st.stop()

st.divider()
st.subheader(f"{tr('线索', 'Lead')} {lead_id} · {scheme(lead['scheme'])}")
m1, m2, m3, m4 = st.columns(4)
m1.metric(tr("评分", "Score"), f"{float(lead['score'] or 0):.2f}")
m2.metric(tr("涉嫌金额", "At risk"), wan(lead["amount_at_risk"]))
m3.metric(tr("处置环节", "State"), value("status", lead["status"]))
m4.metric(tr("办理时限", "Deadline"), lead["deadline"] or "—")
row = queue[queue["lead_id"].astype(str) == lead_id].iloc[0].to_dict() | lead
st.markdown(lead_text(row | {"detectors": row.get("detectors")}))
b1, b2, _ = st.columns([1, 1, 3])
if b1.button(tr("在团伙图谱中打开", "Open in Ring explorer"), key="lq_open_ring", icon=":material/hub:"):
    goto_lead(lead_id, RING_PAGE)
if pol.export_evidence and b2.button(tr("证据包", "Evidence package"), key="lq_open_evidence",
                                     icon=":material/inventory_2:"):
    goto_lead(lead_id, EVIDENCE_PAGE)

tab_m, tab_h, tab_v, tab_e = st.tabs([tr("成员", "Members"), tr("处置记录", "History"),
                                      tr("线索沿革", "Versions"), tr("处置", "Act on this lead")])
with tab_m:
    members = lay.lead_members(lead_id, page=PAGE)
    ev = table(members, "lq_members", select=True, hide=("risk_reasons",))
    sel = ev.selection.rows if ev is not None and hasattr(ev, "selection") else []
    if sel and st.button(tr("在实体画像中打开所选成员", "Open the selected member in Entity 360"), key="lq_goto_entity"):
        r = members.iloc[sel[0]]
        goto_entity(r["entity_type"], r["entity_id"])
    csv_button(members, page=PAGE, entity=f"lead:{lead_id}:members", file_name=f"lead_{lead_id}_members.csv",
               key="lq_members_csv")
with tab_h:
    events = lay.lead_events(lead_id)
    if events.empty:
        st.caption(tr("尚无处置记录。", "No disposal steps recorded yet."))
    else:
        table(events.drop(columns=["event_id"]), "lq_events")
with tab_v:
    versions = lay.lead_history(lead_id)
    if versions.empty:
        st.caption(tr("尚无版本记录（本线索在记录沿革之前发现）。", "No versions recorded yet."))
    else:
        st.caption(tr("每轮检测一个版本：评分、涉嫌金额、成员的增减，以及与其他线索的合并、拆分。",
                      "One version per detection run: score, money at risk, members added and dropped, "
                      "merges and splits with other leads."))
        for v in versions.itertuples(index=False):
            parts = [f"**{tr('第', 'Run ')}{int(v.seq)}{tr(' 版', '')}** · {str(v.at or '')[:16].replace('T', ' ')} · "
                     f"{value('version_state', v.version_state)}"]
            if v.score is not None and v.score == v.score:
                parts.append(f"{tr('评分', 'score')} {float(v.score):.2f} · {wan(v.amount_at_risk)} · "
                             f"{tr('成员', 'members')} {int(v.n_members or 0)}")
            for field, zh, en in (("added", "新增", "added"), ("dropped", "移出", "dropped"),
                                  ("merged_from", "并入自", "merged from"), ("split_from", "拆分自", "split from"),
                                  ("merged_into", "并入到", "merged into"), ("split_into", "拆分为", "split into")):
                items = list(getattr(v, field) or [])
                if items:
                    parts.append(f"{tr(zh, en)}：{'、'.join(items[:12])}{' …' if len(items) > 12 else ''}")
            st.markdown("  \n".join(parts))
        with st.expander(tr("版本明细", "All versions"), expanded=False):
            table(versions, "lq_versions")
with tab_e:
    current = lead["status"] if lead["status"] in STATUS_LABELS else NEW
    role_name = value("role", pol.role)
    if not pol.writes:
        st.info(tr(f"{role_name}可以查看线索，但不能处置。", f"The {role_name} role can read leads but not change them."))
    else:
        dflt = None
        with st.form("lq_form", clear_on_submit=True):   # a recorded note is not sent twice
            if pol.edit_status:
                options = [current] + [s for s in allowed_next(current) if s != current]
                to_status = st.selectbox(tr("下一环节", "Next step"), options, key="lq_to_status",
                                         format_func=lambda s: value("status", s))
            else:
                to_status = current
                st.caption(tr(f"处置环节保持为“{value('status', current)}”（{role_name}不能流转线索）。",
                              f"State stays {value('status', current)} (the {role_name} role cannot move leads)."))
            if pol.assign:
                assignee = st.text_input(tr("承办人", "Assignee"), value=lead.get("assignee") or "", key="lq_assignee")
                dflt = (dt.date.fromisoformat(lead["deadline"]) if lead.get("deadline")
                        else default_deadline(to_status if to_status != NEW else "初审"))
                deadline = st.date_input(tr("办理时限", "Deadline"), value=dflt, key="lq_deadline")
            else:
                assignee = lead.get("assignee")
                deadline = dt.date.fromisoformat(lead["deadline"]) if lead.get("deadline") else None
            note = st.text_area(tr("处置意见", "Note"), key="lq_note") if pol.add_notes else None
            recovered, outcome = float(lead.get("recovered") or 0.0), lead.get("outcome")
            if pol.edit_status:
                recovered = st.number_input(tr("已追回金额（元）", "Recovered so far (CNY)"), min_value=0.0,
                                            value=recovered, step=100.0, key="lq_recovered")
                outcome = st.selectbox(tr("结论（结案时填写）", "Outcome (when closing)"), [None, *OUTCOMES],
                                       key="lq_outcome", format_func=lambda o: "—" if o is None else value("outcome", o),
                                       index=([None, *OUTCOMES].index(outcome) if outcome in OUTCOMES else 0))
            submitted = st.form_submit_button(tr("提交", "Record"), type="primary")
        if submitted:
            if pol.assign and to_status != current and deadline == dflt:
                deadline = default_deadline(to_status)  # a new step gets its own time unless the user set one
            action = ("transition" if to_status != current else
                      "assign" if (assignee or None) != (lead.get("assignee") or None)
                      or (deadline.isoformat() if deadline else None) != lead.get("deadline") else
                      "update" if float(recovered) != float(lead.get("recovered") or 0.0) else "note")
            if action == "note" and not (note or "").strip():
                st.warning(tr("没有可提交的内容：请变更环节、承办人或时限，或填写处置意见。",
                              "Nothing to record: change the step, assignee or deadline, or write a note."))
            else:
                c = data.caller()
                change = LeadChange(
                    lead_id=lead_id, from_status=current, to_status=to_status,
                    version=int(lead.get("version") or 0), user=c.user, role=c.role, assignee=assignee or None,
                    deadline=deadline if isinstance(deadline, dt.date) else None,
                    note=note, recovered=float(recovered), outcome=outcome,
                    action=action, at=dt.datetime.now().replace(microsecond=0).isoformat(),
                    event_id=uuid.uuid4().hex,
                )
                try:
                    rows = lay.update_lead(change.params())
                except (ValueError, PermissionDenied) as exc:
                    st.error(str(exc))
                else:
                    if rows:
                        st.session_state["lq_flash"] = tr(
                            f"已记录：{value('action', action)} → {value('status', to_status)}（事件 {rows[0]['event_id'][:8]}）。",
                            f"Recorded: {action} → {value('status', to_status)} (event {rows[0]['event_id'][:8]}).")
                        st.rerun()
                    else:
                        st.error(tr("其他人刚刚修改了这条线索，请刷新后重试。",
                                    "Someone changed this lead meanwhile; reload and try again."))

show_cypher(["lead_queue", "lead_detail", "lead_members", "lead_events", "lead_history", "lead_update"],
            dict(params) | {"lead_id": lead_id})
