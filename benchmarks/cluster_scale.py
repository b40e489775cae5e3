"""spotdiff embed on Ray against the in-process path, and what N nodes would do.

    .venv/bin/python benchmarks/cluster_scale.py [--n 2000] [--repeats 3] [--model toy-shapes | --model ViT-B-32]
                                                 [--fs-mb-s 1000] [--gpu-img-s RATE]

Needs the extra [cluster]. On the same ``--n`` JPEG files (640x480 procedural scenes, quality 90), each run a
whole ``spotdiff embed`` into a new store (listing, reading and hashing every file, decoding, embedding, measuring,
writing Parquet shards):

1. in this process (``--ray none``) vs a local Ray cluster of this machine's cores: 1 actor holding them all,
   and one actor per core. img/s end to end (median of ``--repeats``), and Ray's overhead against in-process;
   Ray's start (``ray.init``) is timed apart, once.
2. the parts a cluster's throughput is made of, measured here: one actor's rate on one core (from its shards'
   own timings), reading and hashing files (what every worker does to a file before decoding it) in MB/s, and the
   driver's cost of writing a shard of results (the one thing that does not spread over nodes).
3. a throughput model for 1, 8 and 64 nodes of 16 cores: nodes x 16 x the one-core actor rate x the scaling of
   actors measured here, capped by the shared file system (``--fs-mb-s``, a stated figure for the cluster's
   storage: this machine cannot measure a network file system) and by the driver. GPU nodes only when their rate
   per GPU is given (``--gpu-img-s``); this machine has none to measure.

4. with ``--store-rows N`` only: writing and reading back a store of N synthetic 512-d vectors (what
   ``compare --embeddings`` does first), its time and the peak memory it adds.
5. with ``--analyse N`` only: two stores of N synthetic vectors each (of ``--model``: 128-d toy-shapes, or 512-d
   ViT-B-32 with random weights), B's shifted along one random direction, compared from the stores (no images;
   ``--max-images`` as the comparison takes it): the time of each stage, the process's peak memory, and whether
   the planted direction was found.

ViT-B-32 runs with random weights (speed does not depend on their values); use a smaller ``--n`` for it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import ray

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_line, make_jpegs, random_vit_b32, table  # noqa: E402

from spotdiff.cluster import EmbedRequest, compare_stores, embed_steps  # noqa: E402
from spotdiff.cluster.inputs import list_inputs  # noqa: E402
from spotdiff.cluster.store import LOG, Shard, ShardRows, StoreSettings, StoreWriter, cut, finished, read_store  # noqa: E402
from spotdiff.cluster.shard import ShardEmbedder  # noqa: E402
from spotdiff.pipeline import DEFAULT_MAX_IMAGES  # noqa: E402
from spotdiff.progress import run  # noqa: E402

SHARD = 100
NODE_CORES = 16


def embed_once(files: Path, work: Path, weights, model: str, ray_mode: str, n_actors=None, cpus=1.0):
    """One whole ``spotdiff embed`` into a new store: (seconds, per-shard actor rates img/s)."""
    out = work / "store"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    run(embed_steps(EmbedRequest(sources=(files,), out=out, model=model, weights=weights, ray=ray_mode,
                                 n_actors=n_actors, cpus_per_actor=cpus, shard_size=SHARD)))
    seconds = time.perf_counter() - start
    entries = [json.loads(line) for line in (out / LOG).read_text().splitlines()]
    return seconds, [e["n_rows"] / e["seconds"] for e in entries]


def read_rate(paths: list[Path]) -> tuple[float, float]:
    """(MB/s, files/s) of reading and sha256-hashing the files, on one core (from the page cache)."""
    start = time.perf_counter()
    size = 0
    for p in paths:
        data = p.read_bytes()
        size += len(data)
        hashlib.sha256(data).hexdigest()
    seconds = time.perf_counter() - start
    return size / 1e6 / seconds, len(paths) / seconds


def driver_rate(paths: list[Path], model: str, weights, work: Path) -> float:
    """Images per second the driver can write into a store (Parquet shard + log line), from one real shard."""
    embedder = ShardEmbedder(model, weights=str(weights) if weights else None)
    shard = Shard(0, 0, tuple(str(p) for p in paths[:SHARD]))
    rows = embedder.embed(shard)
    out = work / "driver-store"
    times = []
    for _ in range(5):
        shutil.rmtree(out, ignore_errors=True)
        writer = StoreWriter(out, StoreSettings(model, None, "auto", {}, SHARD), [paths[0].parent])
        writer.begin([shard], "bench")
        start = time.perf_counter()
        writer.write(rows)
        times.append(time.perf_counter() - start)
    return SHARD / statistics.median(times)


def synthetic_store(folder: Path, n: int, spaces: dict, rng, *, shift: np.ndarray | None = None, label: str = "a",
                     size: int = 10_000, model: str = "toy-shapes", weights: Path | None = None) -> float:
    """A store of ``n`` random unit vectors (plus ``shift``) and random measurements, rows as the workers write
    them (no images behind them); returns the seconds writing took."""
    shutil.rmtree(folder, ignore_errors=True)
    shards = cut([Path(f"/data/{label}/img{i:08d}.jpg") for i in range(n)], size)
    settings = StoreSettings(model, str(weights) if weights else None, "auto",
                             {"frames": "middle", "volume": "middle", "n_slices": 5, "axis": 2}, size)
    writer = StoreWriter(folder, settings, [Path(f"/data/{label}")])
    writer.begin(shards, "synthetic")
    dim, key, m_dim = spaces["model"]["dim"], spaces["model"]["key"], spaces["measurements"]["dim"]
    start = time.perf_counter()
    for shard in shards:
        k = len(shard.paths)
        X = rng.standard_normal((k, dim), dtype=np.float32) / np.sqrt(dim)
        if shift is not None:
            X += shift
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        ids = range(shard.first, shard.first + k)
        columns = {"order": list(ids), "path": list(shard.paths),
                   "content_hash": [hashlib.sha256(f"{label}{i}".encode()).hexdigest() for i in ids],
                   "frame": [None] * k, "axis": [None] * k, "width": [640] * k, "height": [480] * k,
                   "format": ["JPEG"] * k, "tags": [[]] * k, "embedder": [key] * k,
                   "precision": [spaces["model"]["precision"]] * k, "vector": list(X),
                   "measurements": list(rng.standard_normal((k, m_dim), dtype=np.float32)),
                   "skip_reason": [None] * k, "worker": ["synthetic"] * k, "pixels": [None] * k}
        writer.write(ShardRows(shard.index, shard.digest, columns, spaces, k, 1.0, "synthetic"))
    writer.finish()
    return time.perf_counter() - start


def write_analysis_stores(n: int, work: Path, model: str) -> tuple[float, np.ndarray]:
    """The two synthetic stores of :func:`analyse_scale` (reused when an earlier ``--keep`` run wrote them); returns
    the seconds writing took and the planted direction. Runs in a process of its own, so that the model it loads
    for the stores' keys is not counted in the comparison's memory."""
    weights = random_vit_b32(work) if model == "ViT-B-32" else None
    embedder = ShardEmbedder(model, weights=str(weights) if weights else None)
    spaces = embedder.spaces()
    embedder.close()
    rng = np.random.default_rng(0)
    u = rng.standard_normal(spaces["model"]["dim"]).astype(np.float32)
    u /= np.linalg.norm(u)
    t_write = 0.0
    for label, shift in (("a", None), ("b", 0.05 * u)):
        folder = work / f"analyse-{label}"
        made = json.loads((folder / "store.json").read_text()) if (folder / "store.json").exists() else {}
        if made.get("spaces") == spaces and made.get("sources") == [f"/data/{label}"] and \
                made.get("n_shards") == -(-n // 10_000) and len(finished(folder)) == made["n_shards"]:
            continue  # written by an earlier --keep run (same n, model, seed)
        t_write += synthetic_store(folder, n, spaces, rng, shift=shift, label=label, model=model, weights=weights)
    return t_write, u


def analyse_scale(n: int, work: Path, model: str, max_images: int, keep: bool = False) -> None:
    """Two synthetic stores of ``n`` vectors of ``model``, B shifted along one direction, compared from the stores
    in this process (its peak memory is the comparison's, with spotdiff's imports, as a user's process has it)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        t_write, u = pool.apply(write_analysis_stores, (n, work, model))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    start = time.perf_counter()
    result = compare_stores(work / "analyse-a", work / "analyse-b", use_cache=False, regions=False,
                            max_images=max_images)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    sep = {s.space: (s.auroc, s.p_value) for s in result.separability}
    first = [d for d in result.directions if d.space == model and d.index == 0]
    cosine = abs(float(first[0].vector @ u)) if first else float("nan")
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items() if k != "total")
    drawn = f"{len(result.set_a):,} + {len(result.set_b):,} of them drawn (--max-images {max_images:,})" \
        if result.set_a.n_found else "all of them"
    print(f"{cpu_line()}; 2 x {n:,} synthetic {model} vectors ({len(u)}-d), B shifted by 0.05 along "
          f"one direction (stores written in {t_write:.0f} s), {drawn}: compared from the stores in {seconds:.1f} s "
          f"({stages}); peak memory of the process "
          f"{peak:.2f} GB ({peak - before:+.2f} GB while comparing); separability AUROC "
          f"{sep[model][0]:.3f} (p = {sep[model][1]:.3f}), measurements {sep['measurements'][0]:.3f}; "
          f"the first direction's |cosine| with the planted one {cosine:.3f}; {len(result.supported)} supported "
          f"findings")
    if not keep:
        for s in "ab":
            shutil.rmtree(work / f"analyse-{s}", ignore_errors=True)


