"""First bulk load of an empty local graph with ``neo4j-admin database import full``.

The batched loader (:mod:`ringscope.store.load`) writes through transactions;
the offline importer writes the store files directly and is one to two orders
of magnitude faster on a large first load. It has three costs the batched
path does not: the server must be stopped during the import (Community has
one user database, ``neo4j``, which the importer overwrites), a JVM starts for
the importer, and the server restarts afterwards. So the bulk path is only for

- the project's **local** server (``NEO4J_URI`` unset; see
  :mod:`ringscope.store.server`), and
- an **empty** graph (no node at all: not even ``LoadState`` bookkeeping or
  findings),

and :func:`bulk_ingest` refuses anything else with :class:`BulkLoadRefused`.

The importer reads CSV files that :func:`write_import_files` derives from the
validated dataset so that the graph is exactly the one the batched loader
builds from the same rows (``cypher/load/*.cypher`` is the reference): the
same labels, property names and types (``Date``, ``LocalDateTime``, lists of
strings, floats, integers, booleans; a null leaves the property out), the
same relationship types and directions (an unknown list, which the batched
loader stores as ``[]`` and the importer cannot write, is set to ``[]`` after
the import by ``cypher/load/bulk_empty_lists.cypher``), and the same filtering — a row whose
``MATCH`` would find no node creates what the Cypher statement creates before
that ``MATCH`` and nothing after it. After the import the server is started
again, the schema is applied (:func:`ringscope.store.load.apply_schema`) and a
``LoadState`` per table is written as the batched loader writes it, so a later
``ingest`` of the same files skips them and next month's files MERGE onto what
is there without duplicates.

References
----------
Neo4j Operations Manual 5, "Import" (``neo4j-admin database import full``:
header format, ``--array-delimiter``, ID spaces, ``--overwrite-destination``).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pacsv

from ringscope.store.load import iso_text
from ringscope.store.locks import FileLock, NodeLock, whoami
from ringscope.ingest.contract import LOAD_ORDER, TABLES

__all__ = ["BulkLoadRefused", "ImportFile", "ImportPlan", "write_import_files", "bulk_ingest",
           "graph_is_empty", "bulk_refusal", "dataset_rows", "choose_mode", "BULK_MIN_ROWS"]

# ``--mode auto`` picks the bulk path from this many accepted rows up: below it
# the server restart costs more than the batched loader needs (bench/RESULTS.md).
BULK_MIN_ROWS = 500_000

# Between list elements. Contract lists are split on ';' and stripped, so no
# element holds this control character; write_import_files checks anyway.
ARRAY_DELIMITER = "\x1f"
_ARRAY_DELIMITER_ARG = "U+001F"

# The importer is a JVM that lives seconds to minutes. Below this many rows the
# C1 compiler alone finishes it sooner (on 2 cores C2's compiler threads compete
# with the import's workers: 138k rows 13.5 s vs 20 s); above, C2's faster code
# wins (1.24M rows: 54 s vs 77 s). RINGSCOPE_IMPORT_JVM overrides both.
_C1_ONLY_BELOW_ROWS = 400_000


def _import_jvm_flags(rows: int) -> list[str]:
    if "RINGSCOPE_IMPORT_JVM" in os.environ:
        return os.environ["RINGSCOPE_IMPORT_JVM"].split()
    return ["-XX:TieredStopAtLevel=1"] if rows < _C1_ONLY_BELOW_ROWS else []

_NEO4J_TYPE = {"str": "string", "enum": "string", "int": "long", "money": "double",
               "decimal": "double", "bool": "boolean", "date": "date",
               "timestamp": "localdatetime", "list": "string[]"}


class BulkLoadRefused(RuntimeError):
    """The bulk path cannot be used here (not local, graph not empty, bad input)."""


@dataclass
class ImportFile:
    kind: str          # "nodes" | "relationships"
    name: str          # label or relationship type
    path: Path
    rows: int


@dataclass
class ImportPlan:
    directory: Path
    files: list[ImportFile] = field(default_factory=list)
    multiline: bool = False

    @property
    def nodes(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            if f.kind == "nodes":
                out[f.name] = out.get(f.name, 0) + f.rows
        return out

    @property
    def relationships(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            if f.kind == "relationships":
                out[f.name] = out.get(f.name, 0) + f.rows
        return out

    def args(self) -> list[str]:
        return [f"--{f.kind}={f.name}={f.path}" for f in self.files]


# =========================================================================== columns
def _strings(s: pd.Series) -> pa.Array:
    """A str/enum column as Arrow strings, null where the batched loader sends null."""
    vals = s.to_numpy(dtype=object)
    try:
        return pa.array(vals, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # a column that is not all str (an odd Parquet export): str() it as table_rows does
        fixed = [None if (v is None or (isinstance(v, float) and np.isnan(v))) else str(v) for v in vals]
        return pa.array(fixed, type=pa.string())


def _lists(s: pd.Series) -> pa.Array:
    vals = [list(v) if isinstance(v, (tuple, list, np.ndarray)) else [] for v in s]
    arr = pa.array(vals, type=pa.list_(pa.string()))
    flat = pc.list_flatten(arr)
    if len(flat) and pc.any(pc.match_substring(flat, ARRAY_DELIMITER)).as_py():
        raise BulkLoadRefused(f"a list value of {s.name!r} holds the import's array delimiter U+001F")
    if len(flat) and pc.any(pc.is_null(flat)).as_py():
        raise BulkLoadRefused(f"a list value of {s.name!r} holds a null element")
    return pc.binary_join(arr, ARRAY_DELIMITER)


def _column(s: pd.Series, typ: str) -> pa.Array:
    if typ in ("str", "enum"):
        return _strings(s)
    if typ == "int":
        return pa.array(pd.to_numeric(s, errors="coerce").astype("Int64"), type=pa.int64(), from_pandas=True)
    if typ in ("money", "decimal"):
        return pa.array(pd.to_numeric(s, errors="coerce").astype(float).to_numpy(), type=pa.float64(),
                        from_pandas=True)
    if typ == "bool":
        return pa.array(s.astype("boolean"), type=pa.bool_(), from_pandas=True)
    if typ in ("date", "timestamp"):
        return iso_text(s, typ == "timestamp")
    if typ == "list":
        return _lists(s)
    raise ValueError(f"no import type for contract type {typ}")


def _prop(df: pd.DataFrame, table: str, col: str, name: str | None = None) -> tuple[str, pa.Array]:
    """(header, values) of a contract column as a node/relationship property."""
    typ = TABLES[table].column(col).type
    s = df[col] if col in df.columns else pd.Series([None] * len(df), dtype=object)
    return f"{name or col}:{_NEO4J_TYPE[typ]}", _column(s, typ)


def _ids(df: pd.DataFrame, col: str) -> np.ndarray:
    return df[col].to_numpy(dtype=object)


def _in(df: pd.DataFrame, col: str, keys: set | pd.Index) -> np.ndarray:
    """Rows whose ``col`` names an existing node (null never does)."""
    s = df[col]
    return (s.notna() & s.isin(keys)).to_numpy()


# =========================================================================== files
class _Writer:
    def __init__(self, directory: Path):
        self.plan = ImportPlan(directory)
        self._n = 0

    def add(self, kind: str, name: str, columns: list[tuple[str, pa.Array | np.ndarray]]) -> None:
        n = len(columns[0][1]) if columns else 0
        if n == 0:
            return
        arrays, headers = [], []
        for header, values in columns:
            arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else _strings(pd.Series(values))
            arrays.append(arr)
            headers.append(header)
            if not self.plan.multiline and (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
                if pc.any(pc.match_substring_regex(arr, "[\r\n]")).as_py():
                    self.plan.multiline = True
        # header names are positional: Arrow needs unique names, the importer reads the text
        table = pa.table(arrays, names=[f"c{i}" for i in range(len(arrays))])
        self._n += 1
        path = self.plan.directory / f"{self._n:02d}-{kind}-{name}.csv"
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(",".join(_quote(h) for h in headers) + "\n")
        with open(path, "ab") as fh:
            pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, quoting_style="all_valid"))
        self.plan.files.append(ImportFile(kind, name, path, n))

    def link(self, typ: str, frame: pd.DataFrame, start: tuple[str, str], end: tuple[str, str]) -> None:
        """A relationship file without properties: ``(label, column)`` of each end, one row per
        distinct pair (what a ``MERGE`` of the relationship leaves)."""
        (sl, sc), (el, ec) = start, end
        r = frame.drop_duplicates([sc, ec])
        self.add("relationships", typ, [(f":START_ID({sl})", _strings(r[sc])), (f":END_ID({el})", _strings(r[ec]))])


def _quote(h: str) -> str:
    return '"' + h.replace('"', '""') + '"'


def _last_per_key(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """One row per key, the last one: what consecutive MERGE ... SET leaves."""
    return df.drop_duplicates(cols, keep="last") if len(df) else df


def write_import_files(ds, directory: str | os.PathLike) -> ImportPlan:
    """Write the importer's CSV files for dataset ``ds`` into ``directory``.

    Mirrors ``cypher/load/<table>.cypher`` statement by statement (see the
    comments below); returns the plan with per-label/type counts.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    w = _Writer(out)
    t = {name: ds.tables[name] for name in LOAD_ORDER if name in ds.tables and len(ds.tables[name])}
    empty = pd.Index([])

    def keys(table: str, col: str) -> pd.Index:
        return pd.Index(t[table][col].dropna().unique()) if table in t else empty

    # institutions.cypher: MERGE (i:Institution) SET ...
    inst = _last_per_key(t["institutions"], ["institution_id"]) if "institutions" in t else None
    if inst is not None:
        w.add("nodes", "Institution", [
            ("institution_id:ID(Institution)", _strings(inst["institution_id"])),
            *[_prop(inst, "institutions", c) for c in
              ("name", "kind", "level", "ownership", "district", "has_face_terminal")]])
    inst_ids = keys("institutions", "institution_id")

    # physicians.cypher: MERGE (d:Physician) SET ...; MATCH institution; MERGE PRACTISES_AT
    if "physicians" in t:
        ph = _last_per_key(t["physicians"], ["physician_id"])
        w.add("nodes", "Physician", [
            ("physician_id:ID(Physician)", _strings(ph["physician_id"])),
            *[_prop(ph, "physicians", c) for c in ("name", "specialty", "institution_id")]])
        w.link("PRACTISES_AT", t["physicians"][_in(t["physicians"], "institution_id", inst_ids)],
               ("Physician", "physician_id"), ("Institution", "institution_id"))
    phys_ids = keys("physicians", "physician_id")

    # persons.cypher: MERGE (p:Person) SET ...; face_enrollments.cypher: MATCH person SET
    # has_enrollment = true, enrollment_image = image_path (the last enrolment row wins)
    if "persons" in t:
        pe = _last_per_key(t["persons"], ["person_id"])
        cols = [("person_id:ID(Person)", _strings(pe["person_id"])),
                *[_prop(pe, "persons", c) for c in
                  ("sex", "birth_date", "name", "id_number", "district", "insurance_type",
                   "chronic_conditions", "death_date")]]
        fe = t.get("face_enrollments")
        if fe is not None:
            last = _last_per_key(fe, ["person_id"]).set_index("person_id")
            enrolled = pe["person_id"].isin(last.index).to_numpy()
            has = pa.array(np.where(enrolled, True, None), type=pa.bool_(), from_pandas=True)
            img_src = last["image_path"] if "image_path" in last.columns else pd.Series(dtype=object)
            img = pe["person_id"].map(img_src).where(enrolled, None)
            cols += [("has_enrollment:boolean", has), ("enrollment_image:string", _strings(img))]
        w.add("nodes", "Person", cols)
    person_ids = keys("persons", "person_id")

    # catalog.cypher: MERGE (t:Item) SET ...
    if "catalog" in t:
        it = _last_per_key(t["catalog"], ["item_code"])
        w.add("nodes", "Item", [
            ("item_code:ID(Item)", _strings(it["item_code"])),
            *[_prop(it, "catalog", c) for c in
              ("name", "item_type", "insurance_class", "price_cap", "sex_limit", "age_min", "age_max",
               "indication_prefixes", "max_days_supply", "max_qty_per_visit")]])
    item_ids = keys("catalog", "item_code")

    # visits.cypher: MERGE (v:Visit) SET ... (month = first 7 characters of start_time);
    # MATCH person, MATCH institution (both, or no relationship at all);
    # MERGE FOR_PERSON, AT; BY when the physician exists; PAID_BY when the payer exists
    # and differs from the person.
    visit_ids = empty
    visit_nodes = line_nodes = None
    if "visits" in t:
        vi = t["visits"]
        vl = _last_per_key(vi, ["visit_id"])
        start = _column(vl["start_time"], "timestamp")
        w.add("nodes", "Visit", [
            ("visit_id:ID(Visit)", _strings(vl["visit_id"])),
            _prop(vl, "visits", "visit_type"), _prop(vl, "visits", "start_time"),
            _prop(vl, "visits", "end_time"),
            ("month:string", pc.utf8_slice_codeunits(start, 0, 7)),
            *[_prop(vl, "visits", c) for c in
              ("diagnosis_codes", "total_amount", "fund_paid", "account_paid", "terminal_id",
               "person_id", "institution_id")]])
        visit_ids = pd.Index(vl["visit_id"].dropna().unique())
        visit_nodes = vl[["visit_id", "start_time"]]
        ok = _in(vi, "person_id", person_ids) & _in(vi, "institution_id", inst_ids)
        v = vi[ok]

        visit = ("Visit", "visit_id")
        w.link("FOR_PERSON", v, visit, ("Person", "person_id"))
        w.link("AT", v, visit, ("Institution", "institution_id"))
        if "physician_id" in v.columns:
            w.link("BY", v[_in(v, "physician_id", phys_ids)], visit, ("Physician", "physician_id"))
        if "payer_person_id" in v.columns:
            payer = v[_in(v, "payer_person_id", person_ids)
                      & (v["payer_person_id"] != v["person_id"]).to_numpy()]
            w.link("PAID_BY", payer, visit, ("Person", "payer_person_id"))

    # claim_lines.cypher: MATCH visit, MATCH item (else nothing at all); MERGE (l:ClaimLine)
    # SET ...; MERGE HAS_LINE, OF_ITEM; ORDERED_BY when the physician exists.
    if "claim_lines" in t:
        cl = t["claim_lines"]
        cl = cl[_in(cl, "visit_id", visit_ids) & _in(cl, "item_code", item_ids)]
        ll = _last_per_key(cl, ["line_id"])
        line_nodes = cl[["line_id", "visit_id"]].assign(
            service_time=ll.set_index("line_id")["service_time"].reindex(cl["line_id"]).to_numpy()
            if "service_time" in ll.columns else pd.NaT)
        w.add("nodes", "ClaimLine", [
            ("line_id:ID(ClaimLine)", _strings(ll["line_id"])),
            *[_prop(ll, "claim_lines", c) for c in
              ("quantity", "unit_price", "amount", "days_supply", "item_code", "service_time")]])
        line = ("ClaimLine", "line_id")
        w.link("HAS_LINE", cl, ("Visit", "visit_id"), line)
        w.link("OF_ITEM", cl, line, ("Item", "item_code"))
        if "physician_id" in cl.columns:
            w.link("ORDERED_BY", cl[_in(cl, "physician_id", phys_ids)], line, ("Physician", "physician_id"))

    # face_captures.cypher: MERGE (c:FaceCapture) SET ...; MATCH institution (else no
    # relationship); MERGE AT; DURING when the visit exists; CLAIMED when the person exists.
    if "face_captures" in t:
        fc = t["face_captures"]
        fl = _last_per_key(fc, ["capture_id"])
        w.add("nodes", "FaceCapture", [
            ("capture_id:ID(FaceCapture)", _strings(fl["capture_id"])),
            *[_prop(fl, "face_captures", c) for c in
              ("location", "capture_time", "image_path", "claimed_person_id")]])
        c = fc[_in(fc, "institution_id", inst_ids)]
        cap = ("FaceCapture", "capture_id")
        w.link("AT", c, cap, ("Institution", "institution_id"))
        if "visit_id" in c.columns:
            w.link("DURING", c[_in(c, "visit_id", visit_ids)], cap, ("Visit", "visit_id"))
        if "claimed_person_id" in c.columns:
            w.link("CLAIMED", c[_in(c, "claimed_person_id", person_ids)], cap, ("Person", "claimed_person_id"))

    # inventory.cypher: MATCH institution, MATCH item; MERGE STOCKED {period} SET qty_* (last wins)
    if "inventory" in t:
        iv = t["inventory"]
        iv = iv[_in(iv, "institution_id", inst_ids) & _in(iv, "item_code", item_ids)]
        # MERGE on {period: null} never matches a stored relationship; the contract makes
        # period required, so every row here has one
        iv = _last_per_key(iv, ["institution_id", "item_code", "period"])
        w.add("relationships", "STOCKED", [
            (":START_ID(Institution)", _strings(iv["institution_id"])),
            (":END_ID(Item)", _strings(iv["item_code"])),
            *[_prop(iv, "inventory", c) for c in ("period", "qty_purchased", "qty_opening", "qty_closing")]])

    # family_links.cypher: MATCH a, MATCH b; MERGE (a)-[:FAMILY {relation}]->(b): one per relation
    if "family_links" in t:
        fm = t["family_links"].copy()
        fm = fm[_in(fm, "person_id", person_ids) & _in(fm, "related_person_id", person_ids)]
        fm["relation"] = fm["relation"].fillna("")
        fm = _last_per_key(fm, ["person_id", "related_person_id", "relation"])
        w.add("relationships", "FAMILY", [
            (":START_ID(Person)", _strings(fm["person_id"])),
            (":END_ID(Person)", _strings(fm["related_person_id"])),
            _prop(fm, "family_links", "relation")])

    # drug_traces.cypher: MATCH (v:Visit)-[:HAS_LINE]->(l:ClaimLine) (else nothing); MERGE (p:Pack);
    # MERGE DISPENSED_IN SET scan_time, at = coalesce(scan, line's service_time, visit's start_time),
    # reversed (false when unknown), the last row of a (code, line) winning; then per pack seq by
    # (at, line_id), n_settlements, first_at, last_at
    if "drug_traces" in t and line_nodes is not None:
        _pack_files(w, t["drug_traces"], line_nodes, visit_nodes)

    # prescribing_scope.cypher: MERGE (s:PrescribingScope {scope_key}) SET specialty, item_prefix, basis
    if "prescribing_scope" in t:
        ps = t["prescribing_scope"].copy()
        ps["basis"] = ps["basis"].fillna("catalogue") if "basis" in ps.columns else "catalogue"
        ps["scope_key"] = ps["specialty"].astype(str) + "|" + ps["item_prefix"].astype(str) + "|" + ps["basis"]
        ps = _last_per_key(ps, ["scope_key"])
        w.add("nodes", "PrescribingScope", [
            ("scope_key:ID(PrescribingScope)", _strings(ps["scope_key"])),
            *[_prop(ps, "prescribing_scope", c) for c in ("specialty", "item_prefix", "basis")]])

    # known_cases.cypher: MERGE (c:Case) SET ...; CONCERNS the entity of its type when it exists
    if "known_cases" in t:
        kc = t["known_cases"]
        kl = _last_per_key(kc, ["case_id"])
        w.add("nodes", "Case", [
            ("case_id:ID(Case)", _strings(kl["case_id"])),
            *[_prop(kl, "known_cases", c) for c in ("label", "scheme", "entity_type", "entity_id", "closed_on")]])
        for etype, label, ids in (("person", "Person", person_ids), ("physician", "Physician", phys_ids),
                                  ("institution", "Institution", inst_ids)):
            w.link("CONCERNS", kc[(kc["entity_type"] == etype).to_numpy() & _in(kc, "entity_id", ids)],
                   ("Case", "case_id"), (label, "entity_id"))
    return w.plan


