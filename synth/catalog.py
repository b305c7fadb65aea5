"""Reference tables of the synthetic city: the catalogue and the diagnosis groups.

Prices are in CNY per unit (a box, a vial, one service) at the level of
Shanxi's 2023-2024 catalogue after national volume-based procurement (集采);
they are realistic orders of magnitude, not a copy of any price list. Item
codes follow the shape of the national codes (drugs ``X``/``Z`` + ATC-like
stem, services the 9-digit national service code stem, materials ``C``).

Columns of :data:`CATALOG_ROWS`::

    code | name | item_type | class | price_cap | sex | age_min | age_max |
    indication_prefixes (;) | max_days_supply | max_qty_per_visit |
    days_per_unit | pools (space separated)

Pools tie items to the care model: ``c:I10`` chronic regimen drugs,
``lab:E11`` chronic follow-up tests, ``a:uri`` acute drugs of a diagnosis
group, ``s:uri`` its services, ``otc`` pharmacy purchases, ``ip:J18``
inpatient drugs, ``ips:J18`` inpatient services/materials, ``daily`` per-day
inpatient charges, ``cash`` items cash-out pharmacies swipe, ``hv:E11``
high-value drugs of collusive prescribing, ``shop:sleep`` doctor-shopping
classes, ``physio`` ghost-admission therapies, ``viol:*`` items used to inject
sporadic rule violations, ``resale`` the high-value drugs the drug-resale rings
collect and resell (回流药: insulin, GLP-1 and SGLT2 diabetes drugs, COPD inhalers,
butylphthalide, erythropoietin, 安宫牛黄丸).
"""
from __future__ import annotations

__all__ = ["CATALOG_ROWS", "ACUTE_GROUPS", "INPATIENT_GROUPS", "CONSULT", "SPECIALTIES",
           "SURNAMES", "GIVEN_M", "GIVEN_F", "INST_WORDS", "PHARMACY_CHAINS", "STREETS"]

