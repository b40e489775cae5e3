"""One image set: a drop zone for folders and files, its thumbnails, counts and skipped files."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QFileDialog, QFrame, QHBoxLayout, QHeaderView, QLabel, QPushButton, QStackedWidget,
                               QToolButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

import spotdiff
from .jobs import Job
from .style import chip
from .thumbnails import ThumbnailGrid, ThumbnailLoader


def dropped_paths(mime) -> list[Path]:
    """Local files and folders named by a drag's MIME data."""
    return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []


class ImageSetView(QWidget):
    """Shows one :class:`spotdiff.ImageSet`, and collects the folders and files it is made of.

    Drop folders or image files on it, or use "Add folder…"; every change rescans the set on a
    worker thread (:func:`spotdiff.scan_image_set`) and shows what is readable and what is skipped.

    Signals: ``sources_changed(list[Path])``, ``scanned(ImageSet)``, ``scan_failed(SpotdiffError)``,
    ``selected(list[str])`` (paths picked in the grid), ``opened(str)`` (double-click).
    """

    sources_changed = Signal(list)
    scanned = Signal(object)
    scan_failed = Signal(object)
    selected = Signal(list)
    opened = Signal(str)

    def __init__(self, label: str, loader: ThumbnailLoader, parent=None):
        super().__init__(parent)
        self.label = label
        self.sources: list[Path] = []
        self.image_set = None
        self.last_folder = ""
        self._job: Job | None = None  # the scan whose answer counts
        self._jobs: set[Job] = set()  # every scan thread still running, cancelled ones included
        self.setAcceptDrops(True)
        self.setObjectName(f"set_{label}")

        title = QLabel(f"{chip(label)}&nbsp; <b>Set {label.upper()}</b>")
        self.counts = QLabel("empty")
        self.counts.setObjectName("muted")
        add = QPushButton("Add folder…")
        add.setObjectName(f"add_folder_{label}")
        add.clicked.connect(self._on_add_folder_clicked)
        add_files = QPushButton("Add files…")
        add_files.clicked.connect(self._on_add_files_clicked)
        clear = QToolButton()
        clear.setText("Clear")
        clear.clicked.connect(self.clear)
        header = QHBoxLayout()
        header.addWidget(title)
        header.addWidget(self.counts, 1)
        for w in (add, add_files, clear):
            header.addWidget(w)

        self.hint = QFrame()
        self.hint.setObjectName("drop_hint")
        hint_text = QLabel(f"Drop folders or images of set {label.upper()} here\nor use “Add folder…”")
        hint_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        QVBoxLayout(self.hint).addWidget(hint_text)
        self.grid = ThumbnailGrid(loader)
        self.grid.setObjectName(f"grid_{label}")
        self.grid.selected.connect(self.selected)
        self.grid.opened.connect(self.opened)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.hint)
        self.stack.addWidget(self.grid)

        self.sources_label = QLabel()
        self.sources_label.setObjectName("muted")
        self.sources_label.setWordWrap(True)
        self.skipped_toggle = QToolButton()
        self.skipped_toggle.setCheckable(True)
        self.skipped_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.skipped_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.skipped_toggle.toggled.connect(self._on_skipped_toggled)
        self.skipped_toggle.hide()
        self.skipped = QTreeWidget()
        self.skipped.setHeaderLabels(["Skipped file", "Reason"])
        self.skipped.setRootIsDecorated(False)
        self.skipped.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.skipped.setMaximumHeight(140)
        self.skipped.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(header)
        layout.addWidget(self.sources_label)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.skipped_toggle)
        layout.addWidget(self.skipped)

    # --- sources ---------------------------------------------------------------------------

    def add_sources(self, paths: Sequence[Path | str]) -> None:
        new = [Path(p) for p in paths if Path(p) not in self.sources]
        if not new:
            return
        self.sources.extend(new)
        folder = new[-1] if new[-1].is_dir() else new[-1].parent
        self.last_folder = str(folder)
        self._sources_changed()

    def set_sources(self, paths: Sequence[Path | str]) -> None:
        self.sources = [Path(p) for p in paths]
        self._sources_changed()

    def clear(self) -> None:
        self.set_sources([])

    def _sources_changed(self) -> None:
        names = [s.name or str(s) for s in self.sources]
        self.sources_label.setText(", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else ""))
        self.sources_label.setToolTip("\n".join(str(s) for s in self.sources))
        self.sources_changed.emit(list(self.sources))
        self.rescan()

    def rescan(self) -> None:
        """Scan the sources again on a worker thread; a scan still running is cancelled."""
        if self._job is not None:
            self._job.cancel()
        self.show_image_set(None)
        if not self.sources:
            self.counts.setText("empty")
            return
        sources = tuple(self.sources)
        label = self.label
        job = Job(lambda: spotdiff.scan_image_set(sources, label, min_images=0), name=f"scan {label}", parent=self)
        job.progressed.connect(self._on_scan_progressed)
        job.succeeded.connect(self._on_scan_succeeded)
        job.failed.connect(self._on_scan_failed)
        job.ended.connect(self._on_scan_ended)
        self._job = job
        self._jobs.add(job)
        self.counts.setText("scanning…")
        job.start()

    @property
    def scanning(self) -> bool:
        return self._job is not None

    def stop_scan(self) -> None:
        """Cancel every scan and wait for their threads (each stops within one file)."""
        for job in list(self._jobs):
            job.cancel()
            job.wait()
        self._job = None

    def _on_scan_ended(self) -> None:
        job = self.sender()
        if job is self._job:
            self._job = None
        if job in self._jobs:
            self._jobs.discard(job)
            job.wait()  # run() has returned; this only joins the thread
            job.deleteLater()

    def _on_scan_progressed(self, report) -> None:
        if self.sender() is self._job:
            self.counts.setText(report.message or "scanning…")

    def _on_scan_succeeded(self, image_set) -> None:
        if self.sender() is self._job:
            self.show_image_set(image_set)
            self.scanned.emit(image_set)

    def _on_scan_failed(self, error) -> None:
        if self.sender() is self._job:
            self.counts.setText("cannot read this set")
            self.scan_failed.emit(error)

    # --- showing an ImageSet ---------------------------------------------------------------

    def show_image_set(self, image_set) -> None:
        """Show ``image_set`` (an spotdiff.ImageSet, or None for nothing)."""
        self.image_set = image_set
        images = image_set.images if image_set is not None else ()
        skipped = image_set.skipped if image_set is not None else ()
        self.grid.set_records(images)
        self.stack.setCurrentWidget(self.grid if images or self.sources else self.hint)
        if image_set is not None:
            noun = "image" if len(images) == 1 else "images"
            self.counts.setText(f"{len(images):,} {noun} · {len(skipped):,} skipped")
        self.skipped.clear()
        self.skipped.addTopLevelItems([self._skipped_item(f) for f in skipped])
        self.skipped.resizeColumnToContents(0)
        self.skipped_toggle.setText(f"{len(skipped):,} skipped file{'s' if len(skipped) != 1 else ''}")
        self.skipped_toggle.setVisible(bool(skipped))
        self.skipped.setVisible(bool(skipped) and self.skipped_toggle.isChecked())

    @staticmethod
    def _skipped_item(f) -> QTreeWidgetItem:
        item = QTreeWidgetItem([f.path.name, f.reason])
        item.setToolTip(0, str(f.path))
        item.setToolTip(1, f.reason)
        return item

    def select_paths(self, paths: Sequence[str]) -> None:
        self.grid.select_paths(paths)

    # --- events ----------------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if dropped_paths(event.mimeData()):
            event.acceptProposedAction()
            self._set_hover(True)

    def dragLeaveEvent(self, event) -> None:  # noqa: N802
        self._set_hover(False)

    def dropEvent(self, event) -> None:  # noqa: N802
        self._set_hover(False)
        paths = dropped_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.add_sources(paths)

    def _set_hover(self, on: bool) -> None:
        self.hint.setProperty("hover", on)
        self.hint.style().unpolish(self.hint)
        self.hint.style().polish(self.hint)

    def _on_add_folder_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, f"Add a folder to set {self.label.upper()}", self.last_folder)
        if folder:
            self.add_sources([folder])

    def _on_add_files_clicked(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, f"Add images to set {self.label.upper()}", self.last_folder,
            "Images (*.jpg *.jpeg *.png *.tif *.tiff *.bmp *.webp *.gif);;All files (*)")
        if files:
            self.add_sources(files)

    def _on_skipped_toggled(self, on: bool) -> None:
        self.skipped_toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.skipped.setVisible(on)
