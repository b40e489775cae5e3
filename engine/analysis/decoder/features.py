"""What the decoder reads: every statement it may say, and a fixed set of numbers per statement, from the discovery
half only.

A comparison's **candidates** are the claims one space can state, each for either set: in a space with a text
encoder, every phrase of its vocabulary (a phrase vector with the part all phrases share taken away, as the
concept bank reads it); in the measurement space, every measurement, higher or lower. Each candidate gets
``FEATURES`` — how strongly the discovery images back it on its own (AUROC, Cohen's d, the share of one set beyond
the other), how it lines up with what a linear probe learned (the mean difference, the probe's weights), how much
of it survives once every other candidate of its space is accounted for (a joint ridge fit over all candidates'
scores: an echo of a cause loses its weight to the cause), and where it stands among the comparison's candidates
(its rank and its effect against the largest). None of them names a phrase, so a decoder trained on them can rank
a phrase it never saw in training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..stats import auroc_columns
from ..proposers.base import SpaceEvidence
from ..proposers.concept_bank import contrast_vectors, embed_phrases, vocabulary_for
from ...models.embedders.measurements import MEASUREMENTS

FEATURES = ("effect", "cohen_d", "tail_share", "mean_cosine", "probe_cosine", "joint_weight", "spread_ratio", "z",
            "effect_vs_best", "effect_rank", "joint_rank", "tail_vs_best", "mean_cosine_rank", "probe_rank",
            "effect_vs_best_in_space", "measurement", "log_n")
SHARE_FEATURES = ("effect", "cohen_d", "tail_share", "tail_share_sq", "spread_ratio", "bias")
# Shares of the set that has more of a difference, as the decoder states them: an upper bound per bin.
SHARE_BINS = (("in a minority of its images", 0.35), ("in about half of its images", 0.75),
               ("in nearly all of its images", 1.0))
RIDGE = 0.1  # of the joint fit over standardized candidate scores, times the number of images
TAIL_QUANTILE = 0.95


@dataclass(frozen=True)
class Candidates:
    """The candidates of one comparison, in every space the decoder can read.

    statements, more_in, spaces : per candidate
    vectors : per candidate, its unit vector in its space (signed: scores along it are higher in ``more_in``)
    X : ndarray of shape (n_candidates, len(FEATURES))
    share_X : ndarray of shape (n_candidates, len(SHARE_FEATURES)), what the share of a candidate is read from
    """

    statements: tuple[str, ...]
    more_in: tuple[str, ...]
    spaces: tuple[str, ...]
    vectors: tuple[np.ndarray, ...] = field(repr=False)
    X: np.ndarray = field(repr=False)
    share_X: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.statements)


def share_bin(share: float) -> int:
    """The index into SHARE_BINS of a share in [0, 1]."""
    return next(i for i, (_, top) in enumerate(SHARE_BINS) if share <= top + 1e-9)


def candidates(spaces: Sequence[SpaceEvidence]) -> Candidates | None:
    """Every candidate of the spaces the decoder reads (a text encoder, or named measurements), or None."""
    parts = [part for part in (_space_part(s) for s in spaces) if part is not None]
    if not parts:
        return None
    statements, more_in, names, vectors, raw, ids = [], [], [], [], [], []
    for k, (space, phrases, sides, V, F) in enumerate(parts):
        statements.extend(phrases)
        more_in.extend(sides)
        names.extend([space.name] * len(phrases))
        vectors.extend(V)
        raw.append(F)
        ids.extend([k] * len(phrases))
    F = np.vstack(raw)
    return Candidates(tuple(statements), tuple(more_in), tuple(names), tuple(vectors), _relative(F, np.array(ids)),
                      _share_features(F))


def _space_part(space: SpaceEvidence):
    if len(space.X_a) < 2 or len(space.X_b) < 2:
        return None
    if space.text_encoder is not None:
        phrases = vocabulary_for(space)
        V = contrast_vectors(embed_phrases(space, phrases))
        X_a, X_b = np.asarray(space.X_a, np.float64), np.asarray(space.X_b, np.float64)
        statements = list(phrases) * 2
        sides = ["b"] * len(phrases) + ["a"] * len(phrases)
        measurement = 0.0
    elif space.feature_names and all(n in _BY_NAME for n in space.feature_names):
        X = np.vstack([space.X_a, space.X_b]).astype(np.float64)
        mean, std = X.mean(axis=0), X.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        X_a, X_b = (space.X_a - mean) / std, (space.X_b - mean) / std
        V = np.eye(len(space.feature_names))
        # one claim per measurement and direction, stated as the measurement proposer states it (about set B)
        statements = [_BY_NAME[n].higher for n in space.feature_names] + [_BY_NAME[n].lower
                                                                           for n in space.feature_names]
        sides = ["b"] * (2 * len(space.feature_names))
        measurement = 1.0
    else:
        return None
    F_b = _signed_features(X_a, X_b, V)
    F_a = _signed_features(X_b, X_a, V)  # the same claims, for the other set
    # a phrase more in A keeps its vector (the claim names the set); "lower in B" is the measurement's axis
    # negated, as the measurement proposer states it
    F = np.vstack([F_b, F_a])
    F = np.hstack([F, np.full((len(F), 1), measurement), np.full((len(F), 1), np.log(len(X_a) + len(X_b)))])
    vectors = list(np.vstack([V, -V if measurement else V]))
    return space, statements, sides, vectors, F


_BY_NAME = {m.name: m for m in MEASUREMENTS}


def _signed_features(X_less: np.ndarray, X_more: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Per column of V (a claim that scores along it are higher in the ``X_more`` set): effect, Cohen's d, tail
    share, cosine with the mean difference, cosine with a probe's weights, joint weight, the log ratio of the
    sets' spreads (a difference in a share of one set widens it), and the AUROC's z-score. Shape (len(V), 8)."""
    S_less, S_more = X_less @ V.T, X_more @ V.T
    S = np.vstack([S_less, S_more])
    y = np.r_[np.zeros(len(S_less)), np.ones(len(S_more))].astype(bool)
    effect = np.nan_to_num(auroc_columns(S, y[:, None]) - 0.5)
    pooled = np.sqrt((S_less.var(axis=0, ddof=1) + S_more.var(axis=0, ddof=1)) / 2)
    d = np.clip((S_more.mean(axis=0) - S_less.mean(axis=0)) / np.maximum(pooled, 1e-12), -5, 5) / 5
    tail = np.mean(S_more > np.quantile(S_less, TAIL_QUANTILE, axis=0), axis=0) - (1 - TAIL_QUANTILE)
    diff = X_more.mean(axis=0) - X_less.mean(axis=0)
    mean_cos = V @ diff / max(np.linalg.norm(diff), 1e-12)
    probe = _probe(X_less, X_more)
    probe_cos = V @ probe / max(np.linalg.norm(probe), 1e-12)
    joint = _joint_weights(S, y)
    spread = np.clip(np.log(np.maximum(S_more.std(axis=0), 1e-12) / np.maximum(S_less.std(axis=0), 1e-12)), -2, 2)
    n1, n2 = len(S_less), len(S_more)
    z = np.clip(effect / np.sqrt((n1 + n2 + 1) / (12 * n1 * n2)), -10, 10) / 10
    return np.column_stack([effect, d, tail, mean_cos, probe_cos, joint, spread, z])