CATALOG_ROWS = """
XC08CAA001|苯磺酸氨氯地平片 5mg*28片(集采)|drug|A|6.2||18|||84|3|28|c:I10 cash
XC08CAA002|苯磺酸氨氯地平片(络活喜) 5mg*7片|drug|A|32.5||18|||84|12|7|c:I10
XC08CAN001|硝苯地平控释片 30mg*12片|drug|A|38.6||18|||84|7|12|c:I10 cash
XC09CAV001|缬沙坦胶囊 80mg*28粒(集采)|drug|A|11.8||18|||84|3|28|c:I10
XC09CAI001|厄贝沙坦片 150mg*28片(集采)|drug|A|9.9||18|||84|3|28|c:I10
XC09DAI001|厄贝沙坦氢氯噻嗪片 150mg/12.5mg*28片|drug|B|26.4||18|||84|3|28|c:I10
XC07ABM001|琥珀酸美托洛尔缓释片 47.5mg*28片|drug|A|31.7||18|||84|3|28|c:I10 c:I25
XC09AAP001|培哚普利叔丁胺片 4mg*30片|drug|B|44.8||18|||84|3|30|c:I10
XC03AAH001|氢氯噻嗪片 25mg*100片|drug|A|3.5||18|||84|1|100|c:I10
XA10BAM001|盐酸二甲双胍片 0.5g*60片(集采)|drug|A|5.8||10|||84|6|20|c:E11 cash
XA10BAM002|盐酸二甲双胍缓释片(格华止) 0.5g*30片|drug|A|28.4||10|||84|12|15|c:E11
XA10BFA001|阿卡波糖片 50mg*30片(集采)|drug|A|16.9||18|||84|9|10|c:E11
XA10BBG001|格列美脲片 2mg*30片|drug|A|12.6||18|||84|3|30|c:E11
XA10BHX001|磷酸西格列汀片 100mg*28片|drug|B|79.8||18||E11|84|3|28|c:E11
XA10BKD001|达格列净片 10mg*28片|drug|B|122.5||18||E11;I50;N18|84|3|28|c:E11 hv:E11 cash resale
XA10AEG001|甘精胰岛素注射液 3ml:300U|drug|B|72.6||||E10;E11|84|6|15|c:E11 hv:E11 cash shop:insulin resale
XA10ADM001|门冬胰岛素30注射液 3ml:300U|drug|B|46.8||||E10;E11|84|6|12|c:E11 shop:insulin
XA10BJS001|司美格鲁肽注射液 1.34mg/ml*3ml|drug|B|408.0||18||E11|84|3|28|hv:E11 cash resale
XR03BBT001|噻托溴铵吸入粉雾剂 18μg*30粒|drug|B|98.5||18||J44|84|3|30|c:J44 hv:J44 resale
XR03AKS001|沙美特罗替卡松吸入粉雾剂 50/250μg*60吸|drug|B|156.0||4||J44;J45|84|3|30|c:J44 cash resale
XR03ALB001|布地格福吸入气雾剂 160/7.2/4.8μg*120揿|drug|B|286.0||18||J44|84|3|30|hv:J44 resale
XR03DAA001|氨茶碱缓释片 0.1g*24片|drug|A|6.8||12|||84|6|12|c:J44
XB01ACA001|阿司匹林肠溶片 100mg*30片|drug|A|15.2||18|||84|6|30|c:I25 c:I63
XB01ACC001|硫酸氢氯吡格雷片 75mg*28片(集采)|drug|B|17.6||18||I2;I63;I70|84|3|28|c:I25 c:I63 cash
XB01ACT001|替格瑞洛片 90mg*14片|drug|B|58.9||18||I2|84|6|7|c:I25
XC10AAA001|阿托伐他汀钙片 20mg*28片(集采)|drug|A|9.8||18|||84|3|28|c:I25 c:I63 cash
XC10AAR001|瑞舒伐他汀钙片 10mg*28片|drug|A|13.5||18|||84|3|28|c:I25 c:I63
XC01DAI001|单硝酸异山梨酯缓释片 40mg*24片|drug|A|22.4||18|||84|3|24|c:I25
XN06BXD001|丁苯酞软胶囊 0.1g*24粒|drug|B|165.0||18||I63|84|6|4|hv:I63 resale
XN06DXG001|银杏叶提取物片 40mg*30片|drug|B|48.2||18||I63;I67;G45|84|6|10|c:I63 hv:I63
XV03AEK001|复方α-酮酸片 0.63g*100片|drug|B|243.0||18||N18|84|3|20|c:N18
XV03AES001|碳酸司维拉姆片 0.8g*36片|drug|B|188.0||18||N18|84|3|12|c:N18
XB03XAE001|重组人促红素注射液 10000IU|drug|B|132.0||||N18;D63;C|84|12|7|c:N18 hv:N18 resale
XA11CCC001|骨化三醇软胶囊 0.25μg*20粒|drug|A|24.5|||||84|6|20|c:N18
XN05AXR001|利培酮片 1mg*60片|drug|A|36.9||13||F2|84|3|30|c:F20
XN05AHO001|奥氮平片 10mg*28片|drug|B|98.4||18||F2;F3|84|3|28|c:F20
XN05AXA001|阿立哌唑片 5mg*20片|drug|B|52.3||13||F2|84|6|20|c:F20
XJ01CAA001|阿莫西林胶囊 0.25g*50粒|drug|A|9.8|||||7|2|5|a:uri a:uti a:dental
XJ01CAA002|阿莫西林颗粒(儿童) 0.125g*12袋|drug|A|11.6|||14||7|2|4|a:uri_k
XJ01DDK001|头孢克肟分散片 0.1g*6片|drug|B|18.5||12|||7|3|3|a:uri
XJ01DCK001|头孢克洛干混悬剂 0.125g*6袋|drug|B|21.4|||14||7|3|3|a:uri_k
XJ01FAA001|阿奇霉素片 0.25g*6片|drug|A|14.8|||||7|2|6|a:uri a:pneu
XJ01MAL001|左氧氟沙星片 0.5g*4片|drug|A|12.6||18|||7|3|4|a:uti a:pneu
XJ01XEN001|呋喃妥因肠溶片 50mg*42片|drug|A|16.2||14|||7|1|10|a:uti
XR05CBA001|盐酸氨溴索口服溶液 100ml|drug|A|14.5|||||7|2|5|a:uri a:uri_k a:pneu
XR05DAD001|右美沙芬愈创甘油醚糖浆 120ml|drug|B|18.8||12|||7|2|6|a:uri otc
XN02BEP001|布洛芬缓释胶囊 0.3g*20粒|drug|A|12.4||12|||7|3|10|a:uri a:msk a:injury otc
XN02BEP002|布洛芬混悬液(儿童) 100ml|drug|A|16.9|||12||7|2|5|a:uri_k
XN02BEA001|小儿氨酚黄那敏颗粒 6g*10袋|drug|A|8.6|||14||7|3|5|a:uri_k viol:age
XR06AXL001|氯雷他定片 10mg*6片|drug|A|9.5||2|||14|3|6|a:derm otc
XR06AEC001|盐酸西替利嗪片 10mg*12片|drug|A|16.8||6|||14|2|12|a:derm
XZ00LHQ001|连花清瘟胶囊 0.35g*36粒|drug|A|19.8|||||7|2|4|a:uri a:flu otc cash
XZ00BLG001|板蓝根颗粒 10g*20袋|drug|A|16.5|||||7|3|7|a:uri otc
XZ00XKL001|小儿肺热咳喘口服液 10ml*6支|drug|B|27.6|||14||7|3|2|a:uri_k
XZ00PDL001|蒲地蓝消炎口服液 10ml*10支|drug|B|38.5|||||7|2|3|a:uri_k a:uri
XJ05AHO001|磷酸奥司他韦胶囊 75mg*10粒|drug|B|51.2||13||J09;J10;J11|5|1|5|a:flu
XJ05AHO002|磷酸奥司他韦颗粒(儿童) 15mg*10袋|drug|B|38.7|||12|J09;J10;J11|5|2|3|a:flu_k
XA02BCO001|奥美拉唑肠溶胶囊 20mg*14粒(集采)|drug|A|6.8||18|||14|3|14|a:gi cash
XA02BCR001|雷贝拉唑钠肠溶片 10mg*14片|drug|B|21.6||18|||14|2|14|a:gi
XA02ADL001|铝碳酸镁咀嚼片 0.5g*20片|drug|A|13.2||12|||14|3|7|a:gi otc
XA07BCM001|蒙脱石散 3g*10袋|drug|A|12.8|||||7|3|3|a:gi a:gi_k otc
XA07CAO001|口服补液盐散(Ⅲ) 5.125g*6袋|drug|A|6.9|||||7|3|3|a:gi_k
XA07FAK001|枯草杆菌二联活菌颗粒 1g*10袋|drug|B|32.0|||12||7|2|5|a:gi_k
XA03FAD001|多潘立酮片 10mg*30片|drug|A|14.2||12|||7|2|10|a:gi
XM01AHC001|塞来昔布胶囊 0.2g*6粒|drug|B|11.9||18|||14|3|6|a:msk a:oa
XM01AEL001|洛索洛芬钠片 60mg*20片|drug|A|18.5||18|||14|3|7|a:msk a:oa otc
XM01ABD001|双氯芬酸钠缓释片 75mg*10片|drug|A|8.8||18|||14|3|10|a:msk
XM02AAF001|氟比洛芬凝胶贴膏 40mg*6贴|drug|B|39.6||18|||14|3|6|a:msk a:oa otc cash
XM01AXG001|硫酸氨基葡萄糖胶囊 0.25g*60粒|drug|B|68.0||18||M15;M16;M17;M19|42|2|20|a:oa cash
XZ00YNB001|云南白药气雾剂 85g+30g|drug|A|48.5|||||14|2|10|a:injury otc
XD07ACM001|糠酸莫米松乳膏 10g|drug|B|26.8||2|||14|2|10|a:derm
XD07ACH001|卤米松乳膏 15g|drug|B|32.5||2|||14|2|10|a:derm
XD01AET001|盐酸特比萘芬乳膏 10g|drug|A|9.6||12|||14|2|10|a:derm otc
XS01AEL001|左氧氟沙星滴眼液 5ml:24.4mg|drug|A|15.8|||||14|2|7|a:eye
XS01XAH001|玻璃酸钠滴眼液 0.3%*5ml|drug|B|42.6|||||30|3|10|a:eye otc
XS01AAT001|妥布霉素滴眼液 5ml:15mg|drug|A|11.9|||||14|2|7|a:eye
XG01AFK001|克霉唑阴道片 0.5g*1片|drug|A|14.5|F|14|||7|2|7|a:gyn viol:sex
XG01AXX001|硝呋太尔制霉素阴道软胶囊 6粒|drug|B|46.8|F|14|||7|2|6|a:gyn
XZ00BFK001|保妇康栓 1.74g*8粒|drug|B|39.9|F|14|||8|2|8|a:gyn
XP01ABM001|甲硝唑片 0.2g*21片|drug|A|4.6||12|||7|2|7|a:gyn a:dental
XG04CAT001|盐酸坦索罗辛缓释胶囊 0.2mg*10粒|drug|B|29.8|M|18|||84|9|10|a:bph viol:sex
XG04CBF001|非那雄胺片 5mg*10片(集采)|drug|A|8.9|M|18|||84|9|10|a:bph
XZ00PST001|普适泰片 *30片|drug|B|74.5|M|18||N40;N41|84|3|15|a:bph
XN05CDE001|艾司唑仑片 1mg*20片|drug|A|4.2||18||G47;F51;F41|7|1|20|a:sleep shop:sleep
XN05CFZ001|右佐匹克隆片 3mg*6片|drug|B|28.6||18||G47;F51|7|2|6|a:sleep shop:sleep
XN05BAA001|阿普唑仑片 0.4mg*20片|drug|A|6.5||18||F41;G47;F51|7|1|20|shop:sleep
XN05BAL001|劳拉西泮片 0.5mg*20片|drug|A|12.4||18||F41;G47|7|1|20|shop:sleep
XR05DAF001|复方甘草片 *100片|drug|A|5.8||12|||7|1|15|a:uri otc
XJ06AAP001|破伤风抗毒素注射液 1500IU|drug|A|14.0|||||1|1|1|a:injury
XD08AXI001|聚维酮碘溶液 5% 100ml|drug|A|6.8|||||14|2|10|a:injury otc
XJ01DDT001|注射用头孢曲松钠 1.0g|drug|A|6.9|||||7|60|1|ip:J18 ip:K35 ip:K80 ip:J44
XJ01MAL002|左氧氟沙星氯化钠注射液 0.5g:100ml|drug|A|14.8||18|||7|60|1|ip:J18 ip:J44
XJ01CRP001|注射用哌拉西林钠他唑巴坦钠 4.5g|drug|B|52.0||12||J1;J4;K6;K8;N39;A41;T81|14|60|1|ip:J18 ip:K80
XB05BBN001|氯化钠注射液 0.9% 250ml|drug|A|3.2|||||30|60|1|ip:J18 ip:J44 ip:I63 ip:I20 ip:I50 ip:K35 ip:K80 ip:S72 ip:M51 ip:E11 ip:C34 ip:H25 ip:O80 ip:O82
XB05BAG001|葡萄糖注射液 5% 250ml|drug|A|3.4|||||30|60|1|ip:J18 ip:I63 ip:K35 ip:K80 ip:E11 ip:C34
XA02BCO002|注射用奥美拉唑钠 40mg|drug|B|8.6||18||K2;K92;T81|14|60|1|ip:K80 ip:K35 viol:ind
XB01ABE001|依诺肝素钠注射液 0.4ml:4000AxaIU|drug|B|28.5||18||I2;I26;I63;I80;S72;Z96|14|60|1|ip:I20 ip:S72
XH02ABM001|注射用甲泼尼龙琥珀酸钠 40mg|drug|A|12.8|||||7|60|1|ip:J44
XR03DAD001|多索茶碱注射液 10ml:0.1g|drug|B|10.5||18||J4|14|60|1|ip:J44
XN06BXD002|丁苯酞氯化钠注射液 100ml:25mg|drug|B|168.0||18||I63|14|60|1|ip:I63 viol:ind
XB01ACD001|注射用丹参多酚酸盐 100mg|drug|B|72.0||18||I63;I2|14|60|1|ip:I63 ip:I20 physio:I63
XN06DXG002|银杏叶提取物注射液 5ml:17.5mg|drug|B|24.6||18||I63;I67|14|60|1|ip:I63 physio:I63
XC01CAD001|盐酸多巴胺注射液 2ml:20mg|drug|A|2.6|||||7|60|1|ip:I50
XC03CAF001|呋塞米注射液 2ml:20mg|drug|A|1.2|||||14|60|1|ip:I50
XC01AAD001|去乙酰毛花苷注射液 2ml:0.4mg|drug|A|5.6|||||7|60|1|ip:I50
XH01BBO001|缩宫素注射液 1ml:10U|drug|A|3.6|F|14||O|3|6|1|ip:O80 ip:O82
XJ01DBZ001|注射用头孢唑林钠 1.0g|drug|A|4.8|||||3|6|1|ip:O82 ip:S72 ip:H25 ip:K35 ip:K80
XN01BBB001|盐酸布比卡因注射液 5ml:37.5mg|drug|A|6.2|||||1|3|1|ip:O82 ip:S72 ip:K35
XA10ABH001|生物合成人胰岛素注射液 10ml:400U|drug|A|48.0||||E10;E11;O24|14|4|10|ip:E11
XL01EBO001|甲磺酸奥希替尼片 80mg*30片|drug|B|5712.0||18||C34|30|1|30|hv:C34 ip:C34
XL01BAP001|注射用培美曲塞二钠 0.5g|drug|B|798.0||18||C34|7|2|1|ip:C34
XL01XAC001|注射用顺铂 20mg|drug|A|16.8||18||C|7|6|1|ip:C34
XA04AAO001|盐酸昂丹司琼注射液 4ml:8mg|drug|A|5.2|||||7|60|1|ip:C34
XM03BXM001|甘露醇注射液 20% 250ml|drug|A|7.4|||||14|60|1|ip:M51 ip:I63 physio:M51
XS01BAP001|醋酸泼尼松龙滴眼液 5ml|drug|A|12.2|||||14|2|14|ip:H25
XB05AAA001|人血白蛋白注射液 10g:50ml|drug|B|398.0||||R57;K72;K74;E88;T20;C|7|10|1|viol:ind
XN03AXP001|普瑞巴林胶囊 75mg*8粒|drug|B|38.5||18||B02;G62;M79|14|3|4|viol:ind
ZA12AGJ001|阿胶(东阿) 250g|drug|C|928.0|||||30|2|30|cash
ZA04AGN001|安宫牛黄丸 3g*1丸|drug|B|596.0||||I63;R40;A86;G93|3|2|1|cash viol:ind resale
ZB03FXM001|复方丹参滴丸 27mg*180丸|drug|A|29.8||18|||30|6|10|c:I25 cash
ZB03CSS001|麝香保心丸 22.5mg*42丸|drug|B|36.8||18||I2|30|3|14|c:I25
ZA01CJS001|藿香正气口服液 10ml*10支|drug|A|11.5|||||7|3|3|a:gi otc
ZA01CYQ001|银翘解毒片 *24片|drug|A|8.6|||||7|3|4|a:uri otc
ZA09BSY001|六味地黄丸 200丸|drug|A|18.8|||||30|3|25|otc
XA11GAV001|维生素C片 0.1g*100片|drug|C|3.9|||||30|3|30|otc
XA12AAC001|碳酸钙D3片 0.6g*60片|drug|B|32.0||18||M80;M81;M82;E55|84|3|30|viol:ind
XM05BAA001|阿仑膦酸钠片 70mg*4片|drug|B|46.5||50||M80;M81|84|3|28|viol:ind viol:age
001101000010000|普通门诊诊查费|service|A|10.0||||||1||consult:community consult:clinic consult:hospital_1
001101000010001|副主任医师门诊诊查费|service|A|25.0||||||1||consult:hospital_2
001101000010002|主任医师门诊诊查费|service|A|40.0||||||1||consult:hospital_3
001101000020000|急诊诊查费|service|A|15.0||||||1||
001102000010000|住院诊查费(日)|service|A|20.0||||||180||daily
001103000010000|床位费(三人间,日)|service|A|50.0||||||180||daily
001104000010000|二级护理(日)|service|A|30.0||||||180||daily
002501010010000|血细胞分析(血常规)|service|A|20.0||||||2||s:uri s:uri_k s:pneu s:flu s:gi s:uti ips:J18 ips:J44 ips:I63 ips:I20 ips:I50 ips:K35 ips:K80 ips:S72 ips:E11 ips:C34 ips:O80 ips:O82 ips:M51 ips:H25 hs
002502010010000|C反应蛋白测定(CRP)|service|A|30.0||||||2||s:uri_k s:pneu s:uri ips:J18
002501030010000|尿常规|service|A|10.0||||||2||s:uti lab:N18 ips:E11 hs
002503010020000|肝功能(12项)|service|A|90.0||||||1||lab:F20 ips:J18 ips:I63 ips:C34 ips:E11 hs
002503010030000|肾功能(3项)|service|A|45.0||||||1||lab:N18 lab:I10 lab:E11 ips:I50 ips:C34 ips:E11 hs
002503010040000|血脂(4项)|service|A|40.0||||||1||lab:I25 lab:I63 ips:I63 ips:I20
002503040010000|葡萄糖测定|service|A|8.0||||||3||lab:E11 ips:E11
002503040030000|糖化血红蛋白测定|service|A|60.0||||||1||lab:E11 ips:E11
003101000010000|常规心电图|service|A|25.0||||||2||lab:I10 lab:I25 s:sleep ips:I20 ips:I50 ips:I63 hs
003102000010000|胸部X线摄影(DR)|service|A|70.0||||||1||s:pneu s:injury ips:J18 ips:J44 hs
003102000020000|胸部CT平扫|service|A|180.0||||||1||ips:J18 ips:J44 ips:C34 hs
003102000030000|头颅CT平扫|service|A|150.0||||||1||ips:I63
003103000010000|头颅磁共振(MRI)|service|A|480.0||||||1||ips:I63
003103000020000|腰椎磁共振(MRI)|service|A|480.0||||||1||s:msk ips:M51
003104000010000|腹部彩色超声|service|A|120.0||||||1||s:gi ips:K80 ips:K35 hs
003104000020000|心脏彩色超声|service|A|200.0||||||1||ips:I20 ips:I50
003104000030000|前列腺超声|service|A|60.0|M|18||||1||s:bph viol:sex
003104000040000|产科超声|service|A|120.0|F|14||||2||ips:O80 ips:O82
002502090010000|前列腺特异抗原(PSA)|service|A|70.0|M|40||||1||s:bph
003105000010000|妇科检查|service|A|15.0|F|14||||1||s:gyn viol:sex
002501040010000|阴道分泌物检查|service|A|18.0|F|14||||1||s:gyn
002504010010000|宫颈液基细胞学检查(TCT)|service|A|150.0|F|18||||1||s:gyn
003106000010000|静脉输液(每组)|service|A|10.0||||||6||s:uri s:pneu s:flu
003106000020000|肌肉注射|service|A|3.0||||||3||s:injury
003106000030000|雾化吸入|service|A|12.0||||||6||s:uri_k s:pneu ips:J44 ips:J18
003107000010000|清创缝合(小)|service|A|120.0||||||1||s:injury
003107000020000|换药(中)|service|A|25.0||||||3||s:injury
003108000010000|中频脉冲电治疗(每部位)|service|B|20.0||||||60||s:msk s:oa physio:M51 physio:I63 ips:M51
003108000020000|针刺(普通针刺)|service|A|30.0||||||60||s:msk s:oa physio:M51 physio:I63 ips:M51
003108000030000|推拿(每部位)|service|B|35.0||||||60||s:msk physio:M51
003108000040000|红外线治疗|service|B|10.0||||||60||s:msk s:oa physio:M51 physio:E11
003108000050000|运动疗法(康复)|service|A|60.0||||||60||physio:I63 ips:I63 ips:S72
003109000010000|口腔检查|service|A|10.0||||||1||s:dental
003109000020000|树脂充填(每牙)|service|A|120.0||||||4||s:dental
003110000010000|血液透析(次)|service|A|420.0||||N18||14||lab:N18
003111000010000|超声乳化白内障摘除+人工晶体植入|service|A|2600.0||||H25;H26;H28||1||surg:H25
003112000010000|腹腔镜下胆囊切除术|service|A|2400.0||||K80;K81||1||surg:K80
003112000020000|阑尾切除术|service|A|1100.0||||K35;K36;K37||1||surg:K35
003113000010000|经皮冠状动脉支架置入术(PCI)|service|A|4800.0||||I2||1||surg:I20
003114000010000|人工全髋关节置换术|service|A|4200.0||||S72;M16;M87||1||surg:S72
003115000010000|剖宫产术|service|A|1800.0|F|14||O||1||surg:O82
003115000020000|阴道分娩(顺产)|service|A|900.0|F|14||O||1||surg:O80
003116000010000|肿瘤化学治疗(静脉)|service|A|150.0||||C||6||surg:C34
003117000010000|麻醉(椎管内/全麻)|service|A|900.0||||||1||surg:S72 surg:K80 surg:O82 surg:K35 surg:I20
003106000040000|心电监护(小时)|service|A|3.0||||||1440||perday:I20 perday:I50 perday:I63 perday:J44 perday:S72
003106000050000|氧气吸入(小时)|service|A|2.5||||||1440||perday:J18 perday:J44 perday:I50 perday:I63
003106000060000|末梢血糖监测(次)|service|A|8.0||||||240||perday:E11
003106000070000|静脉输液(住院,每组)|service|A|10.0||||||360||perday:J18 perday:J44 perday:I63 perday:I20 perday:I50 perday:K35 perday:K80 perday:S72 perday:M51 perday:E11 perday:C34 physio:M51 physio:I63 physio:E11
002503050010000|血气分析|service|A|80.0||||||4||ips:J18 ips:J44 ips:I50
002503050020000|电解质测定|service|A|30.0||||||6||ips:J18 ips:J44 ips:I50 ips:I63 ips:E11 ips:K35 ips:K80 ips:C34 ips:S72
002503050030000|凝血功能(4项)|service|A|60.0||||||4||ips:I20 ips:I63 ips:S72 ips:K80 ips:O82 ips:C34
002503050040000|降钙素原测定|service|A|150.0||||||3||ips:J18
003101000020000|动态心电图(24小时)|service|A|180.0||||||1||ips:I20 ips:I50 ips:I63
XJ01DDC001|注射用头孢哌酮钠舒巴坦钠 1.5g|drug|B|38.0|||||7|60|1|ip:J18 ip:J44 ip:K80 ip:K35
XJ01DCF001|注射用头孢呋辛钠 1.5g|drug|A|12.5|||||7|60|1|ip:J18 ip:S72 ip:O82 ip:K35
XB01ACX001|注射用血栓通(冻干) 150mg|drug|B|65.0||18||I63;I67|14|60|1|ip:I63 physio:I63
XN06BXA001|奥拉西坦注射液 5ml:1g|drug|B|78.0||18||I63;S06;F0|14|60|1|ip:I63
XA02BCP001|注射用泮托拉唑钠 40mg|drug|B|16.5||||K2;K92;I63;S72;T81|14|60|1|ip:I63 ip:S72
XC05CXQ001|注射用七叶皂苷钠 10mg|drug|B|38.0||18||M51;S|14|60|1|ip:M51 ip:S72 physio:M51
XV06DXN001|肠内营养粉剂(TP) 400g|drug|B|220.0||||C;I63;K|14|10|1|ip:C34 ip:I63
XB05BAA001|复方氨基酸注射液(18AA) 250ml|drug|B|42.0|||||14|60|1|ip:C34 ip:K80 ip:K35 ip:S72
XN02AXT001|盐酸曲马多缓释片 0.1g*10片|drug|A|18.5||18|||7|1|5|ip:S72 ip:K80
C01010000001|一次性使用输液器|material|A|3.5||||||12||s:uri s:pneu s:flu ip:J18 ip:J44 ip:I63 ip:I50 ip:C34 ip:K35 ip:K80
C01020000001|一次性使用静脉留置针|material|B|18.0||||||6||ip:J18 ip:I63 ip:S72 ip:K80 ip:K35 ip:E11 ip:C34 ip:O82 ip:O80
C01030000001|医用纱布敷料|material|A|6.0||||||10||s:injury otc
C01040000001|医用输液贴|material|A|2.0||||||10||otc
C02010000001|冠状动脉药物洗脱支架(集采)|material|A|780.0||||I2||3||surg:I20
C02020000001|人工晶体(折叠)|material|B|1400.0||||H25;H26;H28||2||surg:H25
C02030000001|人工髋关节(集采)|material|A|7200.0||||S72;M16;M87||1||surg:S72
C02040000001|一次性腹腔镜穿刺器|material|B|860.0||||||2||surg:K80
C02050000001|一次性使用吻合器|material|B|2400.0||||||1||
C02060000001|一次性使用导尿包|material|A|28.0||||||2||ip:S72 ip:O82 ip:I63
C02070000001|血液透析器|material|B|160.0||||N18||14||lab:N18
C02080000001|医用弹力绷带|material|B|22.0||||||4||s:injury
N00010000001|洗发水(去屑) 400ml|non_medical|C|48.0||||||||nonmed
N00010000002|食用植物油 5L|non_medical|C|89.0||||||||nonmed
N00010000003|蛋白粉(保健食品) 450g|non_medical|C|268.0||||||||nonmed
N00010000004|面膜(补水) 10片|non_medical|C|128.0||||||||nonmed
N00010000005|洗衣液 3kg|non_medical|C|39.9||||||||nonmed
N00010000006|纸尿裤(成人) L*10片|non_medical|C|56.0||||||||nonmed
N00010000007|牙膏(美白) 120g|non_medical|C|19.9||||||||nonmed
N00010000008|鱼油软胶囊(保健食品) 100粒|non_medical|C|198.0||||||||nonmed
N00010000009|葡萄酒 750ml|non_medical|C|168.0||||||||nonmed
XJ01DHM001|注射用美罗培南 0.5g|drug|B|58.0|||||14|60|1|ip:J18 ip:C34
XN07XXE001|依达拉奉右莰醇注射用浓溶液 15ml|drug|B|142.0||18||I63|14|60|1|ip:I63
XB05AAA002|人血白蛋白注射液 10g:50ml(住院)|drug|B|398.0||||R57;K72;K74;E88;T20;C;I50|7|20|1|ip:C34 ip:I50
"""

