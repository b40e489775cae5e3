"""The planted-difference benchmark; the same as `spotdiff bench`, results written to benchmarks/results/.

    python benchmarks/planted.py                   # every suite (toy-shapes + measurements when present)
    python benchmarks/planted.py --quick           # a few small pairs
    python benchmarks/planted.py --suites single,null --model measurements

Suites, judge and baselines live in engine/bench/ so an installed spotdiff can run them too.
"""

import sys
from pathlib import Path

from spotdiff.apps.bench.run import main

if __name__ == "__main__":
    sys.exit(main(default_out=Path(__file__).resolve().parent / "results"))
