"""ringscope investigation app: the entry script (``streamlit run app/streamlit_app.py``).

Sets the page, signs the user in (users managed with ``ringscope users``;
bcrypt hashes; a signed session token in the URL so a reload keeps the
identity), offers the pages the user's role may open, and hands over to
``st.navigation``. Pages live in ``app/pages/``, one file each; they read
through the data layer (:mod:`ringscope.store.reads`), which checks role and
scope, masks personal data and logs every view and export.
"""
from __future__ import annotations

import os

import streamlit as st

from ringscope.app import data
from ringscope.app.i18n import lang, set_lang, tr
from ringscope.app.nav import PAGES
from ringscope.store.access import ROLE_LABELS, ROLE_LABELS_EN
from ringscope.store.db import Neo4jUnavailable
from ringscope.store.files import owner_only_umask

owner_only_umask()  # evidence packages, logs and keys this process writes: the owner's alone
st.set_page_config(page_title="ringscope 医保基金团伙线索", page_icon=":material/hub:", layout="wide")
st.set_option("client.disableDataExport", True)  # exports go through logged buttons only
if "lang" not in st.session_state:
    st.session_state["lang"] = "en" if st.query_params.get("lang") == "en" else "zh"

#: Streamlit draws the file uploader's button and size note in English whatever the page's language;
#: in Chinese they are replaced through CSS (the control stays Streamlit's own).
ZH_UPLOADER_CSS = """
[data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"] p { display: none; }
[data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"]::after { content: "选择文件"; }
[data-testid="stFileUploaderDropzoneInstructions"] > div > span, [data-testid="stFileUploaderDropzoneInstructions"] small
  { font-size: 0 !important; }
[data-testid="stFileUploaderDropzoneInstructions"] > div > span::after,
[data-testid="stFileUploaderDropzoneInstructions"] small::after
  { content: "拖放文件到此处，或点击选择；单个文件不超过 @MB@MB"; font-size: 0.875rem; }
"""
if lang() == "zh":
    st.html("<style>" + ZH_UPLOADER_CSS.replace("@MB@", str(int(st.get_option("server.maxUploadSize"))))
            + "</style>")

def login() -> None:
    st.title(tr("医保基金团伙线索系统 · 登录", "ringscope · sign in"))
    st.caption(tr("账号由系统管理员用 `ringscope users add` 创建。每次查看个人信息和每次导出都会记入访问日志。",
                  "Accounts are created by the administrator with `ringscope users add`. Every view of personal "
                  "data and every export is logged."))
    with st.form("login_form", width=420):
        name = st.text_input(tr("用户名", "User name"), key="login_user")
        pw = st.text_input(tr("密码", "Password"), type="password", key="login_password")
        ok = st.form_submit_button(tr("登录", "Sign in"), type="primary")
    if ok:
        if data.sign_in(name, pw) is None:
            st.error(tr("用户名或密码不正确，或账号已停用。", "Wrong user name or password, or the account is disabled."))
        else:
            st.rerun()


def _lang_switch() -> None:
    choice = st.segmented_control(tr("语言", "Language"), ["zh", "en"], default=lang(), key="lang_pick",
                                  format_func=lambda v: "中文" if v == "zh" else "English")
    if choice and choice != lang():
        set_lang(choice)
        st.rerun()


caller = data.restore()
if caller is None:
    with st.sidebar:
        _lang_switch()
    st.navigation([st.Page(login, title=tr("登录", "Sign in"), icon=":material/login:")], position="hidden").run()
    st.stop()

try:
    data.get_runner()
except Neo4jUnavailable as exc:
    st.error(tr("无法连接 Neo4j 数据库。", "Cannot reach Neo4j. ") + str(exc))
    st.stop()

u = data.user()
with st.sidebar:
    st.markdown(f"**{u.display_name or u.name}** · {u.name}")
    role_label = ROLE_LABELS[caller.role] if lang() == "zh" else ROLE_LABELS_EN[caller.role]
    scope = tr("全市", "whole city") if caller.citywide else "、".join(caller.districts)
    if caller.policy.referred_only:
        scope = tr("移送公安的线索", "leads referred to the police")
    st.caption(f"{tr('角色', 'Role')}：{role_label} · {tr('辖区', 'Scope')}：{scope}")
    pol = caller.policy
    st.caption(tr("个人信息明文显示。" if not pol.masked else "姓名、身份证号、出生日期和人脸已脱敏。",
                  "Personal data in clear." if not pol.masked else "Names, ID numbers, birth dates and faces masked.")
               + tr("每次查看和导出均记录。", " Every view and export is logged."))
    _lang_switch()
    if st.button(tr("退出登录", "Sign out"), key="sign_out", icon=":material/logout:"):
        data.sign_out()
        st.rerun()

pages = [st.Page(path, title=tr(zh, en), icon=icon, url_path=url, default=(i == 0))
         for i, (url, (path, zh, en, icon, roles)) in enumerate(
             (u, v) for u, v in PAGES.items() if caller.role in v[4])]
nav = st.navigation(pages)
nav.run()
if os.environ.get("RINGSCOPE_APP_DEBUG"):
    st.caption(f"{caller}")
