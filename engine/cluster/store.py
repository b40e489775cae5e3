"""An embedding store: one image set embedded once (on a cluster or here), kept as Parquet shards.

    STORE/store.json            what the store holds: format, model, precision, read options, sources, shard size
    STORE/shards.jsonl          one line per finished shard, appended after its file is in place (the resume log)
    STORE/shards/part-00012.parquet

The files to embed are sorted by path and cut into shards of ``shard_size`` files: shard k is files
[k·size, (k+1)·size). A shard is named by the digest of its paths, so a resumed run skips exactly the shards whose
files are the same and done, and a changed listing redoes only the shards it changed. A shard's file is written
beside its final name and renamed into place, then its line appended to shards.jsonl: a run killed at any moment
leaves finished shards finished, and at worst one unlogged file that the next run writes again. The file of a shard
that keeps pixels holds its rows in Parquet row groups of ROW_GROUP_ROWS, so that a comparison of a draw reads the
kept pixels of the groups that hold drawn rows, not of whole shards (a store written before that, or one without
pixels, has one group per shard, read whole).

One row per image (frames and slices of one file are rows of their own) and one per file that could not be used:

    order            int64    the file's index in the sorted listing
    path             string   absolute path as the embedding machine saw it
    content_hash     string   sha256 of the file's bytes (+ "#f3"-style item key): the local cache's key, the leak check's
    frame, axis      int32    which item of a multi-item file (DICOM frame, volume slice), else null
    width, height    int32    pixel size after EXIF orientation;  format  string  decoder name
    tags             list<struct<tag, value>>  acquisition tags (spotdiff.io.medical.tags.ALLOWED only)
    embedder         string   the model's cache key (model, weights sha256, preprocessing, precision)
    precision        string   "fp32", "bf16"
    vector           list<float32>  the model's vector (null for a skipped file)
    measurements     list<float32>  spotdiff's named measurements, same order as the measurement embedder's names
    skip_reason      string   why the file was not used (null for an image)
    worker           string   which process embedded the shard (host:pid), for the record
    pixels           binary   with ``spotdiff embed --keep-pixels --pixel-side SIDE``: a PNG of the image shrunk to
                              fit SIDE x SIDE (never enlarged), read by a comparison where the files cannot be; else null
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import EmptyImageSetError, StoreError
from ..io.images import ImageRecord, ImageSet, SkippedFile, draw_rows, record_order
from ..io.medical import ReadOptions
from .rest import LeftOut

FORMAT = "spotdiff-embeddings/1"
MANIFEST = "store.json"
LOG = "shards.jsonl"
SHARDS = "shards"

SCHEMA = pa.schema([
    ("order", pa.int64()), ("path", pa.string()), ("content_hash", pa.string()),
    ("frame", pa.int32()), ("axis", pa.int32()), ("width", pa.int32()), ("height", pa.int32()),
    ("format", pa.string()),
    ("tags", pa.list_(pa.struct([("tag", pa.string()), ("value", pa.string())]))),
    ("embedder", pa.string()), ("precision", pa.string()),
    ("vector", pa.list_(pa.float32())), ("measurements", pa.list_(pa.float32())),
    ("skip_reason", pa.string()), ("worker", pa.string()), ("pixels", pa.binary()),
])
READ_COLUMNS = [name for name in SCHEMA.names if name != "pixels"]  # what a comparison reads of every shard
COPIES = "store-copies"  # the stores' kept pixels, as files, under the user's cache folder (content-addressed)
# Rows per Parquet row group of a shard that keeps pixels: the unit its kept copies are read in. A draw of a fraction p
# of a store reads 1 - (1 - p)^ROW_GROUP_ROWS of its pixels: at the default draw of 50,000 from 2 x 10^6 (p = 2.5 %)
# 33 % with 16 rows, 99.8 % with 256. A group costs ~1.7 kB of footer (~0.2 % of 16 copies of 50 kB) and some time
# when a comparison reads the shard's vectors; a store without pixels keeps one group per shard.
ROW_GROUP_ROWS = 16


@dataclass(frozen=True)
class StoreSettings:
    """What a store is made with; a run that continues a store must ask for the same.

    model : registry name; weights : a weights path the workers use instead of the usual search, or None
    precision : as asked ("auto" is resolved on the workers; the resolved one is in each shard and ``spaces``)
    read_options : spotdiff.io.medical.ReadOptions as a dict; shard_size : files per shard
    keep_pixels : the side of the PNG copy kept of each image (0: none), so that a comparison can read pixels (small
        regions, re-planting, heat maps, exemplars) where the files are gone
    """

    model: str
    weights: str | None
    precision: str
    read_options: dict
    shard_size: int
    keep_pixels: int = 0


@dataclass(frozen=True)
class Shard:
    """Files [first, first + len(paths)) of the sorted listing: the unit of work, of resuming and of a file."""

    index: int
    first: int
    paths: tuple[str, ...]

    @property
    def digest(self) -> str:
        return hashlib.sha256("\n".join(self.paths).encode("utf-8")).hexdigest()[:32]

    @property
    def name(self) -> str:
        return f"part-{self.index:05d}.parquet"


def cut(paths: Sequence[Path], shard_size: int) -> list[Shard]:
    """The shards of a sorted listing."""
    text = [str(p) for p in paths]
    return [Shard(k, start, tuple(text[start:start + shard_size]))
            for k, start in enumerate(range(0, len(text), shard_size))]


@dataclass(frozen=True)
class ShardRows:
    """What a worker returns for one shard: the Parquet table's columns and a count of what it embedded.

    spaces : {"model": {"key", "dim", "precision"}, "measurements": {...}} of the worker's embedders
    n_embedded : images the worker's embedders embedded for this shard (for the record, and the resume test)
    """

    index: int
    digest: str
    columns: dict
    spaces: dict
    n_embedded: int
    seconds: float
    worker: str

    def table(self) -> pa.Table:
        return pa.Table.from_pydict(self.columns, schema=SCHEMA)


class StoreWriter:
    """Creates or continues the store in ``folder``; writes shards and logs them as done.

    A folder that holds anything but a store is refused (nothing the user owns is touched); a store made with
    other settings is refused with what differs.
    """

    def __init__(self, folder: Path | str, settings: StoreSettings, sources: Sequence[Path]):
        self.folder = Path(folder)
        self.settings = settings
        manifest = self.folder / MANIFEST
        if manifest.exists():
            old = _read_manifest(self.folder)
            stored = old.get("settings", {})
            wanted, defaults = asdict(settings), {"keep_pixels": 0}  # a store from before a setting has its default
            differs = [f"{k} {stored.get(k, defaults.get(k))!r} (this run: {v!r})" for k, v in wanted.items()
                       if stored.get(k, defaults.get(k)) != v]
            if differs:
                raise StoreError(self.folder, f"was made with other settings: {'; '.join(differs)}",
                                 "Continue it with the same options, or write to another --out folder.")
            self.spaces = old.get("spaces")
            self.runs = old.get("runs", [])
        else:
            if self.folder.exists() and any(self.folder.iterdir()):
                raise StoreError(self.folder, "is a folder that holds other files, not an embedding store",
                                 "Name a new or empty folder with --out (spotdiff writes nothing into your folders).")
            self.spaces, self.runs = None, []
        try:
            (self.folder / SHARDS).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(self.folder, f"cannot be made into a store ({e.strerror or e})",
                             "Name a new folder, or an empty one you can write to, with --out.") from e
        self.sources = [str(s) for s in sources]
        self.done = finished(self.folder)
        for run in self.runs:  # a run that was killed did not record what it did: its log lines say it
            logged = [e for e in self.done.values() if e.get("run") == run["run"]]
            run["n_shards"], run["n_embedded"] = len(logged), sum(e["n_embedded"] for e in logged)
        self.n_shards, self.digests, self.folder_skips = None, {}, []
        log = self.folder / LOG
        if log.exists() and log.stat().st_size and _last_byte(log) != b"\n":
            with open(log, "a", encoding="utf-8") as fp:  # a line a kill cut short: the next entry starts afresh
                fp.write("\n")
        self.run = {"run": len(self.runs) + 1, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "executor": "",
                    "n_shards": 0, "n_embedded": 0}
        self.runs.append(self.run)

    def todo(self, shards: Sequence[Shard]) -> list[Shard]:
        """The shards not finished with the same files."""
        return [s for s in shards if self.done.get(s.index, {}).get("digest") != s.digest]

    def begin(self, shards: Sequence[Shard], executor: str, folder_skips: Sequence[SkippedFile] = ()) -> None:
        """Record the listing this run embeds (its shards), how, and the folders that could not be opened;
        written before any work starts."""
        self.run["executor"] = executor
        self.n_shards = len(shards)
        self.digests = {s.index: s.digest for s in shards}
        self.folder_skips = [{"path": str(f.path), "reason": f.reason} for f in folder_skips]
        self._save_manifest()

    def skipped_files(self) -> list[tuple[str, str]]:
        """(path, reason) of every file the store's current shards could not use."""
        out = []
        for k in sorted(self.digests):
            entry = self.done.get(k)
            if entry is not None and entry["n_skipped"]:
                table = pq.read_table(self.folder / entry["file"], columns=["path", "skip_reason"])
                out.extend((p, r) for p, r in zip(*(table.column(c).to_pylist() for c in ("path", "skip_reason")))
                           if r is not None)
        return out

    def write(self, rows: ShardRows) -> None:
        """Put one shard's file in place, then log it as done."""
        if self.spaces is None:
            self.spaces = rows.spaces
            self._save_manifest()
        elif rows.spaces != self.spaces:
            raise StoreError(self.folder, f"holds vectors of {self.spaces}, but a worker embedded with {rows.spaces}",
                             "The workers do not all load the same model the same way (weights, precision, "
                             "library versions); give --precision fp32 or bf16 explicitly and the same --weights.")
        final = self.folder / SHARDS / f"part-{rows.index:05d}.parquet"
        part = final.with_suffix(".parquet.part")
        pq.write_table(rows.table(), part, row_group_size=ROW_GROUP_ROWS if self.settings.keep_pixels else None)
        os.replace(part, final)
        entry = {"index": rows.index, "digest": rows.digest, "file": f"{SHARDS}/{final.name}",
                 "n_rows": len(rows.columns["order"]), "n_embedded": rows.n_embedded,
                 "n_skipped": sum(r is not None for r in rows.columns["skip_reason"]),
                 "seconds": round(rows.seconds, 3), "worker": rows.worker, "run": self.run["run"]}
        with open(self.folder / LOG, "a", encoding="utf-8") as fp:
            fp.write(json.dumps(entry) + "\n")
            fp.flush()
            os.fsync(fp.fileno())
        self.done[rows.index] = entry
        self.run["n_shards"] += 1
        self.run["n_embedded"] += rows.n_embedded

    def finish(self) -> None:
        self._save_manifest()

    def _save_manifest(self) -> None:
        manifest = {"format": FORMAT, "settings": asdict(self.settings), "sources": self.sources,
                    "spaces": self.spaces, "n_shards": self.n_shards,
                    "digests": {str(k): v for k, v in self.digests.items()},
                    "folders_skipped": self.folder_skips, "runs": self.runs}
        part = self.folder / (MANIFEST + ".part")
        part.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        os.replace(part, self.folder / MANIFEST)


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as fp:
        fp.seek(-1, os.SEEK_END)
        return fp.read(1)


