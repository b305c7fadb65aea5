"""证据包 Evidence package for a police–insurance joint case (医警联合办案).

Builds the zip of :mod:`ringscope.app.evidence` for one lead: members, visits,
the claim lines behind the amount, rule hits, face captures beside the
enrolment (pixelated for masked roles), disposal history, the subgraph
picture, a Chinese 线索移送函 and 案情摘要, the reproducing Cypher with
parameters, a SHA-256 manifest. The data layer checks the export right and
scope, masks, and logs the export; the manifest's hash is recorded on the
lead in Neo4j, and a copy received later can be checked here against it.
"""
from __future__ import annotations

import io
import json
import zipfile

import pandas as pd
import streamlit as st

from ringscope.app import data, graphview
from ringscope.app.evidence import EvidenceInput, QueryRecord, build_package, manifest_sha256, verify_package
from ringscope.app.i18n import scheme, tr, value, wan
from ringscope.app.ui import lead_picker, lead_text, table
from ringscope.store.access import PermissionDenied
from ringscope.store.db import cypher

PAGE = "evidence"
LIMIT = 100_000
MAX_FACES = 40

st.title(tr("证据包", "Evidence package"))
lay = data.layer()
pol = lay.pol
lead_id = lead_picker("ev_lead")
if lead_id is None:
    st.stop()
lead = lay.lead_detail(lead_id) or {}
st.markdown(f"**{scheme(lead.get('scheme', ''))}** · {tr('评分', 'score')} {float(lead.get('score') or 0):.2f} · "
            f"{tr('涉嫌金额', 'at risk')} {wan(lead.get('amount_at_risk'))} · {tr('环节', 'state')} "
            f"{value('status', lead.get('status'))}")
st.caption(lead_text(lead))

FILES = [
    ("lead_detail", "lead.json"), ("lead_members", "members.csv"), ("lead_visits", "visits.csv"),
    ("lead_claim_lines", "claim_lines.csv"), ("lead_rule_hits", "rule_hits.csv"), ("lead_events", "events.csv"),
    ("lead_face_captures", "face_captures.csv, faces/*.png"), ("lead_pack_paths", "pack_paths.csv"),
    ("lead_subgraph_visits", "subgraph.png, subgraph_edges.csv"),
    ("lead_subgraph_faces", "subgraph.png, subgraph_edges.csv"),
    ("lead_subgraph_family", "subgraph.png, subgraph_edges.csv"),
]
with st.expander(tr("证据包包含的文件及其查询", "What the package holds and the queries behind it")):
    st.dataframe(pd.DataFrame([{tr("文件", "File"): f, tr("查询", "Query"): f"cypher/app/{n}.cypher"} for n, f in FILES]
                              + [{tr("文件", "File"): "线索移送函.pdf, 案情摘要.pdf", tr("查询", "Query"): "—"}]),
                 hide_index=True, key="ev_plan")

if not pol.export_evidence:
    st.warning(tr(f"{value('role', pol.role)}无权导出证据包（仅稽核员和公安联络员）。",
                  f"The {pol.role} role may not export evidence packages (investigators and police liaison only)."))
    st.stop()


def _faces(caps: pd.DataFrame) -> dict[str, bytes]:
    """Capture and enrolment images (already pixelated by the data layer for masked roles)."""
    out: dict[str, bytes] = {}
    base = data.dataset_dir()
    for r in caps.head(MAX_FACES).itertuples(index=False):
        for side, path in (("capture", r.capture_image), ("enrolment", r.claimed_enrollment_image)):
            img = lay.face_image(path, base, page=PAGE, entity=f"lead:{lead_id}:capture:{r.capture_id}")
            if img is not None:
                out[f"{r.capture_id}_{side}.png"] = img
    return out


