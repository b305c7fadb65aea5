"""Face pipeline: real ``face_recognition`` on the real photos, and synthetic
encodings at scale (clustering, verification, threshold choice, detector)."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from ringscope.settings import SHARED_DIR
from ringscope.graph import faces as F
from ringscope.ingest import images as IMG
from ringscope.models.detectors import face_match as DET
from ringscope.models.base import Context

FACES = SHARED_DIR / "data" / "faces"
needs_photos = pytest.mark.skipif(not FACES.is_dir(), reason=f"real face photos not found at {FACES}")


# --------------------------------------------------------------------------- real photos
@pytest.fixture(scope="module")
def enc() -> dict[str, list[np.ndarray]]:
    """Encodings of the real photos used below, computed once."""
    if not FACES.is_dir():
        pytest.skip(f"real face photos not found at {FACES}")
    names = ["test_images/obama.jpg", "test_images/obama2.jpg", "test_images/obama3.jpg",
             "test_images/biden.jpg", "test_images/32bit.png", "two_people.jpg"]
    names += sorted(str(p.relative_to(FACES)) for p in (FACES / "knn_examples" / "train").rglob("*")
                    if p.is_file())
    return {n: IMG.encode_image_file(FACES / n) for n in dict.fromkeys(names)}


def _d(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b))


@needs_photos
def test_encodings_are_float32_128(enc):
    for name in ["test_images/obama.jpg", "test_images/biden.jpg"]:
        (e,) = enc[name]
        assert e.dtype == np.float32 and e.shape == (128,)


@needs_photos
def test_same_person_matches_and_different_does_not(enc):
    o1, o2, o3 = (enc[f"test_images/{n}"][0] for n in ("obama.jpg", "obama2.jpg", "obama3.jpg"))
    (b,) = enc["test_images/biden.jpg"]
    for x, y in [(o1, o2), (o1, o3), (o2, o3)]:
        assert _d(x, y) <= F.DEFAULT_THRESHOLD - 0.1
    for o in (o1, o2, o3):
        assert _d(o, b) > F.DEFAULT_THRESHOLD + 0.1


@needs_photos
def test_two_people_gives_two_encodings(enc):
    faces = enc["two_people.jpg"]
    assert len(faces) == 2
    assert _d(*faces) > F.DEFAULT_THRESHOLD
    # left to right: the two are Obama and Biden, in some order
    o, b = enc["test_images/obama3.jpg"][0], enc["test_images/biden.jpg"][0]
    best = sorted(min(_d(f, o), _d(f, b)) for f in faces)
    assert best[-1] < 0.5


@needs_photos
def test_png_with_alpha_handled(enc):
    from PIL import Image

    with Image.open(FACES / "test_images/32bit.png") as im:
        assert im.mode == "RGBA"
    rgb = IMG.load_rgb(FACES / "test_images/32bit.png")
    assert rgb.dtype == np.uint8 and rgb.shape[2] == 3
    (e,) = enc["test_images/32bit.png"]
    assert _d(e, enc["test_images/obama2.jpg"][0]) < 0.1     # the same picture as a JPEG


@needs_photos
def test_exif_orientation_is_applied(tmp_path):
    from PIL import Image

    with Image.open(FACES / "test_images/obama2.jpg") as im:
        side = im.rotate(90, expand=True)           # pixels stored sideways ...
    exif = Image.Exif()
    exif[0x0112] = 6                                # ... and EXIF says "rotate 90 CW to view"
    p = tmp_path / "sideways.jpg"
    side.save(p, exif=exif, quality=95)
    (e,) = IMG.encode_image_file(p)
    assert _d(e, IMG.encode_image_file(FACES / "test_images/obama2.jpg")[0]) < 0.15


def test_unreadable_files_raise_face_image_error(tmp_path):
    txt = tmp_path / "notes.jpg"
    txt.write_text("not an image")
    with pytest.raises(IMG.FaceImageError, match="notes.jpg"):
        IMG.encode_image_file(txt)
    with pytest.raises(IMG.FaceImageError, match="no such image"):
        IMG.encode_image_file(tmp_path / "missing.png")
    if FACES.is_dir():
        cut = tmp_path / "truncated.jpg"
        cut.write_bytes((FACES / "test_images/biden.jpg").read_bytes()[:300])
        with pytest.raises(IMG.FaceImageError):
            IMG.encode_image_file(cut)
        lic = tmp_path / "license.png"
        shutil.copy(FACES / "LICENSE.face_recognition.txt", lic)
        with pytest.raises(IMG.FaceImageError):
            IMG.encode_image_file(lic)


def test_image_without_face_gives_no_encoding(tmp_path):
    from PIL import Image

    p = tmp_path / "wall.png"
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((300, 400, 3)) * 40 + 100).astype(np.uint8)).save(p)
    assert IMG.encode_image_file(p) == []


@needs_photos
def test_knn_train_folders_cluster_into_people(enc):
    rows = [(n.split("/")[2], e) for n, es in enc.items() if n.startswith("knn_examples/train/") for e in es]
    people = [p for p, _ in rows]
    X = np.stack([e for _, e in rows])
    labels = F.cluster_faces(X, F.DEFAULT_CLUSTER_THRESHOLD)
    assert len(set(people)) == 5
    assert adjusted_rand_score(people, labels) == 1.0


@needs_photos
def test_real_photo_verification_with_chosen_threshold(enc):
    train = {n.split("/")[2]: es[0] for n, es in sorted(enc.items(), reverse=True)
             if n.startswith("knn_examples/train/")}          # one enrolment per person
    enrol = pd.DataFrame({"person_id": list(train), "encoding": list(train.values())})
    o3, b = enc["test_images/obama3.jpg"][0], enc["test_images/biden.jpg"][0]
    o2 = enc["test_images/obama2.jpg"][0]
    caps = pd.DataFrame({
        "capture_id": ["c1", "c2", "c3", "c4"],
        "institution_id": "H1", "location": "settlement",
        "capture_time": pd.to_datetime(["2024-01-01T09:00"] * 4),
        "encoding": [o3, o2, b, o3],
        "claimed_person_id": ["obama", "obama", "obama", "biden"],
    })
    choice = F.choose_threshold(caps, enrol, min_samples=3)
    assert F.THRESHOLD_BOUNDS[0] <= choice.threshold <= F.THRESHOLD_BOUNDS[1]
    for t in (choice.threshold, F.DEFAULT_THRESHOLD):
        v = F.verify_captures(caps, enrol, threshold=t)
        assert v["verdict"].tolist() == ["match", "match", "mismatch", "mismatch"]


# --------------------------------------------------------------------------- synthetic
def synth(n_id: int, n: int, seed: int = 0, noise: float = 0.025, spread: float = 0.056):
    """dlib-like geometry: same person ~0.4 apart, different people ~0.85."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, spread, (n_id, 128)).astype(np.float32)
    lab = rng.integers(0, n_id, n)
    quality = rng.lognormal(0, 0.15, n)[:, None]
    X = (centres[lab] + rng.normal(0, noise, (n, 128)) * quality).astype(np.float32)
    return X, lab, centres


