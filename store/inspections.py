"""Random inspections (双随机、一公开) in Neo4j: the lists, the draw, its record, the results, the
published list.

- **Lists.** The institutions list is read from the graph (:func:`institution_list`): every
  institution (or those of some kinds, in some districts) with its risk from the latest
  detection run -- ``1 - (1 - entity score)(1 - w)``, ``w`` the configured weight of its strongest
  active early warning. The inspectors list (执法检查人员名录) comes from a CSV
  (:data:`INSPECTOR_COLUMNS`; ``bound``: the institutions an inspector must never inspect,
  ``;``-separated) and is kept as ``Inspector`` nodes ``BOUND_TO`` those institutions
  (:func:`write_inspectors`, :func:`inspector_list`).
- **Draw** (:func:`draw_and_store`): :func:`ringscope.store.inspection_draw.draw` on the two lists
  with the configured parameters (``store/supervision.yaml``, ``inspections``), stored as an
  ``InspectionDraw`` (seed, parameters, list hashes, result hash, the whole record as JSON)
  ``INCLUDES`` one ``Inspection`` per drawn institution (``OF`` it), each inspector ``ASSIGNED``.
  The same seed, lists and parameters give the same draw id: storing it again adds nothing.
- **Verify** (:func:`verify_stored`): the stored record re-drawn; optionally against the lists as
  they are now (a changed list: a different hash, and the check fails).
- **Results** (:func:`record_result`, :func:`import_results`): date, finding, amount, outcome
  (:data:`OUTCOMES`), each recording an ``InspectionEvent``; shown on the institution
  (:func:`institution_inspections`).
- **Publication** (:func:`publication_frame`, :func:`publication_csv`): the list with Chinese
  headings (抽查对象、执法检查人员、检查结果), with the seed and the hashes in the heading lines of the
  PDF (``ringscope.app.inspections_pdf``). Risk and how each institution was drawn are kept in the
  record for audit, not published (a published risk mark would tell the institution it is watched).

>>> combined_risk(0.5, 0.6)
0.8
>>> parse_results([{"inspection_id": "RI-x-0001", "inspected_on": "2024-07-01", "outcome": "recover",
...                 "amount": "1200", "finding": "串换药品"}])[0][0]["amount"]
1200.0
"""
from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import date, datetime
from typing import Any

import pandas as pd

from ringscope.store.inspection_draw import (
    DrawParams,
    VerifyReport,
    canonical_inspectors,
    draw,
    verify,
)

__all__ = ["institution_list", "combined_risk", "parse_inspectors", "write_inspectors", "inspector_list",
           "draw_params", "draw_and_store", "store_draw", "draw_record", "verify_stored", "list_draws",
           "list_inspections", "parse_results", "record_result", "import_results", "institution_inspections",
           "publication_frame", "publication_csv", "OUTCOMES", "INSPECTOR_COLUMNS", "RESULT_COLUMNS",
           "INSPECTION_QUERIES", "PUBLIC_HEADINGS"]

INSPECTION_QUERIES = ("inspections/institution_list", "inspections/inspectors_write", "inspections/inspectors_list",
                      "inspections/draw_write", "inspections/picks_write", "inspections/draws_list",
                      "inspections/draw_record", "inspections/list", "inspections/result_write",
                      "inspections/of_institution")
