"""compare(request): images → embeddings → directions → hypotheses → validated findings.

A generator: it yields Progress and returns a Result. Stop iterating and
``close()`` it to cancel; the cache keeps every finished batch.
"""

from __future__ import annotations

import time
import os
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FuturesTimeout
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import ClassVar, Protocol, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from .analysis import contrast, heatmap
from .analysis.acquisition import acquisition_space
from .analysis.domain import DomainCheck, check_domain
from .analysis.library import FeatureLibrary
from .analysis.proposers import ConceptBankProposer, Evidence, MeasurementProposer, Proposer, SpaceEvidence
from .analysis.proposers.acquisition import AcquisitionProposer
from .analysis.proposers.base import SlowProposer
from .analysis.decoder.proposer import DecoderProposer
from .analysis.proposers.library import LibraryProposer
from .analysis.proposers.vlm import VLMProposer, stopped_warning
from .analysis.result import Cluster, Direction, Separability
from .comparison import Result
from .analysis.validate import DEFAULT_ALPHA, DEFAULT_MIN_EFFECT, Half, Split, validate
from .errors import InvalidParameterError, UnreadableImageError, VLMStoppedError
from .io.images import ImageRecord, ImageSet, find_leaks, scan_image_set
from .io.medical import ReadOptions
from .models.cache import EmbeddingCache
from .models.embedders.base import Embedder, PatchEmbedder, TextEmbedder, TextEncoder
from .models.embedders.measurements import MEASUREMENTS as MEASUREMENT_DEFINITIONS
from .models.embedding import CachedTextEncoder, embed_images
from .models.host import ModelHost
from .models.offline import hub_offline
from .models.registry import default_model, get_model_spec
from .params import BOOL, NONE, PATH, PATHS, TEXT, Constraint, InstanceOf, Interval, Options, validate_params
from .progress import Progress, Work, relay
from .analysis.explain import explain
from .analysis.regions import region_stage
from .analysis.replant import Replanter
from .spaces import ACQUISITION, MEASUREMENTS, REGIONS


# Per set. At 25,000 held-out images a set, a held-out AUROC of 0.52 is already significant, and the analysis's time
# and memory grow with the images (spotdiff.cluster's stores of millions: benchmarks/cluster_scale.py --analyse).
DEFAULT_MAX_IMAGES = 50_000


