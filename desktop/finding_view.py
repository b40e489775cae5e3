"""One finding up close: its words and numbers, exemplars of each set (a region finding's regions outlined on
them, and what those regions look like), score histograms, and a verdict."""

from __future__ import annotations

import math
from html import escape
from typing import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (QGridLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget)

import spotdiff
from .charts import ScoreHistogramView
from .style import chip
from .thumbnails import ThumbnailGrid, ThumbnailLoader

#: A heat-map hook: (finding, image record) -> an overlay to draw over that exemplar, or None.
#: :func:`heatmap_overlays` makes one from a comparison's result (spotdiff.heatmap_layer).
OverlayProvider = Callable[[object, object], "QImage | None"]

OVERLAY_SIDE = 96  # pixels on the longer side of an overlay; the strip scales it onto its thumbnail


def heatmap_overlays(result) -> OverlayProvider:
    """The provider that draws ``result``'s heat maps: where each supported finding lies in its exemplars
    (the images of the set it claims has more; the engine maps those of CLIP-like models only)."""
    made: dict = {}

    def provider(finding, record) -> QImage | None:
        key = (id(finding), record.content_hash)
        if key not in made:
            scale = OVERLAY_SIDE / max(record.width, record.height, 1)
            size = (max(1, round(record.width * scale)), max(1, round(record.height * scale)))
            rgba = spotdiff.heatmap_layer(result, finding, record, size)
            made[key] = None if rgba is None else QImage(rgba.tobytes(), size[0], size[1], 4 * size[0],
                                                         QImage.Format.Format_RGBA8888).copy()
        return made[key]

    return provider


def region_boxes(finding, record) -> tuple:
    """The regions a region finding's detector finds in ``record``, (x0, y0, x1, y1) in its own pixels; () for an
    image without any and for a finding that is not about regions (its ``region`` is None)."""
    summary = finding.region if finding is not None else None
    if summary is None:
        return ()
    return tuple(summary.boxes.get((str(record.path), record.frame, record.axis), ()))


def region_rows(summary) -> list[tuple[str, str, str]]:
    """(name, value, what it means) rows of what a region finding's regions look like, from its description
    (RegionSummary's to_json, the fields report.json carries), worded as the HTML report words them."""
    d = summary.to_json()
    low, high = d["count"]
    return [
        ("Size", f'{d["width_px"]:g} × {d["height_px"]:g} px, {d["area_percent"]:.2g} % ({d["size"]})',
         "typical width × height in the image's pixels, and area as a share of the image"),
        ("Colour", d["colour"], "the colour name most regions have"),
        ("Shape", f'{d["kind"]}, fill {d["fill"]:.2f}', "fill: the share of its box a region covers (1 = solid)"),
        ("Count", f"{low} per image" if low == high else f"{low}–{high} per image",
         "regions per image that holds any (middle half of the images)"),
        ("Position", d["position"], "where in the image most regions lie"),
        ("Contrast", f'{d["contrast"]:.2f}', "colour distance between a region and its surroundings (0 to 1.7)"),
        ("Texture", f'{d["texture"]:.2f}', "its lightness variation over its surroundings' (below 1: smoother)"),
    ]


def region_table(summary) -> str:
    """Rich text: :func:`region_rows` as a small two-column table, with where the description comes from."""
    d = summary.to_json()
    cells = [f'<td style="color:#57606a; padding-right:6px">{escape(name)}</td>'
             f'<td style="padding-right:18px">{escape(value)}</td>' for name, value, _ in region_rows(summary)]
    rows = "".join("<tr>" + "".join(cells[i:i + 2]) + "</tr>" for i in range(0, len(cells), 2))
    return (f"<b>The regions</b> (outlined in cyan on the exemplars), described from the discovery half: "
            f"{d['n_regions']} regions in {d['n_images']} images of set {escape(d['toward'].upper())}"
            f"<table cellspacing='0' cellpadding='1'>{rows}</table>")


describe = spotdiff.describe  # the finding as a sentence, as the reports word it
describe_test = spotdiff.describe_test  # how its held-out p-value was computed
describe_link = spotdiff.describe_link  # why a side effect is nested under its cause


def fmt_q(q: float) -> str:
    if not math.isfinite(q):
        return "—"
    return "< 0.001" if q < 0.001 else f"{q:.3f}" if q < 0.01 else f"{q:.2f}"


def library_badge(entry) -> tuple[str, str]:
    """(text, object name) of the mark a finding gets from its library verdict."""
    if entry is None:
        return "", ""
    when = (entry.created or "")[:10]
    note = f": {entry.note}" if entry.note else ""
    if entry.rejected:
        return f"⚠ Known false positive: rejected {when}{note}", "badge_rejected"
    return f"✓ In the feature library: confirmed {when}{note}", "badge_confirmed"


