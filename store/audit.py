"""The tamper-evident access log: a keyed hash chain whose head is kept in Neo4j.

Every view of personal data and every export is one :class:`AccessEvent`. It
is written twice:

- a line in an append-only JSONL file (``$RINGSCOPE_ACCESS_LOG``, default
  ``<state>/app/access_log.jsonl``, mode 0600), under an exclusive ``flock``
  and fsynced. Each line carries ``seq`` (1, 2, ...), the ``log_id`` of its
  file and ``mac`` = HMAC-SHA256(key, previous mac + the line's canonical
  JSON). The key lives outside the log (``$RINGSCOPE_AUDIT_KEY``, default
  ``<state>/app/audit.key``, mode 0600), so whoever can edit the file cannot
  recompute the chain;
- an ``AccessLog`` node in Neo4j, written in the same transaction that moves
  the chain head (``AuditHead {log_id}``: the last ``seq``, ``mac`` and the
  file's ``path``) forward. The head lives in another system from the file,
  so cutting lines off the end, deleting or emptying the file, or rewriting
  the whole file with a key an intruder obtained (under the same or a new
  ``log_id``), still disagrees with it.

:func:`verify_log` walks the file and reports the first bad entry: a line
that is not JSON (reported, not a crash), a gap or repeat in ``seq`` (a line
deleted, reordered or duplicated), a ``mac`` that does not follow (an edited
line or a chain recomputed without the key), a file shorter than the head
(truncation), or a last entry whose ``mac`` is not the head's (a recomputed
chain). With a database it reads every head of the file's path
(``app/audit_heads``): a head with entries while the file is missing or
empty, or a head of another ``log_id`` than the file's, is tampering too
(deleted, emptied, or replaced by a chain under a new ``log_id``).
``ringscope audit verify`` runs it.

A log is retired on purpose only by :func:`rotate_log` (``ringscope audit
rotate``): it verifies the log, closes its head in Neo4j (``rotated_at``,
``archive``) and moves the file aside; the next entry starts a new log_id at
the old path, and the closed head is no longer expected there.

References
----------
RFC 2104, *HMAC: Keyed-Hashing for Message Authentication*; B. Schneier,
J. Kelsey, "Secure audit logs to support computer forensics", ACM TISSEC 2(2),
1999 (hash-chained logs with keys kept apart from the log).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from ringscope.settings import state_dir
from ringscope.store.files import private_dir, write_private

__all__ = [
    "AccessEvent",
    "AccessLogger",
    "access_log_path",
    "audit_key_path",
    "load_key",
    "entry_mac",
    "Verdict",
    "verify_log",
    "rotate_log",
]


@dataclasses.dataclass
class AccessEvent:
    """One view of personal data, or one export."""

    user: str
    role: str
    page: str
    entity: str
    fields: list[str]
    masked: bool
    n_records: int = 1
    action: str = "view"   # view | export
    at: str = dataclasses.field(
        default_factory=lambda: dt.datetime.now().replace(microsecond=0).isoformat()
    )
    event_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)

    def as_params(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def access_log_path() -> Path:
    """``$RINGSCOPE_ACCESS_LOG`` or ``<state dir>/app/access_log.jsonl``."""
    env = os.environ.get("RINGSCOPE_ACCESS_LOG")
    return Path(env) if env else state_dir() / "app" / "access_log.jsonl"


def audit_key_path() -> Path:
    """``$RINGSCOPE_AUDIT_KEY`` or ``<state dir>/app/audit.key``."""
    env = os.environ.get("RINGSCOPE_AUDIT_KEY")
    return Path(env) if env else state_dir() / "app" / "audit.key"


def load_key(path: Path | None = None, *, create: bool = True) -> bytes:
    """The HMAC key (32 random bytes, hex in a 0600 file), created on first use."""
    p = Path(path) if path else audit_key_path()
    if not p.exists():
        if not create:
            raise FileNotFoundError(f"no audit key at {p}")
        private_dir(p.parent)
        write_private(p, secrets.token_hex(32) + "\n", exclusive=True)
    return bytes.fromhex(p.read_text().strip())


def _canonical(rec: dict[str, Any]) -> str:
    body = {k: v for k, v in rec.items() if k != "mac"}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def entry_mac(key: bytes, prev_mac: str, rec: dict[str, Any]) -> str:
    """HMAC-SHA256 of the previous mac and the record (without its own mac).

    >>> entry_mac(b"k", "", {"seq": 1, "user": "a"})[:16]
    '40f82af8769659d5'
    """
    return hmac.new(key, (prev_mac + "\n" + _canonical(rec)).encode("utf-8"), hashlib.sha256).hexdigest()


def _head_path(path: Path) -> str:
    """The file's absolute path, as its chain head in Neo4j records it."""
    return str(Path(path).resolve())


