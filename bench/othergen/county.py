#!/usr/bin/env python3
"""Independent held-out generator: a rural county's medical-insurance export.

    python bench/othergen/county.py OUT --persons N --seed S

Writes the dataset tables (CSV, UTF-8, RFC 4180 quoting) to OUT/, the ground
truth to OUT/truth/ (rings.csv, entities.csv, violations.csv) and a short
description of the parameters drawn for this seed to OUT/README-generator.txt.

Written only from the data contract (shared/spec/data-contract.md) and a
scheme brief; deliberately shares no code, conventions or parameters with the
project's own generator.  Standalone: numpy, pandas and the standard library.

Conventions of this "county export" (documented in README-generator.txt):
- persons R000123 (a few transferred-in NCMS numbers are all digits with a
  leading zero), institutions JG-0042, physicians YS-0042-07, visits
  JS2024000001 (year of the settlement + running number), lines JS...-1,
  captures ZP00000001; service item codes are numeric strings with a leading 0.
- family_links.relation says what related_person_id is to person_id.
- truth/violations.csv: one row per fraudulent settlement of a scheme
  (line_id empty: every line of it is part of the scheme) and one row per
  rule-breaking line (line_id set) for the sporadic billing violations.
- drug_traces.csv (optional table): one row per pack dispensed at a scanning
  institution (a few village clinics do not scan yet), a 20-digit code per
  pack; boxed injections billed per vial carry the box's code once, when the
  box is opened.  drug_resale (倒卖回流药) rings: collectors buy high-value
  drugs on their own and borrowed credentials from many prescribers (a few
  prescribers feed them knowingly), recyclers pass the packs to complicit
  pharmacies/clinics, which settle the same codes again weeks later on other
  persons' credentials (re-settled lines are truth lines; collectors'
  purchases truth settlements).  Clean look-alikes: a refunded sale
  (reversed=true) sold again, a box split over two visits (quantity 0.5 +
  0.5), a scanner repeating the previous code within minutes, and chronic
  patients with the same drug monthly from two prescribers.  All of it is
  drawn last, on random streams of its own: for a given seed everything
  else is as before, only visit/line/capture numbers shift to make room.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import gc
import io
import math
import os
import random
import sys
import time
import zlib
from collections import Counter, defaultdict

import numpy as np
import pandas as pd

START = dt.datetime(2024, 3, 1)
END = dt.datetime(2025, 3, 1)          # exclusive: last day of care 2025-02-28
NDAYS = (END - START).days             # 365
D0 = START.date()
REF_AGE_DATE = dt.date(2024, 9, 1)
SF_FIRST = (dt.date(2025, 1, 18) - D0).days   # Spring Festival home-coming window
SF_LAST = (dt.date(2025, 2, 16) - D0).days
MONTH_OF_DAY = [(D0 + dt.timedelta(days=d)).month for d in range(NDAYS)]
WEEKDAY_OF_DAY = [(D0 + dt.timedelta(days=d)).weekday() for d in range(NDAYS)]
PERIODS = [f"{(2024 if m >= 3 else 2025)}-{m:02d}" for m in [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2]]

# --------------------------------------------------------------------------
# catalogue: code, name, type, class, cap/price, sex, age_min, age_max,
#            indication prefixes, max_days_supply, max_qty_per_visit, pack_days
# --------------------------------------------------------------------------
CATALOG = [
    # chronic oral drugs
    ("Y0100001", "苯磺酸氨氯地平片 5mg×28片", "drug", "A", 13.80, "", None, None, "", 30, 4, 28),
    ("Y0100002", "硝苯地平缓释片(Ⅱ) 20mg×30片", "drug", "A", 15.00, "", None, None, "", 30, 4, 15),
    ("Y0100003", "厄贝沙坦片 0.15g×14片", "drug", "B", 22.00, "", None, None, "I10;I11;I12;I13;E11;N18", 30, 6, 14),
    ("Y0100004", "盐酸二甲双胍片 0.5g×48片", "drug", "A", 9.60, "", None, None, "", 30, 6, 16),
    ("Y0100005", "格列齐特缓释片 30mg×30片", "drug", "B", 26.00, "", None, None, "E11", 30, 4, 30),
    ("Y0100006", "甘精胰岛素注射液 3ml:300单位", "drug", "B", 98.00, "", None, None, "E10;E11;E13", 30, 5, 15),
    ("Y0100007", "阿托伐他汀钙片 20mg×7片", "drug", "B", 18.00, "", None, None, "I20;I21;I25;I63;I69;E78;E11", 30, 6, 7),
    ("Y0100008", "阿司匹林肠溶片 100mg×30片", "drug", "A", 8.50, "", None, None, "", 30, 4, 30),
    ("Y0100009", "复方丹参滴丸 27mg×180丸", "drug", "B", 32.00, "", None, None, "I20;I25", 30, 4, 20),
    ("Y0100010", "噻托溴铵粉吸入剂 18μg×30粒", "drug", "B", 168.00, "", None, None, "J44", 30, 2, 30),
    ("Y0100011", "硫酸沙丁胺醇吸入气雾剂 100μg×200揿", "drug", "A", 28.00, "", None, None, "", 30, 3, 30),
    ("Y0100012", "奥美拉唑肠溶胶囊 20mg×14粒", "drug", "A", 9.00, "", None, None, "", 30, 4, 14),
    ("Y0100013", "盐酸氨基葡萄糖胶囊 0.24g×30粒", "drug", "B", 36.00, "", None, None, "M15;M16;M17;M19", 30, 4, 10),
    ("Y0100014", "琥珀酸美托洛尔缓释片 47.5mg×7片", "drug", "B", 16.00, "", None, None, "I10;I20;I25;I48;I50", 30, 6, 7),
    ("Y0100015", "脑心通胶囊 0.4g×48粒", "drug", "B", 45.00, "", None, None, "I63;I69;I25", 30, 4, 16),
    ("Y0100016", "利培酮片 1mg×20片", "drug", "B", 35.00, "", None, None, "F20;F25;F31", 30, 4, 10),
    ("Y0100017", "盐酸坦索罗辛缓释胶囊 0.2mg×10粒", "drug", "B", 30.00, "M", None, None, "N40", 30, 4, 10),
    ("Y0100018", "黄体酮胶囊 100mg×10粒", "drug", "B", 40.00, "F", None, None, "N91;N92;N93;N97;O20;O26", 14, 3, 5),
    ("Y0100019", "妇科千金片 ×72片", "drug", "B", 28.00, "F", None, None, "N70;N71;N72;N73;N76", 14, 3, 12),
    ("Y0100020", "艾司唑仑片 1mg×20片", "drug", "A", 6.00, "", None, None, "G47;F41;F51;F32", 14, 2, 20),
    ("Y0100021", "盐酸曲马多缓释片 0.1g×10片", "drug", "B", 24.00, "", None, None, "M15;M16;M17;M47;M54;M79;C", 7, 3, 5),
    ("Y0100022", "司美格鲁肽注射液 1.34mg/ml×1.5ml", "drug", "B", 478.00, "", None, None, "E11", 30, 2, 28),
    ("Y0100023", "酒石酸唑吡坦片 10mg×7片", "drug", "B", 38.00, "", None, None, "G47;F51", 14, 2, 7),
    # acute oral / topical
    ("Y0200001", "阿莫西林胶囊 0.25g×24粒", "drug", "A", 8.00, "", None, None, "", 7, 3, 4),
    ("Y0200002", "头孢呋辛酯片 0.25g×12片", "drug", "A", 22.00, "", None, None, "", 7, 3, 6),
    ("Y0200003", "布洛芬缓释胶囊 0.3g×20粒", "drug", "A", 10.00, "", None, None, "", 7, 3, 10),
    ("Y0200004", "对乙酰氨基酚片 0.5g×20片", "drug", "A", 4.00, "", None, None, "", 7, 3, 7),
    ("Y0200005", "连花清瘟胶囊 0.35g×36粒", "drug", "B", 18.00, "", None, None, "J00;J06;J09;J10;J11", 7, 3, 3),
    ("Y0200006", "磷酸奥司他韦胶囊 75mg×10粒", "drug", "B", 38.00, "", None, None, "J09;J10;J11", 5, 2, 5),
    ("Y0200007", "复方甘草片 ×100片", "drug", "A", 6.00, "", None, None, "", 7, 3, 25),
    ("Y0200008", "蒙脱石散 3g×10袋", "drug", "A", 12.00, "", None, None, "", 7, 3, 3),
    ("Y0200009", "小儿豉翘清热颗粒 2g×6袋", "drug", "B", 18.00, "", None, 14, "", 5, 3, 2),
    ("Y0200010", "小儿氨酚黄那敏颗粒 ×10袋", "drug", "A", 8.00, "", None, 14, "", 5, 3, 3),
    ("Y0200011", "开喉剑喷雾剂(儿童型) 20ml", "drug", "B", 26.00, "", None, 14, "B08;J02;J03;K12", 7, 2, 7),
    ("Y0200012", "左氧氟沙星片 0.5g×4片", "drug", "A", 12.00, "", 18, None, "", 7, 3, 4),
    ("Y0200013", "蒲地蓝消炎口服液 10ml×10支", "drug", "B", 28.00, "", None, None, "J02;J03;J06;K12;B08", 7, 3, 3),
    ("Y0200014", "双氯芬酸钠缓释片 0.1g×10片", "drug", "A", 7.00, "", None, None, "", 7, 3, 10),
    ("Y0200015", "复方氨酚烷胺片 ×12片", "drug", "A", 10.00, "", None, None, "", 5, 3, 6),
    ("Y0200016", "维生素C片 0.1g×100片", "drug", "C", 3.50, "", None, None, "", None, None, None),
    ("Y0200017", "藿香正气水 10ml×10支", "drug", "A", 8.00, "", None, None, "", 5, 3, 3),
    ("Y0200018", "红霉素软膏 1%×10g", "drug", "A", 3.00, "", None, None, "", None, 3, None),
    # injections
    ("Y0300001", "0.9%氯化钠注射液 250ml", "drug", "A", 4.00, "", None, None, "", None, None, None),
    ("Y0300002", "5%葡萄糖注射液 250ml", "drug", "A", 4.50, "", None, None, "", None, None, None),
    ("Y0300003", "注射用头孢曲松钠 1.0g", "drug", "A", 6.00, "", None, None, "", None, 40, None),
    ("Y0300004", "注射用青霉素钠 160万单位", "drug", "A", 1.50, "", None, None, "", None, 60, None),
    ("Y0300005", "地塞米松磷酸钠注射液 5mg", "drug", "A", 0.80, "", None, None, "", None, 10, None),
    ("Y0300006", "注射用丹参多酚酸盐 100mg", "drug", "B", 98.00, "", None, None, "I63;I20;I25", None, 20, None),
    ("Y0300007", "注射用血栓通(冻干) 150mg", "drug", "B", 38.00, "", None, None, "I63;I69;H34", None, 30, None),
    ("Y0300008", "脂肪乳氨基酸(17)葡萄糖(11%)注射液 1440ml", "drug", "B", 186.00, "", None, None, "E40;E41;E43;E44;E46;K91", None, 10, None),
    ("Y0300009", "复方氨基酸注射液(18AA) 250ml", "drug", "B", 42.00, "", None, None, "E40;E43;E44;E46;K91", None, 20, None),
    ("Y0300010", "阿达木单抗注射液 40mg/0.8ml", "drug", "B", 1290.00, "", None, None, "M05;M06;M45;L40;K50", 28, 2, 14),
    ("Y0300011", "注射用鼠神经生长因子 20μg", "drug", "B", 188.00, "", None, None, "G56;G57;G58;G62;T90", None, 10, None),
    ("Y0300012", "参麦注射液 20ml", "drug", "B", 26.00, "", None, None, "I50;R57;I46", None, 20, None),
    ("Y0300013", "注射用胸腺法新 1.6mg", "drug", "B", 680.00, "", None, None, "B18;C", None, 4, None),
    ("Y0300014", "注射用奥美拉唑钠 40mg", "drug", "B", 15.00, "", None, None, "K25;K26;K27;K29;K92;K21", None, 20, None),
    ("Y0300015", "低分子量肝素钙注射液 0.4ml", "drug", "B", 30.00, "", None, None, "I26;I63;I80;I21;I20;S72", None, 20, None),
    ("Y0300016", "人血白蛋白 10g", "drug", "B", 380.00, "", None, None, "R57;K72;K74;E88;C;T31", None, 10, None),
    # drugs a cash-out pharmacy likes (no payment restriction)
    ("Y0400001", "安宫牛黄丸 3g×1丸", "drug", "B", 468.00, "", None, None, "", None, 3, None),
    ("Y0400002", "血塞通软胶囊 60mg×24粒", "drug", "B", 38.00, "", None, None, "", 30, 6, 8),
    ("Y0400003", "银杏叶片 9.6mg×48片", "drug", "B", 32.00, "", None, None, "", 30, 6, 16),
    # services (national-style numeric codes, leading zero)
    ("011100001", "普通门诊诊查费", "service", "A", 6.00, "", None, None, "", None, None, None),
    ("011100002", "一般诊疗费(基层)", "service", "A", 10.00, "", None, None, "", None, None, None),
    ("011100003", "住院诊查费(日)", "service", "A", 12.00, "", None, None, "", None, None, None),
    ("011100004", "床位费(普通病房,日)", "service", "A", 30.00, "", None, None, "", None, None, None),
    ("011100005", "Ⅱ级护理(日)", "service", "A", 15.00, "", None, None, "", None, None, None),
    ("012000001", "血细胞分析(五分类)", "service", "A", 20.00, "", None, None, "", None, None, None),
    ("012000002", "尿液常规检查", "service", "A", 8.00, "", None, None, "", None, None, None),
    ("012000003", "肝功能检测", "service", "A", 45.00, "", None, None, "", None, None, None),
    ("012000004", "肾功能检测", "service", "A", 30.00, "", None, None, "", None, None, None),
    ("012000005", "血糖测定(快速)", "service", "A", 6.00, "", None, None, "", None, None, None),
    ("012000006", "常规心电图检查", "service", "A", 25.00, "", None, None, "", None, None, None),
    ("012000007", "腹部彩色多普勒超声", "service", "A", 80.00, "", None, None, "", None, None, None),
    ("012000008", "DR胸部正位摄影", "service", "A", 70.00, "", None, None, "", None, None, None),
    ("012000009", "颅脑CT平扫", "service", "A", 180.00, "", None, None, "", None, None, None),
    ("012000010", "前列腺特异性抗原测定(PSA)", "service", "B", 60.00, "M", None, None, "", None, None, None),
    ("012000011", "宫颈液基细胞学检查(TCT)", "service", "B", 120.00, "F", None, None, "", None, None, None),
    ("012000012", "C反应蛋白测定", "service", "A", 15.00, "", None, None, "", None, None, None),
    ("013000001", "静脉输液(第一组)", "service", "A", 8.00, "", None, None, "", None, None, None),
    ("013000002", "肌肉注射", "service", "A", 3.00, "", None, None, "", None, None, None),
    ("013000003", "雾化吸入", "service", "A", 10.00, "", None, None, "", None, None, None),
    ("014000001", "普通针刺", "service", "B", 25.00, "", None, None, "", None, None, None),
    ("014000002", "推拿治疗", "service", "B", 30.00, "", None, None, "", None, None, None),
    ("014000003", "偏瘫肢体综合训练", "service", "B", 60.00, "", None, None, "I69;I63;I61;G81", None, None, None),
    ("014000004", "个别心理治疗", "service", "B", 60.00, "", None, None, "F", None, None, None),
    ("015000001", "健康体检(家庭医生签约)", "service", "A", 30.00, "", None, None, "Z00;Z13", None, None, None),
    ("016000001", "经阴道分娩", "service", "A", 800.00, "F", None, None, "O80", None, None, None),
    ("016000002", "阑尾切除术", "service", "A", 1200.00, "", None, None, "K35;K36;K37", None, None, None),
    ("016000003", "腹腔镜胆囊切除术", "service", "B", 2800.00, "", None, None, "K80;K81", None, None, None),
    ("016000004", "人工髋关节置换术", "service", "B", 4500.00, "", None, None, "S72;M16", None, None, None),
    ("016000005", "清创缝合术(小)", "service", "A", 60.00, "", None, None, "", None, None, None),
    ("016000006", "精神科监护(日)", "service", "B", 25.00, "", None, None, "F", None, None, None),
    # materials
    ("HC0000001", "一次性使用输液器", "material", "A", 4.00, "", None, None, "", None, None, None),
    ("HC0000002", "一次性使用无菌注射器 5ml", "material", "A", 1.00, "", None, None, "", None, None, None),
    ("HC0000003", "医用纱布敷料", "material", "A", 10.00, "", None, None, "", None, None, None),
    ("HC0000004", "一次性导尿包", "material", "B", 25.00, "", None, None, "", None, None, None),
    ("HC0000005", "人工髋关节假体(股骨柄+髋臼)", "material", "B", 12000.00, "", None, None, "S72;M16", None, 1, None),
    ("HC0000006", "一次性使用静脉留置针", "material", "B", 12.00, "", None, None, "", None, None, None),
    # non-medical (not reimbursable)
    ("FY0000001", "陪护床租用(日)", "non_medical", "C", 10.00, "", None, None, "", None, None, None),
    ("FY0000002", "住院膳食费(日)", "non_medical", "C", 25.00, "", None, None, "", None, None, None),
]
# items whose price is never published as a cap (the generator still uses a reference price)
NO_CAP = {"Y0200016", "FY0000001", "FY0000002"}

CONSULT_HOSP = "011100001"
CONSULT_BASE = "011100002"

# drug traceability (药品追溯码).  Items with a pack size (pack_days) are billed in packs and every pack
# carries a code; single-unit items (a pill box, a bottle, a tube, a pen, an infusion bottle, a vial sold
# on its own) likewise.  These injections are billed per vial/ampoule but come in boxes of this many: the
# box's code is scanned once, when the box is opened (首次拆零扫码), on the line that opens it.
BOX_UNITS = {"Y0300003": 10, "Y0300004": 10, "Y0300005": 10, "Y0300007": 10, "Y0300012": 6, "Y0300015": 2}
# what collectors (职业开药人) collect: code, diagnosis written on the prescription, weight
RESALE_DRUGS = [("Y0100022", "E11.9", 3), ("Y0100006", "E11.9", 3), ("Y0100010", "J44.9", 3),
                ("Y0400001", "I69.3", 2), ("Y0300010", "M06.9", 1), ("Y0300013", "B18.1", 1),
                ("Y0100009", "I25.1", 1)]
# a box split (拆零) over two visits of one patient: code, diagnosis
SPLIT_ITEMS = [("Y0200007", "J20.9"), ("Y0200001", "J20.9"), ("Y0100013", "M17.9"), ("Y0100012", "K29.7"),
               ("Y0200003", "M54.5"), ("Y0100004", "E11.9")]

# chronic conditions: code -> (name, regimens with weights)
CHRONIC = {
    "I10": [(["Y0100001"], .45), (["Y0100002"], .35), (["Y0100003"], .20)],
    "E11.9": [(["Y0100004"], .55), (["Y0100004", "Y0100005"], .33), (["Y0100006", "Y0100004"], .12)],
    "I25.1": [(["Y0100008", "Y0100007"], .5), (["Y0100009"], .3), (["Y0100008", "Y0100014"], .2)],
    "J44.9": [(["Y0100010"], .45), (["Y0100011"], .55)],
    "I69.3": [(["Y0100008", "Y0100007"], .6), (["Y0100015"], .4)],
    "M17.9": [(["Y0100013"], 1.0)],
    "K29.5": [(["Y0100012"], 1.0)],
    "N40": [(["Y0100017"], 1.0)],
}
# prevalence by age band (>=60, 45-59, <45)
CHRONIC_PREV = {
    "I10": (.46, .22, .03), "E11.9": (.16, .08, .01), "I25.1": (.11, .04, 0.0),
    "J44.9": (.09, .03, .005), "I69.3": (.05, .015, 0.0), "M17.9": (.12, .05, .005),
    "K29.5": (.06, .05, .02), "N40": (.16, .04, 0.0),
}

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN_M = list("建国军华明强伟勇德志文平福贵祥成海林山水永光荣富有庆云春生全兴发顺天忠")
GIVEN_F = list("秀兰英芳桂珍凤琴玉梅霞红丽娟花翠菊敏燕萍素芬莲淑巧春香")
TOWN_NAMES = ["城关镇", "青石镇", "白马乡", "龙潭镇", "花桥乡", "柏林镇", "双河乡", "石门镇", "高坪乡",
              "金竹乡", "沙溪镇", "黄土乡", "三溪镇", "马鞍乡", "清水乡", "永兴镇"]
VILLAGE_A = ["石板", "白果", "青杠", "桃园", "新民", "团结", "红星", "长岭", "大堰", "柳树", "坪山", "河口",
             "松林", "竹园", "枫香", "凉水", "杏花", "金鸡", "观音", "五里", "龙井", "双桥", "水口", "岩湾",
             "梨树", "大田", "小河", "高峰", "向阳", "光明", "太平", "联合", "燕子", "铁炉", "瓦窑", "茶园"]
VILLAGE_B = ["村", "沟村", "湾村", "坝村", "岭村", "坪村", "垭村"]
PHARM_BRANDS = ["仁和", "康源", "惠民", "百姓", "济生", "同心", "益康", "万家", "回春", "安泰", "民康", "福寿堂"]


def age_on(birth: dt.date, d: dt.date) -> int:
    a = d.year - birth.year
    if (d.month, d.day) < (birth.month, birth.day):
        a -= 1
    return a


def fmt_qty(q) -> str:
    if q is None:
        return ""
    if abs(q - round(q)) < 1e-9:
        return str(int(round(q)))
    return f"{q:.2f}".rstrip("0").rstrip(".")


def fmt_money(x) -> str:
    return f"{x:.2f}"


def fmt_ts(t) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S") if t is not None else ""


class V:
    """One settlement being built."""
    __slots__ = ("p", "inst", "phys", "vt", "start", "end", "dx", "lines", "payer", "present",
                 "tag", "ring", "capture", "adm_present", "dis_present", "ward", "vid", "book",
                 "term", "fund", "total", "home", "new")

    def __init__(self, p, inst, phys, vt, start, end, dx, lines, present, tag=None, ring=None):
        self.p = p
        self.inst = inst
        self.phys = phys
        self.vt = vt
        self.start = start
        self.end = end
        self.dx = dx
        self.lines = lines
        self.payer = None
        self.present = present
        self.tag = tag
        self.ring = ring
        self.capture = True
        self.adm_present = True
        self.dis_present = True
        self.ward = True
        self.vid = None
        self.book = True      # counted in the stock book (a cash-out swipe is not)
        self.term = None
        self.fund = None
        self.total = None
        self.home = False
        self.new = False      # made by the drug-trace pass on its own random stream


class County:
    def __init__(self, n_persons: int, seed: int):
        self.N = int(n_persons)
        self.seed = int(seed)
        self.R = random.Random(seed)
        self.rng = np.random.default_rng(seed)
        self.notes: list[str] = []
        self.conf_notes: list[str] = []
        self.cat = {}
        for row in CATALOG:
            code, name, typ, cls, cap, sex, amin, amax, pref, mdays, mqty, pack = row
            self.cat[code] = dict(code=code, name=name, type=typ, cls=cls, ref=cap,
                                  cap=(None if code in NO_CAP else cap), sex=sex, amin=amin, amax=amax,
                                  pref=[p for p in pref.split(";") if p], mdays=mdays, mqty=mqty, pack=pack)
        # publish no cap for a few further ordinary items (sparse column)
        for code in ["Y0200007", "013000002", "HC0000002", "012000002", "Y0300005"]:
            if self.R.random() < 0.6:
                self.cat[code]["cap"] = None
        self.visits: list[V] = []
        self.price_cache = {}
        self.rings = []          # dicts: ring_id, scheme, members [(type, idx)]
        self.lone = []           # (type, idx, scheme)
        self.ring_insts = set()
        self.fraud_persons = set()
        self.ext_faces = []      # per uninsured face: index into ext vectors
        self.ext_count = 0
        self.family_links = []
        self.link_set = set()
        self.camera_off = {}     # inst -> (day0, day1)

    # ------------------------------------------------------------------ utils
    def t_at(self, d, h0, h1):
        s = self.R.uniform(h0 * 3600, h1 * 3600)
        return START + dt.timedelta(days=int(d), seconds=int(s))

    def price(self, inst, code):
        key = (inst, code)
        p = self.price_cache.get(key)
        if p is None:
            it = self.cat[code]
            f = self.insts[inst]["pf"] * self.R.uniform(0.97, 1.0)
            if it["cap"] is not None:
                p = math.floor(it["cap"] * f * 100) / 100.0
            else:
                p = round(it["ref"] * self.R.uniform(0.85, 1.15), 2)
            p = max(p, 0.01)
            self.price_cache[key] = p
        return p

    def L(self, inst, code, qty, days=None, stime=None):
        return [code, qty, self.price(inst, code), days, stime, None]

    def drug_days(self, inst, code, days):
        it = self.cat[code]
        pk = it["pack"]
        if pk is None:
            return self.L(inst, code, 1, None)
        qty = max(1, math.ceil(days / pk))
        if it["mqty"] is not None and qty > it["mqty"]:
            qty = int(it["mqty"])
            days = int(qty * pk)
        if it["mdays"] is not None and days > it["mdays"]:
            days = it["mdays"]
        return self.L(inst, code, qty, int(days))

    def add_link(self, a, b, rel):
        key = (a, b)
        if a == b or key in self.link_set:
            return
        self.link_set.add(key)
        self.family_links.append((a, b, rel))

    def new_ext_face(self):
        self.ext_count += 1
        return -self.ext_count   # negative = face of an uninsured person

    # -------------------------------------------------------------- geography
    def build_geography(self):
        R = self.R
        N = self.N
        n_towns = int(min(len(TOWN_NAMES), max(4, round(N / 800))))
        n_towns = min(n_towns, 12)
        n_vill = int(min(240, max(7, round(N / 230))))
        self.towns = [dict(name=TOWN_NAMES[t], market=R.randrange(5), villages=[]) for t in range(n_towns)]
        used = set()
        self.villages = []
        for v in range(n_vill):
            while True:
                nm = R.choice(VILLAGE_A) + R.choice(VILLAGE_B)
                if R.random() < 0.3:
                    nm = R.choice(SURNAMES) + "家" + R.choice(["湾村", "坝村", "沟村", "庄村"])
                if nm not in used:
                    used.add(nm)
                    break
            t = v % n_towns if v < n_towns else R.randrange(n_towns)
            self.villages.append(dict(name=nm, town=t, persons=[], clans=R.sample(SURNAMES[:60], 2)))
            self.towns[t]["villages"].append(v)
        # sizes: one very big village (the confounder), others log-normal
        big = int(max(340, round(0.065 * N)))
        big = min(big, int(0.22 * N))
        rest = N - big
        w = self.rng.lognormal(0, 0.45, n_vill - 1)
        sizes = np.maximum(40, np.floor(w / w.sum() * rest)).astype(int)
        diff = rest - int(sizes.sum())
        k = 0
        while diff != 0:
            j = k % (n_vill - 1)
            if diff > 0:
                sizes[j] += 1
                diff -= 1
            elif sizes[j] > 40:
                sizes[j] -= 1
                diff += 1
            k += 1
        # the big village is not in the county seat
        cand = [v for v in range(n_vill) if self.villages[v]["town"] != 0]
        self.big_village = R.choice(cand)
        it = iter(sizes.tolist())
        for v in range(n_vill):
            self.villages[v]["size"] = big if v == self.big_village else next(it)

    # -------------------------------------------------------------- persons
    def build_persons(self):
        R = self.R
        self.sex, self.birth, self.vill, self.hh, self.role, self.away = [], [], [], [], [], []
        self.father, self.mother, self.pname = [], [], []
        self.households = []
        for v, vd in enumerate(self.villages):
            target = vd["size"]
            start_n = len(self.sex)
            while len(self.sex) - start_n < target:
                self._household(v, target - (len(self.sex) - start_n))
        n = len(self.sex)
        assert n == self.N, (n, self.N)
        self.town_of = [self.villages[v]["town"] for v in self.vill]
        # insurance, chronic, deaths, ids
        self.ins, self.chronic, self.registered, self.death, self.idno = [], [], [], [], []
        for i in range(n):
            a = age_on(self.birth[i], REF_AGE_DATE)
            away = self.away[i]
            if away:
                emp = R.random() < 0.04
            elif 20 <= a < 60:
                emp = R.random() < 0.11
            elif a >= 60:
                emp = R.random() < 0.05
            else:
                emp = False
            self.ins.append("employee" if emp else "resident")
            conds = []
            if not away:
                band = 0 if a >= 60 else (1 if a >= 45 else 2)
                for c, prev in CHRONIC_PREV.items():
                    if c == "N40" and self.sex[i] != "M":
                        continue
                    pr = prev[band] * (1.0 + (0.25 if a >= 75 else 0.0))
                    if R.random() < pr:
                        conds.append(c)
            self.chronic.append(conds)
            self.registered.append(bool(conds) and R.random() < 0.5)
            dd = None
            if a >= 68 and R.random() < 0.010 * (a - 60) / 5:
                dd = D0 + dt.timedelta(days=R.randrange(20, NDAYS))
            self.death.append(dd)
        # ids: R + 6 digits in a shuffled order; ~2% old NCMS numbers (digits, leading zero)
        order = list(range(n))
        R.shuffle(order)
        self.pid = [None] * n
        seen = set()
        for k, i in enumerate(order):
            if R.random() < 0.02:
                while True:
                    s = "0" + str(R.randrange(10 ** 7, 10 ** 8))
                    if s not in seen:
                        break
            else:
                s = f"R{k + 1:06d}"
            seen.add(s)
            self.pid[i] = s
        for i in range(n):
            if R.random() < 0.6:
                b = self.birth[i]
                body = "510824" + b.strftime("%Y%m%d") + f"{R.randrange(1000):03d}"
                # sex digit: odd for men
                d17 = int(body[-1])
                if (d17 % 2 == 1) != (self.sex[i] == "M"):
                    d17 = (d17 + 1) % 10
                body = body[:-1] + str(d17)
                wts = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
                chk = "10X98765432"[sum(int(c) * w for c, w in zip(body, wts)) % 11]
                self.idno.append(body + chk)
            else:
                self.idno.append("")

    def _person(self, v, h, sex, age, role, away, surname, father=None, mother=None):
        R = self.R
        age = max(0.7, age)
        b = REF_AGE_DATE - dt.timedelta(days=int(age * 365.25) + R.randrange(0, 300) - 150)
        if b >= D0 - dt.timedelta(days=30):
            b = D0 - dt.timedelta(days=30 + R.randrange(200))
        i = len(self.sex)
        self.sex.append(sex)
        self.birth.append(b)
        self.vill.append(v)
        self.hh.append(h)
        self.role.append(role)
        self.away.append(away)
        self.father.append(father)
        self.mother.append(mother)
        g = R.choice(GIVEN_M if sex == "M" else GIVEN_F)
        if R.random() < 0.55:
            g += R.choice(GIVEN_M if sex == "M" else GIVEN_F)
        nm = surname + g
        u = R.random()
        if u < 0.003:
            nm = R.choice(["阿依古丽·买买提", "吉克·阿呷", "扎西·卓玛", "马·阿卜杜"])
        elif u < 0.006:
            nm = nm + "," + surname + R.choice(GIVEN_F + GIVEN_M)   # former name kept in the field
        elif u < 0.008:
            nm = nm + '"小' + R.choice(GIVEN_M) + '"'
        self.pname.append(nm)
        self.villages[v]["persons"].append(i)
        self.households[h]["members"].append(i)
        return i

    def _household(self, v, room):
        R = self.R
        h = len(self.households)
        self.households.append(dict(village=v, members=[], elders=[], adults=[], kids=[]))
        H = self.households[h]
        vd = self.villages[v]
        sn = R.choice(vd["clans"]) if R.random() < 0.6 else R.choice(SURNAMES)
        r = R.random()
        made = 0

        def ok():
            return made < room

        if r < 0.44:   # stem: grandparents + adult children (often away) + left-behind kids
            ga = R.uniform(58, 88)
            g1 = g2 = None
            if R.random() < 0.8:
                g1 = self._person(v, h, "M", ga + R.uniform(0, 4), "elder", False, sn); made += 1
                H["elders"].append(g1)
                if ok():
                    g2 = self._person(v, h, "F", ga, "elder", False, R.choice(SURNAMES)); made += 1
                    H["elders"].append(g2)
            else:
                g1 = self._person(v, h, R.choice("MFF"), ga, "elder", False, sn); made += 1
                H["elders"].append(g1)
            fa = g1 if self.sex[g1] == "M" else None
            mo = g2 if g2 is not None else (g1 if self.sex[g1] == "F" else None)
            for _ in range(R.choice([1, 1, 1, 2])):
                if not ok():
                    break
                aa = max(20.0, ga - R.uniform(22, 32))
                if aa > 56:
                    aa = R.uniform(30, 55)
                asx = R.choice("MF")
                away = R.random() < 0.62
                a1 = self._person(v, h, asx, aa, "adult", away, sn, fa, mo); made += 1
                H["adults"].append(a1)
                sp = None
                if ok() and R.random() < 0.7:
                    sp = self._person(v, h, "F" if asx == "M" else "M", aa + R.uniform(-3, 3), "spouse_in",
                                      R.random() < (0.75 if away else 0.3), R.choice(SURNAMES)); made += 1
                    H["adults"].append(sp)
                    self.spouse_pairs.append((a1, sp))
                for _ in range(R.choice([0, 0, 1, 1, 2, 3])):
                    if not ok():
                        break
                    ka = R.uniform(0.7, min(15.5, aa - 19))
                    if ka < 0.7:
                        break
                    f2 = a1 if asx == "M" else sp
                    m2 = a1 if asx == "F" else sp
                    k = self._person(v, h, R.choice("MF"), ka, "child", False, sn, f2, m2); made += 1
                    H["kids"].append(k)
            if g1 is not None and g2 is not None:
                self.spouse_pairs.append((g1, g2))
        elif r < 0.78:  # elderly alone or couple
            ga = R.uniform(60, 92)
            g1 = self._person(v, h, R.choice("MF"), ga, "elder", False, sn); made += 1
            H["elders"].append(g1)
            if ok() and R.random() < 0.55:
                g2 = self._person(v, h, "F" if self.sex[g1] == "M" else "M", ga + R.uniform(-4, 4), "elder",
                                  False, R.choice(SURNAMES)); made += 1
                H["elders"].append(g2)
                self.spouse_pairs.append((g1, g2))
        else:           # nuclear family
            aa = R.uniform(24, 56)
            a1 = self._person(v, h, "M", aa, "adult", R.random() < 0.4, sn); made += 1
            H["adults"].append(a1)
            sp = None
            if ok():
                sp = self._person(v, h, "F", aa + R.uniform(-5, 2), "adult", R.random() < 0.3,
                                  R.choice(SURNAMES)); made += 1
                H["adults"].append(sp)
                self.spouse_pairs.append((a1, sp))
            for _ in range(R.choice([0, 1, 1, 2])):
                if not ok():
                    break
                ka = R.uniform(0.7, min(17.5, aa - 20))
                if ka < 0.7:
                    break
                k = self._person(v, h, R.choice("MF"), ka, "child", False, sn, a1, sp); made += 1
                if ka < 15:
                    H["kids"].append(k)
                else:
                    H["adults"].append(k)

    # ---------------------------------------------------------- institutions
    def build_institutions(self):
        R = self.R
        N = self.N
        self.insts = []
        self.phys = []
        num = [R.randint(3, 15)]

        def add(kind, name, town, role, level=None, own="public", term=False, ward=False, beds=False,
                village=None, pf=None):
            num[0] += R.randint(1, 4)
            d = dict(idx=len(self.insts), id=f"JG-{num[0]:04d}", num=num[0], kind=kind, name=name,
                     town=town, role=role, level=level, own=own, term=term, ward=ward, beds=beds,
                     village=village, pf=pf if pf is not None else R.uniform(0.86, 1.0),
                     depts=defaultdict(list), staff=[], rec_pharm=False)
            self.insts.append(d)
            return d["idx"]

        county = "青川县"   # fictitious
        t0 = self.towns[0]["name"]
        lvl3 = R.random() < 0.35
        self.h_people = add("hospital", f"{county}人民医院", 0, "county", 3 if lvl3 else 2, term=True, ward=True,
                            beds=True, pf=R.uniform(0.97, 1.0))
        self.h_tcm = add("hospital", f"{county}中医医院", 0, "county_tcm", 2, term=True, ward=True, beds=True,
                         pf=R.uniform(0.96, 1.0))
        self.h_psych = None
        if R.random() < 0.75:
            self.h_psych = add("hospital", f'{county}"康宁"精神康复医院', 0, "psych", 1, own="private", term=True,
                               ward=True, beds=True)
        nbase = 3 if self.h_psych is not None else 2
        hi = min(6 - nbase, len(self.towns) - 1)
        lo = min(max(1, 3 - nbase), hi)
        n_central = R.randint(lo, hi)
        central_towns = R.sample(range(1, len(self.towns)), n_central)
        self.town_inst = {}
        self.central = []
        for t in range(len(self.towns)):
            tn = self.towns[t]["name"]
            if t == 0:
                self.town_inst[0] = add("community", f"{tn}社区卫生服务中心", 0, "community", term=R.random() < 0.3)
            elif t in central_towns:
                ward = R.random() < 0.3
                i = add("hospital", f"{tn}中心卫生院", t, "central", 1, term=True, ward=ward, beds=True)
                self.town_inst[t] = i
                self.central.append(i)
            else:
                self.town_inst[t] = add("community", f"{tn}卫生院", t, "township", term=R.random() < 0.15,
                                        beds=R.random() < 0.75)
        # village clinics
        self.clinic_of_village = {}
        for v, vd in enumerate(self.villages):
            term = R.random() < 0.07
            own = "private" if R.random() < 0.6 else "public"
            nm = f"{self.towns[vd['town']]['name']}{vd['name']}卫生室"
            if vd["town"] == 0:
                nm = f"{t0}{vd['name']}社区卫生服务站"
            kind = "clinic" if vd["town"] != 0 or R.random() < 0.5 else "community"
            self.clinic_of_village[v] = add(kind, nm, vd["town"], "village", own=own, term=term, village=v,
                                            pf=R.uniform(0.88, 1.0))
        # pharmacies
        n_ph = int(min(60, max(20, round(20 + N / 1200))))
        self.pharm_of_town = defaultdict(list)
        towns_cycle = list(range(len(self.towns)))
        alloc = []
        for t in towns_cycle:
            alloc.append(t)
        while len(alloc) < n_ph:
            alloc.append(0 if R.random() < 0.35 else R.randrange(len(self.towns)))
        for k, t in enumerate(alloc):
            tn = self.towns[t]["name"]
            brand = R.choice(PHARM_BRANDS)
            if R.random() < 0.12:
                nm = f'{brand}大药房("{R.choice(PHARM_BRANDS)}"连锁),{tn}{R.choice("一二三四五")}店'
            else:
                nm = f"{tn}{brand}大药房" + (f"{k}号店" if R.random() < 0.3 else "")
            i = add("pharmacy", nm, t, "pharmacy", own="private", term=R.random() < 0.15, pf=R.uniform(0.84, 1.0))
            self.insts[i]["rec_pharm"] = R.random() < 0.35
            self.pharm_of_town[t].append(i)
        # at least one pharmacy and one clinic with a face terminal
        ph_all = [i for i in range(len(self.insts)) if self.insts[i]["kind"] == "pharmacy"]
        if not any(self.insts[i]["term"] for i in ph_all):
            self.insts[R.choice(ph_all)]["term"] = True
        cl_all = [self.clinic_of_village[v] for v in range(len(self.villages)) if v != self.big_village]
        n_cl_term = sum(self.insts[i]["term"] for i in cl_all)
        while n_cl_term < 2:
            i = R.choice(cl_all)
            if not self.insts[i]["term"]:
                self.insts[i]["term"] = True
                n_cl_term += 1
        self.main_pharm = {t: self.pharm_of_town[t][0] for t in range(len(self.towns))}
        # physicians
        scale = N / 5000.0

        def staff(i, depts):
            for dname, cnt in depts:
                for _ in range(max(1, int(round(cnt)))):
                    k = len(self.insts[i]["staff"]) + 1
                    pid = f"YS-{self.insts[i]['num']:04d}-{k:02d}"
                    sx = R.choice("MF")
                    nm = R.choice(SURNAMES) + R.choice(GIVEN_M if sx == "M" else GIVEN_F) + \
                        (R.choice(GIVEN_M) if R.random() < 0.5 else "")
                    if R.random() < 0.01:
                        nm += ",(退休返聘)"
                    spec = dname if R.random() < 0.88 else ""
                    j = len(self.phys)
                    self.phys.append(dict(id=pid, inst=i, name=nm, spec=spec, dept=dname))
                    self.insts[i]["staff"].append(j)
                    self.insts[i]["depts"][dname].append(j)

        s = max(0.6, min(4.0, scale))
        staff(self.h_people, [("内科", 4 * s), ("心内科", 2 * s), ("神经内科", 2 * s), ("外科", 3 * s), ("骨科", 2 * s),
                              ("妇产科", 2 * s), ("儿科", 3 * s), ("急诊科", 2 * s)])
        staff(self.h_tcm, [("中医内科", 3 * s), ("针灸推拿科", 2 * s), ("康复科", 2 * s), ("骨伤科", 1 * s), ("内科", 2 * s)])
        if self.h_psych is not None:
            staff(self.h_psych, [("精神科", 3 * s), ("康复科", 1 * s)])
        for t, i in self.town_inst.items():
            if self.insts[i]["role"] == "central":
                staff(i, [("内科", 2 + s), ("全科", 2 + s), ("外科", 1), ("中医科", 1), ("公卫科", 2)])
            elif self.insts[i]["role"] == "community":
                staff(i, [("全科", 2 + s), ("中医科", 1), ("公卫科", 1 + s)])
            else:
                staff(i, [("全科", R.randint(2, 4)), ("中医科", R.randint(0, 1) or 1), ("公卫科", R.randint(1, 2))])
        for v, i in self.clinic_of_village.items():
            staff(i, [("乡村医生", 1 if (v == self.big_village or R.random() < 0.7) else 2)])
        for i in ph_all:
            staff(i, [("药师", R.choice([1, 1, 2]))])

    # ---------------------------------------------------- physician helpers
    def doctor(self, inst, dx="", age=40):
        I = self.insts[inst]
        dep = I["depts"]
        role = I["role"]
        want = []
        if role == "village":
            return dep["乡村医生"][0] if len(dep["乡村医生"]) == 1 or self.R.random() < 0.7 else self.R.choice(dep["乡村医生"])
        if role == "pharmacy":
            return self.R.choice(dep["药师"])
        if age <= 13:
            want.append("儿科")
        if dx.startswith(("N7", "N9", "O")):
            want.append("妇产科")
        if dx.startswith(("S", "T")):
            want += ["骨科", "外科", "骨伤科"]
        if dx.startswith(("M54", "M79", "M17", "M47")):
            want += ["针灸推拿科", "骨科", "骨伤科"]
        if dx.startswith(("I63", "I69", "G47", "R51", "I67", "R42")):
            want += ["神经内科", "康复科"]
        if dx.startswith(("I10", "I25", "I50")):
            want.append("心内科")
        if dx.startswith(("K80", "K35")):
            want.append("外科")
        if dx.startswith("F"):
            want.append("精神科")
        want += ["内科", "全科", "中医内科", "中医科"]
        for w in want:
            if dep.get(w):
                return self.R.choice(dep[w])
        return self.R.choice(I["staff"])

    def consult(self, inst):
        return CONSULT_HOSP if self.insts[inst]["kind"] == "hospital" else CONSULT_BASE

    # ------------------------------------------------------- line builders
    def regimen_for(self, i):
        if not hasattr(self, "_regimen"):
            self._regimen = {}
        r = self._regimen.get(i)
        if r is None:
            r = []
            for c in self.chronic[i]:
                opts = CHRONIC[c]
                x = self.R.random()
                acc = 0
                for drugs, w in opts:
                    acc += w
                    if x <= acc:
                        r.append((c, drugs))
                        break
                else:
                    r.append((c, opts[-1][0]))
            self._regimen[i] = r
        return r

    def chronic_lines(self, inst, regimen, days=30):
        out, seen = [], set()
        for c, drugs in regimen:
            for code in drugs:
                if code not in seen:
                    seen.add(code)
                    out.append(self.drug_days(inst, code, days))
        return out

    def acute_lines(self, dx, age, sex, inst):
        R = self.R
        I = self.insts[inst]
        kind = I["kind"]
        hosp = kind == "hospital"
        pharm = kind == "pharmacy"
        out = []
        if not pharm:
            out.append(self.L(inst, self.consult(inst), 1))
        kid = age <= 13
        adult19 = age >= 19

        def infusion(days, extra):
            out.append(self.L(inst, "Y0300001", 2 * days))
            for code, per in extra:
                out.append(self.L(inst, code, per * days))
            out.append(self.L(inst, "013000001", days))
            out.append(self.L(inst, "HC0000001", days))

        if dx in ("J06.9", "J02.9", "R50.9"):
            if kid:
                out.append(self.drug_days(inst, R.choice(["Y0200010", "Y0200009"]), 3))
            elif dx == "J06.9":
                out.append(self.drug_days(inst, R.choice(["Y0200005", "Y0200003", "Y0200004", "Y0200015"]), R.randint(3, 5)))
            else:
                out.append(self.drug_days(inst, R.choice(["Y0200003", "Y0200004"]), 3))
            if dx == "J02.9":
                out.append(self.drug_days(inst, "Y0200013", 5))
            if R.random() < 0.35:
                out.append(self.drug_days(inst, R.choice(["Y0200001", "Y0200002"]), 5))
            if hosp and R.random() < 0.45:
                out.append(self.L(inst, "012000001", 1))
                if R.random() < 0.4:
                    out.append(self.L(inst, "012000012", 1))
            if not hosp and not kid and R.random() < 0.2:
                infusion(R.randint(1, 3), [("Y0300004", 2), ("Y0300005", 1)])
        elif dx == "J11.1":
            out.append(self.drug_days(inst, "Y0200006", 5))
            if kid:
                out.append(self.drug_days(inst, "Y0200009", 3))
            else:
                out.append(self.drug_days(inst, R.choice(["Y0200005", "Y0200003"]), 5))
            if hosp and R.random() < 0.5:
                out.append(self.L(inst, "012000001", 1))
        elif dx == "J20.9":
            out.append(self.drug_days(inst, R.choice(["Y0200001", "Y0200002"]), 5))
            out.append(self.drug_days(inst, "Y0200007", 5))
            if not hosp and R.random() < 0.35:
                infusion(R.randint(1, 3), [("Y0300003", 1)])
            if hosp and R.random() < 0.3:
                out.append(self.L(inst, "012000008", 1))
            if R.random() < 0.15:
                out.append(self.L(inst, "013000003", R.randint(1, 3)))
        elif dx == "A09.9":
            out.append(self.drug_days(inst, "Y0200008", 3))
            if not kid:
                out.append(self.drug_days(inst, "Y0200017", 3))
            if not hosp and R.random() < 0.25:
                d = R.randint(1, 2)
                out.append(self.L(inst, "Y0300002", 2 * d))
                out.append(self.L(inst, "013000001", d))
                out.append(self.L(inst, "HC0000001", d))
        elif dx == "B08.4":
            if kid:
                out.append(self.drug_days(inst, "Y0200011", 7))
                out.append(self.drug_days(inst, "Y0200009", 3))
            out.append(self.drug_days(inst, "Y0200013", 5))
            if hosp and R.random() < 0.6:
                out.append(self.L(inst, "012000001", 1))
        elif dx in ("M54.5", "M79.1"):
            out.append(self.drug_days(inst, R.choice(["Y0200014", "Y0200003"]), 7))
            if I["role"] in ("county_tcm", "central", "township") and R.random() < 0.5:
                out.append(self.L(inst, R.choice(["014000001", "014000002"]), R.randint(1, 3)))
        elif dx == "S61.0":
            out.append(self.L(inst, "016000005", 1))
            out.append(self.L(inst, "HC0000003", R.randint(1, 2)))
            out.append(self.drug_days(inst, "Y0200001", 3))
        elif dx == "N39.0":
            out.append(self.drug_days(inst, "Y0200012" if adult19 else "Y0200001", 5))
            if not pharm:
                out.append(self.L(inst, "012000002", 1))
        elif dx == "N76.0":
            out.append(self.drug_days(inst, "Y0100019", 12))
            if hosp and 30 <= age <= 60 and R.random() < 0.15:
                out.append(self.L(inst, "012000011", 1))
        elif dx == "N92.0":
            out.append(self.drug_days(inst, "Y0100018", 10))
        elif dx == "G47.0":
            out.append(self.drug_days(inst, "Y0100020", 14))
        elif dx == "R51":
            out.append(self.drug_days(inst, "Y0200004", 3))
            if hosp and R.random() < 0.08:
                out.append(self.L(inst, "012000009", 1))
        elif dx == "K29.7":
            out.append(self.drug_days(inst, "Y0100012", 14))
        elif dx == "L30.9":
            out.append(self.L(inst, "Y0200018", 1))
        elif dx == "N40":
            out.append(self.drug_days(inst, "Y0100017", 30))
            if hosp and R.random() < 0.4:
                out.append(self.L(inst, "012000010", 1))
        elif dx == "Z00.0":
            out.append(self.L(inst, "012000005", 1))
            if R.random() < 0.5:
                out.append(self.L(inst, "015000001", 1))
        else:
            out.append(self.drug_days(inst, "Y0200004", 3))
        if hosp and age >= 55 and sex == "M" and dx != "N40" and R.random() < 0.02:
            out.append(self.L(inst, "012000010", 1))
        return out

    def inpatient_lines(self, dx, los, inst, t0, age):
        R = self.R
        I = self.insts[inst]
        out = []
        days = max(1, los)

        def st(k):
            return t0 + dt.timedelta(hours=2 + 24 * min(k, days - 1), minutes=R.randrange(60)) if R.random() < 0.4 else None

        out.append(self.L(inst, "011100004", days, stime=st(0)))
        out.append(self.L(inst, "011100005", days, stime=st(0)))
        out.append(self.L(inst, "011100003", days, stime=st(0)))
        out.append(self.L(inst, "012000001", R.randint(1, 2), stime=st(0)))
        if R.random() < 0.7:
            out.append(self.L(inst, "012000003", 1, stime=st(1)))
            out.append(self.L(inst, "012000004", 1, stime=st(1)))
        inj_days = min(days, R.randint(max(1, days - 3), days))

        def iv(code, per):
            out.append(self.L(inst, code, per * inj_days, stime=st(1)))

        if dx == "J18.9":
            iv("Y0300003", R.choice([1, 2])); iv("Y0300001", 2)
            out.append(self.L(inst, "012000008", 1, stime=st(0)))
            out.append(self.L(inst, "012000012", R.randint(1, 2)))
        elif dx == "J44.1":
            iv("Y0300003", 1); iv("Y0300001", 2)
            out.append(self.L(inst, "013000003", inj_days))
            out.append(self.drug_days(inst, "Y0100011", 30))
        elif dx == "I63.9":
            iv("Y0300007", 1); iv("Y0300001", 1)
            out.append(self.L(inst, "Y0300015", min(20, inj_days)))
            out.append(self.L(inst, "012000009", 1, stime=st(0)))
            out.append(self.drug_days(inst, "Y0100007", 28))
        elif dx == "I50.9":
            iv("Y0300012", 1); iv("Y0300002", 1)
            out.append(self.L(inst, "012000006", R.randint(1, 2)))
            out.append(self.drug_days(inst, "Y0100014", 28))
        elif dx == "K80.1":
            out.append(self.L(inst, "016000003", 1, stime=st(1)))
            out.append(self.L(inst, "012000007", 1))
            iv("Y0300003", 1); iv("Y0300002", 2)
            out.append(self.L(inst, "HC0000004", 1))
            out.append(self.L(inst, "HC0000006", 1))
        elif dx == "K35.8":
            out.append(self.L(inst, "016000002", 1, stime=st(0)))
            iv("Y0300003", 2); iv("Y0300001", 2)
            out.append(self.L(inst, "HC0000006", 1))
        elif dx == "S72.0":
            out.append(self.L(inst, "016000004", 1, stime=st(2)))
            out.append(self.L(inst, "HC0000005", 1))
            out.append(self.L(inst, "Y0300015", min(20, days)))
            out.append(self.L(inst, "012000008", 2))
            iv("Y0300003", 1); iv("Y0300001", 1)
        elif dx == "O80":
            out.append(self.L(inst, "016000001", 1, stime=st(0)))
            out.append(self.L(inst, "HC0000006", 1))
            iv("Y0300001", 1)
        elif dx == "I10":
            iv("Y0300001", 1)
            out.append(self.L(inst, "012000006", 1))
            out.append(self.drug_days(inst, "Y0100001", 28))
        elif dx == "A09.9":
            iv("Y0300002", 2); iv("Y0300001", 1)
            out.append(self.drug_days(inst, "Y0200008", 3))
        elif dx == "N20.0":
            out.append(self.L(inst, "012000007", 1))
            iv("Y0300001", 2)
            out.append(self.drug_days(inst, "Y0200014", 7))
        elif dx == "E11.9":
            out.append(self.L(inst, "012000005", days))
            iv("Y0300001", 1)
            out.append(self.drug_days(inst, "Y0100004", 30))
        elif dx == "J40":
            iv("Y0300004", 2); iv("Y0300001", 2)
        elif dx in ("I67.8", "R42", "M54.5", "K29.7", "M47.8"):
            iv("Y0300001", 1); iv("Y0300002", 1)
            if dx == "I67.8" or dx == "R42":
                out.append(self.drug_days(inst, "Y0400003", 30))
            if dx == "K29.7":
                iv("Y0300014", 1)
            if dx in ("M54.5", "M47.8") and I["kind"] != "pharmacy":
                out.append(self.L(inst, "014000001", inj_days))
        if any(l[0] in ("Y0300001", "Y0300002") for l in out):
            out.append(self.L(inst, "013000001", inj_days))
            out.append(self.L(inst, "HC0000001", inj_days))
        if R.random() < 0.15:
            out.append(self.L(inst, "FY0000002", days))
        if age >= 75 and R.random() < 0.2:
            out.append(self.L(inst, "FY0000001", days))
        return out

    # ------------------------------------------------------ visit creation
    def add(self, p, inst, phys, vt, start, end, dx, lines, present, tag=None, ring=None):
        # merge duplicate items (a clean visit never bills one item on two lines)
        seen = {}
        merged = []
        for l in lines:
            if l[0] in seen:
                continue
            seen[l[0]] = True
            merged.append(l)
        v = V(p, inst, phys, vt, start, end, dx, merged, present, tag, ring)
        self.visits.append(v)
        return v

    def guardian(self, i):
        H = self.households[self.hh[i]]
        cands = [a for a in (self.father[i], self.mother[i]) if a is not None and not self.away[a]]
        if cands:
            return cands[0]
        el = [e for e in H["elders"]]
        if el:
            return el[0]
        ad = [a for a in H["adults"] if not self.away[a]]
        return ad[0] if ad else i

    def proxy_of(self, i):
        """an adult child living at home who buys medicine for an elderly parent"""
        return self._proxy.get(i)

    # ------------------------------------------------------ clean care
    def day_pool(self, kind, size):
        w = np.ones(NDAYS)
        months = np.array(MONTH_OF_DAY)
        if kind == "acute":
            w += np.isin(months, [12, 1, 2]) * 0.7 + np.isin(months, [6, 7, 8]) * 0.2
        elif kind == "otc":
            w += np.isin(months, [12, 1, 2]) * 0.5
        elif kind == "inpt":
            w += np.isin(months, [12, 1, 2]) * 0.5
        w /= w.sum()
        return list(self.rng.choice(NDAYS, size=size, p=w))

    def pick_day(self, kind):
        pool = self._pools[kind]
        if not pool:
            self._pools[kind] = self.day_pool(kind, 50000)
            pool = self._pools[kind]
        return int(pool.pop())

    def market_day_near(self, town, d):
        mk = self.towns[town]["market"]
        off = (mk - d) % 5
        if off > 2:
            off -= 5
        d2 = d + off
        if d2 < 0:
            d2 += 5
        if d2 >= NDAYS:
            d2 -= 5
        return d2

    def acute_dx(self, age, sex, d):
        R = self.R
        m = MONTH_OF_DAY[d]
        winter = m in (12, 1, 2)
        summer = m in (6, 7, 8, 9)
        if age <= 13:
            opts = [("J06.9", 35), ("R50.9", 12), ("A09.9", 15 * (2 if summer else 1)), ("J20.9", 12 * (2 if winter else 1)),
                    ("J02.9", 10), ("L30.9", 5), ("S61.0", 4), ("J11.1", 12 if winter else 1)]
        elif age < 60:
            opts = [("J06.9", 22 * (2 if winter else 1)), ("J02.9", 8), ("J20.9", 10), ("A09.9", 8 * (2 if summer else 1)),
                    ("M54.5", 12), ("M79.1", 6), ("S61.0", 6), ("N39.0", 4), ("G47.0", 4), ("R51", 5),
                    ("K29.7", 5), ("L30.9", 4), ("J11.1", 8 if winter else 1)]
            if sex == "F":
                opts += [("N76.0", 5)] + ([("N92.0", 3)] if 15 <= age <= 50 else [])
        else:
            opts = [("J06.9", 20 * (2 if winter else 1)), ("J20.9", 15 * (2 if winter else 1)), ("M54.5", 12), ("M79.1", 6),
                    ("G47.0", 6), ("K29.7", 7), ("A09.9", 6), ("R51", 5), ("L30.9", 3), ("N39.0", 4), ("S61.0", 3),
                    ("J11.1", 7 if winter else 1)]
        tot = sum(w for _, w in opts)
        x = R.random() * tot
        for dx, w in opts:
            x -= w
            if x <= 0:
                return dx
        return opts[-1][0]

    def outpatient_place(self, i, age):
        R = self.R
        v = self.vill[i]
        t = self.town_of[i]
        x = R.random()
        if v == self.big_village:
            return self.clinic_of_village[v] if x < 0.93 else self.town_inst[t]
        if t == 0:
            if x < 0.35:
                return self.clinic_of_village[v]
            if x < 0.62:
                return self.town_inst[0]
            return self.h_people if R.random() < 0.7 else self.h_tcm
        if x < 0.56:
            return self.clinic_of_village[v] if R.random() < 0.93 else self.clinic_of_village[R.choice(self.towns[t]["villages"])]
        if x < 0.84:
            return self.town_inst[t]
        return self.h_people if R.random() < 0.7 else self.h_tcm

    def inpatient_place(self, i, dx):
        R = self.R
        t = self.town_of[i]
        if dx in ("K80.1", "K35.8", "S72.0", "O80"):
            return self.h_people
        ti = self.town_inst.get(t)
        has_beds = ti is not None and self.insts[ti]["beds"]
        if dx == "I63.9":
            return self.h_people if (R.random() < 0.7 or not has_beds) else ti
        if t != 0 and has_beds and R.random() < 0.58:
            return ti
        return self.h_people if R.random() < 0.72 else self.h_tcm

    def gen_clean(self):
        R = self.R
        n = self.N
        self._pools = {k: self.day_pool(k, max(20000, 6 * n)) for k in ("acute", "otc", "inpt")}
        # per-town and per-village special roles
        self.chronic_day_villages = [self.big_village]
        others = [v for v in range(len(self.villages)) if v != self.big_village and self.villages[v]["town"] != 0]
        if others:
            self.chronic_day_villages.append(max(others, key=lambda v: self.villages[v]["size"]))
        self.chronic_day = {}
        for v in self.chronic_day_villages:
            wd = R.randrange(5)
            days = []
            for m in range(12):
                first = next(d for d in range(NDAYS) if MONTH_OF_DAY[d] == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2][m])
                d = first + R.randint(3, 9)
                while WEEKDAY_OF_DAY[d] != wd:
                    d += 1
                days.append(min(d, NDAYS - 1))
            self.chronic_day[v] = days
        # proxies: adult child living at home, for elderly parents
        self._proxy = {}
        for h, H in enumerate(self.households):
            home_adults = [a for a in H["adults"] if not self.away[a] and age_on(self.birth[a], REF_AGE_DATE) >= 22]
            if not home_adults:
                continue
            for e in H["elders"]:
                if R.random() < 0.75:
                    self._proxy[e] = R.choice(home_adults)
        # family account sharing: employee-insured relatives pay (registered links)
        self._payer = {}
        for h, H in enumerate(self.households):
            mem = H["members"]
            emps = [m for m in mem if self.ins[m] == "employee" and not self.away[m]]
            for e in emps:
                for m in mem:
                    if m == e or self.ins[m] == "employee":
                        continue
                    rel = self.relation(e, m)
                    if rel and R.random() < 0.8:
                        self.add_link(m, e, rel)          # e is <rel> of m
                        self._payer.setdefault(m, e)
        # registered proxies (half), grandparents registered for grandchildren (half)
        self.proxy_registered = {}
        for e, c in self._proxy.items():
            reg = R.random() < 0.5
            self.proxy_registered[e] = reg
            if reg:
                self.add_link(e, c, "proxy")
        for h, H in enumerate(self.households):
            for k in H["kids"]:
                g = self.guardian(k)
                if g in H["elders"] and R.random() < 0.5:
                    self.add_link(k, g, "proxy")
        for a, b in self.spouse_pairs:
            if R.random() < 0.2:
                self.add_link(a, b, "spouse")

        # spring-festival home-comers: away persons whose only visits are then
        away_all = [i for i in range(n) if self.away[i]]
        self.sf_persons = set(i for i in away_all if R.random() < 0.38)
        self.psych_persons = set()
        for i in range(n):
            self._clean_person(i)
        self._long_stays()
        self._outbreaks()
        self._health_checks()
        self._big_village_fill()

    def relation(self, a, b):
        """what a is to b"""
        if self.father[b] == a or self.mother[b] == a:
            return "parent"
        if self.father[a] == b or self.mother[a] == b:
            return "child"
        if (a, b) in self._spouse_set or (b, a) in self._spouse_set:
            return "spouse"
        return None

    def _present_for(self, i, age, kind):
        R = self.R
        if age <= 13:
            return self.guardian(i)
        px = self._proxy.get(i)
        if px is not None:
            if kind == "pharmacy" and R.random() < 0.45:
                return px
            if kind == "clinic" and R.random() < 0.12:
                return px
        return i

    def _set_payer(self, v, i):
        py = self._payer.get(i)
        if py is not None and self.R.random() < 0.4:
            v.payer = py

    def _clean_person(self, i):
        R = self.R
        a = age_on(self.birth[i], REF_AGE_DATE)
        sex = self.sex[i]
        v = self.vill[i]
        t = self.town_of[i]
        if self.away[i]:
            if i in self.sf_persons:
                for _ in range(R.choice([1, 1, 2, 3])):
                    d = R.randint(SF_FIRST, SF_LAST)
                    x = R.random()
                    if x < 0.55:
                        inst = self.clinic_of_village[v] if R.random() < 0.6 else self.town_inst[t]
                        dx = R.choice(["J06.9", "J11.1", "A09.9", "S61.0", "M54.5", "R51", "J20.9"])
                        st = self.t_at(d, 8, 18)
                        vv = self.add(i, inst, self.doctor(inst, dx, a), "outpatient", st, None, [dx],
                                      self.acute_lines(dx, a, sex, inst), i)
                    elif x < 0.9:
                        inst = self.main_pharm[t] if R.random() < 0.7 else R.choice(self.pharm_of_town[t])
                        d = self.market_day_near(t, d) if inst == self.main_pharm[t] else d
                        st = self.t_at(d, 7, 12)
                        self.otc_visit(i, inst, st, i, a)
                    else:
                        inst = self.h_people
                        dx = R.choice(["J06.9", "J20.9", "S61.0", "K29.7"])
                        vv = self.add(i, inst, self.doctor(inst, dx, a), "outpatient", self.t_at(d, 8, 11.5), None,
                                      [dx], self.acute_lines(dx, a, sex, inst), i)
            elif R.random() < 0.10:
                d = R.randrange(NDAYS)
                inst = self.clinic_of_village[v]
                dx = R.choice(["J06.9", "S61.0", "M54.5"])
                self.add(i, inst, self.doctor(inst, dx, a), "outpatient", self.t_at(d, 8, 18), None, [dx],
                         self.acute_lines(dx, a, sex, inst), i)
            return
        # ---- chronic refills
        if self.chronic[i]:
            reg = self.regimen_for(i)
            codes = [c for c, _ in reg]
            if v in self.chronic_day:
                x = R.random()
                place = "clinic" if x < 0.93 else "pharmacy"
            else:
                x = R.random()
                place = "clinic" if x < 0.6 else ("pharmacy" if x < 0.88 else "hospital")
            if place == "clinic":
                inst = self.clinic_of_village[v]
            elif place == "pharmacy":
                inst = self.main_pharm[t] if R.random() < 0.7 else R.choice(self.pharm_of_town[t])
            else:
                inst = self.town_inst[t] if (t != 0 and R.random() < 0.5) else self.h_people
            d0 = R.randrange(0, 28)
            presc = self.clinic_of_village[v]
            ext_doc = self.doctor(presc)
            for m in range(12):
                if R.random() < 0.06:
                    continue
                if place == "clinic" and v in self.chronic_day:
                    d = self.chronic_day[v][m]
                    st = self.t_at(d, 7.5, 11.5)
                else:
                    d = int(d0 + m * 30.4 + R.randint(-3, 3))
                    if d < 0 or d >= NDAYS:
                        continue
                    if place == "pharmacy" and inst == self.main_pharm[t] and R.random() < 0.6:
                        d = self.market_day_near(t, d)
                        st = self.t_at(d, 7, 11.5)
                    else:
                        st = self.t_at(d, 8, 17.5)
                days = R.choice([30, 30, 30, 28])
                lines = self.chronic_lines(inst, reg, days)
                dx = list(codes)
                if place == "pharmacy":
                    if R.random() < 0.6:
                        phys = ext_doc
                    elif self.insts[inst]["rec_pharm"]:
                        phys = self.doctor(inst)
                    else:
                        phys = None
                    pres = self._present_for(i, a, "pharmacy")
                    vt = "pharmacy"
                else:
                    if place == "clinic":
                        lines = [self.L(inst, CONSULT_BASE, 1)] + lines if R.random() < 0.5 else lines
                        if R.random() < 0.25:
                            lines.append(self.L(inst, "012000005", 1))
                    else:
                        lines = [self.L(inst, self.consult(inst), 1)] + lines
                    phys = self.doctor(inst, codes[0], a)
                    pres = self._present_for(i, a, "clinic")
                    vt = "outpatient"
                vv = self.add(i, inst, phys, vt, st, None, dx, lines, pres)
                self._set_payer(vv, i)
        # ---- acute outpatient
        rate = 3.4 if a <= 6 else (2.0 if a <= 13 else (1.2 if a < 60 else 2.4))
        for _ in range(int(self.rng.poisson(rate))):
            d = self.pick_day("acute")
            dx = self.acute_dx(a, sex, d)
            inst = self.outpatient_place(i, a)
            age_d = age_on(self.birth[i], D0 + dt.timedelta(days=d))
            if self.insts[inst]["kind"] == "hospital":
                st = self.t_at(d, 8, 11.75) if R.random() < 0.7 else self.t_at(d, 14, 17)
            else:
                st = self.t_at(d, 7.5, 20)
            lines = self.acute_lines(dx, age_d, sex, inst)
            pres = self._present_for(i, age_d, "clinic")
            vv = self.add(i, inst, self.doctor(inst, dx, age_d), "outpatient", st, None, [dx], lines, pres)
            self._set_payer(vv, i)
            if self.insts[inst]["kind"] == "hospital" and R.random() < 0.2 and self.chronic[i]:
                vv.dx = [dx] + [self.chronic[i][0]]
        # ---- OTC
        rate = 2.2 if a >= 60 else (1.5 if a >= 18 else 0.4)
        for _ in range(int(self.rng.poisson(rate))):
            d = self.pick_day("otc")
            x = R.random()
            if x < 0.72:
                inst = self.main_pharm[t]
            elif x < 0.87:
                inst = R.choice(self.pharm_of_town[t])
            else:
                inst = R.choice(self.pharm_of_town[0])
            if inst == self.main_pharm[t] and t != 0 and R.random() < 0.8:
                d = self.market_day_near(t, d)
                st = self.t_at(d, 6.75, 11)
            else:
                st = self.t_at(d, 8, 21)
            age_d = age_on(self.birth[i], D0 + dt.timedelta(days=d))
            pres = self._present_for(i, age_d, "pharmacy")
            vv = self.otc_visit(i, inst, st, pres, age_d)
            self._set_payer(vv, i)
        # ---- inpatient
        prob = 0.14 if a >= 60 else (0.04 if a >= 14 else 0.05)
        n_in = int(self.rng.poisson(prob))
        if sex == "F" and 20 <= a <= 38 and R.random() < 0.06:
            self.inpatient(i, "O80", self.pick_day("inpt"), a)
        for _ in range(n_in):
            d = self.pick_day("inpt")
            if a >= 60:
                dx = R.choice(["J18.9", "J18.9", "J44.1", "I63.9", "I50.9", "I10", "S72.0", "K80.1", "E11.9", "A09.9"])
            elif a >= 14:
                dx = R.choice(["J18.9", "K80.1", "K35.8", "N20.0", "A09.9", "I10"])
            else:
                dx = R.choice(["J18.9", "A09.9", "K35.8"])
            self.inpatient(i, dx, d, a)

    def otc_visit(self, i, inst, st, pres, age):
        R = self.R
        m = st.month
        winter = m in (12, 1, 2)
        pool = ["Y0200003", "Y0200004", "Y0200007", "Y0200008", "Y0200017", "Y0200018", "Y0200016", "Y0200014"]
        if winter:
            pool += ["Y0200015", "Y0200015", "Y0200004"]
        if age >= 55:
            pool += ["Y0400002", "Y0400003"]
            if R.random() < 0.01:
                pool = ["Y0400001"]
        k = 1 if R.random() < 0.6 else 2
        lines = []
        for code in R.sample(pool, min(k, len(pool))):
            it = self.cat[code]
            if it["pack"]:
                lines.append(self.drug_days(inst, code, min(it["mdays"] or 7, R.randint(3, 10))))
            else:
                lines.append(self.L(inst, code, R.randint(1, 2)))
        phys = None
        if self.insts[inst]["rec_pharm"] and any(self.cat[l[0]]["cls"] == "B" for l in lines):
            phys = self.doctor(inst)
        return self.add(i, inst, phys, "pharmacy", st, None, [], lines, pres)

    def inpatient(self, i, dx, d, age, inst=None, los=None, tag=None, ring=None, phys=None, start=None):
        R = self.R
        if inst is None:
            inst = self.inpatient_place(i, dx)
        if los is None:
            los = {"J18.9": (5, 12), "J44.1": (6, 14), "I63.9": (8, 16), "I50.9": (6, 12), "K80.1": (5, 9),
                   "K35.8": (4, 7), "S72.0": (10, 20), "O80": (2, 4), "I10": (5, 9), "A09.9": (3, 5),
                   "N20.0": (3, 6), "E11.9": (6, 10)}.get(dx, (4, 9))
            los = R.randint(*los)
        if start is None:
            start = self.t_at(d, 8, 17.5) if R.random() < 0.85 else self.t_at(d, 0, 24)
        end_day = (start.date() - D0).days + los
        if end_day >= NDAYS:
            return None
        end = START + dt.timedelta(days=end_day, seconds=R.randint(int(8.5 * 3600), 12 * 3600))
        if phys is None:
            phys = self.doctor(inst, dx, age)
        lines = self.inpatient_lines(dx, los, inst, start, age)
        pres = i if age > 13 else self.guardian(i)
        v = self.add(i, inst, phys, "inpatient", start, end, [dx], lines, i, tag, ring)
        v.present = i
        self._set_payer(v, i)
        return v

    def _long_stays(self):
        """psychiatric and rehabilitation stays with planned readmissions (clean)"""
        R = self.R
        n = self.N
        present_adults = [i for i in range(n) if not self.away[i] and 20 <= age_on(self.birth[i], REF_AGE_DATE) <= 70
                          and self.death[i] is None]
        k_psych = max(4, min(60, int(0.0025 * n)))
        psych = R.sample(present_adults, min(k_psych, len(present_adults)))
        hosp = self.h_psych if self.h_psych is not None else self.h_tcm
        for i in psych:
            self.psych_persons.add(i)
            d = R.randrange(0, 40)
            dr = self.doctor(hosp, "F20.9")
            while True:
                los = R.randint(30, 90)
                if d + los >= NDAYS:
                    break
                st = self.t_at(d, 9, 16)
                end = START + dt.timedelta(days=d + los, seconds=R.randint(9 * 3600, 11 * 3600))
                lines = [self.L(hosp, "011100004", los), self.L(hosp, "016000006", los), self.L(hosp, "011100003", los),
                         self.L(hosp, "014000004", max(1, los // 7)), self.L(hosp, "012000001", R.randint(1, 3)),
                         self.L(hosp, "012000003", 1), self.drug_days(hosp, "Y0100016", 30)]
                if R.random() < 0.3:
                    lines.append(self.L(hosp, "FY0000002", los))
                v = self.add(i, hosp, dr, "inpatient", st, end, ["F20.9"], lines, i)
                d = d + los + R.randint(1, 10)          # planned readmission after a short home leave
        elders = [i for i in range(n) if not self.away[i] and age_on(self.birth[i], REF_AGE_DATE) >= 55
                  and self.death[i] is None and i not in self.psych_persons]
        k_rehab = max(4, min(60, int(0.002 * n)))
        rehab = R.sample(elders, min(k_rehab, len(elders)))
        hosp2 = self.h_tcm
        for i in rehab:
            self.psych_persons.add(i)
            d = R.randrange(0, 60)
            dr = self.doctor(hosp2, "I69.3")
            while True:
                los = R.randint(14, 28)
                if d + los >= NDAYS:
                    break
                st = self.t_at(d, 9, 16)
                end = START + dt.timedelta(days=d + los, seconds=R.randint(9 * 3600, 11 * 3600))
                lines = [self.L(hosp2, "011100004", los), self.L(hosp2, "011100005", los), self.L(hosp2, "011100003", los),
                         self.L(hosp2, "014000003", los), self.L(hosp2, "014000001", los),
                         self.L(hosp2, "012000001", 1), self.drug_days(hosp2, "Y0100015", 30)]
                self.add(i, hosp2, dr, "inpatient", st, end, ["I69.3"], lines, i)
                d = d + los + R.randint(3, 21)

    def _outbreaks(self):
        R = self.R
        # hand-foot-mouth disease: 2-3 villages, 4 weeks between April and June
        kids_by_v = defaultdict(list)
        for i in range(self.N):
            if not self.away[i] and age_on(self.birth[i], REF_AGE_DATE) <= 7:
                kids_by_v[self.vill[i]].append(i)
        cand = [v for v in kids_by_v if len(kids_by_v[v]) >= 4]
        hv = R.sample(cand, min(len(cand), R.randint(2, 3)))
        d0 = (dt.date(2024, 4, 15) - D0).days + R.randint(0, 40)
        cnt = 0
        for v in hv:
            for k in kids_by_v[v]:
                if R.random() < R.uniform(0.35, 0.6):
                    d = d0 + R.randint(0, 27)
                    age_d = age_on(self.birth[k], D0 + dt.timedelta(days=d))
                    inst = self.clinic_of_village[v] if R.random() < 0.65 else self.h_people
                    st = self.t_at(d, 8, 17)
                    self.add(k, inst, self.doctor(inst, "B08.4", age_d), "outpatient", st, None, ["B08.4"],
                             self.acute_lines("B08.4", age_d, self.sex[k], inst), self.guardian(k))
                    cnt += 1
                    if R.random() < 0.3 and d + 3 < NDAYS:
                        st2 = self.t_at(d + R.randint(2, 4), 8, 17)
                        self.add(k, inst, self.doctor(inst, "B08.4", age_d), "outpatient", st2, None, ["B08.4"],
                                 self.acute_lines("B08.4", age_d, self.sex[k], inst), self.guardian(k))
                        cnt += 1
        self.conf_notes.append(f"hand-foot-mouth outbreak: villages {[self.villages[v]['name'] for v in hv]}, "
                               f"from {D0 + dt.timedelta(days=d0)} for 4 weeks, {cnt} visits")
        # flu: 3-5 weeks around New Year
        fd0 = (dt.date(2024, 12, 16) - D0).days + R.randint(0, 14)
        dur = R.randint(21, 35)
        cnt = 0
        for i in range(self.N):
            if self.away[i] or self.death[i] is not None:
                continue
            if R.random() < 0.11:
                d = fd0 + int(abs(self.rng.normal(0, dur / 2.5))) % dur
                a = age_on(self.birth[i], D0 + dt.timedelta(days=d))
                inst = self.outpatient_place(i, a)
                st = self.t_at(d, 8, 18)
                self.add(i, inst, self.doctor(inst, "J11.1", a), "outpatient", st, None, ["J11.1"],
                         self.acute_lines("J11.1", a, self.sex[i], inst), self._present_for(i, a, "clinic"))
                cnt += 1
        self.conf_notes.append(f"influenza wave: {D0 + dt.timedelta(days=fd0)} for {dur} days, {cnt} extra visits")

    def _health_checks(self):
        """家庭医生签约: a township institution's doctors visit every signed elderly household in two weeks"""
        R = self.R
        towns = [t for t in range(1, len(self.towns)) if self.villages and self.town_inst.get(t) is not None]
        chosen = R.sample(towns, min(len(towns), 1 if len(towns) <= 4 else R.randint(1, 2)))
        self.health_check_insts = []
        for t in chosen:
            inst = self.town_inst[t]
            docs = self.insts[inst]["depts"].get("公卫科", []) + self.insts[inst]["depts"].get("全科", [])
            docs = docs[:max(2, min(4, len(docs)))]
            d0 = R.randint(40, 200)
            elders = [i for v in self.towns[t]["villages"] for i in self.villages[v]["persons"]
                      if not self.away[i] and age_on(self.birth[i], REF_AGE_DATE) >= 65 and self.death[i] is None]
            signed = [i for i in elders if R.random() < 0.78]
            # households together, visited village by village
            signed.sort(key=lambda i: (self.vill[i], self.hh[i]))
            per_day = max(1, math.ceil(len(signed) / 12))
            day_list = [d for d in range(d0, d0 + 16) if WEEKDAY_OF_DAY[d % NDAYS] < 6][:12]
            for k, i in enumerate(signed):
                d = day_list[min(k // per_day, len(day_list) - 1)]
                doc = docs[(k // max(1, per_day // len(docs) + 1)) % len(docs)]
                st = self.t_at(d, 8.5, 17)
                dx = ["Z00.0"] + ([c for c in self.chronic[i]][:1])
                lines = [self.L(inst, "015000001", 1), self.L(inst, "012000005", 1)]
                if R.random() < 0.6:
                    lines.append(self.L(inst, "012000006", 1))
                if R.random() < 0.4:
                    lines.append(self.L(inst, "012000001", 1))
                vv = self.add(i, inst, doc, "outpatient", st, None, dx, lines, i)
                vv.capture = False
                vv.home = True
            self.health_check_insts.append(inst)
            self.conf_notes.append(
                f"family-doctor health checks: {self.insts[inst]['id']} ({self.insts[inst]['name']}), "
                f"{len(signed)} signed elderly visited at home by {len(docs)} doctors, "
                f"{D0 + dt.timedelta(days=day_list[0])}..{D0 + dt.timedelta(days=day_list[-1])}")

    def _big_village_fill(self):
        R = self.R
        v = self.big_village
        inst = self.clinic_of_village[v]
        seen = set(vv.p for vv in self.visits if vv.inst == inst)
        k = 0
        for i in self.villages[v]["persons"]:
            if i in seen or self.death[i] is not None:
                continue
            if self.away[i]:
                if i in self.sf_persons and R.random() < 0.8:
                    d = R.randint(SF_FIRST, SF_LAST)
                else:
                    continue
            else:
                d = R.randrange(NDAYS)
            a = age_on(self.birth[i], D0 + dt.timedelta(days=d))
            dx = R.choice(["J06.9", "Z00.0", "M79.1", "R51"]) if a > 13 else "J06.9"
            self.add(i, inst, self.doctor(inst), "outpatient", self.t_at(d, 7.5, 19), None, [dx],
                     self.acute_lines(dx, a, self.sex[i], inst), self._present_for(i, a, "clinic"))
            k += 1
        npers = len(set(vv.p for vv in self.visits if vv.inst == inst))
        self.conf_notes.append(
            f"whole-village doctor: {self.insts[inst]['id']} ({self.insts[inst]['name']}), one physician "
            f"{self.phys[self.insts[inst]['staff'][0]]['id']}, village of {self.villages[v]['size']} persons, "
            f"{npers} distinct patients")

    def clean_filter(self):
        """no care after death; no own visits during one's own (clean) inpatient stay"""
        stays = defaultdict(list)
        for v in self.visits:
            if v.vt == "inpatient" and v.tag is None:
                stays[v.p].append((v.start, v.end))
        keep = []
        for v in self.visits:
            dd = self.death[v.p]
            if dd is not None and (v.start.date() >= dd or (v.end is not None and v.end.date() > dd)):
                continue
            if v.vt != "inpatient" and v.p in stays and v.present == v.p:
                if any(s <= v.start <= e for s, e in stays[v.p]):
                    continue
            keep.append(v)
        # overlapping clean stays of one person: keep the first
        keep.sort(key=lambda v: (v.p, v.start))
        out = []
        last_end = {}
        for v in keep:
            if v.vt == "inpatient":
                le = last_end.get(v.p)
                if le is not None and v.start <= le:
                    continue
                last_end[v.p] = v.end
            out.append(v)
        self.visits = out

    # ================================================================ fraud
    def pool(self, persons, cond=None):
        out = []
        for i in persons:
            if i in self.fraud_persons or self.death[i] is not None or i in self.psych_persons:
                continue
            if cond is not None and not cond(i):
                continue
            out.append(i)
        return out

    def new_ring(self, scheme):
        rid = f"QX-{len(self.rings) + 1:02d}"
        r = dict(id=rid, scheme=scheme, members=[])
        self.rings.append(r)
        return r

    def member(self, ring, typ, idx):
        if (typ, idx) not in ring["members"]:
            ring["members"].append((typ, idx))
        if typ == "person":
            self.fraud_persons.add(idx)
        if typ == "institution":
            self.ring_insts.add(idx)

    def gen_fraud(self):
        R = self.R
        self.ring_notes = []
        # confounder institutions stay clean: rings are placed elsewhere
        self.collusion_hosps = []
        self.protected_insts = set(self.health_check_insts) | {self.clinic_of_village[v] for v in self.chronic_day_villages}
        if self.h_psych is not None:
            self.protected_insts.add(self.h_psych)
        self.card_lending()
        self.card_cashout()
        self.ghost()
        self.split()
        self.collusive()
        self.doctor_shopping()

    def _age(self, i):
        return age_on(self.birth[i], REF_AGE_DATE)

    def card_lending(self):
        R = self.R
        n_rings = R.randint(2, 4)
        protected = {self.big_village} | set(self.chronic_day_villages)
        for r in range(n_rings):
            want_term = False if r == 0 else (True if r == 1 else R.random() < 0.4)
            kind = "clinic" if (r == 0 or R.random() < 0.6) else "pharmacy"
            if kind == "clinic":
                cands = [v for v in range(len(self.villages)) if v not in protected
                         and self.clinic_of_village[v] not in self.ring_insts
                         and self.insts[self.clinic_of_village[v]]["term"] == want_term]
                if not cands:
                    cands = [v for v in range(len(self.villages)) if v not in protected
                             and self.clinic_of_village[v] not in self.ring_insts]
                cands.sort(key=lambda v: -self.villages[v]["size"])
                v = R.choice(cands[:max(3, len(cands) // 2)])
                inst = self.clinic_of_village[v]
                area = self.villages[v]["persons"]
                doc = self.insts[inst]["staff"][0]
            else:
                cands = [i for i in range(len(self.insts)) if self.insts[i]["kind"] == "pharmacy"
                         and self.insts[i]["town"] != 0 and i not in self.ring_insts
                         and self.insts[i]["term"] == want_term and i not in self.main_pharm.values()]
                if not cands:
                    cands = [i for i in range(len(self.insts)) if self.insts[i]["kind"] == "pharmacy"
                             and i not in self.ring_insts]
                inst = R.choice(cands)
                t = self.insts[inst]["town"]
                area = [p for vv in self.towns[t]["villages"] if vv not in protected for p in self.villages[vv]["persons"]]
                v = None
                doc = self.insts[inst]["staff"][0]
                self.insts[inst]["rec_pharm"] = True
            ring = self.new_ring("card_lending")
            pool = self.pool(area, lambda i: (self.away[i] and self._age(i) >= 18) or self._age(i) >= 60)
            R.shuffle(pool)
            n_own = min(len(pool), R.randint(5, 40))
            owners = pool[:n_own]
            # users: doctor's relatives (a household of the village) and buyers
            users = []
            n_users = R.randint(2, 6)
            kin_area = area
            hhs = sorted(set(self.hh[p] for p in kin_area))
            R.shuffle(hhs)
            for h in hhs:
                ad = [a for a in self.households[h]["members"] if not self.away[a] and self._age(a) >= 25
                      and a not in owners and a not in self.fraud_persons and self.death[a] is None]
                if len(ad) >= 1:
                    users += ad[:R.randint(1, min(3, len(ad)))]
                    break
            while len(users) < n_users:
                if R.random() < 0.5:
                    others = self.pool(range(self.N), lambda i: not self.away[i] and 25 <= self._age(i) <= 75
                                       and i not in owners and i not in users)
                    users.append(R.choice(others))
                else:
                    users.append(self.new_ext_face())
            for o in owners:
                self.member(ring, "person", o)
            for u in users:
                if u >= 0:
                    self.member(ring, "person", u)
            self.member(ring, "institution", inst)
            self.member(ring, "physician", doc)
            # each user has needs
            prof = {}
            for u in users:
                c = R.sample(["I10", "E11.9", "I25.1", "J44.9", "M17.9", "K29.5"], R.randint(1, 2))
                regs = []
                for cc in c:
                    opts = CHRONIC[cc]
                    regs.append((cc, R.choices([o[0] for o in opts], [o[1] for o in opts])[0]))
                prof[u] = regs
            s0 = R.randint(0, 120)
            s1 = min(NDAYS - 1, s0 + R.randint(150, 330))
            nv = 0
            batch_days = sorted(R.sample(range(s0, s1), min(s1 - s0, R.randint(8, 30))))
            for o in owners:
                lam = R.uniform(0.4, 1.6)
                n_use = max(1, int(self.rng.poisson(lam * (s1 - s0) / 30.4)))
                for _ in range(n_use):
                    if R.random() < 0.4 and batch_days:
                        d = R.choice(batch_days)
                        st = self.t_at(d, 18.5, 21.5) if kind == "clinic" else self.t_at(d, 19, 21)
                    else:
                        d = R.randint(s0, s1)
                        st = self.t_at(d, 7.5, 20)
                    u = R.choice(users)
                    reg = prof[u]
                    dx = [c for c, _ in reg]
                    lines = self.chronic_lines(inst, reg, 30)
                    if R.random() < 0.35:
                        lines.append(self.drug_days(inst, R.choice(["Y0400002", "Y0400003"]), 30))
                    if kind == "clinic":
                        lines.insert(0, self.L(inst, CONSULT_BASE, 1))
                        if R.random() < 0.3:
                            dd = R.randint(1, 2)
                            lines += [self.L(inst, "Y0300001", 2 * dd), self.L(inst, "013000001", dd),
                                      self.L(inst, "HC0000001", dd)]
                        vt = "outpatient"
                    else:
                        vt = "pharmacy"
                    self.add(o, inst, doc, vt, st, None, dx, lines, u, "card_lending", ring["id"])
                    nv += 1
            self.ring_notes.append(
                f"{ring['id']} card_lending at {kind} {self.insts[inst]['id']} (face terminal: "
                f"{self.insts[inst]['term']}), doctor/pharmacist {self.phys[doc]['id']}, {len(owners)} cards "
                f"({sum(self.away[o] for o in owners)} of absent migrants), {len(users)} users "
                f"({sum(1 for u in users if u < 0)} uninsured), {nv} visits, days {s0}..{s1}")

    def card_cashout(self):
        R = self.R
        for r in range(R.randint(1, 2)):
            want_term = R.random() < 0.3
            cands = [i for i in range(len(self.insts)) if self.insts[i]["kind"] == "pharmacy"
                     and i not in self.ring_insts and self.insts[i]["term"] == want_term
                     and i not in self.main_pharm.values()]
            if not cands:
                cands = [i for i in range(len(self.insts)) if self.insts[i]["kind"] == "pharmacy"
                         and i not in self.ring_insts]
            inst = R.choice(cands)
            t = self.insts[inst]["town"]
            area = [p for vv in self.towns[t]["villages"] if vv != self.big_village for p in self.villages[vv]["persons"]]
            if t == 0:
                area += [p for tt in R.sample(range(1, len(self.towns)), 2) for vv in self.towns[tt]["villages"]
                         for p in self.villages[vv]["persons"] if vv != self.big_village]
            pool = self.pool(area, lambda i: (self.away[i] and self._age(i) >= 18) or self._age(i) >= 55)
            R.shuffle(pool)
            cards = pool[:min(len(pool), R.randint(15, 60))]
            ring = self.new_ring("card_cashout")
            rec = R.random() < 0.5
            self.insts[inst]["rec_pharm"] = rec or self.insts[inst]["rec_pharm"]
            pharmacist = self.insts[inst]["staff"][0]
            self.member(ring, "institution", inst)
            if rec:
                self.member(ring, "physician", pharmacist)
            for c in cards:
                self.member(ring, "person", c)
            clerk = self.new_ext_face()
            s0 = R.randint(0, 150)
            s1 = min(NDAYS - 2, s0 + R.randint(120, 300))
            d = s0
            sessions = 0
            nv = 0
            modes = defaultdict(int)
            while d < s1:
                sessions += 1
                k = R.randint(5, min(30, len(cards)))
                batch = R.sample(cards, k)
                mode = R.choice(["fast", "slow", "mixed"])
                modes[mode] += 1
                if mode == "fast":
                    st = self.t_at(d, 12, 13.5) if R.random() < 0.5 else self.t_at(d, 19.5, 21.5)
                else:
                    st = self.t_at(d, 9, 10) if R.random() < 0.5 else self.t_at(d, 14, 15.5)
                for c in batch:
                    lines = []
                    dx = []
                    codes = R.sample(["Y0400001", "Y0400002", "Y0400003", "Y0100009", "Y0100006", "Y0100001",
                                      "Y0100007"], R.randint(1, 3))
                    for code in codes:
                        it = self.cat[code]
                        if it["pack"]:
                            lines.append(self.drug_days(inst, code, 30))
                        else:
                            lines.append(self.L(inst, code, R.randint(1, it["mqty"] or 2)))
                        if code in ("Y0100009", "Y0100007"):
                            dx.append("I25.1")
                        if code == "Y0100006":
                            dx.append("E11.9")
                    dx = sorted(set(dx))
                    pres = clerk if (self.insts[inst]["term"] and R.random() < 0.5) else None
                    v = self.add(c, inst, pharmacist if rec else None, "pharmacy", st, None, dx, lines, pres,
                                 "card_cashout", ring["id"])
                    v.book = False
                    if pres is None:
                        v.capture = False
                    nv += 1
                    if mode == "fast" or (mode == "mixed" and R.random() < 0.5):
                        gap = R.uniform(15, 40)
                    else:
                        gap = R.uniform(180, 420)
                    st = st + dt.timedelta(seconds=int(gap))
                d += R.randint(5, 16)
            self.ring_notes.append(
                f"{ring['id']} card_cashout at pharmacy {self.insts[inst]['id']} (face terminal: "
                f"{self.insts[inst]['term']}, pharmacist recorded: {rec}), {len(cards)} hoarded cards, "
                f"{sessions} swiping sessions {dict(modes)}, {nv} swipes, days {s0}..{s1}")

    def collusive(self):
        R = self.R
        DRUGS = [("Y0300006", "I63.9"), ("Y0300006", "I25.1"), ("Y0300007", "I69.3"), ("Y0300008", "E46"),
                 ("Y0300009", "E46"), ("Y0300010", "M05.9"), ("Y0300011", "G62.9"), ("Y0300012", "I50.9"),
                 ("Y0300013", "B18.1")]
        inst_cands = [i for i in self.town_inst.values() if self.insts[i]["role"] in ("central", "township")
                      and i not in self.protected_insts] or \
                     [i for i in self.town_inst.values() if self.insts[i]["role"] in ("central", "township")]
        for r in range(R.randint(1, 3)):
            cands = [i for i in inst_cands if i not in self.ring_insts and i not in self.collusion_hosps] or \
                [i for i in inst_cands if i not in self.collusion_hosps] or inst_cands
            hosp = R.choice(cands)
            self.collusion_hosps.append(hosp)
            t = self.insts[hosp]["town"]
            ring_docs = {m[1] for rr in self.rings for m in rr["members"] if m[0] == "physician"}
            docs = [d for d in self.insts[hosp]["staff"] if d not in ring_docs]
            doc = R.choice(docs) if docs else self.doctor(hosp, "I10", 50)
            ph_c = [p for p in self.pharm_of_town[t] + self.pharm_of_town[0] if p not in self.ring_insts]
            pharm = R.choice(ph_c)
            drugs = R.sample(DRUGS, R.randint(1, 2))
            area = [p for vv in self.towns[t]["villages"] if vv != self.big_village for p in self.villages[vv]["persons"]]
            pool = self.pool(area, lambda i: not self.away[i] and self._age(i) >= 35)
            old = [i for i in pool if self._age(i) >= 60]
            young = [i for i in pool if self._age(i) < 60]
            k = R.randint(8, 25)
            pts = R.sample(old, min(len(old), int(round(k * 0.75))))
            pts += R.sample(young, min(len(young), k - len(pts)))
            ring = self.new_ring("collusive_prescribing")
            self.member(ring, "physician", doc)
            self.member(ring, "institution", pharm)
            for p in pts:
                self.member(ring, "person", p)
            self.ring_insts.add(hosp)
            nv = 0
            for p in pts:
                code, pad = R.choice(drugs)
                d = R.randint(0, 200)
                while d < NDAYS - 4:
                    st = self.t_at(d, 8.5, 11.5)
                    dx = [pad] + self.chronic[p][:1]
                    lines = [self.L(hosp, self.consult(hosp), 1)]
                    if R.random() < 0.3:
                        lines.append(self.L(hosp, "012000001", 1))
                    self.add(p, hosp, doc, "outpatient", st, None, dx, lines, p, "collusive_prescribing", ring["id"])
                    d2 = d + R.choice([0, 0, 0, 1, 2])
                    st2 = self.t_at(d2, 13, 18) if d2 == d else self.t_at(d2, 8, 18)
                    it = self.cat[code]
                    if it["pack"]:
                        pl = [self.drug_days(pharm, code, it["mdays"])]
                    else:
                        mq = int(it["mqty"])
                        pl = [self.L(pharm, code, R.randint(max(1, mq // 2), mq))]
                    if R.random() < 0.3:
                        pl.append(self.drug_days(pharm, R.choice(["Y0400002", "Y0400003"]), 30))
                    self.add(p, pharm, doc, "pharmacy", st2, None, dx, pl, p, "collusive_prescribing", ring["id"])
                    nv += 2
                    d += R.randint(14, 35)
            self.ring_notes.append(
                f"{ring['id']} collusive_prescribing: physician {self.phys[doc]['id']} at {self.insts[hosp]['id']}, "
                f"pharmacy {self.insts[pharm]['id']}, {len(pts)} patients, drugs "
                f"{[self.cat[c]['name'] + ' (dx ' + x + ')' for c, x in drugs]}, {nv} visits")

    def ghost(self):
        R = self.R
        cands = [i for i in self.town_inst.values() if self.insts[i]["beds"] and self.insts[i]["role"] in ("central", "township")
                 and i not in self.ring_insts and i not in self.protected_insts] or \
                [i for i in self.town_inst.values() if self.insts[i]["beds"] and i not in self.ring_insts]
        cands.sort(key=lambda i: (not self.insts[i]["ward"], i))
        self.ghost_insts = []
        for r in range(min(len(cands), R.randint(1, 2))):
            inst = cands[0] if r == 0 and self.insts[cands[0]]["ward"] and R.random() < 0.6 else R.choice(cands)
            cands.remove(inst)
            t = self.insts[inst]["town"]
            docs = R.sample(self.insts[inst]["staff"], min(len(self.insts[inst]["staff"]), R.randint(1, 3)))
            ring = self.new_ring("ghost_admission")
            self.member(ring, "institution", inst)
            for dd in docs:
                self.member(ring, "physician", dd)
            vills = [vv for vv in self.towns[t]["villages"] if vv != self.big_village]
            if not vills:
                vills = [vv for vv in range(len(self.villages)) if vv != self.big_village]
            n_waves = R.randint(2, 6)
            days = sorted(R.sample(range(10, NDAYS - 20), n_waves))
            prev = []
            nv = 0
            sizes = []
            for wd in days:
                vs = R.sample(vills, min(len(vills), R.randint(1, 2)))
                area = [p for vv in vs for p in self.villages[vv]["persons"]]
                pool = self.pool(area, lambda i: not self.away[i] and self._age(i) >= 50)
                size = R.randint(8, 30)
                if len(pool) < size:
                    more = [p for vv in self.towns[t]["villages"] + list(range(len(self.villages)))
                            if vv != self.big_village and vv not in vs for p in self.villages[vv]["persons"]]
                    pool += [p for p in dict.fromkeys(self.pool(more, lambda i: not self.away[i] and self._age(i) >= 50))
                             if p not in pool][:size - len(pool)]
                ppl = R.sample(pool, min(len(pool), size))
                ppl += [p for p in prev if R.random() < 0.2 and p not in ppl][:max(0, size // 5)]
                sizes.append(len(ppl))
                base_los = R.randint(5, 12)
                st = self.t_at(wd, 8, 9.5)
                for p in ppl:
                    self.member(ring, "person", p)
                    dx = R.choice(["I67.8", "I10", "M54.5", "J40", "K29.7", "R42", "M47.8"])
                    los = base_los + R.randint(-1, 2)
                    st = st + dt.timedelta(seconds=R.randint(60, 360))
                    vv = self.inpatient(p, dx, wd, self._age(p), inst=inst, los=los, tag="ghost_admission",
                                        ring=ring["id"], phys=R.choice(docs), start=st)
                    if vv is None:
                        continue
                    vv.adm_present = R.random() < 0.5
                    vv.dis_present = False
                    vv.ward = False
                    nv += 1
                    if R.random() < R.uniform(0.15, 0.35):
                        dd = wd + R.randint(1, max(1, los - 1))
                        ph = self.main_pharm[self.town_of[p]]
                        self.otc_visit(p, ph, self.t_at(dd, 7, 18), p, self._age(p))
                prev = ppl
            self.ghost_insts.append(inst)
            self.ring_notes.append(
                f"{ring['id']} ghost_admission at {self.insts[inst]['id']} ({self.insts[inst]['name']}, ward camera: "
                f"{self.insts[inst]['ward']}), physicians {[self.phys[d]['id'] for d in docs]}, {n_waves} waves of "
                f"{sizes} villagers, {nv} stays")

    def split(self):
        R = self.R
        cands = [self.h_tcm] + [i for i in self.town_inst.values() if self.insts[i]["beds"]
                                and i not in self.ring_insts] + [self.h_people]
        cands = list(dict.fromkeys(c for c in cands if c not in self.ring_insts and c not in self.protected_insts))
        for r in range(R.randint(1, 2)):
            if not cands:
                break
            inst = R.choice(cands)
            cands.remove(inst)
            t = self.insts[inst]["town"]
            docs = R.sample(self.insts[inst]["staff"], min(len(self.insts[inst]["staff"]), R.randint(1, 2)))
            ring = self.new_ring("split_admission")
            self.member(ring, "institution", inst)
            for dd in docs:
                self.member(ring, "physician", dd)
            if t == 0:
                area = list(range(self.N))
            else:
                area = [p for vv in self.towns[t]["villages"] for p in self.villages[vv]["persons"]]
            pool = self.pool(area, lambda i: not self.away[i] and self._age(i) >= 45)
            pts = R.sample(pool, min(len(pool), R.randint(10, 30)))
            nv = 0
            gaps = []
            for p in pts:
                self.member(ring, "person", p)
                d = R.randint(0, 150)
                for ep in range(R.choice([1, 1, 2])):
                    dx = R.choice(["I63.9", "J44.1", "I50.9", "J18.9", "I10", "E11.9"])
                    doc = R.choice(docs)
                    for seg in range(R.randint(2, 4)):
                        los = R.randint(4, 9)
                        vv = self.inpatient(p, dx, d, self._age(p), inst=inst, los=los, tag="split_admission",
                                            ring=ring["id"], phys=doc)
                        if vv is None:
                            break
                        nv += 1
                        g = R.randint(1, 10)
                        gaps.append(g)
                        d = (vv.end.date() - D0).days + g
                    d += R.randint(40, 120)
                    if d >= NDAYS - 20:
                        break
            self.ring_notes.append(
                f"{ring['id']} split_admission at {self.insts[inst]['id']} ({self.insts[inst]['name']}), physicians "
                f"{[self.phys[d]['id'] for d in docs]}, {len(pts)} patients, {nv} stays, readmission gaps 1-10 days")

    def doctor_shopping(self):
        R = self.R
        k = R.randint(4, 12)
        DRUGS = [("Y0100021", "M54.5"), ("Y0100020", "G47.0"), ("Y0100023", "G47.0"), ("Y0100022", "E11.9"),
                 ("Y0100006", "E11.9")]
        pool = self.pool(range(self.N), lambda i: not self.away[i] and 25 <= self._age(i) <= 75)
        persons = R.sample(pool, k)
        clinics = list(self.clinic_of_village.values())
        for p in persons:
            self.fraud_persons.add(p)
            code, dx = R.choice(DRUGS)
            it = self.cat[code]
            # 4-9 places, 5-12 prescribers
            places = [self.clinic_of_village[self.vill[p]]] + R.sample(clinics, R.randint(2, 4)) + \
                     R.sample([self.h_people, self.h_tcm] + list(self.town_inst.values()), R.randint(1, 3))
            places = list(dict.fromkeys(places))
            prescribers = []
            for pl in places:
                for _ in range(R.randint(1, 2)):
                    prescribers.append((pl, self.doctor(pl, dx, self._age(p))))
            prescribers = list(dict.fromkeys(prescribers))[:12]
            while len(prescribers) < 5:
                pl = R.choice(clinics)
                prescribers.append((pl, self.doctor(pl)))
                prescribers = list(dict.fromkeys(prescribers))
            pharms = R.sample([i for i in range(len(self.insts)) if self.insts[i]["kind"] == "pharmacy"], 2)
            d = R.randint(0, 120)
            end = min(NDAYS - 1, d + R.randint(120, 330))
            nv = 0
            while d < end:
                pl, doc = R.choice(prescribers)
                a = age_on(self.birth[p], D0 + dt.timedelta(days=d))
                days = it["mdays"]
                if R.random() < 0.3:
                    ph = R.choice(pharms)
                    lines = [self.drug_days(ph, code, days)]
                    self.add(p, ph, doc, "pharmacy", self.t_at(d, 8, 20), None, [dx], lines, p, "doctor_shopping")
                else:
                    lines = [self.L(pl, self.consult(pl), 1), self.drug_days(pl, code, days)]
                    self.add(p, pl, doc, "outpatient", self.t_at(d, 8, 17), None, [dx], lines, p, "doctor_shopping")
                nv += 1
                d += R.randint(max(2, days // 4), max(3, int(days * 0.7)))
            self.lone.append(("person", p, "doctor_shopping"))
            self.ring_notes.append(f"doctor_shopping {self.pid[p]}: {it['name']} (dx {dx}), {len(prescribers)} "
                                   f"prescribers at {len(places)} places + 2 pharmacies, {nv} visits")

    def post_fraud_filter(self):
        """a person in a split admission is really in hospital: drop clean stays/visits that collide"""
        fr_stays = defaultdict(list)
        for v in self.visits:
            if v.vt == "inpatient" and v.tag in ("split_admission", "ghost_admission"):
                fr_stays[v.p].append((v.start, v.end, v.tag))
        out = []
        for v in self.visits:
            if v.tag is None and v.p in fr_stays:
                bad = False
                for s, e, tag in fr_stays[v.p]:
                    if v.vt == "inpatient":
                        if v.start <= e and v.end >= s:
                            bad = True
                    elif tag == "split_admission" and v.present == v.p and s <= v.start <= e:
                        bad = True
                if bad:
                    continue
            out.append(v)
        self.visits = out

    # ============================================================ violations
    def gen_violations(self):
        R = self.R
        n_total = int(min(1500, max(150, round(self.N * 0.06))))
        per = n_total // 6
        clean = [v for v in self.visits if v.tag is None and v.inst not in self.ring_insts and not v.home
                 and v.p not in self.fraud_persons]
        R.shuffle(clean)
        it = iter(clean)
        counts = defaultdict(int)
        touched = set()

        def nextv(pred):
            for v in it:
                if id(v) in touched:
                    continue
                if pred(v):
                    touched.add(id(v))
                    return v
            return None

        def age_at(v):
            return age_on(self.birth[v.p], v.start.date())

        for rule in ["duplicate_charge", "price_over_cap", "sex_limit", "age_limit", "over_quantity", "off_indication"]:
            for _ in range(per):
                if rule == "duplicate_charge":
                    v = nextv(lambda v: len(v.lines) >= 2 and v.vt != "pharmacy")
                    if v is None:
                        break
                    src = R.choice(v.lines)
                    dup = list(src)
                    dup[5] = rule
                    v.lines.insert(v.lines.index(src) + 1, dup)
                elif rule == "price_over_cap":
                    v = nextv(lambda v: any(self.cat[l[0]]["cap"] for l in v.lines))
                    if v is None:
                        break
                    l = R.choice([l for l in v.lines if self.cat[l[0]]["cap"]])
                    l[2] = round(self.cat[l[0]]["cap"] * R.uniform(1.15, 1.9), 2)
                    l[5] = rule
                elif rule == "sex_limit":
                    v = nextv(lambda v: v.vt == "outpatient" and self.insts[v.inst]["kind"] == "hospital")
                    if v is None:
                        break
                    code = "012000011" if self.sex[v.p] == "M" else "012000010"
                    l = self.L(v.inst, code, 1)
                    l[5] = rule
                    v.lines.append(l)
                elif rule == "age_limit":
                    v = nextv(lambda v: v.vt in ("outpatient", "pharmacy") and (age_at(v) >= 18 or age_at(v) <= 12))
                    if v is None:
                        break
                    a = age_at(v)
                    if a >= 18:
                        code = R.choice(["Y0200010", "Y0200009"])
                    else:
                        code = "Y0200012"
                    if any(l[0] == code for l in v.lines):
                        touched.discard(id(v))
                        continue
                    l = self.drug_days(v.inst, code, 3)
                    l[5] = rule
                    v.lines.append(l)
                elif rule == "over_quantity":
                    v = nextv(lambda v: any(self.cat[l[0]]["mqty"] for l in v.lines))
                    if v is None:
                        break
                    l = R.choice([l for l in v.lines if self.cat[l[0]]["mqty"]])
                    mq = self.cat[l[0]]["mqty"]
                    l[1] = int(mq + max(1, round(mq * R.uniform(0.2, 1.0))))
                    l[5] = rule
                elif rule == "off_indication":
                    v = nextv(lambda v: v.vt == "outpatient" and not any(
                        c.startswith(("I", "E11", "J09", "J10", "J11")) for c in v.dx))
                    if v is None:
                        break
                    code = R.choice(["Y0100003", "Y0100005", "Y0100007", "Y0100009", "Y0200006"])
                    if any(l[0] == code for l in v.lines):
                        touched.discard(id(v))
                        continue
                    l = self.drug_days(v.inst, code, 14)
                    l[5] = rule
                    v.lines.append(l)
                counts[rule] += 1
        self.viol_counts = dict(counts)

    # ============================================================ finalise
    def finalise_visits(self):
        self.visits.sort(key=lambda v: (v.start, v.p, v.inst))
        self.number_visits()
        for v in self.visits:
            self._settle(v, self.R)

    def number_visits(self):
        seq = defaultdict(int)
        for v in self.visits:
            y = v.start.year
            seq[y] += 1
            v.vid = f"JS{y}{seq[y]:06d}" if seq[y] < 10 ** 6 else f"JS{y}{seq[y]:07d}"

    def _settle(self, v, R):
        """amounts, fund share and terminal of one settlement"""
        tot = 0.0
        reimb = 0.0
        for l in v.lines:
            amt = round(l[1] * l[2] + 1e-9, 2)
            l.append(amt)
            tot += amt
            cls = self.cat[l[0]]["cls"]
            reimb += amt if cls == "A" else (amt * 0.9 if cls == "B" else 0.0)
        v.total = round(tot, 2)
        I = self.insts[v.inst]
        emp = self.ins[v.p] == "employee"
        if v.vt == "inpatient":
            if I["kind"] == "hospital" and I["role"] != "central":
                ratio, ded = (0.85 if emp else 0.72), (600 if I["level"] == 3 else 400)
            else:
                ratio, ded = (0.9 if emp else 0.85), 200
            fund = max(0.0, reimb - ded) * ratio
        elif v.vt == "outpatient":
            ratio = (0.7 if emp else 0.55) if I["kind"] == "hospital" else (0.75 if emp else 0.6)
            if self.registered[v.p] and any(c in self.chronic[v.p] for c in v.dx):
                ratio = max(ratio, 0.65)
            fund = reimb * ratio
        else:
            fund = reimb * (0.0 if emp else (0.5 if v.dx else 0.3))
        v.fund = round(min(fund, v.total), 2)
        if I["term"]:
            v.term = f"ZD{I['num']:04d}-{1 if I['kind'] != 'hospital' else R.randint(1, 3)}"
        elif I["kind"] == "pharmacy" and R.random() < 0.6:
            v.term = f"POS{I['num']:04d}"

    # ================================================================ faces
    def build_faces(self):
        R = self.R
        rng = self.rng
        Dm = 128
        n = self.N
        self.M = rng.normal(0, 0.06, Dm)

        def rd(k, s):
            x = rng.normal(size=(k, Dm))
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            return x * np.asarray(s, dtype=float).reshape(-1, 1)

        F = np.zeros((n, Dm))
        fam = rd(n, np.clip(rng.normal(0.54, 0.075, n), 0.3, 0.8))
        done = np.zeros(n, bool)

        def getF(i):
            if done[i]:
                return F[i]
            fa, mo = self.father[i], self.mother[i]
            if fa is None and mo is None:
                F[i] = fam[i]
            else:
                a = getF(fa) if fa is not None else fam[i]
                b = getF(mo) if mo is not None else fam[i]
                F[i] = (a + b) / math.sqrt(2)
            done[i] = True
            return F[i]

        for i in range(n):
            getF(i)
        self.base = self.M + F + rd(n, rng.uniform(0.27, 0.39, n))
        k = self.ext_count
        self.ext_base = self.M + rd(max(1, k), np.clip(rng.normal(0.54, 0.075, max(1, k)), 0.3, 0.8)) + \
            rd(max(1, k), rng.uniform(0.27, 0.39, max(1, k)))
        self.enr_noise = rng.uniform(0.10, 0.18, n)
        # enrolment
        self.enrolled = []
        for i in range(n):
            a = age_on(self.birth[i], REF_AGE_DATE)
            pr = 0.25 if a < 14 else (0.45 if self.away[i] else (0.78 if a >= 60 else 0.62))
            if R.random() < pr:
                self.enrolled.append(i)
        en = np.array(self.enrolled, dtype=int)
        self.enr_enc = self.base[en] + rd(len(en), self.enr_noise[en])
        # offline cameras: one hospital and one other terminal site, 3-7 weeks
        hosp_t = [i for i in range(len(self.insts)) if self.insts[i]["term"] and self.insts[i]["kind"] == "hospital"]
        other_t = [i for i in range(len(self.insts)) if self.insts[i]["term"] and self.insts[i]["kind"] != "hospital"]
        for grp in (hosp_t, other_t):
            if grp:
                i = R.choice(grp)
                d0 = R.randint(20, 300)
                self.camera_off[i] = (d0, d0 + R.randint(21, 49))
        # captures
        caps = self._captures(self.visits, R)
        caps.sort(key=lambda c: (c[0], c[1]))
        self.captures = caps
        self.cap_enc = self._encode_captures(caps, rng)

    def _online(self, inst, t):
        off = self.camera_off.get(inst)
        if off is None:
            return True
        d = (t.date() - D0).days
        return not (off[0] <= d < off[1])

    def _captures(self, visits, R):
        """capture events of these settlements: (time, inst, location, face, visit or "", claimed)"""
        caps = []
        online = self._online

        def link(v):
            x = R.random()
            if x < 0.85:
                return v, self.pid[v.p]
            if x < 0.93:
                return "", self.pid[v.p]
            return "", ""

        for v in visits:
            I = self.insts[v.inst]
            if not I["term"] or v.home:
                continue
            f = v.present
            if v.vt == "inpatient":
                if v.adm_present and f is not None:
                    t = v.start + dt.timedelta(seconds=R.randint(60, 1200))
                    if online(v.inst, t) and R.random() < 0.92:
                        a, b = link(v)
                        caps.append((t, v.inst, "settlement", f, a, b))
                if v.ward and I["ward"] and f is not None:
                    d = v.start + dt.timedelta(days=1)
                    while d < v.end:
                        t = d.replace(hour=R.randint(7, 20), minute=R.randrange(60), second=R.randrange(60))
                        if online(v.inst, t):
                            if R.random() < 0.6:
                                caps.append((t, v.inst, "ward", f, v, self.pid[v.p]))
                            else:
                                caps.append((t, v.inst, "ward", f, "", ""))
                        d += dt.timedelta(days=R.randint(1, 3))
                if v.dis_present and f is not None:
                    t = v.end - dt.timedelta(seconds=R.randint(0, 2400))
                    if online(v.inst, t) and R.random() < 0.85:
                        a, b = link(v)
                        caps.append((t, v.inst, "settlement", f, a, b))
                continue
            if f is None or not v.capture:
                continue
            if I["kind"] == "hospital" and R.random() < 0.3:
                t = v.start - dt.timedelta(seconds=R.randint(60, 600))
                if online(v.inst, t):
                    caps.append((t, v.inst, "entrance", f, "", ""))
            p_cap = 0.9 if I["kind"] == "hospital" else 0.8
            if R.random() < p_cap:
                if v.vt == "pharmacy":
                    t = v.start + dt.timedelta(seconds=R.randint(0, 90))
                else:
                    t = v.start + dt.timedelta(seconds=R.randint(120, 2400))
                if online(v.inst, t):
                    a, b = link(v)
                    caps.append((t, v.inst, "settlement", f, a, b))
        return caps

    def _encode_captures(self, caps, rng):
        n = self.N
        Dm = 128
        m = len(caps)
        faces = np.array([c[3] for c in caps], dtype=int)
        tdist = rng.uniform(0.25, 0.5, m)
        poor = rng.random(m) < 0.08
        tdist[poor] = rng.uniform(0.5, 0.65, poor.sum())
        e = np.where(faces >= 0, self.enr_noise[np.clip(faces, 0, n - 1)], 0.14)
        c = np.sqrt(np.maximum(tdist ** 2 - e ** 2, 0.01))
        if not m:
            return np.zeros((0, Dm))
        basev = np.where((faces >= 0)[:, None], self.base[np.clip(faces, 0, n - 1)],
                         self.ext_base[np.clip(-faces - 1, 0, max(0, self.ext_count - 1))])
        x = rng.normal(size=(m, Dm))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return basev + x * np.asarray(c, dtype=float).reshape(-1, 1)

    # ============================================================ inventory
    def build_inventory(self):
        R = self.R
        sold = defaultdict(lambda: [0.0] * 12)
        book = defaultdict(lambda: [0.0] * 12)
        for v in self.visits:
            I = self.insts[v.inst]
            if I["kind"] not in ("pharmacy", "clinic", "community"):
                continue
            mi = (v.start.year - 2024) * 12 + v.start.month - 3
            if not 0 <= mi < 12:
                continue
            for l in v.lines:
                if self.cat[l[0]]["type"] != "drug":
                    continue
                sold[(v.inst, l[0])][mi] += l[1]
                if v.book:
                    book[(v.inst, l[0])][mi] += l[1]
        cash_insts = {m[1] for r in self.rings if r["scheme"] == "card_cashout" for m in r["members"]
                      if m[0] == "institution"}
        report = {}
        stock = {}
        for i, I in enumerate(self.insts):
            if I["kind"] in ("pharmacy", "clinic", "community"):
                report[i] = (i in cash_insts) or R.random() < 0.9
                stock[i] = R.random() < (0.5 if I["kind"] == "pharmacy" else 0.35)
        self.inv_report, self.inv_stock = report, stock
        rows = []
        for key in sorted(sold.keys(), key=lambda k: (self.insts[k[0]]["id"], k[1])):
            inst, code = key
            if not report.get(inst):
                continue
            b = book[key]
            avg = sum(b) / 12.0
            opening = float(round(avg * R.uniform(0.3, 1.2)))
            for m in range(12):
                need = b[m]
                purch = float(round(need * R.uniform(0.9, 1.3)))
                if opening + purch < need:
                    purch = need - opening + R.randint(0, 3)
                closing = opening + purch - need
                if purch > 0 or sold[key][m] > 0:
                    rows.append((self.insts[inst]["id"], code, PERIODS[m], fmt_qty(purch),
                                 fmt_qty(opening) if stock[inst] else "", fmt_qty(closing) if stock[inst] else ""))
                opening = closing
        self.inventory_rows = rows

    # ========================================================= known cases
    def build_known_cases(self):
        R = self.R
        rows = []
        k = [0]

        def case(typ, idx, label, scheme):
            k[0] += 1
            y = R.choice([2021, 2022, 2023, 2023])
            cid = f"AJ{y}-{R.randint(1, 300):03d}-{k[0]:02d}"
            closed = dt.date(y, 1, 1) + dt.timedelta(days=R.randint(30, 360))
            if closed >= D0:
                closed = D0 - dt.timedelta(days=R.randint(10, 200))
            ent = self.ent_id(typ, idx)
            rows.append((cid, typ, ent, label, scheme, closed.isoformat()))
            return ent

        members = [(r["scheme"], m) for r in self.rings for m in r["members"]]
        R.shuffle(members)
        # fraud: some of this year's ring members (prefer institutions/physicians), some lone, some past-only
        picks = []
        seen = set()
        for sch, m in sorted(members, key=lambda x: (x[1][0] == "person", R.random())):
            if m in seen:
                continue
            if len(picks) >= R.randint(5, 8):
                break
            picks.append((sch, m))
            seen.add(m)
        self.kc_notes = []
        for sch, (typ, idx) in picks:
            case(typ, idx, "fraud", sch if R.random() < 0.8 else "other")
            self.kc_notes.append(f"fraud (member this year): {typ} {self.ent_id(typ, idx)}")
        for typ, idx, sch in self.lone[:R.randint(2, 3)]:
            case(typ, idx, "fraud", sch)
            self.kc_notes.append(f"fraud (lone actor again this year): {typ} {self.ent_id(typ, idx)}")
        # past offenders who are clean this year
        clean_people = [i for i in range(self.N) if i not in self.fraud_persons and not self.away[i]]
        for i in R.sample(clean_people, R.randint(2, 3)):
            case("person", i, "fraud", R.choice(["card_lending", "doctor_shopping", "other"]))
            self.kc_notes.append(f"fraud in the past, clean this year: person {self.pid[i]}")
        ring_phys = {m[1] for r in self.rings for m in r["members"] if m[0] == "physician"}
        cph = [j for j in range(len(self.phys)) if j not in ring_phys and self.insts[self.phys[j]["inst"]]["role"] == "village"]
        j = R.choice(cph)
        case("physician", j, "fraud", "card_lending")
        self.kc_notes.append(f"fraud in the past, clean this year: physician {self.phys[j]['id']}")
        cinst = [i for i in range(len(self.insts)) if self.insts[i]["kind"] == "pharmacy" and i not in self.ring_insts]
        i = R.choice(cinst)
        case("institution", i, "fraud", "card_cashout")
        self.kc_notes.append(f"fraud in the past, clean this year: institution {self.insts[i]['id']}")
        # cleared: confounders and a couple of this year's ring members
        bv = self.clinic_of_village[self.big_village]
        case("institution", bv, "cleared", "card_lending")
        case("physician", self.insts[bv]["staff"][0], "cleared", "card_lending")
        case("institution", self.main_pharm[R.randrange(1, len(self.towns))], "cleared", "card_cashout")
        if self.h_psych is not None:
            case("institution", self.h_psych, "cleared", "split_admission")
        else:
            case("institution", self.h_tcm, "cleared", "split_admission")
        for hi in self.health_check_insts[:1]:
            case("institution", hi, "cleared", "ghost_admission")
        proxies = sorted(set(self._proxy.values()) - self.fraud_persons)
        for p in R.sample(proxies, min(3, len(proxies))):
            case("person", p, "cleared", "card_lending")
        grands = sorted({self.guardian(k) for H in self.households for k in H["kids"]
                         if self.guardian(k) in H["elders"]} - self.fraud_persons)
        for p in R.sample(grands, min(2, len(grands))):
            case("person", p, "cleared", "card_lending")
        cd = self.clinic_of_village[self.chronic_day_villages[-1]]
        case("physician", self.insts[cd]["staff"][0], "cleared", "collusive_prescribing")
        sf = sorted(self.sf_persons - self.fraud_persons)
        if sf:
            case("person", R.choice(sf), "cleared", "card_lending")
        ring_people = [m[1] for r in self.rings for m in r["members"] if m[0] == "person" and m not in seen]
        for p in R.sample(ring_people, min(2, len(ring_people))):
            case("person", p, "cleared", "card_lending")
            self.kc_notes.append(f"cleared in the past, but in a ring this year: person {self.pid[p]}")
        self.known_rows = rows

    def ent_id(self, typ, idx):
        if typ == "person":
            return self.pid[idx]
        if typ == "physician":
            return self.phys[idx]["id"]
        return self.insts[idx]["id"]

    # ==================================================== drug traceability
    def drug_traces(self):
        """药品追溯码 and the drug_resale scheme (倒卖回流药).

        Runs after everything else has been drawn, on random streams of its own, so that the rest of
        the county (persons, the other schemes, their visits, captures, stock books and known cases)
        is what it was before the traces were added.  Only the running numbers of visits, lines and
        captures move: the new settlements are numbered in time order with the others."""
        saved = (self.R, self.rng)
        self.R = random.Random(f"county-drug-resale-{self.seed}")
        self.rng = np.random.default_rng([self.seed, 0xD2])
        self.Rt = random.Random(f"county-drug-traces-{self.seed}")
        self.trace_notes = []
        self.pack_src = {}        # id(line) -> [(line, pack index)]: packs that were sold before
        self.reversed_packs = {}  # id(line) -> {pack index}: that sale was refunded (退药)
        self.resale_lines = set()  # id(line): packs re-settled by a drug_resale outlet
        self.trace_special = set()  # id(line): lines whose codes matter (never lost to a missed scan)
        self.trace_cause = {}     # id(line) -> why its first pack's code was seen before
        self.inv_sub = []         # (inst, code, month, packs) a drug_resale outlet did not buy
        self.dr_customers = set()
        old = self.visits
        self.old_visits = old
        self._stays = defaultdict(list)
        for v in old:
            if v.vt == "inpatient":
                self._stays[v.p].append(((v.start.date() - D0).days, (v.end.date() - D0).days))
        pidx = {p: i for i, p in enumerate(self.pid)}
        self._kc_persons = {pidx[r[2]] for r in self.known_rows if r[1] == "person" and r[2] in pidx}
        # a few village clinics do not scan yet
        Rt = self.Rt
        vill = [self.clinic_of_village[v] for v in range(len(self.villages))]
        self.no_scan = set(Rt.sample(vill, max(1, int(round(len(vill) * Rt.uniform(0.05, 0.12))))))
        self.scan = set(range(len(self.insts))) - self.no_scan
        self.visits = []
        self.drug_resale()
        self.trace_confounders()
        new = self.visits
        self.visits = old
        new.sort(key=lambda v: (v.start, v.p, v.inst))
        for v in new:
            v.new = True
            self._settle(v, self.R)
        caps = self._captures(new, self.R)
        caps.sort(key=lambda c: (c[0], c[1]))
        enc = self._encode_captures(caps, self.rng)
        n_old = len(self.captures)
        allc = [(c, k) for k, c in enumerate(self.captures)] + [(c, n_old + k) for k, c in enumerate(caps)]
        allc.sort(key=lambda x: (x[0][0], x[0][1]))
        self.captures = [c for c, _ in allc]
        self.cap_enc = np.vstack([self.cap_enc, enc])[[k for _, k in allc]] if allc else self.cap_enc
        self._adjust_inventory(new)
        self.n_new_visits = len(new)
        self.visits = sorted(old + new, key=lambda v: (v.start, v.p, v.inst))
        self.number_visits()
        self.Rw = self.R          # the new settlements' own stream, used again when they are written
        self.R, self.rng = saved

    def _busy(self, p, d):
        return any(a <= d <= b for a, b in self._stays.get(p, ()))

    def _dr_pool(self, persons, cond):
        return self.pool(persons, lambda i: i not in self._kc_persons and i not in self.dr_customers and cond(i))

    def drug_resale(self):
        R = self.R
        s = self.N / 5000.0
        self.dr_rings = []
        ring_phys = {m[1] for r in self.rings for m in r["members"] if m[0] == "physician"}
        protected = set(self.protected_insts) | {self.clinic_of_village[self.big_village]}
        avoid = set(self.ring_insts) | protected | self.no_scan
        pharm_c = [i for i in range(len(self.insts)) if self.insts[i]["kind"] == "pharmacy" and i not in avoid]
        clinic_c = [self.clinic_of_village[v] for v in range(len(self.villages))
                    if self.insts[self.clinic_of_village[v]]["own"] == "private"
                    and self.clinic_of_village[v] not in avoid]
        drug_dx = {c: x for c, x, _ in RESALE_DRUGS}
        used_docs = set()
        self._visits_at = defaultdict(list)
        for v in self.old_visits:
            self._visits_at[v.inst].append(v)
        n_rings = R.randint(2, 4)
        for r in range(n_rings):
            ring = self.new_ring("drug_resale")
            # ---- outlets: complicit pharmacies / private village clinics and the staff who settle
            outlets = []
            if (R.random() < 0.7 or not clinic_c) and pharm_c:
                outlets.append(pharm_c.pop(R.randrange(len(pharm_c))))
            else:
                outlets.append(clinic_c.pop(R.randrange(len(clinic_c))))
            t = self.insts[outlets[0]]["town"]
            if R.random() < 0.45:
                near = [i for i in pharm_c + clinic_c if self.insts[i]["town"] in (t, 0)] or pharm_c + clinic_c
                if near:
                    o2 = R.choice(near)
                    (pharm_c if o2 in pharm_c else clinic_c).remove(o2)
                    outlets.append(o2)
            settlers = {}
            for o in outlets:
                st = self.insts[o]["staff"]
                settlers[o] = st[:2] if (len(st) > 1 and R.random() < 0.5) else st[:1]
                if self.insts[o]["kind"] == "pharmacy" and not self.insts[o]["rec_pharm"] and R.random() < 0.5:
                    settlers[o] = []        # this pharmacy does not record who settles a sale
                self.member(ring, "institution", o)
            avoid |= set(outlets)
            # ---- drugs (what the outlets' customers buy anyway), time window, recyclers
            sells = defaultdict(int)
            for o in outlets:
                for v in self._visits_at.get(o, ()):
                    for l in v.lines:
                        sells[l[0]] += 1
            wts = [d[2] * (1 + min(sells[d[0]], 24) / 3.0) for d in RESALE_DRUGS]
            k = min(len(RESALE_DRUGS), R.choice([1, 2, 2, 3]))
            drugs = []
            while len(drugs) < k:
                c = R.choices([d[0] for d in RESALE_DRUGS], wts)[0]
                if c not in drugs:
                    drugs.append(c)
            s0 = R.randint(0, 120)
            s1 = min(NDAYS - 20, s0 + R.randint(150, 300))
            n_rec = 1 if len(outlets) == 1 or R.random() < 0.5 else 2
            rec_out = [list(outlets)] if n_rec == 1 else [[outlets[0]], [outlets[1]]]
            if n_rec == 2 and R.random() < 0.5:
                rec_out[0].append(outlets[1])
            # ---- prescribers who knowingly feed the collectors (some rings)
            feeders = []
            if R.random() < 0.5:
                cl_out = [o for o in outlets if self.insts[o]["kind"] != "pharmacy"]
                if cl_out and R.random() < 0.6:
                    feeders.append((cl_out[0], settlers[cl_out[0]][0]))
                else:
                    ti = [i for i in self.town_inst.values() if i not in avoid]
                    ti.sort(key=lambda i: (self.insts[i]["town"] != t, self.insts[i]["town"]))
                    if ti:
                        inst = ti[0] if R.random() < 0.6 else R.choice(ti)
                        docs = [d for d in self.insts[inst]["depts"].get("全科", []) +
                                self.insts[inst]["depts"].get("内科", []) if d not in ring_phys and d not in used_docs]
                        if docs:
                            for d in R.sample(docs, min(len(docs), 1 if R.random() < 0.7 else 2)):
                                feeders.append((inst, d))
            # ---- collectors (职业开药人) and the credentials they borrow
            n_col = max(2, int(round(R.uniform(2, 5) * math.sqrt(s) + R.random())))
            towns = [t] + R.sample(range(len(self.towns)), min(len(self.towns), 2))
            area = list(dict.fromkeys(p for tt in towns for vv in self.towns[tt]["villages"]
                                      for p in self.villages[vv]["persons"]))
            pool = self._dr_pool(area, lambda i: not self.away[i] and 30 <= self._age(i) <= 72)
            R.shuffle(pool)
            collectors = pool[:n_col]
            for c in collectors:
                self.member(ring, "person", c)
            honest_ph = [i for i in range(len(self.insts)) if self.insts[i]["kind"] == "pharmacy" and i not in avoid]
            collected = []     # (day, line, recycler)
            col_notes = []
            n_lenders = 0
            n_borrow = 0
            places = set()
            for ci, c in enumerate(collectors):
                borrowed = (ci == 1 and r == 0) or (ci > 0 and R.random() < 0.4)
                mine = R.sample(drugs, min(len(drugs), R.choice([1, 1, 2])))
                rec = R.randrange(n_rec)
                # the prescribers this collector goes round (most of them do not know)
                cand = [self.h_people, self.h_people, self.h_tcm] + \
                    [self.town_inst[tt] for tt in R.sample(range(len(self.towns)), min(3, len(self.towns)))] + \
                    [self.clinic_of_village[v] for v in R.sample(range(len(self.villages)), min(3, len(self.villages)))]
                srcs = []
                for inst in cand:
                    if inst in avoid:
                        continue
                    d = self.doctor(inst, drug_dx[mine[0]], self._age(c))
                    if d not in ring_phys and (inst, d) not in srcs:
                        srcs.append((inst, d))
                srcs = R.sample(srcs, min(len(srcs), R.randint(3, 7)))
                if not srcs:
                    srcs = [(self.h_people, self.doctor(self.h_people, drug_dx[mine[0]], self._age(c)))]

                def go(p, present, d):
                    code = R.choice(mine)
                    if feeders and R.random() < 0.5:
                        src = R.choice(feeders)
                    else:
                        src = R.choice(srcs)
                    ph = None
                    if self.insts[src[0]]["kind"] == "hospital" and R.random() < 0.3 and honest_ph:
                        ph = R.choice(honest_ph)
                    got = self._dr_collect(p, present, src, code, drug_dx[code], d, ring, ph)
                    if got is not None:
                        collected.append((d, got, rec))
                        places.add(got.inst)
                    return got

                d = s0 + R.randint(0, 25)
                nv = 0
                if not borrowed:
                    while d <= s1:
                        nv += go(c, c, d) is not None
                        d += R.randint(6, 18)
                    col_notes.append(f"{self.pid[c]} own card, {nv} settlements")
                    continue
                n_borrow += 1
                vv = self.villages[self.vill[c]]["persons"]
                lend = self._dr_pool(vv, lambda i: i != c and ((self.away[i] and self._age(i) >= 18) or
                                                                (not self.away[i] and self._age(i) >= 60)))
                lenders = R.sample(lend, min(len(lend), R.randint(2, 5)))
                for o in lenders:
                    self.member(ring, "person", o)
                n_lenders += len(lenders)
                while d <= s1:
                    nv += go(c, c, d) is not None
                    d += R.randint(14, 30)
                for o in lenders:
                    d = s0 + R.randint(0, 30)
                    while d <= s1:
                        nv += go(o, c, d) is not None
                        d += R.randint(22, 38)
                col_notes.append(f"{self.pid[c]} own card + {len(lenders)} borrowed cards "
                                 f"({', '.join(self.pid[o] for o in lenders)}), {nv} settlements")
            # ---- recyclers route the packs to the outlets, resold weeks later
            p_resell = R.uniform(0.6, 0.9)
            queue = defaultdict(list)   # (outlet, code) -> [(ready day, line, pack)]
            n_packs = 0
            for d, v, rec in collected:
                l = v.lines[-1]
                for k in range(int(math.ceil(l[1] - 1e-9))):
                    n_packs += 1
                    if R.random() < p_resell:
                        ready = d + R.randint(14, 63)
                        if ready < NDAYS - 1:
                            queue[(R.choice(rec_out[rec]), l[0])].append((ready, l, k))
            n_resold = n_sub = n_lines = 0
            setl = set()
            for (o, code) in sorted(queue):
                a, b, c, used = self._dr_resell(ring, o, code, drug_dx[code], queue[(o, code)], settlers[o])
                n_resold += a
                n_sub += b
                n_lines += c
                setl |= used
            for o in outlets:
                for j in settlers[o]:
                    if j in setl:
                        self.member(ring, "physician", j)
            fed = {v.phys for _, v, _ in collected}
            for inst, d in feeders:
                if d in fed:
                    self.member(ring, "physician", d)
                    used_docs.add(d)
            ring_phys |= {m[1] for m in ring["members"] if m[0] == "physician"}
            avoid |= {i for i, _ in feeders}
            self.dr_rings.append(dict(ring=ring["id"], outlets=outlets, feeders=feeders))
            self.ring_notes.append(
                f"{ring['id']} drug_resale: outlets {[self.insts[o]['id'] + ' (' + self.insts[o]['kind'] + ')' for o in outlets]} "
                f"settled by {[self.phys[j]['id'] for m in ring['members'] if m[0] == 'physician' for j in [m[1]] if self.phys[j]['inst'] in outlets] or 'staff not recorded'}; "
                f"drugs {[self.cat[c]['name'] for c in drugs]}; {len(collectors)} collectors ({n_borrow} also using "
                f"{n_lenders} borrowed credentials) going round {len(places)} institutions; knowing prescribers "
                f"{[self.phys[d]['id'] for _, d in feeders if d in fed] or 'none'}; {n_rec} recycler(s); "
                f"{len(collected)} collecting settlements, {n_packs} packs, {n_resold} re-settled at the outlets in "
                f"{n_lines} lines ({n_sub} lines were genuine customers' purchases filled with resold packs), "
                f"days {s0}..{s1}")
            self.ring_notes += ["    collector " + x for x in col_notes]

    def _dr_collect(self, p, present, src, code, dx, d, ring, pharm=None):
        R = self.R
        if d >= NDAYS - 1 or self._busy(p, d) or (present != p and self._busy(present, d)):
            return None
        inst, doc = src
        place = pharm if pharm is not None else inst
        it = self.cat[code]
        if it["pack"]:
            days = it["mdays"] if R.random() < 0.55 else it["pack"] * int(it["mqty"])
            dl = self.drug_days(place, code, days)
        else:
            mq = int(it["mqty"] or 2)
            dl = self.L(place, code, R.randint(max(1, mq // 2), mq))
        if pharm is not None:
            lines, vt, st = [dl], "pharmacy", self.t_at(d, 8.5, 20)
        else:
            lines, vt = [self.L(inst, self.consult(inst), 1), dl], "outpatient"
            if self.insts[inst]["kind"] == "hospital":
                st = self.t_at(d, 8, 11.75) if R.random() < 0.7 else self.t_at(d, 14, 17)
            else:
                st = self.t_at(d, 7.5, 19)
        v = self.add(p, place, doc, vt, st, None, [dx], lines, present, "drug_resale", ring["id"])
        self.trace_special.add(id(dl))
        return v

    def _dr_resell(self, ring, o, code, dx, packs, settlers):
        """sell the recycled packs again at outlet o: genuine customers' purchases filled with them, or
        settlements on regular customers' credentials; returns (packs, substituted lines, lines, settlers)"""
        R = self.R
        it = self.cat[code]
        staff = set(self.insts[o]["staff"])
        ex = []
        fraud = self.fraud_persons
        for v in self._visits_at.get(o, ()):
            if v.tag is not None or v.ring is not None or v.p in fraud or v.present in fraud or v.payer in fraud:
                continue
            if v.phys is not None and v.phys in staff and v.phys not in settlers:
                continue        # sold by a pharmacist who is not in on it
            for l in v.lines:
                if l[0] == code and l[5] is None and id(l) not in self.pack_src and l[1] == int(l[1]):
                    ex.append(((v.start.date() - D0).days, v, l))
        ex.sort(key=lambda x: x[1].start)
        p_sub = R.uniform(0.3, 0.8)
        # regular customers of the outlet who are given (or whose cards get) the resold packs
        t = self.insts[o]["town"]
        vills = [self.insts[o]["village"]] if self.insts[o]["village"] is not None else self.towns[t]["villages"]
        area = [p for vv in vills for p in self.villages[vv]["persons"]]
        if len(area) < 60:
            area += [p for vv in self.towns[t]["villages"] for p in self.villages[vv]["persons"]]
        cands = self._dr_pool(area, lambda i: not self.away[i] and self._age(i) >= 40)
        R.shuffle(cands)
        cands.sort(key=lambda i: dx not in self.chronic[i])      # patients with the condition first
        cust = cands[:R.randint(6, 20)]
        last = {}
        packs.sort(key=lambda x: x[0])
        used = set()
        n_res = n_sub = n_lines = 0
        i = 0
        while i < len(packs):
            day = packs[i][0] + R.randint(0, 5)
            if day >= NDAYS - 1:
                break
            want = R.choice([1, 1, 2])
            bundle = [packs[i]]
            i += 1
            while len(bundle) < want and i < len(packs) and packs[i][0] <= day:
                bundle.append(packs[i])
                i += 1
            hit = None
            if R.random() < p_sub:
                for j, (dd, v, l) in enumerate(ex):
                    if day <= dd <= day + 10:
                        hit = j
                        break
            if hit is not None:
                dd, v, l = ex.pop(hit)
                n = min(len(bundle), int(l[1]))
                i -= len(bundle) - n
                bundle = bundle[:n]
                n_sub += 1
                if v.phys is not None:
                    used.add(v.phys)
                mi = (v.start.year - 2024) * 12 + v.start.month - 3
                self.inv_sub.append((o, code, mi, n))
            else:
                free = [c for c in cust if last.get(c, -999) <= day - 24 and not self._busy(c, day)]
                if not free:
                    free = [c for c in cust if not self._busy(c, day)]
                if not free:
                    continue
                c = free[0] if R.random() < 0.7 else R.choice(free)
                last[c] = day
                self.dr_customers.add(c)
                k = len(bundle)
                if it["pack"]:
                    l = self.L(o, code, k, int(min(it["mdays"] or 30, k * it["pack"])))
                else:
                    l = self.L(o, code, k)
                if self.insts[o]["kind"] != "pharmacy" or (settlers and R.random() < 0.75):
                    phys = R.choice(settlers)
                    used.add(phys)
                elif R.random() < 0.5:
                    phys = self.doctor(self.h_people, dx, self._age(c))    # a prescription from the county hospital
                else:
                    phys = None
                if self.insts[o]["kind"] == "pharmacy":
                    v = self.add(c, o, phys, "pharmacy", self.t_at(day, 8, 20), None, [dx], [l], c, None, ring["id"])
                else:
                    v = self.add(c, o, phys, "outpatient", self.t_at(day, 7.5, 19), None, [dx],
                                 [self.L(o, CONSULT_BASE, 1), l], c, None, ring["id"])
                v.book = False          # the recycled packs never went through the outlet's purchase book
                self._set_payer(v, c)
            self.pack_src[id(l)] = [(src, k) for _, src, k in bundle]
            self.resale_lines.add(id(l))
            self.trace_special.add(id(l))
            self.trace_cause[id(l)] = "resale"
            n_res += len(bundle)
            n_lines += 1
        return n_res, n_sub, n_lines, used

    # ------------------------------------------------ clean look-alikes of traces
    def trace_confounders(self):
        R = self.R
        fraud = self.fraud_persons
        ring_phys = {m[1] for r in self.rings for m in r["members"] if m[0] == "physician"}
        feeder_insts = {i for d in self.dr_rings for i, _ in d["feeders"]}
        bad = set(self.ring_insts) | feeder_insts | self.no_scan
        people_bad = fraud | self.dr_customers | self._kc_persons

        def clean_v(v):
            return (v.tag is None and v.ring is None and v.p not in people_bad and v.inst not in bad
                    and (v.present is None or v.present not in people_bad)
                    and (v.payer is None or v.payer not in people_bad)
                    and (v.phys is None or v.phys not in ring_phys))

        def ok_line(l):
            it = self.cat[l[0]]
            return (it["type"] == "drug" and l[0] not in BOX_UNITS and l[5] is None and id(l) not in self.trace_special
                    and l[1] == int(l[1]) and l[1] >= 1)

        conf_p = set()
        # ---- a chronic patient who gets the same drug monthly from two prescribers, supplies back to back
        chron = []
        want, tries = R.randint(2, 4), 0
        while len(chron) < want and tries < 40:
            tries += 1
            code, dx = R.choice([("Y0100006", "E11.9"), ("Y0100022", "E11.9"), ("Y0100010", "J44.9")])
            reg = getattr(self, "_regimen", {})
            cands = self._dr_pool(range(self.N), lambda i: not self.away[i] and 45 <= self._age(i) <= 78
                                  and i not in conf_p and (
                                      (dx in self.chronic[i] and code not in {c for _, ds in reg.get(i, []) for c in ds})
                                      or not self.chronic[i]))
            if not cands:
                continue
            withc = [i for i in cands if dx in self.chronic[i]]
            p = R.choice(withc) if withc and R.random() < 0.6 else R.choice(cands)
            a = self._age(p)
            A = self.clinic_of_village[self.vill[p]]
            if A in bad or self.insts[A]["kind"] == "pharmacy":
                A = self.town_inst[self.town_of[p]]
            Bs = [i for i in (self.h_people, self.h_tcm) + tuple(self.central) if i not in bad and i != A]
            if A in bad or not Bs:
                continue
            B = Bs[0]
            da, db = self.doctor(A, dx, a), self.doctor(B, dx, a)
            if da in ring_phys or db in ring_phys:
                continue
            conf_p.add(p)
            it = self.cat[code]
            qty = max(1, int(round(30 / it["pack"])))
            days = qty * it["pack"]
            d = R.randint(0, 40)
            m = R.randrange(2)
            nv = 0
            while d < NDAYS - 1:
                while d < NDAYS - 1 and self._busy(p, d):
                    d += 1
                if d >= NDAYS - 1:
                    break
                inst, doc = (A, da) if m % 2 == 0 else (B, db)
                lines = [self.L(inst, self.consult(inst), 1)] if (inst == B or R.random() < 0.5) else []
                lines.append(self.L(inst, code, qty, days))
                st = self.t_at(d, 8, 11.5) if inst == B else self.t_at(d, 7.5, 17)
                v = self.add(p, inst, doc, "outpatient", st, None, [dx] + [c for c in self.chronic[p] if c != dx][:1],
                             lines, self._present_for(p, a, "clinic"))
                self._set_payer(v, p)
                nv += 1
                m += 1
                d += days + R.randint(0, 3)
            chron.append(f"{self.pid[p]} ({self.cat[code]['name']}, {nv} settlements alternating "
                         f"{self.phys[da]['id']} at {self.insts[A]['id']} and {self.phys[db]['id']} at "
                         f"{self.insts[B]['id']}, {days}-day supplies back to back)")
        self.trace_notes.append("same high-value drug monthly from two prescribers, supplies not overlapping: "
                                + "; ".join(chron))
        # ---- a pack split over two settlements (拆零: half a box now, the rest at the next visit)
        sp_insts = [i for i in range(len(self.insts)) if i not in bad
                    and (self.insts[i]["kind"] in ("clinic", "community") or self.insts[i]["kind"] == "pharmacy")]
        splits = []
        want, tries = R.randint(3, 6), 0
        while len(splits) < want and tries < 60:
            tries += 1
            inst = R.choice(sp_insts)
            I = self.insts[inst]
            code, dx = R.choice(SPLIT_ITEMS)
            vills = [I["village"]] if I["village"] is not None else self.towns[I["town"]]["villages"]
            area = [p for vv in vills for p in self.villages[vv]["persons"]]
            cands = self._dr_pool(area, lambda i: not self.away[i] and self._age(i) >= 18 and i not in conf_p)
            if not cands:
                continue
            p = R.choice(cands)
            it = self.cat[code]
            half = max(1, int(it["pack"] // 2))
            d1 = R.randint(0, NDAYS - 30)
            d2 = d1 + half + R.randint(-1, 2)
            if self._busy(p, d1) or self._busy(p, d2) or d2 <= d1:
                continue
            a = age_on(self.birth[p], D0 + dt.timedelta(days=d1))
            doc = self.doctor(inst, dx, a)
            if doc in ring_phys:
                continue
            prev = None
            for dd in (d1, d2):
                l = self.L(inst, code, 0.5, half)
                if I["kind"] == "pharmacy":
                    v = self.add(p, inst, doc if I["rec_pharm"] else None, "pharmacy", self.t_at(dd, 8, 19), None,
                                 [], [l], self._present_for(p, a, "pharmacy"))
                else:
                    v = self.add(p, inst, doc, "outpatient", self.t_at(dd, 7.5, 18), None, [dx],
                                 [self.L(inst, CONSULT_BASE, 1), l], self._present_for(p, a, "clinic"))
                self.trace_special.add(id(l))
                if prev is not None:
                    self.pack_src[id(l)] = [(prev, 0)]
                    self.trace_cause[id(l)] = "split"
                prev = l
            conf_p.add(p)
            splits.append(f"{self.pid[p]} at {I['id']} ({self.cat[code]['name']}, 0.5 + 0.5 box, "
                          f"{D0 + dt.timedelta(days=d1)} and {D0 + dt.timedelta(days=d2)})")
        self.trace_notes.append("a box split over two settlements of the same person at the same institution "
                                "(quantity 0.5 each, the same code): " + "; ".join(splits))
        # ---- candidate genuine sales for refunds and scanner repeats
        groups = defaultdict(list)
        for v in self.old_visits:
            if v.vt == "inpatient" or not clean_v(v) or v.p in conf_p:
                continue
            for l in v.lines:
                if ok_line(l):
                    groups[(v.inst, l[0])].append((v, l))
        # ---- a sale refunded (reversed=true) and the same pack sold again later at the same place
        keys = sorted(k for k in groups if len(groups[k]) >= 2 and self.insts[k[0]]["kind"] != "hospital")
        R.shuffle(keys)
        revs = []
        want = R.randint(3, 7)
        used_lines = set()
        for key in keys:
            if len(revs) >= want:
                break
            lst = sorted(groups[key], key=lambda x: x[0].start)
            i = R.randrange(len(lst) - 1)
            v1, l1 = lst[i]
            d1 = (v1.start.date() - D0).days
            for v2, l2 in lst[i + 1:]:
                gap = (v2.start.date() - D0).days - d1
                if gap > 30:
                    break
                if gap >= 1 and v2 is not v1 and v2.p != v1.p:
                    k = R.randrange(int(l1[1]))
                    self.reversed_packs[id(l1)] = {k}
                    self.pack_src[id(l2)] = [(l1, k)]
                    self.trace_cause[id(l2)] = "reversed"
                    self.trace_special |= {id(l1), id(l2)}
                    used_lines |= {id(l1), id(l2)}
                    revs.append(f"{self.insts[key[0]]['id']} {self.cat[key[1]]['name']}: refunded "
                                f"{v1.start.date()}, sold again {v2.start.date()}")
                    break
        self.trace_notes.append("pack sale refunded (reversed=true) and the pack sold again at the same place: "
                                + "; ".join(revs))
        # ---- a scanner that repeats the previous code within minutes at the same counter
        faulty_c = [i for i in range(len(self.insts)) if self.insts[i]["kind"] == "pharmacy" and i not in bad]
        faulty_c.sort(key=lambda i: (i not in self.main_pharm.values(), i))
        cpairs = defaultdict(list)     # counter -> sales of one item minutes apart, one after the other
        for (ii, code), lst in groups.items():
            if ii not in faulty_c:
                continue
            lst = sorted(lst, key=lambda x: x[0].start)
            for (v1, l1), (v2, l2) in zip(lst, lst[1:]):
                if (v1 is not v2 and v1.start.date() == v2.start.date()
                        and 0 < (v2.start - v1.start).total_seconds() <= 480):
                    cpairs[ii].append((v1, l1, v2, l2))
        faulty = []
        pairs_all = []
        withp = [i for i in faulty_c if cpairs[i]]
        for inst in R.sample(withp, min(len(withp), R.choice([1, 1, 2]))):
            w0 = R.randint(0, NDAYS - 60)
            w1 = w0 + R.randint(20, 60)
            pairs = cpairs[inst]
            inw = [x for x in pairs if w0 <= (x[0].start.date() - D0).days <= w1]
            if not inw:        # the glitch window is where the repeats are
                d = (R.choice(pairs)[0].start.date() - D0).days
                w0, w1 = max(0, d - R.randint(0, 20)), min(NDAYS - 1, d + R.randint(5, 30))
                inw = [x for x in pairs if w0 <= (x[0].start.date() - D0).days <= w1]
            nrep = 0
            for v1, l1, v2, l2 in R.sample(inw, min(len(inw), R.randint(2, 6))):
                if id(l1) in used_lines or id(l2) in used_lines:
                    continue
                self.pack_src[id(l2)] = [(l1, int(l1[1]) - 1)]
                self.trace_cause[id(l2)] = "scanner"
                self.trace_special |= {id(l1), id(l2)}
                used_lines |= {id(l1), id(l2)}
                pairs_all.append((v1, v2))
                nrep += 1
            faulty.append((inst, w0, w1, nrep))
        if not pairs_all:
            # no two sales of one item minutes apart: two market-day customers buy the same remedy
            inst = faulty_c[0]
            t = self.insts[inst]["town"]
            area = [p for vv in self.towns[t]["villages"] for p in self.villages[vv]["persons"]]
            cands = self._dr_pool(area, lambda i: not self.away[i] and self._age(i) >= 18 and i not in conf_p)
            d = self.market_day_near(t, R.randint(10, NDAYS - 10))
            p1, p2 = R.sample([p for p in cands if not self._busy(p, d)], 2)
            st = self.t_at(d, 7.5, 10.5)
            prev = None
            for p, tt in ((p1, st), (p2, st + dt.timedelta(seconds=R.randint(60, 360)))):
                l = self.L(inst, "Y0200008", 1, 3)
                v = self.add(p, inst, None, "pharmacy", tt, None, [], [l], p)
                self.trace_special.add(id(l))
                if prev is not None:
                    self.pack_src[id(l)] = [(prev, 0)]
                    self.trace_cause[id(l)] = "scanner"
                prev = l
            faulty.append((inst, d, d, 1))
        self.trace_notes.append("scanner repeating the previous code within minutes at the same counter: "
                                + "; ".join(f"{self.insts[i]['id']} ({n} repeats, glitch mostly "
                                            f"{D0 + dt.timedelta(days=a)}..{D0 + dt.timedelta(days=b)})"
                                            for i, a, b, n in faulty))
        self.trace_notes.append("village clinics that do not scan trace codes yet: "
                                + ", ".join(sorted(self.insts[i]["id"] for i in self.no_scan)))

    def _adjust_inventory(self, new):
        """the stock books: an honest institution bought what it sold in the new settlements (a box sold
        in halves is bought whole); an outlet bought fewer packs than the genuine sales it filled with
        resold ones, and its book shows neither those packs nor its sales on other persons' cards"""
        ev = defaultdict(lambda: [0.0, 0.0])      # (inst, code, month) -> [purchased, book outflow]
        opened = set()
        for v in sorted(new, key=lambda v: v.start):
            I = self.insts[v.inst]
            if not v.book or I["kind"] not in ("pharmacy", "clinic", "community"):
                continue
            mi = (v.start.year - 2024) * 12 + v.start.month - 3
            for l in v.lines:
                if self.cat[l[0]]["type"] != "drug":
                    continue
                e = ev[(v.inst, l[0], mi)]
                e[1] += l[1]
                if l[1] == int(l[1]):
                    e[0] += l[1]
                elif (v.inst, l[0]) not in opened:     # the first half of a split box: the box is bought
                    opened.add((v.inst, l[0]))
                    e[0] += 1
                else:
                    opened.discard((v.inst, l[0]))
        for inst, code, mi, q in self.inv_sub:
            e = ev[(inst, code, mi)]
            e[0] -= q
            e[1] -= q
        rows = [list(r) for r in self.inventory_rows]
        by_key = defaultdict(list)
        for r in rows:
            by_key[(r[0], r[1])].append(r)
        for (inst, code, mi), (dp, do) in sorted(ev.items()):
            if not self.inv_report.get(inst) or not 0 <= mi < 12 or (dp == 0 and do == 0):
                continue
            iid, per = self.insts[inst]["id"], PERIODS[mi]
            stock = self.inv_stock.get(inst)
            ks = by_key[(iid, code)]
            r = next((x for x in ks if x[2] == per), None)
            if r is None:
                if dp <= 0:
                    continue
                before = [x for x in ks if x[2] < per]
                after = [x for x in ks if x[2] > per]
                lvl = before[-1][5] if before else (after[0][4] if after else "0")
                r = [iid, code, per, "0", lvl if stock else "", lvl if stock else ""]
                rows.append(r)
                ks.append(r)
                ks.sort(key=lambda x: x[2])
            r[3] = fmt_qty(max(0.0, float(r[3]) + dp))
            shift = dp - do
            if stock and shift:
                r[5] = fmt_qty(float(r[5]) + shift)
                for x in ks:
                    if x[2] > per:
                        x[4] = fmt_qty(float(x[4]) + shift)
                        x[5] = fmt_qty(float(x[5]) + shift)
        rows.sort(key=lambda r: (r[0], r[1], r[2]))
        self.inventory_rows = [tuple(r) for r in rows]

    def build_traces(self, recs):
        """one row per pack dispensed at a scanning institution (see README-generator.txt)"""
        Rt = self.Rt
        rnd = Rt.random
        cat, scan = self.cat, self.scan
        special_set, pack_src, revp = self.trace_special, self.pack_src, self.reversed_packs
        box_left = defaultdict(float)
        key_id = {}            # (inst, item) -> key
        key_item = []
        pk_key = []            # pack -> key of the institution and item it was first dispensed under
        pack_of = {}           # id(line) -> its packs
        r_lid, r_pack, r_sec, r_blank, r_rev = [], [], [], [], []
        stats = self.trace_stats = defaultdict(int)
        drugs = {c for c, it in cat.items() if it["type"] == "drug"}
        last_v, vs0 = None, 0
        for v, l, lid, stime in recs:
            code = l[0]
            if code not in drugs or v.inst not in scan:
                continue
            if v.tag == "card_cashout" or l[5] == "duplicate_charge":
                continue      # swiped but never dispensed / billed twice, dispensed once
            q = l[1]
            U = BOX_UNITS.get(code)
            if U:
                key = (v.inst, code)
                left = box_left[key]
                if q <= left + 1e-9:
                    box_left[key] = left - q
                    continue
                n = int(math.ceil((q - left) / U - 1e-9))
                box_left[key] = n * U - (q - left)
            else:
                n = int(math.ceil(q - 1e-9))
            lk = id(l)
            special = lk in special_set
            src = pack_src.get(lk, ())
            rev = revp.get(lk, ())
            if v is not last_v:
                last_v, vs0 = v, int((v.start - START).total_seconds())
            if v.vt == "pharmacy":
                t0 = vs0 - 5 - int(rnd() * 146)
            elif stime is not None:
                t0 = int((stime - START).total_seconds())
            elif v.vt == "outpatient":
                t0 = vs0 + 180 + int(rnd() * 2221)
            else:
                t0 = min(int((v.end - START).total_seconds()), vs0 + 3600 + int(rnd() * 169201))
            blank = not special and rnd() < 0.05
            kid = key_id.get((v.inst, code))
            if kid is None:
                kid = key_id[(v.inst, code)] = len(key_item)
                key_item.append(code)
            ids = []
            for k in range(n):
                pk = None
                if k < len(src):
                    sp = pack_of.get(id(src[k][0]))
                    if sp and src[k][1] < len(sp):
                        pk = sp[src[k][1]]
                    else:
                        stats["source_not_scanned"] += 1
                if pk is None:
                    pk = len(pk_key)
                    pk_key.append(kid)
                ids.append(pk)
                if not special and rnd() < 0.008:
                    stats["missed_scans"] += 1
                    continue
                r_lid.append(lid)
                r_pack.append(pk)
                r_sec.append(t0 + k * (2 + int(rnd() * 8)) if k else t0)
                r_blank.append(blank)
                r_rev.append("true" if k in rev else "false")
            pack_of[lk] = ids
        # codes: 7-digit product id + 9-digit pack serial + 4 check digits.  An institution's packs come
        # in manufacturer batches (serials mostly consecutive); batches of one product never overlap
        items = sorted({c for c, it in cat.items() if it["type"] == "drug"})
        ix = {c: i for i, c in enumerate(items)}
        taken, pre, dsum = set(), [], []
        for c in items:
            x = zlib.crc32(("nmpa-trace:" + c).encode()) % 10 ** 6
            while x in taken:
                x = (x + 7919) % 10 ** 6
            taken.add(x)
            pre.append("8" + f"{x:06d}")
            dsum.append(sum(map(int, pre[-1])))
        g = np.random.default_rng(Rt.randrange(2 ** 32))
        cursor0 = g.integers(10 ** 7, 4 * 10 ** 8, len(items))
        P = len(pk_key)
        serial = np.zeros(P, dtype=np.int64)
        prod = np.zeros(P, dtype=np.int64)
        if P:
            keys = np.asarray(pk_key, dtype=np.int64)
            prod = np.asarray([ix[c] for c in key_item], dtype=np.int64)[keys]
            order = np.lexsort((np.arange(P), keys, prod))
            ks, ps = keys[order], prod[order]
            newbatch = np.ones(P, bool)
            newbatch[1:] = (ks[1:] != ks[:-1]) | (g.random(P - 1) < 1 / 80.0)
            x = g.random(P)
            inc = np.where(x < 0.8, 1, 2 + ((x - 0.8) * 25).astype(np.int64))
            bid = np.cumsum(newbatch) - 1
            first = np.flatnonzero(newbatch)
            cs = np.cumsum(inc)
            off = cs - inc - (cs[first] - inc[first])[bid]
            span = np.add.reduceat(inc, first)
            gap = g.integers(0, 20000, len(first))
            bprod = ps[first]
            step = gap + span
            cstep = np.cumsum(step) - step
            pnew = np.ones(len(first), bool)
            pnew[1:] = bprod[1:] != bprod[:-1]
            excl = cstep - cstep[np.flatnonzero(pnew)][np.cumsum(pnew) - 1]
            base = cursor0[bprod] + excl + gap
            serial[order] = base[bid] + off
        check = (serial * 7919 + np.asarray(dsum, dtype=np.int64)[prod] * 31 + 17) % 10000
        codes = [f"{pre[p]}{sr:09d}{ck:04d}" for p, sr, ck in zip(prod.tolist(), serial.tolist(), check.tolist())]
        secs = np.asarray(r_sec, dtype=np.int64)
        ts = np.datetime_as_string(np.datetime64("2024-03-01T00:00:00") + secs.astype("timedelta64[s]"), unit="s")
        ts = ts.astype(object)
        ts[np.asarray(r_blank, dtype=bool)] = ""
        rows = list(zip(r_lid, [codes[k] for k in r_pack], ts.tolist(), r_rev))
        # repeated codes by cause
        tc = self.trace_cause
        cause_of_lid = {lid: tc[id(l)] for v, l, lid, stime in recs if id(l) in tc}
        cnt = Counter(r_pack)
        seen = defaultdict(list)
        for lid, pk in zip(r_lid, r_pack):
            if cnt[pk] > 1:
                seen[pk].append(lid)
        rep = defaultdict(int)
        for pk, lids in seen.items():
            cz = {cause_of_lid.get(x) for x in lids} - {None}
            rep["/".join(sorted(cz)) or "unexplained"] += 1
        self.trace_repeats = dict(rep)
        self.n_codes = P
        return rows

    # ================================================================ write
    def write(self, out):
        os.makedirs(out, exist_ok=True)
        os.makedirs(os.path.join(out, "truth"), exist_ok=True)

        def w(name, cols, rows):
            df = pd.DataFrame(rows, columns=cols, dtype=object)
            df.to_csv(os.path.join(out, name), index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n",
                      encoding="utf-8")

        # institutions: no `level` column in this export
        w("institutions.csv", ["institution_id", "name", "kind", "ownership", "district", "has_face_terminal"],
          [(I["id"], I["name"], I["kind"], I["own"], self.towns[I["town"]]["name"],
            ("true" if I["term"] else ("false" if (I["kind"] != "clinic" or self.R.random() < 0.8) else "")))
           for I in self.insts])
        w("physicians.csv", ["physician_id", "institution_id", "name", "specialty"],
          [(p["id"], self.insts[p["inst"]]["id"], p["name"], p["spec"]) for p in self.phys])
        # persons: no `district` column
        prow = []
        for i in range(self.N):
            prow.append((self.pid[i], self.sex[i], self.birth[i].isoformat(),
                         self.pname[i] if self.R.random() < 0.96 else "", self.idno[i], self.ins[i],
                         ";".join(self.chronic[i]) if self.registered[i] else "",
                         self.death[i].isoformat() if self.death[i] else ""))
        w("persons.csv", ["person_id", "sex", "birth_date", "name", "id_number", "insurance_type",
                          "chronic_conditions", "death_date"], prow)
        crow = []
        for code, it in self.cat.items():
            crow.append((code, it["name"], it["type"], it["cls"],
                         fmt_money(it["cap"]) if it["cap"] is not None else "", it["sex"],
                         "" if it["amin"] is None else str(it["amin"]), "" if it["amax"] is None else str(it["amax"]),
                         ";".join(it["pref"]), "" if it["mdays"] is None else str(it["mdays"]),
                         "" if it["mqty"] is None else fmt_qty(it["mqty"])))
        w("catalog.csv", ["item_code", "name", "item_type", "insurance_class", "price_cap", "sex_limit", "age_min",
                          "age_max", "indication_prefixes", "max_days_supply", "max_qty_per_visit"], crow)
        vrow, lrow, recs = [], [], []
        for v in self.visits:
            R = self.Rw if v.new else self.R     # the trace pass's settlements keep their own stream
            vrow.append((v.vid, self.pid[v.p], self.insts[v.inst]["id"],
                         self.phys[v.phys]["id"] if v.phys is not None else "", v.vt, fmt_ts(v.start),
                         fmt_ts(v.end) if v.end is not None else "", ";".join(v.dx), fmt_money(v.total),
                         fmt_money(v.fund) if R.random() < 0.985 else "",
                         self.pid[v.payer] if v.payer is not None else "", v.term or ""))
            for k, l in enumerate(v.lines):
                lid = f"{v.vid}-{k + 1}"
                l.append(lid)
                it = self.cat[l[0]]
                ds = ""
                if it["type"] == "drug" and l[3] is not None and R.random() < 0.9:
                    ds = str(int(l[3]))
                stime = l[4]
                if stime is None and v.vt != "inpatient" and R.random() < 0.2:
                    stime = v.start + dt.timedelta(minutes=R.randint(1, 30))
                lrow.append((lid, v.vid, l[0], fmt_qty(l[1]), fmt_money(l[2]), fmt_money(l[6]), ds, fmt_ts(stime)))
                recs.append((v, l, lid, stime))
        w("visits.csv", ["visit_id", "person_id", "institution_id", "physician_id", "visit_type", "start_time",
                         "end_time", "diagnosis_codes", "total_amount", "fund_paid", "payer_person_id", "terminal_id"],
          vrow)
        w("claim_lines.csv", ["line_id", "visit_id", "item_code", "quantity", "unit_price", "amount", "days_supply",
                              "service_time"], lrow)

        def enc_strings(arr):
            if len(arr) == 0:
                return []
            buf = io.StringIO()
            np.savetxt(buf, arr, fmt="%.6f", delimiter=" ")
            return buf.getvalue().splitlines()

        es = enc_strings(self.enr_enc)
        w("face_enrollments.csv", ["person_id", "encoding"], [(self.pid[i], e) for i, e in zip(self.enrolled, es)])
        cs = enc_strings(self.cap_enc)
        w("face_captures.csv", ["capture_id", "institution_id", "location", "capture_time", "encoding", "visit_id",
                                "claimed_person_id"],
          [(f"ZP{k + 1:08d}", self.insts[c[1]]["id"], c[2], fmt_ts(c[0]), e,
            c[4].vid if isinstance(c[4], V) else c[4], c[5])
           for k, (c, e) in enumerate(zip(self.captures, cs))])
        w("inventory.csv", ["institution_id", "item_code", "period", "qty_purchased", "qty_opening", "qty_closing"],
          self.inventory_rows)
        trows = self.build_traces(recs)
        with open(os.path.join(out, "drug_traces.csv"), "w", encoding="utf-8", newline="") as f:
            cw = csv.writer(f, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
            cw.writerow(["line_id", "trace_code", "scan_time", "reversed"])
            cw.writerows(trows)
        w("family_links.csv", ["person_id", "related_person_id", "relation"],
          [(self.pid[a], self.pid[b], rel) for a, b, rel in self.family_links])
        w("known_cases.csv", ["case_id", "entity_type", "entity_id", "label", "scheme", "closed_on"], self.known_rows)
        # ---- truth
        rrow, erow = [], []
        for r in self.rings:
            # members as in leads.csv (contract, this round): the implicated parties only; a split
            # admission's patients were affected by it, not party to it
            mem = ";".join(f"{t}:{self.ent_id(t, i)}" for t, i in r["members"]
                           if not (r["scheme"] == "split_admission" and t == "person"))
            rrow.append((r["id"], r["scheme"], mem))
            for t, i in r["members"]:
                erow.append((t, self.ent_id(t, i), r["scheme"], r["id"]))
        for t, i, sch in self.lone:
            erow.append((t, self.ent_id(t, i), sch, ""))
        w("truth/rings.csv", ["ring_id", "scheme", "members"], rrow)
        w("truth/entities.csv", ["entity_type", "entity_id", "scheme", "ring_id"], erow)
        viol = []
        for v in self.visits:
            if v.tag is not None:
                viol.append((v.vid, "", v.tag))
            for l in v.lines:
                if l[5] is not None:
                    viol.append((v.vid, l[7], l[5]))
                if id(l) in self.resale_lines:
                    viol.append((v.vid, l[7], "drug_resale"))
        w("truth/violations.csv", ["visit_id", "line_id", "scheme_or_rule"], viol)
        self.n_rows = dict(visits=len(vrow), claim_lines=len(lrow), face_captures=len(cs), face_enrollments=len(es),
                           inventory=len(self.inventory_rows), drug_traces=len(trows),
                           family_links=len(self.family_links),
                           known_cases=len(self.known_rows), violations=len(viol))
        self.write_readme(out)

    def write_readme(self, out):
        sch = defaultdict(int)
        for r in self.rings:
            sch[r["scheme"]] += 1
        lines = [
            "County export (independent held-out generator: bench/othergen/county.py)",
            f"persons={self.N} seed={self.seed}",
            f"period of care: {D0} .. {(END - dt.timedelta(days=1)).date()} (not a calendar year)",
            f"towns={len(self.towns)} villages={len(self.villages)} institutions={len(self.insts)} "
            f"(hospitals={sum(I['kind'] == 'hospital' for I in self.insts)}, "
            f"pharmacies={sum(I['kind'] == 'pharmacy' for I in self.insts)}, "
            f"face terminals={sum(I['term'] for I in self.insts)}) physicians={len(self.phys)}",
            "rows: " + ", ".join(f"{k}={v}" for k, v in self.n_rows.items()),
            "",
            "Conventions",
            "- absent optional columns: institutions.level, persons.district, visits.account_paid, claim_lines.physician_id",
            "- sparse: persons.name/id_number, physicians.specialty, visits.fund_paid/terminal_id/payer_person_id,",
            "  claim_lines.days_supply (~90% of drug lines)/service_time, catalog.price_cap (a few unpublished),",
            "  institutions.has_face_terminal (blank = unknown for some clinics), inventory opening/closing (some institutions)",
            "- institutions.district holds the township (乡镇) name",
            "- family_links.relation = what related_person_id is to person_id (parent, child, spouse, proxy)",
            "- a registered chronic patient lists codes in chronic_conditions; about half of chronic patients",
            "  (monthly refills) are NOT registered (empty chronic_conditions) and are clean",
            "- ages for sex/age limits: whole years on the settlement date; age_min/age_max inclusive",
            "- truth/violations.csv: scheme settlements one row each with empty line_id; rule-breaking lines",
            "  one row each with line_id (duplicate_charge marks the duplicated copy, not the original)",
            "- split_admission: every segment of a split chain (first admission included) is listed",
            "- ghost_admission: pharmacy purchases made during a ghost stay are genuine and not listed",
            "- card_lending users who are insured are ring members; uninsured users have no person_id",
            "- known_cases: fraud = earlier closed cases (some this year's ring members, some this year's",
            "  doctor shoppers, some clean this year); cleared = confounders and two of this year's ring members",
            "  (drug_resale rings are new this year: none of their members has a closed case)",
            "- drug_traces: one row per pack dispensed, at every institution except the village clinics listed",
            "  below (they do not scan yet).  Items billed in packs (boxes, pens, inhalers, bottles, tubes, single",
            "  vials or pill boxes) carry one code per pack: quantity 2 = two rows.  Injections billed per vial or",
            "  ampoule that come in boxes (" + ", ".join(f"{c} x{u}" for c, u in BOX_UNITS.items()) + ") carry",
            "  the box's code once, on the line that opens the box (首次拆零扫码); lines served from an opened box",
            "  have no row.  A fractional quantity (0.5 = half a box, 拆零) is one row with the whole box's code,",
            "  and the rest of the box carries the same code at the next visit.  No rows for card_cashout swipes",
            "  (never dispensed) nor for the duplicated copy of a duplicate_charge line.  About 0.8% of packs at",
            "  scanning institutions were not scanned (missed); scan_time is blank on ~5% of lines (defaults)",
            "- trace_code: 20 digits = 7-digit product id (one per item) + 9-digit pack serial (an institution's",
            "  packs come in batches with mostly consecutive serials) + 4 check digits; unique per pack",
            "- drug_resale truth: collectors' purchases one row per settlement (empty line_id); re-settled packs",
            "  one row per claim line (line_id set), including genuine customers' purchases that an outlet",
            "  filled with resold packs.  Members: collectors, the credentials they borrowed (lenders paid a cut),",
            "  the outlets and the pharmacists/doctors who settle there, and prescribers only when they knowingly",
            "  feed the collectors.  Customers who bought or were billed the resold packs are victims, not members;",
            "  recyclers are not insured here and appear in no table.  Outlets' stock books do not show the resold",
            "  packs as purchases",
            "",
            "Rings: " + ", ".join(f"{k}={v}" for k, v in sorted(sch.items())) + f", doctor_shopping lone persons={len(self.lone)}",
        ] + ["  " + s for s in self.ring_notes] + [
            "Sporadic rule violations (lines): " + ", ".join(f"{k}={v}" for k, v in self.viol_counts.items()),
            "",
            f"Drug traces: {self.n_rows['drug_traces']} rows, {self.n_codes} packs; codes seen on more than one row, "
            "by cause: " + ", ".join(f"{k}={v}" for k, v in sorted(self.trace_repeats.items())) +
            f"; missed scans: {self.trace_stats.get('missed_scans', 0)} packs",
            "Drug-trace confounders (clean):",
        ] + ["  " + x for x in self.trace_notes] + [
            "",
            "Confounders (clean):",
        ] + ["  " + s for s in self.conf_notes + self._camera_notes()] + [
            "Known cases:",
        ] + ["  " + s for s in self.kc_notes] + [""]
        with open(os.path.join(out, "README-generator.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines))

    # ================================================================= run
    def run(self, out):
        t0 = time.time()
        self.spouse_pairs = []
        self.build_geography()
        self.build_persons()
        self._spouse_set = set(self.spouse_pairs)
        self.build_institutions()
        self.gen_clean()
        self.clean_filter()
        self.gen_fraud()
        self.post_fraud_filter()
        self.gen_violations()
        self.finalise_visits()
        self.confounder_notes()
        self.build_faces()
        self.build_inventory()
        self.build_known_cases()
        gc.disable()    # the trace pass and the writer only add to a finished county: nothing to collect
        try:
            self.drug_traces()
            self.write(out)
        finally:
            gc.enable()
        return time.time() - t0

    def confounder_notes(self):
        R = self.R
        for v in self.chronic_day_villages:
            inst = self.clinic_of_village[v]
            by_day = defaultdict(set)
            for vv in self.visits:
                if vv.inst == inst and vv.tag is None and vv.start.hour < 12:
                    by_day[vv.start.date()].add(vv.p)
            best = max((len(s) for s in by_day.values()), default=0)
            self.conf_notes.append(f"chronic disease day: {self.insts[inst]['id']} ({self.insts[inst]['name']}), "
                                   f"monthly refill morning, up to {best} patients in one morning")
        sizes = []
        for t in range(1, len(self.towns)):
            inst = self.main_pharm[t]
            by_day = defaultdict(int)
            for vv in self.visits:
                if vv.inst == inst and vv.start.hour < 12:
                    by_day[vv.start.date()] += 1
            sizes.append(max(by_day.values(), default=0))
        self.conf_notes.append(f"market days every 5 days at each township's main pharmacy; busiest mornings "
                               f"per town: {sizes}")
        n_sf = sum(1 for i in self.sf_persons)
        self.conf_notes.append(f"Spring Festival home-comers: {n_sf} absent migrant workers whose only visits "
                               f"fall {D0 + dt.timedelta(days=SF_FIRST)}..{D0 + dt.timedelta(days=SF_LAST)}")
        self.conf_notes.append(f"proxies: {len(self._proxy)} elderly have an adult child at home who buys for "
                               f"them ({sum(self.proxy_registered.values())} registered as proxy)")
        self.conf_notes.append("left-behind grandparents present grandchildren's cards (about half registered as proxy)")
        self.conf_notes.append(f"family account sharing: {len(self._payer)} persons whose visits are sometimes paid "
                               f"by an employee-insured relative (payer_person_id)")
        self.conf_notes.append(f"long psychiatric / rehabilitation stays with planned readmissions after 1-21 days: "
                               f"{len(self.psych_persons)} persons")
        self.conf_notes.append("ward cameras only at county hospitals, the psychiatric hospital and some central "
                               "health centres; home health checks have no capture")

    def _camera_notes(self):
        return [f"camera offline: {self.insts[i]['id']} {D0 + dt.timedelta(days=a)}..{D0 + dt.timedelta(days=b)}"
                for i, (a, b) in self.camera_off.items()]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--persons", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args(argv)
    if a.persons < 500:
        ap.error("--persons must be at least 500")
    g = County(a.persons, a.seed)
    secs = g.run(a.out)
    print(f"wrote {a.out}: {g.n_rows} in {secs:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
