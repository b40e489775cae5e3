"""Numbers to 8-bit pictures, volumes to slices, and the ``.npy`` and TIFF readers.

How intensities become model input (8 bits per channel)
-------------------------------------------------------
* ``uint8``: as stored. ``bool``: 0 and 255.
* ``uint16``: the type's full range, 0..65535 -> 0..255 (value / 257, rounded), as spotdiff
  reads 16-bit PNG and TIFF files through PIL. Intensities stay comparable between files.
* anything else (signed integers, 32/64-bit integers, floats): the 0.5th and 99.5th percentiles
  of the finite values -> 0..255, clipped; NaN and infinities take the nearest end. Such data have
  no fixed range worth trusting, so each array is scaled by its own; a volume by the whole volume,
  so that its slices share one scale. Percentiles rather than minimum and maximum keep a few hot
  pixels from turning everything else dark.

A constant array maps to 0.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from ...errors import UnreadableImageError
from .base import Item, ReadOptions

LOW_PERCENTILE, HIGH_PERCENTILE = 0.5, 99.5
_PERCENTILE_SAMPLE = 1 << 20  # percentiles of big arrays come from an even subsample of this many values


def robust_range(a: np.ndarray) -> tuple[float, float]:
    """(0.5th, 99.5th) percentiles of the finite values of ``a``; (0, 0) if there are none."""
    flat = np.asarray(a).reshape(-1)
    if flat.size > _PERCENTILE_SAMPLE:
        flat = flat[:: flat.size // _PERCENTILE_SAMPLE]  # deterministic, evenly spread
    flat = flat[np.isfinite(flat)] if flat.dtype.kind == "f" else flat
    if flat.size == 0:
        return 0.0, 0.0
    lo, hi = np.percentile(flat.astype(np.float64), [LOW_PERCENTILE, HIGH_PERCENTILE])
    return float(lo), float(hi)


def window(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map [lo, hi] linearly to 0..255 (uint8), clipping outside; NaN -> 0, +inf -> 255."""
    a = np.asarray(a, dtype=np.float64)
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    out = np.clip((a - lo) * scale, 0.0, 255.0)
    out = np.where(np.isposinf(a) & (scale > 0), 255.0, np.nan_to_num(out, nan=0.0, posinf=255.0, neginf=0.0))
    return np.rint(out).astype(np.uint8)


def to_uint8(a: np.ndarray, intensity_range: tuple[float, float] | None = None) -> np.ndarray:
    """``a`` as uint8 by the rules in the module docstring.

    intensity_range : for the percentile rule, a (lo, hi) computed over a larger whole (a volume)
    """
    a = np.asarray(a)
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if a.dtype == np.uint16 or a.dtype == np.dtype(">u2"):
        return ((a.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if a.dtype.kind not in "iuf":
        raise ValueError(f"unsupported array type {a.dtype}")
    lo, hi = intensity_range if intensity_range is not None else robust_range(a)
    return window(a, lo, hi)


def picture(a: np.ndarray) -> Image.Image:
    """A uint8 array of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) as an "L" or "RGB" image."""
    a = np.ascontiguousarray(a)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[..., :3]  # alpha of scientific data is rarely transparency; drop it
    return Image.fromarray(a, mode="L" if a.ndim == 2 else "RGB")


def is_colour(shape: tuple[int, ...]) -> bool:
    return len(shape) == 3 and shape[2] in (3, 4)


# --- volumes -------------------------------------------------------------------------------


def slice_indices(n: int, count: int) -> list[int]:
    """``count`` evenly spaced indices into ``n`` slices, the ends left out; count 1 = the middle."""
    count = min(count, n)
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, count + 2)[1:-1]})


def volume_items(shape: tuple[int, ...], options: ReadOptions) -> list[tuple[int | None, int]]:
    """(frame, axis) of every item ``options`` asks of a volume of ``shape`` (3 axes first)."""
    axis = options.axis
    if options.volume == "mip":
        return [(None, axis)]
    count = 1 if options.volume == "middle" else options.n_slices
    return [(i, axis) for i in slice_indices(shape[axis], count)]


def volume_plane(volume: np.ndarray, frame: int | None, axis: int) -> np.ndarray:
    """Slice ``frame`` along ``axis`` of a 3-D array, or its maximum along ``axis`` when frame is None."""
    if not 0 <= axis < volume.ndim:
        raise ValueError(f"the volume has no axis {axis} (shape {volume.shape})")
    if frame is None:
        return np.nanmax(volume, axis=axis) if volume.dtype.kind == "f" else volume.max(axis=axis)
    if not 0 <= frame < volume.shape[axis]:
        raise ValueError(f"slice index {frame} is outside axis {axis} of {volume.shape[axis]} slices")
    return np.take(volume, frame, axis=axis)


