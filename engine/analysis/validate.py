"""Validation, the heart of spotdiff: every hypothesis is scored on held-out images only.

Each set is split (seeded, stratified) into a discovery half, which proposers
see, and a held-out half, which only this module sees. A hypothesis's per-image
score on the held-out half gives its held-out AUROC and a one-sided
Mann–Whitney p-value in the direction it claims (Fisher's exact test for a 0/1
claim such as "Manufacturer = GE", and for a claim about some images of a set, tested by how many
images score above a threshold the discovery half fixed: :mod:`spotdiff.analysis.subgroups`); weighted
Benjamini–Hochberg q-values control the
false discovery rate over every hypothesis of the run, each hypothesis weighted by how
strongly the discovery half backs it (weights independent of the held-out half, mean 1:
the error budget goes where the evidence already points). A finding is
*supported* only if q <= alpha AND its held-out effect reaches min_effect: AUROC >= 0.5 + min_effect,
or, for a claim about shares, a share of the claimed set at least min_effect above the other's.

Several items of one file (frames of a multi-frame DICOM, slices of a volume)
are not independent: the split keeps each file's items on one side, and the
test compares files, each by the mean score of its items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..io.images import ImageRecord
from ..spaces import EXACT_SPACES
from .result import Finding, Hypothesis
from .stats import auroc, benjamini_hochberg, fisher_greater, mann_whitney_greater, weighted_benjamini_hochberg
from .subgroups import is_share_claim, shares_above, with_heldout_test

DEFAULT_ALPHA = 0.05
DEFAULT_MIN_EFFECT = 0.1  # supported findings reach held-out AUROC >= 0.60 (share claims: 10 points more)


@dataclass(frozen=True)
class Split:
    """Boolean masks over each set's images: True = held-out."""

    heldout_a: np.ndarray
    heldout_b: np.ndarray

    @classmethod
    def make(cls, n_a: int, n_b: int, *, seed: int, heldout_fraction: float = 0.5,
             groups_a: Sequence | None = None, groups_b: Sequence | None = None) -> "Split":
        """groups_a, groups_b : a key per image (its file); images sharing a key go to the same side."""
        rng = np.random.default_rng([seed, 0x5D1F])

        def mask(n: int, groups: Sequence | None) -> np.ndarray:
            m = np.zeros(n, dtype=bool)
            if groups is None:
                m[rng.permutation(n)[: int(round(n * heldout_fraction))]] = True
                return m
            members: dict = {}
            for i, g in enumerate(groups):
                members.setdefault(g, []).append(i)
            target = int(round(n * heldout_fraction))
            for k in rng.permutation(len(members)):
                if m.sum() >= target:
                    break
                m[list(members.values())[k]] = True
            return m

        return cls(mask(n_a, groups_a), mask(n_b, groups_b))


@dataclass(frozen=True)
class Half:
    """The held-out images and their embeddings, by space.

    embeddings_a[space] : ndarray of shape (n_heldout_a, dim)
    """

    images_a: tuple[ImageRecord, ...]
    images_b: tuple[ImageRecord, ...]
    embeddings_a: Mapping[str, np.ndarray]
    embeddings_b: Mapping[str, np.ndarray]


def unique_hypotheses(hypotheses: Sequence[Hypothesis]) -> list[Hypothesis]:
    """Drop repeats of the same claim (same space, statement and set), keeping the first."""
    seen: set = set()
    out = []
    for h in hypotheses:
        if h.key not in seen:
            seen.add(h.key)
            out.append(h)
    return out


def per_file(scores: np.ndarray, images: Sequence[ImageRecord]) -> np.ndarray:
    """Scores with the items of one file (records with a frame or axis) replaced by their mean."""
    if len(images) != len(scores):
        return scores
    groups: dict = {}
    for i, (score, im) in enumerate(zip(scores, images)):
        key = im.path if im.frame is not None or im.axis is not None else ("image", i)
        groups.setdefault(key, []).append(score)
    if len(groups) == len(scores):
        return scores
    return np.array([np.mean(g) for g in groups.values()], dtype=np.float64)


