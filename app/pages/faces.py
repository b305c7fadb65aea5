"""Faces: a capture next to the enrolment it was compared with, and the distance.

Images are shown when the dataset had image files (paths resolved against
``$RINGSCOPE_DATASET``); otherwise the comparison is by encoding only and the
page says so. Faces are pixelated, and names and ID numbers masked, unless the
role has clearance; every view is logged.
"""
from __future__ import annotations

from pathlib import Path

import plotly.express as px
import streamlit as st

from ringscope.app import data
from ringscope.app.access import pixelate_image, policy

PAGE = "faces"
PAGE_SIZE = 50
MATCH_THRESHOLD = 0.6  # face_recognition's customary tolerance

st.title("Faces 人脸比对")
summary = data.read("faces_summary")
if summary.empty:
    st.info("This dataset has no face captures (the table is optional in the data contract).")
    st.stop()

cols = st.columns(len(summary))
for col, (_, r) in zip(cols, summary.iterrows()):
    col.metric(str(r["verdict"]), int(r["n_captures"]))

verdicts_all = summary["verdict"].tolist()
c = st.columns(5)
default = [v for v in ("mismatch",) if v in verdicts_all]
verdicts = c[0].multiselect("Verdict", verdicts_all, default=default, key="fc_verdicts")
inst = c[1].text_input("Institution id", key="fc_inst").strip() or None
person = c[2].text_input("Person id (claimed or enrolled)", key="fc_person").strip() or None
face = c[3].text_input("Face identity", key="fc_face").strip() or None
min_d = c[4].number_input("Min distance", 0.0, 2.0, 0.0, 0.05, key="fc_min_d")
page_no = st.number_input("Page", 1, value=1, step=1, key="fc_page")
params = dict(verdicts=verdicts, institution_id=inst, person_id=person, face_id=face,
              min_distance=float(min_d), skip=(int(page_no) - 1) * PAGE_SIZE, limit=PAGE_SIZE)
caps = data.read("faces_captures", **params)
if caps.empty:
    st.info("No captures match these filters.")
    st.stop()

pol = policy(data.current_role())
shown = data.show_personal(caps, page=PAGE, entity="face_captures")
ev = st.dataframe(shown, hide_index=True, key="fc_table", on_select="rerun", selection_mode="single-row",
                  column_config={"distance": st.column_config.NumberColumn(format="%.3f")})
rows = ev.selection.rows if ev is not None and hasattr(ev, "selection") else []
i = rows[0] if rows else 0
cap = caps.iloc[i]
scap = shown.iloc[i]

st.divider()
st.subheader(f"Capture {cap['capture_id']} · {cap['verdict']}")
dist = cap["distance"]
st.markdown(
    f"Distance to the claimed person's enrolment: **{dist:.3f}**" if dist == dist and dist is not None
    else "No enrolment to compare with.")
if dist == dist and dist is not None:
    st.progress(min(float(dist) / 1.2, 1.0),
                text=f"{'same person' if dist < MATCH_THRESHOLD else 'different person'} "
                     f"(threshold {MATCH_THRESHOLD})")


def _image(rel: object) -> bytes | None:
    if rel is None or rel != rel:
        return None
    base = data.dataset_dir()
    p = Path(str(rel))
    if not p.is_absolute() and base is not None:
        p = base / p
    return p.read_bytes() if p.is_file() else None


left, right = st.columns(2)
shown_face = False
for col, title, path, who, name in (
    (left, "Capture 抓拍", cap.get("capture_image"), f"face identity {cap.get('face_id') or '—'}",
     scap.get("enrolled_name")),
    (right, "Enrolment 底库", cap.get("claimed_enrollment_image"),
     f"claimed person {cap.get('claimed_person_id') or '—'}", scap.get("claimed_name")),
):
    with col:
        st.markdown(f"**{title}** · {who}" + (f" · {name}" if isinstance(name, str) else ""))
        img = _image(path)
        if img is None:
            st.caption("No image in the dataset for this side (compared by 128-d encoding).")
        else:
            shown_face = True
            st.image(img if pol.clear_faces else pixelate_image(img), width=260,
                     caption=None if pol.clear_faces else "masked (role without clearance)")
if shown_face:
    data.log_view(PAGE, f"capture:{cap['capture_id']}", [], faces=True)

if cap.get("face_id"):
    same = data.read("faces_captures", verdicts=[], institution_id=None, person_id=None,
                     face_id=cap["face_id"], min_distance=0.0, skip=0, limit=500)
    creds = same["claimed_person_id"].dropna().unique()
    st.markdown(f"**This face presented {len(creds)} credential(s) in {len(same)} captures**")
    if len(same):
        st.plotly_chart(px.scatter(same, x="capture_time", y="claimed_person_id", color="verdict", height=260),
                        key="fc_same_face")
