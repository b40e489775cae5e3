"""The methods the benchmark compares, all on the same embeddings of the same files.

Each method takes a :class:`PairData` (the embeddings of both sets in every space) and returns a
:class:`MethodAnswer`: its claims in its own rank order, and which of them it asserts (its findings).

* ``spotdiff`` — the pipeline's own analysis (:func:`spotdiff.pipeline.analyse`): proposers see the discovery half,
  every hypothesis is scored on the held-out half, BH-FDR, then explained away (spotdiff.analysis.explain, with the pair's
  embedders re-planting causes). Claims are its **supported** findings only, the independent ones first; an
  unsupported hypothesis is not a claim. Its explanations (what it says differs) are the independent findings.
* ``visdiff-embedding`` — VisDiff's embedding-only proposer: mean(B) − mean(A) of the CLIP image embeddings,
  decoded to the phrases nearest in cosine (phrases pointing the other way claim set A), ranked by |cosine|,
  no validation. It asserts every phrase it ranks (it has no test), so on a pair with no difference it
  always makes findings.
* ``gsclip`` — GSCLIP's ranking: each phrase's direction is (phrase − negated phrase) in CLIP text space
  ("no stars" negates "stars"); images are projected on it and a Welch t-test compares B with A; ranked by |t|.
  It asserts the phrases with two-sided p < 0.05 (uncorrected, as GSCLIP reports).
* ``no-heldout`` — spotdiff without held-out validation: the same proposers see all images, and the same
  validation scores them on those same images (in-sample), BH-FDR and effect threshold unchanged.
* ``no-decoder`` — spotdiff as it was before the decoder (spotdiff.analysis.decoder): the same analysis, its
  proposers without the decoder's. ``spotdiff`` itself uses the decoder for the pair's model when one ships.
* ``decoder`` — the decoder as a proposer of its own: it ranks every statement from the discovery half, its first
  TOP_K are validated on the held-out half (BH-FDR, effect threshold); its claims are the supported ones, in
  its order.
* ``decoder-ranking`` — the decoder's ranking over all images without validation, as VisDiff's: it asserts
  every claim it ranks.

Every method chooses among the same phrases: those spotdiff's concept-bank proposer reads in the CLIP space (the
model's own vocabulary when its registry entry names one, else the ~1,900-phrase concept bank). The two published
baselines read text, so they work in the CLIP space only (as in their papers); spotdiff and its ablation also use
the measurement space.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

import numpy as np
from scipy import stats

from ...analysis.explain import report_key
from ...analysis.proposers import ConceptBankProposer, MeasurementProposer, SpaceEvidence
from ...analysis.decoder import candidates
from ...analysis.proposers.concept_bank import embed_phrases, vocabulary_for
from ...analysis.decoder.proposer import DecoderProposer
from ...analysis.replant import Replanter
from ...analysis.validate import Half, Split, validate
from ...io.images import ImageRecord
from ...pipeline import CompareRequest, Space, analyse
from ...progress import run
from ...spaces import MEASUREMENTS
from .judge import Claim
from .options import METHODS

METHOD_TITLES = {"spotdiff": "spotdiff", "visdiff-embedding": "VisDiff embedding-only",
                 "gsclip": "GSCLIP-style t-test", "no-heldout": "spotdiff w/o held-out",
                 "no-decoder": "spotdiff w/o decoder", "decoder": "decoder alone, validated",
                 "decoder-ranking": "decoder ranking, no validation"}
MAX_CLAIMS = 25  # kept per method and pair: enough for Acc@5 and recall@10, small enough for the JSON
GSCLIP_P = 0.05


@dataclass(frozen=True)
class PairData:
    """One pair's embeddings, shared by every method.

    spaces : the comparison's spaces; each X of shape (n_a + n_b, dim), set A first
    """

    spaces: tuple[Space, ...]
    images_a: tuple[ImageRecord, ...]
    images_b: tuple[ImageRecord, ...]
    embedders: Mapping[str, object] = field(default_factory=dict)  # by space: lets spotdiff re-plant causes

    @property
    def y(self) -> np.ndarray:
        return np.r_[np.zeros(len(self.images_a)), np.ones(len(self.images_b))].astype(bool)

    def text_space(self) -> Space | None:
        return next((s for s in self.spaces if s.text_encoder is not None), None)


@dataclass(frozen=True)
class MethodAnswer:
    """claims : ranked (best first); asserted : how many leading claims the method asserts as findings"""

    claims: tuple[Claim, ...]
    n_asserted: int
    seconds: float
    available: bool = True
    explanations: tuple[Claim, ...] | None = None  # what it says differs; None: its top k (spotdiff.apps.bench.run)

    @property
    def asserted(self) -> tuple[Claim, ...]:
        return self.claims[: self.n_asserted]


def bench_proposers(decoder: DecoderProposer | None = None) -> list:
    """The app's own proposers, without the user's feature library (it would make runs depend on the machine);
    the decoder's first when one is given, as in the app."""
    return ([decoder] if decoder is not None else []) + [MeasurementProposer(), ConceptBankProposer()]


