"""Schemes 1-3: card lending (借卡/冒名就医), card cash-out (聚敛盗刷/套现), collusive prescribing (医患合谋/串换)."""
import numpy as np
from .util import DAY, NDAYS, CAL, day_ts, ts_day
from .catalog import K, CAT
from .dx import CHRONIC, MAXQ, MAXD, PACK_DAYS, choose_items, qty_for_days, allowed
from .care import consult_item
from .rings import new_ring, member, free_persons, free_inst, Batch

COND_FOR_DRUG = {"sema": "E11.9", "lira": "E11.9", "glar": "E11.9", "aspa": "E11.9", "dapa": "E11.9", "tica": "I25.1",
                 "tiot": "J44.9", "budf": "J44.9", "taft": "B18.1", "osim": "C34.9", "gefi": "C34.9"}
USER_CONDS = ["E11.9", "I10", "I25.1", "J44.9"]


def _workdays(lo, hi):
    d = np.flatnonzero(CAL["workday"])
    return d[(d >= lo) & (d < hi)]


def _month_day(m):
    return int(np.searchsorted(CAL["month"], m))


def _rx(W, rng, cond, person, days=30):
    """a 30-day regimen for `cond` suited to the credential holder's age and sex."""
    r, it = choose_items(rng, CHRONIC[cond][2], W.age[[person]], W.sex[[person]], 1, 2)
    if not len(it):
        it = np.array([K["amlo"]])
    q, d = qty_for_days(it, np.full(len(it), days))
    return list(zip(it, q, d))


