"""Contrast analysis: do two sets differ, along which directions, and where.

Everything here works on one embedding space at a time:
X : ndarray of shape (n_images, dim); y : ndarray of shape (n_images,), 0 = set A, 1 = set B.
The linear probe is ridge regression on ±1 labels (a regularised linear
discriminant); its closed form lets the permutation test refit every
permutation at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .stats import auroc, auroc_columns, fisher_exact
from scipy.linalg import cho_solve
import faiss

ALPHAS = (0.1, 1.0, 10.0)


@dataclass(frozen=True)
class Standardizer:
    """Centre (and optionally scale) features; fitted on label-free data only.

    mean_, scale_ : ndarray of shape (dim,)
    """

    mean_: np.ndarray
    scale_: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, scale: bool) -> "Standardizer":
        X = np.asarray(X, dtype=np.float64)
        mean = X.mean(axis=0)
        if scale:
            sd = X.std(axis=0)
            sd = np.where(sd > 1e-12 * (1 + np.abs(mean)), sd, np.inf)  # constant features drop out
        else:
            sd = np.ones(X.shape[1])
        return cls(mean, sd)

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_

    def to_raw(self, w: np.ndarray) -> np.ndarray:
        """Map a direction in standardized space to raw space (same projections up to a shift)."""
        return w / self.scale_


def _folds(n: int, n_folds: int, rng: np.random.Generator) -> list[np.ndarray]:
    return np.array_split(rng.permutation(n), min(n_folds, n))


def _ridge_solver(X_train: np.ndarray, alpha: float):
    """Return a function mapping centred targets (n_train, k) to weights (dim, k)."""
    n, d = X_train.shape
    if d <= n:
        gram = X_train.T @ X_train
        lam = alpha * max(np.trace(gram) / d, 1e-12)
        chol = np.linalg.cholesky(gram + lam * np.eye(d))

        def solve(Y):
            return _cho_solve(chol, X_train.T @ Y)
    else:
        kernel = X_train @ X_train.T
        lam = alpha * max(np.trace(kernel) / d, 1e-12)
        chol = np.linalg.cholesky(kernel + lam * np.eye(n))

        def solve(Y):
            return X_train.T @ _cho_solve(chol, Y)

    return solve


def _cho_solve(chol: np.ndarray, B: np.ndarray) -> np.ndarray:
    return cho_solve((chol, True), B)


def cross_validated_scores(X: np.ndarray, Y: np.ndarray, *, alpha: float = 1.0, n_folds: int = 5,
                           seed: int = 0) -> np.ndarray:
    """Out-of-fold ridge-probe decision values for every column of labels.

    X : ndarray of shape (n, dim), already standardized
    Y : ndarray of shape (n, k) of 0/1 labels (one column per labelling)
    Returns ndarray of shape (n, k).
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    out = np.zeros(Y.shape)
    for test in _folds(len(X), n_folds, np.random.default_rng(seed)):
        train = np.setdiff1d(np.arange(len(X)), test)
        mu = X[train].mean(axis=0)
        targets = 2 * Y[train] - 1
        targets = targets - targets.mean(axis=0)
        W = _ridge_solver(X[train] - mu, alpha)(targets)
        out[test] = (X[test] - mu) @ W
    return out


def separability_test(X: np.ndarray, y: np.ndarray, *, n_permutations: int = 200,
                      alphas: tuple[float, ...] = ALPHAS, n_folds: int = 5, seed: int = 0) -> tuple[float, float]:
    """Cross-validated AUROC of a linear probe and its permutation p-value.

    The probe is tried at each regularisation strength in ``alphas`` and the best
    cross-validated AUROC is the statistic; every permutation takes the same
    maximum, so the test stays exact: p = (1 + #{perm >= observed}) / (1 + n_permutations).
    The folds are fixed before labels are seen.
    """
    y = np.asarray(y).astype(bool)
    rng = np.random.default_rng(seed + 1)
    labels = np.empty((len(y), n_permutations + 1), dtype=bool)
    labels[:, 0] = y
    for j in range(1, n_permutations + 1):
        labels[:, j] = rng.permutation(y)
    best = np.full(n_permutations + 1, -np.inf)
    for alpha in alphas:
        scores = cross_validated_scores(X, labels, alpha=alpha, n_folds=n_folds, seed=seed)
        best = np.maximum(best, auroc_columns(scores, labels))
    observed = float(best[0])
    p = (1 + np.sum(best[1:] >= observed - 1e-12)) / (1 + n_permutations)
    return observed, float(p)


