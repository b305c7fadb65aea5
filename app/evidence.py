"""The evidence package of a lead, for a police–insurance joint case (医警联合办案).

A zip the liaison officer can hand over and the receiving side can check (file names and headings in Chinese; every
CSV's headers and coded values in Chinese, see :func:`ringscope.app.i18n.label_frame`, applied here to the frames
the data layer returned -- the documents read those frames by their field names):

``lead.json``            the lead (scheme, score, money at risk, disposal state)
``members.csv``          the persons, physicians and institutions in the lead
``visits.csv``           the settlements that tie the ring together
``rule_hits.csv``        the ordinary rule hits against them
``events.csv``           the lead's disposal history (who did what, when)
``subgraph.png``         the ring drawn
``subgraph_edges.csv``   the drawn edges (per month), to redraw elsewhere
``claim_lines.csv``      the claim lines behind the amount at risk (item, quantity, price)
``face_captures.csv``    the face captures on the members' credentials, each beside
                         the claimed person's enrolment; ``faces/<capture>_capture.png``
                         and ``faces/<capture>_enrolment.png`` (pixelated for masked roles)
``线索移送函.pdf``        the referral letter to the public-security organ (Chinese, A4)
``案情摘要.pdf``          the case summary: the lead, its members, the money, the rules
                         that fired, the disposal history (Chinese, A4)
``detector_evidence.json`` the detectors' own evidence record, when present
``queries/<name>.cypher`` + ``queries/<name>.params.json``
                         every query that produced a file, with its parameters,
                         so the figures can be reproduced against the database
``manifest.json``        per file: size and SHA-256; who built it, when, role,
                         whether personal data is masked
``SHA256SUMS``           the same hashes in ``sha256sum -c`` format

:func:`verify_package` re-hashes every file against the manifest, so tampering
or a truncated transfer is detected; :func:`manifest_sha256` is the hash the
app records on the lead in Neo4j when the package is built
(``cypher/app/package_record.cypher``), so a later copy can be checked
against the database as well as against itself.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["QueryRecord", "EvidenceInput", "build_package", "verify_package", "sha256", "manifest_sha256",
           "referral_letter_pdf", "case_summary_pdf", "case_figures"]


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``.

    >>> sha256(b"")[:12]
    'e3b0c44298fc'
    """
    return hashlib.sha256(data).hexdigest()


@dataclass
class QueryRecord:
    """A query that produced part of the package."""

    name: str
    text: str
    params: dict[str, Any]
    produced: str


@dataclass
class EvidenceInput:
    """Everything a package holds (already masked for the exporting role), as the data layer
    returned it: columns by field name. :func:`build_package` writes the CSVs with Chinese headers;
    frames already relabelled for display are read back by their labels."""

    lead: Mapping[str, Any]
    members: pd.DataFrame
    visits: pd.DataFrame
    rule_hits: pd.DataFrame
    events: pd.DataFrame
    edges: pd.DataFrame
    subgraph_png: bytes
    queries: list[QueryRecord]
    user: str
    role: str
    masked: bool
    detector_evidence: Mapping[str, Any] | None = None
    generated_at: str = field(default_factory=lambda: dt.datetime.now().replace(microsecond=0).isoformat())
    claim_lines: pd.DataFrame | None = None
    face_captures: pd.DataFrame | None = None
    face_images: Mapping[str, bytes] | None = None
    pack_paths: pd.DataFrame | None = None     # 药品追溯码: every settlement of each pack, in order
    summary_text: str = ""
    documents: bool = True      # the Chinese referral letter and case summary (PDF)
    bureau: str = "医疗保障局"


