"""Latency of a whole ``spotdiff compare`` of 2 x 100 images as a user feels it: process start to exit.

    .venv/bin/python benchmarks/compare_latency.py [--n 100] [--repeats 3] [--load 1] [--models toy-shapes]

Set A / set B: procedural 640x480 JPEG scenes (quality 90), B with tiny rectangles pasted in (so findings
exist). Each run is the command line in its own process, ``spotdiff compare A B --out DIR -q --no-library``.
Cold = a fresh cache folder (``SPOTDIFF_CACHE``: image and concept-bank text embeddings computed, and the
model's one-off checks: its weights' sha256 and bf16 against fp32); cached = the same command again; new sets =
then a second pair of sets drawn the same way (another seed) with that cache: what a user's next comparison of
new images costs, the one-off work done. Models: toy-shapes and ViT-B-32 (random weights). Stage times are read from the
``timings`` of the report.json each run writes.

``--load N`` also runs every compare with N busy processes beside it (each a one-thread numpy matrix-product
loop, started before the compare and stopped after it) and reports the slowdown against the quiet runs.
Quiet and loaded runs alternate, so drift of the machine's other work falls on both. Times are medians of
``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_model, random_vit_b32, table  # noqa: E402

SPOTDIFF = Path(sys.executable).with_name("spotdiff")
MODELS = ("toy-shapes", "ViT-B-32")
CPU = "process CPU s"  # the key of a run's CPU seconds among its stage timings
NEW = "new sets"
KINDS = ("cold", "cached", NEW)
BUSY_LOOP = ("import numpy as np\n"
             "a = np.random.default_rng(0).random((256, 256))\n"
             "while True:\n"
             "    a = np.tanh(a @ a)\n")
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


@dataclass
class Runs:
    """Wall times and stage times of the runs of one (model, cold or cached, quiet or loaded) cell."""

    walls: list[float] = field(default_factory=list)
    stages: list[dict[str, float]] = field(default_factory=list)

    def add(self, wall: float, stages: dict[str, float]) -> None:
        self.walls.append(wall)
        self.stages.append(stages)

    def wall(self) -> float:
        return statistics.median(self.walls)

    def stage(self, name: str) -> float:
        return statistics.median(s.get(name, 0.0) for s in self.stages)

    def stage_names(self) -> list[str]:
        return list(dict.fromkeys(k for s in self.stages for k in s))


# --- inputs ---------------------------------------------------------------------------------------------------


def jpeg_pair(folder: Path, n: int, seed: int = 0) -> Path:
    """``folder/set_a`` and ``folder/set_b`` of n procedural 640x480 JPEG scenes each; made once, then reused.

    Parameters
    ----------
    folder : where the pair is (or is made)
    n : images per set
    seed : of the procedural scenes

    Returns
    -------
    Path
        ``folder``
    """
    done = folder / "done"
    if done.exists():
        return folder
    from spotdiff.progress import run
    from spotdiff.synthetic.synth import synth

    shutil.rmtree(folder, ignore_errors=True)
    pngs = run(synth(folder / "png", plants=[("rectangles", 0.6)], n_per_set=n, image_size=640, seed=seed))
    for side in ("set_a", "set_b"):
        to_jpeg(pngs / side, folder / side)
    shutil.rmtree(pngs)
    done.touch()
    return folder


def to_jpeg(source: Path, target: Path, quality: int = 90) -> None:
    """Every image file in ``source`` saved as a JPEG of that ``quality`` in ``target``."""
    from PIL import Image

    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir()):
        if path.suffix.lower() in (".png", ".jpg", ".jpeg"):
            with Image.open(path) as image:
                image.convert("RGB").save(target / f"{path.stem}.jpg", quality=quality)


def model_arguments(model: str) -> list[str]:
    """The command-line arguments that choose ``model`` (ViT-B-32: random weights made once)."""
    if model == "ViT-B-32":
        weights = random_vit_b32(Path(tempfile.gettempdir()) / "spotdiff-bench")
        return ["--model", model, "--weights", str(weights)]
    return ["--model", model]


# --- running ----------------------------------------------------------------------------------------------------


def start_load(n: int) -> list[subprocess.Popen]:
    """Start n busy processes, each a one-thread numpy loop; give them a moment to get going."""
    env = {**os.environ, **ONE_THREAD}
    procs = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP], env=env) for _ in range(n)]
    if procs:
        time.sleep(1.0)
    return procs


def stop_load(procs: list[subprocess.Popen]) -> None:
    """Stop the busy processes that :func:`start_load` started."""
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def run_compare(pair: Path, model_args: list[str], cache: Path, out: Path, env: dict[str, str]) -> tuple[float, dict]:
    """One ``spotdiff compare`` in its own process.

    Returns
    -------
    tuple of (float, dict)
        wall seconds from process start to exit, and the stage timings of its report.json with the
        process's CPU seconds (user + system) under ``CPU``
    """
    command = [str(SPOTDIFF), "compare", str(pair / "set_a"), str(pair / "set_b"), "--out", str(out), "-q",
               "--no-library", *model_args]
    cpu_before, start = children_cpu(), time.perf_counter()
    done = subprocess.run(command, env={**os.environ, **env, "SPOTDIFF_CACHE": str(cache)},
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall, cpu = time.perf_counter() - start, children_cpu() - cpu_before
    if done.returncode != 0:
        raise RuntimeError(f"spotdiff compare exited {done.returncode}: {done.stderr.strip()[-500:]}")
    timings = json.loads((out / "report.json").read_text())["timings"]
    return wall, {**{k: float(v) for k, v in timings.items()}, CPU: cpu}


def children_cpu() -> float:
    """User + system CPU seconds of this process's waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cold_and_cached(pairs: tuple[Path, Path], model_args: list[str], work: Path, load: int, env: dict[str, str]):
    """A cold compare (fresh cache), the same compare again, and a compare of the second pair with that cache,
    with ``load`` busy processes beside them."""
    cache = Path(tempfile.mkdtemp(prefix="cache-", dir=work))
    busy = start_load(load)
    try:
        cold = run_compare(pairs[0], model_args, cache, work / "out-cold", env)
        cached = run_compare(pairs[0], model_args, cache, work / "out-cached", env)
        new = run_compare(pairs[1], model_args, cache, work / "out-new", env)
    finally:
        stop_load(busy)
        shutil.rmtree(cache, ignore_errors=True)
    return {"cold": cold, "cached": cached, NEW: new}


