"""The app's data layer: every read and write the app makes, checked for the caller.

Pages (and notebooks) call a :class:`DataLayer` built for one
:class:`~ringscope.store.access.Caller` -- the signed-in user, their role and
district scope. Each method

1. checks the role may do it (:func:`~ringscope.store.access.policy`) and that
   the lead or entity is in the caller's scope, raising
   :class:`~ringscope.store.access.PermissionDenied` otherwise;
2. runs named Cypher from ``cypher/app/`` only (never text; ``limit`` and
   ``skip`` clamped to :data:`MAX_LIMIT`), with the caller's scope as
   parameters so lists hold only what the caller may see;
3. masks personal data for the role (names, 身份证号, birth dates, faces) --
   and the rows of persons outside the caller's scope entirely;
4. writes every view of personal data and every export to the tamper-evident
   access log (:mod:`ringscope.store.audit`) with the real user.

So a page, a CSV download or a notebook helper cannot skip a check, the
masking or the log line. Raw query results are cached per process for
:data:`CACHE_TTL_S` seconds (keyed by query and parameters, scope included)
and dropped after any write; masking and logging happen after the cache, on
every call.
"""
from __future__ import annotations

import copy
import datetime as dt
import io
import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ringscope.store.access import (
    Caller,
    PermissionDenied,
    fields_shown,
    mask_frame,
    mask_reporter,
    pixelate_image,
)
from ringscope.store.audit import AccessEvent, AccessLogger

__all__ = ["DataLayer", "MAX_LIMIT", "PAGE_LIMIT", "CACHE_TTL_S", "clamp", "to_frame", "clear_cache",
           "OUT_OF_SCOPE"]

#: no query the app runs returns more rows than this
MAX_LIMIT = 100_000
#: a page's lists
PAGE_LIMIT = 2_000
CACHE_TTL_S = 300.0
#: what a personal field of a person outside the caller's scope shows
OUT_OF_SCOPE = "（辖区外）"

_PERSONAL = ("name", "person_name", "id_number", "birth_date", "other_name", "claimed_name",
             "enrolled_name", "related_name", "claimed_id_number", "claimed_birth_date")


def clamp(value: Any, hi: int = MAX_LIMIT, lo: int = 0) -> int:
    """An integer ``limit``/``skip`` within ``[lo, hi]``.

    >>> clamp(10**9), clamp(-5), clamp("20")
    (100000, 0, 20)
    """
    try:
        v = int(value)
    except (TypeError, ValueError):
        v = lo
    return max(lo, min(hi, v))


def _plain(v: Any) -> Any:
    return v.iso_format() if hasattr(v, "iso_format") else v


def to_frame(rows: list[dict]) -> pd.DataFrame:
    """Records as a frame, temporal values as ISO strings."""
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows)
    for c in df.columns:
        if df[c].dtype == object:
            first = df[c].dropna()
            if len(first) and hasattr(first.iloc[0], "iso_format"):
                df[c] = df[c].map(_plain)
    return df


