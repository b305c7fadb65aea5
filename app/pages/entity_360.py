"""实体画像 Entity 360: one person, physician or institution from every side.

Profile, risk score and its reasons, rule hits, settlement neighbours,
family / face / lead ties, monthly history, the learned models' explanation;
for physicians the credit file (医保医师记分) and for institutions the credit
rating (信用评价, grades A–D, blacklist), both computed from outcomes by
:mod:`ringscope.app.credit`, with the stored credit history (信用记录沿革: each
change of standing, why, and the appeal steps of the leads it named; read, never
computed here). Everything through the data layer: entities outside the caller's
scope are refused, personal data masked and logged.
"""
from __future__ import annotations

import json

import pandas as pd
import plotly.express as px
import streamlit as st

from ringscope.app import data
from ringscope.app.credit import APPEAL, STANDING, institution_credit, physician_credit
from ringscope.app.i18n import col, reasons, tr, value, wan
from ringscope.app.ui import goto_entity, goto_lead, show_cypher, table
from ringscope.store.access import PermissionDenied

PAGE = "entity_360"
TYPES = ("person", "physician", "institution")

st.title(tr("实体画像", "Entity 360"))
lay = data.layer()
pol = lay.pol

cur_type, cur_id = st.session_state.get("entity", ("person", None))
c1, c2, c3 = st.columns([1, 2, 3])
etype = c1.radio(tr("类别", "Type"), TYPES, index=TYPES.index(cur_type) if cur_type in TYPES else 0, key="e360_type",
                 format_func=lambda t: value("entity_type", t))
q = c2.text_input(tr("查找（编号前缀" + ("或姓名/名称" if pol.clear_names else "") + "）",
                     "Search (id prefix" + (" or name" if pol.clear_names else "") + ")"), key="e360_q").strip()
found = lay.entity_search(etype, q, limit=200)
if found.empty and cur_id is None:
    st.info(tr(f"没有符合 “{q}” 的{value('entity_type', etype)}（或不在您的辖区内）。",
               f"No {etype} matches {q!r} in your scope."))
    st.stop()
ids = found["entity_id"].astype(str).tolist() if len(found) else []
if q and ids and cur_id not in ids:   # a search moves the selection to what it found
    cur_id = None
if cur_id is not None and etype == cur_type and cur_id not in ids:
    ids = [cur_id] + ids
names = dict(zip(found["entity_id"].astype(str), found["name"])) if len(found) else {}
risk = dict(zip(found["entity_id"].astype(str), found["risk_score"])) if len(found) else {}
index = ids.index(cur_id) if cur_id in ids and etype == cur_type else 0


def _fmt(i: str) -> str:
    r = risk.get(i)
    return f"{i} {names.get(i) or ''}" + (f" · {tr('风险', 'risk')} {r:.2f}" if r is not None and pd.notna(r) else "")


eid = c3.selectbox(tr("实体（风险高者在前）", "Entity (riskiest first)"), ids, index=index, key=f"e360_pick_{etype}",
                   format_func=_fmt)
st.session_state["entity"] = (etype, eid)

try:
    prof = lay.entity_profile(etype, eid, page=PAGE)
except PermissionDenied as exc:
    st.warning(tr(f"无权查看：{value('entity_type', etype)} {eid} 不在您的辖区或授权范围内。",
                  f"Not allowed: {etype} {eid} is outside your scope.") + f" ({exc})")
    st.stop()
if prof is None:
    st.warning(tr(f"数据库中没有{value('entity_type', etype)} {eid}。", f"No {etype} {eid} in the database."))
    st.stop()
props = dict(prof["props"] or {})

st.subheader(f"{value('entity_type', etype)} {eid}" + (f" · {props.get('name')}" if props.get("name") else ""))
k = st.columns(5)
rs = props.get("risk_score")
k[0].metric(tr("风险分", "Risk score"), f"{float(rs):.2f}" if rs is not None and pd.notna(rs) else "—")
k[1].metric(tr("结算次数", "Settlements"), f"{int(prof['n_visits']):,}")
k[2].metric(tr("被规则命中", "Rule hits against"), int(prof["n_rule_hits"]))
k[3].metric(tr("所属线索", "Leads"), len(prof["lead_ids"] or []))
k[4].metric(tr("已结案件", "Closed cases"), len(prof["cases"] or []))
why = reasons(props.get("risk_reasons"))
if why:
    st.markdown("**" + tr("评分依据", "Why this score") + "** · " + " · ".join(why))
