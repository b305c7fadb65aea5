"""Progress of long work, on stderr: a bar on a terminal, plain lines in a log.

Every long command (generate, validate, ingest, detect, bench) reports its
stage, the rows done and an estimate of the time left through this module, so
a person watching a city's year load knows it is moving and how long is left.
On a terminal it draws a ``tqdm`` bar (a maintained library); when stderr is a
file or a pipe (CI, ``nohup``, a scheduler's log) it writes one plain line at
most every ``interval`` seconds and one when a task ends::

    [validate] visits: 1,250,000/4,000,000 rows (31%), 0:00:42 elapsed, about 0:01:32 left

``configure(quiet=True)`` (the commands' ``--quiet``) silences both; errors
still reach stderr through the caller. Work with no known total reports rows
and elapsed time only.

>>> import io
>>> out = io.StringIO()
>>> configure(stream=out, bar=False, interval=0)
>>> with task("validate", "visits", total=4, unit="rows") as t:
...     t.update(2)
...     t.update(2)
>>> print(out.getvalue().splitlines()[-1])
[validate] visits: 4/4 rows (100%), done in 0:00:00
>>> configure()
"""
from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, TypeVar

__all__ = ["configure", "task", "track", "say", "is_quiet", "hms"]

T = TypeVar("T")


@dataclass
class _Settings:
    quiet: bool = False
    stream: IO[str] | None = None      # default: sys.stderr at the time of writing
    bar: bool | None = None            # None: a bar when the stream is a terminal
    interval: float = 10.0             # seconds between plain lines


_S = _Settings()


def configure(*, quiet: bool = False, stream: IO[str] | None = None, bar: bool | None = None,
              interval: float = 10.0) -> None:
    """Set how progress is shown (call with no arguments to restore the defaults)."""
    _S.quiet, _S.stream, _S.bar, _S.interval = quiet, stream, bar, interval


def is_quiet() -> bool:
    return _S.quiet


def _stream() -> IO[str]:
    return _S.stream if _S.stream is not None else sys.stderr


def _use_bar() -> bool:
    if _S.bar is not None:
        return _S.bar
    s = _stream()
    return bool(getattr(s, "isatty", lambda: False)())


def hms(seconds: float) -> str:
    """``h:mm:ss`` of a duration (whole seconds).

    >>> hms(83.7)
    '0:01:23'
    """
    return str(dt.timedelta(seconds=int(max(seconds, 0))))


def _status_mb(field: str) -> float | None:
    """A ``kB`` field of ``/proc/self/status`` in MB (None where ``/proc`` or the field is not there)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def rss_mb() -> float:
    """This process's resident memory now in MB (``VmRSS``; 0 where ``/proc`` is not there): what
    a stage still holds when it ends, beside :func:`peak_rss_mb`'s high-water mark.

    >>> rss_mb() >= 0
    True
    """
    mb = _status_mb("VmRSS")
    return 0.0 if mb is None else mb


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB: ``VmHWM``, the high-water mark of its own
    address space, which an exec starts afresh -- unlike ``ru_maxrss``, which a child started from
    a big parent keeps as its own. ``ru_maxrss`` where ``/proc`` is not there.

    >>> peak_rss_mb() > 0
    True
    """
    mb = _status_mb("VmHWM")
    if mb is not None:
        return mb
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def say(stage: str, message: str) -> None:
    """One plain line ``[stage] message`` (unless quiet)."""
    if not _S.quiet:
        print(f"[{stage}] {message}", file=_stream(), flush=True)


class _Task:
    def __init__(self, stage: str, what: str, total: float | None, unit: str):
        self.stage, self.what, self.total, self.unit = stage, what, total, unit
        self.done = 0.0
        self.t0 = time.monotonic()
        self._last = self.t0
        self._bar: Any = None
        if not _S.quiet and _use_bar():
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=f"[{stage}] {what}", unit=unit, unit_scale=True,
                             file=_stream(), leave=True, dynamic_ncols=True)

    def update(self, n: float = 1) -> None:
        self.done += n
        if _S.quiet:
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self._last >= _S.interval:
            self._last = now
            self._line(final=False)

    def set_total(self, total: float | None) -> None:
        self.total = total
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def _line(self, final: bool) -> None:
        el = time.monotonic() - self.t0
        if self.total:
            pct = min(100.0, 100.0 * self.done / self.total)
            head = f"{self.done:,.0f}/{self.total:,.0f} {self.unit} ({pct:.0f}%)"
        else:
            head = f"{self.done:,.0f} {self.unit}"
        if final:
            tail = f"done in {hms(el)}"
        elif self.total and self.done > 0:
            left = el * (self.total - self.done) / self.done
            tail = f"{hms(el)} elapsed, about {hms(left)} left"
        else:
            tail = f"{hms(el)} elapsed"
        say(self.stage, f"{self.what}: {head}, {tail}")

    def close(self) -> None:
        if _S.quiet:
            return
        if self._bar is not None:
            self._bar.close()
        else:
            self._line(final=True)


@contextmanager
def task(stage: str, what: str, total: float | None = None, unit: str = "rows") -> Iterator[_Task]:
    """A unit of long work: ``with task("ingest", "visits", total=n) as t: ... t.update(k)``."""
    t = _Task(stage, what, total, unit)
    try:
        yield t
    finally:
        t.close()


def track(items: Iterable[T], stage: str, what: str, total: float | None = None, unit: str = "items") -> Iterator[T]:
    """Iterate ``items``, one step of progress per item."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with task(stage, what, total, unit) as t:
        for x in items:
            yield x
            t.update(1)
