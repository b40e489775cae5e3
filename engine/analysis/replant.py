"""Re-planting a cause: interventional evidence that one finding is a side effect of another.

When a finding names something spotdiff.synthetic.edits can make — blur, noise, JPEG, a colour cast, brightness,
a smaller size, rectangles, a watermark, vignetting, rotation — the edit can be planted into the images of
the set that lacks it, and those images embedded again with the comparison's own embedders. If "blurrier
in B" is the cause, blurring A's images must reproduce its echoes ("less noisy", "plainer"), and must not
reproduce a second, independent difference ("warmer"). Set membership alone cannot tell those apart when
the cause separates the sets completely; re-planting can.

The causes and their strengths are chosen on the discovery half (:func:`choose_causes`): greedily, the
plantable finding whose re-planting, at the strength that reproduces its own shift, reproduces most of the
other findings' shifts, then the next among those it leaves standing. :mod:`spotdiff.analysis.explain` then tests each
claim on held-out images with the causes planted into the other set.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from PIL import Image

from ..errors import Cancelled
from ..io.decoding import open_image
from ..synthetic.edits import get_edit
from ..models.cache import EmbeddingCache, code_fingerprint, result_key
from ..models.embedding import embed_images
from ..io.images import ImageRecord
from ..parallel import Pool
from ..progress import run
from .result import Finding
from .subgroups import is_share_claim
from .validate import Half, claim_effect, half_scores

MAX_CAUSES = 2
MAX_CANDIDATES = 3  # plantable findings tried per round, the strongest on the discovery half first
STRENGTHS = (0.3, 0.7)  # tried, then inter- or extrapolated to the strength that reproduces the cause's own shift
OWN_SHIFT_REPRODUCED = 0.5  # a cause must reproduce at least this share of its own discovery shift
N_BOOTSTRAP = 400
MAX_PLANTED = 150  # images of each set of a half that explaining away with re-planting looks at (sampled)
KEEP_PLANTED = 2  # sets of planted images kept on disk (the newest)
VARIANT = "replanted"  # the cache's kind of result for a re-planted half's vectors in one space

# statement pattern -> (edit, +1 when the claimed set has the edit, -1 when the other set has it)
PLANTABLE: tuple[tuple[str, str, int], ...] = (
    (r"small rectangles?|rectangles?", "rectangles", +1),
    (r"watermarks?|logos?", "shape-watermark", +1),
    (r"text overlay|lettering", "text-watermark", +1),
    (r"blurr(y|ier)|blurred|out of focus", "blur", +1),
    (r"sharper", "blur", -1),
    (r"warmer|warm tones|redder", "warm", +1),
    (r"cooler|cool tones|bluer", "cool", +1),
    (r"brighter|over-exposed", "brighter", +1),
    (r"darker|under-exposed", "darker", +1),
    (r"noisier|grainy|image noise", "noise", +1),
    (r"more jpeg-blocky|compression artifacts|jpeg artifacts", "jpeg", +1),
    (r"smaller \(fewer megapixels\)|narrower in pixels|shorter in pixels", "downscale", +1),
    (r"larger \(more megapixels\)|wider in pixels|taller in pixels", "downscale", -1),
    (r"vignett(e|ing)|darkened corners", "vignette", +1),
    (r"rotated|tilted", "rotate", +1),
    (r"more yellow|^red$", "warm", +1),  # "less red" is cooler, "less blue" warmer: named after the above
    (r"^blue$", "cool", +1),
)
_NEGATED = re.compile(r"^\s*(less|no|not|without)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class Cause:
    """A finding whose edit is re-planted: ``edit`` at ``strength`` into the images of set ``into``.

    index : position of the finding in the list it was chosen from
    """

    index: int
    edit: str
    strength: float
    into: str


def plantable(f: Finding) -> tuple[str, str] | None:
    """(edit, set to plant it into) for a finding an edit can make, else None. "less X" in B is X in A."""
    statement = f.statement.lower()
    sign = 1
    negated = _NEGATED.match(statement)
    if negated:
        statement, sign = statement[negated.end():], -1
    for pattern, edit, direction in PLANTABLE:
        if re.search(rf"(?<![\w-])({pattern})(?![\w-])", statement):
            has_it = f.more_in if sign * direction > 0 else ("a" if f.more_in == "b" else "b")
            return edit, "a" if has_it == "b" else "b"
    return None


def _rank(f: Finding) -> int:
    """Which PLANTABLE entry names the finding (earlier entries are the plainer names of an edit)."""
    statement = _NEGATED.sub("", f.statement.lower())
    return next((k for k, (pattern, _, _) in enumerate(PLANTABLE)
                 if re.search(rf"(?<![\w-])({pattern})(?![\w-])", statement)), len(PLANTABLE))


def claim_data(f: Finding, half: Half) -> tuple[np.ndarray, np.ndarray]:
    """A claim's per-file scores on ``half``, set A's first (0/1 above its threshold for a share claim), and
    which of them belong to the claimed set."""
    less, more = half_scores(f.hypothesis, half)[2:]
    f_a, f_b = (less, more) if f.more_in == "b" else (more, less)
    y = np.concatenate([f_a, f_b]).astype(np.float64)
    if is_share_claim(f.hypothesis):
        y = (y > f.hypothesis.threshold).astype(np.float64)
    claimed = np.r_[np.zeros(len(f_a)), np.ones(len(f_b))].astype(bool)
    return y, claimed if f.more_in == "b" else ~claimed


def _shift(y: np.ndarray, claimed: np.ndarray) -> float:
    return float(y[claimed].mean() - y[~claimed].mean())


def reproduced_share(f: Finding, half: Half, planted: Half, *, seed: int = 0) -> tuple[float, float, float]:
    """The share of the claim's shift on ``half`` that re-planting removes (1 = all of it: the planted images
    score like the claimed set), with a 95 % bootstrap interval over images (each image with its re-planted
    copy)."""
    y0, claimed = claim_data(f, half)
    y1 = claim_data(f, planted)[0]
    base = _shift(y0, claimed)
    if base == 0:
        return 0.0, 0.0, 0.0
    share = 1 - _shift(y1, claimed) / base
    rng = np.random.default_rng([seed, 0xB007])
    inside, outside = np.flatnonzero(claimed), np.flatnonzero(~claimed)
    picks = [rng.choice(group, (N_BOOTSTRAP, len(group))) for group in (inside, outside)]  # resampled images
    b0 = y0[picks[0]].mean(axis=1) - y0[picks[1]].mean(axis=1)
    b1 = y1[picks[0]].mean(axis=1) - y1[picks[1]].mean(axis=1)
    keep = b0 != 0
    boots = 1 - b1[keep] / b0[keep]
    low, high = np.percentile(boots, [2.5, 97.5]) if len(boots) else (share, share)
    return float(share), float(low), float(high)


class Replanter:
    """Plants edits into one half's images and embeds them with the comparison's embedders.

    embedders : space name -> spotdiff.models.embedders.Embedder (spaces without one, such as acquisition tags, are
        left as they were: an edit does not change them)
    scorers : space name -> (``f(originals, edited) -> ndarray (n, dim)``, a key naming it) for a space fitted on
        the discovery half, such as the region detectors' (spotdiff.analysis.regions.RegionEvidence.score and
        .key): set after construction
    cache : where each variant's vectors are kept (spotdiff.models.cache.EmbeddingCache results, by embedder, edits,
        seed and images), so that a re-run reads them instead of planting and embedding again; None: not kept
    Variants are also kept in memory per half and set of causes; a variant's spaces are embedded when first looked
    at. The edited images are written, uncompressed, to a temporary folder; the last KEEP_PLANTED sets are kept.
    """

    def __init__(self, embedders: Mapping[str, object], *, seed: int = 0, cache: EmbeddingCache | None = None):
        self.embedders = dict(embedders)
        self.scorers: dict = {}  # space -> (f(original records, edited records) -> ndarray (n, dim), key)
        self.seed = seed
        self.cache = cache
        self._cache: dict = {}
        self._folder: tempfile.TemporaryDirectory | None = None  # made when an image is first planted
        self._planted: OrderedDict = OrderedDict()  # (images, plants) -> (records, folder), the last KEEP_PLANTED
        self.n_embedded_ = 0  # images planted and embedded (not read from the cache)
        self._stopped = threading.Event()

    def stop(self) -> None:
        """Make every later planting raise Cancelled (a comparison that was cancelled; may come from another
        thread)."""
        self._stopped.set()

    def close(self) -> None:
        self._planted.clear()
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def __enter__(self) -> "Replanter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def variant(self, half: Half, causes: Sequence[Cause]) -> Half:
        """``half`` with each cause's edit planted into its set's images (in the order given) and embedded.

        Each space is embedded when it is first looked at (a claim in it is tested), so a variant costs only the
        spaces that hold claims."""
        plants = {side: tuple((c.edit, round(c.strength, 4)) for c in causes if c.into == side) for side in "ab"}
        key = (id(half), plants["a"], plants["b"])
        if key not in self._cache:
            self._cache[key] = Half(
                images_a=half.images_a, images_b=half.images_b,
                embeddings_a=_Planted(self, half.images_a, half.embeddings_a, plants["a"]) if plants["a"]
                else half.embeddings_a,
                embeddings_b=_Planted(self, half.images_b, half.embeddings_b, plants["b"]) if plants["b"]
                else half.embeddings_b)
        return self._cache[key]

    def embed(self, images: Sequence[ImageRecord], original: np.ndarray, plants: tuple, space: str) -> np.ndarray:
        """``images`` with ``plants`` planted, in ``space``: read from the cache, else planted and embedded; the
        ``original`` vectors for a space that no embedder or scorer makes (acquisition tags)."""
        if space in self.scorers:
            score, made_by = self.scorers[space]
        elif space in self.embedders:
            made_by = self.embedders[space].cache_key
        else:
            return original
        key = self._key(made_by, images, plants)
        stored = self.cache.get_result(VARIANT, key) if self.cache is not None else None
        if isinstance(stored, np.ndarray) and stored.shape == np.shape(original):
            return stored
        records = self._plant(images, plants)
        vectors = np.asarray(score(images, records) if space in self.scorers
                             else run(embed_images(self.embedders[space], records, None)))
        if self.cache is not None:
            self.cache.put_result(VARIANT, key, vectors)
        return vectors

    def _key(self, made_by: str, images: Sequence[ImageRecord], plants: tuple) -> str:
        return result_key(VARIANT, code_fingerprint("spotdiff.synthetic", "spotdiff.analysis.replant"), made_by,
                          self.seed, plants, [(str(r.path), r.frame, r.axis, r.content_hash) for r in images])

    def _plant(self, images: Sequence[ImageRecord], plants: tuple) -> list[ImageRecord]:
        """The edited images, written to a folder of their own; the last KEEP_PLANTED sets of them are kept, as the
        spaces of one variant are looked at one after the other."""
        key = (tuple(r.content_hash for r in images), plants)
        if key in self._planted:
            self._planted.move_to_end(key)
            return self._planted[key][0]
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="spotdiff-replant-")
        folder = Path(tempfile.mkdtemp(dir=self._folder.name))

        def plant(item: tuple[int, ImageRecord]) -> ImageRecord:
            k, record = item
            if self._stopped.is_set():
                raise Cancelled("explain")
            image = open_image(record)
            rng = np.random.default_rng([self.seed, 0x9E, k])  # the image's own: the same on any thread
            for edit, strength in plants:
                image, _ = get_edit(edit).apply(image, strength, rng)
            return write_lossless(image, folder / f"{k:05d}")

        with Pool() as pool:  # decoding, editing and writing release the GIL for most of their time
            records = list(pool.map(plant, enumerate(images)))
        self.n_embedded_ += len(records)
        self._planted[key] = (records, folder)
        while len(self._planted) > KEEP_PLANTED:
            shutil.rmtree(self._planted.popitem(last=False)[1][1], ignore_errors=True)
        return records


class _Planted(Mapping):
    """A re-planted half's vectors by space, each embedded when first asked for (Replanter.embed)."""

    def __init__(self, replanter: Replanter, images: Sequence[ImageRecord], original: Mapping[str, np.ndarray],
                 plants: tuple):
        self._replanter, self._images, self._original, self._plants = replanter, images, original, plants
        self._done: dict[str, np.ndarray] = {}

    def __getitem__(self, space: str) -> np.ndarray:
        if space not in self._done:
            self._done[space] = self._replanter.embed(self._images, self._original[space], self._plants, space)
        return self._done[space]

    def __iter__(self):
        return iter(self._original)

    def __len__(self) -> int:
        return len(self._original)


