"""The streaming reader (issue 12): chunks, Parquet part directories, the staged dataset and
its columnar access, plausibility checks with reasons (issue 17.2), this round's contract
changes (family_links keyed by relation, drug_traces), and ``ringscope validate``'s progress.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ringscope.ingest.contract import TABLES
from ringscope.ingest.io import to_arrow_table, write_dataset
from ringscope.ingest.reader import ContractError, read_dataset
from test_reader import _assert_tables_equal, append_row, assert_report_consistent, set_cell, valid_tables


@pytest.fixture
def ds_dir(tmp_path: Path) -> Path:
    return write_dataset(valid_tables(), tmp_path / "ds")


def _q(ds, table: str) -> pd.DataFrame:
    q = ds.quarantine
    return q[q["table"] == table].reset_index(drop=True)


# --------------------------------------------------------------------------- chunks
def test_tiny_chunks_give_the_same_result_as_one_chunk(ds_dir: Path) -> None:
    """Cross-chunk duplicates, cascades and row numbers do not depend on the chunk size."""
    append_row(ds_dir, "visits", {"visit_id": "V2", "person_id": "P4", "institution_id": "H001",
                                  "visit_type": "outpatient", "start_time": "2024-03-09T10:00:00",
                                  "total_amount": "9"})
    set_cell(ds_dir, "persons", 2, "sex", "X")
    set_cell(ds_dir, "claim_lines", 4, "amount", "abc")
    whole = read_dataset(ds_dir, encode_images=False)
    tiny = read_dataset(ds_dir, encode_images=False, chunk_rows=1)
    assert_report_consistent(tiny)
    pd.testing.assert_frame_equal(whole.load_report, tiny.load_report)
    pd.testing.assert_frame_equal(whole.quarantine, tiny.quarantine)
    _assert_tables_equal(dict(tiny.tables), dict(whole.tables))
    dup = _q(tiny, "visits").set_index("row_number").loc[5]
    assert dup["reason"] == "duplicate visit_id 'V2' (first at row 2)"
    assert tiny.staged_path("visits").is_dir() and not whole.staged_path("visits").is_dir()
    assert len(tiny.staged_files("visits")) == 5


# --------------------------------------------------------------------------- Parquet parts
def test_a_parquet_directory_of_parts_with_hive_partitions(tmp_path: Path) -> None:
    """``visits.parquet/`` as Spark writes it: partition directories, part files, ``_SUCCESS``."""
    t = valid_tables()
    write_dataset(t, tmp_path / "flat", fmt="parquet")
    d = write_dataset(t, tmp_path / "parts", fmt="parquet")
    (d / "visits.parquet").unlink()
    v = to_arrow_table(t["visits"], "visits")
    root = d / "visits.parquet"
    for i, vt in enumerate(["outpatient", "pharmacy", "inpatient"]):
        sub = v.filter(pa.compute.equal(v.column("visit_type"), vt)).drop_columns(["visit_type"])
        (root / f"visit_type={vt}").mkdir(parents=True)
        pq.write_table(sub, root / f"visit_type={vt}" / f"part-{i:05d}-abc.snappy.parquet")
    (root / "_SUCCESS").write_text("")
    (root / ".part-00000.crc").write_text("x")
    flat, parts = read_dataset(tmp_path / "flat", encode_images=False), read_dataset(d, encode_images=False)
    assert parts.quarantine.empty and parts.sources["visits"] == root
    got = parts.table("visits").sort_values("visit_id").reset_index(drop=True)
    want = flat.table("visits").sort_values("visit_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    # parts are read in path order: inpatient/, outpatient/, pharmacy/ (row numbers follow)
    assert list(parts.table("visits")["visit_id"]) == ["V4", "V1", "V2", "V3"]


def test_parquet_types_money_is_read_as_a_decimal(tmp_path: Path) -> None:
    """float32 money is read through its shortest decimal (0.1, not 0.10000000149...), decimal128
    through its exact text; a boolean column where a number belongs is refused up front."""
    t = valid_tables()
    d = write_dataset(t, tmp_path / "pq", fmt="parquet")
    v = to_arrow_table(t["visits"], "visits")
    v = v.set_column(v.column_names.index("total_amount"), "total_amount",
                     v.column("total_amount").cast(pa.float32()))
    v = v.set_column(v.column_names.index("fund_paid"), "fund_paid",
                     pa.array([None if x != x else __import__("decimal").Decimal(str(x))
                               for x in t["visits"]["fund_paid"]], pa.decimal128(12, 2)))
    pq.write_table(v, d / "visits.parquet")
    ds = read_dataset(d, encode_images=False)
    assert ds.quarantine.empty
    assert list(ds.table("visits")["total_amount"]) == [120.5, 0.1, 35.0, 15230.75]
    assert ds.table("visits")["fund_paid"].iloc[0] == 80.0
    assert np.float32(0.1).item() != 0.1                       # what float32 would have given
    v = v.set_column(v.column_names.index("total_amount"), "total_amount",
                     pa.array([True, False, True, True]))
    pq.write_table(v, d / "visits.parquet")
    with pytest.raises(ContractError, match="column total_amount is boolean, but visits.total_amount is a number"):
        read_dataset(d, encode_images=False)


# --------------------------------------------------------------------------- the staged dataset
def test_staged_dataset_views_pruned_frames_and_lifetime(ds_dir: Path) -> None:
    ds = read_dataset(ds_dir, encode_images=False)
    work = ds.work_dir
    assert ds.staged_path("visits") == work / "visits.parquet"
    schema = pq.read_schema(ds.staged_path("visits"))
    assert schema.field("start_time").type == pa.timestamp("ns")
    assert schema.field("diagnosis_codes").type == pa.list_(pa.string())
    assert pq.read_schema(ds.staged_path("persons")).field("birth_date").type == pa.date32()
    assert pq.read_schema(ds.staged_path("face_captures")).field("encoding").type == pa.list_(pa.float32(), 128)
    assert schema.names[-1] == "__source_row"
    assert ds.n_rows("claim_lines") == 5
    with ds.duckdb() as con:
        assert con.execute("SELECT count(*) FROM claim_lines WHERE amount < 0").fetchone()[0] == 1
        assert "__source_row" not in [r[0] for r in con.execute("DESCRIBE visits").fetchall()]
        assert con.execute("SELECT sum(total_amount) FROM visits").fetchone()[0] == pytest.approx(15386.35)
    part = ds.table("visits", columns=["visit_id", "start_time", "diagnosis_codes"],
                    where="total_amount > ?", params=[100])
    assert list(part.columns) == ["visit_id", "start_time", "diagnosis_codes"]
    assert list(part["visit_id"]) == ["V1", "V4"] and part["start_time"].dtype == "datetime64[ns]"
    assert part["diagnosis_codes"].iloc[1] == ("I63",)
    p = ds.table("persons", where="birth_date < DATE '1960-01-01'")
    assert list(p["person_id"]) == ["000123"] and p["chronic_conditions"].iloc[0] == ("I10", "E11.9")
    with pytest.raises(KeyError, match="no column"):
        ds.table("visits", columns=["nope"])
    assert ds.tables["visits"] is ds.table("visits")        # cached
    ds.close()
    assert not work.exists()
    with pytest.raises(RuntimeError, match="closed"):
        ds.table("persons")
    with read_dataset(ds_dir, encode_images=False) as ds2:
        work2 = ds2.work_dir
        assert work2.exists()
    assert not work2.exists()


def test_a_given_work_dir_is_kept_and_a_rerun_replaces_it(ds_dir: Path, tmp_path: Path) -> None:
    work = tmp_path / "results" / ".staged"
    ds = read_dataset(ds_dir, encode_images=False, work_dir=work, chunk_rows=2)
    assert ds.staged_path("visits").is_dir()
    man = json.loads((work / "manifest.json").read_text(encoding="utf-8"))
    assert man["tables"]["visits"]["staged"] == "visits.parquet"
    assert man["data_period"] == {"start": "2024-03-05", "end": "2024-04-01", "tolerance_days": 31,
                                  "observed": True}
    ds.close()
    assert work.exists() and (work / "visits.parquet").exists()
    set_cell(ds_dir, "visits", 1, "total_amount", "x")
    again = read_dataset(ds_dir, encode_images=False, work_dir=work, tables=["visits"])
    assert not (work / "claim_lines.parquet").exists()           # not read this time: gone
    assert not (work / "visits.parquet").is_dir()                # one chunk now: one file
    assert again.n_rows("visits") == 3 and len(again.quarantine) == 1
    assert sorted(p.name for p in work.iterdir()) == [
        "institutions.parquet", "manifest.json", "persons.parquet", "physicians.parquet", "quarantine.parquet",
        "visits.parquet"]


# --------------------------------------------------------------------------- this round's contract
def test_family_links_are_keyed_by_relation(ds_dir: Path) -> None:
    row = append_row(ds_dir, "family_links", {"person_id": "000123", "related_person_id": "P2",
                                              "relation": "spouse"})
    append_row(ds_dir, "family_links", {"person_id": "000123", "related_person_id": "P2", "relation": "child"})
    append_row(ds_dir, "family_links", {"person_id": "000123", "related_person_id": "P2"})
    append_row(ds_dir, "family_links", {"person_id": "000123", "related_person_id": "P2"})
    ds = read_dataset(ds_dir, encode_images=False, chunk_rows=2)
    q = _q(ds, "family_links")
    assert len(q) == 1 and q.loc[0, "row_number"] == row
    assert q.loc[0, "key"] == "000123|P2|spouse" and q.loc[0, "column"] == "person_id+related_person_id+relation"
    assert q.loc[0, "reason"] == "duplicate person_id+related_person_id+relation '000123|P2|spouse' (first at row 2)"
    fl = ds.table("family_links")
    assert len(fl) == 6 and fl["relation"].isna().sum() == 2   # a null relation is never a duplicate


def test_drug_traces_the_same_code_twice_is_data_and_a_lost_line_cascades(ds_dir: Path) -> None:
    append_row(ds_dir, "drug_traces", {"line_id": "L4", "trace_code": "81234560000000000017",
                                       "scan_time": "2024-03-07T18:40:00", "reversed": "false"})
    append_row(ds_dir, "drug_traces", {"line_id": "L9", "trace_code": "81234560000000000031"})
    set_cell(ds_dir, "claim_lines", 5, "quantity", "lots")              # L5
    append_row(ds_dir, "drug_traces", {"line_id": "L5", "trace_code": "81234560000000000048"})
    ds = read_dataset(ds_dir, encode_images=False)
    assert_report_consistent(ds)
    q = _q(ds, "drug_traces").set_index("row_number")
    assert q.loc[5, "reason"] == "unknown line_id 'L9' (not in claim_lines)"
    assert q.loc[6, "reason"] == "claim_line L5 was quarantined (line_id → claim_lines)"
    tr = ds.table("drug_traces")
    assert (tr["trace_code"] == "81234560000000000017").sum() == 3
    assert tr["scan_time"].dtype == "datetime64[ns]" and tr["reversed"].dtype == "boolean"


def test_drug_traces_in_parquet(tmp_path: Path) -> None:
    t = valid_tables()
    ds = read_dataset(write_dataset(t, tmp_path / "pq", fmt="parquet"), encode_images=False)
    _assert_tables_equal({"drug_traces": ds.table("drug_traces"), "family_links": ds.table("family_links")},
                         {"drug_traces": t["drug_traces"], "family_links": t["family_links"]})


# --------------------------------------------------------------------------- plausibility
def _year_of_visits(tmp_path: Path, extra: list[str]) -> Path:
    """One visit a day from 2024-03-01 to 2025-02-28, then the ``extra`` start times; face
    captures on 2025-03-20 (inside the 31 days' tolerance) and 2025-04-15 (outside)."""
    t = valid_tables()
    days = pd.date_range("2024-03-01 09:00", "2025-02-28 09:00", freq="D")
    starts = list(days.strftime("%Y-%m-%dT%H:%M:%S")) + extra
    n = len(starts)
    t["visits"] = pd.DataFrame({
        "visit_id": [f"V{i}" for i in range(1, n + 1)], "person_id": "P2", "institution_id": "H001",
        "visit_type": "outpatient", "start_time": pd.Series(pd.to_datetime(starts), dtype="datetime64[ns]"),
        "total_amount": 10.0})
    t["claim_lines"] = t["claim_lines"].assign(visit_id="V1")
    t["face_captures"]["capture_time"] = pd.Series(pd.to_datetime(["2025-03-20 09:40", "2025-04-15 07:59"]),
                                                   dtype="datetime64[ns]")
    t["face_captures"]["visit_id"] = None
    return write_dataset(t, tmp_path / "year")


def test_dates_outside_the_observed_data_period_are_quarantined_as_such(tmp_path: Path) -> None:
    """A visit in 2099 or 1900 is 'outside the data period', not 'unparsable', and does not stretch it."""
    d = _year_of_visits(tmp_path, ["2099-06-01T10:00:00", "1900-01-01T10:00:00"])
    set_cell(d, "persons", 4, "birth_date", "1850-05-05")
    set_cell(d, "persons", 1, "death_date", "2031-01-01")            # a registry newer than the claims
    ds = read_dataset(d, encode_images=False)
    assert_report_consistent(ds)
    assert str(ds.data_period) == "2024-03-01..2025-02-28" and ds.data_period.observed
    q = _q(ds, "visits").set_index("key")
    assert set(q.index) == {"V366", "V367"}
    assert q.loc["V366", "reason"] == ("start_time 2099-06-01T10:00:00 is outside the data period "
                                       "2024-03-01..2025-02-28 (tolerance 31 days)")
    assert q.loc["V367", "column"] == "start_time" and "1900-01-01T10:00:00 is outside" in q.loc["V367", "reason"]
    f = _q(ds, "face_captures")
    assert list(f["key"]) == ["F2"] and f.loc[0, "reason"] == (
        "capture_time 2025-04-15T07:59:00 is outside the data period 2024-03-01..2025-02-28 (tolerance 31 days)")
    p = _q(ds, "persons").set_index("key")
    assert list(p.index) == ["P4"]
    assert p.loc["P4", "reason"] == ("birth_date 1850-05-05 is more than 120 years before the data period "
                                     "2024-03-01..2025-02-28 (max_age_years)")
    assert "data period 2024-03-01..2025-02-28 (observed" in ds.summary()
    # the period given, and another tolerance
    ds2 = read_dataset(d, encode_images=False, data_period="2024-06-01..2024-12-31", period_tolerance_days=0)
    assert not ds2.data_period.observed
    starts = ds.table("visits")["start_time"]
    outside = int(((starts < "2024-06-01") | (starts >= "2025-01-01")).sum()) + 2
    q2 = _q(ds2, "visits")
    assert len(q2) == outside == 92 + 59 + 2
    assert q2.loc[0, "reason"].endswith("outside the data period 2024-06-01..2024-12-31 (tolerance 0 days)")
    with pytest.raises(ValueError, match="START..END"):
        read_dataset(d, data_period="2024")


def test_valid_csv_dates_out_of_the_supported_range_are_not_called_unparsable(ds_dir: Path) -> None:
    """A CSV date in 3000 or 1600 is a real date that datetime64[ns] cannot hold: the reason says
    so (as the Parquet path does); a day that does not exist is still unparsable."""
    set_cell(ds_dir, "visits", 2, "start_time", "3000-01-01T10:00:00")
    set_cell(ds_dir, "visits", 3, "start_time", "2262-06-01 10:00:00+08:00")
    set_cell(ds_dir, "visits", 4, "start_time", "2024-02-30T10:00:00")
    set_cell(ds_dir, "persons", 4, "birth_date", "1600-05-05")
    set_cell(ds_dir, "persons", 1, "birth_date", "1677-10-01")       # pandas could hold it, the contract not
    ds = read_dataset(ds_dir, encode_images=False)
    assert_report_consistent(ds)
    v = _q(ds, "visits").set_index("key")
    assert v.loc["V2", "reason"] == ("start_time '3000-01-01T10:00:00' is a valid date but out of the supported "
                                     "range (years 1678-2261)")
    assert v.loc["V3", "reason"].endswith("out of the supported range (years 1678-2261)")
    assert v.loc["V4", "reason"].startswith("unparsable timestamp '2024-02-30T10:00:00'")
    p = _q(ds, "persons").set_index("key")
    assert p.loc["P4", "reason"] == "birth_date '1600-05-05' is a valid date but out of the supported range (years 1678-2261)"
    assert p.loc["000123", "column"] == "birth_date" and "out of the supported range" in p.loc["000123", "reason"]


def test_the_plausibility_bounds_are_configured_where_data_is_loaded(ds_dir: Path, tmp_path: Path) -> None:
    """The reader section of models/defaults.yaml (or of --config FILE) and the flags set the bounds
    of validate, ingest and detect: V4's 15,230.75 yuan passes the default bound, not one of 10,000."""
    import os
    import socket

    def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ringscope.cli", *args], capture_output=True, text=True,
                              timeout=600, env=dict(os.environ, **(env or {})))

    def quarantined(out: Path) -> pd.DataFrame:
        return pd.read_csv(out / "quarantine.csv", dtype=str, keep_default_na=False)

    reason = "total_amount '15230.75' is beyond the plausible bound of 10,000 (max_money)"
    r = cli("validate", str(ds_dir), "--no-images", "--out", str(tmp_path / "v0"))
    assert r.returncode == 0, r.stderr
    assert "plausible bound" not in " ".join(quarantined(tmp_path / "v0")["reason"])
    r = cli("validate", str(ds_dir), "--no-images", "--max-money", "10000", "--out", str(tmp_path / "v1"))
    assert r.returncode == 0, r.stderr
    assert reason in set(quarantined(tmp_path / "v1")["reason"])
    cfg = tmp_path / "bounds.yaml"
    cfg.write_text("reader:\n  max_money: 10000\n  period_tolerance_days: 0\n", encoding="utf-8")
    r = cli("validate", str(ds_dir), "--no-images", "--config", str(cfg), "--out", str(tmp_path / "v2"))
    assert r.returncode == 0 and reason in set(quarantined(tmp_path / "v2")["reason"]), r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("reader:\n  max_mony: 10000\n", encoding="utf-8")
    r = cli("validate", str(ds_dir), "--config", str(bad))
    assert r.returncode == 2 and "reader.max_mony: unknown key" in r.stderr
    # ingest reads (and reports) before it connects: a server that is not there still shows the bound
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    r = cli("ingest", str(ds_dir), "--max-money", "10000", "--tolerance-days", "40", "--out", str(tmp_path / "i"),
            env={"NEO4J_URI": f"bolt://127.0.0.1:{port}", "NEO4J_PASSWORD": "x"})
    assert r.returncode != 0 and reason in set(quarantined(tmp_path / "i")["reason"]), r.stderr[-2000:]
    # detect: the run's configuration, saved with the results
    from ringscope.models.config import ConfigError, reader_options

    assert reader_options(cfg) == {"period_tolerance_days": 0, "max_age_years": 120, "max_money": 10000.0,
                                   "max_quantity": 1e7}
    with pytest.raises(ConfigError, match="readr: unknown section"):
        reader_options({"readr": {}})
    r = cli("detect", str(ds_dir), "--out", str(tmp_path / "d"), "--no-neo4j", "--no-gnn", "--config", str(cfg))
    assert (tmp_path / "d" / "quarantine.csv").exists(), r.stderr[-3000:]
    assert reason in set(quarantined(tmp_path / "d")["reason"]), r.stderr[-3000:]


