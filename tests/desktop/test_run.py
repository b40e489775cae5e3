"""Drop two folders, run a real comparison, read the result, follow links between map and grids."""

import json
import logging
import sys

import pytest
from PySide6.QtCore import QPoint, Qt

import spotdiff
from spotdiff.gui import errors
from spotdiff.gui.image_viewer import ImageViewer
from spotdiff.gui.result_view import COLUMNS


def test_drop_two_folders_and_run_to_completion(ui, window, pair_with_junk):
    ui.load_sets(pair_with_junk / "set_a", pair_with_junk / "set_b")
    a = window.sets["a"]
    assert a.counts.text() == "20 images · 2 skipped"
    assert a.grid.model().rowCount() == 20 and a.skipped_toggle.isVisible()
    reasons = {a.skipped.topLevelItem(i).text(0): a.skipped.topLevelItem(i).text(1) for i in range(2)}
    assert reasons["empty.png"] == "empty file (0 bytes)"
    assert "not an image" in reasons["notes.jpg"]
    assert window.run_button.isEnabled()

    assert ui.run() == "succeeded"
    result = window.result
    assert window.results.verdict.text().startswith("The sets differ")
    table = window.results.table
    assert table.model().rowCount() == len(result.findings) > 0
    first = [table.model().index(0, c).data() for c in range(len(COLUMNS))]
    assert first[0] == "✓" and first[1] == "Images in set B are blurrier" and first[2] == "B"
    assert float(first[3]) >= 0.6 and first[5] == "decoder"  # decoder-measurements ranks the blur first
    # the selected finding up close: words, exemplars of both sets, histograms of held-out scores
    view = window.results.finding_view
    assert view.finding is result.findings[0]
    assert view.strips["a"].model().rowCount() > 0 and view.strips["b"].model().rowCount() > 0
    assert view.histogram._bins is not None
    # its statistics line, as the label renders it (a "< 0.001" must not be read as the start of a tag)
    from PySide6.QtGui import QTextDocument

    document = QTextDocument()
    document.setHtml(view.stats.text())
    shown = document.toPlainText()
    assert f"held-out AUROC {view.finding.heldout_auroc:.2f} · q " in shown and "held-out images" in shown
    assert "Mann–Whitney" in shown or "Fisher" in shown
    if view.finding.q_value < 0.001:
        assert "q < 0.001" in shown
    # every image on the map, coloured by set
    emap = window.results.map_view.map
    assert len(emap) == 40 and emap.is_b.sum() == 20
    assert "held-out" in window.stage.text() or "done" in window.stage.text()


def test_map_and_grids_are_linked_both_ways(ui, window, qtbot, small_pair):
    ui.load_sets(small_pair / "set_a", small_pair / "set_b")
    ui.run()
    map_view = window.results.map_view
    # drag a box around every point: every image is selected in both grids
    qtbot.mousePress(map_view, Qt.MouseButton.LeftButton, pos=QPoint(1, 1))
    qtbot.mouseMove(map_view, QPoint(map_view.width() - 2, map_view.height() - 2))
    qtbot.mouseRelease(map_view, Qt.MouseButton.LeftButton, pos=QPoint(map_view.width() - 2, map_view.height() - 2))
    assert map_view.highlighted.all()
    assert len(window.sets["a"].grid.selected_paths()) == 20 and len(window.sets["b"].grid.selected_paths()) == 20
    # pick two images in grid B: exactly their points light up
    window.sets["a"].grid.clearSelection()
    grid = window.sets["b"].grid
    grid.clearSelection()
    grid.selectionModel().select(grid.model().index(3, 0), grid.selectionModel().SelectionFlag.Select)
    grid.selectionModel().select(grid.model().index(7, 0), grid.selectionModel().SelectionFlag.Select)
    picked = {str(p) for p in grid.selected_paths()}
    lit = {str(map_view.map.images[i].path) for i in map_view.highlighted.nonzero()[0]}
    assert lit == picked and len(lit) == 2


def test_double_click_opens_the_full_size_image(ui, window, qtbot, small_pair):
    ui.load_sets(small_pair / "set_a", small_pair / "set_b")
    grid = window.sets["a"].grid
    rect = grid.visualRect(grid.model().index(0, 0))
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    viewer = window.dialogs[-1]
    assert isinstance(viewer, ImageViewer) and viewer.path == window.sets["a"].image_set.images[0].path
    qtbot.waitUntil(lambda: not viewer.image.isNull(), timeout=5000)
    assert (viewer.image.width(), viewer.image.height()) == (64, 64)


