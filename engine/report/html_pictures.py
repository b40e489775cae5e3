"""The pictures of the HTML report: thumbnails as ``data:`` URIs, each made once per page, figures with a
heat map beside them, and galleries; plus the page context every section reads (:class:`Page`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..analysis import heatmap

from ..io import images
from ..errors import SpotdiffError, UnreadableImageError
from ..io.images import ImageRecord
from ..analysis.result import Finding
from .json_report import PathNamer

if TYPE_CHECKING:
    from ..comparison import Result  # lazy: type hints only (Result writes its reports with this package)

THUMBNAIL_SIZE = 96
MAX_THUMBNAILS_PER_SIDE = 8


def escape(text: object) -> str:
    return html.escape(str(text), quote=True)


class Thumbnails:
    """Thumbnails as ``data:`` URIs, each made once per page; failures keep their reason."""

    def __init__(self, namer: PathNamer, size: int = THUMBNAIL_SIZE):
        self._namer = namer
        self._size = size
        self._cache: dict[Path, tuple[str | None, str]] = {}

    def get(self, image: Path | ImageRecord) -> tuple[str | None, str]:
        """``(uri, "")`` or ``(None, reason)`` for a file, or for the frame or slice a record names."""
        path = (image.path, image.frame, image.axis) if isinstance(image, ImageRecord) else image
        if path not in self._cache:
            try:
                jpeg = images.thumbnail(image, size=self._size)
            except (OSError, SpotdiffError) as e:  # the file vanished or changed since the run
                if isinstance(e, UnreadableImageError):
                    reason = e.reason
                else:
                    reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
                self._cache[path] = (None, self._namer.text(reason or type(e).__name__))
            else:
                uri = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
                self._cache[path] = (uri, "")
        return self._cache[path]


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


def _heatmap_img(record: ImageRecord, hm: heatmap.Heatmap, name: str) -> str:
    """The picture with its heat map over it, beside the plain one; "" when it cannot be drawn."""
    try:
        jpeg = heatmap.overlay_jpeg(record, hm, size=THUMBNAIL_SIZE)
    except (OSError, SpotdiffError):  # the plain thumbnail already says why
        return ""
    x, y = hm.peak
    uri = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
    return f'<img class="heatmap" src="{uri}" alt="{escape("where it lies in " + name)}" title="peak at x {x}, y {y}">'


def figure(page: Page, record: ImageRecord, label: str, hm: heatmap.Heatmap | None = None) -> str:
    name = page.namer.record(record)
    short = name.replace("\\", "/").rsplit("/", 1)[-1]
    uri, reason = page.thumbnails.get(record)
    if uri is None:
        body = f'<div class="placeholder">Cannot show this image: {escape(reason)}</div>'
    else:
        body = f'<img src="{uri}" alt="{escape(name)}">'
    overlay = _heatmap_img(record, hm, name) if hm is not None and uri is not None else ""
    if overlay:
        body = f'<div class="pair">{body}{overlay}</div>'
    return (
        f'<figure class="thumb{" with-map" if overlay else ""} set-{escape(label)}" title="{escape(name)}">{body}'
        f"<figcaption>{escape(short)}</figcaption></figure>"
    )


def gallery(page: Page, title: str, records: Iterable[ImageRecord], label: str, seen: set[Path],
             maps: dict[str, heatmap.Heatmap] | None = None) -> str:
    """Up to MAX_THUMBNAILS_PER_SIDE pictures; ``seen`` keeps a card from embedding an image twice."""
    figures = []
    for record in records:
        if len(figures) == MAX_THUMBNAILS_PER_SIDE:
            break
        if record.path in seen:
            continue
        seen.add(record.path)
        hm = (maps or {}).get(record.content_hash)
        figures.append(figure(page, record, page.set_of.get(record.path, label), hm))
    if not figures:
        return ""
    return (
        f'<div class="gallery set-{escape(label)}"><h4>{escape(title)}</h4>'
        f'<div class="thumbs">{"".join(figures)}</div></div>'
    )
