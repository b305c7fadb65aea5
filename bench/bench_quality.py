"""Detection quality of ``ringscope detect`` on generated cities (issue 5 and the
ablation of issue 6).

    .venv/bin/python bench/bench_quality.py                       # both configurations
    .venv/bin/python bench/bench_quality.py --config default --diagnose
    .venv/bin/python bench/bench_quality.py --ablation            # rules / +graph / +GNN / +trees

Configurations (cities are generated once and cached under ``--work``):

- ``default``: the generator's defaults, 5,000 persons, seed 7 (``make demo``'s city);
- ``alt``: ``bench/city_alt.yaml`` (other ring sizes, rates, terminals and
  confounder strengths), 4,000 persons, seed 23;
- ``labelled``: the default city with more closed cases in ``known_cases``
  (``bench/city_labelled.yaml``), so the supervised models train -- for the
  ablation (labelled entities are scored too, in every variant alike);
- ``holdout``: ``bench/city_holdout.yaml``, 8,000 persons, seed 101 -- written
  after the detectors were tuned on the two above, to see whether they
  generalise;
- ``county``/``county2`` and ``province``/``province2``: cities of two other
  generators (``bench/othergen/``), written from the data contract alone by
  authors who never saw the detectors -- the closest thing here to the judges'
  datasets.

Each run is ``detect(..., neo4j=False)`` then ``evaluate``; ``--neo4j`` loads
into the configured server as ``make demo`` does (the scores are the same).
``--diagnose`` lists the top 3R leads (correct or not, which ring) and, for
every missed ring, the best lead touching it. Not a test: figures go in
``bench/RESULTS.md``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
CONFIGS = {
    "default": {"persons": 5000, "seed": 7, "config": None},
    "alt": {"persons": 4000, "seed": 23, "config": str(HERE / "city_alt.yaml")},
    # the default city with a richer case history (every ring and most lone actors with a closed
    # case, more cleared ones), so that the supervised GNN and the trees train: the ablation's city
    "labelled": {"persons": 5000, "seed": 7, "config": str(HERE / "city_labelled.yaml")},
    # held out: not looked at while tuning the detectors on the two above
    "holdout": {"persons": 8000, "seed": 101, "config": str(HERE / "city_holdout.yaml")},
    # cities of other generators, written from the data contract alone by authors who did not
    # see the detectors (bench/othergen/README.md): the judges' kind of data
    "county": {"persons": 5000, "seed": 1, "generator": str(HERE / "othergen" / "county.py")},
    "county2": {"persons": 8000, "seed": 2, "generator": str(HERE / "othergen" / "county.py")},
    "province": {"persons": 5000, "seed": 1, "generator": str(HERE / "othergen" / "province.py")},
    "province2": {"persons": 8000, "seed": 2, "generator": str(HERE / "othergen" / "province.py")},
}
# the ablation of issue 6: what each family of detectors adds
ABLATION = {
    "rules only": {"graph": False, "gnn": False},
    "rules + graph detectors": {"graph": True, "gnn": False},
    # the GNN the pipeline picks: supervised with enough closed cases, else the autoencoder
    "+ GNN": {"graph": True, "gnn": True, "off": ["xgb_neighbour"]},
    "+ GNN + trees": {"graph": True, "gnn": True},
}


def ensure_city(work: Path, name: str, persons: int | None = None) -> Path:
    from ringscope.synth.generator import generate

    c = dict(CONFIGS[name])
    if persons:
        c["persons"] = persons
    city = work / f"{name}-{c['persons']}-{c['seed']}"
    if not (city / "truth" / "rings.csv").exists():
        t0 = time.perf_counter()
        if c.get("generator"):
            import subprocess

            subprocess.run([sys.executable, c["generator"], str(city), "--persons", str(c["persons"]),
                            "--seed", str(c["seed"])], check=True, stdout=subprocess.DEVNULL)
        else:
            generate(city, persons=c["persons"], seed=c["seed"], config=c["config"])
        print(f"# generated {city} in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    return city


def diagnose(results: Path, truth: Path) -> str:
    from ringscope.models.evaluate import read_members, ring_match_matrix

    leads = pd.read_csv(results / "leads.csv", dtype=str, keep_default_na=False)
    rings = pd.read_csv(truth / "rings.csv", dtype=str, keep_default_na=False)
    ents = pd.read_csv(truth / "entities.csv", dtype=str, keep_default_na=False)
    le = ents[ents["ring_id"] == ""]
    lone = (le["entity_type"] + ":" + le["entity_id"]).groupby(le["scheme"].to_numpy()).agg(set).to_dict()
    leads["s"] = pd.to_numeric(leads["score"])
    leads = leads.sort_values("s", ascending=False, kind="mergesort").reset_index(drop=True)
    K = 3 * len(rings)
    lsets = [read_members(m) for m in leads["members"]]
    rsets = [read_members(m) for m in rings["members"]]
    M = ring_match_matrix(lsets, rsets)
    lines = [f"top {K} leads:"]
    for i in range(min(K, len(leads))):
        hit = [rings["ring_id"][j] for j in range(len(rings)) if M[i, j]]
        lone_hit = sorted(m for m in lsets[i] if m in lone.get(leads["scheme"][i], ()))
        best = max(range(len(rings)), key=lambda j: len(lsets[i] & rsets[j])) if len(rings) else None
        ov = len(lsets[i] & rsets[best]) if best is not None else 0
        mark = "OK " if hit or lone_hit else "-- "
        lines.append(f" {mark}{i + 1:>3} {leads['scheme'][i]:<22} s={leads['s'][i]:.3f} n={len(lsets[i]):>3} "
                     f"{','.join(hit) or ('lone ' + ','.join(lone_hit)[:40] if lone_hit else '')}"
                     f"{'' if hit else f'  (best {rings.ring_id[best]} {ov}/{len(rsets[best])})' if best is not None and ov else ''}"
                     f"  {leads['summary'][i][:110]}")
    found = M[:K].any(axis=0)
    for j in range(len(rings)):
        if found[j]:
            continue
        ov = [(len(lsets[i] & rsets[j]), i) for i in range(len(lsets))]
        ov = [o for o in ov if o[0]]
        best = sorted(ov, key=lambda o: (-o[0] / max(len(lsets[o[1]]), 1) - o[0] / len(rsets[j]), o[1]))[:3]
        desc = "; ".join(f"#{i + 1} {leads['scheme'][i]} {n}/{len(lsets[i])} of lead, {n}/{len(rsets[j])} of ring"
                         for n, i in best) or "no lead touches it"
        lines.append(f" MISSED {rings['ring_id'][j]} ({rings['scheme'][j]}, {len(rsets[j])} members): {desc}")
    return "\n".join(lines)


def run_one(city: Path, out: Path, *, graph: bool = True, gnn: bool = True, off: list[str] | None = None,
            neo4j: bool = False, config: str | None = None) -> dict:
    """``detect`` (graph detectors on or off, learned models on or off, detectors in ``off``
    disabled; ``config``: a configuration file merged first) then ``evaluate``."""
    from ringscope.models.config import load_config
    from ringscope.models.evaluate import evaluate
    from ringscope.models.registry import builtin
    from ringscope.pipeline import detect

    off = set(off or ())
    if not graph:
        off |= {n for n, c in builtin().items() if c.kind == "graph"}
    cfg = load_config(config, overrides={"detectors": {n: {"enabled": False} for n in sorted(off)}})
    t0 = time.perf_counter()
    detect(city, out, neo4j=neo4j, gnn=gnn, config=cfg)
    secs = time.perf_counter() - t0
    rep = evaluate(out, city / "truth")
    r, e = rep["rings"], rep["entities"]
    return {"seconds": round(secs, 1), "ring_recall_at_3R": r["ring_recall_at_3R"],
            "lead_precision_at_3R": r["lead_precision_at_3R"],
            "ap_person": e["person"]["ap"], "ap_physician": e["physician"]["ap"],
            "ap_institution": e["institution"]["ap"], "missed": r["missed_rings"],
            "n_rings": r["n_rings"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", action="append", choices=sorted(CONFIGS),
                    help="default: default, alt, holdout and the other generators' cities")
    ap.add_argument("--work", default=str(HERE.parent / ".state" / "quality"))
    ap.add_argument("--persons", type=int, help="override the configuration's size")
    ap.add_argument("--no-gnn", action="store_true")
    ap.add_argument("--neo4j", action="store_true")
    ap.add_argument("--ablation", action="store_true")
    ap.add_argument("--diagnose", action="store_true")
    ap.add_argument("--json", help="append the rows to this JSONL file")
    ap.add_argument("--detect-config", help="a configuration file for detect (merged over the defaults)")
    a = ap.parse_args(argv)
    work = Path(a.work)
    rows = []
    for name in a.config or ["default", "alt", "holdout", "county", "county2", "province", "province2"]:
        city = ensure_city(work, name, a.persons)
        variants = ABLATION if a.ablation else {"full" if not a.no_gnn else "no GNN":
                                                {"graph": True, "gnn": not a.no_gnn}}
        for vname, v in variants.items():
            out = work / "results" / f"{city.name}-{vname.replace(' ', '_').replace('+', 'p')}"
            row = {"config": name, "city": city.name, "variant": vname,
                   **run_one(city, out, graph=v["graph"], gnn=v["gnn"], off=v.get("off"), neo4j=a.neo4j,
                             config=a.detect_config)}
            rows.append(row)
            print(json.dumps(row), flush=True)
            if a.diagnose:
                print(diagnose(out, city / "truth"), flush=True)
            if a.json:
                with open(a.json, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(row) + "\n")
    print("\n| config | variant | ring recall@3R | lead precision@3R | AP person | AP physician | AP institution | s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    f = lambda x: "–" if x is None else f"{x:.3f}"  # noqa: E731
    for r in rows:
        print(f"| {r['city']} | {r['variant']} | {f(r['ring_recall_at_3R'])} | {f(r['lead_precision_at_3R'])} | "
              f"{f(r['ap_person'])} | {f(r['ap_physician'])} | {f(r['ap_institution'])} | {r['seconds']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
