"""Latency of a whole comparison of 2 x 100 images, cold (empty cache) and cached (a re-run).

    .venv/bin/python benchmarks/compare_latency.py [--n 100]

Set A / set B: procedural 640x480 JPEG scenes, B with tiny rectangles pasted in (so findings exist).
Cold = a fresh embedding cache (image and concept-bank text embeddings computed); cached = the same
compare again. Models: toy-shapes (the default) and ViT-B-32 (random weights), each with measurements.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import random_vit_b32, table  # noqa: E402

from spotdiff.pipeline import CompareRequest, compare_steps  # noqa: E402
from spotdiff.progress import run  # noqa: E402
from spotdiff.synthetic.synth import synth  # noqa: E402


def timed(request) -> tuple[float, dict]:
    start = time.perf_counter()
    result = run(compare_steps(request))
    return time.perf_counter() - start, result.timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="spotdiff-latency-"))
    pair = run(synth(work / "pair", plants=[("rectangles", 0.6)], n_per_set=args.n, image_size=640, seed=0))
    weights = random_vit_b32(Path(tempfile.gettempdir()) / "spotdiff-bench")
    rows = []
    for model, w in (("toy-shapes", None), ("ViT-B-32", weights)):
        cache = work / f"cache-{model}"
        request = CompareRequest(set_a=(pair / "set_a",), set_b=(pair / "set_b",), model=model, weights=w,
                                 cache_dir=cache)
        try:
            cold, cold_t = timed(request)
        except Exception as e:  # noqa: BLE001 - report a model that is not installed, go on
            print(f"({model} skipped: {e})")
            continue
        cached, cached_t = timed(request)
        stages = lambda t: ", ".join(f"{k} {v:.1f}" for k, v in t.items() if k != "total")  # noqa: E731
        rows.append([model, f"{cold:.1f}", f"{cached:.1f}", stages(cold_t), stages(cached_t)])
    print(f"compare 2 x {args.n} JPEG images (scene 640x480), with measurements; seconds, one run each")
    print(table(["model", "cold s", "cached s", "cold stages", "cached stages"], rows))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