@dataclass(frozen=True)
class CompareRequest:
    """Everything one comparison needs; captured up front, shared by no one.

    set_a, set_b : folders and/or image files of each set
    model : registry name of the embedding model; "measurements" needs no weights; default (None): the
        embedded default (:func:`spotdiff.models.registry.default_model`), as the command line and the app use
    measurements : also compare the named image measurements (always cheap)
    read_options : how multi-frame DICOM files and volumes become images (spotdiff.io.medical.ReadOptions)
    acquisition : also compare the images' acquisition tags (DICOM scanner, protocol, ...) as
        possible confounders, when they have any
    regions : also look for small regions that one set's images hold and the other's do not, and name them
        by what they look like (spotdiff.analysis.regions)
    max_images : analyse at most this many images of each set, drawn at random by ``seed`` before anything is
        embedded (a set of a million images is then read, not embedded; the report says so); None or 0: all
    vlm : registry name of a vision-language model (kind "vlm") that also proposes hypotheses, or None
    decoder : registry name of a decoder (kind "decoder", spotdiff.analysis.decoder) that proposes the statements
        it ranks first; "auto": the one trained for ``model`` if any (the user's own first); "none": no decoder
    """

    set_a: tuple[Path, ...]
    set_b: tuple[Path, ...]
    model: str | None = None
    measurements: bool = True
    weights: Path | None = None
    precision: str = "auto"
    seed: int = 0
    heldout_fraction: float = 0.5
    alpha: float = DEFAULT_ALPHA
    min_effect: float = DEFAULT_MIN_EFFECT
    n_permutations: int = 200
    n_directions: int = 3
    n_exemplars: int = 6
    min_images: int = 8
    use_cache: bool = True
    cache_dir: Path | None = None
    vlm: str | None = None
    decoder: str = "auto"
    read_options: ReadOptions = ReadOptions()
    acquisition: bool = True
    regions: bool = True
    max_images: int | None = DEFAULT_MAX_IMAGES
    extra: dict = field(default_factory=dict, compare=False)

    #: what each field may be (checked in __post_init__; the error names the field, the value and this)
    PARAMETER_CONSTRAINTS: ClassVar[dict[str, list[Constraint]]] = {
        "set_a": [PATH, PATHS], "set_b": [PATH, PATHS], "model": [TEXT, NONE], "measurements": [BOOL],
        "weights": [PATH, NONE], "precision": [Options(("auto", "bf16", "fp32"))],
        "seed": [Interval(int, 0, None)], "heldout_fraction": [Interval(float, 0.1, 0.9)],
        "alpha": [Interval(float, 0, 1, closed="neither")], "min_effect": [Interval(float, 0, 0.5, closed="left")],
        "n_permutations": [Interval(int, 19, None)], "n_directions": [Interval(int, 1, 50)],
        "n_exemplars": [Interval(int, 1, 100)], "min_images": [Interval(int, 2, None)], "use_cache": [BOOL],
        "cache_dir": [PATH, NONE], "vlm": [TEXT, NONE], "decoder": [TEXT], "read_options": [InstanceOf((ReadOptions,))],
        "acquisition": [BOOL], "regions": [BOOL], "max_images": [Interval(int, 0, None), NONE],
        "extra": [InstanceOf((dict,))],
    }

    def __post_init__(self):
        validate_params({f.name: getattr(self, f.name) for f in fields(self)}, self.PARAMETER_CONSTRAINTS)
        for name in ("set_a", "set_b"):
            value = getattr(self, name)
            paths = (value,) if isinstance(value, (str, os.PathLike)) else tuple(value)
            object.__setattr__(self, name, tuple(Path(p) for p in paths))
        for name in ("weights", "cache_dir"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))
        if self.model is None:
            object.__setattr__(self, "model", default_model())

    def settings(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k not in ("set_a", "set_b", "extra", "cache_dir")}
        out["weights"] = str(self.weights) if self.weights else None
        return out


def default_proposers(vlm=None, library: FeatureLibrary | None = None,
                      decoder: DecoderProposer | None = None) -> list[Proposer]:
    """The measurement, acquisition and concept-bank proposers, after the feature library's when it has
    confirmed features (first, so a re-proposed feature keeps source "library" when another proposer repeats
    it) and the decoder's when one is given (next, so a claim it ranks keeps source "decoder" and its rank);
    last, the vision-language model's when ``vlm`` (a loaded spotdiff.models.vlm.VisionLanguageModel) is given.
    The acquisition proposer proposes only when the images carry acquisition tags (DICOM, NIfTI, arrays)."""
    confirmed = LibraryProposer.from_library(library) if library is not None else None
    out = ([confirmed] if confirmed is not None else []) + ([decoder] if decoder is not None else []) + [
        MeasurementProposer(), AcquisitionProposer(), ConceptBankProposer()]
    if vlm is not None:
        out.append(VLMProposer(vlm))
    return out


class EmbeddedSets(Protocol):
    """Two image sets embedded beforehand (spotdiff.cluster's stores): the comparison reads their records and
    vectors instead of scanning and embedding the images.

    set_a, set_b : the sets as a scan would have found them (images in scan order, skipped files with reasons)
    pixels : whether the images' pixels can still be read (from their files, or copies kept with the vectors);
        where not, the steps that need pixels (the region stage, re-planting causes, heat maps) are left out with a
        warning and thumbnails say the file is missing
    warnings : what the report should say about where the vectors and pixels came from
    """

    set_a: ImageSet
    set_b: ImageSet
    pixels: bool
    warnings: tuple[str, ...]

    def exemplars(self, findings: Sequence, n: int) -> list:
        """``findings`` with exemplars chosen from every image the discovery half did not see (a store read as a
        draw holds more than the comparison analysed)."""
        ...

    def vectors(self, embedder: Embedder) -> np.ndarray:
        """ndarray of shape (n_a + n_b, embedder.dim) in ``set_a.images + set_b.images`` order, embedded with
        ``embedder.cache_key``; raises an InputError when the stores hold no vectors of that key."""
        ...


