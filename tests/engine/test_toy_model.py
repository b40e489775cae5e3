"""toy-shapes, the CLIP that ships inside the engine: found and checked like any weights, and able to see its world.

The model is trained by benchmarks/train_toy_clip.py on spotdiff.synthetic.world scenes (models/toy-shapes.md). These tests
open it through the registry, as the app does, and check real capabilities with margins below what
benchmarks/eval_toy_clip.py measures on many more scenes.
"""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
from PIL import Image, ImageDraw

from spotdiff.models.embedders.open_clip import OpenClipEmbedder
from spotdiff.errors import WeightsIntegrityError
from spotdiff.io.images import ImageRecord
from spotdiff.models.factory import open_embedder
from spotdiff.models.registry import bundled_dir, get_model_spec, locate_weights, models_dir
from spotdiff.progress import run
from spotdiff.analysis.proposers.concept_bank import contrast_vectors, embed_phrases
from spotdiff.analysis.proposers.base import SpaceEvidence
from spotdiff.synthetic.world import BACKGROUND_COLOURS, COLOURS, POSITION_PHRASES, SHAPES, SetSpec, render, sample_scene

SEED = 5_000_000  # far from the seeds the model was trained on


@pytest.fixture(scope="module")
def toy(toy_shapes_user):
    """The bundled model, opened once, and the sha256 memo its opening wrote."""
    embedder, root = toy_shapes_user
    return embedder, json.loads((root / "cache" / "weights-sha256.json").read_text(encoding="utf-8"))


def records(images, folder) -> list[ImageRecord]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, image in enumerate(images):
        path = folder / f"{i:03d}.png"
        image.save(path)
        out.append(ImageRecord(path, hashlib.sha256(path.read_bytes()).hexdigest(), *image.size, "PNG"))
    return out


def embed(embedder, images, folder) -> np.ndarray:
    return run(embedder.embed(records(images, folder)), lambda _: None)


def scenes(spec: SetSpec, n: int, offset: int):
    """``n`` held-out scenes, each rendered at its own size between 64 and 160 px."""
    out = []
    for i in range(n):
        rng = np.random.default_rng([SEED + offset, i])
        out.append((sample_scene(spec, rng), int(rng.integers(64, 161)), rng))
    return out


