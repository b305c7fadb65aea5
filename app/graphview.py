"""A lead's subgraph: built from the ring queries, aggregated, laid out, drawn.

The Ring explorer and the evidence package share this module:

- :func:`build_subgraph` turns the rows of ``cypher/app/lead_subgraph_*.cypher``
  (visits aggregated per person, institution, physician and month; face
  identities presenting credentials; family links) into a node table and a
  *monthly* edge table, so the ring's growth can be replayed;
- :func:`as_of` keeps what existed up to a month;
- :func:`aggregate` keeps a large ring drawable: when there are more nodes
  than a budget, the least central persons are folded into one group node per
  institution they mostly used (and faces into their credential's group), so a
  1,000-node ring draws as a few hundred marks; nothing is silently dropped --
  each group says how many it holds;
- :func:`layout` places nodes with Fruchterman–Reingold (igraph), computed once
  on the full ring so that replaying months keeps every node in place;
- :func:`figure` draws an interactive plotly figure (WebGL when large; node
  selection returns the node keys); :func:`render_png` draws the same picture
  with Pillow for documents;
- :func:`pack_edges` turns the packs' paths (``cypher/app/lead_pack_paths.cypher``, 药品追溯码)
  into "pack came back" edges: from the person a pack was settled to, to the institution where
  the same pack was settled again, dated by the month it came back; :func:`pack_summary` gives
  one row per code (the ring explorer's table, the case summary's section).

References
----------
T. M. J. Fruchterman, E. M. Reingold, "Graph drawing by force-directed
placement", Software: Practice and Experience 21(11), 1991.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "NODE_COLORS",
    "Subgraph",
    "build_subgraph",
    "as_of",
    "aggregate",
    "layout",
    "figure",
    "pack_edges",
    "pack_summary",
    "render_png",
    "merge_rows",
]

NODE_COLORS = {
    "person": "#1f77b4",
    "face": "#d62728",
    "physician": "#2ca02c",
    "institution": "#9467bd",
    "group": "#7f7f7f",
    "visit": "#bdbdbd",
    "capture": "#ff9896",
}
NODE_SYMBOLS = {"person": "circle", "face": "diamond", "physician": "triangle-up",
                "institution": "square", "group": "circle-open", "visit": "circle-dot", "capture": "diamond-tall"}
EDGE_COLORS = {"visit": "#9ecae1", "treated_by": "#a1d99b", "practises_at": "#bcbddc",
               "presented": "#fc9272", "enrolled_as": "#de2d26", "family": "#fdae6b",
               "pack_return": "#e6550d"}

NODE_COLUMNS = ["key", "type", "id", "label", "member", "risk", "first_month", "activity", "size_n"]
EDGE_COLUMNS = ["src", "dst", "rel", "month", "n", "amount"]


@dataclass
class Subgraph:
    """Nodes (one row per node) and monthly edges (one row per edge and month)."""

    nodes: pd.DataFrame
    edges: pd.DataFrame

    @property
    def months(self) -> list[str]:
        m = self.edges["month"].dropna().astype(str)
        return sorted(m.unique().tolist())

    def summary(self) -> dict[str, int]:
        counts = self.nodes["type"].value_counts().to_dict()
        counts["edges"] = int(self.edges.groupby(["src", "dst", "rel"]).ngroups) if len(self.edges) else 0
        return {k: int(v) for k, v in counts.items()}


def _key(t: str, ids: pd.Series) -> pd.Series:
    return t + ":" + ids.astype(str)


def _empty(cols) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})


def _frame(df: pd.DataFrame | None, cols: list[str]) -> pd.DataFrame:
    if df is None or df.empty:
        return _empty(cols)
    out = df.copy()
    for c in cols:
        if c not in out:
            out[c] = None
    return out


def _group_min(keys: pd.Series, values: pd.Series) -> pd.Series:
    """Smallest non-null string of ``values`` per key (vectorised through integer codes)."""
    codes, uniques = pd.factorize(values.astype(object), sort=True, use_na_sentinel=True)
    big = np.iinfo(np.int64).max
    m = pd.Series(np.where(codes < 0, big, codes), index=keys.values).groupby(level=0).min()
    lookup = np.asarray(list(uniques) + [None], dtype=object)
    return pd.Series(lookup[np.where(m.to_numpy() == big, len(uniques), m.to_numpy())], index=m.index)


def build_subgraph(members: pd.DataFrame, visits: pd.DataFrame | None = None,
                   faces: pd.DataFrame | None = None, family: pd.DataFrame | None = None) -> Subgraph:
    """Nodes and monthly edges of a lead from its query rows.

    ``members``: ``lead_members`` rows (entity_type, entity_id, name, risk_score,
    institution_id); ``visits``: ``lead_subgraph_visits``; ``faces``:
    ``lead_subgraph_faces``; ``family``: ``lead_subgraph_family`` (kept only
    between persons the other rows already put in the ring).
    """
    members = _frame(members, ["entity_type", "entity_id", "name", "risk_score", "institution_id"])
    visits = _frame(visits, ["person_id", "person_name", "institution_id", "institution_name",
                             "physician_id", "physician_name", "physician_institution_id",
                             "month", "n_visits", "amount"])
    faces = _frame(faces, ["face_id", "person_id", "person_name", "enrolled_person_id",
                           "enrolled_name", "month", "n_captures"])
    family = _frame(family, ["person_id", "person_name", "related_person_id", "related_name", "relation"])

    e_parts = []
    v = visits
    if len(v):
        pk = _key("person", v["person_id"])
        ik = _key("institution", v["institution_id"])
        e_parts.append(pd.DataFrame({"src": pk, "dst": ik, "rel": "visit", "month": v["month"],
                                     "n": v["n_visits"], "amount": v["amount"]}))
        has_d = v["physician_id"].notna()
        vd = v[has_d]
        e_parts.append(pd.DataFrame({"src": _key("person", vd["person_id"]),
                                     "dst": _key("physician", vd["physician_id"]),
                                     "rel": "treated_by", "month": vd["month"],
                                     "n": vd["n_visits"], "amount": vd["amount"]}))
        pa = vd[vd["physician_institution_id"].notna()].drop_duplicates(["physician_id", "physician_institution_id"])
        e_parts.append(pd.DataFrame({"src": _key("physician", pa["physician_id"]),
                                     "dst": _key("institution", pa["physician_institution_id"]),
                                     "rel": "practises_at", "month": None, "n": 1, "amount": 0.0}))
    md = members[(members["entity_type"] == "physician") & members["institution_id"].notna()]
    if len(md):
        e_parts.append(pd.DataFrame({"src": _key("physician", md["entity_id"]),
                                     "dst": _key("institution", md["institution_id"]),
                                     "rel": "practises_at", "month": None, "n": 1, "amount": 0.0}))
    if len(faces):
        e_parts.append(pd.DataFrame({"src": _key("face", faces["face_id"]),
                                     "dst": _key("person", faces["person_id"]),
                                     "rel": "presented", "month": faces["month"],
                                     "n": faces["n_captures"], "amount": 0.0}))
        fe = faces[faces["enrolled_person_id"].notna()].drop_duplicates(["face_id", "enrolled_person_id"])
        e_parts.append(pd.DataFrame({"src": _key("face", fe["face_id"]),
                                     "dst": _key("person", fe["enrolled_person_id"]),
                                     "rel": "enrolled_as", "month": None, "n": 1, "amount": 0.0}))
    if len(family):
        # family / proxy bindings between persons already in the ring (a benign
        # explanation the investigator must see), not the members' whole families
        present = set(members["entity_type"] + ":" + members["entity_id"].astype(str))
        for part in e_parts:
            present |= set(part["src"]) | set(part["dst"])
        fam = pd.DataFrame({"src": _key("person", family["person_id"]),
                            "dst": _key("person", family["related_person_id"]),
                            "rel": "family", "month": None, "n": 1, "amount": 0.0})
        e_parts.append(fam[fam["src"].isin(present) & fam["dst"].isin(present)])
    edges = pd.concat([p for p in e_parts if len(p)], ignore_index=True) if any(len(p) for p in e_parts) \
        else _empty(EDGE_COLUMNS)
    edges = edges[EDGE_COLUMNS].copy()
    edges["n"] = pd.to_numeric(edges["n"], errors="coerce").fillna(1).astype(int)
    edges["amount"] = pd.to_numeric(edges["amount"], errors="coerce").fillna(0.0)
    edges["month"] = edges["month"].where(edges["month"].notna(), None)
    edges = edges.drop_duplicates(["src", "dst", "rel", "month"]) if edges["month"].isna().any() else edges

    # names seen in the rows, members first
    names = pd.concat([
        pd.DataFrame({"key": _key("person", members.loc[members.entity_type == "person", "entity_id"]),
                      "label": members.loc[members.entity_type == "person", "name"]}),
        pd.DataFrame({"key": members["entity_type"] + ":" + members["entity_id"].astype(str),
                      "label": members["name"]}),
        pd.DataFrame({"key": _key("person", v["person_id"]), "label": v["person_name"]}),
        pd.DataFrame({"key": _key("institution", v["institution_id"]), "label": v["institution_name"]}),
        pd.DataFrame({"key": _key("physician", v["physician_id"]), "label": v["physician_name"]}),
        pd.DataFrame({"key": _key("person", faces["enrolled_person_id"]), "label": faces["enrolled_name"]}),
        pd.DataFrame({"key": _key("person", family["related_person_id"]), "label": family["related_name"]}),
    ], ignore_index=True).dropna(subset=["label"]).drop_duplicates("key")

    member_keys = members["entity_type"] + ":" + members["entity_id"].astype(str)
    keys = pd.Index(pd.concat([member_keys, edges["src"], edges["dst"]]).dropna().unique())
    keys = keys[~keys.str.endswith(":None") & ~keys.str.endswith(":nan")]
    nodes = pd.DataFrame({"key": keys})
    split = nodes["key"].str.split(":", n=1, expand=True) if len(nodes) else pd.DataFrame({0: [], 1: []})
    nodes["type"] = split[0]
    nodes["id"] = split[1]
    nodes = nodes.merge(names, on="key", how="left")
    nodes["label"] = nodes["label"].where(nodes["label"].notna(), None)
    nodes["member"] = nodes["key"].isin(set(member_keys))
    risk = pd.Series(pd.to_numeric(members["risk_score"], errors="coerce").values, index=member_keys.values)
    nodes["risk"] = nodes["key"].map(risk[~risk.index.duplicated()]).astype(float)
    dated = edges.dropna(subset=["month"])
    ends = pd.concat([dated[["src", "month"]].rename(columns={"src": "key"}),
                      dated[["dst", "month"]].rename(columns={"dst": "key"})])
    first = _group_min(ends["key"], ends["month"])
    nodes["first_month"] = nodes["key"].map(first)
    act = pd.concat([edges[["src", "n"]].rename(columns={"src": "key"}),
                     edges[["dst", "n"]].rename(columns={"dst": "key"})]).groupby("key")["n"].sum()
    nodes["activity"] = nodes["key"].map(act).fillna(0).astype(int)
    nodes["size_n"] = 1
    return Subgraph(nodes[NODE_COLUMNS].reset_index(drop=True), edges.reset_index(drop=True))


def as_of(sub: Subgraph, month: str | None) -> Subgraph:
    """The ring as it stood at the end of ``month`` (``None``: all of it).

    Undated edges (practises at, family, enrolment, an expansion) appear with their ends. A member
    with no dated edge at all (a resale ring's outlet, tied to the ring by its packs and staff, not
    by visits of the members) is there from the start, and so are its undated edges.
    """
    if month is None:
        return sub
    e = sub.edges
    dated = e[e["month"].notna() & (e["month"].astype(str) <= month)]
    ever = set(e.loc[e["month"].notna(), "src"]) | set(e.loc[e["month"].notna(), "dst"])
    n0 = sub.nodes
    static = set(n0.loc[n0["member"].fillna(False).astype(bool) & ~n0["key"].isin(ever), "key"])
    alive = set(dated["src"]) | set(dated["dst"]) | static
    und = e[e["month"].isna() & (e["src"].isin(alive) | e["dst"].isin(alive))]
    edges = pd.concat([dated, und], ignore_index=True)
    keep = set(edges["src"]) | set(edges["dst"])
    n = sub.nodes
    nodes = n[n["key"].isin(keep) | (n["member"] & n["first_month"].isna())]
    return Subgraph(nodes.reset_index(drop=True), edges)


def collapse_edges(edges: pd.DataFrame) -> pd.DataFrame:
    """Monthly edges summed into one row per (src, dst, rel)."""
    if edges.empty:
        return _empty(["src", "dst", "rel", "n", "amount", "first_month"])
    # months as integer codes: a groupby min over an object column falls back to Python per group
    codes, uniques = pd.factorize(edges["month"].astype(object), sort=True, use_na_sentinel=True)
    big = np.iinfo(np.int64).max
    e = edges.assign(_m=np.where(codes < 0, big, codes))
    out = (e.groupby(["src", "dst", "rel"], as_index=False, dropna=False)
           .agg(n=("n", "sum"), amount=("amount", "sum"), _m=("_m", "min")))
    lookup = np.asarray(list(uniques) + [None], dtype=object)
    out["first_month"] = lookup[np.where(out["_m"].to_numpy() == big, len(uniques), out["_m"].to_numpy())]
    return out.drop(columns="_m")


def aggregate(sub: Subgraph, max_nodes: int = 300) -> Subgraph:
    """Fold the least central persons (and their faces) into group nodes.

    Keeps every physician and institution, then persons by (member, risk,
    activity) until ``max_nodes``; other persons join a group per the
    institution they visited most (``group:<institution>``); a face identity
    joins its credential's group when all of its credentials were folded.
    Returns ``sub`` unchanged when it already fits.
    """
    n = sub.nodes
    if len(n) <= max_nodes:
        return sub
    fixed = n[n["type"].isin(["physician", "institution"])]
    budget = max(max_nodes - len(fixed), 10)
    persons = n[n["type"] == "person"].sort_values(
        ["member", "risk", "activity"], ascending=[False, False, False], na_position="last")
    faces = n[n["type"] == "face"].sort_values("activity", ascending=False)
    keep_p = persons.head(budget // 2 if len(faces) else budget)
    keep_f = faces.head(max(budget - len(keep_p), 0) // 2) if len(faces) else faces.head(0)
    fold = n[n["type"].isin(["person", "face"]) & ~n["key"].isin(set(keep_p["key"]) | set(keep_f["key"]))]

    e = sub.edges
    visits = e[(e["rel"] == "visit") & e["src"].isin(set(fold["key"]))]
    dominant = (visits.groupby(["src", "dst"])["n"].sum().reset_index()
                .sort_values(["src", "n", "dst"], ascending=[True, False, True])
                .drop_duplicates("src").set_index("src")["dst"])
    target = pd.Series("group:" + fold["key"].map(dominant).fillna("other").str.replace(":", "_", n=1).values,
                       index=fold["key"].values)
    # faces follow the group of the credential they presented most
    pres = e[(e["rel"] == "presented") & e["src"].isin(set(fold["key"]))]
    if len(pres):
        fmap = (pres.assign(g=pres["dst"].map(target))
                .assign(g=lambda d: d["g"].fillna(d["dst"]))
                .sort_values("n", ascending=False).drop_duplicates("src").set_index("src")["g"])
        target.loc[fmap.index] = fmap.values
    remap = lambda s: s.map(target).fillna(s)  # noqa: E731
    edges = e.assign(src=remap(e["src"]), dst=remap(e["dst"]))
    edges = edges[edges["src"] != edges["dst"]]
    edges = (edges.groupby(["src", "dst", "rel", "month"], as_index=False, dropna=False)
             .agg(n=("n", "sum"), amount=("amount", "sum")))

    folded = (pd.DataFrame({"key": target.values, "orig": target.index})
              .merge(n[["key", "first_month", "activity", "member", "risk"]].rename(columns={"key": "orig"}),
                     on="orig"))
    groups = (folded.groupby("key", as_index=False)
              .agg(size_n=("orig", "size"), activity=("activity", "sum"), member=("member", "any"),
                   risk=("risk", "max")))
    groups["first_month"] = groups["key"].map(_group_min(folded["key"], folded["first_month"]))
    groups["type"] = "group"
    groups["id"] = groups["key"].str.slice(6)
    groups["label"] = groups["size_n"].astype(str) + " folded @ " + groups["id"].str.replace("_", ":", n=1)
    nodes = pd.concat([n[~n["key"].isin(set(fold["key"]))], groups[NODE_COLUMNS]], ignore_index=True)
    return Subgraph(nodes[NODE_COLUMNS].reset_index(drop=True), edges[EDGE_COLUMNS].reset_index(drop=True))


def layout(nodes: pd.DataFrame, edges: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """Positions (columns key, x, y) by Fruchterman–Reingold, deterministic in ``seed``."""
    import igraph as ig

    keys = nodes["key"].tolist()
    if not keys:
        return pd.DataFrame({"key": [], "x": [], "y": []})
    idx = {k: i for i, k in enumerate(keys)}
    ce = collapse_edges(edges)
    ce = ce[ce["src"].isin(idx) & ce["dst"].isin(idx)]
    pairs = list(zip(ce["src"].map(idx), ce["dst"].map(idx)))
    g = ig.Graph(n=len(keys), edges=pairs)
    rng = np.random.default_rng(seed)
    init = rng.uniform(-1, 1, size=(len(keys), 2)).tolist()
    weights = np.log1p(ce["n"].to_numpy(dtype=float)).tolist() if pairs else None
    import random

    ig.set_random_number_generator(random.Random(seed))  # igraph's FR draws random moves
    try:
        lay = g.layout_fruchterman_reingold(seed=init, niter=300 if len(keys) > 500 else 500,
                                            weights=weights, grid="auto")
    finally:
        ig.set_random_number_generator(random)
    xy = np.asarray(lay.coords, dtype=float)
    return pd.DataFrame({"key": keys, "x": xy[:, 0], "y": xy[:, 1]})


def _node_size(nodes: pd.DataFrame) -> np.ndarray:
    a = nodes["activity"].to_numpy(dtype=float)
    s = 8 + 4 * np.log1p(a)
    s = s + 6 * np.log1p(nodes["size_n"].to_numpy(dtype=float) - 1)
    return np.clip(s, 6, 40)


def _display_label(nodes: pd.DataFrame) -> pd.Series:
    lab = nodes["label"].where(nodes["label"].notna(), "")
    return np.where(lab.astype(str).str.len() > 0, nodes["id"].astype(str) + " " + lab.astype(str),
                    nodes["id"].astype(str))


def _short_label(nodes: pd.DataFrame) -> pd.Series:
    """The text drawn beside a node: its name when it has one, else its id."""
    lab = nodes["label"].where(nodes["label"].notna(), "").astype(str)
    return pd.Series(np.where(lab.str.len() > 0, lab, nodes["id"].astype(str)), index=nodes.index)


def pack_edges(packs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Nodes and monthly edges of the packs that came back (药品追溯码 settled again).

    ``packs`` has one row per settlement (``trace_code, seq, at, reversed, person_id,
    person_name, institution_id, institution``). Each settlement after the first gives an edge
    ``person:<who the pack was settled to before> -> institution:<where it came back>``
    (``rel = "pack_return"``), dated by the month it came back; ``n`` counts packs, ``amount``
    sums what was billed again. A step after a refunded settlement (``reversed``) is an ordinary
    resale, not a pack coming back, and gives no edge. The nodes are the ends, for
    :func:`merge_rows` (nodes already in the ring are kept as they are).

    >>> rows = pd.DataFrame({"trace_code": ["c1", "c1", "c2", "c2"], "seq": [1, 2, 1, 2],
    ...                      "at": ["2024-03-01T09:00", "2024-04-02T10:00", "2024-03-05T09:00", "2024-03-06T09:00"],
    ...                      "reversed": [False, False, True, False], "person_id": ["A", "B", "A", "C"],
    ...                      "person_name": ["张*", "李*", "张*", "王*"], "institution_id": ["H1", "P9", "H1", "P9"],
    ...                      "institution": ["一院", "某药店", "一院", "某药店"], "line_amount": [100.0, 90.0, 100.0, 95.0]})
    >>> nodes, edges = pack_edges(rows)
    >>> edges[["src", "dst", "rel", "month", "n", "amount"]].values.tolist()
    [['person:A', 'institution:P9', 'pack_return', '2024-04', 1, 90.0]]
    >>> sorted(nodes["key"])
    ['institution:P9', 'person:A']
    """
    if packs is None or packs.empty:
        return _empty(["key", "type", "id", "label"]), _empty(EDGE_COLUMNS)
    p, prev, came_back = _came_back(packs)
    step, before = p[came_back], prev[came_back]
    if step.empty:
        return _empty(["key", "type", "id", "label"]), _empty(EDGE_COLUMNS)
    e = pd.DataFrame({"src": _key("person", before["person_id"]).to_numpy(),
                      "dst": _key("institution", step["institution_id"]).to_numpy(),
                      "month": step["at"].astype(str).str[:7].to_numpy(),
                      "amount": pd.to_numeric(step.get("line_amount"), errors="coerce").fillna(0.0).to_numpy()})
    edges = (e.groupby(["src", "dst", "month"], as_index=False)
             .agg(n=("amount", "size"), amount=("amount", "sum")).assign(rel="pack_return"))[EDGE_COLUMNS]
    persons = pd.DataFrame({"key": _key("person", before["person_id"]).to_numpy(), "type": "person",
                            "id": before["person_id"].astype(str).to_numpy(),
                            "label": before.get("person_name", pd.Series(None, index=before.index)).to_numpy()})
    insts = pd.DataFrame({"key": _key("institution", step["institution_id"]).to_numpy(), "type": "institution",
                          "id": step["institution_id"].astype(str).to_numpy(),
                          "label": step.get("institution", pd.Series(None, index=step.index)).to_numpy()})
    nodes = pd.concat([persons, insts], ignore_index=True).drop_duplicates("key").reset_index(drop=True)
    return nodes, edges


