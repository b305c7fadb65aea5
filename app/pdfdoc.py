"""Printed documents in Chinese: an A4 page set for print with fpdf2 and Noto CJK.

:class:`Doc` is an ``FPDF`` with the fonts, margins and furniture the app's
documents share -- the briefing (:mod:`ringscope.app.briefing_pdf`) and the
evidence package's 线索移送函 and case summary (:mod:`ringscope.app.evidence`):

- body in Noto Sans CJK SC (the Simplified Chinese face of the system's
  ``NotoSansCJK-*.ttc`` collection), headings in its bold; 10.5 pt body
  (五号), 1.5 line spacing, 25 mm / 20 mm margins as Chinese official
  documents use (GB/T 9704-2012 sets 37 mm / 26 mm for 公文; a working
  briefing uses less);
- a running header (document title, classification) and footer (第 x 页 共 y 页);
- tables with thin rules, no fills, numbers right-aligned.

Without a CJK font installed the documents cannot be set in Chinese; they
then fall back to DejaVu Sans with English labels (``Doc.cjk`` is False).
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

__all__ = ["find_cjk_font", "Doc"]

_CJK_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
DEJAVU_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


@functools.lru_cache(maxsize=4)
def find_cjk_font(weight: str = "Regular") -> tuple[Path, int] | None:
    """(path, index in the collection) of a Simplified Chinese font, or None."""
    prefs = [f"NotoSansCJK-{weight}.ttc", f"NotoSansCJKsc-{weight}.otf", f"NotoSansSC-{weight}.otf",
             f"NotoSerifCJK-{weight}.ttc", "wqy-microhei.ttc", "wqy-zenhei.ttc", "DroidSansFallbackFull.ttf"]
    found: dict[str, Path] = {}
    for root in _CJK_DIRS:
        if root.is_dir():
            for p in root.rglob("*"):
                if p.name in prefs and p.name not in found:
                    found[p.name] = p
    for name in prefs:
        if name in found:
            p = found[name]
            return p, (2 if p.name.startswith("NotoS") and p.suffix == ".ttc" else 0)  # 2 = SC in Noto's TTC
    return None


@functools.lru_cache(maxsize=1)
def _doc_class():
    from fpdf import FPDF

    class Doc(FPDF):
        """An A4 document set in Chinese (see the module)."""

        def __init__(self, title: str, *, mark: str = "", lang: str = "zh"):
            super().__init__(orientation="P", unit="mm", format="A4")
            self.doc_title, self.mark, self.lang = title, mark, lang
            reg, bold = find_cjk_font("Regular"), find_cjk_font("Bold")
            self.cjk = reg is not None
            if self.cjk:
                self.add_font("Body", "", str(reg[0]), collection_font_number=reg[1])
                b = bold or reg
                self.add_font("Body", "B", str(b[0]), collection_font_number=b[1])
            else:
                self.add_font("Body", "", str(DEJAVU))
                self.add_font("Body", "B", str(DEJAVU_BOLD))
            self.set_margins(25, 22, 20)
            self.set_auto_page_break(True, margin=20)
            self.set_title(title)
            self.set_creator("ringscope")
            self.alias_nb_pages()
            self.add_page()

        # furniture
        def header(self):
            self.set_font("Body", "", 8)
            self.set_text_color(110, 110, 110)
            self.set_xy(self.l_margin, 10)
            self.cell(0, 5, self.doc_title, align="L")
            if self.mark:
                self.set_xy(self.l_margin, 10)
                self.cell(0, 5, self.mark, align="R")
            self.set_draw_color(160, 160, 160)
            self.set_line_width(0.2)
            self.line(self.l_margin, 16, self.w - self.r_margin, 16)
            self.set_text_color(0, 0, 0)
            self.set_y(self.t_margin)

        def footer(self):
            self.set_y(-14)
            self.set_font("Body", "", 8)
            self.set_text_color(110, 110, 110)
            text = (f"第 {self.page_no()} 页 共 {{nb}} 页" if self.lang == "zh"
                    else f"Page {self.page_no()} of {{nb}}")
            self.cell(0, 5, text, align="C")
            self.set_text_color(0, 0, 0)

        # content
        @property
        def width(self) -> float:
            return self.w - self.l_margin - self.r_margin

        def title_block(self, title: str, subtitle: str = "") -> None:
            self.set_font("Body", "B", 18)
            self.multi_cell(0, 10, title, align="C", new_x="LMARGIN", new_y="NEXT")
            if subtitle:
                self.set_font("Body", "", 9)
                self.set_text_color(80, 80, 80)
                self.multi_cell(0, 5, subtitle, align="C", new_x="LMARGIN", new_y="NEXT")
                self.set_text_color(0, 0, 0)
            self.ln(4)

        def heading(self, text: str, size: float = 13) -> None:
            if self.get_y() > self.h - 45:
                self.add_page()
            self.ln(2)
            self.set_font("Body", "B", size)
            self.multi_cell(0, size * 0.6, text, new_x="LMARGIN", new_y="NEXT")
            self.ln(1.5)

        def para(self, text: str, size: float = 10.5, indent: bool = True) -> None:
            self.set_font("Body", "", size)
            lead = "\u3000\u3000" if indent and self.lang == "zh" else ""
            self.multi_cell(0, size * 0.53, lead + text, align="L", new_x="LMARGIN", new_y="NEXT")
            self.ln(1.5)

        def kv(self, rows: Sequence[tuple[str, str]], key_w: float = 35, size: float = 10) -> None:
            self.set_font("Body", "", size)
            for k, v in rows:
                self.set_font("Body", "B", size)
                y = self.get_y()
                self.multi_cell(key_w, size * 0.55, k, new_x="RIGHT", new_y="TOP")
                self.set_font("Body", "", size)
                self.set_xy(self.l_margin + key_w, y)
                self.multi_cell(self.width - key_w, size * 0.55, v, align="L", new_x="LMARGIN", new_y="NEXT")
            self.ln(2)

        def grid(self, header: Sequence[str], rows: Sequence[Sequence[str]], *, align: Sequence[str] | None = None,
                 widths: Sequence[float] | None = None, size: float = 8.5) -> None:
            """A table with thin horizontal rules, bold header, no fills."""
            self.set_font("Body", "", size)
            self.set_draw_color(120, 120, 120)
            self.set_fill_color(255, 255, 255)
            al = list(align or ["LEFT"] * len(header))
            if not rows:
                rows = [["—"] + [""] * (len(header) - 1)]
            with self.table(text_align=tuple(al), line_height=size * 0.55, first_row_as_headings=True,
                            borders_layout="HORIZONTAL_LINES", col_widths=tuple(widths) if widths else None,
                            headings_style=_heading_style(), padding=1) as t:
                for row in [list(header), *[list(r) for r in rows]]:
                    tr = t.row()
                    for cell in row:
                        tr.cell(str(cell))
            self.ln(3)

        def bars(self, labels: Sequence[str], values: Sequence[float], *, height: float = 42,
                 caption: str = "", fmt=lambda v: f"{v:,.0f}") -> None:
            """A bar chart: one bar per label (every label printed when they fit)."""
            if self.get_y() > self.h - height - 35:
                self.add_page()
            if caption:
                self.set_font("Body", "", 8)
                self.cell(0, 4, caption, new_x="LMARGIN", new_y="NEXT")
            top = self.get_y() + 2
            vmax = max([*values, 1e-9])
            bw = self.width / max(len(values), 1)
            self.set_fill_color(90, 110, 140)
            self.set_draw_color(120, 120, 120)
            self.line(self.l_margin, top + height, self.l_margin + self.width, top + height)
            self.set_font("Body", "", 6 if len(values) > 18 else 7)
            step = max(1, len(values) // 24)
            for i, (lab, v) in enumerate(zip(labels, values)):
                bh = height * max(v, 0) / vmax
                x = self.l_margin + i * bw
                if bh > 0:
                    self.rect(x + bw * 0.18, top + height - bh, bw * 0.64, bh, style="F")
                if i % step == 0:
                    self.set_xy(x - 2, top + height + 1)
                    self.cell(bw + 4, 3, lab, align="C")
            self.set_xy(self.l_margin, top - 3)
            self.set_font("Body", "", 6.5)
            self.cell(0, 3, fmt(vmax), align="L")
            self.set_y(top + height + 7)
            self.set_fill_color(255, 255, 255)

    return Doc


def _heading_style():
    from fpdf.fonts import FontFace

    return FontFace(emphasis="BOLD", fill_color=(255, 255, 255))


def __getattr__(name: str):
    if name == "Doc":
        return _doc_class()
    raise AttributeError(name)