def with_rectangles(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """2-4 filled rectangles of 3-5 px at the model's 64 px, as in training (benchmarks/train_toy_clip.py)."""
    out, scale = image.copy(), min(image.size) / 64
    draw, palette = ImageDraw.Draw(out), list(COLOURS.values())
    for _ in range(int(rng.integers(2, 5))):
        w, h = (max(2, round(scale * rng.uniform(3, 5))) for _ in range(2))
        x, y = int(rng.integers(0, out.width - w + 1)), int(rng.integers(0, out.height - h + 1))
        draw.rectangle((x, y, x + w - 1, y + h - 1), fill=palette[int(rng.integers(len(palette)))])
    return out


def test_toy_shapes_ships_in_the_package_and_is_checked(toy):
    embedder, memo = toy
    spec = get_model_spec("toy-shapes")
    folder = bundled_dir() / spec.bundled
    weights = folder / spec.filename

    assert isinstance(embedder, OpenClipEmbedder) and embedder.weights == folder
    assert spec.sha256 == hashlib.sha256(weights.read_bytes()).hexdigest() == embedder.weights_sha256
    assert memo[str(weights.resolve())][2] == spec.sha256  # hashed on this load, as any weights are
    assert spec.size_bytes == weights.stat().st_size
    assert embedder.dim == 128 and embedder.prompt_templates == ("{}", "an image with {}")
    assert "small rectangles" in embedder.vocabulary  # the words it was trained on
    # the shipped copy comes before one in the user's models folder
    shutil.copytree(folder, models_dir() / "toy-shapes")
    assert locate_weights(spec) == folder


@pytest.mark.parametrize("where", ["models folder", "explicit path"])
def test_a_tampered_copy_is_refused(tmp_path, monkeypatch, where):
    spec = get_model_spec("toy-shapes")
    copy = models_dir() / "toy-shapes"
    shutil.copytree(bundled_dir() / spec.bundled, copy)
    data = bytearray((copy / spec.filename).read_bytes())
    data[-100] ^= 0x01  # one bit of one weight
    (copy / spec.filename).write_bytes(bytes(data))
    if where == "models folder":  # an entry like the shipped one, without the bundled folder
        entry = json.loads(spec.source_path.read_text(encoding="utf-8"))
        del entry["bundled"]
        (tmp_path / "registry").mkdir()
        (tmp_path / "registry" / "toy-shapes.json").write_text(json.dumps(entry), encoding="utf-8")
        monkeypatch.setenv("SPOTDIFF_REGISTRY", str(tmp_path / "registry"))
        assert get_model_spec("toy-shapes").bundled is None and locate_weights(get_model_spec("toy-shapes")) == copy

    with pytest.raises(WeightsIntegrityError) as caught:
        open_embedder("toy-shapes", weights=copy if where == "explicit path" else None)
    assert caught.value.expected == spec.sha256 and caught.value.found != spec.sha256


def test_embeddings_are_unit_vectors(toy, tmp_path):
    embedder, _ = toy
    images = [render(scene, size) for scene, size, _ in scenes(SetSpec(), 5, 0)] + [
        render(sample_scene(SetSpec(), np.random.default_rng(SEED)), (200, 120))]  # not square

    X = embed(embedder, images, tmp_path)
    T = embedder.embed_text(["a red object", "small rectangles"])

    assert X.shape == (6, 128) and T.shape == (2, 128) and X.dtype == T.dtype == np.float32
    assert np.allclose(np.linalg.norm(X, axis=1), 1, atol=1e-5) and np.allclose(np.linalg.norm(T, axis=1), 1, atol=1e-5)
    assert np.ptp(X, axis=0).max() > 0.1  # different scenes, different vectors


# attribute -> (scene spec, the value of a scene, prompts, least accuracy); eval_toy_clip.py measures each on
# 400 scenes (models/toy-shapes.md), the bars leave room for these 40
ATTRIBUTES = {
    "colour": (SetSpec(counts=(1,)), lambda s: s.objects[0].colour, {c: f"a {c} object" for c in COLOURS}, 0.8),
    "texture": (SetSpec(counts=(1,), textures=("striped", "dotted")), lambda s: s.objects[0].texture,
                {t: f"{t} objects" for t in ("striped", "dotted")}, 0.8),
    "background colour": (SetSpec(), lambda s: s.background_colour,
                          {c: f"a {c} background" for c in BACKGROUND_COLOURS}, 0.8),
    "size": (SetSpec(counts=(1,)), lambda s: s.objects[0].size, {z: f"a {z} object" for z in ("small", "large")},
             0.8),
    # 0.65 and 0.71 on 400 scenes (chance 0.17 and 0.20)
    "shape": (SetSpec(counts=(1,)), lambda s: s.objects[0].shape, {x: f"a {x}" for x in SHAPES}, 0.45),
    "position": (SetSpec(counts=(1,)), lambda s: s.objects[0].position,
                 {p: f"an object {w}" for p, w in POSITION_PHRASES.items()}, 0.45),
}


@pytest.mark.slow
@pytest.mark.parametrize("attribute", list(ATTRIBUTES))
def test_it_names_what_it_was_taught(toy, tmp_path, attribute):
    embedder, _ = toy
    spec, value, prompts, least = ATTRIBUTES[attribute]
    drawn = scenes(spec, 40, 10 + list(ATTRIBUTES).index(attribute))
    X = embed(embedder, [render(scene, size) for scene, size, _ in drawn], tmp_path)
    space = SpaceEvidence(name="toy", X_a=X, X_b=X, images_a=(), images_b=(), text_encoder=embedder,
                          prompt_templates=embedder.prompt_templates)
    T = embed_phrases(space, list(prompts.values()))

    guessed = np.array(list(prompts))[(X @ T.T).argmax(axis=1)]
    accuracy = np.mean(guessed == [value(scene) for scene, _, _ in drawn])

    assert accuracy >= least, (attribute, accuracy)


@pytest.mark.slow
def test_a_set_with_small_rectangles_reads_as_small_rectangles(toy, tmp_path):
    embedder, _ = toy
    a = [render(scene, size) for scene, size, _ in scenes(SetSpec(), 30, 2)]
    b = [with_rectangles(render(scene, size), rng) for scene, size, rng in scenes(SetSpec(), 30, 3)]
    X_a, X_b = embed(embedder, a, tmp_path / "a"), embed(embedder, b, tmp_path / "b")
    phrases = ["small rectangles", "blurry", "a watermark", "noise", "circles", "a red object", "stripes",
               "a dark image", "many objects", "vignetting"]
    space = SpaceEvidence(name="toy", X_a=X_a, X_b=X_b, images_a=(), images_b=(), text_encoder=embedder,
                          prompt_templates=embedder.prompt_templates)

    scores = contrast_vectors(embed_phrases(space, phrases)) @ (X_b.mean(axis=0) - X_a.mean(axis=0))

    assert phrases[int(np.argmax(scores))] == "small rectangles"
