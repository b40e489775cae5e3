"""The offline guarantee and safe weights: a whole comparison with socket creation forbidden, a
tampered weights file refused, and a BiomedCLIP-shaped model (Hugging Face BERT text tower) loaded
from a Hugging Face cache folder this test lays out."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from spotdiff.models._torchvision_compat import import_open_clip
from spotdiff.apps.cli import main
from spotdiff.errors import ModelLoadError, WeightsDownloadError, WeightsNotFoundError
from spotdiff.synthetic.medical import write_dicom_set
from spotdiff.models.download import pull
from spotdiff.models.factory import open_embedder
from spotdiff.models.registry import get_model_spec, list_models
from spotdiff.models.offline import OFFLINE_VARIABLES, hub_offline
from spotdiff.pipeline import CompareRequest, compare_steps
from spotdiff.analysis.proposers import ConceptBankProposer, MeasurementProposer
from spotdiff.analysis.proposers.acquisition import AcquisitionProposer
from spotdiff.progress import run

REV = "0123456789abcdef0123456789abcdef01234567"
TINY_CLIP_CFG = {  # the architecture of tests/conftest.py's tiny_clip_weights
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 64, "layers": 2, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


class NetworkUsed(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch):
    """Creating a socket, resolving a name or connecting raises — and is recorded, in case it is caught."""
    attempts: list[str] = []

    def refuse(what):
        def refused(*args, **kwargs):
            attempts.append(what)
            raise NetworkUsed(f"network use during an offline test: {what}")
        return refused

    class NoSocket(socket.socket):
        def __init__(self, *args, **kwargs):
            refuse("socket.socket")()

    for name in ("connect", "connect_ex", "bind"):  # for code holding the real class from before
        monkeypatch.setattr(socket.socket, name, refuse(f"socket.{name}"))
    monkeypatch.setattr(socket, "socket", NoSocket)
    for name in ("create_connection", "getaddrinfo", "gethostbyname", "socketpair", "create_server"):
        monkeypatch.setattr(socket, name, refuse(name))
    return attempts


@pytest.fixture
def dicom_sets(tmp_path):
    write_dicom_set(tmp_path / "a", 12, label="a", seed=1)
    write_dicom_set(tmp_path / "b", 12, label="b", seed=2, tags={"Manufacturer": "ACME MEDICAL"})
    return tmp_path


class EnvironmentRecorder:
    """A proposer that proposes nothing and notes the offline switches while the comparison runs."""

    name = "environment-recorder"

    def __init__(self):
        self.seen: dict = {}

    def propose(self, evidence):
        from huggingface_hub import constants

        self.seen = {name: os.environ.get(name) for name in OFFLINE_VARIABLES}
        self.seen["constant"] = constants.HF_HUB_OFFLINE
        return []


def test_sockets_are_really_forbidden(no_network):
    with pytest.raises(NetworkUsed):
        socket.create_connection(("example.org", 80))
    with pytest.raises(NetworkUsed):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    assert no_network == ["create_connection", "socket.socket"]


def test_a_full_comparison_opens_no_connection(tiny_clip, dicom_sets, monkeypatch, no_network):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # the comparison must switch it on itself
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    recorder = EnvironmentRecorder()
    request = CompareRequest(set_a=dicom_sets / "a", set_b=dicom_sets / "b", model=tiny_clip, measurements=True,
                             n_permutations=19, cache_dir=dicom_sets / "cache")

    phrases = ConceptBankProposer(phrases=["a bright scan", "a dark scan", "a noisy image", "a sharp image"])
    proposers = [MeasurementProposer(), AcquisitionProposer(), phrases, recorder]

    result = run(compare_steps(request, proposers=proposers))

    assert no_network == []
    assert {s.space for s in result.separability} == {"tiny-clip", "measurements", "acquisition"}
    assert any(f.source == "concept-bank" for f in result.findings)  # the text tower ran too
    assert any(f.supported and f.statement == "Manufacturer = ACME MEDICAL" for f in result.findings)
    assert recorder.seen == {**{name: "1" for name in OFFLINE_VARIABLES}, "constant": True}
    assert "HF_HUB_OFFLINE" not in os.environ and constants.HF_HUB_OFFLINE is False  # put back afterwards


def test_offline_switch_nests_and_restores(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with hub_offline():
        with hub_offline():
            assert os.environ["HF_HUB_OFFLINE"] == "1" and constants.HF_HUB_OFFLINE is True
        assert os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert os.environ["HF_HUB_OFFLINE"] == "0" and "TRANSFORMERS_OFFLINE" not in os.environ
    assert constants.HF_HUB_OFFLINE is False


# --- safe weights ---------------------------------------------------------------------------------


def test_tampered_weights_are_refused_with_a_clear_message(tiny_clip, tiny_clip_weights, dicom_sets, tmp_path,
                                                             capsys, no_network):
    """Through the whole CLI: the comparison stops before anything is embedded or written."""
    registry = Path(os.environ["SPOTDIFF_REGISTRY"]) / "tiny-clip.json"
    entry = json.loads(registry.read_text())
    entry["sha256"] = hashlib.sha256(tiny_clip_weights.read_bytes()).hexdigest()
    registry.write_text(json.dumps(entry))
    installed = Path(os.environ["SPOTDIFF_MODELS"]) / "tiny-clip" / tiny_clip_weights.name
    args = ["compare", str(dicom_sets / "a"), str(dicom_sets / "b"), "--model", "tiny-clip", "-q",
            "--permutations", "19", "--no-cache"]

    assert open_embedder("tiny-clip").weights_sha256 == entry["sha256"]  # the published file loads
    data = bytearray(installed.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, deep inside a tensor: the file still loads, but is not the one
    installed.write_bytes(bytes(data))
    assert main(args + ["--out", str(tmp_path / "bad")]) == 2

    message = capsys.readouterr().err
    assert "Refusing to load weights for model 'tiny-clip'" in message and str(installed) in message
    assert entry["sha256"] in message and "spotdiff models pull tiny-clip" in message
    assert not (tmp_path / "bad" / "report.json").exists()
    assert no_network == []


def test_a_folder_model_loads_only_the_checked_file(tmp_path, monkeypatch, tiny_clip_weights, no_network):
    """open_clip's local-dir loading picks a folder's preferred weights file; it must be the checked one."""
    from safetensors.torch import load_file

    state = load_file(tiny_clip_weights)
    checkpoint = tmp_path / "open_clip_pytorch_model.bin"
    torch.save(state, checkpoint)
    config = json.dumps({"model_cfg": TINY_CLIP_CFG, "preprocess_cfg": {"mean": [0.5] * 3, "std": [0.5] * 3}})
    folder = _snapshot(tmp_path / "hf" / "hub", "spotdiff-test/folder-clip",
                       {"open_clip_config.json": config.encode(), checkpoint.name: checkpoint.read_bytes()})
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "folder-clip.json").write_text(json.dumps({
        "name": "folder-clip", "kind": "open_clip", "hf_hub": "spotdiff-test/folder-clip", "layout": "local-dir",
        "filename": checkpoint.name, "sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest()}))
    monkeypatch.setenv("SPOTDIFF_REGISTRY", str(registry))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))

    assert open_embedder("folder-clip").dim == 32
    (folder / "open_clip_model.safetensors").write_bytes(tiny_clip_weights.read_bytes())  # unchecked, preferred
    with pytest.raises(ModelLoadError, match="would load 'open_clip_model.safetensors'"):
        open_embedder("folder-clip")


# --- medical CLIP models ----------------------------------------------------------------------------


def test_medical_models_are_registered():
    biomed, quilt = get_model_spec("BiomedCLIP"), get_model_spec("QuiltNet")

    assert (biomed.hf_hub, biomed.layout, biomed.filename) == (
        "microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224", "local-dir", "open_clip_pytorch_model.bin")
    assert len(biomed.sha256) == 64 and biomed.license == "MIT"
    assert (quilt.name, quilt.hf_hub, quilt.layout) == ("QuiltNet-B-32", "wisdomik/QuiltNet-B-32", "local-dir")
    assert {"BiomedCLIP", "QuiltNet-B-32"} <= {s.name for s in list_models()}


BERT_REPO, CLIP_REPO = "spotdiff-test/tiny-pubmedbert", "spotdiff-test/tiny-biomedclip"
VISION = {"image_size": 32, "patch_size": 8, "width": 64, "layers": 1, "head_width": 32}
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "photo", "of", "tumour", "lesion", "scan", "the", "mri"]


def _snapshot(hf: Path, repo: str, files: dict[str, bytes]) -> Path:
    """Lay files out as huggingface_hub does: blobs by hash, snapshot symlinks, refs/main."""
    root = hf / ("models--" + repo.replace("/", "--"))
    snapshot, blobs = root / "snapshots" / REV, root / "blobs"
    for folder in (snapshot, blobs, root / "refs"):
        folder.mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(REV)
    for name, data in files.items():
        blob = blobs / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        os.symlink(os.path.relpath(blob, snapshot), snapshot / name)
    return snapshot


@pytest.fixture
def tiny_biomedclip(tmp_path, monkeypatch):
    """A random CLIP shaped like BiomedCLIP — open_clip ViT image tower, HF BERT text tower, torch
    checkpoint, tokenizer files beside it — in a Hugging Face cache, and a registry entry for it."""
    from transformers import BertConfig

    open_clip = import_open_clip()
    bert = BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=37, max_position_embeddings=64)
    tokenizer_files = {"vocab.txt": ("\n".join(VOCAB) + "\n").encode(),
                       "tokenizer_config.json": json.dumps({"tokenizer_class": "BertTokenizer",
                                                            "do_lower_case": True}).encode()}
    hf = tmp_path / "hf" / "hub"
    bert_folder = _snapshot(hf, BERT_REPO, {"config.json": bert.to_json_string().encode(), **tokenizer_files})
    text_cfg = {"hf_model_name": BERT_REPO, "hf_tokenizer_name": BERT_REPO, "hf_proj_type": "mlp",
                "hf_pooler_type": "cls_last_hidden_state_pooler", "context_length": 16}
    torch.manual_seed(0)
    local_text = {**text_cfg, "hf_model_name": str(bert_folder), "hf_tokenizer_name": str(bert_folder),
                  "hf_model_pretrained": False}
    model = open_clip.model.CustomTextCLIP(embed_dim=24, vision_cfg=VISION, text_cfg=local_text)
    weights = tmp_path / "open_clip_pytorch_model.bin"
    torch.save(model.state_dict(), weights)
    config = {"model_cfg": {"embed_dim": 24, "vision_cfg": VISION, "text_cfg": text_cfg},
              "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}}
    clip_folder = _snapshot(hf, CLIP_REPO, {"open_clip_config.json": json.dumps(config).encode(),
                                            "open_clip_pytorch_model.bin": weights.read_bytes(), **tokenizer_files})
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "tiny-biomedclip.json").write_text(json.dumps({
        "name": "tiny-biomedclip", "kind": "open_clip", "hf_hub": CLIP_REPO, "layout": "local-dir",
        "filename": "open_clip_pytorch_model.bin", "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "license": "MIT", "description": "test"}))
    monkeypatch.setenv("SPOTDIFF_REGISTRY", str(registry))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # read by spotdiff at call time
    return {"model": model.eval(), "clip": clip_folder, "bert": bert_folder, "hf": hf}


@pytest.mark.extra("transformers", "medical")
def test_a_bert_text_tower_model_loads_offline_from_the_hf_cache(tiny_biomedclip, dicom_sets, no_network):
    from open_clip.tokenizer import HFTokenizer

    from spotdiff.io.images import scan_image_set

    embedder = open_embedder("tiny-biomedclip", precision="fp32")  # compared with the fp32 reference below
    records = run(scan_image_set(dicom_sets / "a", "a")).images[:3]
    images = run(embedder.embed(records))
    texts = embedder.embed_text(["an mri scan of the lesion", "a photo"])

    reference, tokenize = tiny_biomedclip["model"], HFTokenizer(str(tiny_biomedclip["bert"]), context_length=16)
    with torch.inference_mode():
        want = torch.nn.functional.normalize(reference.encode_text(tokenize(["an mri scan of the lesion",
                                                                               "a photo"])), dim=-1).numpy()
    np.testing.assert_allclose(texts, want, atol=1e-5)  # the checkpoint's BERT weights, not random ones
    assert images.shape == (3, 24) and np.allclose(np.linalg.norm(images, axis=1), 1, atol=1e-5)
    assert embedder.weights == tiny_biomedclip["clip"] and no_network == []


@pytest.mark.extra("transformers", "medical")
def test_a_missing_text_tower_config_names_the_repo_and_the_fix(tiny_biomedclip, no_network):
    (tiny_biomedclip["bert"] / "config.json").unlink()

    with pytest.raises(WeightsNotFoundError) as caught:
        open_embedder("tiny-biomedclip")

    assert BERT_REPO in str(caught.value) and "spotdiff models pull tiny-biomedclip" in str(caught.value)
    with pytest.raises(WeightsDownloadError, match="offline mode is on"):  # HF_HUB_OFFLINE=1 (conftest)
        run(pull(get_model_spec("tiny-biomedclip")))
    assert no_network == []


@pytest.mark.extra("transformers", "medical")
def test_without_transformers_the_fix_is_named(tiny_biomedclip, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "transformers", None)  # as if not installed

    with pytest.raises(ModelLoadError, match=r"spotdiff\[medical\]"):
        open_embedder("tiny-biomedclip")
