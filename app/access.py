"""Roles, masking of personal data, and the access log.

Who may see what
----------------
Personal data in the fund's records -- names, 身份证号 (``id_number``) and face
images -- is shown in clear only to roles with clearance; every other role
sees masked values. The matrix (also in ``docs/app.md``):

=================  =======  =========  =====  ============  =================  ==============
role               names    id_number  faces  edit status   assignee/deadline  evidence export
=================  =======  =========  =====  ============  =================  ==============
investigator       clear    clear      clear  yes           yes                yes
police_liaison     clear    clear      clear  notes only    no                 yes
analyst            masked   masked     masked notes only    no                 no
leader             masked   masked     masked no            yes                no
=================  =======  =========  =====  ============  =================  ==============

Masking follows common practice for Chinese personal information
(GB/T 35273-2020 *Information security technology -- Personal information
security specification*, §3.14 de-identification; the "前三后四" display
convention for ID numbers): a name keeps its first character (the surname),
an ID number its first three and last four characters, a face image is
pixelated beyond recognition.

Access log
----------
Every view of personal data -- clear *or* masked -- is logged with who, role,
when, page, entity and fields: an ``AccessLog`` node in Neo4j
(``cypher/app/log_access.cypher``) and a line in an append-only JSONL file
under the state directory. Each JSONL line carries the SHA-256 of the line
before it (a hash chain), so a deleted or edited line is detectable with
:func:`verify_log_chain`.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import hashlib
import io
import json
import os
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "ROLES",
    "ROLE_LABELS",
    "Policy",
    "POLICIES",
    "policy",
    "PERSONAL_FIELDS",
    "mask_name",
    "mask_id_number",
    "mask_frame",
    "pixelate_image",
    "AccessEvent",
    "AccessLogger",
    "access_log_path",
    "verify_log_chain",
]

ROLES: tuple[str, ...] = ("investigator", "analyst", "leader", "police_liaison")
ROLE_LABELS: dict[str, str] = {
    "investigator": "Investigator 稽核员",
    "analyst": "Analyst 分析员",
    "leader": "Leader 领导",
    "police_liaison": "Police liaison 公安联络员",
}

#: columns that hold personal data, by kind; a frame column is masked when its
#: name is one of these (or ends with ``_<name>``, e.g. ``person_name``).
PERSONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("name", "person_name", "claimed_name", "enrolled_name", "src_name", "dst_name"),
    "id_number": ("id_number", "claimed_id_number", "enrolled_id_number"),
}


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

    @property
    def masked(self) -> bool:
        """True when any personal field is masked for this role."""
        return not (self.clear_names and self.clear_id_numbers and self.clear_faces)


POLICIES: dict[str, Policy] = {
    "investigator": Policy("investigator", True, True, True, True, True, True, True),
    "police_liaison": Policy("police_liaison", True, True, True, False, True, False, True),
    "analyst": Policy("analyst", False, False, False, False, True, False, False),
    "leader": Policy("leader", False, False, False, False, False, True, False),
}


def policy(role: str) -> Policy:
    """The policy of ``role``; unknown roles raise ``KeyError``.

    >>> policy("analyst").clear_names
    False
    """
    if role not in POLICIES:
        raise KeyError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    return POLICIES[role]


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


def _field_kind(column: str) -> str | None:
    for kind, names in PERSONAL_FIELDS.items():
        if column in names or column.endswith("_" + kind):
            return kind
    return None


def personal_columns(columns: Iterable[str]) -> list[str]:
    """The columns of a frame that hold personal data.

    >>> personal_columns(["person_id", "name", "id_number", "score"])
    ['name', 'id_number']
    """
    return [c for c in columns if _field_kind(c) is not None]


def mask_frame(df: pd.DataFrame, role: str, *, person_only_col: str | None = None) -> pd.DataFrame:
    """A copy of ``df`` with personal columns masked for ``role``.

    ``person_only_col`` names a column holding each row's entity type; names
    are then masked only on rows whose type is ``person`` (a physician's or an
    institution's name is public registration data, not personal data of an
    insured person).
    """
    pol = policy(role)
    out = df.copy()
    rows = None
    if person_only_col and person_only_col in out.columns:
        rows = out[person_only_col].astype(str).eq("person")
    for col in personal_columns(out.columns):
        kind = _field_kind(col)
        clear = pol.clear_names if kind == "name" else pol.clear_id_numbers
        if clear:
            continue
        fn = mask_name if kind == "name" else mask_id_number
        masked = out[col].map(fn)
        if rows is not None and kind == "name":
            out[col] = out[col].where(~rows, masked)
        else:
            out[col] = masked
    return out


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


# ------------------------------------------------------------------------------ logging
@dataclasses.dataclass
class AccessEvent:
    """One view of personal data."""

    user: str
    role: str
    page: str
    entity: str
    fields: list[str]
    masked: bool
    n_records: int = 1
    at: str = dataclasses.field(
        default_factory=lambda: dt.datetime.now().replace(microsecond=0).isoformat()
    )
    event_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)

    def as_params(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def access_log_path() -> Path:
    """``$RINGSCOPE_ACCESS_LOG`` or ``<state dir>/app/access_log.jsonl``."""
    env = os.environ.get("RINGSCOPE_ACCESS_LOG")
    if env:
        return Path(env)
    from ringscope.settings import state_dir

    return state_dir() / "app" / "access_log.jsonl"


def _line_hash(line: str) -> str:
    return hashlib.sha256(line.encode("utf-8")).hexdigest()


def _last_line(fh) -> str | None:
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    if size == 0:
        return None
    step = 4096
    pos = size
    buf = b""
    while pos > 0:
        pos = max(0, pos - step)
        fh.seek(pos)
        buf = fh.read(size - pos)
        stripped = buf.rstrip(b"\n")
        if b"\n" in stripped:
            return stripped.rsplit(b"\n", 1)[1].decode("utf-8")
    return buf.rstrip(b"\n").decode("utf-8") or None


class AccessLogger:
    """Writes :class:`AccessEvent` records to Neo4j and to the JSONL file.

    ``runner`` is a :class:`ringscope.store.db.QueryRunner` (or ``None`` to
    write the file only, e.g. when the server is down -- the file is the log of
    record then). The file is opened in append mode under an exclusive
    ``flock`` so concurrent sessions never interleave or break the chain.
    """

    def __init__(self, runner=None, path: Path | None = None):
        self.runner = runner
        self.path = Path(path) if path else access_log_path()

    def log(self, event: AccessEvent) -> AccessEvent:
        self._append(event)
        if self.runner is not None:
            self.runner.run("app/log_access", event.as_params())
        return event

    def _append(self, event: AccessEvent) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                last = _last_line(fh)
                rec = event.as_params()
                rec["prev_sha256"] = _line_hash(last) if last else None
                line = json.dumps(rec, ensure_ascii=False, sort_keys=True)
                fh.seek(0, os.SEEK_END)
                fh.write((line + "\n").encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def read(self) -> pd.DataFrame:
        """The JSONL log as a frame (empty frame when there is none)."""
        if not self.path.exists():
            return pd.DataFrame(columns=["event_id", "at", "user", "role", "page", "entity", "fields"])
        return pd.read_json(self.path, lines=True, dtype=False)


def verify_log_chain(path: Path) -> tuple[bool, int]:
    """Check the hash chain of a JSONL access log.

    Returns ``(ok, n_lines)``; ``ok`` is False at the first line whose
    ``prev_sha256`` is not the hash of the line before it.
    """
    prev: str | None = None
    n = 0
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            line = raw.rstrip("\n")
            if not line:
                continue
            rec = json.loads(line)
            want = _line_hash(prev) if prev is not None else None
            if rec.get("prev_sha256") != want:
                return False, n
            prev = line
            n += 1
    return True, n


def fields_shown(columns: Sequence[str], *, faces: bool = False) -> list[str]:
    """The personal fields a view displays (for the log).

    >>> fields_shown(["person_id", "name", "score"], faces=True)
    ['name', 'face']
    """
    kinds = []
    for c in columns:
        k = _field_kind(c)
        if k and k not in kinds:
            kinds.append(k)
    if faces:
        kinds.append("face")
    return kinds


__all__ += ["personal_columns", "fields_shown"]
