"""CSV records cut and counted from the raw bytes, independently of the parser.

The reader never lets a CSV parser decide on its own how many records a file
holds: a parser that meets an unbalanced quote reads on to the next quote and
silently folds every record in between into one field (issue 17: 1,056 visits
lost behind one stray quote), and a parser with a field size limit drops the
record that exceeds it. :class:`CsvFile` therefore finds the records itself,
in the raw bytes, vectorised with numpy, before Arrow parses them:

1. **Lines.** A line ends at ``\\n``, ``\\r\\n`` or a lone ``\\r`` (the three
   line breaks Arrow's parser accepts). Empty lines are not records.
2. **Quotes** (RFC 4180, Shafranovich 2005). A line with an even number of
   ``"`` is a record of its own. A line with an odd number opens a quoted
   field that runs over the line break; the record closes at the next line
   with an odd number of quotes. That multi-line record is kept only when its
   quoting is well-formed -- every opening quote at the start of a field (or
   the second of a doubled ``""``), every closing quote at the end of one --
   and it has the header's number of fields. Otherwise the quote is
   *unbalanced*: the line that opened it is quarantined ("unbalanced quote
   opened at line 12") and reading starts again on the next line, so one
   stray quote costs one record, never the rest of the file. A quote still
   open at the end of the file costs the line that opened it ("quote opened at
   line 40 is never closed (end of file)").
3. **Literal quotes.** A line whose quotes break the rule but which Python's
   :mod:`csv` reads as exactly the header's number of fields (``Clinic
   "North" branch`` in an unquoted field: a literal quote, as Arrow and every
   spreadsheet read it) is kept, re-quoted properly before Arrow sees it.
4. **Field counts.** A record with another number of fields than the header
   is quarantined with its physical line ("record has 6 fields, the header has
   4 (第 12 行 line 12)"; the record number and the line differ once a quoted
   field spans lines).
5. **Sizes.** No field size limit: a field of any length is read, as long as
   its record is under ``max_record_bytes`` (64 MiB by default, which bounds
   memory); a longer record is quarantined with that reason, never dropped.
6. **Encoding.** A file whose first 64 KiB are not UTF-8 is refused (it is in
   another encoding, e.g. GBK: :class:`~ringscope.ingest.errors.ContractError`);
   a record further on with bytes that are not UTF-8 is quarantined with the
   line and byte. A UTF-8 byte-order mark is skipped.

Each :class:`CsvChunk` holds the clean records (the bytes Arrow parses, whole
records only, so a chunk never splits one), their record numbers (data rows
from 1, the contract's ``row_number``) and physical line numbers, and the
records that could not be read (:class:`BadRecord`: number, line, reason and
the text, from which the reader takes the key). Every record of the file is
in exactly one of the two, so ``rows_read`` -- the number of records counted
here -- always equals accepted + quarantined.

>>> import tempfile, os
>>> p = os.path.join(tempfile.mkdtemp(), "t.csv")
>>> _ = open(p, "wb").write(b'id,name\\n1,a\\n2,"b\\n3,c\\n4,"d\\ne"\\n')
>>> f = CsvFile(p)
>>> f.header
['id', 'name']
>>> [(c.rows.tolist(), [(b.row, b.line, b.reason) for b in c.bad]) for c in f.chunks(2)]
[([1, 3, 4], [(2, 3, 'unbalanced quote opened at line 3')])]
"""
from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from functools import lru_cache
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ringscope.ingest.errors import ContractError

__all__ = ["CsvFile", "CsvChunk", "BadRecord", "SNIFF_BYTES", "MAX_RECORD_BYTES", "parse_fields", "check_records",
           "line_note"]

QUOTE, COMMA, LF, CR = 0x22, 0x2C, 0x0A, 0x0D
BOM = b"\xef\xbb\xbf"
SNIFF_BYTES = 64 * 1024             # a file whose first bytes are not UTF-8 is in another encoding
MAX_RECORD_BYTES = 64 * 1024 * 1024
_FIRST_BLOCK = 4 << 20
_MIN_FIRST = 64 << 10
_MIN_BLOCK, _MAX_BLOCK = 1 << 20, 256 << 20
_TEXT_CAP = 64 * 1024               # bytes of a bad record kept (for its key and the message)
_BREAKS = re.compile(rb"\r\n|\r|\n")
_SPECIAL = np.zeros(256, dtype=bool)
_SPECIAL[[QUOTE, COMMA, LF, CR]] = True

