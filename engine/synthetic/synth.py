"""Write two image sets whose difference is known exactly: the demo, the tests and the benchmark use them.

:func:`synth` fills ``out/set_a`` and ``out/set_b`` with procedural scenes (:mod:`spotdiff.synthetic.world`) or with a user's
photos split at random into halves, plants edits (:mod:`spotdiff.synthetic.edits`) into a ``prevalence`` fraction of B, and
writes ``out/truth.json`` saying what was planted where. The same arguments give byte-identical files.

User folders are only read. ``out`` must be empty, new, or a folder synth wrote before (it has ``truth.json``
and nothing synth did not write); synth replaces only its own files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence, Union

import numpy as np
from PIL import Image, ImageOps

from .edits import Edit, get_edit, jpeg_quality, parse_plant
from ..errors import EmptyImageSetError, ImageSetNotFoundError, InvalidParameterError
from ..progress import Progress, Work
from .world import PairSpec, SetSpec, caption, render, sample_scene

PlantLike = Union[str, "tuple[str | Edit, float]"]
TRUTH = "truth.json"
_OWN_FILE = re.compile(r"set_[ab]/\d{4,}\.(png|jpg)")
_JPEG_QUALITY_UNEDITED = 95


def synth(out: Path, *, plants: Sequence[PlantLike], prevalence: float = 1.0, n_per_set: int = 50,
          source: Path | None = None, seed: int = 0, image_size: int = 128,
          world_pair: PairSpec | None = None) -> Work[Path]:
    """Write ``out/set_a``, ``out/set_b`` and ``out/truth.json``; yield Progress("synth", ...); return ``out``.

    plants : edits applied, in order, to each edited B image: ("blur", 0.5) pairs or "blur:0.5" strings
    prevalence : fraction of B images edited (exactly round(prevalence * n_per_set) of them)
    source : a folder of images (searched recursively) to split at random into A and B instead of scenes;
        images are EXIF-rotated, converted to RGB and shrunk to ``image_size`` on their longer side
    world_pair : scenes of A and B drawn from its two specs (otherwise both from one SetSpec), rendered at
        ``image_size`` whatever the specs' own ``image_size``
    Files are PNG, or JPEG when a "jpeg" edit is planted (unedited images then at quality 95, so the
    file format does not give the answer away).
    """
    out = Path(out)
    edits = [_plant(p) for p in plants]
    _check(prevalence, n_per_set, seed, image_size)
    if source is not None and world_pair is not None:
        raise InvalidParameterError("world_pair", world_pair, "None when images come from a source folder")
    previous = _previous_files(out)
    streams = [np.random.default_rng([seed, stream]) for stream in range(4)]
    total = 2 * n_per_set
    yield Progress("synth", 0, total, "preparing images")
    truth: dict = {"seed": seed, "prevalence": prevalence, "n_per_set": n_per_set,
                   "source": None if source is None else str(source), "image_size": image_size,
                   "plants": [{"edit": e.name, "strength": s, "description": e.description} for e, s in edits]}
    if source is None:
        pair = world_pair or PairSpec(SetSpec(image_size=image_size), SetSpec(image_size=image_size))
        items = {label: [sample_scene(spec, rng) for _ in range(n_per_set)]
                 for label, spec, rng in (("a", pair.a, streams[0]), ("b", pair.b, streams[1]))}
        names = {label: [caption(s) for s in items[label]] for label in items}
        truth["world_pair"] = (None if world_pair is None else
                               {"differences": list(world_pair.differences), "truth": world_pair.truth})
    else:
        loaded, skipped = yield from _read_folder(Path(source), out, 2 * n_per_set, image_size, streams[0], total)
        n_per_set = len(loaded) // 2
        if n_per_set < 1:
            raise EmptyImageSetError(source, readable=len(loaded), skipped=len(skipped), needed=2)
        total = 2 * n_per_set
        truth.update(n_per_set=n_per_set, world_pair=None)
        truth["skipped"] = [{"path": p, "reason": r} for p, r in skipped]
        items = {"a": [im for _, im in loaded[:n_per_set]], "b": [im for _, im in loaded[n_per_set:total]]}
        names = {"a": [p for p, _ in loaded[:n_per_set]], "b": [p for p, _ in loaded[n_per_set:total]]}

    suffix = ".jpg" if any(e.name == "jpeg" for e, _ in edits) else ".png"
    n_edited = round(prevalence * n_per_set) if edits else 0
    edited_indices = set(int(i) for i in streams[2].choice(n_per_set, n_edited, replace=False))
    files = [f"set_{label}/{i:04d}{suffix}" for label in "ab" for i in range(n_per_set)]
    truth.update(format=suffix[1:], files=files, edited={}, complete=False)
    truth["captions" if source is None else "sources"] = {
        f"set_{label}/{i:04d}{suffix}": names[label][i] for label in "ab" for i in range(n_per_set)}

    for path in previous:
        path.unlink(missing_ok=True)
    for label in "ab":
        (out / f"set_{label}").mkdir(parents=True, exist_ok=True)
    _write_truth(out, truth)  # first, so an interrupted run still leaves a folder synth recognises
    done = 0
    for label in "ab":
        for index, item in enumerate(items[label]):
            image = render(item, image_size) if source is None else item  # scenes are drawn as they are written
            name = f"set_{label}/{index:04d}{suffix}"
            quality = _JPEG_QUALITY_UNEDITED
            if label == "b" and index in edited_indices:
                rng = np.random.default_rng([seed, 100, index])
                records = []
                for edit, strength in edits:
                    image, info = edit.apply(image, strength, rng)
                    records.append({"edit": edit.name, "info": info})
                    quality = jpeg_quality(strength) if edit.name == "jpeg" else quality
                truth["edited"][name] = records
            if suffix == ".png":
                image.save(out / name, "PNG")
            else:
                image.save(out / name, "JPEG", quality=quality)
            done += 1
            yield Progress("synth", done, total, f"wrote {name}")
    truth["complete"] = True
    _write_truth(out, truth)
    return out


def _plant(plant) -> tuple[Edit, float]:
    if isinstance(plant, str):
        return parse_plant(plant)
    try:
        name, strength = plant
    except (TypeError, ValueError) as e:
        raise InvalidParameterError("plant", plant, "'NAME:STRENGTH' or a (name, strength) pair") from e
    edit = name if isinstance(name, Edit) else get_edit(name)
    return parse_plant(f"{edit.name}:{strength}")


def _check(prevalence, n_per_set, seed, image_size) -> None:
    if not (isinstance(prevalence, (int, float)) and 0.0 <= prevalence <= 1.0):
        raise InvalidParameterError("prevalence", prevalence, "a fraction between 0 and 1")
    for name, value, least in (("n_per_set", n_per_set, 1), ("seed", seed, 0), ("image_size", image_size, 8)):
        if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= least):
            raise InvalidParameterError(name, value, f"an integer >= {least}")


def _previous_files(out: Path) -> list[Path]:
    """Files an earlier synth run wrote into ``out``; refuses if ``out`` holds anything else."""
    if out.exists() and not out.is_dir():
        raise InvalidParameterError("out", str(out), "a folder, not a file")
    if not out.exists() or not any(out.iterdir()):
        return []
    expected = "an empty or new folder, or one synth wrote before (with truth.json and nothing else)"
    own: set[Path] = set()
    if (out / TRUTH).exists():
        try:
            listed = json.loads((out / TRUTH).read_text(encoding="utf-8"))["files"]
            own = {out / TRUTH, out / (TRUTH + ".tmp")} | {out / f for f in listed if _OWN_FILE.fullmatch(f)}
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise InvalidParameterError("out", str(out), f"{expected}; its {TRUTH} is not synth's") from e
    foreign = [p for p in sorted(out.rglob("*"))
               if p not in own and not (p.is_dir() and not p.is_symlink() and p.parent == out
                                        and p.name in ("set_a", "set_b"))]
    if foreign:
        raise InvalidParameterError(
            "out", str(out), f"{expected}; it also holds '{foreign[0].relative_to(out)}' "
            f"and {len(foreign) - 1} more. Move them or choose another folder")
    return sorted(p for p in own if p.exists() or p.is_symlink())


def _read_folder(source: Path, out: Path, wanted: int, max_side: int, rng: np.random.Generator, total: int):
    """Shuffle the folder's files and decode them until ``wanted`` are readable.

    Returns ([(relative path, RGB image), ...], [(relative path, reason), ...]).
    """
    if not source.is_dir():
        raise ImageSetNotFoundError(source)
    if out.resolve() == source.resolve() or source.resolve() in out.resolve().parents:
        raise InvalidParameterError("out", str(out), f"a folder outside the source folder '{source}'")
    paths = sorted(p for p in source.rglob("*") if p.is_file())
    order = rng.permutation(len(paths))
    loaded, skipped = [], []
    for position in order:
        if len(loaded) >= wanted:
            break
        path = paths[int(position)]
        relative = path.relative_to(source).as_posix()
        yield Progress("synth", 0, total, f"reading {relative}")
        try:
            with Image.open(path) as opened:
                image = ImageOps.exif_transpose(opened).convert("RGB")
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            skipped.append((relative, f"{type(e).__name__}: {e}"))
            continue
        if max(image.size) > max_side:
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        loaded.append((relative, image))
    return loaded, skipped


def _write_truth(out: Path, truth: dict) -> None:
    temporary = out / (TRUTH + ".tmp")
    temporary.write_text(json.dumps(truth, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    temporary.replace(out / TRUTH)
