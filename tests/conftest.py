import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Every test gets its own cache and models folders; nothing touches the user's."""
    root = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("SPOTDIFF_CACHE", str(root / "cache"))
    monkeypatch.setenv("SPOTDIFF_MODELS", str(root / "models"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    os.environ.pop("SPOTDIFF_REGISTRY", None)
    yield
