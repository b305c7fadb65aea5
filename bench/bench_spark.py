"""Spark against the single-machine engine: the same ``ringscope detect`` on the same city.

    .venv/bin/python bench/bench_spark.py --persons 100000 --workers 1,2
    .venv/bin/python bench/bench_spark.py --persons 1000000 --workers 1,2,4   # a province's machine
    .venv/bin/python bench/bench_spark.py --dataset CITY --persons 1000000 --workers "" \
        --driver-memory 5g --conf spark.driver.maxResultSize=0 --json OUT.json   # an existing city

Each configuration is a fresh ``ringscope detect --no-neo4j --no-gnn`` process (its own Spark
JVM where it uses Spark), measured from outside: wall time, and the peak of the resident memory
of the whole process tree (the Python driver and its JVM children summed, sampled every 0.2 s
with psutil). Configurations:

- ``duckdb``             the single-machine engine (DuckDB with the machine's threads);
- ``spark local[2]``     Spark in one JVM with 2 task threads; its graph step on Spark
  (``graph/spark_graph.py``: components, communities, the candidate subgraphs) is timed apart
  (the manifest's ``spark_graph`` stage) with the nodes/edges Spark saw and handed on;
- ``spark local-cluster[N,1,1024]`` for each N of ``--workers``: a master and N worker
  processes of one core and 1 GiB each on this machine (Spark's multi-process local cluster):
  how time changes with workers.

Throughput per core: settlements + claim lines of the city per second of wall time, divided by
the cores the engine was given (``duckdb``: the machine's; ``local[2]``: 2; a local cluster:
N). Ratios are against ``duckdb`` measured in the same run (COST, McSherry et al. 2015: a
scalable system should be compared with a competent single thread). Results go to
``bench/results/bench_spark.json`` and a Markdown table on stdout for ``bench/RESULTS.md``.
The city is generated once into ``.state/bench/spark-city-<persons>-<seed>`` (Parquet).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ensure_city(persons: int, seed: int) -> Path:
    city = ROOT / ".state" / "bench" / f"spark-city-{persons}-{seed}"
    if not (city / "visits.parquet").exists():
        subprocess.run([sys.executable, "-m", "ringscope.cli", "generate", str(city), "--persons", str(persons),
                        "--seed", str(seed), "--format", "parquet", "--quiet"], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
    return city


def _rows(city: Path) -> int:
    import pyarrow.dataset as pads

    return sum(pads.dataset(str(city / f"{t}.parquet")).count_rows() for t in ("visits", "claim_lines"))


def run(city: Path, out: Path, extra: list[str]) -> dict:
    """One detect process; wall seconds, peak RSS of its process tree (MB), its manifest."""
    import psutil

    cmd = [sys.executable, "-m", "ringscope.cli", "detect", str(city), "--out", str(out), "--no-neo4j",
           "--no-gnn", *extra]
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    log = open(out.parent / f"{out.name}.stderr.log", "w")     # the run's progress, readable while it runs
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log, text=True)
    peak = [0.0]

    def sample() -> None:
        proc = psutil.Process(p.pid)
        while p.poll() is None:
            try:
                rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
                peak[0] = max(peak[0], rss / 2**20)
            except psutil.Error:
                pass
            time.sleep(0.2)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    p.wait()
    wall = time.perf_counter() - t0
    th.join()
    log.close()
    err = Path(log.name).read_text(errors="replace")
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err[-3000:]}")
    m = json.loads((out / "manifest.json").read_text())
    return {"wall_s": round(wall, 1), "peak_tree_mb": round(peak[0]), "manifest": m}


def _graph_cell(r: dict) -> str:
    if not r["spark_graph_s"]:
        return "–"
    (n, e), (hn, he) = r["graph_seen"], r["graph_handed_on"]
    return f"{r['spark_graph_s']:.1f} ({n:,}/{e:,} -> {hn:,}/{he:,})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--persons", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workers", default="1,2", help="local-cluster sizes, e.g. 1,2,4 ('' for none)")
    ap.add_argument("--no-local", action="store_true", help="skip spark local[2]")
    ap.add_argument("--shuffle-partitions", type=int, default=8)
    ap.add_argument("--dataset", help="an existing Parquet city instead of generating one (--persons is then a label)")
    ap.add_argument("--driver-memory", default="2g", help="spark.driver.memory of the Spark runs")
    ap.add_argument("--conf", action="append", default=[], help="another Spark setting for the Spark runs, k=v")
    ap.add_argument("--no-duckdb", action="store_true", help="skip the single-machine run (ratios then absent)")
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "bench_spark.json"), help="results file")
    args = ap.parse_args()

    city = Path(args.dataset) if args.dataset else ensure_city(args.persons, args.seed)
    rows = _rows(city)
    cores = os.cpu_count() or 1
    work = ROOT / ".state" / "bench" / f"spark-runs-{city.name}"     # one per city: no resume across cities
    conf = ["--conf", f"spark.sql.shuffle.partitions={args.shuffle_partitions}",
            "--conf", f"spark.driver.memory={args.driver_memory}"]
    for kv in args.conf:
        conf += ["--conf", kv]
    configs: list[tuple[str, list[str], int]] = [] if args.no_duckdb else [("duckdb", [], cores)]
    if not args.no_local:
        configs.append(("spark local[2]", ["--engine", "spark", "--master", "local[2]", *conf], 2))
    for n in [int(x) for x in args.workers.split(",") if x.strip()]:
        configs.append((f"spark local-cluster[{n},1,1024]",
                        ["--engine", "spark", "--master", f"local-cluster[{n},1,1024]", *conf], n))
    results = []
    for name, extra, ncores in configs:
        r = run(city, work / name.replace(" ", "_").replace("[", "").replace("]", "").replace(",", "-"), extra)
        m = r.pop("manifest")
        t = m["timings"]
        results.append({"config": name, "cores": ncores, **r,
                        "engine_stages_s": round(sum(t.get(k, 0.0) for k in ("rules", "graph", "fusion", "faces")), 1),
                        "spark_start_s": t.get("spark", 0.0), "leads": m["counts"]["leads"],
                        "spark_graph_s": t.get("spark_graph", 0.0),
                        "graph_seen": [m.get("engine", {}).get("graph", {}).get(k) for k in ("nodes", "edges")],
                        "graph_handed_on": [m.get("engine", {}).get("graph", {}).get(k)
                                            for k in ("handed_on_nodes", "handed_on_edges")],
                        "rule_hits": m["counts"]["rule_hits"],
                        "rows_per_s_per_core": round(rows / r["wall_s"] / ncores),
                        "ran_on_duckdb": m.get("engine", {}).get("ran_on_duckdb", {}),
                        "timings": {k: round(v, 1) for k, v in t.items() if isinstance(v, (int, float))}})
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
        out = {"persons": args.persons, "seed": args.seed, "dataset": str(city), "rows": rows,
               "machine_cores": cores, "results": results}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2))     # after every run: a later failure keeps it
    base = results[0]
    print(f"city: {args.persons:,} persons, {rows:,} settlements + claim lines; machine: {cores} cores\n")
    print("| engine | cores | end-to-end s | vs duckdb | peak memory (tree) MB | Spark start s | "
          "rules+graph+fusion s | graph step on Spark s (nodes/edges seen -> handed on) | rows/s/core | leads | "
          "rule hits |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        ratio = f"{r['wall_s'] / base['wall_s']:.2f}x" if base["config"] == "duckdb" else "–"   # --no-duckdb
        print(f"| {r['config']} | {r['cores']} | {r['wall_s']} | {ratio} | "
              f"{r['peak_tree_mb']} | {r['spark_start_s']:.1f} | {r['engine_stages_s']} | "
              f"{_graph_cell(r)} | "
              f"{r['rows_per_s_per_core']:,} | {r['leads']} | {r['rule_hits']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