def finished(folder: Path) -> dict[int, dict]:
    """Shard index -> its log entry, for the shards logged as done whose file exists (a line cut short by a kill
    is not an entry)."""
    out: dict[int, dict] = {}
    log = folder / LOG
    if not log.exists():
        return out
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if (folder / entry["file"]).exists():
            out[int(entry["index"])] = entry
    return out


def _read_manifest(folder: Path) -> dict:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise StoreError(folder, f"has no readable {MANIFEST} ({e})",
                         "Name a folder written by 'spotdiff embed --out'.") from e
    if manifest.get("format") != FORMAT:
        raise StoreError(folder, f"is of format {manifest.get('format')!r}, not {FORMAT!r}",
                         "Embed the images again with this version of spotdiff.")
    return manifest


@dataclass(frozen=True)
class StoredSet:
    """One store, read: its image set (as a scan finds it) and its vectors.

    X : ndarray of shape (n_images, dim), the model's vectors, in ``image_set.images`` order
    M : ndarray of shape (n_images, n_measurements), the measurements, same order
    spaces : the store's embedders: {"model": {"key", "dim", "precision"}, "measurements": {...}}
    left_out : when only a draw of the images was read (``max_images``), the others, searchable for exemplars
        (spotdiff.cluster.rest.LeftOut); else None
    places : ndarray of shape (n_images, 2), the (shard, row) each image was read from, in ``image_set.images``
        order (rows count every row of the shard's file, skipped files too); None: not known, read every row
    """

    folder: Path
    image_set: ImageSet
    X: np.ndarray
    M: np.ndarray
    settings: StoreSettings
    spaces: dict
    runs: tuple[dict, ...]
    left_out: LeftOut | None = field(default=None, repr=False)
    places: np.ndarray | None = field(default=None, repr=False)


