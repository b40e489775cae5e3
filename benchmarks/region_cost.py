"""What the region stage costs: one comparison of 2 x 100 images with and without it, side by side.

    python benchmarks/region_cost.py            # photo crops with tiny red rectangles in every B image
    python benchmarks/region_cost.py --runs 5

Wall time of ``spotdiff.compare`` in this process (models already loaded by a first, untimed run; embeddings
cached, as a re-run of the same sets would have them), median of ``--runs``, for the measurements model and, when
its weights are present, toy-shapes. Prints the CPU model: timings differ between machines.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import spotdiff
from spotdiff.models.registry import availability, get_model_spec
from spotdiff.models.cpu import cpu_model
from spotdiff.progress import run
from spotdiff.synthetic.photos import write_photo_crops
from spotdiff.synthetic.synth import synth




def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        crops = write_photo_crops(root / "crops", 200, size=112, seed=0)
        run(synth(root / "pair", plants=[("rectangles/red", 0.5)], n_per_set=100, source=crops, seed=0,
                  image_size=112))
        cache = root / "cache"
        models = ["measurements"] + [m for m in ("toy-shapes",) if availability(get_model_spec(m))[0]]
        print(f"CPU: {cpu_model()}; 2 x 100 photo crops (112 px), tiny red rectangles in every B image")
        print(f"{'model':<14}{'regions':>9}{'median s':>10}{'ratio':>7}   region findings")
        for model in models:
            base = None
            for regions in (False, True):
                times, found = [], []
                for k in range(args.runs + 1):
                    start = time.perf_counter()
                    result = spotdiff.compare(root / "pair" / "set_a", root / "pair" / "set_b", model=model,
                                              regions=regions, cache_dir=cache)
                    if k:  # the first run loads the model and fills the cache
                        times.append(time.perf_counter() - start)
                    found = [f.statement for f in result.findings if f.supported and f.source == "regions"]
                median = statistics.median(times)
                base = base or median
                print(f"{model:<14}{'on' if regions else 'off':>9}{median:>10.2f}{median / base:>7.2f}   "
                      f"{'; '.join(found) or '-'}")


if __name__ == "__main__":
    main()
