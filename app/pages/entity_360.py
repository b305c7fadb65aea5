"""Entity 360: one person, physician or institution from every side.

Profile, risk score and its explanation, rule hits, settlement neighbours,
family / face / lead ties, monthly history; for physicians the credit file
(医保医师记分) and for institutions the credit rating (信用评价, grades A–D,
blacklist), both computed from findings by :mod:`ringscope.app.credit`.
"""
from __future__ import annotations

import json

import pandas as pd
import plotly.express as px
import streamlit as st

from ringscope.app import data
from ringscope.app.access import policy
from ringscope.app.credit import institution_credit, physician_credit
from ringscope.app.ui import goto_entity, goto_lead, money, show_cypher

PAGE = "entity_360"
TYPES = ("person", "physician", "institution")

st.title("Entity 360 实体画像")
pol = policy(data.current_role())

cur_type, cur_id = st.session_state.get("entity", ("person", None))
c1, c2, c3 = st.columns([1, 2, 3])
etype = c1.radio("Type", TYPES, index=TYPES.index(cur_type) if cur_type in TYPES else 0, key="e360_type")
q = c2.text_input("Search (id prefix" + (" or name" if pol.clear_names else "") + ")", key="e360_q").strip()
found = data.read("entity_search", entity_type=etype, q=q, by_name=bool(pol.clear_names), limit=200)
if found.empty and cur_id is None:
    st.info(f"No {etype} matches {q!r}.")
    st.stop()
ids = found["entity_id"].astype(str).tolist() if len(found) else []
if cur_id is not None and etype == cur_type and cur_id not in ids:
    ids = [cur_id] + ids
labels = dict(zip(found["entity_id"].astype(str), found["risk_score"])) if len(found) else {}
index = ids.index(cur_id) if cur_id in ids and etype == cur_type else 0
eid = c3.selectbox("Entity (riskiest first)", ids, index=index, key=f"e360_pick_{etype}",
                   format_func=lambda i: f"{i} · risk {labels[i]:.2f}" if pd.notna(labels.get(i)) else i)
st.session_state["entity"] = (etype, eid)

prof = data.read_one("entity_profile", entity_type=etype, entity_id=eid)
if prof is None:
    st.warning(f"No {etype} {eid} in the database.")
    st.stop()
props = {k: v for k, v in (prof["props"] or {}).items()}
pframe = pd.DataFrame([props])
shown = data.show_personal(pframe, page=PAGE, entity=f"{etype}:{eid}") if etype == "person" else pframe
sp = shown.iloc[0].to_dict()

st.subheader(f"{etype} {eid}" + (f" · {sp.get('name')}" if sp.get("name") else ""))
k = st.columns(5)
risk = props.get("risk_score")
k[0].metric("Risk score", f"{float(risk):.2f}" if risk is not None and pd.notna(risk) else "—")
k[1].metric("Settlements", int(prof["n_visits"]))
k[2].metric("Rule hits against", int(prof["n_rule_hits"]))
k[3].metric("Leads", len(prof["lead_ids"] or []))
k[4].metric("Closed cases", len(prof["cases"] or []))
if props.get("risk_reasons"):
    reasons = props["risk_reasons"]
    reasons = reasons if isinstance(reasons, (list, tuple)) else str(reasons).split(";")
    st.markdown("**Why this score** · " + " · ".join(f"`{r.strip()}`" for r in reasons if str(r).strip()))
with st.expander("Profile", expanded=True):
    st.dataframe(shown.T.rename(columns={0: "value"}).astype(str), key="e360_profile")
if prof["lead_ids"]:
    lc = st.columns(min(len(prof["lead_ids"]), 6))
    for i, lid in enumerate(prof["lead_ids"][:6]):
        if lc[i].button(f"Lead {lid}", key=f"e360_lead_{lid}"):
            goto_lead(lid)

tabs = ["Rule hits", "Neighbours", "Ties", "History", "Model"] + (["Credit"] if etype != "person" else [])
t = st.tabs(tabs)
with t[0]:
    hits = data.read("entity_rule_hits", entity_type=etype, entity_id=eid, limit=1000)
    if hits.empty:
        st.caption("No rule hits against this entity.")
    else:
        st.caption(f"{len(hits)} hits · {money(hits['amount_at_risk'].sum())} at risk")
        st.dataframe(hits, hide_index=True, key="e360_hits")
with t[1]:
    nb = data.read("entity_neighbours", entity_type=etype, entity_id=eid, limit=200)
    if nb.empty:
        st.caption("No settlements.")
    else:
        nbs = data.show_personal(nb, page=PAGE, entity=f"{etype}:{eid}:neighbours", person_only_col="entity_type")
        ev = st.dataframe(nbs, hide_index=True, key="e360_nb", on_select="rerun", selection_mode="single-row")
        rows = ev.selection.rows if ev is not None and hasattr(ev, "selection") else []
        if rows and st.button("Open selected neighbour", key="e360_nb_go"):
            r = nb.iloc[rows[0]]
            goto_entity(r["entity_type"], r["entity_id"])