def _pack_files(w: _Writer, tr: pd.DataFrame, lines: pd.DataFrame, visits: pd.DataFrame | None) -> None:
    """``Pack`` nodes and ``DISPENSED_IN`` relationships as ``cypher/load/drug_traces.cypher``
    leaves them: ``lines`` are the loaded claim lines with their visit (one row per
    ``HAS_LINE``) and service time, ``visits`` the loaded visits' start times."""
    if visits is None or not len(tr):
        return
    start = visits.drop_duplicates("visit_id", keep="last").set_index("visit_id")["start_time"]
    ln = lines.assign(start_time=start.reindex(lines["visit_id"]).to_numpy())
    ln = ln[ln["start_time"].notna()]
    x = tr[["line_id", "trace_code"] + [c for c in ("scan_time", "reversed") if c in tr.columns]]
    x = x[x["line_id"].notna() & x["trace_code"].notna()].drop_duplicates(["trace_code", "line_id"], keep="last")
    x = x.merge(ln, on="line_id", how="inner")      # one row per (code, line, visit holding the line)
    if not len(x):
        return
    def secs(col: str) -> pd.Series:
        if col not in x.columns:
            return pd.Series(pd.NaT, index=x.index, dtype="datetime64[ns]")
        return pd.to_datetime(x[col]).astype("datetime64[ns]").dt.floor("s")

    scan = secs("scan_time")
    at = scan.fillna(secs("service_time")).fillna(secs("start_time"))
    x = x.assign(at=at, scan=scan)
    x["reversed"] = x["reversed"].astype("boolean").fillna(False) if "reversed" in x.columns else False
    x = x.sort_values(["trace_code", "at", "line_id"], kind="mergesort")
    # MERGE (p)-[d]->(l): one relationship per (code, line) even when two visits hold the line
    x = x.drop_duplicates(["trace_code", "line_id"], keep="last")
    x["seq"] = x.groupby("trace_code", sort=False).cumcount() + 1
    g = x.groupby("trace_code", sort=False)
    packs = pd.DataFrame({"trace_code": g.size().index, "n": g.size().to_numpy(),
                          "first": g["at"].first().to_numpy(), "last": g["at"].last().to_numpy()})
    w.add("nodes", "Pack", [
        ("trace_code:ID(Pack)", _strings(packs["trace_code"])),
        ("n_settlements:long", pa.array(packs["n"].to_numpy(dtype="int64"))),
        ("first_at:localdatetime", iso_text(packs["first"], True)),
        ("last_at:localdatetime", iso_text(packs["last"], True))])
    w.add("relationships", "DISPENSED_IN", [
        (":START_ID(Pack)", _strings(x["trace_code"])), (":END_ID(ClaimLine)", _strings(x["line_id"])),
        ("scan_time:localdatetime", iso_text(x["scan"], True)), ("at:localdatetime", iso_text(x["at"], True)),
        ("reversed:boolean", pa.array(x["reversed"].astype(bool).to_numpy())),
        ("seq:long", pa.array(x["seq"].to_numpy(dtype="int64")))])


