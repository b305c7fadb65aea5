"""Drug traceability codes (药品追溯码): the pack paths and the volumes they are judged against.

Every pack of medicine carries a 20-digit traceability code that is scanned when the pack is
settled (contract table ``drug_traces``). A pack is sold once, so a code on a second
settlement is a pack that came back (回流药), was swapped (串换) or was swiped without a sale
(空刷) -- unless the earlier sale was refunded, the pack was split (拆零) or the scanner
repeated itself. The projections here run in the columnar engine (``graph/sql/trace_*.sql``,
DuckDB over the run's tables): on a city's year, tens of millions of packs, only the codes
seen more than once and a few aggregates ever reach Python.

- :func:`trace_steps` -- the path of every code seen on more than one row, step by step in
  scan order, each step classified (``first``, ``after_reversal``, ``split``, ``scanner``,
  ``repeat``) with its holder (the sale before it);
- :func:`trace_volumes` -- packs dispensed per institution, and per person and prescriber
  asked for: the volumes repeats are compared with;
- :func:`unbought_packs` -- packs dispensed where the institution's stock book (进销存) shows no
  purchase of the item in or before the month.

The rule family :mod:`ringscope.models.rules.traces` and the detector
:mod:`ringscope.models.detectors.drug_resale` read them (cached per parameters in
``ctx.cache``). The step classes are documented in ``docs/detectors.md`` ("Drug resale").

>>> import pandas as pd
>>> from ringscope.graph.context import Context
>>> t = pd.Timestamp
>>> ctx = Context(tables={
...     "visits": pd.DataFrame({"visit_id": ["v1", "v2", "v3"], "person_id": ["a", "b", "c"],
...                             "institution_id": ["H1", "P9", "P9"], "visit_type": "pharmacy",
...                             "start_time": [t("2025-03-01 09:00"), t("2025-03-20 10:00"), t("2025-03-20 10:03")]}),
...     "claim_lines": pd.DataFrame({"line_id": ["l1", "l2", "l3"], "visit_id": ["v1", "v2", "v3"],
...                                  "item_code": "D1", "quantity": 1.0, "amount": 80.0}),
...     "drug_traces": pd.DataFrame({"line_id": ["l1", "l2", "l3"], "trace_code": ["8" * 20] * 3})})
>>> trace_steps(ctx)[["seq", "person_id", "institution_id", "status", "h_person"]].values.tolist()
[[1, 'a', 'H1', 'first', None], [2, 'b', 'P9', 'repeat', 'a'], [3, 'c', 'P9', 'scanner', None]]
"""
from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ringscope.graph.context import Context
from ringscope.graph.projection import cached

__all__ = ["STEP_STATUSES", "has_traces", "trace_steps", "trace_volumes", "unbought_packs"]

# the classes of a step of a pack's path; only "repeat" is a pack settled again
STEP_STATUSES = ("first", "after_reversal", "split", "scanner", "repeat")


def has_traces(ctx: Context) -> bool:
    """Whether the run has trace codes and the tables they hang on."""
    return all(ctx.has(t) for t in ("drug_traces", "claim_lines", "visits"))


def _engine(ctx: Context):
    eng = ctx.columnar
    if not getattr(eng, "_trace_views", False):
        eng.script("trace_views")
        eng._trace_views = True
    return eng


def trace_steps(ctx: Context, scanner_minutes: float = 30.0, split_tolerance: float = 0.05) -> pd.DataFrame:
    """Every step of the path of every code seen on more than one dispensing row
    (``graph/sql/trace_steps.sql``), ordered by code and scan time.

    Columns: ``trace_code, seq, n_steps, line_id, visit_id, item_code, person_id,
    institution_id, visit_type, terminal_id, visit_physician, prescriber, ts, ts_defaulted,
    reversed, quantity, amount, n_codes, pack_qty, pack_amount, status`` and the holder
    ``h_person, h_inst, h_line, h_visit, h_prescriber, h_visit_type, h_ts, h_item`` (the sale
    before this one; empty on a first sale and a scanner repeat).
    """
    def build() -> pd.DataFrame:
        if not has_traces(ctx):
            return _empty_steps()
        df = _engine(ctx).query("trace_steps", {"scanner_minutes": float(scanner_minutes),
                                                "split_tolerance": float(split_tolerance)})
        for c in ("seq", "n_steps", "n_codes"):
            df[c] = df[c].astype("int64")
        return _objects(df)

    return cached(ctx, f"traces:steps:{float(scanner_minutes)}:{float(split_tolerance)}", build)


