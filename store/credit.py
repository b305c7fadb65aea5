"""Physician credit file (医保医师记分) and institution credit rating (信用评价), with their history.

Grades and points come from **outcomes** -- leads whose disposal confirmed fraud and closed
fraud cases (``known_cases``) -- never from raw machine findings (issue 13). Unreviewed rule
hits and open leads are shown beside them as a *warning* (预警), which invites review but never
deducts a point or lowers a grade: a clinic must not be graded D, nor a physician suspended,
on statistics nobody has looked at. A party contests a confirmed finding through the lead's
appeal step (申诉, :data:`APPEAL`) of the disposal workflow (``app/workflow.py``); an appeal
upheld clears the lead and with it the deduction.

Physician points
    Modelled on the NHSA's 2024 guidance on payment qualification of the staff
    of designated institutions (国家医保局等《关于建立定点医药机构相关人员医保支付
    资格管理制度的指导意见》, 医保发〔2024〕23号): each confirmed violation scores points,
    up to 12 for the gravest; 9–11 points in a year suspend the physician's insurance payment
    qualification (暂停), 12 terminate it (终止). Here a confirmed fraud lead or a closed fraud
    case scores 12. ``warning_points``: what the unreviewed hits would score (low 1, medium 2,
    high 3, at most 12) -- a review queue, not a sanction.

    Points are counted per scoring year (记分周期, the natural year): ``points`` are those of
    findings made in the year of the day the standing is computed (``as_of``); a finding is
    dated by the disposal that confirmed it (the first event of the outcome confirmed it holds) or the
    case's ``closed_on``, and an undated one counts as current. A termination stands for
    :data:`TERMINATION_DAYS` (365) days from the finding (终止之日起一年内不得再次登记备案),
    whatever the year; after that the physician's qualification is 正常 again and a snapshot
    records the change (reason 记分周期届满). Institutions' grades are not windowed: provincial
    credit-evaluation schemes differ in their periods, so a grade rests on every outcome.

Institution rating
    Modelled on provincial credit-evaluation schemes for designated
    institutions (定点医药机构信用评价, e.g. 1,000-point scales graded A–D with a
    blacklist for serious dishonesty): start from 1,000, deduct 300 per confirmed lead or
    closed fraud case. Grades: A ≥ 900, B ≥ 800, C ≥ 650, D below. Blacklisted (黑名单): a
    confirmed lead or a closed fraud case. ``warning``: unreviewed hits by severity, the share of
    billed money they put at risk, open leads and referrals -- shown, never graded.

Credit history (信用记录沿革)
    The guidance keeps a physician's points on file for the year, and a qualification
    suspended or terminated is restored only by a recorded decision; a standing computed afresh
    on every page could not show when it changed, why, or that an appeal reversed it. So each
    change is stored: a ``CreditRecord`` node (``HAS_CREDIT`` from the physician or institution,
    ``PREVIOUS`` to the record before; ``cypher/credit/*.cypher``) holds the standing (points and
    qualification, or score, grade and blacklist), the leads and cases it rests on (``basis_leads``,
    ``basis_cases``), why it changed (``reason``: 查实线索 L…, 申诉成立 L…, ...), who or what caused
    it (``by``, ``trigger``: ``disposal`` or ``snapshot``, ``lead_id``) and when. A record is
    written only when the standing or what it rests on changes -- never on a computation that
    finds them as recorded -- so the history is a change log; an entity without records has the
    clean standing (0 points, 正常; 1,000, A). Records are written

    - when a lead's disposal changes its outcome through the data layer
      (:meth:`ringscope.store.reads.DataLayer.update_lead`): its physician and institution members
      (:func:`record_for_lead`);
    - by ``ringscope credit snapshot`` (:func:`snapshot`): every physician and institution, after
      ``known_cases`` were loaded or detection re-ran.

    The history (:func:`credit_history`) lists the records with, for each lead a record named, the
    lead's appeal step: when the appeal was lodged and whether it was upheld or rejected.

>>> df = pd.DataFrame({"entity_id": ["D1"], "confirmed_leads": [["L-7"]], "fraud_cases": [[]],
...                    "prev_id": [None], "prev_seq": [None]})
>>> [(r["entity_id"], r["seq"], r["points"], r["qualification"], r["basis_leads"], r["reason"])
...  for r in pending_records("physician", df)]
[('D1', 1, 12, '终止 terminated', ['L-7'], '查实线索 L-7')]
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from ringscope import progress

__all__ = [
    "SEVERITY_POINTS",
    "TERMINATION_DAYS",
    "OPEN_STATUSES",
    "APPEAL",
    "CREDIT_TYPES",
    "STANDING",
    "CREDIT_QUERIES",
    "physician_credit",
    "institution_credit",
    "clean_standing",
    "change_reason",
    "pending_records",
    "record_credit",
    "record_for_lead",
    "snapshot",
    "credit_history",
]

SEVERITY_POINTS = {"low": 1, "medium": 2, "high": 3}
#: days a termination of a physician's payment qualification stands from the finding
TERMINATION_DAYS = 365
#: the disposal workflow's open steps (``app/workflow.py`` ``STEPS`` less 结案)
OPEN_STATUSES = ("初审", "复审", "调查核实", "申诉", "处理", "移送公安")
#: the workflow's appeal step: a party contests a confirmed finding here
APPEAL = "申诉"
CREDIT_TYPES = ("physician", "institution")
#: what a record's standing is, per entity type
STANDING: dict[str, tuple[str, ...]] = {"physician": ("points", "qualification"),
                                        "institution": ("credit_score", "grade", "blacklisted")}
CREDIT_QUERIES = ("credit/basis", "credit/record", "credit/history", "credit/lead_members")
_FIELDS = ("points", "qualification", "credit_score", "grade", "blacklisted")


# ------------------------------------------------------------------------------ the computation
def _lists(s: pd.Series) -> pd.Series:
    return s.map(lambda v: list(v) if isinstance(v, (list, tuple, np.ndarray)) else [])


def _counts(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in ("hits_high", "hits_medium", "hits_low", "n_visits"):
        col = out[c] if c in out else pd.Series(0, index=out.index)
        out[c] = pd.to_numeric(col, errors="coerce").fillna(0).astype(int)
    for c in ("amount", "hits_amount"):
        col = out[c] if c in out else pd.Series(0.0, index=out.index)
        out[c] = pd.to_numeric(col, errors="coerce").fillna(0.0)
    for c in ("lead_statuses", "confirmed_leads", "fraud_cases", "cleared_cases"):
        out[c] = _lists(out[c]) if c in out else [[] for _ in range(len(out))]
    out["n_confirmed"] = out["confirmed_leads"].map(len) + out["fraud_cases"].map(len)
    out["n_open_leads"] = out["lead_statuses"].map(lambda xs: sum(x in OPEN_STATUSES or x == "new" for x in xs))
    out["referred"] = out["lead_statuses"].map(lambda xs: "移送公安" in xs)
    return out


def _finding_days(row: Any) -> list[date | None]:
    """The dates of a row's findings (its confirmed leads and fraud cases) from its
    ``finding_dates`` (a list of ``{id, on}``); a finding without one is undated (None)."""
    on: dict[str, Any] = {}
    fd = row.get("finding_dates")
    if isinstance(fd, (list, tuple, np.ndarray)):
        on = {str(m.get("id")): m.get("on") for m in fd if isinstance(m, dict)}
    out: list[date | None] = []
    for i in list(row.get("confirmed_leads") or []) + list(row.get("fraud_cases") or []):
        v = on.get(str(i))
        try:
            out.append(None if v is None or v != v else pd.Timestamp(str(v)).date())
        except ValueError:
            out.append(None)
    return out


def physician_credit(inputs: pd.DataFrame, as_of: date | None = None) -> pd.DataFrame:
    """Points and payment-qualification status per physician, from outcomes only, on the day
    ``as_of`` (default today): the points of the scoring year (the natural year of ``as_of``),
    and 终止 for :data:`TERMINATION_DAYS` after a finding.

    ``inputs`` has the columns of ``cypher/app/credit_inputs.cypher`` (or at least ``entity_id``,
    ``confirmed_leads`` and ``fraud_cases``: ``cypher/credit/basis.cypher``; ``finding_dates``
    dates them, an undated finding counts as current).

    >>> df = pd.DataFrame({"entity_id": ["D1", "D2", "D3"], "hits_high": [0, 4, 0],
    ...     "hits_medium": [1, 2, 0], "hits_low": [0, 0, 0],
    ...     "confirmed_leads": [[], [], ["L1"]], "fraud_cases": [[], [], []]})
    >>> physician_credit(df)[["entity_id", "points", "qualification", "warning_points"]].values.tolist()
    [['D3', 12, '终止 terminated', 0], ['D2', 0, '正常 normal', 12], ['D1', 0, '正常 normal', 2]]

    A finding of 2024-10-01: 12 points and terminated in 2024; in 2025 no points, still terminated
    until 2025-10-01; normal after that:

    >>> d = pd.DataFrame({"entity_id": ["D3"], "confirmed_leads": [["L1"]], "fraud_cases": [[]],
    ...                   "finding_dates": [[{"id": "L1", "on": "2024-10-01"}]]})
    >>> [physician_credit(d, date(y, m, 1))[["points", "qualification"]].values.tolist()[0]
    ...  for y, m in ((2024, 12), (2025, 6), (2025, 11))]
    [[12, '终止 terminated'], [0, '终止 terminated'], [0, '正常 normal']]
    """
    df = _counts(inputs)
    today = as_of or date.today()
    warn = (df["hits_low"] * SEVERITY_POINTS["low"] + df["hits_medium"] * SEVERITY_POINTS["medium"]
            + df["hits_high"] * SEVERITY_POINTS["high"])
    df["warning_points"] = np.minimum(warn, 12).astype(int)
    days = [_finding_days(r) for r in df.to_dict("records")] if len(df) else []
    this_year = [any(d is None or d.year >= today.year for d in ds) for ds in days]
    banned = [any(d is None or (today - d).days < TERMINATION_DAYS for d in ds) for ds in days]
    df["points"] = np.where(np.array(this_year, dtype=bool), 12, 0).astype(int)
    df["qualification"] = np.select(
        [np.array(banned, dtype=bool) | (df["points"] >= 12).to_numpy(), df["points"] >= 9],
        ["终止 terminated", "暂停 suspended"], "正常 normal"
    )
    return df.sort_values(["points", "warning_points", "entity_id"], ascending=[False, False, True],
                          kind="stable").reset_index(drop=True)


def institution_credit(inputs: pd.DataFrame, as_of: date | None = None) -> pd.DataFrame:
    """Credit score (0–1000), grade A–D and blacklist flag per institution, from outcomes only;
    the unreviewed findings as a warning beside them. ``as_of`` is taken for the signature
    :func:`physician_credit` shares and not used: grades rest on every outcome, not a scoring year.

    >>> df = pd.DataFrame({"entity_id": ["H1", "H2", "H3"], "hits_high": [0, 3, 0], "hits_medium": [0, 5, 0],
    ...     "hits_low": [1, 10, 0], "amount": [1e5, 1e5, 1e5], "hits_amount": [0.0, 2e4, 0.0],
    ...     "lead_statuses": [[], ["移送公安"], ["结案"]], "confirmed_leads": [[], [], ["L7"]], "fraud_cases": [[], [], []]})
    >>> institution_credit(df)[["entity_id", "grade", "blacklisted", "warning"]].values.tolist()
    [['H3', 'C', True, False], ['H2', 'A', False, True], ['H1', 'A', False, False]]
    """
    df = _counts(inputs)
    share = np.where(df["amount"] > 0, df["hits_amount"] / df["amount"].where(df["amount"] > 0, 1.0), 0.0)
    df["credit_score"] = np.clip(1000 - df["n_confirmed"] * 300, 0, 1000).round(0).astype(int)
    df["grade"] = np.select(
        [df["credit_score"] >= 900, df["credit_score"] >= 800, df["credit_score"] >= 650],
        ["A", "B", "C"], "D",
    )
    df["blacklisted"] = df["n_confirmed"] > 0
    df["share_at_risk"] = share
    # a warning invites review; it never grades
    df["warning"] = (df["hits_high"] > 0) | (share >= 0.05) | (df["n_open_leads"] > 0) | df["referred"]
    return df.sort_values(["credit_score", "warning", "entity_id"], ascending=[True, False, True],
                          kind="stable").reset_index(drop=True)


_COMPUTE = {"physician": physician_credit, "institution": institution_credit}


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _standing(entity_type: str, row: Any) -> dict[str, Any]:
    return {f: _plain(row[f]) for f in STANDING[entity_type]}


def clean_standing(entity_type: str) -> dict[str, Any]:
    """The standing of a physician or institution that no outcome touched (what having no record means).

    >>> clean_standing("physician"), clean_standing("institution")
    ({'points': 0, 'qualification': '正常 normal'}, {'credit_score': 1000, 'grade': 'A', 'blacklisted': False})
    """
    if entity_type not in STANDING:
        raise ValueError(f"credit is kept for physicians and institutions, not {entity_type!r}")
    df = _COMPUTE[entity_type](pd.DataFrame({"entity_id": [""], "confirmed_leads": [[]], "fraud_cases": [[]]}))
    return _standing(entity_type, df.iloc[0])


# ------------------------------------------------------------------------------ changes
def _ids(v: Any) -> list[str]:
    if isinstance(v, (list, tuple, set, frozenset, np.ndarray)):
        return sorted({str(x) for x in v if x is not None and x == x})
    return []


def change_reason(prev_leads: Iterable[str], prev_cases: Iterable[str], leads: Iterable[str],
                  cases: Iterable[str], *, gone: Iterable[str] = (), confirmed: Iterable[str] = (),
                  appealed: Iterable[str] = ()) -> tuple[str, str]:
    """Why the basis changed, in Chinese and in English. ``gone``: leads of the previous basis no
    longer in the store; ``confirmed``: those still confirmed (the entity left the lead);
    ``appealed``: those that went through the appeal step (申诉) -- no longer confirmed, the appeal
    was upheld.

    >>> change_reason([], [], ["L2"], ["K1"])
    ('查实线索 L2；已结欺诈案件 K1', 'confirmed lead L2; closed fraud case K1')
    >>> change_reason(["L1", "L2", "L3"], [], [], [], appealed=["L1"], confirmed=["L3"])
    ('申诉成立 L1；查实结论撤销 L2；不再是线索成员 L3', 'appeal upheld on L1; finding withdrawn on L2; no longer a member of L3')
    >>> change_reason(["L1"], [], ["L1"], [])
    ('重新计算', 'recomputed')
    """
    pl, pc, nl, nc = set(prev_leads), set(prev_cases), set(leads), set(cases)
    gone, confirmed, appealed = set(gone), set(confirmed), set(appealed)
    removed = pl - nl
    parts: list[tuple[str, str, list[str]]] = [
        ("申诉成立", "appeal upheld on", sorted(removed & appealed - gone - confirmed)),
        ("查实线索", "confirmed lead", sorted(nl - pl)),
        ("已结欺诈案件", "closed fraud case", sorted(nc - pc)),
        ("查实结论撤销", "finding withdrawn on", sorted(removed - appealed - gone - confirmed)),
        ("不再是线索成员", "no longer a member of", sorted(removed & confirmed - gone)),
        ("线索已删除", "lead deleted", sorted(removed & gone)),
        ("欺诈案件撤销", "fraud case withdrawn", sorted(pc - nc)),
    ]
    parts = [p for p in parts if p[2]]
    if not parts:
        return "重新计算", "recomputed"
    return ("；".join(f"{zh} {'、'.join(ids)}" for zh, _, ids in parts),
            "; ".join(f"{en} {', '.join(ids)}" for _, en, ids in parts))


def pending_records(entity_type: str, inputs: pd.DataFrame, as_of: date | None = None) -> list[dict[str, Any]]:
    """The ``credit/record`` rows for the entities whose standing, or the leads and cases it rests
    on, differ from their latest record (the clean standing when they have none). ``inputs``: the
    rows of ``cypher/credit/basis.cypher``. Computing again what is recorded gives no row.

    >>> same = pd.DataFrame({"entity_id": ["H1"], "confirmed_leads": [["L1"]], "fraud_cases": [[]],
    ...     "prev_id": ["r1"], "prev_seq": [1], "prev_credit_score": [700], "prev_grade": ["C"],
    ...     "prev_blacklisted": [True], "prev_leads": [["L1"]], "prev_cases": [[]]})
    >>> pending_records("institution", same)
    []
    >>> upheld = same.assign(confirmed_leads=[[]], prev_appealed=[["L1"]])
    >>> [(r["seq"], r["prev_id"], r["credit_score"], r["grade"], r["reason"]) for r in
    ...  pending_records("institution", upheld)]
    [(2, 'r1', 1000, 'A', '申诉成立 L1')]
    """
    if entity_type not in STANDING:
        raise ValueError(f"credit is kept for physicians and institutions, not {entity_type!r}")
    if inputs.empty:
        return []
    clean = clean_standing(entity_type)
    rows: list[dict[str, Any]] = []
    for r in _COMPUTE[entity_type](inputs, as_of).to_dict("records"):
        now = _standing(entity_type, r)
        leads, cases = _ids(r.get("confirmed_leads")), _ids(r.get("fraud_cases"))
        prev_id = r.get("prev_id")
        has_prev = isinstance(prev_id, str) and prev_id != ""
        before = {f: _plain(r.get(f"prev_{f}")) for f in STANDING[entity_type]} if has_prev else clean
        prev_leads = _ids(r.get("prev_leads")) if has_prev else []
        prev_cases = _ids(r.get("prev_cases")) if has_prev else []
        if now == before and leads == prev_leads and cases == prev_cases:
            continue
        if leads == prev_leads and cases == prev_cases and has_prev:     # the same findings, older
            lifted = str(before.get("qualification", "")).startswith("终止") and not \
                str(now.get("qualification", "")).startswith("终止")
            zh, en = ("终止期满", "termination period over") if lifted else ("记分周期届满", "scoring period over")
        else:
            zh, en = change_reason(prev_leads, prev_cases, leads, cases, gone=_ids(r.get("prev_gone")),
                                   confirmed=_ids(r.get("prev_confirmed")), appealed=_ids(r.get("prev_appealed")))
        seq = int(r["prev_seq"]) + 1 if has_prev and pd.notna(r.get("prev_seq")) else 1
        rows.append({"record_id": uuid.uuid4().hex, "entity_type": entity_type, "entity_id": str(r["entity_id"]),
                     "prev_id": prev_id if has_prev else None, "seq": seq,
                     **{f: now.get(f) for f in _FIELDS}, "basis_leads": leads, "basis_cases": cases,
                     "reason": zh, "reason_en": en})
    return sorted(rows, key=lambda x: x["entity_id"])


# ------------------------------------------------------------------------------ the store
def _basis(runner, entity_type: str, entity_ids: Sequence[str] | None) -> pd.DataFrame:
    return runner.read_df("credit/basis", {"entity_type": entity_type, "appeal": APPEAL,
                                           "entity_ids": None if entity_ids is None else [str(i) for i in entity_ids]})


def record_credit(runner, entity_type: str, entity_ids: Sequence[str] | None = None, *, by: str,
                  trigger: str = "snapshot", lead_id: str | None = None, now: datetime | None = None,
                  batch_size: int = 1000, tries: int = 5, on_checked=None) -> dict[str, int]:
    """Compute the standing of these physicians or institutions (all of the type when
    ``entity_ids`` is None) and record the changes. An entity whose outcomes or latest record
    moved between the computation and the write (a disposal at the same moment) is computed
    again, at most ``tries`` times. ``on_checked(n)``: called with the number of entities
    compared. Returns ``{"checked", "records"}``."""
    if entity_type not in STANDING:
        raise ValueError(f"credit is kept for physicians and institutions, not {entity_type!r}")
    when = now or datetime.now()
    at = when.replace(microsecond=0).isoformat()
    params = {"at": at, "by": str(by), "trigger": trigger, "lead_id": lead_id}
    ids = None if entity_ids is None else sorted({str(i) for i in entity_ids})
    if ids is not None and not ids:
        return {"checked": 0, "records": 0}
    checked = written = 0
    for attempt in range(tries):
        inputs = _basis(runner, entity_type, ids)
        if attempt == 0:
            checked = len(inputs)
            if on_checked:
                on_checked(checked)
        rows = pending_records(entity_type, inputs, when.date())
        if not rows:
            break
        done: set[str] = set()
        for start in range(0, len(rows), batch_size):
            got = runner.run("credit/record", {**params, "rows": rows[start:start + batch_size]})
            done |= {g["entity_id"] for g in got}
        written += len(done)
        stale = sorted({r["entity_id"] for r in rows} - done)
        if not stale:
            break
        ids = stale
    return {"checked": checked, "records": written}


def record_for_lead(runner, lead_id: str, *, by: str, now: datetime | None = None) -> dict[str, int]:
    """After a lead's outcome changed: record the credit changes of its physician and institution members."""
    members = runner.read("credit/lead_members", {"lead_id": str(lead_id)})
    out = {"checked": 0, "records": 0}
    for et in CREDIT_TYPES:
        ids = [m["entity_id"] for m in members if m["entity_type"] == et]
        if ids:
            got = record_credit(runner, et, ids, by=by, trigger="disposal", lead_id=str(lead_id), now=now)
            out = {k: out[k] + got[k] for k in out}
    return out