def test_end_before_start_implausible_amounts_and_life_dates(ds_dir: Path) -> None:
    set_cell(ds_dir, "visits", 2, "end_time", "2024-03-06T09:59:59")        # V2 starts 10:00
    set_cell(ds_dir, "visits", 3, "total_amount", "1e308")
    set_cell(ds_dir, "claim_lines", 1, "amount", "-2e8")                    # refunds may be negative, not this
    set_cell(ds_dir, "claim_lines", 2, "quantity", "1e9")
    set_cell(ds_dir, "persons", 4, "death_date", "1970-01-01")              # born 1975
    set_cell(ds_dir, "persons", 1, "birth_date", "2099-01-01")
    ds = read_dataset(ds_dir, encode_images=False)
    assert_report_consistent(ds)
    v = _q(ds, "visits").set_index("key")
    assert v.loc["V2", "reason"] == "end_time 2024-03-06T09:59:59 is before start_time 2024-03-06T10:00:00"
    assert v.loc["V3", "reason"] == "total_amount '1e308' is beyond the plausible bound of 100,000,000 (max_money)"
    c = _q(ds, "claim_lines").set_index("key")
    assert c.loc["L1", "reason"] == "amount '-2e8' is beyond the plausible bound of 100,000,000 (max_money)"
    assert c.loc["L2", "reason"] == "quantity '1e9' is beyond the plausible bound of 10,000,000 (max_quantity)"
    p = _q(ds, "persons").set_index("key")
    assert p.loc["P4", "reason"] == "death_date 1970-01-01 is before birth_date 1975-03-03"
    assert p.loc["000123", "reason"].startswith("birth_date 2099-01-01 is after the data period")
    # the bounds are parameters
    ds2 = read_dataset(ds_dir, encode_images=False, max_money=float("inf"), max_quantity=1e10)
    assert not ds2.quarantine["reason"].str.contains("plausible bound").any()


