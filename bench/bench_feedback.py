"""Outcomes teach the models (issue 15, item 4): does an investigator's feedback lift detection?

    .venv/bin/python bench/bench_feedback.py --persons 3000 --rounds 3 --per-round 4

A simulated investigator reviews ``--per-round`` leads per round. Their verdict comes from the
city's ``truth/``: a lead is *confirmed* when it matches a true ring or holds a true lone actor of
its scheme (the rule of ``models/evaluate.py``'s lead precision), else *cleared*. As in the product,
a closed lead labels all its members with its outcome
(:func:`ringscope.store.feedback.lead_outcome_labels`; ``--verdict member`` instead labels each
member by the truth, as an investigator who writes down who took part would). The labels join
``known_cases`` (dated one day later each round, so the precedence rule applies) and ``detect``
runs again with them (``detect(..., labels=...)``, what ``--labels FILE`` does). Three arms:

- ``queue``: the leads the review queue suggests (``review_queue.csv``, active learning:
  uncertainty x amount x novelty, diverse across schemes; ``ringscope/pipeline/feedback.py``);
- ``top``: the best-ranked leads not yet reviewed (what an investigator does without the queue);
- ``none``: no feedback (the round-0 run; ``detect`` is deterministic, so every round is it).

After each round: entity AP per type and overall (``models/evaluate.py``: entity scores against
``truth/entities.csv``), AP on the entities *not* reviewed yet (the honest figure: a reviewed
entity's label is in the scores' inputs) beside the no-feedback run's AP on those same entities
(``ap_unreviewed_nofeedback``: reviewing removes the easy positives, so only that pair compares),
lead precision@3R and ring recall@3R. Prints a markdown
table and writes JSON (``--json``). Not a test: figures go in ``bench/RESULTS.md``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def city(work: Path, persons: int, seed: int) -> Path:
    from ringscope.synth.generator import generate

    d = work / f"city-{persons}-{seed}"
    if not (d / "truth" / "rings.csv").exists():
        generate(d, persons=persons, seed=seed)
    return d


def verdicts(leads: pd.DataFrame, truth: Path) -> pd.Series:
    """confirmed / cleared per lead (index: lead_id), the evaluate.py rule for a correct lead."""
    from ringscope.models.evaluate import read_members, ring_match_matrix

    rings = pd.read_csv(truth / "rings.csv", dtype=str, keep_default_na=False)
    ents = pd.read_csv(truth / "entities.csv", dtype=str, keep_default_na=False)
    lone = ents[ents["ring_id"] == ""]
    lone_by = (lone["entity_type"] + ":" + lone["entity_id"]).groupby(lone["scheme"]).agg(set).to_dict()
    sets = [read_members(m) for m in leads["members"]]
    M = ring_match_matrix(sets, [read_members(m) for m in rings["members"]])
    ok = [bool(M[i].any()) or bool(s & lone_by.get(str(sc), set())) for i, (s, sc) in
          enumerate(zip(sets, leads["scheme"]))]
    return pd.Series(np.where(ok, "confirmed", "cleared"), index=leads["lead_id"].astype(str))


def review(res: Path, arm: str, n: int, known: set[str]) -> pd.DataFrame:
    """The ``n`` leads this arm's investigator reviews next (members not all labelled yet)."""
    leads = pd.read_csv(res / "leads.csv", dtype=str, keep_default_na=False)
    fresh = leads[[bool(set(m.split(";")) - known) for m in leads["members"]]]
    if arm == "queue":
        q = pd.read_csv(res / "review_queue.csv", dtype=str, keep_default_na=False)
        order = [i for i in q["lead_id"] if i in set(fresh["lead_id"])]
        return fresh.set_index("lead_id").loc[order].reset_index().head(n)
    return fresh.assign(_r=pd.to_numeric(fresh["score"]).rank(ascending=False, method="first")) \
        .sort_values("_r").head(n).drop(columns="_r")


