"""Tip-off ledger (举报线索台账): intake, matching against leads and entity scores, deadlines,
assignment, outcome and reward.

A tip-off names institutions, physicians or insured persons (typed ids ``institution:H1``). On
intake (one by one, or a CSV import) it is written as a ``Tipoff`` node ``NAMES`` each entity
found in the graph (names not found are kept in ``unmatched``), with its deadlines:

- acceptance (受理): ``accept_days`` working days from receipt (default 15);
- reply (办结答复): ``reply_days`` working days from acceptance (default 60).

(国家医疗保障局、财政部《违法违规使用医疗保障基金举报奖励办法》(医保发〔2022〕22号) and the
举报处理 rules: 15 working days to decide on acceptance, 60 to conclude.) Working days are Monday
to Friday (:func:`numpy.busday_offset`; public holidays are not modelled).

The reward (举报奖励) is computed from the verified amount (查实金额) by the configured
:class:`RewardRule`: ``proportion`` of the amount, at least ``floor`` and at most ``cap`` (the
national rule: 最低不少于200元，最高不超过20万元; the proportion is set locally). No reward
without a verified amount.

The reporter's identity (``reporter_name``, ``reporter_phone``, ``reporter_id_number``) is stored
with the tip-off; the data layer (:meth:`ringscope.store.reads.DataLayer.tipoffs`) shows it only
to the role that handles tip-offs and logs every view of the ledger.

A tip-off's id is the hash of its receipt date, channel, content and named entities, so a CSV
imported twice makes no duplicates; a bad row is quarantined with its reason, never dropped.

>>> reward(1_000_000.0, RewardRule(proportion=0.05, floor=200.0, cap=200_000.0))
50000.0
>>> reward(1_000.0), reward(10_000_000.0), reward(0.0)
(200.0, 200000.0, 0.0)
>>> deadline("2024-05-31", 15)     # a Friday; 15 working days later
'2024-06-21'
"""
from __future__ import annotations

import csv
import hashlib
import io
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["RewardRule", "reward", "deadline", "tipoff_id", "parse_tipoffs", "intake", "import_csv",
           "list_tipoffs", "tipoff_matches", "update_tipoff", "TIPOFF_STATUSES", "TIPOFF_QUERIES",
           "REPORTER_FIELDS", "CSV_COLUMNS"]

TIPOFF_QUERIES = ("tipoffs/write", "tipoffs/list", "tipoffs/matches", "tipoffs/update")
#: received (已登记) → accepted (已受理) / rejected (不予受理) → investigating (核查中) → closed (已办结)
TIPOFF_STATUSES = ("received", "accepted", "rejected", "investigating", "closed")
_NEXT = {"received": ("accepted", "rejected"), "accepted": ("investigating", "closed"),
         "investigating": ("closed",), "rejected": (), "closed": ()}
REPORTER_FIELDS = ("reporter_name", "reporter_phone", "reporter_id_number")
#: a CSV import's columns (``named``: typed ids separated by ``;``); reporter fields may be empty (anonymous)
CSV_COLUMNS = ("received_on", "channel", "content", "named", "reporter_name", "reporter_phone",
               "reporter_id_number")
CHANNELS = ("phone", "letter", "online", "visit", "other")
_TYPES = ("person", "physician", "institution")


@dataclass(frozen=True)
class RewardRule:
    """The reward rule: ``proportion`` of the verified amount, within ``[floor, cap]`` (CNY)."""

    proportion: float = 0.05
    floor: float = 200.0
    cap: float = 200_000.0
    accept_days: int = 15
    reply_days: int = 60

    def __post_init__(self):
        if not 0 < self.proportion <= 1 or self.floor < 0 or self.cap < self.floor:
            raise ValueError(f"reward rule {self}: need 0 < proportion <= 1 and 0 <= floor <= cap")


def reward(verified_amount: float | None, rule: RewardRule = RewardRule()) -> float:
    """The reward for a verified amount (0 when nothing was verified)."""
    amt = float(verified_amount or 0.0)
    if not amt > 0:
        return 0.0
    return round(min(rule.cap, max(rule.floor, rule.proportion * amt)), 2)


def deadline(start: str | date, working_days: int) -> str:
    """``working_days`` working days (Monday to Friday) after ``start``, ISO date."""
    d = np.datetime64(str(start)[:10], "D")
    return str(np.busday_offset(d, int(working_days), roll="forward"))


def tipoff_id(received_on: str, channel: str, content: str, named: list[str]) -> str:
    """Stable id of a tip-off (the same report imported twice is one tip-off).

    >>> tipoff_id("2024-05-06", "phone", "某药店串换药品", ["institution:P1"])
    'T-1894521904a8b938'
    """
    key = "|".join([str(received_on)[:10], channel, content.strip(), ";".join(sorted(named))]).encode()
    return "T-" + hashlib.sha1(key).hexdigest()[:16]


def _named(value: Any) -> tuple[list[str], str | None]:
    items = [x.strip() for x in str(value or "").replace("；", ";").split(";") if x.strip()]
    for x in items:
        t, _, i = x.partition(":")
        if t not in _TYPES or not i:
            return [], f"named entity {x!r}: write person:ID, physician:ID or institution:ID"
    return sorted(set(items)), None


