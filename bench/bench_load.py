"""Load throughput: bulk import, the batched UNWIND loader and a naive per-row MERGE loader.

All three run in one process, on the same accepted rows, against the same local
Neo4j, so the ratios are measured like for like:

- **bulk** -- :func:`ringscope.store.bulk.bulk_ingest` into the empty graph:
  writing the import files, stopping the server, ``neo4j-admin database import
  full`` (its own JVM), starting the server again, the schema, the empty-list
  fix-up and the ``LoadState`` bookkeeping are all inside the timed span. The
  importer's own step (JVM start included) is also reported alone.
- **batched** -- :func:`ringscope.store.load.ingest_dataset` into the empty
  graph (schema already there), ``--batch-size`` rows per transaction.
- **naive** -- one auto-commit transaction per row, the same Cypher with a
  one-row ``$rows``; timed on a sample of each table (``--naive-rows`` per table)
  -- on the whole city it would take hours -- and its rows/s is what is compared.

After each load the graph's node and relationship counts are compared, so a
fast path that loads something else is caught.

    RINGSCOPE_NEO4J_HEAP=2g RINGSCOPE_NEO4J_PAGECACHE=2g \\
      .venv/bin/python bench/bench_load.py --persons 5000 --persons 50000

prints one markdown row per city size for bench/RESULTS.md, with the load
average (other processes share the machine's cores) before and after each run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RINGSCOPE_HOME", str(Path(__file__).resolve().parent.parent / ".state" / "bench"))
os.environ.setdefault("RINGSCOPE_BOLT_PORT", "7689")

from ringscope.store import server  # noqa: E402
from ringscope.store.bulk import bulk_ingest  # noqa: E402
from ringscope.store.db import QueryRunner, cypher  # noqa: E402
from ringscope.store.load import apply_schema, graph_counts, ingest_dataset, table_rows  # noqa: E402
from ringscope.ingest.contract import LOAD_ORDER  # noqa: E402
from ringscope.synth.generator import generate  # noqa: E402
from ringscope.ingest.reader import read_dataset  # noqa: E402

REL_COUNTS = "MATCH ()-[r]->() RETURN type(r) AS t, count(r) AS n"


def naive_rows_per_s(q: QueryRunner, ds, n_per_table: int) -> tuple[float, int]:
    """Per-row MERGE: one auto-commit transaction per row (the common first attempt)."""
    total, secs = 0, 0.0
    with q._driver.session(database=q.database) as s:
        for name in LOAD_ORDER:
            df = ds.tables.get(name)
            if df is None or not len(df):
                continue
            rows = table_rows(name, df.iloc[:n_per_table])
            text = cypher(f"load/{name}")
            t = time.perf_counter()
            for r in rows:
                s.run(text, rows=[r]).consume()
            secs += time.perf_counter() - t
            total += len(rows)
    return total / secs, total


def _shape(q: QueryRunner) -> tuple[dict, dict]:
    return graph_counts(q), {r["t"]: r["n"] for r in q.read(REL_COUNTS)}


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, action="append")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--naive-rows", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=20_000)
    ap.add_argument("--batched-runs", type=int, default=2,
                    help="batched loads in a row: the first on the cold server, the best of the rest warm")
    ap.add_argument("--json", help="also write every measurement here")
    a = ap.parse_args()
    sizes = a.persons or [5000]
    server.start(wait=True)
    print("| city (persons) | rows | bulk rows/s (end to end) | bulk: import step alone | "
          "batched rows/s (cold server) | batched rows/s (warm) | naive rows/s | bulk / naive | "
          "batched / naive (cold, warm) | bulk / batched (cold) | bulk stages (s) | load average |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            city = Path(tmp) / f"city{n}"
            generate(city, persons=n, seed=a.seed)
            ds = read_dataset(city)
            rows = sum(len(ds.tables[t]) for t in LOAD_ORDER if t in ds.tables)
            loads = [_load()]

            with QueryRunner() as q:
                server.reset_database(q)
            bulk = bulk_ingest(ds)
            with QueryRunner() as q:
                bulk_shape = _shape(q)
                loads.append(_load())
                runs = []
                for _ in range(max(a.batched_runs, 1)):   # the first on the just-restarted server (cold JIT)
                    server.reset_database(q)
                    apply_schema(q)
                    runs.append(ingest_dataset(ds, q, batch_size=a.batch_size))
                res, warm = runs[0], min(runs, key=lambda r: r["seconds"])
                batched_shape = _shape(q)
                loads.append(_load())
                if bulk_shape != batched_shape:
                    raise SystemExit(f"bulk and batched graphs differ:\n{bulk_shape}\n{batched_shape}")
                server.reset_database(q)
                apply_schema(q)
                naive, sampled = naive_rows_per_s(q, ds, a.naive_rows)
                loads.append(_load())
                server.reset_database(q)
            batched = rows / res["seconds"]
            batched_warm = rows / warm["seconds"]
            bulk_rate = rows / bulk["seconds"]
            import_rate = rows / bulk["stages"]["import"]
            stages = ", ".join(f"{k} {v:.1f}" for k, v in bulk["stages"].items())
            print(f"| {n:,} | {rows:,} | {bulk_rate:,.0f} ({bulk['seconds']:.1f} s) | {import_rate:,.0f} "
                  f"({bulk['stages']['import']:.1f} s) | {batched:,.0f} ({res['seconds']:.1f} s) | "
                  f"{batched_warm:,.0f} ({warm['seconds']:.1f} s) | "
                  f"{naive:,.0f} (on {sampled:,} rows) | {bulk_rate / naive:,.0f}x | {batched / naive:,.0f}x, "
                  f"{batched_warm / naive:,.0f}x | {bulk_rate / batched:,.1f}x | {stages} | {' → '.join(loads)} |",
                  flush=True)
            out.append({"persons": n, "rows": rows, "bulk": bulk, "batched": res, "batched_runs": runs,
                        "naive_rows_per_s": naive, "naive_rows": sampled, "load_average": loads,
                        "batch_size": a.batch_size})
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
