"""团伙图谱 Ring explorer: a lead's subgraph, drawn interactively, beside its rule hits.

Persons (labelled with their names, masked per role), the face identities
seen presenting their credentials, physicians and institutions; visits are
aggregated into weighted edges per month. The month slider replays how the
ring grew, and every figure follows it. A node's neighbours can be expanded
from Neo4j on demand; the shortest path between two entities is found with
plain Cypher ``shortestPath``. Where packs with a traceability code (药品追溯码)
passed through the ring and were settled again, the drawing shows where each came back and
a pack's whole path can be followed settlement by settlement. Notes are pinned to nodes and
views saved on the lead, both in Neo4j. Large rings are folded to a node budget (see
:func:`ringscope.app.graphview.aggregate`); the layout is cached per lead,
budget and expansion.
"""
from __future__ import annotations

import json

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from ringscope.app import data, graphview
from ringscope.app.i18n import VALUE_LABELS, lead_summary, scheme, tr, value, wan
from ringscope.app.ui import NO_IMAGE_EXPORT, goto_entity, lead_picker, rule_names_zh, show_cypher, table
from ringscope.store.access import PermissionDenied

PAGE = "ring_explorer"
ROW_LIMIT = 50_000
PACK_LIMIT = 2_000
ENTITY_TYPES = ("person", "physician", "institution")


@st.cache_data(ttl=300, show_spinner=False, max_entries=64)
def _layout(sig: str, _nodes: pd.DataFrame, _edges: pd.DataFrame) -> pd.DataFrame:
    """Positions, computed once per (lead, budget, expansions, path) -- ``sig``."""
    return graphview.layout(_nodes, _edges, seed=0)


def _type_labels() -> dict[str, str]:
    out = {k: (v[1] if tr("zh", "en") == "en" else v[0]) for k, v in VALUE_LABELS["entity_type"].items()}
    out.update({k: (v[1] if tr("zh", "en") == "en" else v[0]) for k, v in VALUE_LABELS["relation"].items()})
    out.update({"member": tr("线索成员", "lead member"), "risk": tr("风险分", "risk"), "note": tr("批注", "note"),
                "treated_by": tr("诊治", "treated by"), "presented": tr("人脸刷卡", "face presented"),
                "enrolled_as": tr("底库身份", "enrolled as"), "path": tr("路径", "path"),
                "pack_return": tr("药盒回流", "pack came back")})
    return out


st.title(tr("团伙图谱", "Ring explorer"))
lay = data.layer()
lead_id = lead_picker("ring_lead")
if lead_id is None:
    st.stop()
lead = lay.lead_detail(lead_id) or {}
state = st.session_state.setdefault("ring_state", {})
ls = state.setdefault(lead_id, {"expanded": [], "path": None})

# a saved view chosen below is applied before the widgets are drawn
if (apply := st.session_state.pop("ring_apply_view", None)) is not None:
    ls.update(expanded=apply.get("expanded", []), path=apply.get("path"))
    if apply.get("max_nodes"):
        st.session_state["ring_max_nodes"] = int(apply["max_nodes"])
    if apply.get("month"):
        st.session_state["ring_month"] = apply["month"]

rows = lay.ring_rows(lead_id, ROW_LIMIT, page=PAGE)
ring_only = graphview.build_subgraph(rows["members"], rows["visits"], rows["faces"], rows["family"])
full = ring_only
truncated = len(rows["visits"]) >= ROW_LIMIT

# expansions and the path, fetched through the data layer (scope checked, masked, logged)
x_nodes, x_edges = [], []
for et, eid in ls["expanded"]:
    try:
        nb = lay.expand_node(et, eid, 25, page=PAGE)
    except PermissionDenied:
        continue
    if len(nb):
        keys = nb["entity_type"] + ":" + nb["entity_id"].astype(str)
        x_nodes.append(pd.DataFrame({"key": keys, "type": nb["entity_type"], "id": nb["entity_id"].astype(str),
                                     "label": nb["name"], "risk": nb["risk_score"]}))
        x_edges.append(pd.DataFrame({"src": f"{et}:{eid}", "dst": keys, "rel": nb["rel"], "n": nb["n"],
                                     "amount": nb["amount"]}))
