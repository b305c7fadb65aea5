"""One loader at a time per database: a lock node in Neo4j and a file lock for the local server.

Two ``ringscope ingest`` runs on one database would race on the schema and on
the ``LoadState`` bookkeeping, and two offline bulk imports would overwrite
each other's store files. So every load holds a lock for its whole run:

- **The lock node** (batched loads, on any server): one ``(:LoadLock {name:
  "ingest"})`` per database, unique on ``name`` (constraint ``load_lock_name``),
  so the ``MERGE`` that creates it is atomic -- of two loaders that arrive
  together exactly one creates it, the other reads the holder. The node names
  its holder (OS user, pid and the process's start time, host, what it does,
  since when) and carries a heartbeat that a thread of the holder renews every
  :data:`HEARTBEAT_S` seconds. A lock is **stale**, and is taken over, when its
  host is this host and its process is gone (or the pid now belongs to another
  process), or when its heartbeat is older than :data:`STALE_AFTER_S` (a holder
  on another machine that died). The take-over is conditional on the old
  holder's token, under the node's write lock, so two loaders cannot both take
  over one stale lock.
- **The file lock** (the project's local server only): ``<state>/neo4j/ingest.lock``
  through the ``filelock`` library. The offline bulk import stops the server,
  so no lock node can be read while it runs; the file lock is held across the
  whole import, and batched loads into the local server take it before the
  lock node. The kernel drops it when its process dies, so it is never stale.
  Its holder is written beside it (``ingest.lock.json``) for the message.

A loader that finds the lock held raises :class:`LoadLocked`, whose message is
one sentence naming the holder (the ``ringscope`` command exits with status
:data:`EXIT_LOCKED`), or waits up to ``wait`` seconds for it.

>>> describe_holder({"purpose": "ingest (batched)", "owner": "wang", "pid": 4242, "host": "yb-etl-01",
...                  "started_at": "2025-03-01T08:00:00Z", "heartbeat_age_s": 12})
'ingest (batched) by wang, pid 4242 on yb-etl-01, since 2025-03-01T08:00:00Z, last heartbeat 12 s ago'

References
----------
Neo4j Cypher Manual 5, "MERGE" (uniqueness constraints make MERGE atomic) and
"Concurrent data access" (write locks taken by ``SET``); the ``filelock``
library (py-filelock) documentation.
"""
from __future__ import annotations

import getpass
import json
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

__all__ = ["LoadLocked", "NodeLock", "FileLock", "load_lock", "describe_holder", "whoami",
           "EXIT_LOCKED", "HEARTBEAT_S", "STALE_AFTER_S", "LOCK_NAME"]

#: exit status of ``ringscope ingest`` when another loader holds the lock
EXIT_LOCKED = 4
#: seconds between two heartbeats of a held lock node
HEARTBEAT_S = float(os.environ.get("RINGSCOPE_LOCK_HEARTBEAT_S", "30"))
#: a lock node whose heartbeat is older than this is stale (its holder died elsewhere)
STALE_AFTER_S = float(os.environ.get("RINGSCOPE_LOCK_STALE_S", "600"))
LOCK_NAME = "ingest"


class LoadLocked(RuntimeError):
    """Another loader holds the lock; the message is one sentence naming it."""

    def __init__(self, message: str, holder: dict | None = None):
        super().__init__(message)
        self.holder = holder or {}


def whoami() -> dict[str, Any]:
    """This process as a lock holder: OS user, pid, its start time, host."""
    import psutil

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    pid = os.getpid()
    return {"owner": user, "pid": pid, "pid_started": float(psutil.Process(pid).create_time()),
            "host": socket.gethostname()}


def describe_holder(h: dict) -> str:
    """One phrase naming a holder (see the module's example)."""
    parts = [f"{h.get('purpose') or 'a load'} by {h.get('owner') or '?'}",
             f"pid {h.get('pid')} on {h.get('host') or '?'}"]
    if h.get("started_at"):
        parts.append(f"since {h['started_at']}")
    if h.get("heartbeat_age_s") is not None:
        parts.append(f"last heartbeat {int(h['heartbeat_age_s'])} s ago")
    return ", ".join(parts)


def _busy(where: str, holder: dict, waited: float) -> LoadLocked:
    waited_txt = f" after waiting {waited:.0f} s" if waited >= 0.5 else ""
    return LoadLocked(
        f"another loader holds the load lock of {where}{waited_txt}: {describe_holder(holder)}; "
        "let it finish, or run this command again with --wait SECONDS.", holder)


def _stale_reason(h: dict, stale_after_s: float) -> str | None:
    """Why the lock node ``h`` is stale, or None while its holder may be alive."""
    import psutil

    age = h.get("heartbeat_age_s")
    if age is not None and age > stale_after_s:
        return f"its heartbeat is {int(age)} s old"
    if h.get("host") == socket.gethostname() and h.get("pid") is not None:
        pid = int(h["pid"])
        try:
            started = psutil.Process(pid).create_time()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            return f"its process {pid} on this host is gone"
        except psutil.AccessDenied:
            return None
        if h.get("pid_started") is not None and abs(started - float(h["pid_started"])) > 1.0:
            return f"pid {pid} on this host now belongs to another process"
    return None


