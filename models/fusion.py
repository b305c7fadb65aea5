"""Fusion: detector scores, groups and rule hits → entity risk scores and ranked leads.

Entity scores
-------------
Every person, physician and institution of the dataset gets a score in [0, 1].
Each *source* (a fitted detector's ``decision_scores_``, the best group score
the entity has in that detector's ``groups_``, and the ordinary rule hits held
against it) gives the entity a value ``x_d`` in [0, 1]; they are combined by a
*leaky noisy-OR*

    p = 1 - (1 - leak) * prod_d (1 - w_d * x_d)

(Pearl 1988; Henrion 1989), so a single strong source suffices and
independent weak sources add up without ever leaving [0, 1]. The weights
``w_d`` are defaults per source kind unless ``known_cases`` holds enough labels
(``FusionConfig.min_pos`` fraud cases of a type, negatives = cleared cases plus
a sample of unlabelled entities, i.e. positive–unlabelled learning), in which
case they are fitted by maximum likelihood of that model, with an L2 pull
toward the defaults (bounded L-BFGS-B). ``reasons`` names the strongest terms
``w_d * x_d`` in words.

Rule hits become a source by *excess over exposure*: severity-weighted hits
``h`` of an entity against what its number of settlements ``n`` predicts at the
type's overall rate ``λ`` (``r = 1 - exp(-(h - λ n)⁺ / s)``), so a large
hospital's proportionate share of hits is not a risk signal.

Leads
-----
Groups of the same scheme that overlap (Jaccard ≥ ``merge_jaccard`` or
containment ≥ ``merge_containment``) are merged (connected components of the
overlap graph, computed as a sparse incidence product). A merged lead keeps
the members supported by at least half of its detectors' votes (each detector
votes once, with the best score of its groups holding the member). Groups of
guilt by association (nearness to closed cases) only corroborate: they join
the leads they mostly hold, never make one or add members
(``association_corroborates``). One scheme's groups can *fold* into another's
leads (``fold_schemes``, e.g. ``doctor_shopping: [drug_resale]``): a doctor
shopper whose packs reappear is a collector of a resale ring, so a
``doctor_shopping`` group whose persons (at least ``fold_containment`` of them)
are members of a ``drug_resale`` lead, or a ``card_lending`` group whose institutions
and physicians all are (credentials used at the ring's outlet), joins that lead -- its detector counts as
agreement and its evidence is kept, the lead's members stay the ring's -- instead
of making a second lead of the same person. Its score
combines, by noisy-OR, the detectors' agreement (noisy-OR of the best group
score per detector), the member evidence (mean of the upper half of members'
source-based entity scores) and the rule-hit severity inside; then it is
discounted for confounder structure found in the data, not in any generator's
ids:

- *family/proxy dominance*: the share of the lead's persons who have a
  registered family/proxy link (or a 家庭共济 payer link) to another person of
  the lead, or to one person outside it who is bound to several of them (a
  carer: a nursing home's, an adult child's for both parents);
- *dilution in an ordinary institution*: the lead's persons are a small slice
  of an institution whose volume is ordinary for its kind (robust z of
  log-volume within kind), i.e. the pattern is what a busy place looks like.

Ids are ``L-<scheme>-<8 hex>`` from the SHA-1 of the sorted members, so the
same data gives the same ids; when a previous run's leads are given (its
``leads.csv`` or the ``Lead`` nodes in Neo4j) a new lead that overlaps an old
one of the same scheme (old mostly inside new, new not mostly outside old)
keeps the old id, so a lead that grows with next month's data keeps its id.

References
----------
J. Pearl, *Probabilistic Reasoning in Intelligent Systems* (1988), §4.3.2
(noisy-OR). M. Henrion, "Some practical issues in constructing belief
networks", UAI 1987/1989 (leaky noisy-OR). C. Elkan & K. Noto, "Learning
classifiers from only positive and unlabeled data", KDD 2008.
"""
from __future__ import annotations

from pathlib import Path

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ringscope.ingest.contract import ENTITY_SCORES_COLUMNS, LEADS_COLUMNS
from ringscope.ingest.vocab import ENTITY_KEY, ENTITY_TABLE, ENTITY_TYPES, col_or, scheme_label
from ringscope.models.base import Finding, Group, load_defaults
from ringscope.models.detectors.rules import SEVERITY_WEIGHT

__all__ = [
    "FusionConfig",
    "FusionResult",
    "Sources",
    "collect_sources",
    "entity_universe",
    "noisy_or",
    "learn_noisy_or_weights",
    "entity_scores",
    "merge_groups",
    "lead_id_for",
    "assign_lead_ids",
    "build_leads",
    "fuse",
]

_FD = load_defaults()["fusion"]     # the defaults live in models/defaults.yaml (section fusion)


def _scheme_title(scheme: str) -> str:
    return f"{scheme_label(scheme, 'en').capitalize()} ({scheme_label(scheme)})"


@dataclass
class FusionConfig:
    """Parameters of fusion (all plain values, recorded in the run manifest); defaults in
    ``models/defaults.yaml``, section ``fusion``."""

    weights: dict[str, float] = field(default_factory=lambda: dict(_FD["weights"]))
    default_weight: float = _FD["default_weight"]
    group_weight: float = _FD["group_weight"]
    rules_weight: float = _FD["rules_weight"]
    learned_weight: float = _FD["learned_weight"]
    warning_weight: float = _FD["warning_weight"]
    association_weight: float = _FD["association_weight"]
    association_corroborates: bool = _FD["association_corroborates"]
    leak: float = _FD["leak"]
    lead_weight: float = _FD["lead_weight"]
    min_pos: int = _FD["min_pos"]
    unlabelled_per_pos: int = _FD["unlabelled_per_pos"]
    l2: float = _FD["l2"]
    merge_jaccard: float = _FD["merge_jaccard"]
    merge_containment: float = _FD["merge_containment"]
    keep_id_containment: float = _FD["keep_id_containment"]
    keep_id_share: float = _FD["keep_id_share"]
    w_group: float = _FD["w_group"]
    w_members: float = _FD["w_members"]
    w_rules: float = _FD["w_rules"]
    family_penalty: float = _FD["family_penalty"]
    dilution_penalty: float = _FD["dilution_penalty"]
    fold_schemes: dict[str, list[str]] = field(default_factory=lambda: {k: list(v) for k, v in _FD["fold_schemes"].items()})
    fold_containment: float = _FD["fold_containment"]
    absorb_containment: float = _FD["absorb_containment"]
    absorb_margin: float = _FD["absorb_margin"]
    min_lead_score: float = _FD["min_lead_score"]
    min_single_group_score: float = _FD["min_single_group_score"]
    calibrate: bool = _FD["calibrate"]
    emit_bar: float = _FD["emit_bar"]
    max_leads: int | None = _FD["max_leads"]
    max_evidence_rows: int = _FD["max_evidence_rows"]
    seed: int = _FD["seed"]


@dataclass
class FusionResult:
    entity_scores: pd.DataFrame            # ENTITY_SCORES_COLUMNS + extras
    leads: pd.DataFrame                    # LEADS_COLUMNS + extras
    evidence: list[dict[str, Any]]         # one JSON-able dict per lead (lead_evidence.jsonl)
    weights: dict[str, Any]                # weights used per type and how they were chosen
    # leads below the emission bar (``emit_bar``): not in leads.csv, kept for review (lead_candidates.csv)
    candidates: pd.DataFrame = field(default_factory=pd.DataFrame)


