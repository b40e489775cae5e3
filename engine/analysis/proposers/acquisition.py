"""Hypotheses about how the images were acquired: possible confounders, not content.

"82 % of set B come from one scanner model" is not a property of the disease; a model that
tells B from A may be reading the scanner. These claims are proposed from the discovery half's
acquisition tags (spotdiff.analysis.acquisition) and validated like every other claim.
"""

from __future__ import annotations

import numpy as np

from ..acquisition import ACQUISITION, feature_kind, tag_of
from ..result import Hypothesis
from ..stats import auroc_columns
from .base import Evidence


class AcquisitionProposer:
    """Propose the acquisition tags whose distribution differs between the discovery halves.

    max_hypotheses : at most this many claims, the largest differences first
    min_difference : a 0/1 column ("Manufacturer = GE") needs shares differing by this much
    min_effect : a numeric tag needs a discovery |AUROC - 0.5| of at least this

    0/1 claims are tested with Fisher's exact test (``Hypothesis.test = "fisher"``), numbers
    with Mann–Whitney. Of a tag with exactly two values only the one more common in B is
    proposed: the other is the same claim turned round.
    """

    name = ACQUISITION

    def __init__(self, max_hypotheses: int = 10, min_difference: float = 0.1, min_effect: float = 0.05):
        self.max_hypotheses = max_hypotheses
        self.min_difference = min_difference
        self.min_effect = min_effect

    def propose(self, evidence: Evidence) -> list[Hypothesis]:
        space = evidence.spaces.get(ACQUISITION)
        if space is None or not space.feature_names or not len(space.X_a) or not len(space.X_b):
            return []
        names = space.feature_names
        X_a, X_b = np.asarray(space.X_a, np.float64), np.asarray(space.X_b, np.float64)
        n_levels = {}
        for name in names:
            if feature_kind(name) == "level":
                n_levels[tag_of(name)] = n_levels.get(tag_of(name), 0) + 1
        aurocs = auroc_columns(np.vstack([X_a, X_b]), np.r_[np.zeros(len(X_a)), np.ones(len(X_b))][:, None])
        candidates: list[tuple[float, Hypothesis]] = []
        for i, name in enumerate(names):
            vector = np.zeros(len(names))
            vector[i] = 1.0
            if feature_kind(name) == "number":
                candidate = self._number(name, vector, X_a[:, i], X_b[:, i], float(aurocs[i]))
            else:
                candidate = self._share(name, vector, X_a[:, i], X_b[:, i], pair=n_levels.get(tag_of(name)) == 2)
            if candidate is not None:
                candidates.append(candidate)
        candidates.sort(key=lambda c: (-c[0], c[1].statement))
        return [h for _, h in candidates[: self.max_hypotheses]]

    def _share(self, name: str, vector: np.ndarray, a: np.ndarray, b: np.ndarray,
               pair: bool) -> tuple[float, Hypothesis] | None:
        share_a, share_b = float(a.mean()), float(b.mean())
        difference = share_b - share_a
        if abs(difference) < self.min_difference or (pair and difference < 0):
            return None
        more_in = "b" if difference > 0 else "a"
        return abs(difference) / 2, Hypothesis(
            statement=name, more_in=more_in, source=self.name, space=ACQUISITION, vector=vector,
            evidence=f"discovery half: {100 * share_b:.0f} % of B vs {100 * share_a:.0f} % of A", test="fisher")

    def _number(self, name: str, vector: np.ndarray, a: np.ndarray, b: np.ndarray,
                auroc: float) -> tuple[float, Hypothesis] | None:
        if not np.isfinite(auroc) or abs(auroc - 0.5) < self.min_effect:
            return None
        higher = auroc > 0.5
        vector = vector if higher else -vector
        return abs(auroc - 0.5), Hypothesis(
            statement=f"{'higher' if higher else 'lower'} {name}", more_in="b", source=self.name,
            space=ACQUISITION, vector=vector,
            evidence=f"discovery half: median {np.median(b):.4g} in B vs {np.median(a):.4g} in A "
                     f"(AUROC {auroc:.2f})")
