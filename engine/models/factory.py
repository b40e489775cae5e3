"""Opening a registered model: locate, verify, load (the registry says what exists) — an Embedder, or a
vision-language model (:func:`open_vlm`).

New kinds of model register an opener in :data:`OPENERS`. torch and open_clip are imported only
when a CLIP-like model is loaded; opened ``deferred``, it loads at its first use, so a comparison whose
vectors are all cached never loads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import InvalidParameterError, ModelLoadError
from .embedders.base import Embedder
from .deferred import DeferredEmbedder, loading_key, remember_loaded, remembered
from .embedders.measurements import MeasurementEmbedder
from .registry import ModelSpec, get_model_spec, locate_vlm, locate_weights, verify_sha256
from .vlm.config import config, mmproj_spec
from .vlm.isolated import IsolatedVLM
from .vlm.runtime import VisionLanguageModel


def _open_open_clip(spec: ModelSpec, weights: Path | None, device: str, precision: str,
                    deferred: bool = False) -> Embedder:
    located = locate_weights(spec, weights)
    sha256 = verify_sha256(spec, located)  # hashed once, remembered; checked against the entry every time
    key = loading_key(spec, located, sha256, precision, device)

    def load() -> Embedder:
        from .embedders.open_clip import OpenClipEmbedder  # lazy: torch and open_clip load only for a CLIP model

        embedder = OpenClipEmbedder(spec, located, device=device, precision=precision)
        remember_loaded(key, embedder)
        return embedder

    known = remembered(key) if deferred else None
    return DeferredEmbedder(spec, known, load, key, sha256) if known is not None else load()


def _open_measurements(spec: ModelSpec, weights: Path | None, device: str, precision: str,
                       deferred: bool = False) -> Embedder:
    # numpy on the CPU: device and precision do not apply

    if weights is not None:
        raise InvalidParameterError("weights", str(weights), f"no weights path: {spec.name!r} needs none")
    return MeasurementEmbedder()


#: kind -> opener(spec, weights, device, precision, deferred); new kinds of model register here.
OPENERS: dict[str, Callable[[ModelSpec, Path | None, str, str, bool], Embedder]] = {
    "open_clip": _open_open_clip, "measurements": _open_measurements}


def open_embedder(name_or_spec: str | ModelSpec, *, weights: Path | None = None, device: str = "cpu",
                  precision: str = "auto", deferred: bool = False) -> Embedder:
    """Locate, verify and load a registered model; return it as an Embedder.

    precision : "auto" (the best the model supports on ``device``) or a name such as "fp32"
    deferred : load the model when it is first needed (spotdiff.models.deferred.DeferredEmbedder), where an
        earlier load of the same weights the same way said what its cache key is; otherwise (and the first time)
        load it now
    """
    spec = name_or_spec if isinstance(name_or_spec, ModelSpec) else get_model_spec(name_or_spec)
    opener = OPENERS.get(spec.kind)
    if spec.kind == "vlm":  # proposes words, embeds nothing
        raise InvalidParameterError("model", spec.name, "an embedding model (open_clip or measurements); "
                                    f"{spec.name!r} is a vision-language model: pass it as --vlm {spec.name}")
    if spec.kind == "decoder":  # reads a comparison's numbers, embeds nothing
        raise InvalidParameterError("model", spec.name, "an embedding model (open_clip or measurements); "
                                    f"{spec.name!r} is a decoder, used by itself when its model is compared")
    if opener is None:
        raise ModelLoadError(spec.name, spec.source_path,
                             f"its kind {spec.kind!r} is not one this version of spotdiff can open "
                             f"({', '.join(sorted(OPENERS))}); update spotdiff or fix the entry")
    return opener(spec, weights, device, precision, deferred)


def open_vlm(spec: ModelSpec, *, weights: Path | None = None, verify: bool = True, isolated: bool = True,
             **overrides) -> VisionLanguageModel | IsolatedVLM:
    """Locate, verify (sha256, when the entry gives one) and load a registered vision-language model.

    isolated : load and run it in a worker process of its own (spotdiff.models.vlm.isolated), so a crash or a
        hang of llama.cpp stops the model, not the caller; False: in this process
    overrides : VisionLanguageModel's keyword arguments (n_threads, time_budget_s, ...)
    """
    cfg = config(spec)
    model_path, mmproj_path = locate_vlm(spec, weights)
    if verify and spec.sha256:  # without an expected value, hashing gigabytes would check nothing
        verify_sha256(spec, model_path)
    if verify and mmproj_path is not None and cfg.mmproj_sha256:
        verify_sha256(mmproj_spec(spec), mmproj_path)
    kwargs = dict(name=spec.name, chat_handler=cfg.chat_handler, n_ctx=cfg.context(),
                  time_budget_s=cfg.time_budget_s)
    kwargs.update(overrides)
    return (IsolatedVLM if isolated else VisionLanguageModel)(model_path, mmproj_path, config=cfg, **kwargs)
