"""Painted charts: a finding's two score histograms, and the 2D map of all images."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QRubberBand, QSizePolicy, QWidget

from .style import MUTED, SET_COLOURS

MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 44, 12, 22, 34


class ScoreHistogramView(QWidget):
    """Held-out scores of set A and set B on one finding, on shared bins, as shares of each set."""

    def __init__(self, finding=None, parent=None):
        super().__init__(parent)
        self.setMinimumSize(260, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.finding = None
        self._bins: tuple | None = None
        self.set_finding(finding)

    def set_finding(self, finding) -> None:
        self.finding = finding
        self._bins = None
        if finding is not None:
            a = np.asarray(finding.scores_a, dtype=np.float64)
            b = np.asarray(finding.scores_b, dtype=np.float64)
            a, b = a[np.isfinite(a)], b[np.isfinite(b)]
            both = np.concatenate([a, b])
            if both.size:
                lo, hi = float(both.min()), float(both.max())
                if hi - lo <= 1e-12 * max(1.0, abs(lo)):
                    lo, hi = lo - 0.5, hi + 0.5
                edges = np.linspace(lo, hi, int(np.clip(np.ceil(np.sqrt(both.size)), 8, 30)) + 1)
                shares = [np.histogram(s, edges)[0] / max(s.size, 1) for s in (a, b)]
                medians = [float(np.median(s)) if s.size else np.nan for s in (a, b)]
                self._bins = (edges, shares, medians)
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), Qt.GlobalColor.white)
        plot = QRectF(self.rect()).adjusted(MARGIN_L, MARGIN_T, -MARGIN_R, -MARGIN_B)
        if self._bins is None:
            p.setPen(MUTED)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Select a finding to see its held-out scores")
            return
        edges, shares, medians = self._bins
        top = max(float(s.max()) for s in shares) or 1.0
        lo, hi = float(edges[0]), float(edges[-1])

        def x(v):
            return plot.left() + (v - lo) / (hi - lo) * plot.width()

        def y(v):
            return plot.bottom() - v / top * plot.height()

        p.setPen(QPen(QColor("#d0d7de")))
        for frac in (0.25, 0.5, 0.75, 1.0):
            p.drawLine(QPointF(plot.left(), y(top * frac)), QPointF(plot.right(), y(top * frac)))
        p.setPen(MUTED)
        p.drawText(QRectF(0, y(top) - 8, MARGIN_L - 4, 16), Qt.AlignmentFlag.AlignRight, f"{top:.0%}")
        p.drawText(QRectF(0, plot.bottom() - 8, MARGIN_L - 4, 16), Qt.AlignmentFlag.AlignRight, "0%")
        width = (x(edges[1]) - x(edges[0])) / 2
        for k, label in enumerate("ab"):
            colour = QColor(SET_COLOURS[label])
            colour.setAlpha(200)
            for i, share in enumerate(shares[k]):
                if share > 0:
                    left = x(edges[i]) + k * width
                    p.fillRect(QRectF(left, y(share), width - 1, plot.bottom() - y(share)), colour)
            if np.isfinite(medians[k]):
                p.setPen(QPen(SET_COLOURS[label], 1.5, Qt.PenStyle.DashLine))
                p.drawLine(QPointF(x(medians[k]), plot.top()), QPointF(x(medians[k]), plot.bottom()))
        p.setPen(QPen(MUTED))
        p.drawLine(plot.bottomLeft(), plot.bottomRight())
        p.drawText(QRectF(plot.left(), plot.bottom() + 2, 80, 16), Qt.AlignmentFlag.AlignLeft, f"{lo:.3g}")
        p.drawText(QRectF(plot.right() - 80, plot.bottom() + 2, 80, 16), Qt.AlignmentFlag.AlignRight, f"{hi:.3g}")
        p.drawText(QRectF(plot.left(), plot.bottom() + 16, plot.width(), 16), Qt.AlignmentFlag.AlignCenter,
                   "score on held-out images (dashed: medians)")
        self._legend(p, plot)

    @staticmethod
    def _legend(p: QPainter, plot: QRectF) -> None:
        x0 = plot.right() - 130
        for k, label in enumerate("ab"):
            p.fillRect(QRectF(x0 + k * 66, 5, 12, 12), SET_COLOURS[label])
            p.setPen(MUTED)
            p.drawText(QPointF(x0 + k * 66 + 16, 15), f"set {label.upper()}")


class EmbeddingMapView(QWidget):
    """Every image as a point (PCA of its embedding), coloured by set; drag a box to select.

    ``selected(list[int])`` with the indices (into ``map.images``) of the points picked;
    :meth:`highlight` marks points picked elsewhere; ``opened(int)`` on a double-click.
    """

    selected = Signal(list)
    opened = Signal(int)

    def __init__(self, embedding_map=None, parent=None):
        super().__init__(parent)
        self.setMinimumSize(240, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(False)
        self._band = QRubberBand(QRubberBand.Shape.Rectangle, self)
        self._origin = None
        self.map = None
        self.highlighted = np.zeros(0, dtype=bool)
        self._screen: np.ndarray | None = None
        self.set_map(embedding_map)

    def set_map(self, embedding_map) -> None:
        self.map = embedding_map
        self.highlighted = np.zeros(len(embedding_map) if embedding_map is not None else 0, dtype=bool)
        self._screen = None
        self.update()

    def highlight(self, indices) -> None:
        """Mark these points (and only these); emits nothing."""
        self.highlighted[:] = False
        if len(indices):
            self.highlighted[np.asarray(indices, dtype=int)] = True
        self.update()

    def _plot_rect(self) -> QRectF:
        return QRectF(self.rect()).adjusted(16, 26, -16, -22)

    def _to_screen(self) -> np.ndarray:
        xy = self.map.xy.astype(np.float64)
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        span = np.where(hi - lo > 1e-12, hi - lo, 1.0)
        r = self._plot_rect()
        sx = r.left() + (xy[:, 0] - lo[0]) / span[0] * r.width()
        sy = r.bottom() - (xy[:, 1] - lo[1]) / span[1] * r.height()
        return np.c_[sx, sy]

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self._screen = None
        super().resizeEvent(event)

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), Qt.GlobalColor.white)
        if self.map is None or len(self.map) == 0:
            p.setPen(MUTED)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "The map of all images appears after a run")
            return
        if self._screen is None:
            self._screen = self._to_screen()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        radius = 4.0 if len(self.map) <= 2000 else 2.5
        dim = self.highlighted.any()
        for label, mask in (("a", ~self.map.is_b), ("b", self.map.is_b)):
            colour = QColor(SET_COLOURS[label])
            colour.setAlpha(60 if dim else 170)
            pen = QPen(colour, 2 * radius)
            pen.setCapStyle(Qt.PenCapStyle.RoundCap)  # a round dot per point: one call for all of them
            p.setPen(pen)
            p.drawPoints([QPointF(sx, sy) for sx, sy in self._screen[mask & ~self.highlighted].tolist()])
        p.setPen(QPen(QColor("#1f2328"), 1.5))
        for i in np.flatnonzero(self.highlighted):
            p.setBrush(SET_COLOURS["b" if self.map.is_b[i] else "a"])
            sx, sy = self._screen[i]
            p.drawEllipse(QPointF(sx, sy), radius + 2, radius + 2)
        p.setPen(MUTED)
        e1, e2 = self.map.explained
        p.drawText(QRectF(8, 4, self.width() - 16, 18), Qt.AlignmentFlag.AlignLeft,
                   f"{len(self.map):,} images · PCA of {self.map.space} · axes explain {e1:.0%} and {e2:.0%}")
        p.drawText(QRectF(8, self.height() - 20, self.width() - 16, 18), Qt.AlignmentFlag.AlignLeft,
                   "drag a box to see those images · double-click a point to open it")

    def points_in(self, rect: QRect) -> list[int]:
        if self.map is None or len(self.map) == 0:
            return []
        if self._screen is None:
            self._screen = self._to_screen()
        s = self._screen
        inside = (s[:, 0] >= rect.left()) & (s[:, 0] <= rect.right()) & (s[:, 1] >= rect.top()) & (
            s[:, 1] <= rect.bottom())
        return [int(i) for i in np.flatnonzero(inside)]

    def nearest(self, x: float, y: float, within: float = 8.0) -> int | None:
        if self.map is None or len(self.map) == 0:
            return None
        if self._screen is None:
            self._screen = self._to_screen()
        d = np.hypot(self._screen[:, 0] - x, self._screen[:, 1] - y)
        i = int(np.argmin(d))
        return i if d[i] <= within else None

    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self._origin = event.position().toPoint()
            self._band.setGeometry(QRect(self._origin, self._origin))
            self._band.show()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self._origin is not None:
            self._band.setGeometry(QRect(self._origin, event.position().toPoint()).normalized())

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if self._origin is None:
            return
        rect = QRect(self._origin, event.position().toPoint()).normalized()
        self._band.hide()
        self._origin = None
        if rect.width() < 4 and rect.height() < 4:  # a click: the point under it, or nothing
            i = self.nearest(rect.center().x(), rect.center().y())
            picked = [i] if i is not None else []
        else:
            picked = self.points_in(rect)
        self.highlight(picked)
        self.selected.emit(picked)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802
        i = self.nearest(event.position().x(), event.position().y())
        if i is not None:
            self.opened.emit(i)
