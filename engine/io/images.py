"""Find image sets; every file that cannot be used is listed with its reason (decoding: spotdiff.io.decoding).

User folders are only ever read.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Sequence

import numpy as np

from . import medical
from .decoding import IMAGE_SUFFIXES, decode, open_image, open_readonly, thumbnail  # noqa: F401 (re-exported)
from ..errors import (
    EmptyImageSetError,
    ImageSetNotFoundError,
    InvalidParameterError,
    UnreadableImageError,
)
from .medical import ReadOptions
from ..progress import Progress, Work


@dataclass(frozen=True)
class ImageRecord:
    """One readable image of a set.

    path : absolute path of the file
    content_hash : sha256 hex digest of the file's bytes (cache key, leakage check); for one of
        several 2-D images in a file, followed by which one ("#f3", "#a2s40": spotdiff.io.medical)
    width, height : pixel size after EXIF orientation
    format : decoder name as PIL reports it ("JPEG", "PNG", ...), or "DICOM", "NIfTI", "NPY"
    frame : index of the frame (multi-frame DICOM) or slice (volume) this item is; None for a
        whole 2-D image or a projection
    axis : volumes only: the axis ``frame`` indexes, or the one a maximum-intensity projection
        (``frame`` None) collapses
    metadata : acquisition facts as sorted (tag, text) pairs — DICOM attributes of
        spotdiff.io.medical.tags.ALLOWED only, never a patient field
    stored_copy : a PNG of this image's pixels (shrunk) that an embedding store kept, read instead of ``path``
        when the file itself cannot be read where the comparison runs (spotdiff.cluster); else None
    """

    path: Path
    content_hash: str
    width: int
    height: int
    format: str
    frame: int | None = None
    axis: int | None = None
    metadata: tuple[tuple[str, str], ...] = ()
    stored_copy: Path | None = None

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
    n_found : when ``images`` is a random draw from more (:meth:`drawn`), how many readable images there were;
        else None
    """

    label: str
    sources: tuple[Path, ...]
    images: tuple[ImageRecord, ...]
    skipped: tuple[SkippedFile, ...]
    n_found: int | None = None

    def drawn(self, max_images: int | None, seed: int) -> "ImageSet":
        """At most ``max_images`` of the images, drawn at random (seeded; the same draw for the same listing),
        still in scan order; the set itself when it holds no more than that (or ``max_images`` is None or 0)."""
        rows = draw_rows(len(self.images), max_images, seed, self.label)
        if rows is None:
            return self
        return replace(self, images=tuple(self.images[i] for i in rows), n_found=len(self.images))

    @property
    def name(self) -> str:
        return ", ".join(str(s) for s in self.sources)

    def __len__(self) -> int:
        return len(self.images)



def draw_rows(n: int, max_images: int | None, seed: int, label: str) -> np.ndarray | None:
    """Which of ``n`` images (in scan order) a comparison analyses when it analyses at most ``max_images`` of a
    set: sorted row indices drawn without replacement, the same for the same (n, seed, label); None for all."""
    if not max_images or n <= max_images:
        return None
    rng = np.random.default_rng([seed, 1 if label == "b" else 0, 0x5D1F])
    return np.sort(rng.choice(n, size=max_images, replace=False))


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


def read_records(path: Path, options: ReadOptions) -> list[ImageRecord]:
    """The records of one file: one for an ordinary image, one per item ``options`` asks of a
    multi-item file (spotdiff.io.medical). The file is hashed and decoded once at reduced size (to prove it is
    whole); raises UnreadableImageError with the reason when it cannot be used."""
    with open_readonly(path) as fp:
        content_hash = _sha256(fp, path)
        fp.seek(0)
        if os.fstat(fp.fileno()).st_size == 0:
            raise UnreadableImageError(path, "empty file (0 bytes)")
        reader = medical.reader_for(path, fp)
        if reader is None:
            decoded = decode(fp, path, _VALIDATION_SIDE)
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


def as_sources(source: Path | str | Sequence[Path | str]) -> tuple[Path, ...]:
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    if not items:
        raise InvalidParameterError("source", source, "at least one folder or image file")
    return tuple(dict.fromkeys(Path(os.path.abspath(s)) for s in items))


def list_image_files(sources: Sequence[Path], label: str) -> Work[tuple[list[Path], list[SkippedFile]]]:
    """The image files of ``sources`` (folders walked recursively, files as given), each once, in the order found,
    and the folders that could not be opened; yields Progress("scan", ...). Raises ImageSetNotFoundError for a
    source that does not exist. Nothing is opened but folders: :func:`read_records` reads the files."""
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
    return list(candidates.values()), skipped


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
    sources = as_sources(source)
    read_options = read_options or ReadOptions()
    paths, skipped = yield from list_image_files(sources, label)

    total = len(paths)
    images: list[ImageRecord] = []
    for i, path in enumerate(paths):
        if i % _PROGRESS_EVERY == 0:
            yield Progress("scan", i, total, f"Reading set {label}: {i} of {total} files")
        try:
            images.extend(read_records(path, read_options))
        except UnreadableImageError as e:
            skipped.append(SkippedFile(path, e.reason))
    yield Progress(
        "scan", total, total, f"Set {label}: {len(images)} readable images, {len(skipped)} skipped"
    )

    if len(images) < min_images:
        raise EmptyImageSetError(sources[0], len(images), len(skipped), min_images)
    images.sort(key=record_order)
    skipped.sort(key=lambda f: f.path)
    return ImageSet(label, sources, tuple(images), tuple(skipped))


def record_order(record: ImageRecord) -> tuple:
    """By path, then the items of one file in order (a projection before its file's slices)."""
    return (record.path, -1 if record.axis is None else record.axis, -1 if record.frame is None else record.frame)


@dataclass(frozen=True)
class Leak:
    """The same file content in both sets."""

    path_a: Path
    path_b: Path
    content_hash: str


def find_leaks(set_a: ImageSet, set_b: ImageSet) -> tuple[Leak, ...]:
    """Pairs of files with identical content, one in each set, sorted by path."""
    by_hash: dict[str, list[Path]] = {}
    for record in set_a.images:
        by_hash.setdefault(record.content_hash, []).append(record.path)
    leaks = [
        Leak(path_a, record.path, record.content_hash)
        for record in set_b.images
        for path_a in by_hash.get(record.content_hash, ())
    ]
    return tuple(sorted(leaks, key=lambda leak: (leak.path_a, leak.path_b)))
