"""Run the planted-difference benchmark: draw each pair, embed it once, let every method answer, judge.

    spotdiff bench                      # every suite, the default model (toy-shapes when present)
    spotdiff bench --quick              # a few small pairs: seconds, for tests
    python benchmarks/planted.py --suites single,null --model measurements

Writes ``planted.json`` (every pair, every method's top claims, the summaries) and ``planted.md`` (the tables).
Image sets are written to a temporary folder and removed pair by pair, or kept under ``--keep DIR``.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from ...models.cache import EmbeddingCache
from ...models.embedders.base import TextEmbedder
from ...models.registry import default_model
from ..console import drive
from ...models.embedding import CachedTextEncoder, TextMemo, embed_images
from ...errors import InvalidParameterError
from ...models.host import ModelHost
from ...io.images import scan_image_set
from ...pipeline import MEASUREMENTS, Space
from ...progress import Progress, Work, run
from ...analysis.decoder.proposer import DecoderProposer
from .baselines import PairData, PhraseBank, run_methods
from .judge import JUDGE_VERSION, best_rank, first_match, matches
from .options import DEFAULT_IMAGE_SIZE, METHODS, SUITES, add_arguments
from .suites import BenchPair, build_suites
from .summary import summarise, write_markdown
import json
from ...errors import Cancelled, SpotdiffError

SCHEMA = "spotdiff-bench/1"
RECALL_AT = 10


@dataclass(frozen=True)
class BenchConfig:
    """Everything one benchmark run needs.

    model : the CLIP-like model; the measurement space is always added, as in the app
    workers : threads drawing the next pairs' images while the current pair is analysed (1 = none)
    keep : folder to keep the image sets in (else a temporary folder, emptied pair by pair)
    """

    suites: tuple[str, ...] = SUITES
    model: str = MEASUREMENTS
    seed: int = 0
    quick: bool = False
    image_size: int = DEFAULT_IMAGE_SIZE
    workers: int = 1
    keep: Path | None = None
    command: str = ""
    methods: tuple[str, ...] = METHODS

    def __post_init__(self):
        unknown = [s for s in self.suites if s not in SUITES]
        if unknown or not self.suites:
            raise InvalidParameterError("suites", ",".join(self.suites), f"some of {', '.join(SUITES)}")
        if self.workers < 1:
            raise InvalidParameterError("workers", self.workers, "an integer >= 1")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise InvalidParameterError("methods", ",".join(self.methods), f"some of {', '.join(METHODS)}")


def run_benchmark(config: BenchConfig) -> Work[dict]:
    """Yield Progress("bench", done, total, pair id); return the results (the JSON document)."""
    pairs = build_suites(config.suites, seed=config.seed, quick=config.quick)
    names = [config.model] + ([MEASUREMENTS] if config.model != MEASUREMENTS else [])
    started, clock = time.strftime("%Y-%m-%d %H:%M:%S"), time.perf_counter()
    host, cache = ModelHost(), EmbeddingCache()  # the cache holds phrase vectors only, never benchmark images
    temporary = None if config.keep else tempfile.TemporaryDirectory(prefix="spotdiff-bench-")
    root = Path(config.keep) if config.keep else Path(temporary.name)
    pool = ThreadPoolExecutor(max_workers=config.workers - 1) if config.workers > 1 else None
    try:
        yield Progress("bench", 0, len(pairs), f"loading {', '.join(names)}")
        embedders = {n: host.embedder(n) for n in names}
        texts = {n: TextMemo(CachedTextEncoder(e, e.cache_key, e.dim, cache))
                 for n, e in embedders.items() if isinstance(e, TextEmbedder)}
        bank = PhraseBank()
        decoder = DecoderProposer.find(config.model)
        records = []
        writes = _Writer(pairs, root, config.image_size, pool)
        for index, pair in enumerate(pairs):
            yield Progress("bench", index, len(pairs), pair.id)
            folder, synth_seconds = writes.get(index)
            records.append(_run_pair(pair, folder, embedders, texts, bank, config.seed, synth_seconds, decoder,
                                     config.methods))
            if not config.keep:
                shutil.rmtree(folder, ignore_errors=True)
        yield Progress("bench", len(pairs), len(pairs), "summarising")
        runtime = time.perf_counter() - clock
        document = {
            "schema": SCHEMA, "command": config.command, "started": started, "runtime_s": round(runtime, 1),
            "model": config.model, "spaces": names, "seed": config.seed, "quick": config.quick,
            "image_size": config.image_size, "suites": list(config.suites), "methods": list(config.methods),
            "judge_version": JUDGE_VERSION, "recall_at": RECALL_AT,
            "environment": {"python": platform.python_version(), "machine": platform.machine(),
                            "processor": platform.processor() or platform.machine()},
            "pairs": records,
        }
        document.update(summarise(records, config.methods))
        return document
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        host.close()
        cache.close()
        if temporary is not None:
            temporary.cleanup()


class _Writer:
    """Writes pair folders, up to ``pool``'s size ahead of the pair being analysed."""

    def __init__(self, pairs: Sequence[BenchPair], root: Path, image_size: int, pool: ThreadPoolExecutor | None):
        self.pairs, self.root, self.image_size, self.pool = pairs, root, image_size, pool
        self.futures: dict = {}

    def _write(self, index: int) -> tuple[Path, float]:
        start = time.perf_counter()
        folder = self.root / self.pairs[index].id
        run(self.pairs[index].write(folder, self.image_size))
        return folder, time.perf_counter() - start

    def get(self, index: int) -> tuple[Path, float]:
        if self.pool is None:
            return self._write(index)
        for ahead in range(index, min(index + 1 + self.pool._max_workers, len(self.pairs))):
            if ahead not in self.futures:
                self.futures[ahead] = self.pool.submit(self._write, ahead)
        return self.futures.pop(index).result()


