"""Fuzzing the reader (issue 17.1): malformed CSV and Parquet, every record accounted for.

Hypothesis (MacIver et al., JOSS 2019) generates small datasets with awkward
content -- quotes, delimiters and line breaks inside values, a byte-order mark,
CRLF and lone CR line ends, text that is not UTF-8, 200,000-character fields,
missing and extra columns, nulls, values of the wrong type, duplicate and
dangling keys -- and then damages the files: a quote inserted or removed, a
delimiter or line break inserted, a record duplicated, the file cut off, a
Parquet page corrupted. On every generated file it asserts:

- the reader either refuses the file with a :class:`ContractError` that says
  why (a broken header, another encoding, a boolean money column...) or
  reads it, never anything else;
- for every table, ``rows_read = accepted + quarantined``, and every record
  number from 1 to ``rows_read`` is either in the staged rows
  (``__source_row``) or in the quarantine, exactly once;
- ``rows_read`` is the number of records in the file as an independent,
  sequential reference implementation of the record rules counts it
  (:func:`reference_records`; the reader's scanner is vectorised numpy), and
  for a file without quotes simply its number of non-empty lines; for
  Parquet, the number of rows written;
- every quarantine row has a column and a reason.

In CI the profile is fixed-seed (``derandomize``) with a bounded number of
examples and a deadline per example; set ``RINGSCOPE_FUZZ_EXAMPLES`` to run
more (e.g. 5000) and ``RINGSCOPE_FUZZ_RANDOM=1`` for fresh random seeds.
"""
from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import os
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from ringscope import progress
from ringscope.ingest.contract import TABLES
from ringscope.ingest.csvscan import CsvFile, parse_fields
from ringscope.ingest.io import write_dataset
from ringscope.ingest.reader import ContractError, read_dataset
from test_reader import valid_tables

_RANDOM = os.environ.get("RINGSCOPE_FUZZ_RANDOM") == "1"
_N = int(os.environ.get("RINGSCOPE_FUZZ_EXAMPLES", "0"))


def _profile(examples: int) -> settings:
    return settings(max_examples=_N or examples, derandomize=not _RANDOM, database=None,
                    deadline=dt.timedelta(seconds=20), print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example])


# the structural refusals a damaged file may legitimately get
_REFUSALS = re.compile(r"not UTF-8|header row|lacks required column|duplicate column|is empty|needs at least one"
                       r"|is boolean, but|not a readable Parquet")
_TARGETS = ("persons", "visits", "claim_lines")
_READ = ["claim_lines"]                      # claim_lines and every table it depends on


@pytest.fixture(autouse=True, scope="module")
def _quiet():
    progress.configure(quiet=True)
    yield
    progress.configure()


# =========================================================================== the reference
_BREAK = re.compile(rb"(\r\n|\r|\n)")


