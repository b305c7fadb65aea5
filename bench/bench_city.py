"""A city's year through ``ringscope detect``, against the columnar floor, in one run (issue 12).

    .venv/bin/python bench/bench_city.py --persons 1000000 --work /tmp/city-bench
    .venv/bin/python bench/bench_city.py --dataset W/city1m --work /tmp/city-bench

1. **generate** (once, cached under ``--work``; skipped with ``--dataset``): ``ringscope generate
   --persons N --seed S --format parquet``;
2. **floor**: DuckDB reads every input file of the dataset once with one group-by per table (visits
   by person, claim lines by visit, captures by claimed credential, trace rows by code, the small
   tables by their key) -- what no detection over these tables can beat;
3. **detect**: ``ringscope detect DATASET --out W/results --no-neo4j --no-gnn`` (the columnar
   engine, rule buckets, every detector; the learned models off as in the targets);
4. **evaluate** against the city's ``truth/`` (ring recall@3R, lead precision@3R).

Each phase runs in its own process, so each peak RSS is its own (``VmHWM``). Prints a markdown
table with the targets of issue 12 (30 minutes and 12 GB at 1M persons; detect at most 3x the
floor); figures go in ``bench/RESULTS.md``. Not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from ringscope.progress import peak_rss_mb

# the column each table is grouped by in the floor (a table not named here: its first column)
FLOOR_KEYS = {"visits": "person_id", "claim_lines": "visit_id", "face_captures": "claimed_person_id",
              "drug_traces": "trace_code", "inventory": "institution_id", "family_links": "person_id",
              "face_enrollments": "person_id"}


def _files(city: Path) -> dict[str, str]:
    """Table name -> DuckDB reader expression of its file(s) (Parquet file or directory, or CSV)."""
    out = {}
    for p in sorted(city.iterdir()):
        name = p.name.split(".")[0]
        if p.is_dir() and name != "truth" and any(p.glob("*.parquet")):
            out[name] = f"read_parquet('{p}/*.parquet')"
        elif p.suffix == ".parquet":
            out[name] = f"read_parquet('{p}')"
        elif p.suffix == ".csv":
            out[name] = f"read_csv_auto('{p}', all_varchar = true)"
    return out


def phase_floor(city: Path, memory_limit: str, threads: int) -> dict:
    """DuckDB reads each file once, one group-by per table."""
    import duckdb

    con = duckdb.connect(config={"memory_limit": memory_limit, "threads": threads})
    t0 = time.perf_counter()
    groups = {}
    for name, src in _files(city).items():
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()]
        key = FLOOR_KEYS.get(name, cols[0])
        key = key if key in cols else cols[0]
        groups[name] = int(con.execute(f'SELECT count(*) FROM (SELECT "{key}", count(*) FROM {src} GROUP BY 1)')
                           .fetchone()[0])
    return {"seconds": time.perf_counter() - t0, "groups": groups}


def phase_detect(city: Path, out: Path) -> dict:
    """``ringscope detect`` in this process (its own peak); its progress lines go to ``out``.log."""
    from ringscope.cli import main as cli

    log = out.with_suffix(".log")
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as f:
        old = os.dup(2)
        os.dup2(f.fileno(), 2)
        try:
            rc = cli(["detect", str(city), "--out", str(out), "--no-neo4j", "--no-gnn"])
        finally:
            os.dup2(old, 2)
    secs = time.perf_counter() - t0
    man = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return {"seconds": secs, "rc": rc, "stages": man.get("timings") or man.get("stage_timings"),
            "errors": man.get("errors"), "log": str(log)}


def _child(phase: str, a: argparse.Namespace) -> None:
    city = Path(a.city)
    res = phase_floor(city, a.memory_limit, a.threads) if phase == "floor" else phase_detect(city, Path(a.out))
    res["peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(res, default=str))


def _run(phase: str, extra: list[str]) -> dict:
    p = subprocess.run([sys.executable, __file__, "--phase", phase, *extra], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONWARNINGS="ignore"))
    line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
    if p.returncode or not line:
        raise RuntimeError(f"phase {phase} failed:\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
    return json.loads(line[-1][7:])


def _evaluate(out: Path, truth: Path) -> dict:
    p = subprocess.run([sys.executable, "-m", "ringscope.cli", "evaluate", str(out), "--truth", str(truth)],
                       capture_output=True, text=True)
    txt = p.stdout
    get = lambda pat: float(m.group(1)) if (m := re.search(pat, txt)) else float("nan")  # noqa: E731
    return {"ring_recall_at_3R": get(r"ring recall@3R: \*\*([0-9.]+)"),
            "lead_precision_at_3R": get(r"lead precision@3R: \*\*([0-9.]+)")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dataset", help="an existing city (skips generation)")
    ap.add_argument("--work", default="/tmp/city-bench")
    ap.add_argument("--memory-limit", default="4GB", help="the floor's DuckDB memory limit")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="append the figures as one JSON line here")
    ap.add_argument("--phase", choices=["floor", "detect"], help=argparse.SUPPRESS)
    ap.add_argument("--city", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.phase:
        _child(a.phase, a)
        return 0
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    city = Path(a.dataset) if a.dataset else work / f"city-{a.persons}-{a.seed}"
    if not a.dataset and not (city / "visits.parquet").exists():
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ringscope.cli", "generate", str(city), "--persons", str(a.persons),
                        "--seed", str(a.seed), "--format", "parquet", "--quiet"], check=True)
        print(f"# generated {city} in {time.perf_counter() - t0:.0f} s", flush=True)
    out = work / f"results-{city.name}"
    floor = _run("floor", ["--city", str(city), "--memory-limit", a.memory_limit, "--threads", str(a.threads)])
    det = _run("detect", ["--city", str(city), "--out", str(out)])
    q = _evaluate(out, city / "truth") if (city / "truth").is_dir() else {}
    rows = floor["groups"]
    print(f"\ncity {city}: " + ", ".join(f"{k} {v:,} groups" for k, v in rows.items() if k in FLOOR_KEYS))
    print("\n| phase | wall | peak RSS | x floor time | x floor memory |")
    print("|---|---:|---:|---:|---:|")
    for name, r in (("columnar floor (every file read once, one group-by per table)", floor),
                    ("`ringscope detect --no-neo4j --no-gnn`", det)):
        print(f"| {name} | {r['seconds'] / 60:.1f} min ({r['seconds']:.0f} s) | {r['peak_rss_mb'] / 1024:.2f} GiB | "
              f"{r['seconds'] / floor['seconds']:.1f} | {r['peak_rss_mb'] / floor['peak_rss_mb']:.1f} |")
    if q:
        print(f"\nquality: ring recall@3R {q['ring_recall_at_3R']:.3f}, lead precision@3R {q['lead_precision_at_3R']:.3f}")
    print(f"detector errors: {det['errors'] or 'none'}; detect's stage lines in {det['log']}")
    if a.json:
        with open(a.json, "a", encoding="utf-8") as f:
            f.write(json.dumps({"city": str(city), "floor": floor, "detect": det, "quality": q}, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
