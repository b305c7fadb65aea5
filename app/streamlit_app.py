"""ringscope investigation app: the entry script (``streamlit run app/streamlit_app.py``).

Sets the page, asks who is using it (user name and role, in the sidebar),
checks the database is reachable, and hands over to the page chosen in
``st.navigation``. Pages live in ``app/pages/``, one file each; they read the
findings through :mod:`ringscope.app.data` and never run a detector.
"""
from __future__ import annotations

import streamlit as st

from ringscope.app.access import ROLE_LABELS, ROLES, policy
from ringscope.app.data import get_runner

st.set_page_config(page_title="ringscope", page_icon="🕸️", layout="wide")

PAGES = [
    st.Page("pages/briefing.py", title="Briefing", icon="📊", default=True),
    st.Page("pages/leads.py", title="Leads", icon="📋"),
    st.Page("pages/ring_explorer.py", title="Ring explorer", icon="🕸️"),
    st.Page("pages/entity_360.py", title="Entity 360", icon="🔎"),
    st.Page("pages/rule_hits.py", title="Rule hits", icon="⚠️"),
    st.Page("pages/faces.py", title="Faces", icon="🙂"),
    st.Page("pages/evidence.py", title="Evidence package", icon="📦"),
]

st.session_state.setdefault("role", "analyst")  # least clearance until the user says otherwise
with st.sidebar:
    st.markdown("### ringscope")
    st.text_input("User name", key="user", placeholder="your name (logged with every view)")
    st.selectbox("Role", ROLES, key="role", format_func=lambda r: ROLE_LABELS[r])
    pol = policy(st.session_state["role"])
    st.caption(
        ("Personal data in clear." if not pol.masked else "Names, ID numbers and faces masked.")
        + " Every view of personal data is logged."
    )

try:
    get_runner()
except Exception as exc:  # no database: say so plainly instead of a traceback per page
    st.error(
        "Cannot reach Neo4j. Start the local server with `ringscope neo4j start` "
        f"(or set NEO4J_URI), then load a dataset with `ringscope detect`.\n\n{exc}"
    )
    st.stop()

nav = st.navigation(PAGES)
nav.run()