with st.expander(tr("基本信息", "Profile"), expanded=True):
    prof_rows = [(col(kk), "；".join(map(str, v)) if isinstance(v, (list, tuple)) else
                  ("；".join(reasons(v)) if kk == "risk_reasons" else
                   (tr("是", "yes") if v else tr("否", "no")) if isinstance(v, bool) else value(kk, v)))
                 for kk, v in props.items() if v is not None and not (isinstance(v, float) and pd.isna(v))]
    prof_df = pd.DataFrame(prof_rows, columns=[tr("项目", "Field"), tr("内容", "Value")]).astype(str)
    st.dataframe(prof_df, hide_index=True, key="e360_profile")
if prof["lead_ids"]:
    lc = st.columns(min(len(prof["lead_ids"]), 6))
    for i, lid in enumerate(prof["lead_ids"][:6]):
        if lc[i].button(f"{tr('线索', 'Lead')} {lid}", key=f"e360_lead_{lid}", icon=":material/hub:"):
            goto_lead(lid)

tabs = [tr("规则命中", "Rule hits"), tr("结算往来", "Neighbours"), tr("关联关系", "Ties"), tr("月度历史", "History"),
        tr("模型解释", "Model")] + ([tr("信用", "Credit")] if etype != "person" else []) + \
    ([tr("随机抽查", "Inspections")] if etype == "institution" and pol.browse_all else [])
t = st.tabs(tabs)
with t[0]:
    hits = lay.entity_rule_hits(etype, eid, 1000)
    if hits.empty:
        st.caption(tr("没有针对该实体的规则命中。", "No rule hits against this entity."))
    else:
        st.caption(tr(f"{len(hits)} 次命中 · 涉嫌金额 {wan(hits['amount_at_risk'].sum())}",
                      f"{len(hits)} hits · {wan(hits['amount_at_risk'].sum())} at risk"))
        table(hits, "e360_hits")
with t[1]:
    nb = lay.entity_neighbours(etype, eid, 200, page=PAGE)
    if nb.empty:
        st.caption(tr("没有结算往来。", "No settlements."))
    else:
        ev = table(nb, "e360_nb", select=True)
        rows = ev.selection.rows if ev is not None and hasattr(ev, "selection") else []
        if rows and st.button(tr("打开所选对象", "Open selected neighbour"), key="e360_nb_go"):
            r = nb.iloc[rows[0]]
            goto_entity(r["entity_type"], r["entity_id"])
with t[2]:
    links = lay.entity_links(etype, eid, 500, page=PAGE)
    if links.empty:
        st.caption(tr("没有家庭、人脸或线索关联。", "No family, face or lead ties."))
    else:
        table(links, "e360_links")
with t[3]:
    hist = lay.entity_history(etype, eid)
    if hist.empty:
        st.caption(tr("没有结算。", "No settlements."))
    else:
        fig = px.bar(hist, x="month", y="amount", color="n_rule_hits", height=300,
                     labels={"amount": tr("结算金额（元）", "billed (CNY)"), "n_rule_hits": tr("规则命中", "rule hits"),
                             "month": tr("月份", "month")})
        fig.update_layout(xaxis=dict(type="category"), margin=dict(l=10, r=10, t=10, b=10))
        st.plotly_chart(fig, key="e360_hist_chart")
        table(hist.rename(columns={"n_rule_hits": "n_hits"}), "e360_hist")
    if prof["cases"]:
        st.markdown("**" + tr("已结案件", "Closed cases") + "**")
        table(pd.DataFrame(prof["cases"]).rename(columns={"label": "outcome"}), "e360_cases")