@dataclass(frozen=True)
class Space:
    """One embedding space of a comparison: the vectors of every image and what reads them.

    X : ndarray of shape (n_a + n_b, dim), set A's images first
    feature_names : names of the dimensions when each one means something
    text_encoder : places phrases in this space, or None
    vocabulary : the phrases the text encoder can read, when it cannot read any (a toy model)
    """

    name: str
    X: np.ndarray = field(repr=False)
    feature_names: tuple[str, ...] | None = None
    text_encoder: object | None = None
    prompt_templates: tuple[str, ...] = ()
    vocabulary: tuple[str, ...] | None = None

    @classmethod
    def of(cls, name: str, X: np.ndarray, embedder: Embedder, cache: EmbeddingCache | None,
           text_encoder: TextEncoder | None = None) -> "Space":
        """The space of ``embedder``'s vectors ``X``; a CLIP-like one reads phrases through ``text_encoder``
        (default: its own, behind the embedding cache)."""
        if not isinstance(embedder, TextEmbedder):
            return cls(name, X, embedder.feature_names)
        text_encoder = text_encoder or CachedTextEncoder(embedder, embedder.cache_key, embedder.dim, cache)
        return cls(name, X, embedder.feature_names, text_encoder, tuple(embedder.prompt_templates or ()),
                   embedder.vocabulary)


@dataclass(frozen=True)
class Analysis:
    separability: tuple[Separability, ...]
    directions: tuple[Direction, ...]
    clusters: tuple[Cluster, ...]
    findings: tuple
    warnings: tuple[str, ...] = ()  # from proposers (e.g. a VLM that could not be used)
    fitted_spaces: dict = field(default_factory=dict)  # spaces fitted on the discovery half: {"regions": X}
    timings: dict = field(default_factory=dict)  # seconds of its parts: "analyse: phrases", "analyse: regions", ...


def compare_steps(request: CompareRequest, *, host: ModelHost | None = None, cache: EmbeddingCache | None = None,
                  proposers: Sequence[Proposer] | None = None, library: FeatureLibrary | None = None,
                  embedded: EmbeddedSets | None = None) -> Work[Result]:
    """Run one comparison; yields Progress, returns Result.

    library : a feature library whose confirmed features are proposed again (nothing is read implicitly:
        the command line and the desktop app pass the user's); ignored when ``proposers`` is given
    embedded : the sets and their vectors, embedded beforehand (``spotdiff embed``; spotdiff.cluster): nothing is
        scanned or embedded, ``request.set_a``/``set_b`` only name them

    It opens no network connection: the Hugging Face libraries are offline throughout
    (spotdiff.models.offline); only ``spotdiff models pull`` downloads.

    numpy's and scipy's BLAS run on one thread throughout: the analysis's matrices are small (images x dimensions),
    and beside another busy process two BLAS threads waiting on each other made the separability test ~100x slower
    (4.4 s against 0.05 s for 2 x 100 images, 128 dimensions, on 2 cores).
    """
    with hub_offline(), threadpool_limits(limits=1, user_api="blas"):
        return (yield from _compare(request, host=host, cache=cache, proposers=proposers, library=library,
                                    embedded=embedded))


