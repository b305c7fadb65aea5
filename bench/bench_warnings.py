"""Early warning (动态预警) on the team's cities with drift planted: recall of the drifting
entities and precision of the warned ones (``truth/drift.csv``, ``ringscope evaluate``'s drift
metrics).

    .venv/bin/python bench/bench_warnings.py                      # default, alt, county, province; 3 seeds
    .venv/bin/python bench/bench_warnings.py --config county --seeds 1 --full
    .venv/bin/python bench/bench_warnings.py --generated 20000 --generated 50000 --seeds 3   # the generator's own drift

``--generated N``: a city of N persons from ``ringscope generate`` (seed = each seed), whose own
``truth/drift.csv`` (``synth/drift.py``: profiles, seasonal and screening-day confounders, ring
institutions that drift too) is the truth -- nothing planted by ``bench/drift.py``.

Each city (``bench/bench_quality.py``'s, generated once and cached under ``--work``) is copied
with drift planted by ``bench/drift.py`` (``--institutions`` and ``--physicians`` per seed,
never fraud entities), then the ``early_warning`` detector runs on it alone (``--full``: the
whole ``detect``, which also writes ``warnings.csv`` and reports what the warnings change in
the rest) and its warnings are scored with :func:`ringscope.models.evaluate.drift_metrics`.
The project's own generator will plant drift itself (``synth/``, another developer); until then
this is the measurement. Not a test: figures go in ``bench/RESULTS.md``.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
TEAM = ["default", "alt", "county", "province"]


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def warn_only(city: Path, config=None) -> pd.DataFrame:
    """The early_warning detector alone on ``city``: its warnings."""
    from ringscope.ingest.reader import read_dataset
    from ringscope.models.base import Context
    from ringscope.models.config import load_config

    ds = read_dataset(city, encode_images=False)
    det = load_config(config).make("early_warning")
    det.fit(Context(tables=dict(ds.tables)))
    return det.warnings_


def run(name: str, work: Path, seed: int, *, institutions: int, physicians: int, strength: float, full: bool,
        config=None) -> dict:
    from ringscope.models.evaluate import _physician_institution, drift_metrics

    bq, drift = _module("bench_quality"), _module("drift")
    base = bq.ensure_city(work, name)
    city = work / "drift" / f"{base.name}-d{seed}"
    if not (city / "truth" / "drift.csv").exists():
        drift.inject_drift(base, city, institutions=institutions, physicians=physicians, seed=seed, strength=strength)
    t0 = time.perf_counter()
    if full:
        from ringscope.models.evaluate import evaluate
        from ringscope.pipeline import detect

        out = work / "results" / f"{city.name}-warn"
        detect(city, out, neo4j=False, gnn=False, config=config)
        rep = evaluate(out, city / "truth")["drift"]
    else:
        w = warn_only(city, config)
        truth = city / "truth"
        rep = drift_metrics(w, pd.read_csv(truth / "drift.csv", dtype=str, keep_default_na=False),
                            pd.read_csv(truth / "entities.csv", dtype=str, keep_default_na=False),
                            _physician_institution(city))
    secs = time.perf_counter() - t0
    a, ro = rep["levels"]["all"], rep["levels"]["red+orange"]
    return {"city": base.name, "seed": seed, "seconds": round(secs, 1), "drifting": a["drifting"],
            "recall": a["recall"], "precision": a["precision"], "flagged": a["flagged"],
            "precision_fraud_excused": a["precision_fraud_excused"], "indicator_recall": a["indicator_recall"],
            "recall_red_orange": ro["recall"], "precision_red_orange": ro["precision"],
            "missed": a["missed"], "wrong": a["wrong"]}


def run_generated(persons: int, work: Path, seed: int, *, full: bool, config=None) -> dict:
    """A city from the project's generator (its own drift and truth), scored like :func:`run`."""
    from ringscope.models.evaluate import _physician_institution, drift_metrics
    from ringscope.synth.generator import generate

    city = work / "generated" / f"p{persons}-s{seed}"
    if not (city / "truth" / "drift.csv").exists():
        generate(city, persons=persons, seed=seed, fmt="parquet")
    t0 = time.perf_counter()
    if full:
        from ringscope.models.evaluate import evaluate
        from ringscope.pipeline import detect

        out = work / "results" / f"{city.name}-warn"
        detect(city, out, neo4j=False, gnn=False, config=config)
        rep = evaluate(out, city / "truth")["drift"]
    else:
        truth = city / "truth"
        rep = drift_metrics(warn_only(city, config), pd.read_csv(truth / "drift.csv", dtype=str, keep_default_na=False),
                            pd.read_csv(truth / "entities.csv", dtype=str, keep_default_na=False),
                            _physician_institution(city))
    secs = time.perf_counter() - t0
    a, ro = rep["levels"]["all"], rep["levels"]["red+orange"]
    return {"city": f"generated-{persons}", "seed": seed, "seconds": round(secs, 1), "drifting": a["drifting"],
            "recall": a["recall"], "precision": a["precision"], "flagged": a["flagged"],
            "precision_fraud_excused": a["precision_fraud_excused"], "indicator_recall": a["indicator_recall"],
            "recall_red_orange": ro["recall"], "precision_red_orange": ro["precision"],
            "missed": a["missed"], "wrong": a["wrong"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", action="append", help=f"cities (default: {', '.join(TEAM)})")
    ap.add_argument("--work", default=str(HERE.parent / ".state" / "quality"))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--institutions", type=int, default=4)
    ap.add_argument("--physicians", type=int, default=4)
    ap.add_argument("--strength", type=float, default=1.0)
    ap.add_argument("--generated", type=int, action="append",
                    help="persons of a city from `ringscope generate` (its own drift truth); repeatable")
    ap.add_argument("--full", action="store_true", help="the whole detect, not the detector alone")
    ap.add_argument("--detect-config", help="a configuration file for detect (merged over the defaults)")
    a = ap.parse_args(argv)
    rows = []
    for persons in a.generated or []:
        for seed in range(1, a.seeds + 1):
            r = run_generated(persons, Path(a.work), seed, full=a.full, config=a.detect_config)
            rows.append(r)
            print(json.dumps(r, ensure_ascii=False), flush=True)
    for name in a.config or ([] if a.generated else TEAM):
        for seed in range(1, a.seeds + 1):
            r = run(name, Path(a.work), seed, institutions=a.institutions, physicians=a.physicians,
                    strength=a.strength, full=a.full, config=a.detect_config)
            rows.append(r)
            print(json.dumps(r, ensure_ascii=False), flush=True)
    f = lambda x: "–" if x is None else f"{x:.3f}"  # noqa: E731
    print("\n| city | seed | drifting | flagged | recall | precision | precision (fraud excused) | "
          "indicator recall | recall / precision red+orange |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['city']} | {r['seed']} | {r['drifting']} | {r['flagged']} | {f(r['recall'])} | "
              f"{f(r['precision'])} | {f(r['precision_fraud_excused'])} | {f(r['indicator_recall'])} | "
              f"{f(r['recall_red_orange'])} / {f(r['precision_red_orange'])} |")
    tot = pd.DataFrame(rows)
    found = (tot["recall"] * tot["drifting"]).sum()
    print(f"\npooled: recall {found / tot['drifting'].sum():.3f}, precision {found / tot['flagged'].sum():.3f} "
          f"({int(found)} of {int(tot['drifting'].sum())} drifting entities found, {int(tot['flagged'].sum())} flagged)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
