"""工作简报 Briefing: the leader's view -- headline figures, this period against the
last, the trend over every month of the data, overdue leads, workload per
officer, clearance and recovery rates, recovered funds over time, by scheme
and district, and the PDF to take to a meeting. No personal data."""
from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go
import streamlit as st

from ringscope.app import data
from ringscope.app.briefing_pdf import build_briefing_pdf, summarise
from ringscope.app.i18n import col, lang, pct, scheme, tr, wan
from ringscope.app.ui import goto_lead, show_cypher, table

PAGE = "briefing"

st.title(tr("工作简报", "Briefing"))
lay = data.layer()
frames = lay.briefing(today=dt.date.today().isoformat())
leads = frames["leads"]

schemes_all = sorted(leads["scheme"].dropna().unique()) if len(leads) else []
picked = st.multiselect(tr("按类型筛选线索", "Filter leads by scheme"), schemes_all, key="brief_schemes",
                        format_func=scheme, placeholder=tr("全部类型", "All schemes"))
if picked:
    leads = leads[leads["scheme"].isin(picked)]
brief = summarise(leads, frames["hits"], frames["fund"], frames["officers"], frames["events"])
c = data.caller()
brief.user, brief.role, brief.lang = c.user, c.role, lang()
brief.scope = tr("全市", "whole city") if c.citywide else "、".join(c.districts)
k = brief.kpis

if not k["leads"]:
    st.info(tr("暂无线索。请先运行 `ringscope detect DATASET --out RESULTS` 将检测结果写入数据库。",
               "No leads yet. Run `ringscope detect DATASET --out RESULTS` to write findings to Neo4j."))

row1 = st.columns(4)
row1[0].metric(tr("线索总数", "Leads"), f"{k['leads']:,}")
row1[1].metric(tr("在办", "Open"), f"{k['open']:,}", help=tr("尚未结案的线索", "Leads not closed"))
row1[2].metric(tr("超期", "Overdue"), f"{k['overdue']:,}",
               help=tr("在办且已过办理时限", "Open and past their deadline"))
row1[3].metric(tr("移送公安", "Referred to police"), f"{k['referred_to_police']:,}")
row2 = st.columns(4)
row2[0].metric(tr("涉嫌金额", "Money at risk"), wan(k["amount_at_risk"]))
row2[1].metric(tr("已追回", "Recovered"), wan(k["recovered"]))
row2[2].metric(tr("结案率", "Clearance rate"), pct(k["clearance_rate"]),
               help=tr("已结案线索 / 全部线索", "Closed leads / all leads"))
row2[3].metric(tr("追回率", "Recovery rate"), pct(k["recovery_rate"]),
               help=tr("查实线索的追回金额 / 其涉嫌金额", "Recovered on confirmed leads / their money at risk"))

tabs = st.tabs([tr("本期与上期", "This period vs last"), tr("按月趋势", "Trend by month"),
                tr("超期与工作量", "Overdue and workload"), tr("按类型", "By scheme"), tr("按区县", "By district"),
                tr("重点线索", "Top leads")])
with tabs[0]:
    cmp = brief.compare
    if len(cmp):
        money = {"hits_amount_at_risk", "fund_paid", "recovered"}
        cols = st.columns(len(cmp))
        for cc, r in zip(cols, cmp.itertuples(index=False)):
            f = wan if r.metric in money else (lambda v: f"{v:,.0f}")
            delta = None if r.last_period is None else (
                f"{(r.this_period - r.last_period) / abs(r.last_period) * 100:+.1f}%" if r.last_period else None)
            cc.metric(r.label_zh if lang() == "zh" else r.label_en, f(r.this_period), delta,
                      delta_color="inverse" if r.metric in ("hits_amount_at_risk", "leads") else "normal",
                      help=tr(f"本期 {r.period}，上期 {r.last_period_label}：", f"{r.period}; previous "
                              f"{r.last_period_label}: ") + (f(r.last_period) if r.last_period is not None else "—"))
        d0, e0 = cmp.iloc[0], cmp.iloc[-1]
        st.caption(tr(f"前三项按数据月份：本期 {d0.period}，上期 {d0.last_period_label}；后三项按处置日期：本期 "
                      f"{e0.period}，上期 {e0.last_period_label}。箭头为环比。",
                      f"The first three by data month: {d0.period} against {d0.last_period_label}; the last three by "
                      f"disposal date: {e0.period} against {e0.last_period_label}. Arrows: change on the previous period."))
