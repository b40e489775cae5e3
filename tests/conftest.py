import importlib.util
import os
import sys
from pathlib import Path

import pytest

# tests/support on sys.path, so a worker's child process (which inherits it) can import worker_faults by
# name. Not tests/ itself: pytest would then import tests/engine/test_*.py as modules of a package "engine".
sys.path.insert(0, str(Path(__file__).parent / "support"))
from user_folders import use_user_folders  # noqa: E402


def missing_extra(module: str, extra: str) -> str | None:
    """Why a test cannot run without ``module`` (of the optional extra ``extra``), or None when it is there."""
    if importlib.util.find_spec(module) is not None:
        return None
    return f"needs {module}, of the optional extra [{extra}]: scripts/install.sh --test installs it"


def pytest_runtest_setup(item):
    """``@pytest.mark.extra(module, extra)``: skipped, with the reason, where the extra is not installed —
    except in CI (``CI`` set), where every extra is installed and a missing one is a failure, not a skip."""
    for mark in item.iter_markers("extra"):
        why = missing_extra(*mark.args)
        if why is not None:
            if os.environ.get("CI"):
                pytest.fail(f"{why} (CI installs every extra)", pytrace=False)
            pytest.skip(why)


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Every test gets its own cache and models folders; nothing touches the user's."""
    use_user_folders(monkeypatch, tmp_path_factory.mktemp("user"))
    yield


@pytest.fixture(scope="session")
def toy_shapes_user(tmp_path_factory):
    """The bundled toy-shapes model, opened once for the session, and the user folder (cache, models) it was opened
    with: the modules that only embed with it share one load."""
    from spotdiff.models.factory import open_embedder

    with pytest.MonkeyPatch.context() as mp:
        root = use_user_folders(mp, tmp_path_factory.mktemp("toy-shapes-user"))
        yield open_embedder("toy-shapes"), root


TINY_CLIP_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 64, "layers": 2, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="session")
def tiny_clip_weights(tmp_path_factory):
    """A tiny random open_clip CLIP (real classes) saved as safetensors."""
    import torch
    from safetensors.torch import save_file

    from spotdiff.models._torchvision_compat import import_open_clip

    open_clip = import_open_clip()
    torch.manual_seed(0)
    model = open_clip.model.CLIP(**TINY_CLIP_CFG)
    path = tmp_path_factory.mktemp("tiny-clip") / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


@pytest.fixture
def tiny_clip(tmp_path, monkeypatch, tiny_clip_weights):
    """Register the tiny CLIP as model 'tiny-clip' through a registry folder, as a user would."""
    import json

    registry = tmp_path / "tiny-registry"
    registry.mkdir()
    entry = {"name": "tiny-clip", "kind": "open_clip", "model_cfg": TINY_CLIP_CFG, "filename": tiny_clip_weights.name,
             "layout": "weights-file", "sha256": None,
             "preprocess": {"image_size": 32, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                            "interpolation": "bicubic", "resize_mode": "shortest"}}
    (registry / "tiny-clip.json").write_text(json.dumps(entry))
    monkeypatch.setenv("SPOTDIFF_REGISTRY", str(registry))
    models = tmp_path / "tiny-models" / "tiny-clip"
    models.mkdir(parents=True)
    (models / tiny_clip_weights.name).write_bytes(tiny_clip_weights.read_bytes())
    monkeypatch.setenv("SPOTDIFF_MODELS", str(models.parent))
    return "tiny-clip"


@pytest.fixture(scope="session")
def zoo(tmp_path_factory, tiny_clip_weights):
    """A registry folder with the tiny VLM pair (spotdiff.models.vlm.tiny) and the tiny CLIP, weights beside their entries."""
    import json
    import shutil

    from spotdiff.models.vlm import tiny

    root = tmp_path_factory.mktemp("zoo")
    tiny.write_pair(root / "tiny-vlm")
    shutil.move(root / "tiny-vlm" / "tiny-vlm.json", root / "tiny-vlm.json")
    (root / "tiny-clip").mkdir()
    shutil.copy(tiny_clip_weights, root / "tiny-clip" / "tiny.safetensors")
    (root / "tiny-clip.json").write_text(json.dumps({
        "name": "tiny-clip", "kind": "open_clip", "model_cfg": TINY_CLIP_CFG, "filename": "tiny.safetensors",
        "layout": "weights-file", "sha256": None,
        "preprocess": {"image_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3}}))
    return root


@pytest.fixture
def registered(zoo, monkeypatch):
    """The zoo's tiny-vlm and tiny-clip registered and found, as a user's registry folder would be."""
    monkeypatch.setenv("SPOTDIFF_REGISTRY", str(zoo))
    monkeypatch.setenv("SPOTDIFF_MODELS", str(zoo))
    return zoo
