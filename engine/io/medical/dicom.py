"""DICOM files through pydicom: pixels to 8-bit model input, acquisition tags to metadata.

How stored values become an 8-bit picture (DICOM PS3.3 C.11, in the standard's order)
-------------------------------------------------------------------------------------
1. **Decode** the frame (pydicom; compressed transfer syntaxes need one of pydicom's optional
   decoders — pylibjpeg, gdcm, pyjpegls — and a file whose decoder is missing is skipped with a
   reason naming the packages that would read it). YBR colour becomes RGB.
2. **Modality LUT**: ``value * RescaleSlope + RescaleIntercept`` (CT: Hounsfield units), or the
   Modality LUT Sequence. Enhanced multi-frame files: per-frame, else shared, functional groups.
3. **VOI**: the file's first window (WindowCenter / WindowWidth, with VOILUTFunction LINEAR,
   LINEAR_EXACT or SIGMOID) maps to 0..255; else its VOI LUT Sequence; else — no display window
   stored — the frame's 0.5th..99.5th percentiles map to 0..255 (a robust auto-window). This is how
   12- and 16-bit data become 8 bits: through the window the scanner or the archive chose, which
   is also what a radiologist's viewer shows first.
4. **MONOCHROME1** (0 = white, common for X-ray and mammography) is inverted, so bright always
   means more signal.
5. Colour: PALETTE COLOR through its lookup table; RGB with more than 8 bits per sample is scaled
   by its BitsStored range.

Patient data: only :func:`spotdiff.io.medical.tags.acquisition_tags` copies values out of the header,
and only allowed keywords. pydicom's warnings and log records about malformed values (which quote
them) are silenced; a header that cannot be parsed is reported by the kind of error only.
"""

from __future__ import annotations

import logging
import struct
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import numpy as np
import pydicom
from PIL import Image
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi, get_decoder, pixel_array

from ...errors import UnreadableImageError
from .base import Item, ReadOptions, has_dicom_preamble, suffix
from .arrays import picture, robust_range, window
from .tags import acquisition_tags

FORMAT = "DICOM"
_PARSE_ERRORS = (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError, IndexError,
                 NotImplementedError, struct.error)


@contextmanager
def _quiet() -> Iterator[None]:
    """pydicom warns about (and logs) odd header values, quoting them; patient data must not reach a log."""
    logger = logging.getLogger("pydicom")
    was_disabled = logger.disabled
    logger.disabled = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.disabled = was_disabled


def read_dataset(fp: BinaryIO, path: Path) -> Any:
    """The whole dataset (header and pixel data) of a DICOM file; UnreadableImageError if it is not one."""
    forced = suffix(path) in (".dcm", ".dicom") and not has_dicom_preamble(fp)  # old files lack the marker
    fp.seek(0)
    try:
        with _quiet():
            ds = pydicom.dcmread(fp, force=forced)
    except InvalidDicomError as e:
        raise UnreadableImageError(path, "not a DICOM file (no 'DICM' marker and no readable header)") from e
    except _PARSE_ERRORS as e:
        # the exception text may quote header bytes; name only its kind
        raise UnreadableImageError(path, f"truncated or corrupt DICOM header ({type(e).__name__})") from e
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        if forced:  # read by force, anything parses as some dataset
            raise UnreadableImageError(path, "not a DICOM file (no 'DICM' marker and no image in it)")
        raise UnreadableImageError(path, "a DICOM file without pixel data (a report, plan or other non-image object)")
    if "Rows" not in ds or "Columns" not in ds:
        raise UnreadableImageError(path, "a DICOM image without Rows and Columns")
    return ds


def n_frames(ds: Any) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


def _check_decoder(ds: Any, path: Path) -> None:
    uid = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if uid is None or not uid.is_compressed:
        return
    try:
        decoder = get_decoder(uid)
    except NotImplementedError as e:
        raise UnreadableImageError(path, f"compressed DICOM ({uid.name}) that pydicom cannot decode") from e
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies) or "a decoder plugin"
        raise UnreadableImageError(
            path, f"compressed DICOM ({uid.name}) and no decoder for it is installed; any one of these "
                  f"would read it: {missing}")


def _frame_attribute(ds: Any, frame: int | None, sequence: str, keyword: str) -> Any:
    """``keyword`` from the top level, else the frame's own functional group, else the shared one."""
    if keyword in ds:
        return ds.get(keyword)
    groups = []
    if frame is not None and "PerFrameFunctionalGroupsSequence" in ds:
        per_frame = ds.PerFrameFunctionalGroupsSequence
        if frame < len(per_frame):
            groups.append(per_frame[frame])
    if "SharedFunctionalGroupsSequence" in ds and len(ds.SharedFunctionalGroupsSequence):
        groups.append(ds.SharedFunctionalGroupsSequence[0])
    for group in groups:
        items = group.get(sequence)
        if items and keyword in items[0]:
            return items[0].get(keyword)
    return None


