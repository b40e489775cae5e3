"""Offscreen Qt for every desktop test; small procedural image sets; a main window that is torn down cleanly."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

for _module, _extra in (("PySide6", "gui"), ("pytestqt", "test")):
    if os.environ.get("CI"):  # CI installs every extra: a missing one fails there, never skips
        __import__(_module)
    pytest.importorskip(_module, reason=f"needs {_module}, of the optional extra [{_extra}] (scripts/install.sh --test)")

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from spotdiff.progress import run  # noqa: E402
from spotdiff.synthetic.synth import synth  # noqa: E402


def make_pair(root: Path, n: int, seed: int = 0, plants=(("blur", 0.6),)) -> Path:
    run(synth(root, plants=list(plants), n_per_set=n, seed=seed, image_size=64))
    return root


@pytest.fixture(scope="session")
def small_pair(tmp_path_factory):
    """20 + 20 images; set B blurrier."""
    return make_pair(tmp_path_factory.mktemp("small"), 20)


@pytest.fixture(scope="session")
def other_pair(tmp_path_factory):
    """Another 20 + 20 images with the same planted blur, drawn with another seed."""
    return make_pair(tmp_path_factory.mktemp("other"), 20, seed=1)


@pytest.fixture(scope="session")
def rectangles_pair(tmp_path_factory):
    """40 + 40 images; tiny rectangles pasted into every image of set B (what toy-shapes sees best)."""
    return make_pair(tmp_path_factory.mktemp("rects"), 40, seed=3, plants=(("rectangles", 1.0),))


@pytest.fixture(scope="session")
def large_pair(tmp_path_factory):
    """100 + 100 images: a run that lasts long enough to cancel mid-way and to time the GUI thread."""
    return make_pair(tmp_path_factory.mktemp("large"), 100, seed=2)


@pytest.fixture
def pair_with_junk(small_pair, tmp_path):
    """The small pair, with an empty file and a text file posing as a JPEG in set A."""
    root = tmp_path / "junk"
    shutil.copytree(small_pair, root)
    (root / "set_a" / "empty.png").write_bytes(b"")
    (root / "set_a" / "notes.jpg").write_text("not an image")
    return root


def settle(window) -> None:
    """Stop whatever the window still runs, so it can be deleted safely."""
    if window.job is not None:
        window.job.cancel()
        window.job.wait(20000)
        QApplication.processEvents()
    window.confirm_close = lambda: True
    window.shutdown()


@pytest.fixture
def window(qtbot):
    from spotdiff.gui.main_window import MainWindow

    w = MainWindow(restore=False)
    # the measurements model: no weights, fast, and findings whose words the tests know in advance
    assert w.picker.set_current("measurements")
    w.resize(1300, 850)
    qtbot.addWidget(w, before_close_func=settle)
    w.show()
    qtbot.waitExposed(w)
    return w


class Ui:
    """What a person does with the window, for tests."""

    def __init__(self, qtbot, window):
        self.qtbot, self.window = qtbot, window

    @staticmethod
    def drop(widget, paths) -> None:
        """Drag ``paths`` onto ``widget`` and drop them, as a file manager would."""
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
        centre = QPoint(widget.width() // 2, widget.height() // 2)
        enter = QDragEnterEvent(centre, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(widget, enter)
        assert enter.isAccepted(), "the drop zone refused the drag"
        event = QDropEvent(QPointF(centre), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                           Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(widget, event)
        assert event.isAccepted()

    def load_sets(self, set_a, set_b) -> None:
        """Drop one folder on each set and wait for both scans."""
        for label, folder in (("a", set_a), ("b", set_b)):
            with self.qtbot.waitSignal(self.window.sets[label].scanned, timeout=20000):
                self.drop(self.window.sets[label], [folder])

    def load_sets_replacing(self, set_a, set_b) -> None:
        """Make each set exactly one folder (Clear, then drop) and wait for both scans."""
        for view in self.window.sets.values():
            view.clear()
        self.load_sets(set_a, set_b)

    def run(self, timeout: int = 60000) -> str:
        """Press Run and wait for the run to end; return how it ended."""
        with self.qtbot.waitSignal(self.window.run_ended, timeout=timeout) as blocker:
            self.qtbot.mouseClick(self.window.run_button, Qt.MouseButton.LeftButton)
        if blocker.args[0] == "succeeded":  # and wait until all of the result is on screen
            self.qtbot.waitUntil(lambda: self.window.results.shown_result is self.window.result, timeout=5000)
        return blocker.args[0]

    def click(self, button) -> None:
        self.qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


@pytest.fixture
def ui(qtbot, window):
    return Ui(qtbot, window)
