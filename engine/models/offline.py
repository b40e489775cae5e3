"""No network during a comparison: the Hugging Face libraries are put in offline mode.

spotdiff's own code never opens a connection while comparing; the libraries it loads models
with (huggingface_hub, transformers, open_clip, timm) would, to check for newer files. Inside
:func:`hub_offline` they look in the local cache only. Only ``spotdiff models pull`` goes online.

The switch is process-wide (environment variables and huggingface_hub's module constant, which
it reads at import), counted so that overlapping comparisons nest, and put back as it was when
the last one ends — so a ``models pull`` afterwards in the same process still works.
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY")

_lock = threading.Lock()
_depth = 0
_saved: dict[str, str | None] = {}
_saved_constant: bool | None = None


@contextmanager
def hub_offline() -> Iterator[None]:
    """Within this block the Hugging Face libraries read their caches and never the network."""
    global _depth, _saved_constant
    with _lock:
        if _depth == 0:
            _saved.clear()
            _saved.update({name: os.environ.get(name) for name in OFFLINE_VARIABLES})
            for name in OFFLINE_VARIABLES:
                os.environ[name] = "1"
            constants = sys.modules.get("huggingface_hub.constants")
            _saved_constant = getattr(constants, "HF_HUB_OFFLINE", None) if constants is not None else None
            if constants is not None:
                constants.HF_HUB_OFFLINE = True  # read once at import; later imports see the variable
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for name, value in _saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value
                constants = sys.modules.get("huggingface_hub.constants")
                if constants is not None:
                    # imported during the block: restore what the user's environment says
                    restored = _saved_constant
                    if restored is None:
                        value = (_saved.get("HF_HUB_OFFLINE") or _saved.get("TRANSFORMERS_OFFLINE") or "")
                        restored = value.strip().upper() in {"1", "ON", "YES", "TRUE"}
                    constants.HF_HUB_OFFLINE = restored
