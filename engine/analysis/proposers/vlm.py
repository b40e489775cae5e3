"""Hypotheses put into words by a local vision-language model, shown the images that best show a direction.

For each discriminative direction the model sees one labelled grid per set (the direction's
discovery-half exemplars) and what the engine already knows from the discovery half (the
direction's cross-validated AUROC, vocabulary phrases aligned with it, measured differences), and
answers with short statements in JSON held to a schema. Each statement becomes a hypothesis in a
CLIP space, embedded exactly as the concept bank embeds its phrases, and is then validated on the
held-out half with every other hypothesis: the model's word alone is never reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import VLMError, VLMStoppedError
from ...progress import Progress, Work, relay, run
from ..result import Direction, Hypothesis
from ..stats import auroc_columns
from ...models.vlm import grids, prompts
from ...models.vlm.runtime import Timing, VisionLanguageModel
from .base import Evidence, SpaceEvidence
from .concept_bank import contrast_vectors, embed_phrases, vocabulary_for
from ...models.embedders.measurements import MEASUREMENTS


@dataclass(frozen=True)
class Round:
    """One question to the model: which direction, how long it took, what came back."""

    space: str
    direction: int
    timing: Timing | None
    statements: tuple[prompts.Statement, ...]
    dropped: tuple[str, ...]
    error: str | None = None


class VLMProposer:
    """Ask a vision-language model what differs along each discriminative direction.

    vlm : a loaded VisionLanguageModel or IsolatedVLM (ModelHost.vlm); one without an image projector is
        asked, with the engine's hints alone. When its worker process stops (a crash, a hang), the model
        is asked nothing more in this run and a warning says why.
    max_directions : directions described, strongest (discovery AUROC) first, CLIP spaces first
    per_direction : statements asked for per direction (at most prompts.MAX_STATEMENTS)
    image_size, multi_image : how the grids are made; default: the model's registry entry
    time_budget_s : limit of one answer; default: the model's
    n_hint_phrases : vocabulary phrases per side given as hints (0: none)

    After ``propose``: ``rounds_`` (one Round per question) and ``warnings_`` (for the report).
    """

    name = "vlm"

    def __init__(self, vlm: VisionLanguageModel, *, max_directions: int = 2,
                 per_direction: int = prompts.MAX_STATEMENTS, image_size: int | None = None,
                 multi_image: bool | None = None, time_budget_s: float | None = None, n_hint_phrases: int = 3):
        self.vlm = vlm
        self.max_directions = max_directions
        self.per_direction = min(per_direction, prompts.MAX_STATEMENTS)
        self.image_size = image_size
        self.multi_image = multi_image
        self.time_budget_s = time_budget_s
        self.n_hint_phrases = n_hint_phrases
        self.rounds_: list[Round] = []  # filled anew by each propose
        self.warnings_: list[str] = []

    def propose(self, evidence: Evidence) -> list[Hypothesis]:
        return run(self.propose_work(evidence))

    def propose_work(self, evidence: Evidence) -> Work[list[Hypothesis]]:
        """Like ``propose``, as a generator: Progress per answer token; close it to cancel."""
        self.rounds_, self.warnings_ = [], []
        text_spaces = [s for s in evidence.spaces.values() if s.text_encoder is not None]
        if not text_spaces:
            self.warnings_.append(
                f"The vision-language model {self.vlm.name!r} proposed nothing: its statements are checked in a "
                "CLIP-like space that reads text, and this comparison has none (choose such a model with --model).")
            return []
        directions = self._directions(evidence)
        if not directions:
            self.warnings_.append(f"The vision-language model {self.vlm.name!r} proposed nothing: no discriminative "
                                  "direction was found to show it.")
            return []
        # each CLIP space's own vocabulary (the concept bank unless its model names one), embedded once:
        # hints and statement scoring share them
        self._vocabularies = {s.name: vocabulary_for(s) for s in text_spaces}
        self._vocabulary_vectors = {s.name: embed_phrases(s, self._vocabularies[s.name]) for s in text_spaces}
        found: list[tuple[prompts.Statement, Direction]] = []
        for i, d in enumerate(directions):
            yield Progress("vlm", i, len(directions), f"{self.vlm.name}: direction {d.index + 1} of {d.space}")
            hints = self._hints(d, evidence)
            images = self._images(d) if self.vlm.sees_images else []
            question = prompts.messages(hints, images, n=self.per_direction)
            try:
                answer = yield from relay(self.vlm.ask_json(question, prompts.ANSWER_SCHEMA,
                                                            max_tokens=prompts.ANSWER_TOKENS,
                                                            time_budget_s=self.time_budget_s), "vlm")
            except VLMStoppedError as e:  # its worker died, hung or garbled: ask it nothing more this run
                self.rounds_.append(Round(d.space, d.index, self.vlm.last_timing_, (), (), str(e)))
                self.warnings_.append(stopped_warning(self.vlm.name, e, n_kept=len(found)))
                break
            except VLMError as e:  # out of time, unreadable, or llama.cpp failing: the rest of the run stands
                self.rounds_.append(Round(d.space, d.index, self.vlm.last_timing_, (), (), str(e)))
                self.warnings_.append(str(e))
                continue
            statements, dropped = prompts.read_statements(answer)
            statements, extra = statements[: self.per_direction], statements[self.per_direction:]
            dropped += [f"{s.text!r}: more than the {self.per_direction} statements asked for" for s in extra]
            self.rounds_.append(Round(d.space, d.index, self.vlm.last_timing_, tuple(statements), tuple(dropped)))
            found.extend((s, d) for s in statements)
        return self._hypotheses(found, evidence, text_spaces)

    # --- steps ---------------------------------------------------------------------------

    def _directions(self, evidence: Evidence) -> list[Direction]:
        pool = [d for s in evidence.spaces.values() for d in s.directions if d.exemplars_a and d.exemplars_b]
        reads_text = {s.name for s in evidence.spaces.values() if s.text_encoder is not None}
        pool.sort(key=lambda d: (d.space not in reads_text, -np.nan_to_num(d.discovery_auroc), d.space, d.index))
        return pool[: self.max_directions]

    def _images(self, d: Direction) -> list[str]:
        config = getattr(self.vlm, "config", None)
        size = self.image_size or (config.image_size if config else 448)
        multi = self.multi_image if self.multi_image is not None else (config.multi_image if config else True)
        grid_a = grids.make_grid(d.exemplars_a, "Set A", size)
        grid_b = grids.make_grid(d.exemplars_b, "Set B", size)
        if multi:
            return [grids.to_data_uri(grid_a), grids.to_data_uri(grid_b)]
        return [grids.to_data_uri(grids.side_by_side(grid_a, grid_b, size))]

    def _hints(self, d: Direction, evidence: Evidence) -> prompts.Hints:
        phrases_a: tuple[str, ...] = ()
        phrases_b: tuple[str, ...] = ()
        if d.space in self._vocabulary_vectors and self.n_hint_phrases > 0:
            vocabulary = self._vocabularies[d.space]
            alignment = contrast_vectors(self._vocabulary_vectors[d.space]) @ np.asarray(d.vector, np.float64)
            order = np.argsort(-alignment, kind="stable")
            phrases_b = tuple(vocabulary[i] for i in order[: self.n_hint_phrases])
            phrases_a = tuple(vocabulary[i] for i in order[::-1][: self.n_hint_phrases])
        return prompts.Hints(space=d.space, index=d.index, discovery_auroc=float(d.discovery_auroc),
                             n_a=len(d.exemplars_a), n_b=len(d.exemplars_b), phrases_a=phrases_a,
                             phrases_b=phrases_b, measurements=tuple(_measured(evidence)))

    def _hypotheses(self, found: list[tuple[prompts.Statement, Direction]], evidence: Evidence,
                    text_spaces: list[SpaceEvidence]) -> list[Hypothesis]:
        by_space: dict[str, list[tuple[prompts.Statement, Direction]]] = {}
        seen: set[tuple[str, str, str]] = set()
        for statement, d in found:
            space = evidence.spaces[d.space] if evidence.spaces[d.space].text_encoder is not None else text_spaces[0]
            key = (space.name, statement.text.lower(), statement.more_in)
            if key not in seen:
                seen.add(key)
                by_space.setdefault(space.name, []).append((statement, d))
        out = []
        for name, items in by_space.items():
            space = evidence.spaces[name]
            texts = [s.text for s, _ in items]
            # Beside the vocabulary, so the shared caption component is removed exactly as for the
            # concept bank's phrases: a VLM statement and a vocabulary phrase score alike.
            T = np.vstack([embed_phrases(space, texts), self._vocabulary_vectors[name]])
            V = contrast_vectors(T)[: len(texts)]
            X = np.vstack([space.X_a, space.X_b]).astype(np.float64)
            y = np.r_[np.zeros(len(space.X_a)), np.ones(len(space.X_b))].astype(bool)
            discovery = auroc_columns(X @ V.T, y[:, None])
            for (statement, d), v, auc in zip(items, V, discovery):
                claimed = auc if statement.more_in == "b" else 1.0 - auc
                out.append(Hypothesis(
                    statement=statement.text, more_in=statement.more_in, source=self.name, space=name, vector=v,
                    evidence=(f"proposed by the vision-language model {self.vlm.name} shown direction {d.index + 1} "
                              f"of {d.space}; discovery AUROC {claimed:.2f} in the claimed direction"),
                ))
        return out


def stopped_warning(name: str, error: VLMStoppedError, n_kept: int = 0) -> str:
    """The result's warning for a model whose worker stopped; never a finding, and the comparison goes on.

    n_kept : statements the model made before it stopped (they are checked like any other)
    """
    went_on = "without its proposals" if not n_kept else \
        f"without its further proposals (the {n_kept} statement(s) it made before are checked as usual)"
    return f"The vision-language model {name!r} stopped: {error.reason}; the comparison went on {went_on}. " \
           f"{error.hint}".strip()


def _measured(evidence: Evidence, n: int = 3, min_effect: float = 0.1) -> list[str]:
    """Measured differences of the discovery half, in words: "set B images are brighter (AUROC 0.71)"."""
    by_name = {m.name: m for m in MEASUREMENTS}
    out = []
    for space in evidence.spaces.values():
        names = space.feature_names
        if not names or not all(name in by_name for name in names):
            continue
        X = np.vstack([space.X_a, space.X_b])
        y = np.r_[np.zeros(len(space.X_a)), np.ones(len(space.X_b))].astype(bool)
        aurocs = np.nan_to_num(auroc_columns(X, y[:, None]), nan=0.5)
        for i in np.argsort(-np.abs(aurocs - 0.5), kind="stable")[:n]:
            if abs(aurocs[i] - 0.5) < min_effect:
                break
            m = by_name[names[i]]
            out.append(f"set B images are {m.higher if aurocs[i] > 0.5 else m.lower} (AUROC {aurocs[i]:.2f})")
    return out