def bench_request(seed: int) -> CompareRequest:
    """Settings of every spotdiff run: the app's defaults (alpha 0.05, held-out AUROC >= 0.60, 200 permutations)."""
    return CompareRequest(set_a=(), set_b=(), model=MEASUREMENTS, seed=seed, use_cache=False)


def _findings_to_claims(findings) -> tuple[Claim, ...]:
    """Supported findings, the independent ones first (report order); a side effect is a claim too, after
    them (it is a true statement about the scores, reported nested under its cause)."""
    ordered = sorted((f for f in findings if f.supported), key=report_key)
    return tuple(Claim(f.statement, f.more_in, f.q_value)
                 for f in [f for f in ordered if f.independent] + [f for f in ordered if not f.independent])


def _independent(findings) -> tuple[Claim, ...]:
    return tuple(Claim(f.statement, f.more_in, f.q_value) for f in sorted(findings, key=report_key) if f.independent)


def spotdiff(data: PairData, seed: int, decoder: DecoderProposer | None = None) -> MethodAnswer:
    """The app's analysis; with the pair's embedders, causes that spotdiff.synthetic.edits can make are re-planted."""
    start = time.perf_counter()
    split = Split.make(len(data.images_a), len(data.images_b), seed=seed, heldout_fraction=0.5)
    replanter = Replanter(data.embedders, seed=seed) if data.embedders else None
    try:
        analysis = run(analyse(data.spaces, data.images_a, data.images_b, split, bench_request(seed),
                               bench_proposers(decoder), replanter))
    finally:
        if replanter is not None:
            replanter.close()
    claims = _findings_to_claims(analysis.findings)
    return MethodAnswer(claims[:MAX_CLAIMS], min(len(claims), MAX_CLAIMS), time.perf_counter() - start,
                        explanations=_independent(analysis.findings))


def no_heldout(data: PairData, seed: int) -> MethodAnswer:
    """Propose from every image, then validate on those same images."""
    start = time.perf_counter()
    n_a, n_b = len(data.images_a), len(data.images_b)
    everything = Split(np.zeros(n_a, dtype=bool), np.zeros(n_b, dtype=bool))  # all images are "discovery"
    request = bench_request(seed)
    analysis = run(analyse(data.spaces, data.images_a, data.images_b, everything, request, bench_proposers()))
    spaces = {s.name: s.X for s in data.spaces} | analysis.fitted_spaces
    in_sample = Half(images_a=data.images_a, images_b=data.images_b,
                     embeddings_a={name: X[:n_a] for name, X in spaces.items()},
                     embeddings_b={name: X[n_a:] for name, X in spaces.items()})
    findings = validate([f.hypothesis for f in analysis.findings], in_sample, alpha=request.alpha,
                        min_effect=request.min_effect, n_exemplars=1)
    claims = tuple(Claim(f.statement, f.more_in, f.q_value) for f in findings if f.supported)
    return MethodAnswer(claims[:MAX_CLAIMS], min(len(claims), MAX_CLAIMS), time.perf_counter() - start)


class PhraseBank:
    """Each text space's phrases, embedded once, with and without negation.

    The phrases are the ones spotdiff's concept-bank proposer reads in that space (the model's own vocabulary
    when its registry entry names one, else the shipped concept bank), so every method chooses among the same
    words. ``vectors(space)`` returns (phrases, T, T_neg): T of shape (n_phrases, dim), unit phrase vectors
    averaged over the model's prompt templates; T_neg the same for the negated phrases.
    """

    def __init__(self, phrases: Sequence[str] | None = None):
        self.phrases = tuple(phrases) if phrases is not None else None
        self._by_space: dict[str, tuple[tuple[str, ...], np.ndarray, np.ndarray]] = {}

    def vectors(self, space: Space) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        if space.name not in self._by_space:
            evidence = SpaceEvidence(name=space.name, X_a=space.X[:0], X_b=space.X[:0], images_a=(), images_b=(),
                                     text_encoder=space.text_encoder, vocabulary=space.vocabulary,
                                     prompt_templates=space.prompt_templates or ("a photo of {}.",))
            phrases = self.phrases or vocabulary_for(evidence)
            T = embed_phrases(evidence, phrases)
            T_neg = embed_phrases(evidence, [negate(p) for p in phrases])
            self._by_space[space.name] = (phrases, T, T_neg)
        return self._by_space[space.name]


def negate(phrase: str) -> str:
    """GSCLIP's negated sentence, in the form the concept bank's phrases allow: "no stars", "no blurry image"."""
    for article in ("a ", "an ", "the "):
        if phrase.startswith(article):
            phrase = phrase[len(article):]
            break
    return f"no {phrase}"


