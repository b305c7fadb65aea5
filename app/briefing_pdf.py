"""The leadership briefing as a PDF (fpdf2).

One A4 document: headline figures (leads, money at risk, recovered, referred
to the police), breakdowns by scheme and district, the monthly trend of money
at risk drawn as bars, and the top leads.

Fonts: a CJK-capable font (Noto Sans/Serif CJK, WenQuanYi, Source Han, Droid
Sans Fallback) is used when the system has one
(:func:`find_cjk_font`); otherwise the document is set in DejaVu Sans with
English labels only -- Chinese characters in free text (lead summaries, rule
names) are left out and disposal states are written in English -- and the
footer says so. Ids are written as they are (they are ASCII in every dataset
seen so far; non-ASCII ids lose their CJK characters in that mode).
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ringscope.app.workflow import STATUS_EN

__all__ = ["find_cjk_font", "BriefingData", "summarise_leads", "build_briefing_pdf", "pdf_text", "code_labels"]

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
DEJAVU_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
_CJK_PATTERNS = ("NotoSansCJK", "NotoSerifCJK", "NotoSansSC", "NotoSerifSC", "wqy-", "WenQuanYi",
                 "SourceHanSans", "SourceHanSerif", "DroidSansFallback")
SCHEME_EN = {
    "card_lending": "card lending", "card_cashout": "card cash-out",
    "collusive_prescribing": "collusive prescribing", "ghost_admission": "ghost admission",
    "split_admission": "split admission", "doctor_shopping": "doctor shopping", "other": "other",
}


@functools.lru_cache(maxsize=1)
def find_cjk_font() -> Path | None:
    """The first CJK-capable TrueType/OpenType font under the system font dirs."""
    for root in (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts"):
        if not root.is_dir():
            continue
        for p in sorted(root.rglob("*")):
            if p.suffix.lower() in (".ttf", ".otf", ".ttc") and any(k in p.name for k in _CJK_PATTERNS):
                return p
    return None


@functools.lru_cache(maxsize=1)
def _dejavu_chars() -> frozenset[int]:
    from fontTools.ttLib import TTFont

    return frozenset(TTFont(str(DEJAVU), lazy=True).getBestCmap().keys())


def pdf_text(s: object, *, cjk: bool) -> str:
    """Text safe for the chosen font: without CJK glyphs, characters the font
    lacks are dropped and the leftover spacing and empty brackets tidied.

    >>> pdf_text("借卡 ring of 5 persons（3 faces）", cjk=False)
    'ring of 5 persons 3 faces'
    """
    if s is None or (isinstance(s, float) and pd.isna(s)):
        return ""
    text = str(s)
    if cjk:
        return text
    have = _dejavu_chars()
    text = "".join(ch if ord(ch) in have or ch in "\n\t" else " " for ch in text)
    text = re.sub(r"[\(\[]\s*[\)\]]", "", text)
    return re.sub(r"[ \t]+", " ", text).strip(" ,;:/-")


@dataclass
class BriefingData:
    """Frames the briefing is made of (see :func:`summarise_leads`)."""

    kpis: Mapping[str, float]
    by_scheme: pd.DataFrame
    by_district: pd.DataFrame
    by_month: pd.DataFrame
    top_leads: pd.DataFrame
    user: str = ""
    role: str = ""
    generated_at: str = field(default_factory=lambda: dt.datetime.now().replace(microsecond=0).isoformat())


OPEN = ("new", "初审", "复审", "调查核实", "申诉", "处理", "移送公安")


def summarise_leads(leads: pd.DataFrame, hits_monthly: pd.DataFrame | None = None,
                    top: int = 10) -> BriefingData:
    """Headline figures and breakdowns from ``briefing_leads`` rows (and the
    monthly rule-hit rows of ``briefing_rule_hits_monthly``)."""
    df = leads.copy()
    if df.empty:
        df = pd.DataFrame(columns=["lead_id", "scheme", "status", "outcome", "amount_at_risk",
                                   "recovered", "district", "month", "score", "rank"])
    df["is_open"] = df["status"].isin(OPEN)
    df["confirmed"] = df["outcome"].eq("confirmed")
    df["referred"] = df["status"].eq("移送公安")
    kpis = {
        "leads": int(len(df)),
        "open": int(df["is_open"].sum()),
        "amount_at_risk": float(df["amount_at_risk"].sum()),
        "recovered": float(df["recovered"].sum()),
        "confirmed": int(df["confirmed"].sum()),
        "referred_to_police": int(df["referred"].sum()),
        "closed": int(df["status"].eq("结案").sum()),
    }

    def brk(col: str) -> pd.DataFrame:
        if df.empty:
            return pd.DataFrame(columns=[col, "leads", "open", "amount_at_risk", "recovered"])
        return (df.groupby(col, dropna=False)
                .agg(leads=("lead_id", "size"), open=("is_open", "sum"),
                     amount_at_risk=("amount_at_risk", "sum"), recovered=("recovered", "sum"))
                .reset_index().sort_values("amount_at_risk", ascending=False, kind="stable"))

    by_month = brk("month").sort_values("month", kind="stable") if len(df) else brk("month")
    by_month = by_month.rename(columns={"amount_at_risk": "lead_amount_at_risk"})
    if hits_monthly is not None and len(hits_monthly):
        hm = (hits_monthly[hits_monthly["month"] != "unknown"].groupby("month")
              .agg(n_hits=("n_hits", "sum"), hits_amount_at_risk=("amount_at_risk", "sum")).reset_index())
        by_month = hm.merge(by_month, on="month", how="outer").sort_values("month")
    by_month = by_month.fillna({c: 0 for c in by_month.columns if c != "month"})
    top_leads = df.sort_values(["amount_at_risk"], ascending=False).head(top)
    return BriefingData(kpis, brk("scheme"), brk("district"), by_month.reset_index(drop=True),
                        top_leads.reset_index(drop=True))


def code_labels(values: pd.Series, *, cjk: bool, prefix: str = "district") -> dict[str, str]:
    """Printable labels: a value the font cannot show whole becomes
    ``<prefix> #k`` (k = its position in sorted order), never a transliteration.

    >>> code_labels(pd.Series(["小店区", "Downtown", "小店区", "万柏林区"]), cjk=False)
    {'Downtown': 'Downtown', '万柏林区': 'district #1', '小店区': 'district #2'}
    """
    uniq = sorted(values.dropna().astype(str).unique())
    out, k = {}, 0
    for v in uniq:
        if cjk or pdf_text(v, cjk=False) == v:
            out[v] = v
        else:
            k += 1
            out[v] = f"{prefix} #{k}"
    return out


def _money(v: float) -> str:
    return f"{v:,.0f}"


def build_briefing_pdf(data: BriefingData, *, title: str = "Medical-insurance fund: fraud-ring briefing") -> bytes:
    """The PDF as bytes."""
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    cjk_font = find_cjk_font()
    cjk = cjk_font is not None
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(True, margin=15)
    if cjk:
        pdf.add_font("Body", "", str(cjk_font))
        pdf.add_font("Body", "B", str(cjk_font))
    else:
        pdf.add_font("Body", "", str(DEJAVU))
        pdf.add_font("Body", "B", str(DEJAVU_BOLD))
    T = functools.partial(pdf_text, cjk=cjk)
    districts = code_labels(pd.concat([data.by_district.get("district", pd.Series(dtype=object)),
                                       data.top_leads.get("district", pd.Series(dtype=object))]), cjk=cjk)
    coded = {v: k for k, v in districts.items() if k != v}
    pdf.set_title(T(title))
    pdf.set_creator("ringscope")
    pdf.add_page()
    pdf.set_font("Body", "B", 16)
    pdf.multi_cell(0, 8, T(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Body", "", 9)
    pdf.cell(0, 6, T(f"Generated {data.generated_at} for {data.user or 'unknown'} ({data.role or '-'}). "
                     "Findings of automated detection; each lead needs review before action."),
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)

    # headline boxes
    k = data.kpis
    boxes = [("Leads", f"{k['leads']}"), ("Open", f"{k['open']}"),
             ("At risk (CNY)", _money(k["amount_at_risk"])), ("Recovered (CNY)", _money(k["recovered"])),
             ("Confirmed", f"{k['confirmed']}"), ("To police", f"{k['referred_to_police']}")]
    w = (pdf.w - pdf.l_margin - pdf.r_margin) / len(boxes)
    y0 = pdf.get_y()
    for i, (label, value) in enumerate(boxes):
        x = pdf.l_margin + i * w
        pdf.set_fill_color(240, 243, 248)
        pdf.rect(x + 1, y0, w - 2, 18, style="F")
        pdf.set_xy(x + 1, y0 + 2)
        pdf.set_font("Body", "", 8)
        pdf.cell(w - 2, 4, label, align="C")
        pdf.set_xy(x + 1, y0 + 8)
        pdf.set_font("Body", "B", 12)
        pdf.cell(w - 2, 7, value, align="C")
    pdf.set_y(y0 + 22)

    def table(heading: str, df: pd.DataFrame, cols: list[tuple[str, str, str]], max_rows: int = 15) -> None:
        pdf.set_font("Body", "B", 12)
        pdf.cell(0, 8, heading, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("Body", "", 8)
        rows = [[label for _, label, _ in cols]]
        for _, r in df.head(max_rows).iterrows():
            row = []
            for col, _, fmt in cols:
                v = r.get(col)
                if fmt == "money":
                    row.append(_money(float(v or 0)))
                elif fmt == "int":
                    row.append(f"{int(v or 0)}")
                elif fmt == "float":
                    row.append(f"{float(v or 0):.2f}")
                elif fmt == "scheme":
                    row.append(SCHEME_EN.get(str(v), T(v)))
                elif fmt == "district":
                    row.append(districts.get(str(v), T(v)) if v is not None else "-")
                elif fmt == "status":
                    row.append(STATUS_EN.get(str(v), T(v)))
                else:
                    row.append(T(v) or "-")
            rows.append(row)
        if len(rows) == 1:
            rows.append(["(none)"] + [""] * (len(cols) - 1))
        with pdf.table(text_align="LEFT", line_height=4.5, first_row_as_headings=True,
                       borders_layout="HORIZONTAL_LINES") as t:
            for row in rows:
                tr = t.row()
                for cell in row:
                    tr.cell(cell)
        pdf.ln(3)

    table("By scheme", data.by_scheme, [("scheme", "Scheme", "scheme"), ("leads", "Leads", "int"),
                                        ("open", "Open", "int"), ("amount_at_risk", "At risk (CNY)", "money"),
                                        ("recovered", "Recovered (CNY)", "money")])
    table("By district", data.by_district, [("district", "District", "district"), ("leads", "Leads", "int"),
                                            ("open", "Open", "int"),
                                            ("amount_at_risk", "At risk (CNY)", "money"),
                                            ("recovered", "Recovered (CNY)", "money")])

    # monthly trend as bars
    bm = data.by_month
    col = "hits_amount_at_risk" if "hits_amount_at_risk" in bm else "lead_amount_at_risk"
    if len(bm) and col in bm:
        pdf.set_font("Body", "B", 12)
        pdf.cell(0, 8, "Money at risk by month (rule hits on the month's settlements, CNY)",
                 new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if pdf.get_y() > pdf.h - 70:
            pdf.add_page()
        h, top = 45.0, pdf.get_y() + 2
        width = pdf.w - pdf.l_margin - pdf.r_margin
        vals = bm[col].astype(float).tolist()
        vmax = max(max(vals), 1.0)
        bw = width / max(len(vals), 1)
        pdf.set_fill_color(70, 110, 170)
        pdf.set_font("Body", "", 6)
        for i, (m, v) in enumerate(zip(bm["month"].astype(str), vals)):
            bh = h * v / vmax
            x = pdf.l_margin + i * bw
            pdf.rect(x + bw * 0.15, top + h - bh, bw * 0.7, bh, style="F")
            if len(vals) <= 24 or i % max(len(vals) // 12, 1) == 0:
                pdf.set_xy(x, top + h + 1)
                pdf.cell(bw, 3, m[2:] if len(m) == 7 else m, align="C")
        pdf.set_xy(pdf.l_margin, top - 1)
        pdf.cell(0, 3, f"max {_money(vmax)}")
        pdf.set_y(top + h + 7)

    table("Top leads by money at risk", data.top_leads,
          [("rank", "Rank", "int"), ("lead_id", "Lead", "text"), ("scheme", "Scheme", "scheme"),
           ("score", "Score", "float"), ("amount_at_risk", "At risk (CNY)", "money"),
           ("status", "State", "status"), ("district", "District", "district")])

    pdf.set_font("Body", "", 7)
    if coded:
        pdf.multi_cell(0, 4, f"District names need a CJK font: 'district #k' ({len(coded)} coded) is the "
                       "k-th district name in Unicode order; the app's Briefing page lists each code "
                       "beside its name.", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    note = ("Set in a CJK font." if cjk else
            "No CJK font is installed on this system: labels are in English and Chinese "
            "characters in free text are omitted.")
    pdf.multi_cell(0, 4, note + " Personal data is not included in this briefing.",
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())
