"""Drug traceability codes (药品追溯码) of a synthetic city and their clean look-alikes.

Every pack of a drug dispensed at a scanning institution carries a 20-digit code,
scanned at settlement: one row of ``drug_traces`` per pack (``ceil(quantity)``
packs per claim line). A code is ``product (7) + serial (9) + check (4)``:

* the product code identifies the catalogue item (one per item, ``8`` + 6 digits);
* the serial is unique per pack of that product in the whole supply chain: the
  running number of the pack within its shard, spread over 10⁹ by an affine
  bijection, so serials look random but never repeat (segment 99 is reserved for
  the packs of the drug-resale rings, which are drawn before any shard);
* the check digits are a hash of the first 16.

A pack is sold once, so a code on two settlements is evidence (the
``drug_resale`` scheme re-settles the same packs at complicit outlets weeks later).
Three legitimate reasons for a repeated code are injected, clean in the truth:

* **reversed**: a sale refunded (``reversed=true`` on that pack's row) and the
  pack sold again later at the same institution;
* **split**: a box split across two settlements at the same institution where
  the rules allow it (拆零, multi-dose boxes at pharmacies and clinics): both lines
  carry a half quantity and the same code;
* **scanner**: the counter's scanner repeats a code within minutes -- on the next
  customer's line of the same drug at the same terminal, or twice on one line.

Drawn on streams of their own (``traces`` per shard), after everything else, so
the rest of the city is unchanged by them.

>>> codes = code_strings(np.array([8123456, 8123456]), serials(3, np.array([0, 1])))
>>> [len(c) for c in codes], codes[0] != codes[1]
([20, 20], True)
"""
from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ringscope.synth.primitives import DAY, IP, KINDS

if TYPE_CHECKING:  # pragma: no cover
    from ringscope.synth.generator import _City

__all__ = ["MAX_SEGMENTS", "RESALE_SEGMENT", "product_codes", "serials", "code_strings", "plan", "make",
           "arrow_tables"]

MAX_SEGMENTS = 99            # shards 0..98
RESALE_SEGMENT = 99          # the packs of the drug-resale rings
_SPAN = 10 ** 7              # packs per product and segment
_A, _B = 387_420_489, 104_729   # serial = (A * n + B) mod 10^9, A coprime to 10^9


def product_codes(item_codes: np.ndarray) -> np.ndarray:
    """A distinct 7-digit product code per catalogue item (``8`` + 6 digits of a CRC of the item code)."""
    out = np.empty(len(item_codes), dtype=np.int64)
    used: set[int] = set()
    for i, c in enumerate(item_codes):    # loop per catalogue item (~220)
        x = zlib.crc32(str(c).encode("utf-8")) % 10 ** 6
        while x in used:
            x = (x + 1) % 10 ** 6
        used.add(x)
        out[i] = 8_000_000 + x
    return out


def serials(segment: int | np.ndarray, counter: np.ndarray) -> np.ndarray:
    """Pack serials, unique for distinct ``(segment, counter)`` with ``counter < 10^7``."""
    counter = np.asarray(counter, dtype=np.int64)
    if len(counter) and counter.max() >= _SPAN:
        raise ValueError("more than 10 million packs of one product in one shard")
    n = np.asarray(segment, dtype=np.int64) * _SPAN + counter
    return (_A * n + _B) % 10 ** 9


