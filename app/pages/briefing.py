"""Briefing: what leadership needs -- leads, money at risk and recovered, by
scheme, district and month, trends -- and the PDF to take to a meeting.

No personal data is shown on this page."""
from __future__ import annotations

import plotly.express as px
import streamlit as st

from ringscope.app import data
from ringscope.app.briefing_pdf import build_briefing_pdf, code_labels, find_cjk_font, summarise_leads
from ringscope.app.ui import SCHEME_LABELS, money, show_cypher

st.title("Briefing 工作简报")

leads = data.read("briefing_leads")
hits = data.read("briefing_rule_hits_monthly")
fund = data.read("briefing_fund_monthly")

if leads.empty:
    st.info("No leads yet. Run `ringscope detect DATASET --out RESULTS` to write findings to Neo4j.")
else:
    months = sorted(m for m in leads["month"].dropna().unique())
    c1, c2 = st.columns([2, 3])
    schemes = c1.multiselect("Schemes", sorted(leads["scheme"].dropna().unique()), key="brief_schemes",
                             format_func=lambda s: SCHEME_LABELS.get(s, s))
    if len(months) >= 2:
        lo, hi = c2.select_slider("First active (month)", options=months, value=(months[0], months[-1]),
                                  key="brief_months")
        leads = leads[leads["month"].isna() | leads["month"].between(lo, hi)]
        hits = hits[(hits["month"] == "unknown") | hits["month"].between(lo, hi)] if len(hits) else hits
    if schemes:
        leads = leads[leads["scheme"].isin(schemes)]

brief = summarise_leads(leads, hits)
k = brief.kpis
cols = st.columns(6)
cols[0].metric("Leads", k["leads"])
cols[1].metric("Open", k["open"])
cols[2].metric("Amount at risk", money(k["amount_at_risk"]))
cols[3].metric("Recovered 追回", money(k["recovered"]))
cols[4].metric("Confirmed", k["confirmed"])
cols[5].metric("Referred to police", k["referred_to_police"])

tab_s, tab_d, tab_m, tab_t = st.tabs(["By scheme", "By district", "Trend by month", "Top leads"])
with tab_s:
    if len(brief.by_scheme):
        fig = px.bar(brief.by_scheme, x="scheme", y=["amount_at_risk", "recovered"], barmode="group",
                     labels={"value": "CNY", "variable": ""}, height=360)
        st.plotly_chart(fig, key="brief_scheme_chart")
    st.dataframe(brief.by_scheme, hide_index=True, key="brief_scheme_table")
with tab_d:
    if len(brief.by_district):
        fig = px.bar(brief.by_district.head(30), x="district", y="amount_at_risk", color="open",
                     labels={"amount_at_risk": "CNY at risk"}, height=360)
        st.plotly_chart(fig, key="brief_district_chart")
    codes = code_labels(brief.by_district["district"], cjk=find_cjk_font() is not None)
    st.dataframe(brief.by_district.assign(pdf_label=brief.by_district["district"].map(codes)),
                 hide_index=True, key="brief_district_table")
with tab_m:
    bm = brief.by_month
    if len(bm) and "hits_amount_at_risk" in bm:
        trend = bm[["month", "hits_amount_at_risk"]].copy()
        if len(fund):
            trend = trend.merge(fund[["month", "fund_paid"]], on="month", how="left")
            trend["share_of_fund_paid"] = trend["hits_amount_at_risk"] / trend["fund_paid"].where(trend["fund_paid"] > 0)
        fig = px.line(trend, x="month", y="hits_amount_at_risk", markers=True, height=340,
                      labels={"hits_amount_at_risk": "CNY at risk (rule hits)"})
        st.plotly_chart(fig, key="brief_trend_chart")
        st.dataframe(trend, hide_index=True, key="brief_trend_table")
    if len(bm) and "leads" in bm:
        st.caption("Leads by the month the ring was first active")
        st.bar_chart(bm.set_index("month")[["leads"]], height=220)
with tab_t:
    st.dataframe(brief.top_leads.drop(columns=["is_open", "confirmed", "referred"], errors="ignore"),
                 hide_index=True, key="brief_top_table")

brief.user, brief.role = data.current_user(), data.current_role()
st.download_button("Download PDF briefing", data=lambda: build_briefing_pdf(brief),
                   file_name="ringscope_briefing.pdf", mime="application/pdf", key="brief_pdf",
                   type="primary")
show_cypher(["briefing_leads", "briefing_rule_hits_monthly", "briefing_fund_monthly"], {})
