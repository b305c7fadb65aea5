#!/usr/bin/env python3
"""metro: synthetic medical-insurance city (海州市, 2025) with injected fraud rings and truth.

usage: python metro.py OUT --persons N --seed S [--format csv|parquet]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metro.generate import run  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--persons", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--format", choices=["csv", "parquet"], default="csv")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    if a.persons < 1000:
        ap.error("--persons must be at least 1000")
    counts, secs = run(a.out, a.persons, a.seed, a.format, verbose=not a.quiet)
    for k, v in counts.items():
        print(f"{k:>18}: {v}")
    print(f"done in {secs:.1f} s -> {a.out}")


if __name__ == "__main__":
    main()
