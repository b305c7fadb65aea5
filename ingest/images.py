"""Face photos to encodings: the ``face_recognition`` library (dlib) on real images.

:func:`encode_image_file` -- a photo (JPEG/PNG/..., EXIF orientation applied,
alpha composited on white) -> one 128-d ``float32`` encoding per face, with the
real ``face_recognition`` library (dlib HOG detector + dlib ResNet face
descriptor, King 2009; the descriptor is the 29-layer ResNet of He et al. 2016
trained with a metric loss, 99.38 % on LFW). Detection runs without upsampling
(HOG window 80x80 px): upsampling finds false faces in textured backgrounds,
and a capture terminal's faces are large. Detections smaller than
``min_face_px`` or than ``min_face_frac`` of the largest face in the picture
(bystanders far behind) are dropped.

This is the ingest side of the face pipeline (the reader encodes
``image_path`` photos with it); verification and clustering of encodings are
analytics (:mod:`ringscope.graph.faces`). ``face_recognition`` (and dlib) is
imported lazily, inside the functions that need it, so importing this module
is cheap.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ENCODING_DIM", "FaceImageError", "load_rgb", "detect_faces", "encode_image_file"]

ENCODING_DIM = 128


class FaceImageError(ValueError):
    """An image file that cannot be read or decoded."""


# =========================================================================== images
def load_rgb(path: str | Path) -> np.ndarray:
    """Read an image as an ``uint8`` RGB array (H, W, 3).

    EXIF orientation is applied (phones store portrait shots rotated); an
    alpha channel is composited on white (a transparent PNG's hidden pixels
    are arbitrary); 16-bit and float grey images are rescaled to 8 bits.
    Raises :class:`FaceImageError` naming the file for anything unreadable.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise FaceImageError(f"{p}: no such image file")
    try:
        with Image.open(p) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            return _to_rgb_array(im)
    except FaceImageError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise FaceImageError(f"{p}: cannot read image ({type(e).__name__}: {e})") from e


def _to_rgb_array(im: Any) -> np.ndarray:
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        a = np.zeros_like(a) if hi <= lo else (a - lo) / (hi - lo) * 255.0
        im = Image.fromarray(a.astype(np.uint8), mode="L")
    has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    if has_alpha:
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, rgba)
    arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3 or min(arr.shape[:2]) < 1:
        raise FaceImageError(f"unexpected image shape {arr.shape}")
    return np.ascontiguousarray(arr)


def detect_faces(image: np.ndarray, *, upsample: int = 0, fallback_upsample: int | None = None,
                 min_face_px: int = 40, min_face_frac: float = 0.25,
                 detect_max_side: int = 1600) -> list[tuple[int, int, int, int]]:
    """Face boxes ``(top, right, bottom, left)`` in ``image`` pixels, left to right.

    HOG detection runs on a copy scaled down so its longest side is at most
    ``detect_max_side`` (detection time grows with pixels; the boxes are
    scaled back and the encoding uses the full-resolution image). With
    ``fallback_upsample`` set, a picture where nothing was found is searched
    again with that many upsamplings (finds faces down to 40 px, and more false
    ones). Boxes smaller than ``min_face_px`` (side, full-resolution pixels) or
    than ``min_face_frac`` x the largest box are dropped.
    """
    import face_recognition

    h, w = image.shape[:2]
    scale = min(1.0, detect_max_side / max(h, w))
    small = image if scale >= 1.0 else _resize(image, scale)
    boxes = face_recognition.face_locations(small, number_of_times_to_upsample=upsample, model="hog")
    if not boxes and fallback_upsample is not None and fallback_upsample > upsample:
        boxes = face_recognition.face_locations(small, number_of_times_to_upsample=fallback_upsample,
                                                model="hog")
    if not boxes:
        return []
    b = np.asarray(boxes, dtype=np.float64) / scale
    b = np.rint(b).astype(int)
    b[:, 0] = np.clip(b[:, 0], 0, h - 1)
    b[:, 2] = np.clip(b[:, 2], 1, h)
    b[:, 3] = np.clip(b[:, 3], 0, w - 1)
    b[:, 1] = np.clip(b[:, 1], 1, w)
    side = np.minimum(b[:, 2] - b[:, 0], b[:, 1] - b[:, 3])
    keep = (side >= min_face_px) & (side >= min_face_frac * side.max())
    b = b[keep]
    b = b[np.argsort(b[:, 3], kind="stable")]
    return [tuple(int(v) for v in row) for row in b]


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    from PIL import Image

    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))


def encode_image_file(path: Path | str, *, upsample: int = 0, fallback_upsample: int | None = None,
                      min_face_px: int = 40, min_face_frac: float = 0.25,
                      num_jitters: int = 1) -> list[np.ndarray]:
    """The 128-d encodings (``float32``) of every face in the image, left to right.

    An empty list when no face is found (the caller decides: the contract
    reader quarantines 0 or more than 1 face). Raises :class:`FaceImageError`
    when the file cannot be read as an image.
    """
    import face_recognition

    image = load_rgb(path)
    boxes = detect_faces(image, upsample=upsample, fallback_upsample=fallback_upsample,
                         min_face_px=min_face_px, min_face_frac=min_face_frac)
    if not boxes:
        return []
    encs = face_recognition.face_encodings(image, known_face_locations=boxes, num_jitters=num_jitters)
    return [np.asarray(e, dtype=np.float32) for e in encs]