def write_lossless(image: Image.Image, stem: Path) -> ImageRecord:
    """Write ``image`` as BMP (no compression: ~0.5 ms for 640 x 480) or, in a mode BMP cannot hold, as PNG."""
    try:
        path, kind = stem.with_suffix(".bmp"), "BMP"
        image.save(path, kind)
    except (OSError, KeyError, ValueError):
        path, kind = stem.with_suffix(".png"), "PNG"
        image.save(path, kind, compress_level=1)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return ImageRecord(path, digest, image.width, image.height, kind)


def sampled(half: Half, n: int = MAX_PLANTED, *, seed: int = 0) -> Half:
    """``half`` with at most ``n`` images of each set, drawn at random once (the same for every claim and cause): what
    re-planting plants into, so that its cost stops growing with the sets (2 x 150 images tell an echo from a
    difference of its own; 2 x 5,000 would only cost more)."""
    rng = np.random.default_rng([seed, 0x5A3])
    picked = {}
    for side, images in (("a", half.images_a), ("b", half.images_b)):
        keep = np.arange(len(images)) if len(images) <= n else np.sort(rng.choice(len(images), n, replace=False))
        picked[side] = keep
    if all(len(picked[s]) == len(im) for s, im in (("a", half.images_a), ("b", half.images_b))):
        return half
    return Half(images_a=tuple(half.images_a[i] for i in picked["a"]),
                images_b=tuple(half.images_b[i] for i in picked["b"]),
                embeddings_a={k: np.asarray(v)[picked["a"]] for k, v in half.embeddings_a.items()},
                embeddings_b={k: np.asarray(v)[picked["b"]] for k, v in half.embeddings_b.items()})


