"""The app in a real browser: ``streamlit run`` against the real Neo4j loaded
with a small generated city, driven by Debian's headless Chromium through
Selenium. Every page is opened, its key elements must be drawn (title, tables,
plotly charts, no exception box), and a screenshot of each is saved under
``$RINGSCOPE_SCREENSHOTS`` (default ``build/screenshots``).

Needs ``apt-get install chromium chromium-driver``; skipped when absent.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_app_pages import app_city, load_city  # noqa: F401  (shared city and loader)

pytestmark = [pytest.mark.browser, pytest.mark.neo4j, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)

#: url path -> (title text, CSS selectors that must be present)
PAGES = {
    "": ("Briefing", ['[data-testid="stMetric"]', ".js-plotly-plot", '[data-testid="stDataFrame"]']),
    "leads": ("Leads", ['[data-testid="stDataFrame"]', '[data-testid="stMetric"]']),
    "ring_explorer": ("Ring explorer", [".js-plotly-plot", '[data-testid="stMetric"]']),
    "entity_360": ("Entity 360", ['[data-testid="stMetric"]', '[data-testid="stDataFrame"]']),
    "rule_hits": ("Rule hits", ['[data-testid="stDataFrame"]']),
    "faces": ("Faces", ['[data-testid="stMetric"]']),
    "evidence": ("Evidence package", ['[data-testid="stDataFrame"]']),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(port: int, timeout: float = 90) -> None:
    import urllib.request

    end = time.time() + timeout
    while time.time() < end:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("streamlit did not come up")


@pytest.fixture()
def app_server(app_city, tmp_path):
    from ringscope.settings import neo4j_settings
    from ringscope.store.db import QueryRunner

    city, results, token = app_city
    with QueryRunner(neo4j_settings()) as runner:
        load_city(runner, city, results, token)
    port = _free_port()
    env = dict(os.environ, RINGSCOPE_RESULTS=str(results), RINGSCOPE_DATASET=str(city),
               RINGSCOPE_ACCESS_LOG=str(tmp_path / "access_log.jsonl"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "app" / "streamlit_app.py"),
         "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        env=env, stdout=open(tmp_path / "streamlit.log", "wb"), stderr=subprocess.STDOUT, cwd=str(REPO))
    try:
        _wait_http(port)
        yield f"http://127.0.0.1:{port}", tmp_path / "access_log.jsonl"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture()
def browser(tmp_path):
    if not CHROMIUM or not DRIVER:
        pytest.skip("Debian chromium / chromium-driver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chrome-profile'}",
                 "--window-size=1600,1400"):
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
    drv.set_page_load_timeout(120)
    try:
        yield drv
    finally:
        drv.quit()


def _wait_rendered(drv, title: str, selectors: list[str], timeout: float = 120) -> None:
    from selenium.webdriver.common.by import By

    end = time.time() + timeout
    missing: list[str] = selectors
    while time.time() < end:
        h1 = [e.text for e in drv.find_elements(By.CSS_SELECTOR, "h1")]
        running = drv.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
        missing = [s for s in selectors if not drv.find_elements(By.CSS_SELECTOR, s)]
        if any(t.startswith(title) for t in h1) and not missing and not running:
            return
        time.sleep(0.5)
    raise AssertionError(f"page {title!r} not drawn: h1={h1}, missing={missing}")


def test_every_page_renders_in_chromium(app_server, browser):
    from selenium.webdriver.common.by import By

    url, log_path = app_server
    out = Path(os.environ.get("RINGSCOPE_SCREENSHOTS", REPO / "build" / "screenshots"))
    out.mkdir(parents=True, exist_ok=True)
    for path, (title, selectors) in PAGES.items():
        browser.get(f"{url}/{path}")
        _wait_rendered(browser, title, selectors)
        time.sleep(1.0)  # let plotly finish its transition before the picture
        errors = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
        assert not errors, f"{title}: {errors[0].text[:500]}"
        shot = out / f"{path or 'briefing'}.png"
        assert browser.save_screenshot(str(shot))
        assert shot.stat().st_size > 20_000, f"{shot} looks blank"
    # the sidebar offers the roles; the default (analyst) sees masked data, and views were logged
    browser.get(f"{url}/leads")
    _wait_rendered(browser, "Leads", PAGES["leads"][1])
    sidebar = browser.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"]').text
    assert "Role" in sidebar and "masked" in sidebar
    deadline = time.time() + 30
    while time.time() < deadline and not log_path.exists():
        time.sleep(0.5)
    assert log_path.exists() and '"role": "analyst"' in log_path.read_text(encoding="utf-8")
