"""Planted edits: known changes applied to any RGB image, procedural scene or photograph.

Each :class:`Edit` has a name, a plain-language ground truth (what a good answer to "how does B differ?" says)
and ``apply(image, strength, rng) -> (image, info)``. ``strength`` in (0, 1] maps to sensible parameters
(0.5 is clearly visible, 1 is strong). ``info`` records the parameters actually drawn; localized edits
(rectangles, watermarks, and the small ones of :mod:`spotdiff.synthetic.local_edits`) list ``boxes`` as
``[x0, y0, x1, y1]`` pixel boxes, ``x1``/``y1`` exclusive, so a later check can ask whether a heat map points at
the planted place.

An edit that draws a named colour per image (rectangles, text-stamp, dead-pixels, colour-blotch) has colour
variants that fix it: "rectangles/red" draws only red rectangles, "rectangles/red+blue" red or blue ones.

    >>> edit, strength = parse_plant("blur:0.7")
    >>> blurred, info = edit.apply(image, strength, np.random.default_rng(0))
    >>> red, info = parse_plant("text-stamp/red:0.5")[0].apply(image, 0.5, 0)
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from ..errors import InvalidParameterError
from . import local_edits
from .world import COLOURS, SHAPES, shape_mask

EditFunction = Callable[[Image.Image, float, np.random.Generator], "tuple[Image.Image, dict]"]


@dataclass(frozen=True)
class Edit:
    """A named, reproducible change to an image.

    name : registry key ("blur")
    description : ground truth in plain words ("blurrier")
    localized : True when the edit touches only the ``boxes`` it reports
    palette : colour names a variant may fix (:meth:`in_colours`); empty when the edit has no colour variants
    colours : the colours this variant draws from (empty: the edit's own choice per image); the function then
        receives them as its ``colours`` keyword
    """

    name: str
    description: str
    function: EditFunction = field(repr=False, compare=False)
    localized: bool = False
    palette: tuple[str, ...] = ()
    colours: tuple[str, ...] = ()

    def apply(self, image: Image.Image, strength: float = 0.5,
              rng: np.random.Generator | int | None = None) -> tuple[Image.Image, dict]:
        """Return the edited copy of ``image`` (converted to RGB) and what was done.

        rng : a numpy Generator, or a seed for one (None means seed 0, so calls are reproducible)
        """
        strength = _check_strength(strength, self.name)
        if not isinstance(rng, np.random.Generator):
            rng = np.random.default_rng(0 if rng is None else rng)
        options = {"colours": self.colours} if self.colours else {}
        edited, info = self.function(image.convert("RGB"), strength, rng, **options)
        return edited, {"edit": self.name, "strength": strength, **info}

    def in_colours(self, colours: Sequence[str]) -> "Edit":
        """The variant that draws only ``colours`` (names from :attr:`palette`): "rectangles/red+blue"."""
        colours = tuple(str(c).strip().lower() for c in colours)
        if not self.palette:
            raise InvalidParameterError("edit", f"{self.name}/{'+'.join(colours)}",
                                        f"a colour variant of one of {', '.join(_COLOURED)}; {self.name} has no colour")
        unknown = [c for c in colours if c not in self.palette]
        if unknown or not colours:
            raise InvalidParameterError(f"colour of {self.name}", "+".join(unknown) or "",
                                        f"one or more of {', '.join(self.palette)}, joined by '+'")
        return replace(self, name=f"{self.name}/{'+'.join(colours)}", colours=colours,
                       description=f"{self.description} ({' or '.join(colours)})")


def _check_strength(strength, name: str) -> float:
    try:
        value = float(strength)
    except (TypeError, ValueError) as e:
        raise InvalidParameterError(f"strength of {name}", strength, "a number in (0, 1]") from e
    if not 0.0 < value <= 1.0:
        raise InvalidParameterError(f"strength of {name}", strength, "a number in (0, 1]")
    return value


def _array(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32)


def _image(array: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(array + 0.5, 0, 255).astype(np.uint8), "RGB")


def _short(image: Image.Image) -> int:
    return min(image.size)


# --- localized -----------------------------------------------------------------------------------------------


RECTANGLE_SIDE = (0.03, 0.05)  # fraction of the shorter image side


def _rectangles(image, strength, rng, colours=()):
    """2–4 filled rectangles, each side 3–5 % of the shorter image side (at least 2 px); more when stronger.

    Each rectangle's colour is drawn from ``colours`` (names; default: every colour of the world).
    """
    width, height = image.size
    n = min(4, max(2, 1 + math.ceil(3 * strength)))
    out = image.copy()
    draw = ImageDraw.Draw(out)
    palette = list(colours or COLOURS)
    boxes, rgbs, names = [], [], []
    for _ in range(n):
        w, h = (max(2, round(_short(image) * rng.uniform(*RECTANGLE_SIDE))) for _ in range(2))
        x0, y0 = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        name = palette[int(rng.integers(len(palette)))]
        draw.rectangle((x0, y0, x0 + w - 1, y0 + h - 1), fill=COLOURS[name])
        boxes.append([x0, y0, x0 + w, y0 + h])
        rgbs.append(list(COLOURS[name]))
        names.append(name)
    return out, {"boxes": boxes, "colours": rgbs, "colour_names": names}


_CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")


def _corner_origin(corner: str, size: tuple[int, int], item: tuple[int, int], margin: int) -> tuple[int, int]:
    x = margin if "left" in corner else size[0] - item[0] - margin
    y = margin if "top" in corner else size[1] - item[1] - margin
    return max(0, x), max(0, y)


def _ink(image: Image.Image, box) -> tuple[int, int, int]:
    """White on dark surroundings, black on light ones, so a watermark shows on either."""
    region = _array(image.crop(box))
    return (255, 255, 255) if region.mean() < 140 else (0, 0, 0)


def _overlay(image: Image.Image, mask: Image.Image, origin, colour, opacity: float) -> Image.Image:
    alpha = mask.point(lambda v: round(v * opacity))
    out = image.copy()
    out.paste(Image.new("RGB", mask.size, colour), origin, alpha)
    return out


def _shape_watermark(image, strength, rng):
    """A semi-transparent shape, 12–18 % of the shorter side, in a random corner."""
    side = max(6, round(_short(image) * (0.12 + 0.06 * strength)))
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    corner = _CORNERS[int(rng.integers(4))]
    origin = _corner_origin(corner, image.size, (side, side), max(1, round(_short(image) * 0.04)))
    box = [origin[0], origin[1], min(origin[0] + side, image.width), min(origin[1] + side, image.height)]
    colour, opacity = _ink(image, box), 0.3 + 0.5 * strength
    out = _overlay(image, shape_mask(shape, side), origin, colour, opacity)
    return out, {"boxes": [box], "shape": shape, "corner": corner, "colour": list(colour), "opacity": opacity}


WATERMARK_TEXT = "SAMPLE"


def _text_watermark(image, strength, rng):
    """The word SAMPLE in PIL's default font, ~12 % of the image height, in a corner or the centre."""
    font = ImageFont.load_default(size=max(8, round(image.height * 0.12)))
    left, top, right, bottom = font.getbbox(WATERMARK_TEXT, stroke_width=1)
    item = (right - left, bottom - top)
    where = ("center",) + _CORNERS
    place = where[int(rng.integers(len(where)))]
    if place == "center":
        origin = (max(0, (image.width - item[0]) // 2), max(0, (image.height - item[1]) // 2))
    else:
        origin = _corner_origin(place, image.size, item, max(1, round(_short(image) * 0.03)))
    mask = Image.new("L", item)
    ImageDraw.Draw(mask).text((-left, -top), WATERMARK_TEXT, fill=255, font=font, stroke_width=1)
    box = [origin[0], origin[1], min(origin[0] + item[0], image.width), min(origin[1] + item[1], image.height)]
    colour, opacity = _ink(image, box), 0.35 + 0.55 * strength
    out = _overlay(image, mask, origin, colour, opacity)
    return out, {"boxes": [box], "text": WATERMARK_TEXT, "place": place, "colour": list(colour),
                 "opacity": opacity}


# --- global --------------------------------------------------------------------------------------------------


def _cast(sign: float):
    def cast(image, strength, rng):
        """Multiply red up and blue down (warm), or the reverse (cool), by up to 25 %."""
        amount = 0.25 * strength
        gains = np.array([1 + sign * amount, 1 + sign * amount / 5, 1 - sign * amount], dtype=np.float32)
        return _image(_array(image) * gains), {"gains": [round(float(g), 4) for g in gains]}
    return cast


def _gamma(sign: float):
    def gamma(image, strength, rng):
        """Gamma 1/(1 + 1.2 s) to brighten, 1 + 1.2 s to darken: mid-tones move, black and white stay."""
        exponent = (1 + 1.2 * strength) ** (-sign)
        return _image(255.0 * (_array(image) / 255.0) ** exponent), {"gamma": round(exponent, 4)}
    return gamma


def _blur(image, strength, rng):
    """Gaussian blur, radius 0.5–2 % of the shorter side (at least 0.6 px)."""
    radius = max(0.6, (0.005 + 0.015 * strength) * _short(image))
    return image.filter(ImageFilter.GaussianBlur(radius)), {"radius": round(radius, 3)}


def _noise(image, strength, rng):
    """Independent Gaussian noise per pixel and channel, std 4–24 grey levels."""
    std = 4.0 + 20.0 * strength
    noise = rng.normal(0.0, std, (image.height, image.width, 3)).astype(np.float32)
    return _image(_array(image) + noise), {"std": std}


def jpeg_quality(strength: float) -> int:
    """JPEG quality for a strength: 50 at the faintest, 28 at 0.5, 5 at 1."""
    return max(2, round(50 - 45 * strength))


def _jpeg(image, strength, rng):
    """Encode as JPEG at low quality and decode again."""
    quality = jpeg_quality(strength)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB"), {"quality": quality}


def _reduced(image: Image.Image, factor: float) -> Image.Image:
    size = (max(4, round(image.width / factor)), max(4, round(image.height / factor)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _lowres(image, strength, rng):
    """Downscale by 1.5–4.5× and upscale back to the original size (bilinear): soft, detail lost."""
    factor = 1.5 + 3.0 * strength
    small = _reduced(image, factor)
    return small.resize(image.size, Image.Resampling.BILINEAR), {"factor": factor, "reduced_size": list(small.size)}


def _downscale(image, strength, rng):
    """Downscale by 1–3× and keep the smaller image."""
    factor = 1.0 + 2.0 * strength
    small = _reduced(image, factor)
    return small, {"factor": factor, "size": list(small.size)}


def _vignette(image, strength, rng):
    """Darken towards the corners: by 15–60 % at the corners, smoothly, untouched at the centre."""
    depth = 0.15 + 0.45 * strength
    yy, xx = np.mgrid[0:image.height, 0:image.width].astype(np.float32)
    d2 = ((xx + 0.5) / image.width - 0.5) ** 2 + ((yy + 0.5) / image.height - 0.5) ** 2
    gain = 1.0 - depth * (d2 / 0.5) ** 1.5
    return _image(_array(image) * gain[..., None]), {"corner_darkening": depth}


def _rotate(image, strength, rng):
    """Rotate by 1–8° either way about the centre, same size, black fill in the uncovered corners."""
    angle = float((1.0 + 7.0 * strength) * (1 if rng.random() < 0.5 else -1))
    out = image.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=(0, 0, 0))
    return out, {"angle": angle, "fill": [0, 0, 0]}


_NAMED = tuple(COLOURS)
EDITS: dict[str, Edit] = {
    edit.name: edit
    for edit in (
        Edit("rectangles", "tiny rectangles pasted into the image", _rectangles, localized=True, palette=_NAMED),
        Edit("shape-watermark", "a faint shape watermark in a corner", _shape_watermark, localized=True),
        Edit("text-watermark", f"a faint '{WATERMARK_TEXT}' text watermark", _text_watermark, localized=True),
        Edit("warm", "warmer colour cast", _cast(+1.0)),
        Edit("cool", "cooler colour cast", _cast(-1.0)),
        Edit("brighter", "brighter", _gamma(+1.0)),
        Edit("darker", "darker", _gamma(-1.0)),
        Edit("blur", "blurrier", _blur),
        Edit("noise", "noisier (grainy)", _noise),
        Edit("jpeg", "JPEG compression artefacts", _jpeg),
        Edit("lowres", "lower resolution (soft, detail lost)", _lowres),
        Edit("downscale", "smaller image size", _downscale),
        Edit("vignette", "darkened corners (vignette)", _vignette),
        Edit("rotate", "rotated by a small angle", _rotate),
        Edit("text-stamp", "a small text stamp", local_edits.text_stamp, localized=True, palette=_NAMED),
        Edit("dead-pixels", "a cluster of dead (stuck) pixels", local_edits.dead_pixels, localized=True,
             palette=tuple(local_edits.STUCK)),
        Edit("blurred-patch", "a small blurred patch", local_edits.blurred_patch, localized=True),
        Edit("colour-blotch", "a small colour blotch", local_edits.colour_blotch, localized=True, palette=_NAMED),
    )
}
_COLOURED = tuple(name for name, edit in EDITS.items() if edit.palette)


def get_edit(name: str) -> Edit:
    """The edit called ``name`` (case and ``_``/``-`` do not matter); unknown names list the known ones.

    "NAME/COLOUR[+COLOUR...]" is the colour variant of NAME (:meth:`Edit.in_colours`): "rectangles/red".
    """
    key, variant, colours = str(name).strip().lower().replace("_", "-").partition("/")
    try:
        edit = EDITS[key.strip()]
    except KeyError as e:
        raise InvalidParameterError("edit", name, f"one of {', '.join(EDITS)}") from e
    return edit.in_colours(colours.split("+")) if variant else edit


def parse_plant(text: str, default_strength: float = 0.5) -> tuple[Edit, float]:
    """"blur:0.7" -> (EDITS["blur"], 0.7); "blur" -> (EDITS["blur"], 0.5)."""
    name, sep, strength = str(text).partition(":")
    edit = get_edit(name)
    return edit, _check_strength(strength if sep else default_strength, edit.name)
