"""The app in a real browser: ``streamlit run`` against the real Neo4j loaded
with a small generated city, driven by Debian's headless Chromium through
Selenium. Users of each role sign in through the login form; every page of
their navigation is opened from the sidebar, every jump button is followed and
the page reloaded, and the identity, role, masking and scope must hold
throughout; the access log must name the real user for every view and export.
Screenshots of each page per role are saved under ``$RINGSCOPE_SCREENSHOTS``
(default ``build/screenshots``).

Needs ``apt-get install chromium chromium-driver``; skipped when absent.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest

from test_app_pages import app_city, load_city, resale_lead  # noqa: F401  (shared city, loader, lead)

pytestmark = [pytest.mark.browser, pytest.mark.neo4j, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "browser-test-1"
USERS = {  # name -> (role, districts, display name)
    "wang.inv": ("investigator", ["*"], "王建华"),
    "li.ana": ("analyst", ["*"], "李分析"),
    "zhao.lead": ("leader", ["*"], "赵局长"),
    "chen.pol": ("police_liaison", ["*"], "陈警官"),
    "sys.admin": ("admin", ["*"], "管理员"),
}
ROLE_ZH = {"investigator": "稽核员", "analyst": "分析员", "leader": "领导", "police_liaison": "公安联络员",
           "admin": "系统管理员"}


@pytest.fixture()
def app_server(app_city, tmp_path, monkeypatch):
    from ringscope.app.serve import CHROMEDRIVER, CHROMIUM, serve
    from ringscope.settings import neo4j_settings
    from ringscope.store.db import QueryRunner
    from ringscope.store.users import UserStore

    if not CHROMIUM or not CHROMEDRIVER:
        pytest.skip("Debian chromium / chromium-driver not installed")
    city, results, token = app_city
    env = {"RINGSCOPE_RESULTS": str(results), "RINGSCOPE_DATASET": str(city),
           "RINGSCOPE_ACCESS_LOG": str(tmp_path / "access_log.jsonl"), "RINGSCOPE_USERS": str(tmp_path / "users.json"),
           "RINGSCOPE_BCRYPT_ROUNDS": "4"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    store = UserStore()
    for name, (role, districts, display) in USERS.items():
        store.add(name, role, districts, PASSWORD, display)
    with QueryRunner(neo4j_settings()) as runner:
        load_city(runner, city, results, token)
        referred = runner.scalar("MATCH (l:Lead)-[:INCLUDES]->(:Person) RETURN l.lead_id "
                                 "ORDER BY coalesce(l.rank, 1e9) DESC, l.lead_id LIMIT 1")
        runner.run("MATCH (l:Lead) SET l.referred = (l.lead_id = $l)", {"l": referred})
        with serve(env, log=tmp_path / "streamlit.log") as url:
            yield url, tmp_path / "access_log.jsonl", runner, referred
        runner.run("MATCH (l:Lead) SET l.referred = false")


@pytest.fixture()
def browser(tmp_path):
    from ringscope.app.serve import chromium

    drv = chromium(tmp_path / "chrome-profile", 1600, 1300)
    try:
        yield drv
    finally:
        drv.quit()


# ------------------------------------------------------------------------------ helpers
def _wait(drv, title=None, selectors=()):
    from ringscope.app.serve import wait_rendered

    h1 = wait_rendered(drv, title, tuple(selectors))
    _no_exception(drv, h1)
    return h1


def _no_exception(drv, where):
    from selenium.webdriver.common.by import By

    errors = drv.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    assert not errors, f"{where}: {errors[0].text[:800]}"


def _sidebar(drv) -> str:
    from selenium.webdriver.common.by import By

    return drv.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"]').text


def _identity_holds(drv, user: str):
    role, _, display = USERS[user]
    text = _sidebar(drv)
    assert user in text and display in text, f"signed-in user lost: {text[:300]}"
    assert f"角色：{ROLE_ZH[role]}" in text, f"role changed: {text[:300]}"


def _main_text(drv) -> str:
    from selenium.webdriver.common.by import By

    return drv.find_element(By.CSS_SELECTOR, '[data-testid="stMain"]').text


def _click(drv, text: str):
    from selenium.webdriver.common.by import By

    deadline = time.time() + 30
    while time.time() < deadline:
        btns = [b for b in drv.find_elements(By.XPATH, f"//button[contains(., '{text}')]") if b.is_displayed()]
        if btns:
            drv.execute_script("arguments[0].scrollIntoView({block: 'center'});", btns[0])
            time.sleep(0.3)
            btns[0].click()
            return
        time.sleep(0.5)
    raise AssertionError(f"no button {text!r}")


def _login(drv, url: str, user: str):
    from selenium.webdriver.common.by import By

    drv.get(url)
    deadline = time.time() + 60
    while time.time() < deadline and not drv.find_elements(By.CSS_SELECTOR, 'input[aria-label="用户名"]'):
        time.sleep(0.5)
    drv.find_element(By.CSS_SELECTOR, 'input[aria-label="用户名"]').send_keys(user)
    drv.find_element(By.CSS_SELECTOR, 'input[aria-label="密码"]').send_keys(PASSWORD)
    _click(drv, "登录")
    deadline = time.time() + 60
    while time.time() < deadline and user not in _sidebar(drv):
        time.sleep(0.5)
    _wait(drv)
    _identity_holds(drv, user)
    assert "s=" in drv.current_url, "the signed session token is in the URL"


def _nav(drv, page: str) -> None:
    from selenium.webdriver.common.by import By

    links = [a for a in drv.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebarNav"] a')
             if a.get_attribute("href").split("?")[0].rstrip("/").endswith("/" + page)]
    if not links:   # the default page is the root
        links = [a for a in drv.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebarNav"] a')][:1]
    if links:       # a role with one page has no navigation to click
        links[0].click()


def _wait_text(drv, text: str, timeout: float = 60) -> bool:
    """Whether ``text`` appears in the page's main area within ``timeout`` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline and text not in _main_text(drv):
        time.sleep(1)
    return text in _main_text(drv)


