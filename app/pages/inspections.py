"""双随机抽查 Random inspections (双随机、一公开): draws of institutions and inspectors by lot, the
list of each draw with its teams and results, re-drawing to check a draw, recording results, and
the published list (CSV, PDF with Chinese headings). The role that draws (``Policy.inspections``:
the investigator) draws and records; the other roles read. Everything through the data layer,
which scopes the lists to the caller's districts and logs every view and export
(:meth:`ringscope.store.reads.DataLayer.inspections`)."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from ringscope.app import data
from ringscope.app.i18n import lang, tr, value, yuan
from ringscope.app.inspections_pdf import build_inspections_pdf
from ringscope.app.ui import goto_entity, table
from ringscope.store.inspections import OUTCOMES
from ringscope.store.supervision import load_supervision

PAGE = "inspections"
KINDS = ["hospital", "clinic", "community", "pharmacy"]

st.title(tr("双随机抽查", "Random inspections"))
st.caption(tr("随机抽取检查对象、随机选派执法检查人员，抽查情况及查处结果公开（国办发〔2015〕58号）。"
              "每次抽取记录随机种子和两份名录的哈希，任何人可据此重新抽取核对。",
              "Institutions and inspectors drawn by lot, the list and results published (国办发〔2015〕58号). "
              "Each draw records its seed and the hashes of both lists, so anyone can re-draw and check."))
lay = data.layer()
caller = data.caller()
pol = caller.policy
cfg = load_supervision().inspections

if pol.inspections:
    with st.expander(tr("新建抽取", "New draw"), expanded=False):
        with st.form("ri_draw"):
            c = st.columns(4)
            title = c[0].text_input(tr("批次名称", "Title"), key="ri_title")
            n = c[1].number_input(tr("抽取家数（0 为按比例）", "Institutions (0: by rate)"), 0, 5000, 0, step=1,
                                  key="ri_n")
            share = c[2].number_input(tr("风险加权比例", "Risk-weighted share"), 0.0, 1.0, float(cfg.risk_share),
                                      step=0.05, key="ri_share")
            team = c[3].number_input(tr("每组检查人员数", "Inspectors per team"), 2, 10, int(cfg.team_size), step=1,
                                     key="ri_team")
            c = st.columns([2, 1])
            kinds = c[0].multiselect(tr("机构类别（不选为全部）", "Kinds (none: all)"), KINDS, key="ri_kinds",
                                     format_func=lambda v: value("kind", v))
            seed_txt = c[1].text_input(tr("随机种子（留空自动生成）", "Seed (empty: fresh)"), key="ri_seed")
            up = st.file_uploader(tr("执法检查人员名录（CSV：inspector_id,name,unit,bound；留空使用已登记名录）",
                                     "Inspectors list (CSV: inspector_id,name,unit,bound; empty: the stored list)"),
                                  type=["csv"], key="ri_inspectors")
            go = st.form_submit_button(tr("抽取", "Draw"), type="primary")
        if go:
            try:
                seed = int(seed_txt) if seed_txt.strip() else None
                rec = lay.draw_inspections(inspectors_csv=up.getvalue() if up is not None else None,
                                           n=int(n) or None, risk_share=float(share), team_size=int(team), seed=seed,
                                           kinds=kinds, title=title.strip(), page=PAGE)
                st.session_state["ri_draw_id"] = rec["draw_id"]
                st.success(tr(f"已抽取 {len(rec['picks'])} 家，批次 {rec['draw_id']}，随机种子 {rec['seed']}。",
                              f"{len(rec['picks'])} drawn: {rec['draw_id']}, seed {rec['seed']}.")
                           + ("" if rec["created"] else tr("（同一种子和名录的抽取此前已保存）", " (stored before)")))
                for b in rec["quarantine"]:
                    st.warning(tr(f"名录第 {b['row']} 行未使用：", f"Inspectors row {b['row']} not used: ") + b["reason"])
            except ValueError as e:
                st.error(tr("未能抽取：", "Not drawn: ") + str(e))

draws = lay.inspection_draws(page=PAGE)
if draws.empty:
    st.info(tr("尚无抽查批次。", "No draws yet."))
    st.stop()
ids = draws["draw_id"].tolist()
cur = st.session_state.get("ri_draw_id")
did = st.selectbox(tr("抽查批次", "Draw"), ids, index=ids.index(cur) if cur in ids else 0, key="ri_pick",
                   format_func=lambda i: f"{i} · {draws.set_index('draw_id').loc[i, 'title'] or ''} · "
                                         f"{str(draws.set_index('draw_id').loc[i, 'drawn_at'])[:10]}")
st.session_state["ri_draw_id"] = did
row = draws.set_index("draw_id").loc[did]
k = st.columns(4)
k[0].metric(tr("检查对象", "Institutions"), int(row["n_in_scope"]))
k[1].metric(tr("已检查", "Inspected"), int(row["n_done"]))
k[2].metric(tr("发现问题", "With findings"), int(row["n_findings"]))
k[3].metric(tr("追回/处罚金额", "Recovered or fined"), yuan(row["amount"]))

rows = lay.inspections(did, page=PAGE)
ev = table(rows, "ri_table", select=True, hide=("draw_id", "inspector_ids"))
rec = lay.inspection_record(did, page=PAGE)
c = st.columns(3)
c[0].download_button(tr("导出公示名单 CSV", "Export list (CSV)"), data=lambda: lay.inspections_csv(did, page=PAGE),
                     file_name=f"{did}.csv", mime="text/csv", key="ri_csv", icon=":material/download:")


def _pdf() -> bytes:
    lay.log_export(PAGE, f"inspections:{did}:pdf", ["inspection", "inspector"], len(rows))
    return build_inspections_pdf(rec, rows, lang=lang())


c[1].download_button(tr("导出公示名单 PDF", "Export list (PDF)"), data=_pdf, file_name=f"{did}.pdf",
                     mime="application/pdf", key="ri_pdf", icon=":material/picture_as_pdf:")
if c[2].button(tr("复核抽取结果", "Re-draw and check"), key="ri_verify", icon=":material/verified:"):
    rep = lay.verify_inspection_draw(did, page=PAGE)
    if rep.ok:
        st.success(tr(f"复核一致：以记录的随机种子、名录和参数重新抽取，结果相同（结果哈希 {rep.result_sha256[:16]}）。",
                      f"Verified: re-drawn from the recorded seed, lists and parameters, the same result "
                      f"({rep.result_sha256[:16]})."))
    else:
        st.error(tr("复核不一致：", "Not verified: ") + "；".join(rep.reasons))
with st.expander(tr("复核信息（随机种子、名录哈希）", "How to check this draw (seed, hashes)"), expanded=False):
    st.markdown(f"- {tr('随机种子', 'Seed')}：`{row['seed']}`\n"
                f"- {tr('机构名录哈希', 'Institutions list')}：`{row['institutions_sha256']}`\n"
                f"- {tr('人员名录哈希', 'Inspectors list')}：`{row['inspectors_sha256']}`\n"
                f"- {tr('抽取结果哈希', 'Result')}：`{row['result_sha256']}`")
    st.code(f"ringscope inspections verify {did}", language="bash")
    if rec and rec.get("strata"):
        table(pd.DataFrame(rec["strata"]), "ri_strata")

if rows.empty:
    st.stop()
sel = ev.selection.rows if ev is not None and hasattr(ev, "selection") else []
pick = rows.iloc[sel[0] if sel else 0]
st.subheader(f"{pick['seq']} · {pick['institution_name'] or pick['institution_id']} · "
             f"{value('inspection_status', pick['inspection_status'])}")
if st.button(tr("在实体画像中打开该机构", "Open the institution in Entity 360"), key="ri_goto"):
    goto_entity("institution", pick["institution_id"])
if pol.inspections:
    with st.form("ri_result"):
        c = st.columns(3)
        day = c[0].date_input(tr("检查日期", "Inspected on"), value=dt.date.today(), max_value=dt.date.today(),
                              key="ri_date")
        outcome = c[1].selectbox(tr("检查结果", "Outcome"), list(OUTCOMES), key="ri_outcome",
                                 format_func=lambda v: value("inspection_outcome", v))
        amount = c[2].number_input(tr("追回/处罚金额（元）", "Amount (CNY)"), 0.0, step=100.0, key="ri_amount")
        finding = st.text_area(tr("发现问题", "Finding"), key="ri_finding")
        if st.form_submit_button(tr("登记检查结果", "Record the result"), type="primary"):
            try:
                lay.record_inspection(pick["inspection_id"], inspected_on=day.isoformat(), outcome=outcome,
                                      finding=finding.strip() or None, amount=float(amount), page=PAGE)
                st.rerun()
            except ValueError as e:
                st.error(str(e))