class NodeLock:
    """The ``(:LoadLock)`` node of one database, held by this process.

    ``acquire(wait)`` takes it (waiting up to ``wait`` seconds) or raises
    :class:`LoadLocked`; a heartbeat thread renews it until :meth:`release`.
    ``took_over`` describes the stale lock it replaced, if any; ``lost`` turns
    true when a heartbeat finds the lock taken by someone else.
    """

    def __init__(self, runner, *, purpose: str = "ingest", name: str = LOCK_NAME,
                 stale_after_s: float | None = None, heartbeat_s: float | None = None):
        self.runner = runner
        self.name = name
        self.purpose = purpose
        self.stale_after_s = STALE_AFTER_S if stale_after_s is None else stale_after_s
        self.heartbeat_s = HEARTBEAT_S if heartbeat_s is None else heartbeat_s
        self.token = uuid.uuid4().hex
        self.me = {**whoami(), "purpose": purpose}
        self.held = False
        self.lost = False
        self.took_over: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _params(self) -> dict:
        return {"name": self.name, "token": self.token, **self.me}

    def ensure_schema(self) -> None:
        """The uniqueness constraint that makes the ``MERGE`` atomic (idempotent; two
        loaders creating it at once are both fine)."""
        import neo4j.exceptions as ne

        try:
            self.runner.run_script("load/lock_schema")
        except ne.ClientError as e:   # the other loader created it a moment ago
            if "EquivalentSchemaRule" not in (e.code or "") and "already exists" not in str(e):
                raise

    def acquire(self, wait: float = 0.0) -> NodeLock:
        self.ensure_schema()
        t0 = time.monotonic()
        while True:
            h = self.runner.run("load/lock_acquire", self._params())[0]
            if h["token"] == self.token:
                break
            why = _stale_reason(h, self.stale_after_s)
            if why:
                got = self.runner.run("load/lock_take_over", {**self._params(), "old_token": h["token"]})
                if got and got[0]["token"] == self.token:
                    self.took_over = f"{describe_holder(h)} ({why})"
                    break
                continue
            waited = time.monotonic() - t0
            if waited >= wait:
                raise _busy(self.runner.settings.uri, h, waited)
            time.sleep(min(1.0, max(0.05, wait - waited)))
        self.held = True
        self._thread = threading.Thread(target=self._beat, name="load-lock-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                rows = self.runner.run("load/lock_heartbeat", {"name": self.name, "token": self.token})
                if not rows or not rows[0]["held"]:
                    self.lost = True
                    return
            except Exception:  # noqa: BLE001 - a dead server is the loader's to report
                pass

    def check(self) -> None:
        """Raise :class:`LoadLocked` when the lock was taken over (our heartbeat went stale)."""
        if self.lost:
            raise LoadLocked(f"the load lock of {self.runner.settings.uri} was taken over by another "
                             "loader while this one ran (its heartbeat went stale); this load stopped. "
                             "Run it again: it resumes where it stopped.")

    def abandon(self) -> None:
        """Stop the heartbeat without deleting the node (the bulk import is about to
        replace the whole store, the node with it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.held = False

    def release(self) -> None:
        """Delete the lock node if it is still ours (a dead server is ignored: the
        next loader on this host finds this process gone and takes the lock over)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.held:
            self.held = False
            if not self.runner.reachable(timeout=1.0):
                return          # the server died: nothing to delete now (see above)
            try:
                self.runner.run("load/lock_release", {"name": self.name, "token": self.token})
            except Exception:  # noqa: BLE001
                pass

    def __enter__(self) -> NodeLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class FileLock:
    """The local server's ``ingest.lock`` (``filelock``), its holder written beside it."""

    def __init__(self, path: Path | None = None, *, purpose: str = "ingest"):
        from ringscope.settings import state_dir

        self.path = Path(path) if path else state_dir() / "neo4j" / "ingest.lock"
        self.info = self.path.with_name(self.path.name + ".json")
        self.purpose = purpose
        self._lock = None

    def _holder(self) -> dict:
        try:
            return json.loads(self.info.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def acquire(self, wait: float = 0.0) -> FileLock:
        import filelock

        from ringscope.store.files import private_dir, write_private

        private_dir(self.path.parent)
        lock = filelock.FileLock(str(self.path), mode=0o600)
        t0 = time.monotonic()
        try:
            lock.acquire(timeout=max(0.0, wait), poll_interval=0.25)
        except filelock.Timeout:
            raise _busy(f"the local Neo4j ({self.path.parent})", self._holder(),
                        time.monotonic() - t0) from None
        self._lock = lock
        me = {**whoami(), "purpose": self.purpose,
              "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        write_private(self.info, json.dumps(me, ensure_ascii=False))
        return self

    def release(self) -> None:
        if self._lock is not None:
            self.info.unlink(missing_ok=True)
            self._lock.release()
            self._lock = None

    def __enter__(self) -> FileLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextmanager
def load_lock(runner, *, wait: float = 0.0, purpose: str = "ingest (batched)") -> Iterator[NodeLock]:
    """Hold the load locks of ``runner``'s database for a batched load: the file
    lock first when it is the local server, then the lock node. Yields the
    :class:`NodeLock` (``took_over``, ``check()``)."""
    t0 = time.monotonic()
    flock = FileLock(purpose=purpose).acquire(wait) if runner.settings.local else None
    try:
        node = NodeLock(runner, purpose=purpose)
        node.acquire(max(0.0, wait - (time.monotonic() - t0)))
        try:
            yield node
        finally:
            node.release()
    finally:
        if flock is not None:
            flock.release()
