"""Evidence package for a police–insurance joint case (医警联合办案).

Builds the zip of :mod:`ringscope.app.evidence` for one lead: members, visits,
rule hits, disposal history, the subgraph picture, the reproducing Cypher with
parameters, a SHA-256 manifest. Only roles cleared to export evidence
(investigator, police liaison) may build one; the build is logged.
"""
from __future__ import annotations

import io
import json
import zipfile

import pandas as pd
import streamlit as st

from ringscope.app import data, graphview
from ringscope.app.access import mask_frame, policy
from ringscope.app.evidence import EvidenceInput, QueryRecord, build_package, verify_package
from ringscope.app.ui import lead_picker, money

PAGE = "evidence"
LIMIT = 100_000

st.title("Evidence package 证据包")
lead_id = lead_picker("ev_lead")
if lead_id is None:
    st.stop()
role = data.current_role()
pol = policy(role)
lead = data.read_one("lead_detail", lead_id=lead_id) or {}
st.markdown(f"**{lead.get('scheme', '')}** · score {float(lead.get('score') or 0):.2f} · at risk "
            f"{money(lead.get('amount_at_risk'))} · state {lead.get('status')}")
st.caption(lead.get("summary") or "")

QUERIES = [
    ("lead_detail", {"lead_id": lead_id}, "lead.json"),
    ("lead_members", {"lead_id": lead_id}, "members.csv"),
    ("lead_visits", {"lead_id": lead_id, "limit": LIMIT}, "visits.csv"),
    ("lead_rule_hits", {"lead_id": lead_id, "limit": LIMIT}, "rule_hits.csv"),
    ("lead_events", {"lead_id": lead_id}, "events.csv"),
    ("lead_subgraph_visits", {"lead_id": lead_id, "limit": LIMIT}, "subgraph.png, subgraph_edges.csv"),
    ("lead_subgraph_faces", {"lead_id": lead_id, "limit": LIMIT}, "subgraph.png, subgraph_edges.csv"),
    ("lead_subgraph_family", {"lead_id": lead_id, "limit": LIMIT}, "subgraph.png, subgraph_edges.csv"),
]
st.dataframe(pd.DataFrame([{"file": f, "query": f"cypher/app/{n}.cypher", "params": str(p)}
                           for n, p, f in QUERIES]), hide_index=True, key="ev_plan")

if not pol.export_evidence:
    st.warning(f"The {role} role may not export evidence packages (investigators and police liaison only).")
    st.stop()


def build() -> tuple[bytes, dict]:
    frames = {n: data.read(n, **p) for n, p, _ in QUERIES}
    members, visits = frames["lead_members"], frames["lead_visits"]
    sub = graphview.build_subgraph(members, frames["lead_subgraph_visits"], frames["lead_subgraph_faces"],
                                   frames["lead_subgraph_family"])
    drawn = graphview.aggregate(sub, max_nodes=400)
    pos = graphview.layout(drawn.nodes, drawn.edges, seed=0)
    png = graphview.render_png(drawn, pos, title=f"Lead {lead_id} ({lead.get('scheme', '')})")
    inp = EvidenceInput(
        lead=lead, members=mask_frame(members, role, person_only_col="entity_type"),
        visits=mask_frame(visits, role), rule_hits=frames["lead_rule_hits"], events=frames["lead_events"],
        edges=sub.edges, subgraph_png=png,
        queries=[QueryRecord(n, data.cypher_text(n), p, f) for n, p, f in QUERIES],
        user=data.current_user(), role=role, masked=pol.masked,
        detector_evidence=data.lead_evidence(lead_id),
    )
    data.log_view(PAGE, f"lead:{lead_id}:evidence_package", list(members.columns) + list(visits.columns),
                  n_records=len(members) + len(visits))
    return build_package(inp), {"members": len(members), "visits": len(visits),
                                "rule_hits": len(frames["lead_rule_hits"]), "png": png}


if st.button("Build evidence package", type="primary", key="ev_build"):
    blob, counts = build()
    st.session_state["ev_blob"] = (lead_id, blob, counts)

held = st.session_state.get("ev_blob")
if held and held[0] == lead_id:
    _, blob, counts = held
    ok, problems = verify_package(blob)
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        root = z.namelist()[0].split("/", 1)[0]
        manifest = json.loads(z.read(f"{root}/manifest.json"))
    st.success(f"Package for lead {lead_id}: {counts['members']} members, {counts['visits']} visits, "
               f"{counts['rule_hits']} rule hits; {len(manifest['files'])} files; "
               f"integrity {'verified' if ok else 'FAILED: ' + '; '.join(problems)}.")
    st.image(counts["png"], caption="subgraph.png", width=700)
    st.dataframe(pd.DataFrame([{"file": k, **v} for k, v in manifest["files"].items()]),
                 hide_index=True, key="ev_manifest")
    st.download_button("Download evidence package (.zip)", data=blob, file_name=f"evidence_lead_{lead_id}.zip",
                       mime="application/zip", key="ev_download", type="primary")
