"""One object owns the loaded models and serialises access to them."""

from __future__ import annotations

import threading
from pathlib import Path

from .embedders.base import Embedder


class ModelHost:
    """Loads each embedder once and hands the same instance to every comparison.

    Loading is serialised by a lock; a GUI keeps one host for its lifetime, the
    CLI one per command. ``close()`` frees every model.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._embedders: dict[tuple, Embedder] = {}

    def embedder(self, name: str, *, weights: Path | None = None, precision: str = "auto") -> Embedder:
        from .models import get_model_spec, open_embedder

        spec = get_model_spec(name)
        key = (spec.name, str(weights) if weights else None, precision)
        with self._lock:
            if key not in self._embedders:
                self._embedders[key] = open_embedder(spec, weights=weights, precision=precision)
            return self._embedders[key]

    def close(self) -> None:
        with self._lock:
            for embedder in self._embedders.values():
                close = getattr(embedder, "close", None)
                if close is not None:
                    close()
            self._embedders.clear()

    def __enter__(self) -> "ModelHost":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
