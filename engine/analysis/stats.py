"""Small, vectorised statistics shared by contrast analysis and validation."""

from __future__ import annotations

import numpy as np


def scipy_stats():
    """``scipy.stats``, imported on first use: importing it takes ~0.5 s, which starting the command line (its
    --help, listing models) need not pay; a comparison pays it once, when it first computes a p-value."""
    from scipy import stats  # lazy: ~0.5 s of start-up, needed only once a comparison tests a claim

    return stats


def rankdata(a: np.ndarray, **options) -> np.ndarray:
    """``scipy.stats.rankdata`` (ties get their average rank), scipy.stats imported on first use."""
    return scipy_stats().rankdata(a, **options)


def auroc(scores_neg: np.ndarray, scores_pos: np.ndarray) -> float:
    """P(a positive scores higher than a negative), ties counting one half."""
    scores_neg = np.asarray(scores_neg, dtype=np.float64)
    scores_pos = np.asarray(scores_pos, dtype=np.float64)
    if len(scores_neg) == 0 or len(scores_pos) == 0:
        return float("nan")
    return float(auroc_columns(np.concatenate([scores_neg, scores_pos])[:, None],
                               np.r_[np.zeros(len(scores_neg)), np.ones(len(scores_pos))][:, None])[0])


def auroc_columns(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """AUROC of every column of ``scores`` against the matching column of ``labels``.

    scores : ndarray of shape (n, k)
    labels : ndarray of shape (n, k) or (n, 1) of 0/1 (1 = positive)
    Returns ndarray of shape (k,).
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.broadcast_to(np.asarray(labels, dtype=bool), scores.shape)
    ranks = rankdata(scores, axis=0)
    n_pos = labels.sum(axis=0)
    n_neg = labels.shape[0] - n_pos
    rank_sum = np.where(labels, ranks, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def mann_whitney_greater(scores_neg: np.ndarray, scores_pos: np.ndarray) -> float:
    """One-sided p-value that positives tend to score higher than negatives."""
    if len(scores_neg) == 0 or len(scores_pos) == 0:
        return float("nan")
    return float(scipy_stats().mannwhitneyu(scores_pos, scores_neg, alternative="greater").pvalue)


def fisher_greater(scores_neg: np.ndarray, scores_pos: np.ndarray, threshold: float = 0.5) -> float:
    """One-sided Fisher exact p-value that positives score above ``threshold`` more often than negatives
    (0/1 scores with the default threshold)."""
    neg = np.asarray(scores_neg, dtype=np.float64) > threshold
    pos = np.asarray(scores_pos, dtype=np.float64) > threshold
    if len(neg) == 0 or len(pos) == 0:
        return float("nan")
    return float(fisher_greater_counts(pos.sum(), len(pos), neg.sum(), len(neg)))


def fisher_greater_counts(k_pos: np.ndarray, n_pos: int, k_neg: np.ndarray, n_neg: int) -> np.ndarray:
    """:func:`fisher_greater` for many claims at once, from counts: ``k_pos`` of ``n_pos`` positives and
    ``k_neg`` of ``n_neg`` negatives are above their threshold (arrays of one shape)."""
    k_pos, k_neg = np.asarray(k_pos), np.asarray(k_neg)
    return scipy_stats().hypergeom.sf(k_pos - 1, n_pos + n_neg, k_pos + k_neg, n_pos)


def mann_whitney_greater_from_auroc(aurocs: np.ndarray, n_neg: int, n_pos: int) -> np.ndarray:
    """Approximate one-sided Mann–Whitney p-values from AUROCs (normal approximation, no tie correction):
    for ranking many claims on one sample, where the exact test would cost a call per claim."""
    se = np.sqrt((n_neg + n_pos + 1) / (12.0 * n_neg * n_pos))
    return scipy_stats().norm.sf((np.asarray(aurocs, dtype=np.float64) - 0.5) / se)


def weighted_benjamini_hochberg(p_values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted Benjamini–Hochberg (Genovese, Roeder & Wasserman 2006): BH applied to p / w.

    ``weights`` are positive with mean 1 over the finite p-values (renormalised here) and must not depend
    on the data the p-values come from; the false discovery rate stays at the chosen level. NaN stays NaN.
    """
    p = np.asarray(p_values, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != p.shape or not np.all(w[~np.isnan(p)] > 0):
        raise ValueError("weights must be positive, one per p-value")
    ok = ~np.isnan(p)
    scaled = np.full_like(p, np.nan)
    if ok.any():
        scaled[ok] = np.minimum(p[ok] * w[ok].mean() / w[ok], 1.0)
    return benjamini_hochberg(scaled)


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values); NaN stays NaN."""
    p = np.asarray(p_values, dtype=np.float64)
    q = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        q[ok] = scipy_stats().false_discovery_control(p[ok], method="bh")
    return q