def _first(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        value = value[0] if len(value) else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def modality_values(arr: np.ndarray, ds: Any, frame: int | None) -> np.ndarray:
    """Stored values through the Modality LUT (rescale slope and intercept, or the LUT sequence)."""
    if "ModalityLUTSequence" in ds:
        return np.asarray(apply_modality_lut(arr, ds), dtype=np.float64)
    slope = _first(_frame_attribute(ds, frame, "PixelValueTransformationSequence", "RescaleSlope"))
    intercept = _first(_frame_attribute(ds, frame, "PixelValueTransformationSequence", "RescaleIntercept"))
    out = arr.astype(np.float64)
    if slope is not None and slope != 0:
        out = out * slope
    if intercept is not None:
        out = out + intercept
    return out


def voi_window(values: np.ndarray, ds: Any, frame: int | None) -> np.ndarray | None:
    """Values through the file's first VOI window, in [0, 1]; None when the file stores none."""
    center = _first(_frame_attribute(ds, frame, "FrameVOILUTSequence", "WindowCenter"))
    width = _first(_frame_attribute(ds, frame, "FrameVOILUTSequence", "WindowWidth"))
    function = str(_frame_attribute(ds, frame, "FrameVOILUTSequence", "VOILUTFunction") or "LINEAR").upper()
    if center is None or width is None:
        return None
    if function == "SIGMOID" and width > 0:
        return 1.0 / (1.0 + np.exp(np.clip(-4.0 * (values - center) / width, -50, 50)))
    if function == "LINEAR_EXACT" and width > 0:
        return np.clip((values - center) / width + 0.5, 0.0, 1.0)
    if width >= 1:  # LINEAR (PS3.3 C.11.2.1.2.1)
        return np.clip((values - (center - 0.5)) / max(width - 1.0, 1e-12) + 0.5, 0.0, 1.0)
    return None  # a window the standard does not allow: fall back to the auto-window


def _voi_lut(values: np.ndarray, ds: Any) -> np.ndarray | None:
    if "VOILUTSequence" not in ds or not len(ds.VOILUTSequence):
        return None
    bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
    out = apply_voi(values.astype(np.int64) if np.all(values == np.round(values)) else values, ds, index=0)
    return np.clip(np.asarray(out, dtype=np.float64) / (2.0 ** bits - 1.0), 0.0, 1.0)


def render(ds: Any, path: Path, frame: int | None) -> Image.Image:
    """One frame of ``ds`` as an 8-bit "L" or "RGB" picture (module docstring, steps 1-5)."""
    _check_decoder(ds, path)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    try:
        with _quiet():
            arr = pixel_array(ds, index=frame) if n_frames(ds) > 1 else pixel_array(ds)
            if photometric == "PALETTE COLOR":
                arr = apply_color_lut(arr, ds)
    except (*_PARSE_ERRORS, RuntimeError) as e:
        reason = f"cannot decode the DICOM pixel data: {' '.join(str(e).split())}"
        uid = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        if uid is not None and uid.is_compressed:
            reason += f" ({uid.name}; another decoder may read it: pip install pylibjpeg pylibjpeg-libjpeg " \
                      "pylibjpeg-openjpeg, or python-gdcm)"
        raise UnreadableImageError(path, reason) from e
    if arr.ndim == 3 and arr.shape[2] in (3, 4):  # colour
        if arr.dtype != np.uint8:
            bits = 16 if photometric == "PALETTE COLOR" else int(ds.get("BitsStored", 8 * arr.dtype.itemsize))
            arr = window(arr, 0, 2.0 ** bits - 1)
        return picture(arr)
    if arr.ndim != 2:
        raise UnreadableImageError(path, f"DICOM pixel data of shape {arr.shape}; expected one 2-D frame")
    values = modality_values(arr, ds, frame)
    shown = voi_window(values, ds, frame)
    if shown is None:
        shown = _voi_lut(values, ds)
    if shown is None:
        out = window(values, *robust_range(values))
    else:
        out = np.rint(shown * 255.0).astype(np.uint8)
    if photometric == "MONOCHROME1":
        out = 255 - out
    return picture(out)


class DicomReader:
    """DICOM files (``.dcm``, ``.dicom``, or any file with the 'DICM' marker).

    A multi-frame file gives its middle frame (``frames="middle"``) or every frame
    (``frames="all"``), each its own item. Metadata: :func:`spotdiff.io.medical.tags.acquisition_tags`.
    """

    format = FORMAT

    def items(self, fp: BinaryIO, path: Path, options: ReadOptions) -> list[Item]:
        with _quiet():
            return self._items(fp, path, options)

    def _items(self, fp: BinaryIO, path: Path, options: ReadOptions) -> list[Item]:
        ds = read_dataset(fp, path)
        count = n_frames(ds)
        if count == 1:
            frames: list[int | None] = [None]
        else:
            frames = [count // 2] if options.frames == "middle" else list(range(count))
        # Prove the file decodes; with every frame wanted also the last, which truncation hits first.
        for frame in dict.fromkeys([frames[len(frames) // 2], frames[-1]]):
            render(ds, path, frame)
        meta = acquisition_tags(ds)
        width, height = int(ds.Columns), int(ds.Rows)
        return [Item(width, height, FORMAT, frame, None, meta) for frame in frames]

    def decode(self, fp: BinaryIO, path: Path, frame: int | None = None, axis: int | None = None):
        with _quiet():
            return self._decode(fp, path, frame)

    def _decode(self, fp: BinaryIO, path: Path, frame: int | None):
        ds = read_dataset(fp, path)
        count = n_frames(ds)
        if frame is None and count > 1:
            frame = count // 2
        if frame is not None and not 0 <= frame < count:
            raise UnreadableImageError(path, f"frame index {frame} is outside the file's {count} frames")
        return render(ds, path, frame), FORMAT