def parse_tipoffs(rows: list[dict[str, Any]], rule: RewardRule = RewardRule()) -> tuple[list[dict], list[dict]]:
    """Checked tip-off rows and quarantined ones (``row``, ``reason``, the original values)."""
    good, bad = [], []
    for n, r in enumerate(rows, start=1):
        r = {k: (str(v).strip() if v is not None else "") for k, v in r.items()}
        reason = None
        try:
            received = datetime.strptime(r.get("received_on", ""), "%Y-%m-%d").date().isoformat()
        except ValueError:
            received, reason = None, f"received_on {r.get('received_on')!r}: a date YYYY-MM-DD"
        channel = r.get("channel") or "other"
        if reason is None and channel not in CHANNELS:
            reason = f"channel {channel!r}: one of {', '.join(CHANNELS)}"
        if reason is None and not r.get("content"):
            reason = "content: empty"
        named, why = _named(r.get("named"))
        if reason is None and why:
            reason = why
        if reason is None and not named:
            reason = "named: no institution, physician or person named"
        if reason is not None:
            bad.append({"row": n, "reason": reason, **{c: r.get(c, "") for c in CSV_COLUMNS}})
            continue
        anonymous = not any(r.get(f) for f in REPORTER_FIELDS)
        good.append({"tipoff_id": tipoff_id(received, channel, r["content"], named), "received_on": received,
                     "channel": channel, "content": r["content"], "named": named, "anonymous": anonymous,
                     **{f: (r.get(f) or None) for f in REPORTER_FIELDS},
                     "accept_by": deadline(received, rule.accept_days)})
    return good, bad


def intake(runner, rows: list[dict[str, Any]], *, user: str, rule: RewardRule = RewardRule(),
           now: datetime | None = None) -> dict[str, Any]:
    """Register tip-offs (dicts with :data:`CSV_COLUMNS`): ``written`` (new or already there),
    ``quarantine`` (rows with their reason), ``ids``."""
    good, bad = parse_tipoffs(rows, rule)
    at = (now or datetime.now()).replace(microsecond=0).isoformat()
    written = runner.write_batches("tipoffs/write", good, batch_size=500, params={"user": user, "now": at}) \
        if good else 0
    return {"written": written, "quarantine": bad, "ids": [g["tipoff_id"] for g in good]}


def import_csv(runner, data: bytes | str, *, user: str, rule: RewardRule = RewardRule(),
               now: datetime | None = None) -> dict[str, Any]:
    """A CSV import (UTF-8, with or without BOM; :data:`CSV_COLUMNS`); a file missing a required
    column is refused whole with a clear error."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data.lstrip("\ufeff")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("received_on", "content", "named") if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"tip-off CSV: missing column(s) {', '.join(missing)}; columns are {', '.join(CSV_COLUMNS)}")
    return intake(runner, list(reader), user=user, rule=rule, now=now)


def list_tipoffs(runner, *, status: str | None = None, today: str | None = None, skip: int = 0,
                 limit: int = 200) -> pd.DataFrame:
    """The ledger, newest first, with deadlines and whether they are overdue on ``today``."""
    return runner.read_df("tipoffs/list", {"status": status, "today": today or date.today().isoformat(),
                                           "skip": int(skip), "limit": int(limit)})


def tipoff_matches(runner, tid: str) -> pd.DataFrame:
    """The tip-off's named entities with their risk score and the active leads they are in."""
    return runner.read_df("tipoffs/matches", {"tipoff_id": tid})


def update_tipoff(runner, tid: str, *, user: str, role: str, to_status: str | None = None,
                  assignee: str | None = None, note: str | None = None, verified_amount: float | None = None,
                  rule: RewardRule = RewardRule(), now: datetime | None = None) -> dict[str, Any]:
    """Move a tip-off on (acceptance sets the reply deadline), assign it, record the outcome: the
    verified amount and the reward by ``rule``. Raises ``ValueError`` on a move the ledger does not
    allow; returns the tip-off's new state (empty when unknown)."""
    cur = runner.read("MATCH (t:Tipoff {tipoff_id: $id}) RETURN t.status AS status", {"id": tid})
    if not cur:
        return {}
    before = cur[0]["status"]
    if to_status is not None and to_status != before and to_status not in _NEXT.get(before, ()):
        raise ValueError(f"tip-off {tid}: {before} → {to_status} is not allowed "
                         f"(next: {', '.join(_NEXT.get(before, ())) or 'none'})")
    at = (now or datetime.now()).replace(microsecond=0)
    reply_by = deadline(at.date(), rule.reply_days) if to_status == "accepted" and before == "received" else None
    amt = None if verified_amount is None else float(verified_amount)
    rows = runner.run("tipoffs/update", {
        "tipoff_id": tid, "status": to_status or before, "from_status": before, "assignee": assignee, "note": note,
        "verified_amount": amt, "reward": None if amt is None else reward(amt, rule), "reply_by": reply_by,
        "user": user, "role": role, "at": at.isoformat(), "event_id": uuid.uuid4().hex})
    return rows[0] if rows else {}