def _came_back(packs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """The settlements in path order, each one's previous settlement of the same code, and whether
    it is the pack coming back (a previous settlement that was not refunded)."""
    p = packs.sort_values(["trace_code", "seq"], kind="mergesort").reset_index(drop=True)
    prev = p.groupby("trace_code", sort=False).shift(1)
    came_back = prev["person_id"].notna() & ~prev["reversed"].astype("boolean").fillna(False).astype(bool)
    return p, prev, came_back


def pack_summary(packs: pd.DataFrame) -> pd.DataFrame:
    """One row per trace code of ``packs`` (the rows :func:`pack_edges` takes, with ``drug``,
    ``item_code``, ``person_member``, ``institution_member``): the drug, times settled, the first
    settlement (when, to whom, where), the last, where it came back, what was billed again when it
    came back (a resale after a refund is not counted), and ``member_path`` -- it came back at a
    member institution after a member person held it. Most settled first.

    >>> rows = pd.DataFrame({"trace_code": ["c1", "c1", "c2", "c2"], "seq": [1, 2, 1, 2],
    ...                      "at": ["2024-03-01T09:00", "2024-04-02T10:00", "2024-03-05T09:00", "2024-03-06T09:00"],
    ...                      "reversed": [False, False, True, False], "person_id": ["A", "B", "A", "C"],
    ...                      "person_name": ["张*", "李*", "张*", "王*"], "institution_id": ["H1", "P9", "H1", "P9"],
    ...                      "institution": ["一院", "某药店", "一院", "某药店"], "line_amount": [100.0, 90.0, 100.0, 95.0],
    ...                      "drug": ["甲", "甲", "乙", "乙"], "item_code": ["X1", "X1", "X2", "X2"],
    ...                      "person_member": [True, False, True, False], "institution_member": [False, True] * 2})
    >>> pack_summary(rows)[["trace_code", "first_person", "back_at", "amount_again", "member_path"]].values.tolist()
    [['c1', '张*', '某药店', 90.0, True], ['c2', '张*', '', 0.0, False]]
    """
    p, prev, came_back = _came_back(packs)
    who = (p["person_name"] if "person_name" in p else pd.Series(None, index=p.index)).fillna(p["person_id"])
    p = p.assign(_who=who.astype(str), _where=p["institution"].fillna(p["institution_id"]).astype(str))
    g = p.groupby("trace_code", sort=False)
    first, last = g.head(1).set_index("trace_code"), g.tail(1).set_index("trace_code")
    back = p[came_back]
    held_by_member = prev.loc[came_back, "person_member"].astype("boolean").fillna(False).astype(bool) \
        if "person_member" in prev else pd.Series(False, index=back.index)
    at_member = back["institution_member"].astype(bool) if "institution_member" in back \
        else pd.Series(False, index=back.index)
    codes = first.index
    out = pd.DataFrame({
        "trace_code": codes, "drug": first["drug"].fillna(first["item_code"]).to_numpy(),
        "n_settlements": g.size().reindex(codes).to_numpy(),
        "first_at": first["at"].astype(str).str[:16].to_numpy(), "first_person": first["_who"].to_numpy(),
        "first_institution": first["_where"].to_numpy(),
        "last_at": last["at"].astype(str).str[:16].reindex(codes).to_numpy(),
        "back_at": back.groupby("trace_code")["_where"].agg(lambda s_: "、".join(dict.fromkeys(s_)))
        .reindex(codes).fillna("").to_numpy(),
        "amount_again": pd.to_numeric(back["line_amount"], errors="coerce").groupby(back["trace_code"]).sum()
        .reindex(codes).fillna(0.0).round(2).to_numpy(),
        "member_path": codes.isin(back.loc[(held_by_member & at_member).to_numpy(), "trace_code"])})
    return out.sort_values(["n_settlements", "first_at"], ascending=[False, True], kind="mergesort") \
        .reset_index(drop=True)


def merge_rows(sub: Subgraph, nodes: pd.DataFrame, edges: pd.DataFrame) -> Subgraph:
    """``sub`` with extra nodes and edges (expanded neighbours, a path); nodes already there are kept.

    ``nodes`` has ``key, type, id, label``; ``edges`` has ``src, dst, rel, n``
    (undated: they show in every month of a replay).
    """
    if nodes.empty and edges.empty:
        return sub
    have = set(sub.nodes["key"])
    add = nodes[~nodes["key"].isin(have)].drop_duplicates("key").copy()
    for c, dflt in (("member", False), ("risk", np.nan), ("first_month", None), ("activity", 1), ("size_n", 1)):
        if c not in add:
            add[c] = dflt
    add["extra"] = True
    base = sub.nodes.assign(extra=sub.nodes.get("extra", False))
    n = pd.concat([base, add[[*NODE_COLUMNS, "extra"]]], ignore_index=True)
    e = edges.copy()
    for c, dflt in (("month", None), ("n", 1), ("amount", 0.0)):
        if c not in e:
            e[c] = dflt
    e = pd.concat([sub.edges, e[EDGE_COLUMNS]], ignore_index=True)
    return Subgraph(n.reset_index(drop=True), e.drop_duplicates(["src", "dst", "rel", "month"]).reset_index(drop=True))


def figure(sub: Subgraph, pos: pd.DataFrame, *, title: str = "", selected: set[str] | None = None,
           webgl_over: int = 300, notes: dict[str, str] | None = None, label_over: int = 80,
           type_labels: dict[str, str] | None = None, rel_labels: dict[str, str] | None = None):
    """An interactive plotly figure; each node's ``customdata`` is its key."""
    import plotly.graph_objects as go

    nodes = sub.nodes.merge(pos, on="key", how="inner")
    xy = nodes.set_index("key")[["x", "y"]]
    ce = collapse_edges(sub.edges)
    ce = ce[ce["src"].isin(xy.index) & ce["dst"].isin(xy.index)]
    big = len(nodes) > webgl_over
    Scatter = go.Scattergl if big else go.Scatter
    traces = []
    for rel, grp in ce.groupby("rel"):
        a = xy.loc[grp["src"]].to_numpy()
        b = xy.loc[grp["dst"]].to_numpy()
        xs = np.column_stack([a[:, 0], b[:, 0], np.full(len(grp), np.nan)]).ravel()
        ys = np.column_stack([a[:, 1], b[:, 1], np.full(len(grp), np.nan)]).ravel()
        rname = (rel_labels or {}).get(rel, rel)
        traces.append(Scatter(x=xs, y=ys, mode="lines", name=f"— {rname} ({len(grp)})",
                              line=dict(width=1, color=EDGE_COLORS.get(rel, "#cccccc")),
                              hoverinfo="skip", legendgroup="edges"))
    sel = selected or set()
    nt = notes or {}
    tl = type_labels or {}
    for t, grp in nodes.groupby("type"):
        lab = _display_label(grp)
        note = grp["key"].map(nt).fillna("")
        hover = (lab + "<br>" + tl.get(t, t) + " · " + grp["activity"].astype(str)
                 + "<br>" + grp["first_month"].fillna("-").astype(str)
                 + np.where(grp["member"], "<br><b>" + tl.get("member", "lead member") + "</b>", "")
                 + np.where(grp["risk"].notna(), "<br>" + tl.get("risk", "risk") + ": " + grp["risk"].round(3).astype(str), "")
                 + np.where(note.str.len() > 0, "<br>" + tl.get("note", "note") + ": " + note.str.slice(0, 120), ""))
        line_w = np.where(grp["key"].isin(sel), 4, np.where(grp["member"] | (note.str.len() > 0), 2, 0.5))
        line_c = np.where(note.str.len() > 0, "#e6550d", "#000000")
        show_text = not big and len(nodes) <= label_over
        traces.append(Scatter(
            x=grp["x"], y=grp["y"], mode="markers+text" if show_text else "markers",
            name=f"{tl.get(t, t)} ({len(grp)})", customdata=grp["key"], hovertext=hover, hoverinfo="text",
            text=_short_label(grp) if show_text else None, textposition="top center", textfont=dict(size=10),
            marker=dict(size=_node_size(grp), color=NODE_COLORS.get(t, "#333"),
                        symbol=NODE_SYMBOLS.get(t, "circle") if not big else "circle",
                        line=dict(width=line_w, color=line_c)),
        ))
    fig = go.Figure(traces)
    fig.update_layout(
        title=title, showlegend=True, height=620, margin=dict(l=10, r=10, t=40, b=10),
        xaxis=dict(visible=False), yaxis=dict(visible=False, scaleanchor="x"),
        plot_bgcolor="white", dragmode="pan", clickmode="event+select",
        legend=dict(orientation="h", yanchor="bottom", y=-0.08),
    )
    return fig


def _font(size: int):
    from PIL import ImageFont

    from ringscope.app.pdfdoc import find_cjk_font

    cjk = find_cjk_font("Regular")
    if cjk is not None:
        return ImageFont.truetype(str(cjk[0]), size, index=cjk[1])
    for p in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",):
        if Path(p).exists():
            return ImageFont.truetype(p, size)
    return ImageFont.load_default()


def render_png(sub: Subgraph, pos: pd.DataFrame, *, title: str = "", width: int = 1600,
               height: int = 1200, label_limit: int = 80, type_labels: dict[str, str] | None = None) -> bytes:
    """The subgraph as a PNG (Pillow): edges, nodes by type, ids and names, a legend.

    Labels are the id and the node's ``label`` (names arrive already masked
    for the exporting role); set in Noto CJK when installed. At most
    ``label_limit`` nodes -- members and the most active -- are labelled so
    large rings stay legible.
    """
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    f_small, f_title = _font(13), _font(22)
    nodes = sub.nodes.merge(pos, on="key", how="inner")
    margin_top, margin = 60, 40
    if len(nodes):
        x, y = nodes["x"].to_numpy(), nodes["y"].to_numpy()
        sx = (width - 2 * margin - 220) / max(x.max() - x.min(), 1e-9)
        sy = (height - margin_top - margin) / max(y.max() - y.min(), 1e-9)
        s = min(sx, sy)
        nodes["px"] = margin + (x - x.min()) * s
        nodes["py"] = margin_top + (y - y.min()) * s
        p = nodes.set_index("key")[["px", "py"]]
        ce = collapse_edges(sub.edges)
        ce = ce[ce["src"].isin(p.index) & ce["dst"].isin(p.index)]
        for rel, grp in ce.groupby("rel"):
            a = p.loc[grp["src"]].to_numpy()
            b = p.loc[grp["dst"]].to_numpy()
            col = EDGE_COLORS.get(rel, "#cccccc")
            for (x0, y0), (x1, y1) in zip(a, b):
                d.line([(x0, y0), (x1, y1)], fill=col, width=1)
        radius = _node_size(nodes) / 2.2
        for (px, py, t, mem, r) in zip(nodes["px"], nodes["py"], nodes["type"], nodes["member"], radius):
            box = [px - r, py - r, px + r, py + r]
            col = NODE_COLORS.get(t, "#333333")
            if t == "institution":
                d.rectangle(box, fill=col, outline="black" if mem else col, width=2 if mem else 1)
            elif t == "physician":
                d.polygon([(px, py - r), (px - r, py + r), (px + r, py + r)], fill=col,
                          outline="black" if mem else col)
            elif t == "face":
                d.polygon([(px, py - r), (px + r, py), (px, py + r), (px - r, py)], fill=col,
                          outline="black" if mem else col)
            elif t == "group":
                d.ellipse(box, outline=col, width=3)
            else:
                d.ellipse(box, fill=col, outline="black" if mem else col, width=2 if mem else 1)
        lab = nodes.sort_values(["member", "activity"], ascending=[False, False]).head(label_limit)
        for px, py, t, i, n, name in zip(lab["px"], lab["py"], lab["type"], lab["id"], lab["size_n"], lab["label"]):
            text = (f"{i} {name}" if isinstance(name, str) and name else str(i)) if t != "group" else f"{n} folded"
            d.text((px + 8, py - 8), text, fill="black", font=f_small)
    d.text((margin, 18), title, fill="black", font=f_title)
    ly = margin_top
    lx = width - 210
    for t, col in NODE_COLORS.items():
        d.rectangle([lx, ly, lx + 14, ly + 14], fill=col)
        d.text((lx + 22, ly), (type_labels or {}).get(t, t), fill="black", font=f_small)
        ly += 22
    ly += 10
    for rel, col in EDGE_COLORS.items():
        d.line([(lx, ly + 7), (lx + 14, ly + 7)], fill=col, width=3)
        d.text((lx + 22, ly), (type_labels or {}).get(rel, rel), fill="black", font=f_small)
        ly += 22
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def ring_stats(sub: Subgraph) -> dict[str, float]:
    """Headline numbers of a ring: nodes by type, visits, money, months active."""
    e = sub.edges
    visits = e[e["rel"] == "visit"]
    out = {f"n_{t}": int(c) for t, c in sub.nodes["type"].value_counts().items()}
    out["n_visits"] = int(visits["n"].sum())
    out["amount"] = float(visits["amount"].sum())
    out["n_months"] = int(visits["month"].nunique())
    return out


__all__ += ["collapse_edges", "ring_stats"]
