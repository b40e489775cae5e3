"""A procedural world of shapes whose every attribute is known: scenes, captions, planted set differences.

:class:`Scene` is a frozen description (background, objects, seed) that :func:`render` draws deterministically at
any size; :class:`SetSpec` is a distribution over scenes that :func:`sample_scene` draws from with a numpy
``Generator`` (no global random state); :class:`PairSpec` is two distributions that differ in one named way, with
its ground truth, as :func:`pair_differing_in` builds them. Object geometry is in fractions of the image (``x`` of
the width, ``y`` of the height, ``radius`` of the shorter side): a scene looks alike at 64, 224 or 640×480 px.
"""

from __future__ import annotations

import math
from collections import Counter
import numbers
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence, Union

import numpy as np
from PIL import Image, ImageDraw

from ..errors import InvalidParameterError

BACKGROUNDS = ("flat", "gradient", "stripes", "checker", "noise")
SHAPES = ("circle", "square", "triangle", "star", "cross", "ring")
COLOURS = {"red": (220, 30, 30), "green": (30, 170, 50), "blue": (30, 70, 230), "yellow": (245, 225, 30),
           "purple": (135, 45, 185), "orange": (250, 135, 20), "white": (250, 250, 250), "black": (12, 12, 12)}
# Muted mid-tones, far from every object colour, so white, black and saturated objects all stay visible.
BACKGROUND_COLOURS = {"grey": (128, 128, 128), "sand": (168, 152, 120), "slate": (105, 115, 125),
                      "sage": (122, 140, 112), "taupe": (135, 120, 105)}
SIZES = ("small", "large")
TEXTURES = ("solid", "striped", "dotted")
COUNTS = (1, 2, 3, 4)
POSITIONS = ("center", "left", "right", "top", "bottom", "anywhere")
MAX_COUNT = 8

RADIUS_RANGE = {"small": (0.07, 0.10), "large": (0.15, 0.19)}
BACKGROUND_PHRASES = {"flat": "plain", "gradient": "gradient", "stripes": "striped", "checker": "checkered",
                      "noise": "noisy"}
POSITION_PHRASES = {"center": "in the center", "left": "on the left", "right": "on the right",
                    "top": "at the top", "bottom": "at the bottom"}
_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight")

# attribute -> (SetSpec field, default vocabulary, allowed values); count is a scene attribute
_ATTRIBUTES = {
    "background": ("backgrounds", BACKGROUNDS, BACKGROUNDS),
    "background_colour": ("background_colours", tuple(BACKGROUND_COLOURS), tuple(BACKGROUND_COLOURS)),
    "count": ("counts", COUNTS, tuple(range(1, MAX_COUNT + 1))),
    "shape": ("shapes", SHAPES, SHAPES), "colour": ("colours", tuple(COLOURS), tuple(COLOURS)),
    "size": ("sizes", SIZES, SIZES), "texture": ("textures", TEXTURES, TEXTURES),
    "position": ("positions", POSITIONS, POSITIONS),
}
ATTRIBUTES = tuple(_ATTRIBUTES)
_OBJECT_ATTRIBUTES = ATTRIBUTES[3:]

Weights = tuple  # tuple[tuple[str | int, float], ...], probabilities summing to 1
WeightsLike = Union[None, Mapping, Sequence]


@dataclass(frozen=True)
class SceneObject:
    shape: str
    colour: str
    size: str
    texture: str
    x: float
    y: float
    radius: float

    @property
    def position(self) -> str:
        """Region of the image the centre lies in: center, left, right, top or bottom."""
        dx, dy = self.x - 0.5, self.y - 0.5
        if max(abs(dx), abs(dy)) < 0.15:
            return "center"
        return ("left" if dx < 0 else "right") if abs(dx) >= abs(dy) else ("top" if dy < 0 else "bottom")


@dataclass(frozen=True)
class Scene:
    background: str
    background_colour: str
    objects: tuple[SceneObject, ...]
    size: int = 64
    seed: int = 0