def _compare(request: CompareRequest, *, host: ModelHost | None, cache: EmbeddingCache | None,
             proposers: Sequence[Proposer] | None, library: FeatureLibrary | None,
             embedded: EmbeddedSets | None) -> Work[Result]:
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = round(now - clock, 3)
        clock = now

    own_host = host is None
    host = host or ModelHost()
    own_cache = cache is None and request.use_cache
    if own_cache:
        cache = EmbeddingCache(request.cache_dir)
    try:
        if embedded is None:
            set_a = yield from relay(scan_image_set(request.set_a, "a", min_images=request.min_images,
                                                    read_options=request.read_options), "scan a")
            set_b = yield from relay(scan_image_set(request.set_b, "b", min_images=request.min_images,
                                                    read_options=request.read_options), "scan b")
            set_a, set_b = set_a.drawn(request.max_images, request.seed), set_b.drawn(request.max_images, request.seed)
        else:  # drawn as they were read (spotdiff.cluster.store.read_store), with the same rows
            set_a, set_b = embedded.set_a, embedded.set_b
        pixels = embedded is None or embedded.pixels
        leaks = find_leaks(set_a, set_b)
        lap("scan")

        names = [request.model] + ([MEASUREMENTS] if request.measurements and request.model != MEASUREMENTS else [])
        spaces, cache_keys = [], {}
        for name in names:
            yield Progress("load model", 0, 0, name)
            embedder = host.embedder(name, weights=request.weights if name == request.model else None,
                                     precision=request.precision)
            X = embedded.vectors(embedder) if embedded is not None else \
                (yield from relay(embed_images(embedder, set_a.images + set_b.images, cache), f"embed {name}"))
            spaces.append(Space.of(name, X, embedder, cache))
            cache_keys[name] = embedder.cache_key
        lap("embed")

        acquisition = acquisition_space([r.metadata for r in set_a.images + set_b.images]) \
            if request.acquisition else None
        if acquisition is not None:
            spaces.append(Space(ACQUISITION, acquisition.X, acquisition.feature_names))

        split = Split.make(len(set_a), len(set_b), seed=request.seed, heldout_fraction=request.heldout_fraction,
                           groups_a=_file_groups(set_a), groups_b=_file_groups(set_b))
        domain, domain_warnings = yield from _check_domain(host, request, spaces, split, set_a.images + set_b.images,
                                                           cache)
        if domain is not None and not domain.in_domain:  # its words are not used: spotdiff.analysis.domain says why
            spaces = [replace(s, text_encoder=None) if s.name == request.model else s for s in spaces]
        vlm, vlm_warnings = None, []
        if proposers is None:
            if request.vlm and pixels:  # it reads the exemplars' pixels
                yield Progress("load model", 0, 0, request.vlm)
                vlm, vlm_warnings = _open_vlm(host, request.vlm)
            proposers = default_proposers(vlm=vlm, library=library,
                                          decoder=DecoderProposer.find(request.model, request.decoder))
        replanter = Replanter({name: host.embedder(name, weights=request.weights if name == request.model else None,
                                                   precision=request.precision) for name in names},
                              seed=request.seed, cache=cache) if pixels else None
        try:
            analysis = yield from analyse(spaces, set_a.images, set_b.images, split,
                                          request if pixels else replace(request, regions=False), proposers,
                                          replanter, cache)
        finally:
            if replanter is not None:
                replanter.close()
        if embedded is not None:  # exemplars from the images a draw left out too
            analysis = replace(analysis, findings=tuple(embedded.exemplars(analysis.findings, request.n_exemplars)))
        lap("analyse")
        maps, map_warnings = {}, []
        if pixels:
            maps, map_warnings = yield from _heatmaps(host, request, analysis, cache, spent_s=sum(timings.values()))
        lap("heatmaps")

        settings = request.settings()
        settings["spaces"] = cache_keys
        settings["n_discovery"] = {"a": int((~split.heldout_a).sum()), "b": int((~split.heldout_b).sum())}
        settings["n_heldout"] = {"a": int(split.heldout_a.sum()), "b": int(split.heldout_b.sum())}
        timings["total"] = round(sum(timings[k] for k in ("scan", "embed", "analyse", "heatmaps")), 3)
        timings.update(analysis.timings)  # parts of "analyse", reported apart
        n_supported = sum(f.supported for f in analysis.findings)
        yield Progress("done", 1, 1, f"{n_supported} supported findings")
        return Result(set_a=set_a, set_b=set_b, settings=settings, leaks=leaks,
                      separability=analysis.separability, directions=analysis.directions,
                      clusters=analysis.clusters, findings=analysis.findings, timings=timings,
                      warnings=tuple(_warnings(set_a, set_b, leaks, split) + vlm_warnings + list(analysis.warnings)
                                     + map_warnings + domain_warnings + ([] if pixels else [NO_PIXELS])
                                     + (list(embedded.warnings) if embedded is not None else [])),
                      embeddings={s.name: s.X for s in spaces}, heatmaps=maps, domain=domain)
    finally:
        if own_cache and cache is not None:
            cache.close()
        if own_host:
            host.close()


