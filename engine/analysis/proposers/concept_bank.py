"""Hypotheses from a shipped vocabulary of visual concepts, read with the CLIP text tower."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Sequence

import numpy as np

from ..result import Hypothesis
from ..stats import auroc_columns
from ..subgroups import subgroup_picks
from ...models.vocabulary import load_vocabulary  # noqa: F401 (re-exported)
from .base import Evidence, SpaceEvidence


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
        S = X @ V.T  # (n_discovery, n_phrases)
        aurocs = auroc_columns(S, y[:, None])
        effect = np.nan_to_num(np.abs(aurocs - 0.5), nan=0.0)
        more_b = np.nan_to_num(aurocs, nan=0.5) > 0.5

        chosen: list[int] = []
        notes: dict[int, str] = {}
        for i in np.argsort(-effect, kind="stable"):
            if len(chosen) >= self.max_hypotheses or effect[i] < self.min_effect:
                break
            if self._redundant(S, i, chosen):
                continue
            chosen.append(int(i))
            notes[int(i)] = f"discovery AUROC of the claim {max(aurocs[i], 1 - aurocs[i]):.2f}"
        for i, towards_b, note in subgroup_picks(S[~y], S[y], set(chosen), self.max_subgroups):
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

    def _redundant(self, S: np.ndarray, i: int, chosen: list[int]) -> bool:
        if not chosen:
            return False
        corr = np.corrcoef(S[:, [i, *chosen]], rowvar=False)[0, 1:]
        return bool(np.nanmax(np.abs(corr)) > self.max_redundancy)
