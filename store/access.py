"""Who may see and do what: roles, district scope, masking of personal data.

This is the one place the app's permissions live, below the pages: the data
layer (:mod:`ringscope.store.reads`) asks :func:`policy` before every read and
write and masks every frame it returns with :func:`mask_frame`, so a page, a
CSV download or a notebook helper cannot skip either.

Who may see what
----------------
Personal data in the fund's records -- names, 身份证号 (``id_number``), birth
dates and face images -- is shown in clear only to roles with clearance.

================  =====  =========  ==========  =====  =========  ======  ======  ======  =============
role              names  id_number  birth date  faces  move lead  notes   assign  export  scope
================  =====  =========  ==========  =====  =========  ======  ======  ======  =============
investigator      clear  clear      clear       clear  yes        yes     yes     yes     districts
police_liaison    clear  clear      clear       clear  no         yes     no      yes     referred leads
analyst           mask   mask       year only   mask   no         yes     no      no      districts
leader            mask   mask       year only   mask   no         no      yes     no      districts
admin             --     --         --          --     no         no      no      no      audit only
================  =====  =========  ==========  =====  =========  ======  ======  ======  =============

Masking follows common practice for Chinese personal information
(GB/T 35273-2020 *Information security technology -- Personal information
security specification*, §3.14 de-identification; the "前三后四" display
convention for ID numbers): a name keeps its first character (the surname),
an ID number its first three and last four characters (the birth date inside
it is hidden), a birth date its year, a face image is pixelated beyond
recognition.

Scope
-----
Every user has a district scope (``("*",)`` is the whole city). A lead is in
scope when one of its members (persons, institutions) is in one of the
user's districts; a person or an institution by its own district, a
physician by the district of the institution where they practise. The police
liaison sees only leads referred to the police (移送公安, now or earlier) and
their members.
"""
from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

__all__ = [
    "ROLES",
    "ROLE_LABELS",
    "ROLE_LABELS_EN",
    "ALL_DISTRICTS",
    "Policy",
    "POLICIES",
    "policy",
    "Caller",
    "PermissionDenied",
    "PERSONAL_FIELDS",
    "mask_name",
    "mask_id_number",
    "mask_birth_date",
    "mask_frame",
    "mask_reporter",
    "REPORTER_HIDDEN",
    "personal_columns",
    "fields_shown",
    "pixelate_image",
]

ROLES: tuple[str, ...] = ("investigator", "analyst", "leader", "police_liaison", "admin")
ROLE_LABELS: dict[str, str] = {
    "investigator": "稽核员",
    "analyst": "分析员",
    "leader": "领导",
    "police_liaison": "公安联络员",
    "admin": "系统管理员",
}
ROLE_LABELS_EN: dict[str, str] = {
    "investigator": "Investigator",
    "analyst": "Analyst",
    "leader": "Leader",
    "police_liaison": "Police liaison",
    "admin": "Administrator",
}
#: the scope of a user who may see the whole city
ALL_DISTRICTS = "*"

#: columns that hold personal data, by kind; a frame column is masked when its
#: name is one of these (or ends with ``_<kind>``, e.g. ``person_name``).
PERSONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("name", "person_name", "claimed_name", "enrolled_name", "src_name", "dst_name",
             "related_name", "other_name"),
    "id_number": ("id_number", "claimed_id_number", "enrolled_id_number"),
    "birth_date": ("birth_date", "claimed_birth_date"),
}


class PermissionDenied(PermissionError):
    """The caller's role or scope does not allow the read or write asked for."""


@dataclasses.dataclass(frozen=True)
class Policy:
    """What one role may see and do."""

    role: str
    clear_names: bool
    clear_id_numbers: bool
    clear_faces: bool
    edit_status: bool
    add_notes: bool
    assign: bool
    export_evidence: bool
    read_cases: bool = True        # leads, entities, rule hits
    referred_only: bool = False    # the police liaison: leads referred to the police only
    browse_all: bool = True        # rule-hit and face browsers, the briefing
    audit: bool = False            # the access log's state, the users list
    tipoffs: bool = False          # handles tip-offs (举报线索): the only role that sees a reporter's identity
    inspections: bool = False      # draws random inspections (双随机抽查) and records their results

    @property
    def masked(self) -> bool:
        """True when any personal field is masked for this role."""
        return not (self.clear_names and self.clear_id_numbers and self.clear_faces)

    @property
    def writes(self) -> bool:
        """True when the role may change a lead in any way."""
        return self.edit_status or self.add_notes or self.assign