def _open_vlm(host: ModelHost, name: str) -> tuple[object | None, list[str]]:
    """The vision-language model, or None and a warning when its worker process died while loading it."""
    try:
        return host.vlm(name), []
    except VLMStoppedError as e:  # llama.cpp crashed or hung while loading: compare without it
        return None, [stopped_warning(name, e)]


NO_PIXELS = ("The images were compared from their stored vectors and their files cannot be read here, so the steps "
             "that read pixels were left out: exemplar pictures, small regions (and their claims), heat maps, "
             "re-planting causes and a vision-language model's proposals. The other claims are tested as a comparison of the images with --no-regions tests "
             "them; which supported findings are nested under which may differ, since explaining away could only "
             "use regression within each set.")
EXPLAIN_POLL_S = 0.25  # how often explaining away reports its progress
HEATMAP_SHARE = 0.15  # the most of a comparison's time its heat maps may take
MIN_HEATMAP_S = 3.0  # ... unless that is less than this


def _heatmaps(host: ModelHost, request: CompareRequest, analysis: Analysis, cache: EmbeddingCache | None,
              spent_s: float) -> Work[tuple[dict, list[str]]]:
    """Where in each shown exemplar its finding or direction lies, when the model has patch tokens.

    Only the exemplars of supported findings and of directions, so it costs a few dozen images, and at most
    HEATMAP_SHARE of the whole comparison (``spent_s`` seconds so far), or MIN_HEATMAP_S: maps not drawn by then
    are left out with a warning (the cache keeps the ones drawn, so a re-run draws the rest).
    A map is an extra: a model without patch tokens or an image gone since the scan gives a warning.
    """
    if request.model == MEASUREMENTS:
        return {}, []
    embedder = host.embedder(request.model, weights=request.weights, precision=request.precision)
    if not isinstance(embedder, PatchEmbedder):
        return {}, []
    wanted = heatmap.result_requests(request.model, analysis.findings, analysis.directions)
    budget = max(MIN_HEATMAP_S, spent_s * HEATMAP_SHARE / (1 - HEATMAP_SHARE))
    try:
        maps = yield from relay(heatmap.heatmaps(embedder, wanted, cache, budget_s=budget))
        n_wanted = sum(len(records) for _, records, _ in wanted)
        if len(maps) < n_wanted:
            return maps, [f"Heat maps were drawn for {len(maps)} of the {n_wanted} exemplar images: the others would "
                          f"have taken more than {budget:.0f} s ({HEATMAP_SHARE:.0%} of the comparison). Run the "
                          f"comparison again to draw them (the ones drawn are kept in the cache)."]
        return maps, []
    except InvalidParameterError as e:  # a vision tower without patch tokens
        return {}, [f"No heat maps of where the differences lie: model {request.model!r} has no per-patch "
                    f"vectors (that needs {e.expected})."]
    except UnreadableImageError as e:
        return {}, [f"No heat maps of where the differences lie: {e}"]


