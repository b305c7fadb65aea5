"""One detector on one city, its groups judged against the city's truth (issue 12: quality with size).

    .venv/bin/python bench/detector_groups.py W/city200k --stage W/staged --detector collusive_prescribing
    .venv/bin/python bench/detector_groups.py W/city200k --stage W/staged --detector card_lending \\
        --param 'lead_sources=["faces","history","co-timing","cohort"]'

Validates the city (staged under ``--stage``), runs the face stage when the detector reads face
verdicts (card lending, card cash-out, ghost admissions), fits the detector with its defaults
(``models/defaults.yaml``) and any ``--param name=JSON`` overrides, and prints every group: its
source (where the detector has several), scheme, score, size, the true ring it matches by
``evaluate``'s half/half rule, and the share of its members that are in the truth at all; then, per
true ring of the detector's scheme, whether a group matched it. What the figures in bench/RESULTS.md
("quality with size") were diagnosed with: which detector loses which rings as the city grows, and
whether a lost ring is scored low or never proposed. Not a test.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

FACE_READERS = {"card_lending", "card_cashout", "ghost_admission"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dataset")
    ap.add_argument("--stage", required=True, help="work directory for the validated (staged) tables")
    ap.add_argument("--detector", required=True, help="a built-in detector's name")
    ap.add_argument("--param", action="append", default=[], help="name=JSON value, repeatable")
    ap.add_argument("--truth", help="truth directory (default: DATASET/truth)")
    ap.add_argument("--rules", action="store_true", help="run the rule stage first (detectors that read rule hits)")
    ap.add_argument("--why", action="store_true", help="also print each group's summary (its evidence in words)")
    a = ap.parse_args(argv)

    from ringscope.graph.context import Context
    from ringscope.graph.engine import Engine
    from ringscope.graph.partition import n_buckets
    from ringscope.ingest.reader import read_dataset
    from ringscope.models.evaluate import read_members, ring_match_matrix
    from ringscope.models.registry import builtin
    from ringscope.pipeline.run import _publish

    params = {}
    for kv in a.param:
        k, _, v = kv.partition("=")
        params[k] = json.loads(v)
    cls = builtin()[a.detector]
    ds = read_dataset(a.dataset, work_dir=a.stage)
    ctx = Context(tables=ds.tables, engine=Engine.over_dataset(ds, memory_limit="4GB"))
    ctx.cache["partitions"] = n_buckets(ctx, 1_000_000)
    if a.rules:
        _publish(builtin()["rules"]().fit(ctx), ctx, {})
    if a.detector in FACE_READERS:
        faces = builtin()["face_match"]().fit(ctx)
        _publish(faces, ctx, {})
    det = cls(**params).fit(ctx)

    truth = Path(a.truth or Path(a.dataset) / "truth")
    rings = pd.read_csv(truth / "rings.csv", dtype=str, keep_default_na=False)
    ents = pd.read_csv(truth / "entities.csv", dtype=str, keep_default_na=False)
    bad = set(ents["entity_type"] + ":" + ents["entity_id"])
    gs = [frozenset(g.members) for g in det.groups_]
    M = ring_match_matrix(gs, [read_members(m) for m in rings["members"]]) if gs else np.zeros((0, len(rings)), bool)
    rows = [{"source": g.evidence.get("source", ""), "scheme": g.scheme, "score": round(g.score, 3),
             "members": len(g.members), "matches": ";".join(rings["ring_id"][M[i]]),
             "in_truth": round(len(gs[i] & bad) / max(len(gs[i]), 1), 2),
             "why": g.summary[:400]} for i, g in enumerate(det.groups_)]
    cols = ["source", "scheme", "score", "members", "matches", "in_truth"] + (["why"] if a.why else [])
    out = pd.DataFrame(rows, columns=cols)
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(out.sort_values(["source", "score"], ascending=[True, False]).to_string(
            index=False, max_colwidth=400))
    mine = rings["scheme"] == cls.scheme
    found = M.any(axis=0) if len(gs) else np.zeros(len(rings), bool)
    print(f"\n{cls.scheme}: {int(found[mine.to_numpy()].sum())} of {int(mine.sum())} true rings matched by a group; "
          f"{int((out['matches'] != '').sum())} of {len(out)} groups match a ring")
    missed = rings.loc[mine.to_numpy() & ~found, "ring_id"].tolist()
    if missed:
        print("missed:", ", ".join(missed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
