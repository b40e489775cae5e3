"""Small localized edits: a text stamp, a cluster of dead pixels, a blurred patch, a colour blotch.

Each function has the signature of :data:`spotdiff.synthetic.edits.EditFunction`, plus an optional
``colours`` (names of :data:`spotdiff.synthetic.world.COLOURS`, or "white"/"black" for dead pixels) that fixes
what the edit otherwise draws per image; :mod:`spotdiff.synthetic.edits` registers them in ``EDITS``. Every
one reports the pixel boxes it touched (``boxes``: ``[x0, y0, x1, y1]``, ``x1``/``y1`` exclusive) and changes
no pixel outside them; the coloured ones also report ``colour`` (a name) and ``colour_rgb``.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageStat

from .world import COLOURS

STAMP_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # no I or O: they read as the digits 1 and 0
STUCK = {"white": (255, 255, 255), "black": (0, 0, 0)}
DEAD_WINDOW = 6
_BLUR_CANDIDATES = 4


def _short(image: Image.Image) -> int:
    return min(image.size)


def _pick(names, default, rng: np.random.Generator) -> str:
    palette = tuple(names) or tuple(default)
    return palette[int(rng.integers(len(palette)))]


def _place(image: Image.Image, item: tuple[int, int], rng: np.random.Generator) -> tuple[int, int]:
    """A uniformly random top-left corner at which ``item`` fits (0 on an axis where it does not)."""
    return tuple(int(rng.integers(0, limit - side + 1)) if limit >= side else 0
                 for limit, side in zip(image.size, item))


def _box(image: Image.Image, origin, mask: Image.Image) -> list[int]:
    """The box of ``mask``'s non-zero pixels pasted at ``origin``, clipped to the image."""
    x0, y0, x1, y1 = mask.getbbox() or (0, 0, 1, 1)
    return [max(0, origin[0] + x0), max(0, origin[1] + y0),
            min(image.width, origin[0] + x1), min(image.height, origin[1] + y1)]


def _paint(image: Image.Image, mask: Image.Image, origin, rgb, opacity: float = 1.0) -> Image.Image:
    alpha = mask if opacity >= 1.0 else mask.point(lambda v: round(v * opacity))
    out = image.copy()
    out.paste(Image.new("RGB", mask.size, rgb), origin, alpha)
    return out


def stamp_text(rng: np.random.Generator) -> str:
    """An ID-like label of 4–7 characters: 1–2 capitals, a space, 2–4 digits ("ID 4821", "K 93")."""
    letters = "".join(STAMP_LETTERS[int(i)] for i in rng.integers(0, len(STAMP_LETTERS), int(rng.integers(1, 3))))
    digits = "".join(str(int(d)) for d in rng.integers(0, 10, int(rng.integers(2, 5))))
    return f"{letters} {digits}"


def text_stamp(image, strength, rng, colours=()):
    """An opaque ID-like label in PIL's default font, 8–12 % of the image height, one named colour, anywhere."""
    text = stamp_text(rng)
    name = _pick(colours, COLOURS, rng)
    font_size = max(6, round(image.height * (0.08 + 0.04 * strength)))
    font = ImageFont.load_default(size=font_size)
    left, top, right, bottom = font.getbbox(text)
    mask = Image.new("L", (right - left, bottom - top))
    ImageDraw.Draw(mask).text((-left, -top), text, fill=255, font=font)
    origin = _place(image, mask.size, rng)
    out = _paint(image, mask, origin, COLOURS[name])
    return out, {"boxes": [_box(image, origin, mask)], "text": text, "font_size": font_size, "colour": name,
                 "colour_rgb": list(COLOURS[name])}


def dead_pixels(image, strength, rng, colours=()):
    """3–8 stuck pixels, all pure white or all pure black, scattered in one 6 × 6 px window."""
    name = _pick(colours, STUCK, rng)
    n = min(8, 3 + round(5 * strength))
    window = (min(DEAD_WINDOW, image.width), min(DEAD_WINDOW, image.height))
    x0, y0 = _place(image, window, rng)
    cells = rng.choice(window[0] * window[1], size=min(n, window[0] * window[1]), replace=False)
    pixels = sorted((x0 + int(c) % window[0], y0 + int(c) // window[0]) for c in cells)
    out = image.copy()
    for xy in pixels:
        out.putpixel(xy, STUCK[name])
    xs, ys = [x for x, _ in pixels], [y for _, y in pixels]
    return out, {"boxes": [[min(xs), min(ys), max(xs) + 1, max(ys) + 1]], "pixels": [list(p) for p in pixels],
                 "colour": name, "colour_rgb": list(STUCK[name])}


def _detail(image: Image.Image, box) -> float:
    return float(sum(ImageStat.Stat(image.crop(box).convert("L")).stddev))


def blurred_patch(image, strength, rng):
    """A square, 12–18 % of the shorter side, Gaussian-blurred in place (radius 2–3 px).

    Of a few random places the one with the most detail is blurred: on a flat spot a blur changes nothing.
    The patch is blurred together with its surroundings and only the square is pasted back, so its edge shows
    no dark rim and no pixel outside it changes.
    """
    side = min(max(4, round(_short(image) * (0.12 + 0.06 * strength))), *image.size)
    radius = 2.0 + strength
    candidates = [_place(image, (side, side), rng) for _ in range(_BLUR_CANDIDATES)]
    x0, y0 = max(candidates, key=lambda xy: _detail(image, (xy[0], xy[1], xy[0] + side, xy[1] + side)))
    margin = int(np.ceil(3 * radius))
    outer = (max(0, x0 - margin), max(0, y0 - margin),
             min(image.width, x0 + side + margin), min(image.height, y0 + side + margin))
    blurred = image.crop(outer).filter(ImageFilter.GaussianBlur(radius))
    out = image.copy()
    out.paste(blurred.crop((x0 - outer[0], y0 - outer[1], x0 - outer[0] + side, y0 - outer[1] + side)), (x0, y0))
    return out, {"boxes": [[x0, y0, x0 + side, y0 + side]], "radius": radius}


def colour_blotch(image, strength, rng, colours=()):
    """A soft irregular blob (2–3 overlapping ellipses, feathered), 6–10 % of the shorter side across, of one
    named colour at opacity 0.6–0.9."""
    name = _pick(colours, COLOURS, rng)
    diameter = max(4, round(_short(image) * (0.06 + 0.04 * strength)))
    feather = max(0.6, 0.1 * diameter)
    pad = int(np.ceil(2 * feather))
    canvas = diameter + 2 * pad
    mask = Image.new("L", (canvas, canvas))
    draw = ImageDraw.Draw(mask)
    centre = canvas / 2
    for _ in range(int(rng.integers(2, 4))):
        cx, cy = centre + rng.uniform(-0.15, 0.15, 2) * diameter  # every ellipse overlaps the centre
        rx, ry = rng.uniform(0.2, 0.35, 2) * diameter
        draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(feather))
    origin = _place(image, mask.size, rng)
    opacity = 0.6 + 0.3 * strength
    out = _paint(image, mask, origin, COLOURS[name], opacity)
    return out, {"boxes": [_box(image, origin, mask)], "diameter": diameter, "opacity": round(opacity, 4),
                 "colour": name, "colour_rgb": list(COLOURS[name])}
