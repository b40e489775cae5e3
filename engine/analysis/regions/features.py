"""Per-pixel evidence for the region stage: colour, saturation, local contrast, edges and texture, at a few scales.

Every image is looked at on a grid of at most WORK_SIDE pixels on its longer side (smaller images at their own
size), so that a 4-px mark in a 112-px photo stays 4 px. Each pixel gets FEATURE_NAMES: its own colour and how
much it departs from its surroundings at a few scales (a pasted mark departs from them, a textured region does
not), edge strength and texture. No feature knows which set an image is in; the detector
(:mod:`spotdiff.analysis.regions.detector`) learns which of them mark one set.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from ...io.decoding import open_image

WORK_SIDE = 160
SCALES = (5, 11, 23)
FEATURE_NAMES: tuple[str, ...] = (
    "red", "green", "blue", "lightness", "saturation",
    *[f"{name} vs {s}px" for s in SCALES for name in ("colour", "lightness", "saturation")],
    "edges", "edges 5px", "texture 5px", "texture 5px vs 23px", "fine detail",
)


def load_rgb(record) -> np.ndarray:
    """The image as float32 RGB in [0, 1], shape (h, w, 3), shrunk to at most WORK_SIDE on its longer side."""
    image = open_image(record, max_side=WORK_SIDE)
    return as_work_array(image)


def as_work_array(image: Image.Image) -> np.ndarray:
    """``image`` (any PIL image) as the region stage's working array: RGB float32 in [0, 1], longer side at most
    WORK_SIDE."""
    image = image.convert("RGB")
    scale = WORK_SIDE / max(image.size)
    if scale < 1:
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.BOX)
    return np.asarray(image, dtype=np.float32) / 255.0


def pixel_features(rgb: np.ndarray) -> np.ndarray:
    """FEATURE_NAMES for every pixel of ``rgb`` (h, w, 3): ndarray of shape (h, w, len(FEATURE_NAMES)), float32.

    Sums over the three channels are written out: numpy's reductions over a length-3 axis cost more than the
    filters (same values, half the time)."""
    rgb = np.asarray(rgb, dtype=np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    lightness = _lightness(rgb)
    saturation = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)
    out = [r, g, b, lightness, saturation]
    for s in SCALES:
        around = [ndimage.uniform_filter(c, s, mode="reflect") for c in (r, g, b)]
        dr, dg, db = r - around[0], g - around[1], b - around[2]
        out.append(np.sqrt(dr * dr + dg * dg + db * db))
        out.append(lightness - (around[0] + around[1] + around[2]) / _THREE)
        out.append(saturation - ndimage.uniform_filter(saturation, s, mode="reflect"))
    edges = _edges(lightness)
    out.append(edges)
    out.append(ndimage.uniform_filter(edges, 5, mode="reflect"))
    texture5 = _local_std(lightness, 5)
    out.append(texture5)
    out.append(texture5 - _local_std(lightness, 23))
    out.append(np.abs(ndimage.laplace(lightness, mode="reflect")))
    return np.stack(out, axis=2)


def edge_strength(rgb: np.ndarray) -> np.ndarray:
    """The "edges" feature of every pixel of ``rgb`` (h, w, 3), alone: what measuring a region needs."""
    return _edges(_lightness(np.asarray(rgb, dtype=np.float32)))


_THREE = np.float32(3)


def _lightness(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 0] + rgb[..., 1] + rgb[..., 2]) / _THREE


def _edges(lightness: np.ndarray) -> np.ndarray:
    return np.hypot(ndimage.sobel(lightness, 0, mode="reflect"), ndimage.sobel(lightness, 1, mode="reflect"))


def _local_std(values: np.ndarray, size: int) -> np.ndarray:
    mean = ndimage.uniform_filter(values, size, mode="reflect")
    square = ndimage.uniform_filter(values * values, size, mode="reflect")
    return np.sqrt(np.maximum(square - mean * mean, 0.0))


OUTLIER_FEATURES = (f"colour vs {SCALES[0]}px", f"colour vs {SCALES[1]}px", f"saturation vs {SCALES[1]}px",
                    "edges", "fine detail", "texture 5px vs 23px")
"""The features in which a local change departs from its surroundings: candidate pixels are the most extreme in
any one of them (:func:`spotdiff.analysis.regions.detector.Candidates.of`)."""


def outlier_scores(features: np.ndarray) -> np.ndarray:
    """|OUTLIER_FEATURES| of every pixel, shape (h * w, len(OUTLIER_FEATURES)). Label-free."""
    picks = [FEATURE_NAMES.index(name) for name in OUTLIER_FEATURES]
    return np.abs(features.reshape(-1, features.shape[-1])[:, picks])


def outlier_scores_of(rgb: np.ndarray) -> np.ndarray:
    """``outlier_scores(pixel_features(rgb))`` (same values), computing only the outlier features: what the
    candidate bars are drawn from."""
    rgb = np.asarray(rgb, dtype=np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    lightness = _lightness(rgb)
    saturation = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)
    out = []
    for s in SCALES[:2]:
        around = [ndimage.uniform_filter(c, s, mode="reflect") for c in (r, g, b)]
        dr, dg, db = r - around[0], g - around[1], b - around[2]
        out.append(np.sqrt(dr * dr + dg * dg + db * db))
    out.append(saturation - ndimage.uniform_filter(saturation, SCALES[1], mode="reflect"))
    out.append(_edges(lightness))
    out.append(ndimage.laplace(lightness, mode="reflect"))
    out.append(_local_std(lightness, 5) - _local_std(lightness, 23))
    return np.abs(np.stack(out, axis=2).reshape(-1, len(out)))


assert OUTLIER_FEATURES == (f"colour vs {SCALES[0]}px", f"colour vs {SCALES[1]}px", f"saturation vs {SCALES[1]}px",
                            "edges", "fine detail", "texture 5px vs 23px")  # the order outlier_scores_of keeps
