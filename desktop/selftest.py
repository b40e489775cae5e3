"""``spotdiff-gui --selftest``: open the main window, draw it once, close it; one line on stdout.

``spotdiff selftest`` runs this in a child process (the engine never loads Qt), so that it checks
the desktop program itself, its Qt plugins and the system libraries Qt needs. Offscreen where
``QT_QPA_PLATFORM=offscreen``; everything it writes goes where ``$SPOTDIFF_DATA`` says.
"""

from __future__ import annotations

import sys
import time

from PySide6.QtCore import QElapsedTimer
from PySide6.QtWidgets import QApplication

SETTLE_MS = 300  # let queued work (model list, layout) run before the window is drawn


def _say(line: str) -> None:
    if sys.stdout is not None:  # a windowed program on Windows has no stdout; the exit code still tells
        print(line, flush=True)


def run_selftest(app: QApplication) -> int:
    from .main_window import MainWindow

    start = time.perf_counter()
    window = MainWindow(restore=False)
    window.show()
    timer = QElapsedTimer()
    timer.start()
    while timer.elapsed() < SETTLE_MS:
        app.processEvents()
        time.sleep(0.01)
    image = window.grab().toImage()
    n_models = window.picker.combo.count()
    window.confirm_close = lambda: True
    window.shutdown()
    window.deleteLater()
    app.processEvents()
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    if image.isNull() or len(colours) < 3:
        _say(f"spotdiff-gui selftest: the window drew nothing ({image.width()}x{image.height()}, "
             f"{len(colours)} colours)")
        return 1
    _say(f"main window drawn on Qt platform '{app.platformName()}' ({image.width()}x{image.height()} px, "
         f"{len(colours)} colours, {n_models} models listed) in {time.perf_counter() - start:.1f} s")
    return 0