DISCOVERY_FLOOR = 0.02  # the least discovery effect (|AUROC - 0.5|) a weight is computed from


def half_scores(h: Hypothesis, half: Half) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scores of ``half``'s images (a, b), and per file, oriented as (less, more) for the claim."""
    s_a = np.asarray(half.embeddings_a[h.space], dtype=np.float64) @ h.vector
    s_b = np.asarray(half.embeddings_b[h.space], dtype=np.float64) @ h.vector
    f_a, f_b = per_file(s_a, half.images_a), per_file(s_b, half.images_b)
    less, more = (f_a, f_b) if h.more_in == "b" else (f_b, f_a)
    return s_a, s_b, less, more


def claim_effect(h: Hypothesis, less: np.ndarray, more: np.ndarray) -> float:
    """How strongly scores back a claim, on the AUROC's scale (0 = no effect, 0.5 = complete): AUROC - 0.5,
    or for a share claim half the difference of the shares above its threshold (the AUROC of 0/1 scores)."""
    if is_share_claim(h):
        share_less, share_more = shares_above(h, less, more)
        return (share_more - share_less) / 2
    return auroc(less, more) - 0.5


def discovery_weights(hypotheses: Sequence[Hypothesis], discovery: Half) -> np.ndarray:
    """A weight per hypothesis, mean 1, proportional to its squared effect on the discovery half.

    The effect (:func:`claim_effect`) is floored at DISCOVERY_FLOOR, in the claimed direction; squared, as
    a test's power grows with the square of the effect it looks for (its non-centrality), so a claim the
    discovery images back strongly gets more of the error budget than one they barely back.
    The weights come from the discovery half only, independent of the held-out images, which
    keeps the weighted Benjamini–Hochberg procedure's false discovery rate at alpha.
    """
    return _weights([claim_effect(h, *half_scores(h, discovery)[2:]) for h in hypotheses])


def _weights(effects: Sequence[float]) -> np.ndarray:
    """Weights, mean 1, from discovery effects (see :func:`discovery_weights`)."""
    effects = np.maximum(np.nan_to_num(np.asarray(effects, dtype=np.float64), nan=0.0), DISCOVERY_FLOOR)
    weights = effects**2
    return weights / weights.mean() if len(weights) else weights


def reaches_effect(h: Hypothesis, heldout_auroc: float, less: np.ndarray, more: np.ndarray,
                   min_effect: float) -> bool:
    """Whether held-out scores show at least the stated minimum effect: AUROC >= 0.5 + min_effect, or for a
    share claim, a share above the threshold at least min_effect larger in the claimed set."""
    if is_share_claim(h):
        return bool(2 * claim_effect(h, less, more) >= min_effect)  # the difference of the shares
    return bool(heldout_auroc >= 0.5 + min_effect)


