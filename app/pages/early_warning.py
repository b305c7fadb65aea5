"""动态预警 Early warning: institutions' and physicians' monthly indicators that left their peer
band or changed level (``warnings.csv``, written to Neo4j by ``ringscope detect``), scoped to the
caller's districts; the trend of a warned indicator against its peer band; a handler's status and
note on a warning (recorded with who and when); a jump to the entity.

Indicators and the method: ``docs/detectors.md`` (early_warning) and ``models/detectors/early_warning.py``.
"""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from ringscope.app import data
from ringscope.app.i18n import INDICATORS, lang, tr, value
from ringscope.app.ui import csv_button, goto_entity, show_cypher, table

PAGE = "early_warning"
PAGE_SIZE = 200
LEVEL_COLOURS = {"red": "#d62728", "orange": "#ff7f0e", "yellow": "#e5c100"}

st.title(tr("动态预警", "Early warning"))
st.caption(tr("机构和医师的月度监测指标（次均费用、人次人头比、药占比等）与同类同级机构的区间比较：偏离区间或水平突变即预警，"
              "分红、橙、黄三级。预警是线索的一项信号，需核查后说明或转线索。",
              "Monthly indicators of institutions and physicians (cost per visit, visits per patient, drug share, ...) "
              "against their peers of the same kind and level: leaving the band or changing level raises a warning, "
              "red, orange or yellow. A warning is one signal among others: check it, explain it or refer it."))
lay = data.layer()
summary = lay.warning_summary()
if summary.empty:
    st.info(tr("您的辖区内尚无预警：请先运行 `ringscope detect`。",
               "No warnings in your scope yet: run `ringscope detect` on a dataset."))
    st.stop()

k = st.columns(4)
by_level = summary.groupby("warn_level")["n"].sum()
k[0].metric(tr("有效预警", "Active warnings"), f"{int(summary['n'].sum()):,}")
k[1].metric(tr("红色预警", "Red"), f"{int(by_level.get('red', 0)):,}")
k[2].metric(tr("橙色预警", "Orange"), f"{int(by_level.get('orange', 0)):,}")
k[3].metric(tr("待核查", "Open"), f"{int(summary['n_open'].sum()):,}")

c = st.columns(4)
levels = c[0].multiselect(tr("预警等级", "Level"), ["red", "orange", "yellow"], key="ew_levels",
                          format_func=lambda v: value("warn_level", v), placeholder=tr("全部", "All"))
present = [i for i in INDICATORS if i in set(summary["indicator"])]
indicators = c[1].multiselect(tr("监测指标", "Indicator"), present, key="ew_ind",
                              format_func=lambda v: value("indicator", v), placeholder=tr("全部", "All"))
etype = c[2].selectbox(tr("对象类别", "Entity type"), [None, "institution", "physician"], key="ew_etype",
                       format_func=lambda v: tr("全部", "any") if v is None else value("entity_type", v))
status = c[3].selectbox(tr("核查状态", "Handling"), [None, "open", "checking", "explained", "referred"], key="ew_status",
                        format_func=lambda v: tr("全部", "any") if v is None else value("warn_status", v))
c2 = st.columns(4)
periods = sorted(summary["period"].unique())
p_from = c2[0].selectbox(tr("起始月份", "From month"), [None] + periods, key="ew_from",
                         format_func=lambda v: tr("不限", "any") if v is None else v)
p_to = c2[1].selectbox(tr("截止月份", "To month"), [None] + periods, key="ew_to",
                       format_func=lambda v: tr("不限", "any") if v is None else v)
eid = c2[2].text_input(tr("对象编号", "Entity id"), key="ew_eid").strip() or None
page_no = c2[3].number_input(tr("页码", "Page"), 1, value=1, step=1, key="ew_page")

with st.expander(tr("按月份和等级统计", "Warnings by month and level"), expanded=False):
    pv = summary.groupby(["period", "warn_level"], as_index=False)["n"].sum()
    fig = go.Figure()
    for lv in ("red", "orange", "yellow"):
        d = pv[pv["warn_level"] == lv]
        fig.add_bar(x=d["period"], y=d["n"], name=value("warn_level", lv), marker_color=LEVEL_COLOURS[lv])
    fig.update_layout(barmode="stack", height=300, margin=dict(l=10, r=10, t=10, b=10),
                      yaxis_title=tr("预警数", "warnings"))
    st.plotly_chart(fig, key="ew_months")