def _csv(df: pd.DataFrame) -> bytes:
    """A frame as CSV with Chinese headers and coded values in words (lists joined by ``;``)."""
    from ringscope.app.i18n import label_frame

    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object and c not in ("detectors", "risk_reasons"):   # those two label_frame words
            out[c] = out[c].map(lambda v: ";".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
    out = label_frame(out, lang_="zh")   # a frame already labelled passes unchanged
    # utf-8 with BOM so that spreadsheet software shows Chinese correctly
    return out.to_csv(index=False).encode("utf-8-sig")


def _field(df: pd.DataFrame | None, name: str) -> pd.Series:
    """The column ``name`` of ``df`` by its field name, or by its Chinese label when the frame was
    relabelled for display (coded values read back to their codes); all missing when absent.

    >>> from ringscope.app.i18n import label_frame
    >>> shown = label_frame(pd.DataFrame({"verdict": ["mismatch", "match"]}), lang_="zh")
    >>> _field(shown, "verdict").tolist()
    ['mismatch', 'match']
    """
    from ringscope.app.i18n import VALUE_LABELS, col

    if df is None:
        return pd.Series(dtype=object)
    if name in df.columns:
        return df[name]
    label = col(name, lang_="zh")
    if label not in df.columns:
        return pd.Series([None] * len(df), index=df.index, dtype=object)
    out = df[label]
    if out.dtype == object:
        back = {zh: code for code, (zh, _en) in VALUE_LABELS.get(name, {}).items()}
        out = out.map(lambda v: None if v == "—" else back.get(v, v) if isinstance(v, str) else v)
    return out


def _fields(df: pd.DataFrame | None, names: list[str]) -> pd.DataFrame:
    """``df`` with the columns ``names`` by field name (see :func:`_field`)."""
    if df is None:
        return pd.DataFrame(columns=names)
    return pd.DataFrame({n: _field(df, n) for n in names}, index=df.index)


def case_figures(inp: EvidenceInput) -> dict[str, Any]:
    """The figures the documents state: members by kind, settlements and their billed total,
    claim lines, face captures and the mismatches among them -- read from the frames by field
    name, or by their Chinese labels when the frames were relabelled for display.

    >>> from ringscope.app.i18n import label_frame
    >>> inp = EvidenceInput(lead={"lead_id": "L1"}, members=label_frame(pd.DataFrame(
    ...     {"entity_type": ["person", "institution"]}), lang_="zh"),
    ...     visits=label_frame(pd.DataFrame({"total_amount": [120.0, 30.5]}), lang_="zh"),
    ...     rule_hits=pd.DataFrame(), events=pd.DataFrame(), edges=pd.DataFrame(), subgraph_png=b"",
    ...     queries=[], user="u", role="investigator", masked=False,
    ...     face_captures=label_frame(pd.DataFrame({"verdict": ["mismatch", "match"]}), lang_="zh"))
    >>> f = case_figures(inp)
    >>> (f["persons"], f["institutions"], f["billed"], f["captures"], f["mismatches"])
    (1, 1, 150.5, 2, 1)
    """
    t = _field(inp.members, "entity_type")
    v = inp.visits if inp.visits is not None else pd.DataFrame()
    fc = inp.face_captures if inp.face_captures is not None else pd.DataFrame()
    cl = inp.claim_lines if inp.claim_lines is not None else pd.DataFrame()
    billed = float(pd.to_numeric(_field(v, "total_amount"), errors="coerce").fillna(0.0).sum()) if len(v) else 0.0
    return {"persons": int((t == "person").sum()), "physicians": int((t == "physician").sum()),
            "institutions": int((t == "institution").sum()), "visits": len(v), "billed": billed,
            "claim_lines": len(cl), "captures": len(fc), "mismatches": int((_field(fc, "verdict") == "mismatch").sum())}


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True, default=str).encode("utf-8")