def store_scale(n: int, work: Path, dim: int = 512) -> None:
    """Write a store of ``n`` random vectors (no images: rows as the workers write them) and time reading it back."""
    folder = work / f"synthetic-store-{n}"
    spaces = {"model": {"name": "toy-shapes", "key": "synthetic", "dim": dim, "precision": "bf16"},
              "measurements": {"name": "measurements", "key": "synthetic-m", "dim": 21, "precision": "fp32"}}
    t_write = synthetic_store(folder, n, spaces, np.random.default_rng(0))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    start = time.perf_counter()
    stored = read_store(folder, "a")
    t_read = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"{cpu_line()}; a store of {n:,} synthetic {dim}-d vectors in shards of 10,000: written in {t_write:.1f} s, "
          f"read back in {t_read:.1f} s; peak memory {peak:.2f} GB ({peak - before:+.2f} GB over the "
          f"{before:.2f} GB before reading; the vectors are {stored.X.nbytes / 1e9:.2f} GB)")
    shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="toy-shapes")
    parser.add_argument("--fs-mb-s", type=float, default=1000.0,
                        help="read bandwidth of the cluster's shared file system, MB/s (a stated figure)")
    parser.add_argument("--gpu-img-s", type=float, default=None, help="one GPU actor's img/s, if measured elsewhere")
    parser.add_argument("--store-rows", type=int, default=None, help="only: write and read a store of this many "
                                                                     "synthetic vectors")
    parser.add_argument("--analyse", type=int, default=None, help="only: compare two stores of this many synthetic "
                                                                  "vectors each (of --model)")
    parser.add_argument("--max-images", type=int, default=DEFAULT_MAX_IMAGES,
                        help="with --analyse: images of each set the comparison analyses (0: all)")
    parser.add_argument("--keep", action="store_true", help="with --analyse: keep the synthetic stores (in the "
                                                            "system's temporary folder) for the next run")
    args = parser.parse_args()
    work = Path(tempfile.gettempdir()) / "spotdiff-bench-cluster"
    if args.store_rows:
        return store_scale(args.store_rows, work)
    if args.analyse:
        return analyse_scale(args.analyse, work, args.model, args.max_images, args.keep)
    files = work / f"jpeg640-{args.n}"
    paths = make_jpegs(files, args.n)
    weights = random_vit_b32(work) if args.model == "ViT-B-32" else None
    cores = len(os.sched_getaffinity(0))
    os.environ.setdefault("SPOTDIFF_CACHE", str(work / "cache"))

    mb_s, files_s = read_rate(paths)
    start = time.perf_counter()
    listed, _ = run(list_inputs([files]))
    list_s = len(listed) / (time.perf_counter() - start)
    mean_mb = sum(p.stat().st_size for p in paths) / len(paths) / 1e6
    t_driver = driver_rate(paths, args.model, weights, work)

    start = time.perf_counter()
    ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
    t_init = time.perf_counter() - start
    configs = [("in this process", "none", None, 1.0), (f"Ray, 1 actor x {cores} CPUs", "auto", 1, float(cores)),
               (f"Ray, {cores} actors x 1 CPU", "auto", cores, 1.0)]
    if cores != 1:
        configs.append(("Ray, 1 actor x 1 CPU", "auto", 1, 1.0))
    results = {}
    for name, mode, n_actors, cpus in configs:
        runs = [embed_once(files, work, weights, args.model, mode, n_actors, cpus) for _ in range(args.repeats)]
        results[name] = (statistics.median(r[0] for r in runs), [rate for r in runs for rate in r[1]])
    ray.shutdown()

    base = results["in this process"][0]
    rows = []
    n_actors = {name: n or 1 for name, _, n, _ in configs}
    for name, (seconds, shard_rates) in results.items():
        overhead = "–" if name == "in this process" else f"{(seconds - base) / base:+.0%}"
        steady = n_actors[name] * statistics.median(shard_rates)  # every actor busy
        rows.append([name, f"{seconds:.1f}", f"{args.n / seconds:.1f}", f"{statistics.median(shard_rates):.1f}",
                     f"{steady:.1f}", f"{max(0.0, seconds - args.n / steady):.1f}", overhead])
    print(f"{cpu_line()}; {cores} cores; {args.n} JPEG files 640x480 ({mean_mb * 1e3:.0f} kB each); model "
          f"{args.model}; shards of {SHARD}; median of {args.repeats} runs; ray.init {t_init:.1f} s (once, not in "
          f"the times)")
    print(table(["how", "seconds", "img/s end to end", "img/s per actor (its shards)", "img/s all actors busy",
                 "start-up s (rest)", "time vs in-process"], rows))

    one_core = statistics.median(results["Ray, 1 actor x 1 CPU"][1]) if cores != 1 else args.n / base
    all_cores = cores * statistics.median(results[f"Ray, {cores} actors x 1 CPU"][1])  # steady state
    scaling = all_cores / (cores * one_core)  # what one actor per core gave here
    fs_img_s = args.fs_mb_s / mean_mb
    print()
    print(f"Parts, measured here: one actor on one core {one_core:.1f} img/s; {cores} actors together "
          f"{all_cores:.1f} img/s ({scaling:.0%} of {cores} x one, applied to a node's 16 cores below); reading + sha256 {mb_s:.0f} MB/s = "
          f"{files_s:.0f} files/s per core (page cache); the driver lists {list_s:.0f} files/s (once, before "
          f"any work) and writes {t_driver:.0f} img/s of results "
          f"(Parquet + log); shared file system assumed {args.fs_mb_s:.0f} MB/s = {fs_img_s:.0f} files/s")
    model_rows = []
    for kind, per_node in (("16-core CPU", NODE_CORES * one_core * scaling), ("1 GPU", args.gpu_img_s)):
        for n_nodes in (1, 8, 64):
            if per_node is None:
                model_rows.append([kind, n_nodes, "not measured (no GPU here)", "–", "–", "–"])
                continue
            compute = n_nodes * per_node
            limit = min(compute, fs_img_s, t_driver)
            bound = "compute" if limit == compute else "file system" if limit == fs_img_s else "driver"
            hours = 2e6 / limit / 3600
            model_rows.append([kind, n_nodes, f"{compute:,.0f}", f"{limit:,.0f}", bound, f"{hours:.2f}"])
    print(table(["nodes of", "n", "compute img/s", "throughput img/s", "bound by", "hours for 2 x 10^6"], model_rows))
    stop_cpu = min(fs_img_s, t_driver) / (NODE_CORES * one_core * scaling)
    print(f"CPU nodes stop scaling at about {stop_cpu:.0f} nodes, where "
          f"{'the file system' if fs_img_s < t_driver else 'the driver'} caps the rate.")


if __name__ == "__main__":
    main()
