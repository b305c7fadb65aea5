"""Serving the app for people and for machines: the Streamlit command line, a
server started and stopped around a block (browser tests, screenshots, the
load benchmark), and a headless Chromium to look at it.

Everything listens on 127.0.0.1 only.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

__all__ = ["app_command", "free_port", "serve", "chromium", "wait_rendered", "CHROMIUM", "CHROMEDRIVER"]

ENTRY = Path(__file__).resolve().with_name("streamlit_app.py")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists()
                                                else None)


def app_command(port: int, address: str = "127.0.0.1") -> list[str]:
    """The command line that serves the app; the tables' own CSV export is off (exports are logged buttons)."""
    return [sys.executable, "-m", "streamlit", "run", str(ENTRY),
            "--server.port", str(port), "--server.address", address,
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--client.disableDataExport", "true", "--client.toolbarMode", "minimal",
            "--server.fileWatcherType", "none"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(env: dict | None = None, log: Path | None = None, timeout: float = 90) -> Iterator[str]:
    """Start the app on a free port of 127.0.0.1; yield its URL; stop it after."""
    port = free_port()
    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(app_command(port), env=dict(os.environ, **(env or {})), stdout=out,
                            stderr=subprocess.STDOUT, cwd=str(ENTRY.parent))
    try:
        end = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.time() > end:
                    raise RuntimeError(f"the app did not start (see {log})") from None
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log:
            out.close()


def chromium(profile: Path, width: int = 1600, height: int = 1200):
    """Debian's headless Chromium through Selenium (``chromium``, ``chromium-driver``)."""
    if not CHROMIUM or not CHROMEDRIVER:
        raise RuntimeError("headless Chromium needs Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--window-size={width},{height}",
                 "--lang=zh-CN"):
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(120)
    return drv


def wait_rendered(drv, title: str | None = None, selectors: tuple[str, ...] = (), timeout: float = 120,
                  stable_s: float = 1.5) -> str:
    """Wait until the page's title (h1) is drawn, ``selectors`` exist, no script runs and
    the page has stopped changing for ``stable_s`` seconds; return the h1."""
    from selenium.webdriver.common.by import By

    end = time.time() + timeout
    h1: list[str] = []
    missing: list[str] = list(selectors)
    last, since = None, time.time()
    while time.time() < end:
        try:
            h1 = [e.text for e in drv.find_elements(By.CSS_SELECTOR, "h1")]
            running = drv.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
            missing = [s for s in selectors if not drv.find_elements(By.CSS_SELECTOR, s)]
            sig = drv.execute_script(
                "var m = document.querySelector('[data-testid=\"stMain\"]') || document.body;"
                "return m.getElementsByTagName('*').length + ':' + m.innerText.length;")
        except Exception:  # noqa: BLE001  (the page is being replaced)
            time.sleep(0.3)
            continue
        if sig != last or running:
            last, since = sig, time.time()
        ready = h1 and (title is None or any(t.startswith(title) for t in h1)) and not missing and not running
        if ready and time.time() - since >= stable_s:
            return h1[0]
        time.sleep(0.3)
    raise AssertionError(f"page {title!r} not drawn: h1={h1}, missing={missing}")
