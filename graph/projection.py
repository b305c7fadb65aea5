"""Graph projections of the contract tables, built once and cached in ``ctx.cache``.

Every builder reads only contract columns (``ringscope.ingest.contract`` gives
the dtypes) and works on any dataset in the contract's shape; optional tables
and columns may be absent. Projections are plain structures:

- :class:`Bipartite` -- a weighted ``scipy.sparse`` biadjacency with its row and
  column labels (person x institution, person x physician, physician x
  pharmacy, face identity x credential), convertible to an edge DataFrame, a
  networkx or an igraph graph;
- edge DataFrames for one-mode projections (co-visits of persons at the same
  institution within a time window).

Cache keys are ``"projection:<name>:<params>"`` so detectors share them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ringscope.graph.algorithms import temporal_synchrony
from ringscope.graph.context import Context
from ringscope.ingest.vocab import col_or

__all__ = [
    "Bipartite",
    "cached",
    "map_unique",
    "visit_frame",
    "drug_lines",
    "drug_group",
    "family_pairs",
    "bipartite",
    "person_institution",
    "person_physician",
    "physician_pharmacy",
    "covisit_edges",
    "face_links",
]


@dataclass
class Bipartite:
    """A weighted bipartite graph: ``matrix[i, j]`` = weight of row i -- column j."""

    matrix: sp.csr_matrix
    rows: np.ndarray          # labels of rows (e.g. person ids)
    cols: np.ndarray          # labels of columns
    row_type: str = "row"
    col_type: str = "col"

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    def edges(self) -> pd.DataFrame:
        """``row, col, weight`` with the labels."""
        c = self.matrix.tocoo()
        return pd.DataFrame({"row": self.rows[c.row], "col": self.cols[c.col], "weight": c.data})

    def typed_edges(self) -> pd.DataFrame:
        """Edges with typed ids (``person:P1``) so rows and columns never collide."""
        e = self.edges()
        e["row"] = self.row_type + ":" + e["row"].astype(str)
        e["col"] = self.col_type + ":" + e["col"].astype(str)
        return e

    def to_networkx(self):
        import networkx as nx

        g = nx.Graph()
        e = self.typed_edges()
        g.add_nodes_from(e["row"].unique(), bipartite=0)
        g.add_nodes_from(e["col"].unique(), bipartite=1)
        g.add_weighted_edges_from(e.itertuples(index=False, name=None))
        return g

    def to_igraph(self):
        import igraph as ig

        e = self.typed_edges()
        return ig.Graph.TupleList(e.itertuples(index=False, name=None), directed=False, weights=True)


def map_unique(s: pd.Series, fn: Callable[[Any], Any]) -> pd.Series:
    """``s.map(fn)`` computed once per distinct value (lists of diagnoses repeat millions of times).

    >>> map_unique(pd.Series([("I10", "E11"), (), ("I10", "E11")]), len).tolist()
    [2, 0, 2]
    """
    codes, uniq = pd.factorize(s, use_na_sentinel=False)
    if len(uniq) == 0:
        return pd.Series([], index=s.index, dtype=object)
    out = np.empty(len(uniq), dtype=object)
    out[:] = [fn(u) for u in uniq]
    return pd.Series(out[codes], index=s.index)


def cached(ctx: Context, key: str, build: Callable[[], Any]) -> Any:
    """``ctx.cache[key]``, built on first use."""
    if key not in ctx.cache:
        ctx.cache[key] = build()
    return ctx.cache[key]


def visit_frame(ctx: Context) -> pd.DataFrame:
    """Visits with the attributes detectors need, joined once.

    Adds ``inst_kind``, ``inst_district``, ``has_face_terminal`` (False when
    unknown), ``phys_institution`` (where the physician practises),
    ``external_rx`` (a pharmacy/institution sale on a prescription by a
    physician practising elsewhere), ``end`` (end_time or start_time),
    ``amount`` (fund_paid when known, else total_amount), ``payer`` (who paid).
    Only the visits of ``ctx.cache["graph:candidate_persons"]`` when the pipeline set it (the
    graph stage of ``--engine spark`` on a graph Spark cut to candidate subgraphs).
    """
    def build() -> pd.DataFrame:
        v = ctx.rows("visits")         # one copy, not also the dataset's cached whole table
        keep = ctx.cache.get("graph:candidate_persons")
        if keep is not None:           # the graph stage after Spark's reduction (graph/spark_graph.py)
            v = v[v["person_id"].isin(keep)].reset_index(drop=True)
        inst = ctx.table("institutions")
        phys = ctx.table("physicians")
        ik = inst.set_index("institution_id")
        v["inst_kind"] = v["institution_id"].map(ik["kind"]).fillna("unknown")
        v["inst_district"] = v["institution_id"].map(col_or(ik, "district"))
        term = col_or(ik, "has_face_terminal", False)
        v["has_face_terminal"] = v["institution_id"].map(term.astype("boolean").fillna(False)).fillna(False).astype(bool)
        pv = col_or(v, "physician_id")
        v["physician_id"] = pv.where(pv.notna(), None)
        v["phys_institution"] = v["physician_id"].map(phys.set_index("physician_id")["institution_id"]) \
            if len(phys) else None
        v["external_rx"] = v["physician_id"].notna() & v["phys_institution"].notna() & \
            (v["phys_institution"] != v["institution_id"])
        et = col_or(v, "end_time")
        v["end"] = pd.to_datetime(et).where(pd.to_datetime(et).notna(), v["start_time"])
        fund = pd.to_numeric(col_or(v, "fund_paid"), errors="coerce")
        v["amount"] = fund.where(fund.notna(), v["total_amount"]).astype(float)
        payer = col_or(v, "payer_person_id")
        v["payer"] = payer.where(payer.notna(), v["person_id"])
        v["terminal_key"] = col_or(v, "terminal_id").where(col_or(v, "terminal_id").notna(), v["institution_id"])
        return v
    return cached(ctx, "projection:visit_frame", build)


_NAME_NOISE = r"(\(.*?\)|（.*?）|\d+(\.\d+)?\s*(mg|g|ml|μg|ug|iu|万单位|片|粒|支|袋|盒)\b.*$)"


def drug_group(catalog: pd.DataFrame, by_indication: bool = False) -> pd.Series:
    """An ATC-like grouping key per item, indexed by item_code.

    Default: the molecule -- the item name without strength, form in brackets
    and pack size (``"Atorvastatin 20mg x 7"`` -> ``"atorvastatin"``), so the
    same drug from different makers and strengths falls together. With
    ``by_indication`` items restricted to the same ICD-10 indications
    (``indication_prefixes``, e.g. ``E10;E11`` for insulins) form one
    therapeutic class, as the catalogue's reimbursement limits define it;
    items without a limit keep their molecule key.
    """
    name = catalog["name"].astype(str).str.lower()
    key = name.str.replace(_NAME_NOISE, "", regex=True).str.replace(r"[\s\-_,;:/]+", " ", regex=True).str.strip()
    key = key.where(key.str.len() > 0, catalog["item_code"].astype(str))
    if by_indication and "indication_prefixes" in catalog.columns:
        ind = catalog["indication_prefixes"].map(
            lambda t: "indication:" + ";".join(sorted(t)) if isinstance(t, (tuple, list)) and len(t) else "")
        key = ind.where(ind != "", key)
    return pd.Series(key.to_numpy(), index=catalog["item_code"].to_numpy())


def drug_lines(ctx: Context) -> pd.DataFrame:
    """Drug claim lines joined with their visit: who prescribed (the line's
    physician, else the visit's), who received, where dispensed, which drug
    group, how much, when. Empty frame when there are no drug lines."""
    def build() -> pd.DataFrame:
        cl = ctx.rows("claim_lines", prefilter="item_code IN (SELECT item_code FROM catalog WHERE item_type = 'drug')")
        cat = ctx.table("catalog")
        v = visit_frame(ctx)
        if cl.empty or cat.empty:
            return pd.DataFrame(columns=["line_id", "visit_id", "item_code", "group", "amount", "quantity",
                                         "days_supply", "prescriber", "person_id", "institution_id",
                                         "inst_kind", "start_time", "visit_type"])
        ct = cat.set_index("item_code")
        it = cl["item_code"].map(ct["item_type"])
        d = cl[it == "drug"].copy()
        d["group"] = d["item_code"].map(drug_group(cat))
        d["drug_class"] = d["item_code"].map(drug_group(cat, by_indication=True))
        if "diagnosis_codes" not in v.columns:
            v = v.assign(diagnosis_codes=[()] * len(v))
        vv = v.set_index("visit_id")[["person_id", "institution_id", "physician_id", "inst_kind", "start_time",
                                        "visit_type", "payer", "phys_institution", "diagnosis_codes"]] \
            .rename(columns={"physician_id": "physician_id_visit"})
        d = d.join(vv, on="visit_id", how="inner" if ctx.cache.get("graph:candidate_persons") is not None
                   else "left")
        lp = col_or(d, "physician_id")
        d["prescriber"] = lp.where(lp.notna(), d["physician_id_visit"])
        d["amount"] = d["amount"].astype(float)
        if "days_supply" not in d.columns:
            d["days_supply"] = pd.NA
        return d.drop(columns=["physician_id_visit"])
    return cached(ctx, "projection:drug_lines", build)


def family_pairs(ctx: Context) -> pd.DataFrame:
    """Registered family/proxy links and payer links (家庭共济) as unordered
    pairs ``a < b`` with ``relation``. Used to discount legitimate sharing."""
    def build() -> pd.DataFrame:
        parts = []
        fl = ctx.table("family_links")
        if not fl.empty:
            parts.append(pd.DataFrame({"a": fl["person_id"].astype(str), "b": fl["related_person_id"].astype(str),
                                       "relation": col_or(fl, "relation").fillna("family").astype(str)}))
        v = ctx.rows("visits", ["person_id", "payer_person_id"]) if ctx.has("visits") else pd.DataFrame()
        if "payer_person_id" in v.columns:
            pv = v[v["payer_person_id"].notna() & (v["payer_person_id"] != v["person_id"])]
            parts.append(pd.DataFrame({"a": pv["person_id"].astype(str), "b": pv["payer_person_id"].astype(str),
                                       "relation": "payer"}))
        if not parts:
            return pd.DataFrame(columns=["a", "b", "relation"])
        p = pd.concat(parts, ignore_index=True)
        lo = np.where(p["a"] < p["b"], p["a"], p["b"])
        hi = np.where(p["a"] < p["b"], p["b"], p["a"])
        p = pd.DataFrame({"a": lo, "b": hi, "relation": p["relation"]})
        return p[p["a"] != p["b"]].drop_duplicates(["a", "b"]).reset_index(drop=True)
    return cached(ctx, "projection:family_pairs", build)


def bipartite(df: pd.DataFrame, row: str, col: str, weight: str | None = None,
              row_type: str = "row", col_type: str = "col") -> Bipartite:
    """Aggregate ``df`` into a biadjacency: weight = sum of ``weight`` (count if None)."""
    d = df[df[row].notna() & df[col].notna()]
    r_codes, r_lab = pd.factorize(d[row].astype(str), sort=True)
    c_codes, c_lab = pd.factorize(d[col].astype(str), sort=True)
    w = np.ones(len(d)) if weight is None else d[weight].to_numpy(dtype=float)
    m = sp.csr_matrix((w, (r_codes, c_codes)), shape=(len(r_lab), len(c_lab)))
    m.sum_duplicates()
    return Bipartite(m, np.asarray(r_lab, dtype=object), np.asarray(c_lab, dtype=object), row_type, col_type)


def person_institution(ctx: Context, weight: str | None = None) -> Bipartite:
    """Persons x institutions, weighted by visits (or ``weight="amount"``)."""
    return cached(ctx, f"projection:person_institution:{weight}",
                  lambda: bipartite(visit_frame(ctx), "person_id", "institution_id", weight, "person", "institution"))


def person_physician(ctx: Context, weight: str | None = None) -> Bipartite:
    """Persons x physicians (attending or prescribing), weighted by visits or amount."""
    return cached(ctx, f"projection:person_physician:{weight}",
                  lambda: bipartite(visit_frame(ctx), "person_id", "physician_id", weight, "person", "physician"))


def physician_pharmacy(ctx: Context, weight: str | None = None) -> Bipartite:
    """Physicians x dispensing institutions for external prescriptions filled
    (a sale whose physician practises at another institution)."""
    def build() -> Bipartite:
        v = visit_frame(ctx)
        return bipartite(v[v["external_rx"]], "physician_id", "institution_id", weight, "physician", "institution")
    return cached(ctx, f"projection:physician_pharmacy:{weight}", build)


def covisit_edges(ctx: Context, window: str = "30min", max_bucket: int = 30, min_common: int = 2,
                  visit_types: tuple[str, ...] = ("outpatient", "pharmacy"),
                  exclude_kinds: tuple[str, ...] = (), without_terminal: bool = False) -> pd.DataFrame:
    """Person--person co-visit projection: pairs of credentials used at the same
    institution within ``window`` on at least ``min_common`` distinct occasions.
    Columns ``a, b, n_sync, weighted, shared_days, expected`` (see
    :func:`ringscope.graph.algorithms.temporal_synchrony`) plus ``family``
    (True when the pair is a registered family/proxy/payer link). Visits at
    institutions of ``exclude_kinds``, or (``without_terminal``) at institutions
    with a face terminal, are left out."""
    def build() -> pd.DataFrame:
        v = visit_frame(ctx)
        keep = v["visit_type"].isin(visit_types) & ~v["inst_kind"].isin(exclude_kinds)
        if without_terminal:
            keep &= ~v["has_face_terminal"]
        # the three columns read, not a filtered copy of the city's whole visit frame
        v = v.loc[keep, ["person_id", "start_time", "institution_id"]]
        e = temporal_synchrony(v["person_id"].to_numpy(), v["start_time"].to_numpy(), window,
                               keys=v["institution_id"].to_numpy(), max_bucket=max_bucket, min_common=min_common,
                               chance=True)
        fam = family_pairs(ctx)
        key = set(zip(fam["a"], fam["b"]))
        e["family"] = [(a, b) in key or (b, a) in key for a, b in zip(e["a"], e["b"])] if len(e) else []
        return e
    return cached(ctx, f"projection:covisit:{window}:{max_bucket}:{min_common}:{visit_types}:{exclude_kinds}:"
                       f"{without_terminal}", build)


def face_links(ctx: Context) -> pd.DataFrame:
    """Face identity -- credential links from face verification.

    One row per (face_id, claimed person): ``n_captures``, ``n_mismatch``, ``n_strong``
    (mismatches at least half way from the threshold to a stranger's distance),
    ``n_match``, ``n_related``, ``n_unverified`` (the claimed person has no
    enrolment to compare with; a minor's credential never counts -- a guardian
    presents it), ``institutions`` (tuple), ``first``, ``last``,
    ``enrolled_person_id`` of the face (when the identity matched an enrolment),
    and ``family`` (the claimed credential is a registered relative/proxy of the
    face's enrolled person). Empty when there are no face tables."""
    def build() -> pd.DataFrame:
        fm = ctx.face_matches
        cols = ["face_id", "person_id", "n_captures", "n_mismatch", "n_strong", "n_match", "n_related", "n_unverified",
                "institutions", "first", "last", "enrolled_person_id", "family"]
        if fm is None or len(fm) == 0 or "face_id" not in fm.columns:
            return pd.DataFrame(columns=cols)
        f = fm[fm["face_id"].notna() & fm["claimed_person_id"].notna()].copy()
        f["is_mm"] = f["verdict"].eq("mismatch")
        # clear mismatches (another person's face, not a poor capture of the holder)
        f["is_strong"] = f["is_mm"] & (f["strength"] >= 0.5 if "strength" in f.columns else True)
        f["is_m"] = f["verdict"].eq("match")
        f["is_rel"] = f["verdict"].eq("related")
        minor = f["minor"].astype(bool) if "minor" in f.columns else pd.Series(False, index=f.index)
        f["is_unv"] = f["verdict"].eq("no_enrollment") & ~minor
        g = f.groupby(["face_id", "claimed_person_id"]).agg(
            n_captures=("capture_id", "size"), n_mismatch=("is_mm", "sum"), n_strong=("is_strong", "sum"),
            n_match=("is_m", "sum"),
            n_related=("is_rel", "sum"), n_unverified=("is_unv", "sum"), institutions=("institution_id", lambda s: tuple(sorted(set(s)))),
            first=("capture_time", "min"), last=("capture_time", "max")).reset_index()
        g = g.rename(columns={"claimed_person_id": "person_id"})
        fi = ctx.face_identities
        if fi is not None and len(fi) and "enrolled_person_id" in fi.columns:
            g["enrolled_person_id"] = g["face_id"].map(fi.drop_duplicates("face_id").set_index("face_id")
                                                       ["enrolled_person_id"])
        else:  # the credential the face matched best
            own = g[g["n_match"] > 0].sort_values("n_match").drop_duplicates("face_id", keep="last")
            g["enrolled_person_id"] = g["face_id"].map(own.set_index("face_id")["person_id"])
        fam = family_pairs(ctx)
        key = set(zip(fam["a"], fam["b"]))
        ep = g["enrolled_person_id"].astype(object)
        g["family"] = [isinstance(e, str) and ((p, e) in key or (e, p) in key)
                       for p, e in zip(g["person_id"], ep)]
        return g[cols]
    return cached(ctx, "projection:face_links", build)
