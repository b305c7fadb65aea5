"""Reliability of lead scores (issue 13): how often a lead of a given score is a real scheme,
pooled over every city the team can generate (bench/bench_quality.py's results), so that the
bar a lead must pass to be emitted is read from measured precision, not guessed.

    .venv/bin/python bench/bench_quality.py --no-gnn --work W          # the cities and their results
    .venv/bin/python bench/calibration.py --work W [--bins 0.3 0.4 0.5 0.6 0.7 0.8 0.9 1.0]
    .venv/bin/python bench/calibration.py --work W --write models/lead_calibration.yaml

``--write`` fits an isotonic regression of "the lead is correct" on the lead's raw score
(``score_parts.raw`` in lead_evidence.jsonl, the fusion score before calibration), pooled
over the cities, and writes its knots; fusion maps every lead's raw score through them, so a
lead's ``score`` reads as the share of such leads that were real schemes on the team's cities.

A lead counts as correct as ``evaluate`` judges it (it matches a true ring, or a lone actor of
its scheme is inside it). Prints a reliability table per score bin and per scheme (the text form
of a reliability diagram) and the precision of the list at each candidate bar, per city, for
bench/RESULTS.md. Not a test.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from ringscope.models.evaluate import read_members, ring_match_matrix


def judged_leads(results: Path, truth: Path, candidates: bool = True) -> pd.DataFrame:
    """Each lead with its score, scheme and whether it is correct; with ``candidates`` also the leads
    below the emission bar (``lead_candidates.csv``, ``emitted`` False): a fit on the emitted leads
    alone never sees the scores the bar cut off."""
    leads = pd.read_csv(results / "leads.csv", dtype=str, keep_default_na=False).assign(emitted=True)
    cand = results / "lead_candidates.csv"
    if candidates and cand.exists():
        c = pd.read_csv(cand, dtype=str, keep_default_na=False)
        if len(c):
            leads = pd.concat([leads, c.assign(emitted=False)], ignore_index=True)
    rings = pd.read_csv(truth / "rings.csv", dtype=str, keep_default_na=False)
    ents = pd.read_csv(truth / "entities.csv", dtype=str, keep_default_na=False)
    lsets = [read_members(m) for m in leads["members"]]
    rsets = [read_members(m) for m in rings["members"]]
    match = ring_match_matrix(lsets, rsets) if len(lsets) and len(rsets) else np.zeros((len(lsets), 0), bool)
    lone = ents[ents["ring_id"] == ""]
    lone_keys = {(s, f"{t}:{i}") for t, i, s in zip(lone["entity_type"], lone["entity_id"], lone["scheme"])}
    ok = [bool(match[k].any()) if match.shape[1] else False for k in range(len(lsets))]
    ok = [o or any((sch, m) in lone_keys for m in ls) for o, sch, ls in zip(ok, leads["scheme"], lsets)]
    raw = pd.to_numeric(leads["score"])
    ev = results / "lead_evidence.jsonl"
    if "score_raw" in leads.columns and (leads["score_raw"] != "").all():
        raw = pd.to_numeric(leads["score_raw"])
    elif ev.exists():
        import json

        by = {e["lead_id"]: e.get("score_parts", {}).get("raw") for e in map(json.loads, ev.read_text().splitlines())}
        raw = pd.Series([by.get(i) if by.get(i) is not None else s for i, s in zip(leads["lead_id"], raw)], dtype=float)
    return pd.DataFrame({"score": pd.to_numeric(leads["score"]), "raw": raw.to_numpy(), "scheme": leads["scheme"],
                         "n_members": [len(s) for s in lsets], "correct": ok, "emitted": leads["emitted"].to_numpy()})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", required=True, help="bench_quality's --work directory")
    ap.add_argument("--variant", default="no_GNN")
    ap.add_argument("--bins", type=float, nargs="+", default=[0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    ap.add_argument("--bars", type=float, nargs="+", default=[0.0, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7])
    ap.add_argument("--write", help="fit the isotonic calibration and write its knots (YAML) here")
    ap.add_argument("--also", nargs=2, action="append", default=[], metavar=("RESULTS", "TRUTH"),
                    help="another city's results and truth (a large city run outside bench_quality)")
    ap.add_argument("--emitted-only", action="store_true", help="leave the candidates out (the old fit)")
    ap.add_argument("--weigh", choices=["lead", "city"], default="lead",
                    help="each lead weighs the same (default), or each city weighs the same in the fit")
    a = ap.parse_args(argv)
    work = Path(a.work)
    rows = []
    for res in sorted((work / "results").glob(f"*-{a.variant}")):
        city = work / res.name[: -len(a.variant) - 1]
        if not (city / "truth" / "rings.csv").exists() or not (res / "leads.csv").exists():
            continue
        j = judged_leads(res, city / "truth", candidates=not a.emitted_only)
        rows.append(j.assign(city=city.name))
    for res_dir, truth_dir in a.also:
        j = judged_leads(Path(res_dir), Path(truth_dir), candidates=not a.emitted_only)
        rows.append(j.assign(city=Path(res_dir).name))
    if not rows:
        print("no results under", work)
        return 1
    d = pd.concat(rows, ignore_index=True)
    d["bin"] = pd.cut(d["score"], a.bins, include_lowest=True)
    rel = d.groupby("bin", observed=True).agg(leads=("correct", "size"), correct=("correct", "sum"),
                                              mean_score=("score", "mean"))
    rel["precision"] = rel["correct"] / rel["leads"]
    print(f"## Reliability of lead scores ({d['city'].nunique()} cities, {len(d)} leads)\n")
    print("| score bin | leads | correct | mean score | share correct |\n|---|---:|---:|---:|---:|")
    for b, r in rel.iterrows():
        print(f"| {b} | {r.leads} | {int(r.correct)} | {r.mean_score:.2f} | {r.precision:.2f} |")
    print("\n| scheme | leads | correct | share correct | mean score of wrong leads |\n|---|---:|---:|---:|---:|")
    for s, g in d.groupby("scheme"):
        wrong = g.loc[~g["correct"], "score"]
        print(f"| {s} | {len(g)} | {int(g['correct'].sum())} | {g['correct'].mean():.2f} | "
              f"{(wrong.mean() if len(wrong) else float('nan')):.2f} |")
    print("\n## Precision of the emitted list at each bar (per city; leads kept / correct)\n")
    print("| bar | " + " | ".join(sorted(d["city"].unique())) + " | pooled |")
    print("|---:|" + "---:|" * (d["city"].nunique() + 1))
    for bar in a.bars:
        cells = []
        for c in sorted(d["city"].unique()):
            g = d[(d["city"] == c) & (d["score"] >= bar)]
            cells.append(f"{g['correct'].mean():.2f} ({len(g)})" if len(g) else "–")
        g = d[d["score"] >= bar]
        print(f"| {bar:.2f} | " + " | ".join(cells) + f" | {g['correct'].mean():.2f} ({len(g)}) |")
    if a.write:
        import yaml
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
        w = (1.0 / d.groupby("city")["city"].transform("size")).to_numpy() if a.weigh == "city" else None
        iso.fit(d["raw"].to_numpy(float), d["correct"].astype(float).to_numpy(), sample_weight=w)
        knots = [[round(float(x), 4), round(float(y), 4)] for x, y in zip(iso.X_thresholds_, iso.y_thresholds_)]
        Path(a.write).write_text(
            "# Lead score calibration (issue 13): isotonic fit of 'the lead is a real scheme' on fusion's raw\n"
            f"# lead score, pooled over {d['city'].nunique()} cities ({len(d)} leads and candidates, "
            f"{int(d['emitted'].sum())} of them emitted; each {a.weigh} weighs the same):\n"
            f"# {', '.join(sorted(d['city'].unique()))}.\n"
            "# Refit: .venv/bin/python bench/calibration.py --work W --write models/lead_calibration.yaml\n"
            + yaml.safe_dump({"knots": knots}, default_flow_style=None), encoding="utf-8")
        print(f"\nwrote {len(knots)} knots to {a.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