def labels_for(picked: pd.DataFrame, truth: Path, day: pd.Timestamp, mode: str) -> pd.DataFrame:
    from ringscope.store.feedback import lead_outcome_labels

    v = verdicts(picked, truth)
    if mode == "lead":
        closed = picked.assign(outcome=picked["lead_id"].map(v), closed_at=day.isoformat())
        return lead_outcome_labels(closed)
    ents = pd.read_csv(truth / "entities.csv", dtype=str, keep_default_na=False)
    bad = set(ents["entity_type"] + ":" + ents["entity_id"])
    rows = []
    for r in picked.itertuples(index=False):
        for m in sorted(set(str(r.members).split(";")) - {""}):
            t, _, i = m.partition(":")
            rows.append({"case_id": f"review:{r.lead_id}:{m}", "entity_type": t, "entity_id": i,
                         "label": "fraud" if m in bad else "cleared", "scheme": r.scheme,
                         "closed_on": day.strftime("%Y-%m-%d"), "source": "lead", "closed_at": day.isoformat()})
    return pd.DataFrame(rows)


def metrics(res: Path, truth: Path, data: Path, reviewed: set[str], base: Path | None = None) -> dict:
    from sklearn.metrics import average_precision_score

    from ringscope.models.evaluate import evaluate

    ev = evaluate(res, truth)
    ent = ev["entities"]
    out = {"ap_" + t: (ent.get(t) or {}).get("ap") for t in ("person", "physician", "institution")}
    out["lead_precision_at_3R"] = ev["rings"]["lead_precision_at_3R"]
    out["ring_recall_at_3R"] = ev["rings"]["ring_recall_at_3R"]
    out["n_leads"] = ev["rings"]["n_leads"]
    # AP over every entity of the city, and over those not reviewed yet
    es = pd.read_csv(res / "entity_scores.csv", dtype=str, keep_default_na=False)
    score = dict(zip(es["entity_type"] + ":" + es["entity_id"], pd.to_numeric(es["score"])))
    tr = pd.read_csv(truth / "entities.csv", dtype=str, keep_default_na=False)
    bad = set(tr["entity_type"] + ":" + tr["entity_id"])
    keys = []
    for t, (tab, col) in {"person": ("persons", "person_id"), "physician": ("physicians", "physician_id"),
                          "institution": ("institutions", "institution_id")}.items():
        keys += [f"{t}:{i}" for i in pd.read_csv(data / f"{tab}.csv", usecols=[col], dtype=str)[col]]
    rest = [k for k in keys if k not in reviewed]
    for name, ks in (("ap_all", keys), ("ap_unreviewed", rest)):
        y = np.array([k in bad for k in ks])
        x = np.array([score.get(k, 0.0) for k in ks])
        out[name] = float(average_precision_score(y, x)) if y.any() else None
    # the same unreviewed entities as scored without feedback (the fair comparison for ap_unreviewed)
    b = pd.read_csv((base or res) / "entity_scores.csv", dtype=str, keep_default_na=False)
    bscore = dict(zip(b["entity_type"] + ":" + b["entity_id"], pd.to_numeric(b["score"])))
    y = np.array([k in bad for k in rest])
    out["ap_unreviewed_nofeedback"] = float(average_precision_score(y, [bscore.get(k, 0.0) for k in rest])) \
        if y.any() else None
    out["reviewed_entities"] = len(reviewed)
    return out


CONFIG: dict = {}