def measure(pairs: tuple[Path, Path], model: str, work: Path, loads: list[int], repeats: int, env: dict[str, str]):
    """Runs of ``model`` keyed by (load, one of KINDS); the loads alternate within each repeat."""
    model_args = model_arguments(model)
    runs = {(load, kind): Runs() for load in loads for kind in KINDS}
    for r in range(repeats):
        for load in loads:
            done = cold_and_cached(pairs, model_args, work, load, env)
            for kind, (wall, stages) in done.items():
                runs[(load, kind)].add(wall, stages)
            print(f"  {model} repeat {r + 1}/{repeats}, load {load}: "
                  + ", ".join(f"{kind} {wall:.1f} s" for kind, (wall, _) in done.items()), file=sys.stderr, flush=True)
    return runs


# --- printing ---------------------------------------------------------------------------------------------------




def stages_text(runs: Runs) -> str:
    """``stage seconds`` pairs of the medians, the total left out."""
    return ", ".join(f"{k} {runs.stage(k):.1f}" for k in runs.stage_names() if k not in ("total", CPU))


def ratio(loaded: float, quiet: float) -> str:
    return f"{loaded / quiet:.2f}x" if quiet > 0 else "-"


def latency_table(results: dict[str, dict]) -> str:
    """Quiet wall times of each kind of run per model, with their median stage times."""
    rows = [[model, *(f"{r[(0, kind)].wall():.1f}" for kind in KINDS),
             " / ".join(f"{r[(0, kind)].stage(CPU):.1f}" for kind in KINDS),
             stages_text(r[(0, "cold")]), stages_text(r[(0, NEW)]), stages_text(r[(0, "cached")])]
            for model, r in results.items()]
    return table(["model", "cold s", "cached s", f"{NEW} s", "CPU s cold / cached / new",
                  "cold stages (s, report.json)", f"{NEW} stages", "cached stages"], rows)


def load_table(results: dict[str, dict], load: int) -> str:
    """Quiet against loaded wall times per model and run, with the slowdown."""
    rows = []
    for model, r in results.items():
        for kind in KINDS:
            quiet, loaded = r[(0, kind)].wall(), r[(load, kind)].wall()
            cpu = f"{r[(0, kind)].stage(CPU):.1f} / {r[(load, kind)].stage(CPU):.1f}"
            rows.append([model, kind, f"{quiet:.1f}", f"{loaded:.1f}", ratio(loaded, quiet), cpu])
    return table(["model", "run", "quiet s", f"{load} busy s", "slowdown", "CPU s quiet / busy"], rows)


def stage_load_table(results: dict[str, dict], load: int) -> str:
    """Quiet against loaded stage times, per model and run: where a slowdown comes from."""
    rows = []
    for model, r in results.items():
        for kind in KINDS:
            quiet, loaded = r[(0, kind)], r[(load, kind)]
            for stage in quiet.stage_names():
                q, l = quiet.stage(stage), loaded.stage(stage)
                rows.append([model, kind, stage, f"{q:.2f}", f"{l:.2f}", ratio(l, q) if q >= 0.05 else "-"])
    return table(["model", "run", "stage", "quiet s", f"{load} busy s", "slowdown"], rows)


def header(args, env: dict[str, str]) -> str:
    settings = " ".join(f"{k}={v}" for k, v in env.items()) or "none"
    return (f"CPU: {cpu_model()}, {os.cpu_count()} logical cores; {datetime.date.today().isoformat()}\n"
            f"`spotdiff compare` of 2 x {args.n} JPEG images (640x480, quality 90), --no-library, process start "
            f"to exit; median of {args.repeats}; extra environment: {settings}")


# --- main -------------------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="images per set (default 100)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per cell; the median is reported (default 1)")
    parser.add_argument("--load", type=int, default=0,
                        help="also run each compare beside this many busy processes and report the slowdown")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS, help="models to time")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="an environment variable for the compares (e.g. OMP_WAIT_POLICY=ACTIVE); repeatable")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    env = dict(item.split("=", 1) for item in args.env)
    root = Path(tempfile.gettempdir()) / "spotdiff-bench"
    pairs = (jpeg_pair(root / f"latency-jpeg-{args.n}", args.n),
             jpeg_pair(root / f"latency-jpeg-{args.n}-seed1", args.n, seed=1))
    work = Path(tempfile.mkdtemp(prefix="spotdiff-latency-"))
    loads = [0, args.load] if args.load else [0]
    results = {}
    try:
        for model in args.models:
            try:
                results[model] = measure(pairs, model, work, loads, args.repeats, env)
            except RuntimeError as e:  # a model that is not installed: say so, go on
                print(f"({model} skipped: {e})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(header(args, env) + "\n")
    print(latency_table(results))
    if args.load:
        print(f"\nbeside {args.load} busy process(es) (one-thread numpy matrix products):\n")
        print(load_table(results, args.load))
        print()
        print(stage_load_table(results, args.load))


if __name__ == "__main__":
    main()
