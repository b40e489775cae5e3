"""Claims about some images of a set, not all of them: which held-out test a claim gets.

A difference present in a fifth of set B (small rectangles pasted into some images) moves B's scores
little on average: its held-out AUROC is at most 0.5 + prevalence / 2 even for a perfect detector, and a
Mann–Whitney test of the whole sets has little power. The images that have it, though, stand out above
everything in the other set. Such a claim is tested as a **subgroup** claim: the discovery half fixes a
threshold (the highest score among the other set's discovery images), and the held-out half is tested for
more images above it in the claimed set (one-sided Fisher exact test, ``test = "exceedance"``); its effect is
the difference of the two sets' held-out shares above the threshold. (The maximum, rather than the 95th or
90th percentile, found the most planted differences in 10-50 % of a set in the benchmark's prevalence sweep,
with no false finding on its null pairs either way.)

Each claim gets the test its discovery scores call for, chosen without the held-out half, so the held-out
test is as valid as one fixed in advance: the subgroup test where its discovery p-value is the smaller and at
most :data:`SUBGROUP_MAX_SHARE` of the claimed set lies above the threshold; where most of the set does, the
whole set has shifted and the claim keeps the shift test.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .result import Hypothesis
from .stats import auroc_columns, fisher_greater_counts, mann_whitney_greater_from_auroc

SUBGROUP_MAX_SHARE = 0.6
CANDIDATE_P = 0.05  # a subgroup candidate's in-sample exceedance p-value must be below this to be proposed
MIN_PER_SET = 8  # fewer discovery images per set than this: no threshold is trusted, claims keep the shift test


def beyond_all(less: np.ndarray, more: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column of ``less`` (n_less, k) and ``more`` (n_more, k): how many images of ``more`` score above
    every image of ``less``, and the one-sided Fisher p-value of that count against none (in-sample: the
    threshold is ``less``'s own maximum; for choosing and ranking claims only)."""
    count = (more > less.max(axis=0)).sum(axis=0)
    return count, fisher_greater_counts(count, len(more), np.zeros_like(count), len(less))


def discovery_tests(less: np.ndarray, more: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both tests of many claims on the discovery half, each claim oriented towards ``more``.

    less, more : ndarray of shape (n_less, k), (n_more, k): scores of the set claimed to have less / more
    Returns (p_shift, p_subgroup, thresholds), each of shape (k,): approximate one-sided Mann–Whitney
    p-values, one-sided Fisher p-values of the shares above each claim's threshold, and the thresholds.
    The subgroup p-values are in-sample (the threshold comes from the same images): good for choosing
    and ranking claims, never for deciding one.
    """
    less, more = np.asarray(less, dtype=np.float64), np.asarray(more, dtype=np.float64)
    n_less, n_more = len(less), len(more)
    labels = np.r_[np.zeros(n_less), np.ones(n_more)][:, None]
    p_shift = mann_whitney_greater_from_auroc(auroc_columns(np.vstack([less, more]), labels), n_less, n_more)
    return p_shift, beyond_all(less, more)[1], less.max(axis=0)


def strongest_subgroups(S_a: np.ndarray, S_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column (a claim's discovery scores, S_a of shape (n_a, k), S_b of shape (n_b, k)), the set with
    the stronger subgroup: images beyond *every* image of the other set.

    Returns (more_b, p_value, count), each of shape (k,): True where B's subgroup is the stronger, the
    one-sided Fisher p-value of that count against none (in-sample, for ranking proposals only), and how
    many images of that set lie above the other set's maximum. A proposer reserves a few claims for the
    strongest of these: a difference in a fifth of a set barely moves its mean, but stands out here.
    """
    S_a, S_b = np.asarray(S_a, dtype=np.float64), np.asarray(S_b, dtype=np.float64)
    count_b, p_b = beyond_all(S_a, S_b)
    count_a, p_a = beyond_all(S_b, S_a)
    more_b = p_b <= p_a
    return more_b, np.where(more_b, p_b, p_a), np.where(more_b, count_b, count_a)


def subgroup_picks(S_a: np.ndarray, S_b: np.ndarray, taken: set[int], limit: int
                   ) -> list[tuple[int, bool, str]]:
    """Up to ``limit`` columns not in ``taken`` with the strongest subgroups (in-sample p < CANDIDATE_P),
    strongest first, as (column, more_b, note for the claim's evidence)."""
    return picks_of(strongest_subgroups(S_a, S_b), len(S_a), len(S_b), taken, limit)


def picks_of(strongest: tuple[np.ndarray, np.ndarray, np.ndarray], n_a: int, n_b: int, taken: set[int],
             limit: int) -> list[tuple[int, bool, str]]:
    """:func:`subgroup_picks` from :func:`strongest_subgroups`' result (computed block by block of columns
    where the score matrix would be large)."""
    more_b, p_value, count = strongest
    picks = []
    for i in np.argsort(p_value, kind="stable"):
        if len(picks) >= limit or p_value[i] >= CANDIDATE_P:
            break
        if int(i) in taken:
            continue
        n, this, other = (n_b, "B", "A") if more_b[i] else (n_a, "A", "B")
        picks.append((int(i), bool(more_b[i]),
                      f"{count[i]} of {n} discovery images of {this} above every image of {other}"))
    return picks


def with_heldout_test(h: Hypothesis, less: np.ndarray, more: np.ndarray) -> Hypothesis:
    """``h`` with the held-out test its discovery scores (``less``, ``more``: 1-d) call for.

    Claims with 0/1 scores (Fisher's test) and claims on too few discovery images keep their test.
    """
    if h.test != "mann-whitney" or min(len(less), len(more)) < MIN_PER_SET:
        return h
    p_shift, p_subgroup, thresholds = discovery_tests(np.asarray(less)[:, None], np.asarray(more)[:, None])
    if p_subgroup[0] < p_shift[0] and np.mean(np.asarray(more) > thresholds[0]) <= SUBGROUP_MAX_SHARE:
        return replace(h, test="exceedance", threshold=float(thresholds[0]))
    return h


def share_above(h: Hypothesis, scores: np.ndarray) -> float:
    """For a share claim (``test`` "fisher" or "exceedance"): the share of ``scores`` above its threshold;
    NaN when there are none."""
    return float(np.mean(np.asarray(scores) > h.threshold)) if np.size(scores) else float("nan")


def shares_above(h: Hypothesis, less: np.ndarray, more: np.ndarray) -> tuple[float, float]:
    """:func:`share_above` of each set, as (less, more)."""
    return share_above(h, less), share_above(h, more)


def is_share_claim(h: Hypothesis) -> bool:
    return h.test in ("fisher", "exceedance")
