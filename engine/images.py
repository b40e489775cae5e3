"""Find and decode image sets; every file that cannot be used is listed with its reason.

User folders are only ever read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ImageRecord:
    """One readable image of a set.

    path : absolute path of the file
    content_hash : sha256 hex digest of the file's bytes (cache key, leakage check)
    width, height : pixel size after EXIF orientation
    format : decoder name as PIL reports it ("JPEG", "PNG", ...)
    """

    path: Path
    content_hash: str
    width: int
    height: int
    format: str


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
