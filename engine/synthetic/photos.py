"""Crops of real photographs that ship inside installed packages: a photo source that needs no download.

:func:`write_photo_crops` cuts square crops at random places and scales out of the sample photographs bundled with
scikit-image (``skimage.data``: astronaut, chelsea, coffee, hubble_deep_field, immunohistochemistry, retina,
rocket, the left view of stereo_motorcycle; camera and moon in grey) and scikit-learn
(``sklearn.datasets.load_sample_images``: china, flower). The crops are a folder that
:func:`spotdiff.synthetic.synth.synth` can split into two sets (``source=``), so planted edits can be tested on
photographs as well as on procedural scenes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from ..errors import InvalidParameterError

MIN_SIZE = 16
MAX_DOWNSCALE = 3.0
# A crop flatter than this (grey-level std) is drawn again: the black margins of retina and hubble_deep_field
# would otherwise give blank squares on which most edits are trivially easy.
MIN_CROP_STD = 10.0
_TRIES = 20
# Colour photographs of skimage.data that are in its wheel (never fetched); loaded by name, in this order.
SKIMAGE_COLOUR = ("astronaut", "chelsea", "coffee", "hubble_deep_field", "immunohistochemistry", "retina", "rocket")
# Grey photographs, converted to RGB: 2 sources of 12, so at most 1 crop in 6 is grey.
SKIMAGE_GREY = ("camera", "moon")


def write_photo_crops(out: Path, n: int, *, size: int = 112, seed: int = 0) -> Path:
    """Write ``n`` distinct RGB crops of real photographs, ``out/crop_0000.png`` ..., and return ``out``.

    Parameters
    ----------
    out : Path
        Folder to write into (created if missing); files of other names in it are left alone.
    n : int
        Number of crops (at least 1). They cycle through the source photographs, so each photograph gives
        about ``n / 12`` of them (``n / 2`` without scikit-image).
    size : int, default 112
        Side of the square crops in pixels (at least 16).
    seed : int, default 0
        The same ``n``, ``size`` and ``seed`` write byte-identical files; the first ``k`` crops of a larger
        ``n`` are the crops of ``n = k``.

    Returns
    -------
    Path
        ``out``.

    Notes
    -----
    Each crop is a square of side ``size * f`` (``f`` uniform in [1, 3], smaller where the photograph is small)
    at a uniformly random place, resized to ``size`` (Lanczos): a random downscale by 1-3x, then a crop. Crops
    that repeat an earlier one byte for byte, or that are nearly flat, are drawn again.

    scikit-image is optional (the ``test`` extra). Without it only scikit-learn's two sample photographs
    (china, flower) are used, so the crops are less varied.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidParameterError("n", n, "an integer >= 1 (the number of crops)")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < MIN_SIZE:
        raise InvalidParameterError("size", size, f"an integer >= {MIN_SIZE} (pixels)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    loaders = photo_sources()
    photos: dict[int, Image.Image] = {}
    rng = np.random.default_rng([seed, int(size)])
    seen: set[bytes] = set()
    for index in range(n):
        which = index % len(loaders)
        if which not in photos:
            photos[which] = Image.fromarray(np.asarray(loaders[which][1]())).convert("RGB")
        crop = _distinct_crop(photos[which], int(size), rng, seen)
        seen.add(crop.tobytes())
        crop.save(out / f"crop_{index:04d}.png", "PNG")
    return out


def photo_sources() -> list[tuple[str, Callable[[], np.ndarray]]]:
    """(name, loader) of every bundled photograph: scikit-image's when it is installed, then scikit-learn's."""
    from sklearn.datasets import load_sample_images  # lazy: only when photos are asked for

    def sklearn_image(k: int) -> Callable[[], np.ndarray]:
        return lambda: load_sample_images().images[k]

    sources = [("china", sklearn_image(0)), ("flower", sklearn_image(1))]
    data = _skimage_data()
    if data is None:
        return sources
    colour = [(name, getattr(data, name)) for name in SKIMAGE_COLOUR]
    colour.append(("motorcycle_left", lambda: data.stereo_motorcycle()[0]))
    grey = [(name, getattr(data, name)) for name in SKIMAGE_GREY]
    return colour + sources + grey


def named_photos(names: tuple[str, ...]) -> list[Image.Image]:
    """Photographs of ``skimage.data`` by name, as RGB images (grey ones converted)."""
    data = _skimage_data()
    if data is None:
        raise InvalidParameterError("photographs", ", ".join(names), "scikit-image installed (pip install "
                                    "scikit-image, or scripts/install.sh --test) to read its sample photographs")
    return [Image.fromarray(np.asarray(getattr(data, name)()).astype(np.uint8)).convert("RGB") for name in names]


def _skimage_data():
    """``skimage.data``, or None without scikit-image."""
    try:
        from skimage import data  # lazy: an optional dependency (the test extra)
    except ImportError:
        return None
    return data


def _distinct_crop(photo: Image.Image, size: int, rng: np.random.Generator, seen: set[bytes]) -> Image.Image:
    crop = None
    for _ in range(_TRIES):
        largest = min(MAX_DOWNSCALE, min(photo.size) / size)
        factor = rng.uniform(1.0, largest) if largest > 1.0 else largest
        side = max(1, round(size * factor))
        x0 = int(rng.integers(0, photo.width - side + 1)) if photo.width >= side else 0
        y0 = int(rng.integers(0, photo.height - side + 1)) if photo.height >= side else 0
        box = (x0, y0, x0 + side, y0 + side)
        crop = photo.resize((size, size), Image.Resampling.LANCZOS, box=box)
        grey = np.asarray(crop.convert("L"), dtype=np.float32)
        if crop.tobytes() not in seen and grey.std() >= MIN_CROP_STD:
            return crop
    if crop is None or crop.tobytes() in seen:  # a tiny photograph asked for far more crops than it has
        raise InvalidParameterError("n", len(seen) + 1, f"at most {len(seen)} distinct {size}-px crops of these "
                                    "photographs; ask for fewer or smaller crops")
    return crop
