"""Zero-shot evaluation of the toy-shapes CLIP on held-out scenes of spotdiff.synthetic.world; prints a table.

    python benchmarks/eval_toy_clip.py                    # the shipped model, engine/model_weights/toy-shapes
    python benchmarks/eval_toy_clip.py --model-dir /tmp/toy --json /tmp/toy/eval.json

The model is loaded as open_clip loads it ("local-dir:<folder>"), with its own transform and tokenizer.
Every image is drawn from seeds >= HELD_OUT_SEED (never used in training) and rendered at a random size,
64-160 px, as in training. Prompts are averaged over the model's templates ("{}", "an image with {}").

* attributes: background 5-way, colour 8-way, shape 6-way and size 2-way (single-object scenes), count
  4-way; accuracy of the nearest prompt.
* rectangles, one image at a time: AUROC of the bare prompt "an image with small rectangles", and of a
  direction built from text alone (caption + ", with small rectangles" minus caption, averaged over captions).
* set level, as the concept-bank proposer reads a set difference: mean(B) - mean(A) for 50 vs 50 images,
  scored against ~30 phrases with their common part removed; how often "small rectangles" comes first with
  rectangles in 100 / 50 / 20 % of B, and per planted edit (in all of B) how often its own phrase comes first.
  The same against the whole concept bank (engine/data/concepts.txt, ~1,900 phrases), where "rectangles" or
  "a rectangle" first counts as right too; and against the model's own vocabulary
  (engine/data/vocabularies/toy-shapes.txt), which the concept bank reads with this model.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from spotdiff.analysis.proposers.concept_bank import contrast_vectors, load_concepts, load_vocabulary
from spotdiff.analysis.stats import auroc
from spotdiff.synthetic.world import (BACKGROUND_COLOURS, BACKGROUND_PHRASES, BACKGROUNDS, COLOURS, POSITION_PHRASES, SHAPES,
                          SetSpec, caption, render, sample_scene)
from train_toy_clip import (EDIT_TEXT, HELD_OUT_SEED, PROMPT_TEMPLATES, apply_edit, import_open_clip,
                            paste_rectangles, render_size)

RECT = "small rectangles"
RECTANGLE_PHRASES = ("small rectangles", "rectangles", "a rectangle")  # right answers in the concept bank
EDIT_NAMES = tuple(EDIT_TEXT)
# the canonical phrase of every edit, and plausible answers about the scenes themselves
PHRASES = tuple(dict.fromkeys([EDIT_TEXT[e][0][0] for e in EDIT_NAMES] + [
    "text overlay", "circles", "squares", "triangles", "star shapes", "rings", "a cross shape", "a red object",
    "a blue object", "a green object", "a yellow object", "stripes", "a checkerboard pattern", "gradients",
    "a single object", "many objects", "a large object", "a small object", "small squares", "small circles"]))
SINGLE = SetSpec(counts=(1,))
TASKS = {  # name -> (scene spec, label of a scene, class prompts)
    "background": (SetSpec(), lambda s: BACKGROUNDS.index(s.background),
                   [f"a {BACKGROUND_PHRASES[b]} background" for b in BACKGROUNDS]),
    "colour": (SINGLE, lambda s: list(COLOURS).index(s.objects[0].colour), [f"a {c} object" for c in COLOURS]),
    "shape": (SINGLE, lambda s: SHAPES.index(s.objects[0].shape), [f"a {s}" for s in SHAPES]),
    "size": (SINGLE, lambda s: ("small", "large").index(s.objects[0].size), ["a small object", "a large object"]),
    "count": (SetSpec(), lambda s: len(s.objects) - 1, ["one object", "two objects", "three objects", "four objects"]),
    # added after the first shipped model (which was blind to them); new tasks go last, keeping earlier seeds
    "texture": (SetSpec(counts=(1,), textures=("striped", "dotted")),
                lambda s: ("striped", "dotted").index(s.objects[0].texture), ["striped objects", "dotted objects"]),
    "position": (SINGLE, lambda s: list(POSITION_PHRASES).index(s.objects[0].position),
                 [f"an object {p}" for p in POSITION_PHRASES.values()]),
    "background_colour": (SetSpec(), lambda s: list(BACKGROUND_COLOURS).index(s.background_colour),
                          [f"a {c} background" for c in BACKGROUND_COLOURS]),
}


def held_out(task: int, i: int) -> np.random.Generator:
    return np.random.default_rng([HELD_OUT_SEED + task, i])


class Encoder:
    """Unit image and text vectors from an open_clip model, in fp32, without gradients."""

    def __init__(self, model, transform, tokenizer, device="cpu"):
        self.model, self.transform, self.tokenizer, self.device = model, transform, tokenizer, device

    @torch.inference_mode()
    def pixels(self, tensors: torch.Tensor, batch: int = 256) -> np.ndarray:
        self.model.eval()
        out = [self.model.encode_image(tensors[i:i + batch].to(self.device), normalize=True).float().cpu()
               for i in range(0, len(tensors), batch)]
        return torch.cat(out).numpy().astype(np.float64)

    def images(self, images) -> np.ndarray:
        return self.pixels(torch.stack([self.transform(im) for im in images]))

    @torch.inference_mode()
    def texts(self, texts, templates=("{}",)) -> np.ndarray:
        """Unit vectors of shape (len(texts), dim), each averaged over ``templates``."""
        self.model.eval()
        prompts = [t.format(x) for x in texts for t in templates]
        T = torch.cat([self.model.encode_text(self.tokenizer(prompts[i:i + 512]).to(self.device), normalize=True)
                       .float().cpu() for i in range(0, len(prompts), 512)]).numpy().astype(np.float64)
        T = T.reshape(len(texts), len(templates), -1).mean(axis=1)
        return T / np.linalg.norm(T, axis=1, keepdims=True)


def attribute_sets(n: int) -> dict:
    """task -> (images, labels) of ``n`` held-out scenes."""
    out = {}
    for t, (task, (spec, label, _)) in enumerate(TASKS.items()):
        scenes = [sample_scene(spec, held_out(t, i)) for i in range(n)]
        out[task] = ([render(s, render_size(held_out(100 + t, i))) for i, s in enumerate(scenes)],
                     np.array([label(s) for s in scenes]))
    return out


def rectangle_sets(n: int, task: int = 10, engine_size: int | None = None):
    """(clean images, images with rectangles, captions of other scenes): ``n`` each, different scenes.
    ``engine_size``: spotdiff.synthetic.edits' own rectangles at strength 0.5 on images of that size instead."""
    clean, marked, captions = [], [], []
    for i in range(n):
        rng = held_out(task, i)
        size = engine_size or render_size(rng)
        clean.append(render(sample_scene(SetSpec(), rng), size))
        image = render(sample_scene(SetSpec(), rng), size)
        if engine_size:
            from spotdiff.synthetic.edits import get_edit
            marked.append(get_edit("rectangles").apply(image, 0.5, rng)[0])
        else:
            marked.append(paste_rectangles(image, rng, rng.uniform(0.2, 1.0))[0])
        captions.append(caption(sample_scene(SetSpec(), rng)))
    return clean, marked, captions


