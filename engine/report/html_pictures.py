"""The pictures of the HTML report: thumbnails as ``data:`` URIs, each made once per page, figures with a
heat map beside them or regions outlined on them, galleries, and the small heat images of where a region
finding's regions lie; plus the page context every section reads (:class:`Page`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
from PIL import Image

from ..analysis import heatmap

from ..io import decoding
from ..errors import SpotdiffError, UnreadableImageError
from ..io.images import ImageRecord
from ..analysis.result import Finding
from .json_report import PathNamer

if TYPE_CHECKING:
    from ..comparison import Result  # lazy: type hints only (Result writes its reports with this package)

THUMBNAIL_SIZE = 96
MAX_THUMBNAILS_PER_SIDE = 8
OUTLINE = "#00ffff"
"""Colour of a region's outline: bright, and far from the colours regions usually are (red, yellow, black, white);
a dark halo under it keeps it visible on pale pictures."""
OUTLINE_GAP = 1.5
"""Thumbnail pixels between a region and its outline, so the outline never hides the region itself."""
LOCATION_SIZE = 96

Boxes = Sequence[tuple[int, int, int, int]]
"""(x0, y0, x1, y1) boxes in an image's own pixels, x1 and y1 exclusive."""


def escape(text: object) -> str:
    return html.escape(str(text), quote=True)


class Thumbnails:
    """Thumbnails as ``data:`` URIs, each made once per page; failures keep their reason. The shrunk pictures are
    kept too, so a heat map is drawn over one without reading its file again."""

    def __init__(self, namer: PathNamer, size: int = THUMBNAIL_SIZE):
        self._namer = namer
        self._size = size
        self._cache: dict[Path, tuple[str | None, str]] = {}
        self._pictures: dict[Path, Image.Image] = {}

    def get(self, image: Path | ImageRecord) -> tuple[str | None, str]:
        """``(uri, "")`` or ``(None, reason)`` for a file, or for the frame or slice a record names."""
        path = self._key(image)
        if path not in self._cache:
            try:
                picture = decoding.small_image(image, size=self._size)
            except (OSError, SpotdiffError) as e:  # the file vanished or changed since the run
                if isinstance(e, UnreadableImageError):
                    reason = e.reason
                else:
                    reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
                self._cache[path] = (None, self._namer.text(reason or type(e).__name__))
            else:
                self._pictures[path] = picture
                jpeg = decoding.jpeg_bytes(picture)
                self._cache[path] = ("data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii"), "")
        return self._cache[path]

    def picture(self, image: Path | ImageRecord) -> Image.Image | None:
        """The shrunk picture behind :meth:`get`'s thumbnail (None where it could not be read)."""
        self.get(image)
        return self._pictures.get(self._key(image))

    @staticmethod
    def _key(image: Path | ImageRecord):
        return (image.path, image.frame, image.axis) if isinstance(image, ImageRecord) else image


@dataclass
class Page:
    result: Result
    namer: PathNamer
    thumbnails: Thumbnails
    alpha: float
    findings: list[Finding] = field(default_factory=list)
    set_of: dict[Path, str] = field(default_factory=dict)

    @property
    def by_id(self) -> dict[str, Finding]:
        """The findings by id, for the links from a side effect to its cause."""
        return {f.id: f for f in self.findings}


def _heatmap_img(record: ImageRecord, hm: heatmap.Heatmap, name: str, picture: Image.Image | None = None) -> str:
    """The picture with its heat map over it, beside the plain one; "" when it cannot be drawn."""
    try:
        jpeg = heatmap.overlay_jpeg(record, hm, size=THUMBNAIL_SIZE, image=picture)
    except (OSError, SpotdiffError):  # the plain thumbnail already says why
        return ""
    x, y = hm.peak
    uri = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
    return f'<img class="heatmap" src="{uri}" alt="{escape("where it lies in " + name)}" title="peak at x {x}, y {y}">'


def outlines_svg(record: ImageRecord, boxes: Boxes) -> str:
    """An SVG laid over a thumbnail, one outline around each box; "" when there are none.

    The SVG's viewBox is the image's own pixels and it scales as the thumbnail does (``object-fit: contain`` and
    ``preserveAspectRatio="xMidYMid meet"`` agree), so boxes are drawn where the detector found them at any size.
    """
    if not boxes:
        return ""
    w, h = max(record.width, 1), max(record.height, 1)
    gap = OUTLINE_GAP * max(w, h) / THUMBNAIL_SIZE  # in image pixels
    rects = []
    for stroke, width, cls in (("#000", 3, "region-halo"), (OUTLINE, 1.5, "region-box")):
        for x0, y0, x1, y1 in boxes:
            rects.append(f'<rect class="{cls}" x="{x0 - gap:.1f}" y="{y0 - gap:.1f}" width="{x1 - x0 + 2 * gap:.1f}" '
                         f'height="{y1 - y0 + 2 * gap:.1f}" fill="none" stroke="{stroke}" stroke-width="{width}" '
                         f'stroke-opacity="{0.55 if cls == "region-halo" else 1}" '
                         'vector-effect="non-scaling-stroke"/>')
    size = THUMBNAIL_SIZE
    return (f'<svg class="regions" viewBox="0 0 {w} {h}" width="{size}" height="{size}" '
            'preserveAspectRatio="xMidYMid meet" style="position:absolute;left:0;top:0;overflow:visible" '
            f'aria-label="{len(boxes)} region{"s" if len(boxes) != 1 else ""} outlined">{"".join(rects)}</svg>')


