"""A tiny vision-language model with random weights, written as a real GGUF pair, for tests and smoke checks.

    python -m spotdiff.models.vlm.tiny OUT_DIR      # writes tiny-vlm.gguf, tiny-vlm-mmproj.gguf, tiny-vlm.json

The pair is a llama-architecture language model (2 blocks, width 64, a byte-level vocabulary with
ChatML markers and a chat template) and a LLaVA-style image projector ("clip.projector_type" =
"mlp": a 2-block ViT on 32 px images in 8 px patches, then a two-layer MLP into the language
model's width), which llama.cpp's mtmd loads like any LLaVA mmproj. It says nothing sensible, but
every step of the real path runs: image → ViT → projector → language model → grammar-held JSON.
The JSON entry registers it as kind "vlm" (put OUT_DIR in SPOTDIFF_REGISTRY and SPOTDIFF_MODELS).

Needs the ``gguf`` package (pip install gguf); nothing here is imported by the engine at run time.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import gguf
import hashlib

NAME = "tiny-vlm"
MODEL_FILE = "tiny-vlm.gguf"
MMPROJ_FILE = "tiny-vlm-mmproj.gguf"

TEXT = dict(n_embd=64, n_layer=2, n_head=4, n_ff=128, n_ctx=2048)
VISION = dict(image_size=32, patch_size=8, n_embd=32, n_layer=2, n_head=2, n_ff=48)
IMAGE_TOKENS = (VISION["image_size"] // VISION["patch_size"]) ** 2

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# gguf TokenType values (stable across gguf versions)
_NORMAL, _UNKNOWN, _CONTROL, _BYTE = 1, 2, 3, 6


def _vocab() -> tuple[list[str], list[float], list[int]]:
    """SentencePiece-style: specials, the 256 byte tokens, and one token per printable ASCII character."""
    tokens = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    types = [_UNKNOWN, _CONTROL, _CONTROL, _CONTROL, _CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [_BYTE] * 256
    chars = ["\u2581"] + [chr(c) for c in range(0x21, 0x7F)]  # U+2581 stands for a space in SentencePiece
    tokens += chars
    types += [_NORMAL] * len(chars)
    scores = [0.0] * 5 + [-1000.0] * 256 + [-float(i) for i in range(len(chars))]
    return tokens, scores, types


def _rand(rng: np.random.Generator, *shape: int, scale: float = 0.2) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def write_text_model(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    t = TEXT
    tokens, scores, types = _vocab()
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_string("general.name", f"{NAME} (random weights)")
    w.add_uint32("general.file_type", 0)  # all F32
    w.add_uint32("llama.context_length", t["n_ctx"])
    w.add_uint32("llama.embedding_length", t["n_embd"])
    w.add_uint32("llama.block_count", t["n_layer"])
    w.add_uint32("llama.feed_forward_length", t["n_ff"])
    w.add_uint32("llama.attention.head_count", t["n_head"])
    w.add_uint32("llama.attention.head_count_kv", t["n_head"])
    w.add_uint32("llama.rope.dimension_count", t["n_embd"] // t["n_head"])
    w.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_uint32("llama.vocab_size", len(tokens))
    w.add_string("tokenizer.ggml.model", "llama")
    w.add_array("tokenizer.ggml.tokens", tokens)
    w.add_array("tokenizer.ggml.scores", scores)
    w.add_array("tokenizer.ggml.token_type", types)
    w.add_uint32("tokenizer.ggml.unknown_token_id", 0)
    w.add_uint32("tokenizer.ggml.bos_token_id", 1)
    w.add_uint32("tokenizer.ggml.eos_token_id", 4)  # <|im_end|> ends a ChatML turn
    w.add_bool("tokenizer.ggml.add_bos_token", False)
    w.add_string("tokenizer.chat_template", CHAT_TEMPLATE)
    d, f, v = t["n_embd"], t["n_ff"], len(tokens)
    w.add_tensor("token_embd.weight", _rand(rng, v, d, scale=1.0))
    w.add_tensor("output_norm.weight", np.ones(d, np.float32))
    w.add_tensor("output.weight", _rand(rng, v, d))
    for i in range(t["n_layer"]):
        for name, shape in [("attn_q", (d, d)), ("attn_k", (d, d)), ("attn_v", (d, d)), ("attn_output", (d, d)),
                            ("ffn_gate", (f, d)), ("ffn_up", (f, d)), ("ffn_down", (d, f))]:
            w.add_tensor(f"blk.{i}.{name}.weight", _rand(rng, *shape))
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(d, np.float32))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(d, np.float32))
    _finish(w)
    return path


def write_projector(path: Path, seed: int = 1, n_text: int | None = None) -> Path:
    """The image projector; ``n_text``: the width it projects into (default: the tiny text model's)."""
    rng = np.random.default_rng(seed)
    vis, n_text = VISION, n_text or TEXT["n_embd"]
    d, f, p = vis["n_embd"], vis["n_ff"], vis["patch_size"]
    w = gguf.GGUFWriter(str(path), "clip")
    w.add_string("general.name", f"{NAME} projector (random weights)")
    w.add_uint32("general.file_type", 0)
    w.add_bool("clip.has_vision_encoder", True)
    w.add_string("clip.projector_type", "mlp")
    w.add_bool("clip.use_gelu", True)
    w.add_uint32("clip.vision.image_size", vis["image_size"])
    w.add_uint32("clip.vision.patch_size", p)
    w.add_uint32("clip.vision.embedding_length", d)
    w.add_uint32("clip.vision.feed_forward_length", f)
    w.add_uint32("clip.vision.block_count", vis["n_layer"])
    w.add_uint32("clip.vision.projection_dim", n_text)
    w.add_uint32("clip.vision.attention.head_count", vis["n_head"])
    w.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    w.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    w.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
    w.add_tensor("v.patch_embd.weight", _rand(rng, d, 3, p, p))
    w.add_tensor("v.patch_embd.bias", np.zeros(d, np.float32))
    w.add_tensor("v.position_embd.weight", _rand(rng, IMAGE_TOKENS, d))
    w.add_tensor("v.pre_ln.weight", np.ones(d, np.float32))
    w.add_tensor("v.pre_ln.bias", np.zeros(d, np.float32))
    for i in range(vis["n_layer"]):
        for name, shape in [("attn_q", (d, d)), ("attn_k", (d, d)), ("attn_v", (d, d)), ("attn_out", (d, d)),
                            ("ffn_up", (f, d)), ("ffn_down", (d, f))]:
            w.add_tensor(f"v.blk.{i}.{name}.weight", _rand(rng, *shape))
            w.add_tensor(f"v.blk.{i}.{name}.bias", np.zeros(shape[0], np.float32))
        for name in ("ln1", "ln2"):
            w.add_tensor(f"v.blk.{i}.{name}.weight", np.ones(d, np.float32))
            w.add_tensor(f"v.blk.{i}.{name}.bias", np.zeros(d, np.float32))
    w.add_tensor("mm.0.weight", _rand(rng, n_text, d))
    w.add_tensor("mm.0.bias", np.zeros(n_text, np.float32))
    w.add_tensor("mm.2.weight", _rand(rng, n_text, n_text))
    w.add_tensor("mm.2.bias", np.zeros(n_text, np.float32))
    _finish(w)
    return path


def _finish(w) -> None:
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def registry_entry(sha_model: str | None = None, sha_mmproj: str | None = None) -> dict:
    return {
        "name": NAME,
        "kind": "vlm",
        "filename": MODEL_FILE,
        "sha256": sha_model,
        "license": "Apache-2.0",
        "description": "Random-weight test model written by spotdiff.models.vlm.tiny: runs the whole llama.cpp image "
                       "path in a blink, says nothing meaningful.",
        "vlm": {"mmproj": MMPROJ_FILE, "mmproj_sha256": sha_mmproj, "chat_handler": "mtmd",
                "n_ctx": TEXT["n_ctx"], "image_size": 224, "image_tokens": IMAGE_TOKENS, "multi_image": True,
                "time_budget_s": 60},
    }


def write_pair(folder: Path | str, seed: int = 0) -> tuple[Path, Path, Path]:
    """Write the model, the projector and a registry entry (with their sha256) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = write_text_model(folder / MODEL_FILE, seed)
    mmproj = write_projector(folder / MMPROJ_FILE, seed + 1)
    shas = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (model, mmproj)]
    entry = folder / f"{NAME}.json"
    entry.write_text(json.dumps(registry_entry(*shas), indent=2) + "\n", encoding="utf-8")
    return model, mmproj, entry


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m spotdiff.models.vlm.tiny OUT_DIR")
    for written in write_pair(sys.argv[1]):
        print(written)
