"""Comparing two sets embedded beforehand (``spotdiff embed``: stores of Parquet shards) from any front end — the
command line, the desktop app, a script. spotdiff.cluster sits behind the optional extra [cluster] (pyarrow; ray for
a cluster): without it, every other part of spotdiff runs, and these say what to install."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..analysis.library import FeatureLibrary
from ..comparison import Result
from ..errors import ExtraMissingError
from ..models.host import ModelHost
from ..progress import Work


def cluster_module(needed_for: str):
    """spotdiff.cluster; ExtraMissingError (what to install, for what) where pyarrow is missing."""
    if importlib.util.find_spec("pyarrow") is None:
        raise ExtraMissingError("pyarrow", "cluster", needed_for)
    from .. import cluster  # lazy: pyarrow (and ray) are the optional extra [cluster]; every other command runs without

    return cluster


def compare_embedded_steps(store_a: Path | str, store_b: Path | str, *, host: ModelHost | None = None,
                           library: FeatureLibrary | None = None, **options) -> Work[Result]:
    """:func:`spotdiff.compare_steps` on two embedding stores (``spotdiff embed --out``) instead of two folders:
    nothing is scanned or embedded. Yields Progress, returns the Result; options as for
    spotdiff.cluster.compare_store_steps. Where the images' files cannot be read here, the steps that read pixels
    are left out and ``Result.warnings`` says so."""
    cluster = cluster_module("comparing embedded sets")
    return (yield from cluster.compare_store_steps(store_a, store_b, host=host, library=library, **options))
