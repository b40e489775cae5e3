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
    """Places text in an embedding space (a CLIP-like model, or a cache in front of one)."""

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        """Return ndarray of shape (len(texts), dim), float32, rows of unit norm."""
        ...


@runtime_checkable
class TextEmbedder(Embedder, TextEncoder, Protocol):
    """An embedder that reads text too (CLIP-like models).

    prompt_templates : how the model expects a phrase to be framed ("a photo of {}.")
    vocabulary : the phrases it can read, for a model of a small world (toy-shapes); None: any phrase
    """

    prompt_templates: tuple[str, ...]
    vocabulary: tuple[str, ...] | None


@runtime_checkable
class PatchEmbedder(Protocol):
    """An embedder that can say where in an image a direction lies: per-patch scores (heat maps)."""

    def embed_patches(self, images: Sequence[ImageRecord], directions: np.ndarray | None = None) -> Work:
        ...