def analyse(spaces: Sequence[Space], images_a: tuple[ImageRecord, ...], images_b: tuple[ImageRecord, ...],
            split: Split, request: CompareRequest, proposers: Sequence[Proposer] | None = None,
            replanter: Replanter | None = None, cache: EmbeddingCache | None = None) -> Work[Analysis]:
    """Contrast analysis on the embeddings, proposals from the discovery half, validation on the held-out half,
    then explaining away (spotdiff.analysis.explain; with ``replanter``, by re-planting the causes spotdiff.synthetic.edits can make).

    cache : where the region stage keeps its fitted detectors (a re-run reads them); None: not kept"""
    n_a = len(images_a)
    y = np.r_[np.zeros(n_a), np.ones(len(images_b))].astype(bool)
    heldout = np.r_[split.heldout_a, split.heldout_b]
    images = tuple(images_a) + tuple(images_b)
    evidence_spaces, separability, directions, clusters = {}, [], [], []
    for i, space in enumerate(spaces):
        yield Progress("contrast", i, len(spaces), space.name)
        evidence, sep = _analyse_space(space, y, heldout, images, request)
        evidence_spaces[space.name] = evidence
        separability.append(sep)
        directions.extend(evidence.directions)
        clusters.extend(evidence.clusters)

    evidence = Evidence(spaces=evidence_spaces, separability=tuple(separability), seed=request.seed)
    hypotheses, proposer_warnings = [], []
    for proposer in proposers if proposers is not None else default_proposers():
        yield Progress("propose", 0, 0, proposer.name)
        if isinstance(proposer, SlowProposer):  # a VLM: reports progress, can be cancelled, may warn
            hypotheses.extend((yield from proposer.propose_work(evidence)))
            proposer_warnings.extend(proposer.warnings_)
        else:
            hypotheses.extend(proposer.propose(evidence))

    embeddings = {s.name: np.asarray(s.X) for s in spaces}
    parts = {"analyse: phrases": sum(getattr(s.text_encoder, "seconds_", 0.0) for s in spaces)}
    clock = time.perf_counter()
    if request.regions:  # a space of its own, fitted on the discovery half: no separability test, no directions
        regions = yield from region_stage(images_a, images_b, split.heldout_a, split.heldout_b, seed=request.seed,
                                          cache=cache)
        hypotheses.extend(regions.hypotheses)
        embeddings[REGIONS] = regions.X
        if replanter is not None:  # a re-planted cause is looked at by the region detectors too
            replanter.scorers[REGIONS] = (regions.score, regions.key)
        parts["analyse: regions"] = time.perf_counter() - clock

    yield Progress("validate", 0, len(hypotheses), f"{len(hypotheses)} hypotheses")
    def half(mask_a: np.ndarray, mask_b: np.ndarray) -> Half:
        """The images of each set that ``mask_a`` / ``mask_b`` pick, and their embeddings in every space."""
        return Half(images_a=tuple(im for im, m in zip(images_a, mask_a) if m),
                    images_b=tuple(im for im, m in zip(images_b, mask_b) if m),
                    embeddings_a={name: X[:n_a][mask_a] for name, X in embeddings.items()},
                    embeddings_b={name: X[n_a:][mask_b] for name, X in embeddings.items()})

    held = half(split.heldout_a, split.heldout_b)
    discovery = half(~split.heldout_a, ~split.heldout_b)
    findings = validate(hypotheses, held, alpha=request.alpha, min_effect=request.min_effect,
                        n_exemplars=request.n_exemplars, discovery=discovery)
    yield Progress("explain", 0, 0, f"{sum(f.supported for f in findings)} supported findings")
    clock = time.perf_counter()
    findings = yield from _explained(findings, discovery, held, request, replanter)
    parts["analyse: explain"] = time.perf_counter() - clock
    return Analysis(tuple(separability), tuple(directions), tuple(clusters), tuple(findings),
                    tuple(proposer_warnings), {k: X for k, X in embeddings.items() if k == REGIONS},
                    {k: round(v, 3) for k, v in parts.items()})