def _run_pair(pair: BenchPair, folder: Path, embedders: dict, texts: dict, bank: PhraseBank, seed: int,
              synth_seconds: float, decoder=None, methods: Sequence[str] = METHODS) -> dict:
    set_a = run(scan_image_set(folder / "set_a", "a"))
    set_b = run(scan_image_set(folder / "set_b", "b"))
    start = time.perf_counter()
    spaces = []
    for name, embedder in embedders.items():
        X = run(embed_images(embedder, set_a.images + set_b.images, None))
        spaces.append(Space.of(name, X, embedder, None, texts.get(name)))
    embed_seconds = time.perf_counter() - start
    answers = run_methods(PairData(tuple(spaces), set_a.images, set_b.images, embedders), bank, seed, methods,
                          decoder=decoder)
    out = pair.to_json() | {"synth_s": round(synth_seconds, 3), "embed_s": round(embed_seconds, 3), "methods": {}}
    for method, answer in answers.items():
        out["methods"][method] = {
            "available": answer.available,
            "rank": best_rank(answer.claims, pair.planted) if pair.planted else None,
            "found": [first_match(answer.claims[:RECALL_AT], p) is not None for p in pair.planted],
            "n_asserted": answer.n_asserted,
            "seconds": round(answer.seconds, 3),
            "top": [c.to_json() for c in answer.claims[:RECALL_AT]],
            **judge_explanations(answer, pair.planted),
        }
    return out


def judge_explanations(answer, planted) -> dict:
    """What a method says differs, judged: its explanations (spotdiff: independent findings; a baseline: its
    top k asserted claims, k the number of planted differences, at least 1), how many match no planted
    difference ("false explanations"), their precision, and for each planted difference whether one
    explanation names it and no other planted difference ("own": its own finding)."""
    if answer.explanations is not None:
        said = answer.explanations
    else:
        said = answer.asserted[:max(1, len(planted))]
    hits = [[matches(c.statement, c.more_in, p) for p in planted] for c in said]
    n_true = sum(any(h) for h in hits)
    own = [any(h[k] and sum(h) == 1 for h in hits) for k in range(len(planted))]
    return {"n_explanations": len(said), "false_explanations": len(said) - n_true,
            "precision": round(n_true / len(said), 4) if said else None, "own": own,
            "explanations": [c.to_json() for c in said[:RECALL_AT]]}


def write_results(document: dict, out: Path) -> tuple[Path, Path]:
    """Write ``out/planted.json`` and ``out/planted.md``."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "planted.json", out / "planted.md"
    head = json.dumps({k: v for k, v in document.items() if k != "pairs"}, indent=1)
    pairs = ",\n".join("  " + json.dumps(r, separators=(",", ":")) for r in document.get("pairs", []))
    # one line per pair: the file stays small and a re-run's diff reads pair by pair
    json_path.write_text(f'{head[:-2]},\n "pairs": [\n{pairs}\n ]\n}}\n', encoding="utf-8")
    md_path.write_text(write_markdown(document), encoding="utf-8")
    return json_path, md_path


def command_line(config: BenchConfig) -> str:
    """The canonical command that reproduces ``config`` (written into the results)."""
    parts = ["spotdiff", "bench", "--model", config.model, "--seed", str(config.seed)]
    if config.quick:
        parts.append("--quick")
    if tuple(config.suites) != SUITES:
        parts += ["--suites", ",".join(config.suites)]
    if config.image_size != DEFAULT_IMAGE_SIZE:
        parts += ["--image-size", str(config.image_size)]
    if tuple(config.methods) != METHODS:
        parts += ["--methods", ",".join(config.methods)]
    return " ".join(parts)


def run_from_args(args) -> int:
    config = BenchConfig(suites=tuple(s.strip() for s in args.suites.split(",") if s.strip()),
                         model=args.model or default_model(), seed=args.seed, quick=args.quick,
                         image_size=args.image_size, workers=args.workers, keep=args.keep,
                         methods=tuple(m.strip() for m in args.methods.split(",") if m.strip()))
    config = replace(config, command=command_line(config))
    document = drive(run_benchmark(config), args.quiet)
    json_path, md_path = write_results(document, args.out)
    print(md_path.read_text(encoding="utf-8"))
    print(f"wrote {json_path} and {md_path} ({document['runtime_s']:.0f} s)")
    return 0


def main(argv: Sequence[str] | None = None, default_out: Path = Path("benchmarks/results")) -> int:
    """``python benchmarks/planted.py``: the same as ``spotdiff bench``, results in benchmarks/results."""
    parser = argparse.ArgumentParser(prog="planted.py", description="The planted-difference benchmark.")
    add_arguments(parser, default_out)
    args = parser.parse_args(argv)
    try:
        return run_from_args(args)
    except (Cancelled, KeyboardInterrupt):
        print("planted.py: cancelled", file=sys.stderr)
        return 130
    except SpotdiffError as e:
        print(f"planted.py: error: {e}", file=sys.stderr)
        return 2
