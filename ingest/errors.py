"""The one exception of the reader: a dataset whose structure breaks the contract.

Kept in its own module so that every part of the reader (the record scanner,
the Parquet sources, the validator) raises the same class without importing
each other; :mod:`ringscope.ingest.reader` re-exports it.

>>> raise ContractError("visits.csv lacks required column(s): visits.start_time")
Traceback (most recent call last):
...
ringscope.ingest.errors.ContractError: visits.csv lacks required column(s): visits.start_time
"""
from __future__ import annotations

__all__ = ["ContractError"]


class ContractError(Exception):
    """The dataset's structure breaks the contract (nothing has been written)."""