def dataset_rows(ds) -> int:
    """Accepted rows the loaders would send (every table of the load order)."""
    return int(sum(len(ds.tables[n]) for n in LOAD_ORDER if n in ds.tables))


# =========================================================================== checks
def graph_is_empty(runner) -> bool:
    """True when the database holds no node at all (schema alone does not count)."""
    return not runner.read("load/any_node")


def bulk_refusal(runner=None) -> str | None:
    """Why the bulk path cannot run here, or None when it can."""
    from ringscope.settings import neo4j_settings

    settings = neo4j_settings()
    if not settings.local or os.environ.get("NEO4J_URI"):
        return (f"bulk import needs the project's local Neo4j: NEO4J_URI points at {settings.uri}, "
                "which ringscope neither stops nor overwrites; use --mode batched")
    if runner is not None and not graph_is_empty(runner):
        return ("bulk import only fills an EMPTY graph (it overwrites the database) and "
                f"{settings.uri} already holds data; use --mode batched to add to it, or "
                "`ringscope neo4j reset` first to replace it")
    return None


def choose_mode(ds, *, min_rows: int | None = None) -> tuple[str, str]:
    """``("bulk" | "batched", why)`` for ``ingest --mode auto``.

    Bulk only when all hold: the local server (``NEO4J_URI`` unset) is
    running, its graph holds no node, and the dataset has at least
    ``min_rows`` (default :data:`BULK_MIN_ROWS`) accepted rows -- below that the
    server restart costs more than the batched loader needs.
    """
    from ringscope.store import server
    from ringscope.store.db import QueryRunner

    min_rows = BULK_MIN_ROWS if min_rows is None else min_rows
    why = bulk_refusal()
    if why:
        return "batched", "NEO4J_URI points at another server"
    n = dataset_rows(ds)
    if n < min_rows:
        return "batched", f"{n:,} rows, fewer than the {min_rows:,} that repay a server restart"
    if not server.is_running():
        return "batched", "the local server is not running"
    with QueryRunner() as q:
        if not graph_is_empty(q):
            return "batched", "the graph already holds data: adding to it"
    return "bulk", f"empty local graph and {n:,} rows"


