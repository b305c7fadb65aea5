"""Engineered entity features and the PyG ``HeteroData`` export.

One export feeds every learned model (the heterogeneous GNN, the graph
autoencoder and the tree baseline): per entity type (``person``,
``physician``, ``institution``) a numeric feature frame indexed by the entity
id, and a heterogeneous graph whose edges are the relations an investigator
reasons about.

Features (all vectorised ``groupby`` aggregates; optional tables and stages
that are absent simply give zero columns):

- volume and money: visits, active days, total / mean / max amount (log1p),
  fund-paid share, personal-account share, visits per active day;
- visit-type mix (outpatient / inpatient / pharmacy shares), inpatient length
  of stay, night (22:00-06:00) and weekend shares;
- temporal regularity: coefficient of variation of the gaps between
  consecutive visits (Cv -> 0 for clockwork refills or scripted swiping);
- concentration: Herfindahl-Hirschman index (HHI) of billed items, of
  institutions / pharmacies / physicians / patients, and distinct
  counterparties;
- claim-line mix: drug / service / material / non-medical amount shares,
  class-C share, share of lines above their price cap, days supplied;
- rule hits (``ctx.rule_hits``) per category and per severity, amount at risk;
- face verification (``ctx.face_matches``): captures, mismatch / no-enrolment
  rates;
- demographics and profile: age, sex, chronic conditions, insurance type,
  deceased; institution kind one-hot, level, ownership, face terminal;
  family-account links, paying for / paid by others; inventory purchase-sale
  gap for institutions.

Graph (:func:`to_hetero_data`), node types ``person``, ``physician``,
``institution``; edge types ``(person, visited, institution)``,
``(person, treated_by, physician)``, ``(physician, works_at, institution)``,
``(physician, prescribed_to_pharmacy, institution)``, ``(person, pays_for,
person)``, ``(person, family, person)``, ``(person, shares_face, person)``
(two credentials presented by one face identity), each with its reverse
``rev_<rel>`` so messages flow both ways, and an ``edge_weight`` (log1p of
the number of settlements behind the edge).

References: the relation-typed graph follows Schlichtkrull et al., *Modeling
Relational Data with Graph Convolutional Networks* (ESWC 2018) and the PyG
heterogeneous-graph guide; feature families follow the health-care fraud
survey of Kumaraswamy et al. (*Healthcare Fraud Data Mining Methods: A Look
Back and Look Ahead*, Perspect. Health Inf. Manag. 2022) and GADBench's
observation (Tang et al., NeurIPS 2023) that hand-built node features plus
neighbour aggregation are a strong baseline.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ringscope.ingest.vocab import ENTITY_KEY
from ringscope.models.base import ENTITY_TYPES, Context

__all__ = [
    "EDGE_TYPES",
    "EntityFeatures",
    "build_features",
    "to_hetero_data",
    "node_index",
    "labels_from_cases",
]

EDGE_TYPES: tuple[tuple[str, str, str], ...] = (
    ("person", "visited", "institution"),
    ("person", "treated_by", "physician"),
    ("physician", "works_at", "institution"),
    ("physician", "prescribed_to_pharmacy", "institution"),
    ("person", "pays_for", "person"),
    ("person", "family", "person"),
    ("person", "shares_face", "person"),
)
_MAX_FACE_GROUP = 50  # a face identity claiming more credentials is linked as a star, not a clique


@dataclass
class EntityFeatures:
    """Feature frames per entity type (index = entity id, float64 columns)."""

    frames: dict[str, pd.DataFrame] = field(default_factory=dict)

    def __getitem__(self, entity_type: str) -> pd.DataFrame:
        return self.frames[entity_type]

    def names(self, entity_type: str) -> list[str]:
        return list(self.frames[entity_type].columns)

    def align(self, columns: dict[str, list[str]]) -> EntityFeatures:
        """Reindex to the columns a fitted model expects (missing -> 0)."""
        return EntityFeatures({t: f.reindex(columns=columns[t], fill_value=0.0)
                               for t, f in self.frames.items()})


# --------------------------------------------------------------------------- helpers
def _ids(ctx: Context, entity_type: str) -> pd.Index:
    """All ids of one entity type: its master table plus any id seen in visits."""
    key = ENTITY_KEY[entity_type]
    parts = [ctx.table(entity_type + "s").get(key, pd.Series(dtype=object))]
    v = ctx.table("visits")
    if key in v:
        parts.append(v[key])
    if entity_type == "institution":
        parts.append(ctx.table("physicians").get(key, pd.Series(dtype=object)))
    ids = pd.concat(parts, ignore_index=True).dropna().astype(str).unique()
    return pd.Index(ids, name="entity_id")


def _hhi(df: pd.DataFrame, key: str, item: str, weight: str | None = None) -> pd.Series:
    """Herfindahl-Hirschman index of ``item`` within each ``key`` (1 = one item only)."""
    d = df[[key, item] + ([weight] if weight else [])].dropna(subset=[key, item])
    if d.empty:
        return pd.Series(dtype=float)
    w = d.groupby([key, item])[weight].sum().clip(lower=0) if weight else d.groupby([key, item]).size()
    share = w / w.groupby(level=0).transform("sum").replace(0, np.nan)
    return (share ** 2).groupby(level=0).sum()


def _gap_cv(df: pd.DataFrame, key: str, time: str) -> pd.Series:
    """Coefficient of variation of gaps (days) between consecutive events of ``key``."""
    d = df[[key, time]].dropna().sort_values([key, time])
    if d.empty:
        return pd.Series(dtype=float)
    gap = d[time].diff().dt.total_seconds() / 86400.0
    gap[d[key].ne(d[key].shift())] = np.nan
    g = gap.groupby(d[key])
    return (g.std() / g.mean().replace(0, np.nan)).fillna(0.0)


def _visit_block(v: pd.DataFrame, key: str) -> pd.DataFrame:
    """Aggregates of the visits grouped by ``key`` (person, physician or institution)."""
    v = v.dropna(subset=[key])
    if v.empty:
        return pd.DataFrame()
    g = v.groupby(key)
    amt = v["total_amount"].astype(float)
    out = pd.DataFrame({
        "n_visits": g.size(),
        "n_active_days": v.assign(_d=v["start_time"].dt.normalize()).groupby(key)["_d"].nunique(),
        "amount_sum": g["total_amount"].sum(),
        "amount_mean": g["total_amount"].mean(),
        "amount_max": g["total_amount"].max(),
    })
    out["visits_per_day"] = out["n_visits"] / out["n_active_days"].clip(lower=1)
    tot = out["amount_sum"].replace(0, np.nan)
    for col in ("fund_paid", "account_paid"):
        if col in v:
            out[f"{col}_share"] = (v[col].astype(float).groupby(v[key]).sum() / tot).fillna(0.0)
    for t in ("outpatient", "inpatient", "pharmacy"):
        out[f"share_{t}"] = v["visit_type"].eq(t).groupby(v[key]).mean()
    hour = v["start_time"].dt.hour
    out["night_share"] = ((hour >= 22) | (hour < 6)).groupby(v[key]).mean()
    out["weekend_share"] = (v["start_time"].dt.dayofweek >= 5).groupby(v[key]).mean()
    if "end_time" in v:
        los = (v["end_time"] - v["start_time"]).dt.total_seconds() / 86400.0
        los = los.where(v["visit_type"].eq("inpatient"))
        out["inpatient_los_mean"] = los.groupby(v[key]).mean()
    out["gap_cv"] = _gap_cv(v, key, "start_time")
    for c in ("amount_sum", "amount_mean", "amount_max", "n_visits", "n_active_days"):
        out[c] = np.log1p(out[c].astype(float).clip(lower=0))
    del amt
    return out


def _distinct(v: pd.DataFrame, key: str, other: str, name: str) -> pd.Series:
    if other not in v or key not in v:
        return pd.Series(dtype=float, name=name)
    return np.log1p(v.dropna(subset=[key, other]).groupby(key)[other].nunique()).rename(name)


def _line_block(lines: pd.DataFrame, key: str) -> pd.DataFrame:
    """Claim-line mix per ``key`` (a column already joined onto the lines)."""
    d = lines.dropna(subset=[key])
    if d.empty:
        return pd.DataFrame()
    amt = d["amount"].astype(float).clip(lower=0)
    tot = amt.groupby(d[key]).sum().replace(0, np.nan)
    out = pd.DataFrame({"n_lines": np.log1p(d.groupby(key).size())})
    if "item_type" in d:
        for t in ("drug", "service", "material", "non_medical"):
            out[f"amount_share_{t}"] = (amt.where(d["item_type"].eq(t), 0).groupby(d[key]).sum() / tot)
    if "insurance_class" in d:
        out["amount_share_class_c"] = amt.where(d["insurance_class"].eq("C"), 0).groupby(d[key]).sum() / tot
    if "price_cap" in d:
        over = d["unit_price"].astype(float) > d["price_cap"].astype(float)
        out["share_lines_over_cap"] = over.groupby(d[key]).mean()
    if "days_supply" in d:
        out["days_supply_sum"] = np.log1p(d["days_supply"].astype(float).groupby(d[key]).sum())
    out["item_hhi"] = _hhi(d, key, "item_code", "amount")
    out["n_items"] = np.log1p(d.groupby(key)["item_code"].nunique())
    return out.fillna(0.0)


def _rule_block(hits: pd.DataFrame | None, key: str) -> pd.DataFrame:
    """Rule hits involving an entity, by category and severity, plus amount at risk."""
    if hits is None or hits.empty or key not in hits:
        return pd.DataFrame()
    h = hits.dropna(subset=[key]).copy()
    if h.empty:
        return pd.DataFrame()
    h[key] = h[key].astype(str)
    out = pd.DataFrame({"rule_hits": np.log1p(h.groupby(key).size())})
    if "amount_at_risk" in h:
        out["rule_amount_at_risk"] = np.log1p(h["amount_at_risk"].astype(float).clip(lower=0)
                                              .groupby(h[key]).sum())
    if "rule_id" in h:
        out["rule_distinct"] = h.groupby(key)["rule_id"].nunique()
    for col, prefix in (("category", "rule_cat_"), ("severity", "rule_sev_")):
        if col in h:
            ct = pd.crosstab(h[key], h[col].fillna("unknown").astype(str))
            out = out.join(np.log1p(ct).add_prefix(prefix), how="outer")
    return out.fillna(0.0)


def _face_block(ctx: Context, key: str) -> pd.DataFrame:
    """Face-verification rates per entity (captures whose claimed person/visit involve it)."""
    fm = ctx.face_matches
    if fm is None or fm.empty or "verdict" not in fm:
        return pd.DataFrame()
    caps = ctx.table("face_captures")
    d = fm.copy()
    if not caps.empty and "capture_id" in d:
        extra = [c for c in ("claimed_person_id", "institution_id", "visit_id") if c in caps and c not in d]
        if extra:
            d = d.merge(caps[["capture_id"] + extra], on="capture_id", how="left")
    if "claimed_person_id" in d and "person_id" not in d:
        d["person_id"] = d["claimed_person_id"]
    v = ctx.table("visits")
    if key not in d and "visit_id" in d and key in v:
        d = d.merge(v[["visit_id", key]], on="visit_id", how="left")
    if key not in d:
        return pd.DataFrame()
    d = d.dropna(subset=[key])
    if d.empty:
        return pd.DataFrame()
    g = d.groupby(key)["verdict"]
    out = pd.DataFrame({"face_captures": np.log1p(g.size())})
    for verdict in ("mismatch", "related", "no_enrollment"):
        out[f"face_{verdict}_rate"] = d["verdict"].eq(verdict).groupby(d[key]).mean()
    return out


# --------------------------------------------------------------------------- per type
def _lines_joined(ctx: Context) -> pd.DataFrame:
    lines = ctx.table("claim_lines")
    v = ctx.table("visits")
    if lines.empty or v.empty:
        return pd.DataFrame()
    cols = [c for c in ("visit_id", "person_id", "institution_id", "physician_id") if c in v]
    d = lines.merge(v[cols].rename(columns={"physician_id": "visit_physician_id"}), on="visit_id", how="left")
    ordering = d["physician_id"] if "physician_id" in d else pd.Series(None, index=d.index, dtype=object)
    if "visit_physician_id" in d:
        ordering = ordering.fillna(d["visit_physician_id"])
    d["physician_id"] = ordering
    cat = ctx.table("catalog")
    if not cat.empty:
        keep = [c for c in ("item_code", "item_type", "insurance_class", "price_cap") if c in cat]
        d = d.merge(cat[keep], on="item_code", how="left")
    return d


def _person_features(ctx: Context, lines: pd.DataFrame) -> pd.DataFrame:
    ids = _ids(ctx, "person")
    v = ctx.table("visits")
    p = ctx.table("persons").drop_duplicates("person_id").set_index("person_id") if ctx.has("persons") else pd.DataFrame()
    out = pd.DataFrame(index=ids)
    if not v.empty:
        inst = ctx.table("institutions")
        kind = v["institution_id"].map(inst.set_index("institution_id")["kind"]) if "kind" in inst else None
        blocks = [_visit_block(v, "person_id"),
                  _distinct(v, "person_id", "institution_id", "n_institutions"),
                  _distinct(v, "person_id", "physician_id", "n_physicians"),
                  _hhi(v, "person_id", "institution_id").rename("institution_hhi"),
                  _hhi(v, "person_id", "physician_id").rename("physician_hhi")]
        if kind is not None:
            vp = v[kind.eq("pharmacy").to_numpy()]
            blocks += [_distinct(vp, "person_id", "institution_id", "n_pharmacies"),
                       _hhi(vp, "person_id", "institution_id").rename("pharmacy_hhi")]
        if "payer_person_id" in v:
            other = v["payer_person_id"].notna() & v["payer_person_id"].ne(v["person_id"])
            blocks.append(np.log1p(other.groupby(v["person_id"]).sum()).rename("paid_by_others"))
            vv = v[other]
            blocks.append(np.log1p(vv.groupby("payer_person_id").size()).rename("pays_for_others"))
            blocks.append(_distinct(vv, "payer_person_id", "person_id", "n_persons_paid_for"))
        if not p.empty and "death_date" in p:
            dd = v["person_id"].map(p["death_date"])
            blocks.append((v["start_time"] > dd).groupby(v["person_id"]).sum().rename("visits_after_death"))
        for b in blocks:
            out = out.join(b, how="left")
    if not lines.empty:
        out = out.join(_line_block(lines, "person_id"), how="left")
    if not p.empty:
        ref = v["start_time"].max() if not v.empty else pd.Timestamp.now()
        out["age"] = ((ref - out.index.to_series().map(p["birth_date"])).dt.days / 365.25).to_numpy()
        out["sex_male"] = out.index.to_series().map(p["sex"]).eq("M").astype(float).to_numpy()
        if "chronic_conditions" in p:
            cc = out.index.to_series().map(p["chronic_conditions"])
            out["n_chronic"] = cc.map(lambda t: len(t) if isinstance(t, tuple | list) else 0).to_numpy()
        if "insurance_type" in p:
            out["insurance_employee"] = out.index.to_series().map(p["insurance_type"]).eq("employee").astype(float).to_numpy()
        if "death_date" in p:
            out["deceased"] = out.index.to_series().map(p["death_date"]).notna().astype(float).to_numpy()
    fam = ctx.table("family_links")
    if not fam.empty:
        both = pd.concat([fam["person_id"], fam["related_person_id"]])
        out = out.join(both.value_counts().rename("family_links"), how="left")
    out = out.join(_rule_block(ctx.rule_hits, "person_id"), how="left")
    out = out.join(_face_block(ctx, "person_id"), how="left")
    return out


def _physician_features(ctx: Context, lines: pd.DataFrame) -> pd.DataFrame:
    ids = _ids(ctx, "physician")
    v = ctx.table("visits")
    out = pd.DataFrame(index=ids)
    ph = ctx.table("physicians")
    if not v.empty and "physician_id" in v:
        home = v["physician_id"].map(ph.drop_duplicates("physician_id").set_index("physician_id")["institution_id"]) \
            if not ph.empty else pd.Series(None, index=v.index)
        external = v["physician_id"].notna() & home.notna() & v["institution_id"].ne(home)
        vd = v.dropna(subset=["physician_id"])
        patients = vd.groupby("physician_id")["person_id"]
        blocks = [_visit_block(v, "physician_id"),
                  np.log1p(patients.nunique()).rename("n_patients"),
                  (patients.size() / patients.nunique()).rename("visits_per_patient"),
                  _hhi(vd, "physician_id", "person_id").rename("patient_hhi"),
                  external.groupby(v["physician_id"]).mean().rename("external_share"),
                  _distinct(v[external], "physician_id", "institution_id", "n_external_institutions"),
                  _hhi(v[external], "physician_id", "institution_id").rename("external_hhi")]
        pers = ctx.table("persons")
        if not pers.empty:
            age = (vd["start_time"] - vd["person_id"].map(pers.drop_duplicates("person_id")
                                                          .set_index("person_id")["birth_date"])).dt.days / 365.25
            blocks.append(age.groupby(vd["physician_id"]).mean().rename("patient_age_mean"))
        for b in blocks:
            out = out.join(b, how="left")
    if not lines.empty:
        out = out.join(_line_block(lines, "physician_id"), how="left")
    out = out.join(_rule_block(ctx.rule_hits, "physician_id"), how="left")
    out = out.join(_face_block(ctx, "physician_id"), how="left")
    return out


def _institution_features(ctx: Context, lines: pd.DataFrame) -> pd.DataFrame:
    ids = _ids(ctx, "institution")
    v = ctx.table("visits")
    inst = ctx.table("institutions").drop_duplicates("institution_id").set_index("institution_id") \
        if ctx.has("institutions") else pd.DataFrame()
    out = pd.DataFrame(index=ids)
    s = out.index.to_series()
    if not inst.empty:
        for k in ("hospital", "clinic", "community", "pharmacy"):
            out[f"kind_{k}"] = s.map(inst["kind"]).eq(k).astype(float).to_numpy()
        if "level" in inst:
            out["level"] = s.map(inst["level"]).astype(float).to_numpy()
        if "ownership" in inst:
            out["private"] = s.map(inst["ownership"]).eq("private").astype(float).to_numpy()
        if "has_face_terminal" in inst:
            out["has_face_terminal"] = s.map(inst["has_face_terminal"]).eq(True).astype(float).to_numpy()
    ph = ctx.table("physicians")
    if not ph.empty:
        out = out.join(np.log1p(ph.groupby("institution_id").size()).rename("n_staff"), how="left")
    if not v.empty:
        vd = v.dropna(subset=["physician_id"]) if "physician_id" in v else v.iloc[:0]
        home = vd["physician_id"].map(ph.drop_duplicates("physician_id").set_index("physician_id")["institution_id"]) \
            if not ph.empty else pd.Series(None, index=vd.index)
        ext = vd[home.notna() & vd["institution_id"].ne(home)]
        blocks = [_visit_block(v, "institution_id"),
                  _distinct(v, "institution_id", "person_id", "n_persons"),
                  _distinct(v, "institution_id", "physician_id", "n_physicians_billing"),
                  _hhi(v, "institution_id", "person_id").rename("person_hhi"),
                  (v.groupby("institution_id").size() / v.groupby("institution_id")["person_id"].nunique())
                  .rename("visits_per_person"),
                  _distinct(ext, "institution_id", "physician_id", "n_external_prescribers"),
                  _hhi(ext, "institution_id", "physician_id").rename("external_prescriber_hhi"),
                  (ext.groupby("institution_id").size() / v.groupby("institution_id").size())
                  .rename("external_prescription_share")]
        for b in blocks:
            out = out.join(b, how="left")
    if not lines.empty:
        out = out.join(_line_block(lines, "institution_id"), how="left")
        inv = ctx.table("inventory")
        if not inv.empty:
            sold = lines.groupby(["institution_id", "item_code"])["quantity"].sum()
            bought = inv.groupby(["institution_id", "item_code"])["qty_purchased"].sum()
            both = pd.concat([sold.rename("sold"), bought.rename("bought")], axis=1).fillna(0.0)
            both = both[both["bought"] > 0]
            if not both.empty:
                ratio = (both["sold"] / both["bought"]).clip(upper=20)
                lvl = ratio.index.get_level_values(0)
                out = out.join(pd.DataFrame({"inv_sold_bought_max": ratio.groupby(lvl).max(),
                                             "inv_sold_bought_mean": ratio.groupby(lvl).mean()}), how="left")
    out = out.join(_rule_block(ctx.rule_hits, "institution_id"), how="left")
    out = out.join(_face_block(ctx, "institution_id"), how="left")
    return out


def build_features(ctx: Context) -> EntityFeatures:
    """Engineered features for every person, physician and institution.

    Returns frames indexed by entity id (str), float64, no NaN. Works on any
    dataset in the contract's shape; absent optional tables or stages give no
    columns (or zeros).
    """
    lines = _lines_joined(ctx)
    frames = {
        "person": _person_features(ctx, lines),
        "physician": _physician_features(ctx, lines),
        "institution": _institution_features(ctx, lines),
    }
    clean = {}
    for t, f in frames.items():
        f = f.apply(pd.to_numeric, errors="coerce").astype(float)
        f = f.replace([np.inf, -np.inf], np.nan).fillna(0.0)
        if f.shape[1] == 0:
            f["bias"] = 1.0
        f.index = f.index.astype(str)
        f.index.name = "entity_id"
        clean[t] = f
    return EntityFeatures(clean)


# --------------------------------------------------------------------------- graph
def _pairs(src: pd.Series, dst: pd.Series) -> pd.DataFrame:
    d = pd.DataFrame({"src": src.to_numpy(), "dst": dst.to_numpy()}).dropna()
    d = d.astype(str)
    return d.groupby(["src", "dst"]).size().rename("n").reset_index()


def _edge_frames(ctx: Context) -> dict[tuple[str, str, str], pd.DataFrame]:
    v = ctx.table("visits")
    ph = ctx.table("physicians")
    inst = ctx.table("institutions")
    empty = pd.DataFrame(columns=["src", "dst", "n"])
    e: dict[tuple[str, str, str], pd.DataFrame] = {et: empty for et in EDGE_TYPES}
    if not v.empty:
        e[EDGE_TYPES[0]] = _pairs(v["person_id"], v["institution_id"])
        if "physician_id" in v:
            e[EDGE_TYPES[1]] = _pairs(v["person_id"], v["physician_id"])
            home = v["physician_id"].map(ph.drop_duplicates("physician_id").set_index("physician_id")["institution_id"]) \
                if not ph.empty else pd.Series(None, index=v.index)
            is_pharm = v["institution_id"].map(inst.set_index("institution_id")["kind"]).eq("pharmacy") \
                if "kind" in inst else v["visit_type"].eq("pharmacy")
            m = v["physician_id"].notna() & (is_pharm | v["visit_type"].eq("pharmacy")) & v["institution_id"].ne(home)
            e[EDGE_TYPES[3]] = _pairs(v.loc[m, "physician_id"], v.loc[m, "institution_id"])
        if "payer_person_id" in v:
            m = v["payer_person_id"].notna() & v["payer_person_id"].ne(v["person_id"])
            e[EDGE_TYPES[4]] = _pairs(v.loc[m, "payer_person_id"], v.loc[m, "person_id"])
    if not ph.empty:
        e[EDGE_TYPES[2]] = _pairs(ph["physician_id"], ph["institution_id"])
    fam = ctx.table("family_links")
    if not fam.empty:
        e[EDGE_TYPES[5]] = _pairs(pd.concat([fam["person_id"], fam["related_person_id"]]),
                                  pd.concat([fam["related_person_id"], fam["person_id"]]))
    e[EDGE_TYPES[6]] = _face_pairs(ctx)
    return e


def _face_pairs(ctx: Context) -> pd.DataFrame:
    """Pairs of credentials presented by one face identity (both directions)."""
    fi, caps = ctx.face_identities, ctx.table("face_captures")
    empty = pd.DataFrame(columns=["src", "dst", "n"])
    if fi is None or fi.empty or caps.empty or "claimed_person_id" not in caps:
        return empty
    d = fi[["capture_id", "face_id"]].merge(caps[["capture_id", "claimed_person_id"]], on="capture_id")
    d = d.dropna().astype(str)
    u = d.groupby(["face_id", "claimed_person_id"]).size().rename("n").reset_index()
    size = u.groupby("face_id")["claimed_person_id"].transform("size")
    u = u[size >= 2]
    small, big = u[size[u.index] <= _MAX_FACE_GROUP], u[size[u.index] > _MAX_FACE_GROUP]
    pairs = small.merge(small, on="face_id", suffixes=("_a", "_b"))
    pairs = pairs[pairs["claimed_person_id_a"] != pairs["claimed_person_id_b"]]
    out = [pairs.rename(columns={"claimed_person_id_a": "src", "claimed_person_id_b": "dst"})[["src", "dst"]]]
    if not big.empty:  # star around the most frequent credential of each big identity
        hub = big.sort_values("n", ascending=False).drop_duplicates("face_id").set_index("face_id")["claimed_person_id"]
        st = big.assign(hub=big["face_id"].map(hub))
        st = st[st["hub"] != st["claimed_person_id"]]
        out += [st.rename(columns={"hub": "src", "claimed_person_id": "dst"})[["src", "dst"]],
                st.rename(columns={"claimed_person_id": "src", "hub": "dst"})[["src", "dst"]]]
    allp = pd.concat(out, ignore_index=True)
    return allp.groupby(["src", "dst"]).size().rename("n").reset_index() if not allp.empty else empty


def node_index(data, entity_type: str) -> pd.Series:
    """entity id -> row index of ``data[entity_type]``."""
    ids = data[entity_type].entity_id
    return pd.Series(np.arange(len(ids)), index=pd.Index(ids))


def to_hetero_data(ctx: Context, features: EntityFeatures | None = None):
    """The PyG ``HeteroData`` of a dataset.

    ``data[t].x`` (float32 features in the order of ``data[t].entity_id``,
    column names in ``data[t].feature_names``), ``data[et].edge_index`` and
    ``data[et].edge_weight`` for every edge type of :data:`EDGE_TYPES` and
    its reverse ``rev_<rel>``. Edges whose ends are unknown ids are dropped.
    """
    import torch
    from torch_geometric.data import HeteroData

    features = features if features is not None else build_features(ctx)
    data = HeteroData()
    index = {}
    for t in ENTITY_TYPES:
        f = features[t]
        data[t].x = torch.tensor(f.to_numpy(dtype=np.float32))
        data[t].entity_id = [str(i) for i in f.index]
        data[t].feature_names = list(f.columns)
        index[t] = pd.Series(np.arange(len(f)), index=f.index)
    for (s, r, d), df in _edge_frames(ctx).items():
        si = df["src"].map(index[s]) if len(df) else pd.Series(dtype=float)
        di = df["dst"].map(index[d]) if len(df) else pd.Series(dtype=float)
        ok = si.notna() & di.notna()
        ei = torch.tensor(np.vstack([si[ok].to_numpy(np.int64), di[ok].to_numpy(np.int64)])
                          if ok.any() else np.zeros((2, 0), np.int64))
        w = torch.tensor(np.log1p(df.loc[ok, "n"].to_numpy(np.float32)) if ok.any() else np.zeros(0, np.float32))
        data[s, r, d].edge_index = ei
        data[s, r, d].edge_weight = w
        data[d, f"rev_{r}", s].edge_index = ei.flip(0)
        data[d, f"rev_{r}", s].edge_weight = w
    return data


def labels_from_cases(ctx: Context, y: pd.DataFrame | None = None) -> pd.DataFrame:
    """Labels ``entity_type, entity_id, label`` (1 fraud / 0 cleared) from ``y`` or ``known_cases``.

    ``y`` may carry ``label`` as 1/0 or ``fraud``/``cleared``. An entity with
    both outcomes counts as fraud (a later case found what an earlier missed).
    """
    src = y if y is not None else ctx.table("known_cases")
    if src is None or src.empty:
        return pd.DataFrame({"entity_type": [], "entity_id": [], "label": []})
    lab = src["label"]
    if lab.dtype == object:
        lab = lab.map({"fraud": 1, "cleared": 0, "1": 1, "0": 0, 1: 1, 0: 0})
    d = pd.DataFrame({"entity_type": src["entity_type"].astype(str), "entity_id": src["entity_id"].astype(str),
                      "label": pd.to_numeric(lab, errors="coerce")}).dropna()
    d["label"] = d["label"].astype(int)
    return d.groupby(["entity_type", "entity_id"], as_index=False)["label"].max()
