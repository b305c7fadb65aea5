"""Load throughput: the batched UNWIND loader against a naive per-row MERGE loader.

Both run in one process, on the same accepted rows, against the same local
Neo4j, so the ratio is measured like for like. The naive loader (one auto-commit
transaction per row, the same Cypher with ``UNWIND [$row]``) is timed on a
sample of each table (``--naive-rows`` per table) — on the whole city it would
take hours — and its rows/s is what is compared.

    RINGSCOPE_HOME=.state/bench RINGSCOPE_BOLT_PORT=7689 \\
      .venv/bin/python bench/bench_load.py --persons 5000 --persons 50000

prints one markdown row per city size for bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RINGSCOPE_HOME", str(Path(__file__).resolve().parent.parent / ".state" / "bench"))
os.environ.setdefault("RINGSCOPE_BOLT_PORT", "7689")

from ringscope.graph import server  # noqa: E402
from ringscope.graph.db import QueryRunner, cypher  # noqa: E402
from ringscope.graph.load import apply_schema, ingest_dataset, table_rows  # noqa: E402
from ringscope.ingest.contract import LOAD_ORDER  # noqa: E402
from ringscope.ingest.generator import generate  # noqa: E402
from ringscope.ingest.reader import read_dataset  # noqa: E402


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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, action="append")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--naive-rows", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=20_000)
    a = ap.parse_args()
    sizes = a.persons or [5000]
    server.start(wait=True)
    print("| city (persons) | rows loaded | batched rows/s | naive rows/s | ratio | batched seconds |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp, QueryRunner() as q:
        for n in sizes:
            city = Path(tmp) / f"city{n}"
            generate(city, persons=n, seed=a.seed)
            ds = read_dataset(city)
            server.reset_database(q)
            apply_schema(q)
            res = ingest_dataset(ds, q, batch_size=a.batch_size)
            rows = sum(res["tables"].values())
            server.reset_database(q)
            apply_schema(q)
            naive, sampled = naive_rows_per_s(q, ds, a.naive_rows)
            batched = rows / res["seconds"]
            print(f"| {n:,} | {rows:,} | {batched:,.0f} | {naive:,.0f} (on {sampled:,} rows) | "
                  f"{batched / naive:,.0f}x | {res['seconds']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
