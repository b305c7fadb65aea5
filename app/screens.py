"""Screenshots of every page for every role, for review (``ringscope screenshots OUT``).

Starts the app on 127.0.0.1, signs in as the first active user of each role
in the users file (a signed session token in the URL, as after a reload),
opens every page that role's navigation offers in headless Chromium and saves
``OUT/<role>/<page>.png``. Roles without a user are skipped and said so.
"""
from __future__ import annotations

import time
from pathlib import Path

from ringscope.app.nav import pages_for
from ringscope.app.serve import chromium, serve, wait_rendered
from ringscope.store.access import ROLES
from ringscope.store.users import UserStore, issue_token

__all__ = ["take_screenshots", "shoot_page"]


def shoot_page(drv, url: str, out: Path, *, settle: float = 1.5) -> Path:
    """Open ``url``, wait until drawn, save a full-page PNG (the page's own height)."""
    from selenium.webdriver.common.by import By

    drv.get(url)
    wait_rendered(drv)
    time.sleep(settle)  # plotly's transitions
    h = drv.execute_script("var m = document.querySelector('section.main, [data-testid=\"stMain\"]');"
                           "return m ? m.scrollHeight : document.body.scrollHeight;")
    w = drv.get_window_size()["width"]
    drv.set_window_size(w, max(900, min(int(h) + 120, 6000)))
    time.sleep(0.6)
    errors = drv.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    if errors:
        raise AssertionError(f"{url}: {errors[0].text[:500]}")
    out.parent.mkdir(parents=True, exist_ok=True)
    drv.save_screenshot(str(out))
    drv.set_window_size(w, 1200)
    return out


def take_screenshots(out: Path, *, results: Path | None = None, dataset: Path | None = None,
                     lang: str = "zh", roles: tuple[str, ...] = ROLES) -> list[Path]:
    """Every page per role under ``out``; returns the files written. The database is checked
    first: a server that cannot be reached is :class:`~ringscope.store.db.Neo4jUnavailable`
    (one sentence from the command), not a page that never draws; no active user at all is a
    ``ValueError`` naming the command that adds one."""
    from ringscope.store.db import QueryRunner

    with QueryRunner() as q:        # raises Neo4jUnavailable when the server is down
        q.verify()
    env = {}
    if results:
        env["RINGSCOPE_RESULTS"] = str(results)
    if dataset:
        env["RINGSCOPE_DATASET"] = str(dataset)
    users = {}
    for u in UserStore().list():
        if u.active and u.role not in users:
            users[u.role] = u
    if not users:
        raise ValueError("no active user in the users file: add one per role to photograph, e.g. "
                         "`ringscope users add zhao.ld --role leader`")
    shots: list[Path] = []
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with serve(env, log=out / "streamlit.log") as url:
        drv = chromium(out / ".chrome-profile")
        try:
            for role in roles:
                u = users.get(role)
                if u is None:
                    print(f"[screenshots] no active user with the role {role}: skipped "
                          f"(add one with `ringscope users add NAME --role {role}`)")
                    continue
                tok = issue_token(u)
                for i, page in enumerate(pages_for(role)):
                    path = "" if i == 0 else page
                    q = f"?s={tok}" + ("&lang=en" if lang == "en" else "")
                    shots.append(shoot_page(drv, f"{url}/{path}{q}", out / role / f"{page}.png"))
        finally:
            drv.quit()
    return shots
