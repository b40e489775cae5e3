"""One image at full size, decoded off the GUI thread; fit to the window or 1:1."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout

import spotdiff

from .thumbnails import outlined, pixels_of


def to_qimage(image) -> QImage:
    """A PIL RGB image as a QImage that owns its pixels."""
    data = image.tobytes("raw", "RGB")
    return QImage(data, image.width, image.height, 3 * image.width, QImage.Format.Format_RGB888).copy()


class _Loaded(QObject):
    done = Signal(QImage, str)


class _Load(QRunnable):
    def __init__(self, path: Path, relay: _Loaded):
        super().__init__()
        self.path, self.relay = path, relay

    def run(self) -> None:
        try:
            self.relay.done.emit(to_qimage(spotdiff.open_image(self.path)), "")
        except spotdiff.UnreadableImageError as e:
            self.relay.done.emit(QImage(), e.reason)


class ImageViewer(QDialog):
    """Shows the image at ``path`` full size (scroll) or fitted to the window; ``loaded`` when decoded.

    boxes : regions to outline, (x0, y0, x1, y1) in the image's own pixels (a region finding's, as on its exemplars)
    """

    loaded = Signal()

    def __init__(self, path: Path | str, parent=None, *, label: str = "", boxes=(), record=None):
        """record : the image's ImageRecord, when known: its stored copy (an embedding store's) is shown where it
        has one, with the boxes scaled from the record's own size"""
        super().__init__(parent)
        self.path = Path(path)
        self.boxes = tuple(boxes)
        self.record = record
        self.setObjectName("image_viewer")
        self.setWindowTitle(f"{label + ' · ' if label else ''}{self.path.name} — spotdiff")
        self.resize(900, 700)
        self.image = QImage()
        self.picture = QLabel("Loading…")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.scroll = QScrollArea()
        self.scroll.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.scroll.setWidget(self.picture)
        self.scroll.setWidgetResizable(True)
        self.info = QLabel(str(self.path))
        self.info.setObjectName("muted")
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fit = QPushButton("Fit")
        self.fit.setCheckable(True)
        self.fit.setChecked(True)
        self.fit.toggled.connect(self._on_fit_toggled)
        row = QHBoxLayout()
        row.addWidget(self.info, 1)
        row.addWidget(self.fit)
        layout = QVBoxLayout(self)
        layout.addWidget(self.scroll, 1)
        layout.addLayout(row)
        self._relay = _Loaded(self)
        self._relay.done.connect(self._on_decoded)
        QThreadPool.globalInstance().start(_Load(pixels_of(record) if record is not None else self.path, self._relay))

    def _on_decoded(self, image: QImage, reason: str) -> None:
        width, height = (self.record.width, self.record.height) if self.record is not None else \
            (image.width(), image.height())
        self.image = image if image.isNull() else outlined(image, self.boxes, width, height)
        if image.isNull():
            self.picture.setText(f"Cannot show this image: {reason}")
        else:
            regions = f" · {len(self.boxes)} region(s) outlined" if self.boxes else ""
            self.info.setText(f"{self.path} · {image.width()} × {image.height()}{regions}")
            self._show()
        self.loaded.emit()

    def _show(self) -> None:
        if self.image.isNull():
            return
        pm = QPixmap.fromImage(self.image)
        if self.fit.isChecked():
            pm = pm.scaled(self.scroll.viewport().size(), Qt.AspectRatioMode.KeepAspectRatio,
                           Qt.TransformationMode.SmoothTransformation)
        self.picture.setPixmap(pm)

    def _on_fit_toggled(self, _on: bool) -> None:
        self.scroll.setWidgetResizable(self.fit.isChecked())
        self._show()
        if not self.fit.isChecked():
            self.picture.adjustSize()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if self.fit.isChecked():
            self._show()
