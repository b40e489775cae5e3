"""Comparing two embedding stores: the comparison of spotdiff.pipeline, with its vectors read from the stores.

    >>> from spotdiff.cluster import compare_stores
    >>> result = compare_stores("store_a/", "store_b/")   # the same Result as spotdiff.compare on the folders

Nothing is scanned or embedded: the stores give the images' records (paths, content hashes, frames, acquisition
tags, skipped files) and vectors in the order a scan gives them, so the seeded split, and with it every finding,
is the one an in-process comparison of the same folders makes. The model is still opened (deferred: it loads
only for what needs it) to place phrases in its space; it must be the one the stores were embedded with. Where
the image files can still be read, exemplars, small regions, re-planted causes and heat maps are read from them;
where not, from the copies the stores kept (``spotdiff embed --keep-pixels``), written once under the user's cache
folder; where neither, those steps are left out and the report says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..analysis.library import FeatureLibrary
from ..analysis.result import Finding
from ..comparison import Result
from ..errors import InvalidParameterError, StoreError
from ..io.images import ImageSet
from ..models.cache import EmbeddingCache
from ..models.embedders.base import Embedder
from ..models.host import ModelHost
from ..pipeline import DEFAULT_MAX_IMAGES, CompareRequest, compare_steps
from ..progress import Progress, Work, run
from ..models.paths import cache_dir
from .exemplars import with_store_exemplars
from .store import COPIES, StoredSet, read_options_of, read_store, with_kept_copies


@dataclass(frozen=True)
class EmbeddedStores:
    """Two stores as spotdiff.pipeline.EmbeddedSets: set A's and set B's records and vectors."""

    a: StoredSet
    b: StoredSet
    copies: Path | None = None  # the folder the stores' kept copies of the pixels are read from, when they are

    @classmethod
    def open(cls, store_a: Path | str, store_b: Path | str, *, min_images: int = 8, max_images: int | None = None,
             seed: int = 0, copies: Path | None = None) -> "EmbeddedStores":
        """The two stores (the images a comparison with ``max_images`` and ``seed`` analyses: read_store); where
        their images' files cannot be read here and both stores kept copies of the pixels, those copies (written
        into the folder ``copies``) are read instead."""
        a, b = (read_store(store, label, min_images=min_images, max_images=max_images, seed=seed,
                           keep_left_out=True) for store, label in ((store_a, "a"), (store_b, "b")))
        for name in ("model", "measurements"):
            if a.spaces[name]["key"] != b.spaces[name]["key"]:
                raise StoreError(b.folder, f"was embedded with {b.spaces[name]['key']!r}, store '{a.folder}' with "
                                           f"{a.spaces[name]['key']!r}", "Embed both sets with the same --model, "
                                                                         "--weights and --precision.")
        if a.settings.read_options != b.settings.read_options:
            raise StoreError(b.folder, f"read multi-image files as {b.settings.read_options}, store '{a.folder}' as "
                                       f"{a.settings.read_options}", "Embed both sets with the same --frames, "
                                                                     "--volume, --slices and --axis.")
        stores = cls(a, b)
        if copies is not None and not stores.pixels and a.settings.keep_pixels and b.settings.keep_pixels:
            return cls(with_kept_copies(a, copies), with_kept_copies(b, copies), copies=copies)
        return stores

    @property
    def set_a(self) -> ImageSet:
        return self.a.image_set

    @property
    def set_b(self) -> ImageSet:
        return self.b.image_set

    @cached_property
    def pixels(self) -> bool:
        """Whether every image's pixels can be read here, from its file or the stores' copy (the region stage and
        re-planting read them all)."""
        files = {r.stored_copy or r.path for s in (self.set_a, self.set_b) for r in s.images}
        return all(os.access(p, os.R_OK) for p in files)

    def exemplars(self, findings: Sequence[Finding], n: int) -> list[Finding]:
        """``findings`` with exemplars from every image the discovery half did not see, the ones a draw left out
        included (spotdiff.cluster.exemplars)."""
        return with_store_exemplars(findings, {"a": self.a, "b": self.b}, self.model, n, self.copies)

    @property
    def warnings(self) -> tuple[str, ...]:
        out = []
        left = {s.image_set.label.upper(): s.left_out.n for s in (self.a, self.b) if s.left_out is not None}
        if left:
            out.append("Exemplars are the images that show each claim most, or least, among every image the "
                       "discovery half did not see: the draw's held-out images and the "
                       + " and ".join(f"{n:,} of set {label}" for label, n in left.items())
                       + " it left out (searched in a faiss index; claims about small regions and acquisition tags "
                         "keep the draw's).")
        if self.copies is not None:
            side = max(self.a.settings.keep_pixels, self.b.settings.keep_pixels)
            out.append(f"The images' files cannot be read here: their pixels were read from the copies the stores "
                       f"kept (at most {side} px a side; 'spotdiff embed --keep-pixels'). Small regions, re-planted "
                       f"causes, heat maps and exemplar pictures come from those copies; where the files are larger, "
                       f"their findings may differ a little from a comparison of the files themselves.")
        return tuple(out)

    @property
    def model(self) -> str:
        return self.a.spaces["model"]["name"]

    @property
    def precision(self) -> str:
        return self.a.spaces["model"]["precision"]

    def vectors(self, embedder: Embedder) -> np.ndarray:
        for name, attribute in (("model", "X"), ("measurements", "M")):
            if embedder.cache_key == self.a.spaces[name]["key"]:
                return np.concatenate([getattr(self.a, attribute), getattr(self.b, attribute)])
        raise StoreError(self.a.folder, f"holds vectors of {self.a.spaces['model']['key']!r}, not of "
                                        f"{embedder.cache_key!r} (the model as it loads here)",
                         "Compare with the model, weights and precision the stores were embedded with, or embed "
                         "the images again with this one.")


def compare_store_steps(store_a: Path | str, store_b: Path | str, *, host: ModelHost | None = None,
                        cache: EmbeddingCache | None = None, library: FeatureLibrary | None = None,
                        **options) -> Work[Result]:
    """:func:`spotdiff.pipeline.compare_steps` on two stores; yields Progress, returns the Result.

    options : fields of CompareRequest (seed, alpha, min_effect, ...). model and precision default to the stores'
        (an other model is refused); weights to the path the stores were embedded with; read options are the
        stores'.
    """
    known = {f.name for f in fields(CompareRequest)} - {"set_a", "set_b", "read_options"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise InvalidParameterError(unknown[0], options[unknown[0]], f"one of the options {', '.join(sorted(known))}")
    yield Progress("read stores", 0, 2, f"{store_a}, {store_b}")
    stores = EmbeddedStores.open(store_a, store_b, min_images=options.get("min_images", 8),
                                 max_images=options.get("max_images", DEFAULT_MAX_IMAGES),
                                 seed=options.get("seed", 0),
                                 copies=Path(options.get("cache_dir") or cache_dir()) / COPIES)
    yield Progress("read stores", 2, 2, f"{len(stores.set_a)} + {len(stores.set_b)} images")
    if options.get("model") not in (None, stores.model):
        raise StoreError(stores.a.folder, f"was embedded with model {stores.model!r}, not {options['model']!r}",
                         f"Compare with --model {stores.model}, or embed the images again with {options['model']}.")
    options["model"] = stores.model
    if options.get("precision", "auto") == "auto":
        options["precision"] = stores.precision
    weights = stores.a.settings.weights
    options.setdefault("weights", Path(weights) if weights else None)
    request = CompareRequest(set_a=stores.set_a.sources, set_b=stores.set_b.sources,
                             read_options=read_options_of(stores.a.settings), **options)
    return (yield from compare_steps(request, host=host, cache=cache, library=library, embedded=stores))


def compare_stores(store_a: Path | str, store_b: Path | str, *, library: FeatureLibrary | None = None,
                   on_progress: Callable[[Progress], object] | None = None, host: ModelHost | None = None,
                   **options) -> Result:
    """Compare two embedding stores (``spotdiff embed --out``) and return what differs, as spotdiff.compare does
    for folders; see :func:`compare_store_steps`."""
    return run(compare_store_steps(store_a, store_b, host=host, library=library, **options), on_progress)
