"""What the region stage costs: one comparison of 2 x 100 images with and without it, side by side.

    python benchmarks/region_cost.py                        # photo crops with tiny red rectangles in every B image
    python benchmarks/region_cost.py --runs 5
    python benchmarks/region_cost.py --against HEAD~1       # and the region stage of another revision, alternately
    python benchmarks/region_cost.py --prevalence 0.3 --prevalence 0
    python benchmarks/region_cost.py --scenes --against HEAD~1   # 640 px JPEG scenes (compare_latency.py's pair)

Wall time of ``spotdiff.compare`` in this process on the measurements model (embeddings cached, as a re-run of the
same sets would have them; the region stage's own cached result is never read, so it runs cold every time), median
of ``--runs``, and of its region stage alone. ``--against`` runs the region package of a git revision in the same
process, alternating with this tree's, so that both see the same machine load. For each it prints the region
findings and, in the held-out half, the share of set B's and set A's images whose score reaches the finding's
threshold. Prints the CPU model: timings differ between machines.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import spotdiff
import spotdiff.pipeline
from spotdiff.models.cpu import cpu_model
from spotdiff.progress import run
from spotdiff.synthetic.photos import write_photo_crops
from spotdiff.synthetic.synth import synth

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_latency import jpeg_pair  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "engine/analysis/regions"


def region_package(revision: str, into: Path):
    """The region package as it is at git ``revision``, imported beside this tree's (its own module name)."""
    folder = into / f"regions_{len(list(into.iterdir()))}"
    folder.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision, PACKAGE], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder), "--strip-components=3"], input=archive, check=True)
    name = f"spotdiff.analysis._regions_{folder.name}"
    spec = importlib.util.spec_from_file_location(name, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def cold(stage):
    """``stage`` (a region_stage) that never reads or keeps its result in the cache."""
    def region_stage(*args, cache=None, **kwargs):
        return (yield from stage(*args, cache=None, **kwargs))
    return region_stage


def heldout_shares(finding) -> tuple[float, float]:
    """Shares of the held-out images of set B and set A whose score reaches ``finding``'s threshold."""
    threshold = finding.region.threshold
    return float(np.mean(finding.scores_b > threshold)), float(np.mean(finding.scores_a > threshold))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--against", action="append", default=[], metavar="REVISION",
                   help="also time the region package of this git revision (repeatable)")
    p.add_argument("--prevalence", type=float, action="append", default=None,
                   help="share of set B's images with rectangles (repeatable; 0: a null pair); default 1")
    p.add_argument("--scenes", action="store_true",
                   help="2 x 100 procedural 640 px JPEG scenes, rectangles of strength 0.6 in every B image (benchmarks/compare_latency.py's "
                        "pair), instead of the photo crops")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        packages = root / "packages"
        packages.mkdir()
        variants = [("this tree", spotdiff.pipeline.region_stage)]
        variants += [(revision, region_package(revision, packages).region_stage) for revision in args.against]
        if args.scenes:
            print(f"CPU: {cpu_model()}; 2 x 100 JPEG scenes (640 px), rectangles (strength 0.6) in every B image, measurements model")
        else:
            crops = write_photo_crops(root / "crops", 200, size=112, seed=0)
            print(f"CPU: {cpu_model()}; 2 x 100 photo crops (112 px), tiny red rectangles in B, measurements model")
        print(f"{'B with':>7} {'region stage':<14}{'compare s':>10}{'regions s':>10}   "
              "region findings (held-out share of B, A above its threshold)")
        for prevalence in [1.0] if args.scenes else args.prevalence or [1.0]:
            pair = root / f"pair_{prevalence}"
            if args.scenes:
                jpeg_pair(pair, 100)
            else:
                plants = [("rectangles/red", 0.5)] if prevalence > 0 else []
                run(synth(pair, plants=plants, prevalence=prevalence if plants else 1.0, n_per_set=100,
                          source=crops, seed=0, image_size=112))
            cache = root / "cache"

            def compare(stage, regions=True):
                spotdiff.pipeline.region_stage = cold(stage)
                start = time.perf_counter()
                result = spotdiff.compare(pair / "set_a", pair / "set_b", model="measurements", regions=regions,
                                          cache_dir=cache)
                return time.perf_counter() - start, result

            compare(variants[0][1], regions=False)  # fills the embedding cache
            off = statistics.median(compare(variants[0][1], regions=False)[0] for _ in range(args.runs))
            print(f"{prevalence:>7.0%} {'off':<14}{off:>10.2f}{'':>10}   -")
            times = {name: ([], []) for name, _ in variants}
            results = {}
            for _ in range(args.runs):
                for name, stage in variants:
                    seconds, results[name] = compare(stage)
                    times[name][0].append(seconds)
                    times[name][1].append(results[name].timings.get("analyse: regions", float("nan")))
            for name, _ in variants:
                result = results[name]
                found = [f for f in result.findings if f.supported and f.source == "regions"]
                words = "; ".join(f"{f.statement} ({'%.2f, %.2f' % heldout_shares(f)})"
                                  for f in found) or "-"
                print(f"{prevalence:>7.0%} {name:<14}{statistics.median(times[name][0]):>10.2f}"
                      f"{statistics.median(times[name][1]):>10.2f}   {words}")
        spotdiff.pipeline.region_stage = variants[0][1]


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
