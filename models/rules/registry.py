"""The rule registry and the runner that turns rule outputs into ``rule_hits``.

A rule is a small function ``fn(fr: Frames, params: dict) -> DataFrame`` that
works on whole tables and returns one row per violation with (some of) the
columns ``visit_id, line_id, entity_id, amount_at_risk, evidence, key,
person_id, institution_id, physician_id``. Its metadata (stable ``rule_id``,
Chinese/English names, category, severity, responsible entity, truth class)
is declared with :func:`rule`; its parameters live in the ``rules`` section of
``models/defaults.yaml`` under its ``rule_id`` (never in code).

A *suspicious* rule's severity follows its measured precision (issue 13): the share of its
hits that fell on a real violation, averaged over the team's cities of every generator
(``models/rule_precision.yaml``, written by ``bench/rule_precision.py --write``): at least
0.8 is ``high``, at least 0.4 ``medium``, below that ``low`` (:func:`measured_severity`). A rule
measured on fewer than two cities or fewer than 20 judged hits keeps its declared severity, as
does every *definite* rule; a ``severity`` in the configuration overrides both.

The categories follow the national smart-monitoring rule base (医保智能监管
"两库" 规则库): ``policy`` (政策类: catalogue and payment rules), ``management``
(管理类: settlement, identity, institution scope, stock) and ``medical``
(医疗类: clinical plausibility and utilisation).

:func:`run_rules` adds the rule's metadata, the visit's parties (person,
institution, physician -- for linking hits into the graph), resolves the
responsible entity (a physician rule on a visit without a physician falls back
to the institution) and a stable ``hit_id`` (a hash of rule, visit, line,
entity and the rule's own discriminating key), so re-runs give identical ids.
"""
from __future__ import annotations

import copy
import functools
import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ringscope.ingest.contract import RULE_HITS_COLUMNS
from ringscope.ingest.vocab import ENTITY_KEY, RULE_CLASSES, SEVERITIES
from ringscope.models.base import Context, load_defaults

from .frames import Frames, frames_for

__all__ = [
    "Rule",
    "RULES",
    "rule",
    "list_rules",
    "measured_precision",
    "measured_severity",
    "severity_for_precision",
    "load_config",
    "rule_defaults",
    "run_rules",
    "HIT_COLUMNS",
    "EXTRA_COLUMNS",
    "SEVERITIES",
    "SCOPES",
    "CATEGORIES",
]

CATEGORIES = ("policy", "management", "medical")
HIT_COLUMNS = list(RULE_HITS_COLUMNS)
EXTRA_COLUMNS = ["amount_claimed", "category", "rule_name_en", "line_id", "violation_class", "person_id", "institution_id",
                 "physician_id"]
_RULE_MODULES = ("items", "duplicates", "identity", "settlement", "scope", "inpatient", "inventory",
                 "prescribing", "traces")

RuleFn = Callable[[Frames, dict[str, Any]], pd.DataFrame]

# What one run of a rule must see whole, so that a city is checked bucket by bucket:
# person -- one person's settlements (with their lines, captures): run per bucket of persons;
# institution -- one institution's (a terminal's bursts, its stock): per bucket of institutions;
# stays -- every inpatient stay of the city (peer groups of stays; a small share of the visits);
# engine -- city-wide peer groups over every row, computed in the columnar engine (graph/sql).
SCOPES = ("person", "institution", "stays", "engine")


@dataclass(frozen=True)
class Rule:
    """One rule of the library: metadata plus the vectorised function."""

    rule_id: str
    name_zh: str
    name_en: str
    category: str
    severity: str
    entity_type: str
    violation_class: str | None
    description: str
    fn: RuleFn = field(repr=False, compare=False)
    needs: tuple[str, ...] = ()       # optional tables (or "face_matches") the rule requires
    rule_class: str = "suspicious"    # definite (the data alone proves the breach) | suspicious (to review)
    scope: str = "person"             # what one run of it must see whole (see SCOPES)

    @property
    def rule_name(self) -> str:
        return f"{self.name_zh} / {self.name_en}"


RULES: dict[str, Rule] = {}