def _probe(X_less: np.ndarray, X_more: np.ndarray) -> np.ndarray:
    """A ridge probe's weights (towards the ``X_more`` set), the features centred and scaled by their pooled
    spread so that no dimension's scale decides."""
    X = np.vstack([X_less, X_more])
    y = np.r_[-np.ones(len(X_less)), np.ones(len(X_more))]
    mu, sd = X.mean(axis=0), X.std(axis=0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    Z = (X - mu) / sd
    w = _ridge(Z, y - y.mean(), RIDGE * len(X))
    return w / sd


def _joint_weights(S: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each candidate's weight in one ridge fit of the set labels on every candidate's standardized scores,
    divided by the largest: what a candidate says once the others are known."""
    mu, sd = S.mean(axis=0), S.std(axis=0)
    Z = (S - mu) / np.where(sd > 1e-12, sd, 1.0)
    target = np.where(y, 1.0, -1.0)
    w = _ridge(Z, target - target.mean(), RIDGE * len(S))
    return w / max(np.abs(w).max(), 1e-12)


def _ridge(Z: np.ndarray, t: np.ndarray, lam: float) -> np.ndarray:
    """argmin ||Z w - t||^2 + lam ||w||^2, through the smaller of the two Gram matrices."""
    n, k = Z.shape
    if k <= n:
        return np.linalg.solve(Z.T @ Z + lam * np.eye(k), Z.T @ t)
    return Z.T @ np.linalg.solve(Z @ Z.T + lam * np.eye(n), t)


def _relative(F: np.ndarray, space_ids: np.ndarray) -> np.ndarray:
    """The per-candidate numbers plus where each stands among all candidates of the comparison (and of its
    space)."""
    effect, tail, mean_cos, probe_cos, joint = F[:, 0], F[:, 2], F[:, 3], F[:, 4], F[:, 5]
    best_in_space = np.zeros(len(F))
    for k in np.unique(space_ids):
        mine = space_ids == k
        best_in_space[mine] = effect[mine] / max(effect[mine].max(), 1e-6)
    return np.column_stack([F[:, :8], effect / max(effect.max(), 1e-6), _rank_score(effect), _rank_score(joint),
                            tail / max(tail.max(), 1e-6), _rank_score(mean_cos), _rank_score(probe_cos),
                            best_in_space, F[:, 8], F[:, 9] / 6])


def _rank_score(values: np.ndarray) -> np.ndarray:
    """1 for the largest value, 1/2 for the next, ...: the decoder cares about the first few ranks."""
    order = np.argsort(-values, kind="stable")
    rank = np.empty(len(values))
    rank[order] = np.arange(1, len(values) + 1)
    return 1.0 / rank


def _share_features(F: np.ndarray) -> np.ndarray:
    effect, d, tail, spread = F[:, 0], F[:, 1], F[:, 2], F[:, 6]
    return np.column_stack([effect, d, tail, tail**2, spread, np.ones(len(F))])
