"""The installer's model shipping (packaging/stage_models.py) and runtime hook, without building an installer.

The build itself, the .deb and the selftest inside it are checked by packaging/smoke.sh (run by .ci/run after this suite; packaging/README.md).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import runpy
import sys
from pathlib import Path

import pytest

from spotdiff.models import registry as models
from spotdiff.models.registry import get_model_spec, locate_weights

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"
pytest.importorskip("gguf", reason="the tiny VLM is written with gguf (pip install -e '.[vlm]')")


def load_stage_models():
    spec = importlib.util.spec_from_file_location("stage_models", PACKAGING / "stage_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def stage_models():
    return load_stage_models()


@pytest.fixture
def models_dir(tmp_path):
    """A --with-models folder: the tiny VLM (GGUF model + projector) and its registry entry beside it."""
    from spotdiff.models.vlm.tiny import write_pair

    folder = tmp_path / "models"
    _, _, entry = write_pair(folder / "tiny-vlm")
    entry.rename(folder / entry.name)
    return folder


def test_shipped_models_are_checked_copied_and_found_inside_the_app(stage_models, models_dir, tmp_path, monkeypatch):
    stage = tmp_path / "stage"

    lines = stage_models.stage(models_dir, stage)

    assert lines == ["tiny-vlm: 0.6 MB, sha256 checked"]
    shipped = stage / "model_weights" / "tiny-vlm"
    assert sorted(p.name for p in shipped.iterdir()) == ["tiny-vlm-mmproj.gguf", "tiny-vlm.gguf"]
    entry = json.loads((stage / "registry" / "tiny-vlm.json").read_text(encoding="utf-8"))
    assert entry["bundled"] == "model_weights/tiny-vlm"
    assert entry["sha256"] == hashlib.sha256((shipped / "tiny-vlm.gguf").read_bytes()).hexdigest()
    # inside the app the entry comes through SPOTDIFF_REGISTRY and "bundled" resolves against the engine package
    monkeypatch.setenv("SPOTDIFF_REGISTRY", str(stage / "registry"))
    monkeypatch.setattr(models, "bundled_dir", lambda: stage)
    assert locate_weights(get_model_spec("tiny-vlm")) == shipped / "tiny-vlm.gguf"


def test_a_damaged_file_stops_the_build(stage_models, models_dir, tmp_path):
    model = models_dir / "tiny-vlm" / "tiny-vlm-mmproj.gguf"
    data = bytearray(model.read_bytes())
    data[-10] ^= 0x01
    model.write_bytes(bytes(data))

    with pytest.raises(stage_models.StageError, match=r"tiny-vlm-mmproj.gguf has sha256 \w+, expected \w+"):
        stage_models.stage(models_dir, tmp_path / "stage")


def test_a_file_without_a_known_sha256_needs_a_line_in_sha256sums(stage_models, models_dir, tmp_path):
    entry_path = models_dir / "tiny-vlm.json"
    entry = json.loads(entry_path.read_text(encoding="utf-8"))
    expected = entry["sha256"]
    entry["sha256"] = None  # as for most hub models: the registry cannot know the hash
    entry_path.write_text(json.dumps(entry), encoding="utf-8")

    with pytest.raises(stage_models.StageError, match="no sha256 to check .*/SHA256SUMS has no line for "
                                                      "'tiny-vlm/tiny-vlm.gguf'"):
        stage_models.stage(models_dir, tmp_path / "stage")

    (models_dir / "SHA256SUMS").write_text(f"{expected}  tiny-vlm/tiny-vlm.gguf\n", encoding="utf-8")
    stage_models.stage(models_dir, tmp_path / "stage")
    shipped = json.loads((tmp_path / "stage" / "registry" / "tiny-vlm.json").read_text(encoding="utf-8"))
    assert shipped["sha256"] == expected  # recorded, so the installed app checks the file at every load


def test_an_unknown_model_folder_names_the_models_there_are(stage_models, tmp_path, capsys):
    (tmp_path / "models" / "no-such-model").mkdir(parents=True)

    code = stage_models.main([str(tmp_path / "models"), str(tmp_path / "stage")])

    assert code == 2 and "no-such-model" in capsys.readouterr().err


def test_the_runtime_hook_goes_offline_and_puts_shipped_models_before_the_users(tmp_path, monkeypatch):
    (tmp_path / "spotdiff_models").mkdir()
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    monkeypatch.setenv("SPOTDIFF_REGISTRY", "/home/someone/registry")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # a user who asked to go online keeps it
    for name in ("TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
        monkeypatch.delenv(name, raising=False)

    runpy.run_path(str(PACKAGING / "rthooks" / "pyi_rth_spotdiff.py"))

    assert os.environ["SPOTDIFF_REGISTRY"] == os.pathsep.join([str(tmp_path / "spotdiff_models"),
                                                               "/home/someone/registry"])
    assert os.environ["HF_HUB_OFFLINE"] == "0" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
