"""The heterogeneous GNN's convolutions (and the peers) on a generated city, without Neo4j.

    .venv/bin/python bench/bench_gnn_city.py --persons 3000 --city-seed 7 --seeds 3 \
        --models gnn-sage,gnn-rgcn,gnn-gat,gnn-hgt,xgb,gae [--labels default|rich] [--no-rules]

The script generates a city with :func:`ringscope.synth.generator.generate`
(cached under ``--work``), reads it with
:func:`ringscope.ingest.reader.read_dataset` (no face encoding), runs the rule
library (:func:`ringscope.models.rules.registry.run_rules`) so the rule-hit
features exist as in ``ringscope detect``, builds the features and the
``HeteroData`` once (``models.features``), and trains each model for each
seed on the ``known_cases`` labels exactly as ``LearnedDetector.fit`` does
(same label handling: positive-unlabelled when fewer than 100 cases are
known). Evaluation: the truth entities (``truth/entities.csv``) against all
other entities of the type, known cases excluded; ROC-AUC and average
precision per entity type and overall (all types pooled).

``--labels rich`` generates the city with more closed cases (60 % of rings,
50 % of lone actors, 1,000 cleared per 100k persons) -- the setting where a
supervised model has something to learn from; ``default`` keeps the
generator's scarce labels.

One JSON line per model and seed on stdout (``model, seed, train_seconds,
load_avg, auc, ap, auc_<type>, ap_<type>``) and a markdown summary (mean +-
std over seeds) on stderr. Not a test: figures go in ``bench/RESULTS.md``
with the command.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["main", "load_city", "evaluate"]

RICH_LABELS = {"known_cases": {"fraud_ring_share": 0.6, "fraud_lone_share": 0.5, "cleared_per_100k": 1000}}


def load_city(work: Path, persons: int, seed: int, labels: str, rules: bool):
    """(Context, truth entities) of a generated city, generated once under ``work``."""
    from ringscope.synth.generator import generate
    from ringscope.ingest.reader import read_dataset
    from ringscope.models.base import Context

    city = work / f"city-{persons}-{seed}-{labels}"
    if not (city / "truth" / "entities.csv").exists():
        t0 = time.perf_counter()
        generate(city, persons=persons, seed=seed, config=RICH_LABELS if labels == "rich" else None)
        print(f"# generated {city} in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    ds = read_dataset(city, encode_images=False)
    ctx = Context(tables=dict(ds.tables))
    if rules:
        from ringscope.models.rules.registry import run_rules

        t0 = time.perf_counter()
        ctx.rule_hits = run_rules(ctx)
        print(f"# rules: {len(ctx.rule_hits)} hits in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    truth = pd.read_csv(city / "truth" / "entities.csv", dtype=str)
    return ctx, truth


def evaluate(data, scores: dict[str, np.ndarray], truth: pd.DataFrame, known: pd.DataFrame) -> dict[str, float]:
    """AUC / AP per type and pooled, truth vs the rest, known cases excluded."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    pos = set(zip(truth["entity_type"], truth["entity_id"].astype(str)))
    seen = set(zip(known["entity_type"], known["entity_id"].astype(str)))
    out: dict[str, float] = {}
    ys, ps = [], []
    for t in data.node_types:
        keys = [(t, str(e)) for e in data[t].entity_id]
        keep = np.array([k not in seen for k in keys])
        y = np.array([k in pos for k in keys], dtype=float)[keep]
        p = np.asarray(scores[t], float)[keep]
        ys.append(y), ps.append(p)
        if 0 < y.sum() < len(y):
            out[f"auc_{t}"] = round(float(roc_auc_score(y, p)), 4)
            out[f"ap_{t}"] = round(float(average_precision_score(y, p)), 4)
        out[f"n_pos_{t}"] = int(y.sum())
    y, p = np.concatenate(ys), np.concatenate(ps)
    # pooled: scores of different types on one scale (the shared head / one booster make them comparable)
    out["auc"] = round(float(roc_auc_score(y, p)), 4)
    out["ap"] = round(float(average_precision_score(y, p)), 4)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=3000)
    ap.add_argument("--city-seed", type=int, default=7)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--models", default="gnn-sage,gnn-rgcn,gnn-gat,gnn-hgt",
                    help="comma-separated benchmark model specs (models.benchmarks.make_model), e.g. gnn-gat,xgb,gae")
    ap.add_argument("--labels", choices=["default", "rich"], default="default")
    ap.add_argument("--no-rules", action="store_true", help="skip the rule library (no rule-hit features)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/ringscope-bench-gnn-city"))
    a = ap.parse_args(argv)

    import torch

    from ringscope.models.benchmarks import make_model
    from ringscope.models.learned.features import build_features, labels_from_cases, to_hetero_data
    from ringscope.models.learned.persist import labels_to_dict

    ctx, truth = load_city(a.work, a.persons, a.city_seed, a.labels, not a.no_rules)
    feats = build_features(ctx)
    data = to_hetero_data(ctx, feats)
    labels = labels_from_cases(ctx)
    y_dict = labels_to_dict(data, labels)
    known = ctx.table("known_cases")
    info = {t: {"nodes": data[t].num_nodes, "features": int(data[t].x.shape[1]),
                "fraud": int(np.nansum(y_dict[t] == 1)), "cleared": int(np.nansum(y_dict[t] == 0)),
                "truth": int((truth["entity_type"] == t).sum())} for t in data.node_types}
    print(f"# city {a.persons} persons, seed {a.city_seed}, labels {a.labels}: {json.dumps(info)}; "
          f"edges {sum(data[e].edge_index.shape[1] for e in data.edge_types)}", file=sys.stderr)
    rows = []
    for spec in [m.strip() for m in a.models.split(",") if m.strip()]:
        # the benchmark factory sets unlabeled_weight=0 (fully labelled benchmarks); here the
        # detectors keep their own default (positive-unlabelled with scarce cases), as in detect
        for s in range(a.seeds):
            det = make_model(spec, s)
            if "unlabeled_weight" in det.get_params():
                det.set_params(unlabeled_weight=None)
            torch.set_num_threads(max(1, int(os.environ.get("RINGSCOPE_TORCH_THREADS", "1"))))
            t0 = time.perf_counter()
            det.fit_data(data, y_dict)
            secs = time.perf_counter() - t0
            m = evaluate(data, det.predict_data(data), truth, known)
            row = {"model": spec, "seed": s, "train_seconds": round(secs, 2),
                   "load_avg": round(os.getloadavg()[0], 2), **m,
                   **{k: v for k, v in getattr(det, "metrics_", {}).items() if k in ("epochs", "best_epoch")}}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if not rows:
        return 0
    df = pd.DataFrame(rows)
    cols = ["auc", "ap"] + [f"{k}_{t}" for t in data.node_types for k in ("auc", "ap") if f"{k}_{t}" in df]
    print(f"\n| model | {' | '.join(cols)} | train s | load |", file=sys.stderr)
    print("|---" * (len(cols) + 3) + "|", file=sys.stderr)
    for spec, g in df.groupby("model", sort=False):
        cells = [f"{g[c].mean():.3f} ± {g[c].std(ddof=0):.3f}" for c in cols]
        print(f"| {spec} | {' | '.join(cells)} | {g['train_seconds'].mean():.1f} | "
              f"{g['load_avg'].min():.1f}-{g['load_avg'].max():.1f} |", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