def test_cluster_50k_encodings_ann_path():
    X, lab, _ = synth(5000, 50000)
    t = time.perf_counter()
    labels, info = F.cluster_faces(X, 0.5, return_graph=True)      # 50k > exact_below: HNSW
    elapsed = time.perf_counter() - t
    assert adjusted_rand_score(lab, labels) > 0.95
    assert 4500 <= labels.max() + 1 <= 6000
    assert info["kept_edges"] > 0
    assert elapsed < 240, f"clustering took {elapsed:.0f}s"


def test_large_identity_not_fragmented():
    X, lab, _ = synth(10, 3000, seed=1)                              # ~300 captures per person
    labels = F.cluster_faces(X, 0.5)
    assert adjusted_rand_score(lab, labels) > 0.98


@pytest.mark.parametrize("touch", [1, "all"])
def test_bad_capture_does_not_chain_two_people(touch):
    rng = np.random.default_rng(3)
    a = rng.normal(0, 0.056, 128)
    u = rng.normal(0, 1, 128)
    b = a + 0.75 * u / np.linalg.norm(u)                              # two people 0.75 apart
    A = a + rng.normal(0, 0.02, (6, 128))
    B = b + rng.normal(0, 0.02, (6, 128))
    x = (A[0] + B[0]) / 2 if touch == 1 else (a + b) / 2             # a capture between them
    X = np.vstack([A, B, x]).astype(np.float32)
    assert np.linalg.norm(X[:-1] - x, axis=1).min() <= 0.5
    labels = F.cluster_faces(X, 0.5)
    assert len(set(labels[:6])) == 1 and len(set(labels[6:12])) == 1
    assert labels[0] != labels[6]
    # without the guards, plain components of the k-NN graph chain them
    plain = F.cluster_faces(X, 0.5, min_shared=0.0, refine=False)
    assert plain[0] == plain[6]


