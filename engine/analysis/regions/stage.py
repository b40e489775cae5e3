"""The region stage: which small parts of one set's images hold something the other set's never do, and what
those parts look like (a "regions" space of its own, for every embedding model, measurements-only included).

For each set in turn (regions in B that A lacks, then in A that B lacks):

1. **Where** (:mod:`.detector`): N_FOLDS pixel classifiers are fitted by multiple-instance learning, each on all
   but one fold of the discovery half; each scores the fold it did not see, so every discovery image gets an
   out-of-fold score, and every held-out image the COMBINE quantile of the first N_COMBINED classifiers' scores,
   pixel by pixel.
2. **Threshold**: the out-of-fold image score that best separates the sets' shares of images above it, with at
   most MAX_OTHER_SHARE of the other set above. A detector whose out-of-fold shares differ by less than
   MIN_DISCOVERY_SHIFT or with a one-sided Fisher p above MAX_DISCOVERY_P, whose evidence is spread over whole
   images (:func:`_global`), or whose regions cover more than MAX_AREA_PERCENT of an image (a global difference:
   the measurements' job), proposes nothing.
3. **What** (:mod:`.describe`): the regions of the discovery images above the threshold (out of fold) are
   measured and worded, from the regions that look like many others (:func:`.describe.typical_regions`): "tiny red rectangles (≈ 5 × 4 px), 2–4 per image".
4. **Claim**: a :class:`~spotdiff.analysis.result.Hypothesis` in the "regions" space, tested like every claim on
   the held-out images: Fisher's exact test of the share of images whose score reaches the threshold.

Nothing here sees a held-out image before the detector and its threshold are fixed.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from ...io.images import ImageRecord
from ...models.cache import EmbeddingCache, code_fingerprint, result_key
from ...parallel import Pool
from ...progress import Progress, Work
from ...spaces import REGIONS
from ..result import Hypothesis
from ..stats import fisher_greater_counts
from .describe import Region, find_regions, measure, merge, refine, statement, summarise
from .detector import Candidates, PixelClassifier, candidate_bars, fit_classifiers, image_score
from .features import edge_strength, load_rgb, outlier_scores_of, pixel_features

N_FOLDS = 4
COMBINE = 0.75
N_COMBINED = 4  # of the N_FOLDS classifiers, how many score an image outside the discovery half (held out, new)
MAX_FIT_IMAGES = 60  # per set: the most images a classifier is fitted on
FIT_POOL = -(-MAX_FIT_IMAGES * N_FOLDS // (N_FOLDS - 1))  # per set: the discovery images the classifiers learn from
MAX_BAR_IMAGES = 250  # per set: the most discovery images the candidate bars are drawn from
CHUNK = 64  # held-out images scored per batch
BAR_SAMPLE = 2000  # pixels per discovery image for the candidate bars
MAX_OTHER_SHARE = 0.1
MIN_DISCOVERY_SHIFT = 0.1
MAX_DISCOVERY_P = 0.05
MAX_AREA_PERCENT = 20.0
GLOBAL_AUROC = 0.75
LOCATION_GRID = 32
RESULT = "regions"  # the cache's kind of result for a fitted stage


@dataclass(frozen=True)
class RegionDetector:
    """A fitted detector of regions that set ``toward``'s images hold: the highest of its classifiers' scores of an
    image's candidate pixels, regions where they reach ``threshold`` (seeds) and their neighbours
    (:func:`.describe.find_regions`)."""

    toward: str
    classifiers: tuple[PixelClassifier, ...] = field(repr=False)
    threshold: float
    bars: np.ndarray = field(default=None, repr=False)  # candidate bars (detector.candidate_bars)

    def __getstate__(self) -> dict:
        """Pickled (as the cache keeps a stage's result) with its classifiers as a pickle of their own, which is
        read on first use (:meth:`__getattr__`): a re-run that reads the result from the cache and scores no
        image with them never imports scikit-learn (~0.5 s)."""
        state = dict(self.__dict__)
        classifiers = state.pop("classifiers", None)
        if "_classifiers_pickle" not in state:
            state["_classifiers_pickle"] = pickle.dumps(classifiers, protocol=pickle.HIGHEST_PROTOCOL)
        return state

    def __getattr__(self, name: str):
        """``classifiers`` of a detector read from a pickle, unpickled now (only what is missing comes here)."""
        stored = self.__dict__.get("_classifiers_pickle") if name == "classifiers" else None
        if stored is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        classifiers = pickle.loads(stored)
        object.__setattr__(self, "classifiers", classifiers)
        return classifiers

    def scores(self, images: Sequence[Candidates], *, map: Callable = map) -> list[np.ndarray]:
        """Each image's candidate scores: the COMBINE quantile of the first N_COMBINED classifiers' (each was
        fitted on all but one fold of the discovery images). ``map``: how the classifiers are run over
        (:meth:`spotdiff.parallel.Pool.map` to run them side by side)."""
        per = list(map(lambda c: c.image_scores(images), self.classifiers[:N_COMBINED]))
        return [np.quantile(s, COMBINE, axis=0) for s in zip(*per)]

    def locate(self, image: ImageRecord) -> tuple[np.ndarray, list[Region]]:
        """The mask (height, width) of the regions of ``image`` at its own size, and the regions."""
        rgb, found = _read(image, self.bars)
        labels, regions = _regions(rgb, found.to_map(self.scores([found])[0]), self.threshold, image)
        return _resize_mask(labels > 0, (image.width, image.height)), regions


def _resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.NEAREST)) > 127


def _regions(rgb: np.ndarray, pixel_map: np.ndarray, threshold: float, image: ImageRecord
             ) -> tuple[np.ndarray, list[Region]]:
    """The labelled regions (h, w) of ``pixel_map`` (scores of the candidate pixels, 0 elsewhere) and their
    measurements."""
    labels = merge(refine(find_regions(pixel_map, threshold)[0], rgb))
    scale = (image.width / rgb.shape[1], image.height / rgb.shape[0])
    return labels, measure(labels, rgb, edge_strength(rgb), scale, pixel_map)


@dataclass(frozen=True)
class RegionEvidence:
    """What the region stage gives the comparison.

    X : ndarray of shape (n_a + n_b, 2), set A's images first: each image's score towards B-like regions and
        towards A-like ones (out of fold on the discovery half, by the fitted detectors elsewhere)
    hypotheses : the region claims to test (each with its ``region`` summary)
    """

    X: np.ndarray
    hypotheses: tuple[Hypothesis, ...]
    detectors: tuple = field(default=(), repr=False)  # (column, RegionDetector, fold of each discovery image)
    key: str = ""  # what it was computed from (spotdiff.models.cache.result_key): names its scores in a cache

    def score(self, originals: Sequence[ImageRecord], edited: Sequence[ImageRecord]) -> np.ndarray:
        """The scores (n, 2) of ``edited`` images, as ``X`` holds them for ``originals`` (the same images before an
        edit: re-planting a cause, :mod:`spotdiff.analysis.replant`): out of fold for a discovery image, by the
        fitted detector otherwise; 0 in a column without a detector. Each image's pixels are read once, and each
        classifier scores all the images it scores in one call, the images and classifiers on a few threads."""
        out = np.zeros((len(edited), 2), dtype=np.float32)
        if not self.detectors:
            return out
        with Pool() as pool:
            features = list(pool.map(lambda image: pixel_features(load_rgb(image)), edited))
            for column, detector, folds in self.detectors:
                found = [Candidates.of(f, detector.bars) for f in features]
                fold = [folds.get(_key(original)) for original in originals]
                groups = [(k, [i for i, f in enumerate(fold) if f == k])
                          for k in sorted(set(fold), key=lambda f: -1 if f is None else f)]

                def scored(group: tuple) -> list[np.ndarray]:
                    k, rows = group
                    picked = [found[i] for i in rows]
                    return detector.scores(picked) if k is None else detector.classifiers[k].image_scores(picked)

                for (_, rows), scores in zip(groups, pool.map(scored, groups)):
                    for i, s in zip(rows, scores):
                        out[i, column] = image_score(s)
        return out


def _threshold(target: np.ndarray, other: np.ndarray) -> tuple[float, float, float]:
    """(threshold, share of target above, share of other above) that maximises the difference of the shares
    with at most MAX_OTHER_SHARE of ``other`` above it (an image holds regions when its score is above).

    The threshold lies half-way, on the logit scale, between the score it is chosen at and the next higher
    score of either set, so that the fitted detectors' scores (a quantile of N_COMBINED classifiers' scores) are not
    held to the edge of the out-of-fold ones.
    """
    target, other = np.asarray(target, np.float64), np.asarray(other, np.float64)
    values = np.unique(np.r_[target, other])
    best = (float("inf"), 0.0, 0.0)
    for j, t in enumerate(values[:-1]):
        st, so = float(np.mean(target > t)), float(np.mean(other > t))
        if so <= MAX_OTHER_SHARE and st - so > best[1] - best[2]:
            best = (float(_expit((_logit(t) + _logit(values[j + 1])) / 2)), st, so)
    return best


def _logit(p: float) -> float:
    p = min(max(float(p), 1e-7), 1 - 1e-7)
    return float(np.log(p / (1 - p)))


def _expit(z: float) -> float:
    return float(1 / (1 + np.exp(-z)))


def region_stage(images_a: Sequence[ImageRecord], images_b: Sequence[ImageRecord], heldout_a: np.ndarray,
                 heldout_b: np.ndarray, *, seed: int = 0, cache: EmbeddingCache | None = None
                 ) -> Work[RegionEvidence]:
    """Fit, threshold, describe and score the region detectors (module docstring); yields Progress("regions").

    cache : where the stage's result is kept, by the images (path and content), the split, the seed and this
        package's code, so that a re-run reads it instead of fitting again; None: computed and not kept
    """
    images = [[(str(r.path), r.frame, r.axis, r.content_hash) for r in rs] for rs in (images_a, images_b)]
    key = result_key(RESULT, code_fingerprint(__package__), seed, images,
                     [np.flatnonzero(np.asarray(h, bool)).tolist() for h in (heldout_a, heldout_b)])
    stored = cache.get_result(RESULT, key) if cache is not None else None
    if isinstance(stored, RegionEvidence):
        yield Progress("regions", 1, 1, "read from the cache")
        return stored
    evidence = replace((yield from _fit_regions(images_a, images_b, heldout_a, heldout_b, seed=seed)), key=key)
    if cache is not None:
        cache.put_result(RESULT, key, evidence)
    return evidence


def _fit_regions(images_a: Sequence[ImageRecord], images_b: Sequence[ImageRecord], heldout_a: np.ndarray,
                 heldout_b: np.ndarray, *, seed: int) -> Work[RegionEvidence]:
    """The stage itself (:func:`region_stage` without its cache), its pieces on a few threads
    (:class:`spotdiff.parallel.Pool`)."""
    with Pool() as pool:
        return (yield from _fit_regions_on(pool, images_a, images_b, heldout_a, heldout_b, seed=seed))


def _fit_regions_on(pool: Pool, images_a: Sequence[ImageRecord], images_b: Sequence[ImageRecord],
                    heldout_a: np.ndarray, heldout_b: np.ndarray, *, seed: int) -> Work[RegionEvidence]:
    """The stage itself (:func:`region_stage` without its cache).

    Memory does not grow with the sets, but for each discovery image's candidate places and out-of-fold scores (some
    20 kB an image): the candidate bars come from at most MAX_BAR_IMAGES discovery images of each
    set, the candidates of the FIT_POOL images the classifiers learn from are kept, and every other image is read,
    scored and let go CHUNK at a time. A discovery image's features are computed twice (for the candidate bars, then
    its candidates), and its regions measured from its out-of-fold scores; a held-out image's once.
    """
    images = (tuple(images_a), tuple(images_b))
    held = (np.asarray(heldout_a, bool), np.asarray(heldout_b, bool))
    rng = np.random.default_rng([seed, 0x2E61])
    shuffled = [rng.permutation(np.flatnonzero(~h)) for h in held]  # discovery indices of each set
    fold_of = [{int(i): k % N_FOLDS for k, i in enumerate(f)} for f in shuffled]
    total = len(images[0]) + len(images[1])
    progress = _Counter(total + sum(min(len(f), MAX_BAR_IMAGES) for f in shuffled))

    samples = []  # discovery pixels, for the candidate bars (label-free)
    bar_images = [images[s][i] for s in (0, 1) for i in map(int, shuffled[s][:MAX_BAR_IMAGES])]
    for outliers in pool.map(lambda image: outlier_scores_of(load_rgb(image)), bar_images):
        samples.append(outliers[rng.choice(len(outliers), min(len(outliers), BAR_SAMPLE), replace=False)])
        yield progress("learning where the sets differ")
    bars = candidate_bars(samples)
    fit_pool = [(s, i) for s in (0, 1) for i in map(int, shuffled[s][:FIT_POOL])]  # the images the fits learn from
    found = dict(zip(fit_pool, pool.map(lambda key: _read(images[key[0]][key[1]], bars)[1], fit_pool)))
    pairs = list(pool.map(lambda k: fit_classifiers(_outside(found, fold_of, 0, k), _outside(found, fold_of, 1, k),
                                                    seed=seed + k), range(N_FOLDS)))
    fitted = {"b": tuple(b for b, _ in pairs), "a": tuple(a for _, a in pairs)}

    X = np.zeros((total, 2), dtype=np.float32)
    typical: dict[str, tuple[list, list]] = {"a": ([], []), "b": ([], [])}  # per set: each image's median score
    out_of_fold: dict[str, dict] = {"a": {}, "b": {}}  # the target set's candidate scores, to measure regions with
    offsets = (0, len(images[0]))
    for s in (0, 1):  # out of fold: each classifier scores the fold it did not see
        order = list(map(int, shuffled[s]))
        for start in range(0, len(order), CHUNK):
            chunk = order[start:start + CHUNK]
            missing = [i for i in chunk if (s, i) not in found]
            candidates = {**{i: found.pop((s, i)) for i in chunk if (s, i) in found},
                          **dict(zip(missing, pool.map(lambda i: _read(images[s][i], bars)[1], missing)))}
            jobs = [(toward, k, [i for i in chunk if fold_of[s][i] == k]) for toward in ("b", "a")
                    for k in range(N_FOLDS)]
            scored = pool.map(lambda job: fitted[job[0]][job[1]].image_scores([candidates[i] for i in job[2]]), jobs)
            for (toward, k, keys), fold_scores in zip(jobs, scored):
                for i, scores in zip(keys, fold_scores):
                    X[offsets[s] + i, "ba".index(toward)] = image_score(scores)
                    typical[toward][s].append(float(np.median(scores)) if len(scores) else 0.0)
                    if s == "ab".index(toward):
                        out_of_fold[toward][i] = (Candidates(candidates[i].shape, candidates[i].index), scores)
            for _ in chunk:
                yield progress("scoring the discovery images")

    detectors, boxes, per_image = {}, {}, {}
    for column, toward in enumerate(("b", "a")):
        t, o = (1, 0) if toward == "b" else (0, 1)
        threshold, share_t, share_o = _threshold(X[offsets[t] + shuffled[t], column],
                                                 X[offsets[o] + shuffled[o], column])
        if _global(typical[toward][t], typical[toward][o]):
            continue  # most of the target's pixels look like it, not a few: a global difference
        if share_t - share_o < MIN_DISCOVERY_SHIFT or _discovery_p(share_t, len(shuffled[t]), share_o,
                                                                    len(shuffled[o])) > MAX_DISCOVERY_P:
            continue
        per_image[toward], boxes[toward] = [], {}
        for i in (i for i in map(int, shuffled[t]) if X[offsets[t] + i, column] > threshold):
            candidates, scores = out_of_fold[toward][i]  # as X holds them
            _, regions = _regions(load_rgb(images[t][i]), candidates.to_map(scores), threshold, images[t][i])
            per_image[toward].append((regions, (images[t][i].width, images[t][i].height)))
            boxes[toward][_key(images[t][i])] = tuple(r.box for r in regions)
        if per_image[toward] and _union_percent(per_image[toward]) <= MAX_AREA_PERCENT:
            detectors[toward] = (RegionDetector(toward, fitted[toward], threshold, bars), share_t, share_o)

    location = {toward: {"a": np.zeros((LOCATION_GRID,) * 2), "b": np.zeros((LOCATION_GRID,) * 2)}
                for toward in detectors}
    heldout = [(s, int(i)) for s in (0, 1) for i in np.flatnonzero(held[s])]
    for start in range(0, len(heldout), CHUNK):  # held out: scored once by each detector with a claim to test
        chunk = heldout[start:start + CHUNK]
        pixels, batch = [], []
        for rgb, c in pool.map(lambda key: _read(images[key[0]][key[1]], bars), chunk if detectors else []):
            pixels.append(rgb)
            batch.append(c)
        for _ in chunk:
            yield progress("scoring the held-out images")
        for column, toward in enumerate(("b", "a")):
            if toward not in detectors:
                continue
            detector = detectors[toward][0]
            for (s, i), rgb, c, scores in zip(chunk, pixels, batch, detector.scores(batch, map=pool.map)):
                X[offsets[s] + i, column] = image_score(scores)
                if X[offsets[s] + i, column] > detector.threshold:
                    labels, regions = _regions(rgb, c.to_map(scores), detector.threshold, images[s][i])
                    boxes[toward][_key(images[s][i])] = tuple(r.box for r in regions)
                    location[toward]["ab"[s]] += _resize_mask(labels > 0, (LOCATION_GRID, LOCATION_GRID))

    hypotheses = []
    for column, toward in enumerate(("b", "a")):
        if toward not in detectors:
            continue
        detector, share_t, share_o = detectors[toward]
        for s in (0, 1):
            location[toward]["ab"[s]] /= max(1, int(held[s].sum()))
        summary = summarise(per_image[toward], toward=toward, share_target=share_t, share_other=share_o,
                            threshold=detector.threshold)
        if summary is None:  # a detector, but no discovery image with a region to describe: nothing to claim
            continue
        summary = replace(summary, detector=detector, boxes=boxes[toward], location=location[toward])
        other = "a" if toward == "b" else "b"
        hypotheses.append(Hypothesis(
            statement=statement(summary), more_in=toward, source="regions", space=REGIONS,
            vector=np.eye(2, dtype=np.float32)[column],
            evidence=(f"out of fold on the discovery half, {share_t:.0%} of set {toward.upper()} and "
                      f"{share_o:.0%} of set {other.upper()} hold such regions"),
            test="fisher", threshold=detector.threshold, region=summary))
    folds = {_key(images[s][i]): fold_of[s][i] for s in (0, 1) for i in map(int, shuffled[s])}
    return RegionEvidence(X, tuple(hypotheses),
                          tuple((column, detectors[toward][0], folds) for column, toward in enumerate(("b", "a"))
                                if toward in detectors))


def _read(image: ImageRecord, bars: np.ndarray) -> tuple[np.ndarray, Candidates]:
    """An image's working pixels and its candidates."""
    rgb = load_rgb(image)
    return rgb, Candidates.of(pixel_features(rgb), bars)