with t[2]:
    links = data.read("entity_links", entity_type=etype, entity_id=eid, limit=500)
    if links.empty:
        st.caption("No family, face or lead ties.")
    else:
        links = links.rename(columns={"other_name": "name"})
        person_rows = links["other_type"].eq("person") | links["other_type"].eq("face")
        shown_links = data.show_personal(links.assign(kind=links["other_type"].where(~person_rows, "person")),
                                         page=PAGE, entity=f"{etype}:{eid}:ties", person_only_col="kind")
        st.dataframe(shown_links.drop(columns=["kind"]), hide_index=True, key="e360_links")
with t[3]:
    hist = data.read("entity_history", entity_type=etype, entity_id=eid)
    if hist.empty:
        st.caption("No settlements.")
    else:
        fig = px.bar(hist, x="month", y="amount", color="n_rule_hits", height=300,
                     labels={"amount": "billed (CNY)", "n_rule_hits": "rule hits"})
        st.plotly_chart(fig, key="e360_hist_chart")
        st.dataframe(hist, hide_index=True, key="e360_hist")
    if prof["cases"]:
        st.markdown("**Closed cases 已结案件**")
        st.dataframe(pd.DataFrame(prof["cases"]), hide_index=True, key="e360_cases")
with t[4]:
    expl = data.read("entity_explanations", entity_type=etype, entity_id=eid)
    if expl.empty:
        st.caption("No learned-model explanation for this entity (the models explain the members of the top "
                   "leads and the highest scores of each type, when detection ran with them).")
    for r in expl.itertuples(index=False):
        score = f"{float(r.score):.3f}" if r.score is not None and pd.notna(r.score) else "—"
        st.markdown(f"**{r.model}** · model score {score} · _{r.method}_")
        feats = pd.DataFrame(json.loads(r.features or "[]"))
        nbrs = pd.DataFrame(json.loads(r.neighbours or "[]"))
        a, b = st.columns(2)
        a.caption("Features that drove the score")
        a.dataframe(feats, hide_index=True, key=f"e360_expl_feat_{r.model}")
        b.caption("Neighbouring entities that drove it")
        if nbrs.empty:
            b.caption("none")
        else:
            ev = b.dataframe(nbrs, hide_index=True, key=f"e360_expl_nb_{r.model}", on_select="rerun",
                             selection_mode="single-row")
            rows = ev.selection.rows if ev is not None and hasattr(ev, "selection") else []
            if rows and st.button("Open selected neighbour", key=f"e360_expl_go_{r.model}"):
                pick = nbrs.iloc[rows[0]]
                goto_entity(pick["entity_type"], pick["entity_id"])
if etype != "person":
    with t[5]:
        inputs = data.read("credit_inputs", entity_type=etype, entity_id=eid)
        register = data.read("credit_inputs", entity_type=etype, entity_id=None)
        if etype == "physician":
            cf = physician_credit(inputs).iloc[0]
            a, b, c = st.columns(3)
            a.metric("Points 记分", int(cf["points"]))
            b.metric("Payment qualification", cf["qualification"])
            c.metric("Hits high/medium/low", f"{cf['hits_high']}/{cf['hits_medium']}/{cf['hits_low']}")
            st.caption("Points: low hit 1, medium 2, high 3; a confirmed lead or closed fraud case 12. "
                       "9–11 suspend, 12 terminate the physician's insurance payment qualification "
                       "(modelled on 医保发〔2024〕23号).")
            reg = physician_credit(register)
            st.markdown("**Credit register of all physicians (most points first)**")
            st.dataframe(reg[["entity_id", "name", "institution_id", "points", "qualification", "hits_high",
                              "hits_medium", "hits_low", "hits_amount", "risk_score"]].head(200),
                         hide_index=True, key="e360_register")
        else:
            cf = institution_credit(inputs).iloc[0]
            a, b, c, d = st.columns(4)
            a.metric("Credit score", int(cf["credit_score"]))
            b.metric("Grade 信用等级", cf["grade"])
            c.metric("Blacklist 黑名单", "YES" if cf["blacklisted"] else "no")
            d.metric("Share of billing at risk", f"{100 * cf['share_at_risk']:.1f}%")
            st.caption("1,000 points less deductions for rule hits, money at risk, open and confirmed leads; "
                       "A ≥ 900, B ≥ 800, C ≥ 650, D below; blacklisted on a confirmed lead, a closed fraud "
                       "case or a police referral.")
            reg = institution_credit(register)
            st.markdown("**Credit rating of all institutions (worst first)**")
            st.dataframe(reg[["entity_id", "name", "kind", "district", "credit_score", "grade", "blacklisted",
                              "hits_high", "hits_medium", "hits_low", "share_at_risk", "n_open_leads"]],
                         hide_index=True, key="e360_register")

show_cypher(["entity_profile", "entity_rule_hits", "entity_neighbours", "entity_links", "entity_history",
             "entity_explanations", "credit_inputs"], {"entity_type": etype, "entity_id": eid})