class _Cache:
    """A small thread-safe TTL + LRU cache of raw query results."""

    def __init__(self, ttl: float = CACHE_TTL_S, max_entries: int = 512):
        self.ttl, self.max_entries = ttl, max_entries
        self._d: OrderedDict[str, tuple[float, list[dict]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> list[dict] | None:
        with self._lock:
            hit = self._d.get(key)
            if hit is None or time.monotonic() - hit[0] > self.ttl:
                self._d.pop(key, None)
                return None
            self._d.move_to_end(key)
            return hit[1]

    def put(self, key: str, rows: list[dict]) -> None:
        with self._lock:
            self._d[key] = (time.monotonic(), rows)
            self._d.move_to_end(key)
            while len(self._d) > self.max_entries:
                self._d.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


_CACHE = _Cache()


def clear_cache() -> None:
    """Drop every cached read (after a write, or when the data changed underneath)."""
    _CACHE.clear()


def _now() -> str:
    return dt.datetime.now().replace(microsecond=0).isoformat()


class DataLayer:
    """Checked, scoped, masked and logged reads and writes for one caller."""

    def __init__(self, runner, caller: Caller, *, logger: AccessLogger | None = None, cache: bool = True):
        self.runner = runner
        self.caller = caller
        self.pol = caller.policy
        self.logger = logger if logger is not None else AccessLogger(runner)
        self._cache = _CACHE if cache else None

    # ------------------------------------------------------------------ plumbing
    def _q(self, name: str, **params: Any) -> pd.DataFrame:
        """Run ``cypher/app/<name>.cypher`` (a name only; limits clamped); cached frame."""
        if "limit" in params:
            params["limit"] = clamp(params["limit"], MAX_LIMIT, 1)
        if "skip" in params:
            params["skip"] = clamp(params["skip"], MAX_LIMIT)
        key = name + "|" + json.dumps(params, sort_keys=True, default=str)
        rows = self._cache.get(key) if self._cache else None
        if rows is None:
            rows = self.runner.run_named(f"app/{name}", params, write=False)
            if self._cache:
                self._cache.put(key, rows)
        return to_frame(copy.deepcopy(rows))

    def _w(self, name: str, params: Mapping[str, Any]) -> list[dict]:
        rows = self.runner.run_named(f"app/{name}", dict(params), write=True)
        clear_cache()
        return rows

    def _need(self, ok: bool, what: str) -> None:
        if not ok:
            raise PermissionDenied(f"the {self.caller.role} role may not {what}")

    @property
    def _scope(self) -> dict[str, Any]:
        return {"districts": self.caller.districts_param, "referred_only": self.pol.referred_only}

    def log(self, page: str, entity: str, fields: list[str], n_records: int = 1, *, action: str = "view") -> None:
        """One access-log entry with the caller's identity."""
        self.logger.log(AccessEvent(user=self.caller.user, role=self.caller.role, page=page, entity=entity,
                                    fields=list(fields), masked=self.pol.masked, n_records=int(n_records),
                                    action=action))

    def _show(self, df: pd.DataFrame, *, page: str, entity: str, person_only_col: str | None = None,
              district_col: str | None = None, member_col: str | None = None, faces: bool = False) -> pd.DataFrame:
        """Mask ``df`` for the caller (and blank persons out of scope); log it when it holds personal data.

        A row is out of scope when its ``district_col`` is outside a district-scoped caller's
        districts, or -- for a caller who sees referred leads only (the police liaison) -- when its
        ``member_col`` is false (the entity belongs to no lead referred to the police). Its personal
        columns then show :data:`OUT_OF_SCOPE` (on person and face rows only when ``person_only_col``
        is given). ``member_col`` is dropped from what is returned."""
        if df.empty:
            return df.drop(columns=[member_col]) if member_col and member_col in df.columns else df
        out = mask_frame(df, self.caller.role, person_only_col=person_only_col)
        outside = pd.Series(False, index=out.index)
        if district_col and district_col in out.columns and not self.caller.citywide:
            outside |= ~out[district_col].isin(self.caller.districts)
        if member_col and member_col in out.columns:
            if self.pol.referred_only:
                outside |= ~out[member_col].eq(True)
            out = out.drop(columns=[member_col])
        if outside.any():
            if person_only_col and person_only_col in out.columns:
                outside &= out[person_only_col].astype(str).isin(["person", "face"])
            for c in out.columns:
                if c in _PERSONAL:
                    out[c] = out[c].astype(object).where(~outside | out[c].isna(), OUT_OF_SCOPE)
        fields = fields_shown([c for c in df.columns if c != member_col], faces=faces)
        if fields:
            self.log(page, entity, fields, len(df))
        return out

    # ------------------------------------------------------------------ scope checks
    def lead_allowed(self, lead_id: str) -> bool:
        """True when the lead exists and is in the caller's scope."""
        if not self.pol.read_cases:
            return False
        r = self._q("scope_lead", lead_id=str(lead_id))
        if r.empty:
            return False
        row = r.iloc[0]
        if self.pol.referred_only and not bool(row["referred"]):
            return False
        return self.caller.in_scope(row["districts"] or [])

    def _lead(self, lead_id: str) -> str:
        self._need(self.pol.read_cases, "read leads")
        if not self.lead_allowed(lead_id):
            raise PermissionDenied(f"lead {lead_id} is outside {self.caller.user}'s scope")
        return str(lead_id)

    def entity_allowed(self, entity_type: str, entity_id: str) -> bool:
        if not self.pol.read_cases or entity_type not in ("person", "physician", "institution"):
            return False
        r = self._q("scope_entity", entity_type=entity_type, entity_id=str(entity_id))
        if r.empty:
            return False
        row = r.iloc[0]
        if self.pol.referred_only and not bool(row["referred"]):
            return False
        return self.caller.in_scope(row["districts"] or [])

    def _entity(self, entity_type: str, entity_id: str) -> dict[str, str]:
        self._need(self.pol.read_cases, "read entities")
        if not self.entity_allowed(entity_type, entity_id):
            raise PermissionDenied(f"{entity_type} {entity_id} is outside {self.caller.user}'s scope")
        return {"entity_type": entity_type, "entity_id": str(entity_id)}

    # ------------------------------------------------------------------ leads
    def lead_facets(self) -> pd.DataFrame:
        self._need(self.pol.read_cases, "read leads")
        return self._q("lead_facets", **self._scope)

    def lead_queue(self, *, schemes=(), statuses=(), min_score: float = 0.0, min_amount: float = 0.0,
                   assignee: str | None = None, district: str | None = None, skip: int = 0,
                   limit: int = 100) -> pd.DataFrame:
        self._need(self.pol.read_cases, "read leads")
        return self._q("lead_queue", schemes=list(schemes), statuses=list(statuses), min_score=float(min_score),
                       min_amount=float(min_amount), assignee=assignee, district=district, skip=skip,
                       limit=clamp(limit, PAGE_LIMIT, 1), **self._scope)

    def review_queue(self, limit: int = 10) -> pd.DataFrame:
        """The leads suggested for review next (建议优先复核: the last ``detect``'s active-learning
        queue, :mod:`ringscope.store.feedback`), open ones in the caller's scope, best first."""
        self._need(self.pol.read_cases, "read leads")
        return self._q("review_queue", limit=clamp(limit, PAGE_LIMIT, 1), **self._scope)

    def lead_detail(self, lead_id: str) -> dict | None:
        df = self._q("lead_detail", lead_id=self._lead(lead_id))
        return None if df.empty else df.iloc[0].to_dict()

    def lead_members(self, lead_id: str, *, page: str = "leads") -> pd.DataFrame:
        lid = self._lead(lead_id)
        return self._show(self._q("lead_members", lead_id=lid), page=page, entity=f"lead:{lid}",
                          person_only_col="entity_type")

    def lead_events(self, lead_id: str) -> pd.DataFrame:
        return self._q("lead_events", lead_id=self._lead(lead_id))

    def update_lead(self, params: Mapping[str, Any]) -> list[dict]:
        """Apply a :class:`~ringscope.app.workflow.LeadChange`'s parameters, checked:
        moving a lead needs ``edit_status``, assignee/deadline ``assign``, a note
        ``add_notes``, recovered money/outcome ``edit_status``. The user and role
        recorded are the caller's, whatever ``params`` says. When the outcome
        changes, the credit of the lead's physicians and institutions is
        computed again and each change recorded (:func:`ringscope.store.credit.record_for_lead`).
        Returns the new event (empty when someone else changed the lead first)."""
        p = dict(params)
        lid = self._lead(p["lead_id"])
        cur = self.lead_detail(lid) or {}
        self._need(self.pol.writes, "change a lead")
        if p.get("to_status") != p.get("from_status"):
            self._need(self.pol.edit_status, "move a lead to another step")
        if (p.get("assignee") or None) != (cur.get("assignee") or None) or \
                (p.get("deadline") or None) != (cur.get("deadline") or None):
            self._need(self.pol.assign, "assign a lead or set its deadline")
        if p.get("note"):
            self._need(self.pol.add_notes, "write notes on a lead")
        if float(p.get("recovered") or 0.0) != float(cur.get("recovered") or 0.0) or \
                (p.get("outcome") or None) != (cur.get("outcome") or None):
            self._need(self.pol.edit_status, "record recovered money or an outcome")
        p.update(user=self.caller.user, role=self.caller.role, lead_id=lid)
        rows = self._w("lead_update", p)
        if rows and (p.get("outcome") or None) != (cur.get("outcome") or None):
            # the outcome moved (confirmed, or an appeal upheld / a finding withdrawn): the credit of
            # the lead's physicians and institutions follows, recorded as a change (信用记录沿革)
            from ringscope.store.credit import record_for_lead

            try:
                at = dt.datetime.fromisoformat(str(p.get("at")))
            except ValueError:
                at = None
            record_for_lead(self.runner, lid, by=self.caller.user, now=at)   # dated as the disposal
        return rows

    def lead_history(self, lead_id: str) -> pd.DataFrame:
        """The lead's versions, one per detection run, newest first (线索沿革)."""
        return self._q("lead_history", lead_id=self._lead(lead_id))

    # ------------------------------------------------------------------ early warning (动态预警)
    def warning_summary(self) -> pd.DataFrame:
        """Active warnings in the caller's scope by month, level and indicator."""
        self._need(self.pol.browse_all, "browse early warnings")
        return self._q("warnings_summary", districts=self.caller.districts_param)

    def warnings(self, *, page: str = "early_warning", **filters: Any) -> pd.DataFrame:
        """Warnings in the caller's scope (filters: ``levels, indicators, entity_type, entity_id,
        period_from, period_to, active_only, status``; paging)."""
        self._need(self.pol.browse_all, "browse early warnings")
        params = dict(levels=[], indicators=[], entity_type=None, entity_id=None, period_from=None, period_to=None,
                      active_only=True, status=None, skip=0, limit=200) | filters
        params["limit"] = clamp(params["limit"], PAGE_LIMIT, 1)
        df = self._q("warnings_list", **params, districts=self.caller.districts_param)
        return self._show(df, page=page, entity="warnings", person_only_col="entity_type")

    def warning_series(self, entity_type: str, entity_id: str, indicator: str | None = None) -> pd.DataFrame:
        """One institution's or physician's warned indicators month by month against the peer band
        (``indicator, period, indicator_value, baseline, band_low, band_high, z, warn_level``)."""
        if entity_type not in ("institution", "physician"):
            raise ValueError(f"early warnings concern institutions and physicians, not {entity_type!r}")
        key = self._entity(entity_type, entity_id)
        df = self._q("warning_series", **key, indicator=indicator)
        cols = ["indicator", "period", "indicator_value", "baseline", "band_low", "band_high", "z", "warn_level"]
        rows = []
        for r in df.itertuples(index=False):
            for k, p in enumerate(r.periods or []):
                rows.append((r.indicator, p, r.values[k], r.baselines[k], r.band_low[k], r.band_high[k], r.z[k],
                             r.levels[k] or None))
        return pd.DataFrame(rows, columns=cols)

    def update_warning(self, warning_id: str, entity_type: str, entity_id: str, *, status: str,
                       note: str | None = None) -> bool:
        """A handler's status and note on a warning about an entity in the caller's scope (needs the
        right to write notes); False when no such warning is about that entity."""
        from ringscope.store.warnings import WARNING_STATUSES

        self._need(self.pol.add_notes, "handle early warnings")
        if status not in WARNING_STATUSES:
            raise ValueError(f"status {status!r}: one of {', '.join(WARNING_STATUSES)}")
        key = self._entity(entity_type, entity_id)
        rows = self._w("warning_update", {"warning_id": str(warning_id), **key, "status": status,
                                          "note": note or None, "user": self.caller.user, "role": self.caller.role,
                                          "at": _now(), "event_id": uuid.uuid4().hex})
        return bool(rows)

    # ------------------------------------------------------------------ tip-offs (举报线索)
    def tipoffs(self, *, status: str | None = None, today: str | None = None, skip: int = 0,
                limit: int = 200, page: str = "tipoffs") -> pd.DataFrame:
        """The tip-off ledger: the reporter's identity only for the role that handles tip-offs
        (:func:`~ringscope.store.access.mask_reporter`); every view logged, with the fields shown."""
        from ringscope.store.tipoffs import list_tipoffs

        self._need(self.pol.read_cases and self.pol.browse_all, "read the tip-off ledger")
        df = list_tipoffs(self.runner, status=status, today=today, skip=clamp(skip),
                          limit=clamp(limit, PAGE_LIMIT, 1))
        out = mask_reporter(df, self.caller.role)
        named = len(df) > 0 and bool(df["anonymous"].eq(False).any())
        self.logger.log(AccessEvent(user=self.caller.user, role=self.caller.role, page=page, entity="tipoffs",
                                    fields=["reporter"] if named else ["tipoff"], masked=not self.pol.tipoffs,
                                    n_records=len(df)))
        return out

    def tipoff_matches(self, tipoff_id: str) -> pd.DataFrame:
        """The tip-off's named entities with their risk score and the leads that include them."""
        from ringscope.store.tipoffs import tipoff_matches

        self._need(self.pol.read_cases and self.pol.browse_all, "read the tip-off ledger")
        return tipoff_matches(self.runner, str(tipoff_id))

    def intake_tipoffs(self, rows: list[dict[str, Any]] | None = None, *, csv_data: bytes | str | None = None,
                       rule=None) -> dict[str, Any]:
        """Register tip-offs (rows, or a CSV file's bytes): only the tip-off handling role."""
        from ringscope.store.supervision import load_supervision
        from ringscope.store.tipoffs import import_csv, intake

        self._need(self.pol.tipoffs, "register tip-offs")
        rule = rule or load_supervision().reward_rule()
        res = import_csv(self.runner, csv_data, user=self.caller.user, rule=rule) if csv_data is not None \
            else intake(self.runner, list(rows or []), user=self.caller.user, rule=rule)
        clear_cache()
        return res

    def update_tipoff(self, tipoff_id: str, *, rule=None, **change: Any) -> dict[str, Any]:
        """Accept, reject, assign, conclude a tip-off (outcome and reward): only the handling role.
        The rule is the configured one (:func:`~ringscope.store.supervision.load_supervision`) unless given."""
        from ringscope.store.supervision import load_supervision
        from ringscope.store.tipoffs import update_tipoff

        self._need(self.pol.tipoffs, "handle tip-offs")
        res = update_tipoff(self.runner, str(tipoff_id), user=self.caller.user, role=self.caller.role,
                            rule=rule or load_supervision().reward_rule(), **change)
        clear_cache()
        return res

    # ------------------------------------------------------------------ random inspections (双随机、一公开)
    def _inspections_read(self) -> None:
        self._need(self.pol.read_cases and self.pol.browse_all, "read random inspections")

    def inspection_draws(self, *, page: str = "inspections", limit: int = 100) -> pd.DataFrame:
        """The draws, newest first, counted over the caller's districts; the view logged."""
        from ringscope.store.inspections import list_draws

        self._inspections_read()
        df = list_draws(self.runner, districts=self.caller.districts_param, limit=clamp(limit, PAGE_LIMIT, 1))
        self.log(page, "inspection_draws", ["inspection"], len(df))
        return df

    def inspections(self, draw_id: str | None = None, *, status: str | None = None, page: str = "inspections",
                    limit: int = PAGE_LIMIT) -> pd.DataFrame:
        """Inspections (of one draw) of institutions in the caller's districts, with the team and
        the result; the view logged (inspectors' names are public officials', not personal data)."""
        from ringscope.store.inspections import list_inspections

        self._inspections_read()
        df = list_inspections(self.runner, draw_id=draw_id, districts=self.caller.districts_param, status=status,
                              limit=clamp(limit, MAX_LIMIT, 1))
        self.log(page, f"inspections:{draw_id or 'all'}", ["inspection", "inspector"], len(df))
        return df

    def inspection_record(self, draw_id: str, *, page: str = "inspections") -> dict | None:
        """A draw's record (seed, parameters, hashes, strata; for the whole city's users also both
        lists with every institution's risk and the picks: they cover every district); the view logged."""
        from ringscope.store.inspections import draw_record

        self._inspections_read()
        rec = draw_record(self.runner, str(draw_id))
        if rec is not None and not self.caller.citywide:
            rec = {k: v for k, v in rec.items() if k not in ("institutions", "inspectors", "picks")}
        if rec is not None:
            self.log(page, f"inspection_draw:{draw_id}", ["inspection", "risk"], len(rec.get("institutions") or []))
        return rec

    def verify_inspection_draw(self, draw_id: str, *, current_lists: bool = False, page: str = "inspections"):
        """Re-draw a stored draw from its record (:func:`ringscope.store.inspections.verify_stored`)."""
        from ringscope.store.inspections import verify_stored

        self._inspections_read()
        rep = verify_stored(self.runner, str(draw_id), current_lists=current_lists)
        self.log(page, f"inspection_draw:{draw_id}:verify", ["inspection"], 1)
        return rep

    def inspectors(self) -> pd.DataFrame:
        """The inspectors list (执法检查人员名录) with their bindings."""
        from ringscope.store.inspections import inspector_list

        self._inspections_read()
        return pd.DataFrame(inspector_list(self.runner), columns=["inspector_id", "name", "unit", "bound"])

    def draw_inspections(self, *, inspectors_csv: bytes | str | None = None, n: int | None = None,
                         risk_share: float | None = None, team_size: int | None = None, seed: int | None = None,
                         kinds: list[str] | None = None, title: str = "", page: str = "inspections") -> dict[str, Any]:
        """Draw random inspections (the role that draws them only) from the institutions in the
        caller's districts and the inspectors list (a CSV given: written first), with the configured
        parameters and these overrides. Returns the record with ``quarantine`` (inspector rows not used)."""
        from ringscope.store.inspections import draw_and_store, draw_params, parse_inspectors

        self._need(self.pol.inspections, "draw random inspections")
        insps, bad = (parse_inspectors(inspectors_csv) if inspectors_csv is not None else (None, []))
        rec = draw_and_store(self.runner, inspectors=insps, params=draw_params(n=n, risk_share=risk_share,
                                                                                team_size=team_size),
                             seed=seed, kinds=list(kinds or []), districts=self.caller.districts_param,
                             user=self.caller.user, role=self.caller.role, title=title)
        clear_cache()
        self.log(page, f"inspection_draw:{rec['draw_id']}", ["inspection"], len(rec["picks"]), action="draw")
        return rec | {"quarantine": bad}

    def record_inspection(self, inspection_id: str, *, inspected_on: str, outcome: str, finding: str | None = None,
                          amount: float | None = 0.0, page: str = "inspections") -> dict[str, Any]:
        """Record an inspection's result (the drawing role; the institution in the caller's scope)."""
        from ringscope.store.inspections import record_result

        self._need(self.pol.inspections, "record inspection results")
        inst = self.runner.run_named("inspections/list", {"draw_id": None, "districts": self.caller.districts_param,
                                                          "status": None, "skip": 0, "limit": MAX_LIMIT})
        if not any(r["inspection_id"] == str(inspection_id) for r in inst):
            raise PermissionDenied(f"inspection {inspection_id} is unknown or outside {self.caller.user}'s scope")
        res = record_result(self.runner, str(inspection_id), inspected_on=inspected_on, outcome=outcome,
                            finding=finding, amount=amount, user=self.caller.user, role=self.caller.role)
        clear_cache()
        self.log(page, f"inspection:{inspection_id}", ["inspection"], 1, action="record")
        return res

    def institution_inspections(self, institution_id: str, *, page: str = "entity_360") -> pd.DataFrame:
        """The random inspections of one institution in the caller's scope, with their results."""
        from ringscope.store.inspections import institution_inspections

        key = self._entity("institution", institution_id)
        df = institution_inspections(self.runner, key["entity_id"])
        self.log(page, f"institution:{institution_id}:inspections", ["inspection"], len(df))
        return df

    def inspections_csv(self, draw_id: str, *, page: str = "inspections") -> bytes:
        """The published list of a draw (in the caller's districts) as CSV; logged as an export."""
        from ringscope.store.inspections import list_inspections, publication_csv

        self._inspections_read()
        df = list_inspections(self.runner, draw_id=str(draw_id), districts=self.caller.districts_param)
        self.log(page, f"inspections:{draw_id}:csv", ["inspection", "inspector"], len(df), action="export")
        return publication_csv(df)

    # ------------------------------------------------------------------ briefing
    def briefing(self, today: str | None = None) -> dict[str, pd.DataFrame]:
        """Leads, monthly rule hits and fund outlay, officers' workload and monthly
        disposal events, all within the caller's scope. No personal data."""
        self._need(self.pol.read_cases and self.pol.browse_all, "read the briefing")
        s = self._scope
        return {
            "leads": self._q("briefing_leads", **s),
            "hits": self._q("briefing_rule_hits_monthly", districts=s["districts"]),
            "fund": self._q("briefing_fund_monthly", districts=s["districts"]),
            "officers": self._q("briefing_officers", today=today or dt.date.today().isoformat(), **s),
            "events": self._q("briefing_events", **s),
        }

    # ------------------------------------------------------------------ ring explorer
    def ring_rows(self, lead_id: str, limit: int = 50_000, *, page: str = "ring_explorer") -> dict[str, pd.DataFrame]:
        """The rows a lead's subgraph is built from, names masked for the caller."""
        lid = self._lead(lead_id)
        lim = clamp(limit, MAX_LIMIT, 1)
        members = self._q("lead_members", lead_id=lid)
        visits = self._q("lead_subgraph_visits", lead_id=lid, limit=lim)
        faces = self._q("lead_subgraph_faces", lead_id=lid, limit=lim)
        family = self._q("lead_subgraph_family", lead_id=lid, limit=lim)
        n = len(members) + len(visits) + len(faces) + len(family)
        family = self._scoped_family(mask_frame(family, self.caller.role))
        out = {
            "members": mask_frame(members, self.caller.role, person_only_col="entity_type"),
            "visits": mask_frame(visits, self.caller.role),
            "faces": self._scoped_faces(mask_frame(faces, self.caller.role)),
            "family": family,
        }
        if n:
            self.log(page, f"lead:{lid}", ["name"], n)
        return out

    def _scoped_family(self, family: pd.DataFrame) -> pd.DataFrame:
        """A lead's family rows with the relatives outside the caller's scope unnamed: for the police
        liaison every relative who is not a member of the (referred) lead, for a district-scoped
        caller a relative who is not a member and lives outside the caller's districts."""
        return self._scoped_third_party(family, "related")

    def _scoped_faces(self, faces: pd.DataFrame) -> pd.DataFrame:
        """A lead's face rows with the person a face is enrolled as unnamed when that person is
        outside the caller's scope (the rule of :meth:`_scoped_family`); the enrolled person's id
        stays, so the bureau can name them on request. The scoping columns are dropped."""
        return self._scoped_third_party(faces, "enrolled").drop(
            columns=["enrolled_is_member", "enrolled_district"], errors="ignore")

    def _scoped_third_party(self, df: pd.DataFrame, prefix: str) -> pd.DataFrame:
        """Blank ``<prefix>_name``, ``_id_number`` and ``_birth_date`` where the third party named by
        the row (a relative, the person a face is enrolled as) is not a member of the lead and, for a
        district-scoped caller, lives outside the caller's districts; for the police liaison, every
        non-member."""
        member, district = f"{prefix}_is_member", f"{prefix}_district"
        if df.empty or member not in df.columns:
            return df
        outside = ~df[member].eq(True)
        if not self.pol.referred_only:
            if self.caller.citywide or district not in df.columns:
                return df
            outside &= ~df[district].isin(self.caller.districts)
        df = df.copy()
        for c in (f"{prefix}_name", f"{prefix}_id_number", f"{prefix}_birth_date"):
            if c in df.columns:
                df[c] = df[c].astype(object).where(~outside | df[c].isna(), OUT_OF_SCOPE)
        return df

    def lead_rule_hits(self, lead_id: str, limit: int = 2000) -> pd.DataFrame:
        return self._q("lead_rule_hits", lead_id=self._lead(lead_id), limit=limit)

    def lead_pack_paths(self, lead_id: str, limit: int = 200, *, page: str = "ring_explorer") -> pd.DataFrame:
        """The packs (药品追溯码) behind a lead: codes settled more than once, one of them to a member
        person or at a member institution; one row per settlement in path order (``seq``), at most
        ``limit`` codes. Person names masked for the caller; the view is logged."""
        lid = self._lead(lead_id)
        df = self._q("lead_pack_paths", lead_id=lid, limit=clamp(limit, MAX_LIMIT, 1))
        return self._show(df, page=page, entity=f"lead:{lid}:packs")

    def expand_node(self, entity_type: str, entity_id: str, limit: int = 25, *,
                    page: str = "ring_explorer") -> pd.DataFrame:
        """The direct neighbours of a node (Ring explorer's expand), scoped and masked."""
        key = self._entity(entity_type, entity_id)
        df = self._q("node_neighbours", **key, limit=clamp(limit, 200, 1))
        return self._show(df, page=page, entity=f"{entity_type}:{entity_id}:expand",
                          person_only_col="entity_type", district_col="district", member_col="referred_member")

    def shortest_path(self, a: tuple[str, str], b: tuple[str, str], max_hops: int = 8, *,
                      page: str = "ring_explorer") -> pd.DataFrame:
        """Nodes on a shortest path between two entities (both must be in scope)."""
        ka, kb = self._entity(*a), self._entity(*b)
        df = self._q("shortest_path", a_type=ka["entity_type"], a_id=ka["entity_id"], b_type=kb["entity_type"],
                     b_id=kb["entity_id"], max_hops=clamp(max_hops, 12, 1))
        return self._show(df, page=page, entity=f"path:{a[0]}:{a[1]}->{b[0]}:{b[1]}",
                          person_only_col="entity_type", district_col="district", member_col="referred_member")

    def node_notes(self, lead_id: str) -> pd.DataFrame:
        return self._q("node_notes", lead_id=self._lead(lead_id))

    def add_node_note(self, lead_id: str, node_key: str, text: str) -> str:
        lid = self._lead(lead_id)
        self._need(self.pol.add_notes, "write notes")
        text = (text or "").strip()
        if not text:
            raise ValueError("an empty note")
        note_id = uuid.uuid4().hex
        self._w("node_note_add", {"lead_id": lid, "note_id": note_id, "node_key": str(node_key),
                                  "text": text[:2000], "user": self.caller.user, "at": _now()})
        return note_id

    def saved_views(self, lead_id: str) -> pd.DataFrame:
        return self._q("views", lead_id=self._lead(lead_id))

    def save_view(self, lead_id: str, name: str, state: Mapping[str, Any]) -> str:
        lid = self._lead(lead_id)
        self._need(self.pol.add_notes or self.pol.edit_status, "save views on a lead")
        view_id = uuid.uuid4().hex
        self._w("view_save", {"lead_id": lid, "view_id": view_id, "name": (name or "").strip()[:200] or view_id[:8],
                              "state": json.dumps(dict(state), ensure_ascii=False, sort_keys=True, default=str),
                              "user": self.caller.user, "at": _now()})
        return view_id

    # ------------------------------------------------------------------ entities
    def entity_search(self, entity_type: str, q: str = "", limit: int = 200, *,
                      page: str = "entity_360") -> pd.DataFrame:
        """Entities by id prefix (and by name for roles that see names), scoped, masked; the view logged."""
        self._need(self.pol.read_cases, "search entities")
        if self.pol.referred_only:   # the liaison reaches entities through referred leads only
            return pd.DataFrame(columns=["entity_type", "entity_id", "name", "district", "risk_score"])
        df = self._q("entity_search", entity_type=entity_type, q=str(q or ""), by_name=bool(self.pol.clear_names),
                     limit=clamp(limit, PAGE_LIMIT, 1), districts=self.caller.districts_param)
        # a list of names is a view of personal data: masked and logged like any other
        return self._show(df, page=page, entity=f"search:{entity_type}", person_only_col="entity_type")

    def entity_profile(self, entity_type: str, entity_id: str, *, page: str = "entity_360") -> dict | None:
        key = self._entity(entity_type, entity_id)
        df = self._q("entity_profile", **key)
        if df.empty:
            return None
        prof = df.iloc[0].to_dict()
        # the leads it belongs to: only those the caller may read (for the liaison: referred ones)
        prof["lead_ids"] = [lid for lid in (prof.get("lead_ids") or []) if self.lead_allowed(str(lid))]
        props = pd.DataFrame([dict(prof.get("props") or {})])
        if entity_type == "person":
            props = self._show(props, page=page, entity=f"{entity_type}:{entity_id}")
        prof["props"] = props.iloc[0].to_dict()
        return prof

    def entity_rule_hits(self, entity_type: str, entity_id: str, limit: int = 1000) -> pd.DataFrame:
        return self._q("entity_rule_hits", **self._entity(entity_type, entity_id), limit=clamp(limit, PAGE_LIMIT, 1))

    def entity_neighbours(self, entity_type: str, entity_id: str, limit: int = 200, *,
                          page: str = "entity_360") -> pd.DataFrame:
        df = self._q("entity_neighbours", **self._entity(entity_type, entity_id), limit=clamp(limit, PAGE_LIMIT, 1))
        return self._show(df, page=page, entity=f"{entity_type}:{entity_id}:neighbours",
                          person_only_col="entity_type", district_col="district", member_col="referred_member")

    def entity_links(self, entity_type: str, entity_id: str, limit: int = 500, *,
                     page: str = "entity_360") -> pd.DataFrame:
        df = self._q("entity_links", **self._entity(entity_type, entity_id), limit=clamp(limit, PAGE_LIMIT, 1))
        if df.empty:
            return df.drop(columns=["referred_member"], errors="ignore")
        # the leads an entity belongs to: only those the caller may read (a liaison's referred ones)
        is_lead = df["other_type"].eq("lead")
        if is_lead.any():
            allowed = {lid: self.lead_allowed(str(lid)) for lid in df.loc[is_lead, "other_id"].unique()}
            df = df[~is_lead | df["other_id"].map(allowed).eq(True)].reset_index(drop=True)
        df = df.assign(kind=df["other_type"].where(~df["other_type"].isin(["person", "face"]), "person"),
                       referred_member=df["referred_member"].where(~df["other_type"].eq("lead"), True))
        out = self._show(df, page=page, entity=f"{entity_type}:{entity_id}:ties", person_only_col="kind",
                         district_col="other_district", member_col="referred_member")
        return out.drop(columns=["kind"], errors="ignore")

    def entity_history(self, entity_type: str, entity_id: str) -> pd.DataFrame:
        return self._q("entity_history", **self._entity(entity_type, entity_id))

    def entity_explanations(self, entity_type: str, entity_id: str) -> pd.DataFrame:
        return self._q("entity_explanations", **self._entity(entity_type, entity_id))

    def credit_inputs(self, entity_type: str, entity_id: str | None) -> pd.DataFrame:
        """One physician's/institution's credit inputs, or the register (public registration data)."""
        self._need(self.pol.read_cases and not self.pol.referred_only or entity_id is not None,
                   "read the credit register")
        if entity_id is not None:
            self._entity(entity_type, entity_id)
        return self._q("credit_inputs", entity_type=entity_type, entity_id=entity_id)

    def credit_history(self, entity_type: str, entity_id: str, *, page: str = "entity_360") -> pd.DataFrame:
        """A physician's or institution's credit records (信用记录沿革), newest first, with the appeal
        steps (申诉) of the leads they named (:func:`ringscope.store.credit.credit_history`); the
        entity must be in the caller's scope; the view is logged. Never computes a standing."""
        from ringscope.store.credit import credit_history

        if entity_type not in ("physician", "institution"):
            raise ValueError(f"credit is kept for physicians and institutions, not {entity_type!r}")
        key = self._entity(entity_type, entity_id)
        df = credit_history(self.runner, key["entity_type"], key["entity_id"])
        self.log(page, f"{entity_type}:{entity_id}:credit", ["credit"], len(df))
        return df

    # ------------------------------------------------------------------ rule hits, faces
    def rule_names(self) -> dict[str, str]:
        """The rule library's names (``rule_id`` -> ``中文 / English``): catalogue data, no case data."""
        self._need(self.pol.read_cases, "read the rule library")
        df = self._q("rule_hit_facets", districts=None)
        return dict(zip(df["rule_id"], df["rule_name"].fillna(""))) if len(df) else {}

    def rule_hit_facets(self) -> pd.DataFrame:
        self._need(self.pol.browse_all, "browse rule hits")
        return self._q("rule_hit_facets", districts=self.caller.districts_param)

    def rule_hits(self, *, page: str = "rule_hits", **filters: Any) -> pd.DataFrame:
        self._need(self.pol.browse_all, "browse rule hits")
        params = dict(rule_ids=[], severities=[], entity_type=None, entity_id=None, month_from=None,
                      month_to=None, min_amount=0.0, skip=0, limit=200) | filters
        params["limit"] = clamp(params["limit"], PAGE_LIMIT, 1)
        df = self._q("rule_hits_browse", **params, districts=self.caller.districts_param)
        return self._show(df, page=page, entity="rule_hits", person_only_col="entity_type")

    def faces_summary(self) -> pd.DataFrame:
        self._need(self.pol.browse_all, "browse face captures")
        return self._q("faces_summary", districts=self.caller.districts_param)

    def faces_captures(self, *, page: str = "faces", **filters: Any) -> pd.DataFrame:
        self._need(self.pol.browse_all, "browse face captures")
        params = dict(verdicts=[], institution_id=None, person_id=None, face_id=None, min_distance=0.0,
                      skip=0, limit=50) | filters
        params["limit"] = clamp(params["limit"], PAGE_LIMIT, 1)
        df = self._q("faces_captures", **params, districts=self.caller.districts_param)
        return self._show(df, page=page, entity="face_captures")

    def face_image(self, path: Any, dataset: Path | None, *, page: str, entity: str) -> bytes | None:
        """A face image from the dataset, pixelated for roles without clearance; logged."""
        self._need(self.pol.read_cases, "see face images")
        if path is None or path != path:
            return None
        p = Path(str(path))
        if not p.is_absolute():
            if dataset is None:
                return None
            p = Path(dataset) / p
        try:
            p = p.resolve()
            if dataset is not None and Path(dataset).resolve() not in p.parents:
                return None  # only images inside the dataset
            raw = p.read_bytes() if p.is_file() else None
        except OSError:
            return None
        if raw is None:
            return None
        self.log(page, entity, ["face"], 1)
        return raw if self.pol.clear_faces else pixelate_image(raw)

    # ------------------------------------------------------------------ evidence
    def evidence_rows(self, lead_id: str, limit: int = MAX_LIMIT) -> dict[str, pd.DataFrame]:
        """Everything an evidence package holds, masked for the caller (export rights checked)."""
        self._need(self.pol.export_evidence, "export evidence packages")
        lid = self._lead(lead_id)
        lim = clamp(limit, MAX_LIMIT, 1)
        role = self.caller.role
        raw = {
            "lead_members": self._q("lead_members", lead_id=lid),
            "lead_visits": self._q("lead_visits", lead_id=lid, limit=lim),
            "lead_claim_lines": self._q("lead_claim_lines", lead_id=lid, limit=lim),
            "lead_rule_hits": self._q("lead_rule_hits", lead_id=lid, limit=lim),
            "lead_events": self._q("lead_events", lead_id=lid),
            "lead_face_captures": self._q("lead_face_captures", lead_id=lid, limit=lim),
            "lead_subgraph_visits": self._q("lead_subgraph_visits", lead_id=lid, limit=lim),
            "lead_subgraph_faces": self._q("lead_subgraph_faces", lead_id=lid, limit=lim),
            "lead_subgraph_family": self._q("lead_subgraph_family", lead_id=lid, limit=lim),
            "lead_pack_paths": self._q("lead_pack_paths", lead_id=lid, limit=lim),
        }
        out = {k: mask_frame(v, role, person_only_col="entity_type" if k == "lead_members" else None)
               for k, v in raw.items()}
        out["lead_subgraph_family"] = self._scoped_family(out["lead_subgraph_family"])
        for k in ("lead_face_captures", "lead_subgraph_faces"):
            out[k] = self._scoped_faces(out[k])
        fields = sorted({f for v in raw.values() for f in fields_shown(list(v.columns))})
        self.log("evidence", f"lead:{lid}:evidence_package", fields + ["face"],
                 sum(len(v) for v in raw.values()), action="export")
        return out

    def record_package(self, lead_id: str, manifest_sha256: str, n_files: int) -> dict:
        """Record a built package's manifest hash on its lead in Neo4j."""
        self._need(self.pol.export_evidence, "export evidence packages")
        lid = self._lead(lead_id)
        rows = self._w("package_record", {"lead_id": lid, "manifest_sha256": manifest_sha256, "at": _now(),
                                          "user": self.caller.user, "role": self.caller.role,
                                          "masked": self.pol.masked, "n_files": int(n_files)})
        return rows[0] if rows else {}

    def check_package(self, manifest_sha256: str) -> pd.DataFrame:
        """The recorded builds of a manifest hash (any caller with case access)."""
        self._need(self.pol.read_cases, "check evidence packages")
        return self._q("package_check", manifest_sha256=str(manifest_sha256))

    def export_csv(self, df: pd.DataFrame, *, page: str, entity: str) -> bytes:
        """A frame the caller already sees, as CSV (UTF-8 with BOM); logged as an export."""
        self.log(page, entity, fields_shown(list(df.columns)) or ["none"], len(df), action="export")
        buf = io.StringIO()
        df.to_csv(buf, index=False)
        return buf.getvalue().encode("utf-8-sig")

    def log_export(self, page: str, entity: str, fields: list[str], n_records: int) -> None:
        """Log an export the caller made of data already checked (a PDF, a picture)."""
        self.log(page, entity, fields or ["none"], n_records, action="export")

    # ------------------------------------------------------------------ notebooks
    def notebook(self, name: str, **params: Any) -> pd.DataFrame:
        """``cypher/notebooks/<name>.cypher`` for an analyst's notebook: checked, scoped, masked, logged
        like a page. A ``lead_id`` must be a lead the caller may read; the caller's ``$districts`` and
        ``$referred_only`` are passed whatever ``params`` says, and every notebook query filters by them."""
        self._need(self.pol.read_cases and self.pol.browse_all, "query the case database from a notebook")
        if params.get("lead_id") is not None:
            params["lead_id"] = self._lead(str(params["lead_id"]))
        if "limit" in params:
            params["limit"] = clamp(params["limit"], MAX_LIMIT, 1)
        shown = {k: v for k, v in params.items() if k not in ("districts", "referred_only")}
        df = to_frame(self.runner.run_named(f"notebooks/{name}", {**params, **self._scope}, write=False))
        person_col = "entity_type" if "entity_type" in df.columns else None
        return self._show(df, page=f"notebook:{name}", entity=json.dumps(shown, sort_keys=True, default=str)[:200],
                          person_only_col=person_col)

    @classmethod
    def for_notebook(cls, runner, user: str | None = None, *, password: str | None = None,
                     token: str | None = None) -> DataLayer:
        """The data layer of a notebook's user, signed in like the app's login form: with a session
        token (``token`` or ``$RINGSCOPE_NB_TOKEN``, :func:`~ringscope.store.users.caller_from_token`),
        or with a user name (``user``, ``$RINGSCOPE_NB_USER``, else the login name) and password
        (``password``, ``$RINGSCOPE_NB_PASSWORD``, else asked for in an interactive Jupyter kernel),
        checked against the users file (:class:`~ringscope.store.users.UserStore`). Role and district
        scope come from that file. Someone without an active account, or with a wrong password or an
        invalid token, is refused (:class:`~ringscope.store.access.PermissionDenied`): there is no
        default role."""
        import getpass
        import os
        import sys

        from ringscope.store.users import UserStore, caller_from_token

        store = UserStore()
        token = token or os.environ.get("RINGSCOPE_NB_TOKEN") or None
        if token:
            got = caller_from_token(token, store)
            if got is None:
                raise PermissionDenied("登录凭证无效、已过期或账号已停用，请重新登录。"
                                       " / The session token is invalid or expired, or the account is disabled.")
            return cls(runner, got[0])
        name = user or os.environ.get("RINGSCOPE_NB_USER") or getpass.getuser()
        u = store.get(name)
        if u is None or not u.active:
            raise PermissionDenied(f"用户 {name} 没有可用的系统账号，不能从笔记本读取案件数据；请系统管理员开通"
                                   f"（ringscope users add）。 / {name} has no active account: notebooks read the "
                                   "case database only as a signed-in user (ask an administrator: ringscope users add).")
        if password is None:
            password = os.environ.get("RINGSCOPE_NB_PASSWORD")
        shell = sys.modules["IPython"].get_ipython() if "IPython" in sys.modules else None
        if password is None and getattr(shell, "kernel", None) is not None:   # Jupyter: ask, never echo
            try:
                password = getpass.getpass(f"{name} 的密码 / password: ")
            except Exception:   # a kernel run without a front end (nbclient) cannot ask
                password = None
        if not password or store.authenticate(name, password) is None:
            raise PermissionDenied(f"用户 {name} 的密码不正确或未提供（$RINGSCOPE_NB_PASSWORD）。"
                                   f" / Wrong or missing password for {name} ($RINGSCOPE_NB_PASSWORD).")
        return cls(runner, u.caller())

    # ------------------------------------------------------------------ audit
    def access_log_recent(self, limit: int = 200, user: str | None = None) -> pd.DataFrame:
        """The newest access-log entries in Neo4j (administrator only; never cached)."""
        self._need(self.pol.audit, "read the access log")
        return to_frame(self.runner.run_named("app/access_log_recent", {
            "user": user, "entity": None, "limit": clamp(limit, PAGE_LIMIT, 1)}))

    def users(self) -> pd.DataFrame:
        """The app's users without their password hashes (administrator only)."""
        from ringscope.store.users import UserStore

        self._need(self.pol.audit, "list users")
        return pd.DataFrame([u.public() for u in UserStore().list()])

    def audit_state(self):
        """The access log's verification (:func:`ringscope.store.audit.verify_log`; administrator only)."""
        from ringscope.store.audit import verify_log

        self._need(self.pol.audit, "check the access log")
        return verify_log(self.logger.path, runner=self.runner)

