"""Every record accounted for (issue 17.1): input that breaks the CSV parser is never lost.

The first three tests are the silent-loss cases of the issue; each fails on
the reader before this one (records vanished and ``rows_read`` counted only
what the parser returned). The rest pin down the record scanner's rules
(``ringscope.ingest.csvscan``): what a record is, what is quarantined and with
which reason, and that the load report always balances.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from ringscope.ingest.csvscan import SNIFF_BYTES, CsvFile
from ringscope.ingest.io import write_dataset
from ringscope.ingest.reader import ContractError, read_dataset
from ringscope.ingest.sources import parse_records_slowly
from test_reader import assert_report_consistent, valid_tables


@pytest.fixture
def ds_dir(tmp_path: Path) -> Path:
    return write_dataset(valid_tables(), tmp_path / "ds")


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines), encoding="utf-8")


def _q(ds, table: str) -> pd.DataFrame:
    q = ds.quarantine
    return q[q["table"] == table].reset_index(drop=True)


def _report(ds, table: str) -> dict:
    return ds.load_report.set_index("table").loc[table].to_dict()


# --------------------------------------------------------------------------- the three silent losses
def test_a_field_over_131072_characters_is_read(ds_dir: Path) -> None:
    """200,000 characters in one field, in a file whose other flaw once sent it to a parser
    with a 131,072-character field limit: the person vanished and her visits were 'unknown'."""
    p = ds_dir / "persons.csv"
    lines = _lines(p)
    cells = lines[1].split(",")                 # the first person: a quoted name over two lines
    cells[3] = '"张\n三"'
    lines[1] = ",".join(cells)
    cells = lines[2].split(",")                 # P2
    cells[3] = "名" * 200_000                   # name
    lines[2] = ",".join(cells)
    lines[3] = lines[3] + ",one too many"       # person "NA": a record with a field too many
    _write(p, lines)
    ds = read_dataset(ds_dir, encode_images=False)
    assert_report_consistent(ds)
    assert _report(ds, "persons") == {"rows_read": 4, "accepted": 3, "quarantined": 1}
    persons = ds.table("persons").set_index("person_id")
    assert len(persons.loc["P2", "name"]) == 200_000
    assert "张\n三" in set(persons["name"])
    q = _q(ds, "persons")
    assert q.loc[0, "key"] == "NA" and q.loc[0, "column"] == "(row)"
    # record 3 starts on line 5 (the header is line 1, the first record spans lines 2-3)
    assert q.loc[0, "row_number"] == 3
    assert q.loc[0, "reason"] == "record has 10 fields, the header has 9 (第 5 行 line 5)"
    # P2's visit is accepted; person NA's visit is quarantined *because of* NA, with the cause named
    v = ds.table("visits").set_index("visit_id")
    assert "V2" in v.index
    qv = _q(ds, "visits").set_index("key")
    assert qv.loc["V3", "reason"] == "person NA was quarantined (person_id → persons)"


def test_an_unbalanced_quote_mid_file_costs_one_record(ds_dir: Path) -> None:
    p = ds_dir / "visits.csv"
    lines = _lines(p)
    lines[2] = lines[2].replace(",P2,", ',"P2,', 1)          # V2: a quote opened and never closed
    _write(p, lines)
    ds = read_dataset(ds_dir, encode_images=False)
    assert_report_consistent(ds)
    assert _report(ds, "visits") == {"rows_read": 4, "accepted": 3, "quarantined": 1}
    q = _q(ds, "visits")
    assert (q.loc[0, "row_number"], q.loc[0, "key"], q.loc[0, "column"]) == (2, "V2", "(row)")
    assert q.loc[0, "reason"] == "unbalanced quote opened at line 3"
    assert set(ds.table("visits")["visit_id"]) == {"V1", "V3", "V4"}       # nothing swallowed
    lines_q = _q(ds, "claim_lines")
    assert list(lines_q["key"]) == ["L3"]
    assert lines_q.loc[0, "reason"] == "visit V2 was quarantined (visit_id → visits)"


def test_a_quote_left_open_at_the_end_of_the_file(ds_dir: Path) -> None:
    p = ds_dir / "visits.csv"
    lines = _lines(p)
    assert lines[-1] == ""
    lines[-2] = lines[-2].replace(",H001,", ',"H001,', 1)    # V4, the last record
    _write(p, lines[:-1])                                      # and no final line break
    ds = read_dataset(ds_dir, encode_images=False)
    assert_report_consistent(ds)
    assert _report(ds, "visits") == {"rows_read": 4, "accepted": 3, "quarantined": 1}
    q = _q(ds, "visits")
    assert (q.loc[0, "row_number"], q.loc[0, "key"]) == (4, "V4")
    assert q.loc[0, "reason"] == "quote opened at line 5 is never closed (end of file)"


# --------------------------------------------------------------------------- what a record is
def test_quoted_line_breaks_commas_and_doubled_quotes_are_one_field(ds_dir: Path) -> None:
    t = valid_tables()
    t["institutions"].loc[0, "name"] = '市第一人民医院\n(总院), "东区"'
    ds = read_dataset(write_dataset(t, ds_dir.parent / "q"), encode_images=False)
    assert ds.quarantine.empty
    assert ds.table("institutions")["name"].iloc[0] == '市第一人民医院\n(总院), "东区"'


def test_a_literal_quote_inside_an_unquoted_field_is_kept(ds_dir: Path) -> None:
    """As Arrow and spreadsheets read it: a quote that does not open a field is a character."""
    (ds_dir / "institutions.csv").write_text(
        "institution_id,name,kind,level,ownership,district,has_face_terminal\n"
        "H001,市第一人民医院,hospital,3,public,小店区,true\n"
        'C002,Clinic 5" North,clinic,,private,,false\n'           # an odd number of quotes
        'Y003,Pharmacy "Kang" 3,pharmacy,,,迎泽区,\n',             # an even number
        encoding="utf-8")
    ds = read_dataset(ds_dir, encode_images=False)
    assert ds.quarantine.empty, ds.quarantine
    assert list(ds.table("institutions")["name"])[1:] == ['Clinic 5" North', 'Pharmacy "Kang" 3']


def test_crlf_lone_cr_bom_and_blank_lines(ds_dir: Path) -> None:
    p = ds_dir / "physicians.csv"
    lines = [x for x in _lines(p) if x]
    p.write_bytes(b"\xef\xbb\xbf" + ("\r\n".join(lines[:2]) + "\r\n\r\n" + lines[2] + "\r" + lines[3]
                                     + "\n\n").encode("utf-8"))
    ds = read_dataset(ds_dir, encode_images=False)
    assert ds.quarantine.empty, ds.quarantine
    assert _report(ds, "physicians") == {"rows_read": 3, "accepted": 3, "quarantined": 0}
    assert list(ds.table("physicians")["physician_id"]) == ["D01", "D02", "D03"]


def test_bytes_that_are_not_utf8_in_a_later_record_are_quarantined(ds_dir: Path) -> None:
    """A file whose beginning is UTF-8 is UTF-8: one damaged record is quarantined, not the file."""
    t = valid_tables()
    n = SNIFF_BYTES // 15
    t["catalog"] = pd.DataFrame({"item_code": [f"X{i:06d}" for i in range(n)], "name": ["药品"] * n,
                                 "item_type": ["drug"] * n})
    t["claim_lines"]["item_code"] = "X000001"
    write_dataset(t, ds_dir)
    p = ds_dir / "catalog.csv"
    raw = bytearray(p.read_bytes())
    assert len(raw) > SNIFF_BYTES
    at = raw.rindex("药品".encode()) - 3                     # inside the last record's item code
    raw[at] = 0xB9
    p.write_bytes(bytes(raw))
    ds = read_dataset(ds_dir, encode_images=False)
    assert_report_consistent(ds)
    q = _q(ds, "catalog")
    assert len(q) == 1 and q.loc[0, "row_number"] == n and q.loc[0, "column"] == "(row)"
    assert q.loc[0, "reason"].startswith(f"not UTF-8 text (byte 0xB9 at line {n + 1}, column ")
    assert len(ds.table("catalog")) == n - 1
    # at the beginning it is the wrong encoding: refused, nothing validated
    raw[20] = 0xB9
    p.write_bytes(bytes(raw))
    with pytest.raises(ContractError, match="catalog.csv is not UTF-8 text"):
        read_dataset(ds_dir, encode_images=False)


def test_a_record_over_max_record_bytes_is_quarantined_with_the_reason(ds_dir: Path) -> None:
    p = ds_dir / "persons.csv"
    lines = _lines(p)
    cells = lines[2].split(",")
    cells[3] = "x" * 5000
    lines[2] = ",".join(cells)
    _write(p, lines)
    ds = read_dataset(ds_dir, encode_images=False, max_record_bytes=1000)
    assert_report_consistent(ds)
    q = _q(ds, "persons")
    assert list(q["key"]) == ["P2"] and q.loc[0, "row_number"] == 2 and q.loc[0, "column"] == "(row)"
    assert q.loc[0, "reason"] == "record at line 3 is longer than 1,000 bytes (max_record_bytes); it was not read"
    # the same file with the default limit reads the field
    assert len(read_dataset(ds_dir, encode_images=False).table("persons")["name"].iloc[1]) == 5000


def test_an_over_long_record_bigger_than_a_read_block_is_skipped_in_bounded_memory(tmp_path: Path) -> None:
    """A 6 MiB record with a 1 MiB limit: the scanner drops its bytes up to its line break
    without holding them, counts it, and reads on."""
    p = tmp_path / "t.csv"
    p.write_bytes(b"id,v\n1,a\n2," + b"y" * (6 << 20) + b"\n3,c\n")
    f = CsvFile(p, max_record_bytes=1 << 20)
    chunks = list(f.chunks(2))
    rows = [r for c in chunks for r in c.rows.tolist()]
    bad = [(b.row, b.line, b.reason) for c in chunks for b in c.bad]
    assert rows == [1, 3]
    assert bad == [(2, 3, "record at line 3 is longer than 1 MiB (max_record_bytes); it was not read")]


def test_a_runaway_quote_is_cut_at_max_record_bytes(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    body = b"".join(b"%d,v\n" % i for i in range(3, 700_000))     # over the first 4 MiB read
    p.write_bytes(b"id,v\n1,a\n2,\"b\n" + body)
    f = CsvFile(p, max_record_bytes=1 << 16)
    chunks = list(f.chunks(2))
    bad = [(b.row, b.line, b.reason) for c in chunks for b in c.bad]
    assert bad == [(2, 3, "unbalanced quote opened at line 3: no closing quote within 65,536 bytes")]
    assert sum(len(c.rows) for c in chunks) == 1 + len(range(3, 700_000))


def test_the_header_may_not_be_broken(ds_dir: Path) -> None:
    (ds_dir / "physicians.csv").write_text('physician_id,"institution_id\nD01,H001\n', encoding="utf-8")
    with pytest.raises(ContractError, match="header row"):
        read_dataset(ds_dir, encode_images=False)


def test_a_dependent_row_names_the_unreadable_parent_records(ds_dir: Path) -> None:
    p = ds_dir / "visits.csv"
    lines = _lines(p)
    lines[3] = '"' + lines[3]                     # V3's record: its key cannot be told
    _write(p, lines)
    ds = read_dataset(ds_dir, encode_images=False)
    assert_report_consistent(ds)
    qv = _q(ds, "visits")
    assert qv.loc[0, "reason"] == "unbalanced quote opened at line 4"
    ql = _q(ds, "claim_lines").set_index("key")
    assert ql.loc["L4", "reason"] == ("unknown visit_id 'V3' (not in visits; 1 visits record could not "
                                      "be read, see the quarantine)")


def test_the_slow_path_parses_or_quarantines_each_record(tmp_path: Path) -> None:
    """The safety net used only if Arrow ever disagreed with the record scanner."""
    p = tmp_path / "t.csv"
    p.write_bytes(b'a,b,c\n1,"x,y",3\n4,5,6\n')
    f = CsvFile(p)
    (chunk,) = list(f.chunks(3))
    tbl, bad = parse_records_slowly(chunk, ["a", "b"], 2)       # pretend the header had 2 columns
    assert tbl.num_rows == 0 and [b.reason for b in bad] == [
        "record has 3 fields, the header has 2 (第 2 行 line 2)", "record has 3 fields, the header has 2 (第 3 行 line 3)"]
    tbl, bad = parse_records_slowly(chunk, ["a", "b", "c"], 3)
    assert not bad and tbl.column("b").to_pylist() == ["x,y", "5"] and tbl.column("__row").to_pylist() == [1, 2]


# --------------------------------------------------------------------------- Parquet
def test_a_corrupt_parquet_row_group_is_quarantined_row_by_row(ds_dir: Path) -> None:
    t = valid_tables()
    n = 3000
    t["catalog"] = pd.DataFrame({"item_code": [f"X{i:05d}" for i in range(n)],
                                 "name": [f"item number {i} " * 3 for i in range(n)], "item_type": ["drug"] * n})
    t["claim_lines"]["item_code"] = "X00001"
    for name in list(t):
        if name != "catalog":
            write_dataset({name: t[name]}, ds_dir)
    (ds_dir / "catalog.csv").unlink()
    from ringscope.ingest.io import to_arrow_table
    pq.write_table(to_arrow_table(t["catalog"], "catalog"), ds_dir / "catalog.parquet", row_group_size=1000,
                   write_page_checksum=True, compression="none")
    raw = bytearray((ds_dir / "catalog.parquet").read_bytes())
    meta = pq.read_metadata(ds_dir / "catalog.parquet")
    col = meta.row_group(1).column(1)                          # name, second row group
    at = col.data_page_offset + 300                            # past the page header, inside the data
    raw[at:at + 8] = b"\xff" * 8
    (ds_dir / "catalog.parquet").write_bytes(bytes(raw))
    ds = read_dataset(ds_dir, encode_images=False)
    assert_report_consistent(ds)
    assert _report(ds, "catalog") == {"rows_read": n, "accepted": 2000, "quarantined": 1000}
    q = _q(ds, "catalog")
    assert list(q["row_number"]) == list(range(1001, 2001))
    assert q.loc[0, "reason"].startswith("row group 1 of catalog.parquet could not be read (")
    # a truncated file has no footer: refused before anything is validated
    (ds_dir / "catalog.parquet").write_bytes(bytes(raw[: len(raw) // 2]))
    with pytest.raises(ContractError, match="catalog.parquet is not a readable Parquet file"):
        read_dataset(ds_dir, encode_images=False)


def test_records_in_file_equal_accepted_plus_quarantined_on_a_messy_file(ds_dir: Path) -> None:
    """Everything at once; every record number appears exactly once, accepted or quarantined."""
    p = ds_dir / "claim_lines.csv"
    lines = _lines(p)
    lines[1] = lines[1] + ',"'                          # extra field with an open quote
    lines[2] = lines[2].replace(",", ",,", 1)           # a field too many
    lines.insert(3, "")                                 # blank line
    lines[4] = lines[4] + "\r"                          # CRLF on one line
    _write(p, lines)
    ds = read_dataset(ds_dir, encode_images=False)
    assert_report_consistent(ds)
    staged = pq.read_table(ds.staged_path("claim_lines")).column("__source_row").to_pylist()
    quarantined = list(_q(ds, "claim_lines")["row_number"])
    assert sorted(staged + quarantined) == list(range(1, _report(ds, "claim_lines")["rows_read"] + 1))
    assert _report(ds, "claim_lines")["rows_read"] == 5