def _world(seed: int = 0, n_person: int = 400, n_caps: int = 2000, impostor_rate: float = 0.05):
    rng = np.random.default_rng(seed + 1000)          # independent of synth's stream
    X, lab, centres = synth(n_person, n_caps, seed)
    persons = np.array([f"P{i:04d}" for i in range(n_person)], dtype=object)
    enrol = pd.DataFrame({"person_id": persons,
                          "encoding": list((centres + rng.normal(0, 0.025, centres.shape)).astype(np.float32))})
    claimed = persons[lab].copy()
    lend = rng.random(n_caps) < impostor_rate
    claimed[lend] = persons[(lab[lend] + 1 + rng.integers(0, n_person - 1, lend.sum())) % n_person]
    caps = pd.DataFrame({"capture_id": [f"C{i:05d}" for i in range(n_caps)], "institution_id": "H1",
                         "location": "settlement",
                         "capture_time": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n_caps), "min"),
                         "encoding": list(X), "visit_id": None, "claimed_person_id": claimed})
    return caps, enrol, lend


def test_choose_threshold_separates_genuine_from_impostors():
    caps, enrol, lend = _world()
    ch = F.choose_threshold(caps, enrol)
    assert ch.method == "mixture"
    assert F.THRESHOLD_BOUNDS[0] <= ch.threshold <= F.THRESHOLD_BOUNDS[1]
    assert 0.90 <= ch.genuine_weight <= 0.99                         # ~5 % lent cards
    assert ch.far < 0.01 and ch.frr < 0.01
    v = F.verify_captures(caps, enrol, threshold=ch.threshold)
    assert ((v["verdict"] == "mismatch").to_numpy() == lend).mean() > 0.99
    assert v.attrs["threshold"] == ch.threshold
    small = F.choose_threshold(caps.head(5), enrol.head(5))
    assert small.method == "default" and small.threshold == F.DEFAULT_THRESHOLD
    assert "| threshold |" in ch.markdown()


def _family_case():
    rng = np.random.default_rng(7)
    C = rng.normal(0, 0.056, (8, 128)).astype(np.float32)
    face = lambda i: (C[i] + rng.normal(0, 0.02, 128)).astype(np.float32)  # noqa: E731
    enrol = pd.DataFrame({"person_id": ["P0", "P1", "P2", "P3", "P4", "P5", "P7"],
                          "encoding": [face(i) for i in (0, 1, 2, 3, 4, 5, 7)]})
    links = pd.DataFrame({"person_id": ["P2", "P6"], "related_person_id": ["P1", "P7"],
                          "relation": ["proxy", "child"]})
    caps = pd.DataFrame({
        "capture_id": [f"c{i}" for i in range(7)],
        "institution_id": ["H1"] * 7,
        "location": ["settlement"] * 6 + ["entrance"],
        "capture_time": pd.to_datetime(["2024-02-01T10:00"] * 7),
        "encoding": [face(0), face(2), face(5), face(4), face(7), None, face(3)],
        "visit_id": ["V0", "V1", "V2", "V3", "V4", "V5", None],
        #             own  proxy(P2 for P1, link stored reversed)  lent  lent  carer of P6 no-enc  no claim
        "claimed_person_id": ["P0", "P1", "P3", "P3", "P6", "P0", None],
    })
    return caps, enrol, links


