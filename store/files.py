"""Files only the owner can read: private directories (0700) and files (0600).

Everything ringscope writes that holds personal data or secrets -- the Neo4j
home, the access log and its key, the users file, results directories,
evidence packages -- is created through these helpers or under the process
umask 0077 that :func:`owner_only_umask` sets (the ``ringscope`` command sets
it first thing, so the Neo4j JVM and the Streamlit child inherit it).

>>> import tempfile, os, stat
>>> d = private_dir(Path(tempfile.mkdtemp()) / "x")
>>> oct(stat.S_IMODE(os.stat(d).st_mode))
'0o700'
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["OWNER_ONLY_UMASK", "owner_only_umask", "private_dir", "write_private"]

OWNER_ONLY_UMASK = 0o077


def owner_only_umask() -> int:
    """Set the process umask to 0077 (new files 0600, folders 0700); returns the old one."""
    return os.umask(OWNER_ONLY_UMASK)


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if needed and make it 0700."""
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(p, 0o700)
    return p


def write_private(path: Path, data: str | bytes, *, exclusive: bool = False) -> Path:
    """Write ``data`` to ``path`` with mode 0600 (atomically unless ``exclusive``).

    ``exclusive`` creates the file only when it does not exist (``FileExistsError`` otherwise).
    """
    p = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if exclusive:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        return p
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(raw)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, p)
    return p