def snapshot(runner, *, by: str, now: datetime | None = None,
             entity_types: Sequence[str] = CREDIT_TYPES) -> dict[str, dict[str, int]]:
    """Compute every physician's and institution's standing and record the changes
    (``ringscope credit snapshot``: after ``known_cases`` were loaded, detection re-ran, or at the
    turn of the scoring year). Running it again with nothing changed records nothing."""
    out: dict[str, dict[str, int]] = {}
    for et in entity_types:
        what = {"physician": "医师 physicians", "institution": "机构 institutions"}[et]
        with progress.task("credit", what, total=None, unit="entities") as t:
            out[et] = record_credit(runner, et, None, by=by, trigger="snapshot", now=now,
                                    on_checked=lambda n, t=t: (t.set_total(n), t.update(n)))
    return out


def credit_history(runner, entity_type: str, entity_id: str) -> pd.DataFrame:
    """A physician's or institution's credit records and the appeal steps of the leads they named,
    newest first (``at, seq, credit_event, points, qualification, credit_score, grade, blacklisted,
    basis, reason, reason_en, by, trigger, lead_id``; ``credit_event``: ``record``,
    ``appeal_lodged``, ``appeal_upheld``, ``appeal_rejected``)."""
    if entity_type not in STANDING:
        raise ValueError(f"credit is kept for physicians and institutions, not {entity_type!r}")
    return runner.read_df("credit/history", {"entity_type": entity_type, "entity_id": str(entity_id),
                                             "appeal": APPEAL})
