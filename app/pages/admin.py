"""系统管理 Administration: the access log's state and the users (administrator only).

The access log is verified on every visit -- the keyed hash chain of the
file and its head in Neo4j (:func:`ringscope.store.audit.verify_log`): the
administrator sees at once whether entries were edited, deleted, reordered or
cut off, or the file deleted, emptied or replaced. Users are managed with
``ringscope users``; this page lists them.
"""
from __future__ import annotations

import re

import streamlit as st

from ringscope.app import data
from ringscope.app.i18n import tr
from ringscope.app.nav import PAGES
from ringscope.app.ui import table

st.title(tr("系统管理", "Administration"))
lay = data.layer()

st.subheader(tr("访问日志完整性", "Access log integrity"))
v = lay.audit_state()
c = st.columns(3)
c[0].metric(tr("日志条数", "Entries"), f"{v.n_entries:,}")
c[1].metric(tr("数据库链头", "Head in Neo4j"), "—" if v.head_seq is None else f"{v.head_seq:,}")
c[2].metric(tr("状态", "State"), tr("完好", "intact") if v.ok else tr("被篡改", "TAMPERED"))
if v.ok:
    st.success(tr(f"访问日志完好：{v.n_entries} 条，链头与数据库一致。", f"Access log intact: {v.n_entries} entries; "
                  "the chain head in Neo4j agrees.") if v.head_seq is not None else
               tr(f"访问日志完好：{v.n_entries} 条；数据库中尚无该日志的链头。", v.summary()))
else:
    where = (tr(f"第 {v.first_bad_line} 行", f"line {v.first_bad_line}") if v.first_bad_line
             else tr("文件末尾", "the end of the file"))
    st.error(tr(f"访问日志被篡改：{where}。", f"Access log TAMPERED at {where}. ") + v.problem)
WARNINGS_ZH = [(r"no access log yet", "尚无访问日志。"),
               (r"no chain head in Neo4j for this log.*", "数据库中没有该日志的链头（数据库被重置，或写入时数据库不可用）。"),
               (r"(\d+) latest entries written while Neo4j was unreachable.*", r"最近 \1 条是在数据库不可用时写入的。")]
for w in v.warnings:
    if tr("zh", "en") == "zh":
        w = next((re.sub(pat, zh, w) for pat, zh in WARNINGS_ZH if re.fullmatch(pat, w)), w)
    st.warning(w)
st.caption(tr(f"日志文件 {lay.logger.path}；命令行核验：`ringscope audit verify`。",
              f"Log file {lay.logger.path}; verify from the command line with `ringscope audit verify`."))

st.subheader(tr("最近访问记录", "Recent access"))
FIELDS = {"name": tr("姓名", "name"), "id_number": tr("身份证号", "ID number"), "birth_date": tr("出生日期", "birth date"),
          "face": tr("人脸", "face"), "none": tr("无个人信息", "none"), "reporter": tr("举报人", "reporter"),
          "tipoff": tr("举报线索", "tip-off"), "inspection": tr("抽查记录", "inspection"),
          "inspector": tr("执法人员", "inspector"), "risk": tr("风险评分", "risk"),
          "credit": tr("信用记录", "credit record"), "picks": tr("抽取名单", "picks")}
PAGE_NAMES = {k: tr(v[1], v[2]) for k, v in PAGES.items()} | {"evidence": tr("证据包", "Evidence")}
recent = lay.access_log_recent(200).drop(columns=["event_id"], errors="ignore")
if len(recent):
    recent["page"] = recent["page"].map(lambda p: PAGE_NAMES.get(p, p))
    recent["fields"] = recent["fields"].map(lambda fs: "、".join(FIELDS.get(f, f) for f in (fs or [])))
table(recent, "adm_log")

st.subheader(tr("用户", "Users"))
table(lay.users().drop(columns=["epoch"], errors="ignore").rename(columns={"name": "user"}), "adm_users")
st.caption(tr("增加、停用、改密码、改角色或辖区：`ringscope users add|disable|enable|passwd|set`。",
              "Add, disable, change passwords, roles or districts with `ringscope users add|disable|enable|passwd|set`."))
