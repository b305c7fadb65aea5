"""Leads: the ranked queue, filters, and each lead's disposal (线索处置).

A lead moves through the national steps 初审 → 复审 → 调查核实 → (申诉) → 处理 /
移送公安 → 结案 with an assignee, a deadline and notes. Every change is a
``LeadEvent`` in Neo4j (who, role, when, from, to, note), written together
with the lead's new state in one transaction, guarded by the lead's version so
that two officers editing at once cannot overwrite each other.
"""
from __future__ import annotations

import datetime as dt
import uuid

import streamlit as st

from ringscope.app import data
from ringscope.app.access import policy
from ringscope.app.ui import RING_PAGE, SCHEME_LABELS, goto_entity, goto_lead, money, show_cypher
from ringscope.app.workflow import (
    NEW, OUTCOMES, STATUS_LABELS, LeadChange, allowed_next, default_deadline, status_label,
)

PAGE = "leads"
PAGE_SIZE = 100

st.title("Leads 线索队列")
if flash := st.session_state.pop("lq_flash", None):
    st.success(flash)

facets = data.read("lead_facets")
all_schemes = sorted(facets["scheme"].dropna().unique()) if len(facets) else []
with st.expander("Filters", expanded=True):
    c1, c2, c3, c4 = st.columns(4)
    schemes = c1.multiselect("Scheme", all_schemes, key="lq_schemes",
                             format_func=lambda s: SCHEME_LABELS.get(s, s))
    statuses = c2.multiselect("State", list(STATUS_LABELS), key="lq_statuses", format_func=status_label)
    min_score = c3.slider("Min score", 0.0, 1.0, 0.0, 0.05, key="lq_min_score")
    min_amount = c4.number_input("Min amount at risk (CNY)", 0.0, value=0.0, step=1000.0, key="lq_min_amount")
    c5, c6, c7 = st.columns(3)
    district = c5.text_input("District (exact)", key="lq_district").strip() or None
    mine = c6.checkbox("Assigned to me", key="lq_mine")
    page_no = c7.number_input("Page", 1, value=1, step=1, key="lq_page")

params = dict(schemes=schemes, statuses=statuses, min_score=float(min_score), min_amount=float(min_amount),
              assignee=data.current_user() if mine else None, district=district,
              skip=(int(page_no) - 1) * PAGE_SIZE, limit=PAGE_SIZE)
queue = data.read("lead_queue", **params)

if queue.empty:
    st.info("No leads match these filters." if len(facets) else
            "No leads in the database yet: run `ringscope detect` on a dataset.")
    st.stop()

today = dt.date.today().isoformat()
view = queue.assign(
    state=queue["status"].map(status_label),
    overdue=queue["deadline"].notna() & (queue["deadline"].astype(str) < today) & (queue["status"] != "结案"),
    members=queue["n_persons"].astype(str) + "P/" + queue["n_physicians"].astype(str) + "D/"
    + queue["n_institutions"].astype(str) + "I",
)[["rank", "lead_id", "scheme", "score", "amount_at_risk", "state", "assignee", "deadline", "overdue",
   "members", "recovered", "summary"]]
st.caption(f"{len(queue)} leads on this page (page size {PAGE_SIZE}); select a row to work on it.")
event = st.dataframe(
    view, hide_index=True, key="lq_table", on_select="rerun", selection_mode="single-row",
    column_config={
        "score": st.column_config.ProgressColumn("score", min_value=0.0, max_value=1.0, format="%.2f"),
        "amount_at_risk": st.column_config.NumberColumn("at risk (CNY)", format="%.0f"),
        "recovered": st.column_config.NumberColumn("recovered", format="%.0f"),
        "summary": st.column_config.TextColumn("summary", width="large"),
    },
)
rows = event.selection.rows if event is not None and hasattr(event, "selection") else []
if rows:
    st.session_state["lead_id"] = str(queue.iloc[rows[0]]["lead_id"])
lead_id = st.session_state.get("lead_id")
if lead_id not in set(queue["lead_id"].astype(str)):
    lead_id = str(queue.iloc[0]["lead_id"])
    st.session_state["lead_id"] = lead_id

lead = data.read_one("lead_detail", lead_id=lead_id)
if lead is None:
    st.warning(f"Lead {lead_id} no longer exists.")
    st.stop()

st.divider()
st.subheader(f"Lead {lead_id} · {SCHEME_LABELS.get(lead['scheme'], lead['scheme'])}")
m1, m2, m3, m4 = st.columns(4)
m1.metric("Score", f"{float(lead['score'] or 0):.2f}")
m2.metric("At risk", money(lead["amount_at_risk"]))
m3.metric("State", status_label(lead["status"]))
m4.metric("Deadline", lead["deadline"] or "—")
st.write(lead.get("summary") or "")
b1, b2 = st.columns(2)
if b1.button("Open in Ring explorer", key="lq_open_ring"):
    goto_lead(lead_id, RING_PAGE)