POLICIES: dict[str, Policy] = {
    "investigator": Policy("investigator", True, True, True, True, True, True, True, tipoffs=True, inspections=True),
    "police_liaison": Policy("police_liaison", True, True, True, False, True, False, True,
                             referred_only=True, browse_all=False),
    "analyst": Policy("analyst", False, False, False, False, True, False, False),
    "leader": Policy("leader", False, False, False, False, False, True, False),
    "admin": Policy("admin", False, False, False, False, False, False, False, read_cases=False,
                    browse_all=False, audit=True),
}


def policy(role: str) -> Policy:
    """The policy of ``role``; unknown roles raise ``KeyError``.

    >>> policy("analyst").clear_names
    False
    >>> policy("police_liaison").referred_only
    True
    """
    if role not in POLICIES:
        raise KeyError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    return POLICIES[role]


@dataclasses.dataclass(frozen=True)
class Caller:
    """Who is asking: the signed-in user, their role and district scope.

    >>> Caller("wang", "analyst", ("小店区",)).districts_param
    ['小店区']
    >>> Caller("li", "leader").districts_param is None
    True
    """

    user: str
    role: str
    districts: tuple[str, ...] = (ALL_DISTRICTS,)

    def __post_init__(self) -> None:
        policy(self.role)  # unknown roles fail here
        if not self.user:
            raise ValueError("a caller needs a user name")

    @property
    def policy(self) -> Policy:
        return policy(self.role)

    @property
    def citywide(self) -> bool:
        return ALL_DISTRICTS in self.districts

    @property
    def districts_param(self) -> list[str] | None:
        """The ``$districts`` parameter of the scoped queries (``None``: the whole city)."""
        return None if self.citywide else sorted(self.districts)

    def in_scope(self, districts: Iterable[Any]) -> bool:
        """True when any of ``districts`` is in the caller's scope.

        >>> Caller("w", "analyst", ("A",)).in_scope(["B", "A"])
        True
        >>> Caller("w", "analyst", ("A",)).in_scope([None])
        False
        """
        if self.citywide:
            return True
        return any(d in self.districts for d in districts if d is not None)


def mask_name(name: Any) -> Any:
    """Keep the first character (the surname), star the rest.

    >>> mask_name("张三丰")
    '张**'
    >>> mask_name("Li Wei")
    'L*****'
    >>> mask_name(None) is None
    True
    """
    if name is None or (isinstance(name, float) and pd.isna(name)):
        return name
    s = str(name)
    if len(s) <= 1:
        return "*" if s else s
    return s[0] + "*" * (len(s) - 1)


def mask_id_number(value: Any) -> Any:
    """Show the first three and last four characters (前三后四).

    >>> mask_id_number("110101199003071234")
    '110***********1234'
    >>> mask_id_number("12345")
    '*****'
    """
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return value
    s = str(value)
    if len(s) <= 8:
        return "*" * len(s)
    return s[:3] + "*" * (len(s) - 7) + s[-4:]


def mask_birth_date(value: Any) -> Any:
    """Keep the year of a birth date.

    >>> mask_birth_date("1990-03-07")
    '1990-**-**'
    >>> mask_birth_date(None) is None
    True
    """
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return value
    s = str(value)
    return (s[:4] + "-**-**") if len(s) >= 4 and s[:4].isdigit() else "*" * len(s)


_MASKERS = {"name": mask_name, "id_number": mask_id_number, "birth_date": mask_birth_date}


#: columns whose names end like a personal field's but hold public registration or catalogue data:
#: a drug's, an institution's, a physician's (as in :func:`mask_frame`), a rule's, a staff user's
PUBLIC_NAMES = frozenset({"item_name", "institution_name", "physician_name", "rule_name", "display_name",
                          "drug_name", "name_zh", "name_en"})


