"""The disposal workflow of a lead (线索处置流程).

The steps follow the national procedure for handling suspected fraud in the
medical-insurance fund (《医疗保障基金使用监督管理条例》, 2021, chapter IV;
NHSA 《医疗保障行政执法事项指导目录》 and the 2023 《医疗保障基金飞行检查管理暂行
办法》): a lead is first screened (初审), reviewed by a second officer (复审),
investigated on site and verified (调查核实); the party may appeal (申诉)
before a decision is taken (处理: recovery, fines, suspension of the agreement);
suspected crimes are referred to the police (移送公安); and the case is closed
(结案). A lead never picked up is ``new``.

Deadlines default to the working time each step is usually given; they are
suggestions the assigning officer may change.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = [
    "NEW",
    "STEPS",
    "STATUS_LABELS",
    "TRANSITIONS",
    "DEFAULT_DAYS",
    "OUTCOMES",
    "allowed_next",
    "check_transition",
    "default_deadline",
    "status_label",
    "LeadChange",
]

NEW = "new"
STEPS: tuple[str, ...] = ("初审", "复审", "调查核实", "申诉", "处理", "移送公安", "结案")
STATUS_LABELS: dict[str, str] = {
    NEW: "new (待初审)",
    "初审": "初审 initial screening",
    "复审": "复审 second review",
    "调查核实": "调查核实 investigation",
    "申诉": "申诉 appeal",
    "处理": "处理 decision",
    "移送公安": "移送公安 referred to police",
    "结案": "结案 closed",
}
#: English labels for documents set in a font without CJK glyphs.
STATUS_EN: dict[str, str] = {
    NEW: "new", "初审": "screening", "复审": "review", "调查核实": "investigation",
    "申诉": "appeal", "处理": "decision", "移送公安": "police referral", "结案": "closed",
}

TRANSITIONS: dict[str, tuple[str, ...]] = {
    NEW: ("初审",),
    "初审": ("复审", "结案"),
    "复审": ("调查核实", "初审", "结案"),
    "调查核实": ("处理", "移送公安", "结案"),
    "处理": ("申诉", "移送公安", "结案"),
    "申诉": ("处理", "结案"),
    "移送公安": ("结案",),
    "结案": (),
}

DEFAULT_DAYS: dict[str, int | None] = {
    "初审": 10, "复审": 10, "调查核实": 30, "申诉": 15, "处理": 15, "移送公安": 30, "结案": None,
}

#: how a closed lead ended: fraud confirmed, or cleared (no violation found)
OUTCOMES: tuple[str, ...] = ("confirmed", "cleared")


def status_label(status: str | None) -> str:
    """The status with its English gloss.

    >>> status_label("复审")
    '复审 second review'
    """
    return STATUS_LABELS.get(status or NEW, str(status))


def allowed_next(status: str | None) -> tuple[str, ...]:
    """Steps a lead at ``status`` may move to (unknown statuses act as ``new``).

    >>> allowed_next("调查核实")
    ('处理', '移送公安', '结案')
    """
    return TRANSITIONS.get(status or NEW, TRANSITIONS[NEW])


def check_transition(from_status: str | None, to_status: str) -> None:
    """Raise ``ValueError`` when the step is not allowed (staying put is)."""
    src = from_status if from_status in TRANSITIONS else NEW
    if to_status == src:
        return
    if to_status not in allowed_next(src):
        raise ValueError(
            f"a lead at {status_label(src)} cannot move to {status_label(to_status)}; "
            f"allowed: {', '.join(allowed_next(src)) or 'none (closed)'}"
        )


def default_deadline(step: str, today: dt.date | None = None) -> dt.date | None:
    """Today plus the step's usual time, counted in working days (Mon–Fri).

    >>> default_deadline("初审", dt.date(2024, 3, 1))   # a Friday
    datetime.date(2024, 3, 15)
    """
    days = DEFAULT_DAYS.get(step)
    if days is None:
        return None
    d = today or dt.date.today()
    added = 0
    while added < days:
        d += dt.timedelta(days=1)
        if d.weekday() < 5:
            added += 1
    return d


@dataclass
class LeadChange:
    """One change a user asks for; :meth:`params` gives ``lead_update``'s parameters."""

    lead_id: str
    from_status: str
    to_status: str
    version: int
    user: str
    role: str
    assignee: str | None
    deadline: dt.date | None
    note: str | None
    recovered: float
    outcome: str | None
    action: str
    at: str
    event_id: str

    def params(self) -> dict:
        check_transition(self.from_status, self.to_status)
        if self.to_status == "结案" and self.from_status != "结案" and self.outcome not in OUTCOMES:
            raise ValueError("closing a lead needs an outcome: confirmed or cleared")
        if self.recovered < 0:
            raise ValueError("the recovered amount cannot be negative")
        return {
            "lead_id": self.lead_id, "from_status": self.from_status, "to_status": self.to_status,
            "version": int(self.version), "user": self.user, "role": self.role,
            "assignee": self.assignee or None,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "note": self.note or None, "recovered": float(self.recovered),
            "outcome": self.outcome, "action": self.action, "at": self.at,
            "event_id": self.event_id,
        }


__all__ += ["STATUS_EN"]