def _explained(findings: Sequence, discovery: Half, held: Half, request: CompareRequest,
               replanter: Replanter | None) -> Work[list]:
    """:func:`spotdiff.analysis.explain.explain`, which re-plants causes and embeds the planted images (the longest
    step of a cold comparison), on a thread of its own: this step reports how many images have been planted
    and, when it is closed (cancel), stops the re-planting at its next image."""
    if replanter is None:
        return explain(findings, discovery, held, alpha=request.alpha, seed=request.seed)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spotdiff-explain")
    future = pool.submit(explain, findings, discovery, held, alpha=request.alpha, replanter=replanter,
                         seed=request.seed)
    try:
        while True:
            try:
                return future.result(timeout=EXPLAIN_POLL_S)
            except FuturesTimeout:
                yield Progress("explain", replanter.n_embedded_, 0,
                               f"re-planting the causes: {replanter.n_embedded_} images planted and embedded")
    finally:
        replanter.stop()
        pool.shutdown(wait=True)


def _analyse_space(space: Space, y: np.ndarray, heldout: np.ndarray, images: tuple[ImageRecord, ...],
                   request: CompareRequest) -> tuple[SpaceEvidence, Separability]:
    name, X = space.name, np.asarray(space.X)
    named = space.feature_names is not None
    standardizer = contrast.Standardizer.fit(X, scale=named)  # label-free
    Z = standardizer.transform(X)
    auroc, p = contrast.separability_test(Z, y, n_permutations=request.n_permutations, seed=request.seed)
    sep = Separability(space=name, auroc=auroc, p_value=p, n_permutations=request.n_permutations)

    disc = ~heldout
    Zd, yd = Z[disc], y[disc]
    disc_images = tuple(im for im, d in zip(images, disc) if d)
    idx_a, idx_b = np.flatnonzero(~yd), np.flatnonzero(yd)
    k_ex = request.n_exemplars
    typ_a = tuple(disc_images[i] for i in idx_a[contrast.nearest(Zd[idx_a], Zd[idx_a].mean(0), k_ex, metric="l2")])
    typ_b = tuple(disc_images[i] for i in idx_b[contrast.nearest(Zd[idx_b], Zd[idx_b].mean(0), k_ex, metric="l2")])
    directions = []
    for k, (w, cv) in enumerate(contrast.find_directions(Zd, yd, n_directions=request.n_directions,
                                                         seed=request.seed)):
        raw = standardizer.to_raw(w)
        ex_b = idx_b[contrast.nearest(Zd[idx_b], w, k_ex)]
        ex_a = idx_a[contrast.nearest(Zd[idx_a], -w, k_ex)]
        directions.append(Direction(
            space=name, index=k, vector=(raw / np.linalg.norm(raw)).astype(np.float32), discovery_auroc=cv,
            heldout_auroc=contrast.direction_heldout_auroc(Z[heldout], y[heldout], w),
            exemplars_a=tuple(disc_images[i] for i in ex_a), exemplars_b=tuple(disc_images[i] for i in ex_b),
            typical_a=typ_a, typical_b=typ_b,
            concepts=_name_direction(space.feature_names, w) if named else (),
        ))
    clusters = []
    for c, info in enumerate(contrast.enriched_clusters(Zd, yd, seed=request.seed)):
        clusters.append(Cluster(space=name, index=c, n_a=info["n_a"], n_b=info["n_b"],
                                enrichment=float(info["enrichment"]), p_value=info["p_value"],
                                more_in="b" if info["enrichment"] > 1 else "a",
                                members=tuple(disc_images[i] for i in info["members"])))
    evidence = SpaceEvidence(
        name=name, X_a=X[disc & ~y], X_b=X[disc & y],
        images_a=tuple(disc_images[i] for i in idx_a), images_b=tuple(disc_images[i] for i in idx_b),
        feature_names=space.feature_names, text_encoder=space.text_encoder,
        prompt_templates=space.prompt_templates or ("a photo of {}.",), vocabulary=space.vocabulary,
        directions=tuple(directions), clusters=tuple(clusters),
    )
    return evidence, sep