def _unavailable() -> MethodAnswer:
    return MethodAnswer((), 0, 0.0, available=False)


def visdiff_embedding(data: PairData, bank: PhraseBank) -> MethodAnswer:
    space = data.text_space()
    if space is None:
        return _unavailable()
    start = time.perf_counter()
    phrases, T, _ = bank.vectors(space)
    X, y = np.asarray(space.X, dtype=np.float64), data.y
    diff = X[y].mean(axis=0) - X[~y].mean(axis=0)
    cosine = T @ (diff / max(np.linalg.norm(diff), 1e-12))
    order = np.argsort(-np.abs(cosine), kind="stable")[:MAX_CLAIMS]
    claims = tuple(Claim(phrases[i], "b" if cosine[i] > 0 else "a", float(cosine[i])) for i in order)
    return MethodAnswer(claims, len(claims), time.perf_counter() - start)


def gsclip(data: PairData, bank: PhraseBank) -> MethodAnswer:
    space = data.text_space()
    if space is None:
        return _unavailable()
    start = time.perf_counter()
    phrases, T, T_neg = bank.vectors(space)
    V = T - T_neg
    V /= np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-12)
    X, y = np.asarray(space.X, dtype=np.float64), data.y
    P = X @ V.T  # (n_images, n_phrases)
    with np.errstate(invalid="ignore", divide="ignore"):
        t, p = stats.ttest_ind(P[y], P[~y], axis=0, equal_var=False)
    t, p = np.nan_to_num(t, nan=0.0), np.nan_to_num(p, nan=1.0)
    order = np.argsort(-np.abs(t), kind="stable")[:MAX_CLAIMS]
    claims = tuple(Claim(phrases[i], "b" if t[i] > 0 else "a", float(t[i])) for i in order)
    # the asserted ones: the leading claims with p < 0.05 (p falls as |t| grows, up to Welch's degrees of freedom)
    n_asserted = next((k for k, i in enumerate(order) if p[i] >= GSCLIP_P), len(order))
    return MethodAnswer(claims, n_asserted, time.perf_counter() - start)


def decoder_validated(data: PairData, seed: int, decoder: DecoderProposer | None) -> MethodAnswer:
    """The decoder's first statements, from the discovery half, validated on the held-out half; in its order."""
    if decoder is None:
        return _unavailable()
    start = time.perf_counter()
    split = Split.make(len(data.images_a), len(data.images_b), seed=seed, heldout_fraction=0.5)
    request = replace(bench_request(seed), regions=False)
    analysis = run(analyse(data.spaces, data.images_a, data.images_b, split, request, [decoder]))
    supported = sorted((f for f in analysis.findings if f.supported), key=lambda f: f.hypothesis.rank or 0)
    claims = tuple(Claim(f.statement, f.more_in, f.q_value) for f in supported)
    return MethodAnswer(claims, len(claims), time.perf_counter() - start)


def decoder_ranking(data: PairData, decoder: DecoderProposer | None) -> MethodAnswer:
    """The decoder's ranking of every statement over all images, no validation: it asserts every claim it ranks."""
    if decoder is None:
        return _unavailable()
    start = time.perf_counter()
    n_a = len(data.images_a)
    spaces = [SpaceEvidence(s.name, s.X[:n_a], s.X[n_a:], data.images_a, data.images_b,
                            feature_names=s.feature_names, text_encoder=s.text_encoder,
                            prompt_templates=s.prompt_templates or ("a photo of {}.",), vocabulary=s.vocabulary)
              for s in data.spaces if s.name in decoder.reads]
    c = candidates(spaces)  # a measurements-only decoder reads spaces without text: their names are its words
    if c is None:
        return MethodAnswer((), 0, time.perf_counter() - start)
    order = np.argsort(-decoder.decoder.scores(c.X), kind="stable")[:MAX_CLAIMS]
    claims = tuple(Claim(c.statements[i], c.more_in[i], float(k)) for k, i in enumerate(order, start=1))
    return MethodAnswer(claims, len(claims), time.perf_counter() - start)


def run_methods(data: PairData, bank: PhraseBank, seed: int, methods: Sequence[str] = METHODS,
                decoder: DecoderProposer | None = None) -> dict[str, MethodAnswer]:
    """Every method on one pair; ``decoder``: the decoder for the pair's model, if one ships."""
    table = {"spotdiff": lambda: spotdiff(data, seed, decoder), "visdiff-embedding": lambda: visdiff_embedding(data, bank),
             "gsclip": lambda: gsclip(data, bank), "no-heldout": lambda: no_heldout(data, seed),
             "no-decoder": lambda: spotdiff(data, seed) if decoder is not None else _unavailable(),
             "decoder": lambda: decoder_validated(data, seed, decoder),
             "decoder-ranking": lambda: decoder_ranking(data, decoder)}
    return {m: table[m]() for m in methods}
