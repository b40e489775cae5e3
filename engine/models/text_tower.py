"""CLIP models whose text tower is a Hugging Face transformer (BiomedCLIP's PubMedBERT), offline.

open_clip builds such a tower with transformers, from the hub names in the model folder's
``open_clip_config.json`` (``text_cfg.hf_model_name``, ``hf_tokenizer_name``). It needs that
transformer's ``config.json`` and tokenizer files — never its weights, which the CLIP checkpoint
holds; tokenizer files in the model folder itself (BiomedCLIP ships them) are used first, as
open_clip does for a local folder. spotdiff looks the names up in the Hugging Face cache itself (its
folder read from the environment now, not when huggingface_hub was imported) and hands open_clip
the local folders, so nothing is looked up online; ``spotdiff models pull`` fetches the files.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ModelLoadError, WeightsDownloadError, WeightsNotFoundError
from .paths import hf_cache_dir, hub, hub_errors

HF_NAME_KEYS = ("hf_model_name", "hf_tokenizer_name")
FILES = ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
         "vocab.json", "merges.txt", "*.model"]
"""What a text tower needs from its hub repo: configuration and tokenizer, no weights."""

_PREPROCESS_OVERRIDES = {"mean": "image_mean", "std": "image_std", "interpolation": "image_interpolation",
                         "resize_mode": "image_resize_mode"}


def _config(folder: Path, model: str) -> dict:
    path = Path(folder) / "open_clip_config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        config["model_cfg"]["text_cfg"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelLoadError(model, path, f"not an open_clip config with model_cfg.text_cfg ({e})") from e
    return config


def _has_tokenizer(folder: Path) -> bool:
    return any((Path(folder) / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"))


def hub_names(folder: Path, model: str) -> list[str]:
    """The hub repos the folder's text tower needs files of (none for open_clip's own text tower)."""
    text = _config(folder, model)["model_cfg"]["text_cfg"]
    keys = [k for k in HF_NAME_KEYS if not (k == "hf_tokenizer_name" and _has_tokenizer(folder))]
    names = [text[k] for k in keys if isinstance(text.get(k), str) and text[k]]
    return list(dict.fromkeys(n for n in names if not Path(n).is_dir()))


def _snapshot(repo: str, model: str) -> Path:
    huggingface_hub = hub()

    cache = hf_cache_dir()
    try:
        folder = Path(huggingface_hub.snapshot_download(repo, cache_dir=cache, local_files_only=True,
                                                        allow_patterns=FILES))
    except (huggingface_hub.errors.LocalEntryNotFoundError, OSError, ValueError):
        folder = None
    if folder is None or not (folder / "config.json").is_file():
        raise WeightsNotFoundError(
            model, f"config.json and the tokenizer files of {repo}",
            [cache / ("models--" + repo.replace("/", "--"))],
            f"Its text tower is the transformer {repo}; run 'spotdiff models pull {model}', which fetches them too.")
    return folder


def missing(folder: Path, model: str) -> list[str]:
    """The hub repos of the folder's text tower whose files are not in the cache."""
    out = []
    for name in hub_names(folder, model):
        try:
            _snapshot(name, model)
        except WeightsNotFoundError:
            out.append(name)
    return out


def local_config(folder: Path, model: str) -> dict | None:
    """The folder's open_clip config with its Hugging Face text tower pointed at local folders, and
    ``preprocess_overrides`` (open_clip's keyword arguments) from its preprocess_cfg; None when its
    text tower is open_clip's own. Raises ModelLoadError without transformers, WeightsNotFoundError
    when the tower's files are not in the cache."""
    text = _config(folder, model)["model_cfg"]["text_cfg"]
    if not any(isinstance(text.get(k), str) and text[k] for k in HF_NAME_KEYS):
        return None
    names = hub_names(folder, model)
    try:
        import transformers  # lazy: only BiomedCLIP-like text towers need it; fail here, with the fix  # noqa: F401
    except ImportError as e:
        raise ModelLoadError(model, folder, "its text tower is a Hugging Face transformer, which needs the "
                                            "'transformers' package: pip install 'spotdiff[medical]'") from e
    local = {name: str(_snapshot(name, model)) for name in names}
    config = _config(folder, model)
    text = config["model_cfg"]["text_cfg"]
    if text.get("hf_tokenizer_name") and _has_tokenizer(folder):
        text["hf_tokenizer_name"] = str(folder)
    for key in HF_NAME_KEYS:
        if text.get(key) in local:
            text[key] = local[text[key]]
    preprocess = config.get("preprocess_cfg") or {}
    config["preprocess_overrides"] = {arg: preprocess[key] for key, arg in _PREPROCESS_OVERRIDES.items()
                                      if preprocess.get(key) is not None}
    return config


def fetch(folder: Path, model: str) -> list[Path]:
    """Download what the folder's Hugging Face text tower needs and the cache lacks (``models pull`` only)."""
    huggingface_hub = hub()
    out = []
    for repo in missing(folder, model):
        try:
            out.append(Path(huggingface_hub.snapshot_download(repo, cache_dir=hf_cache_dir(), allow_patterns=FILES)))
        except hub_errors() as e:
            raise WeightsDownloadError(model, repo, f"{type(e).__name__}: {e}",
                                       "Check the internet connection and try again.") from e
    return out
