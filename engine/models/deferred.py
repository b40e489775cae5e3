"""An open_clip model that loads when it is first needed, not when it is opened.

A comparison whose image and phrase vectors, re-planted variants and heat maps are all in the cache never needs
the model: only its cache key, its dimension and its preprocessing, which are the same every time the same
weights are loaded the same way. The first real load remembers them (the memo file EMBEDDER_MEMO), under a key
naming the entry, the weights file (its sha256, checked as on every load), the precision asked for, the device,
the CPU's flags (they decide bf16), the installed torch and open_clip, and the code that builds the key. The next
run reads them from there and imports neither torch nor open_clip until something asks for the model.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..io.images import ImageRecord
from ..progress import Work
from .cache import code_fingerprint, result_key
from .cpu import cpu_flags
from .memo import read_memo, remember
from .registry import ModelSpec
from .vocabulary import load_vocabulary

EMBEDDER_MEMO = "embedders.json"
REMEMBERED = ("cache_key", "dim", "preprocess_cfg", "prompt_templates")


def loading_key(spec: ModelSpec, weights: Path, weights_sha256: str, precision: str, device: str) -> str:
    """What decides a loaded model's cache key, dimension and preprocessing, as one digest."""
    entry = {k: v for k, v in dataclasses.asdict(spec).items() if k not in ("description", "license")}
    files = sorted(Path(weights).iterdir()) if Path(weights).is_dir() else [Path(weights)]
    stats = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file()]
    return result_key("embedder", code_fingerprint("spotdiff.models.embedders.open_clip", "spotdiff.models.precision"),
                      entry, str(weights), weights_sha256, stats, precision, device,
                      os.environ.get("SPOTDIFF_PRECISION", ""), sorted(cpu_flags() or ()))


def remember_loaded(key: str, embedder) -> None:
    """Note what a freshly loaded embedder's cache key, dimension and preprocessing are."""
    remember(EMBEDDER_MEMO, key, {"cache_key": embedder.cache_key, "dim": int(embedder.dim),
                                  "preprocess_cfg": _jsonable(embedder.preprocess_cfg),
                                  "prompt_templates": list(embedder.prompt_templates)})


def remembered(key: str) -> dict | None:
    """What :func:`remember_loaded` noted under ``key``, or None."""
    known = read_memo(EMBEDDER_MEMO).get(key)
    return known if isinstance(known, dict) and all(k in known for k in REMEMBERED) else None


class DeferredEmbedder:
    """An OpenClipEmbedder that is loaded at the first call that needs the model (embed, embed_text,
    embed_patches, or any attribute not listed here).

    name, cache_key, dim, feature_names (None), preprocess_cfg, prompt_templates, vocabulary, weights_sha256 : as the
        loaded model's
    loaded : whether the model has been loaded
    """

    feature_names = None

    def __init__(self, spec: ModelSpec, known: dict, load: Callable[[], object], key: str, weights_sha256: str):
        self.spec = spec
        self.name = spec.name
        self.weights_sha256 = weights_sha256
        self.cache_key = str(known["cache_key"])
        self.dim = int(known["dim"])
        self.preprocess_cfg = dict(known["preprocess_cfg"])
        self.prompt_templates = tuple(known["prompt_templates"])
        self.vocabulary = load_vocabulary(spec.vocabulary) if spec.vocabulary else None
        self._load, self._key, self._model = load, key, None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def model(self):
        """The loaded OpenClipEmbedder (loaded now if it was not)."""
        if self._model is None:
            model = self._load()
            if model.cache_key != self.cache_key or model.dim != self.dim:
                remember_loaded(self._key, model)  # not what was remembered (a memo from another install)
                self.cache_key, self.dim = model.cache_key, int(model.dim)
            self._model = model
        return self._model

    def embed(self, images: Sequence[ImageRecord]) -> Work[np.ndarray]:
        return self.model().embed(images)

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        return self.model().embed_text(texts)

    def embed_patches(self, images: Sequence[ImageRecord], directions: np.ndarray | None = None) -> Work[np.ndarray]:
        return self.model().embed_patches(images, directions)

    def close(self) -> None:
        """Free the model if it was loaded; the next call that needs it loads it again."""
        if self._model is not None:
            self._model.close()

    def __getattr__(self, name: str):
        if name.startswith("__") or name in ("_load", "_key", "_model"):
            raise AttributeError(name)
        return getattr(self.model(), name)

    def __repr__(self) -> str:
        return f"DeferredEmbedder({self.name!r}, loaded={self.loaded})"


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