def rule(rule_id: str, name_zh: str, name_en: str, *, category: str, severity: str, rule_class: str,
         entity_type: str, violation_class: str | None, description: str,
         needs: tuple[str, ...] = (), scope: str = "person") -> Callable[[RuleFn], RuleFn]:
    """Decorator registering a rule function under ``rule_id``.

    ``rule_class``: ``definite`` (明确违规: the data alone proves the breach -- a price over its
    cap, an item for the wrong sex, a settlement during a stay elsewhere) or ``suspicious``
    (可疑: a statistical or contextual signal for review)."""
    if rule_class not in RULE_CLASSES:
        raise ValueError(f"{rule_id}: rule_class {rule_class!r} not in {RULE_CLASSES}")
    if scope not in SCOPES:
        raise ValueError(f"{rule_id}: scope {scope!r} not in {SCOPES}")
    if category not in CATEGORIES:
        raise ValueError(f"{rule_id}: category {category!r} not in {CATEGORIES}")
    if severity not in SEVERITIES:
        raise ValueError(f"{rule_id}: severity {severity!r} not in {SEVERITIES}")
    if entity_type not in ENTITY_KEY:
        raise ValueError(f"{rule_id}: entity_type {entity_type!r}")

    def deco(fn: RuleFn) -> RuleFn:
        if rule_id in RULES and RULES[rule_id].fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"duplicate rule id {rule_id}")
        RULES[rule_id] = Rule(rule_id, name_zh, name_en, category, severity, entity_type, violation_class,
                              description, fn, tuple(needs), rule_class, scope)
        return fn

    return deco


def _load_all() -> None:
    for m in _RULE_MODULES:
        importlib.import_module(f"{__package__}.{m}")


def list_rules() -> pd.DataFrame:
    """The registry as a table (for the app and the docs), sorted by ``rule_id``: ``severity`` is
    the one hits carry (:func:`measured_severity`), ``declared_severity`` the rule's own, and
    ``measured_precision`` / ``measured_cities`` what ``models/rule_precision.yaml`` holds."""
    _load_all()
    mp = measured_precision()
    rows = [{"rule_id": r.rule_id, "name_zh": r.name_zh, "name_en": r.name_en, "category": r.category,
             "severity": measured_severity(r), "declared_severity": r.severity,
             "measured_precision": (mp.get(r.rule_id) or {}).get("precision"),
             "measured_cities": (mp.get(r.rule_id) or {}).get("cities", 0),
             "rule_class": r.rule_class, "scope": r.scope, "entity_type": r.entity_type, "violation_class": r.violation_class,
             "needs": ";".join(r.needs), "description": r.description} for r in RULES.values()]
    return pd.DataFrame(rows).sort_values("rule_id", ignore_index=True)


# severity from measured precision: (lowest precision, severity), first that holds
SEVERITY_BY_PRECISION = ((0.8, "high"), (0.4, "medium"), (0.0, "low"))
MIN_MEASURED_CITIES = 2
MIN_MEASURED_HITS = 20


def severity_for_precision(precision: float) -> str:
    """The severity a measured precision earns (:data:`SEVERITY_BY_PRECISION`).

    >>> severity_for_precision(0.92), severity_for_precision(0.5), severity_for_precision(0.05)
    ('high', 'medium', 'low')
    """
    return next(sev for lo, sev in SEVERITY_BY_PRECISION if float(precision) >= lo)


def measured_precision() -> dict[str, dict[str, Any]]:
    """``models/rule_precision.yaml``: per rule id, ``precision`` (mean over cities of the share
    of judged hits on a real violation), ``min``, ``cities`` and ``judged`` (hits judged, all
    cities). Empty when the file is absent."""
    return {k: dict(v) for k, v in _measured().items()}


@functools.lru_cache(maxsize=1)
def _measured() -> dict[str, dict[str, Any]]:
    p = Path(__file__).resolve().parent.parent / "rule_precision.yaml"
    if not p.exists():
        return {}
    doc = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    return {str(k): dict(v) for k, v in (doc.get("rules") or {}).items()}


def measured_severity(r: Rule) -> str:
    """The severity a rule's hits carry: a suspicious rule's from its measured precision, when
    measured on at least two cities and 20 judged hits; else the declared one.

    >>> _load_all()
    >>> measured_severity(RULES["R-POL-001"]) == RULES["R-POL-001"].severity   # definite: declared
    True
    """
    m = _measured().get(r.rule_id)
    if r.rule_class != "suspicious" or not m or m.get("precision") is None \
            or int(m.get("cities", 0)) < MIN_MEASURED_CITIES or int(m.get("judged", 0)) < MIN_MEASURED_HITS:
        return r.severity
    return severity_for_precision(m["precision"])