def choose_causes(findings: Sequence[Finding], discovery: Half, replanter: Replanter) -> list[Cause]:
    """The plantable findings to re-plant, and at what strength, chosen on the discovery half only.

    Each round tries the strongest plantable findings whose discovery shift the causes so far leave
    standing; each is planted at the strength that reproduces its own discovery shift, and scored by how
    much of every finding's remaining shift it reproduces (a finding counts 1 - |1 - share|, at least 0,
    so over-shooting counts against it). The best is kept if it reproduces at least half its own shift.
    """
    def effect(f: Finding, half: Half) -> float:
        return claim_effect(f.hypothesis, *half_scores(f.hypothesis, half)[2:])

    found = [(i, *plantable(f)) for i, f in enumerate(findings) if plantable(f) is not None]
    found.sort(key=lambda c: (_rank(findings[c[0]]), -effect(findings[c[0]], discovery)))
    found = [c for k, c in enumerate(found) if c[1] not in {d[1] for d in found[:k]}]  # per edit, its plainest name
    found.sort(key=lambda c: -effect(findings[c[0]], discovery))
    causes: list[Cause] = []
    while len(causes) < MAX_CAUSES:
        base = replanter.variant(discovery, causes)
        standing = [f for f in findings if effect(f, base) >= 0.1]
        tried = [c for c in found if c[1] not in {k.edit for k in causes} and effect(findings[c[0]], base) >= 0.1
                 and (not causes or reproduced_share(findings[c[0]], discovery, base)[0] < OWN_SHIFT_REPRODUCED)]
        tried = tried[:MAX_CANDIDATES]  # a finding the causes so far mostly reproduce is not a cause of its own
        best = None
        for i, edit, into in tried:
            cause = _fit(findings[i], Cause(i, edit, 0.0, into), causes, base, discovery, replanter)
            if cause is None:
                continue
            planted = replanter.variant(discovery, causes + [cause])
            score = sum(max(0.0, 1 - abs(1 - reproduced_share(f, base, planted)[0])) for f in standing)
            if best is None or score > best[0]:
                best = (score, cause)
        if best is None:
            break
        causes.append(best[1])
    return causes


