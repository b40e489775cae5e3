"""The thumbnail grid at 10,000 images, the model picker, and what the window remembers."""

import os

import pytest
from PySide6.QtWidgets import QApplication

import spotdiff
from spotdiff.gui.main_window import MainWindow
from spotdiff.gui.thumbnails import ThumbnailGrid, ThumbnailLoader

N_LARGE = 10_000


@pytest.fixture
def ten_thousand(small_pair, tmp_path):
    """10,000 image records over real files (hard links of 20 small PNGs, no copying)."""
    folder = tmp_path / "many"
    folder.mkdir()
    sources = sorted((small_pair / "set_a").glob("*.png"))
    records = []
    for i in range(N_LARGE):
        path = folder / f"{i:05d}.png"
        os.link(sources[i % len(sources)], path)
        records.append(spotdiff.ImageRecord(path, f"{i:064x}", 64, 64, "PNG"))
    return spotdiff.ImageSet("a", (folder,), tuple(records), ())


def test_grid_of_10000_images_is_lazy_and_scrolls_smoothly(qtbot, ten_thousand):
    loader = ThumbnailLoader()
    grid = ThumbnailGrid(loader)
    grid.resize(600, 500)
    qtbot.addWidget(grid, before_close_func=lambda _: (loader.clear(), loader.wait()))
    grid.show()
    qtbot.waitExposed(grid)

    grid.set_records(ten_thousand.images)  # how fast, and how smooth the scrolling: benchmarks/gui_responsiveness.py
    QApplication.processEvents()
    qtbot.waitUntil(lambda: grid.verticalScrollBar().maximum() > 100 * grid.gridSize().height(), timeout=5000)

    bar = grid.verticalScrollBar()
    for step in range(20):  # jump through the whole grid, repainting each time
        bar.setValue(bar.maximum() * step // 19)
        grid.viewport().repaint()
        QApplication.processEvents()
    # only what was on screen was asked for: a few pages, not 10,000
    visible = (grid.viewport().width() // grid.gridSize().width() + 1) * (
        grid.viewport().height() // grid.gridSize().height() + 2)
    assert loader.n_requested <= 20 * visible and loader.n_requested < N_LARGE / 10
    # and what is on screen now arrives
    last = grid.model().index(N_LARGE - 1, 0)
    qtbot.waitUntil(lambda: loader.image(ten_thousand.images[-1].path) is not None, timeout=10000)
    assert not loader.image(ten_thousand.images[-1].path).isNull()
    assert grid.visualRect(last).intersects(grid.viewport().rect())


def test_model_picker_lists_every_model_and_explains_missing_weights(qtbot):
    fresh = MainWindow(restore=False)  # as a new user sees it: the default model picked
    qtbot.addWidget(fresh)
    fresh.show()
    qtbot.waitExposed(fresh)
    assert fresh.picker.current() == spotdiff.default_model() and fresh.picker.available()
    picker = fresh.picker
    names = [picker.combo.itemData(i) for i in range(picker.combo.count())]
    assert names == [spec.name for spec in spotdiff.list_models()]
    missing = [s for s in spotdiff.list_models() if not spotdiff.availability(s)[0]]
    assert missing, "the test machine has no weights, so at least one model lacks them"
    spec = missing[0]
    picker.set_current(spec.name)
    assert picker.combo.currentText() == f"{spec.name} — weights missing"
    assert picker.info.text() == "✗ weights missing" and picker.explain.isVisible()
    assert "not found" in picker.explain.text() and spec.filename in picker.explain.text()
    assert not fresh.run_button.isEnabled()
    assert "weights are missing" in fresh.run_button.toolTip()
    picker.set_current("measurements")
    assert picker.info.text() == "✓ ready" and not picker.explain.isVisible()


def test_folders_model_and_layout_are_remembered(qtbot, small_pair):
    first = MainWindow(restore=True)
    qtbot.addWidget(first)
    first.sets["a"].set_sources([small_pair / "set_a"])
    first.sets["b"].set_sources([small_pair / "set_b"])
    first.resize(700, 500)  # the offscreen screen is small: restoreGeometry() clamps to it
    first.show()
    qtbot.waitExposed(first)
    size = first.size()  # no smaller than the layout allows
    assert size != MainWindow(restore=False).size()
    first.main_split.setSizes([200, 500])
    chosen = next(m for m in ("measurements", "toy-shapes") if m != first.picker.current())
    assert first.picker.set_current(chosen)
    first.close()

    second = MainWindow(restore=True)
    qtbot.addWidget(second)
    second.show()
    qtbot.waitExposed(second)
    assert second.sets["a"].sources == [small_pair / "set_a"] and second.sets["b"].sources == [small_pair / "set_b"]
    assert second.picker.current() == chosen
    assert second.size() == size
    assert second.main_split.sizes() == first.main_split.sizes()
    for view in second.sets.values():
        qtbot.waitUntil(lambda v=view: v.image_set is not None, timeout=10000)
    second.close()


def test_a_side_effect_is_nested_under_its_cause_with_the_reason(qtbot):
    import numpy as np
    from PySide6.QtCore import Qt

    from spotdiff.gui.result_view import COLUMNS, FindingsModel
    from spotdiff import Finding, Hypothesis

    def finding(statement, id, **links):
        h = Hypothesis(statement, "b", "concept-bank", "clip", np.ones(2))
        return Finding(h, 0.8, 0.001, 0.01, True, np.zeros(3), np.ones(3), id=id, independent=not links, **links)

    model = FindingsModel()
    echo = finding("text overlay", "f2", side_effect_of="f1", replanted=("rectangles", "a", 0.3),
                   reproduced=(0.9, 0.7, 1.1))
    model.set_findings([echo, finding("small rectangles", "f1")])  # shown in report order, whatever the input's
    column = COLUMNS.index("Finding")
    first, second = (model.data(model.index(row, column)) for row in (0, 1))
    assert first == "More in set B: small rectangles"
    assert second == "    ↳ More in set B: text overlay"
    assert model.why(1) == ("side effect of “small rectangles”: re-planting the tiny rectangles into set A reproduces "
                            "this (90 % of its shift, 95 % interval 70 % to 110 %)")
    assert model.why(1) in model.data(model.index(1, column), Qt.ItemDataRole.ToolTipRole)
    assert model.data(model.index(0, column), Qt.ItemDataRole.FontRole).bold()
    assert model.data(model.index(1, column), Qt.ItemDataRole.FontRole) is None
