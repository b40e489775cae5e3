"""Where one set's images hold something the other set's do not: a pixel classifier learned by multiple-instance
learning on the discovery half, applied unchanged to every image.

An image of set B is B-like if *some* of its pixels are (a pasted mark, a stamp, a blotch); no pixel of set A
is. Only an image's most unusual pixels are ever looked at (:class:`Candidates`: the pixels that depart most
from their surroundings, found without labels), since a pixel just like its surroundings cannot be
where a local change lies. The detector fits a gradient-boosted classifier of set B's candidate pixels against
set A's on :mod:`.features`, then refines it ROUNDS times: the B pixels that score above nearly every A pixel
become the positives (the witnesses, at most N_WITNESS per image), and each A image's highest-scoring pixels are
added as hard negatives. An image's score is the mean of its TOP_PIXELS highest-scoring pixels. The detector of
A's regions starts from the same first fit, read the other way round (:func:`fit_classifiers`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

from .features import outlier_scores

TOP_PIXELS = 4
N_WITNESS = 16
ROUNDS = 1
CANDIDATE_SHARE = 0.05
FIT_SAMPLE = 800
N_TREES = 30
LEARNING_RATE = 0.2


@dataclass(frozen=True)
class Candidates:
    """An image's candidate pixels: flat indices into its (h, w) grid and their features (n, F); None where only
    their places are kept (:meth:`to_map`)."""

    shape: tuple[int, int]
    index: np.ndarray
    features: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def of(cls, features: np.ndarray, bars: np.ndarray) -> "Candidates":
        """The pixels of an image's feature array (h, w, F) above ``bars`` (:func:`candidate_bars`) in any one of
        the outlier features (:data:`.features.OUTLIER_FEATURES`)."""
        index = np.flatnonzero((outlier_scores(features) > bars).any(axis=1))
        return cls(features.shape[:2], index, features.reshape(-1, features.shape[-1])[index])

    def to_map(self, scores: np.ndarray) -> np.ndarray:
        """A pixel map (h, w) with ``scores`` at the candidates and 0 elsewhere."""
        out = np.zeros(self.shape[0] * self.shape[1], dtype=np.float32)
        out[self.index] = scores
        return out.reshape(self.shape)


@dataclass(frozen=True)
class PixelClassifier:
    """One fitted classifier: P(pixel belongs to an image of the target set) from its features."""

    model: object = field(repr=False)
    negated: bool = False  # the model's other class is the target

    def scores(self, pixels: np.ndarray) -> np.ndarray:
        """ndarray of shape (n,): the score of each row of ``pixels`` (n, F)."""
        if not len(pixels):
            return np.zeros(0, dtype=np.float32)
        with one_thread():
            return self.model.predict_proba(pixels)[:, 0 if self.negated else 1].astype(np.float32)

    def logits(self, pixels: np.ndarray) -> np.ndarray:
        """The classifier's raw decision values (log-odds) of ``pixels`` (n, F): they order pixels that all score
        1.0 as probabilities."""
        if not len(pixels):
            return np.zeros(0)
        with one_thread():
            logits = self.model.decision_function(pixels)
        return -logits if self.negated else logits

    def image_scores(self, images: Sequence[Candidates], *, logits: bool = False) -> list[np.ndarray]:
        """The scores (or log-odds) of each image's candidates, in one call (a call per image costs more than the
        work)."""
        if not images:
            return []
        pixels = np.concatenate([c.features for c in images])
        scores = self.logits(pixels) if logits else self.scores(pixels)
        return np.split(scores, np.cumsum([len(c.index) for c in images])[:-1])


def candidate_bars(samples: Sequence[np.ndarray]) -> np.ndarray:
    """Per outlier feature, the value above which a pixel is a candidate: the (1 - CANDIDATE_SHARE) quantile of
    ``samples`` (each (n, len(OUTLIER_FEATURES)), :func:`.features.outlier_scores` of some pixels of an image),
    pooled over images of both sets. One bar for every image, so that what one image holds does not change
    which of another's pixels are looked at, and a mark in some images does not push their other unusual pixels
    out of view (which would make those pixels look typical of the other set)."""
    return np.quantile(np.concatenate(samples), 1 - CANDIDATE_SHARE, axis=0)


def image_score(scores: np.ndarray) -> float:
    """The mean of the TOP_PIXELS highest pixel scores: high when some small part of the image scores high."""
    flat = np.asarray(scores).ravel()
    if not flat.size:
        return 0.0
    k = min(TOP_PIXELS, flat.size)
    return float(np.partition(flat, flat.size - k)[-k:].mean())


def _classifier(seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier  # lazy: scikit-learn's ensemble takes ~0.3 s

    return HistGradientBoostingClassifier(max_iter=N_TREES, max_leaf_nodes=15, learning_rate=LEARNING_RATE, min_samples_leaf=10,
                                          max_bins=64, early_stopping=False, l2_regularization=1.0,
                                          random_state=seed)


def fit_classifiers(set_a: Sequence[Candidates], set_b: Sequence[Candidates], *, seed: int = 0
                    ) -> tuple[PixelClassifier, PixelClassifier]:
    """Multiple-instance fits (module docstring) of set B's images' candidate pixels against set A's, and of A's
    against B's. Both start from one fit of B's sampled candidates against A's (towards A, its log-odds
    negated), then each is refined on its own witnesses."""
    rng = np.random.default_rng([seed, 0x3C1D])
    sample_a, sample_b = _sample(set_a, rng), _sample(set_b, rng)
    first = _fit(sample_b, sample_a, seed)
    logits_a, logits_b = first.image_scores(set_a, logits=True), first.image_scores(set_b, logits=True)
    toward_b = _refine(first, set_b, set_a, logits_b, logits_a, sample_a, seed)
    toward_a = _refine(replace(first, negated=True), set_a, set_b, [-s for s in logits_a], [-s for s in logits_b],
                       sample_b, seed)
    return toward_b, toward_a


def _refine(model: PixelClassifier, target: Sequence[Candidates], other: Sequence[Candidates],
            scores_pos: list[np.ndarray], scores_neg: list[np.ndarray], neg: list[np.ndarray], seed: int
            ) -> PixelClassifier:
    """ROUNDS refits of ``model`` (whose log-odds of the candidates are ``scores_pos`` and ``scores_neg``) on the
    target's witnesses against ``neg`` (the other set's sampled candidates) and its hard negatives."""
    for round_ in range(ROUNDS):
        if round_:
            scores_pos, scores_neg = model.image_scores(target, logits=True), model.image_scores(other, logits=True)
        bar = np.quantile(np.concatenate(scores_neg), 0.999)
        witnesses = []
        for c, s in zip(target, scores_pos):
            top = _top(s, N_WITNESS)
            witnesses.append(c.features[top[s[top] > bar]])
        if sum(len(w) for w in witnesses) < N_WITNESS:  # nothing in the target stands out: keep the last fit
            break
        hard = [c.features[_top(s, N_WITNESS)] for c, s in zip(other, scores_neg)]
        model = _fit(witnesses, neg + hard, seed)
    return model


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """The indices of the ``k`` highest ``scores``, highest first, ties in index order: what a stable sort of the
    negated scores puts first, without sorting them all."""
    if len(scores) > k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        idx = np.flatnonzero(scores >= kth)  # the k highest and whatever ties the k-th
        return idx[np.argsort(-scores[idx], kind="stable")[:k]]
    return np.argsort(-scores, kind="stable")[:k]


def _sample(images: Sequence[Candidates], rng: np.random.Generator) -> list[np.ndarray]:
    """At most FIT_SAMPLE candidate pixels of each image, drawn at random: what a first fit and the negatives of
    the refinements are made of (the witnesses and hard negatives are looked for among all candidates)."""
    return [c.features if len(c.index) <= FIT_SAMPLE else c.features[rng.choice(len(c.index), FIT_SAMPLE,
                                                                                 replace=False)]
            for c in images]


def _fit(pos: Sequence[np.ndarray], neg: Sequence[np.ndarray], seed: int) -> PixelClassifier:
    X = np.concatenate([*pos, *neg])
    y = np.r_[np.ones(sum(len(p) for p in pos)), np.zeros(sum(len(n) for n in neg))]
    with one_thread():
        return PixelClassifier(_classifier(seed).fit(X, y))


def one_thread():
    """A context in which OpenMP runs on one thread. The boosted trees' many short parallel loops spin-wait
    for each other: beside any other busy process on a small machine one tree took seconds instead of
    milliseconds, and on an idle one two threads gain little on work this size."""
    from threadpoolctl import threadpool_limits  # lazy: only the region stage needs it

    return threadpool_limits(limits=1, user_api="openmp")