# Acute outpatient diagnosis groups.
# name: (codes, sex, age_min, age_max, base weight, season profile, specialties, n_drugs, n_services, hospital only)
ACUTE_GROUPS = {
    "uri":    (("J06.9", "J02.9", "J03.9", "J20.9"), None, 15, 200, 30.0, "resp", ("呼吸内科", "全科", "急诊科", "耳鼻喉科"), (1, 3), (0, 2), False),
    "uri_k":  (("J06.9", "J02.9", "J20.9", "H66.9"), None, 0, 14, 55.0, "resp", ("儿科", "全科"), (1, 3), (0, 2), False),
    "flu":    (("J11.1",), None, 13, 200, 4.0, "flu", ("呼吸内科", "全科", "急诊科"), (1, 2), (0, 2), False),
    "flu_k":  (("J11.1",), None, 0, 12, 6.0, "flu", ("儿科", "全科"), (1, 2), (0, 1), False),
    "pneu":   (("J18.9",), None, 0, 200, 3.0, "resp", ("呼吸内科", "儿科", "急诊科"), (1, 3), (1, 3), True),
    "gi":     (("K29.7", "K21.0", "K52.9"), None, 15, 200, 14.0, "gi", ("消化内科", "全科"), (1, 3), (0, 1), False),
    "gi_k":   (("K52.9", "A09.9"), None, 0, 14, 14.0, "gi", ("儿科", "全科"), (1, 3), (0, 0), False),
    "msk":    (("M54.5", "M79.1", "M51.2"), None, 18, 200, 11.0, "flat", ("骨科", "康复科", "中医科", "全科"), (1, 2), (0, 2), False),
    "oa":     (("M17.9",), None, 45, 200, 8.0, "flat", ("骨科", "中医科", "全科"), (1, 2), (0, 2), False),
    "derm":   (("L30.9", "L50.9"), None, 2, 200, 6.0, "summer", ("皮肤科", "全科"), (1, 2), (0, 0), False),
    "eye":    (("H10.9",), None, 0, 200, 4.0, "flat", ("眼科",), (1, 2), (0, 0), True),
    "uti":    (("N39.0",), None, 18, 200, 3.0, "flat", ("泌尿外科", "全科", "内科"), (1, 2), (1, 1), False),
    "gyn":    (("N76.0", "N73.9"), "F", 18, 70, 7.0, "flat", ("妇产科",), (1, 2), (1, 3), True),
    "bph":    (("N40",), "M", 50, 200, 9.0, "flat", ("泌尿外科",), (1, 2), (0, 2), True),
    "dental": (("K02.9", "K05.1"), None, 6, 200, 6.0, "flat", ("口腔科",), (0, 1), (1, 2), False),
    "injury": (("S61.0", "S93.4", "S60.2"), None, 0, 200, 5.0, "summer", ("外科", "急诊科", "骨科", "全科"), (0, 2), (1, 3), False),
    "sleep":  (("G47.0",), None, 25, 200, 3.0, "flat", ("神经内科", "中医科", "全科"), (1, 1), (0, 1), False),
}

