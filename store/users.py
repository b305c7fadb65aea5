"""The app's users: roles, district scope, bcrypt password hashes, signed session tokens.

An administrator manages users with ``ringscope users add|disable|enable|list|passwd|set``;
they live in one JSON file (``$RINGSCOPE_USERS``, default ``<state>/app/users.json``,
mode 0600), rewritten atomically under an exclusive lock. Passwords are hashed
with bcrypt (the maintained ``bcrypt`` package, cost 12 by default;
``RINGSCOPE_BCRYPT_ROUNDS`` lowers it for tests) and never stored or logged in
clear.

A signed-in session carries a token signed with a server-side secret
(``itsdangerous``, HMAC-SHA256, ``<state>/app/session.key`` mode 0600). It holds
the user name, an issue time and the user's ``epoch``; the role and scope are
read from the users file on every check, never from the token or the browser,
so disabling a user, changing their role or password (which bumps the epoch)
ends their sessions at once. Tokens expire after ``SESSION_TTL_S`` (8 hours).

References
----------
N. Provos, D. Mazières, "A Future-Adaptable Password Scheme", USENIX 1999
(bcrypt); OWASP Password Storage and Session Management Cheat Sheets.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import json
import os
import re
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ringscope.settings import state_dir
from ringscope.store.access import ALL_DISTRICTS, ROLES, Caller
from ringscope.store.files import private_dir, write_private

__all__ = [
    "User",
    "UserStore",
    "UserError",
    "users_path",
    "session_key_path",
    "SESSION_TTL_S",
    "issue_token",
    "caller_from_token",
    "hash_password",
    "check_password",
]

SESSION_TTL_S = 8 * 3600
MIN_PASSWORD = 8
_NAME_RE = re.compile(r"^[A-Za-z0-9_.@\-\u4e00-\u9fff]{2,64}$")


class UserError(ValueError):
    """A user-management request that cannot be done (the message says why)."""


def users_path() -> Path:
    env = os.environ.get("RINGSCOPE_USERS")
    return Path(env) if env else state_dir() / "app" / "users.json"


def session_key_path() -> Path:
    return users_path().with_name("session.key")


def _rounds() -> int:
    return int(os.environ.get("RINGSCOPE_BCRYPT_ROUNDS", "12"))


def hash_password(password: str) -> str:
    """A bcrypt hash of ``password`` (salted; cost ``RINGSCOPE_BCRYPT_ROUNDS``)."""
    import bcrypt

    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password.encode("utf-8")) > 72:
        raise UserError("a password may have at most 72 bytes (bcrypt's limit)")
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=_rounds())).decode("ascii")


def check_password(password: str, hashed: str) -> bool:
    """True when ``password`` matches the bcrypt ``hashed``."""
    import bcrypt

    try:
        return bcrypt.checkpw(password.encode("utf-8"), hashed.encode("ascii"))
    except ValueError:
        return False


@dataclasses.dataclass
class User:
    """One account."""

    name: str
    role: str
    districts: list[str]
    display_name: str = ""
    password_hash: str = ""
    active: bool = True
    epoch: int = 0
    created_at: str = ""
    updated_at: str = ""

    def caller(self) -> Caller:
        return Caller(self.name, self.role, tuple(self.districts) or (ALL_DISTRICTS,))

    def public(self) -> dict[str, Any]:
        """Everything but the hash."""
        d = dataclasses.asdict(self)
        d.pop("password_hash")
        return d


def _now() -> str:
    return dt.datetime.now().replace(microsecond=0).isoformat()


class UserStore:
    """The users file: read, and changed under an exclusive lock."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else users_path()

    # -- file -----------------------------------------------------------------------
    def _load(self) -> dict[str, User]:
        if not self.path.exists():
            return {}
        raw = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        return {u["name"]: User(**u) for u in raw.get("users", [])}

    @contextmanager
    def _locked(self) -> Iterator[dict[str, User]]:
        private_dir(self.path.parent)
        lock = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                users = self._load()
                yield users
                body = {"users": [dataclasses.asdict(u) for u in sorted(users.values(), key=lambda u: u.name)]}
                write_private(self.path, json.dumps(body, ensure_ascii=False, indent=1))
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- reads ----------------------------------------------------------------------
    def get(self, name: str) -> User | None:
        return self._load().get(name)

    def list(self) -> list[User]:
        return sorted(self._load().values(), key=lambda u: u.name)

    def authenticate(self, name: str, password: str) -> User | None:
        """The active user when ``password`` is theirs, else ``None`` (same time either way)."""
        u = self.get(name)
        if u is None:
            check_password(password, _DUMMY_HASH)  # spend the same time: no user enumeration by timing
            return None
        ok = check_password(password, u.password_hash)
        return u if ok and u.active else None

    # -- changes --------------------------------------------------------------------
    @staticmethod
    def _check(role: str | None, districts: Sequence[str] | None) -> None:
        if role is not None and role not in ROLES:
            raise UserError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        if districts is not None and not districts:
            raise UserError(f"a user needs a district scope ('{ALL_DISTRICTS}' for the whole city)")

    def add(self, name: str, role: str, districts: Sequence[str], password: str, display_name: str = "") -> User:
        if not _NAME_RE.match(name):
            raise UserError("a user name has 2-64 letters, digits, Chinese characters or . _ - @")
        self._check(role, districts)
        h = hash_password(password)
        with self._locked() as users:
            if name in users:
                raise UserError(f"user {name!r} exists")
            now = _now()
            users[name] = User(name, role, sorted(set(districts)), display_name, h, True, 0, now, now)
            return users[name]

    def _change(self, name: str, **changes: Any) -> User:
        with self._locked() as users:
            if name not in users:
                raise UserError(f"no user {name!r}")
            u = users[name]
            for k, v in changes.items():
                setattr(u, k, v)
            u.epoch += 1   # every change ends the user's open sessions
            u.updated_at = _now()
            return u

    def set_password(self, name: str, password: str) -> User:
        return self._change(name, password_hash=hash_password(password))

    def disable(self, name: str) -> User:
        return self._change(name, active=False)

    def enable(self, name: str) -> User:
        return self._change(name, active=True)

    def set(self, name: str, *, role: str | None = None, districts: Sequence[str] | None = None,
            display_name: str | None = None) -> User:
        self._check(role, districts)
        changes: dict[str, Any] = {}
        if role is not None:
            changes["role"] = role
        if districts is not None:
            changes["districts"] = sorted(set(districts))
        if display_name is not None:
            changes["display_name"] = display_name
        return self._change(name, **changes)

    def sign_out_everywhere(self, name: str) -> User:
        return self._change(name)


