"""Chinese first: the app's words in zh-CN (the default) and English (a switch).

- :func:`tr` picks the Chinese or English of a pair by the session's language;
- :data:`COLUMNS` gives every column the app shows a readable label (a test
  walks every page and fails on a raw field name);
- :func:`label_frame` renames a frame's columns and translates its coded
  values (schemes, states, entity types, severities, verdicts, relations);
- :func:`wan` writes money in 万元 (ten-thousand yuan), the unit Chinese
  fund reports use; :func:`yuan` in whole yuan;
- :func:`translate_text` turns the detectors' English reasons and lead
  summaries into Chinese phrase by phrase (the detectors write English; the
  glossary below covers their phrasing), never cutting a sentence.

>>> wan(1234567.0, lang_="zh")
'123.46 万元'
>>> wan(1234567.0, lang_="en")
'¥1.23 M'
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pandas as pd

from ringscope.ingest.vocab import SCHEME_LABELS

__all__ = ["INDICATORS", "LANGS", "lang", "set_lang", "tr", "COLUMNS", "col", "label_frame", "VALUE_LABELS", "value",
           "wan", "yuan", "pct", "translate_text", "SCHEMES", "STATUS", "raw_field_names", "detector", "scheme",
           "rule_label", "reasons", "lead_summary", "DETECTORS"]

LANGS = ("zh", "en")
_DEFAULT = "zh"


def lang() -> str:
    """The session's language (``zh`` unless the user switched)."""
    try:
        import streamlit as st

        v = st.session_state.get("lang", _DEFAULT)
    except Exception:  # outside a Streamlit run
        v = _DEFAULT
    return v if v in LANGS else _DEFAULT


def set_lang(v: str) -> None:
    import streamlit as st

    st.session_state["lang"] = v if v in LANGS else _DEFAULT


def tr(zh: str, en: str, *, lang_: str | None = None) -> str:
    """The Chinese or English of a phrase.

    >>> tr("线索", "Leads", lang_="en")
    'Leads'
    """
    return en if (lang_ or lang()) == "en" else zh


# the scheme labels are the shared vocabulary's (ringscope.ingest.vocab), one per scheme
SCHEMES: dict[str, tuple[str, str]] = {k: (v["zh"], v["en"]) for k, v in SCHEME_LABELS.items()}
STATUS: dict[str, tuple[str, str]] = {
    "new": ("待初审", "new"),
    "初审": ("初审", "screening"),
    "复审": ("复审", "second review"),
    "调查核实": ("调查核实", "investigation"),
    "申诉": ("申诉", "appeal"),
    "处理": ("处理", "decision"),
    "移送公安": ("移送公安", "referred to police"),
    "结案": ("结案", "closed"),
}

#: registered family / proxy bindings (家庭共济, 代购药): what the related person is to the person, as
#: the generators write ``family_links.relation`` (synth/, bench/othergen/)
FAMILY_RELATIONS: dict[str, tuple[str, str]] = {
    "spouse": ("配偶", "spouse"), "parent": ("父母", "parent"), "child": ("子女", "child"),
    "proxy": ("代办人", "proxy"), "parent-in-law": ("公婆/岳父母", "parent-in-law"),
    "child-in-law": ("儿媳/女婿", "child-in-law"), "grandparent": ("祖父母/外祖父母", "grandparent"),
    "grandchild": ("孙子女/外孙子女", "grandchild"), "sibling": ("兄弟姐妹", "sibling"),
    "other": ("其他亲属", "other relative"),
}

