"""The feature library: what people judged about findings, kept across comparisons.

A person who reads a finding can confirm it ("yes, set B really is blurrier") or reject it
("that is an artefact of how the scans were cropped"). Each judgement is one row of one SQLite
file, ``library.sqlite`` in :func:`data_dir`, with the claim, the model and space it was found in,
the held-out evidence at the time, the verdict and a note. Rows are never updated: a new verdict
on the same feature is a new row, and the latest one counts.

Confirmed features come back as hypotheses in later comparisons
(:class:`spotdiff.analysis.proposers.LibraryProposer`), where they are validated on held-out images like
any other; rejected ones are looked up with :func:`verdict_for` so a report or the GUI can mark
them as known false positives when they recur.

A feature is identified by its statement (case-insensitive) and its space. Text statements
(any space but "measurements") are read by every CLIP-like space, so a lookup in such a space
falls back to a verdict given in another text space.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from ..errors import InvalidParameterError, LibraryError
from ..spaces import MEASUREMENTS
from .result import Finding

VERDICTS = ("confirmed", "rejected")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    statement TEXT NOT NULL,
    more_in TEXT NOT NULL,
    source TEXT NOT NULL,
    space TEXT NOT NULL,
    model TEXT NOT NULL,
    evidence TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('confirmed', 'rejected')),
    note TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS verdicts_by_statement ON verdicts (lower(trim(statement)));
"""
_COLUMNS = "id, statement, more_in, source, space, model, evidence, verdict, note, created"


def data_dir() -> Path:
    """``$SPOTDIFF_DATA`` if set, else the platform's user data folder for spotdiff."""
    env = os.environ.get("SPOTDIFF_DATA")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("spotdiff"))


def _today() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _finite(x: float) -> float | None:
    return round(float(x), 6) if math.isfinite(x) else None


@dataclass(frozen=True)
class LibraryEntry:
    """One judgement of one feature.

    statement, more_in, source, space : the hypothesis as the run stated it
    model : the comparison's main model (the space may be "measurements" beside it)
    evidence : held-out AUROC, p, q, n_heldout_a, n_heldout_b, supported, set names, at judgement time
    verdict : "confirmed" or "rejected"
    created : ISO 8601 time, UTC
    """

    id: int
    statement: str
    more_in: str
    source: str
    space: str
    model: str
    verdict: str
    note: str = ""
    evidence: dict = field(default_factory=dict, compare=False)
    created: str = ""

    @property
    def confirmed(self) -> bool:
        return self.verdict == "confirmed"

    @property
    def rejected(self) -> bool:
        return self.verdict == "rejected"


def evidence_of(finding: Finding, **extra) -> dict:
    """The held-out facts of ``finding`` as stored with a verdict."""
    return {
        "heldout_auroc": _finite(finding.heldout_auroc), "p_value": _finite(finding.p_value),
        "q_value": _finite(finding.q_value), "supported": bool(finding.supported),
        "n_heldout_a": int(len(finding.scores_a)), "n_heldout_b": int(len(finding.scores_b)),
        "hypothesis_evidence": finding.hypothesis.evidence, "date": _today(), **extra,
    }