with t[4]:
    expl = lay.entity_explanations(etype, eid)
    if expl.empty:
        st.caption(tr("该实体没有模型解释（检测时学习模型只解释重点线索成员和各类最高分实体）。",
                      "No learned-model explanation for this entity (the models explain the members of the top "
                      "leads and the highest scores of each type, when detection ran with them)."))
    for r in expl.itertuples(index=False):
        score = f"{float(r.score):.3f}" if r.score is not None and pd.notna(r.score) else "—"
        from ringscope.app.i18n import detector

        st.markdown(f"**{detector(r.model)}** · {tr('模型分', 'model score')} {score}")
        feats = pd.DataFrame(json.loads(r.features or "[]"))
        nbrs = pd.DataFrame(json.loads(r.neighbours or "[]"))
        a, b = st.columns(2)
        a.caption(tr("影响评分的特征", "Features that drove the score"))
        with a:
            table(feats, f"e360_expl_feat_{r.model}")
        b.caption(tr("影响评分的相邻实体", "Neighbouring entities that drove it"))
        if nbrs.empty:
            b.caption(tr("无", "none"))
        else:
            with b:
                ev = table(nbrs, f"e360_expl_nb_{r.model}", select=True)
            rows = ev.selection.rows if ev is not None and hasattr(ev, "selection") else []
            if rows and st.button(tr("打开所选对象", "Open selected neighbour"), key=f"e360_expl_go_{r.model}"):
                pick = nbrs.iloc[rows[0]]
                goto_entity(pick["entity_type"], pick["entity_id"])


def credit_history_section(etype: str, eid: str) -> None:
    """信用记录沿革: the stored records of the entity's standing, newest first, and the appeal steps."""
    st.markdown("**" + tr("信用记录沿革", "Credit history") + "**")
    hist = lay.credit_history(etype, eid, page=PAGE)
    if hist.empty:
        st.caption(tr("尚无信用记录：处理结果从未改变其记分或等级（无记录即正常、A 级）。",
                      "No credit record: no outcome has changed its standing (none means normal, grade A)."))
        return
    st.caption(tr("处理结果（查实线索、已结欺诈案件、申诉成立等）每改变一次记分或等级，记录一条；"
                  "依据所列线索的申诉环节及其结果一并列出。",
                  "One record per change of standing an outcome made (a confirmed lead, a closed fraud case, "
                  "an appeal upheld ...), with the appeal steps of the leads it rested on."))
    shown = hist.assign(at=hist["at"].astype(str).str[:16].str.replace("T", " "),
                        reason=hist["reason_en"] if tr("zh", "en") == "en" else hist["reason"])
    for c in ("points", "credit_score"):   # whole numbers; blank on the appeal rows
        shown[c] = pd.to_numeric(shown[c], errors="coerce").astype("Int64")
    table(shown[["at", "credit_event", *STANDING[etype], "basis", "reason", "by", "trigger"]], "e360_credit_history")


