"""``spotdiff embed``: one image set into an embedding store, on a Ray cluster or in this process.

    paths (sorted) → shards → workers (ShardEmbedder: read, check, embed, measure) → Parquet shards, logged as done

The driver (this process) lists the files, cuts them into shards, skips the shards a previous run finished with
the same files, hands the rest to the workers and writes each result into the store as it arrives. A run that is
stopped — Ctrl-C, a crash, SIGKILL — is continued by the same command: nothing finished is embedded again
(spotdiff.cluster.store says why that holds at any moment). Files that cannot be used are rows with their reason.
"""

from __future__ import annotations

import importlib
import importlib.util
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import ClassVar, Iterator, Sequence

from ..errors import EmptyImageSetError, ExtraMissingError
from ..io.images import SkippedFile, as_sources
from ..io.medical import ReadOptions
from ..models.registry import default_model
from ..params import NONE, PATH, PATHS, TEXT, Constraint, InstanceOf, Interval, Options, validate_params
from ..progress import Progress, Work, relay
from .inputs import list_inputs
from .shard import ShardEmbedder
from .store import Shard, ShardRows, StoreSettings, StoreWriter, cut

DEFAULT_SHARD_SIZE = 512  # files: a few minutes of one CPU actor's work with ViT-B-32, what a kill can cost


@dataclass(frozen=True)
class EmbedRequest:
    """What ``spotdiff embed`` does, captured up front.

    sources : folders, image files, text lists of paths, or CSV/Parquet manifests with a ``path`` column
    out : the store's folder (new, empty, or a store to continue)
    model, weights, precision : as a comparison takes them; default model: the embedded default
    ray : "auto" (Ray where it is installed: a running cluster, else a local one), "none" (this process), or a Ray
        cluster's address
    n_actors : Ray actors (None: as many as the cluster's CPUs, or GPUs, allow); cpus_per_actor, gpus_per_actor:
        what each actor asks Ray for (an actor with a GPU embeds on it)
    shard_size : files per shard (the unit of resuming)
    keep_pixels : keep a lossless copy of each image, shrunk to fit keep_pixels x keep_pixels, in the store (0: none),
        so that a comparison where the files cannot be read still has its small regions, re-planted causes, heat
        maps and exemplar pictures (spotdiff.cluster.compare); ~20-100 kB an image at 256 px
    """

    sources: tuple[Path, ...]
    out: Path
    model: str | None = None
    weights: Path | None = None
    precision: str = "auto"
    ray: str = "auto"
    n_actors: int | None = None
    cpus_per_actor: float = 1.0
    gpus_per_actor: float = 0.0
    shard_size: int = DEFAULT_SHARD_SIZE
    keep_pixels: int = 0
    read_options: ReadOptions = field(default_factory=ReadOptions)

    PARAMETER_CONSTRAINTS: ClassVar[dict[str, list[Constraint]]] = {
        "sources": [PATH, PATHS], "out": [PATH], "model": [TEXT, NONE], "weights": [PATH, NONE],
        "precision": [Options(("auto", "bf16", "fp32"))], "ray": [TEXT], "n_actors": [Interval(int, 1, None), NONE],
        "cpus_per_actor": [Interval(float, 0, None, closed="neither")], "gpus_per_actor": [Interval(float, 0, None)],
        "shard_size": [Interval(int, 1, None)], "keep_pixels": [Interval(int, 0, None)], "read_options": [InstanceOf((ReadOptions,))],
    }

    def __post_init__(self):
        for name in ("cpus_per_actor", "gpus_per_actor"):
            if isinstance(getattr(self, name), int) and not isinstance(getattr(self, name), bool):
                object.__setattr__(self, name, float(getattr(self, name)))
        validate_params({f.name: getattr(self, f.name) for f in fields(self)}, self.PARAMETER_CONSTRAINTS)
        sources = (self.sources,) if isinstance(self.sources, (str, Path)) else tuple(self.sources)
        object.__setattr__(self, "sources", tuple(Path(s) for s in sources))
        object.__setattr__(self, "out", Path(self.out))
        if self.model is None:
            object.__setattr__(self, "model", default_model())

    def settings(self) -> StoreSettings:
        o = self.read_options
        return StoreSettings(model=self.model, weights=str(self.weights) if self.weights else None,
                             precision=self.precision, shard_size=self.shard_size, keep_pixels=self.keep_pixels,
                             read_options={"frames": o.frames, "volume": o.volume, "n_slices": o.n_slices,
                                           "axis": o.axis})