path_df = pd.DataFrame()
if ls.get("path"):
    a, b = ls["path"]
    try:
        path_df = lay.shortest_path(tuple(a), tuple(b), 8, page=PAGE)
    except PermissionDenied as exc:
        st.warning(str(exc))
    if len(path_df):
        keys = path_df["entity_type"] + ":" + path_df["entity_id"].astype(str)
        x_nodes.append(pd.DataFrame({"key": keys, "type": path_df["entity_type"],
                                     "id": path_df["entity_id"].astype(str), "label": path_df["name"]}))
        x_edges.append(pd.DataFrame({"src": keys.iloc[:-1].values, "dst": keys.iloc[1:].values, "rel": "path", "n": 1}))
extra_n = pd.concat(x_nodes, ignore_index=True) if x_nodes else pd.DataFrame(columns=["key", "type", "id", "label"])
extra_e = pd.concat(x_edges, ignore_index=True) if x_edges else pd.DataFrame(columns=["src", "dst", "rel", "n"])
full = graphview.merge_rows(full, extra_n, extra_e)

# packs settled again (药品追溯码): where each came back, drawn as edges; the chosen pack outlined
packs = lay.lead_pack_paths(lead_id, PACK_LIMIT, page=PAGE)
pack_keys: set[str] = set()
if len(packs):
    full = graphview.merge_rows(full, *graphview.pack_edges(packs))
    if st.session_state.get("ring_pack") not in set(packs["trace_code"]):
        st.session_state.pop("ring_pack", None)
    chosen = packs[packs["trace_code"] == st.session_state.get("ring_pack")]
    pack_keys = (set("person:" + chosen["person_id"].astype(str))
                 | set("institution:" + chosen["institution_id"].astype(str)))

c1, c2 = st.columns([1, 3])
max_nodes = c1.slider(tr("最多绘制节点数", "Most nodes drawn"), 50, 1200, 300, 50, key="ring_max_nodes",
                      help=tr("超过时，最不重要的参保人按其最常去的机构折叠为一个节点。",
                              "Beyond this, the least central persons are folded into one node per institution."))
months = full.months
month = None
if len(months) >= 2:
    if st.session_state.get("ring_month") not in months:
        st.session_state["ring_month"] = months[-1]
    month = c2.select_slider(tr("回放团伙的发展：截至月份", "Replay the ring's growth: as of month"), options=months,
                             key="ring_month")
elif months:
    c2.caption(tr(f"仅在 {months[0]} 活跃。", f"Active in {months[0]} only."))

now = graphview.as_of(ring_only, month)            # every figure below follows the replay month
stats = graphview.ring_stats(now)
sub = graphview.aggregate(full, max_nodes=int(max_nodes))
sig = json.dumps([lead_id, int(max_nodes), ls["expanded"], ls.get("path")], default=str)
pos = _layout(sig, sub.nodes, sub.edges)
shown = graphview.as_of(sub, month)

k = st.columns(6)
k[0].metric(tr("参保人", "Persons"), stats.get("n_person", 0))
k[1].metric(tr("人脸身份", "Face identities"), stats.get("n_face", 0))
k[2].metric(tr("医师", "Physicians"), stats.get("n_physician", 0))
k[3].metric(tr("机构", "Institutions"), stats.get("n_institution", 0))
k[4].metric(tr("结算次数", "Visits"), f"{stats.get('n_visits', 0):,}")
k[5].metric(tr("结算金额", "Billed"), wan(stats.get("amount", 0.0)))
if len(full.nodes) > len(ring_only.nodes):
    st.caption(tr(f"展开、路径与回流药盒另加 {len(full.nodes) - len(ring_only.nodes)} 个节点（不计入上方团伙数字）。",
                  f"Expansions, the path and packs that came back add {len(full.nodes) - len(ring_only.nodes)} "
                  "nodes (not counted above)."))