def _reload(drv, user: str, title: str):
    drv.refresh()
    h1 = _wait(drv, title)
    _identity_holds(drv, user)
    return h1


def _log(path: Path) -> pd.DataFrame:
    return pd.read_json(path, lines=True, dtype=False) if path.exists() else pd.DataFrame()


# ------------------------------------------------------------------------------ tests
def test_every_page_per_role_in_chromium(app_server, browser):
    """Each role signs in, opens every page of its navigation from the sidebar and
    reloads it: the identity and role hold, the page draws without error, in Chinese."""
    from ringscope.app.nav import PAGES, pages_for

    url, log_path, runner, referred = app_server
    out = Path(os.environ.get("RINGSCOPE_SCREENSHOTS", REPO / "build" / "screenshots"))
    n_uploaders = 0
    for user, (role, _, _) in USERS.items():
        _login(browser, url, user)
        for page in pages_for(role):
            _nav(browser, page)
            title = PAGES[page][1]
            _wait(browser, title)
            _identity_holds(browser, user)
            n_uploaders += _uploader_in_chinese(browser, f"{role}/{page}")
            shot = out / role / f"{page}.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 15_000
            _reload(browser, user, title)
        _click(browser, "退出登录")
        time.sleep(1.5)
    assert n_uploaders > 0                 # tip-offs, evidence and inspections pages have uploaders
    log = _log(log_path)
    assert len(log) and set(log["user"]) <= set(USERS) and "anonymous" not in set(log["user"])
    for user, (role, _, _) in USERS.items():
        mine = log[log["user"] == user]
        assert (mine["role"] == role).all()
    assert {"wang.inv", "li.ana", "chen.pol"} <= set(log["user"])


