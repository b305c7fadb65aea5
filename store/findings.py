"""Write detection findings into Neo4j, linked to what they concern.

What ``detect`` writes (see ``docs/graph-model.md``), each as ``UNWIND $rows``
batches through :meth:`QueryRunner.write_batches` with the statements in
``cypher/findings/*.cypher``:

- ``RuleHit`` nodes, ``ON_VISIT`` their settlement and ``AGAINST`` the entity
  held responsible (``rule_hits``);
- ``FaceIdentity`` nodes with ``ENROLLED_AS`` their enrolled person, and on each
  ``FaceCapture`` its ``verdict``/``distance`` and ``OF_FACE`` its identity
  (``face_identities``, ``face_captures``);
- ``risk_score``/``risk_reasons`` on persons, physicians and institutions
  (``entity_risk``);
- ``ModelExplanation`` nodes (one per learned model and entity) ``EXPLAINS``
  the person, physician or institution: the model's method, its score, and
  as JSON text the features and the neighbouring entities that drove it
  (``model_explanations``; those of earlier runs are removed by ``run_id``);
- ``Lead`` nodes ``INCLUDES`` their members (``leads``, ``lead_members``): a
  lead id seen before keeps its ``status``, ``assignee``, ``deadline`` and
  ``LeadEvent`` history; only detection fields change. Leads of earlier runs
  not found again are marked inactive, never deleted (``leads_retire``);
- one ``LeadVersion`` per lead and run (members added and dropped, score, amount, merges and
  splits with the ids involved: :mod:`ringscope.store.history`), from the active leads in the
  database before the run;
- ``Warning`` and ``IndicatorSeries`` nodes (early warning, :mod:`ringscope.store.warnings`).

Every write is idempotent (MERGE on keys); rule hits and face identities of an
earlier run that this run did not produce are removed by ``run_id``.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import pandas as pd

__all__ = ["write_findings", "read_previous_leads", "FINDINGS_QUERIES"]

log = logging.getLogger(__name__)

FINDINGS_QUERIES = ("findings/rule_hits", "findings/rule_hits_retire", "findings/face_identities",
                    "findings/face_identities_retire", "findings/face_captures", "findings/entity_risk",
                    "findings/leads", "findings/lead_members", "findings/leads_retire", "findings/read_leads",
                    "findings/model_explanations", "findings/model_explanations_retire")


def _rows(df: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    from ringscope.store.db import records

    d = df.copy()
    for c in columns:
        if c not in d.columns:
            d[c] = None
    return records(d, columns)


def _iso(s: pd.Series) -> pd.Series:
    t = pd.to_datetime(s, errors="coerce")
    return t.dt.strftime("%Y-%m-%dT%H:%M:%S").where(t.notna(), None)


def write_findings(runner, *, run_id: str, rule_hits: pd.DataFrame | None = None,
                   face_matches: pd.DataFrame | None = None, face_identities: pd.DataFrame | None = None,
                   entity_scores: pd.DataFrame | None = None, leads: pd.DataFrame | None = None,
                   explanations: list[dict[str, Any]] | None = None,
                   warnings: pd.DataFrame | None = None, indicators: pd.DataFrame | None = None,
                   batch_size: int = 10_000, now: datetime | None = None) -> dict[str, int]:
    """Write every finding given; return counts of rows sent per kind.

    ``explanations``: dicts of :meth:`LearnedDetector.explain_many` (``model,
    entity_type, entity_id, score, method, features, neighbours`` and any
    model-specific extras)."""
    now_s = (now or datetime.now()).replace(microsecond=0).isoformat()
    p = {"run_id": run_id}
    out: dict[str, int] = {}
    if rule_hits is not None:
        cols = ["hit_id", "rule_id", "rule_name", "category", "severity", "amount_at_risk", "evidence",
                "violation_class", "visit_id", "entity_type", "entity_id"]
        rh = rule_hits.astype({"hit_id": str})
        out["rule_hits"] = runner.write_batches("findings/rule_hits", _rows(rh, cols), batch_size=batch_size, params=p)
        out["rule_hits_removed"] = runner.delete_in_batches("findings/rule_hits_retire", p)
    if face_identities is not None and len(face_identities):
        fi = face_identities.copy()
        for c in ("first_seen", "last_seen"):
            fi[c] = _iso(fi[c]) if c in fi.columns else None
        cols = ["face_id", "n_captures", "n_credentials", "n_institutions", "enrolled_person_id",
                "first_seen", "last_seen"]
        out["face_identities"] = runner.write_batches("findings/face_identities", _rows(fi, cols),
                                                      batch_size=batch_size, params=p)
        out["face_identities_removed"] = runner.delete_in_batches("findings/face_identities_retire", p)
    if face_matches is not None and len(face_matches):
        fm = face_matches.copy()
        fm["distance"] = pd.to_numeric(fm.get("distance"), errors="coerce")
        cols = ["capture_id", "verdict", "distance", "related_person_id", "face_id"]
        out["face_captures"] = runner.write_batches("findings/face_captures", _rows(fm, cols),
                                                    batch_size=batch_size)
    if entity_scores is not None and len(entity_scores):
        es = entity_scores[["entity_type", "entity_id", "score", "reasons"]]
        out["entity_scores"] = runner.write_batches("findings/entity_risk", _rows(es, list(es.columns)),
                                                    batch_size=batch_size)
    if explanations is not None:
        out["model_explanations"] = runner.write_batches(
            "findings/model_explanations", [_explanation_row(e) for e in explanations], batch_size=1000, params=p)
        out["model_explanations_removed"] = runner.delete_in_batches("findings/model_explanations_retire", p)
    if warnings is not None:
        from ringscope.store.warnings import write_warnings

        out.update(write_warnings(runner, run_id=run_id, warnings=warnings, indicators=indicators,
                                  batch_size=min(batch_size, 5000), now=now))
    if leads is not None:
        from ringscope.store.history import write_versions

        before = read_previous_leads(runner)
        if before is not None:
            before = before[before["active"]].reset_index(drop=True)
        ld = leads.copy()
        cols = ["lead_id", "scheme", "score", "amount_at_risk", "summary", "rank", "n_members", "detectors"]
        out["leads"] = runner.write_batches("findings/leads", _rows(ld, cols), batch_size=1000,
                                            params={**p, "now": now_s})
        mem = [{"lead_id": str(r.lead_id), "members": [m for m in str(r.members).split(";") if m]}
               for r in ld[["lead_id", "members"]].itertuples(index=False)]
        out["lead_members"] = runner.write_batches("findings/lead_members", mem, batch_size=500)
        out["leads_retired"] = int(runner.scalar("findings/leads_retire", {**p, "now": now_s}, write=True) or 0)
        out.update(write_versions(runner, run_id=run_id, previous=before, leads=ld, now=now))
    return out


_EXPLANATION_CORE = ("model", "entity_type", "entity_id", "score", "method", "features", "neighbours")


def _explanation_row(e: dict[str, Any]) -> dict[str, Any]:
    import json

    def text(v: Any) -> str:
        return json.dumps(v, ensure_ascii=False, default=str, sort_keys=True)

    score = e.get("score")
    return {"key": f"{e['model']}|{e['entity_type']}|{e['entity_id']}", "model": str(e["model"]),
            "entity_type": str(e["entity_type"]), "entity_id": str(e["entity_id"]),
            "score": None if score is None or pd.isna(score) else float(score),
            "method": str(e.get("method") or ""), "features": text(e.get("features") or []),
            "neighbours": text(e.get("neighbours") or []),
            "details": text({k: v for k, v in e.items() if k not in _EXPLANATION_CORE})}


def read_previous_leads(runner) -> pd.DataFrame | None:
    """``lead_id, scheme, members, status, active`` of every Lead in the database (None when none)."""
    rows = runner.read("findings/read_leads")
    if not rows:
        return None
    return pd.DataFrame([{"lead_id": r["lead_id"], "scheme": r["scheme"] or "other",
                          "members": ";".join(sorted(m for m in (r["members"] or []) if m)),
                          "status": r["status"], "active": bool(r.get("active", True))} for r in rows])
