"""What the analysis finds: frozen dataclasses, from evidence to validated findings (the whole
comparison's :class:`spotdiff.comparison.Result` holds them).

Arrays are float32 numpy arrays; shapes are documented per field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..io.images import ImageRecord


@dataclass(frozen=True)
class Separability:
    """Do the two sets differ at all, in one embedding space?

    auroc : cross-validated AUROC of a linear probe (0.5 = no difference)
    p_value : permutation p-value of that AUROC
    n_permutations : permutations drawn
    """

    space: str
    auroc: float
    p_value: float
    n_permutations: int


@dataclass(frozen=True)
class Direction:
    """A direction in one embedding space along which set B differs from set A.

    vector : ndarray of shape (dim,), unit norm, pointing towards set B
    discovery_auroc : cross-validated AUROC on the discovery half
    heldout_auroc : AUROC of the projection on the held-out half
    exemplars_a, exemplars_b : images of the discovery half most like A / most like B
    typical_a, typical_b : images nearest each set's centre
    """

    space: str
    index: int
    vector: np.ndarray
    discovery_auroc: float
    heldout_auroc: float
    exemplars_a: tuple[ImageRecord, ...]
    exemplars_b: tuple[ImageRecord, ...]
    typical_a: tuple[ImageRecord, ...] = ()
    typical_b: tuple[ImageRecord, ...] = ()
    concepts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cluster:
    """A region of embedding space over-represented in one set.

    n_a, n_b : members from each set
    enrichment : share of B among members divided by share of B overall
    p_value : two-sided Fisher exact test of membership vs set
    """

    space: str
    index: int
    n_a: int
    n_b: int
    enrichment: float
    p_value: float
    more_in: str
    members: tuple[ImageRecord, ...]


#: the set a claim says has more of something
MoreIn = Literal["a", "b"]
#: how a claim's held-out scores are tested (Hypothesis.test)
HeldOutTest = Literal["mann-whitney", "fisher", "exceedance"]


@dataclass(frozen=True)
class Hypothesis:
    """A checkable claim: images of one set score higher on something.

    statement : plain words ("blurrier", "a photo of a dog")
    more_in : "a" or "b", the set claimed to have more of it
    source : proposer name ("measurements", "concept-bank", "vlm", "library", ...)
    space : name of the embedding space the score is computed in
    vector : ndarray of shape (dim,); an image's score is its embedding @ vector,
             oriented so that higher means more of the statement
    evidence : short note from the proposer (how it found the claim)
    test : how the held-out scores are tested: "mann-whitney" (one-sided, any scores: the claimed set
           scores higher), "fisher" (one-sided Fisher exact test; scores are 0/1, e.g. "Manufacturer = GE")
           or "exceedance" (a subgroup claim: more images of the claimed set score above ``threshold``,
           one-sided Fisher exact test; see :mod:`spotdiff.analysis.subgroups`)
    threshold : for "fisher" and "exceedance", the score above which an image counts as having it
    region : for a region claim (space "regions"), what the regions look like and the detector that finds
        them (spotdiff.analysis.regions.describe.RegionSummary); else None
    rank : for a claim of a proposer that puts every claim it could make in order (the decoder,
        spotdiff.analysis.decoder), its place in that order (1 = the likeliest); else None
    """

    statement: str
    more_in: MoreIn
    source: str
    space: str
    vector: np.ndarray = field(repr=False)
    evidence: str = ""
    test: HeldOutTest = "mann-whitney"
    threshold: float = 0.5
    region: object | None = field(default=None, repr=False, compare=False)
    rank: int | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.space, self.statement.lower(), self.more_in)


@dataclass(frozen=True)
class Finding:
    """A hypothesis scored on the held-out half only.

    heldout_auroc : P(score of a held-out image of ``more_in`` > one of the other set); images from
                    one file (frames, slices) count as one, by their mean score
    p_value : one-sided p-value in the claimed direction (Mann–Whitney, or Fisher's exact test
              for a hypothesis whose ``test`` is "fisher" or "exceedance")
    q_value : Benjamini–Hochberg adjusted p over every hypothesis of the run, weighted by ``weight``
    supported : q_value <= alpha and the held-out effect reaches min_effect: heldout_auroc >= 0.5 +
                min_effect, or for a share claim ("fisher", "exceedance") the claimed set's held-out share
                above the threshold exceeds the other set's by min_effect
    scores_a, scores_b : ndarray of shape (n_heldout_a,), (n_heldout_b,)
    exemplars_a, exemplars_b : held-out images scoring lowest / highest
    id : "f1", "f2", ... in report order; what ``side_effect_of`` and ``aliased_with`` point at
    independent : a difference of its own (:mod:`spotdiff.analysis.explain`): supported, and still supported when
        p_value is replaced by max(p_value, p_conditional) in the same weighted Benjamini–Hochberg
    p_conditional : one-sided p-value of the claim's shift once the findings that may cause it are
        accounted for: re-planted into the other set's held-out images (:mod:`spotdiff.analysis.replant`) and/or
        regressed out within each set (Freedman–Lane permutation test); p_value when nothing may cause it
    side_effect_of : for a supported finding that is not independent, the id of the finding that accounts
        for its shift; else None
    aliased_with : instead of side_effect_of, when the sets do not overlap at all on that finding's scores,
        so set membership alone cannot tell a side effect from a difference of its own
    replanted : (edit, into, strength) when re-planting explains it away: the spotdiff.synthetic.edits name, the set whose
        held-out images it was planted into ("a" or "b") and its strength; else None
    reproduced : (share, low, high): the share of the claim's held-out shift the re-planted images reproduce,
        with a 95 % bootstrap interval; None when nothing was re-planted
    via : when ``replanted`` is the re-planting of a finding that is itself nested (so not the one
        ``side_effect_of`` points at), that finding's id: the chain "side effect of X, through Y"; else None
    """

    hypothesis: Hypothesis
    heldout_auroc: float
    p_value: float
    q_value: float
    supported: bool
    scores_a: np.ndarray = field(repr=False)
    scores_b: np.ndarray = field(repr=False)
    exemplars_a: tuple[ImageRecord, ...] = ()
    exemplars_b: tuple[ImageRecord, ...] = ()
    weight: float = 1.0  # its share of the error budget in weighted BH (mean 1; from the discovery half)
    id: str = ""
    independent: bool = False
    p_conditional: float = float("nan")
    side_effect_of: str | None = None
    aliased_with: str | None = None
    replanted: tuple[str, str, float] | None = None
    reproduced: tuple[float, float, float] | None = None
    via: str | None = None

    @property
    def statement(self) -> str:
        return self.hypothesis.statement

    @property
    def more_in(self) -> str:
        return self.hypothesis.more_in

    @property
    def source(self) -> str:
        return self.hypothesis.source

    @property
    def region(self):
        """For a region claim, its RegionSummary (spotdiff.analysis.regions.describe); else None."""
        return self.hypothesis.region

    def __repr__(self) -> str:
        """One line: the claim, the set, the held-out evidence (the vectors and scores are left out)."""
        verdict = "supported" if self.supported else "not supported"
        return (f"Finding({self.statement!r}, more in {self.more_in.upper()}, held-out AUROC {self.heldout_auroc:.2f}, "
                f"q = {self.q_value:.2g}, {verdict}; {self.source})")

    @property
    def explained_by(self) -> str | None:
        """The id of the finding this one is nested under (a side effect, or aliased with it), or None."""
        return self.side_effect_of if self.side_effect_of is not None else self.aliased_with
