"""Downloading model weights: ``spotdiff models pull``, the only network access spotdiff makes.

Weights go into the Hugging Face cache and are checked against the registry's sha256, else the
hub's own LFS sha256; a comparison never downloads (spotdiff.models.offline).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import WeightsDownloadError, WeightsIntegrityError, WeightsNotFoundError
from . import text_tower
from .paths import hub, hub_errors
from .vlm.config import mmproj_spec
from .registry import (SHA256_PATTERN, ModelSpec, file_sha256, hf_cache_dir, hf_offline, locate_weights,
                     models_dir, verify_sha256, weights_file)
from ..progress import Progress, Work


def pull(spec: ModelSpec) -> Work[Path]:
    """Download the weights of ``spec`` into the Hugging Face cache; return what locate_weights would.

    Weights already here are checked and returned without network access. A download is checked
    against the registry's sha256, else the hub's LFS sha256. WeightsDownloadError if the hub fails.
    """
    huggingface_hub = hub()
    if spec.kind == "vlm":  # two files: the image projector first, then the language model

        if (projector := mmproj_spec(spec)) is not None:
            yield from pull(projector)
    yield Progress("pull", 0, 0, f"Looking for {spec.name} on this machine")
    try:
        present = locate_weights(spec)
    except WeightsNotFoundError:
        present = None
    home = models_dir() / spec.name
    if present is not None:
        verify_sha256(spec, present)
        yield from _pull_text_tower(spec, present)
        yield Progress("pull", 1, 1, f"{spec.name} is already at {present}")
        return present
    if not spec.hf_hub:
        raise WeightsDownloadError(spec.name, "(none)", "its registry entry names no 'hf_hub' repo",
                                   f"Put {spec.filename} in {home} by hand.")
    by_hand = f"Or download {spec.filename} from https://huggingface.co/{spec.hf_hub} and put it in {home}."
    if hf_offline():
        raise WeightsDownloadError(spec.name, spec.hf_hub, "offline mode is on (HF_HUB_OFFLINE is set)",
                                   f"Unset HF_HUB_OFFLINE and try again. {by_hand}")
    try:
        meta = huggingface_hub.get_hf_file_metadata(huggingface_hub.hf_hub_url(spec.hf_hub, spec.filename))
        size = meta.size or spec.size_bytes or 0
        yield Progress("pull", 0, size, f"Downloading {spec.filename} ({size / 1e6:,.0f} MB) from {spec.hf_hub}")
        if spec.layout == "local-dir":
            # the weights, open_clip's config and any tokenizer files; not the repo's other weights
            got = huggingface_hub.snapshot_download(
                spec.hf_hub, cache_dir=hf_cache_dir(), allow_patterns=[spec.filename, "*.json", "*.txt", "*.model"])
        else:
            got = huggingface_hub.hf_hub_download(spec.hf_hub, spec.filename, cache_dir=hf_cache_dir())
    except hub_errors() as e:
        raise WeightsDownloadError(spec.name, spec.hf_hub, f"{type(e).__name__}: {e}",
                                   f"Check the internet connection and try again. {by_hand}") from e
    path, file = Path(got), weights_file(spec, Path(got))
    yield Progress("pull", size, size, f"Checking the sha256 of {spec.filename}")
    expected = spec.sha256 or (meta.etag if meta.etag and SHA256_PATTERN.fullmatch(meta.etag) else None)
    if expected and (found := file_sha256(file)) != expected:
        raise WeightsIntegrityError(spec.name, file, expected, found)
    yield from _pull_text_tower(spec, path)
    yield Progress("pull", size, size, f"{spec.name} is ready at {path}")
    return path


def _pull_text_tower(spec: ModelSpec, located: Path) -> Work[None]:
    """A local-dir model whose text tower is a Hugging Face transformer (BiomedCLIP) also needs that
    transformer's config and tokenizer files from their own repo (spotdiff.models.text_tower)."""
    if spec.kind != "open_clip" or spec.layout != "local-dir":
        return
    repos = text_tower.missing(located, spec.name)
    if not repos:
        return
    if hf_offline():
        raise WeightsDownloadError(spec.name, repos[0], "offline mode is on (HF_HUB_OFFLINE is set)",
                                   f"Unset HF_HUB_OFFLINE and try again; its text tower needs {', '.join(repos)}.")
    yield Progress("pull", 0, 0, f"Fetching the configuration and tokenizer of {', '.join(repos)}")
    text_tower.fetch(located, spec.name)
