"""Training comparisons with known answers for the decoder: episodes.

An episode is two small image sets that differ in one to three planted ways — a scene attribute of the
procedural world (:mod:`spotdiff.synthetic.world`) in a share of set B's scenes, an image edit
(:mod:`spotdiff.synthetic.edits`) in a share of B's images, or both — or, for a user's own domain, edits planted
into a folder of their images. Its images are drawn, embedded with the comparison's models, and read into the
decoder's candidates (:func:`spotdiff.analysis.decoder.candidates`); the planted differences say which candidates
are true, by the planted benchmark's judge (:func:`spotdiff.apps.bench.judge.matches`), so "true" means here what
it means in the benchmark.

Mixes: what episodes plant is the decoder's to learn, so it follows the spaces the decoder reads
(:func:`mix_for`). A model that reads scenes (toy-shapes) gets the default mix, ``plant=("world", "edits")``: scene
attributes, a second difference besides them, and edits. The measurements have words only for what an image edit
does to the whole image (brightness, colour casts, sharpness, noise, JPEG blocks, size), so their decoder trains on
``plant=("edits",)`` with the edits some measurement names (:func:`named_edits`): one edit and nothing else, in
photo crops and in world scenes whose sets A and B are drawn from one scene distribution, so only the edit differs.

Sizes: an episode's sets are what a comparison's *discovery half* holds (10–100 images per set: comparisons of
20–200), since that is all the decoder sees in a comparison.

Seeds: episode ``i`` of a run with seed ``s`` draws everything from ``numpy.random.default_rng([EPISODE_SEED_TAG,
s, i])``; the benchmark's pairs draw from ``default_rng([seed, stream])`` with integer seeds below
``BENCH_SEED_LIMIT`` (spotdiff.apps.bench.suites), and EPISODE_SEED_TAG is above it, so no episode shares a seed
sequence with a benchmark pair. Photographs: episodes cut crops from EPISODE_PHOTOS, photographs the benchmark
never uses (its crops come from spotdiff.synthetic.photos.photo_sources).
"""

from __future__ import annotations

import tempfile
from functools import lru_cache
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
from PIL import Image

from ...analysis.decoder import Example, candidates, share_bin
from ...analysis.domain import check_domain
from ...analysis.proposers import SpaceEvidence
from ...analysis.replant import write_lossless
from ...errors import Cancelled, InvalidParameterError
from ...io.decoding import open_image
from ...io.images import ImageRecord
from ...models.embedders.base import TextEmbedder
from ...models.embedders.measurements import MEASUREMENTS as MEASURED
from ...models.embedding import embed_images
from ...models.registry import get_model_spec
from ...progress import Progress, Work, run
from ...spaces import MEASUREMENTS
from ...synthetic.edits import EDITS
from ...synthetic.photos import named_photos
from ...synthetic.world import BACKGROUNDS, PairSpec, SetSpec, pair_differing_in, render, sample_scene
from ..bench.judge import matches
from ..bench.suites import Planted

EPISODE_SEED_TAG = 7_000_000_001
EPISODE_PHOTOS = ("brick", "grass", "gravel", "coins", "clock", "cell", "page", "text")
PREVALENCES = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
N_RANGE = (10, 100)  # images per set in the discovery half
IMAGE_SIZE = 64
FOLDER_IMAGE_SIZE = 128
STRENGTH_RANGE = (0.35, 0.7)
WORLD_VALUES = {
    "shape": ("circle", "square", "triangle", "star", "cross", "ring"),
    "colour": ("red", "green", "blue", "yellow", "purple", "orange", "white", "black"),
    "size": ("small", "large"),
    "texture": ("striped", "dotted", "solid"),
    "position": ("left", "right", "top", "bottom", "center"),
    "count": ("more", "fewer"),
    "background": BACKGROUNDS,
    "background_colour": ("grey", "sand", "slate", "sage", "taupe"),
}
SECOND_EDITS = ("blur", "warm", "cool", "darker", "brighter", "jpeg", "rectangles", "text-watermark", "vignette")
PLANTS = ("world", "edits")  # what an episode may plant: a scene attribute of the world, an image edit