VALUE_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "scheme": SCHEMES,
    "status": STATUS,
    "from_status": STATUS,
    "to_status": STATUS,
    "entity_type": {"person": ("参保人", "person"), "physician": ("医师", "physician"),
                    "institution": ("定点机构", "institution"), "face": ("人脸身份", "face identity"),
                    "lead": ("线索", "lead"), "visit": ("结算", "settlement"), "capture": ("抓拍", "capture"),
                    "group": ("折叠组", "group"), "other": ("其他", "other")},
    "severity": {"high": ("高", "high"), "medium": ("中", "medium"), "low": ("低", "low")},
    "verdict": {"mismatch": ("人证不符", "mismatch"), "match": ("人证相符", "match"),
                "related": ("亲属代办", "related"), "no_enrollment": ("无底库", "no enrolment"),
                "unknown": ("未知", "unknown"), "no_face": ("未检出人脸", "no face"),
                "no_claim": ("未关联刷卡", "no claim")},
    "relation": {"family": ("家庭/代办关系", "family"), "practises_at": ("执业于", "practises at"),
                 "face_presenting_credential": ("持该凭证的人脸", "face presenting the credential"),
                 "own_face_on_credential_of": ("本人人脸用于他人凭证", "own face on another's credential"),
                 "lead": ("所属线索", "lead"), "visit": ("结算往来", "settlements"), "visited": ("就诊", "visited"),
                 "treated": ("诊治", "treated"), "path": ("路径", "path"), "treated_by": ("诊治", "treated by"),
                 "presented": ("人脸刷卡", "face presented"), "enrolled_as": ("底库身份", "enrolled as"),
                 "pack_return": ("药盒回流", "pack came back"),
                 "FOR_PERSON": ("就诊人", "patient"), "AT": ("就诊机构", "at"), "BY": ("经治医师", "by"),
                 "FAMILY": ("家庭关系", "family"), "PRACTISES_AT": ("执业于", "practises at"),
                 "CLAIMED": ("刷卡凭证", "claimed"), "OF_FACE": ("人脸", "of face"),
                 "ENROLLED_AS": ("底库身份", "enrolled as"),
                 # the learned models' edge types (models/learned/features.py EDGE_TYPES)
                 "works_at": ("执业于", "works at"), "prescribed_to_pharmacy": ("处方外配至药店", "prescribed to pharmacy"),
                 "pays_for": ("代为支付", "pays for"), "shares_face": ("共用人脸", "shares a face")} | FAMILY_RELATIONS,
    "action": {"transition": ("流转", "transition"), "assign": ("分派", "assign"), "update": ("更新", "update"),
               "note": ("批注", "note"), "detected": ("系统发现", "detected"), "view": ("查看", "view"),
               "export": ("导出", "export"), "draw": ("抽取", "draw"), "record": ("登记结果", "record")},
    "outcome": {"confirmed": ("查实", "confirmed"), "cleared": ("排除", "cleared")},
    "kind": {"hospital": ("医院", "hospital"), "clinic": ("诊所", "clinic"), "community": ("基层医疗机构", "community"),
             "pharmacy": ("药店", "pharmacy")},
    "role": {"investigator": ("稽核员", "investigator"), "analyst": ("分析员", "analyst"),
             "leader": ("领导", "leader"), "police_liaison": ("公安联络员", "police liaison"),
             "admin": ("系统管理员", "administrator"), "system": ("系统", "system")},
    "category": {"medical": ("医疗类", "medical"), "management": ("管理类", "management"), "policy": ("政策类", "policy"),
                 "other": ("其他", "other")},
    "insurance_type": {"employee": ("职工", "employee"), "resident": ("居民", "resident")},
    "sex": {"M": ("男", "M"), "F": ("女", "F")},
    "ownership": {"public": ("公立", "public"), "private": ("民营", "private")},
}
#: early warning (动态预警): indicators, levels, how a warning arose, its handling; lead versions
INDICATORS: dict[str, tuple[str, str]] = {
    "cost_per_visit": ("次均费用", "cost per visit"), "visits_per_patient": ("人次人头比", "visits per patient"),
    "drug_share": ("药占比", "drug share"), "material_share": ("耗材占比", "material share"),
    "exam_share": ("检查检验占比", "exam share"), "avg_los": ("平均住院日", "average length of stay"),
    "admission_rate": ("住院率", "admission rate"), "readmission_15d": ("15日再入院率", "15-day readmission"),
    "fund_share": ("基金支付占比", "fund share"), "high_value_share": ("高值项目占比", "high-value share"),
}
VALUE_LABELS.update({
    "indicator": INDICATORS,
    "warn_level": {"red": ("红色", "red"), "orange": ("橙色", "orange"), "yellow": ("黄色", "yellow")},
    "warn_kind": {"level_change": ("水平突变", "level change"), "band_exit": ("偏离同类区间", "out of band"),
                  "": ("偏离同类区间", "out of band")},
    "warn_status": {"open": ("待核查", "open"), "checking": ("核查中", "checking"),
                    "explained": ("已说明/排除", "explained"), "referred": ("已转线索/稽核", "referred")},
    "tipoff_status": {"received": ("已登记待受理", "received"), "accepted": ("已受理", "accepted"),
                      "rejected": ("不予受理", "rejected"), "investigating": ("核查中", "investigating"),
                      "closed": ("已办结", "closed")},
    "channel": {"phone": ("电话", "phone"), "letter": ("信函", "letter"), "online": ("网络", "online"),
                "visit": ("来访", "visit"), "other": ("其他", "other")},
    "inspection_status": {"planned": ("待检查", "planned"), "done": ("已检查", "done")},
    "inspection_outcome": {"no_issue": ("未发现问题", "no issue"), "rectify": ("责令整改", "rectification ordered"),
                           "recover": ("追回基金", "funds recovered"), "penalty": ("行政处罚", "administrative penalty"),
                           "agreement": ("协议处理", "agreement sanction"), "referred": ("移送处理", "referred")},
    "draw_method": {"risk": ("风险加权", "risk-weighted"), "uniform": ("等概率", "uniform")},
    "credit_event": {"record": ("信用记录变更", "standing recorded"), "appeal_lodged": ("提出申诉", "appeal lodged"),
                     "appeal_upheld": ("申诉成立", "appeal upheld"), "appeal_rejected": ("申诉驳回", "appeal rejected")},
    "trigger": {"disposal": ("线索处置", "lead disposal"), "snapshot": ("全量重算", "snapshot")},
    "qualification": {"正常 normal": ("正常", "normal"), "暂停 suspended": ("暂停", "suspended"),
                      "终止 terminated": ("终止", "terminated")},
    "version_state": {"new": ("新发现", "new"), "changed": ("成员变化", "changed"), "unchanged": ("无变化", "unchanged"),
                      "merged": ("已并入其他线索", "merged"), "split": ("已拆分", "split"),
                      "retired": ("本轮未再发现", "not found again")},
})
VALUE_LABELS["type"] = VALUE_LABELS["entity_type"]
VALUE_LABELS["other_type"] = VALUE_LABELS["entity_type"]
VALUE_LABELS["rel"] = VALUE_LABELS["relation"]
VALUE_LABELS["location"] = {"entrance": ("入口", "entrance"), "settlement": ("结算窗口", "settlement"),
                             "ward": ("病房", "ward")}
VALUE_LABELS["rule_class"] = {"definite": ("确定违规", "definite"), "suspicious": ("可疑待核", "suspicious")}
#: the detection run records its events as the user ``ringscope`` (cypher/findings/leads.cypher)
VALUE_LABELS["user"] = {"ringscope": ("系统（自动检测）", "system (detection)")}
VALUE_LABELS["via"] = VALUE_LABELS["relation"]
VALUE_LABELS["institution_kind"] = VALUE_LABELS["kind"]