def test_verify_captures_verdicts_with_family_links():
    caps, enrol, links = _family_case()
    v = F.verify_captures(caps, enrol, links, threshold=0.6)
    assert list(v.columns) == F.VERIFY_COLUMNS
    assert v["verdict"].tolist() == ["match", "related", "mismatch", "mismatch", "related",
                                     "no_encoding", "no_claim"]
    assert v.loc[1, "related_person_id"] == "P2" and v.loc[1, "related_distance"] < 0.6
    assert v.loc[4, "related_person_id"] == "P7"          # P6 not enrolled, carer P7 is
    assert v.loc[0, "distance"] < 0.6 < v.loc[2, "distance"]
    assert pd.isna(v.loc[2, "related_person_id"])
    # without the links the proxy and the carer are mismatches / not enrolled
    v2 = F.verify_captures(caps, enrol, None, threshold=0.6)
    assert v2["verdict"].tolist()[:5] == ["match", "mismatch", "mismatch", "mismatch", "no_enrollment"]


def test_face_identities_unknown_face_with_many_credentials():
    rng = np.random.default_rng(11)
    C = rng.normal(0, 0.056, (6, 128)).astype(np.float32)
    face = lambda i: (C[i] + rng.normal(0, 0.02, 128)).astype(np.float32)  # noqa: E731
    enrol = pd.DataFrame({"person_id": [f"P{i}" for i in range(5)], "encoding": [face(i) for i in range(5)]})
    # face 5 (not enrolled) presents P0..P4's cards; each person also comes once themselves
    who = [5, 5, 5, 5, 5, 5, 0, 1, 2, 3, 4]
    cred = ["P0", "P1", "P2", "P3", "P4", "P0", "P0", "P1", "P2", "P3", "P4"]
    caps = pd.DataFrame({"capture_id": [f"K{i:03d}" for i in range(len(who))],
                         "institution_id": ["H1", "H2", "H3", "H1", "H2", "H1", "H1", "H1", "H2", "H2", "H3"],
                         "location": "settlement",
                         "capture_time": pd.Timestamp("2024-03-01") + pd.to_timedelta(range(len(who)), "h"),
                         "encoding": [face(i) for i in who], "visit_id": [f"V{i}" for i in range(len(who))],
                         "claimed_person_id": cred})
    cf, ident = F.face_identities(caps, enrol, 0.5)
    assert list(ident.columns) == F.IDENTITY_COLUMNS
    assert len(cf) == len(caps) and len(ident) == 6
    unknown = ident[ident["n_credentials"] == 5]
    assert len(unknown) == 1
    u = unknown.iloc[0]
    assert u["n_captures"] == 6 and u["enrolled_person_id"] is None
    assert u["credentials"] == ("P0", "P1", "P2", "P3", "P4") and u["institutions"] == ("H1", "H2", "H3")
    assert u["face_id"] == F.face_id_of("K000")
    assert set(ident.loc[ident["n_captures"] == 1, "enrolled_person_id"]) == {"P0", "P1", "P2", "P3", "P4"}
    # stable for the same data in another order
    cf2, ident2 = F.face_identities(caps.sample(frac=1, random_state=1), enrol.iloc[::-1], 0.5)
    assert cf.sort_values("capture_id").reset_index(drop=True).equals(
        cf2.sort_values("capture_id").reset_index(drop=True))

    # verification first (anchoring): the same identities, the holders' own captures joined to
    # their enrolments without the k-NN step, the unknown face still one identity of 5 credentials
    cfa, identa = F.face_identities(caps, enrol, 0.5, anchor_threshold=0.6)
    assert cfa.sort_values("capture_id").reset_index(drop=True).equals(cf.sort_values("capture_id").reset_index(drop=True))
    assert identa.sort_values("face_id").reset_index(drop=True).equals(ident.sort_values("face_id").reset_index(drop=True))

    # the detector: one card_lending group, the lent credentials scored
    visits = pd.DataFrame({"visit_id": caps["visit_id"], "total_amount": 100.0})
    ctx = Context(tables={"face_captures": caps, "face_enrollments": enrol, "visits": visits})
    det = DET.FaceMatchDetector(threshold=0.6).fit(ctx)
    assert len(det.groups_) == 1
    g = det.groups_[0]
    assert g.scheme == "card_lending" and g.amount_at_risk == 600.0
    assert {f"person:P{i}" for i in range(5)} | {"institution:H1", "institution:H2", "institution:H3"} == set(g.members)
    assert u["face_id"] in g.summary
    s = det.decision_scores_.set_index("entity_id")["score"]
    assert s["P0"] > s["P1"] > 0 and s.between(0, 1).all()