@dataclass(frozen=True)
class EmbedSummary:
    """What a run did. n_embedded : images embedded by this run (a finished store continued embeds 0)."""

    store: Path
    executor: str
    n_files: int
    n_shards: int
    n_shards_before: int
    n_shards_done: int
    n_images: int
    n_embedded: int
    skipped: tuple[SkippedFile, ...]
    seconds: float

    @property
    def rate(self) -> float:
        return self.n_embedded / self.seconds if self.seconds > 0 else 0.0


class LocalPool:
    """The shards embedded one after another in this process, by the same ShardEmbedder an actor holds."""

    def __init__(self, request: EmbedRequest, why: str = ""):
        self.embedder = ShardEmbedder(request.model, weights=str(request.weights) if request.weights else None,
                                      precision=request.precision, read_options=request.read_options,
                                      keep_pixels=request.keep_pixels)
        self.description = "in this process" + (f" ({why})" if why else "")

    def map(self, shards: Sequence[Shard]) -> Iterator[ShardRows | None]:
        """Each shard's rows in order; None after each batch the embedders finish."""
        for shard in shards:
            work = self.embedder.embed_steps(shard)
            try:
                while True:
                    next(work)
                    yield None
            except StopIteration as stop:
                yield stop.value
            finally:
                work.close()

    def close(self) -> None:
        self.embedder.close()


def open_pool(request: EmbedRequest):
    """The workers a run asks for: a RayPool (spotdiff.cluster.actors), or a LocalPool for ``ray="none"`` and for
    "auto" where ray is not installed."""
    if request.ray == "none":
        return LocalPool(request)
    if importlib.util.find_spec("ray") is None:
        if request.ray == "auto":
            return LocalPool(request, "ray is not installed")
        raise ExtraMissingError("ray", "cluster", f"Embedding on the Ray cluster at {request.ray}")
    # by name: the module imports ray, which only runs that use Ray need
    actors = importlib.import_module(".actors", __package__)
    return actors.RayPool(request.ray, model=request.model, weights=str(request.weights) if request.weights else None,
                          precision=request.precision, read_options=request.read_options,
                          keep_pixels=request.keep_pixels, n_actors=request.n_actors,
                          cpus_per_actor=request.cpus_per_actor, gpus_per_actor=request.gpus_per_actor)


def embed_steps(request: EmbedRequest) -> Work[EmbedSummary]:
    """Embed ``request.sources`` into the store ``request.out``; yields Progress("embed", files done, files), with
    images/s and the time left in its message; returns an EmbedSummary."""
    start = time.perf_counter()
    paths, folder_skips = yield from relay(list_inputs(request.sources), "list")
    if not paths:
        raise EmptyImageSetError(request.sources[0], 0, len(folder_skips), 1)
    writer = StoreWriter(request.out, request.settings(), as_sources(request.sources))
    shards = cut(paths, request.shard_size)
    todo = writer.todo(shards)
    n_before = len(shards) - len(todo)
    total = sum(len(s.paths) for s in todo)
    yield Progress("embed", 0, total, f"{len(todo)} of {len(shards)} shards to embed; starting the workers")
    pool = open_pool(request) if todo else None
    writer.begin(shards, pool.description if pool is not None else "nothing left to embed", folder_skips)
    done = n_images = 0
    started = time.perf_counter()
    try:
        for rows in pool.map(todo) if pool is not None else ():
            if rows is not None:
                writer.write(rows)
                done += len(shards[rows.index].paths)
                n_images += rows.n_embedded
            yield Progress("embed", done, total, _rate(done, total, time.perf_counter() - started))
    finally:
        writer.finish()
        if pool is not None:
            pool.close()
    entries = writer.done
    skipped = tuple(folder_skips) + tuple(SkippedFile(Path(p), r) for p, r in writer.skipped_files())
    return EmbedSummary(request.out, writer.run["executor"], len(paths), len(shards), n_before, len(todo),
                        sum(e["n_rows"] - e["n_skipped"] for e in entries.values()), writer.run["n_embedded"],
                        skipped, time.perf_counter() - start)


def _rate(done: int, total: int, seconds: float) -> str:
    if done == 0 or seconds <= 0:
        return "loading the model"
    rate = done / seconds
    left = (total - done) / rate
    eta = f"{left:.0f} s" if left < 120 else f"{left / 60:.0f} min" if left < 7200 else f"{left / 3600:.1f} h"
    return f"{rate:.1f} img/s, ETA {eta}"