if len(sub.nodes) < len(full.nodes):
    st.caption(tr(f"{len(full.nodes)} 个节点折叠为 {len(sub.nodes)} 个绘制（灰色圆环内为折叠的参保人和人脸）。",
                  f"{len(full.nodes)} nodes folded to {len(sub.nodes)} for drawing (grey rings hold the folded persons and faces)."))
if truncated:
    st.warning(tr(f"结算汇总超过 {ROW_LIMIT:,} 行，图中只显示前 {ROW_LIMIT:,} 行。",
                  f"More than {ROW_LIMIT:,} aggregated visit rows: the drawing shows the first {ROW_LIMIT:,}."))

notes = lay.node_notes(lead_id)
note_map = notes.groupby("node_key")["text"].first().to_dict() if len(notes) else {}
path_keys = set(path_df["entity_type"] + ":" + path_df["entity_id"].astype(str)) if len(path_df) else set()

left, right = st.columns([3, 2])
with left:
    fig = graphview.figure(shown, pos, title=f"{tr('线索', 'Lead')} {lead_id} · {tr('截至', 'as of')} "
                           f"{month or tr('全部月份', 'all months')}", selected=path_keys | pack_keys, notes=note_map,
                           type_labels=_type_labels(), rel_labels=_type_labels())
    event = st.plotly_chart(fig, key="ring_chart", on_select="rerun", selection_mode=("points", "box", "lasso"),
                            config=NO_IMAGE_EXPORT)
    try:
        picked = [p.get("customdata") for p in event.selection.points if p.get("customdata")]
    except AttributeError:
        picked = []
    activity = now.edges[now.edges["rel"] == "visit"].groupby("month", as_index=False)["n"].sum()
    if len(activity):
        bar = px.bar(activity, x="month", y="n", height=200, labels={"n": tr("结算次数", "visits"),
                                                                      "month": tr("月份", "month")})
        bar.update_layout(margin=dict(l=10, r=10, t=10, b=10), xaxis=dict(type="category"))
        st.plotly_chart(bar, key="ring_timeline")