params = dict(levels=levels, indicators=indicators, entity_type=etype, entity_id=eid, period_from=p_from,
              period_to=p_to, status=status, active_only=True, skip=(int(page_no) - 1) * PAGE_SIZE, limit=PAGE_SIZE)
rows = lay.warnings(page=PAGE, **params)
if rows.empty:
    st.info(tr("没有符合条件的预警。", "No warnings match these filters."))
    st.stop()
st.caption(tr(f"第 {int(page_no)} 页：{len(rows)} 条预警，最近月份、最高等级在前；点选一行查看该指标的趋势。",
              f"Page {int(page_no)}: {len(rows)} warnings, newest month and strongest level first. "
              "Select a row to see the indicator's trend."))
ev = table(rows, "ew_table", select=True, hide=("warn_evidence", "band_low", "band_high", "district", "handler"))
csv_button(rows.drop(columns=["district"], errors="ignore"), page=PAGE, entity="warnings", file_name="warnings.csv",
           key="ew_csv")
sel = ev.selection.rows if ev is not None and hasattr(ev, "selection") else []
r = rows.iloc[sel[0] if sel else 0]
et, eid_, ind = str(r["entity_type"]), str(r["entity_id"]), str(r["indicator"])

st.subheader(tr(f"{value('entity_type', et)} {eid_} {r['name'] or ''} · {value('indicator', ind)}",
                f"{et} {eid_} {r['name'] or ''} · {value('indicator', ind)}"))
zh_text, _sep, en_text = str(r["warn_evidence"] or "").partition(" | ")
st.write(en_text if lang() == "en" and en_text else zh_text)
series = lay.warning_series(et, eid_)
own = series[series["indicator"] == ind]
if own.empty:
    st.info(tr("该指标的月度序列未保存（本轮检测未再预警）。", "The indicator's monthly series is not stored."))
else:
    fig = go.Figure()
    fig.add_scatter(x=own["period"], y=own["band_high"], mode="lines", line=dict(width=0), showlegend=False,
                    hoverinfo="skip")
    fig.add_scatter(x=own["period"], y=own["band_low"], mode="lines", line=dict(width=0), fill="tonexty",
                    fillcolor="rgba(31,119,180,0.15)", name=tr("同类区间", "peer band"))
    fig.add_scatter(x=own["period"], y=own["baseline"], mode="lines", line=dict(dash="dash", color="#1f77b4"),
                    name=tr("同类中位", "peer median"))
    colours = [LEVEL_COLOURS.get(str(lv), "#333333") for lv in own["warn_level"]]
    fig.add_scatter(x=own["period"], y=own["indicator_value"], mode="lines+markers", marker=dict(color=colours, size=9),
                    line=dict(color="#333333"), name=tr("本对象", "this entity"))
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=10, b=10), yaxis_title=value("indicator", ind))
    st.plotly_chart(fig, key="ew_trend")
    with st.expander(tr("月度数值", "Monthly values"), expanded=False):
        table(own.drop(columns=["indicator"]), "ew_series")
others = sorted(set(series["indicator"]) - {ind})
if others:
    st.caption(tr("该对象另有预警的指标：", "Other warned indicators of this entity: ")
               + "、".join(value("indicator", o) for o in others))

pol = data.caller().policy
a, b = st.columns(2)
if a.button(tr(f"在实体画像中打开 {eid_}", f"Open {eid_} in Entity 360"), key="ew_goto"):
    goto_entity(et, eid_)
if pol.add_notes:
    with b.form("ew_handle"):
        new_status = st.selectbox(tr("核查状态", "Handling"), ["open", "checking", "explained", "referred"],
                                  index=["open", "checking", "explained", "referred"].index(str(r["warn_status"])),
                                  format_func=lambda v: value("warn_status", v), key="ew_new_status")
        note = st.text_area(tr("核查说明", "Note"), key="ew_note_text")
        if st.form_submit_button(tr("保存核查结果", "Save"), type="primary"):
            ok = lay.update_warning(str(r["warning_id"]), et, eid_, status=new_status, note=note.strip() or None)
            if ok:
                st.success(tr("已保存。", "Saved."))
                st.rerun()
            else:
                st.error(tr("预警不存在。", "No such warning."))

show_cypher(["warnings_list", "warnings_summary", "warning_series", "warning_update"],
            {k_: v for k_, v in params.items()} | {"districts": data.caller().districts_param})
