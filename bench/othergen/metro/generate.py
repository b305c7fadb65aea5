"""The whole pipeline for one seed."""
import time
from . import persons, family, city, world, care, chronic, hospital, special, events, rings
from . import schemes_a, schemes_b, schemes_c, rules, drift, quirks, pay, finalize, traces, faces, cases, write


def run(out, n_persons, seed, fmt="csv", verbose=True):
    t0 = time.time()
    log = (lambda s: print(f"[{time.time() - t0:6.1f}s] {s}", flush=True)) if verbose else (lambda s: None)
    P, NH = persons.build(n_persons, seed)
    links, carers = family.build(P, NH, seed)
    inst, phys = city.build(n_persons, seed)
    W = world.World(seed, P, NH, inst, phys, links, carers)
    care.assign_homes(W)
    log("city and persons")
    care.acute_outpatient(W)
    care.otc_purchases(W)
    chronic.chronic_care(W)
    hospital.acute_stays(W)
    hospital.dialysis(W)
    special.chemo(W)
    special.oral_cancer(W)
    special.psych(W)
    special.rehab(W)
    events.vaccination(W)
    events.school_exam(W)
    events.migrants(W)
    events.carers_and_proxies(W)
    log(f"ordinary care: {len(W.V)} settlements")
    rng = W.rng("rings")
    plan = rings.plan(n_persons, rng)
    W.note("ring plan: " + ", ".join(f"{k}={v}" for k, v in plan.items()))
    for k in range(plan["card_lending"]):
        if k == 0:
            schemes_a.card_lending(W, rng, "organiser", face=False)
        elif k == 1:
            schemes_a.card_lending(W, rng, "organiser", face=True)
        else:
            schemes_a.card_lending(W, rng, "organiser" if rng.random() < 0.65 else "family",
                                   face=None if rng.random() < 0.5 else bool(rng.random() < 0.5))
    for _ in range(plan["card_cashout"]):
        schemes_a.card_cashout(W, rng)
    for _ in range(plan["collusive_prescribing"]):
        schemes_a.collusive(W, rng)
    for _ in range(plan["ghost_admission"]):
        schemes_b.ghost(W, rng)
    for _ in range(plan["split_admission"]):
        schemes_b.split(W, rng)
    for _ in range(plan["doctor_shopping"]):
        schemes_b.shopping_ring(W, rng)
    for _ in range(max(1, int(round(n_persons / 6000 * rng.uniform(1, 3))))):
        schemes_b.shopping(W, rng, 1)
    for _ in range(plan["drug_resale"]):
        schemes_c.resale(W, rng)
    log(f"rings: {len(W.rings)}")
    drift.apply(W, W.rng("drift"))
    events.batch_settlement(W)
    rules.sanitise(W)
    world.item_price(W)
    rules.inject(W, W.rng("lone"))
    world.item_price(W)
    quirks.apply(W, W.rng("quirks"))
    traces.preplan_split(W, W.rng("split_packs"))
    pay.settle(W, W.rng("pay"))
    finalize.assign_ids(W, W.rng("ids"))
    log(f"settled: {len(W.V)} settlements, {len(W.L)} lines")
    extra = {}
    extra["traces"] = traces.build(W, W.rng("traces"))
    extra["inventory"] = traces.inventory(W, W.rng("inventory"))
    faces.identities(W)
    extra["enrol"] = faces.enrol(W)
    extra["captures"] = faces.captures(W)
    extra["cases"] = cases.build(W, W.rng("cases"))
    log("traces, inventory, faces, cases")
    t = write.tables(W, extra)
    write.write_tables(out, t, fmt)
    nr, ne, nv = write.truth(W, out)
    counts = {k: len(v) for k, v in t.items()}
    counts.update({"truth/rings": nr, "truth/entities": ne, "truth/violations": nv, "truth/drift": len(W.drift)})
    write.readme(W, out, dict(persons=n_persons, seed=seed, format=fmt), counts, time.time() - t0)
    log("written")
    return counts, time.time() - t0