if b2.button("Evidence package", key="lq_open_evidence"):
    goto_lead(lead_id, "pages/evidence.py")

tab_m, tab_h, tab_e = st.tabs(["Members", "History 处置记录", "Act on this lead"])
with tab_m:
    members = data.read("lead_members", lead_id=lead_id)
    shown = data.show_personal(members, page=PAGE, entity=f"lead:{lead_id}", person_only_col="entity_type")
    ev = st.dataframe(shown, hide_index=True, key="lq_members", on_select="rerun", selection_mode="single-row")
    sel = ev.selection.rows if ev is not None and hasattr(ev, "selection") else []
    if sel and st.button("Open selected member in Entity 360", key="lq_goto_entity"):
        r = members.iloc[sel[0]]
        goto_entity(r["entity_type"], r["entity_id"])
with tab_h:
    events = data.read("lead_events", lead_id=lead_id)
    if events.empty:
        st.caption("No disposal steps recorded yet.")
    else:
        st.dataframe(events.drop(columns=["event_id"]), hide_index=True, key="lq_events")
with tab_e:
    pol = policy(data.current_role())
    current = lead["status"] if lead["status"] in STATUS_LABELS else NEW
    if not (pol.edit_status or pol.add_notes or pol.assign):
        st.info(f"The {pol.role} role can read leads but not change them.")
    else:
        with st.form("lq_form", clear_on_submit=False):
            if pol.edit_status:
                options = [current] + [s for s in allowed_next(current) if s != current]
                to_status = st.selectbox("Next step", options, format_func=status_label, key="lq_to_status")
            else:
                to_status = current
                st.caption(f"State stays {status_label(current)} (the {pol.role} role cannot move leads).")
            if pol.assign:
                assignee = st.text_input("Assignee 承办人", value=lead.get("assignee") or "", key="lq_assignee")
                dflt = (dt.date.fromisoformat(lead["deadline"]) if lead.get("deadline")
                        else default_deadline(to_status if to_status != NEW else "初审"))
                deadline = st.date_input("Deadline 办理时限", value=dflt, key="lq_deadline")
            else:
                assignee = lead.get("assignee")
                deadline = dt.date.fromisoformat(lead["deadline"]) if lead.get("deadline") else None
            note = st.text_area("Note 处置意见", key="lq_note") if pol.add_notes else None
            recovered, outcome = float(lead.get("recovered") or 0.0), lead.get("outcome")
            if pol.edit_status:
                recovered = st.number_input("Recovered so far 追回金额 (CNY)", min_value=0.0,
                                            value=recovered, step=100.0, key="lq_recovered")
                outcome = st.selectbox("Outcome (when closing)", [None, *OUTCOMES], key="lq_outcome",
                                       index=([None, *OUTCOMES].index(outcome) if outcome in OUTCOMES else 0))
            submitted = st.form_submit_button("Record", type="primary")
        if submitted:
            if pol.assign and to_status != current and deadline == dflt:
                deadline = default_deadline(to_status)  # a new step gets its own time unless the user set one
            action = ("transition" if to_status != current else
                      "assign" if (assignee or None) != (lead.get("assignee") or None)
                      or (deadline.isoformat() if deadline else None) != lead.get("deadline") else
                      "update" if float(recovered) != float(lead.get("recovered") or 0.0) else "note")
            if action == "note" and not (note or "").strip():
                st.warning("Nothing to record: change the step, assignee or deadline, or write a note.")
            else:
                change = LeadChange(
                    lead_id=lead_id, from_status=current, to_status=to_status,
                    version=int(lead.get("version") or 0), user=data.current_user(),
                    role=data.current_role(), assignee=assignee or None,
                    deadline=deadline if isinstance(deadline, dt.date) else None,
                    note=note, recovered=float(recovered), outcome=outcome,
                    action=action, at=data.now_iso(), event_id=uuid.uuid4().hex,
                )
                try:
                    rows = data.write("lead_update", change.params())
                except ValueError as exc:
                    st.error(str(exc))
                else:
                    if rows:
                        st.session_state["lq_flash"] = (
                            f"Recorded: {action} → {status_label(to_status)} (event {rows[0]['event_id'][:8]}).")
                        st.rerun()
                    else:
                        st.error("Someone changed this lead meanwhile; reload and try again.")

show_cypher(["lead_queue", "lead_detail", "lead_members", "lead_events", "lead_update"],
            {k: v for k, v in params.items()} | {"lead_id": lead_id})
