"""The benchmark's command-line options, light to import: `spotdiff --help` must not load the engine."""

from __future__ import annotations

import argparse
from pathlib import Path

SUITES = ("single", "lowlevel", "prevalence", "null", "multi", "sizes", "local")
BASELINES = ("visdiff-embedding", "gsclip", "no-heldout")  # what spotdiff is measured against
ABLATIONS = ("no-decoder", "decoder", "decoder-ranking")  # spotdiff's own parts, alone or left out: shown, not raced
METHODS = ("spotdiff", *BASELINES, *ABLATIONS)
DEFAULT_IMAGE_SIZE = 64  # the world's own scene size, and what the toy CLIP was trained on


def add_arguments(p: argparse.ArgumentParser, default_out: Path) -> None:
    p.add_argument("--quick", action="store_true", help="a few pairs of 20 images per set (seconds; for tests)")
    p.add_argument("--suites", default=",".join(SUITES), help=f"comma-separated, some of {','.join(SUITES)}")
    p.add_argument("--model", default=None, help="CLIP-like model (default: toy-shapes when present, else "
                                                   "measurements); the measurement space is always added")
    p.add_argument("--seed", type=int, default=0, help="seed of every pair and of the held-out split")
    p.add_argument("--workers", type=int, default=1, help="threads drawing images ahead of the analysis")
    p.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE, help="scene size in pixels")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated, some of " + ",".join(METHODS))
    p.add_argument("--keep", type=Path, default=None, help="keep the image sets in this folder")
    p.add_argument("--out", type=Path, default=default_out, help=f"results folder (default {default_out})")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
