"""Benchmark of ``ringscope detect``: time per stage and peak memory, next to the
time merely to parse the same files.

    .venv/bin/python bench/bench_detect.py --visits 100000 [--visits 1000000] [--neo4j] [--gnn]

For each size the script generates (once, cached under ``--work``) a city with
about that many visits, then runs in *fresh child processes*, so each peak RSS
is its own:

- ``parse``: every table file read by pyarrow's CSV reader (no validation) --
  the peer every stage is compared with;
- ``detect``: :func:`ringscope.pipeline.detect` with the stage timings
  from its manifest.

It prints markdown rows (one per stage, with the ratio to the parse time) and
``--json`` writes the raw figures. Not a test: figures go in
``bench/RESULTS.md`` with the command.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from ringscope.progress import peak_rss_mb

__all__ = ["main"]


def _persons_for(visits: int, per_person: float) -> int:
    return max(1000, int(round(visits / per_person)))


def _count_rows(city: Path, table: str) -> int:
    p = city / f"{table}.csv"
    if p.exists():
        with open(p, "rb") as fh:
            return sum(1 for _ in fh) - 1
    import pyarrow.parquet as pq

    return pq.ParquetFile(city / f"{table}.parquet").metadata.num_rows


def ensure_city(work: Path, visits: int, seed: int) -> tuple[Path, int]:
    """A generated city with about ``visits`` visits (persons estimated from a pilot)."""
    from ringscope.synth.generator import generate

    work.mkdir(parents=True, exist_ok=True)
    pilot = work / "pilot-2000"
    if not (pilot / "visits.csv").exists() and not (pilot / "visits.parquet").exists():
        generate(pilot, persons=2000, seed=seed)
    per_person = _count_rows(pilot, "visits") / 2000
    persons = _persons_for(visits, per_person)
    city = work / f"city-{visits}"
    if not (city / "visits.csv").exists() and not (city / "visits.parquet").exists():
        t0 = time.perf_counter()
        generate(city, persons=persons, seed=seed)
        print(f"# generated {city} ({persons} persons) in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    return city, persons


def child_parse(city: Path) -> dict:
    import pyarrow.csv as pc
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    rows = 0
    for f in sorted(city.iterdir()):
        if f.suffix == ".csv":
            rows += pc.read_csv(f).num_rows
        elif f.suffix == ".parquet":
            rows += pq.read_table(f).num_rows
    return {"seconds": time.perf_counter() - t0, "rows": rows,
            "peak_rss_mb": peak_rss_mb()}


def child_detect(city: Path, out: Path, neo4j: bool, gnn: bool) -> dict:
    from ringscope.pipeline import detect

    t0 = time.perf_counter()
    summary = detect(city, out, neo4j=neo4j, gnn=gnn)
    wall = time.perf_counter() - t0
    return {"seconds": wall, "timings": summary["timings"], "counts": summary["counts"],
            "detector_timings": summary.get("detector_timings", {}), "errors": summary.get("errors", []),
            "peak_rss_mb": peak_rss_mb()}


def _run_child(args: list[str]) -> dict:
    r = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--visits", type=int, action="append", help="target visits (repeatable); default 100000")
    ap.add_argument("--work", default="/tmp/ringscope-bench-detect")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--neo4j", action="store_true", help="also ingest and write findings (needs a server)")
    ap.add_argument("--gnn", action="store_true", help="also train the learned models")
    ap.add_argument("--json", help="write raw figures here")
    ap.add_argument("--child", choices=["parse", "detect"], help=argparse.SUPPRESS)
    ap.add_argument("--city", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child == "parse":
        print(json.dumps(child_parse(Path(a.city))))
        return 0
    if a.child == "detect":
        print(json.dumps(child_detect(Path(a.city), Path(a.out), a.neo4j, a.gnn), default=str))
        return 0

    sizes = a.visits or [100_000]
    work = Path(a.work)
    raw = []
    print("| visits (target) | visits | persons | stage | seconds | × parse | peak RSS MB |")
    print("|---:|---:|---:|---|---:|---:|---:|")
    for v in sizes:
        city, persons = ensure_city(work, v, a.seed)
        n_vis = _count_rows(city, "visits")
        parse = _run_child(["--child", "parse", "--city", str(city)])
        flags = (["--neo4j"] if a.neo4j else []) + (["--gnn"] if a.gnn else [])
        det = _run_child(["--child", "detect", "--city", str(city), "--out", str(work / f"results-{v}"), *flags])
        raw.append({"target_visits": v, "visits": n_vis, "persons": persons, "parse": parse, "detect": det})
        p = parse["seconds"]
        print(f"| {v:,} | {n_vis:,} | {persons:,} | parse all files (pyarrow) | {p:.2f} | 1.0 | "
              f"{parse['peak_rss_mb']:.0f} |")
        for stage, s in det["timings"].items():
            print(f"| {v:,} | {n_vis:,} | {persons:,} | {stage} | {s:.2f} | {s / p:.1f} | |")
        for name, s in det["detector_timings"].items():
            print(f"| {v:,} | {n_vis:,} | {persons:,} | &nbsp;&nbsp;{name} | {s:.2f} | {s / p:.1f} | |")
        print(f"| {v:,} | {n_vis:,} | {persons:,} | **detect total** | {det['seconds']:.2f} | "
              f"{det['seconds'] / p:.1f} | {det['peak_rss_mb']:.0f} |")
        if det["errors"]:
            print(f"# errors: {det['errors']}", file=sys.stderr)
    if a.json:
        Path(a.json).write_text(json.dumps(raw, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