@dataclass(frozen=True)
class EpisodeSpec:
    """How to draw one episode: the sets' source and size, and what differs.

    source : "world" (scenes), "photos" (crops of EPISODE_PHOTOS), or "folder" (the user's images, ``pool``)
    world_pair : scene distributions of A and B (source "world"); None: one distribution for both
    plants : (edit, strength) applied to a ``prevalence`` share of B's images
    planted : what differs, with each difference's share of B in ``shares``
    """

    index: int
    seed: int  # of the run: the episode draws from default_rng([EPISODE_SEED_TAG, seed, index, ...])
    source: str
    n_per_set: int
    planted: tuple[Planted, ...]
    shares: tuple[float, ...]
    world_pair: PairSpec | None = None
    plants: tuple[tuple[str, float], ...] = ()
    prevalence: float = 1.0

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(f"{p.attribute}:{p.value}" if p.kind == "world" else f"edit:{p.value}" for p in self.planted)


def draw_specs(n: int, *, seed: int = 0, sources: Sequence[str] = ("world", "photos"), edits: Sequence[str] | None = None,
               withheld: Sequence[str] = (), start: int = 0, sizes: tuple[int, int] = N_RANGE,
               plant: Sequence[str] = PLANTS) -> list[EpisodeSpec]:
    """``n`` episode specs, episode ``start + k`` from its own seed sequence.

    A spec is a pure function of (seed, index) and the options: the same options give the same specs.

    edits : the edits episodes may plant (default: every edit of spotdiff.synthetic.edits)
    withheld : attribute kinds ("colour") and edits ("edit:blur") no episode plants: the leave-out evaluation
    sizes : smallest and largest number of images per set
    plant : what episodes plant, of PLANTS. "world": a world episode plants a scene attribute in a share of B
        (sometimes with a background in all of B and/or an edit besides), or, about a third of the time, an edit;
        "edits": an edit. ("edits",): every episode plants one edit and nothing else, world episodes drawing A's
        and B's scenes from one distribution (the measurements' mix, :func:`mix_for`). ("world",) needs sources
        ("world",): a photograph has no scene attribute to plant.
    """
    if not (2 <= sizes[0] <= sizes[1]):
        raise InvalidParameterError("sizes", sizes, "(smallest, largest) images per set, 2 <= smallest <= largest")
    plant = _check_plant(plant, sources)
    edits = tuple(e for e in (edits if edits is not None else EDITS) if f"edit:{e}" not in withheld)
    edits = edits if "edits" in plant else ()
    kinds = tuple(k for k in WORLD_VALUES if k not in withheld) if "world" in plant else ()
    if not edits and not ("world" in sources and kinds):
        raise InvalidParameterError("withheld", ",".join(withheld), "something left to plant")
    return [_spec(start + k, seed, tuple(sources), edits, kinds, sizes) for k in range(n)]


def _check_plant(plant: Sequence[str], sources: Sequence[str]) -> tuple[str, ...]:
    plant = (plant,) if isinstance(plant, str) else tuple(plant)
    if not plant or any(p not in PLANTS for p in plant):
        raise InvalidParameterError("plant", plant, f"a non-empty selection of {PLANTS}")
    if "edits" not in plant and any(s != "world" for s in sources):
        raise InvalidParameterError("plant", plant, "'edits' among them when a source is not 'world' (only "
                                    "world scenes have attributes to plant)")
    return plant


def named_edits(statements: Sequence[str] | None = None) -> tuple[str, ...]:
    """The edits of spotdiff.synthetic.edits that one of ``statements``, said of set B (where episodes plant),
    names by the benchmark's judge (default: the measurements' statements, "brighter" and "darker", "sharper" and
    "blurrier", ...: every measurement, higher or lower, as the decoder's candidates state them)."""
    if statements is None:
        statements = [s for m in MEASURED for s in (m.higher, m.lower)]
    return tuple(name for name in EDITS if any(matches(s, "b", _edit(name)) for s in statements))


def mix_for(model: str) -> dict:
    """:func:`draw_specs`' options for a decoder that reads ``model`` first: for the measurements, one edit that
    a measurement names and nothing else (``plant=("edits",)``, ``edits=named_edits()``); for any other model,
    the default mix (no options)."""
    if model == MEASUREMENTS:
        return {"plant": ("edits",), "edits": named_edits()}
    return {}