def _fit_sequence(X: np.ndarray, y: np.ndarray, alpha: float, n_directions: int) -> list[np.ndarray]:
    """Unit directions, each a ridge probe on the residual of the ones before it."""
    X = np.asarray(X, dtype=np.float64) - np.asarray(X, dtype=np.float64).mean(axis=0)
    targets = 2 * np.asarray(y, dtype=np.float64) - 1
    targets = (targets - targets.mean())[:, None]
    directions: list[np.ndarray] = []
    for _ in range(min(n_directions, X.shape[1])):
        w = _ridge_solver(X, alpha)(targets)[:, 0]
        for earlier in directions:  # exact orthogonality despite rounding
            w = w - (w @ earlier) * earlier
        norm = np.linalg.norm(w)
        if norm < 1e-12:
            break
        w /= norm
        directions.append(w)
        X = X - np.outer(X @ w, w)
    return directions


def find_directions(X: np.ndarray, y: np.ndarray, *, n_directions: int = 3, alphas: tuple[float, ...] = ALPHAS,
                    n_folds: int = 5, seed: int = 0) -> list[tuple[np.ndarray, float]]:
    """Several discriminative directions, each independent of (orthogonal to) the earlier ones.

    Direction k is a ridge probe fitted on the residual left after projecting
    out directions 1..k-1. Its cross-validated AUROC refits the whole sequence
    inside each fold, so later directions are not flattered (or penalised) by
    having seen the test fold. Returns [(unit vector of shape (dim,), cv AUROC)].
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).astype(bool)
    cv_first = [float(auroc_columns(cross_validated_scores(X, y[:, None], alpha=a, n_folds=n_folds, seed=seed),
                                    y[:, None])[0]) for a in alphas]
    alpha = alphas[int(np.argmax(cv_first))]
    directions = _fit_sequence(X, y, alpha, n_directions)
    oof = np.zeros((len(X), len(directions)))
    for test in _folds(len(X), n_folds, np.random.default_rng(seed)):
        train = np.setdiff1d(np.arange(len(X)), test)
        fold_dirs = _fit_sequence(X[train], y[train], alpha, len(directions))
        for j, w in enumerate(fold_dirs):
            oof[test, j] = X[test] @ w
    cv = auroc_columns(oof, y[:, None])
    return [(w, float(a)) for w, a in zip(directions, cv)]


def nearest(X: np.ndarray, query: np.ndarray, k: int, *, metric: str = "ip") -> np.ndarray:
    """Indices of the k rows of X nearest to ``query`` (inner product or L2), via faiss."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    k = min(k, len(X))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    index = faiss.IndexFlatIP(X.shape[1]) if metric == "ip" else faiss.IndexFlatL2(X.shape[1])
    index.add(X)
    _, idx = index.search(np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1), k)
    return idx[0][idx[0] >= 0]


def direction_heldout_auroc(X_heldout: np.ndarray, y_heldout: np.ndarray, w: np.ndarray) -> float:
    s = np.asarray(X_heldout, dtype=np.float64) @ w
    y_heldout = np.asarray(y_heldout).astype(bool)
    return auroc(s[~y_heldout], s[y_heldout])


def enriched_clusters(X: np.ndarray, y: np.ndarray, *, n_clusters: int | None = None, seed: int = 0
                      ) -> list[dict]:
    """k-means regions of embedding space and how much each over-represents one set.

    Returns one dict per cluster: members (indices), n_a, n_b, enrichment, p_value (Fisher exact).
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    y = np.asarray(y).astype(bool)
    n = len(X)
    if n_clusters is None:
        n_clusters = int(np.clip(round(np.sqrt(n / 4)), 2, 12))
    n_clusters = min(n_clusters, max(1, n // 4))
    if n_clusters < 2:
        return []
    kmeans = faiss.Kmeans(X.shape[1], n_clusters, niter=25, seed=seed, verbose=False,
                          min_points_per_centroid=1, max_points_per_centroid=100_000)
    kmeans.train(X)
    _, assignment = kmeans.index.search(X, 1)
    assignment = assignment[:, 0]
    share_b = y.mean()
    clusters = []
    for c in range(n_clusters):
        members = np.flatnonzero(assignment == c)
        if len(members) == 0:
            continue
        n_b = int(y[members].sum())
        n_a = len(members) - n_b
        table = [[n_b, n_a], [int(y.sum()) - n_b, int((~y).sum()) - n_a]]
        p = fisher_exact(table)
        enrichment = (n_b / len(members)) / share_b if share_b > 0 else float("nan")
        clusters.append(dict(members=members, n_a=n_a, n_b=n_b, enrichment=enrichment, p_value=p))
    return clusters