def _field_kind(column: str) -> str | None:
    """The kind of personal data a column holds, if any.

    >>> _field_kind("claimed_name"), _field_kind("item_name"), _field_kind("id_number")
    ('name', None, 'id_number')
    """
    if column in PUBLIC_NAMES:
        return None
    for kind, names in PERSONAL_FIELDS.items():
        if column in names or column.endswith("_" + kind):
            return kind
    return None


def personal_columns(columns: Iterable[str]) -> list[str]:
    """The columns of a frame that hold personal data.

    >>> personal_columns(["person_id", "name", "id_number", "birth_date", "score"])
    ['name', 'id_number', 'birth_date']
    """
    return [c for c in columns if _field_kind(str(c)) is not None]


def _clear(pol: Policy, kind: str) -> bool:
    return pol.clear_names if kind == "name" else pol.clear_id_numbers


def mask_frame(df: pd.DataFrame, role: str, *, person_only_col: str | None = None) -> pd.DataFrame:
    """A copy of ``df`` with personal columns masked for ``role``.

    ``person_only_col`` names a column holding each row's entity type; names
    are then masked only on rows whose type is ``person`` or ``face`` (a
    physician's or an institution's name is public registration data, not
    personal data of an insured person).

    >>> df = pd.DataFrame({"entity_type": ["person", "institution"], "name": ["张三", "市一院"],
    ...                    "birth_date": ["1980-01-02", None]})
    >>> mask_frame(df, "analyst", person_only_col="entity_type")[["name", "birth_date"]].values.tolist()
    [['张*', '1980-**-**'], ['市一院', None]]
    """
    pol = policy(role)
    out = df.copy()
    rows = None
    if person_only_col and person_only_col in out.columns:
        rows = out[person_only_col].astype(str).isin(["person", "face"])
    for col in personal_columns(out.columns):
        kind = _field_kind(str(col))
        if _clear(pol, kind):
            continue
        masked = out[col].map(_MASKERS[kind])
        if rows is not None and kind == "name":
            out[col] = out[col].where(~rows, masked)
        else:
            out[col] = masked
    return out


#: what a reporter's identity shows to a role that does not handle tip-offs
REPORTER_HIDDEN = "（举报人信息保密）"


def mask_reporter(df: pd.DataFrame, role: str) -> pd.DataFrame:
    """A copy of ``df`` with the reporter's identity (``reporter_*`` columns) hidden entirely unless
    ``role`` handles tip-offs (举报人信息保密: not even partly shown, whatever the role's clearance).

    >>> df = pd.DataFrame({"tipoff_id": ["T-1"], "reporter_name": ["李四"], "reporter_phone": ["13800000000"]})
    >>> mask_reporter(df, "analyst")["reporter_name"].tolist(), mask_reporter(df, "investigator")["reporter_name"].tolist()
    (['（举报人信息保密）'], ['李四'])
    """
    out = df.copy()
    if policy(role).tipoffs:
        return out
    for c in out.columns:
        if str(c).startswith("reporter_"):
            out[c] = out[c].map(lambda v: v if v is None or (isinstance(v, float) and pd.isna(v)) else REPORTER_HIDDEN)
    return out


def fields_shown(columns: Sequence[str], *, faces: bool = False) -> list[str]:
    """The personal fields a view displays (for the log).

    >>> fields_shown(["person_id", "name", "score"], faces=True)
    ['name', 'face']
    """
    kinds: list[str] = []
    for c in columns:
        k = _field_kind(str(c))
        if k and k not in kinds:
            kinds.append(k)
    if faces:
        kinds.append("face")
    return kinds


def pixelate_image(data: bytes, *, blocks: int = 8) -> bytes:
    """A face image reduced to ``blocks`` × ``blocks`` cells and blurred (PNG).

    Eight cells across leave no identifying detail (the dlib model needs a
    face of about 80 pixels) while the viewer still sees that an image exists.
    """
    from PIL import Image, ImageFilter

    img = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = img.size
    small = img.resize((max(1, blocks), max(1, round(blocks * h / max(w, 1)))), Image.BILINEAR)
    out = small.resize((w, h), Image.NEAREST).filter(ImageFilter.GaussianBlur(radius=max(w, h) / 40))
    buf = io.BytesIO()
    out.save(buf, format="PNG")
    return buf.getvalue()