def build_package(inp: EvidenceInput) -> bytes:
    """The zip (bytes). Files are written in a fixed order with fixed
    timestamps, so equal inputs give byte-identical packages."""
    lead_id = str(inp.lead.get("lead_id"))
    files: dict[str, bytes] = {
        "lead.json": _json(dict(inp.lead)),
        "members.csv": _csv(inp.members),
        "visits.csv": _csv(inp.visits),
        "rule_hits.csv": _csv(inp.rule_hits),
        "events.csv": _csv(inp.events),
        "subgraph.png": inp.subgraph_png,
        "subgraph_edges.csv": _csv(inp.edges),
    }
    if inp.claim_lines is not None:
        files["claim_lines.csv"] = _csv(inp.claim_lines)
    if inp.face_captures is not None:
        files["face_captures.csv"] = _csv(inp.face_captures)
    if inp.pack_paths is not None and len(inp.pack_paths):
        files["pack_paths.csv"] = _csv(inp.pack_paths)
    for name, data in sorted((inp.face_images or {}).items()):
        files[f"faces/{name}"] = data
    if inp.documents:
        files["线索移送函.pdf"] = referral_letter_pdf(inp)
        files["案情摘要.pdf"] = case_summary_pdf(inp)
    if inp.detector_evidence:
        files["detector_evidence.json"] = _json(dict(inp.detector_evidence))
    for q in inp.queries:
        files[f"queries/{q.name}.cypher"] = q.text.encode("utf-8")
        files[f"queries/{q.name}.params.json"] = _json(q.params)
    readme = (
        f"线索 {lead_id} 证据包 / Evidence package for lead {lead_id}\n"
        f"生成时间 {inp.generated_at}，生成人 {inp.user}（{inp.role}）；个人信息"
        f"{'已脱敏' if inp.masked else '为明文'}。\n"
        f"Generated {inp.generated_at} by {inp.user} ({inp.role}); personal data "
        f"{'MASKED' if inp.masked else 'in clear'}.\n"
        "完整性校验 / Check integrity with: sha256sum -c SHA256SUMS\n"
        "manifest.json 的 SHA-256 已在生成时记入数据库，可据此核对副本。\n"
        "The SHA-256 of manifest.json was recorded in the case database when the package was built.\n"
        "复现某文件 / Reproduce a file: run queries/<name>.cypher with queries/<name>.params.json "
        "against the case database.\n"
    )
    files["README.txt"] = readme.encode("utf-8")
    manifest = {
        "lead_id": lead_id,
        "generated_at": inp.generated_at,
        "generated_by": inp.user,
        "role": inp.role,
        "personal_data_masked": inp.masked,
        "queries": {q.name: {"produced": q.produced, "params": q.params} for q in inp.queries},
        "files": {name: {"bytes": len(data), "sha256": sha256(data)} for name, data in sorted(files.items())},
    }
    files["manifest.json"] = _json(manifest)
    sums = "".join(f"{sha256(files[n])}  {n}\n" for n in sorted(files) if n != "SHA256SUMS")
    files["SHA256SUMS"] = sums.encode("utf-8")

    buf = io.BytesIO()
    stamp = (1980, 1, 1, 0, 0, 0)
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name in sorted(files):
            info = zipfile.ZipInfo(f"lead_{lead_id}/{name}", date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, files[name])
    return buf.getvalue()