#: column -> (zh, en)
COLUMNS: dict[str, tuple[str, str]] = {
    "lead_id": ("线索编号", "Lead"), "rank": ("排名", "Rank"), "scheme": ("类型", "Scheme"),
    "review_rank": ("复核顺序", "Review order"), "uncertainty": ("不确定度", "Uncertainty"),
    "amount_weight": ("金额权重", "Amount weight"), "novelty": ("未定性成员占比", "Unlabelled members"),
    "gain": ("复核价值", "Value of review"), "review_reason": ("建议理由", "Why review it"),
    "score": ("评分", "Score"), "amount_at_risk": ("涉嫌金额(元)", "At risk (CNY)"),
    "status": ("处置环节", "State"), "state": ("处置环节", "State"), "assignee": ("承办人", "Assignee"),
    "deadline": ("办理时限", "Deadline"), "overdue": ("已超期", "Overdue"), "members": ("成员", "Members"),
    "summary": ("摘要", "Summary"), "recovered": ("追回金额(元)", "Recovered (CNY)"),
    "district": ("区县", "District"), "month": ("月份", "Month"), "n_members": ("成员数", "Members"),
    "leads": ("线索数", "Leads"), "open": ("在办", "Open"), "closed": ("已结案", "Closed"),
    "confirmed": ("查实", "Confirmed"), "referred": ("移送公安", "Referred"), "officer": ("承办人", "Officer"),
    "entity_type": ("类别", "Type"), "entity_id": ("编号", "ID"), "name": ("姓名/名称", "Name"),
    "id_number": ("身份证号", "ID number"), "birth_date": ("出生日期", "Birth date"),
    "institution_id": ("机构编码", "Institution"), "kind": ("机构类别", "Kind"), "specialty": ("科室", "Specialty"),
    "risk_score": ("风险分", "Risk score"), "risk_reasons": ("风险依据", "Why"),
    "event_id": ("事件编号", "Event"), "at": ("时间", "Time"), "user": ("用户", "User"), "role": ("角色", "Role"),
    "action": ("操作", "Action"), "from_status": ("原环节", "From"), "to_status": ("新环节", "To"),
    "note": ("处置意见", "Note"), "outcome": ("结论", "Outcome"),
    "hit_id": ("命中编号", "Hit"), "rule_id": ("规则编号", "Rule"), "rule_name": ("规则名称", "Rule name"),
    "relation_": ("关系", "Relation"),
    "category": ("规则类别", "Category"), "severity": ("严重程度", "Severity"),
    "evidence": ("命中明细（系统原文）", "Evidence"),
    "visit_id": ("结算编号", "Settlement"), "n_hits": ("命中次数", "Hits"), "n_high": ("高风险次数", "High"),
    "n": ("次数", "Count"), "n_visits": ("结算次数", "Settlements"), "amount": ("金额(元)", "Amount (CNY)"),
    "fund_paid": ("统筹支付(元)", "Fund paid (CNY)"), "first_month": ("首次月份", "First month"),
    "last_month": ("最近月份", "Last month"), "other_type": ("对方类别", "Other type"),
    "other_id": ("对方编号", "Other"), "other_name": ("对方姓名/名称", "Other name"),
    "other_district": ("对方区县", "Other district"), "relation": ("关系", "Relation"), "detail": ("说明", "Detail"),
    "n_events": ("次数", "Events"), "capture_id": ("抓拍编号", "Capture"), "capture_time": ("抓拍时间", "Time"),
    "location": ("地点", "Location"), "verdict": ("比对结论", "Verdict"), "distance": ("特征距离", "Distance"),
    "claimed_person_id": ("刷卡参保人", "Claimed person"), "claimed_name": ("刷卡人姓名", "Claimed name"),
    "claimed_id_number": ("刷卡人身份证号", "Claimed ID number"),
    "claimed_birth_date": ("刷卡人出生日期", "Claimed birth date"), "face_id": ("人脸身份", "Face identity"),
    "n_credentials": ("使用凭证数", "Credentials"), "enrolled_person_id": ("底库参保人", "Enrolled person"),
    "enrolled_name": ("底库姓名", "Enrolled name"), "n_captures": ("抓拍次数", "Captures"),
    "mean_distance": ("平均距离", "Mean distance"), "key": ("节点", "Node"), "type": ("类别", "Type"),
    "id": ("编号", "ID"), "label": ("名称", "Label"), "member": ("线索成员", "Member"), "risk": ("风险分", "Risk"),
    "activity": ("活动量", "Activity"), "size_n": ("包含", "Holds"), "src": ("起点", "From"), "dst": ("终点", "To"),
    "rel": ("关系", "Relation"), "points": ("记分", "Points"), "qualification": ("支付资格", "Qualification"),
    "hits_high": ("高风险命中", "High hits"), "hits_medium": ("中风险命中", "Medium hits"),
    "hits_low": ("低风险命中", "Low hits"), "hits_amount": ("命中金额(元)", "Hit amount (CNY)"),
    "credit_score": ("信用分", "Credit score"), "warning": ("预警", "Warning"),
    "warning_points": ("预警分", "Warning points"), "grade": ("信用等级", "Grade"), "blacklisted": ("黑名单", "Blacklist"),
    "share_at_risk": ("涉嫌金额占比", "Share at risk"), "n_open_leads": ("在办线索", "Open leads"),
    "hits_amount_at_risk": ("规则命中涉嫌金额(元)", "Rule-hit money at risk (CNY)"),
    "share_of_fund_paid": ("占统筹支付比例", "Share of fund paid"),
    "lead_amount_at_risk": ("线索涉嫌金额(元)", "Lead money at risk (CNY)"),
    "feature": ("特征", "Feature"), "value": ("取值", "Value"), "contribution": ("贡献", "Contribution"),
    "case_id": ("案件编号", "Case"), "closed_on": ("结案日期", "Closed on"), "file": ("文件", "File"),
    "query": ("查询", "Query"), "params": ("参数", "Parameters"), "bytes": ("字节", "Bytes"),
    "sha256": ("SHA-256", "SHA-256"), "step": ("步", "Step"), "via": ("经由", "Via"),
    "node_key": ("节点", "Node"), "text": ("内容", "Text"), "view_id": ("视图编号", "View"),
    "seq": ("序号", "Seq"), "page": ("页面", "Page"), "entity": ("对象", "Entity"), "fields": ("字段", "Fields"),
    "masked": ("已脱敏", "Masked"), "n_records": ("记录数", "Records"), "display_name": ("显示名", "Display name"),
    "districts": ("辖区", "Districts"), "active": ("启用", "Active"), "created_at": ("创建时间", "Created"),
    "updated_at": ("更新时间", "Updated"), "epoch": ("会话代次", "Epoch"), "visit_type": ("结算类型", "Visit type"),
    "start_time": ("开始时间", "Start"), "end_time": ("结束时间", "End"), "person_id": ("参保人", "Person"),
    "person_name": ("参保人姓名", "Person name"), "physician_id": ("医师", "Physician"),
    "total_amount": ("总金额(元)", "Total (CNY)"), "n_lines": ("明细条数", "Lines"),
    "item_code": ("项目编码", "Item"), "item_name": ("项目名称", "Item name"), "quantity": ("数量", "Quantity"),
    "unit_price": ("单价(元)", "Unit price"), "line_id": ("明细编号", "Line"), "days_supply": ("用药天数", "Days"),
    "sex": ("性别", "Sex"), "insurance_type": ("参保类别", "Insurance"), "chronic_conditions": ("门慢门特", "Chronic"),
    "death_date": ("死亡日期", "Death date"), "level": ("医院等级", "Level"), "ownership": ("性质", "Ownership"),
    "has_face_terminal": ("人脸终端", "Face terminal"), "institution_name": ("机构名称", "Institution name"),
    "first_seen": ("发现时间", "First seen"), "version": ("版本", "Version"), "n_persons": ("参保人数", "Persons"),
    "n_physicians": ("医师数", "Physicians"), "n_institutions": ("机构数", "Institutions"),
    "detectors": ("发现模型", "Detectors"), "model": ("模型", "Model"), "method": ("方法", "Method"),
    "n_leads": ("线索数", "Leads"), "period": ("期间", "Period"), "change": ("环比", "Change"),
    "this_period": ("本期", "This period"), "last_period": ("上期", "Last period"), "metric": ("指标", "Metric"),
    "clearance_rate": ("结案率", "Clearance rate"), "recovery_rate": ("追回率", "Recovery rate"),
    "total_recovered": ("累计追回(元)", "Recovered to date (CNY)"), "item_type": ("项目类别", "Item type"),
    "has_enrollment": ("有人脸底库", "Face enrolled"), "neighbour_score": ("邻居贡献", "Neighbour weight"),
    "related_person_id": ("关联参保人", "Related person"), "related_name": ("关联人姓名", "Related name"),
    "related_is_member": ("关联人是成员", "Related is member"), "enrollment_image": ("底库照片", "Enrolment image"),
    "capture_image": ("抓拍照片", "Capture image"), "claimed_enrollment_image": ("底库照片", "Enrolment image"),
    "rule_class": ("规则性质", "Rule class"), "measured_precision": ("实测精度", "Measured precision"),
    "measured_cities": ("测量城市数", "Cities measured"), "physician_name": ("医师姓名", "Physician name"),
    "physician_institution_id": ("医师所在机构", "Physician's institution"), "n_mismatch": ("人证不符次数", "Mismatches"),
    "min_distance": ("最小距离", "Min distance"), "institution_kind": ("机构类别", "Institution kind"),
    "diagnosis_codes": ("诊断编码", "Diagnoses"), "account_paid": ("个人账户支付(元)", "Account paid (CNY)"),
    "payer_person_id": ("代付人", "Payer"), "terminal_id": ("终端编号", "Terminal"), "built_at": ("生成时间", "Built"),
    "manifest_sha256": ("清单哈希", "Manifest hash"), "n_files": ("文件数", "Files"), "head_seq": ("链头序号", "Head seq"),
    "mac": ("校验码", "MAC"), "log_id": ("日志编号", "Log"),
    "trace_code": ("药品追溯码", "Trace code"), "n_settlements": ("该码结算次数", "Times settled"),
    "reversed": ("已退费", "Refunded"), "person_member": ("参保人是成员", "Person is member"),
    "institution_member": ("机构是成员", "Institution is member"), "institution": ("结算机构", "Institution"),
    "drug": ("药品", "Drug"), "line_amount": ("明细金额(元)", "Line amount (CNY)"),
    "first_at": ("首次结算", "First settled"), "last_at": ("最近结算", "Last settled"),
    "first_person": ("首次结算参保人", "First settled to"), "first_institution": ("首次结算机构", "First settled at"),
    "back_at": ("回流机构", "Came back at"), "amount_again": ("再次结算金额(元)", "Billed again (CNY)"),
    "relation_contribution": ("关系贡献", "Relation contribution"),
    "warning_id": ("预警编号", "Warning"), "warn_level": ("预警等级", "Level"), "indicator": ("监测指标", "Indicator"),
    "indicator_value": ("指标值", "Value"), "baseline": ("同类中位", "Peer median"),
    "band_low": ("同类区间下限", "Band low"), "band_high": ("同类区间上限", "Band high"), "z": ("偏离度(z)", "z"),
    "warn_kind": ("预警方式", "How"), "change_period": ("变点月份", "Change from"),
    "warn_status": ("核查状态", "Handling"), "handler": ("核查人", "Handler"), "warn_note": ("核查说明", "Note"),
    "warn_evidence": ("预警说明", "Explanation"), "n_entities": ("对象数", "Entities"), "n_open": ("待核查", "Open"),
    "tipoff_id": ("举报编号", "Tip-off"), "received_on": ("收到日期", "Received"), "channel": ("渠道", "Channel"),
    "tipoff_status": ("办理状态", "State"), "content": ("举报内容", "Content"), "named": ("被举报对象", "Named"),
    "unmatched": ("未匹配对象", "Not found"), "n_matched": ("已匹配对象数", "Matched"),
    "accept_by": ("受理时限", "Accept by"), "reply_by": ("办结时限", "Reply by"),
    "verified_amount": ("查实金额(元)", "Verified (CNY)"), "reward": ("奖励金额(元)", "Reward (CNY)"),
    "anonymous": ("匿名", "Anonymous"), "reporter_name": ("举报人", "Reporter"),
    "reporter_phone": ("举报人电话", "Reporter phone"), "reporter_id_number": ("举报人身份证号", "Reporter ID number"),
    "lead_ids": ("所在线索", "Leads"), "best_lead_score": ("线索最高评分", "Best lead score"),
    "version_state": ("本轮变化", "Change"), "run_id": ("检测批次", "Run"), "added": ("新增成员", "Added"),
    "dropped": ("移出成员", "Dropped"), "merged_from": ("并入自", "Merged from"), "split_from": ("拆分自", "Split from"),
    "merged_into": ("并入到", "Merged into"), "split_into": ("拆分为", "Split into"),
    "draw_id": ("抽查批次", "Draw"), "title": ("批次名称", "Title"), "drawn_at": ("抽取时间", "Drawn at"),
    "drawn_by": ("抽取人", "Drawn by"), "seed": ("随机种子", "Seed"), "n_drawn": ("抽取家数", "Drawn"),
    "n_in_scope": ("辖区内检查对象", "In scope"), "n_done": ("已检查", "Inspected"),
    "n_findings": ("发现问题", "With findings"), "institutions_sha256": ("机构名录哈希", "Institutions list hash"),
    "inspectors_sha256": ("人员名录哈希", "Inspectors list hash"), "result_sha256": ("结果哈希", "Result hash"),
    "inspection_id": ("检查编号", "Inspection"), "stratum": ("分层", "Stratum"), "draw_method": ("抽取方式", "Drawn by"),
    "inspector_ids": ("检查人员编号", "Inspector ids"), "inspector_names": ("执法检查人员", "Inspectors"),
    "inspection_status": ("检查状态", "State"), "inspected_on": ("检查日期", "Inspected on"),
    "finding": ("发现问题", "Finding"), "inspection_outcome": ("检查结果", "Outcome"),
    "recorded_by": ("登记人", "Recorded by"), "unit": ("所在单位", "Unit"), "bound": ("回避机构", "Bound to"),
    "n_inspections": ("检查次数", "Inspections"), "population": ("名录机构数", "Listed"),
    "allocated": ("抽取数", "Drawn"), "risk_weighted": ("风险加权抽取", "Risk-weighted"),
    "uniform": ("等概率抽取", "Uniform"),
    "credit_event": ("事项", "Event"), "basis": ("依据（线索/案件）", "Basis (leads/cases)"),
    "reason": ("变更原因", "Why"), "by": ("经办人", "By"), "trigger": ("触发", "Trigger"),
}