_START, _CONT, _BAD, _BLANK = 0, 1, 2, 3       # line kinds
_CLEAN, _REPAIRED, _REJECTED = 0, 1, 2         # record states


def line_note(line: int) -> str:
    """The physical line appended to a quarantine reason (a record's number and its line differ
    once a quoted field spans lines).

    >>> "record has 3 fields, the header has 2" + line_note(7)
    'record has 3 fields, the header has 2 (第 7 行 line 7)'
    """
    return f" (第 {line} 行 line {line})"


@dataclass
class BadRecord:
    """A record that could not be read: its number, first line, reason and (capped) text."""

    row: int
    line: int
    reason: str
    text: bytes = b""

    @property
    def fields(self) -> list[str]:
        """The record's fields as far as Python's lenient csv can tell (for its key)."""
        return parse_fields(self.text, strict=False, errors="replace") or []


@dataclass
class CsvChunk:
    """Whole records of one block of the file, in file order."""

    data: bytes | memoryview          # the clean records, each ending with a line break
    rows: np.ndarray                  # record number (from 1) of each clean record
    lines: np.ndarray                 # line (header = 1) each clean record starts on
    offsets: np.ndarray               # start of each clean record in ``data``, then len(data)
    multiline: bool                   # a clean record spans lines (quoted line breaks)
    max_record: int                   # longest clean record, bytes
    bad: list[BadRecord] = field(default_factory=list)
    bytes_done: int = 0               # bytes of the file consumed so far

    @property
    def n_records(self) -> int:
        return len(self.rows) + len(self.bad)


def parse_fields(text: bytes, *, strict: bool, errors: str = "surrogateescape") -> list[str] | None:
    """One record's fields with Python's :mod:`csv` (no field size limit); None if it cannot be read.

    ``errors``: how bytes that are not UTF-8 are decoded (``surrogateescape`` keeps them for
    re-encoding, ``replace`` shows them as U+FFFD)."""
    s = text.decode("utf-8", errors=errors)
    old = csv.field_size_limit()
    try:
        csv.field_size_limit(max(old, len(s) + 1))
        rows = [r for r in csv.reader(io.StringIO(s, newline=""), strict=strict)]
    except csv.Error:
        return None
    finally:
        csv.field_size_limit(old)
    if len(rows) != 1:
        return None
    return rows[0]


def _encode(fields: list[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL).writerow(fields)
    return buf.getvalue().encode("utf-8", errors="surrogateescape")


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + n)`` for every (s, n)."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    out = np.ones(total, dtype=np.int64)
    nz = counts > 0
    first = (ends - counts)[nz]
    out[first] = starts[nz]
    out[first[1:]] -= (starts[nz][:-1] + counts[nz][:-1] - 1)
    return np.cumsum(out)


