"""NIfTI volumes (``.nii``, ``.nii.gz``) through nibabel, as 2-D items.

* The volume is reoriented to the closest RAS+ orientation first, so axis 0 gives sagittal,
  axis 1 coronal and axis 2 axial slices whatever order the file stores them in.
* A 4-D (or higher) file — fMRI, diffusion — gives its first volume.
* ``scl_slope``/``scl_inter`` are applied (nibabel does). Intensities: the volume's 0.5th..99.5th
  percentiles map to 0..255, so all slices of one volume share one scale; a maximum-intensity
  projection is scaled by its own percentiles. MRI intensities have no absolute unit, so this is
  the only scale that means the same across scanners; CT in Hounsfield units is scaled the same way.
* Slices are shown with superior (axis 0, 1) or anterior (axis 2) at the top.

Metadata (acquisition facts, never the header's free-text ``descrip``): VoxelSize0..2 (mm, after
reorientation), Shape0..2, DataType.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any, BinaryIO

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError

from ...errors import UnreadableImageError
from .base import Item, ReadOptions
from .arrays import volume_items, volume_picture

FORMAT = "NIfTI"
_DEFAULT_AXIS = 2


def _load(path: Path) -> Any:
    try:
        image = nib.load(str(path))
        if not isinstance(image, (nib.Nifti1Image, nib.Nifti2Image)):
            raise UnreadableImageError(path, f"not a NIfTI volume ({type(image).__name__})")
        return nib.as_closest_canonical(image)
    except (ImageFileError, OSError, EOFError, ValueError) as e:
        raise UnreadableImageError(path, f"not a readable NIfTI file: {' '.join(str(e).split())}") from e


def _volume(image: Any, path: Path) -> np.ndarray:
    """The first 3-D volume, as floats (scaling applied); 2-D images become one-slice volumes."""
    shape = image.shape
    if len(shape) < 2 or min(shape[:3]) == 0:
        raise UnreadableImageError(path, f"a NIfTI image of shape {shape}; expected a 2-D or 3-D volume")
    index = (slice(None),) * min(3, len(shape)) + (0,) * max(0, len(shape) - 3)
    try:
        data = np.asanyarray(image.dataobj[index])
    except (OSError, EOFError, ValueError, zlib.error) as e:
        raise UnreadableImageError(path, f"truncated or corrupt NIfTI data: {' '.join(str(e).split())}") from e
    if data.ndim == 2:
        data = data[:, :, None]
    return data


def _metadata(image: Any) -> tuple[tuple[str, str], ...]:
    zooms = image.header.get_zooms()[:3]
    shape = image.shape[:3]
    out = [("DataType", str(image.get_data_dtype().name))]
    out += [(f"VoxelSize{i}", f"{float(z):.6g}") for i, z in enumerate(zooms)]
    out += [(f"Shape{i}", str(int(n))) for i, n in enumerate(shape)]
    return tuple(sorted(out))


class NiftiReader:
    """NIfTI-1 and NIfTI-2 volumes: middle slice, N evenly spaced slices, or a maximum-intensity
    projection along the chosen axis (:class:`~spotdiff.io.medical.ReadOptions`)."""

    format = FORMAT

    def items(self, fp: BinaryIO, path: Path, options: ReadOptions) -> list[Item]:
        image = _load(path)
        volume = _volume(image, path)
        meta = _metadata(image)
        if volume.shape[2] == 1:  # one slice: a plain 2-D image
            picture = volume_picture(volume, 0, 2, rotate=True, robust=True)
            return [Item(picture.width, picture.height, FORMAT, metadata=meta)]
        out = []
        for frame, axis in volume_items(volume.shape, options):
            rows_cols = np.delete(np.array(volume.shape), axis)  # shown rotated: width = first of these
            out.append(Item(int(rows_cols[0]), int(rows_cols[1]), FORMAT, frame, axis, meta))
        volume_picture(volume, out[0].frame, out[0].axis, rotate=True, robust=True)  # prove the numbers make a picture
        return out

    def decode(self, fp: BinaryIO, path: Path, frame: int | None = None, axis: int | None = None):
        volume = _volume(_load(path), path)
        if volume.shape[2] == 1:
            frame, axis = 0, 2
        elif axis is None:
            frame, axis = volume.shape[_DEFAULT_AXIS] // 2, _DEFAULT_AXIS
        try:
            return volume_picture(volume, frame, axis, rotate=True, robust=True), FORMAT
        except ValueError as e:
            raise UnreadableImageError(path, str(e)) from e