def col(name: str, *, lang_: str | None = None) -> str:
    """The label of a column (the name itself when there is none)."""
    pair = COLUMNS.get(name)
    return (pair[1] if (lang_ or lang()) == "en" else pair[0]) if pair else name


def value(column: str, v: Any, *, lang_: str | None = None) -> Any:
    """A coded value in words.

    >>> value("status", "移送公安", lang_="en")
    'referred to police'
    """
    table = VALUE_LABELS.get(column)
    if not table or not isinstance(v, str) or v not in table:
        return v
    return table[v][1] if (lang_ or lang()) == "en" else table[v][0]


def _cell(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return "；".join(str(x) for x in v)
    return v


def label_frame(df: pd.DataFrame, *, lang_: str | None = None) -> pd.DataFrame:
    """``df`` with readable column labels and coded values in words (for display)."""
    out = df.copy()
    lg = lang_ or lang()
    for c in out.columns:
        if c in VALUE_LABELS:
            out[c] = out[c].map(lambda v, c=c: value(c, v, lang_=lg))
        elif c == "risk_reasons":
            out[c] = out[c].map(lambda v: "；".join(reasons(v, lang_=lg)))
        elif c in ("rule_name",):
            out[c] = out[c].map(lambda v: rule_label(v, lang_=lg))
        elif c == "detectors":
            out[c] = out[c].map(lambda v: "、".join(detector(d, lang_=lg) for d in v)
                                if isinstance(v, (list, tuple)) else v)
        elif c == "feature":
            out[c] = out[c].map(lambda v: feature(v, lang_=lg))
        elif c in ("detail", "note"):
            out[c] = out[c].map(lambda v: translate_text(v, lang_=lg))
        elif c == "stratum":        # an inspection draw's stratum: kind/district
            out[c] = out[c].map(lambda v: "/".join([value("kind", v.split("/", 1)[0], lang_=lg)]
                                                   + v.split("/", 1)[1:]) if isinstance(v, str) else v)
        elif out[c].dtype == object:
            out[c] = out[c].map(_cell)
        if out[c].dtype == object:
            out[c] = out[c].map(lambda v: "—" if v is None or (isinstance(v, float) and pd.isna(v)) else v)
    return out.rename(columns={c: col(c, lang_=lg) for c in out.columns})


def raw_field_names(labels: Iterable[str]) -> list[str]:
    """The labels that look like raw field names (snake_case or ``a:b`` codes).

    >>> raw_field_names(["线索编号", "amount_at_risk", "rev_treated_by:max:patient_age_mean", "SHA-256"])
    ['amount_at_risk', 'rev_treated_by:max:patient_age_mean']
    """
    return [x for x in labels if isinstance(x, str) and re.fullmatch(r"[a-z][a-z0-9]*([_:][a-z0-9_:]+)+", x)]


def wan(v: Any, *, lang_: str | None = None, digits: int = 2) -> str:
    """Money in 万元 (zh) or millions of yuan (en)."""
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "—"
    x = float(v)
    if (lang_ or lang()) == "en":
        return f"¥{x / 1e6:,.2f} M" if abs(x) >= 1e6 else f"¥{x:,.0f}"
    return f"{x / 1e4:,.{digits}f} 万元"


def yuan(v: Any, *, lang_: str | None = None) -> str:
    """Whole yuan with separators.

    >>> yuan(12345.6, lang_="zh")
    '12,346 元'
    """
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "—"
    return f"¥{float(v):,.0f}" if (lang_ or lang()) == "en" else f"{float(v):,.0f} 元"


def pct(v: Any) -> str:
    """A share as a percentage.

    >>> pct(0.1234)
    '12.3%'
    """
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "—"
    return f"{100 * float(v):.1f}%"


# ------------------------------------------------------------------ the detectors' phrasing
DETECTORS: dict[str, tuple[str, str]] = {
    "face_match": ("人脸比对", "face match"), "rules": ("规则库", "rules"),
    "card_lending": ("借卡识别", "card lending"), "card_cashout": ("套现识别", "card cash-out"),
    "collusive_prescribing": ("医患合谋识别", "collusive prescribing"),
    "ghost_admission": ("虚假住院识别", "ghost admission"), "split_admission": ("分解住院识别", "split admission"),
    "doctor_shopping": ("多处开药识别", "doctor shopping"), "drug_resale": ("倒卖药品识别", "drug resale"),
    "guilt_by_association": ("关联传播", "guilt by association"), "gnn_hetero": ("异构图神经网络", "hetero GNN"),
    "xgb_neighbour": ("邻域梯度提升树", "neighbourhood XGBoost"),
    "gnn_autoencoder": ("图自编码器异常分", "graph autoencoder"),
}
#: what to check first, per scheme
NEXT_STEP: dict[str, tuple[str, str]] = {
    "card_lending": ("核对人脸抓拍与持卡人身份，约谈持卡人", "Compare the face captures with the holders; interview them"),
    "card_cashout": ("调取终端刷卡日志，核实持卡人是否到店", "Audit the terminal log and the credential holders"),
    "collusive_prescribing": ("复核处方与调剂记录", "Review the prescriptions and the dispensing records"),
    "ghost_admission": ("核查查房记录和床位记录", "Inspect the ward rounds and bed records"),
    "split_admission": ("核查多次住院是否为同一病程分次结算", "Check whether the stays were one episode billed several times"),
    "doctor_shopping": ("核查是否倒卖或囤积药品", "Check for resale or hoarding"),
    "drug_resale": ("核查药品流向与回收渠道", "Trace where the drugs went"),
}


def detector(name: Any, *, lang_: str | None = None) -> str:
    """A detector's name in words.

    >>> detector("gnn_autoencoder", lang_="zh")
    '图自编码器异常分'
    """
    pair = DETECTORS.get(str(name))
    return (pair[1] if (lang_ or lang()) == "en" else pair[0]) if pair else str(name)


def scheme(code: Any, *, lang_: str | None = None) -> str:
    """A scheme code in words.

    >>> scheme("ghost_admission", lang_="zh")
    '挂床/虚假住院'
    """
    return value("scheme", code, lang_=lang_) if isinstance(code, str) else str(code)


def rule_label(rule_name: Any, *, lang_: str | None = None) -> str:
    """The rule library names rules ``中文 / English``: the half of the language.

    >>> rule_label("分解住院 / Split admission", lang_="en")
    'Split admission'
    """
    if not isinstance(rule_name, str):
        return "" if rule_name is None else str(rule_name)
    zh, sep, en = rule_name.partition(" / ")
    if not sep:
        return rule_name
    return en.strip() if (lang_ or lang()) == "en" else zh.strip()


_REASON = re.compile(r"^(member of an? (?P<group>[a-z_]+) group|(?P<det>[a-z_]+)) (?P<score>[0-9.]+)")


def reasons(value_: Any, *, lang_: str | None = None) -> list[str]:
    """A risk score's reasons as whole phrases: each detector and its score.

    The detectors append a detail cut to a fixed width (``... possib)``); it is
    left out here rather than shown cut mid-sentence (the lead's evidence
    holds it whole).

    >>> reasons("member of a card_cashout group 0.85 (P1 settled 42 cre); gnn_autoencoder 0.28", lang_="zh")
    ['聚敛盗刷/套现团伙成员 0.85', '图自编码器异常分 0.28']
    """
    if value_ is None or (isinstance(value_, float) and pd.isna(value_)):
        return []
    items = value_ if isinstance(value_, (list, tuple)) else re.split(r";\s*(?![^()]*\))", str(value_))
    lg = lang_ or lang()
    out = []
    for it in items:
        it = str(it).strip()
        m = _REASON.match(it)
        if not m:
            continue
        sc = m.group("score")
        if m.group("group"):
            g = m.group("group")
            gname = scheme if g in SCHEMES else detector
            out.append(f"member of a {gname(g, lang_='en')} group {sc}" if lg == "en"
                       else f"{gname(g, lang_='zh')}团伙成员 {sc}")
        else:
            out.append(f"{detector(m.group('det'), lang_=lg)} {sc}")
    return out


_COUNTS = re.compile(r"(\d+) (persons|physicians|institutions)")
_START = re.compile(r"Start with (person|physician|institution):([^:\s]+)")
_RULES = re.compile(r"rule hits inside \(([^)]*)\)")


def lead_summary(row: Any, *, rule_names: dict[str, str] | None = None, lang_: str | None = None) -> str:
    """A lead in one or two whole sentences, built from its facts (scheme,
    members, money, detectors, the rules that fired most, where to start).

    ``row`` has ``scheme``, ``amount_at_risk``, ``detectors`` and the English
    ``summary`` fusion wrote (its counts, its first entity and its top rules
    are read from it); ``rule_names`` maps English rule names to Chinese.

    >>> r = {"scheme": "split_admission", "amount_at_risk": 1210.0, "detectors": ["split_admission"],
    ...      "summary": "Split admission: 1 persons, 1 institutions, CNY 1,210 at risk; found by split_admission, "
    ...                 "6 rule hits inside (Split admission ×4). Start with institution:H1: H1 readmitted ..."}
    >>> lead_summary(r, rule_names={"Split admission": "分解住院"}, lang_="zh")
    '分解住院：参保人 1 名、机构 1 家，涉嫌金额 0.12 万元；由分解住院识别发现，规则命中 6 次（分解住院 ×4）。建议从定点机构 H1 入手：核查多次住院是否为同一病程分次结算。'
    """
    get = row.get if hasattr(row, "get") else (lambda k, d=None: getattr(row, k, d))
    lg = lang_ or lang()
    text = str(get("summary") or "")
    if lg == "en":
        return text
    sch = str(get("scheme") or "other")
    counts = {k: int(n) for n, k in _COUNTS.findall(text)}
    parts = []
    for k, zh, unit in (("persons", "参保人", "名"), ("physicians", "医师", "名"), ("institutions", "机构", "家")):
        if counts.get(k):
            parts.append(f"{zh} {counts[k]} {unit}")
    dets = get("detectors")
    if isinstance(dets, str):
        dets = [d for d in re.split(r"[,;]\s*", dets) if d]
    dets = [detector(d, lang_="zh") for d in (dets if isinstance(dets, (list, tuple)) else [])]
    s = f"{scheme(sch, lang_='zh')}：" + ("、".join(parts) + "，" if parts else "")
    s += f"涉嫌金额 {wan(get('amount_at_risk'), lang_='zh')}"
    if dets:
        s += f"；由{'、'.join(dets)}发现"
    m = re.search(r"(\d+) rule hits inside", text)
    if m:
        s += f"，规则命中 {m.group(1)} 次"
        r = _RULES.search(text)
        if r and rule_names is not None:
            tops = []
            for item in r.group(1).split(", "):
                name, _, k = item.rpartition(" ×")
                if name in rule_names:
                    tops.append(f"{rule_names[name]} ×{k}")
            if tops:
                s += "（" + "、".join(tops) + "）"
    s += "。"
    st = _START.search(text)
    step = NEXT_STEP.get(sch, ("", ""))[0]
    if st:
        s += f"建议从{value('entity_type', st.group(1), lang_='zh')} {st.group(2)} 入手" + (f"：{step}。" if step else "。")
    elif step:
        s += f"建议{step}。"
    return s


def translate_text(text: Any, *, lang_: str | None = None) -> Any:
    """Short coded phrases of the app's own queries in Chinese (entity ties'
    details); unchanged in English or when not a string.

    >>> translate_text("enrolled as P1; mismatches 3", lang_="zh")
    '底库身份 P1；人证不符 3 次'
    >>> translate_text("proxy", lang_="zh"), translate_text("spouse", lang_="en")
    ('代办人', 'spouse')
    """
    if not isinstance(text, str) or (lang_ or lang()) == "en" or not text:
        return text
    if text in FAMILY_RELATIONS:      # a family tie's relation (Entity 360's 说明 column)
        return FAMILY_RELATIONS[text][0]
    out = re.sub(r"enrolled as (\S+); mismatches (\d+)", r"底库身份 \1；人证不符 \2 次", text)
    out = out.replace("enrolled as nobody", "无底库身份")
    out = re.sub(r"^lead created by detection run (\S+)$", r"检测批次 \1 发现该线索", out)
    m = re.fullmatch(r"([a-z_]+) / (.+)", out)
    if m:
        out = f"{scheme(m.group(1), lang_='zh')} / {value('status', m.group(2), lang_='zh')}"
    return out


#: the learned models' input features, in words (zh, en)
FEATURES: dict[str, tuple[str, str]] = {
    "rule_sev_high": ("高风险规则命中数", "high-severity rule hits"),
    "rule_sev_medium": ("中风险规则命中数", "medium-severity rule hits"),
    "rule_sev_low": ("低风险规则命中数", "low-severity rule hits"),
    "rule_distinct": ("命中规则种数", "distinct rules hit"), "rule_hits": ("规则命中数", "rule hits"),
    "rule_amount_at_risk": ("规则命中涉嫌金额", "rule-hit money at risk"),
    "rule_cat_management": ("管理类规则命中", "management rule hits"),
    "rule_cat_policy": ("政策类规则命中", "policy rule hits"), "rule_cat_medical": ("医疗类规则命中", "medical rule hits"),
    "has_face_terminal": ("装有人脸终端", "has a face terminal"), "n_persons": ("参保人数", "persons"),
    "external_prescriber_hhi": ("外部处方医师集中度", "external prescriber concentration"),
    "face_captures": ("人脸抓拍次数", "face captures"), "face_mismatch_rate": ("人证不符率", "face mismatch rate"),
    "face_related_rate": ("亲属代办率", "related-person rate"),
    "face_no_enrollment_rate": ("无底库抓拍率", "captures without enrolment"),
    "n_active_days": ("活跃天数", "active days"), "n_chronic": ("门慢门特病种数", "chronic conditions"),
    "amount_share_class_c": ("丙类项目金额占比", "share of class-C items"), "deceased": ("已死亡", "deceased"),
    "fund_paid_share": ("统筹支付占比", "fund-paid share"), "age": ("年龄", "age"), "sex_male": ("男性", "male"),
    "gap_cv": ("就诊间隔变异系数", "visit-gap variation"), "weekend_share": ("周末结算占比", "weekend share"),
    "pharmacy_hhi": ("药店集中度", "pharmacy concentration"), "family_links": ("家庭关系数", "family links"),
    "item_hhi": ("项目集中度", "item concentration"), "n_physicians": ("医师数", "physicians"),
    "account_paid_share": ("个人账户支付占比", "personal-account share"),
    "insurance_employee": ("职工医保", "employee insurance"), "share_inpatient": ("住院结算占比", "inpatient share"),
    "paid_by_others": ("由他人代付次数", "paid by others"), "physician_hhi": ("医师集中度", "physician concentration"),
    "n_visits": ("结算次数", "settlements"), "n_institutions": ("机构数", "institutions"),
    "institution_hhi": ("机构集中度", "institution concentration"), "private": ("民营", "private"),
    "kind_community": ("基层医疗机构", "community institution"), "kind_clinic": ("诊所", "clinic"),
    "amount_share_material": ("耗材金额占比", "materials share"), "inpatient_los_mean": ("平均住院日", "mean length of stay"),
    "n_pharmacies": ("药店数", "pharmacies"), "amount_share_service": ("诊疗项目金额占比", "services share"),
    "amount_share_drug": ("药品金额占比", "drugs share"), "share_pharmacy": ("药店结算占比", "pharmacy share"),
    "share_outpatient": ("门诊结算占比", "outpatient share"), "night_share": ("夜间结算占比", "night share"),
    "external_hhi": ("外部机构集中度", "external concentration"),
    "share_lines_over_cap": ("超限价明细占比", "lines over the price cap"),
    "visits_per_day": ("日均结算次数", "settlements per day"), "n_staff": ("医师人数", "staff"),
    "amount_max": ("单次最高金额", "largest settlement"), "pays_for_others": ("为他人代付次数", "pays for others"),
    "n_items": ("项目种数", "items"), "n_physicians_billing": ("开单医师数", "billing physicians"),
    "amount_share_non_medical": ("非医疗用品金额占比", "non-medical share"),
    "n_persons_paid_for": ("代付人数", "persons paid for"), "days_supply_sum": ("累计供药天数", "days of supply"),
    "inv_sold_bought_max": ("最高销进比", "highest sold/bought ratio"),
    "external_prescription_share": ("外配处方占比", "external prescription share"),
    "amount_mean": ("平均结算金额", "mean settlement"), "patient_hhi": ("患者集中度", "patient concentration"),
    "visits_per_person": ("人均结算次数", "settlements per person"), "amount_sum": ("结算总额", "total billed"),
    "n_lines": ("明细条数", "claim lines"), "person_hhi": ("参保人集中度", "person concentration"),
    "patient_age_mean": ("患者平均年龄", "mean patient age"),
}
_AGG = {"max": ("最大值", "max"), "mean": ("平均值", "mean"), "sum": ("合计", "sum"), "min": ("最小值", "min")}


def feature(name: Any, *, lang_: str | None = None) -> str:
    """A model feature in words; neighbour aggregates ``[rev_]rel:agg:feature`` too.

    >>> feature("rev_treated_by:max:patient_age_mean", lang_="zh")
    '经治关系邻居的患者平均年龄（最大值）'
    >>> feature("night_share", lang_="en")
    'night share'
    """
    lg = lang_ or lang()
    s = str(name)
    i = 1 if lg == "en" else 0
    if s in FEATURES:
        return FEATURES[s][i]
    parts = s.split(":")
    if len(parts) == 3:
        rel, agg, f = parts
        rel = rel.removeprefix("rev_")
        rel_w = {"treated_by": ("经治关系", "treatment"), "visited": ("就诊关系", "visit"), "at": ("就诊机构", "visit"),
                 "practises_at": ("执业关系", "practice"), "family": ("家庭关系", "family"),
                 "paid_by": ("代付关系", "payment"), "prescribed": ("处方关系", "prescription")}.get(
            rel, (rel.replace("_", " "), rel.replace("_", " ")))[i]
        fw = FEATURES.get(f, (f.replace("_", " "), f.replace("_", " ")))[i]
        aw = _AGG.get(agg, (agg, agg))[i]
        return f"{rel_w}邻居的{fw}（{aw}）" if lg == "zh" else f"{aw} {fw} over {rel_w} neighbours"
    return s.replace("_", " ")


__all__ += ["feature", "FEATURES", "FAMILY_RELATIONS"]
