"""A user folder (cache, models, feature library) of a test's own, offline: nothing touches the user's."""

from __future__ import annotations

from pathlib import Path


def use_user_folders(mp, root: Path) -> Path:
    """Point spotdiff's cache, models and data folders into ``root`` with ``mp`` (a pytest MonkeyPatch), offline
    and without a registry override; return ``root``."""
    for name in ("CACHE", "MODELS", "DATA"):
        mp.setenv(f"SPOTDIFF_{name}", str(root / name.lower()))
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.delenv("SPOTDIFF_REGISTRY", raising=False)
    return root
