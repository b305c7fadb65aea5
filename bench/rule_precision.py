"""Measured precision of every rule (issue 13): the share of a rule's hits that fall on a real
violation, per city of every generator the team has (bench/bench_quality.py's results), so that
a suspicious rule's severity follows what it measured rather than what its author guessed.

    .venv/bin/python bench/bench_quality.py --no-gnn --work W                 # the cities and results
    .venv/bin/python bench/rule_precision.py --work W                          # the table
    .venv/bin/python bench/rule_precision.py --work W --write models/rule_precision.yaml

A hit is judged as ``evaluate`` judges it (``precision_any``: a truth row of any class on its line
or settlement). A rule's ``precision`` is the mean over the cities where it had a judged hit (each
city, hence each generator, weighs the same, whatever its size), ``min`` the worst city. The rule
registry maps it to a severity (``models/rules/registry.py``, ``measured_severity``). Not a test.
"""
from __future__ import annotations

import argparse
import datetime as _dt
from pathlib import Path

import yaml

from ringscope.models.evaluate import evaluate


def per_city(work: Path, variant: str) -> dict[str, dict[str, dict]]:
    """city -> rule id -> evaluate's per-rule metrics, for each city with results and truth."""
    out = {}
    for res in sorted((work / "results").glob(f"*-{variant}")):
        city = res.name[: -len(variant) - 1]
        truth = work / city / "truth"
        if (res / "rule_hits.csv").exists() and truth.is_dir():
            out[city] = evaluate(res, truth).get("rules", {})
    return out


def pooled(cities: dict[str, dict[str, dict]]) -> dict[str, dict]:
    rules: dict[str, dict] = {}
    for city, rs in cities.items():
        for rid, m in rs.items():
            if not m.get("judged") or m.get("precision_any") is None:
                continue
            d = rules.setdefault(rid, {"rule_class": m.get("rule_class", ""), "per_city": {}, "judged": 0})
            d["per_city"][city] = round(float(m["precision_any"]), 4)
            d["judged"] += int(m["judged"])
    for d in rules.values():
        v = list(d["per_city"].values())
        d["precision"] = round(sum(v) / len(v), 4)
        d["min"] = round(min(v), 4)
        d["cities"] = len(v)
    return dict(sorted(rules.items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", required=True, help="bench_quality's --work directory")
    ap.add_argument("--variant", default="no_GNN")
    ap.add_argument("--write", help="write the measured precision (YAML) here")
    a = ap.parse_args(argv)
    cities = per_city(Path(a.work), a.variant)
    if not cities:
        raise SystemExit(f"no results with truth under {a.work}")
    rules = pooled(cities)
    from ringscope.models.rules import RULES
    from ringscope.models.rules.registry import severity_for_precision

    print(f"{len(cities)} cities: {', '.join(cities)}\n")
    print("| rule | class | declared | precision (mean) | worst city | cities | judged hits | severity from it |")
    print("|---|---|---|---:|---:|---:|---:|---|")
    for rid, d in rules.items():
        r = RULES.get(rid)
        sev = severity_for_precision(d["precision"])
        print(f"| {rid} | {d['rule_class']} | {r.severity if r else '?'} | {d['precision']:.3f} | {d['min']:.3f} | "
              f"{d['cities']} | {d['judged']} | {sev if d['rule_class'] == 'suspicious' else '(definite: declared)'} |")
    if a.write:
        head = (f"# Measured rule precision (issue 13), {_dt.date.today().isoformat()}: the share of each rule's judged\n"
                f"# hits on a real violation, mean over {len(cities)} cities ({', '.join(cities)}).\n"
                f"# Refit: .venv/bin/python bench/rule_precision.py --work W --write models/rule_precision.yaml\n")
        body = {"rules": {rid: {k: d[k] for k in ("rule_class", "precision", "min", "cities", "judged", "per_city")}
                          for rid, d in rules.items()}}
        Path(a.write).write_text(head + yaml.safe_dump(body, sort_keys=True, allow_unicode=True), encoding="utf-8")
        print(f"\nwrote {a.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
