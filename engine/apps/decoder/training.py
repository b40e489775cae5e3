"""Train a decoder on episodes, score it on held-out episodes, and write it where the registry finds it.

``spotdiff train-decoder --model NAME`` trains on the procedural world and photographs (how the shipped decoders
are made: benchmarks/train_decoder.py), with the episode mix of the spaces it reads
(:func:`spotdiff.apps.decoder.episodes.mix_for`; for ``--model measurements``: only the edits a measurement
names, planted into photographs and world scenes alike). With ``--images FOLDER`` it plants known edits into the
user's own images and fine-tunes the decoder that reads NAME on those episodes. It can only learn the kinds of edit
it plants (spotdiff.synthetic.edits): the attributes of the user's domain that no edit makes are not learned.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ...analysis.decoder import SHARE_BINS, Decoder, Example, top1_accuracy
from ...analysis.decoder.proposer import DecoderProposer
from ...errors import InvalidParameterError
from ...io.images import scan_image_set
from ...models.embedders.base import TextEmbedder
from ...models.embedding import TextMemo
from ...models.host import ModelHost
from ...models.paths import bundled_dir, models_dir
from ...models.registry import USER_REGISTRY, file_sha256
from ...progress import Progress, Work, relay
from ...spaces import MEASUREMENTS
from .episodes import N_RANGE, draw_specs, make_examples, mix_for

FILENAME = "decoder.safetensors"
CURVE_POINTS = (0.125, 0.25, 0.5, 1.0)


@dataclass(frozen=True)
class Trained:
    """A trained decoder and how it did on held-out episodes (from unseen seeds).

    curve : (training episodes, held-out top-1 accuracy of the full statement) per point of the training curve
    """

    decoder: Decoder
    reads: tuple[str, ...]
    n_train: int
    n_heldout: int
    top1: float  # the full statement (claim, set and share bin) first
    top1_claim: float  # the claim and set first, whatever the share
    curve: tuple[tuple[int, float], ...] = ()
    seconds: dict = field(default_factory=dict)


def spaces_for(model: str) -> tuple[str, ...]:
    """The spaces a decoder for ``model`` reads: the model's, and the measurements'."""
    return (model,) if model == MEASUREMENTS else (model, MEASUREMENTS)


def train(model: str, *, episodes: int = 1500, heldout: int = 200, seed: int = 0, images: Path | None = None,
          withheld: Sequence[str] = (), epochs: int = 60, host: ModelHost | None = None,
          start_from: Decoder | None = None, sizes: tuple[int, int] = N_RANGE) -> Work[Trained]:
    """Draw ``episodes`` training and ``heldout`` test episodes (test seeds differ: seed + 1), train, score.

    images : a folder of the user's images to plant edits into (episodes of source "folder"); None: the
        procedural world and photographs, with the model's episode mix (:func:`mix_for`)
    withheld : attribute kinds and "edit:NAME"s no training episode plants (test episodes plant only those)
    start_from : a decoder to fine-tune (its weights are the starting point)
    sizes : smallest and largest number of images per set of an episode (a comparison's discovery half)
    """
    if episodes < 8 or heldout < 1:
        raise InvalidParameterError("episodes", episodes, "at least 8 training episodes and 1 held-out")
    own = host is None
    host = host or ModelHost()
    seconds: dict[str, float] = {}
    try:
        reads = spaces_for(model)
        yield Progress("train-decoder", 0, 0, f"loading {', '.join(reads)}")
        embedders = {name: host.embedder(name) for name in reads}
        texts = {name: TextMemo(e) for name, e in embedders.items() if isinstance(e, TextEmbedder)}
        pool: Sequence = ()
        sources: tuple[str, ...] = ("world", "photos")
        mix = mix_for(model)
        if images is not None:
            found = yield from relay(scan_image_set([Path(images)], "a", min_images=4), "scan")
            pool, sources, mix = found.images, ("folder",), {}
        clock = time.perf_counter()
        train_specs = draw_specs(episodes, seed=seed, sources=sources, withheld=withheld, sizes=sizes, **mix)
        test_specs = draw_specs(heldout, seed=seed + 1, sources=sources, sizes=sizes, **mix)
        if withheld:  # the leave-out test: held-out episodes that plant what training never saw
            test_specs = [s for s in draw_specs(20 * heldout, seed=seed + 1, sources=sources, sizes=sizes, **mix)
                          if any(_withheld(t, withheld) for t in s.tags)][:heldout]
        train_set = yield from relay(make_examples(train_specs, embedders, texts, pool=pool), "episodes (training)")
        test_set = yield from relay(make_examples(test_specs, embedders, texts, pool=pool), "episodes (held out)")
        seconds["episodes"] = round(time.perf_counter() - clock, 1)
        clock = time.perf_counter()
        curve = []
        for share in CURVE_POINTS:
            n = max(8, round(share * len(train_set)))
            yield Progress("train-decoder", len(curve), len(CURVE_POINTS), f"training on {n} episodes")
            decoder = _fresh(start_from, seed).fit(train_set[:n], epochs=epochs)
            hits, total = top1_accuracy(decoder, test_set)
            curve.append((n, hits / max(total, 1)))
        seconds["training"] = round(time.perf_counter() - clock, 1)
        hits_claim, total = top1_accuracy(decoder, test_set, with_share=False)
        decoder.info.update({"model": model, "reads": list(reads), "episodes": len(train_set), "seed": seed,
                             "sources": list(sources), "withheld": list(withheld),
                             **{k: list(v) for k, v in mix.items()}, "heldout_top1": round(curve[-1][1], 4)})
        return Trained(decoder, reads, len(train_set), len(test_set), curve[-1][1], hits_claim / max(total, 1),
                       tuple(curve), seconds)
    finally:
        if own:
            host.close()


def _fresh(start_from: Decoder | None, seed: int) -> Decoder:
    if start_from is None:
        return Decoder(seed=seed)
    return Decoder({k: v.copy() for k, v in start_from.params.items()}, info=dict(start_from.info))


def _withheld(tag: str, withheld: Sequence[str]) -> bool:
    return tag in withheld or tag.split(":")[0] in withheld


def current_decoder(model: str) -> Decoder | None:
    """The decoder a comparison of ``model`` would use now (to fine-tune), or None."""
    found = DecoderProposer.find(model)
    return found.decoder if found is not None else None


def default_name(model: str, images: Path | None) -> str:
    tail = "" if images is None else "-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(images).resolve().name).strip("-")
    return f"decoder-{model}{tail}"


def write_decoder(trained: Trained, name: str, *, description: str = "", shipped: bool = False) -> Path:
    """Write the decoder's weights and its registry entry (with the weights' sha256); return the entry's path.

    Where: ``models_dir()/NAME/decoder.safetensors`` and ``models_dir()/registry/NAME.json`` (the registry reads
    that folder); ``shipped``: inside the package, ``model_weights/NAME/`` and ``model_configs/NAME.json``.
    """
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise InvalidParameterError("name", name, "letters, digits, '.', '_' and '-' only")
    weights_root, registry = ((bundled_dir() / "model_weights", bundled_dir() / "model_configs") if shipped
                              else (models_dir(), models_dir() / USER_REGISTRY))
    weights = trained.decoder.save(weights_root / name / FILENAME)
    entry = {
        "name": name, "kind": "decoder", "layout": "weights-file", "filename": FILENAME,
        **({"bundled": f"model_weights/{name}"} if shipped else {}),
        "sha256": file_sha256(weights), "size_bytes": weights.stat().st_size, "license": "Apache-2.0",
        "description": description or (f"A decoder for {trained.reads[0]}, trained by spotdiff train-decoder on "
                                        f"{trained.n_train} episodes; held-out top-1 {trained.top1:.2f} "
                                        f"({trained.n_heldout} episodes)."),
        "decoder": {"reads": list(trained.reads)},
    }
    registry.mkdir(parents=True, exist_ok=True)
    path = registry / f"{name}.json"
    path.write_text(json.dumps(entry, indent=2) + "\n", encoding="utf-8")
    return path


def curve_svg(curve: Sequence[tuple[int, float]], title: str, chance: float | None = None) -> str:
    """A small SVG line chart of a training curve (episodes on a log axis, held-out accuracy 0-1)."""
    w, h, pad = 420, 260, 44
    xs = np.log([n for n, _ in curve])
    x0, x1 = xs.min(), max(xs.max(), xs.min() + 1e-9)
    px = lambda x: pad + (x - x0) / (x1 - x0) * (w - 2 * pad)
    py = lambda y: h - pad - y * (h - 2 * pad)
    points = " ".join(f"{px(x):.1f},{py(a):.1f}" for x, (_, a) in zip(xs, curve))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
             f'font-size="11"><rect width="{w}" height="{h}" fill="white"/>',
             f'<text x="{w / 2}" y="16" text-anchor="middle" font-size="12">{title}</text>',
             f'<line x1="{pad}" y1="{py(0)}" x2="{w - pad}" y2="{py(0)}" stroke="black"/>',
             f'<line x1="{pad}" y1="{py(0)}" x2="{pad}" y2="{py(1)}" stroke="black"/>']
    for y in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<text x="{pad - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:.2f}</text>')
        parts.append(f'<line x1="{pad}" y1="{py(y):.1f}" x2="{w - pad}" y2="{py(y):.1f}" stroke="#ddd"/>')
    for x, (n, a) in zip(xs, curve):
        parts.append(f'<circle cx="{px(x):.1f}" cy="{py(a):.1f}" r="3" fill="#1f5fa8"/>')
        parts.append(f'<text x="{px(x):.1f}" y="{py(0) + 16:.1f}" text-anchor="middle">{n}</text>')
    parts.append(f'<polyline points="{points}" fill="none" stroke="#1f5fa8" stroke-width="2"/>')
    if chance is not None:
        parts.append(f'<line x1="{pad}" y1="{py(chance):.1f}" x2="{w - pad}" y2="{py(chance):.1f}" '
                     f'stroke="#a33" stroke-dasharray="4 3"/><text x="{w - pad}" y="{py(chance) - 4:.1f}" '
                     'text-anchor="end" fill="#a33">chance</text>')
    parts.append(f'<text x="{w / 2}" y="{h - 8}" text-anchor="middle">training episodes (log scale)</text>')
    parts.append(f'<text x="12" y="{h / 2}" transform="rotate(-90 12 {h / 2})" text-anchor="middle">held-out '
                 'top-1 accuracy</text></svg>')
    return "\n".join(parts) + "\n"


def chance_level(examples: Sequence[Example]) -> float:
    """The largest share of true statements among all statements in any of ``examples``: a guess picks a true
    one at most this often."""
    return max(float(e.positive.sum()) / (len(e.positive) * len(SHARE_BINS)) for e in examples)
