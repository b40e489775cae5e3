"""Remake docs/screenshot.png: the desktop app showing a real comparison of the demo sets.

Run under a real (virtual) X server, so the window is a real one:

    xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python scripts/screenshot.py

It writes the demo sets (``spotdiff demo``'s: tiny rectangles pasted into set B) to a temporary folder,
opens the main window, drops nothing by hand (it names the two folders), runs the comparison,
selects the top finding and a group of points on the map, waits for every visible thumbnail,
and saves ``QWidget.grab()`` of the window. The user's feature library, cache and settings are
not touched (SPOTDIFF_DATA and SPOTDIFF_CACHE point into the temporary folder).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def compare_in_window(set_a: Path, set_b: Path, model: str | None, width: int, height: int,
                      timeout_ms: int = 180_000):
    """Open the main window at ``width`` x ``height``, name the two folders, run the comparison with ``model``
    (None: the default) and wait until its result is on screen; return (app, window, wait), where
    ``wait(condition, what)`` processes events until ``condition()`` holds (TimeoutError after ``timeout_ms``).
    Also used by benchmarks/screenshot_regions.py."""
    from PySide6.QtCore import QElapsedTimer
    from PySide6.QtWidgets import QApplication

    from spotdiff.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyle("Fusion")
    window = MainWindow(restore=False)
    window.resize(width, height)
    window.show()

    def wait(condition, what: str) -> None:
        clock = QElapsedTimer()
        clock.start()
        while not condition():
            if clock.elapsed() > timeout_ms:
                raise TimeoutError(f"gave up waiting for {what}")
            app.processEvents()
            time.sleep(0.005)

    if model and not window.picker.set_current(model):
        raise SystemExit(f"the model {model!r} is not available")
    window.sets["a"].set_sources([set_a])
    window.sets["b"].set_sources([set_b])
    wait(lambda: all(v.image_set is not None for v in window.sets.values()), "the scans")
    window.start_run()
    wait(lambda: window.job is None, "the comparison")
    if window.result is None:
        raise SystemExit(f"the comparison did not finish: {window.stage.text()}")
    wait(lambda: window.results.shown_result is window.result, "the result on screen")
    return app, window, wait


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    parser.add_argument("--size", default="1600x1000", help="window size, WIDTHxHEIGHT")
    parser.add_argument("--model", default=None, help="model to compare with (default: the CLI's default)")
    args = parser.parse_args()
    width, height = (int(x) for x in args.size.split("x"))

    work = Path(tempfile.mkdtemp(prefix="spotdiff-screenshot-"))
    os.environ["SPOTDIFF_DATA"] = str(work / "data")
    os.environ["SPOTDIFF_CACHE"] = str(work / "cache")

    import spotdiff
    from spotdiff.apps.demo import DEMO_IMAGES_PER_SET, SEMANTIC_PLANTS
    from spotdiff.synthetic.synth import synth

    sets = work / "demo"
    spotdiff.run(synth(sets, plants=SEMANTIC_PLANTS, prevalence=1.0, n_per_set=DEMO_IMAGES_PER_SET, seed=0,
                     image_size=128))

    app, window, wait = compare_in_window(sets / "set_a", sets / "set_b", args.model, width, height)

    # a box on the map around the middle of set B's points, to show the linked selection in the grids
    from PySide6.QtCore import QRect

    map_view = window.results.map_view
    centre = map_view._to_screen()[map_view.map.is_b].mean(axis=0)
    picked = map_view.points_in(QRect(int(centre[0]) - 60, int(centre[1]) - 45, 120, 90))
    map_view.highlight(picked)
    map_view.selected.emit(picked)
    # the warmth finding shows its two histograms best; any other will do
    findings = window.results.findings.findings
    window.results.select_finding(next((i for i, f in enumerate(findings) if f.statement.startswith("warmer")), 0))

    def thumbnails_ready() -> bool:
        grids = [v.grid for v in window.sets.values()] + list(window.results.finding_view.strips.values())
        for grid in grids:
            for row in range(grid.model().rowCount()):
                index = grid.model().index(row, 0)
                if grid.visualRect(index).intersects(grid.viewport().rect()):
                    if window.loader.image(grid.model().records[row].path) is None:
                        return False
        return True

    wait(thumbnails_ready, "the thumbnails")
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(args.out)):
        raise SystemExit(f"cannot write {args.out}")
    print(f"wrote {args.out} ({width}x{height}): {spotdiff.verdict(window.result)}")
    window.confirm_close = lambda: True
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
