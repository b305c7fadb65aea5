"""规则命中 Rule hits: browse and filter the ordinary rule hits (scoped to the
caller's districts, names masked per role), export them (logged), jump to the entity."""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from ringscope.app import data
from ringscope.app.i18n import rule_label, tr, value, wan
from ringscope.app.ui import csv_button, goto_entity, show_cypher, table

PAGE = "rule_hits"
PAGE_SIZE = 200

st.title(tr("规则命中", "Rule hits"))
lay = data.layer()
facets = lay.rule_hit_facets()
if facets.empty:
    st.info(tr("您的辖区内尚无规则命中：请先运行 `ringscope detect`。",
               "No rule hits in your scope yet: run `ringscope detect` on a dataset."))
    st.stop()

names = dict(zip(facets["rule_id"], facets["rule_name"].fillna("")))
c = st.columns(4)
rule_ids = c[0].multiselect(tr("规则", "Rules"), facets["rule_id"].tolist(), key="rh_rules",
                            format_func=lambda r: f"{r} {rule_label(names.get(r, ''))}", placeholder=tr("全部", "All"))
severities = c[1].multiselect(tr("严重程度", "Severity"), ["high", "medium", "low"], key="rh_sev",
                              format_func=lambda s: value("severity", s), placeholder=tr("全部", "All"))
etype = c[2].selectbox(tr("对象类别", "Entity type"), [None, "person", "physician", "institution"], key="rh_etype",
                       format_func=lambda v: tr("全部", "any") if v is None else value("entity_type", v))
min_amount = c[3].number_input(tr("最低涉嫌金额（元）", "Min amount at risk (CNY)"), 0.0, value=0.0, step=100.0,
                               key="rh_min")
c2 = st.columns(4)
eid = c2[0].text_input(tr("对象编号", "Entity id"), key="rh_eid").strip() or None
m_from = c2[1].text_input(tr("起始月份（YYYY-MM）", "From month (YYYY-MM)"), key="rh_from").strip() or None
m_to = c2[2].text_input(tr("截止月份（YYYY-MM）", "To month (YYYY-MM)"), key="rh_to").strip() or None
page_no = c2[3].number_input(tr("页码", "Page"), 1, value=1, step=1, key="rh_page")

params = dict(rule_ids=rule_ids, severities=severities, entity_type=etype, entity_id=eid,
              month_from=m_from, month_to=m_to, min_amount=float(min_amount),
              skip=(int(page_no) - 1) * PAGE_SIZE, limit=PAGE_SIZE)

f = facets if not rule_ids else facets[facets["rule_id"].isin(rule_ids)]
k = st.columns(3)
k[0].metric(tr("触发规则数", "Rules fired"), len(f))
k[1].metric(tr("命中次数", "Hits"), f"{int(f['n_hits'].sum()):,}")
k[2].metric(tr("涉嫌金额", "At risk"), wan(f["amount_at_risk"].sum()))
with st.expander(tr("按规则统计", "Hits by rule"), expanded=False):
    fv = f.assign(rule=f["rule_id"] + " " + f["rule_name"].map(rule_label))
    fig = px.bar(fv.head(30), x="n_hits", y="rule", orientation="h", color="amount_at_risk", height=420,
                 labels={"n_hits": tr("命中次数", "hits"), "rule": "", "amount_at_risk": tr("涉嫌金额（元）", "at risk (CNY)")})
    fig.update_layout(yaxis=dict(autorange="reversed"), margin=dict(l=10, r=10, t=10, b=10))
    st.plotly_chart(fig, key="rh_chart")
    # each rule's measured precision (the share of its hits on a real violation on the team's
    # cities, rule_catalog.csv) beside its hits: a suspicious rule is a point to review, not a finding
    cat = data.rule_catalog()
    if len(cat):
        prec = pd.to_numeric(cat["measured_precision"], errors="coerce")
        f = f.merge(cat[["rule_id", "rule_class"]].assign(measured_precision=prec.round(2)), on="rule_id", how="left")
        st.caption(tr("实测精度：该规则在团队各生成器城市上命中落在真实违规上的比例（均值）；"
                      "“可疑”类规则为待核查线索，不是定性结论。",
                      "Measured precision: the share of the rule's hits on a real violation on the team's "
                      "cities (mean); a suspicious rule's hit is a point to review, not a finding."))
    table(f, "rh_facets")

hits = lay.rule_hits(page=PAGE, **params)
if hits.empty:
    st.info(tr("没有符合条件的命中。", "No hits match these filters."))
else:
    st.caption(tr(f"第 {int(page_no)} 页：{len(hits)} 次命中，按涉嫌金额从大到小；点选一行可打开对象。",
                  f"Page {int(page_no)}: {len(hits)} hits, largest money at risk first. Select a row to open its entity."))
    ev = table(hits, "rh_table", select=True, hide=("district",))
    csv_button(hits.drop(columns=["district"], errors="ignore"), page=PAGE, entity="rule_hits",
               file_name="rule_hits.csv", key="rh_csv")
    rows = ev.selection.rows if ev is not None and hasattr(ev, "selection") else []
    if rows:
        r = hits.iloc[rows[0]]
        if st.button(tr(f"在实体画像中打开 {value('entity_type', r['entity_type'])} {r['entity_id']}",
                        f"Open {r['entity_type']} {r['entity_id']} in Entity 360"), key="rh_goto"):
            goto_entity(r["entity_type"], r["entity_id"])

show_cypher(["rule_hits_browse", "rule_hit_facets"], params | {"districts": data.caller().districts_param})
