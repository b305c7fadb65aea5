"""The billable-item catalogue (药品/诊疗项目/耗材目录) and diagnosis groups of the city."""
import numpy as np
import pandas as pd

# key | name | type | class | cap | sex | amin | amax | indications | max_days | max_qty | pack_days | flags
# flags: R resale value, S shopping target, K cash-out target, X collusive item, O over-the-counter,
#        C chronic refill, I injection given in visit, G ghost-ward drug
_ITEMS = """
amlo|苯磺酸氨氯地平片(5mg*28片)|drug|A|9.80|||||84|3|28|C
vals|缬沙坦胶囊(80mg*28粒)|drug|A|14.50|||||84|3|28|C
nife|硝苯地平控释片(30mg*12片)|drug|A|22.60|||||84|7|12|C
irbe|厄贝沙坦片(0.15g*28片)|drug|A|12.30|||||84|3|28|C
meto|酒石酸美托洛尔缓释片(47.5mg*28片)|drug|B|28.90|||||84|3|28|C
metf|盐酸二甲双胍缓释片(0.5g*60片)|drug|A|11.40|||||84|3|30|C
acar|阿卡波糖片(50mg*30片)|drug|A|18.60|||||84|6|15|C
glim|格列美脲片(2mg*30片)|drug|A|10.20|||||84|3|30|C
dapa|达格列净片(10mg*14片)|drug|B|52.80||||E11;I50;N18|84|6|14|CX
glar|甘精胰岛素注射液(3ml:300单位)|drug|B|71.50||||E10;E11;E13;E14|84|6|15|CRSK
aspa|门冬胰岛素注射液(3ml:300单位)|drug|B|43.80||||E10;E11;E13;E14|84|6|12|CR
sema|司美格鲁肽注射液(1.34mg/ml,1.5ml)|drug|B|399.00||||E11|84|3|28|CRSKX
lira|利拉鲁肽注射液(3ml:18mg)|drug|B|266.00||||E11|84|4|20|CRK
ator|阿托伐他汀钙片(20mg*14片)|drug|A|5.90|||||84|6|14|C
rosu|瑞舒伐他汀钙片(10mg*28片)|drug|A|8.70|||||84|3|28|C
aspi|阿司匹林肠溶片(100mg*30片)|drug|A|14.20|||||84|3|30|C
clop|硫酸氢氯吡格雷片(75mg*28片)|drug|A|20.50|||||84|3|28|C
tica|替格瑞洛片(90mg*14片)|drug|B|38.40||||I20;I21;I24;I25|84|12|7|CK
isos|单硝酸异山梨酯缓释片(40mg*24片)|drug|A|26.00|||||84|4|24|C
dans|复方丹参滴丸(27mg*180丸)|drug|A|29.80|||||84|3|30|C
tiot|噻托溴铵粉吸入剂(18μg*30粒)|drug|B|168.00||||J44|84|3|30|CK
budf|布地奈德福莫特罗吸入粉雾剂(160/4.5μg*60吸)|drug|B|196.00||||J44;J45|84|3|30|CK
salf|沙美特罗替卡松吸入粉雾剂(50/250μg*60泡)|drug|B|178.00||||J44;J45|84|3|30|C
ente|恩替卡韦分散片(0.5mg*28片)|drug|A|17.40||||B18|84|3|28|C
taft|富马酸丙酚替诺福韦片(25mg*30片)|drug|B|118.00||||B18|84|3|30|CRKX
epo|重组人促红素注射液(10000IU)|drug|B|156.00||||N18;D63|30|14|3|I
iron|蔗糖铁注射液(5ml:100mg)|drug|B|68.00||||N18;D50;D63|30|10|7|I
calc|骨化三醇软胶囊(0.25μg*20粒)|drug|B|36.50||||N18;E83;M81|84|5|20|C
seve|碳酸司维拉姆片(800mg*36片)|drug|B|128.00||||N18|84|8|12|C
osim|甲磺酸奥希替尼片(80mg*30片)|drug|B|3560.00||||C34|30|1|30|RK
gefi|吉非替尼片(0.25g*10片)|drug|B|547.00||||C34|30|3|10|R
sint|信迪利单抗注射液(10ml:100mg)|drug|B|1080.00||||C34;C81;C22;C15;C16|21|2|21|I
tras|注射用曲妥珠单抗(440mg)|drug|B|4980.00||||C50;C16|21|1|21|I
letr|来曲唑片(2.5mg*10片)|drug|A|42.00|F|||C50|84|9|10|C
tamo|枸橼酸他莫昔芬片(10mg*60片)|drug|A|35.00||||C50|84|3|30|C
cape|卡培他滨片(0.5g*12片)|drug|B|118.00||||C18;C19;C20;C50;C16|21|6|3|C
pacl|紫杉醇注射液(30mg:5ml)|drug|A|345.00||||C|21|8|1|I
oxal|注射用奥沙利铂(50mg)|drug|B|420.00||||C|21|6|1|I
cisp|顺铂注射液(20mg)|drug|A|32.00||||C|21|8|1|I
onda|盐酸昂丹司琼注射液(4mg)|drug|A|18.00|||||21|12|1|I
olan|奥氮平片(5mg*28片)|drug|A|66.00||||F|84|6|28|C
risp|利培酮片(1mg*60片)|drug|A|38.00||||F|84|6|30|C
arip|阿立哌唑片(5mg*20片)|drug|B|82.00||||F20;F25;F31|84|9|10|C
quet|富马酸喹硫平片(0.1g*30片)|drug|A|46.00||||F|84|9|15|C
sert|盐酸舍曲林片(50mg*14片)|drug|A|42.00||16||F32;F33;F41;F42;F43|84|6|14|C
paro|盐酸帕罗西汀片(20mg*10片)|drug|A|28.00||16||F32;F33;F41;F42;F43|84|9|10|C
zolp|酒石酸唑吡坦片(10mg*7片)|drug|B|26.00||18||G47;F51|14|2|7|S
eszo|右佐匹克隆片(3mg*6片)|drug|B|32.00||18||G47;F51|14|2|6|S
alpr|阿普唑仑片(0.4mg*20片)|drug|A|9.80||18||F41;G47;F51|14|2|10|S
preg|普瑞巴林胶囊(75mg*14粒)|drug|B|48.00||18||G62;G63;B02;M79;G50|30|4|7|SR
tram|盐酸曲马多缓释片(0.1g*10片)|drug|B|22.00||18||M;G89;R52|7|2|5|S
code|复方磷酸可待因口服溶液(120ml)|drug|B|35.00||18||J20;J40;R05|7|1|6|S
lhqw|连花清瘟胶囊(0.35g*36粒)|drug|A|14.80|||||7|3|3|O
ibup|布洛芬缓释胶囊(0.3g*20粒)|drug|A|11.90||12|||7|3|10|O
apap|对乙酰氨基酚片(0.5g*12片)|drug|A|4.80||12|||7|3|3|O
ambr|盐酸氨溴索口服溶液(100ml:0.3g)|drug|A|16.50|||||7|3|5|O
amox|阿莫西林胶囊(0.25g*24粒)|drug|A|7.80|||||7|3|3|
cefa|头孢克洛缓释片(0.375g*6片)|drug|A|19.60||6|||7|3|3|
azit|阿奇霉素片(0.25g*6片)|drug|A|15.20|||||7|2|3|
levo|左氧氟沙星片(0.5g*4片)|drug|A|12.80||18|||7|3|4|
xeat|小儿氨酚黄那敏颗粒(10袋)|drug|A|12.00|||12||7|3|3|O
ibus|布洛芬混悬液(100ml)|drug|A|18.50|||12||7|2|5|O
mont|孟鲁司特钠片(10mg*5片)|drug|B|21.00||15||J45;J30|30|6|5|
lora|氯雷他定片(10mg*6片)|drug|A|16.00|||||14|3|6|O
mome|糠酸莫米松乳膏(5g)|drug|A|18.00|||||14|3|7|O
omep|奥美拉唑肠溶胶囊(20mg*14粒)|drug|A|8.50|||||28|3|14|O
rabe|雷贝拉唑钠肠溶片(10mg*14片)|drug|A|26.00|||||28|3|14|
alum|铝碳酸镁咀嚼片(0.5g*20片)|drug|A|15.00|||||14|3|7|O
smec|蒙脱石散(3g*10袋)|drug|A|13.00|||||7|3|3|O
dicl|双氯芬酸二乙胺乳胶剂(20g)|drug|A|19.80|||||14|3|10|O
cele|塞来昔布胶囊(0.2g*6粒)|drug|B|28.00||18||M|14|3|6|
gluc|硫酸氨基葡萄糖胶囊(0.25g*60粒)|drug|B|58.00||||M15;M17;M19|84|3|20|X
levd|左氧氟沙星滴眼液(5ml)|drug|A|16.00|||||14|2|14|
sanj|三金片(72片)|drug|A|22.00||||N30;N39|14|2|9|
baof|保妇康栓(1.74g*8粒)|drug|A|36.00|F|||N76;N72|14|2|8|
prog|黄体酮软胶囊(0.1g*10粒)|drug|A|62.00|F||||30|4|5|
dydr|地屈孕酮片(10mg*20片)|drug|B|95.00|F|||N97;O20;O26;N91;N92;N94|30|3|10|
tams|盐酸坦索罗辛缓释胶囊(0.2mg*10粒)|drug|A|26.00|M|||N40|84|9|10|C
fina|非那雄胺片(5mg*10片)|drug|A|39.00|M|||N40|84|9|10|C
liuw|六味地黄丸(200丸)|drug|A|18.00|||||30|3|15|O
xstg|血塞通软胶囊(60mg*24粒)|drug|B|32.00||||I63;I69;I25|84|6|8|C
ngf|注射用鼠神经生长因子(20μg)|drug|B|198.00||||S14;S24;S34;T09;G56;G57|30|20|1|IX
thym|注射用胸腺法新(1.6mg)|drug|B|168.00||||B18;C|30|10|3|IX
dpe|小牛血去蛋白提取物注射液(5ml)|drug|B|36.00||||I63;I69;T20;T30|30|30|1|IG
albu|人血白蛋白(10g)|drug|B|398.00||||K70;K74;E88;R18;T30;T31|30|10|1|IX
dsdf|注射用丹参多酚酸盐(100mg)|drug|B|68.00||||I63;I69|14|20|1|IG
gink|银杏叶提取物注射液(5ml)|drug|B|24.00||||I63;I69|14|30|1|IG
cftr|注射用头孢曲松钠(1g)|drug|A|12.00|||||14|40|0.5|I
nacl|0.9%氯化钠注射液(250ml)|drug|A|4.50|||||30|120|1|I
gluw|5%葡萄糖注射液(250ml)|drug|A|4.80|||||30|120|1|I
pipt|注射用哌拉西林他唑巴坦(4.5g)|drug|B|38.00|||||14|45|0.33|I
lmwh|低分子肝素钙注射液(0.4ml:4100IU)|drug|A|22.00|||||14|30|1|I
pant|注射用泮托拉唑钠(40mg)|drug|A|15.00|||||14|30|1|I
lido|盐酸利多卡因注射液(5ml:0.1g)|drug|A|2.50|||||3|10|1|I
oxyt|缩宫素注射液(1ml:10U)|drug|A|5.00|F|||O|3|10|1|I
agnh|安宫牛黄丸(3g*1丸)|drug|C|580.00|||||30|6|1|
flue|四价流感病毒裂解疫苗(0.5ml)|drug|C|128.00||||||1|1|
c_opd|普通门诊诊查费|service|A|12.00||||||2||
c_ass|副主任医师门诊诊查费|service|A|30.00||||||2||
c_chf|主任医师门诊诊查费|service|A|50.00||||||2||
c_chc|社区一般诊疗费|service|A|10.00||||||2||
c_web|互联网复诊诊查费|service|A|12.00||||||2||
l_cbc|血细胞分析|service|A|20.00||||||3||
l_uri|尿常规|service|A|12.00||||||3||
l_liv|肝功能|service|A|65.00||||||3||
l_ren|肾功能|service|A|40.00||||||3||
l_lip|血脂四项|service|A|45.00||||||3||
l_hba|糖化血红蛋白测定|service|A|55.00||||||2||
x_ecg|常规心电图|service|A|25.00||||||3||
x_dr|胸部X线摄影(DR)|service|A|90.00||||||3||
x_ct|CT平扫(单部位)|service|A|280.00||||||4||
x_mri|磁共振平扫|service|B|580.00||||||3||
x_us|彩色多普勒超声|service|A|160.00||||||4||
t_iv|静脉输液|service|A|8.00||||||300||
t_im|肌肉注射|service|A|4.00||||||30||
b_3|床位费(三级医院)|service|A|60.00||||||366||
b_2|床位费(二级医院)|service|A|45.00||||||366||
b_1|床位费(一级及其他)|service|A|35.00||||||366||
n_2|二级护理|service|A|28.00||||||366||
i_dx|住院诊查费|service|A|18.00||||||366||
t_hd|血液透析|service|A|430.00||||N18||1||
t_chm|化疗药物配置|service|A|30.00||||||20||
t_reh|康复综合训练|service|B|85.00||||||240||
t_acu|针刺|service|A|38.00||||||120||
t_tui|推拿治疗|service|B|45.00||||||120||
t_tcm|中医定向透药疗法|service|B|35.00||||||120||
t_psy|精神科监护|service|A|25.00||||F||366||
t_pth|心理治疗|service|B|110.00||||F||30||
s_lc|腹腔镜胆囊切除术|service|A|2680.00||||||1||
s_app|阑尾切除术|service|A|1480.00||||||1||
s_pci|经皮冠状动脉支架置入术|service|A|4860.00||||||1||
s_ga|全身麻醉|service|A|980.00||||||1||
s_cs|剖宫产术|service|A|1680.00|F|||||1||
s_vd|顺产接生|service|A|980.00|F|||||1||
s_thr|髋关节置换术|service|A|4200.00||||||1||
s_deb|清创缝合术|service|A|120.00||||||2||
s_esw|体外冲击波碎石|service|A|1500.00||||N20||1||
z_vac|预防接种服务费|service|C|15.00||||||1||
z_phy|学生健康体检(套餐)|service|C|120.00||||||1||
m_ivs|一次性输液器|material|A|4.20||||||300||
m_syr|一次性注射器|material|A|0.80||||||300||
m_drs|医用敷料|material|A|12.00||||||20||
m_stn|冠脉药物洗脱支架|material|A|780.00||||I20;I21;I24;I25||3||
m_dlz|血液透析器|material|A|120.00||||N18||1||
m_ndl|胰岛素笔用针头(7支)|material|B|14.00||||E10;E11;E13;E14||12||
m_hip|人工髋关节假体|material|A|7200.00||||||1||
m_clp|腹腔镜用吻合夹|material|A|380.00||||||4||
m_cat|导尿包|material|A|18.00||||||6||
q_pro|蛋白粉(400g)|non_medical|C|198.00||||||||
q_fis|深海鱼油软胶囊(100粒)|non_medical|C|128.00||||||||
q_msk|医用外科口罩(50只)|non_medical|C|25.00||||||||
q_crm|保湿修护面霜(50g)|non_medical|C|168.00||||||||
q_bpm|电子血压计|non_medical|C|299.00||||||||
"""

