"""Shared, vectorised projections of the dataset that the rules read.

Every rule reads the same few joined tables; building them once (and caching
them in ``Context.cache``) keeps the whole library at a small multiple of the
time needed merely to read the data. Everything here works on whole columns
(pandas/numpy); nothing iterates over visits or claim lines in Python.

- :attr:`Frames.visits` -- one row per settlement, with the institution's kind,
  district and face terminal, the person's sex, birth and death dates, chronic
  conditions and the person's age at the visit;
- :attr:`Frames.lines` -- one row per claim line with its visit's parties and
  the catalog entry of its item (limits, class, type);
- helpers: ICD-10 code normalisation, exploded code lists, robust z-scores
  (median/MAD, Iglewicz & Hoaglin 1993), integer age in years.
"""
from __future__ import annotations

from functools import cached_property, wraps
from typing import Any, Callable

import numpy as np
import pandas as pd

from ringscope.ingest.vocab import col_or
from ringscope.models.base import Context

__all__ = [
    "Frames",
    "frames_for",
    "norm_code",
    "explode_codes",
    "robust_z",
    "age_years",
    "money",
    "num",
]

_CACHE_KEY = "rules.frames"


def norm_code(s: pd.Series) -> pd.Series:
    """Normalise ICD-10 codes: upper case, no dots or blanks.

    >>> norm_code(pd.Series(["e11.9", " I10 "])).tolist()
    ['E119', 'I10']
    """
    codes, uniq = pd.factorize(s.astype(str))     # a city's codes repeat: normalise each distinct one once
    norm = pd.Series(uniq).str.upper().str.replace(r"[.\s]", "", regex=True).to_numpy(dtype=object)
    return pd.Series(norm[codes] if len(codes) else np.array([], dtype=object), index=s.index, dtype=object)


def explode_codes(df: pd.DataFrame, id_col: str, list_col: str, out_col: str = "code") -> pd.DataFrame:
    """Long frame ``(id_col, out_col)`` from a column of tuples of codes.

    >>> d = pd.DataFrame({"v": ["a", "b"], "dx": [("E11.9", "I10"), ()]})
    >>> explode_codes(d, "v", "dx").values.tolist()
    [['a', 'E119'], ['a', 'I10']]
    """
    if list_col not in df.columns or df.empty:
        return pd.DataFrame({id_col: pd.Series(dtype=object), out_col: pd.Series(dtype=object)})
    col = df[list_col]
    # tolerate plain strings ("E11;I10") as well as the contract's tuples
    col = col.map(_as_tuple) if col.map(type).eq(str).any() else col
    e = pd.DataFrame({id_col: df[id_col].to_numpy(), out_col: col.to_numpy()}).explode(out_col)
    e = e[e[out_col].notna()]
    e[out_col] = norm_code(e[out_col])
    e = e[e[out_col] != ""]
    return e.drop_duplicates().reset_index(drop=True)


def _as_tuple(x: object) -> tuple:
    if isinstance(x, str):
        return tuple(p.strip() for p in x.split(";") if p.strip())
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return ()
    return tuple(x)  # type: ignore[arg-type]


def robust_z(x: pd.Series, by: pd.Series | list[pd.Series] | None = None) -> pd.Series:
    """Modified z-score ``0.6745 (x - median) / MAD`` within groups.

    Where the MAD is 0 the mean absolute deviation (times 1.2533) is used
    instead, and where that is 0 too the score is 0 (Iglewicz & Hoaglin,
    *How to Detect and Handle Outliers*, ASQC 1993).

    >>> robust_z(pd.Series([1.0, 1.1, 0.9, 1.0, 10.0])).round(1).tolist()
    [0.0, 0.7, -0.7, 0.0, 60.7]
    """
    x = x.astype(float)
    if by is None:
        med = pd.Series(x.median(), index=x.index)
    else:
        med = x.groupby(by).transform("median")
    dev = (x - med).abs()
    mad = dev.groupby(by).transform("median") if by is not None else pd.Series(dev.median(), index=x.index)
    meanad = dev.groupby(by).transform("mean") if by is not None else pd.Series(dev.mean(), index=x.index)
    z_mad = 0.6745 * (x - med) / mad.where(mad > 0)
    z_mean = (x - med) / (1.2533 * meanad.where(meanad > 0))
    return z_mad.fillna(z_mean).fillna(0.0)