def _last_line(fh) -> bytes | None:
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    if size == 0:
        return None
    step, pos, buf = 4096, size, b""
    while pos > 0:
        pos = max(0, pos - step)
        fh.seek(pos)
        buf = fh.read(size - pos)
        stripped = buf.rstrip(b"\n")
        if b"\n" in stripped:
            return stripped.rsplit(b"\n", 1)[1]
    return buf.rstrip(b"\n") or None


class AccessLogger:
    """Appends :class:`AccessEvent` records to the file and to Neo4j.

    ``runner`` is a :class:`ringscope.store.db.QueryRunner` (``None``: the file
    only, e.g. when the server is down -- the head then lags behind the file
    and :func:`verify_log` says so). The file is opened under an exclusive
    ``flock`` held until the head in Neo4j has moved, so concurrent sessions
    and processes never interleave or fork the chain.
    """

    def __init__(self, runner=None, path: Path | None = None, key: bytes | None = None):
        self.runner = runner
        self.path = Path(path) if path else access_log_path()
        self._key = key

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = load_key()
        return self._key

    def _open_locked(self):
        """The log file opened for appending under an exclusive ``flock``; reopened
        when :func:`rotate_log` moved it away while this process waited for the lock."""
        while True:
            fh = os.fdopen(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600), "a+b")
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                if os.path.samestat(os.fstat(fh.fileno()), os.stat(self.path)):
                    return fh
            except FileNotFoundError:
                pass
            fh.close()

    def log(self, event: AccessEvent) -> dict[str, Any]:
        """Append one event; returns the written record (with ``seq`` and ``mac``)."""
        private_dir(self.path.parent)
        with self._open_locked() as fh:
            try:
                last = _last_line(fh)
                prev: dict[str, Any] = {}
                if last:
                    try:
                        prev = json.loads(last.decode("utf-8"))
                    except (ValueError, UnicodeDecodeError):
                        prev = {}
                log_id = prev.get("log_id") or uuid.uuid4().hex
                rec = event.as_params() | {"log_id": log_id, "seq": int(prev.get("seq") or 0) + 1}
                rec["mac"] = entry_mac(self.key, prev.get("mac") or "", rec)
                line = json.dumps(rec, ensure_ascii=False, sort_keys=True)
                fh.seek(0, os.SEEK_END)
                fh.write((line + "\n").encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
                if self.runner is not None:
                    self.runner.run("app/log_access", rec | {"path": _head_path(self.path)})
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return rec

    def read(self) -> pd.DataFrame:
        """The JSONL log as a frame (empty frame when there is none; bad lines skipped)."""
        cols = ["seq", "event_id", "at", "user", "role", "action", "page", "entity", "fields", "masked",
                "n_records"]
        if not self.path.exists():
            return pd.DataFrame(columns=cols)
        rows = []
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    continue
        return pd.DataFrame(rows) if rows else pd.DataFrame(columns=cols)


@dataclasses.dataclass
class Verdict:
    """The result of :func:`verify_log`."""

    ok: bool
    n_entries: int
    first_bad_line: int | None = None   # 1-based line number in the file
    first_bad_seq: int | None = None
    problem: str = ""
    log_id: str | None = None
    head_seq: int | None = None
    head_checked: bool = False
    warnings: list[str] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        if self.ok:
            head = ("; chain head NOT checked (no database)" if not self.head_checked
                    else "; no open chain head in Neo4j for it" if self.head_seq is None
                    else f"; chain head in Neo4j at entry {self.head_seq} agrees")
            return f"access log intact: {self.n_entries} entries{head}" + (
                "; " + "; ".join(self.warnings) if self.warnings else "")
        where = f"line {self.first_bad_line}" if self.first_bad_line else "the end of the file"
        return f"access log TAMPERED at {where}: {self.problem}"


def verify_log(path: Path | None = None, *, runner=None, key: bytes | None = None) -> Verdict:
    """Walk the chain; compare its end with the head in Neo4j (when ``runner``).

    Never raises on a bad file: a line that is not JSON, a missing field or a
    wrong type is the first bad entry.
    """
    p = Path(path) if path else access_log_path()
    k = key if key is not None else load_key(create=False)
    if not p.exists():
        return _no_entries(p, runner, "缺失 missing", "no access log yet")
    prev_mac, seq, log_id, n = "", 0, None, 0
    with open(p, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            text = raw.rstrip(b"\n")
            if not text.strip():
                return Verdict(False, n, lineno, seq + 1, "empty line inside the log", log_id)
            try:
                rec = json.loads(text.decode("utf-8"))
                if not isinstance(rec, dict):
                    raise ValueError("not an object")
                rseq, mac, rid = rec["seq"], rec["mac"], rec["log_id"]
                if not isinstance(rseq, int) or not isinstance(mac, str):
                    raise ValueError("seq/mac of the wrong type")
            except (ValueError, KeyError, UnicodeDecodeError) as exc:
                return Verdict(False, n, lineno, seq + 1, f"malformed entry ({exc})", log_id)
            if log_id is None:
                log_id = rid
            if rid != log_id:
                return Verdict(False, n, lineno, rseq, f"entry of another log ({rid})", log_id)
            if rseq != seq + 1:
                what = "deleted or reordered" if rseq > seq + 1 else "repeated or reordered"
                return Verdict(False, n, lineno, rseq,
                               f"sequence number {rseq} where {seq + 1} was due: entries {what}", log_id)
            if not hmac.compare_digest(entry_mac(k, prev_mac, rec), mac):
                return Verdict(False, n, lineno, rseq, "keyed hash does not match: entry edited, or the "
                               "chain recomputed without the key", log_id)
            prev_mac, seq, n = mac, rseq, n + 1
    if n == 0:
        return _no_entries(p, runner, "为空 empty", "the access log is empty")
    v = Verdict(True, n, log_id=log_id)
    if runner is None:
        return v
    heads = _heads(runner, p, log_id)
    v.head_checked = True
    other = [h for h in heads if h["log_id"] != log_id and _live(h)]
    if other:
        h = max(other, key=lambda r: int(r["seq"]))
        return Verdict(False, n, 1, 1, f"日志编号与 Neo4j 中的链头不符：文件的日志 {log_id}，链头的日志 {h['log_id']} "
                       f"（已记 {int(h['seq'])} 条，未轮换）——日志被替换，或整条链以新的日志编号重算 / the file's "
                       f"log_id {log_id} differs from the chain head in Neo4j ({h['log_id']}, {int(h['seq'])} "
                       "entries, not rotated): the log was replaced, or the chain recomputed under a new log_id",
                       log_id, int(h["seq"]), True)
    rows = [h for h in heads if h["log_id"] == log_id]
    if not rows:
        if n:
            v.warnings.append("no chain head in Neo4j for this log (database reset, or written while it was down)")
        return v
    head_seq, head_mac = int(rows[0]["seq"]), rows[0]["mac"]
    v.head_seq = head_seq
    if head_seq > n:
        return Verdict(False, n, None, n + 1, f"the log ends at entry {n} but the head in Neo4j is at entry "
                       f"{head_seq}: {head_seq - n} entries cut off", log_id, head_seq, True)
    # the entry at the head's position must carry the head's mac
    with open(p, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno == head_seq:
                rec = json.loads(raw)
                if rec["mac"] != head_mac:
                    return Verdict(False, n, lineno, head_seq, "entry differs from the chain head in Neo4j: "
                                   "the chain was recomputed", log_id, head_seq, True)
                break
    if head_seq < n:
        v.warnings.append(f"{n - head_seq} latest entries written while Neo4j was unreachable (head at "
                          f"{head_seq})")
    return v


def _heads(runner, path: Path, log_id: str | None) -> list[dict[str, Any]]:
    """Every chain head of this file's path, and the head of its log_id."""
    return runner.run("app/audit_heads", {"path": _head_path(path), "log_id": log_id or ""}, write=False)


def _live(head: dict[str, Any]) -> bool:
    """A head with entries that no rotation closed: its log must still be at its path."""
    return int(head.get("seq") or 0) > 0 and not head.get("rotated_at")


def _no_entries(p: Path, runner, state: str, note: str) -> Verdict:
    """A missing or empty file: intact only if no open head in Neo4j says it had entries."""
    if runner is None:
        return Verdict(True, 0, warnings=[note])
    live = [h for h in _heads(runner, p, None) if _live(h)]
    if not live:
        return Verdict(True, 0, head_checked=True, warnings=[note])
    h = max(live, key=lambda r: int(r["seq"]))
    return Verdict(False, 0, None, 1, f"访问日志文件{state.split()[0]}，但 Neo4j 中的链头记录了 {int(h['seq'])} 条（日志 "
                   f"{h['log_id']}，未轮换）——日志被删除或清空 / the log file is {state.split()[1]} but the chain "
                   f"head in Neo4j records {int(h['seq'])} entries (log {h['log_id']}, not rotated): the log was "
                   "deleted or emptied", None, int(h["seq"]), True)


def rotate_log(path: Path | None = None, *, runner, key: bytes | None = None,
               archive: Path | None = None) -> Path:
    """Retire the log on purpose: verify it, close its head in Neo4j, move the file aside.

    The file moves to ``archive`` (default ``<name>.<log_id>.jsonl`` beside it,
    still verifiable on its own); the next entry starts a new log with a new
    ``log_id`` at the old path. A tampered log is never rotated (that would
    hide the tampering): :class:`ValueError`. Needs the database (``runner``),
    because the closed head is what tells a rotation from a deletion.
    """
    if runner is None:
        raise ValueError("轮换访问日志需要数据库（要关闭链头）/ rotating the access log needs Neo4j (its head is closed)")
    p = Path(path) if path else access_log_path()
    if not p.exists():
        raise FileNotFoundError(f"no access log at {p}")
    fd = os.open(p, os.O_RDWR | os.O_APPEND)
    with os.fdopen(fd, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)   # no entry is appended while the log is checked and moved
        try:
            v = verify_log(p, runner=runner, key=key)
            if not v.ok:
                raise ValueError(f"访问日志被篡改，不能轮换 / the access log is tampered, not rotated: {v.summary()}")
            if not v.log_id:
                raise ValueError("访问日志为空，无需轮换 / the access log is empty, nothing to rotate")
            dest = Path(archive) if archive else p.with_name(f"{p.stem}.{v.log_id}{p.suffix}")
            if dest.exists():
                raise FileExistsError(f"{dest} exists")
            # the head first: a crash between the two leaves the file in place and still verifiable
            runner.run("app/audit_rotate", {"log_id": v.log_id, "archive": _head_path(dest),
                                            "at": dt.datetime.now().replace(microsecond=0).isoformat()})
            os.rename(p, dest)
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    return dest
