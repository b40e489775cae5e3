"""Opening a registered vision-language model (kind "vlm"; its entry is read by :mod:`.config`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..registry import availability, list_models, locate_vlm, verify_sha256
from .config import KIND, VLMConfig, config, mmproj_spec
from .runtime import VisionLanguageModel

locate = locate_vlm  # (language model GGUF, projector GGUF or None), as the registry finds them

def open_vlm(spec, *, weights: Path | None = None, verify: bool = True, **overrides) -> VisionLanguageModel:
    """Locate, verify (sha256, when the entry gives one) and load a registered vision-language model."""
    cfg = config(spec)
    model_path, mmproj_path = locate(spec, weights)
    if verify and spec.sha256:  # without an expected value, hashing gigabytes would check nothing
        verify_sha256(spec, model_path)
    if verify and mmproj_path is not None and cfg.mmproj_sha256:
        verify_sha256(mmproj_spec(spec), mmproj_path)
    kwargs = dict(name=spec.name, chat_handler=cfg.chat_handler, n_ctx=cfg.context(),
                  time_budget_s=cfg.time_budget_s)
    kwargs.update(overrides)
    return VisionLanguageModel(model_path, mmproj_path, config=cfg, **kwargs)


def present_vlm() -> str | None:
    """The smallest registered vision-language model whose files are here and that llama-cpp-python can run, or None.

    Looks only at this machine (hashes nothing, downloads nothing): what `spotdiff demo` uses to
    add a VLM when one is present.
    """
    if importlib.util.find_spec("llama_cpp") is None:
        return None
    present = [s for s in list_models() if s.kind == KIND and availability(s)[0]]
    present.sort(key=lambda s: (s.size_bytes or 0) + (config(s).mmproj_size_bytes or 0))  # the fastest first
    return present[0].name if present else None
