"""Thumbnails made off the GUI thread, only for what is on screen, and a grid that stays smooth at 10,000.

:class:`ThumbnailLoader` decodes with :func:`spotdiff.thumbnail` on a small thread pool. Requests
form a stack (the newest first) of bounded depth, so scrolling fast through a large set decodes
what is visible now instead of everything passed on the way. A view asks for an image in
``data()``; Qt calls that only for visible items, which makes the grid lazy by construction.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

from PySide6.QtCore import (QAbstractListModel, QItemSelection, QItemSelectionModel, QModelIndex, QObject,
                            QRect, QRunnable, QSize, Qt, QThreadPool, Signal)
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QAbstractItemView, QListView

import spotdiff
from .style import BAD, THUMB

log = logging.getLogger(__name__)

OUTLINE = QColor("#00ffff")  # a region's outline: the HTML report's colour, far from the red/yellow of most marks
OUTLINE_HALO = QColor(0, 0, 0, 150)  # a dark ring around it, so it shows on pale pictures too


class _Relay(QObject):
    done = Signal(str, QImage, str)  # path, image (null on failure), reason


class _Requests:
    """The paths waiting to be decoded, newest last, shared by a loader and its worker threads. No Qt object:
    a worker may drop the last reference to it on any thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.stack: list[str] = []
        self.queued: set[str] = set()
        self.running = 0  # workers started and not yet out of work

    def next(self) -> str | None:  # worker threads
        with self.lock:
            if not self.stack:
                self.running -= 1
                return None
            return self.stack.pop()


class _Decode(QRunnable):
    """A worker: decodes paths until none wait. It holds the requests and the relay, never the loader: the
    pool deletes a finished runnable on its own thread, and a loader (a main-thread object owning the pool)
    must never be freed there."""

    def __init__(self, requests: _Requests, relay: _Relay, size: int):
        super().__init__()
        self.requests, self.relay, self.size = requests, relay, size

    def run(self) -> None:
        while (path := self.requests.next()) is not None:
            try:
                image = QImage.fromData(spotdiff.thumbnail(path, size=self.size))
                reason = "" if not image.isNull() else "cannot show the thumbnail"
            except spotdiff.UnreadableImageError as e:
                image, reason = QImage(), e.reason
            except OSError as e:  # the file vanished or became unreadable since the scan
                image, reason = QImage(), e.strerror or str(e)
            try:
                self.relay.done.emit(path, image, reason)
            except RuntimeError:  # the loader, and its relay, are gone: nobody wants the rest
                return


class ThumbnailLoader(QObject):
    """Thumbnails by path, decoded on demand; ``loaded(path)`` when one arrives.

    size : longer side in pixels
    capacity : thumbnails kept in memory (least recently used go first)
    max_pending : requests waiting at most; older ones are forgotten (asked again when seen again)
    """

    loaded = Signal(str)

    def __init__(self, size: int = THUMB, *, capacity: int = 2000, max_pending: int = 400, n_threads: int = 2,
                 parent=None):
        super().__init__(parent)
        self.size = size
        self.capacity = capacity
        self.max_pending = max_pending
        self.n_requested = 0  # decodes asked for, for tests and the curious
        self._images: OrderedDict[str, QImage] = OrderedDict()
        self._reasons: dict[str, str] = {}
        self._requests = _Requests()
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(n_threads)
        self._relay = _Relay(self)
        self._relay.done.connect(self._on_decoded)

    def image(self, path: Path | str) -> QImage | None:
        """The thumbnail if made (a null QImage when it cannot be made), else None and a request."""
        key = str(path)
        found = self._images.get(key)
        if found is not None:
            self._images.move_to_end(key)
            return found
        requests = self._requests
        with requests.lock:
            if key in requests.queued:
                if key in requests.stack:  # seen again while waiting: to the top of the stack
                    requests.stack.remove(key)
                    requests.stack.append(key)
                return None  # waiting or being decoded
            requests.queued.add(key)
            self.n_requested += 1
            requests.stack.append(key)
            while len(requests.stack) > self.max_pending:
                requests.queued.discard(requests.stack.pop(0))
            start = requests.running < self._pool.maxThreadCount()
            if start:
                requests.running += 1
        if start:
            self._pool.start(_Decode(requests, self._relay, self.size))
        return None

    def reason(self, path: Path | str) -> str:
        """Why the thumbnail of ``path`` could not be made ("" if it could)."""
        return self._reasons.get(str(path), "")

    def _on_decoded(self, path: str, image: QImage, reason: str) -> None:
        with self._requests.lock:
            self._requests.queued.discard(path)
        if reason:
            self._reasons[path] = reason
        self._images[path] = image
        while len(self._images) > self.capacity:
            self._images.popitem(last=False)
        self.loaded.emit(path)

    def clear(self) -> None:
        with self._requests.lock:
            self._requests.stack.clear()
            self._requests.queued.clear()
        self._images.clear()
        self._reasons.clear()

    def wait(self, msecs: int = 5000) -> bool:
        """Wait for the pool to go idle (tests and shutdown only)."""
        return self._pool.waitForDone(msecs)