# =========================================================================== entry point
def _import_args(plan: ImportPlan, threads: int | None) -> list[str]:
    return ["database", "import", "full", "neo4j", "--overwrite-destination=true",
            f"--array-delimiter={_ARRAY_DELIMITER_ARG}",
            # the files hold only what must load: any bad entry is a bug, stop at the first
            "--bad-tolerance=0", "--skip-bad-relationships=false", "--skip-duplicate-nodes=false",
            f"--report-file={plan.directory / 'import.report'}",
            f"--threads={threads or max(1, os.cpu_count() or 1)}",
            f"--max-off-heap-memory={os.environ.get('RINGSCOPE_IMPORT_OFFHEAP', '1g')}",
            *(["--multiline-fields=true"] if plan.multiline else []),
            *plan.args()]


def _drop_user_database_store() -> None:
    """Delete the ``neo4j`` store and its transaction logs (server stopped): the next
    start creates it again, empty. Used only after a failed import, which leaves the
    store unusable -- and the bulk path only ever runs on an empty graph."""
    from ringscope.store import server

    data = server._root() / "data"
    for d in (data / "databases" / "neo4j", data / "transactions" / "neo4j"):
        shutil.rmtree(d, ignore_errors=True)


def bulk_ingest(
    ds,
    *,
    work_dir: str | os.PathLike | None = None,
    keep_files: bool = False,
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
    wait: float = 0.0,
    reason: str | None = None,
    _break_files: bool = False,
) -> dict[str, Any]:
    """Load every accepted row of ``ds`` into the EMPTY local graph with the offline importer.

    Stops the local server, imports, starts it again, applies the schema and
    records ``LoadState`` per table. Raises :class:`BulkLoadRefused` (nothing
    stopped, nothing written) when ``NEO4J_URI`` points at another server or the
    local graph holds any node. If the importer fails the server is brought
    back with an empty graph (the state before the call, schema included) and
    ``RuntimeError`` carries the importer's output. Returns the keys of
    :func:`ringscope.store.load.ingest_dataset` plus ``"mode": "bulk"``,
    ``"nodes"``/``"relationships"`` (per label/type) and ``"stages"``
    (seconds: check, files, stop, import, start, schema, lists, state).
    The local server's file lock (:class:`ringscope.store.locks.FileLock`) is
    held for the whole run, the server's stop included, and the lock node is
    taken before the server stops, so no other loader runs meanwhile:
    :class:`~ringscope.store.locks.LoadLocked` after ``wait`` seconds when one
    does. Every table is written to the load log (action ``bulk``, ``reason``).
    ``_break_files`` (tests only) corrupts one import file to exercise the
    failure path.
    """
    say = progress or (lambda _msg: None)
    stages: dict[str, float] = {}
    t0 = time.perf_counter()

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        stages[name] = round(now - since, 3)
        return now

    why = bulk_refusal()
    if why:
        raise BulkLoadRefused(why)
    flock = FileLock(purpose="ingest (bulk import)").acquire(wait)
    try:
        return _bulk_ingest(ds, say, stages, lap, t0, work_dir=work_dir, keep_files=keep_files, threads=threads,
                            wait=max(0.0, wait - (time.perf_counter() - t0)), reason=reason,
                            _break_files=_break_files)
    finally:
        flock.release()


