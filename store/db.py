"""One query runner around the Neo4j driver, used by every part of ringscope.

Modelled on the graphdatascience client's ``QueryRunner``: one object owns the
driver's life cycle; values travel only as parameters; bulk writes go as
``UNWIND $rows`` batches; transient errors are retried.

Cypher text lives in ``cypher/<group>/<name>.cypher`` (shipped as package data,
``ringscope.cypher``) and is loaded by name::

    >>> from ringscope.store.db import cypher
    >>> "UNWIND $rows" in cypher("load/persons")
    True

References
----------
Neo4j Python driver manual, "Run your own transactions" and "Performance
recommendations" (batch with UNWIND, always use parameters).
"""
from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import pandas as pd

from ringscope.settings import Neo4jSettings, neo4j_settings

__all__ = ["QueryRunner", "Neo4jUnavailable", "cypher", "cypher_names", "batched", "is_query_name"]

_NAME_RE = re.compile(r"^[a-z0-9_]+(/[a-z0-9_]+)*$")

#: seconds the driver may spend on one connection attempt or retrying one managed
#: transaction; a dead server is then reported within seconds, not minutes
CONNECT_TIMEOUT_S = 5.0
TX_RETRY_S = 5.0


class Neo4jUnavailable(RuntimeError):
    """The database cannot be reached; the message is one sentence for the user."""


def is_query_name(query: str) -> bool:
    """True when ``query`` is meant as the name of a Cypher file, not Cypher text:
    it has no whitespace. Such a string is never run as Cypher.

    >>> is_query_name("app/lead_detail"), is_query_name("RETURN 1"), is_query_name("lead_detail")
    (True, False, True)
    """
    return not any(ch.isspace() for ch in query)


@functools.lru_cache(maxsize=None)
def cypher(name: str) -> str:
    """Return the text of ``cypher/<name>.cypher`` (comments kept).

    Names are ``group/file`` without the extension. Unknown names raise
    ``KeyError`` naming the file that was looked for.
    """
    if not _NAME_RE.match(name):
        raise KeyError(f"bad cypher name {name!r}: use lower-case group/name")
    path = _cypher_root().joinpath(*f"{name}.cypher".split("/"))
    if not path.is_file():
        raise KeyError(f"no Cypher file {name}.cypher in the package ringscope.cypher")
    return path.read_text(encoding="utf-8")


def _cypher_root():
    from importlib.resources import files

    return files("ringscope.cypher")


def cypher_names() -> list[str]:
    """Every named query in ``cypher/`` (``group/name``), sorted."""
    root = _cypher_root()
    return sorted(f"{group.name}/{f.name[:-len('.cypher')]}" for group in root.iterdir() if group.is_dir()
                  for f in group.iterdir() if f.name.endswith(".cypher"))