def _normalise(name: str, value: WeightsLike, vocabulary: Sequence) -> Weights | None:
    """None stays None (uniform); a mapping or a sequence of names becomes ((name, probability), ...)."""
    if value is None:
        return None
    if isinstance(value, (str, int)):
        value = [value]
    items = list(value.items()) if isinstance(value, Mapping) else [
        tuple(v) if isinstance(v, (tuple, list)) else (v, 1.0) for v in value]
    for key, weight in items:
        if key not in vocabulary:
            raise InvalidParameterError(name, key, f"one of {', '.join(map(str, vocabulary))}")
        if not (isinstance(weight, numbers.Real) and weight >= 0 and math.isfinite(weight)):
            raise InvalidParameterError(f"{name}[{key!r}]", weight, "a finite weight >= 0")
    total = sum(w for _, w in items)
    if total <= 0:
        raise InvalidParameterError(name, value, "at least one value with a weight > 0")
    return tuple((k, float(w) / total) for k, w in items if w > 0)


@dataclass(frozen=True)
class Inclusion:
    """With ``probability``, a scene includes ``values`` of ``attribute``: in one object chosen at random
    (in every object with ``every_object``) for object attributes, in the scene itself for the others."""

    attribute: str
    values: Weights
    probability: float = 1.0
    every_object: bool = False

    def __post_init__(self):
        if self.attribute not in _ATTRIBUTES:
            raise InvalidParameterError("attribute", self.attribute, f"one of {', '.join(ATTRIBUTES)}")
        object.__setattr__(self, "values", _normalise(self.attribute, self.values, _ATTRIBUTES[self.attribute][2]))
        if not (isinstance(self.probability, numbers.Real) and 0.0 <= self.probability <= 1.0):
            raise InvalidParameterError("prevalence", self.probability, "a fraction between 0 and 1")


@dataclass(frozen=True)
class SetSpec:
    """A distribution over scenes. Each attribute is None (uniform over its vocabulary), a mapping of weights
    (``shapes={"circle": 3, "star": 1}``) or a sequence of allowed values (``shapes=("circle",)``); ``counts``
    too, over object counts (default uniform over 1–4, at most ``MAX_COUNT``)."""

    backgrounds: WeightsLike = None
    background_colours: WeightsLike = None
    shapes: WeightsLike = None
    colours: WeightsLike = None
    sizes: WeightsLike = None
    textures: WeightsLike = None
    positions: WeightsLike = None
    counts: WeightsLike = None
    image_size: int = 64
    include: Inclusion | None = None

    def __post_init__(self):
        for name, _, allowed in _ATTRIBUTES.values():
            object.__setattr__(self, name, _normalise(name, getattr(self, name), allowed))
        if not (isinstance(self.image_size, numbers.Integral) and self.image_size >= 8):
            raise InvalidParameterError("image_size", self.image_size, "an integer number of pixels >= 8")

    def weights(self, attribute: str) -> Weights:
        """The attribute's distribution as ((value, probability), ...), vocabulary-uniform when unset."""
        name, vocabulary, _ = _ATTRIBUTES[attribute]
        return getattr(self, name) or tuple((v, 1.0 / len(vocabulary)) for v in vocabulary)


@dataclass(frozen=True)
class PairSpec:
    """Two scene distributions and the named ways B differs from A. ``truth`` (empty for hand-made pairs):
    {"attribute", "value", "more_in": "b", "prevalence", "description"}."""

    a: SetSpec
    b: SetSpec
    differences: tuple[str, ...] = ()
    truth: dict = field(default_factory=dict, hash=False)


def _draw(rng: np.random.Generator, weights: Weights):
    u = rng.random()  # inverse CDF: ten times quicker than rng.choice(p=...) on these short lists
    for value, p in weights:
        u -= p
        if u < 0:
            return value
    return weights[-1][0]


def _place(position: str, radius: float, rng: np.random.Generator) -> tuple[float, float]:
    # Sampled so that SceneObject.position gives back the region asked for.
    if position in ("anywhere", "center"):
        lo, hi = (radius, 1.0 - radius) if position == "anywhere" else (0.38, 0.62)
        return float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi))
    far = float(rng.uniform(0.17, max(0.5 - radius, 0.18)))  # distance from the centre along the main axis
    side = float(rng.uniform(-0.9, 0.9)) * min(far, 0.5 - radius)
    sign = -1.0 if position in ("left", "top") else 1.0
    main, cross = 0.5 + sign * far, 0.5 + side
    return (main, cross) if position in ("left", "right") else (cross, main)