def rule_defaults() -> dict[str, Any]:
    """The ``rules`` section of ``models/defaults.yaml``: every rule's default parameters."""
    return load_defaults()["rules"]


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The rule defaults with ``overrides`` deep-merged over them."""
    cfg = rule_defaults()
    if overrides:
        cfg = _deep_merge(cfg, overrides)
    return cfg


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _empty_hits() -> pd.DataFrame:
    cols = HIT_COLUMNS + EXTRA_COLUMNS
    df = pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    df["amount_at_risk"] = df["amount_at_risk"].astype(float)
    return df


def _available(r: Rule, fr: Frames) -> bool:
    for n in r.needs:
        if n == "face_matches":
            fm = fr.ctx.face_matches
            if fm is None or len(fm) == 0:
                return False
        elif not fr.has(n):
            return False
    return True


def _finish(r: Rule, raw: pd.DataFrame, fr: Frames, severity: str) -> pd.DataFrame:
    """Rule output -> hit rows in the contract's shape plus the extra columns."""
    n = len(raw)
    h = pd.DataFrame(index=pd.RangeIndex(n))
    for c in ("visit_id", "line_id", "entity_id", "key", "evidence", "person_id", "institution_id", "physician_id"):
        h[c] = raw[c].to_numpy() if c in raw.columns else None
    h["amount_at_risk"] = (pd.to_numeric(raw["amount_at_risk"], errors="coerce").to_numpy()
                           if "amount_at_risk" in raw.columns else np.nan)
    h["amount_at_risk"] = h["amount_at_risk"].astype(float).fillna(0.0).clip(lower=0.0).round(2)
    h["amount_claimed"] = h["amount_at_risk"]
    # the visit's parties, where the rule did not set them itself (a rule that returns all three
    # columns, e.g. from the columnar engine, needs no look-up in the visits frame)
    if h["visit_id"].notna().any() and not set(ENTITY_KEY.values()) <= set(raw.columns):
        pos = fr.visit_pos.get_indexer(h["visit_id"])
        found = pos >= 0
        for c in ("person_id", "institution_id", "physician_id"):
            vals = np.full(len(h), None, dtype=object)
            vals[found] = fr.visits[c].to_numpy(dtype=object)[pos[found]]
            h[c] = h[c].where(h[c].notna(), vals)
    etype = pd.Series(r.entity_type, index=h.index, dtype=object)
    eid = h["entity_id"].where(h["entity_id"].notna(), h[ENTITY_KEY[r.entity_type]])
    if r.entity_type == "physician":   # no physician on record: the institution answers for it
        fallback = eid.isna()
        etype[fallback] = "institution"
        eid = eid.where(~fallback, h["institution_id"])
    h["entity_type"], h["entity_id"] = etype, eid
    h = h[h["entity_id"].notna()].reset_index(drop=True)
    h["rule_id"] = r.rule_id
    h["rule_name"] = r.rule_name
    h["rule_name_en"] = r.name_en
    h["category"] = r.category
    h["severity"] = severity
    h["rule_class"] = r.rule_class
    h["violation_class"] = r.violation_class
    h["evidence"] = h["evidence"].fillna("").astype(str)
    keycols = h[["rule_id", "visit_id", "line_id", "entity_type", "entity_id", "key"]].astype(str)
    digest = pd.util.hash_pandas_object(keycols, index=False).to_numpy()
    hexes = np.frombuffer(digest.astype(">u8").tobytes().hex().encode(), dtype="S16").astype(str)
    h["hit_id"] = np.char.add(f"{r.rule_id}-", hexes) if len(hexes) else np.array([], dtype=object)
    h = h.drop_duplicates("hit_id")
    return h[HIT_COLUMNS + EXTRA_COLUMNS]


# the row tables a bucket's rules read: the trace and stock-book rules read the whole city in the
# engine; an institution's rules (terminal bursts, night sales, ward captures) read no claim lines
_BUCKET_TABLES = {"person": ("visits", "claim_lines", "face_captures"), "institution": ("visits", "face_captures")}


