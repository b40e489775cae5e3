"""Hypotheses from a shipped vocabulary of visual concepts, read with the CLIP text tower."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Sequence

import numpy as np

from ..result import Hypothesis
from ..stats import auroc_columns
from ..subgroups import picks_of, strongest_subgroups
from ...models.vocabulary import load_vocabulary  # noqa: F401 (re-exported)
from .base import Evidence, SpaceEvidence

SCORES_PER_BLOCK = 4_000_000  # phrase scores held at once (32 MB of float64): images x phrases of one block


@lru_cache(maxsize=1)
def load_concepts() -> tuple[tuple[str, str], ...]:
    """The shipped concept bank as (section, phrase) pairs, in file order."""
    text = (resources.files("spotdiff") / "data" / "concepts.txt").read_text(encoding="utf-8")
    section, out = "", []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            section = line.lstrip("# ").removeprefix("section:").strip()
            continue
        out.append((section, line))
    return tuple(out)


def vocabulary_for(space: SpaceEvidence) -> tuple[str, ...]:
    """The phrases a space's text encoder can read: its model's own list, else the whole concept bank."""
    return space.vocabulary or tuple(p for _, p in load_concepts())


def embed_phrases(space: SpaceEvidence, phrases: Sequence[str]) -> np.ndarray:
    """Unit text vectors of shape (n_phrases, dim), averaged over the model's prompt templates."""
    templates = space.prompt_templates or ("{}",)
    prompts = [t.format(p) for p in phrases for t in templates]
    T = space.text_encoder.embed_text(prompts).astype(np.float64)
    T = T.reshape(len(phrases), len(templates), -1).mean(axis=1)
    return T / np.linalg.norm(T, axis=1, keepdims=True)


def contrast_vectors(T: np.ndarray) -> np.ndarray:
    """Phrase vectors with the component shared by all phrases removed, unit norm.

    An image's raw similarity to any caption carries a large common part; taking
    it away makes a phrase's score say how much *this* phrase fits, relative to
    the vocabulary (GSCLIP compares each phrase to its negation for the same reason).
    """
    C = T - T.mean(axis=0)
    return C / np.maximum(np.linalg.norm(C, axis=1, keepdims=True), 1e-12)


class ConceptBankProposer:
    """Propose the vocabulary phrases whose image scores separate the discovery halves, as a whole or in a
    subgroup of one set.

    phrases : the vocabulary (default: the model's own phrase list if it has one, else the shipped concept bank)
    max_hypotheses : claims proposed per space, the strongest first
    per_direction : phrases most aligned with each discriminative direction, added if new
    max_subgroups : further claims, about a subgroup of one set: the phrases with the most discovery images
        of one set above every image of the other (:func:`spotdiff.analysis.subgroups.subgroup_picks`)
    min_effect : discovery |AUROC - 0.5| a phrase needs
    max_redundancy : a phrase whose discovery scores correlate above this with an
        already chosen phrase adds nothing and is skipped
    """

    name = "concept-bank"

    def __init__(self, phrases: Sequence[str] | None = None, *, max_hypotheses: int = 10,
                 max_subgroups: int = 4, per_direction: int = 2, min_effect: float = 0.05,
                 max_redundancy: float = 0.9):
        self.phrases = tuple(phrases) if phrases is not None else None
        self.max_hypotheses = max_hypotheses
        self.max_subgroups = max_subgroups
        self.per_direction = per_direction
        self.min_effect = min_effect
        self.max_redundancy = max_redundancy

    def vocabulary(self, space: SpaceEvidence) -> tuple[str, ...]:
        return self.phrases if self.phrases is not None else vocabulary_for(space)

    def propose(self, evidence: Evidence) -> list[Hypothesis]:
        out: list[Hypothesis] = []
        for space in evidence.spaces.values():
            if space.text_encoder is not None:
                out.extend(self._propose_in(space))
        return out

    def _propose_in(self, space: SpaceEvidence) -> list[Hypothesis]:
        phrases = self.vocabulary(space)
        V = contrast_vectors(embed_phrases(space, phrases))
        X = np.vstack([space.X_a, space.X_b]).astype(np.float64)
        y = np.r_[np.zeros(len(space.X_a)), np.ones(len(space.X_b))].astype(bool)
        # the phrases' scores (n_discovery, n_phrases) a block of phrases at a time: ~2,000 phrases of 50,000
        # images would be 0.8 GB a copy, and ranking them makes several
        aurocs, strongest = np.empty(len(V)), (np.empty(len(V), bool), np.empty(len(V)), np.empty(len(V), np.int64))
        block = max(1, SCORES_PER_BLOCK // max(len(X), 1))
        for start in range(0, len(V), block):
            S = X @ V[start:start + block].T
            aurocs[start:start + block] = auroc_columns(S, y[:, None])
            for whole, part in zip(strongest, strongest_subgroups(S[~y], S[y])):
                whole[start:start + block] = part
        effect = np.nan_to_num(np.abs(aurocs - 0.5), nan=0.0)
        more_b = np.nan_to_num(aurocs, nan=0.5) > 0.5

        chosen: list[int] = []
        notes: dict[int, str] = {}
        for i in np.argsort(-effect, kind="stable"):
            if len(chosen) >= self.max_hypotheses or effect[i] < self.min_effect:
                break
            if self._redundant(X, V, i, chosen):
                continue
            chosen.append(int(i))
            notes[int(i)] = f"discovery AUROC of the claim {max(aurocs[i], 1 - aurocs[i]):.2f}"
        for i, towards_b, note in picks_of(strongest, int((~y).sum()), int(y.sum()), set(chosen),
                                           self.max_subgroups):
            chosen.append(i)
            more_b[i], notes[i] = towards_b, note
        for d in space.directions:
            alignment = V @ d.vector
            for i in np.argsort(-np.abs(alignment))[: self.per_direction]:
                i = int(i)
                note = f"aligned with direction {d.index + 1} (cos {alignment[i]:+.2f})"
                if i not in chosen:
                    chosen.append(i)
                    notes[i] = note
                else:
                    notes[i] += f"; {note}"
        return [
            Hypothesis(statement=phrases[i], more_in="b" if more_b[i] else "a", source=self.name,
                       space=space.name, vector=V[i], evidence=notes[i])
            for i in chosen
        ]

    def _redundant(self, X: np.ndarray, V: np.ndarray, i: int, chosen: list[int]) -> bool:
        if not chosen:
            return False
        corr = np.corrcoef(X @ V[[i, *chosen]].T, rowvar=False)[0, 1:]
        return bool(np.nanmax(np.abs(corr)) > self.max_redundancy)
