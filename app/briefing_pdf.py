"""The leadership briefing: its figures (:func:`summarise`) and its PDF (:func:`build_briefing_pdf`).

Periods follow the data. The trend covers every month the data has --
settlements, rule hits and leads -- and is never narrowed by a filter; "this
period" is the latest month of the data (or of the disposal record, for
disposal figures) and "last period" the month before it.

A leader's view: headline figures, this period against the last (new leads,
money at risk in rule hits, leads closed, referred, money recovered), overdue
leads, workload per officer, clearance rate (leads closed / all leads) and
recovery rate (money recovered / money at risk of the leads confirmed),
recovered funds by month, breakdowns by scheme and district, the top leads.

The PDF is set in Chinese (:mod:`ringscope.app.pdfdoc`), A4, for print. It
holds no personal data.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from ringscope.app.i18n import col, scheme, tr, value, wan

__all__ = ["BriefingData", "summarise", "summarise_leads", "build_briefing_pdf", "all_months", "OPEN"]

OPEN = ("new", "初审", "复审", "调查核实", "申诉", "处理", "移送公安")


@dataclass
class BriefingData:
    """Frames the briefing is made of (see :func:`summarise`)."""

    kpis: Mapping[str, float]
    by_scheme: pd.DataFrame
    by_district: pd.DataFrame
    by_month: pd.DataFrame
    top_leads: pd.DataFrame
    compare: pd.DataFrame = field(default_factory=pd.DataFrame)
    officers: pd.DataFrame = field(default_factory=pd.DataFrame)
    overdue: pd.DataFrame = field(default_factory=pd.DataFrame)
    recovered_monthly: pd.DataFrame = field(default_factory=pd.DataFrame)
    user: str = ""
    role: str = ""
    scope: str = ""
    lang: str = "zh"
    generated_at: str = field(default_factory=lambda: dt.datetime.now().replace(microsecond=0).isoformat())


def all_months(*series: pd.Series) -> list[str]:
    """Every month from the first to the last one seen in any of ``series`` (gaps filled).

    >>> all_months(pd.Series(["2024-01", "2024-03"]), pd.Series(["unknown", None]))
    ['2024-01', '2024-02', '2024-03']
    """
    seen = sorted({str(m) for s in series for m in s.dropna() if len(str(m)) == 7 and str(m)[4] == "-"})
    if not seen:
        return []
    rng = pd.period_range(seen[0], seen[-1], freq="M")
    return [str(p) for p in rng]


def _brk(df: pd.DataFrame, colname: str) -> pd.DataFrame:
    if df.empty:
        return pd.DataFrame(columns=[colname, "leads", "open", "amount_at_risk", "recovered"])
    return (df.groupby(colname, dropna=False)
            .agg(leads=("lead_id", "size"), open=("is_open", "sum"),
                 amount_at_risk=("amount_at_risk", "sum"), recovered=("recovered", "sum"))
            .reset_index().sort_values("amount_at_risk", ascending=False, kind="stable").reset_index(drop=True))


def summarise(leads: pd.DataFrame, hits_monthly: pd.DataFrame | None = None,
              fund_monthly: pd.DataFrame | None = None, officers: pd.DataFrame | None = None,
              events: pd.DataFrame | None = None, *, today: dt.date | None = None, top: int = 10) -> BriefingData:
    """All figures of the briefing from the data layer's ``briefing()`` frames."""
    today = today or dt.date.today()
    df = leads.copy()
    if df.empty:
        df = pd.DataFrame(columns=["lead_id", "scheme", "status", "outcome", "amount_at_risk", "recovered",
                                   "district", "month", "score", "rank", "deadline", "assignee"])
    for c in ("deadline", "assignee", "last_month"):
        if c not in df:
            df[c] = None
    df["amount_at_risk"] = pd.to_numeric(df["amount_at_risk"], errors="coerce").fillna(0.0)
    df["recovered"] = pd.to_numeric(df["recovered"], errors="coerce").fillna(0.0)
    df["is_open"] = df["status"].isin(OPEN)
    df["confirmed"] = df["outcome"].eq("confirmed")
    df["referred"] = df["status"].eq("移送公安")
    df["overdue"] = df["is_open"] & df["deadline"].notna() & (df["deadline"].astype(str) < today.isoformat())
    n = len(df)
    closed = int(df["status"].eq("结案").sum())
    confirmed_risk = float(df.loc[df["confirmed"], "amount_at_risk"].sum())
    kpis = {
        "leads": int(n),
        "open": int(df["is_open"].sum()),
        "amount_at_risk": float(df["amount_at_risk"].sum()),
        "recovered": float(df["recovered"].sum()),
        "confirmed": int(df["confirmed"].sum()),
        "referred_to_police": int(df["referred"].sum()),
        "closed": closed,
        "overdue": int(df["overdue"].sum()),
        "clearance_rate": (closed / n) if n else None,
        "recovery_rate": (float(df.loc[df["confirmed"], "recovered"].sum()) / confirmed_risk)
        if confirmed_risk > 0 else None,
    }

    hm = hits_monthly if hits_monthly is not None and len(hits_monthly) else pd.DataFrame(
        columns=["month", "n_hits", "amount_at_risk"])
    fm = fund_monthly if fund_monthly is not None and len(fund_monthly) else pd.DataFrame(
        columns=["month", "fund_paid", "n_visits"])
    months = all_months(hm["month"], fm["month"], df["month"])
    trend = pd.DataFrame({"month": pd.Series(months, dtype=object)})
    if len(hm):
        h = (hm[hm["month"] != "unknown"].groupby("month")
             .agg(n_hits=("n_hits", "sum"), hits_amount_at_risk=("amount_at_risk", "sum")).reset_index())
        trend = trend.merge(h, on="month", how="left")
    if len(fm):
        trend = trend.merge(fm[["month", "fund_paid"]], on="month", how="left")
    lm = (df.groupby("month").agg(leads=("lead_id", "size"), lead_amount_at_risk=("amount_at_risk", "sum"))
          .reset_index()) if n else pd.DataFrame(columns=["month", "leads", "lead_amount_at_risk"])
    trend = trend.merge(lm, on="month", how="left")
    for c in ("n_hits", "hits_amount_at_risk", "fund_paid", "leads", "lead_amount_at_risk"):
        if c not in trend:
            trend[c] = 0.0
    trend = trend.fillna({c: 0 for c in trend.columns if c != "month"})
    if "fund_paid" in trend:
        trend["share_of_fund_paid"] = trend["hits_amount_at_risk"] / trend["fund_paid"].where(trend["fund_paid"] > 0)

    ev = events if events is not None and len(events) else pd.DataFrame(
        columns=["month", "closed", "confirmed", "referred", "recovered"])
    rec = ev.sort_values("month").reset_index(drop=True) if len(ev) else ev
    if len(rec):
        rec = rec.assign(total_recovered=rec["recovered"].cumsum())

    # this period vs the last: the data's latest two months; disposals by their own calendar
    rows = []
    if len(months) >= 1:
        cur, prev = months[-1], (months[-2] if len(months) >= 2 else None)
        t = trend.set_index("month")

        def pair(c):
            return float(t.loc[cur, c]), (float(t.loc[prev, c]) if prev else None)
        for key, zh, en in (("leads", "新发现线索", "New leads"),
                            ("hits_amount_at_risk", "规则命中金额", "Rule-hit money"),
                            ("fund_paid", "统筹基金支付", "Fund paid")):
            if key in t:
                a, b = pair(key)
                rows.append({"metric": key, "label_zh": zh, "label_en": en, "period": cur, "this_period": a,
                             "last_period_label": prev, "last_period": b})
    cur_e = today.strftime("%Y-%m")
    prev_e = (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    e = ev.set_index("month") if len(ev) else None
    for key, zh, en in (("closed", "结案", "Closed"), ("referred", "移送公安", "Referred"),
                        ("recovered", "追回金额", "Recovered")):
        a = float(e.loc[cur_e, key]) if e is not None and cur_e in e.index else 0.0
        b = float(e.loc[prev_e, key]) if e is not None and prev_e in e.index else 0.0
        rows.append({"metric": key, "label_zh": zh, "label_en": en, "period": cur_e, "this_period": a,
                     "last_period_label": prev_e, "last_period": b})
    compare = pd.DataFrame(rows)

    overdue = df[df["overdue"]].sort_values("deadline")[["lead_id", "scheme", "status", "assignee", "deadline",
                                                         "amount_at_risk"]].reset_index(drop=True)
    off = officers if officers is not None else pd.DataFrame()
    top_leads = df.sort_values(["amount_at_risk"], ascending=False).head(top).reset_index(drop=True)
    return BriefingData(kpis, _brk(df, "scheme"), _brk(df, "district"), trend, top_leads, compare,
                        off.reset_index(drop=True), overdue, rec, generated_at=dt.datetime.now()
                        .replace(microsecond=0).isoformat())


def summarise_leads(leads: pd.DataFrame, hits_monthly: pd.DataFrame | None = None, top: int = 10) -> BriefingData:
    """:func:`summarise` from leads and monthly rule hits only."""
    return summarise(leads, hits_monthly, top=top)


def _fmt_change(a: float, b: float | None) -> str:
    if b is None:
        return "—"
    if b == 0:
        return "—" if a == 0 else "+∞"
    return f"{100 * (a - b) / abs(b):+.1f}%"


def build_briefing_pdf(data: BriefingData, *, title: str | None = None) -> bytes:
    """The briefing as an A4 PDF (bytes), in the briefing's language."""
    from ringscope.app.pdfdoc import Doc

    lg = data.lang

    def T(zh: str, en: str) -> str:
        return tr(zh, en, lang_=lg)

    title = title or T("医保基金团伙欺诈线索工作简报", "Medical-insurance fund: fraud-ring briefing")
    doc = Doc(title, mark=T("内部资料 注意保密", "Internal"), lang=lg)
    if not doc.cjk:
        lg = "en"
    months = data.by_month["month"].tolist() if len(data.by_month) else []
    span = f"{months[0]} — {months[-1]}" if months else "—"
    doc.title_block(title, T(f"数据期间 {span} · 辖区 {data.scope or '全市'} · 生成 {data.generated_at} · "
                             f"{data.user}（{value('role', data.role, lang_='zh')}）",
                             f"Data {span} · scope {data.scope or 'whole city'} · generated {data.generated_at} "
                             f"by {data.user} ({data.role})"))
    k = data.kpis
    doc.heading(T("一、总体情况", "1. Overview"))
    cr = f"{100 * k['clearance_rate']:.1f}%" if k.get("clearance_rate") is not None else "—"
    rr = f"{100 * k['recovery_rate']:.1f}%" if k.get("recovery_rate") is not None else "—"
    doc.para(T(f"系统共发现团伙线索 {k['leads']} 条，涉嫌金额 {wan(k['amount_at_risk'], lang_='zh')}；"
               f"在办 {k['open']} 条，其中超期 {k.get('overdue', 0)} 条；已结案 {k['closed']} 条（结案率 {cr}），"
               f"查实 {k['confirmed']} 条，移送公安 {k['referred_to_police']} 条；"
               f"累计追回 {wan(k['recovered'], lang_='zh')}（追回率 {rr}）。",
               f"{k['leads']} ring leads, {wan(k['amount_at_risk'], lang_='en')} at risk; {k['open']} open, "
               f"{k.get('overdue', 0)} overdue; {k['closed']} closed (clearance {cr}), {k['confirmed']} confirmed, "
               f"{k['referred_to_police']} referred to police; {wan(k['recovered'], lang_='en')} recovered "
               f"(recovery {rr})."))
    if len(data.compare):
        doc.heading(T("二、本期与上期对比", "2. This period against the last"))
        rows = []
        for r in data.compare.itertuples(index=False):
            money = r.metric in ("hits_amount_at_risk", "fund_paid", "recovered")
            f = (lambda v: wan(v, lang_=lg)) if money else (lambda v: f"{v:,.0f}")
            rows.append([r.label_zh if lg == "zh" else r.label_en, str(r.period), f(r.this_period),
                         str(r.last_period_label or "—"), f(r.last_period) if r.last_period is not None else "—",
                         _fmt_change(r.this_period, r.last_period)])
        doc.grid([T("指标", "Metric"), T("本期", "Period"), T("本期数", "Value"), T("上期", "Previous"),
                  T("上期数", "Value"), T("环比", "Change")], rows,
                 align=["LEFT", "CENTER", "RIGHT", "CENTER", "RIGHT", "RIGHT"], widths=[52, 20, 28, 20, 28, 17])
    doc.heading(T("三、按月趋势（覆盖数据全部月份）", "3. Trend by month (every month of the data)"))
    if len(data.by_month):
        bm = data.by_month
        doc.bars([m[2:] for m in bm["month"]], bm["hits_amount_at_risk"].astype(float).tolist(),
                 caption=T("规则命中涉嫌金额（万元）", "Rule-hit money at risk (CNY)"),
                 fmt=(lambda v: f"{v / 1e4:,.1f}") if lg == "zh" else (lambda v: f"{v:,.0f}"))
    if len(data.recovered_monthly):
        rm = data.recovered_monthly
        doc.bars([m[2:] for m in rm["month"]], rm["recovered"].astype(float).tolist(),
                 caption=T("每月追回金额（按处置记录日期，万元）", "Recovered per month (by disposal date, CNY)"),
                 fmt=(lambda v: f"{v / 1e4:,.1f}") if lg == "zh" else (lambda v: f"{v:,.0f}"))
    doc.heading(T("四、按类型", "4. By scheme"))
    doc.grid([col("scheme", lang_=lg), col("leads", lang_=lg), col("open", lang_=lg),
              T("涉嫌金额", "At risk"), T("追回金额", "Recovered")],
             [[scheme(r.scheme, lang_=lg), f"{int(r.leads)}", f"{int(r.open)}", wan(r.amount_at_risk, lang_=lg),
               wan(r.recovered, lang_=lg)] for r in data.by_scheme.itertuples(index=False)],
             align=["LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"], widths=[55, 20, 20, 35, 35])
    doc.heading(T("五、按区县", "5. By district"))
    doc.grid([col("district", lang_=lg), col("leads", lang_=lg), col("open", lang_=lg),
              T("涉嫌金额", "At risk"), T("追回金额", "Recovered")],
             [[str(r.district), f"{int(r.leads)}", f"{int(r.open)}", wan(r.amount_at_risk, lang_=lg),
               wan(r.recovered, lang_=lg)] for r in data.by_district.head(20).itertuples(index=False)],
             align=["LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"], widths=[55, 20, 20, 35, 35])
    doc.heading(T("六、超期线索与承办人工作量", "6. Overdue leads and workload per officer"))
    doc.grid([col("lead_id", lang_=lg), col("scheme", lang_=lg), col("status", lang_=lg), col("assignee", lang_=lg),
              col("deadline", lang_=lg), T("涉嫌金额", "At risk")],
             [[str(r.lead_id), scheme(r.scheme, lang_=lg), str(value("status", r.status, lang_=lg)),
               str(r.assignee or "—"), str(r.deadline), wan(r.amount_at_risk, lang_=lg)]
              for r in data.overdue.head(20).itertuples(index=False)],
             align=["LEFT", "LEFT", "LEFT", "LEFT", "CENTER", "RIGHT"], widths=[22, 35, 25, 30, 25, 28])
    if len(data.officers):
        doc.grid([col("officer", lang_=lg), col("open", lang_=lg), col("overdue", lang_=lg), col("closed", lang_=lg),
                  col("confirmed", lang_=lg), T("追回金额", "Recovered")],
                 [[str(r.officer or T("未分派", "unassigned")), f"{int(r.open)}", f"{int(r.overdue)}",
                   f"{int(r.closed)}", f"{int(r.confirmed)}", wan(r.recovered, lang_=lg)]
                  for r in data.officers.head(20).itertuples(index=False)],
                 align=["LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"], widths=[45, 20, 20, 20, 20, 40])
    doc.heading(T("七、涉嫌金额最大的线索", "7. Top leads by money at risk"))
    doc.grid([col("rank", lang_=lg), col("lead_id", lang_=lg), col("scheme", lang_=lg), col("score", lang_=lg),
              T("涉嫌金额", "At risk"), col("status", lang_=lg), col("district", lang_=lg)],
             [[f"{int(r['rank'])}" if pd.notna(r.get("rank")) else "—", str(r["lead_id"]), scheme(r["scheme"], lang_=lg),
               f"{float(r['score'] or 0):.2f}", wan(r["amount_at_risk"], lang_=lg),
               str(value("status", r["status"], lang_=lg)), str(r.get("district") or "—")]
              for _, r in data.top_leads.iterrows()],
             align=["RIGHT", "LEFT", "LEFT", "RIGHT", "RIGHT", "LEFT", "LEFT"], widths=[12, 20, 35, 15, 30, 28, 25])
    doc.ln(2)
    doc.set_font("Body", "", 8)
    doc.multi_cell(0, 4.5, T("说明：线索为系统自动检测结果，采取措施前须经人工核查。本简报不含个人信息。",
                             "Leads are findings of automated detection; each needs review before action. "
                             "No personal data is included."), new_x="LMARGIN", new_y="NEXT")
    return bytes(doc.output())