if etype != "person":
    with t[5]:
        inputs = lay.credit_inputs(etype, eid)
        if etype == "physician":
            cf = physician_credit(inputs).iloc[0]
            a, b, c = st.columns(3)
            a.metric(tr("记分", "Points"), int(cf["points"]))
            b.metric(tr("医保支付资格", "Payment qualification"), str(cf["qualification"]).split(" ")[0]
                     if tr("zh", "en") == "zh" else str(cf["qualification"]).split(" ", 1)[-1])
            c.metric(tr("预警分（未复核命中）", "Warning points (unreviewed hits)"), int(cf["warning_points"]),
                     help=tr(f"高/中/低风险命中 {cf['hits_high']}/{cf['hits_medium']}/{cf['hits_low']}",
                             f"hits high/medium/low {cf['hits_high']}/{cf['hits_medium']}/{cf['hits_low']}"))
            st.caption(tr("记分只来自处理结果：查实线索或已结欺诈案件记 12 分；9–11 分暂停、12 分终止医保支付资格"
                          "（参照医保发〔2024〕23号）。记分按自然年度计（记分周期），终止自查实之日起一年内有效。"
                          "未复核的规则命中只作预警（低 1、中 2、高 3 分），不记分；"
                          "对查实结论不服的，经线索的申诉环节处理，申诉成立即撤销记分。",
                          "Points come from outcomes only: a confirmed lead or closed fraud case scores 12; 9–11 suspend, "
                          "12 terminate the physician's insurance payment qualification (modelled on 医保发〔2024〕23号). "
                          "Points count per natural year (the scoring period); a termination stands a year from the "
                          "finding. Unreviewed rule hits only warn (low 1, medium 2, high 3) and never score; a confirmed "
                          "finding is contested through the lead's appeal step, and an appeal upheld removes the points."))
            credit_history_section(etype, eid)
            if pol.browse_all:
                reg = physician_credit(lay.credit_inputs(etype, None))
                st.markdown("**" + tr("全部医师记分（分高者在前）", "Credit register of all physicians (most points first)") + "**")
                table(reg[["entity_id", "name", "institution_id", "points", "qualification", "warning_points", "hits_high",
                           "hits_medium", "hits_low", "hits_amount", "risk_score"]].head(200), "e360_register")
        else:
            cf = institution_credit(inputs).iloc[0]
            a, b, c, d = st.columns(4)
            a.metric(tr("信用分", "Credit score"), int(cf["credit_score"]))
            b.metric(tr("信用等级", "Grade"), cf["grade"])
            c.metric(tr("黑名单", "Blacklist"), tr("是", "yes") if cf["blacklisted"] else tr("否", "no"))
            d.metric(tr("预警（未复核）", "Warning (unreviewed)"), tr("是", "yes") if cf["warning"] else tr("否", "no"),
                     help=tr(f"未复核命中涉嫌金额占结算 {100 * cf['share_at_risk']:.1f}%，在办线索 {int(cf['n_open_leads'])}",
                             f"unreviewed hits put {100 * cf['share_at_risk']:.1f}% of billing at risk; "
                             f"{int(cf['n_open_leads'])} open leads"))
            st.caption(tr("1000 分起，每条查实线索或已结欺诈案件扣 300 分；A ≥ 900，B ≥ 800，C ≥ 650，其余为 D；"
                          "有查实线索或已结欺诈案件的列入黑名单。未复核的规则命中、在办线索和移送只作预警，不扣分、不定级；"
                          "对查实结论不服的，经线索的申诉环节处理。",
                          "1,000 points less 300 per confirmed lead or closed fraud case; A ≥ 900, B ≥ 800, C ≥ 650, "
                          "D below; blacklisted on a confirmed lead or a closed fraud case. Unreviewed rule hits, open "
                          "leads and referrals only warn, never deduct or grade; a confirmed finding is contested "
                          "through the lead's appeal step."))
            credit_history_section(etype, eid)
            if pol.browse_all:
                reg = institution_credit(lay.credit_inputs(etype, None))
                st.markdown("**" + tr("全部机构信用评价（差者在前）", "Credit rating of all institutions (worst first)") + "**")
                table(reg[["entity_id", "name", "kind", "district", "credit_score", "grade", "blacklisted", "warning",
                           "hits_high", "hits_medium", "hits_low", "share_at_risk", "n_open_leads"]], "e360_register",
                      column_config={col("share_at_risk"): st.column_config.NumberColumn(format="percent")})

if etype == "institution" and pol.browse_all:
    with t[6]:
        insp = lay.institution_inspections(eid, page=PAGE)
        if insp.empty:
            st.caption(tr("该机构尚未被随机抽中检查。", "This institution has not been drawn for a random inspection."))
        else:
            st.caption(tr("双随机抽查中抽中该机构的批次、检查人员和检查结果：",
                          "The random inspections that drew this institution, the team and the result:"))
            table(insp, "e360_inspections")

show_cypher(["entity_profile", "entity_rule_hits", "entity_neighbours", "entity_links", "entity_history",
             "entity_explanations", "credit_inputs"] + (["credit/history"] if etype != "person" else []),
            {"entity_type": etype, "entity_id": eid} | ({"appeal": APPEAL} if etype != "person" else {}))