def placeholder(size: int, text: str = "", colour: QColor | None = None) -> QImage:
    image = QImage(size, size, QImage.Format.Format_RGB32)
    image.fill(QColor("#eaeef2"))
    if text:
        painter = QPainter(image)
        painter.setPen(colour or BAD)
        painter.drawText(image.rect().adjusted(4, 4, -4, -4), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                         text)
        painter.end()
    return image


PathRole = Qt.ItemDataRole.UserRole + 1


class ThumbnailModel(QAbstractListModel):
    """Images as a list; thumbnails come from ``loader`` when a view asks for them.

    cell : side of the square the thumbnails are shown in; smaller ones than the loader makes
        are scaled down once and kept
    overlay : optional ``record -> QImage | None``, drawn half-transparent over the thumbnail
        (the heat-map hook of :class:`spotdiff.gui.finding_view.FindingView`)
    outlines : optional ``record -> boxes``, each (x0, y0, x1, y1) in the record's own pixels (x1, y1 exclusive),
        outlined in OUTLINE just outside the box (the regions of a region finding, FindingView's other hook)
    """

    def __init__(self, loader: ThumbnailLoader, cell: int | None = None, parent=None):
        super().__init__(parent)
        self.loader = loader
        self.cell = cell or loader.size
        self._scaled: dict[str, QImage] = {}
        self.records: tuple = ()
        self._row_of: dict[str, int] = {}
        self._waiting = placeholder(self.cell)
        self._broken = placeholder(self.cell, "cannot read")
        self.overlay = None
        self.outlines = None
        loader.loaded.connect(self._on_loaded)

    def set_records(self, records: Sequence) -> None:
        """records : ImageRecord objects, or anything with a ``path``; a record with a ``stored_copy`` (an
        embedding store's copy of its pixels) is pictured from that copy"""
        self.beginResetModel()
        self.records = tuple(records)
        self._scaled.clear()
        self._row_of = {key: i for i, r in enumerate(self.records) for key in {str(r.path), str(pixels_of(r))}}
        self.endResetModel()

    def row_of(self, path: Path | str) -> int | None:
        return self._row_of.get(str(path))

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self.records)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        record = self.records[index.row()]
        if role == Qt.ItemDataRole.DecorationRole:
            image = self.loader.image(pixels_of(record))
            if image is None:
                return self._waiting
            if image.isNull():
                return self._broken
            image = self._fitted(image, str(record.path))
            image = self._with_overlay(image, record) if self.overlay is not None else image
            return self._with_outlines(image, record) if self.outlines is not None else image
        if role == Qt.ItemDataRole.ToolTipRole:
            size = f"{record.width} × {record.height} {record.format}" if hasattr(record, "width") else ""
            reason = self.loader.reason(pixels_of(record))
            return "\n".join(x for x in (str(record.path), size, reason) if x)
        if role == PathRole:
            return str(record.path)
        return None

    def _fitted(self, image: QImage, key: str) -> QImage:
        if max(image.width(), image.height()) <= self.cell:
            return image
        scaled = self._scaled.get(key)
        if scaled is None:
            scaled = image.scaled(self.cell, self.cell, Qt.AspectRatioMode.KeepAspectRatio,
                                  Qt.TransformationMode.SmoothTransformation)
            self._scaled[key] = scaled
        return scaled

    def _with_overlay(self, image: QImage, record) -> QImage:
        heat = self.overlay(record)
        if heat is None or heat.isNull():
            return image
        out = image.convertToFormat(QImage.Format.Format_ARGB32)
        painter = QPainter(out)
        painter.setOpacity(0.5)
        painter.drawImage(out.rect(), heat)
        painter.end()
        return out

    def _with_outlines(self, image: QImage, record) -> QImage:
        return outlined(image, self.outlines(record), record.width, record.height)

    def _on_loaded(self, path: str) -> None:
        row = self._row_of.get(path)
        if row is not None:
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])