# --------------------------------------------------------------------------- helpers
def noisy_or(x: np.ndarray, w: np.ndarray, leak: float = 0.0) -> np.ndarray:
    """Leaky noisy-OR of the columns of ``x`` (n × d) with weights ``w`` (d).

    >>> noisy_or(np.array([[1.0, 0.0], [0.5, 0.5]]), np.array([0.8, 0.5])).round(3).tolist()
    [0.8, 0.55]
    """
    x = np.clip(np.asarray(x, dtype=float), 0, 1)
    w = np.clip(np.asarray(w, dtype=float), 0, 1)
    if x.size == 0:
        return np.zeros(x.shape[0])
    return 1.0 - (1.0 - leak) * np.prod(1.0 - x * w[None, :], axis=1)


def learn_noisy_or_weights(x: np.ndarray, y: np.ndarray, w0: np.ndarray, *, l2: float = 1.0,
                           sample_weight: np.ndarray | None = None, leak: float = 1e-3) -> np.ndarray:
    """Weights of a leaky noisy-OR fitted by penalised maximum likelihood.

    Minimises ``-Σ s_i [y_i log p_i + (1-y_i) log(1-p_i)] / Σ s_i + l2 ||w - w0||² / d``
    over ``w ∈ [0, 0.99]^d``.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((400, 2)); y = (rng.random(400) < 0.9 * x[:, 0]).astype(float)
    >>> w = learn_noisy_or_weights(x, y, np.array([0.5, 0.5]), l2=0.01)
    >>> bool(w[0] > 0.7 and w[1] < 0.3)
    True
    """
    from scipy.optimize import minimize

    x = np.clip(np.asarray(x, dtype=float), 0, 1)
    y = np.asarray(y, dtype=float)
    s = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    s = s / s.sum()
    d = x.shape[1]

    def f(w: np.ndarray) -> tuple[float, np.ndarray]:
        q = 1.0 - x * w[None, :]                       # n × d
        q = np.clip(q, 1e-9, 1.0)
        logq = np.log(q).sum(axis=1) + math.log(1 - leak)
        P0 = np.exp(logq)                              # prob of "no fraud"
        p = np.clip(1 - P0, 1e-9, 1 - 1e-9)
        nll = -(s * (y * np.log(p) + (1 - y) * np.log1p(-p))).sum()
        # d/dw_k log P0 = -x_k / q_k ; dp/dw_k = -P0 * dlogP0
        dlogP0 = -x / q
        dp = -P0[:, None] * dlogP0
        g = -(s[:, None] * (y[:, None] / p[:, None] - (1 - y[:, None]) / (1 - p[:, None])) * dp).sum(axis=0)
        pen = l2 * ((w - w0) ** 2).sum() / d
        return nll + pen, g + 2 * l2 * (w - w0) / d

    res = minimize(f, np.clip(w0, 0, 0.99), jac=True, method="L-BFGS-B", bounds=[(0.0, 0.99)] * d)
    return np.asarray(res.x)


