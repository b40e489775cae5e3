"""Small, vectorised statistics shared by contrast analysis and validation.

The tests a comparison runs are scipy.stats's, computed here from numpy and scipy.special (which scipy.ndimage,
imported by the region stage, loads anyway) by the same steps as scipy.stats takes, so that a comparison need not
import scipy.stats (~0.6 s of start-up, most of it parsing docstrings): rank sums and their normal approximation,
hypergeometric tails (the same special functions scipy.stats calls), Benjamini–Hochberg. What these steps do not
cover (the exact Mann–Whitney distribution of small samples without ties, a scipy too old to have the
hypergeometric special functions) goes to scipy.stats itself. tests/engine/test_statistics.py checks them against
scipy.stats.
"""

from __future__ import annotations

import numpy as np
from scipy import special

# scipy.stats's hypergeometric distribution evaluates these (Boost's); older scipy keeps them elsewhere
_HYPERGEOM = {name: getattr(getattr(special, "_ufuncs", None), f"_hypergeom_{name}", None)
              for name in ("pmf", "cdf", "sf")}


def scipy_stats():
    """``scipy.stats``, imported on first use: importing it takes ~0.6 s, which a comparison whose tests the
    functions below compute themselves never pays."""
    from scipy import stats  # lazy: ~0.6 s of start-up, needed only where the functions below defer to it

    return stats


def rankdata(a: np.ndarray, *, axis: int | None = None) -> np.ndarray:
    """``scipy.stats.rankdata(a, axis=axis)``: average ranks (ties share theirs), float64; a slice along ``axis``
    that holds a NaN is all NaN."""
    return _ranks(a, axis)[0]


def _ranks(a: np.ndarray, axis: int | None = -1) -> tuple[np.ndarray, np.ndarray]:
    """Average ranks along ``axis`` (None: of the flattened array) and, as scipy.stats's private ``_rankdata``
    gives them, the tie counts: each distinct value's count at its first place in sorted order, 0 elsewhere."""
    x = np.asarray(a)
    if axis is None:
        x, axis = x.ravel(), -1
    if x.size == 0:
        return np.empty(x.shape, dtype=np.float64), np.empty(x.shape, dtype=np.float64)
    x = np.swapaxes(x, axis, -1)
    shape = x.shape
    order = np.argsort(x, axis=-1, kind="stable")
    y = np.take_along_axis(x, order, axis=-1)
    first = np.concatenate([np.ones(shape[:-1] + (1,), dtype=bool), y[..., :-1] != y[..., 1:]], axis=-1)
    starts = np.arange(y.size)[first.reshape(-1)]
    counts = np.diff(starts, append=np.asarray([y.size], dtype=starts.dtype))
    ordinal = np.broadcast_to(np.arange(1, shape[-1] + 1, dtype=np.float64), shape)
    sorted_ranks = np.repeat(ordinal[first] + (counts.astype(np.float64) - 1) / 2, counts).reshape(shape)
    ranks = np.empty(shape, dtype=np.float64)
    np.put_along_axis(ranks, order, sorted_ranks, axis=-1)
    ties = np.zeros(shape, dtype=np.float64)
    ties[first] = counts
    if np.issubdtype(x.dtype, np.inexact):
        ranks[np.isnan(x).any(axis=-1)] = np.nan
    return np.swapaxes(ranks, axis, -1), np.swapaxes(ties, axis, -1)


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
    """One-sided p-value that positives tend to score higher than negatives: ``scipy.stats.mannwhitneyu(pos, neg,
    alternative="greater")``, whose default method is the normal approximation (with tie and continuity
    corrections) when both samples have more than 8 scores or any scores tie, else the exact distribution."""
    if len(scores_neg) == 0 or len(scores_pos) == 0:
        return float("nan")
    x, y = np.asarray(scores_pos), np.asarray(scores_neg)
    dtype = np.result_type(x, y)
    if x.ndim != 1 or y.ndim != 1 or not np.issubdtype(dtype, np.floating) or dtype.itemsize < 4 \
            or np.isnan(x).any() or np.isnan(y).any():
        return _scipy_mann_whitney_greater(scores_neg, scores_pos)
    x, y = x.astype(dtype, copy=False), y.astype(dtype, copy=False)
    n1, n2 = len(x), len(y)
    ranks, t = _ranks(np.concatenate([x, y]))
    ranks, t = ranks.astype(dtype, copy=False), t.astype(dtype, copy=False)
    if n1 <= 8 or n2 <= 8:
        if not (t > 1).any():  # small and without ties: scipy's exact distribution
            return _scipy_mann_whitney_greater(scores_neg, scores_pos)
    u1 = np.sum(ranks[:n1], axis=-1) - n1 * (n1 + 1) / 2
    # scipy.stats._mannwhitneyu._get_mwu_z, step for step (so its rounding too)
    n = n1 + n2
    tie_term = np.sum(t ** 3 - t, axis=-1)
    s = np.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))))
    numerator = u1 - n1 * n2 / 2
    numerator -= 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        z = numerator / s
    return float(np.clip(special.ndtr(-z), 0.0, 1.0))


