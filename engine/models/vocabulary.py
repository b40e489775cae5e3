"""A model's own phrase list: the words a text tower trained on a small world can read (models-as-data)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from ..errors import InvalidParameterError


@lru_cache(maxsize=None)
def load_vocabulary(name: str) -> tuple[str, ...]:
    """A model's own phrase list, the package's data/vocabularies/NAME.txt (one phrase a line, '#' comments)."""
    folder = resources.files("spotdiff") / "data" / "vocabularies"
    path = folder / f"{name}.txt"
    if not path.is_file():
        known = sorted(p.name.removesuffix(".txt") for p in folder.iterdir() if p.name.endswith(".txt"))
        raise InvalidParameterError("vocabulary", name, f"one of {', '.join(known)}")
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return tuple(dict.fromkeys(line for line in lines if line and not line.startswith("#")))
