"""What a detector may read: the :class:`Context` of one detection run.

It carries the validated contract tables (and the columnar engine over them,
:attr:`Context.columnar`) and, as the pipeline's stages run,
what earlier stages produced (face verification, rule hits, detector scores)
plus a cache of projections built once and shared (:func:`ringscope.graph.projection.cached`).
Projections and detectors read it; only the pipeline fills it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["Context"]


@dataclass
class Context:
    """What a detector may read.

    ``tables`` are the validated contract tables (see
    ``ringscope.ingest.contract`` for dtypes). Later stages fill the rest.
    """

    tables: dict[str, pd.DataFrame]
    rule_hits: pd.DataFrame | None = None          # rule_hits.csv columns + category, violation_class, parties
    # capture-level verification (graph.faces.verify_captures): capture_id, visit_id,
    # claimed_person_id, distance, related_person_id, related_distance, verdict, face_id
    face_matches: pd.DataFrame | None = None
    # one row per capture: capture_id, face_id, joined with its identity's attributes
    # (n_captures, n_credentials, enrolled_person_id, first_seen, last_seen, institutions)
    face_identities: pd.DataFrame | None = None
    # early warning (the warning stage): warnings.csv's rows of every warning detector
    warnings: pd.DataFrame | None = None
    scores: dict[str, pd.DataFrame] = field(default_factory=dict)  # detector -> entity scores
    cache: dict[str, Any] = field(default_factory=dict)            # shared projections
    # the columnar engine over the same tables (graph/engine.py); made over ``tables`` when not given
    engine: Any = None

    @property
    def columnar(self) -> Any:
        """The run's :class:`ringscope.graph.engine.Engine` (DuckDB over the tables)."""
        if self.engine is None:
            from ringscope.graph.engine import Engine

            self.engine = Engine.over_frames({k: v for k, v in self.tables.items() if v is not None})
        return self.engine

    def table(self, name: str) -> pd.DataFrame:
        """A table, or an empty frame when the optional table is absent."""
        df = self.tables.get(name)
        return df if df is not None else pd.DataFrame()

    def rows(self, name: str, columns: list[str] | None = None, *, prefilter: str | None = None) -> pd.DataFrame:
        """A table's rows as a frame of the caller's own, without keeping the whole table in memory.

        ``table(name)`` loads a lazy dataset table whole and keeps it for the rest of the run;
        ``rows`` reads only ``columns`` (all when None) through the dataset's columnar files
        and keeps nothing, so a detector holds one copy of what it needs. ``prefilter`` is a
        DuckDB predicate the dataset path applies while reading (e.g. ``item_code IN (SELECT
        item_code FROM catalog WHERE item_type = 'drug')``); a table already in memory is
        returned unfiltered, so the caller still applies its own filter (the prefilter only
        spares memory). Missing optional columns come back as nulls; an absent table empty.

        >>> ctx = Context(tables={"visits": pd.DataFrame({"visit_id": ["a"], "person_id": ["p"]})})
        >>> ctx.rows("visits", ["person_id"]).to_dict("list")
        {'person_id': ['p']}
        """
        ds = getattr(self.tables, "dataset", None)
        if ds is not None and name in self.tables and not ds.is_loaded(name):
            have = ds.columns(name)
            cols = [c for c in (columns or have) if c in have]
            df = ds.table(name, cols, prefilter)
        else:
            df = self.table(name)
            df = df[[c for c in columns if c in df.columns]].copy() if columns is not None else df.copy()
        for c in columns or []:
            if c not in df.columns:
                df[c] = None
        return df

    def has(self, name: str) -> bool:
        """Whether table ``name`` is present with rows (asked of the engine when the table is not
        in memory yet, so a city's large tables are not loaded to answer)."""
        own = (isinstance(self.tables, dict) and dict.__contains__(self.tables, name)) or \
            name in getattr(self.tables, "overridden", ())   # a table the run replaced (e.g. known_cases + outcomes)
        if not own and self.engine is not None and name in self.engine.tables:
            key = f"has:{name}"
            if key not in self.cache:
                self.cache[key] = bool(self.engine.df(f'SELECT EXISTS (SELECT 1 FROM "{name}") AS e')["e"].iloc[0])
            return self.cache[key]
        df = self.tables.get(name)
        return df is not None and len(df) > 0

    @property
    def partitions(self) -> int:
        """How many buckets the run works in (``pipeline.rows_per_bucket``; 1 for a small city)."""
        return int(self.cache.get("partitions", 1))
