"""Face encodings that behave like face_recognition's 128-d dlib descriptors: a shared mean face, an
identity offset per person (twins nearly share one), enrolment and capture noise, blurred captures,
a changed appearance before a new enrolment photo."""
import numpy as np
import pandas as pd
from .util import DAY, T0, YEAR, iso, ts_day, stream

SIG_ID, SIG_E, SIG_C = 0.0570, 0.022, 0.026


def identities(W):
    rng = W.rng("faces")
    n = len(W.P) + W.extra_faces
    mean_rng = stream(20250101, "mean_face")
    mu = mean_rng.normal(0, 0.075, 128)
    sexdir = mean_rng.normal(0, 1, 128)
    sexdir /= np.linalg.norm(sexdir)
    scale = rng.uniform(0.88, 1.08, n)[:, None]
    S = rng.normal(0, SIG_ID, (n, 128)) * scale
    sx = np.r_[np.where(W.sex == "M", 1.0, -1.0), rng.choice([-1.0, 1.0], W.extra_faces)]
    S += 0.12 * sx[:, None] * sexdir[None, :]
    tw = W.P["twin_of"].to_numpy()
    for b in np.flatnonzero(tw >= 0):
        S[b] = S[tw[b]] + rng.normal(0, 0.024, 128)
    W.face_mu, W.face_S = mu, S


def enrol(W):
    rng = W.rng("enrol")
    n = len(W.P)
    age = W.age
    enrolled = rng.random(n) < np.where(age < 10, 0.2, np.where(age < 16, 0.6, 0.9))
    days_before = rng.integers(30, 6 * 365, n)
    on = np.datetime64(f"{YEAR}-01-01") - days_before.astype("timedelta64[D]")
    # a few persons re-enrolled this year with a new photo: they looked different before
    newp = np.flatnonzero(enrolled & (age > 25) & (rng.random(n) < 0.01))
    nd = rng.integers(90, 300, len(newp))
    on[newp] = np.datetime64(f"{YEAR}-01-01") + nd.astype("timedelta64[D]")
    shift = np.zeros((n, 128))
    sh = rng.normal(0, 1, (len(newp), 128))
    shift[newp] = sh / np.linalg.norm(sh, axis=1, keepdims=True) * rng.uniform(0.45, 0.6, (len(newp), 1))
    W.new_photo_day = dict(zip(newp, nd))
    W.face_shift = shift
    E = W.face_mu + W.face_S[:n] + rng.normal(0, SIG_E, (n, 128))
    idx = np.flatnonzero(enrolled)
    W.enrolled = enrolled
    W.note(f"face enrolments: {len(idx)}; new enrolment photos this year: {len(newp)}; twin pairs: {int((W.P['twin_of'] >= 0).sum())}")
    return pd.DataFrame(dict(person=idx, encoding=list(E[idx].astype(np.float32)),
                             enrolled_on=np.datetime_as_string(on[idx], unit="D")))


def _guardian(W):
    """for young children the parent at the counter shows their face."""
    P = W.P
    adults = P[P["role"].isin(["head", "spouse"])].groupby("hh")["idx"].first()
    g = adults.reindex(P["hh"]).fillna(-1).astype(int).to_numpy()
    return np.where((W.age < 10) & (g >= 0), g, np.arange(len(P)))


def captures(W):
    rng = W.rng("captures")
    V = W.V
    inst = V["inst"].to_numpy()
    at = W.iface[inst] & V["cap"].to_numpy().astype(bool)
    person = V["person"].to_numpy()
    face = V["face"].to_numpy().astype(np.int64)
    g = _guardian(W)
    face = np.where(face == -2, g[person], face)
    vt = V["vtype"].to_numpy()
    ph = W.icls[inst] == "pharmacy"
    batch = V["settle"].to_numpy() >= 0
    rows = []
    # settlement captures
    s = np.flatnonzero(at & (face >= 0) & ~batch & (rng.random(len(V)) < 0.9))
    t = np.where(vt[s] == "inpatient", V["end"].to_numpy()[s] - rng.integers(300, 3600, len(s)),
                 V["start"].to_numpy()[s] + rng.integers(20, 240, len(s)))
    link = rng.random(len(s)) < 0.85
    rows.append(pd.DataFrame(dict(vpos=s, who=face[s], loc="settlement", t=t, link=link, claim=person[s])))
    # entrance captures (no credential at that moment)
    e = np.flatnonzero(at & (face >= 0) & (rng.random(len(V)) < np.where(ph, 0.15, 0.35)) & (vt != "inpatient"))
    arr = np.where(batch[e], V["settle"].to_numpy()[e], V["start"].to_numpy()[e])
    rows.append(pd.DataFrame(dict(vpos=e, who=face[e], loc="entrance", t=arr - rng.integers(60, 900, len(e)), link=False, claim=-1)))
    # ward rounds for in-patients who are really there
    w = np.flatnonzero(at & (vt == "inpatient") & V["ward"].to_numpy().astype(bool))
    st, en = V["start"].to_numpy()[w], V["end"].to_numpy()[w]
    los = np.maximum(1, (en - st) // DAY)
    every = np.where(los > 30, 6, 3)
    nw = np.maximum(1, los // every)
    wi = np.repeat(w, nw)
    kk = np.arange(len(wi)) - np.repeat(np.cumsum(nw) - nw, nw)
    tt = V["start"].to_numpy()[wi] + (kk * np.repeat(every, nw) + 1) * DAY // 1 - (V["start"].to_numpy()[wi] - T0) % DAY \
        + rng.integers(8 * 3600, 18 * 3600, len(wi))
    okw = tt < V["end"].to_numpy()[wi]
    rows.append(pd.DataFrame(dict(vpos=wi[okw], who=person[wi[okw]], loc="ward", t=tt[okw], link=rng.random(okw.sum()) < 0.9,
                                  claim=person[wi[okw]])))
    C = pd.concat(rows, ignore_index=True).sort_values(["t", "vpos"]).reset_index(drop=True)
    n = len(C)
    who = C["who"].to_numpy()
    blur = rng.random(n) < 0.04
    q = np.where(blur, rng.uniform(1.9, 2.7, n), np.exp(rng.normal(0, 0.15, n)))
    X = W.face_mu + W.face_S[who] + rng.normal(0, SIG_C, (n, 128)) * q[:, None]
    # appearance before the new photo
    npers = len(W.P)
    day = ts_day(C["t"].to_numpy())
    for p, d in W.new_photo_day.items():
        m = (who == p) & (day < d)
        X[m] += W.face_shift[p]
    seq = 100000 + np.cumsum(rng.integers(1, 3, n))
    out = pd.DataFrame(dict(
        capture_id=[f"RL25{s:09d}" for s in seq],
        institution_id=W.I["institution_id"].to_numpy()[inst[C["vpos"].to_numpy()]],
        location=C["loc"].to_numpy(),
        capture_time=iso(C["t"].to_numpy()),
        encoding=list(X.astype(np.float32)),
        visit_id=np.where(C["link"].to_numpy(), V["visit_id"].to_numpy()[C["vpos"].to_numpy()], ""),
        claimed_person_id=np.where(C["claim"].to_numpy() >= 0, W.P["person_id"].to_numpy()[np.maximum(C["claim"].to_numpy(), 0)], "")))
    W.capture_who = who
    W.note(f"face captures: {n} ({int(blur.sum())} blurred); presenters other than the holder: "
           f"{int((C['loc'].to_numpy() == 'settlement').sum() - (who[C['loc'].to_numpy() == 'settlement'] == C['claim'].to_numpy()[C['loc'].to_numpy() == 'settlement']).sum())}")
    return out
