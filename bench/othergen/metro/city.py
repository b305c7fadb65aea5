"""The city: districts, designated institutions (定点医药机构), physicians and pharmacists."""
import numpy as np
import pandas as pd
from .util import stream
from .names import person_names

DISTRICTS = [("01", "江华区", "core", 0.14), ("02", "明珠区", "core", 0.12), ("03", "东湖区", "urban", 0.15),
             ("04", "西岭区", "urban", 0.13), ("05", "滨江区", "urban", 0.14), ("06", "高新区", "urban", 0.12),
             ("07", "临港区", "periurban", 0.10), ("08", "北塘区", "periurban", 0.10)]
DNAME = [d[1] for d in DISTRICTS]
DW = np.array([d[3] for d in DISTRICTS])
STREETS = ["人民路", "解放路", "中山路", "建设路", "和平街", "新华路", "滨河路", "光明街", "长江路", "文化路", "青年路",
           "府前街", "园林路", "朝阳路", "胜利路", "翠湖路", "金桥路", "望江路", "兴业路", "科创路"]

SPEC_TERTIARY = {"内科": 2, "心血管内科": 3, "内分泌科": 2, "呼吸内科": 2, "消化内科": 2, "肾内科": 2, "神经内科": 2,
                 "肿瘤科": 3, "妇产科": 2, "泌尿外科": 1, "骨科": 2, "普通外科": 2, "儿科": 2, "皮肤科": 1, "眼科": 1,
                 "急诊科": 2, "中医科": 1, "感染科": 1, "康复医学科": 1, "精神科": 1}
SPEC_SECONDARY = {"内科": 2, "心血管内科": 1, "内分泌科": 1, "呼吸内科": 1, "消化内科": 1, "神经内科": 1, "妇产科": 1,
                  "骨科": 1, "普通外科": 1, "儿科": 1, "急诊科": 1, "中医科": 1, "泌尿外科": 1, "肾内科": 1}
SPEC_PRIVATE = {"内科": 2, "骨科": 1, "普通外科": 1, "中医科": 1, "康复医学科": 1, "神经内科": 1}
SPEC_PSYCH = {"精神科": 7, "内科": 1}
SPEC_REHAB = {"康复医学科": 5, "神经内科": 1, "中医科": 1}
SPEC_WEB = {"内科": 2, "心血管内科": 2, "内分泌科": 2, "呼吸内科": 1, "皮肤科": 1, "精神科": 1, "感染科": 1, "神经内科": 1}
SPEC_ONCO = {"肿瘤科": 8, "内科": 2, "普通外科": 2, "妇产科": 1, "呼吸内科": 1, "消化内科": 1}
SPECS = sorted(set(SPEC_TERTIARY) | set(SPEC_REHAB) | {"全科", "药剂科"})
SPEC_ID = {s: i for i, s in enumerate(SPECS)}

CHAINS = [("仁和堂大药房连锁", "private"), ("百济康药房连锁", "private"), ("惠民大药房连锁", "private")]
PRIVATE_HOSP = ["康泰医院", "仁济医院", "博爱医院", "华康医院", "同心医院", "瑞安医院", "佳和医院", "永康医院", "协和康复门诊医院",
                "安贞医院", "济民医院", "益寿医院", "长庚医院", "明德医院"]
CLINIC_NAMES = ["惠康诊所", "德仁中医诊所", "便民诊所", "李氏中医诊所", "健民门诊部", "安康诊所", "仁心诊所", "杏林中医诊所",
                "爱心门诊部", "同济堂诊所", "益民诊所", "康宁门诊部", "平安诊所", "和顺诊所", "福寿堂中医诊所"]
INDEP_PHARM = ["老百姓药店", "益丰药房", "同仁药店", "济生堂药店", "民生药房", "万家康药店", "永安药房", "福康药店", "千金药房",
               "杏春堂药店", "康复来药房", "一心堂药店"]


