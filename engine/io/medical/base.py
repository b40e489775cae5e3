"""What every medical and scientific reader shares: options, items of a file, and how a file is recognised."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from PIL import Image

from ...errors import InvalidParameterError

FRAME_MODES = ("middle", "all")
VOLUME_MODES = ("middle", "slices", "mip")


@dataclass(frozen=True)
class ReadOptions:
    """How files holding several 2-D images are turned into items.

    frames : multi-frame DICOM: "middle" (one item per file, its middle frame) or "all" (every
        frame its own item)
    volume : NIfTI volumes and 3-D ``.npy`` arrays: "middle" (the middle slice), "slices"
        (``n_slices`` evenly spaced slices, ends excluded) or "mip" (maximum-intensity projection)
    n_slices : slices per volume in "slices" mode
    axis : the volume axis sliced or projected along. NIfTI volumes are first reoriented to
        RAS+, so 0 = sagittal, 1 = coronal, 2 = axial slices; ``.npy`` arrays are used as stored.
    """

    frames: str = "middle"
    volume: str = "middle"
    n_slices: int = 5
    axis: int = 2

    def __post_init__(self):
        if self.frames not in FRAME_MODES:
            raise InvalidParameterError("frames", self.frames, f"one of {', '.join(FRAME_MODES)}")
        if self.volume not in VOLUME_MODES:
            raise InvalidParameterError("volume", self.volume, f"one of {', '.join(VOLUME_MODES)}")
        if not (isinstance(self.n_slices, int) and 1 <= self.n_slices <= 1000):
            raise InvalidParameterError("n_slices", self.n_slices, "a whole number from 1 to 1000")
        if self.axis not in (0, 1, 2):
            raise InvalidParameterError("axis", self.axis, "0, 1 or 2")


@dataclass(frozen=True)
class Item:
    """One 2-D image inside a file, as a reader finds it while scanning.

    metadata : (tag, value) pairs of acquisition facts, only ever those of
        :data:`spotdiff.io.medical.tags.ALLOWED` — never a patient field
    """

    width: int
    height: int
    format: str
    frame: int | None = None
    axis: int | None = None
    metadata: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        return item_key(self.frame, self.axis)


def item_key(frame: int | None, axis: int | None) -> str:
    """What distinguishes an item's cache key from its file's sha256 (table above)."""
    if axis is None:
        return "" if frame is None else f"#f{frame}"
    return f"#a{axis}mip" if frame is None else f"#a{axis}s{frame}"


def item_label(frame: int | None, axis: int | None) -> str:
    """An item in words, for reports: "frame index 3", "slice index 40, axis 2"; "" for a plain image."""
    if axis is None:
        return "" if frame is None else f"frame index {frame}"
    if frame is None:
        return f"maximum-intensity projection, axis {axis}"
    return f"slice index {frame}, axis {axis}"


class Reader(Protocol):
    """Reads one kind of multi-item file. ``fp`` is open for reading, at any position."""

    def items(self, fp: BinaryIO, path: Path, options: ReadOptions) -> list[Item]:
        """The items ``options`` asks for; decodes enough to prove they can be read.

        Raises UnreadableImageError with a short reason.
        """
        ...

    def decode(self, fp: BinaryIO, path: Path, frame: int | None, axis: int | None) -> tuple[Image.Image, str]:
        """One item as an 8-bit "L" or "RGB" image and the format's name. ``frame`` and ``axis``
        None mean the file's default item (the middle frame or middle axial slice)."""
        ...


def suffix(name: str | os.PathLike) -> str:
    """The lowercase suffix that picks a decoder; ``.nii.gz`` counts as one suffix."""
    name = os.fspath(name).lower()
    return ".nii.gz" if name.endswith(".nii.gz") else os.path.splitext(name)[1]


SUFFIXES = frozenset({".dcm", ".dicom", ".nii", ".nii.gz", ".npy"})
"""Suffixes of the files these readers take, found when walking a folder."""

_DICOM_MAGIC_AT = 128


def has_dicom_preamble(fp: BinaryIO) -> bool:
    """Whether the file carries the 'DICM' marker after its 128-byte preamble (PS3.10 7.1)."""
    start = fp.tell()
    try:
        fp.seek(_DICOM_MAGIC_AT)
        return fp.read(4) == b"DICM"
    finally:
        fp.seek(start)


def might_be_dicom(path: Path) -> bool:
    """For folder walks: a file without an image suffix is DICOM if it has the marker.

    Only names without a suffix or with an all-digit one ("IM0001", "1.2.840.113619.2.55.3.12")
    are opened, so walking a folder of other files stays cheap.
    """
    ext = os.path.splitext(path.name)[1]
    if ext and not ext[1:].isdigit():
        return False
    try:
        with open(path, "rb") as fp:
            return has_dicom_preamble(fp)
    except OSError:
        return False
