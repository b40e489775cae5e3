"""Pick the embedding model: every registry model, with whether its weights are on this machine."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QToolButton, QWidget

import spotdiff
AvailableRole = Qt.ItemDataRole.UserRole + 1
WhereRole = Qt.ItemDataRole.UserRole + 2


class ModelPicker(QWidget):
    """A combo box of :func:`spotdiff.list_models`, each marked available or missing.

    For a missing model, :attr:`explain` (a label the window places where there is room) says
    which file is missing, where it was looked for, and how to get it (the registry's own words,
    from :func:`spotdiff.availability`). ``changed(name)`` when the choice changes.
    """

    changed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setObjectName("model_combo")
        self.combo.setMinimumContentsLength(22)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.info = QLabel()
        self.info.setObjectName("muted")
        self.explain = QLabel()
        self.explain.setObjectName("model_explain")
        self.explain.setWordWrap(True)
        self.explain.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.explain.setStyleSheet("color: #cf222e; background: #ffebe9; padding: 6px;")
        self.explain.hide()
        refresh = QToolButton()
        refresh.setText("↻")
        refresh.setToolTip("Look for model weights again (after copying them in place)")
        refresh.clicked.connect(self.refresh)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Model"))
        layout.addWidget(self.combo)
        layout.addWidget(refresh)
        layout.addWidget(self.info, 1)
        self.combo.currentIndexChanged.connect(self._on_index_changed)
        self.refresh()

    def refresh(self) -> None:
        """Read the registry and look for weights again, keeping the current choice."""
        keep = self.current() if self.combo.count() else None
        self.combo.blockSignals(True)
        self.combo.clear()
        for spec in spotdiff.list_models():
            if spec.kind == "decoder":  # not an embedding model: a comparison of its model uses it by itself
                continue
            ok, where = spotdiff.availability(spec)
            text = spec.name if ok else f"{spec.name} — weights missing"
            self.combo.addItem(text, spec.name)
            i = self.combo.count() - 1
            self.combo.setItemData(i, ok, AvailableRole)
            self.combo.setItemData(i, where, WhereRole)
            tip = f"{spec.description}\n{where}" if spec.description else where
            self.combo.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        self.combo.blockSignals(False)
        self.set_current(keep or spotdiff.default_model())
        self._show_info()

    def current(self) -> str:
        return self.combo.currentData() or ""

    def set_current(self, name: str) -> bool:
        """Choose ``name``; False (and no change) if the registry has no such model."""
        i = self.combo.findData(name)
        if i < 0:
            return False
        self.combo.setCurrentIndex(i)
        return True

    def available(self) -> bool:
        return bool(self.combo.currentData(AvailableRole))

    def explanation(self) -> str:
        """Where the current model's weights are, or what is missing and how to get it."""
        return self.combo.currentData(WhereRole) or ""

    def _show_info(self) -> None:
        ok = self.available()
        self.info.setText("✓ ready" if ok else "✗ weights missing")
        self.info.setToolTip(self.explanation())
        self.info.setStyleSheet("" if ok else "color: #cf222e;")
        self.explain.setText("" if ok else f"Cannot run with {self.current()}: {self.explanation()}")
        self.explain.setVisible(not ok)

    def _on_index_changed(self, _index: int) -> None:
        self._show_info()
        self.changed.emit(self.current())