_DUMMY_HASH = "$2b$04$wNX.PhfdVFcjNl1bbpQQ5ONh0xFWExH.2A7XQaIjBd.2DLmLTF/au"


# ------------------------------------------------------------------------------ tokens
def _serializer():
    from itsdangerous import URLSafeTimedSerializer

    p = session_key_path()
    if not p.exists():
        private_dir(p.parent)
        try:
            write_private(p, secrets.token_hex(32) + "\n", exclusive=True)
        except FileExistsError:
            pass
    return URLSafeTimedSerializer(p.read_text().strip(), salt="ringscope-session")


def issue_token(user: User) -> str:
    """A signed session token for ``user`` (name, epoch, a random session id)."""
    return _serializer().dumps({"u": user.name, "e": user.epoch, "s": secrets.token_hex(8)})


def caller_from_token(token: str | None, store: UserStore | None = None,
                      max_age: int = SESSION_TTL_S) -> tuple[Caller, User] | None:
    """The caller a token stands for, or ``None`` when it is missing, forged,
    expired, or its user is disabled or changed since it was issued. Role and
    scope come from the users file, never from the token."""
    from itsdangerous import BadSignature

    if not token:
        return None
    try:
        data = _serializer().loads(token, max_age=max_age)
    except BadSignature:
        return None
    u = (store or UserStore()).get(str(data.get("u")))
    if u is None or not u.active or u.epoch != data.get("e"):
        return None
    return u.caller(), u