def manifest_sha256(data: bytes) -> str:
    """The SHA-256 of the package's ``manifest.json`` (what is recorded in Neo4j)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        name = next(n for n in z.namelist() if n.endswith("/manifest.json"))
        return sha256(z.read(name))


def _doc(inp: EvidenceInput, title: str):
    from ringscope.app.pdfdoc import Doc

    doc = Doc(title, mark="内部资料 注意保密")
    try:
        stamp = dt.datetime.fromisoformat(inp.generated_at).replace(tzinfo=dt.timezone.utc)
        doc.set_creation_date(stamp)   # equal inputs, equal bytes
    except ValueError:
        pass
    return doc


def _counts(inp: EvidenceInput) -> dict[str, int]:
    f = case_figures(inp)
    return {k: f[k] for k in ("persons", "physicians", "institutions")}


def referral_letter_pdf(inp: EvidenceInput) -> bytes:
    """线索移送函: the letter that refers the lead to the public-security organ."""
    from ringscope.app.i18n import scheme, wan

    lead = dict(inp.lead)
    lid = str(lead.get("lead_id"))
    c = _counts(inp)
    date = inp.generated_at[:10]
    y, mo, d = (date.split("-") + ["", "", ""])[:3]
    doc = _doc(inp, "线索移送函")
    doc.title_block("涉嫌医保基金欺诈犯罪线索移送函", f"〔{y}〕医保移字第 {lid} 号")
    doc.para("市公安局：", indent=False)
    doc.para(f"我局在医疗保障基金监督检查中，通过大数据分析和核查发现一起涉嫌{scheme(lead.get('scheme'), lang_='zh')}"
             f"的团伙线索（线索编号 {lid}），涉及参保人 {c['persons']} 名、医师 {c['physicians']} 名、"
             f"定点医药机构 {c['institutions']} 家，涉嫌骗取医保基金 {wan(lead.get('amount_at_risk'), lang_='zh')}。"
             "根据《医疗保障基金使用监督管理条例》第四十八条及国家医保局、公安部关于加强查处骗取医保基金案件"
             "行刑衔接工作的有关规定，现将该线索移送你局，请依法审查处理。")
    doc.para("随函附送证据包一份（含成员名单、结算及费用明细、规则命中记录、人脸比对记录、关系图谱、处置记录和"
             "复现查询），证据包各文件的 SHA-256 校验值见 manifest.json 和 SHA256SUMS；manifest.json 的校验值"
             "已在生成时记入我局稽核数据库，可供核对。")
    doc.para("请于收到本函之日起依法审查，并将处理结果书面告知我局。")
    doc.ln(4)
    doc.kv([("联系人", f"{inp.user}"), ("线索编号", lid), ("证据包生成时间", inp.generated_at),
            ("个人信息", "已脱敏" if inp.masked else "明文（限办案使用）")])
    doc.ln(8)
    doc.set_font("Body", "", 10.5)
    doc.multi_cell(0, 6, f"{inp.bureau}（盖章）\n{y} 年 {mo} 月 {d} 日", align="R", new_x="LMARGIN", new_y="NEXT")
    return bytes(doc.output())


def case_summary_pdf(inp: EvidenceInput) -> bytes:
    """案情摘要: the lead, members, money, rules, faces and disposal history on a few pages."""
    from ringscope.app.i18n import rule_label, scheme, value, wan

    lead = dict(inp.lead)
    lid = str(lead.get("lead_id"))
    doc = _doc(inp, f"案情摘要 · 线索 {lid}")
    doc.title_block(f"线索 {lid} 案情摘要", f"{scheme(lead.get('scheme'), lang_='zh')} · 生成 {inp.generated_at} · "
                    f"{inp.user}（{value('role', inp.role, lang_='zh')}）")
    doc.heading("一、基本情况")
    c = _counts(inp)
    doc.kv([("线索类型", scheme(lead.get("scheme"), lang_="zh")), ("评分", f"{float(lead.get('score') or 0):.2f}"),
            ("涉嫌金额", wan(lead.get("amount_at_risk"), lang_="zh")),
            ("处置环节", str(value("status", lead.get("status") or "new", lang_="zh"))),
            ("成员", f"参保人 {c['persons']} 名，医师 {c['physicians']} 名，机构 {c['institutions']} 家")])
    if inp.summary_text:
        doc.para(inp.summary_text)
    doc.heading("二、成员")
    m = _fields(inp.members, ["entity_type", "entity_id", "name", "id_number", "district"])
    rows = [[str(value("entity_type", r.get("entity_type"), lang_="zh")), str(r.get("entity_id")),
             str(r.get("name") or "—"), str(r.get("id_number") or "—"), str(r.get("district") or "—")]
            for _, r in m.head(60).iterrows()]
    doc.grid(["类别", "编号", "姓名/名称", "身份证号", "区县"], rows, widths=[20, 38, 35, 45, 27])
    if len(m) > 60:
        doc.para(f"（其余 {len(m) - 60} 名成员见 members.csv）", indent=False)
    doc.heading("三、费用与规则命中")
    fig = case_figures(inp)
    doc.para(f"涉及结算 {fig['visits']} 次、费用明细 {fig['claim_lines']} 条，结算金额合计 {wan(fig['billed'], lang_='zh')}。")
    rh = _fields(inp.rule_hits, ["rule_name", "hit_id", "amount_at_risk"])
    rh["amount_at_risk"] = pd.to_numeric(rh["amount_at_risk"], errors="coerce").fillna(0.0)
    if len(rh) and rh["rule_name"].notna().any():
        g = (rh.groupby("rule_name", dropna=False).agg(n=("hit_id", "size"), amt=("amount_at_risk", "sum"))
             .reset_index().sort_values("amt", ascending=False).head(15))
        doc.grid(["规则", "命中次数", "涉嫌金额"], [[rule_label(r.rule_name, lang_="zh"), f"{int(r.n)}",
                                            wan(r.amt, lang_="zh")] for r in g.itertuples(index=False)],
                 align=["LEFT", "RIGHT", "RIGHT"], widths=[105, 25, 35])
    pp = inp.pack_paths if inp.pack_paths is not None else pd.DataFrame()
    section = iter(["四", "五", "六"])
    if len(pp):
        doc.heading(f"{next(section)}、药品追溯码")
        from ringscope.app.graphview import pack_summary

        ps = pack_summary(pp)
        doc.para(f"与成员有关的药品中，{len(ps)} 个追溯码被重复结算（共 {len(pp)} 次结算，"
                 f"回流后再次结算金额 {wan(float(ps['amount_again'].sum()), lang_='zh')}）；其中 "
                 f"{int(ps['member_path'].sum())} 个由成员参保人结算后又在成员机构再次结算。一个追溯码对应一盒药，"
                 "只能销售一次。逐盒流转路径见 pack_paths.csv。")
        doc.grid(["追溯码", "药品", "结算次数", "首次结算机构", "再次结算机构"],
                 [[str(r.trace_code), str(r.drug or "—"), f"{int(r.n_settlements)}", str(r.first_institution),
                   str(r.back_at or "—")] for r in ps.head(15).itertuples(index=False)],
                 widths=[42, 40, 18, 30, 35])
    if fig["captures"]:
        doc.heading(f"{next(section)}、人脸比对")
        doc.para(f"成员凭证共有人脸抓拍 {fig['captures']} 次，其中人证不符 {fig['mismatches']} 次；抓拍与底库照片见 faces/ 目录，"
                 "明细见 face_captures.csv。")
    doc.heading(f"{next(section)}、处置记录")
    ev = _fields(inp.events, ["at", "user", "action", "to_status", "note"]) if len(inp.events) else pd.DataFrame()
    doc.grid(["时间", "用户", "操作", "新环节", "处置意见"],
             [[str(r.get("at") or "")[:16], str(r.get("user") or ""), str(value("action", r.get("action"), lang_="zh")),
               str(value("status", r.get("to_status"), lang_="zh")), str(r.get("note") or "")]
              for _, r in ev.head(30).iterrows()] if len(ev) else [],
             widths=[30, 25, 20, 25, 65])
    doc.set_font("Body", "", 8)
    doc.multi_cell(0, 4.5, "本摘要由稽核系统根据证据包数据生成；线索为自动检测结果，须经人工核查。",
                   new_x="LMARGIN", new_y="NEXT")
    return bytes(doc.output())


def verify_package(data: bytes) -> tuple[bool, list[str]]:
    """Re-hash every file against ``manifest.json``.

    Returns ``(ok, problems)``: missing, extra or altered files are listed.
    """
    problems: list[str] = []
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        roots = {n.split("/", 1)[0] for n in names}
        if len(roots) != 1:
            return False, [f"expected one top folder, found {sorted(roots)}"]
        root = roots.pop()
        content = {n.split("/", 1)[1]: z.read(n) for n in names}
    if "manifest.json" not in content:
        return False, [f"{root}/manifest.json missing"]
    manifest = json.loads(content["manifest.json"])
    listed = manifest.get("files", {})
    for name, meta in listed.items():
        if name not in content:
            problems.append(f"missing: {name}")
        elif sha256(content[name]) != meta["sha256"]:
            problems.append(f"altered: {name}")
    for name in content:
        if name not in listed and name not in ("manifest.json", "SHA256SUMS"):
            problems.append(f"not in manifest: {name}")
    sums = content.get("SHA256SUMS", b"").decode("utf-8").splitlines()
    for line in sums:
        h, _, name = line.partition("  ")
        if name in content and sha256(content[name]) != h:
            problems.append(f"SHA256SUMS mismatch: {name}")
    return not problems, problems
