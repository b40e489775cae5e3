"""The planted-difference benchmark's suites: set pairs whose differences are known exactly.

A :class:`BenchPair` says how to draw two image sets (a :class:`~spotdiff.synthetic.world.PairSpec` for semantic
differences, edits from :mod:`spotdiff.synthetic.edits` for low-level ones, or both; procedural scenes, or crops of
real photographs from :mod:`spotdiff.synthetic.photos`) and lists what was planted as :class:`Planted` records,
which the judge (:mod:`spotdiff.apps.bench.judge`) checks findings against.

Suites (:func:`build_suites`)::

    single      one semantic difference, 100 % prevalence, every attribute kind of the world (≥ 40 pairs)
    lowlevel    one planted edit per pair, the 14 edits of LOWLEVEL_EDITS
    prevalence  one semantic difference in 100 / 50 / 20 / 10 % of set B, at 50 and at 100 images per set
    null        two draws of one distribution: NO difference (≥ 40 pairs)
    multi       2 and 3 planted differences at once (semantic object + background + edit)
    sizes       one semantic difference with 20 / 50 / 100 images per set
    local       one small local edit (LOCAL_EDITS) in 100 / 50 / 20 / 10 % of B, at 50 and 100 images per set, on
                scenes and on photo crops, 128 px; and photo-crop pairs with NO difference

Every pair is a pure function of its fields: the same pair and seed write byte-identical files.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ...synthetic.edits import EDITS, RECTANGLE_SIDE
from ...errors import InvalidParameterError
from ...progress import Progress, Work
from ...synthetic.photos import write_photo_crops
from ...synthetic.synth import synth
from ...synthetic.world import BACKGROUNDS, PairSpec, pair_differing_in
from .options import SUITES
PREVALENCES = (1.0, 0.5, 0.2, 0.1)
# The sweep runs at 50 images per set and at 100 (VisDiffBench's set size): a held-out half of 25 holds five
# images with a difference in 20 % of B, and even a perfect detector's 5 of 25 against 0 of 25 gives Fisher's
# p = 0.025 before any correction for the other claims.
PREVALENCE_SET_SIZES = (50, 100)
SET_SIZES = (20, 50, 100)
DEFAULT_N_PER_SET = 50
EDIT_STRENGTH = 0.5

# Five values per attribute kind for the single-difference suite: 8 kinds x 5 = 40 pairs.
SEMANTIC_VALUES = {
    "shape": ("star", "cross", "ring", "triangle", "circle"),
    "colour": ("red", "blue", "yellow", "green", "purple"),
    "size": ("small", "large", "small", "large", "small"),
    "texture": ("striped", "dotted", "striped", "dotted", "striped"),
    "position": ("left", "right", "top", "bottom", "center"),
    "count": ("more", "fewer", "more", "fewer", "more"),
    "background": ("stripes", "checker", "gradient", "noise", "flat"),
    "background_colour": ("grey", "sand", "slate", "sage", "taupe"),
}
KINDS = tuple(SEMANTIC_VALUES)
# Edits for multi-difference pairs: global changes of several sorts, none of them "noise" (the world has
# noisy backgrounds, so a noise edit beside a background difference would blur what was planted).
MULTI_EDITS = ("blur", "warm", "rectangles", "darker", "jpeg", "cool", "text-watermark", "brighter")
MULTI_OBJECT_KINDS = ("shape", "colour", "size", "texture", "position")
MULTI_BACKGROUNDS = ("stripes", "checker", "gradient", "flat")
# The low-level suite's edits: those the README's numbers were measured on. The small local edits added since
# are the local suite's, where the judge also checks their colour and size.
LOWLEVEL_EDITS = ("rectangles", "shape-watermark", "text-watermark", "warm", "cool", "brighter", "darker", "blur",
                  "noise", "jpeg", "lowres", "downscale", "vignette", "rotate")
LOCAL_EDITS = ("rectangles", "text-stamp", "shape-watermark", "dead-pixels", "blurred-patch", "colour-blotch")
SOURCES = ("world", "photos")
# Local pairs are drawn at a fixed size, whatever the run's --image-size: their planted sizes are in pixels
# (rectangles of 4-6 px, a 6 x 6 px cluster of dead pixels), and at the scenes' 64 px they would shrink to 2-3.
LOCAL_IMAGE_SIZE = 128
PHOTO_SEED = 0
_PHOTO_LOCK = threading.Lock()


@dataclass(frozen=True)
class Planted:
    """One planted difference: what a correct finding must name, and the set that has more of it.

    kind : "world" (a scene attribute), "edit" (an image edit) or "local" (a small local edit, judged by what it
        is, its colour and its size)
    attribute : world attribute ("colour", "background", ...) or "edit"
    value : the attribute value ("red"; "more"/"fewer" for count) or the edit's name ("blur", "rectangles")
    colours : colour names a claim must name one of (local edits with a colour); empty: no colour to name
    size : planted mean side in pixels that a claim's "≈ W × H px" must be near (local rectangles); None: any
    """

    kind: str
    attribute: str
    value: str
    description: str
    more_in: str = "b"
    colours: tuple[str, ...] = ()
    size: float | None = None

    def to_json(self) -> dict:
        out = {"kind": self.kind, "attribute": self.attribute, "value": self.value,
               "description": self.description, "more_in": self.more_in}
        if self.colours:
            out["colours"] = list(self.colours)
        if self.size is not None:
            out["size"] = self.size
        return out


@dataclass(frozen=True)
class BenchPair:
    """Two image sets to draw and what differs between them.

    level : the row of the results table the pair counts towards ("100 %", "n=20", "3 differences", ...)
    group : finer breakdown for the tables (the attribute kind or the edit)
    source : "world" (procedural scenes) or "photos" (crops of real photographs, split at random into A and B)
    image_size : the pair's own image size, overriding the run's (None: the run's)
    """

    id: str
    suite: str
    level: str
    group: str
    planted: tuple[Planted, ...]
    world_pair: PairSpec | None = None
    plants: tuple[tuple[str, float], ...] = ()
    prevalence: float = 1.0
    n_per_set: int = DEFAULT_N_PER_SET
    seed: int = 0
    source: str = "world"
    image_size: int | None = None

    def __post_init__(self):
        if self.source not in SOURCES:
            raise InvalidParameterError("source", self.source, f"one of {', '.join(SOURCES)}")

    def write(self, out: Path, image_size: int) -> Work[Path]:
        """Write ``out/set_a``, ``out/set_b`` and ``out/truth.json`` with :func:`spotdiff.synthetic.synth.synth`.

        Photo pairs draw from a pool of ``2 * n_per_set`` crops cut once into ``out``'s parent folder
        (:func:`photo_pool`) and shared by every photo pair of that size there.
        """
        size = self.image_size or image_size
        source = None
        if self.source == "photos":
            yield Progress("synth", 0, 2 * self.n_per_set, "cutting photo crops")
            source = photo_pool(Path(out).parent, 2 * self.n_per_set, size)
        return (yield from synth(out, plants=list(self.plants), prevalence=self.prevalence if self.plants else 1.0,
                                 n_per_set=self.n_per_set, seed=self.seed, image_size=size,
                                 world_pair=self.world_pair, source=source))

    def to_json(self) -> dict:
        return {"id": self.id, "suite": self.suite, "level": self.level, "group": self.group,
                "n_per_set": self.n_per_set, "prevalence": self.prevalence, "seed": self.seed,
                "source": self.source, "image_size": self.image_size,
                "plants": [f"{n}:{s}" for n, s in self.plants],
                "planted": [p.to_json() for p in self.planted]}


def photo_pool(root: Path, n: int, size: int) -> Path:
    """``root/photo-crops-{size}px-{n}``: ``n`` photo crops, cut on first use and kept for the pairs after.

    The folder appears complete or not at all (cut into a temporary folder, then renamed), so pairs drawn in
    parallel threads, or a run stopped half-way, never read half a pool.
    """
    folder = Path(root) / f"photo-crops-{size}px-{n}"
    with _PHOTO_LOCK:
        if not folder.is_dir():
            folder.parent.mkdir(parents=True, exist_ok=True)
            partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
            try:
                write_photo_crops(partial, n, size=size, seed=PHOTO_SEED)
                partial.rename(folder)
            except OSError:
                if not folder.is_dir():  # else another process renamed its own copy there first
                    raise
            finally:
                shutil.rmtree(partial, ignore_errors=True)
    return folder


def _world(attribute: str, value: str, prevalence: float = 1.0) -> tuple[PairSpec, Planted]:
    pair = pair_differing_in(attribute, value, prevalence=prevalence)
    return pair, Planted("world", attribute, value, pair.truth["description"])


def _edit(name: str) -> Planted:
    return Planted("edit", "edit", name, EDITS[name].description)


def _with_background(pair: PairSpec, background: str) -> tuple[PairSpec, Planted]:
    """``pair`` plus a second difference: every B scene has ``background``, no A scene has it."""
    others = tuple(b for b in BACKGROUNDS if b != background)
    a = replace(pair.a, backgrounds=others)
    b = replace(pair.b, backgrounds=(background,))
    planted = Planted("world", "background", background, pair_differing_in("background", background).truth[
        "description"])
    return PairSpec(a, b, pair.differences + (planted.description,), pair.truth), planted


def _single(seed: int, n_per_kind: int) -> list[BenchPair]:
    out = []
    for kind, values in SEMANTIC_VALUES.items():
        for i, value in enumerate(values[:n_per_kind]):
            spec, planted = _world(kind, value)
            out.append(BenchPair(f"single-{kind}-{value}-{i}", "single", "100 %", kind, (planted,), spec,
                                 seed=seed + 1000 + 10 * len(out)))
    return out


def _lowlevel(seed: int, n_per_edit: int) -> list[BenchPair]:
    return [BenchPair(f"lowlevel-{name}-{i}", "lowlevel", "100 %", name, (_edit(name),),
                      plants=((name, EDIT_STRENGTH),), seed=seed + 2000 + 10 * k + i)
            for k, name in enumerate(LOWLEVEL_EDITS) for i in range(n_per_edit)]


def _prevalence(seed: int, n_per_level: int) -> list[BenchPair]:
    out = []
    for n_per_set, offset in zip(PREVALENCE_SET_SIZES, (3000, 3500)):
        start = len(out)
        for level in PREVALENCES:
            for i in range(n_per_level):
                kind = KINDS[i % len(KINDS)]
                value = SEMANTIC_VALUES[kind][(i // len(KINDS)) % 5]
                spec, planted = _world(kind, value, prevalence=level)
                out.append(BenchPair(f"prevalence-{round(100 * level)}-n{n_per_set}-{kind}-{value}-{i}", "prevalence",
                                     prevalence_level(level, n_per_set), kind, (planted,), spec, prevalence=level,
                                     n_per_set=n_per_set, seed=seed + offset + 10 * (len(out) - start)))
    return out


def prevalence_level(prevalence: float, n_per_set: int) -> str:
    """The results table's row of a prevalence pair: "20 %, n=100"."""
    return f"{round(100 * prevalence)} %, n={n_per_set}"


def _null(seed: int, n: int) -> list[BenchPair]:
    return [BenchPair(f"null-{i}", "null", "no difference", "none", (), seed=seed + 4000 + i) for i in range(n)]


def _multi(seed: int, n_per_level: int) -> list[BenchPair]:
    out = []
    for n_diff in (2, 3):
        for i in range(n_per_level):
            kind = MULTI_OBJECT_KINDS[i % len(MULTI_OBJECT_KINDS)]
            value = SEMANTIC_VALUES[kind][(i + n_diff) % 5]
            spec, first = _world(kind, value)
            planted, plants = [first], ()
            edit = MULTI_EDITS[(i + 3 * (n_diff - 2)) % len(MULTI_EDITS)]
            if n_diff == 3 or i % 2 == 0:  # 2 differences: object + background or object + edit, alternately
                spec, background = _with_background(spec, MULTI_BACKGROUNDS[i % len(MULTI_BACKGROUNDS)])
                planted.append(background)
            if n_diff == 3 or i % 2 == 1:
                plants = ((edit, EDIT_STRENGTH),)
                planted.append(_edit(edit))
            out.append(BenchPair(f"multi{n_diff}-{i}", "multi", f"{n_diff} differences", kind, tuple(planted),
                                 spec, plants=plants, seed=seed + 5000 + 10 * len(out)))
    return out


def _sizes(seed: int, n_per_size: int) -> list[BenchPair]:
    out = []
    for n in SET_SIZES:
        for i in range(n_per_size):
            kind = KINDS[i % len(KINDS)]
            value = SEMANTIC_VALUES[kind][(i // len(KINDS) + 1) % 5]
            spec, planted = _world(kind, value)
            out.append(BenchPair(f"sizes-{n}-{kind}-{value}-{i}", "sizes", f"n={n}", kind, (planted,), spec,
                                 n_per_set=n, seed=seed + 6000 + 10 * len(out)))
    return out


def local_level(source: str, prevalence: float | None, n_per_set: int) -> str:
    """The results table's row of a local pair: "photos: 20 %, n=100", or "photos: no difference"."""
    return f"{source}: " + ("no difference" if prevalence is None else prevalence_level(prevalence, n_per_set))


def local_plant(name: str, index: int, image_size: int = LOCAL_IMAGE_SIZE) -> tuple[str, Planted]:
    """The plant ("rectangles/red") and its record for the ``index``-th local pair of edit ``name``.

    Coloured edits get one colour per pair, so a claim can be asked to name it: each run of ``len(palette)``
    pairs takes every colour of the edit's palette once (dead pixels: white, black), in an order that differs
    across runs and from edit to edit, so no colour stays with one prevalence or source. Rectangles also
    carry their expected mean side in pixels.
    """
    edit = EDITS[name]
    if edit.palette:
        n, salt = len(edit.palette), sum(map(ord, name))
        order = np.random.default_rng([salt, index // n]).permutation(n)
        edit = edit.in_colours([edit.palette[int(order[index % n])]])
    size = round(image_size * sum(RECTANGLE_SIDE) / 2, 2) if name == "rectangles" else None
    return edit.name, Planted("local", "edit", name, edit.description, colours=edit.colours, size=size)


def _local(seed: int, n_per_cell: int) -> list[BenchPair]:
    out = []
    for source in SOURCES:
        for n_per_set in PREVALENCE_SET_SIZES:
            for level in PREVALENCES:
                for name in LOCAL_EDITS:
                    for i in range(n_per_cell):
                        plant, planted = local_plant(name, sum(p.group == name for p in out))
                        out.append(BenchPair(
                            f"local-{source}-{name}-{round(100 * level)}-n{n_per_set}-{i}", "local",
                            local_level(source, level, n_per_set), name, (planted,), plants=((plant, EDIT_STRENGTH),),
                            prevalence=level, n_per_set=n_per_set, seed=seed + 7000 + len(out), source=source,
                            image_size=LOCAL_IMAGE_SIZE))
    return out + [BenchPair(f"local-photos-null-{i}", "local", local_level("photos", None, DEFAULT_N_PER_SET), "none",
                            (), seed=seed + 8000 + i, source="photos", image_size=LOCAL_IMAGE_SIZE)
                  for i in range(LOCAL_NULLS_PER_COUNT * n_per_cell)]


# Pairs per suite (full run, quick run): single 5 per attribute kind (40), lowlevel 1 per edit (14),
# prevalence 8 per level and set size (64, one per kind), null 40, multi 5 per level (10), sizes 8 per size (24): 192 pairs,
# the minimums where it names one; a full run takes ~15-25 min on 2 shared cores. local: 1 per edit, level,
# set size and source (96) and 12 photo null pairs per count: 108 pairs more, of 128 px.
# Quick runs use 20 images per set so a test finishes in seconds.
COUNTS = {"single": (5, 1), "lowlevel": (1, 1), "prevalence": (8, 1), "null": (40, 2), "multi": (5, 1),
          "sizes": (8, 1), "local": (1, 1)}
LOCAL_NULLS_PER_COUNT = 12
QUICK_N_PER_SET = 20


def build_suites(names=SUITES, *, seed: int = 0, quick: bool = False) -> list[BenchPair]:
    """The benchmark's pairs, suite by suite, in a fixed order.

    quick : a few pairs per suite (one attribute kind or edit each) with 20 images per set
    """
    builders = {"single": _single, "lowlevel": _lowlevel, "prevalence": _prevalence, "null": _null,
                "multi": _multi, "sizes": _sizes, "local": _local}
    pairs: list[BenchPair] = []
    for name in names:
        count = COUNTS[name][1 if quick else 0]
        built = builders[name](seed, count)
        if quick:
            built = _quick_selection(name, built)
        pairs.extend(built)
    return pairs


def _quick_selection(suite: str, pairs: list[BenchPair]) -> list[BenchPair]:
    """Two pairs for most suites, at the quick set size; the sizes suite keeps its own sizes (20 only);
    local: rectangles in every scene of B, and a text stamp in every photo crop of B."""
    if suite == "sizes":
        return [p for p in pairs if p.n_per_set == SET_SIZES[0]][:1]
    if suite == "local":
        chosen = [p for p in pairs if p.prevalence == 1.0 and p.n_per_set == PREVALENCE_SET_SIZES[0] and (
            (p.source, p.group) in (("world", "rectangles"), ("photos", "text-stamp"))) and p.planted][:2]
        return [replace(p, n_per_set=QUICK_N_PER_SET, level=local_level(p.source, 1.0, QUICK_N_PER_SET))
                for p in chosen]
    picks = {"single": [1, 2], "lowlevel": [7, 0], "prevalence": [0, 2], "null": [0, 1], "multi": [0, 1]}[suite]
    chosen = [pairs[i] for i in picks if i < len(pairs)]
    quick = [replace(p, n_per_set=QUICK_N_PER_SET) for p in chosen]
    if suite == "prevalence":
        quick = [replace(p, level=prevalence_level(p.prevalence, QUICK_N_PER_SET)) for p in quick]
    return quick
