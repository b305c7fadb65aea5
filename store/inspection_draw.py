"""The random-inspection draw (双随机、一公开): institutions and inspectors drawn by lot from the
lists, reproducibly, so that anyone holding the record can draw again and check.

Method (国务院办公厅《关于推广随机抽查规范事中事后监管的通知》, 国办发〔2015〕58号, 2015-07-29:
随机抽取检查对象、随机选派执法检查人员、抽查情况及查处结果及时向社会公开; with 国家医疗保障局
《医疗保障基金使用监督管理条例》(国务院令第735号, 2021) art. 27 and the 医保 random-inspection
practice of weighting part of a draw by risk, "双随机+风险"):

1. **The lists.** The institutions list (``institution_id, name, kind, level, ownership, district,
   risk``) and the inspectors list (``inspector_id, name, unit, bound``: the institutions an
   inspector is bound to -- their former employer, a relative's, one they supervise by
   agreement). Each list is put in canonical form (rows sorted by id, fixed columns, risk rounded
   to 6 decimals) and hashed (SHA-256 of its canonical JSON): :func:`list_hash`.
2. **Strata.** Institutions are grouped by ``strata`` (default kind and district). A draw of ``n``
   institutions is allocated to the strata in proportion to their sizes by the largest-remainder
   (Hamilton) method, ties broken by the strata's order.
3. **Risk share.** ``round(risk_share * n)`` of the draw is weighted by risk, allocated to the
   strata the same way in proportion to their allocation; the rest is uniform. In a stratum the
   risk-weighted picks come first, without replacement, with probability proportional to
   ``risk + risk_floor`` (successive sampling, :meth:`numpy.random.Generator.choice`); the uniform
   picks then come from the institutions left, each equally likely. ``risk`` is what the store
   read from the latest detection run: the institution's entity score combined (noisy-OR) with
   its strongest active early warning.
4. **Inspectors.** For each drawn institution in draw order, ``team_size`` (at least two:
   《医疗保障行政处罚程序暂行规定》, 国家医疗保障局令第4号, 执法人员不得少于两人) inspectors are drawn
   without replacement from those *not bound to that institution* (and under ``max_per_inspector``
   when set), uniformly among the eligible inspectors with the fewest inspections so far in this
   draw (then the next fewest, and so on), so workloads stay balanced; the team's order (the first
   named leads, 主办) is a random permutation.
5. **Randomness.** One :class:`numpy.random.Generator` (PCG64) seeded with the recorded ``seed``
   draws everything in the order above; strata in sorted order, institutions sorted by id, so
   the same seed, lists and parameters give the same draw on any machine with the same numpy
   major version (recorded). The result is hashed too (``result_sha256``).

:func:`verify` re-draws from a record (seed, lists, parameters) and reports any difference:
a list that no longer hashes to its recorded hash, a current list different from the recorded
one, or a re-draw that differs from the recorded picks.

>>> insts = [{"institution_id": f"H{i}", "kind": "hospital" if i < 6 else "pharmacy",
...           "district": "A" if i % 2 else "B", "risk": 0.9 if i == 3 else 0.1} for i in range(12)]
>>> insps = [{"inspector_id": f"X{j}", "name": f"检查员{j}", "bound": ["H1"] if j == 0 else []} for j in range(5)]
>>> rec = draw(insts, insps, DrawParams(n=4, risk_share=0.5), seed=20240601)
>>> [(p["institution_id"], p["method"], len(p["inspectors"])) for p in rec["picks"]]
[('H3', 'risk', 2), ('H2', 'risk', 2), ('H11', 'uniform', 2), ('H6', 'uniform', 2)]
>>> verify(rec).ok
True
>>> insps[1]["bound"] = ["H2"]
>>> verify(rec, inspectors=insps).reasons[0].endswith("(the list changed since the draw)")
True
"""
from __future__ import annotations

import hashlib
import json
import math
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["DrawParams", "DrawError", "VerifyReport", "draw", "verify", "list_hash", "canonical_institutions",
           "canonical_inspectors", "new_seed", "allocate", "METHOD", "INSTITUTION_FIELDS", "INSPECTOR_FIELDS"]

#: the method's name and version, recorded with every draw (a change to the algorithm bumps it)
METHOD = "ringscope.inspections/1"
INSTITUTION_FIELDS = ("institution_id", "name", "kind", "level", "ownership", "district", "risk")
INSPECTOR_FIELDS = ("inspector_id", "name", "unit", "bound")