def sample_scene(spec: SetSpec, rng: np.random.Generator) -> Scene:
    """One scene drawn from ``spec``. Same spec and generator state give the same scene."""
    include = spec.include
    included = include is not None and rng.random() < include.probability
    chosen = {a: _draw(rng, spec.weights(a)) for a in ATTRIBUTES[:3]}
    if included and include.attribute in chosen:
        chosen[include.attribute] = _draw(rng, include.values)
    n_objects, special = chosen["count"], set()
    if included and include.attribute in _OBJECT_ATTRIBUTES:
        special = set(range(n_objects)) if include.every_object else {int(rng.integers(n_objects))}
    objects: list[SceneObject] = []
    for index in range(n_objects):
        kind = {a: _draw(rng, spec.weights(a)) for a in _OBJECT_ATTRIBUTES}
        if index in special:
            kind[include.attribute] = _draw(rng, include.values)
        radius = float(rng.uniform(*RADIUS_RANGE[kind["size"]]))
        position = kind.pop("position")
        # A few tries to keep objects from hiding each other; the last try stands if all overlap.
        for _ in range(12):
            x, y = _place(position, radius, rng)
            if all((x - o.x) ** 2 + (y - o.y) ** 2 > (0.8 * (radius + o.radius)) ** 2 for o in objects):
                break
        objects.append(SceneObject(x=x, y=y, radius=radius, **kind))
    return Scene(chosen["background"], chosen["background_colour"], tuple(objects), spec.image_size,
                 int(rng.integers(2**31)))


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float, fill=255, hole=0) -> None:
    """Draw ``shape`` centred on (cx, cy) with outer radius ``r``; ``hole`` fills a ring's inside."""
    def box(k: float):
        return (cx - k * r, cy - k * r, cx + k * r, cy + k * r)

    if shape in ("circle", "ring"):
        draw.ellipse(box(1.0), fill=fill)
        if shape == "ring":
            draw.ellipse(box(0.55), fill=hole)
    elif shape == "square":
        draw.rectangle(box(0.8), fill=fill)
    elif shape == "triangle":  # centred on its bounding box, about as wide as a circle
        draw.polygon([(cx + 1.1 * r * math.cos(a), cy + 0.25 * r + 1.1 * r * math.sin(a))
                      for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)], fill=fill)
    elif shape == "star":
        radii = [r if k % 2 == 0 else 0.42 * r for k in range(10)]
        angles = [-math.pi / 2 + k * math.pi / 5 for k in range(10)]
        draw.polygon([(cx + q * math.cos(a), cy + q * math.sin(a)) for q, a in zip(radii, angles)], fill=fill)
    elif shape == "cross":
        w = 0.32 * r
        draw.rectangle((cx - w, cy - r, cx + w, cy + r), fill=fill)
        draw.rectangle((cx - r, cy - w, cx + r, cy + w), fill=fill)
    else:
        raise InvalidParameterError("shape", shape, f"one of {', '.join(SHAPES)}")


def shape_mask(shape: str, size: int, supersample: int = 4) -> Image.Image:
    """An antialiased ``size``×``size`` mask (mode L) of ``shape`` filling the square."""
    big = size * supersample
    mask = Image.new("L", (big, big))
    draw_shape(ImageDraw.Draw(mask), shape, big / 2, big / 2, big / 2 - 0.5)
    return mask.resize((size, size), Image.Resampling.LANCZOS)


def _texture(texture: str, rgb, width: int, height: int, r: float, scale: int) -> Image.Image:
    if texture == "solid":
        return Image.new("RGB", (width, height), rgb)
    light = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] > 110  # second tone: darker if light, else lighter
    shade = tuple(int(c * 0.45) if light else int(c + (255 - c) * 0.55) for c in rgb)
    if texture == "striped":  # diagonal bands
        yy, xx = np.indices((height, width))
        band = ((xx + yy) / max(r * 0.28, 1.5 * scale)).astype(np.int32) % 2 == 1
        return Image.fromarray(np.where(band[..., None], np.uint8(shade), np.uint8(rgb)), "RGB")
    if texture == "dotted":  # staggered rows of dots
        fill = Image.new("RGB", (width, height), rgb)
        draw, step = ImageDraw.Draw(fill), max(r * 0.6, 4 * scale)
        dot = step * 0.27
        for row, cy in enumerate(np.arange(step / 2, height, step)):
            for cx in np.arange(step / 2 - (step / 2 if row % 2 else 0.0), width + step / 2, step):
                draw.ellipse((cx - dot, cy - dot, cx + dot, cy + dot), fill=shade)
        return fill
    raise InvalidParameterError("texture", texture, f"one of {', '.join(TEXTURES)}")


