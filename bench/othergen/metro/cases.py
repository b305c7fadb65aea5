"""Closed cases and the blacklist (已结案件/黑名单): a mix of recidivists, reformed entities still
listed as fraud, investigations that cleared legitimate look-alikes, and stale clearances of parties
that have since joined a ring."""
import numpy as np
import pandas as pd
from .util import YEAR


def build(W, rng):
    rows = []
    ent = {}
    for r in W.rings:
        for et, i in r["members"]:
            ent.setdefault((et, i), r["scheme"])
    for et, i, s, _ in W.truth_entities:
        ent.setdefault((et, i), s)
    fraud_keys = list(ent)
    fraud_inst = [k for k in fraud_keys if k[0] != "person"]
    fraud_pers = [k for k in fraud_keys if k[0] == "person"]

    def day(lo_y, hi_y):
        d0 = np.datetime64(f"{lo_y}-01-01")
        span = int((np.datetime64(f"{hi_y}-12-31") - d0).astype(int))
        return str(d0 + int(rng.integers(0, span)))

    # recidivists: part of the current rings' institutions/physicians and a few persons
    for k in rng.permutation(len(fraud_inst))[: max(2, len(fraud_inst) // 4)]:
        et, i = fraud_inst[k]
        rows.append((et, i, "fraud", ent[(et, i)] if rng.random() < 0.7 else "other", day(2021, YEAR - 1)))
    for k in rng.permutation(len(fraud_pers))[: max(2, len(fraud_pers) // 25)]:
        et, i = fraud_pers[k]
        rows.append((et, i, "fraud", ent[(et, i)], day(2022, YEAR)))
    # stale clearances: investigated earlier, cleared, now in a ring
    for k in rng.permutation(len(fraud_inst))[: max(1, len(fraud_inst) // 8)]:
        et, i = fraud_inst[k]
        rows.append((et, i, "cleared", "", day(2020, 2023)))
    # reformed: old fraud on entities that are clean now
    clean_inst = [i for i in range(len(W.I)) if ("institution", i) not in ent]
    for i in rng.choice(clean_inst, max(2, len(W.I) // 30), replace=False):
        rows.append(("institution", int(i), "fraud", ["card_cashout", "card_lending", "other"][int(rng.integers(0, 3))], day(2019, 2022)))
    clean_phys = [i for i in range(len(W.D)) if ("physician", i) not in ent]
    for i in rng.choice(clean_phys, max(2, len(W.D) // 150), replace=False):
        rows.append(("physician", int(i), "fraud", "collusive_prescribing", day(2019, 2022)))
    clean_pers = [i for i in range(len(W.P)) if ("person", i) not in ent]
    for i in rng.choice(clean_pers, max(3, len(W.P) // 1500), replace=False):
        rows.append(("person", int(i), "fraud", ["card_lending", "doctor_shopping"][int(rng.integers(0, 2))], day(2019, 2023)))
    # legitimate look-alikes investigated and cleared
    for c in W.carers.values():
        rows.append(("person", int(c), "cleared", "card_cashout", day(2023, YEAR)))
    onc = np.flatnonzero(W.D["specialty"].to_numpy() == "肿瘤科")
    for i in rng.choice(onc, min(2, len(onc)), replace=False):
        if ("physician", int(i)) not in ent:
            rows.append(("physician", int(i), "cleared", "collusive_prescribing", day(2022, YEAR)))
    for i in np.flatnonzero(np.isin(W.icls, ["psych", "rehab"])):
        rows.append(("institution", int(i), "cleared", "ghost_admission", day(2021, YEAR)))
    chc = np.flatnonzero(W.icls == "community")
    rows.append(("institution", int(rng.choice(chc)), "cleared", "card_cashout", day(2023, YEAR)))
    C = pd.DataFrame(rows, columns=["etype", "idx", "label", "scheme", "closed_on"])
    C = C.drop_duplicates(["etype", "idx", "label"]).sample(frac=1.0, random_state=int(rng.integers(0, 2**31))).reset_index(drop=True)
    C.loc[rng.random(len(C)) < 0.15, "scheme"] = ""
    C.loc[rng.random(len(C)) < 0.08, "closed_on"] = ""
    ids = {"person": W.P["person_id"].to_numpy(), "physician": W.D["physician_id"].to_numpy(),
           "institution": W.I["institution_id"].to_numpy()}
    yr = [s[:4] if s else str(YEAR - 1) for s in C["closed_on"]]
    out = pd.DataFrame(dict(case_id=[f"AJ{y}{k + 17:04d}" for k, y in enumerate(yr)], entity_type=C["etype"],
                            entity_id=[ids[e][i] for e, i in zip(C["etype"], C["idx"])], label=C["label"],
                            scheme=C["scheme"], closed_on=C["closed_on"]))
    W.note(f"known cases: {len(out)} ({(out['label'] == 'fraud').sum()} fraud, {(out['label'] == 'cleared').sum()} cleared)")
    return out