def pixels_of(record) -> Path:
    """Where a record's pixels are read from: its stored copy when an embedding store kept one, else its file."""
    return getattr(record, "stored_copy", None) or record.path


def outlined(image: QImage, boxes, width: int, height: int) -> QImage:
    """``image`` (a picture of an image ``width`` x ``height`` pixels, at any scale) with each box, (x0, y0, x1, y1)
    in the image's own pixels, outlined in OUTLINE one pixel outside it, a dark halo outside that; ``image`` itself
    when there are no boxes."""
    if not boxes:
        return image
    out = image.convertToFormat(QImage.Format.Format_ARGB32)
    sx, sy = out.width() / max(width, 1), out.height() / max(height, 1)
    rects = [QRect(int(x0 * sx), int(y0 * sy), max(1, round((x1 - x0) * sx)), max(1, round((y1 - y0) * sy)))
             for x0, y0, x1, y1 in boxes]
    painter = QPainter(out)  # no antialiasing: a crisp 1-px line in exactly OUTLINE, even on a 72-px strip
    painter.setBrush(Qt.BrushStyle.NoBrush)
    for colour, gap in ((OUTLINE_HALO, 2), (OUTLINE, 1)):  # the halo outside, the outline between it and the box
        painter.setPen(QPen(colour, 1))
        for rect in rects:
            painter.drawRect(rect.adjusted(-gap, -gap, gap - 1, gap - 1))
    painter.end()
    return out


class ThumbnailGrid(QListView):
    """A grid of thumbnails; ``selected(paths)`` when the selection changes, ``opened(path)`` on double-click.

    flow : QListView.Flow.LeftToRight wraps into rows (a grid); with wrapping off it is one strip
    """

    selected = Signal(list)
    opened = Signal(str)

    def __init__(self, loader: ThumbnailLoader, *, cell: int | None = None, strip: bool = False, parent=None):
        super().__init__(parent)
        cell = cell or loader.size
        self.setModel(ThumbnailModel(loader, cell, self))
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setIconSize(QSize(cell, cell))
        self.setGridSize(QSize(cell + 8, cell + 8))
        self.setUniformItemSizes(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(500)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        if strip:
            self.setWrapping(False)
            self.setFlow(QListView.Flow.LeftToRight)
            self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
            self.setFixedHeight(cell + 8 + self.horizontalScrollBar().sizeHint().height() + 4)
        self._quiet = False
        self.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.doubleClicked.connect(self._on_double_clicked)

    @property
    def thumbnails(self) -> ThumbnailModel:
        return self.model()

    def set_records(self, records: Sequence) -> None:
        self.thumbnails.set_records(records)

    def selected_paths(self) -> list[str]:
        return [i.data(PathRole) for i in sorted(self.selectionModel().selectedIndexes(), key=lambda i: i.row())]

    def select_paths(self, paths: Sequence[str | Path]) -> None:
        """Select these images (those present), scroll to the first; does not emit ``selected``."""
        rows = sorted(r for r in (self.thumbnails.row_of(p) for p in paths) if r is not None)
        selection = QItemSelection()
        for row in rows:
            index = self.thumbnails.index(row)
            selection.select(index, index)
        self._quiet = True
        try:
            self.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        finally:
            self._quiet = False
        if rows:
            self.scrollTo(self.thumbnails.index(rows[0]), QAbstractItemView.ScrollHint.PositionAtCenter)

    def _on_selection_changed(self, *_) -> None:
        if not self._quiet:
            self.selected.emit(self.selected_paths())

    def _on_double_clicked(self, index: QModelIndex) -> None:
        self.opened.emit(index.data(PathRole))
