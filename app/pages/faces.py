"""人脸比对 Faces: a capture next to the enrolment it was compared with, and the distance.

Images are shown when the dataset had image files (paths resolved against
``$RINGSCOPE_DATASET``); otherwise the comparison is by encoding only and the
page says so. Faces are pixelated, and names, ID numbers and birth dates
masked, by the data layer unless the role has clearance; every view is logged.
"""
from __future__ import annotations

import plotly.express as px
import streamlit as st

from ringscope.app import data
from ringscope.app.i18n import tr, value
from ringscope.app.ui import NO_IMAGE_EXPORT, csv_button, table

PAGE = "faces"
PAGE_SIZE = 50
MATCH_THRESHOLD = 0.6  # face_recognition's customary tolerance

st.title(tr("人脸比对", "Faces"))
lay = data.layer()
summary = lay.faces_summary()
if summary.empty:
    st.info(tr("该数据集没有人脸抓拍（数据规范中为可选表）。",
               "This dataset has no face captures (the table is optional in the data contract)."))
    st.stop()

cols = st.columns(len(summary))
for col_, (_, r) in zip(cols, summary.iterrows()):
    col_.metric(str(value("verdict", r["verdict"])), f"{int(r['n_captures']):,}")

verdicts_all = summary["verdict"].tolist()
c = st.columns(5)
default = [v for v in ("mismatch",) if v in verdicts_all]
verdicts = c[0].multiselect(tr("比对结论", "Verdict"), verdicts_all, default=default, key="fc_verdicts",
                            format_func=lambda v: value("verdict", v))
inst = c[1].text_input(tr("机构编码", "Institution id"), key="fc_inst").strip() or None
person = c[2].text_input(tr("参保人编号（刷卡或底库）", "Person id (claimed or enrolled)"), key="fc_person").strip() or None
face = c[3].text_input(tr("人脸身份", "Face identity"), key="fc_face").strip() or None
min_d = c[4].number_input(tr("最小特征距离", "Min distance"), 0.0, 2.0, 0.0, 0.05, key="fc_min_d")
page_no = st.number_input(tr("页码", "Page"), 1, value=1, step=1, key="fc_page")
params = dict(verdicts=verdicts, institution_id=inst, person_id=person, face_id=face,
              min_distance=float(min_d), skip=(int(page_no) - 1) * PAGE_SIZE, limit=PAGE_SIZE)
caps = lay.faces_captures(page=PAGE, **params)
if caps.empty:
    st.info(tr("没有符合条件的抓拍。", "No captures match these filters."))
    st.stop()

ev = table(caps, "fc_table", select=True, hide=("capture_image", "claimed_enrollment_image"),
           column_config=None)
csv_button(caps.drop(columns=["capture_image", "claimed_enrollment_image"], errors="ignore"), page=PAGE,
           entity="face_captures", file_name="face_captures.csv", key="fc_csv")
rows = ev.selection.rows if ev is not None and hasattr(ev, "selection") else []
cap = caps.iloc[rows[0] if rows else 0]

st.divider()
st.subheader(f"{tr('抓拍', 'Capture')} {cap['capture_id']} · {value('verdict', cap['verdict'])}")
dist = cap["distance"]
has_d = dist is not None and dist == dist
st.markdown(tr(f"与刷卡参保人底库的特征距离：**{dist:.3f}**", f"Distance to the claimed person's enrolment: **{dist:.3f}**")
            if has_d else tr("无底库可比对。", "No enrolment to compare with."))
if has_d:
    st.progress(min(float(dist) / 1.2, 1.0),
                text=(tr("同一人", "same person") if dist < MATCH_THRESHOLD else tr("不是同一人", "different person"))
                + tr(f"（阈值 {MATCH_THRESHOLD}）", f" (threshold {MATCH_THRESHOLD})"))

base = data.dataset_dir()
left, right = st.columns(2)
for col_, title, path, who, name in (
    (left, tr("现场抓拍", "Capture"), cap.get("capture_image"),
     f"{tr('人脸身份', 'face identity')} {cap.get('face_id') or '—'}", cap.get("enrolled_name")),
    (right, tr("底库照片", "Enrolment"), cap.get("claimed_enrollment_image"),
     f"{tr('刷卡参保人', 'claimed person')} {cap.get('claimed_person_id') or '—'}", cap.get("claimed_name")),
):
    with col_:
        st.markdown(f"**{title}** · {who}" + (f" · {name}" if isinstance(name, str) else ""))
        img = lay.face_image(path, base, page=PAGE, entity=f"capture:{cap['capture_id']}")
        if img is None:
            st.caption(tr("数据集中无此照片（按 128 维特征比对）。", "No image in the dataset for this side (compared by 128-d encoding)."))
        else:
            st.image(img, width=260, caption=None if lay.pol.clear_faces else tr("已脱敏（角色无权查看人脸）",
                                                                                 "masked (role without clearance)"))

if cap.get("face_id"):
    same = lay.faces_captures(page=PAGE, face_id=cap["face_id"], limit=500)
    creds = same["claimed_person_id"].dropna().unique()
    st.markdown(tr(f"**该人脸在 {len(same)} 次抓拍中使用了 {len(creds)} 个凭证**",
                   f"**This face presented {len(creds)} credential(s) in {len(same)} captures**"))
    if len(same):
        fig = px.scatter(same.assign(verdict=same["verdict"].map(lambda v: value("verdict", v))), x="capture_time", y="claimed_person_id",
                         color="verdict", height=260, labels={"capture_time": tr("抓拍时间", "time"),
                                                              "claimed_person_id": tr("刷卡参保人", "claimed person"),
                                                              "verdict": tr("结论", "verdict")})
        st.plotly_chart(fig, key="fc_same_face", config=NO_IMAGE_EXPORT)
