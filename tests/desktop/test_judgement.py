"""Confirm or reject findings; confirmed ones come back as hypotheses, rejected ones are flagged when they recur."""

import pytest
from PySide6.QtCore import Qt

import spotdiff
from spotdiff.gui.result_view import COLUMNS


def select(window, statement):
    """Select the finding with this statement in the table; return its row in the engine's order."""
    findings = window.results.findings.findings
    row = next(i for i, f in enumerate(findings) if f.statement == statement)
    window.results.select_finding(row)
    assert window.results.finding_view.finding is findings[row]
    return row


def library_cell(window, statement):
    model = window.results.findings
    row = next(i for i, f in enumerate(model.findings) if f.statement == statement)
    return model.index(row, COLUMNS.index("Library")).data()


def test_confirm_a_finding_and_see_it_proposed_again_in_the_next_comparison(ui, window, qtbot, small_pair,
                                                                            other_pair):
    ui.load_sets(small_pair / "set_a", small_pair / "set_b")
    assert ui.run() == "succeeded"
    view = window.results.finding_view
    select(window, "blurrier")
    qtbot.keyClicks(view.note, "B came from the older scanner")
    ui.click(view.confirm)
    select(window, "plainer (fewer edges)")
    qtbot.keyClicks(view.note, "follows from the blur")
    ui.click(view.reject)

    with spotdiff.FeatureLibrary() as library:
        confirmed, rejected = library.confirmed(), library.rejected()
    assert [(e.statement, e.more_in, e.space, e.model, e.note) for e in confirmed] == [
        ("blurrier", "b", "measurements", window.picker.current(), "B came from the older scanner")]
    assert confirmed[0].evidence["heldout_auroc"] > 0.6 and confirmed[0].evidence["set_b"].endswith("set_b")
    assert [e.statement for e in rejected] == ["plainer (fewer edges)"]
    assert library_cell(window, "blurrier") == "confirmed"
    assert library_cell(window, "plainer (fewer edges)") == "known false positive"
    assert "Known false positive" in view.badge.text() and "follows from the blur" in view.badge.text()

    # a later comparison, of other images: the confirmed feature is proposed again, from the library,
    # and validated on held-out images like any other claim
    ui.load_sets_replacing(other_pair / "set_a", other_pair / "set_b")
    assert ui.run() == "succeeded"
    again = [f for f in window.result.findings if f.source == "library"]
    assert [(f.statement, f.more_in) for f in again] == [("blurrier", "b")]
    assert again[0].supported and "confirmed in the feature library" in again[0].hypothesis.evidence
    assert library_cell(window, "blurrier") == "confirmed"
    row = select(window, "blurrier")
    assert window.results.table.model().index(0, 1).data() == "Images in set B are blurrier"
    assert "In the feature library: confirmed" in view.badge.text() and row >= 0
    # the rejected claim recurs (the measurement proposer finds it again) and is flagged
    assert library_cell(window, "plainer (fewer edges)") == "known false positive"


def test_judging_needs_a_selected_finding(ui, window, small_pair):
    view = window.results.finding_view
    assert not view.confirm.isEnabled() and not view.reject.isEnabled()
    ui.load_sets(small_pair / "set_a", small_pair / "set_b")
    ui.run()
    assert view.confirm.isEnabled()
    window.results.table.clearSelection()
    window.results.table.setCurrentIndex(window.results.table.model().index(-1, -1))
    assert view.finding is None and not view.confirm.isEnabled()


def test_heat_map_hook_draws_over_the_exemplars(ui, window, qtbot, small_pair):
    """Whatever provider is plugged into the hook is drawn over each exemplar."""
    from PySide6.QtGui import QColor, QImage

    ui.load_sets(small_pair / "set_a", small_pair / "set_b")
    ui.run()
    view = window.results.finding_view
    strip = view.strips["b"]
    record = strip.model().records[0]
    qtbot.waitUntil(lambda: window.loader.image(record.path) is not None, timeout=5000)
    plain = strip.model().index(0, 0).data(Qt.ItemDataRole.DecorationRole)
    red = QImage(8, 8, QImage.Format.Format_RGB32)
    red.fill(QColor("red"))
    asked = []
    view.overlay_provider = lambda finding, rec: asked.append((finding, rec)) or red
    tinted = strip.model().index(0, 0).data(Qt.ItemDataRole.DecorationRole)
    assert asked == [(view.finding, record)]
    centre = (tinted.width() // 2, tinted.height() // 2)
    assert QColor(tinted.pixel(*centre)).red() > QColor(plain.pixel(*centre)).red() + 40


@pytest.mark.slow
def test_heat_maps_of_a_clip_model_are_drawn_over_the_exemplars(ui, window, qtbot, rectangles_pair):
    """With toy-shapes, the supported "small rectangles" finding shows where they are in set B's exemplars."""
    from PySide6.QtGui import QColor

    pair = rectangles_pair
    assert window.picker.set_current("toy-shapes")
    ui.load_sets(pair / "set_a", pair / "set_b")
    assert ui.run(timeout=120000) == "succeeded"
    findings = window.results.findings.findings
    row = next(i for i, f in enumerate(findings) if f.supported and f.hypothesis.space == "toy-shapes"
               and f.more_in == "b")
    window.results.table.selectRow(row)
    view = window.results.finding_view
    assert view.finding is findings[row]
    strip = view.strips["b"]
    record = strip.model().records[0]
    overlay = view.overlay_for(record)
    assert overlay is not None and not overlay.isNull()
    alphas = [QColor.fromRgba(overlay.pixel(x, y)).alpha() for x in range(overlay.width())
              for y in range(overlay.height())]
    assert max(alphas) > 100 and min(alphas) < 20  # coloured where the finding lies, clear elsewhere
    assert view.overlay_for(view.strips["a"].model().records[0]) is None  # maps are made for set B's images only
    qtbot.waitUntil(lambda: window.loader.image(record.path) is not None, timeout=5000)
    assert strip.model().index(0, 0).data(Qt.ItemDataRole.DecorationRole) is not None