class DrawError(ValueError):
    """A draw that cannot be made as asked (too few institutions or eligible inspectors, bad lists)."""


@dataclass(frozen=True)
class DrawParams:
    """What a draw is asked for: ``n`` institutions (else ``rate`` of the list), stratified by
    ``strata``, ``risk_share`` of them weighted by risk, teams of ``team_size`` inspectors."""

    n: int | None = None
    rate: float = 0.05
    strata: tuple[str, ...] = ("kind", "district")
    risk_share: float = 0.3
    risk_floor: float = 0.02
    team_size: int = 2
    max_per_inspector: int | None = None
    warning_weights: dict[str, float] = field(default_factory=lambda: {"red": 0.9, "orange": 0.6, "yellow": 0.3})

    def __post_init__(self):
        if self.n is not None and int(self.n) < 1:
            raise DrawError(f"n={self.n}: draw at least one institution")
        if not 0 < self.rate <= 1 or not 0 <= self.risk_share <= 1 or self.risk_floor <= 0:
            raise DrawError("need 0 < rate <= 1, 0 <= risk_share <= 1, risk_floor > 0")
        if int(self.team_size) < 2:
            raise DrawError(f"team_size={self.team_size}: an inspection needs at least two inspectors (执法人员两人以上)")
        object.__setattr__(self, "strata", tuple(self.strata))

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["strata"] = list(self.strata)
        return d


def new_seed() -> int:
    """A fresh seed from the operating system's entropy (63 bits, so it fits Neo4j's integers)."""
    return secrets.randbits(63)