def location_images(location: Mapping[str, np.ndarray]) -> tuple[dict[str, str], float]:
    """Each set's location map (32 x 32 shares in [0, 1]) as a PNG ``data:`` URI, coloured on one scale for both
    sets (black: none; brightest: the larger map's highest share), and that highest share."""
    grids = {side: np.asarray(grid, dtype=np.float64) for side, grid in location.items() if grid is not None}
    top = max((float(g.max()) for g in grids.values() if g.size), default=0.0)
    uris = {}
    for side, grid in grids.items():
        index = np.clip(np.round(grid / top * 255) if top > 0 else np.zeros_like(grid), 0, 255).astype(np.uint8)
        picture = Image.fromarray(heatmap.LUT[index]).resize((LOCATION_SIZE, LOCATION_SIZE), Image.Resampling.NEAREST)
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG", optimize=True)
        uris[side] = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return uris, top


def where_figure(location: Mapping[str, np.ndarray]) -> str:
    """A region finding's "where" figure: each set's average location map, side by side; "" without maps."""
    uris, top = location_images(location)
    maps = "".join(
        f'<figure style="margin:0"><img src="{uris[side]}" width="{LOCATION_SIZE}" height="{LOCATION_SIZE}" '
        f'style="image-rendering:pixelated;display:block" alt="where the regions lie in set {side.upper()}">'
        f'<figcaption><span class="chip set-{side}">{side.upper()}</span> Set {side.upper()}</figcaption></figure>'
        for side in ("a", "b") if side in uris)
    if not maps:
        return ""
    return (f'<figure class="where" style="margin:0;max-width:320px"><div style="display:flex;gap:12px">{maps}</div>'
            "<figcaption>Where: share of held-out images with a region in each cell (a 32 × 32 grid over the "
            f"image; black: none, brightest: {100 * top:.3g} %, one scale for both sets)</figcaption></figure>")


def figure(page: Page, record: ImageRecord, label: str, hm: heatmap.Heatmap | None = None,
           boxes: Boxes = ()) -> str:
    """One picture with its caption; ``hm`` adds its heat map beside it, ``boxes`` outlines regions on it."""
    name = page.namer.record(record)
    short = name.replace("\\", "/").rsplit("/", 1)[-1]
    uri, reason = page.thumbnails.get(record)
    if uri is None:
        body = f'<div class="placeholder">Cannot show this image: {escape(reason)}</div>'
    else:
        body = f'<img src="{uri}" alt="{escape(name)}">'
        svg = outlines_svg(record, boxes)
        if svg:
            body = (f'<div class="outlined" style="position:relative;width:{THUMBNAIL_SIZE}px;'
                    f'height:{THUMBNAIL_SIZE}px">{body}{svg}</div>')
    overlay = _heatmap_img(record, hm, name, page.thumbnails.picture(record)) if hm is not None and uri is not None \
        else ""
    if overlay:
        body = f'<div class="pair">{body}{overlay}</div>'
    return (
        f'<figure class="thumb{" with-map" if overlay else ""} set-{escape(label)}" title="{escape(name)}">{body}'
        f"<figcaption>{escape(short)}</figcaption></figure>"
    )


def gallery(page: Page, title: str, records: Iterable[ImageRecord], label: str, seen: set[Path],
            maps: dict[str, heatmap.Heatmap] | None = None,
            boxes_of: Callable[[ImageRecord], Boxes] | None = None) -> str:
    """Up to MAX_THUMBNAILS_PER_SIDE pictures; ``seen`` keeps a card from embedding an image twice; ``boxes_of``
    gives the regions to outline on each."""
    figures = []
    for record in records:
        if len(figures) == MAX_THUMBNAILS_PER_SIDE:
            break
        if record.path in seen:
            continue
        seen.add(record.path)
        hm = (maps or {}).get(record.content_hash)
        boxes = boxes_of(record) if boxes_of is not None else ()
        figures.append(figure(page, record, page.set_of.get(record.path, label), hm, boxes))
    if not figures:
        return ""
    return (
        f'<div class="gallery set-{escape(label)}"><h4>{escape(title)}</h4>'
        f'<div class="thumbs">{"".join(figures)}</div></div>'
    )