def age_years(birth: pd.Series, at: pd.Series) -> pd.Series:
    """Completed years of age at ``at`` (birthday not yet reached = one less).

    >>> age_years(pd.Series(pd.to_datetime(["2000-06-15"])), pd.Series(pd.to_datetime(["2018-06-14"]))).tolist()
    [17.0]
    """
    b = pd.to_datetime(birth)
    a = pd.to_datetime(at)
    years = a.dt.year - b.dt.year
    before = (a.dt.month < b.dt.month) | ((a.dt.month == b.dt.month) & (a.dt.day < b.dt.day))
    return (years - before.astype(int)).astype(float)


def money(s: pd.Series) -> pd.Series:
    """Money as text with 2 decimals (for evidence strings)."""
    return s.astype(float).round(2).map("{:.2f}".format).astype(object)


def num(s: pd.Series) -> pd.Series:
    """A quantity as short text: integers without decimals."""
    f = s.astype(float)
    return f.round(2).astype(str).astype(object).str.replace(r"\.0$", "", regex=True)


def _citywide(fn: Callable[[Any], Any]) -> cached_property:
    """A :class:`Frames` property of the whole-city tables (persons, catalog, households...): a
    bucket's frames take it from the city's (``Frames.city``), built once for all buckets."""
    @wraps(fn)
    def get(self: "Frames") -> Any:
        return getattr(self.city, fn.__name__) if self.city is not None else fn(self)
    return cached_property(get)


