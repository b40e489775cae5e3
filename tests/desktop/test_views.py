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
    assert names == [spec.name for spec in spotdiff.list_models() if spec.kind != "decoder"]  # decoders go with their model
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


@pytest.fixture(scope="module")
def region_result(tmp_path_factory):
    """A real comparison whose findings include a region finding: tiny red rectangles pasted into every set-B
    photo crop (about 15 s, measurements model, no weights)."""
    from spotdiff.synthetic.photos import write_photo_crops
    from spotdiff.synthetic.synth import synth

    tmp = tmp_path_factory.mktemp("regions")
    crops = write_photo_crops(tmp / "crops", 200, size=112, seed=0)
    spotdiff.run(synth(tmp / "pair", plants=[("rectangles/red", 0.5)], prevalence=1.0, n_per_set=100, source=crops,
                       seed=0, image_size=112))
    return spotdiff.compare(tmp / "pair" / "set_a", tmp / "pair" / "set_b", model="measurements")


def _pixels(image):
    """A QImage's pixels as an ndarray of shape (h, w, 4), RGBA."""
    import numpy as np
    from PySide6.QtGui import QImage

    image = image.convertToFormat(QImage.Format.Format_RGBA8888)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : 4 * image.width()].reshape(image.height(), image.width(), 4).copy()  # while `image` lives


def test_finding_view_outlines_a_region_findings_regions_and_nothing_else(qtbot, region_result):
    from PySide6.QtCore import Qt

    from spotdiff.gui.finding_view import FindingView
    from spotdiff.gui.thumbnails import OUTLINE

    loader = ThumbnailLoader()
    view = FindingView(loader)
    view.resize(800, 600)
    qtbot.addWidget(view, before_close_func=lambda _: (loader.clear(), loader.wait()))
    view.show()
    qtbot.waitExposed(view)
    region = next(f for f in region_result.findings if f.region is not None and f.supported)
    measured = next(f for f in region_result.findings if f.source == "measurements")
    cyan = (OUTLINE.red(), OUTLINE.green(), OUTLINE.blue())

    def drawn(finding) -> dict:
        """Per set, each exemplar's thumbnail as the strip shows it: (record, pixels that are the outline colour)."""
        view.set_finding(finding)
        records = [r for label in "ab" for r in view.strips[label].thumbnails.records]
        qtbot.waitUntil(lambda: all(loader.image(r.path) is not None for r in records), timeout=10000)
        out = {}
        for label in "ab":
            model = view.strips[label].thumbnails
            images = [model.data(model.index(row), Qt.ItemDataRole.DecorationRole) for row in range(model.rowCount())]
            out[label] = [(r, image, (_pixels(image)[..., :3] == cyan).all(axis=-1))
                          for r, image in zip(model.records, images)]
        return out

    shown = drawn(region)
    assert view.regions.isVisible()
    text = view.regions.text()
    assert "described from the discovery half" in text and "Colour" in text and "red" in text
    d = region.region.to_json()
    assert f'{d["width_px"]:g} × {d["height_px"]:g} px' in text
    n_outlined = 0
    for label in "ab":
        for record, image, cyan_pixels in shown[label]:
            boxes = region.region.boxes.get((str(record.path), record.frame, record.axis), ())
            if not boxes:
                assert not cyan_pixels.any()  # an exemplar without regions: nothing drawn
                continue
            n_outlined += 1
            sx, sy = image.width() / record.width, image.height() / record.height
            for x0, y0, x1, y1 in boxes:  # a ring one pixel outside each box, in the thumbnail's pixels
                left, top = int(x0 * sx) - 1, int(y0 * sy) - 1
                right = int(x0 * sx) + max(1, round((x1 - x0) * sx))
                bottom = int(y0 * sy) + max(1, round((y1 - y0) * sy))
                ring = ([(x, top) for x in range(left, right + 1)] + [(left, y) for y in range(top, bottom + 1)]
                        + [(x, bottom) for x in range(left, right + 1)] + [(right, y) for y in range(top, bottom + 1)])
                inside = [(x, y) for x, y in ring if 0 <= x < image.width() and 0 <= y < image.height()]
                assert inside and all(cyan_pixels[y, x] for x, y in inside)
    assert n_outlined >= len(region.exemplars_b) - 1  # the set the rectangles were pasted into

    shown = drawn(measured)
    assert not view.regions.isVisible()
    assert view.outlines_for(measured.exemplars_b[0]) == ()
    assert all(not cyan_pixels.any() for label in "ab" for _, _, cyan_pixels in shown[label])


def test_the_full_size_viewer_outlines_the_regions_of_the_region_finding_shown(qtbot, region_result):
    from spotdiff.gui.finding_view import FindingView
    from spotdiff.gui.image_viewer import ImageViewer
    from spotdiff.gui.thumbnails import OUTLINE

    loader = ThumbnailLoader()
    view = FindingView(loader)
    qtbot.addWidget(view, before_close_func=lambda _: (loader.clear(), loader.wait()))
    region = next(f for f in region_result.findings if f.region is not None and f.supported)
    record = next(r for r in region.exemplars_b if region.region.boxes.get((str(r.path), r.frame, r.axis)))
    view.set_finding(region)
    boxes = view.boxes_at(record.path)
    assert boxes == tuple(region.region.boxes[(str(record.path), record.frame, record.axis)])
    viewer = ImageViewer(record.path, boxes=boxes)
    qtbot.addWidget(viewer)
    with qtbot.waitSignal(viewer.loaded, timeout=10000):
        viewer.show()
    assert (viewer.image.width(), viewer.image.height()) == (record.width, record.height)
    cyan = (_pixels(viewer.image)[..., :3] == (OUTLINE.red(), OUTLINE.green(), OUTLINE.blue())).all(axis=-1)
    for x0, y0, x1, y1 in boxes:  # at full size, the outline is the ring one pixel outside each box
        ring = [(x, y0 - 1) for x in range(x0 - 1, x1 + 1)] + [(x0 - 1, y) for y in range(y0 - 1, y1 + 1)]
        inside = [(x, y) for x, y in ring if 0 <= x < record.width and 0 <= y < record.height]
        assert inside and all(cyan[y, x] for x, y in inside)
    assert "region(s) outlined" in viewer.info.text()
    view.set_finding(next(f for f in region_result.findings if f.source == "measurements"))
    assert view.boxes_at(record.path) == ()
