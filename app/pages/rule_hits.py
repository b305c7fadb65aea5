"""Rule hits: browse and filter the ordinary rule hits, jump to the entity."""
from __future__ import annotations

import plotly.express as px
import streamlit as st

from ringscope.app import data
from ringscope.app.ui import goto_entity, money, show_cypher

PAGE = "rule_hits"
PAGE_SIZE = 200

st.title("Rule hits 规则命中")
facets = data.read("rule_hit_facets")
if facets.empty:
    st.info("No rule hits in the database yet: run `ringscope detect` on a dataset.")
    st.stop()

names = dict(zip(facets["rule_id"], facets["rule_name"].fillna("")))
c = st.columns(4)
rule_ids = c[0].multiselect("Rules", facets["rule_id"].tolist(), key="rh_rules",
                            format_func=lambda r: f"{r} {names.get(r, '')}")
severities = c[1].multiselect("Severity", ["high", "medium", "low"], key="rh_sev")
etype = c[2].selectbox("Entity type", [None, "person", "physician", "institution"], key="rh_etype",
                       format_func=lambda v: "any" if v is None else v)
min_amount = c[3].number_input("Min amount at risk", 0.0, value=0.0, step=100.0, key="rh_min")
c2 = st.columns(4)
eid = c2[0].text_input("Entity id", key="rh_eid").strip() or None
m_from = c2[1].text_input("From month (YYYY-MM)", key="rh_from").strip() or None
m_to = c2[2].text_input("To month (YYYY-MM)", key="rh_to").strip() or None
page_no = c2[3].number_input("Page", 1, value=1, step=1, key="rh_page")

params = dict(rule_ids=rule_ids, severities=severities, entity_type=etype, entity_id=eid,
              month_from=m_from, month_to=m_to, min_amount=float(min_amount),
              skip=(int(page_no) - 1) * PAGE_SIZE, limit=PAGE_SIZE)

f = facets if not rule_ids else facets[facets["rule_id"].isin(rule_ids)]
k = st.columns(3)
k[0].metric("Rules fired", len(f))
k[1].metric("Hits", int(f["n_hits"].sum()))
k[2].metric("At risk", money(f["amount_at_risk"].sum()))
with st.expander("Hits by rule", expanded=False):
    st.plotly_chart(px.bar(f.head(30), x="rule_id", y="n_hits", color="amount_at_risk", height=300,
                           hover_data=["rule_name", "category"]), key="rh_chart")
    st.dataframe(f, hide_index=True, key="rh_facets")

hits = data.read("rule_hits_browse", **params)
if hits.empty:
    st.info("No hits match these filters.")
else:
    shown = data.show_personal(hits, page=PAGE, entity="rule_hits", person_only_col="entity_type")
    st.caption(f"Page {int(page_no)}: {len(hits)} hits, largest money at risk first. Select a row to open its entity.")
    ev = st.dataframe(shown, hide_index=True, key="rh_table", on_select="rerun", selection_mode="single-row",
                      column_config={"amount_at_risk": st.column_config.NumberColumn(format="%.2f"),
                                     "evidence": st.column_config.TextColumn(width="large")})
    rows = ev.selection.rows if ev is not None and hasattr(ev, "selection") else []
    if rows:
        r = hits.iloc[rows[0]]
        if st.button(f"Open {r['entity_type']} {r['entity_id']} in Entity 360", key="rh_goto"):
            goto_entity(r["entity_type"], r["entity_id"])

show_cypher(["rule_hits_browse", "rule_hit_facets"], params)