def accuracies(enc: Encoder, sets: dict) -> dict:
    out = {}
    for task, (images, labels) in sets.items():
        T = enc.texts(TASKS[task][2], PROMPT_TEMPLATES)
        out[task] = float(np.mean((enc.images(images) @ T.T).argmax(axis=1) == labels))
    return out


def rectangle_aurocs(enc: Encoder, clean, marked, captions, X=None) -> dict:
    X0, X1 = (enc.images(clean), enc.images(marked)) if X is None else X
    bare = enc.texts([f"an image with {RECT}"])[0]
    D = enc.texts([f"{c}, with {RECT}" for c in captions]) - enc.texts(captions)
    direction = D.mean(axis=0)
    return {"rect_auroc_prompt": auroc(X0 @ bare, X1 @ bare),
            "rect_auroc_text_direction": auroc(X0 @ direction, X1 @ direction)}


def set_level(X_clean, X_marked, V, targets, prevalence: float, draws: int, seed: int, n: int = 50):
    """Fraction of draws where one of ``targets`` (phrase indices) is the top phrase for mean(B) - mean(A),
    and the mean rank of the best of them (1 = top)."""
    targets = np.atleast_1d(targets)
    rng = np.random.default_rng([HELD_OUT_SEED + 99, seed, int(prevalence * 100)])
    k = int(round(prevalence * n))
    top, ranks = 0, []
    for _ in range(draws):
        clean = rng.permutation(len(X_clean))
        A, B_clean = X_clean[clean[:n]], X_clean[clean[n:2 * n - k]]
        B = np.vstack([B_clean, X_marked[rng.choice(len(X_marked), k, replace=False)]])
        scores = V @ (B.mean(axis=0) - A.mean(axis=0))
        rank = int((scores > scores[targets].max()).sum()) + 1
        top += rank == 1
        ranks.append(rank)
    return top / draws, float(np.mean(ranks))


