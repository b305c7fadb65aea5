"""How families are registered in ``family_links``: stars, chains, and pairs bound twice.

The city's families (spouses, parents and children, working children who
register their parents, proxies for the elderly -- see docs/city-model.md §1) are
registered the way bureaus' exports show them (issue 13, data contract
``family_links``):

* **pairwise**: every parent bound to every child (the original form);
* **star**: one account holder (the employee parent, else either) bound to the
  spouse and to each child -- the other parent is linked to the children only
  through the holder;
* **chain**: each child bound to one parent only, alternating (A–B, B–C: the
  first child hangs off the parent who is not the holder), so a child and the
  parent whose account pays may be two links apart.

A household is the connected set of persons linked by family relations (spouse,
child, parent), whatever the shape: the payer of a family-shared settlement is
always in the card holder's household, though not always directly linked.
Some pairs are bound under two relations -- an elderly parent's proxy who is
also their registered child gets a ``proxy`` and a ``child`` row (the table is
keyed by ``(person_id, related_person_id, relation)``).

Drawn on a stream of its own (``households``); with ``shapes: {pairwise: 1}`` and
``dual_binding_share: 0`` the rows are exactly the original ones.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from ringscope.synth.generator import _City

__all__ = ["registered"]


def registered(city: "_City") -> pd.DataFrame:
    """The family_links rows (columns ``a``, ``b``, ``rel``, person indices)."""
    cfg = city.cfg["households"]
    fl = city.family
    sh = cfg["shapes"]
    shares = np.array([float(sh.get("pairwise", 0)), float(sh.get("star", 0)), float(sh.get("chain", 0))])
    dual = float(cfg.get("dual_binding_share", 0.0))
    if shares[1] + shares[2] == 0 and dual == 0:
        return fl
    rng = city.stream("households")
    a, b, rel = fl.a.to_numpy(), fl.b.to_numpy(), fl.rel.to_numpy(object)
    keep = np.ones(len(fl), dtype=bool)
    if shares[1] + shares[2] > 0:
        sp = rel == "spouse"
        h, w = a[sp], b[sp]                      # couples: husband, wife
        nc = len(h)
        shape = rng.choice(3, size=nc, p=shares / shares.sum())
        emp_h, emp_w = city.p_employee[h], city.p_employee[w]
        center = np.where(emp_h & ~emp_w, h, np.where(emp_w & ~emp_h, w, np.where(rng.random(nc) < 0.5, h, w)))
        other = np.where(center == h, w, h)
        couple_of = np.full(city.N, -1, dtype=np.int64)
        couple_of[h] = np.arange(nc)
        ch = np.flatnonzero(rel == "child")
        parent, kid = a[ch], b[ch]
        cpl = couple_of[np.clip(city.p_father[kid], 0, None)]
        cpl = np.where(city.p_father[kid] >= 0, cpl, -1)
        has = cpl >= 0
        # rank of each child within its couple (by person index)
        order = np.lexsort((kid, cpl))
        rank = np.zeros(len(kid), dtype=np.int64)
        sc = cpl[order]
        sk = kid[order]
        newkid = np.r_[True, (sc[1:] != sc[:-1]) | (sk[1:] != sk[:-1])]
        newcpl = np.r_[True, sc[1:] != sc[:-1]]
        kid_no = np.cumsum(newkid) - 1
        first_of_cpl = np.maximum.accumulate(np.where(newcpl, kid_no, 0))
        rank[order] = kid_no - first_of_cpl
        c = np.clip(cpl, 0, None)
        # a child whose row to one parent gave way to a proxy row keeps the other (as registered)
        n_rows = np.bincount(kid, minlength=city.N)[kid]
        s_ = np.where(has & (n_rows >= 2), shape[c], 0)
        star_ok = parent == center[c]
        chain_ok = parent == np.where(rank % 2 == 0, other[c], center[c])
        keep[ch] = ~has | (s_ == 0) | ((s_ == 1) & star_ok) | ((s_ == 2) & chain_ok)
        city.truth.confounders["households_star"] = int((shape == 1).sum())
        city.truth.confounders["households_chain"] = int((shape == 2).sum())
    out = fl[keep]
    if dual > 0:
        px = np.flatnonzero(rel == "proxy")
        el, helper = a[px], b[px]
        kin = (city.p_father[helper] == el) | (city.p_mother[helper] == el)
        # bound twice: a share of them, and always where one's account pays for the other
        pays = (city.p_fampayer[helper] == el) | (city.p_fampayer[el] == helper)
        two = px[kin & ((rng.random(len(px)) < dual) | pays)]
        extra = pd.DataFrame({"a": a[two], "b": b[two], "rel": "child"})
        out = pd.concat([out, extra], ignore_index=True)
        city.truth.confounders["dual_bindings"] = len(two)
    return out.reset_index(drop=True)
