"""Find and decode image sets; every file that cannot be used is listed with its reason.

User folders are only ever read.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterator, Sequence

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from . import medical
from .errors import (
    EmptyImageSetError,
    ImageSetNotFoundError,
    InvalidParameterError,
    UnreadableImageError,
)
from .medical import ReadOptions
from .progress import Progress, Work

if TYPE_CHECKING:
    from .result import Leak


@dataclass(frozen=True)
class ImageRecord:
    """One readable image of a set.

    path : absolute path of the file
    content_hash : sha256 hex digest of the file's bytes (cache key, leakage check); for one of
        several 2-D images in a file, followed by which one ("#f3", "#a2s40": engine.medical)
    width, height : pixel size after EXIF orientation
    format : decoder name as PIL reports it ("JPEG", "PNG", ...), or "DICOM", "NIfTI", "NPY"
    frame : index of the frame (multi-frame DICOM) or slice (volume) this item is; None for a
        whole 2-D image or a projection
    axis : volumes only: the axis ``frame`` indexes, or the one a maximum-intensity projection
        (``frame`` None) collapses
    metadata : acquisition facts as sorted (tag, text) pairs — DICOM attributes of
        engine.medical.tags.ALLOWED only, never a patient field
    """

    path: Path
    content_hash: str
    width: int
    height: int
    format: str
    frame: int | None = None
    axis: int | None = None
    metadata: tuple[tuple[str, str], ...] = ()

    @property
    def item(self) -> str:
        """Which 2-D image of its file this is, in words ("slice index 40, axis 2"); "" for a plain image."""
        return medical.item_label(self.frame, self.axis)


@dataclass(frozen=True)
class SkippedFile:
    path: Path
    reason: str


@dataclass(frozen=True)
class ImageSet:
    """A set of images as given by the user: a folder (recursive) or a list of files.

    label : "a" or "b"
    sources : the folders and files the user named
    images : readable images, sorted by path
    skipped : files that could not be used, each with its reason
    """

    label: str
    sources: tuple[Path, ...]
    images: tuple[ImageRecord, ...]
    skipped: tuple[SkippedFile, ...]

    @property
    def name(self) -> str:
        return ", ".join(str(s) for s in self.sources)

    def __len__(self) -> int:
        return len(self.images)


# --------------------------------------------------------------------------------------------
# Decoding


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
    (16-bit or float colour, planar data, other compressions), by engine.medical.arrays' rules."""
    try:
        return _decode_with_pil(fp, max_side)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, struct.error) as e:
        from .medical.arrays import decode_tiff

        try:
            image = decode_tiff(fp, Path(getattr(fp, "name", "")))
        except UnreadableImageError:
            raise e from None  # tifffile cannot either: PIL's reason is the one to report
        return Decoded(image, "TIFF", image.size)


def _item_decoder(reader: medical.Reader, path: Path, frame: int | None = None, axis: int | None = None) -> Decoder:
    """A Decoder for one item of a file an engine.medical reader reads (frame/axis None: its default)."""

    def decode(fp: BinaryIO, max_side: int | None) -> Decoded:
        image, fmt = reader.decode(fp, path, frame, axis)
        return Decoded(image, fmt, image.size)

    return decode


def _medical_decoder(fp: BinaryIO, max_side: int | None) -> Decoded:
    path = Path(getattr(fp, "name", ""))
    reader = medical.reader_for(path, fp)
    if reader is None:
        raise UnidentifiedImageError(f"no reader for {path.name!r}")
    return _item_decoder(reader, path)(fp, max_side)


# Suffix -> decoder. To support a new format (HEIC, camera RAW, ...) add its suffixes here with
# a Decoder; folder scans pick up exactly these suffixes. Files the user names one by one are
# tried whatever their suffix, with the PIL decoder when the suffix is unknown. Files holding
# several 2-D images (DICOM, NIfTI, .npy) are read by engine.medical's readers, item by item;
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


