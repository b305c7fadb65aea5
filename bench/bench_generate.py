"""The synthetic city at city scale: time, peak memory and disk of ``ringscope generate``.

Each size runs in a fresh process (``ringscope generate OUT --persons N --format
parquet --quiet``), timed by wall clock and CPU, its peak RSS read from the
kernel's accounting of that child (``wait4``), its disk from the files written.
The ratios are what to read (the machine is shared, absolute seconds vary):

- **memory bounded**: peak RSS at N against the peak at the smallest sharded
  size (the city is generated shard by shard, ``generation.shard_persons``
  persons at a time, so this should stay near 1 as N grows);
- **linear time**: seconds per million rows written, against the smallest size;
- **peer** (``--peer``): the original in-memory generator (``synth/legacy.yaml``,
  the whole city at once, ~4 settlements per person-year) at the same size, in
  the same run -- its memory grows with the city.

    .venv/bin/python bench/bench_generate.py --persons 100000 --persons 1000000 --persons 4000000
    .venv/bin/python bench/bench_generate.py --persons 1000000 --config traces.yaml --label "with traces"
    .venv/bin/python bench/bench_generate.py --persons 100000 --persons 1000000 --persons 4000000 --peer

prints one JSON line per run and a markdown table for bench/RESULTS.md.
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

HERE = Path(__file__).resolve().parent
LEGACY = HERE.parent / "synth" / "legacy.yaml"


def _du(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in sorted(path.iterdir()):
        if p.name.startswith("."):
            continue
        size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size
        out[p.name.split(".")[0]] = size
    return out


def run(persons: int, work: Path, fmt: str = "parquet", config: list[str] | None = None, seed: int = 7,
        keep: bool = False, label: str = "sharded") -> dict:
    """One ``ringscope generate`` in a fresh process; its time, peak RSS, disk and rows."""
    out = work / f"{label}-{persons}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "ringscope.cli", "generate", str(out), "--persons", str(persons),
           "--seed", str(seed), "--format", fmt, "--quiet"]
    for c in config or []:
        cmd += ["--config", c]
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"generate failed ({status}): {stderr[-2000:]}")
    summary = json.loads(stdout)
    disk = _du(out)
    rows = summary["tables"]
    row = {
        "label": label, "persons": persons, "format": fmt, "shards": summary["shards"],
        "visits": rows.get("visits", 0), "claim_lines": rows.get("claim_lines", 0),
        "face_captures": rows.get("face_captures", 0), "drug_traces": rows.get("drug_traces", 0),
        "rows": sum(rows.values()),
        "wall_s": round(wall, 1), "cpu_s": round(ru.ru_utime + ru.ru_stime, 1),
        "peak_rss_gb": round(ru.ru_maxrss / 1024 ** 2, 2),
        "disk_gb": round(sum(disk.values()) / 1024 ** 3, 2),
        "disk_by_table_mb": {k: round(v / 1024 ** 2, 1) for k, v in disk.items() if k != "truth"},
        "load_before": round(load0, 1), "load_after": round(os.getloadavg()[0], 1),
    }
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, action="append", help="city sizes (default 100,000 and 1,000,000)")
    ap.add_argument("--format", default="parquet", choices=["parquet", "csv"])
    ap.add_argument("--work", default=str(HERE.parent / ".state" / "bench-generate"))
    ap.add_argument("--peer", action="store_true", help="also the original in-memory generator at each size")
    ap.add_argument("--peer-max", type=int, default=1_000_000,
                    help="sizes above this get no peer run (the in-memory generator needs ~11 KB per person)")
    ap.add_argument("--config", action="append", help="generator configuration files (merged in order)")
    ap.add_argument("--label", default="sharded", help="the row's label")
    ap.add_argument("--keep", action="store_true", help="keep the generated cities")
    ap.add_argument("--json", help="append the rows to this JSONL file")
    a = ap.parse_args(argv)
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in a.persons or [100_000, 1_000_000]:
        runs = [(a.label, a.config)] + ([("legacy in-memory", [str(LEGACY)])] if a.peer and n <= a.peer_max else [])
        for label, cfg in runs:
            r = run(n, work, a.format, cfg, keep=a.keep, label=label.split()[0])
            r["label"] = label
            rows.append(r)
            print(json.dumps(r, ensure_ascii=False), flush=True)
            if a.json:
                with open(a.json, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    base = next((r for r in rows if r["label"] == a.label), None)
    print("\n| generator | persons | shards | visits | claim lines | captures | trace rows | wall | CPU | "
          "peak RSS | RSS / first | s per M rows / first | RSS / peer | s per M rows / peer | disk |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    spm = lambda r: r["wall_s"] / max(r["rows"], 1) * 1e6  # noqa: E731
    for r in rows:
        ref = base if r["label"] == a.label else next((x for x in rows if x["label"] == r["label"]), r)
        peer = next((x for x in rows if x["label"] != r["label"] and x["persons"] == r["persons"]), None)
        vs = (f"{r['peak_rss_gb'] / peer['peak_rss_gb']:.2f} | {spm(r) / spm(peer):.2f}"
              if peer is not None and r["label"] == a.label else "– | –")
        print(f"| {r['label']} | {r['persons']:,} | {r['shards']} | {r['visits']:,} | {r['claim_lines']:,} | "
              f"{r['face_captures']:,} | {r['drug_traces']:,} | {r['wall_s']:.0f} s | {r['cpu_s']:.0f} s | "
              f"{r['peak_rss_gb']:.1f} GB | {r['peak_rss_gb'] / ref['peak_rss_gb']:.2f} | {spm(r) / spm(ref):.2f} | "
              f"{vs} | {r['disk_gb']:.2f} GB |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