def _digits(product: np.ndarray, serial: np.ndarray) -> np.ndarray:
    n = len(product)
    d = np.empty((n, 20), dtype=np.uint8)
    for col, val, width in ((0, product, 7), (7, serial, 9)):
        v = np.asarray(val, dtype=np.int64)
        for j in range(width):
            d[:, col + width - 1 - j] = (v // 10 ** j) % 10
    with np.errstate(over="ignore"):
        h = (np.asarray(product, dtype=np.uint64) * np.uint64(1_000_000_007)
             + np.asarray(serial, dtype=np.uint64) * np.uint64(2_654_435_761))
        h ^= h >> np.uint64(29)
    chk = (h % np.uint64(10_000)).astype(np.int64)
    for j in range(4):
        d[:, 19 - j] = (chk // 10 ** j) % 10
    return d + 48


def _arrow_codes(product: np.ndarray, serial: np.ndarray) -> pa.StringArray:
    d = _digits(product, serial)
    n = len(d)
    offsets = np.arange(0, 20 * n + 1, 20, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(d.tobytes()))


def code_strings(product: np.ndarray, serial: np.ndarray) -> list[str]:
    return _arrow_codes(np.asarray(product), np.asarray(serial)).to_pylist()


# --------------------------------------------------------------------------- plan
def plan(city: "_City") -> None:
    """Which institutions scan codes (most; a share of clinics not yet), on a stream of its own."""
    cfg = city.cfg["drug_traces"]
    city.trace_product = product_codes(city.cat_code)
    rng = city.stream("traces-plan")
    share = np.array([float(cfg["scanning_share"][k]) for k in KINDS])[city.i_kind]
    city.i_scan = rng.random(city.n_inst) < share


# --------------------------------------------------------------------------- one block
def _next_pairs(key: np.ndarray, t: np.ndarray, visit: np.ndarray, cand: np.ndarray, window: float) -> np.ndarray:
    """Pairs (i, j) of candidate lines: j is the next line of the same key after i, within
    ``window`` seconds, on another settlement. Returns an (m, 2) array of line indices."""
    if len(cand) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    o = cand[np.lexsort((t[cand], key[cand]))]
    a, b = o[:-1], o[1:]
    ok = (key[a] == key[b]) & (t[b] - t[a] <= window) & (t[b] > t[a]) & (visit[a] != visit[b])
    return np.stack([a[ok], b[ok]], 1)


def _choose(rng: np.random.Generator, pairs: np.ndarray, k: int, used: np.ndarray) -> np.ndarray:
    """Up to ``k`` pairs whose lines are not used yet (and mark them)."""
    if not len(pairs) or k <= 0:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = pairs[~used[pairs[:, 0]] & ~used[pairs[:, 1]]]
    pairs = pairs[rng.permutation(len(pairs))]
    out = []
    for a, b in pairs:           # loop over at most a few thousand candidate pairs, stops at k
        if used[a] or used[b]:
            continue
        used[a] = used[b] = True
        out.append((a, b))
        if len(out) >= k:
            break
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def make(city: "_City", V: dict, L: dict, rng: np.random.Generator, segment: int) -> dict[str, np.ndarray] | None:
    """The trace rows of one block of visits/lines: ``line`` (index into ``L``), ``product``,
    ``serial``, ``t`` (scan time, seconds), ``reversed``; applies the confounders (``L`` edited
    in place for split packs; the visits whose amounts changed are in ``touched``)."""
    cfg = city.cfg["drug_traces"]
    if not cfg.get("enabled", True):
        return None
    vi = L["vi"]
    inst = V["inst"][vi]
    vt = V["vtype"][vi]
    scanned = city.cat_is_drug[L["item"]] & city.i_scan[inst] & ((vt != IP) | bool(cfg["inpatient"]))
    lines = np.flatnonzero(scanned)
    packs = np.maximum(1, np.ceil(L["qty"][lines] - 1e-9)).astype(np.int64)
    row_line = np.repeat(lines, packs)
    row_k = np.arange(len(row_line)) - np.repeat(np.cumsum(packs) - packs, packs)
    item = L["item"][row_line]
    # running number of each pack within its product (this segment)
    o = np.argsort(item, kind="stable")
    first = np.searchsorted(item[o], item[o], "left")
    counter = np.empty(len(o), dtype=np.int64)
    counter[o] = np.arange(len(o)) - first
    product = city.trace_product[item]
    serial = serials(segment, counter)
    t = L["time"][row_line] + 7 * row_k
    rev = np.zeros(len(row_line), dtype=bool)
    # packs of the drug-resale rings carry the codes the plan gave them
    tk = L["tkey"][row_line]
    rs = np.flatnonzero(tk >= 0)
    if len(rs):
        codes = city.resale_packs
        pos = np.array([codes[k][j] for k, j in zip(tk[rs].tolist(), row_k[rs].tolist())], dtype=np.int64)
        product[rs] = city.resale_pack_product[pos]
        serial[rs] = city.resale_pack_serial[pos]
    # first and last row of each scanned line
    row0 = np.full(len(vi), -1, dtype=np.int64)
    row_last = np.full(len(vi), -1, dtype=np.int64)
    starts = np.cumsum(packs) - packs
    row0[lines] = starts
    row_last[lines] = starts + packs - 1
    # ---- clean look-alikes: candidates are honest lines of honest settlements
    honest_v = np.array([x is None for x in V["label"]], dtype=bool)
    honest = scanned & honest_v[vi] & np.array([x is None for x in L["label"]], dtype=bool) & (L["tkey"] < 0)
    used = np.zeros(len(vi), dtype=bool)
    per = max(1.0, len(lines) / 1e4)
    cc = cfg["confounders"]
    n_of = lambda key: int(max(cc["min_each"], round(float(cc[key]) * per)))  # noqa: E731
    touched: list[np.ndarray] = []
    key_ii = inst.astype(np.int64) * len(city.cat_code) + L["item"]
    ltime = L["time"]
    visit = vi
    # reversed sale, the pack sold again at the same institution within weeks
    cand = np.flatnonzero(honest & (vt != IP))
    pairs = _choose(rng, _next_pairs(key_ii, ltime, visit, cand, float(cc["reversal_days"]) * DAY),
                    n_of("reversed_per_10k"), used)
    for a, b in pairs:
        rev[row_last[a]] = True
        product[row0[b]], serial[row0[b]] = product[row_last[a]], serial[row_last[a]]
    n_rev = len(pairs)
    # a box split across two settlements (拆零) at a pharmacy or clinic, multi-dose boxes
    dpu = np.nan_to_num(city.cat_dpu[L["item"]], nan=0.0)
    cand = np.flatnonzero(honest & np.isin(city.i_kind[inst], [1, 2, 3]) & (dpu >= 7) & (L["qty"] >= 1)
                          & (L["qty"] == np.round(L["qty"])))
    pairs = _choose(rng, _next_pairs(key_ii, ltime, visit, cand, float(cc["split_days"]) * DAY),
                    n_of("split_per_10k"), used)
    if len(pairs):
        ab = pairs.ravel()
        L["qty"][ab] -= 0.5
        L["amount"][ab] = np.round(L["qty"][ab] * L["price"][ab], 2)
        has_days = L["days"][ab] >= 0
        hd = ab[has_days]
        L["days"][hd] = np.minimum(L["days"][hd], np.maximum(1, np.round(L["qty"][hd] * dpu[hd]))).astype(np.int64)
        touched.append(vi[ab])
        a, b = pairs[:, 0], pairs[:, 1]
        product[row0[b]], serial[row0[b]] = product[row_last[a]], serial[row_last[a]]
    n_split = len(pairs)
    # the scanner repeats the previous code: next customer's line of the same drug at the same counter
    key_tc = (inst.astype(np.int64) * 64 + V["terminal"][vi]) * len(city.cat_code) + L["item"]
    cand = np.flatnonzero(honest & (vt != IP))
    k_sc = n_of("scanner_per_10k")
    pairs = _choose(rng, _next_pairs(key_tc, ltime, visit, cand, float(cc["scanner_minutes"]) * 60), k_sc, used)
    for a, b in pairs:
        product[row0[b]], serial[row0[b]] = product[row_last[a]], serial[row_last[a]]
    n_sc2 = len(pairs)
    # ... or scans one pack twice on the same line (the second pack's code is lost)
    cand = np.flatnonzero(honest & (vt != IP) & (L["qty"] >= 2) & ~used)
    pick = rng.permutation(cand)[:max(0, k_sc - n_sc2)] if len(cand) else cand
    used[pick] = True
    r0 = row0[pick]
    product[r0 + 1], serial[r0 + 1] = product[r0], serial[r0]
    t[r0 + 1] = t[r0] + rng.integers(2, 30, len(pick))
    city.truth.count("trace_reversed_resold", n_rev)
    city.truth.count("trace_split_packs", n_split)
    city.truth.count("trace_scanner_repeats", n_sc2 + len(pick))
    return {"line": row_line, "product": product, "serial": serial, "t": t, "reversed": rev,
            "touched": np.unique(np.concatenate(touched)) if touched else np.zeros(0, np.int64)}


def arrow_tables(T: dict[str, np.ndarray], lid: np.ndarray, t0: np.datetime64,
                 text: bool = True) -> tuple[pa.Table, pa.Table | None]:
    """``drug_traces`` of one block as a typed Arrow table (Parquet) and as contract text (CSV)."""
    line_id = pa.array(lid[T["line"]], type=pa.string())
    code = _arrow_codes(T["product"], T["serial"])
    ts = (t0 + T["t"].astype("timedelta64[s]")).astype("datetime64[us]")
    scan = pa.array(ts, type=pa.timestamp("us"))
    rev = pa.array(T["reversed"], type=pa.bool_())
    typed = pa.table({"line_id": line_id, "trace_code": code, "scan_time": scan, "reversed": rev})
    if not text:
        return typed, None
    return typed, pa.table({"line_id": line_id, "trace_code": code,
                     "scan_time": pc.strftime(scan, format="%Y-%m-%dT%H:%M:%S"),
                     "reversed": pc.if_else(rev, "true", "false")})
