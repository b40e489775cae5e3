"""Decode one image file, or one frame or slice of a multi-image file, to 8-bit RGB; every way it can fail
becomes an UnreadableImageError with a short reason. Files are only ever read."""

from __future__ import annotations

import io
import os
import re
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Protocol

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from . import medical
from .medical.arrays import decode_tiff
from ..errors import UnreadableImageError


class ImageRef(Protocol):
    """What names one image of a file (a frame or slice of a multi-item file): an ImageRecord is one."""

    path: Path
    frame: int | None
    axis: int | None


@dataclass(frozen=True)
class Decoded:
    """What a decoder returns.

    image : fully loaded, EXIF orientation applied, any PIL mode (made RGB by the caller)
    format : decoder name ("JPEG", "PNG", ...)
    size : (width, height) of the full-resolution image after orientation, even when
           ``image`` was decoded smaller
    """

    image: Image.Image
    format: str
    size: tuple[int, int]


Decoder = Callable[[BinaryIO, "int | None"], Decoded]  # (file, max_side hint) -> Decoded

# Formats PIL may identify. An allow-list, not everything PIL can open: EPS would run
# Ghostscript on whatever a file claims to be, and weakly-signed formats (TGA) make text
# files look like images.
_PIL_FORMATS = ("JPEG", "PNG", "TIFF", "BMP", "WEBP", "GIF")

_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})  # EXIF: transpose, rotate 90/270, transverse


def _decode_with_pil(fp: BinaryIO, max_side: int | None) -> Decoded:
    im = Image.open(fp, formats=_PIL_FORMATS)
    full_w, full_h = im.size
    limit = Image.MAX_IMAGE_PIXELS
    if limit and full_w * full_h > limit:
        # PIL only warns up to twice its limit; the warning filter in _decode turns that into
        # an error too, but warning filters are process-wide and another thread may reset them.
        raise Image.DecompressionBombError(f"Image size ({full_w * full_h} pixels) exceeds limit")
    if max_side:
        # Only JPEG implements draft (DCT scaling, 1/2 to 1/8); it keeps both sides >= max_side.
        # For every other format this is a no-op.
        im.draft("RGB", (max_side, max_side))
    fmt = im.format or "unknown"
    orientation = im.getexif().get(ExifTags.Base.Orientation, 1)
    im.load()
    ImageOps.exif_transpose(im, in_place=True)
    size = (full_h, full_w) if orientation in _SWAPPING_ORIENTATIONS else (full_w, full_h)
    return Decoded(im, fmt, size)


def _decode_tiff(fp: BinaryIO, max_side: int | None) -> Decoded:
    """PIL first (8/16-bit grey, 8-bit colour, float grey); tifffile for what PIL cannot read
    (16-bit or float colour, planar data, other compressions), by spotdiff.io.medical.arrays' rules."""
    try:
        return _decode_with_pil(fp, max_side)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, struct.error) as e:
        try:
            image = decode_tiff(fp, Path(getattr(fp, "name", "")))
        except UnreadableImageError:
            raise e from None  # tifffile cannot either: PIL's reason is the one to report
        return Decoded(image, "TIFF", image.size)


def _item_decoder(reader: medical.Reader, path: Path, frame: int | None = None, axis: int | None = None) -> Decoder:
    """A Decoder for one item of a file an spotdiff.io.medical reader reads (frame/axis None: its default)."""

    def decode_item(fp: BinaryIO, max_side: int | None) -> Decoded:
        image, fmt = reader.decode(fp, path, frame, axis)
        return Decoded(image, fmt, image.size)

    return decode_item


def _medical_decoder(fp: BinaryIO, max_side: int | None) -> Decoded:
    path = Path(getattr(fp, "name", ""))
    reader = medical.reader_for(path, fp)
    if reader is None:
        raise UnidentifiedImageError(f"no reader for {path.name!r}")
    return _item_decoder(reader, path)(fp, max_side)


