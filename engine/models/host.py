"""One object owns the loaded models and serialises access to them."""

from __future__ import annotations

import threading
from pathlib import Path

from ..errors import InvalidParameterError
from .embedders.base import Embedder
from .factory import open_embedder, open_vlm
from .registry import get_model_spec


class ModelHost:
    """Loads each embedder once and hands the same instance to every comparison.

    A CLIP model known from an earlier load is opened deferred (spotdiff.models.deferred): it loads at its
    first use, which a comparison whose vectors are all cached never makes.

    Loading is serialised by a lock; a GUI keeps one host for its lifetime, the
    CLI one per command. ``close()`` frees every model.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._embedders: dict[tuple, Embedder] = {}
        self._vlms: dict[tuple, object] = {}

    def embedder(self, name: str, *, weights: Path | None = None, precision: str = "auto") -> Embedder:
        spec = get_model_spec(name)
        key = (spec.name, str(weights) if weights else None, precision)
        with self._lock:
            if key not in self._embedders:
                self._embedders[key] = open_embedder(spec, weights=weights, precision=precision, deferred=True)
            return self._embedders[key]

    def vlm(self, name: str, *, weights: Path | None = None, **options):
        """The vision-language model ``name`` (registry kind "vlm"), loaded once and kept until ``close()``.

        By default an spotdiff.models.vlm.isolated.IsolatedVLM: the model lives in a worker process of its own, which a
        crash or a hang of llama.cpp stops instead of the caller, and which starts again (reloading
        the model) at the next question after one.

        weights : a folder holding the model GGUF and its projector, overriding the usual search
        options : passed to spotdiff.models.factory.open_vlm (isolated=False: in this process; n_threads,
            time_budget_s, ...); part of the cache key
        """
        spec = get_model_spec(name)
        if spec.kind != "vlm":
            raise InvalidParameterError("vlm", name, "a model of kind 'vlm' (see 'spotdiff models'), "
                                        f"not the {spec.kind} model {spec.name!r}")
        key = (spec.name, str(weights) if weights else None, tuple(sorted(options.items())))
        with self._lock:
            if key not in self._vlms:
                self._vlms[key] = open_vlm(spec, weights=weights, **options)
            return self._vlms[key]

    def close(self) -> None:
        with self._lock:
            for vlm in self._vlms.values():
                vlm.close()
            self._vlms.clear()
            for embedder in self._embedders.values():
                close = getattr(embedder, "close", None)
                if close is not None:
                    close()
            self._embedders.clear()

    def __enter__(self) -> "ModelHost":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