def read_store(folder: Path | str, label: str, *, min_images: int = 8, max_images: int | None = None,
               seed: int = 0, keep_left_out: bool = False) -> StoredSet:
    """Read a finished store as set ``label`` ("a" or "b"). Raises StoreError for a missing, unfinished or
    damaged store and EmptyImageSetError when it holds fewer than ``min_images`` images.

    max_images, seed : read only the images a comparison with these settings analyses (ImageSet.drawn: the same
        rows as a scan of the same files gives), so that a store of millions costs the memory of the draw
    keep_left_out : with a draw, index the images it leaves out for exemplars (``left_out``: spotdiff.cluster.rest)
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise StoreError(folder, "does not exist", "Name a folder written by 'spotdiff embed --out'.")
    manifest = _read_manifest(folder)
    done = finished(folder)
    digests = {int(k): v for k, v in manifest.get("digests", {}).items()}
    missing = [k for k, d in digests.items() if done.get(k, {}).get("digest") != d]
    if manifest.get("n_shards") is None or missing or manifest.get("spaces") is None and digests:
        raise StoreError(folder, f"is unfinished: {len(digests) - len(missing)} of {len(digests)} shards are done",
                         "Run the same 'spotdiff embed' command again to finish it (finished shards are kept).")
    spaces = manifest["spaces"]
    n_found = sum(done[k]["n_rows"] - done[k]["n_skipped"] for k in digests)
    drawn = draw_rows(n_found, max_images, seed, label)
    n_images = n_found if drawn is None else len(drawn)
    left_out = LeftOut(spaces["model"]["dim"], spaces["measurements"]["dim"], n_found - n_images) \
        if drawn is not None and keep_left_out else None
    # shard by shard into arrays made once: what is held at the end is the vectors and the records, not the tables
    X = np.empty((n_images, spaces["model"]["dim"]), np.float32)
    M = np.empty((n_images, spaces["measurements"]["dim"]), np.float32)
    places = np.empty((n_images, 2), np.int64)
    images, skipped, first = [], [], 0  # first: the index, among all the store's images, of the shard's first
    for k in sorted(digests):
        table = _read_rows(folder / done[k]["file"], None, READ_COLUMNS)  # raises StoreError for a damaged shard
        shard_images, rows, shard_skipped = _records(table)
        rows = np.asarray(rows, np.int64)
        shard_X = _matrix(table.column("vector"), rows, X.shape[1], folder)
        shard_M = _matrix(table.column("measurements"), rows, M.shape[1], folder)
        if drawn is not None:  # the drawn images among this shard's
            picked = drawn[np.searchsorted(drawn, first):np.searchsorted(drawn, first + len(rows))] - first
            first += len(rows)
            if left_out is not None:
                rest = np.setdiff1d(np.arange(len(rows)), picked)
                left_out.add(shard_X[rest], shard_M[rest], k, rows[rest])
            shard_images, rows, shard_X, shard_M = [shard_images[i] for i in picked], rows[picked], \
                shard_X[picked], shard_M[picked]
        at = slice(len(images), len(images) + len(rows))
        if at.stop > n_images:
            raise StoreError(folder, f"has more images in shard {k} than its log line says",
                             "Delete that shard's line from shards.jsonl and run 'spotdiff embed' again to redo it.")
        X[at], M[at], places[at, 0], places[at, 1] = shard_X, shard_M, k, rows
        images.extend(shard_images)
        skipped.extend(shard_skipped)
    sources = tuple(Path(s) for s in manifest["sources"])
    if len(images) != n_images:
        raise StoreError(folder, f"holds {first if drawn is not None else len(images)} images where its log says "
                                 f"{n_found}", "Embed the images again into a new store.")
    if n_found < min_images:
        raise EmptyImageSetError(sources[0] if sources else folder, n_found, len(skipped), min_images)
    keys = [record_order(r) for r in images]
    if any(later < earlier for earlier, later in zip(keys, keys[1:])):  # shards are in scan order; made otherwise
        order = sorted(range(len(images)), key=keys.__getitem__)
        images, X, M, places = [images[i] for i in order], X[order], M[order], places[order]
    image_set = ImageSet(label, sources, tuple(images), tuple(sorted(skipped, key=lambda f: f.path)),
                         n_found if drawn is not None else None)
    return StoredSet(folder, image_set, X, M, StoreSettings(**manifest["settings"]), spaces,
                     tuple(manifest.get("runs", ())), left_out.finish() if left_out is not None else None, places)


def rows_at(stored: StoredSet, places: Sequence[tuple[int, int]], copies: Path | None = None
            ) -> dict[tuple[int, int], tuple[ImageRecord, np.ndarray, np.ndarray]]:
    """The images at ``places`` ((shard, row) pairs, as LeftOut.top finds them), read from their shards:
    place -> (record, model vector, measurements); with ``copies``, each record reads its pixels from the
    store's copy, written into that folder."""
    done, out = finished(stored.folder), {}
    dims = (stored.spaces["model"]["dim"], stored.spaces["measurements"]["dim"])
    by_shard = _by_shard(places)
    for k, wanted in by_shard.items():  # the row groups that hold the places, and of them those rows only
        table = _read_rows(stored.folder / done[k]["file"], wanted, READ_COLUMNS)
        images, rows, _ = _records(table)
        if len(rows) != len(wanted):
            raise StoreError(stored.folder, f"has no image at some of rows {wanted.tolist()} of shard {k}",
                             "Read the store again (its shards changed since it was read).")
        X, M = (_matrix(table.column(c), np.arange(len(wanted)), d, stored.folder)
                for c, d in zip(("vector", "measurements"), dims))
        out.update({(k, int(row)): (image, x, m) for row, image, x, m in zip(wanted, images, X, M)})
    if copies is not None:
        written = _write_copies(stored, by_shard, copies)
        out = {place: (replace(r, stored_copy=written[r.content_hash]), x, m) for place, (r, x, m) in out.items()}
    return out


