"""Outcomes teach the models (issue 15, item 4): investigators' verdicts as labels, and the review queue.

Every ``detect`` used to learn only from the dataset's ``known_cases`` (closed cases the bureau
exported). The investigators' own verdicts recorded in ringscope are labels too, with their date:

- a **lead closed** (结案) with outcome ``confirmed`` (查实) labels its members ``fraud``; with
  ``cleared`` (排除), ``cleared``. The members are those the lead had when it was closed (its last
  ``LeadVersion`` made no later than the closing), not what a later run made of it;
- a **tip-off closed with a verified amount** (举报查实) labels the entities it names ``fraud``. A
  tip-off closed without one clears nobody: the report was not substantiated, which says nothing
  about whether the entities are clean;
- random-inspection results (双随机 item 3 of the issue) are not in the store yet; when they are, they
  join here as a third source in the same shape.

:func:`outcome_labels` returns them as a frame in the shape of the contract's ``known_cases``
(``case_id, entity_type, entity_id, label, scheme, closed_on``) plus ``source`` (``lead`` or
``tipoff``), ``source_id`` and ``closed_at`` (the time of day, to order two verdicts of one day).
``ringscope labels export --out FILE`` writes it; ``ringscope detect --labels-from-store`` or
``--labels FILE`` uses it together with ``known_cases`` (the precedence rule is in
:func:`ringscope.pipeline.feedback.merge_labels`).

The review queue (建议优先复核) is computed by ``detect``
(:func:`ringscope.pipeline.feedback.review_queue`) and stored here as ``ReviewSuggestion`` nodes
(:func:`write_review_queue`); the app reads it with :func:`read_review_queue` through its data
layer and never computes it.

>>> closed = pd.DataFrame({"lead_id": ["L1", "L2"], "scheme": ["card_lending", "other"],
...                        "outcome": ["confirmed", "cleared"],
...                        "closed_at": ["2025-03-02T10:00:00", "2025-03-05T09:30:00"],
...                        "members": [["person:P1", "institution:H1"], "person:P2"]})
>>> lead_outcome_labels(closed)[["case_id", "entity_type", "entity_id", "label", "closed_on"]].values.tolist()
[['lead:L1:institution:H1', 'institution', 'H1', 'fraud', '2025-03-02'], ['lead:L1:person:P1', 'person', 'P1', 'fraud', '2025-03-02'], ['lead:L2:person:P2', 'person', 'P2', 'cleared', '2025-03-05']]
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd

__all__ = ["LABEL_COLUMNS", "FEEDBACK_QUERIES", "REVIEW_COLUMNS", "lead_outcome_labels", "outcome_labels",
           "write_review_queue", "read_review_queue"]

#: the contract's known_cases columns, then where each label came from
LABEL_COLUMNS = ["case_id", "entity_type", "entity_id", "label", "scheme", "closed_on", "source", "source_id",
                 "closed_at"]
FEEDBACK_QUERIES = ("feedback/lead_outcomes", "feedback/tipoff_outcomes", "feedback/review_write",
                    "feedback/review_retire", "app/review_queue")
#: what the review queue stores per suggested lead
REVIEW_COLUMNS = ["lead_id", "review_rank", "uncertainty", "amount_weight", "novelty", "priority", "gain", "reason"]
_OUTCOME_LABEL = {"confirmed": "fraud", "cleared": "cleared"}
_TYPES = ("person", "physician", "institution")


def _members(m: Any) -> list[str]:
    if isinstance(m, (list, tuple, set, frozenset)):
        return sorted(str(x) for x in m if x)
    return sorted(x for x in str(m or "").split(";") if x)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in LABEL_COLUMNS})


def lead_outcome_labels(closed: pd.DataFrame) -> pd.DataFrame:
    """Labels from closed leads (``lead_id, scheme, outcome, closed_at, members``; members typed ids,
    a list or ``;``-separated): one row per lead and member, ``fraud`` for ``confirmed``,
    ``cleared`` for ``cleared`` (other outcomes are ignored). Pure: ``detect`` reads the closed leads
    from Neo4j, ``bench/bench_feedback.py`` makes them from a simulated investigator's verdicts."""
    rows: list[dict[str, Any]] = []
    for r in closed.itertuples(index=False):
        label = _OUTCOME_LABEL.get(str(r.outcome))
        if label is None:
            continue
        at = pd.Timestamp(r.closed_at)
        for m in _members(r.members):
            t, _, i = m.partition(":")
            if t in _TYPES and i:
                rows.append({"case_id": f"lead:{r.lead_id}:{m}", "entity_type": t, "entity_id": i, "label": label,
                             "scheme": str(r.scheme or "other"), "closed_on": at.strftime("%Y-%m-%d"),
                             "source": "lead", "source_id": str(r.lead_id), "closed_at": at.isoformat()})
    if not rows:
        return _empty()
    return pd.DataFrame(rows, columns=LABEL_COLUMNS).sort_values("case_id", kind="stable").reset_index(drop=True)


def _tipoff_labels(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    out = []
    for r in rows:
        at = pd.Timestamp(r["closed_at"])
        out.append({"case_id": f"tipoff:{r['tipoff_id']}:{r['entity_type']}:{r['entity_id']}",
                    "entity_type": r["entity_type"], "entity_id": str(r["entity_id"]), "label": "fraud",
                    "scheme": "other", "closed_on": at.strftime("%Y-%m-%d"), "source": "tipoff",
                    "source_id": str(r["tipoff_id"]), "closed_at": at.isoformat()})
    return pd.DataFrame(out, columns=LABEL_COLUMNS) if out else _empty()


def outcome_labels(runner) -> pd.DataFrame:
    """Every outcome recorded in the store as a label (the module's docstring says which), in the
    ``known_cases`` shape plus ``source, source_id, closed_at``; sorted by ``case_id``."""
    leads = runner.read("feedback/lead_outcomes")
    parts = [lead_outcome_labels(pd.DataFrame(leads, columns=["lead_id", "scheme", "outcome", "closed_at",
                                                              "event_id", "closed_by", "members"]))]
    parts.append(_tipoff_labels(runner.read("feedback/tipoff_outcomes")))
    parts = [p for p in parts if len(p)]
    if not parts:
        return _empty()
    return pd.concat(parts, ignore_index=True).sort_values("case_id", kind="stable").reset_index(drop=True)


def write_review_queue(runner, queue: pd.DataFrame, *, run_id: str, now: datetime | None = None) -> dict[str, int]:
    """Replace the stored review queue with this run's (``queue``: :data:`REVIEW_COLUMNS`)."""
    now_s = (now or datetime.now()).replace(microsecond=0).isoformat()
    rows = [{c: (r[c].item() if hasattr(r[c], "item") else r[c]) for c in REVIEW_COLUMNS}
            for r in queue[REVIEW_COLUMNS].to_dict("records")] if len(queue) else []
    for r in rows:
        r["lead_id"], r["review_rank"] = str(r["lead_id"]), int(r["review_rank"])
    n = runner.write_batches("feedback/review_write", rows, batch_size=1000, params={"run_id": run_id, "now": now_s})
    removed = runner.delete_in_batches("feedback/review_retire", {"run_id": run_id})
    return {"review_queue": n, "review_queue_removed": removed}


def read_review_queue(runner, *, districts: list[str] | None = None, referred_only: bool = False,
                      limit: int = 20) -> pd.DataFrame:
    """The stored queue, best first, leads closed since left out, within the districts given."""
    return runner.read_df("app/review_queue", {"districts": districts, "referred_only": bool(referred_only),
                                                    "limit": int(limit)})