def run_detect(data: Path, out: Path, labels: pd.DataFrame | None, gnn: bool) -> float:
    from ringscope.pipeline import detect

    t0 = time.perf_counter()
    detect(data, out, neo4j=False, gnn=gnn, labels=labels, config=CONFIG or None)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/ringscope-bench-feedback")
    ap.add_argument("--persons", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--per-round", type=int, default=4)
    ap.add_argument("--verdict", choices=["lead", "member"], default="lead",
                    help="lead: a closed lead labels all its members with its outcome (the product); "
                         "member: each member labelled by the truth")
    ap.add_argument("--gnn", action="store_true", help="let the learned models run (gated; slow)")
    ap.add_argument("--no-fusion-learning", action="store_true",
                    help="fusion keeps its default weights whatever the labels (fusion.min_pos huge): the labels "
                         "then reach guilt by association and the learned models only")
    ap.add_argument("--json", default=None, help="write the figures here (default WORK/feedback.json)")
    a = ap.parse_args(argv)
    from ringscope import progress

    progress.configure(quiet=True)
    work = Path(a.work)
    data = city(work, a.persons, a.seed)
    truth = data / "truth"
    # the dataset's own closed cases are labels from the start: reviewed means labelled
    kc = pd.read_csv(data / "known_cases.csv", dtype=str, keep_default_na=False) \
        if (data / "known_cases.csv").exists() else pd.DataFrame(columns=["entity_type", "entity_id"])
    known0 = set(kc["entity_type"] + ":" + kc["entity_id"])
    if a.no_fusion_learning:
        CONFIG["fusion"] = {"min_pos": 10**9}
    tag = f"{a.verdict}-{'gnn' if a.gnn else 'nognn'}{'-fixedfusion' if a.no_fusion_learning else ''}"
    r0 = work / f"res-{tag}-r0"
    secs = run_detect(data, r0, None, a.gnn)
    base = metrics(r0, truth, data, known0)
    rows = [{"arm": arm, "round": 0, **base, "seconds": round(secs, 1), "confirmed": 0, "cleared": 0}
            for arm in ("none", "queue", "top")]
    day0 = pd.Timestamp("2030-01-01")
    for arm in ("queue", "top"):
        labels = pd.DataFrame()
        known = set(known0)
        res = r0
        for k in range(1, a.rounds + 1):
            picked = review(res, arm, a.per_round, known)
            new = labels_for(picked, truth, day0 + pd.Timedelta(days=k), a.verdict)
            labels = pd.concat([labels, new], ignore_index=True)
            known |= set(new["entity_type"] + ":" + new["entity_id"])
            res = work / f"res-{tag}-{arm}-r{k}"
            secs = run_detect(data, res, labels, a.gnn)
            v = verdicts(picked, truth) if len(picked) else pd.Series(dtype=str)
            rows.append({"arm": arm, "round": k, **metrics(res, truth, data, known, r0), "seconds": round(secs, 1),
                         "confirmed": int((v == "confirmed").sum()), "cleared": int((v == "cleared").sum()),
                         "reviewed_leads": picked["lead_id"].tolist()})
            print(f"[{arm} round {k}] reviewed {len(picked)}: {rows[-1]['confirmed']} confirmed, "
                  f"{rows[-1]['cleared']} cleared; AP all {rows[-1]['ap_all']:.3f}", file=sys.stderr, flush=True)
    for k in range(1, a.rounds + 1):   # no feedback: detect is deterministic, every round is round 0
        rows.append({**rows[0], "round": k})
    df = pd.DataFrame(rows).sort_values(["arm", "round"], kind="stable")
    cols = ["arm", "round", "confirmed", "cleared", "reviewed_entities", "ap_all", "ap_unreviewed",
            "ap_unreviewed_nofeedback", "ap_person",
            "ap_physician", "ap_institution", "lead_precision_at_3R", "ring_recall_at_3R", "n_leads"]
    print(f"\ncity: {data.name} ({a.persons} persons, seed {a.seed}); {a.per_round} leads reviewed per round; "
          f"verdict: {a.verdict}; learned models: {'on' if a.gnn else 'off'}; fusion weights: "
          f"{'fixed' if a.no_fusion_learning else 'learnt from the labels'}\n")
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join("---" if c == "arm" else "---:" for c in cols) + "|")
    for r in df[cols].itertuples(index=False):
        print("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in r) + " |")
    out = Path(a.json) if a.json else work / f"feedback-{tag}.json"
    out.write_text(json.dumps({"city": str(data), "persons": a.persons, "seed": a.seed, "rounds": a.rounds,
                               "fusion_learning": not a.no_fusion_learning,
                               "per_round": a.per_round, "verdict": a.verdict, "gnn": a.gnn,
                               "rows": json.loads(df.to_json(orient="records"))}, indent=2), encoding="utf-8")
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