# Inpatient groups: (codes, sex, age_min, age_max, weight by age band young/mid/old, los mean, los sd, specialties)
INPATIENT_GROUPS = {
    "J18": (("J18.9",), None, 0, 200, (10.0, 4.0, 10.0), 8.0, 3.0, ("呼吸内科", "儿科")),
    "J44": (("J44.1",), None, 50, 200, (0.0, 2.0, 8.0), 10.0, 3.5, ("呼吸内科",)),
    "I63": (("I63.9",), None, 45, 200, (0.0, 3.0, 9.0), 13.0, 4.0, ("神经内科",)),
    "I20": (("I20.0", "I25.1"), None, 45, 200, (0.0, 4.0, 6.0), 7.0, 2.5, ("心血管内科",)),
    "I50": (("I50.9",), None, 60, 200, (0.0, 0.0, 5.0), 10.0, 3.5, ("心血管内科",)),
    "O80": (("O80.0",), "F", 20, 42, (0.0, 0.0, 0.0), 3.5, 1.0, ("妇产科",)),
    "O82": (("O82.0",), "F", 20, 42, (0.0, 0.0, 0.0), 5.5, 1.5, ("妇产科",)),
    "H25": (("H25.9",), None, 55, 200, (0.0, 1.0, 5.0), 3.0, 1.0, ("眼科",)),
    "K80": (("K80.2",), None, 30, 200, (0.0, 4.0, 3.0), 7.0, 2.5, ("普外科",)),
    "K35": (("K35.8",), None, 5, 65, (4.0, 3.0, 0.5), 6.0, 2.0, ("普外科", "儿科")),
    "S72": (("S72.0",), None, 65, 200, (0.0, 0.0, 3.0), 14.0, 4.0, ("骨科",)),
    "M51": (("M51.2",), None, 30, 75, (0.0, 4.0, 3.0), 10.0, 3.0, ("骨科", "康复科")),
    "E11": (("E11.9",), None, 40, 200, (0.0, 2.0, 3.0), 9.0, 3.0, ("内分泌科",)),
    "C34": (("C34.9",), None, 50, 200, (0.0, 1.0, 2.5), 9.0, 3.0, ("肿瘤科",)),
}

