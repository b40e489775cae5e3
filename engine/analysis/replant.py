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
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..io.decoding import open_image
from ..synthetic.edits import get_edit
from ..models.embedding import embed_images
from ..io.images import ImageRecord
from ..progress import run
from .result import Finding
from .subgroups import is_share_claim
from .validate import Half, claim_effect, half_scores

MAX_CAUSES = 2
MAX_CANDIDATES = 3  # plantable findings tried per round, the strongest on the discovery half first
STRENGTHS = (0.3, 0.7)  # tried, then inter- or extrapolated to the strength that reproduces the cause's own shift
OWN_SHIFT_REPRODUCED = 0.5  # a cause must reproduce at least this share of its own discovery shift
N_BOOTSTRAP = 400

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
    boots = []
    for _ in range(N_BOOTSTRAP):
        idx = np.r_[rng.choice(inside, len(inside)), rng.choice(outside, len(outside))]
        b0 = _shift(y0[idx], claimed[idx])
        if b0 != 0:
            boots.append(1 - _shift(y1[idx], claimed[idx]) / b0)
    low, high = np.percentile(boots, [2.5, 97.5]) if boots else (share, share)
    return float(share), float(low), float(high)


class Replanter:
    """Plants edits into one half's images and embeds them with the comparison's embedders.

    embedders : space name -> spotdiff.models.embedders.Embedder (spaces without one, such as acquisition tags, are
        left as they were: an edit does not change them)
    scorers : space name -> ``f(originals, edited) -> ndarray (n, dim)`` for a space fitted on the discovery half,
        such as the region detectors' (spotdiff.analysis.regions.RegionEvidence.score): set after construction
    Variants are cached per half and set of causes; images are written as PNG to a temporary folder.
    """

    def __init__(self, embedders: Mapping[str, object], *, seed: int = 0):
        self.embedders = dict(embedders)
        self.scorers: dict = {}  # space -> f(original records, edited records) -> ndarray (n, dim): fitted spaces
        self.seed = seed
        self._cache: dict = {}
        self._folder = tempfile.TemporaryDirectory(prefix="spotdiff-replant-")
        self.n_embedded_ = 0

    def close(self) -> None:
        self._folder.cleanup()

    def variant(self, half: Half, causes: Sequence[Cause]) -> Half:
        """``half`` with each cause's edit planted into its set's images (in the order given) and embedded."""
        plants = {side: tuple((c.edit, round(c.strength, 4)) for c in causes if c.into == side) for side in "ab"}
        key = (id(half), plants["a"], plants["b"])
        if key not in self._cache:
            self._cache[key] = Half(
                images_a=half.images_a, images_b=half.images_b,
                embeddings_a=self._embed(half.images_a, half.embeddings_a, plants["a"]),
                embeddings_b=self._embed(half.images_b, half.embeddings_b, plants["b"]))
        return self._cache[key]

    def _embed(self, images: Sequence[ImageRecord], original: Mapping[str, np.ndarray],
               plants: tuple) -> Mapping[str, np.ndarray]:
        if not plants:
            return original
        folder = Path(self._folder.name) / f"v{self.n_embedded_}"
        folder.mkdir()
        records = []
        for k, record in enumerate(images):
            image = open_image(record)
            rng = np.random.default_rng([self.seed, 0x9E, k])
            for edit, strength in plants:
                image, _ = get_edit(edit).apply(image, strength, rng)
            path = folder / f"{k:05d}.png"
            image.save(path, "PNG")
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            records.append(ImageRecord(path, digest, image.width, image.height, "PNG"))
        self.n_embedded_ += len(records)
        out = dict(original)
        for space, embedder in self.embedders.items():
            if space in out:
                out[space] = run(embed_images(embedder, records, None))
        for space, score in self.scorers.items():  # spaces fitted on the discovery half (regions)
            if space in out:
                out[space] = score(images, records)
        return out


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
    less than OWN_SHIFT_REPRODUCED of it."""
    def share(strength: float) -> float:
        planted = replanter.variant(discovery, causes + [replace(cause, strength=strength)])
        return reproduced_share(f, base, planted)[0]

    (s0, s1), (r0, r1) = STRENGTHS, [share(s) for s in STRENGTHS]
    strength = s0 + (1 - r0) * (s1 - s0) / (r1 - r0) if r1 != r0 else (s0 if abs(1 - r0) < abs(1 - r1) else s1)
    strength = round(float(np.clip(strength, 0.1, 1.0)), 2)
    if share(strength) < OWN_SHIFT_REPRODUCED:
        return None
    return replace(cause, strength=strength)
