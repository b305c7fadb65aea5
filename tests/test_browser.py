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
from pathlib import Path

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
    for user, (role, _, _) in USERS.items():
        _login(browser, url, user)
        for page in pages_for(role):
            _nav(browser, page)
            title = PAGES[page][1]
            _wait(browser, title)
            _identity_holds(browser, user)
            shot = out / role / f"{page}.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 15_000
            _reload(browser, user, title)
        _click(browser, "退出登录")
        time.sleep(1.5)
    log = _log(log_path)
    assert len(log) and set(log["user"]) <= set(USERS) and "anonymous" not in set(log["user"])
    for user, (role, _, _) in USERS.items():
        mine = log[log["user"] == user]
        assert (mine["role"] == role).all()
    assert {"wang.inv", "li.ana", "chen.pol"} <= set(log["user"])


def test_jump_buttons_and_reloads_keep_identity_masking_and_scope(app_server, browser):
    url, log_path, runner, referred = app_server
    top = runner.scalar("MATCH (l:Lead)-[:INCLUDES]->(:Person) RETURN l.lead_id "
                        "ORDER BY coalesce(l.rank, 1e9), l.lead_id LIMIT 1")
    inst_member = runner.read("MATCH (:Lead {lead_id: $l})-[:INCLUDES]->(p:Person) WHERE p.name IS NOT NULL "
                              "RETURN p.person_id AS id, p.name AS name, p.id_number AS idn "
                              "ORDER BY coalesce(p.risk_score, 0) DESC, p.person_id LIMIT 3", {"l": top})
    names = [r["name"] for r in inst_member]

    for user in ("wang.inv", "li.ana"):
        clear = user == "wang.inv"
        _login(browser, url, user)
        _nav(browser, "leads")
        _wait(browser, "线索队列")
        assert top in _main_text(browser)
        _click(browser, "导出 CSV")                                  # a logged export
        time.sleep(2)
        _click(browser, "在团伙图谱中打开")                           # jump 1
        _wait(browser, "团伙图谱")
        _identity_holds(browser, user)
        _reload(browser, user, "团伙图谱")
        _click(browser, "在实体画像中打开")                           # jump 2
        _wait(browser, "实体画像")
        _identity_holds(browser, user)
        _reload(browser, user, "实体画像")
        # look a member up: the heading shows the name, clear or masked by the role
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        box = browser.find_element(By.CSS_SELECTOR, 'input[aria-label^="查找"]')
        box.clear()
        box.send_keys(inst_member[0]["id"], Keys.ENTER)
        _wait(browser, "实体画像")
        heads = " ".join(h.text for h in browser.find_elements(By.CSS_SELECTOR, "h3"))
        assert inst_member[0]["id"] in heads, heads
        name = names[0]
        assert (name in heads) == clear, heads
        if not clear:
            assert name[0] + "*" * (len(name) - 1) in heads, heads
        _identity_holds(browser, user)
        _click(browser, "线索 ")                                      # jump 3: the entity's lead
        _wait(browser, "团伙图谱")
        _identity_holds(browser, user)
        if clear:
            _nav(browser, "leads")
            _wait(browser, "线索队列")
            _click(browser, "证据包")                                  # jump 4
            _wait(browser, "证据包")
            _identity_holds(browser, user)
            _reload(browser, user, "证据包")
            _click(browser, "生成证据包")
            assert _wait_text(browser, "完整性校验通过", 120)
        _click(browser, "退出登录")
        time.sleep(1.5)

    # the police liaison sees the one referred lead and nothing else
    _login(browser, url, "chen.pol")
    _wait(browser, "线索队列")
    text = _main_text(browser)
    assert referred in text and "本页 1 条" in text
    _click(browser, "在团伙图谱中打开")
    _wait(browser, "团伙图谱")
    _identity_holds(browser, "chen.pol")
    _reload(browser, "chen.pol", "团伙图谱")
    # a page outside the liaison's navigation is not reachable by URL either
    tok = browser.current_url.split("s=", 1)[1].split("&", 1)[0]
    browser.get(f"{url}/rule_hits?s={tok}")
    h1 = _wait(browser)
    assert h1 != "规则命中"
    _identity_holds(browser, "chen.pol")

    log = _log(log_path)
    assert set(log["user"]) <= set(USERS)
    assert {("wang.inv", "investigator"), ("li.ana", "analyst"), ("chen.pol", "police_liaison")} <= set(
        zip(log["user"], log["role"]))
    exports = log[log["action"] == "export"]
    assert {"wang.inv", "li.ana"} <= set(exports["user"]), "CSV exports are logged with the real user"
    ev = exports[exports["entity"].str.endswith(":evidence_package")]
    assert len(ev) and set(ev["user"]) == {"wang.inv"}
    masked = log[log["user"] == "li.ana"]["masked"]
    assert masked.all() and not log[log["user"] == "wang.inv"]["masked"].any()
    from ringscope.store.audit import verify_log

    assert verify_log(log_path, runner=runner).ok


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