#: an inspection's outcome: 未发现问题, 责令整改, 追回基金, 行政处罚, 协议处理 (暂停/解除服务协议), 移送 (公安/纪检监察)
OUTCOMES = ("no_issue", "rectify", "recover", "penalty", "agreement", "referred")
INSPECTOR_COLUMNS = ("inspector_id", "name", "unit", "bound")
RESULT_COLUMNS = ("inspection_id", "inspected_on", "finding", "amount", "outcome")
#: the published list's headings (zh, en)
PUBLIC_HEADINGS = {
    "seq": ("序号", "No."), "institution_name": ("检查对象", "Institution"), "institution_id": ("机构编码", "Code"),
    "kind": ("机构类别", "Kind"), "district": ("区县", "District"), "inspectors": ("执法检查人员", "Inspectors"),
    "inspected_on": ("检查日期", "Inspected on"), "outcome": ("检查结果", "Outcome"),
    "amount": ("追回/处罚金额(元)", "Amount (CNY)"), "finding": ("发现问题", "Finding"),
}
_KIND = {"hospital": ("医院", "hospital"), "clinic": ("诊所", "clinic"), "community": ("基层医疗机构", "community"),
         "pharmacy": ("药店", "pharmacy")}
_OUTCOME = {"no_issue": ("未发现问题", "no issue"), "rectify": ("责令整改", "rectification ordered"),
            "recover": ("追回基金", "funds recovered"), "penalty": ("行政处罚", "administrative penalty"),
            "agreement": ("协议处理", "agreement sanction"), "referred": ("移送处理", "referred")}


def combined_risk(score: float | None, warning: float | None) -> float:
    """Noisy-OR of an entity score and a warning weight, both in [0, 1]."""
    s = min(1.0, max(0.0, float(score or 0.0)))
    w = min(1.0, max(0.0, float(warning or 0.0)))
    return round(1.0 - (1.0 - s) * (1.0 - w), 6)


def institution_list(runner, *, params: DrawParams | None = None, kinds: list[str] | None = None,
                     districts: list[str] | None = None) -> list[dict[str, Any]]:
    """The institutions list with each one's risk (see the module)."""
    weights = dict((params or DrawParams()).warning_weights)
    df = runner.read_df("inspections/institution_list", {"kinds": list(kinds or []), "districts": districts,
                                                          "weights": weights})
    rows = []
    for r in df.to_dict("records"):
        r["risk"] = combined_risk(r.pop("score"), r.pop("warning"))
        rows.append(r)
    return rows


