"""Small pieces the pages share: jumps between pages that keep the identity,
the lead picker, labelled tables with a logged CSV export, the Cypher behind a view."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from ringscope.app import data
from ringscope.app.i18n import label_frame, lead_summary, rule_label, scheme, tr, wan
from ringscope.store.db import cypher

__all__ = ["goto", "goto_entity", "goto_lead", "lead_picker", "show_cypher", "table", "csv_button",
           "rule_names_zh", "lead_text", "ENTITY_PAGE", "RING_PAGE", "LEADS_PAGE", "EVIDENCE_PAGE",
           "NO_IMAGE_EXPORT"]

ENTITY_PAGE = "pages/entity_360.py"
RING_PAGE = "pages/ring_explorer.py"
LEADS_PAGE = "pages/leads.py"
EVIDENCE_PAGE = "pages/evidence.py"
#: plotly's config for a chart that draws people (names, ids): no "download as PNG" button, which
#: would export them without a line in the access log (exports go through the data layer)
NO_IMAGE_EXPORT = {"modeBarButtonsToRemove": ["toImage"], "displaylogo": False}


def goto(page: str) -> None:
    """Switch page keeping the signed token in the URL (identity survives reloads)."""
    tok = data.token()
    st.switch_page(page, query_params={data.TOKEN_PARAM: tok} if tok else None)


def goto_entity(entity_type: str, entity_id: str) -> None:
    """Open Entity 360 on an entity (its type, search and pick widgets start afresh: a jump from
    Entity 360 itself would otherwise keep showing the entity they hold)."""
    st.session_state["entity"] = (str(entity_type), str(entity_id))
    for k in [k for k in st.session_state if str(k).startswith(("e360_type", "e360_q", "e360_pick_"))]:
        del st.session_state[k]
    goto(ENTITY_PAGE)


def goto_lead(lead_id: str, page: str = RING_PAGE) -> None:
    """Open a page (Ring explorer by default) on a lead."""
    st.session_state["lead_id"] = str(lead_id)
    goto(page)


def rule_names_zh() -> dict[str, str]:
    """English rule name -> Chinese, from the rule library's bilingual names."""
    out = {}
    for n in data.layer().rule_names().values():
        zh, sep, en = str(n).partition(" / ")
        if sep:
            out[en.strip()] = zh.strip()
    return out


def lead_text(row) -> str:
    """The lead's summary in the session's language, whole sentences."""
    return lead_summary(row, rule_names=rule_names_zh())


def lead_picker(key: str, label: str | None = None) -> str | None:
    """A select box of the leads the caller may see (ranked); remembers the choice across pages."""
    leads = data.layer().lead_queue(limit=500)
    if leads.empty and data.caller().policy.referred_only:
        st.info(tr("尚无移送公安的线索。", "No lead has been referred to the police yet."))
        return None
    if leads.empty:
        st.info(tr("没有可查看的线索：尚未运行检测（`ringscope detect`），或您的辖区内没有线索。",
                   "No leads you may see: detection has not run (`ringscope detect`), or none is in your scope."))
        return None
    ids = leads["lead_id"].astype(str).tolist()
    desc = dict(zip(ids, [f"{scheme(s)} · {tr('评分', 'score')} {float(sc):.2f} · {wan(a)}"
                          for s, sc, a in zip(leads["scheme"], leads["score"], leads["amount_at_risk"])]))
    current = st.session_state.get("lead_id")
    index = ids.index(current) if current in ids else 0
    choice = st.selectbox(label or tr("线索", "Lead"), ids, index=index, key=key,
                          format_func=lambda i: f"{i} — {desc.get(i, '')}")
    st.session_state["lead_id"] = choice
    return choice


def table(df: pd.DataFrame, key: str, *, select: bool = False, height: int | None = None,
          column_config: dict | None = None, hide: tuple[str, ...] = ()):
    """A labelled table (readable headers, coded values in words); ``select``: single-row selection."""
    shown = label_frame(df.drop(columns=[c for c in hide if c in df.columns]))
    kw = dict(hide_index=True, key=key, column_config=column_config or None)
    if height:
        kw["height"] = height
    if select:
        return st.dataframe(shown, on_select="rerun", selection_mode="single-row", **kw)
    return st.dataframe(shown, **kw)


def csv_button(df: pd.DataFrame, *, page: str, entity: str, file_name: str, key: str) -> None:
    """Download what the table shows as CSV; the export is logged by the data layer when clicked."""
    lay = data.layer()
    shown = label_frame(df)
    st.download_button(tr("导出 CSV", "Export CSV"), data=lambda: lay.export_csv(shown, page=page, entity=entity),
                       file_name=file_name, mime="text/csv", key=key, icon=":material/download:")


def show_cypher(names: list[str], params: dict) -> None:
    """The Cypher files behind a view, with their parameters (``name``: a file of ``cypher/app/``;
    ``group/name``: of another group)."""
    with st.expander(tr("复现本页数据的 Cypher 查询", "Cypher that reproduces this view"), expanded=False):
        st.caption(tr("可在 Neo4j Browser 或 cypher-shell 中以这些参数运行（`:param` / `--param`）。",
                      "Run in Neo4j Browser or cypher-shell with these parameters (`:param` / `--param`)."))
        st.json(params)
        for n in names:
            path = n if "/" in n else f"app/{n}"
            st.markdown(f"`cypher/{path}.cypher`")
            st.code(cypher(path), language="cypher")


__all__ += ["rule_label"]
