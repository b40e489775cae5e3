"""Opening a registered model: locate, verify, load (the registry says what exists) — an Embedder, or a
vision-language model (:func:`open_vlm`).

New kinds of model register an opener in :data:`OPENERS`. torch and open_clip are imported only
when a CLIP-like model is opened, so a comparison whose embeddings are all cached never loads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import InvalidParameterError, ModelLoadError
from .embedders.base import Embedder
from .embedders.measurements import MeasurementEmbedder
from .registry import ModelSpec, get_model_spec, locate_vlm, locate_weights, verify_sha256
from .vlm.config import config, mmproj_spec
from .vlm.isolated import IsolatedVLM
from .vlm.runtime import VisionLanguageModel


def _open_open_clip(spec: ModelSpec, weights: Path | None, device: str, precision: str) -> Embedder:
    from .embedders.open_clip import OpenClipEmbedder  # lazy: torch and open_clip load only for a CLIP model

    return OpenClipEmbedder(spec, locate_weights(spec, weights), device=device, precision=precision)


def _open_measurements(spec: ModelSpec, weights: Path | None, device: str, precision: str) -> Embedder:
    # numpy on the CPU: device and precision do not apply

    if weights is not None:
        raise InvalidParameterError("weights", str(weights), f"no weights path: {spec.name!r} needs none")
    return MeasurementEmbedder()


#: kind -> opener(spec, weights, device, precision); new kinds of model register here.
OPENERS: dict[str, Callable[[ModelSpec, Path | None, str, str], Embedder]] = {
    "open_clip": _open_open_clip, "measurements": _open_measurements}


def open_embedder(name_or_spec: str | ModelSpec, *, weights: Path | None = None, device: str = "cpu",
                  precision: str = "auto") -> Embedder:
    """Locate, verify and load a registered model; return it as an Embedder.

    precision : "auto" (the best the model supports on ``device``) or a name such as "fp32"
    """
    spec = name_or_spec if isinstance(name_or_spec, ModelSpec) else get_model_spec(name_or_spec)
    opener = OPENERS.get(spec.kind)
    if spec.kind == "vlm":  # proposes words, embeds nothing
        raise InvalidParameterError("model", spec.name, "an embedding model (open_clip or measurements); "
                                    f"{spec.name!r} is a vision-language model: pass it as --vlm {spec.name}")
    if opener is None:
        raise ModelLoadError(spec.name, spec.source_path,
                             f"its kind {spec.kind!r} is not one this version of spotdiff can open "
                             f"({', '.join(sorted(OPENERS))}); update spotdiff or fix the entry")
    return opener(spec, weights, device, precision)


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
