"""Long engine work on a worker thread: a generator of Progress, driven until done or cancelled.

The GUI thread starts a :class:`Job` and listens; it never waits on one. Cancel sets a flag that
the worker checks at every Progress the work yields: it stops iterating and closes the
generator, whose ``finally`` blocks leave caches consistent, then reports ``cancelled``.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Callable, Generator

from PySide6.QtCore import QThread, Signal

from spotdiff import Progress, SpotdiffError

log = logging.getLogger(__name__)

Work = Generator[Progress, None, object]


class Job(QThread):
    """Drives ``make_work()`` on its own thread.

    make_work : called on the worker thread; returns the generator to drive
    min_interval : seconds between two ``progressed`` signals of one stage (the last
        report of a stage and the first of the next are always sent)
    threads : cap on the BLAS / OpenMP threads while the work runs (None: no cap).
        :func:`spare_one_core` leaves a core to the GUI: idle BLAS threads spin, and on a
        small machine they would starve the GUI thread of CPU time.

    Signals (delivered on the GUI thread): ``progressed(Progress)``, then exactly one of
    ``succeeded(value)``, ``failed(exception)`` or ``cancelled()``; ``ended()`` after any of them.
    """

    progressed = Signal(object)
    succeeded = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    ended = Signal()

    def __init__(self, make_work: Callable[[], Work], *, name: str = "job", min_interval: float = 0.05,
                 threads: int | None = None, parent=None):
        super().__init__(parent)
        self.setObjectName(name)
        self._make_work = make_work
        self._min_interval = min_interval
        self._threads = threads
        self._cancel = threading.Event()
        self.outcome: str | None = None  # "succeeded", "failed", "cancelled"

    def cancel(self) -> None:
        """Ask the work to stop at its next Progress; returns at once."""
        self._cancel.set()

    @property
    def cancelling(self) -> bool:
        return self._cancel.is_set() and self.outcome is None

    def run(self) -> None:  # the worker thread
        outcome, value = "failed", None
        try:
            if self._threads is None:
                outcome, value = self._drive()
            else:
                from threadpoolctl import threadpool_limits

                with threadpool_limits(limits=self._threads):
                    outcome, value = self._drive()
        except SpotdiffError as e:
            log.info("%s stopped: %s", self.objectName(), e)
            value = e
        except Exception as e:  # noqa: BLE001 - anything else is a bug: the GUI shows the crash dialog
            log.exception("%s crashed", self.objectName())
            value = e
        self.outcome = outcome
        if outcome == "succeeded":
            self.succeeded.emit(value)
        elif outcome == "cancelled":
            self.cancelled.emit()
        else:
            self.failed.emit(value)
        self.ended.emit()

    def _drive(self) -> tuple[str, object]:
        work = self._make_work()
        last_sent, last_stage, pending = 0.0, None, None
        try:
            while not self._cancel.is_set():
                try:
                    report = next(work)
                except StopIteration as stop:
                    if pending is not None:
                        self.progressed.emit(pending)
                    return "succeeded", stop.value
                now = time.monotonic()
                if report.stage != last_stage or now - last_sent >= self._min_interval:
                    if pending is not None and report.stage != last_stage:
                        self.progressed.emit(pending)  # the last word of the stage before
                    self.progressed.emit(report)
                    last_sent, last_stage, pending = now, report.stage, None
                else:
                    pending = report
            return "cancelled", None
        finally:
            work.close()  # runs the work's finally blocks before anyone hears how it ended


def prefer_gui_thread(interval: float = 0.001) -> None:
    """Let a thread waiting for the GIL (the GUI thread) get it within ``interval`` seconds.

    Python's default, 5 ms, lets a busy worker hold the GIL for several switch intervals in a
    row when the machine is loaded; a shorter interval keeps the GUI's frame times low at a
    small cost to the worker. Process-wide; the app calls it once.
    """
    if sys.getswitchinterval() > interval:
        sys.setswitchinterval(interval)


def spare_one_core() -> int:
    """Threads for engine work that leave one core to the GUI (at least 1)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, n - 1)


class Eta:
    """Time left in the current stage, from how fast its units went so far."""

    def __init__(self):
        self.stage: str | None = None
        self.started = 0.0

    def update(self, report: Progress) -> float | None:
        """Seconds left, or None when the stage has no known total yet."""
        if report.stage != self.stage:
            self.stage, self.started = report.stage, report.time
            return None
        if not report.total or report.done <= 0:
            return None
        elapsed = report.time - self.started
        return elapsed * (report.total - report.done) / report.done


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return "under a second left"
    if seconds < 90:
        return f"about {seconds:.0f} s left"
    return f"about {seconds / 60:.0f} min left"
