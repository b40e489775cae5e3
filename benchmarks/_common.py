"""Shared helpers for the benchmark scripts: test files, random-weight models, tables."""

from __future__ import annotations

import hashlib
import statistics
import time
from pathlib import Path

import numpy as np

from spotdiff.models.cpu import cpu_flags, cpu_model  # noqa: F401  (cpu_model: for the benchmarks)


def make_jpegs(folder: Path, n: int, size=(640, 480), seed: int = 0) -> list[Path]:
    """n procedural scenes saved as JPEG (quality 90) at ``size``; reused if already there."""
    from spotdiff.synthetic.world import SetSpec, render, sample_scene

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        path = folder / f"{i:05d}.jpg"
        scene = sample_scene(SetSpec(), rng)
        if not path.exists():
            render(scene, size).save(path, quality=90)
        paths.append(path)
    return paths


def records(paths):
    from spotdiff.io.images import ImageRecord

    out = []
    for p in paths:
        data = Path(p).read_bytes()
        out.append(ImageRecord(Path(p), hashlib.sha256(data).hexdigest(), 640, 480, "JPEG"))
    return out


def random_vit_b32(folder: Path) -> Path:
    """ViT-B-32 with random weights as a safetensors file (speed does not depend on the values)."""
    import torch
    from safetensors.torch import save_file

    from spotdiff.models._torchvision_compat import import_open_clip

    path = folder / "vit-b-32-random.safetensors"
    if not path.exists():
        torch.manual_seed(0)
        model = import_open_clip().create_model("ViT-B-32")
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def median_time(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def table(headers, rows) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda r: "| " + " | ".join(str(x).ljust(w) for x, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


RELEVANT_FLAGS = ("avx512_bf16", "amx_bf16", "amx_tile")


def cpu_line() -> str:
    """'CPU <model>, avx512_bf16 yes, amx_bf16 no, amx_tile no': the model and the flags that decide bf16 speed."""
    flags = cpu_flags() or frozenset()
    return f"CPU {cpu_model()}, " + ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in RELEVANT_FLAGS)
