"""Shards embedded by a pool of Ray actors: one model load per actor, shards handed out as actors free up.

Plain actors rather than Ray Data's ``map_batches`` with an actor pool: the unit a store commits and a resumed run
skips is a *shard* of the sorted listing, named by its files, and the driver must know when each one is durably
written before it logs it done. Ray Data's streaming executor chooses its own blocks and writes its own files, so
neither "this shard is finished" nor the store's order would be ours to state; and a file that cannot be read
must become a row with its reason, not a failed task. With actors the driver keeps ``IN_FLIGHT_PER_ACTOR`` shards
queued on each actor (so an actor never waits for the driver), writes each result as it arrives and logs it.
An actor that dies (a lost node) is restarted by Ray and its shard tried again (``MAX_RETRIES``).

This module imports ray; spotdiff.cluster.embed loads it by name only when a run uses Ray.
"""

from __future__ import annotations

import time
from typing import Iterator, Sequence

import ray
import torch

from ..errors import InvalidParameterError
from ..io.medical import ReadOptions
from .shard import ShardEmbedder
from .store import Shard, ShardRows

IN_FLIGHT_PER_ACTOR = 2
MAX_RETRIES = 2
TICK_S = 0.5  # how often the driver reports while every actor is busy


@ray.remote(max_restarts=MAX_RETRIES, max_task_retries=MAX_RETRIES)
class EmbedActor:
    """A ShardEmbedder in a Ray actor, its torch threads capped at the CPUs Ray gave it."""

    def __init__(self, model: str, weights: str | None, precision: str, device: str, read_options: ReadOptions,
                 keep_pixels: int, threads: int):
        torch.set_num_threads(max(1, threads))
        self.embedder = ShardEmbedder(model, weights=weights, precision=precision, device=device,
                                      read_options=read_options, keep_pixels=keep_pixels)
        torch.set_num_threads(max(1, threads))  # the model's loading sets it to every core of the machine

    def spaces(self) -> dict:
        return self.embedder.spaces()

    def embed(self, shard: Shard) -> ShardRows:
        return self.embedder.embed(shard)


class RayPool:
    """Connects to a Ray cluster (or starts one here) and runs ``n_actors`` EmbedActors on it.

    address : "auto" (RAY_ADDRESS, or a cluster started on this machine with ``ray start``, else a new local one)
        or a cluster's address ("ray://head:10001", "10.0.0.5:6379")
    n_actors : None: as many as the cluster's CPUs (or GPUs, with ``gpus_per_actor``) allow
    A Ray session this process had already started (``ray.init`` before) is used as it is and left running.
    """

    def __init__(self, address: str, *, model: str, weights: str | None, precision: str,
                 read_options: ReadOptions, keep_pixels: int = 0, n_actors: int | None = None, cpus_per_actor: float = 1,
                 gpus_per_actor: float = 0):
        self._own = not ray.is_initialized()
        if self._own:
            try:
                ray.init(address=None if address == "auto" else address, include_dashboard=False,
                         log_to_driver=False, configure_logging=False)
            except (ConnectionError, ValueError) as e:  # what ray raises for an address it cannot use
                raise InvalidParameterError("ray", address, f"'auto', 'none' or the address of a running Ray cluster "
                                                            f"(ray://head:10001, head:6379); Ray said: {e}") from e
        resources = ray.cluster_resources()
        if n_actors is None:
            n_actors = int(resources.get("GPU", 0) // gpus_per_actor) if gpus_per_actor \
                else int(resources.get("CPU", 1) // cpus_per_actor)
        self.n_actors = max(1, n_actors)
        device = "cuda" if gpus_per_actor else "cpu"
        options = {"num_cpus": cpus_per_actor, "num_gpus": gpus_per_actor}
        self.actors = [EmbedActor.options(**options).remote(model, weights, precision, device, read_options, keep_pixels,
                                                            max(1, int(cpus_per_actor)))
                       for _ in range(self.n_actors)]
        self.description = (f"ray {ray.__version__}: {self.n_actors} actor(s) of {cpus_per_actor:g} CPU"
                            + (f" and {gpus_per_actor:g} GPU" if gpus_per_actor else "")
                            + f" on {len(ray.nodes())} node(s) ({resources.get('CPU', 0):g} CPUs)")

    def spaces(self) -> dict:
        """The embedders' spaces, as the first actor loaded them (waits for its model to load)."""
        return ray.get(self.actors[0].spaces.remote())

    def map(self, shards: Sequence[Shard]) -> Iterator[ShardRows | None]:
        """Each shard's rows as it finishes (any order); None every TICK_S while none does."""
        todo = list(shards)[::-1]
        running: dict = {}
        load = {i: 0 for i in range(len(self.actors))}

        def fill() -> None:
            for i, actor in enumerate(self.actors):
                while todo and load[i] < IN_FLIGHT_PER_ACTOR:
                    running[actor.embed.remote(todo.pop())] = i
                    load[i] += 1

        fill()
        while running:  # closed early (cancel, an error): close() kills the actors and what they run
            ready, _ = ray.wait(list(running), num_returns=1, timeout=TICK_S)
            if not ready:
                yield None
                continue
            load[running.pop(ready[0])] -= 1
            rows = ray.get(ready[0])
            fill()
            yield rows

    def close(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
        if self._own:
            ray.shutdown()


def wait_for_actors(pool: RayPool, timeout_s: float = 600) -> float:
    """Seconds until every actor has loaded its model (for the benchmark's start-up cost)."""
    start = time.perf_counter()
    ray.get([a.spaces.remote() for a in pool.actors], timeout=timeout_s)
    return time.perf_counter() - start
