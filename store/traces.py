"""Reading the packs' paths (药品追溯码) back from Neo4j, for the app and notebooks.

The loaders (``cypher/load/drug_traces.cypher`` and the bulk import) store each code as a
``(:Pack {trace_code})`` with ``DISPENSED_IN`` relationships to the claim lines that settled it,
numbered in time order (``seq``; ``at`` is the scan time or the contract's default). Two
questions are asked of them (``cypher/traces/*.cypher``):

- :func:`pack_paths` -- the settlements of given codes, in order (the ring explorer's pack path);
- :func:`lead_packs` -- the codes of a resale lead: packs settled to its collectors and later
  again at its outlets, each with its whole path (the evidence package's code list).
"""
from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

__all__ = ["pack_paths", "lead_packs"]


def pack_paths(runner, codes: Iterable[str]) -> pd.DataFrame:
    """One row per settlement of each code (``trace_code, seq, at, line_id, visit_id,
    person_id, institution_id, ...``), ordered by code and ``seq``."""
    return runner.read_df("traces/pack_path", {"codes": [str(c) for c in codes]})


def lead_packs(runner, persons: Iterable[str], institutions: Iterable[str], limit: int = 1000) -> pd.DataFrame:
    """``trace_code, steps`` (list of dicts in path order) of the packs settled to one of
    ``persons`` and later again at one of ``institutions``; at most ``limit`` codes."""
    return runner.read_df("traces/lead_packs", {"persons": [str(p) for p in persons],
                                                "institutions": [str(i) for i in institutions],
                                                "limit": int(limit)})