def with_kept_copies(stored: StoredSet, into: Path) -> StoredSet:
    """``stored`` with each image read from the copy of its pixels the store kept (``--keep-pixels``): the copies
    are written once into the folder ``into``, named by content hash and side, so the same image in two stores
    or two comparisons is written once. Raises StoreError when the store kept no copy of some image."""
    side = stored.settings.keep_pixels
    if not side:
        raise StoreError(stored.folder, "kept no copies of its images' pixels",
                         "Embed the images again with 'spotdiff embed --keep-pixels' to compare without them.")
    if stored.places is not None:  # the drawn images' rows only, read from the row groups that hold them
        places = _by_shard(stored.places)
    else:  # every row of every shard
        done, digests = finished(stored.folder), _read_manifest(stored.folder).get("digests", {})
        places = {k: np.arange(done[k]["n_rows"]) for k in sorted(int(k) for k in digests)}
    copies = _write_copies(stored, places, into, {r.content_hash for r in stored.image_set.images})
    missing = [r for r in stored.image_set.images if r.content_hash not in copies]
    if missing:
        raise StoreError(stored.folder, f"kept no copy of {len(missing)} of its images (the first: {missing[0].path})",
                         "Embed the images again into a new store with 'spotdiff embed --keep-pixels'.")
    images = tuple(replace(r, stored_copy=copies[r.content_hash]) for r in stored.image_set.images)
    return replace(stored, image_set=replace(stored.image_set, images=images))