def _spec(index: int, seed: int, sources: tuple[str, ...], edits: tuple[str, ...], kinds: tuple[str, ...],
          sizes: tuple[int, int]) -> EpisodeSpec:
    rng = np.random.default_rng([EPISODE_SEED_TAG, seed, index])
    source = sources[int(rng.integers(len(sources)))]
    n = int(rng.integers(sizes[0], sizes[1] + 1))
    prevalence = float(rng.choice(PREVALENCES))
    strength = float(rng.uniform(*STRENGTH_RANGE))
    base = EpisodeSpec(index, seed, source, n, (), ())
    if source != "world" or not kinds or (edits and rng.random() < 0.35):
        edit = str(rng.choice(edits))
        return replace(base, planted=(_edit(edit),), shares=(prevalence,), plants=((edit, strength),),
                       prevalence=prevalence)
    kind = str(rng.choice(kinds))
    value = str(rng.choice(WORLD_VALUES[kind]))
    pair = pair_differing_in(kind, value, prevalence=prevalence, base=SetSpec(image_size=IMAGE_SIZE))
    planted, shares, plants = [Planted("world", kind, value, pair.truth["description"])], [prevalence], ()
    extra = rng.random()
    if extra < 0.25 and kind not in ("background",):  # a second difference: a background in all of B
        background = str(rng.choice(BACKGROUNDS))
        a = replace(pair.a, backgrounds=tuple(b for b in BACKGROUNDS if b != background))
        pair = PairSpec(a, replace(pair.b, backgrounds=(background,)), pair.differences, pair.truth)
        planted.append(Planted("world", "background", background,
                               pair_differing_in("background", background).truth["description"]))
        shares.append(1.0)
    if 0.15 < extra < 0.4 and edits:  # and/or an edit in a share of B
        edit = str(rng.choice([e for e in SECOND_EDITS if e in edits] or list(edits)))
        planted.append(_edit(edit))
        shares.append(prevalence)
        plants = ((edit, strength),)
    return replace(base, planted=tuple(planted), shares=tuple(shares), world_pair=pair, plants=plants,
                   prevalence=prevalence)


def _edit(name: str) -> Planted:
    return Planted("edit", "edit", name, EDITS[name].description)


# ---- drawing and embedding ------------------------------------------------------------------------------------------

def draw_images(spec: EpisodeSpec, folder: Path, pool: Sequence[ImageRecord] = ()) -> tuple[list[ImageRecord], list[ImageRecord]]:
    """Write the episode's images into ``folder``; return the records of set A and set B."""
    rng = np.random.default_rng([EPISODE_SEED_TAG, spec.seed, spec.index, 1])
    n = spec.n_per_set
    if spec.source == "world":
        pair = spec.world_pair or PairSpec(SetSpec(image_size=IMAGE_SIZE), SetSpec(image_size=IMAGE_SIZE))
        images_a = [render(sample_scene(pair.a, rng), IMAGE_SIZE) for _ in range(n)]
        images_b = [render(sample_scene(pair.b, rng), IMAGE_SIZE) for _ in range(n)]
    else:
        sources = _photos() if spec.source == "photos" else pool
        if spec.source == "folder" and len(sources) < 4:
            raise InvalidParameterError("images", len(sources), "a folder with at least 4 readable images")
        images = [_crop(sources, rng, whole=spec.source == "folder") for _ in range(2 * n)]
        images_a, images_b = images[:n], images[n:]
    edited = set(rng.choice(n, round(spec.prevalence * n), replace=False).tolist()) if spec.plants else set()
    for k in sorted(edited):
        for name, strength in spec.plants:
            images_b[k], _ = EDITS[name].apply(images_b[k], strength, rng)
    write = lambda im, label, k: write_lossless(im.convert("RGB"), folder / f"{spec.index}-{label}{k:03d}")
    return ([write(im, "a", k) for k, im in enumerate(images_a)],
            [write(im, "b", k) for k, im in enumerate(images_b)])


@lru_cache(maxsize=1)
def _photos() -> tuple[Image.Image, ...]:
    return tuple(named_photos(EPISODE_PHOTOS))


def _crop(sources: Sequence, rng: np.random.Generator, *, whole: bool = False) -> Image.Image:
    """A random square crop of a random source (an Image or a path): 1-3x IMAGE_SIZE at IMAGE_SIZE (photographs),
    or with ``whole``, half to all of the image's shorter side at FOLDER_IMAGE_SIZE (a user's images: what they
    show stays in view)."""
    source = sources[int(rng.integers(len(sources)))]
    image = source if isinstance(source, Image.Image) else open_image(source, max_side=4 * FOLDER_IMAGE_SIZE)
    size = FOLDER_IMAGE_SIZE if whole else IMAGE_SIZE
    side = min(image.size) * rng.uniform(0.5, 1.0) if whole else IMAGE_SIZE * rng.uniform(1.0, 3.0)
    side = max(1, int(min(min(image.size), side)))
    x = int(rng.integers(0, image.width - side + 1))
    y = int(rng.integers(0, image.height - side + 1))
    return image.resize((size, size), Image.Resampling.LANCZOS, box=(x, y, x + side, y + side))


