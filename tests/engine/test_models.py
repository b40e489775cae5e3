"""The model registry, weights lookup, integrity checks and pull — no model is loaded here.

Weights here are stand-in bytes: lookup and hashing never parse them.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

import spotdiff.models.registry as models
from spotdiff.models.download import pull
from spotdiff.errors import (InvalidParameterError, ModelError, ModelLoadError, UnknownModelError,
                           WeightsDownloadError, WeightsIntegrityError, WeightsNotFoundError)
from spotdiff.models.factory import open_embedder
from spotdiff.models.registry import (availability, get_model_spec, hf_cache_dir, list_models, locate_weights,
                                      models_dir, verify_sha256)
from spotdiff.progress import run

SHIPPED = models.PACKAGE_DIR / "model_configs"
REV = "89abcdef0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    for var in ("HF_HOME", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME", "SPOTDIFF_REGISTRY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SPOTDIFF_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("SPOTDIFF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


def write_entry(folder: Path, **fields) -> Path:
    entry = {"name": "extra", "kind": "open_clip", "architecture": "ViT-B-32", "filename": "w.safetensors",
             "layout": "weights-file", "preprocess": {"image_size": 224, "mean": [0.5] * 3, "std": [0.5] * 3}}
    entry.update(fields)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{entry['name']}.json"
    path.write_text(json.dumps(entry))
    return path


def put_in_hf_cache(repo_id: str, filename: str, data: bytes) -> Path:
    repo = Path(os.environ["HF_HUB_CACHE"]) / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(REV)
    (repo / "snapshots" / REV).mkdir(parents=True)
    path = repo / "snapshots" / REV / filename
    path.write_bytes(data)
    return path


# --- the registry ----------------------------------------------------------------------------


def test_shipped_entries_all_parse():
    names = [s.name for s in list_models()]

    assert {"ViT-B-32", "ViT-L-14", "measurements"} <= set(names)
    assert len(names) == len(list(SHIPPED.glob("*.json")))
    for spec in list_models():
        assert spec.source_path.parent == SHIPPED and spec.license and spec.description
        assert spec.sha256 is None or len(spec.sha256) == 64


@pytest.mark.parametrize("name", ["ViT-B-32", "ViT-L-14"])
def test_clip_entries_agree_with_open_clips_pretrained_table(name):
    from spotdiff.models._torchvision_compat import import_open_clip

    spec = get_model_spec(name)
    table = import_open_clip().pretrained.get_pretrained_cfg(spec.architecture, spec.pretrained_tag)

    assert table["hf_hub"].rstrip("/") == spec.hf_hub
    assert spec.filename == "open_clip_model.safetensors"  # what open_clip itself fetches first
    assert spec.preprocess["mean"] == list(table["mean"]) and spec.preprocess["std"] == list(table["std"])
    assert (spec.preprocess["interpolation"], spec.preprocess["resize_mode"]) == (
        table["interpolation"], table["resize_mode"])
    assert spec.size_bytes > 500e6


def test_vit_l_14_laion_uses_half_mean_and_std():
    # unlike OpenAI's CLIP statistics that open_clip falls back to when given a file path
    assert get_model_spec("ViT-L-14").preprocess["mean"] == [0.5, 0.5, 0.5]


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownModelError) as caught:
        get_model_spec("ViT-Z-99")

    assert {"ViT-B-32", "ViT-L-14", "measurements"} <= set(caught.value.known)
    assert "ViT-B-32" in str(caught.value) and "measurements" in str(caught.value)


@pytest.mark.parametrize("asked, found", [("vit-b-32", "ViT-B-32"), ("ViT-B/32", "ViT-B-32"),
                                          ("VIT-L/14", "ViT-L-14"), ("Measure", "measurements")])
def test_names_and_aliases_ignore_case(asked, found):
    assert get_model_spec(asked).name == found


def test_extra_registry_folders_add_and_replace_entries(tmp_path, monkeypatch):
    write_entry(tmp_path / "one", name="my-clip", aliases=["mine"])
    replacement = write_entry(tmp_path / "two", name="ViT-B-32", description="my own copy")
    monkeypatch.setenv("SPOTDIFF_REGISTRY", os.pathsep.join([str(tmp_path / "one"), str(tmp_path / "two")]))

    names = [s.name for s in list_models()]

    assert get_model_spec("mine").name == "my-clip"
    assert names.count("ViT-B-32") == 1 and get_model_spec("ViT-B-32").source_path == replacement


@pytest.mark.parametrize("fields, problem", [
    ({"sha265": None}, "unknown keys"),
    ({"sha256": "abc"}, "64 hex"),
    ({"hf_hub": "laion/CLIP/extra"}, "org/name"),
    ({"layout": "zip"}, "layout"),
    ({"model_cfg": {"embed_dim": 8, "vision_cfg": {}, "text_cfg": {}}}, "exactly one"),
    ({"preprocess": None}, "preprocess"),
    ({"aliases": ["ViT-L/14"]}, "already taken"),
])
def test_invalid_entries_name_their_file_and_problem(tmp_path, monkeypatch, fields, problem):
    path = write_entry(tmp_path / "reg", **fields)
    monkeypatch.setenv("SPOTDIFF_REGISTRY", str(tmp_path / "reg"))

    with pytest.raises(ModelLoadError, match=problem) as caught:
        list_models()

    assert caught.value.path == path


def test_an_entry_that_is_not_json_is_reported(tmp_path, monkeypatch):
    (tmp_path / "reg").mkdir()
    (tmp_path / "reg" / "broken.json").write_text("{not json")
    monkeypatch.setenv("SPOTDIFF_REGISTRY", str(tmp_path / "reg"))

    with pytest.raises(ModelLoadError, match="JSON"):
        list_models()


# --- where weights are looked for ------------------------------------------------------------


def test_folders_come_from_the_environment_at_call_time(tmp_path, monkeypatch):
    import platformdirs

    assert models_dir() == tmp_path / "models"
    monkeypatch.delenv("SPOTDIFF_MODELS")
    assert models_dir() == Path(platformdirs.user_data_dir("spotdiff")) / "models"

    assert hf_cache_dir() == tmp_path / "hf"
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert hf_cache_dir() == tmp_path / "home" / "hub"


def test_lookup_order_explicit_then_models_dir_then_hf_cache(tmp_path):
    spec = get_model_spec("ViT-B-32")
    cached = put_in_hf_cache(spec.hf_hub, spec.filename, b"hf")
    assert locate_weights(spec) == cached

    flat = tmp_path / "models" / spec.filename
    flat.parent.mkdir(parents=True)
    flat.write_bytes(b"flat")
    assert locate_weights(spec) == flat

    nested = tmp_path / "models" / "ViT-B-32" / spec.filename
    nested.parent.mkdir()
    nested.write_bytes(b"nested")
    assert locate_weights(spec) == nested

    mine = tmp_path / "elsewhere" / "any-name.safetensors"
    mine.parent.mkdir()
    mine.write_bytes(b"mine")
    assert locate_weights(spec, mine) == mine
    (mine.parent / spec.filename).write_bytes(b"by folder")
    assert locate_weights(spec, mine.parent) == mine.parent / spec.filename


def test_missing_weights_say_what_where_and_how_to_fix(tmp_path):
    with pytest.raises(WeightsNotFoundError) as caught:
        locate_weights(get_model_spec("ViT-B-32"))

    message = str(caught.value)
    assert "open_clip_model.safetensors" in message
    assert str(tmp_path / "models" / "ViT-B-32") in message and str(tmp_path / "models") in message
    assert str(tmp_path / "hf" / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K") in message
    assert "spotdiff models pull ViT-B-32" in message
    assert len(caught.value.searched) == 3


def test_an_explicit_path_that_is_wrong_is_not_silently_replaced(tmp_path):
    spec = get_model_spec("ViT-B-32")
    put_in_hf_cache(spec.hf_hub, spec.filename, b"hf")

    with pytest.raises(WeightsNotFoundError) as caught:
        locate_weights(spec, tmp_path / "typo.safetensors")

    assert caught.value.searched == (tmp_path / "typo.safetensors",)


def test_local_dir_layout_needs_config_and_weights_in_the_snapshot(tmp_path, monkeypatch):
    write_entry(tmp_path / "reg", name="snap", architecture=None, preprocess=None, layout="local-dir",
                hf_hub="spotdiff-test/snap", filename="open_clip_model.safetensors")
    monkeypatch.setenv("SPOTDIFF_REGISTRY", str(tmp_path / "reg"))
    spec = get_model_spec("snap")
    weights = put_in_hf_cache("spotdiff-test/snap", "open_clip_model.safetensors", b"w")

    with pytest.raises(WeightsNotFoundError, match="open_clip_config.json and open_clip_model.safetensors"):
        locate_weights(spec)

    (weights.parent / "open_clip_config.json").write_text("{}")
    assert locate_weights(spec) == weights.parent


def test_models_without_weights_have_nothing_to_locate():
    with pytest.raises(InvalidParameterError):
        locate_weights(get_model_spec("measurements"))


def test_availability(tmp_path):
    assert availability(get_model_spec("measurements"))[0] is True
    ok, why = availability(get_model_spec("ViT-B-32"))
    assert not ok and "spotdiff models pull ViT-B-32" in why

    (tmp_path / "models" / "ViT-B-32").mkdir(parents=True)
    (tmp_path / "models" / "ViT-B-32" / "open_clip_model.safetensors").write_bytes(b"w")
    ok, why = availability(get_model_spec("ViT-B-32"))
    assert ok and str(tmp_path / "models" / "ViT-B-32") in why


# --- trust -----------------------------------------------------------------------------------


def test_sha256_is_checked_and_remembered(tmp_path, monkeypatch):
    data = b"weights" * 1000
    write_entry(tmp_path / "reg", sha256=hashlib.sha256(data).hexdigest())
    monkeypatch.setenv("SPOTDIFF_REGISTRY", str(tmp_path / "reg"))
    path = tmp_path / "w.safetensors"
    path.write_bytes(data)
    hashed = []
    real_sha256 = hashlib.sha256
    monkeypatch.setattr(models.hashlib, "sha256", lambda *a: hashed.append(1) or real_sha256(*a))

    assert verify_sha256(get_model_spec("extra"), path) == real_sha256(data).hexdigest()
    assert verify_sha256(get_model_spec("extra"), path) == real_sha256(data).hexdigest()
    assert len(hashed) == 1  # the second answer came from the memo in SPOTDIFF_CACHE
    assert (tmp_path / "cache" / "weights-sha256.json").is_file()

    path.write_bytes(data + b"tampered")
    with pytest.raises(WeightsIntegrityError) as caught:
        verify_sha256(get_model_spec("extra"), path)
    assert caught.value.found == real_sha256(data + b"tampered").hexdigest()
    assert len(hashed) == 2


# --- pull ------------------------------------------------------------------------------------


def test_pull_when_offline_is_a_clear_model_error():
    with pytest.raises(WeightsDownloadError) as caught:
        run(pull(get_model_spec("ViT-B-32")))

    assert isinstance(caught.value, ModelError)
    message = str(caught.value)
    assert "HF_HUB_OFFLINE" in message and "laion/CLIP-ViT-B-32-laion2B-s34B-b79K" in message
    assert "open_clip_model.safetensors" in message


def test_pull_of_weights_already_here_needs_no_network(tmp_path):
    present = put_in_hf_cache("laion/CLIP-ViT-L-14-laion2B-s32B-b82K", "open_clip_model.safetensors", b"L")
    reports = []

    assert run(pull(get_model_spec("ViT-L-14")), reports.append) == present
    assert reports and all(r.stage == "pull" for r in reports)


# --- opening ---------------------------------------------------------------------------------


def test_open_embedder_dispatches_on_kind(tmp_path, monkeypatch):
    measurements = open_embedder("measurements")
    assert measurements.name == "measurements" and measurements.feature_names

    write_entry(tmp_path / "reg", name="future", kind="gguf-vlm")
    monkeypatch.setenv("SPOTDIFF_REGISTRY", str(tmp_path / "reg"))
    with pytest.raises(ModelLoadError, match="'gguf-vlm'.*measurements, open_clip"):
        open_embedder("future")


def test_open_embedder_reports_missing_weights():
    with pytest.raises(WeightsNotFoundError, match="spotdiff models pull ViT-L-14"):
        open_embedder("ViT-L-14")
