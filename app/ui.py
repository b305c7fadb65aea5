"""Small pieces the pages share: pickers, jumps between pages, formats."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from ringscope.app import data

__all__ = ["money", "goto_entity", "goto_lead", "lead_picker", "show_cypher", "ENTITY_PAGE",
           "RING_PAGE", "LEADS_PAGE", "SCHEME_LABELS"]

ENTITY_PAGE = "pages/entity_360.py"
RING_PAGE = "pages/ring_explorer.py"
LEADS_PAGE = "pages/leads.py"

SCHEME_LABELS = {
    "card_lending": "card_lending 借卡/冒名就医",
    "card_cashout": "card_cashout 聚敛盗刷/套现",
    "collusive_prescribing": "collusive_prescribing 医患合谋",
    "ghost_admission": "ghost_admission 挂床/虚假住院",
    "split_admission": "split_admission 分解住院",
    "doctor_shopping": "doctor_shopping 多处开药",
    "other": "other 其他",
}


def money(v: float | None) -> str:
    """Yuan with thousands separators.

    >>> money(12345.6)
    '¥12,346'
    """
    return "—" if v is None or pd.isna(v) else f"¥{float(v):,.0f}"


def goto_entity(entity_type: str, entity_id: str) -> None:
    """Open Entity 360 on an entity."""
    st.session_state["entity"] = (str(entity_type), str(entity_id))
    st.switch_page(ENTITY_PAGE)


def goto_lead(lead_id: str, page: str = RING_PAGE) -> None:
    """Open a page (Ring explorer by default) on a lead."""
    st.session_state["lead_id"] = str(lead_id)
    st.switch_page(page)


def lead_picker(key: str, label: str = "Lead") -> str | None:
    """A select box of leads (ranked); remembers the choice across pages."""
    leads = data.lead_options()
    if leads.empty:
        st.info("No leads in the database yet: run `ringscope detect` on a dataset.")
        return None
    ids = leads["lead_id"].astype(str).tolist()
    desc = dict(zip(ids, leads["scheme"].astype(str) + " · score " + leads["score"].astype(float).round(2).astype(str)
                    + " · " + leads["amount_at_risk"].map(money)))
    current = st.session_state.get("lead_id")
    index = ids.index(current) if current in ids else 0
    choice = st.selectbox(label, ids, index=index, key=key,
                          format_func=lambda i: f"{i} — {desc.get(i, '')}")
    st.session_state["lead_id"] = choice
    return choice


def show_cypher(names: list[str], params: dict) -> None:
    """The Cypher files behind a view, with their parameters."""
    with st.expander("Cypher that reproduces this view", expanded=False):
        st.caption("Run in Neo4j Browser or cypher-shell with these parameters (`:param` / `--param`).")
        st.json(params)
        for n in names:
            st.markdown(f"`cypher/app/{n}.cypher`")
            st.code(data.cypher_text(n), language="cypher")
