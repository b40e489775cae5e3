"""The main window: two image sets on the left, the run controls on top, the result on the right."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QMainWindow, QMessageBox, QProgressBar,
                               QPushButton, QSplitter, QVBoxLayout, QWidget)

import spotdiff
from . import session
from .errors import log_path, show_error
from .image_set_view import ImageSetView
from .image_viewer import ImageViewer
from .jobs import Eta, Job, eta_text, prefer_gui_thread, spare_one_core
from .model_picker import ModelPicker
from .result_view import ResultView
from .style import STYLESHEET
from .thumbnails import ThumbnailLoader

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """spotdiff's window. ``result_shown(result)`` once a run's result is all on screen."""

    result_shown = Signal(object)
    run_ended = Signal(str)  # "succeeded", "failed" or "cancelled"

    def __init__(self, *, restore: bool = True):
        super().__init__()
        self.setWindowTitle("spotdiff — how do these two sets of images differ?")
        self.setStyleSheet(STYLESHEET)
        prefer_gui_thread()
        session.preload()
        _ = (spotdiff.verdict, spotdiff.describe, spotdiff.embedding_map)  # import now, not when a result arrives
        self.host = spotdiff.ModelHost()  # one for the app's lifetime: models load once
        self.library = spotdiff.FeatureLibrary()
        self.loader = ThumbnailLoader(parent=self)
        self.job: Job | None = None
        self.result = None
        self.dialogs: list = []  # error dialogs and viewers opened, newest last
        self._eta = Eta()
        self._started = 0.0
        self._close_requested = False
        self._linking = False
        self._side_jobs: set[Job] = set()  # exports: short, not cancellable, waited for on close

        self.sets = {label: ImageSetView(label, self.loader) for label in "ab"}
        for view in self.sets.values():
            view.sources_changed.connect(self._on_sources_changed)
            view.scan_failed.connect(self._on_scan_failed)
            view.selected.connect(self._on_images_selected)
            view.opened.connect(self.open_image)
        self.picker = ModelPicker()
        self.picker.changed.connect(self._on_model_changed)
        self.run_button = QPushButton("▶ Run")
        self.run_button.setObjectName("run")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.start_run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel")
        self.cancel_button.clicked.connect(self.cancel_run)
        self.export_button = QPushButton("Export report…")
        self.export_button.clicked.connect(self._on_export_clicked)
        self.progress = QProgressBar()
        self.progress.setMinimumWidth(220)
        self.progress.setTextVisible(True)
        self.stage = QLabel()
        self.stage.setObjectName("muted")

        top = QHBoxLayout()
        top.addWidget(self.picker, 2)
        top.addWidget(self.run_button)
        top.addWidget(self.cancel_button)
        top.addWidget(self.progress)
        top.addWidget(self.stage, 1)
        top.addWidget(self.export_button)

        self.results = ResultView(self.loader, lookup=self.library.verdict_for)
        self.results.judged.connect(self._on_judged)
        self.results.points_selected.connect(self._on_points_selected)
        self.results.opened.connect(self.open_image)
        self.results.shown.connect(self.result_shown)
        self.sets_split = QSplitter(Qt.Orientation.Vertical)
        self.sets_split.setObjectName("sets_split")
        for view in self.sets.values():
            self.sets_split.addWidget(view)
        self.main_split = QSplitter(Qt.Orientation.Horizontal)
        self.main_split.setObjectName("main_split")
        self.main_split.addWidget(self.sets_split)
        self.main_split.addWidget(self.results)
        self.main_split.setStretchFactor(0, 2)
        self.main_split.setStretchFactor(1, 5)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addLayout(top)
        layout.addWidget(self.picker.explain)
        layout.addWidget(self.main_split, 1)
        self.setCentralWidget(central)
        self._build_menus()
        self.resize(1400, 900)
        if restore:
            self.restore_settings()
        self._update_buttons()

    def _build_menus(self) -> None:
        file = self.menuBar().addMenu("&File")
        for label in "ab":
            action = file.addAction(f"Add folder to set {label.upper()}…")
            action.triggered.connect(self.sets[label]._on_add_folder_clicked)
        file.addAction("Compare embedded sets…").triggered.connect(self._on_open_embedded)
        self.export_action = file.addAction("Export report…")
        self.export_action.triggered.connect(self._on_export_clicked)
        file.addSeparator()
        quit_action = file.addAction("Quit")
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        run = self.menuBar().addMenu("&Run")
        self.run_action = QAction("Run", self, shortcut=QKeySequence("Ctrl+R"), triggered=self.start_run)
        self.cancel_action = QAction("Cancel", self, shortcut=QKeySequence("Esc"), triggered=self.cancel_run)
        run.addAction(self.run_action)
        run.addAction(self.cancel_action)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction("Open the log folder").triggered.connect(
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_path().parent))))

    # --- running ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.job is not None

    def request(self):
        return spotdiff.CompareRequest(set_a=tuple(self.sets["a"].sources), set_b=tuple(self.sets["b"].sources),
                                     model=self.picker.current())

    def start_run(self) -> None:
        """Compare the two sets on a worker thread; the window stays live and Cancel works."""
        if self.running or not self._can_run():
            return
        try:
            request = self.request()
        except spotdiff.SpotdiffError as e:
            self._show(show_error(self, e))
            return
        host = self.host
        self._start_job(lambda: session.comparison(request, host))

    def compare_embedded(self, store_a: Path, store_b: Path) -> None:
        """Compare two embedding stores (``spotdiff embed --out``) as a run: the grids then list their images."""
        if self.running:
            return
        host = self.host
        self._start_job(lambda: session.embedded_comparison(Path(store_a), Path(store_b), host))

    def _on_open_embedded(self) -> None:
        stores = []
        for label in "AB":
            folder = QFileDialog.getExistingDirectory(self, f"Embedding store of set {label} (spotdiff embed --out)")
            if not folder:
                return
            stores.append(Path(folder))
        self.compare_embedded(*stores)

    def _start_job(self, work) -> None:
        self.job = Job(work, name="compare", threads=spare_one_core(), parent=self)
        self.job.progressed.connect(self._on_progressed)
        self.job.succeeded.connect(self._on_run_succeeded)
        self.job.failed.connect(self._on_run_failed)
        self.job.cancelled.connect(self._on_run_cancelled)
        self.job.ended.connect(self._on_run_ended)
        self._eta = Eta()
        self._started = time.monotonic()
        self.progress.setRange(0, 0)
        self.stage.setText("starting…")
        self.save_settings()
        self.job.start()
        self._update_buttons()

    def cancel_run(self) -> None:
        """Ask the run to stop at its next progress report; returns at once."""
        if self.job is not None:
            self.job.cancel()
            self.stage.setText("cancelling…")
            self._update_buttons()

    def _on_progressed(self, report) -> None:
        if report.total:
            self.progress.setRange(0, report.total)
            self.progress.setValue(report.done)
            self.progress.setFormat(f"{report.stage}: %v / %m")
        else:
            self.progress.setRange(0, 0)
            self.progress.setFormat(report.stage)
        eta = eta_text(self._eta.update(report))
        self.stage.setText(" · ".join(x for x in (report.stage, report.message, eta) if x))

    def _on_run_succeeded(self, value) -> None:
        result, emap = value
        self.result = result
        for label, image_set in (("a", result.set_a), ("b", result.set_b)):
            self.sets[label].show_image_set(image_set)  # the grids now list exactly the mapped images
        self.results.set_result(result, emap)
        took = time.monotonic() - self._started
        self.stage.setText(f"done in {took:.1f} s · {len(result.supported)} supported findings")
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.progress.setFormat("done")

    def _on_run_failed(self, error) -> None:
        self.stage.setText("stopped: " + type(error).__name__)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self._show(show_error(self, error))

    def _on_run_cancelled(self) -> None:
        self.stage.setText("cancelled; finished batches stay in the cache")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("cancelled")

    def _on_run_ended(self) -> None:
        outcome = self.job.outcome if self.job is not None else "failed"
        self.job.wait()  # run() has returned; this only joins the thread
        self.job.deleteLater()
        self.job = None
        self._update_buttons()
        self.run_ended.emit(outcome)
        if self._close_requested:
            self.close()

    def _can_run(self) -> bool:
        return bool(self.sets["a"].sources and self.sets["b"].sources and self.picker.available())

    def _update_buttons(self) -> None:
        running = self.running
        can = not running and self._can_run()
        self.run_button.setEnabled(can)
        self.run_action.setEnabled(can)
        self.cancel_button.setEnabled(running and not self.job.cancelling)
        self.cancel_action.setEnabled(running)
        self.export_button.setEnabled(self.result is not None and not running)
        self.export_action.setEnabled(self.result is not None and not running)
        if not self.picker.available():
            self.run_button.setToolTip("The chosen model's weights are missing: " + self.picker.explanation())
        else:
            self.run_button.setToolTip("Compare the two sets (Ctrl+R)")

    # --- judging, linking, opening --------------------------------------------------------

    def _on_judged(self, finding, verdict: str, note: str) -> None:
        evidence = {f"set_{s.label}": s.name for s in (self.result.set_a, self.result.set_b)}
        try:
            self.library.record(finding, verdict, note, model=self.result.settings.get("model", ""),
                                evidence=evidence)
        except spotdiff.SpotdiffError as e:
            self._show(show_error(self, e))
            return
        self.results.refresh_library()
        self.statusBar().showMessage(f"{verdict.capitalize()}: {finding.statement} (saved in the feature library)",
                                     6000)

    def _on_points_selected(self, paths: list) -> None:
        self._linking = True
        try:
            for view in self.sets.values():
                view.select_paths(paths)
        finally:
            self._linking = False
        self.statusBar().showMessage(f"{len(paths)} image(s) selected on the map", 4000)

    def _on_images_selected(self, paths: list) -> None:
        if not self._linking:
            other = [view for view in self.sets.values() if view is not self.sender()]
            chosen = set(paths) | {p for view in other for p in view.grid.selected_paths()}
            self.results.highlight_paths(chosen)

    def open_image(self, path: str) -> ImageViewer:
        """The image at ``path`` full size, with the regions of the region finding shown, if one is."""
        records = (*self.result.set_a.images, *self.result.set_b.images) if self.result is not None else ()
        record = next((r for r in records if str(r.path) == str(path)), None)
        viewer = ImageViewer(path, self, boxes=self.results.finding_view.boxes_at(path), record=record)
        viewer.show()
        self._show(viewer)
        return viewer

    def _show(self, dialog) -> None:
        self.dialogs = [d for d in self.dialogs[-9:] if d.isVisible()] + [dialog]

    # --- export ---------------------------------------------------------------------------

    def _on_export_clicked(self) -> None:
        settings = session.settings_store()
        folder = QFileDialog.getExistingDirectory(self, "Export the report to a folder",
                                                  str(settings.value("last_export", "")))
        if folder:
            settings.setValue("last_export", folder)
            self.export_to(Path(folder))

    def export_to(self, folder: Path) -> Job | None:
        """Write report.json and report.html to ``folder`` on a worker thread."""
        if self.result is None:
            return None
        result = self.result
        job = Job(lambda: session.export(result, folder), name="export", parent=self)
        job.succeeded.connect(lambda f: self.statusBar().showMessage(f"Report written to {f / 'report.html'}", 8000))
        job.failed.connect(lambda e: self._show(show_error(self, e)))
        job.ended.connect(lambda: self._side_jobs.discard(job))
        job.finished.connect(job.deleteLater)
        self._side_jobs.add(job)
        job.start()
        return job

    # --- settings and closing ---------------------------------------------------------------

    def restore_settings(self) -> None:
        s = session.settings_store()
        if s.value("geometry"):
            self.restoreGeometry(s.value("geometry"))
        for name, splitter in self._splitters().items():
            if s.value(f"split/{name}"):
                splitter.restoreState(s.value(f"split/{name}"))
        if s.value("model"):
            self.picker.set_current(str(s.value("model")))
        for label, view in self.sets.items():
            view.last_folder = str(s.value(f"last_folder/{label}", ""))
            value = s.value(f"sets/{label}") or []
            sources = [p for p in ([value] if isinstance(value, str) else value) if Path(p).exists()]
            if sources:  # (a list of one comes back from the .ini file as a plain string)
                view.set_sources(sources)

    def save_settings(self) -> None:
        s = session.settings_store()
        s.setValue("geometry", self.saveGeometry())
        for name, splitter in self._splitters().items():
            s.setValue(f"split/{name}", splitter.saveState())
        s.setValue("model", self.picker.current())
        for label, view in self.sets.items():
            s.setValue(f"sets/{label}", [str(p) for p in view.sources])
            s.setValue(f"last_folder/{label}", view.last_folder)
        s.sync()

    def _splitters(self) -> dict:
        return {"main": self.main_split, "sets": self.sets_split, "results": self.results.split,
                "results_lower": self.results.lower}

    def confirm_close(self) -> bool:
        """Ask before closing during a run (tests replace this)."""
        answer = QMessageBox.question(self, "Stop the comparison?",
                                      "A comparison is running. Stop it and close spotdiff?\n"
                                      "Finished batches stay in the cache; the rest is lost.")
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self.running:
            if not self._close_requested and not self.confirm_close():
                event.ignore()
                return
            self._close_requested = True
            self.cancel_run()  # the window closes when the run has stopped (_on_run_ended)
            event.ignore()
            return
        self.save_settings()
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop scans and thumbnail decoding, free models; waits only for work already told to stop."""
        for view in self.sets.values():
            view.stop_scan()
        for job in list(self._side_jobs):
            job.wait()
        self.loader.clear()
        self.loader.wait()
        self.host.close()
        self.library.close()

    # --- small slots ------------------------------------------------------------------------

    def _on_sources_changed(self, _sources) -> None:
        self._update_buttons()

    def _on_model_changed(self, _name: str) -> None:
        self._update_buttons()

    def _on_scan_failed(self, error) -> None:
        self._show(show_error(self, error))
