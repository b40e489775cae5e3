"""OpenClipEmbedder on a tiny random open_clip model: real open_clip classes, real loading paths.

The model (ViT 32 px, 2 layers; text tower 1 layer; embed_dim 32) is written once per module as a
safetensors file; each test registers it through a registry JSON, as a user would.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from spotdiff.models._torchvision_compat import import_open_clip
from spotdiff.models.embedders.base import Embedder, TextEncoder
from spotdiff.models.embedders.open_clip import OpenClipEmbedder
from spotdiff.errors import InvalidParameterError, ModelLoadError, WeightsIntegrityError
from spotdiff.io.images import ImageRecord
from spotdiff.models.factory import open_embedder
from spotdiff.models.registry import get_model_spec, locate_weights
from spotdiff.progress import Progress, run

open_clip = import_open_clip()

TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 64, "layers": 2, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
PREPROCESS = {"image_size": 32, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
              "interpolation": "bicubic", "resize_mode": "shortest"}
REV = "0123456789abcdef0123456789abcdef01234567"
N_IMAGES = 5


def _reference_model(weights) -> torch.nn.Module:
    """The tiny CLIP built and loaded by hand, without spotdiff's or open_clip's factory."""
    from safetensors.torch import load_file

    model = open_clip.model.CLIP(**TINY_CFG)
    model.load_state_dict(load_file(weights))
    return model.eval()


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    torch.manual_seed(0)
    model = open_clip.model.CLIP(**TINY_CFG)
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Empty models dir, cache and HF cache; hub traffic forbidden; a registry folder to write to."""
    for var in ("HF_HOME", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SPOTDIFF_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("SPOTDIFF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-empty"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "registry").mkdir()
    monkeypatch.setenv("SPOTDIFF_REGISTRY", str(tmp_path / "registry"))
    return tmp_path


def register(tmp_path, **fields) -> None:
    entry = {"name": "tiny-clip", "kind": "open_clip", "model_cfg": TINY_CFG, "filename": "tiny.safetensors",
             "layout": "weights-file", "sha256": None, "preprocess": PREPROCESS, "aliases": ["tiny"]}
    entry.update(fields)
    (tmp_path / "registry" / f"{entry['name']}.json").write_text(json.dumps(entry))


@pytest.fixture
def installed(tmp_path, tiny_weights):
    """The tiny model registered with its weights in the models dir, as after a manual install."""
    folder = tmp_path / "models" / "tiny-clip"
    folder.mkdir(parents=True)
    (folder / "tiny.safetensors").write_bytes(tiny_weights.read_bytes())
    register(tmp_path)
    return folder / "tiny.safetensors"


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    records = []
    for i, size in enumerate([(40, 40), (64, 48), (33, 90), (200, 120), (32, 32)][:N_IMAGES]):
        path = tmp_path / f"im{i}.png"
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        records.append(ImageRecord(path, digest, size[0], size[1], "PNG"))
    return records


def collect(work):
    reports = []
    result = run(work, reports.append)
    return result, reports


def unit_norm(x):
    return np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


def test_embeds_images_through_the_registry(installed, images):
    embedder = open_embedder("TINY")
    assert isinstance(embedder, OpenClipEmbedder)
    assert isinstance(embedder, Embedder) and isinstance(embedder, TextEncoder)
    assert (embedder.name, embedder.dim, embedder.feature_names) == ("tiny-clip", 32, None)

    vectors, reports = collect(embedder.embed(images))

    assert vectors.shape == (N_IMAGES, 32) and vectors.dtype == np.float32
    assert unit_norm(vectors)
    assert len({row.tobytes() for row in vectors}) == N_IMAGES
    assert all(isinstance(r, Progress) and r.stage == "embed" and r.total == N_IMAGES for r in reports)
    assert reports[-1].done == N_IMAGES


def test_batches_report_progress_and_results_repeat(installed, images):
    embedder = OpenClipEmbedder(get_model_spec("tiny-clip"), installed, batch_size=2)

    first, reports = collect(embedder.embed(images))
    second, _ = collect(embedder.embed(images))

    assert [r.done for r in reports] == [0, 2, 4, 5]
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(collect(OpenClipEmbedder(get_model_spec("tiny-clip"), installed,
                                                        batch_size=32).embed(images))[0], first, atol=1e-5)


def test_vectors_match_the_model_run_by_hand(installed, images):
    from torchvision import transforms as T

    embedder = open_embedder("tiny-clip", precision="fp32")
    reference = _reference_model(installed)
    transform = T.Compose([T.Resize(32, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(32),
                           T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)])
    pixels = torch.stack([transform(Image.open(r.path).convert("RGB")) for r in images])
    tokens = open_clip.tokenize(["a cat", "a red square"], context_length=16)
    with torch.inference_mode():
        want_images = torch.nn.functional.normalize(reference.encode_image(pixels), dim=-1).numpy()
        want_texts = torch.nn.functional.normalize(reference.encode_text(tokens), dim=-1).numpy()

    np.testing.assert_allclose(run(embedder.embed(images)), want_images, atol=1e-4)
    np.testing.assert_allclose(embedder.embed_text(["a cat", "a red square"]), want_texts, atol=1e-5)


def test_text_shares_the_image_space(installed, images):
    embedder = open_embedder("tiny-clip", weights=installed)

    texts = embedder.embed_text(["a photo of a cat", "a dog", "noise"])
    vectors = run(embedder.embed(images[:2]))

    assert texts.shape == (3, embedder.dim) and texts.dtype == np.float32 and unit_norm(texts)
    assert len({row.tobytes() for row in texts}) == 3
    assert (vectors @ texts.T).shape == (2, 3)
    assert embedder.embed_text([]).shape == (0, embedder.dim)
    with pytest.raises(InvalidParameterError):
        embedder.embed_text("one string")


def test_trimmed_text_encoding_equals_the_full_context(installed):
    """Phrases are encoded over their own tokens only; the causal mask makes that exact."""
    embedder = open_embedder("tiny-clip", weights=installed, precision="fp32")
    texts = ["a", "a much longer phrase about a red striped object on a checkered floor", "noise", "two cats"] * 3
    tokens = embedder._tokenizer(texts)
    with torch.inference_mode():
        full = torch.nn.functional.normalize(embedder._model.encode_text(tokens), dim=-1).numpy()

    trimmed = embedder.embed_text(texts)  # shortest first, in batches, back in the given order

    assert np.allclose(trimmed, full, atol=1e-5)


def test_cache_key_names_model_weights_preprocessing_and_precision(installed):
    embedder = open_embedder("tiny-clip", precision="fp32")
    digest = hashlib.sha256(installed.read_bytes()).hexdigest()

    assert embedder.cache_key == (
        f"tiny-clip|{digest}|32px,bicubic,shortest,mean=0.5,0.5,0.5,std=0.5,0.5,0.5|fp32")
    assert embedder.weights_sha256 == digest


def test_registry_preprocessing_is_applied_not_open_clips_default(tmp_path, installed):
    # pretrained=<file> makes open_clip forget a tag's mean/std; the registry's must win
    register(tmp_path, preprocess={**PREPROCESS, "mean": [0.1, 0.2, 0.3], "interpolation": "bilinear"})

    embedder = open_embedder("tiny-clip")

    assert list(embedder.preprocess_cfg["mean"]) == [0.1, 0.2, 0.3]
    assert "bilinear" in embedder.cache_key and "mean=0.1,0.2,0.3" in embedder.cache_key


def test_loads_a_local_dir_snapshot_from_the_hf_cache_offline(tmp_path, monkeypatch, tiny_weights, images):
    repo = tmp_path / "hf" / "hub" / "models--spotdiff-test--tiny-clip"
    snapshot, blobs = repo / "snapshots" / REV, repo / "blobs"
    for folder in (snapshot, blobs, repo / "refs"):
        folder.mkdir(parents=True)
    (repo / "refs" / "main").write_text(REV)
    config = json.dumps({"model_cfg": TINY_CFG, "preprocess_cfg": {"mean": [0.5] * 3, "std": [0.5] * 3}})
    for name, data in [("open_clip_config.json", config.encode()),
                       ("open_clip_model.safetensors", tiny_weights.read_bytes())]:
        blob = blobs / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        os.symlink(os.path.relpath(blob, snapshot), snapshot / name)  # as huggingface_hub lays it out
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # read at call time, not at import
    register(tmp_path, name="tiny-snapshot", model_cfg=None, preprocess=None, aliases=[], layout="local-dir",
             hf_hub="spotdiff-test/tiny-clip", filename="open_clip_model.safetensors")
    (tmp_path / "models" / "tiny-clip").mkdir(parents=True)
    (tmp_path / "models" / "tiny-clip" / "tiny.safetensors").write_bytes(tiny_weights.read_bytes())
    register(tmp_path)

    assert locate_weights(get_model_spec("tiny-snapshot")) == snapshot
    from_snapshot = open_embedder("tiny-snapshot")
    from_file = open_embedder("tiny-clip")

    np.testing.assert_allclose(run(from_snapshot.embed(images)), run(from_file.embed(images)), atol=1e-6)
    np.testing.assert_allclose(from_snapshot.embed_text(["a cat"]), from_file.embed_text(["a cat"]), atol=1e-6)
    assert from_snapshot.weights_sha256 == from_file.weights_sha256


def test_wrong_sha256_refuses_to_load(tmp_path, installed):
    register(tmp_path, sha256="ab" * 32)

    with pytest.raises(WeightsIntegrityError) as caught:
        open_embedder("tiny-clip")

    assert caught.value.expected == "ab" * 32
    assert caught.value.found == hashlib.sha256(installed.read_bytes()).hexdigest()
    assert "spotdiff models pull tiny-clip" in str(caught.value)


def test_right_sha256_loads(tmp_path, installed):
    register(tmp_path, sha256=hashlib.sha256(installed.read_bytes()).hexdigest().upper())

    assert open_embedder("tiny-clip").dim == 32


def test_corrupt_weights_file_is_a_model_load_error(tmp_path, installed):
    installed.write_bytes(np.random.default_rng(1).bytes(4096))

    with pytest.raises(ModelLoadError) as caught:
        open_embedder("tiny-clip")

    assert caught.value.path == installed and "tiny.safetensors" in str(caught.value)


def test_weights_for_another_architecture_are_a_model_load_error(tmp_path, installed):
    register(tmp_path, model_cfg={**TINY_CFG, "embed_dim": 16})

    with pytest.raises(ModelLoadError, match="size mismatch"):
        open_embedder("tiny-clip")


_UNPICKLED = []


def _record_unpickling():
    _UNPICKLED.append(True)
    return {}


class _Payload:
    def __reduce__(self):
        return (_record_unpickling, ())


def test_torch_checkpoints_load_with_weights_only(tmp_path, tiny_weights, images):
    from safetensors.torch import load_file

    register(tmp_path, filename="tiny.bin")
    good, evil = tmp_path / "good" / "tiny.bin", tmp_path / "evil" / "tiny.bin"
    good.parent.mkdir(), evil.parent.mkdir()
    torch.save({"state_dict": load_file(tiny_weights)}, good)
    torch.save({"state_dict": _Payload()}, evil)

    assert run(open_embedder("tiny-clip", weights=good.parent).embed(images)).shape == (N_IMAGES, 32)
    with pytest.raises(ModelLoadError, match="UnpicklingError"):
        open_embedder("tiny-clip", weights=evil)
    assert _UNPICKLED == []  # the payload never ran


def test_image_size_disagreeing_with_the_model_is_reported(tmp_path, installed):
    register(tmp_path, preprocess={**PREPROCESS, "image_size": 224})

    with pytest.raises(ModelLoadError, match="image_size 224.*32 px"):
        open_embedder("tiny-clip")


def test_close_frees_the_model_and_next_use_reloads(installed, images):
    embedder = open_embedder("tiny-clip")
    before = embedder.embed_text(["a cat"])

    embedder.close()
    assert embedder._model is None

    np.testing.assert_array_equal(embedder.embed_text(["a cat"]), before)
    with embedder:
        run(embedder.embed(images[:1]))
    assert embedder._model is None


def test_precision_auto_resolves_and_unknown_values_are_refused(installed, monkeypatch):
    spec = get_model_spec("tiny-clip")
    auto = open_embedder("tiny-clip", precision="auto")
    assert auto.precision in ("bf16", "fp32") and auto.cache_key.endswith("|" + auto.precision)
    monkeypatch.setenv("SPOTDIFF_PRECISION", "fp32")
    assert open_embedder("tiny-clip", precision="auto").cache_key.endswith("|fp32")
    with pytest.raises(InvalidParameterError, match="precision"):
        OpenClipEmbedder(spec, installed, precision="int3")
    with pytest.raises(InvalidParameterError, match="batch_size"):
        OpenClipEmbedder(spec, installed, batch_size=0)


def test_bf16_embeddings_agree_with_fp32(installed, images):
    """The bf16 model gives the same directions as fp32: cosine >= 0.999 for images and text."""
    fp32 = open_embedder("tiny-clip", precision="fp32")
    bf16 = open_embedder("tiny-clip", precision="bf16")
    assert bf16.precision == "bf16" and bf16.bf16_cosine >= 0.999
    cosine = np.sum(run(fp32.embed(images)) * run(bf16.embed(images)), axis=1)
    assert cosine.min() >= 0.999, cosine
    texts = ["a red square", "two blue circles on a striped background"]
    assert np.sum(fp32.embed_text(texts) * bf16.embed_text(texts), axis=1).min() >= 0.999


def test_a_cache_written_in_one_precision_is_not_served_for_the_other(installed, images, tmp_path):
    from spotdiff.models.cache import EmbeddingCache
    from spotdiff.models.embedding import embed_images

    cache = EmbeddingCache(tmp_path / "precision-cache")
    fp32 = open_embedder("tiny-clip", precision="fp32")
    bf16 = open_embedder("tiny-clip", precision="bf16")
    assert fp32.cache_key != bf16.cache_key
    reports = []
    run(embed_images(fp32, images, cache), reports.append)
    assert reports[0].total == len(images)
    reports.clear()
    run(embed_images(bf16, images, cache), reports.append)
    assert reports[0].total == len(images)  # nothing served from the fp32 rows
    reports.clear()
    run(embed_images(bf16, images, cache), reports.append)
    assert reports[0].total == 0