def _name_direction(feature_names: Sequence[str], w: np.ndarray, n: int = 3) -> tuple[str, ...]:
    """Words for a direction in a named-feature space: its heaviest features, signed."""
    words = {m.name: m for m in MEASUREMENT_DEFINITIONS}
    out = []
    for i in np.argsort(-np.abs(w))[:n]:
        m = words.get(feature_names[i])
        if m is not None and abs(w[i]) > 0.2:
            out.append(m.higher if w[i] > 0 else m.lower)
    return tuple(out)


def _file_groups(image_set: ImageSet) -> list[Path] | None:
    """Each image's file when some file gave several (frames, slices), so a split keeps them together."""
    paths = [r.path for r in image_set.images]
    return paths if len(set(paths)) < len(paths) else None


def _check_domain(host: ModelHost, request: CompareRequest, spaces: Sequence[Space], split: Split,
                  images: tuple[ImageRecord, ...], cache: EmbeddingCache | None
                  ) -> Work[tuple[DomainCheck | None, list[str]]]:
    """Whether the discovery images belong to the model's domain (spotdiff.analysis.domain), and any warning;
    (None, []) for a model whose registry entry names no domain reference (the real CLIPs are not checked)."""
    spec = get_model_spec(request.model)
    if not spec.domain:
        return None, []
    by_name = {s.name: s for s in spaces}
    if MEASUREMENTS in by_name:
        measured, names = by_name[MEASUREMENTS].X, by_name[MEASUREMENTS].feature_names
    else:  # compared without measurements: the check still needs them (cached like any embedding)
        embedder = host.embedder(MEASUREMENTS)
        measured = yield from relay(embed_images(embedder, images, cache), "embed measurements")
        names = embedder.feature_names
    model = host.embedder(request.model, weights=request.weights, precision=request.precision)
    return check_domain(spec, model.weights_sha256, by_name[request.model].X, measured, names,
                        ~split.heldout_a, ~split.heldout_b)


def _warnings(set_a: ImageSet, set_b: ImageSet, leaks, split: Split) -> list[str]:
    out = []
    for s in (set_a, set_b):
        if s.n_found is not None:
            out.append(f"Set {s.label.upper()} holds {s.n_found:,} images; {len(s.images):,} of them, drawn at random "
                       f"(same seed, same draw), were analysed: every test, direction and subgroup is of those. "
                       f"At this size a test's power barely grows with more images while its time and "
                       f"memory do; max_images (--max-images, 0: all) changes it.")
    for s in (set_a, set_b):
        n_files = len({r.path for r in s.images})
        if n_files < len(s.images):
            out.append(f"Set {s.label.upper()}: {len(s.images)} images come from {n_files} files (frames or slices). "
                       "Held-out findings compare whole files, but the separability test and the directions "
                       "treat every image as independent, so their numbers are optimistic.")
    if leaks:
        out.append(f"{len(leaks)} identical file(s) appear in both sets (same content hash): one image "
                   "labelled as both sets usually means a copying or labelling error; see the list of leaks.")
    for s in (set_a, set_b):
        if s.skipped:
            out.append(f"Set {s.label.upper()}: {len(s.skipped)} file(s) skipped, see the list of skipped files.")
    n_small = min(int(split.heldout_a.sum()), int(split.heldout_b.sum()))
    if n_small < 20:
        out.append(f"Only {n_small} held-out images in the smaller set: only strong differences can be "
                   "confirmed; add images for more power.")
    return out
