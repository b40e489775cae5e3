"""Errors the user can act on become dialogs built from the error's fields; anything else is a crash.

A crash is logged (with its traceback) to ``<data dir>/logs/spotdiff-gui.log`` and shown in a
dialog that says where the log is. Nothing ends silently: uncaught exceptions on any thread, and
Qt's own warnings, go to the same log.
"""

from __future__ import annotations

import faulthandler
import logging
import sys
import threading
import traceback
from pathlib import Path

from PySide6.QtCore import QObject, QtMsgType, Signal, qInstallMessageHandler
from PySide6.QtWidgets import QApplication, QMessageBox

import spotdiff
log = logging.getLogger("desktop")

TITLES = {
    "ImageSetNotFoundError": "Image set not found",
    "EmptyImageSetError": "Not enough images",
    "UnreadableImageError": "Unreadable image",
    "InvalidParameterError": "Invalid setting",
    "UnknownModelError": "Unknown model",
    "WeightsNotFoundError": "Model weights not found",
    "WeightsIntegrityError": "Model weights damaged",
    "WeightsDownloadError": "Cannot download model weights",
    "ModelLoadError": "Cannot load the model",
    "CacheError": "Embedding cache unusable",
    "LibraryError": "Feature library unusable",
    "Cancelled": "Cancelled",
}

FIELD_NAMES = {
    "folder": "Folder", "path": "Path", "readable": "Readable images", "skipped": "Skipped files",
    "needed": "Images needed", "reason": "Reason", "name": "Name", "value": "Value", "expected": "Expected",
    "known": "Known models", "model": "Model", "filename": "File", "searched": "Looked in", "hint": "How to fix",
    "found": "Found", "repo": "Repository", "stage": "Stage",
}


def log_path() -> Path:
    return spotdiff.data_dir() / "logs" / "spotdiff-gui.log"


def error_fields(error: BaseException) -> list[tuple[str, str]]:
    """(label, text) of each fact an engine error carries, in the order the error set them."""
    out = []
    for key, value in vars(error).items():
        if key.startswith("_"):
            continue
        if isinstance(value, (tuple, list)):
            text = "\n".join(str(v) for v in value) or "(none)"
        else:
            text = str(value)
        out.append((FIELD_NAMES.get(key, key.replace("_", " ").capitalize()), text))
    return out


def error_dialog(parent, error: BaseException) -> QMessageBox:
    """A dialog for an engine error: title from its kind, text from its message, details from its fields.

    The dialog is opened window-modal and returned (the caller never blocks on it).
    """
    box = QMessageBox(parent)
    box.setObjectName("error_dialog")
    box.setIcon(QMessageBox.Icon.Warning)
    kind = type(error).__name__
    box.setWindowTitle(f"spotdiff — {TITLES.get(kind, 'Error')}")
    box.setText(f"<b>{TITLES.get(kind, kind)}</b>")
    box.setInformativeText(str(error))
    fields = error_fields(error)
    if fields:
        box.setDetailedText("\n".join(f"{label}: {text}" for label, text in fields))
    box.fields = fields  # for tests and for anyone extending the dialog
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.open()
    return box


def crash_dialog(parent, error: BaseException, tb: str | None = None) -> QMessageBox:
    """Say that something unexpected happened, where the log is, and show the traceback."""
    tb = tb or "".join(traceback.format_exception(type(error), error, error.__traceback__))
    log.error("unexpected error:\n%s", tb)
    box = QMessageBox(parent)
    box.setObjectName("crash_dialog")
    box.setIcon(QMessageBox.Icon.Critical)
    box.setWindowTitle("spotdiff — Unexpected error")
    box.setText("<b>Something went wrong that spotdiff did not expect.</b>")
    box.setInformativeText(
        f"{type(error).__name__}: {error}\n\nThe details are in the log file:\n{log_path()}\n"
        "Please include it when you report the problem. Your image folders were only read.")
    box.setDetailedText(tb)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.open()
    return box


def show_error(parent, error: BaseException) -> QMessageBox:
    """An engine error gets its own dialog; anything else is a crash."""
    if isinstance(error, spotdiff.SpotdiffError):
        log.info("error shown to the user: %s", error)
        return error_dialog(parent, error)
    return crash_dialog(parent, error)


_FAULT_LOG = None


def setup_logging(level: int = logging.INFO, *, process_wide: bool = True) -> logging.Handler:
    """Log to the log file; returns the handler. ``process_wide`` also sends crash dumps
    (faulthandler) and Qt's own messages there (the app does; tests need not)."""
    global _FAULT_LOG
    path = log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    if not process_wide:
        return handler
    _FAULT_LOG = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    faulthandler.enable(_FAULT_LOG)

    def qt_message(mode, context, message):
        level = logging.WARNING if mode in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg,
                                            QtMsgType.QtFatalMsg) else logging.DEBUG
        logging.getLogger("qt").log(level, "%s", message)

    qInstallMessageHandler(qt_message)
    return handler


class _CrashRelay(QObject):
    """Carries a crash from whatever thread it happened on to the GUI thread."""

    crashed = Signal(object, str)


_RELAY: _CrashRelay | None = None


def install_crash_handler(window_getter) -> None:
    """Uncaught exceptions (GUI thread or any other) are logged and shown in the crash dialog.

    window_getter : returns the window to parent the dialog to (or None). Call on the GUI thread.
    """
    global _RELAY
    _RELAY = _CrashRelay()
    _RELAY.crashed.connect(lambda error, text: crash_dialog(window_getter(), error, text))

    def on_exception(kind, error, tb) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, error, tb)
            return
        text = "".join(traceback.format_exception(kind, error, tb))
        if QApplication.instance() is None:
            log.error("unexpected error:\n%s", text)
            sys.__excepthook__(kind, error, tb)
            return
        _RELAY.crashed.emit(error, text)  # queued when raised off the GUI thread

    def on_thread_exception(args) -> None:
        on_exception(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = on_exception
    threading.excepthook = on_thread_exception