with right:
    st.markdown(f"**{scheme(lead.get('scheme', ''))}** · {tr('评分', 'score')} {float(lead.get('score') or 0):.2f} · "
                f"{tr('涉嫌金额', 'at risk')} {wan(lead.get('amount_at_risk'))}")
    st.caption(lead_summary(lead, rule_names=rule_names_zh()))
    node_keys = [k_ for k_ in sub.nodes["key"].tolist() if k_.split(":", 1)[0] in ENTITY_TYPES]
    labels = dict(zip(sub.nodes["key"], graphview._display_label(sub.nodes)))
    default_key = picked[0] if picked and picked[0] in node_keys else st.session_state.get("ring_node")
    cur = st.selectbox(tr("当前节点（在图中点选或在此选择）", "Current node (click it in the drawing or pick it here)"),
                       node_keys, index=node_keys.index(default_key) if default_key in node_keys else 0,
                       key="ring_node", format_func=lambda k_: f"{value('entity_type', k_.split(':', 1)[0])} "
                                                               f"{labels.get(k_, k_)}") if node_keys else None
    if cur:
        ct, cid = cur.split(":", 1)
        b1, b2 = st.columns(2)
        if b1.button(tr("展开邻居", "Expand neighbours"), key="ring_expand", icon=":material/account_tree:"):
            if [ct, cid] not in ls["expanded"]:
                ls["expanded"].append([ct, cid])
            st.rerun()
        if b2.button(tr("在实体画像中打开", "Open in Entity 360"), key="ring_goto", icon=":material/person_search:"):
            goto_entity(ct, cid)
        with st.form("ring_note_form", clear_on_submit=True):
            text = st.text_input(tr("给当前节点加批注", "Pin a note to the current node"), key="ring_note_text")
            if st.form_submit_button(tr("保存批注", "Save note")) and text.strip():
                try:
                    lay.add_node_note(lead_id, cur, text)
                    st.rerun()
                except PermissionDenied as exc:
                    st.error(str(exc))
    with st.expander(tr("两实体间的最短路径", "Shortest path between two entities"), icon=":material/route:"):
        pa = st.selectbox(tr("起点", "From"), node_keys, key="ring_path_a", format_func=lambda k_: labels.get(k_, k_))
        pb_text = st.text_input(tr("终点（图中节点，或输入 类别:编号，如 person:P001）",
                                   "To (a node, or type:id such as person:P001)"), key="ring_path_b").strip()
        if st.button(tr("查找路径", "Find path"), key="ring_path_go") and pa and pb_text:
            bt, _, bid = pb_text.partition(":")
            if bt not in ENTITY_TYPES or not bid:
                st.error(tr("终点格式应为 person:编号、physician:编号 或 institution:编号。",
                            "Write the end as person:ID, physician:ID or institution:ID."))
            else:
                ls["path"] = [pa.split(":", 1), [bt, bid]]
                st.rerun()
        if ls.get("path"):
            if len(path_df):
                st.caption(tr(f"路径经过 {len(path_df)} 个节点（图中加粗）。",
                              f"The path passes {len(path_df)} nodes (outlined in the drawing)."))
                table(path_df.drop(columns=["district"]), "ring_path")
            else:
                st.caption(tr("8 步以内没有路径。", "No path within 8 steps."))
            if st.button(tr("清除路径", "Clear the path"), key="ring_path_clear"):
                ls["path"] = None
                st.rerun()
    with st.expander(tr("保存的视图", "Saved views"), icon=":material/bookmark:"):
        vname = st.text_input(tr("视图名称", "View name"), key="ring_view_name")
        if st.button(tr("保存当前视图到线索", "Save this view on the lead"), key="ring_view_save"):
            try:
                lay.save_view(lead_id, vname, {"month": month, "max_nodes": int(max_nodes),
                                               "expanded": ls["expanded"], "path": ls.get("path")})
                st.rerun()
            except PermissionDenied as exc:
                st.error(str(exc))
        views = lay.saved_views(lead_id)
        if len(views):
            vsel = st.selectbox(tr("已保存", "Saved"), views["view_id"].tolist(), key="ring_view_pick",
                                format_func=lambda v: " · ".join(views.set_index("view_id").loc[v, ["name", "user", "at"]]
                                                                  .astype(str)))
            if st.button(tr("应用所选视图", "Apply the selected view"), key="ring_view_apply"):
                st.session_state["ring_apply_view"] = json.loads(views.set_index("view_id").loc[vsel, "state"])
                st.rerun()
        if ls["expanded"] and st.button(tr("收起全部展开", "Collapse all expansions"), key="ring_collapse"):
            ls["expanded"] = []
            st.rerun()
    if len(notes):
        st.markdown("**" + tr("节点批注", "Notes on nodes") + "**")
        table(notes.drop(columns=["note_id"]), "ring_notes", height=160)
    st.markdown("**" + tr("团伙相关的规则命中", "Rule hits beside the ring") + "**")
    hits = lay.lead_rule_hits(lead_id, 2000)
    if month is not None and len(hits):
        hits = hits[hits["month"].isna() | (hits["month"].astype(str) <= month)]
    if hits.empty:
        st.caption(tr("截至该月没有规则命中。", "No rule hits on this ring (as of this month)."))
    else:
        st.caption(tr(f"{len(hits)} 次命中 · 涉嫌金额 {wan(hits['amount_at_risk'].sum())}",
                      f"{len(hits)} hits · {wan(hits['amount_at_risk'].sum())} at risk"))
        by_rule = (hits.groupby(["rule_id", "rule_name", "severity"], as_index=False, dropna=False)
                   .agg(n=("hit_id", "size"), amount_at_risk=("amount_at_risk", "sum"))
                   .sort_values("amount_at_risk", ascending=False))
        table(by_rule, "ring_hits_by_rule", height=220, hide=("rule_id",))