def _bulk_ingest(ds, say, stages, lap, t0, *, work_dir, keep_files, threads, wait, reason, _break_files):
    import uuid
    from datetime import datetime, timezone

    from ringscope.store import server
    from ringscope.store.db import QueryRunner
    from ringscope.store.load import _fingerprint, apply_schema

    began = datetime.now(timezone.utc).isoformat()
    server.start(wait=True)          # idempotent; a stopped server is started to look inside
    with QueryRunner() as q:
        node = NodeLock(q, purpose="ingest (bulk import)").acquire(wait)
        why = bulk_refusal(q)
        if why:
            node.release()
            raise BulkLoadRefused(why)
        node.abandon()               # the import replaces the store, the lock node with it
    t = lap("check", t0)

    base = Path(work_dir) if work_dir else server.import_dir()
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bulk-", dir=base))
    try:
        say(f"writing import files into {tmp}")
        plan = write_import_files(ds, tmp)
        if _break_files and plan.files:
            with open(plan.files[-1].path, "a", encoding="utf-8") as fh:
                fh.write('"no-such-node","no-such-node-either"\n')
        # the LoadState fingerprints hash every row: do it while the JVMs work
        pool = ThreadPoolExecutor(max_workers=1)
        prints = pool.submit(lambda: {name: _fingerprint(name, ds.tables[name]) for name in LOAD_ORDER
                                      if name in ds.tables and len(ds.tables[name])})
        pool.shutdown(wait=False)
        t = lap("files", t)
        say("stopping the local Neo4j")
        server.stop()
        t = lap("stop", t)
        say(f"importing {sum(plan.nodes.values()):,} nodes and "
            f"{sum(plan.relationships.values()):,} relationships")
        failure: str | None = None
        try:
            res = server.admin(_import_args(plan, threads), jvm_flags=_import_jvm_flags(dataset_rows(ds)))
            if res.returncode != 0:
                failure = (f"exit {res.returncode}; importer output:\n{res.stdout[-3000:]}\n"
                           f"{res.stderr[-3000:]}")
        except BaseException as e:  # noqa: BLE001 - the server must come back whatever happened
            failure = f"{type(e).__name__}: {e}"
            raise
        finally:
            t = lap("import", t)
            if failure is not None:
                _drop_user_database_store()   # a failed import leaves an unusable store
            say("starting the local Neo4j")
            server.start(wait=True)
            t = lap("start", t)
            if failure is not None:
                with QueryRunner() as q:
                    apply_schema(q)
        if failure is not None:
            raise RuntimeError("neo4j-admin database import failed; the local graph is empty "
                               f"again, as it was before ({failure})")
        with QueryRunner() as q:
            apply_schema(q)
            t = lap("schema", t)
            q.run_script("load/bulk_empty_lists")
            t = lap("lists", t)
            loaded: dict[str, int] = {}
            states = []
            for name, fp in prints.result().items():
                df = ds.tables[name]
                states.append({"key": f"{name}:{fp}", "rows_done": len(df), "fingerprint": fp, "table": name})
                loaded[name] = len(df)
            q.run("load/state_set_many", {"rows": states})
            me = whoami()
            q.run("load/log_add", {"rows": [{
                "event_id": uuid.uuid4().hex, "table": st["table"], "fingerprint": st["fingerprint"],
                "action": "bulk", "rows": st["rows_done"], "rows_before": 0, "reason": reason or None,
                "user": me["owner"], "host": me["host"], "pid": me["pid"],
                "dataset": str(getattr(ds, "path", "") or "") or None, "started_at": began} for st in states]})
            lap("state", t)
    finally:
        if not keep_files:
            shutil.rmtree(tmp, ignore_errors=True)
    secs = time.perf_counter() - t0
    total = sum(loaded.values())
    return {"mode": "bulk", "tables": loaded, "skipped": {n: 0 for n in loaded},
            "seconds": round(secs, 3), "rows_per_s": round(total / secs, 1) if secs > 0 else None,
            "nodes": plan.nodes, "relationships": plan.relationships, "stages": stages,
            "files": str(tmp) if keep_files else None}