def build() -> tuple[bytes, dict]:
    frames = lay.evidence_rows(lead_id, LIMIT)       # export right, scope, masking and the log line
    members = frames["lead_members"]
    sub = graphview.build_subgraph(members, frames["lead_subgraph_visits"], frames["lead_subgraph_faces"],
                                   frames["lead_subgraph_family"])
    drawn = graphview.aggregate(sub, max_nodes=400)
    pos = graphview.layout(drawn.nodes, drawn.edges, seed=0)
    tl = {k: value("entity_type", k) for k in graphview.NODE_COLORS} | {
        k: value("relation", k) for k in graphview.EDGE_COLORS}
    png = graphview.render_png(drawn, pos, title=f"线索 {lead_id}（{scheme(lead.get('scheme', ''), lang_='zh')}）",
                               type_labels=tl)
    caps = frames["lead_face_captures"]
    c = data.caller()
    # the frames as the data layer returned them (field names): the package writes its CSVs with Chinese
    # headers, and the case summary reads the money and the face verdicts from these columns
    inp = EvidenceInput(
        lead=lead, members=members, visits=frames["lead_visits"],
        rule_hits=frames["lead_rule_hits"], events=frames["lead_events"], edges=sub.edges, subgraph_png=png,
        queries=[QueryRecord(n, cypher(f"app/{n}"), {"lead_id": lead_id} | ({"limit": LIMIT} if "limit" in cypher(
            f"app/{n}") else {}), f) for n, f in FILES],
        user=c.user, role=c.role, masked=pol.masked, detector_evidence=data.lead_evidence(lead_id),
        claim_lines=frames["lead_claim_lines"],
        face_captures=caps.drop(columns=["capture_image", "claimed_enrollment_image"], errors="ignore"),
        face_images=_faces(caps), summary_text=lead_text(lead),
        pack_paths=frames["lead_pack_paths"],
    )
    blob = build_package(inp)
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        n_files = len([n for n in z.namelist() if not n.endswith("/")])
    rec = lay.record_package(lead_id, manifest_sha256(blob), n_files)

    return blob, {"members": len(members), "visits": len(frames["lead_visits"]),
                  "claim_lines": len(frames["lead_claim_lines"]), "rule_hits": len(frames["lead_rule_hits"]),
                  "captures": len(caps), "packs": int(frames["lead_pack_paths"]["trace_code"].nunique())
                  if len(frames["lead_pack_paths"]) else 0, "png": png, "recorded": rec}


if st.button(tr("生成证据包", "Build evidence package"), type="primary", key="ev_build", icon=":material/inventory_2:"):
    try:
        blob, counts = build()
        st.session_state["ev_blob"] = (lead_id, blob, counts)
    except PermissionDenied as exc:
        st.error(str(exc))

held = st.session_state.get("ev_blob")
if held and held[0] == lead_id:
    _, blob, counts = held
    ok, problems = verify_package(blob)
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        root = z.namelist()[0].split("/", 1)[0]
        manifest = json.loads(z.read(f"{root}/manifest.json"))
    msg = tr(f"线索 {lead_id} 证据包：成员 {counts['members']}、结算 {counts['visits']}、费用明细 {counts['claim_lines']}、"
             f"规则命中 {counts['rule_hits']}、人脸抓拍 {counts['captures']}、重复结算的追溯码 {counts['packs']}；"
             f"共 {len(manifest['files'])} 个文件；"
             f"完整性{'校验通过' if ok else '校验失败：' + '；'.join(problems)}。清单哈希已记入数据库。",
             f"Package for lead {lead_id}: {counts['members']} members, {counts['visits']} visits, "
             f"{counts['claim_lines']} claim lines, {counts['rule_hits']} rule hits, {counts['captures']} captures, "
             f"{counts['packs']} trace codes settled more than once; "
             f"{len(manifest['files'])} files; integrity {'verified' if ok else 'FAILED: ' + '; '.join(problems)}. "
             "Manifest hash recorded in the database.")
    (st.success if ok else st.error)(msg)
    st.image(counts["png"], caption="subgraph.png", width=700)
    table(pd.DataFrame([{"file": k, **v} for k, v in manifest["files"].items()]), "ev_manifest")
    st.download_button(tr("下载证据包（.zip）", "Download evidence package (.zip)"), data=blob,
                       file_name=f"evidence_lead_{lead_id}.zip", mime="application/zip", key="ev_download",
                       type="primary", icon=":material/download:")

st.divider()
st.markdown("**" + tr("核对收到的证据包", "Check a package received") + "**")
up = st.file_uploader(tr("上传证据包 .zip：逐一核对文件哈希，并与数据库中生成时记录的清单哈希比对。",
                         "Upload a package .zip: every file is re-hashed and the manifest hash is compared with the "
                         "one recorded in the database when it was built."), type=["zip"], key="ev_check")
if up is not None:
    raw = up.getvalue()
    try:
        ok, problems = verify_package(raw)
        mh = manifest_sha256(raw)
    except (zipfile.BadZipFile, StopIteration, KeyError, ValueError) as exc:
        st.error(tr(f"不是有效的证据包：{exc}", f"Not an evidence package: {exc}"))
    else:
        recs = lay.check_package(mh)
        if ok and len(recs):
            st.success(tr(f"完整，且与数据库记录一致（{recs.iloc[0]['built_at']} 由 {recs.iloc[0]['user']} 生成）。",
                          f"Intact and matches the database record (built {recs.iloc[0]['built_at']} by "
                          f"{recs.iloc[0]['user']})."))
        elif ok:
            st.error(tr("文件自洽，但清单哈希不在数据库中：该包不是本系统生成的，或清单被整体重算。",
                        "Self-consistent, but its manifest hash is not in the database: not built here, or rehashed."))
        else:
            st.error(tr("完整性校验失败：", "Integrity check failed: ") + "；".join(problems))