def _write_copies(stored: StoredSet, places: dict[int, np.ndarray], into: Path, wanted: set[str] | None = None
                  ) -> dict[str, Path]:
    """The kept copies of the images at ``places`` (shard -> sorted rows; of them those whose content hash is
    ``wanted``, when given), written into ``into`` (once: a copy's name is its content hash and side); content hash
    -> file. Only the row groups that hold the rows are read."""
    side = stored.settings.keep_pixels
    into.mkdir(parents=True, exist_ok=True)
    done, copies = finished(stored.folder), {}
    for k, rows in places.items():
        table = _read_rows(stored.folder / done[k]["file"], rows, ["content_hash", "pixels"])
        for content_hash, data in zip(*(table.column(c).to_pylist() for c in ("content_hash", "pixels"))):
            if wanted is not None and content_hash not in wanted or data is None:
                continue
            target = into / f"{re.sub(r'[^0-9A-Za-z-]', '_', content_hash)}-{side}.png"
            if not target.exists():
                part = target.with_name(f"{target.name}.{os.getpid()}.part")
                part.write_bytes(data)
                os.replace(part, target)
            copies[content_hash] = target
    return copies


def _by_shard(places: Sequence[tuple[int, int]] | np.ndarray) -> dict[int, np.ndarray]:
    """(shard, row) pairs as shard -> its rows, sorted and each once; shards in order."""
    pairs = np.unique(np.asarray(places, np.int64).reshape(-1, 2), axis=0)  # sorted by shard, then row
    shards, starts = np.unique(pairs[:, 0], return_index=True)
    return {int(k): rows for k, rows in zip(shards, np.split(pairs[:, 1], starts[1:]))}