class QuickEval:
    """The numbers printed during training, on a few hundred held-out scenes drawn once."""

    def __init__(self, transform, n: int = 120):
        self.sets = attribute_sets(n)
        clean, marked, self.captions = rectangle_sets(2 * n)
        self.pixels = [torch.stack([transform(im) for im in ims]) for ims in (clean, marked)]
        self.transform = transform

    def __call__(self, model, tokenizer, device) -> dict:
        enc = Encoder(model, self.transform, tokenizer, device)
        out = accuracies(enc, self.sets)
        X = tuple(enc.pixels(p) for p in self.pixels)
        out |= rectangle_aurocs(enc, None, None, self.captions, X)
        V = contrast_vectors(enc.texts(PHRASES, PROMPT_TEMPLATES))
        out["set_top1_rect_50pct"] = set_level(*X, V, PHRASES.index(RECT), 0.5, 40, 0, n=50)[0]
        return {k: round(v, 4) for k, v in out.items()}


def evaluate(enc: Encoder, n: int = 400, draws: int = 200) -> dict:
    out: dict = {"n_per_task": n, "draws": draws}
    out |= accuracies(enc, attribute_sets(n))
    out |= presence_aurocs(enc, n)
    clean, marked, captions = rectangle_sets(2 * n, task=20)
    X = enc.images(clean), enc.images(marked)
    out |= rectangle_aurocs(enc, clean, marked, captions, X)
    for size in (64, 224):  # spotdiff.synthetic.edits' own rectangles: 3-5 % of the side, i.e. 2-3 px at the model's 64
        c, m, caps = rectangle_sets(n, task=21 + size, engine_size=size)
        out |= {f"engine_edit_{size}px_{k}": v for k, v in rectangle_aurocs(enc, c, m, caps).items()}
    V = contrast_vectors(enc.texts(PHRASES, PROMPT_TEMPLATES))
    bank = [p for _, p in load_concepts()]
    V_bank = contrast_vectors(enc.texts(bank, PROMPT_TEMPLATES))
    vocab = list(load_vocabulary("toy-shapes"))  # what the concept bank reads with this model
    V_vocab = contrast_vectors(enc.texts(vocab, PROMPT_TEMPLATES))
    for p in (1.0, 0.5, 0.2):
        top, rank = set_level(*X, V, PHRASES.index(RECT), p, draws, seed=1)
        out[f"set_top1_rect_{int(p * 100)}pct"], out[f"set_mean_rank_rect_{int(p * 100)}pct"] = top, rank
        top, rank = set_level(*X, V_bank, [bank.index(r) for r in RECTANGLE_PHRASES if r in bank], p, draws // 4,
                              seed=2)
        out[f"bank_top1_rect_{int(p * 100)}pct"], out[f"bank_mean_rank_rect_{int(p * 100)}pct"] = top, rank
        top, rank = set_level(*X, V_vocab, vocab.index(RECT), p, draws, seed=4)
        out[f"vocab_top1_rect_{int(p * 100)}pct"], out[f"vocab_mean_rank_rect_{int(p * 100)}pct"] = top, rank
    out["bank_size"], out["vocabulary_size"] = len(bank), len(vocab)
    # every edit, in all of B: does its own phrase come first among PHRASES?
    m = n // 2
    X_plain = enc.images([render(sample_scene(SetSpec(), held_out(30, i)), render_size(held_out(31, i)))
                          for i in range(2 * m)])
    for e, name in enumerate(EDIT_NAMES):
        edited = []
        for i in range(m):
            rng = held_out(40 + e, i)
            edited.append(apply_edit(name, render(sample_scene(SetSpec(), rng), render_size(rng)), rng))
        target = PHRASES.index(EDIT_TEXT[name][0][0])
        out[f"edit_top1_{name}"] = set_level(X_plain, enc.images(edited), V, target, 1.0, draws // 4, seed=3,
                                             n=min(50, m))[0]
    return out


# Is a value present in one object of several? What a comparison asks when a difference sits in one object.
PRESENCE = {  # kind -> (values, the vocabulary phrase of a value)
    "shape": (SHAPES, lambda v: f"a {v}"),
    "position": (tuple(POSITION_PHRASES), lambda v: f"an object {POSITION_PHRASES[v]}"),
    "texture": (("solid", "striped", "dotted"), lambda v: f"a {v} object"),
    "colour": (tuple(COLOURS), lambda v: f"a {v} object"),
}


