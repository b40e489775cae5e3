"""Where in an image a direction or a finding lies: per-patch scores of the vision tower.

A CLIP-like vision tower sees its input square as a grid of cells (a transformer's patches, a ResNet's
feature map) and gives one token per cell in the joint space (:meth:`OpenClipEmbedder.embed_patches`,
spotdiff.models.embedders.patch_tokens). Each token can be
scored against the same vector an image is scored against (``embedding @ vector``), which gives a
map of shape (gh, gw) per image. The map covers the square the model saw, not always the whole
image: with open_clip's usual preprocessing (shorter side resized, centre cropped) the borders of
a long image are cut, so :func:`view_box` says which part of the image the grid lies on, and
:func:`peak` and :func:`overlay` use it.

    >>> maps = patch_scores(embedder, records, finding.hypothesis.vector)
    >>> x, y = peak(maps[0], (records[0].width, records[0].height))
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Mapping, Protocol, Sequence

import numpy as np
from PIL import Image, ImageDraw

from ..io.decoding import jpeg_bytes, small_image
from ..io.images import ImageRecord
from ..models.cache import EmbeddingCache, code_fingerprint, result_key
from ..progress import Progress, Work, relay, run

MAP = "heatmap"  # the cache's kind of result for one image's map along one vector
CHUNK = 8  # images mapped between two looks at the time budget
Box = tuple[float, float, float, float]
"""(x0, y0, x1, y1) in image pixels, x1 and y1 exclusive."""

# inferno-like: black, purple, red, orange, pale yellow; interpolated to 256 entries
_STOPS = np.array([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66],
                   [245, 125, 21], [250, 193, 39], [252, 255, 164]], dtype=np.float32)
LUT = np.stack([np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_STOPS)), _STOPS[:, c])
                for c in range(3)], axis=1).astype(np.uint8)
"""ndarray of shape (256, 3): the colour of each map value from 0 (lowest) to 255 (highest)."""


class PatchEmbedder(Protocol):
    """An embedder that can also give one vector per patch (OpenClipEmbedder)."""

    preprocess_cfg: dict

    def embed_patches(self, images: Sequence[ImageRecord], directions: np.ndarray | None = None
                      ) -> Work[np.ndarray]:
        """Yield Progress per batch; return ndarray of shape (len(images), gh, gw, dim), or with
        ``directions`` (k, dim) the scores along each, (len(images), gh, gw, k)."""
        ...


@dataclass(frozen=True)
class Heatmap:
    """One image's map for one vector.

    scores : ndarray of shape (gh, gw), each patch's score minus the image's mean patch score
    box : the part of the image the grid lies on, (x0, y0, x1, y1) in the image's pixels; it
        extends beyond the image when the model's input was padded
    image_size : (width, height) of the image in pixels, as ImageRecord gives them
    """

    scores: np.ndarray
    box: Box
    image_size: tuple[int, int]

    @property
    def peak(self) -> tuple[int, int]:
        """(x, y) pixel of the centre of the highest-scoring patch, inside the image."""
        return peak(self.scores, self.image_size, box=self.box)


def view_box(image_size: tuple[int, int], input_size: int | Sequence[int] = 224,
             resize_mode: str = "shortest") -> Box:
    """The part of an image of ``image_size`` (w, h) that a model's ``input_size`` square sees.

    resize_mode : open_clip's: "shortest" (resize the shorter side, centre crop: the longer
        side's ends are cut), "longest" (resize the longer side, pad), "squash" (the whole image)
    """
    w, h = image_size
    tw, th = (input_size, input_size) if isinstance(input_size, int) else (input_size[-1], input_size[0])
    if resize_mode == "squash":
        return 0.0, 0.0, float(w), float(h)
    # the side that sets the scale is seen whole (shortest) or fills the input (longest)
    by_width = (tw / w >= th / h) == (resize_mode == "shortest")
    bw, bh = (w, th * w / tw) if by_width else (tw * h / th, h)
    return (w - bw) / 2, (h - bh) / 2, (w + bw) / 2, (h + bh) / 2


def _box_of(embedder: PatchEmbedder, record: ImageRecord) -> Box:
    cfg = embedder.preprocess_cfg
    return view_box((record.width, record.height), cfg["size"], cfg.get("resize_mode") or "shortest")


def unit_rows(vectors) -> np.ndarray:
    """Vectors as rows of unit length, float64: shape (k, dim)."""
    v = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def centred(scores: np.ndarray) -> np.ndarray:
    """Each map (..., gh, gw) minus its own mean, float32: where in *this* image, whatever its overall score."""
    s = np.asarray(scores, dtype=np.float64)
    return (s - s.mean(axis=(-2, -1), keepdims=True)).astype(np.float32)


def scores_from_tokens(tokens: np.ndarray, vector: np.ndarray, *, centre: bool = True) -> np.ndarray:
    """Each patch token's score along unit ``vector``: tokens (n, gh, gw, dim) -> scores (n, gh, gw), float32.
    Tokens come as embed_patches gives them (unit vectors of a vision transformer: the score is a cosine;
    a ResNet's gradient x activation: the score is the cell's share of the image's score).

    centre : subtract each image's mean patch score, so the map says where in *this* image the
        vector lies, whatever the image's overall score
    """
    s = np.asarray(tokens, dtype=np.float64) @ unit_rows(vector)[0]
    return centred(s) if centre else s.astype(np.float32)


def patch_scores(embedder: PatchEmbedder, image_records: Sequence[ImageRecord], vector: np.ndarray,
                 *, centre: bool = True) -> list[np.ndarray]:
    """One map of shape (gh, gw) per image: where in it ``vector`` scores highest (see scores_from_tokens)."""
    if not image_records:
        return []
    maps = run(embedder.embed_patches(list(image_records), directions=unit_rows(vector)))[..., 0]
    return list(centred(maps) if centre else maps)


def heatmaps(embedder: PatchEmbedder, requests: Sequence[tuple[str, Sequence[ImageRecord], np.ndarray]],
             cache: EmbeddingCache | None = None, *, budget_s: float | None = None
             ) -> Work[dict[tuple[str, str], Heatmap]]:
    """Maps for many (key, images, vector) requests; each distinct image goes through the model once,
    scored along every requested vector.

    cache : where each map is kept, by the model's cache key, the image's content and the vector; an image
        whose maps are all there is not read, and a run whose maps are all there does not use the model
    budget_s : stop after the CHUNK of images that passes this many seconds: the images not reached get no map
        (the cache keeps what was drawn, so the next run draws the rest); None: no limit
    Yields Progress("heatmaps", ...); returns {(key, content_hash): Heatmap}.
    """
    start = time.perf_counter()
    requests = [(key, tuple(records), unit_rows(vector)[0]) for key, records, vector in requests if len(records)]
    names = {(j, r.content_hash): _map_key(embedder.cache_key, r.content_hash, vector)
             for j, (_, records, vector) in enumerate(requests) for r in records} if cache is not None else {}
    stored = {name: cache.get_result(MAP, name) for name in names.values()} if cache is not None else {}
    found = {jh: stored[name] for jh, name in names.items() if isinstance(stored[name], np.ndarray)}
    missing = [(j, r) for j, (_, records, _) in enumerate(requests) for r in records
               if (j, r.content_hash) not in found]
    unique = list({r.content_hash: r for _, r in missing}.values())
    yield Progress("heatmaps", 0, len(unique), f"{len(unique)} images")
    wanted = sorted({j for j, _ in missing})
    column = {j: c for c, j in enumerate(wanted)}
    for first in range(0, len(unique), CHUNK):
        if budget_s is not None and first and time.perf_counter() - start > budget_s:
            break
        chunk = unique[first:first + CHUNK]
        maps = yield from relay(embedder.embed_patches(chunk, directions=np.stack([requests[j][2] for j in wanted])),
                                report=lambda p: Progress("heatmaps", first + p.done, len(unique),
                                                          f"patch maps: {first + p.done}/{len(unique)}"))
        row = {r.content_hash: i for i, r in enumerate(chunk)}
        new = {(j, r.content_hash): centred(maps[row[r.content_hash], ..., column[j]])
               for j, r in missing if r.content_hash in row}
        if cache is not None:
            for jh, scores in new.items():
                cache.put_result(MAP, names[jh], scores)
        found.update(new)
    out = {}
    for j, (key, records, _) in enumerate(requests):
        for record in records:
            if (j, record.content_hash) in found:
                out[(key, record.content_hash)] = Heatmap(found[j, record.content_hash], _box_of(embedder, record),
                                                          (record.width, record.height))
    return out


def _map_key(model_key: str, content_hash: str, vector: np.ndarray) -> str:
    return result_key(MAP, code_fingerprint("spotdiff.models.embedders.patch_tokens"), model_key, content_hash,
                      hashlib.sha256(np.asarray(vector, "<f4").tobytes()).hexdigest())


# --- which maps a comparison shows ----------------------------------------------------------------------


def item_key(item, side: str) -> str:
    """The key of a finding's or a direction's maps for the exemplars of ``side`` ("a" or "b").

    A finding is mapped on the set it claims has more (its vector points there); a direction,
    which points to B, on both sets: B's images along it, A's against it.
    """
    if hasattr(item, "hypothesis"):
        h = item.hypothesis
        return f"finding:{h.space}:{h.more_in}:{h.statement}"
    return f"direction:{item.space}:{item.index}:{side}"


def result_requests(space: str, findings: Sequence, directions: Sequence
                    ) -> list[tuple[str, tuple[ImageRecord, ...], np.ndarray]]:
    """What :func:`heatmaps` should draw for a comparison: the exemplars of the supported findings
    and of the directions of ``space`` (a space with patch tokens, not measurements)."""
    out = []
    for f in findings:
        if f.supported and f.hypothesis.space == space:
            side = f.hypothesis.more_in
            out.append((item_key(f, side), f.exemplars_b if side == "b" else f.exemplars_a, f.hypothesis.vector))
    for d in directions:
        if d.space == space:
            out.append((item_key(d, "b"), d.exemplars_b, d.vector))
            out.append((item_key(d, "a"), d.exemplars_a, -np.asarray(d.vector)))
    return out


def maps_of(heatmaps: Mapping[tuple[str, str], Heatmap], key: str) -> dict[str, Heatmap]:
    """{content_hash: Heatmap} of one key."""
    return {h: m for (k, h), m in heatmaps.items() if k == key}


# --- pictures ---------------------------------------------------------------------------------------------


def peak(scores: np.ndarray, image_size: tuple[int, int], *, box: Box | None = None) -> tuple[int, int]:
    """(x, y) in the image's pixels of the centre of the highest patch of ``scores`` (gh, gw).

    box : where the grid lies on the image (:func:`view_box`); default: the centred square of
        the shorter side, as open_clip's "shortest" preprocessing crops
    """
    s = np.asarray(scores, dtype=np.float64)
    gh, gw = s.shape
    x0, y0, x1, y1 = box if box is not None else view_box(image_size, 1)
    i, j = np.unravel_index(int(np.argmax(s)), s.shape)
    x = x0 + (j + 0.5) / gw * (x1 - x0)
    y = y0 + (i + 0.5) / gh * (y1 - y0)
    w, h = image_size
    return int(np.clip(np.floor(x), 0, w - 1)), int(np.clip(np.floor(y), 0, h - 1))


def _spread(scores: np.ndarray, size: tuple[int, int], box: Box) -> tuple[np.ndarray, np.ndarray]:
    """The map as values 0..1 over an image of ``size`` (w, h), bicubic-upsampled into ``box``, and a
    0/1 mask of the part the model saw: two float32 arrays of shape (h, w)."""
    w, h = size
    x0, y0, x1, y1 = box
    s = np.asarray(scores, dtype=np.float32)
    span = float(s.max() - s.min())
    v = (s - s.min()) / span if span > 0 else np.zeros_like(s)
    inner = (max(1, round(x1 - x0)), max(1, round(y1 - y0)))
    up = np.asarray(Image.fromarray(v, "F").resize(inner, Image.Resampling.BICUBIC), dtype=np.float32)
    canvas, seen = Image.new("F", (w, h), 0.0), Image.new("F", (w, h), 0.0)
    canvas.paste(Image.fromarray(np.clip(up, 0, 1), "F"), (round(x0), round(y0)))
    seen.paste(Image.new("F", inner, 1.0), (round(x0), round(y0)))
    return np.asarray(canvas, dtype=np.float32), np.asarray(seen, dtype=np.float32)


def layer(heatmap: Heatmap, size: tuple[int, int], opacity: float = 0.75) -> np.ndarray:
    """The map alone, to draw over its image shown at ``size`` (w, h): RGBA uint8 of shape (h, w, 4),
    coloured by :data:`LUT`, transparent where the map is lowest and outside what the model saw."""
    w, h = size
    sx, sy = w / heatmap.image_size[0], h / heatmap.image_size[1]
    x0, y0, x1, y1 = heatmap.box
    value, seen = _spread(heatmap.scores, (w, h), (x0 * sx, y0 * sy, x1 * sx, y1 * sy))
    rgba = np.empty((h, w, 4), dtype=np.uint8)
    rgba[..., :3] = LUT[np.round(value * 255).astype(np.uint8)]
    rgba[..., 3] = np.round(255 * opacity * value * seen).astype(np.uint8)
    return rgba


def finding_layer(result, finding, record: ImageRecord, size: tuple[int, int]) -> np.ndarray | None:
    """:func:`layer` of ``finding``'s map on ``record`` (one of its exemplars) from ``result.heatmaps``,
    or None where the comparison made none (unsupported findings, measurements, the other set)."""
    heatmap = result.heatmaps.get((item_key(finding, finding.more_in), record.content_hash))
    return None if heatmap is None else layer(heatmap, size)


def overlay(image: Image.Image, scores: np.ndarray, *, box: Box | None = None, opacity: float = 0.75,
            mark_peak: bool = True) -> Image.Image:
    """``image`` with the map laid over it: bicubic-upsampled, coloured by :data:`LUT`, more opaque
    where higher (the lowest patches leave the image as it is); a ring marks the peak.

    box : where the grid lies on ``image``, in its pixels (default: its centred square); parts of
        the image the model did not see stay uncoloured
    """
    image = image.convert("RGB")
    w, h = image.size
    box = box if box is not None else view_box((w, h), 1)
    value, seen = _spread(scores, (w, h), box)
    alpha = (opacity * value * seen)[..., None]
    colour = LUT[np.round(value * 255).astype(np.uint8)].astype(np.float32)
    out = np.asarray(image, dtype=np.float32) * (1 - alpha) + colour * alpha
    result = Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGB")
    s = np.asarray(scores, dtype=np.float32)
    if mark_peak and float(s.max() - s.min()) > 0:
        x, y = peak(s, (w, h), box=box)
        r = max(3, round(min(w, h) / 16))
        draw = ImageDraw.Draw(result)
        draw.ellipse((x - r, y - r, x + r, y + r), outline=(0, 0, 0), width=3)
        draw.ellipse((x - r, y - r, x + r, y + r), outline=(80, 255, 255), width=1)
    return result


def overlay_jpeg(record: ImageRecord, heatmap: Heatmap, size: int = 96, *, image: Image.Image | None = None) -> bytes:
    """JPEG bytes of ``record``'s image shrunk to fit ``size`` x ``size``, with ``heatmap`` over it.

    image : that picture already decoded and shrunk (a report's thumbnail), so the file is not read again
    """
    image = small_image(record, size) if image is None else image
    # the map's box is in the record's pixels; the decoded image may be smaller (JPEG draft, thumbnail)
    sx, sy = image.width / heatmap.image_size[0], image.height / heatmap.image_size[1]
    x0, y0, x1, y1 = heatmap.box
    return jpeg_bytes(overlay(image, heatmap.scores, box=(x0 * sx, y0 * sy, x1 * sx, y1 * sy)))


# --- checking a map against a planted truth -------------------------------------------------------------


def hits(peaks: Sequence[tuple[float, float]], boxes: Sequence[Sequence[Sequence[float]]],
         margin: float = 0.0) -> np.ndarray:
    """Whether each peak (x, y) lies in one of its image's boxes [x0, y0, x1, y1], grown by ``margin``
    pixels on every side: bool ndarray of shape (len(peaks),)."""
    out = np.zeros(len(peaks), dtype=bool)
    for k, ((x, y), image_boxes) in enumerate(zip(peaks, boxes)):
        out[k] = any(b[0] - margin <= x < b[2] + margin and b[1] - margin <= y < b[3] + margin
                     for b in image_boxes)
    return out


def chance(image_size: tuple[int, int], boxes: Sequence[Sequence[float]], margin: float = 0.0,
           grid: tuple[int, int] | None = None, box: Box | None = None) -> float:
    """How often a peak put at random would hit, by the rule of :func:`hits`: the share of the grid's
    patch centres (``grid`` (gh, gw) lying on ``box``, default the centred square) inside the boxes
    grown by ``margin``; without ``grid``, the share of the image's pixels."""
    w, h = image_size
    if grid is None:
        ys, xs = np.mgrid[0:h, 0:w] + 0.5
    else:
        x0, y0, x1, y1 = box if box is not None else view_box(image_size, 1)
        gh, gw = grid
        ys, xs = np.meshgrid(y0 + (np.arange(gh) + 0.5) / gh * (y1 - y0),
                             x0 + (np.arange(gw) + 0.5) / gw * (x1 - x0), indexing="ij")
        xs, ys = np.floor(xs), np.floor(ys)  # as peak() rounds
        inside = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
        xs, ys = xs[inside], ys[inside]
    points = list(zip(xs.ravel(), ys.ravel()))
    return float(hits(points, [boxes] * len(points), margin).mean())