PREFIX = {"drug": "YP0", "service": "ZL", "material": "HC", "non_medical": "FY"}


def build():
    rows = []
    for ln in _ITEMS.strip().splitlines():
        p = ln.split("|")
        assert len(p) == 13, ln
        rows.append(dict(key=p[0], name=p[1], item_type=p[2], insurance_class=p[3], price_cap=float(p[4]),
                         sex_limit=p[5], age_min=p[6], age_max=p[7], indication_prefixes=p[8],
                         max_days_supply=p[9], max_qty_per_visit=p[10], pack_days=p[11], flags=p[12]))
    cat = pd.DataFrame(rows)
    serial = {"drug": 10231, "service": 110205, "material": 30117, "non_medical": 900041}
    codes = []
    for t in cat["item_type"]:
        serial[t] += 37 if t == "drug" else 113
        codes.append(PREFIX[t] + (f"{serial[t]:05d}" if t == "drug" else f"{serial[t]:06d}"))
    cat.insert(0, "item_code", codes)
    for c in ["age_min", "age_max", "max_days_supply"]:
        cat[c] = pd.to_numeric(cat[c].replace("", np.nan)).astype("Int64")
    cat["max_qty_per_visit"] = pd.to_numeric(cat["max_qty_per_visit"].replace("", np.nan))
    cat["pack_days"] = pd.to_numeric(cat["pack_days"].replace("", np.nan))
    cat["idx"] = np.arange(len(cat))
    return cat


CAT = build()
K = {k: i for i, k in enumerate(CAT["key"])}          # key -> row index


def idx(keys):
    return np.array([K[k] for k in keys], dtype=np.int64)


def has_flag(flag):
    return CAT["flags"].str.contains(flag).to_numpy()


# prefix list per item, for indication checks
IND = [tuple(s.split(";")) if s else () for s in CAT["indication_prefixes"]]


def ind_ok(item, dx_list):
    pre = IND[item]
    if not pre:
        return True
    return any(d.startswith(p) for d in dx_list for p in pre)


def catalog_table():
    c = CAT[["item_code", "name", "item_type", "insurance_class", "price_cap", "sex_limit", "age_min",
             "age_max", "indication_prefixes", "max_days_supply", "max_qty_per_visit"]].copy()
    return c
