"""Hypotheses from named image measurements: "images in set B are blurrier"."""

from __future__ import annotations

import numpy as np

from ..result import Hypothesis
from ..stats import auroc_columns
from ..subgroups import subgroup_picks
from .base import Evidence
from ...models.embedders.measurements import MEASUREMENTS


class MeasurementProposer:
    """Propose the measurements that differ most on the discovery half.

    max_hypotheses : at most this many claims that a set as a whole differs (fewer claims, more power
        after FDR)
    max_subgroups : further claims that some images of one set lie beyond every image of the other
        (:func:`spotdiff.analysis.subgroups.subgroup_picks`)
    min_effect : discovery |AUROC - 0.5| a measurement needs to be proposed
    """

    name = "measurements"

    def __init__(self, max_hypotheses: int = 8, max_subgroups: int = 3, min_effect: float = 0.05):
        self.max_hypotheses = max_hypotheses
        self.max_subgroups = max_subgroups
        self.min_effect = min_effect

    def propose(self, evidence: Evidence) -> list[Hypothesis]:
        by_name = {m.name: m for m in MEASUREMENTS}
        hypotheses: list[Hypothesis] = []
        for space in evidence.spaces.values():
            if not space.feature_names or not all(n in by_name for n in space.feature_names):
                continue
            X = np.vstack([space.X_a, space.X_b])
            y = np.r_[np.zeros(len(space.X_a)), np.ones(len(space.X_b))].astype(bool)
            aurocs = auroc_columns(X, y[:, None])
            effect = np.nan_to_num(np.abs(aurocs - 0.5), nan=0.0)
            taken = set()
            for i in np.argsort(-effect, kind="stable")[: self.max_hypotheses]:
                if effect[i] < self.min_effect:
                    break
                taken.add(int(i))
                hypotheses.append(self._claim(space, by_name, int(i), bool(aurocs[i] > 0.5), "b",
                                              f"discovery AUROC of the claim {max(aurocs[i], 1 - aurocs[i]):.2f}"))
            # subgroups in either tail: columns k.. are the measurements negated ("some images of B are darker")
            k = len(space.feature_names)
            both_a, both_b = np.hstack([space.X_a, -space.X_a]), np.hstack([space.X_b, -space.X_b])
            taken |= {i + k for i in taken}
            for j, towards_b, note in subgroup_picks(both_a, both_b, taken, self.max_subgroups):
                hypotheses.append(self._claim(space, by_name, j % k, j < k, "b" if towards_b else "a", note))
        return hypotheses

    def _claim(self, space, by_name: dict, i: int, higher: bool, more_in: str, note: str) -> Hypothesis:
        """The claim that the set ``more_in`` has higher (``higher``) or lower values of measurement ``i``."""
        m = by_name[space.feature_names[i]]
        vector = np.zeros(len(space.feature_names))
        vector[i] = 1.0 if higher else -1.0
        return Hypothesis(statement=m.higher if higher else m.lower, more_in=more_in, source=self.name,
                          space=space.name, vector=vector, evidence=f"{m.name} ({m.description}); {note}")
