"""Embed image sets through the on-disk cache, one batch at a time.

Each finished batch is written to the cache before the next one starts, so a
cancelled run keeps what it computed and a re-run embeds only what is missing.
"""

from __future__ import annotations

import hashlib
import time
from typing import Sequence

import numpy as np

from .cache import EmbeddingCache
from .embedders.base import Embedder
from ..io.images import ImageRecord
from ..progress import Progress, Work, relay

BATCH = 64


def embed_images(embedder: Embedder, images: Sequence[ImageRecord], cache: EmbeddingCache | None,
                 *, batch_size: int = BATCH) -> Work[np.ndarray]:
    """Return ndarray of shape (len(images), embedder.dim); yields Progress("embed", ...)."""
    hashes = [im.content_hash for im in images]
    found = cache.get_many(embedder.cache_key, hashes, embedder.dim) if cache is not None else {}
    missing = [im for im in dict((im.content_hash, im) for im in images).values() if im.content_hash not in found]
    total = len(missing)
    yield Progress("embed", 0, total, f"{embedder.name}: {len(images) - total} cached, {total} to embed")
    for start in range(0, total, batch_size):
        batch = missing[start : start + batch_size]
        vectors = yield from relay(embedder.embed(batch),
                                   report=lambda p: Progress("embed", start + p.done, total, embedder.name))
        new = {im.content_hash: v for im, v in zip(batch, np.asarray(vectors, dtype=np.float32))}
        if cache is not None:
            cache.put_many(embedder.cache_key, new)
        found.update(new)
        yield Progress("embed", start + len(batch), total, embedder.name)
    if not images:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return np.stack([found[h] for h in hashes]).astype(np.float32)


class CachedTextEncoder:
    """A text encoder whose phrase vectors are kept in the embedding cache."""

    def __init__(self, encoder, cache_key: str, dim: int, cache: EmbeddingCache | None):
        self.encoder = encoder
        self.cache_key = cache_key
        self.dim = dim
        self.cache = cache
        self.seconds_ = 0.0  # spent embedding phrases that were not in the cache

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        keys = ["text:" + hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        found = self.cache.get_many(self.cache_key, keys, self.dim) if self.cache is not None else {}
        todo = [(k, t) for k, t in dict(zip(keys, texts)).items() if k not in found]
        if todo:
            start = time.perf_counter()
            vectors = self.encoder.embed_text([t for _, t in todo])
            self.seconds_ += time.perf_counter() - start
            new = {k: v for (k, _), v in zip(todo, np.asarray(vectors, dtype=np.float32))}
            if self.cache is not None:
                self.cache.put_many(self.cache_key, new)
            found.update(new)
        return np.stack([found[k] for k in keys]) if keys else np.zeros((0, self.dim), np.float32)


class TextMemo:
    """Keeps every phrase vector it is asked for in memory: over many comparisons in one process (the benchmark,
    the decoder's training) the vocabulary is embedded once, not once per comparison."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.memo: dict[str, np.ndarray] = {}

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if t not in self.memo))
        if todo:
            self.memo.update(zip(todo, np.asarray(self.encoder.embed_text(todo), dtype=np.float32)))
        return np.stack([self.memo[t] for t in texts])
