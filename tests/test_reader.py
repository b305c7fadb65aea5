"""Tests of the data-contract reader/validator and the dataset writer.

Every class of bad input of ``shared/spec/data-contract.md`` is written into a
small valid dataset; the test checks the quarantine row (table, row number,
key, column, reason), that the good rows are still accepted and that the load
report adds up. Face photos are encoded with the real ``face_recognition``.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ringscope.ingest.contract import LOAD_ORDER, LOAD_REPORT_COLUMNS, QUARANTINE_COLUMNS, TABLES
from ringscope.ingest.io import write_csv, write_dataset
from ringscope.ingest.reader import ContractError, Dataset, read_dataset

FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"


# --------------------------------------------------------------------------- fixtures
def _vec(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.1, 128).astype(np.float32)


def _obj(values: list) -> pd.Series:
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return pd.Series(out, dtype=object)


def valid_tables() -> dict[str, pd.DataFrame]:
    """A small dataset touching every table and every column type, in-memory dtypes."""
    ts = lambda xs: pd.Series(pd.to_datetime(xs), dtype="datetime64[ns]")  # noqa: E731
    return {
        "institutions": pd.DataFrame({
            "institution_id": ["H001", "C002", "Y003"],
            "name": ["市第一人民医院", "Clinic, \"North\"", None],
            "kind": ["hospital", "clinic", "pharmacy"],
            "level": pd.array([3, None, None], dtype="Int64"),
            "ownership": ["public", "private", None],
            "district": ["小店区", None, "迎泽区"],
            "has_face_terminal": pd.array([True, False, None], dtype="boolean"),
        }),
        "physicians": pd.DataFrame({
            "physician_id": ["D01", "D02", "D03"],
            "institution_id": ["H001", "H001", "C002"],
            "name": ["王医生", "李医生", None],
            "specialty": ["内科", None, "全科"],
        }),
        "persons": pd.DataFrame({
            "person_id": ["000123", "P2", "NA", "P4"],
            "sex": ["M", "F", "F", "M"],
            "birth_date": ts(["1950-01-02", "1980-12-31", "2001-06-15", "1975-03-03"]),
            "name": ["张三", None, "N/A", "赵六"],
            "id_number": ["14010519500102001X", None, None, "140105197503030011"],
            "district": ["小店区", None, None, "迎泽区"],
            "insurance_type": ["employee", "resident", None, "employee"],
            "chronic_conditions": _obj([("I10", "E11.9"), (), ("J45",), ()]),
            "death_date": ts([None, None, None, "2024-05-01"]),
        }),
        "catalog": pd.DataFrame({
            "item_code": ["XA01", "XB02", "S003"],
            "name": ["二甲双胍片", "amlodipine", "consultation"],
            "item_type": ["drug", "drug", "service"],
            "insurance_class": ["A", "B", None],
            "price_cap": [12.5, 30.0, np.nan],
            "sex_limit": [None, "F", None],
            "age_min": pd.array([None, 18, None], dtype="Int64"),
            "age_max": pd.array([None, 80, None], dtype="Int64"),
            "indication_prefixes": _obj([("E11",), ("I10", "I11"), ()]),
            "max_days_supply": pd.array([30, 30, None], dtype="Int64"),
            "max_qty_per_visit": [3.0, 2.5, np.nan],
        }),
        "visits": pd.DataFrame({
            "visit_id": ["V1", "V2", "V3", "V4"],
            "person_id": ["000123", "P2", "NA", "000123"],
            "institution_id": ["H001", "C002", "Y003", "H001"],
            "physician_id": ["D01", "D03", None, "D02"],
            "visit_type": ["outpatient", "outpatient", "pharmacy", "inpatient"],
            "start_time": ts(["2024-03-05 09:41:00", "2024-03-06 10:00:00",
                              "2024-03-07 18:30:05", "2024-04-01 08:00:00"]),
            "end_time": ts([None, "2024-03-06 10:00:00", None, "2024-04-09 11:00:00"]),
            "diagnosis_codes": _obj([("E11.9",), ("I10", "J06.9"), (), ("I63",)]),
            "total_amount": [120.5, 0.1, 35.0, 15230.75],
            "fund_paid": [80.0, np.nan, 0.0, 12000.0],
            "account_paid": [40.5, 0.1, 35.0, np.nan],
            "payer_person_id": [None, None, "P4", None],
            "terminal_id": ["T1", None, "T9", None],
        }),
        "claim_lines": pd.DataFrame({
            "line_id": ["L1", "L2", "L3", "L4", "L5"],
            "visit_id": ["V1", "V1", "V2", "V3", "V3"],
            "item_code": ["XA01", "S003", "XB02", "XA01", "XA01"],
            "quantity": [2.0, 1.0, 1.5, 3.0, -1.0],
            "unit_price": [12.0, 96.5, 20.0, 11.0, 11.0],
            "amount": [24.0, 96.5, 30.0, 33.0, -11.0],
            "days_supply": pd.array([30, None, 15, 30, None], dtype="Int64"),
            "physician_id": [None, "D02", None, None, None],
            "service_time": ts(["2024-03-05 09:50:00", None, None, None, None]),
        }),
        "face_enrollments": pd.DataFrame({
            "person_id": ["000123", "P2"],
            "encoding": _obj([_vec(1), _vec(2)]),
            "image_path": [None, None],
        }),
        "face_captures": pd.DataFrame({
            "capture_id": ["F1", "F2"],
            "institution_id": ["H001", "H001"],
            "location": ["entrance", "settlement"],
            "capture_time": ts(["2024-03-05 09:40:00", "2024-04-01 07:59:00"]),
            "encoding": _obj([_vec(3), _vec(4)]),
            "image_path": [None, None],
            "visit_id": ["V1", None],
            "claimed_person_id": ["000123", "000123"],
        }),
        "inventory": pd.DataFrame({
            "institution_id": ["Y003", "Y003", "H001"],
            "item_code": ["XA01", "XA01", "XB02"],
            "period": ["2024-02", "2024-03", "2024-03"],
            "qty_purchased": [100.0, 0.0, 50.0],
            "qty_opening": [10.0, np.nan, 5.0],
            "qty_closing": [20.0, 3.0, np.nan],
        }),
        "family_links": pd.DataFrame({      # one pair bound twice (family and proxy): two valid rows
            "person_id": ["NA", "000123", "000123"],
            "related_person_id": ["P4", "P2", "P2"],
            "relation": ["proxy", "spouse", "proxy"],
        }),
        "drug_traces": pd.DataFrame({       # the same code twice is data to detect, not an input error
            "line_id": ["L1", "L1", "L4"],
            "trace_code": ["81234560000000000017", "81234560000000000024", "81234560000000000017"],
            "scan_time": ts(["2024-03-05 09:51:00", "2024-03-05 09:51:05", None]),
            "reversed": pd.array([False, None, True], dtype="boolean"),
        }),
        "prescribing_scope": pd.DataFrame({  # beyond the contract: one prefix, two kinds of declaration
            "specialty": ["内分泌科", "儿科"],
            "item_prefix": ["XA10BJ", "XA10BJ"],
            "basis": ["catalogue", None],
        }),
        "known_cases": pd.DataFrame({
            "case_id": ["K1", "K2"],
            "entity_type": ["institution", "person"],
            "entity_id": ["Y003", "P2"],
            "label": ["fraud", "cleared"],
            "scheme": ["card_cashout", None],
            "closed_on": ts(["2023-11-30", None]),
        }),
    }


@pytest.fixture
def dataset_dir(tmp_path: Path) -> Path:
    return write_dataset(valid_tables(), tmp_path / "ds")


def _rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def set_cell(ds: Path, table: str, row_number: int, column: str, value: str) -> None:
    """Overwrite one field of ``<table>.csv`` (row_number counts data rows from 1)."""
    rows = _rows(ds / f"{table}.csv")
    rows[row_number][rows[0].index(column)] = value
    with open(ds / f"{table}.csv", "w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


def append_row(ds: Path, table: str, values: dict[str, str]) -> int:
    rows = _rows(ds / f"{table}.csv")
    rows.append([values.get(c, "") for c in rows[0]])
    with open(ds / f"{table}.csv", "w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    return len(rows) - 1


def assert_report_consistent(ds: Dataset) -> None:
    rep = ds.load_report
    assert list(rep.columns) == LOAD_REPORT_COLUMNS
    assert (rep["rows_read"] == rep["accepted"] + rep["quarantined"]).all()
    for _, r in rep.iterrows():
        assert len(ds.table(r["table"])) == r["accepted"]
        assert (ds.quarantine["table"] == r["table"]).sum() == r["quarantined"]
    assert list(ds.quarantine.columns) == QUARANTINE_COLUMNS


def only_quarantine_row(ds: Dataset) -> dict:
    assert_report_consistent(ds)
    assert len(ds.quarantine) == 1, ds.quarantine.to_string()
    return ds.quarantine.iloc[0].to_dict()


def check_bad(dataset_dir: Path, table: str, row: int, column: str, value: str,
              words: list[str], key: str | None = None) -> dict:
    set_cell(dataset_dir, table, row, column, value)
    ds = read_dataset(dataset_dir)
    assert_report_consistent(ds)
    own = ds.quarantine[ds.quarantine["table"] == table]
    assert len(own) == 1, ds.quarantine.to_string()
    q = own.iloc[0].to_dict()
    others = ds.quarantine[ds.quarantine["table"] != table]   # only rows depending on the bad one
    assert others["reason"].str.contains(" was quarantined ").all(), others.to_string()
    assert q["table"] == table and q["row_number"] == row and q["column"] == column, q
    if key is not None:
        assert q["key"] == key
    for w in words:
        assert w in q["reason"], (w, q["reason"])
    n = len(valid_tables()[table])
    assert len(ds.table(table)) == n - 1
    return q


# --------------------------------------------------------------------------- valid data
def test_valid_dataset_accepts_everything_with_documented_dtypes(dataset_dir: Path) -> None:
    ds = read_dataset(dataset_dir)
    assert ds.quarantine.empty
    assert_report_consistent(ds)
    assert list(ds.load_report["table"]) == LOAD_ORDER
    v = ds.table("visits")
    assert v["visit_id"].dtype == object and v["start_time"].dtype == "datetime64[ns]"
    assert v["total_amount"].dtype == "float64"
    assert ds.table("institutions")["level"].dtype == "Int64"
    assert ds.table("institutions")["has_face_terminal"].dtype == "boolean"
    assert ds.table("persons")["birth_date"].dtype == "datetime64[ns]"
    assert v["physician_id"].iloc[2] is None
    assert v["diagnosis_codes"].iloc[1] == ("I10", "J06.9") and v["diagnosis_codes"].iloc[2] == ()
    e = ds.table("face_enrollments")["encoding"].iloc[0]
    assert isinstance(e, np.ndarray) and e.dtype == np.float32 and e.shape == (128,)
    assert ds.table("claim_lines")["amount"].min() == -11.0   # refunds may be negative


def test_leading_zero_and_na_ids_stay_strings(dataset_dir: Path) -> None:
    ds = read_dataset(dataset_dir)
    p = ds.table("persons")
    assert list(p["person_id"]) == ["000123", "P2", "NA", "P4"]
    assert p["name"].iloc[2] == "N/A"
    assert ds.table("visits")["person_id"].iloc[2] == "NA"   # a foreign key to person "NA"
    assert ds.table("family_links")["person_id"].iloc[0] == "NA"


def _assert_tables_equal(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    for name, w in want.items():
        g = got[name]
        assert list(g.columns) == list(w.columns), name
        for c in w.columns:
            typ = TABLES[name].column(c).type
            if typ == "vector":
                for a, b in zip(g[c], w[c]):
                    assert (a is None and b is None) or np.array_equal(a, b), (name, c)
            else:
                pd.testing.assert_series_equal(g[c].reset_index(drop=True), w[c].reset_index(drop=True),
                                               check_names=False, obj=f"{name}.{c}")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_round_trip_is_exact(tmp_path: Path, fmt: str) -> None:
    want = valid_tables()
    ds = read_dataset(write_dataset(want, tmp_path / fmt, fmt=fmt))
    assert ds.quarantine.empty
    assert all(p.suffix == f".{fmt}" for p in ds.sources.values())
    _assert_tables_equal(ds.tables, want)
    # and the in-memory result writes back to the same thing
    again = read_dataset(write_dataset(ds.tables, tmp_path / f"{fmt}2", fmt=fmt))
    _assert_tables_equal(again.tables, want)


def test_parquet_with_bad_rows_and_native_types(tmp_path: Path) -> None:
    t = valid_tables()
    t["visits"].loc[1, "total_amount"] = -5.0
    t["face_captures"].at[0, "encoding"] = np.zeros(127, dtype=np.float32)
    ds = read_dataset(write_dataset(t, tmp_path / "pq", fmt="parquet"))
    assert_report_consistent(ds)
    q = ds.quarantine.set_index("table")
    assert q.loc["visits", "row_number"] == 2 and q.loc["visits", "column"] == "total_amount"
    assert "negative" in q.loc["visits", "reason"] and "-5" in q.loc["visits", "reason"]
    assert q.loc["claim_lines", "reason"].startswith("visit V2 was quarantined")
    assert q.loc["face_captures", "column"] == "encoding"
    assert "127 numbers, expected 128" in q.loc["face_captures", "reason"]


def test_extra_columns_kept_and_absent_optional_columns_added(tmp_path: Path) -> None:
    t = valid_tables()
    t["visits"]["dept_code"] = ["001", "002", None, "004"]
    t["persons"] = t["persons"].drop(columns=["death_date", "chronic_conditions"])
    ds = read_dataset(write_dataset(t, tmp_path / "x"))
    assert list(ds.table("visits")["dept_code"]) == ["001", "002", None, "004"]
    p = ds.table("persons")
    assert p["death_date"].isna().all() and p["death_date"].dtype == "datetime64[ns]"
    assert all(x == () for x in p["chronic_conditions"])


# --------------------------------------------------------------------------- bad rows
def test_required_value_missing(dataset_dir: Path) -> None:
    check_bad(dataset_dir, "visits", 2, "person_id", "", ["required value missing"], key="V2")


def test_unknown_enum_value_and_case_insensitive_enum(dataset_dir: Path) -> None:
    set_cell(dataset_dir, "institutions", 1, "kind", "Hospital")
    q = check_bad(dataset_dir, "institutions", 3, "kind", "drugstore",
                  ["unknown kind", "'drugstore'", "hospital, clinic, community, pharmacy"], key="Y003")
    assert q["key"] == "Y003"
    assert read_dataset(dataset_dir).table("institutions")["kind"].iloc[0] == "hospital"


@pytest.mark.parametrize("table,row,column,value,words", [
    ("visits", 3, "total_amount", "12,50", ["unparsable number", "'12,50'"]),
    ("visits", 1, "fund_paid", "NA", ["unparsable number", "'NA'"]),
    ("institutions", 1, "level", "3.5", ["not an integer", "3.5"]),
    ("catalog", 2, "age_min", "eighteen", ["unparsable integer", "'eighteen'"]),
    ("institutions", 2, "has_face_terminal", "maybe", ["not a boolean", "'maybe'"]),
    ("persons", 4, "birth_date", "1975-02-30", ["unparsable date", "'1975-02-30'"]),
    ("visits", 4, "start_time", "2024-04-01 25:00", ["unparsable timestamp", "'2024-04-01 25:00'"]),
    ("claim_lines", 5, "service_time", "yesterday", ["unparsable timestamp", "'yesterday'"]),
    ("visits", 2, "start_time", "2024-02-30T10:00:00", ["unparsable timestamp", "2024-02-30"]),
    ("visits", 2, "end_time", "2024-03-06T23:60:00", ["unparsable timestamp", "23:60"]),
    ("visits", 2, "end_time", "2024-03-06T24:00:00", ["unparsable timestamp", "24:00"]),
    ("visits", 2, "start_time", "2024-03-06X10:00:00", ["unparsable timestamp"]),
    ("persons", 1, "birth_date", "2023-02-29", ["unparsable date", "2023-02-29"]),
    ("persons", 1, "birth_date", "1950-00-02", ["unparsable date"]),
    ("persons", 1, "birth_date", "19500102", ["unparsable date"]),
    ("inventory", 2, "period", "2024-13", ["malformed period", "YYYY-MM"]),
])
def test_unparsable_values(dataset_dir: Path, table: str, row: int, column: str, value: str,
                           words: list[str]) -> None:
    check_bad(dataset_dir, table, row, column, value, words)


def test_booleans_accept_yes_no_and_digits(dataset_dir: Path) -> None:
    set_cell(dataset_dir, "institutions", 1, "has_face_terminal", "YES")
    set_cell(dataset_dir, "institutions", 2, "has_face_terminal", "0")
    ds = read_dataset(dataset_dir)
    assert ds.quarantine.empty
    assert list(ds.table("institutions")["has_face_terminal"].astype(object)) == [True, False, pd.NA]


@pytest.mark.parametrize("table,row,column,value", [
    ("visits", 1, "total_amount", "-120.5"),
    ("claim_lines", 2, "unit_price", "-0.01"),
    ("inventory", 1, "qty_purchased", "-3"),
    ("catalog", 1, "max_days_supply", "-30"),
])
def test_negative_where_not_allowed(dataset_dir: Path, table: str, row: int, column: str,
                                    value: str) -> None:
    q = check_bad(dataset_dir, table, row, column, value, ["negative", column, value])
    assert "not allowed" in q["reason"]


def test_negative_quantity_and_amount_allowed_for_refunds(dataset_dir: Path) -> None:
    set_cell(dataset_dir, "claim_lines", 1, "quantity", "-2")
    set_cell(dataset_dir, "claim_lines", 1, "amount", "-24")
    ds = read_dataset(dataset_dir)
    assert ds.quarantine.empty
    assert ds.table("claim_lines")["amount"].iloc[0] == -24.0


@pytest.mark.parametrize("value,words", [
    (" ".join(["0.1"] * 127), ["127 numbers, expected 128"]),
    (" ".join(["0.1"] * 129), ["129 numbers, expected 128"]),
    (" ".join(["0.1"] * 127 + ["abc"]), ["non-numeric", "'0.1 0.1"]),
    (" ".join(["0.1"] * 127 + ["nan"]), ["non-numeric"]),
])
def test_bad_encoding(dataset_dir: Path, value: str, words: list[str]) -> None:
    check_bad(dataset_dir, "face_captures", 2, "encoding", value, words, key="F2")


def test_face_row_with_neither_encoding_nor_image(dataset_dir: Path) -> None:
    q = check_bad(dataset_dir, "face_enrollments", 1, "encoding", "", ["neither encoding nor image_path"])
    assert q["key"] == "000123"


def test_duplicate_key_keeps_first(dataset_dir: Path) -> None:
    row = append_row(dataset_dir, "visits", {"visit_id": "V2", "person_id": "P4", "institution_id": "H001",
                                            "visit_type": "outpatient", "start_time": "2024-05-01T10:00:00",
                                            "total_amount": "9"})
    ds = read_dataset(dataset_dir)
    q = only_quarantine_row(ds)
    assert (q["table"], q["row_number"], q["key"], q["column"]) == ("visits", row, "V2", "visit_id")
    assert "duplicate visit_id 'V2'" in q["reason"] and "first at row 2" in q["reason"]
    v = ds.table("visits").set_index("visit_id")
    assert v.loc["V2", "person_id"] == "P2" and len(v) == 4


def test_duplicate_composite_key(dataset_dir: Path) -> None:
    row = append_row(dataset_dir, "inventory", {"institution_id": "Y003", "item_code": "XA01",
                                               "period": "2024-03", "qty_purchased": "7"})
    # the same item in another month is not a duplicate
    append_row(dataset_dir, "inventory", {"institution_id": "Y003", "item_code": "XA01",
                                         "period": "2024-04", "qty_purchased": "7"})
    ds = read_dataset(dataset_dir)
    q = only_quarantine_row(ds)
    assert (q["table"], q["row_number"], q["key"]) == ("inventory", row, "Y003|XA01|2024-03")
    assert q["column"] == "institution_id+item_code+period"
    assert "duplicate" in q["reason"] and "first at row 2" in q["reason"]
    assert len(ds.table("inventory")) == 4


def test_unknown_foreign_key(dataset_dir: Path) -> None:
    q = check_bad(dataset_dir, "claim_lines", 3, "item_code", "ZZ99",
                  ["unknown item_code", "'ZZ99'", "not in catalog"], key="L3")
    assert q["key"] == "L3"


def test_optional_foreign_key_checked_when_given(dataset_dir: Path) -> None:
    check_bad(dataset_dir, "visits", 1, "payer_person_id", "P404", ["unknown payer_person_id", "P404"])


def test_cascade_quarantine_names_the_parent(dataset_dir: Path) -> None:
    set_cell(dataset_dir, "visits", 3, "visit_type", "telemedicine")   # V3 has lines L4, L5
    set_cell(dataset_dir, "institutions", 1, "institution_id", "")     # H001: physicians, visits...
    ds = read_dataset(dataset_dir)
    assert_report_consistent(ds)
    q = ds.quarantine
    lines = q[q["table"] == "claim_lines"].set_index("key")
    assert lines.loc["L4", "reason"].startswith("visit V3 was quarantined")
    assert lines.loc["L4", "column"] == "visit_id" and lines.loc["L5", "row_number"] == 5
    inst = q[q["table"] == "institutions"].iloc[0]
    assert inst["reason"] == "required value missing" and inst["key"] is None
    # H001 had no accepted row: its children are "unknown", not "quarantined" (its id was empty)
    phys = q[q["table"] == "physicians"]
    assert set(phys["key"]) == {"D01", "D02"} and phys["reason"].str.contains("unknown institution_id").all()


def test_cascade_through_duplicate_and_bad_parent(dataset_dir: Path) -> None:
    set_cell(dataset_dir, "persons", 2, "sex", "X")           # P2 quarantined
    ds = read_dataset(dataset_dir)
    q = ds.quarantine
    v2 = q[(q["table"] == "visits")].iloc[0]
    assert v2["key"] == "V2" and v2["reason"].startswith("person P2 was quarantined")
    assert q[(q["table"] == "claim_lines")].iloc[0]["reason"].startswith("visit V2 was quarantined")
    fam = q[q["table"] == "family_links"].iloc[0]
    assert fam["key"] == "000123|P2|spouse" and fam["column"] == "related_person_id"
    assert set(q["table"]) == {"persons", "visits", "claim_lines", "face_enrollments", "family_links"}
    assert_report_consistent(ds)


def test_first_offending_column_is_reported(dataset_dir: Path) -> None:
    set_cell(dataset_dir, "visits", 2, "total_amount", "??")
    set_cell(dataset_dir, "visits", 2, "visit_type", "??")
    ds = read_dataset(dataset_dir)
    rows = ds.quarantine[ds.quarantine["table"] == "visits"]
    assert len(rows) == 1 and rows.iloc[0]["column"] == "visit_type"   # contract column order


def test_record_with_too_many_fields_is_quarantined_not_fatal(dataset_dir: Path) -> None:
    path = dataset_dir / "physicians.csv"
    text = path.read_text(encoding="utf-8").splitlines()
    text[2] = text[2] + ",extra,fields"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    ds = read_dataset(dataset_dir)
    q = ds.quarantine[ds.quarantine["table"] == "physicians"].iloc[0]
    assert q["row_number"] == 2 and q["key"] == "D02" and q["column"] == "(row)"
    assert "6 fields" in q["reason"] and "header has 4" in q["reason"]
    assert len(ds.table("physicians")) == 2
    assert_report_consistent(ds)


def test_long_bad_values_are_shortened(dataset_dir: Path) -> None:
    q = check_bad(dataset_dir, "visits", 1, "total_amount", "x" * 500, ["unparsable number"])
    assert len(q["reason"]) < 100 and "…" in q["reason"]


# --------------------------------------------------------------------------- times
def test_offset_timestamps_become_shanghai_wall_time(dataset_dir: Path) -> None:
    set_cell(dataset_dir, "visits", 1, "start_time", "2024-03-05T01:41:00Z")
    set_cell(dataset_dir, "visits", 2, "start_time", "2024-03-05T09:41:00+08:00")
    set_cell(dataset_dir, "visits", 3, "start_time", "2024-03-04T20:41:00-0500")
    set_cell(dataset_dir, "visits", 4, "start_time", "2024-03-05 09:41:00.250")
    set_cell(dataset_dir, "claim_lines", 1, "service_time", "2024-03-05")
    set_cell(dataset_dir, "persons", 1, "birth_date", "1950-01-02T00:00:00")
    ds = read_dataset(dataset_dir)
    assert ds.quarantine.empty, ds.quarantine
    st = ds.table("visits")["start_time"]
    assert st.dt.tz is None
    assert list(st.iloc[:3]) == [pd.Timestamp("2024-03-05 09:41:00")] * 3
    assert st.iloc[3] == pd.Timestamp("2024-03-05 09:41:00.250")
    assert ds.table("claim_lines")["service_time"].iloc[0] == pd.Timestamp("2024-03-05")


# --------------------------------------------------------------------------- structure
def _assert_nothing_written(out: Path) -> None:
    assert not out.exists()


def test_missing_required_table(dataset_dir: Path, tmp_path: Path) -> None:
    (dataset_dir / "catalog.csv").unlink()
    with pytest.raises(ContractError, match=r"missing required table.*catalog"):
        read_dataset(dataset_dir).write_reports(tmp_path / "out")
    _assert_nothing_written(tmp_path / "out")


def test_missing_required_column(dataset_dir: Path, tmp_path: Path) -> None:
    df = pd.read_csv(dataset_dir / "visits.csv", dtype=str, keep_default_na=False)
    df.drop(columns=["start_time"]).to_csv(dataset_dir / "visits.csv", index=False)
    with pytest.raises(ContractError, match=r"visits\.start_time"):
        read_dataset(dataset_dir).write_reports(tmp_path / "out")
    _assert_nothing_written(tmp_path / "out")


def test_face_table_without_encoding_or_image_column(dataset_dir: Path) -> None:
    df = pd.read_csv(dataset_dir / "face_captures.csv", dtype=str, keep_default_na=False)
    df.drop(columns=["encoding", "image_path"]).to_csv(dataset_dir / "face_captures.csv", index=False)
    with pytest.raises(ContractError, match=r"face_captures\.encoding or face_captures\.image_path"):
        read_dataset(dataset_dir)


def test_csv_and_parquet_of_the_same_table(dataset_dir: Path) -> None:
    write_dataset({"persons": valid_tables()["persons"]}, dataset_dir / "pq", fmt="parquet")
    (dataset_dir / "pq" / "persons.parquet").rename(dataset_dir / "persons.parquet")
    with pytest.raises(ContractError, match=r"persons\.csv \+ persons\.parquet"):
        read_dataset(dataset_dir)


def test_not_a_dataset(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ContractError, match="not a dataset"):
        read_dataset(tmp_path)
    with pytest.raises(ContractError, match="does not exist"):
        read_dataset(tmp_path / "nowhere")
    with pytest.raises(ContractError, match="not a directory"):
        read_dataset(tmp_path / "notes.txt")


def test_empty_and_non_utf8_files(dataset_dir: Path) -> None:
    (dataset_dir / "known_cases.csv").write_bytes("case_id,entity_type\n公司".encode("gbk"))
    with pytest.raises(ContractError, match="not UTF-8"):
        read_dataset(dataset_dir)
    # an empty optional file is an empty table (issue 17.2), an empty required one is refused
    (dataset_dir / "known_cases.csv").write_text("")
    ds = read_dataset(dataset_dir)
    assert ds.has("known_cases") and len(ds.table("known_cases")) == 0
    assert list(ds.table("known_cases").columns) == TABLES["known_cases"].names
    (dataset_dir / "catalog.csv").write_text("")
    with pytest.raises(ContractError, match="catalog.csv is empty"):
        read_dataset(dataset_dir)


def test_write_dataset_replaces_the_other_format(dataset_dir: Path) -> None:
    write_dataset({"persons": valid_tables()["persons"]}, dataset_dir, fmt="parquet")
    assert (dataset_dir / "persons.parquet").exists() and not (dataset_dir / "persons.csv").exists()
    assert read_dataset(dataset_dir).quarantine.empty


def test_tables_argument_reads_requested_tables_and_their_parents(dataset_dir: Path) -> None:
    ds = read_dataset(dataset_dir, tables=["visits"])
    assert list(ds.tables) == ["institutions", "physicians", "persons", "visits"]
    with pytest.raises(ContractError, match="not a table"):
        read_dataset(dataset_dir, tables=["nonsense"])


# --------------------------------------------------------------------------- reports
def test_write_reports_and_summary(dataset_dir: Path, tmp_path: Path) -> None:
    set_cell(dataset_dir, "visits", 3, "total_amount", "abc")
    ds = read_dataset(dataset_dir)
    out = ds.write_reports(tmp_path / "out" / "deep")
    rep = _rows(out / "load_report.csv")
    assert rep[0] == LOAD_REPORT_COLUMNS and len(rep) == 1 + len(LOAD_ORDER)
    q = _rows(out / "quarantine.csv")
    assert q[0] == QUARANTINE_COLUMNS
    assert q[1] == ["visits", "3", "V3", "total_amount", "unparsable number 'abc'"]
    assert [r[3] for r in q[2:]] == ["visit_id", "visit_id", "line_id"]   # L4, L5 of V3; the pack scanned on L4
    s = ds.summary()
    assert "visits" in s and "quarantine causes" in s and "unparsable number 'abc'" in s
    line = next(x for x in s.splitlines() if x.strip().startswith("visits"))
    assert line.split()[1:4] == ["4", "3", "1"]


def test_write_csv_results_file(tmp_path: Path) -> None:
    df = pd.DataFrame({"lead_id": ["L1"], "score": [0.25], "members": [("person:P1", "physician:D1")]})
    path = write_csv(df, tmp_path / "r" / "leads.csv", columns=["lead_id", "scheme", "score", "members"])
    assert _rows(path) == [["lead_id", "scheme", "score", "members"],
                           ["L1", "", "0.25", "person:P1;physician:D1"]]


# --------------------------------------------------------------------------- real photos
def _faces_or_skip() -> None:
    if not FACES.is_dir():
        pytest.skip(f"face photos not found at {FACES} (shared/data/faces)")
    try:
        import ringscope.ingest.images  # noqa: F401
    except ImportError as e:
        pytest.skip(f"ringscope.ingest.images is not available yet: {e}")


def test_face_photos_are_encoded_or_quarantined(tmp_path: Path) -> None:
    _faces_or_skip()
    import shutil

    t = valid_tables()
    ds_dir = tmp_path / "ds"
    (ds_dir / "photos").mkdir(parents=True)
    shutil.copy(FACES / "test_images" / "obama.jpg", ds_dir / "photos" / "obama.jpg")
    shutil.copy(FACES / "two_people.jpg", ds_dir / "photos" / "two.jpg")
    (ds_dir / "photos" / "notes.txt").write_text("not an image")
    t["face_enrollments"] = pd.DataFrame({
        "person_id": ["000123", "P2"],
        "encoding": _obj([None, _vec(2)]),
        "image_path": ["photos/obama.jpg", None],
    })
    t["face_captures"] = pd.DataFrame({
        "capture_id": ["F1", "F2", "F3", "F4"],
        "institution_id": ["H001"] * 4,
        "location": ["entrance", "settlement", "ward", "entrance"],
        "capture_time": pd.Series(pd.to_datetime(["2024-03-05 09:40:00"] * 4), dtype="datetime64[ns]"),
        "encoding": _obj([None, None, None, _vec(5)]),
        "image_path": ["photos/two.jpg", "photos/notes.txt", "photos/missing.jpg", "photos/notes.txt"],
        "visit_id": [None] * 4,
        "claimed_person_id": ["000123"] * 4,
    })
    write_dataset(t, ds_dir)
    ds = read_dataset(ds_dir)
    assert_report_consistent(ds)
    enc = ds.table("face_enrollments").set_index("person_id")["encoding"]
    assert isinstance(enc["000123"], np.ndarray) and enc["000123"].shape == (128,)
    assert enc["000123"].dtype == np.float32 and np.linalg.norm(enc["000123"]) > 0.5
    q = ds.quarantine[ds.quarantine["table"] == "face_captures"].set_index("key")
    assert set(q.index) == {"F1", "F2", "F3"}          # F4 has an encoding: the photo is not needed
    assert (q["column"] == "image_path").all()
    assert "2 faces in image, expected one" in q.loc["F1", "reason"]
    assert "unreadable" in q.loc["F2", "reason"]
    assert "not found" in q.loc["F3", "reason"]
    # without encode_images the photo rows are accepted with a null encoding
    ds2 = read_dataset(ds_dir, encode_images=False)
    assert ds2.quarantine.empty and ds2.table("face_enrollments")["encoding"].iloc[0] is None


def test_photo_without_a_face_is_quarantined(tmp_path: Path) -> None:
    _faces_or_skip()
    from PIL import Image

    t = valid_tables()
    ds_dir = tmp_path / "ds"
    ds_dir.mkdir()
    Image.new("RGB", (200, 200), (120, 160, 200)).save(ds_dir / "sky.jpg")
    t["face_enrollments"] = pd.DataFrame({"person_id": ["P4"], "encoding": _obj([None]),
                                          "image_path": ["sky.jpg"]})
    write_dataset(t, ds_dir)
    q = only_quarantine_row(read_dataset(ds_dir))
    assert (q["table"], q["row_number"], q["key"], q["column"]) == ("face_enrollments", 1, "P4", "image_path")
    assert q["reason"].startswith("no face found in image")