def _scipy_mann_whitney_greater(scores_neg: np.ndarray, scores_pos: np.ndarray) -> float:
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
    return hypergeom("sf", k_pos - 1, n_pos + n_neg, k_pos + k_neg, n_pos)


def hypergeom(function: str, k, M, n, N):
    """``scipy.stats.hypergeom.<function>(k, M, n, N)`` for ``function`` "pmf", "cdf" or "sf": the probability
    of k (at most k; more than k) marked items among N drawn from M of which n are marked. The special function
    scipy.stats evaluates, with its handling of k outside the support; invalid arguments go to scipy.stats."""
    k, M, n, N = (np.asarray(v) for v in (k, M, n, N))
    valid = (M > 0) & (n >= 0) & (N >= 0) & (n <= M) & (N <= M)
    evaluate = _HYPERGEOM[function]
    if evaluate is None or not all(np.issubdtype(v.dtype, np.integer) for v in (k, M, n, N)) or not np.all(valid):
        return getattr(scipy_stats().hypergeom, function)(k, M, n, N)
    low, high = np.maximum(N - (M - n), 0), np.minimum(n, N)
    inside = (k >= low) & ((k <= high) if function == "pmf" else (k < high))
    output = np.zeros(np.shape(inside))
    output[np.broadcast_to({"pmf": False, "cdf": k >= high, "sf": k < low}[function], output.shape)] = 1.0
    if np.any(inside):
        k, M, n, N = (np.broadcast_to(v, inside.shape)[inside] for v in (k, M, n, N))
        output[inside] = np.clip(evaluate(k, n, N, M), 0, 1)
    return output[()] if output.ndim == 0 else output


def fisher_exact(table) -> float:
    """The two-sided p-value of Fisher's exact test of a 2 x 2 table: ``scipy.stats.fisher_exact(table).pvalue``,
    step for step."""
    c = np.asarray(table, dtype=np.int64)
    if c.shape != (2, 2) or np.any(c < 0):
        return float(scipy_stats().fisher_exact(table).pvalue)
    if 0 in c.sum(axis=0) or 0 in c.sum(axis=1):
        return 1.0
    n1, n2, n = c[0, 0] + c[0, 1], c[1, 0] + c[1, 1], c[0, 0] + c[1, 0]

    def pmf(x):
        return hypergeom("pmf", x, n1 + n2, n1, n)

    mode = int((n + 1) * (n1 + 1) / (n1 + n2 + 2))
    pexact, pmode = pmf(c[0, 0]), pmf(mode)
    epsilon = 1e-14
    gamma = 1 + epsilon
    if np.abs(pexact - pmode) / np.maximum(pexact, pmode) <= epsilon:
        return 1.0
    if c[0, 0] < mode:
        plower = hypergeom("cdf", c[0, 0], n1 + n2, n1, n)
        if pmf(n) > pexact * gamma:
            return float(plower)
        guess = _binary_search(lambda x: -pmf(x), -pexact * gamma, mode, n)
        pvalue = plower + hypergeom("sf", guess, n1 + n2, n1, n)
    else:
        pupper = hypergeom("sf", c[0, 0] - 1, n1 + n2, n1, n)
        if pmf(0) > pexact * gamma:
            return float(pupper)
        guess = _binary_search(pmf, pexact * gamma, 0, mode)
        pvalue = pupper + hypergeom("cdf", guess, n1 + n2, n1, n)
    return float(min(pvalue, 1.0))


