"""Benchmark of the streaming reader: memory flat as the city grows, time against the floor.

    .venv/bin/python bench/bench_validate.py --visits 1000000 --visits 4000000 --visits 16000000 \\
        [--format csv --format parquet] [--memory-limit 2GB] [--work /tmp/bench-validate]

For each size a synthetic dataset is made once (cached under ``--work``) with
vectorised numpy/Arrow: ``visits`` visits with about 2.5 claim lines each, a
person per 10 visits, the city's 3,600 institutions, 40,000 physicians and a
5,000-item catalog, plus a few hundred bad rows of every kind (duplicate and
dangling keys, unparsable and implausible values, a stray quote) so the
quarantine path runs too. CSV is written as an exporter writes it; Parquet
typed (timestamps, float64 money, ``list<string>``), each big table a
directory of part files.

Then, each in a fresh child process (so each peak RSS is its own):

- ``floor``: pyarrow merely parsing every file of the dataset once -- CSV
  with ``pyarrow.csv.open_csv`` (every column as text, which is what the
  reader asks Arrow for), Parquet with ``ParquetFile.iter_batches``;
- ``validate``: :func:`ringscope.ingest.reader.read_dataset` with
  ``--memory-limit`` and the default ``chunk_rows``, staging every table
  (``encode_images=False``: no photos here).

Prints a markdown table: rows read, seconds and peak RSS of both, and the
ratio validate / floor. The claim: peak RSS stays flat as the input grows
(bounded by the chunk and DuckDB's memory limit), and the time stays within a
constant factor of the floor. Not a test; figures go in ``bench/RESULTS.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ringscope.progress import peak_rss_mb

__all__ = ["main", "make_dataset"]

N_INST, N_PHYS, N_ITEMS = 3600, 40_000, 5000
_BATCH = 1_000_000


# =========================================================================== data
def _ids(prefix: str, idx, width: int):
    import pyarrow as pa
    import pyarrow.compute as pc

    s = pc.utf8_lpad(pc.cast(pa.array(idx), pa.string()), width, "0")
    return pc.binary_join_element_wise(pa.scalar(prefix), s, "")


def _pick(rng, values: list[str], n: int, p=None):
    import pyarrow as pa

    return pa.array(values, pa.string()).take(pa.array(rng.choice(len(values), n, p=p)))


def _ts(seconds):
    import pyarrow as pa

    base = 1_704_038_400          # 2024-01-01T00:00:00 (naive, local)
    return pa.array((base + seconds).astype("datetime64[s]"), pa.timestamp("s"))


def _text_ts(arr):
    import pyarrow.compute as pc

    return pc.strftime(arr, "%Y-%m-%dT%H:%M:%S")


def _tables(rng, visits: int, start: int, n: int, persons: int):
    """Batch ``[start, start + n)`` of visits and their claim lines, typed."""
    import numpy as np
    import pyarrow as pa

    vidx = np.arange(start, start + n)
    secs = rng.integers(0, 365 * 86400 - 7200, n)
    vtype = rng.choice(3, n, p=[0.8, 0.05, 0.15])
    st = _ts(secs)
    end = np.where(vtype == 1, secs + rng.integers(1, 20, n) * 86400, secs)
    total = np.round(rng.gamma(2.0, 150.0, n), 2)
    diag = pa.array(["I10", "E11.9", "J06.9", "K05.1", "M54.5", "I10;E11.9", "J06.9;R05"]).take(
        pa.array(rng.integers(0, 7, n)))
    v = {
        "visit_id": _ids("V", vidx, 10),
        "person_id": _ids("P", rng.integers(0, persons, n), 9),
        "institution_id": _ids("H", rng.integers(0, N_INST, n), 6),
        "physician_id": _ids("D", rng.integers(0, N_PHYS, n), 7),
        "visit_type": pa.array(["outpatient", "inpatient", "pharmacy"]).take(pa.array(vtype)),
        "start_time": st,
        "end_time": _ts(end),
        "diagnosis_codes": diag,
        "total_amount": pa.array(total),
        "fund_paid": pa.array(np.round(total * 0.6, 2)),
        "account_paid": pa.array(np.round(total * 0.4, 2)),
    }
    k = rng.poisson(1.5, n) + 1
    m = int(k.sum())
    owner = np.repeat(vidx, k)
    lstart = start * 25 // 10
    qty = rng.integers(1, 5, m).astype(float)
    price = np.round(rng.gamma(2.0, 20.0, m), 2)
    cl = {
        "line_id": _ids("L", np.arange(lstart, lstart + m), 11),
        "visit_id": _ids("V", owner, 10),
        "item_code": _ids("X", rng.integers(0, N_ITEMS, m), 5),
        "quantity": pa.array(qty),
        "unit_price": pa.array(price),
        "amount": pa.array(np.round(qty * price, 2)),
        "days_supply": pa.array(rng.integers(1, 31, m)),
        "service_time": _ts(np.repeat(secs, k) + 60),
    }
    return v, cl


def _small(rng, persons: int) -> dict:
    import numpy as np
    import pyarrow as pa

    births = (np.datetime64("1930-01-01") + rng.integers(0, 90 * 365, persons)).astype("datetime64[D]")
    return {
        "institutions": {"institution_id": _ids("H", np.arange(N_INST), 6),
                         "kind": _pick(rng, ["hospital", "clinic", "community", "pharmacy"], N_INST),
                         "level": pa.array(rng.integers(1, 4, N_INST)),
                         "district": _pick(rng, ["小店区", "迎泽区", "杏花岭区", "尖草坪区"], N_INST)},
        "physicians": {"physician_id": _ids("D", np.arange(N_PHYS), 7),
                       "institution_id": _ids("H", rng.integers(0, N_INST, N_PHYS), 6),
                       "specialty": _pick(rng, ["内科", "外科", "全科", "儿科"], N_PHYS)},
        "persons": {"person_id": _ids("P", np.arange(persons), 9),
                    "sex": _pick(rng, ["M", "F"], persons),
                    "birth_date": pa.array(births, pa.date32()),
                    "district": _pick(rng, ["小店区", "迎泽区", "杏花岭区"], persons),
                    "insurance_type": _pick(rng, ["employee", "resident"], persons),
                    "chronic_conditions": _pick(rng, ["", "I10", "E11.9", "I10;E11.9"], persons,
                                                p=[0.7, 0.1, 0.1, 0.1])},
        "catalog": {"item_code": _ids("X", np.arange(N_ITEMS), 5),
                    "name": _ids("药品", np.arange(N_ITEMS), 5),
                    "item_type": _pick(rng, ["drug", "service", "material"], N_ITEMS),
                    "price_cap": pa.array(np.round(rng.gamma(2.0, 40.0, N_ITEMS), 2))},
    }


def _bad_rows(rng, visits: int, persons: int) -> tuple[list[str], list[str]]:
    """A few hundred bad visit and claim-line records (CSV text), appended at the end."""
    bad_v, bad_l = [], []
    for i in range(200):
        vid = f"V{visits + i:010d}"
        kind = i % 5
        person = f"P{rng.integers(0, persons):09d}" if kind != 0 else "P999999999"
        amount = {1: '"12,5"', 2: "1e308"}.get(kind, "10.00")
        start = "2099-01-01T10:00:00" if kind == 3 else "2024-06-01T10:00:00"
        vid = f"V{i:010d}" if kind == 4 else vid                  # a duplicate key
        bad_v.append(f"{vid},{person},H000001,D0000001,outpatient,{start},,I10,{amount},,")
        bad_l.append(f"LBAD{i:07d},{vid},X00001,1,10,10,1,{start}")
    bad_v.append('V9999999999,"P000000001,H000001,D0000001,outpatient,2024-06-01T10:00:00,,I10,10,,')
    return bad_v, bad_l


def make_dataset(root: Path, visits: int, fmt: str, seed: int = 3) -> Path:
    """A synthetic dataset of ``visits`` visits in ``fmt`` (csv or parquet), cached."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyarrow import csv as pacsv

    out = root / f"{fmt}-{visits}"
    if (out / ".complete").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    persons = max(1000, visits // 10)
    t0 = time.perf_counter()

    def as_text(cols: dict) -> pa.Table:
        import pyarrow.compute as pc

        out_cols = {}
        for k, a in cols.items():
            if pa.types.is_timestamp(a.type):
                a = _text_ts(a)
            elif pa.types.is_date(a.type):
                a = pc.strftime(a.cast(pa.timestamp("s")), "%Y-%m-%d")
            out_cols[k] = a.cast(pa.string())
        return pa.table(out_cols)

    def typed(cols: dict) -> pa.Table:
        import pyarrow.compute as pc

        return pa.table({k: pc.split_pattern(a, ";") if k in ("diagnosis_codes", "chronic_conditions") else a
                         for k, a in cols.items()})

    for name, cols in _small(rng, persons).items():
        if fmt == "csv":
            pacsv.write_csv(as_text(cols), out / f"{name}.csv")
        else:
            pq.write_table(typed(cols), out / f"{name}.parquet")
    bad_v, bad_l = _bad_rows(rng, visits, persons)
    writers: dict[str, object] = {}
    try:
        for b, start in enumerate(range(0, visits, _BATCH)):
            v, cl = _tables(rng, visits, start, min(_BATCH, visits - start), persons)
            for name, cols in (("visits", v), ("claim_lines", cl)):
                if fmt == "csv":
                    t = as_text(cols)
                    if name not in writers:
                        writers[name] = open(out / f"{name}.csv", "wb")
                        writers[name].write((",".join(t.column_names) + "\n").encode())
                    pacsv.write_csv(t, writers[name], write_options=pacsv.WriteOptions(include_header=False))
                else:
                    d = out / f"{name}.parquet"
                    d.mkdir(exist_ok=True)
                    pq.write_table(typed(cols), d / f"part-{b:05d}.parquet")
        if fmt == "csv":
            writers["visits"].write(("\n".join(bad_v) + "\n").encode())
            writers["claim_lines"].write(("\n".join(bad_l) + "\n").encode())
    finally:
        for w in writers.values():
            w.close()
    (out / ".complete").write_text(f"{time.perf_counter() - t0:.1f}s\n")
    print(f"# made {out} in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    return out


# =========================================================================== children
def child_floor(path: Path) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyarrow import csv as pacsv

    t0 = time.perf_counter()
    rows = 0
    for f in sorted(path.iterdir()):
        if f.suffix == ".csv":
            with open(f, encoding="utf-8") as fh:
                header = fh.readline().strip().split(",")
            r = pacsv.open_csv(f, convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in header}),
                               parse_options=pacsv.ParseOptions(invalid_row_handler=lambda row: "skip"))
            for b in r:
                rows += b.num_rows
        elif f.suffix == ".parquet":
            files = sorted(f.rglob("*.parquet")) if f.is_dir() else [f]
            for p in files:
                for b in pq.ParquetFile(p).iter_batches(batch_size=200_000):
                    rows += b.num_rows
    return {"seconds": time.perf_counter() - t0, "rows": rows, "peak_mb": peak_rss_mb()}