def test_export_writes_the_engines_html_and_json(ui, window, qtbot, small_pair, tmp_path):
    ui.load_sets(small_pair / "set_a", small_pair / "set_b")
    assert not window.export_button.isEnabled()
    ui.run()
    assert window.export_button.isEnabled()
    job = window.export_to(tmp_path / "report")
    with qtbot.waitSignal(job.succeeded, timeout=20000):
        pass
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["findings"][0]["statement"] == "blurrier"
    assert "How set A and set B differ" in (tmp_path / "report" / "report.html").read_text()


def test_engine_error_is_a_dialog_built_from_its_fields(ui, window, small_pair, tmp_path):
    few = tmp_path / "few"
    few.mkdir()
    for p in sorted((small_pair / "set_a").iterdir())[:3]:
        (few / p.name).write_bytes(p.read_bytes())
    ui.load_sets(few, small_pair / "set_b")
    assert ui.run() == "failed"
    dialog = window.dialogs[-1]
    assert dialog.objectName() == "error_dialog" and dialog.isVisible()
    assert "Not enough images" in dialog.text()
    fields = dict(dialog.fields)
    assert fields["Readable images"] == "3" and fields["Images needed"] == "8"
    assert fields["Folder"] == str(few)
    assert "at least 8 are needed" in dialog.informativeText()
    assert window.run_button.isEnabled()  # the window is usable again


def test_unexpected_error_goes_to_the_crash_dialog_and_the_log(ui, window, small_pair, monkeypatch):
    handler = errors.setup_logging(process_wide=False)
    try:
        def broken(request, host):
            yield spotdiff.Progress("scan", 0, 0, "")
            raise ZeroDivisionError("a bug")

        monkeypatch.setattr("spotdiff.gui.session.comparison", broken)
        ui.load_sets(small_pair / "set_a", small_pair / "set_b")
        assert ui.run() == "failed"
        dialog = window.dialogs[-1]
        assert dialog.objectName() == "crash_dialog" and dialog.isVisible()
        assert str(errors.log_path()) in dialog.informativeText()
        handler.flush()
        logged = errors.log_path().read_text()
        assert "ZeroDivisionError: a bug" in logged and "Traceback" in logged

        # and an exception nobody caught, on the GUI thread, is not a silent exit either
        monkeypatch.setattr(sys, "excepthook", sys.excepthook)
        errors.install_crash_handler(lambda: window)
        try:
            raise KeyError("nobody caught me")
        except KeyError:
            sys.excepthook(*sys.exc_info())
        from PySide6.QtWidgets import QApplication

        QApplication.processEvents()
        crashes = [w for w in window.findChildren(type(dialog)) if w.objectName() == "crash_dialog"]
        assert any("nobody caught me" in w.informativeText() for w in crashes)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


@pytest.mark.parametrize("label", ["a", "b"])
def test_add_folder_button_uses_the_folder_dialog(window, qtbot, small_pair, monkeypatch, label):
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(small_pair / f"set_{label}"))
    view = window.sets[label]
    with qtbot.waitSignal(view.scanned, timeout=20000):
        qtbot.mouseClick(view.findChild(type(window.run_button), f"add_folder_{label}"), Qt.MouseButton.LeftButton)
    assert view.sources == [small_pair / f"set_{label}"] and len(view.image_set) == 20


def test_spotdiff_gui_command_opens_the_window_and_runs(qapp, small_pair, monkeypatch):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    import threading
    from spotdiff.gui.app import main
    from spotdiff.gui.main_window import MainWindow

    handlers = []
    setup = errors.setup_logging
    monkeypatch.setattr(errors, "setup_logging", lambda: handlers.append(setup(process_wide=False)))
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    seen = []

    def watch():
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if windows and windows[0].results.shown_result is not None:
            seen.append(windows[0].result)
            windows[0].close()
        else:
            QTimer.singleShot(50, watch)

    QTimer.singleShot(50, watch)
    QTimer.singleShot(60000, qapp.quit)  # never hang the suite
    try:
        assert main([str(small_pair / "set_a"), str(small_pair / "set_b"), "--model", "measurements", "--run"]) == 0
    finally:
        for h in handlers:
            logging.getLogger().removeHandler(h)
            h.close()
    assert seen and seen[0].supported and "starting" in errors.log_path().read_text()
