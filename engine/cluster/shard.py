"""The work on one shard, wherever it runs (a Ray actor, or this process): read, check, embed, measure.

The same steps as an in-process comparison, with the same classes: each file is hashed and checked
(spotdiff.io.images.read_records, which also gives the frames or slices of a multi-item file and their acquisition
tags), then embedded with the registry's embedder (spotdiff.models.factory.open_embedder: the same preprocessing,
precision choice and cache key) and measured with the measurement embedder, both through
spotdiff.models.embedding.embed_images — the function a comparison embeds with.
"""

from __future__ import annotations

import io
import os
import socket
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import UnreadableImageError
from ..io.decoding import open_image
from ..io.images import ImageRecord, SkippedFile, read_records, record_order
from ..io.medical import ReadOptions
from ..models.embedders.base import Embedder
from ..models.embedders.measurements import MeasurementEmbedder
from ..models.embedding import embed_images
from ..models.factory import open_embedder
from ..progress import Work, run
from ..spaces import MEASUREMENTS
from .store import Shard, ShardRows


class ShardEmbedder:
    """Loads the model and the measurement embedder once; embeds shard after shard.

    model, weights, precision, device : as ``spotdiff.models.factory.open_embedder`` takes them
    read_options : how multi-item files become images (spotdiff.io.medical.ReadOptions)
    keep_pixels : keep a PNG copy of each image shrunk to fit keep_pixels x keep_pixels (0: none)

    Attributes
    ----------
    n_embedded_ : images embedded so far (by both embedders: each image counts once)
    """

    def __init__(self, model: str, *, weights: str | None = None, precision: str = "auto", device: str = "cpu",
                 read_options: ReadOptions | None = None, keep_pixels: int = 0):
        self.model: Embedder = open_embedder(model, weights=Path(weights) if weights else None, device=device,
                                             precision=precision)
        self.measurer: Embedder = open_embedder(MEASUREMENTS)
        self.read_options = read_options or ReadOptions()
        self.keep_pixels = keep_pixels
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.n_embedded_ = 0

    def spaces(self) -> dict:
        return {"model": {"name": self.model.name, "key": self.model.cache_key, "dim": int(self.model.dim),
                          "precision": _precision(self.model)},
                "measurements": {"name": self.measurer.name, "key": self.measurer.cache_key,
                                 "dim": int(self.measurer.dim), "precision": "fp32"}}

    def embed(self, shard: Shard) -> ShardRows:
        """The rows of one shard: one per image and one per file that could not be used, in the store's order."""
        return run(self.embed_steps(shard))

    def embed_steps(self, shard: Shard) -> Work[ShardRows]:
        """:meth:`embed`, yielding the embedders' Progress once per batch (so that a run in this process reports,
        and can be cancelled, between batches)."""
        start = time.perf_counter()
        records: list[tuple[int, ImageRecord]] = []
        skipped: list[tuple[int, SkippedFile]] = []
        for offset, text in enumerate(shard.paths):
            path = Path(text)
            try:
                records.extend((shard.first + offset, r) for r in read_records(path, self.read_options))
            except UnreadableImageError as e:
                skipped.append((shard.first + offset, SkippedFile(path, e.reason)))
        records.sort(key=lambda item: (item[0], record_order(item[1])))
        kept, X, M, failed = yield from self._vectors(records)
        skipped.extend(failed)
        skipped.sort(key=lambda item: item[0])
        return ShardRows(shard.index, shard.digest, self._columns(kept, X, M, skipped), self.spaces(),
                         len(kept), time.perf_counter() - start, self.worker)

    def _vectors(self, records: list[tuple[int, ImageRecord]]) -> Work[tuple]:
        """Both embedders' vectors of ``records``; a file that passed its check but fails the full decode is
        skipped with its reason (embedded one by one to find it) instead of failing the shard."""
        images = [r for _, r in records]
        try:
            X, M = yield from self._embed(images)
            return records, X, M, []
        except UnreadableImageError:
            kept, xs, ms, failed = [], [], [], []
            for order, record in records:
                try:
                    x, m = yield from self._embed([record])
                except UnreadableImageError as e:
                    failed.append((order, SkippedFile(record.path, e.reason)))
                    continue
                kept.append((order, record))
                xs.append(x)
                ms.append(m)
            dims = (self.model.dim, self.measurer.dim)
            return kept, *(np.concatenate(v) if v else np.zeros((0, d), np.float32) for v, d in zip((xs, ms), dims)), \
                failed

    def _embed(self, images: list[ImageRecord]) -> Work[tuple[np.ndarray, np.ndarray]]:
        X = yield from embed_images(self.model, images, None)
        M = yield from embed_images(self.measurer, images, None)
        self.n_embedded_ += len(images)
        return X, M

    def _columns(self, kept, X: np.ndarray, M: np.ndarray, skipped) -> dict:
        key, precision = self.model.cache_key, _precision(self.model)
        rows = [(order, r, x, m, None) for (order, r), x, m in zip(kept, X, M)] + \
               [(order, None, None, None, s) for order, s in skipped]
        rows.sort(key=lambda row: (row[0], 0 if row[4] is None else 1))
        columns: dict[str, list] = {name: [] for name in (
            "order", "path", "content_hash", "frame", "axis", "width", "height", "format", "tags", "embedder",
            "precision", "vector", "measurements", "skip_reason", "worker", "pixels")}
        for order, r, x, m, s in rows:
            columns["order"].append(order)
            columns["path"].append(str(r.path if r is not None else s.path))
            columns["content_hash"].append(r.content_hash if r is not None else None)
            for name in ("frame", "axis", "width", "height", "format"):
                columns[name].append(getattr(r, name) if r is not None else None)
            columns["tags"].append([{"tag": t, "value": v} for t, v in r.metadata] if r is not None else None)
            columns["embedder"].append(key)
            columns["precision"].append(precision)
            columns["vector"].append(x if x is not None else None)
            columns["measurements"].append(m if m is not None else None)
            columns["skip_reason"].append(s.reason if s is not None else None)
            columns["worker"].append(self.worker)
            columns["pixels"].append(self._copy(r) if r is not None and self.keep_pixels else None)
        return columns

    def _copy(self, record: ImageRecord) -> bytes | None:
        """PNG bytes of the image shrunk to fit keep_pixels x keep_pixels (lossless: the region stage reads pixel
        statistics); None when the file changed since it was embedded and cannot be read now."""
        try:
            image = open_image(record, max_side=self.keep_pixels)
        except UnreadableImageError:
            return None
        image.thumbnail((self.keep_pixels, self.keep_pixels), Image.Resampling.LANCZOS)  # never enlarges
        with io.BytesIO() as buffer:
            image.save(buffer, format="PNG", compress_level=3)
            return buffer.getvalue()

    def close(self) -> None:
        for embedder in (self.model, self.measurer):
            close = getattr(embedder, "close", None)
            if close is not None:
                close()


def _precision(embedder: Embedder) -> str:
    """The number format an embedder computes in (a CLIP model's, after "auto" was resolved); the measurement
    embedder computes in numpy's fp32."""
    return "fp32" if isinstance(embedder, MeasurementEmbedder) else str(embedder.precision)
