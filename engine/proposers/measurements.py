"""Hypotheses from named image measurements: "images in set B are blurrier"."""

from __future__ import annotations

import numpy as np

from ..result import Hypothesis
from ..stats import auroc_columns
from .base import Evidence


class MeasurementProposer:
    """Propose the measurements that differ most on the discovery half.

    max_hypotheses : at most this many claims (fewer claims, more power after FDR)
    min_effect : discovery |AUROC - 0.5| a measurement needs to be proposed
    """

    name = "measurements"

    def __init__(self, max_hypotheses: int = 8, min_effect: float = 0.05):
        self.max_hypotheses = max_hypotheses
        self.min_effect = min_effect

    def propose(self, evidence: Evidence) -> list[Hypothesis]:
        from ..embedders.measurements import MEASUREMENTS

        by_name = {m.name: m for m in MEASUREMENTS}
        hypotheses: list[Hypothesis] = []
        for space in evidence.spaces.values():
            if not space.feature_names or not all(n in by_name for n in space.feature_names):
                continue
            X = np.vstack([space.X_a, space.X_b])
            y = np.r_[np.zeros(len(space.X_a)), np.ones(len(space.X_b))].astype(bool)
            aurocs = auroc_columns(X, y[:, None])
            effect = np.nan_to_num(np.abs(aurocs - 0.5), nan=0.0)
            for i in np.argsort(-effect, kind="stable")[: self.max_hypotheses]:
                if effect[i] < self.min_effect:
                    break
                m = by_name[space.feature_names[i]]
                b_higher = aurocs[i] > 0.5
                vector = np.zeros(len(space.feature_names))
                vector[i] = 1.0 if b_higher else -1.0
                hypotheses.append(Hypothesis(
                    statement=m.higher if b_higher else m.lower, more_in="b", source=self.name,
                    space=space.name, vector=vector,
                    evidence=f"{m.name} ({m.description}); discovery AUROC of the claim "
                             f"{max(aurocs[i], 1 - aurocs[i]):.2f}",
                ))
        return hypotheses