if len(packs):
    summary = graphview.pack_summary(packs)
    with st.expander(tr(f"药品追溯码：{len(summary)} 盒药品被重复结算", f"Traceability codes: {len(summary)} packs settled "
                        "more than once"), expanded=lead.get("scheme") == "drug_resale", icon=":material/medication:"):
        st.caption(tr("一个追溯码对应一盒药，只能销售一次。再次结算说明药盒回流再售、被调换或未售先刷；退费后重新销售的"
                      "不算回流（标为已退费）。图中橙色边从药盒首次结算的参保人指向它再次结算的机构；选中一个追溯码，"
                      "它经过的参保人和机构在图中加粗。",
                      "A traceability code is one pack and is sold once. A second settlement means the pack came back "
                      "and was sold again, was swapped, or was swiped without a sale; a sale after a refund is not a "
                      "return (marked refunded). Orange edges in the drawing run from the person a pack was first "
                      "settled to, to the institution where it was settled again; the persons and institutions on "
                      "the chosen pack's path are outlined."))
        if len(summary) >= PACK_LIMIT:
            st.warning(tr(f"超过 {PACK_LIMIT:,} 个追溯码，只列出前 {PACK_LIMIT:,} 个。",
                          f"More than {PACK_LIMIT:,} codes: the first {PACK_LIMIT:,} are listed."))
        table(summary, "ring_packs", height=240, hide=("member_path",))
        pack_label = {c: f"{d} · {n} · {c}" for c, d, n in zip(summary["trace_code"], summary["drug"],
                                                                summary["n_settlements"])}
        code = st.selectbox(tr("查看一个追溯码的流转路径", "Follow one pack's path"), summary["trace_code"].tolist(),
                            key="ring_pack", index=None, placeholder=tr("选择追溯码", "Choose a code"),
                            format_func=lambda c: pack_label.get(c, c))
        if code is not None:
            steps = packs[packs["trace_code"] == code].sort_values("seq")
            who = steps["person_name"].fillna(steps["person_id"]).astype(str)
            where = steps["institution"].fillna(steps["institution_id"]).astype(str)
            pf = go.Figure(go.Scatter(x=pd.to_datetime(steps["at"]), y=where, mode="lines+markers+text",
                                      text=[f"{int(q)}. {w}" + (tr("（已退费）", " (refunded)") if bool(r) else "")
                                            for q, w, r in zip(steps["seq"], who, steps["reversed"])],
                                      textposition="top center", marker=dict(size=12, color="#e6550d")))
            n_y = where.nunique()
            pf.update_layout(height=240 + 30 * n_y, margin=dict(l=10, r=10, t=40, b=10),
                             yaxis=dict(type="category", range=[-0.6, n_y - 0.4]),
                             title=tr(f"追溯码 {code} 的流转路径", f"Path of pack {code}"))
            st.plotly_chart(pf, key="ring_pack_path", config=NO_IMAGE_EXPORT)
            table(steps.drop(columns=["trace_code", "n_settlements"]), "ring_pack_steps")

with st.expander(tr("节点与边（表格）", "Nodes and edges as tables")):
    nodes_view = shown.nodes.drop(columns=[c for c in ("extra",) if c in shown.nodes.columns])
    table(nodes_view, "ring_nodes")
    table(graphview.collapse_edges(shown.edges), "ring_edges")

show_cypher(["lead_members", "lead_subgraph_visits", "lead_subgraph_faces", "lead_subgraph_family",
             "lead_rule_hits", "lead_pack_paths", "node_neighbours", "shortest_path"],
            {"lead_id": lead_id, "limit": ROW_LIMIT})
