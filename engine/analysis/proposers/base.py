"""What proposers see (the discovery half only) and what they must provide."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from ...models.embedders.base import TextEncoder
from ...io.images import ImageRecord
from ...progress import Work
from ..result import Cluster, Direction, Hypothesis, Separability


@dataclass(frozen=True)
class SpaceEvidence:
    """The discovery half of both sets in one embedding space.

    X_a, X_b : ndarray of shape (n_discovery_a, dim), (n_discovery_b, dim), raw embeddings
    feature_names : names of the dimensions when they are named (measurements)
    text_encoder : places text in this space, or None
    prompt_templates : how the model expects a phrase to be framed ("a photo of {}.")
    """

    name: str
    X_a: np.ndarray = field(repr=False)
    X_b: np.ndarray = field(repr=False)
    images_a: tuple[ImageRecord, ...]
    images_b: tuple[ImageRecord, ...]
    feature_names: tuple[str, ...] | None = None
    text_encoder: TextEncoder | None = None
    prompt_templates: tuple[str, ...] = ("a photo of {}.",)
    vocabulary: tuple[str, ...] | None = None  # what the text encoder can read; None = any phrase
    directions: tuple[Direction, ...] = ()
    clusters: tuple[Cluster, ...] = ()


@dataclass(frozen=True)
class Evidence:
    spaces: Mapping[str, SpaceEvidence]
    separability: tuple[Separability, ...]
    seed: int = 0


@runtime_checkable
class Proposer(Protocol):
    """Turns evidence from the discovery half into checkable hypotheses."""

    name: str

    def propose(self, evidence: Evidence) -> Sequence[Hypothesis]:
        ...


@runtime_checkable
class SlowProposer(Proposer, Protocol):
    """A proposer that takes long (a vision-language model): it reports progress and can be cancelled, and
    says in ``warnings_`` (after proposing) what it could not do, for the report."""

    warnings_: Sequence[str]

    def propose_work(self, evidence: Evidence) -> Work[list[Hypothesis]]:
        ...