CONSULT = {"community": "001101000010000", "clinic": "001101000010000",
           "hospital_1": "001101000010000", "hospital_2": "001101000010001",
           "hospital_3": "001101000010002"}

# Departments and their weight among a hospital's physicians.
SPECIALTIES = {
    "hospital": {"心血管内科": 6, "内分泌科": 4, "呼吸内科": 5, "消化内科": 4, "神经内科": 4, "肾内科": 2,
                 "内科": 4, "普外科": 5, "骨科": 5, "泌尿外科": 3, "外科": 2, "妇产科": 5, "儿科": 5,
                 "眼科": 2, "耳鼻喉科": 2, "口腔科": 2, "皮肤科": 2, "中医科": 3, "急诊科": 4,
                 "康复科": 2, "肿瘤科": 2, "全科": 2},
    "community": {"全科": 6, "中医科": 2, "内科": 2, "口腔科": 1, "康复科": 1},
    "clinic": {"全科": 5, "内科": 2, "中医科": 2, "口腔科": 2},
    "pharmacy": {"药师": 1},
}

SURNAMES = ("王 李 张 刘 郭 赵 杨 武 贾 陈 梁 高 吴 孙 马 田 韩 侯 任 周 郝 宋 胡 徐 程 薛 乔 曹 "
            "白 冯 董 秦 石 段 范 许 朱 史 闫 原 黄 温 康 邢 卫 牛 杜 岳 霍 申 常 苏 孟 吕 何 崔").split()