def split_statements(text: str) -> list[str]:
    """Split a file of several ``;``-terminated statements (schema files).

    >>> split_statements("CREATE INDEX a IF NOT EXISTS FOR (n:A) ON (n.x);\\n// c\\nRETURN 1;")
    ['CREATE INDEX a IF NOT EXISTS FOR (n:A) ON (n.x)', 'RETURN 1']
    """
    lines = [ln for ln in text.splitlines() if not ln.strip().startswith("//")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def batched(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Yield lists of at most ``size`` items.

    >>> [len(b) for b in batched(range(5), 2)]
    [2, 2, 1]
    """
    batch: list[Any] = []
    for r in rows:
        batch.append(r)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class QueryRunner:
    """Owns a driver; runs parameterised Cypher; batches bulk writes.

    Use as a context manager or call :meth:`close`. ``query`` may be Cypher
    text or the name of a file in ``cypher/`` (``"app/lead_subgraph"``).
    """

    def __init__(self, settings: Neo4jSettings | None = None, *, retries: int = 5):
        import neo4j

        self.settings = settings or neo4j_settings()
        self.retries = retries
        self._driver = neo4j.GraphDatabase.driver(
            self.settings.uri, auth=(self.settings.user, self.settings.password),
            notifications_min_severity="OFF", connection_timeout=CONNECT_TIMEOUT_S,
            max_transaction_retry_time=TX_RETRY_S,
        )

    # -- life cycle -----------------------------------------------------------------
    def __enter__(self) -> QueryRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._driver.close()

    def verify(self) -> None:
        """Raise :class:`Neo4jUnavailable` (one sentence) if the server cannot be
        reached, or the driver's ``AuthError`` if it refuses the credentials."""
        import neo4j.exceptions as ne

        try:
            self._driver.verify_connectivity()
        except (ne.ServiceUnavailable, ne.SessionExpired, OSError) as exc:
            raise self._unavailable(exc) from None

    def reachable(self, timeout: float = 2.0) -> bool:
        """True when a TCP connection to the server's address opens."""
        import socket
        from urllib.parse import urlparse

        u = urlparse(self.settings.uri)
        try:
            with socket.create_connection((u.hostname or "127.0.0.1", u.port or 7687), timeout=timeout):
                return True
        except OSError:
            return False

    def _unavailable(self, exc: BaseException | None = None) -> Neo4jUnavailable:
        hint = ("start it with `ringscope neo4j start`" if self.settings.local
                else "check NEO4J_URI and that the server is running")
        return Neo4jUnavailable(f"Neo4j at {self.settings.uri} cannot be reached: {hint}.")

    @property
    def database(self) -> str:
        return self.settings.database

    # -- queries --------------------------------------------------------------------
    @staticmethod
    def _text(query: str) -> str:
        """Cypher text for ``query``: a name (no whitespace) must be a file in
        ``cypher/`` (``KeyError`` otherwise -- never run as Cypher); anything
        else is Cypher text."""
        if is_query_name(query):
            return cypher(query)
        return query

    def _with_retry(self, fn):
        """Retry transient errors with backoff; a server that does not answer at
        all is :class:`Neo4jUnavailable` at once (no minutes of retries)."""
        import neo4j.exceptions as ne

        delay = 0.2
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except (ne.ServiceUnavailable, ne.SessionExpired) as exc:
                if not self.reachable():
                    raise self._unavailable(exc) from None
                if attempt == self.retries:
                    raise
            except ne.TransientError:
                if attempt == self.retries:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    def run_named(self, name: str, params: Mapping[str, Any] | None = None, *, write: bool = False) -> list[dict]:
        """Run the file ``cypher/<name>.cypher`` only; ``KeyError`` for any other string."""
        if not _NAME_RE.match(name):
            raise KeyError(f"{name!r} is not the name of a Cypher file")
        return self.run(cypher(name), params, write=write)

    def run(self, query: str, params: Mapping[str, Any] | None = None, *, write: bool = True) -> list[dict]:
        """Run one statement in a managed transaction; return records as dicts."""
        text = self._text(query)
        params = dict(params or {})

        def work(tx):
            return [r.data() for r in tx.run(text, params)]

        def go():
            with self._driver.session(database=self.database) as s:
                fn = s.execute_write if write else s.execute_read
                return fn(work)

        return self._with_retry(go)

    def read(self, query: str, params: Mapping[str, Any] | None = None) -> list[dict]:
        return self.run(query, params, write=False)

    def run_all(self, steps: Sequence[tuple[str, Mapping[str, Any] | None]], *, write: bool = True) -> list[list[dict]]:
        """Run several statements in ONE managed transaction (all commit or none);
        returns each statement's records."""
        texts = [(self._text(q), dict(p or {})) for q, p in steps]

        def work(tx):
            return [[r.data() for r in tx.run(t, p)] for t, p in texts]

        def go():
            with self._driver.session(database=self.database) as s:
                fn = s.execute_write if write else s.execute_read
                return fn(work)

        return self._with_retry(go)

    def read_df(self, query: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Records as a DataFrame; an empty result keeps the statement's columns."""
        text = self._text(query)

        def work(tx):
            res = tx.run(text, dict(params or {}))
            return list(res.keys()), [r.values() for r in res]

        def go():
            with self._driver.session(database=self.database) as s:
                return s.execute_read(work)

        keys, rows = self._with_retry(go)
        return pd.DataFrame(rows, columns=keys)

    def scalar(self, query: str, params: Mapping[str, Any] | None = None, *, write: bool = False) -> Any:
        rows = self.run(query, params, write=write)
        if not rows:
            return None
        return next(iter(rows[0].values()))

    def delete_in_batches(self, query: str, params: Mapping[str, Any] | None = None, *, limit: int = 10_000) -> int:
        """Run a write that removes at most ``$limit`` things and returns how many, until it
        removes fewer (one transaction per batch); the total removed."""
        total = 0
        while True:
            n = int(self.scalar(query, {**(params or {}), "limit": limit}, write=True) or 0)
            total += n
            if n < limit:
                return total

    def run_script(self, query: str) -> None:
        """Run each ``;``-separated statement of a file (schema, no parameters)."""
        for stmt in split_statements(self._text(query)):
            self._with_retry(lambda s=stmt: self._auto(s))

    def _auto(self, stmt: str, params: Mapping[str, Any] | None = None) -> list[dict]:
        with self._driver.session(database=self.database) as s:
            return [r.data() for r in s.run(stmt, dict(params or {}))]

    def run_auto(self, query: str, params: Mapping[str, Any] | None = None) -> list[dict]:
        """Run in an auto-commit transaction (needed by ``CALL {} IN TRANSACTIONS``)."""
        text = self._text(query)
        return self._with_retry(lambda: self._auto(text, params))

    def write_batches(
        self,
        query: str,
        rows: Iterable[Mapping[str, Any]],
        *,
        batch_size: int = 10_000,
        params: Mapping[str, Any] | None = None,
        on_batch=None,
        prelude: str | None = None,
    ) -> int:
        """Send ``rows`` as ``$rows`` to an ``UNWIND $rows`` statement, in batches.

        Each batch is one transaction (retried as a whole on transient errors),
        so an interrupted load leaves whole batches; idempotent statements
        (MERGE on keys) make a re-run exact. ``on_batch(n_done)`` is called
        after each committed batch. ``prelude`` (a statement reading the same
        ``$rows``) runs first in each batch's transaction (a re-load drops old
        relationships there). Returns the number of rows sent.
        """
        text = self._text(query)
        first = self._text(prelude) if prelude else None
        if "$rows" not in text:
            raise ValueError("a batched write needs a statement that reads $rows")
        extra = dict(params or {})
        done = 0
        for batch in batched(rows, batch_size):
            p = {**extra, "rows": batch}
            if first is None:
                self.run(text, p)
            else:
                self.run_all([(first, p), (text, p)])
            done += len(batch)
            if on_batch:
                on_batch(done)
        return done


def records(df: pd.DataFrame, columns: Sequence[str] | None = None) -> list[dict]:
    """DataFrame rows as plain dicts for ``$rows``: NaN/NaT become None,
    numpy scalars become Python ones, timestamps become ISO strings."""
    if columns is not None:
        df = df[list(columns)]
    out = df.astype(object).where(df.notna(), None)
    recs = out.to_dict("records")
    for r in recs:
        for k, v in r.items():
            if isinstance(v, pd.Timestamp):
                r[k] = v.isoformat()
            elif hasattr(v, "item") and not isinstance(v, (list, tuple, str)):
                try:
                    r[k] = v.item()
                except (ValueError, AttributeError):
                    pass
    return recs