def test_empty_optional_files_are_empty_tables(ds_dir: Path) -> None:
    (ds_dir / "known_cases.csv").write_bytes(b"")
    (ds_dir / "inventory.csv").write_text("institution_id,item_code,period,qty_purchased\n", encoding="utf-8")
    (ds_dir / "drug_traces.csv").unlink()
    pq.write_table(pa.table({"line_id": pa.array([], pa.string()), "trace_code": pa.array([], pa.string())}),
                   ds_dir / "drug_traces.parquet")
    ds = read_dataset(ds_dir, encode_images=False)
    rep = ds.load_report.set_index("table")
    for name in ("known_cases", "inventory", "drug_traces"):
        assert rep.loc[name].tolist() == [0, 0, 0]
        df = ds.table(name)
        assert len(df) == 0 and list(df.columns)[:len(TABLES[name].names)] == TABLES[name].names
    assert ds.table("inventory")["qty_opening"].dtype == "float64"
    assert len(ds.table("visits")) == 4


# --------------------------------------------------------------------------- the command
def test_validate_shows_progress_and_honours_quiet(ds_dir: Path, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "ringscope.cli", "validate", str(ds_dir), "--no-images",
           "--out", str(tmp_path / "r"), "--chunk-rows", "2"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "[validate] visits: 4/4 rows (100%)" in r.stderr and "[validate] keys and references" in r.stderr
    assert "TOTAL" in r.stdout and "data period 2024-03-05..2024-04-01" in r.stdout
    assert (tmp_path / "r" / "quarantine.csv").read_text(encoding="utf-8") == \
        "table,row_number,key,column,reason\n"
    q = subprocess.run(cmd + ["--quiet"], capture_output=True, text=True)
    assert q.returncode == 0 and q.stderr == "" and "TOTAL" in q.stdout
    bad = subprocess.run(cmd[:-2] + ["--period", "2024"], capture_output=True, text=True)
    assert bad.returncode == 2 and "START..END" in bad.stderr


def test_detect_announces_its_stages_and_honours_quiet(ds_dir: Path, tmp_path: Path) -> None:
    """A long ``detect`` says on stderr which stage and detector it is in, with the time and
    memory so far (Chinese first); ``--quiet`` (every long command's, set once in ``main``)
    silences it."""
    cmd = [sys.executable, "-m", "ringscope.cli", "detect", str(ds_dir), "--no-neo4j", "--no-gnn"]
    r = subprocess.run(cmd + ["--out", str(tmp_path / "a")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for line in ("[detect] 校验 (validate): 开始 started", "[detect] 规则 (rules): 完成 done in",
                 "[detect] 图分析 (graph): 完成 done in", "[detect]   card_lending (", "峰值内存 peak RSS"):
        assert line in r.stderr, (line, r.stderr[-2000:])
    assert "torch.jit" not in r.stderr
    from ringscope import cli, progress

    try:
        parser = cli.build_parser()
        for args in (["detect", "d", "--out", "o"], ["ingest", "d"], ["evaluate", "r", "--truth", "t"],
                     ["bench", "gnn", "--dataset", "amazon"]):
            assert parser.parse_args(args + ["--quiet"]).quiet is True, args[0]
        q = subprocess.run([sys.executable, "-m", "ringscope.cli", "validate", str(ds_dir), "--no-images",
                            "--quiet"], capture_output=True, text=True)
        assert q.returncode == 0 and q.stderr == "", q.stderr
    finally:
        progress.configure(quiet=False)


def test_the_engine_spills_within_its_limit(ds_dir: Path) -> None:
    """``pipeline.spill_limit`` reaches DuckDB: a city's query that would spill more fails (that
    rule or detector), it does not fill the disk under the graph database."""
    from ringscope.graph.engine import Engine
    from ringscope.ingest.reader import read_dataset
    from ringscope.models.config import load_config

    assert load_config().pipeline["spill_limit"] == "16GB"
    ds = read_dataset(ds_dir, encode_images=False)
    try:
        eng = Engine.over_dataset(ds, memory_limit="1GB", spill_limit="2GB")
        got = eng.df("SELECT current_setting('max_temp_directory_size') AS s")["s"].iloc[0]
        assert got.replace(" ", "").upper().startswith(("2.0GB", "2GB", "1.8GIB", "1.9GIB")), got
        with pytest.raises(ValueError, match="write e.g."):
            Engine.over_dataset(ds, spill_limit="lots")
        eng.close()
    finally:
        ds.close()