def test_detector_guardian_of_minors_and_grey_zone_not_lending():
    """A parent's (unenrolled) face presenting three children's credentials, and poor captures of
    adults in the grey zone just over the threshold, make no card-lending group; a stranger's face
    presenting three adults' credentials does."""
    rng = np.random.default_rng(5)
    C = rng.normal(0, 0.056, (10, 128)).astype(np.float32)
    face = lambda i, sd=0.02: (C[i] + rng.normal(0, sd, 128)).astype(np.float32)  # noqa: E731
    enrol = pd.DataFrame({"person_id": [f"P{i}" for i in range(9)], "encoding": [face(i) for i in range(9)]})
    born = ["2019-05-01", "2017-02-01", "2021-09-01"] + ["1970-01-01"] * 6
    persons = pd.DataFrame({"person_id": [f"P{i}" for i in range(9)], "birth_date": pd.to_datetime(born)})
    rows = []
    for k in range(6):                     # the parent (face 9) with the children P0-P2
        rows.append((9, f"P{k % 3}", 0.02))
    for k in range(6):                     # a stranger (face 8, enrolled as P8) with adults P3-P5
        rows.append((8, f"P{3 + k % 3}", 0.02))
    caps = pd.DataFrame({"capture_id": [f"K{i:03d}" for i in range(len(rows))], "institution_id": "H1",
                         "location": "settlement",
                         "capture_time": pd.Timestamp("2024-03-01") + pd.to_timedelta(range(len(rows)), "h"),
                         "encoding": [face(w, sd) for w, _, sd in rows], "visit_id": [f"V{i}" for i in range(len(rows))],
                         "claimed_person_id": [c for _, c, _ in rows]})
    ctx = Context(tables={"face_captures": caps, "face_enrollments": enrol, "persons": persons})
    det = DET.FaceMatchDetector(threshold=0.6).fit(ctx)
    m = det.matches_
    assert (m.loc[m["claimed_person_id"].isin(["P0", "P1", "P2"]), "strength"] == 0).all()
    assert (m.loc[m["claimed_person_id"].isin(["P3", "P4", "P5"]), "strength"] > 0.5).all()
    assert len(det.groups_) == 1
    assert {"person:P3", "person:P4", "person:P5", "person:P8"} <= set(det.groups_[0].members)
    assert not set(det.groups_[0].members) & {"person:P0", "person:P1", "person:P2"}
    # without the birth dates the children's credentials count like anyone's
    det2 = DET.FaceMatchDetector(threshold=0.6).fit(Context(tables={"face_captures": caps, "face_enrollments": enrol}))
    assert len(det2.groups_) == 2
    # grey zone: just over the threshold is barely evidence, a stranger's distance is full evidence
    assert 0.7 < det.threshold_.impostor_mean < 1.2
    ch = F.ThresholdChoice(0.6, "mixture", 100, 100, impostor_mean=det.threshold_.impostor_mean)
    st = F.impostor_strength([0.61, ch.impostor_mean + 0.1], ["mismatch", "mismatch"], ch)
    assert st[0] < 0.1 and st[1] == 1.0


def test_detector_family_confounder_not_flagged():
    caps, enrol, links = _family_case()
    ctx = Context(tables={"face_captures": caps, "face_enrollments": enrol, "family_links": links})
    det = DET.FaceMatchDetector(threshold=0.6).fit(ctx)
    flagged = set(det.decision_scores_["entity_id"])
    assert flagged == {"P3", "P4", "P5"}          # P3's card lent twice; P4, P5 borrowed it
    assert "P1" not in flagged and "P6" not in flagged
    assert det.groups_ == []                       # no face presented two foreign credentials
    assert set(det.matches_["face_id"].dropna()) <= set(det.identities_["face_id"])


def test_import_is_cheap():
    import subprocess
    import sys

    code = "import sys, ringscope.ingest.images, ringscope.graph.faces; print('face_recognition' in sys.modules or 'dlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