def presence_aurocs(enc: Encoder, n: int) -> dict:
    """Per kind, the mean over its values of the AUROC of the value's phrase (read as the concept bank reads it:
    against the model's whole vocabulary) between held-out scenes of 2-4 objects that have it in some object
    and those that do not."""
    scenes = [sample_scene(SetSpec(counts=(2, 3, 4)), held_out(60, i)) for i in range(n)]
    X = enc.images([render(s, render_size(held_out(61, i))) for i, s in enumerate(scenes)])
    vocab = list(load_vocabulary("toy-shapes"))
    V = contrast_vectors(enc.texts(vocab, PROMPT_TEMPLATES))
    out = {}
    for kind, (values, phrase) in PRESENCE.items():
        aurocs = []
        for v in values:
            has = np.array([any(getattr(o, kind) == v for o in s.objects) for s in scenes])
            if has.any() and not has.all():
                scores = X @ V[vocab.index(phrase(v))]
                aurocs.append(auroc(scores[~has], scores[has]))
        out[f"presence_{kind}"] = float(np.mean(aurocs))
    return out


def table(numbers: dict) -> str:
    rows = [("background, 5-way", "background"), ("colour, 8-way (1 object)", "colour"),
            ("shape, 6-way (1 object)", "shape"), ("size, 2-way (1 object)", "size"), ("count, 4-way", "count"),
            ("texture, 2-way (1 object, striped or dotted)", "texture"), ("position, 5-way (1 object)", "position"),
            ("background colour, 5-way", "background_colour"),
            *((f"{kind} in some object of 2-4: mean AUROC", f"presence_{kind}") for kind in PRESENCE),
            ("rectangles AUROC, prompt", "rect_auroc_prompt"),
            ("rectangles AUROC, text direction", "rect_auroc_text_direction")]
    for size in (64, 224):
        rows += [(f"engine edit at {size} px: AUROC prompt", f"engine_edit_{size}px_rect_auroc_prompt"),
                 (f"engine edit at {size} px: AUROC text dir.", f"engine_edit_{size}px_rect_auroc_text_direction")]
    for p in (100, 50, 20):
        rows += [(f"set level, {p} % of B: top-1 of {len(PHRASES)}", f"set_top1_rect_{p}pct"),
                 (f"set level, {p} % of B: mean rank", f"set_mean_rank_rect_{p}pct"),
                 (f"set level, {p} % of B: a rectangles phrase top-1 of bank", f"bank_top1_rect_{p}pct"),
                 (f"set level, {p} % of B: its rank in bank", f"bank_mean_rank_rect_{p}pct"),
                 (f"set level, {p} % of B: top-1 of the model's vocabulary", f"vocab_top1_rect_{p}pct"),
                 (f"set level, {p} % of B: rank in the vocabulary", f"vocab_mean_rank_rect_{p}pct")]
    rows += [(f"edit '{name}' (100 %): own phrase top-1", f"edit_top1_{name}") for name in EDIT_NAMES]
    width = max(len(label) for label, _ in rows)
    lines = [f"| {'measure':<{width}} | value  |", f"|{'-' * (width + 2)}|--------|"]
    lines += [f"| {label:<{width}} | {numbers[key]:6.3f} |" for label, key in rows if key in numbers]
    return "\n".join(lines)


def main(argv=None) -> dict:
    default_dir = Path(__file__).resolve().parents[1] / "engine" / "model_weights" / "toy-shapes"
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=default_dir)
    parser.add_argument("--n", type=int, default=400, help="held-out scenes per attribute task")
    parser.add_argument("--draws", type=int, default=200, help="draws per set-level check")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    open_clip = import_open_clip()
    name = f"local-dir:{args.model_dir}"
    model, _, transform = open_clip.create_model_and_transforms(name)
    enc = Encoder(model, transform, open_clip.get_tokenizer(name))
    start = time.perf_counter()
    numbers = evaluate(enc, args.n, args.draws)
    numbers["eval_wall_s"] = round(time.perf_counter() - start, 1)
    print(table(numbers))
    if args.json:
        args.json.write_text(json.dumps(numbers, indent=1) + "\n", encoding="utf-8")
    return numbers


if __name__ == "__main__":
    main()
