"""Work spread over the machine's cores: the cores this process may use, and a small ordered thread pool.

Some of spotdiff's work is single-threaded on purpose — the region stage's boosted trees run OpenMP on one thread
(their many short parallel loops gain little and suffer beside other work,
:func:`spotdiff.analysis.regions.detector.one_thread`), and decoding, editing and writing an image is one thread's
work — so on its own it holds one core of a workstation's several. Such work splits into independent pieces (an
image read and featured or re-planted, a fold's classifiers fitted, a classifier scoring a batch of images) that
:class:`Pool` runs on a few threads. Threads, not processes: decoding, numpy, scipy's filters and scikit-learn's
tree loops release the GIL for most of their time, and the pieces share large arrays that a process would have
to copy. OpenMP's thread count is a per-thread setting, so a worker's own limit holds for that worker alone.

Results come back in the order the work was given, whatever order it finishes in, so the stage computes the same
numbers on any number of threads.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_WORKERS = 4  # past a few threads the GIL-holding parts (Python loops, some filters) are what is left


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS says, else all of the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows have no affinity call
        return max(1, os.cpu_count() or 1)


class Pool:
    """``map`` over a few worker threads (``workers``: default one per core, at most MAX_WORKERS; 1: in the
    caller's thread, no pool). Use as a context manager: leaving it waits for the pieces already running and
    drops those not started (a cancelled comparison stops within one piece)."""

    def __init__(self, workers: int | None = None):
        self.workers = max(1, min(MAX_WORKERS, available_cores())) if workers is None else max(1, int(workers))
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="spotdiff-work") \
            if self.workers > 1 else None

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``fn(item)`` for each of ``items``, in their order; at most twice ``workers`` pieces in flight, so
        that results a slow consumer has not taken yet do not pile up."""
        if self._executor is None:
            yield from map(fn, items)
            return
        pending: deque[Future] = deque()
        try:
            for item in items:
                pending.append(self._executor.submit(fn, item))
                if len(pending) >= 2 * self.workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:  # the consumer stopped early (an error, a cancel): drop what is left
                future.cancel()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
