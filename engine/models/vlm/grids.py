"""Labelled image grids: the exemplars of one set, tiled on one square canvas under a "Set A" / "Set B" band.

A model that reads several images per prompt gets one grid per set; one that reads a single image
gets both grids side by side on one canvas (:func:`side_by_side`).
"""

from __future__ import annotations

import base64
import io
import math
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont, ImageOps

from ...errors import UnreadableImageError
from ...io.images import ImageRecord, open_image

BACKGROUND = (255, 255, 255)
INK = (0, 0, 0)
GAP = 4  # pixels between cells, so neighbours do not read as one picture


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def _band(width: int, height: int, label: str) -> Image.Image:
    band = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(band)
    font = _font(max(8, int(height * 0.7)))
    left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
    draw.text(((width - (right - left)) / 2 - left, (height - (bottom - top)) / 2 - top), label, fill=INK, font=font)
    return band


def make_grid(images: Sequence[ImageRecord | Image.Image], label: str, size: int = 448) -> Image.Image:
    """A ``size`` × ``size`` RGB canvas: ``label`` in a band on top, the images below in a near-square grid.

    Each image is fitted into its cell keeping its aspect ratio (letterboxed in white). Images that
    cannot be opened leave their cell empty rather than stopping the comparison.
    """
    canvas = Image.new("RGB", (size, size), BACKGROUND)
    band_h = max(12, size // 10)
    canvas.paste(_band(size, band_h, label), (0, 0))
    n = len(images)
    if n == 0:
        return canvas
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    cell = min((size - GAP * (cols - 1)) // cols, (size - band_h - GAP * rows) // rows)
    x0 = (size - (cols * cell + GAP * (cols - 1))) // 2
    y0 = band_h + GAP + (size - band_h - GAP - (rows * cell + GAP * (rows - 1))) // 2
    for i, item in enumerate(images):
        picture = _picture(item, cell)
        if picture is None:
            continue
        picture = ImageOps.contain(picture, (cell, cell))
        r, c = divmod(i, cols)
        x = x0 + c * (cell + GAP) + (cell - picture.width) // 2
        y = y0 + r * (cell + GAP) + (cell - picture.height) // 2
        canvas.paste(picture, (x, y))
    return canvas


def side_by_side(left: Image.Image, right: Image.Image, size: int | None = None) -> Image.Image:
    """Two grids on one canvas, for models that take a single image: left half and right half."""
    size = size or left.width
    half = (size - GAP * 2) // 2
    canvas = Image.new("RGB", (size, size), BACKGROUND)
    for i, grid in enumerate((left, right)):
        panel = ImageOps.contain(grid, (half, half * 2))
        canvas.paste(panel, (i * (half + GAP * 2), (size - panel.height) // 2))
    ImageDraw.Draw(canvas).line([(size // 2, 0), (size // 2, size)], fill=INK, width=2)
    return canvas


def to_data_uri(image: Image.Image, quality: int = 90) -> str:
    """A JPEG ``data:`` URI, what llama-cpp-python's chat handlers read an image from."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _picture(item: ImageRecord | Image.Image, side: int) -> Image.Image | None:
    if isinstance(item, Image.Image):
        return item.convert("RGB")
    try:
        return open_image(item, max_side=side)  # its frame or slice, or its stored copy
    except UnreadableImageError:  # changed on disk since the scan; an empty cell says enough
        return None