def _background(kind: str, rgb, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Float array of shape (height, width, 3) in 0..255."""
    base = np.asarray(rgb, dtype=np.float32)
    if kind == "flat":
        return np.broadcast_to(base, (height, width, 3)).copy()
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    if kind == "gradient":
        angle = rng.uniform(0, 2 * math.pi)
        t = (xx - width / 2) * math.cos(angle) + (yy - height / 2) * math.sin(angle)
        value = 45.0 * t / (0.5 * math.hypot(width, height))
    elif kind == "stripes":
        angle = rng.choice([0.0, 0.25, 0.5, 0.75]) * math.pi
        period = min(width, height) * rng.uniform(0.10, 0.16)
        u = xx * math.cos(angle) + yy * math.sin(angle)
        value = 30.0 * np.clip(3.0 * np.sin(2 * math.pi * u / period + rng.uniform(0, 2 * math.pi)), -1, 1)
    elif kind == "checker":
        cell, dx, dy = min(width, height) * rng.uniform(0.12, 0.2), rng.uniform(0, 1), rng.uniform(0, 1)
        value = 30.0 * np.clip(6.0 * np.sin(math.pi * (xx / cell + dx)) * np.sin(math.pi * (yy / cell + dy)), -1, 1)
    elif kind == "noise":
        value = rng.normal(0.0, 22.0, (height, width)).astype(np.float32)
    else:
        raise InvalidParameterError("background", kind, f"one of {', '.join(BACKGROUNDS)}")
    return np.clip(base + value[..., None], 0, 255)


def render(scene: Scene, size: int | tuple[int, int] | None = None) -> Image.Image:
    """Draw ``scene`` as an RGB image, ``size`` pixels square or (width, height); default ``scene.size``.
    Objects are drawn at 4× (2× above 160 px) and downsampled with LANCZOS. A pure function of the scene."""
    size = scene.size if size is None else size
    width, height = (int(size), int(size)) if isinstance(size, numbers.Integral) else map(int, size)
    if width < 8 or height < 8:
        raise InvalidParameterError("size", size, "at least 8 pixels a side")
    rng = np.random.default_rng(scene.seed)
    background = _background(scene.background, BACKGROUND_COLOURS[scene.background_colour], width, height, rng)
    if scene.objects:
        scale = 4 if max(width, height) <= 160 else 2
        big_w, big_h = width * scale, height * scale
        layer, alpha = Image.new("RGB", (big_w, big_h)), Image.new("L", (big_w, big_h))
        for obj in scene.objects:
            r, cx, cy = obj.radius * min(big_w, big_h), obj.x * big_w, obj.y * big_h
            x0, y0 = int(cx - r) - 2, int(cy - r) - 2
            box = (x0, y0, int(cx + r) + 3, int(cy + r) + 3)
            mask = Image.new("L", (box[2] - x0, box[3] - y0))
            draw_shape(ImageDraw.Draw(mask), obj.shape, cx - x0, cy - y0, r)
            layer.paste(_texture(obj.texture, COLOURS[obj.colour], *mask.size, r, scale), box, mask)
            alpha.paste(255, box, mask)
        # The layer is black outside the objects, i.e. premultiplied by alpha: composite as such.
        top, a = (np.asarray(im.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=2.0), np.float32)
                  for im in (layer, alpha))
        background = top + background * (1.0 - np.clip(a[..., None], 0, 255) / 255.0)
    return Image.fromarray(np.clip(background + 0.5, 0, 255).astype(np.uint8), "RGB")


def plural(shape: str) -> str:
    return shape + ("es" if shape.endswith("s") else "s")


def caption(scene: Scene, positions: bool = False, background_colour: bool = False) -> str:
    """"two small red circles and a large blue star on a striped background"; ``positions`` adds where,
    ``background_colour`` the background's colour ("on a striped sage background")."""
    groups = Counter((o.size, o.texture, o.colour, o.shape, o.position if positions else "") for o in scene.objects)
    phrases = [" ".join(["a" if n == 1 else _NUMBERS[n] if n < len(_NUMBERS) else str(n), size]
                        + ([texture] if texture != "solid" else []) + [colour, shape if n == 1 else plural(shape)]
                        + ([POSITION_PHRASES[where]] if where else []))
               for (size, texture, colour, shape, where), n in groups.items()]
    things = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    colour = f" {scene.background_colour}" if background_colour else ""
    ground = f"a {BACKGROUND_PHRASES[scene.background]}{colour} background"
    return f"{things} on {ground}" if phrases else ground


def attributes(scene: Scene) -> dict:
    """Everything a judge may check, per scene and per object (object lists follow ``scene.objects``)."""
    facts = {"background": scene.background, "background_colour": scene.background_colour,
             "count": len(scene.objects)}
    return facts | {_ATTRIBUTES[a][0]: [getattr(o, a) for o in scene.objects] for a in _OBJECT_ATTRIBUTES}


def describe(attribute: str, value) -> str:
    """Plain words for scenes having ``value`` of ``attribute``: "stars", "striped backgrounds", "red objects"."""
    if attribute == "shape":
        return plural(value)
    if attribute in ("background", "background_colour"):
        return f"{BACKGROUND_PHRASES.get(value, value)} backgrounds"
    return "objects " + POSITION_PHRASES[value] if attribute == "position" else f"{value} objects"


def _attribute(name: str) -> str:
    name = name.replace("color", "colour")
    for attribute, (plural_name, _, _) in _ATTRIBUTES.items():
        if name in (attribute, plural_name):
            return attribute
    raise InvalidParameterError("attribute", name, f"one of {', '.join(ATTRIBUTES)}")


def pair_differing_in(attribute: str, value_b, value_a=None, prevalence: float = 1.0,
                      base: SetSpec = SetSpec(), every_object: bool = False) -> PairSpec:
    """Two scene sets: A drawn from ``base`` without ``value_b``; B like A, but a ``prevalence`` fraction of its
    scenes include ``value_b`` (in one object, or in every object with ``every_object``).

    ``value_a`` pins A's attribute instead (``"blue"`` against ``"red"``). For ``count``, ``value_b`` is an int,
    a sequence of ints, or ``"more"``/``"fewer"`` (the upper or lower half of ``base``'s counts).
    """
    attribute = _attribute(attribute)
    field_name, _, allowed = _ATTRIBUTES[attribute]
    given = base.weights(attribute)
    if attribute == "position":  # "anywhere" lands in every region, so neither set may use it
        if "anywhere" in (value_b, value_a):
            raise InvalidParameterError("position", "anywhere", f"a region: {', '.join(POSITIONS[:-1])}")
        given = tuple(w for w in given if w[0] != "anywhere") or tuple((v, 1.0) for v in POSITIONS[:-1])
    if attribute == "count" and value_b in ("more", "fewer"):
        counts = sorted(v for v, _ in given)
        if len(counts) < 2:
            raise InvalidParameterError("base.counts", counts, "at least two counts to tell more from fewer")
        value_b = counts[len(counts) // 2:] if value_b == "more" else counts[: len(counts) // 2]
    elif attribute != "count" and not isinstance(value_b, str):
        raise InvalidParameterError("value_b", value_b, f"one {attribute} name")
    values_b = _normalise(attribute, value_b, allowed)
    excluded = {v for v, _ in values_b}
    if value_a is None:
        a_weights = tuple(w for w in given if w[0] not in excluded)
        if not a_weights:
            raise InvalidParameterError("value_b", value_b, f"a value that leaves set A something to draw "
                                        f"(base allows only {', '.join(str(v) for v, _ in given)})")
    elif excluded & {v for v, _ in _normalise(field_name, value_a, allowed)}:
        raise InvalidParameterError("value_a", value_a, f"values other than those of set B ({value_b!r})")
    spec_a = replace(base, **{field_name: a_weights if value_a is None else value_a}, include=None)
    spec_b = replace(spec_a, include=Inclusion(attribute, values_b, prevalence, every_object))
    if attribute == "count":
        mean = sum(v * p for v, p in values_b) - sum(v * p for v, p in spec_a.weights("count"))
        value, description = sorted(excluded), ("more objects" if mean > 0 else "fewer objects")
    else:
        value, description = value_b, describe(attribute, value_b)
    return PairSpec(spec_a, spec_b, (description,), {"attribute": attribute, "value": value, "more_in": "b",
                                                     "prevalence": float(prevalence), "description": description})
