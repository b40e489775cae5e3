"""Medical and scientific image files: DICOM, NIfTI, 16-bit and float TIFF, NumPy arrays.

One file may hold several 2-D images — the frames of a multi-frame DICOM, the slices of a
volume. Each one the user asks for (:class:`ReadOptions`) becomes its own
:class:`~spotdiff.io.images.ImageRecord`, whose ``frame`` and ``axis`` say which it is:

=====================  =========  ========  ==========================================
item                   frame      axis      cache key suffix (after the file's sha256)
=====================  =========  ========  ==========================================
a plain 2-D image      None       None      (none)
frame i of a DICOM     i          None      ``#f<i>``
slice i of a volume    i          k         ``#a<k>s<i>``
projection of volume   None       k         ``#a<k>mip`` (maximum intensity along k)
=====================  =========  ========  ==========================================

Indices start at 0. How each format's numbers become 8-bit model input is written down in
docs/medical.md and in each reader's docstring. Nothing here imports pydicom, nibabel or
tifffile until a file of theirs is read, so ``import engine`` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from .arrays import NpyReader
from .base import (FRAME_MODES, VOLUME_MODES, ReadOptions, Item, item_key, item_label, Reader, suffix, SUFFIXES, has_dicom_preamble, might_be_dicom)

__all__ = ["FRAME_MODES", "VOLUME_MODES", "ReadOptions", "Item", "item_key", "item_label", "Reader", "suffix", "SUFFIXES", "has_dicom_preamble", "might_be_dicom", "reader_for"]


def reader_for(path: Path, fp: BinaryIO) -> Reader | None:
    """The reader for ``path``, or None when it is an ordinary image for PIL."""
    ext = suffix(path)
    if ext in (".dcm", ".dicom") or (ext not in _PIL_SUFFIXES and has_dicom_preamble(fp)):
        from .dicom import DicomReader  # lazy: pydicom loads only when a DICOM file is read

        return DicomReader()
    if ext in (".nii", ".nii.gz"):
        from .nifti import NiftiReader  # lazy: nibabel loads only when a NIfTI file is read

        return NiftiReader()
    if ext == ".npy":
        return NpyReader()
    return None


_PIL_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif"})
