"""Past one machine: embed image sets on a Ray cluster into Parquet stores, compare the stores on a workstation.

    spotdiff embed FOLDER_OR_LIST --model NAME --out STORE [--ray auto|ADDRESS|none]
    spotdiff compare --embeddings STORE_A STORE_B

Needs the optional extra ``spotdiff[cluster]`` (pyarrow; ray for a cluster — without it, or with ``--ray none``,
the same command embeds in this process and writes the same store). Its modules, in the order data flows:
inputs (what to embed) → shard (the work on one shard, with the app's embedder classes) → actors (Ray) or
embed.LocalPool → store (Parquet shards, resumable) → compare (spotdiff.pipeline on the stores' vectors).
"""

from .compare import EmbeddedStores, compare_store_steps, compare_stores
from .embed import EmbedRequest, EmbedSummary, embed_steps
from .store import StoredSet, read_store

__all__ = ["EmbedRequest", "EmbedSummary", "embed_steps", "EmbeddedStores", "compare_store_steps", "compare_stores",
           "StoredSet", "read_store"]
