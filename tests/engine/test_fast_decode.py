"""Decoding on several threads while the model encodes gives exactly the pixels, in order, and the
embeddings of decoding one image at a time: real JPEG files, EXIF-rotated, grey, progressive, of odd
sizes, spread over batches and decoding chunks that do not line up. The cheaper ToTensor + Normalize
step gives open_clip's tensor bit for bit."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from spotdiff.errors import UnreadableImageError
from spotdiff.io.decoding import open_image
from spotdiff.io.images import ImageRecord
from spotdiff.models._torchvision_compat import import_open_clip
from spotdiff.models.embedders import open_clip as open_clip_embedder
from spotdiff.models.embedders.open_clip import apply_transform
from spotdiff.progress import run


@pytest.fixture(scope="module")
def toy(toy_shapes_user):
    """The bundled toy model."""
    return toy_shapes_user[0]


def _scene(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A colour gradient with noise: every pixel differs, so a swapped or shifted image shows."""
    w, h = size
    x, y = np.meshgrid(np.linspace(0, 255, w), np.linspace(0, 255, h))
    a = np.stack([x, y, 255 - x], axis=-1) + rng.normal(0, 20, (h, w, 3))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def _record(path: Path) -> ImageRecord:
    with Image.open(path) as im:
        w, h = im.size
    return ImageRecord(path, hashlib.sha256(path.read_bytes()).hexdigest(), w, h, "JPEG")


def _jpegs(folder: Path, n: int) -> list[ImageRecord]:
    """n JPEG files of several kinds, in a fixed order."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"{i:03d}.jpg"
        image = _scene(rng, (640, 480) if i % 2 else (333, 251))
        kind = i % 4
        if kind == 1:
            exif = Image.Exif()
            exif[0x0112] = 6  # displayed rotated 90 degrees clockwise
            image.save(path, quality=90, exif=exif)
        elif kind == 2:
            image.convert("L").save(path, quality=90)
        elif kind == 3:
            image.save(path, quality=90, progressive=True)
        else:
            image.save(path, quality=90)
        paths.append(path)
    return [_record(p) for p in paths]


def test_the_test_files_are_what_they_claim(tmp_path):
    records = _jpegs(tmp_path, 4)
    with Image.open(records[1].path) as rotated, Image.open(records[2].path) as grey:
        assert rotated.getexif()[0x0112] == 6 and grey.mode == "L"
    assert open_image(records[1].path).size == (480, 640)  # the rotation is applied
    assert open_image(records[2].path).mode == "RGB"


def test_parallel_batches_equal_decoding_one_by_one(toy, tmp_path, monkeypatch):
    monkeypatch.setattr(open_clip_embedder, "DECODE_CHUNK", 3)  # chunks that cut across batches of 7
    monkeypatch.setattr(toy, "batch_size", 7)
    records = _jpegs(tmp_path, 23)
    one_by_one = torch.stack([toy._pixels(r, toy._transform) for r in records])
    batches = list(toy._batches(records, toy._transform))
    assert [start for start, _ in batches] == [0, 7, 14, 21]
    assert [len(pixels) for _, pixels in batches] == [7, 7, 7, 2]
    assert torch.equal(torch.cat([pixels for _, pixels in batches]), one_by_one)


def test_embeddings_equal_encoding_one_by_one(toy, tmp_path):
    records = _jpegs(tmp_path, 40)
    vectors = run(toy.embed(records))
    model = toy._ensure_loaded()
    with torch.inference_mode():
        single = [model.encode_image(toy._pixels(r, toy._transform)[None].to(toy.dtype)).float() for r in records]
    expected = torch.nn.functional.normalize(torch.cat(single), dim=-1).numpy()
    cosine = np.sum(vectors * expected, axis=1)
    assert cosine.min() > 0.9999, f"lowest cosine {cosine.min():.6f}"


def test_an_unreadable_file_among_many_is_reported(toy, tmp_path):
    records = _jpegs(tmp_path, 12)
    records[9].path.write_bytes(records[9].path.read_bytes()[:300])  # a truncated JPEG
    with pytest.raises(UnreadableImageError, match="009.jpg"):
        run(toy.embed(records))


@pytest.mark.parametrize("resize_mode", ["shortest", "longest", "squash"])
def test_the_cheaper_tensor_step_gives_the_transforms_tensor_bit_for_bit(toy, tmp_path, resize_mode):
    transform = import_open_clip().transform.image_transform(
        toy._min_side, is_train=False, interpolation="bicubic", resize_mode=resize_mode)
    for record in _jpegs(tmp_path, 4):
        image = open_image(record.path, max_side=toy._min_side)
        fast = apply_transform(transform, image)
        assert fast.is_contiguous() and torch.equal(fast, transform(image))
    grey = Image.new("L", (50, 30), 99)  # made RGB by the transform's own step
    assert torch.equal(apply_transform(transform, grey), transform(grey))


def test_a_transform_of_another_shape_runs_as_it_is():
    calls = []

    def transform(image):
        calls.append(image)
        return torch.zeros(3, 2, 2)

    assert torch.equal(apply_transform(transform, "an image"), torch.zeros(3, 2, 2)) and calls == ["an image"]
