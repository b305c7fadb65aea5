"""Early warnings (动态预警) in Neo4j: written by ``detect``, read by the app.

What ``detect`` writes (``cypher/warnings/*.cypher``), each as ``UNWIND $rows`` batches:

- ``Warning`` nodes (one per entity, indicator and month; ``warning_id`` is stable across runs)
  ``ABOUT`` the institution or physician, with the value, the peer band, the level and the
  evidence. A warning raised again keeps its handling (``status``, ``handler``, ``note``); one
  this run did not raise again is kept but marked inactive, never deleted;
- ``IndicatorSeries`` nodes (one per entity and indicator that carries a warning) ``OF`` the
  entity: the months, the values, the band's centre and edges, ``z`` and the level per month --
  what a trend chart against the band draws. Series of earlier runs are replaced.

Read side (for the app's early-warning page; see ``docs/supervision.md``):
:func:`list_warnings` (filters, paging), :func:`entity_warnings`, :func:`indicator_series`,
:func:`warning_summary`; a handler's note with :func:`update_warning`.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["write_warnings", "list_warnings", "entity_warnings", "indicator_series", "warning_summary",
           "update_warning", "WARNING_STATUSES", "WARNING_QUERIES"]

WARNING_QUERIES = ("warnings/write", "warnings/retire", "warnings/series", "warnings/series_retire",
                   "warnings/list", "warnings/entity", "warnings/series_read", "warnings/summary",
                   "warnings/update")
#: a warning's handling: open (待核查), checking (核查中), explained (已说明/排除), referred (转线索/稽核)
WARNING_STATUSES = ("open", "checking", "explained", "referred")

_COLS = ["warning_id", "entity_type", "entity_id", "indicator", "period", "value", "baseline", "band_low",
         "band_high", "z", "level", "kind_of", "change_period", "evidence", "peer_group"]


def _f(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if not np.isfinite(x) else x


def write_warnings(runner, *, run_id: str, warnings: pd.DataFrame, indicators: pd.DataFrame | None = None,
                   batch_size: int = 5000, now: datetime | None = None) -> dict[str, int]:
    """Write this run's warnings (``warnings.csv``'s rows) and the series that carry one; retire
    the warnings of earlier runs not raised again. Returns counts."""
    from ringscope.store.db import records

    now_s = (now or datetime.now()).replace(microsecond=0).isoformat()
    w = warnings.copy()
    for c in _COLS:
        if c not in w.columns:
            w[c] = None
    for c in ("value", "baseline", "band_low", "band_high", "z"):
        w[c] = pd.to_numeric(w[c], errors="coerce").astype(float)
    rows = records(w[_COLS])
    for r in rows:
        for c in ("value", "baseline", "band_low", "band_high", "z"):
            r[c] = _f(r[c])
        for c in ("change_period", "kind_of", "peer_group", "evidence"):
            r[c] = None if r[c] is None else str(r[c])
    out = {"warnings": runner.write_batches("warnings/write", rows, batch_size=batch_size,
                                            params={"run_id": run_id, "now": now_s})}
    out["warnings_retired"] = int(runner.scalar("warnings/retire", {"run_id": run_id, "now": now_s}, write=True) or 0)
    series_rows: list[dict[str, Any]] = []
    if indicators is not None and len(indicators) and len(w):
        key = ["entity_type", "entity_id", "indicator"]
        warned = w[key].drop_duplicates()
        ind = indicators.merge(warned, on=key).sort_values(key + ["period"], kind="mergesort")
        for (et, eid, name), g in ind.groupby(key, sort=False):
            series_rows.append({
                "key": f"{et}|{eid}|{name}", "entity_type": et, "entity_id": str(eid), "indicator": name,
                "periods": g["period"].astype(str).tolist(),
                "values": [_f(v) for v in g["value"]], "baselines": [_f(v) for v in g["baseline"]],
                "band_low": [_f(v) for v in g["band_low"]], "band_high": [_f(v) for v in g["band_high"]],
                "z": [_f(v) for v in g["z"]], "levels": [str(v or "") for v in g.get("level", [""] * len(g))]})
    out["indicator_series"] = runner.write_batches("warnings/series", series_rows, batch_size=1000,
                                                   params={"run_id": run_id})
    out["indicator_series_removed"] = runner.delete_in_batches("warnings/series_retire", {"run_id": run_id})
    return out


def list_warnings(runner, *, levels: Sequence[str] = (), indicators: Sequence[str] = (),
                  entity_type: str | None = None, period_from: str | None = None, period_to: str | None = None,
                  active_only: bool = True, status: str | None = None, skip: int = 0,
                  limit: int = 200) -> pd.DataFrame:
    """Warnings, newest month and strongest level first, with the entity's name and risk score."""
    return runner.read_df("warnings/list", {
        "levels": list(levels), "indicators": list(indicators), "entity_type": entity_type,
        "period_from": period_from, "period_to": period_to, "active_only": bool(active_only), "status": status,
        "skip": int(skip), "limit": int(limit)})


def entity_warnings(runner, entity_type: str, entity_id: str) -> pd.DataFrame:
    """Every warning about one institution or physician."""
    return runner.read_df("warnings/entity", {"entity_type": entity_type, "entity_id": str(entity_id)})


def indicator_series(runner, entity_type: str, entity_id: str, indicator: str) -> pd.DataFrame:
    """The indicator's months with value, band centre and edges, z and level (empty if none stored)."""
    rows = runner.read("warnings/series_read", {"entity_type": entity_type, "entity_id": str(entity_id),
                                                "indicator": indicator})
    cols = ["period", "value", "baseline", "band_low", "band_high", "z", "level"]
    if not rows:
        return pd.DataFrame(columns=cols)
    r = rows[0]
    return pd.DataFrame({"period": r["periods"], "value": r["values"], "baseline": r["baselines"],
                         "band_low": r["band_low"], "band_high": r["band_high"], "z": r["z"],
                         "level": r["levels"]})[cols]


def warning_summary(runner) -> pd.DataFrame:
    """Active warnings counted by month, level, indicator and entity type."""
    return runner.read_df("warnings/summary")


def update_warning(runner, warning_id: str, *, status: str, user: str, note: str | None = None,
                   at: datetime | None = None) -> bool:
    """Record a handler's status and note on a warning; False when the warning is unknown."""
    if status not in WARNING_STATUSES:
        raise ValueError(f"status {status!r}: one of {', '.join(WARNING_STATUSES)}")
    rows = runner.run("warnings/update", {"warning_id": warning_id, "status": status, "user": user, "note": note,
                                          "at": (at or datetime.now()).replace(microsecond=0).isoformat()})
    return bool(rows)
