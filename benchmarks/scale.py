"""A 2 x 10,000-image comparison: wall time and peak memory.

    .venv/bin/python benchmarks/scale.py [--n 10000] [--model toy-shapes]

Writes 2 x n procedural 128 px PNG scenes (B: 30 % with tiny rectangles), then runs the whole compare in a
child process and reports its wall time, stage timings and peak resident memory (ru_maxrss), so the
number is the comparison's own, not the generator's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table  # noqa: E402

CHILD = """
import json, resource, sys, time
from spotdiff.pipeline import CompareRequest, compare_steps
from spotdiff.progress import run
root, model, cache = sys.argv[1:4]
start = time.perf_counter()
result = run(compare_steps(CompareRequest(set_a=(root + "/set_a",), set_b=(root + "/set_b",), model=model,
                                    cache_dir=cache)))
print(json.dumps({"wall": time.perf_counter() - start, "timings": result.timings,
                  "n_findings": len(result.findings), "n_supported": len(result.supported),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--model", default="toy-shapes")
    parser.add_argument("--keep", type=Path, default=None, help="reuse/keep the image sets in this folder")
    args = parser.parse_args()
    from spotdiff.progress import run
    from spotdiff.synthetic.synth import synth

    root = args.keep or Path(tempfile.mkdtemp(prefix="spotdiff-scale-"))
    start = time.perf_counter()
    if not (root / "truth.json").exists():
        run(synth(root, plants=[("rectangles", 0.6)], prevalence=0.3, n_per_set=args.n, image_size=128, seed=0))
    made = time.perf_counter() - start
    rows = []
    cache = Path(tempfile.mkdtemp(prefix="spotdiff-scale-cache-"))
    for label in ("cold", "cached"):
        out = subprocess.run([sys.executable, "-c", CHILD, str(root), args.model, str(cache)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        stages = ", ".join(f"{k} {v:.0f}" for k, v in r["timings"].items() if k != "total")
        rows.append([label, f"{r['wall']:.0f}", f"{r['peak_rss_mb']:.0f}", stages,
                     f"{r['n_supported']}/{r['n_findings']}"])
    print(f"2 x {args.n} images (128 px PNG; made in {made:.0f} s), model {args.model} + measurements")
    print(table(["run", "wall s", "peak RSS MB", "stages (s)", "supported/hypotheses"], rows))


if __name__ == "__main__":
    main()