def check_records(a: np.ndarray, q: np.ndarray, c: np.ndarray, rs: np.ndarray,
                  rend: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For records ``[rs, rend)`` of bytes ``a`` (quote positions ``q``, comma positions ``c``):
    whether their quoting is well-formed RFC 4180, and their number of fields.

    >>> a = np.frombuffer(b'a,"b,c",d\\nx""y,z', dtype=np.uint8)
    >>> q, c = np.flatnonzero(a == QUOTE), np.flatnonzero(a == COMMA)
    >>> ok, nf = check_records(a, q, c, np.array([0, 10]), np.array([9, 16]))
    >>> ok.tolist(), nf.tolist()
    ([True, False], [3, 2])
    """
    nrec = len(rs)
    ok = np.ones(nrec, dtype=bool)
    qi0, qi1 = np.searchsorted(q, rs), np.searchsorted(q, rend)
    ci0, ci1 = np.searchsorted(c, rs), np.searchsorted(c, rend)
    nf = (ci1 - ci0 + 1).astype(np.int64)
    nq = qi1 - qi0
    withq = np.flatnonzero(nq > 0)
    if not len(withq):
        return ok, nf
    if not (nq % 2).any() and int(qi1[-1] - qi0[0]) == int(nq.sum()):
        return _check_paired(a, q[qi0[0]:qi1[-1]], c[ci0[0]:ci1[-1]], rs, ok, nf)
    ok[withq[nq[withq] % 2 == 1]] = False                # a quote left open
    qidx = _ranges(qi0[withq], nq[withq])
    rid = np.repeat(withq, nq[withq])
    pos = q[qidx]
    k = qidx - qi0[rid]
    opener = (k % 2) == 0
    last = len(a) - 1
    prev = a[np.maximum(pos - 1, 0)]
    nxt = a[np.minimum(pos + 1, last)]
    good = np.where(opener,
                    (pos == rs[rid]) | (prev == COMMA) | ((prev == QUOTE) & (k > 0)),
                    (pos + 1 == rend[rid]) | (nxt == COMMA) | (nxt == QUOTE))
    if not good.all():
        ok &= np.bincount(rid[~good], minlength=nrec) == 0
    # commas inside quotes are not separators
    nc = ci1 - ci0
    cidx = _ranges(ci0[withq], nc[withq])
    if len(cidx):
        crid = np.repeat(withq, nc[withq])
        before = np.searchsorted(q, c[cidx]) - qi0[crid]
        inside = (before % 2) == 1
        nf -= np.bincount(crid[inside], minlength=nrec)
    return ok, nf


def _check_paired(a: np.ndarray, pos: np.ndarray, c: np.ndarray, rs: np.ndarray, ok: np.ndarray,
                  nf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`check_records` when every record holds an even number of quotes and no quote lies
    between records (the common case, e.g. a file with every field quoted): quote 2m opens and
    quote 2m+1 closes, so no quote needs its record looked up -- elementwise over the quotes."""
    n = len(a)
    op, cl = pos[0::2], pos[1::2]
    prev = a[np.maximum(op - 1, 0)]
    good_op = (op == 0) | (prev == COMMA) | (prev == LF) | (prev == CR) | (prev == QUOTE)
    nxt = a[np.minimum(cl + 1, n - 1)]
    good_cl = (cl + 1 == n) | (nxt == COMMA) | (nxt == LF) | (nxt == CR) | (nxt == QUOTE)
    bad = np.concatenate([op[~good_op], cl[~good_cl]])
    if len(bad):
        ok[np.unique(np.searchsorted(rs, bad, side="right") - 1)] = False
    lo, hi = int(op[0]), int(cl[-1])
    c = c[(c > lo) & (c < hi)]
    if len(c):
        depth = np.zeros(hi - lo + 1, dtype=np.int8)    # +1 after an opening quote, -1 after a closing one
        depth[op - lo + 1] += 1
        depth[cl[:-1] - lo + 1] -= 1
        inside = c[np.cumsum(depth, dtype=np.int8)[c - lo] > 0]
        if len(inside):
            nf -= np.bincount(np.searchsorted(rs, inside, side="right") - 1, minlength=len(rs))
    return ok, nf


def _plain_text(buf: bytes, limit: int) -> bool:
    """No lone CR in ``buf[:limit]`` and valid UTF-8 (two passes in C)."""
    if buf.count(b"\r", 0, limit) != buf.count(b"\r\n", 0, limit):
        return False
    try:
        str(memoryview(buf)[:limit], "utf-8")
    except UnicodeDecodeError:
        return False
    return True


_FIELD = r'(?:"(?:[^"]|"")*"|[^",\r\n]*)'


@lru_cache(maxsize=64)
def _record_regex(ncols: int) -> str:
    """A line that is one strictly RFC 4180 record of ``ncols`` fields, with its line break."""
    return "^" + _FIELD + ("," + _FIELD) * (ncols - 1) + r"\r?\n?$"


def _lines_ok(lines: pa.StringArray, qcount: np.ndarray, ncols: int) -> np.ndarray:
    """Per line (valid UTF-8, no lone CR): strictly well-formed with ``ncols`` fields."""
    if not len(lines):
        return np.zeros(0, dtype=bool)
    if not qcount.any():         # no quotes: a comma count
        commas = pc.count_substring(lines, ",")
        return np.asarray(commas.to_numpy(zero_copy_only=False), dtype=np.int64) == ncols - 1
    got = pc.match_substring_regex(lines, _record_regex(ncols))
    return np.asarray(got.to_numpy(zero_copy_only=False), dtype=bool)


def _check_span(a: np.ndarray, s: int, e: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`check_records` of the one record ``[s, e)``, with its own quote and comma positions."""
    sub = a[s:e]
    q, c = np.flatnonzero(sub == QUOTE), np.flatnonzero(sub == COMMA)
    return check_records(sub, q, c, np.array([0]), np.array([e - s]))


# =========================================================================== file
class CsvFile:
    """A CSV table file: its header, then its records in chunks (see the module docstring)."""

    def __init__(self, path: str | Path, *, max_record_bytes: int = MAX_RECORD_BYTES):
        self.path = Path(path)
        self.max_record_bytes = int(max_record_bytes)
        self._general_only = False        # tests: force the per-quote path for every block
        self.size = self.path.stat().st_size
        self.header: list[str] | None = None      # None: the file is empty (no header row)
        self.header_lines = 0
        self._data_start = 0
        self._read_header()

    # ------------------------------------------------------------------ header
    def _read_header(self) -> None:
        name = self.path.name
        with open(self.path, "rb") as f:
            head = f.read(max(SNIFF_BYTES, _FIRST_BLOCK))
            eof = len(head) < max(SNIFF_BYTES, _FIRST_BLOCK)
            skip = len(BOM) if head.startswith(BOM) else 0
            try:
                codecs.getincrementaldecoder("utf-8")().decode(head[skip:SNIFF_BYTES],
                                                               final=eof and len(head) <= SNIFF_BYTES)
            except UnicodeDecodeError as e:
                raise ContractError(f"{name} is not UTF-8 text ({e.reason} at byte {e.start + skip}); "
                                    "export it as UTF-8") from e
            if not head[skip:].strip(b"\r\n\t "):
                self.header, self._data_start = None, len(head)
                return
            end = self._header_end(head, skip)
            while end is None and not eof and len(head) <= self.max_record_bytes:
                more = f.read(len(head))
                eof = len(more) < len(head)
                head += more
                end = self._header_end(head, skip)
        if end is None:
            if not eof:
                raise ContractError(f"{name}: the header row never ends (an unbalanced quote?)")
            end = (len(head), len(head))
        content_end, next_start = end
        raw = head[skip:content_end]
        fields = parse_fields(raw, strict=True)
        if fields is None:
            raise ContractError(f"{name}: the header row is not a well-formed CSV record ({raw[:60]!r})")
        if not any(x.strip() for x in fields):
            raise ContractError(f"{name}: the first line must be the header row (got {raw[:60]!r})")
        self.header = [x.strip() for x in fields]
        self.header_lines = 1 + len(_BREAKS.findall(raw))
        self._data_start = next_start

    @staticmethod
    def _header_end(buf: bytes, skip: int) -> tuple[int, int] | None:
        """(content end, next record start) of the first record, or None if not in ``buf``."""
        pos, quotes = skip, 0
        while True:
            lf, cr = buf.find(b"\n", pos), buf.find(b"\r", pos)
            t = min(x for x in (lf, cr) if x >= 0) if lf >= 0 or cr >= 0 else -1
            if t < 0:
                return None
            quotes += buf.count(b'"', pos, t)
            if quotes % 2 == 0:
                break
            pos = t + 1
        if buf[t:t + 1] == b"\r":
            if t + 1 >= len(buf):
                return None          # a CR at the end of what was read: a LF may follow
            return t, (t + 2 if buf[t + 1:t + 2] == b"\n" else t + 1)
        return t, t + 1

    # ------------------------------------------------------------------ records
    def chunks(self, ncols: int, target_rows: int = 200_000) -> Iterator[CsvChunk]:
        """The file's records, ``target_rows`` or so per chunk (whole records only)."""
        if self.header is None:
            return
        with open(self.path, "rb") as f:
            f.seek(self._data_start)
            buf = b""
            line, row = self.header_lines + 1, 1
            block = int(min(_FIRST_BLOCK, max(_MIN_FIRST, 256 * target_rows)))
            skipping = False
            done = self._data_start
            eof = False
            read_more = True
            while True:
                if read_more and not eof:
                    data = f.read(block)
                    done += len(data)
                    eof = len(data) < block
                    buf = buf + data if buf else data
                if skipping:        # inside an over-long record: drop bytes up to its line break
                    a = np.frombuffer(buf, dtype=np.uint8)
                    brk = np.flatnonzero((a == LF) | (a == CR))
                    if not len(brk) or (a[brk[0]] == CR and brk[0] + 1 >= len(a) and not eof):
                        buf = buf[int(brk[0]):] if len(brk) else b""
                        if eof:
                            return
                        read_more = True
                        continue
                    t = int(brk[0])
                    if a[t] == CR and t + 1 < len(a) and a[t + 1] == LF:
                        t += 1
                    buf = buf[t + 1:]
                    line += 1
                    skipping = False
                chunk, used, n_lines, n_rec = self._scan(buf, eof, line, row, ncols, target_rows)
                line += n_lines
                row += n_rec
                buf = buf[used:]
                if not eof and len(buf) > self.max_record_bytes and not self._has_break(buf):
                    chunk.bad.append(BadRecord(row, line, f"record at line {line} is longer than "
                                               f"{_size(self.max_record_bytes)} (max_record_bytes); "
                                               "it was not read", bytes(buf[:_TEXT_CAP])))
                    row += 1
                    buf = b""
                    skipping = True
                chunk.bytes_done = done - len(buf)
                if chunk.n_records:
                    yield chunk
                full = n_rec >= target_rows            # cut at target_rows: scan the rest first
                if eof and (not buf or not full):
                    return
                read_more = not full
                if n_rec:
                    per = max(1.0, used / n_rec)
                    block = int(min(_MAX_BLOCK, max(_MIN_BLOCK, target_rows * per)))

    @staticmethod
    def _has_break(buf: bytes) -> bool:
        return b"\n" in buf or b"\r" in buf

    def _scan(self, buf: bytes, eof: bool, line0: int, row0: int, ncols: int,
              target_rows: int) -> tuple[CsvChunk, int, int, int]:
        """Records of ``buf`` (which starts at a record): the chunk, bytes used, lines and records used."""
        arr = np.frombuffer(buf, dtype=np.uint8)
        n = len(arr)
        limit = n - 1 if (not eof and n and arr[-1] == CR) else n
        a = arr[:limit]
        mv = memoryview(buf)
        # the fast path: no lone CR and valid UTF-8 (every ordinary export); lines are then checked
        # by Arrow (RE2) and numpy per line, not per quote
        fast = not self._general_only and _plain_text(buf, limit)
        if fast:
            lf, cr = np.flatnonzero(a == LF), np.zeros(0, dtype=np.int64)
            q = c = np.zeros(0, dtype=np.int64)
        else:
            special = np.flatnonzero(_SPECIAL[a])              # one pass: quotes, commas, line breaks
            kinds = a[special]
            lf, cr = special[kinds == LF], special[kinds == CR]
            q, c = special[kinds == QUOTE], special[kinds == COMMA]
            del special, kinds
        if len(cr):
            follows_lf = np.zeros(len(cr), dtype=bool)
            inner = cr + 1 < limit
            follows_lf[inner] = a[cr[inner] + 1] == LF
            term = np.union1d(lf, cr[~follows_lf])
        else:
            term = lf
        starts = np.concatenate([[0], term[:-1] + 1]).astype(np.int64) if len(term) else np.zeros(0, np.int64)
        ends = term.astype(np.int64).copy()
        nexts = term.astype(np.int64) + 1
        if len(term):
            crlf = (a[term] == LF) & (term > starts) & (a[np.maximum(term - 1, 0)] == CR)
            ends[crlf] -= 1
        terminated = np.ones(len(starts), dtype=bool)
        tail = int(term[-1]) + 1 if len(term) else 0
        if eof and tail < limit:
            starts = np.append(starts, tail)
            ends = np.append(ends, limit)
            nexts = np.append(nexts, limit)
            terminated = np.append(terminated, False)
        nl = len(starts)
        lines_arr = None
        if fast:                   # the lines as an Arrow string array over the block (no copy)
            lines_arr = pa.StringArray.from_buffers(
                nl, pa.py_buffer(np.concatenate([starts, nexts[-1:]]).astype(np.int32)), pa.py_buffer(mv))
            qcount = np.asarray(pc.count_substring(lines_arr, '"').to_numpy(zero_copy_only=False), dtype=np.int64)
        else:
            qcount = np.searchsorted(q, ends) - np.searchsorted(q, starts)

        kind = np.full(nl, _START, dtype=np.int8)
        kind[ends == starts] = _BLANK
        last_line = np.arange(nl)
        repaired: dict[int, bytes] = {}
        reasons: dict[int, str] = {}
        stop = nl
        odd = np.flatnonzero(qcount % 2 == 1)
        i = 0
        while i < len(odd):
            la = int(odd[i])
            fields = parse_fields(bytes(mv[starts[la]:ends[la]]), strict=True)
            if fields is not None and len(fields) == ncols:      # a literal quote inside a field
                repaired[la] = _encode(fields)
                i += 1
                continue
            if i + 1 < len(odd):
                lb = int(odd[i + 1])
                if ends[lb] - starts[la] <= self.max_record_bytes:
                    ok, nf = (_check_span(a, int(starts[la]), int(ends[lb])) if fast else
                              check_records(a, q, c, starts[la:la + 1], ends[lb:lb + 1]))
                    if ok[0] and nf[0] == ncols:
                        kind[la + 1:lb + 1] = _CONT
                        last_line[la] = lb
                        i += 2
                        continue
                kind[la] = _BAD
                reasons[la] = f"unbalanced quote opened at line {line0 + la}"
                i += 1
                continue
            if not eof and limit - starts[la] <= self.max_record_bytes:
                stop = la                   # its closing quote may be in the next block
                break
            kind[la] = _BAD
            if not eof:
                reasons[la] = (f"unbalanced quote opened at line {line0 + la}: no closing quote within "
                               f"{_size(self.max_record_bytes)}")
            elif (kind[la + 1:] != _BLANK).any():     # records follow: they are read on their own
                reasons[la] = f"unbalanced quote opened at line {line0 + la}"
            else:
                reasons[la] = f"quote opened at line {line0 + la} is never closed (end of file)"
            i += 1

        rec_first = np.flatnonzero((kind[:stop] == _START) | (kind[:stop] == _BAD))
        if len(rec_first) > target_rows:          # at most target_rows records per chunk
            stop = int(rec_first[target_rows])
            rec_first = rec_first[:target_rows]
        used = int(starts[stop]) if stop < nl else (n if eof else tail)
        nrec = len(rec_first)
        rec_last = last_line[rec_first]
        rs, rend = starts[rec_first], ends[rec_last]
        state = np.full(nrec, _CLEAN, dtype=np.int8)
        rec_reason: dict[int, str] = {}
        rep_bytes: dict[int, bytes] = {}
        is_bad = kind[rec_first] == _BAD
        for j in np.flatnonzero(is_bad):
            state[j] = _REJECTED
            rec_reason[int(j)] = reasons[int(rec_first[j])]
        for la, b in repaired.items():
            if la >= stop:                        # beyond this chunk's last record: read next time
                continue
            j = int(np.searchsorted(rec_first, la))
            state[j] = _REPAIRED
            rep_bytes[j] = b
        for j in np.flatnonzero((state != _REJECTED) & (rend - rs > self.max_record_bytes)):
            state[j] = _REJECTED
            rec_reason[int(j)] = (f"record at line {line0 + int(rec_first[j])} is longer than "
                                  f"{_size(self.max_record_bytes)} (max_record_bytes); it was not read")
        todo = np.flatnonzero(state == _CLEAN)
        if len(todo) and fast:
            single = rec_last[todo] == rec_first[todo]          # merged records were checked above
            todo = todo[single]
        if len(todo) and fast:
            good = _lines_ok(lines_arr, qcount, ncols)[rec_first[todo]]
            for j in todo[~good]:
                j = int(j)
                if qcount[rec_first[j]] == 0:
                    state[j] = _REJECTED
                    rec_reason[j] = (f"record has {mv[rs[j]:rend[j]].tobytes().count(b',') + 1} fields, "
                                     f"the header has {ncols}" + line_note(line0 + int(rec_first[j])))
                    continue
                fields = parse_fields(bytes(mv[rs[j]:rend[j]]), strict=False)
                if fields is not None and len(fields) == ncols:
                    state[j] = _REPAIRED
                    rep_bytes[j] = _encode(fields)
                else:
                    state[j] = _REJECTED
                    rec_reason[j] = (f"record has {len(fields)} fields, the header has {ncols}"
                                     if fields is not None else
                                     "malformed CSV record") + line_note(line0 + int(rec_first[j]))
        elif len(todo):
            ok, nf = check_records(a, q, c, rs[todo], rend[todo])
            wrong = np.flatnonzero(~ok | (nf != ncols))
            for w in wrong:
                j = int(todo[w])
                if ok[w]:
                    state[j] = _REJECTED
                    rec_reason[j] = (f"record has {int(nf[w])} fields, the header has {ncols}"
                                     + line_note(line0 + int(rec_first[j])))
                    continue
                fields = parse_fields(bytes(mv[rs[j]:rend[j]]), strict=False)
                if fields is not None and len(fields) == ncols:
                    state[j] = _REPAIRED
                    rep_bytes[j] = _encode(fields)
                else:
                    state[j] = _REJECTED
                    rec_reason[j] = (f"record has {len(fields)} fields, the header has {ncols}"
                                     if fields is not None else
                                     "malformed CSV record") + line_note(line0 + int(rec_first[j]))
        if not fast:
            self._check_utf8(mv, rs, rend, state, rec_reason, rep_bytes, rec_first, line0)

        # the clean records' bytes, in order (runs of untouched records are not copied)
        pieces: list[bytes | memoryview] = []
        offs: list[np.ndarray] = []
        pos = 0
        keep = np.flatnonzero(state != _REJECTED)
        special = np.flatnonzero(state != _CLEAN)
        prev = 0
        for j in [*special.tolist(), nrec]:
            if j > prev:
                b0 = int(rs[prev])
                lastl = int(rec_last[j - 1])
                b1 = int(nexts[lastl])
                pieces.append(mv[b0:b1])
                offs.append(rs[prev:j] - b0 + pos)
                pos += b1 - b0
                if not terminated[lastl]:
                    pieces.append(b"\n")
                    pos += 1
            if j < nrec and state[j] == _REPAIRED:
                pieces.append(rep_bytes[j])
                offs.append(np.array([pos], dtype=np.int64))
                pos += len(rep_bytes[j])
            prev = j + 1
        data: bytes | memoryview = (pieces[0] if len(pieces) == 1 else b"".join(pieces)) if pieces else b""
        offsets = np.concatenate([*offs, [pos]]).astype(np.int64) if offs else np.array([0], dtype=np.int64)
        rows = row0 + np.arange(nrec, dtype=np.int64)
        lines = line0 + rec_first.astype(np.int64)
        bad = [BadRecord(int(rows[j]), int(lines[j]), rec_reason[j], bytes(mv[rs[j]:min(rend[j], rs[j] + _TEXT_CAP)]))
               for j in np.flatnonzero(state == _REJECTED)]
        clean = keep
        sizes = (rend - rs)[clean]
        multiline = bool((rec_last[clean] != rec_first[clean]).any()) if len(clean) else False
        chunk = CsvChunk(data=data, rows=rows[clean], lines=lines[clean], offsets=offsets,
                         multiline=multiline, max_record=int(sizes.max()) if len(sizes) else 0, bad=bad)
        lines_used = stop
        return chunk, used, lines_used, nrec

    @staticmethod
    def _check_utf8(mv: memoryview, rs: np.ndarray, rend: np.ndarray, state: np.ndarray,
                    reason: dict[int, str], rep: dict[int, bytes], first_line: np.ndarray,
                    line0: int) -> None:
        """Quarantine the records whose bytes are not UTF-8 (one decode of the block when all are)."""
        if not len(rs):
            return
        try:
            str(mv[int(rs[0]):int(rend[-1])], "utf-8")
            return
        except UnicodeDecodeError:
            pass
        for j in np.flatnonzero(state != _REJECTED):
            raw = rep[j] if state[j] == _REPAIRED else mv[int(rs[j]):int(rend[j])]
            try:
                str(raw, "utf-8")
            except UnicodeDecodeError as e:
                text = bytes(raw)
                before = text[:e.start]
                ln = line0 + int(first_line[j]) + before.count(b"\n")
                col = e.start - (before.rfind(b"\n") + 1) + 1
                state[j] = _REJECTED
                reason[int(j)] = f"not UTF-8 text (byte 0x{text[e.start]:02X} at line {ln}, column {col})"


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n % (1 << 20) == 0 else f"{n:,} bytes"