class Frames:
    """Cached joins of the contract tables, built lazily and shared by all rules.

    ``city``: the whole city's frames, when these are a bucket's (the tables a bucket does not
    split -- persons, institutions, physicians, catalog, family links -- are the city's, so what is
    derived from them alone is built once, not once per bucket).
    """

    def __init__(self, ctx: Context, city: "Frames | None" = None):
        self.ctx = ctx
        self.city = city
        self.memo: dict[str, object] = {}   # intermediate results shared by sibling rules

    def sql(self, name: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """A rule's query ``graph/sql/<name>.sql`` run by the columnar engine over the whole
        city (peer groups need every row; only the hits come back)."""
        return self.ctx.columnar.query(name, params)

    # -- raw tables, with optional columns filled in -------------------------------
    def table(self, name: str) -> pd.DataFrame:
        return self.ctx.table(name)

    def has(self, name: str) -> bool:
        return self.ctx.has(name)

    @_citywide
    def institutions(self) -> pd.DataFrame:
        i = self.table("institutions").copy()
        for c in ("district", "kind", "name"):
            i[c] = col_or(i, c)
        i["has_face_terminal"] = col_or(i, "has_face_terminal", dtype="boolean").astype("boolean")
        return i

    @_citywide
    def persons(self) -> pd.DataFrame:
        p = self.table("persons").copy()
        p["death_date"] = pd.to_datetime(col_or(p, "death_date", dtype="datetime64[ns]"))
        p["chronic_conditions"] = col_or(p, "chronic_conditions")
        p["district"] = col_or(p, "district")
        return p

    @_citywide
    def catalog(self) -> pd.DataFrame:
        c = self.table("catalog").copy()
        for name, dt in (("insurance_class", "object"), ("price_cap", "float64"), ("sex_limit", "object"),
                         ("age_min", "float64"), ("age_max", "float64"), ("indication_prefixes", "object"),
                         ("max_days_supply", "float64"), ("max_qty_per_visit", "float64")):
            c[name] = col_or(c, name, dtype=dt)
        for name in ("price_cap", "age_min", "age_max", "max_days_supply", "max_qty_per_visit"):
            c[name] = pd.to_numeric(c[name], errors="coerce").astype(float)
        return c

    @cached_property
    def visits(self) -> pd.DataFrame:
        v = self.table("visits")
        keep = ["visit_id", "person_id", "institution_id", "physician_id", "visit_type", "start_time",
                "end_time", "diagnosis_codes", "total_amount", "fund_paid", "account_paid",
                "payer_person_id", "terminal_id"]
        v = pd.DataFrame({c: col_or(v, c) for c in keep})
        for c in ("start_time", "end_time"):
            v[c] = pd.to_datetime(v[c])
        for c in ("total_amount", "fund_paid", "account_paid"):
            v[c] = pd.to_numeric(v[c], errors="coerce").astype(float)
        inst = self.institutions[["institution_id", "kind", "district", "has_face_terminal"]].rename(
            columns={"district": "inst_district"})
        v = v.merge(inst, on="institution_id", how="left")
        per = self.persons[["person_id", "sex", "birth_date", "death_date", "chronic_conditions"]]
        v = v.merge(per, on="person_id", how="left")
        v["age"] = age_years(v["birth_date"], v["start_time"])
        v["day"] = v["start_time"].dt.normalize()
        return v

    @cached_property
    def visit_pos(self) -> pd.Index:
        """Index of ``visits.visit_id`` (hash table built once) for positional look-ups."""
        return pd.Index(self.visits["visit_id"])

    @cached_property
    def lines(self) -> pd.DataFrame:
        cl = self.table("claim_lines")
        keep = ["line_id", "visit_id", "item_code", "quantity", "unit_price", "amount", "days_supply",
                "physician_id", "service_time"]
        cl = pd.DataFrame({c: col_or(cl, c) for c in keep}).rename(columns={"physician_id": "line_physician_id"})
        for c in ("quantity", "unit_price", "amount", "days_supply"):
            cl[c] = pd.to_numeric(cl[c], errors="coerce").astype(float)
        cl["service_time"] = pd.to_datetime(cl["service_time"])
        vcols = ["visit_id", "person_id", "institution_id", "physician_id", "visit_type", "start_time",
                 "end_time", "kind", "sex", "age", "day"]
        li = cl.merge(self.visits[vcols], on="visit_id", how="left")
        li["prescriber_id"] = li["line_physician_id"].where(li["line_physician_id"].notna(), li["physician_id"])
        cat = self.catalog[["item_code", "name", "item_type", "insurance_class", "price_cap", "sex_limit",
                            "age_min", "age_max", "max_days_supply", "max_qty_per_visit"]].rename(
            columns={"name": "item_name"})
        li = li.merge(cat, on="item_code", how="left")
        # "code name", made once per catalog item (one string object each, not one per line)
        lab = cat["item_code"].astype(str) + " " + cat["item_name"].fillna("").astype(str)
        lpos = pd.Index(cat["item_code"]).get_indexer(li["item_code"]) if cat["item_code"].is_unique else None
        if lpos is not None and (lpos >= 0).all():
            li["item_label"] = lab.to_numpy()[lpos]
        else:
            li["item_label"] = li["item_code"].astype(str) + " " + li["item_name"].fillna("").astype(str)
        li["when"] = li["service_time"].where(li["service_time"].notna(), li["start_time"])
        # integer codes of the ids, so sorts and groupings need not compare strings
        for col, code in (("person_id", "pc"), ("institution_id", "ic"), ("item_code", "tc"), ("visit_id", "vc")):
            li[code] = pd.factorize(li[col])[0].astype(np.int64)
        # the line ids' sort order as an integer (ids are unique): a sort's last tie-break
        li["lo"] = pd.factorize(li["line_id"], sort=True)[0].astype(np.int64)
        return li

    @_citywide
    def physicians(self) -> pd.DataFrame:
        ph = self.table("physicians").copy()
        ph["specialty"] = col_or(ph, "specialty")
        return ph

    @cached_property
    def visit_dx(self) -> pd.DataFrame:
        """``(visit_id, code)``: the visit's own diagnoses, normalised."""
        return explode_codes(self.visits, "visit_id", "diagnosis_codes")

    def visit_codes(self, chronic: str = "when_no_diagnosis") -> pd.DataFrame:
        """``(visit_id, code)``: the visit's diagnoses plus, per ``chronic``, the person's
        registered chronic conditions: ``always``, ``never`` or ``when_no_diagnosis`` (only
        for settlements that carry no diagnosis, e.g. a pharmacy refill)."""
        key = f"visit_codes:{chronic}"
        if key in self.memo:
            return self.memo[key]  # type: ignore[return-value]
        dx = self.visit_dx
        if chronic == "never":
            return dx
        v = self.visits[["visit_id", "person_id"]]
        if chronic == "when_no_diagnosis":
            v = v[~v["visit_id"].isin(dx["visit_id"])]
        elif chronic != "always":
            raise ValueError(f"chronic must be always, never or when_no_diagnosis, not {chronic!r}")
        per = self.persons
        cc = explode_codes(per[per["person_id"].isin(v["person_id"].unique())], "person_id", "chronic_conditions")
        if cc.empty:
            out = dx
        else:
            ch = v.merge(cc, on="person_id")[["visit_id", "code"]]
            out = pd.concat([dx, ch], ignore_index=True)
            if chronic == "always":      # otherwise the two sets are of different visits, each without repeats
                out = out.drop_duplicates()
        self.memo[key] = out
        return out

    @_citywide
    def family_pairs(self) -> pd.DataFrame:
        """Symmetric ``(person_id, related_person_id, relation)`` of registered family/proxy links."""
        if not self.has("family_links"):
            return pd.DataFrame(columns=["person_id", "related_person_id", "relation"])
        f = self.table("family_links")
        rel = col_or(f, "relation")
        a = pd.DataFrame({"person_id": f["person_id"], "related_person_id": f["related_person_id"], "relation": rel})
        b = pd.DataFrame({"person_id": f["related_person_id"], "related_person_id": f["person_id"], "relation": rel})
        return pd.concat([a, b], ignore_index=True).drop_duplicates(["person_id", "related_person_id"])


    @_citywide
    def households(self) -> pd.Series:
        """Household id per person: the connected set of persons linked by family relations
        (every relation but ``proxy``), whatever the export's shape -- stars (an account holder
        and each bound member) or chains (A-B, B-C) -- as the data contract defines it. A
        proxy binding (代购) permits only its own pair and joins no household.

        >>> import pandas as pd
        >>> from ringscope.graph.context import Context
        >>> fl = pd.DataFrame({"person_id": ["A", "B", "X"], "related_person_id": ["B", "C", "A"],
        ...                    "relation": ["spouse", "child", "proxy"]})
        >>> h = Frames(Context(tables={"family_links": fl})).households
        >>> bool(h["A"] == h["C"]), "X" in h.index
        (True, False)
        """
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        if not self.has("family_links"):
            return pd.Series(dtype=np.int64)
        f = self.table("family_links")
        rel = col_or(f, "relation").fillna("").astype(str).str.strip().str.lower()
        f = f[rel != "proxy"]
        a, b = f["person_id"].astype(str).to_numpy(), f["related_person_id"].astype(str).to_numpy()
        ids, inv = np.unique(np.concatenate([a, b]), return_inverse=True)
        if not len(ids):
            return pd.Series(dtype=np.int64)
        n = len(ids)
        m = coo_matrix((np.ones(len(a)), (inv[:len(a)], inv[len(a):])), shape=(n, n))
        _, lab = connected_components(m, directed=False)
        return pd.Series(lab.astype(np.int64), index=ids)


def frames_for(ctx: Context) -> Frames:
    """The :class:`Frames` of ``ctx``, built once and kept in ``ctx.cache``."""
    fr = ctx.cache.get(_CACHE_KEY)
    if not isinstance(fr, Frames) or fr.ctx is not ctx:
        fr = Frames(ctx)
        ctx.cache[_CACHE_KEY] = fr
    return fr
