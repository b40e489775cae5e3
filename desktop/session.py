"""What the window asks of the engine, and what it remembers between sessions."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from PySide6.QtCore import QSettings

import spotdiff

log = logging.getLogger(__name__)


def comparison(request, host):
    """The engine's comparison, then the map of its images: one generator for one worker."""
    with spotdiff.FeatureLibrary() as library:  # the user's confirmed features are proposed again
        result = yield from spotdiff.compare_steps(request, host=host, library=library)
    yield spotdiff.Progress("map", 0, 1, "placing every image on the map")
    emap = spotdiff.embedding_map(result)
    yield spotdiff.Progress("map", 1, 1, "done")
    return result, emap


def embedded_comparison(store_a: Path, store_b: Path, host):
    """The comparison of two embedding stores (``spotdiff embed``), then the map of their images."""
    with spotdiff.FeatureLibrary() as library:
        result = yield from spotdiff.compare_embedded_steps(store_a, store_b, host=host, library=library)
    yield spotdiff.Progress("map", 0, 1, "placing every image on the map")
    emap = spotdiff.embedding_map(result)
    yield spotdiff.Progress("map", 1, 1, "done")
    return result, emap


def export(result, folder: Path):
    """The engine's report.json and report.html of ``result``, written to ``folder``."""
    yield spotdiff.Progress("export", 0, 1, f"writing report.json and report.html to {folder}")
    spotdiff.write_reports(result, folder)
    yield spotdiff.Progress("export", 1, 1, "report written")
    return folder


def preload() -> None:
    """Load now the native libraries the engine loads on first use.

    Loading a big extension module holds the GIL (the GUI would stall for it mid-run), and the
    BLAS / OpenMP thread caps of a run (:func:`spotdiff.gui.jobs.spare_one_core`) reach only libraries
    already loaded.
    """
    for name in ("faiss", "threadpoolctl"):
        try:
            importlib.import_module(name)
        except ImportError as e:  # the engine will say what is missing when it needs it
            log.debug("cannot preload %s: %s", name, e)


def settings_store() -> QSettings:
    """The app's remembered state, beside the feature library in the user data folder."""
    return QSettings(str(spotdiff.data_dir() / "desktop.ini"), QSettings.Format.IniFormat)
