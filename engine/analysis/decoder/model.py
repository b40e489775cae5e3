"""The decoder: a small network that ranks a comparison's candidate statements, trained on comparisons whose
answers are known.

Why this form: the score of a candidate is one shared two-layer network applied to that candidate's numbers
(:mod:`spotdiff.analysis.decoder.features`), and the ranking is a softmax over all candidates of the comparison
(trained listwise: the true statements' share of the softmax is maximised). Sharing one network across candidates
makes it a set model: a candidate's numbers include where it stands among the others (its rank, its effect
against the best, its weight once the others are known), so the network learns what a cause looks like beside
its echoes; and since no number names a phrase, it ranks phrases and edits it never saw in training (the
leave-attributes-out evaluation measures that). A contrastive map into the text space would instead learn
where this model's phrases lie, and say nothing of a phrase outside its training world.

A second, linear head reads a candidate's share: in which bin of SHARE_BINS the set that has more of it has it.
Everything is numpy: training a few thousand comparisons takes seconds, and the file is a few kilobytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from ...errors import InvalidParameterError, ModelLoadError
from .features import FEATURES, SHARE_BINS, SHARE_FEATURES, Candidates

FORMAT = 1
HIDDEN = 32


@dataclass(frozen=True)
class Example:
    """One training comparison: its candidates, which of them are true, and each true one's share bin.

    positive : bool ndarray of shape (n_candidates,)
    share_bins : int ndarray of shape (n_candidates,), the true bin of a positive candidate (-1 elsewhere)
    """

    candidates: Candidates = field(repr=False)
    positive: np.ndarray = field(repr=False)
    share_bins: np.ndarray = field(repr=False)
    tags: tuple[str, ...] = ()  # what was planted ("world:colour", "edit:blur"), for the leave-out evaluation


class Decoder:
    """Ranks candidate statements. ``params`` holds the arrays (W1, b1, w2, b2, share_W)."""

    def __init__(self, params: dict[str, np.ndarray] | None = None, *, hidden: int = HIDDEN, seed: int = 0,
                 info: dict | None = None):
        if params is None:
            rng = np.random.default_rng(seed)
            k = len(FEATURES)
            params = {"W1": rng.normal(0, 1 / np.sqrt(k), (k, hidden)), "b1": np.zeros(hidden),
                      "w2": rng.normal(0, 1 / np.sqrt(hidden), hidden), "b2": np.zeros(1),
                      "share_W": np.zeros((len(SHARE_FEATURES), len(SHARE_BINS)))}
        self.params = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
        self.info = dict(info or {})

    # ---- inference -------------------------------------------------------------------------------------------
    def scores(self, X: np.ndarray) -> np.ndarray:
        p = self.params
        return np.tanh(X @ p["W1"] + p["b1"]) @ p["w2"] + p["b2"][0]

    def share_probabilities(self, share_X: np.ndarray) -> np.ndarray:
        logits = share_X @ self.params["share_W"]
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def rank(self, c: Candidates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(order, probability, share bin): candidates best first, each one's softmax share, its likeliest bin."""
        s = self.scores(c.X)
        prob = np.exp(s - s.max())
        prob /= prob.sum()
        bins = self.share_probabilities(c.share_X).argmax(axis=1)
        return np.argsort(-s, kind="stable"), prob, bins

    def statement_scores(self, c: Candidates) -> np.ndarray:
        """Scores of every (candidate, share bin) statement, shape (n_candidates, len(SHARE_BINS)): the
        candidate's log-softmax plus the log-probability of the bin."""
        s = self.scores(c.X)
        log_softmax = s - s.max() - np.log(np.exp(s - s.max()).sum())
        return log_softmax[:, None] + np.log(self.share_probabilities(c.share_X) + 1e-12)

    # ---- training --------------------------------------------------------------------------------------------
    def fit(self, examples: Sequence[Example], *, epochs: int = 60, batch: int = 32, lr: float = 0.01,
            weight_decay: float = 1e-4, seed: int = 0, on_epoch=None) -> "Decoder":
        """Listwise training on ``examples`` (Adam on mini-batches of ``batch`` comparisons, ``epochs`` passes).
        ``on_epoch(epoch, loss)`` is called after each pass (it may raise to stop)."""
        examples = [e for e in examples if e.positive.any()]
        if not examples:
            raise InvalidParameterError("examples", 0, "at least one comparison with a true candidate")
        X = np.vstack([e.candidates.X for e in examples])
        share_X_all = np.vstack([e.candidates.share_X for e in examples])
        pos = np.concatenate([e.positive for e in examples]).astype(np.float64)
        bins = np.concatenate([e.share_bins for e in examples])
        sizes = np.array([len(e.candidates) for e in examples])
        offsets = np.r_[0, np.cumsum(sizes)]
        adam, rng = _Adam(self.params, lr), np.random.default_rng(seed)
        for epoch in range(epochs):
            losses = []
            order = rng.permutation(len(examples))
            for start in range(0, len(order), batch):
                chosen = order[start:start + batch]
                rows = np.concatenate([np.arange(offsets[k], offsets[k + 1]) for k in chosen])
                starts = np.r_[0, np.cumsum(sizes[chosen])[:-1]]
                segment = np.repeat(np.arange(len(chosen)), sizes[chosen])
                true = pos[rows] > 0
                grads, loss = self._gradients(X[rows], pos[rows], segment, starts, len(chosen),
                                              share_X_all[rows][true], bins[rows][true])
                for k in grads:
                    grads[k] += weight_decay * self.params[k]
                adam.step(self.params, grads)
                losses.append(loss)
            if on_epoch is not None:
                on_epoch(epoch, float(np.mean(losses)))
        return self

    def _gradients(self, X, pos, segment, starts, n, share_X, share_y):
        p = self.params
        H = np.tanh(X @ p["W1"] + p["b1"])
        s = H @ p["w2"] + p["b2"][0]
        m = np.maximum.reduceat(s, starts)[segment]
        e = np.exp(s - m)
        z = np.add.reduceat(e, starts)[segment]
        soft = e / z
        # loss per comparison: -log(sum of the softmax over its true candidates)
        pos_mass = np.add.reduceat(soft * pos, starts)
        loss = -np.log(np.maximum(pos_mass, 1e-12)).mean()
        # d loss / d s_i = soft_i - soft_i * pos_i / pos_mass(segment)
        ds = (soft - soft * pos / np.maximum(pos_mass, 1e-12)[segment]) / n
        dH = np.outer(ds, p["w2"]) * (1 - H**2)
        grads = {"w2": H.T @ ds, "b2": np.array([ds.sum()]), "W1": X.T @ dH, "b1": dH.sum(axis=0)}
        probs = self.share_probabilities(share_X)
        onehot = np.eye(len(SHARE_BINS))[share_y]
        loss += -np.log(probs[np.arange(len(share_y)), share_y] + 1e-12).mean()
        grads["share_W"] = share_X.T @ (probs - onehot) / max(len(share_y), 1)
        return grads, float(loss)

    # ---- files -----------------------------------------------------------------------------------------------
    def save(self, path: Path | str) -> Path:
        """Write the weights as safetensors, with the feature names and ``info`` in its metadata."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        metadata = {"format": str(FORMAT), "features": json.dumps(FEATURES), "share_features": json.dumps(SHARE_FEATURES),
                    "share_bins": json.dumps([b for b, _ in SHARE_BINS]), "info": json.dumps(self.info)}
        save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in self.params.items()}, str(path),
                  metadata=metadata)
        return path

    @classmethod
    def load(cls, path: Path | str) -> "Decoder":
        path = Path(path)
        try:
            with safe_open(str(path), framework="numpy") as f:
                metadata = f.metadata() or {}
                params = {k: f.get_tensor(k) for k in f.keys()}
        except (OSError, ValueError, RuntimeError, SafetensorError) as exc:
            raise ModelLoadError("decoder", path, f"not a decoder file spotdiff can read ({exc}); train one with "
                                 "'spotdiff train-decoder' or reinstall spotdiff") from exc
        if metadata.get("features") != json.dumps(FEATURES) or metadata.get("format") != str(FORMAT):
            raise ModelLoadError("decoder", path, f"trained on other features (format {metadata.get('format')!r}) "
                                 f"than this spotdiff reads (format {FORMAT}); train it again with "
                                 "'spotdiff train-decoder'")
        return cls(params, info=json.loads(metadata.get("info", "{}")))


class _Adam:
    def __init__(self, params: dict[str, np.ndarray], lr: float, beta1: float = 0.9, beta2: float = 0.999):
        self.lr, self.b1, self.b2, self.t = lr, beta1, beta2, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        self.t += 1
        for k, g in grads.items():
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * g
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * g * g
            m_hat = self.m[k] / (1 - self.b1**self.t)
            v_hat = self.v[k] / (1 - self.b2**self.t)
            params[k] -= self.lr * m_hat / (np.sqrt(v_hat) + 1e-8)


def top1_accuracy(decoder: Decoder, examples: Sequence[Example], *, with_share: bool = True) -> tuple[int, int]:
    """How many comparisons the decoder's first statement is true for (and its share bin right, with
    ``with_share``), of how many."""
    hits = 0
    for e in examples:
        if with_share:
            table = decoder.statement_scores(e.candidates)
            i, b = np.unravel_index(int(np.argmax(table)), table.shape)
            hits += bool(e.positive[i] and e.share_bins[i] == b)
        else:
            hits += bool(e.positive[int(np.argmax(decoder.scores(e.candidates.X)))])
    return hits, len(examples)