def _uploader_in_chinese(drv, where: str) -> int:
    """Streamlit draws a file uploader's button ("Upload") and size note ("200MB per file") in
    English; the app replaces both in Chinese (CSS): the English is not displayed and the Chinese is."""
    texts = drv.execute_script("""
        return Array.from(document.querySelectorAll('[data-testid="stFileUploaderDropzone"]')).map(function (z) {
          var b = z.querySelector('button [data-testid="stMarkdownContainer"]');
          var p = b ? b.querySelector('p') : null;
          var n = z.querySelector('[data-testid="stFileUploaderDropzoneInstructions"] small, '
                                  + '[data-testid="stFileUploaderDropzoneInstructions"] > div > span');
          return [b ? getComputedStyle(b, '::after').content : '', p ? getComputedStyle(p).display : 'none',
                  n ? getComputedStyle(n, '::after').content : '', n ? getComputedStyle(n).fontSize : '0px'];
        });""")
    for button, p_display, note, note_size in texts:
        assert "选择文件" in button and p_display == "none", (where, button, p_display)
        assert "单个文件不超过" in note and note_size == "0px", (where, note, note_size)
    return len(texts)


# ------------------------------------------------------------------------------ jump buttons
#: the roles whose jumps are followed, with their user; the administrator has no jump button
JUMP_USERS = {"investigator": "wang.inv", "analyst": "li.ana", "leader": "zhao.lead", "police_liaison": "chen.pol"}
MASKED_ROLES = {"analyst", "leader"}
ROW_PX = 35            # a glide data grid's header and row height (Streamlit's default)


@dataclass(frozen=True)
class Jump:
    """One in-app jump button: opened on ``start`` (from the sidebar), made to show by
    ``prepare`` (a function of the browser and the role's context, or None), clicked by its
    widget ``key`` (a prefix when it ends in ``_``), labelled ``label``, landing on ``land``."""
    name: str
    start: str
    prepare: Callable | None
    key: str
    label: str
    land: str
    roles: tuple[str, ...] = tuple(JUMP_USERS)


def _dom_text(drv) -> str:
    """The main area's whole text, hidden parts included (a table's cells live in its grid's
    accessible fallback, not in ``innerText``)."""
    return drv.execute_script("var m = document.querySelector('[data-testid=\"stMain\"]');"
                              "return m ? m.textContent : '';")


