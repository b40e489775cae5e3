"""Colours and sizes shared by the views (the same Okabe–Ito pair as the HTML report)."""

from PySide6.QtGui import QColor

SET_COLOURS = {"a": QColor("#0072b2"), "b": QColor("#d55e00")}
SET_SOFT = {"a": QColor("#e3f0f8"), "b": QColor("#fbeadf")}
OK = QColor("#1a7f37")
BAD = QColor("#cf222e")
MUTED = QColor("#57606a")
THUMB = 96  # pixels, longer side of a grid thumbnail


def chip(label: str) -> str:
    """Rich-text badge "A" / "B" in the set's colour."""
    colour = SET_COLOURS[label].name()
    return (f'<span style="background:{colour}; color:white; font-weight:600;">&nbsp;{label.upper()}&nbsp;</span>')


STYLESHEET = """
QLabel#verdict { font-size: 15px; padding: 8px 12px; border-left: 5px solid #8c959f; background: #f6f8fa; }
QLabel#verdict[differ="true"] { border-left-color: #1a7f37; }
QLabel#title { font-size: 14px; font-weight: 600; }
QLabel#muted { color: #57606a; }
QLabel#badge_confirmed { color: #1a7f37; font-weight: 600; }
QLabel#badge_rejected { color: #cf222e; font-weight: 600; }
QFrame#drop_hint { border: 2px dashed #8c959f; border-radius: 8px; color: #57606a; font-size: 14px; }
ThumbnailGrid::item { border: 3px solid transparent; }
ThumbnailGrid::item:selected { border: 3px solid #1f6feb; background: #ddf4ff; }
QFrame#drop_hint[hover="true"] { border-color: #0969da; background: #ddf4ff; }
"""
