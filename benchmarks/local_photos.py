"""The local suite's photo pairs at 100 images per set, one by one through ``spotdiff.compare`` (the app's own path:
default model, explaining away, re-planting), judged like ``spotdiff bench --suites local``.

    python benchmarks/local_photos.py 1.0,0.2                   # prevalences
    python benchmarks/local_photos.py 1.0 text-stamp,rectangles # only these edits

Prints, per pair, the rank of the first claim that names the plant (kind, colour, size) and the first two claims.
"""

import sys
import tempfile
import time
from pathlib import Path

import spotdiff
from spotdiff.analysis.explain import report_key
from spotdiff.apps.bench.judge import Claim, first_match
from spotdiff.apps.bench.suites import LOCAL_IMAGE_SIZE, build_suites
from spotdiff.progress import run


def main(argv: list[str]) -> None:
    prevalences = [float(x) for x in (argv[0] if argv else "1.0,0.2").split(",")]
    edits = argv[1].split(",") if len(argv) > 1 else None
    pairs = [p for p in build_suites(["local"]) if p.source == "photos" and p.n_per_set == 100
             and p.prevalence in prevalences and (edits is None or p.group in edits)]
    root = Path(tempfile.mkdtemp(prefix="spotdiff-local-"))
    hits = {}
    for p in pairs:
        start = time.perf_counter()
        folder = run(p.write(root / p.id, LOCAL_IMAGE_SIZE))
        result = spotdiff.compare(folder / "set_a", folder / "set_b", model=None, seed=0)
        supported = sorted((f for f in result.findings if f.supported), key=report_key)
        ordered = [f for f in supported if f.independent] + [f for f in supported if not f.independent]
        rank = first_match([Claim(f.statement, f.more_in) for f in ordered], p.planted[0])
        hits.setdefault(p.prevalence, []).append(rank == 1)
        print(f"{p.group:16} {p.prevalence:>4.0%}  rank {rank}  {time.perf_counter() - start:4.0f} s  "
              f"{[f.statement for f in ordered[:2]]}", flush=True)
    for prevalence, found in hits.items():
        print(f"Acc@1 at {prevalence:.0%}: {sum(found) / len(found):.2f} ({len(found)} pairs)")


if __name__ == "__main__":
    main(sys.argv[1:])
