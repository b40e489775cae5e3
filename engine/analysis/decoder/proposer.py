"""Hypotheses from the decoder: the statements a decoder trained on comparisons with known answers ranks first
(spotdiff.analysis.decoder), each validated on held-out images like any other, marked "decoder"."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import InvalidParameterError
from ...models.paths import models_dir
from ...models.registry import (USER_REGISTRY, ModelSpec, availability, list_models, locate_weights,
                                verify_sha256)
from .features import SHARE_BINS, candidates
from .model import Decoder
from ..result import Hypothesis
from ..proposers.base import Evidence

TOP_K = 5


def decoders_for(model: str) -> list[ModelSpec]:
    """The registry's decoders trained on ``model``'s space whose files are here: those the user trained first
    (the most recently trained first), then the shipped ones."""
    found = [s for s in list_models() if s.kind == "decoder" and (s.decoder or {}).get("reads", [None])[0] == model
             and availability(s)[0]]
    user = models_dir() / USER_REGISTRY

    def order(spec: ModelSpec) -> tuple:
        mine = spec.source_path.parent == user
        return (not mine, -spec.source_path.stat().st_mtime if mine else 0.0, spec.name)

    return sorted(found, key=order)


def open_decoder(spec: ModelSpec, weights: Path | None = None) -> Decoder:
    """Locate the decoder's file, check its sha256 against the registry entry, load it."""
    path = locate_weights(spec, weights)
    verify_sha256(spec, path)
    return Decoder.load(path)


class DecoderProposer:
    """Propose the ``top_k`` statements a decoder ranks first in the spaces it reads.

    decoder : the trained decoder; reads : the spaces it was trained on, its embedding model's first
    label : the registry name of the decoder, for the evidence line
    """

    name = "decoder"

    def __init__(self, decoder: Decoder, reads: Sequence[str], *, top_k: int = TOP_K, label: str = "decoder"):
        if top_k < 1:
            raise InvalidParameterError("top_k", top_k, "an integer >= 1")
        self.decoder, self.reads, self.top_k, self.label = decoder, tuple(reads), top_k, label

    @classmethod
    def find(cls, model: str, choice: str | None = "auto", **options) -> "DecoderProposer | None":
        """The proposer of decoder ``choice`` ("auto": the first of :func:`decoders_for` ``model``; None or
        "none": no decoder), or None when no decoder reads ``model``."""
        if choice in (None, "none"):
            return None
        if choice == "auto":
            specs = decoders_for(model)
            if not specs:
                return None
            spec = specs[0]
        else:
            spec = next((s for s in list_models() if s.kind == "decoder" and s.name == choice), None)
            if spec is None:
                known = [s.name for s in list_models() if s.kind == "decoder"]
                raise InvalidParameterError("decoder", choice, "a decoder of the registry "
                                            f"({', '.join(known) or 'none installed'}), 'auto' or 'none'")
        return cls(open_decoder(spec), spec.decoder["reads"], label=spec.name, **options)

    def propose(self, evidence: Evidence) -> list[Hypothesis]:
        if self.reads[0] not in evidence.spaces:
            return []  # a comparison of another model
        # a space whose words are not read here (images outside the model's domain) gives no candidates
        c = candidates([evidence.spaces[name] for name in self.reads if name in evidence.spaces])
        if c is None:
            return []
        table = self.decoder.statement_scores(c)  # (candidate, share bin)
        best_bin = table.argmax(axis=1)
        order = np.argsort(-table.max(axis=1), kind="stable")
        probability = np.exp(table.max(axis=1))
        out = []
        for rank, i in enumerate(order[: self.top_k], start=1):
            share = SHARE_BINS[best_bin[i]][0]
            whose = "set B" if c.more_in[i] == "b" else "set A"
            out.append(Hypothesis(
                statement=c.statements[i], more_in=c.more_in[i], source=self.name, space=c.spaces[i],
                vector=np.asarray(c.vectors[i], dtype=np.float32), rank=rank,
                evidence=f"{self.label}: statement {rank} of {len(c) * len(SHARE_BINS)} ({probability[i]:.0%}); "
                         f"{share.replace('its', whose + chr(39) + 's')}"))
        return out
