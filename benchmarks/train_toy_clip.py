"""Train "toy-shapes", spotdiff's own small CLIP, contrastively on captioned scenes of spotdiff.synthetic.world.

    python benchmarks/train_toy_clip.py                      # the shipped model: ~35 min on 2 CPU cores
    python benchmarks/train_toy_clip.py --steps 20 --out /tmp/toy   # a smoke run
    python benchmarks/train_toy_clip.py --device cuda --workers 8   # on a GPU the scenes are the bottleneck

The model is open_clip's own ``CLIP`` class with a small config (MODEL_CFG) and open_clip's stock tokenizer;
the output folder is open_clip's "local-dir" layout (open_clip_config.json + fp16 open_clip_model.safetensors),
plus train_log.json. A run is a pure function of its arguments: batch ``step`` is drawn from
``numpy.random.default_rng([seed, step])``, so the data do not depend on workers, threads or timing, and the
number of steps is fixed in advance. Held-out scenes (eval_toy_clip.py and the evals printed here) come from
seeds >= HELD_OUT_SEED, which training never uses.

Each image is a scene rendered at a random size (64-160 px) and shrunk to the model's 64 px by the very
transform open_clip applies at inference, so images of any size are seen as in training. In ~40 % of images
one or two planted edits of spotdiff.synthetic.edits are applied and named in the caption; some batches hold twins (a
scene, and the same scene with small rectangles), which teach the model what the rectangles alone change.
Beside the caption loss, every image is matched against the prompts of each attribute it has one value of
("a circle" ... "a ring", "an object on the left" ..., "a sage background" ...): see ATTRIBUTE_PROMPTS; and
every object attribute's prompts are scored as yes/no questions (is there a star?): see PRESENCE_KINDS.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch.nn.attention import SDPBackend, sdpa_kernel

from spotdiff.models._torchvision_compat import import_open_clip
from spotdiff.synthetic.edits import get_edit
from spotdiff.synthetic.world import (BACKGROUND_COLOURS, BACKGROUND_PHRASES, BACKGROUNDS, COLOURS, POSITION_PHRASES, SHAPES,
                          TEXTURES, SetSpec, caption, plural, render, sample_scene)

open_clip = import_open_clip()
from open_clip.transform import PreprocessCfg, image_transform_v2  # noqa: E402  (after the compat import)

HELD_OUT_SEED = 1_000_000  # seeds at or above it are for evaluation only
MODEL_CFG = {
    "embed_dim": 128,
    # a small ResNet (open_clip's ModifiedResNet, one bottleneck per stage): a vision transformer of this
    # size, patches of 8 px, had not learnt shape or position after 1,500 steps even with attribute prompts
    "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 32, "head_width": 64},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 128, "heads": 4, "layers": 3},
}
PREPROCESS_CFG = {"size": 64, "mode": "RGB", "mean": list(open_clip.OPENAI_DATASET_MEAN),
                  "std": list(open_clip.OPENAI_DATASET_STD), "interpolation": "bicubic",
                  "resize_mode": "shortest", "fill_color": 0}
PROMPT_TEMPLATES = ("{}", "an image with {}")
CONTEXT = MODEL_CFG["text_cfg"]["context_length"]
TOKENIZER = open_clip.get_tokenizer("ViT-B-32", context_length=CONTEXT)  # open_clip's stock tokenizer
MODEL_SIZE = MODEL_CFG["vision_cfg"]["image_size"]
RENDER_SIZES = (64, 160)

# edit -> (phrases of engine/data/concepts.txt, the first being canonical; clauses that follow a caption)
EDIT_TEXT = {
    "rectangles": (("small rectangles",), ("with small rectangles", "with tiny rectangles")),
    "shape-watermark": (("a watermark",), ("with a watermark",)),
    "text-watermark": (("a watermark", "text overlay"), ("with a watermark", "with a text watermark")),
    "warm": (("warm tones",), ("with a warm colour cast", "in warm tones")),
    "cool": (("cool tones",), ("with a cool colour cast", "in cool tones")),
    "brighter": (("a bright image",), ("brighter",)),
    "darker": (("a dark image",), ("darker",)),
    "blur": (("blurry", "a blurry image"), ("blurry",)),
    "noise": (("noise", "image noise"), ("noisy", "with noise")),
    "jpeg": (("jpeg artifacts", "compression artifacts"), ("with jpeg artifacts",)),
    "lowres": (("low resolution",), ("in low resolution",)),
    "vignette": (("vignetting",), ("with vignetting", "with dark corners")),
    "rotate": (("a rotated image",), ("rotated",)),
}
# rectangles is the project's flagship example: about half of all edits
EDIT_WEIGHTS = {"rectangles": 12.0} | {name: 1.0 for name in EDIT_TEXT if name != "rectangles"}
P_EDITED, P_TWO_EDITS, P_SAY_NO_RECTANGLES = 0.4, 0.25, 0.25
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight")
# two in five training scenes hold one object: they are the ones whose shape and position have one answer
SPEC = SetSpec(counts={1: 2.0, 2: 1.0, 3: 1.0, 4: 1.0})


# --- images ----------------------------------------------------------------------------------------------


def render_size(rng: np.random.Generator) -> int:
    lo, hi = RENDER_SIZES  # log-uniform: as many small images as large, and small ones are cheap
    return int(round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))


def paste_rectangles(image: Image.Image, rng: np.random.Generator, strength: float) -> tuple[Image.Image, dict]:
    """spotdiff.synthetic.edits' rectangles, but 3-5 px a side at the model's 64 px whatever the image size.

    The edit itself makes them 3-5 % of the shorter side, i.e. 2-3 px at 64 px; that version is drawn
    too (see ``apply_edit``) so the model knows both.
    """
    width, height = image.size
    scale = min(width, height) / MODEL_SIZE
    n = min(4, max(2, 1 + math.ceil(3 * strength)))
    out, palette, boxes = image.copy(), list(COLOURS.values()), []
    draw = ImageDraw.Draw(out)
    for _ in range(n):
        w, h = (max(2, round(scale * rng.uniform(3.0, 5.0))) for _ in range(2))
        x0, y0 = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        draw.rectangle((x0, y0, x0 + w - 1, y0 + h - 1), fill=palette[int(rng.integers(len(palette)))])
        boxes.append([x0, y0, x0 + w, y0 + h])
    return out, {"edit": "rectangles", "boxes": boxes}


def apply_edit(name: str, image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """``name`` at a random strength, made visible at 64 px: an edit that a large image would lose in the
    shrinking (noise, JPEG, low resolution) is drawn stronger the larger the image."""
    if name == "rectangles":
        if rng.random() < 0.75:
            return paste_rectangles(image, rng, rng.uniform(0.2, 1.0))[0]
        return get_edit(name).apply(image, rng.uniform(0.2, 1.0), rng)[0]
    shrink = min(image.size) / MODEL_SIZE  # >= 1
    low = 0.3
    if name in ("noise", "jpeg"):
        low = min(0.8, 0.3 + 0.35 * (shrink - 1.0))
    if name == "lowres":  # factor 1.5 + 3 s of the image; want 1.5-4.5 of the model's input
        low = min(0.9, max(0.05, (1.5 * shrink - 1.5) / 3.0))
    return get_edit(name).apply(image, rng.uniform(low, 1.0), rng)[0]


def draw_edits(rng: np.random.Generator) -> list[str]:
    names, weights = list(EDIT_WEIGHTS), np.array(list(EDIT_WEIGHTS.values()))
    k = 2 if rng.random() < P_TWO_EDITS else 1
    return [names[i] for i in rng.choice(len(names), size=k, replace=False, p=weights / weights.sum())]


# --- captions --------------------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, items):
    return items[int(rng.integers(len(items)))]


def attribute_phrase(scene, rng: np.random.Generator) -> str:
    """One fact about the scene: "a striped background", "a red object", "stars", "three objects", ..."""
    objects, kind = scene.objects, int(rng.integers(8))
    one = _pick(rng, objects)
    same = {a: len({getattr(o, a) for o in objects}) == 1 for a in ("colour", "shape", "size", "texture")}
    if kind == 0:
        return f"a {BACKGROUND_PHRASES[scene.background]} background"
    if kind == 1:
        return f"{one.colour} objects" if len(objects) > 1 and same["colour"] else f"a {one.colour} object"
    if kind == 2:
        return f"a {one.shape}" if len(objects) == 1 else plural(one.shape)
    if kind == 5:
        return f"a {scene.background_colour} background"
    if kind == 6:
        return f"{one.texture} objects" if len(objects) > 1 and same["texture"] else f"a {one.texture} object"
    if kind == 7 and len(objects) == 1:
        return f"an object {POSITION_PHRASES[one.position]}"
    if kind == 3:
        n = len(objects)
        return _pick(rng, ("one object", "a single object")) if n == 1 else f"{NUMBER_WORDS[n]} objects"
    return f"{one.size} objects" if len(objects) > 1 and same["size"] else f"a {one.size} object"


def scene_text(scene, rng: np.random.Generator, edited: bool) -> str | None:
    """A full caption, one fact about the scene, or (only beside an edit's phrase) nothing."""
    u = rng.random()
    if u < 0.55 or not (edited or u < 0.9):
        return caption(scene, positions=len(scene.objects) <= 2 and rng.random() < 0.3,
                       background_colour=rng.random() < 0.5)
    if u < 0.9:
        body = attribute_phrase(scene, rng)
        return f"an image with {body}" if rng.random() < 0.3 else body
    return None


def describe(body: str | None, edits: list[str], rng: np.random.Generator) -> str:
    """The caption of a scene described by ``body`` with ``edits`` applied: a phrase per edit."""
    parts = []
    for name in edits:
        phrases, clauses = EDIT_TEXT[name]
        parts.append(_pick(rng, phrases) if body is None or rng.random() < 0.5 else _pick(rng, clauses))
    if "rectangles" not in edits and rng.random() < P_SAY_NO_RECTANGLES:
        parts.append(_pick(rng, ("no small rectangles", "without small rectangles")))
    if body is None:
        text = ", ".join(parts)
        return f"an image with {text}" if len(edits) == 1 and rng.random() < 0.4 else text
    if not parts:
        return body
    text = ", ".join([body] + parts)
    # the tokenizer cuts at 32 tokens: a long caption goes last, so that what is cut is not the edit
    if rng.random() < 0.2 or len(TOKENIZER.encode(text)) > CONTEXT - 2:
        text = ", ".join(parts + [body])
    return text


# --- attribute prompts ------------------------------------------------------------------------------------
# Beside the caption loss, each image is matched against the prompts of every attribute it has one value of
# ("a circle" ... "a ring" for a scene whose objects are all circles), a contrastive loss over a fixed set of
# class prompts as in UniCL (Yang et al. 2022). Captions name many attributes at once and colour alone tells
# most captions of a batch apart, so captions alone never taught the model shape, texture, position or
# background colour (models/toy-shapes.md); the prompts are phrases of its vocabulary, in singular and plural.
NUMBERS = ("one", "two", "three", "four")
ATTRIBUTE_PROMPTS = {  # kind -> (values, prompt of a value: (value, plural) -> text)
    "shape": (SHAPES, lambda v, many: plural(v) if many else f"a {v}"),
    "colour": (tuple(COLOURS), lambda v, many: f"{v} objects" if many else f"a {v} object"),
    "size": (("small", "large"), lambda v, many: f"{v} objects" if many else f"a {v} object"),
    "texture": (TEXTURES, lambda v, many: f"{v} objects" if many else f"a {v} object"),
    "position": (tuple(POSITION_PHRASES),
                 lambda v, many: f"{'objects' if many else 'an object'} {POSITION_PHRASES[v]}"),
    "background": (BACKGROUNDS, lambda v, many: f"a {BACKGROUND_PHRASES[v]} background"),
    "background_colour": (tuple(BACKGROUND_COLOURS), lambda v, many: f"a {v} background"),
    "count": (NUMBERS, lambda v, many: "one object" if v == "one" else f"{v} objects"),
}


# the share of each kind in the attribute loss: shape and position are learnt last (by a factor of ~10 in
# steps, measured on the first 1,000 steps with equal shares), colour and background first
KIND_WEIGHTS = {"shape": 3.0, "colour": 1.0, "size": 1.0, "texture": 1.5, "position": 2.0, "background": 0.5,
                "background_colour": 0.5, "count": 1.0}


def attribute_prompts(kind: str, form: int) -> list[str]:
    """The prompts of every value of ``kind``, singular (form 0) or plural (form 1) where English has both."""
    values, prompt = ATTRIBUTE_PROMPTS[kind]
    return [prompt(v, bool(form)) for v in values]


def attribute_labels(scene) -> list[int]:
    """Per kind of ATTRIBUTE_PROMPTS, the index of the scene's value, or -1 where its objects differ."""
    objects, out = scene.objects, []
    for kind, (values, _) in ATTRIBUTE_PROMPTS.items():
        if kind in ("background", "background_colour"):
            value = getattr(scene, kind)
        elif kind == "count":
            value = NUMBERS[len(objects) - 1] if len(objects) <= len(NUMBERS) else None
        else:
            seen = {getattr(o, kind) for o in objects}
            value = seen.pop() if len(seen) == 1 and (kind != "position" or len(objects) == 1) else None
        out.append(values.index(value) if value in values else -1)
    return out


# Whether any object of a scene has a value ("a star" in a scene of a star and two circles) is what a
# comparison asks when a difference sits in one object of several; the UniCL prompts above cover only scenes
# whose objects agree. Each object kind's prompts are also scored as independent yes/no questions
# (a sigmoid loss, as in SigLIP, Zhai et al. 2023), in every scene.
PRESENCE_KINDS = ("shape", "colour", "size", "texture", "position")


def presence_labels(scene) -> list[float]:
    """For every value of every kind of PRESENCE_KINDS, in ATTRIBUTE_PROMPTS order: 1 if an object has it."""
    out = []
    for kind in PRESENCE_KINDS:
        seen = {getattr(o, kind) for o in scene.objects}
        out += [float(v in seen) for v in ATTRIBUTE_PROMPTS[kind][0]]
    return out


# --- batches ---------------------------------------------------------------------------------------------


def example(rng: np.random.Generator):
    scene = sample_scene(SPEC, rng)
    image = render(scene, render_size(rng))
    edits = draw_edits(rng) if rng.random() < P_EDITED else []
    for name in rng.permutation(edits):
        image = apply_edit(str(name), image, rng)
    return image, describe(scene_text(scene, rng, bool(edits)), edits, rng), scene


def twins(rng: np.random.Generator, shape_fraction: float = 0.0) -> list[tuple]:
    """A scene, and the same scene with one edit (small rectangles three times in four), captioned alike
    but for the edit's phrase; or, a ``shape_fraction`` of the time, with one object's shape changed."""
    scene = sample_scene(SPEC, rng)
    size = render_size(rng)
    image = render(scene, size)
    u = rng.random()
    if u < shape_fraction:
        i = int(rng.integers(len(scene.objects)))
        old = scene.objects[i]
        new = replace(old, shape=_pick(rng, [s for s in SHAPES if s != old.shape]))
        other = replace(scene, objects=scene.objects[:i] + (new,) + scene.objects[i + 1:])
        return [(image, caption(scene), scene), (render(other, size), caption(other), other)]
    edit = "rectangles" if u < shape_fraction + 0.75 * (1.0 - shape_fraction) else draw_edits(rng)[0]
    body = scene_text(scene, rng, edited=False)
    return [(image, describe(body, [], rng), scene), (apply_edit(edit, image, rng), describe(body, [edit], rng), scene)]


class Batches(torch.utils.data.Dataset):
    """Item ``step`` is batch ``step``: (images of shape (batch, 3, 64, 64), tokens, captions, attribute labels
    of shape (batch, len(ATTRIBUTE_PROMPTS)), presence labels of shape (batch, values of PRESENCE_KINDS))."""

    def __init__(self, seed: int, batch_size: int, n_twins: int, transform, tokenizer, shape_twins: float = 0.0):
        self.seed, self.batch_size, self.n_twins, self.shape_twins = seed, batch_size, n_twins, shape_twins
        self.transform, self.tokenizer = transform, tokenizer

    def __len__(self) -> int:
        return 2**31

    def __getitem__(self, step: int):
        rng = np.random.default_rng([self.seed, step])
        items = [pair for _ in range(self.n_twins) for pair in twins(rng, self.shape_twins)]
        items += [example(rng) for _ in range(self.batch_size - len(items))]
        images = torch.stack([self.transform(image) for image, _, _ in items])
        texts = [text for _, text, _ in items]
        labels = torch.tensor([attribute_labels(scene) for _, _, scene in items])
        presence = torch.tensor([presence_labels(scene) for _, _, scene in items])
        return images, self.tokenizer(texts), texts, labels, presence


def _worker_init(_):
    torch.set_num_threads(1)


# --- training --------------------------------------------------------------------------------------------


def prompt_tokens(tokenizer, form: int) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """Every kind's prompts tokenized as one batch, and each kind's (start, end) rows in it."""
    texts, spans = [], []
    for kind in ATTRIBUTE_PROMPTS:
        kind_prompts = attribute_prompts(kind, form)
        spans.append((len(texts), len(texts) + len(kind_prompts)))
        texts += kind_prompts
    return tokenizer(texts), spans


def attribute_loss(image_features, prompt_features, spans, labels, scale) -> torch.Tensor:
    """Mean over kinds, weighted by KIND_WEIGHTS, of the cross-entropy of each image against its kind's
    prompts (labels -1: none)."""
    losses, weights = [], []
    for k, ((start, end), kind) in enumerate(zip(spans, ATTRIBUTE_PROMPTS)):
        known = labels[:, k] >= 0
        if known.any():
            logits = scale * image_features[known] @ prompt_features[start:end].T
            losses.append(KIND_WEIGHTS[kind] * torch.nn.functional.cross_entropy(logits.float(), labels[known, k]))
            weights.append(KIND_WEIGHTS[kind])
    return torch.stack(losses).sum() / sum(weights)


def presence_loss(image_features, prompt_features, spans, presence, scale, bias) -> torch.Tensor:
    """Mean over PRESENCE_KINDS, weighted by KIND_WEIGHTS, of the sigmoid (binary cross-entropy) loss of
    every image against every prompt of the kind: is a value present in any object? ``bias``: one logit
    offset per kind, learnt (kept by the training run only, not part of the model)."""
    losses, weights, column = [], [], 0
    kinds = list(ATTRIBUTE_PROMPTS)
    for k, kind in enumerate(PRESENCE_KINDS):
        start, end = spans[kinds.index(kind)]
        logits = scale * image_features @ prompt_features[start:end].T + bias[k]
        target = presence[:, column:column + end - start]
        column += end - start
        losses.append(KIND_WEIGHTS[kind] * torch.nn.functional.binary_cross_entropy_with_logits(
            logits.float(), target.float()))
        weights.append(KIND_WEIGHTS[kind])
    return torch.stack(losses).sum() / sum(weights)


def build(device: str = "cpu"):
    """(model, transform, tokenizer) as open_clip's factory builds them from MODEL_CFG and PREPROCESS_CFG."""
    model = open_clip.model.CLIP(**MODEL_CFG, output_dict=True).to(device)
    transform = image_transform_v2(PreprocessCfg(**PREPROCESS_CFG), is_train=False)
    return model, transform, TOKENIZER


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    # as open_clip's training code: no decay on gains, biases and the logit scale
    def exclude(name, p):
        return p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name

    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return [{"params": [p for n, p in named if exclude(n, p)], "weight_decay": 0.0},
            {"params": [p for n, p in named if not exclude(n, p)], "weight_decay": weight_decay}]


def cosine_with_warmup(warmup: int, total: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
    return factor


def save(model: torch.nn.Module, out: Path, log: dict) -> None:
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if v.is_floating_point() else v).contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(out / "open_clip_model.safetensors"), metadata={"format": "pt"})
    os.chmod(out / "open_clip_model.safetensors", 0o644)  # safetensors writes it owner-only
    config = {"model_cfg": MODEL_CFG, "preprocess_cfg": PREPROCESS_CFG}
    (out / "open_clip_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (out / "train_log.json").write_text(json.dumps(log, indent=1) + "\n", encoding="utf-8")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5000, help="optimizer steps (default: ~38 min on 2 CPU cores)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--twins", type=int, default=6, help="twin pairs per batch (2 images each)")
    # Off in the shipped model (its attribute prompts teach shapes); 0 draws exactly the batches of the shipped run.
    parser.add_argument("--shape-twins", type=float, default=0.0,
                        help="fraction of twin pairs that change one object's shape instead of adding an edit")
    parser.add_argument("--attribute-loss", type=float, default=1.0,
                        help="weight of the attribute-prompt loss beside the caption loss (0: captions only)")
    parser.add_argument("--presence-loss", type=float, default=1.0,
                        help="weight of the yes/no presence loss of object attributes (0: off)")
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--warmup", type=int, default=150)
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    # One torch thread and one scene process fill 2 cores; with 2 torch threads on a shared machine every
    # op waits for its slower thread (measured: 4x slower per step under a load of 6).
    parser.add_argument("--threads", type=int, default=1, help="torch threads on the CPU")
    parser.add_argument("--workers", type=int, default=1, help="processes drawing scenes beside training")
    parser.add_argument("--eval-every", type=int, default=500, help="zero-shot eval every N steps (0: never)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "engine" / "model_weights"
                        / "toy-shapes")
    args = parser.parse_args(argv)
    if not 0 <= args.seed < HELD_OUT_SEED:
        parser.error(f"--seed must be in [0, {HELD_OUT_SEED}); larger seeds are held out for evaluation")
    if 2 * args.twins > args.batch_size:
        parser.error("--twins must leave room in the batch: at most batch-size / 2")

    from eval_toy_clip import QuickEval  # beside this file

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model, transform, tokenizer = build(args.device)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"toy-shapes: {n_params / 1e6:.2f} M parameters; {args.steps} steps of {args.batch_size} on {device}",
          flush=True)
    presence_bias = torch.nn.Parameter(torch.zeros(len(PRESENCE_KINDS), device=device))
    groups = param_groups(model, args.weight_decay)
    groups[0]["params"].append(presence_bias)  # no weight decay, like the logit scale
    optimizer = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.98), eps=1e-6)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_with_warmup(args.warmup, args.steps))
    loss_fn = open_clip.ClipLoss()
    batches = Batches(args.seed, args.batch_size, args.twins, transform, tokenizer, args.shape_twins)
    loader = torch.utils.data.DataLoader(batches, batch_size=None, sampler=range(args.steps),
                                         num_workers=args.workers, worker_init_fn=_worker_init,
                                         prefetch_factor=4 if args.workers else None,
                                         pin_memory=device.type == "cuda")
    quick = QuickEval(transform) if args.eval_every else None
    log = {"model": "toy-shapes", "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
           "n_parameters": n_params, "torch": torch.__version__, "open_clip": open_clip.__version__,
           "machine": f"{platform.machine()} {os.cpu_count()} cpus", "loss": [], "evals": []}
    # On the CPU the math attention under bf16 takes 0.78x the CPU time of the fused kernel (B=128: 0.97 s vs
    # 1.24 s a step); it changes how attention is computed, not the model.
    attention = (lambda: sdpa_kernel(SDPBackend.MATH)) if device.type == "cpu" else contextlib.nullcontext
    start = time.perf_counter()
    window = []
    prompts = [prompt_tokens(tokenizer, form) for form in (0, 1)]
    for step, (images, tokens, _, labels, presence) in enumerate(loader):
        model.train()
        with attention(), torch.autocast(device.type, dtype=torch.bfloat16):
            image_features = model.encode_image(images.to(device, non_blocking=True), normalize=True)
            prompt_ids, spans = prompts[step % 2]
            text = model.encode_text(torch.cat([tokens, prompt_ids]).to(device, non_blocking=True),
                                     normalize=True)
            scale = model.logit_scale.exp()
            loss = loss_fn(image_features, text[:len(tokens)], scale)
            if args.attribute_loss:
                loss = loss + args.attribute_loss * attribute_loss(
                    image_features, text[len(tokens):], spans, labels.to(device), scale)
            if args.presence_loss:
                loss = loss + args.presence_loss * presence_loss(
                    image_features, text[len(tokens):], spans, presence.to(device), scale, presence_bias)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        window.append(float(loss.detach()))
        if (step + 1) % 10 == 0 or step + 1 == args.steps:
            log["loss"].append([step + 1, round(float(np.mean(window)), 4)])
            window = []
        if (step + 1) % 50 == 0 or step + 1 == args.steps:
            now = time.perf_counter()
            print(f"step {step + 1:5d}  loss {log['loss'][-1][1]:.4f}  lr {schedule.get_last_lr()[0]:.2e}  "
                  f"logit scale {model.logit_scale.exp().item():.1f}  {now - start:7.1f} s", flush=True)
        if quick is not None and ((step + 1) % args.eval_every == 0 or step + 1 == args.steps):
            t0 = time.perf_counter()
            numbers = quick(model, tokenizer, device)
            log["evals"].append({"step": step + 1, "wall_s": round(t0 - start, 1), **numbers})
            print(f"eval at step {step + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in numbers.items())
                  + f"  ({time.perf_counter() - t0:.1f} s)", flush=True)
    wall = time.perf_counter() - start
    log |= {"steps": args.steps, "seed": args.seed, "wall_time_s": round(wall, 1),
            "steps_per_s": round(args.steps / wall, 3),
            "final_loss": float(np.mean([v for _, v in log["loss"][-5:]]))}
    save(model.float().cpu(), args.out, log)
    print(f"saved {args.out} after {wall / 60:.1f} min; final loss {log['final_loss']:.4f}", flush=True)
    return log


if __name__ == "__main__":
    main()
