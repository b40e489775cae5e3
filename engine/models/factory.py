"""Opening a registered model as an Embedder: locate, verify, load (the registry says what exists).

New kinds of model register an opener in :data:`OPENERS`. torch and open_clip are imported only
when a CLIP-like model is opened, so a comparison whose embeddings are all cached never loads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import InvalidParameterError, ModelLoadError
from .embedders.base import Embedder
from .embedders.measurements import MeasurementEmbedder
from .registry import ModelSpec, get_model_spec, locate_weights


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