def _s(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


def canonical_institutions(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The institutions list in canonical form: sorted by id, :data:`INSTITUTION_FIELDS` only,
    text as text, ``risk`` in [0, 1] rounded to 6 decimals. Duplicate or empty ids are errors."""
    out, seen = [], set()
    for r in rows:
        iid = _s(r.get("institution_id")).strip()
        if not iid:
            raise DrawError("institutions list: a row without institution_id")
        if iid in seen:
            raise DrawError(f"institutions list: {iid} listed twice")
        seen.add(iid)
        try:
            risk = float(r.get("risk") or 0.0)
        except (TypeError, ValueError):
            raise DrawError(f"institutions list: {iid} risk {r.get('risk')!r} is not a number") from None
        risk = 0.0 if not math.isfinite(risk) else min(1.0, max(0.0, risk))
        out.append({"institution_id": iid, "name": _s(r.get("name")), "kind": _s(r.get("kind")),
                    "level": _s(r.get("level")), "ownership": _s(r.get("ownership")),
                    "district": _s(r.get("district")), "risk": round(risk, 6)})
    return sorted(out, key=lambda r: r["institution_id"])


def canonical_inspectors(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The inspectors list in canonical form: sorted by id; ``bound`` a sorted list of ids
    (a ``;``-separated string is split)."""
    out, seen = [], set()
    for r in rows:
        xid = _s(r.get("inspector_id")).strip()
        if not xid:
            raise DrawError("inspectors list: a row without inspector_id")
        if xid in seen:
            raise DrawError(f"inspectors list: {xid} listed twice")
        seen.add(xid)
        b = r.get("bound") or []
        if isinstance(b, str):
            b = b.replace("；", ";").split(";")
        bound = sorted({_s(x).strip().removeprefix("institution:") for x in b if _s(x).strip()})
        out.append({"inspector_id": xid, "name": _s(r.get("name")), "unit": _s(r.get("unit")), "bound": bound})
    return sorted(out, key=lambda r: r["inspector_id"])


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def list_hash(rows: list[dict[str, Any]]) -> str:
    """SHA-256 of a canonical list (:func:`canonical_institutions` / :func:`canonical_inspectors`).

    >>> list_hash([{"a": 1}]) == list_hash([{"a": 1}]) != list_hash([{"a": 2}])
    True
    """
    return _sha(rows)


def allocate(total: int, sizes: list[float], caps: list[int] | None = None) -> list[int]:
    """``total`` split in proportion to ``sizes`` by the largest-remainder (Hamilton) method,
    each part at most its cap; ties go to the earlier part.

    >>> allocate(10, [50, 30, 20]), allocate(3, [1, 1, 1, 1]), allocate(5, [10, 1], caps=[3, 1])
    ([5, 3, 2], [1, 1, 1, 0], [3, 1])
    """
    caps = list(caps) if caps is not None else [total] * len(sizes)
    total = min(int(total), sum(caps))
    s = float(sum(sizes))
    if total <= 0 or s <= 0:
        return [0] * len(sizes)
    quota = [total * x / s for x in sizes]
    base = [min(int(math.floor(q)), c) for q, c in zip(quota, caps)]
    left = total - sum(base)
    while left > 0:
        order = sorted((i for i in range(len(sizes)) if base[i] < caps[i]),
                       key=lambda i: (-(quota[i] - base[i]), i))
        if not order:
            break
        for i in order[:left]:
            base[i] += 1
        left = total - sum(base)
    return base


def _result_hash(picks: list[dict[str, Any]]) -> str:
    return _sha([[p["seq"], p["institution_id"], p["method"], p["inspectors"]] for p in picks])


def draw(institutions: list[dict[str, Any]], inspectors: list[dict[str, Any]], params: DrawParams = DrawParams(),
         seed: int | None = None) -> dict[str, Any]:
    """Draw institutions and inspectors (see the module). Returns the record: ``draw_id``,
    ``seed``, ``method``, ``numpy``, ``params``, both lists and their hashes, ``strata`` (per
    stratum: its key, population, allocation, risk-weighted and uniform picks), ``picks`` (``seq,
    institution_id, name, kind, district, stratum, method, risk, inspectors``), ``result_sha256``."""
    insts = canonical_institutions(institutions)
    insps = canonical_inspectors(inspectors)
    if not insts:
        raise DrawError("institutions list: empty")
    seed = new_seed() if seed is None else int(seed)
    if not 0 <= seed < 2**63:
        raise DrawError(f"seed {seed}: an integer in [0, 2**63)")
    n = int(params.n) if params.n is not None else max(1, round(params.rate * len(insts)))
    if n > len(insts):
        raise DrawError(f"a draw of {n} institutions from a list of {len(insts)}")
    team = int(params.team_size)
    if len(insps) < team:
        raise DrawError(f"inspectors list: {len(insps)} inspector(s), teams of {team} needed")

    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in insts:
        groups.setdefault(tuple(r.get(s, "") for s in params.strata), []).append(r)
    keys = sorted(groups)
    sizes = [len(groups[k]) for k in keys]
    alloc = allocate(n, sizes, caps=sizes)
    n_risk = allocate(round(params.risk_share * n), alloc, caps=alloc)

    rng = np.random.default_rng(seed)
    picks: list[dict[str, Any]] = []
    strata_out = []
    for k, members, a, ar in zip(keys, (groups[k] for k in keys), alloc, n_risk):
        chosen: list[tuple[dict[str, Any], str]] = []
        pool = list(members)
        if ar > 0:
            w = np.array([m["risk"] + params.risk_floor for m in pool], dtype=float)
            idx = rng.choice(len(pool), size=ar, replace=False, p=w / w.sum())
            chosen += [(pool[i], "risk") for i in idx]
            taken = set(int(i) for i in idx)
            pool = [m for i, m in enumerate(pool) if i not in taken]
        if a - ar > 0:
            idx = rng.choice(len(pool), size=a - ar, replace=False)
            chosen += [(pool[i], "uniform") for i in idx]
        label = "/".join(k)
        for m, how in chosen:
            picks.append({"seq": len(picks) + 1, "institution_id": m["institution_id"], "name": m["name"],
                          "kind": m["kind"], "district": m["district"], "stratum": label, "method": how,
                          "risk": m["risk"], "inspectors": []})
        strata_out.append({"stratum": label, **{s: v for s, v in zip(params.strata, k)}, "population": len(members),
                           "allocated": a, "risk_weighted": ar, "uniform": a - ar})

    cap = int(params.max_per_inspector) if params.max_per_inspector else None
    load = {x["inspector_id"]: 0 for x in insps}
    bound = {x["inspector_id"]: set(x["bound"]) for x in insps}
    for p in picks:
        eligible = [x["inspector_id"] for x in insps
                    if p["institution_id"] not in bound[x["inspector_id"]] and (cap is None or load[x["inspector_id"]] < cap)]
        if len(eligible) < team:
            raise DrawError(f"institution {p['institution_id']}: {len(eligible)} eligible inspector(s) (not bound "
                            f"to it" + (f", under the cap of {cap} inspections each" if cap else "") + f"), {team} "
                            f"needed; list more inspectors" + (" or raise max_per_inspector" if cap else ""))
        chosen: list[str] = []
        for level in sorted({load[x] for x in eligible}):      # the least-loaded first: balanced workloads
            group = [x for x in eligible if load[x] == level]
            need = team - len(chosen)
            idx = rng.choice(len(group), size=min(need, len(group)), replace=False)
            chosen += [group[i] for i in idx]
            if len(chosen) == team:
                break
        p["inspectors"] = [chosen[i] for i in rng.permutation(team)]     # the first named leads (主办)
        for x in p["inspectors"]:
            load[x] += 1

    params_d = params.as_dict() | {"n": n}
    ih, xh = list_hash(insts), list_hash(insps)
    draw_id = "RI-" + _sha([METHOD, str(seed), ih, xh, params_d])[:12]
    return {"draw_id": draw_id, "method": METHOD, "numpy": np.__version__, "seed": str(seed), "params": params_d,
            "institutions_sha256": ih, "inspectors_sha256": xh, "n_institutions_listed": len(insts),
            "n_inspectors_listed": len(insps), "strata": strata_out, "picks": picks,
            "result_sha256": _result_hash(picks), "institutions": insts, "inspectors": insps}


@dataclass
class VerifyReport:
    """The outcome of :func:`verify`: ``ok`` and, when not, the ``reasons``."""

    ok: bool
    reasons: list[str]
    draw_id: str = ""
    result_sha256: str = ""

    def summary(self) -> str:
        if self.ok:
            return f"{self.draw_id}: 复核一致 verified (result {self.result_sha256[:16]})"
        return f"{self.draw_id}: 复核不一致 NOT verified\n" + "\n".join(f"  - {r}" for r in self.reasons)


def verify(record: dict[str, Any], *, institutions: list[dict[str, Any]] | None = None,
           inspectors: list[dict[str, Any]] | None = None) -> VerifyReport:
    """Re-draw from ``record`` and compare. ``institutions``/``inspectors``: the lists as one holds
    them now (a published file, the store); each must hash to the recorded hash."""
    reasons: list[str] = []
    did = str(record.get("draw_id", ""))
    for what, key, canon, current in (("institutions", "institutions_sha256", canonical_institutions, institutions),
                                      ("inspectors", "inspectors_sha256", canonical_inspectors, inspectors)):
        want = record.get(key)
        try:
            inner = list_hash(canon(record.get(what) or []))
        except DrawError as e:
            reasons.append(f"{what} list in the record: {e}")
            continue
        if inner != want:
            reasons.append(f"{what} list in the record: its hash {inner[:12]} differs from the recorded {str(want)[:12]}")
        if current is not None:
            try:
                now = list_hash(canon(current))
            except DrawError as e:
                reasons.append(f"{what} list given: {e}")
                continue
            if now != want:
                reasons.append(f"{what} list: its hash {now[:12]} differs from the recorded {str(want)[:12]} "
                               f"(the list changed since the draw)")
    if str(record.get("method")) != METHOD:
        reasons.append(f"method {record.get('method')!r}: this version re-draws {METHOD!r} only")
    p = dict(record.get("params") or {})
    try:
        params = DrawParams(**{k: (tuple(v) if k == "strata" else v) for k, v in p.items()})
        again = draw(record.get("institutions") or [], record.get("inspectors") or [], params,
                     seed=int(record.get("seed")))
    except (DrawError, TypeError, ValueError) as e:
        reasons.append(f"re-draw failed: {e}")
        return VerifyReport(False, reasons, did)
    if again["draw_id"] != did:
        reasons.append(f"draw id: re-drawn {again['draw_id']}, recorded {did}")
    if again["result_sha256"] != record.get("result_sha256"):
        reasons.append(f"result: re-drawn {again['result_sha256'][:12]}, recorded {str(record.get('result_sha256'))[:12]}")
    rec_picks = [(q["institution_id"], q["method"], list(q["inspectors"])) for q in record.get("picks") or []]
    new_picks = [(q["institution_id"], q["method"], q["inspectors"]) for q in again["picks"]]
    if rec_picks != new_picks:
        diff = next((i for i, (a, b) in enumerate(zip(rec_picks, new_picks)) if a != b), min(len(rec_picks), len(new_picks)))
        reasons.append(f"picks differ from number {diff + 1} on ({len(rec_picks)} recorded, {len(new_picks)} re-drawn)")
    if record.get("numpy") and str(record["numpy"]).split(".")[0] != np.__version__.split(".")[0] and reasons:
        reasons.append(f"drawn with numpy {record['numpy']}, re-drawn with {np.__version__}")
    return VerifyReport(not reasons, reasons, did, again["result_sha256"])