def child_validate(path: Path, work: Path, memory_limit: str) -> dict:
    from ringscope import progress
    from ringscope.ingest.reader import read_dataset

    progress.configure(quiet=True)
    t0 = time.perf_counter()
    ds = read_dataset(path, work_dir=work, memory_limit=memory_limit, encode_images=False)
    secs = time.perf_counter() - t0
    rep = ds.load_report
    out = {"seconds": secs, "rows": int(rep["rows_read"].sum()), "accepted": int(rep["accepted"].sum()),
           "quarantined": int(rep["quarantined"].sum()), "peak_mb": peak_rss_mb()}
    ds.close()
    return out


def _run_child(args: list[str]) -> dict:
    r = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# =========================================================================== main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--visits", type=int, action="append")
    ap.add_argument("--format", action="append", choices=["csv", "parquet"])
    ap.add_argument("--memory-limit", default="2GB")
    ap.add_argument("--work", default="/tmp/bench-validate")
    ap.add_argument("--keep", action="store_true", help="keep the generated datasets")
    ap.add_argument("--json", help="also write the rows as JSON here")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        kind, path = a.child[0], Path(a.child[1])
        res = child_floor(path) if kind == "floor" else child_validate(path, Path(a.child[2]), a.child[3])
        print(json.dumps(res))
        return 0
    sizes = a.visits or [1_000_000, 4_000_000]
    formats = a.format or ["csv", "parquet"]
    work = Path(a.work)
    rows = []
    print("| format | visits | rows read | quarantined | floor s | validate s | validate / floor "
          "| floor peak RSS MB | validate peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for fmt in formats:
        for n in sizes:
            path = make_dataset(work / "data", n, fmt)
            floor = _run_child(["floor", str(path)])
            staged = work / "staged"
            shutil.rmtree(staged, ignore_errors=True)
            val = _run_child(["validate", str(path), str(staged), a.memory_limit])
            shutil.rmtree(staged, ignore_errors=True)
            row = {"format": fmt, "visits": n, "rows": val["rows"], "quarantined": val["quarantined"],
                   "floor_s": floor["seconds"], "validate_s": val["seconds"],
                   "ratio": val["seconds"] / floor["seconds"], "floor_mb": floor["peak_mb"],
                   "validate_mb": val["peak_mb"], "floor_rows": floor["rows"]}
            rows.append(row)
            print(f"| {fmt} | {n:,} | {row['rows']:,} | {row['quarantined']:,} | {row['floor_s']:.1f} "
                  f"| {row['validate_s']:.1f} | {row['ratio']:.1f} | {row['floor_mb']:.0f} "
                  f"| {row['validate_mb']:.0f} |", flush=True)
            if not a.keep:
                shutil.rmtree(path, ignore_errors=True)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2))
    print(f"\n# cores {os.cpu_count()}, memory limit {a.memory_limit}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