class FindingView(QWidget):
    """Shows one :class:`spotdiff.Finding`; ``judged(finding, verdict, note)`` on Confirm or Reject.

    overlay_provider : the heat-map hook (:data:`OverlayProvider`); None draws plain exemplars
    """

    judged = Signal(object, str, str)
    opened = Signal(str)

    def __init__(self, loader: ThumbnailLoader, finding=None, parent=None):
        super().__init__(parent)
        self.finding = None
        self.overlay_provider: OverlayProvider | None = None
        self.title = QLabel()
        self.title.setObjectName("title")
        self.title.setWordWrap(True)
        self.stats = QLabel()
        self.stats.setWordWrap(True)
        self.evidence = QLabel()
        self.evidence.setObjectName("muted")
        self.evidence.setWordWrap(True)
        self.badge = QLabel()
        self.badge.setWordWrap(True)
        self.regions = QLabel()  # a region finding's descriptors; hidden for any other finding
        self.regions.setObjectName("regions")
        self.regions.setTextFormat(Qt.TextFormat.RichText)
        self.regions.setWordWrap(True)

        self.strips = {}
        strips = QGridLayout()
        for row, label in enumerate("ab"):
            strip = ThumbnailGrid(loader, cell=72, strip=True)
            strip.setObjectName(f"exemplars_{label}")
            strip.opened.connect(self.opened)
            strip.thumbnails.overlay = self.overlay_for
            strip.thumbnails.outlines = self.outlines_for
            self.strips[label] = strip
            caption = QLabel()
            caption.setTextFormat(Qt.TextFormat.RichText)
            caption.setFixedWidth(150)
            caption.setWordWrap(True)
            strips.addWidget(caption, row, 0)
            strips.addWidget(strip, row, 1)
        self.captions = {label: strips.itemAtPosition(row, 0).widget() for row, label in enumerate("ab")}
        self.histogram = ScoreHistogramView()

        self.note = QLineEdit()
        self.note.setObjectName("note")
        self.note.setPlaceholderText("Note (why you confirm or reject it)…")
        self.confirm = QPushButton("✓ Confirm")
        self.confirm.setObjectName("confirm")
        self.reject = QPushButton("✗ Reject")
        self.reject.setObjectName("reject")
        self.confirm.setToolTip("A real difference: keep it in the feature library and check for it in later "
                                "comparisons")
        self.reject.setToolTip("Not a real difference (an artefact): mark it as a known false positive when it recurs")
        self.confirm.clicked.connect(self._on_confirm_clicked)
        self.reject.clicked.connect(self._on_reject_clicked)
        judge = QHBoxLayout()
        judge.addWidget(self.note, 1)
        judge.addWidget(self.confirm)
        judge.addWidget(self.reject)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.title)
        layout.addWidget(self.stats)
        layout.addWidget(self.evidence)
        layout.addWidget(self.badge)
        layout.addWidget(self.regions)
        layout.addLayout(strips)
        layout.addWidget(self.histogram, 1)
        layout.addLayout(judge)
        self.set_finding(finding)

    def set_finding(self, finding, library_entry=None, why: str = "") -> None:
        """Show ``finding`` (None for nothing) and the library's latest verdict on it.

        why : for a side effect, why it is nested under its cause (spotdiff.describe_link)
        """
        self.finding = finding
        for w in (self.note, self.confirm, self.reject):
            w.setEnabled(finding is not None)
        self.histogram.set_finding(finding)
        summary = finding.region if finding is not None else None
        self.regions.setText(region_table(summary) if summary is not None else "")
        self.regions.setToolTip("\n".join(f"{name}: {meaning}" for name, _, meaning in region_rows(summary))
                                if summary is not None else "")
        self.regions.setVisible(summary is not None)
        if finding is None:
            self.title.setText("Select a finding")
            self.stats.setText("")
            self.evidence.setText("")
            self.show_library_entry(None)
            for label in "ab":
                self.strips[label].set_records(())
                self.strips[label].hide()
                self.captions[label].setText("")
            return
        self.title.setText(describe(finding))
        support = ('<b style="color:#1a7f37">a difference of its own</b>' if finding.independent
                   else '<b style="color:#1a7f37">supported</b>' if finding.supported
                   else '<b style="color:#57606a">not supported</b>')
        self.stats.setText(
            f"{support} · held-out AUROC <b>{finding.heldout_auroc:.2f}</b> · q <b>{escape(fmt_q(finding.q_value))}</b>"
            f" · {escape(describe_test(finding))} · "
            f"{len(finding.scores_a)} + {len(finding.scores_b)} held-out images"
            + (f"<br><i>{escape(why)}</i>" if why else ""))
        where = finding.source if finding.source == finding.hypothesis.space else (
            f"{finding.source}, in {finding.hypothesis.space}")
        self.evidence.setText(f"Found by {where}" + (f": {finding.hypothesis.evidence}"
                                                     if finding.hypothesis.evidence else ""))
        more = finding.more_in
        for label in "ab":
            self.strips[label].set_records(finding.exemplars_a if label == "a" else finding.exemplars_b)
            self.strips[label].show()
            side = "show it most" if label == more else "show it least"
            self.captions[label].setText(f"{chip(label)} held-out images of set {label.upper()} that {side}")
        self.note.clear()
        self.show_library_entry(library_entry)

    def show_library_entry(self, entry) -> None:
        text, name = library_badge(entry)
        self.badge.setText(text)
        self.badge.setObjectName(name)
        self.badge.style().unpolish(self.badge)
        self.badge.style().polish(self.badge)
        self.badge.setVisible(bool(text))

    def overlay_for(self, record) -> QImage | None:
        """The heat map to draw over ``record`` for the current finding (None: none available)."""
        if self.overlay_provider is None or self.finding is None:
            return None
        return self.overlay_provider(self.finding, record)

    def outlines_for(self, record) -> tuple:
        """The regions to outline on ``record`` for the current finding (() for all but region findings)."""
        return region_boxes(self.finding, record)

    def boxes_at(self, path) -> tuple:
        """The current region finding's regions in the image file at ``path`` (() when there are none, when the
        finding is not about regions, and when the file holds several frames or slices: a path alone does not say
        which one)."""
        summary = self.finding.region if self.finding is not None else None
        if summary is None:
            return ()
        keys = [key for key in summary.boxes if key[0] == str(path)]
        return tuple(summary.boxes[keys[0]]) if len(keys) == 1 else ()

    def _on_confirm_clicked(self) -> None:
        if self.finding is not None:
            self.judged.emit(self.finding, "confirmed", self.note.text().strip())

    def _on_reject_clicked(self) -> None:
        if self.finding is not None:
            self.judged.emit(self.finding, "rejected", self.note.text().strip())
