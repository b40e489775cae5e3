"""From a detector's pixel map to regions, and from regions to words.

:func:`find_regions` thresholds a map with hysteresis (seeds at the detector's threshold, grown into neighbours
half-way down to 0.5), :func:`refine` cuts each region to the pixels that differ from its surroundings and
:func:`merge` groups marks less than MERGE_GAP pixels apart (the letters of a stamp are one region).
:func:`measure` gives each region interpretable measurements; :func:`summarise` turns the regions of many images
into a :class:`RegionSummary` and :func:`statement` into words ("tiny red rectangles (≈ 5 × 4 px), 2–4 per image").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy import ndimage

from .colours import colour_name

MERGE_GAP = 2
SPECK_CLUSTER = 8  # px: a sparse region no wider is a cluster of specks
MIN_AREA = 2  # working pixels: a smaller region must stand out by LONE_PIXEL_CONTRAST (a stuck pixel)
LONE_PIXEL_CONTRAST = 0.4
EDGE_GROWTH = 1
MIN_EDGE_CONTRAST = 0.1
EDGE_SHARE = 0.5
MAX_TEXTURE_RATIO = 0.7
ABOVE_RING = 1.5
_SQUARE = np.ones((3, 3), dtype=bool)  # 8-connected growth: a mark's corners are its inside's diagonal neighbours
MAIN_COLOUR_SHARE = 0.6
SIZE_WORDS = ((0.3, "tiny"), (2.0, "small"), (10.0, "medium-sized"), (float("inf"), "large"))


@dataclass(frozen=True)
class Region:
    """One connected region of an image, in that image's pixels.

    box : (x0, y0, x1, y1), x1 and y1 exclusive
    area : pixels inside it (at the image's own size)
    fill : area / box area (1 for a filled rectangle, ~0.79 for a disc, low for text)
    colour : its mean colour, RGB in [0, 1]
    contrast : colour distance between it and a 2-px ring around it (RGB, 0–1.7)
    texture : its lightness variation divided by the ring's (< 1: smoother than around it, e.g. blurred)
    detail : edge strength inside it divided by the ring's (> 1: finer detail, e.g. text)
    """

    box: tuple[int, int, int, int]
    area: float
    fill: float
    colour: tuple[float, float, float]
    contrast: float
    texture: float
    detail: float
    peak: float
    pieces: int = 1

    @property
    def size(self) -> tuple[int, int]:
        return self.box[2] - self.box[0], self.box[3] - self.box[1]


def find_regions(pixel_map: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Labels (h, w) int of the detector's regions in ``pixel_map`` (0 = none) and the mask of their pixels.

    A region holds at least one pixel above ``threshold`` and grows into connected pixels above
    (0.5 + threshold) / 2.
    """
    low = (0.5 + threshold) / 2 if threshold > 0.5 else threshold
    grown, _ = ndimage.label(pixel_map >= low)
    seeds = np.unique(grown[(pixel_map > threshold) & (grown > 0)])
    mask = np.isin(grown, seeds[seeds > 0])
    return np.where(mask, grown, 0), mask


def merge(labels: np.ndarray) -> np.ndarray:
    """The regions of ``labels`` with those closer than MERGE_GAP pixels joined (the letters of a stamp, the
    pixels of a cluster); labels 1..n."""
    mask = labels > 0
    if not mask.any():
        return np.zeros_like(labels)
    joined, _ = ndimage.label(ndimage.binary_dilation(mask, _SQUARE, iterations=MERGE_GAP) if MERGE_GAP else mask)
    return np.where(mask, joined, 0)


def refine(labels: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """``labels`` with each region cut to the pixels that themselves differ from its surroundings.

    A detector learns from pixels and their neighbourhoods, so it fires on a mark and also a little around it
    (its neighbours' surroundings hold the mark), and sometimes misses a mark's edge. For each region, the
    surroundings' colour is the median of a ring around it; the region becomes the pixels, within EDGE_GROWTH px
    of it, whose colour lies at least EDGE_SHARE of the way from that colour to the region's most different
    pixels (its 90th percentile). A region that differs from its surroundings by less than MIN_EDGE_CONTRAST
    in colour, or by less than ABOVE_RING times as much as the ring's own pixels do, is left as it is when its texture does differ (its lightness varies less than MAX_TEXTURE_RATIO
    times, or more than 1 / MAX_TEXTURE_RATIO times, as much as around it: a blurred patch), and dropped
    otherwise: only its neighbourhood differed (a detector's features look a few pixels around each pixel).
    """
    out = np.zeros_like(labels)
    for index, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        pad = EDGE_GROWTH + 4
        ys = slice(max(0, sl[0].start - pad), min(labels.shape[0], sl[0].stop + pad))
        xs = slice(max(0, sl[1].start - pad), min(labels.shape[1], sl[1].stop + pad))
        inside = labels[ys, xs] == index
        near = ndimage.binary_dilation(inside, _SQUARE, iterations=EDGE_GROWTH)
        ring = ndimage.binary_dilation(near, _SQUARE, iterations=2) & ~near
        if not ring.any():
            out[ys, xs][inside] = index
            continue
        patch = rgb[ys, xs]
        distance = np.linalg.norm(patch - np.median(patch[ring], axis=0), axis=2)
        strongest = np.percentile(distance[inside], 90)
        if strongest < max(MIN_EDGE_CONTRAST, ABOVE_RING * np.percentile(distance[ring], 90)):
            light = patch.mean(axis=2)
            ratio = (light[inside].std() + 1e-3) / (light[ring].std() + 1e-3)
            if abs(np.log(ratio)) >= np.log(1 / MAX_TEXTURE_RATIO):  # its texture differs: a blurred patch
                out[ys, xs][inside] = index
            continue  # neither its colour nor its texture differs: only its neighbourhood did
        if inside.sum() < MIN_AREA and strongest < LONE_PIXEL_CONTRAST:
            continue  # a lone pixel that does not stand out far: as likely noise as a mark
        mark = near & (distance >= EDGE_SHARE * strongest)
        pieces, _ = ndimage.label(mark, _SQUARE)
        keep = np.isin(pieces, np.unique(pieces[inside & mark]))
        out[ys, xs][(keep & (pieces > 0)) if (keep & (pieces > 0)).any() else inside] = index
    return out


def measure(labels: np.ndarray, rgb: np.ndarray, features_edges: np.ndarray, scale: tuple[float, float],
            pixel_map: np.ndarray) -> list[Region]:
    """Each labelled region's :class:`Region`; ``rgb`` is the working image (h, w, 3), ``features_edges`` its edge
    strength (h, w), ``scale`` (sx, sy) image pixels per working pixel."""
    out = []
    lightness = rgb.mean(axis=2)
    for index, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        ys, xs = sl
        y0, y1 = max(0, ys.start - 3), min(labels.shape[0], ys.stop + 3)
        x0, x1 = max(0, xs.start - 3), min(labels.shape[1], xs.stop + 3)
        inside = labels[y0:y1, x0:x1] == index
        ring = ndimage.binary_dilation(inside, iterations=2) & ~inside & (labels[y0:y1, x0:x1] == 0)
        if not ring.any():
            ring = ~inside
        patch, light, edges = rgb[y0:y1, x0:x1], lightness[y0:y1, x0:x1], features_edges[y0:y1, x0:x1]
        colour = patch[inside].mean(axis=0)
        around = patch[ring].mean(axis=0) if ring.any() else colour
        h, w = ys.stop - ys.start, xs.stop - xs.start
        out.append(Region(
            box=(int(np.floor(xs.start * scale[0])), int(np.floor(ys.start * scale[1])),
                 int(np.ceil(xs.stop * scale[0])), int(np.ceil(ys.stop * scale[1]))),
            area=float(inside.sum() * scale[0] * scale[1]), fill=float(inside.sum() / (h * w)),
            colour=tuple(float(c) for c in colour), contrast=float(np.linalg.norm(colour - around)),
            texture=float((light[inside].std() + 1e-3) / (light[ring].std() + 1e-3)) if ring.any() else 1.0,
            detail=float((edges[inside].mean() + 1e-3) / (edges[ring].mean() + 1e-3)) if ring.any() else 1.0,
            peak=float(pixel_map[y0:y1, x0:x1][inside].max()),
            pieces=int(ndimage.label(inside, _SQUARE)[1]),
        ))
    return out


@dataclass(frozen=True)
class RegionSummary:
    """What the regions a detector finds look like, from the discovery half's images that hold them.

    toward : the set whose images hold them ("a" or "b")
    kind : "rectangles", "specks", "blurred patches", "text-like marks", "blotches" or "marks"
    size_word : "tiny", "small", "medium-sized" or "large" (by area: < 0.3, < 2, < 10 % of the image, more)
    width, height : typical region width and height in image pixels (each such value here is the median over
        images of each image's median region, so that one image with many regions does not outweigh the rest)
    area_percent : median region area, % of the image
    colour : the plain name (:func:`~.colours.colour_name`) most regions have, or the three commonest
        ("red, blue and green") when no one name covers MAIN_COLOUR_SHARE of them
    count : (low, high) regions per image that holds any (25th and 75th percentile)
    position : "in the top-left corner", ... "near the centre", or "" (anywhere)
    fill, contrast, texture, detail : medians of the :class:`Region` measurements
    n_regions, n_images : regions and images the description comes from
    share_target, share_other : discovery images (out of fold) of each set that hold any
    threshold : the detector's score above which an image holds a region
    """

    toward: str
    kind: str
    size_word: str
    width: float
    height: float
    area_percent: float
    colour: str
    count: tuple[int, int]
    position: str
    fill: float
    contrast: float
    texture: float
    detail: float
    n_regions: int
    n_images: int
    share_target: float
    share_other: float
    threshold: float
    detector: object = field(default=None, repr=False, compare=False)
    boxes: dict = field(default_factory=dict, repr=False, compare=False)
    location: dict = field(default_factory=dict, repr=False, compare=False)

    def to_json(self) -> dict:
        return {"toward": self.toward, "kind": self.kind, "size": self.size_word,
                "width_px": round(self.width, 1), "height_px": round(self.height, 1),
                "area_percent": round(self.area_percent, 3), "colour": self.colour, "count": list(self.count),
                "position": self.position or "anywhere", "fill": round(self.fill, 3),
                "contrast": round(self.contrast, 3), "texture": round(self.texture, 3),
                "detail": round(self.detail, 3), "n_regions": self.n_regions, "n_images": self.n_images,
                "discovery_share": {self.toward: round(self.share_target, 3),
                                    ("a" if self.toward == "b" else "b"): round(self.share_other, 3)},
                "threshold": round(self.threshold, 4), "described_from": "discovery half (out of fold)"}


def kind_of(fill: float, contrast: float, texture: float, detail: float, width: float, height: float,
            pieces: float = 1) -> str:
    """The kind word of regions with these median measurements (see :class:`RegionSummary`); ``pieces``: how many
    separate marks MERGE_GAP joined into one region (the letters of a word)."""
    if max(width, height) <= 3.5:
        return "specks"
    if contrast < 0.08 and 0.15 < texture < 0.7:  # the colour of its surroundings, less of their texture
        return "blurred patches"
    if fill >= 0.85:
        return "rectangles"
    if fill < 0.6 and (detail > 1.3 or (pieces >= 3 and width >= 1.5 * height)):
        return "text-like marks"  # fine detail, or a row of separate marks: letters
    if fill >= 0.6:
        return "blotches"
    if max(width, height) <= SPECK_CLUSTER:  # a few separate pixels close together: stuck or dead pixels
        return "specks"
    return "marks"


def _position(centres: np.ndarray) -> str:
    """Where most regions lie: a corner, the centre, or "" (no one place); ``centres`` (n, 2) in [0, 1]."""
    if not len(centres):
        return ""
    for name, (cx, cy) in {"top-left": (0, 0), "top-right": (1, 0), "bottom-left": (0, 1),
                           "bottom-right": (1, 1)}.items():
        if np.mean((np.abs(centres[:, 0] - cx) < 0.3) & (np.abs(centres[:, 1] - cy) < 0.3)) >= 0.8:
            return f"in the {name} corner"
    if np.mean(np.all(np.abs(centres - 0.5) < 0.25, axis=1)) >= 0.8:
        return "near the centre"
    near_edge = np.minimum(np.minimum(centres[:, 0], 1 - centres[:, 0]), np.minimum(centres[:, 1], 1 - centres[:, 1]))
    if np.mean(near_edge < 0.15) >= 0.8:
        return "along the edges"
    return ""


def typical_regions(per_image: Sequence[tuple[Sequence[Region], tuple[int, int]]]
                    ) -> list[tuple[list[Region], tuple[int, int]]]:
    """The regions that resemble regions of many other images, per image (images left with none are dropped).

    Some images above a detector's threshold are there by chance, and their regions are whatever stood out in
    them; the regions the claim is about recur, alike in size, shape and colour, across the images that hold
    them. Each region counts the images with a region near it (z-scored log width and height, fill, colour,
    contrast; closer than the median distance between regions of different images, halved); the regions with at
    least a quarter of the highest count are kept.
    """
    regions = [(k, r) for k, (rs, _) in enumerate(per_image) for r in rs]
    if len(per_image) < 3 or len(regions) < 3:
        return [(list(rs), size) for rs, size in per_image]
    d = np.array([[np.log(max(r.size[0], 1)), np.log(max(r.size[1], 1)), r.fill, *r.colour, r.contrast]
                  for _, r in regions])
    d = (d - d.mean(axis=0)) / (d.std(axis=0) + 1e-6)
    image = np.array([k for k, _ in regions])
    distance = np.linalg.norm(d[:, None, :] - d[None, :, :], axis=2)
    other = image[:, None] != image[None, :]
    radius = 0.5 * np.median(distance[other]) if other.any() else 0.0
    near = (distance <= radius) & other
    count = np.array([len(np.unique(image[near[j]])) for j in range(len(regions))])
    keep = count >= 0.25 * count.max() if count.max() > 0 else np.ones(len(regions), bool)
    out = []
    for k, (rs, size) in enumerate(per_image):
        kept = [r for (kk, r), ok in zip(regions, keep) if kk == k and ok]
        if kept:
            out.append((kept, size))
    return out


def summarise(per_image: Sequence[tuple[Sequence[Region], tuple[int, int]]], *, toward: str, share_target: float,
              share_other: float, threshold: float) -> RegionSummary | None:
    """The :class:`RegionSummary` of the regions of the images that hold any: ``per_image`` lists (regions,
    (width, height) of the image); None when there are none."""
    per_image = typical_regions([(rs, size) for rs, size in per_image if rs])
    if not per_image:
        return None
    regions = [r for rs, _ in per_image for r in rs]
    counts = [len(rs) for rs, _ in per_image]

    def typical(value) -> float:  # the median over images of each image's median: no one image outweighs others
        return float(np.median([np.median([value(r, size) for r in rs]) for rs, size in per_image]))

    width, height = typical(lambda r, s: r.size[0]), typical(lambda r, s: r.size[1])
    area = typical(lambda r, s: 100 * r.area / (s[0] * s[1]))
    centres = np.array([((r.box[0] + r.box[2]) / 2 / w, (r.box[1] + r.box[3]) / 2 / h)
                        for rs, (w, h) in per_image for r in rs])
    fill, contrast, texture, detail = (typical(lambda r, s, k=k: getattr(r, k))
                                       for k in ("fill", "contrast", "texture", "detail"))
    colours = _colour_words([colour_name(r.colour) for r in regions])
    return RegionSummary(
        toward=toward, kind=kind_of(fill, contrast, texture, detail, width, height,
                                    typical(lambda r, s: r.pieces)),
        size_word=next(word for bound, word in SIZE_WORDS if area < bound), width=width, height=height,
        area_percent=area, colour=colours,
        count=(int(np.floor(np.percentile(counts, 25))), int(np.ceil(np.percentile(counts, 75)))),
        position=_position(centres), fill=fill, contrast=contrast, texture=texture, detail=detail,
        n_regions=len(regions), n_images=len(counts), share_target=share_target, share_other=share_other,
        threshold=threshold)


def _colour_words(names: Sequence[str]) -> str:
    """One colour name when most regions (MAIN_COLOUR_SHARE) have it, else the three commonest: "red, blue and
    green"."""
    kinds, counts = np.unique(names, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    if counts[order[0]] >= MAIN_COLOUR_SHARE * len(names):
        return str(kinds[order[0]])
    top = [str(kinds[i]) for i in order[:3]]
    return ", ".join(top[:-1]) + " and " + top[-1]


def statement(s: RegionSummary) -> str:
    """The words of a region claim: "tiny red rectangles (≈ 5 × 4 px), 2–4 per image"; several colours come
    after the kind ("tiny rectangles in red, blue and green ...")."""
    if s.kind == "blurred patches":
        words = f"{s.size_word} {s.kind}"
    elif " and " in s.colour:
        words = f"{s.size_word} {s.kind} in {s.colour}"
    else:
        words = f"{s.size_word} {s.colour} {s.kind}"
    words += f" (≈ {s.width:.0f} × {s.height:.0f} px)"
    low, high = s.count
    if high > 1:
        words += f", {low}–{high} per image" if low != high else f", {low} per image"
    return words + (f" {s.position}" if s.position else "")
