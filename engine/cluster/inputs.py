"""What ``spotdiff embed`` embeds: folders, image files, or lists of paths — a text file (one path a line), or a
CSV or Parquet manifest with a ``path`` column. Relative paths in a list are relative to the list's folder.

The result is sorted and each file counted once, as a scan counts them (spotdiff.io.images): the shards, and so
the store's order and the seeded split, do not depend on the order a folder is walked or a list is written in.
Files that do not exist are kept: the worker that reads them lists them as skipped, with the reason.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import ImageListError
from ..io.images import SkippedFile, as_sources, list_image_files
from ..progress import Progress, Work

LIST_SUFFIXES = (".txt", ".lst", ".csv", ".parquet")
PATH_COLUMN = "path"


def list_inputs(sources: Sequence[Path | str]) -> Work[tuple[list[Path], list[SkippedFile]]]:
    """The files to embed, sorted, and the folders that could not be opened; yields Progress("list", ...)."""
    sources = as_sources(sources)
    lists = [s for s in sources if s.is_file() and s.suffix.lower() in LIST_SUFFIXES]
    others = [s for s in sources if s not in lists]
    paths: list[Path] = []
    skipped: list[SkippedFile] = []
    if others:
        found, skipped = yield from list_image_files(others, "to embed")
        paths.extend(found)
    for listed in lists:
        yield Progress("list", 0, 0, f"reading {listed.name}")
        folder = listed.parent
        paths.extend(p if p.is_absolute() else folder / p for p in map(Path, read_list(listed)))
    unique = {os.path.normcase(os.path.realpath(p)): Path(os.path.abspath(p)) for p in reversed(paths)}
    yield Progress("list", len(unique), len(unique), f"{len(unique)} files to embed")
    return sorted(unique.values()), skipped


def read_list(path: Path) -> list[str]:
    """The paths a list file names, as written. Raises ImageListError for a manifest without a ``path`` column."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            schema = pq.read_schema(path)
            if PATH_COLUMN not in schema.names:
                raise ImageListError(path, f"it has no '{PATH_COLUMN}' column (columns: {', '.join(schema.names)})")
            column = pq.read_table(path, columns=[PATH_COLUMN]).column(PATH_COLUMN)
            return [str(p) for p in column.to_pylist() if p]
        with open(path, encoding="utf-8", newline="") as fp:
            if suffix == ".csv":
                reader = csv.DictReader(fp)
                if PATH_COLUMN not in (reader.fieldnames or ()):
                    raise ImageListError(path, f"it has no '{PATH_COLUMN}' column "
                                               f"(header: {', '.join(reader.fieldnames or ['none'])})")
                return [row[PATH_COLUMN] for row in reader if row[PATH_COLUMN]]
            return [line.strip() for line in fp if line.strip() and not line.lstrip().startswith("#")]
    except (OSError, UnicodeDecodeError, csv.Error, pa.ArrowException) as e:
        raise ImageListError(path, f"it cannot be read ({e})") from e
