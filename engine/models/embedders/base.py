"""The Embedder protocol: images in, one row of numbers per image out."""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from ...io.images import ImageRecord
from ...progress import Work


@runtime_checkable
class Embedder(Protocol):
    """Turns images into vectors.

    name : registry name of the model ("measurements", "ViT-B-32", ...)
    cache_key : identity of the numbers it produces — model, weights sha256,
        preprocessing and precision; two embedders with the same key give the
        same vectors for the same file content
    dim : length of each vector
    feature_names : names of the dimensions when each one means something
        (measurements), else None
    """

    name: str
    cache_key: str
    dim: int
    feature_names: tuple[str, ...] | None

    def embed(self, images: Sequence[ImageRecord]) -> Work[np.ndarray]:
        """Yield Progress per batch; return ndarray of shape (len(images), dim), float32."""
        ...


@runtime_checkable
class TextEncoder(Protocol):
    """An embedder that can also place text in its space (CLIP-like models)."""

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        """Return ndarray of shape (len(texts), dim), float32, rows of unit norm."""
        ...
