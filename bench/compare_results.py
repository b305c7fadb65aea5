"""Compare two results directories of ``ringscope detect`` (before / after a change).

    .venv/bin/python bench/compare_results.py BEFORE AFTER [--tol 1e-9]
    .venv/bin/python bench/compare_results.py --runs BEFORE_ROOT AFTER_ROOT   # every sub-directory

Reports, per directory: leads (same scheme and members, score difference),
entity scores (same entities, largest score difference), rule hits (same hit ids,
largest amount difference). Exit status 0 when everything is equal within the
tolerance, 1 otherwise. Used to show that a refactoring left results unchanged.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def _read(p: Path) -> pd.DataFrame:
    if not p.exists():
        return pd.DataFrame()
    try:
        return pd.read_csv(p, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _num(s: pd.Series) -> np.ndarray:
    return pd.to_numeric(s, errors="coerce").fillna(0.0).to_numpy(dtype=float)


def compare(a: Path, b: Path, tol: float = 1e-9) -> tuple[bool, list[str]]:
    """Whether results ``a`` and ``b`` agree, and the lines that say how."""
    ok, lines = True, []
    la, lb = _read(a / "leads.csv"), _read(b / "leads.csv")
    if len(la) or len(lb):
        ka = dict(zip(la["scheme"] + "|" + la["members"], _num(la["score"]))) if len(la) else {}
        kb = dict(zip(lb["scheme"] + "|" + lb["members"], _num(lb["score"]))) if len(lb) else {}
        only_a, only_b = set(ka) - set(kb), set(kb) - set(ka)
        common = set(ka) & set(kb)
        dmax = max((abs(ka[k] - kb[k]) for k in common), default=0.0)
        same = not only_a and not only_b and dmax <= tol
        ok &= same
        lines.append(f"leads: {len(ka)} vs {len(kb)}; only before {len(only_a)}, only after {len(only_b)}; "
                     f"max score diff {dmax:.3g}" + ("" if same else "  <-- DIFFERENT"))
        for k in sorted(only_a)[:5]:
            lines.append(f"   - before only: {k[:140]} ({ka[k]:.4f})")
        for k in sorted(only_b)[:5]:
            lines.append(f"   + after only:  {k[:140]} ({kb[k]:.4f})")
    ea, eb = _read(a / "entity_scores.csv"), _read(b / "entity_scores.csv")
    if len(ea) or len(eb):
        sa = pd.Series(_num(ea["score"]), index=ea["entity_type"] + ":" + ea["entity_id"]) if len(ea) else pd.Series(dtype=float)
        sb = pd.Series(_num(eb["score"]), index=eb["entity_type"] + ":" + eb["entity_id"]) if len(eb) else pd.Series(dtype=float)
        idx = sa.index.union(sb.index)
        d = (sa.reindex(idx).fillna(0.0) - sb.reindex(idx).fillna(0.0)).abs()
        dmax = float(d.max()) if len(d) else 0.0
        same = dmax <= tol
        ok &= same
        lines.append(f"entity scores: {len(sa)} vs {len(sb)}; max diff {dmax:.3g} ({int((d > tol).sum())} differ)"
                     + ("" if same else "  <-- DIFFERENT"))
    ha, hb = _read(a / "rule_hits.csv"), _read(b / "rule_hits.csv")
    if len(ha) or len(hb):
        ia = set(ha["hit_id"]) if len(ha) else set()
        ib = set(hb["hit_id"]) if len(hb) else set()
        same = ia == ib
        ok &= same
        lines.append(f"rule hits: {len(ia)} vs {len(ib)}; only before {len(ia - ib)}, only after {len(ib - ia)}"
                     + ("" if same else "  <-- DIFFERENT"))
    return ok, lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--runs", action="store_true", help="compare every sub-directory present in both")
    ap.add_argument("--tol", type=float, default=1e-9)
    a = ap.parse_args(argv)
    before, after = Path(a.before), Path(a.after)
    pairs = ([(before / d.name, after / d.name) for d in sorted(before.iterdir())
              if d.is_dir() and (after / d.name).is_dir()] if a.runs else [(before, after)])
    all_ok = True
    for x, y in pairs:
        ok, lines = compare(x, y, a.tol)
        all_ok &= ok
        print(f"{'SAME' if ok else 'DIFF'}  {x.name}")
        for ln in lines:
            print("   " + ln)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