with tabs[1]:
    bm = brief.by_month
    if len(bm):
        fig = go.Figure()
        fig.add_bar(x=bm["month"], y=bm["hits_amount_at_risk"] / 1e4, name=tr("规则命中涉嫌金额（万元）",
                                                                              "Rule-hit money at risk (10k CNY)"))
        if "fund_paid" in bm and bm["fund_paid"].sum() > 0:
            fig.add_scatter(x=bm["month"], y=bm["fund_paid"] / 1e4, name=tr("统筹基金支付（万元）", "Fund paid (10k CNY)"),
                            yaxis="y2", mode="lines+markers")
        fig.update_layout(height=360, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=1.12),
                          xaxis=dict(type="category", title=tr("月份", "Month")),
                          yaxis=dict(title=tr("万元", "10k CNY")),
                          yaxis2=dict(overlaying="y", side="right", title=tr("万元", "10k CNY"), showgrid=False))
        st.plotly_chart(fig, key="brief_trend_chart")
        st.caption(tr(f"覆盖数据的全部 {len(bm)} 个月（{bm['month'].iloc[0]} 至 {bm['month'].iloc[-1]}）；"
                      "类型筛选只作用于线索，不影响趋势。",
                      f"All {len(bm)} months of the data ({bm['month'].iloc[0]} to {bm['month'].iloc[-1]}); "
                      "the scheme filter applies to leads, never to the trend."))
        table(bm, "brief_trend_table", hide=("lead_amount_at_risk",),
              column_config={col("share_of_fund_paid"): st.column_config.NumberColumn(format="percent"),
                             col("hits_amount_at_risk"): st.column_config.NumberColumn(format="localized"),
                             col("fund_paid"): st.column_config.NumberColumn(format="localized")})
    rm = brief.recovered_monthly
    st.markdown("**" + tr("每月追回金额（按处置记录日期）", "Recovered per month (by disposal date)") + "**")
    if len(rm):
        fig = go.Figure()
        fig.add_bar(x=rm["month"], y=rm["recovered"] / 1e4, name=tr("当月追回（万元）", "Recovered (10k CNY)"))
        fig.add_scatter(x=rm["month"], y=rm["total_recovered"] / 1e4, name=tr("累计追回（万元）", "To date (10k CNY)"),
                        mode="lines+markers")
        fig.update_layout(height=280, margin=dict(l=10, r=10, t=30, b=10), xaxis=dict(type="category"),
                          legend=dict(orientation="h", y=1.15))
        st.plotly_chart(fig, key="brief_recovered_chart")
    else:
        st.caption(tr("尚无追回记录。", "No recoveries recorded yet."))
with tabs[2]:
    st.markdown("**" + tr("超期线索", "Overdue leads") + f"（{k['overdue']}）**")
    if len(brief.overdue):
        ev = table(brief.overdue, "brief_overdue", select=True)
        rows = ev.selection.rows if ev is not None and hasattr(ev, "selection") else []
        if rows and st.button(tr("打开所选线索", "Open the selected lead"), key="brief_goto_lead"):
            goto_lead(brief.overdue.iloc[rows[0]]["lead_id"], "pages/leads.py")
    else:
        st.caption(tr("没有超期线索。", "No overdue leads."))
    st.markdown("**" + tr("承办人工作量", "Workload per officer") + "**")
    off = brief.officers.assign(officer=brief.officers["officer"].replace("", tr("（未分派）", "(unassigned)"))) \
        if len(brief.officers) else brief.officers
    table(off, "brief_officers")
with tabs[3]:
    bs = brief.by_scheme.assign(scheme=brief.by_scheme["scheme"])
    if len(bs):
        fig = go.Figure()
        fig.add_bar(x=[scheme(s) for s in bs["scheme"]], y=bs["amount_at_risk"] / 1e4, name=tr("涉嫌金额", "At risk"))
        fig.add_bar(x=[scheme(s) for s in bs["scheme"]], y=bs["recovered"] / 1e4, name=tr("已追回", "Recovered"))
        fig.update_layout(barmode="group", height=340, margin=dict(l=10, r=10, t=30, b=10),
                          yaxis=dict(title=tr("万元", "10k CNY")), legend=dict(orientation="h", y=1.12))
        st.plotly_chart(fig, key="brief_scheme_chart")
    table(bs, "brief_scheme_table")
with tabs[4]:
    bd = brief.by_district
    if len(bd):
        fig = go.Figure(go.Bar(x=bd["district"].head(30).astype(str), y=bd["amount_at_risk"].head(30) / 1e4))
        fig.update_layout(height=320, margin=dict(l=10, r=10, t=30, b=10), yaxis=dict(title=tr("涉嫌金额（万元）", "At risk (10k CNY)")))
        st.plotly_chart(fig, key="brief_district_chart")
    table(bd, "brief_district_table")
with tabs[5]:
    tl = brief.top_leads[[c for c in ("rank", "lead_id", "scheme", "score", "amount_at_risk", "status", "district",
                                      "assignee", "deadline") if c in brief.top_leads.columns]]
    table(tl, "brief_top_table")


def _pdf() -> bytes:
    lay.log_export(PAGE, "briefing_pdf", [], int(k["leads"]))
    return build_briefing_pdf(brief)


st.download_button(tr("下载简报 PDF", "Download the PDF briefing"), data=_pdf,
                   file_name="ringscope_briefing.pdf", mime="application/pdf", key="brief_pdf", type="primary",
                   icon=":material/picture_as_pdf:")
show_cypher(["briefing_leads", "briefing_rule_hits_monthly", "briefing_fund_monthly", "briefing_officers",
             "briefing_events"], {"districts": c.districts_param, "referred_only": False})
