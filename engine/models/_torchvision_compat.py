"""Import open_clip safely beside a CPU build of torch.

PyPI ships torchvision only as a CUDA build. Beside the CPU build of torch that
spotdiff pins, its compiled extension cannot load and ``import torchvision``
fails with ``operator torchvision::nms does not exist`` (pytorch/vision#9085).
open_clip needs only torchvision's transforms, never its detection ops, so when
the extension is missing we declare the two operator schemas that torchvision's
Python code registers fake kernels for. Where the extension loads, nothing is
changed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

_LIBRARY = None  # keeps the fragment alive for the life of the process


def _load_torchvision_extension() -> bool:
    """Try to load torchvision's compiled ops the way torchvision itself would."""
    spec = importlib.util.find_spec("torchvision")
    for folder in spec.submodule_search_locations or ():
        for library_path in Path(folder).glob("_C*.so"):
            try:
                torch.ops.load_library(str(library_path))
            except (OSError, RuntimeError):
                return False
            return True
    return False


def ensure_torchvision_importable() -> None:
    """Declare torchvision's detection op schemas if its extension cannot provide them."""
    global _LIBRARY
    if _LIBRARY is not None or importlib.util.find_spec("torchvision") is None:
        return
    if _load_torchvision_extension():
        return
    library = torch.library.Library("torchvision", "FRAGMENT")
    for op in ("nms", "qnms"):
        library.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIBRARY = library


def import_open_clip():
    """Return the ``open_clip`` module, importing it once with the compat fix applied."""
    ensure_torchvision_importable()
    import open_clip  # lazy: after the fix above, and only when a CLIP model is opened

    return open_clip