def _read_rows(path: Path, rows: np.ndarray | None, columns: Sequence[str]) -> pa.Table:
    """Rows ``rows`` (sorted, each once; None: all) of the shard file ``path``, of ``columns``, in that order: only
    the row groups that hold them are read (the group sizes come from the file's footer), so a few rows of a shard
    cost their groups, not the shard; a column the file was written without reads as nulls (as pq.read_table with
    SCHEMA reads it). Raises StoreError for a shard that cannot be read."""
    try:
        with pq.ParquetFile(path) as file:
            present = [c for c in columns if c in file.schema_arrow.names]
            if rows is None:
                return _with_nulls(file.read(columns=present), columns)
            sizes = np.array([file.metadata.row_group(g).num_rows for g in range(file.metadata.num_row_groups)],
                             np.int64)
            ends = np.cumsum(sizes)
            if len(rows) and not (0 <= rows[0] and rows[-1] < (ends[-1] if len(ends) else 0)):
                raise StoreError(path.parent.parent, f"has {int(sizes.sum())} rows in {path.name}, not row "
                                                     f"{int(rows[-1])}", "Read the store again (its shards "
                                                                         "changed since it was read).")
            of_row = np.searchsorted(ends, rows, side="right")  # each row's group
            groups = np.unique(of_row)
            table = file.read_row_groups(groups.tolist(), columns=present) if len(groups) else \
                file.schema_arrow.empty_table().select(present)
    except (OSError, pa.ArrowException) as e:
        raise StoreError(path.parent.parent, f"has a shard that cannot be read ({e})", "Delete that shard's line "
                         "from shards.jsonl and run 'spotdiff embed' again to redo it.") from e
    at = np.cumsum(sizes[groups]) - sizes[groups]  # each group's first row in ``table``
    local = rows - (ends - sizes)[of_row] + at[np.searchsorted(groups, of_row)]  # sorted
    picked, start = [], 0
    for batch in table.to_batches():  # batch by batch: a take of the whole table joins its chunks, and a binary
        lo, hi = np.searchsorted(local, [start, start + batch.num_rows])  # column over 2 GiB cannot be joined
        if hi > lo:
            picked.append(batch.take(pa.array(local[lo:hi] - start)))
        start += batch.num_rows
    return _with_nulls(pa.Table.from_batches(picked, schema=table.schema), columns)


