"""举报线索 Tip-offs: the ledger (deadlines, overdue, matched entities, outcome and reward), intake
one by one or by CSV import, the entities named matched against leads and risk scores, handling
(accept or reject, assign, conclude with the verified amount; the reward by the configured rule).
The reporter's identity is shown only to the role handling tip-offs; every view is logged (the
data layer, :meth:`ringscope.store.reads.DataLayer.tipoffs`)."""
from __future__ import annotations

import datetime as dt

import streamlit as st

from ringscope.app import data
from ringscope.app.i18n import tr, value, yuan
from ringscope.app.ui import goto_entity, table

PAGE = "tipoffs"
NEXT = {"received": ["accepted", "rejected"], "accepted": ["investigating", "closed"], "investigating": ["closed"]}

st.title(tr("举报线索", "Tip-offs"))
lay = data.layer()
pol = data.caller().policy
today = dt.date.today().isoformat()

if pol.tipoffs:
    with st.expander(tr("登记举报", "Register a tip-off"), expanded=False):
        with st.form("to_intake", clear_on_submit=True):
            c = st.columns(3)
            received = c[0].date_input(tr("收到日期", "Received on"), key="to_received")
            channel = c[1].selectbox(tr("举报渠道", "Channel"), ["phone", "letter", "online", "visit", "other"],
                                     format_func=lambda v: value("channel", v), key="to_channel")
            named = c[2].text_input(tr("被举报对象（如 institution:H1;physician:D1）", "Named (e.g. institution:H1)"),
                                    key="to_named")
            content = st.text_area(tr("举报内容", "Content"), key="to_content")
            r = st.columns(3)
            rname = r[0].text_input(tr("举报人姓名（可匿名）", "Reporter name (optional)"), key="to_rname")
            rphone = r[1].text_input(tr("联系电话", "Phone"), key="to_rphone")
            rid = r[2].text_input(tr("身份证号", "ID number"), key="to_rid")
            if st.form_submit_button(tr("登记", "Register"), type="primary"):
                res = lay.intake_tipoffs([{"received_on": received.isoformat(), "channel": channel, "content": content,
                                           "named": named, "reporter_name": rname, "reporter_phone": rphone,
                                           "reporter_id_number": rid}])
                if res["quarantine"]:
                    st.error(tr("未登记：", "Not registered: ") + res["quarantine"][0]["reason"])
                else:
                    st.success(tr("已登记。", "Registered."))
        up = st.file_uploader(tr("批量导入（CSV）", "Import CSV"), type=["csv"], key="to_csv")
        if up is not None and st.button(tr("导入", "Import"), key="to_import"):
            try:
                res = lay.intake_tipoffs(csv_data=up.getvalue())
                st.success(tr(f"导入 {res['written']} 条，{len(res['quarantine'])} 行有误未导入。",
                              f"{res['written']} imported, {len(res['quarantine'])} rows refused."))
                if res["quarantine"]:
                    st.dataframe(res["quarantine"], key="to_quarantine")
            except ValueError as e:
                st.error(str(e))

status = st.selectbox(tr("办理状态", "State"), [None, "received", "accepted", "investigating", "closed", "rejected"],
                      format_func=lambda v: tr("全部", "all") if v is None else value("tipoff_status", v), key="to_status")
ledger = lay.tipoffs(status=status, today=today, page=PAGE)
if ledger.empty:
    st.info(tr("尚无举报线索。", "No tip-offs yet."))
    st.stop()
k = st.columns(4)
k[0].metric(tr("举报线索", "Tip-offs"), len(ledger))
k[1].metric(tr("已超期", "Overdue"), int(ledger["overdue"].fillna(False).sum()))
k[2].metric(tr("查实金额", "Verified"), yuan(ledger["verified_amount"].fillna(0).sum()))
k[3].metric(tr("奖励金额", "Rewards"), yuan(ledger["reward"].fillna(0).sum()))
ev = table(ledger.drop(columns=["content"]), "to_table", select=True)
sel = ev.selection.rows if ev is not None and hasattr(ev, "selection") else []
row = ledger.iloc[sel[0] if sel else 0]
tid = str(row["tipoff_id"])
st.subheader(f"{tid} · {value('tipoff_status', row['tipoff_status'])}")
st.write(row["content"])
matches = lay.tipoff_matches(tid)
if matches.empty:
    st.caption(tr("被举报对象均未在系统中找到。", "None of the named entities is in the data."))
else:
    st.caption(tr("被举报对象与风险评分、在办线索的比对：", "The named entities against risk scores and open leads:"))
    mv = table(matches, "to_matches", select=True)
    msel = mv.selection.rows if mv is not None and hasattr(mv, "selection") else []
    if msel and st.button(tr("在实体画像中打开", "Open in Entity 360"), key="to_goto"):
        goto_entity(matches.iloc[msel[0]]["entity_type"], matches.iloc[msel[0]]["entity_id"])
if pol.tipoffs and NEXT.get(str(row["tipoff_status"])):
    with st.form("to_handle"):
        c = st.columns(3)
        to = c[0].selectbox(tr("下一环节", "Next step"), NEXT[str(row["tipoff_status"])],
                            format_func=lambda v: value("tipoff_status", v), key="to_next")
        assignee = c[1].text_input(tr("承办人", "Assignee"), value=row["assignee"] or "", key="to_assignee")
        amount = c[2].number_input(tr("查实金额（元）", "Verified amount (CNY)"), 0.0, step=100.0, key="to_amount")
        note = st.text_area(tr("办理意见", "Note"), key="to_note")
        if st.form_submit_button(tr("保存", "Save"), type="primary"):
            lay.update_tipoff(tid, to_status=to, assignee=assignee.strip() or None, note=note.strip() or None,
                              verified_amount=float(amount) if to == "closed" else None)
            st.rerun()
