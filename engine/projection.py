"""A 2D map of every image of a comparison: principal components of its embeddings."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .analysis.contrast import Standardizer
from .comparison import Result
from .errors import InvalidParameterError
from .io.images import ImageRecord


@dataclass(frozen=True)
class EmbeddingMap:
    """Every image of both sets placed in 2D.

    space : the embedding space mapped
    xy : ndarray of shape (n_a + n_b, 2), set A's images first, in ``images`` order
    is_b : ndarray of shape (n_a + n_b,), True for set B
    images : the images, set A's then set B's, as in ``result.set_a.images + result.set_b.images``
    explained : share of the variance each of the two axes explains
    """

    space: str
    xy: np.ndarray = field(repr=False)
    is_b: np.ndarray = field(repr=False)
    images: tuple[ImageRecord, ...] = field(repr=False)
    explained: tuple[float, float] = (0.0, 0.0)

    def __len__(self) -> int:
        return len(self.images)


def embedding_map(result: Result, space: str | None = None) -> EmbeddingMap:
    """PCA of one space's embeddings of all images (label-free: no set information is used).

    space : a key of ``result.embeddings``; default: the comparison's main model
    Named-feature spaces (measurements) are standardised first, so pixels and brightness weigh
    alike; other spaces are only centred.
    """
    if not result.embeddings:
        raise InvalidParameterError("result", "a result without embeddings", "a result made by compare()")
    name = space or result.settings.get("model") or next(iter(result.embeddings))
    if name not in result.embeddings:
        raise InvalidParameterError("space", name, "one of " + ", ".join(result.embeddings))
    X = np.asarray(result.embeddings[name], dtype=np.float64)
    images = result.set_a.images + result.set_b.images
    if X.shape[0] != len(images):
        raise InvalidParameterError("result.embeddings", f"{X.shape[0]} rows", f"{len(images)}, one per image")
    named = name == "measurements"
    Z = Standardizer.fit(X, scale=named).transform(X)
    Z = np.nan_to_num(Z[:, np.isfinite(Z).all(axis=0)]) if Z.size else Z
    xy = np.zeros((len(images), 2))
    explained = (0.0, 0.0)
    if Z.shape[0] >= 2 and Z.shape[1] >= 1:
        _, s, vt = np.linalg.svd(Z, full_matrices=False)
        k = min(2, vt.shape[0])
        xy[:, :k] = Z @ vt[:k].T
        total = float((s ** 2).sum())
        if total > 0:
            shares = (s[:k] ** 2) / total
            explained = (float(shares[0]), float(shares[1]) if k > 1 else 0.0)
    # a sign convention, so the same data always gives the same picture
    for j in range(2):
        if xy[:, j].size and xy[np.argmax(np.abs(xy[:, j])), j] < 0:
            xy[:, j] *= -1
    is_b = np.r_[np.zeros(len(result.set_a)), np.ones(len(result.set_b))].astype(bool)
    return EmbeddingMap(space=name, xy=xy.astype(np.float32), is_b=is_b, images=images, explained=explained)