def build(persons_n, seed):
    rng = stream(seed, "city")
    f = (persons_n / 6000.0) ** 0.6
    rows = []
    serial = {}

    def add(cls, kind, name, d, level, own, spec, **kw):
        k = {"hospital": 1, "community": 2, "clinic": 3, "pharmacy": 4}[kind]
        serial[(d, k)] = serial.get((d, k), 0) + int(rng.integers(1, 4))
        iid = f"0{d + 1:02d}{k}{serial[(d, k)]:04d}"
        r = dict(institution_id=iid, name=name, kind=kind, level=level, ownership=own, district=DNAME[d],
                 dist=d, cls=cls, spec=spec, chain=-1, size=1.0)
        r.update(kw)
        rows.append(r)

    n3 = max(3, round(6 * f))
    tert_names = ["海州市第一人民医院", "海州市中心医院", "海州大学附属医院", "海州市第二人民医院", "海州市中医院",
                  "省立海州医院", "海州市第三人民医院", "海州医科大学第二附属医院"]
    for i in range(n3):
        d = [0, 1, 2, 4, 3, 5][i % 6]
        nm = tert_names[i] if i < len(tert_names) else f"海州市第{i + 1}人民医院"
        add("tertiary", "hospital", nm, d, 3, "public", SPEC_TERTIARY, size=rng.uniform(2.5, 4.5))
    add("tertiary", "hospital", "海州市肿瘤医院", 1, 3, "public", SPEC_ONCO, size=1.6, onco=True)
    for i in range(max(3, round(7 * f))):
        d = i % 8
        nm = f"{DNAME[d]}人民医院" if i < 8 else f"{DNAME[d]}第{i // 8 + 1}人民医院"
        if i % 3 == 2:
            nm = f"{DNAME[d]}中医院"
        add("secondary", "hospital", nm, d, 2, "public", SPEC_SECONDARY, size=rng.uniform(1.0, 1.8))
    for i in range(max(3, round(6 * f))):
        d = int(rng.integers(0, 8))
        add("private", "hospital", PRIVATE_HOSP[i % len(PRIVATE_HOSP)] + ("" if i < len(PRIVATE_HOSP) else str(i)),
            d, int(rng.choice([1, 2], p=[0.55, 0.45])), "private", SPEC_PRIVATE, size=rng.uniform(0.25, 0.6))
    add("psych", "hospital", "海州市精神卫生中心", 3, 3, "public", SPEC_PSYCH, size=0.5)
    add("rehab", "hospital", "海州康复医院", 5, 2, "private", SPEC_REHAB, size=0.4)
    add("internet", "hospital", "海州市第一人民医院互联网医院", 0, None, "public", SPEC_WEB, size=1.0)
    add("internet", "hospital", "康云互联网医院", 5, None, "private", SPEC_WEB, size=1.0)
    nchc = max(8, round(16 * f))
    for i in range(nchc):
        d = i % 8
        st = STREETS[(i * 7 + 3) % len(STREETS)][:2]
        add("community", "community", f"{DNAME[d]}{st}街道社区卫生服务中心", d, None, "public",
            {"全科": int(rng.integers(3, 6)), "中医科": 1}, size=rng.uniform(0.8, 1.3))
    for i in range(max(5, round(12 * f))):
        d = int(rng.integers(0, 8))
        tcm = "中医" in CLINIC_NAMES[i % len(CLINIC_NAMES)]
        add("clinic", "clinic", f"海州{DNAME[d][:2]}{CLINIC_NAMES[i % len(CLINIC_NAMES)]}", d, None, "private",
            {"中医科" if tcm else "全科": int(rng.integers(1, 3))}, size=rng.uniform(0.3, 0.8))
    for c, (cname, own) in enumerate(CHAINS):
        for j in range(max(3, round(rng.uniform(6, 11) * f))):
            d = int(rng.choice(8, p=DW / DW.sum()))
            st = STREETS[int(rng.integers(0, len(STREETS)))]
            add("pharmacy", "pharmacy", f"{cname}({DNAME[d]}{st}店)", d, None, own, {"药剂科": int(rng.integers(1, 3))},
                chain=c, size=rng.uniform(0.7, 1.4))
    for i in range(max(3, round(8 * f))):
        d = int(rng.integers(0, 8))
        add("pharmacy", "pharmacy", f"海州{INDEP_PHARM[i % len(INDEP_PHARM)]}({DNAME[d][:2]}店)", d, None, "private",
            {"药剂科": int(rng.integers(1, 3))}, size=rng.uniform(0.4, 0.9))
    inst = pd.DataFrame(rows)
    n = len(inst)
    inst["onco"] = inst.get("onco", False)
    inst["onco"] = inst["onco"].eq(True)
    cls = inst["cls"].to_numpy()
    p_face = np.select([cls == "tertiary", cls == "secondary", cls == "private", np.isin(cls, ["psych", "rehab"]),
                        cls == "community", cls == "clinic", cls == "pharmacy"], [0.85, 0.6, 0.35, 0.5, 0.5, 0.15, 0.45], 0.0)
    chain_bonus = np.where(inst["chain"].to_numpy() >= 0, 0.15, -0.2)
    p_face = np.where(cls == "pharmacy", p_face + chain_bonus, p_face)
    face = rng.random(n) < p_face
    face[cls == "internet"] = False
    inst["has_face_terminal"] = face
    p_scan = np.select([cls == "pharmacy", np.isin(cls, ["tertiary", "secondary", "psych", "rehab"]), cls == "community",
                        cls == "clinic", cls == "private"], [0.95, 0.92, 0.75, 0.5, 0.7], 0.0)
    inst["scans"] = rng.random(n) < p_scan
    inst["batch"] = np.isin(cls, ["clinic", "community"]) & (rng.random(n) < 0.2)
    inst["market"] = np.isin(cls, ["community", "clinic"]) & (inst["dist"].to_numpy() >= 6) & (rng.random(n) < 0.7)
    inst["refill_day"] = np.where(cls == "community", rng.integers(3, 12, n), -1)
    inst["price_factor"] = np.where(cls == "pharmacy", rng.uniform(0.86, 0.99, n),
                                    np.where(np.isin(cls, ["clinic", "private"]), rng.uniform(0.93, 1.0, n), 1.0))
    inst["n_terms"] = np.where(np.isin(cls, ["tertiary"]), 6, np.where(cls == "secondary", 3, 1))
    # physicians
    prow = []
    pid = int(rng.integers(1000, 3000))
    for i, r in inst.iterrows():
        for sp, cnt in r["spec"].items():
            for _ in range(cnt):
                pid += int(rng.integers(1, 9))
                prow.append(dict(physician_id=f"Y{pid:07d}", inst=i, specialty=sp, spec=SPEC_ID[sp]))
    phys = pd.DataFrame(prow)
    sex = np.where(rng.random(len(phys)) < 0.5, "M", "F")
    phys["name"] = person_names(rng, sex)
    phys["institution_id"] = inst["institution_id"].to_numpy()[phys["inst"].to_numpy()]
    phys["senior"] = rng.random(len(phys)) < np.where(np.isin(cls[phys["inst"]], ["tertiary", "secondary"]), 0.4, 0.0)
    return inst, phys


def institutions_table(inst):
    t = inst[["institution_id", "name", "kind", "level", "ownership", "district", "has_face_terminal"]].copy()
    t["level"] = t["level"].astype("Int64")
    return t


def physicians_table(phys):
    return phys[["physician_id", "institution_id", "name", "specialty"]].copy()
