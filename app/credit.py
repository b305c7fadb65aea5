"""Physician credit file (医保医师记分) and institution credit rating (信用评价), as the pages see them.

Grades and points come from outcomes -- confirmed leads and closed fraud cases -- never from raw
machine findings (issue 13; the NHSA's 医保发〔2024〕23号 for physicians' points, provincial
定点医药机构信用评价 schemes for institutions' grades). The computation lives below the pages, in
:mod:`ringscope.store.credit`, because the data layer records each change of standing when a
lead's disposal changes its outcome (信用记录沿革, with the appeal path 申诉); this module
re-exports it for the pages and notebooks.

>>> clean_standing("physician")["qualification"]
'正常 normal'
"""
from __future__ import annotations

from ringscope.store.credit import (  # noqa: F401
    APPEAL, OPEN_STATUSES, SEVERITY_POINTS, STANDING, change_reason, clean_standing, institution_credit,
    physician_credit,
)

__all__ = [
    "SEVERITY_POINTS",
    "OPEN_STATUSES",
    "APPEAL",
    "STANDING",
    "physician_credit",
    "institution_credit",
    "clean_standing",
    "change_reason",
]