class FeatureLibrary:
    """The verdicts in ``folder/library.sqlite`` (default :func:`data_dir`).

    One connection per instance, opened on first use: make one per thread. Use as a context
    manager or call ``close()``.
    """

    FILENAME = "library.sqlite"

    def __init__(self, folder: Path | str | None = None):
        self.folder = Path(folder) if folder is not None else data_dir()
        self.path = self.folder / self.FILENAME
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, timeout=10)
                db.executescript(_SCHEMA)
            except OSError as e:
                raise LibraryError(self.path, f"cannot create its folder ({e.strerror or e})") from e
            except sqlite3.Error as e:
                raise LibraryError(self.path, str(e)) from e
            self._db = db
        return self._db

    def exists(self) -> bool:
        """Whether the file is there (nothing was ever judged if not); opens nothing."""
        return self._db is not None or self.path.is_file()

    def record(self, finding: Finding, verdict: str, note: str = "", *, model: str,
               evidence: dict | None = None) -> LibraryEntry:
        """Store a verdict on ``finding``; return the new entry.

        verdict : "confirmed" or "rejected"
        model : the comparison's main model (``result.settings["model"]``)
        evidence : extra facts to keep (set names, say), merged into :func:`evidence_of`
        """
        if verdict not in VERDICTS:
            raise InvalidParameterError("verdict", verdict, " or ".join(repr(v) for v in VERDICTS))
        h = finding.hypothesis
        facts = evidence_of(finding, **(evidence or {}))
        row = (h.statement, h.more_in, h.source, h.space, model, json.dumps(facts, sort_keys=True), verdict,
               note, _today())
        db = self._connect()
        try:
            with db:
                cursor = db.execute(
                    "INSERT INTO verdicts (statement, more_in, source, space, model, evidence, verdict, note, created)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        except sqlite3.Error as e:
            raise LibraryError(self.path, f"cannot write a verdict ({e})") from e
        return self._entry((cursor.lastrowid, *row))

    def history(self) -> tuple[LibraryEntry, ...]:
        """Every verdict ever given, oldest first."""
        if not self.exists():
            return ()
        try:
            rows = self._connect().execute(f"SELECT {_COLUMNS} FROM verdicts ORDER BY id").fetchall()
        except sqlite3.Error as e:
            raise LibraryError(self.path, f"cannot read it ({e})") from e
        return tuple(self._entry(r) for r in rows)

    def entries(self, verdict: str | None = None) -> tuple[LibraryEntry, ...]:
        """The latest verdict of each feature (statement, space), optionally only of one kind."""
        latest: dict[tuple[str, str], LibraryEntry] = {}
        for entry in self.history():
            latest[(entry.space, entry.statement.lower())] = entry
        return tuple(e for e in latest.values() if verdict is None or e.verdict == verdict)

    def confirmed(self) -> tuple[LibraryEntry, ...]:
        return self.entries("confirmed")

    def rejected(self) -> tuple[LibraryEntry, ...]:
        return self.entries("rejected")

    def verdict_for(self, statement: str, space: str) -> LibraryEntry | None:
        """The latest verdict on ``statement`` in ``space``, or None if it was never judged.

        For a text space (not "measurements") a verdict from another text space counts when
        none was given in this one: the words mean the same to every CLIP-like model.
        """
        if not self.exists():
            return None
        try:
            rows = self._connect().execute(
                f"SELECT {_COLUMNS} FROM verdicts WHERE lower(trim(statement)) = ? ORDER BY id",
                (statement.strip().lower(),)).fetchall()
        except sqlite3.Error as e:
            raise LibraryError(self.path, f"cannot read it ({e})") from e
        same, other = None, None
        for entry in map(self._entry, rows):
            if entry.space == space:
                same = entry
            elif MEASUREMENTS not in (entry.space, space):
                other = entry
        return same or other

    def forget(self, entry_id: int) -> None:
        """Delete one verdict (an earlier one on the same feature counts again)."""
        db = self._connect()
        try:
            with db:
                db.execute("DELETE FROM verdicts WHERE id = ?", (entry_id,))
        except sqlite3.Error as e:
            raise LibraryError(self.path, f"cannot delete a verdict ({e})") from e

    @staticmethod
    def _entry(row) -> LibraryEntry:
        id_, statement, more_in, source, space, model, evidence, verdict, note, created = row
        try:
            facts = json.loads(evidence)
        except (TypeError, ValueError):
            facts = {}
        return LibraryEntry(int(id_), statement, more_in, source, space, model, verdict, note,
                            facts if isinstance(facts, dict) else {}, created)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> "FeatureLibrary":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def verdict_for(statement: str, space: str, *, library: FeatureLibrary | None = None) -> LibraryEntry | None:
    """The latest verdict on ``statement`` in ``space`` in the user's library (or ``library``); None if none.

    ``entry.rejected`` marks a known false positive; ``entry.confirmed`` a feature seen before.
    """
    if library is not None:
        return library.verdict_for(statement, space)
    with FeatureLibrary() as own:
        return own.verdict_for(statement, space) if own.exists() else None