def _displayed(drv, css: str, timeout: float = 30):
    from selenium.webdriver.common.by import By

    deadline = time.time() + timeout
    while True:
        found = [e for e in drv.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
        if found or time.time() > deadline:
            return found
        time.sleep(0.3)


def _select_row(drv, key: str, row: int = 0) -> None:
    """Tick row ``row`` of the selectable table with widget key ``key`` (its row-marker checkbox)."""
    from selenium.webdriver.common.action_chains import ActionChains

    grids = _displayed(drv, f'[class*="st-key-{key}"] [data-testid="stDataFrame"]')
    assert grids, f"no table {key}"
    g = grids[0]
    drv.execute_script("arguments[0].scrollIntoView({block: 'center'});", g)
    w, h = g.size["width"], g.size["height"]
    ActionChains(drv).move_to_element_with_offset(g, int(-w / 2 + 14), int(-h / 2 + ROW_PX * (row + 1.5))).click() \
        .perform()


def _click_key(drv, key: str, label: str, timeout: float = 30) -> None:
    """Click the button with widget key ``key`` once it shows; its label must be ``label``."""
    btns = _displayed(drv, f'[class*="st-key-{key}"] button', timeout)
    assert btns, f"no button {key!r} ({label})"
    assert label.strip() in btns[0].text, (key, btns[0].text)
    drv.execute_script("arguments[0].scrollIntoView({block: 'center'});", btns[0])
    btns[0].click()


def _tab(drv, label: str) -> None:
    from selenium.webdriver.common.by import By

    deadline = time.time() + 30
    while time.time() < deadline:
        tabs = [t for t in drv.find_elements(By.CSS_SELECTOR, '[role="tab"]') if label in t.text]
        if tabs:
            drv.execute_script("arguments[0].scrollIntoView({block: 'center'});", tabs[0])
            tabs[0].click()
            return
        time.sleep(0.3)
    raise AssertionError(f"no tab {label!r}")


def _h3(drv) -> str:
    from selenium.webdriver.common.by import By

    return " ".join(h.text for h in drv.find_elements(By.CSS_SELECTOR, '[data-testid="stMain"] h3'))


def _lookup(drv, etype_zh: str, entity_id: str) -> None:
    """Entity 360: pick the type, type the id into the search box, wait for its heading."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    radio = [lab for lab in drv.find_elements(By.CSS_SELECTOR, '[class*="st-key-e360_type"] label')
             if lab.text.strip() == etype_zh]
    if radio and not _h3(drv).startswith(etype_zh):
        radio[0].click()
        _wait(drv, "实体画像")
    box = drv.find_element(By.CSS_SELECTOR, 'input[aria-label^="查找"]')
    box.clear()
    box.send_keys(entity_id, Keys.ENTER)
    deadline = time.time() + 60
    while time.time() < deadline and entity_id not in _h3(drv):
        time.sleep(0.3)
    _wait(drv, "实体画像")
    assert entity_id in _h3(drv), _h3(drv)


def _prep_row(key: str, tab: str | None = None):
    def prep(drv, ctx):
        if tab:
            _tab(drv, tab)
        _select_row(drv, key)
    return prep


def _prep_member(drv, ctx):
    if ctx["search"]:
        _lookup(drv, "参保人", ctx["member"])
        return
    # the police liaison has no search: a referred lead's member is reached from the queue
    _nav(drv, "leads")
    _wait(drv, "线索队列")
    _select_row(drv, "lq_members")
    _click_key(drv, "lq_goto_entity", "在实体画像中打开所选成员")
    _wait(drv, "实体画像")
    deadline = time.time() + 30
    while time.time() < deadline and not _h3(drv):
        time.sleep(0.3)


def _prep_member_neighbour(drv, ctx):
    _lookup(drv, "参保人", ctx["member"])
    _tab(drv, "结算往来")
    _select_row(drv, "e360_nb")


def _prep_model_neighbour(drv, ctx):
    _lookup(drv, "参保人", ctx["explained"])
    _tab(drv, "模型解释")
    _select_row(drv, "e360_expl_nb_")


JUMPS = [
    Jump("leads -> ring explorer", "leads", None, "lq_open_ring", "在团伙图谱中打开", "ring_explorer"),
    Jump("leads -> evidence package", "leads", None, "lq_open_evidence", "证据包", "evidence",
         roles=("investigator", "police_liaison")),
    Jump("leads member -> Entity 360", "leads", _prep_row("lq_members"), "lq_goto_entity", "在实体画像中打开所选成员",
         "entity_360"),
    Jump("ring explorer node -> Entity 360", "ring_explorer", None, "ring_goto", "在实体画像中打开", "entity_360"),
    Jump("Entity 360 -> its lead", "entity_360", _prep_member, "e360_lead_", "线索 ", "ring_explorer"),
    Jump("Entity 360 settlement neighbour -> Entity 360", "entity_360", _prep_member_neighbour, "e360_nb_go",
         "打开所选对象", "entity_360", roles=("investigator", "analyst", "leader")),
    Jump("Entity 360 model neighbour -> Entity 360", "entity_360", _prep_model_neighbour, "e360_expl_go_",
         "打开所选对象", "entity_360", roles=("investigator", "analyst", "leader")),
    Jump("briefing overdue lead -> leads", "briefing", _prep_row("brief_overdue", "超期与工作量"), "brief_goto_lead",
         "打开所选线索", "leads"),
    Jump("early warning -> Entity 360", "early_warning", None, "ew_goto", "在实体画像中打开", "entity_360"),
    Jump("rule hit -> Entity 360", "rule_hits", _prep_row("rh_table"), "rh_goto", "在实体画像中打开", "entity_360"),
    Jump("tip-off match -> Entity 360", "tipoffs", _prep_row("to_matches"), "to_goto", "在实体画像中打开", "entity_360"),
    Jump("random inspection -> Entity 360", "inspections", None, "ri_goto", "在实体画像中打开该机构", "entity_360"),
]


class _People:
    """The city's persons, to tell clear personal data on a page from masked."""

    def __init__(self, runner):
        self.rows = runner.read("MATCH (p:Person) RETURN p.person_id AS id, p.name AS name, p.id_number AS idn, "
                                "toString(p.birth_date) AS bd")
        others = {r["n"] for r in runner.read("MATCH (n) WHERE (n:Physician OR n:Institution) AND n.name IS NOT NULL "
                                              "RETURN n.name AS n")}
        self.idns = {r["idn"] for r in self.rows if r["idn"]}
        # a name also borne by a physician or in an institution's name is shown in clear for them
        self.names_ok = {r["name"] for r in self.rows
                         if r["name"] and len(r["name"]) >= 2 and not any(r["name"] in o for o in others)}

    def check(self, text: str, masked: bool, where: str) -> int:
        """Masked: no clear 身份证号 anywhere, and no clear name or birth date of a person whose id is
        shown. Returns how many persons shown had their clear name on the page."""
        import re

        leaked = [m for m in re.findall(r"\d{17}[\dXx]", text) if m in self.idns]
        shown = [r for r in self.rows if r["id"] and r["id"] in text]
        clear = [r for r in shown if r["name"] in self.names_ok and r["name"] in text]
        if masked:
            assert not leaked, f"{where}: clear 身份证号 {leaked[:3]}"
            assert not clear, f"{where}: clear names {[r['name'] for r in clear[:3]]}"
            bds = [r["bd"] for r in shown if r["bd"] and r["bd"] < "2015" and r["bd"] in text]
            assert not bds, f"{where}: clear birth dates {bds[:3]}"
        return len(clear)


def _jump_setup(runner) -> Callable[[], None]:
    """A tip-off naming the top lead's first person, a random-inspection draw and one overdue lead
    (so those pages have a jump button to follow); returns the undo."""
    from ringscope.store.inspections import draw_and_store
    from ringscope.store.tipoffs import intake

    top = runner.scalar("MATCH (l:Lead)-[:INCLUDES]->(:Person) RETURN l.lead_id "
                        "ORDER BY coalesce(l.rank, 1e9), l.lead_id LIMIT 1")
    pid = runner.scalar("MATCH (:Lead {lead_id: $l})-[:INCLUDES]->(p:Person) RETURN p.person_id "
                        "ORDER BY p.person_id LIMIT 1", {"l": top})
    got = intake(runner, [{"received_on": "2024-06-01", "channel": "phone", "content": "该参保人倒卖药品",
                           "named": f"person:{pid}", "reporter_name": "举报人乙", "reporter_phone": "13900000002"}],
                 user="setup")
    assert got["written"] and not got["quarantine"], got
    insts = [r["i"] for r in runner.read("MATCH (i:Institution) RETURN i.institution_id AS i ORDER BY i LIMIT 30")]
    draw_and_store(runner, inspectors=[{"inspector_id": f"J{j}", "name": f"执法员{j}", "unit": "市医保局",
                                        "bound": insts[j * 5:(j + 1) * 5]} for j in range(6)],
                   seed=20240701, user="setup", title="浏览器测试抽查")
    late = runner.scalar("MATCH (l:Lead)-[:INCLUDES]->(:Person) WHERE coalesce(l.status, 'new') <> '结案' "
                         "WITH DISTINCT l RETURN l.lead_id "
                         "ORDER BY coalesce(l.rank, 1e9) DESC, l.lead_id LIMIT 1")
    old = runner.scalar("MATCH (l:Lead {lead_id: $l}) RETURN toString(l.deadline)", {"l": late})
    runner.run("MATCH (l:Lead {lead_id: $l}) SET l.deadline = date('2020-01-31')", {"l": late})

    def undo():
        runner.run("MATCH (t:Tipoff) OPTIONAL MATCH (t)-[:HAS_EVENT]->(e) DETACH DELETE t, e")
        runner.run("MATCH (n) WHERE n:InspectionDraw OR n:Inspection OR n:Inspector OR n:InspectionEvent "
                   "DETACH DELETE n")
        runner.run("MATCH (l:Lead {lead_id: $l}) SET l.deadline = CASE WHEN $d IS NULL THEN null ELSE date($d) END",
                   {"l": late, "d": old})
    return undo


def test_every_jump_button_per_role_keeps_identity_masking_and_log(app_server, browser):
    """Every in-app jump button (:data:`JUMPS`), followed by the investigator, analyst, leader and
    police liaison wherever the role's navigation holds both ends: the landing page draws; after a
    reload the signed-in user and role are unchanged; a masked role sees no clear 身份证号, name or
    birth date on either; the access log gained a line naming the user for the landing view (an
    evidence package is built there and its export logged)."""
    from ringscope.app.nav import PAGES, pages_for
    from ringscope.store.audit import verify_log

    url, log_path, runner, referred = app_server
    undo = _jump_setup(runner)
    try:
        people = _People(runner)
        top = runner.scalar("MATCH (l:Lead)-[:INCLUDES]->(:Person) RETURN l.lead_id "
                            "ORDER BY coalesce(l.rank, 1e9), l.lead_id LIMIT 1")
        explained = runner.scalar(
            "MATCH (x:ModelExplanation)-[:EXPLAINS]->(p:Person) WHERE coalesce(x.neighbours, '[]') <> '[]' "
            "RETURN p.person_id ORDER BY coalesce(p.risk_score, 0) DESC LIMIT 1")
        followed, clear_seen = [], {}
        for role, user in JUMP_USERS.items():
            lead = referred if role == "police_liaison" else top
            ctx = {"member": runner.scalar("MATCH (:Lead {lead_id: $l})-[:INCLUDES]->(p:Person) RETURN p.person_id "
                                           "ORDER BY coalesce(p.risk_score, 0) DESC, p.person_id LIMIT 1", {"l": lead}),
                   "explained": explained, "search": role != "police_liaison"}
            mine = pages_for(role)
            _login(browser, url, user)
            if role in ("investigator", "analyst"):
                _nav(browser, "leads")
                _wait(browser, "线索队列")
                _click(browser, "导出 CSV")                              # a logged export
            for j in JUMPS:
                if role not in j.roles or j.start not in mine or j.land not in mine:
                    continue
                if j.name.startswith("Entity 360 model") and not explained:
                    continue
                where = f"{role} {j.name}"
                _nav(browser, j.start)
                _wait(browser, PAGES[j.start][1])
                if j.prepare:
                    j.prepare(browser, ctx)
                before_h3 = _h3(browser)
                n0 = len(_log(log_path))
                _click_key(browser, j.key, j.label)
                title = PAGES[j.land][1]
                if j.land == j.start:                                   # same page: wait for the new heading
                    deadline = time.time() + 60
                    while time.time() < deadline and _h3(browser) == before_h3:
                        time.sleep(0.3)
                _wait(browser, title)
                if j.land == j.start:
                    assert _h3(browser) != before_h3, f"{where}: still on {before_h3}"
                _identity_holds(browser, user)
                assert "s=" in browser.current_url, f"{where}: the signed token left the URL"
                refused = "无权查看" in _main_text(browser)
                assert not refused or role == "police_liaison", f"{where}: {_main_text(browser)[:300]}"
                clear_seen[role] = clear_seen.get(role, 0) + people.check(_dom_text(browser), role in MASKED_ROLES,
                                                                          where)
                if j.land == "evidence":
                    _click_key(browser, "ev_build", "生成证据包")
                    assert _wait_text(browser, "完整性校验通过", 120), where
                new = _log(log_path).iloc[n0:]
                assert len(new) or refused, f"{where}: the landing view was not logged"
                if len(new):
                    assert set(new["user"]) == {user} and set(new["role"]) == {role}, (where, new)
                    assert (new["masked"].astype(bool) == (role in MASKED_ROLES)).all(), where
                if j.land == "evidence":
                    assert ((new["action"] == "export") & new["entity"].str.endswith(":evidence_package")).any(), where
                elif not refused:
                    assert (new["page"] == j.land).any(), (where, new[["page", "entity"]].values.tolist())
                _reload(browser, user, title)
                clear_seen[role] += people.check(_dom_text(browser), role in MASKED_ROLES, where + " (reloaded)")
                followed.append((role, j.name))
            _click(browser, "退出登录")
            _displayed(browser, 'input[aria-label="用户名"]', 30)

        # the police liaison: a page outside its navigation is not reachable by URL either
        _login(browser, url, "chen.pol")
        tok = browser.current_url.split("s=", 1)[1].split("&", 1)[0]
        browser.get(f"{url}/rule_hits?s={tok}")
        assert _wait(browser) != "规则命中"
        _identity_holds(browser, "chen.pol")
    finally:
        undo()

    # every jump of the table was followed by every role that can reach both ends
    for j in JUMPS:
        want = {r for r in j.roles if j.start in pages_for(r) and j.land in pages_for(r)}
        assert want and want <= {r for r, n in followed if n == j.name}, (j.name, followed)
    # the check bites: the investigator's pages show clear names beside person ids (the liaison's
    # landings may show persons only in tables, whose cells a grid may draw on its canvas alone)
    assert clear_seen["investigator"], "the investigator sees clear names"
    log = _log(log_path)
    assert set(log["user"]) <= set(USERS) and "anonymous" not in set(log["user"])
    exports = log[log["action"] == "export"]
    assert {"wang.inv", "li.ana"} <= set(exports["user"]), "CSV exports are logged with the real user"
    ev = exports[exports["entity"].str.endswith(":evidence_package")]
    assert set(ev["user"]) == {"wang.inv", "chen.pol"}
    assert verify_log(log_path, runner=runner).ok


def test_a_district_scoped_user_sees_only_their_district(app_server, browser):
    """An investigator of one district: a lead outside it is not in the queue, and following a
    lead's member who lives outside it to Entity 360 is refused (no profile, no log line for them)."""
    from ringscope.store.access import Caller
    from ringscope.store.reads import DataLayer
    from ringscope.store.users import UserStore

    url, log_path, runner, referred = app_server

    class _Quiet:                      # the oracle's reads are not the user's views
        def log(self, *a, **k):
            pass

    found = None
    for d in [r["d"] for r in runner.read("MATCH (i:Institution) WHERE i.district IS NOT NULL "
                                          "RETURN i.district AS d, count(*) AS n ORDER BY n DESC, d")]:
        lay = DataLayer(runner, Caller("sun.local", "investigator", (d,)), logger=_Quiet(), cache=False)
        queue = lay.lead_queue(limit=100)
        for row, lid in enumerate(queue["lead_id"].astype(str).head(8)):
            members = lay.lead_members(lid).reset_index(drop=True)
            for i, m in members.head(6).iterrows():
                if m["entity_type"] == "person" and not lay.entity_allowed("person", str(m["entity_id"])):
                    found = (d, queue, row, lid, i, str(m["entity_id"]))
                    break
            if found:
                break
        if found:
            break
    assert found, "a lead of one district with a member living outside it"
    district, queue, row, lid, member_row, outsider = found
    everyone = DataLayer(runner, Caller("x", "investigator", ("*",)), logger=_Quiet(), cache=False).lead_queue(limit=500)
    outside = [x for x in everyone["lead_id"].astype(str) if x not in set(queue["lead_id"].astype(str))]
    assert outside
    UserStore().add("sun.local", "investigator", [district], PASSWORD, "孙稽核")
    USERS["sun.local"] = ("investigator", [district], "孙稽核")
    try:
        _login(browser, url, "sun.local")
        _nav(browser, "leads")
        _wait(browser, "线索队列")
        text = _dom_text(browser)
        assert f"本页 {len(queue)} 条" in text
        assert not [x for x in outside if x in text], "a lead outside the district is listed"
        _select_row(browser, "lq_table", row)
        deadline = time.time() + 60
        while time.time() < deadline and f"线索 {lid}" not in _main_text(browser):
            time.sleep(0.3)
        _wait(browser, "线索队列")
        _select_row(browser, "lq_members", member_row)
        _click_key(browser, "lq_goto_entity", "在实体画像中打开所选成员")
        assert _wait_text(browser, "无权查看"), _main_text(browser)[:300]
        _wait(browser, "实体画像")
        assert outsider in _main_text(browser) and outsider not in _h3(browser)
        _identity_holds(browser, "sun.local")
        log = _log(log_path)
        mine = log[log["user"] == "sun.local"]
        assert len(mine) and not mine["entity"].astype(str).str.startswith(f"person:{outsider}").any()
    finally:
        USERS.pop("sun.local", None)


def test_a_packs_path_in_the_ring_explorer(app_server, browser):
    """An investigator opens a resale lead in the ring explorer: the traceability codes settled
    again are listed under the drawing; choosing one draws its path, settlement by settlement
    (screenshot ``investigator/ring_explorer_pack.png``)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    url, log_path, runner, referred = app_server
    lead = resale_lead(runner)
    code = runner.scalar("MATCH (:Lead {lead_id: $l})-[:INCLUDES]->(:Person)<-[:FOR_PERSON]-(:Visit)-[:HAS_LINE]->"
                         "(:ClaimLine)<-[:DISPENSED_IN]-(p:Pack) WHERE p.n_settlements > 1 "
                         "RETURN p.trace_code ORDER BY p.trace_code LIMIT 1", {"l": lead})
    assert lead and code
    _login(browser, url, "wang.inv")
    _nav(browser, "ring_explorer")
    _wait(browser, "团伙图谱")
    box = browser.find_element(By.CSS_SELECTOR, 'input[aria-label^="线索"]')
    box.send_keys(lead, Keys.ENTER)
    _wait_text(browser, "重复结算")
    _wait(browser, "团伙图谱")
    assert "药品追溯码" in _main_text(browser), "a resale lead lists its packs settled again"
    pick = browser.find_element(By.CSS_SELECTOR, 'input[aria-label^="查看一个追溯码"]')
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", pick)
    pick.send_keys(code, Keys.ENTER)
    assert _wait_text(browser, f"追溯码 {code} 的流转路径")
    _wait(browser, "团伙图谱")
    _identity_holds(browser, "wang.inv")
    out = Path(os.environ.get("RINGSCOPE_SCREENSHOTS", REPO / "build" / "screenshots"))
    shot = out / "investigator" / "ring_explorer_pack.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    chart = browser.find_elements(By.XPATH, f"//*[contains(text(), '追溯码 {code} 的流转路径')]")
    if chart:
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", chart[0])
        time.sleep(1)
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 15_000
    log = _log(log_path)
    assert ((log["user"] == "wang.inv") & (log["entity"] == f"lead:{lead}:packs")).any()


def test_the_screenshots_command_shoots_every_page_of_a_role(app_server, tmp_path):
    """``ringscope screenshots`` (:func:`ringscope.app.screens.take_screenshots`) for one role: a PNG
    per page of the role's navigation, each a drawn page."""
    from ringscope.app.nav import pages_for
    from ringscope.app.screens import take_screenshots

    role = "police_liaison"
    shots = take_screenshots(tmp_path / "shots", results=Path(os.environ["RINGSCOPE_RESULTS"]),
                             dataset=Path(os.environ["RINGSCOPE_DATASET"]), roles=(role,))
    assert [p.relative_to(tmp_path / "shots").as_posix() for p in shots] == [f"{role}/{p}.png" for p in pages_for(role)]
    for p in shots:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 15_000, p
    # no user to sign in as: said before any browser starts, with the command that adds one
    from ringscope.cli import main

    os.environ["RINGSCOPE_USERS"], before = str(tmp_path / "nobody.json"), os.environ.get("RINGSCOPE_USERS")
    try:
        assert main(["screenshots", str(tmp_path / "none")]) == 2
    finally:
        if before is None:
            os.environ.pop("RINGSCOPE_USERS")
        else:
            os.environ["RINGSCOPE_USERS"] = before
    assert not (tmp_path / "none" / "police_liaison").exists()
