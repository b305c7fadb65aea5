"""Ring explorer: a lead's subgraph, drawn interactively, beside its rule hits.

Persons, the face identities seen presenting their credentials, physicians
and institutions; visits are aggregated into weighted edges per month. The
month slider replays how the ring grew. Large rings are folded (see
:func:`ringscope.app.graphview.aggregate`) to a node budget the user sets, and
the layout is computed once per lead and budget and cached, so a 1,000-node
ring stays responsive. The Cypher that reproduces the picture is shown with
its parameters.
"""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from ringscope.app import data, graphview
from ringscope.app.access import mask_name, policy
from ringscope.app.ui import goto_entity, lead_picker, money, show_cypher

PAGE = "ring_explorer"
ROW_LIMIT = 50_000


@st.cache_data(ttl=data.CACHE_TTL_S, show_spinner="Laying out the ring…", max_entries=64)
def ring(lead_id: str, max_nodes: int) -> tuple[graphview.Subgraph, pd.DataFrame, dict]:
    """The lead's subgraph folded to ``max_nodes``, its layout and full-size stats."""
    members = data.read("lead_members", lead_id=lead_id)
    visits = data.read("lead_subgraph_visits", lead_id=lead_id, limit=ROW_LIMIT)
    faces = data.read("lead_subgraph_faces", lead_id=lead_id, limit=ROW_LIMIT)
    family = data.read("lead_subgraph_family", lead_id=lead_id, limit=ROW_LIMIT)
    full = graphview.build_subgraph(members, visits, faces, family)
    stats = graphview.ring_stats(full) | {"n_nodes": len(full.nodes), "truncated": len(visits) >= ROW_LIMIT}
    sub = graphview.aggregate(full, max_nodes=max_nodes)
    pos = graphview.layout(sub.nodes, sub.edges, seed=0)
    return sub, pos, stats


st.title("Ring explorer 团伙图谱")
lead_id = lead_picker("ring_lead")
if lead_id is None:
    st.stop()
lead = data.read_one("lead_detail", lead_id=lead_id) or {}

c1, c2 = st.columns([1, 3])
max_nodes = c1.slider("Most nodes drawn", 50, 1200, 300, 50, key="ring_max_nodes",
                      help="Beyond this, the least central persons are folded into one node per institution.")
sub, pos, stats = ring(lead_id, int(max_nodes))
months = sub.months
month = None
if len(months) >= 2:
    month = c2.select_slider("Replay the ring's growth: as of month", options=months, value=months[-1],
                             key="ring_month")
elif months:
    c2.caption(f"Active in {months[0]} only.")

role = data.current_role()
pol = policy(role)
shown = graphview.as_of(sub, month)
nodes = shown.nodes.copy()
persons = nodes["type"].eq("person")
if not pol.clear_names:
    nodes.loc[persons, "label"] = nodes.loc[persons, "label"].map(mask_name)
shown = graphview.Subgraph(nodes, shown.edges)
n_named = int((persons & nodes["label"].notna()).sum())
if n_named:
    data.log_view(PAGE, f"lead:{lead_id}", ["name"], n_records=n_named)

k = st.columns(6)
k[0].metric("Persons", stats.get("n_person", 0))
k[1].metric("Face identities", stats.get("n_face", 0))
k[2].metric("Physicians", stats.get("n_physician", 0))
k[3].metric("Institutions", stats.get("n_institution", 0))
k[4].metric("Visits", stats.get("n_visits", 0))
k[5].metric("Billed", money(stats.get("amount", 0.0)))
if len(sub.nodes) < stats["n_nodes"]:
    st.caption(f"{stats['n_nodes']} nodes folded to {len(sub.nodes)} for drawing "
               f"(grey rings hold the folded persons and faces).")
if stats.get("truncated"):
    st.warning(f"More than {ROW_LIMIT:,} aggregated visit rows: the drawing shows the first {ROW_LIMIT:,}.")

left, right = st.columns([3, 2])
with left:
    fig = graphview.figure(shown, pos, title=f"Lead {lead_id} as of {month or 'all months'}")
    event = st.plotly_chart(fig, key="ring_chart", on_select="rerun", selection_mode=("points", "box", "lasso"))
    picked: list[str] = []
    try:
        picked = [p.get("customdata") for p in event.selection.points if p.get("customdata")]
    except AttributeError:
        picked = []
    activity = shown.edges[shown.edges["rel"] == "visit"].groupby("month", as_index=False)["n"].sum()
    if len(activity):
        bar = px.bar(activity, x="month", y="n", height=200, labels={"n": "visits"})
        st.plotly_chart(bar, key="ring_timeline")
with right:
    st.markdown(f"**{lead.get('scheme', '')}** · score {float(lead.get('score') or 0):.2f} · "
                f"at risk {money(lead.get('amount_at_risk'))}")
    st.caption(lead.get("summary") or "")
    if picked:
        sel = nodes[nodes["key"].isin(picked)][["key", "type", "id", "label", "member", "risk", "activity"]]
        st.markdown(f"**Selected ({len(sel)})**")
        st.dataframe(sel, hide_index=True, key="ring_selected")
        first = sel[sel["type"].isin(["person", "physician", "institution"])].head(1)
        if len(first) and st.button(f"Open {first.iloc[0]['key']} in Entity 360", key="ring_goto"):
            goto_entity(first.iloc[0]["type"], first.iloc[0]["id"])
    st.markdown("**Rule hits beside the ring**")
    hits = data.read("lead_rule_hits", lead_id=lead_id, limit=2000)
    if month is not None and len(hits):
        hits = hits[hits["month"].isna() | (hits["month"].astype(str) <= month)]
    if hits.empty:
        st.caption("No rule hits on this ring (as of this month).")
    else:
        st.caption(f"{len(hits)} hits · {money(hits['amount_at_risk'].sum())} at risk")
        by_rule = (hits.groupby(["rule_id", "rule_name", "severity"], as_index=False, dropna=False)
                   .agg(n=("hit_id", "size"), amount_at_risk=("amount_at_risk", "sum"))
                   .sort_values("amount_at_risk", ascending=False))
        st.dataframe(by_rule, hide_index=True, key="ring_hits_by_rule", height=220)
        st.dataframe(hits, hide_index=True, key="ring_hits", height=260)

with st.expander("Nodes and edges as tables"):
    st.dataframe(nodes, hide_index=True, key="ring_nodes")
    st.dataframe(graphview.collapse_edges(shown.edges), hide_index=True, key="ring_edges")

show_cypher(["lead_members", "lead_subgraph_visits", "lead_subgraph_faces", "lead_subgraph_family",
             "lead_rule_hits"], {"lead_id": lead_id, "limit": ROW_LIMIT})
