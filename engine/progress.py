"""Progress reports and the driver for generator-shaped long work.

Every slow step in the engine is a generator that yields :class:`Progress` at
least once per batch and *returns* its result. Callers drive it with
:func:`run` (blocking, optional callback) or iterate it themselves; to cancel,
stop iterating and call ``close()`` — each step cleans up in ``finally``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Generator, TypeVar

from .errors import Cancelled

T = TypeVar("T")

Work = Generator["Progress", None, T]


@dataclass(frozen=True)
class Progress:
    """One report from a long-running step.

    stage : short machine-readable name of the step ("scan", "embed", ...)
    done, total : units finished and expected (total 0 when unknown)
    message : one line for people
    """

    stage: str
    done: int = 0
    total: int = 0
    message: str = ""
    time: float = field(default_factory=time.monotonic, compare=False)

    @property
    def fraction(self) -> float | None:
        return self.done / self.total if self.total else None


def run(work: Work[T], on_progress: Callable[[Progress], object] | None = None) -> T:
    """Drive ``work`` to completion and return its result.

    ``on_progress`` is called with every report; if it returns ``False`` the
    work is closed (its ``finally`` blocks run) and :class:`~spotdiff.errors.Cancelled`
    is raised.
    """
    try:
        while True:
            report = next(work)
            if on_progress is not None and on_progress(report) is False:
                work.close()
                raise Cancelled(report.stage)
    except StopIteration as stop:
        return stop.value


def relay(work: Work[T], stage: str | None = None, *,
          report: Callable[[Progress], Progress] | None = None) -> Work[T]:
    """Yield from ``work`` and return its result; its reports renamed to ``stage``, or each rewritten
    by ``report`` (e.g. to count a batch's progress within a whole)."""
    if stage is None and report is None:
        return (yield from work)
    rewrite = report or (lambda p: Progress(stage, p.done, p.total, p.message))
    try:
        while True:
            try:
                progress = next(work)
            except StopIteration as stop:
                return stop.value
            yield rewrite(progress)
    finally:
        work.close()
