"""Score a results directory against a labelled dataset's ``truth/``.

``ringscope evaluate RESULTS --truth DATASET/truth`` prints the metrics of
issue 5 (part 3); they work on any dataset in the contract's shape and
tolerate missing files and extra columns.

Ring recall@3R and lead precision@3R
------------------------------------
Let R be the number of true rings (``truth/rings.csv``) and K = 3R. Leads are
ranked by ``score`` (descending; ties keep the file's order). A lead L
*matches* a true ring T when

    |L ∩ T| >= |T| / 2   and   |L ∩ T| >= |L| / 2,

i.e. it covers at least half of the ring and at least half of the lead comes
from it (members compared as typed ids ``person:P1``; the scheme is not
required to agree, it is reported per scheme).

- ``ring_recall_at_3R`` = share of true rings matched by some lead among the
  top K;
- ``lead_precision_at_3R`` = share of the top min(K, #leads) leads that match
  some true ring (denominator: the leads actually shown, so a system emitting
  fewer than K leads is not charged for the empty slots; ``n_top`` says how
  many).

Lone actors (``truth/entities.csv`` rows with an empty ``ring_id``, e.g.
doctor shoppers) are not rings: they do not count in R. A top lead that
matches no ring but *contains a true lone actor whose truth scheme equals the
lead's scheme* is a correct lone-actor lead: it counts as correct in
``lead_precision_at_3R`` (the headline; an investigator who opens it finds
the fraud) and as wrong in ``lead_precision_at_3R_rings_only`` (the strict
figure, also reported). ``lone_actor_recall_at_3R`` is the share of true lone
actors included in some top-K lead; entity AP covers the rest of them.

Entity AP / ROC AUC per entity type
-----------------------------------
``entity_scores.csv`` against ``truth/entities.csv`` (an entity listed there
is positive, every other is clean). Unscored entities count as score 0. The
universe is every entity in the dataset's tables when they sit next to the
truth directory (``truth_dir/..``), else the union of scored and truth
entities. AP is scikit-learn's ``average_precision_score`` (step-wise area
under the precision–recall curve); AUC is ``roc_auc_score``.

Per rule
--------
For each ``rule_id``: its hits confirmed by the truth, at the line when the hit names one
(``precision``: the rule's own class; ``precision_any``: any class) -- how the definite rules
are held to their promise.

Violation recall per rule class
-------------------------------
For each ``scheme_or_rule`` class in ``truth/violations.csv``: the share of its
truth visits hit by a rule of the same ``violation_class`` (when
``rule_hits.csv`` carries that column) and by any rule. When rule hits carry
``violation_class``, visit-level precision per class: of the visits a class's
rules hit, the share that are truth visits of that class (``precision``) and of
any class (``precision_any``).

Early-warning drift recall and precision (when ``truth/drift.csv`` exists)
--------------------------------------------------------------------------
``warnings.csv`` against ``truth/drift.csv`` (``entity_type, entity_id, indicator,
first_period``), at the entity level: an entity is *flagged* when it has a warning at the
levels counted (``all``: any level, the headline; ``red+orange``; ``red``). A drifting entity
is *found* when one of its warnings falls in a month no earlier than one month before its
``first_period`` (a change-point may be placed a month early); its warnings before that are
not credit. ``recall`` = found / drifting entities; ``precision`` = found / flagged. Only the
entity types the truth drifts are judged (a truth that drifts institutions only says nothing
of physicians), and a flagged physician practising at a drifting institution, or an institution
of a drifting physician, is neither right nor wrong (it drifts with it: ``excused``). The
strict precision counts a flagged fraud entity (``truth/entities.csv``) as wrong;
``precision_fraud_excused`` does not. ``indicator_recall``: drifting entities warned on
the indicator the truth names.

References
----------
Manning, Raghavan & Schütze, *Introduction to Information Retrieval* (2008),
ch. 8 (precision at k, average precision).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["evaluate", "format_report", "ring_match_matrix", "read_members", "drift_metrics"]

ENTITY_TYPES = ("person", "physician", "institution")
_ENTITY_TABLES = {"person": ("persons", "person_id"),
                  "physician": ("physicians", "physician_id"),
                  "institution": ("institutions", "institution_id")}


# --------------------------------------------------------------------------- reading
def _read_csv(path: Path) -> pd.DataFrame | None:
    """A results/truth CSV with every column as str (empty = ''), or None."""
    if not path.exists():
        return None
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _col(df: pd.DataFrame | None, name: str) -> pd.Series:
    if df is None or name not in df.columns:
        return pd.Series([], dtype=object) if df is None else pd.Series([""] * len(df), index=df.index)
    return df[name].fillna("").astype(str).str.strip()


def read_members(s: str) -> frozenset[str]:
    """Typed member ids of one ``members`` field.

    >>> sorted(read_members(" person:P1; physician:D2;;"))
    ['person:P1', 'physician:D2']
    """
    return frozenset(m.strip() for m in str(s).split(";") if m.strip())


def _entity_ids(dataset_dir: Path, etype: str) -> pd.Series | None:
    table, key = _ENTITY_TABLES[etype]
    csv, pq = dataset_dir / f"{table}.csv", dataset_dir / f"{table}.parquet"
    try:
        if csv.exists():
            ids = pd.read_csv(csv, usecols=[key], dtype=str, keep_default_na=False)[key]
        elif pq.exists():
            ids = pd.read_parquet(pq, columns=[key])[key].astype(str)
        else:
            return None
    except (ValueError, KeyError):
        return None
    return ids.str.strip()


# --------------------------------------------------------------------------- rings
def ring_match_matrix(leads: list[frozenset[str]], rings: list[frozenset[str]]) -> np.ndarray:
    """Boolean matrix (leads × rings): lead i matches ring j by the half/half rule.

    >>> m = ring_match_matrix([frozenset("abc"), frozenset("xyzw")], [frozenset("ab"), frozenset("xy")])
    >>> m.tolist()
    [[True, False], [False, True]]
    """
    out = np.zeros((len(leads), len(rings)), dtype=bool)
    if not leads or not rings:
        return out
    index = {m: k for k, m in enumerate(sorted(set().union(*leads, *rings)))}

    def incidence(sets: list[frozenset[str]]):
        from scipy.sparse import csr_matrix

        rows = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
        cols = np.fromiter((index[m] for s in sets for m in s), dtype=np.int64, count=len(rows))
        return csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(sets), len(index)))

    inter = (incidence(leads) @ incidence(rings).T).toarray()
    lsize = np.array([len(s) for s in leads], dtype=float)[:, None]
    rsize = np.array([len(s) for s in rings], dtype=float)[None, :]
    return (inter > 0) & (2 * inter >= rsize) & (2 * inter >= lsize)


def _ring_metrics(leads_df: pd.DataFrame | None, rings_df: pd.DataFrame | None,
                  entities_df: pd.DataFrame | None) -> dict[str, Any]:
    rings_df = rings_df if rings_df is not None else pd.DataFrame(columns=["ring_id", "scheme", "members"])
    ring_sets = [read_members(m) for m in _col(rings_df, "members")]
    keep = [i for i, s in enumerate(ring_sets) if s]
    ring_sets = [ring_sets[i] for i in keep]
    ring_scheme = _col(rings_df, "scheme").iloc[keep].replace("", "other").tolist()
    ring_ids = _col(rings_df, "ring_id").iloc[keep].tolist()
    R = len(ring_sets)
    K = 3 * R

    if leads_df is not None and len(leads_df):
        sc = pd.to_numeric(_col(leads_df, "score"), errors="coerce").fillna(0.0)
        order = sc.reset_index(drop=True).sort_values(ascending=False, kind="mergesort").index
        ranked = leads_df.reset_index(drop=True).iloc[order]
    else:
        ranked = pd.DataFrame(columns=["lead_id", "scheme", "score", "members"])
    top = ranked.head(K) if K else ranked.head(0)
    lead_sets = [read_members(m) for m in _col(top, "members")]
    lead_scheme = _col(top, "scheme").replace("", "other").tolist()
    M = ring_match_matrix(lead_sets, ring_sets)

    # lone actors: truth entities without a ring
    lone = pd.DataFrame(columns=["key", "scheme"])
    if entities_df is not None and len(entities_df):
        e = pd.DataFrame({"key": _col(entities_df, "entity_type") + ":" + _col(entities_df, "entity_id"),
                          "scheme": _col(entities_df, "scheme"), "ring": _col(entities_df, "ring_id")})
        lone = e[e["ring"] == ""].drop_duplicates(["key", "scheme"])[["key", "scheme"]]
    lone_by_key: dict[str, set[str]] = lone.groupby("key")["scheme"].agg(set).to_dict() if len(lone) else {}
    lone_ok = np.array([
        any(lead_scheme[i] in lone_by_key.get(m, ()) or "" in lone_by_key.get(m, ()) for m in s)
        for i, s in enumerate(lead_sets)], dtype=bool)
    ring_ok = M.any(axis=1) if len(lead_sets) else np.zeros(0, dtype=bool)
    found = M.any(axis=0) if len(lead_sets) else np.zeros(R, dtype=bool)
    covered_lone = set().union(*lead_sets) & set(lone_by_key) if lead_sets else set()

    n_top = len(lead_sets)
    out: dict[str, Any] = {
        "n_rings": R, "k": K, "n_leads": int(len(ranked)), "n_top": n_top,
        "ring_recall_at_3R": (float(found.mean()) if R else None),
        "lead_precision_at_3R": (float((ring_ok | lone_ok).mean()) if n_top else None),
        "lead_precision_at_3R_rings_only": (float(ring_ok.mean()) if n_top else None),
        "n_lone_actors": len(lone_by_key),
        "lone_actor_recall_at_3R": (len(covered_lone) / len(lone_by_key) if lone_by_key else None),
        "missed_rings": [ring_ids[j] for j in range(R) if not found[j]],
    }
    # per scheme: recall over true rings of the scheme, precision over top leads of the scheme
    schemes = sorted(set(ring_scheme) | set(lead_scheme))
    per: dict[str, dict[str, Any]] = {}
    for s in schemes:
        rj = [j for j in range(R) if ring_scheme[j] == s]
        li = [i for i in range(n_top) if lead_scheme[i] == s]
        per[s] = {
            "rings": len(rj), "found": int(found[rj].sum()) if rj else 0,
            "recall": (float(found[rj].mean()) if rj else None),
            "top_leads": len(li),
            "correct_leads": int((ring_ok | lone_ok)[li].sum()) if li else 0,
            "precision": (float((ring_ok | lone_ok)[li].mean()) if li else None),
        }
    out["per_scheme"] = per
    return out


# --------------------------------------------------------------------------- entities
def _entity_metrics(scores_df: pd.DataFrame | None, entities_df: pd.DataFrame | None,
                    dataset_dir: Path | None) -> dict[str, Any]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    scores = pd.DataFrame({"entity_type": _col(scores_df, "entity_type"), "entity_id": _col(scores_df, "entity_id"),
                           "score": pd.to_numeric(_col(scores_df, "score"), errors="coerce")})
    scores["score"] = scores["score"].fillna(0.0)
    scores = scores.groupby(["entity_type", "entity_id"], as_index=False)["score"].max()
    truth = pd.DataFrame({"entity_type": _col(entities_df, "entity_type"), "entity_id": _col(entities_df, "entity_id")})
    truth = truth[truth["entity_id"] != ""].drop_duplicates()
    out: dict[str, Any] = {}
    for et in ENTITY_TYPES:
        s = scores[scores["entity_type"] == et].set_index("entity_id")["score"]
        pos = set(truth.loc[truth["entity_type"] == et, "entity_id"])
        ids = _entity_ids(dataset_dir, et) if dataset_dir is not None else None
        universe_source = "dataset" if ids is not None else "scored+truth"
        uni = pd.Index(ids.unique()) if ids is not None else pd.Index([])
        uni = uni.union(pd.Index(s.index)).union(pd.Index(sorted(pos)))
        y = uni.isin(list(pos)).astype(int)
        x = s.reindex(uni).fillna(0.0).to_numpy()
        n_pos = int(y.sum())
        row: dict[str, Any] = {"n": int(len(uni)), "n_pos": n_pos, "n_scored": int((x > 0).sum()),
                               "universe": universe_source, "ap": None, "auc": None,
                               "precision_at_npos": None, "base_rate": (n_pos / len(uni) if len(uni) else None)}
        if 0 < n_pos < len(uni):
            row["ap"] = float(average_precision_score(y, x))
            row["auc"] = float(roc_auc_score(y, x))
            top = np.argsort(-x, kind="mergesort")[:n_pos]
            row["precision_at_npos"] = float(y[top].mean())
        out[et] = row
    return out


# --------------------------------------------------------------------------- violations
def _violation_metrics(hits_df: pd.DataFrame | None, viol_df: pd.DataFrame | None) -> dict[str, Any]:
    truth = pd.DataFrame({"visit_id": _col(viol_df, "visit_id"), "cls": _col(viol_df, "scheme_or_rule")})
    truth = truth[(truth["visit_id"] != "") & (truth["cls"] != "")].drop_duplicates()
    has_class = hits_df is not None and "violation_class" in hits_df.columns
    hits = pd.DataFrame({"visit_id": _col(hits_df, "visit_id"),
                         "cls": _col(hits_df, "violation_class") if has_class else ""})
    hits = hits[hits["visit_id"] != ""].drop_duplicates()
    any_hit = set(hits["visit_id"])
    truth_any = set(truth["visit_id"])
    classes: dict[str, dict[str, Any]] = {}
    for cls, vis in truth.groupby("cls")["visit_id"]:
        v = set(vis)
        same = set(hits.loc[hits["cls"] == cls, "visit_id"]) if has_class else set()
        classes[str(cls)] = {
            "truth_visits": len(v),
            "recall_same_class": (len(v & same) / len(v)) if has_class else None,
            "recall_any_rule": len(v & any_hit) / len(v),
        }
    precision: dict[str, dict[str, Any]] = {}
    if has_class:
        for cls, vis in hits[hits["cls"] != ""].groupby("cls")["visit_id"]:
            h = set(vis)
            tv = set(truth.loc[truth["cls"] == cls, "visit_id"])
            precision[str(cls)] = {"hit_visits": len(h),
                                   "precision": (len(h & tv) / len(h)) if tv else None,
                                   "precision_any": len(h & truth_any) / len(h)}
    return {"classes": classes, "precision": precision, "n_truth_visits": len(truth_any),
            "n_hit_visits": len(any_hit),
            "visit_precision_any": (len(any_hit & truth_any) / len(any_hit)) if any_hit else None,
            "visit_recall_any": (len(any_hit & truth_any) / len(truth_any)) if truth_any else None}


# --------------------------------------------------------------------------- drift (early warning)
DRIFT_LEVELS = {"all": ("red", "orange", "yellow"), "red+orange": ("red", "orange"), "red": ("red",)}


def _physician_institution(dataset_dir: Path | None) -> dict[str, str]:
    if dataset_dir is None:
        return {}
    csv, pq = dataset_dir / "physicians.csv", dataset_dir / "physicians.parquet"
    try:
        if csv.exists():
            d = pd.read_csv(csv, usecols=["physician_id", "institution_id"], dtype=str, keep_default_na=False)
        elif pq.exists():
            d = pd.read_parquet(pq, columns=["physician_id", "institution_id"]).astype(str)
        else:
            return {}
    except (ValueError, KeyError):
        return {}
    return dict(zip(d["physician_id"].str.strip(), d["institution_id"].str.strip()))


def drift_metrics(warnings_df: pd.DataFrame | None, drift_df: pd.DataFrame | None,
                  entities_df: pd.DataFrame | None = None, physician_institution: dict[str, str] | None = None
                  ) -> dict[str, Any] | None:
    """Entity-level recall and precision of ``warnings.csv`` against ``truth/drift.csv`` (see
    the module's docstring); None without a drift truth.

    >>> drift = pd.DataFrame({"entity_type": ["institution"] * 2, "entity_id": ["H1", "H2"],
    ...                       "indicator": ["drug_share", "avg_los"], "first_period": ["2024-06", "2024-05"]})
    >>> w = pd.DataFrame({"entity_type": "institution", "entity_id": ["H1", "H3", "H2"],
    ...                   "indicator": ["drug_share", "avg_los", "avg_los"], "period": ["2024-07", "2024-02", "2024-01"],
    ...                   "level": ["red", "yellow", "orange"]})
    >>> m = drift_metrics(w, drift)["levels"]["all"]
    >>> m["recall"], m["precision"], m["found"], m["flagged"]
    (0.5, 0.3333333333333333, 1, 3)
    """
    if drift_df is None:
        return None
    truth = pd.DataFrame({"et": _col(drift_df, "entity_type"), "id": _col(drift_df, "entity_id"),
                          "indicator": _col(drift_df, "indicator"), "first": _col(drift_df, "first_period")})
    truth = truth[truth["id"] != ""]
    types = sorted(set(truth["et"]))
    first = truth.assign(p=pd.PeriodIndex(truth["first"].replace("", "1900-01"), freq="M")) \
        .groupby(["et", "id"])["p"].min()
    ind_truth = truth.groupby(["et", "id"])["indicator"].agg(set)
    w = pd.DataFrame({"et": _col(warnings_df, "entity_type"), "id": _col(warnings_df, "entity_id"),
                      "indicator": _col(warnings_df, "indicator"), "period": _col(warnings_df, "period"),
                      "level": _col(warnings_df, "level")})
    w = w[w["et"].isin(types) & (w["id"] != "")]
    w["p"] = pd.PeriodIndex(w["period"].replace("", "1900-01"), freq="M") if len(w) else pd.PeriodIndex([], freq="M")
    fraud = set()
    if entities_df is not None and len(entities_df):
        fraud = set(zip(_col(entities_df, "entity_type"), _col(entities_df, "entity_id")))
    pi = physician_institution or {}
    drift_inst = set(truth.loc[truth["et"] == "institution", "id"])
    drift_phys_inst = {pi.get(i) for i in truth.loc[truth["et"] == "physician", "id"]} - {None}
    drifting = set(first.index)

    def excused(et: str, eid: str) -> bool:
        return (et == "physician" and pi.get(eid) in drift_inst) or (et == "institution" and eid in drift_phys_inst)

    out: dict[str, Any] = {"n_drifting": len(drifting), "entity_types": types, "levels": {}}
    for name, lv in DRIFT_LEVELS.items():
        x = w[w["level"].isin(lv)]
        ok_time = np.array([(k in first.index) and (p >= first[k] - 1) for k, p in zip(zip(x["et"], x["id"]), x["p"])],
                           dtype=bool)
        found = set(zip(x.loc[ok_time, "et"], x.loc[ok_time, "id"]))
        flagged = set(zip(x["et"], x["id"]))
        judged = {k for k in flagged if k in found or not excused(*k)}
        wrong = judged - found
        on_ind = {k for k in found if set(x.loc[ok_time & (x["et"] == k[0]) & (x["id"] == k[1]), "indicator"])
                  & ind_truth.get(k, set())}
        per_type = {}
        for t in types:
            dt = {k for k in drifting if k[0] == t}
            ft = {k for k in judged if k[0] == t}
            per_type[t] = {"drifting": len(dt), "found": len(found & dt), "flagged": len(ft),
                           "recall": (len(found & dt) / len(dt)) if dt else None,
                           "precision": (len(found & ft) / len(ft)) if ft else None}
        out["levels"][name] = {
            "drifting": len(drifting), "found": len(found), "flagged": len(judged),
            "excused": len(flagged - judged), "wrong": sorted(f"{a}:{b}" for a, b in wrong)[:50],
            "missed": sorted(f"{a}:{b}" for a, b in drifting - found)[:50],
            "recall": (len(found) / len(drifting)) if drifting else None,
            "precision": (len(found) / len(judged)) if judged else None,
            "precision_fraud_excused": (len(found) / len(judged - (wrong & fraud))) if judged - (wrong & fraud) else None,
            "indicator_recall": (len(on_ind) / len(drifting)) if drifting else None,
            "per_type": per_type,
        }
    return out


# --------------------------------------------------------------------------- rules
def _rule_metrics(hits_df: pd.DataFrame | None, viol_df: pd.DataFrame | None) -> dict[str, Any]:
    """Per rule id: how many of its hits the truth confirms (definite rules must be precise).

    A hit is judged at the finest level both sides give: a hit naming a claim line is confirmed
    when ``truth/violations.csv`` lists that line, or lists its settlement without a line (the
    whole settlement is fraudulent); a hit naming only a settlement, when the truth lists the
    settlement. Hits without a settlement (stock-book hits) are not judged. ``precision``
    counts truth rows of the rule's ``violation_class`` (when the hits carry one), and
    ``precision_any`` truth rows of any class.

    >>> hits = pd.DataFrame({"rule_id": ["R1", "R1", "R1"], "visit_id": ["v1", "v2", "v3"],
    ...                      "line_id": ["l1", "l9", ""], "violation_class": "x"})
    >>> viol = pd.DataFrame({"visit_id": ["v1", "v2", "v3"], "line_id": ["l1", "l2", ""],
    ...                      "scheme_or_rule": ["x", "x", "y"]})
    >>> r = _rule_metrics(hits, viol)["R1"]
    >>> r["hits"], r["correct"], round(r["precision"], 3), round(r["precision_any"], 3)
    (3, 1, 0.333, 0.667)
    """
    if hits_df is None or not len(hits_df) or "rule_id" not in hits_df.columns:
        return {}
    truth = pd.DataFrame({"visit_id": _col(viol_df, "visit_id"), "line_id": _col(viol_df, "line_id"),
                          "cls": _col(viol_df, "scheme_or_rule")})
    truth = truth[truth["visit_id"] != ""]
    lines = {(v, ln): set() for v, ln in zip(truth["visit_id"], truth["line_id"])}
    for v, ln, c in zip(truth["visit_id"], truth["line_id"], truth["cls"]):
        lines[(v, ln)].add(c)
    visits: dict[str, set[str]] = truth.groupby("visit_id")["cls"].agg(set).to_dict() if len(truth) else {}
    h = pd.DataFrame({"rule_id": _col(hits_df, "rule_id"), "visit_id": _col(hits_df, "visit_id"),
                      "line_id": _col(hits_df, "line_id"), "cls": _col(hits_df, "violation_class"),
                      "rule_class": _col(hits_df, "rule_class")})

    def classes(v: str, ln: str) -> set[str] | None:
        if v == "":
            return None
        if ln != "":
            return lines.get((v, ln), set()) | lines.get((v, ""), set())
        return visits.get(v, set())

    out: dict[str, Any] = {}
    for rid, g in h.groupby("rule_id", sort=True):
        cl = [classes(v, ln) for v, ln in zip(g["visit_id"], g["line_id"])]
        judged = [(c, k) for c, k in zip(cl, g["cls"]) if c is not None]
        any_ok = sum(bool(c) for c, _ in judged)
        same = sum((k in c) if k else bool(c) for c, k in judged)
        out[str(rid)] = {"hits": int(len(g)), "judged": len(judged), "correct": same,
                         "violation_class": next((k for k in g["cls"] if k), ""),
                         "rule_class": next((k for k in g["rule_class"] if k), ""),
                         "precision": (same / len(judged)) if judged else None,
                         "precision_any": (any_ok / len(judged)) if judged else None}
    return out


# --------------------------------------------------------------------------- API
def evaluate(results_dir: str | Path, truth_dir: str | Path) -> dict[str, Any]:
    """All metrics of one results directory against one truth directory.

    Missing files give ``None`` metrics and a note in ``missing``; extra
    columns are ignored. The dataset's entity tables, when they sit next to
    ``truth_dir`` (its parent), define the universe for entity AP/AUC.
    """
    results_dir, truth_dir = Path(results_dir), Path(truth_dir)
    files = {
        "leads": results_dir / "leads.csv", "entity_scores": results_dir / "entity_scores.csv",
        "rule_hits": results_dir / "rule_hits.csv", "rings": truth_dir / "rings.csv",
        "entities": truth_dir / "entities.csv", "violations": truth_dir / "violations.csv",
        "warnings": results_dir / "warnings.csv", "drift": truth_dir / "drift.csv",
    }
    dfs = {k: _read_csv(p) for k, p in files.items()}
    # optional: warnings.csv is judged only where the truth plants drift
    missing = [str(p) for k, p in files.items() if dfs[k] is None and k != "drift"
               and not (k == "warnings" and dfs["drift"] is None)]
    dataset_dir = truth_dir.parent
    if not any((dataset_dir / f"{t}.{ext}").exists() for t, _ in _ENTITY_TABLES.values()
               for ext in ("csv", "parquet")):
        dataset_dir = None
    return {
        "results_dir": str(results_dir), "truth_dir": str(truth_dir), "missing": missing,
        "rings": _ring_metrics(dfs["leads"], dfs["rings"], dfs["entities"]),
        "entities": _entity_metrics(dfs["entity_scores"], dfs["entities"], dataset_dir),
        "violations": _violation_metrics(dfs["rule_hits"], dfs["violations"]),
        "drift": drift_metrics(dfs["warnings"], dfs["drift"], dfs["entities"], _physician_institution(dataset_dir)),
        "rules": _rule_metrics(dfs["rule_hits"], dfs["violations"]),
    }


def _f(x: Any, nd: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def format_report(report: dict[str, Any]) -> str:
    """The report as markdown text (what ``ringscope evaluate`` prints)."""
    r = report["rings"]
    lines = [f"# Evaluation of {report.get('results_dir', '')}", ""]
    if report.get("missing"):
        lines += ["Missing files: " + ", ".join(report["missing"]), ""]
    lines += [
        "## Rings and leads",
        f"- true rings R = {r['n_rings']}, leads = {r['n_leads']}, top 3R = {r['k']} (shown: {r['n_top']})",
        f"- ring recall@3R: **{_f(r['ring_recall_at_3R'])}**",
        f"- lead precision@3R: **{_f(r['lead_precision_at_3R'])}** "
        f"(rings only: {_f(r['lead_precision_at_3R_rings_only'])}; lone-actor leads count when their "
        "scheme's lone actor is inside)",
        f"- lone actors: {r['n_lone_actors']}, covered by top leads: {_f(r['lone_actor_recall_at_3R'])}",
    ]
    if r.get("missed_rings"):
        miss = r["missed_rings"]
        lines.append(f"- missed rings ({len(miss)}): " + ", ".join(miss[:20]) + (" …" if len(miss) > 20 else ""))
    lines += ["", "| scheme | rings | found | recall | top leads | correct | precision |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for s, v in r["per_scheme"].items():
        lines.append(f"| {s} | {v['rings']} | {v['found']} | {_f(v['recall'])} | {v['top_leads']} | "
                     f"{v['correct_leads']} | {_f(v['precision'])} |")
    lines += ["", "## Entities", "", "| type | n | positives | scored | AP | ROC AUC | P@#pos | universe |",
              "|---|---:|---:|---:|---:|---:|---:|---|"]
    for et, v in report["entities"].items():
        lines.append(f"| {et} | {v['n']} | {v['n_pos']} | {v['n_scored']} | {_f(v['ap'])} | {_f(v['auc'])} | "
                     f"{_f(v['precision_at_npos'])} | {v['universe']} |")
    vi = report["violations"]
    lines += ["", "## Violations (visit level)",
              f"- truth visits {vi['n_truth_visits']}, visits hit by a rule {vi['n_hit_visits']}, "
              f"recall (any rule) {_f(vi['visit_recall_any'])}, precision (any truth) {_f(vi['visit_precision_any'])}",
              "", "| class | truth visits | recall (same class) | recall (any rule) | rule-hit visits | precision | precision (any truth) |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for c in sorted(set(vi["classes"]) | set(vi["precision"])):
        a = vi["classes"].get(c, {})
        p = vi["precision"].get(c, {})
        lines.append(f"| {c} | {a.get('truth_visits', 0)} | {_f(a.get('recall_same_class'))} | "
                     f"{_f(a.get('recall_any_rule'))} | {p.get('hit_visits', 0)} | {_f(p.get('precision'))} | "
                     f"{_f(p.get('precision_any'))} |")
    dr = report.get("drift")
    if dr:
        lines += ["", "## Early warning (truth/drift.csv)",
                  f"- drifting entities: {dr['n_drifting']} ({', '.join(dr['entity_types'])})", "",
                  "| levels counted | found | flagged | recall | precision | precision (fraud excused) | "
                  "indicator recall |", "|---|---:|---:|---:|---:|---:|---:|"]
        for name, v in dr["levels"].items():
            lines.append(f"| {name} | {v['found']} | {v['flagged']} | {_f(v['recall'])} | {_f(v['precision'])} | "
                         f"{_f(v['precision_fraud_excused'])} | {_f(v['indicator_recall'])} |")
        if dr["levels"]["all"]["missed"]:
            lines.append(f"- missed: {', '.join(dr['levels']['all']['missed'][:20])}")
        if dr["levels"]["all"]["wrong"]:
            lines.append(f"- flagged without drift: {', '.join(dr['levels']['all']['wrong'][:20])}")


    ru = {k: v for k, v in report.get("rules", {}).items() if v.get("judged")}
    if ru:
        lines += ["", "## Rules (hit level: the line when a hit names one, else the settlement)", "",
                  "| rule | definite/suspicious | class | hits | judged | confirmed | precision | precision (any truth) |",
                  "|---|---|---|---:|---:|---:|---:|---:|"]
        for rid, v in ru.items():
            lines.append(f"| {rid} | {v['rule_class'] or '–'} | {v['violation_class'] or '–'} | {v['hits']} | "
                         f"{v['judged']} | {v['correct']} | "
                         f"{_f(v['precision'])} | {_f(v['precision_any'])} |")
    return "\n".join(lines) + "\n"
