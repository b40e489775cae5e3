"""``spotdiff train-decoder``: its options and what it prints."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..console import drive
from ...models.registry import default_model
from .training import current_decoder, default_name, train, write_decoder

TRAIN_DECODER_HELP = (
    "Train a decoder: a small model that reads what a comparison learned (the discovery half's numbers for every "
    "statement it could make) and ranks the statements, trained on comparisons whose answers are known. Without "
    "--images it trains on the procedural world and on photographs (for --model measurements: only the edits a "
    "measurement names, such as blur, colour casts, brightness, noise and JPEG); with --images it plants known "
    "edits (blur, colour casts, rectangles, text, noise, ... see 'spotdiff synth --help') into your own images, "
    "which are only read, and fine-tunes the decoder for --model on them. It can only learn the kinds of edit it "
    "plants: a difference of your domain that no edit makes is not learned. The result is written to your models "
    "folder with a registry entry, and comparisons with --model use it (--decoder auto).")


def add_train_decoder_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="embedding model whose space the decoder reads (default: the "
                                                 "embedded default)")
    p.add_argument("--images", type=Path, default=None, help="folder of your own images to plant edits into")
    p.add_argument("--episodes", type=int, default=1500, help="training comparisons to draw (default 1500)")
    p.add_argument("--heldout", type=int, default=200, help="held-out comparisons to score it on (default 200)")
    p.add_argument("--name", default=None, help="registry name (default: decoder-MODEL[-FOLDER])")
    p.add_argument("--fresh", action="store_true", help="with --images: start from scratch, not from the decoder "
                                                        "that reads --model now")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def train_decoder_from_args(args) -> int:
    model = args.model or default_model()
    start = None if args.fresh or args.images is None else current_decoder(model)
    trained = drive(train(model, episodes=args.episodes, heldout=args.heldout, seed=args.seed, images=args.images,
                          start_from=start), args.quiet)
    name = args.name or default_name(model, args.images)
    entry = write_decoder(trained, name)
    print("training episodes  held-out top-1")
    for n, accuracy in trained.curve:
        print(f"{n:>17}  {accuracy:.2f}")
    print(f"{name}: held-out top-1 {trained.top1:.2f} (statement with its share), {trained.top1_claim:.2f} (claim "
          f"and set) on {trained.n_heldout} comparisons from unseen seeds"
          + (f"; fine-tuned from {start.info.get('model', model)}'s decoder" if start is not None else ""))
    print(f"wrote {entry} (comparisons with --model {model} now use it)")
    return 0
