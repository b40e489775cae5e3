"""Proposers turn discovery-half evidence into hypotheses; validation decides."""

from .base import Evidence, Proposer, SpaceEvidence
from .concept_bank import ConceptBankProposer, load_concepts
from .library import LibraryProposer
from .measurements import MeasurementProposer

__all__ = ["Evidence", "Proposer", "SpaceEvidence", "ConceptBankProposer", "LibraryProposer", "MeasurementProposer",
           "load_concepts"]