def parse_inspectors(data: bytes | str | list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Checked inspector rows and quarantined ones (``row``, ``reason``) from a CSV (UTF-8, BOM or
    not; :data:`INSPECTOR_COLUMNS`) or from dicts. A file without ``inspector_id`` is refused whole."""
    if isinstance(data, (bytes, str)):
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data.lstrip("\ufeff")
        reader = csv.DictReader(io.StringIO(text))
        if "inspector_id" not in (reader.fieldnames or []) or "name" not in (reader.fieldnames or []):
            raise ValueError(f"inspectors CSV: needs columns inspector_id and name; columns are "
                             f"{', '.join(INSPECTOR_COLUMNS)} (bound: institution ids separated by ';')")
        rows = list(reader)
    else:
        rows = list(data)
    good, bad, seen = [], [], set()
    for n, r in enumerate(rows, start=1):
        xid = str(r.get("inspector_id") or "").strip()
        name = str(r.get("name") or "").strip()
        reason = None
        if not xid:
            reason = "inspector_id: empty"
        elif xid in seen:
            reason = f"inspector_id {xid}: listed twice"
        elif not name:
            reason = "name: empty"
        if reason:
            bad.append({"row": n, "reason": reason, **{c: r.get(c, "") for c in INSPECTOR_COLUMNS}})
            continue
        seen.add(xid)
        good.append(canonical_inspectors([{**r, "inspector_id": xid, "name": name}])[0])
    return good, bad


def write_inspectors(runner, rows: list[dict[str, Any]], *, user: str, now: datetime | None = None) -> int:
    """Write (or replace) inspectors (canonical rows); returns how many."""
    at = (now or datetime.now()).replace(microsecond=0).isoformat()
    return runner.write_batches("inspections/inspectors_write", canonical_inspectors(rows), batch_size=1000,
                                params={"now": at, "user": user})


def inspector_list(runner) -> list[dict[str, Any]]:
    """The active inspectors as stored (``inspector_id, name, unit, bound``)."""
    df = runner.read_df("inspections/inspectors_list", {})
    return [{k: r[k] for k in INSPECTOR_COLUMNS} | {"bound": list(r["bound"] or [])} for r in df.to_dict("records")] \
        if len(df) else []


def draw_params(cfg=None, **override: Any) -> DrawParams:
    """Draw parameters: the configured ones (:func:`~ringscope.store.supervision.load_supervision`),
    with ``override`` (``n``, ``rate``, ``risk_share``, ``team_size`` ...; ``None`` values ignored)."""
    from ringscope.store.supervision import load_supervision

    c = (cfg or load_supervision()).inspections
    base = dict(rate=c.rate, strata=tuple(c.strata), risk_share=c.risk_share, risk_floor=c.risk_floor,
                team_size=c.team_size, max_per_inspector=c.max_per_inspector, warning_weights=dict(c.warning_weights))
    base.update({k: v for k, v in override.items() if v is not None})
    return DrawParams(**base)


def store_draw(runner, record: dict[str, Any], *, user: str, role: str = "", title: str = "",
               now: datetime | None = None) -> dict[str, Any]:
    """Write a draw's record and its inspections (idempotent). Returns ``draw_id, created, drawn_at``."""
    at = (now or datetime.now()).replace(microsecond=0).isoformat()
    rec = dict(record)
    rec["title"] = title or rec.get("title") or ""
    body = {"draw_id": rec["draw_id"], "title": rec["title"], "seed": rec["seed"], "method": rec["method"],
            "numpy": rec["numpy"], "params": json.dumps(rec["params"], ensure_ascii=False, sort_keys=True),
            "institutions_sha256": rec["institutions_sha256"], "inspectors_sha256": rec["inspectors_sha256"],
            "result_sha256": rec["result_sha256"], "n": len(rec["picks"]),
            "n_institutions_listed": rec["n_institutions_listed"], "n_inspectors_listed": rec["n_inspectors_listed"],
            "record": json.dumps(rec, ensure_ascii=False, sort_keys=True)}
    out = runner.run("inspections/draw_write", {"draw": body, "user": user, "role": role, "now": at})[0]
    rows = [{"inspection_id": f"{rec['draw_id']}-{p['seq']:04d}", "seq": p["seq"], "institution_id": p["institution_id"],
             "stratum": p["stratum"], "method": p["method"], "risk": p["risk"], "inspectors": p["inspectors"]}
            for p in rec["picks"]]
    runner.write_batches("inspections/picks_write", rows, batch_size=1000, params={"draw_id": rec["draw_id"], "now": at})
    return out


def draw_and_store(runner, *, inspectors: list[dict[str, Any]] | None = None, params: DrawParams | None = None,
                   seed: int | None = None, kinds: list[str] | None = None, districts: list[str] | None = None,
                   institutions: list[dict[str, Any]] | None = None, user: str, role: str = "", title: str = "",
                   now: datetime | None = None) -> dict[str, Any]:
    """The whole step: the inspectors list written (when given, else the stored one used), the
    institutions list read from the graph (unless given), the draw made and stored. Returns the
    record with ``created`` (False: this very draw was stored before)."""
    params = params or draw_params()
    if inspectors is not None:
        write_inspectors(runner, inspectors, user=user, now=now)
    insps = inspectors if inspectors is not None else inspector_list(runner)
    insts = institutions if institutions is not None else institution_list(runner, params=params, kinds=kinds,
                                                                            districts=districts)
    rec = draw(insts, insps, params, seed=seed)
    rec["scope"] = {"kinds": sorted(kinds or []), "districts": sorted(districts) if districts else None}
    got = store_draw(runner, rec, user=user, role=role, title=title, now=now)
    rec.update(created=bool(got["created"]), drawn_at=got["drawn_at"], title=title)
    return rec


def draw_record(runner, draw_id: str) -> dict[str, Any] | None:
    """A stored draw's record (the JSON written with it), with ``drawn_by`` and ``drawn_at``."""
    rows = runner.run("inspections/draw_record", {"draw_id": str(draw_id)}, write=False)
    if not rows:
        return None
    rec = json.loads(rows[0]["record"])
    rec.update(drawn_by=rows[0]["drawn_by"], drawn_at=rows[0]["drawn_at"], title=rows[0]["title"] or "")
    return rec


def verify_stored(runner, draw_id: str, *, current_lists: bool = False,
                  institutions: list[dict[str, Any]] | None = None,
                  inspectors: list[dict[str, Any]] | None = None) -> VerifyReport:
    """Re-draw a stored draw from its record. ``current_lists``: also compare the lists as the
    store holds them now (institutions of the draw's scope, the inspectors list); or pass lists."""
    rec = draw_record(runner, draw_id)
    if rec is None:
        return VerifyReport(False, [f"no draw {draw_id}"], str(draw_id))
    if current_lists:
        p = rec.get("params") or {}
        scope = rec.get("scope") or {}
        institutions = institutions if institutions is not None else institution_list(
            runner, params=DrawParams(warning_weights=p.get("warning_weights") or DrawParams().warning_weights),
            kinds=scope.get("kinds"), districts=scope.get("districts"))
        inspectors = inspectors if inspectors is not None else inspector_list(runner)
    return verify(rec, institutions=institutions, inspectors=inspectors)


def list_draws(runner, *, districts: list[str] | None = None, skip: int = 0, limit: int = 100) -> pd.DataFrame:
    """The draws, newest first, with counts in ``districts`` (None: the whole city)."""
    return runner.read_df("inspections/draws_list", {"districts": districts, "skip": int(skip), "limit": int(limit)})


def list_inspections(runner, *, draw_id: str | None = None, districts: list[str] | None = None,
                     status: str | None = None, skip: int = 0, limit: int = 5000) -> pd.DataFrame:
    """Inspections (of one draw, or all) with institution, team and result."""
    return runner.read_df("inspections/list", {"draw_id": draw_id, "districts": districts, "status": status,
                                               "skip": int(skip), "limit": int(limit)})


def parse_results(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Checked result rows (:data:`RESULT_COLUMNS`) and quarantined ones with the reason."""
    good, bad = [], []
    for n, r in enumerate(rows, start=1):
        r = {k: ("" if v is None else str(v).strip()) for k, v in r.items()}
        reason = None
        try:
            day = datetime.strptime(r.get("inspected_on", ""), "%Y-%m-%d").date()
        except ValueError:
            day, reason = None, f"inspected_on {r.get('inspected_on')!r}: a date YYYY-MM-DD"
        if reason is None and day > date.today():
            reason = f"inspected_on {day}: in the future"
        outcome = r.get("outcome", "")
        if reason is None and outcome not in OUTCOMES:
            reason = f"outcome {outcome!r}: one of {', '.join(OUTCOMES)}"
        amount = 0.0
        if reason is None:
            try:
                amount = float(r.get("amount") or 0.0)
                if not amount >= 0:
                    raise ValueError
            except ValueError:
                reason = f"amount {r.get('amount')!r}: a number of yuan, 0 or more"
        if reason is None and not r.get("inspection_id"):
            reason = "inspection_id: empty"
        if reason:
            bad.append({"row": n, "reason": reason, **{c: r.get(c, "") for c in RESULT_COLUMNS}})
            continue
        good.append({"inspection_id": r["inspection_id"], "inspected_on": day.isoformat(),
                     "finding": r.get("finding") or None, "amount": amount, "outcome": outcome})
    return good, bad


def record_result(runner, inspection_id: str, *, inspected_on: str, outcome: str, finding: str | None = None,
                  amount: float | None = 0.0, user: str, role: str = "", now: datetime | None = None) -> dict[str, Any]:
    """Record one inspection's result (a correction records again; the earlier one stays in its
    event). Raises ``ValueError`` on a bad value; returns the inspection's new state (empty when unknown)."""
    good, bad = parse_results([{"inspection_id": inspection_id, "inspected_on": inspected_on, "outcome": outcome,
                                "finding": finding, "amount": amount}])
    if bad:
        raise ValueError(f"inspection {inspection_id}: {bad[0]['reason']}")
    at = (now or datetime.now()).replace(microsecond=0).isoformat()
    rows = runner.run("inspections/result_write", {**good[0], "user": user, "role": role, "at": at,
                                                    "event_id": uuid.uuid4().hex})
    return rows[0] if rows else {}


def import_results(runner, data: bytes | str, *, user: str, role: str = "", now: datetime | None = None
                   ) -> dict[str, Any]:
    """Results from a CSV (:data:`RESULT_COLUMNS`): ``recorded``, ``quarantine`` (bad rows and
    unknown inspections, with the reason)."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data.lstrip("\ufeff")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("inspection_id", "inspected_on", "outcome") if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"results CSV: missing column(s) {', '.join(missing)}; columns are {', '.join(RESULT_COLUMNS)}")
    rows = list(reader)
    good, bad = parse_results(rows)
    recorded = 0
    for g in good:
        got = record_result(runner, g["inspection_id"], user=user, role=role, now=now,
                            **{k: g[k] for k in ("inspected_on", "outcome", "finding", "amount")})
        if got:
            recorded += 1
        else:
            bad.append({"row": None, "reason": f"inspection {g['inspection_id']}: no such inspection", **g})
    return {"recorded": recorded, "quarantine": bad}


def institution_inspections(runner, institution_id: str) -> pd.DataFrame:
    """Every random inspection of one institution with its team and result."""
    return runner.read_df("inspections/of_institution", {"institution_id": str(institution_id)})


def publication_frame(inspections: pd.DataFrame, *, lang: str = "zh") -> pd.DataFrame:
    """The list as published (公示): Chinese headings (English with ``lang="en"``), codes in words,
    inspectors as ``name（id）``; no risk and no draw method."""
    k = 1 if lang == "en" else 0
    if inspections.empty:
        return pd.DataFrame(columns=[v[k] for v in PUBLIC_HEADINGS.values()])
    df = inspections.sort_values(["draw_id", "seq"], kind="mergesort")
    team = [("、" if k == 0 else ", ").join(f"{nm}（{i}）" if k == 0 else f"{nm} ({i})"
                                            for nm, i in zip(names or [], ids or []))
            for names, ids in zip(df["inspector_names"], df["inspector_ids"])]
    out = pd.DataFrame({
        "seq": df["seq"].astype(int).tolist(), "institution_name": df["institution_name"].fillna("").tolist(),
        "institution_id": df["institution_id"].tolist(),
        "kind": [_KIND.get(x, (x, x))[k] for x in df["kind"]], "district": df["district"].fillna("").tolist(),
        "inspectors": team, "inspected_on": df["inspected_on"].fillna("").tolist(),
        "outcome": [_OUTCOME[x][k] if x in _OUTCOME else ("待检查" if k == 0 else "pending")
                    for x in df["inspection_outcome"]],
        "amount": [None if pd.isna(a) else round(float(a), 2) for a in df["amount"]],
        "finding": df["finding"].fillna("").tolist()})
    return out.rename(columns={c: v[k] for c, v in PUBLIC_HEADINGS.items()})


def publication_csv(inspections: pd.DataFrame, *, lang: str = "zh") -> bytes:
    """The published list as CSV (UTF-8 with BOM, so spreadsheet programs read the Chinese)."""
    buf = io.StringIO()
    publication_frame(inspections, lang=lang).to_csv(buf, index=False)
    return buf.getvalue().encode("utf-8-sig")
