"""Drift injection for early-warning tests and benchmarks: copy a dataset and make a few
institutions and physicians drift from a month on, writing ``truth/drift.csv``.

The project's own generator is gaining drifting institutions (another developer, ``synth/``);
until then, and on the other generators' cities, this helper plants drift into any dataset in
the contract's shape, so ``early_warning`` can be measured (``bench/bench_warnings.py``) and
tested (``tests/test_early_warning.py``). It edits the raw CSV text and keeps every other value
as written.

What a drift does, from its ``first_period`` on, to the entity's own settlements (an
institution's with its own physicians or none; a physician's at the institution they practise
at -- so no one else drifts with them):

=====================  ==================================================================
indicator              what changes
=====================  ==================================================================
cost_per_visit         outpatient and pharmacy settlements and their lines priced x f
drug_share             an extra drug line worth a share of the settlement
material_share         an extra material line worth a share of the settlement
exam_share             an extra examination line (a service named as a test)
high_value_share       an extra line of the dearest drug or material of the catalogue
visits_per_patient     extra settlements: the same person back a few days later
avg_los                stays lengthened x f
readmission_15d        stays repeated a few days after discharge
fund_share             pooled-fund payment raised toward the total
=====================  ==================================================================

Entities that take part in fraud (``truth/entities.csv``) are never picked, so the truth keeps
drift and fraud apart; nor are the physicians of a picked institution or the institution of a
picked physician (their drift would be the same drift).

    .venv/bin/python bench/drift.py SRC DST --institutions 5 --physicians 5 --seed 1
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["inject_drift", "DRIFTS"]

DRIFTS = ("cost_per_visit", "drug_share", "material_share", "exam_share", "high_value_share", "visits_per_patient",
          "avg_los", "readmission_15d", "fund_share")
_INPATIENT = {"avg_los", "readmission_15d"}
_EXAM_WORDS = ("检查", "检验", "测定", "CT", "超声", "磁共振", "心电图", "DR", "分析", "常规")


def _read(d: Path, name: str) -> pd.DataFrame | None:
    """A table as text (CSV as written; Parquet turned into the CSV form: lists joined by ';')."""
    p = d / f"{name}.csv"
    if p.exists():
        return pd.read_csv(p, dtype=str, keep_default_na=False)
    q = d / f"{name}.parquet"
    if not q.exists():
        return None
    df = pd.read_parquet(q)
    out = pd.DataFrame(index=df.index)
    for c in df.columns:
        col = df[c]
        out[c] = [("" if v is None or (not isinstance(v, (list, tuple, np.ndarray, str)) and pd.isna(v))
                   else ";".join(map(str, v)) if isinstance(v, (list, tuple, np.ndarray))
                   else v.isoformat() if isinstance(v, pd.Timestamp) else str(v)) for v in col]
    return out


def _write(d: Path, name: str, df: pd.DataFrame) -> None:
    (d / f"{name}.parquet").unlink(missing_ok=True)    # one form per table
    df.to_csv(d / f"{name}.csv", index=False)


def _num(s: pd.Series) -> np.ndarray:
    return pd.to_numeric(s.replace("", np.nan), errors="coerce").to_numpy(dtype=float)


def _money(x: np.ndarray) -> list[str]:
    return [f"{v:.2f}" for v in np.round(x, 2)]


def inject_drift(src: str | Path, dst: str | Path, *, institutions: int = 4, physicians: int = 4, seed: int = 0,
                 drifts: tuple[str, ...] = DRIFTS, strength: float = 1.0, min_monthly: int = 25) -> pd.DataFrame:
    """Copy the CSV dataset ``src`` to ``dst`` with drift planted; returns (and writes as
    ``dst/truth/drift.csv``) the contract's ``entity_type, entity_id, indicator, first_period``.

    ``strength`` scales every change (1.0: cost x1.6, +25% of the amount in an extra line,
    +50% settlements, stays x1.7, ...); ``min_monthly``: settlements a month an entity needs to
    be picked (a drift must be measurable to be asked for)."""
    src, dst = Path(src), Path(dst)
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    rng = np.random.default_rng(seed)
    visits = _read(dst, "visits")
    lines = _read(dst, "claim_lines")
    catalog = _read(dst, "catalog")
    phys = _read(dst, "physicians")
    truth = _read(dst / "truth", "entities")
    fraud = set() if truth is None else set(zip(truth["entity_type"], truth["entity_id"]))
    visits["_t"] = pd.to_datetime(visits["start_time"])
    visits["_period"] = visits["_t"].dt.strftime("%Y-%m")
    periods = sorted(visits["_period"].unique())
    if len(periods) < 8:
        raise ValueError(f"{src}: {len(periods)} months; drift needs at least 8")
    lo, hi = len(periods) // 3, len(periods) - 3     # a third of the span before, three months after
    # candidates: enough monthly volume, not in fraud
    picks: list[tuple[str, str, str]] = []
    taken_inst: set[str] = set()
    taken_phys: set[str] = set()
    inst_of = dict(zip(phys["physician_id"], phys["institution_id"])) if phys is not None else {}
    own = visits["physician_id"].map(inst_of).fillna("")
    # the shares an entity has before any drift: a share drift needs room to rise
    lv = lines[["visit_id", "item_code", "amount"]].merge(catalog[["item_code", "item_type", "name"]],
                                                          on="item_code", how="left")
    lv["_a"] = _num(lv["amount"])
    lv["_hv"] = lv["item_code"].isin(set(_dearest(catalog, lines)["item_code"]))
    lv["_exam"] = (lv["item_type"] == "service") & lv["name"].fillna("").str.contains("|".join(_EXAM_WORDS))
    for et, key, n_pick in (("institution", "institution_id", institutions), ("physician", "physician_id", physicians)):
        mine = ((visits["physician_id"] == "") | (own == visits["institution_id"])) if et == "institution" \
            else (visits["institution_id"] == visits["physician_id"].map(inst_of))
        v = visits[(visits[key] != "") & mine]
        vol = v.groupby([key, "_period"]).size().groupby(level=0).median()
        ip = v[v["visit_type"] == "inpatient"].groupby(key).size()
        x = lv.merge(v[["visit_id", key]], on="visit_id")
        tot = x.groupby(key)["_a"].sum().clip(lower=0.01)
        shares = {"drug_share": x[x["item_type"] == "drug"].groupby(key)["_a"].sum() / tot,
                  "material_share": x[x["item_type"] == "material"].groupby(key)["_a"].sum() / tot,
                  "exam_share": x[x["_exam"]].groupby(key)["_a"].sum() / tot,
                  "high_value_share": x[x["_hv"]].groupby(key)["_a"].sum() / tot}
        cand = [e for e in vol[vol >= min_monthly].index if (et, e) not in fraud]
        rng.shuffle(cand)
        for e in cand:
            if sum(1 for p in picks if p[0] == et) >= n_pick:
                break
            if et == "physician" and (e in taken_phys or inst_of.get(e) in taken_inst):
                continue
            if et == "institution" and e in taken_inst:
                continue
            choices = [d for d in drifts if (d not in _INPATIENT or ip.get(e, 0) >= 4 * len(periods))
                       and (d not in shares or shares[d].get(e, 0.0) < 0.5)]
            if not choices:
                continue
            d = choices[int(rng.integers(len(choices)))]
            first = periods[int(rng.integers(lo, hi + 1))]
            picks.append((et, e, d, first))
            if et == "institution":
                taken_inst.add(e)
                taken_phys.update(p for p, i in inst_of.items() if i == e)
            else:
                taken_phys.add(e)
                taken_inst.add(inst_of.get(e, ""))
    new_visits, new_lines = [], []
    for k, (et, e, d, first) in enumerate(picks):
        key = "institution_id" if et == "institution" else "physician_id"
        # only the entity's own settlements: a physician's at the institution they practise at, an
        # institution's with its own physicians or none (an external prescription filled at a pharmacy
        # is also the prescriber's, who must not drift with it)
        own = visits["physician_id"].map(inst_of).fillna("")
        if et == "institution":
            mine = (visits["physician_id"] == "") | (own == e)
        else:
            mine = visits["institution_id"] == inst_of.get(e, "")
        m = (visits[key] == e) & (visits["_period"] >= first) & mine
        nv, nl = _apply(d, m, visits, lines, catalog, rng, strength, tag=f"DRIFT{k:02d}")
        new_visits.append(nv)
        new_lines.append(nl)
    visits = pd.concat([visits, *new_visits], ignore_index=True)
    lines = pd.concat([lines, *new_lines], ignore_index=True)
    _write(dst, "visits", visits.drop(columns=["_t", "_period"]))
    _write(dst, "claim_lines", lines)
    out = pd.DataFrame(picks, columns=["entity_type", "entity_id", "indicator", "first_period"])
    (dst / "truth").mkdir(exist_ok=True)
    out.to_csv(dst / "truth" / "drift.csv", index=False)
    return out


def _scale_visits(visits: pd.DataFrame, m: pd.Series, f: float | np.ndarray, lines: pd.DataFrame) -> None:
    idx = visits.index[m]
    for c in ("total_amount", "fund_paid", "account_paid"):
        if c in visits.columns:
            v = _num(visits.loc[idx, c])
            ok = np.isfinite(v)
            vals = np.where(ok, v * f, np.nan)
            visits.loc[idx, c] = [s if not o else x for s, o, x in zip(visits.loc[idx, c], ok, _money(vals))]
    lm = lines["visit_id"].isin(set(visits.loc[idx, "visit_id"]))
    fv = pd.Series(np.broadcast_to(np.asarray(f, dtype=float), len(idx)), index=visits.loc[idx, "visit_id"].to_numpy())
    fl = fv.reindex(lines.loc[lm, "visit_id"]).to_numpy()
    for c in ("unit_price", "amount"):
        lines.loc[lm, c] = _money(_num(lines.loc[lm, c]) * fl)


def _add_line(visits: pd.DataFrame, lines: pd.DataFrame, idx: pd.Index, item: pd.Series, share: float,
              tag: str) -> pd.DataFrame:
    """A line of ``item`` on each settlement ``idx`` worth ``share`` of its amount (at least one unit)."""
    total = _num(visits.loc[idx, "total_amount"])
    price = float(item["_price"])
    qty = np.maximum(1, np.round(total * share / price))
    amt = qty * price
    rows = pd.DataFrame({c: "" for c in lines.columns}, index=range(len(idx)))
    rows["line_id"] = [f"{tag}-{i:06d}" for i in range(len(idx))]
    rows["visit_id"] = visits.loc[idx, "visit_id"].to_numpy()
    rows["item_code"] = item["item_code"]
    rows["quantity"] = [f"{q:g}" for q in qty]
    rows["unit_price"] = f"{price:.2f}"
    rows["amount"] = _money(amt)
    if "service_time" in rows.columns:
        rows["service_time"] = visits.loc[idx, "start_time"].to_numpy()
    f = (total + amt) / np.maximum(total, 0.01)
    for c in ("total_amount", "fund_paid"):
        if c in visits.columns:
            v = _num(visits.loc[idx, c])
            visits.loc[idx, c] = [s if not np.isfinite(x) else y for s, x, y in
                                  zip(visits.loc[idx, c], v, _money(np.where(np.isfinite(v), v * f, 0.0)))]
    return rows


def _dearest(catalog: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    """The three dearest drugs or materials of the catalogue (cap, else median billed price)."""
    billed = lines.assign(_p=_num(lines["unit_price"])).groupby("item_code")["_p"].median()
    cat = catalog.copy()
    cap = cat["price_cap"] if "price_cap" in cat.columns else pd.Series([""] * len(cat), index=cat.index)
    cat["_price"] = pd.Series(_num(cap), index=cat.index).fillna(cat["item_code"].map(billed))
    return cat[cat["item_type"].isin(["drug", "material"]) & (cat["_price"] > 0)].nlargest(3, "_price")


def _apply(d: str, m: pd.Series, visits: pd.DataFrame, lines: pd.DataFrame, catalog: pd.DataFrame,
           rng: np.random.Generator, strength: float, tag: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    no_v, no_l = visits.iloc[:0].copy(), lines.iloc[:0].copy()
    amb = m & (visits["visit_type"] != "inpatient")
    inp = m & (visits["visit_type"] == "inpatient")
    cat = catalog.copy()
    billed = lines.assign(_p=_num(lines["unit_price"])).groupby("item_code")["_p"].median()
    cat["_price"] = pd.Series(_num(cat.get("price_cap", pd.Series([""] * len(cat)))), index=cat.index) \
        .fillna(cat["item_code"].map(billed))
    cat = cat[cat["_price"] > 0]
    if d == "cost_per_visit":
        _scale_visits(visits, amb, 1 + 0.6 * strength, lines)
        return no_v, no_l
    if d in ("drug_share", "material_share", "exam_share", "high_value_share"):
        if d == "drug_share":
            pool = cat[cat["item_type"] == "drug"]
            pool = pool[pool["_price"] <= pool["_price"].quantile(0.8)]
        elif d == "material_share":
            pool = cat[cat["item_type"] == "material"]
        elif d == "exam_share":
            pool = cat[(cat["item_type"] == "service") & cat["name"].str.contains("|".join(_EXAM_WORDS))]
        else:
            pool = _dearest(catalog, lines)
        if pool.empty:
            return no_v, no_l
        item = pool.iloc[int(rng.integers(len(pool)))]
        target = m if d == "high_value_share" else amb
        idx = visits.index[target]
        if d == "high_value_share":
            idx = idx[rng.random(len(idx)) < min(1.0, 0.3 * strength)]
        return no_v, _add_line(visits, lines, idx, item, 0.35 * strength, tag)
    if d == "fund_share":
        idx = visits.index[m]
        tot, fund = _num(visits.loc[idx, "total_amount"]), _num(visits.loc[idx, "fund_paid"])
        ok = np.isfinite(fund)
        new = np.minimum(tot, fund + (tot - fund) * min(0.9, 0.6 * strength))
        visits.loc[idx, "fund_paid"] = [s if not o else x for s, o, x in zip(visits.loc[idx, "fund_paid"], ok, _money(new))]
        if "account_paid" in visits.columns:
            acc = _num(visits.loc[idx, "account_paid"])
            acc2 = np.maximum(0.0, np.minimum(acc, tot - new))
            visits.loc[idx, "account_paid"] = [s if not np.isfinite(a) else x for s, a, x in
                                               zip(visits.loc[idx, "account_paid"], acc, _money(acc2))]
        return no_v, no_l
    if d == "avg_los":
        idx = visits.index[inp]
        t0, t1 = pd.to_datetime(visits.loc[idx, "start_time"]), pd.to_datetime(visits.loc[idx, "end_time"])
        los = (t1 - t0).dt.total_seconds() / 86400
        new_end = t0 + pd.to_timedelta(np.maximum(los * (1 + 0.7 * strength), los + 2), unit="D")
        visits.loc[idx, "end_time"] = new_end.dt.strftime("%Y-%m-%dT%H:%M:%S").where(t1.notna(), "")
        return no_v, no_l
    # extra settlements: visits_per_patient (the same person back days later) or readmission_15d
    src = visits.index[amb if d == "visits_per_patient" else inp]
    share = min(1.0, (0.5 if d == "visits_per_patient" else 0.35) * strength)
    src = src[rng.random(len(src)) < share]
    if len(src) == 0:
        return no_v, no_l
    nv = visits.loc[src].copy()
    if d == "visits_per_patient":
        shift = pd.to_timedelta(rng.integers(2, 9, len(src)), unit="D")
        base = pd.to_datetime(nv["start_time"])
    else:
        shift = pd.to_timedelta(rng.integers(2, 12, len(src)), unit="D")
        end = pd.to_datetime(nv["end_time"].replace("", np.nan))
        base = end.fillna(pd.to_datetime(nv["start_time"]))
        los = (end - pd.to_datetime(nv["start_time"])).fillna(pd.Timedelta(days=3))
    start = base + shift
    old_ids = nv["visit_id"].to_numpy()
    nv["visit_id"] = [f"{tag}-V{i:06d}" for i in range(len(nv))]
    nv["start_time"] = start.dt.strftime("%Y-%m-%dT%H:%M:%S").to_numpy()
    if d == "readmission_15d":
        nv["end_time"] = (start + los).dt.strftime("%Y-%m-%dT%H:%M:%S").to_numpy()
    elif "end_time" in nv.columns:
        nv["end_time"] = np.where(nv["end_time"] != "", nv["start_time"], "")
    if "terminal_id" in nv.columns:
        nv["terminal_id"] = nv["terminal_id"]
    keep = start.dt.strftime("%Y-%m").to_numpy() <= visits["_period"].max()
    nv = nv[keep]
    old_ids = old_ids[keep]
    id_map = dict(zip(old_ids, nv["visit_id"]))
    time_map = dict(zip(nv["visit_id"], nv["start_time"]))
    nl = lines[lines["visit_id"].isin(id_map)].copy()
    nl["visit_id"] = nl["visit_id"].map(id_map)
    nl["line_id"] = [f"{tag}-L{i:07d}" for i in range(len(nl))]
    if "service_time" in nl.columns:
        nl["service_time"] = np.where(nl["service_time"] != "", nl["visit_id"].map(time_map), "")
    return nv.drop(columns=["_t", "_period"]).assign(_t=pd.NaT, _period=""), nl


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--institutions", type=int, default=4)
    ap.add_argument("--physicians", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--strength", type=float, default=1.0)
    a = ap.parse_args(argv)
    print(inject_drift(a.src, a.dst, institutions=a.institutions, physicians=a.physicians, seed=a.seed,
                       strength=a.strength).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