def _decode(fp: BinaryIO, path: Path, max_side: int | None, frame: int | None = None,
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


def _open_readonly(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as e:
        raise UnreadableImageError(path, f"cannot open file: {e.strerror or e}") from e


def open_image(image: Path | str | ImageRecord, *, max_side: int | None = None) -> Image.Image:
    """Decode a file, or the item a record names, to a fully loaded 8-bit RGB image with its EXIF
    orientation applied.

    image : a path, or an ImageRecord (which names one frame or slice of a multi-item file; a
        bare path to such a file gives its default item: the middle frame or middle axial slice)

    Grey, palette, 16- and 32-bit, float and CMYK images are converted; transparency is
    composited onto white; of an animation, the first frame is used. DICOM, NIfTI and .npy
    files are converted as engine.medical documents (docs/medical.md).

    max_side : if given, the decoder may return a smaller image whose sides are still at least
        ``max_side`` (or the full size, if that is smaller). Only JPEG does so today, by decoding
        at 1/2, 1/4 or 1/8 scale, which is several times faster.

    Raises UnreadableImageError, with a short reason, for anything that is not a complete image.
    """
    frame = axis = None
    if isinstance(image, ImageRecord):
        path, frame, axis = image.path, image.frame, image.axis
    else:
        path = Path(image)
    with _open_readonly(path) as fp:
        return _decode(fp, path, max_side, frame, axis).image


def thumbnail(image: Path | str | ImageRecord, size: int = 96) -> bytes:
    """JPEG bytes of a file (or a record's item) shrunk to fit a ``size`` x ``size`` box, for reports."""
    im = open_image(image, max_side=size * 2)
    im.thumbnail((size, size), Image.Resampling.LANCZOS)
    with io.BytesIO() as buf:
        im.save(buf, format="JPEG", quality=85)
        return buf.getvalue()


# --------------------------------------------------------------------------------------------
# Scanning

_PROGRESS_EVERY = 32
_VALIDATION_SIDE = 256  # decode this small to check a file is whole; size comes from the header
_CHUNK = 1 << 20


def _sha256(fp: BinaryIO, path: Path) -> str:
    digest = hashlib.sha256()
    try:
        while chunk := fp.read(_CHUNK):
            digest.update(chunk)
    except OSError as e:
        raise UnreadableImageError(path, f"cannot read file: {e.strerror or e}") from e
    return digest.hexdigest()


def _read_records(path: Path, options: ReadOptions) -> list[ImageRecord]:
    """The records of one file: one for an ordinary image, one per item ``options`` asks of a
    multi-item file (engine.medical)."""
    with _open_readonly(path) as fp:
        content_hash = _sha256(fp, path)
        fp.seek(0)
        if os.fstat(fp.fileno()).st_size == 0:
            raise UnreadableImageError(path, "empty file (0 bytes)")
        reader = medical.reader_for(path, fp)
        if reader is None:
            decoded = _decode(fp, path, _VALIDATION_SIDE)
            width, height = decoded.size
            return [ImageRecord(path, content_hash, width, height, decoded.format)]
        items = reader.items(fp, path, options)
    return [ImageRecord(path, content_hash + item.key, item.width, item.height, item.format, item.frame,
                        item.axis, item.metadata) for item in items]


def _walk(folder: Path, on_error: Callable[[OSError], None]) -> Iterator[Path]:
    """Image files under ``folder``, sorted, skipping hidden entries and symlink cycles."""
    seen_dirs: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(folder, onerror=on_error, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen_dirs:  # a symlink back to a folder already walked
            dirnames.clear()
            continue
        seen_dirs.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            if medical.suffix(name) in IMAGE_SUFFIXES or medical.might_be_dicom(Path(dirpath, name)):
                yield Path(dirpath, name)


def _as_sources(source: Path | str | Sequence[Path | str]) -> tuple[Path, ...]:
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    if not items:
        raise InvalidParameterError("source", source, "at least one folder or image file")
    return tuple(dict.fromkeys(Path(os.path.abspath(s)) for s in items))


def scan_image_set(
    source: Path | str | Sequence[Path | str], label: str, *, min_images: int = 8,
    read_options: ReadOptions | None = None,
) -> Work[ImageSet]:
    """Find and check every image of one set; yields Progress("scan", ...), returns the ImageSet.

    source : a folder (walked recursively; hidden entries and non-image suffixes ignored), an
        image file (tried whatever its suffix), or a sequence of these. A file reached twice
        counts once.
    label : "a" or "b"
    read_options : how multi-frame DICOM files and volumes become items (default: ReadOptions(),
        one item per file); every item is one ImageRecord and counts towards ``min_images``

    Every file is hashed (sha256) and decoded once, at reduced size, to prove it is whole; files
    that fail are listed in ``skipped`` with their reason. Files are only ever opened for reading.

    Raises ImageSetNotFoundError for a source that does not exist and EmptyImageSetError when
    fewer than ``min_images`` images are readable.
    """
    sources = _as_sources(source)
    read_options = read_options or ReadOptions()
    for s in sources:
        if not s.exists():
            raise ImageSetNotFoundError(s)

    skipped: list[SkippedFile] = []

    def folder_error(e: OSError) -> None:
        skipped.append(SkippedFile(Path(e.filename), f"cannot open folder: {e.strerror or e}"))

    yield Progress("scan", 0, 0, f"Looking for images in set {label}")
    candidates: dict[str, Path] = {}
    for s in sources:
        for path in _walk(s, folder_error) if s.is_dir() else [s]:
            candidates.setdefault(os.path.normcase(os.path.realpath(path)), path)
            if len(candidates) % _PROGRESS_EVERY == 0:
                yield Progress("scan", 0, 0, f"Found {len(candidates)} files in set {label}")

    paths = list(candidates.values())
    total = len(paths)
    images: list[ImageRecord] = []
    for i, path in enumerate(paths):
        if i % _PROGRESS_EVERY == 0:
            yield Progress("scan", i, total, f"Reading set {label}: {i} of {total} files")
        try:
            images.extend(_read_records(path, read_options))
        except UnreadableImageError as e:
            skipped.append(SkippedFile(path, e.reason))
    yield Progress(
        "scan", total, total, f"Set {label}: {len(images)} readable images, {len(skipped)} skipped"
    )

    if len(images) < min_images:
        raise EmptyImageSetError(sources[0], len(images), len(skipped), min_images)
    images.sort(key=_record_order)
    skipped.sort(key=lambda f: f.path)
    return ImageSet(label, sources, tuple(images), tuple(skipped))


def _record_order(record: ImageRecord) -> tuple:
    """By path, then the items of one file in order (a projection before its file's slices)."""
    return (record.path, -1 if record.axis is None else record.axis, -1 if record.frame is None else record.frame)


def find_leaks(set_a: ImageSet, set_b: ImageSet) -> tuple[Leak, ...]:
    """Pairs of files with identical content, one in each set, sorted by path."""
    from .result import Leak  # result imports this module

    by_hash: dict[str, list[Path]] = {}
    for record in set_a.images:
        by_hash.setdefault(record.content_hash, []).append(record.path)
    leaks = [
        Leak(path_a, record.path, record.content_hash)
        for record in set_b.images
        for path_a in by_hash.get(record.content_hash, ())
    ]
    return tuple(sorted(leaks, key=lambda leak: (leak.path_a, leak.path_b)))