@dataclass(frozen=True)
class Drawn:
    """An episode's embeddings: ``vectors[space] = (X_a, X_b)``, its discovery-sized sets in every space."""

    spec: EpisodeSpec
    vectors: dict


def embed_episodes(specs: Sequence[EpisodeSpec], embedders: Mapping[str, object], *, pool: Sequence = (),
                   batch: int = 16, stop: Callable[[], bool] = lambda: False) -> Work[list[Drawn]]:
    """Draw and embed every episode; yields Progress("episodes", ...). The images live in a temporary folder
    only while they are embedded."""
    out: list[Drawn] = []
    with tempfile.TemporaryDirectory(prefix="spotdiff-episodes-") as tmp:
        for start in range(0, len(specs), batch):
            if stop():
                raise Cancelled("train-decoder")
            chunk = specs[start:start + batch]
            drawn = [draw_images(s, Path(tmp), pool) for s in chunk]
            records = [r for a, b in drawn for r in a + b]
            vectors = {name: run(embed_images(embedder, records, None)) for name, embedder in embedders.items()}
            offset = 0
            for spec, (a, b) in zip(chunk, drawn):
                mine = {name: (X[offset:offset + len(a)], X[offset + len(a):offset + len(a) + len(b)])
                        for name, X in vectors.items()}
                out.append(Drawn(spec, mine))
                offset += len(a) + len(b)
            for r in records:
                r.path.unlink(missing_ok=True)
            done = min(start + batch, len(specs))
            yield Progress("episodes", done, len(specs), f"{done} of {len(specs)} episodes drawn and embedded")
    return out


def to_examples(drawn: Sequence[Drawn], embedders: Mapping[str, object], texts: Mapping[str, object]) -> list[Example]:
    """The decoder's view of each embedded episode.

    texts : a text encoder per space that reads phrases (default: a TextEmbedder's own)"""
    return [example(d.spec, [_space(name, embedders[name], texts.get(name) if _in_domain(name, embedders, d)
                                    else None, X_a, X_b)
                             for name, (X_a, X_b) in d.vectors.items()]) for d in drawn]


def _in_domain(name: str, embedders: Mapping[str, object], drawn: Drawn) -> bool:
    """Whether a comparison of the episode's images would read ``name``'s words: as in the app, a model whose
    registry entry names a domain (toy-shapes: procedural scenes) is not read for images outside it
    (spotdiff.analysis.domain), so the decoder learns from what it will be shown."""
    embedder = embedders[name]
    if not isinstance(embedder, TextEmbedder) or MEASUREMENTS not in drawn.vectors:
        return True
    spec = get_model_spec(name)
    X = np.vstack(drawn.vectors[name])
    measured = np.vstack(drawn.vectors[MEASUREMENTS])
    n_a = len(drawn.vectors[name][0])
    check, _ = check_domain(spec, getattr(embedder, "weights_sha256", None), X, measured,
                            embedders[MEASUREMENTS].feature_names, np.ones(n_a, bool), np.ones(len(X) - n_a, bool))
    return check is None or check.in_domain


def make_examples(specs: Sequence[EpisodeSpec], embedders: Mapping[str, object], texts: Mapping[str, object], *,
                  pool: Sequence = (), stop: Callable[[], bool] = lambda: False) -> Work[list[Example]]:
    """:func:`embed_episodes`, then :func:`to_examples`."""
    drawn = yield from embed_episodes(specs, embedders, pool=pool, stop=stop)
    return to_examples(drawn, embedders, texts)


def _space(name: str, embedder, text, X_a: np.ndarray, X_b: np.ndarray) -> SpaceEvidence:
    if isinstance(embedder, TextEmbedder):
        return SpaceEvidence(name, X_a, X_b, (), (), text_encoder=text or embedder,
                             prompt_templates=tuple(embedder.prompt_templates or ()) or ("a photo of {}.",),
                             vocabulary=embedder.vocabulary)
    return SpaceEvidence(name, X_a, X_b, (), (), feature_names=embedder.feature_names)


def example(spec: EpisodeSpec, spaces: Sequence[SpaceEvidence]) -> Example:
    """The decoder's view of one drawn episode, with its true candidates marked."""
    c = candidates(spaces)
    positive = np.zeros(len(c), dtype=bool)
    bins = np.full(len(c), -1)
    for i, (statement, more_in) in enumerate(zip(c.statements, c.more_in)):
        for planted, share in zip(spec.planted, spec.shares):
            if matches(statement, more_in, planted):
                positive[i], bins[i] = True, share_bin(share)
                break
    return Example(c, positive, bins, spec.tags)