GIVEN_M = ("伟 强 磊 军 勇 杰 涛 斌 超 明 刚 平 辉 鹏 华 飞 鑫 波 宇 浩 凯 健 俊 帆 帅 旭 宁 龙 林 "
           "建国 建军 志强 志刚 海涛 晓东 小龙 文博 子轩 浩然 宇航 俊杰 一鸣 天宇 博文 嘉豪 明轩 "
           "国庆 保平 润生 晋生 东升 永红 卫东").split()
GIVEN_F = ("芳 娜 敏 静 丽 艳 娟 霞 燕 玲 婷 雪 琳 慧 颖 倩 洁 红 莉 萍 梅 琴 蕾 欣 悦 瑶 "
           "秀英 桂英 玉兰 秀兰 淑珍 丽娟 晓燕 春梅 海燕 雅琪 欣怡 梓涵 诗涵 一诺 子涵 雨桐 "
           "可馨 佳怡 美玲 彩霞 润梅 晋梅").split()

INST_WORDS = ("仁和 康宁 博爱 济民 同德 华康 安泰 惠民 德仁 益康 永安 恒瑞 福寿 民康 众安 "
              "广济 长青 天和 百草 千金 晋康 并州 龙城 汾河 晋阳 锦绣 和平 迎泽 双塔 康乐").split()
PHARMACY_CHAINS = ("康宁大药房 益生堂大药房 百姓大药房 晋康大药房 仁和堂药店 民生药店 "
                   "华康大药房 国大药房 老百姓大药房 一心堂药店").split()
STREETS = ("坞城 北营 龙城 黄陵 平阳路 亲贤 学府 营盘 营盘 柳巷 桥东 庙前 郝庄 文庙 老军营 "
           "迎泽 鼓楼 杏花岭 巨轮 三桥 中涧河 涧河 柴村 汇丰 上兰 千峰 和平 万柏林 兴华 "
           "东社 晋源 义井 罗城 金胜 晋祠 清源 徐沟 黄寨 东青善 杜交曲 河口 东曲 桃园").split()
