"""Trace-code analysis on a city of 10 million packs, against the columnar floor (issue 19).

    .venv/bin/python bench/bench_traces.py [--packs 10000000] [--work /tmp/traces-bench] [--memory-limit 4GB]

1. **generate** (once, cached under ``--work``): a city in the contract's shape as Parquet files,
   written by numpy and pyarrow in whole columns (no per-row Python): 3,600 institutions,
   20,000 physicians, 1.5 million persons, 600 drugs, a year of settlements whose drug lines carry
   one traceability code per pack -- ``--packs`` rows of ``drug_traces`` -- with stock books
   (``inventory``) for the pharmacies, resale rings planted (collectors' packs settled again at
   outlet pharmacies that never bought them) and the confounders (refunded sales sold again,
   scanner repeats within minutes);
2. **floor**: DuckDB reads the same files once with one group-by per table (traces by code, lines
   by visit, visits by institution, inventory by institution and item) -- what no analysis of
   these tables can beat;
3. **analysis**: what ``detect`` runs on trace codes -- the rules R-MGT-016/017/018 and the
   ``drug_resale`` detector -- with the large tables left in the engine (DuckDB views over the
   files, ``Context.engine``): only the codes seen more than once and aggregates reach Python.

Each phase runs in its own process, so each peak RSS is its own (``VmHWM``; ``ru_maxrss`` would
carry the parent's high-water mark over the exec). Prints a
markdown table; figures go in ``bench/RESULTS.md``. Not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ringscope.progress import peak_rss_mb

TABLES = ("institutions", "physicians", "persons", "catalog", "visits", "claim_lines", "drug_traces", "inventory")
SMALL = ("institutions", "physicians", "catalog")
TRACE_RULES = ["R-MGT-016", "R-MGT-017", "R-MGT-018"]
T0 = np.datetime64("2025-07-01T00:00:00", "s")
YEAR = 365 * 86400


# =========================================================================== generate
def generate(out: Path, packs: int = 10_000_000, seed: int = 0, rings: int = 100) -> dict:
    """Write the city as Parquet files into ``out``; returns its counts and planted rings."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)

    def ids(prefix: str, n: int, width: int) -> pa.Array:
        a = pc.cast(pa.array(np.arange(n, dtype=np.int64)), pa.string())
        return pc.binary_join_element_wise(prefix, pc.utf8_lpad(a, width, "0"), "")

    def write(name: str, cols: dict) -> None:
        pq.write_table(pa.table(cols), out / f"{name}.parquet", compression="zstd", row_group_size=1_000_000)

    # institutions: kinds by share of a city's designated institutions
    n_inst = 3600
    kind = np.array(["hospital"] * 150 + ["community"] * 400 + ["clinic"] * 2050 + ["pharmacy"] * 1000, dtype=object)
    inst_id = ids("I", n_inst, 5)
    write("institutions", {"institution_id": inst_id, "kind": pa.array(kind)})
    pharm = np.flatnonzero(kind == "pharmacy")
    hosp = np.flatnonzero(kind != "pharmacy")
    # physicians: most at hospitals; one or two pharmacists per pharmacy
    n_doc_h = 18_000
    doc_inst = np.concatenate([rng.choice(hosp, n_doc_h, p=_weights(kind[hosp], rng)), np.repeat(pharm, 2)])
    n_doc = len(doc_inst)
    doc_id = ids("D", n_doc, 6)
    write("physicians", {"physician_id": doc_id, "institution_id": inst_id.take(pa.array(doc_inst))})
    # persons
    n_pers = 1_500_000
    pers_id = ids("P", n_pers, 7)
    write("persons", {"person_id": pers_id, "sex": pa.array(np.where(rng.random(n_pers) < 0.5, "M", "F")),
                      "birth_date": pa.array((np.datetime64("1940-01-01") + rng.integers(0, 80 * 365, n_pers))
                                             .astype("datetime64[D]"))})
    # catalog: 600 drugs, prices log-normal; the 40 dearest are what collectors want
    n_item = 600
    price = np.round(np.exp(rng.normal(3.0, 1.1, n_item)), 2)
    item_id = ids("Y", n_item, 4)
    write("catalog", {"item_code": item_id, "name": item_id, "item_type": pa.array(["drug"] * n_item)})
    dear = np.argsort(-price)[:40]

    # settlements and drug lines: persons by a heavy-tailed activity, institutions by kind
    n_lines = int(packs / 1.4)
    n_vis = int(n_lines / 1.6)
    act = rng.pareto(1.5, n_pers) + 1
    v_pers = rng.choice(n_pers, n_vis, p=act / act.sum())
    v_inst = np.where(rng.random(n_vis) < 0.45, rng.choice(pharm, n_vis), rng.choice(hosp, n_vis))
    v_time = T0 + rng.integers(0, YEAR, n_vis).astype("timedelta64[s]")
    # a physician of the institution (pharmacies: their pharmacist, or none for OTC sales)
    pick_doc = _Picker(doc_inst, n_inst, rng)
    v_doc = pick_doc(v_inst)
    v_doc = np.where((kind[v_inst] == "pharmacy") & (rng.random(n_vis) < 0.4), -1, v_doc)
    l_vis = np.sort(rng.integers(0, n_vis, n_lines))
    l_item = rng.integers(0, n_item, n_lines)
    l_qty = rng.choice([1, 2, 3], n_lines, p=[0.7, 0.2, 0.1])

    # resale rings: collectors collect dear drugs round the city; outlets settle them again
    truth = []
    extra_v: list[tuple] = []          # (person, inst, doc, time)
    extra_l: list[tuple] = []          # (visit offset, item, qty)
    resold: list[tuple] = []           # (collector line offset, outlet, time)
    n_extra_v = 0
    for r in range(rings):
        coll = rng.choice(n_pers, 5, replace=False)
        outlets = rng.choice(pharm, int(rng.integers(1, 3)), replace=False)
        truth.append({"ring": r, "collectors": [f"P{c:07d}" for c in coll], "outlets": [f"I{o:05d}" for o in outlets]})
        for c in coll:
            for _ in range(int(rng.integers(15, 30))):
                inst = int(rng.choice(hosp))
                t = T0 + np.timedelta64(int(rng.integers(0, YEAR - 40 * 86400)), "s")
                extra_v.append((c, inst, -1, t))
                extra_l.append((n_extra_v, int(rng.choice(dear)), 2))
                resold.append((len(extra_l) - 1, int(rng.choice(outlets)), t + np.timedelta64(int(rng.integers(3, 30)) * 86400, "s")))
                n_extra_v += 1
    # the outlets' resales: one settlement per pack, to random customers
    sale_v, sale_l = [], []
    for li, outlet, t in resold:
        for k in range(2):
            sale_v.append((int(rng.integers(0, n_pers)), outlet, -1, t + np.timedelta64(k * 3600, "s")))
            sale_l.append((n_extra_v + len(sale_v) - 1, extra_l[li][1], 1, li, k))
    ev = np.array(extra_v + sale_v, dtype=object)
    v_pers = np.concatenate([v_pers, ev[:, 0].astype(np.int64)])
    v_inst = np.concatenate([v_inst, ev[:, 1].astype(np.int64)])
    v_doc = np.concatenate([v_doc, pick_doc(ev[:, 1].astype(np.int64))])     # the prescriber / pharmacist
    v_time = np.concatenate([v_time, ev[:, 3].astype("datetime64[s]")])
    base_l = n_lines
    el = np.array([(n_vis + a, b, c) for a, b, c in extra_l] + [(n_vis + a, b, c) for a, b, c, _, _ in sale_l])
    l_vis = np.concatenate([l_vis, el[:, 0]])
    l_item = np.concatenate([l_item, el[:, 1]])
    l_qty = np.concatenate([l_qty, el[:, 2]])
    n_vis_all, n_lines_all = len(v_pers), len(l_vis)

    # one code per pack: a permutation of serials, 20 digits ("8" + 19)
    t_line = np.repeat(np.arange(n_lines_all), l_qty)
    n_packs = len(t_line)
    serial = rng.permutation(n_packs).astype(np.int64) + 10_000_000_000
    # resold packs carry their collector line's codes: pack k of collector line li
    first_pack = np.concatenate([[0], np.cumsum(l_qty)[:-1]])
    for j, (_, _, _, li, k) in enumerate(sale_l):
        serial[first_pack[base_l + len(extra_l) + j]] = serial[first_pack[base_l + li] + k]
    # confounders: refunded sales sold again at the same institution days later; scanner repeats
    n_rev = n_packs // 2000
    rev_rows = rng.choice(n_packs - 1, n_rev, replace=False)
    reversed_ = np.zeros(n_packs, dtype=bool)
    reversed_[rev_rows] = True
    inst_of_line = v_inst[l_vis]
    time_of_line = v_time[l_vis]
    order = np.lexsort((time_of_line, inst_of_line))        # lines by institution and time
    nxt = np.empty(n_lines_all, dtype=np.int64)
    nxt[order[:-1]] = order[1:]
    nxt[order[-1]] = order[-1]
    same = inst_of_line[nxt] == inst_of_line
    # the refunded pack is sold again on the institution's next line
    ok = same[t_line[rev_rows]]
    target = first_pack[nxt[t_line[rev_rows[ok]]]]
    serial[target] = serial[rev_rows[ok]]
    # the scanner repeats a code on the next line at the same counter within minutes
    close = same & ((time_of_line[nxt] - time_of_line) <= np.timedelta64(300, "s")) & (nxt != np.arange(n_lines_all))
    cand = np.flatnonzero(close[t_line])
    scan_rows = rng.choice(cand, min(len(cand), n_packs // 10_000), replace=False)
    serial[first_pack[nxt[t_line[scan_rows]]]] = serial[scan_rows]
    code = pc.binary_join_element_wise("8", pc.utf8_lpad(pc.cast(pa.array(serial), pa.string()), 19, "0"), "")

    line_id = ids("L", n_lines_all, 9)
    visit_id = ids("V", n_vis_all, 9)
    amount = np.round(price[l_item] * l_qty, 2)
    v_total = np.bincount(l_vis, weights=amount, minlength=n_vis_all).round(2)
    vtype = np.where(kind[v_inst] == "pharmacy", "pharmacy", "outpatient")
    write("visits", {"visit_id": visit_id, "person_id": pers_id.take(pa.array(v_pers)),
                     "institution_id": inst_id.take(pa.array(v_inst)),
                     "physician_id": pc.if_else(pa.array(v_doc >= 0), doc_id.take(pa.array(np.maximum(v_doc, 0))),
                                                pa.scalar(None, pa.string())),
                     "visit_type": pa.array(vtype), "start_time": pa.array(v_time),
                     "total_amount": pa.array(v_total)})
    write("claim_lines", {"line_id": line_id, "visit_id": visit_id.take(pa.array(l_vis)),
                          "item_code": item_id.take(pa.array(l_item)), "quantity": pa.array(l_qty.astype(float)),
                          "unit_price": pa.array(price[l_item]), "amount": pa.array(amount)})
    scan = time_of_line[t_line] + rng.integers(0, 120, n_packs).astype("timedelta64[s]")
    scan_ok = rng.random(n_packs) >= 0.05
    write("drug_traces", {"line_id": line_id.take(pa.array(t_line)), "trace_code": code,
                          "scan_time": pa.array(np.where(scan_ok, scan, np.datetime64("NaT")), mask=~scan_ok),
                          "reversed": pa.array(reversed_)})
    # stock books of the pharmacies: every item they sold, bought each month -- except what the
    # outlets resold (their books never show those packs)
    ph_line = kind[inst_of_line] == "pharmacy"
    month = (time_of_line.astype("datetime64[M]") - T0.astype("datetime64[M]")).astype(np.int64)
    key = np.unique(inst_of_line[ph_line].astype(np.int64) * 10_000 + l_item[ph_line] * 16 + np.clip(month[ph_line], 0, 15))
    resold_key = set()
    for li, outlet, _ in resold:
        resold_key.add((outlet, extra_l[li][1]))
    ki, kitem, km = key // 10_000, (key % 10_000) // 16, key % 16
    drop = np.fromiter(((a, b) in resold_key for a, b in zip(ki, kitem)), dtype=bool, count=len(key))
    ki, kitem, km = ki[~drop], kitem[~drop], km[~drop]
    period = np.datetime_as_string((T0.astype("datetime64[M]") + km.astype("timedelta64[M]")), unit="M")
    write("inventory", {"institution_id": inst_id.take(pa.array(ki)), "item_code": item_id.take(pa.array(kitem)),
                        "period": pa.array(period.astype(object)), "qty_purchased": pa.array(rng.integers(5, 60, len(ki)).astype(float)),
                        "qty_opening": pa.array(rng.integers(0, 20, len(ki)).astype(float))})
    info = {"packs": int(n_packs), "lines": int(n_lines_all), "visits": int(n_vis_all), "persons": n_pers,
            "institutions": n_inst, "physicians": n_doc, "inventory": int(len(ki)), "rings": truth,
            "resold_packs": 2 * len(resold), "refunded_resold": int(ok.sum()), "scanner_repeats": int(len(scan_rows))}
    (out / "city.json").write_text(json.dumps(info), encoding="utf-8")
    return info


def _weights(kinds: np.ndarray, rng) -> np.ndarray:
    w = np.where(kinds == "hospital", 20.0, np.where(kinds == "community", 3.0, 1.0))
    return w / w.sum()


class _Picker:
    """A random member of each owner's group (-1 where the group is empty), vectorised."""

    def __init__(self, owner: np.ndarray, n: int, rng):
        order = np.argsort(owner, kind="stable")
        self.flat = order
        self.start = np.searchsorted(owner[order], np.arange(n))
        self.size = np.searchsorted(owner[order], np.arange(n), side="right") - self.start
        self.rng = rng

    def __call__(self, who: np.ndarray) -> np.ndarray:
        who = np.asarray(who)
        s = self.size[who]
        k = (self.rng.random(len(who)) * np.maximum(s, 1)).astype(np.int64)
        idx = np.minimum(self.start[who] + k, len(self.flat) - 1)
        return np.where(s > 0, self.flat[idx], -1)


# =========================================================================== phases (own process each)
def _engine(city: Path, memory_limit: str, threads: int):
    import duckdb

    from ringscope.graph.engine import Engine, _settings

    con = duckdb.connect()
    _settings(con, memory_limit, threads)
    for t in TABLES:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{city / (t + '.parquet')}')")
    return Engine(con, set(TABLES))


def phase_floor(city: Path, memory_limit: str, threads: int) -> dict:
    """DuckDB reads each file once, one group-by per table."""
    eng = _engine(city, memory_limit, threads)
    t0 = time.perf_counter()
    out = {}
    for name, key in (("drug_traces", "trace_code"), ("claim_lines", "visit_id"), ("visits", "institution_id"),
                      ("inventory", "institution_id, item_code")):
        out[name] = int(eng.con.execute(f"SELECT count(*) FROM (SELECT {key}, count(*) FROM {name} GROUP BY ALL)")
                        .fetchone()[0])
    return {"seconds": time.perf_counter() - t0, "groups": out}


def phase_analysis(city: Path, memory_limit: str, threads: int) -> dict:
    """The trace rules and the drug_resale detector, the large tables left in the engine."""
    import pandas as pd

    from ringscope.models.base import Context
    from ringscope.models.detectors.drug_resale import DrugResaleDetector
    from ringscope.models.rules import run_rules

    eng = _engine(city, memory_limit, threads)
    small = {t: pd.read_parquet(city / f"{t}.parquet") for t in SMALL}
    ctx = Context(tables=small, engine=eng)
    t0 = time.perf_counter()
    hits = run_rules(ctx, only=TRACE_RULES)
    t1 = time.perf_counter()
    det = DrugResaleDetector().fit(ctx)
    t2 = time.perf_counter()
    info = json.loads((city / "city.json").read_text(encoding="utf-8"))
    found = 0
    for r in info["rings"]:
        truth = {f"person:{p}" for p in r["collectors"]} | {f"institution:{o}" for o in r["outlets"]}
        found += any(len(truth & set(g.members)) * 2 >= len(truth) for g in det.groups_)
    return {"seconds": t2 - t0, "rules_seconds": t1 - t0, "detector_seconds": t2 - t1,
            "hits": hits["rule_id"].value_counts().to_dict(), "groups": len(det.groups_),
            "rings_found": found, "rings": len(info["rings"]),
            "repeat_lines_expected": info["resold_packs"] // 2}


def _child(phase: str, city: Path, memory_limit: str, threads: int) -> None:
    res = {"floor": phase_floor, "analysis": phase_analysis}[phase](city, memory_limit, threads)
    res["peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(res, default=str))


def _run(phase: str, city: Path, memory_limit: str, threads: int) -> dict:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    p = subprocess.run([sys.executable, __file__, "--phase", phase, "--city", str(city),
                        "--memory-limit", memory_limit, "--threads", str(threads)],
                       capture_output=True, text=True, env=env)
    line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
    if p.returncode or not line:
        raise RuntimeError(f"phase {phase} failed:\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
    return json.loads(line[-1][7:])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packs", type=int, default=10_000_000)
    ap.add_argument("--work", default="/tmp/traces-bench")
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--phase", choices=["floor", "analysis"], help=argparse.SUPPRESS)
    ap.add_argument("--city", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.phase:
        _child(a.phase, Path(a.city), a.memory_limit, a.threads)
        return 0
    city = Path(a.work) / f"city-{a.packs}"
    if not (city / "city.json").exists():
        t0 = time.perf_counter()
        info = generate(city, a.packs)
        print(f"# generated {city}: {info['packs']:,} packs, {info['lines']:,} lines, {info['visits']:,} settlements, "
              f"{info['inventory']:,} stock rows in {time.perf_counter() - t0:.0f}s", flush=True)
    info = json.loads((city / "city.json").read_text(encoding="utf-8"))
    floor = _run("floor", city, a.memory_limit, a.threads)
    ana = _run("analysis", city, a.memory_limit, a.threads)
    print(f"\ncity: {info['packs']:,} packs ({info['resold_packs']:,} resold by {len(info['rings'])} rings, "
          f"{info['refunded_resold']:,} refunded and sold again, {info['scanner_repeats']:,} scanner repeats), "
          f"{info['lines']:,} lines, {info['visits']:,} settlements; DuckDB memory_limit {a.memory_limit}, "
          f"{a.threads} threads\n")
    print("| phase | seconds | peak RSS MB | x floor time | x floor memory |")
    print("|---|---:|---:|---:|---:|")
    for name, r in (("columnar floor (read once, one group-by per table)", floor),
                    ("trace analysis (R-MGT-016/017/018 + drug_resale)", ana)):
        print(f"| {name} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | {r['seconds'] / floor['seconds']:.2f} | "
              f"{r['peak_rss_mb'] / floor['peak_rss_mb']:.2f} |")
    print(f"\nrules {ana['rules_seconds']:.1f}s, detector {ana['detector_seconds']:.1f}s; hits {ana['hits']}; "
          f"{ana['groups']} rings found, {ana['rings_found']}/{ana['rings']} planted rings matched")
    return 0


if __name__ == "__main__":
    sys.exit(main())
