"""Vision-language models as registry data: kind "vlm", a GGUF language model plus its image projector.

A registry entry of kind ``vlm`` names the language model in ``filename``/``sha256``/``size_bytes``
(as every entry does) and the rest in its ``vlm`` object (models/README.md):

    mmproj, mmproj_sha256, mmproj_size_bytes   the image projector GGUF (null mmproj: text only)
    chat_handler       how prompts with images are laid out: "mtmd" (the GGUF's own chat template) or
                       a model-specific llama-cpp-python handler ("qwen2.5-vl", "llava-1.5", ...)
    n_ctx              the longest context to allocate (the model's trained length or less)
    image_size         side in pixels of each image grid sent to the model
    image_tokens       context tokens one such image takes
    multi_image        whether the model reads several images in one prompt (else one side-by-side image)
    time_budget_s      the limit of one answer (images, prompt and answer) on the machine it runs on
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelLoadError
from .isolated import IsolatedVLM
from .prompts import ANSWER_TOKENS
from .runtime import CHAT_HANDLERS, VisionLanguageModel, context_size

KIND = "vlm"
_REQUIRED = {"chat_handler", "n_ctx", "image_size", "image_tokens"}
_OPTIONAL = {"mmproj", "mmproj_sha256", "mmproj_size_bytes", "multi_image", "time_budget_s"}


@dataclass(frozen=True)
class VLMConfig:
    """The ``vlm`` object of a registry entry, checked and with defaults filled in."""

    chat_handler: str
    n_ctx: int
    image_size: int
    image_tokens: int
    mmproj: str | None = None
    mmproj_sha256: str | None = None
    mmproj_size_bytes: int | None = None
    multi_image: bool = True
    time_budget_s: float = 300.0

    @property
    def images_per_prompt(self) -> int:
        """Two grids (set A, set B), or one side-by-side image for a single-image model; 0 text only."""
        if self.mmproj is None:
            return 0
        return 2 if self.multi_image else 1

    def context(self, prompt_tokens: int = 1024) -> int:
        """Context sized to hold one prompt's images, its text and the longest answer the schema admits."""
        return context_size(self.images_per_prompt, self.image_tokens, prompt_tokens=prompt_tokens,
                            answer_tokens=ANSWER_TOKENS, limit=self.n_ctx)


def _bad(spec, problem: str) -> ModelLoadError:
    return ModelLoadError(spec.name, spec.source_path,
                          f"the registry entry is not valid: {problem}. See models/README.md")


def config(spec) -> VLMConfig:
    """The VLM settings of a registry entry of kind "vlm"; ModelLoadError naming the problem if wrong."""
    data = spec.vlm
    if not isinstance(data, dict):
        raise _bad(spec, "kind 'vlm' needs a 'vlm' object (mmproj, chat_handler, n_ctx, image_size, image_tokens)")
    missing, unknown = _REQUIRED - set(data), set(data) - _REQUIRED - _OPTIONAL
    for ok, problem in [
        (not missing, f"'vlm' lacks {sorted(missing)}"),
        (not unknown, f"'vlm' has unknown keys {sorted(unknown)}; expected some of {sorted(_REQUIRED | _OPTIONAL)}"),
        (bool(spec.filename), "'filename' must name the language model GGUF"),
        (data.get("chat_handler") in CHAT_HANDLERS, f"'chat_handler' must be one of {sorted(CHAT_HANDLERS)}"),
        (all(isinstance(data.get(k), int) and data[k] > 0 for k in ("n_ctx", "image_size", "image_tokens")),
         "'n_ctx', 'image_size' and 'image_tokens' must be positive integers"),
        (data.get("mmproj") is None or isinstance(data["mmproj"], str) and data["mmproj"].endswith(".gguf"),
         "'mmproj' must name a .gguf file or be null (a text-only model)"),
    ]:
        if not ok:
            raise _bad(spec, problem)
    sha = data.get("mmproj_sha256")
    return VLMConfig(**{**data, "mmproj_sha256": sha.lower() if isinstance(sha, str) else None})


def check_entry(spec) -> None:
    config(spec)


def mmproj_spec(spec):
    """A registry entry for the projector file alone, so the usual search, check and pull apply to it."""
    cfg = config(spec)
    if cfg.mmproj is None:
        return None
    return dataclasses.replace(spec, filename=cfg.mmproj, sha256=cfg.mmproj_sha256,
                               size_bytes=cfg.mmproj_size_bytes, vlm=None, kind="vlm-mmproj")


def locate(spec, weights: Path | None = None) -> tuple[Path, Path | None]:
    """(language model GGUF, projector GGUF or None). ``weights``: a folder holding both, or the model file."""
    from ..models import locate_weights

    folder = None
    if weights is not None:
        weights = Path(weights).expanduser()
        folder = weights if weights.is_dir() else weights.parent
    model = locate_weights(spec, weights)
    proj = mmproj_spec(spec)
    return model, (locate_weights(proj, folder) if proj is not None else None)


def open_vlm(spec, *, weights: Path | None = None, verify: bool = True, isolated: bool = True,
             **overrides) -> VisionLanguageModel | IsolatedVLM:
    """Locate, verify (sha256, when the entry gives one) and load a registered vision-language model.

    isolated : load and run it in a worker process of its own (engine.vlm.isolated), so a crash or a
        hang of llama.cpp stops the model, not the caller; False: in this process
    overrides : VisionLanguageModel's keyword arguments (n_threads, time_budget_s, ...)
    """
    from ..models import verify_sha256

    cfg = config(spec)
    model_path, mmproj_path = locate(spec, weights)
    if verify and spec.sha256:  # without an expected value, hashing gigabytes would check nothing
        verify_sha256(spec, model_path)
    if verify and mmproj_path is not None and cfg.mmproj_sha256:
        verify_sha256(mmproj_spec(spec), mmproj_path)
    kwargs = dict(name=spec.name, chat_handler=cfg.chat_handler, n_ctx=cfg.context(),
                  time_budget_s=cfg.time_budget_s)
    kwargs.update(overrides)
    return (IsolatedVLM if isolated else VisionLanguageModel)(model_path, mmproj_path, config=cfg, **kwargs)


def present_vlm() -> str | None:
    """The smallest registered vision-language model whose files are here and that llama-cpp-python can run, or None.

    Looks only at this machine (hashes nothing, downloads nothing): what `spotdiff demo` uses to
    add a VLM when one is present.
    """
    import importlib.util

    from ..models import availability, list_models

    if importlib.util.find_spec("llama_cpp") is None:
        return None
    present = [s for s in list_models() if s.kind == KIND and availability(s)[0]]
    present.sort(key=lambda s: (s.size_bytes or 0) + (config(s).mmproj_size_bytes or 0))  # the fastest first
    return present[0].name if present else None
