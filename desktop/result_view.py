"""A comparison's result: the verdict, the findings (each difference of its own with its side effects nested
under it), the selected one up close, and the map."""

from __future__ import annotations

import math
from typing import Callable

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QSplitter, QTableView, QVBoxLayout, QWidget)

import spotdiff
from .charts import EmbeddingMapView
from .finding_view import FindingView, describe, describe_link, fmt_q, heatmap_overlays
from .style import MUTED, SET_COLOURS, SET_SOFT
from .thumbnails import ThumbnailLoader

COLUMNS = ("", "Finding", "Set", "Held-out AUROC", "q", "Source", "Library")
SortRole = Qt.ItemDataRole.UserRole + 1


class FindingsModel(QAbstractTableModel):
    """Findings as table rows, in the report's order: each top-level supported finding (differences of their own
    first), its side effects indented under it ("↳"), then the findings not supported."""

    def __init__(self, lookup: Callable[[str, str], object] | None = None, parent=None):
        super().__init__(parent)
        self.findings: tuple = ()
        self.by_id: dict = {}
        self.lookup = lookup
        self._entries: list = []
        self._rows: list[dict] = []

    def set_findings(self, findings) -> None:
        self.beginResetModel()
        self.findings = tuple(spotdiff.ordered_findings(findings))
        self.by_id = {f.id: f for f in self.findings}
        self._entries = [self._lookup(f) for f in self.findings]
        self._rows = [self._texts(f, e, self.by_id) for f, e in zip(self.findings, self._entries)]
        self.endResetModel()

    @staticmethod
    def _texts(f, entry, by_id) -> dict:
        """Every cell's text of one row, made once (views ask for them many times)."""
        nested = f.supported and f.explained_by is not None
        return {
            "": "✓" if f.independent else "↳" if nested else "·" if f.supported else "",
            # a side effect is said as such, under its cause in the order
            "Finding": f"    ↳ {describe(f)}" if nested else describe(f),
            "Why": describe_link(f, by_id),
            "Set": f.more_in.upper(),
            "Held-out AUROC": f"{f.heldout_auroc:.2f}" if math.isfinite(f.heldout_auroc) else "—",
            "q": fmt_q(f.q_value),
            "Source": f.source,
            "Library": "" if entry is None else ("known false positive" if entry.rejected else "confirmed"),
        }

    def refresh_library(self) -> None:
        self._entries = [self._lookup(f) for f in self.findings]
        self._rows = [self._texts(f, e, self.by_id) for f, e in zip(self.findings, self._entries)]
        if self.findings:
            column = COLUMNS.index("Library")
            self.dataChanged.emit(self.index(0, column), self.index(len(self.findings) - 1, column))

    def entry(self, row: int):
        return self._entries[row]

    def why(self, row: int) -> str:
        """Why the finding of ``row`` is nested under another ("" when it is not)."""
        return self._rows[row]["Why"]

    def _lookup(self, finding):
        return self.lookup(finding.statement, finding.hypothesis.space) if self.lookup else None

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self.findings)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        f, column = self.findings[index.row()], COLUMNS[index.column()]
        entry = self._entries[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._rows[index.row()][column]
        if role == SortRole:
            if column in ("", "Finding", "Set", "Source", "Library"):
                return index.row() if column == "" else self._rows[index.row()][column]
            return f.heldout_auroc if column == "Held-out AUROC" else (f.q_value if math.isfinite(f.q_value) else 2.0)
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == "Set":
                return QBrush(SET_COLOURS[f.more_in])
            if column == "Library" and entry is not None:
                return QBrush(QColor("#cf222e") if entry.rejected else QColor("#1a7f37"))
            return None if f.supported else QBrush(MUTED)
        if role == Qt.ItemDataRole.BackgroundRole and column == "Set":
            return QBrush(SET_SOFT[f.more_in])
        if role == Qt.ItemDataRole.FontRole and (column in ("", "Set")
                                                  or (f.independent and column == "Finding")):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and column in ("", "Set", "Held-out AUROC", "q"):
            return int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            text = "\n".join(filter(None, (describe(f), self._rows[index.row()]["Why"], f.hypothesis.evidence)))
            return text
        return None


class ResultView(QWidget):
    """Shows one :class:`spotdiff.Result` and the :class:`spotdiff.EmbeddingMap` of its images.

    lookup : ``(statement, space) -> library entry or None`` (:func:`spotdiff.verdict_for`)
    Signals: ``judged(finding, verdict, note)``, ``points_selected(list[str])`` (paths picked
    on the map), ``opened(str)`` (a path to show full size).
    """

    judged = Signal(object, str, str)
    points_selected = Signal(list)
    opened = Signal(str)
    shown = Signal(object)  # the result, once all of it is on screen

    def __init__(self, loader: ThumbnailLoader, lookup=None, parent=None):
        super().__init__(parent)
        self.result = None
        self.shown_result = None
        self.map = None
        self._index_of: dict[str, int] = {}
        self.verdict = QLabel("Drop two image sets on the left, pick a model, and press Run.")
        self.verdict.setObjectName("verdict")
        self.verdict.setWordWrap(True)
        self.warnings = QLabel()
        self.warnings.setWordWrap(True)
        self.warnings.setStyleSheet("color: #9a6700;")
        self.warnings.hide()
        self.domain = QLabel()  # out of the model's domain: its words are not used (spotdiff.analysis.domain)
        self.domain.setObjectName("domain")
        self.domain.setWordWrap(True)
        self.domain.setStyleSheet("color: #9a6700; font-weight: bold;")
        self.domain.hide()

        self.findings = FindingsModel(lookup, self)
        proxy = QSortFilterProxyModel(self)
        proxy.setSourceModel(self.findings)
        proxy.setSortRole(SortRole)
        self.table = QTableView()
        self.table.setObjectName("findings")
        self.table.setModel(proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)  # sized once per result, not per paint
        header.setSectionResizeMode(COLUMNS.index("Finding"), QHeaderView.ResizeMode.Stretch)
        for column, width in zip(COLUMNS, (28, 0, 44, 112, 64, 110, 150)):
            if width:
                header.resizeSection(COLUMNS.index(column), width)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row_changed)

        self.finding_view = FindingView(loader)
        self.finding_view.judged.connect(self.judged)
        self.finding_view.opened.connect(self.opened)
        self.map_view = EmbeddingMapView()
        self.map_view.selected.connect(self._on_points_selected)
        self.map_view.opened.connect(self._on_point_opened)

        self.lower = QSplitter(Qt.Orientation.Horizontal)
        self.lower.setObjectName("results_lower")
        self.lower.addWidget(self.finding_view)
        self.lower.addWidget(self.map_view)
        self.lower.setStretchFactor(0, 3)
        self.lower.setStretchFactor(1, 2)
        self.split = QSplitter(Qt.Orientation.Vertical)
        self.split.setObjectName("results_split")
        self.split.addWidget(self.table)
        self.split.addWidget(self.lower)
        self.split.setStretchFactor(0, 2)
        self.split.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.verdict)
        layout.addWidget(self.domain)
        layout.addWidget(self.warnings)
        layout.addWidget(self.split, 1)

    def set_result(self, result, embedding_map=None) -> None:
        self.result, self.map = result, embedding_map
        self.shown_result = None
        self._index_of = {str(im.path): i for i, im in enumerate(embedding_map.images)} if embedding_map else {}
        if result is None:
            self.verdict.setText("Drop two image sets on the left, pick a model, and press Run.")
            self.verdict.setProperty("differ", False)
            self.findings.set_findings(())
            self.warnings.hide()
        else:
            n = len(result.supported)
            summary = (f" {n} supported finding{'s' if n != 1 else ''} of {len(result.findings)} claims "
                       "checked on held-out images.")
            self.verdict.setText(spotdiff.verdict(result) + summary)
            self.verdict.setProperty("differ", any(s.p_value <= 0.05 for s in result.separability))
            self.findings.set_findings(result.findings)
            self.warnings.setText("\n".join(f"⚠ {w}" for w in result.warnings))
            self.warnings.setVisible(bool(result.warnings))
        message = result.domain.message if result is not None and result.domain is not None else None
        self.domain.setText(message or "")
        self.domain.setVisible(bool(message))
        self.verdict.style().unpolish(self.verdict)
        self.verdict.style().polish(self.verdict)
        self.finding_view.overlay_provider = heatmap_overlays(result) if result is not None else None
        self.finding_view.set_finding(None)
        self.map_view.set_map(None)
        # the rest on later turns of the event loop, so no single step holds the GUI thread long
        QTimer.singleShot(0, lambda: self._show_rest(result, embedding_map))

    def _show_rest(self, result, embedding_map) -> None:
        if result is not self.result:
            return  # a newer result came meanwhile
        if result is not None and result.findings:
            self.select_finding(0)
        QTimer.singleShot(0, lambda: self._show_map(result, embedding_map))

    def _show_map(self, result, embedding_map) -> None:
        if result is self.result:
            self.map_view.set_map(embedding_map)
            self.shown_result = result
            self.shown.emit(result)

    def select_finding(self, row: int) -> None:
        """Select the finding in ``row`` of the engine's order."""
        proxy = self.table.model()
        index = proxy.mapFromSource(self.findings.index(row, 1))
        self.table.setCurrentIndex(index)

    def current_finding(self):
        return self.finding_view.finding

    def refresh_library(self) -> None:
        self.findings.refresh_library()
        index = self.table.currentIndex()
        if index.isValid():
            row = self.table.model().mapToSource(index).row()
            self.finding_view.show_library_entry(self.findings.entry(row))

    def highlight_paths(self, paths) -> None:
        """Mark on the map the images whose paths are given (picked in a grid)."""
        if self.map is None:
            return
        self.map_view.highlight([i for i in (self._index_of.get(str(p)) for p in paths) if i is not None])

    def _on_current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            self.finding_view.set_finding(None)
            return
        row = self.table.model().mapToSource(current).row()
        self.finding_view.set_finding(self.findings.findings[row], self.findings.entry(row), self.findings.why(row))

    def _on_points_selected(self, indices: list) -> None:
        self.points_selected.emit([str(self.map.images[i].path) for i in indices])

    def _on_point_opened(self, index: int) -> None:
        self.opened.emit(str(self.map.images[index].path))
