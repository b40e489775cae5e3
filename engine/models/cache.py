"""On-disk embedding cache: one SQLite file in the user cache dir.

Rows are keyed by (embedder cache key, file content sha256), so a renamed or
moved file is still a hit and an edited file is a miss. The embedder's cache key
already names model, weights hash, preprocessing and precision. Each row stores
a checksum of its bytes; a row that fails it (or has the wrong length) is
treated as absent and recomputed. SQLite transactions make writes atomic; a
database file that SQLite cannot open is moved aside and replaced.

Beside the vectors, *results* of slower analysis steps (a region stage's fitted detectors, re-planted
images' vectors, heat maps) are kept as pickled objects by (kind, key), where the key names everything
the result was computed from (:func:`result_key`, with :func:`code_fingerprint` of the code that made it).
The file lies in the user's own cache folder, written only by spotdiff; a row that fails its checksum or
cannot be unpickled (another version of a library) is dropped and computed again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import pickle
import sqlite3
import time
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from .paths import cache_dir
from ..errors import CacheError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    embedder TEXT NOT NULL,
    item TEXT NOT NULL,
    dim INTEGER NOT NULL,
    data BLOB NOT NULL,
    checksum TEXT NOT NULL,
    PRIMARY KEY (embedder, item)
);
CREATE TABLE IF NOT EXISTS results (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    data BLOB NOT NULL,
    checksum TEXT NOT NULL,
    PRIMARY KEY (kind, key)
)
"""
_LIBRARIES = ("numpy", "scikit-learn", "scipy", "torch", "open_clip_torch", "pillow")


def _checksum(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class EmbeddingCache:
    """Vectors by (embedder key, item key), stored in ``folder/embeddings.sqlite``.

    ``item`` is a file content hash for images and ``"text:" + sha256(text)``
    for text embeddings.
    """

    def __init__(self, folder: Path | str | None = None):
        self.folder = Path(folder) if folder is not None else cache_dir()
        self.path = self.folder / "embeddings.sqlite"
        self._db: sqlite3.Connection | None = None
        self.n_corrupt_ = 0

    def _connect(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CacheError(self.folder, f"cannot create the folder ({e.strerror})") from e
        try:
            self._db = self._open()
        except sqlite3.DatabaseError:
            # Not a database any more (disk error, truncated copy): keep it for
            # inspection and start afresh; a cache never holds the only copy.
            aside = self.path.with_name(f"embeddings.corrupt-{int(time.time())}.sqlite")
            self.path.replace(aside)
            self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(_SCHEMA)
        db.execute("SELECT count(*) FROM vectors").fetchone()
        return db

    def get_many(self, embedder: str, items: Iterable[str], dim: int) -> dict[str, np.ndarray]:
        """Return the valid cached vectors among ``items``; damaged rows are dropped."""
        wanted = list(dict.fromkeys(items))
        found: dict[str, np.ndarray] = {}
        db = self._connect()
        bad: list[str] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = db.execute(
                f"SELECT item, dim, data, checksum FROM vectors WHERE embedder = ? AND item IN ({marks})",
                [embedder, *chunk],
            ).fetchall()
            for item, row_dim, data, checksum in rows:
                if row_dim != dim or len(data) != 4 * dim or _checksum(data) != checksum:
                    bad.append(item)
                    continue
                found[item] = np.frombuffer(data, dtype="<f4").copy()
        if bad:
            self.n_corrupt_ += len(bad)
            with db:
                db.executemany("DELETE FROM vectors WHERE embedder = ? AND item = ?", [(embedder, b) for b in bad])
        return found

    def put_many(self, embedder: str, vectors: Mapping[str, np.ndarray]) -> None:
        """Store vectors in one transaction: all of them or none."""
        rows = []
        for item, vector in vectors.items():
            data = np.ascontiguousarray(vector, dtype="<f4").tobytes()
            rows.append((embedder, item, len(data) // 4, data, _checksum(data)))
        db = self._connect()
        with db:
            db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?, ?)", rows)

    def get_result(self, kind: str, key: str) -> Any | None:
        """The object stored as ``(kind, key)``, or None: absent, damaged or unreadable rows read as absent."""
        db = self._connect()
        row = db.execute("SELECT data, checksum FROM results WHERE kind = ? AND key = ?", (kind, key)).fetchone()
        if row is None:
            return None
        data, checksum = row
        try:
            if _checksum(data) != checksum:
                raise ValueError("checksum")
            return pickle.loads(data)
        except Exception:  # noqa: BLE001 - a damaged row or one a changed library cannot read: compute it again
            self.n_corrupt_ += 1
            with db:
                db.execute("DELETE FROM results WHERE kind = ? AND key = ?", (kind, key))
            return None

    def put_result(self, kind: str, key: str, value: Any) -> None:
        """Store ``value`` (picklable) as ``(kind, key)``, replacing what was there."""
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        db = self._connect()
        with db:
            db.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?)", (kind, key, data, _checksum(data)))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> "EmbeddingCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def result_key(*parts: Any) -> str:
    """A sha256 naming a result by what it was computed from: ``parts`` (JSON-able: settings, content hashes,
    :func:`code_fingerprint` digests) and the versions of the libraries whose numbers it holds."""
    text = json.dumps([_library_versions(), *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@lru_cache(maxsize=None)
def code_fingerprint(*modules: str) -> str:
    """A digest of the source of ``modules`` (a package stands for every module in its folder): a cached result
    made by other code is not reused. Where the source cannot be read (a frozen application), spotdiff's
    version stands in for it."""
    digest = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        origin = Path(spec.origin) if spec is not None and spec.origin else None
        files = sorted(origin.parent.rglob("*.py")) if origin is not None and origin.name == "__init__.py" \
            else [origin]
        try:
            if not files:
                raise OSError("no source files")
            for file in files:
                digest.update(file.read_bytes())
        except (OSError, TypeError, AttributeError):
            return "spotdiff " + _version("spotdiff")
    return digest.hexdigest()


@lru_cache(maxsize=None)
def _library_versions() -> tuple[str, ...]:
    return tuple(f"{name} {_version(name)}" for name in ("spotdiff",) + _LIBRARIES)


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"