def _lines(data: bytes) -> list[tuple[bytes, bytes]]:
    """Physical lines with their line breaks (the last may have none)."""
    parts = _BREAK.split(data)
    out = [(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
    if parts[-1]:
        out.append((parts[-1], b""))
    return out


def strict_fields(text: bytes) -> int | None:
    """Fields of a strictly RFC 4180 record (quotes open a field and close it, ``""`` inside),
    or None -- a character-by-character state machine."""
    n, state, i = 1, "start", 0
    while i < len(text):
        ch = text[i:i + 1]
        if state == "start":
            state = "quoted" if ch == b'"' else ("start" if ch == b"," else "plain")
            n += ch == b","
        elif state == "plain":
            if ch == b'"':
                return None
            if ch == b",":
                n, state = n + 1, "start"
        elif state == "quoted":
            if ch == b'"':
                if text[i + 1:i + 2] == b'"':
                    i += 1
                else:
                    state = "after"
        elif ch == b",":
            n, state = n + 1, "start"
        else:
            return None
        i += 1
    return None if state == "quoted" else n


def reference_records(data: bytes, ncols: int) -> int:
    """The number of data records of a CSV file under the reader's documented rules, sequentially."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = _lines(data)
    # the header: lines up to the first whose running quote count is even
    i, quotes = 0, 0
    while i < len(lines):
        quotes += lines[i][0].count(b'"')
        i += 1
        if quotes % 2 == 0:
            break
    count = 0
    while i < len(lines):
        text = lines[i][0]
        if not text:
            i += 1
            continue
        if text.count(b'"') % 2 == 0:
            count, i = count + 1, i + 1
            continue
        fields = parse_fields(text, strict=True)
        if fields is not None and len(fields) == ncols:
            count, i = count + 1, i + 1
            continue
        j = next((k for k in range(i + 1, len(lines)) if lines[k][0].count(b'"') % 2 == 1), None)
        if j is not None:
            record = b"".join(t + b for t, b in lines[i:j]) + lines[j][0]
            if strict_fields(record) == ncols:
                count, i = count + 1, j + 1
                continue
        count, i = count + 1, i + 1          # the line that opened the quote; read on after it
    return count


def test_the_reference_itself() -> None:
    assert strict_fields(b'a,"b,""c""\nd",e') == 3 and strict_fields(b'a,b"c') is None
    assert strict_fields(b'"a"b,c') is None and strict_fields(b'"",,') == 3
    data = b'x,y,z\n1,2,3\n4,"5\n6",7\n\n8,"9\n10,11,12\r13,"a""b",c'
    assert reference_records(data, 3) == 5


# =========================================================================== checks
def _check(ds, files: dict[str, Path], expected: dict[str, int] | None) -> None:
    rep = ds.load_report.set_index("table")
    q = ds.quarantine
    assert q["reason"].map(lambda r: isinstance(r, str) and len(r) > 0).all()
    assert q["column"].map(lambda c: isinstance(c, str) and len(c) > 0).all()
    for name in rep.index:
        r = rep.loc[name]
        assert r["rows_read"] == r["accepted"] + r["quarantined"], (name, r.to_dict())
        staged = pq.read_table(ds.staged_path(name), columns=["__source_row"]).column(0).to_pylist()
        quarantined = q.loc[q["table"] == name, "row_number"].tolist()
        assert len(staged) == r["accepted"] and len(quarantined) == r["quarantined"]
        assert sorted(staged + quarantined) == list(range(1, int(r["rows_read"]) + 1)), name
        if expected is not None and name in expected:
            assert r["rows_read"] == expected[name], (name, r["rows_read"], expected[name])
        elif files[name].suffix == ".csv":
            data = files[name].read_bytes()
            ncols = len(parse_fields(_header_bytes(data), strict=False) or [])
            assert r["rows_read"] == reference_records(data, ncols), name
            if b'"' not in data:
                body = _lines(data.removeprefix(b"\xef\xbb\xbf"))[1:]
                assert r["rows_read"] == sum(1 for t, _ in body if t), name


def _header_bytes(data: bytes) -> bytes:
    data = data.removeprefix(b"\xef\xbb\xbf")
    lines, out, quotes = _lines(data), b"", 0
    for t, b in lines:
        out += t
        quotes += t.count(b'"')
        if quotes % 2 == 0:
            return out
        out += b
    return out


def _read(root: Path, chunk_rows: int = 7):
    try:
        ds = read_dataset(root, encode_images=False, tables=_READ, threads=1, chunk_rows=chunk_rows)
    except ContractError as e:
        assert _REFUSALS.search(str(e)), str(e)
        event(f"refused: {_REFUSALS.search(str(e)).group(0)}")
        return None, e
    q = ds.quarantine
    event("read, nothing quarantined" if q.empty else "read, rows quarantined")
    for why in ("unbalanced quote", "never closed", "fields, the header has", "not UTF-8", "duplicate",
                "was quarantined", "unknown", "could not be read", "outside the data period", "plausible bound",
                "unparsable", "out of range", "not an integer", "negative", "required value missing",
                "is before", "more than 120 years", "numbers, expected"):
        if q["reason"].str.contains(why, regex=False).any():
            event(f"quarantine reason: {why}")
    return ds, None


# =========================================================================== CSV
_AWKWARD = st.sampled_from(['"', '""', ",", "\n", "\r\n", "\r", " ", "\ufeff", "NA", "null", "张三", 'a"b',
                            '"quoted"', "a,b", "-1", "1e308", "2099-01-01", "1900-01-01T00:00:00", "true",
                            "0.1", "", "\t", "x" * 300])
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


def _value(col, ids: dict[str, list[str]]) -> st.SearchStrategy[str]:
    """A cell: mostly plausible, sometimes awkward or of the wrong type."""
    if col.references:
        parent = col.references.split(".")[0]
        good = st.sampled_from(ids.get(parent, ["?"]))
    elif col.type == "str":
        good = st.from_regex(r"[A-Z][0-9]{1,3}", fullmatch=True)
    elif col.type == "enum":
        good = st.sampled_from(list(col.enum))
    elif col.type == "int":
        good = st.integers(-5, 500).map(str)
    elif col.type in ("money", "decimal"):
        good = st.decimals(-1000, 100000, places=2, allow_nan=False).map(str)
    elif col.type == "bool":
        good = st.sampled_from(["true", "false", "1", "0", "yes"])
    elif col.type == "date":
        good = st.dates(dt.date(1930, 1, 1), dt.date(2024, 6, 1)).map(str)
    elif col.type == "timestamp":
        good = st.datetimes(dt.datetime(2024, 1, 1), dt.datetime(2024, 12, 31)).map(
            lambda d: d.replace(microsecond=0).isoformat())
    elif col.type == "list":
        good = st.lists(st.sampled_from(["I10", "E11.9", "J06"]), max_size=3).map(";".join)
    else:
        good = st.just("")
    return st.one_of(good, good, good, st.just(""), _AWKWARD, _TEXT)


@st.composite
def _csv_table(draw, name: str, ids: dict[str, list[str]], n_max: int = 6) -> tuple[list[str], list[list[str]]]:
    spec = TABLES[name]
    cols = [c for c in spec.columns if c.required or draw(st.booleans())]
    if draw(st.integers(0, 50)) == 50:                   # rarely (50, not Hypothesis' favourite 0): a
                                                         # required column missing
        cols = [c for c in cols if c.name != spec.required_columns[-1]]
    cols = draw(st.permutations(cols))
    header = [c.name for c in cols] + (["extra_note"] if draw(st.booleans()) else [])
    n = draw(st.integers(0, n_max))
    key = spec.key
    rows = []
    for i in range(n):
        row = []
        for c in cols:
            if c.name == key:
                row.append(draw(st.one_of(st.just(f"{name[0].upper()}{i}"), st.sampled_from(ids.get(name, ["Z"])),
                                          _AWKWARD)))
            else:
                row.append(draw(_value(c, ids)))
        if len(header) > len(cols):
            row.append(draw(st.one_of(_TEXT, _AWKWARD)))
        rows.append(row)
    return header, rows


def _render(header: list[str], rows: list[list[str]], quoting: int, eol: str, bom: bool, final_eol: bool) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, quoting=quoting, lineterminator=eol)
    w.writerow(header)
    for r in rows:
        w.writerow(r)
    text = buf.getvalue()
    if not final_eol and text.endswith(eol):
        text = text[: -len(eol)]
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


_MUTATION = st.one_of(
    st.tuples(st.just("insert"), st.floats(0, 1), st.sampled_from([b'"', b",", b"\n", b"\r", b'",', b',"', b'""'])),
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 3)),
    st.tuples(st.just("drop_quote"), st.floats(0, 1), st.just(b"")),
    st.tuples(st.just("duplicate_line"), st.floats(0, 1), st.just(b"")),
    st.tuples(st.just("truncate"), st.floats(0.3, 1), st.just(b"")),
    st.tuples(st.just("not_utf8"), st.floats(0, 1), st.sampled_from([b"\xb9", b"\xff\xfe", b"\xe4\xb8"])),
    st.tuples(st.just("huge_field"), st.floats(0, 1), st.just(b"")),
)


def _mutate(data: bytes, ops: list[tuple[str, float, bytes]], header_end: int) -> bytes:
    for op, frac, arg in ops:
        lo = header_end if len(data) > header_end else 0
        pos = lo + int(frac * (len(data) - lo))
        if op == "insert":
            data = data[:pos] + arg + data[pos:]
        elif op == "delete":
            data = data[:pos] + data[pos + int(arg):]
        elif op == "drop_quote":
            qs = [m.start() for m in re.finditer(b'"', data)]
            if qs:
                k = qs[int(frac * (len(qs) - 1))]
                data = data[:k] + data[k + 1:]
        elif op == "duplicate_line":
            ls = data.split(b"\n")
            k = min(len(ls) - 1, 1 + int(frac * max(0, len(ls) - 2)))
            ls.insert(k, ls[k])
            data = b"\n".join(ls)
        elif op == "truncate":
            data = data[:pos]
        elif op == "not_utf8":
            data = data[:pos] + arg + data[pos:]
        elif op == "huge_field":
            comma = data.find(b",", pos)
            if comma >= 0:
                data = data[:comma + 1] + b"y" * 200_001 + data[comma + 1:]
    return data


@st.composite
def csv_datasets(draw) -> tuple[dict[str, bytes], str, int]:
    ids = {"institutions": ["H001", "C002"], "physicians": ["D01"], "catalog": ["XA01", "S003"],
           "persons": [f"P{i}" for i in range(4)] + ["NA"], "visits": [f"V{i}" for i in range(5)],
           "claim_lines": [f"C{i}" for i in range(5)]}
    target = draw(st.sampled_from(_TARGETS))
    files = {}
    chunk_rows = draw(st.sampled_from([2, 7, 100_000]))
    for name in _TARGETS:
        header, rows = draw(_csv_table(name, ids)) if name == target or draw(st.booleans()) else (None, None)
        if header is None:
            continue
        if name == target and draw(st.integers(0, 5)) == 5:          # push the damage past the 64 KiB sniff
            pad = [[f"pad{i}" if h == TABLES[name].key else "" for h in header] for i in range(6000)]
            rows = pad + rows
            chunk_rows = 1000
        data = _render(header, rows, draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])),
                       draw(st.sampled_from(["\n", "\r\n"])), draw(st.booleans()), draw(st.booleans()))
        if name == target:
            ops = draw(st.lists(_MUTATION, max_size=4))
            bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
            lo = bom + len(_header_bytes(data)) + 2                          # after the header's line break
            if chunk_rows == 1000:                                           # padded: damage after the padding
                lo = data.index(b"pad5999") + 10
            data = _mutate(data, ops, lo)
        files[name] = data
    return files, target, chunk_rows


def _same_records_both_ways(path: Path, chunk_rows: int) -> None:
    """The scanner's fast path (Arrow regex per line) and its per-quote path agree on every record."""
    try:
        fast, slow = CsvFile(path), CsvFile(path)
    except ContractError:
        return
    slow._general_only = True
    if fast.header is None:
        return
    n = len(fast.header)

    def records(f: CsvFile) -> list:
        return [(c.rows.tolist(), c.lines.tolist(), [(b.row, b.line, b.reason) for b in c.bad], bytes(c.data),
                 c.multiline) for c in f.chunks(n, chunk_rows)]

    assert records(fast) == records(slow)


@_profile(150)
@given(csv_datasets())
def test_csv_records_are_all_accounted_for(tmp_path_factory, case) -> None:
    files, target, chunk_rows = case
    root = write_dataset({k: v for k, v in valid_tables().items()
                          if k in ("institutions", "physicians", "catalog", "persons", "visits", "claim_lines")},
                         tmp_path_factory.mktemp("csv"))
    for name, data in files.items():
        (root / f"{name}.csv").write_bytes(data)
    paths = {n: root / f"{n}.csv" for n in ("institutions", "physicians", "catalog", *_TARGETS)}
    _same_records_both_ways(paths[target], chunk_rows)
    ds, refused = _read(root, chunk_rows)
    if refused is not None:
        return
    with ds:
        _check(ds, paths, None)


# =========================================================================== Parquet
def _arrow_column(draw, col, values: list, n: int) -> pa.Array:
    """The contract column ``col`` of ``values`` (contract text) in a randomly chosen Arrow type."""
    nulls = [v is None or v == "" or draw(st.integers(0, 9)) == 0 for v in values]
    text = [None if z else v for v, z in zip(values, nulls)]
    kind = col.type
    choice = draw(st.integers(0, 5))
    if kind in ("str", "enum") or choice == 0:
        arr = pa.array(text, pa.string())
        pick = draw(st.integers(0, 2))
        return arr.dictionary_encode() if pick == 1 else (arr.cast(pa.large_string()) if pick == 2 else arr)
    if kind == "int":
        typ = draw(st.sampled_from([pa.int64(), pa.int32(), pa.float64()]))
        top = 2**31 - 1 if typ == pa.int32() else 10**12
        return pa.array([None if t is None else draw(st.integers(-3, top)) for t in text], typ)
    if kind in ("money", "decimal"):
        t = draw(st.sampled_from(["f64", "f32", "dec", "int"]))
        if draw(st.integers(0, 20)) == 20:
            t = "bool"                               # refused: a boolean column is not money
        vals = [None if z else draw(st.one_of(st.floats(-1e6, 1e9), st.sampled_from([float("nan"), float("inf"),
                                                                                    1e308, -1e308, 0.1])))
                for z in nulls]
        if t == "f64":
            return pa.array(vals, pa.float64())
        if t == "f32":
            return pa.array([None if v is None or not np.isfinite(v) or abs(v) > 3e38 else v for v in vals],
                            pa.float32())
        if t == "dec":
            return pa.array([None if v is None or not np.isfinite(v) or abs(v) >= 1e11 else
                             decimal.Decimal(f"{v:.2f}") for v in vals], pa.decimal128(14, 2))
        if t == "int":
            return pa.array([None if v is None or not np.isfinite(v) or abs(v) >= 9e18 else int(v) for v in vals],
                            pa.int64())
        return pa.array([None if z else draw(st.booleans()) for z in nulls], pa.bool_())
    if kind == "bool":
        return pa.array([None if z else draw(st.booleans()) for z in nulls], pa.bool_())
    if kind == "date":
        day = st.one_of(st.integers(-800_000, 2_900_000),                               # years ~ -220 .. 9900
                        st.sampled_from([-300_000, 2_000_000, 200_000, 19_800, -25_000, -120_000]))
        days = [None if z else draw(day) for z in nulls]
        arr = pa.array(days, pa.int32()).cast(pa.date32())
        return arr.cast(pa.date64()) if choice == 1 else arr
    if kind == "timestamp":
        unit = draw(st.sampled_from(["s", "ms", "us", "ns"]))
        tz = draw(st.sampled_from([None, "UTC", "Asia/Shanghai", "+05:00"]))
        big = {"s": 10**11, "ms": 10**14, "us": 10**16, "ns": 9 * 10**18}[unit]
        v = st.one_of(st.integers(-big, big), st.sampled_from([big, -big, 1_720_000_000 * big // 10**11]))
        vals = [None if z else draw(v) for z in nulls]
        return pa.array(vals, pa.int64()).cast(pa.timestamp(unit, tz=tz))
    if kind == "list":
        vals = [None if z else draw(st.lists(st.sampled_from(["I10", " E11 ", "", "J06;K05"]), max_size=3))
                for z in nulls]
        return pa.array(vals, pa.list_(pa.string()) if choice < 3 else pa.large_list(pa.string()))
    return pa.array(text, pa.string())


@st.composite
def parquet_datasets(draw) -> tuple[dict[str, list[pa.Table]], str, dict]:
    ids = {"institutions": ["H001", "C002"], "physicians": ["D01"], "catalog": ["XA01", "S003"],
           "persons": [f"P{i}" for i in range(4)] + ["NA"], "visits": [f"V{i}" for i in range(5)],
           "claim_lines": [f"C{i}" for i in range(5)]}
    target = draw(st.sampled_from(_TARGETS))
    header, rows = draw(_csv_table(target, ids, n_max=12))
    spec = TABLES[target]
    n = len(rows)
    cols = {}
    for j, h in enumerate(header):
        values = [r[j] for r in rows]
        col = spec.column(h) if h in spec.names else None
        cols[h] = _arrow_column(draw, col, values, n) if col is not None else pa.array(values, pa.string())
    tbl = pa.table(cols) if cols else pa.table({})
    layout = {"parts": draw(st.integers(1, 3)), "row_group": draw(st.integers(1, 5)),
              "corrupt": draw(st.integers(0, 4)) == 4, "drop_in_second": draw(st.booleans())}
    return {target: tbl}, target, layout


@_profile(100)
@given(parquet_datasets())
def test_parquet_records_are_all_accounted_for(tmp_path_factory, case) -> None:
    tables, target, layout = case
    tbl = tables[target]
    assume(tbl.num_columns > 0)
    t = {k: v for k, v in valid_tables().items()
         if k in ("institutions", "physicians", "catalog", "persons", "visits", "claim_lines")}
    root = tmp_path_factory.mktemp("pq")
    write_dataset({k: v for k, v in t.items() if k != target}, root, fmt="parquet")
    written = tbl.num_rows
    if layout["parts"] == 1:
        path = root / f"{target}.parquet"
        pq.write_table(tbl, path, row_group_size=layout["row_group"], write_page_checksum=True,
                       compression="none")
        if layout["corrupt"] and tbl.num_rows:
            raw = bytearray(path.read_bytes())
            meta = pq.read_metadata(path)
            c = meta.row_group(meta.num_row_groups - 1).column(0)
            at = c.data_page_offset + min(40, max(1, c.total_compressed_size - 1))
            raw[at] ^= 0xFF
            path.write_bytes(bytes(raw))
    else:
        d = root / f"{target}.parquet"
        d.mkdir()
        cuts = np.linspace(0, tbl.num_rows, layout["parts"] + 1).astype(int)
        for k in range(layout["parts"]):
            part = tbl.slice(cuts[k], cuts[k + 1] - cuts[k])
            optional = [c for c in part.column_names if c not in TABLES[target].required_columns]
            if k == 1 and layout["drop_in_second"] and optional:
                part = part.drop_columns(optional[:1])
            pq.write_table(part, d / f"part-{k:05d}.parquet", row_group_size=layout["row_group"])
        (d / "_SUCCESS").write_text("")
    ds, refused = _read(root)
    if refused is not None:
        return
    with ds:
        _check(ds, {n: ds.sources[n] for n in ds.sources}, {target: written})