# Suffix -> decoder. To support a new format (HEIC, camera RAW, ...) add its suffixes here with
# a Decoder; folder scans pick up exactly these suffixes. Files the user names one by one are
# tried whatever their suffix, with the PIL decoder when the suffix is unknown. Files holding
# several 2-D images (DICOM, NIfTI, .npy) are read by spotdiff.io.medical's readers, item by item;
# a DICOM file is also recognised without a suffix, by its 'DICM' marker.
_DECODERS: dict[str, Decoder] = {
    suffix: _decode_with_pil
    for suffix in (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif")
}
_DECODERS.update({".tif": _decode_tiff, ".tiff": _decode_tiff})
_DECODERS.update({suffix: _medical_decoder for suffix in sorted(medical.SUFFIXES)})

IMAGE_SUFFIXES: frozenset[str] = frozenset(_DECODERS)
"""Lowercase suffixes (with the dot) treated as images when walking a folder."""


def _stretched_to_8bit(a: np.ndarray) -> Image.Image:
    """Map the finite range of ``a`` linearly to [0, 255]; a constant image maps to 0."""
    a = a.astype(np.float32)
    finite = a[np.isfinite(a)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    a = np.nan_to_num(a, nan=lo, posinf=hi, neginf=lo)
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    return Image.fromarray(np.rint((a - lo) * scale).astype(np.uint8))


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB; transparency is composited onto white."""
    mode = im.mode
    if mode == "RGB" and "transparency" not in im.info:
        return im
    if mode.startswith("I;16"):
        # 16-bit samples: the type's full range maps to 8 bits (65535 / 257 = 255), rounded.
        a = (np.asarray(im).astype(np.uint32) + 128) // 257
        im = Image.fromarray(a.astype(np.uint8))
    elif mode in ("I", "F"):
        # 32-bit integer or float: no fixed range worth trusting, so use the image's own.
        im = _stretched_to_8bit(np.asarray(im))
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info:
        # P with a transparency index must go through RGBA (PIL warns on P -> RGB).
        rgba = im.convert("RGBA")
        out = Image.new("RGB", rgba.size, (255, 255, 255))
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    return im.convert("RGB")  # L, 1, P, CMYK, YCbCr; ValueError for modes PIL cannot convert


def _bomb_reason(error: Exception) -> str:
    match = re.search(r"(\d+) pixels", str(error))
    limit = Image.MAX_IMAGE_PIXELS
    if match is None or not limit:
        return f"decompression bomb: {error}"
    return f"decompression bomb: {int(match.group(1)):,} pixels exceeds the limit of {limit:,}"


def decode(fp: BinaryIO, path: Path, max_side: int | None, frame: int | None = None,
            axis: int | None = None) -> Decoded:
    """Decode an open file (item ``frame``/``axis`` of it) to RGB; every way it can fail becomes
    UnreadableImageError."""
    if os.fstat(fp.fileno()).st_size == 0:
        raise UnreadableImageError(path, "empty file (0 bytes)")
    reader = medical.reader_for(path, fp)
    if reader is not None:
        decoder = _item_decoder(reader, path, frame, axis)
    else:
        decoder = _DECODERS.get(medical.suffix(path), _decode_with_pil)
    try:
        with warnings.catch_warnings():
            # PIL warns (instead of raising) between 1x and 2x its pixel limit; skip those too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            decoded = decoder(fp, max_side)
    except UnidentifiedImageError as e:
        raise UnreadableImageError(path, "not an image file (unrecognised format)") from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UnreadableImageError(path, _bomb_reason(e)) from e
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as e:
        raise UnreadableImageError(path, f"truncated or corrupt image data: {e}") from e
    try:
        rgb = _to_rgb(decoded.image)
    except ValueError as e:
        raise UnreadableImageError(path, f"unsupported pixel format {decoded.image.mode!r}") from e
    return Decoded(rgb, decoded.format, decoded.size)


def open_readonly(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as e:
        raise UnreadableImageError(path, f"cannot open file: {e.strerror or e}") from e


def open_image(image: Path | str | ImageRef, *, max_side: int | None = None) -> Image.Image:
    """Decode a file, or the item a record names, to a fully loaded 8-bit RGB image with its EXIF
    orientation applied.

    image : a path, or an ImageRecord (which names one frame or slice of a multi-item file; a
        bare path to such a file gives its default item: the middle frame or middle axial slice); a record with
        a ``stored_copy`` is read from that copy

    Grey, palette, 16- and 32-bit, float and CMYK images are converted; transparency is
    composited onto white; of an animation, the first frame is used. DICOM, NIfTI and .npy
    files are converted as spotdiff.io.medical documents (docs/medical.md).

    max_side : if given, the decoder may return a smaller image whose sides are still at least
        ``max_side`` (or the full size, if that is smaller). Only JPEG does so today, by decoding
        at 1/2, 1/4 or 1/8 scale, which is several times faster.

    Raises UnreadableImageError, with a short reason, for anything that is not a complete image.
    """
    frame = axis = None
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
    elif getattr(image, "stored_copy", None) is not None:  # the copy of its pixels an embedding store kept
        path = image.stored_copy
    else:  # an ImageRecord
        path, frame, axis = image.path, image.frame, image.axis
    with open_readonly(path) as fp:
        return decode(fp, path, max_side, frame, axis).image


def small_image(image: Path | str | ImageRef, size: int = 96) -> Image.Image:
    """A file (or a record's item) decoded at reduced size and shrunk to fit a ``size`` x ``size`` box."""
    im = open_image(image, max_side=size * 2)
    im.thumbnail((size, size), Image.Resampling.LANCZOS)
    return im


def jpeg_bytes(image: Image.Image, quality: int = 85) -> bytes:
    with io.BytesIO() as buf:
        image.save(buf, format="JPEG", quality=quality)
        return buf.getvalue()


def thumbnail(image: Path | str | ImageRef, size: int = 96) -> bytes:
    """JPEG bytes of a file (or a record's item) shrunk to fit a ``size`` x ``size`` box, for reports."""
    return jpeg_bytes(small_image(image, size))