def validate(hypotheses: Sequence[Hypothesis], heldout: Half, *, alpha: float = DEFAULT_ALPHA,
             min_effect: float = DEFAULT_MIN_EFFECT, n_exemplars: int = 6,
             discovery: Half | None = None) -> list[Finding]:
    """Score each hypothesis on the held-out half; return findings, supported first.

    discovery : the discovery half (images and embeddings the proposers saw). When given, the
        q-values are those of weighted Benjamini–Hochberg, each claim weighted by its discovery
        effect (:func:`discovery_weights`), and each claim's test (shift or subgroup,
        :func:`spotdiff.analysis.subgroups.with_heldout_test`) is chosen on it; else plain Benjamini–Hochberg, and
        every claim keeps the test its proposer gave it.
    """
    hypotheses = unique_hypotheses(hypotheses)
    if discovery is not None:  # each claim's test, shift or subgroup, chosen on the discovery half
        found = [half_scores(h, discovery)[2:] for h in hypotheses]
        hypotheses = [with_heldout_test(h, *scores) for h, scores in zip(hypotheses, found)]
    scored = []
    for h in hypotheses:
        s_a, s_b, less, more = half_scores(h, heldout)
        p = fisher_greater(less, more, h.threshold) if is_share_claim(h) else mann_whitney_greater(less, more)
        scored.append((h, s_a, s_b, less, more, auroc(less, more), p))
    p_values = np.array([p for *_, p in scored])
    if discovery is not None and scored:
        weights = _weights([claim_effect(h, *scores) for h, scores in zip(hypotheses, found)])
        q_values = weighted_benjamini_hochberg(p_values, weights)
    else:
        weights = np.ones(len(scored))
        q_values = benjamini_hochberg(p_values)
    findings = []
    for (h, s_a, s_b, less, more, heldout_auroc, p), q, weight in zip(scored, q_values, weights):
        supported = bool(q <= alpha) and reaches_effect(h, heldout_auroc, less, more, min_effect)
        # exemplars: the held-out images that show the claim most / least
        top = np.argsort(-(s_b if h.more_in == "b" else s_a), kind="stable")[:n_exemplars]
        bottom = np.argsort(s_a if h.more_in == "b" else s_b, kind="stable")[:n_exemplars]
        images_more = heldout.images_b if h.more_in == "b" else heldout.images_a
        images_less = heldout.images_a if h.more_in == "b" else heldout.images_b
        ex_more = tuple(images_more[i] for i in top)
        ex_less = tuple(images_less[i] for i in bottom)
        findings.append(Finding(
            hypothesis=h, heldout_auroc=float(heldout_auroc), p_value=float(p), q_value=float(q),
            supported=supported, scores_a=s_a.astype(np.float32), scores_b=s_b.astype(np.float32),
            weight=float(weight),
            exemplars_a=ex_less if h.more_in == "b" else ex_more,
            exemplars_b=ex_more if h.more_in == "b" else ex_less,
        ))
    return sort_findings(findings)


def separation(f: Finding) -> float:
    """How far apart the claim's held-out scores lie: the difference of the two sets' means, towards the set
    the claim says has more, in pooled standard deviations (Cohen's d). Unlike the AUROC it does not stop
    at 1 when the sets no longer overlap, so it orders claims the AUROC ties."""
    more, less = (f.scores_b, f.scores_a) if f.more_in == "b" else (f.scores_a, f.scores_b)
    more, less = np.asarray(more, dtype=np.float64), np.asarray(less, dtype=np.float64)
    if len(more) < 2 or len(less) < 2:
        return 0.0
    pooled = np.sqrt(((len(more) - 1) * more.var(ddof=1) + (len(less) - 1) * less.var(ddof=1))
                     / (len(more) + len(less) - 2))
    gap = more.mean() - less.mean()
    if pooled > 0:
        return float(gap / pooled)
    return float(np.sign(gap) * np.inf) if gap else 0.0




def finding_order(f: Finding) -> tuple:
    """Sort key of the report order: supported findings first, the largest held-out effect first among
    them (AUROC to the two decimals reports show); the rest by q-value.

    Every supported finding has passed the same error control, so among them the order says how
    strongly the held-out images differ, not how small a p-value the set sizes allow (with a few
    dozen images, q-values of strong claims underflow alike and would order them by chance).
    Among equal AUROCs, claims about the content (a model's space) come before exact pixel or
    metadata values, which often follow from them ("a grey background" makes an image "less
    saturated"), and then the larger :func:`separation` first; separations are compared within
    those two kinds only, as exact values have no noise and would always separate more.
    """
    q = f.q_value if np.isfinite(f.q_value) else np.inf
    auroc = f.heldout_auroc if np.isfinite(f.heldout_auroc) else -np.inf
    ties = (f.statement, f.more_in, f.source)
    if not f.supported:
        return (1, q, -auroc, *ties)
    return (0, -round(auroc, 2), f.hypothesis.space in EXACT_SPACES, -separation(f), q, *ties)


def sort_findings(findings: Sequence[Finding]) -> list[Finding]:
    return sorted(findings, key=finding_order)
