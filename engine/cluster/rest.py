"""The images a draw left out of a comparison (``max_images``), kept searchable for exemplars.

A store of a million images is analysed as a draw of 50,000 (spotdiff.io.images.ImageSet.drawn); the other
images were never seen by the discovery half, so they are as good as held-out images for showing what a claim
looks like, and among a million there are clearer examples than among 25,000. While a store is read, the vectors
of the images not drawn go into a faiss index (inner product): exact (``IndexFlatIP``) up to EXACT_UP_TO vectors;
above that as 4-bit codes per dimension (a scalar quantiser fitted on the first TRAIN_ON left out: 256 bytes a
ViT-B-32 vector, 0.5 GB for 2 x 10⁶ where their float32 values are 4 GB), searched exhaustively (~0.25 s a query
per 10⁶) for RERANK times the candidates asked for, whose exact vectors are then read back from their shards to
rank them (spotdiff.cluster.exemplars). Neither an inverted file (IVF-PQ: assigning 200,000 ViT-B-32 vectors to
its lists took 72-137 s on 2 cores, where these codes take 0.4 s) nor a projection on the principal axes (a
claim's direction need not lie among them; it found none of the true top 6 for a random one) did as well for the
few dozen searches a comparison makes. The 21 measurements of every such image are kept whole (84 bytes an
image) and searched exactly. Each indexed row remembers its shard and row.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

EXACT_UP_TO = 50_000  # vectors; above this, 4-bit codes
TRAIN_ON = 50_000  # vectors the codes are fitted on (the first ones left out)
RERANK = 10  # an approximate search returns this many times the candidates asked for, to be ranked exactly


@dataclass(frozen=True)
class Hit:
    """An image the draw left out, found for a claim: its score and where its row is."""

    score: float
    shard: int
    row: int


class LeftOut:
    """The model's vectors (indexed) and measurements (whole) of a store's images that a draw left out.

    n_expected : how many rows will be added (chooses exact or coded)
    """

    def __init__(self, dim: int, m_dim: int, n_expected: int):
        self.dim, self.m_dim, self.n_expected = dim, m_dim, n_expected
        self.index = faiss.IndexFlatIP(dim) if n_expected <= EXACT_UP_TO else None  # None: coded once fitted
        self._pending: list[np.ndarray] = []  # vectors waiting for the codes to be fitted
        self._n_pending = 0
        self._measurements: list[np.ndarray] = []
        self._where: list[np.ndarray] = []  # (shard, row) per added row, in the order added
        self.n = 0

    def add(self, X: np.ndarray, M: np.ndarray, shard: int, rows: np.ndarray) -> None:
        """Rows ``rows`` of shard ``shard``: their model vectors ``X`` and measurements ``M``."""
        if not len(rows):
            return
        self._measurements.append(np.asarray(M, np.float32))
        self._where.append(np.column_stack([np.full(len(rows), shard, np.int64), np.asarray(rows, np.int64)]))
        self.n += len(rows)
        X = np.ascontiguousarray(X, dtype=np.float32)
        if self.index is not None:
            self.index.add(X)
            return
        self._pending.append(X)
        self._n_pending += len(X)
        if self._n_pending >= min(TRAIN_ON, self.n_expected):
            self._train()

    def finish(self) -> "LeftOut":
        """Fit the codes on what is still waiting (a store smaller than expected) and add it."""
        if self.index is None:
            self._train()
        self._M = np.concatenate(self._measurements) if self._measurements else np.zeros((0, self.m_dim), np.float32)
        self._at = np.concatenate(self._where) if self._where else np.zeros((0, 2), np.int64)
        self._measurements = self._where = []
        return self

    def _train(self) -> None:
        pending = np.concatenate(self._pending) if self._pending else np.zeros((0, self.dim), np.float32)
        self._pending, self._n_pending = [], 0
        if len(pending) < 1000:  # too few to fit codes on: exact
            self.index = faiss.IndexFlatIP(self.dim)
        else:
            self.index = faiss.IndexScalarQuantizer(self.dim, faiss.ScalarQuantizer.QT_4bit, faiss.METRIC_INNER_PRODUCT)
            self.index.train(pending)
        self.index.add(pending)

    @property
    def approximate(self) -> bool:
        """Whether the model's vectors are searched approximately (their hits' scores are then estimates)."""
        return not isinstance(self.index, faiss.IndexFlatIP)

    def top(self, vector: np.ndarray, k: int, *, measurements: bool = False) -> list[Hit]:
        """The k left-out images scoring highest on ``vector`` (a claim's, in the model's space, or over the
        measurements with ``measurements``), highest first; RERANK x k candidates with estimated scores where the
        search is approximate."""
        if self.n == 0 or k <= 0:
            return []
        if measurements:
            scores = self._M.astype(np.float64) @ np.asarray(vector, np.float64)
            idx = np.argsort(-scores, kind="stable")[:k]
            found = [(float(scores[i]), int(i)) for i in idx]
        else:
            k = k * RERANK if self.approximate else k
            values, idx = self.index.search(np.ascontiguousarray(vector, np.float32).reshape(1, -1), min(k, self.n))
            found = [(float(v), int(i)) for v, i in zip(values[0], idx[0]) if i >= 0]
        return [Hit(score, int(self._at[i, 0]), int(self._at[i, 1])) for score, i in found]
