"""Embedding throughput: spotdiff's pipeline vs a plain fp32 open_clip loop, on the same JPEG files.

    .venv/bin/python benchmarks/embed_throughput.py [--n 256] [--repeats 3]

Prints a Markdown table: end-to-end img/s from 640x480 JPEG files (decode + preprocess + encode),
encode-only img/s (pixels ready), the plain fp32 loop on the same files, the ratio, the measured
matmul peak (best of 5 2048 x 2048 products on all cores, in the model's precision), the model's GFLOP
per image, and the fraction of the peak-implied limit reached. The header line names the CPU and its
bf16 flags (avx512_bf16, amx_bf16, amx_tile).
Random weights for ViT-B-32 (speed does not depend on their values); toy-shapes as shipped.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_line, make_jpegs, median_time, random_vit_b32, records, table  # noqa: E402

from spotdiff.models.embedding import embed_images  # noqa: E402
from spotdiff.models.factory import open_embedder
from spotdiff.models.precision import matmul_best_gflops  # noqa: E402
from spotdiff.progress import run  # noqa: E402


def image_gflop(model, size: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    # in eval mode under inference_mode, attention takes a fused fast path the counter cannot see
    was_training = model.training
    model.train()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model.encode_image(torch.zeros(1, 3, size, size, dtype=next(model.parameters()).dtype))
    finally:
        model.train(was_training)
    return counter.get_total_flops() / 1e9


def plain_loop(paths, arch: str, weights: Path, batch: int = 32) -> None:
    """What a user writes without spotdiff: open_clip in fp32, PIL decode, one batch at a time."""
    from PIL import Image

    from spotdiff.models._torchvision_compat import import_open_clip

    open_clip = import_open_clip()
    model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=str(weights))
    model.eval()

    def go():
        with torch.inference_mode():
            for i in range(0, len(paths), batch):
                x = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in paths[i:i + batch]])
                model.encode_image(x)

    return go


def bench(name: str, recs, weights: Path | None, arch: str | None, repeats: int) -> list:
    embedder = open_embedder(name, weights=weights, precision="auto")
    size = embedder._min_side
    t_end = median_time(lambda: run(embed_images(embedder, recs, cache=None)), repeats)
    pixels = torch.stack([embedder._pixels(r, embedder._transform) for r in recs[:64]]).to(embedder.dtype)
    model = embedder._ensure_loaded()

    def encode_only():
        with torch.inference_mode():
            for i in range(0, len(pixels), embedder.batch_size):
                model.encode_image(pixels[i:i + embedder.batch_size])

    t_enc = median_time(encode_only, repeats)
    gflop = image_gflop(model, size)
    row = {"model": name, "precision": embedder.precision, "e2e": len(recs) / t_end, "encode": len(pixels) / t_enc,
           "gflop": gflop}
    if arch is not None:
        loop = plain_loop([r.path for r in recs], arch, weights)
        row["plain"] = len(recs) / median_time(loop, repeats)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.gettempdir()) / "spotdiff-bench"
    recs = records(make_jpegs(work / "jpeg640", args.n))
    peak = {"bf16": matmul_best_gflops(torch.bfloat16), "fp32": matmul_best_gflops(torch.float32)}
    rows = [bench("ViT-B-32", recs, random_vit_b32(work), "ViT-B-32", args.repeats)]
    try:
        rows.append(bench("toy-shapes", recs, None, None, args.repeats))
    except Exception as e:  # noqa: BLE001 - the toy model may not be installed in this checkout
        print(f"(toy-shapes skipped: {e})")
    out = []
    for r in rows:
        limit = peak[r["precision"]] / r["gflop"]
        out.append([r["model"], r["precision"], f"{r['e2e']:.1f}", f"{r['encode']:.1f}",
                    f"{r['plain']:.1f}" if "plain" in r else "–",
                    f"{r['e2e'] / r['plain']:.2f}x" if "plain" in r else "–",
                    f"{r['gflop']:.2f}", f"{limit:.0f}", f"{r['e2e'] / limit:.0%}"])
    print(f"{cpu_line()}; {args.n} JPEG files 640x480, {torch.get_num_threads()} torch threads, "
          f"{os.cpu_count()} cores; matmul peak (best of 5 at 2048x2048) bf16 {peak['bf16']:.0f} GFLOP/s, "
          f"fp32 {peak['fp32']:.0f} GFLOP/s; "
          f"median of {args.repeats} runs")
    print(table(["model", "precision", "end-to-end img/s", "encode-only img/s", "plain fp32 loop img/s",
                 "ratio to plain", "GFLOP/img", "peak-implied limit img/s", "fraction of limit"], out))


if __name__ == "__main__":
    main()
