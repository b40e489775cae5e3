"""The measurements embedder: every dimension is a named, interpretable image measurement.

A difference found along one of these dimensions is a sentence by construction:
"Images in set B are blurrier." Each :class:`Measurement` carries the words for
both directions.

Where each number is computed
-----------------------------
* width, height, aspect_ratio, megapixels: the decoded image (after EXIF rotation).
* jpeg_blockiness and noise: the full-resolution grey image, central crop of at
  most ``FULL_RES_CROP`` x ``FULL_RES_CROP`` pixels whose corner sits on the 8-px
  grid. JPEG blocks and sensor noise live at the pixel level; a downscaled copy
  would average both away by an amount that depends on the image's size.
* everything else: an *analysis copy* resized (up or down) so that its shorter
  side is ``ANALYSIS_SIDE`` pixels, its longer side capped at
  ``ANALYSIS_MAX_LONG``. Sharpness, edge density and the colour statistics then
  describe the picture at one fixed viewing scale instead of tracking how many
  pixels the file has.

Units: luminance and colour channels are in [0, 1] (sRGB-encoded values; the
luminance is Rec. 601 luma, 0.299 R + 0.587 G + 0.114 B); Lab values in CIE
units (D65).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image

from ...errors import InvalidParameterError
from ...io.images import ImageRecord, open_image
from ...progress import Progress, Work

#: Bump when any formula or analysis parameter changes: cached vectors become stale.
MEASUREMENTS_VERSION = 1

ANALYSIS_SIDE = 256
ANALYSIS_MAX_LONG = 4 * ANALYSIS_SIDE
FULL_RES_CROP = 512
UNDEREXPOSED_BELOW = 0.05
OVEREXPOSED_ABOVE = 0.95
EDGE_THRESHOLD = 0.1  # Sobel gradient magnitude, luminance per pixel at analysis scale
PROGRESS_EVERY = 16


@dataclass(frozen=True)
class Measurement:
    """One named image measurement.

    name : identifier, also the feature name ("sharpness")
    higher, lower : words that complete "Images in set B are ..." when B has
        more (``higher``) or less (``lower``) of it
    description : how it is computed, for people
    """

    name: str
    higher: str
    lower: str
    description: str


MEASUREMENTS: tuple[Measurement, ...] = (
    Measurement("brightness", "brighter", "darker",
                "mean luminance (Rec. 601 luma, 0..1)"),
    Measurement("contrast", "more contrasty", "flatter (less contrast)",
                "standard deviation of luminance"),
    Measurement("saturation", "more saturated", "less saturated",
                "mean HSV saturation, (max - min) / max of R, G, B"),
    Measurement("colourfulness", "more colourful", "more muted (less colourful)",
                "Hasler-Süsstrunk colourfulness of the opponent channels R-G and (R+G)/2-B, "
                "channels in 0..1"),
    Measurement("lab_a", "more magenta/red", "more green",
                "mean CIE Lab a* (D65)"),
    Measurement("lab_b", "more yellow", "more blue",
                "mean CIE Lab b* (D65)"),
    Measurement("warmth", "warmer (more red than blue)", "cooler (more blue than red)",
                "mean red minus mean blue"),
    Measurement("mean_red", "redder", "less red", "mean of the red channel"),
    Measurement("mean_green", "greener", "less green", "mean of the green channel"),
    Measurement("mean_blue", "bluer", "less blue", "mean of the blue channel"),
    Measurement("sharpness", "sharper", "blurrier",
                f"variance of the Laplacian of the grey image, resized so its shorter side is "
                f"{ANALYSIS_SIDE} px"),
    Measurement("noise", "noisier", "less noisy",
                "robust Immerkær noise sigma: 1.4826 * median |grey * N| / 6 with N the 3x3 "
                "Laplacian-difference mask, on the full-resolution central crop"),
    Measurement("edge_density", "busier (more edges)", "plainer (fewer edges)",
                f"fraction of pixels whose Sobel gradient magnitude exceeds {EDGE_THRESHOLD} "
                "luminance per pixel"),
    Measurement("jpeg_blockiness", "more JPEG-blocky", "less JPEG-blocky",
                "mean absolute grey step across 8-px block boundaries divided by the mean step "
                "elsewhere, at full resolution (about 1 when there are no blocks)"),
    Measurement("entropy", "more detailed in tone (higher grey entropy)",
                "simpler in tone (lower grey entropy)",
                "Shannon entropy of the 256-bin grey histogram, in bits"),
    Measurement("underexposed", "more under-exposed", "less under-exposed",
                f"fraction of pixels with luminance below {UNDEREXPOSED_BELOW}"),
    Measurement("overexposed", "more over-exposed", "less over-exposed",
                f"fraction of pixels with luminance above {OVEREXPOSED_ABOVE}"),
    Measurement("width", "wider in pixels", "narrower in pixels", "width in pixels"),
    Measurement("height", "taller in pixels", "shorter in pixels", "height in pixels"),
    Measurement("aspect_ratio", "more landscape (wider aspect)", "more portrait (taller aspect)",
                "width / height"),
    Measurement("megapixels", "larger (more megapixels)", "smaller (fewer megapixels)",
                "width * height / 1e6"),
)

FEATURE_NAMES: tuple[str, ...] = tuple(m.name for m in MEASUREMENTS)
_BY_NAME = {m.name: m for m in MEASUREMENTS}

_LUMA = np.array([0.299, 0.587, 0.114])
# sRGB (D65) linear RGB -> XYZ, each row divided by the D65 white point so white maps to (1, 1, 1).
_RGB_TO_XYZ_N = np.array([
    [0.4124564, 0.3575761, 0.1804375],
    [0.2126729, 0.7151522, 0.0721750],
    [0.0193339, 0.1191920, 0.9503041],
]) / np.array([[0.95047], [1.0], [1.08883]])
_levels = np.arange(256) / 255.0
# sRGB decoding as a table over the 256 levels: a lookup is 5x faster than the power law.
_SRGB_TO_LINEAR = np.where(_levels <= 0.04045, _levels / 12.92, ((_levels + 0.055) / 1.055) ** 2.4)


def measure(image: Image.Image) -> np.ndarray:
    """Return the measurements of one image.

    image : PIL image of any mode (converted to RGB)

    Returns ndarray of shape (len(MEASUREMENTS),), float64, in MEASUREMENTS order.
    """
    if image.mode != "RGB":
        image = image.convert("RGB")
    width, height = image.size
    small = _analysis_copy(image)
    rgb8 = np.asarray(small)  # (h, w, 3) uint8
    rgb = rgb8 / 255.0
    grey = rgb @ _LUMA
    full_grey = _full_res_grey_crop(image)

    values = {
        "brightness": grey.mean(),
        "contrast": grey.std(),
        "saturation": _saturation(rgb),
        "colourfulness": _colourfulness(rgb),
        "warmth": rgb[..., 0].mean() - rgb[..., 2].mean(),
        "mean_red": rgb[..., 0].mean(),
        "mean_green": rgb[..., 1].mean(),
        "mean_blue": rgb[..., 2].mean(),
        "sharpness": _laplacian(grey).var() if min(grey.shape) >= 3 else 0.0,
        "noise": _noise_sigma(full_grey),
        "edge_density": _edge_density(grey),
        "jpeg_blockiness": _blockiness(full_grey),
        "entropy": _entropy(grey),
        "underexposed": (grey < UNDEREXPOSED_BELOW).mean(),
        "overexposed": (grey > OVEREXPOSED_ABOVE).mean(),
        "width": width,
        "height": height,
        "aspect_ratio": width / height,
        "megapixels": width * height / 1e6,
    }
    # every other pixel: the mean of a colour cast needs no more, and Lab is the costliest step
    values["lab_a"], values["lab_b"] = _mean_lab_ab(rgb8[::2, ::2])
    return np.array([values[name] for name in FEATURE_NAMES], dtype=np.float64)


def describe(name: str, more_in_higher: bool) -> str:
    """Words for a difference along measurement ``name``.

    more_in_higher : True when set B has more of the measurement than set A

    Returns the phrase that completes "Images in set B are ...".
    """
    try:
        measurement = _BY_NAME[name]
    except KeyError as e:
        raise InvalidParameterError(
            "measurement name", name, "one of " + ", ".join(FEATURE_NAMES)
        ) from e
    return measurement.higher if more_in_higher else measurement.lower


def _cache_key() -> str:
    identity = repr((
        MEASUREMENTS_VERSION, FEATURE_NAMES, ANALYSIS_SIDE, ANALYSIS_MAX_LONG, FULL_RES_CROP,
        UNDEREXPOSED_BELOW, OVEREXPOSED_ABOVE, EDGE_THRESHOLD,
    ))
    digest = hashlib.sha256(identity.encode()).hexdigest()[:10]
    return f"measurements-v{MEASUREMENTS_VERSION}-{digest}"


class MeasurementEmbedder:
    """Embedder whose dimensions are the named measurements in :data:`MEASUREMENTS`.

    Needs no model and no weights; each image is decoded at full size.
    """

    name = "measurements"
    cache_key = _cache_key()
    feature_names: tuple[str, ...] | None = FEATURE_NAMES
    dim = len(MEASUREMENTS)

    @property
    def measurements(self) -> tuple[Measurement, ...]:
        return MEASUREMENTS

    def describe(self, name: str, more_in_higher: bool) -> str:
        return describe(name, more_in_higher)

    def embed(self, images: Sequence[ImageRecord]) -> Work[np.ndarray]:
        """Yield Progress every ``PROGRESS_EVERY`` images and at the end.

        Returns ndarray of shape (len(images), dim), float32.
        """
        total = len(images)
        out = np.empty((total, self.dim), dtype=np.float32)
        for i, record in enumerate(images):
            with open_image(record) as image:
                out[i] = measure(image)
            done = i + 1
            if done % PROGRESS_EVERY == 0 and done != total:
                yield Progress("embed", done, total, "measurements")
        yield Progress("embed", total, total, "measurements")
        return out


# --- the measurements themselves -------------------------------------------------------------


def _analysis_copy(image: Image.Image) -> Image.Image:
    width, height = image.size
    scale = min(ANALYSIS_SIDE / min(width, height), ANALYSIS_MAX_LONG / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == image.size:
        return image
    # BOX (area average) to shrink, BILINEAR to enlarge (BOX would enlarge into blocks that
    # read as sharp). reducing_gap lets PIL shrink big photos by integer steps first.
    shrinking = size[0] < width
    resample = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    return image.resize(size, resample, reducing_gap=3.0 if shrinking else None)


def _full_res_grey_crop(image: Image.Image) -> np.ndarray:
    """Central crop of at most FULL_RES_CROP square, corner on the 8-px JPEG grid, as grey 0..1."""
    width, height = image.size
    cw, ch = min(width, FULL_RES_CROP), min(height, FULL_RES_CROP)
    left = (width - cw) // 2 // 8 * 8
    top = (height - ch) // 2 // 8 * 8
    crop = image.crop((left, top, left + cw, top + ch))
    # float32 halves the cost of the median in _noise_sigma; 8-bit input needs no more.
    return np.asarray(crop, dtype=np.float32) @ (_LUMA / 255.0).astype(np.float32)


def _saturation(rgb: np.ndarray) -> float:
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    # elementwise over channels: max(axis=2) over a length-3 axis is ten times slower
    high = np.maximum(np.maximum(r, g), b)
    low = np.minimum(np.minimum(r, g), b)
    sat = np.divide(high - low, high, out=np.zeros_like(high), where=high > 0)
    return float(sat.mean())


def _colourfulness(rgb: np.ndarray) -> float:
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def _mean_lab_ab(rgb8: np.ndarray) -> tuple[float, float]:
    xyz = _SRGB_TO_LINEAR[rgb8] @ _RGB_TO_XYZ_N.T
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    a = 500.0 * (f[..., 0] - f[..., 1])
    b = 200.0 * (f[..., 1] - f[..., 2])
    return float(a.mean()), float(b.mean())


def _laplacian(g: np.ndarray) -> np.ndarray:
    return g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4.0 * g[1:-1, 1:-1]


def _noise_sigma(g: np.ndarray) -> float:
    """Immerkær (1996) fast noise estimate, made robust to edges with the median.

    N = [[1,-2,1],[-2,4,-2],[1,-2,1]] cancels smooth ramps; white noise of sigma s
    gives a residual of sigma 6 s (the norm of N), and for a Gaussian the median of
    |x| is 0.6745 sigma.
    """
    if min(g.shape) < 3:
        return 0.0
    rows = g[:-2] - 2.0 * g[1:-1] + g[2:]  # vertical [1, -2, 1]
    residual = rows[:, :-2] - 2.0 * rows[:, 1:-1] + rows[:, 2:]  # outer product with horizontal
    magnitudes = np.abs(residual).ravel()
    middle = magnitudes.size // 2
    # The upper median, by partition (np.median costs twice as much). Flat regions leave exact zeros, and
    # introselect slows ~15x on a mostly-zero array, so the zeros are counted and only the rest partitioned.
    nonzero = magnitudes[magnitudes > 0]
    zeros = magnitudes.size - nonzero.size
    median = 0.0 if zeros > middle else np.partition(nonzero, middle - zeros)[middle - zeros]
    return float(1.4826 * median / 6.0)


def _edge_density(g: np.ndarray) -> float:
    if min(g.shape) < 3:
        return 0.0
    # Sobel, divided by 8 so a ramp of slope s gives magnitude s (luminance per pixel).
    smooth_x = g[:, :-2] + 2.0 * g[:, 1:-1] + g[:, 2:]
    smooth_y = g[:-2] + 2.0 * g[1:-1] + g[2:]
    gx = (smooth_y[:, 2:] - smooth_y[:, :-2]) / 8.0
    gy = (smooth_x[2:] - smooth_x[:-2]) / 8.0
    return float((gx * gx + gy * gy > EDGE_THRESHOLD**2).mean())


def _blockiness(g: np.ndarray) -> float:
    """Mean |step| across 8-px boundaries over mean |step| inside blocks (both directions).

    The crop's corner is on the JPEG grid, so the step between columns 7 and 8
    (index 7 of the difference array) crosses a block boundary.
    """
    eps = 1e-4  # a flat image has no steps anywhere: call it 1, not 0/0
    on = off = 0.0
    n_on = n_off = 0
    for steps in (np.abs(np.diff(g, axis=1)), np.abs(np.diff(g, axis=0)).T):
        if steps.shape[1] < 8:
            continue
        boundary = (np.arange(steps.shape[1]) % 8) == 7
        on += steps[:, boundary].sum()
        off += steps[:, ~boundary].sum()
        n_on += steps.shape[0] * int(boundary.sum())
        n_off += steps.shape[0] * int((~boundary).sum())
    if n_on == 0:
        return 1.0
    return float((on / n_on + eps) / (off / n_off + eps))


def _entropy(g: np.ndarray) -> float:
    counts = np.bincount(np.clip(np.rint(g * 255.0), 0, 255).astype(np.intp).ravel(), minlength=256)
    p = counts[counts > 0] / counts.sum()
    return float((p * np.log2(1.0 / p)).sum())
