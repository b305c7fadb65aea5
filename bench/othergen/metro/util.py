"""Shared helpers: seeded RNG streams, calendar of 2025, time and money helpers."""
import zlib
import numpy as np

YEAR = 2025
EPOCH0 = np.datetime64(f"{YEAR}-01-01T00:00:00", "s")
T0 = int(EPOCH0.astype("int64"))          # seconds of 2025-01-01 00:00 (naive local)
DAY = 86400
NDAYS = 365


def stream(seed, name):
    """Independent, deterministic generator per (seed, module name)."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])


def day_ts(day):
    """day index (0..364) -> seconds of local midnight."""
    return T0 + np.asarray(day, dtype=np.int64) * DAY


def ts_day(ts):
    return (np.asarray(ts, dtype=np.int64) - T0) // DAY


def iso(ts):
    """int seconds (array) -> ISO strings 'YYYY-MM-DDTHH:MM:SS'; -1 -> ''."""
    ts = np.asarray(ts, dtype=np.int64)
    out = np.datetime_as_string(ts.astype("datetime64[s]"), unit="s").astype(object)
    out[ts < 0] = ""
    return out


def date_str(days64):
    """datetime64[D] array -> 'YYYY-MM-DD' strings (NaT -> '')."""
    a = np.asarray(days64, dtype="datetime64[D]")
    out = np.datetime_as_string(a, unit="D").astype(object)
    out[np.isnat(a)] = ""
    return out


def month_of(ts):
    d = np.asarray(ts, dtype=np.int64).astype("datetime64[s]").astype("datetime64[M]")
    return (d.astype("int64") - (YEAR - 1970) * 12).astype(np.int64)   # 0..11


def money(x):
    return np.round(np.asarray(x, dtype=float) + 1e-9, 2)


def floor_cents(x):
    return np.floor(np.asarray(x, dtype=float) * 100 + 1e-6) / 100


# ---------------------------------------------------------------- calendar 2025
def _d(m, d):
    return int((np.datetime64(f"{YEAR}-{m:02d}-{d:02d}") - np.datetime64(f"{YEAR}-01-01")).astype(int))


SPRING_FESTIVAL = _d(1, 29)
HOLIDAYS = set([_d(1, 1)] + list(range(_d(1, 28), _d(2, 4) + 1)) + list(range(_d(4, 4), _d(4, 6) + 1))
               + list(range(_d(5, 1), _d(5, 5) + 1)) + list(range(_d(5, 31), _d(6, 2) + 1))
               + list(range(_d(10, 1), _d(10, 8) + 1)))
MAKEUP_WORKDAYS = {_d(1, 26), _d(2, 8), _d(4, 27), _d(9, 28), _d(10, 11)}
PRE_SF = set(range(_d(1, 18), _d(1, 28)))         # stocking-up before the festival
PRE_ND = set(range(_d(9, 25), _d(10, 1)))
POST_HOL = set(range(_d(2, 5), _d(2, 12))) | set(range(_d(10, 9), _d(10, 14)))


def calendar():
    """Per-day arrays: weekday (0=Mon), workday flag, holiday flag, month (0..11)."""
    days = np.arange(NDAYS)
    dates = np.datetime64(f"{YEAR}-01-01") + days
    wd = ((dates.astype("datetime64[D]").astype(np.int64) + 3) % 7)   # 1970-01-01 was Thursday
    hol = np.isin(days, list(HOLIDAYS))
    work = ((wd < 5) & ~hol) | np.isin(days, list(MAKEUP_WORKDAYS))
    month = (dates.astype("datetime64[M]").astype(np.int64) - (YEAR - 1970) * 12)
    return dict(day=days, weekday=wd, holiday=hol, workday=work, month=month, date=dates)


CAL = calendar()


def day_weights(kind):
    """Relative daily volume for an institution class: 'hospital', 'community', 'clinic', 'pharmacy'."""
    w = np.where(CAL["workday"], 1.0, 0.55)
    if kind == "pharmacy":
        w = np.where(CAL["workday"], 1.0, 1.15)
        w = np.where(CAL["holiday"], 0.8, w)
        w[list(PRE_SF)] *= 1.9
        w[list(PRE_ND)] *= 1.35
    else:
        w = np.where(CAL["holiday"], 0.25 if kind != "hospital" else 0.35, w)
        w[list(POST_HOL)] *= 1.45
    season = np.array([1.3, 1.25, 1.1, 1.0, 0.95, 0.9, 0.85, 0.85, 0.95, 1.0, 1.1, 1.3])
    return w * season[CAL["month"]]


def sample_days(rng, n, weights, lo=0, hi=NDAYS):
    w = np.asarray(weights, float)[lo:hi]
    c = np.cumsum(w)
    return lo + np.searchsorted(c, rng.random(n) * c[-1], side="right").clip(0, len(w) - 1)


def sample_tod(rng, n, kind):
    """Seconds after midnight for arrivals of an institution class."""
    if kind == "pharmacy":
        h = np.concatenate([rng.normal(10.5, 1.6, n // 2), rng.normal(18.5, 1.8, n - n // 2)])
        rng.shuffle(h)
        h = np.clip(h, 8.0, 21.9)
    elif kind == "inpatient":
        h = np.clip(rng.normal(10.5, 2.2, n), 7.5, 20.0)
    else:
        h = np.where(rng.random(n) < 0.72, rng.normal(9.3, 1.0, n), rng.normal(14.8, 1.1, n))
        h = np.clip(h, 7.6, 17.4)
    return (h * 3600).astype(np.int64) + rng.integers(0, 60, n)


def pick_weighted(rng, weights, n):
    c = np.cumsum(np.asarray(weights, float))
    return np.searchsorted(c, rng.random(n) * c[-1], side="right").clip(0, len(c) - 1)


def group_pick(rng, keys, cand_keys, cand_vals, cand_w=None):
    """For each key in `keys`, pick one value among candidates with that key (weighted).
    Returns -1 where a key has no candidate. Vectorised over keys."""
    keys = np.asarray(keys)
    order = np.lexsort((np.arange(len(cand_keys)), cand_keys))
    ck, cv = np.asarray(cand_keys)[order], np.asarray(cand_vals)[order]
    cw = np.ones(len(ck)) if cand_w is None else np.asarray(cand_w, float)[order]
    cum = np.cumsum(cw)
    start = np.searchsorted(ck, keys, side="left")
    stop = np.searchsorted(ck, keys, side="right")
    ok = stop > start
    out = np.full(len(keys), -1, dtype=np.int64)
    if ok.any():
        s, e = start[ok], stop[ok]
        base = np.where(s > 0, cum[s - 1], 0.0)
        tot = cum[e - 1] - base
        u = base + rng.random(ok.sum()) * tot
        idx = np.searchsorted(cum, u, side="right")
        idx = np.clip(idx, s, e - 1)
        out[ok] = cv[idx]
    return out
