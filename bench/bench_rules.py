"""Benchmark of the rule library: ``run_rules`` over a whole city vs. reading it.

    .venv/bin/python bench/bench_rules.py --visits 1000000 [--visits 100000] [--city DIR] [--json F]

For each size a city with about that many visits is generated once (cached
under ``--work``; the same layout as ``bench_detect.py``, so the two share
cities), or ``--city`` names an existing dataset. Then, in this one process:

- ``read``: :func:`ringscope.ingest.reader.read_dataset` -- the peer: the time
  merely to read (and validate) the same tables;
- ``rules``: :func:`ringscope.models.rules.run_rules` over the tables read,
  with the seconds per rule (the five slowest are printed).

Prints a markdown row ``| visits | lines | hits | read s | rules s | ratio |``
per size. Not a test; figures go in ``bench/RESULTS.md`` with the command.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ringscope.progress import peak_rss_mb

__all__ = ["main", "bench_city"]


def _count_rows(city: Path, table: str) -> int:
    p = city / f"{table}.csv"
    if p.exists():
        with open(p, "rb") as fh:
            return sum(1 for _ in fh) - 1
    import pyarrow.parquet as pq

    return pq.ParquetFile(city / f"{table}.parquet").metadata.num_rows


def ensure_city(work: Path, visits: int, seed: int) -> Path:
    """A generated city with about ``visits`` visits (persons estimated from a pilot)."""
    from ringscope.synth.generator import generate

    work.mkdir(parents=True, exist_ok=True)
    pilot = work / "pilot-2000"
    if not any((pilot / f"visits.{x}").exists() for x in ("csv", "parquet")):
        generate(pilot, persons=2000, seed=seed)
    per_person = _count_rows(pilot, "visits") / 2000
    persons = max(1000, int(round(visits / per_person)))
    city = work / f"city-{visits}"
    if not any((city / f"visits.{x}").exists() for x in ("csv", "parquet")):
        t0 = time.perf_counter()
        generate(city, persons=persons, seed=seed)
        print(f"# generated {city} ({persons} persons) in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    return city


def bench_city(city: Path) -> dict:
    """Time reading ``city`` and running every rule over it."""
    from ringscope.ingest.reader import read_dataset
    from ringscope.models.base import Context
    from ringscope.models.rules import run_rules

    t0 = time.perf_counter()
    ds = read_dataset(city)
    t_read = time.perf_counter() - t0
    ctx = Context(tables=ds.tables)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    hits = run_rules(ctx, timings=timings)
    t_rules = time.perf_counter() - t0
    return {
        "city": str(city),
        "visits": int(len(ds.tables["visits"])),
        "lines": int(len(ds.tables["claim_lines"])),
        "hits": int(len(hits)),
        "read_s": round(t_read, 2),
        "rules_s": round(t_rules, 2),
        "ratio": round(t_rules / t_read, 2) if t_read > 0 else None,
        "slowest_rules": dict(sorted(timings.items(), key=lambda kv: -kv[1])[:5]),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--visits", type=int, action="append", help="target visits (repeatable); default 1000000")
    ap.add_argument("--city", help="an existing dataset directory instead of generating one")
    ap.add_argument("--work", default="/tmp/ringscope-bench-detect")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--json", help="write raw figures here")
    a = ap.parse_args(argv)
    cities = [Path(a.city)] if a.city else [ensure_city(Path(a.work), v, a.seed) for v in (a.visits or [1_000_000])]
    rows = []
    print("| visits | claim lines | rule hits | read_dataset s | run_rules s | rules / read | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for c in cities:
        r = bench_city(c)
        rows.append(r)
        print(f"| {r['visits']:,} | {r['lines']:,} | {r['hits']:,} | {r['read_s']} | {r['rules_s']} | "
              f"{r['ratio']} | {r['peak_rss_mb']} |", flush=True)
        slow = ", ".join(f"{k} {v:.1f}s" for k, v in r["slowest_rules"].items())
        print(f"<!-- slowest rules: {slow} -->")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