def _fit(f: Finding, cause: Cause, causes: list[Cause], base: Half, discovery: Half,
         replanter: Replanter) -> Cause | None:
    """``cause`` at the strength whose re-planting reproduces its own finding's shift on ``base`` (linear
    inter- or extrapolation from the two STRENGTHS tried, within [0.1, 1]); None if that strength reproduces
    less than OWN_SHIFT_REPRODUCED of it or more than its inverse (twice the shift: toy-shapes' "rotated" claim
    moves 3.6 times as far as observed with the weakest rotation, which then also "reproduces" claims about
    where the objects are — an edit that cannot be made as small as the finding did not make it)."""
    def share(strength: float) -> float:
        planted = replanter.variant(discovery, causes + [replace(cause, strength=strength)])
        return reproduced_share(f, base, planted)[0]

    (s0, s1), (r0, r1) = STRENGTHS, [share(s) for s in STRENGTHS]
    strength = s0 + (1 - r0) * (s1 - s0) / (r1 - r0) if r1 != r0 else (s0 if abs(1 - r0) < abs(1 - r1) else s1)
    strength = round(float(np.clip(strength, 0.1, 1.0)), 2)
    if not OWN_SHIFT_REPRODUCED <= share(strength) <= 1 / OWN_SHIFT_REPRODUCED:
        return None  # too little, or even the weakest edit overshoots: the edit is not what moved this claim
    return replace(cause, strength=strength)