def card_lending(W, rng, variant="organiser", face=None):
    ring = new_ring(W, "card_lending")
    vis = rng.uniform(0.3, 1.0)
    b = Batch()
    age = W.age
    if variant == "organiser":
        cands = free_inst(W, ["clinic", "pharmacy", "private"], face=face)
        if not len(cands):
            cands = free_inst(W, ["clinic", "pharmacy", "private"])
        inst = int(rng.choice(cands))
        d = W.idist[inst]
        ph_inst = W.icls[inst] == "pharmacy"
        staff = W.pharmacists(inst) if ph_inst else W.clinicians(inst)
        complicit = len(staff) > 0 and rng.random() < (0.5 if ph_inst else 0.75)
        phys = int(rng.choice(staff)) if len(staff) else -1
        org = -1
        if rng.random() < 0.6:
            pool = free_persons(W, (age >= 35) & (age < 62) & (W.pdist == d))
            org = int(rng.choice(pool))
            org_face = org
        else:
            org_face = int(W.new_face()[0])
        k = int(rng.integers(4, 13))
        old = free_persons(W, (age >= 62) & (age < 88) & (W.death < 0))
        mig = free_persons(W, (age >= 22) & (age < 50) & (W.pdist != d) & (W.P["conds"].map(len).to_numpy() == 0) & (W.death < 0))
        n_old = int(rng.binomial(k, 0.5))
        creds = list(rng.choice(old, n_old, replace=False)) + list(rng.choice(mig, k - n_old, replace=False))
        dead = free_persons(W, (W.death >= 60) & (W.death < 280))
        dead_cred = -1
        if len(dead) and rng.random() < 0.7:
            dead_cred = int(rng.choice(dead))
            creds.append(dead_cred)
        for c in creds:
            W.used_persons.add(int(c))
        n_users = int(rng.integers(1, 4))
        user_faces = [org_face] + [int(f) for f in W.new_face(n_users)]
        user_cond = [USER_CONDS[int(rng.integers(0, 4))] for _ in user_faces]
        cred_user = rng.choice(len(user_faces), size=len(creds), p=np.r_[0.4, np.full(n_users, 0.6 / n_users)])
        m0 = int(rng.integers(0, 6))
        m1 = min(12, m0 + int(rng.integers(5, 13)))
        wd = _workdays(_month_day(m0), _month_day(m1) if m1 < 12 else NDAYS)
        step = max(3, int(rng.uniform(6, 18) / (0.5 + vis)))
        sess = wd[:: step]
        uses = []
        for s in sess:
            n_here = min(len(creds), int(rng.integers(2, 6)))
            chosen = rng.choice(len(creds), n_here, replace=False)
            t0 = int(day_ts(s)) + int(rng.integers(9 * 3600, 16 * 3600))
            for j, c in enumerate(chosen):
                uses.append((creds[c], cred_user[c], t0 + j * int(rng.integers(120, 600))))
        if dead_cred >= 0:           # the card keeps being used after its holder died
            dd = W.death[dead_cred]
            for x in range(3):
                s = min(NDAYS - 1, dd + 10 + 20 * x)
                uses.append((dead_cred, cred_user[creds.index(dead_cred)], int(day_ts(s)) + 10 * 3600 + x * 77))
        # a credential used while its holder lies in hospital elsewhere
        stays = W.V[(W.V["vtype"] == "inpatient") & W.V["person"].isin(creds) & (W.V["tag"] == "")]
        if len(stays):
            st = stays.iloc[int(rng.integers(0, len(stays)))]
            mid = int((st["start"] + st["end"]) // 2)
            uses.append((int(st["person"]), cred_user[creds.index(st["person"])], mid))
        for c, u, t in uses:
            vt = "pharmacy" if ph_inst else "outpatient"
            ph = phys if (complicit or ph_inst) else int(rng.choice(staff)) if len(staff) else -1
            row = b.visit(person=int(c), inst=inst, phys=ph, vtype=vt, start=int(t), dx=user_cond[u], face=user_faces[u],
                          tag="card_lending", ring=ring["ring_id"], origin="ring")
            if vt == "outpatient":
                b.line(row, consult_item(W, np.array([inst]), np.array([ph]), rng)[0], 1.0)
            for it, q, dd in _rx(W, rng, user_cond[u], int(c)):
                b.line(row, it, q, days=int(dd), stime=int(t) + 400)
        for c in creds:
            member(W, ring, "person", c)
        if org >= 0:
            member(W, ring, "person", org)
        member(W, ring, "institution", inst)
        if complicit:
            member(W, ring, "physician", phys)
        ring["notes"] = (f"organiser {'insured' if org >= 0 else 'uninsured'}, {len(creds)} credentials, {n_users + 1} users, "
                         f"institution {W.iid(inst)} ({W.icls[inst]}, face terminal={bool(W.iface[inst])}), complicit physician={complicit}, "
                         f"dead holder used={dead_cred >= 0}, {len(uses)} uses")
    else:
        holder = int(rng.choice(free_persons(W, (age >= 25) & (age < 55) & (W.P["insurance_type"].to_numpy() == "employee") &
                                             (W.P["conds"].map(len).to_numpy() == 0))))
        W.used_persons.add(holder)
        insured_b = rng.random() < 0.5
        cond = USER_CONDS[int(rng.integers(0, 3))]
        if insured_b:
            pool = free_persons(W, (age >= 55) & (age < 82) & np.array([cond in c for c in W.P["conds"]]) &
                                (W.P["hh"].to_numpy() != W.P.at[holder, "hh"]))
            borrower = int(rng.choice(pool))
            bface = borrower
        else:
            borrower, bface = -1, int(W.new_face()[0])
        phs = [int(W.P.at[holder, "fav_pharm"])] + [int(x) for x in W.pick_inst(rng, [W.pdist[holder]] * 2, "pharmacy", local=5.0)]
        hosp = int(W.pick_inst(rng, [W.pdist[holder]], ["tertiary", "secondary"], local=2.0)[0])
        doc = int(W.pick_phys(rng, np.array([hosp]), CHRONIC[cond][1])[0])
        d0 = int(rng.integers(0, 120))
        for x in range(int(rng.integers(5, 12))):
            day = min(NDAYS - 1, d0 + x * int(rng.integers(20, 40)))
            if rng.random() < 0.25:
                inst, vt, ph = hosp, "outpatient", doc
            else:
                inst, vt = phs[int(rng.integers(0, len(phs)))], "pharmacy"
                pst = W.pharmacists(inst)
                ph = int(pst[0]) if len(pst) else -1
            t = int(day_ts(day)) + int(rng.integers(9 * 3600, 19 * 3600))
            row = b.visit(person=holder, inst=inst, phys=ph, vtype=vt, start=t, dx=cond, face=bface, tag="card_lending",
                          ring=ring["ring_id"], origin="ring")
            if vt == "outpatient":
                b.line(row, consult_item(W, np.array([inst]), np.array([ph]), rng)[0], 1.0)
            for it, q, dd in _rx(W, rng, cond, holder):
                b.line(row, it, q, days=int(dd), stime=t + 300)
        member(W, ring, "person", holder)
        if borrower >= 0:
            member(W, ring, "person", borrower)
        ring["notes"] = f"relative outside the registered family uses holder {W.pid(holder)}'s card; borrower insured={insured_b}"
    b.flush(W)
    return ring


CASH_DRUGS = ["sema", "lira", "glar", "tica", "tiot", "budf", "taft"]


def card_cashout(W, rng):
    ring = new_ring(W, "card_cashout")
    vis = rng.uniform(0.3, 1.0)
    cls = "pharmacy" if rng.random() < 0.7 else "clinic"
    cands = free_inst(W, [cls])
    inst = int(rng.choice(cands))
    staff = W.pharmacists(inst) if cls == "pharmacy" else W.clinicians(inst)
    staff = list(rng.choice(staff, min(len(staff), int(rng.integers(1, 3))), replace=False))
    k = int(rng.integers(12, 41))
    age = W.age
    pool = free_persons(W, (age >= 25) & (age < 72) & (W.P["insurance_type"].to_numpy() == "employee") & (W.death < 0))
    far = pool[W.pdist[pool] != W.idist[inst]]
    near = pool[W.pdist[pool] == W.idist[inst]]
    nf = min(len(far), int(round(k * rng.uniform(0.55, 0.85))))
    creds = np.r_[rng.choice(far, nf, replace=False), rng.choice(near, min(len(near), k - nf), replace=False)].astype(int)
    drugs = list(rng.choice(CASH_DRUGS, int(rng.integers(1, 4)), replace=False))
    if vis > 0.75:
        drugs.append("osim")
    faces = [int(f) for f in W.new_face(len(staff))]
    quiet = 0.25 + 0.6 * vis
    m0 = int(rng.integers(0, 5))
    m1 = min(12, m0 + int(rng.integers(6, 13)))
    b = Batch()
    n_sw = 0
    for m in range(m0, m1):
        for _ in range(int(rng.integers(1, 4))):
            lo, hi = _month_day(m), _month_day(m + 1) if m < 11 else NDAYS
            day = int(rng.integers(lo, hi))
            if rng.random() < quiet:
                t0 = int(day_ts(day)) + int(rng.choice([rng.integers(21 * 3600, 23 * 3600), rng.integers(6 * 3600 + 1800, 7 * 3600 + 1800)]))
            else:
                t0 = int(day_ts(day)) + int(rng.integers(13 * 3600, 16 * 3600))
            burst = rng.choice(creds, min(len(creds), int(rng.integers(5, 16))), replace=False)
            t = t0
            for c in burst:
                t += int(rng.integers(40, 240))
                s = int(rng.integers(0, len(staff)))
                dr = [drugs[int(rng.integers(0, len(drugs)))]]
                if rng.random() < 0.35 and len(drugs) > 1:
                    dr = sorted(set(dr + [drugs[int(rng.integers(0, len(drugs)))]]))
                okd = [x for x in dr if allowed(np.array([K[x]]), W.age[c], W.sex[c])[0]]
                if not okd:
                    continue
                dxs = sorted(set(COND_FOR_DRUG[x] for x in okd))
                face = faces[s] if (W.iface[inst] and rng.random() < 0.85) else -1
                row = b.visit(person=int(c), inst=inst, phys=int(staff[s]), vtype="pharmacy" if cls == "pharmacy" else "outpatient",
                              start=t, dx=";".join(dxs), face=face, tag="card_cashout", ring=ring["ring_id"], origin="ring")
                if cls == "clinic":
                    b.line(row, "c_opd", 1.0, tr="nodisp")
                for x in okd:
                    it = K[x]
                    q = max(1.0, MAXQ[it] - float(rng.random() < 0.4))
                    dd = int(min(MAXD[it], q * PACK_DAYS[it]))
                    b.line(row, it, q, days=dd, tr="cashout")
                n_sw += 1
    b.flush(W)
    for c in creds:
        member(W, ring, "person", c)
    member(W, ring, "institution", inst)
    for s in staff:
        member(W, ring, "physician", s)
    ring["notes"] = (f"{cls} {W.iid(inst)} (face terminal={bool(W.iface[inst])}, scans={bool(W.I['scans'].iat[inst])}), {len(creds)} cards, "
                     f"{n_sw} swipes of {','.join(drugs)}, quiet-hour share {quiet:.2f}")
    return ring


COLL = {"内分泌科": ([("sema", 3), ("dapa", 2), ("lira", 1)], ["E11.9"], ["E66.9", "R73.0"], None),
        "神经内科": ([("ngf", 2), ("dpe", 2), ("xstg", 1)], ["G56.0", "I69.3"], ["M54.5", "R51", "G44.2"], "ngf"),
        "消化内科": ([("taft", 2), ("thym", 2), ("albu", 1.5)], ["B18.1", "K74.6"], ["K29.7", "R10.4"], "thym"),
        "骨科": ([("gluc", 3), ("ngf", 1)], ["M17.9", "S34.1"], ["M54.5", "M79.1"], "ngf")}


def collusive(W, rng):
    ring = new_ring(W, "collusive_prescribing")
    vis = rng.uniform(0.3, 1.0)
    from .city import SPEC_ID
    ok = np.isin(W.icls[W.dinst], ["tertiary", "secondary", "private"]) & np.isin(W.dspec, [SPEC_ID[s] for s in COLL])
    cands = [p for p in np.flatnonzero(ok) if p not in W.used_phys and W.dinst[p] not in W.used_inst]
    doc = int(rng.choice(cands))
    hosp = int(W.dinst[doc])
    spec = [s for s in COLL if SPEC_ID[s] == W.dspec[doc]][0]
    docs = [doc]
    same = [p for p in W.clinicians(hosp) if W.dspec[p] == W.dspec[doc] and p != doc and p not in W.used_phys]
    if same and rng.random() < 0.4:
        docs.append(int(same[0]))
    pool, dx_ok, dx_bad, inj = COLL[spec]
    phs = free_inst(W, ["pharmacy"])
    near = phs[W.idist[phs] == W.idist[hosp]]
    ph = int(rng.choice(near if len(near) else phs))
    pst = W.pharmacists(ph)
    age = W.age
    pts = free_persons(W, (age >= 35) & (age < 78) & (W.death < 0))
    pts = pts[np.abs(W.pdist[pts] - W.idist[hosp]) <= 2]
    pts = rng.choice(pts, int(rng.integers(5, 16)), replace=False)
    p_bad = 0.15 + 0.4 * vis
    m0 = int(rng.integers(0, 5))
    d_lo, d_hi = _month_day(m0), NDAYS - 1
    b = Batch()
    nv = 0
    for p in pts:
        day = d_lo + int(rng.integers(0, 25))
        while day < d_hi:
            if CAL["workday"][day]:
                t = int(day_ts(day)) + int(rng.integers(8 * 3600, 16 * 3600))
                d = docs[int(rng.integers(0, len(docs)))]
                dx = ";".join(dx_ok) if rng.random() > p_bad else dx_bad[int(rng.integers(0, len(dx_bad)))]
                row = b.visit(person=int(p), inst=hosp, phys=d, vtype="outpatient", start=t, dx=dx, tag="collusive_prescribing",
                              ring=ring["ring_id"], origin="ring")
                b.line(row, consult_item(W, np.array([hosp]), np.array([d]), rng)[0], 1.0)
                if inj and rng.random() < 0.6:
                    b.line(row, inj, float(rng.integers(3, 9)), days=1, stime=t + 1200)
                    b.line(row, "t_im", 1.0, stime=t + 1300)
                # the prescription is filled at the ring's pharmacy
                t2 = t + int(rng.integers(1800, 30 * 3600))
                r2 = b.visit(person=int(p), inst=ph, phys=d, vtype="pharmacy", start=t2, dx=dx, tag="collusive_prescribing",
                             ring=ring["ring_id"], origin="ring")
                r_, its = choose_items(rng, [x for x in pool if x[0] != inj], age[[p]], W.sex[[p]], 1, 2)
                for it in its:
                    q = max(1.0, MAXQ[it] - float(rng.integers(0, 2)))
                    b.line(r2, int(it), q, days=int(min(MAXD[it], q * PACK_DAYS[it])), stime=t2)
                nv += 2
            day += int(rng.integers(14, 36))
    b.flush(W)
    for d in docs:
        member(W, ring, "physician", d)
    for p in pts:
        member(W, ring, "person", p)
    member(W, ring, "institution", ph)
    ring["notes"] = (f"{spec} physician(s) at {W.iid(hosp)}, {len(pts)} patients, pharmacy {W.iid(ph)}, {nv} settlements, "
                     f"share of visits with unjustifying diagnoses {p_bad:.2f}")
    return ring
