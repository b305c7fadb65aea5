"""The shared vocabulary of ringscope, in one place.

Scheme names and their labels (中文 first), entity types with their id column
and table, the typed member keys of leads (``person:P001``), detector kinds,
rule classes and severities, and the one "column or default" helper. Every
other module imports these from here; nothing here imports any other part of
ringscope (this module is the bottom layer, beside :mod:`ringscope.ingest.contract`).

>>> ENTITY_KEY["physician"]
'physician_id'
>>> scheme_label("split_admission")
'分解住院'
>>> scheme_label("split_admission", "en")
'split admission'
>>> parse_member(member_key("institution", "H03"))
('institution', 'H03')
"""
from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = [
    "SCHEMES",
    "SCHEME_LABELS",
    "scheme_label",
    "ENTITY_TYPES",
    "ENTITY_KEY",
    "ENTITY_TABLE",
    "ENTITY_LABELS",
    "DETECTOR_KINDS",
    "SEVERITIES",
    "RULE_CLASSES",
    "member_key",
    "parse_member",
    "col_or",
]

# the contract's scheme names (section 2), in the order investigators read them
SCHEMES = (
    "card_lending",
    "card_cashout",
    "collusive_prescribing",
    "ghost_admission",
    "split_admission",
    "doctor_shopping",
    "drug_resale",
    "other",
)

SCHEME_LABELS: dict[str, dict[str, str]] = {
    "card_lending": {"zh": "借卡/冒名就医", "en": "card lending"},
    "card_cashout": {"zh": "聚敛盗刷/套现", "en": "card cash-out"},
    "collusive_prescribing": {"zh": "医患合谋/串换药品", "en": "collusive prescribing"},
    "ghost_admission": {"zh": "挂床/虚假住院", "en": "ghost admission"},
    "split_admission": {"zh": "分解住院", "en": "split admission"},
    "doctor_shopping": {"zh": "多处开药", "en": "doctor shopping"},
    "drug_resale": {"zh": "倒卖回流药", "en": "drug resale"},
    "other": {"zh": "其他可疑网络", "en": "other"},
}


def scheme_label(scheme: str, lang: str = "zh") -> str:
    """The scheme's name for people (``zh`` default, ``en``); unknown names are returned as given."""
    return SCHEME_LABELS.get(scheme, {}).get(lang, scheme)


ENTITY_TYPES = ("person", "physician", "institution")
ENTITY_KEY = {"person": "person_id", "physician": "physician_id", "institution": "institution_id"}
ENTITY_TABLE = {"person": "persons", "physician": "physicians", "institution": "institutions"}
ENTITY_LABELS = {"person": {"zh": "参保人", "en": "person"}, "physician": {"zh": "医师", "en": "physician"},
                 "institution": {"zh": "定点机构", "en": "institution"}}

# what a detector is (the registry's ``kind``); the pipeline runs them in this order
DETECTOR_KINDS = ("face", "rule", "graph", "warning", "learned")
SEVERITIES = ("low", "medium", "high")
# rule_hits.csv's rule_class: the data alone proves the breach, or a signal to be reviewed
RULE_CLASSES = ("definite", "suspicious")


def member_key(entity_type: str, entity_id: Any) -> str:
    """Typed id as used in ``leads.csv``'s members.

    >>> member_key("person", "P001")
    'person:P001'
    """
    return f"{entity_type}:{entity_id}"


def parse_member(key: str) -> tuple[str, str]:
    """>>> parse_member("institution:H03")
    ('institution', 'H03')
    """
    t, _, i = key.partition(":")
    if t not in ENTITY_TYPES or not i:
        raise ValueError(f"bad member {key!r}: want <person|physician|institution>:<id>")
    return t, i


def col_or(df: pd.DataFrame, name: str, default: Any = None, dtype: str | None = "object") -> pd.Series:
    """``df[name]``, or a column of ``default`` on ``df``'s index when the optional column is absent.

    >>> col_or(pd.DataFrame({"a": [1, 2]}), "b").tolist()
    [None, None]
    """
    if name in df.columns:
        return df[name]
    return pd.Series([default] * len(df), index=df.index, dtype=dtype)