def volume_picture(volume: np.ndarray, frame: int | None, axis: int, *, rotate: bool,
                   robust: bool = False) -> Image.Image:
    """One item of a volume as a picture. Types the percentile rule applies to (or every type, with
    ``robust``) are scaled by the whole volume's percentiles; a projection by its own."""
    plane = volume_plane(volume, frame, axis)
    fixed_range = volume.dtype.kind == "b" or volume.dtype.kind == "u" and volume.dtype.itemsize <= 2
    if robust or not fixed_range:
        out = window(plane, *robust_range(plane if frame is None else volume))
    else:
        out = to_uint8(plane)
    return picture(np.rot90(out) if rotate else out)


# --- .npy ----------------------------------------------------------------------------------


def _load_npy(fp: BinaryIO, path: Path) -> np.ndarray:
    fp.seek(0)
    try:
        # allow_pickle=False: an object array would run code from the file; refuse it
        a = np.load(fp, allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e):
            reason = "a .npy file of Python objects (pickled); only numeric arrays are read"
            raise UnreadableImageError(path, reason) from e
        raise UnreadableImageError(path, f"not a readable .npy array: {e}") from e
    except (OSError, EOFError) as e:
        raise UnreadableImageError(path, f"truncated or corrupt .npy file: {e}") from e
    if a.dtype.kind not in "biuf":
        raise UnreadableImageError(path, f"a .npy array of type {a.dtype}; expected numbers")
    if a.ndim not in (2, 3) or min(a.shape) == 0:
        raise UnreadableImageError(path, f"a .npy array of shape {a.shape}; expected 2-D, (H, W, 3|4) or a 3-D volume")
    return a


class NpyReader:
    """``.npy`` arrays (never pickles). Shape (H, W) is a grey image, (H, W, 3|4) a colour one
    (alpha dropped), any other 3-D shape a volume sliced like NIfTI but without reorientation.
    Intensities follow the module docstring's rules."""

    format = "NPY"

    def items(self, fp: BinaryIO, path: Path, options: ReadOptions) -> list[Item]:
        a = _load_npy(fp, path)
        meta = (("DataType", str(a.dtype.name)),)
        if a.ndim == 2 or is_colour(a.shape):
            return [Item(a.shape[1], a.shape[0], self.format, metadata=meta)]
        out = []
        for frame, axis in volume_items(a.shape, options):
            h, w = np.delete(np.array(a.shape), axis)
            out.append(Item(int(w), int(h), self.format, frame, axis, meta))
        return out

    def decode(self, fp: BinaryIO, path: Path, frame: int | None = None, axis: int | None = None):
        a = _load_npy(fp, path)
        if a.ndim == 2 or is_colour(a.shape):
            return picture(to_uint8(a)), self.format
        if axis is None:
            frame, axis = a.shape[2] // 2, 2
        try:
            return volume_picture(a, frame, axis, rotate=False), self.format
        except ValueError as e:
            raise UnreadableImageError(path, str(e)) from e


# --- TIFF that PIL cannot read -------------------------------------------------------------


def decode_tiff(fp: BinaryIO, path: Path) -> Image.Image:
    """A TIFF through tifffile (16-bit colour, float colour, odd compressions): its first page,
    intensities by the module docstring's rules. Stacks are not split into items."""
    try:
        import tifffile  # lazy: ~0.1 s; only TIFFs that PIL cannot read need it
    except ImportError as e:
        raise UnreadableImageError(path, "a TIFF that needs the tifffile package (pip install tifffile)") from e
    fp.seek(0)
    try:
        with tifffile.TiffFile(io.BytesIO(fp.read())) as tif:
            a = tif.pages[0].asarray()
    except (tifffile.TiffFileError, ValueError, OSError, IndexError, KeyError) as e:
        raise UnreadableImageError(path, f"truncated or corrupt TIFF: {e}") from e
    except NotImplementedError as e:  # a compression tifffile cannot decode without imagecodecs
        raise UnreadableImageError(path, f"TIFF compression not supported here ({e}); pip install imagecodecs") from e
    a = np.squeeze(a)
    if a.ndim == 3 and not is_colour(a.shape) and a.shape[0] in (3, 4):
        a = np.moveaxis(a, 0, -1)  # planar RGB
    if not (a.ndim == 2 or is_colour(a.shape)) or a.dtype.kind not in "biuf":
        raise UnreadableImageError(path, f"a TIFF page of shape {a.shape} and type {a.dtype}; "
                                         "expected a 2-D grey or colour image of numbers")
    return picture(to_uint8(a))