class _Counter:
    def __init__(self, total: int):
        self.done, self.total = 0, total

    def __call__(self, what: str) -> Progress:
        self.done += 1
        return Progress("regions", self.done, self.total, what)


def _outside(found: dict, fold_of: list, s: int, k: int) -> list[Candidates]:
    """Set ``s``'s discovery images outside fold ``k`` (at most MAX_FIT_IMAGES): what classifier ``k`` learns
    from."""
    return [c for (s_, i), c in found.items() if s_ == s and fold_of[s][i] != k][:MAX_FIT_IMAGES]


def _global(target: Sequence[float], other: Sequence[float]) -> bool:
    """Whether a detector's evidence is spread over whole images: the target set's *typical* candidate pixel (each
    image's median score, out of fold) scores higher than the other set's in at least GLOBAL_AUROC of pairs of
    images. A pasted mark moves a few pixels' scores and leaves the median where it is; blur, darkening or a
    smaller image size move every pixel's, and those belong to the measurements (a region claim would only be
    their echo, e.g. "grey specks in A" for the grain that blurring B took away)."""
    target, other = np.asarray(target, float), np.asarray(other, float)
    if not len(target) or not len(other):
        return False
    greater = (target[:, None] > other[None, :]).mean() + 0.5 * (target[:, None] == other[None, :]).mean()
    return bool(greater >= GLOBAL_AUROC)


def _discovery_p(share_t: float, n_t: int, share_o: float, n_o: int) -> float:
    """One-sided Fisher p of the out-of-fold shares (a gate on what is worth testing, not a test: the
    threshold was chosen on these same scores)."""
    return float(fisher_greater_counts(round(share_t * n_t), n_t, round(share_o * n_o), n_o))


def _key(image: ImageRecord) -> tuple:
    return (str(image.path), image.frame, image.axis)


def _union_percent(per_image) -> float:
    """Median share (%) of an image its regions cover, over the images that hold any."""
    return float(np.median([100 * sum(r.area for r in rs) / (w * h) for rs, (w, h) in per_image])) \
        if per_image else 0.0
