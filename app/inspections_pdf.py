"""The published random-inspection list (双随机抽查结果公示) as an A4 PDF in Chinese.

Set with the app's document class (:mod:`ringscope.app.pdfdoc`): a title, a short statement of
the method and of how to check the draw (the seed, the hashes of both lists and of the result,
``ringscope inspections verify``), then the list as :func:`ringscope.store.inspections.publication_frame`
gives it (headings 序号、检查对象、机构编码、机构类别、区县、执法检查人员、检查日期、检查结果 ...).
It holds no personal data of insured persons and no risk score.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ringscope.store.inspections import publication_frame

__all__ = ["build_inspections_pdf"]


def build_inspections_pdf(record: Mapping[str, Any], inspections: pd.DataFrame, *, lang: str = "zh",
                          authority: str = "") -> bytes:
    """The list of one draw (``record``: the draw's record; ``inspections``: its rows from
    :func:`ringscope.store.inspections.list_inspections`) as PDF bytes."""
    from ringscope.app.pdfdoc import Doc

    zh = lang != "en"
    title = "医保基金“双随机、一公开”抽查名单及结果公示" if zh else "Random inspections of the medical-insurance fund: list and results"
    doc = Doc(title, mark=("公开" if zh else "Public"), lang="zh" if zh else "en")
    if not doc.cjk:
        zh = False
    p = record.get("params") or {}
    drawn_at = str(record.get("drawn_at") or "")[:19]
    doc.title_block(title, (f"抽查批次 {record['draw_id']} · 抽取时间 {drawn_at} · {authority}" if zh else
                            f"Draw {record['draw_id']} · drawn {drawn_at} · {authority}").rstrip(" ·"))
    n, listed = len(record.get("picks") or []), record.get("n_institutions_listed")
    doc.heading("一、抽查方式" if zh else "1. Method")
    doc.para((f"从 {listed} 家定点医药机构名录中，按机构类别和区县分层，随机抽取 {n} 家检查对象（其中 "
              f"{round(100 * float(p.get('risk_share', 0)))}% 按风险加权抽取，其余等概率抽取）；从 "
              f"{record.get('n_inspectors_listed')} 名执法检查人员名录中为每个检查对象随机选派 {p.get('team_size')} 名"
              "检查人员，与检查对象有利害关系的人员回避。抽取依据国务院办公厅《关于推广随机抽查规范事中事后监管的通知》"
              "（国办发〔2015〕58号）。") if zh else
             (f"{n} of {listed} listed institutions drawn by lot, stratified by kind and district "
              f"({round(100 * float(p.get('risk_share', 0)))}% weighted by risk, the rest with equal chance); "
              f"{p.get('team_size')} inspectors drawn for each from {record.get('n_inspectors_listed')} listed, "
              "those bound to the institution excluded (国办发〔2015〕58号)."))
    doc.heading("二、复核信息" if zh else "2. How to check the draw")
    doc.kv([("随机种子" if zh else "Seed", str(record.get("seed"))),
            ("算法" if zh else "Method", f"{record.get('method')} (numpy {record.get('numpy')})"),
            ("机构名录哈希" if zh else "Institutions list", str(record.get("institutions_sha256"))),
            ("人员名录哈希" if zh else "Inspectors list", str(record.get("inspectors_sha256"))),
            ("抽取结果哈希" if zh else "Result", str(record.get("result_sha256")))], key_w=32, size=8.5)
    doc.para(("以上种子、两份名录和参数即可重新抽取并核对结果：ringscope inspections verify "
              f"{record['draw_id']}（SHA-256）。") if zh else
             f"The seed, both lists and the parameters re-draw the list: ringscope inspections verify {record['draw_id']}.",
             size=9)
    doc.heading("三、抽查名单及结果" if zh else "3. List and results")
    pub = publication_frame(inspections, lang="zh" if zh else "en")
    cols = list(pub.columns)
    widths = (8, 30, 18, 14, 14, 34, 17, 16, 14, 20)
    rows = [["" if v is None or (isinstance(v, float) and pd.isna(v)) else (f"{v:,.2f}" if isinstance(v, float) else v)
             for v in r] for r in pub.itertuples(index=False)]
    doc.grid(cols, rows, widths=widths[:len(cols)], size=7,
             align=["RIGHT", "LEFT", "LEFT", "LEFT", "LEFT", "LEFT", "LEFT", "LEFT", "RIGHT", "LEFT"][:len(cols)])
    return bytes(doc.output())
