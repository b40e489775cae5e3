"""Where spotdiff's model files and caches lie, and the Hugging Face hub's settings, read at call time.

The lowest module of the models layer: the registry, the memo files, the text towers and downloads
all ask here, so that none of them needs another to find a folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

#: the spotdiff package's folder: model_configs/ and model_weights/ (bundled models) lie in it
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def models_dir() -> Path:
    """``$SPOTDIFF_MODELS``, else the platform's user data folder for spotdiff, plus ``models``."""
    env = os.environ.get("SPOTDIFF_MODELS")
    return Path(env).expanduser() if env else Path(platformdirs.user_data_dir("spotdiff")) / "models"


def bundled_dir() -> Path:
    """The engine package's folder, against which an entry's ``bundled`` path is resolved."""
    return PACKAGE_DIR


def cache_dir() -> Path:
    """``$SPOTDIFF_CACHE``, else the platform's user cache folder for spotdiff (as spotdiff.models.cache uses)."""
    env = os.environ.get("SPOTDIFF_CACHE")
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("spotdiff"))


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, resolved from the environment now, as huggingface_hub does at import."""
    env = os.environ
    home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    cache = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub")
    return Path(os.path.expanduser(os.path.expandvars(cache)))


def hub():
    """The huggingface_hub package, with its constants and errors: imported on first need (~0.3 s), as
    only weights missing from spotdiff's own folders or a download ask the hub's cache."""
    import huggingface_hub.constants, huggingface_hub.errors  # lazy: ~0.3 s, asked on a miss only  # noqa: E401

    return huggingface_hub


def hf_offline() -> bool:
    """Whether the user has forbidden hub traffic (HF_HUB_OFFLINE, now or at import)."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"} or bool(hub().constants.HF_HUB_OFFLINE)


def hub_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a failed hub download raises (what ``models pull`` turns into WeightsDownloadError)."""
    errors = hub().errors
    # HfHubHTTPError's first base is the HTTP client's own error class (httpx or requests by
    # version); connection failures raise that class unwrapped.
    return (OSError, ValueError, errors.EntryNotFoundError, errors.HfHubHTTPError.__bases__[0])