def trace_volumes(ctx: Context, persons: Iterable[str] = (), physicians: Iterable[str] = (),
                  items: Iterable[str] = ()) -> pd.DataFrame:
    """Packs dispensed (``entity_type, entity_id, packs, item_packs``) per institution that
    scans, and per person and prescriber given (``graph/sql/trace_volumes.sql``);
    ``item_packs`` counts only packs of ``items``."""
    cols = ["entity_type", "entity_id", "packs", "item_packs"]
    if not has_traces(ctx):
        return pd.DataFrame({c: pd.Series(dtype=object if c.startswith("entity") else "int64") for c in cols})
    want = pd.DataFrame({"entity_type": ["person"] * len(list(persons := list(persons))) +
                         ["physician"] * len(list(physicians := list(physicians))),
                         "entity_id": [str(p) for p in persons] + [str(d) for d in physicians]})
    it = pd.DataFrame({"item_code": [str(i) for i in items]})
    df = _engine(ctx).query("trace_volumes", frames={"want": want.astype(object), "items": it.astype(object)})
    df["packs"] = df["packs"].astype("int64")
    df["item_packs"] = df["item_packs"].astype("int64")
    return _objects(df[cols])


def unbought_packs(ctx: Context, grace_months: int = 3, counted: pd.DataFrame | None = None,
                   max_codes: int = 20) -> pd.DataFrame:
    """Claim lines whose packs were dispensed where the stock book shows no purchase of the
    item in or before the month (``graph/sql/trace_unbought.sql``): ``line_id, visit_id,
    institution_id, person_id, physician_id, item_code, amount, n_codes, mon, first_buy, first_stock, kind`` (``never`` |
    ``later``), ``n_packs``, ``n_uncounted`` (not in ``counted``: ``line_id, trace_code``) and
    up to ``max_codes`` ``codes``. Empty without ``inventory``."""
    if not (has_traces(ctx) and ctx.has("inventory")):
        return pd.DataFrame(columns=["line_id", "visit_id", "institution_id", "person_id", "physician_id",
                                     "item_code", "amount", "n_codes", "mon",
                                     "first_buy", "first_stock", "kind", "n_packs", "n_uncounted", "codes"])
    c = counted if counted is not None else pd.DataFrame({"line_id": [], "trace_code": []})
    df = _engine(ctx).query("trace_unbought", {"grace_months": int(grace_months), "max_codes": int(max_codes)},
                            frames={"counted": c[["line_id", "trace_code"]].astype(object)})
    return _objects(df)


def _objects(df: pd.DataFrame) -> pd.DataFrame:
    """Strings as Python ``str`` (missing = None), as the contract's frames hold them."""
    for c in df.columns:
        if df[c].dtype == object or str(df[c].dtype).startswith("string"):
            s = df[c].astype(object)
            df[c] = s.where(s.notna(), None)
    return df


def _empty_steps() -> pd.DataFrame:
    obj = ["trace_code", "line_id", "visit_id", "item_code", "person_id", "institution_id", "visit_type",
           "terminal_id", "visit_physician", "prescriber", "status", "h_person", "h_inst", "h_line", "h_visit",
           "h_prescriber", "h_visit_type", "h_item"]
    cols: dict[str, pd.Series] = {c: pd.Series(dtype=object) for c in obj}
    for c in ("seq", "n_steps", "n_codes"):
        cols[c] = pd.Series(dtype="int64")
    for c in ("quantity", "amount", "pack_qty", "pack_amount"):
        cols[c] = pd.Series(dtype=float)
    for c in ("ts", "h_ts"):
        cols[c] = pd.Series(dtype="datetime64[ns]")
    cols["ts_defaulted"] = pd.Series(dtype=bool)
    cols["reversed"] = pd.Series(dtype=bool)
    return pd.DataFrame(cols)