def _binary_search(a, d: float, lo: int, hi: int) -> int:
    """The i between ``lo`` and ``hi`` with a(i) <= d < a(i + 1), for ``a`` ascending there (scipy.stats's
    search for the other tail of a two-sided exact test)."""
    while lo < hi:
        mid = lo + (hi - lo) // 2
        midval = a(mid)
        if midval < d:
            lo = mid + 1
        elif midval > d:
            hi = mid - 1
        else:
            return mid
    return lo if a(lo) <= d else lo - 1


def mann_whitney_greater_from_auroc(aurocs: np.ndarray, n_neg: int, n_pos: int) -> np.ndarray:
    """Approximate one-sided Mann–Whitney p-values from AUROCs (normal approximation, no tie correction):
    for ranking many claims on one sample, where the exact test would cost a call per claim."""
    se = np.sqrt((n_neg + n_pos + 1) / (12.0 * n_neg * n_pos))
    return special.ndtr(-((np.asarray(aurocs, dtype=np.float64) - 0.5) / se))  # scipy.stats.norm.sf


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


def selective_rejections(p_values: np.ndarray, weights: np.ndarray, selected: np.ndarray,
                         alpha: float) -> np.ndarray:
    """Follow-up tests of hypotheses that a (weighted) Benjamini–Hochberg selected: bool per hypothesis.

    Benjamini & Bogomolov (2014, selective inference on multiple families of hypotheses): after R of m
    hypotheses are selected by BH at ``alpha``, the follow-up test of each selected one is done at level
    ``alpha * R / m`` (here times its weight, ``weights`` renormalised to mean 1 over the m); this keeps the
    expected share of false follow-up rejections among the selected at ``alpha``. Unlike a second BH over all m,
    the level does not shrink when other selected hypotheses fail their follow-up (spotdiff.analysis.explain
    gives it to re-planted causes, whose follow-up is not made harder by the echoes re-planting shows them to
    cause).
    """
    p = np.asarray(p_values, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    chosen = np.asarray(selected, dtype=bool)
    if not (p.shape == w.shape == chosen.shape) or not np.all(w > 0):
        raise ValueError("one positive weight and one selection flag per p-value")
    if not len(p):
        return chosen.copy()
    level = alpha * chosen.sum() / len(p) * w / w.mean()
    return chosen & (np.nan_to_num(p, nan=1.0) <= level)


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values); NaN stays NaN."""
    p = np.asarray(p_values, dtype=np.float64)
    q = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        q[ok] = _false_discovery_control(p[ok])
    return q


def _false_discovery_control(p: np.ndarray) -> np.ndarray:
    """``scipy.stats.false_discovery_control(p, method="bh")`` of a 1-d array of p-values, step for step."""
    if not np.all((p >= 0) & (p <= 1)):
        return scipy_stats().false_discovery_control(p, method="bh")  # which says what is wrong
    m = p.shape[-1]
    if m <= 1:
        return p
    order = np.argsort(p, axis=-1, kind="stable")
    ps = np.take_along_axis(p, order, axis=-1)
    ps *= m / np.arange(1, m + 1, dtype=ps.dtype)
    np.minimum.accumulate(ps[..., ::-1], out=ps[..., ::-1], axis=-1)
    np.put_along_axis(ps, order, ps.copy(), axis=-1)
    return np.clip(ps, 0.0, 1.0)
