"""How the desktop app feels during a run: the GUI thread's longest gap, and how soon Cancel stops a run.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/gui_responsiveness.py [--n 100] [--repeats 3]

A 10 ms timer ticks on the GUI thread while a comparison of n + n procedural images runs (measurements
model, no cache); the table gives the median over repeats of the longest gap between ticks and of the
time from pressing Cancel (mid-embedding) to the run's end. Targets: gap < 100 ms, cancel < 2 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from _common import table  # noqa: E402
from spotdiff.gui.main_window import MainWindow  # noqa: E402
from spotdiff.progress import run  # noqa: E402
from spotdiff.synthetic.synth import synth  # noqa: E402


def wait_for(window: MainWindow, timeout_ms: int = 120000) -> str:
    loop, outcome = QEventLoop(), []
    window.run_ended.connect(lambda o: (outcome.append(o), loop.quit()))
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    return outcome[0] if outcome else "timeout"


def one_run(pair: Path, cancel: bool) -> tuple[float, float | None, str]:
    """One comparison in the window: the longest gap of a 10 ms GUI timer, and with ``cancel`` the time
    from pressing Cancel at the first embedding batch to the run's end."""
    os.environ["SPOTDIFF_CACHE"] = tempfile.mkdtemp(prefix="spotdiff-bench-cache-")  # nothing cached
    window = MainWindow(restore=False)
    window.picker.set_current("measurements")
    window.sets["a"].set_sources([str(pair / "set_a")])
    window.sets["b"].set_sources([str(pair / "set_b")])
    gaps, clock, ticker = [], QElapsedTimer(), QTimer()
    ticker.setInterval(10)
    ticker.timeout.connect(lambda: gaps.append(clock.restart()))
    clock.start()
    ticker.start()
    cancel_clock = QElapsedTimer()

    def maybe_cancel(progress) -> None:
        if cancel and not cancel_clock.isValid() and progress.stage.startswith("embed") and progress.done > 0:
            cancel_clock.start()
            window.cancel_run()

    window.start_run()
    window.job.progressed.connect(maybe_cancel)
    outcome = wait_for(window)
    ticker.stop()
    cancel_ms = float(cancel_clock.elapsed()) if cancel_clock.isValid() else None
    window.close()
    window.deleteLater()
    return float(max(gaps[1:] or [0])), cancel_ms, outcome


def grid_timings(pair: Path, n: int = 10000) -> tuple[float, float]:
    """A thumbnail grid given ``n`` records (hard links of the pair's files): seconds to take them, and the
    slowest of 20 jumps through the whole grid with a repaint each."""
    import time

    from spotdiff import ImageRecord
    from spotdiff.gui.thumbnails import ThumbnailGrid, ThumbnailLoader

    folder = pair / "many"
    folder.mkdir(exist_ok=True)
    sources = sorted((pair / "set_a").glob("*.png"))
    records = []
    for i in range(n):
        path = folder / f"{i:05d}.png"
        if not path.exists():
            os.link(sources[i % len(sources)], path)
        records.append(ImageRecord(path, f"{i:064x}", 64, 64, "PNG"))
    loader = ThumbnailLoader()
    grid = ThumbnailGrid(loader)
    grid.resize(600, 500)
    grid.show()
    start = time.perf_counter()
    grid.set_records(records)
    QApplication.processEvents()
    took = time.perf_counter() - start
    bar, worst = grid.verticalScrollBar(), 0.0
    for step in range(20):
        t = time.perf_counter()
        bar.setValue(bar.maximum() * step // 19)
        grid.viewport().repaint()
        QApplication.processEvents()
        worst = max(worst, time.perf_counter() - t)
    loader.clear()
    loader.wait()
    grid.close()
    return took, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="images per set")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ["SPOTDIFF_DATA"] = tempfile.mkdtemp(prefix="spotdiff-bench-data-")
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        pair = run(synth(Path(tmp) / "pair", plants=[("blur", 0.6)], n_per_set=args.n, seed=2, image_size=64))
        gaps, cancels, takes, scrolls = [], [], [], []
        for _ in range(args.repeats):
            gap, _, outcome = one_run(pair, cancel=False)
            assert outcome == "succeeded", outcome
            gaps.append(gap)
            _, cancel, outcome = one_run(pair, cancel=True)
            if outcome == "cancelled" and cancel is not None:
                cancels.append(cancel)
            took, worst = grid_timings(pair)
            takes.append(took * 1000)
            scrolls.append(worst * 1000)
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                   if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"CPU: {cpu}; {os.cpu_count()} cores; {args.n} + {args.n} images, {args.repeats} repeats")
    print(table(["measure", "median", "worst", "target"], [
        ["longest GUI-thread gap during a run", f"{statistics.median(gaps):.0f} ms", f"{max(gaps):.0f} ms", "< 100 ms"],
        ["grid of 10,000 images: records taken", f"{statistics.median(takes):.0f} ms", f"{max(takes):.0f} ms",
         "< 500 ms"],
        ["grid of 10,000 images: slowest scroll step", f"{statistics.median(scrolls):.0f} ms",
         f"{max(scrolls):.0f} ms", "< 100 ms"],
        ["Cancel pressed -> run ended", f"{statistics.median(cancels):.0f} ms" if cancels else "n/a",
         f"{max(cancels):.0f} ms" if cancels else "n/a", "< 2000 ms"],
    ]))
    app.quit()


if __name__ == "__main__":
    main()
