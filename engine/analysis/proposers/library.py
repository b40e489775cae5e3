"""Hypotheses from the feature library: features people confirmed in earlier comparisons."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...spaces import MEASUREMENTS as MEASUREMENTS_SPACE
from ..library import FeatureLibrary, LibraryEntry
from ..result import Hypothesis
from ..stats import auroc_columns
from .base import Evidence, SpaceEvidence
from .concept_bank import embed_phrases, vocabulary_for
from ...models.embedders.measurements import FEATURE_NAMES, MEASUREMENTS


class LibraryProposer:
    """Propose again every feature whose latest verdict in the library is "confirmed".

    A confirmed feature is a statement, not a vector, so it travels to the current comparison:

    * a measurement statement ("blurrier") becomes the unit vector of its measurement, signed so
      that a higher score means more of the statement, in every space of named measurements;
    * any other statement ("a photo taken at night") is read by the text encoder of every space
      that has one, with the concept bank's phrase embedding (:func:`embed_phrases`, prompt
      templates averaged) and centred on the concept bank's mean phrase, as
      :func:`~spotdiff.analysis.proposers.concept_bank.contrast_vectors` centres a vocabulary; a phrase of
      the bank thus gets the very vector the concept bank gives it.

    The set claimed to have more of it is taken from the **discovery half** of the current
    comparison (the side whose discovery scores are higher), not kept from the library: a
    feature that was more common in B last time may be more common in A now, and validation
    on the held-out half then checks that claim like any other. The statement itself is kept
    word for word, so :func:`spotdiff.analysis.library.verdict_for` finds it again.

    entries : the confirmed entries to propose; default: read from ``library`` at propose time
    library : the library to read; nothing is read implicitly, so that one call gives the same findings on
        every machine (the command line and the desktop app pass the user's)
    reference_phrases : vocabulary whose mean phrase is taken away (default: the concept bank)
    """

    name = "library"

    def __init__(self, entries: Sequence[LibraryEntry] | None = None, *, library: FeatureLibrary | None = None,
                 reference_phrases: Sequence[str] | None = None):
        self.entries = tuple(entries) if entries is not None else None
        self.library = library
        self.reference_phrases = tuple(reference_phrases) if reference_phrases is not None else None

    @classmethod
    def from_library(cls, library: FeatureLibrary) -> "LibraryProposer | None":
        """A proposer of the library's confirmed features, or None when there are none."""
        entries = library.confirmed() if library.exists() else ()
        return cls(entries) if entries else None

    def confirmed(self) -> tuple[LibraryEntry, ...]:
        if self.entries is not None:
            return tuple(e for e in self.entries if e.confirmed)
        if self.library is not None and self.library.exists():
            return self.library.confirmed()
        return ()

    def propose(self, evidence: Evidence) -> list[Hypothesis]:
        entries = self.confirmed()
        measured = [e for e in entries if e.space == MEASUREMENTS_SPACE]
        worded = [e for e in entries if e.space != MEASUREMENTS_SPACE]
        out: list[Hypothesis] = []
        for space in evidence.spaces.values():
            if measured and _is_measurement_space(space):
                out.extend(self._measured(space, measured))
            if worded and space.text_encoder is not None:
                out.extend(self._worded(space, worded))
        return out

    def _measured(self, space: SpaceEvidence, entries: Sequence[LibraryEntry]) -> list[Hypothesis]:
        index = {n: i for i, n in enumerate(space.feature_names)}
        signed = {}
        for m in MEASUREMENTS:
            signed[m.higher.lower()] = (m.name, 1.0)
            signed[m.lower.lower()] = (m.name, -1.0)
        rows, kept = [], []
        for entry in entries:
            found = signed.get(entry.statement.strip().lower())
            if found is None or found[0] not in index:
                continue  # a measurement this version no longer has
            v = np.zeros(len(space.feature_names))
            v[index[found[0]]] = found[1]
            rows.append(v)
            kept.append(entry)
        return self._hypotheses(space, kept, np.array(rows))

    def _worded(self, space: SpaceEvidence, entries: Sequence[LibraryEntry]) -> list[Hypothesis]:
        reference = self.reference_phrases or vocabulary_for(space)
        centre = embed_phrases(space, reference).mean(axis=0)
        C = embed_phrases(space, [e.statement for e in entries]) - centre
        V = C / np.maximum(np.linalg.norm(C, axis=1, keepdims=True), 1e-12)
        return self._hypotheses(space, list(entries), V)

    def _hypotheses(self, space: SpaceEvidence, entries: Sequence[LibraryEntry], V: np.ndarray) -> list[Hypothesis]:
        if not entries:
            return []
        X = np.vstack([space.X_a, space.X_b]).astype(np.float64)
        y = np.r_[np.zeros(len(space.X_a)), np.ones(len(space.X_b))].astype(bool)
        aurocs = auroc_columns(X @ V.T, y[:, None])
        out = []
        for entry, v, a in zip(entries, V, aurocs):
            more_in = entry.more_in if not np.isfinite(a) or a == 0.5 else ("b" if a > 0.5 else "a")
            out.append(Hypothesis(statement=entry.statement, more_in=more_in, source=self.name, space=space.name,
                                  vector=v, evidence=_note(entry, a)))
        return out


def _is_measurement_space(space: SpaceEvidence) -> bool:
    return bool(space.feature_names) and set(space.feature_names) <= set(FEATURE_NAMES)


def _note(entry: LibraryEntry, discovery_auroc: float) -> str:
    when = (entry.evidence.get("date") or entry.created or "")[:10]
    auroc = entry.evidence.get("heldout_auroc")
    then = f", held-out AUROC {auroc:.2f} then" if isinstance(auroc, (int, float)) else ""
    note = f" ({entry.note})" if entry.note else ""
    return (f"confirmed in the feature library {when} ({entry.model}{then}){note}; "
            f"discovery AUROC B vs A {discovery_auroc:.2f}")