# --------------------------------------------------------------------------- sources
def entity_universe(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every person, physician and institution of the dataset (``entity_type, entity_id``)."""
    parts = []
    for et in ENTITY_TYPES:
        tab, key = ENTITY_TABLE[et], ENTITY_KEY[et]
        df = tables.get(tab)
        if df is not None and key in df.columns and len(df):
            parts.append(pd.DataFrame({"entity_type": et, "entity_id": df[key].astype(str).unique()}))
    if not parts:
        return pd.DataFrame(columns=["entity_type", "entity_id"])
    return pd.concat(parts, ignore_index=True)


def _default_weight(name: str, kinds: Mapping[str, str], corroborating: set[str], cfg: FusionConfig) -> float:
    """A source's weight: configured by name, else by the family its detector declares."""
    if name in cfg.weights:
        return float(cfg.weights[name])
    if name.endswith(":group"):
        return cfg.group_weight
    if name in corroborating:
        return cfg.association_weight
    return {"rule": cfg.rules_weight, "learned": cfg.learned_weight,
            "warning": cfg.warning_weight}.get(kinds.get(name, ""), cfg.default_weight)


@dataclass
class Sources:
    """What fitted detectors bring to fusion, by detector name."""

    scores: dict[str, pd.DataFrame]        # decision_scores_
    groups: list[Group]
    reasons: dict[str, pd.DataFrame]       # findings' reasons
    params: dict[str, dict]                # class and parameters (the lead evidence's "rerun")
    kinds: dict[str, str]                  # declared kind (face, rule, graph, warning, learned)
    corroborating: set[str]                # detectors whose groups only corroborate
    rule_hits: pd.DataFrame | None         # the rules detector's hits


def collect_sources(detectors: Iterable[Any]) -> Sources:
    """From fitted detectors: score frames, groups, finding reasons, parameters and the
    declared kinds by name; the rule hits of the (one) rules detector."""
    scores: dict[str, pd.DataFrame] = {}
    groups: list[Group] = []
    reasons: dict[str, pd.DataFrame] = {}
    params: dict[str, dict] = {}
    kinds: dict[str, str] = {}
    corroborating: set[str] = set()
    rule_hits = None
    for det in detectors:
        name = det.name
        kinds[name] = det.kind
        if det.corroborates:
            corroborating.add(name)
        if det.kind == "rule":
            rule_hits = det.hits_
        params[name] = {"class": f"{type(det).__module__}.{type(det).__name__}",
                        "params": _jsonable(det.get_params())}
        ds = getattr(det, "decision_scores_", None)
        if ds is not None and len(ds):
            scores[name] = ds[["entity_type", "entity_id", "score"]].copy()
        gs = list(getattr(det, "groups_", []) or [])
        for g in gs:
            if not g.detector:
                g.detector = name
        groups.extend(gs)
        fs: list[Finding] = list(getattr(det, "findings_", []) or [])
        if fs:
            reasons[name] = pd.DataFrame({"entity_type": [f.entity_type for f in fs],
                                          "entity_id": [str(f.entity_id) for f in fs],
                                          "score": [f.score for f in fs], "reason": [f.reason for f in fs]})
    return Sources(scores, groups, reasons, params, kinds, corroborating, rule_hits)


def _jsonable(d: Any) -> Any:
    return json.loads(json.dumps(d, default=str))


def _group_source(groups: Sequence[Group]) -> dict[str, pd.DataFrame]:
    """Per detector: each member's best group score (``<detector>:group``)."""
    if not groups:
        return {}
    rows = [(g.detector, m, float(g.score)) for g in groups for m in g.members]
    df = pd.DataFrame(rows, columns=["detector", "member", "score"])
    tp = df["member"].str.partition(":")
    df["entity_type"], df["entity_id"] = tp[0], tp[2]
    df = df[df["entity_type"].isin(ENTITY_TYPES)]
    best = df.groupby(["detector", "entity_type", "entity_id"], as_index=False)["score"].max()
    return {f"{d}:group": g.drop(columns="detector").reset_index(drop=True) for d, g in best.groupby("detector")}


# --------------------------------------------------------------------------- entity scores
def _labels(known_cases: pd.DataFrame | None) -> pd.DataFrame:
    if known_cases is None or known_cases.empty:
        return pd.DataFrame(columns=["entity_type", "entity_id", "label"])
    lab = known_cases["label"].astype(str).str.lower().map({"fraud": 1, "cleared": 0, "1": 1, "0": 0})
    d = pd.DataFrame({"entity_type": known_cases["entity_type"].astype(str),
                      "entity_id": known_cases["entity_id"].astype(str), "label": lab}).dropna()
    d["label"] = d["label"].astype(int)
    return d.groupby(["entity_type", "entity_id"], as_index=False)["label"].max()


def entity_scores(sources: Mapping[str, pd.DataFrame], universe: pd.DataFrame, *,
                  reasons: Mapping[str, pd.DataFrame] | None = None,
                  known_cases: pd.DataFrame | None = None,
                  config: FusionConfig | None = None, kinds: Mapping[str, str] | None = None,
                  corroborating: set[str] | frozenset[str] = frozenset()) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Noisy-OR fusion of the sources for every entity of ``universe`` (plus any
    entity a source scored). Returns the scores (``entity_type, entity_id,
    score, reasons`` + one column per source) and the weights used."""
    cfg = config or FusionConfig()
    names = sorted(sources)
    base = universe[["entity_type", "entity_id"]].astype(str)
    extra = [s[["entity_type", "entity_id"]].astype(str) for s in sources.values() if len(s)]
    ents = pd.concat([base, *extra], ignore_index=True).drop_duplicates().reset_index(drop=True)
    idx = pd.MultiIndex.from_frame(ents)
    X = np.zeros((len(ents), len(names)))
    for j, n in enumerate(names):
        s = sources[n]
        if len(s):
            ser = s.assign(entity_id=s["entity_id"].astype(str)).groupby(["entity_type", "entity_id"])["score"].max()
            X[:, j] = np.clip(ser.reindex(idx).fillna(0.0).to_numpy(dtype=float), 0, 1)
    w0 = np.array([_default_weight(n, kinds or {}, set(corroborating), cfg) for n in names])
    labels = _labels(known_cases)
    info: dict[str, Any] = {"sources": names, "default": dict(zip(names, w0.round(4).tolist())), "by_type": {}}
    score = np.zeros(len(ents))
    W = np.tile(w0, (len(ents), 1))
    et = ents["entity_type"].to_numpy()
    lab = labels.set_index(["entity_type", "entity_id"])["label"].reindex(idx).to_numpy()
    rng = np.random.default_rng(cfg.seed)
    pooled = None
    if names and np.nansum(lab == 1) >= cfg.min_pos:
        pooled = _fit_weights(X, lab, w0, rng, cfg)
    for t in ENTITY_TYPES:
        m = et == t
        if not m.any():
            continue
        how, w = "default", w0
        n_pos_t = int(np.nansum(lab[m] == 1))
        if names and n_pos_t >= cfg.min_pos:
            how, w = "learned (type)", _fit_weights(X[m], lab[m], w0, rng, cfg)
        elif pooled is not None:
            how, w = "learned (pooled)", pooled
        W[m] = w
        score[m] = noisy_or(X[m], w, cfg.leak)
        info["by_type"][t] = {"how": how, "n_fraud_labels": n_pos_t, "weights": dict(zip(names, np.round(w, 4).tolist()))}
    out = ents.copy()
    out["score"] = score
    for j, n in enumerate(names):
        out[f"src:{n}"] = X[:, j]
    out["reasons"] = _reasons(ents, X * W, names, reasons or {})
    return out, info


def _fit_weights(X: np.ndarray, lab: np.ndarray, w0: np.ndarray, rng: np.random.Generator,
                 cfg: FusionConfig) -> np.ndarray:
    pos = np.flatnonzero(lab == 1)
    neg = np.flatnonzero(lab == 0)
    unl = np.flatnonzero(np.isnan(lab))
    k = min(len(unl), cfg.unlabelled_per_pos * max(len(pos), 1))
    unl = rng.choice(unl, size=k, replace=False) if k else unl[:0]
    rows = np.concatenate([pos, neg, unl])
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg) + len(unl))])
    sw = np.concatenate([np.full(len(pos), 1.0), np.full(len(neg), 1.0), np.full(len(unl), 0.5)])
    return learn_noisy_or_weights(X[rows], y, w0, l2=cfg.l2, sample_weight=sw)


def _reasons(ents: pd.DataFrame, contrib: np.ndarray, names: list[str],
             reasons: Mapping[str, pd.DataFrame], top: int = 3, floor: float = 0.05) -> np.ndarray:
    """The ``top`` strongest contributions per entity as text (vectorised)."""
    out = np.full(len(ents), "", dtype=object)
    if not names:
        return out
    r, c = np.nonzero(contrib >= floor)
    if len(r) == 0:
        return out
    long = pd.DataFrame({"row": r, "src": np.asarray(names, dtype=object)[c], "v": contrib[r, c]})
    long = long.sort_values(["row", "v"], ascending=[True, False]).groupby("row").head(top)
    long["entity_type"] = ents["entity_type"].to_numpy()[long["row"]]
    long["entity_id"] = ents["entity_id"].to_numpy()[long["row"]]
    long["det"] = long["src"].str.replace(":group", "", regex=False)
    long["why"] = ""
    if reasons:
        rs = pd.concat([df.assign(det=d) for d, df in reasons.items() if len(df)], ignore_index=True) \
            if any(len(df) for df in reasons.values()) else pd.DataFrame()
        if len(rs):
            rs = (rs[rs["reason"].fillna("").astype(str) != ""].sort_values("score", ascending=False)
                  .drop_duplicates(["det", "entity_type", "entity_id"]))
            long = long.merge(rs[["det", "entity_type", "entity_id", "reason"]], how="left",
                              on=["det", "entity_type", "entity_id"])
            long["why"] = long["reason"].fillna("")
    is_group = long["src"].str.endswith(":group")
    label = np.where(is_group, "member of a " + long["det"] + " group", long["det"])
    txt = label + " " + long["v"].map("{:.2f}".format)
    txt = np.where(long["why"] != "", txt + " (" + long["why"].astype(str).str.slice(0, 120) + ")", txt)
    long["txt"] = txt
    joined = long.groupby("row", sort=False)["txt"].agg("; ".join)
    out[joined.index.to_numpy()] = joined.to_numpy()
    return out


# --------------------------------------------------------------------------- groups → leads
def _incidence(sets: Sequence[frozenset[str]]) -> tuple[sp.csr_matrix, list[str]]:
    vocab = sorted(set().union(*sets)) if sets else []
    index = {m: k for k, m in enumerate(vocab)}
    rows = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
    cols = np.fromiter((index[m] for s in sets for m in s), dtype=np.int64, count=len(rows))
    M = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(sets), len(vocab)))
    return M, vocab


def merge_groups(groups: Sequence[Group], *, jaccard: float = 0.5, containment: float = 0.8,
                 corroborating: Iterable[str] = (), fold: Mapping[str, Sequence[str]] | None = None,
                 fold_containment: float = 0.5) -> list[dict[str, Any]]:
    """Merge overlapping groups of the same scheme into candidate leads.

    Returns one dict per lead: ``scheme``, ``members`` (sorted list),
    ``groups`` (the merged groups), ``support`` (member → share of group score).

    Groups of the ``corroborating`` detectors (guilt by association: *near*
    known fraud, which says nothing of who belongs to a ring) neither make a
    lead nor change its members: each is attached to the leads of its scheme
    that it mostly holds (half of the lead's members inside it), where it
    counts as agreement.

    >>> a = Group("d1", "card_lending", ["person:1", "person:2", "person:3"], 0.9)
    >>> b = Group("d2", "card_lending", ["person:1", "person:2", "person:3", "person:4"], 0.5)
    >>> c = Group("d1", "card_cashout", ["person:1", "institution:9"], 0.7)
    >>> [(x["scheme"], x["members"]) for x in merge_groups([a, b, c])]
    [('card_cashout', ['institution:9', 'person:1']), ('card_lending', ['person:1', 'person:2', 'person:3'])]

    ``fold`` maps a scheme to schemes whose leads absorb its groups: a group of the first
    scheme whose persons (all members when it has none) are at least ``fold_containment``
    inside a lead of the second joins that lead (as agreement; the lead's members stay):

    >>> ring = Group("drug_resale", "drug_resale", ["person:1", "person:2", "institution:9"], 0.9)
    >>> shop = Group("doctor_shopping", "doctor_shopping", ["person:1"], 0.8)
    >>> lone = Group("doctor_shopping", "doctor_shopping", ["person:7"], 0.8)
    >>> out = merge_groups([ring, shop, lone], fold={"doctor_shopping": ["drug_resale"]})
    >>> [(x["scheme"], x["members"], sorted(g.detector for g in x["groups"])) for x in out]
    [('doctor_shopping', ['person:7'], ['doctor_shopping']), ('drug_resale', ['institution:9', 'person:1', 'person:2'], ['doctor_shopping', 'drug_resale'])]

    A group with organisers (institutions, physicians) also folds into a lead that holds all of
    them: credentials used at a resale outlet by its prescriber are the ring's supply, not a
    second ring (the credentials stay out of the lead's members):

    >>> cards = Group("card_lending", "card_lending", ["institution:9", "person:5", "person:6"], 0.7)
    >>> out = merge_groups([ring, cards], fold={"card_lending": ["drug_resale"]})
    >>> [(x["scheme"], x["members"], sorted(g.detector for g in x["groups"])) for x in out]
    [('drug_resale', ['institution:9', 'person:1', 'person:2'], ['card_lending', 'drug_resale'])]
    """
    corro = set(corroborating)
    fold = {k: set(v) for k, v in (fold or {}).items() if v}
    extra = [g for g in groups if len(g.members) and g.detector in corro]
    gs = [g for g in groups if len(g.members) and g.detector not in corro]
    folding = [g for g in gs if (g.scheme or "other") in fold]
    if folding:   # the hosts first; then each folding group into a host lead, or on its own
        hosts = _merge(
            [g for g in gs if (g.scheme or "other") not in fold], jaccard=jaccard, containment=containment)
        rest = []
        for g in folding:
            d = _fold_host(g, hosts, fold[g.scheme or "other"], fold_containment)
            if d is None:
                rest.append(g)
            else:
                d["groups"].append(g)
                d.setdefault("folded", []).append(g)
        out = hosts + _merge(rest, jaccard=jaccard, containment=containment)
    else:
        out = _merge(gs, jaccard=jaccard, containment=containment)
    for g in extra:
        gm = frozenset(g.members)
        for d in out:
            if d["scheme"] == (g.scheme or "other") and 2 * len(gm.intersection(d["members"])) >= len(d["members"]):
                d["groups"].append(g)
    out.sort(key=lambda d: (d["scheme"], d["members"]))
    return out


def _fold_host(g: Group, leads: list[dict[str, Any]], schemes: set[str], containment: float) -> dict[str, Any] | None:
    """The lead of ``schemes`` holding most of ``g``'s persons (all members when it has none),
    at least ``containment`` of them, or holding every one of its organisers (its institutions
    and physicians, when it has any: the same outlet and prescriber seen by another detector);
    ties to the lead with the best group score."""
    persons = [m for m in g.members if m.startswith("person:")]
    gm = persons or list(g.members)
    org = [m for m in g.members if not m.startswith("person:")] if persons else []
    best, key = None, (0.0, 0.0)
    for d in leads:
        if d["scheme"] not in schemes:
            continue
        share = sum(m in d["support"] for m in gm) / len(gm)
        if org and all(m in d["support"] for m in org):
            share = 1.0
        k = (share, max(float(x.score) for x in d["groups"]))
        if share >= containment and share > 0 and k > key:
            best, key = d, k
    return best


def _merge(gs: Sequence[Group], *, jaccard: float, containment: float) -> list[dict[str, Any]]:
    """Connected components of the same-scheme overlap graph of ``gs``, each with its
    members (supported by at least half of its detectors' votes)."""
    if not gs:
        return []
    sets = [frozenset(g.members) for g in gs]
    M, vocab = _incidence(sets)
    inter = (M @ M.T).tocoo()
    size = np.asarray(M.sum(axis=1)).ravel()
    scheme = np.array([g.scheme or "other" for g in gs], dtype=object)
    i, j, v = inter.row, inter.col, inter.data
    keep = i < j
    i, j, v = i[keep], j[keep], v[keep]
    jac = v / (size[i] + size[j] - v)
    con = v / np.minimum(size[i], size[j])
    ok = (scheme[i] == scheme[j]) & ((jac >= jaccard) | (con >= containment))
    n = len(gs)
    A = sp.coo_matrix((np.ones(ok.sum()), (i[ok], j[ok])), shape=(n, n))
    _, comp = sp.csgraph.connected_components(A, directed=False)
    out = []
    sc = np.array([max(float(g.score), 1e-6) for g in gs])
    dets = np.array([g.detector for g in gs], dtype=object)
    for c in np.unique(comp):
        idx = np.flatnonzero(comp == c)
        # each detector votes once: a member's support from a detector is the best score of that
        # detector's groups holding it (one detector reporting one face per group must not outvote
        # another that reports the whole ring as one group)
        support = np.zeros(M.shape[1])
        total = 0.0
        for d in np.unique(dets[idx]):
            rows = idx[dets[idx] == d]
            support += np.asarray(M[rows].multiply(sc[rows][:, None]).max(axis=0).todense()).ravel()
            total += float(sc[rows].max())
        support /= total
        cols = np.flatnonzero(support >= 0.5 - 1e-9)
        members = sorted(vocab[k] for k in cols)
        out.append({"scheme": scheme[idx[0]], "members": members,
                    "groups": [gs[k] for k in idx],
                    "support": {vocab[k]: float(support[k]) for k in cols}})
    return out


def lead_id_for(scheme: str, members: Iterable[str]) -> str:
    """Content-derived lead id.

    >>> lead_id_for("card_lending", ["person:2", "person:1"]) == lead_id_for("card_lending", ["person:1", "person:2"])
    True
    >>> lead_id_for("card_lending", ["person:1"]).startswith("L-card_lending-")
    True
    """
    h = hashlib.sha1("\n".join(sorted(set(members))).encode("utf-8")).hexdigest()[:8]
    return f"L-{scheme}-{h}"


def assign_lead_ids(leads: pd.DataFrame, previous: pd.DataFrame | None, *,
                    containment: float = 0.5, share: float = 0.34) -> pd.Series:
    """Ids for ``leads`` (``scheme``, ``members`` as ``;``-joined): reuse a previous
    lead's id when they overlap enough (one-to-one, greedy by overlap), else a
    content hash; duplicates get a ``-2``, ``-3`` suffix."""
    new_sets = [frozenset(m.split(";")) for m in leads["members"]]
    ids = [lead_id_for(s, m) for s, m in zip(leads["scheme"], new_sets)]
    taken: set[str] = set()
    chosen: list[str | None] = [None] * len(leads)
    if previous is not None and len(previous):
        prev = previous[previous["members"].fillna("").astype(str) != ""].reset_index(drop=True)
        old_sets = [frozenset(str(m).split(";")) for m in prev["members"]]
        if old_sets and new_sets:
            Mn, vocab = _incidence(new_sets + old_sets)
            N, O = Mn[: len(new_sets)], Mn[len(new_sets):]
            inter = (N @ O.T).tocoo()
            ns = np.array([len(s) for s in new_sets], dtype=float)
            os_ = np.array([len(s) for s in old_sets], dtype=float)
            i, j, v = inter.row, inter.col, inter.data
            same = np.asarray(leads["scheme"].to_numpy()[i] == prev["scheme"].to_numpy()[j])
            ok = same & (v / os_[j] >= containment) & (v / ns[i] >= share)
            cand = pd.DataFrame({"i": i[ok], "j": j[ok], "jac": (v / (ns[i] + os_[j] - v))[ok], "v": v[ok]})
            cand = cand.sort_values(["jac", "v", "i", "j"], ascending=[False, False, True, True])
            used_new, used_old = set(), set()
            for a, b in zip(cand["i"].to_numpy(), cand["j"].to_numpy()):
                if a in used_new or b in used_old:
                    continue
                used_new.add(a)
                used_old.add(b)
                chosen[a] = str(prev["lead_id"].iloc[b])
            taken |= set(prev["lead_id"].astype(str))  # never hand an old id to an unrelated new lead
    out = []
    for k in range(len(leads)):
        if chosen[k] is not None:
            out.append(chosen[k])
            continue
        base, lid, n = ids[k], ids[k], 1
        while lid in taken or lid in out:
            n += 1
            lid = f"{base}-{n}"
        out.append(lid)
    # an old id kept by a new lead
    return pd.Series(out, index=leads.index)


def _family_pairs(tables: Mapping[str, pd.DataFrame], engine: Any) -> pd.DataFrame:
    parts = []
    fl = tables.get("family_links")
    if fl is not None and len(fl):
        parts.append(pd.DataFrame({"a": fl["person_id"].astype(str), "b": fl["related_person_id"].astype(str),
                                   "relation": col_or(fl, "relation").fillna("family").astype(str)}))
    if engine.has("visits"):
        pv = engine.query("payer_pairs")
        parts.append(pd.DataFrame({"a": pv["a"].astype(str), "b": pv["b"].astype(str), "relation": "payer"}))
    if not parts:
        return pd.DataFrame(columns=["a", "b", "relation"])
    p = pd.concat(parts, ignore_index=True)
    p = p[p["a"] != p["b"]]
    both = pd.concat([p, p.rename(columns={"a": "b", "b": "a"})], ignore_index=True)
    return both.drop_duplicates(["a", "b"]).reset_index(drop=True)


def _institution_ordinariness(tables: Mapping[str, pd.DataFrame], engine: Any) -> pd.DataFrame:
    """Per institution: distinct persons, and robust z of log settlements within its kind."""
    inst = tables.get("institutions")
    if inst is None or inst.empty or not engine.has("visits"):
        return pd.DataFrame(columns=["institution_id", "n_persons", "z"])
    n = engine.query("institution_volume").set_index("institution_id")
    if n.empty:
        return pd.DataFrame(columns=["institution_id", "n_persons", "z"])
    d = inst[["institution_id", "kind"]].astype({"institution_id": str}).set_index("institution_id").join(n)
    d = d.fillna({"n_visits": 0, "n_persons": 0})
    lv = np.log1p(d["n_visits"].astype(float))
    med = lv.groupby(d["kind"]).transform("median")
    mad = (lv - med).abs().groupby(d["kind"]).transform("median") * 1.4826
    d["z"] = ((lv - med) / mad.replace(0, np.nan)).fillna(0.0)
    return d.reset_index()[["institution_id", "n_persons", "z"]]


def _long_members(leads: pd.DataFrame) -> pd.DataFrame:
    lm = leads[["lead_id", "members"]].assign(member=leads["members"].str.split(";")).explode("member")
    tp = lm["member"].str.partition(":")
    return pd.DataFrame({"lead_id": lm["lead_id"].to_numpy(), "member": lm["member"].to_numpy(),
                         "entity_type": tp[0].to_numpy(), "entity_id": tp[2].to_numpy()})


def _lead_rule_hits(lm: pd.DataFrame, rule_hits: pd.DataFrame | None, engine: Any) -> pd.DataFrame:
    """Rule hits inside each lead: hits against a member person; hits against a
    member physician/institution only when they concern one of the lead's persons
    (the hit's ``person_id``, else its visit's person), or when the lead has no
    persons. A busy hospital's unrelated hits are not the lead's."""
    if rule_hits is None or rule_hits.empty or not len(lm):
        return pd.DataFrame(columns=["lead_id", "hit_id", "severity", "amount_at_risk"])
    h = rule_hits.assign(entity_id=rule_hits["entity_id"].astype(str))
    if "person_id" in h.columns:
        hp = h["person_id"]
    else:
        hp = pd.Series(None, index=h.index, dtype=object)
    ask = h["visit_id"].notna() & hp.isna() if "visit_id" in h.columns else pd.Series(False, index=h.index)
    if ask.any() and engine.has("visits"):
        pv = engine.query("persons_of_visits", frames={"want": pd.DataFrame({"visit_id": h.loc[ask, "visit_id"].unique()})})
        vp = h["visit_id"].map(pv.set_index("visit_id")["person_id"])
        hp = hp.where(hp.notna(), vp)
    h = h.assign(_person=hp.where(hp.notna(), None))
    x = lm[["lead_id", "entity_type", "entity_id"]].merge(h, on=["entity_type", "entity_id"])
    if not len(x):
        return x.drop(columns="_person")
    persons = lm[lm["entity_type"] == "person"]
    has_p = x["lead_id"].isin(set(persons["lead_id"]))
    pkey = set(zip(persons["lead_id"], persons["entity_id"]))
    concerns = np.fromiter(((a, b) in pkey for a, b in zip(x["lead_id"], x["_person"])), dtype=bool, count=len(x))
    keep = (x["entity_type"] == "person") | ~has_p | concerns
    return x[keep].drop(columns="_person").reset_index(drop=True)


def _calibration_knots() -> tuple[np.ndarray, np.ndarray]:
    import yaml

    path = Path(__file__).resolve().parent / "lead_calibration.yaml"
    k = np.asarray(yaml.safe_load(path.read_text(encoding="utf-8"))["knots"], dtype=float)
    return k[:, 0], k[:, 1]


def calibrate_lead_scores(raw: np.ndarray) -> np.ndarray:
    """Raw lead scores mapped to the share of such leads that were real schemes on the team's
    cities (isotonic knots in ``models/lead_calibration.yaml``, fitted by
    ``bench/calibration.py``); a hair of the raw score keeps the order strict, so the ranking
    is the raw ranking.

    >>> calibrate_lead_scores(np.array([0.2, 0.9])).round(2).tolist()
    [0.0, 1.0]
    """
    xs, ys = _calibration_knots()
    return np.clip(np.interp(raw, xs, ys) * (1 - 1e-4) + 1e-4 * raw, 0.0, 1.0).round(6)


def _lead_billed(lm: pd.DataFrame, engine: Any) -> pd.Series:
    """Billed on each lead's settlements (``graph/sql/lead_billed.sql``): its member persons',
    or for a lead without persons its member institutions' and physicians'."""
    if not len(lm) or engine is None or not engine.has("visits"):
        return pd.Series(dtype=float)
    members = lm[["lead_id", "entity_type", "entity_id"]].astype(str).drop_duplicates()
    with_p = set(members.loc[members["entity_type"] == "person", "lead_id"])
    personless = pd.DataFrame({"lead_id": sorted(set(members["lead_id"]) - with_p)}, dtype=object)
    d = engine.query("lead_billed", frames={"members": members, "personless": personless})
    return pd.Series(pd.to_numeric(d["billed"], errors="coerce").fillna(0.0).to_numpy(), index=d["lead_id"].astype(str))


def _absorb(L: pd.DataFrame, merged: list[dict[str, Any]], containment: float, margin: float) -> pd.DataFrame:
    """Fold a lead into another that holds most of its members (any scheme): the same
    network seen by another detector, or a fragment of it. Leads are visited largest
    first; lead *i* folds into a kept lead *j* when ``|i ∩ j| / |i| >= containment``
    and *j* scores at least ``score_i - margin`` (a much weaker, larger lead does not
    swallow a strong small one). The host keeps the best score of the two and lists
    the folded lead as corroboration in its evidence."""
    if len(L) < 2 or containment > 1.0:
        return L
    sets = [frozenset(m.split(";")) for m in L["members"]]
    M, _ = _incidence(sets)
    inter = (M @ M.T).tocsr()
    size = np.array([len(x) for x in sets], dtype=float)
    score = L["score"].to_numpy(dtype=float).copy()
    order = np.lexsort((-score, -size))          # size desc, then score desc
    kept = np.zeros(len(L), dtype=bool)
    best = score.copy()
    for i in order:      # one pass over leads (hundreds), sparse rows
        row = inter.getrow(i)
        j, v = row.indices, row.data
        ok = kept[j] & (j != i) & (v / size[i] >= containment) & (score[j] >= score[i] - margin)
        if not ok.any():
            kept[i] = True
            continue
        host = int(j[ok][np.argmax(v[ok] + 1e-6 * score[j[ok]])])
        best[host] = max(best[host], score[i])
        tmp_i, tmp_h = int(L["tmp"].iloc[i]), int(L["tmp"].iloc[host])
        merged[tmp_h].setdefault("absorbed", []).append(
            {"scheme": L["scheme"].iloc[i], "members": sorted(sets[i]), "score": float(score[i]),
             "detectors": L["detectors"].iloc[i].split(","), "groups": merged[tmp_i]["groups"]})
    out = L.assign(score=best)[kept]
    return out.sort_values(["score", "amount_at_risk", "members"], ascending=[False, False, True]) \
        .reset_index(drop=True)


def _lead_edges(lm: pd.DataFrame, tables: Mapping[str, pd.DataFrame],
                face_matches: pd.DataFrame | None, engine: Any) -> pd.DataFrame:
    """The edges that tie each lead together (aggregated): person→institution and
    person→physician settlements between members, physician→institution
    employment, family/payer links and shared face identities."""
    cols = ["lead_id", "src", "rel", "dst", "n", "amount", "first", "last"]
    parts = []
    pm = lm[lm["entity_type"] == "person"][["lead_id", "entity_id"]].rename(columns={"entity_id": "person_id"})
    mem = set(zip(lm["lead_id"], lm["member"]))
    if engine.has("visits") and len(pm):
        vv = engine.query("visits_of_persons", frames={"want": pd.DataFrame({"person_id": pm["person_id"].unique()})})
        vv = vv.astype({"person_id": str}).merge(pm, on="person_id")
        for other, et in (("institution_id", "institution"), ("physician_id", "physician")):
            if other not in vv.columns:
                continue
            key = et + ":" + vv[other].astype(str)
            inside = np.fromiter(((a, b) in mem for a, b in zip(vv["lead_id"], key)), dtype=bool, count=len(vv))
            e = vv[inside].assign(dst=key[inside], src="person:" + vv.loc[inside, "person_id"])
            if len(e):
                g = e.groupby(["lead_id", "src", "dst"]).agg(n=("visit_id", "size"), amount=("total_amount", "sum"),
                                                             first=("start_time", "min"), last=("start_time", "max"))
                parts.append(g.reset_index().assign(rel="VISITED" if et == "institution" else "SEEN_BY"))
    ph = tables.get("physicians")
    dm = lm[lm["entity_type"] == "physician"]
    if ph is not None and len(ph) and len(dm):
        e = dm.merge(ph[["physician_id", "institution_id"]].astype(str), left_on="entity_id", right_on="physician_id")
        e = e.assign(src="physician:" + e["physician_id"], dst="institution:" + e["institution_id"])
        inside = np.fromiter(((a, b) in mem for a, b in zip(e["lead_id"], e["dst"])), dtype=bool, count=len(e))
        if inside.any():
            parts.append(e[inside][["lead_id", "src", "dst"]].assign(rel="PRACTISES_AT", n=1, amount=0.0))
    fam = _family_pairs(tables, engine)
    if len(fam) and len(pm):
        f = pm.merge(fam, left_on="person_id", right_on="a").merge(
            pm.rename(columns={"person_id": "b"}), on=["lead_id", "b"])
        f = f[f["a"] < f["b"]]
        if len(f):
            parts.append(pd.DataFrame({"lead_id": f["lead_id"], "src": "person:" + f["a"], "dst": "person:" + f["b"],
                                       "rel": "FAMILY:" + f["relation"].astype(str), "n": 1, "amount": 0.0}))
    if face_matches is not None and len(face_matches) and {"face_id", "claimed_person_id"} <= set(face_matches.columns) \
            and len(pm):
        fm = face_matches[face_matches["face_id"].notna() & face_matches["claimed_person_id"].notna()]
        fm = fm.astype({"claimed_person_id": str}).merge(pm, left_on="claimed_person_id", right_on="person_id")
        if len(fm):
            g = fm.groupby(["lead_id", "face_id", "person_id"]).agg(
                n=("capture_id", "size") if "capture_id" in fm.columns else ("face_id", "size")).reset_index()
            multi = g.groupby(["lead_id", "face_id"])["person_id"].transform("nunique") > 1
            g = g[multi]
            if len(g):
                parts.append(pd.DataFrame({"lead_id": g["lead_id"], "src": "face:" + g["face_id"].astype(str),
                                           "dst": "person:" + g["person_id"], "rel": "PRESENTED_CREDENTIAL",
                                           "n": g["n"], "amount": 0.0}))
    if not parts:
        return pd.DataFrame(columns=cols)
    out = pd.concat(parts, ignore_index=True)
    for c in cols:
        if c not in out.columns:
            out[c] = None
    return out[cols]


def _summary(row: pd.Series, n_types: dict[str, int], detectors: list[str], focus: str, top_rules: str,
             group_summary: str) -> str:
    parts = [f"{n_types.get('person', 0)} persons"]
    if n_types.get("physician"):
        parts.append(f"{n_types['physician']} physicians")
    if n_types.get("institution"):
        parts.append(f"{n_types['institution']} institutions")
    s = (f"{_scheme_title(row['scheme'])}: {', '.join(parts)}, CNY {row['amount_at_risk']:,.0f} "
         f"at risk; found by {', '.join(detectors)}")
    if row["n_rule_hits"]:
        s += f", {int(row['n_rule_hits'])} rule hits inside ({top_rules})" if top_rules else \
            f", {int(row['n_rule_hits'])} rule hits inside"
    s += f". Start with {focus}"
    if group_summary:
        s += f": {group_summary.rstrip('.')}"
    return s + "."


def build_leads(groups: Sequence[Group], scores: pd.DataFrame, tables: Mapping[str, pd.DataFrame], *,
                rule_hits: pd.DataFrame | None = None, face_matches: pd.DataFrame | None = None,
                previous: pd.DataFrame | None = None, params: Mapping[str, dict] | None = None,
                config: FusionConfig | None = None, corroborating: set[str] | frozenset[str] = frozenset(),
                engine: Any = None) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Merge, score, rank and identify leads; return ``leads`` and their evidence.

    ``corroborating``: detectors whose groups only corroborate others' leads (when
    ``config.association_corroborates``)."""
    cfg = config or FusionConfig()
    engine = engine if engine is not None else _engine(tables)
    # score_raw: the fused score before calibration (what bench/calibration.py fits, on leads and
    # candidates alike)
    extra_cols = ["rank", "n_members", "detectors", "group_score", "member_score", "rule_score",
                  "family_share", "dilution", "n_rule_hits", "score_raw"]
    corro = set(corroborating) if cfg.association_corroborates else set()
    merged = merge_groups(groups, jaccard=cfg.merge_jaccard, containment=cfg.merge_containment, corroborating=corro,
                          fold=cfg.fold_schemes, fold_containment=cfg.fold_containment)
    if not merged:
        return pd.DataFrame(columns=LEADS_COLUMNS + extra_cols), []
    L = pd.DataFrame({
        "tmp": np.arange(len(merged)),
        "scheme": [m["scheme"] for m in merged],
        "members": [";".join(m["members"]) for m in merged],
        "n_members": [len(m["members"]) for m in merged],
        "detectors": [",".join(sorted({g.detector for g in m["groups"]})) for m in merged],
        "amount_group": [max(float(g.amount_at_risk or 0.0) for g in m["groups"]) for m in merged],
    })
    # agreement: noisy-OR of the best group score per detector
    g_rows = pd.DataFrame([(k, g.detector, float(g.score)) for k, m in enumerate(merged) for g in m["groups"]],
                          columns=["tmp", "detector", "score"])
    best = g_rows.groupby(["tmp", "detector"])["score"].max().clip(0, 1)
    L["group_score"] = (1 - (1 - best).groupby(level="tmp").prod()).reindex(L["tmp"]).to_numpy()
    L["lead_id"] = L["tmp"].astype(str)
    lm = _long_members(L)
    # member evidence: mean of the upper half of member base scores
    sc = scores.set_index(["entity_type", "entity_id"])["score"]
    lm["s"] = sc.reindex(pd.MultiIndex.from_frame(lm[["entity_type", "entity_id"]])).fillna(0.0).to_numpy()
    lm = lm.sort_values(["lead_id", "s"], ascending=[True, False])
    lm["r"] = lm.groupby("lead_id").cumcount()
    lm["n"] = lm.groupby("lead_id")["s"].transform("size")
    upper = lm[lm["r"] < np.ceil(lm["n"] / 2)]
    L["member_score"] = upper.groupby("lead_id")["s"].mean().reindex(L["lead_id"]).fillna(0.0).to_numpy()
    # rule hits inside
    lh = _lead_rule_hits(lm, rule_hits, engine)
    if len(lh):
        lh["w"] = col_or(lh, "severity", "medium").map(SEVERITY_WEIGHT).fillna(0.5)
        agg = lh.groupby("lead_id").agg(sev=("w", "sum"), n_rule_hits=("w", "size"),
                                        amount_rules=("amount_at_risk", lambda x: pd.to_numeric(x, errors="coerce").sum()))
        agg = agg.reindex(L["lead_id"]).fillna(0.0)
    else:
        agg = pd.DataFrame({"sev": 0.0, "n_rule_hits": 0, "amount_rules": 0.0}, index=L["lead_id"])
    L["n_rule_hits"] = agg["n_rule_hits"].astype(int).to_numpy()
    L["rule_score"] = (1 - np.exp(-agg["sev"].to_numpy() / (2.0 + 0.5 * L["n_members"].to_numpy())))
    # confounder structure
    pm = lm[lm["entity_type"] == "person"][["lead_id", "entity_id"]]
    fam = _family_pairs(tables, engine)
    if len(fam) and len(pm):
        # linked: to another person of the lead, or to one person outside it who is bound to several
        # of them (a carer: a nursing home's, an adult child buying for both parents)
        ties = pm.merge(fam[["a", "b"]], left_on="entity_id", right_on="a")
        inside = ties.merge(pm.rename(columns={"entity_id": "b"}), on=["lead_id", "b"])[["lead_id", "a"]]
        out = ties.merge(pm.rename(columns={"entity_id": "b"}).assign(_in=True), on=["lead_id", "b"], how="left")
        out = out[out["_in"].isna()]
        hub = out.groupby(["lead_id", "b"])["a"].transform("nunique") >= 2
        linked = pd.concat([inside, out.loc[hub, ["lead_id", "a"]]], ignore_index=True)
        n_linked = linked.drop_duplicates(["lead_id", "a"]).groupby("lead_id").size()
        n_p = pm.groupby("lead_id").size()
        L["family_share"] = (n_linked / n_p).reindex(L["lead_id"]).fillna(0.0).to_numpy()
    else:
        L["family_share"] = 0.0
    io = _institution_ordinariness(tables, engine)
    im = lm[lm["entity_type"] == "institution"].merge(io, left_on="entity_id", right_on="institution_id")
    if len(im) and len(pm):
        n_p = pm.groupby("lead_id").size()
        im["share"] = im["lead_id"].map(n_p).fillna(0) / im["n_persons"].clip(lower=1)
        # diluted: lead persons are < 5% of an institution whose volume is ordinary (|z| <= 2) for its kind
        im["dil"] = ((im["share"] < 0.05) & (im["z"].abs() <= 2.0)).astype(float) * (1 - im["share"] / 0.05)
        L["dilution"] = im.groupby("lead_id")["dil"].min().reindex(L["lead_id"]).fillna(0.0).to_numpy()
    else:
        L["dilution"] = 0.0
    raw = 1 - (1 - cfg.w_group * L["group_score"]) * (1 - cfg.w_members * L["member_score"]) * \
        (1 - cfg.w_rules * L["rule_score"])
    # dilution only weighs when the members show little evidence of their own
    L["score"] = (raw * (1 - cfg.family_penalty * L["family_share"])
                  * (1 - cfg.dilution_penalty * L["dilution"] * (1 - L["member_score"]))
                  ).clip(0, 1).round(6)
    L["amount_at_risk"] = np.where(L["amount_group"] > 0, L["amount_group"],
                                   agg["amount_rules"].to_numpy()).astype(float).round(2)
    # never more than was billed on the lead's own settlements (data contract, section 2)
    L["billed"] = _lead_billed(lm, engine).reindex(L["lead_id"]).fillna(0.0).to_numpy()
    L["amount_at_risk"] = np.minimum(L["amount_at_risk"], L["billed"].round(2))
    L = L[L["score"] >= cfg.min_lead_score]
    # the bar for a lead of one entity: the detector's own evidence must be strong (more likely than
    # not); a weak single-entity signal stays an entity score (its reasons say why), never a lead
    lone = L["members"].map(lambda m: len(m.split(";")) == 1)
    L = L[~(lone & (L["group_score"] < cfg.min_single_group_score))]
    L = L.sort_values(["score", "amount_at_risk", "members"], ascending=[False, False, True]).reset_index(drop=True)
    L = _absorb(L, merged, cfg.absorb_containment, cfg.absorb_margin)
    L["score_raw"] = L["score"]
    if cfg.calibrate:
        L["score"] = calibrate_lead_scores(L["score"].to_numpy(float))
    if cfg.max_leads:
        L = L.head(cfg.max_leads)
    L["rank"] = np.arange(1, len(L) + 1)
    L["lead_id"] = assign_lead_ids(L, previous, containment=cfg.keep_id_containment, share=cfg.keep_id_share)
    tmp2id = dict(zip(L["tmp"].astype(str), L["lead_id"]))
    lm = lm[lm["lead_id"].isin(tmp2id)].assign(lead_id=lambda d: d["lead_id"].map(tmp2id))
    lh = lh[lh["lead_id"].isin(tmp2id)].assign(lead_id=lambda d: d["lead_id"].map(tmp2id)) if len(lh) else lh
    edges = _lead_edges(lm, tables, face_matches, engine)
    L, evidence = _texts_and_evidence(L, merged, lm, lh, edges, params or {}, cfg)
    return L[LEADS_COLUMNS + extra_cols], evidence


def _texts_and_evidence(L: pd.DataFrame, merged: list[dict], lm: pd.DataFrame, lh: pd.DataFrame,
                        edges: pd.DataFrame, params: Mapping[str, dict], cfg: FusionConfig
                        ) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    n_types = lm.groupby(["lead_id", "entity_type"]).size().unstack(fill_value=0)
    focus = lm.sort_values(["lead_id", "s"], ascending=[True, False]).drop_duplicates("lead_id") \
        .set_index("lead_id")["member"]
    # prefer a non-person focus when one is in the lead (the organiser is usually the institution/physician)
    org = lm[lm["entity_type"] != "person"].sort_values(["lead_id", "s"], ascending=[True, False]) \
        .drop_duplicates("lead_id").set_index("lead_id")["member"]
    focus = org.combine_first(focus)
    top_rules = pd.Series(dtype=object)
    if len(lh):
        nm = col_or(lh, "rule_name_en")
        nm = nm.where(nm.notna() & (nm.astype(str) != ""), col_or(lh, "rule_name")).fillna(col_or(lh, "rule_id")).astype(str)
        t = lh.assign(nm=nm).groupby(["lead_id", "nm"]).size().rename("k").reset_index() \
            .sort_values(["lead_id", "k"], ascending=[True, False]).groupby("lead_id").head(2)
        top_rules = (t["nm"] + " ×" + t["k"].astype(str)).groupby(t["lead_id"]).agg(", ".join)
    summaries, evidence = [], []
    hit_cols = [c for c in ("hit_id", "rule_id", "rule_name", "severity", "entity_type", "entity_id", "visit_id",
                            "amount_at_risk", "evidence") if c in lh.columns]
    lh_by = dict(tuple(lh.groupby("lead_id"))) if len(lh) else {}
    ed_by = dict(tuple(edges.groupby("lead_id"))) if len(edges) else {}
    for row in L.itertuples(index=False):   # one iteration per lead (hundreds), not per visit
        m = merged[int(row.tmp)]
        gs = sorted(m["groups"], key=lambda g: -float(g.score))
        nt = n_types.loc[row.lead_id].to_dict() if row.lead_id in n_types.index else {}
        summaries.append(_summary(pd.Series(row._asdict()), nt, sorted({g.detector for g in gs}),
                                  str(focus.get(row.lead_id, "")), str(top_rules.get(row.lead_id, "")),
                                  gs[0].summary if gs else ""))
        h = lh_by.get(row.lead_id)
        e = ed_by.get(row.lead_id)
        evidence.append({
            "lead_id": row.lead_id, "scheme": row.scheme, "score": float(row.score), "rank": int(row.rank),
            "members": row.members.split(";"),
            "score_parts": {"raw": round(float(getattr(row, "score_raw", row.score)), 6),
                            "group": round(float(row.group_score), 4), "members": round(float(row.member_score), 4),
                            "rules": round(float(row.rule_score), 4), "family_share": round(float(row.family_share), 4),
                            "dilution": round(float(row.dilution), 4),
                            "weights": {"group": cfg.w_group, "members": cfg.w_members, "rules": cfg.w_rules,
                                        "family_penalty": cfg.family_penalty, "dilution_penalty": cfg.dilution_penalty}},
            "groups": [{"detector": g.detector, "scheme": g.scheme, "score": float(g.score),
                        "amount_at_risk": float(g.amount_at_risk or 0.0), "members": sorted(g.members),
                        "summary": g.summary, "evidence": _jsonable(g.evidence),
                        "rerun": params.get(g.detector, {})} for g in gs],
            "corroborated_by": [{"scheme": a["scheme"], "score": a["score"], "detectors": a["detectors"],
                                 "members": a["members"],
                                 "rerun": {d: params.get(d, {}) for d in a["detectors"]}}
                                for a in m.get("absorbed", [])],
            "amount_basis": {"amount_at_risk": float(row.amount_at_risk),
                             "detectors_figure": float(row.amount_group),
                             "rule_hits_figure": 0.0 if h is None else float(pd.to_numeric(h["amount_at_risk"], errors="coerce").sum()),
                             "billed_on_its_settlements": float(getattr(row, "billed", 0.0)),
                             "rule": "the detectors' figure, else the sum of its rule hits (each line once), "
                                     "never above what was billed on its settlements"},
            "n_rule_hits": 0 if h is None else int(len(h)),
            "rule_hits": [] if h is None else _jsonable(h[hit_cols].head(cfg.max_evidence_rows).to_dict("records")),
            "n_edges": 0 if e is None else int(len(e)),
            "edges": [] if e is None else _jsonable(
                e.sort_values("n", ascending=False).drop(columns="lead_id").head(cfg.max_evidence_rows)
                .to_dict("records")),
        })
    L = L.copy()
    L["summary"] = summaries
    return L, evidence


# --------------------------------------------------------------------------- previous runs
# --------------------------------------------------------------------------- top level
def _engine(tables: Mapping[str, pd.DataFrame]) -> Any:
    from ringscope.graph.engine import Engine

    return Engine.over_frames({k: v for k, v in tables.items() if v is not None})


def fuse(tables: Mapping[str, pd.DataFrame], detectors: Iterable[Any] = (), *,
         face_matches: pd.DataFrame | None = None, previous: pd.DataFrame | None = None,
         config: FusionConfig | None = None, engine: Any = None) -> FusionResult:
    """Entity scores, leads and lead evidence from fitted detectors.

    Each detector enters as what it declares (its ``kind`` picks its weight family);
    ordinary rule hits enter through the one rules detector (``kind == "rule"``), whose
    ``hits_`` are also the rule hits counted inside leads. ``previous``: an earlier
    run's leads (``lead_id, scheme, members``), so lead ids carry over.
    """
    cfg = config or FusionConfig()
    src = collect_sources(detectors)
    groups, reasons, params, rule_hits = src.groups, src.reasons, src.params, src.rule_hits
    sources: dict[str, pd.DataFrame] = dict(src.scores)
    sources.update(_group_source(groups))
    weigh = {"kinds": src.kinds, "corroborating": src.corroborating}
    universe = entity_universe(tables)
    # base scores: the detectors' own scores and rules (group membership enters via the lead score)
    base_src = {k: v for k, v in sources.items() if not k.endswith(":group")}
    base, _ = entity_scores(base_src, universe, reasons=reasons, known_cases=tables.get("known_cases"), config=cfg,
                            **weigh)
    leads, evidence = build_leads(groups, base, tables, rule_hits=rule_hits, face_matches=face_matches,
                                  previous=previous, params=params, config=cfg, corroborating=src.corroborating,
                                  engine=engine if engine is not None else _engine(tables))
    # final entity scores: every source, plus the best lead each entity belongs to
    if len(leads):
        lm = _long_members(leads.assign(members=leads["members"]))
        best = lm.merge(leads[["lead_id", "score"]], on="lead_id").sort_values("score", ascending=False) \
            .drop_duplicates(["entity_type", "entity_id"])
        sources["lead"] = best[["entity_type", "entity_id", "score"]]
        cfg = replace(cfg, weights={"lead": cfg.lead_weight, **cfg.weights})
        reasons = {**reasons, "lead": best.assign(reason="lead " + best["lead_id"])[
            ["entity_type", "entity_id", "score", "reason"]]}
    final, info = entity_scores(sources, universe, reasons=reasons, known_cases=tables.get("known_cases"), config=cfg,
                                **weigh)
    final["score"] = final["score"].clip(0, 1).round(6)
    final = final.sort_values(["entity_type", "score", "entity_id"], ascending=[True, False, True]).reset_index(drop=True)
    extras = [c for c in final.columns if c not in ENTITY_SCORES_COLUMNS]
    # the emission bar (precision first): a lead whose calibrated score says it is a real scheme
    # less often than ``emit_bar`` is not emitted; it stays a candidate (and in its members' scores)
    candidates = leads.iloc[0:0]
    if len(leads) and cfg.emit_bar > 0:
        emit = leads["score"].astype(float) >= cfg.emit_bar
        candidates, leads = leads[~emit].reset_index(drop=True), leads[emit].reset_index(drop=True)
        keep = set(leads["lead_id"])
        evidence = [e for e in evidence if e["lead_id"] in keep]
    return FusionResult(entity_scores=final[ENTITY_SCORES_COLUMNS + extras], leads=leads, evidence=evidence,
                        weights=info, candidates=candidates)