def run_rules(ctx: Context, config: dict[str, Any] | None = None, only: list[str] | None = None,
              timings: dict[str, float] | None = None, partitions: int | None = None,
              allocate: bool = True, errors: list[dict[str, str]] | None = None) -> pd.DataFrame:
    """Run the rule library over ``ctx``'s tables.

    Parameters
    ----------
    ctx:
        validated tables (and ``face_matches`` when the face stage ran).
    config:
        overrides deep-merged over the rule defaults (e.g. ``{"R-MED-001": {"window_days": 30}}``
        or ``{"R-MGT-003": {"enabled": False}}``).
    only:
        run just these rule ids.
    timings:
        if given, filled with seconds spent per rule.
    partitions:
        buckets to work in (default ``ctx.partitions``): with more than one, each rule runs
        over what its :data:`SCOPES` says it must see whole -- a bucket of persons or of
        institutions at a time, every stay, or the whole city in the columnar engine -- so
        memory follows the bucket, not the city; the hits are the same.
    allocate:
        count each claim line at most once, at its worst finding, never above what was billed
        (:func:`ringscope.models.rules.money.allocate`; the rule's own figure stays in
        ``amount_claimed``). Off: each rule's own figure.
    errors:
        if given, a rule that fails (e.g. the columnar engine out of memory on a city) is
        recorded here (``rule_id, error, type``) and the others still run; otherwise the
        failure is raised.

    Returns
    -------
    DataFrame with the contract's ``rule_hits.csv`` columns first, then
    ``category, rule_name_en, line_id, violation_class, person_id,
    institution_id, physician_id``; sorted by rule and hit id.
    """
    _load_all()
    cfg = load_config(overrides=config)
    unknown = set(only or ()) - set(RULES)
    if unknown:
        raise KeyError(f"unknown rule ids: {sorted(unknown)}")
    k = int(partitions if partitions is not None else ctx.partitions)
    whole = frames_for(ctx)
    todo: list[tuple[Rule, dict[str, Any], str]] = []
    for rid in sorted(RULES):
        r = RULES[rid]
        params = dict(cfg.get(rid) or {})
        if only is not None and rid not in only:
            continue
        if not params.pop("enabled", True) or not _available(r, whole):
            continue
        todo.append((r, params, params.pop("severity", None) or measured_severity(r)))
    out: list[pd.DataFrame] = []
    spent: dict[str, float] = {}

    failed: set[str] = set()

    def run(fr: Frames, rules: list[tuple[Rule, dict[str, Any], str]]) -> None:
        for r, params, severity in rules:
            if r.rule_id in failed:       # failed on an earlier bucket: its hits would be partial
                continue
            t0 = time.perf_counter()
            try:
                raw = r.fn(fr, params)
                if raw is not None and len(raw):
                    out.append(_finish(r, raw, fr, severity))
            except Exception as e:  # noqa: BLE001 - one failing rule must not lose the library
                if errors is None:
                    raise
                failed.add(r.rule_id)
                last = (str(e).strip().splitlines() or [type(e).__name__])[0][:500]
                errors.append({"rule_id": r.rule_id, "error": last, "type": type(e).__name__})
            spent[r.rule_id] = spent.get(r.rule_id, 0.0) + time.perf_counter() - t0

    if k <= 1:
        if timings is not None:          # the shared joins, timed apart from the rules that first need them
            t0 = time.perf_counter()
            whole.visits, whole.lines  # noqa: B018
            timings["(shared frames)"] = time.perf_counter() - t0
        run(whole, todo)
    else:
        from ringscope.graph.partition import buckets, visits_where

        from ringscope.progress import say, track

        by_scope = {sc: [t for t in todo if t[0].scope == sc] for sc in SCOPES}
        t0 = time.perf_counter()
        run(whole, by_scope["engine"])
        say("rules", f"全市规则 city-wide rules ({len(by_scope['engine'])}): {time.perf_counter() - t0:.0f} s")
        if by_scope["stays"]:
            t0 = time.perf_counter()
            run(Frames(visits_where(ctx, "v.visit_type = 'inpatient'"), city=whole), by_scope["stays"])
            say("rules", f"住院规则 stay rules ({len(by_scope['stays'])}): {time.perf_counter() - t0:.0f} s")
        zh = {"person": "按人员分桶", "institution": "按机构分桶"}
        for sc in ("person", "institution"):
            if by_scope[sc]:
                for b in track(buckets(ctx, sc, k, tables=_BUCKET_TABLES[sc]), "rules", f"{zh[sc]} {sc} buckets ({len(by_scope[sc])} rules)",
                               total=k, unit="buckets"):
                    run(Frames(b, city=whole), by_scope[sc])
    if timings is not None:
        timings.update(spent)
    if not out:
        return _empty_hits()
    hits = pd.concat(out, ignore_index=True)
    if failed:                            # drop what a failed rule found on earlier buckets
        hits = hits[~hits["rule_id"].isin(failed)]
        if hits.empty:
            return _empty_hits()
    if allocate:     # money counted once per line, never above what was billed (models/rules/money.py)
        from .money import allocate as _allocate, billed_for

        t0 = time.perf_counter()
        hits = _allocate(hits, *billed_for(hits, ctx.columnar))
        if timings is not None:
            timings["(money allocation)"] = time.perf_counter() - t0
    return hits.sort_values(["rule_id", "hit_id"], ignore_index=True)