def _with_nulls(table: pa.Table, columns: Sequence[str]) -> pa.Table:
    """``table`` with ``columns`` in that order, those it lacks (a shard written before SCHEMA had them) as nulls."""
    for name in columns:
        if name not in table.column_names:
            table = table.append_column(SCHEMA.field(name), pa.nulls(len(table), SCHEMA.field(name).type))
    return table.select(list(columns))


def _records(table: pa.Table) -> tuple[list[ImageRecord], list[int], list[SkippedFile]]:
    """The table's images (and the row each is) and its skipped files."""
    cols = {name: table.column(name).to_pylist() for name in
            ("path", "content_hash", "frame", "axis", "width", "height", "format", "tags", "skip_reason")}
    images, rows, skipped = [], [], []
    for i, reason in enumerate(cols["skip_reason"]):
        path = Path(cols["path"][i])
        if reason is not None:
            skipped.append(SkippedFile(path, reason))
            continue
        tags = tuple((t["tag"], t["value"]) for t in cols["tags"][i] or ())
        images.append(ImageRecord(path, cols["content_hash"][i], cols["width"][i], cols["height"][i],
                                  cols["format"][i], cols["frame"][i], cols["axis"][i], tags))
        rows.append(i)
    return images, rows, skipped


def _matrix(column: pa.ChunkedArray, rows: np.ndarray, dim: int, folder: Path) -> np.ndarray:
    """The rows ``rows`` of a list<float32> column as an ndarray of shape (len(rows), dim): the column's values
    are read once (rows without a vector, the skipped files, hold none) and picked in ``rows``' order."""
    lengths = np.concatenate([np.diff(c.offsets.to_numpy()) for c in column.chunks]) if column.num_chunks \
        else np.zeros(0, np.int64)
    present = np.flatnonzero(lengths > 0)
    if (lengths[present] != dim).any() or (len(rows) and (lengths[rows] != dim).any()):
        found = sorted(set(lengths[present].tolist()) | set(lengths[rows].tolist()))
        raise StoreError(folder, f"holds vectors of {found} values where {dim} were expected",
                         "Embed the images again into a new store.")
    values = np.concatenate([c.flatten().to_numpy(zero_copy_only=False) for c in column.chunks]) \
        if column.num_chunks else np.zeros(0, np.float32)
    return values.reshape(-1, dim)[np.searchsorted(present, rows)].astype(np.float32, copy=False)


def iter_store_rows(folder: Path | str) -> Iterator[dict]:
    """Every row of a store's finished shards as a dict, shard by shard (for inspection and tests)."""
    folder = Path(folder)
    for k, entry in sorted(finished(folder).items()):
        yield from pq.read_table(folder / entry["file"], schema=SCHEMA).to_pylist()


def read_options_of(settings: StoreSettings) -> ReadOptions:
    return ReadOptions(**settings.read_options)
